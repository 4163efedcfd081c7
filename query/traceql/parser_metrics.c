/* parser_metrics.c - TraceQL parser (2/2): scalar pipeline expressions,
 * metrics aggregates and math, second stages, hints, and the query's
 * alternatives tried in order (see parser.c for the grammar). */
#include <stdio.h>
#include <string.h>

#include "query/traceql/parser_int.h"

/* ---- scalar pipeline expressions -------------------------------------- */

static struct tr_traceql_scalar *p_spx(struct tr_tql_parser *p, int min);

/* ( pipeline | aggregate ) */
static struct tr_traceql_scalar *p_wrapped_scalar_pipeline(
    struct tr_tql_parser *p)
{
    size_t save = p->i;
    struct tr_traceql_pipeline *pl;
    struct tr_traceql_scalar *ag = NULL;
    if (!tok_expect(p, TR_TQL_T_OPEN_PARENS) || !(pl = tr_tql_p_pipeline(p)) ||
        !tok_expect(p, TR_TQL_T_PIPE) || !tr_tql_p_aggregate(p, &ag) ||
        !tok_expect(p, TR_TQL_T_CLOSE_PARENS)) {
        p->i = save;
        return NULL;
    }
    struct tr_traceql_stage st = {.kind = TR_TQL_STAGE_AGGREGATE};
    st.u.aggregate = ag;
    struct tr_traceql_pipeline *np = tr_tql_alloc(p, sizeof(*np));
    if (!np) {
        return NULL;
    }
    size_t cap = pl->n + 1;
    np->stages = tr_tql_alloc(p, cap * sizeof(*np->stages));
    if (!np->stages) {
        return NULL;
    }
    memcpy(np->stages, pl->stages, pl->n * sizeof(*np->stages));
    np->stages[pl->n] = st;
    np->n = pl->n + 1;
    struct tr_traceql_scalar *s = tr_tql_alloc(p, sizeof(*s));
    if (s) {
        s->kind = TR_TQL_S_PIPELINE;
        s->u.pipeline = np;
    }
    return s;
}

static struct tr_traceql_scalar *p_spx_primary_raw(struct tr_tql_parser *p)
{
    size_t save = p->i;
    if (!tr_tql_enter(p)) {
        return NULL;
    }
    struct tr_traceql_scalar *s = p_wrapped_scalar_pipeline(p);
    if (!s && tok_accept(p, TR_TQL_T_OPEN_PARENS)) {
        s = p_spx(p, 1);
        if (s && !tok_expect(p, TR_TQL_T_CLOSE_PARENS)) {
            s = NULL;
        }
    }
    if (!s) {
        p->i = save;
    }
    tr_tql_leave(p);
    return s;
}

static struct tr_traceql_scalar *p_spx_primary(struct tr_tql_parser *p)
{
    void *n;
    size_t start = p->i;
    if (tr_tql_memo_get(p, TR_TQL_MEMO_SPX, &n) >= 0) {
        return n;
    }
    struct tr_traceql_scalar *r = p_spx_primary_raw(p);
    tr_tql_memo_put(p, TR_TQL_MEMO_SPX, start, r);
    return r;
}

static struct tr_traceql_scalar *p_spx(struct tr_tql_parser *p, int min)
{
    struct tr_traceql_scalar *lhs = p_spx_primary(p);
    while (lhs) {
        enum tr_traceql_op op;
        bool right;
        int prec = tr_tql_arith_prec(tok_cur(p), &op, &right);
        if (prec < 0 || prec < min) {
            break;
        }
        size_t save = p->i;
        tok_advance(p);
        struct tr_traceql_scalar *rhs = p_spx(p, right ? prec : prec + 1);
        if (!rhs) {
            p->i = save;
            break;
        }
        struct tr_traceql_scalar *b = tr_tql_alloc(p, sizeof(*b));
        if (!b) {
            return NULL;
        }
        b->kind = TR_TQL_S_BINARY;
        b->u.bin.op = op;
        b->u.bin.lhs = lhs;
        b->u.bin.rhs = rhs;
        lhs = b;
    }
    return lhs;
}

