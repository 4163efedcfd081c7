/* eval_vector.c - LogQL operations on instant vectors: vector aggregations
 * (sum avg count min max stddev stdvar topk bottomk sort sort_desc), binary
 * operations with Loki's vector matching, label_replace (PromQL's
 * implementation) and label grouping helpers. Groups and matching look
 * signatures (encoded label subsets) up in hash tables. */
#include "query/promql/funcs_int.h"

#include "lib/hash.h"
#include "query/logql/eval_int.h"

/* ---- labels ---------------------------------------------------------------
 */

static bool name_in(struct tr_slice name, const struct tr_logql_labels *ns)
{
    for (size_t i = 0; i < ns->n; i++) {
        size_t l = strlen(ns->names[i]);
        if (l == name.len && memcmp(ns->names[i], name.base, l) == 0) {
            return true;
        }
    }
    return false;
}

int tr_logql_labels_group(const struct tr_label *ls,
                          size_t n,
                          const struct tr_logql_labels *names,
                          bool without,
                          struct tr_arena *a,
                          struct tr_label **out,
                          size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (n == 0) {
        return 0;
    }
    struct tr_label *o = tr_arena_alloc(a, n * sizeof(*o));
    if (!o) {
        return TR_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (name_in(ls[i].name, names) != without) {
            o[k++] = ls[i];
        }
    }
    *out = k ? o : NULL;
    *n_out = k;
    return 0;
}

/* Signature of a sample's labels for matching / grouping: the encoded
 * subset (on: only names; else every label but names). */
static struct tr_slice sig(struct tr_arena *a,
                           const struct tr_label *ls,
                           size_t n,
                           const struct tr_logql_labels *names,
                           bool only)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (name_in(ls[i].name, names) == only) {
            len += ls[i].name.len + ls[i].value.len + 2;
        }
    }
    char *p = tr_arena_alloc(a, len + 1);
    struct tr_slice s = {p, 0};
    if (!p) {
        return s;
    }
    for (size_t i = 0; i < n; i++) {
        if (name_in(ls[i].name, names) == only) {
            memcpy(p + s.len, ls[i].name.base, ls[i].name.len);
            s.len += ls[i].name.len;
            p[s.len++] = '\xff';
            memcpy(p + s.len, ls[i].value.base, ls[i].value.len);
            s.len += ls[i].value.len;
            p[s.len++] = '\xfe';
        }
    }
    return s;
}

