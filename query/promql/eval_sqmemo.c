/* eval_sqmemo.c - inner results of subqueries kept across the steps of a
 * range query.
 *
 * A subquery's inner steps sit on absolute multiples of its step, so the
 * windows of consecutive outer steps overlap: Prometheus evaluates the
 * inner expression once over the whole query range; we evaluate it at
 * each inner timestamp once and keep the result (deep-copied out of the
 * per-step scratch arena) while later outer steps still need it. The
 * result at an inner timestamp depends only on the node and the
 * timestamp, so a kept entry equals a fresh evaluation. */
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "query/promql/eval_int.h"

static void memo__ent_free(struct tr_pq_sqmemo_ent *x)
{
    tr_arena_free(&x->ar);
    memset(x, 0, sizeof(*x));
}

struct tr_pq_sqmemo *tr_pq_sqmemo_get(struct tr_pq_ev *e,
                                      const struct tr_promql_node *node)
{
    for (size_t i = 0; i < e->n_memos; i++) {
        if (e->memos[i].node == node) {
            return &e->memos[i];
        }
    }
    if (e->n_memos == e->cap_memos) {
        size_t cap = e->cap_memos ? e->cap_memos * 2 : 4;
        struct tr_pq_sqmemo *m = tr_realloc(e->memos, cap * sizeof(*m));
        if (m == NULL) {
            return NULL;
        }
        e->memos = m;
        e->cap_memos = cap;
    }
    struct tr_pq_sqmemo *m = &e->memos[e->n_memos++];
    memset(m, 0, sizeof(*m));
    m->node = node;
    return m;
}

void tr_pq_sqmemo_evict(struct tr_pq_sqmemo *m, int64_t ts0)
{
    while (m->head < m->n && m->ents[m->head].ts < ts0) {
        memo__ent_free(&m->ents[m->head++]);
    }
    if (m->head == m->n) {
        m->head = m->n = 0;
    }
}

const struct tr_pq_sqmemo_ent *tr_pq_sqmemo_find(struct tr_pq_sqmemo *m,
                                                 int64_t ts)
{
    /* entries are sorted by ts: binary search */
    size_t lo = m->head, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->ents[mid].ts < ts) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < m->n && m->ents[lo].ts == ts ? &m->ents[lo] : NULL;
}

int tr_pq_sqmemo_put(struct tr_pq_sqmemo *m,
                     int64_t ts,
                     const struct tr_pq_value *v,
                     const struct tr_pq_sqmemo_ent **out)
{
    *out = NULL;
    if (m->n > m->head && m->ents[m->n - 1].ts >= ts) {
        return 0; /* out of order: not kept, the caller uses v as is */
    }
    if (m->n == m->cap) {
        if (m->head > 0) {
            memmove(m->ents, m->ents + m->head,
                    (m->n - m->head) * sizeof(*m->ents));
            m->n -= m->head;
            m->head = 0;
        } else {
            size_t cap = m->cap ? m->cap * 2 : 32;
            struct tr_pq_sqmemo_ent *x = tr_realloc(m->ents, cap * sizeof(*x));
            if (x == NULL) {
                return TR_ENOMEM;
            }
            m->ents = x;
            m->cap = cap;
        }
    }
    struct tr_pq_sqmemo_ent *x = &m->ents[m->n];
    memset(x, 0, sizeof(*x));
    x->ts = ts;
    tr_arena_init(&x->ar, 4096);
    if (v->type == TR_PROMQL_TYPE_SCALAR) {
        x->scalar = true;
        x->sv = v->scalar;
    } else if (v->vec.n > 0) {
        x->s = tr_arena_alloc(&x->ar, v->vec.n * sizeof(*x->s));
        if (x->s == NULL) {
            memo__ent_free(x);
            return TR_ENOMEM;
        }
        for (size_t i = 0; i < v->vec.n; i++) {
            x->s[i] = v->vec.s[i];
            x->s[i].labels = tr_pq_ev_labels_dup(&x->ar, v->vec.s[i].labels,
                                                 v->vec.s[i].n_labels);
            if (x->s[i].labels == NULL && v->vec.s[i].n_labels > 0) {
                memo__ent_free(x);
                return TR_ENOMEM;
            }
        }
        x->n = v->vec.n;
    }
    m->n++;
    *out = x;
    return 0;
}

void tr_pq_sqmemo_free_all(struct tr_pq_ev *e)
{
    for (size_t i = 0; i < e->n_memos; i++) {
        struct tr_pq_sqmemo *m = &e->memos[i];
        for (size_t k = m->head; k < m->n; k++) {
            memo__ent_free(&m->ents[k]);
        }
        tr_free(m->ents);
    }
    tr_free(e->memos);
    e->memos = NULL;
    e->n_memos = e->cap_memos = 0;
}
