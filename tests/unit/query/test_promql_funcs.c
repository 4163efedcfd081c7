/* test_promql_funcs.c - PromQL function implementations (funcs_eval.c):
 * hand-computed values and values transcribed from Prometheus'
 * promql/testdata/functions.test and histograms.test. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "lib/err.h"
#include "query/promql/value.h"

static struct tr_arena pf_arena;
static char pf_err[TR_ERRMSG_SIZE];

static void pf_setup(void)
{
    tr_arena_init(&pf_arena, 1 << 16);
    pf_err[0] = '\0';
}

static void pf_teardown(void)
{
    tr_arena_free(&pf_arena);
}

TestSuite(promql_funcs, .init = pf_setup, .fini = pf_teardown);

static struct tr_pq_fctx pf_ctx(int64_t ts, int64_t range_ms)
{
    struct tr_pq_fctx c;
    memset(&c, 0, sizeof(c));
    c.arena = &pf_arena;
    c.ts = ts;
    c.range_ms = range_ms;
    c.errmsg = pf_err;
    return c;
}

/* labels from "n1", "v1", "n2", "v2", ... (already sorted by name) */
static struct tr_label *pf_labels(size_t n, const char *const *kv)
{
    struct tr_label *ls = tr_arena_alloc(&pf_arena, (n + 1) * sizeof(*ls));
    for (size_t i = 0; i < n; i++) {
        ls[i].name = tr_slice_cstr(kv[2 * i]);
        ls[i].value = tr_slice_cstr(kv[2 * i + 1]);
    }
    return ls;
}

/* A series with values v[0..n) at t0, t0 + step, ... */
static struct tr_pq_series pf_series(struct tr_label *ls,
                                     size_t nl,
                                     int64_t t0,
                                     int64_t step,
                                     const double *v,
                                     size_t n)
{
    struct tr_pq_series s = {ls, nl, NULL, n};
    s.pts = tr_arena_alloc(&pf_arena, (n + 1) * sizeof(*s.pts));
    for (size_t i = 0; i < n; i++) {
        s.pts[i].t = t0 + (int64_t)i * step;
        s.pts[i].v = v[i];
    }
    return s;
}

static struct tr_pq_value pf_mat(struct tr_pq_series *s, size_t n)
{
    struct tr_pq_value v;
    memset(&v, 0, sizeof(v));
    v.type = TR_PROMQL_TYPE_MATRIX;
    v.mat.s = s;
    v.mat.n = n;
    return v;
}

static struct tr_pq_value pf_scalar(double d)
{
    struct tr_pq_value v;
    memset(&v, 0, sizeof(v));
    v.type = TR_PROMQL_TYPE_SCALAR;
    v.scalar = d;
    return v;
}

static struct tr_pq_value pf_str(const char *s)
{
    struct tr_pq_value v;
    memset(&v, 0, sizeof(v));
    v.type = TR_PROMQL_TYPE_STRING;
    v.str = s;
    v.str_len = strlen(s);
    return v;
}

static struct tr_pq_value pf_vec(struct tr_pq_sample *s, size_t n)
{
    struct tr_pq_value v;
    memset(&v, 0, sizeof(v));
    v.type = TR_PROMQL_TYPE_VECTOR;
    v.vec.s = s;
    v.vec.n = n;
    return v;
}

static int pf_call(const char *name,
                   struct tr_pq_fctx *c,
                   const struct tr_pq_value *args,
                   size_t n,
                   struct tr_pq_vector *out)
{
    tr_pq_func_fn f = tr_pq_func_impl(name);
    cr_assert_not_null(f, "%s not implemented", name);
    return f(c, args, n, out);
}

/* Runs a one-matrix-argument function on one series; returns its value. */
static double pf_range1(const char *name,
                        int64_t ts,
                        int64_t range_ms,
                        int64_t t0,
                        int64_t step,
                        const double *v,
                        size_t n)
{
    struct tr_pq_fctx c = pf_ctx(ts, range_ms);
    struct tr_pq_series s = pf_series(NULL, 0, t0, step, v, n);
    struct tr_pq_value a = pf_mat(&s, 1);
    struct tr_pq_vector out;
    cr_assert_eq(pf_call(name, &c, &a, 1, &out), 0, "%s", pf_err);
    cr_assert_eq(out.n, 1, "%s: %zu results", name, out.n);
    return out.s[0].v;
}

static bool pf_close(double a, double b)
{
    if (isnan(a) || isnan(b)) {
        return isnan(a) && isnan(b);
    }
    if (a == b) {
        return true;
    }
    return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
}

#define PF_NEAR(got, want)                                                    \
    cr_assert(pf_close((got), (want)), "got %.17g want %.17g", (double)(got), \
              (double)(want))

/* 0+step*k for k = 0..n-1 */
static double *pf_ramp(double start, double inc, size_t n)
{
    double *v = tr_arena_alloc(&pf_arena, n * sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        v[i] = start + inc * (double)i;
    }
    return v;
}

#define MIN5 300000

Test(promql_funcs, every_table_function_is_implemented)
{
    size_t n;
    const struct tr_promql_func *t = tr_promql_funcs(&n);
    for (size_t i = 0; i < n; i++) {
        cr_expect_not_null(tr_pq_func_impl(t[i].name), "%s", t[i].name);
    }
    cr_expect_null(tr_pq_func_impl("nope"));
}

