/* eval_metric.c - LogQL metric queries: range aggregations over the samples
 * a pipeline extracts, step-by-step evaluation of the expression tree and
 * the assembly of instant vectors and matrices (tr_logql_eval_metric). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/hash.h"
#include "query/logql/eval.h"
#include "query/logql/eval_int.h"

#define DEFAULT_MAX_POINTS 11000
#define NS_PER_MS 1000000LL

/* ---- label-set map: encoded label set -> index --------------------------- */

struct smap {
    uint32_t *slots;       /* index + 1; 0 empty */
    size_t cap;            /* power of two */
    struct tr_slice *keys; /* heap */
    size_t n, keys_cap;
};

static void smap_free(struct smap *m)
{
    tr_free(m->slots);
    tr_free(m->keys);
    memset(m, 0, sizeof(*m));
}

/* Index of key; adds it (copied into a) when absent (*added). -1 OOM. */
static long smap_get(struct smap *m,
                     struct tr_arena *a,
                     const char *key,
                     size_t len,
                     bool *added)
{
    *added = false;
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        uint32_t *s = tr_calloc(cap, sizeof(*s));
        if (!s) {
            return -1;
        }
        for (size_t i = 0; i < m->n; i++) {
            uint64_t h = tr_hash64(m->keys[i].base, m->keys[i].len, 0);
            size_t j = h & (cap - 1);
            while (s[j]) {
                j = (j + 1) & (cap - 1);
            }
            s[j] = (uint32_t)i + 1;
        }
        tr_free(m->slots);
        m->slots = s;
        m->cap = cap;
    }
    uint64_t h = tr_hash64(key, len, 0);
    size_t j = h & (m->cap - 1);
    while (m->slots[j]) {
        struct tr_slice *k = &m->keys[m->slots[j] - 1];
        if (k->len == len && memcmp(k->base, key, len) == 0) {
            return (long)m->slots[j] - 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    if (m->n == m->keys_cap) {
        struct tr_slice *k =
            tr_array_grow(m->keys, &m->keys_cap, sizeof(*k), 64);
        if (!k) {
            return -1;
        }
        m->keys = k;
    }
    char *copy = tr_arena_memdup(a, key, len ? len : 1);
    if (!copy) {
        return -1;
    }
    m->keys[m->n] = (struct tr_slice){copy, len};
    m->slots[j] = (uint32_t)m->n + 1;
    *added = true;
    return (long)m->n++;
}

static int labels_key(const struct tr_label *ls, size_t n, struct tr_buf *b)
{
    tr_buf_reset(b);
    for (size_t i = 0; i < n; i++) {
        tr_buf_put_uvarint(b, ls[i].name.len);
        tr_buf_append(b, ls[i].name.base, ls[i].name.len);
        tr_buf_put_uvarint(b, ls[i].value.len);
        tr_buf_append(b, ls[i].value.base, ls[i].value.len);
    }
    return b->oom ? TR_ENOMEM : 0;
}

/* Saturating int64 arithmetic: ranges and offsets come from the query. */
static int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r)) {
        return b > 0 ? INT64_MIN : INT64_MAX;
    }
    return r;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) {
        return b > 0 ? INT64_MAX : INT64_MIN;
    }
    return r;
}

/* ---- range aggregation data ---------------------------------------------- */

struct rseries {
    struct tr_label *labels; /* metric arena */
    size_t n_labels;
    bool has_err;
    int64_t *ts; /* heap, sorted after loading */
    double *v;   /* heap */
    size_t n, cap;
};

struct rnode {
    const struct tr_logql_expr *e;
    struct rseries *s; /* heap */
    size_t n, cap;
    struct smap map;
    struct tr_label *absent; /* absent_over_time's labels */
    size_t n_absent;
};

struct ev {
    struct tr_logql_ctx c;
    struct rnode *nodes; /* heap */
    size_t n_nodes, cap_nodes;
    struct tr_arena ma; /* metric data (labels of series) */
    struct tr_buf key;
};

static bool op_needs_unwrap(enum tr_logql_range_op op)
{
    switch (op) {
        case TR_LOGQL_RANGE_COUNT_OVER_TIME:
        case TR_LOGQL_RANGE_BYTES_OVER_TIME:
        case TR_LOGQL_RANGE_BYTES_RATE:
        case TR_LOGQL_RANGE_ABSENT_OVER_TIME:
        case TR_LOGQL_RANGE_RATE:
            return false;
        default:
            return true;
    }
}

