/* test_logql_lexer.c - LogQL tokenizer: Loki's token classification
 * (keywords, function names only before "(", durations, byte sizes, ranges,
 * flags), Go string escapes, comments, lexical errors with Loki's
 * positions, and the duration / size / float parsers. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "query/logql/lexer.h"
#include "query/logql/convert.h"

/* Tokens of q rendered as "NAME NAME(text) ..." (text for identifiers,
 * numbers and flags; the unquoted value for strings; ns for durations and
 * ranges; bytes for sizes); "ERR(msg)" ends it on a lexical error. */
static void lex_render(const char *q, char *out, size_t size)
{
    struct tr_arena a;
    tr_arena_init(&a, 1024);
    struct tr_logql_lexer l;
    tr_logql_lex_init(&l, q, strlen(q), &a);
    struct tr_buf b;
    tr_buf_init(&b);
    for (int i = 0; i < 200; i++) {
        struct tr_logql_token t;
        int rc = tr_logql_lex_next(&l, &t);
        if (b.len > 0) {
            tr_buf_putc(&b, ' ');
        }
        if (rc != 0) {
            tr_buf_printf(&b, "ERR(%s)", l.errmsg);
            break;
        }
        if (t.type == TR_LOGQL_T_EOF) {
            tr_buf_puts(&b, "EOF");
            break;
        }
        tr_buf_puts(&b, tr_logql_tok_name(t.type));
        switch (t.type) {
            case TR_LOGQL_T_IDENTIFIER:
            case TR_LOGQL_T_NUMBER:
            case TR_LOGQL_T_FUNCTION_FLAG:
            case TR_LOGQL_T_STRING:
                tr_buf_printf(&b, "(%.*s)", (int)t.str_len, t.str);
                break;
            case TR_LOGQL_T_DURATION:
            case TR_LOGQL_T_RANGE:
                tr_buf_printf(&b, "(%lld)", (long long)t.dur_ns);
                break;
            case TR_LOGQL_T_BYTES:
                tr_buf_printf(&b, "(%llu)", (unsigned long long)t.bytes);
                break;
            default:
                break;
        }
    }
    tr_buf_putc(&b, '\0');
    snprintf(out, size, "%s", b.data);
    tr_buf_free(&b);
    tr_arena_free(&a);
}

