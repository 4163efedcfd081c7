/* metrics.c - TraceQL metrics over observed traces (semantics and the
 * partial-state format in query/traceql/metrics.h). */
#include "query/traceql/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/hash.h"
#include "lib/u64map.h"
#include "query/traceql/eval.h"

#define MX_BUCKETS 64

struct mx_cell {
    uint64_t count;
    double sum, min, max;
    uint64_t *buckets; /* MX_BUCKETS counts (histograms, quantiles) */
};

struct mx_series {
    struct tr_otlp_kv *by;
    size_t n_by;
    struct tr_u64map cells; /* step -> struct mx_cell * */
};

struct tr_traceql_metrics_job {
    struct tr_arena a;
    const struct tr_traceql_metrics *m;
    struct tr_traceql_spanset ss;
    struct tr_traceql_query fq; /* the pipeline as a search query */
    struct tr_traceql_eval *ev;
    /* compare(): its filter as a search query */
    struct tr_traceql_query cq;
    struct tr_traceql_eval *cmp;
    int64_t start, end, step;
    uint32_t n_steps;
    bool hist;     /* quantiles or histogram */
    bool duration; /* the aggregated attribute is a duration */
    struct mx_series *series;
    size_t n, cap;
    struct tr_u64map by_key; /* hash of the encoded by() values -> i + 1 */
    struct tr_buf key;
    struct tr_traceql_series *out;
    size_t n_out;
};

static bool mx__is_duration(const struct tr_traceql_attr *a)
{
    return a->intrinsic == TR_TQL_INTR_DURATION ||
           a->intrinsic == TR_TQL_INTR_TRACE_DURATION ||
           a->intrinsic == TR_TQL_INTR_EVENT_TIME_SINCE_START;
}

