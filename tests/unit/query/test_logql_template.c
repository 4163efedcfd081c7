/* test_logql_template.c - the Go text/template engine of line_format and
 * label_format: syntax, Go semantics, Loki's functions, parse and
 * execution errors (formatters.logqltest and Loki's documented examples). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "query/logql/stages.h"
#include "query/logql/template.h"
#include "tests/unit/query/logql_stages_helpers.h"
#include "tests/lib/oom.h"

/* Output of src over stream labels and line at ts ns, or "ERR: <msg>". */
static const char *tplt(const char *src,
                        const char *stream,
                        const char *line,
                        int64_t ts)
{
    static char res[8192];
    char err[TR_ERRMSG_SIZE];
    struct tr_logql_template *t;
    int rc = tr_logql_template_compile("line", src, strlen(src), &t, err);
    if (rc) {
        cr_assert_eq(rc, TR_EINVAL);
        snprintf(res, sizeof(res), "PARSE: %s", err);
        return res;
    }
    struct tr_logql_lb *lb = lbh_new(stream);
    tr_logql_lb_reset(lb, ts);
    struct tr_buf out;
    tr_buf_init(&out);
    rc = tr_logql_template_exec(t, lb, S(line), &out, err);
    if (rc) {
        cr_assert_eq(rc, TR_EEXEC);
        snprintf(res, sizeof(res), "ERR: %s", err);
    } else {
        snprintf(res, sizeof(res), "%.*s", (int)out.len,
                 out.data ? out.data : "");
    }
    tr_buf_free(&out);
    tr_logql_lb_free(lb);
    tr_logql_template_free(t);
    return res;
}

static const char *tpl(const char *src, const char *stream)
{
    return tplt(src, stream, "the line", 0);
}

#define EXPECT_T(src, stream, want) \
    cr_expect_str_eq(tpl((src), (stream)), (want), "%s", (src))

Test(logql_template, fields_text_and_missing)
{
    EXPECT_T("L={{.level}}", "level=error", "L=error");
    EXPECT_T("V={{.missing}}", "level=error", "V=");
    EXPECT_T("plain text", "", "plain text");
    EXPECT_T("", "", "");
    EXPECT_T("{{.a}}{{.b}}", "a=1,b=2", "12");
    EXPECT_T("{{ .a }} and {{.b}}", "a=1,b=2", "1 and 2");
    EXPECT_T("{{.}}", "a=1,b=2", "map[a:1 b:2]");
    EXPECT_T("{{$.a}}", "a=1", "1");
    EXPECT_T("{{.__error__}}", "a=1", "");
}

