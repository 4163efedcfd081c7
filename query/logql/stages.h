/* stages.h - LogQL log-line processing: the pieces a LogQL pipeline runs on
 * one log entry, with Loki 3.x semantics, independent of any AST.
 *
 * USAGE (the evaluator's loop over one stream):
 *
 *     struct tr_logql_lb *lb;
 *     tr_logql_lb_new(&lb);                     // once per query/thread
 *     tr_logql_lb_set_stream(lb, stream_labels, n);  // once per stream
 *     for each entry (ts, line, metadata):
 *         tr_logql_lb_reset(lb, ts);            // cheap: arena reset
 *         for each metadata pair: tr_logql_lb_add_meta(lb, name, value);
 *         struct tr_slice cur = line;           // caller keeps line alive
 *         keep = every stage in order:
 *             tr_logql_line_filter_match(f, cur.base, cur.len)
 *             tr_logql_parser_process(p, lb, &cur)
 *             tr_logql_lf_eval(lf, lb)
 *             tr_logql_line_format(t, lb, &cur)
 *             tr_logql_label_format(lf, lb, cur)
 *             tr_logql_drop(d, lb) / tr_logql_keep(k, lb)
 *             tr_logql_decolorize(lb, &cur)
 *         if (tr_logql_lb_oom(lb)) -> TR_ENOMEM
 *         if keep: tr_logql_lb_labels(lb, &labels, &n) -> sorted final set
 *                  (with __error__ / __error_details__ when set);
 *                  for unwrap: tr_logql_unwrap(lb, name, conv, &v)
 *
 * Every stage returns "keep the line?" as a bool; none of them fails: what
 * Loki reports as a per-line error is recorded in the builder as __error__
 * (JSONParserErr, LogfmtParserErr, LabelFilterErr, TemplateFormatErr,
 * SampleExtractionErr) plus __error_details__ (Go's error text). Out of
 * memory sets a sticky flag in the builder (tr_logql_lb_oom) and the stage
 * carries on as if the allocation had not been needed: check the flag once
 * per entry.
 *
 * Memory: the builder owns two arenas. The stream arena holds the stream
 * labels until the next tr_logql_lb_set_stream; the entry arena holds every
 * label value set during an entry and every rewritten line (line_format,
 * unpack, decolorize) until the next tr_logql_lb_reset (which keeps the
 * first block: no malloc per line in the steady state); the array of
 * tr_logql_lb_labels is a buffer of the builder reused by the next call. Lines
 * handed in by the caller are read, never kept past the stage call: values are
 * copied.
 *
 * Compiled stages (filters, parsers, templates) are immutable after
 * construction and may be shared by several threads, each with its own
 * builder. Construction errors are query parse errors: TR_EINVAL with a
 * Loki-like message in errmsg (TR_ERRMSG_SIZE), or TR_ENOMEM.
 *
 * LABEL CATEGORIES AND CONFLICTS (Loki's LabelsBuilder):
 * - stream labels (the base), structured metadata, parsed labels (parsers,
 *   label_format). A name lives in at most one category.
 * - structured metadata added under a stream label's name goes to
 *   name_extracted; a parser's key that is a stream label or structured
 *   metadata goes to key_extracted (so the base name keeps the stream value,
 *   then metadata, then parsed; <name>_extracted holds the last loser).
 * - within one entry a parser never overwrites a parsed label some parser
 *   already extracted (duplicate keys keep the first), but label_format
 *   does.
 * - a stream label whose value is "" does not exist (Loki's base.Get).
 * - __error__ and __error_details__ are kept apart from the labels: string
 *   label filters see __error__ (not __error_details__), templates see
 *   both, numeric/duration/bytes filters and tr_logql_lb_get see neither;
 *   tr_logql_lb_labels lists them (category parsed).
 * - NOT here (the evaluator's job, as in Loki's metrics_extraction.go):
 *   grouping (by/without), removing the unwrapped label from a sample's
 *   series when the range aggregation has no by/without, dropping samples
 *   or failing the query on a remaining __error__.
 */
#ifndef TR_QUERY_LOGQL_STAGES_H
#define TR_QUERY_LOGQL_STAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "query/logql/convert.h"
#include "lib/buf.h"
#include "lib/matcher.h"

#define TR_LOGQL_ERROR_LABEL "__error__"
#define TR_LOGQL_ERROR_DETAILS_LABEL "__error_details__"