Test(promql_funcs, increase_extrapolation_and_zero_clamp)
{
    /* functions.test: 0+10x10, 10+10x10, 1+10x10 at 5m, increase[100m]
     * at 50m: 100, 105 (half-interval), 101 (zero point at -30s). */
    PF_NEAR(pf_range1("increase", 50 * 60000, 100 * 60000, 0, MIN5,
                      pf_ramp(0, 10, 11), 11),
            100);
    PF_NEAR(pf_range1("increase", 50 * 60000, 100 * 60000, 0, MIN5,
                      pf_ramp(10, 10, 11), 11),
            105);
    PF_NEAR(pf_range1("increase", 50 * 60000, 100 * 60000, 0, MIN5,
                      pf_ramp(1, 10, 11), 11),
            101);
    /* [50m] with points 0..50m: no extrapolation */
    PF_NEAR(pf_range1("increase", 50 * 60000, 50 * 60000, 0, MIN5,
                      pf_ramp(0, 10, 11), 11),
            100);
}

Test(promql_funcs, increase_counter_reset)
{
    double v[] = {0, 1, 2, 3, 2, 3, 4};
    PF_NEAR(pf_range1("increase", 30 * 60000, 30 * 60000, 0, MIN5, v, 7), 7);
}

Test(promql_funcs, rate_reset_middle_and_window)
{
    double v[] = {0, 10, 20, 30, 40, 0, 10, 20, 30, 40, 50};
    PF_NEAR(pf_range1("rate", 50 * 60000, 50 * 60000, 0, MIN5, v, 11), 0.03);
    PF_NEAR(pf_range1("rate", 50 * 60000, 50 * 60000, 0, MIN5,
                      pf_ramp(0, 80, 11), 11),
            0.26666666666666666);
}

Test(promql_funcs, rate_extrapolates_to_both_ends)
{
    /* points at 15s, 30s, 45s (values 1, 2, 3) in (0, 60s]: to_start 15
     * < 16.5 threshold, to_end 15 as well: 2 * 60/30 = 4 -> rate 4/60. */
    double v[] = {1, 2, 3};
    PF_NEAR(pf_range1("rate", 60000, 60000, 15000, 15000, v, 3), 4.0 / 60);
    /* zero clamp: first value 1, increase 2 over 30s: zero at 15s before,
     * equal to to_start -> unchanged */
    /* a gap at the end: points 0..20s step 10s, range end 60s -> half
     * interval (5s) on the end, start at 0 in (-0, ...] */
    {
        double w[] = {5, 6, 7};
        /* range (0, 60s]: points at 10, 20, 30s; to_start 10 < 11 keep;
         * zero point 50s away (5 / 2 * 20) -> keep 10; to_end 30 >= 11
         * -> 5: delta 2 * (20 + 10 + 5) / 20 = 3.5 */
        PF_NEAR(pf_range1("increase", 60000, 60000, 10000, 10000, w, 3), 3.5);
        PF_NEAR(pf_range1("delta", 60000, 60000, 10000, 10000, w, 3), 3.5);
    }
}

Test(promql_funcs, delta_not_counter)
{
    double v[] = {200, 150, 100, 50, 0};
    PF_NEAR(pf_range1("delta", 20 * 60000, 20 * 60000, 0, MIN5, v, 5), -200);
    /* a drop is not a reset for delta; extrapolation may go negative */
    {
        double w[] = {1, 3};
        /* range (0, 40s], points 20s, 30s: to_start 20 >= 11 -> 5,
         * to_end 10 < 11 keep: 2 * (10 + 5 + 10) / 10 = 5 */
        PF_NEAR(pf_range1("delta", 40000, 40000, 20000, 10000, w, 2), 5);
        /* increase clamps at the zero point: 1 / 2 * 10 = 5 = same */
        PF_NEAR(pf_range1("increase", 40000, 40000, 20000, 10000, w, 2), 5);
    }
}

Test(promql_funcs, rate_needs_two_points)
{
    struct tr_pq_fctx c = pf_ctx(60000, 60000);
    double v[] = {1};
    struct tr_pq_series s[2];
    struct tr_pq_value a;
    struct tr_pq_vector out;
    s[0] = pf_series(NULL, 0, 30000, 1, v, 1);
    s[1] = pf_series(NULL, 0, 30000, 1, v, 0);
    a = pf_mat(s, 2);
    cr_assert_eq(pf_call("rate", &c, &a, 1, &out), 0);
    cr_assert_eq(out.n, 0);
    cr_assert_eq(pf_call("count_over_time", &c, &a, 1, &out), 0);
    cr_assert_eq(out.n, 1); /* empty series give nothing */
}

Test(promql_funcs, rate_with_offset_uses_range_end)
{
    /* rate(x[10m] offset 5m) at 50m: points 35m, 40m, 45m = 70, 80, 90 */
    struct tr_promql_node vs, ms, call, *argv[1];
    struct tr_pq_fctx c = pf_ctx(50 * 60000, 10 * 60000);
    double v[] = {70, 80, 90};
    struct tr_pq_series s = pf_series(NULL, 0, 35 * 60000, MIN5, v, 3);
    struct tr_pq_value a = pf_mat(&s, 1);
    struct tr_pq_vector out;
    memset(&vs, 0, sizeof(vs));
    memset(&ms, 0, sizeof(ms));
    memset(&call, 0, sizeof(call));
    vs.kind = TR_PROMQL_NODE_VECTOR_SEL;
    vs.vs.offset_ms = MIN5;
    ms.kind = TR_PROMQL_NODE_MATRIX_SEL;
    ms.ms.vs = &vs;
    ms.ms.range_ms = 10 * 60000;
    argv[0] = &ms;
    call.kind = TR_PROMQL_NODE_CALL;
    call.call.args = argv;
    call.call.n_args = 1;
    c.call = &call;
    cr_assert_eq(pf_call("rate", &c, &a, 1, &out), 0);
    PF_NEAR(out.s[0].v, 0.03333333333333333);
    /* the evaluator's range end wins */
    c.has_range_end = true;
    c.range_end_ms = 45 * 60000;
    cr_assert_eq(pf_call("rate", &c, &a, 1, &out), 0);
    PF_NEAR(out.s[0].v, 0.03333333333333333);
}

