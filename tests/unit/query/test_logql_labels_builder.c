/* test_logql_labels_builder.c - the labels of one LogQL entry: categories,
 * the _extracted rule, deletions, errors, per-entry reset. */
#include <criterion/criterion.h>
#include <string.h>

#include "query/logql/stages.h"
#include "tests/unit/query/logql_stages_helpers.h"

Test(logql_stages_labels, stream_only_sorted_and_deduplicated)
{
    struct tr_logql_lb *lb = lbh_new("zone=eu,app=a,app=dup");
    LBH_EXPECT(lb, "{app=\"a\", zone=\"eu\"}");
    cr_expect_str_eq(lbh_str_cat(lb, true), "{app=\"a\"s, zone=\"eu\"s}");
    tr_logql_lb_free(lb);
}

Test(logql_stages_labels, get_set_delete)
{
    struct tr_logql_lb *lb = lbh_new("app=a,empty=");
    struct tr_slice v;
    enum tr_logql_label_cat cat;
    cr_expect(tr_logql_lb_get(lb, S("app"), &v, &cat));
    cr_expect(tr_slice_eq_cstr(v, "a"));
    cr_expect_eq(cat, TR_LOGQL_CAT_STREAM);
    /* a stream label with an empty value does not exist */
    cr_expect(!tr_logql_lb_get(lb, S("empty"), &v, NULL));
    cr_expect(!tr_logql_lb_base_has(lb, S("empty")));
    tr_logql_lb_set(lb, TR_LOGQL_CAT_PARSED, S("x"), S("1"));
    cr_expect(tr_logql_lb_get(lb, S("x"), &v, &cat));
    cr_expect_eq(cat, TR_LOGQL_CAT_PARSED);
    tr_logql_lb_del(lb, S("app"));
    cr_expect(!tr_logql_lb_get(lb, S("app"), &v, NULL));
    cr_expect(tr_logql_lb_base_has(lb, S("app")));
    LBH_EXPECT(lb, "{empty=\"\", x=\"1\"}");
    /* set brings a deleted name back, as a parsed label */
    tr_logql_lb_set(lb, TR_LOGQL_CAT_PARSED, S("app"), S("b"));
    cr_expect_str_eq(lbh_str_cat(lb, true),
                     "{app=\"b\"p, empty=\"\"s, x=\"1\"p}");
    tr_logql_lb_free(lb);
}

Test(logql_stages_labels, metadata_collides_with_stream)
{
    struct tr_logql_lb *lb = lbh_new("app=a,sm=s");
    lbh_meta(lb, "sm=m,md=m");
    cr_expect_str_eq(lbh_str_cat(lb, true),
                     "{app=\"a\"s, md=\"m\"m, sm=\"s\"s, sm_extracted=\"m\"m}");
    tr_logql_lb_free(lb);
}

Test(logql_stages_labels, three_way_conflict_like_loki)
{
    /* stream > metadata > parsed for the base name; the last loser sits
     * under name_extracted (label_filters.logqltest) */
    struct tr_logql_lb *lb = lbh_new("app=a,sp=s,sm=s,tri=s");
    lbh_meta(lb, "mp=m,sm=m,tri=m");
    const char *kv[][2] = {{"sp", "p"}, {"mp", "p"}, {"tri", "p"}};
    for (size_t i = 0; i < 3; i++) {
        tr_logql_lb_set_extracted(lb, S(kv[i][0]), S(kv[i][1]));
    }
    LBH_EXPECT(lb,
               "{app=\"a\", mp=\"m\", mp_extracted=\"p\", sm=\"s\", "
               "sm_extracted=\"m\", sp=\"s\", sp_extracted=\"p\", "
               "tri=\"s\", tri_extracted=\"p\"}");
    tr_logql_lb_free(lb);
}

Test(logql_stages_labels, parsed_duplicates_keep_first)
{
    struct tr_logql_lb *lb = lbh_new("app=a");
    tr_logql_lb_set_extracted(lb, S("dup"), S("first"));
    tr_logql_lb_set_extracted(lb, S("dup"), S("second"));
    LBH_EXPECT(lb, "{app=\"a\", dup=\"first\"}");
    /* but an explicit set (label_format) overwrites */
    tr_logql_lb_set(lb, TR_LOGQL_CAT_PARSED, S("dup"), S("third"));
    LBH_EXPECT(lb, "{app=\"a\", dup=\"third\"}");
    /* a deleted parsed label stays "extracted" for the entry */
    tr_logql_lb_del(lb, S("dup"));
    tr_logql_lb_set_extracted(lb, S("dup"), S("again"));
    LBH_EXPECT(lb, "{app=\"a\"}");
    tr_logql_lb_free(lb);
}