/* __error__ values, as Loki spells them. */
#define TR_LOGQL_ERR_JSON "JSONParserErr"
#define TR_LOGQL_ERR_LOGFMT "LogfmtParserErr"
#define TR_LOGQL_ERR_SAMPLE "SampleExtractionErr"
#define TR_LOGQL_ERR_LABEL_FILTER "LabelFilterErr"
#define TR_LOGQL_ERR_TEMPLATE "TemplateFormatErr"

/* ---- labels builder (labels_builder.c) --------------------------------- */

enum tr_logql_label_cat {
    TR_LOGQL_CAT_STREAM = 0, /* the stream's own labels */
    TR_LOGQL_CAT_META = 1,   /* structured metadata of the entry */
    TR_LOGQL_CAT_PARSED = 2, /* parsers, label_format, __error__ */
};

struct tr_logql_label {
    struct tr_slice name;
    struct tr_slice value;
    uint8_t cat; /* enum tr_logql_label_cat */
};

struct tr_logql_lb; /* opaque; one per thread */

/* A new empty builder. 0 or TR_ENOMEM. Free with tr_logql_lb_free. */
int tr_logql_lb_new(struct tr_logql_lb **out);
void tr_logql_lb_free(struct tr_logql_lb *lb);
/* Sets the stream labels (copied; any order; duplicate names keep the
 * first) and resets the entry state. 0 or TR_ENOMEM. */
int tr_logql_lb_set_stream(struct tr_logql_lb *lb,
                           const struct tr_logql_label *labels,
                           size_t n);
/* Starts a new entry at ts (ns since the epoch; __timestamp__ in
 * templates): forgets metadata, parsed labels, deletions, errors and the
 * OOM flag; frees the entry arena (keeping its first block). */
void tr_logql_lb_reset(struct tr_logql_lb *lb, int64_t ts_ns);
/* Adds one structured metadata pair (Loki's Add(StructuredMetadata)): a
 * name that is a stream label becomes name_extracted; "__error__" and
 * "__error_details__" set the error instead. */
void tr_logql_lb_add_meta(struct tr_logql_lb *lb,
                          struct tr_slice name,
                          struct tr_slice value);
/* Loki's Set(category, name, value) (copies both):
 * - parsed: removes name from metadata and stream overrides, records it as
 *   extracted for this entry;
 * - meta: removes a stream override; ignored when name is parsed;
 * - stream: an override of a base label's value; ignored when name is
 *   metadata or parsed. Overwrites an existing value of that category. */
void tr_logql_lb_set(struct tr_logql_lb *lb,
                     enum tr_logql_label_cat cat,
                     struct tr_slice name,
                     struct tr_slice value);
/* What every parser does with one extracted key (copied): key becomes
 * key_extracted when it names a stream label or metadata; nothing happens
 * when that name was already extracted during this entry (duplicates keep
 * the first); else Set(parsed). */
void tr_logql_lb_set_extracted(struct tr_logql_lb *lb,
                               struct tr_slice key,
                               struct tr_slice value);
/* Value of name (metadata and parsed first, then the stream labels minus
 * deletions; a stream label with an empty value does not exist). True and
 * *value (valid until the next reset) when present; false (value "")
 * otherwise. Does not see __error__ (use tr_logql_lb_err). *cat may be
 * NULL. */
bool tr_logql_lb_get(const struct tr_logql_lb *lb,
                     struct tr_slice name,
                     struct tr_slice *value,
                     enum tr_logql_label_cat *cat);
/* True when name is a stream label (Loki's BaseHas: present, non-empty;
 * deletions ignored). */
bool tr_logql_lb_base_has(const struct tr_logql_lb *lb, struct tr_slice name);
/* Removes name from every category (a later set brings it back). */
void tr_logql_lb_del(struct tr_logql_lb *lb, struct tr_slice name);
/* The error label: set (copied; "" clears), get ("" when none). */
void tr_logql_lb_set_err(struct tr_logql_lb *lb, const char *err);
void tr_logql_lb_set_err_details(struct tr_logql_lb *lb,
                                 const char *s,
                                 size_t n);
struct tr_slice tr_logql_lb_err(const struct tr_logql_lb *lb);
struct tr_slice tr_logql_lb_err_details(const struct tr_logql_lb *lb);
bool tr_logql_lb_has_err(const struct tr_logql_lb *lb);
/* The entry's timestamp (ns) given to tr_logql_lb_reset. */
int64_t tr_logql_lb_ts(const struct tr_logql_lb *lb);
/* True once an allocation failed since the last reset. */
bool tr_logql_lb_oom(const struct tr_logql_lb *lb);
/* The final label set, sorted by name, with categories: stream labels not
 * deleted nor shadowed, metadata not shadowed by parsed labels, parsed
 * labels, then __error__ and __error_details__ when set (category parsed).
 * *out is in the entry arena (valid until the next reset); on OOM *n is 0
 * and the OOM flag is set. */