static int rnode_add(struct ev *ev,
                     struct rnode *rn,
                     const struct tr_label *ls,
                     size_t n,
                     bool has_err,
                     int64_t ts,
                     double v)
{
    int rc = labels_key(ls, n, &ev->key);
    if (rc) {
        return rc;
    }
    bool added;
    long i = smap_get(&rn->map, &ev->ma, ev->key.data ? ev->key.data : "",
                      ev->key.len, &added);
    if (i < 0) {
        return TR_ENOMEM;
    }
    if (added) {
        if (rn->n == rn->cap) {
            struct rseries *s = tr_array_grow(rn->s, &rn->cap, sizeof(*s), 16);
            if (!s) {
                return TR_ENOMEM;
            }
            rn->s = s;
        }
        struct rseries *s = &rn->s[rn->n++];
        memset(s, 0, sizeof(*s));
        s->labels = tr_logql_labels_dup(&ev->ma, ls, n);
        s->n_labels = n;
        s->has_err = has_err;
        if (n && !s->labels) {
            return TR_ENOMEM;
        }
    }
    struct rseries *s = &rn->s[i];
    if (s->n == s->cap) {
        size_t cap = s->cap;
        int64_t *t = tr_array_grow(s->ts, &cap, sizeof(*t), 16);
        if (!t) {
            return TR_ENOMEM;
        }
        s->ts = t;
        cap = s->cap;
        double *vv = tr_array_grow(s->v, &cap, sizeof(*vv), 16);
        if (!vv) {
            return TR_ENOMEM;
        }
        s->v = vv;
        s->cap = cap;
    }
    s->ts[s->n] = ts;
    s->v[s->n] = v;
    s->n++;
    return 0;
}

/* Sorts one series' samples by time, stably: insertion for short or
 * sorted series; a series that gathers several streams (a grouping at
 * load time) holds one sorted run per stream, merged bottom-up. 0 or
 * TR_ENOMEM. */
static int rseries_sort(struct rseries *s)
{
    size_t n = s->n, inv = 0;
    for (size_t i = 1; i < n; i++) {
        inv += s->ts[i - 1] > s->ts[i];
    }
    if (inv == 0) {
        return 0;
    }
    if (n <= 64 || inv < 4) {
        for (size_t i = 1; i < n; i++) {
            int64_t t = s->ts[i];
            double v = s->v[i];
            size_t j = i;
            while (j > 0 && s->ts[j - 1] > t) {
                s->ts[j] = s->ts[j - 1];
                s->v[j] = s->v[j - 1];
                j--;
            }
            s->ts[j] = t;
            s->v[j] = v;
        }
        return 0;
    }
    int64_t *ts2 = tr_malloc(n * sizeof(*ts2));
    double *v2 = tr_malloc(n * sizeof(*v2));
    if (ts2 == NULL || v2 == NULL) {
        tr_free(ts2);
        tr_free(v2);
        return TR_ENOMEM;
    }
    int64_t *ts = s->ts, *tsb = ts2;
    double *v = s->v, *vb = v2;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n;
            size_t hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi) {
                bool right = ts[b] < ts[a]; /* equal: left first (stable) */
                tsb[o] = right ? ts[b] : ts[a];
                vb[o++] = right ? v[b++] : v[a++];
            }
            while (a < mid) {
                tsb[o] = ts[a];
                vb[o++] = v[a++];
            }
            while (b < hi) {
                tsb[o] = ts[b];
                vb[o++] = v[b++];
            }
        }
        int64_t *tt = ts;
        ts = tsb;
        tsb = tt;
        double *vt = v;
        v = vb;
        vb = vt;
    }
    if (ts != s->ts) {
        memcpy(s->ts, ts, n * sizeof(*ts));
        memcpy(s->v, v, n * sizeof(*v));
    }
    tr_free(ts2);
    tr_free(v2);
    return 0;
}

static int absent_labels(struct ev *ev, struct rnode *rn)
{
    const struct tr_logql_log *log = &rn->e->range.log;
    struct tr_label *o =
        tr_arena_alloc(&ev->ma, (log->n_matchers + 1) * sizeof(*o));
    if (!o) {
        return TR_ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < log->n_matchers; i++) {
        const struct tr_matcher *m = &log->matchers[i];
        if (m->type != TR_MATCH_EQ) {
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < log->n_matchers; j++) {
            if (j != i && strcmp(log->matchers[j].name, m->name) == 0 &&
                (log->matchers[j].type != TR_MATCH_EQ || j < i)) {
                dup = true;
            }
        }
        bool other = false;
        for (size_t j = 0; j < log->n_matchers; j++) {
            if (strcmp(log->matchers[j].name, m->name) == 0 &&
                log->matchers[j].type != TR_MATCH_EQ) {
                other = true;
            }
        }
        if (dup || other) {
            continue;
        }
        o[n].name = (struct tr_slice){m->name, strlen(m->name)};
        o[n].value = (struct tr_slice){m->value, m->value_len};
        n++;
    }
    tr_labels_sort(o, n);
    rn->absent = o;
    rn->n_absent = n;
    return 0;
}

/* Reads the selector of range node e for the steps [first, last] (ns) and
 * extracts its samples. */