Test(logql_template, pipelines_and_functions)
{
    EXPECT_T("{{.level | upper}}", "level=error", "ERROR");
    EXPECT_T("{{ .path | replace \" \" \"_\" | trunc 5 | upper }}",
             "path=a b c d e f", "A_B_C");
    EXPECT_T("{{ upper (lower .x) }}", "x=AbC", "ABC");
    EXPECT_T("{{ printf \"%s-%d\" .a 3 }}", "a=x", "x-3");
    EXPECT_T("{{ printf \"%-5.5s|\" .a }}", "a=abcdefgh", "abcde|");
    EXPECT_T("{{ printf \"%5s|\" .a }}", "a=ab", "   ab|");
    EXPECT_T("{{ printf \"%15.15s\" .a }}", "a=host", "           host");
    EXPECT_T("{{ printf \"%q\" .a }}", "a=x\"y", "\"x\\\"y\"");
    EXPECT_T(
        "{{ printf \"%x %X %05d %.2f %v %t\" 255 255 42 3.14159 1.5 true }}",
        "", "ff FF 00042 3.14 1.5 true");
    EXPECT_T("{{ printf \"%d\" \"s\" }}", "", "%!d(string=s)");
    EXPECT_T("{{ printf \"%s %s\" \"a\" }}", "", "a %!s(MISSING)");
    EXPECT_T("{{ printf \"%%\" }}", "", "%");
    EXPECT_T("{{ print \"a\" 1 2 \"b\" }}", "", "a1 2b");
    EXPECT_T("{{ println 1 \"a\" }}", "", "1 a\n");
    EXPECT_T("{{ \"x\" }}{{ 1 }}{{ 1.5 }}{{ true }}{{ 'a' }}", "",
             "x11.5true97");
    EXPECT_T("{{ `raw\\n` }}", "", "raw\\n");
    EXPECT_T("{{ \"a\\tb\\u00e9\" }}", "", "a\tb\xc3\xa9");
    EXPECT_T("{{ 0x1F }} {{ 1_000 }} {{ -3 }} {{ 1e3 }} {{ 0o17 }}", "",
             "31 1000 -3 1000 15");
    cr_expect_str_eq(tplt("{{ __line__ | lower }}", "", "HeLLo", 0), "hello");
    cr_expect_str_eq(tplt("{{ __timestamp__ }}", "", "", 1700000000123000000),
                     "2023-11-14 22:13:20.123 +0000 UTC");
    cr_expect_str_eq(
        tplt("{{ __timestamp__ | date \"2006-01-02T15:04:05.00Z07:00\" }}", "",
             "", 1700000000123000000),
        "2023-11-14T22:13:20.12Z");
    cr_expect_str_eq(
        tplt("{{ __timestamp__ | unixEpoch }}", "", "", 1700000000123000000),
        "1700000000");
    cr_expect_str_eq(tplt("{{ unixEpochMillis __timestamp__ }} {{ "
                          "unixEpochNanos __timestamp__ }}",
                          "", "", 1700000000123000000),
                     "1700000000123 1700000000123000000");
}

Test(logql_template, control_flow)
{
    EXPECT_T(
        "{{ if eq .level \"error\" }}E{{ else if eq .level \"warn\" }}W{{ else "
        "}}O{{ end }}",
        "level=warn", "W");
    EXPECT_T(
        "{{ if eq .level \"error\" }}E{{ else if eq .level \"warn\" }}W{{ else "
        "}}O{{ end }}",
        "level=info", "O");
    EXPECT_T("{{ if .a }}yes{{ end }}", "", "");
    EXPECT_T(
        "{{ if and (contains \"he\" \"hello\") (contains \"llo\" \"hello\") }} "
        "yes {{end}}",
        "", " yes ");
    EXPECT_T(
        "{{ if contains \"ErrTimeout\" .err }} timeout {{else if contains "
        "\"he\" "
        "\"hello\"}} yes {{else}} no {{end}}",
        "err=ErrTimeoutX", " timeout ");
    EXPECT_T("{{ with .a }}[{{ . }}]{{ else }}none{{ end }}", "a=v", "[v]");
    EXPECT_T("{{ with .a }}[{{ . }}]{{ else }}none{{ end }}", "", "none");
    EXPECT_T("{{ $x := .a }}{{ $x }}{{ $x = \"z\" }}{{ $x }}", "a=v", "vz");
    EXPECT_T("{{ if $y := .a }}{{ $y }}{{ end }}", "a=q", "q");
    EXPECT_T("{{ or .a \"default\" }}", "", "default");
    EXPECT_T("{{ and .a .b }}", "a=1,b=2", "2");
    EXPECT_T("{{ not .a }}", "", "true");
    EXPECT_T("{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}", "a=1,b=2",
             "a=1;b=2;");
    cr_expect_str_eq(
        tplt("{{ range $i, $q := fromJson __line__ }}{{ $i }}:{{ $q.query }} "
             "{{ end }}",
             "", "[{\"query\":\"a\"},{\"query\":\"b\"}]", 0),
        "0:a 1:b ");
    EXPECT_T("{{ range 3 }}{{ . }}{{ end }}", "", "012");
    EXPECT_T(
        "{{ range $i, $e := 5 }}{{ if eq $i 2 }}{{ break }}{{ end }}{{ $i }}{{ "
        "end }}",
        "", "01");
    EXPECT_T(
        "{{ range $i, $e := 4 }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $i "
        "}}{{ end }}",
        "", "023");
    EXPECT_T("{{ range fromJson \"[]\" }}x{{ else }}empty{{ end }}", "",
             "empty");
    /* a missing label is "", and a string cannot be ranged over */
    cr_expect(strstr(tpl("{{ range .missing }}x{{ end }}", ""),
                     "range can't iterate over"));
}

