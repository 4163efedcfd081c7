/* test_promql_lexer.c - PromQL tokens, values and lexer errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "query/promql/lexer.h"

/* Lexes s and renders "TYPE:text TYPE:text ..." (or the error message). */
static void lex_all(const char *s, char *out, size_t n)
{
    struct tr_promql_lexer l;
    struct tr_promql_token t;
    char err[TR_ERRMSG_SIZE];
    size_t o = 0;
    out[0] = '\0';
    tr_promql_lex_init(&l, s, strlen(s));
    for (int i = 0; i < 100; i++) {
        if (tr_promql_lex_next(&l, &t, err) != 0) {
            snprintf(out, n, "%s", err);
            return;
        }
        if (t.type == TR_PROMQL_EOF) {
            return;
        }
        o +=
            (size_t)snprintf(out + o, n - o, "%s%s:%.*s", o ? " " : "",
                             tr_promql_tok_name(t.type), (int)t.len, s + t.pos);
    }
}

static void check(const char *in, const char *want)
{
    char got[1024];
    lex_all(in, got, sizeof(got));
    cr_assert_str_eq(got, want, "input %s", in);
}

TestSuite(query_promql_lexer);

Test(query_promql_lexer, basic_tokens)
{
    check("sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m]))",
          "IDENT:sum by:by (:( IDENT:job ):) (:( IDENT:rate (:( "
          "IDENT:http_requests_total {:{ IDENT:code =~:=~ STRING:\"5..\" }:} "
          "[:[ DURATION:5m ]:] ):) ):)");
    check("a + b - c * d / e % f ^ g",
          "IDENT:a +:+ IDENT:b -:- IDENT:c *:* "
          "IDENT:d /:/ IDENT:e %:% IDENT:f ^:^ "
          "IDENT:g");
    check("a == b != c < d <= e > f >= g",
          "IDENT:a ==:== IDENT:b !=:!= IDENT:c <:< IDENT:d <=:<= IDENT:e >:> "
          "IDENT:f >=:>= IDENT:g");
    check("job:rate5m:sum", "METRIC_IDENT:job:rate5m:sum");
    check("a AND b Or c unless d",
          "IDENT:a and:AND IDENT:b or:Or IDENT:c "
          "unless:unless IDENT:d");
    check("x / on(a) group_left(b) y",
          "IDENT:x /:/ on:on (:( IDENT:a ):) group_left:group_left (:( "
          "IDENT:b ):) IDENT:y");
    check("ignoring without group_right bool atan2 offset start end",
          "ignoring:ignoring without:without group_right:group_right "
          "bool:bool atan2:atan2 offset:offset start:start end:end");
    check("foo @ start()", "IDENT:foo @:@ start:start (:( ):)");
    check("foo offset -5m", "IDENT:foo offset:offset -:- DURATION:5m");
    check("{on=\"x\", by='y'}",
          "{:{ IDENT:on =:= STRING:\"x\" ,:, IDENT:by =:= STRING:'y' }:}");
    check("foo # comment\n+ 1", "IDENT:foo COMMENT:# comment +:+ NUMBER:1");
    check("rate(x[5m:1m])",
          "IDENT:rate (:( IDENT:x [:[ DURATION:5m ::: DURATION:1m ]:] ):)");
    check("x[ 1h30m ]", "IDENT:x [:[ DURATION:1h30m ]:]");
}