Test(promql_funcs, irate_idelta)
{
    double v[] = {0, 10, 20, 30, 40, 50, 0, 10, 20, 30, 40};
    PF_NEAR(pf_range1("irate", 50 * 60000, 50 * 60000, 0, MIN5,
                      pf_ramp(0, 10, 11), 11),
            0.03333333333333333);
    /* at 30m the /bar series (0+10x5 0+10x5) has just reset: 0 / 300s */
    PF_NEAR(pf_range1("irate", 30 * 60000, 50 * 60000, 0, MIN5, v, 7), 0);
    {
        double w[] = {0, 50, 100, 50};
        PF_NEAR(
            pf_range1("idelta", 20 * 60000, 20 * 60000, 5 * 60000, MIN5, w, 4),
            -50);
        PF_NEAR(
            pf_range1("irate", 20 * 60000, 20 * 60000, 5 * 60000, MIN5, w, 4),
            50.0 / 300);
    }
}

Test(promql_funcs, deriv_and_predict_linear)
{
    double v[] = {0, 10, 20, 30, 40, 0, 10, 20, 30, 40, 50};
    /* deriv(testcounter_reset_middle[100m]) at 50m */
    PF_NEAR(pf_range1("deriv", 50 * 60000, 100 * 60000, 0, MIN5, v, 11),
            0.010606060606060607);
    PF_NEAR(pf_range1("deriv", 50 * 60000, 50 * 60000, 0, MIN5,
                      pf_ramp(0, 80, 11), 11),
            0.26666666666666666);
    {
        struct tr_pq_fctx c = pf_ctx(50 * 60000, 50 * 60000);
        struct tr_pq_series s = pf_series(NULL, 0, 0, MIN5, v, 11);
        struct tr_pq_value a[2] = {pf_mat(&s, 1), pf_scalar(3600)};
        struct tr_pq_vector out;
        cr_assert_eq(pf_call("predict_linear", &c, a, 2, &out), 0);
        PF_NEAR(out.s[0].v, 76.81818181818181);
        /* at 10m with the same points (@ 3000): intercept at 600s */
        c.ts = 10 * 60000;
        cr_assert_eq(pf_call("predict_linear", &c, a, 2, &out), 0);
        PF_NEAR(out.s[0].v, 51.36363636363637);
    }
    /* constant series: slope 0 */
    {
        double k[] = {3, 3, 3};
        PF_NEAR(pf_range1("deriv", 30000, 30000, 10000, 10000, k, 3), 0);
    }
}

Test(promql_funcs, holt_winters)
{
    /* functions.test: 0+10x1000 100+30x1000 at 10s, [1m] at 8000s: the
     * points 7940s..8000s of the second ramp give 8000 */
    struct tr_pq_fctx c = pf_ctx(8000000, 60000);
    double *v = pf_ramp(100 + 30 * (794 - 1001), 30, 7);
    struct tr_pq_series s = pf_series(NULL, 0, 7940000, 10000, v, 7);
    struct tr_pq_value a[3] = {pf_mat(&s, 1), pf_scalar(0.01), pf_scalar(0.1)};
    struct tr_pq_vector out;
    PF_NEAR(v[6], 100 + 30 * (800 - 1001));
    cr_assert_eq(pf_call("holt_winters", &c, a, 3, &out), 0);
    PF_NEAR(out.s[0].v, v[6]); /* a straight line is reproduced */
    /* hand-computed: 1, 3, 2 with sf 0.5 tf 0.5:
     * s1=1 b=2; i=1: s = .5*3 + .5*(1+2) = 3; i=2: b = .5*(3-1)+.5*2 = 2,
     * s = .5*2 + .5*(3+2) = 3.5 */
    {
        double w[] = {1, 3, 2};
        struct tr_pq_series s2 = pf_series(NULL, 0, 0, 1000, w, 3);
        struct tr_pq_value b[3] = {pf_mat(&s2, 1), pf_scalar(0.5),
                                   pf_scalar(0.5)};
        cr_assert_eq(pf_call("holt_winters", &c, b, 3, &out), 0);
        PF_NEAR(out.s[0].v, 3.5);
        b[1] = pf_scalar(1);
        cr_assert_eq(pf_call("holt_winters", &c, b, 3, &out), TR_EEXEC);
        cr_assert_str_eq(pf_err,
                         "invalid smoothing factor. Expected: 0 < sf < 1, "
                         "got: 1.000000");
        b[1] = pf_scalar(0.5);
        b[2] = pf_scalar(0);
        cr_assert_eq(pf_call("holt_winters", &c, b, 3, &out), TR_EEXEC);
        cr_assert_str_eq(pf_err,
                         "invalid trend factor. Expected: 0 < tf < 1, got: "
                         "0.000000");
    }
}

