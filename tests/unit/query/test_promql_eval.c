/* test_promql_eval.c - PromQL evaluator over an in-memory select source:
 * selectors (lookback, staleness, offset, @), subqueries, operators and
 * vector matching, aggregations, function calls, range queries, limits. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/json.h"
#include "query/promql/eval.h"
#include "query/promql/eval_int.h"
#include "query/promql/parser.h"

#define MIN_MS (60 * 1000)
#define STALE_BITS 0x7ff0000000000002ULL

/* ---- in-memory select source ------------------------------------------ */

struct pe_series {
    const char *labels[8]; /* name, value, ..., NULL; sorted by name */
    double vals[16];
    int64_t ts[16];
    size_t n;
};

static struct pe_series pe_data[8];
static size_t pe_n;

static double pe_stale(void)
{
    uint64_t b = STALE_BITS;
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

static void pe_load(void)
{
    pe_n = 0;
    /* http_requests, one sample a minute from 0 to 10m */
    static const char *const inst[3][2] = {
        {"api", "0"}, {"api", "1"}, {"web", "0"}};
    static const double mul[3] = {10, 20, 5};
    for (int s = 0; s < 3; s++) {
        struct pe_series *p = &pe_data[pe_n++];
        memset(p, 0, sizeof(*p));
        p->labels[0] = "__name__";
        p->labels[1] = "http_requests";
        p->labels[2] = "instance";
        p->labels[3] = inst[s][1];
        p->labels[4] = "job";
        p->labels[5] = inst[s][0];
        for (int i = 0; i <= 10; i++) {
            p->ts[i] = (int64_t)i * MIN_MS;
            p->vals[i] = mul[s] * i;
        }
        p->n = 11;
    }
    struct pe_series *p = &pe_data[pe_n++];
    memset(p, 0, sizeof(*p));
    p->labels[0] = "__name__";
    p->labels[1] = "metric_stale";
    p->ts[0] = 0;
    p->vals[0] = 1;
    p->ts[1] = MIN_MS;
    p->vals[1] = pe_stale();
    p->ts[2] = 2 * MIN_MS;
    p->vals[2] = 2;
    p->n = 3;
    p = &pe_data[pe_n++];
    memset(p, 0, sizeof(*p));
    p->labels[0] = "__name__";
    p->labels[1] = "info";
    p->labels[2] = "instance";
    p->labels[3] = "0";
    p->labels[4] = "version";
    p->labels[5] = "v1";
    for (int i = 0; i <= 10; i++) {
        p->ts[i] = (int64_t)i * MIN_MS;
        p->vals[i] = 1;
    }
    p->n = 11;
    p = &pe_data[pe_n++];
    memset(p, 0, sizeof(*p));
    p->labels[0] = "__name__";
    p->labels[1] = "other";
    p->labels[2] = "instance";
    p->labels[3] = "0";
    p->labels[4] = "job";
    p->labels[5] = "api";
    for (int i = 0; i <= 10; i++) {
        p->ts[i] = (int64_t)i * MIN_MS;
        p->vals[i] = 7;
    }
    p->n = 11;
}

static int pe_select(void *impl,
                     struct tr_slice tenant,
                     const struct tr_matcher *ms,
                     size_t n,
                     const struct tr_select_hints *h,
                     struct tr_select_result *out,
                     char *errmsg)
{
    (void)impl;
    (void)tenant;
    (void)errmsg;
    memset(out, 0, sizeof(*out));
    tr_arena_init(&out->arena, 4096);
    out->series = tr_arena_alloc(&out->arena, pe_n * sizeof(*out->series));
    for (size_t i = 0; i < pe_n; i++) {
        const struct pe_series *p = &pe_data[i];
        bool ok = true;
        for (size_t j = 0; j < n && ok; j++) {
            const char *v = "";
            for (size_t l = 0; p->labels[l] != NULL; l += 2) {
                if (strcmp(p->labels[l], ms[j].name) == 0) {
                    v = p->labels[l + 1];
                }
            }
            ok = tr_matcher_matches(&ms[j], v, strlen(v));
        }
        if (!ok) {
            continue;
        }
        struct tr_series_data *sd = &out->series[out->n_series];
        size_t nl = 0;
        while (p->labels[nl * 2] != NULL) {
            nl++;
        }
        sd->labels =
            tr_arena_alloc(&out->arena, (nl + 1) * sizeof(*sd->labels));
        for (size_t l = 0; l < nl; l++) {
            sd->labels[l].name = tr_slice_cstr(p->labels[2 * l]);
            sd->labels[l].value = tr_slice_cstr(p->labels[2 * l + 1]);
        }
        sd->n_labels = nl;
        sd->samples = tr_arena_alloc(&out->arena, 16 * sizeof(*sd->samples));
        sd->n_samples = 0;
        for (size_t k = 0; k < p->n; k++) {
            if (p->ts[k] >= h->mint && p->ts[k] <= h->maxt) {
                sd->samples[sd->n_samples].t = p->ts[k];
                sd->samples[sd->n_samples++].v = p->vals[k];
            }
        }
        if (sd->n_samples > 0) {
            out->n_series++;
        }
    }
    return 0;
}

static const struct tr_select_source pe_src = {1, NULL, pe_select, NULL, NULL};

/* ---- helpers ---------------------------------------------------------- */

static int pe_line_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void pe_fmt_labels(const struct tr_label *ls, size_t n, struct tr_buf *b)
{
    tr_pq_labels_format(ls, n, b);
}

static void pe_fmt_double(double v, struct tr_buf *b)
{
    char buf[TR_DOUBLE_BUF];
    size_t n = tr_format_double(buf, v);
    tr_buf_append(b, buf, n);
}

/* Runs q and renders the result: "scalar V", "string S", one line
 * "{labels} V" per vector element (sorted unless ordered), or per series
 * "{labels} V@T V@T ...". Returns the code; *out tr_malloc'd. */
static int pe_run_opts(const char *q,
                       int64_t start,
                       int64_t end,
                       int64_t step,
                       const struct tr_promql_eval_opts *opts,
                       bool ordered,
                       char **out,
                       char *errmsg)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_promql_node *n;
    *out = NULL;
    int rv = tr_promql_parse(q, strlen(q), &a, &n, errmsg);
    cr_assert_eq(rv, 0, "parse %s: %s", q, errmsg);
    struct tr_pq_value v;
    struct tr_slice tenant = TR_SLICE_LIT("t");
    rv = tr_promql_eval(&pe_src, tenant, n, start, end, step, opts, &a, &v,
                        errmsg);
    tr_promql_ast_free(n);
    if (rv != 0) {
        tr_arena_free(&a);
        return rv;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    if (v.type == TR_PROMQL_TYPE_SCALAR) {
        tr_buf_puts(&b, "scalar ");
        pe_fmt_double(v.scalar, &b);
    } else if (v.type == TR_PROMQL_TYPE_STRING) {
        tr_buf_puts(&b, "string ");
        tr_buf_append(&b, v.str, v.str_len);
    } else if (v.type == TR_PROMQL_TYPE_VECTOR) {
        char **lines = calloc(v.vec.n + 1, sizeof(*lines));
        for (size_t i = 0; i < v.vec.n; i++) {
            struct tr_buf l;
            tr_buf_init(&l);
            pe_fmt_labels(v.vec.s[i].labels, v.vec.s[i].n_labels, &l);
            tr_buf_putc(&l, ' ');
            pe_fmt_double(v.vec.s[i].v, &l);
            lines[i] = l.data;
        }
        if (!ordered) {
            qsort(lines, v.vec.n, sizeof(*lines), pe_line_cmp);
        }
        for (size_t i = 0; i < v.vec.n; i++) {
            if (i > 0) {
                tr_buf_putc(&b, '\n');
            }
            tr_buf_puts(&b, lines[i]);
            tr_free(lines[i]);
        }
        free(lines);
    } else {
        for (size_t i = 0; i < v.mat.n; i++) {
            if (i > 0) {
                tr_buf_putc(&b, '\n');
            }
            pe_fmt_labels(v.mat.s[i].labels, v.mat.s[i].n_labels, &b);
            for (size_t j = 0; j < v.mat.s[i].n; j++) {
                tr_buf_putc(&b, ' ');
                pe_fmt_double(v.mat.s[i].pts[j].v, &b);
                tr_buf_printf(&b, "@%lld",
                              (long long)(v.mat.s[i].pts[j].t / 1000));
            }
        }
    }
    tr_buf_putc(&b, '\0');
    *out = b.data;
    tr_arena_free(&a);
    return 0;
}

/* Instant query at t seconds; expects the rendering `want`. */
static void pe_expect(const char *q, int64_t t_s, const char *want)
{
    char err[TR_ERRMSG_SIZE] = "";
    char *got;
    int rv = pe_run_opts(q, t_s * 1000, t_s * 1000, 0, NULL, false, &got, err);
    cr_assert_eq(rv, 0, "%s: %s", q, err);
    cr_expect_str_eq(got, want, "%s at %llds:\n%s\nwant\n%s", q, (long long)t_s,
                     got, want);
    tr_free(got);
}

static void pe_expect_range(const char *q,
                            int64_t start_s,
                            int64_t end_s,
                            int64_t step_s,
                            const char *want)
{
    char err[TR_ERRMSG_SIZE] = "";
    char *got;
    int rv = pe_run_opts(q, start_s * 1000, end_s * 1000, step_s * 1000, NULL,
                         false, &got, err);
    cr_assert_eq(rv, 0, "%s: %s", q, err);
    cr_expect_str_eq(got, want, "%s:\n%s\nwant\n%s", q, got, want);
    tr_free(got);
}

/* Expects error code `code` whose message contains `want`. */
static void pe_expect_err(const char *q,
                          int64_t start_s,
                          int64_t end_s,
                          int64_t step_s,
                          const struct tr_promql_eval_opts *opts,
                          int code,
                          const char *want)
{
    char err[TR_ERRMSG_SIZE] = "";
    char *got = NULL;
    int rv = pe_run_opts(q, start_s * 1000, end_s * 1000, step_s * 1000, opts,
                         false, &got, err);
    cr_expect_eq(rv, code, "%s: rv %d (%s)", q, rv, got ? got : err);
    cr_expect(strstr(err, want) != NULL, "%s: message %s", q, err);
    tr_free(got);
}

#define HR_API0 "{__name__=\"http_requests\", instance=\"0\", job=\"api\"}"
#define HR_API1 "{__name__=\"http_requests\", instance=\"1\", job=\"api\"}"
#define HR_WEB0 "{__name__=\"http_requests\", instance=\"0\", job=\"web\"}"

TestSuite(promql_eval, .init = pe_load);

/* ---- selectors ---------------------------------------------------------- */

Test(promql_eval, instant_selector)
{
    pe_expect("http_requests", 300,
              HR_API0 " 50\n" HR_WEB0 " 25\n" HR_API1 " 100");
    pe_expect("http_requests{job=\"web\"}", 330, HR_WEB0 " 25");
    pe_expect("http_requests{job=~\"w.*\"}", 330, HR_WEB0 " 25");
    pe_expect("nonexistent", 300, "");
}

Test(promql_eval, lookback_closed_interval)
{
    /* the last sample is at 600s; Prometheus 2.x includes t - 5m */
    pe_expect("http_requests{job=\"web\"}", 900, HR_WEB0 " 50");
    pe_expect("http_requests{job=\"web\"}", 901, "");
}

Test(promql_eval, stale_markers)
{
    pe_expect("metric_stale", 30, "{__name__=\"metric_stale\"} 1");
    pe_expect("metric_stale", 60, "");
    pe_expect("metric_stale", 90, "");
    pe_expect("metric_stale", 120, "{__name__=\"metric_stale\"} 2");
    /* range vectors skip the marker */
    pe_expect("count_over_time(metric_stale[2m])", 120, "{} 2");
    pe_expect("count_over_time(metric_stale[1m])", 60, "{} 1");
}

Test(promql_eval, matrix_selector)
{
    /* [t - 2m, t] holds 180s, 240s, 300s */
    pe_expect("count_over_time(http_requests{job=\"web\"}[2m])", 300,
              "{instance=\"0\", job=\"web\"} 3");
    pe_expect("sum_over_time(http_requests{job=\"web\"}[2m])", 300,
              "{instance=\"0\", job=\"web\"} 60");
    pe_expect("count_over_time(http_requests{job=\"web\"}[1m])", 330,
              "{instance=\"0\", job=\"web\"} 1");
}

Test(promql_eval, instant_matrix_result)
{
    pe_expect("http_requests{job=\"web\"}[2m]", 300,
              HR_WEB0 " 15@180 20@240 25@300");
}

Test(promql_eval, offset_and_at)
{
    pe_expect("http_requests{job=\"web\"} offset 2m", 300, HR_WEB0 " 15");
    pe_expect("http_requests{job=\"web\"} @ 120", 600, HR_WEB0 " 10");
    pe_expect("http_requests{job=\"web\"} @ 180 offset 1m", 600, HR_WEB0 " 10");
    pe_expect("sum_over_time(http_requests{job=\"web\"}[1m] offset 1m)", 300,
              "{instance=\"0\", job=\"web\"} 35");
    pe_expect_range("http_requests{job=\"web\"} @ start()", 60, 180, 60,
                    HR_WEB0 " 5@60 5@120 5@180");
    pe_expect_range("http_requests{job=\"web\"} @ end()", 60, 120, 60,
                    HR_WEB0 " 10@60 10@120");
    pe_expect("http_requests{job=\"web\"} offset -1m", 300, HR_WEB0 " 30");
}

Test(promql_eval, subquery)
{
    /* aligned steps in [300, 600]: 360 480 600 */
    pe_expect("sum_over_time(http_requests{job=\"web\"}[5m:2m])", 600,
              "{instance=\"0\", job=\"web\"} 120");
    pe_expect("http_requests{job=\"web\"}[5m:2m]", 600,
              HR_WEB0 " 30@360 40@480 50@600");
    /* default step 1m: 300..600 inclusive (6 steps), offset 1m: 240..540 */
    pe_expect("count_over_time(http_requests{job=\"web\"}[5m:])", 600,
              "{instance=\"0\", job=\"web\"} 6");
    pe_expect("http_requests{job=\"web\"}[2m:1m] offset 1m", 300,
              HR_WEB0 " 10@120 15@180 20@240");
    /* label-less inner results (scalar-like vectors) */
    pe_expect("sum_over_time(vector(1)[2m:1m])", 300, "{} 3");
    pe_expect("sum_over_time(vector(time())[2m:1m] @ 120)", 600, "{} 180");
    pe_expect("(http_requests{job=\"web\"} * 2)[2m:1m] @ 120", 600,
              "{instance=\"0\", job=\"web\"} 0@0 10@60 20@120");
}

/* ---- operators ---------------------------------------------------------- */

Test(promql_eval, scalar_ops)
{
    pe_expect("1 + 1", 0, "scalar 2");
    pe_expect("2 ^ 3 * 2", 0, "scalar 16");
    pe_expect("-2 ^ 2", 0, "scalar -4");
    pe_expect("7 % 4", 0, "scalar 3");
    pe_expect("1 / 0", 0, "scalar +Inf");
    pe_expect("0 / 0", 0, "scalar NaN");
    pe_expect("1 < bool 2", 0, "scalar 1");
    pe_expect("2 == bool 3", 0, "scalar 0");
    pe_expect("\"hello\"", 0, "string hello");
}

Test(promql_eval, vector_scalar)
{
    pe_expect("http_requests{job=\"web\"} + 1", 300,
              "{instance=\"0\", job=\"web\"} 26");
    pe_expect("100 - http_requests{job=\"web\"}", 300,
              "{instance=\"0\", job=\"web\"} 75");
    pe_expect("http_requests > 40", 300, HR_API0 " 50\n" HR_API1 " 100");
    /* scalar on the left of a comparison: the vector's value is kept */
    pe_expect("40 < http_requests", 300, HR_API0 " 50\n" HR_API1 " 100");
    pe_expect("http_requests > bool 40", 300,
              "{instance=\"0\", job=\"api\"} 1\n{instance=\"0\", job=\"web\"} "
              "0\n{instance=\"1\", job=\"api\"} 1");
    pe_expect("-http_requests{job=\"web\"}", 300,
              "{instance=\"0\", job=\"web\"} -25");
}

Test(promql_eval, vector_matching)
{
    pe_expect(
        "http_requests{job=\"api\"} / ignoring(job) "
        "http_requests{job=\"web\"}",
        300, "{instance=\"0\"} 2");
    pe_expect(
        "http_requests{job=\"api\"} / on(instance) "
        "http_requests{job=\"web\"}",
        300, "{instance=\"0\"} 2");
    pe_expect("http_requests == http_requests", 300,
              HR_API0 " 50\n" HR_WEB0 " 25\n" HR_API1 " 100");
    pe_expect("http_requests == bool on(instance, job) http_requests", 300,
              "{instance=\"0\", job=\"api\"} 1\n{instance=\"0\", job=\"web\"} "
              "1\n{instance=\"1\", job=\"api\"} 1");
    pe_expect("http_requests * on(instance) group_left(version) info", 300,
              "{instance=\"0\", job=\"api\", version=\"v1\"} 50\n"
              "{instance=\"0\", job=\"web\", version=\"v1\"} 25");
    pe_expect("info * on(instance) group_right http_requests", 300,
              "{instance=\"0\", job=\"api\"} 50\n"
              "{instance=\"0\", job=\"web\"} 25");
    /* comparison: the left side's value, labels of the many side */
    pe_expect("info < on(instance) group_right http_requests", 300,
              "{__name__=\"http_requests\", instance=\"0\", job=\"api\"} 1\n"
              "{__name__=\"http_requests\", instance=\"0\", job=\"web\"} 1");
}

Test(promql_eval, matching_errors)
{
    pe_expect_err("http_requests / on(job) http_requests", 300, 300, 0, NULL,
                  TR_EEXEC,
                  "many-to-many matching not allowed: matching labels must "
                  "be unique on one side");
    pe_expect_err("http_requests / on(job) http_requests", 300, 300, 0, NULL,
                  TR_EEXEC,
                  "found duplicate series for the match group {job=\"api\"} "
                  "on the right hand-side of the operation");
    pe_expect_err(
        "{__name__=~\"http_requests|other\", instance=\"0\", "
        "job=\"api\"} * on(instance) group_left info",
        300, 300, 0, NULL, TR_EEXEC,
        "multiple matches for labels: grouping labels must ensure "
        "unique matches");
    pe_expect_err(
        "{__name__=~\"http_requests|other\", instance=\"0\", "
        "job=\"api\"} + on(instance) info",
        300, 300, 0, NULL, TR_EEXEC,
        "multiple matches for labels: many-to-one matching must be "
        "explicit (group_left/group_right)");
    pe_expect_err(
        "{__name__=~\"http_requests|other\", instance=\"0\", "
        "job=\"api\"} + 1",
        300, 300, 0, NULL, TR_EEXEC,
        "vector cannot contain metrics with the same labelset");
}

Test(promql_eval, set_ops)
{
    pe_expect("http_requests{job=\"api\"} and http_requests{instance=\"0\"}",
              300, HR_API0 " 50");
    pe_expect(
        "http_requests{job=\"api\"} unless "
        "http_requests{instance=\"0\"}",
        300, HR_API1 " 100");
    pe_expect("http_requests{job=\"api\"} or http_requests{instance=\"0\"}",
              300, HR_API0 " 50\n" HR_WEB0 " 25\n" HR_API1 " 100");
    pe_expect("http_requests and on(instance) info", 300,
              HR_API0 " 50\n" HR_WEB0 " 25");
    pe_expect("nonexistent or http_requests{job=\"web\"}", 300, HR_WEB0 " 25");
    pe_expect("http_requests{job=\"web\"} and nonexistent", 300, "");
}

/* ---- aggregations ---------------------------------------------------------
 */

Test(promql_eval, aggregations)
{
    pe_expect("sum(http_requests)", 300, "{} 175");
    pe_expect("sum by (job) (http_requests)", 300,
              "{job=\"api\"} 150\n{job=\"web\"} 25");
    pe_expect("sum without (instance) (http_requests)", 300,
              "{job=\"api\"} 150\n{job=\"web\"} 25");
    pe_expect("sum by (__name__) (http_requests)", 300,
              "{__name__=\"http_requests\"} 175");
    pe_expect("sum by (nonexistent) (http_requests)", 300, "{} 175");
    pe_expect("avg by (job) (http_requests)", 300,
              "{job=\"api\"} 75\n{job=\"web\"} 25");
    pe_expect("count(http_requests)", 300, "{} 3");
    pe_expect("min(http_requests)", 300, "{} 25");
    pe_expect("max by (instance) (http_requests)", 300,
              "{instance=\"0\"} 50\n{instance=\"1\"} 100");
    pe_expect("group by (job) (http_requests)", 300,
              "{job=\"api\"} 1\n{job=\"web\"} 1");
    pe_expect("stdvar by (job) (http_requests)", 300,
              "{job=\"api\"} 625\n{job=\"web\"} 0");
    pe_expect("stddev by (job) (http_requests)", 300,
              "{job=\"api\"} 25\n{job=\"web\"} 0");
    pe_expect("quantile(0.5, http_requests)", 300, "{} 50");
    pe_expect("quantile(0.25, http_requests)", 300, "{} 37.5");
    pe_expect("quantile(2, http_requests)", 300, "{} +Inf");
    pe_expect("count_values(\"val\", http_requests)", 300,
              "{val=\"100\"} 1\n{val=\"25\"} 1\n{val=\"50\"} 1");
    pe_expect("count_values by (job) (\"job\", http_requests)", 300,
              "{job=\"100\"} 1\n{job=\"25\"} 1\n{job=\"50\"} 1");
    pe_expect("min(http_requests) - max(http_requests)", 300, "{} -75");
}

Test(promql_eval, topk_bottomk)
{
    char err[TR_ERRMSG_SIZE];
    char *got;
    int rv = pe_run_opts("topk(2, http_requests)", 300000, 300000, 0, NULL,
                         true, &got, err);
    cr_assert_eq(rv, 0, "%s", err);
    cr_expect_str_eq(got, HR_API1 " 100\n" HR_API0 " 50");
    tr_free(got);
    pe_expect("bottomk(1, http_requests)", 300, HR_WEB0 " 25");
    pe_expect("topk by (job) (1, http_requests)", 300,
              HR_WEB0 " 25\n" HR_API1 " 100");
    pe_expect("topk(0, http_requests)", 300, "");
    pe_expect("bottomk(10, http_requests{job=\"web\"})", 300, HR_WEB0 " 25");
}

Test(promql_eval, aggregation_errors)
{
    pe_expect_err("count_values(\"a-b\", http_requests)", 300, 300, 0, NULL,
                  TR_EEXEC, "invalid label name \"a-b\"");
}

/* ---- functions ----------------------------------------------------------- */

Test(promql_eval, functions)
{
    pe_expect("time()", 300, "scalar 300");
    pe_expect("scalar(http_requests{job=\"web\"})", 300, "scalar 25");
    pe_expect("scalar(http_requests)", 300, "scalar NaN");
    pe_expect("vector(1)", 300, "{} 1");
    pe_expect("vector(time())", 300, "{} 300");
    pe_expect("timestamp(http_requests{job=\"web\"})", 330,
              "{instance=\"0\", job=\"web\"} 300");
    pe_expect("http_requests{job=\"web\"} + scalar(info)", 300,
              "{instance=\"0\", job=\"web\"} 26");
}

/* ---- range queries --------------------------------------------------------
 */

Test(promql_eval, range_queries)
{
    pe_expect_range("http_requests{job=\"web\"}", 0, 120, 60,
                    HR_WEB0 " 0@0 5@60 10@120");
    pe_expect_range("1 + 1", 0, 120, 60, "{} 2@0 2@60 2@120");
    pe_expect_range("time()", 0, 60, 30, "{} 0@0 30@30 60@60");
    /* sorted by labels, gaps where a series has no sample */
    pe_expect_range("metric_stale", 0, 180, 60,
                    "{__name__=\"metric_stale\"} 1@0 2@120 2@180");
    pe_expect_range("sum by (job) (http_requests)", 540, 660, 60,
                    "{job=\"api\"} 270@540 300@600 300@660\n"
                    "{job=\"web\"} 45@540 50@600 50@660");
    pe_expect_range("http_requests >= 80", 240, 300, 30,
                    HR_API1 " 80@240 80@270 100@300");
}

Test(promql_eval, limits)
{
    pe_expect_err("http_requests", 0, 11001, 1, NULL, TR_EINVAL,
                  "exceeded maximum resolution of 11,000 points per "
                  "timeseries. Try decreasing the query resolution "
                  "(?step=XX)");
    pe_expect_err("http_requests[5m]", 0, 60, 60, NULL, TR_EINVAL,
                  "invalid expression type \"range vector\" for range query, "
                  "must be Scalar or instant Vector");
    pe_expect_err("\"a\"", 0, 60, 60, NULL, TR_EINVAL,
                  "invalid expression type \"string\" for range query");
    pe_expect_err("http_requests", 60, 0, 60, NULL, TR_EINVAL,
                  "end timestamp must not be before start time");
    struct tr_promql_eval_opts o;
    memset(&o, 0, sizeof(o));
    o.max_samples = 2;
    pe_expect_err("http_requests", 300, 300, 0, &o, TR_ELIMIT,
                  "query processing would load too many samples into memory "
                  "in query execution");
    o.max_samples = 5;
    pe_expect_err("http_requests", 0, 600, 60, &o, TR_ELIMIT,
                  "query processing would load too many samples");
    o.max_samples = 0;
    /* series: over all selectors of the query together */
    o.max_series = 3;
    char *ok = NULL;
    char err2[TR_ERRMSG_SIZE];
    cr_assert_eq(
        pe_run_opts("http_requests", 300000, 300000, 0, &o, false, &ok, err2),
        0, "%s", err2);
    tr_free(ok);
    pe_expect_err("http_requests + on(instance, job) other", 300, 300, 0, &o,
                  TR_ELIMIT,
                  "the query exceeded the maximum number of series (limit: 3 "
                  "series, query.max-series)");
    pe_expect_err("sum(http_requests) + sum(other)", 0, 600, 60, &o, TR_ELIMIT,
                  "the query exceeded the maximum number of series");
    o.max_series = 0;
    o.deadline_mono_ns = 1;
    pe_expect_err("http_requests + 1", 0, 600, 1, &o, TR_ETIMEOUT,
                  "query timed out in expression evaluation");
    o.deadline_mono_ns = 0;
    o.lookback_ms = 30 * 1000;
    char err[TR_ERRMSG_SIZE];
    char *got;
    cr_assert_eq(pe_run_opts("http_requests{job=\"web\"}", 325000, 325000, 0,
                             &o, false, &got, err),
                 0);
    cr_expect_str_eq(got, HR_WEB0 " 25");
    tr_free(got);
    cr_assert_eq(pe_run_opts("http_requests{job=\"web\"}", 331000, 331000, 0,
                             &o, false, &got, err),
                 0);
    cr_expect_str_eq(got, "");
    tr_free(got);
}

/* ---- range queries vs instant queries at every step ----------------------
 * A range query keeps subquery results between steps (eval_sqmemo.c);
 * instant queries never do. Each range result must equal the instant
 * results at its steps, put together per series. */

/* Splits s at '\n' into tr_malloc'd lines, sorted; returns the count. */
static size_t pe_split_sorted(const char *s, char ***out)
{
    size_t n = 0, cap = 8;
    char **v = malloc(cap * sizeof(*v));
    while (*s != '\0') {
        size_t len = strcspn(s, "\n");
        if (n == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof(*v));
        }
        v[n++] = strndup(s, len);
        s += len + (s[len] == '\n');
    }
    qsort(v, n, sizeof(*v), pe_line_cmp);
    *out = v;
    return n;
}

