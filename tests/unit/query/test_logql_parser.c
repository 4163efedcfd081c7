/* test_logql_parser.c - LogQL parser: canonical forms (Loki's String()),
 * the format/parse round trip, the tree a query gives, Loki's error texts,
 * and (suite logql_parse_conformance) the shared conformance queries: the
 * lezer-logql corpus and every eval query of Loki's logqltest scripts. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "query/logql/ast.h"
#include "query/logql/parser.h"
#include "tests/lib/files.h"

#define NEED_MATCHER                                                       \
    "parse error : queries require at least one regexp or equality "       \
    "matcher that does not have an empty-compatible value. For instance, " \
    "app=~\".*\" does not meet this requirement, but app=~\".+\" will"

/* Parses q (n bytes) with flags; on success *fmt = format(parse(q))
 * (tr_malloc'd) and format(parse(format)) is checked to be the same text.
 * On error errmsg is filled. */
static int lq_parse_fmt_n(const char *q,
                          size_t n,
                          unsigned flags,
                          char **fmt,
                          char *errmsg)
{
    struct tr_arena a;
    struct tr_logql_expr *e;
    tr_arena_init(&a, 4096);
    *fmt = NULL;
    int rv = tr_logql_parse_ex(q, n, flags, &a, &e, errmsg);
    if (rv == 0) {
        struct tr_buf b;
        tr_buf_init(&b);
        tr_logql_format(e, &b);
        tr_buf_putc(&b, '\0');
        tr_logql_ast_free(e);
        struct tr_logql_expr *e2;
        char em2[TR_ERRMSG_SIZE];
        /* Loki prints NaN and Inf literals as "NaN" / "+Inf", which neither
         * Loki nor we read back */
        bool special =
            strstr(b.data, "NaN") != NULL || strstr(b.data, "Inf") != NULL;
        int rv2 =
            special ? TR_EINVAL
                    : tr_logql_parse_ex(b.data, b.len - 1, flags, &a, &e2, em2);
        if (special) {
            goto done;
        }
        cr_expect_eq(rv2, 0, "re-parse of %s (from %s) failed: %s", b.data, q,
                     em2);
        if (rv2 == 0) {
            struct tr_buf b2;
            tr_buf_init(&b2);
            tr_logql_format(e2, &b2);
            tr_buf_putc(&b2, '\0');
            cr_expect_str_eq(b2.data, b.data, "format round trip of %s", q);
            tr_buf_free(&b2);
            tr_logql_ast_free(e2);
        }
    done:
        *fmt = tr_buf_steal(&b, NULL);
    }
    tr_arena_free(&a);
    return rv;
}

static int lq_parse_fmt(const char *q, char **fmt, char *errmsg)
{
    return lq_parse_fmt_n(q, strlen(q), 0, fmt, errmsg);
}

/* ---- canonical forms ----------------------------------------------------- */

