/* fuzz_promql_parser.c - libFuzzer driver for the PromQL parser: parse
 * arbitrary text; when it parses, the canonical form must parse again and
 * format to the same text (format(parse(format(parse(q)))) ==
 * format(parse(q))).
 *
 * One exception, Prometheus' own: Go's strconv.Quote writes U+FFFD as the
 * rune itself and Prometheus' lexer refuses that rune in a literal ("invalid
 * UTF-8 rune"), so the canonical form of "\uFFFD" does not parse again; triad
 * formats as Prometheus does. A canonical form holding U+FFFD (only string
 * literals can: identifiers are ASCII and other bytes are \x-escaped) must
 * then fail to parse, and the same form with each U+FFFD written as the
 * escape \uFFFD must parse and format to the canonical form. */
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

#define FFFD "\xef\xbf\xbd"

/* Copies in to out with every U+FFFD replaced by the escape \uFFFD;
 * returns how many were replaced. */
static size_t escape_fffd(const struct tr_buf *in, struct tr_buf *out)
{
    size_t k = 0;
    for (size_t i = 0; i < in->len;) {
        if (in->len - i >= 3 && memcmp(in->data + i, FFFD, 3) == 0) {
            tr_buf_append(out, "\\uFFFD", 6);
            i += 3;
            k++;
        } else {
            tr_buf_putc(out, in->data[i]);
            i++;
        }
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[TR_ERRMSG_SIZE];
    struct tr_arena a;
    struct tr_promql_node *n, *n2;
    struct tr_buf b1, b2, esc;

    tr_arena_init(&a, 4096);
    tr_buf_init(&b1);
    tr_buf_init(&b2);
    tr_buf_init(&esc);
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
    const char *q2 = b1.data;
    size_t q2_len = b1.len;
    if (escape_fffd(&b1, &esc) > 0) {
        if (esc.oom) {
            abort();
        }
        rv = tr_promql_parse(b1.data, b1.len, &a, &n2, err);
        if (rv != TR_EINVAL) {
            abort(); /* U+FFFD in a literal is refused, as by Prometheus */
        }
        q2 = esc.data;
        q2_len = esc.len;
    }
    rv = tr_promql_parse(q2, q2_len, &a, &n2, err);
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
    tr_buf_free(&esc);
    tr_arena_free(&a);
    return 0;
}