static void pe_expect_range_as_instants(const char *q,
                                        int64_t start_s,
                                        int64_t end_s,
                                        int64_t step_s)
{
    char err[TR_ERRMSG_SIZE] = "";
    char *keys[64];
    struct tr_buf rows[64];
    size_t nk = 0;
    for (int64_t t = start_s; t <= end_s; t += step_s) {
        char *got;
        int rv = pe_run_opts(q, t * 1000, t * 1000, 0, NULL, false, &got, err);
        cr_assert_eq(rv, 0, "%s at %lld: %s", q, (long long)t, err);
        char **lines;
        size_t nl = pe_split_sorted(got, &lines);
        for (size_t i = 0; i < nl; i++) {
            char *sp = strrchr(lines[i], ' ');
            cr_assert_not_null(sp, "%s", lines[i]);
            *sp = '\0';
            size_t k = 0;
            while (k < nk && strcmp(keys[k], lines[i]) != 0) {
                k++;
            }
            if (k == nk) {
                cr_assert_lt(nk, 64);
                keys[nk] = strdup(lines[i]);
                tr_buf_init(&rows[nk]);
                tr_buf_puts(&rows[nk], lines[i]);
                nk++;
            }
            tr_buf_printf(&rows[k], " %s@%lld", sp + 1, (long long)t);
            free(lines[i]);
        }
        free(lines);
        tr_free(got);
    }
    struct tr_buf want;
    tr_buf_init(&want);
    for (size_t k = 0; k < nk; k++) {
        tr_buf_append(&want, rows[k].data, rows[k].len);
        tr_buf_putc(&want, '\n');
        tr_buf_free(&rows[k]);
        free(keys[k]);
    }
    tr_buf_putc(&want, '\0');
    char *range;
    int rv = pe_run_opts(q, start_s * 1000, end_s * 1000, step_s * 1000, NULL,
                         false, &range, err);
    cr_assert_eq(rv, 0, "%s: %s", q, err);
    char **a, **b;
    size_t na = pe_split_sorted(range, &a);
    size_t nb = pe_split_sorted(want.data, &b);
    cr_expect_eq(na, nb, "%s: %zu series, instants give %zu:\n%s\nwant\n%s", q,
                 na, nb, range, want.data);
    for (size_t i = 0; i < na && i < nb; i++) {
        cr_expect_str_eq(a[i], b[i], "%s", q);
    }
    for (size_t i = 0; i < na; i++) {
        free(a[i]);
    }
    for (size_t i = 0; i < nb; i++) {
        free(b[i]);
    }
    free(a);
    free(b);
    tr_free(range);
    tr_buf_free(&want);
}