static const struct {
    const char *in;
    const char *out;
} fmt_cases[] = {
    {"{app=\"foo\"}", "{app=\"foo\"}"},
    {"{ app = \"foo\" , env =~ \"prod|dev\" }",
     "{app=\"foo\", env=~\"prod|dev\"}"},
    {"{app=\"foo\"} |= \"err\" != \"timeout\" |~ \"(?i)fail\" !~ \"debug\" |> "
     "\"<_> GET <_>\" !> \"health\"",
     "{app=\"foo\"} |= \"err\" != \"timeout\" |~ \"(?i)fail\" !~ \"debug\" |> "
     "\"<_> GET <_>\" !> \"health\""},
    {"{app=\"foo\"} |= \"a\" or \"b\" or ip(\"10.0.0.0/8\")",
     "{app=\"foo\"} |= \"a\" or \"b\" or ip(\"10.0.0.0/8\")"},
    {"{app=\"foo\"} != \"a\" or \"b\"", "{app=\"foo\"} != \"a\" != \"b\""},
    {"{app=\"foo\"} !~ \"a\" or \"b\" |= \"c\"",
     "{app=\"foo\"} !~ \"a\" !~ \"b\" |= \"c\""},
    {"{app=\"foo\"} | json", "{app=\"foo\"} | json"},
    {"{app=\"foo\"} | json a=\"x.y\", b, c=\"[\\\"k\\\"]\"",
     "{app=\"foo\"} | json a=\"x.y\",b=\"b\",c=\"[\\\"k\\\"]\""},
    {"{app=\"foo\"} | logfmt --keep-empty --strict",
     "{app=\"foo\"} | logfmt --strict --keep-empty"},
    {"{app=\"foo\"} | logfmt --strict a, b=\"c\"",
     "{app=\"foo\"} | logfmt --strict a=\"a\",b=\"c\""},
    {"{app=\"foo\"} | regexp \"(?P<ip>\\\\S+) (?P<path>.*)\"",
     "{app=\"foo\"} | regexp \"(?P<ip>\\\\S+) (?P<path>.*)\""},
    {"{app=\"foo\"} | pattern \"<ip> - <_> <path>\"",
     "{app=\"foo\"} | pattern \"<ip> - <_> <path>\""},
    {"{app=\"foo\"} | unpack | decolorize",
     "{app=\"foo\"} | unpack | decolorize"},
    {"{app=\"foo\"} | line_format \"{{.msg}}\" | label_format a=b, "
     "c=\"{{.d}}\"",
     "{app=\"foo\"} | line_format \"{{.msg}}\" | label_format "
     "a=b,c=\"{{.d}}\""},
    {"{app=\"foo\"} | drop a, b=\"v\", c=~\"x.*\" | keep d, e!=\"w\"",
     "{app=\"foo\"} | drop a,b=\"v\",c=~\"x.*\" | keep d,e!=\"w\""},
    {"{app=\"foo\"} | logfmt | status >= 400 and method=\"GET\"",
     "{app=\"foo\"} | logfmt | ( status>=400 , method=\"GET\" )"},
    {"{app=\"foo\"} | logfmt | a=1 b=2 or c=3",
     "{app=\"foo\"} | logfmt | ( a==1 , ( b==2 or c==3 ) )"},
    {"{app=\"foo\"} | logfmt | a=1, b=2 or c=3",
     "{app=\"foo\"} | logfmt | ( a==1 , ( b==2 or c==3 ) )"},
    {"{app=\"foo\"} | logfmt | a=1 or b=2, c=3",
     "{app=\"foo\"} | logfmt | ( a==1 or ( b==2 , c==3 ) )"},
    {"{app=\"foo\"} | logfmt | a=1 and b=2 or c=3",
     "{app=\"foo\"} | logfmt | ( ( a==1 , b==2 ) or c==3 )"},
    {"{app=\"foo\"} | logfmt | a=1 or b=2 and c=3",
     "{app=\"foo\"} | logfmt | ( a==1 or ( b==2 , c==3 ) )"},
    {"{app=\"foo\"} | logfmt | (a=1 or b=2) and c=3",
     "{app=\"foo\"} | logfmt | ( ( a==1 or b==2 ) , c==3 )"},
    {"{app=\"foo\"} | logfmt | latency > 10s | size <= 20MB | n == 5 | x != "
     "-1.5 | y = 1KiB",
     "{app=\"foo\"} | logfmt | latency>10s | size<=20MB | n==5 | x!=-1.5 | "
     "y==1.0kB"},
    {"{app=\"foo\"} | logfmt | d >= 1h2m | e < 1.5m | f > 250ms",
     "{app=\"foo\"} | logfmt | d>=1h2m0s | e<1m30s | f>250ms"},
    {"{app=\"foo\"} | logfmt | addr = ip(\"192.168.0.0/16\") | addr != "
     "ip(\"10.0.0.1-10.0.0.9\")",
     "{app=\"foo\"} | logfmt | addr=ip(\"192.168.0.0/16\") | "
     "addr!=ip(\"10.0.0.1-10.0.0.9\")"},
    {"{app=\"foo\"} | logfmt | __error__ = \"\"",
     "{app=\"foo\"} | logfmt | __error__=\"\""},
    {"count_over_time({app=\"foo\"}[5m])",
     "count_over_time({app=\"foo\"}[5m])"},
    {"rate({app=\"foo\"} |= \"x\" [1m] offset 1h)",
     "rate({app=\"foo\"} |= \"x\"[1m] offset 1h0m0s)"},
    {"bytes_rate({app=\"foo\"}[30s])", "bytes_rate({app=\"foo\"}[30s])"},
    {"bytes_over_time({app=\"foo\"}[1h])",
     "bytes_over_time({app=\"foo\"}[1h])"},
    {"absent_over_time({app=\"foo\"}[1m])",
     "absent_over_time({app=\"foo\"}[1m])"},
    {"rate_counter({app=\"foo\"} | logfmt | unwrap c [1m])",
     "rate_counter({app=\"foo\"} | logfmt | unwrap c[1m])"},
    {"sum_over_time({app=\"foo\"} | logfmt | unwrap bytes(size) | "
     "__error__=\"\" [5m])",
     "sum_over_time({app=\"foo\"} | logfmt | unwrap bytes(size) | "
     "__error__=\"\"[5m])"},
    {"avg_over_time({app=\"foo\"} | json | unwrap duration(latency) [5m]) by "
     "(host)",
     "avg_over_time({app=\"foo\"} | json | unwrap duration(latency)[5m]) by "
     "(host)"},
    {"max_over_time({app=\"foo\"} | json | unwrap duration_seconds(latency) "
     "[5m]) without (pod)",
     "max_over_time({app=\"foo\"} | json | unwrap "
     "duration_seconds(latency)[5m]) without (pod)"},
    {"quantile_over_time(0.99, {app=\"foo\"} | json | unwrap latency [5m]) by "
     "(route)",
     "quantile_over_time(0.99,{app=\"foo\"} | json | unwrap latency[5m]) by "
     "(route)"},
    {"first_over_time({app=\"foo\"} | logfmt | unwrap v [1m])",
     "first_over_time({app=\"foo\"} | logfmt | unwrap v[1m])"},
    {"last_over_time({app=\"foo\"} | logfmt | unwrap v [1m]) by (a)",
     "last_over_time({app=\"foo\"} | logfmt | unwrap v[1m]) by (a)"},
    {"stddev_over_time({app=\"foo\"} | logfmt | unwrap v [1m])",
     "stddev_over_time({app=\"foo\"} | logfmt | unwrap v[1m])"},
    {"stdvar_over_time({app=\"foo\"} | logfmt | unwrap v [1m])",
     "stdvar_over_time({app=\"foo\"} | logfmt | unwrap v[1m])"},
    {"min_over_time({app=\"foo\"} | logfmt | unwrap v [1m])",
     "min_over_time({app=\"foo\"} | logfmt | unwrap v[1m])"},
    {"count_over_time({app=\"foo\"}[5m] offset 1h |= \"x\" | json)",
     "count_over_time({app=\"foo\"} |= \"x\" | json[5m] offset 1h0m0s)"},
    {"count_over_time(({app=\"foo\"} |= \"x\")[5m])",
     "count_over_time({app=\"foo\"} |= \"x\"[5m])"},
    {"count_over_time(({app=\"foo\"})[5m] offset 5m)",
     "count_over_time({app=\"foo\"}[5m] offset 5m0s)"},
    {"sum_over_time(({app=\"foo\"})[5m] | unwrap v)",
     "sum_over_time({app=\"foo\"} | unwrap v[5m])"},
    {"count_over_time(({app=\"foo\"}[5m]))",
     "count_over_time({app=\"foo\"}[5m])"},
    {"sum(count_over_time({app=\"foo\"}[5m]))",
     "sum(count_over_time({app=\"foo\"}[5m]))"},
    {"sum by (app) (count_over_time({app=\"foo\"}[5m]))",
     "sum by (app)(count_over_time({app=\"foo\"}[5m]))"},
    {"sum(count_over_time({app=\"foo\"}[5m])) by (app)",
     "sum by (app)(count_over_time({app=\"foo\"}[5m]))"},
    {"sum without () (count_over_time({app=\"foo\"}[5m]))",
     "sum without ()(count_over_time({app=\"foo\"}[5m]))"},
    {"sum by () (count_over_time({app=\"foo\"}[5m]))",
     "sum(count_over_time({app=\"foo\"}[5m]))"},
    {"topk(3, sum by (app) (rate({app=\"foo\"}[5m])))",
     "topk(3,sum by (app)(rate({app=\"foo\"}[5m])))"},
    {"bottomk by (app) (2, rate({app=\"foo\"}[5m]))",
     "bottomk by (app)(2,rate({app=\"foo\"}[5m]))"},
    {"approx_topk(5, rate({app=\"foo\"}[5m]))",
     "approx_topk(5,rate({app=\"foo\"}[5m]))"},
    {"avg(rate({app=\"foo\"}[5m])) + min(rate({app=\"foo\"}[5m])) * "
     "max(rate({app=\"foo\"}[5m]))",
     "(avg(rate({app=\"foo\"}[5m])) + (min(rate({app=\"foo\"}[5m])) * "
     "max(rate({app=\"foo\"}[5m]))))"},
    {"count(rate({app=\"foo\"}[5m])) - stddev(rate({app=\"foo\"}[5m])) / "
     "stdvar(rate({app=\"foo\"}[5m]))",
     "(count(rate({app=\"foo\"}[5m])) - (stddev(rate({app=\"foo\"}[5m])) / "
     "stdvar(rate({app=\"foo\"}[5m]))))"},
    {"sort(rate({app=\"foo\"}[5m]))", "sort(rate({app=\"foo\"}[5m]))"},
    {"sort_desc(rate({app=\"foo\"}[5m]))",
     "sort_desc(rate({app=\"foo\"}[5m]))"},
    {"rate({app=\"foo\"}[5m]) > bool 10",
     "(rate({app=\"foo\"}[5m]) > bool 10)"},
    {"rate({app=\"foo\"}[5m]) / on (app) group_left (pod) "
     "rate({app=\"bar\"}[5m])",
     "(rate({app=\"foo\"}[5m]) / on (app) group_left (pod) "
     "rate({app=\"bar\"}[5m]))"},
    {"rate({app=\"foo\"}[5m]) / ignoring (pod) group_right "
     "rate({app=\"bar\"}[5m])",
     "(rate({app=\"foo\"}[5m]) / ignoring (pod) group_right "
     "rate({app=\"bar\"}[5m]))"},
    {"rate({app=\"foo\"}[5m]) == on () rate({app=\"bar\"}[5m])",
     "(rate({app=\"foo\"}[5m]) == on ()  rate({app=\"bar\"}[5m]))"},
    {"rate({app=\"foo\"}[5m]) and rate({app=\"bar\"}[5m]) or "
     "rate({app=\"baz\"}[5m]) unless rate({app=\"qux\"}[5m])",
     "((rate({app=\"foo\"}[5m]) and rate({app=\"bar\"}[5m])) or "
     "(rate({app=\"baz\"}[5m]) unless rate({app=\"qux\"}[5m])))"},
    {"rate({app=\"foo\"}[5m]) ^ 2 ^ 3", "(rate({app=\"foo\"}[5m]) ^ 8)"},
    {"rate({app=\"foo\"}[5m]) % 2 >= 1",
     "((rate({app=\"foo\"}[5m]) % 2) >= 1)"},
    {"2 * 3 + 1", "7"},
    {"-1 - -1", "0"},
    {"2 ^ 3 ^ 2", "512"},
    {"1 > 2", "0"},
    {"1e6", "1e+06"},
    {"0.0001", "0.0001"},
    {"0.00001", "1e-05"},
    {"123456", "123456"},
    {"vector(1)", "vector(1.000000)"},
    {"vector(0.5) + 1", "(vector(0.500000) + 1)"},
    {"label_replace(rate({app=\"foo\"}[5m]), \"dst\", \"$1\", \"src\", "
     "\"(.*)\")",
     "label_replace(rate({app=\"foo\"}[5m]),\"dst\",\"$1\",\"src\",\"(.*)\")"},
    {"sum(rate({app=\"foo\"}[5m])) or vector(0)",
     "(sum(rate({app=\"foo\"}[5m])) or vector(0.000000))"},
    {"{app=\"foo\"} # trailing comment", "{app=\"foo\"}"},
    /* keywords and function names in any case; comments; several lines */
    {"SUM BY (a) (RATE({a=\"b\"} | JSON | LogFmt [1m]))",
     "sum by (a)(rate({a=\"b\"} | json | logfmt[1m]))"},
    {"{a=\"b\"}\n  |= \"x\"  # first\n  | json # second",
     "{a=\"b\"} |= \"x\" | json"},
};