Test(promql_funcs, over_time_aggregations)
{
    double v[] = {0, 8, 8, 2, 3};
    PF_NEAR(pf_range1("stddev_over_time", 60000, 60000, 0, 10000, v, 5),
            3.249615361854384);
    PF_NEAR(pf_range1("stdvar_over_time", 60000, 60000, 0, 10000, v, 5), 10.56);
    PF_NEAR(pf_range1("avg_over_time", 60000, 60000, 0, 10000, v, 5), 4.2);
    PF_NEAR(pf_range1("sum_over_time", 60000, 60000, 0, 10000, v, 5), 21);
    PF_NEAR(pf_range1("count_over_time", 60000, 60000, 0, 10000, v, 5), 5);
    PF_NEAR(pf_range1("max_over_time", 60000, 60000, 0, 10000, v, 5), 8);
    PF_NEAR(pf_range1("min_over_time", 60000, 60000, 0, 10000, v, 5), 0);
    PF_NEAR(pf_range1("last_over_time", 60000, 60000, 0, 10000, v, 5), 3);
    PF_NEAR(pf_range1("present_over_time", 60000, 60000, 0, 10000, v, 5), 1);
    PF_NEAR(pf_range1("changes", 60000, 60000, 0, 10000, v, 5), 3);
    PF_NEAR(pf_range1("resets", 60000, 60000, 0, 10000, v, 5), 1);
    {
        double k[] = {1.5990505637277868, 1.5990505637277868,
                      1.5990505637277868};
        PF_NEAR(pf_range1("stddev_over_time", 60000, 60000, 0, 10000, k, 3), 0);
    }
    {
        double m[] = {4, 6, 2, 1, 999, 1, 2};
        PF_NEAR(pf_range1("mad_over_time", 70000, 70000, 0, 10000, m, 7), 1);
    }
    {
        double n[] = {NAN, 1, NAN};
        PF_NEAR(pf_range1("max_over_time", 30000, 30000, 0, 10000, n, 3), 1);
        PF_NEAR(pf_range1("changes", 30000, 30000, 0, 10000, n, 3), 2);
    }
    {
        double inf[] = {INFINITY, 1, INFINITY};
        PF_NEAR(pf_range1("avg_over_time", 30000, 30000, 0, 10000, inf, 3),
                INFINITY);
    }
}

Test(promql_funcs, quantile_over_time)
{
    double two[] = {0, 1}, three[] = {0, 1, 2}, uneven[] = {0, 1, 4};
    struct tr_pq_fctx c = pf_ctx(60000, 60000);
    struct tr_pq_series s[3];
    struct tr_pq_value a[2];
    struct tr_pq_vector out;
    const double q[] = {0, 0.5, 0.75, 2, -1};
    const double want[][3] = {{0, 0, 0},
                              {0.5, 1, 1},
                              {0.75, 1.5, 2.5},
                              {INFINITY, INFINITY, INFINITY},
                              {-INFINITY, -INFINITY, -INFINITY}};
    s[0] = pf_series(NULL, 0, 0, 10000, two, 2);
    s[1] = pf_series(NULL, 0, 0, 10000, three, 3);
    s[2] = pf_series(NULL, 0, 0, 10000, uneven, 3);
    a[1] = pf_mat(s, 3);
    for (size_t i = 0; i < 5; i++) {
        a[0] = pf_scalar(q[i]);
        cr_assert_eq(pf_call("quantile_over_time", &c, a, 2, &out), 0);
        cr_assert_eq(out.n, 3);
        for (size_t j = 0; j < 3; j++) {
            PF_NEAR(out.s[j].v, want[i][j]);
        }
    }
}

Test(promql_funcs, name_dropped_except_last_over_time)
{
    const char *kv[] = {"__name__", "m", "a", "b"};
    struct tr_label *ls = pf_labels(2, kv);
    double v[] = {1, 2};
    struct tr_pq_fctx c = pf_ctx(20000, 20000);
    struct tr_pq_series s = pf_series(ls, 2, 10000, 10000, v, 2);
    struct tr_pq_value a = pf_mat(&s, 1);
    struct tr_pq_vector out;
    cr_assert_eq(pf_call("sum_over_time", &c, &a, 1, &out), 0);
    cr_assert_eq(out.s[0].n_labels, 1);
    cr_assert(tr_slice_eq_cstr(out.s[0].labels[0].name, "a"));
    cr_assert_eq(out.s[0].t, 20000);
    cr_assert_eq(pf_call("last_over_time", &c, &a, 1, &out), 0);
    cr_assert_eq(out.s[0].n_labels, 2);
    {
        struct tr_pq_sample smp = {ls, 2, 20000, -2.5};
        struct tr_pq_value b = pf_vec(&smp, 1);
        cr_assert_eq(pf_call("abs", &c, &b, 1, &out), 0);
        cr_assert_eq(out.s[0].n_labels, 1);
        PF_NEAR(out.s[0].v, 2.5);
        cr_assert_eq(pf_call("sort", &c, &b, 1, &out), 0);
        cr_assert_eq(out.s[0].n_labels, 2);
        cr_assert(c.ordered);
    }
}

static struct tr_pq_sample pf_sample(struct tr_label *ls, size_t n, double v)
{
    struct tr_pq_sample s = {ls, n, 0, v};
    return s;
}

Test(promql_funcs, math_functions)
{
    struct tr_pq_fctx c = pf_ctx(0, 0);
    struct tr_pq_sample s[4] = {pf_sample(NULL, 0, 8), pf_sample(NULL, 0, -1),
                                pf_sample(NULL, 0, NAN),
                                pf_sample(NULL, 0, 0.5)};
    struct tr_pq_value a[3] = {pf_vec(s, 4), pf_scalar(0), pf_scalar(1)};
    struct tr_pq_vector out;
    cr_assert_eq(pf_call("log2", &c, a, 1, &out), 0);
    PF_NEAR(out.s[0].v, 3);
    PF_NEAR(out.s[1].v, NAN);
    PF_NEAR(out.s[3].v, -1);
    cr_assert_eq(pf_call("log10", &c, a, 1, &out), 0);
    PF_NEAR(out.s[0].v, 0.9030899869919435);
    cr_assert_eq(pf_call("sgn", &c, a, 1, &out), 0);
    PF_NEAR(out.s[0].v, 1);
    PF_NEAR(out.s[1].v, -1);
    PF_NEAR(out.s[2].v, NAN);
    cr_assert_eq(pf_call("clamp", &c, a, 3, &out), 0);
    PF_NEAR(out.s[0].v, 1);
    PF_NEAR(out.s[1].v, 0);
    PF_NEAR(out.s[2].v, NAN); /* Go's Max/Min propagate NaN */
    PF_NEAR(out.s[3].v, 0.5);
    a[1] = pf_scalar(2);
    cr_assert_eq(pf_call("clamp", &c, a, 3, &out), 0);
    cr_assert_eq(out.n, 0); /* max < min */
    cr_assert_eq(pf_call("clamp_max", &c, a, 2, &out), 0);
    PF_NEAR(out.s[0].v, 2);
    cr_assert_eq(pf_call("clamp_min", &c, a, 2, &out), 0);
    PF_NEAR(out.s[1].v, 2);
    cr_assert_eq(pf_call("rad", &c, a, 1, &out), 0);
    PF_NEAR(out.s[0].v, 8 * 3.14159265358979323846 / 180);
    cr_assert_eq(pf_call("deg", &c, a, 1, &out), 0);
    PF_NEAR(out.s[0].v, 8 * 180 / 3.14159265358979323846);
    cr_assert_eq(pf_call("sqrt", &c, a, 1, &out), 0);
    PF_NEAR(out.s[0].v, sqrt(8));
    cr_assert_eq(pf_call("pi", &c, NULL, 0, &out), 0);
    PF_NEAR(out.s[0].v, 3.141592653589793);
}