/* Loads the samples of range aggregation e. pre (may be NULL): the
 * labels of an enclosing `sum by (...)` that the samples may be grouped
 * by right away (see load_all). */
static int load_range(struct ev *ev,
                      const struct tr_logql_expr *e,
                      int64_t first,
                      int64_t last,
                      const struct tr_logql_labels *pre)
{
    int rc;
    if (ev->n_nodes == ev->cap_nodes) {
        struct rnode *n =
            tr_array_grow(ev->nodes, &ev->cap_nodes, sizeof(*n), 4);
        if (!n) {
            return TR_ENOMEM;
        }
        ev->nodes = n;
    }
    struct rnode *rn = &ev->nodes[ev->n_nodes++];
    memset(rn, 0, sizeof(*rn));
    rn->e = e;
    enum tr_logql_range_op op = e->range.op;
    bool unwrap = op_needs_unwrap(op);
    if (unwrap && !e->range.has_unwrap) {
        return tr_errf(TR_EINVAL, ev->c.errmsg,
                       "parse error : invalid aggregation %s without unwrap",
                       tr_logql_range_op_name(op));
    }
    if (!unwrap && e->range.has_unwrap && op != TR_LOGQL_RANGE_RATE &&
        op != TR_LOGQL_RANGE_ABSENT_OVER_TIME) {
        return tr_errf(TR_EINVAL, ev->c.errmsg,
                       "parse error : invalid aggregation %s with unwrap",
                       tr_logql_range_op_name(op));
    }
    if (op == TR_LOGQL_RANGE_ABSENT_OVER_TIME && (rc = absent_labels(ev, rn))) {
        return rc;
    }
    struct tr_logql_pipe *pipe = NULL;
    rc = tr_logql_pipe_new(&e->range.log,
                           e->range.has_unwrap ? &e->range.unwrap : NULL, &pipe,
                           ev->c.errmsg);
    if (rc) {
        return rc;
    }
    struct tr_logql_pushdown pd;
    struct tr_arena tmp;
    tr_arena_init(&tmp, 4096);
    struct tr_log_result res;
    tr_log_result_init(&res);
    rc = tr_logql_pushdown_plan(&e->range.log, &tmp, &pd);
    if (rc) {
        goto out;
    }
    int64_t off = e->range.offset_ns, range = e->range.range_ns;
    int64_t s = sat_add(sat_sub(sat_sub(first, off), range), 1);
    int64_t en = sat_add(sat_sub(last, off), 1);
    tr_log_result_free(&res);
    rc = tr_logql_ctx_select(&ev->c, &e->range.log, &pd, s, en, TR_LOG_FORWARD,
                             0, &res);
    if (rc) {
        goto out;
    }
    const struct tr_logql_grouping *g = &e->range.grouping;
    /* Without grouping (or with without) an unwrapped label leaves the
     * sample's labels, as Loki's extractor does. */
    struct tr_logql_labels wo = {0};
    const char *wo_names[64];
    bool group = g->present && !g->without;
    const struct tr_logql_labels *by = group ? &g->labels : pre;
    bool drop = e->range.has_unwrap && (!g->present || g->without);
    if (g->present && g->without) {
        wo = g->labels;
    }
    if (drop) {
        size_t k = 0;
        for (size_t i = 0; i < wo.n && k < 63; i++) {
            wo_names[k++] = wo.names[i];
        }
        wo_names[k++] = e->range.unwrap.label;
        wo.names = wo_names;
        wo.n = k;
    }
    struct tr_arena la;
    tr_arena_init(&la, 4096);
    for (size_t si = 0; si < res.n_streams && rc == 0; si++) {
        const struct tr_log_stream *st = &res.streams[si];
        rc = tr_logql_pipe_stream(pipe, st->labels, st->n_labels);
        for (size_t i = 0; i < st->n_lines && rc == 0; i++) {
            if ((i & 1023) == 1023 && (rc = tr_logql_ctx_check(&ev->c))) {
                break;
            }
            struct tr_logql_pipe_out o;
            int k = tr_logql_pipe_run(pipe, &st->lines[i], &o);
            if (k <= 0) {
                rc = k;
                continue;
            }
            double v = 1;
            if (op == TR_LOGQL_RANGE_BYTES_OVER_TIME ||
                op == TR_LOGQL_RANGE_BYTES_RATE) {
                v = (double)o.line.len;
            } else if (o.has_value) {
                v = o.value;
            }
            struct tr_label *ls = o.labels;
            size_t n = o.n_labels;
            tr_arena_reset(&la);
            if (!o.has_err && (by != NULL || wo.n)) {
                rc = tr_logql_labels_group(o.labels, o.n_labels,
                                           by != NULL ? by : &wo, by == NULL,
                                           &la, &ls, &n);
                if (rc) {
                    break;
                }
            }
            rc = rnode_add(ev, rn, ls, n, o.has_err, st->lines[i].ts, v);
        }
    }
    tr_arena_free(&la);
    for (size_t i = 0; i < rn->n && rc == 0; i++) {
        rc = rseries_sort(&rn->s[i]);
    }
out:
    tr_log_result_free(&res);
    tr_arena_free(&tmp);
    tr_logql_pipe_free(pipe);
    return rc;
}

