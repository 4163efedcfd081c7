/* fuzz_logql_parser.c - libFuzzer driver for the LogQL parser: parse
 * arbitrary text (with and without Loki's validation); when it parses, the
 * canonical form must parse again and format to the same text
 * (format(parse(format(parse(q)))) == format(parse(q))).
 *
 * Exceptions, all Loki's own (its String() has them too):
 *   - literals that fold to NaN or +-Inf print as "NaN" / "+Inf", which are
 *     not numbers to the lexer;
 *   - the canonical form adds parentheses, so a long flat chain of binary
 *     operators or label filters may nest deeper than the parser allows;
 *   - "!" is an identifier to Loki's lexer when no "=", "~" or ">"
 *     follows, and then a label named "!" prints as "!=";
 *   - a literal -0 prints as "-0", a duration to the lexer;
 *   - a size of 0 bytes prints as "0B", a binary literal without digits
 *     to Go's scanner. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "query/logql/ast.h"
#include "query/logql/parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool has(const struct tr_buf *b, const char *s)
{
    return memmem(b->data, b->len, s, strlen(s)) != NULL;
}

static bool bare_bang(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '!' && (i + 1 == n || (d[i + 1] != '=' && d[i + 1] != '~' &&
                                           d[i + 1] != '>'))) {
            return true;
        }
    }
    return false;
}

/* A literal -0 prints as "-0", which Loki's lexer reads as a duration. */
static bool minus_zero(const struct tr_buf *b)
{
    for (size_t i = 0; i + 2 <= b->len; i++) {
        if (b->data[i] == '-' && b->data[i + 1] == '0' &&
            (i + 2 == b->len || b->data[i + 2] == ')' ||
             b->data[i + 2] == ' ')) {
            return true;
        }
    }
    return false;
}

static void check(const uint8_t *data, size_t size, unsigned flags)
{
    char err[TR_ERRMSG_SIZE];
    struct tr_arena a;
    struct tr_logql_expr *e, *e2;
    struct tr_buf b1, b2;

    tr_arena_init(&a, 4096);
    tr_buf_init(&b1);
    tr_buf_init(&b2);
    int rv = tr_logql_parse_ex((const char *)data, size, flags, &a, &e, err);
    if (rv != 0) {
        if (rv != TR_EINVAL && rv != TR_ENOMEM) {
            abort();
        }
        if (strnlen(err, sizeof(err)) == sizeof(err)) {
            abort(); /* message not terminated */
        }
        goto out;
    }
    if (tr_logql_is_log_query(e) == tr_logql_is_metric_query(e)) {
        abort();
    }
    tr_logql_format(e, &b1);
    if (b1.oom) {
        abort();
    }
    bool excused = has(&b1, "NaN") || has(&b1, "Inf") ||
                   bare_bang(data, size) || minus_zero(&b1) ||
                   has(&b1, ">0B") || has(&b1, "<0B") || has(&b1, "=0B");
    rv = tr_logql_parse_ex(b1.data, b1.len, flags, &a, &e2, err);
    if (rv != 0) {
        if (excused || strstr(err, "too deeply nested") != NULL) {
            tr_logql_ast_free(e);
            goto out;
        }
        abort(); /* the canonical form must parse */
    }
    tr_logql_format(e2, &b2);
    if (!excused &&
        (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0)) {
        abort(); /* and format identically */
    }
    if (!excused && e2->kind != e->kind) {
        abort();
    }
    tr_logql_ast_free(e2);
    tr_logql_ast_free(e);
out:
    tr_buf_free(&b1);
    tr_buf_free(&b2);
    tr_arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size, 0);
    check(data, size, TR_LOGQL_PARSE_NO_VALIDATE);
    return 0;
}
