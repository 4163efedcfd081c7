/* test_promql_parser.c - PromQL parser: precedence, canonical formatting,
 * error messages and the conformance query sets (promql-compliance and the
 * Prometheus promqltest eval lines). */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/files.h"
#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "query/promql/ast.h"
#include "query/promql/parser.h"

/* Parses q; on success *fmt = format(parse(q)) (tr_malloc'd); on error
 * errmsg is filled. Also checks format(parse(format)) == format. */
static int pq_parse_fmt(const char *q, char **fmt, char *errmsg)
{
    struct tr_arena a;
    struct tr_promql_node *n;
    tr_arena_init(&a, 4096);
    *fmt = NULL;
    int rv = tr_promql_parse(q, strlen(q), &a, &n, errmsg);
    if (rv == 0) {
        struct tr_buf b;
        tr_buf_init(&b);
        tr_promql_format(n, &b);
        tr_buf_putc(&b, '\0');
        tr_promql_ast_free(n);
        /* Round trip. */
        struct tr_promql_node *n2;
        char em2[TR_ERRMSG_SIZE];
        int rv2 = tr_promql_parse(b.data, b.len - 1, &a, &n2, em2);
        cr_expect_eq(rv2, 0, "re-parse of %s (from %s) failed: %s", b.data, q,
                     em2);
        if (rv2 == 0) {
            struct tr_buf b2;
            tr_buf_init(&b2);
            tr_promql_format(n2, &b2);
            tr_buf_putc(&b2, '\0');
            cr_expect_str_eq(b2.data, b.data, "format round trip of %s", q);
            tr_buf_free(&b2);
            tr_promql_ast_free(n2);
        }
        *fmt = tr_buf_steal(&b, NULL);
    }
    tr_arena_free(&a);
    return rv;
}

/* ---- canonical format
 * ------------------------------------------------------------------ */

static const struct {
    const char *in;
    const char *out;
} fmt_cases[] = {
    {"sum(rate(http_requests_total{job=\"api\"}[5m])) by (job)",
     "sum by (job) (rate(http_requests_total{job=\"api\"}[5m]))"},
    {"sum by (job) (rate(http_requests_total{job=\"api\"}[5m]))",
     "sum by (job) (rate(http_requests_total{job=\"api\"}[5m]))"},
    {"foo{c=\"d\", a=\"b\"}", "foo{a=\"b\",c=\"d\"}"},
    {"foo{a!~\"x.*\",b=~'y'}", "foo{a!~\"x.*\",b=~\"y\"}"},
    {"{__name__=\"foo\"}", "{__name__=\"foo\"}"},
    {"foo{}", "foo"},
    {"foo offset 5m @ 100", "foo @ 100.000 offset 5m"},
    {"foo offset -5m", "foo offset -5m"},
    {"foo @ 1.5", "foo @ 1.500"},
    {"foo @ start()", "foo @ start()"},
    {"foo @ end() offset 1h", "foo @ end() offset 1h"},
    {"foo[90m]", "foo[1h30m]"},
    {"foo[14d]", "foo[2w]"},
    {"foo[8d]", "foo[8d]"},
    {"foo[365d]", "foo[1y]"},
    {"foo[1500ms]", "foo[1s500ms]"},
    {"foo[5m] offset 1w", "foo[5m] offset 1w"},
    {"foo[5m] @ 10 offset 1m", "foo[5m] @ 10.000 offset 1m"},
    {"foo[5m:]", "foo[5m:]"},
    {"rate(foo[5m])[30m:1m] offset 5m", "rate(foo[5m])[30m:1m] offset 5m"},
    {"max_over_time((time() - max(x) < 1000)[5m:10s] offset 5m)",
     "max_over_time((time() - max(x) < 1000)[5m:10s] offset 5m)"},
    {"1e3", "1000"},
    {"0x10", "16"},
    {".5", "0.5"},
    {"1.23e-3", "0.00123"},
    {"Inf", "+Inf"},
    {"-Inf", "-Inf"},
    {"+Inf", "+Inf"},
    {"NaN", "NaN"},
    {"-1", "-1"},
    {"- -1", "1"},
    {"1e100",
     "10000000000000000000000000000000000000000000000000000000000"
     "000000000000000000000000000000000000000000"},
    {"\"a\\nb\"", "\"a\\nb\""},
    {"'x\"y'", "\"x\\\"y\""},
    {"`a\\b`", "\"a\\\\b\""},
    {"\"\\u00e9\"", "\"\xc3\xa9\""},
    {"a + on(b) group_left(c) d", "a + on (b) group_left (c) d"},
    {"a * ignoring(b) group_right d", "a * ignoring (b) group_right () d"},
    {"a > bool b", "a > bool b"},
    {"a == bool on() b", "a == bool on () b"},
    {"a and ignoring(x) b", "a and ignoring (x) b"},
    {"a or b", "a or b"},
    {"a unless on (x, y) b", "a unless on (x, y) b"},
    {"topk(5, foo)", "topk(5, foo)"},
    {"count_values(\"v\", foo)", "count_values(\"v\", foo)"},
    {"quantile without (a) (0.9, foo)", "quantile without (a) (0.9, foo)"},
    {"sum without () (x)", "sum without () (x)"},
    {"sum by () (x)", "sum(x)"},
    {"SUM(x) BY (a,)", "sum by (a) (x)"},
    {"-foo", "-foo"},
    {"+foo", "+foo"},
    {"(1 + 2) * 3", "(1 + 2) * 3"},
    {"foo # comment\n+ bar", "foo + bar"},
    {"label_replace(up, \"a\", \"b\", \"c\", \"d\")",
     "label_replace(up, \"a\", \"b\", \"c\", \"d\")"},
    {"round(foo, 0.5)", "round(foo, 0.5)"},
    {"time()", "time()"},
    {"day_of_month()", "day_of_month()"},
    {"sort_by_label(x, \"a\", \"b\")", "sort_by_label(x, \"a\", \"b\")"},
    {"sum", "sum"},
    {"by", "by"},
    {"job:rate5m:sum{a=\"b\"}", "job:rate5m:sum{a=\"b\"}"},
    {"a atan2 b", "a atan2 b"},
    {"2 ^ 3 ^ 2", "2 ^ 3 ^ 2"},
    {"-1 ^ 2", "-1 ^ 2"},
    {"Inf ^ 2 + -Inf", "Inf ^ 2 + -Inf"},
    {"-1 -1 ^Inf^1 *-1 ^1", "-1 - 1 ^ Inf ^ 1 * -1 ^ 1"},
    {"holt_winters(x[5m], 0.5, 0.1)", "holt_winters(x[5m], 0.5, 0.1)"},
    {"absent_over_time(nonexistent{job=\"x\"}[1h])",
     "absent_over_time(nonexistent{job=\"x\"}[1h])"},
};