Test(promql_funcs, round_ties_up)
{
    struct tr_pq_fctx c = pf_ctx(0, 0);
    struct tr_pq_sample s[4] = {
        pf_sample(NULL, 0, 2.5), pf_sample(NULL, 0, -2.5),
        pf_sample(NULL, 0, 7.3), pf_sample(NULL, 0, 1.234)};
    struct tr_pq_value a[2] = {pf_vec(s, 4), pf_scalar(0.1)};
    struct tr_pq_vector out;
    cr_assert_eq(pf_call("round", &c, a, 1, &out), 0);
    PF_NEAR(out.s[0].v, 3);
    PF_NEAR(out.s[1].v, -2);
    PF_NEAR(out.s[2].v, 7);
    cr_assert_eq(pf_call("round", &c, a, 2, &out), 0);
    PF_NEAR(out.s[3].v, 1.2);
    a[1] = pf_scalar(5);
    cr_assert_eq(pf_call("round", &c, a, 2, &out), 0);
    PF_NEAR(out.s[2].v, 5);
}

Test(promql_funcs, scalar_vector_time_timestamp)
{
    struct tr_pq_fctx c = pf_ctx(3000000, 0);
    struct tr_pq_sample s[2] = {pf_sample(NULL, 0, 4), pf_sample(NULL, 0, 5)};
    struct tr_pq_value a = pf_vec(s, 1);
    struct tr_pq_vector out;
    cr_assert_eq(pf_call("scalar", &c, &a, 1, &out), 0);
    PF_NEAR(out.s[0].v, 4);
    a.vec.n = 2;
    cr_assert_eq(pf_call("scalar", &c, &a, 1, &out), 0);
    PF_NEAR(out.s[0].v, NAN);
    cr_assert_eq(pf_call("time", &c, NULL, 0, &out), 0);
    PF_NEAR(out.s[0].v, 3000);
    s[0].t = 1234;
    cr_assert_eq(pf_call("timestamp", &c, &a, 1, &out), 0);
    PF_NEAR(out.s[0].v, 1.234);
    a = pf_scalar(7);
    cr_assert_eq(pf_call("vector", &c, &a, 1, &out), 0);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.s[0].n_labels, 0);
    PF_NEAR(out.s[0].v, 7);
}

static double pf_date(const char *fn, double t)
{
    struct tr_pq_fctx c = pf_ctx(0, 0);
    struct tr_pq_sample s = pf_sample(NULL, 0, t);
    struct tr_pq_value a = pf_vec(&s, 1);
    struct tr_pq_vector out;
    cr_assert_eq(pf_call(fn, &c, &a, 1, &out), 0);
    return out.s[0].v;
}

Test(promql_funcs, date_functions)
{
    struct tr_pq_fctx c = pf_ctx(0, 0);
    struct tr_pq_vector out;
    cr_assert_eq(pf_call("year", &c, NULL, 0, &out), 0);
    PF_NEAR(out.s[0].v, 1970);
    cr_assert_eq(pf_call("day_of_week", &c, NULL, 0, &out), 0);
    PF_NEAR(out.s[0].v, 4);
    PF_NEAR(pf_date("year", 1136239445), 2006);
    PF_NEAR(pf_date("month", 1136239445), 1);
    PF_NEAR(pf_date("day_of_month", 1136239445), 2);
    PF_NEAR(pf_date("day_of_year", 1136239445), 2);
    PF_NEAR(pf_date("day_of_week", 1136239445), 1);
    PF_NEAR(pf_date("hour", 1136239445), 22);
    PF_NEAR(pf_date("minute", 1136239445), 4);
    PF_NEAR(pf_date("year", 1230767999), 2008);
    PF_NEAR(pf_date("year", 1230768000), 2009);
    PF_NEAR(pf_date("month", 1456790399), 2);
    PF_NEAR(pf_date("day_of_month", 1456790399), 29);
    PF_NEAR(pf_date("month", 1456790400), 3);
    PF_NEAR(pf_date("day_of_year", 1483191420), 366);
    PF_NEAR(pf_date("day_of_year", 1672493820), 365);
    PF_NEAR(pf_date("days_in_month", 1454284800), 29);
    PF_NEAR(pf_date("days_in_month", 1485907200), 28);
    /* before the epoch: 1969-12-31 23:59:59, a Wednesday */
    PF_NEAR(pf_date("year", -1), 1969);
    PF_NEAR(pf_date("day_of_week", -1), 3);
    PF_NEAR(pf_date("hour", -1.5), 23); /* int64(-1.5) = -1 */
}