Test(logql_stages_labels, meta_ignored_when_parsed_and_stream_override)
{
    struct tr_logql_lb *lb = lbh_new("app=a");
    tr_logql_lb_set(lb, TR_LOGQL_CAT_PARSED, S("k"), S("p"));
    tr_logql_lb_set(lb, TR_LOGQL_CAT_META, S("k"), S("m"));
    cr_expect_str_eq(lbh_str_cat(lb, true), "{app=\"a\"s, k=\"p\"p}");
    tr_logql_lb_set(lb, TR_LOGQL_CAT_STREAM, S("app"), S("b"));
    cr_expect_str_eq(lbh_str_cat(lb, true), "{app=\"b\"s, k=\"p\"p}");
    tr_logql_lb_free(lb);
}

Test(logql_stages_labels, errors_are_labels_of_the_result_only)
{
    struct tr_logql_lb *lb = lbh_new("app=a");
    cr_expect(!tr_logql_lb_has_err(lb));
    tr_logql_lb_set_err(lb, TR_LOGQL_ERR_JSON);
    tr_logql_lb_set_err_details(lb, "bad", 3);
    struct tr_slice v;
    cr_expect(!tr_logql_lb_get(lb, S("__error__"), &v, NULL));
    cr_expect(tr_slice_eq_cstr(tr_logql_lb_err(lb), "JSONParserErr"));
    cr_expect_str_eq(
        lbh_str_cat(lb, true),
        "{__error__=\"JSONParserErr\"p, __error_details__=\"bad\"p, "
        "app=\"a\"s}");
    /* metadata named __error__ sets the error */
    tr_logql_lb_reset(lb, 0);
    lbh_meta(lb, "__error__=X");
    LBH_EXPECT(lb, "{__error__=\"X\", app=\"a\"}");
    tr_logql_lb_free(lb);
}

Test(logql_stages_labels, reset_forgets_entry_state)
{
    struct tr_logql_lb *lb = lbh_new("app=a");
    for (int round = 0; round < 1000; round++) {
        tr_logql_lb_reset(lb, round);
        cr_assert_eq(tr_logql_lb_ts(lb), round);
        lbh_meta(lb, "m=1");
        tr_logql_lb_set_extracted(lb, S("x"), S("y"));
        tr_logql_lb_del(lb, S("app"));
        tr_logql_lb_set_err(lb, "E");
        cr_assert_str_eq(lbh_str(lb), "{__error__=\"E\", m=\"1\", x=\"y\"}");
    }
    tr_logql_lb_reset(lb, 0);
    LBH_EXPECT(lb, "{app=\"a\"}");
    tr_logql_lb_free(lb);
}

Test(logql_stages_labels, set_stream_replaces)
{
    struct tr_logql_lb *lb = lbh_new("app=a");
    struct tr_logql_label l = {S("job"), S("j"), TR_LOGQL_CAT_STREAM};
    cr_assert_eq(tr_logql_lb_set_stream(lb, &l, 1), 0);
    LBH_EXPECT(lb, "{job=\"j\"}");
    struct tr_slice d = tr_logql_lb_dup(lb, "abc", 3);
    cr_expect(tr_slice_eq_cstr(d, "abc"));
    tr_logql_lb_free(lb);
}

Test(logql_stages_labels, parsed_error_names_never_duplicate)
{
    struct tr_logql_lb *lb = lbh_new("app=a");
    tr_logql_lb_set_extracted(lb, S("__error__"), S("from json"));
    LBH_EXPECT(lb, "{__error__=\"from json\", app=\"a\"}");
    tr_logql_lb_set_err(lb, TR_LOGQL_ERR_JSON);
    LBH_EXPECT(lb, "{__error__=\"JSONParserErr\", app=\"a\"}");
    tr_logql_lb_free(lb);
}