/* ---- metrics ---------------------------------------------------------- */

static bool p_attr_list(struct tr_tql_parser *p,
                        struct tr_traceql_attr **out,
                        size_t *n)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    do {
        struct tr_traceql_attr a;
        if (!tr_tql_p_attribute(p, &a)) {
            return false;
        }
        if (!tr_tql_push(p, out, n, &cap, &a, sizeof(a))) {
            return false;
        }
    } while (tok_accept(p, TR_TQL_T_COMMA));
    return true;
}

static bool p_metrics_agg(struct tr_tql_parser *p,
                          struct tr_traceql_metrics_agg *m)
{
    size_t save = p->i;
    memset(m, 0, sizeof(*m));
    enum tr_tql_tok t = tok_cur(p);
    switch (t) {
        case TR_TQL_T_RATE:
            m->fn = TR_TQL_M_RATE;
            break;
        case TR_TQL_T_COUNT_OVER_TIME:
            m->fn = TR_TQL_M_COUNT_OVER_TIME;
            break;
        case TR_TQL_T_MIN_OVER_TIME:
            m->fn = TR_TQL_M_MIN_OVER_TIME;
            break;
        case TR_TQL_T_MAX_OVER_TIME:
            m->fn = TR_TQL_M_MAX_OVER_TIME;
            break;
        case TR_TQL_T_AVG_OVER_TIME:
            m->fn = TR_TQL_M_AVG_OVER_TIME;
            break;
        case TR_TQL_T_SUM_OVER_TIME:
            m->fn = TR_TQL_M_SUM_OVER_TIME;
            break;
        case TR_TQL_T_QUANTILE_OVER_TIME:
            m->fn = TR_TQL_M_QUANTILE_OVER_TIME;
            break;
        case TR_TQL_T_HISTOGRAM_OVER_TIME:
            m->fn = TR_TQL_M_HISTOGRAM_OVER_TIME;
            break;
        case TR_TQL_T_COMPARE:
            m->fn = TR_TQL_M_COMPARE;
            break;
        default:
            return tok_fail(p);
    }
    tok_advance(p);
    if (!tok_expect(p, TR_TQL_T_OPEN_PARENS)) {
        goto failed;
    }
    if (m->fn == TR_TQL_M_COMPARE) {
        m->compare = tr_tql_p_filter(p);
        if (!m->compare) {
            goto failed;
        }
        m->topn = 10;
        m->n_compare_args = 1;
        if (tok_accept(p, TR_TQL_T_COMMA)) {
            if (tok_cur(p) != TR_TQL_T_INTEGER) {
                tok_fail(p);
                goto failed;
            }
            m->topn = p->t[p->i].i;
            tok_advance(p);
            m->n_compare_args = 2;
            if (tok_accept(p, TR_TQL_T_COMMA)) {
                int64_t v[2];
                for (int k = 0; k < 2; k++) {
                    if (k == 1 && !tok_expect(p, TR_TQL_T_COMMA)) {
                        goto failed;
                    }
                    if (tok_cur(p) != TR_TQL_T_INTEGER) {
                        tok_fail(p);
                        goto failed;
                    }
                    v[k] = p->t[p->i].i;
                    tok_advance(p);
                }
                m->start = v[0];
                m->end = v[1];
                m->n_compare_args = 4;
            }
        }
        if (!tok_expect(p, TR_TQL_T_CLOSE_PARENS)) {
            goto failed;
        }
        return true;
    }
    if (m->fn != TR_TQL_M_RATE && m->fn != TR_TQL_M_COUNT_OVER_TIME) {
        if (!tr_tql_p_attribute(p, &m->attr)) {
            goto failed;
        }
        m->has_attr = true;
    }
    if (m->fn == TR_TQL_M_QUANTILE_OVER_TIME) {
        size_t cap = 0;
        if (!tok_expect(p, TR_TQL_T_COMMA)) {
            goto failed;
        }
        do {
            double q;
            if (tok_cur(p) == TR_TQL_T_INTEGER) {
                q = (double)p->t[p->i].i;
            } else if (tok_cur(p) == TR_TQL_T_FLOAT) {
                q = p->t[p->i].f;
            } else {
                tok_fail(p);
                goto failed;
            }
            tok_advance(p);
            if (!tr_tql_push(p, &m->quantiles, &m->n_quantiles, &cap, &q,
                             sizeof(q))) {
                return false;
            }
        } while (tok_accept(p, TR_TQL_T_COMMA));
    }
    if (!tok_expect(p, TR_TQL_T_CLOSE_PARENS)) {
        goto failed;
    }
    if (tok_cur(p) == TR_TQL_T_BY) {
        size_t bsave = p->i;
        tok_advance(p);
        if (!tok_expect(p, TR_TQL_T_OPEN_PARENS) ||
            !p_attr_list(p, &m->by, &m->n_by) ||
            !tok_expect(p, TR_TQL_T_CLOSE_PARENS)) {
            p->i = bsave;
            goto failed;
        }
    }
    return true;
failed:
    p->i = save;
    return false;
}