/* Whether e (a range aggregation) sums a value per line over the range
 * (so summing its series equals aggregating their lines together). */
static bool range_additive(const struct tr_logql_expr *e)
{
    if (e->range.has_unwrap || e->range.grouping.present) {
        return false;
    }
    switch (e->range.op) {
        case TR_LOGQL_RANGE_COUNT_OVER_TIME:
        case TR_LOGQL_RANGE_RATE:
        case TR_LOGQL_RANGE_BYTES_OVER_TIME:
        case TR_LOGQL_RANGE_BYTES_RATE:
            return true;
        default:
            return false;
    }
}

static int load_all(struct ev *ev,
                    const struct tr_logql_expr *e,
                    int64_t first,
                    int64_t last)
{
    switch (e->kind) {
        case TR_LOGQL_EXPR_RANGE_AGGR:
            return load_range(ev, e, first, last, NULL);
        case TR_LOGQL_EXPR_VECTOR_AGGR: {
            const struct tr_logql_expr *in = e->vector_aggr.expr;
            const struct tr_logql_grouping *g = &e->vector_aggr.grouping;
            if (e->vector_aggr.op == TR_LOGQL_VEC_SUM && g->present &&
                !g->without && in->kind == TR_LOGQL_EXPR_RANGE_AGGR &&
                range_additive(in)) {
                /* sum by (L) of a range aggregation that adds per line:
                 * the samples are grouped by L as they load, so a parser
                 * that gives every line its own label set (json) does not
                 * make one series per line to aggregate at every step;
                 * lines with a pipeline error keep all their labels */
                return load_range(ev, in, first, last, &g->labels);
            }
            return load_all(ev, in, first, last);
        }
        case TR_LOGQL_EXPR_BINARY: {
            int rc = load_all(ev, e->binary.lhs, first, last);
            return rc ? rc : load_all(ev, e->binary.rhs, first, last);
        }
        case TR_LOGQL_EXPR_LABEL_REPLACE:
            return load_all(ev, e->label_replace.expr, first, last);
        case TR_LOGQL_EXPR_LOG:
            return tr_errf(TR_EINVAL, ev->c.errmsg,
                           "unexpected log query in a metric expression");
        default:
            return 0;
    }
}

/* ---- range functions ----------------------------------------------------- */

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    if (isnan(a)) {
        return isnan(b) ? 0 : -1;
    }
    if (isnan(b)) {
        return 1;
    }
    return a < b ? -1 : a > b;
}

static double quantile(double q, double *v, size_t n)
{
    if (n == 0 || isnan(q)) {
        return NAN;
    }
    if (q < 0) {
        return -INFINITY;
    }
    if (q > 1) {
        return INFINITY;
    }
    tr_logql_sort(v, n, sizeof(*v), cmp_double);
    double rank = q * (double)(n - 1);
    size_t lo = (size_t)floor(rank);
    size_t hi = lo + 1 < n ? lo + 1 : n - 1;
    double w = rank - floor(rank);
    return v[lo] * (1 - w) + v[hi] * w;
}

/* rate_counter: Prometheus 3's extrapolatedRate (counter, rate) over the
 * window (lo, hi] (ns): each side extrapolated to the window's edge unless
 * farther than 1.1 average intervals (then half an interval), the start
 * then limited by the counter's zero point. */
static double rate_counter(const int64_t *ts,
                           const double *v,
                           size_t n,
                           int64_t lo,
                           int64_t hi)
{
    if (n < 2) {
        return 0;
    }
    double range_s = ((double)hi - (double)lo) / 1e9;
    double result = v[n - 1] - v[0];
    double lastv = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < lastv) {
            result += lastv;
        }
        lastv = v[i];
    }
    double to_start = ((double)ts[0] - (double)lo) / 1e9;
    double to_end = ((double)hi - (double)ts[n - 1]) / 1e9;
    double sampled = (double)(ts[n - 1] - ts[0]) / 1e9;
    double avg = sampled / (double)(n - 1);
    double thr = avg * 1.1;
    if (to_start >= thr) {
        to_start = avg / 2;
    }
    if (result > 0 && v[0] >= 0) {
        double to_zero = sampled * (v[0] / result);
        if (to_zero < to_start) {
            to_start = to_zero;
        }
    }
    if (to_end >= thr) {
        to_end = avg / 2;
    }
    result *= (sampled + to_start + to_end) / sampled;
    return result / range_s;
}

