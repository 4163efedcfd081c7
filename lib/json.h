/* json.h - streaming JSON writer into a tr_buf, with automatic commas.
 * Strings are escaped as Go's encoding/json does (HTML-safe escapes off;
 * invalid UTF-8 becomes U+FFFD), so output matches Prometheus byte for byte. */
#ifndef TR_LIB_JSON_H
#define TR_LIB_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define TR_JSON_MAX_DEPTH 64

struct tr_json {
    struct tr_buf *out;            /* not owned */
    int depth;                     /* open containers */
    bool first[TR_JSON_MAX_DEPTH]; /* no element yet at this depth */
    bool after_key;                /* a key was written, value next */
};

void tr_json_init(struct tr_json *j, struct tr_buf *out);
void tr_json_obj_begin(struct tr_json *j);
void tr_json_obj_end(struct tr_json *j);
void tr_json_arr_begin(struct tr_json *j);
void tr_json_arr_end(struct tr_json *j);
void tr_json_key(struct tr_json *j, const char *key);
void tr_json_key_n(struct tr_json *j, const char *key, size_t n);
void tr_json_str(struct tr_json *j, const char *s);
void tr_json_str_n(struct tr_json *j, const char *s, size_t n);
void tr_json_int(struct tr_json *j, int64_t v);
void tr_json_uint(struct tr_json *j, uint64_t v);
void tr_json_bool(struct tr_json *j, bool v);
void tr_json_null(struct tr_json *j);
void tr_json_double(struct tr_json *j, double v); /* shortest round-trip */
/* Writes pre-encoded JSON as one value. */
void tr_json_raw(struct tr_json *j, const char *s, size_t n);
/* Appends s escaped (without quotes) to b. */
void tr_json_escape(struct tr_buf *b, const char *s, size_t n);

/* Formats v like Go's strconv.FormatFloat(v, 'f', -1, 64) / 'g' variants
 * used by Prometheus: shortest digits that round-trip. "NaN", "+Inf",
 * "-Inf" for the specials. Returns the length written (buf >= TR_DOUBLE_BUF
 * bytes). */
#define TR_DOUBLE_BUF 400
size_t tr_format_double(char *buf, double v);

#endif
