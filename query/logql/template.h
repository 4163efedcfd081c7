/* template.h - a Go text/template engine for LogQL's line_format and
 * label_format, with Loki's function map.
 *
 * The data (".") is the entry's label map as Loki builds it: every final
 * label, plus __error__ / __error_details__ when set; a missing key reads as
 * "" (Go's missingkey=zero on a map[string]string).
 *
 * Supported syntax: text and {{actions}} with the trim markers {{- and -}};
 * comments (slash-star ... star-slash inside braces); pipelines
 * "a | f b | g"; commands with arguments; parentheses; fields .name (and
 * .a.b on maps from fromJson), . itself; variables $ and $x := / $x = ;
 * literals: "interpreted" and raw (backquoted) strings, 'c' characters,
 * integers (decimal, 0x, 0o, 0b, with _), floats, true, false, nil; if /
 * else if / else / end, with / else / end, range over a map or list (with
 * $k, $v :=) / else / end, break, continue; builtins and or not eq ne lt
 * le gt ge len index print printf println urlquery. Not supported:
 * define/template/block, call, html, js, slice.
 *
 * Loki functions: ToLower ToUpper Replace Trim TrimLeft TrimRight
 * TrimPrefix TrimSuffix TrimSpace regexReplaceAll regexReplaceAllLiteral
 * count urldecode urlencode bytes duration duration_seconds unixEpochMillis
 * unixEpochNanos toDateInZone unixToTime alignLeft alignRight b64dec, and
 * from sprig: b64enc lower upper title trunc substr contains hasPrefix
 * hasSuffix indent nindent replace repeat trim trimAll trimSuffix
 * trimPrefix int float64 add sub mul div mod addf subf mulf divf max min
 * maxf minf ceil floor round fromJson date toDate now unixEpoch default;
 * plus __line__ (the entry's current line) and __timestamp__ (its time).
 * Times print like Go's time.Time.String() in UTC.
 *
 * Known differences from Go/sprig: there is no zone database (every zone,
 * Local included, is UTC; toDateInZone ignores its zone); lower/upper/
 * ToLower/ToUpper map ASCII, Latin-1, Greek and Cyrillic letters only;
 * title capitalises after non-word bytes; addf/subf/mulf/divf round to 15
 * significant digits instead of using decimal arithmetic; trunc and substr
 * count runes (Loki's versions). Limits: TT_MAX_OUTPUT bytes of output and
 * TT_MAX_STEPS nodes per execution, TT_MAX_DEPTH nesting (errors then).
 *
 * A template is compiled once (immutable, shareable by threads) and
 * executed per entry; execution allocates only from the builder's entry
 * arena and the caller's output buffer. */
#ifndef TR_QUERY_LOGQL_TEMPLATE_H
#define TR_QUERY_LOGQL_TEMPLATE_H

#include <stddef.h>

#include "lib/buf.h"

struct tr_logql_template;
struct tr_logql_lb;

/* Compiles src under the name Go's messages use ("line" for line_format,
 * "label" for label_format). Errors are Go-like, e.g. "template:
 * line:1: function \"nosuchfunc\" not defined", "template: label:1:
 * unclosed action"; the caller adds Loki's prefix ("invalid line template:
 * "). 0, TR_EINVAL or TR_ENOMEM. */
int tr_logql_template_compile(const char *name,
                              const char *src,
                              size_t len,
                              struct tr_logql_template **out,
                              char *errmsg);
void tr_logql_template_free(struct tr_logql_template *t);
/* Runs t over lb's labels, the current line and lb's timestamp, appending
 * the output to out. 0; TR_EEXEC with a Go-like message ("template:
 * line:1:3: executing \"line\" at <div 1 0>: error calling div: ...") in
 * errmsg (out then holds a partial output); TR_ENOMEM. */
int tr_logql_template_exec(const struct tr_logql_template *t,
                           struct tr_logql_lb *lb,
                           struct tr_slice line,
                           struct tr_buf *out,
                           char *errmsg);
/* When the template is exactly {{.name}}, that name (Loki copies the value
 * directly); else an empty slice. */
struct tr_slice tr_logql_template_simple_key(const struct tr_logql_template *t);

#endif
