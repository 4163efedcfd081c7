/* eval.c - PromQL evaluator: selector fetch, step loop, selectors,
 * subqueries, operators, function calls (see eval.h). Aggregations are in
 * eval_aggr.c, shared helpers in eval_int.h. */
#include "query/promql/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "query/promql/eval_int.h"

/* ---- labels -------------------------------------------------------------- */

void tr_pq_labels_format(const struct tr_label *ls,
                         size_t n,
                         struct tr_buf *out)
{
    tr_buf_putc(out, '{');
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            tr_buf_puts(out, ", ");
        }
        tr_buf_append(out, ls[i].name.base, ls[i].name.len);
        tr_buf_putc(out, '=');
        tr_promql_format_quote(ls[i].value.base, ls[i].value.len, out);
    }
    tr_buf_putc(out, '}');
}

struct tr_label *tr_pq_ev_labels_dup(struct tr_arena *a,
                                     const struct tr_label *ls,
                                     size_t n)
{
    struct tr_label *o = tr_arena_alloc(a, (n ? n : 1) * sizeof(*o));
    if (o == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        /* NUL-terminated copies that read only the slices' bytes (a slice
         * may end where its buffer does) */
        char *nm = tr_arena_strndup(a, ls[i].name.base, ls[i].name.len);
        char *vl = tr_arena_strndup(a, ls[i].value.base, ls[i].value.len);
        if (nm == NULL || vl == NULL) {
            return NULL;
        }
        o[i].name = (struct tr_slice){nm, ls[i].name.len};
        o[i].value = (struct tr_slice){vl, ls[i].value.len};
    }
    return o;
}

bool tr_pq_ev_is_name(struct tr_slice s)
{
    return tr_slice_eq_cstr(s, "__name__");
}

bool tr_pq_ev_in_list(struct tr_slice s, const struct tr_promql_labels *l)
{
    for (size_t i = 0; i < l->n; i++) {
        if (s.len == strlen(l->names[i]) &&
            memcmp(s.base, l->names[i], s.len) == 0) {
            return true;
        }
    }
    return false;
}

/* Labels without __name__ (a shallow copy in the arena). */
static struct tr_label *ev__drop_name(struct tr_arena *a,
                                      const struct tr_label *ls,
                                      size_t n,
                                      size_t *out_n)
{
    struct tr_label *o = tr_arena_alloc(a, (n ? n : 1) * sizeof(*o));
    if (o == NULL) {
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!tr_pq_ev_is_name(ls[i].name)) {
            o[k++] = ls[i];
        }
    }
    *out_n = k;
    return o;
}

/* Sets (value.len > 0) or removes a label; shallow copy in the arena. */
struct tr_label *tr_pq_ev_labels_set(struct tr_arena *a,
                                     const struct tr_label *ls,
                                     size_t n,
                                     struct tr_slice name,
                                     struct tr_slice value,
                                     size_t *out_n)
{
    struct tr_label *o = tr_arena_alloc(a, (n + 1) * sizeof(*o));
    if (o == NULL) {
        return NULL;
    }
    size_t k = 0;
    bool done = value.len == 0;
    for (size_t i = 0; i < n; i++) {
        int c = tr_slice_cmp(ls[i].name, name);
        if (c == 0) {
            continue;
        }
        if (c > 0 && !done) {
            o[k].name = name;
            o[k++].value = value;
            done = true;
        }
        o[k++] = ls[i];
    }
    if (!done) {
        o[k].name = name;
        o[k++].value = value;
    }
    *out_n = k;
    return o;
}

/* ---- string-keyed map ------------------------------------------------- */

int tr_pq_kmap_init(struct tr_pq_kmap *m, struct tr_arena *a, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2) {
        cap *= 2;
    }
    m->slots = tr_arena_alloc(a, cap * sizeof(*m->slots));
    if (m->slots == NULL) {
        return TR_ENOMEM;
    }
    memset(m->slots, 0, cap * sizeof(*m->slots));
    m->mask = cap - 1;
    return 0;
}

/* The slot of key k: found (slot->used) or the empty slot to fill. */
struct tr_pq_kent *tr_pq_kmap_slot(struct tr_pq_kmap *m,
                                   const char *k,
                                   size_t len)
{
    uint64_t h = tr_hash64(k, len, 0x7472696164ULL);
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        struct tr_pq_kent *s = &m->slots[i];
        if (!s->used) {
            s->k = k;
            s->len = len;
            s->h = h;
            return s;
        }
        if (s->h == h && s->len == len && memcmp(s->k, k, len) == 0) {
            return s;
        }
    }
}

/* Signature of a label set: the values of `names` (on/by) or every label
 * but `names` and __name__ (ignoring/without). */
int tr_pq_sig(struct tr_arena *a,
              const struct tr_label *ls,
              size_t n,
              bool on,
              const struct tr_promql_labels *names,
              const char **out,
              size_t *out_len)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        len += ls[i].name.len + ls[i].value.len + 2;
    }
    char *b = tr_arena_alloc(a, len + 1);
    if (b == NULL) {
        return TR_ENOMEM;
    }
    size_t k = 0;
    if (on) {
        for (size_t j = 0; j < names->n; j++) {
            struct tr_slice v =
                tr_labels_get(ls, n, names->names[j], strlen(names->names[j]));
            if (v.len > 0) {
                memcpy(b + k, v.base, v.len);
                k += v.len;
            }
            b[k++] = '\xff';
            if (k > len) {
                break; /* cannot happen: names are unique */
            }
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            if (names != NULL && (tr_pq_ev_is_name(ls[i].name) ||
                                  tr_pq_ev_in_list(ls[i].name, names))) {
                continue;
            }
            memcpy(b + k, ls[i].name.base, ls[i].name.len);
            k += ls[i].name.len;
            b[k++] = '\xfe';
            if (ls[i].value.len > 0) {
                memcpy(b + k, ls[i].value.base, ls[i].value.len);
            }
            k += ls[i].value.len;
            b[k++] = '\xff';
        }
    }
    *out = b;
    *out_len = k;
    return 0;
}

