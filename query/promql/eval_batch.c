/* eval_batch.c - evaluation of a node at many times at once (range queries
 * and subqueries), series by series.
 *
 * A batch value (struct tr_pq_bval) holds a node's result at every time of
 * a grid: one row of values and presence flags per output series, or one
 * value per time for scalars. Prometheus' engine evaluates range queries
 * the same way (rangeEval): work that depends only on the series - label
 * sets, grouping, duplicate checks - is done once per series instead of
 * once per step, and range functions slide a window over each series'
 * samples instead of searching and copying them at every step.
 *
 * Fast paths (same arithmetic, in the same order, as the step-by-step
 * evaluator in eval.c and eval_aggr.c, whose helpers they call):
 *   - vector selectors (lookback, staleness, offset, @);
 *   - range functions (rate, *_over_time, deriv, ...: the over_fn
 *     implementations in funcs_range.c) over a matrix selector or a
 *     subquery, with literal scalar arguments;
 *   - sum avg count min max group stddev stdvar aggregations;
 *   - scalar/scalar and vector/scalar operators.
 * Every other node goes through the generic path: its children are batch
 * values registered for the node's times, and the step-by-step code
 * evaluates the node at each time, reading the children from the registry
 * (tr_pq_batch_serve) instead of evaluating them again.
 *
 * Grids: the root's grid is the range query's steps. A subquery's inner
 * expression is evaluated at the union of the inner times every outer time
 * needs (multiples of the subquery step), so nothing is evaluated at a time
 * the step-by-step evaluator would not use. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "lib/par.h"
#include "query/promql/eval_int.h"

/* ---- batch values --------------------------------------------------- */

static int bt__oom(struct tr_pq_ev *e)
{
    return tr_errf(TR_ENOMEM, e->errmsg, "out of memory");
}

static struct tr_pq_bval *bt__new(const struct tr_pq_grid *g, bool scalar)
{
    struct tr_pq_bval *b = tr_calloc(1, sizeof(*b));
    if (b == NULL) {
        return NULL;
    }
    tr_arena_init(&b->ar, 64 * 1024);
    b->g = *g;
    b->scalar = scalar;
    if (scalar) {
        b->sv = tr_arena_alloc(&b->ar, (g->n ? g->n : 1) * sizeof(double));
        if (b->sv == NULL) {
            tr_arena_free(&b->ar);
            tr_free(b);
            return NULL;
        }
    }
    return b;
}

void tr_pq_bval_free(struct tr_pq_ev *e, struct tr_pq_bval *b)
{
    if (b == NULL) {
        return;
    }
    if (b->counted) {
        e->cur_samples -=
            b->points < e->cur_samples ? b->points : e->cur_samples;
    }
    if (b->owns_grid) {
        tr_free(b->g.ts);
    }
    tr_free(b->s);
    tr_free(b->hash);
    tr_free(b->slots);
    tr_arena_free(&b->ar);
    tr_free(b);
}

/* Counts b's points against the sample limit (until it is freed). */
static int bt__count(struct tr_pq_ev *e, struct tr_pq_bval *b)
{
    b->points = 0;
    if (b->scalar) {
        b->points = b->g.n;
    } else {
        for (size_t i = 0; i < b->n; i++) {
            for (size_t k = 0; k < b->g.n; k++) {
                b->points += b->s[i].ok[k];
            }
        }
    }
    b->counted = true;
    return tr_pq_ev_add_samples(e, b->points);
}

/* Appends a series with labels ls (borrowed: they must outlive the query's
 * batch values) and zeroed rows. */
static struct tr_pq_bser *bt__add(struct tr_pq_bval *b,
                                  struct tr_label *ls,
                                  size_t nl)
{
    if (b->n == b->cap) {
        struct tr_pq_bser *s = tr_array_grow(b->s, &b->cap, sizeof(*s), 16);
        if (s == NULL) {
            return NULL;
        }
        b->s = s;
    }
    size_t n = b->g.n ? b->g.n : 1;
    struct tr_pq_bser *s = &b->s[b->n];
    s->labels = ls;
    s->n_labels = nl;
    s->v = tr_arena_alloc(&b->ar, n * sizeof(double));
    s->ok = tr_arena_alloc(&b->ar, n);
    if (s->v == NULL || s->ok == NULL) {
        return NULL;
    }
    memset(s->ok, 0, n);
    b->n++;
    return s;
}

/* Drops the last series (added, then found empty). */
static void bt__pop(struct tr_pq_bval *b)
{
    b->n--;
}

static bool bt__any(const struct tr_pq_bser *s, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (s->ok[k]) {
            return true;
        }
    }
    return false;
}

/* ---- label-keyed series map (generic path) ---------------------------- */

static uint64_t bt__labels_hash(const struct tr_label *ls, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < n; i++) {
        h = tr_hash64(ls[i].name.base, ls[i].name.len, h);
        h = tr_hash64(ls[i].value.base, ls[i].value.len, h ^ 0xff);
    }
    return h;
}

static int bt__map_grow(struct tr_pq_bval *b)
{
    size_t cap = b->nslots ? b->nslots * 2 : 64;
    size_t *slots = tr_calloc(cap, sizeof(*slots));
    if (slots == NULL) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < b->n; i++) {
        size_t j = b->hash[i] & (cap - 1);
        while (slots[j] != 0) {
            j = (j + 1) & (cap - 1);
        }
        slots[j] = i + 1;
    }
    tr_free(b->slots);
    b->slots = slots;
    b->nslots = cap;
    return 0;
}

/* The series of label set ls, added (labels copied into e->larena) when
 * new; NULL when out of memory. */
static struct tr_pq_bser *bt__series_for(struct tr_pq_ev *e,
                                         struct tr_pq_bval *b,
                                         const struct tr_label *ls,
                                         size_t n)
{
    if ((b->n + 1) * 2 > b->nslots && bt__map_grow(b) != 0) {
        return NULL;
    }
    uint64_t h = bt__labels_hash(ls, n);
    size_t j = h & (b->nslots - 1);
    while (b->slots[j] != 0) {
        struct tr_pq_bser *c = &b->s[b->slots[j] - 1];
        if (b->hash[b->slots[j] - 1] == h &&
            tr_labels_cmp(c->labels, c->n_labels, ls, n) == 0) {
            return c;
        }
        j = (j + 1) & (b->nslots - 1);
    }
    if (b->n == b->cap_hash) {
        uint64_t *nh = tr_array_grow(b->hash, &b->cap_hash, sizeof(*nh), 16);
        if (nh == NULL) {
            return NULL;
        }
        b->hash = nh;
    }
    struct tr_label *own = tr_pq_ev_labels_dup(&e->larena, ls, n);
    if (own == NULL) {
        return NULL;
    }
    b->hash[b->n] = h;
    struct tr_pq_bser *s = bt__add(b, own, n);
    if (s == NULL) {
        return NULL;
    }
    b->slots[j] = b->n;
    return s;
}