Test(query_promql_lexer, numbers_durations)
{
    check("1 1.5 .5 1e3 1.5E-3 0x1F 0XaB Inf nan NaN -inf",
          "NUMBER:1 NUMBER:1.5 NUMBER:.5 NUMBER:1e3 NUMBER:1.5E-3 NUMBER:0x1F "
          "NUMBER:0XaB NUMBER:Inf NUMBER:nan NUMBER:NaN -:- NUMBER:inf");
    check("5m 1h30m 100ms 2y1w 3d 10s",
          "DURATION:5m DURATION:1h30m DURATION:100ms DURATION:2y1w DURATION:3d "
          "DURATION:10s");
    double d;
    cr_assert_eq(tr_promql_parse_number("0x1F", 4, &d), 0);
    cr_assert_eq(d, 31);
    cr_assert_eq(tr_promql_parse_number("010", 3, &d), 0);
    cr_assert_eq(d, 8); /* Go's ParseInt base 0: octal */
    cr_assert_eq(tr_promql_parse_number("09", 2, &d), 0);
    cr_assert_eq(d, 9);
    cr_assert_eq(tr_promql_parse_number("1.5e3", 5, &d), 0);
    cr_assert_eq(d, 1500);
    cr_assert_eq(tr_promql_parse_number(".5", 2, &d), 0);
    cr_assert_eq(d, 0.5);
    cr_assert_eq(tr_promql_parse_number("Inf", 3, &d), 0);
    cr_assert(isinf(d) && d > 0);
    cr_assert_eq(tr_promql_parse_number("NaN", 3, &d), 0);
    cr_assert(isnan(d));
    cr_assert_eq(tr_promql_parse_number("99999999999999999999", 20, &d), 0);
    cr_assert_eq(d, 1e20);
    cr_assert_eq(tr_promql_parse_number("1e", 2, &d), TR_EINVAL);
    cr_assert_eq(tr_promql_parse_number("1e999", 5, &d), TR_EINVAL);
    cr_assert_eq(tr_promql_parse_number("0x1.5", 5, &d), TR_EINVAL);
    cr_assert_eq(tr_promql_parse_number("infinity", 8, &d), TR_EINVAL);

    int64_t ms;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_promql_parse_duration("1h30m", 5, &ms, err), 0);
    cr_assert_eq(ms, 5400000);
    cr_assert_eq(tr_promql_parse_duration("1y2w3d4h5m6s7ms", 15, &ms, err), 0);
    cr_assert_eq(ms, 365LL * 86400000 + 14LL * 86400000 + 3LL * 86400000 +
                         4LL * 3600000 + 5LL * 60000 + 6000 + 7);
    cr_assert_eq(tr_promql_parse_duration("0", 1, &ms, err), 0);
    cr_assert_eq(ms, 0);
    cr_assert_eq(tr_promql_parse_duration("5m1h", 4, &ms, err), TR_EINVAL);
    cr_assert_str_eq(err, "not a valid duration string: \"5m1h\"");
    cr_assert_eq(tr_promql_parse_duration("5x", 2, &ms, err), TR_EINVAL);
    cr_assert_str_eq(err, "unknown unit \"x\" in duration \"5x\"");
    cr_assert_eq(tr_promql_parse_duration("1.5m", 4, &ms, err), TR_EINVAL);
    cr_assert_eq(tr_promql_parse_duration("", 0, &ms, err), TR_EINVAL);
    cr_assert_eq(tr_promql_parse_duration("300y", 4, &ms, err), TR_ETOOLARGE);
    cr_assert_eq(tr_promql_parse_duration("292y", 4, &ms, err), 0);
}

static void check_unquote(const char *tok, const char *want, size_t want_len)
{
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_promql_unquote(tok, strlen(tok), &b), 0, "%s", tok);
    cr_assert_eq(b.len, want_len, "%s", tok);
    cr_assert(want_len == 0 || memcmp(b.data, want, want_len) == 0, "%s", tok);
    tr_buf_free(&b);
}

Test(query_promql_lexer, strings)
{
    check("\"a\\\"b\" 'c\\'d' `e\\f`",
          "STRING:\"a\\\"b\" STRING:'c\\'d' STRING:`e\\f`");
    check("`multi\nline`", "STRING:`multi\nline`");
    check_unquote("\"a\\n\\t\\\\\\\"\"", "a\n\t\\\"", 5);
    check_unquote("'it\\'s'", "it's", 4);
    check_unquote("`raw\\n`", "raw\\n", 5);
    check_unquote("\"\\x41\\101\\u00e9\\U0001F600\"",
                  "AA\xc3\xa9\xf0\x9f\x98\x80", 8);
    check_unquote("\"\\xff\"", "\xff", 1);
    check_unquote("\"\\a\\b\\f\\r\\v\"", "\a\b\f\r\v", 5);
    check_unquote("\"\"", "", 0);
    check_unquote("\"h\xc3\xa9\"", "h\xc3\xa9", 3);
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_promql_unquote("\"\\q\"", 4, &b), TR_EINVAL);
    cr_assert_eq(tr_promql_unquote("\"a", 2, &b), TR_EINVAL);
    tr_buf_free(&b);
}