/* ---- per-step limits -------------------------------------------------- */

int tr_pq_ev_deadline(struct tr_pq_ev *e)
{
    if (e->deadline != 0 && tr_mono_ns() > e->deadline) {
        return tr_errf(TR_ETIMEOUT, e->errmsg,
                       "query timed out in expression evaluation");
    }
    return 0;
}

int tr_pq_ev_check(struct tr_pq_ev *e)
{
    if (e->deadline != 0 && (++e->tick & 63) == 0 &&
        tr_mono_ns() > e->deadline) {
        return tr_errf(TR_ETIMEOUT, e->errmsg,
                       "query timed out in expression evaluation");
    }
    return 0;
}

int tr_pq_ev_add_samples(struct tr_pq_ev *e, size_t n)
{
    e->cur_samples += n;
    if (e->max_samples != 0 && e->cur_samples > e->max_samples) {
        return tr_errf(TR_ELIMIT, e->errmsg,
                       "query processing would load too many samples into "
                       "memory in query execution");
    }
    return 0;
}

/* ---- selectors ---------------------------------------------------------- */

int64_t tr_pq_ev_at(const struct tr_pq_ev *e,
                    enum tr_promql_at at,
                    int64_t at_ms,
                    int64_t t)
{
    switch (at) {
        case TR_PROMQL_AT_TIMESTAMP:
            return at_ms;
        case TR_PROMQL_AT_START:
            return e->start;
        case TR_PROMQL_AT_END:
            return e->end;
        case TR_PROMQL_AT_NONE:
            break;
    }
    return t;
}

static int ev__add_sel(struct tr_pq_ev *e,
                       const struct tr_promql_node *vs,
                       int64_t lo,
                       int64_t hi)
{
    if (e->n_sels == e->cap_sels) {
        size_t cap = e->cap_sels ? e->cap_sels * 2 : 8;
        struct tr_pq_sel *s = tr_realloc(e->sels, cap * sizeof(*s));
        if (s == NULL) {
            return tr_errf(TR_ENOMEM, e->errmsg, "out of memory");
        }
        e->sels = s;
        e->cap_sels = cap;
    }
    struct tr_pq_sel *s = &e->sels[e->n_sels++];
    memset(s, 0, sizeof(*s));
    s->vs = vs;
    s->mint = lo;
    s->maxt = hi;
    return 0;
}

/* Walks the tree with [lo, hi], the evaluation times a node can see, and
 * records the time range each selector reads. */
static int ev__collect(struct tr_pq_ev *e,
                       const struct tr_promql_node *n,
                       int64_t lo,
                       int64_t hi)
{
    switch (n->kind) {
        case TR_PROMQL_NODE_NUMBER:
        case TR_PROMQL_NODE_STRING:
            return 0;
        case TR_PROMQL_NODE_VECTOR_SEL:
        case TR_PROMQL_NODE_MATRIX_SEL: {
            const struct tr_promql_node *vs =
                n->kind == TR_PROMQL_NODE_VECTOR_SEL ? n : n->ms.vs;
            if (vs->vs.at != TR_PROMQL_AT_NONE) {
                lo = hi = tr_pq_ev_at(e, vs->vs.at, vs->vs.at_ms, 0);
            }
            int64_t back = n->kind == TR_PROMQL_NODE_VECTOR_SEL
                               ? e->lookback
                               : n->ms.range_ms;
            return ev__add_sel(e, vs, lo - vs->vs.offset_ms - back,
                               hi - vs->vs.offset_ms);
        }
        case TR_PROMQL_NODE_SUBQUERY:
            if (n->sq.at != TR_PROMQL_AT_NONE) {
                lo = hi = tr_pq_ev_at(e, n->sq.at, n->sq.at_ms, 0);
            }
            return ev__collect(e, n->sq.expr,
                               lo - n->sq.offset_ms - n->sq.range_ms,
                               hi - n->sq.offset_ms);
        case TR_PROMQL_NODE_UNARY:
            return ev__collect(e, n->unary.expr, lo, hi);
        case TR_PROMQL_NODE_PAREN:
            return ev__collect(e, n->paren.expr, lo, hi);
        case TR_PROMQL_NODE_BINARY: {
            int rv = ev__collect(e, n->bin.lhs, lo, hi);
            return rv != 0 ? rv : ev__collect(e, n->bin.rhs, lo, hi);
        }
        case TR_PROMQL_NODE_AGGREGATE: {
            int rv = n->agg.param ? ev__collect(e, n->agg.param, lo, hi) : 0;
            return rv != 0 ? rv : ev__collect(e, n->agg.expr, lo, hi);
        }
        case TR_PROMQL_NODE_CALL:
            for (size_t i = 0; i < n->call.n_args; i++) {
                int rv = ev__collect(e, n->call.args[i], lo, hi);
                if (rv != 0) {
                    return rv;
                }
            }
            return 0;
    }
    return 0;
}

/* Selects every selector's data; the samples limit bounds what all of them
 * load together (each select gets what is left of it), the series limit
 * the series they select together. */
