/* funcs_eval.c - the PromQL functions of Prometheus 2.53 (promql/
 * functions.go, quantile.go) on float samples, one evaluation step per call.
 *
 * Conventions (value.h): matrix arguments hold, per series, the points of
 * (range_end - range, range_end]; series without points produce nothing.
 * Every function drops __name__ from its output except last_over_time,
 * label_replace, label_join and the sort functions, as in 2.53. Scalar
 * results are one-element vectors without labels. Native-histogram
 * functions (histogram_count, ...) see only float samples and return an
 * empty vector, as Prometheus does for floats.
 *
 * Float semantics follow Go where C differs: math.Max/Min propagate NaN,
 * math.Log2/Log10 are computed as Go defines them, sums use Prometheus'
 * Kahan compensation. */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "query/promql/value.h"

#define PQ_PI 3.14159265358979323846264338327950288419716939937510582097494459
#define PQ_LN2 0.693147180559945309417232121458176568075500134360255254120680009
/* Ln2 / Ln10 and 1 / Ln2 as Go evaluates its constant expressions. */
#define PQ_LN2_OVER_LN10 \
    0.301029995663981195213738894724493026768189881462108541310430
#define PQ_INV_LN2 1.44269504088896340735992468100189213742664595415298593413

/* ------------------------------------------------------------------ */
/* helpers                                                             */

static int oom(struct tr_pq_fctx *ctx)
{
    return tr_errf(TR_ENOMEM, ctx->errmsg, "out of memory");
}

static int slice_cmp(struct tr_slice a, const char *b, size_t bn)
{
    size_t n = a.len < bn ? a.len : bn;
    int c = n > 0 ? memcmp(a.base, b, n) : 0;
    if (c != 0) {
        return c;
    }
    return a.len < bn ? -1 : a.len > bn ? 1 : 0;
}

static bool is_name_label(struct tr_slice s)
{
    return s.len == 8 && memcmp(s.base, "__name__", 8) == 0;
}

struct tr_label *tr_pq_labels_drop_name(struct tr_arena *a,
                                        const struct tr_label *ls,
                                        size_t n,
                                        size_t *out_n)
{
    struct tr_label *r = tr_arena_alloc(a, (n > 0 ? n : 1) * sizeof(*r));
    size_t j = 0;
    if (r == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_name_label(ls[i].name)) {
            r[j++] = ls[i];
        }
    }
    *out_n = j;
    return r;
}

struct tr_label *tr_pq_labels_set(struct tr_arena *a,
                                  const struct tr_label *ls,
                                  size_t n,
                                  const char *name,
                                  const char *value,
                                  size_t value_len,
                                  size_t *out_n)
{
    size_t name_len = strlen(name);
    struct tr_label *r = tr_arena_alloc(a, (n + 1) * sizeof(*r));
    struct tr_label nl = {{NULL, 0}, {NULL, 0}};
    bool done = false;
    size_t j = 0;
    if (r == NULL) {
        return NULL;
    }
    if (value_len > 0) {
        nl.name.base = tr_arena_strndup(a, name, name_len);
        nl.name.len = name_len;
        nl.value.base = tr_arena_strndup(a, value, value_len);
        nl.value.len = value_len;
        if (nl.name.base == NULL || nl.value.base == NULL) {
            return NULL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        int c = slice_cmp(ls[i].name, name, name_len);
        if (!done && c >= 0) {
            if (value_len > 0) {
                r[j++] = nl;
            }
            done = true;
            if (c == 0) {
                continue;
            }
        }
        r[j++] = ls[i];
    }
    if (!done && value_len > 0) {
        r[j++] = nl;
    }
    *out_n = j;
    return r;
}

static struct tr_slice label_get(const struct tr_label *ls,
                                 size_t n,
                                 const char *name,
                                 size_t name_len)
{
    for (size_t i = 0; i < n; i++) {
        if (slice_cmp(ls[i].name, name, name_len) == 0) {
            return ls[i].value;
        }
    }
    return (struct tr_slice){"", 0};
}

static int out_init(struct tr_pq_fctx *ctx,
                    struct tr_pq_vector *out,
                    size_t cap)
{
    out->n = 0;
    out->s = tr_arena_alloc(ctx->arena, (cap > 0 ? cap : 1) * sizeof(*out->s));
    return out->s == NULL ? oom(ctx) : 0;
}

/* Appends a sample whose labels are ls minus __name__ (drop) or ls. */
static int out_push(struct tr_pq_fctx *ctx,
                    struct tr_pq_vector *out,
                    const struct tr_label *ls,
                    size_t n,
                    bool drop,
                    int64_t t,
                    double v)
{
    struct tr_pq_sample *s = &out->s[out->n];
    if (drop) {
        s->labels = tr_pq_labels_drop_name(ctx->arena, ls, n, &s->n_labels);
        if (s->labels == NULL) {
            return oom(ctx);
        }
    } else {
        s->labels = (struct tr_label *)ls;
        s->n_labels = n;
    }
    s->t = t;
    s->v = v;
    out->n++;
    return 0;
}

/* A one-element vector without labels (scalar results, vector(), ...). */
static int out_single(struct tr_pq_fctx *ctx,
                      struct tr_pq_vector *out,
                      double v)
{
    int rc = out_init(ctx, out, 1);
    if (rc != 0) {
        return rc;
    }
    out->s[0] = (struct tr_pq_sample){NULL, 0, ctx->ts, v};
    out->n = 1;
    return 0;
}

/* Go's math.Max / math.Min: NaN wins, +-Inf win, signed zeros ordered. */
static double go_max(double x, double y)
{
    if (isinf(x) && x > 0) {
        return x;
    }
    if (isinf(y) && y > 0) {
        return y;
    }
    if (isnan(x) || isnan(y)) {
        return NAN;
    }
    if (x == 0 && x == y) {
        return signbit(x) ? y : x;
    }
    return x > y ? x : y;
}

static double go_min(double x, double y)
{
    if (isinf(x) && x < 0) {
        return x;
    }
    if (isinf(y) && y < 0) {
        return y;
    }
    if (isnan(x) || isnan(y)) {
        return NAN;
    }
    if (x == 0 && x == y) {
        return signbit(x) ? x : y;
    }
    return x < y ? x : y;
}

static double go_log2(double x)
{
    int e;
    double frac;
    if (isnan(x) || x < 0) {
        return NAN;
    }
    if (x == 0) {
        return -INFINITY;
    }
    if (isinf(x)) {
        return x;
    }
    frac = frexp(x, &e);
    if (frac == 0.5) {
        return (double)(e - 1);
    }
    return log(frac) * PQ_INV_LN2 + (double)e;
}

static double go_log10(double x)
{
    return go_log2(x) * PQ_LN2_OVER_LN10;
}

/* Prometheus' kahanSumInc. */
static double kahan_inc(double inc, double sum, double *c)
{
    double t = sum + inc;
    if (fabs(sum) >= fabs(inc)) {
        *c += (sum - t) + inc;
    } else {
        *c += (inc - t) + sum;
    }
    return t;
}

/* Go's time.Duration(ms).Seconds(). */
static double range_seconds(int64_t ms)
{
    int64_t sec = ms / 1000;
    int64_t nsec = (ms % 1000) * 1000000;
    return (double)sec + (double)nsec / 1e9;
}

static const struct tr_promql_node *unparen(const struct tr_promql_node *n)
{
    while (n != NULL && n->kind == TR_PROMQL_NODE_PAREN) {
        n = n->paren.expr;
    }
    return n;
}

/* End of the matrix argument's range: from the evaluator when it knows it,
 * else ts minus the selector's (subquery's) offset, @ <timestamp> applied. */
static int64_t range_end(const struct tr_pq_fctx *ctx)
{
    const struct tr_promql_node *call = ctx->call;
    if (ctx->has_range_end) {
        return ctx->range_end_ms;
    }
    if (call == NULL || call->kind != TR_PROMQL_NODE_CALL) {
        return ctx->ts;
    }
    for (size_t i = 0; i < call->call.n_args; i++) {
        const struct tr_promql_node *a = unparen(call->call.args[i]);
        if (a == NULL) {
            continue;
        }
        if (a->kind == TR_PROMQL_NODE_MATRIX_SEL && a->ms.vs != NULL) {
            const struct tr_promql_node *vs = a->ms.vs;
            int64_t base =
                vs->vs.at == TR_PROMQL_AT_TIMESTAMP ? vs->vs.at_ms : ctx->ts;
            return base - vs->vs.offset_ms;
        }
        if (a->kind == TR_PROMQL_NODE_SUBQUERY) {
            int64_t base =
                a->sq.at == TR_PROMQL_AT_TIMESTAMP ? a->sq.at_ms : ctx->ts;
            return base - a->sq.offset_ms;
        }
    }
    return ctx->ts;
}

/* Stable merge sort of samples (Go's sort for n <= 12 is insertion sort,
 * thus stable; a stable sort also keeps results deterministic). */
typedef int (*sample_cmp_fn)(const struct tr_pq_sample *a,
                             const struct tr_pq_sample *b,
                             const void *arg);

static void merge_sort(struct tr_pq_sample *s,
                       struct tr_pq_sample *tmp,
                       size_t n,
                       sample_cmp_fn cmp,
                       const void *arg)
{
    size_t mid, i, j, k;
    if (n < 2) {
        return;
    }
    mid = n / 2;
    merge_sort(s, tmp, mid, cmp, arg);
    merge_sort(s + mid, tmp, n - mid, cmp, arg);
    i = 0;
    j = mid;
    k = 0;
    while (i < mid && j < n) {
        if (cmp(&s[j], &s[i], arg) < 0) {
            tmp[k++] = s[j++];
        } else {
            tmp[k++] = s[i++];
        }
    }
    while (i < mid) {
        tmp[k++] = s[i++];
    }
    while (j < n) {
        tmp[k++] = s[j++];
    }
    memcpy(s, tmp, n * sizeof(*s));
}

static int sort_samples(struct tr_pq_fctx *ctx,
                        struct tr_pq_sample *s,
                        size_t n,
                        sample_cmp_fn cmp,
                        const void *arg)
{
    struct tr_pq_sample *tmp;
    if (n < 2) {
        return 0;
    }
    tmp = tr_arena_alloc(ctx->arena, n * sizeof(*tmp));
    if (tmp == NULL) {
        return oom(ctx);
    }
    merge_sort(s, tmp, n, cmp, arg);
    return 0;
}

static int dbl_cmp_nan_first(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    if (isnan(a)) {
        return isnan(b) ? 0 : -1;
    }
    if (isnan(b)) {
        return 1;
    }
    return a < b ? -1 : a > b ? 1 : 0;
}

/* Prometheus' quantile() over values (sorted in place, NaN first). */
static double quantile_of(double q, double *v, size_t n)
{
    double rank, lo, hi, w;
    if (n == 0 || isnan(q)) {
        return NAN;
    }
    if (q < 0) {
        return -INFINITY;
    }
    if (q > 1) {
        return INFINITY;
    }
    qsort(v, n, sizeof(*v), dbl_cmp_nan_first);
    rank = q * (double)(n - 1);
    lo = fmax(0, floor(rank));
    hi = fmin((double)(n - 1), lo + 1);
    w = rank - floor(rank);
    return v[(size_t)lo] * (1 - w) + v[(size_t)hi] * w;
}

/* ------------------------------------------------------------------ */
/* instant-vector math                                                 */

typedef double (*math_fn)(double);

static double f_abs(double v)
{
    return fabs(v);
}
static double f_ceil(double v)
{
    return ceil(v);
}
static double f_floor(double v)
{
    return floor(v);
}
static double f_exp(double v)
{
    return exp(v);
}
static double f_sqrt(double v)
{
    return sqrt(v);
}
static double f_ln(double v)
{
    return log(v);
}
static double f_sin(double v)
{
    return sin(v);
}
static double f_cos(double v)
{
    return cos(v);
}
static double f_tan(double v)
{
    return tan(v);
}
static double f_asin(double v)
{
    return asin(v);
}
static double f_acos(double v)
{
    return acos(v);
}
static double f_atan(double v)
{
    return atan(v);
}
static double f_sinh(double v)
{
    return sinh(v);
}
static double f_cosh(double v)
{
    return cosh(v);
}
static double f_tanh(double v)
{
    return tanh(v);
}
static double f_asinh(double v)
{
    return asinh(v);
}
static double f_acosh(double v)
{
    return acosh(v);
}
static double f_atanh(double v)
{
    return atanh(v);
}
static double f_rad(double v)
{
    return v * PQ_PI / 180;
}
static double f_deg(double v)
{
    return v * 180 / PQ_PI;
}
static double f_sgn(double v)
{
    return v < 0 ? -1 : v > 0 ? 1 : v;
}

static int simple(struct tr_pq_fctx *ctx,
                  const struct tr_pq_value *args,
                  struct tr_pq_vector *out,
                  math_fn f)
{
    const struct tr_pq_vector *in = &args[0].vec;
    int rc = out_init(ctx, out, in->n);
    for (size_t i = 0; rc == 0 && i < in->n; i++) {
        rc = out_push(ctx, out, in->s[i].labels, in->s[i].n_labels, true,
                      in->s[i].t, f(in->s[i].v));
    }
    return rc;
}

#define SIMPLE(name, f)                                                 \
    static int fn_##name(struct tr_pq_fctx *ctx,                        \
                         const struct tr_pq_value *args, size_t n_args, \
                         struct tr_pq_vector *out)                      \
    {                                                                   \
        (void)n_args;                                                   \
        return simple(ctx, args, out, f);                               \
    }

