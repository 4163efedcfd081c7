/* fuzz_traceql_parser.c - libFuzzer driver for the TraceQL front end:
 * parse arbitrary text; when it parses, validation must answer 0,
 * TR_EINVAL or TR_EUNSUPPORTED, and the canonical form must parse again
 * and format to the same text (format(parse(format(parse(q)))) ==
 * format(parse(q))).
 *
 * Exceptions: literals that fold to NaN or +-Inf print as "NaN" / "Inf",
 * which are not numbers to the lexer; the canonical form adds
 * parentheses, so it may nest deeper than the parser allows. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "query/traceql/traceql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[TR_ERRMSG_SIZE];
    struct tr_arena a;
    struct tr_traceql_query *q, *q2;
    struct tr_buf b1, b2;

    tr_arena_init(&a, 4096);
    tr_buf_init(&b1);
    tr_buf_init(&b2);
    int rv = tr_traceql_parse((const char *)data, size, &a, &q, err);
    if (rv != 0) {
        if (rv != TR_EINVAL && rv != TR_ENOMEM) {
            abort();
        }
        if (strnlen(err, sizeof(err)) == sizeof(err)) {
            abort(); /* message not terminated */
        }
        goto out;
    }
    rv = tr_traceql_validate(q, err);
    if (rv != 0 && rv != TR_EINVAL && rv != TR_EUNSUPPORTED &&
        rv != TR_ENOMEM) {
        abort();
    }
    tr_traceql_format(q, &b1);
    if (b1.oom) {
        abort();
    }
    bool excused = tr_memmem(b1.data, b1.len, "NaN", 3) != NULL ||
                   tr_memmem(b1.data, b1.len, "Inf", 3) != NULL;
    rv = tr_traceql_parse(b1.data, b1.len, &a, &q2, err);
    if (rv != 0) {
        if (excused || strstr(err, "too deeply nested") != NULL ||
            strstr(err, "too complex") != NULL) {
            goto out;
        }
        abort(); /* the canonical form must parse */
    }
    tr_traceql_format(q2, &b2);
    if (!excused &&
        (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0)) {
        abort(); /* and format identically */
    }
out:
    tr_buf_free(&b1);
    tr_buf_free(&b2);
    tr_arena_free(&a);
    return 0;
}