static int ev__fetch(struct tr_pq_ev *e)
{
    size_t samples = 0, series = 0;
    for (size_t i = 0; i < e->n_sels; i++) {
        struct tr_pq_sel *s = &e->sels[i];
        struct tr_select_hints h;
        memset(&h, 0, sizeof(h));
        h.mint = s->mint;
        h.maxt = s->maxt;
        h.chunks = true; /* decoded series by series (eval_batch.c) */
        if (e->max_samples != 0) {
            /* what is left (at least 1: 0 would mean unlimited) */
            h.max_samples =
                samples < e->max_samples ? e->max_samples - samples : 1;
        }
        int rv = e->src->select(e->src->impl, e->tenant, s->vs->vs.matchers,
                                s->vs->vs.n_matchers, &h, &s->res, e->errmsg);
        if (rv != 0) {
            return rv;
        }
        s->fetched = true;
        for (size_t k = 0; k < s->res.n_series; k++) {
            samples += s->res.series[k].n_samples;
        }
        series += s->res.n_series;
        if (e->max_series != 0 && series > e->max_series) {
            return tr_errf(TR_ELIMIT, e->errmsg,
                           "the query exceeded the maximum number of series "
                           "(limit: %zu series, query.max-series): select "
                           "fewer series or a shorter range",
                           e->max_series);
        }
        if (e->max_samples != 0 && samples > e->max_samples) {
            return tr_errf(TR_ELIMIT, e->errmsg,
                           "query processing would load too many samples into "
                           "memory in query execution");
        }
    }
    return 0;
}

const struct tr_pq_sel *tr_pq_ev_sel(const struct tr_pq_ev *e,
                                     const struct tr_promql_node *vs)
{
    for (size_t i = 0; i < e->n_sels; i++) {
        if (e->sels[i].vs == vs) {
            return &e->sels[i];
        }
    }
    return NULL;
}

const struct tr_pq_sel *tr_pq_ev_sel_decoded(struct tr_pq_ev *e,
                                             const struct tr_promql_node *vs,
                                             int *rv)
{
    *rv = 0;
    struct tr_pq_sel *s = NULL;
    for (size_t i = 0; i < e->n_sels && s == NULL; i++) {
        if (e->sels[i].vs == vs) {
            s = &e->sels[i];
        }
    }
    if (s == NULL || s->decoded) {
        return s;
    }
    int r = tr_select_result_decode(&s->res);
    if (r == TR_ENOMEM) {
        *rv = tr_errf(r, e->errmsg, "out of memory");
    } else if (r != 0) {
        *rv = tr_errf(r, e->errmsg, "corrupt chunk in selected data");
    }
    s->decoded = r == 0;
    return r == 0 ? s : NULL;
}

/* Index of the first sample with t > ts. */
static size_t ev__upper(const struct tr_series_data *sd, int64_t ts)
{
    size_t lo = 0, hi = sd->n_samples;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sd->samples[mid].t <= ts) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Instant vector selector at t. keep_ts: sample times instead of t (for
 * timestamp()). */