/* ---- registry (children of a node on the generic path) ---------------- */

static int bt__register(struct tr_pq_ev *e,
                        const struct tr_promql_node *n,
                        struct tr_pq_bval *b)
{
    if (e->n_reg == e->cap_reg) {
        size_t cap = e->cap_reg ? e->cap_reg * 2 : 8;
        struct tr_pq_bval **r = tr_realloc(e->reg, cap * sizeof(*r));
        if (r == NULL) {
            return bt__oom(e);
        }
        e->reg = r;
        e->cap_reg = cap;
    }
    b->node = n;
    e->reg[e->n_reg++] = b;
    return 0;
}

/* Frees the values registered since mark. */
static void bt__unregister(struct tr_pq_ev *e, size_t mark)
{
    while (e->n_reg > mark) {
        tr_pq_bval_free(e, e->reg[--e->n_reg]);
    }
}

static struct tr_pq_bval *bt__lookup(const struct tr_pq_ev *e,
                                     const struct tr_promql_node *n)
{
    for (size_t i = e->n_reg; i > 0; i--) {
        if (e->reg[i - 1]->node == n) {
            return e->reg[i - 1];
        }
    }
    return NULL;
}

/* Index of the first time of g at or after t (g->n when none). */
static size_t bt__grid_lower(const struct tr_pq_grid *g, int64_t t)
{
    size_t lo = 0, hi = g->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->ts[mid] < t) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Index of t in g, or g->n when absent. */
static size_t bt__grid_index(const struct tr_pq_grid *g, int64_t t)
{
    size_t k = bt__grid_lower(g, t);
    return k < g->n && g->ts[k] == t ? k : g->n;
}

int tr_pq_batch_serve(struct tr_pq_ev *e,
                      const struct tr_promql_node *n,
                      int64_t t,
                      struct tr_pq_value *out)
{
    if (e->n_reg == 0) {
        return 1;
    }
    const struct tr_pq_bval *b = bt__lookup(e, n);
    if (b == NULL) {
        return 1;
    }
    size_t k = bt__grid_index(&b->g, t);
    if (k == b->g.n) {
        return 1;
    }
    if (b->scalar) {
        out->type = TR_PROMQL_TYPE_SCALAR;
        out->scalar = b->sv[k];
        return 0;
    }
    out->type = TR_PROMQL_TYPE_VECTOR;
    out->vec.n = 0;
    out->vec.s =
        tr_arena_alloc(e->scratch, (b->n ? b->n : 1) * sizeof(*out->vec.s));
    if (out->vec.s == NULL) {
        return bt__oom(e);
    }
    for (size_t i = 0; i < b->n; i++) {
        if (b->s[i].ok[k]) {
            struct tr_pq_sample *s = &out->vec.s[out->vec.n++];
            s->labels = b->s[i].labels;
            s->n_labels = b->s[i].n_labels;
            s->t = t;
            s->v = b->s[i].v[k];
        }
    }
    return 0;
}

/* ---- grids ------------------------------------------------------------ */

static int64_t bt__floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) {
        q--;
    }
    return q;
}

/* First multiple of step >= mint. */
static int64_t bt__align_up(int64_t mint, int64_t step)
{
    int64_t ts = bt__floor_div(mint, step) * step;
    return ts < mint ? ts + step : ts;
}

/* Times subquery n evaluates its inner expression at, for every time of
 * g (into *out, heap). */
static int bt__subquery_grid(struct tr_pq_ev *e,
                             const struct tr_promql_node *n,
                             const struct tr_pq_grid *g,
                             struct tr_pq_grid *out)
{
    int64_t step = n->sq.step_ms > 0 ? n->sq.step_ms : e->sq_step;
    size_t cap = 64, k = 0;
    int64_t *ts = tr_malloc(cap * sizeof(*ts));
    if (ts == NULL) {
        return bt__oom(e);
    }
    for (size_t i = 0; i < g->n; i++) {
        int64_t ref =
            tr_pq_ev_at(e, n->sq.at, n->sq.at_ms, g->ts[i]) - n->sq.offset_ms;
        int64_t t = bt__align_up(ref - n->sq.range_ms, step);
        if (k > 0 && t <= ts[k - 1]) {
            t = ts[k - 1] + step;
        }
        for (; t <= ref; t += step) {
            if (k == cap) {
                cap *= 2;
                int64_t *nt = tr_realloc(ts, cap * sizeof(*nt));
                if (nt == NULL) {
                    tr_free(ts);
                    return bt__oom(e);
                }
                ts = nt;
            }
            ts[k++] = t;
            int late = (k & 4095) == 0 ? tr_pq_ev_deadline(e) : 0;
            if (late != 0) {
                tr_free(ts);
                return late;
            }
        }
    }
    out->ts = ts;
    out->n = k;
    return 0;
}

static int bt__eval(struct tr_pq_ev *e,
                    const struct tr_promql_node *n,
                    const struct tr_pq_grid *g,
                    struct tr_pq_bval **out);

/* Subquery sq's inner expression at the times every time of g needs; the
 * value owns its grid. */