/* Bucket samples of one histogram; le values and counts. */
static struct tr_pq_value pf_hist(const char *extra_name,
                                  const char *extra_value,
                                  const char *const *le,
                                  const double *counts,
                                  size_t n)
{
    struct tr_pq_sample *s = tr_arena_alloc(&pf_arena, n * sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        const char *kv[] = {"__name__", "h_bucket", "le",
                            le[i],      extra_name, extra_value};
        size_t nl = extra_name != NULL ? 3 : 2;
        s[i] = pf_sample(pf_labels(nl, kv), nl, counts[i]);
        if (extra_name != NULL && strcmp(extra_name, "le") < 0) {
            cr_assert(false, "test helper needs extra label > le");
        }
    }
    return pf_vec(s, n);
}

static double pf_hq(double q, struct tr_pq_value h, size_t *n_out)
{
    struct tr_pq_fctx c = pf_ctx(0, 0);
    struct tr_pq_value a[2] = {pf_scalar(q), h};
    struct tr_pq_vector out;
    cr_assert_eq(pf_call("histogram_quantile", &c, a, 2, &out), 0);
    *n_out = out.n;
    return out.n > 0 ? out.s[0].v : NAN;
}

Test(promql_funcs, histogram_quantile_classic)
{
    /* histograms.test at 50m: testhistogram_bucket{start="positive"} and
     * testhistogram2_bucket (q 1/6, 1/2, 5/6 -> 1, 3, 5) */
    const char *le1[] = {"0.1", ".2", "1e0", "+Inf"};
    const double c1[] = {50, 70, 110, 120};
    const char *le_neg[] = {"-.2", "-0.1", "0.3", "+Inf"};
    const double c_neg[] = {10, 20, 20, 30};
    const char *le2[] = {"0", "2", "4", "6", "+Inf"};
    const double c2[] = {0, 10, 20, 30, 30};
    size_t n;
    struct tr_pq_value h1 = pf_hist("start", "positive", le1, c1, 4);
    struct tr_pq_value hn = pf_hist("start", "negative", le_neg, c_neg, 4);
    struct tr_pq_value h2 = pf_hist(NULL, NULL, le2, c2, 5);
    PF_NEAR(pf_hq(0, h1, &n), 0);
    cr_assert_eq(n, 1);
    PF_NEAR(pf_hq(1, h1, &n), 1);
    PF_NEAR(pf_hq(0.2, h1, &n), 0.048);
    PF_NEAR(pf_hq(0.5, h1, &n), 0.15);
    PF_NEAR(pf_hq(0.8, h1, &n), 0.72); /* rank 96: 0.2 + 0.8 * 26 / 40 */
    PF_NEAR(pf_hq(0, hn, &n), -0.2);
    PF_NEAR(pf_hq(1, hn, &n), 0.3);
    PF_NEAR(pf_hq(0.3, hn, &n), -0.2); /* lowest bucket, bound <= 0 */
    PF_NEAR(pf_hq(0.5, hn, &n), -0.15);
    PF_NEAR(pf_hq(-0.1, h1, &n), -INFINITY);
    PF_NEAR(pf_hq(1.01, h1, &n), INFINITY);
    PF_NEAR(pf_hq(NAN, h1, &n), NAN);
    PF_NEAR(pf_hq(1.0 / 6, h2, &n), 1);
    PF_NEAR(pf_hq(0.5, h2, &n), 3);
    PF_NEAR(pf_hq(5.0 / 6, h2, &n), 5);
    /* no +Inf bucket -> NaN; zero observations -> NaN */
    {
        const char *le[] = {"1", "2"};
        const double cc[] = {1, 2};
        PF_NEAR(pf_hq(0.5, pf_hist(NULL, NULL, le, cc, 2), &n), NAN);
        cr_assert_eq(n, 1);
    }
    {
        const char *le[] = {"1", "+Inf"};
        const double cc[] = {0, 0};
        PF_NEAR(pf_hq(0.5, pf_hist(NULL, NULL, le, cc, 2), &n), NAN);
    }
    /* non-monotonic buckets are fixed: counts 5, 3, 10 -> 5, 5, 10;
     * equal bounds in different spellings are merged */
    {
        const char *le[] = {"1", "2", "+Inf"};
        const double cc[] = {5, 3, 10};
        PF_NEAR(pf_hq(0.5, pf_hist(NULL, NULL, le, cc, 3), &n), 1);
        PF_NEAR(pf_hq(0.75, pf_hist(NULL, NULL, le, cc, 3), &n), 2);
        const char *le_m[] = {"0.1", "0.2", "2e-1", "2.0e-1", "+Inf", "+inf"};
        const double cm[] = {10, 10, 10, 10, 40, 0};
        /* merged: 0.1:10, 0.2:30, +Inf:40; q .5 -> rank 20 in (0.1, 0.2] */
        PF_NEAR(pf_hq(0.5, pf_hist(NULL, NULL, le_m, cm, 6), &n), 0.15);
    }
    /* only +Inf -> NaN (fewer than two buckets); bad le skipped */
    {
        const char *le[] = {"+Inf", "x"};
        const double cc[] = {5, 1};
        PF_NEAR(pf_hq(0.5, pf_hist(NULL, NULL, le, cc, 2), &n), NAN);
    }
}