static double range_fn(const struct tr_logql_expr *e,
                       const int64_t *ts,
                       double *v,
                       size_t n,
                       int64_t lo,
                       int64_t hi)
{
    double range_s = (double)e->range.range_ns / 1e9;
    double acc = 0;
    switch (e->range.op) {
        case TR_LOGQL_RANGE_COUNT_OVER_TIME:
            return (double)n;
        case TR_LOGQL_RANGE_RATE:
            if (!e->range.has_unwrap) {
                return (double)n / range_s;
            }
            for (size_t i = 0; i < n; i++) {
                acc += v[i];
            }
            return acc / range_s;
        case TR_LOGQL_RANGE_BYTES_RATE:
        case TR_LOGQL_RANGE_BYTES_OVER_TIME:
        case TR_LOGQL_RANGE_SUM_OVER_TIME:
            for (size_t i = 0; i < n; i++) {
                acc += v[i];
            }
            return e->range.op == TR_LOGQL_RANGE_BYTES_RATE ? acc / range_s
                                                            : acc;
        case TR_LOGQL_RANGE_AVG_OVER_TIME: {
            double mean = 0;
            for (size_t i = 0; i < n; i++) {
                if (isinf(mean) && ((isinf(v[i]) && (mean > 0) == (v[i] > 0)) ||
                                    (!isinf(v[i]) && !isnan(v[i])))) {
                    continue;
                }
                mean += (v[i] - mean) / (double)(i + 1);
            }
            return mean;
        }
        case TR_LOGQL_RANGE_MIN_OVER_TIME:
        case TR_LOGQL_RANGE_MAX_OVER_TIME: {
            bool mx = e->range.op == TR_LOGQL_RANGE_MAX_OVER_TIME;
            acc = v[0];
            for (size_t i = 1; i < n; i++) {
                if ((mx ? acc < v[i] : acc > v[i]) || isnan(acc)) {
                    acc = v[i];
                }
            }
            return acc;
        }
        case TR_LOGQL_RANGE_STDVAR_OVER_TIME:
        case TR_LOGQL_RANGE_STDDEV_OVER_TIME: {
            double mean = 0, aux = 0;
            for (size_t i = 0; i < n; i++) {
                double d = v[i] - mean;
                mean += d / (double)(i + 1);
                aux += d * (v[i] - mean);
            }
            acc = aux / (double)n;
            return e->range.op == TR_LOGQL_RANGE_STDDEV_OVER_TIME ? sqrt(acc)
                                                                  : acc;
        }
        case TR_LOGQL_RANGE_QUANTILE_OVER_TIME:
            return quantile(e->range.param, v, n);
        case TR_LOGQL_RANGE_FIRST_OVER_TIME:
            return v[0];
        case TR_LOGQL_RANGE_LAST_OVER_TIME:
            return v[n - 1];
        case TR_LOGQL_RANGE_RATE_COUNTER:
            return rate_counter(ts, v, n, lo, hi);
        case TR_LOGQL_RANGE_ABSENT_OVER_TIME:
            return 1;
    }
    return NAN;
}

static size_t lower_gt(const int64_t *ts, size_t n, int64_t t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ts[mid] <= t) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static int eval_range(struct ev *ev,
                      const struct tr_logql_expr *e,
                      int64_t t,
                      struct tr_arena *a,
                      struct tr_pq_vector *out)
{
    struct rnode *rn = NULL;
    for (size_t i = 0; i < ev->n_nodes; i++) {
        if (ev->nodes[i].e == e) {
            rn = &ev->nodes[i];
        }
    }
    out->s = NULL;
    out->n = 0;
    if (!rn) {
        return TR_EINVAL;
    }
    int64_t hi = sat_sub(t, e->range.offset_ns);
    int64_t lo = sat_sub(hi, e->range.range_ns);
    out->s = rn->n ? tr_arena_alloc(a, (rn->n + 1) * sizeof(*out->s))
                   : tr_arena_alloc(a, sizeof(*out->s));
    if (!out->s) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < rn->n; i++) {
        struct rseries *s = &rn->s[i];
        size_t b = lower_gt(s->ts, s->n, lo), en = lower_gt(s->ts, s->n, hi);
        if (b >= en) {
            continue;
        }
        if (s->has_err) {
            return tr_logql_pipeline_err(s->labels, s->n_labels, ev->c.errmsg);
        }
        if (e->range.op == TR_LOGQL_RANGE_ABSENT_OVER_TIME) {
            out->n = 1; /* marker: something is present */
            continue;
        }
        double *vals = &s->v[b];
        if (e->range.op == TR_LOGQL_RANGE_QUANTILE_OVER_TIME) {
            vals = tr_arena_memdup(a, &s->v[b], (en - b) * sizeof(double));
            if (!vals) {
                return TR_ENOMEM;
            }
        }
        struct tr_pq_sample *o = &out->s[out->n++];
        o->labels = s->labels;
        o->n_labels = s->n_labels;
        o->t = t / NS_PER_MS;
        o->v = range_fn(e, &s->ts[b], vals, en - b, lo, hi);
    }
    if (e->range.op == TR_LOGQL_RANGE_ABSENT_OVER_TIME) {
        if (out->n) {
            out->n = 0;
            return 0;
        }
        out->s[0].labels = rn->absent;
        out->s[0].n_labels = rn->n_absent;
        out->s[0].t = t / NS_PER_MS;
        out->s[0].v = 1;
        out->n = 1;
    }
    return 0;
}