static const struct {
    const char *in;
    const char *out;
} tok_cases[] = {
    {"{app=\"foo\"}", "{ IDENTIFIER(app) = STRING(foo) } EOF"},
    {"{a!=\"x\",b=~`y`,c!~'z'}",
     "{ IDENTIFIER(a) != STRING(x) , IDENTIFIER(b) =~ STRING(y) , "
     "IDENTIFIER(c) !~ IDENTIFIER('z') } EOF"},
    {"{a=\"b\"} |= \"x\" != \"y\" |~ \"z\" !~ \"w\" |> \"<_>\" !> \"v\"",
     "{ IDENTIFIER(a) = STRING(b) } |= STRING(x) != STRING(y) |~ STRING(z) "
     "!~ STRING(w) |> STRING(<_>) !> STRING(v) EOF"},
    /* functions only when "(" or "by (" / "without (" follows */
    {"rate({a=\"b\"}[5m])",
     "RATE ( { IDENTIFIER(a) = STRING(b) } RANGE(300000000000) ) EOF"},
    {"{rate=\"x\"} | count > 1",
     "{ IDENTIFIER(rate) = STRING(x) } | IDENTIFIER(count) > NUMBER(1) EOF"},
    {"sum by (a) (x)", "SUM by ( IDENTIFIER(a) ) ( IDENTIFIER(x) ) EOF"},
    {"sum without(a)(x)",
     "SUM without ( IDENTIFIER(a) ) ( IDENTIFIER(x) ) EOF"},
    {"sum bytes(x)", "IDENTIFIER(sum) BYTES_CONV ( IDENTIFIER(x) ) EOF"},
    {"SUM(1)", "SUM ( NUMBER(1) ) EOF"},
    {"| unwrap bytes(x) | unwrap duration (y) | unwrap duration_seconds(z)",
     "| unwrap BYTES_CONV ( IDENTIFIER(x) ) | unwrap DURATION_CONV ( "
     "IDENTIFIER(y) ) | unwrap DURATION_SECONDS_CONV ( IDENTIFIER(z) ) EOF"},
    {"| unwrap duration", "| unwrap IDENTIFIER(duration) EOF"},
    {"{ip=\"x\"} |= ip(\"1.2.3.4\")",
     "{ IDENTIFIER(ip) = STRING(x) } |= ip ( STRING(1.2.3.4) ) EOF"},
    {"label_replace(x) label_replace",
     "label_replace ( IDENTIFIER(x) ) IDENTIFIER(label_replace) EOF"},
    {"vector(1) approx_topk(1, x) sort_desc(x)",
     "VECTOR ( NUMBER(1) ) APPROX_TOPK ( NUMBER(1) , IDENTIFIER(x) ) "
     "SORT_DESC ( IDENTIFIER(x) ) EOF"},
    /* keywords are keywords everywhere, in any case */
    {"JSON Logfmt by And or unless bool on ignoring group_left group_right",
     "json logfmt by and or unless bool on ignoring group_left group_right "
     "EOF"},
    {"regexp pattern unpack line_format label_format decolorize drop keep "
     "offset unwrap",
     "regexp pattern unpack line_format label_format decolorize drop keep "
     "offset unwrap EOF"},
    /* operators */
    {"+ - * / % ^ == != > >= < <= = =~",
     "+ - * / % ^ == != > >= < <= = =~ EOF"},
    {"a>=1.5", "IDENTIFIER(a) >= NUMBER(1.5) EOF"},
    /* durations: Prometheus then Go syntax */
    {"10s 1h30m 250ms 1.5s 1d 2w 1y 5us",
     "DURATION(10000000000) DURATION(5400000000000) DURATION(250000000) "
     "DURATION(1500000000) DURATION(86400000000000) "
     "DURATION(1209600000000000) DURATION(31536000000000000) "
     "DURATION(5000) EOF"},
    {"offset -1h", "offset DURATION(-3600000000000) EOF"},
    /* 1mb is the duration 1m then the identifier b (Loki) */
    {"1mb", "DURATION(60000000000) IDENTIFIER(b) EOF"},
    /* byte sizes */
    {"20MB 1KiB 1.5GB 5B 1k",
     "BYTES(20000000) BYTES(1024) BYTES(1500000000) BYTES(5) BYTES(1000) "
     "EOF"},
    {"2w3y", "NUMBER(2) IDENTIFIER(w3y) EOF"},
    /* numbers */
    {"1 1.5 .5 1e3 0x1p3 0x1A 017 1_000",
     "NUMBER(1) NUMBER(1.5) NUMBER(.5) NUMBER(1e3) NUMBER(0x1p3) "
     "NUMBER(0x1A) NUMBER(017) NUMBER(1_000) EOF"},
    {"1 -1 - 1", "NUMBER(1) - NUMBER(1) - NUMBER(1) EOF"},
    /* flags */
    {"| logfmt --strict --keep-empty",
     "| logfmt FUNCTION_FLAG(--strict) FUNCTION_FLAG(--keep-empty) EOF"},
    {"--nope", "- - IDENTIFIER(nope) EOF"},
    /* strings */
    {"\"a\\tb\\\"c\\x41\\u00e9\\101\" `raw\\n`",
     "STRING(a\tb\"cA\xc3\xa9"
     "A) STRING(raw\\n) EOF"},
    /* comments */
    {"{a=\"b\"} # comment\n|= \"x\" // go comment\n/* block */ | json",
     "{ IDENTIFIER(a) = STRING(b) } |= STRING(x) | json EOF"},
    /* ranges keep whatever is inside the brackets */
    {"[1h30m] [0]", "RANGE(5400000000000) RANGE(0) EOF"},
    /* unknown characters are identifiers */
    {"@ ; ~", "IDENTIFIER(@) IDENTIFIER(;) IDENTIFIER(~) EOF"},
    {"{ . }", "{ . } EOF"},
    {"", "EOF"},
};

Test(logql_lexer, tokens)
{
    char got[2048];
    for (size_t i = 0; i < sizeof(tok_cases) / sizeof(tok_cases[0]); i++) {
        lex_render(tok_cases[i].in, got, sizeof(got));
        cr_expect_str_eq(got, tok_cases[i].out, "lexing %s", tok_cases[i].in);
    }
}