Test(logql_parser, canonical_forms)
{
    char em[TR_ERRMSG_SIZE];
    for (size_t i = 0; i < sizeof(fmt_cases) / sizeof(fmt_cases[0]); i++) {
        char *f = NULL;
        int rv = lq_parse_fmt(fmt_cases[i].in, &f, em);
        cr_expect_eq(rv, 0, "parse of %s failed: %s", fmt_cases[i].in, em);
        if (rv == 0) {
            cr_expect_str_eq(f, fmt_cases[i].out, "format of %s",
                             fmt_cases[i].in);
        }
        tr_free(f);
    }
}

/* ---- errors -------------------------------------------------------------- */

static const struct {
    const char *in;
    const char *err;
} err_cases[] = {
    {"{}", NEED_MATCHER},
    {"{a=\"\"}", NEED_MATCHER},
    {"{a!=\"x\"}", NEED_MATCHER},
    {"{a=~\".*\"}", NEED_MATCHER},
    {"{a!~\"x|y\"}", NEED_MATCHER},
    {"count_over_time({a=~\".*\"}[5m])", NEED_MATCHER},
    {"1 + count_over_time({a=~\".*\"}[5m])", NEED_MATCHER},
    {"{foo=\"bar}", "parse error at line 1, col 6: literal not terminated"},
    {"{foo=\"bar\"",
     "parse error at line 1, col 11: syntax error: unexpected $end, expecting "
     "} or ,"},
    {"{foo=\"bar\"} |~",
     "parse error at line 1, col 15: syntax error: unexpected $end, expecting "
     "STRING or ip"},
    {"{foo=\"bar\"} \"foo\"",
     "parse error at line 1, col 13: syntax error: unexpected STRING"},
    {"{foo=\"bar\"} foo",
     "parse error at line 1, col 13: syntax error: unexpected IDENTIFIER"},
    {"unk({ foo = \"bar\" }[5m])",
     "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER"},
    {"rate({ foo = \"bar\" }[5minutes])",
     "parse error at line 0, col 21: unknown unit \"minutes\" in duration "
     "\"5minutes\""},
    {"rate({ foo = \"bar\" }[5)",
     "parse error at line 0, col 21: missing closing ']' in duration"},
    {"min({ foo = \"bar\" }[5m])",
     "parse error at line 0, col 20: syntax error: unexpected RANGE"},
    {"stddev({ foo = \"bar\" })",
     "parse error at line 1, col 23: syntax error: unexpected )"},
    {"label_replace(rate({ foo = \"bar\" }[5m]),\"\")",
     "parse error at line 1, col 43: syntax error: unexpected ), expecting ,"},
    {"label_replace(rate({ foo = \"bar\" }[5m]),\"foo\",\"$1\",\"bar\",\"(\")",
     "parse error : invalid regex in label_replace: error parsing regexp: "
     "missing closing parenthesis at offset 1: `(`"},
    {"sum(3 ,count_over_time({ foo = \"bar\" }[5h]))",
     "parse error : unsupported parameter for operation sum(3,"},
    {"topk(count_over_time({ foo = \"bar\" }[5h]))",
     "parse error : parameter required for operation topk"},
    {"bottomk(he,count_over_time({ foo = \"bar\" }[5h]))",
     "parse error at line 1, col 9: syntax error: unexpected IDENTIFIER"},
    {"bottomk(1.2,count_over_time({ foo = \"bar\" }[5h]))",
     "parse error : invalid parameter bottomk(1.2,"},
    {"topk(0,count_over_time({ foo = \"bar\" }[5h]))",
     "parse error : invalid parameter (must be greater than 0) topk(0"},
    {"approx_topk(2, count_over_time({ foo = \"bar\" }[5h])) by (foo)",
     "parse error : grouping not allowed for approx_topk aggregation"},
    {"absent_over_time({ foo = \"bar\" }[5h]) by (foo)",
     "parse error : grouping not allowed for absent_over_time aggregation"},
    {"sum_over_time({ foo = \"bar\" }[5h])",
     "parse error : invalid aggregation sum_over_time without unwrap"},
    {"count_over_time({ foo = \"bar\" } | json | unwrap foo [5m])",
     "parse error : invalid aggregation count_over_time with unwrap"},
    {"sum_over_time(50,{ foo = \"bar\" } | json | unwrap latency [5m])",
     "parse error : parameter 50 not supported for operation sum_over_time"},
    {"quantile_over_time({ foo = \"bar\" } | json | unwrap latency [5m])",
     "parse error : parameter required for operation quantile_over_time"},
    {"quantile_over_time(foo,{ foo = \"bar\" } | json | unwrap latency [5m])",
     "parse error at line 1, col 20: syntax error: unexpected IDENTIFIER, "
     "expecting NUMBER or { or ("},
    {"vector(abc)",
     "parse error at line 1, col 8: syntax error: unexpected IDENTIFIER, "
     "expecting NUMBER"},
    {"-count_over_time({ foo = \"bar\" }[1m])",
     "parse error at line 1, col 2: syntax error: unexpected COUNT_OVER_TIME, "
     "expecting NUMBER"},
    {"bool 1 > 1",
     "parse error at line 1, col 1: syntax error: unexpected bool"},
    {"{foo=\"bar\"} + {foo=\"bar\"}",
     "parse error : unexpected type for left leg of binary operation (+): "
     "*syntax.MatchersExpr"},
    {"sum(count_over_time({foo=\"bar\"}[5m])) - {foo=\"bar\"} |= \"x\"",
     "parse error : unexpected type for right leg of binary operation (-): "
     "*syntax.PipelineExpr"},
    {"sum(count_over_time({foo=\"bar\"}[5m])) or 1",
     "parse error : unexpected literal for right leg of logical/set binary "
     "operation (or): 1.000000"},
    {"1 unless sum(count_over_time({foo=\"bar\"}[5m]))",
     "parse error : unexpected literal for left leg of logical/set binary "
     "operation (unless): 1.000000"},
    {"{foo=\"bar\"} | logfmt | addr >= ip(\"1.2.3.4\")",
     "parse error at line 1, col 32: syntax error: unexpected ip"},
    {"{foo=\"bar\"} | logfmt | code > 0x10",
     "parse error : unable to parse literal as a float: strconv.ParseFloat: "
     "parsing \"0x10\": invalid syntax"},
    {"{foo=\"bar\"} | logfmt | code == \"200\"",
     "parse error at line 1, col 32: syntax error: unexpected STRING"},
    {"{foo=\"bar\"} |~ \"(\"",
     "error parsing regexp: missing closing parenthesis at offset 1: `(`"},
    {"{foo=\"bar\"} |> \"<verb> x\"",
     "named captures are not allowed: found '<verb>'"},
    {"{foo=\"bar\"} |> \"<_><_>\"",
     "found consecutive capture '<_><_>': invalid expression"},
    {"{foo=\"bar\"} |= ip(\"x\")", "ip: invalid pattern"},
    {"{foo=\"bar\"} |~ ip(\"1.2.3.4\")", "ip: invalid operation"},
    {"{foo=\"bar\"} | regexp \"nocap\"",
     "parse error : invalid regexp parser: at least one named capture must be "
     "supplied"},
    {"{foo=\"bar\"} | regexp \"(?P<x>a)(?P<x>b)\"",
     "parse error : invalid regexp parser: duplicate extracted label name 'x'"},
    {"{foo=\"bar\"} | pattern \"nothing\"",
     "parse error : invalid pattern parser: at least one capture is required"},
    {"{foo=\"bar\"} | pattern \"<a><b>\"",
     "parse error : invalid pattern parser: found consecutive capture "
     "'<a><b>': invalid expression"},
    {"{foo=\"bar\"} | pattern \"<a> <a>\"",
     "parse error : invalid pattern parser: duplicate capture name (a): "
     "invalid expression"},
    {"{foo=~\"(\"}",
     "parse error : error parsing regexp: missing closing parenthesis at "
     "offset 1: `(`"},
    {"{foo=\"bar\"} | drop",
     "parse error at line 1, col 19: syntax error: unexpected $end, expecting "
     "IDENTIFIER"},
    {"{foo=\"bar\"} | unwrap x",
     "parse error at line 1, col 15: syntax error: unexpected unwrap"},
    {"count without (rate({namespace=\"apps\"}[15s]))",
     "parse error at line 1, col 16: syntax error: unexpected RATE, expecting "
     "IDENTIFIER or )"},
    {"sort by (a) (rate({a=\"b\"}[1m]))",
     "parse error : sort and sort_desc doesn't allow grouping by "},
    {"#{app=\"foo\"} | json",
     "parse error at line 1, col 20: syntax error: unexpected $end"},
    {"{foo=\"bar\"} | logfmt | a > 1 | json | b =~ 1",
     "parse error at line 1, col 44: syntax error: unexpected NUMBER, "
     "expecting STRING"},
    {"1 and 2",
     "parse error : unexpected literal for left leg of logical/set binary "
     "operation (and): 1.000000"},
    {"rate({a=\"b\"}[5m]) > on (a) group_left (count_over_time({a=\"b\"}[5m]))",
     "parse error at line 1, col 40: syntax error: unexpected COUNT_OVER_TIME, "
     "expecting IDENTIFIER or )"},
    {"count_over_time({a=\"b\"} | x > 1mb [1m])",
     "parse error at line 0, col 35: syntax error: unexpected RANGE"},
    {"{foo=\"bar\"} | line_format",
     "parse error at line 1, col 26: syntax error: unexpected $end, expecting "
     "STRING"},
    {"count_over_time({a=\"b\"} offset 1h [5m])",
     "parse error at line 1, col 25: syntax error: unexpected offset"},
    {"count_over_time({a=\"b\"}[5m] offset)",
     "parse error at line 1, col 35: syntax error: unexpected ), expecting "
     "DURATION"},
    {"{app=\"\xa0\xa1\"}",
     "parse error at line 1, col 6: invalid UTF-8 encoding"},
    {"", "parse error at line 1, col 1: syntax error: unexpected $end"},
    {"{a=\"b\"}\n  |= \"x\" foo",
     "parse error at line 2, col 10: syntax error: unexpected IDENTIFIER"},
    {"{a=\"b\"} |= \"x\" |= ",
     "parse error at line 1, col 19: syntax error: unexpected $end, "
     "expecting STRING or ip"},
};

