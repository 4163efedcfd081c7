/* test_logql_parsers.c - LogQL parser stages: json (plain and with
 * expressions), logfmt (strict, keep-empty, expressions), regexp, pattern,
 * unpack (parsers.logqltest cases and Loki's edge cases). */
#include <criterion/criterion.h>
#include <string.h>

#include "lib/err.h"
#include "query/logql/stages.h"
#include "tests/unit/query/logql_stages_helpers.h"

/* Runs p over line on a fresh builder with stream labels and metadata;
 * returns the final labels text (and the line in *out_line when set). */
static const char *run(struct tr_logql_parser *p,
                       const char *stream,
                       const char *meta,
                       const char *line,
                       char *out_line)
{
    struct tr_logql_lb *lb = lbh_new(stream);
    lbh_meta(lb, meta);
    struct tr_slice l = tr_slice_cstr(line);
    cr_assert(tr_logql_parser_process(p, lb, &l));
    static char buf[4096];
    snprintf(buf, sizeof(buf), "%s", lbh_str(lb));
    if (out_line) {
        snprintf(out_line, 1024, "%.*s", (int)l.len, l.base);
    }
    tr_logql_lb_free(lb);
    return buf;
}

static struct tr_logql_parser *json(void)
{
    struct tr_logql_parser *p;
    cr_assert_eq(tr_logql_parser_new_json(NULL, 0, &p, NULL), 0);
    return p;
}

Test(logql_stages_parsers, json_basic)
{
    struct tr_logql_parser *p = json();
    cr_expect_str_eq(
        run(p, "app=a", "", "{\"level\":\"info\",\"status\":200}", NULL),
        "{app=\"a\", level=\"info\", status=\"200\"}");
    cr_expect_str_eq(
        run(p, "app=a", "",
            "{\"lvl\":\"warn\",\"obj\":{\"x\":1,\"y\":{\"z\":2}},\"ok\":true,"
            "\"no\":false,\"nil\":null,\"arr\":[1,2],\"f\":1.5}",
            NULL),
        "{app=\"a\", f=\"1.5\", lvl=\"warn\", no=\"false\", obj_x=\"1\", "
        "obj_y_z=\"2\", ok=\"true\"}");
    cr_expect_str_eq(run(p, "app=a,level=stream", "",
                         "{\"level\":\"parsed\",\"a.b\":1,\"dup\":\"first\","
                         "\"dup\":\"second\"}",
                         NULL),
                     "{a_b=\"1\", app=\"a\", dup=\"first\", level=\"stream\", "
                     "level_extracted=\"parsed\"}");
    tr_logql_parser_free(p);
}

Test(logql_stages_parsers, json_edge_cases)
{
    struct tr_logql_parser *p = json();
    /* escapes, unicode, a leading digit, spaces in keys */
    cr_expect_str_eq(
        run(p, "", "",
            "{\"msg\":\"a\\\"b\\n\\u00e9\",\"9x\":1,\" k y \":2,"
            "\"n\":{\" \":{\"z\":3}}}",
            NULL),
        "{_9x=\"1\", k_y=\"2\", msg=\"a\"b\n\xc3\xa9\", n_z=\"3\"}");
    /* nested keys: only the first part gets "_" for a leading digit */
    cr_expect_str_eq(
        run(p, "", "", "{\"a\":{\"1b\":1},\"2c\":{\"d\":2}}", NULL),
        "{_2c_d=\"2\", a_1b=\"1\"}");
    /* collision of a nested key with a stream label */
    cr_expect_str_eq(run(p, "obj_x=s", "", "{\"obj\":{\"x\":1}}", NULL),
                     "{obj_x=\"s\", obj_x_extracted=\"1\"}");
    /* metadata collision */
    cr_expect_str_eq(run(p, "", "m=meta", "{\"m\":\"p\"}", NULL),
                     "{m=\"meta\", m_extracted=\"p\"}");
    /* arrays of objects are skipped; text after the object is ignored */
    cr_expect_str_eq(
        run(p, "", "", " {\"a\":[{\"b\":1}],\"c\":\"d\"} tail", NULL),
        "{c=\"d\"}");
    cr_expect_str_eq(run(p, "", "", "{}", NULL), "{}");
    /* a lone surrogate and invalid UTF-8 become spaces */
    cr_expect_str_eq(
        run(p, "", "", "{\"a\":\"x\\ud800y\",\"b\":\"\xff\"}", NULL),
        "{a=\"x y\", b=\" \"}");
    tr_logql_parser_free(p);
}