int tr_traceql_metrics_new(const struct tr_traceql_query *q,
                           int64_t start,
                           int64_t end,
                           int64_t step,
                           struct tr_traceql_metrics_job **out,
                           char *errmsg)
{
    *out = NULL;
    if (q->kind != TR_TQL_Q_METRICS) {
        return tr_errf(TR_EINVAL, errmsg,
                       "not a metrics query: a pipeline ending in rate(), "
                       "count_over_time(), ... is expected");
    }
    const struct tr_traceql_metrics *m = q->metrics;
    if (m->kind != TR_TQL_ME_PIPELINE) {
        return tr_errf(TR_EUNSUPPORTED, errmsg,
                       "arithmetic between metrics queries is not supported");
    }
    if (step <= 0 || end < start) {
        return tr_errf(TR_EINVAL, errmsg, "invalid start, end or step");
    }
    int64_t aligned = start - (start % step + step) % step;
    uint64_t n_steps = (uint64_t)(end - aligned) / (uint64_t)step + 1;
    if (n_steps > TR_TQL_METRICS_MAX_STEPS) {
        return tr_errf(TR_EINVAL, errmsg,
                       "too many steps (%llu; at most %d): use a larger step",
                       (unsigned long long)n_steps, TR_TQL_METRICS_MAX_STEPS);
    }
    struct tr_traceql_metrics_job *j = tr_calloc(1, sizeof(*j));
    if (j == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    tr_arena_init(&j->a, 64 * 1024);
    tr_buf_init(&j->key);
    tr_u64map_init(&j->by_key);
    j->m = m;
    j->ss.kind = TR_TQL_SS_PIPELINE;
    j->ss.u.pipeline = m->pipeline;
    j->fq.kind = TR_TQL_Q_SPANSET;
    j->fq.spanset = &j->ss;
    j->start = aligned;
    j->end = end;
    j->step = step;
    j->n_steps = (uint32_t)n_steps;
    j->hist = m->agg.fn == TR_TQL_M_QUANTILE_OVER_TIME ||
              m->agg.fn == TR_TQL_M_HISTOGRAM_OVER_TIME;
    j->duration = m->agg.has_attr && mx__is_duration(&m->agg.attr);
    int rv = tr_traceql_eval_new(&j->fq, &j->ev, errmsg);
    if (rv == 0 && m->agg.fn == TR_TQL_M_COMPARE) {
        j->cq.kind = TR_TQL_Q_SPANSET;
        j->cq.spanset = m->agg.compare;
        rv = tr_traceql_eval_new(&j->cq, &j->cmp, errmsg);
    }
    if (rv != 0) {
        tr_traceql_metrics_free(j);
        return rv;
    }
    *out = j;
    return 0;
}

static void mx__series_free(struct mx_series *s)
{
    tr_u64map_free(&s->cells);
}

void tr_traceql_metrics_free(struct tr_traceql_metrics_job *j)
{
    if (j == NULL) {
        return;
    }
    for (size_t i = 0; i < j->n; i++) {
        mx__series_free(&j->series[i]);
    }
    tr_free(j->series);
    tr_u64map_free(&j->by_key);
    tr_buf_free(&j->key);
    tr_traceql_eval_free(j->ev);
    tr_traceql_eval_free(j->cmp);
    tr_arena_free(&j->a);
    tr_free(j);
}

size_t tr_traceql_metrics_prune(const struct tr_traceql_metrics_job *j,
                                struct tr_trace_eq *out,
                                size_t max)
{
    return tr_traceql_eval_prune(j->ev, out, max);
}

bool tr_traceql_metrics_span_local(const struct tr_traceql_metrics_job *j)
{
    return tr_traceql_eval_span_local(j->ev);
}

/* The series of the encoded by() values in j->key (made when new). */
static struct mx_series *mx__series(struct tr_traceql_metrics_job *j, int *rv)
{
    uint64_t h = tr_hash64(j->key.data, j->key.len, 0x6d6574);
    uintptr_t at = (uintptr_t)tr_u64map_get(&j->by_key, h);
    if (at != 0) {
        return &j->series[at - 1];
    }
    if (j->n >= TR_TQL_METRICS_MAX_SERIES) {
        *rv = TR_ELIMIT;
        return NULL;
    }
    if (j->n == j->cap) {
        struct mx_series *ns =
            tr_array_grow(j->series, &j->cap, sizeof(*ns), 16);
        if (ns == NULL) {
            *rv = TR_ENOMEM;
            return NULL;
        }
        j->series = ns;
    }
    char *copy = tr_arena_memdup(&j->a, j->key.data, j->key.len);
    if (copy == NULL) {
        *rv = TR_ENOMEM;
        return NULL;
    }
    struct mx_series *s = &j->series[j->n];
    memset(s, 0, sizeof(*s));
    struct tr_cursor c = tr_cursor_make(copy, j->key.len);
    if (tr_trace_kvs_get(&c, &j->a, 0, (const struct tr_otlp_kv **)&s->by,
                         &s->n_by) != 0) {
        *rv = TR_ENOMEM;
        return NULL;
    }
    tr_u64map_init(&s->cells);
    j->n++;
    if (tr_u64map_put(&j->by_key, h, (void *)(uintptr_t)j->n) != 0) {
        *rv = TR_ENOMEM;
        return NULL;
    }
    return s;
}

static struct mx_cell *mx__cell(struct tr_traceql_metrics_job *j,
                                struct mx_series *s,
                                uint32_t step,
                                int *rv)
{
    struct mx_cell *c = tr_u64map_get(&s->cells, step);
    if (c != NULL) {
        return c;
    }
    c = tr_arena_alloc(&j->a, sizeof(*c));
    if (c == NULL) {
        *rv = TR_ENOMEM;
        return NULL;
    }
    memset(c, 0, sizeof(*c));
    if (j->hist) {
        c->buckets = tr_arena_alloc(&j->a, MX_BUCKETS * sizeof(uint64_t));
        if (c->buckets == NULL) {
            *rv = TR_ENOMEM;
            return NULL;
        }
        memset(c->buckets, 0, MX_BUCKETS * sizeof(uint64_t));
    }
    if (tr_u64map_put(&s->cells, step, c) != 0) {
        *rv = TR_ENOMEM;
        return NULL;
    }
    return c;
}

/* The power-of-two bucket of x: the smallest k with x <= 2^k. */
static int mx__bucket(double x)
{
    if (!(x > 1)) {
        return 0;
    }
    int k = (int)ceil(log2(x));
    return k < 0 ? 0 : k >= MX_BUCKETS ? MX_BUCKETS - 1 : k;
}

static void mx__add(struct mx_cell *c, double v, double raw, bool hist)
{
    if (c->count == 0 || v < c->min) {
        c->min = v;
    }
    if (c->count == 0 || v > c->max) {
        c->max = v;
    }
    c->count++;
    c->sum += v;
    if (hist) {
        c->buckets[mx__bucket(raw)]++;
    }
}

/* compare(): counts one value (or, with v NULL, the total) of attribute
 * label for the selection or the baseline at step. */
static int mx__cmp_count(struct tr_traceql_metrics_job *j,
                         bool sel,
                         struct tr_slice label,
                         const struct tr_otlp_value *v,
                         uint32_t step)
{
    bool total = v == NULL;
    static const char *const types[] = {"baseline", "selection",
                                        "baseline_total", "selection_total"};
    struct tr_otlp_value mt = {
        .type = TR_OTLP_STRING,
        .s = tr_slice_cstr(types[(total ? 2 : 0) + (sel ? 1 : 0)])};
    struct tr_otlp_value empty = {.type = TR_OTLP_EMPTY};
    tr_buf_reset(&j->key);
    tr_buf_put_uvarint(&j->key, 2);
    tr_buf_put_uvarint(&j->key, 11);
    tr_buf_append(&j->key, "__meta_type", 11);
    tr_trace_value_put(&j->key, &mt);
    tr_buf_put_uvarint(&j->key, label.len);
    tr_buf_append(&j->key, label.base, label.len);
    tr_trace_value_put(&j->key, v != NULL ? v : &empty);
    if (j->key.oom) {
        return TR_ENOMEM;
    }
    int rv = 0;
    struct mx_series *s = mx__series(j, &rv);
    struct mx_cell *c = s != NULL ? mx__cell(j, s, step, &rv) : NULL;
    if (c != NULL) {
        mx__add(c, 1, 1, false);
    }
    return rv;
}

static bool mx__scalar(const struct tr_otlp_value *v)
{
    return v->type == TR_OTLP_STRING || v->type == TR_OTLP_INT ||
           v->type == TR_OTLP_DOUBLE || v->type == TR_OTLP_BOOL;
}

/* compare(): every attribute of span i counted for its side. */
static int mx__cmp_span(struct tr_traceql_metrics_job *j,
                        const struct tr_span_batch *t,
                        size_t i,
                        bool sel,
                        uint32_t step)
{
    const struct tr_otlp_span *sp = &t->spans[i].span;
    const struct tr_batch_scope *sc = &t->scopes[t->spans[i].scope];
    const struct tr_otlp_resource *r = &t->resources[sc->resource];
    char name[600];
    int rv = 0;
    for (int side = 0; side < 2 && rv == 0; side++) {
        const struct tr_otlp_kv *kvs = side ? sp->attrs : r->attrs;
        size_t n = side ? sp->n_attrs : r->n_attrs;
        for (size_t k = 0; k < n && rv == 0; k++) {
            if (!mx__scalar(&kvs[k].value) || kvs[k].key.len > 500) {
                continue;
            }
            int l = snprintf(name, sizeof(name), "%s%.*s",
                             side ? "span." : "resource.", (int)kvs[k].key.len,
                             kvs[k].key.base);
            struct tr_slice label = {name, (size_t)l};
            rv = mx__cmp_count(j, sel, label, &kvs[k].value, step);
            if (rv == 0) {
                rv = mx__cmp_count(j, sel, label, NULL, step);
            }
        }
    }
    static const char *const kinds[] = {"unspecified", "internal", "server",
                                        "client",      "producer", "consumer"};
    static const char *const status[] = {"unset", "ok", "error"};
    struct tr_otlp_value intr[3] = {
        {.type = TR_OTLP_STRING, .s = sp->name},
        {.type = TR_OTLP_STRING,
         .s = tr_slice_cstr(status[sp->status_code >= 0 && sp->status_code <= 2
                                       ? sp->status_code
                                       : 0])},
        {.type = TR_OTLP_STRING,
         .s = tr_slice_cstr(
             kinds[sp->kind >= 0 && sp->kind <= 5 ? sp->kind : 0])}};
    const char *labels[3] = {"name", "status", "kind"};
    for (int k = 0; k < 3 && rv == 0; k++) {
        rv = mx__cmp_count(j, sel, tr_slice_cstr(labels[k]), &intr[k], step);
        if (rv == 0) {
            rv = mx__cmp_count(j, sel, tr_slice_cstr(labels[k]), NULL, step);
        }
    }
    return rv;
}

int tr_traceql_metrics_observe(struct tr_traceql_metrics_job *j,
                               const struct tr_span_batch *trace)
{
    struct tr_arena tmp;
    tr_arena_init(&tmp, 16 * 1024);
    struct tr_traceql_match mt;
    int rv = tr_traceql_eval_trace(j->ev, trace, &tmp, &mt);
    const struct tr_traceql_metrics_agg *ag = &j->m->agg;
    /* compare(): which spans its filter selects */
    bool *sel = NULL;
    if (rv == 0 && j->cmp != NULL) {
        struct tr_traceql_match cm;
        sel = tr_arena_alloc(&tmp, (trace->n_spans + 1) * sizeof(*sel));
        rv = sel != NULL ? tr_traceql_eval_trace(j->cmp, trace, &tmp, &cm)
                         : TR_ENOMEM;
        if (rv == 0) {
            memset(sel, 0, (trace->n_spans + 1) * sizeof(*sel));
            for (size_t k = 0; k < cm.n; k++) {
                for (size_t x = 0; x < cm.sets[k].n; x++) {
                    sel[cm.sets[k].spans[x]] = true;
                }
            }
        }
    }
    for (size_t k = 0; k < mt.n && rv == 0; k++) {
        for (size_t x = 0; x < mt.sets[k].n && rv == 0; x++) {
            size_t i = mt.sets[k].spans[x];
            const struct tr_otlp_span *sp = &trace->spans[i].span;
            int64_t t = (int64_t)sp->start_time_unix_nano;
            if (t < j->start || t > j->end) {
                continue;
            }
            if (sel != NULL) {
                rv = mx__cmp_span(j, trace, i, sel[i],
                                  (uint32_t)((t - j->start) / j->step));
                continue;
            }
            double v = 1, raw = 1;
            if (ag->has_attr) {
                struct tr_otlp_value ov;
                if (!tr_traceql_eval_value(j->ev, trace, i, &ag->attr, &tmp,
                                           &ov)) {
                    continue;
                }
                if (ov.type == TR_OTLP_INT) {
                    raw = (double)ov.i;
                } else if (ov.type == TR_OTLP_DOUBLE) {
                    raw = ov.d;
                } else {
                    continue;
                }
                v = j->duration ? raw / 1e9 : raw;
            }
            tr_buf_reset(&j->key);
            tr_buf_put_uvarint(&j->key, ag->n_by);
            for (size_t b = 0; b < ag->n_by; b++) {
                const struct tr_traceql_attr *at = &ag->by[b];
                struct tr_otlp_value bv = {.type = TR_OTLP_EMPTY};
                (void)tr_traceql_eval_value(j->ev, trace, i, at, &tmp, &bv);
                /* the label is the attribute as written */
                static const char *const sc[] = {".",     "resource.",
                                                 "span.", "event.",
                                                 "link.", "instrumentation."};
                char name[600];
                int nl =
                    at->intrinsic != TR_TQL_INTR_NONE
                        ? snprintf(name, sizeof(name), "%.*s",
                                   (int)at->name_len, at->name)
                        : snprintf(name, sizeof(name), "%s%.*s", sc[at->scope],
                                   (int)at->name_len, at->name);
                size_t nlen = nl < 0                       ? 0
                              : (size_t)nl >= sizeof(name) ? sizeof(name) - 1
                                                           : (size_t)nl;
                tr_buf_put_uvarint(&j->key, nlen);
                tr_buf_append(&j->key, name, nlen);
                tr_trace_value_put(&j->key, &bv);
            }
            if (j->key.oom) {
                rv = TR_ENOMEM;
                break;
            }
            struct mx_series *s = mx__series(j, &rv);
            uint32_t step = (uint32_t)((t - j->start) / j->step);
            struct mx_cell *c = s != NULL ? mx__cell(j, s, step, &rv) : NULL;
            if (c != NULL) {
                mx__add(c, v, raw, j->hist);
            }
        }
    }
    tr_arena_free(&tmp);
    return rv;
}

/* ---- partial states ------------------------------------------------------ */

struct mx_step_ref {
    uint64_t step;
    struct mx_cell *c;
};

static void mx__put_f(struct tr_buf *b, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    tr_buf_put_u64be(b, u);
}

static int mx__get_f(struct tr_cursor *c, double *d)
{
    uint64_t u;
    if (tr_cursor_u64be(c, &u) != 0) {
        return TR_EPROTO;
    }
    memcpy(d, &u, 8);
    return 0;
}

int tr_traceql_metrics_encode(const struct tr_traceql_metrics_job *j,
                              struct tr_buf *out)
{
    tr_buf_put_uvarint(out, j->n);
    for (size_t i = 0; i < j->n; i++) {
        const struct mx_series *s = &j->series[i];
        tr_trace_kvs_put(out, s->by, s->n_by);
        size_t used = 0;
        for (uint32_t k = 0; k < j->n_steps; k++) {
            used += tr_u64map_get(&s->cells, k) != NULL;
        }
        tr_buf_put_uvarint(out, used);
        for (uint32_t k = 0; k < j->n_steps; k++) {
            const struct mx_cell *c = tr_u64map_get(&s->cells, k);
            if (c == NULL) {
                continue;
            }
            tr_buf_put_uvarint(out, k);
            tr_buf_put_uvarint(out, c->count);
            mx__put_f(out, c->sum);
            mx__put_f(out, c->min);
            mx__put_f(out, c->max);
            size_t nb = 0;
            for (int b = 0; c->buckets != NULL && b < MX_BUCKETS; b++) {
                nb += c->buckets[b] != 0;
            }
            tr_buf_put_uvarint(out, nb);
            for (int b = 0; c->buckets != NULL && b < MX_BUCKETS; b++) {
                if (c->buckets[b] != 0) {
                    tr_buf_putc(out, (char)b);
                    tr_buf_put_uvarint(out, c->buckets[b]);
                }
            }
        }
    }
    return out->oom ? TR_ENOMEM : 0;
}

int tr_traceql_metrics_merge(struct tr_traceql_metrics_job *j,
                             const void *p,
                             size_t len)
{
    struct tr_cursor c = tr_cursor_make(p, len);
    uint64_t ns;
    if (tr_cursor_uvarint(&c, &ns) != 0 || ns > len) {
        return TR_EPROTO;
    }
    struct tr_arena tmp;
    tr_arena_init(&tmp, 4096);
    int rv = 0;
    for (uint64_t i = 0; i < ns && rv == 0; i++) {
        const uint8_t *kb = c.p;
        const struct tr_otlp_kv *by;
        size_t n_by;
        uint64_t used;
        if (tr_trace_kvs_get(&c, &tmp, 0, &by, &n_by) != 0) {
            rv = TR_EPROTO;
            break;
        }
        const uint8_t *ke = c.p;
        if (tr_cursor_uvarint(&c, &used) != 0 || used > j->n_steps) {
            rv = TR_EPROTO;
            break;
        }
        tr_buf_reset(&j->key);
        tr_buf_append(&j->key, kb, (size_t)(ke - kb));
        struct mx_series *s = mx__series(j, &rv);
        for (uint64_t k = 0; k < used && rv == 0; k++) {
            uint64_t step, count, nb;
            double sum, mn, mx;
            if (tr_cursor_uvarint(&c, &step) != 0 || step >= j->n_steps ||
                tr_cursor_uvarint(&c, &count) != 0 ||
                mx__get_f(&c, &sum) != 0 || mx__get_f(&c, &mn) != 0 ||
                mx__get_f(&c, &mx) != 0 || tr_cursor_uvarint(&c, &nb) != 0 ||
                nb > MX_BUCKETS) {
                rv = TR_EPROTO;
                break;
            }
            struct mx_cell *cell = mx__cell(j, s, (uint32_t)step, &rv);
            if (cell == NULL) {
                break;
            }
            if (cell->count == 0 || mn < cell->min) {
                cell->min = mn;
            }
            if (cell->count == 0 || mx > cell->max) {
                cell->max = mx;
            }
            cell->count += count;
            cell->sum += sum;
            for (uint64_t b = 0; b < nb; b++) {
                uint8_t e;
                uint64_t n;
                if (tr_cursor_u8(&c, &e) != 0 || e >= MX_BUCKETS ||
                    tr_cursor_uvarint(&c, &n) != 0) {
                    rv = TR_EPROTO;
                    break;
                }
                if (cell->buckets != NULL) {
                    cell->buckets[e] += n;
                }
            }
        }
    }
    tr_arena_free(&tmp);
    if (rv == 0 && tr_cursor_left(&c) != 0) {
        rv = TR_EPROTO;
    }
    return rv;
}

/* ---- results ---------------------------------------------------------------
 */

/* The q-quantile of a cell's buckets (in the reported unit). */
static double mx__quantile(const struct tr_traceql_metrics_job *j,
                           const struct mx_cell *c,
                           double q)
{
    if (c->count == 0 || c->buckets == NULL) {
        return NAN;
    }
    double rank = q * (double)c->count, cum = 0;
    for (int b = 0; b < MX_BUCKETS; b++) {
        double n = (double)c->buckets[b];
        if (n == 0) {
            continue;
        }
        if (cum + n >= rank) {
            double lo = b == 0 ? 0 : ldexp(1, b - 1), hi = ldexp(1, b);
            double v = lo + (hi - lo) * ((rank - cum) / n);
            return j->duration ? v / 1e9 : v;
        }
        cum += n;
    }
    double top = ldexp(1, MX_BUCKETS - 1);
    return j->duration ? top / 1e9 : top;
}

static double mx__value(const struct tr_traceql_metrics_job *j,
                        const struct mx_cell *c)
{
    switch (j->m->agg.fn) {
        case TR_TQL_M_RATE:
            return (double)c->count / ((double)j->step / 1e9);
        case TR_TQL_M_COUNT_OVER_TIME:
        case TR_TQL_M_COMPARE:
            return (double)c->count;
        case TR_TQL_M_MIN_OVER_TIME:
            return c->min;
        case TR_TQL_M_MAX_OVER_TIME:
            return c->max;
        case TR_TQL_M_SUM_OVER_TIME:
            return c->sum;
        case TR_TQL_M_AVG_OVER_TIME:
            return c->count ? c->sum / (double)c->count : NAN;
        default:
            return NAN;
    }
}

/* A new result series: s's by() values plus one extra label (when
 * extra_key is not NULL). */
static struct tr_traceql_series *mx__out(struct tr_traceql_metrics_job *j,
                                         const struct mx_series *s,
                                         const char *extra_key,
                                         double extra)
{
    struct tr_traceql_series *o = &j->out[j->n_out];
    memset(o, 0, sizeof(*o));
    o->labels = tr_arena_alloc(&j->a, (s->n_by + 1) * sizeof(*o->labels));
    o->samples = tr_arena_alloc(&j->a, (j->n_steps + 1) * sizeof(*o->samples));
    if (o->labels == NULL || o->samples == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < s->n_by; i++) {
        o->labels[o->n_labels++] = s->by[i];
    }
    if (extra_key != NULL) {
        o->labels[o->n_labels++] = (struct tr_otlp_kv){
            tr_slice_cstr(extra_key), {.type = TR_OTLP_DOUBLE, .d = extra}};
    }
    j->n_out++;
    return o;
}

static int mx__cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x > y ? -1 : x < y;
}