Test(promql_parser, format_cases)
{
    for (size_t i = 0; i < sizeof(fmt_cases) / sizeof(fmt_cases[0]); i++) {
        if (fmt_cases[i].out == NULL) {
            continue;
        }
        char em[TR_ERRMSG_SIZE] = "";
        char *f;
        int rv = pq_parse_fmt(fmt_cases[i].in, &f, em);
        cr_expect_eq(rv, 0, "%s: %s", fmt_cases[i].in, em);
        if (rv == 0) {
            cr_expect_str_eq(f, fmt_cases[i].out, "format of %s",
                             fmt_cases[i].in);
        }
        tr_free(f);
    }
}

/* ---- precedence (tree shape as an s-expression)
 * ------------------------------------------------------------------ */

static void pq_sx(const struct tr_promql_node *n, struct tr_buf *b)
{
    switch (n->kind) {
        case TR_PROMQL_NODE_BINARY:
            tr_buf_printf(b, "(%s ", tr_promql_binop_name(n->bin.op));
            pq_sx(n->bin.lhs, b);
            tr_buf_putc(b, ' ');
            pq_sx(n->bin.rhs, b);
            tr_buf_putc(b, ')');
            break;
        case TR_PROMQL_NODE_UNARY:
            tr_buf_printf(b, "(u%s ", n->unary.op == TR_PROMQL_SUB ? "-" : "+");
            pq_sx(n->unary.expr, b);
            tr_buf_putc(b, ')');
            break;
        case TR_PROMQL_NODE_PAREN:
            tr_buf_puts(b, "(paren ");
            pq_sx(n->paren.expr, b);
            tr_buf_putc(b, ')');
            break;
        default:
            tr_promql_format(n, b);
            break;
    }
}

static const struct {
    const char *in;
    const char *sx;
} prec_cases[] = {
    {"1 + 2 * 3", "(+ 1 (* 2 3))"},
    {"1 * 2 + 3", "(+ (* 1 2) 3)"},
    {"2 ^ 3 ^ 2", "(^ 2 (^ 3 2))"},
    {"-1 ^ 2", "(u- (^ 1 2))"},
    {"-a * b", "(* (u- a) b)"},
    {"-a + b", "(+ (u- a) b)"},
    {"2 * -3 ^ 2", "(* 2 (u- (^ 3 2)))"},
    {"1 + -2", "(+ 1 -2)"},
    {"a or b and c", "(or a (and b c))"},
    {"a and b unless c", "(unless (and a b) c)"},
    {"a or b unless c or d", "(or (or a (unless b c)) d)"},
    {"a == b + c", "(== a (+ b c))"},
    {"1 - 2 - 3", "(- (- 1 2) 3)"},
    {"a atan2 b * c", "(* (atan2 a b) c)"},
    {"a / b % c", "(% (/ a b) c)"},
    {"a > b or c < d", "(or (> a b) (< c d))"},
    {"a + b offset 5m", "(+ a b offset 5m)"},
    {"a * b @ 3 offset 1m", "(* a b @ 3.000 offset 1m)"},
    {"(a + b) * c", "(* (paren (+ a b)) c)"},
    {"1 * 2 + 4 / 6 - 10 % 2 ^ 2", "(- (+ (* 1 2) (/ 4 6)) (% 10 (^ 2 2)))"},
    {"a ^ -b ^ c", "(^ a (u- (^ b c)))"},
    {"a == bool 1 > bool 2", "(> (== a 1) 2)"},
};

