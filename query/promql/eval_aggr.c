/* eval_aggr.c - PromQL aggregation operators (Prometheus 2.53 engine's
 * aggregation()): sum avg count min max group stddev stdvar topk bottomk
 * quantile count_values, with by/without grouping. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/json.h"
#include "query/promql/eval_int.h"

struct aggr_group {
    struct tr_label *labels; /* output labels */
    size_t n_labels;
    double v;     /* sum, min, max, Welford M2 */
    double mean;  /* avg, stddev, stdvar */
    size_t count; /* samples */
    size_t *idx;  /* members (topk, bottomk, quantile) */
    size_t n_idx;
};

static bool aggr__label_name_valid(const char *s, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '_' || (i > 0 && c >= '0' && c <= '9');
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* Prometheus' quantile(): values sorted as Go's sort.Float64s. */
static int aggr__float_cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    if (isnan(a)) {
        return isnan(b) ? 0 : -1;
    }
    if (isnan(b)) {
        return 1;
    }
    return a < b ? -1 : a > b ? 1 : 0;
}

static double aggr__quantile(double q, double *v, size_t n)
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
    qsort(v, n, sizeof(*v), aggr__float_cmp);
    double rank = q * (double)(n - 1);
    double lo = floor(rank);
    if (lo < 0) {
        lo = 0;
    }
    size_t li = (size_t)lo;
    size_t hi = li + 1 < n ? li + 1 : n - 1;
    double w = rank - floor(rank);
    return v[li] * (1 - w) + v[hi] * w;
}

/* Sorting of topk/bottomk members. */
struct aggr_rank {
    double v;
    size_t i;
    bool top;
};

static int aggr__rank_cmp(const void *x, const void *y)
{
    const struct aggr_rank *a = x, *b = y;
    bool an = isnan(a->v), bn = isnan(b->v);
    if (an != bn) {
        return an ? 1 : -1;
    }
    if (!an && a->v != b->v) {
        bool less = a->v < b->v;
        return (a->top ? !less : less) ? -1 : 1;
    }
    return a->i < b->i ? -1 : a->i > b->i ? 1 : 0;
}

/* Output labels of a group. */
struct tr_label *tr_pq_aggr_group_labels(struct tr_arena *a,
                                         const struct tr_label *ls,
                                         size_t n,
                                         bool without,
                                         const struct tr_promql_labels *g,
                                         size_t *out_n)
{
    struct tr_label *o = tr_arena_alloc(a, (n ? n : 1) * sizeof(*o));
    if (o == NULL) {
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool in = tr_pq_ev_in_list(ls[i].name, g);
        if (without ? (in || tr_pq_ev_is_name(ls[i].name))
                    : (!in || ls[i].value.len == 0)) {
            continue;
        }
        o[k++] = ls[i];
    }
    *out_n = k;
    return o;
}

static int aggr__oom(struct tr_pq_ev *e)
{
    return tr_errf(TR_ENOMEM, e->errmsg, "out of memory");
}