Test(query_promql_lexer, errors)
{
    check("foo{", "1:5: parse error: unexpected end of input inside braces");
    check("foo}", "1:4: parse error: unexpected character: '}'");
    check("!foo", "1:1: parse error: unexpected character after '!': 'f'");
    check("a =~ b", "1:3: parse error: unexpected character after '=': '~'");
    check("{a!b}",
          "1:3: parse error: unexpected character after '!' inside "
          "braces: 'b'");
    check("{a{", "1:3: parse error: unexpected left brace '{'");
    check("{1}", "1:2: parse error: unexpected character inside braces: '1'");
    check("{a:b}", "1:3: parse error: unexpected character inside braces: ':'");
    check("a$", "1:2: parse error: unexpected character: '$'");
    check("(a", "1:3: parse error: unclosed left parenthesis");
    check("a)", "1:3: parse error: unexpected right parenthesis ')'");
    check("a[5m", "1:5: parse error: unclosed left bracket");
    check("a]", "1:2: parse error: unexpected right bracket ']'");
    check("a[5m[", "1:5: parse error: unexpected left bracket '['");
    check("a[5m::1m]", "1:6: parse error: unexpected colon ':'");
    check("a[5]", "1:3: parse error: missing unit character in duration");
    check("a[]", "1:3: parse error: missing unit character in duration");
    check("a[5mx]", "1:3: parse error: bad duration syntax: \"5mx\"");
    check("5x", "1:1: parse error: bad number or duration syntax: \"5\"");
    check("5mx", "1:1: parse error: bad number or duration syntax: \"5mx\"");
    check("1_000", "1:1: parse error: bad number or duration syntax: \"1\"");
    check("\"abc", "1:1: parse error: unterminated quoted string");
    check("x + \"a\nb\"", "1:5: parse error: unterminated quoted string");
    check("`abc", "1:1: parse error: unterminated raw string");
    check("\"\\q\"", "1:1: parse error: unknown escape sequence U+0071 'q'");
    check("'\\\"'", "1:1: parse error: unknown escape sequence U+0022 '\"'");
    check("\"\\x4g\"",
          "1:1: parse error: illegal character U+0067 'g' in escape sequence");
    check("\"\\uD800\"",
          "1:1: parse error: escape sequence is an invalid Unicode code point");
    check("\"\\400\"",
          "1:1: parse error: escape sequence is an invalid Unicode code point");
    check("\"\\", "1:1: parse error: escape sequence not terminated");
    check("\"\\x4", "1:1: parse error: escape sequence not terminated");
    check("\"a\xff\"", "1:1: parse error: invalid UTF-8 rune");
    check("a\n  + ~", "2:5: parse error: unexpected character: '~'");
    check("\xc3\xa9", "1:1: parse error: unexpected character: '\xc3\xa9'");
    check("a\x01", "1:2: parse error: unexpected character: '\\x01'");
}

Test(query_promql_lexer, token_desc)
{
    const char *s = "foo \"a long string value\" 5m , =~ by and {";
    struct tr_promql_lexer l;
    struct tr_promql_token t;
    char d[128];
    const char *want[] = {"identifier \"foo\"",
                          "string \"\\\"a long st\"...",
                          "duration \"5m\"",
                          "\",\"",
                          "<op:=~>",
                          "<by>",
                          "<op:and>",
                          "\"{\"",
                          "end of input"};
    tr_promql_lex_init(&l, s, strlen(s));
    /* =~ outside braces is an error in PromQL; desc the pieces by hand. */
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(tr_promql_lex_next(&l, &t, NULL), 0);
        tr_promql_tok_desc(s, &t, d, sizeof(d));
        cr_assert_str_eq(d, want[i]);
    }
    t = (struct tr_promql_token){TR_PROMQL_EQL_REGEX, 31, 2};
    tr_promql_tok_desc(s, &t, d, sizeof(d));
    cr_assert_str_eq(d, want[4]);
    t = (struct tr_promql_token){TR_PROMQL_BY, 34, 2};
    tr_promql_tok_desc(s, &t, d, sizeof(d));
    cr_assert_str_eq(d, want[5]);
    t = (struct tr_promql_token){TR_PROMQL_LAND, 37, 3};
    tr_promql_tok_desc(s, &t, d, sizeof(d));
    cr_assert_str_eq(d, want[6]);
    t = (struct tr_promql_token){TR_PROMQL_LBRACE, 41, 1};
    tr_promql_tok_desc(s, &t, d, sizeof(d));
    cr_assert_str_eq(d, want[7]);
    t = (struct tr_promql_token){TR_PROMQL_EOF, 42, 0};
    tr_promql_tok_desc(s, &t, d, sizeof(d));
    cr_assert_str_eq(d, want[8]);
}