SIMPLE(abs, f_abs)
SIMPLE(ceil, f_ceil)
SIMPLE(floor, f_floor)
SIMPLE(exp, f_exp)
SIMPLE(sqrt, f_sqrt)
SIMPLE(ln, f_ln)
SIMPLE(log2, go_log2)
SIMPLE(log10, go_log10)
SIMPLE(sin, f_sin)
SIMPLE(cos, f_cos)
SIMPLE(tan, f_tan)
SIMPLE(asin, f_asin)
SIMPLE(acos, f_acos)
SIMPLE(atan, f_atan)
SIMPLE(sinh, f_sinh)
SIMPLE(cosh, f_cosh)
SIMPLE(tanh, f_tanh)
SIMPLE(asinh, f_asinh)
SIMPLE(acosh, f_acosh)
SIMPLE(atanh, f_atanh)
SIMPLE(rad, f_rad)
SIMPLE(deg, f_deg)
SIMPLE(sgn, f_sgn)

/* clamp(v, min, max): empty when max < min. */
static int fn_clamp(struct tr_pq_fctx *ctx,
                    const struct tr_pq_value *args,
                    size_t n_args,
                    struct tr_pq_vector *out)
{
    const struct tr_pq_vector *in = &args[0].vec;
    double lo = args[1].scalar, hi = args[2].scalar;
    int rc = out_init(ctx, out, in->n);
    (void)n_args;
    if (rc != 0 || hi < lo) {
        return rc;
    }
    for (size_t i = 0; rc == 0 && i < in->n; i++) {
        rc = out_push(ctx, out, in->s[i].labels, in->s[i].n_labels, true,
                      in->s[i].t, go_max(lo, go_min(hi, in->s[i].v)));
    }
    return rc;
}

static int fn_clamp_max(struct tr_pq_fctx *ctx,
                        const struct tr_pq_value *args,
                        size_t n_args,
                        struct tr_pq_vector *out)
{
    const struct tr_pq_vector *in = &args[0].vec;
    int rc = out_init(ctx, out, in->n);
    (void)n_args;
    for (size_t i = 0; rc == 0 && i < in->n; i++) {
        rc = out_push(ctx, out, in->s[i].labels, in->s[i].n_labels, true,
                      in->s[i].t, go_min(args[1].scalar, in->s[i].v));
    }
    return rc;
}

static int fn_clamp_min(struct tr_pq_fctx *ctx,
                        const struct tr_pq_value *args,
                        size_t n_args,
                        struct tr_pq_vector *out)
{
    const struct tr_pq_vector *in = &args[0].vec;
    int rc = out_init(ctx, out, in->n);
    (void)n_args;
    for (size_t i = 0; rc == 0 && i < in->n; i++) {
        rc = out_push(ctx, out, in->s[i].labels, in->s[i].n_labels, true,
                      in->s[i].t, go_max(args[1].scalar, in->s[i].v));
    }
    return rc;
}