static bool slice_eq(struct tr_slice a, struct tr_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

/* A set of signatures (slices owned by the caller) with an index each:
 * open addressing, sized once for n keys (arena memory). */
struct sigtab {
    uint32_t *slots; /* index + 1; 0 empty */
    struct tr_slice *keys;
    size_t cap; /* power of two >= 2n */
};

static int sigtab_init(struct sigtab *t, struct tr_arena *a, size_t n)
{
    t->cap = 16;
    while (t->cap < 2 * n + 2) {
        t->cap *= 2;
    }
    t->slots = tr_arena_alloc(a, t->cap * sizeof(*t->slots));
    t->keys = tr_arena_alloc(a, (n + 1) * sizeof(*t->keys));
    if (!t->slots || !t->keys) {
        return TR_ENOMEM;
    }
    memset(t->slots, 0, t->cap * sizeof(*t->slots));
    return 0;
}

/* Index stored for key, or -1; with put >= 0 stores key -> put when
 * absent (the caller never puts more keys than sized for). */
static long sigtab_get(struct sigtab *t, struct tr_slice key, long put)
{
    size_t j = tr_hash64(key.base, key.len, 0) & (t->cap - 1);
    while (t->slots[j]) {
        uint32_t k = t->slots[j] - 1;
        if (slice_eq(t->keys[k], key)) {
            return (long)k;
        }
        j = (j + 1) & (t->cap - 1);
    }
    if (put >= 0) {
        t->keys[put] = key;
        t->slots[j] = (uint32_t)put + 1;
    }
    return -1;
}

static int push(struct tr_arena *a,
                struct tr_pq_vector *v,
                size_t *cap,
                struct tr_label *ls,
                size_t n,
                int64_t t,
                double val)
{
    if (v->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        struct tr_pq_sample *s = tr_arena_alloc(a, nc * sizeof(*s));
        if (!s) {
            return TR_ENOMEM;
        }
        if (v->n) {
            memcpy(s, v->s, v->n * sizeof(*s));
        }
        v->s = s;
        *cap = nc;
    }
    v->s[v->n++] = (struct tr_pq_sample){ls, n, t, val};
    return 0;
}

/* ---- vector aggregation ----------------------------------------------------
 */

struct group {
    struct tr_slice key;
    struct tr_label *labels;
    size_t n_labels;
    double value, mean;
    size_t count;
    struct tr_pq_sample **members; /* topk/bottomk */
    size_t n_members;
};

/* topk order: larger first, NaN last (bottomk: smaller first). */
static bool k_before(double a, double b, bool top)
{
    if (isnan(a)) {
        return false;
    }
    if (isnan(b)) {
        return true;
    }
    return top ? a > b : a < b;
}

static int cmp_sort_asc(const void *x, const void *y)
{
    const struct tr_pq_sample *a = x, *b = y;
    if (isnan(a->v) != isnan(b->v)) {
        return isnan(a->v) ? 1 : -1;
    }
    if (a->v < b->v) {
        return -1;
    }
    if (a->v > b->v) {
        return 1;
    }
    return tr_labels_cmp(a->labels, a->n_labels, b->labels, b->n_labels);
}

static int cmp_sort_desc(const void *x, const void *y)
{
    const struct tr_pq_sample *a = x, *b = y;
    if (isnan(a->v) != isnan(b->v)) {
        return isnan(a->v) ? 1 : -1;
    }
    if (a->v > b->v) {
        return -1;
    }
    if (a->v < b->v) {
        return 1;
    }
    return tr_labels_cmp(a->labels, a->n_labels, b->labels, b->n_labels);
}

int tr_logql_vec_aggr(const struct tr_logql_expr *e,
                      const struct tr_pq_vector *in,
                      int64_t t_ms,
                      struct tr_arena *a,
                      struct tr_pq_vector *out)
{
    enum tr_logql_vector_op op = e->vector_aggr.op;
    const struct tr_logql_grouping *g = &e->vector_aggr.grouping;
    bool without = g->present && g->without;
    struct tr_logql_labels none = {0};
    const struct tr_logql_labels *names = g->present ? &g->labels : &none;
    size_t cap = 0;
    out->s = NULL;
    out->n = 0;
    if (op == TR_LOGQL_VEC_SORT || op == TR_LOGQL_VEC_SORT_DESC) {
        for (size_t i = 0; i < in->n; i++) {
            if (push(a, out, &cap, in->s[i].labels, in->s[i].n_labels, t_ms,
                     in->s[i].v)) {
                return TR_ENOMEM;
            }
        }
        tr_logql_sort(out->s, out->n, sizeof(*out->s),
                      op == TR_LOGQL_VEC_SORT ? cmp_sort_asc : cmp_sort_desc);
        return 0;
    }
    struct group *gs = tr_arena_alloc(a, (in->n + 1) * sizeof(*gs));
    if (!gs) {
        return TR_ENOMEM;
    }
    size_t n_g = 0;
    struct sigtab gt;
    if (sigtab_init(&gt, a, in->n)) {
        return TR_ENOMEM;
    }
    bool kop = op == TR_LOGQL_VEC_TOPK || op == TR_LOGQL_VEC_BOTTOMK ||
               op == TR_LOGQL_VEC_APPROX_TOPK;
    for (size_t i = 0; i < in->n; i++) {
        const struct tr_pq_sample *s = &in->s[i];
        struct tr_slice k = sig(a, s->labels, s->n_labels, names, !without);
        if (!k.base) {
            return TR_ENOMEM;
        }
        long gi = sigtab_get(&gt, k, (long)n_g);
        struct group *gr = gi >= 0 ? &gs[gi] : NULL;
        double v = s->v;
        if (!gr) {
            gr = &gs[n_g++];
            memset(gr, 0, sizeof(*gr));
            gr->key = k;
            if (tr_logql_labels_group(s->labels, s->n_labels, names, without, a,
                                      &gr->labels, &gr->n_labels)) {
                return TR_ENOMEM;
            }
            gr->value = v;
            gr->mean = v;
            gr->count = 1;
            if (op == TR_LOGQL_VEC_STDDEV || op == TR_LOGQL_VEC_STDVAR) {
                gr->value = 0;
            }
            if (kop) {
                gr->members = tr_arena_alloc(a, in->n * sizeof(*gr->members));
                if (!gr->members) {
                    return TR_ENOMEM;
                }
                gr->members[gr->n_members++] = &in->s[i];
            }
            continue;
        }
        gr->count++;
        switch (op) {
            case TR_LOGQL_VEC_SUM:
                gr->value += v;
                break;
            case TR_LOGQL_VEC_AVG:
                if (isinf(gr->mean) &&
                    ((isinf(v) && (gr->mean > 0) == (v > 0)) ||
                     (!isinf(v) && !isnan(v)))) {
                    break;
                }
                gr->mean += (v - gr->mean) / (double)gr->count;
                break;
            case TR_LOGQL_VEC_MAX:
                if (gr->value < v || isnan(gr->value)) {
                    gr->value = v;
                }
                break;
            case TR_LOGQL_VEC_MIN:
                if (gr->value > v || isnan(gr->value)) {
                    gr->value = v;
                }
                break;
            case TR_LOGQL_VEC_STDDEV:
            case TR_LOGQL_VEC_STDVAR: {
                double d = v - gr->mean;
                gr->mean += d / (double)gr->count;
                gr->value += d * (v - gr->mean);
                break;
            }
            default:
                if (kop) {
                    gr->members[gr->n_members++] = &in->s[i];
                }
                break;
        }
    }
    for (size_t j = 0; j < n_g; j++) {
        struct group *gr = &gs[j];
        double v = gr->value;
        switch (op) {
            case TR_LOGQL_VEC_AVG:
                v = gr->mean;
                break;
            case TR_LOGQL_VEC_COUNT:
                v = (double)gr->count;
                break;
            case TR_LOGQL_VEC_STDDEV:
                v = sqrt(gr->value / (double)gr->count);
                break;
            case TR_LOGQL_VEC_STDVAR:
                v = gr->value / (double)gr->count;
                break;
            default:
                break;
        }
        if (kop) {
            bool top = op != TR_LOGQL_VEC_BOTTOMK;
            /* selection of the k first by value (stable insertion) */
            for (size_t x = 1; x < gr->n_members; x++) {
                struct tr_pq_sample *m = gr->members[x];
                size_t y = x;
                while (y > 0 && k_before(m->v, gr->members[y - 1]->v, top)) {
                    gr->members[y] = gr->members[y - 1];
                    y--;
                }
                gr->members[y] = m;
            }
            size_t k = e->vector_aggr.k < 0 ? 0 : (size_t)e->vector_aggr.k;
            for (size_t x = 0; x < gr->n_members && x < k; x++) {
                if (push(a, out, &cap, gr->members[x]->labels,
                         gr->members[x]->n_labels, t_ms, gr->members[x]->v)) {
                    return TR_ENOMEM;
                }
            }
            continue;
        }
        if (push(a, out, &cap, gr->labels, gr->n_labels, t_ms, v)) {
            return TR_ENOMEM;
        }
    }
    return 0;
}

/* ---- binary operations ------------------------------------------------------
 */

double tr_logql_scalar_op(enum tr_logql_binop op,
                          double l,
                          double r,
                          bool *keep)
{
    *keep = true;
    switch (op) {
        case TR_LOGQL_OP_ADD:
            return l + r;
        case TR_LOGQL_OP_SUB:
            return l - r;
        case TR_LOGQL_OP_MUL:
            return l * r;
        case TR_LOGQL_OP_DIV:
            return r == 0 ? NAN : l / r;
        case TR_LOGQL_OP_MOD:
            return r == 0 ? NAN : fmod(l, r);
        case TR_LOGQL_OP_POW:
            return pow(l, r);
        case TR_LOGQL_OP_EQ:
            *keep = l == r;
            break;
        case TR_LOGQL_OP_NEQ:
            *keep = l != r;
            break;
        case TR_LOGQL_OP_GT:
            *keep = l > r;
            break;
        case TR_LOGQL_OP_GTE:
            *keep = l >= r;
            break;
        case TR_LOGQL_OP_LT:
            *keep = l < r;
            break;
        case TR_LOGQL_OP_LTE:
            *keep = l <= r;
            break;
        default:
            break;
    }
    return l;
}

/* Prometheus' resultMetric as Loki uses it. */
static int result_metric(const struct tr_logql_expr *e,
                         const struct tr_pq_sample *ls,
                         const struct tr_pq_sample *rs,
                         struct tr_arena *a,
                         struct tr_label **out,
                         size_t *n_out)
{
    size_t n = ls->n_labels, extra = e->binary.include.n;
    struct tr_label *o = tr_arena_alloc(a, (n + extra + 1) * sizeof(*o));
    if (!o) {
        return TR_ENOMEM;
    }
    size_t k = 0;
    bool one = e->binary.card == TR_LOGQL_CARD_ONE_TO_ONE;
    for (size_t i = 0; i < n; i++) {
        const struct tr_label *l = &ls->labels[i];
        if (one) {
            bool in = name_in(l->name, &e->binary.matching);
            if (e->binary.on ? !in : in) {
                continue;
            }
        }
        if (e->binary.has_include && name_in(l->name, &e->binary.include)) {
            continue; /* replaced below from the "one" side */
        }
        o[k++] = *l;
    }
    if (e->binary.has_include) {
        for (size_t j = 0; j < e->binary.include.n; j++) {
            const char *nm = e->binary.include.names[j];
            size_t nl = strlen(nm);
            for (size_t i = 0; i < rs->n_labels; i++) {
                const struct tr_label *l = &rs->labels[i];
                if (l->name.len == nl && memcmp(l->name.base, nm, nl) == 0 &&
                    l->value.len) {
                    o[k++] = *l;
                }
            }
        }
        tr_labels_sort(o, k);
    }
    *out = o;
    *n_out = k;
    return 0;
}

static int set_op(const struct tr_logql_expr *e,
                  const struct tr_pq_vector *l,
                  const struct tr_pq_vector *r,
                  struct tr_arena *a,
                  struct tr_pq_vector *out)
{
    const struct tr_logql_labels *m = &e->binary.matching;
    bool on = e->binary.on;
    size_t cap = 0;
    struct tr_slice *ls = tr_arena_alloc(a, (l->n + 1) * sizeof(*ls));
    struct tr_slice *rsg = tr_arena_alloc(a, (r->n + 1) * sizeof(*rsg));
    if (!ls || !rsg) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < l->n; i++) {
        ls[i] = sig(a, l->s[i].labels, l->s[i].n_labels, m, on);
        if (!ls[i].base) {
            return TR_ENOMEM;
        }
    }
    for (size_t i = 0; i < r->n; i++) {
        rsg[i] = sig(a, r->s[i].labels, r->s[i].n_labels, m, on);
        if (!rsg[i].base) {
            return TR_ENOMEM;
        }
    }
    struct sigtab lt, rt;
    if (sigtab_init(&lt, a, l->n) || sigtab_init(&rt, a, r->n)) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < l->n; i++) {
        sigtab_get(&lt, ls[i], (long)i);
    }
    for (size_t j = 0; j < r->n; j++) {
        sigtab_get(&rt, rsg[j], (long)j);
    }
    enum tr_logql_binop op = e->binary.op;
    for (size_t i = 0; i < l->n; i++) {
        bool found = sigtab_get(&rt, ls[i], -1) >= 0;
        bool keep = op == TR_LOGQL_OP_OR || (op == TR_LOGQL_OP_AND) == found;
        if (keep && push(a, out, &cap, l->s[i].labels, l->s[i].n_labels,
                         l->s[i].t, l->s[i].v)) {
            return TR_ENOMEM;
        }
    }
    if (op == TR_LOGQL_OP_OR) {
        for (size_t j = 0; j < r->n; j++) {
            bool found = sigtab_get(&lt, rsg[j], -1) >= 0;
            if (!found && push(a, out, &cap, r->s[j].labels, r->s[j].n_labels,
                               r->s[j].t, r->s[j].v)) {
                return TR_ENOMEM;
            }
        }
    }
    return 0;
}