/* { | topk(n) | | bottomk(n) | cmp literal } appended to m's stages */
static bool p_second_stages(struct tr_tql_parser *p,
                            struct tr_traceql_metrics *m)
{
    size_t cap = m->n_stages;
    for (;;) {
        struct tr_traceql_second_stage s = {0};
        size_t save = p->i;
        if (tok_cur(p) == TR_TQL_T_PIPE &&
            (tok_ahead(p, 1) == TR_TQL_T_TOPK ||
             tok_ahead(p, 1) == TR_TQL_T_BOTTOMK)) {
            tok_advance(p);
            s.kind = tok_cur(p) == TR_TQL_T_TOPK ? TR_TQL_2ND_TOPK
                                                 : TR_TQL_2ND_BOTTOMK;
            tok_advance(p);
            if (!tok_expect(p, TR_TQL_T_OPEN_PARENS) ||
                tok_cur(p) != TR_TQL_T_INTEGER) {
                tok_fail(p);
                p->i = save;
                return false;
            }
            s.limit = p->t[p->i].i;
            tok_advance(p);
            if (!tok_expect(p, TR_TQL_T_CLOSE_PARENS)) {
                p->i = save;
                return false;
            }
        } else if (tr_tql_p_cmp(p, &s.op)) {
            struct tr_traceql_static st;
            if (!tr_tql_p_const(p, &st)) {
                p->i = save;
                return false;
            }
            s.kind = TR_TQL_2ND_FILTER;
            s.value = tr_tql_static_float(&st);
            if (st.type == TR_TQL_TYPE_DURATION) {
                s.value /= 1e9;
            }
        } else {
            return true;
        }
        if (!tr_tql_push(p, &m->stages, &m->n_stages, &cap, &s, sizeof(s))) {
            return false;
        }
    }
}

/* Metrics math operands: constants are kept in *st while folding. */
struct mx {
    struct tr_traceql_metrics *m; /* NULL: a constant */
    struct tr_traceql_static st;
};

static bool p_mx(struct tr_tql_parser *p, int min, struct mx *out);

/* ( pipeline | metrics_agg { second } ) */
static struct tr_traceql_metrics *p_wrapped_metrics(struct tr_tql_parser *p)
{
    size_t save = p->i;
    struct tr_traceql_pipeline *pl;
    struct tr_traceql_metrics *m = tr_tql_alloc(p, sizeof(*m));
    if (!m) {
        return NULL;
    }
    m->kind = TR_TQL_ME_PIPELINE;
    if (!tok_expect(p, TR_TQL_T_OPEN_PARENS) || !(pl = tr_tql_p_pipeline(p)) ||
        !tok_expect(p, TR_TQL_T_PIPE) || !p_metrics_agg(p, &m->agg) ||
        !p_second_stages(p, m) || !tok_expect(p, TR_TQL_T_CLOSE_PARENS)) {
        p->i = save;
        return NULL;
    }
    m->pipeline = pl;
    return m;
}