Test(promql_eval, range_subqueries_equal_instants)
{
    static const char *const qs[] = {
        "max_over_time(rate(http_requests[2m])[5m:1m])",
        "sum_over_time(http_requests{job=\"web\"}[5m:2m])",
        "count_over_time(http_requests[3m:])",
        "avg_over_time(http_requests[2m:30s] offset 1m)",
        "sum_over_time(http_requests[2m:1m] offset -1m)",
        "sum_over_time(vector(time())[2m:1m] @ 120)",
        "max_over_time(sum by (job) (http_requests)[4m:1m])",
        /* nested: the inner one is evaluated out of order, never kept */
        "max_over_time(sum_over_time(http_requests[2m:1m])[4m:1m])",
        "min_over_time((sum(http_requests) > 100)[3m:1m])",
        "sum_over_time(vector(scalar(sum(http_requests)))[3m:1m])",
        "sum_over_time(http_requests[2m:1m]) - "
        "sum_over_time(http_requests[3m:1m])",
        "rate(http_requests[5m:1m]) * 60",
    };
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        pe_expect_range_as_instants(qs[i], 0, 720, 45);
        pe_expect_range_as_instants(qs[i], 60, 600, 60);
    }
}

/* Range queries are evaluated series by series (eval_batch.c): fast paths
 * for selectors, range functions, simple aggregations and scalar operators,
 * the step-by-step code for everything else. Instant queries take the
 * step-by-step path, so each shape below checks the batch evaluation
 * against it at every step. */