/* ---- tree evaluation ----------------------------------------------------- */

static int eval_node(struct ev *ev,
                     const struct tr_logql_expr *e,
                     int64_t t,
                     struct tr_arena *a,
                     struct tr_logql_sv *out)
{
    int rc;
    memset(out, 0, sizeof(*out));
    switch (e->kind) {
        case TR_LOGQL_EXPR_LITERAL:
            out->scalar = true;
            out->s = e->literal.value;
            return 0;
        case TR_LOGQL_EXPR_VECTOR:
            out->v.s = tr_arena_alloc(a, sizeof(*out->v.s));
            if (!out->v.s) {
                return TR_ENOMEM;
            }
            out->v.s[0] =
                (struct tr_pq_sample){NULL, 0, t / NS_PER_MS, e->vector.value};
            out->v.n = 1;
            return 0;
        case TR_LOGQL_EXPR_RANGE_AGGR:
            return eval_range(ev, e, t, a, &out->v);
        case TR_LOGQL_EXPR_VECTOR_AGGR: {
            struct tr_logql_sv in;
            rc = eval_node(ev, e->vector_aggr.expr, t, a, &in);
            if (rc) {
                return rc;
            }
            if (in.scalar) {
                return tr_errf(TR_EINVAL, ev->c.errmsg,
                               "unexpected scalar in a vector aggregation");
            }
            return tr_logql_vec_aggr(e, &in.v, t / NS_PER_MS, a, &out->v);
        }
        case TR_LOGQL_EXPR_BINARY: {
            struct tr_logql_sv l, r;
            rc = eval_node(ev, e->binary.lhs, t, a, &l);
            if (rc) {
                return rc;
            }
            rc = eval_node(ev, e->binary.rhs, t, a, &r);
            if (rc) {
                return rc;
            }
            return tr_logql_binop(e, &l, &r, t / NS_PER_MS, a, out,
                                  ev->c.errmsg);
        }
        case TR_LOGQL_EXPR_LABEL_REPLACE: {
            struct tr_logql_sv in;
            rc = eval_node(ev, e->label_replace.expr, t, a, &in);
            if (rc) {
                return rc;
            }
            if (in.scalar) {
                return tr_errf(TR_EINVAL, ev->c.errmsg,
                               "unexpected scalar in label_replace");
            }
            return tr_logql_label_replace(e, &in.v, a, &out->v, ev->c.errmsg);
        }
        case TR_LOGQL_EXPR_LOG:
            break;
    }
    return tr_errf(TR_EINVAL, ev->c.errmsg, "unexpected log query");
}

bool tr_logql_result_ordered(const struct tr_logql_expr *expr)
{
    if (!expr) {
        return false;
    }
    switch (expr->kind) {
        case TR_LOGQL_EXPR_VECTOR_AGGR:
            return expr->vector_aggr.op == TR_LOGQL_VEC_SORT ||
                   expr->vector_aggr.op == TR_LOGQL_VEC_SORT_DESC;
        case TR_LOGQL_EXPR_BINARY:
            /* an operation with a literal keeps the vector's order */
            if (expr->binary.lhs->kind == TR_LOGQL_EXPR_LITERAL) {
                return tr_logql_result_ordered(expr->binary.rhs);
            }
            if (expr->binary.rhs->kind == TR_LOGQL_EXPR_LITERAL) {
                return tr_logql_result_ordered(expr->binary.lhs);
            }
            return false;
        default:
            return false;
    }
}

static int sample_cmp(const void *x, const void *y)
{
    const struct tr_pq_sample *a = x, *b = y;
    return tr_labels_cmp(a->labels, a->n_labels, b->labels, b->n_labels);
}

static int sample_cmp_series(const void *x, const void *y)
{
    const struct tr_pq_series *a = x, *b = y;
    return tr_labels_cmp(a->labels, a->n_labels, b->labels, b->n_labels);
}

static int check_dups(struct ev *ev, const struct tr_pq_vector *v)
{
    for (size_t i = 1; i < v->n; i++) {
        if (sample_cmp(&v->s[i - 1], &v->s[i]) == 0) {
            return tr_errf(TR_EEXEC, ev->c.errmsg,
                           "vector cannot contain metrics with the same "
                           "labelset");
        }
    }
    return 0;
}