static int ev__vector_sel(struct tr_pq_ev *e,
                          const struct tr_promql_node *vs,
                          int64_t t,
                          bool keep_ts,
                          struct tr_pq_value *out)
{
    int rv;
    const struct tr_pq_sel *s = tr_pq_ev_sel_decoded(e, vs, &rv);
    out->type = TR_PROMQL_TYPE_VECTOR;
    out->vec.n = 0;
    out->vec.s = NULL;
    if (rv != 0) {
        return rv;
    }
    if (s == NULL || s->res.n_series == 0) {
        return 0;
    }
    int64_t ref = tr_pq_ev_at(e, vs->vs.at, vs->vs.at_ms, t) - vs->vs.offset_ms;
    struct tr_pq_sample *o =
        tr_arena_alloc(e->scratch, s->res.n_series * sizeof(*o));
    if (o == NULL) {
        return tr_errf(TR_ENOMEM, e->errmsg, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < s->res.n_series; i++) {
        const struct tr_series_data *sd = &s->res.series[i];
        size_t u = ev__upper(sd, ref);
        if (u == 0) {
            continue;
        }
        const struct tr_sample *smp = &sd->samples[u - 1];
        if (smp->t < ref - e->lookback || tr_pq_is_stale(smp->v)) {
            continue;
        }
        o[k].labels = sd->labels;
        o[k].n_labels = sd->n_labels;
        o[k].t = keep_ts ? smp->t : t;
        o[k].v = smp->v;
        k++;
    }
    out->vec.s = o;
    out->vec.n = k;
    return tr_pq_ev_add_samples(e, k);
}

/* Matrix selector at t: samples in [ref - range, ref]. */
static int ev__matrix_sel(struct tr_pq_ev *e,
                          const struct tr_promql_node *n,
                          int64_t t,
                          struct tr_pq_value *out)
{
    const struct tr_promql_node *vs = n->ms.vs;
    int rv;
    const struct tr_pq_sel *s = tr_pq_ev_sel_decoded(e, vs, &rv);
    out->type = TR_PROMQL_TYPE_MATRIX;
    out->mat.n = 0;
    out->mat.s = NULL;
    if (rv != 0) {
        return rv;
    }
    if (s == NULL || s->res.n_series == 0) {
        return 0;
    }
    int64_t ref = tr_pq_ev_at(e, vs->vs.at, vs->vs.at_ms, t) - vs->vs.offset_ms;
    int64_t mint = ref - n->ms.range_ms;
    struct tr_pq_series *o =
        tr_arena_alloc(e->scratch, s->res.n_series * sizeof(*o));
    if (o == NULL) {
        return tr_errf(TR_ENOMEM, e->errmsg, "out of memory");
    }
    size_t k = 0, total = 0;
    for (size_t i = 0; i < s->res.n_series; i++) {
        const struct tr_series_data *sd = &s->res.series[i];
        size_t hi = ev__upper(sd, ref);
        size_t lo = ev__upper(sd, mint - 1);
        if (hi <= lo) {
            continue;
        }
        struct tr_pq_point *p =
            tr_arena_alloc(e->scratch, (hi - lo) * sizeof(*p));
        if (p == NULL) {
            return tr_errf(TR_ENOMEM, e->errmsg, "out of memory");
        }
        size_t np = 0;
        for (size_t j = lo; j < hi; j++) {
            if (!tr_pq_is_stale(sd->samples[j].v)) {
                p[np].t = sd->samples[j].t;
                p[np++].v = sd->samples[j].v;
            }
        }
        if (np == 0) {
            continue;
        }
        o[k].labels = sd->labels;
        o[k].n_labels = sd->n_labels;
        o[k].pts = p;
        o[k].n = np;
        total += np;
        k++;
    }
    out->mat.s = o;
    out->mat.n = k;
    return tr_pq_ev_add_samples(e, total);
}

/* ---- series order ------------------------------------------------------ */

static int ev__series_cmp(const void *x, const void *y)
{
    const struct tr_pq_series *a = x, *b = y;
    return tr_labels_cmp(a->labels, a->n_labels, b->labels, b->n_labels);
}

void tr_pq_matrix_sort(struct tr_pq_matrix *m)
{
    if (m->n > 1) {
        qsort(m->s, m->n, sizeof(*m->s), ev__series_cmp);
    }
}

static int ev__oom(struct tr_pq_ev *e)
{
    return tr_errf(TR_ENOMEM, e->errmsg, "out of memory");
}

/* ---- binary operators ------------------------------------------------ */

/* Prometheus' vectorElemBinop for floats: the value and whether a
 * comparison keeps the element. */
double tr_pq_ev_binop(enum tr_promql_tok op, double l, double r, bool *keep)
{
    *keep = true;
    switch (op) {
        case TR_PROMQL_ADD:
            return l + r;
        case TR_PROMQL_SUB:
            return l - r;
        case TR_PROMQL_MUL:
            return l * r;
        case TR_PROMQL_DIV:
            return l / r;
        case TR_PROMQL_POW:
            return pow(l, r);
        case TR_PROMQL_MOD:
            return fmod(l, r);
        case TR_PROMQL_ATAN2:
            return atan2(l, r);
        case TR_PROMQL_EQLC:
            *keep = l == r;
            return l;
        case TR_PROMQL_NEQ:
            *keep = l != r;
            return l;
        case TR_PROMQL_GTR:
            *keep = l > r;
            return l;
        case TR_PROMQL_LSS:
            *keep = l < r;
            return l;
        case TR_PROMQL_GTE:
            *keep = l >= r;
            return l;
        case TR_PROMQL_LTE:
            *keep = l <= r;
            return l;
        default:
            break;
    }
    return NAN;
}

bool tr_pq_ev_drops_name(enum tr_promql_tok op)
{
    switch (op) {
        case TR_PROMQL_ADD:
        case TR_PROMQL_SUB:
        case TR_PROMQL_MUL:
        case TR_PROMQL_DIV:
        case TR_PROMQL_POW:
        case TR_PROMQL_MOD:
        case TR_PROMQL_ATAN2:
            return true;
        default:
            return false;
    }
}

static int ev__vector_scalar(struct tr_pq_ev *e,
                             const struct tr_promql_node *n,
                             const struct tr_pq_vector *vec,
                             double sc,
                             bool swap,
                             struct tr_pq_value *out)
{
    enum tr_promql_tok op = n->bin.op;
    bool drop = tr_pq_ev_drops_name(op) || n->bin.return_bool;
    struct tr_pq_sample *o =
        tr_arena_alloc(e->scratch, (vec->n ? vec->n : 1) * sizeof(*o));
    if (o == NULL) {
        return ev__oom(e);
    }
    size_t k = 0;
    for (size_t i = 0; i < vec->n; i++) {
        double l = vec->s[i].v, r = sc;
        if (swap) {
            l = sc;
            r = vec->s[i].v;
        }
        bool keep;
        double v = tr_pq_ev_binop(op, l, r, &keep);
        if (tr_promql_op_is_comparison(op) && swap) {
            v = vec->s[i].v;
        }
        if (n->bin.return_bool) {
            v = keep ? 1.0 : 0.0;
        } else if (!keep) {
            continue;
        }
        o[k] = vec->s[i];
        o[k].v = v;
        if (drop) {
            o[k].labels = ev__drop_name(e->scratch, vec->s[i].labels,
                                        vec->s[i].n_labels, &o[k].n_labels);
            if (o[k].labels == NULL) {
                return ev__oom(e);
            }
        }
        k++;
    }
    out->type = TR_PROMQL_TYPE_VECTOR;
    out->vec.s = o;
    out->vec.n = k;
    return 0;
}

static int ev__sigs(struct tr_pq_ev *e,
                    const struct tr_pq_vector *v,
                    const struct tr_promql_node *n,
                    const char ***sig,
                    size_t **len)
{
    *sig = tr_arena_alloc(e->scratch, (v->n ? v->n : 1) * sizeof(**sig));
    *len = tr_arena_alloc(e->scratch, (v->n ? v->n : 1) * sizeof(**len));
    if (*sig == NULL || *len == NULL) {
        return ev__oom(e);
    }
    for (size_t i = 0; i < v->n; i++) {
        if (tr_pq_sig(e->scratch, v->s[i].labels, v->s[i].n_labels, n->bin.on,
                      &n->bin.matching, &(*sig)[i], &(*len)[i]) != 0) {
            return ev__oom(e);
        }
    }
    return 0;
}

static int ev__set_op(struct tr_pq_ev *e,
                      const struct tr_promql_node *n,
                      const struct tr_pq_vector *l,
                      const struct tr_pq_vector *r,
                      struct tr_pq_value *out)
{
    out->type = TR_PROMQL_TYPE_VECTOR;
    enum tr_promql_tok op = n->bin.op;
    if (op == TR_PROMQL_LAND && (l->n == 0 || r->n == 0)) {
        out->vec.n = 0;
        out->vec.s = NULL;
        return 0;
    }
    if (r->n == 0 || (op == TR_PROMQL_LOR && l->n == 0)) {
        out->vec = op == TR_PROMQL_LOR && l->n == 0 ? *r : *l;
        return 0;
    }
    const char **ls, **rs;
    size_t *ll, *rl;
    struct tr_pq_kmap m;
    int rv;
    if ((rv = ev__sigs(e, l, n, &ls, &ll)) != 0 ||
        (rv = ev__sigs(e, r, n, &rs, &rl)) != 0) {
        return rv;
    }
    struct tr_pq_sample *o =
        tr_arena_alloc(e->scratch, (l->n + r->n) * sizeof(*o));
    if (o == NULL || tr_pq_kmap_init(&m, e->scratch, l->n + r->n) != 0) {
        return ev__oom(e);
    }
    size_t k = 0;
    if (op == TR_PROMQL_LOR) {
        for (size_t i = 0; i < l->n; i++) {
            tr_pq_kmap_slot(&m, ls[i], ll[i])->used = true;
            o[k++] = l->s[i];
        }
        for (size_t i = 0; i < r->n; i++) {
            if (!tr_pq_kmap_slot(&m, rs[i], rl[i])->used) {
                o[k++] = r->s[i];
            }
        }
    } else {
        for (size_t i = 0; i < r->n; i++) {
            tr_pq_kmap_slot(&m, rs[i], rl[i])->used = true;
        }
        for (size_t i = 0; i < l->n; i++) {
            bool found = tr_pq_kmap_slot(&m, ls[i], ll[i])->used;
            if (found == (op == TR_PROMQL_LAND)) {
                o[k++] = l->s[i];
            }
        }
    }
    out->vec.s = o;
    out->vec.n = k;
    return 0;
}

/* Labels a matching signature covers, for error messages. */
static void ev__match_labels(const struct tr_promql_node *n,
                             const struct tr_pq_sample *s,
                             struct tr_buf *b)
{
    struct tr_label tmp[64];
    size_t k = 0;
    for (size_t i = 0; i < s->n_labels && k < 64; i++) {
        bool in = tr_pq_ev_in_list(s->labels[i].name, &n->bin.matching);
        if (n->bin.on ? in : (!in && !tr_pq_ev_is_name(s->labels[i].name))) {
            tmp[k++] = s->labels[i];
        }
    }
    tr_pq_labels_format(tmp, k, b);
}

/* Prometheus' resultMetric. */
static struct tr_label *ev__result_metric(struct tr_pq_ev *e,
                                          const struct tr_promql_node *n,
                                          const struct tr_pq_sample *ls,
                                          const struct tr_pq_sample *rs,
                                          size_t *out_n)
{
    size_t cap = ls->n_labels + n->bin.include.n + 1;
    struct tr_label *o = tr_arena_alloc(e->scratch, cap * sizeof(*o));
    if (o == NULL) {
        return NULL;
    }
    bool drop = tr_pq_ev_drops_name(n->bin.op) || n->bin.return_bool;
    size_t k = 0;
    for (size_t i = 0; i < ls->n_labels; i++) {
        struct tr_slice nm = ls->labels[i].name;
        if (drop && tr_pq_ev_is_name(nm)) {
            continue;
        }
        if (n->bin.card == TR_PROMQL_CARD_ONE_TO_ONE) {
            bool in = tr_pq_ev_in_list(nm, &n->bin.matching);
            if (n->bin.on ? !in : in) {
                continue;
            }
        }
        o[k++] = ls->labels[i];
    }
    for (size_t j = 0; j < n->bin.include.n; j++) {
        const char *nm = n->bin.include.names[j];
        struct tr_slice v =
            tr_labels_get(rs->labels, rs->n_labels, nm, strlen(nm));
        size_t nn;
        o = tr_pq_ev_labels_set(e->scratch, o, k, tr_slice_cstr(nm),
                                v.base ? v : (struct tr_slice){"", 0}, &nn);
        if (o == NULL) {
            return NULL;
        }
        k = nn;
    }
    *out_n = k;
    return o;
}

static int ev__vector_vector(struct tr_pq_ev *e,
                             const struct tr_promql_node *n,
                             const struct tr_pq_vector *lhs,
                             const struct tr_pq_vector *rhs,
                             struct tr_pq_value *out)
{
    out->type = TR_PROMQL_TYPE_VECTOR;
    out->vec.n = 0;
    out->vec.s = NULL;
    if (lhs->n == 0 || rhs->n == 0) {
        return 0;
    }
    bool swap = n->bin.card == TR_PROMQL_CARD_ONE_TO_MANY;
    const struct tr_pq_vector *l = swap ? rhs : lhs, *r = swap ? lhs : rhs;
    const char **ls, **rs;
    size_t *ll, *rl;
    int rv;
    if ((rv = ev__sigs(e, l, n, &ls, &ll)) != 0 ||
        (rv = ev__sigs(e, r, n, &rs, &rl)) != 0) {
        return rv;
    }
    struct tr_pq_kmap right, matched, inserted;
    struct tr_pq_sample *o =
        tr_arena_alloc(e->scratch, (l->n ? l->n : 1) * sizeof(*o));
    if (o == NULL || tr_pq_kmap_init(&right, e->scratch, r->n) != 0 ||
        tr_pq_kmap_init(&matched, e->scratch, l->n) != 0 ||
        tr_pq_kmap_init(&inserted, e->scratch, l->n) != 0) {
        return ev__oom(e);
    }
    for (size_t i = 0; i < r->n; i++) {
        struct tr_pq_kent *s = tr_pq_kmap_slot(&right, rs[i], rl[i]);
        if (s->used) {
            struct tr_buf b;
            tr_buf_init(&b);
            tr_buf_puts(&b, "found duplicate series for the match group ");
            ev__match_labels(n, &r->s[i], &b);
            tr_buf_printf(&b, " on the %s hand-side of the operation: [",
                          swap ? "left" : "right");
            tr_pq_labels_format(r->s[i].labels, r->s[i].n_labels, &b);
            tr_buf_puts(&b, ", ");
            tr_pq_labels_format(r->s[s->v].labels, r->s[s->v].n_labels, &b);
            tr_buf_puts(&b,
                        "];many-to-many matching not allowed: matching "
                        "labels must be unique on one side");
            rv = tr_errf(TR_EEXEC, e->errmsg, "%s", b.data ? b.data : "");
            tr_buf_free(&b);
            return rv;
        }
        s->used = true;
        s->v = i;
    }
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        struct tr_pq_kent *s = tr_pq_kmap_slot(&right, ls[i], ll[i]);
        if (!s->used) {
            continue;
        }
        const struct tr_pq_sample *rsm = &r->s[s->v];
        double fl = l->s[i].v, fr = rsm->v;
        if (swap) {
            fl = rsm->v;
            fr = l->s[i].v;
        }
        bool keep;
        double v = tr_pq_ev_binop(n->bin.op, fl, fr, &keep);
        if (n->bin.return_bool) {
            v = keep ? 1.0 : 0.0;
        } else if (!keep) {
            continue;
        }
        size_t nl;
        struct tr_label *metric = ev__result_metric(e, n, &l->s[i], rsm, &nl);
        if (metric == NULL) {
            return ev__oom(e);
        }
        struct tr_pq_kent *ms = tr_pq_kmap_slot(&matched, ls[i], ll[i]);
        if (n->bin.card == TR_PROMQL_CARD_ONE_TO_ONE) {
            if (ms->used) {
                return tr_errf(TR_EEXEC, e->errmsg,
                               "multiple matches for labels: many-to-one "
                               "matching must be explicit "
                               "(group_left/group_right)");
            }
            ms->used = true;
        } else {
            ms->used = true;
            /* key: match signature + all result labels */
            const char *mk;
            size_t mkl;
            if (tr_pq_sig(e->scratch, metric, nl, false, NULL, &mk, &mkl) !=
                0) {
                return ev__oom(e);
            }
            char *key = tr_arena_alloc(e->scratch, ll[i] + mkl + 2);
            if (key == NULL) {
                return ev__oom(e);
            }
            memcpy(key, ls[i], ll[i]);
            key[ll[i]] = '\xfd';
            memcpy(key + ll[i] + 1, mk, mkl);
            struct tr_pq_kent *is =
                tr_pq_kmap_slot(&inserted, key, ll[i] + 1 + mkl);
            if (is->used) {
                return tr_errf(TR_EEXEC, e->errmsg,
                               "multiple matches for labels: grouping labels "
                               "must ensure unique matches");
            }
            is->used = true;
        }
        o[k].labels = metric;
        o[k].n_labels = nl;
        o[k].t = l->s[i].t;
        o[k].v = v;
        k++;
    }
    out->vec.s = o;
    out->vec.n = k;
    return 0;
}