static int vector_op(const struct tr_logql_expr *e,
                     const struct tr_pq_vector *lhs,
                     const struct tr_pq_vector *rhs,
                     struct tr_arena *a,
                     struct tr_pq_vector *out,
                     char *errmsg)
{
    const struct tr_logql_labels *m = &e->binary.matching;
    bool on = e->binary.on;
    bool swap = e->binary.card == TR_LOGQL_CARD_ONE_TO_MANY;
    bool one = e->binary.card == TR_LOGQL_CARD_ONE_TO_ONE;
    const struct tr_pq_vector *l = swap ? rhs : lhs, *r = swap ? lhs : rhs;
    size_t cap = 0;
    struct tr_slice *rsg = tr_arena_alloc(a, (r->n + 1) * sizeof(*rsg));
    struct sigtab rt, st;
    if (!rsg || sigtab_init(&rt, a, r->n) || sigtab_init(&st, a, l->n)) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < r->n; i++) {
        rsg[i] = sig(a, r->s[i].labels, r->s[i].n_labels, m, on);
        if (!rsg[i].base) {
            return TR_ENOMEM;
        }
        if (sigtab_get(&rt, rsg[i], (long)i) >= 0) {
            return tr_errf(TR_EEXEC, errmsg,
                           "found duplicate series on the %s hand-side "
                           "of the operation: many-to-many matching not "
                           "allowed: matching labels must be unique on "
                           "one side",
                           swap ? "left" : "right");
        }
    }
    /* st: matched signatures (one-to-one) or result label keys (group_x) */
    size_t n_seen = 0;
    struct tr_logql_labels none = {0};
    for (size_t i = 0; i < l->n; i++) {
        const struct tr_pq_sample *ls = &l->s[i];
        struct tr_slice s = sig(a, ls->labels, ls->n_labels, m, on);
        if (!s.base) {
            return TR_ENOMEM;
        }
        long ri = sigtab_get(&rt, s, -1);
        if (ri < 0) {
            continue;
        }
        const struct tr_pq_sample *rs = &r->s[ri];
        double vl = ls->v, vr = rs->v;
        if (swap) {
            vl = rs->v;
            vr = ls->v;
        }
        bool keep;
        double v = tr_logql_scalar_op(e->binary.op, vl, vr, &keep);
        if (e->binary.return_bool) {
            v = keep ? 1 : 0;
        } else if (!keep) {
            continue;
        }
        struct tr_label *ml;
        size_t nl;
        if (result_metric(e, ls, rs, a, &ml, &nl)) {
            return TR_ENOMEM;
        }
        struct tr_slice key = s;
        if (!one) {
            key = sig(a, ml, nl, &none, false);
            if (!key.base) {
                return TR_ENOMEM;
            }
        }
        if (sigtab_get(&st, key, (long)n_seen) >= 0) {
            return tr_errf(
                TR_EEXEC, errmsg,
                one ? "multiple matches for labels: many-to-one matching "
                      "must be explicit (group_left/group_right)"
                    : "multiple matches for labels: grouping labels must "
                      "ensure unique matches");
        }
        n_seen++;
        if (push(a, out, &cap, ml, nl, ls->t, v)) {
            return TR_ENOMEM;
        }
    }
    return 0;
}