Test(promql_funcs, histogram_quantile_groups_and_labels)
{
    const char *le[] = {"0.1", "0.2", "+Inf"};
    const double ca[] = {1, 3, 4}, cb[] = {2, 5, 6};
    struct tr_pq_value a = pf_hist("z", "a", le, ca, 3);
    struct tr_pq_value b = pf_hist("z", "b", le, cb, 3);
    struct tr_pq_sample all[6];
    struct tr_pq_fctx c = pf_ctx(0, 0);
    struct tr_pq_value args[2];
    struct tr_pq_vector out;
    /* interleave the two histograms */
    for (size_t i = 0; i < 3; i++) {
        all[2 * i] = b.vec.s[i];
        all[2 * i + 1] = a.vec.s[i];
    }
    args[0] = pf_scalar(0.5);
    args[1] = pf_vec(all, 6);
    cr_assert_eq(pf_call("histogram_quantile", &c, args, 2, &out), 0);
    cr_assert_eq(out.n, 2);
    for (size_t i = 0; i < 2; i++) {
        struct tr_slice z =
            tr_labels_get(out.s[i].labels, out.s[i].n_labels, "z", 1);
        cr_assert_eq(out.s[i].n_labels, 1); /* no __name__, no le */
        if (tr_slice_eq_cstr(z, "a")) {
            PF_NEAR(out.s[i].v, 0.15); /* rank 2 in (0.1, 0.2] */
        } else {
            PF_NEAR(out.s[i].v, 0.13333333333333333); /* rank 3 */
        }
    }
}

static struct tr_pq_sample pf_lsample(const char *src, double v)
{
    const char *kv[] = {"__name__", "testmetric", "src", src};
    return pf_sample(pf_labels(2, kv), 2, v);
}

Test(promql_funcs, label_replace)
{
    struct tr_pq_fctx c = pf_ctx(0, 0);
    struct tr_pq_sample s[2] = {pf_lsample("source-value-10", 0),
                                pf_lsample("source-value-20", 1)};
    struct tr_pq_value a[5] = {pf_vec(s, 2), pf_str("dst"),
                               pf_str("destination-value-$1"), pf_str("src"),
                               pf_str("source-value-(.*)")};
    struct tr_pq_vector out;
    struct tr_slice d;
    cr_assert_eq(pf_call("label_replace", &c, a, 5, &out), 0);
    cr_assert_eq(out.n, 2);
    cr_assert_eq(out.s[0].n_labels, 3); /* __name__ kept */
    d = tr_labels_get(out.s[0].labels, 3, "dst", 3);
    cr_assert(tr_slice_eq_cstr(d, "destination-value-10"));
    /* full-string match only */
    a[4] = pf_str("value-(.*)");
    cr_assert_eq(pf_call("label_replace", &c, a, 5, &out), 0);
    cr_assert_eq(out.s[0].n_labels, 2);
    /* several groups, ${1}x and named groups, $$ */
    a[2] = pf_str("${1}x-$name-$$-$2");
    a[4] = pf_str("(.*)-value-(?P<name>.*)");
    cr_assert_eq(pf_call("label_replace", &c, a, 5, &out), 0);
    d = tr_labels_get(out.s[1].labels, 3, "dst", 3);
    cr_assert(tr_slice_eq_cstr(d, "sourcex-20-$-20"), "%.*s", (int)d.len,
              d.base);
    /* $1x is the group named "1x": empty */
    a[2] = pf_str("$1x");
    cr_assert_eq(pf_call("label_replace", &c, a, 5, &out), 0);
    cr_assert_eq(out.s[1].n_labels, 2);
    /* replace __name__ and drop src by an empty replacement */
    a[1] = pf_str("src");
    a[2] = pf_str("");
    a[4] = pf_str(".*10");
    cr_assert_eq(pf_call("label_replace", &c, a, 5, &out), 0);
    cr_assert_eq(out.s[0].n_labels, 1);
    cr_assert_eq(out.s[1].n_labels, 2);
    /* errors */
    a[4] = pf_str("(.*");
    cr_assert_eq(pf_call("label_replace", &c, a, 5, &out), TR_EEXEC);
    cr_assert_str_eq(pf_err,
                     "invalid regular expression in label_replace(): (.*");
    a[4] = pf_str("(.*)");
    a[1] = pf_str("\xff-invalid");
    cr_assert_eq(pf_call("label_replace", &c, a, 5, &out), TR_EEXEC);
    cr_assert_str_eq(pf_err,
                     "invalid destination label name in label_replace(): "
                     "\xff-invalid");
    /* both series end up identical */
    a[1] = pf_str("src");
    a[2] = pf_str("same");
    cr_assert_eq(pf_call("label_replace", &c, a, 5, &out), TR_EEXEC);
    cr_assert_str_eq(pf_err,
                     "vector cannot contain metrics with the same labelset");
}

Test(promql_funcs, label_join)
{
    const char *kv[] = {"__name__", "m", "a", "x", "b", "y"};
    struct tr_pq_sample s = pf_sample(pf_labels(3, kv), 3, 1);
    struct tr_pq_fctx c = pf_ctx(0, 0);
    struct tr_pq_value a[6] = {pf_vec(&s, 1), pf_str("dst"),     pf_str("-"),
                               pf_str("a"),   pf_str("missing"), pf_str("b")};
    struct tr_pq_vector out;
    struct tr_slice d;
    cr_assert_eq(pf_call("label_join", &c, a, 6, &out), 0);
    cr_assert_eq(out.s[0].n_labels, 4);
    d = tr_labels_get(out.s[0].labels, 4, "dst", 3);
    cr_assert(tr_slice_eq_cstr(d, "x--y"));
    cr_assert(tr_slice_eq_cstr(out.s[0].labels[0].name, "__name__"));
    cr_assert(tr_slice_eq_cstr(out.s[0].labels[3].name, "dst"));
    /* no sources: empty value removes the label */
    a[1] = pf_str("a");
    cr_assert_eq(pf_call("label_join", &c, a, 3, &out), 0);
    cr_assert_eq(out.s[0].n_labels, 2);
    a[1] = pf_str("1a");
    cr_assert_eq(pf_call("label_join", &c, a, 6, &out), TR_EEXEC);
    cr_assert_str_eq(pf_err,
                     "invalid destination label name in label_join(): 1a");
}

