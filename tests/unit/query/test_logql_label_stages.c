/* test_logql_label_stages.c - LogQL drop, keep and decolorize
 * (formatters.logqltest cases). */
#include <criterion/criterion.h>
#include <string.h>

#include "lib/err.h"
#include "lib/matcher.h"
#include "query/logql/stages.h"
#include "tests/unit/query/logql_stages_helpers.h"

static struct tr_matcher mm(enum tr_match_type t, const char *n, const char *v)
{
    struct tr_matcher m;
    cr_assert_eq(tr_matcher_init(&m, t, n, v, strlen(v), NULL), 0);
    return m;
}

Test(logql_stages_label_stages, drop_names_and_matchers)
{
    struct tr_logql_lb *lb = lbh_new("app=a,code=500,zone=eu");
    struct tr_logql_name_match ops[2] = {{"code", NULL}, {"zone", NULL}};
    tr_logql_drop(lb, ops, 2);
    LBH_EXPECT(lb, "{app=\"a\"}");
    tr_logql_lb_free(lb);

    struct tr_matcher m = mm(TR_MATCH_EQ, "code", "500");
    struct tr_logql_name_match op = {NULL, &m};
    lb = lbh_new("app=a,code=500,zone=eu");
    tr_logql_drop(lb, &op, 1);
    LBH_EXPECT(lb, "{app=\"a\", zone=\"eu\"}");
    tr_logql_lb_free(lb);
    lb = lbh_new("app=a,code=200,zone=eu");
    tr_logql_drop(lb, &op, 1);
    LBH_EXPECT(lb, "{app=\"a\", code=\"200\", zone=\"eu\"}");
    tr_logql_lb_free(lb);
    tr_matcher_free(&m);

    /* parsed labels and the error pair */
    lb = lbh_new("app=a");
    tr_logql_lb_set_extracted(lb, S("p"), S("1"));
    tr_logql_lb_set_err(lb, TR_LOGQL_ERR_JSON);
    tr_logql_lb_set_err_details(lb, "d", 1);
    struct tr_logql_name_match e[3] = {
        {"p", NULL}, {"__error__", NULL}, {"missing", NULL}};
    tr_logql_drop(lb, e, 3);
    LBH_EXPECT(lb, "{__error_details__=\"d\", app=\"a\"}");
    struct tr_matcher md = mm(TR_MATCH_RE, "__error_details__", "d|e");
    struct tr_logql_name_match opd = {NULL, &md};
    tr_logql_drop(lb, &opd, 1);
    LBH_EXPECT(lb, "{app=\"a\"}");
    tr_matcher_free(&md);
    tr_logql_lb_free(lb);
}

Test(logql_stages_label_stages, keep)
{
    struct tr_logql_lb *lb = lbh_new("app=a,code=500,zone=eu");
    struct tr_logql_name_match one = {"zone", NULL};
    tr_logql_keep(lb, &one, 1);
    LBH_EXPECT(lb, "{zone=\"eu\"}");
    tr_logql_lb_free(lb);

    lb = lbh_new("app=a,code=500,zone=eu");
    struct tr_logql_name_match two[2] = {{"code", NULL}, {"zone", NULL}};
    tr_logql_keep(lb, two, 2);
    LBH_EXPECT(lb, "{code=\"500\", zone=\"eu\"}");
    tr_logql_lb_free(lb);

    struct tr_matcher m = mm(TR_MATCH_EQ, "code", "500");
    struct tr_logql_name_match op = {NULL, &m};
    lb = lbh_new("app=a,code=500,zone=eu");
    tr_logql_keep(lb, &op, 1);
    LBH_EXPECT(lb, "{code=\"500\"}");
    tr_logql_lb_free(lb);
    lb = lbh_new("app=a,code=200,zone=eu");
    tr_logql_keep(lb, &op, 1);
    LBH_EXPECT(lb, "{}");
    tr_logql_lb_free(lb);
    tr_matcher_free(&m);

    /* the error labels always stay; parsed and metadata labels go too */
    lb = lbh_new("app=a");
    lbh_meta(lb, "m=1");
    tr_logql_lb_set_extracted(lb, S("p"), S("2"));
    tr_logql_lb_set_err(lb, "E");
    tr_logql_keep(lb, &one, 1);
    LBH_EXPECT(lb, "{__error__=\"E\"}");
    tr_logql_lb_free(lb);
}

static const char *decolor(const char *in)
{
    static char out[256];
    struct tr_logql_lb *lb = lbh_new("");
    struct tr_slice l = S(in);
    cr_assert(tr_logql_decolorize(lb, &l));
    snprintf(out, sizeof(out), "%.*s", (int)l.len, l.base);
    tr_logql_lb_free(lb);
    return out;
}

Test(logql_stages_label_stages, decolorize)
{
    cr_expect_str_eq(decolor("plaintext"), "plaintext");
    cr_expect_str_eq(decolor("\x1b[31mhello\x1b[0m"), "hello");
    cr_expect_str_eq(decolor("\x1b[1;32mok\x1b[m done"), "ok done");
    cr_expect_str_eq(decolor("a\x1b[38;5;196mred\x1b[39mb"), "aredb");
    cr_expect_str_eq(decolor("\x1b]0;title\x07rest"), "rest");
    cr_expect_str_eq(decolor("\xc2\x9b"
                             "31mcsi"),
                     "csi");
    cr_expect_str_eq(decolor("\x1b[2K\x1b[1Gline"), "line");
    /* a lone ESC that starts no sequence stays */
    cr_expect_str_eq(decolor("a\x1b b"), "a\x1b b");
    cr_expect_str_eq(decolor("caf\xc3\xa9"), "caf\xc3\xa9");
    /* \d{1,4} then a final digit: the m is left over */
    cr_expect_str_eq(decolor("\x1b[12345m"), "m");
}