static int ev__binary(struct tr_pq_ev *e,
                      const struct tr_promql_node *n,
                      int64_t t,
                      struct tr_pq_value *out)
{
    struct tr_pq_value l, r;
    int rv = tr_pq_ev_eval(e, n->bin.lhs, t, &l);
    if (rv == 0) {
        rv = tr_pq_ev_eval(e, n->bin.rhs, t, &r);
    }
    if (rv != 0) {
        return rv;
    }
    if (l.type == TR_PROMQL_TYPE_SCALAR && r.type == TR_PROMQL_TYPE_SCALAR) {
        bool keep;
        double v = tr_pq_ev_binop(n->bin.op, l.scalar, r.scalar, &keep);
        if (n->bin.return_bool) {
            v = keep ? 1.0 : 0.0;
        }
        out->type = TR_PROMQL_TYPE_SCALAR;
        out->scalar = v;
        return 0;
    }
    if (l.type == TR_PROMQL_TYPE_VECTOR && r.type == TR_PROMQL_TYPE_SCALAR) {
        rv = ev__vector_scalar(e, n, &l.vec, r.scalar, false, out);
    } else if (l.type == TR_PROMQL_TYPE_SCALAR) {
        rv = ev__vector_scalar(e, n, &r.vec, l.scalar, true, out);
    } else if (tr_promql_op_is_set(n->bin.op)) {
        return ev__set_op(e, n, &l.vec, &r.vec, out);
    } else {
        rv = ev__vector_vector(e, n, &l.vec, &r.vec, out);
    }
    return rv != 0 ? rv : tr_pq_ev_check_dups(e, &out->vec);
}