Test(logql_template, trim_markers_and_comments)
{
    EXPECT_T("a  {{- .x -}}  b", "x=1", "a1b");
    EXPECT_T("a \n {{- .x }} b", "x=1", "a1 b");
    EXPECT_T("a {{/* comment */}} b", "", "a  b");
    EXPECT_T("a {{- /* comment */ -}} b", "", "ab");
    EXPECT_T("{{-3}}", "", "-3");
    EXPECT_T("{{ \"}}\" }}", "", "}}");
}

Test(logql_template, comparisons)
{
    EXPECT_T("{{ eq 1 1 }} {{ eq \"a\" \"b\" \"a\" }} {{ ne 1 2 }}", "",
             "true true true");
    EXPECT_T("{{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1.5 2.5 }}",
             "", "true true true false");
    EXPECT_T("{{ len .a }} {{ len \"\" }}", "a=abc", "3 0");
    EXPECT_T("{{ index . \"a\" }}", "a=v", "v");
    EXPECT_T("{{ index \"abc\" 1 }}", "", "98");
    cr_expect(strstr(tpl("{{ eq .status 200 }}", "status=200"),
                     "incompatible types for comparison"));
    cr_expect(
        strstr(tpl("{{ lt true false }}", ""), "invalid type for comparison"));
}

Test(logql_template, loki_string_functions)
{
    EXPECT_T("{{ alignLeft 5 \"hello world\"}}", "", "hello");
    EXPECT_T("{{ alignLeft 5 \"hi\"}}|", "", "hi   |");
    EXPECT_T("{{ alignRight 5 \"hello world\"}}", "", "world");
    EXPECT_T("{{ alignRight 5 \"hi\"}}", "", "   hi");
    EXPECT_T("{{ .foo | b64enc }}", "foo=hello", "aGVsbG8=");
    EXPECT_T("{{ b64dec .foo }}", "foo=aGVsbG8=", "hello");
    EXPECT_T("{{ b64dec .foo }}", "foo=aGVsbG8", "hello");
    EXPECT_T("{{ b64dec \"!!!!\" }}", "",
             "illegal base64 data at input byte 0");
    EXPECT_T("{{ default \"-\" \"\" }} {{ default \"-\" \"foo\" }}", "",
             "- foo");
    EXPECT_T("{{.xff | default \"-\"}}", "", "-");
    EXPECT_T("{{ indent 4 \"a\\nb\" }}", "", "    a\n    b");
    EXPECT_T("{{ nindent 2 \"a\" }}", "", "\n  a");
    EXPECT_T("{{ repeat 3 \"hello\" }}", "", "hellohellohello");
    EXPECT_T("{{ .cluster | replace \"-cluster\" \"\" }}", "cluster=eu-cluster",
             "eu");
    EXPECT_T("{{ replace \"hello\" \"world\" \"hello world\" }}", "",
             "world world");
    EXPECT_T("{{ substr 0 5 \"hello world\"}}|{{ substr 6 11 \"hello world\"}}",
             "", "hello|world");
    EXPECT_T("{{ substr 6 100 \"hello world\"}}|{{ substr -1 2 \"abc\" }}", "",
             "world|ab");
    EXPECT_T("{{ title \"hello world\"}}", "", "Hello World");
    EXPECT_T("{{ trim \"   hello    \" }}|", "", "hello|");
    EXPECT_T("{{ trimAll \"$\" \"$5.00\" }}", "", "5.00");
    EXPECT_T(
        "{{ trimPrefix \"-\" \"-hello\" }} {{ trimSuffix \"-\" \"hello-\" }}",
        "", "hello hello");
    EXPECT_T("{{ trunc 5 \"hello world\"}}|{{ trunc -5 \"hello world\"}}", "",
             "hello|world");
    EXPECT_T("{{ upper \"hello\"}} {{ lower \"HELLO\" }}", "", "HELLO hello");
    EXPECT_T("{{ upper \"caf\xc3\xa9 \xd0\xbc\xd0\xb8\xd1\x80 \xce\xb1\" }}",
             "", "CAF\xc3\x89 \xd0\x9c\xd0\x98\xd0\xa0 \xce\x91");
    EXPECT_T("{{ lower \"\xc3\x89T\xc3\x89 \xd0\x81\" }}", "",
             "\xc3\xa9t\xc3\xa9 \xd1\x91");
    EXPECT_T("{{ .u | urlencode }}", "u=a b&c/d", "a+b%26c%2Fd");
    EXPECT_T("{{ urldecode .u }}", "u=a+b%26c%2Fd", "a b&c/d");
    cr_expect(strstr(tpl("{{ urldecode \"%zz\" }}", ""), "invalid URL escape"));
    EXPECT_T(
        "{{ contains \"he\" \"hello\" }} {{ hasPrefix \"he\" \"hello\" }} "
        "{{ hasSuffix \"lo\" \"hello\" }}",
        "", "true true true");
    EXPECT_T(
        "{{ ToLower \"AB\" }}{{ ToUpper \"cd\" }}{{ Replace \"aaa\" \"a\" "
        "\"b\" 2 }}",
        "", "abCDbba");
    EXPECT_T(
        "{{ Trim \"xxhixx\" \"x\" }}{{ TrimLeft \"xxhi\" \"x\" }}{{ TrimRight "
        "\"hixx\" \"x\" }}{{ TrimPrefix \"ab\" \"a\" }}{{ TrimSuffix \"ab\" "
        "\"b\" }}"
        "{{ TrimSpace \" s \" }}",
        "", "hihihibas");
}