static bool has_approx_topk(const struct tr_logql_expr *e)
{
    switch (e->kind) {
        case TR_LOGQL_EXPR_VECTOR_AGGR:
            return e->vector_aggr.op == TR_LOGQL_VEC_APPROX_TOPK ||
                   has_approx_topk(e->vector_aggr.expr);
        case TR_LOGQL_EXPR_BINARY:
            return has_approx_topk(e->binary.lhs) ||
                   has_approx_topk(e->binary.rhs);
        case TR_LOGQL_EXPR_LABEL_REPLACE:
            return has_approx_topk(e->label_replace.expr);
        default:
            return false;
    }
}

struct mseries {
    struct tr_label *labels;
    size_t n_labels;
    struct tr_pq_point *pts; /* heap */
    size_t n, cap;
};

int tr_logql_eval_metric(const struct tr_log_source *src,
                         struct tr_slice tenant,
                         const struct tr_logql_expr *expr,
                         int64_t start_ns,
                         int64_t end_ns,
                         int64_t step_ns,
                         const struct tr_logql_opts *opts,
                         struct tr_arena *a,
                         struct tr_pq_value *out,
                         char *errmsg)
{
    struct tr_logql_opts none = {0};
    struct ev ev;
    struct tr_arena step_a;
    struct smap mmap = {0};
    struct mseries *ms = NULL;
    size_t n_ms = 0, cap_ms = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!opts) {
        opts = &none;
    }
    if (!tr_logql_is_metric(expr)) {
        return tr_errf(TR_EINVAL, errmsg, "not a metric query");
    }
    if (step_ns == 0) {
        end_ns = start_ns;
    } else if (step_ns < 0 || end_ns < start_ns) {
        return tr_errf(TR_EINVAL, errmsg,
                       "invalid range: end before start or bad step");
    }
    if (step_ns > 0 && has_approx_topk(expr)) {
        return tr_errf(TR_EINVAL, errmsg,
                       "approx_topk is only supported on instant queries");
    }
    size_t max_points =
        opts->max_points ? opts->max_points : DEFAULT_MAX_POINTS;
    if (step_ns > 0 &&
        ((uint64_t)end_ns - (uint64_t)start_ns) / (uint64_t)step_ns + 1 >
            max_points) {
        return tr_errf(TR_EINVAL, errmsg,
                       "exceeded maximum resolution of 11,000 points per "
                       "timeseries. Try decreasing the query resolution "
                       "(?step=XX)");
    }
    memset(&ev, 0, sizeof(ev));
    ev.c.src = src;
    ev.c.tenant = tenant;
    ev.c.a = a;
    ev.c.errmsg = errmsg;
    ev.c.deadline = opts->deadline_mono_ns;
    ev.c.max_series = opts->max_series;
    if (opts->max_bytes) {
        tr_select_budget_init(&ev.c.budget_store, opts->max_bytes);
        ev.c.budget = &ev.c.budget_store;
    }
    tr_arena_init(&ev.ma, 64 * 1024);
    tr_arena_init(&step_a, 64 * 1024);
    tr_buf_init(&ev.key);
    int64_t last = start_ns;
    if (step_ns > 0) {
        last = start_ns + (int64_t)(((uint64_t)end_ns - (uint64_t)start_ns) /
                                    (uint64_t)step_ns * (uint64_t)step_ns);
    }
    rc = load_all(&ev, expr, start_ns, last);
    if (rc) {
        goto out;
    }
    bool ordered = tr_logql_result_ordered(expr);
    if (step_ns == 0) {
        struct tr_logql_sv sv;
        rc = eval_node(&ev, expr, start_ns, &step_a, &sv);
        if (rc) {
            goto out;
        }
        if (sv.scalar) {
            out->type = TR_PROMQL_TYPE_SCALAR;
            out->scalar = sv.s;
            goto out;
        }
        out->type = TR_PROMQL_TYPE_VECTOR;
        if (!ordered) {
            tr_logql_sort(sv.v.s, sv.v.n, sizeof(*sv.v.s), sample_cmp);
            if ((rc = check_dups(&ev, &sv.v))) {
                goto out;
            }
        }
        if (ev.c.max_series && sv.v.n > ev.c.max_series) {
            rc = tr_errf(TR_ELIMIT, errmsg,
                         "maximum of series (%zu) reached for a single "
                         "query",
                         ev.c.max_series);
            goto out;
        }
        out->vec.s = tr_arena_alloc(a, (sv.v.n + 1) * sizeof(*out->vec.s));
        if (!out->vec.s) {
            rc = TR_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < sv.v.n; i++) {
            out->vec.s[i] = sv.v.s[i];
            out->vec.s[i].labels =
                tr_logql_labels_dup(a, sv.v.s[i].labels, sv.v.s[i].n_labels);
            if (sv.v.s[i].n_labels && !out->vec.s[i].labels) {
                rc = TR_ENOMEM;
                goto out;
            }
        }
        out->vec.n = sv.v.n;
        goto out;
    }
    for (int64_t t = start_ns; t <= end_ns; t += step_ns) {
        struct tr_logql_sv sv;
        tr_arena_reset(&step_a);
        if ((rc = tr_logql_ctx_check(&ev.c))) {
            goto out;
        }
        rc = eval_node(&ev, expr, t, &step_a, &sv);
        if (rc) {
            goto out;
        }
        if (sv.scalar) {
            sv.v.s = tr_arena_alloc(&step_a, sizeof(*sv.v.s));
            if (!sv.v.s) {
                rc = TR_ENOMEM;
                goto out;
            }
            sv.v.s[0] = (struct tr_pq_sample){NULL, 0, t / NS_PER_MS, sv.s};
            sv.v.n = 1;
        }
        tr_logql_sort(sv.v.s, sv.v.n, sizeof(*sv.v.s), sample_cmp);
        if ((rc = check_dups(&ev, &sv.v))) {
            goto out;
        }
        for (size_t i = 0; i < sv.v.n; i++) {
            const struct tr_pq_sample *smp = &sv.v.s[i];
            if ((rc = labels_key(smp->labels, smp->n_labels, &ev.key))) {
                goto out;
            }
            bool added;
            long k = smap_get(&mmap, &ev.ma, ev.key.data ? ev.key.data : "",
                              ev.key.len, &added);
            if (k < 0) {
                rc = TR_ENOMEM;
                goto out;
            }
            if (added) {
                if (ev.c.max_series && n_ms >= ev.c.max_series) {
                    rc = tr_errf(TR_ELIMIT, errmsg,
                                 "maximum of series (%zu) reached for a "
                                 "single query",
                                 ev.c.max_series);
                    goto out;
                }
                if (n_ms == cap_ms) {
                    struct mseries *m =
                        tr_array_grow(ms, &cap_ms, sizeof(*m), 16);
                    if (!m) {
                        rc = TR_ENOMEM;
                        goto out;
                    }
                    ms = m;
                }
                memset(&ms[n_ms], 0, sizeof(ms[n_ms]));
                ms[n_ms].labels =
                    tr_logql_labels_dup(a, smp->labels, smp->n_labels);
                ms[n_ms].n_labels = smp->n_labels;
                if (smp->n_labels && !ms[n_ms].labels) {
                    rc = TR_ENOMEM;
                    goto out;
                }
                n_ms++;
            }
            struct mseries *m = &ms[k];
            if (m->n == m->cap) {
                struct tr_pq_point *p =
                    tr_array_grow(m->pts, &m->cap, sizeof(*p), 16);
                if (!p) {
                    rc = TR_ENOMEM;
                    goto out;
                }
                m->pts = p;
            }
            m->pts[m->n++] = (struct tr_pq_point){t / NS_PER_MS, smp->v};
        }
        if (t > INT64_MAX - step_ns) {
            break;
        }
    }
    out->type = TR_PROMQL_TYPE_MATRIX;
    out->mat.s = tr_arena_alloc(a, (n_ms + 1) * sizeof(*out->mat.s));
    if (!out->mat.s) {
        rc = TR_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n_ms; i++) {
        struct tr_pq_series *s = &out->mat.s[i];
        s->labels = ms[i].labels;
        s->n_labels = ms[i].n_labels;
        s->n = ms[i].n;
        s->pts = tr_arena_memdup(a, ms[i].pts, ms[i].n * sizeof(*s->pts));
        if (!s->pts) {
            rc = TR_ENOMEM;
            goto out;
        }
    }
    out->mat.n = n_ms;
    tr_logql_sort(out->mat.s, n_ms, sizeof(*out->mat.s), sample_cmp_series);
out:
    for (size_t i = 0; i < n_ms; i++) {
        tr_free(ms[i].pts);
    }
    tr_free(ms);
    smap_free(&mmap);
    for (size_t i = 0; i < ev.n_nodes; i++) {
        struct rnode *rn = &ev.nodes[i];
        for (size_t j = 0; j < rn->n; j++) {
            tr_free(rn->s[j].ts);
            tr_free(rn->s[j].v);
        }
        tr_free(rn->s);
        smap_free(&rn->map);
    }
    tr_free(ev.nodes);
    tr_buf_free(&ev.key);
    tr_arena_free(&step_a);
    tr_arena_free(&ev.ma);
    if (rc == TR_ENOMEM && errmsg) {
        tr_errf(rc, errmsg, "out of memory");
    }
    if (rc) {
        memset(out, 0, sizeof(*out));
    }
    return rc;
}