Test(promql_parser, precedence)
{
    for (size_t i = 0; i < sizeof(prec_cases) / sizeof(prec_cases[0]); i++) {
        struct tr_arena a;
        struct tr_promql_node *n;
        char em[TR_ERRMSG_SIZE] = "";
        tr_arena_init(&a, 4096);
        int rv = tr_promql_parse(prec_cases[i].in, strlen(prec_cases[i].in), &a,
                                 &n, em);
        cr_expect_eq(rv, 0, "%s: %s", prec_cases[i].in, em);
        if (rv == 0) {
            struct tr_buf b;
            tr_buf_init(&b);
            pq_sx(n, &b);
            tr_buf_putc(&b, '\0');
            cr_expect_str_eq(b.data, prec_cases[i].sx, "%s", prec_cases[i].in);
            tr_buf_free(&b);
            tr_promql_ast_free(n);
        }
        tr_arena_free(&a);
    }
}

/* ---- types, positions and fields
 * ------------------------------------------------------------------ */

Test(promql_parser, node_fields)
{
    struct tr_arena a;
    struct tr_promql_node *n;
    char em[TR_ERRMSG_SIZE];
    tr_arena_init(&a, 4096);

    const char *q = "sum by (a) (rate(foo{x=~\"y\"}[5m] offset -1m))";
    cr_assert_eq(tr_promql_parse(q, strlen(q), &a, &n, em), 0, "%s", em);
    cr_expect_eq(n->kind, TR_PROMQL_NODE_AGGREGATE);
    cr_expect_eq(n->type, TR_PROMQL_TYPE_VECTOR);
    cr_expect_eq(n->start, 0);
    cr_expect_eq(n->end, strlen(q));
    cr_expect_eq(n->agg.grouping.n, 1);
    cr_expect_str_eq(n->agg.grouping.names[0], "a");
    struct tr_promql_node *c = n->agg.expr;
    cr_assert_eq(c->kind, TR_PROMQL_NODE_CALL);
    cr_expect_str_eq(c->call.func->name, "rate");
    cr_expect_eq(c->start, 12);
    struct tr_promql_node *m = c->call.args[0];
    cr_assert_eq(m->kind, TR_PROMQL_NODE_MATRIX_SEL);
    cr_expect_eq(m->type, TR_PROMQL_TYPE_MATRIX);
    cr_expect_eq(m->ms.range_ms, 300000);
    cr_expect_eq(m->ms.vs->vs.offset_ms, -60000);
    cr_expect_str_eq(m->ms.vs->vs.name, "foo");
    cr_assert_eq(m->ms.vs->vs.n_matchers, 2);
    cr_expect_str_eq(m->ms.vs->vs.matchers[0].name, "x");
    cr_expect_str_eq(m->ms.vs->vs.matchers[1].name, "__name__");
    cr_expect(tr_matcher_matches(&m->ms.vs->vs.matchers[0], "y", 1));
    tr_promql_ast_free(n);

    q = "scalar(foo) * 2";
    cr_assert_eq(tr_promql_parse(q, strlen(q), &a, &n, em), 0, "%s", em);
    cr_expect_eq(n->type, TR_PROMQL_TYPE_SCALAR);
    cr_expect_eq(n->bin.has_matching, false);
    tr_promql_ast_free(n);

    q = "a and b";
    cr_assert_eq(tr_promql_parse(q, strlen(q), &a, &n, em), 0, "%s", em);
    cr_expect_eq(n->bin.card, TR_PROMQL_CARD_MANY_TO_MANY);
    cr_expect_eq(n->bin.has_matching, true);
    tr_promql_ast_free(n);

    q = "foo @ -1.5";
    cr_assert_eq(tr_promql_parse(q, strlen(q), &a, &n, em), 0, "%s", em);
    cr_expect_eq(n->vs.at, TR_PROMQL_AT_TIMESTAMP);
    cr_expect_eq(n->vs.at_ms, -1500);
    tr_promql_ast_free(n);

    q = "\"str\"";
    cr_assert_eq(tr_promql_parse(q, strlen(q), &a, &n, em), 0, "%s", em);
    cr_expect_eq(n->type, TR_PROMQL_TYPE_STRING);
    cr_expect_str_eq(n->str.val, "str");
    tr_promql_ast_free(n);

    tr_arena_free(&a);
}

