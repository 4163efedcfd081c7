/* funcs_eval.c - the PromQL functions of Prometheus 2.53 (promql/
 * functions.go, quantile.go) on float samples, one evaluation step per call.
 *
 * Conventions (value.h): matrix arguments hold, per series, the points of
 * [range_end - range, range_end] (closed, as 2.53); series without points
 * produce nothing. Every function drops __name__ from its output except
 * last_over_time, label_replace, label_join and the sort functions, as in 2.53.
 * Scalar results are one-element vectors without labels. Native-histogram
 * functions (histogram_count, ...) see only float samples and return an
 * empty vector, as Prometheus does for floats.
 *
 * Float semantics follow Go where C differs: math.Max/Min propagate NaN,
 * math.Log2/Log10 are computed as Go defines them, sums use Prometheus'
 * Kahan compensation. */
#include "query/promql/funcs_int.h"

/* ------------------------------------------------------------------ */
/* helpers                                                             */

int oom(struct tr_pq_fctx *ctx)
{
    return tr_errf(TR_ENOMEM, ctx->errmsg, "out of memory");
}

int slice_cmp(struct tr_slice a, const char *b, size_t bn)
{
    size_t n = a.len < bn ? a.len : bn;
    int c = n > 0 ? memcmp(a.base, b, n) : 0;
    if (c != 0) {
        return c;
    }
    return a.len < bn ? -1 : a.len > bn ? 1 : 0;
}

bool is_name_label(struct tr_slice s)
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

struct tr_slice label_get(const struct tr_label *ls,
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

int out_init(struct tr_pq_fctx *ctx, struct tr_pq_vector *out, size_t cap)
{
    out->n = 0;
    out->s = tr_arena_alloc(ctx->arena, (cap > 0 ? cap : 1) * sizeof(*out->s));
    return out->s == NULL ? oom(ctx) : 0;
}

/* Appends a sample whose labels are ls minus __name__ (drop) or ls. */
int out_push(struct tr_pq_fctx *ctx,
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
int out_single(struct tr_pq_fctx *ctx, struct tr_pq_vector *out, double v)
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
double go_max(double x, double y)
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

double go_min(double x, double y)
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

double go_log2(double x)
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

double go_log10(double x)
{
    return go_log2(x) * PQ_LN2_OVER_LN10;
}

/* Prometheus' kahanSumInc. */
double kahan_inc(double inc, double sum, double *c)
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
double range_seconds(int64_t ms)
{
    int64_t sec = ms / 1000;
    int64_t nsec = (ms % 1000) * 1000000;
    return (double)sec + (double)nsec / 1e9;
}

const struct tr_promql_node *unparen(const struct tr_promql_node *n)
{
    while (n != NULL && n->kind == TR_PROMQL_NODE_PAREN) {
        n = n->paren.expr;
    }
    return n;
}

/* End of the matrix argument's range: from the evaluator when it knows it,
 * else ts minus the selector's (subquery's) offset, @ <timestamp> applied. */
int64_t range_end(const struct tr_pq_fctx *ctx)
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

void merge_sort(struct tr_pq_sample *s,
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

int sort_samples(struct tr_pq_fctx *ctx,
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

int dbl_cmp_nan_first(const void *pa, const void *pb)
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
double quantile_of(double q, double *v, size_t n)
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

double f_abs(double v)
{
    return fabs(v);
}
double f_ceil(double v)
{
    return ceil(v);
}
double f_floor(double v)
{
    return floor(v);
}
double f_exp(double v)
{
    return exp(v);
}
double f_sqrt(double v)
{
    return sqrt(v);
}
double f_ln(double v)
{
    return log(v);
}
double f_sin(double v)
{
    return sin(v);
}
double f_cos(double v)
{
    return cos(v);
}
double f_tan(double v)
{
    return tan(v);
}
double f_asin(double v)
{
    return asin(v);
}
double f_acos(double v)
{
    return acos(v);
}
double f_atan(double v)
{
    return atan(v);
}
double f_sinh(double v)
{
    return sinh(v);
}
double f_cosh(double v)
{
    return cosh(v);
}
double f_tanh(double v)
{
    return tanh(v);
}
double f_asinh(double v)
{
    return asinh(v);
}
double f_acosh(double v)
{
    return acosh(v);
}
double f_atanh(double v)
{
    return atanh(v);
}
double f_rad(double v)
{
    return v * PQ_PI / 180;
}
double f_deg(double v)
{
    return v * 180 / PQ_PI;
}
double f_sgn(double v)
{
    return v < 0 ? -1 : v > 0 ? 1 : v;
}

int simple(struct tr_pq_fctx *ctx,
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

#define SIMPLE(name, f)                                                   \
    int fn_##name(struct tr_pq_fctx *ctx, const struct tr_pq_value *args, \
                  size_t n_args, struct tr_pq_vector *out)                \
    {                                                                     \
        (void)n_args;                                                     \
        return simple(ctx, args, out, f);                                 \
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
int fn_clamp(struct tr_pq_fctx *ctx,
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

int fn_clamp_max(struct tr_pq_fctx *ctx,
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

int fn_clamp_min(struct tr_pq_fctx *ctx,
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
int fn_round(struct tr_pq_fctx *ctx,
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

int fn_timestamp(struct tr_pq_fctx *ctx,
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

int fn_scalar(struct tr_pq_fctx *ctx,
              const struct tr_pq_value *args,
              size_t n_args,
              struct tr_pq_vector *out)
{
    const struct tr_pq_vector *in = &args[0].vec;
    (void)n_args;
    return out_single(ctx, out, in->n == 1 ? in->s[0].v : NAN);
}

int fn_vector(struct tr_pq_fctx *ctx,
              const struct tr_pq_value *args,
              size_t n_args,
              struct tr_pq_vector *out)
{
    (void)n_args;
    return out_single(ctx, out, args[0].scalar);
}

int fn_time(struct tr_pq_fctx *ctx,
            const struct tr_pq_value *args,
            size_t n_args,
            struct tr_pq_vector *out)
{
    (void)args;
    (void)n_args;
    return out_single(ctx, out, (double)ctx->ts / 1000);
}

int fn_pi(struct tr_pq_fctx *ctx,
          const struct tr_pq_value *args,
          size_t n_args,
          struct tr_pq_vector *out)
{
    (void)args;
    (void)n_args;
    return out_single(ctx, out, PQ_PI);
}

/* Native-histogram functions: float samples are ignored. */
int fn_empty(struct tr_pq_fctx *ctx,
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
int absent_labels(struct tr_pq_fctx *ctx, struct tr_label **out, size_t *out_n)
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

int fn_absent(struct tr_pq_fctx *ctx,
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

int fn_absent_over_time(struct tr_pq_fctx *ctx,
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