int tr_pq_ev_aggregate(struct tr_pq_ev *e,
                       const struct tr_promql_node *n,
                       int64_t t,
                       struct tr_pq_value *out)
{
    enum tr_promql_aggr op = n->agg.op;
    struct tr_pq_value pv, vv;
    memset(&pv, 0, sizeof(pv));
    int rv = 0;
    if (n->agg.param != NULL) {
        rv = tr_pq_ev_eval(e, n->agg.param, t, &pv);
    }
    if (rv == 0) {
        rv = tr_pq_ev_eval(e, n->agg.expr, t, &vv);
    }
    if (rv != 0) {
        return rv;
    }
    struct tr_pq_vector vec = vv.vec;
    struct tr_promql_labels grouping = n->agg.grouping;
    out->type = TR_PROMQL_TYPE_VECTOR;
    out->vec.s = NULL;
    out->vec.n = 0;
    int64_t k = 0;
    if (op == TR_PROMQL_AGGR_TOPK || op == TR_PROMQL_AGGR_BOTTOMK) {
        double p = pv.scalar;
        if (!(p >= -9223372036854775808.0 && p < 9223372036854775808.0)) {
            return tr_errf(TR_EEXEC, e->errmsg,
                           "Scalar value %g overflows int64", p);
        }
        k = (int64_t)p;
        if (k < 1) {
            return 0;
        }
    }
    if (vec.n == 0) {
        return 0;
    }
    if (op == TR_PROMQL_AGGR_COUNT_VALUES) {
        const char *vl = pv.str ? pv.str : "";
        if (!aggr__label_name_valid(vl, pv.str_len)) {
            return tr_errf(TR_EEXEC, e->errmsg, "invalid label name \"%s\"",
                           vl);
        }
        struct tr_pq_sample *ns =
            tr_arena_alloc(e->scratch, vec.n * sizeof(*ns));
        if (ns == NULL) {
            return aggr__oom(e);
        }
        for (size_t i = 0; i < vec.n; i++) {
            char buf[TR_DOUBLE_BUF];
            size_t bl = tr_format_double(buf, vec.s[i].v);
            char *val = tr_arena_strndup(e->scratch, buf, bl);
            ns[i] = vec.s[i];
            if (val == NULL ||
                (ns[i].labels = tr_pq_ev_labels_set(
                     e->scratch, vec.s[i].labels, vec.s[i].n_labels,
                     (struct tr_slice){vl, pv.str_len},
                     (struct tr_slice){val, bl}, &ns[i].n_labels)) == NULL) {
                return aggr__oom(e);
            }
        }
        vec.s = ns;
        if (!n->agg.without) {
            const char **names =
                tr_arena_alloc(e->scratch, (grouping.n + 1) * sizeof(*names));
            if (names == NULL) {
                return aggr__oom(e);
            }
            for (size_t i = 0; i < grouping.n; i++) {
                names[i] = grouping.names[i];
            }
            names[grouping.n] = vl;
            grouping.names = names;
            grouping.n++;
        }
    }
    if (op == TR_PROMQL_AGGR_QUANTILE) {
        tr_pq_warn_quantile(e->annos, pv.scalar, n->agg.param->start);
    }
    struct aggr_group *g = tr_arena_alloc(e->scratch, vec.n * sizeof(*g));
    size_t *gi = tr_arena_alloc(e->scratch, vec.n * sizeof(*gi));
    struct tr_pq_kmap m;
    if (g == NULL || gi == NULL || tr_pq_kmap_init(&m, e->scratch, vec.n)) {
        return aggr__oom(e);
    }
    size_t ng = 0;
    for (size_t i = 0; i < vec.n; i++) {
        const struct tr_pq_sample *s = &vec.s[i];
        const char *key;
        size_t kl;
        if (tr_pq_sig(e->scratch, s->labels, s->n_labels, !n->agg.without,
                      &grouping, &key, &kl) != 0) {
            return aggr__oom(e);
        }
        struct tr_pq_kent *slot = tr_pq_kmap_slot(&m, key, kl);
        double v = s->v;
        if (!slot->used) {
            slot->used = true;
            slot->v = ng;
            struct aggr_group *ag = &g[ng++];
            memset(ag, 0, sizeof(*ag));
            ag->labels = tr_pq_aggr_group_labels(e->scratch, s->labels,
                                                 s->n_labels, n->agg.without,
                                                 &grouping, &ag->n_labels);
            if (ag->labels == NULL) {
                return aggr__oom(e);
            }
            ag->count = 1;
            ag->v = op == TR_PROMQL_AGGR_STDDEV || op == TR_PROMQL_AGGR_STDVAR
                        ? 0
                        : v;
            ag->mean = v;
            gi[i] = slot->v;
            continue;
        }
        struct aggr_group *ag = &g[slot->v];
        gi[i] = slot->v;
        ag->count++;
        switch (op) {
            case TR_PROMQL_AGGR_SUM:
                ag->v += v;
                break;
            case TR_PROMQL_AGGR_AVG:
                if (isinf(ag->mean)) {
                    if (isinf(v) && (ag->mean > 0) == (v > 0)) {
                        break;
                    }
                    if (!isinf(v) && !isnan(v)) {
                        break;
                    }
                }
                ag->mean +=
                    v / (double)ag->count - ag->mean / (double)ag->count;
                break;
            case TR_PROMQL_AGGR_MIN:
                if (ag->v > v || isnan(ag->v)) {
                    ag->v = v;
                }
                break;
            case TR_PROMQL_AGGR_MAX:
                if (ag->v < v || isnan(ag->v)) {
                    ag->v = v;
                }
                break;
            case TR_PROMQL_AGGR_STDDEV:
            case TR_PROMQL_AGGR_STDVAR: {
                double delta = v - ag->mean;
                ag->mean += delta / (double)ag->count;
                ag->v += delta * (v - ag->mean);
                break;
            }
            default:
                break;
        }
    }
    bool members = op == TR_PROMQL_AGGR_TOPK || op == TR_PROMQL_AGGR_BOTTOMK ||
                   op == TR_PROMQL_AGGR_QUANTILE;
    if (members) {
        for (size_t j = 0; j < ng; j++) {
            g[j].idx = tr_arena_alloc(e->scratch, g[j].count * sizeof(size_t));
            if (g[j].idx == NULL) {
                return aggr__oom(e);
            }
        }
        for (size_t i = 0; i < vec.n; i++) {
            struct aggr_group *ag = &g[gi[i]];
            ag->idx[ag->n_idx++] = i;
        }
    }
    struct tr_pq_sample *o = tr_arena_alloc(e->scratch, vec.n * sizeof(*o));
    if (o == NULL) {
        return aggr__oom(e);
    }
    size_t no = 0;
    for (size_t j = 0; j < ng; j++) {
        struct aggr_group *ag = &g[j];
        double v = ag->v;
        switch (op) {
            case TR_PROMQL_AGGR_AVG:
                v = ag->mean;
                break;
            case TR_PROMQL_AGGR_COUNT:
            case TR_PROMQL_AGGR_COUNT_VALUES:
                v = (double)ag->count;
                break;
            case TR_PROMQL_AGGR_GROUP:
                v = 1;
                break;
            case TR_PROMQL_AGGR_STDVAR:
                v = ag->v / (double)ag->count;
                break;
            case TR_PROMQL_AGGR_STDDEV:
                v = sqrt(ag->v / (double)ag->count);
                break;
            case TR_PROMQL_AGGR_QUANTILE: {
                double *vals =
                    tr_arena_alloc(e->scratch, ag->n_idx * sizeof(*vals));
                if (vals == NULL) {
                    return aggr__oom(e);
                }
                for (size_t i = 0; i < ag->n_idx; i++) {
                    vals[i] = vec.s[ag->idx[i]].v;
                }
                v = aggr__quantile(pv.scalar, vals, ag->n_idx);
                break;
            }
            case TR_PROMQL_AGGR_TOPK:
            case TR_PROMQL_AGGR_BOTTOMK: {
                struct aggr_rank *r =
                    tr_arena_alloc(e->scratch, ag->n_idx * sizeof(*r));
                if (r == NULL) {
                    return aggr__oom(e);
                }
                for (size_t i = 0; i < ag->n_idx; i++) {
                    r[i].v = vec.s[ag->idx[i]].v;
                    r[i].i = ag->idx[i];
                    r[i].top = op == TR_PROMQL_AGGR_TOPK;
                }
                qsort(r, ag->n_idx, sizeof(*r), aggr__rank_cmp);
                size_t take = (uint64_t)k < ag->n_idx ? (size_t)k : ag->n_idx;
                for (size_t i = 0; i < take; i++) {
                    o[no] = vec.s[r[i].i];
                    o[no++].t = t;
                }
                continue;
            }
            default:
                break;
        }
        o[no].labels = ag->labels;
        o[no].n_labels = ag->n_labels;
        o[no].t = t;
        o[no++].v = v;
    }
    out->vec.s = o;
    out->vec.n = no;
    return 0;
}
