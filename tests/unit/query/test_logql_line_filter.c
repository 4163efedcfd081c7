/* test_logql_line_filter.c - LogQL line filters (|= != |~ !~ |> !>), ip()
 * and or chains, and the ip and pattern matchers themselves
 * (line_filters.logqltest cases). */
#include <criterion/criterion.h>
#include <string.h>

#include "lib/err.h"
#include "query/logql/stages.h"

static struct tr_logql_line_filter *mk(enum tr_logql_line_op op,
                                       const char *a,
                                       const char *b,
                                       const char *c)
{
    struct tr_logql_line_operand ops[3];
    const char *ss[3] = {a, b, c};
    size_t n = 0;
    char err[TR_ERRMSG_SIZE];
    for (size_t i = 0; i < 3 && ss[i]; i++) {
        bool ip = strncmp(ss[i], "ip:", 3) == 0;
        ops[n].is_ip = ip;
        ops[n].s = ip ? ss[i] + 3 : ss[i];
        ops[n].len = strlen(ops[n].s);
        n++;
    }
    struct tr_logql_line_filter *f = NULL;
    int rc = tr_logql_line_filter_new(op, ops, n, &f, err);
    cr_assert_eq(rc, 0, "%s", err);
    return f;
}

static const char *fail(enum tr_logql_line_op op, const char *a, const char *b)
{
    static char err[TR_ERRMSG_SIZE];
    struct tr_logql_line_operand ops[2];
    const char *ss[2] = {a, b};
    size_t n = 0;
    for (size_t i = 0; i < 2 && ss[i]; i++) {
        bool ip = strncmp(ss[i], "ip:", 3) == 0;
        ops[n].is_ip = ip;
        ops[n].s = ip ? ss[i] + 3 : ss[i];
        ops[n].len = strlen(ops[n].s);
        n++;
    }
    struct tr_logql_line_filter *f = NULL;
    int rc = tr_logql_line_filter_new(op, ops, n, &f, err);
    cr_assert_eq(rc, TR_EINVAL);
    cr_assert_null(f);
    return err;
}

static bool m(const struct tr_logql_line_filter *f, const char *line)
{
    return tr_logql_line_filter_match(f, line, strlen(line));
}

Test(logql_stages_line_filter, contains)
{
    struct tr_logql_line_filter *f =
        mk(TR_LOGQL_LINE_CONTAINS, "err", NULL, NULL);
    cr_expect(m(f, "req id=1 err=connrefused"));
    cr_expect(!m(f, "req id=2 ok"));
    cr_expect(!m(f, "ERR"));
    cr_expect(!m(f, ""));
    tr_logql_line_filter_free(f);
    f = mk(TR_LOGQL_LINE_NOT_CONTAINS, "err", NULL, NULL);
    cr_expect(!m(f, "req id=1 err=connrefused"));
    cr_expect(m(f, "req id=2 ok"));
    tr_logql_line_filter_free(f);
    /* an empty string matches every line */
    f = mk(TR_LOGQL_LINE_CONTAINS, "", NULL, NULL);
    cr_expect(m(f, "anything"));
    cr_expect(m(f, ""));
    tr_logql_line_filter_free(f);
}

Test(logql_stages_line_filter, regex)
{
    struct tr_logql_line_filter *f =
        mk(TR_LOGQL_LINE_RE, "code=5..", NULL, NULL);
    cr_expect(m(f, "code=500 fail"));
    cr_expect(!m(f, "code=200 pass"));
    cr_expect(!m(f, "CODE=503 down"));
    tr_logql_line_filter_free(f);
    f = mk(TR_LOGQL_LINE_RE, "(?i)code=5..", NULL, NULL);
    cr_expect(m(f, "CODE=503 down"));
    cr_expect(m(f, "code=500 fail"));
    tr_logql_line_filter_free(f);
    f = mk(TR_LOGQL_LINE_NOT_RE, "code=5..", NULL, NULL);
    cr_expect(!m(f, "code=500 fail"));
    cr_expect(m(f, "code=200 pass"));
    tr_logql_line_filter_free(f);
    /* '.' does not match a newline in Go without (?s) */
    f = mk(TR_LOGQL_LINE_RE, "a.b", NULL, NULL);
    cr_expect(!m(f, "a\nb"));
    cr_expect(m(f, "xa-by"));
    tr_logql_line_filter_free(f);
    cr_expect(
        strstr(fail(TR_LOGQL_LINE_RE, "(", NULL), "error parsing regexp"));
}