Test(promql_parser, function_table)
{
    size_t n;
    const struct tr_promql_func *f = tr_promql_funcs(&n);
    cr_expect_geq(n, 70);
    for (size_t i = 0; i + 1 < n; i++) {
        cr_expect_lt(strcmp(f[i].name, f[i + 1].name), 0, "%s", f[i].name);
    }
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(tr_promql_func_lookup(f[i].name, strlen(f[i].name)),
                     &f[i]);
    }
    cr_expect_null(tr_promql_func_lookup("foo", 3));
    cr_expect_null(tr_promql_func_lookup("rat", 3));
    const struct tr_promql_func *r = tr_promql_func_lookup("rate", 4);
    cr_assert_not_null(r);
    cr_expect_eq(r->arg_types[0], TR_PROMQL_TYPE_MATRIX);
    cr_expect_eq(r->ret, TR_PROMQL_TYPE_VECTOR);
}

/* ---- errors
 * ------------------------------------------------------------------ */

static const struct {
    const char *in;
    const char *err;
} err_cases[] = {
    {"", "1:1: parse error: no expression found in input"},
    {"  # just a comment\n", "1:1: parse error: no expression found in input"},
    {"{}",
     "1:1: parse error: vector selector must contain at least one non-empty "
     "matcher"},
    {"{x=\"\"}",
     "1:1: parse error: vector selector must contain at least one non-empty "
     "matcher"},
    {"{__name__=~\".*\"}",
     "1:1: parse error: vector selector must contain at least one non-empty "
     "matcher"},
    {"foo(bar)", "1:1: parse error: unknown function with name \"foo\""},
    {"rate(foo[5m], 1)",
     "1:1: parse error: expected 1 argument(s) in call to \"rate\", got 2"},
    {"rate(foo)",
     "1:6: parse error: expected type range vector in call to function "
     "\"rate\", got instant vector"},
    {"sum(foo[5m])",
     "1:5: parse error: expected type instant vector in aggregation "
     "expression, got range vector"},
    {"(foo + bar)[5m]",
     "1:12: parse error: ranges only allowed for vector selectors"},
    {"rate(x[5m])[5m]",
     "1:12: parse error: ranges only allowed for vector selectors"},
    {"foo[5m] + bar",
     "1:1: parse error: binary expression must contain only scalar and "
     "instant vector types"},
    {"bar + foo[5m]",
     "1:7: parse error: binary expression must contain only scalar and "
     "instant vector types"},
    {"\"a\" + 1",
     "1:1: parse error: binary expression must contain only scalar and "
     "instant vector types"},
    {"1 + bool 2",
     "1:3: parse error: bool modifier can only be used on comparison "
     "operators"},
    {"1 == 1",
     "1:3: parse error: comparisons between scalars must use BOOL modifier"},
    {"foo and on(a) group_left bar",
     "1:1: parse error: no grouping allowed for \"and\" operation"},
    {"1 and foo",
     "1:1: parse error: set operator \"and\" not allowed in binary scalar "
     "expression"},
    {"1 + on(a) foo",
     "1:1: parse error: vector matching only allowed between instant "
     "vectors"},
    {"a + on(x) group_left(x) b",
     "1:3: parse error: label \"x\" must not occur in ON and GROUP clause at "
     "once"},
    {"foo offset 1s offset 2s",
     "1:1: parse error: offset may not be set multiple times"},
    {"1 offset 1d",
     "1:1: parse error: offset modifier must be preceded by an instant "
     "vector selector or range vector selector or a subquery"},
    {"sum(foo) @ 1",
     "1:1: parse error: @ modifier must be preceded by an instant vector "
     "selector or range vector selector or a subquery"},
    {"foo @ 1 @ 2",
     "1:1: parse error: @ <timestamp> may not be set multiple times"},
    {"foo @ Inf",
     "1:1: parse error: timestamp out of bounds for @ modifier: +Inf"},
    {"foo @ -Inf",
     "1:1: parse error: timestamp out of bounds for @ modifier: -Inf"},
    {"foo @ NaN",
     "1:1: parse error: timestamp out of bounds for @ modifier: NaN"},
    {"foo offset 5m [5m]",
     "1:15: parse error: no offset modifiers allowed before range"},
    {"foo @ 1 [5m]", "1:9: parse error: no @ modifiers allowed before range"},
    {"a - on(b) ignoring(c) d", "1:11: parse error: unexpected <ignoring>"},
    {"x and", "1:6: parse error: unexpected end of input"},
    {"bool", "1:1: parse error: unexpected <bool>"},
    {"*foo", "1:1: parse error: unexpected <op:*>"},
    {"foo bar", "1:5: parse error: unexpected identifier \"bar\""},
    {"topk(foo)",
     "1:1: parse error: wrong number of arguments for aggregate expression "
     "provided, expected 2, got 1"},
    {"sum(a, b)",
     "1:1: parse error: wrong number of arguments for aggregate expression "
     "provided, expected 1, got 2"},
    {"sum()",
     "1:1: parse error: no arguments for aggregate expression provided"},
    {"rate(foo[5m],)",
     "1:13: parse error: trailing commas not allowed in function call args"},
    {"foo[0s]", "1:5: parse error: duration must be greater than 0"},
    {"-foo[5m]",
     "1:1: parse error: unary expression only allowed on expressions of "
     "type scalar or instant vector, got \"range vector\""},
    {"foo[5m][10m:]",
     "1:1: parse error: subquery is only allowed on instant vector, got "
     "matrix instead"},
    {"foo{__name__=\"bar\"}",
     "1:1: parse error: metric name must not be set twice: \"foo\" or "
     "\"bar\""},
    {"round(foo, 1, 2)",
     "1:1: parse error: expected at most 2 argument(s) in call to \"round\", "
     "got 3"},
    {"label_join(foo, \"a\")",
     "1:1: parse error: expected at least 3 argument(s) in call to "
     "\"label_join\", got 2"},
    {"time(1)",
     "1:1: parse error: expected 0 argument(s) in call to \"time\", got 1"},
    {"topk(\"a\", foo)",
     "1:6: parse error: expected type scalar in aggregation parameter, got "
     "string"},
    {"count_values(1, foo)",
     "1:14: parse error: expected type string in aggregation parameter, got "
     "scalar"},
    {"histogram_quantile(foo, bar)",
     "1:20: parse error: expected type scalar in call to function "
     "\"histogram_quantile\", got instant vector"},
    {"label_replace(foo, 1, \"b\", \"c\", \"d\")",
     "1:20: parse error: expected type string in call to function "
     "\"label_replace\", got scalar"},
    {"foo)", "1:5: parse error: unexpected right parenthesis ')'"},
    {"(foo", "1:5: parse error: unclosed left parenthesis"},
    {"foo{a=\"b\"", "1:10: parse error: unexpected end of input inside braces"},
    {"foo[5]", "1:5: parse error: missing unit character in duration"},
    {"foo{a b}",
     "1:7: parse error: unexpected identifier \"b\" in label matching, "
     "expected label matching operator"},
    {"foo offset 5",
     "1:12: parse error: unexpected number \"5\" in offset, expected "
     "duration"},
    {"sum by (a:b) (x)",
     "1:9: parse error: unexpected metric identifier \"a:b\" in grouping "
     "opts, expected label"},
    {"foo[5m:1m 1]",
     "1:11: parse error: unexpected number \"1\" in subquery selector, "
     "expected \"]\""},
    {"foo[5m 1]",
     "1:8: parse error: unexpected number \"1\" in subquery or range, "
     "expected \":\" or \"]\""},
    {"foo @ bar",
     "1:7: parse error: unexpected identifier \"bar\" in @, expected "
     "timestamp"},
    {"sum by a (x)",
     "1:8: parse error: unexpected identifier \"a\" in grouping opts, "
     "expected \"(\""},
};