Test(logql_parser, errors)
{
    char em[TR_ERRMSG_SIZE];
    for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        char *f = NULL;
        int rv = lq_parse_fmt(err_cases[i].in, &f, em);
        cr_expect_eq(rv, TR_EINVAL, "%s parsed as %s", err_cases[i].in,
                     f != NULL ? f : "?");
        if (rv == TR_EINVAL) {
            cr_expect_str_eq(em, err_cases[i].err, "error of %s: %s",
                             err_cases[i].in, em);
        }
        tr_free(f);
    }
}

/* ---- the tree ------------------------------------------------------------ */

static struct tr_logql_expr *lq_parse_ok(struct tr_arena *a, const char *q)
{
    struct tr_logql_expr *e = NULL;
    char em[TR_ERRMSG_SIZE];
    int rv = tr_logql_parse(q, strlen(q), a, &e, em);
    cr_assert_eq(rv, 0, "parse of %s failed: %s", q, em);
    return e;
}

Test(logql_parser, log_query_tree)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_logql_expr *e = lq_parse_ok(
        &a,
        "{app=\"a\", env=~\"p.*\"} |= \"x\" or ip(\"10.0.0.0/8\") != \"y\" or "
        "\"z\" |~ \"e.r\" |> \"<_> GET\" | json a=\"b.c\", d | logfmt --strict "
        "| regexp \"(?P<ip>\\\\S+) (x)\" | pattern \"<ip> - <_>\" | unpack | "
        "line_format \"{{.a}}\" | label_format x=y, z=\"{{.w}}\" | decolorize "
        "| drop a, b=\"c\" | keep d");
    cr_assert(tr_logql_is_log_query(e));
    cr_assert(!tr_logql_is_metric_query(e));
    const struct tr_logql_log *l = &e->log;
    cr_assert_eq(l->n_matchers, 2);
    cr_expect_str_eq(l->matchers[0].name, "app");
    cr_expect_eq(l->matchers[1].type, TR_MATCH_RE);
    cr_expect(tr_matcher_matches(&l->matchers[1], "prod", 4));
    cr_assert_eq(l->n_stages, 15);
    const struct tr_logql_stage *s = l->stages;
    cr_expect_eq(s[0].kind, TR_LOGQL_STAGE_LINE_FILTER);
    cr_expect_eq(s[0].line_filter.op, TR_LOGQL_LINE_CONTAINS);
    cr_assert_eq(s[0].line_filter.n_alts, 2);
    cr_expect(!s[0].line_filter.alts[0].ip);
    cr_expect_str_eq(s[0].line_filter.alts[0].text, "x");
    cr_expect(s[0].line_filter.alts[1].ip);
    cr_expect_str_eq(s[0].line_filter.alts[1].text, "10.0.0.0/8");
    /* != "y" or "z" is two filters */
    cr_expect_eq(s[1].line_filter.op, TR_LOGQL_LINE_NOT_CONTAINS);
    cr_expect_eq(s[1].line_filter.n_alts, 1);
    cr_expect_str_eq(s[1].line_filter.alts[0].text, "y");
    cr_expect_eq(s[2].line_filter.op, TR_LOGQL_LINE_NOT_CONTAINS);
    cr_expect_str_eq(s[2].line_filter.alts[0].text, "z");
    /* regex filters are compiled unanchored */
    cr_expect_eq(s[3].line_filter.op, TR_LOGQL_LINE_MATCH);
    cr_assert_not_null(s[3].line_filter.alts[0].re);
    cr_expect(tr_regex_match(s[3].line_filter.alts[0].re, "an error here", 13));
    cr_expect(!tr_regex_match(s[3].line_filter.alts[0].re, "none", 4));
    /* pattern filters are split */
    cr_expect_eq(s[4].line_filter.op, TR_LOGQL_LINE_PATTERN);
    cr_assert_eq(s[4].line_filter.alts[0].pattern.n_parts, 2);
    cr_expect(s[4].line_filter.alts[0].pattern.parts[0].capture);
    cr_expect_str_eq(s[4].line_filter.alts[0].pattern.parts[0].text, "_");
    cr_expect_str_eq(s[4].line_filter.alts[0].pattern.parts[1].text, " GET");
    cr_expect_eq(s[5].kind, TR_LOGQL_STAGE_JSON);
    cr_assert_eq(s[5].json.n_params, 2);
    cr_expect_str_eq(s[5].json.params[0].label, "a");
    cr_expect_str_eq(s[5].json.params[0].expr, "b.c");
    cr_expect_str_eq(s[5].json.params[1].expr, "d");
    cr_expect_eq(s[6].kind, TR_LOGQL_STAGE_LOGFMT);
    cr_expect(s[6].logfmt.strict);
    cr_expect(!s[6].logfmt.keep_empty);
    cr_expect_eq(s[6].logfmt.n_params, 0);
    cr_expect_eq(s[7].kind, TR_LOGQL_STAGE_REGEXP);
    cr_assert_eq(s[7].regexp.n_names, 1);
    cr_expect_str_eq(s[7].regexp.names[0], "ip");
    cr_expect_eq(s[8].kind, TR_LOGQL_STAGE_PATTERN);
    cr_assert_eq(s[8].pattern.pattern.n_parts, 3);
    cr_expect_str_eq(s[8].pattern.pattern.parts[0].text, "ip");
    cr_expect_str_eq(s[8].pattern.pattern.parts[1].text, " - ");
    cr_expect_eq(s[9].kind, TR_LOGQL_STAGE_UNPACK);
    cr_expect_eq(s[10].kind, TR_LOGQL_STAGE_LINE_FORMAT);
    cr_expect_str_eq(s[10].line_format.tmpl, "{{.a}}");
    cr_expect_eq(s[11].kind, TR_LOGQL_STAGE_LABEL_FORMAT);
    cr_assert_eq(s[11].label_format.n_fmts, 2);
    cr_expect(s[11].label_format.fmts[0].rename);
    cr_expect_str_eq(s[11].label_format.fmts[0].value, "y");
    cr_expect(!s[11].label_format.fmts[1].rename);
    cr_expect_eq(s[12].kind, TR_LOGQL_STAGE_DECOLORIZE);
    cr_expect_eq(s[13].kind, TR_LOGQL_STAGE_DROP);
    cr_assert_eq(s[13].names.n_items, 2);
    cr_expect_str_eq(s[13].names.items[0].name, "a");
    cr_expect(s[13].names.items[1].has_matcher);
    cr_expect_str_eq(s[13].names.items[1].matcher.value, "c");
    cr_expect_eq(s[14].kind, TR_LOGQL_STAGE_KEEP);
    tr_logql_ast_free(e);
    tr_arena_free(&a);
}

