/* test_selector.c - match[] selector parsing and errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "lib/matcher.h"
#include "query/promql/selector.h"

/* Parses and renders the matchers "a=\"b\",c=~\"d\"" or the error. */
static void sel(const char *in, const char *want)
{
    struct tr_matcher *m;
    size_t n;
    char err[TR_ERRMSG_SIZE];
    char got[1024];
    size_t o = 0;
    int rv = tr_promql_parse_selector(in, strlen(in), &m, &n, err);
    if (rv != 0) {
        cr_assert_eq(rv, TR_EINVAL);
        cr_assert_null(m);
        cr_assert_str_eq(err, want, "input %s", in);
        return;
    }
    got[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char one[256];
        tr_matcher_format(&m[i], one, sizeof(one));
        o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%s", i ? "," : "",
                              one);
    }
    tr_promql_matchers_free(m, n);
    cr_assert_str_eq(got, want, "input %s", in);
}

TestSuite(query_selector);

Test(query_selector, valid)
{
    sel("up", "__name__=\"up\"");
    sel("  up  ", "__name__=\"up\"");
    sel("job:rate5m:sum", "__name__=\"job:rate5m:sum\"");
    sel("up{}", "__name__=\"up\"");
    sel("up{job=\"api\",instance=~\"a|b\",}",
        "__name__=\"up\",job=\"api\",instance=~\"a|b\"");
    sel("{__name__=\"m\", l!=\"x\"}", "__name__=\"m\",l!=\"x\"");
    sel("{a!~'x', b=`y\\n`}", "a!~\"x\",b=\"y\\\\n\"");
    sel("{a=\"\\x41\\u00e9\"}", "a=\"A\xc3\xa9\"");
    sel("http_requests_total{code=~\"5..\", method!=\"GET\"}",
        "__name__=\"http_requests_total\",code=~\"5..\",method!=\"GET\"");
    sel("sum{by=\"x\"}", "__name__=\"sum\",by=\"x\"");
    sel("by", "__name__=\"by\"");
    sel("start{end=\"1\"}", "__name__=\"start\",end=\"1\"");
    sel("up # trailing comment", "__name__=\"up\"");
    sel("{a=\"\",b=~\".+\"}", "a=\"\",b=~\".+\"");
    sel("{\n a = \"x\" # c\n}", "a=\"x\"");
}

Test(query_selector, values_unquoted)
{
    struct tr_matcher *m;
    size_t n;
    const char *in = "{a=\"x\\\"y\", b=~\"c|d\"}";
    cr_assert_eq(tr_promql_parse_selector(in, strlen(in), &m, &n, NULL), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(m[0].type, TR_MATCH_EQ);
    cr_assert_eq(m[0].value_len, 3);
    cr_assert(memcmp(m[0].value, "x\"y", 3) == 0);
    cr_assert_eq(m[1].type, TR_MATCH_RE);
    cr_assert(tr_matcher_matches(&m[1], "d", 1));
    cr_assert(!tr_matcher_matches(&m[1], "cd", 2));
    tr_promql_matchers_free(m, n);
}

Test(query_selector, errors)
{
    sel("", "1:1: parse error: unexpected end of input");
    sel("foo{", "1:5: parse error: unexpected end of input inside braces");
    sel("{a=", "1:4: parse error: unexpected end of input inside braces");
    sel("github_stars{",
        "1:14: parse error: unexpected end of input inside braces");
    sel("foo}", "1:4: parse error: unexpected character: '}'");
    sel("}", "1:1: parse error: unexpected character: '}'");
    sel("!",
        "1:1: parse error: unexpected character after '!': '\xef\xbf\xbd'");
    sel("{}",
        "1:1: parse error: vector selector must contain at least one "
        "non-empty matcher");
    sel("{a=\"\"}",
        "1:1: parse error: vector selector must contain at least "
        "one non-empty matcher");
    sel("{a=~\".*\", b!=\"x\"}",
        "1:1: parse error: vector selector must contain at least one "
        "non-empty matcher");
    sel("some_metric{a=b}",
        "1:15: parse error: unexpected identifier \"b\" "
        "in label matching, expected string");
    sel("{a b}",
        "1:4: parse error: unexpected identifier \"b\" in label "
        "matching, expected label matching operator");
    sel("{a=\"b\" c=\"d\"}",
        "1:8: parse error: unexpected identifier \"c\" in label matching, "
        "expected \",\" or \"}\"");
    sel("{,}",
        "1:2: parse error: unexpected \",\" in label matching, "
        "expected identifier or \"}\"");
    sel("{a=\"b\",,}",
        "1:8: parse error: unexpected \",\" in label matching, "
        "expected identifier or \"}\"");
    sel("{\"a\"=\"b\"}",
        "1:2: parse error: unexpected string \"\\\"a\\\"\" in label matching, "
        "expected identifier or \"}\"");
    sel("foo bar", "1:5: parse error: unexpected identifier \"bar\"");
    sel("foo{a=\"b\"} x", "1:12: parse error: unexpected identifier \"x\"");
    sel("123", "1:1: parse error: unexpected number \"123\"");
    sel("rate(x[5m])", "1:5: parse error: unexpected \"(\"");
    sel("on", "1:1: parse error: unexpected <on>");
    sel("foo{__name__=\"bar\"}",
        "1:1: parse error: metric name must not be set twice: \"foo\" or "
        "\"bar\"");
    sel("{a=\"\\q\"}", "1:4: parse error: unknown escape sequence U+0071 'q'");

    struct tr_matcher *m;
    size_t n;
    char err[TR_ERRMSG_SIZE];
    const char *in = "up{job=~\"(abc\"}";
    cr_assert_eq(tr_promql_parse_selector(in, strlen(in), &m, &n, err),
                 TR_EINVAL);
    cr_assert(strncmp(err, "1:4: parse error: error parsing regexp: ", 40) == 0,
              "%s", err);
    cr_assert_null(m);
    cr_assert_eq(n, 0);
}
