/* stages_int.h - helpers shared by the LogQL stage files (not for the
 * evaluator: use stages.h). */
#ifndef TR_QUERY_LOGQL_STAGES_INT_H
#define TR_QUERY_LOGQL_STAGES_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "query/logql/stages.h"

/* The builder's entry arena (reset per entry). */
struct tr_arena *tr_logql_lb__arena(struct tr_logql_lb *lb);
void tr_logql_lb__set_oom(struct tr_logql_lb *lb);
/* key, or key_extracted (in the entry arena) when key is a stream label or
 * structured metadata. */
struct tr_slice tr_logql_lb__parsed_key(struct tr_logql_lb *lb,
                                        struct tr_slice key);
/* Was key extracted as a parsed label during this entry? */
bool tr_logql_lb__extracted(const struct tr_logql_lb *lb, struct tr_slice key);

/* A scratch buffer owned by the builder (emptied by this call), for
 * stages that build text before copying it into the arena. */
struct tr_buf *tr_logql_lb__scratch(struct tr_logql_lb *lb);

/* A PCRE2 match data of at least pairs ovector pairs owned by the builder
 * (kept across entries: no allocation per line); NULL on OOM (flag set). */
void *tr_logql_lb__match_data(struct tr_logql_lb *lb, uint32_t pairs);

/* Sets __error__ = err and, when details is not NULL, __error_details__. */
void tr_logql__set_error(struct tr_logql_lb *lb,
                         const char *err,
                         const char *details);

/* Loki's sanitizeLabelKey(key, true) into the entry arena: trims spaces, a
 * leading digit gets "_", every rune outside [A-Za-z0-9_] becomes one "_"
 * (an invalid UTF-8 byte too). Empty on OOM (flag set) or empty input. */
struct tr_slice tr_logql__sanitize_key(struct tr_logql_lb *lb,
                                       const char *s,
                                       size_t n);
/* The same appended to a caller buffer of at least n + 1 bytes; returns
 * the length written. */
size_t tr_logql__sanitize_into(char *out, const char *s, size_t n);

/* Go's valid label name: [a-zA-Z_][a-zA-Z0-9_]* (Loki 3 also accepts any
 * UTF-8, but its parsers check the legacy form). */
bool tr_logql__valid_label_name(const char *s, size_t n);

/* Go's strconv.Quote-like quoting of s into buf (for error messages);
 * returns buf. */
const char *tr_logql__quote(char *buf, size_t size, const char *s, size_t n);

/* Unescapes a JSON string body (between the quotes) into out (at least n
 * bytes); returns the length, or -1 when an escape is malformed. Invalid
 * UTF-8 and U+FFFD become a space, like Loki's unescapeJSONString. */
long tr_logql__json_unescape(char *out, const char *s, size_t n);

/* Go's unicode.IsSpace for ASCII and the common Unicode spaces: length of
 * the space rune at s (0 when not a space). */
size_t tr_logql__space_len(const char *s, size_t n);

#endif