Test(logql_template, regex_functions)
{
    EXPECT_T("{{ count \"a|b\" \"abab\" }} {{ count \"o\" \"foo\" }}", "",
             "4 2");
    EXPECT_T("{{ regexReplaceAll \"(a*)bc\" .s \"${1}a\" }}", "s=aabcxbc",
             "aaaxa");
    EXPECT_T("{{ regexReplaceAll \"a(x*)b\" \"-ab-axxb-\" \"$1W\" }}", "",
             "---");
    EXPECT_T("{{ regexReplaceAll \"a(?P<n>x*)b\" \"-axb-\" \"${n}W\" }}", "",
             "-xW-");
    EXPECT_T("{{ regexReplaceAllLiteral \"(ts=)\" .t \"timestamp=\" }}",
             "t=ts=1", "timestamp=1");
    EXPECT_T("{{ regexReplaceAll \"x*\" \"abc\" \"-\" }}", "", "-a-b-c-");
    cr_expect(strstr(tpl("{{ regexReplaceAll \"(\" \"a\" \"b\" }}", ""),
                     "error parsing regexp"));
}

Test(logql_template, math_functions)
{
    EXPECT_T("{{ add 3 2 5 }}", "", "10");
    EXPECT_T("{{ addf 3.5 2 5 }}", "", "10.5");
    EXPECT_T("{{ ceil 123.001 }} {{ floor 123.9999 }}", "", "124 123");
    EXPECT_T("{{ div 10 2}} {{ divf 10 2 4}}", "", "5 1.25");
    EXPECT_T("{{ \"3.5\" | float64 }} {{ \"3\" | int }}", "", "3.5 3");
    EXPECT_T(
        "{{ max 1 2 3 }} {{ maxf 1 2.5 3 }} {{ min 1 2 3 }} {{ minf 1 2.5 3 }}",
        "", "3 3 1 1");
    EXPECT_T("{{ mul 5 2 3}} {{ mulf 5.5 2 2.5 }} {{ mod 10 3}}", "",
             "30 27.5 1");
    EXPECT_T("{{ round 123.555555 3 }} {{ round 123.88571428571 5 .2 }}", "",
             "123.556 123.88572");
    EXPECT_T("{{ sub 5 2 }} {{ subf 5.5 2 1.5 }}", "", "3 2");
    EXPECT_T("{{ addf 0.1 0.2 }}", "", "0.3");
    EXPECT_T("{{ add .a .b }}", "a=3,b=4", "7");
    EXPECT_T("{{ add \"x\" 1 }}", "", "1");
    /* a float beyond int64 converts as Go does on amd64 */
    EXPECT_T("{{ add 1e30 0 }} {{ int 1e19 }}", "",
             "-9223372036854775808 -9223372036854775808");
    cr_expect(
        strstr(tpl("{{ unixToTime \" 12345678\" }}", ""), "invalid syntax"));
    EXPECT_T(
        "{{ float64 1000000 }} {{ float64 100000 }} {{ divf 1 3 }} {{ 0.00001 "
        "}}",
        "", "1e+06 100000 0.333333333333333 1e-05");
    EXPECT_T("{{ printf \"%d|%5d|%-4d|%x\" -7 3 2 -255 }}", "",
             "-7|    3|2   |-ff");
    cr_expect(strstr(tpl("{{ div 1 0 }}", ""), "integer divide by zero"));
    EXPECT_T(
        "{{ .foo | bytes }} {{ .d | duration }} {{ duration_seconds \"1m\" }}",
        "foo=1KiB,d=1h", "1024 3600 60");
    cr_expect(
        strstr(tpl("{{ duration \"x\" }}", ""), "time: invalid duration"));
}