Test(logql_parser, label_filter_tree)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    /* a, b or c: the comma takes the rest as its right operand */
    struct tr_logql_expr *e =
        lq_parse_ok(&a,
                    "{app=\"a\"} | logfmt | a > 1.5, b >= 10s or c < 20MB or "
                    "d=ip(\"::1\")");
    const struct tr_logql_label_filter *f = e->log.stages[1].label_filter;
    cr_assert_eq(f->kind, TR_LOGQL_LF_AND);
    cr_assert_eq(f->bin.left->kind, TR_LOGQL_LF_NUMBER);
    cr_expect_str_eq(f->bin.left->number.name, "a");
    cr_expect_eq(f->bin.left->number.op, TR_LOGQL_CMP_GT);
    cr_expect_eq(f->bin.left->number.value, 1.5);
    const struct tr_logql_label_filter *r = f->bin.right;
    cr_assert_eq(r->kind, TR_LOGQL_LF_OR);
    cr_assert_eq(r->bin.left->kind, TR_LOGQL_LF_OR); /* left-associative */
    cr_expect_eq(r->bin.left->bin.left->kind, TR_LOGQL_LF_DURATION);
    cr_expect_eq(r->bin.left->bin.left->duration.ns, 10000000000LL);
    cr_expect_eq(r->bin.left->bin.left->duration.op, TR_LOGQL_CMP_GTE);
    cr_expect_eq(r->bin.left->bin.right->kind, TR_LOGQL_LF_BYTES);
    cr_expect_eq(r->bin.left->bin.right->bytes.bytes, 20000000u);
    cr_expect_eq(r->bin.right->kind, TR_LOGQL_LF_IP);
    cr_expect(!r->bin.right->ip.negate);
    cr_expect_str_eq(r->bin.right->ip.pattern, "::1");
    tr_logql_ast_free(e);

    /* and binds tighter than or */
    e = lq_parse_ok(&a, "{app=\"a\"} | x=\"1\" or y!~\"2\" and z=3");
    f = e->log.stages[0].label_filter;
    cr_assert_eq(f->kind, TR_LOGQL_LF_OR);
    cr_expect_eq(f->bin.left->kind, TR_LOGQL_LF_STRING);
    cr_expect_eq(f->bin.left->matcher.type, TR_MATCH_EQ);
    cr_assert_eq(f->bin.right->kind, TR_LOGQL_LF_AND);
    cr_expect_eq(f->bin.right->bin.left->matcher.type, TR_MATCH_NRE);
    cr_expect_eq(f->bin.right->bin.right->kind, TR_LOGQL_LF_NUMBER);
    cr_expect_eq(f->bin.right->bin.right->number.op, TR_LOGQL_CMP_EQ);
    tr_logql_ast_free(e);
    tr_arena_free(&a);
}