static const struct {
    const char *in;
    const char *err;
} err_cases[] = {
    {"\"abc", "literal not terminated"},
    {"\"a\nb\"", "literal not terminated"},
    {"`abc", "literal not terminated"},
    {"\"\\q\"", "invalid char escape"},
    {"\"\\x4\"", "invalid char escape"},
    {"\"\\400\"", "invalid syntax"},
    {"'ab'", "invalid char literal"},
    {"[5minutes]", "unknown unit \"minutes\" in duration \"5minutes\""},
    {"[1m1h]", "not a valid duration string: \"1m1h\""},
    {"[ 5m]", "not a valid duration string: \" 5m\""},
    {"[]", "empty duration string"},
    {"[5m", "missing closing ']' in duration"},
    {"0x", "hexadecimal literal has no digits"},
    {"1e", "exponent has no digits"},
    {"018", "invalid digit '8' in octal literal"},
    {"0b102", "invalid digit '2' in binary literal"},
    {"0x1.5", "hexadecimal mantissa requires a 'p' exponent"},
    {"1__0", "'_' must separate successive digits"},
    {"/* open", "comment not terminated"},
    {"\"\xff\"", "invalid UTF-8 encoding"},
    {"a \xc3", "invalid UTF-8 encoding"},
    {"a\0b", "invalid character NUL"},
};

Test(logql_lexer, errors)
{
    for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        const char *q = err_cases[i].in;
        size_t n = strcmp(q, "a") == 0 ? 3 : strlen(q); /* "a\0b" */
        struct tr_arena a;
        tr_arena_init(&a, 1024);
        struct tr_logql_lexer l;
        tr_logql_lex_init(&l, q, n, &a);
        struct tr_logql_token t;
        int rc = 0;
        for (int k = 0; k < 20 && rc == 0; k++) {
            rc = tr_logql_lex_next(&l, &t);
            if (rc == 0 && t.type == TR_LOGQL_T_EOF) {
                break;
            }
        }
        cr_expect_eq(rc, TR_EINVAL, "no error lexing %s", q);
        cr_expect_eq(t.type, TR_LOGQL_T_ERROR);
        cr_expect_str_eq(l.errmsg, err_cases[i].err, "lexing %s", q);
        /* the error repeats */
        struct tr_logql_token t2;
        cr_expect_eq(tr_logql_lex_next(&l, &t2), TR_EINVAL);
        cr_expect_eq(t2.type, TR_LOGQL_T_ERROR);
        tr_arena_free(&a);
    }
}

/* Positions: characters, 1-based, line 0 for look-ahead tokens. */
Test(logql_lexer, positions)
{
    const char *q = "{a=\"\xc3\xa9\"}\n  |= \"x\" [5m]";
    struct tr_arena a;
    tr_arena_init(&a, 1024);
    struct tr_logql_lexer l;
    tr_logql_lex_init(&l, q, strlen(q), &a);
    struct tr_logql_token t;
    char msg[TR_ERRMSG_SIZE];
    for (int i = 0; i < 5; i++) { /* { a = "é" } */
        cr_assert_eq(tr_logql_lex_next(&l, &t), 0);
    }
    cr_expect_eq(t.type, TR_LOGQL_T_CLOSE_BRACE);
    tr_logql_errf_at(msg, q, strlen(q), &t, "here");
    cr_expect_str_eq(msg, "parse error at line 1, col 7: here");
    cr_assert_eq(tr_logql_lex_next(&l, &t), 0); /* |= */
    tr_logql_errf_at(msg, q, strlen(q), &t, "x");
    cr_expect_str_eq(msg, "parse error at line 0, col 3: x");
    cr_assert_eq(tr_logql_lex_next(&l, &t), 0); /* "x" */
    tr_logql_errf_at(msg, q, strlen(q), &t, "x");
    cr_expect_str_eq(msg, "parse error at line 2, col 6: x");
    cr_assert_eq(tr_logql_lex_next(&l, &t), 0); /* [5m] */
    cr_expect_eq(t.type, TR_LOGQL_T_RANGE);
    cr_expect(t.line0);
    cr_assert_eq(tr_logql_lex_next(&l, &t), 0);
    cr_expect_eq(t.type, TR_LOGQL_T_EOF);
    tr_logql_errf_at(msg, q, strlen(q), &t, "end");
    cr_expect_str_eq(msg, "parse error at line 2, col 14: end");
    tr_logql_errf_at(msg, q, strlen(q), NULL, "nowhere");
    cr_expect_str_eq(msg, "parse error : nowhere");
    tr_arena_free(&a);
}