Test(logql_template, dates_and_json)
{
    EXPECT_T("{{ toDate \"2006-01-02\" \"2021-11-02\" }}", "",
             "2021-11-02 00:00:00 +0000 UTC");
    EXPECT_T("{{ .foo | toDate \"2006-01-02T15:04:05.999999999Z\" }}",
             "foo=2021-11-02T10:11:12.5Z", "2021-11-02 10:11:12.5 +0000 UTC");
    EXPECT_T(
        "{{ toDateInZone \"2006-01-02\" \"UTC\" \"2021-11-02\" | unixEpoch }}",
        "", "1635811200");
    EXPECT_T("{{ toDate \"2006-01-02\" \"bad\" }}", "",
             "0001-01-01 00:00:00 +0000 UTC");
    EXPECT_T("{{ date \"2006-01-02\" (unixToTime .from) }}", "from=1635811200",
             "2021-11-02");
    EXPECT_T(
        "{{ date \"Jan 2, 2006 at 3:04pm (MST) Mon\" (unixToTime "
        "\"1635811200123\") }}",
        "", "Nov 2, 2021 at 12:00am (UTC) Tue");
    EXPECT_T("{{ unixToTime \"19373\" | unixEpoch }}", "", "1673827200");
    cr_expect(
        strstr(tpl("{{ unixToTime \"12\" }}", ""), "unable to parse time"));
    EXPECT_T("{{ (unixEpoch now) | len | lt 9 }}", "", "true");
    EXPECT_T("{{ fromJson \"{\\\"foo\\\": 55}\" }}", "", "map[foo:55]");
    EXPECT_T("{{ (fromJson .j).a.b }}", "j={\"a\":{\"b\":\"deep\"}}", "deep");
    EXPECT_T("{{ fromJson \"[1, \\\"x\\\", true, null]\" }}", "",
             "[1 x true <nil>]");
    EXPECT_T("{{ fromJson \"not json\" }}", "", "<nil>");
    EXPECT_T(
        "{{ index (fromJson \"[10,20]\") 1 }} {{ len (fromJson "
        "\"{\\\"a\\\":1}\") }}",
        "", "20 1");
}