Test(logql_stages_parsers, json_errors)
{
    struct tr_logql_parser *p = json();
    cr_expect_str_eq(run(p, "app=a", "", "broken", NULL),
                     "{__error__=\"JSONParserErr\", __error_details__=\"Value "
                     "looks like object, but can't find closing '}' symbol\", "
                     "app=\"a\"}");
    /* labels found before the error stay */
    const char *r = run(p, "", "", "{\"a\":1,\"b\":", NULL);
    cr_expect(strstr(r, "a=\"1\""), "%s", r);
    cr_expect(strstr(r, "__error__=\"JSONParserErr\""), "%s", r);
    r = run(p, "", "", "{\"a\":tru}", NULL);
    cr_expect(strstr(r, "JSONParserErr"), "%s", r);
    r = run(p, "", "", "[1,2]", NULL);
    cr_expect(strstr(r, "JSONParserErr"), "%s", r);
    r = run(p, "", "", "", NULL);
    cr_expect(strstr(r, "JSONParserErr"), "%s", r);
    r = run(p, "", "", "{\"a\":\"unterminated}", NULL);
    cr_expect(strstr(r, "JSONParserErr"), "%s", r);
    /* very deep nesting is an error, not a crash */
    char deep[1200];
    size_t o = 0;
    for (int i = 0; i < 100; i++) {
        o += (size_t)snprintf(deep + o, sizeof(deep) - o, "{\"a\":");
    }
    snprintf(deep + o, sizeof(deep) - o, "1");
    r = run(p, "", "", deep, NULL);
    cr_expect(strstr(r, "JSONParserErr"), "%s", r);
    tr_logql_parser_free(p);
}

static struct tr_logql_parser *json_expr(const char *l1,
                                         const char *e1,
                                         const char *l2,
                                         const char *e2)
{
    struct tr_logql_extract_expr ex[2] = {{l1, e1, strlen(e1)},
                                          {l2, e2, e2 ? strlen(e2) : 0}};
    struct tr_logql_parser *p;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_logql_parser_new_json(ex, l2 ? 2 : 1, &p, err), 0, "%s",
                 err);
    return p;
}

Test(logql_stages_parsers, json_expressions)
{
    const char *line =
        "{\"user\":{\"id\":\"u1\",\"name\":\"alice\"},\"tags\":[\"x\",\"y\"],"
        "\"n\":null,\"o\":{\"k\":[1]},\"a b\":\"sp\"}";
    struct tr_logql_parser *p = json_expr("who", "user.id", "tag", "tags[0]");
    cr_expect_str_eq(run(p, "app=a", "", line, NULL),
                     "{app=\"a\", tag=\"x\", who=\"u1\"}");
    tr_logql_parser_free(p);
    p = json_expr("age", "user.age", NULL, NULL);
    cr_expect_str_eq(run(p, "app=a", "", line, NULL), "{age=\"\", app=\"a\"}");
    tr_logql_parser_free(p);
    p = json_expr("t", "tags[1]", "obj", "o");
    cr_expect_str_eq(run(p, "", "", line, NULL),
                     "{obj=\"{\"k\":[1]}\", t=\"y\"}");
    tr_logql_parser_free(p);
    p = json_expr("nn", "n", "sp", "[\"a b\"]");
    cr_expect_str_eq(run(p, "", "", line, NULL), "{nn=\"\", sp=\"sp\"}");
    tr_logql_parser_free(p);
    p = json_expr("t", "tags", "x", "user[\"name\"]");
    cr_expect_str_eq(run(p, "", "", line, NULL),
                     "{t=\"[\"x\",\"y\"]\", x=\"alice\"}");
    tr_logql_parser_free(p);
    /* a stream label of the same name: _extracted */
    p = json_expr("who", "user.id", NULL, NULL);
    cr_expect_str_eq(run(p, "who=s", "", line, NULL),
                     "{who=\"s\", who_extracted=\"u1\"}");
    cr_expect_str_eq(run(p, "", "", "not json", NULL),
                     "{__error__=\"JSONParserErr\"}");
    tr_logql_parser_free(p);
    struct tr_logql_extract_expr bad = {"bad", "user[", 5};
    char err[TR_ERRMSG_SIZE];
    cr_expect_eq(tr_logql_parser_new_json(&bad, 1, &p, err), TR_EINVAL);
    cr_expect(strstr(err, "cannot parse expression [user[]"), "%s", err);
    struct tr_logql_extract_expr bad2 = {"bad", "a.0", 3};
    cr_expect_eq(tr_logql_parser_new_json(&bad2, 1, &p, err), TR_EINVAL);
    struct tr_logql_extract_expr bad3 = {"1bad", "a", 1};
    cr_expect_eq(tr_logql_parser_new_json(&bad3, 1, &p, err), TR_EINVAL);
    cr_expect(strstr(err, "invalid extracted label name '1bad'"), "%s", err);
}