Test(logql_stages_line_filter, icase_literal_fast_path)
{
    struct tr_logql_line_filter *f =
        mk(TR_LOGQL_LINE_RE, "(?i)ERROR", NULL, NULL);
    cr_expect(m(f, "an error here"));
    cr_expect(m(f, "ErRoR"));
    cr_expect(!m(f, "erro"));
    tr_logql_line_filter_free(f);
    /* letters that fold outside ASCII (k -> Kelvin sign) use PCRE2 */
    f = mk(TR_LOGQL_LINE_RE, "(?i)ok", NULL, NULL);
    cr_expect(m(f, "OK"));
    cr_expect(m(f, "o\xe2\x84\xaa")); /* o + U+212A KELVIN SIGN */
    tr_logql_line_filter_free(f);
}

Test(logql_stages_line_filter, pattern)
{
    struct tr_logql_line_filter *f =
        mk(TR_LOGQL_LINE_PATTERN, "GET <_> 200", NULL, NULL);
    cr_expect(m(f, "GET /api 200"));
    cr_expect(!m(f, "POST /api 500"));
    tr_logql_line_filter_free(f);
    f = mk(TR_LOGQL_LINE_NOT_PATTERN, "GET <_> 200", NULL, NULL);
    cr_expect(!m(f, "GET /api 200"));
    cr_expect(m(f, "POST /api 500"));
    tr_logql_line_filter_free(f);
    /* no <_>: the whole line must be the literal */
    f = mk(TR_LOGQL_LINE_PATTERN, "GET /api", NULL, NULL);
    cr_expect(!m(f, "GET /api 200"));
    cr_expect(m(f, "GET /api"));
    tr_logql_line_filter_free(f);
    cr_expect(strstr(fail(TR_LOGQL_LINE_PATTERN, "<verb> /api 200", NULL),
                     "named captures are not allowed"));
    cr_expect(strstr(fail(TR_LOGQL_LINE_PATTERN, "<_><_>", NULL),
                     "consecutive capture"));
}

Test(logql_stages_line_filter, pattern_test_rules)
{
    struct tr_logql_pattern *p;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_logql_pattern_new("<_> bar", 7, true, &p, err), 0);
    cr_expect(!tr_logql_pattern_test(p, "foo bar baz", 11));
    cr_expect(tr_logql_pattern_test(p, "foo bar", 7));
    tr_logql_pattern_free(p);
    cr_assert_eq(tr_logql_pattern_new("<_> bar <_>", 11, true, &p, err), 0);
    cr_expect(!tr_logql_pattern_test(p, " bar ", 5)); /* empty captures */
    cr_expect(tr_logql_pattern_test(p, "a bar b", 7));
    tr_logql_pattern_free(p);
    cr_assert_eq(tr_logql_pattern_new("", 0, true, &p, err), 0);
    cr_expect(tr_logql_pattern_test(p, "", 0));
    cr_expect(!tr_logql_pattern_test(p, "x", 1));
    tr_logql_pattern_free(p);
    /* parser form needs a named capture */
    cr_expect_eq(tr_logql_pattern_new("no captures here", 16, false, &p, err),
                 TR_EINVAL);
    cr_expect(strstr(err, "at least one capture is required"));
    cr_expect_eq(tr_logql_pattern_new("<a> <a>", 7, false, &p, err), TR_EINVAL);
    cr_expect(strstr(err, "duplicate capture name (a)"));
}

Test(logql_stages_line_filter, ip_line_filter)
{
    struct tr_logql_line_filter *f =
        mk(TR_LOGQL_LINE_CONTAINS, "ip:192.168.1.0/24", NULL, NULL);
    cr_expect(m(f, "src 192.168.1.10 ok"));
    cr_expect(!m(f, "src 10.0.0.9 ok"));
    cr_expect(!m(f, "no ip here"));
    tr_logql_line_filter_free(f);
    f = mk(TR_LOGQL_LINE_NOT_CONTAINS, "ip:192.168.1.0/24", NULL, NULL);
    cr_expect(!m(f, "src 192.168.1.10 ok"));
    cr_expect(m(f, "src 10.0.0.9 ok"));
    cr_expect(m(f, "no ip here"));
    tr_logql_line_filter_free(f);
    cr_expect(strstr(fail(TR_LOGQL_LINE_CONTAINS, "ip:notanip", NULL),
                     "ip: invalid pattern"));
    cr_expect(strstr(fail(TR_LOGQL_LINE_CONTAINS, "ip:", "special"),
                     "ip: invalid pattern"));
    cr_expect(strstr(fail(TR_LOGQL_LINE_RE, "ip:192.168.1.0/24", "special"),
                     "ip: invalid operation"));
    cr_expect(strstr(fail(TR_LOGQL_LINE_RE, "special", "ip:192.168.1.0/24"),
                     "ip: invalid operation"));
}