Test(promql_eval, range_batch_equals_instants)
{
    static const char *const qs[] = {
        /* selectors */
        "http_requests",
        "http_requests offset 2m",
        "http_requests offset -1m",
        "http_requests @ 300",
        "metric_stale",
        /* range functions over selectors */
        "rate(http_requests[3m])",
        "irate(http_requests[2m] offset 1m)",
        "increase(http_requests[3m] @ 400)",
        "delta(http_requests[5m])",
        "last_over_time(http_requests[2m])",
        "quantile_over_time(0.3, http_requests[4m])",
        "quantile_over_time(-(0.5), http_requests[4m])",
        "predict_linear(http_requests[4m], 60)",
        "holt_winters(http_requests[5m], 0.5, 0.5)",
        "deriv(http_requests[3m])",
        "changes(metric_stale[5m])",
        "resets(http_requests[5m])",
        "count_over_time(metric_stale[2m])",
        "present_over_time(metric_stale[1m])",
        "stddev_over_time(http_requests[4m])",
        "mad_over_time(http_requests[4m])",
        /* simple aggregations */
        "sum(http_requests)",
        "avg by (job) (http_requests)",
        "count without (instance) (http_requests)",
        "min(http_requests)",
        "max by (instance) (rate(http_requests[2m]))",
        "group(http_requests)",
        "stddev(http_requests)",
        "stdvar by (job) (http_requests)",
        "sum by (job) ({__name__=~\"http_requests|other\"})",
        "sum(sum by (job) (http_requests))",
        /* operators with scalars */
        "http_requests * 2",
        "2 - http_requests",
        "http_requests > 50",
        "100 < bool http_requests",
        "http_requests == bool 40",
        "-http_requests",
        "sum(http_requests) / scalar(count(http_requests))",
        /* step by step over batch children */
        "topk(2, http_requests)",
        "http_requests / on(instance, job) group_left other",
        "http_requests and other",
        "http_requests unless on(job) other",
        "label_replace(http_requests, \"x\", \"$1\", \"job\", \"(.*)\")",
        "absent(nonexistent)",
        "absent_over_time(nonexistent[2m])",
        "timestamp(http_requests)",
        "abs(-http_requests)",
        "vector(1)",
        "count_values(\"v\", http_requests)",
        "quantile(0.5, http_requests)",
        "sort_desc(http_requests)",
        "histogram_quantile(0.5, sum by (le) (http_requests))",
        "max_over_time(deriv(rate(http_requests[2m])[4m:30s])[3m:])",
        "avg_over_time(topk(1, http_requests)[3m:1m])",
    };
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        pe_expect_range_as_instants(qs[i], 0, 720, 45);
        pe_expect_range_as_instants(qs[i], 60, 600, 60);
    }
    /* scalar results, and @ end() (an instant query's end is its time) */
    pe_expect_range("1 + 2 * 3", 0, 120, 60, "{} 7@0 7@60 7@120");
    pe_expect_range("time() + 1", 0, 120, 60, "{} 1@0 61@60 121@120");
    pe_expect_range("scalar(sum(http_requests))", 0, 120, 60,
                    "{} 0@0 35@60 70@120");
    pe_expect_range("http_requests{job=\"web\"} @ end()", 0, 120, 60,
                    HR_WEB0 " 10@0 10@60 10@120");
    pe_expect_range("sum_over_time(http_requests{job=\"web\"}[1m] @ start())",
                    0, 120, 60, "{instance=\"0\", job=\"web\"} 0@0 0@60 0@120");
}