/* ---- duplicates ---------------------------------------------------------- */

static int ev__sample_cmp(const void *x, const void *y)
{
    const struct tr_pq_sample *a = *(const struct tr_pq_sample *const *)x;
    const struct tr_pq_sample *b = *(const struct tr_pq_sample *const *)y;
    return tr_labels_cmp(a->labels, a->n_labels, b->labels, b->n_labels);
}

int tr_pq_ev_check_dups(struct tr_pq_ev *e, const struct tr_pq_vector *v)
{
    if (v->n < 2) {
        return 0;
    }
    const struct tr_pq_sample **p =
        tr_arena_alloc(e->scratch, v->n * sizeof(*p));
    if (p == NULL) {
        return ev__oom(e);
    }
    for (size_t i = 0; i < v->n; i++) {
        p[i] = &v->s[i];
    }
    qsort(p, v->n, sizeof(*p), ev__sample_cmp);
    for (size_t i = 1; i < v->n; i++) {
        if (ev__sample_cmp(&p[i - 1], &p[i]) == 0) {
            return tr_errf(TR_EEXEC, e->errmsg,
                           "vector cannot contain metrics with the same "
                           "labelset");
        }
    }
    return 0;
}

/* ---- functions --------------------------------------------------------- */

static int ev__call(struct tr_pq_ev *e,
                    const struct tr_promql_node *n,
                    int64_t t,
                    struct tr_pq_value *out)
{
    const struct tr_promql_func *f = n->call.func;
    tr_pq_func_fn fn = tr_pq_func_impl(f->name);
    if (fn == NULL) {
        return tr_errf(TR_EEXEC, e->errmsg, "function %s not implemented",
                       f->name);
    }
    size_t na = n->call.n_args;
    struct tr_pq_value *args =
        tr_arena_alloc(e->scratch, (na ? na : 1) * sizeof(*args));
    if (args == NULL) {
        return ev__oom(e);
    }
    int64_t range = 0, range_end = t;
    bool has_end = false;
    for (size_t i = 0; i < na; i++) {
        const struct tr_promql_node *a = tr_pq_unparen(n->call.args[i]);
        int rv;
        memset(&args[i], 0, sizeof(args[i]));
        if (a->kind == TR_PROMQL_NODE_VECTOR_SEL &&
            strcmp(f->name, "timestamp") == 0) {
            rv = ev__vector_sel(e, a, t, true, &args[i]);
        } else {
            rv = tr_pq_ev_eval(e, a, t, &args[i]);
        }
        if (rv != 0) {
            return rv;
        }
        if (a->kind == TR_PROMQL_NODE_MATRIX_SEL) {
            const struct tr_promql_node *vs = a->ms.vs;
            range = a->ms.range_ms;
            has_end = true;
            range_end =
                tr_pq_ev_at(e, vs->vs.at, vs->vs.at_ms, t) - vs->vs.offset_ms;
        } else if (a->kind == TR_PROMQL_NODE_SUBQUERY) {
            range = a->sq.range_ms;
            has_end = true;
            range_end =
                tr_pq_ev_at(e, a->sq.at, a->sq.at_ms, t) - a->sq.offset_ms;
        }
    }
    struct tr_pq_fctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.arena = e->scratch;
    ctx.ts = t;
    ctx.range_ms = range;
    ctx.has_range_end = has_end;
    ctx.range_end_ms = range_end;
    ctx.call = n;
    ctx.errmsg = e->errmsg;
    ctx.annos = e->annos;
    struct tr_pq_vector v = {NULL, 0};
    int rv = fn(&ctx, args, na, &v);
    if (rv != 0) {
        if (rv != TR_ENOMEM && rv != TR_ETIMEOUT && rv != TR_ELIMIT) {
            rv = TR_EEXEC;
        }
        return rv;
    }
    if (f->ret == TR_PROMQL_TYPE_SCALAR) {
        out->type = TR_PROMQL_TYPE_SCALAR;
        out->scalar = v.n > 0 ? v.s[0].v : NAN;
        return 0;
    }
    out->type = TR_PROMQL_TYPE_VECTOR;
    out->vec = v;
    return tr_pq_ev_check_dups(e, &out->vec);
}

