/* status_cmd.h - `triad status`: renders the JSON of
 * GET /api/v1/status/cluster as human-readable tables, with a small bounded
 * JSON parser (no recursion deeper than TR_SJSON_MAX_DEPTH, at most one
 * token per input byte, input at most TR_SJSON_MAX_INPUT bytes). */
#ifndef TR_CLUSTER_STATUS_CMD_H
#define TR_CLUSTER_STATUS_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TR_SJSON_MAX_DEPTH 32
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

/* Prints the status tables for the JSON body of /api/v1/status/cluster of
 * the node at addr. Returns 0, or -1 with a message in err. */
int tr_status_print(FILE *out,
                    const char *addr,
                    const char *body,
                    size_t len,
                    char *err,
                    size_t errlen);

/* Prints the verify table for the JSON of POST /api/v1/admin/cluster/verify;
 * *consistent tells whether every shard was. 0, or -1 with err. */
int tr_status_print_verify(FILE *out,
                           const char *addr,
                           const char *body,
                           size_t len,
                           bool *consistent,
                           char *err,
                           size_t errlen);

/* `triad status --addr URL [--verify]`: prints the cluster status of the
 * node at addr (and the verify table). Returns the exit status: 0, or 1
 * when the node cannot be reached, answers non-200, sends something that
 * is not the expected JSON, or (verify) a shard is not consistent.
 * secret (may be NULL) is sent as the cluster secret. */
int tr_status_command(FILE *out,
                      const char *addr,
                      bool verify,
                      const char *secret);

#endif