static const char *perr(const char *src)
{
    static char err[TR_ERRMSG_SIZE];
    struct tr_logql_template *t = NULL;
    int rc = tr_logql_template_compile("line", src, strlen(src), &t, err);
    cr_assert_eq(rc, TR_EINVAL, "%s compiled", src);
    cr_assert_null(t);
    return err;
}

Test(logql_template, parse_errors)
{
    cr_expect_str_eq(perr("{{ nosuchfunc }}"),
                     "template: line:1: function \"nosuchfunc\" not defined");
    cr_expect_str_eq(perr("{{"), "template: line:1: unclosed action");
    cr_expect_str_eq(perr("a\n{{ .a "), "template: line:2: unclosed action");
    cr_expect(strstr(perr("{{ end }}"), "unexpected {{end}}"));
    cr_expect(strstr(perr("{{ if .a }}x"), "unexpected EOF"));
    cr_expect(strstr(perr("{{ if }}x{{ end }}"), "missing value for if"));
    cr_expect(strstr(perr("{{ $x }}"), "undefined variable \"$x\""));
    cr_expect(strstr(perr("{{ \"abc }}"), "unterminated quoted string"));
    cr_expect(strstr(perr("{{ (upper \"a\" }}"), "unclosed left paren"));
    cr_expect(strstr(perr("{{ upper \"a\") }}"), "unexpected right paren"));
    cr_expect(
        strstr(perr("{{ .a | \"x\" }}"), "non executable command in pipeline"));
    cr_expect(strstr(perr("{{ }}"), "missing value for command"));
    cr_expect(strstr(perr("{{ nil }}"), "nil is not a command"));
    cr_expect(strstr(perr("{{ else }}"), "unexpected {{else}}"));
    cr_expect(strstr(perr("{{ 1x }}"), "bad number syntax"));
    cr_expect(strstr(perr("{{ define \"x\" }}{{ end }}"), "not supported"));
    cr_expect(strstr(perr("{{/* open"), "unclosed comment"));
    cr_expect(strstr(perr("{{ .a | }}"), "missing command after pipe"));
    /* a variable is only visible inside its block */
    cr_expect(strstr(perr("{{ if true }}{{ $v := 1 }}{{ end }}{{ $v }}"),
                     "undefined variable"));
}

Test(logql_template, exec_errors)
{
    cr_expect_str_eq(
        tpl("{{ .a.b }}", "a=x"),
        "ERR: template: line:1:3: executing \"line\" at <.a.b>: can't "
        "evaluate field b in type string");
    cr_expect(
        strstr(tpl("{{ div 1 0 }}", ""), "executing \"line\" at <div 1 0>"));
    cr_expect(strstr(tpl("{{ upper 1 }}", ""),
                     "wrong type for value; expected string; got int"));
    cr_expect(
        strstr(tpl("{{ trunc \"a\" \"b\" }}", ""), "expected int; got string"));
    cr_expect(strstr(tpl("{{ upper }}", ""),
                     "wrong number of args for upper: want 1 got 0"));
    cr_expect(
        strstr(tpl("{{ .a 1 }}", ""), "can't give argument to non-function"));
    cr_expect(
        strstr(tpl("{{ repeat 100000000 \"abcdef\" }}", ""), "too large"));
    cr_expect(
        strstr(tpl("{{ range .a }}{{ end }}", "a=x"), "range can't iterate"));
}

Test(logql_template, simple_key)
{
    struct tr_logql_template *t;
    cr_assert_eq(
        tr_logql_template_compile("line", "{{.message}}", 12, &t, NULL), 0);
    cr_expect(tr_slice_eq_cstr(tr_logql_template_simple_key(t), "message"));
    tr_logql_template_free(t);
    cr_assert_eq(tr_logql_template_compile("line", "{{.a}}x", 7, &t, NULL), 0);
    cr_expect_eq(tr_logql_template_simple_key(t).len, 0);
    tr_logql_template_free(t);
}

/* ---- line_format / label_format stages ---------------------------------- */