static int bt__subquery_inner(struct tr_pq_ev *e,
                              const struct tr_promql_node *sq,
                              const struct tr_pq_grid *g,
                              struct tr_pq_bval **out)
{
    struct tr_pq_grid ig;
    *out = NULL;
    int rv = bt__subquery_grid(e, sq, g, &ig);
    if (rv != 0) {
        return rv;
    }
    rv = bt__eval(e, sq->sq.expr, &ig, out);
    if (rv != 0) {
        tr_free(ig.ts);
        return rv;
    }
    (*out)->owns_grid = true;
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* A number literal (possibly in parentheses or with a sign). */
static bool bt__literal(const struct tr_promql_node *n, double *v)
{
    n = tr_pq_unparen(n);
    if (n->kind == TR_PROMQL_NODE_NUMBER) {
        *v = n->num.val;
        return true;
    }
    if (n->kind == TR_PROMQL_NODE_UNARY && bt__literal(n->unary.expr, v)) {
        if (n->unary.op == TR_PROMQL_SUB) {
            *v = -*v;
        }
        return true;
    }
    return false;
}

static int bt__row_cmp(const void *x, const void *y)
{
    const struct tr_pq_bser *a = *(const struct tr_pq_bser *const *)x;
    const struct tr_pq_bser *b = *(const struct tr_pq_bser *const *)y;
    return tr_labels_cmp(a->labels, a->n_labels, b->labels, b->n_labels);
}

/* Fails when two rows with equal labels have a point at the same time
 * (Prometheus' "vector cannot contain metrics with the same labelset"). */
static int bt__check_dups(struct tr_pq_ev *e, const struct tr_pq_bval *b)
{
    if (b->n < 2) {
        return 0;
    }
    const struct tr_pq_bser **p = tr_malloc(b->n * sizeof(*p));
    if (p == NULL) {
        return bt__oom(e);
    }
    for (size_t i = 0; i < b->n; i++) {
        p[i] = &b->s[i];
    }
    qsort(p, b->n, sizeof(*p), bt__row_cmp);
    int rv = 0;
    for (size_t i = 1; i < b->n && rv == 0; i++) {
        if (bt__row_cmp(&p[i - 1], &p[i]) != 0) {
            continue;
        }
        for (size_t k = 0; k < b->g.n; k++) {
            if (p[i - 1]->ok[k] && p[i]->ok[k]) {
                rv = tr_errf(TR_EEXEC, e->errmsg,
                             "vector cannot contain metrics with the same "
                             "labelset");
                break;
            }
        }
    }
    tr_free(p);
    return rv;
}

/* ---- vector selectors -------------------------------------------------- */

/* A vector selector over many series, cut into pieces that lib/par runs
 * in parallel: each piece decodes its series one at a time (chunk form)
 * into its own buffer and writes their rows (memory from its arena);
 * rows without points are dropped afterwards, in series order. */
struct bt_vs_piece {
    size_t lo, hi;
    struct tr_arena ar; /* rows */
    int rv;
    char errmsg[TR_ERRMSG_SIZE];
};

struct bt_vs {
    struct tr_pq_ev *e;
    const struct tr_promql_node *n;
    const struct tr_pq_grid *g;
    const struct tr_pq_sel *sel;
    struct tr_pq_bser *rows; /* [n_series] */
    bool *has;               /* [n_series]: the row has a point */
    struct bt_vs_piece *pieces;
};

static void bt__vs_piece(void *arg, size_t pi)
{
    struct bt_vs *vs = arg;
    struct bt_vs_piece *pc = &vs->pieces[pi];
    struct tr_pq_ev *e = vs->e;
    const struct tr_promql_node *n = vs->n;
    const struct tr_pq_grid *g = vs->g;
    size_t gn = g->n ? g->n : 1;
    struct tr_sample *buf = NULL;
    size_t cap = 0;
    for (size_t i = pc->lo; i < pc->hi && pc->rv == 0; i++) {
        const struct tr_series_data *sd = &vs->sel->res.series[i];
        vs->has[i] = false;
        if (sd->samples == NULL && sd->n_samples > cap) {
            struct tr_sample *nb = tr_realloc(buf, sd->n_samples * sizeof(*nb));
            if (nb == NULL) {
                pc->rv = tr_errf(TR_ENOMEM, pc->errmsg, "out of memory");
                break;
            }
            buf = nb;
            cap = sd->n_samples;
        }
        const struct tr_sample *smps = tr_series_samples(sd, buf);
        if (smps == NULL) {
            pc->rv = tr_errf(TR_ECORRUPT, pc->errmsg,
                             "corrupt chunk in selected data");
            break;
        }
        struct tr_pq_bser *s = &vs->rows[i];
        s->labels = sd->labels;
        s->n_labels = sd->n_labels;
        s->v = tr_arena_alloc(&pc->ar, gn * sizeof(double));
        s->ok = tr_arena_alloc(&pc->ar, gn);
        if (s->v == NULL || s->ok == NULL) {
            pc->rv = tr_errf(TR_ENOMEM, pc->errmsg, "out of memory");
            break;
        }
        memset(s->ok, 0, gn);
        size_t j = 0;
        bool any = false;
        for (size_t k = 0; k < g->n; k++) {
            int64_t ref = tr_pq_ev_at(e, n->vs.at, n->vs.at_ms, g->ts[k]) -
                          n->vs.offset_ms;
            if (j > 0 && smps[j - 1].t > ref) {
                j = 0; /* times went back (cannot happen on a grid) */
            }
            while (j < sd->n_samples && smps[j].t <= ref) {
                j++;
            }
            if (j == 0) {
                continue;
            }
            const struct tr_sample *smp = &smps[j - 1];
            if (smp->t < ref - e->lookback || tr_pq_is_stale(smp->v)) {
                continue;
            }
            s->v[k] = smp->v;
            s->ok[k] = 1;
            any = true;
        }
        vs->has[i] = any;
        if ((i & 63) == 63 && e->deadline != 0 && tr_mono_ns() > e->deadline) {
            pc->rv = tr_errf(TR_ETIMEOUT, pc->errmsg,
                             "query timed out in expression evaluation");
        }
    }
    tr_free(buf);
}

static int bt__vector_sel(struct tr_pq_ev *e,
                          const struct tr_promql_node *n,
                          const struct tr_pq_grid *g,
                          struct tr_pq_bval **out)
{
    struct tr_pq_bval *b = bt__new(g, false);
    if (b == NULL) {
        return bt__oom(e);
    }
    *out = b;
    const struct tr_pq_sel *sel = tr_pq_ev_sel(e, n);
    size_t ns = sel != NULL ? sel->res.n_series : 0;
    if (ns == 0) {
        return bt__count(e, b);
    }
    size_t np = tr_par_threads() > 1 && ns >= 64 ? tr_par_threads() * 4 : 1;
    if (np > ns) {
        np = ns;
    }
    struct bt_vs vs = {e, n, g, sel, NULL, NULL, NULL};
    vs.rows = tr_calloc(ns, sizeof(*vs.rows));
    vs.has = tr_calloc(ns, sizeof(*vs.has));
    vs.pieces = tr_calloc(np, sizeof(*vs.pieces));
    int rv = 0;
    if (vs.rows == NULL || vs.has == NULL || vs.pieces == NULL) {
        rv = bt__oom(e);
    }
    for (size_t i = 0; rv == 0 && i < np; i++) {
        vs.pieces[i].lo = ns * i / np;
        vs.pieces[i].hi = ns * (i + 1) / np;
        tr_arena_init(&vs.pieces[i].ar, 64 * 1024);
    }
    if (rv == 0) {
        tr_par_for(np, bt__vs_piece, &vs);
    }
    for (size_t i = 0; rv == 0 && i < np; i++) {
        if (vs.pieces[i].rv != 0) {
            rv = vs.pieces[i].rv;
            memcpy(e->errmsg, vs.pieces[i].errmsg, TR_ERRMSG_SIZE);
        }
    }
    for (size_t i = 0; vs.pieces != NULL && i < np; i++) {
        tr_arena_adopt(&b->ar, &vs.pieces[i].ar); /* the rows go along */
    }
    for (size_t i = 0; rv == 0 && i < ns; i++) {
        if (!vs.has[i]) {
            continue;
        }
        if (b->n == b->cap) {
            struct tr_pq_bser *nv =
                tr_array_grow(b->s, &b->cap, sizeof(*nv), 16);
            if (nv == NULL) {
                rv = bt__oom(e);
                break;
            }
            b->s = nv;
        }
        b->s[b->n++] = vs.rows[i];
    }
    tr_free(vs.rows);
    tr_free(vs.has);
    tr_free(vs.pieces);
    return rv != 0 ? rv : bt__count(e, b);
}

/* ---- range functions over a matrix selector or a subquery ------------ */

/* One input series of a range function: points sorted by time, stale
 * markers removed. */
struct bt_input {
    const struct tr_label *labels;
    size_t n_labels;
    const struct tr_pq_point *pts;
    size_t n;
};

/* Slides [ref - range, ref] over in's points for every time of g and
 * applies f; writes row s. Errors go to errmsg (TR_ERRMSG_SIZE). */
static int bt__slide(struct tr_pq_ev *e,
                     const struct tr_promql_node *call,
                     tr_pq_over_fn f,
                     const struct tr_pq_value *args,
                     const struct bt_input *in,
                     const struct tr_promql_node *mod, /* ms or sq */
                     const struct tr_pq_grid *g,
                     struct tr_arena *tmp,
                     struct tr_pq_bser *s,
                     struct tr_pq_annos *annos,
                     char *errmsg)
{
    int64_t range, at_ms, offset;
    enum tr_promql_at at;
    if (mod->kind == TR_PROMQL_NODE_MATRIX_SEL) {
        const struct tr_promql_node *vs = mod->ms.vs;
        range = mod->ms.range_ms;
        at = vs->vs.at;
        at_ms = vs->vs.at_ms;
        offset = vs->vs.offset_ms;
    } else {
        range = mod->sq.range_ms;
        at = mod->sq.at;
        at_ms = mod->sq.at_ms;
        offset = mod->sq.offset_ms;
    }
    struct tr_pq_fctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.arena = tmp;
    ctx.range_ms = range;
    ctx.call = call;
    ctx.errmsg = errmsg;
    ctx.has_range_end = true;
    ctx.annos = annos;
    size_t lo = 0, hi = 0;
    bool any = false;
    for (size_t k = 0; k < g->n; k++) {
        int64_t ref = tr_pq_ev_at(e, at, at_ms, g->ts[k]) - offset;
        int64_t mint = ref - range;
        if (lo > 0 && in->pts[lo - 1].t >= mint) {
            lo = hi = 0; /* times went back (cannot happen on a grid) */
        }
        while (lo < in->n && in->pts[lo].t < mint) {
            lo++;
        }
        if (hi < lo) {
            hi = lo;
        }
        while (hi < in->n && in->pts[hi].t <= ref) {
            hi++;
        }
        if (hi <= lo) {
            continue;
        }
        struct tr_pq_series view;
        view.labels = (struct tr_label *)in->labels;
        view.n_labels = in->n_labels;
        view.pts = (struct tr_pq_point *)(in->pts + lo);
        view.n = hi - lo;
        ctx.ts = g->ts[k];
        ctx.range_end_ms = ref;
        int st = 0;
        double v = f(&ctx, args, &view, &st);
        if (st < 0) {
            if (st != TR_ENOMEM && st != TR_ETIMEOUT && st != TR_ELIMIT) {
                st = TR_EEXEC;
            }
            return st;
        }
        if (st == 0) {
            s->v[k] = v;
            s->ok[k] = 1;
            any = true;
        }
        if ((k & 1023) == 1023) {
            tr_arena_reset(tmp);
        }
    }
    tr_arena_reset(tmp);
    if (any) {
        tr_pq_note_non_counter(&ctx, in->labels, in->n_labels);
    }
    return 0;
}

/* One range-function call over many input series, cut into pieces that
 * lib/par runs in parallel: every input series gets an output row (memory
 * and labels from its piece's arena); rows without points are dropped
 * afterwards, in input order. */
struct bt_rf {
    struct tr_pq_ev *e;
    const struct tr_promql_node *call;
    tr_pq_over_fn f;
    bool keep;
    const struct tr_pq_value *args;
    const struct tr_promql_node *mod;
    const struct tr_pq_grid *g;
    /* inputs: a selector's series, or an inner batch value's rows */
    const struct tr_pq_sel *sel;
    const struct tr_pq_bval *inner;
    size_t n_in;
    struct tr_pq_bser *rows; /* [n_in] */
    bool *has;               /* [n_in]: the row has a point */
    struct bt_rf_piece *pieces;
};

struct bt_rf_piece {
    size_t lo, hi;
    struct tr_arena ar; /* rows and labels */
    struct tr_pq_annos annos;
    int rv;
    char errmsg[TR_ERRMSG_SIZE];
};

static void bt__rf_piece(void *arg, size_t pi)
{
    struct bt_rf *rf = arg;
    struct bt_rf_piece *pc = &rf->pieces[pi];
    const struct tr_pq_grid *g = rf->g;
    size_t gn = g->n ? g->n : 1;
    struct tr_arena tmp;
    tr_arena_init(&tmp, 16 * 1024);
    struct tr_pq_point *buf = NULL;
    size_t cap = 0;
    struct tr_sample *dec = NULL; /* a chunk-form series, decoded */
    size_t cap_dec = 0;
    for (size_t i = pc->lo; i < pc->hi && pc->rv == 0; i++) {
        struct bt_input in = {NULL, 0, NULL, 0};
        size_t need =
            rf->sel ? rf->sel->res.series[i].n_samples : rf->inner->g.n;
        if (need > cap) {
            struct tr_pq_point *nb = tr_realloc(buf, need * sizeof(*nb));
            if (nb == NULL) {
                pc->rv = TR_ENOMEM;
                break;
            }
            buf = nb;
            cap = need;
        }
        size_t np = 0;
        if (rf->sel != NULL) {
            const struct tr_series_data *sd = &rf->sel->res.series[i];
            if (sd->samples == NULL && sd->n_samples > cap_dec) {
                struct tr_sample *nd =
                    tr_realloc(dec, sd->n_samples * sizeof(*nd));
                if (nd == NULL) {
                    pc->rv = TR_ENOMEM;
                    break;
                }
                dec = nd;
                cap_dec = sd->n_samples;
            }
            const struct tr_sample *smps = tr_series_samples(sd, dec);
            if (smps == NULL) {
                pc->rv = tr_errf(TR_ECORRUPT, pc->errmsg,
                                 "corrupt chunk in selected data");
                break;
            }
            for (size_t j = 0; j < sd->n_samples; j++) {
                if (!tr_pq_is_stale(smps[j].v)) {
                    buf[np].t = smps[j].t;
                    buf[np++].v = smps[j].v;
                }
            }
            in.labels = sd->labels;
            in.n_labels = sd->n_labels;
        } else {
            const struct tr_pq_bval *b = rf->inner;
            for (size_t k = 0; k < b->g.n; k++) {
                if (b->scalar || b->s[i].ok[k]) {
                    buf[np].t = b->g.ts[k];
                    buf[np++].v = b->scalar ? b->sv[k] : b->s[i].v[k];
                }
            }
            if (!b->scalar) {
                in.labels = b->s[i].labels;
                in.n_labels = b->s[i].n_labels;
            }
        }
        in.pts = buf;
        in.n = np;
        rf->has[i] = false;
        if (np == 0) {
            continue;
        }
        struct tr_pq_bser *s = &rf->rows[i];
        s->labels = (struct tr_label *)in.labels;
        s->n_labels = in.n_labels;
        if (!rf->keep) {
            s->labels = tr_pq_labels_drop_name(&pc->ar, in.labels, in.n_labels,
                                               &s->n_labels);
        }
        s->v = tr_arena_alloc(&pc->ar, gn * sizeof(double));
        s->ok = tr_arena_alloc(&pc->ar, gn);
        if (s->labels == NULL || s->v == NULL || s->ok == NULL) {
            pc->rv = TR_ENOMEM;
            break;
        }
        memset(s->ok, 0, gn);
        pc->rv =
            bt__slide(rf->e, rf->call, rf->f, rf->args, &in, rf->mod, g, &tmp,
                      s, rf->e->annos ? &pc->annos : NULL, pc->errmsg);
        rf->has[i] = pc->rv == 0 && bt__any(s, g->n);
        if (pc->rv == 0 && (i & 63) == 63 && rf->e->deadline != 0 &&
            tr_mono_ns() > rf->e->deadline) {
            pc->rv = tr_errf(TR_ETIMEOUT, pc->errmsg,
                             "query timed out in expression evaluation");
        }
    }
    if (pc->rv == TR_ENOMEM) {
        tr_errf(TR_ENOMEM, pc->errmsg, "out of memory");
    }
    tr_free(dec);
    tr_free(buf);
    tr_arena_free(&tmp);
}

/* Runs rf over its inputs into b. */
static int bt__rf_run(struct bt_rf *rf, struct tr_pq_bval *b)
{
    struct tr_pq_ev *e = rf->e;
    size_t n = rf->n_in;
    size_t np = tr_par_threads() > 1 && n >= 64 ? tr_par_threads() * 4 : 1;
    if (np > n) {
        np = n ? n : 1;
    }
    rf->rows = tr_calloc(n ? n : 1, sizeof(*rf->rows));
    rf->has = tr_calloc(n ? n : 1, sizeof(*rf->has));
    rf->pieces = tr_calloc(np, sizeof(*rf->pieces));
    int rv = 0;
    if (rf->rows == NULL || rf->has == NULL || rf->pieces == NULL) {
        rv = bt__oom(e);
    }
    for (size_t i = 0; rv == 0 && i < np; i++) {
        rf->pieces[i].lo = n * i / np;
        rf->pieces[i].hi = n * (i + 1) / np;
        tr_arena_init(&rf->pieces[i].ar, 64 * 1024);
    }
    if (rv == 0) {
        tr_par_for(np, bt__rf_piece, rf);
    }
    for (size_t i = 0; rv == 0 && i < np; i++) {
        if (rf->pieces[i].rv != 0) {
            rv = rf->pieces[i].rv;
            memcpy(e->errmsg, rf->pieces[i].errmsg, TR_ERRMSG_SIZE);
        }
    }
    for (size_t i = 0; rf->pieces != NULL && i < np; i++) {
        /* labels must live as long as the query (parents borrow them);
         * the rows go along */
        tr_arena_adopt(&e->larena, &rf->pieces[i].ar);
        if (e->annos != NULL) {
            tr_pq_annos_merge(e->annos, &rf->pieces[i].annos);
        }
        tr_pq_annos_free(&rf->pieces[i].annos);
    }
    for (size_t i = 0; rv == 0 && i < n; i++) {
        if (!rf->has[i]) {
            continue;
        }
        if (b->n == b->cap) {
            struct tr_pq_bser *ns =
                tr_array_grow(b->s, &b->cap, sizeof(*ns), 16);
            if (ns == NULL) {
                rv = bt__oom(e);
                break;
            }
            b->s = ns;
        }
        b->s[b->n++] = rf->rows[i];
    }
    tr_free(rf->rows);
    tr_free(rf->has);
    tr_free(rf->pieces);
    return rv;
}

static int bt__range_func(struct tr_pq_ev *e,
                          const struct tr_promql_node *n,
                          tr_pq_over_fn f,
                          size_t mat_arg,
                          bool keep,
                          const struct tr_pq_grid *g,
                          struct tr_pq_bval **out)
{
    size_t na = n->call.n_args;
    struct tr_pq_value args[5];
    memset(args, 0, sizeof(args));
    for (size_t i = 0; i < na; i++) {
        if (i != mat_arg) {
            args[i].type = TR_PROMQL_TYPE_SCALAR;
            bt__literal(n->call.args[i], &args[i].scalar);
        } else {
            args[i].type = TR_PROMQL_TYPE_MATRIX;
        }
    }
    const struct tr_promql_node *m = tr_pq_unparen(n->call.args[mat_arg]);
    struct tr_pq_bval *b = bt__new(g, false);
    if (b == NULL) {
        return bt__oom(e);
    }
    *out = b;
    struct bt_rf rf;
    memset(&rf, 0, sizeof(rf));
    rf.e = e;
    rf.call = n;
    rf.f = f;
    rf.keep = keep;
    rf.args = args;
    rf.mod = m;
    rf.g = g;
    int rv = 0;
    if (m->kind == TR_PROMQL_NODE_MATRIX_SEL) {
        rf.sel = tr_pq_ev_sel(e, m->ms.vs);
        rf.n_in = rf.sel != NULL ? rf.sel->res.n_series : 0;
        size_t total = 0;
        for (size_t i = 0; i < rf.n_in; i++) {
            total += rf.sel->res.series[i].n_samples;
        }
        rv = tr_pq_ev_add_samples(e, total);
        if (rv == 0) {
            rv = bt__rf_run(&rf, b);
        }
        e->cur_samples -= total;
    } else {
        struct tr_pq_bval *inner = NULL;
        rv = bt__subquery_inner(e, m, g, &inner);
        if (rv == 0) {
            rf.inner = inner;
            rf.n_in = inner->scalar ? 1 : inner->n;
            rv = bt__rf_run(&rf, b);
        }
        tr_pq_bval_free(e, inner);
    }
    if (rv == 0 && !keep) {
        rv = bt__check_dups(e, b);
    }
    return rv != 0 ? rv : bt__count(e, b);
}

/* ---- aggregations -------------------------------------------------------- */

static bool bt__aggr_simple(enum tr_promql_aggr op)
{
    switch (op) {
        case TR_PROMQL_AGGR_SUM:
        case TR_PROMQL_AGGR_AVG:
        case TR_PROMQL_AGGR_COUNT:
        case TR_PROMQL_AGGR_MIN:
        case TR_PROMQL_AGGR_MAX:
        case TR_PROMQL_AGGR_GROUP:
        case TR_PROMQL_AGGR_STDDEV:
        case TR_PROMQL_AGGR_STDVAR:
            return true;
        default:
            return false;
    }
}

/* Per group and time: the running state of eval_aggr.c's aggr_group. */
struct bt_agg {
    double *v;
    double *mean;
    double *count;
};

static int bt__aggregate(struct tr_pq_ev *e,
                         const struct tr_promql_node *n,
                         const struct tr_pq_grid *g,
                         struct tr_pq_bval **out)
{
    struct tr_pq_bval *in = NULL;
    int rv = bt__eval(e, n->agg.expr, g, &in);
    if (rv != 0) {
        tr_pq_bval_free(e, in);
        return rv;
    }
    struct tr_pq_bval *b = bt__new(g, false);
    if (b == NULL) {
        tr_pq_bval_free(e, in);
        return bt__oom(e);
    }
    *out = b;
    enum tr_promql_aggr op = n->agg.op;
    size_t gn = g->n ? g->n : 1;
    struct tr_arena tmp;
    tr_arena_init(&tmp, 16 * 1024);
    size_t *grp = tr_malloc((in->n ? in->n : 1) * sizeof(*grp));
    struct bt_agg *st = tr_calloc(in->n ? in->n : 1, sizeof(*st));
    struct tr_pq_kmap m;
    if (grp == NULL || st == NULL ||
        tr_pq_kmap_init(&m, &tmp, in->n ? in->n : 1) != 0) {
        rv = bt__oom(e);
    }
    size_t ng = 0;
    for (size_t i = 0; rv == 0 && i < in->n; i++) {
        const struct tr_pq_bser *s = &in->s[i];
        const char *key;
        size_t kl;
        if (tr_pq_sig(&tmp, s->labels, s->n_labels, !n->agg.without,
                      &n->agg.grouping, &key, &kl) != 0) {
            rv = bt__oom(e);
            break;
        }
        struct tr_pq_kent *slot = tr_pq_kmap_slot(&m, key, kl);
        if (!slot->used) {
            size_t nl;
            struct tr_label *ls =
                tr_pq_aggr_group_labels(&e->larena, s->labels, s->n_labels,
                                        n->agg.without, &n->agg.grouping, &nl);
            struct tr_pq_bser *o = ls ? bt__add(b, ls, nl) : NULL;
            struct bt_agg *a = &st[ng];
            a->v = tr_arena_alloc(&tmp, gn * sizeof(double));
            a->mean = tr_arena_alloc(&tmp, gn * sizeof(double));
            a->count = tr_arena_alloc(&tmp, gn * sizeof(double));
            if (o == NULL || a->v == NULL || a->mean == NULL ||
                a->count == NULL) {
                rv = bt__oom(e);
                break;
            }
            memset(a->count, 0, gn * sizeof(double));
            slot->used = true;
            slot->v = ng++;
        }
        grp[i] = slot->v;
    }
    /* series in input order, as the step-by-step evaluator adds them */
    for (size_t i = 0; rv == 0 && i < in->n; i++) {
        const struct tr_pq_bser *s = &in->s[i];
        struct bt_agg *a = &st[grp[i]];
        for (size_t k = 0; k < g->n; k++) {
            if (!s->ok[k]) {
                continue;
            }
            double v = s->v[k];
            if (a->count[k] == 0) {
                a->count[k] = 1;
                a->v[k] =
                    op == TR_PROMQL_AGGR_STDDEV || op == TR_PROMQL_AGGR_STDVAR
                        ? 0
                        : v;
                a->mean[k] = v;
                continue;
            }
            double c = ++a->count[k];
            switch (op) {
                case TR_PROMQL_AGGR_SUM:
                    a->v[k] += v;
                    break;
                case TR_PROMQL_AGGR_AVG:
                    if (isinf(a->mean[k])) {
                        if (isinf(v) && (a->mean[k] > 0) == (v > 0)) {
                            break;
                        }
                        if (!isinf(v) && !isnan(v)) {
                            break;
                        }
                    }
                    a->mean[k] += v / c - a->mean[k] / c;
                    break;
                case TR_PROMQL_AGGR_MIN:
                    if (a->v[k] > v || isnan(a->v[k])) {
                        a->v[k] = v;
                    }
                    break;
                case TR_PROMQL_AGGR_MAX:
                    if (a->v[k] < v || isnan(a->v[k])) {
                        a->v[k] = v;
                    }
                    break;
                case TR_PROMQL_AGGR_STDDEV:
                case TR_PROMQL_AGGR_STDVAR: {
                    double delta = v - a->mean[k];
                    a->mean[k] += delta / c;
                    a->v[k] += delta * (v - a->mean[k]);
                    break;
                }
                default:
                    break;
            }
        }
        if ((i & 255) == 255) {
            rv = tr_pq_ev_deadline(e);
        }
    }
    for (size_t j = 0; rv == 0 && j < ng; j++) {
        struct tr_pq_bser *o = &b->s[j];
        struct bt_agg *a = &st[j];
        for (size_t k = 0; k < g->n; k++) {
            if (a->count[k] == 0) {
                continue;
            }
            double v = a->v[k];
            switch (op) {
                case TR_PROMQL_AGGR_AVG:
                    v = a->mean[k];
                    break;
                case TR_PROMQL_AGGR_COUNT:
                    v = a->count[k];
                    break;
                case TR_PROMQL_AGGR_GROUP:
                    v = 1;
                    break;
                case TR_PROMQL_AGGR_STDVAR:
                    v = a->v[k] / a->count[k];
                    break;
                case TR_PROMQL_AGGR_STDDEV:
                    v = sqrt(a->v[k] / a->count[k]);
                    break;
                default:
                    break;
            }
            o->v[k] = v;
            o->ok[k] = 1;
        }
    }
    tr_free(grp);
    tr_free(st);
    tr_arena_free(&tmp);
    tr_pq_bval_free(e, in);
    return rv != 0 ? rv : bt__count(e, b);
}

/* ---- operators --------------------------------------------------- */

static int bt__binary_scalar(struct tr_pq_ev *e,
                             const struct tr_promql_node *n,
                             const struct tr_pq_grid *g,
                             struct tr_pq_bval **out)
{
    struct tr_pq_bval *l = NULL, *r = NULL;
    int rv = bt__eval(e, n->bin.lhs, g, &l);
    if (rv == 0) {
        rv = bt__eval(e, n->bin.rhs, g, &r);
    }
    struct tr_pq_bval *b = NULL;
    if (rv == 0) {
        b = bt__new(g, l->scalar && r->scalar);
        rv = b == NULL ? bt__oom(e) : 0;
    }
    *out = b;
    enum tr_promql_tok op = n->bin.op;
    if (rv == 0 && b->scalar) {
        for (size_t k = 0; k < g->n; k++) {
            bool keep;
            double v = tr_pq_ev_binop(op, l->sv[k], r->sv[k], &keep);
            b->sv[k] = n->bin.return_bool ? (keep ? 1.0 : 0.0) : v;
        }
    } else if (rv == 0) {
        bool swap = l->scalar;
        const struct tr_pq_bval *vec = swap ? r : l, *sc = swap ? l : r;
        bool drop = tr_pq_ev_drops_name(op) || n->bin.return_bool;
        bool cmp = tr_promql_op_is_comparison(op);
        for (size_t i = 0; rv == 0 && i < vec->n; i++) {
            const struct tr_pq_bser *s = &vec->s[i];
            struct tr_label *ls = s->labels;
            size_t nl = s->n_labels;
            if (drop) {
                ls = tr_pq_labels_drop_name(&e->larena, s->labels, s->n_labels,
                                            &nl);
            }
            struct tr_pq_bser *o = ls ? bt__add(b, ls, nl) : NULL;
            if (o == NULL) {
                rv = bt__oom(e);
                break;
            }
            bool any = false;
            for (size_t k = 0; k < g->n; k++) {
                if (!s->ok[k]) {
                    continue;
                }
                double lv = swap ? sc->sv[k] : s->v[k];
                double rvv = swap ? s->v[k] : sc->sv[k];
                bool keep;
                double v = tr_pq_ev_binop(op, lv, rvv, &keep);
                if (cmp && swap) {
                    v = s->v[k];
                }
                if (n->bin.return_bool) {
                    v = keep ? 1.0 : 0.0;
                } else if (!keep) {
                    continue;
                }
                o->v[k] = v;
                o->ok[k] = 1;
                any = true;
            }
            if (!any) {
                bt__pop(b);
            }
        }
        if (rv == 0 && drop) {
            rv = bt__check_dups(e, b);
        }
    }
    tr_pq_bval_free(e, l);
    tr_pq_bval_free(e, r);
    return rv != 0 ? rv : bt__count(e, b);
}

/* ---- generic path ------------------------------------------------ */

/* Evaluates child c for the times of g and registers it, unless the
 * step-by-step code reads it some other way. */
static int bt__prepare(struct tr_pq_ev *e,
                       const struct tr_promql_node *c,
                       const struct tr_pq_grid *g)
{
    const struct tr_promql_node *u = tr_pq_unparen(c);
    if (u->kind == TR_PROMQL_NODE_NUMBER || u->kind == TR_PROMQL_NODE_STRING ||
        u->kind == TR_PROMQL_NODE_MATRIX_SEL) {
        return 0;
    }
    struct tr_pq_bval *b = NULL;
    int rv;
    if (u->kind == TR_PROMQL_NODE_SUBQUERY) {
        rv = bt__subquery_inner(e, u, g, &b);
        if (rv == 0) {
            rv = bt__register(e, u->sq.expr, b);
        }
    } else {
        rv = bt__eval(e, u, g, &b);
        if (rv == 0) {
            rv = bt__register(e, u, b);
        }
    }
    if (rv != 0) {
        tr_pq_bval_free(e, b);
    }
    return rv;
}

static int bt__generic(struct tr_pq_ev *e,
                       const struct tr_promql_node *n,
                       const struct tr_pq_grid *g,
                       struct tr_pq_bval **out)
{
    size_t mark = e->n_reg;
    int rv = 0;
    switch (n->kind) {
        case TR_PROMQL_NODE_BINARY:
            rv = bt__prepare(e, n->bin.lhs, g);
            if (rv == 0) {
                rv = bt__prepare(e, n->bin.rhs, g);
            }
            break;
        case TR_PROMQL_NODE_AGGREGATE:
            if (n->agg.param != NULL) {
                rv = bt__prepare(e, n->agg.param, g);
            }
            if (rv == 0) {
                rv = bt__prepare(e, n->agg.expr, g);
            }
            break;
        case TR_PROMQL_NODE_UNARY:
            rv = bt__prepare(e, n->unary.expr, g);
            break;
        case TR_PROMQL_NODE_CALL: {
            bool ts_fn = strcmp(n->call.func->name, "timestamp") == 0;
            for (size_t i = 0; rv == 0 && i < n->call.n_args; i++) {
                const struct tr_promql_node *a = tr_pq_unparen(n->call.args[i]);
                if (ts_fn && a->kind == TR_PROMQL_NODE_VECTOR_SEL) {
                    continue; /* timestamp() reads the samples' times */
                }
                rv = bt__prepare(e, n->call.args[i], g);
            }
            break;
        }
        default:
            break;
    }
    struct tr_pq_bval *b = NULL;
    if (rv == 0) {
        b = bt__new(g, n->type == TR_PROMQL_TYPE_SCALAR);
        rv = b == NULL ? bt__oom(e) : 0;
    }
    *out = b;
    struct tr_arena step;
    tr_arena_init(&step, 64 * 1024);
    struct tr_arena *saved = e->scratch;
    /* restored before returning */
    /* cppcheck-suppress autoVariables */
    e->scratch = &step;
    size_t base = e->cur_samples;
    for (size_t k = 0; rv == 0 && k < g->n; k++) {
        tr_arena_reset(&step);
        e->cur_samples = base;
        struct tr_pq_value v;
        rv = tr_pq_ev_eval(e, n, g->ts[k], &v);
        if (rv != 0) {
            break;
        }
        if (b->scalar) {
            b->sv[k] = v.type == TR_PROMQL_TYPE_SCALAR ? v.scalar : NAN;
            continue;
        }
        for (size_t i = 0; i < v.vec.n; i++) {
            const struct tr_pq_sample *smp = &v.vec.s[i];
            struct tr_pq_bser *s =
                bt__series_for(e, b, smp->labels, smp->n_labels);
            if (s == NULL) {
                rv = bt__oom(e);
                break;
            }
            if (s->ok[k]) {
                rv = tr_errf(TR_EEXEC, e->errmsg,
                             "vector cannot contain metrics with the same "
                             "labelset");
                break;
            }
            s->v[k] = smp->v;
            s->ok[k] = 1;
        }
    }
    e->cur_samples = base;
    e->scratch = saved;
    tr_arena_free(&step);
    bt__unregister(e, mark);
    return rv != 0 ? rv : bt__count(e, b);
}

/* ---- dispatch ---------------------------------------------------- */

static int bt__eval(struct tr_pq_ev *e,
                    const struct tr_promql_node *n,
                    const struct tr_pq_grid *g,
                    struct tr_pq_bval **out)
{
    *out = NULL;
    int rv = tr_pq_ev_deadline(e);
    if (rv != 0) {
        return rv;
    }
    n = tr_pq_unparen(n);
    switch (n->kind) {
        case TR_PROMQL_NODE_NUMBER: {
            struct tr_pq_bval *b = bt__new(g, true);
            if (b == NULL) {
                return bt__oom(e);
            }
            for (size_t k = 0; k < g->n; k++) {
                b->sv[k] = n->num.val;
            }
            *out = b;
            return 0;
        }
        case TR_PROMQL_NODE_VECTOR_SEL:
            rv = bt__vector_sel(e, n, g, out);
            break;
        case TR_PROMQL_NODE_CALL: {
            tr_pq_over_fn f;
            size_t mat_arg;
            bool keep;
            bool fast =
                tr_pq_func_over(n->call.func->name, &f, &mat_arg, &keep) &&
                mat_arg < n->call.n_args && n->call.n_args <= 5;
            for (size_t i = 0; fast && i < n->call.n_args; i++) {
                double lit;
                const struct tr_promql_node *a = tr_pq_unparen(n->call.args[i]);
                fast = i == mat_arg ? (a->kind == TR_PROMQL_NODE_MATRIX_SEL ||
                                       a->kind == TR_PROMQL_NODE_SUBQUERY)
                                    : bt__literal(a, &lit);
            }
            rv = fast ? bt__range_func(e, n, f, mat_arg, keep, g, out)
                      : bt__generic(e, n, g, out);
            break;
        }
        case TR_PROMQL_NODE_AGGREGATE:
            rv = n->agg.param == NULL && bt__aggr_simple(n->agg.op)
                     ? bt__aggregate(e, n, g, out)
                     : bt__generic(e, n, g, out);
            break;
        case TR_PROMQL_NODE_BINARY:
            rv = (n->bin.lhs->type == TR_PROMQL_TYPE_SCALAR ||
                  n->bin.rhs->type == TR_PROMQL_TYPE_SCALAR)
                     ? bt__binary_scalar(e, n, g, out)
                     : bt__generic(e, n, g, out);
            break;
        case TR_PROMQL_NODE_STRING:
        case TR_PROMQL_NODE_MATRIX_SEL:
        case TR_PROMQL_NODE_SUBQUERY:
            return tr_errf(TR_EEXEC, e->errmsg,
                           "a range vector or string cannot be evaluated "
                           "at steps");
        default:
            rv = bt__generic(e, n, g, out);
            break;
    }
    if (rv != 0) {
        tr_pq_bval_free(e, *out);
        *out = NULL;
    }
    return rv;
}

int tr_pq_batch_eval(struct tr_pq_ev *e,
                     const struct tr_promql_node *n,
                     const struct tr_pq_grid *g,
                     struct tr_pq_bval **out)
{
    return bt__eval(e, n, g, out);
}

/* ---- subqueries (both evaluators) -------------------------------- */

int tr_pq_ev_subquery(struct tr_pq_ev *e,
                      const struct tr_promql_node *n,
                      int64_t t,
                      struct tr_pq_value *out)
{
    int64_t ref = tr_pq_ev_at(e, n->sq.at, n->sq.at_ms, t) - n->sq.offset_ms;
    struct tr_pq_bval *b = bt__lookup(e, n->sq.expr);
    struct tr_pq_bval *own = NULL;
    int rv;
    if (b == NULL) {
        /* evaluated on its own (instant query, or a subquery inside a
         * node that is evaluated step by step) */
        struct tr_pq_grid one = {&t, 1};
        rv = bt__subquery_inner(e, n, &one, &own);
        if (rv != 0) {
            return rv;
        }
        b = own;
    }
    /* the times of b inside [ref - range, ref] */
    size_t lo = bt__grid_lower(&b->g, ref - n->sq.range_ms);
    size_t end = lo;
    while (end < b->g.n && b->g.ts[end] <= ref) {
        end++;
    }
    out->type = TR_PROMQL_TYPE_MATRIX;
    size_t total = 0;
    rv = tr_pq_bval_matrix(e, b, lo, end, e->scratch, false, &out->mat, &total);
    tr_pq_bval_free(e, own);
    return rv != 0 ? rv : tr_pq_ev_add_samples(e, total);
}

int tr_pq_bval_matrix(struct tr_pq_ev *e,
                      const struct tr_pq_bval *b,
                      size_t lo,
                      size_t hi,
                      struct tr_arena *a,
                      bool copy_labels,
                      struct tr_pq_matrix *out,
                      size_t *points)
{
    size_t rows = b->scalar ? 1 : b->n;
    *points = 0;
    out->n = 0;
    out->s = tr_arena_alloc(a, (rows ? rows : 1) * sizeof(*out->s));
    if (out->s == NULL) {
        return bt__oom(e);
    }
    for (size_t i = 0; i < rows; i++) {
        size_t np = 0;
        for (size_t k = lo; k < hi; k++) {
            np += b->scalar || b->s[i].ok[k];
        }
        if (np == 0) {
            continue;
        }
        struct tr_pq_series *s = &out->s[out->n];
        s->n_labels = b->scalar ? 0 : b->s[i].n_labels;
        s->labels = b->scalar ? NULL : b->s[i].labels;
        if (copy_labels) {
            s->labels = tr_pq_ev_labels_dup(a, s->labels, s->n_labels);
        }
        s->pts = tr_arena_alloc(a, np * sizeof(*s->pts));
        if (s->pts == NULL || (copy_labels && s->labels == NULL)) {
            return bt__oom(e);
        }
        s->n = 0;
        for (size_t k = lo; k < hi; k++) {
            if (b->scalar || b->s[i].ok[k]) {
                s->pts[s->n].t = b->g.ts[k];
                s->pts[s->n++].v = b->scalar ? b->sv[k] : b->s[i].v[k];
            }
        }
        *points += np;
        out->n++;
    }
    /* sorted by labels, as Prometheus returns range results */
    tr_pq_matrix_sort(out);
    return 0;
}