static struct tr_logql_parser *logfmt(bool strict, bool keep_empty)
{
    struct tr_logql_parser *p;
    cr_assert_eq(
        tr_logql_parser_new_logfmt(strict, keep_empty, NULL, 0, &p, NULL), 0);
    return p;
}

Test(logql_stages_parsers, logfmt_basic_and_edges)
{
    struct tr_logql_parser *p = logfmt(false, false);
    cr_expect_str_eq(run(p, "app=a", "", "level=info status=200", NULL),
                     "{app=\"a\", level=\"info\", status=\"200\"}");
    const char *line =
        "a-b=1 9x=2 dup=first dup=second msg=\"hi there\" empty=";
    cr_expect_str_eq(run(p, "app=a", "", line, NULL),
                     "{_9x=\"2\", a_b=\"1\", app=\"a\", dup=\"first\", "
                     "msg=\"hi there\"}");
    tr_logql_parser_free(p);
    p = logfmt(false, true);
    cr_expect_str_eq(run(p, "app=a", "", line, NULL),
                     "{_9x=\"2\", a_b=\"1\", app=\"a\", dup=\"first\", "
                     "empty=\"\", msg=\"hi there\"}");
    /* a bare key is a key with an empty value */
    cr_expect_str_eq(run(p, "", "", "flag x=1", NULL), "{flag=\"\", x=\"1\"}");
    tr_logql_parser_free(p);
    p = logfmt(false, false);
    cr_expect_str_eq(run(p, "", "", "msg=\"a \\\"q\\\" \\u00e9\" t=1", NULL),
                     "{msg=\"a \"q\" \xc3\xa9\", t=\"1\"}");
    /* clashes follow stream > metadata > parsed */
    cr_expect_str_eq(
        run(p, "app=a,sl=s,sm=s,tri=s", "md=m,sm=m,tri=m", "sl=p md=p tri=p",
            NULL),
        "{app=\"a\", md=\"m\", md_extracted=\"p\", sl=\"s\", "
        "sl_extracted=\"p\", sm=\"s\", sm_extracted=\"m\", tri=\"s\", "
        "tri_extracted=\"p\"}");
    tr_logql_parser_free(p);
}