Test(promql_parser, errors)
{
    for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        char em[TR_ERRMSG_SIZE] = "";
        char *f = NULL;
        int rv = pq_parse_fmt(err_cases[i].in, &f, em);
        cr_expect_eq(rv, TR_EINVAL, "%s: parsed as %s", err_cases[i].in,
                     f ? f : "?");
        if (rv != 0) {
            cr_expect_str_eq(em, err_cases[i].err, "error of %s",
                             err_cases[i].in);
        }
        tr_free(f);
    }
}

/* Parses the n bytes of q: 0 and the canonical form in *fmt (tr_malloc'd,
 * NUL-terminated; q may hold NUL bytes, the form never does), or the error
 * in errmsg. */
static int pq_parse_fmt_n(const char *q, size_t n, char **fmt, char *errmsg)
{
    struct tr_arena a;
    struct tr_promql_node *node;
    tr_arena_init(&a, 4096);
    *fmt = NULL;
    int rv = tr_promql_parse(q, n, &a, &node, errmsg);
    if (rv == 0) {
        struct tr_buf b;
        tr_buf_init(&b);
        tr_promql_format(node, &b);
        cr_assert_null(memchr(b.data, '\0', b.len), "raw NUL in the form");
        tr_buf_putc(&b, '\0');
        tr_promql_ast_free(node);
        *fmt = tr_buf_steal(&b, NULL);
    }
    tr_arena_free(&a);
    return rv;
}

/* A literal and its length, NUL bytes included. */
#define LIT(s) s, sizeof(s) - 1

/* String literals holding NUL bytes (%00 in an HTTP form) parse, keep the
 * bytes, and format as Go's strconv.Quote does (\x00), like Prometheus'
 * format_query; the form parses back to itself. */