/* Lexes the n bytes of s (NUL bytes included): the first token's type and
 * length, or the error message in err. */
static int lex_first_n(const char *s,
                       size_t n,
                       struct tr_promql_token *t,
                       char *err)
{
    struct tr_promql_lexer l;
    err[0] = '\0';
    tr_promql_lex_init(&l, s, n);
    return tr_promql_lex_next(&l, t, err);
}

/* A string literal may hold any rune but a newline ('' and "") or any but
 * ` (raw), NUL included, as Prometheus' lexer; its value keeps them. */
Test(query_promql_lexer, strings_with_nul_bytes)
{
    static const struct {
        const char *in;
        size_t n;
    } ok[] = {
        {"\"a\0b\"", 5},
        {"'a\0b'", 5},
        {"`a\0b`", 5},
    };
    struct tr_promql_token t;
    char err[TR_ERRMSG_SIZE];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cr_assert_eq(lex_first_n(ok[i].in, ok[i].n, &t, err), 0, "%zu: %s", i,
                     err);
        cr_assert_eq(t.type, TR_PROMQL_STRING, "%zu", i);
        cr_assert_eq(t.pos, 0);
        cr_assert_eq(t.len, 5, "%zu: the NUL ended the token", i);
        struct tr_buf b;
        tr_buf_init(&b);
        cr_assert_eq(tr_promql_unquote(ok[i].in, ok[i].n, &b), 0);
        cr_assert_eq(b.len, 3);
        cr_assert_eq(memcmp(b.data, "a\0b", 3), 0);
        tr_buf_free(&b);
    }
    /* Inside braces too, and a token after it is still seen. */
    const char sel[] = "{a=\"\0\"} + 1";
    struct tr_promql_lexer l;
    tr_promql_lex_init(&l, sel, sizeof(sel) - 1);
    enum tr_promql_tok want[] = {
        TR_PROMQL_LBRACE, TR_PROMQL_IDENT, TR_PROMQL_EQL,    TR_PROMQL_STRING,
        TR_PROMQL_RBRACE, TR_PROMQL_ADD,   TR_PROMQL_NUMBER, TR_PROMQL_EOF};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        cr_assert_eq(tr_promql_lex_next(&l, &t, err), 0, "%s", err);
        cr_assert_eq(t.type, want[i], "token %zu", i);
    }
    /* Errors stay Prometheus': no closing quote after the NUL; a NUL
     * outside a string. */
    cr_assert_eq(lex_first_n("\"a\0", 3, &t, err), TR_EINVAL);
    cr_assert_str_eq(err, "1:1: parse error: unterminated quoted string");
    cr_assert_eq(lex_first_n("`\0", 2, &t, err), TR_EINVAL);
    cr_assert_str_eq(err, "1:1: parse error: unterminated raw string");
    cr_assert_eq(lex_first_n("\0", 1, &t, err), TR_EINVAL);
    cr_assert_str_eq(err, "1:1: parse error: unexpected character: '\\x00'");
    /* U+FFFD itself is refused in a literal, as by Prometheus (Go decodes
     * it as utf8.RuneError); the escape \uFFFD is fine. */
    check("\"\xef\xbf\xbd\"", "1:1: parse error: invalid UTF-8 rune");
    check("`\xef\xbf\xbd`", "1:1: parse error: invalid UTF-8 rune");
    check_unquote("\"\\uFFFD\"", "\xef\xbf\xbd", 3);
}
