/* test_matcher.c - label matcher and regex semantics (Prometheus 2.53). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "lib/matcher.h"

static bool re_match(const char *re, const char *s)
{
    struct tr_matcher m;
    char err[TR_ERRMSG_SIZE];
    int rv = tr_matcher_init(&m, TR_MATCH_RE, "l", re, strlen(re), err);
    cr_assert_eq(rv, 0, "%s: %s", re, err);
    bool a = tr_matcher_matches(&m, s, strlen(s));
    bool b = tr_regex_match_pcre2(m.re, s, strlen(s));
    cr_assert_eq(a, b, "fast path vs pcre2 differ: %s on '%s'", re, s);
    tr_matcher_free(&m);
    return a;
}

TestSuite(lib_matcher);

Test(lib_matcher, equality)
{
    struct tr_matcher m;
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_EQ, "job", "api", 3, NULL), 0);
    cr_assert(tr_matcher_matches(&m, "api", 3));
    cr_assert(!tr_matcher_matches(&m, "apis", 4));
    cr_assert(!tr_matcher_matches(&m, "", 0));
    cr_assert(!tr_matcher_matches_empty(&m));
    tr_matcher_free(&m);
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_NEQ, "job", "", 0, NULL), 0);
    cr_assert(tr_matcher_matches(&m, "x", 1));
    cr_assert(!tr_matcher_matches_empty(&m));
    tr_matcher_free(&m);
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_EQ, "job", "", 0, NULL), 0);
    cr_assert(tr_matcher_matches_empty(&m));
    tr_matcher_free(&m);
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_NEQ, "job", "a", 1, NULL), 0);
    cr_assert(tr_matcher_matches_empty(&m)); /* missing label != "a" */
    tr_matcher_free(&m);
}

Test(lib_matcher, anchoring)
{
    cr_assert(re_match("foo", "foo"));
    cr_assert(!re_match("foo", "foobar"));
    cr_assert(!re_match("foo", "xfoo"));
    cr_assert(re_match("foo.*", "foobar"));
    cr_assert(!re_match("bar", "foobar"));
    cr_assert(re_match("a|ab", "ab")); /* backtracks into alternatives */
    cr_assert(re_match("^foo$", "foo"));
    cr_assert(!re_match("foo$", "foo\n")); /* '$' only at the very end */
    cr_assert(!re_match("foo", "foo\n"));
    cr_assert(re_match("(a|b)+", "abab"));
    cr_assert(!re_match("(a|b)+", "abc"));
    /* Prometheus' ^(?s:re)$ lets a stray ')' through the same way. */
}

Test(lib_matcher, dotall_and_empty)
{
    cr_assert(re_match(".*", "a\nb"));
    cr_assert(re_match("a.b", "a\nb"));
    cr_assert(re_match(".+", "\n"));
    cr_assert(!re_match(".+", ""));
    cr_assert(re_match(".*", ""));
    cr_assert(re_match("", ""));
    cr_assert(!re_match("", "a"));
    cr_assert(re_match("a*", ""));
    cr_assert(re_match("x|", ""));
    cr_assert(re_match("(?i)FOO", "foo"));
    cr_assert(re_match("\\d+", "123"));
    cr_assert(!re_match("\\d+", "12a"));

    struct tr_matcher m;
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_RE, "l", "a|", 2, NULL), 0);
    cr_assert(tr_matcher_matches_empty(&m));
    tr_matcher_free(&m);
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_NRE, "l", ".+", 2, NULL), 0);
    cr_assert(tr_matcher_matches_empty(&m));
    cr_assert(!tr_matcher_matches(&m, "x", 1));
    tr_matcher_free(&m);
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_NRE, "l", ".*", 2, NULL), 0);
    cr_assert(!tr_matcher_matches_empty(&m));
    tr_matcher_free(&m);
}

Test(lib_matcher, literal_sets)
{
    struct tr_matcher m;
    const char *const *lits;
    const size_t *lens;
    const char *re = "api|web\\.1|db-2|";
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_RE, "job", re, strlen(re), NULL),
                 0);
    size_t n = tr_matcher_literals(&m, &lits, &lens);
    cr_assert_eq(n, 4);
    cr_assert_eq(lens[1], 5);
    cr_assert(memcmp(lits[1], "web.1", 5) == 0);
    cr_assert_eq(lens[3], 0);
    const char *subjects[] = {"api",    "web.1",   "web-1", "db-2",   "",
                              "apiweb", "api|web", "db",    "web\\.1"};
    for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
        bool fast = tr_matcher_matches(&m, subjects[i], strlen(subjects[i]));
        bool slow =
            tr_regex_match_pcre2(m.re, subjects[i], strlen(subjects[i]));
        cr_assert_eq(fast, slow, "%s", subjects[i]);
    }
    tr_matcher_free(&m);

    /* Not literal sets. */
    const char *non[] = {"a.b", "a+", "(a|b)", "\\d", "a|b*", ".*", "[ab]"};
    for (size_t i = 0; i < sizeof(non) / sizeof(non[0]); i++) {
        cr_assert_eq(
            tr_matcher_init(&m, TR_MATCH_RE, "l", non[i], strlen(non[i]), NULL),
            0);
        cr_assert_eq(tr_matcher_literals(&m, &lits, &lens), 0, "%s", non[i]);
        tr_matcher_free(&m);
    }
    /* Equality matchers expose no literal set. */
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_EQ, "l", "a", 1, NULL), 0);
    cr_assert_eq(tr_matcher_literals(&m, &lits, &lens), 0);
    tr_matcher_free(&m);
}