/* ---- dispatch -------------------------------------------------------- */

int tr_pq_ev_eval(struct tr_pq_ev *e,
                  const struct tr_promql_node *n,
                  int64_t t,
                  struct tr_pq_value *out)
{
    int rv = tr_pq_ev_check(e);
    if (rv != 0) {
        return rv;
    }
    memset(out, 0, sizeof(*out));
    rv = tr_pq_batch_serve(e, n, t, out);
    if (rv != 1) {
        return rv;
    }
    switch (n->kind) {
        case TR_PROMQL_NODE_NUMBER:
            out->type = TR_PROMQL_TYPE_SCALAR;
            out->scalar = n->num.val;
            return 0;
        case TR_PROMQL_NODE_STRING:
            out->type = TR_PROMQL_TYPE_STRING;
            out->str = n->str.val;
            out->str_len = n->str.len;
            return 0;
        case TR_PROMQL_NODE_VECTOR_SEL:
            return ev__vector_sel(e, n, t, false, out);
        case TR_PROMQL_NODE_MATRIX_SEL:
            return ev__matrix_sel(e, n, t, out);
        case TR_PROMQL_NODE_SUBQUERY:
            return tr_pq_ev_subquery(e, n, t, out);
        case TR_PROMQL_NODE_PAREN:
            return tr_pq_ev_eval(e, n->paren.expr, t, out);
        case TR_PROMQL_NODE_UNARY:
            rv = tr_pq_ev_eval(e, n->unary.expr, t, out);
            if (rv != 0 || n->unary.op != TR_PROMQL_SUB) {
                return rv;
            }
            if (out->type == TR_PROMQL_TYPE_SCALAR) {
                out->scalar = -out->scalar;
                return 0;
            }
            if (out->type == TR_PROMQL_TYPE_VECTOR) {
                struct tr_pq_sample *o = tr_arena_alloc(
                    e->scratch, (out->vec.n ? out->vec.n : 1) * sizeof(*o));
                if (o == NULL) {
                    return ev__oom(e);
                }
                for (size_t i = 0; i < out->vec.n; i++) {
                    o[i] = out->vec.s[i];
                    o[i].v = -o[i].v;
                    o[i].labels = ev__drop_name(e->scratch, o[i].labels,
                                                o[i].n_labels, &o[i].n_labels);
                    if (o[i].labels == NULL) {
                        return ev__oom(e);
                    }
                }
                out->vec.s = o;
                return tr_pq_ev_check_dups(e, &out->vec);
            }
            return 0;
        case TR_PROMQL_NODE_BINARY:
            return ev__binary(e, n, t, out);
        case TR_PROMQL_NODE_AGGREGATE:
            return tr_pq_ev_aggregate(e, n, t, out);
        case TR_PROMQL_NODE_CALL:
            return ev__call(e, n, t, out);
    }
    return tr_errf(TR_EEXEC, e->errmsg, "unknown expression node");
}

/* ---- entry point ------------------------------------------------------- */