Test(logql_parser, metric_tree)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_logql_expr *e = lq_parse_ok(
        &a,
        "topk by (x) (3, quantile_over_time(0.9, {app=\"a\"} | json | unwrap "
        "bytes(sz) | __error__=\"\" [5m] offset -1h) by (y)) > bool on (x) "
        "group_left (z) label_replace(vector(2), \"d\", \"$1\", \"s\", "
        "\"(.*)\")");
    cr_assert(tr_logql_is_metric_query(e));
    cr_assert_eq(e->kind, TR_LOGQL_EXPR_BINARY);
    cr_expect_eq(e->binary.op, TR_LOGQL_OP_GT);
    cr_expect(e->binary.return_bool);
    cr_expect(e->binary.on);
    cr_expect_eq(e->binary.card, TR_LOGQL_CARD_MANY_TO_ONE);
    cr_assert_eq(e->binary.matching.n, 1);
    cr_expect_str_eq(e->binary.matching.names[0], "x");
    cr_expect(e->binary.has_include);
    cr_expect_str_eq(e->binary.include.names[0], "z");
    const struct tr_logql_expr *v = e->binary.lhs;
    cr_assert_eq(v->kind, TR_LOGQL_EXPR_VECTOR_AGGR);
    cr_expect_eq(v->vector_aggr.op, TR_LOGQL_VEC_TOPK);
    cr_expect_eq(v->vector_aggr.k, 3);
    cr_expect(v->vector_aggr.grouping.present);
    cr_expect(!v->vector_aggr.grouping.without);
    const struct tr_logql_expr *r = v->vector_aggr.expr;
    cr_assert_eq(r->kind, TR_LOGQL_EXPR_RANGE_AGGR);
    cr_expect_eq(r->range.op, TR_LOGQL_RANGE_QUANTILE_OVER_TIME);
    cr_expect(r->range.has_param);
    cr_expect_eq(r->range.param, 0.9);
    cr_expect_eq(r->range.range_ns, 300LL * 1000000000);
    cr_expect_eq(r->range.offset_ns, -3600LL * 1000000000);
    cr_expect(r->range.has_unwrap);
    cr_expect_str_eq(r->range.unwrap.label, "sz");
    cr_expect_eq(r->range.unwrap.conv, TR_LOGQL_CONV_BYTES);
    cr_expect_eq(r->range.unwrap.n_post_filters, 1);
    cr_expect_eq(r->range.log.n_stages, 1);
    cr_expect(r->range.grouping.present);
    cr_expect_str_eq(r->range.grouping.labels.names[0], "y");
    const struct tr_logql_expr *lr = e->binary.rhs;
    cr_assert_eq(lr->kind, TR_LOGQL_EXPR_LABEL_REPLACE);
    cr_expect_str_eq(lr->label_replace.dst, "d");
    cr_expect_str_eq(lr->label_replace.replacement, "$1");
    cr_expect(tr_regex_match(lr->label_replace.re, "abc", 3));
    cr_assert_eq(lr->label_replace.expr->kind, TR_LOGQL_EXPR_VECTOR);
    cr_expect_eq(lr->label_replace.expr->vector.value, 2.0);
    tr_logql_ast_free(e);

    /* precedence: * over +, ^ right-associative, literals folded */
    e = lq_parse_ok(&a, "1 + count_over_time({a=\"b\"}[1m]) * 2 ^ 3 ^ 2");
    cr_assert_eq(e->kind, TR_LOGQL_EXPR_BINARY);
    cr_expect_eq(e->binary.op, TR_LOGQL_OP_ADD);
    cr_expect_eq(e->binary.lhs->kind, TR_LOGQL_EXPR_LITERAL);
    cr_assert_eq(e->binary.rhs->kind, TR_LOGQL_EXPR_BINARY);
    cr_expect_eq(e->binary.rhs->binary.op, TR_LOGQL_OP_MUL);
    cr_assert_eq(e->binary.rhs->binary.rhs->kind, TR_LOGQL_EXPR_LITERAL);
    cr_expect_eq(e->binary.rhs->binary.rhs->literal.value, 512.0);
    tr_logql_ast_free(e);

    e = lq_parse_ok(&a, "10 / 0");
    cr_assert_eq(e->kind, TR_LOGQL_EXPR_LITERAL);
    cr_expect(isnan(e->literal.value));
    tr_logql_ast_free(e);
    tr_arena_free(&a);
}