static struct tr_logql_template *ct(const char *name, const char *src)
{
    struct tr_logql_template *t;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_logql_template_compile(name, src, strlen(src), &t, err), 0,
                 "%s", err);
    return t;
}

Test(logql_template, line_format_stage)
{
    struct tr_logql_template *t = ct("line", "L={{.level}}");
    struct tr_logql_lb *lb = lbh_new("app=a,level=error");
    struct tr_slice line = S("x");
    cr_expect(tr_logql_line_format(t, lb, &line));
    cr_expect(tr_slice_eq_cstr(line, "L=error"));
    LBH_EXPECT(lb, "{app=\"a\", level=\"error\"}");
    tr_logql_template_free(t);
    /* simple key: the value or an empty line */
    t = ct("line", "{{.level}}");
    line = S("x");
    tr_logql_line_format(t, lb, &line);
    cr_expect(tr_slice_eq_cstr(line, "error"));
    tr_logql_template_free(t);
    t = ct("line", "{{.nope}}");
    tr_logql_line_format(t, lb, &line);
    cr_expect_eq(line.len, 0);
    tr_logql_template_free(t);
    /* escape codes from printf */
    t = ct("line", "{{ printf \"\\x1b[31m%s\\x1b[0m\" .level }}");
    line = S("x");
    tr_logql_line_format(t, lb, &line);
    cr_expect_eq(line.len, 14);
    tr_logql_decolorize(lb, &line);
    cr_expect(tr_slice_eq_cstr(line, "error"));
    tr_logql_template_free(t);
    /* an execution error keeps the line and sets TemplateFormatErr */
    t = ct("line", "{{ div 1 0 }}");
    line = S("orig");
    tr_logql_line_format(t, lb, &line);
    cr_expect(tr_slice_eq_cstr(line, "orig"));
    cr_expect(tr_slice_eq_cstr(tr_logql_lb_err(lb), "TemplateFormatErr"));
    cr_expect(
        strstr(tr_logql_lb_err_details(lb).base, "integer divide by zero"));
    tr_logql_template_free(t);
    tr_logql_lb_free(lb);
}

Test(logql_template, label_format_stage)
{
    struct tr_logql_lb *lb = lbh_new("app=a,method=get");
    struct tr_logql_label_fmt_operand ren = {"verb", "method", NULL};
    tr_logql_label_format(&ren, 1, lb, S("msg"));
    cr_expect_str_eq(lbh_str_cat(lb, true), "{app=\"a\"s, verb=\"get\"p}");
    tr_logql_lb_reset(lb, 0);
    /* renaming a missing label does nothing */
    struct tr_logql_label_fmt_operand ren2 = {"x", "nope", NULL};
    tr_logql_label_format(&ren2, 1, lb, S("msg"));
    LBH_EXPECT(lb, "{app=\"a\", method=\"get\"}");

    struct tr_logql_template *t1 = ct("label", "{{.method}}-ok");
    struct tr_logql_template *t2 = ct("label", "{{.method}}!");
    struct tr_logql_label_fmt_operand f1 = {"route", NULL, t1};
    tr_logql_label_format(&f1, 1, lb, S("msg"));
    LBH_EXPECT(lb, "{app=\"a\", method=\"get\", route=\"get-ok\"}");
    tr_logql_lb_reset(lb, 0);
    struct tr_logql_label_fmt_operand f2 = {"method", NULL, t2};
    tr_logql_label_format(&f2, 1, lb, S("msg"));
    LBH_EXPECT(lb, "{app=\"a\", method=\"get!\"}");
    tr_logql_lb_reset(lb, 0);
    /* every template sees the labels as of the first template */
    struct tr_logql_label_fmt_operand both[2] = {{"method", NULL, t2},
                                                 {"route", NULL, t1}};
    tr_logql_label_format(both, 2, lb, S("msg"));
    LBH_EXPECT(lb, "{app=\"a\", method=\"get!\", route=\"get-ok\"}");
    tr_logql_template_free(t1);
    tr_logql_template_free(t2);
    /* __line__ inside label_format */
    tr_logql_lb_reset(lb, 0);
    struct tr_logql_template *t3 = ct("label", "{{ __line__ }}");
    struct tr_logql_label_fmt_operand f3 = {"l", NULL, t3};
    tr_logql_label_format(&f3, 1, lb, S("the line"));
    LBH_EXPECT(lb, "{app=\"a\", l=\"the line\", method=\"get\"}");
    tr_logql_template_free(t3);
    tr_logql_lb_free(lb);

    char err[TR_ERRMSG_SIZE];
    struct tr_logql_label_fmt_operand dup[2] = {{"a", "b", NULL},
                                                {"a", "c", NULL}};
    cr_expect_eq(tr_logql_label_format_check(dup, 2, err), TR_EINVAL);
    cr_expect(strstr(err, "multiple label name 'a' not allowed"));
    struct tr_logql_label_fmt_operand er = {"__error__", "b", NULL};
    cr_expect_eq(tr_logql_label_format_check(&er, 1, err), TR_EINVAL);
    cr_expect(strstr(err, "__error__ cannot be formatted"));
    cr_expect_eq(tr_logql_label_format_check(dup, 1, err), 0);
    struct tr_logql_template *bad = NULL;
    cr_expect_eq(tr_logql_template_compile("label", "{{", 2, &bad, err),
                 TR_EINVAL);
    cr_expect_str_eq(err, "template: label:1: unclosed action");
}