/* Deep-copies the labels of an instant query's result into a. */
static int ev__own_result(struct tr_arena *a, struct tr_pq_value *v)
{
    if (v->type == TR_PROMQL_TYPE_VECTOR) {
        for (size_t i = 0; i < v->vec.n; i++) {
            struct tr_pq_sample *s = &v->vec.s[i];
            s->labels = tr_pq_ev_labels_dup(a, s->labels, s->n_labels);
            if (s->labels == NULL) {
                return TR_ENOMEM;
            }
        }
    } else if (v->type == TR_PROMQL_TYPE_MATRIX) {
        for (size_t i = 0; i < v->mat.n; i++) {
            struct tr_pq_series *s = &v->mat.s[i];
            s->labels = tr_pq_ev_labels_dup(a, s->labels, s->n_labels);
            if (s->labels == NULL) {
                return TR_ENOMEM;
            }
        }
    } else if (v->type == TR_PROMQL_TYPE_STRING) {
        v->str = tr_arena_strndup(a, v->str ? v->str : "", v->str_len);
        if (v->str == NULL) {
            return TR_ENOMEM;
        }
    }
    return 0;
}

/* Range query: the expression at every step at once (eval_batch.c), as a
 * matrix sorted by labels in a. */
static int ev__range(struct tr_pq_ev *e,
                     const struct tr_promql_node *expr,
                     int64_t step,
                     struct tr_arena *a,
                     struct tr_pq_value *out)
{
    struct tr_arena scratch;
    tr_arena_init(&scratch, 64 * 1024);
    /* reset to NULL before returning */
    /* cppcheck-suppress autoVariables */
    e->scratch = &scratch;
    struct tr_pq_grid g;
    g.n = (size_t)((e->end - e->start) / step) + 1;
    g.ts = tr_malloc(g.n * sizeof(*g.ts));
    struct tr_pq_bval *b = NULL;
    int rv = g.ts == NULL ? ev__oom(e) : 0;
    for (size_t k = 0; rv == 0 && k < g.n; k++) {
        g.ts[k] = e->start + (int64_t)k * step;
    }
    if (rv == 0) {
        rv = tr_pq_batch_eval(e, expr, &g, &b);
    }
    out->type = TR_PROMQL_TYPE_MATRIX;
    out->mat.n = 0;
    size_t points;
    if (rv == 0) {
        rv = tr_pq_bval_matrix(e, b, 0, g.n, a, true, &out->mat, &points);
    }
    tr_pq_bval_free(e, b);
    tr_free(g.ts);
    tr_arena_free(&scratch);
    e->scratch = NULL;
    return rv;
}

int tr_promql_eval(const struct tr_select_source *src,
                   struct tr_slice tenant,
                   const struct tr_promql_node *expr,
                   int64_t start_ms,
                   int64_t end_ms,
                   int64_t step_ms,
                   const struct tr_promql_eval_opts *opts,
                   struct tr_arena *a,
                   struct tr_pq_value *out,
                   char *errmsg)
{
    memset(out, 0, sizeof(*out));
    if (step_ms < 0) {
        return tr_errf(TR_EINVAL, errmsg,
                       "zero or negative query resolution step widths are "
                       "not accepted. Try a positive integer");
    }
    if (step_ms == 0) {
        end_ms = start_ms;
    } else {
        if (end_ms < start_ms) {
            return tr_errf(TR_EINVAL, errmsg,
                           "end timestamp must not be before start time");
        }
        if ((end_ms - start_ms) / step_ms > TR_PROMQL_MAX_POINTS) {
            return tr_errf(TR_EINVAL, errmsg,
                           "exceeded maximum resolution of 11,000 points per "
                           "timeseries. Try decreasing the query resolution "
                           "(?step=XX)");
        }
        if (expr->type != TR_PROMQL_TYPE_SCALAR &&
            expr->type != TR_PROMQL_TYPE_VECTOR) {
            return tr_errf(TR_EINVAL, errmsg,
                           "invalid expression type \"%s\" for range query, "
                           "must be Scalar or instant Vector",
                           tr_promql_type_doc(expr->type));
        }
    }
    struct tr_pq_ev e;
    memset(&e, 0, sizeof(e));
    e.src = src;
    e.tenant = tenant;
    e.start = start_ms;
    e.end = end_ms;
    e.lookback = TR_PROMQL_DEFAULT_LOOKBACK_MS;
    e.sq_step = TR_PROMQL_DEFAULT_SUBQUERY_STEP_MS;
    if (opts != NULL) {
        if (opts->lookback_ms > 0) {
            e.lookback = opts->lookback_ms;
        }
        if (opts->subquery_step_ms > 0) {
            e.sq_step = opts->subquery_step_ms;
        }
        e.max_samples = opts->max_samples;
        e.max_series = opts->max_series;
        e.deadline = opts->deadline_mono_ns;
        e.annos = opts->annos;
    }
    e.errmsg = errmsg;
    tr_arena_init(&e.larena, 64 * 1024);
    int rv = ev__collect(&e, expr, start_ms, end_ms);
    if (rv == 0) {
        rv = ev__fetch(&e);
    }
    if (rv == 0 && step_ms == 0) {
        e.scratch = a;
        rv = tr_pq_ev_eval(&e, expr, start_ms, out);
        if (rv == 0 && ev__own_result(a, out) != 0) {
            rv = ev__oom(&e);
        }
    } else if (rv == 0) {
        rv = ev__range(&e, expr, step_ms, a, out);
    }
    while (e.n_reg > 0) {
        tr_pq_bval_free(&e, e.reg[--e.n_reg]);
    }
    tr_free(e.reg);
    tr_arena_free(&e.larena);
    for (size_t i = 0; i < e.n_sels; i++) {
        if (e.sels[i].fetched) {
            tr_select_result_free(&e.sels[i].res);
        }
    }
    tr_free(e.sels);
    if (rv != 0) {
        memset(out, 0, sizeof(*out));
    }
    return rv;
}