/* round(v, to_nearest=1): ties round up. */
static int fn_round(struct tr_pq_fctx *ctx,
                    const struct tr_pq_value *args,
                    size_t n_args,
                    struct tr_pq_vector *out)
{
    const struct tr_pq_vector *in = &args[0].vec;
    double inv = 1.0 / (n_args >= 2 ? args[1].scalar : 1.0);
    int rc = out_init(ctx, out, in->n);
    for (size_t i = 0; rc == 0 && i < in->n; i++) {
        rc = out_push(ctx, out, in->s[i].labels, in->s[i].n_labels, true,
                      in->s[i].t, floor(in->s[i].v * inv + 0.5) / inv);
    }
    return rc;
}

static int fn_timestamp(struct tr_pq_fctx *ctx,
                        const struct tr_pq_value *args,
                        size_t n_args,
                        struct tr_pq_vector *out)
{
    const struct tr_pq_vector *in = &args[0].vec;
    int rc = out_init(ctx, out, in->n);
    (void)n_args;
    for (size_t i = 0; rc == 0 && i < in->n; i++) {
        rc = out_push(ctx, out, in->s[i].labels, in->s[i].n_labels, true,
                      ctx->ts, (double)in->s[i].t / 1000);
    }
    return rc;
}

static int fn_scalar(struct tr_pq_fctx *ctx,
                     const struct tr_pq_value *args,
                     size_t n_args,
                     struct tr_pq_vector *out)
{
    const struct tr_pq_vector *in = &args[0].vec;
    (void)n_args;
    return out_single(ctx, out, in->n == 1 ? in->s[0].v : NAN);
}

static int fn_vector(struct tr_pq_fctx *ctx,
                     const struct tr_pq_value *args,
                     size_t n_args,
                     struct tr_pq_vector *out)
{
    (void)n_args;
    return out_single(ctx, out, args[0].scalar);
}

static int fn_time(struct tr_pq_fctx *ctx,
                   const struct tr_pq_value *args,
                   size_t n_args,
                   struct tr_pq_vector *out)
{
    (void)args;
    (void)n_args;
    return out_single(ctx, out, (double)ctx->ts / 1000);
}

static int fn_pi(struct tr_pq_fctx *ctx,
                 const struct tr_pq_value *args,
                 size_t n_args,
                 struct tr_pq_vector *out)
{
    (void)args;
    (void)n_args;
    return out_single(ctx, out, PQ_PI);
}

/* Native-histogram functions: float samples are ignored. */
static int fn_empty(struct tr_pq_fctx *ctx,
                    const struct tr_pq_value *args,
                    size_t n_args,
                    struct tr_pq_vector *out)
{
    (void)args;
    (void)n_args;
    return out_init(ctx, out, 0);
}

/* ------------------------------------------------------------------ */
/* absent                                                              */

/* Labels of absent(): the equality matchers of the argument selector,
 * minus names matched more than once or by other matcher types. */
static int absent_labels(struct tr_pq_fctx *ctx,
                         struct tr_label **out,
                         size_t *out_n)
{
    const struct tr_promql_node *call = ctx->call, *a;
    const struct tr_matcher *ms;
    struct tr_label *ls = NULL;
    size_t n = 0, nm;
    bool *has;
    *out = NULL;
    *out_n = 0;
    if (call == NULL || call->kind != TR_PROMQL_NODE_CALL ||
        call->call.n_args < 1) {
        return 0;
    }
    a = call->call.args[0];
    if (a->kind == TR_PROMQL_NODE_MATRIX_SEL) {
        a = a->ms.vs;
    } else if (a->kind != TR_PROMQL_NODE_VECTOR_SEL) {
        return 0;
    }
    ms = a->vs.matchers;
    nm = a->vs.n_matchers;
    has = tr_arena_alloc(ctx->arena, (nm > 0 ? nm : 1) * sizeof(*has));
    if (has == NULL) {
        return oom(ctx);
    }
    for (size_t i = 0; i < nm; i++) {
        bool seen = false;
        has[i] = false;
        if (strcmp(ms[i].name, "__name__") == 0) {
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            if (has[j] && strcmp(ms[j].name, ms[i].name) == 0) {
                seen = true;
            }
        }
        if (ms[i].type == TR_MATCH_EQ && !seen) {
            ls = tr_pq_labels_set(ctx->arena, ls, n, ms[i].name, ms[i].value,
                                  ms[i].value_len, &n);
            has[i] = true;
        } else {
            ls = tr_pq_labels_set(ctx->arena, ls, n, ms[i].name, "", 0, &n);
        }
        if (ls == NULL) {
            return oom(ctx);
        }
    }
    *out = ls;
    *out_n = n;
    return 0;
}

static int fn_absent(struct tr_pq_fctx *ctx,
                     const struct tr_pq_value *args,
                     size_t n_args,
                     struct tr_pq_vector *out)
{
    struct tr_label *ls;
    size_t n;
    int rc = out_init(ctx, out, 1);
    (void)n_args;
    if (rc != 0 || args[0].vec.n > 0) {
        return rc;
    }
    rc = absent_labels(ctx, &ls, &n);
    if (rc != 0) {
        return rc;
    }
    return out_push(ctx, out, ls, n, false, ctx->ts, 1);
}

static int fn_absent_over_time(struct tr_pq_fctx *ctx,
                               const struct tr_pq_value *args,
                               size_t n_args,
                               struct tr_pq_vector *out)
{
    struct tr_label *ls;
    size_t n;
    int rc = out_init(ctx, out, 1);
    (void)n_args;
    for (size_t i = 0; rc == 0 && i < args[0].mat.n; i++) {
        if (args[0].mat.s[i].n > 0) {
            return 0;
        }
    }
    if (rc == 0) {
        rc = absent_labels(ctx, &ls, &n);
    }
    if (rc != 0) {
        return rc;
    }
    return out_push(ctx, out, ls, n, false, ctx->ts, 1);
}

/* ------------------------------------------------------------------ */
/* range-vector functions                                              */

/* Computes one value from a non-empty series; *st (0 on entry) set to 1
 * drops the series, to a TR_E* code (errmsg set) fails the call. */
typedef double (*over_fn)(struct tr_pq_fctx *ctx,
                          const struct tr_pq_value *args,
                          const struct tr_pq_series *s,
                          int *st);

static int over_time(struct tr_pq_fctx *ctx,
                     const struct tr_pq_value *args,
                     size_t mat_arg,
                     struct tr_pq_vector *out,
                     over_fn f,
                     bool keep_name)
{
    const struct tr_pq_matrix *m = &args[mat_arg].mat;
    int rc = out_init(ctx, out, m->n);
    for (size_t i = 0; rc == 0 && i < m->n; i++) {
        const struct tr_pq_series *s = &m->s[i];
        int st = 0;
        double v;
        if (s->n == 0) {
            continue;
        }
        v = f(ctx, args, s, &st);
        if (st < 0) {
            return st;
        }
        if (st == 0) {
            rc = out_push(ctx, out, s->labels, s->n_labels, !keep_name, ctx->ts,
                          v);
        }
    }
    return rc;
}

/* extrapolatedRate of Prometheus 2.53. */
static double extrapolated_rate(const struct tr_pq_fctx *ctx,
                                const struct tr_pq_series *s,
                                bool is_counter,
                                bool is_rate,
                                int *st)
{
    const struct tr_pq_point *p = s->pts;
    size_t n = s->n;
    int64_t end = range_end(ctx), start = end - ctx->range_ms;
    double result, to_start, to_end, sampled, avg, thr, ext, factor;
    if (n < 2) {
        *st = 1;
        return 0;
    }
    result = p[n - 1].v - p[0].v;
    if (is_counter) {
        double prev = p[0].v;
        for (size_t i = 1; i < n; i++) {
            if (p[i].v < prev) {
                result += prev;
            }
            prev = p[i].v;
        }
    }
    to_start = (double)(p[0].t - start) / 1000;
    to_end = (double)(end - p[n - 1].t) / 1000;
    sampled = (double)(p[n - 1].t - p[0].t) / 1000;
    avg = sampled / (double)(n - 1);
    thr = avg * 1.1;
    ext = sampled;
    if (to_start >= thr) {
        to_start = avg / 2;
    }
    if (is_counter && result > 0 && p[0].v >= 0) {
        double to_zero = sampled * (p[0].v / result);
        if (to_zero < to_start) {
            to_start = to_zero;
        }
    }
    ext += to_start;
    if (to_end >= thr) {
        to_end = avg / 2;
    }
    ext += to_end;
    factor = ext / sampled;
    if (is_rate) {
        factor /= range_seconds(ctx->range_ms);
    }
    return result * factor;
}