Test(promql_parser, strings_with_nul_bytes)
{
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {LIT("\"a\0b\""), "\"a\\x00b\""},
        {LIT("'a\0b'"), "\"a\\x00b\""},
        {LIT("`a\0b`"), "\"a\\x00b\""},
        {LIT("\"\0\""), "\"\\x00\""},
        {LIT("\"\\x00\""), "\"\\x00\""},
        {LIT("foo{job=\"x\0y\",a=`\0`}"), "foo{a=\"\\x00\",job=\"x\\x00y\"}"},
        {LIT("label_replace(up, \"a\", \"\0\", \"b\", \"\")"),
         "label_replace(up, \"a\", \"\\x00\", \"b\", \"\")"},
        {LIT("count_values(\"v\0\", x) # \0 in a comment"),
         "count_values(\"v\\x00\", x)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char em[TR_ERRMSG_SIZE] = "";
        char *f = NULL;
        cr_assert_eq(pq_parse_fmt_n(cases[i].in, cases[i].n, &f, em), 0,
                     "case %zu: %s", i, em);
        cr_expect_str_eq(f, cases[i].out, "case %zu", i);
        char *f2 = NULL;
        cr_assert_eq(pq_parse_fmt_n(f, strlen(f), &f2, em), 0, "%s: %s", f, em);
        cr_expect_str_eq(f2, f);
        tr_free(f2);
        tr_free(f);
    }
    /* The node keeps the bytes. */
    struct tr_arena a;
    struct tr_promql_node *n;
    tr_arena_init(&a, 4096);
    cr_assert_eq(tr_promql_parse("\"a\0b\"", 5, &a, &n, NULL), 0);
    cr_assert_eq(n->kind, TR_PROMQL_NODE_STRING);
    cr_assert_eq(n->str.len, 3);
    cr_assert_eq(memcmp(n->str.val, "a\0b", 3), 0);
    tr_promql_ast_free(n);
    tr_arena_free(&a);

    /* Errors are Prometheus' own. */
    static const struct {
        const char *in;
        size_t n;
        const char *err;
    } bad[] = {
        {LIT("\"a\0"), "1:1: parse error: unterminated quoted string"},
        {LIT("sum(x) \0"), "1:8: parse error: unexpected character: '\\x00'"},
        {LIT("1 \"a\0b\""),
         "1:3: parse error: unexpected string \"\\\"a\\x00b\\\"\""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char em[TR_ERRMSG_SIZE] = "";
        char *f = NULL;
        cr_expect_eq(pq_parse_fmt_n(bad[i].in, bad[i].n, &f, em), TR_EINVAL,
                     "bad %zu", i);
        cr_expect_str_eq(em, bad[i].err, "bad %zu", i);
        tr_free(f);
    }
}

/* Go's strconv.Quote writes U+FFFD as the rune itself (it is printable),
 * and Prometheus' lexer refuses that rune in a literal ("invalid UTF-8
 * rune", Go decodes it as utf8.RuneError): so the canonical form of
 * "\uFFFD" does not parse again, in Prometheus as in triad. format_query
 * answers as Prometheus does. This is the input fuzz_promql_parser found
 * (fuzz/corpus/fuzz_promql_parser/issue8-nul-fffd). */
Test(promql_parser, escaped_fffd_formats_as_prometheus)
{
    static const char in[] = "\"0`\0\0F-EFF1A*F+\\uFFFD?3[\"";
    char em[TR_ERRMSG_SIZE] = "";
    char *f = NULL;
    cr_assert_eq(pq_parse_fmt_n(in, sizeof(in) - 1, &f, em), 0, "%s", em);
    cr_assert_str_eq(f, "\"0`\\x00\\x00F-EFF1A*F+\xef\xbf\xbd?3[\"");
    char *f2 = NULL;
    cr_assert_eq(pq_parse_fmt_n(f, strlen(f), &f2, em), TR_EINVAL);
    cr_assert_str_eq(em, "1:1: parse error: invalid UTF-8 rune");
    tr_free(f);
    cr_assert_eq(pq_parse_fmt_n("\"\\uFFFD\"", 8, &f, em), 0, "%s", em);
    cr_assert_str_eq(f, "\"\xef\xbf\xbd\"");
    tr_free(f);
}

Test(promql_parser, bad_regex_and_depth)
{
    char em[TR_ERRMSG_SIZE] = "";
    char *f = NULL;
    cr_expect_eq(pq_parse_fmt("foo{a=~\"(\"}", &f, em), TR_EINVAL);
    cr_expect(strncmp(em, "1:5: parse error: error parsing regexp", 38) == 0,
              "%s", em);

    /* Deep nesting is refused, not a stack overflow. */
    size_t depth = 5000;
    char *q = malloc(depth * 2 + 2);
    cr_assert_not_null(q);
    memset(q, '(', depth);
    q[depth] = '1';
    memset(q + depth + 1, ')', depth);
    q[2 * depth + 1] = '\0';
    cr_expect_eq(pq_parse_fmt(q, &f, em), TR_EINVAL);
    cr_expect(strstr(em, "nested too deeply") != NULL, "%s", em);
    /* A long flat chain of operators likewise. */
    char *r = malloc(depth * 2 + 2);
    cr_assert_not_null(r);
    for (size_t i = 0; i < depth; i++) {
        r[2 * i] = '1';
        r[2 * i + 1] = '+';
    }
    r[2 * depth] = '1';
    r[2 * depth + 1] = '\0';
    cr_expect_eq(pq_parse_fmt(r, &f, em), TR_EINVAL);
    cr_expect(strstr(em, "nested too deeply") != NULL, "%s", em);
    /* Within the limit it works. */
    r[2 * 500 + 1] = '\0';
    cr_expect_eq(pq_parse_fmt(r, &f, em), 0, "%s", em);
    tr_free(f);
    free(q);
    free(r);
}

/* ---- conformance files
 * ------------------------------------------------------------------ */

static const char *pq_conf_dir(void)
{
    const char *d = getenv("TRIAD_CONFORMANCE_DIR");
    return d != NULL ? d : "../shared/conformance";
}

static const struct {
    const char *name;
    const char *values[10];
} pq_variants[] = {
    {"range", {"1s", "15s", "1m", "5m", "15m", "1h"}},
    {"offset", {"1m", "5m", "10m"}},
    {"simpleAggrOp", {"sum", "avg", "max", "min", "count", "stddev", "stdvar"}},
    {"simpleTimeAggrOp",
     {"sum", "avg", "max", "min", "count", "stddev", "stdvar", "absent",
      "last"}},
    {"topBottomOp", {"topk", "bottomk"}},
    {"quantile",
     {"-0.5", "0.1", "0.5", "0.75", "0.95", "0.90", "0.99", "1", "1.5"}},
    {"arithBinOp", {"+", "-", "*", "/", "%", "^"}},
    {"compBinOp", {"==", "!=", "<", ">", "<=", ">="}},
    {"binOp",
     {"+", "-", "*", "/", "%", "^", "==", "!=", "<", ">"}}, /* + <= >= */
    {"simpleMathFunc",
     {"abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "round"}},
    {"extrapolatedRateFunc", {"delta", "rate", "increase"}},
    {"clampFunc", {"clamp_min", "clamp_max"}},
    {"instantRateFunc", {"idelta", "irate"}},
    {"dateFunc",
     {"day_of_month", "day_of_week", "days_in_month", "hour", "minute", "month",
      "year"}},
    {"smoothingFactor", {"0.1", "0.5", "0.8"}},
    {"trendFactor", {"0.1", "0.5", "0.8"}},
};

static size_t pq_variant_values(const char *name, const char **vals)
{
    for (size_t i = 0; i < sizeof(pq_variants) / sizeof(pq_variants[0]); i++) {
        if (strcmp(pq_variants[i].name, name) == 0) {
            size_t n = 0;
            while (n < 10 && pq_variants[i].values[n] != NULL) {
                vals[n] = pq_variants[i].values[n];
                n++;
            }
            if (strcmp(name, "binOp") == 0) {
                vals[n++] = "<=";
                vals[n++] = ">=";
            }
            return n;
        }
    }
    return 0;
}

struct pq_stats {
    int parsed;
    int failed;
    int expected_fail_ok;
};

/* Expands {{.var}} in tmpl with the current choice of each variant. */
static void pq_expand_run(const char *tmpl,
                          char vars[][32],
                          size_t nvars,
                          size_t k,
                          const char *chosen[],
                          bool should_fail,
                          struct pq_stats *st)
{
    if (k < nvars) {
        const char *vals[16];
        size_t n = pq_variant_values(vars[k], vals);
        cr_expect_gt(n, 0, "unknown variant %s", vars[k]);
        for (size_t i = 0; i < n; i++) {
            chosen[k] = vals[i];
            pq_expand_run(tmpl, vars, nvars, k + 1, chosen, should_fail, st);
        }
        return;
    }
    struct tr_buf q;
    tr_buf_init(&q);
    for (const char *s = tmpl; *s;) {
        if (strncmp(s, "{{.", 3) == 0) {
            const char *e = strstr(s, "}}");
            cr_assert_not_null(e);
            size_t len = (size_t)(e - s - 3);
            bool found = false;
            for (size_t i = 0; i < nvars; i++) {
                if (strlen(vars[i]) == len &&
                    strncmp(vars[i], s + 3, len) == 0) {
                    tr_buf_puts(&q, chosen[i]);
                    found = true;
                }
            }
            cr_expect(found, "template variable in %s not bound", tmpl);
            s = e + 2;
        } else {
            tr_buf_putc(&q, *s++);
        }
    }
    tr_buf_putc(&q, '\0');
    char em[TR_ERRMSG_SIZE] = "";
    char *f = NULL;
    int rv = pq_parse_fmt(q.data, &f, em);
    if (rv == 0) {
        st->parsed++;
    } else {
        st->failed++;
        if (should_fail) {
            st->expected_fail_ok++;
        } else {
            cr_expect_eq(rv, 0, "compliance query %s: %s", q.data, em);
        }
    }
    tr_free(f);
    tr_buf_free(&q);
}

static void pq_run_entry(const char *query,
                         const char *vargs,
                         bool should_fail,
                         struct pq_stats *st)
{
    char vars[4][32];
    size_t nvars = 0;
    for (const char *s = vargs; s != NULL && *s;) {
        const char *a = strchr(s, '\'');
        if (a == NULL) {
            break;
        }
        const char *b = strchr(a + 1, '\'');
        if (b == NULL || nvars == 4) {
            break;
        }
        snprintf(vars[nvars++], sizeof(vars[0]), "%.*s", (int)(b - a - 1),
                 a + 1);
        s = b + 1;
    }
    const char *chosen[4];
    pq_expand_run(query, vars, nvars, 0, chosen, should_fail, st);
}

/* YAML scalar after "query:": '...' ('' = '), "..." or bare. */
static void pq_yaml_scalar(const char *s, char *out, size_t n)
{
    while (*s == ' ') {
        s++;
    }
    size_t k = 0;
    if (*s == '\'') {
        for (s++; *s && k + 1 < n; s++) {
            if (*s == '\'') {
                if (s[1] == '\'') {
                    out[k++] = '\'';
                    s++;
                    continue;
                }
                break;
            }
            out[k++] = *s;
        }
    } else if (*s == '"') {
        for (s++; *s && *s != '"' && k + 1 < n; s++) {
            if (*s == '\\' && s[1]) {
                s++;
            }
            out[k++] = *s;
        }
    } else {
        while (*s && *s != '\n' && k + 1 < n) {
            out[k++] = *s++;
        }
        while (k > 0 && isspace((unsigned char)out[k - 1])) {
            k--;
        }
    }
    out[k] = '\0';
}

Test(promql_parser, compliance_queries)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/promql-compliance/promql-test-queries.yml",
             pq_conf_dir());
    char *data = tr_test_read_file(path, NULL);
    if (data == NULL) {
        cr_skip_test("%s missing", path);
    }
    struct pq_stats st = {0, 0, 0};
    char query[2048] = "";
    char vargs[256] = "";
    bool should_fail = false, have = false;
    int entries = 0;
    for (char *line = strtok(data, "\n");; line = strtok(NULL, "\n")) {
        const char *s = line;
        while (s != NULL && *s == ' ') {
            s++;
        }
        bool new_entry = s == NULL || strncmp(s, "- ", 2) == 0;
        if (new_entry && have) {
            pq_run_entry(query, vargs, should_fail, &st);
            entries++;
            have = false;
            should_fail = false;
            vargs[0] = '\0';
        }
        if (s == NULL) {
            break;
        }
        if (strncmp(s, "- ", 2) == 0) {
            s += 2;
        }
        if (strncmp(s, "query:", 6) == 0) {
            pq_yaml_scalar(s + 6, query, sizeof(query));
            have = true;
        } else if (strncmp(s, "variant_args:", 13) == 0) {
            snprintf(vargs, sizeof(vargs), "%s", s + 13);
        } else if (strncmp(s, "should_fail:", 12) == 0) {
            should_fail = strstr(s, "true") != NULL;
        }
    }
    printf(
        "promql-compliance: %d templates, %d queries parsed, %d failed "
        "(%d of them marked should_fail)\n",
        entries, st.parsed, st.failed, st.expected_fail_ok);
    cr_expect_eq(entries, 118);
    cr_expect_eq(st.parsed + st.failed, 539);
    free(data);
}

static void pq_run_test_file(const char *path, int *ok, int *bad)
{
    char *data = tr_test_read_file(path, NULL);
    cr_assert_not_null(data, "%s", path);
    int lineno = 0;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        while (isspace((unsigned char)*line)) {
            line++;
        }
        if (strncmp(line, "eval", 4) != 0) {
            continue;
        }
        /* eval[_ordered|_fail] instant at <t> <expr>
         * eval[_fail] range from <a> to <b> step <c> <expr> */
        char *p = line;
        int skip =
            strstr(line, " range ") != NULL && strstr(line, " instant ") == NULL
                ? 8
                : 4;
        for (int w = 0; w < skip && *p; w++) {
            while (*p && !isspace((unsigned char)*p)) {
                p++;
            }
            while (isspace((unsigned char)*p)) {
                p++;
            }
        }
        char em[TR_ERRMSG_SIZE] = "";
        char *f = NULL;
        int rv = pq_parse_fmt(p, &f, em);
        if (rv == 0) {
            (*ok)++;
        } else {
            (*bad)++;
        }
        /* eval_fail expects evaluation errors, never parse errors. */
        cr_expect_eq(rv, 0, "%s: %s: %s", path, p, em);
        tr_free(f);
    }
    free(data);
}

Test(promql_parser, promqltest_evals)
{
    static const char *files[] = {
        "aggregators", "at_modifier", "collision",         "functions",
        "histograms",  "literals",    "native_histograms", "operators",
        "selectors",   "staleness",   "subquery",          "trig_functions",
    };
    char path[1024];
    int ok = 0, bad = 0, nfiles = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/promqltest/%s.test", pq_conf_dir(),
                 files[i]);
        FILE *fp = fopen(path, "r");
        if (fp == NULL) {
            continue;
        }
        fclose(fp);
        nfiles++;
        pq_run_test_file(path, &ok, &bad);
    }
    if (nfiles == 0) {
        cr_skip_test("%s/promqltest missing", pq_conf_dir());
    }
    printf(
        "promqltest (v2.53.5): %d files, %d eval expressions parsed, %d "
        "failed\n",
        nfiles, ok, bad);
    cr_expect_eq(ok + bad, 768);
}