static bool p_mx_primary(struct tr_tql_parser *p, struct mx *out);

static bool p_mx_primary_raw(struct tr_tql_parser *p, struct mx *out)
{
    size_t save = p->i;
    bool ok = false;
    if (!tr_tql_enter(p)) {
        return false;
    }
    memset(out, 0, sizeof(*out));
    switch (tok_cur(p)) {
        case TR_TQL_T_OPEN_PARENS:
            out->m = p_wrapped_metrics(p);
            if (out->m) {
                ok = true;
                break;
            }
            if (p->abort) {
                break;
            }
            tok_advance(p);
            ok = p_mx(p, 1, out) && tok_expect(p, TR_TQL_T_CLOSE_PARENS);
            break;
        case TR_TQL_T_SUB:
            tok_advance(p);
            ok = p_mx_primary(p, out);
            if (ok && out->m) {
                p->i = save + 1;
                ok = tok_fail(p);
            } else if (ok) {
                tr_tql_negate(&out->st);
            }
            break;
        case TR_TQL_T_INTEGER:
        case TR_TQL_T_FLOAT:
        case TR_TQL_T_DURATION:
            ok = tr_tql_p_static(p, &out->st);
            break;
        default:
            ok = tok_fail(p);
            break;
    }
    if (!ok) {
        p->i = save;
    }
    tr_tql_leave(p);
    return ok;
}

static bool p_mx_primary(struct tr_tql_parser *p, struct mx *out)
{
    void *n;
    size_t start = p->i;
    int m = tr_tql_memo_get(p, TR_TQL_MEMO_MX, &n);
    if (m >= 0) {
        if (m > 0) {
            *out = *(const struct mx *)n;
        }
        return m > 0;
    }
    if (!p_mx_primary_raw(p, out)) {
        tr_tql_memo_put(p, TR_TQL_MEMO_MX, start, NULL);
        return false;
    }
    struct mx *copy = tr_tql_alloc(p, sizeof(*copy));
    if (!copy) {
        return false;
    }
    *copy = *out;
    tr_tql_memo_put(p, TR_TQL_MEMO_MX, start, copy);
    return true;
}

static struct tr_traceql_metrics *me_scalar(struct tr_tql_parser *p,
                                            const struct tr_traceql_static *st,
                                            size_t at)
{
    if (st->type == TR_TQL_TYPE_DURATION) {
        tr_tql_semantic(p, at,
                        "duration cannot be used as a scalar operand in metric "
                        "arithmetic");
        return NULL;
    }
    struct tr_traceql_metrics *m = tr_tql_alloc(p, sizeof(*m));
    if (m) {
        m->kind = TR_TQL_ME_SCALAR;
        m->value = tr_tql_static_float(st);
    }
    return m;
}

static bool p_mx(struct tr_tql_parser *p, int min, struct mx *out)
{
    if (!p_mx_primary(p, out)) {
        return false;
    }
    for (;;) {
        enum tr_traceql_op op;
        bool right;
        int prec = tr_tql_arith_prec(tok_cur(p), &op, &right);
        if (prec < 0 || prec < min || op == TR_TQL_OP_MOD ||
            op == TR_TQL_OP_POW) {
            break;
        }
        size_t save = p->i;
        tok_advance(p);
        struct mx rhs;
        if (!p_mx(p, prec + 1, &rhs)) {
            p->i = save;
            break;
        }
        if (!out->m && !rhs.m) {
            if (out->st.type == TR_TQL_TYPE_DURATION ||
                rhs.st.type == TR_TQL_TYPE_DURATION) {
                return tr_tql_semantic(
                    p, save, "duration cannot be used in scalar arithmetic");
            }
            struct tr_traceql_static r;
            if (!tr_tql_fold_arith(op, &out->st, &rhs.st, &r)) {
                return tr_tql_semantic(p, save, "division by zero");
            }
            out->st = r;
            continue;
        }
        struct tr_traceql_metrics *l = out->m, *r = rhs.m;
        if (!l && !(l = me_scalar(p, &out->st, save))) {
            return false;
        }
        if (!r && !(r = me_scalar(p, &rhs.st, save))) {
            return false;
        }
        struct tr_traceql_metrics *b = tr_tql_alloc(p, sizeof(*b));
        if (!b) {
            return false;
        }
        b->kind = TR_TQL_ME_BINARY;
        b->op = op;
        b->lhs = l;
        b->rhs = r;
        out->m = b;
    }
    return true;
}