/* ---- out of memory ---------------------------------------------------- */

Test(logql_template, out_of_memory_everywhere)
{
    const char *src =
        "{{ range $k, $v := . }}{{ $k | upper }}={{ printf \"%q\" $v }} {{ end "
        "}}"
        "{{ .level | replace \"e\" \"E\" | b64enc }} {{ fromJson __line__ }}";
    const char *line = "{\"a\":{\"b\":[1,2]},\"c\":\"d\",\"_entry\":\"x=1\"}";
    tr_test_oom_install(1000);
    int ok = 0;
    for (int budget = 0; budget < 120; budget++) {
        char err[TR_ERRMSG_SIZE];
        struct tr_logql_template *t = NULL;
        struct tr_logql_parser *p = NULL, *u = NULL;
        struct tr_logql_lb *lb = NULL;
        tr_test_oom_budget(budget);
        int rc = tr_logql_template_compile("line", src, strlen(src), &t, err);
        cr_assert(rc == 0 || rc == TR_ENOMEM, "budget %d: %d", budget, rc);
        if (rc == 0 && tr_logql_lb_new(&lb) == 0) {
            struct tr_logql_label st = {S("level"), S("error"), 0};
            if (tr_logql_lb_set_stream(lb, &st, 1) == 0) {
                tr_logql_lb_reset(lb, 0);
                struct tr_buf out;
                tr_buf_init(&out);
                rc = tr_logql_template_exec(t, lb, S(line), &out, err);
                cr_assert(rc == 0 || rc == TR_ENOMEM, "budget %d: %d %s",
                          budget, rc, err);
                if (rc == 0) {
                    ok++;
                }
                tr_buf_free(&out);
                if (tr_logql_parser_new_json(NULL, 0, &p, NULL) == 0 &&
                    tr_logql_parser_new_unpack(&u) == 0) {
                    struct tr_slice l = S(line);
                    tr_logql_parser_process(p, lb, &l);
                    tr_logql_parser_process(u, lb, &l);
                    struct tr_logql_label *ls;
                    size_t n;
                    tr_logql_lb_labels(lb, &ls, &n);
                    for (size_t i = 1; i < n; i++) {
                        cr_assert(tr_slice_cmp(ls[i - 1].name, ls[i].name) < 0);
                    }
                }
            }
        }
        tr_logql_parser_free(p);
        tr_logql_parser_free(u);
        tr_logql_lb_free(lb);
        tr_logql_template_free(t);
    }
    tr_test_oom_remove();
    cr_expect_gt(ok, 0);
}