Test(promql_funcs, sorting)
{
    const char *k1[] = {"n", "node10"}, *k2[] = {"n", "node9"},
               *k3[] = {"n", "node10a"}, *k4[] = {"n", "abc"};
    struct tr_pq_sample s[4] = {
        pf_sample(pf_labels(1, k1), 1, 3), pf_sample(pf_labels(1, k2), 1, NAN),
        pf_sample(pf_labels(1, k3), 1, 1), pf_sample(pf_labels(1, k4), 1, 2)};
    struct tr_pq_fctx c = pf_ctx(0, 0);
    struct tr_pq_value a[2] = {pf_vec(s, 4), pf_str("n")};
    struct tr_pq_vector out;
    cr_assert_eq(pf_call("sort", &c, a, 1, &out), 0);
    PF_NEAR(out.s[0].v, 1);
    PF_NEAR(out.s[1].v, 2);
    PF_NEAR(out.s[2].v, 3);
    PF_NEAR(out.s[3].v, NAN);
    cr_assert(c.ordered);
    cr_assert_eq(pf_call("sort_desc", &c, a, 1, &out), 0);
    PF_NEAR(out.s[0].v, 3);
    PF_NEAR(out.s[2].v, 1);
    PF_NEAR(out.s[3].v, NAN);
    PF_NEAR(s[1].v, NAN); /* the input is not modified */
    /* natural order: abc, node9, node10, node10a */
    cr_assert_eq(pf_call("sort_by_label", &c, a, 2, &out), 0);
    PF_NEAR(out.s[0].v, 2);
    PF_NEAR(out.s[1].v, NAN);
    PF_NEAR(out.s[2].v, 3);
    PF_NEAR(out.s[3].v, 1);
    cr_assert_eq(pf_call("sort_by_label_desc", &c, a, 2, &out), 0);
    PF_NEAR(out.s[0].v, 1);
    PF_NEAR(out.s[3].v, 2);
}

Test(promql_funcs, absent_from_matchers)
{
    struct tr_matcher m[4];
    struct tr_promql_node vs, call, *argv[1];
    struct tr_pq_fctx c = pf_ctx(0, 0);
    struct tr_pq_value a = pf_vec(NULL, 0);
    struct tr_pq_vector out;
    cr_assert_eq(tr_matcher_init(&m[0], TR_MATCH_EQ, "job", "a", 1, pf_err), 0);
    cr_assert_eq(tr_matcher_init(&m[1], TR_MATCH_EQ, "job", "b", 1, pf_err), 0);
    cr_assert_eq(tr_matcher_init(&m[2], TR_MATCH_EQ, "foo", "bar", 3, pf_err),
                 0);
    cr_assert_eq(
        tr_matcher_init(&m[3], TR_MATCH_EQ, "__name__", "x", 1, pf_err), 0);
    memset(&vs, 0, sizeof(vs));
    memset(&call, 0, sizeof(call));
    vs.kind = TR_PROMQL_NODE_VECTOR_SEL;
    vs.vs.matchers = m;
    vs.vs.n_matchers = 4;
    argv[0] = &vs;
    call.kind = TR_PROMQL_NODE_CALL;
    call.call.args = argv;
    call.call.n_args = 1;
    c.call = &call;
    cr_assert_eq(pf_call("absent", &c, &a, 1, &out), 0);
    cr_assert_eq(out.n, 1);
    PF_NEAR(out.s[0].v, 1);
    cr_assert_eq(out.s[0].n_labels, 1); /* job dropped, foo kept */
    cr_assert(tr_slice_eq_cstr(out.s[0].labels[0].name, "foo"));
    {
        struct tr_pq_sample smp = pf_sample(NULL, 0, 1);
        struct tr_pq_value b = pf_vec(&smp, 1);
        cr_assert_eq(pf_call("absent", &c, &b, 1, &out), 0);
        cr_assert_eq(out.n, 0);
    }
    {
        struct tr_pq_series e = pf_series(NULL, 0, 0, 1, NULL, 0);
        struct tr_pq_value mm = pf_mat(&e, 1);
        double v[] = {1};
        cr_assert_eq(pf_call("absent_over_time", &c, &mm, 1, &out), 0);
        cr_assert_eq(out.n, 1);
        e = pf_series(NULL, 0, 0, 1, v, 1);
        cr_assert_eq(pf_call("absent_over_time", &c, &mm, 1, &out), 0);
        cr_assert_eq(out.n, 0);
    }
    for (size_t i = 0; i < 4; i++) {
        tr_matcher_free(&m[i]);
    }
}

Test(promql_funcs, labels_helpers)
{
    const char *kv[] = {"__name__", "m", "b", "2", "d", "4"};
    struct tr_label *ls = pf_labels(3, kv), *r;
    size_t n;
    r = tr_pq_labels_drop_name(&pf_arena, ls, 3, &n);
    cr_assert_eq(n, 2);
    cr_assert(tr_slice_eq_cstr(r[0].name, "b"));
    r = tr_pq_labels_set(&pf_arena, ls, 3, "c", "3", 1, &n);
    cr_assert_eq(n, 4);
    cr_assert(tr_slice_eq_cstr(r[2].name, "c"));
    cr_assert(tr_slice_eq_cstr(r[3].name, "d"));
    r = tr_pq_labels_set(&pf_arena, ls, 3, "b", "x", 1, &n);
    cr_assert_eq(n, 3);
    cr_assert(tr_slice_eq_cstr(r[1].value, "x"));
    r = tr_pq_labels_set(&pf_arena, ls, 3, "b", "", 0, &n);
    cr_assert_eq(n, 2);
    r = tr_pq_labels_set(&pf_arena, ls, 3, "z", "1", 1, &n);
    cr_assert_eq(n, 4);
    cr_assert(tr_slice_eq_cstr(r[3].name, "z"));
}