Test(logql_parser, names)
{
    cr_expect_str_eq(tr_logql_range_op_name(TR_LOGQL_RANGE_RATE_COUNTER),
                     "rate_counter");
    cr_expect_str_eq(tr_logql_vector_op_name(TR_LOGQL_VEC_APPROX_TOPK),
                     "approx_topk");
    cr_expect_str_eq(tr_logql_binop_name(TR_LOGQL_OP_UNLESS), "unless");
    cr_expect_str_eq(tr_logql_line_op_name(TR_LOGQL_LINE_NOT_PATTERN), "!>");
    cr_expect_str_eq(tr_logql_cmp_name(TR_LOGQL_CMP_LTE), "<=");
    cr_expect_str_eq(tr_logql_conv_name(TR_LOGQL_CONV_DURATION_SECONDS),
                     "duration_seconds");
    cr_expect(tr_logql_binop_is_comparison(TR_LOGQL_OP_NEQ));
    cr_expect(!tr_logql_binop_is_comparison(TR_LOGQL_OP_ADD));
    cr_expect(tr_logql_binop_is_set(TR_LOGQL_OP_AND));
    cr_expect(!tr_logql_binop_is_set(TR_LOGQL_OP_GT));
}

/* Loki's ParseExprWithoutValidation: syntax only. */
Test(logql_parser, without_validation)
{
    char em[TR_ERRMSG_SIZE];
    const char *ok[] = {
        "{}",
        "{a=\"\"} | drop x",
        "sum_over_time({a=\"b\"}[5m])",
        "topk(1.5, rate({a=\"b\"}[1m]))",
        "{a=\"b\"} |~ \"(\"",
        "{a=\"b\"} + 1",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char *f = NULL;
        cr_expect_eq(lq_parse_fmt_n(ok[i], strlen(ok[i]),
                                    TR_LOGQL_PARSE_NO_VALIDATE, &f, em),
                     0, "%s: %s", ok[i], em);
        tr_free(f);
        cr_expect_eq(lq_parse_fmt(ok[i], &f, em), TR_EINVAL, "%s", ok[i]);
        tr_free(f);
    }
    /* syntax errors and errors Loki raises while parsing stay */
    const char *bad[] = {"{a=\"b\"", "{a=\"b\"} | regexp \"x\"", "{a=~\"(\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *f = NULL;
        cr_expect_eq(lq_parse_fmt_n(bad[i], strlen(bad[i]),
                                    TR_LOGQL_PARSE_NO_VALIDATE, &f, em),
                     TR_EINVAL, "%s", bad[i]);
        tr_free(f);
    }
}

Test(logql_parser, limits)
{
    char em[TR_ERRMSG_SIZE];
    char *f = NULL;
    /* nesting */
    size_t depth = 2000;
    char *q = malloc(depth * 2 + 32);
    cr_assert_not_null(q);
    size_t n = 0;
    for (size_t i = 0; i < depth; i++) {
        q[n++] = '(';
    }
    n += (size_t)sprintf(q + n, "vector(1)");
    for (size_t i = 0; i < depth; i++) {
        q[n++] = ')';
    }
    q[n] = '\0';
    cr_expect_eq(lq_parse_fmt(q, &f, em), TR_EINVAL);
    cr_expect(strstr(em, "too deeply nested") != NULL, "%s", em);
    tr_free(f);
    /* within the limit */
    n = 0;
    for (size_t i = 0; i < 200; i++) {
        q[n++] = '(';
    }
    n += (size_t)sprintf(q + n, "vector(1)");
    for (size_t i = 0; i < 200; i++) {
        q[n++] = ')';
    }
    q[n] = '\0';
    cr_expect_eq(lq_parse_fmt(q, &f, em), 0, "%s", em);
    cr_expect_str_eq(f, "vector(1.000000)");
    tr_free(f);
    free(q);
    /* long label filter chains: "or" chains of any length (their canonical
     * form nests parentheses, so the round trip only within the limit) */
    struct tr_buf b;
    tr_buf_init(&b);
    tr_buf_puts(&b, "{a=\"b\"} | x=\"1\"");
    for (int i = 0; i < 150; i++) {
        tr_buf_puts(&b, " or x=\"1\"");
    }
    tr_buf_putc(&b, '\0');
    cr_expect_eq(lq_parse_fmt(b.data, &f, em), 0, "%s", em);
    tr_free(f);
    tr_buf_reset(&b);
    tr_buf_puts(&b, "{a=\"b\"} | x=\"1\"");
    for (int i = 0; i < 5000; i++) {
        tr_buf_puts(&b, " or x=\"1\"");
    }
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_logql_expr *e;
    cr_expect_eq(tr_logql_parse(b.data, b.len, &a, &e, em), 0, "%s", em);
    tr_logql_ast_free(e);
    tr_arena_free(&a);
    tr_buf_free(&b);
    /* input size */
    q = malloc(TR_LOGQL_MAX_INPUT + 1);
    cr_assert_not_null(q);
    memset(q, ' ', TR_LOGQL_MAX_INPUT);
    memcpy(q, "{a=\"b\"}", 7);
    q[TR_LOGQL_MAX_INPUT] = '\0';
    cr_expect_eq(lq_parse_fmt(q, &f, em), TR_EINVAL);
    cr_expect_str_eq(em, "parse error : input size too long (131072 > 131072)");
    q[TR_LOGQL_MAX_INPUT - 1] = '\0';
    cr_expect_eq(lq_parse_fmt(q, &f, em), 0, "%s", em);
    tr_free(f);
    free(q);
}

/* Every allocation failure is reported as TR_ENOMEM and leaks nothing
 * (ASan checks the leaks). */
static int lq_fail_after;
static void *lq_malloc(void *d, size_t n)
{
    (void)d;
    if (lq_fail_after-- <= 0) {
        return NULL;
    }
    return malloc(n);
}
static void *lq_realloc(void *d, void *p, size_t n)
{
    (void)d;
    if (lq_fail_after-- <= 0) {
        return NULL;
    }
    return realloc(p, n);
}
static void lq_free(void *d, void *p)
{
    (void)d;
    free(p);
}

Test(logql_parser, out_of_memory)
{
    const char *q =
        "sum by (a) (rate({app=\"a\", b=~\"c.*\"} |~ \"x|y\" | json | "
        "drop d=\"e\" | f=~\"g+\" [5m])) / on (a) "
        "label_replace(count_over_time({app=\"a\"}[1m]), \"a\", \"$1\", "
        "\"b\", \"(.*)\")";
    struct tr_allocator al = {1, NULL, lq_malloc, lq_realloc, lq_free};
    int saw_ok = 0;
    for (int k = 0; k < 400 && !saw_ok; k++) {
        lq_fail_after = k;
        tr_allocator_set(&al);
        struct tr_arena a;
        tr_arena_init(&a, 256);
        struct tr_logql_expr *e = NULL;
        char em[TR_ERRMSG_SIZE];
        int rv = tr_logql_parse(q, strlen(q), &a, &e, em);
        if (rv == 0) {
            saw_ok = 1;
            tr_logql_ast_free(e);
        } else {
            cr_expect_eq(rv, TR_ENOMEM, "k=%d: %d %s", k, rv, em);
            cr_expect_null(e);
        }
        tr_arena_free(&a);
        tr_allocator_set(NULL);
    }
    cr_expect(saw_ok);
}