static double o_rate(struct tr_pq_fctx *ctx,
                     const struct tr_pq_value *args,
                     const struct tr_pq_series *s,
                     int *st)
{
    (void)args;
    return extrapolated_rate(ctx, s, true, true, st);
}

static double o_increase(struct tr_pq_fctx *ctx,
                         const struct tr_pq_value *args,
                         const struct tr_pq_series *s,
                         int *st)
{
    (void)args;
    return extrapolated_rate(ctx, s, true, false, st);
}

static double o_delta(struct tr_pq_fctx *ctx,
                      const struct tr_pq_value *args,
                      const struct tr_pq_series *s,
                      int *st)
{
    (void)args;
    return extrapolated_rate(ctx, s, false, false, st);
}

/* instantValue: the last two points. */
static double instant_value(const struct tr_pq_series *s, bool is_rate, int *st)
{
    struct tr_pq_point last, prev;
    double r;
    if (s->n < 2) {
        *st = 1;
        return 0;
    }
    last = s->pts[s->n - 1];
    prev = s->pts[s->n - 2];
    r = is_rate && last.v < prev.v ? last.v : last.v - prev.v;
    if (last.t == prev.t) {
        *st = 1;
        return 0;
    }
    if (is_rate) {
        r /= (double)(last.t - prev.t) / 1000;
    }
    return r;
}

static double o_irate(struct tr_pq_fctx *ctx,
                      const struct tr_pq_value *args,
                      const struct tr_pq_series *s,
                      int *st)
{
    (void)ctx;
    (void)args;
    return instant_value(s, true, st);
}

static double o_idelta(struct tr_pq_fctx *ctx,
                       const struct tr_pq_value *args,
                       const struct tr_pq_series *s,
                       int *st)
{
    (void)ctx;
    (void)args;
    return instant_value(s, false, st);
}

static double o_avg(struct tr_pq_fctx *ctx,
                    const struct tr_pq_value *args,
                    const struct tr_pq_series *s,
                    int *st)
{
    double mean = 0, count = 0, c = 0;
    (void)ctx;
    (void)args;
    (void)st;
    for (size_t i = 0; i < s->n; i++) {
        double f = s->pts[i].v;
        count++;
        if (isinf(mean)) {
            if (isinf(f) && (mean > 0) == (f > 0)) {
                continue;
            }
            if (!isinf(f) && !isnan(f)) {
                continue;
            }
        }
        mean = kahan_inc(f / count - mean / count, mean, &c);
    }
    return isinf(mean) ? mean : mean + c;
}

static double o_sum(struct tr_pq_fctx *ctx,
                    const struct tr_pq_value *args,
                    const struct tr_pq_series *s,
                    int *st)
{
    double sum = 0, c = 0;
    (void)ctx;
    (void)args;
    (void)st;
    for (size_t i = 0; i < s->n; i++) {
        sum = kahan_inc(s->pts[i].v, sum, &c);
    }
    return isinf(sum) ? sum : sum + c;
}

static double o_count(struct tr_pq_fctx *ctx,
                      const struct tr_pq_value *args,
                      const struct tr_pq_series *s,
                      int *st)
{
    (void)ctx;
    (void)args;
    (void)st;
    return (double)s->n;
}

static double o_present(struct tr_pq_fctx *ctx,
                        const struct tr_pq_value *args,
                        const struct tr_pq_series *s,
                        int *st)
{
    (void)ctx;
    (void)args;
    (void)s;
    (void)st;
    return 1;
}

static double o_last(struct tr_pq_fctx *ctx,
                     const struct tr_pq_value *args,
                     const struct tr_pq_series *s,
                     int *st)
{
    (void)ctx;
    (void)args;
    (void)st;
    return s->pts[s->n - 1].v;
}

static double o_max(struct tr_pq_fctx *ctx,
                    const struct tr_pq_value *args,
                    const struct tr_pq_series *s,
                    int *st)
{
    double m = s->pts[0].v;
    (void)ctx;
    (void)args;
    (void)st;
    for (size_t i = 0; i < s->n; i++) {
        if (s->pts[i].v > m || isnan(m)) {
            m = s->pts[i].v;
        }
    }
    return m;
}

static double o_min(struct tr_pq_fctx *ctx,
                    const struct tr_pq_value *args,
                    const struct tr_pq_series *s,
                    int *st)
{
    double m = s->pts[0].v;
    (void)ctx;
    (void)args;
    (void)st;
    for (size_t i = 0; i < s->n; i++) {
        if (s->pts[i].v < m || isnan(m)) {
            m = s->pts[i].v;
        }
    }
    return m;
}

/* Welford with Kahan compensation; returns the population variance. */
static double variance(const struct tr_pq_series *s)
{
    double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
    for (size_t i = 0; i < s->n; i++) {
        double f = s->pts[i].v, delta;
        count++;
        delta = f - (mean + cmean);
        mean = kahan_inc(delta / count, mean, &cmean);
        aux = kahan_inc(delta * (f - (mean + cmean)), aux, &caux);
    }
    return (aux + caux) / count;
}

static double o_stdvar(struct tr_pq_fctx *ctx,
                       const struct tr_pq_value *args,
                       const struct tr_pq_series *s,
                       int *st)
{
    (void)ctx;
    (void)args;
    (void)st;
    return variance(s);
}

static double o_stddev(struct tr_pq_fctx *ctx,
                       const struct tr_pq_value *args,
                       const struct tr_pq_series *s,
                       int *st)
{
    (void)ctx;
    (void)args;
    (void)st;
    return sqrt(variance(s));
}

static double *values_copy(struct tr_pq_fctx *ctx,
                           const struct tr_pq_series *s,
                           int *st)
{
    double *v = tr_arena_alloc(ctx->arena, s->n * sizeof(*v));
    if (v == NULL) {
        *st = oom(ctx);
        return NULL;
    }
    for (size_t i = 0; i < s->n; i++) {
        v[i] = s->pts[i].v;
    }
    return v;
}

static double o_quantile(struct tr_pq_fctx *ctx,
                         const struct tr_pq_value *args,
                         const struct tr_pq_series *s,
                         int *st)
{
    double *v = values_copy(ctx, s, st);
    return v == NULL ? 0 : quantile_of(args[0].scalar, v, s->n);
}

static double o_mad(struct tr_pq_fctx *ctx,
                    const struct tr_pq_value *args,
                    const struct tr_pq_series *s,
                    int *st)
{
    double *v = values_copy(ctx, s, st), median;
    (void)args;
    if (v == NULL) {
        return 0;
    }
    median = quantile_of(0.5, v, s->n);
    for (size_t i = 0; i < s->n; i++) {
        v[i] = fabs(s->pts[i].v - median);
    }
    return quantile_of(0.5, v, s->n);
}

static double o_changes(struct tr_pq_fctx *ctx,
                        const struct tr_pq_value *args,
                        const struct tr_pq_series *s,
                        int *st)
{
    double prev = s->pts[0].v, n = 0;
    (void)ctx;
    (void)args;
    (void)st;
    for (size_t i = 1; i < s->n; i++) {
        double cur = s->pts[i].v;
        if (cur != prev && !(isnan(cur) && isnan(prev))) {
            n++;
        }
        prev = cur;
    }
    return n;
}