void tr_logql_lb_labels(struct tr_logql_lb *lb,
                        struct tr_logql_label **out,
                        size_t *n);
/* A copy of s into the entry arena (valid until the next reset); on OOM an
 * empty slice and the OOM flag. For stages that build a new line. */
struct tr_slice tr_logql_lb_dup(struct tr_logql_lb *lb,
                                const char *s,
                                size_t n);

/* ---- line filters (line_filter.c, ip.c, pattern.c) ----------------------- */

enum tr_logql_line_op {
    TR_LOGQL_LINE_CONTAINS,     /* |=  */
    TR_LOGQL_LINE_NOT_CONTAINS, /* !=  */
    TR_LOGQL_LINE_RE,           /* |~  unanchored Go RE2 search */
    TR_LOGQL_LINE_NOT_RE,       /* !~  */
    TR_LOGQL_LINE_PATTERN,      /* |>  Loki pattern, only <_> captures */
    TR_LOGQL_LINE_NOT_PATTERN,  /* !>  */
};

/* One operand of a line filter: a string literal (already unquoted) or
 * ip("pattern"). */
struct tr_logql_line_operand {
    bool is_ip;
    const char *s;
    size_t len;
};

struct tr_logql_line_filter; /* opaque */

/* One filter `op a or b or c` (n >= 1 operands; every operand takes op's
 * kind). Positive ops keep a line matching any operand; negative ops drop a
 * line matching any operand. ip() operands only with |= and != ("ip:
 * invalid operation"); ip patterns: an address, a range a-b or a CIDR
 * ("ip: invalid pattern: \"x\""). Regex errors: "error parsing regexp: ...".
 * Pattern errors: "named captures are not allowed: found '<x>'",
 * "found consecutive capture '<_><_>': invalid expression". 0, TR_EINVAL
 * or TR_ENOMEM. */
int tr_logql_line_filter_new(enum tr_logql_line_op op,
                             const struct tr_logql_line_operand *ops,
                             size_t n,
                             struct tr_logql_line_filter **out,
                             char *errmsg);
bool tr_logql_line_filter_match(const struct tr_logql_line_filter *f,
                                const char *line,
                                size_t len);
void tr_logql_line_filter_free(struct tr_logql_line_filter *f);

/* IP matcher (ip.c): an address, range or CIDR as Loki's ip(). */
struct tr_logql_ip;
/* 0, TR_EINVAL ("ip: invalid pattern: \"...\"") or TR_ENOMEM. */
int tr_logql_ip_new(const char *pattern,
                    size_t len,
                    struct tr_logql_ip **out,
                    char *errmsg);
/* True when s holds an address inside the pattern somewhere (Loki scans
 * the text for IPv4/IPv6 looking runs). */
bool tr_logql_ip_match(const struct tr_logql_ip *ip, const char *s, size_t n);
void tr_logql_ip_free(struct tr_logql_ip *ip);

/* Loki pattern expressions (pattern.c): literals and <name> / <_>
 * captures. */
struct tr_logql_pattern;
/* for_line_filter: no named captures allowed; else at least one named
 * capture ("at least one capture is required"), unique names. No two
 * captures in a row either way. 0, TR_EINVAL or TR_ENOMEM. */
int tr_logql_pattern_new(const char *p,
                         size_t len,
                         bool for_line_filter,
                         struct tr_logql_pattern **out,
                         char *errmsg);
/* Loki's Matcher.Test: the whole line fits the pattern. */
bool tr_logql_pattern_test(const struct tr_logql_pattern *p,
                           const char *s,
                           size_t n);
void tr_logql_pattern_free(struct tr_logql_pattern *p);

/* ---- parsers (parsers.c, json_parser.c) ----------------------------------
 *
 * json: flattens nested objects with "_" (sanitised keys), skips arrays and
 *   nulls, numbers as their text, booleans as true/false; not an object or
 *   malformed -> __error__=JSONParserErr (labels found before the error
 *   stay).
 * json with expressions (label="a.b[0]"): each label gets the value at the
 *   path (objects as their JSON text), "" when absent; a line not starting
 *   with { [ or " -> JSONParserErr.
 * logfmt [--strict] [--keep-empty]: go-logfmt decoding; bad pairs skipped,
 *   or under --strict stop and __error__=LogfmtParserErr; empty values
 *   dropped unless --keep-empty.
 * logfmt with expressions (label="key" or bare key).
 * regexp: named groups (Go (?P<n>..) or (?<n>..)) become labels; no
 *   match: nothing.
 * pattern: <name> captures, a short line fills the leading ones.
 * unpack: a JSON object's string fields become labels when it holds the
 *   "_entry" string, which replaces the line; not an object ->
 *   JSONParserErr.
 */

