/* funcs_range.c - range-vector functions (rate family, *_over_time, deriv,
 * predict_linear, holt_winters) (see funcs_eval.c). */
#include "query/promql/funcs_int.h"

/* ------------------------------------------------------------------ */
/* range-vector functions                                              */

/* Computes one value from a non-empty series; *st (0 on entry) set to 1
 * drops the series, to a TR_E* code (errmsg set) fails the call. */

int over_time(struct tr_pq_fctx *ctx,
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
            tr_pq_note_non_counter(ctx, s->labels, s->n_labels);
            rc = out_push(ctx, out, s->labels, s->n_labels, !keep_name, ctx->ts,
                          v);
        }
    }
    return rc;
}

/* extrapolatedRate of Prometheus 2.53. */
double extrapolated_rate(const struct tr_pq_fctx *ctx,
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

double o_rate(struct tr_pq_fctx *ctx,
              const struct tr_pq_value *args,
              const struct tr_pq_series *s,
              int *st)
{
    (void)args;
    return extrapolated_rate(ctx, s, true, true, st);
}

double o_increase(struct tr_pq_fctx *ctx,
                  const struct tr_pq_value *args,
                  const struct tr_pq_series *s,
                  int *st)
{
    (void)args;
    return extrapolated_rate(ctx, s, true, false, st);
}

double o_delta(struct tr_pq_fctx *ctx,
               const struct tr_pq_value *args,
               const struct tr_pq_series *s,
               int *st)
{
    (void)args;
    return extrapolated_rate(ctx, s, false, false, st);
}

/* instantValue: the last two points. */
double instant_value(const struct tr_pq_series *s, bool is_rate, int *st)
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

double o_irate(struct tr_pq_fctx *ctx,
               const struct tr_pq_value *args,
               const struct tr_pq_series *s,
               int *st)
{
    (void)ctx;
    (void)args;
    return instant_value(s, true, st);
}

double o_idelta(struct tr_pq_fctx *ctx,
                const struct tr_pq_value *args,
                const struct tr_pq_series *s,
                int *st)
{
    (void)ctx;
    (void)args;
    return instant_value(s, false, st);
}

double o_avg(struct tr_pq_fctx *ctx,
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

double o_sum(struct tr_pq_fctx *ctx,
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

double o_count(struct tr_pq_fctx *ctx,
               const struct tr_pq_value *args,
               const struct tr_pq_series *s,
               int *st)
{
    (void)ctx;
    (void)args;
    (void)st;
    return (double)s->n;
}

double o_present(struct tr_pq_fctx *ctx,
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

double o_last(struct tr_pq_fctx *ctx,
              const struct tr_pq_value *args,
              const struct tr_pq_series *s,
              int *st)
{
    (void)ctx;
    (void)args;
    (void)st;
    return s->pts[s->n - 1].v;
}

double o_max(struct tr_pq_fctx *ctx,
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

double o_min(struct tr_pq_fctx *ctx,
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
double variance(const struct tr_pq_series *s)
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

double o_stdvar(struct tr_pq_fctx *ctx,
                const struct tr_pq_value *args,
                const struct tr_pq_series *s,
                int *st)
{
    (void)ctx;
    (void)args;
    (void)st;
    return variance(s);
}

double o_stddev(struct tr_pq_fctx *ctx,
                const struct tr_pq_value *args,
                const struct tr_pq_series *s,
                int *st)
{
    (void)ctx;
    (void)args;
    (void)st;
    return sqrt(variance(s));
}

double *values_copy(struct tr_pq_fctx *ctx,
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

void tr_pq_warn_quantile(struct tr_pq_annos *a, double q, size_t pos)
{
    if (a == NULL || (q >= 0 && q <= 1)) {
        return;
    }
    char g[64];
    tr_pq_go_fmt_g(g, sizeof(g), q);
    tr_pq_annos_add(a, false, pos,
                    "PromQL warning: quantile value should be between 0 and "
                    "1, got %s",
                    g);
}

void tr_pq_note_non_counter(struct tr_pq_fctx *ctx,
                            const struct tr_label *ls,
                            size_t n)
{
    if (ctx->annos == NULL || ctx->call == NULL ||
        ctx->call->kind != TR_PROMQL_NODE_CALL || ctx->call->call.n_args < 1 ||
        (strcmp(ctx->call->call.func->name, "rate") != 0 &&
         strcmp(ctx->call->call.func->name, "increase") != 0) ||
        unparen(ctx->call->call.args[0])->kind != TR_PROMQL_NODE_MATRIX_SEL) {
        return;
    }
    struct tr_slice name = label_get(ls, n, "__name__", 8);
    static const char *const suffixes[] = {"_total", "_sum", "_count",
                                           "_bucket"};
    if (name.len == 0) {
        return;
    }
    for (size_t i = 0; i < 4; i++) {
        size_t sl = strlen(suffixes[i]);
        if (name.len >= sl &&
            memcmp(name.base + name.len - sl, suffixes[i], sl) == 0) {
            return;
        }
    }
    struct tr_buf q;
    tr_buf_init(&q);
    tr_promql_format_quote(name.base, name.len, &q);
    tr_buf_putc(&q, '\0');
    tr_pq_annos_add(ctx->annos, true, ctx->call->call.args[0]->start,
                    "PromQL info: metric might not be a counter, name does "
                    "not end in _total/_sum/_count/_bucket: %s",
                    q.data ? q.data : "\"\"");
    tr_buf_free(&q);
}

double o_quantile(struct tr_pq_fctx *ctx,
                  const struct tr_pq_value *args,
                  const struct tr_pq_series *s,
                  int *st)
{
    if (ctx->call != NULL && ctx->call->kind == TR_PROMQL_NODE_CALL) {
        tr_pq_warn_quantile(ctx->annos, args[0].scalar,
                            ctx->call->call.args[0]->start);
    }
    double *v = values_copy(ctx, s, st);
    return v == NULL ? 0 : quantile_of(args[0].scalar, v, s->n);
}

double o_mad(struct tr_pq_fctx *ctx,
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

double o_changes(struct tr_pq_fctx *ctx,
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

double o_resets(struct tr_pq_fctx *ctx,
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
void linear_regression(const struct tr_pq_series *s,
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

double o_deriv(struct tr_pq_fctx *ctx,
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

double o_predict_linear(struct tr_pq_fctx *ctx,
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
void go_fmt_f(char *buf, size_t n, double v)
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
double o_holt_winters(struct tr_pq_fctx *ctx,
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

#define OVER(name, f, mat_arg, keep)                                      \
    int fn_##name(struct tr_pq_fctx *ctx, const struct tr_pq_value *args, \
                  size_t n_args, struct tr_pq_vector *out)                \
    {                                                                     \
        (void)n_args;                                                     \
        return over_time(ctx, args, mat_arg, out, f, keep);               \
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

/* The range functions with a per-series core, by name (sorted). */
static const struct {
    const char *name;
    over_fn f;
    size_t mat_arg;
    bool keep;
} over_table[] = {
    {"avg_over_time", o_avg, 0, false},
    {"changes", o_changes, 0, false},
    {"count_over_time", o_count, 0, false},
    {"delta", o_delta, 0, false},
    {"deriv", o_deriv, 0, false},
    {"holt_winters", o_holt_winters, 0, false},
    {"idelta", o_idelta, 0, false},
    {"increase", o_increase, 0, false},
    {"irate", o_irate, 0, false},
    {"last_over_time", o_last, 0, true},
    {"mad_over_time", o_mad, 0, false},
    {"max_over_time", o_max, 0, false},
    {"min_over_time", o_min, 0, false},
    {"predict_linear", o_predict_linear, 0, false},
    {"present_over_time", o_present, 0, false},
    {"quantile_over_time", o_quantile, 1, false},
    {"rate", o_rate, 0, false},
    {"resets", o_resets, 0, false},
    {"stddev_over_time", o_stddev, 0, false},
    {"stdvar_over_time", o_stdvar, 0, false},
    {"sum_over_time", o_sum, 0, false},
};

bool tr_pq_func_over(const char *name,
                     tr_pq_over_fn *f,
                     size_t *mat_arg,
                     bool *keep_name)
{
    size_t lo = 0, hi = sizeof(over_table) / sizeof(over_table[0]);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(over_table[mid].name, name);
        if (c == 0) {
            *f = over_table[mid].f;
            *mat_arg = over_table[mid].mat_arg;
            *keep_name = over_table[mid].keep;
            return true;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}