/* Second stages over the result. */
static void mx__stages(struct tr_traceql_metrics_job *j)
{
    const struct tr_traceql_metrics *m = j->m;
    for (size_t s = 0; s < m->n_stages; s++) {
        const struct tr_traceql_second_stage *st = &m->stages[s];
        if (st->kind == TR_TQL_2ND_FILTER) {
            for (size_t i = 0; i < j->n_out; i++) {
                struct tr_traceql_series *o = &j->out[i];
                size_t k = 0;
                for (size_t x = 0; x < o->n_samples; x++) {
                    double v = o->samples[x].value, w = st->value;
                    bool keep = st->op == TR_TQL_OP_EQ    ? v == w
                                : st->op == TR_TQL_OP_NEQ ? v != w
                                : st->op == TR_TQL_OP_LT  ? v < w
                                : st->op == TR_TQL_OP_LTE ? v <= w
                                : st->op == TR_TQL_OP_GT  ? v > w
                                                          : v >= w;
                    if (keep) {
                        o->samples[k++] = o->samples[x];
                    }
                }
                o->n_samples = k;
            }
            continue;
        }
        /* topk / bottomk per step: the limit-th largest (smallest) value
         * at each step is the cut */
        double *vals = tr_malloc((j->n_out + 1) * sizeof(*vals));
        if (vals == NULL) {
            return;
        }
        for (uint32_t k = 0; k < j->n_steps; k++) {
            int64_t ts = (j->start + (int64_t)k * j->step) / 1000000;
            size_t nv = 0;
            for (size_t i = 0; i < j->n_out; i++) {
                for (size_t x = 0; x < j->out[i].n_samples; x++) {
                    if (j->out[i].samples[x].ts_ms == ts) {
                        double v = j->out[i].samples[x].value;
                        vals[nv++] = st->kind == TR_TQL_2ND_TOPK ? v : -v;
                    }
                }
            }
            if ((int64_t)nv <= st->limit) {
                continue;
            }
            qsort(vals, nv, sizeof(*vals), mx__cmp_desc);
            double cut = vals[st->limit - 1];
            size_t kept = 0;
            for (size_t i = 0; i < j->n_out; i++) {
                struct tr_traceql_series *o = &j->out[i];
                for (size_t x = 0; x < o->n_samples; x++) {
                    if (o->samples[x].ts_ms != ts) {
                        continue;
                    }
                    double v = st->kind == TR_TQL_2ND_TOPK
                                   ? o->samples[x].value
                                   : -o->samples[x].value;
                    if (v < cut || kept >= (size_t)st->limit) {
                        o->samples[x].value = NAN; /* dropped below */
                    } else {
                        kept++;
                    }
                }
            }
        }
        tr_free(vals);
        for (size_t i = 0; i < j->n_out; i++) {
            struct tr_traceql_series *o = &j->out[i];
            size_t k = 0;
            for (size_t x = 0; x < o->n_samples; x++) {
                if (!isnan(o->samples[x].value)) {
                    o->samples[k++] = o->samples[x];
                }
            }
            o->n_samples = k;
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < j->n_out; i++) {
        if (j->out[i].n_samples > 0) {
            j->out[k++] = j->out[i];
        }
    }
    j->n_out = k;
}

static double mx__total(const struct tr_traceql_series *s)
{
    double t = 0;
    for (size_t i = 0; i < s->n_samples; i++) {
        t += s->samples[i].value;
    }
    return t;
}

/* compare(): per (side, attribute) only the topn values with the most
 * spans over the range stay (totals always stay). */
static void mx__compare_topn(struct tr_traceql_metrics_job *j)
{
    int64_t topn = j->m->agg.topn > 0 ? j->m->agg.topn : 10;
    bool *drop = tr_calloc(j->n_out + 1, sizeof(*drop));
    if (drop == NULL) {
        return;
    }
    for (size_t i = 0; i < j->n_out; i++) {
        const struct tr_traceql_series *a = &j->out[i];
        if (a->n_labels < 2 || a->labels[1].value.type == TR_OTLP_EMPTY) {
            continue;
        }
        double ta = mx__total(a);
        int64_t better = 0;
        for (size_t k = 0; k < j->n_out && better < topn; k++) {
            const struct tr_traceql_series *b = &j->out[k];
            if (k == i || b->n_labels < 2 ||
                b->labels[1].value.type == TR_OTLP_EMPTY ||
                !tr_slice_eq(a->labels[0].value.s, b->labels[0].value.s) ||
                !tr_slice_eq(a->labels[1].key, b->labels[1].key)) {
                continue;
            }
            double tb = mx__total(b);
            better += tb > ta || (tb == ta && k < i);
        }
        drop[i] = better >= topn;
    }
    size_t o = 0;
    for (size_t i = 0; i < j->n_out; i++) {
        if (!drop[i]) {
            j->out[o++] = j->out[i];
        }
    }
    j->n_out = o;
    tr_free(drop);
}

int tr_traceql_metrics_result(struct tr_traceql_metrics_job *j,
                              struct tr_traceql_series **out,
                              size_t *n)
{
    const struct tr_traceql_metrics_agg *ag = &j->m->agg;
    size_t per = ag->fn == TR_TQL_M_QUANTILE_OVER_TIME    ? ag->n_quantiles
                 : ag->fn == TR_TQL_M_HISTOGRAM_OVER_TIME ? MX_BUCKETS
                                                          : 1;
    j->out = tr_arena_alloc(&j->a, (j->n * per + 1) * sizeof(*j->out));
    if (j->out == NULL) {
        return TR_ENOMEM;
    }
    j->n_out = 0;
    for (size_t i = 0; i < j->n; i++) {
        const struct mx_series *s = &j->series[i];
        if (ag->fn == TR_TQL_M_HISTOGRAM_OVER_TIME) {
            for (int b = 0; b < MX_BUCKETS; b++) {
                struct tr_traceql_series *o = NULL;
                for (uint32_t k = 0; k < j->n_steps; k++) {
                    const struct mx_cell *c = tr_u64map_get(&s->cells, k);
                    if (c == NULL || c->buckets == NULL || c->buckets[b] == 0) {
                        continue;
                    }
                    if (o == NULL) {
                        double ub = ldexp(1, b);
                        o = mx__out(j, s, "__bucket",
                                    j->duration ? ub / 1e9 : ub);
                        if (o == NULL) {
                            return TR_ENOMEM;
                        }
                    }
                    o->samples[o->n_samples++] = (struct tr_traceql_sample){
                        (j->start + (int64_t)k * j->step) / 1000000,
                        (double)c->buckets[b]};
                }
            }
            continue;
        }
        size_t nq = ag->fn == TR_TQL_M_QUANTILE_OVER_TIME ? ag->n_quantiles : 1;
        for (size_t q = 0; q < nq; q++) {
            struct tr_traceql_series *o = mx__out(
                j, s, ag->fn == TR_TQL_M_QUANTILE_OVER_TIME ? "p" : NULL,
                ag->fn == TR_TQL_M_QUANTILE_OVER_TIME ? ag->quantiles[q] : 0);
            if (o == NULL) {
                return TR_ENOMEM;
            }
            for (uint32_t k = 0; k < j->n_steps; k++) {
                const struct mx_cell *c = tr_u64map_get(&s->cells, k);
                if (c == NULL) {
                    continue;
                }
                double v = ag->fn == TR_TQL_M_QUANTILE_OVER_TIME
                               ? mx__quantile(j, c, ag->quantiles[q])
                               : mx__value(j, c);
                o->samples[o->n_samples++] = (struct tr_traceql_sample){
                    (j->start + (int64_t)k * j->step) / 1000000, v};
            }
        }
    }
    if (ag->fn == TR_TQL_M_COMPARE) {
        mx__compare_topn(j);
    }
    mx__stages(j);
    *out = j->out;
    *n = j->n_out;
    return 0;
}