/* ---- hints and the query ---------------------------------------------- */

static bool p_hints(struct tr_tql_parser *p, struct tr_traceql_query *q)
{
    while (tok_cur(p) == TR_TQL_T_WITH) {
        size_t cap = 0;
        q->hints = NULL;
        q->n_hints = 0;
        tok_advance(p);
        if (!tok_expect(p, TR_TQL_T_OPEN_PARENS)) {
            return false;
        }
        do {
            struct tr_traceql_hint h;
            if (tok_cur(p) != TR_TQL_T_IDENTIFIER) {
                return tok_fail(p);
            }
            h.name = p->t[p->i].str;
            tok_advance(p);
            if (!tok_expect(p, TR_TQL_T_EQ) || !tr_tql_p_static(p, &h.value)) {
                return false;
            }
            if (!tr_tql_push(p, &q->hints, &q->n_hints, &cap, &h, sizeof(h))) {
                return false;
            }
        } while (tok_accept(p, TR_TQL_T_COMMA));
        if (!tok_expect(p, TR_TQL_T_CLOSE_PARENS)) {
            return false;
        }
    }
    return true;
}

static bool at_end(struct tr_tql_parser *p, struct tr_traceql_query *q)
{
    return p_hints(p, q) && (tok_cur(p) == TR_TQL_T_EOF || tok_fail(p));
}

static bool root_pipeline(struct tr_tql_parser *p, struct tr_traceql_query *q)
{
    struct tr_traceql_pipeline *pl = tr_tql_p_pipeline(p);
    if (!pl) {
        return false;
    }
    if (tok_cur(p) == TR_TQL_T_PIPE) {
        size_t save = p->i;
        struct tr_traceql_metrics *m = tr_tql_alloc(p, sizeof(*m));
        if (!m) {
            return false;
        }
        tok_advance(p);
        if (p_metrics_agg(p, &m->agg)) {
            m->kind = TR_TQL_ME_PIPELINE;
            m->pipeline = pl;
            if (!p_second_stages(p, m)) {
                return false;
            }
            q->kind = TR_TQL_Q_METRICS;
            q->metrics = m;
            return at_end(p, q);
        }
        p->i = save;
    }
    struct tr_traceql_spanset *s = tr_tql_ss_new(p, TR_TQL_SS_PIPELINE);
    if (!s) {
        return false;
    }
    s->u.pipeline = pl;
    q->kind = TR_TQL_Q_SPANSET;
    q->spanset = s;
    return at_end(p, q);
}

static bool root_spanset_expr(struct tr_tql_parser *p,
                              struct tr_traceql_query *q)
{
    struct tr_traceql_spanset *s =
        tr_tql_p_spanset(p, 1, TR_TQL_SS_PIPES_FIRST);
    if (!s) {
        return false;
    }
    q->kind = TR_TQL_Q_SPANSET;
    q->spanset = s;
    return at_end(p, q);
}

static bool root_scalar_filter(struct tr_tql_parser *p,
                               struct tr_traceql_query *q)
{
    struct tr_traceql_scalar *lhs = p_spx(p, 1);
    if (!lhs || !tr_tql_p_cmp(p, &q->sfilter.op)) {
        return false;
    }
    struct tr_traceql_scalar *rhs = p_spx(p, 1);
    if (!rhs) {
        struct tr_traceql_static st;
        if (!tr_tql_p_const(p, &st) || !(rhs = tr_tql_s_static(p, &st))) {
            return false;
        }
    }
    q->kind = TR_TQL_Q_SCALAR_FILTER;
    q->sfilter.lhs = lhs;
    q->sfilter.rhs = rhs;
    return at_end(p, q);
}