Test(lib_matcher, big_literal_set_hash)
{
    char pat[4096];
    size_t o = 0;
    for (int i = 0; i < 300; i++) {
        o += (size_t)snprintf(pat + o, sizeof(pat) - o, "%shost-%d",
                              i ? "|" : "", i);
    }
    struct tr_matcher m;
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_RE, "instance", pat, o, NULL), 0);
    const char *const *lits;
    const size_t *lens;
    cr_assert_eq(tr_matcher_literals(&m, &lits, &lens), 300);
    char s[32];
    for (int i = 0; i < 400; i++) {
        int n = snprintf(s, sizeof(s), "host-%d", i);
        cr_assert_eq(tr_matcher_matches(&m, s, (size_t)n), i < 300, "%s", s);
        cr_assert_eq(tr_regex_match_pcre2(m.re, s, (size_t)n), i < 300);
    }
    cr_assert(!tr_matcher_matches(&m, "", 0));
    tr_matcher_free(&m);
}

Test(lib_matcher, invalid_utf8_values)
{
    /* Go reads an invalid byte as U+FFFD, so '.' matches it. */
    cr_assert(re_match("a.b",
                       "a\xff"
                       "b"));
    cr_assert(re_match("a.*", "a\xff\xfe"));
    cr_assert(re_match(".+", "\xc3"));
    cr_assert(!re_match("a", "\xff"));
    cr_assert(re_match("\xef\xbf\xbd", "\xff"));
    cr_assert(re_match("x\xc3\xa9", "x\xc3\xa9"));
    cr_assert(!re_match("x.", "x\xc3\xa9\xa9"));
    cr_assert(re_match("x..", "x\xc3\xa9\xa9"));
    struct tr_matcher m;
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_NEQ, "l", "a", 1, NULL), 0);
    cr_assert(tr_matcher_matches(&m, "\xff", 1));
    tr_matcher_free(&m);
}

Test(lib_matcher, bad_regex)
{
    struct tr_matcher m;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_RE, "l", "(abc", 4, err),
                 TR_EINVAL);
    cr_assert(strncmp(err, "error parsing regexp: ", 22) == 0, "%s", err);
    cr_assert(strstr(err, "offset 4") != NULL, "%s", err);
    cr_assert(strstr(err, "`(abc`") != NULL, "%s", err);
    cr_assert_null(m.name);
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_NRE, "l", "a**", 3, err),
                 TR_EINVAL);
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_RE, "l", "[z-a]", 5, err),
                 TR_EINVAL);
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_RE, "l", "\xff", 1, err),
                 TR_EINVAL); /* invalid UTF-8 pattern, as in Go */
    cr_assert(strncmp(err, "error parsing regexp: ", 22) == 0, "%s", err);
    cr_assert_eq(tr_matcher_init(&m, (enum tr_match_type)9, "l", "", 0, err),
                 TR_EINVAL);
}

Test(lib_matcher, unanchored_regex)
{
    struct tr_regex *re;
    cr_assert_eq(tr_regex_compile("err", 3, false, &re, NULL), 0);
    cr_assert(tr_regex_match(re, "an error!", 9));
    cr_assert(!tr_regex_match(re, "fine", 4));
    cr_assert_eq(tr_regex_match_pcre2(re, "an error!", 9), true);
    tr_regex_free(re);
    cr_assert_eq(tr_regex_compile("^a.b$", 5, false, &re, NULL), 0);
    cr_assert(!tr_regex_match(re, "a\nb", 3)); /* no dotall */
    cr_assert(tr_regex_match(re, "axb", 3));
    tr_regex_free(re);
    cr_assert_eq(tr_regex_compile("a|b", 3, false, &re, NULL), 0);
    cr_assert(tr_regex_match(re, "xxbxx", 5));
    tr_regex_free(re);
}

Test(lib_matcher, format)
{
    struct tr_matcher m;
    char buf[64];
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_NEQ, "job", "a\"b\\", 4, NULL),
                 0);
    tr_matcher_format(&m, buf, sizeof(buf));
    cr_assert_str_eq(buf, "job!=\"a\\\"b\\\\\"");
    tr_matcher_format(&m, buf, 6);
    cr_assert_eq(strlen(buf), 5);
    tr_matcher_free(&m);
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_NRE, "job", "a.*", 3, NULL), 0);
    tr_matcher_format(&m, buf, sizeof(buf));
    cr_assert_str_eq(buf, "job!~\"a.*\"");
    tr_matcher_free(&m);
}

static void *thread_body(void *arg)
{
    const struct tr_matcher *m = arg;
    long ok = 0;
    for (int i = 0; i < 2000; i++) {
        ok += tr_matcher_matches(m, "prod-eu-1", 9);
        ok += !tr_matcher_matches(m, "dev-eu-1", 8);
    }
    return (void *)ok;
}

Test(lib_matcher, threads)
{
    struct tr_matcher m;
    const char *re = "prod-(eu|us)-\\d+";
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_RE, "env", re, strlen(re), NULL),
                 0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        pthread_create(&th[i], NULL, thread_body, &m);
    }
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        cr_assert_eq((long)r, 4000);
    }
    tr_matcher_free(&m);
}