struct tr_logql_parser; /* opaque */

/* label = expression pair of the parameterised json/logfmt forms. */
struct tr_logql_extract_expr {
    const char *label; /* NUL-terminated label name */
    const char *expr;  /* the expression text (unquoted) */
    size_t expr_len;
};

/* n == 0: the plain json parser. Errors: "cannot parse expression [x]:
 * ...", "invalid extracted label name 'x'". */
int tr_logql_parser_new_json(const struct tr_logql_extract_expr *exprs,
                             size_t n,
                             struct tr_logql_parser **out,
                             char *errmsg);
int tr_logql_parser_new_logfmt(bool strict,
                               bool keep_empty,
                               const struct tr_logql_extract_expr *exprs,
                               size_t n,
                               struct tr_logql_parser **out,
                               char *errmsg);
/* Errors: "error parsing regexp: ...", "at least one named capture must be
 * supplied", "duplicate extracted label name 'x'", "invalid extracted label
 * name 'x'". */
int tr_logql_parser_new_regexp(const char *re,
                               size_t len,
                               struct tr_logql_parser **out,
                               char *errmsg);
int tr_logql_parser_new_pattern(const char *p,
                                size_t len,
                                struct tr_logql_parser **out,
                                char *errmsg);
int tr_logql_parser_new_unpack(struct tr_logql_parser **out);
/* Runs the parser on *line: sets labels / the error in lb; unpack may
 * replace *line (by a copy in the entry arena). Returns true (parsers keep
 * every line). */
bool tr_logql_parser_process(const struct tr_logql_parser *p,
                             struct tr_logql_lb *lb,
                             struct tr_slice *line);
void tr_logql_parser_free(struct tr_logql_parser *p);

/* ---- label filters (label_filter.c) -------------------------------------- */

enum tr_logql_cmp {
    TR_LOGQL_CMP_EQ, /* = or == */
    TR_LOGQL_CMP_NE,
    TR_LOGQL_CMP_GT,
    TR_LOGQL_CMP_GE,
    TR_LOGQL_CMP_LT,
    TR_LOGQL_CMP_LE,
};

enum tr_logql_lf_kind {
    TR_LOGQL_LF_STRING,   /* name op "value" with =, !=, =~, !~ */
    TR_LOGQL_LF_NUMBER,   /* name cmp 1.5 (strconv.ParseFloat) */
    TR_LOGQL_LF_DURATION, /* name cmp 1h2m (time.ParseDuration) */
    TR_LOGQL_LF_BYTES,    /* name cmp 20MB (humanize.ParseBytes) */
    TR_LOGQL_LF_IP,       /* name = ip("..."), name != ip("...") */
    TR_LOGQL_LF_AND,
    TR_LOGQL_LF_OR,
};

/* A label filter expression tree; build with the constructors below, free
 * the root with tr_logql_lf_free. Fields are read-only for callers. */
struct tr_logql_lf {
    enum tr_logql_lf_kind kind;
    enum tr_logql_cmp cmp;     /* NUMBER/DURATION/BYTES/IP (EQ or NE) */
    char *name;                /* owned; NULL for AND/OR */
    struct tr_matcher m;       /* STRING */
    double num;                /* NUMBER */
    int64_t dur_ns;            /* DURATION */
    uint64_t bytes;            /* BYTES */
    struct tr_logql_ip *ip;    /* IP */
    struct tr_logql_lf *l, *r; /* AND/OR operands, owned */
};

/* Every constructor: 0, TR_EINVAL (bad regex: "error parsing regexp...",
 * bad ip pattern, ip with a comparison other than = or !=) or TR_ENOMEM;
 * *out owned by the caller. */
int tr_logql_lf_new_string(enum tr_match_type type,
                           const char *name,
                           const char *value,
                           size_t value_len,
                           struct tr_logql_lf **out,
                           char *errmsg);
int tr_logql_lf_new_number(enum tr_logql_cmp cmp,
                           const char *name,
                           double v,
                           struct tr_logql_lf **out);
int tr_logql_lf_new_duration(enum tr_logql_cmp cmp,
                             const char *name,
                             int64_t ns,
                             struct tr_logql_lf **out);