static bool root_metrics_expr(struct tr_tql_parser *p,
                              struct tr_traceql_query *q)
{
    struct mx x;
    if (!p_mx(p, 1, &x)) {
        return false;
    }
    if (!x.m) {
        return tok_fail(p);
    }
    /* second stages after the whole expression (appended to the stages
     * a wrapped pipeline may already have: the same meaning) */
    struct tr_traceql_metrics *top = tr_tql_alloc(p, sizeof(*top));
    if (!top) {
        return false;
    }
    *top = *x.m; /* x.m may be a memoized node: not changed */
    x.m = top;
    if (!p_second_stages(p, x.m)) {
        return false;
    }
    q->kind = TR_TQL_Q_METRICS;
    q->metrics = x.m;
    return at_end(p, q);
}

int tr_traceql_parse(const char *q,
                     size_t len,
                     struct tr_arena *a,
                     struct tr_traceql_query **out,
                     char *errmsg)
{
    static bool (*const roots[])(struct tr_tql_parser *,
                                 struct tr_traceql_query *) = {
        root_pipeline, root_spanset_expr, root_scalar_filter,
        root_metrics_expr};
    struct tr_tql_token *toks;
    size_t nt;
    char lexmsg[TR_ERRMSG_SIZE];

    *out = NULL;
    if (errmsg) {
        errmsg[0] = '\0';
    }
    if (len >= TR_TRACEQL_MAX_INPUT) {
        return tr_errf(TR_EINVAL, errmsg, "parse error : input size too long");
    }
    lexmsg[0] = '\0';
    int rv = tr_tql_lex_all(q, len, a, &toks, &nt, lexmsg);
    if (rv != 0) {
        return rv;
    }
    struct tr_tql_parser p = {.q = q, .n = len, .t = toks, .nt = nt, .a = a};
    p.max_steps = TR_TQL_STEPS_BASE + TR_TQL_STEPS_PER_TOKEN * nt;
    struct tr_traceql_query *res = NULL;
    for (size_t k = 0; k < sizeof(roots) / sizeof(roots[0]) && !p.abort; k++) {
        struct tr_traceql_query *cand = tr_tql_alloc(&p, sizeof(*cand));
        if (!cand) {
            break;
        }
        p.i = 0;
        p.depth = 0;
        if (roots[k](&p, cand)) {
            res = cand;
            break;
        }
    }
    if (p.oom) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    if (res) {
        *out = res;
        return 0;
    }
    if (p.abort) {
        return tr_errf(TR_EINVAL, errmsg, "%s", p.abort_msg);
    }
    if (p.have_sem) {
        return tr_errf(TR_EINVAL, errmsg, "%s", p.sem);
    }
    const struct tr_tql_token *t = &toks[p.far < nt ? p.far : nt - 1];
    if (t->type == TR_TQL_T_ERROR) {
        return tr_errf(TR_EINVAL, errmsg, "%s", lexmsg);
    }
    int line, col;
    tr_tql_line_col(q, len, t->pos, &line, &col);
    if (t->type == TR_TQL_T_IDENTIFIER || t->type == TR_TQL_T_STRING ||
        t->type == TR_TQL_T_INTEGER || t->type == TR_TQL_T_FLOAT ||
        t->type == TR_TQL_T_DURATION) {
        size_t tl = t + 1 < toks + nt ? t[1].pos - t->pos : len - t->pos;
        if (tl > 40) {
            tl = 40;
        }
        return tr_errf(TR_EINVAL, errmsg,
                       "parse error at line %d, col %d: syntax error: "
                       "unexpected %s %.*s",
                       line, col, tr_tql_tok_name(t->type), (int)tl,
                       q + t->pos);
    }
    return tr_errf(
        TR_EINVAL, errmsg,
        "parse error at line %d, col %d: syntax error: unexpected %s", line,
        col, tr_tql_tok_name(t->type));
}