static double o_resets(struct tr_pq_fctx *ctx,
                       const struct tr_pq_value *args,
                       const struct tr_pq_series *s,
                       int *st)
{
    double prev = s->pts[0].v, n = 0;
    (void)ctx;
    (void)args;
    (void)st;
    for (size_t i = 1; i < s->n; i++) {
        if (s->pts[i].v < prev) {
            n++;
        }
        prev = s->pts[i].v;
    }
    return n;
}

/* Prometheus' linearRegression (Kahan sums, constant-y shortcut). */
static void linear_regression(const struct tr_pq_series *s,
                              int64_t intercept_t,
                              double *slope,
                              double *intercept)
{
    double n = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0,
           cx2 = 0, init_y = s->pts[0].v, cov, var;
    bool const_y = true;
    for (size_t i = 0; i < s->n; i++) {
        double x, y = s->pts[i].v;
        if (const_y && i > 0 && y != init_y) {
            const_y = false;
        }
        n += 1.0;
        x = (double)(s->pts[i].t - intercept_t) / 1e3;
        sx = kahan_inc(x, sx, &cx);
        sy = kahan_inc(y, sy, &cy);
        sxy = kahan_inc(x * y, sxy, &cxy);
        sx2 = kahan_inc(x * x, sx2, &cx2);
    }
    if (const_y) {
        if (isinf(init_y)) {
            *slope = NAN;
            *intercept = NAN;
        } else {
            *slope = 0;
            *intercept = init_y;
        }
        return;
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    cov = sxy - sx * sy / n;
    var = sx2 - sx * sx / n;
    *slope = cov / var;
    *intercept = sy / n - *slope * sx / n;
}

static double o_deriv(struct tr_pq_fctx *ctx,
                      const struct tr_pq_value *args,
                      const struct tr_pq_series *s,
                      int *st)
{
    double slope, icpt;
    (void)ctx;
    (void)args;
    if (s->n < 2) {
        *st = 1;
        return 0;
    }
    linear_regression(s, s->pts[0].t, &slope, &icpt);
    return slope;
}

static double o_predict_linear(struct tr_pq_fctx *ctx,
                               const struct tr_pq_value *args,
                               const struct tr_pq_series *s,
                               int *st)
{
    double slope, icpt;
    if (s->n < 2) {
        *st = 1;
        return 0;
    }
    linear_regression(s, ctx->ts, &slope, &icpt);
    return slope * args[1].scalar + icpt;
}

/* Go's %f: "NaN", "+Inf", "-Inf" for the special values. */
static void go_fmt_f(char *buf, size_t n, double v)
{
    if (isnan(v)) {
        snprintf(buf, n, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, n, "%s", v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(buf, n, "%f", v);
    }
}

/* holt_winters(m, sf, tf): double exponential smoothing. Invalid factors
 * fail the call for any series with points (Prometheus checks per series;
 * Go's comparisons with NaN are false, so NaN passes). */
static double o_holt_winters(struct tr_pq_fctx *ctx,
                             const struct tr_pq_value *args,
                             const struct tr_pq_series *s,
                             int *st)
{
    double sf = args[1].scalar, tf = args[2].scalar, s0 = 0, s1, b;
    char num[400];
    if (sf <= 0 || sf >= 1) {
        go_fmt_f(num, sizeof(num), sf);
        *st = tr_errf(TR_EEXEC, ctx->errmsg,
                      "invalid smoothing factor. Expected: 0 < sf < 1, got: %s",
                      num);
        return 0;
    }
    if (tf <= 0 || tf >= 1) {
        go_fmt_f(num, sizeof(num), tf);
        *st =
            tr_errf(TR_EEXEC, ctx->errmsg,
                    "invalid trend factor. Expected: 0 < tf < 1, got: %s", num);
        return 0;
    }
    if (s->n < 2) {
        *st = 1;
        return 0;
    }
    s1 = s->pts[0].v;
    b = s->pts[1].v - s->pts[0].v;
    for (size_t i = 1; i < s->n; i++) {
        double x = sf * s->pts[i].v, y;
        if (i - 1 != 0) {
            b = tf * (s1 - s0) + (1 - tf) * b;
        }
        y = (1 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    return s1;
}

#define OVER(name, f, mat_arg, keep)                                    \
    static int fn_##name(struct tr_pq_fctx *ctx,                        \
                         const struct tr_pq_value *args, size_t n_args, \
                         struct tr_pq_vector *out)                      \
    {                                                                   \
        (void)n_args;                                                   \
        return over_time(ctx, args, mat_arg, out, f, keep);             \
    }

OVER(rate, o_rate, 0, false)
OVER(increase, o_increase, 0, false)
OVER(delta, o_delta, 0, false)
OVER(irate, o_irate, 0, false)
OVER(idelta, o_idelta, 0, false)
OVER(avg_over_time, o_avg, 0, false)
OVER(sum_over_time, o_sum, 0, false)
OVER(count_over_time, o_count, 0, false)
OVER(present_over_time, o_present, 0, false)
OVER(last_over_time, o_last, 0, true)
OVER(max_over_time, o_max, 0, false)
OVER(min_over_time, o_min, 0, false)
OVER(stddev_over_time, o_stddev, 0, false)
OVER(stdvar_over_time, o_stdvar, 0, false)
OVER(quantile_over_time, o_quantile, 1, false)
OVER(mad_over_time, o_mad, 0, false)
OVER(changes, o_changes, 0, false)
OVER(resets, o_resets, 0, false)
OVER(deriv, o_deriv, 0, false)
OVER(predict_linear, o_predict_linear, 0, false)
OVER(holt_winters, o_holt_winters, 0, false)

/* ------------------------------------------------------------------ */
/* histogram_quantile over classic buckets                             */

struct hq_bucket {
    double upper;
    double count;
};

/* Go's strconv.ParseFloat acceptance, approximately: the whole string,
 * no leading space, no "nan(...)", overflow is an error. */
static bool parse_le(struct tr_slice s, double *out)
{
    char buf[128];
    char *end;
    if (s.len == 0 || s.len >= sizeof(buf) ||
        isspace((unsigned char)s.base[0])) {
        return false;
    }
    memcpy(buf, s.base, s.len);
    buf[s.len] = '\0';
    if (strchr(buf, '(') != NULL) {
        return false;
    }
    errno = 0;
    *out = strtod(buf, &end);
    if (end != buf + s.len) {
        return false;
    }
    return !(errno == ERANGE && isinf(*out));
}

/* almost.Equal of Prometheus' util/almost. */
static bool almost_equal(double a, double b, double eps)
{
    const double min_normal = DBL_MIN;
    double abs_sum, diff;
    if (isnan(a) && isnan(b)) {
        return true;
    }
    if (a == b) {
        return true;
    }
    abs_sum = fabs(a) + fabs(b);
    diff = fabs(a - b);
    if (a == 0 || b == 0 || abs_sum < min_normal) {
        return diff < eps * min_normal;
    }
    return diff / fmin(abs_sum, DBL_MAX) < eps;
}

static int bucket_cmp(const void *pa, const void *pb)
{
    const struct hq_bucket *a = pa, *b = pb;
    return a->upper < b->upper ? -1 : a->upper > b->upper ? 1 : 0;
}

/* bucketQuantile of Prometheus 2.53 (b sorted here; n > 0). */
static double bucket_quantile(double q, struct hq_bucket *b, size_t n)
{
    size_t i, k, lo, hi;
    double obs, rank, start = 0, end, count, prev;
    if (isnan(q)) {
        return NAN;
    }
    if (q < 0) {
        return -INFINITY;
    }
    if (q > 1) {
        return INFINITY;
    }
    /* stable insertion sort keeps equal bounds in input order */
    for (i = 1; i < n; i++) {
        struct hq_bucket x = b[i];
        k = i;
        while (k > 0 && bucket_cmp(&b[k - 1], &x) > 0) {
            b[k] = b[k - 1];
            k--;
        }
        b[k] = x;
    }
    if (!(isinf(b[n - 1].upper) && b[n - 1].upper > 0)) {
        return NAN;
    }
    /* coalesce equal bounds */
    k = 0;
    for (i = 1; i < n; i++) {
        if (b[i].upper == b[k].upper) {
            b[k].count += b[i].count;
        } else {
            b[++k] = b[i];
        }
    }
    n = k + 1;
    /* ensure monotonicity, ignoring tiny deltas */
    prev = b[0].count;
    for (i = 1; i < n; i++) {
        double cur = b[i].count;
        if (cur == prev) {
            continue;
        }
        if (almost_equal(prev, cur, 1e-12) || cur < prev) {
            b[i].count = prev;
            continue;
        }
        prev = cur;
    }
    if (n < 2) {
        return NAN;
    }
    obs = b[n - 1].count;
    if (obs == 0) {
        return NAN;
    }
    rank = q * obs;
    /* first i in [0, n-1) with count >= rank, else n-1 */
    lo = 0;
    hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b[mid].count >= rank) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    i = lo;
    if (i == n - 1) {
        return b[n - 2].upper;
    }
    if (i == 0 && b[0].upper <= 0) {
        return b[0].upper;
    }
    end = b[i].upper;
    count = b[i].count;
    if (i > 0) {
        start = b[i - 1].upper;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return start + (end - start) * (rank / count);
}

/* Compares label sets ignoring the label "le". */
static int labels_cmp_no_le(const struct tr_label *a,
                            size_t na,
                            const struct tr_label *b,
                            size_t nb)
{
    size_t i = 0, j = 0;
    for (;;) {
        int c;
        while (i < na && slice_cmp(a[i].name, "le", 2) == 0) {
            i++;
        }
        while (j < nb && slice_cmp(b[j].name, "le", 2) == 0) {
            j++;
        }
        if (i == na || j == nb) {
            return (i == na ? 0 : 1) - (j == nb ? 0 : 1);
        }
        c = slice_cmp(a[i].name, b[j].name.base, b[j].name.len);
        if (c == 0) {
            c = slice_cmp(a[i].value, b[j].value.base, b[j].value.len);
        }
        if (c != 0) {
            return c;
        }
        i++;
        j++;
    }
}

static int hq_cmp(const struct tr_pq_sample *a,
                  const struct tr_pq_sample *b,
                  const void *arg)
{
    (void)arg;
    return labels_cmp_no_le(a->labels, a->n_labels, b->labels, b->n_labels);
}

static int fn_histogram_quantile(struct tr_pq_fctx *ctx,
                                 const struct tr_pq_value *args,
                                 size_t n_args,
                                 struct tr_pq_vector *out)
{
    const struct tr_pq_vector *in = &args[1].vec;
    double q = args[0].scalar;
    struct tr_pq_sample *s;
    struct hq_bucket *b;
    size_t n = 0;
    int rc = out_init(ctx, out, in->n);
    (void)n_args;
    if (rc != 0 || in->n == 0) {
        return rc;
    }
    s = tr_arena_alloc(ctx->arena, in->n * sizeof(*s));
    b = tr_arena_alloc(ctx->arena, in->n * sizeof(*b));
    if (s == NULL || b == NULL) {
        return oom(ctx);
    }
    /* keep samples with a parsable le; the bucket bound goes into t's
     * place via a parallel array after sorting (sort samples first) */
    for (size_t i = 0; i < in->n; i++) {
        double le;
        if (parse_le(label_get(in->s[i].labels, in->s[i].n_labels, "le", 2),
                     &le)) {
            s[n] = in->s[i];
            s[n].t = (int64_t)i; /* index back into in */
            n++;
        }
    }
    rc = sort_samples(ctx, s, n, hq_cmp, NULL);
    for (size_t i = 0; rc == 0 && i < n;) {
        size_t j = i, nb = 0;
        struct tr_label *ls;
        size_t nl;
        while (j < n && hq_cmp(&s[i], &s[j], NULL) == 0) {
            const struct tr_pq_sample *o = &in->s[s[j].t];
            parse_le(label_get(o->labels, o->n_labels, "le", 2), &b[nb].upper);
            b[nb].count = o->v;
            nb++;
            j++;
        }
        ls = tr_pq_labels_set(ctx->arena, s[i].labels, s[i].n_labels, "le", "",
                              0, &nl);
        if (ls == NULL) {
            return oom(ctx);
        }
        rc = out_push(ctx, out, ls, nl, true, ctx->ts,
                      bucket_quantile(q, b, nb));
        i = j;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* label_replace, label_join                                           */

static bool valid_label_name(const char *s, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = c == '_' || (c >= 'a' && c <= 'z') ||
                  (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9');
        if (!ok) {
            return false;
        }
    }
    return true;
}

static bool is_word_byte(unsigned char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

/* Go's Regexp.ExpandString: $1, ${1}, $name, ${name}, $$. */
static int expand(struct tr_buf *dst,
                  const char *tmpl,
                  size_t tn,
                  const char *src,
                  const pcre2_code *re,
                  const PCRE2_SIZE *ov,
                  uint32_t n_groups)
{
    size_t i = 0;
    while (i < tn) {
        size_t k, name_start, name_len;
        bool brace = false;
        long num = 0;
        if (tmpl[i] != '$') {
            tr_buf_append(dst, &tmpl[i], 1);
            i++;
            continue;
        }
        i++;
        if (i < tn && tmpl[i] == '$') {
            tr_buf_append(dst, "$", 1);
            i++;
            continue;
        }
        k = i;
        if (k < tn && tmpl[k] == '{') {
            brace = true;
            k++;
        }
        name_start = k;
        while (k < tn && is_word_byte((unsigned char)tmpl[k])) {
            k++;
        }
        name_len = k - name_start;
        if (name_len == 0 || (brace && (k >= tn || tmpl[k] != '}'))) {
            tr_buf_append(dst, "$", 1); /* malformed: $ as raw text */
            continue;
        }
        if (brace) {
            k++;
        }
        i = k;
        for (size_t m = 0; m < name_len; m++) {
            char c = tmpl[name_start + m];
            if (c < '0' || c > '9' || num >= 100000000) {
                num = -1;
                break;
            }
            num = num * 10 + (c - '0');
        }
        if (tmpl[name_start] == '0' && name_len > 1) {
            num = -1;
        }
        if (num < 0) {
            char nb[256];
            int g;
            if (name_len >= sizeof(nb)) {
                continue;
            }
            memcpy(nb, &tmpl[name_start], name_len);
            nb[name_len] = '\0';
            g = pcre2_substring_number_from_name(re, (PCRE2_SPTR)nb);
            if (g <= 0) {
                continue;
            }
            num = g;
        }
        if ((uint32_t)num < n_groups && ov[2 * num] != PCRE2_UNSET) {
            tr_buf_append(dst, src + ov[2 * num],
                          ov[2 * num + 1] - ov[2 * num]);
        }
    }
    return dst->oom ? TR_ENOMEM : 0;
}

static int fn_label_replace(struct tr_pq_fctx *ctx,
                            const struct tr_pq_value *args,
                            size_t n_args,
                            struct tr_pq_vector *out)
{
    const struct tr_pq_vector *in = &args[0].vec;
    const struct tr_pq_value *dst = &args[1], *repl = &args[2], *src = &args[3],
                             *rx = &args[4];
    struct tr_buf pat, val;
    pcre2_code *re;
    pcre2_match_data *md = NULL;
    int err, rc;
    PCRE2_SIZE eoff;
    (void)n_args;
    tr_buf_init(&pat);
    tr_buf_init(&val);
    tr_buf_append(&pat, "^(?:", 4);
    tr_buf_append(&pat, rx->str, rx->str_len);
    tr_buf_append(&pat, ")$", 2);
    if (pat.oom) {
        tr_buf_free(&pat);
        return oom(ctx);
    }
    re = pcre2_compile(
        (PCRE2_SPTR)pat.data, pat.len,
        PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY, &err, &eoff,
        NULL);
    tr_buf_free(&pat);
    if (re == NULL) {
        return tr_errf(TR_EEXEC, ctx->errmsg,
                       "invalid regular expression in label_replace(): %.*s",
                       (int)rx->str_len, rx->str);
    }
    if (!valid_label_name(dst->str, dst->str_len)) {
        pcre2_code_free(re);
        return tr_errf(TR_EEXEC, ctx->errmsg,
                       "invalid destination label name in label_replace(): "
                       "%.*s",
                       (int)dst->str_len, dst->str);
    }
    md = pcre2_match_data_create_from_pattern(re, NULL);
    rc = md == NULL ? oom(ctx) : out_init(ctx, out, in->n);
    for (size_t i = 0; rc == 0 && i < in->n; i++) {
        const struct tr_pq_sample *e = &in->s[i];
        struct tr_slice sv =
            label_get(e->labels, e->n_labels, src->str, src->str_len);
        int m = pcre2_match(re, (PCRE2_SPTR)sv.base, sv.len, 0, 0, md, NULL);
        if (m < 0) {
            rc = out_push(ctx, out, e->labels, e->n_labels, false, e->t, e->v);
            continue;
        }
        val.len = 0;
        rc = expand(&val, repl->str, repl->str_len, sv.base, re,
                    pcre2_get_ovector_pointer(md), pcre2_get_ovector_count(md));
        if (rc == 0) {
            char *name = tr_arena_strndup(ctx->arena, dst->str, dst->str_len);
            size_t nl;
            struct tr_label *ls =
                name == NULL ? NULL
                             : tr_pq_labels_set(
                                   ctx->arena, e->labels, e->n_labels, name,
                                   val.len > 0 ? val.data : "", val.len, &nl);
            rc = ls == NULL ? oom(ctx)
                            : out_push(ctx, out, ls, nl, false, e->t, e->v);
        } else {
            rc = oom(ctx);
        }
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    tr_buf_free(&val);
    for (size_t i = 0; rc == 0 && i < out->n; i++) {
        for (size_t j = i + 1; j < out->n; j++) {
            if (tr_labels_cmp(out->s[i].labels, out->s[i].n_labels,
                              out->s[j].labels, out->s[j].n_labels) == 0) {
                return tr_errf(TR_EEXEC, ctx->errmsg,
                               "vector cannot contain metrics with the same "
                               "labelset");
            }
        }
    }
    return rc;
}

static int fn_label_join(struct tr_pq_fctx *ctx,
                         const struct tr_pq_value *args,
                         size_t n_args,
                         struct tr_pq_vector *out)
{
    const struct tr_pq_vector *in = &args[0].vec;
    const struct tr_pq_value *dst = &args[1], *sep = &args[2];
    struct tr_buf val;
    char *name;
    int rc;
    for (size_t k = 3; k < n_args; k++) {
        if (!valid_label_name(args[k].str, args[k].str_len)) {
            return tr_errf(TR_EEXEC, ctx->errmsg,
                           "invalid source label name in label_join(): %.*s",
                           (int)args[k].str_len, args[k].str);
        }
    }
    if (!valid_label_name(dst->str, dst->str_len)) {
        return tr_errf(TR_EEXEC, ctx->errmsg,
                       "invalid destination label name in label_join(): %.*s",
                       (int)dst->str_len, dst->str);
    }
    name = tr_arena_strndup(ctx->arena, dst->str, dst->str_len);
    rc = name == NULL ? oom(ctx) : out_init(ctx, out, in->n);
    tr_buf_init(&val);
    for (size_t i = 0; rc == 0 && i < in->n; i++) {
        const struct tr_pq_sample *e = &in->s[i];
        struct tr_label *ls;
        size_t nl;
        val.len = 0;
        for (size_t k = 3; k < n_args; k++) {
            struct tr_slice sv =
                label_get(e->labels, e->n_labels, args[k].str, args[k].str_len);
            if (k > 3) {
                tr_buf_append(&val, sep->str, sep->str_len);
            }
            tr_buf_append(&val, sv.base, sv.len);
        }
        if (val.oom) {
            rc = oom(ctx);
            break;
        }
        ls = tr_pq_labels_set(ctx->arena, e->labels, e->n_labels, name,
                              val.len > 0 ? val.data : "", val.len, &nl);
        rc = ls == NULL ? oom(ctx)
                        : out_push(ctx, out, ls, nl, false, e->t, e->v);
    }
    tr_buf_free(&val);
    return rc;
}

/* ------------------------------------------------------------------ */
/* sort, sort_desc, sort_by_label, sort_by_label_desc                  */

/* sort: ascending, NaN last; sort_desc: descending, NaN last. */
static int cmp_asc(const struct tr_pq_sample *a,
                   const struct tr_pq_sample *b,
                   const void *arg)
{
    (void)arg;
    if (isnan(a->v) || isnan(b->v)) {
        return isnan(a->v) ? (isnan(b->v) ? 0 : 1) : -1;
    }
    return a->v < b->v ? -1 : a->v > b->v ? 1 : 0;
}

static int cmp_desc(const struct tr_pq_sample *a,
                    const struct tr_pq_sample *b,
                    const void *arg)
{
    (void)arg;
    if (isnan(a->v) || isnan(b->v)) {
        return isnan(a->v) ? (isnan(b->v) ? 0 : 1) : -1;
    }
    return a->v > b->v ? -1 : a->v < b->v ? 1 : 0;
}

/* facette/natsort (the version Prometheus 2.53 pins): strings split into
 * runs of digits and non-digits; numeric runs compare as integers when
 * both parse as int64. Returns true when a precedes b. */
static size_t nat_chunk(const char *s, size_t n, size_t i)
{
    bool dig = s[i] >= '0' && s[i] <= '9';
    while (i < n && (s[i] >= '0' && s[i] <= '9') == dig) {
        i++;
    }
    return i;
}

static bool atoi64(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        if (v > (INT64_MAX - (s[i] - '0')) / 10) {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool natsort_less(struct tr_slice a, struct tr_slice b)
{
    size_t ia = 0, ib = 0;
    while (ia < a.len) {
        size_t ea, eb;
        int64_t x, y;
        bool last_a, last_b;
        int c;
        if (ib >= b.len) {
            return false;
        }
        ea = nat_chunk(a.base, a.len, ia);
        eb = nat_chunk(b.base, b.len, ib);
        last_a = ea == a.len;
        last_b = eb == b.len;
        if (atoi64(a.base + ia, ea - ia, &x) &&
            atoi64(b.base + ib, eb - ib, &y)) {
            if (x != y) {
                return x < y;
            }
        } else {
            struct tr_slice ca = {a.base + ia, ea - ia};
            c = slice_cmp(ca, b.base + ib, eb - ib);
            if (c != 0) {
                return c < 0;
            }
        }
        if (last_a) {
            return true;
        }
        if (last_b) {
            return false;
        }
        ia = ea;
        ib = eb;
    }
    return false;
}

struct by_label {
    const struct tr_pq_value *names;
    size_t n;
    bool desc;
};

static int cmp_by_label(const struct tr_pq_sample *a,
                        const struct tr_pq_sample *b,
                        const void *arg)
{
    const struct by_label *bl = arg;
    for (size_t i = 0; i < bl->n; i++) {
        struct tr_slice x = label_get(a->labels, a->n_labels, bl->names[i].str,
                                      bl->names[i].str_len);
        struct tr_slice y = label_get(b->labels, b->n_labels, bl->names[i].str,
                                      bl->names[i].str_len);
        if (x.len == y.len &&
            (x.len == 0 || memcmp(x.base, y.base, x.len) == 0)) {
            continue;
        }
        if (natsort_less(x, y)) {
            return bl->desc ? 1 : -1;
        }
        return bl->desc ? -1 : 1;
    }
    return 0;
}

static int sort_common(struct tr_pq_fctx *ctx,
                       const struct tr_pq_value *args,
                       size_t n_args,
                       struct tr_pq_vector *out,
                       bool desc,
                       bool by_label)
{
    const struct tr_pq_vector *in = &args[0].vec;
    struct by_label bl = {&args[1], n_args - 1, desc};
    int rc = out_init(ctx, out, in->n);
    if (rc != 0) {
        return rc;
    }
    memcpy(out->s, in->s, in->n * sizeof(*in->s));
    out->n = in->n;
    ctx->ordered = true;
    rc = sort_samples(ctx, out->s, out->n, desc ? cmp_desc : cmp_asc, NULL);
    if (rc == 0 && by_label) {
        rc = sort_samples(ctx, out->s, out->n, cmp_by_label, &bl);
    }
    return rc;
}

static int fn_sort(struct tr_pq_fctx *ctx,
                   const struct tr_pq_value *args,
                   size_t n_args,
                   struct tr_pq_vector *out)
{
    return sort_common(ctx, args, n_args, out, false, false);
}

static int fn_sort_desc(struct tr_pq_fctx *ctx,
                        const struct tr_pq_value *args,
                        size_t n_args,
                        struct tr_pq_vector *out)
{
    return sort_common(ctx, args, n_args, out, true, false);
}

static int fn_sort_by_label(struct tr_pq_fctx *ctx,
                            const struct tr_pq_value *args,
                            size_t n_args,
                            struct tr_pq_vector *out)
{
    return sort_common(ctx, args, n_args, out, false, true);
}

static int fn_sort_by_label_desc(struct tr_pq_fctx *ctx,
                                 const struct tr_pq_value *args,
                                 size_t n_args,
                                 struct tr_pq_vector *out)
{
    return sort_common(ctx, args, n_args, out, true, true);
}

/* ------------------------------------------------------------------ */
/* date functions (UTC)                                                */

struct civil {
    int64_t year;
    int month; /* 1..12 */
    int day;   /* 1..31 */
    int yday;  /* 1..366 */
    int wday;  /* 0 = Sunday */
    int hour;
    int minute;
};

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

/* Seconds since the epoch to a civil UTC date (H. Hinnant's algorithm). */
static struct civil to_civil(int64_t sec)
{
    struct civil c;
    int64_t days = sec / 86400, rem = sec % 86400, era, doe, yoe, doy, mp, y;
    int cum = 0;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    c.hour = (int)(rem / 3600);
    c.minute = (int)(rem % 3600 / 60);
    c.wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
    days += 719468;
    era = (days >= 0 ? days : days - 146096) / 146097;
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    c.day = (int)(doy - (153 * mp + 2) / 5 + 1);
    c.month = (int)(mp < 10 ? mp + 3 : mp - 9);
    c.year = c.month <= 2 ? y + 1 : y;
    for (int m = 1; m < c.month; m++) {
        cum += month_days(c.year, m);
    }
    c.yday = cum + c.day;
    return c;
}

enum date_part {
    DP_DAYS_IN_MONTH,
    DP_DAY_OF_MONTH,
    DP_DAY_OF_WEEK,
    DP_DAY_OF_YEAR,
    DP_HOUR,
    DP_MINUTE,
    DP_MONTH,
    DP_YEAR,
};

static double date_part(int64_t sec, enum date_part p)
{
    struct civil c = to_civil(sec);
    switch (p) {
        case DP_DAYS_IN_MONTH:
            return month_days(c.year, c.month);
        case DP_DAY_OF_MONTH:
            return c.day;
        case DP_DAY_OF_WEEK:
            return c.wday;
        case DP_DAY_OF_YEAR:
            return c.yday;
        case DP_HOUR:
            return c.hour;
        case DP_MINUTE:
            return c.minute;
        case DP_MONTH:
            return c.month;
        case DP_YEAR:
            return (double)c.year;
    }
    return NAN;
}

/* Go's int64(f) on amd64: truncation, out of range and NaN give
 * math.MinInt64. */
static int64_t go_int64(double f)
{
    if (isnan(f) || f >= 9223372036854775808.0 || f < -9223372036854775808.0) {
        return INT64_MIN;
    }
    return (int64_t)f;
}

static int date_fn(struct tr_pq_fctx *ctx,
                   const struct tr_pq_value *args,
                   size_t n_args,
                   struct tr_pq_vector *out,
                   enum date_part p)
{
    const struct tr_pq_vector *in;
    int rc;
    if (n_args == 0) {
        return out_single(ctx, out, date_part(ctx->ts / 1000, p));
    }
    in = &args[0].vec;
    rc = out_init(ctx, out, in->n);
    for (size_t i = 0; rc == 0 && i < in->n; i++) {
        rc = out_push(ctx, out, in->s[i].labels, in->s[i].n_labels, true,
                      in->s[i].t, date_part(go_int64(in->s[i].v), p));
    }
    return rc;
}

#define DATE(name, part)                                                \
    static int fn_##name(struct tr_pq_fctx *ctx,                        \
                         const struct tr_pq_value *args, size_t n_args, \
                         struct tr_pq_vector *out)                      \
    {                                                                   \
        return date_fn(ctx, args, n_args, out, part);                   \
    }

DATE(days_in_month, DP_DAYS_IN_MONTH)
DATE(day_of_month, DP_DAY_OF_MONTH)
DATE(day_of_week, DP_DAY_OF_WEEK)
DATE(day_of_year, DP_DAY_OF_YEAR)
DATE(hour, DP_HOUR)
DATE(minute, DP_MINUTE)
DATE(month, DP_MONTH)
DATE(year, DP_YEAR)

/* ------------------------------------------------------------------ */
/* registry                                                            */

static const struct {
    const char *name;
    tr_pq_func_fn fn;
} funcs[] = {
    {"abs", fn_abs},
    {"absent", fn_absent},
    {"absent_over_time", fn_absent_over_time},
    {"acos", fn_acos},
    {"acosh", fn_acosh},
    {"asin", fn_asin},
    {"asinh", fn_asinh},
    {"atan", fn_atan},
    {"atanh", fn_atanh},
    {"avg_over_time", fn_avg_over_time},
    {"ceil", fn_ceil},
    {"changes", fn_changes},
    {"clamp", fn_clamp},
    {"clamp_max", fn_clamp_max},
    {"clamp_min", fn_clamp_min},
    {"cos", fn_cos},
    {"cosh", fn_cosh},
    {"count_over_time", fn_count_over_time},
    {"day_of_month", fn_day_of_month},
    {"day_of_week", fn_day_of_week},
    {"day_of_year", fn_day_of_year},
    {"days_in_month", fn_days_in_month},
    {"deg", fn_deg},
    {"delta", fn_delta},
    {"deriv", fn_deriv},
    {"double_exponential_smoothing", fn_holt_winters},
    {"exp", fn_exp},
    {"floor", fn_floor},
    {"histogram_avg", fn_empty},
    {"histogram_count", fn_empty},
    {"histogram_fraction", fn_empty},
    {"histogram_quantile", fn_histogram_quantile},
    {"histogram_stddev", fn_empty},
    {"histogram_stdvar", fn_empty},
    {"histogram_sum", fn_empty},
    {"holt_winters", fn_holt_winters},
    {"hour", fn_hour},
    {"idelta", fn_idelta},
    {"increase", fn_increase},
    {"irate", fn_irate},
    {"label_join", fn_label_join},
    {"label_replace", fn_label_replace},
    {"last_over_time", fn_last_over_time},
    {"ln", fn_ln},
    {"log10", fn_log10},
    {"log2", fn_log2},
    {"mad_over_time", fn_mad_over_time},
    {"max_over_time", fn_max_over_time},
    {"min_over_time", fn_min_over_time},
    {"minute", fn_minute},
    {"month", fn_month},
    {"pi", fn_pi},
    {"predict_linear", fn_predict_linear},
    {"present_over_time", fn_present_over_time},
    {"quantile_over_time", fn_quantile_over_time},
    {"rad", fn_rad},
    {"rate", fn_rate},
    {"resets", fn_resets},
    {"round", fn_round},
    {"scalar", fn_scalar},
    {"sgn", fn_sgn},
    {"sin", fn_sin},
    {"sinh", fn_sinh},
    {"sort", fn_sort},
    {"sort_by_label", fn_sort_by_label},
    {"sort_by_label_desc", fn_sort_by_label_desc},
    {"sort_desc", fn_sort_desc},
    {"sqrt", fn_sqrt},
    {"stddev_over_time", fn_stddev_over_time},
    {"stdvar_over_time", fn_stdvar_over_time},
    {"sum_over_time", fn_sum_over_time},
    {"tan", fn_tan},
    {"tanh", fn_tanh},
    {"time", fn_time},
    {"timestamp", fn_timestamp},
    {"vector", fn_vector},
    {"year", fn_year},
};

tr_pq_func_fn tr_pq_func_impl(const char *name)
{
    size_t lo = 0, hi = sizeof(funcs) / sizeof(funcs[0]);
    if (name == NULL) {
        return NULL;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(funcs[mid].name, name);
        if (c == 0) {
            return funcs[mid].fn;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}