/* ---- conformance (suite logql_parse_conformance) ------------------------- */

static const char *lq_conf_dir(void)
{
    const char *d = getenv("TRIAD_CONFORMANCE_DIR");
    return d != NULL ? d : "../shared/conformance";
}

/* The lezer-logql corpus: "# title", the query, "==>", a Lezer tree. A
 * tree with an error node (U+26A0) marks a query Lezer itself rejects. */
Test(logql_parse_conformance, lezer_corpus)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/logql-parse/lezer-logql-expression.txt",
             lq_conf_dir());
    size_t len;
    char *text = tr_test_read_file(path, &len);
    if (text == NULL) {
        cr_skip_test(
            "logql-parse: %s not found (set TRIAD_CONFORMANCE_DIR); "
            "conformance NOT checked",
            path);
    }
    int cases = 0, parsed = 0, valid = 0, lezer_err = 0, lezer_err_rejected = 0;
    char *p = text;
    while ((p = strstr(p, "# ")) != NULL) {
        if (p != text && p[-1] != '\n') {
            p += 2;
            continue;
        }
        char *q = strchr(p, '\n');
        if (q == NULL) {
            break;
        }
        q++;
        char *arrow = strstr(q, "\n==>");
        if (arrow == NULL) {
            break;
        }
        char *tree_end = strstr(arrow + 4, "\n# ");
        if (tree_end == NULL) {
            tree_end = text + len;
        }
        /* the query, trimmed */
        char *qe = arrow;
        while (qe > q && (qe[-1] == '\n' || qe[-1] == ' ')) {
            qe--;
        }
        while (q < qe && (*q == '\n' || *q == ' ')) {
            q++;
        }
        size_t qn = (size_t)(qe - q);
        bool tree_error = false;
        for (char *t = arrow; t + 3 <= tree_end; t++) {
            if (memcmp(t, "\xe2\x9a\xa0", 3) == 0) {
                tree_error = true;
                break;
            }
        }
        cases++;
        char em[TR_ERRMSG_SIZE];
        char *f = NULL;
        int rv = lq_parse_fmt_n(q, qn, TR_LOGQL_PARSE_NO_VALIDATE, &f, em);
        tr_free(f);
        char *f2 = NULL;
        char em2[TR_ERRMSG_SIZE];
        if (lq_parse_fmt_n(q, qn, 0, &f2, em2) == 0) {
            valid++;
        }
        tr_free(f2);
        if (rv == 0) {
            parsed++;
        }
        if (tree_error) {
            lezer_err++;
            lezer_err_rejected += rv != 0;
            cr_expect_neq(rv, 0, "Lezer rejects %.*s but it parsed", (int)qn,
                          q);
        } else {
            /* Loki rejects a regexp parser without a named capture while it
             * parses; every other query Lezer accepts must parse */
            static const char rx[] = "| regexp \"regexp\"";
            bool loki_rejects =
                memmem(q, qn, rx, sizeof(rx) - 1) != NULL && qn < 40;
            if (loki_rejects) {
                cr_expect_neq(rv, 0);
            } else {
                cr_expect_eq(rv, 0, "%.*s: %s", (int)qn, q, em);
            }
        }
        p = tree_end;
    }
    printf(
        "logql-parse: %d/%d parsed (syntax; %d with Loki's validation); "
        "%d/%d Lezer error cases rejected\n",
        parsed, cases, valid, lezer_err_rejected, lezer_err);
    cr_expect_eq(cases, 80);
    tr_free(text);
}

/* Every eval query of Loki's logqltest scripts. Queries followed by
 * "expect fail" may fail at parse time or when evaluated: the counts of
 * each are printed; every other query must parse. */
Test(logql_parse_conformance, logqltest_evals)
{
    static const char *const files[] = {
        "binary_operations", "conversions",        "formatters",
        "functions",         "label_filters",      "line_filters",
        "parsers",           "range_aggregations", "vector_aggregations",
    };
    int total = 0, ok = 0, fail_total = 0, fail_at_parse = 0, missing = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/logqltest/%s.logqltest", lq_conf_dir(),
                 files[i]);
        char *text = tr_test_read_file(path, NULL);
        if (text == NULL) {
            missing++;
            continue;
        }
        char *line = text;
        while (line != NULL && *line != '\0') {
            char *nl = strchr(line, '\n');
            char *next_line = nl != NULL ? nl + 1 : NULL;
            if (nl != NULL) {
                *nl = '\0';
            }
            const char *q = NULL;
            if (strncmp(line, "eval instant at ", 16) == 0) {
                q = strchr(line + 16, ' ');
            } else if (strncmp(line, "eval range from ", 16) == 0) {
                /* from <t0> to <t1> step <s> <query> */
                q = line + 16;
                for (int k = 0; k < 5 && q != NULL; k++) {
                    q = strchr(q + 1, ' ');
                }
            }
            if (q != NULL) {
                q++;
                bool expect_fail = false;
                if (next_line != NULL) {
                    const char *s = next_line;
                    while (*s == ' ' || *s == '\t') {
                        s++;
                    }
                    expect_fail = strncmp(s, "expect fail", 11) == 0;
                }
                char em[TR_ERRMSG_SIZE];
                char *f = NULL;
                int rv = lq_parse_fmt(q, &f, em);
                tr_free(f);
                if (expect_fail) {
                    fail_total++;
                    fail_at_parse += rv != 0;
                } else {
                    total++;
                    ok += rv == 0;
                    cr_expect_eq(rv, 0, "%s: %s (%s)", files[i], q, em);
                }
            }
            line = next_line;
        }
        tr_free(text);
    }
    if (missing == (int)(sizeof(files) / sizeof(files[0]))) {
        cr_skip_test(
            "logqltest: no files under %s/logqltest (set "
            "TRIAD_CONFORMANCE_DIR); conformance NOT checked",
            lq_conf_dir());
    }
    printf(
        "logqltest evals: %d/%d parsed; expect-fail: %d of %d fail at parse "
        "time, %d parse (they fail when evaluated)\n",
        ok, total, fail_at_parse, fail_total, fail_total - fail_at_parse);
    cr_expect_eq(missing, 0);
    cr_expect_eq(ok, total);
    cr_expect_gt(total, 900);
}
