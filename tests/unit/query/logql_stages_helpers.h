/* logql_stages_helpers.h - small helpers shared by the LogQL stage tests:
 * builders from "name=value" lists and the final label set as text. */
#ifndef TR_TESTS_LOGQL_STAGES_HELPERS_H
#define TR_TESTS_LOGQL_STAGES_HELPERS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "lib/buf.h"
#include "query/logql/stages.h"

/* A builder with stream labels from "a=1,b=2" (no value may hold ',' or
 * '='); "" for none. Reset at ts 0. */
static inline struct tr_logql_lb *lbh_new(const char *stream)
{
    struct tr_logql_lb *lb;
    cr_assert_eq(tr_logql_lb_new(&lb), 0);
    struct tr_logql_label ls[32];
    size_t n = 0;
    const char *p = stream;
    while (*p) {
        const char *eq = strchr(p, '=');
        cr_assert(eq);
        const char *end = strchr(eq, ',');
        if (!end) {
            end = eq + strlen(eq);
        }
        ls[n].name = (struct tr_slice){p, (size_t)(eq - p)};
        ls[n].value = (struct tr_slice){eq + 1, (size_t)(end - eq - 1)};
        ls[n].cat = TR_LOGQL_CAT_STREAM;
        n++;
        p = *end ? end + 1 : end;
    }
    cr_assert_eq(tr_logql_lb_set_stream(lb, ls, n), 0);
    tr_logql_lb_reset(lb, 0);
    return lb;
}

/* Adds metadata from "a=1,b=2". */
static inline void lbh_meta(struct tr_logql_lb *lb, const char *meta)
{
    const char *p = meta;
    while (*p) {
        const char *eq = strchr(p, '=');
        const char *end = strchr(eq, ',');
        if (!end) {
            end = eq + strlen(eq);
        }
        tr_logql_lb_add_meta(lb, (struct tr_slice){p, (size_t)(eq - p)},
                             (struct tr_slice){eq + 1, (size_t)(end - eq - 1)});
        p = *end ? end + 1 : end;
    }
}

/* The final labels as {a="1", b="2"} into a static buffer; with
 * categories as {a="1"s, b="2"m, c="3"p} when cats is set. */
static inline const char *lbh_str_cat(struct tr_logql_lb *lb, bool cats)
{
    static char buf[4096];
    struct tr_logql_label *ls;
    size_t n;
    tr_logql_lb_labels(lb, &ls, &n);
    cr_assert(!tr_logql_lb_oom(lb));
    size_t o = 0;
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "{");
    for (size_t i = 0; i < n; i++) {
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%.*s=\"%.*s\"%s",
                              i ? ", " : "", (int)ls[i].name.len,
                              ls[i].name.base, (int)ls[i].value.len,
                              ls[i].value.base,
                              !cats                              ? ""
                              : ls[i].cat == TR_LOGQL_CAT_STREAM ? "s"
                              : ls[i].cat == TR_LOGQL_CAT_META   ? "m"
                                                                 : "p");
    }
    snprintf(buf + o, sizeof(buf) - o, "}");
    return buf;
}

static inline const char *lbh_str(struct tr_logql_lb *lb)
{
    return lbh_str_cat(lb, false);
}

#define LBH_EXPECT(lb, want) cr_expect_str_eq(lbh_str(lb), (want))

static inline struct tr_slice S(const char *s) {
    return tr_slice_cstr(s);
}

#endif
