/* fuzz_promql_parser.c - libFuzzer driver for the PromQL parser: parse
 * arbitrary text; when it parses, the canonical form must parse again and
 * format to the same text (format(parse(format(parse(q)))) ==
 * format(parse(q))). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "query/promql/ast.h"
#include "query/promql/parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[TR_ERRMSG_SIZE];
    struct tr_arena a;
    struct tr_promql_node *n, *n2;
    struct tr_buf b1, b2;

    tr_arena_init(&a, 4096);
    tr_buf_init(&b1);
    tr_buf_init(&b2);
    int rv = tr_promql_parse((const char *)data, size, &a, &n, err);
    if (rv != 0) {
        if (rv != TR_EINVAL && rv != TR_ENOMEM) {
            abort();
        }
        if (strnlen(err, sizeof(err)) == sizeof(err)) {
            abort(); /* message not terminated */
        }
        goto out;
    }
    tr_promql_format(n, &b1);
    if (b1.oom) {
        abort();
    }
    rv = tr_promql_parse(b1.data, b1.len, &a, &n2, err);
    if (rv != 0) {
        abort(); /* the canonical form must parse */
    }
    tr_promql_format(n2, &b2);
    if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0) {
        abort(); /* and format identically */
    }
    if (n2->type != n->type) {
        abort();
    }
    tr_promql_ast_free(n2);
    tr_promql_ast_free(n);
out:
    tr_buf_free(&b1);
    tr_buf_free(&b2);
    tr_arena_free(&a);
    return 0;
}