Test(logql_stages_parsers, logfmt_malformed_and_strict)
{
    struct tr_logql_parser *p = logfmt(false, false);
    cr_expect_str_eq(run(p, "app=a", "", "good=1 bad=\"unterminated", NULL),
                     "{app=\"a\", good=\"1\"}");
    /* the quoted value ends at its quote: "g" is then a bare key */
    cr_expect_str_eq(run(p, "", "", "=x a=1 b=c=d e=\"f\"g h=2", NULL),
                     "{a=\"1\", e=\"f\", h=\"2\"}");
    tr_logql_parser_free(p);
    p = logfmt(true, false);
    cr_expect_str_eq(
        run(p, "app=a", "", "good=1 bad=\"unterminated", NULL),
        "{__error__=\"LogfmtParserErr\", __error_details__=\"logfmt "
        "syntax error at pos 25 : unterminated quoted value\", "
        "app=\"a\", good=\"1\"}");
    const char *r = run(p, "", "", "a=1 =x b=2", NULL);
    cr_expect(strstr(r, "LogfmtParserErr"), "%s", r);
    cr_expect(strstr(r, "unexpected '='"), "%s", r);
    cr_expect(!strstr(r, "b="), "%s", r);
    cr_expect_str_eq(run(p, "", "", "a=1 b=2", NULL), "{a=\"1\", b=\"2\"}");
    tr_logql_parser_free(p);
}

Test(logql_stages_parsers, logfmt_expressions)
{
    struct tr_logql_extract_expr ex[2] = {{"level", "level", 5},
                                          {"code", "status", 6}};
    struct tr_logql_parser *p;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_logql_parser_new_logfmt(false, false, ex, 2, &p, err), 0);
    cr_expect_str_eq(run(p, "app=a", "", "level=info status=200 msg=hi", NULL),
                     "{app=\"a\", code=\"200\", level=\"info\"}");
    /* absent keys still get an empty label */
    cr_expect_str_eq(run(p, "app=a", "", "msg=hi", NULL),
                     "{app=\"a\", code=\"\", level=\"\"}");
    /* a stream label of the same name */
    cr_expect_str_eq(run(p, "level=s", "", "level=info", NULL),
                     "{code=\"\", level=\"s\", level_extracted=\"info\"}");
    tr_logql_parser_free(p);
    struct tr_logql_extract_expr bad = {"x", "a b", 3};
    cr_expect_eq(tr_logql_parser_new_logfmt(false, false, &bad, 1, &p, err),
                 TR_EINVAL);
    cr_expect(strstr(err, "cannot parse expression"), "%s", err);
}

static struct tr_logql_parser *re(const char *s)
{
    struct tr_logql_parser *p;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_logql_parser_new_regexp(s, strlen(s), &p, err), 0, "%s",
                 err);
    return p;
}

static const char *re_err(const char *s)
{
    static char err[TR_ERRMSG_SIZE];
    struct tr_logql_parser *p = NULL;
    cr_assert_eq(tr_logql_parser_new_regexp(s, strlen(s), &p, err), TR_EINVAL);
    return err;
}

Test(logql_stages_parsers, regexp)
{
    struct tr_logql_parser *p =
        re("(?P<method>\\w+) (?P<path>\\S+) (?P<status>\\d+)");
    cr_expect_str_eq(
        run(p, "app=a", "", "GET /home 200", NULL),
        "{app=\"a\", method=\"GET\", path=\"/home\", status=\"200\"}");
    tr_logql_parser_free(p);
    p = re("(?P<num>\\d+)");
    cr_expect_str_eq(run(p, "app=a,method=stream", "", "PUT /x", NULL),
                     "{app=\"a\", method=\"stream\"}");
    tr_logql_parser_free(p);
    p = re("(?P<method>\\w+) (?P<path>\\S+)");
    cr_expect_str_eq(run(p, "app=a,method=stream", "", "PUT /x", NULL),
                     "{app=\"a\", method=\"stream\", method_extracted=\"PUT\", "
                     "path=\"/x\"}");
    tr_logql_parser_free(p);
    /* unnamed groups are ignored; an unmatched optional group is "" */
    p = re("(a)(?<b>b)?(?P<c>c)");
    cr_expect_str_eq(run(p, "", "", "xac", NULL), "{b=\"\", c=\"c\"}");
    tr_logql_parser_free(p);
    cr_expect(strstr(re_err("nocapture"),
                     "at least one named capture must be supplied"));
    cr_expect(
        strstr(re_err("(x)"), "at least one named capture must be supplied"));
    cr_expect(strstr(re_err("(?P<x>.)(?P<x>.)"),
                     "duplicate extracted label name 'x'"));
    cr_expect(strstr(re_err("("), "error parsing regexp"));
}