int tr_logql_lf_new_bytes(enum tr_logql_cmp cmp,
                          const char *name,
                          uint64_t b,
                          struct tr_logql_lf **out);
int tr_logql_lf_new_ip(enum tr_logql_cmp cmp,
                       const char *name,
                       const char *pattern,
                       size_t len,
                       struct tr_logql_lf **out,
                       char *errmsg);
/* and/or of l and r (ownership of both moves into *out, also on error:
 * they are freed). */
int tr_logql_lf_new_binary(bool is_and,
                           struct tr_logql_lf *l,
                           struct tr_logql_lf *r,
                           struct tr_logql_lf **out);
void tr_logql_lf_free(struct tr_logql_lf *f);
/* Loki's Process: keep the line? String filters compare the value ("" when
 * absent; __error__ / __error_details__ read the error). Number, duration
 * and bytes filters drop a line without the label, and on a value that does
 * not convert keep the line and set __error__=LabelFilterErr with the Go
 * error as details (unless an error is already set). ip filters keep any
 * line that already has an error and drop one without the label. or stops
 * at the first operand that keeps the line; and runs both. */
bool tr_logql_lf_eval(const struct tr_logql_lf *f, struct tr_logql_lb *lb);

/* ---- conversions (convert.c; the value parsers are in convert.h) -------- */

enum tr_logql_conv {
    TR_LOGQL_CONV_FLOAT,    /* unwrap x */
    TR_LOGQL_CONV_BYTES,    /* unwrap bytes(x) */
    TR_LOGQL_CONV_DURATION, /* unwrap duration(x) / duration_seconds(x) */
};

/* unwrap: the value of label name converted. Returns false (drop the
 * sample, no error) when the label is absent or empty; otherwise true with
 * *v (0 when the conversion failed, in which case __error__ is
 * SampleExtractionErr and __error_details__ the Go error). */
bool tr_logql_unwrap(struct tr_logql_lb *lb,
                     struct tr_slice name,
                     enum tr_logql_conv conv,
                     double *v);

/* ---- drop / keep / decolorize (label_stages.c) --------------------------- */

/* One drop/keep operand: a bare name (m == NULL) or a matcher. */
struct tr_logql_name_match {
    const char *name;           /* bare name; ignored when m is set */
    const struct tr_matcher *m; /* borrowed */
};

/* drop: removes each bare name, or the label when its matcher matches its
 * value ("" when absent); __error__ / __error_details__ clear the error. */
void tr_logql_drop(struct tr_logql_lb *lb,
                   const struct tr_logql_name_match *ops,
                   size_t n);
/* keep: removes every label that no operand keeps (a bare name keeps it,
 * a matcher keeps it when its name matches and the value matches);
 * __error__ / __error_details__ always stay. */
void tr_logql_keep(struct tr_logql_lb *lb,
                   const struct tr_logql_name_match *ops,
                   size_t n);
/* Strips ANSI escape sequences from *line (Loki's decolorize regex); the
 * new line is in the entry arena. Returns true. */
bool tr_logql_decolorize(struct tr_logql_lb *lb, struct tr_slice *line);

/* ---- formatters (formatters.c; templates in template.h) ------------------ */

struct tr_logql_template; /* template.h */

/* line_format: *line becomes the template's output over the current labels
 * (in the entry arena). On an execution error the line stays and __error__
 * is TemplateFormatErr, details the Go-like message. Returns true. */
bool tr_logql_line_format(const struct tr_logql_template *t,
                          struct tr_logql_lb *lb,
                          struct tr_slice *line);

/* One label_format operand: dst=src (rename: tmpl NULL, src set) or
 * dst="template" (tmpl set). */
struct tr_logql_label_fmt {
    const char *dst;
    const char *src;
    const struct tr_logql_template *tmpl; /* borrowed */
};

/* Checks a label_format operand list at parse time: no "__error__" target
 * ("__error__ cannot be formatted"), no target twice ("multiple label name
 * 'x' not allowed in a single format operation"). 0 or TR_EINVAL. */
int tr_logql_label_format_check(const struct tr_logql_label_fmt *f,
                                size_t n,
                                char *errmsg);
/* label_format: renames (when src exists: set parsed dst, delete src) and
 * templates (every template sees the labels as they were when the first
 * template operand ran; sets parsed dst; on an execution error sets
 * TemplateFormatErr and skips that operand). Returns true. */
bool tr_logql_label_format(const struct tr_logql_label_fmt *f,
                           size_t n,
                           struct tr_logql_lb *lb,
                           struct tr_slice line);

#endif