/* Label sets that collide once the metric name is dropped fail the query
 * on every path, as in Prometheus. */
Test(promql_eval, range_batch_duplicate_labelsets)
{
    static const char *const qs[] = {
        "rate({__name__=~\"http_requests|other\"}[5m])",
        "{__name__=~\"http_requests|other\"} * 2",
        "abs({__name__=~\"http_requests|other\"})",
    };
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        pe_expect_err(qs[i], 0, 600, 60, NULL, TR_EEXEC,
                      "vector cannot contain metrics with the same labelset");
        pe_expect_err(qs[i], 300, 300, 0, NULL, TR_EEXEC,
                      "vector cannot contain metrics with the same labelset");
    }
    /* no collision where only one of them has points */
    pe_expect_range(
        "rate({__name__=~\"http_requests|other\", job=\"web\"}[5m])"
        " * 60",
        60, 60, 60, "{instance=\"0\", job=\"web\"} 1@60");
}

/* ---- annotations (Prometheus' warnings and infos) ------------------------ */

/* Runs q with annotations collected; returns them as "W|I pos msg" lines
 * (sorted), tr_malloc'd. */
static char *pe_annos(const char *q,
                      int64_t start_s,
                      int64_t end_s,
                      int64_t step_s)
{
    struct tr_pq_annos an;
    memset(&an, 0, sizeof(an));
    struct tr_promql_eval_opts o;
    memset(&o, 0, sizeof(o));
    o.annos = &an;
    char err[TR_ERRMSG_SIZE] = "";
    char *got = NULL;
    int rv = pe_run_opts(q, start_s * 1000, end_s * 1000, step_s * 1000, &o,
                         false, &got, err);
    cr_assert_eq(rv, 0, "%s: %s", q, err);
    tr_free(got);
    char **lines = calloc(an.n + 1, sizeof(*lines));
    for (size_t i = 0; i < an.n; i++) {
        struct tr_buf b;
        tr_buf_init(&b);
        tr_buf_printf(&b, "%c %zu %s", an.v[i].info ? 'I' : 'W', an.v[i].pos,
                      an.v[i].msg);
        lines[i] = b.data;
    }
    qsort(lines, an.n, sizeof(*lines), pe_line_cmp);
    struct tr_buf all;
    tr_buf_init(&all);
    for (size_t i = 0; i < an.n; i++) {
        tr_buf_puts(&all, lines[i]);
        tr_buf_putc(&all, '\n');
        tr_free(lines[i]);
    }
    tr_buf_putc(&all, '\0');
    free(lines);
    tr_pq_annos_free(&an);
    return all.data;
}