Test(logql_stages_line_filter, or_chains)
{
    struct tr_logql_line_filter *f =
        mk(TR_LOGQL_LINE_CONTAINS, "ip:192.168.1.0/24", "ip:10.0.0.0/8",
           "special");
    cr_expect(m(f, "src 192.168.1.10 ok"));
    cr_expect(m(f, "src 10.0.0.9 ok"));
    cr_expect(!m(f, "src 172.16.5.5 ok"));
    cr_expect(m(f, "special no ip"));
    cr_expect(!m(f, "no ip here"));
    tr_logql_line_filter_free(f);
    f = mk(TR_LOGQL_LINE_NOT_CONTAINS, "ip:192.168.1.0/24", "ip:10.0.0.0/8",
           "special");
    cr_expect(!m(f, "src 10.0.0.9 ok"));
    cr_expect(m(f, "src 8.8.8.8 ok"));
    cr_expect(!m(f, "special no ip"));
    tr_logql_line_filter_free(f);
    f = mk(TR_LOGQL_LINE_RE, "err.r", "wa.n", NULL);
    cr_expect(m(f, "level=error x"));
    cr_expect(m(f, "level=warn y"));
    cr_expect(!m(f, "level=info z"));
    tr_logql_line_filter_free(f);
    f = mk(TR_LOGQL_LINE_NOT_RE, "err.r", "wa.n", NULL);
    cr_expect(!m(f, "level=warn y"));
    cr_expect(m(f, "level=info z"));
    tr_logql_line_filter_free(f);
    f = mk(TR_LOGQL_LINE_PATTERN, "level=error <_>", "level=warn <_>", NULL);
    cr_expect(m(f, "level=warn y"));
    cr_expect(!m(f, "level=info z"));
    tr_logql_line_filter_free(f);
}

static bool ipm(const char *pat, const char *s)
{
    struct tr_logql_ip *ip;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_logql_ip_new(pat, strlen(pat), &ip, err), 0, "%s", err);
    bool r = tr_logql_ip_match(ip, s, strlen(s));
    tr_logql_ip_free(ip);
    return r;
}

static bool ip_bad(const char *pat)
{
    struct tr_logql_ip *ip = NULL;
    char err[TR_ERRMSG_SIZE];
    int rc = tr_logql_ip_new(pat, strlen(pat), &ip, err);
    tr_logql_ip_free(ip);
    return rc == TR_EINVAL && strstr(err, "ip: invalid pattern") != NULL;
}

Test(logql_stages_line_filter, ip_matcher)
{
    cr_expect(ipm("192.168.1.5", "192.168.1.5"));
    cr_expect(!ipm("192.168.1.5", "192.168.1.50"));
    cr_expect(ipm("192.168.1.1-192.168.1.9", "addr=192.168.1.5 x"));
    cr_expect(!ipm("192.168.1.1-192.168.1.9", "192.168.1.10"));
    cr_expect(ipm("10.0.0.0/8", "host 10.1.2.3:8080"));
    cr_expect(ipm("2001:db8::/32", "2001:db8::1"));
    cr_expect(ipm("2001:db8::/32", "from [2001:db8:0:1::5] ok"));
    cr_expect(!ipm("2001:db8::/32", "2001:db9::1"));
    cr_expect(ipm("::1", "lo ::1"));
    cr_expect(!ipm("10.0.0.0/8", "10.0.0"));
    cr_expect(!ipm("9.9.9.0/24", "192.168.1.5"));
    cr_expect(ipm("0.0.0.0/0", "1.2.3.4"));
    /* v4 and v6 never match each other */
    cr_expect(!ipm("::/0", "1.2.3.4"));
    cr_expect(ipm("::ffff:1.2.3.4", "::ffff:1.2.3.4"));
    cr_expect(ip_bad("bogus"));
    cr_expect(ip_bad(""));
    cr_expect(ip_bad("1.2.3.256"));
    cr_expect(ip_bad("01.2.3.4"));
    cr_expect(ip_bad("1.2.3.4/33"));
    cr_expect(ip_bad("1.2.3.9-1.2.3.1"));
    cr_expect(ip_bad("1.2.3.4-::1"));
    cr_expect(ip_bad("1:2:3:4:5:6:7:8:9"));
    cr_expect(ip_bad("1::2::3"));
}