int tr_logql_binop(const struct tr_logql_expr *e,
                   const struct tr_logql_sv *l,
                   const struct tr_logql_sv *r,
                   int64_t t_ms,
                   struct tr_arena *a,
                   struct tr_logql_sv *out,
                   char *errmsg)
{
    enum tr_logql_binop op = e->binary.op;
    bool keep;
    memset(out, 0, sizeof(*out));
    if (l->scalar && r->scalar) {
        double v = tr_logql_scalar_op(op, l->s, r->s, &keep);
        out->scalar = true;
        out->s = tr_logql_binop_is_comparison(op) ? (keep ? 1 : 0) : v;
        return 0;
    }
    if (l->scalar || r->scalar) {
        if (tr_logql_binop_is_set(op)) {
            return tr_errf(TR_EINVAL, errmsg,
                           "unexpected literal for %s leg of logical/set "
                           "binary operation (%s)",
                           l->scalar ? "left" : "right",
                           tr_logql_binop_name(op));
        }
        const struct tr_pq_vector *v = l->scalar ? &r->v : &l->v;
        double sc = l->scalar ? l->s : r->s;
        size_t cap = 0;
        for (size_t i = 0; i < v->n; i++) {
            double x = v->s[i].v;
            double res = l->scalar ? tr_logql_scalar_op(op, sc, x, &keep)
                                   : tr_logql_scalar_op(op, x, sc, &keep);
            if (tr_logql_binop_is_comparison(op)) {
                if (e->binary.return_bool) {
                    res = keep ? 1 : 0;
                } else if (!keep) {
                    continue;
                } else {
                    res = x;
                }
            }
            if (push(a, &out->v, &cap, v->s[i].labels, v->s[i].n_labels, t_ms,
                     res)) {
                return TR_ENOMEM;
            }
        }
        return 0;
    }
    if (tr_logql_binop_is_set(op)) {
        return set_op(e, &l->v, &r->v, a, &out->v);
    }
    return vector_op(e, &l->v, &r->v, a, &out->v, errmsg);
}

/* ---- label_replace
 * ------------------------------------------------------------ */

int tr_logql_label_replace(const struct tr_logql_expr *e,
                           const struct tr_pq_vector *in,
                           struct tr_arena *a,
                           struct tr_pq_vector *out,
                           char *errmsg)
{
    struct tr_pq_value args[5];
    memset(args, 0, sizeof(args));
    args[0].type = TR_PROMQL_TYPE_VECTOR;
    args[0].vec = *in;
    const char *strs[4] = {e->label_replace.dst, e->label_replace.replacement,
                           e->label_replace.src, e->label_replace.regex};
    size_t lens[4] = {strlen(e->label_replace.dst),
                      e->label_replace.replacement_len,
                      strlen(e->label_replace.src), e->label_replace.regex_len};
    for (int i = 0; i < 4; i++) {
        args[i + 1].type = TR_PROMQL_TYPE_STRING;
        args[i + 1].str = strs[i];
        args[i + 1].str_len = lens[i];
    }
    struct tr_pq_fctx ctx = {0};
    ctx.arena = a;
    ctx.errmsg = errmsg;
    return fn_label_replace(&ctx, args, 5, out);
}