#define NON_COUNTER(name)                                               \
    "PromQL info: metric might not be a counter, name does not end in " \
    "_total/_sum/_count/_bucket: \"" name "\""

Test(promql_eval, annotations)
{
    static const struct {
        const char *q;
        const char *want;
    } cases[] = {
        {"rate(http_requests[5m])", "I 5 " NON_COUNTER("http_requests") "\n"},
        {"sum(increase((http_requests[5m])))",
         "I 13 " NON_COUNTER("http_requests") "\n"},
        {"delta(http_requests[5m])", ""},
        {"rate(http_requests[5m:1m])", ""}, /* subqueries: no check */
        {"quantile_over_time(1.5, http_requests[5m])",
         "W 19 PromQL warning: quantile value should be between 0 and 1, got "
         "1.5\n"},
        {"quantile(-2, http_requests)",
         "W 9 PromQL warning: quantile value should be between 0 and 1, got "
         "-2\n"},
        {"histogram_quantile(2e7, http_requests)",
         "W 19 PromQL warning: quantile value should be between 0 and 1, got "
         "2e+07\n"
         "W 24 PromQL warning: bucket label \"le\" is missing or has a "
         "malformed value of \"\" for metric name \"http_requests\"\n"},
        {"quantile(0.5, http_requests)", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *inst = pe_annos(cases[i].q, 300, 300, 0);
        cr_expect_str_eq(inst, cases[i].want, "%s (instant)", cases[i].q);
        tr_free(inst);
        char *range = pe_annos(cases[i].q, 60, 600, 60);
        cr_expect_str_eq(range, cases[i].want, "%s (range)", cases[i].q);
        tr_free(range);
    }
}

Test(promql_eval, go_fmt_g)
{
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {1.5, "1.5"},
        {-2, "-2"},
        {2e7, "2e+07"},
        {1e6, "1e+06"},
        {123456, "123456"},
        {0.0001, "0.0001"},
        {0.00001, "1e-05"},
        {1e-300, "1e-300"},
        {0, "0"},
        {-0.0, "-0"},
        {100, "100"},
        {0.25, "0.25"},
        {1234567, "1.234567e+06"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tr_pq_go_fmt_g(buf, sizeof(buf), cases[i].v);
        cr_expect_str_eq(buf, cases[i].want);
    }
    tr_pq_go_fmt_g(buf, sizeof(buf), NAN);
    cr_expect_str_eq(buf, "NaN");
    tr_pq_go_fmt_g(buf, sizeof(buf), -INFINITY);
    cr_expect_str_eq(buf, "-Inf");
}

/* Result labels are copied NUL-terminated without reading past a slice:
 * a label whose bytes end where their buffer ends (an arena block's end, in
 * a cluster read) was read one byte too far (ASan, fresh-machine run). */
Test(promql_eval, labels_dup_reads_only_the_slices)
{
    char *buf = malloc(13);
    cr_assert_not_null(buf);
    memcpy(buf, "__name__up_1x", 13);
    struct tr_label ls[2] = {
        {{buf, 8}, {buf + 8, 5}}, /* the value ends at the buffer's end */
        {{buf + 8, 2}, {NULL, 0}},
    };
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_label *o = tr_pq_ev_labels_dup(&a, ls, 2);
    cr_assert_not_null(o);
    cr_assert_str_eq(o[0].name.base, "__name__");
    cr_assert_str_eq(o[0].value.base, "up_1x");
    cr_assert_eq(o[0].value.len, 5);
    cr_assert_str_eq(o[1].name.base, "up");
    cr_assert_str_eq(o[1].value.base, "");
    tr_arena_free(&a);
    free(buf);
}