static struct tr_logql_parser *pat(const char *s)
{
    struct tr_logql_parser *p;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_logql_parser_new_pattern(s, strlen(s), &p, err), 0, "%s",
                 err);
    return p;
}

Test(logql_stages_parsers, pattern)
{
    struct tr_logql_parser *p = pat("<method> <path> <status>");
    cr_expect_str_eq(
        run(p, "app=a", "", "GET /home 200", NULL),
        "{app=\"a\", method=\"GET\", path=\"/home\", status=\"200\"}");
    tr_logql_parser_free(p);
    p = pat("<method> <_> <status>");
    cr_expect_str_eq(run(p, "app=a", "", "GET /home 200", NULL),
                     "{app=\"a\", method=\"GET\", status=\"200\"}");
    tr_logql_parser_free(p);
    p = pat("<method> <path>");
    cr_expect_str_eq(
        run(p, "app=a,method=stream", "", "POST", NULL),
        "{app=\"a\", method=\"stream\", method_extracted=\"POST\"}");
    tr_logql_parser_free(p);
    /* a leading literal must start the line */
    p = pat("[<level>] <msg>");
    cr_expect_str_eq(run(p, "", "", "[warn] disk full", NULL),
                     "{level=\"warn\", msg=\"disk full\"}");
    cr_expect_str_eq(run(p, "", "", "x [warn] disk", NULL), "{}");
    tr_logql_parser_free(p);
    struct tr_logql_parser *q;
    char err[TR_ERRMSG_SIZE];
    cr_expect_eq(tr_logql_parser_new_pattern("no captures here", 16, &q, err),
                 TR_EINVAL);
    cr_expect(strstr(err, "at least one capture is required"));
}

Test(logql_stages_parsers, unpack)
{
    struct tr_logql_parser *p;
    cr_assert_eq(tr_logql_parser_new_unpack(&p), 0);
    char line[1024];
    cr_expect_str_eq(run(p, "app=a", "",
                         "{\"lvl\":\"info\",\"cluster\":\"eu\",\"num\":5,"
                         "\"_entry\":\"real message\"}",
                         line),
                     "{app=\"a\", cluster=\"eu\", lvl=\"info\"}");
    cr_expect_str_eq(line, "real message");
    cr_expect_str_eq(run(p, "app=a,lvl=stream", "",
                         "{\"lvl\":\"packed\",\"_entry\":\"code=42\"}", line),
                     "{app=\"a\", lvl=\"stream\", lvl_extracted=\"packed\"}");
    cr_expect_str_eq(line, "code=42");
    /* without _entry nothing is set and the line stays */
    cr_expect_str_eq(run(p, "", "", "{\"a\":\"b\"}", line), "{}");
    cr_expect_str_eq(line, "{\"a\":\"b\"}");
    cr_expect_str_eq(
        run(p, "app=a", "", "not json", line),
        "{__error__=\"JSONParserErr\", __error_details__=\"expecting "
        "json object(6), but it is not\", app=\"a\"}");
    cr_expect_str_eq(line, "not json");
    const char *r = run(p, "", "", "{\"a\":\"b\"", line);
    cr_expect(strstr(r, "JSONParserErr"), "%s", r);
    cr_expect_str_eq(run(p, "", "", "", line), "{}");
    tr_logql_parser_free(p);
}

Test(logql_stages_parsers, unpack_then_logfmt)
{
    struct tr_logql_parser *u, *l;
    cr_assert_eq(tr_logql_parser_new_unpack(&u), 0);
    l = logfmt(false, false);
    struct tr_logql_lb *lb = lbh_new("app=a,lvl=stream");
    struct tr_slice line = S("{\"lvl\":\"packed\",\"_entry\":\"code=42\"}");
    tr_logql_parser_process(u, lb, &line);
    tr_logql_parser_process(l, lb, &line);
    LBH_EXPECT(
        lb,
        "{app=\"a\", code=\"42\", lvl=\"stream\", lvl_extracted=\"packed\"}");
    tr_logql_lb_free(lb);
    tr_logql_parser_free(u);
    tr_logql_parser_free(l);
}
