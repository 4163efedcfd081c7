/* jsonparse.h - a small bounded JSON parser: the whole text into one
 * array of tokens (no recursion deeper than TR_SJSON_MAX_DEPTH, at most one
 * token per input byte, input at most TR_SJSON_MAX_INPUT bytes), then
 * lookups by index. Used by `triad status` and the JSON bodies of pushes. */
#ifndef TR_LIB_JSONPARSE_H
#define TR_LIB_JSONPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"

#define TR_SJSON_MAX_DEPTH 128
#define TR_SJSON_MAX_INPUT ((size_t)256 << 20)

enum tr_sjson_type {
    TR_SJSON_OBJECT,
    TR_SJSON_ARRAY,
    TR_SJSON_STRING,
    TR_SJSON_NUMBER,
    TR_SJSON_TRUE,
    TR_SJSON_FALSE,
    TR_SJSON_NULL,
};

/* One token. Strings span their raw (still escaped) bytes without the
 * quotes; containers their whole text. An object's children are key,
 * value, key, value...; n counts pairs (objects) or elements (arrays). */
struct tr_sjson_tok {
    uint8_t type;
    uint32_t start;
    uint32_t len;
    uint32_t n;
    uint32_t next; /* index of the first token after this one's subtree */
};

struct tr_sjson {
    const char *text;
    size_t len;
    struct tr_sjson_tok *toks;
    size_t n_toks;
    size_t cap;
    char err[128];
};

/* Parses text (exactly one JSON value, blanks around it allowed). Returns 0,
 * or -1 with doc->err set. Free with tr_sjson_free in both cases. */
int tr_sjson_parse(struct tr_sjson *doc, const char *text, size_t len);
void tr_sjson_free(struct tr_sjson *doc);
/* Index of the value of key in the object at obj, or -1. */
long tr_sjson_get(const struct tr_sjson *doc, long obj, const char *key);
/* Index of element i of the array at arr, or -1. */
long tr_sjson_at(const struct tr_sjson *doc, long arr, size_t i);
/* Decoded text of a string (numbers, booleans: their literal; null or a
 * missing value (idx < 0): ""), NUL-terminated, truncated to fit out
 * (never in the middle of a UTF-8 sequence). Returns out. */
const char *tr_sjson_text(const struct tr_sjson *doc,
                          long idx,
                          char *out,
                          size_t outlen);
/* An unsigned integer (a number or a string of digits); 0 if not one. */
uint64_t tr_sjson_u64(const struct tr_sjson *doc, long idx);

/* The decoded bytes of the string at idx (escapes resolved, \uXXXX and
 * surrogate pairs as UTF-8, a lone surrogate as U+FFFD like Go's
 * encoding/json) in *out: pointing into the text when it holds no escape,
 * else copied into the arena. 0, TR_EINVAL (not a string) or TR_ENOMEM. */
int tr_sjson_string(const struct tr_sjson *doc,
                    long idx,
                    struct tr_arena *a,
                    struct tr_slice *out);

#endif