Test(logql_lexer, durations)
{
    int64_t ns;
    char msg[TR_ERRMSG_SIZE];
    cr_expect_eq(tr_logql_parse_prom_duration("1h30m", 5, &ns, msg), 0);
    cr_expect_eq(ns, 5400LL * 1000000000);
    cr_expect_eq(tr_logql_parse_prom_duration("100ms", 5, &ns, msg), 0);
    cr_expect_eq(ns, 100000000);
    cr_expect_eq(tr_logql_parse_prom_duration("1.5h", 4, &ns, msg), TR_EINVAL);
    cr_expect_str_eq(msg, "unknown unit \".\" in duration \"1.5h\"");
    cr_expect_eq(tr_logql_parse_prom_duration("1s1m", 4, &ns, msg), TR_EINVAL);
    cr_expect_str_eq(msg, "not a valid duration string: \"1s1m\"");
    cr_expect_eq(tr_logql_parse_prom_duration("300y", 4, &ns, msg), TR_EINVAL);
    cr_expect_str_eq(msg, "duration out of range");
    cr_expect_eq(tr_logql_parse_duration("1.5h", 4, &ns, NULL), 0);
    cr_expect_eq(ns, 5400LL * 1000000000);
    cr_expect_eq(tr_logql_parse_duration("-3s", 3, &ns, NULL), 0);
    cr_expect_eq(ns, -3000000000LL);
    cr_expect_eq(tr_logql_parse_duration("2h45m0.5s", 9, &ns, NULL), 0);
    cr_expect_eq(ns, 9900500000000LL);
    cr_expect_eq(tr_logql_parse_duration("10\xc2\xb5s", 5, &ns, NULL), 0);
    cr_expect_eq(ns, 10000);
    cr_expect_eq(tr_logql_parse_duration("5", 1, &ns, NULL), TR_EINVAL);
    cr_expect_eq(tr_logql_parse_duration("1d", 2, &ns, NULL), TR_EINVAL);
    cr_expect_eq(tr_logql_parse_duration(".s", 2, &ns, NULL), TR_EINVAL);
    cr_expect_eq(tr_logql_parse_duration("3000000h", 8, &ns, NULL), TR_EINVAL);
}

Test(logql_lexer, bytes_and_floats)
{
    uint64_t b;
    cr_expect_eq(tr_logql_parse_bytes("20MB", 4, &b, NULL), 0);
    cr_expect_eq(b, 20000000);
    cr_expect_eq(tr_logql_parse_bytes("1.5 KiB", 7, &b, NULL), 0);
    cr_expect_eq(b, 1536);
    cr_expect_eq(tr_logql_parse_bytes("1,000", 5, &b, NULL), 0);
    cr_expect_eq(b, 1000);
    cr_expect_eq(tr_logql_parse_bytes("1XB", 3, &b, NULL), TR_EINVAL);
    cr_expect_eq(tr_logql_parse_bytes("KB", 2, &b, NULL), TR_EINVAL);
    cr_expect_eq(tr_logql_parse_bytes("100EB", 5, &b, NULL), TR_EINVAL);

    double v;
    char msg[TR_ERRMSG_SIZE];
    cr_expect_eq(tr_logql_parse_float("0x1p3", 5, &v, msg), 0);
    cr_expect_eq(v, 8.0);
    cr_expect_eq(tr_logql_parse_float("0x1.8p3", 7, &v, msg), 0);
    cr_expect_eq(v, 12.0);
    cr_expect_eq(tr_logql_parse_float("017", 3, &v, msg), 0);
    cr_expect_eq(v, 17.0);
    cr_expect_eq(tr_logql_parse_float(".5e1", 4, &v, msg), 0);
    cr_expect_eq(v, 5.0);
    cr_expect_eq(tr_logql_parse_float("Inf", 3, &v, msg), 0);
    cr_expect(isinf(v));
    cr_expect_eq(tr_logql_parse_float("0x10", 4, &v, msg), TR_EINVAL);
    cr_expect_str_eq(msg,
                     "strconv.ParseFloat: parsing \"0x10\": invalid syntax");
    cr_expect_eq(tr_logql_parse_float("0b1", 3, &v, msg), TR_EINVAL);
    cr_expect_eq(tr_logql_parse_float("1e", 2, &v, msg), TR_EINVAL);
    cr_expect_eq(tr_logql_parse_float("1e400", 5, &v, msg), TR_EINVAL);
    cr_expect_str_eq(
        msg, "strconv.ParseFloat: parsing \"1e400\": value out of range");
}

Test(logql_lexer, token_names)
{
    cr_expect_str_eq(tr_logql_tok_name(TR_LOGQL_T_EOF), "$end");
    cr_expect_str_eq(tr_logql_tok_name(TR_LOGQL_T_IDENTIFIER), "IDENTIFIER");
    cr_expect_str_eq(tr_logql_tok_name(TR_LOGQL_T_PIPE_EXACT), "|=");
    cr_expect_str_eq(tr_logql_tok_name(TR_LOGQL_T_IP), "ip");
    cr_expect_str_eq(tr_logql_tok_name(TR_LOGQL_T_RATE), "RATE");
    cr_expect_str_eq(tr_logql_tok_name(TR_LOGQL_T_BOOL), "bool");
}
