/* select.c - the local select source: matcher evaluation over postings,
 * series look-up, and sample reads merging the head and persisted chunks. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/par.h"
#include "lib/err.h"
#include "storage/chunk.h"
#include "storage/chunk_record.h"
#include "storage/keys.h"
#include "storage/postings.h"
#include "storage/storage_int.h"

static int64_t sel__window_start(int64_t t, int64_t w)
{
    return tr_window_floor(t, w);
}

/* One matched series in one window. */
struct sel_hit {
    struct tr_label *labels;
    size_t n_labels;
    int64_t window;
    uint16_t slot;
    uint64_t id;
};

struct sel_hits {
    struct sel_hit *v;
    size_t n;
    size_t cap;
};

static int sel__hit_cmp(const void *a, const void *b)
{
    const struct sel_hit *x = a, *y = b;
    int c = tr_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
    if (c != 0) {
        return c;
    }
    if (x->window != y->window) {
        return x->window < y->window ? -1 : 1;
    }
    return x->slot < y->slot ? -1 : (x->slot > y->slot ? 1 : 0);
}

/* Visits every window of tenant overlapping [mint, maxt], collecting the
 * series matching ms (labels decoded into arena). */
static bool sel__shard_wanted(const struct tr_select_hints *h,
                              int64_t window,
                              uint16_t slot)
{
    if (h->n_shards == 0) {
        return true;
    }
    for (size_t i = 0; i < h->n_shards; i++) {
        if (h->shards[i].window == window && h->shards[i].slot == slot) {
            return true;
        }
    }
    return false;
}

static int sel__collect(struct tr_storage *s,
                        struct tr_slice tenant,
                        const struct tr_matcher *ms,
                        size_t n,
                        const struct tr_select_hints *h,
                        struct tr_arena *arena,
                        struct sel_hits *hits,
                        char *errmsg)
{
    struct win_ctx wc;
    memset(&wc, 0, sizeof(wc));
    wc.tenant = tenant;
    tr_buf_init(&wc.key);
    wc.it = tr_iter_new(s->eng, TR_CF_METRICS);
    if (wc.it == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    struct tr_buf k2;
    tr_buf_init(&k2);
    int rv = 0;
    int64_t mint = h->mint, maxt = h->maxt;
    int64_t first = sel__window_start(mint, s->cfg.window_ms);
    tr_buf_reset(&k2);
    tr_key_tenant_prefix(&k2, tenant);
    size_t tpl = k2.len;
    tr_buf_put_u64be(&k2, tr_key_time(first));
    tr_iter_seek(wc.it, k2.data, k2.len);
    while (rv == 0 && tr_iter_has_prefix(wc.it, k2.data, tpl)) {
        int64_t window;
        uint16_t slot;
        char kind;
        if (tr_key_parse_shard(tr_iter_key(wc.it), tenant.len, &window, &slot,
                               &kind) != 0 ||
            window > maxt) {
            break;
        }
        if (!sel__shard_wanted(h, window, slot)) {
            postings_seek_next_shard(wc.it, &k2, tenant, window, slot);
            continue;
        }
        wc.window = window;
        wc.slot = slot;
        struct idvec ids = {0};
        bool filter;
        rv = postings_match_window(&wc, ms, n, &ids, &filter);
        /* labels of series in memory come from the head, the others from
         * their 'S' key */
        pthread_rwlock_rdlock(&s->head_mu);
        struct head_tenant *ht = head_tenant_find(s, tenant);
        struct head_window *hw = ht ? head_window_find(ht, window, slot) : NULL;
        struct tr_buf lv;
        tr_buf_init(&lv);
        for (size_t i = 0; i < ids.n && rv == 0; i++) {
            const struct head_series *hs =
                hw != NULL ? tr_u64map_get(&hw->series, ids.v[i]) : NULL;
            const char *enc;
            size_t elen;
            if (hs != NULL) {
                enc = tr_arena_memdup(arena, hs->labels, hs->labels_len);
                elen = hs->labels_len;
            } else {
                tr_buf_reset(&wc.key);
                tr_key_shard_prefix(&wc.key, tenant, window, slot,
                                    TR_KEY_SERIES);
                tr_buf_put_u64be(&wc.key, ids.v[i]);
                tr_buf_reset(&lv);
                if (tr_engine_get(s->eng, TR_CF_METRICS, wc.key.data,
                                  wc.key.len, &lv) != 0) {
                    continue;
                }
                enc = tr_arena_memdup(arena, lv.data, lv.len);
                elen = lv.len;
            }
            if (enc == NULL) {
                rv = TR_ENOMEM;
                break;
            }
            if (hits->n == hits->cap) {
                struct sel_hit *nv =
                    tr_array_grow(hits->v, &hits->cap, sizeof(*nv), 256);
                if (nv == NULL) {
                    rv = TR_ENOMEM;
                    break;
                }
                hits->v = nv;
            }
            struct sel_hit *hit = &hits->v[hits->n];
            if (tr_labels_decode(enc, elen, arena, &hit->labels,
                                 &hit->n_labels) != 0 ||
                (filter &&
                 !postings_labels_match(hit->labels, hit->n_labels, ms, n))) {
                continue;
            }
            hit->window = window;
            hit->slot = slot;
            hit->id = ids.v[i];
            hits->n++;
        }
        pthread_rwlock_unlock(&s->head_mu);
        tr_buf_free(&lv);
        idvec_free(&ids);
        postings_seek_next_shard(wc.it, &k2, tenant, window, slot);
    }
    tr_iter_free(wc.it);
    tr_buf_free(&wc.key);
    tr_buf_free(&k2);
    if (rv == TR_ENOMEM) {
        return tr_errf(rv, errmsg, "out of memory");
    }
    return rv;
}

struct sample_vec {
    struct tr_sample *v;
    size_t n;
    size_t cap;
};

static int svec_reserve(struct sample_vec *sv, size_t more)
{
    if (sv->n + more <= sv->cap) {
        return 0;
    }
    size_t cap = sv->cap ? sv->cap : 256;
    while (cap < sv->n + more) {
        cap *= 2;
    }
    struct tr_sample *nv = tr_realloc(sv->v, cap * sizeof(*nv));
    if (nv == NULL) {
        return TR_ENOMEM;
    }
    sv->v = nv;
    sv->cap = cap;
    return 0;
}

static int svec_push(struct sample_vec *sv, int64_t t, double v)
{
    if (svec_reserve(sv, 1) != 0) {
        return TR_ENOMEM;
    }
    sv->v[sv->n].t = t;
    sv->v[sv->n].v = v;
    sv->n++;
    return 0;
}

/* Appends the samples of record rec in [mint, maxt]. */
static int svec_decode_record(struct sample_vec *sv,
                              const void *rec,
                              size_t n,
                              int64_t mint,
                              int64_t maxt)
{
    size_t cnt = tr_chunk_record_count(rec, n);
    if (svec_reserve(sv, cnt) != 0) {
        return TR_ENOMEM;
    }
    long got = tr_chunk_record_decode(rec, n, mint, maxt, sv->v + sv->n);
    if (got < 0) {
        return TR_ECORRUPT;
    }
    sv->n += (size_t)got;
    return 0;
}

static int sample__cmp(const void *a, const void *b)
{
    const struct tr_sample *x = a, *y = b;
    return x->t < y->t ? -1 : (x->t > y->t ? 1 : 0);
}

static void sel__sort_dedupe(struct sample_vec *sv)
{
    bool sorted = true;
    for (size_t i = 1; i < sv->n && sorted; i++) {
        sorted = sv->v[i - 1].t < sv->v[i].t;
    }
    if (sorted) {
        return;
    }
    qsort(sv->v, sv->n, sizeof(*sv->v), sample__cmp);
    size_t o = sv->n ? 1 : 0;
    for (size_t i = 1; i < sv->n; i++) {
        if (sv->v[i].t != sv->v[o - 1].t) {
            sv->v[o++] = sv->v[i];
        }
    }
    sv->n = o;
}

/* Head part of a hit: copied under the head read lock. */
struct head_copy {
    struct tr_buf chunk; /* open chunk bytes */
    int64_t chunk_mint;  /* its first and last time */
    int64_t chunk_maxt;
    int64_t *ooo_t;
    double *ooo_v;
    uint32_t ooo_n;
};

static void sel__copy_head(struct tr_storage *s,
                           struct tr_slice tenant,
                           const struct sel_hit *h,
                           struct head_copy *hc)
{
    struct head_tenant *t = head_tenant_find(s, tenant);
    struct head_window *w = t ? head_window_find(t, h->window, h->slot) : NULL;
    struct head_series *hs = w ? tr_u64map_get(&w->series, h->id) : NULL;
    if (hs == NULL) {
        return;
    }
    if (hs->chunk.count > 0) {
        tr_buf_append(&hc->chunk, hs->chunk.data, tr_xor_len(&hs->chunk));
        hc->chunk_mint = hs->chunk.min_t;
        hc->chunk_maxt = hs->chunk.t;
    }
    if (hs->ooo.n > 0) {
        hc->ooo_t = tr_malloc(hs->ooo.n * sizeof(int64_t));
        hc->ooo_v = tr_malloc(hs->ooo.n * sizeof(double));
        if (hc->ooo_t != NULL && hc->ooo_v != NULL) {
            memcpy(hc->ooo_t, hs->ooo.t, hs->ooo.n * sizeof(int64_t));
            memcpy(hc->ooo_v, hs->ooo.v, hs->ooo.n * sizeof(double));
            hc->ooo_n = hs->ooo.n;
        }
    }
}

static void sel__free_heads(struct head_copy *hcs, size_t n)
{
    if (hcs == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        tr_buf_free(&hcs[i].chunk);
        tr_free(hcs[i].ooo_t);
        tr_free(hcs[i].ooo_v);
    }
    tr_free(hcs);
}

/* ---- sample reads --------------------------------------------------------- *
 * Series are cut into pieces of consecutive label groups (one piece, on the
 * caller, for few series or without helper threads); each piece is read
 * with its own RocksDB iterator (created after the head copies) into its own
 * arena, which the result adopts.
 *
 * Per label group (one series, possibly in several windows) the stored
 * chunks overlapping the range are gathered: the persisted records and the
 * head's open chunk (as a format-1 record). The versions of one in-order
 * chunk (the open chunk and its checkpointed prefix, same first time) keep
 * only the longest. When the rest do not overlap (no out-of-order data) they
 * are answered as they are - chunk form: records copied, the at most two
 * that cross the range's ends with the times of their first and last
 * sample inside it (readers clip them when decoding); decoded form: each
 * decoded in turn. Otherwise (out-of-order samples) every
 * sample is decoded, sorted and deduplicated, then encoded again for the
 * chunk form. */

#define SEL_PAR_MIN_SERIES 64

/* One stored chunk of a label group, not yet clipped to the range. */
struct sel_chunk {
    size_t off; /* record bytes in sel_group.recs */
    size_t len;
    int64_t mint;
    int64_t maxt;
    bool in_order; /* seq 0 or the head's open chunk */
};

/* A piece's scratch space for one label group at a time (heap). */
struct sel_group {
    struct tr_buf recs; /* gathered records */
    struct sel_chunk *v;
    size_t n;
    size_t cap;
    size_t *order; /* [n]: chunks by first time */
    size_t cap_order;
    bool ooo;                  /* out-of-order data: chunks overlap */
    struct sample_vec sv;      /* decoded samples */
    struct tr_chunk_ref *refs; /* chunk form being built */
    size_t n_refs;
    size_t cap_refs;
};

static void sel__group_free(struct sel_group *g)
{
    tr_buf_free(&g->recs);
    tr_free(g->v);
    tr_free(g->order);
    tr_free(g->sv.v);
    tr_free(g->refs);
}

static int sel__group_push(struct sel_group *g,
                           int64_t mint,
                           int64_t maxt,
                           bool in_order)
{
    if (g->n == g->cap) {
        struct sel_chunk *nv = tr_array_grow(g->v, &g->cap, sizeof(*nv), 16);
        if (nv == NULL) {
            return TR_ENOMEM;
        }
        g->v = nv;
    }
    g->v[g->n++] = (struct sel_chunk){g->recs.len, 0, mint, maxt, in_order};
    return 0;
}

static int sel__ref_push(struct sel_group *g, const struct tr_chunk_ref *r)
{
    if (g->n_refs == g->cap_refs) {
        struct tr_chunk_ref *nv =
            tr_array_grow(g->refs, &g->cap_refs, sizeof(*nv), 16);
        if (nv == NULL) {
            return TR_ENOMEM;
        }
        g->refs = nv;
    }
    g->refs[g->n_refs++] = *r;
    return 0;
}

/* Gathers the chunks of hit h overlapping [mint, maxt] into g. */
static int sel__gather(struct tr_iter *it,
                       struct tr_slice tenant,
                       const struct sel_hit *h,
                       const struct head_copy *hc,
                       int64_t mint,
                       int64_t maxt,
                       struct sel_group *g)
{
    struct tr_buf pk;
    tr_buf_init(&pk);
    tr_key_shard_prefix(&pk, tenant, h->window, h->slot, TR_KEY_CHUNK);
    tr_buf_put_u64be(&pk, h->id);
    size_t pl = pk.len;
    int rv = 0;
    for (tr_iter_seek(it, pk.data, pl);
         rv == 0 && tr_iter_has_prefix(it, pk.data, pl); tr_iter_next(it)) {
        struct tr_slice k = tr_iter_key(it);
        struct tr_slice v = tr_iter_value(it);
        if (k.len != pl + 16 || v.len < TR_CHUNK_RECORD_HEADER) {
            continue;
        }
        int64_t cmin = tr_key_time_decode(tr_get_u64be(k.base + pl));
        uint64_t seq = tr_get_u64be(k.base + pl + 8);
        int64_t cmax = tr_chunk_record_maxt(v.base, v.len);
        if (cmin > maxt) {
            break;
        }
        if (cmax < mint) {
            continue;
        }
        rv = sel__group_push(g, cmin, cmax, seq == 0);
        if (rv == 0 && tr_buf_append(&g->recs, v.base, v.len) != 0) {
            rv = TR_ENOMEM;
        }
        if (rv == 0) {
            g->v[g->n - 1].len = v.len;
            g->ooo = g->ooo || seq != 0;
        }
    }
    tr_buf_free(&pk);
    if (rv == 0 && hc->chunk.len > 0 && hc->chunk_mint <= maxt &&
        hc->chunk_maxt >= mint) {
        uint8_t hdr[TR_CHUNK_RECORD_HEADER];
        tr_put_u64be(hdr, tr_key_time(hc->chunk_maxt));
        hdr[8] = TR_CHUNK_FMT_XOR;
        rv = sel__group_push(g, hc->chunk_mint, hc->chunk_maxt, true);
        if (rv == 0 &&
            (tr_buf_append(&g->recs, hdr, sizeof(hdr)) != 0 ||
             tr_buf_append(&g->recs, hc->chunk.data, hc->chunk.len) != 0)) {
            rv = TR_ENOMEM;
        }
        if (rv == 0) {
            g->v[g->n - 1].len = sizeof(hdr) + hc->chunk.len;
        }
    }
    for (uint32_t i = 0; rv == 0 && i < hc->ooo_n; i++) {
        g->ooo = g->ooo || (hc->ooo_t[i] >= mint && hc->ooo_t[i] <= maxt);
    }
    return rv;
}

/* Orders g's chunks by first time (g->order), keeping only the longest
 * version of an in-order chunk; false when the rest overlap. */
static bool sel__resolve(struct sel_group *g, size_t *kept)
{
    size_t k = 0;
    bool sorted = true;
    for (size_t i = 0; i < g->n; i++) {
        g->order[i] = i;
        sorted = sorted && (i == 0 || g->v[i - 1].mint <= g->v[i].mint);
    }
    /* insertion sort: the gathered order is sorted but for the head's
     * open chunk and window boundaries */
    for (size_t i = 1; !sorted && i < g->n; i++) {
        size_t x = g->order[i], j = i;
        while (j > 0 && g->v[g->order[j - 1]].mint > g->v[x].mint) {
            g->order[j] = g->order[j - 1];
            j--;
        }
        g->order[j] = x;
    }
    for (size_t i = 0; i < g->n; i++) {
        const struct sel_chunk *c = &g->v[g->order[i]];
        if (k > 0) {
            struct sel_chunk *p = &g->v[g->order[k - 1]];
            if (c->mint == p->mint && c->in_order && p->in_order) {
                if (c->maxt > p->maxt) {
                    g->order[k - 1] = g->order[i];
                }
                continue;
            }
            if (c->mint <= p->maxt) {
                return false;
            }
        }
        g->order[k++] = g->order[i];
    }
    *kept = k;
    return true;
}

/* Appends g->sv (sorted, unique) to g's chunk refs as records in a. */
static int sel__encode_sv(struct sel_group *g, struct tr_arena *a)
{
    if (g->sv.n == 0) {
        return 0;
    }
    struct tr_series_data tmp;
    memset(&tmp, 0, sizeof(tmp));
    int rv = tr_series_encode(a, g->sv.v, g->sv.n, &tmp);
    for (size_t i = 0; rv == 0 && i < tmp.n_chunks; i++) {
        rv = sel__ref_push(g, &tmp.chunks[i]);
    }
    return rv;
}

/* Reads one label group (hits [h0, h1)) into sd: n_samples, and its
 * samples (decoded) or chunks (chunks), memory from a. */
static int sel__read_group(struct tr_iter *it,
                           struct tr_slice tenant,
                           const struct sel_hits *hits,
                           const struct head_copy *hcs,
                           size_t h0,
                           size_t h1,
                           int64_t mint,
                           int64_t maxt,
                           bool chunks,
                           struct sel_group *g,
                           struct tr_arena *a,
                           struct tr_series_data *sd)
{
    tr_buf_reset(&g->recs);
    g->n = 0;
    g->ooo = false;
    g->sv.n = 0;
    g->n_refs = 0;
    int rv = 0;
    for (size_t k = h0; k < h1 && rv == 0; k++) {
        rv = sel__gather(it, tenant, &hits->v[k], &hcs[k], mint, maxt, g);
    }
    if (rv != 0) {
        return rv;
    }
    if (g->n > g->cap_order) {
        size_t *no = tr_realloc(g->order, g->n * sizeof(*no));
        if (no == NULL) {
            return TR_ENOMEM;
        }
        g->order = no;
        g->cap_order = g->n;
    }
    size_t kept = 0;
    bool plain = !g->ooo && sel__resolve(g, &kept);
    if (!plain) {
        /* out-of-order data: every sample, in the gathered order, then the
         * head's out-of-order buffers; sorted and deduplicated */
        for (size_t i = 0; i < g->n && rv == 0; i++) {
            rv = svec_decode_record(&g->sv, g->recs.data + g->v[i].off,
                                    g->v[i].len, mint, maxt);
        }
        for (size_t k = h0; k < h1 && rv == 0; k++) {
            const struct head_copy *hc = &hcs[k];
            for (uint32_t i = 0; rv == 0 && i < hc->ooo_n; i++) {
                if (hc->ooo_t[i] >= mint && hc->ooo_t[i] <= maxt) {
                    rv = svec_push(&g->sv, hc->ooo_t[i], hc->ooo_v[i]);
                }
            }
        }
        if (rv == 0) {
            sel__sort_dedupe(&g->sv);
        }
        if (rv == 0 && chunks) {
            rv = sel__encode_sv(g, a);
        }
    } else {
        for (size_t i = 0; i < kept && rv == 0; i++) {
            const struct sel_chunk *c = &g->v[g->order[i]];
            const char *rec = g->recs.data + c->off;
            if (!chunks) {
                rv = svec_decode_record(&g->sv, rec, c->len, mint, maxt);
            } else if (c->mint >= mint && c->maxt <= maxt) {
                struct tr_chunk_ref r = {NULL, c->len, c->mint, c->maxt,
                                         tr_chunk_record_count(rec, c->len)};
                r.rec = tr_arena_memdup(a, rec, c->len);
                rv = r.n == 0
                         ? TR_ECORRUPT
                         : (r.rec == NULL ? TR_ENOMEM : sel__ref_push(g, &r));
            } else {
                /* crosses an end of the range: kept whole, clipped by the
                 * times of its first and last sample in range */
                g->sv.n = 0;
                rv = svec_decode_record(&g->sv, rec, c->len, mint, maxt);
                if (rv == 0 && g->sv.n > 0) {
                    struct tr_chunk_ref r = {NULL, c->len, g->sv.v[0].t,
                                             g->sv.v[g->sv.n - 1].t, g->sv.n};
                    r.rec = tr_arena_memdup(a, rec, c->len);
                    rv = r.rec == NULL ? TR_ENOMEM : sel__ref_push(g, &r);
                }
                g->sv.n = 0;
            }
        }
    }
    if (rv != 0) {
        return rv;
    }
    sd->samples = NULL;
    sd->chunks = NULL;
    sd->n_chunks = 0;
    if (!chunks) {
        sd->n_samples = g->sv.n;
        if (g->sv.n > 0) {
            sd->samples =
                tr_arena_memdup(a, g->sv.v, g->sv.n * sizeof(*g->sv.v));
            rv = sd->samples == NULL ? TR_ENOMEM : 0;
        }
        return rv;
    }
    sd->n_samples = 0;
    for (size_t i = 0; i < g->n_refs; i++) {
        sd->n_samples += g->refs[i].n;
    }
    if (g->n_refs > 0) {
        sd->chunks = tr_arena_memdup(a, g->refs, g->n_refs * sizeof(*g->refs));
        sd->n_chunks = g->n_refs;
        rv = sd->chunks == NULL ? TR_ENOMEM : 0;
    }
    return rv;
}

struct sel_piece {
    size_t g0; /* first group */
    size_t g1; /* one past the last */
    struct tr_arena arena;
    int rv;
};

struct sel_par {
    struct tr_storage *s;
    struct tr_slice tenant;
    const struct sel_hits *hits;
    const struct head_copy *hcs;
    const size_t *group_start; /* [ng + 1]: first hit of each group */
    int64_t mint;
    int64_t maxt;
    bool chunks;
    struct tr_select_budget *budget;
    atomic_int stop;
    struct tr_series_data *tmp; /* [ng] */
    struct sel_piece *pieces;
};

static void sel__read_piece(void *arg, size_t pi)
{
    struct sel_par *p = arg;
    struct sel_piece *pc = &p->pieces[pi];
    struct tr_iter *it = tr_iter_new(p->s->eng, TR_CF_METRICS);
    struct sel_group grp;
    memset(&grp, 0, sizeof(grp));
    tr_buf_init(&grp.recs);
    if (it == NULL) {
        pc->rv = TR_ENOMEM;
        return;
    }
    for (size_t g = pc->g0; g < pc->g1 && pc->rv == 0; g++) {
        if (atomic_load(&p->stop)) {
            break;
        }
        if (tr_select_budget_over(p->budget)) {
            pc->rv = TR_ELIMIT; /* another part of the read used it up */
            break;
        }
        struct tr_series_data *sd = &p->tmp[g];
        sd->labels = p->hits->v[p->group_start[g]].labels;
        sd->n_labels = p->hits->v[p->group_start[g]].n_labels;
        pc->rv =
            sel__read_group(it, p->tenant, p->hits, p->hcs, p->group_start[g],
                            p->group_start[g + 1], p->mint, p->maxt, p->chunks,
                            &grp, &pc->arena, sd);
        if (pc->rv == 0 && !tr_select_budget_take(p->budget, sd->n_samples)) {
            pc->rv = TR_ELIMIT;
        }
    }
    if (pc->rv != 0) {
        atomic_store(&p->stop, 1);
    }
    sel__group_free(&grp);
    tr_iter_free(it);
}

/* Reads the samples of the ng label groups of hits into out->series (in
 * group order; groups without data in range are not part of the result;
 * h->limit cuts the result as the labels-only path does). */
static int sel__read_series(struct tr_storage *s,
                            struct tr_slice tenant,
                            const struct sel_hits *hits,
                            const struct head_copy *hcs,
                            size_t ng,
                            const struct tr_select_hints *h,
                            struct tr_select_result *out)
{
    if (ng == 0) {
        out->n_series = 0;
        return 0;
    }
    size_t np = 1;
    if (tr_par_threads() > 1 && ng >= SEL_PAR_MIN_SERIES) {
        np = tr_par_threads() * 4;
        if (np > ng) {
            np = ng;
        }
    }
    size_t *starts = tr_malloc((ng + 1) * sizeof(*starts));
    struct sel_piece *pieces = tr_calloc(np, sizeof(*pieces));
    struct tr_series_data *tmp = tr_calloc(ng, sizeof(*tmp));
    int rv = 0;
    if (starts == NULL || pieces == NULL || tmp == NULL) {
        rv = TR_ENOMEM;
        goto out;
    }
    size_t g = 0;
    for (size_t i = 0; i < hits->n; i++) {
        if (i == 0 ||
            tr_labels_cmp(hits->v[i - 1].labels, hits->v[i - 1].n_labels,
                          hits->v[i].labels, hits->v[i].n_labels) != 0) {
            starts[g++] = i;
        }
    }
    starts[ng] = hits->n;
    struct tr_select_budget own;
    tr_select_budget_init(&own, h->max_samples);
    struct sel_par p;
    memset(&p, 0, sizeof(p));
    p.s = s;
    p.tenant = tenant;
    p.hits = hits;
    p.hcs = hcs;
    p.group_start = starts;
    p.mint = h->mint;
    p.maxt = h->maxt;
    p.chunks = h->chunks;
    p.budget = h->budget != NULL ? h->budget : &own;
    atomic_init(&p.stop, 0);
    p.tmp = tmp;
    p.pieces = pieces;
    for (size_t i = 0; i < np; i++) {
        pieces[i].g0 = ng * i / np;
        pieces[i].g1 = ng * (i + 1) / np;
        tr_arena_init(&pieces[i].arena, 64 * 1024);
    }
    tr_par_for(np, sel__read_piece, &p);
    for (size_t i = 0; i < np; i++) {
        if (rv == 0) {
            rv = pieces[i].rv;
        }
        tr_arena_adopt(&out->arena, &pieces[i].arena);
    }
    size_t gi = 0;
    for (size_t i = 0; rv == 0 && i < ng; i++) {
        if (tmp[i].n_samples == 0) {
            continue; /* no data in range: not part of the result */
        }
        out->series[gi++] = tmp[i];
        if (h->limit > 0 && gi >= h->limit && i + 1 < ng) {
            out->truncated = true;
            break;
        }
    }
    out->n_series = gi;
out:
    tr_free(starts);
    tr_free(pieces);
    tr_free(tmp);
    return rv;
}

static int sel__select_impl(void *impl,
                            struct tr_slice tenant,
                            const struct tr_matcher *ms,
                            size_t n,
                            const struct tr_select_hints *h,
                            struct tr_select_result *out,
                            char *errmsg)
{
    struct tr_storage *s = impl;
    memset(out, 0, sizeof(*out));
    tr_arena_init(&out->arena, 64 * 1024);
    struct sel_hits hits = {0};
    int rv = sel__collect(s, tenant, ms, n, h, &out->arena, &hits, errmsg);
    if (rv != 0) {
        tr_free(hits.v);
        return rv;
    }
    if (hits.n > 1) {
        qsort(hits.v, hits.n, sizeof(*hits.v), sel__hit_cmp);
    }
    /* group hits of the same label set (several windows) */
    size_t groups = 0;
    for (size_t i = 0; i < hits.n; i++) {
        if (i == 0 ||
            tr_labels_cmp(hits.v[i - 1].labels, hits.v[i - 1].n_labels,
                          hits.v[i].labels, hits.v[i].n_labels) != 0) {
            groups++;
        }
    }
    if (h->max_series > 0 && groups > h->max_series) {
        tr_free(hits.v);
        return tr_errf(TR_ELIMIT, errmsg,
                       "query would select %zu series, more than the limit "
                       "of %zu",
                       groups, h->max_series);
    }
    out->series = tr_arena_alloc(&out->arena,
                                 (groups ? groups : 1) * sizeof(*out->series));
    if (out->series == NULL) {
        tr_free(hits.v);
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    struct head_copy *hcs = NULL;
    if (!h->no_samples && hits.n > 0) {
        hcs = tr_calloc(hits.n, sizeof(*hcs));
        if (hcs == NULL) {
            tr_free(hits.v);
            return tr_errf(TR_ENOMEM, errmsg, "out of memory");
        }
        /* head first, then a newer RocksDB snapshot: data moving from the
         * head to RocksDB in between is seen twice (deduplicated), never
         * missed */
        pthread_rwlock_rdlock(&s->head_mu);
        for (size_t i = 0; i < hits.n; i++) {
            sel__copy_head(s, tenant, &hits.v[i], &hcs[i]);
        }
        pthread_rwlock_unlock(&s->head_mu);
    }
    if (!h->no_samples) {
        rv = sel__read_series(s, tenant, &hits, hcs, groups, h, out);
        sel__free_heads(hcs, hits.n);
        tr_free(hits.v);
        if (rv == TR_ELIMIT) {
            return tr_errf(rv, errmsg,
                           "query processing would load too many samples "
                           "into memory in query execution");
        }
        if (rv == TR_ENOMEM) {
            return tr_errf(rv, errmsg, "out of memory");
        }
        if (rv == TR_ECORRUPT) {
            return tr_errf(rv, errmsg, "corrupt chunk in storage");
        }
        return rv;
    }
    /* labels only */
    size_t gi = 0;
    for (size_t i = 0; i < hits.n;) {
        size_t j = i + 1;
        while (j < hits.n &&
               tr_labels_cmp(hits.v[i].labels, hits.v[i].n_labels,
                             hits.v[j].labels, hits.v[j].n_labels) == 0) {
            j++;
        }
        struct tr_series_data *sd = &out->series[gi++];
        sd->labels = hits.v[i].labels;
        sd->n_labels = hits.v[i].n_labels;
        sd->samples = NULL;
        sd->n_samples = 0;
        i = j;
        if (h->limit > 0 && gi >= h->limit && i < hits.n) {
            out->truncated = true;
            break;
        }
    }
    sel__free_heads(hcs, hits.n);
    tr_free(hits.v);
    out->n_series = gi;
    return 0;
}

/* On error the result holds nothing (callers free it only on success). */
static int sel__select(void *impl,
                       struct tr_slice tenant,
                       const struct tr_matcher *ms,
                       size_t n,
                       const struct tr_select_hints *h,
                       struct tr_select_result *out,
                       char *errmsg)
{
    int rv = sel__select_impl(impl, tenant, ms, n, h, out, errmsg);
    if (rv != 0) {
        tr_select_result_free(out);
    }
    return rv;
}

static int sel__labels_common(struct tr_storage *s,
                              struct tr_slice tenant,
                              const struct tr_slice *value_of,
                              const struct tr_matcher *ms,
                              size_t n,
                              const struct tr_select_hints *h,
                              struct tr_string_list *out,
                              char *errmsg)
{
    memset(out, 0, sizeof(*out));
    tr_arena_init(&out->arena, 16 * 1024);
    struct strset ss = {0};
    int rv;
    if (n == 0) {
        struct postings_range r = {
            .first_window = sel__window_start(h->mint, s->cfg.window_ms),
            .last_window = h->maxt,
            .shards = h->shards,
            .n_shards = h->n_shards,
        };
        rv = postings_scan(s->eng, TR_CF_METRICS, tenant, value_of, &r,
                           &out->arena, &ss);
    } else {
        struct sel_hits hits = {0};
        struct tr_arena tmp;
        tr_arena_init(&tmp, 64 * 1024);
        rv = sel__collect(s, tenant, ms, n, h, &tmp, &hits, errmsg);
        for (size_t i = 0; i < hits.n && rv == 0; i++) {
            const struct sel_hit *hit = &hits.v[i];
            for (size_t j = 0; j < hit->n_labels && rv == 0; j++) {
                if (value_of == NULL) {
                    rv = strset_add(&ss, &out->arena, hit->labels[j].name);
                } else if (tr_slice_eq(hit->labels[j].name, *value_of)) {
                    rv = strset_add(&ss, &out->arena, hit->labels[j].value);
                }
            }
        }
        tr_free(hits.v);
        tr_arena_free(&tmp);
    }
    if (rv == 0) {
        rv = strset_finish(&ss, h->limit, out);
    } else {
        tr_free(ss.v);
    }
    if (rv == TR_ENOMEM) {
        return tr_errf(rv, errmsg, "out of memory");
    }
    return rv;
}

static int sel__label_names(void *impl,
                            struct tr_slice tenant,
                            const struct tr_matcher *ms,
                            size_t n,
                            const struct tr_select_hints *h,
                            struct tr_string_list *out,
                            char *errmsg)
{
    return sel__labels_common(impl, tenant, NULL, ms, n, h, out, errmsg);
}

static int sel__label_values(void *impl,
                             struct tr_slice tenant,
                             struct tr_slice name,
                             const struct tr_matcher *ms,
                             size_t n,
                             const struct tr_select_hints *h,
                             struct tr_string_list *out,
                             char *errmsg)
{
    return sel__labels_common(impl, tenant, &name, ms, n, h, out, errmsg);
}

void select_init_source(struct tr_storage *s)
{
    s->source.version = 1;
    s->source.impl = s;
    s->source.select = sel__select;
    s->source.label_names = sel__label_names;
    s->source.label_values = sel__label_values;
}

void tr_select_result_free(struct tr_select_result *r)
{
    tr_arena_free(&r->arena);
    memset(r, 0, sizeof(*r));
}

int tr_string_list_union(const struct tr_string_list *parts,
                         size_t n,
                         size_t limit,
                         struct tr_string_list *out)
{
    memset(out, 0, sizeof(*out));
    tr_arena_init(&out->arena, 16 * 1024);
    struct strset ss = {0};
    int rv = 0;
    for (size_t i = 0; i < n && rv == 0; i++) {
        out->truncated = out->truncated || parts[i].truncated;
        for (size_t j = 0; j < parts[i].n && rv == 0; j++) {
            rv = strset_add(&ss, &out->arena, parts[i].items[j]);
        }
    }
    if (rv == 0) {
        return strset_finish(&ss, limit, out);
    }
    tr_free(ss.v);
    return rv;
}

void tr_string_list_free(struct tr_string_list *l)
{
    tr_arena_free(&l->arena);
    memset(l, 0, sizeof(*l));
}

int tr_storage_exemplars(struct tr_storage *s,
                         struct tr_slice tenant,
                         const struct tr_matcher *ms,
                         size_t n_ms,
                         int64_t mint,
                         int64_t maxt,
                         const struct tr_shard_id *shards,
                         size_t n_shards,
                         struct tr_arena *a,
                         struct tr_exemplar_series **out,
                         size_t *n,
                         char *errmsg)
{
    *out = NULL;
    *n = 0;
    struct tr_select_hints h;
    memset(&h, 0, sizeof(h));
    h.mint = mint;
    h.maxt = maxt;
    h.shards = shards;
    h.n_shards = n_shards;
    struct sel_hits hits = {0};
    int rv = sel__collect(s, tenant, ms, n_ms, &h, a, &hits, errmsg);
    if (rv != 0) {
        tr_free(hits.v);
        return rv;
    }
    struct tr_exemplar_series *v =
        tr_arena_alloc(a, (hits.n ? hits.n : 1) * sizeof(*v));
    struct tr_iter *it = tr_iter_new(s->eng, TR_CF_METRICS);
    if (v == NULL || it == NULL) {
        tr_iter_free(it);
        tr_free(hits.v);
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    size_t o = 0;
    for (size_t i = 0; i < hits.n && rv == 0; i++) {
        const struct sel_hit *hit = &hits.v[i];
        struct tr_exemplar_series *es = &v[o];
        memset(es, 0, sizeof(*es));
        size_t cap = 0;
        rv = exemplars_read(it, tenant, hit->window, hit->slot, hit->id, mint,
                            maxt, a, &es->ex, &es->n, &cap);
        if (rv == 0 && es->n > 0) {
            es->labels = hit->labels;
            es->n_labels = hit->n_labels;
            o++;
        }
    }
    tr_iter_free(it);
    tr_free(hits.v);
    if (rv == 0) {
        rv = tr_exemplar_series_merge(v, &o, a);
    }
    if (rv != 0) {
        return tr_errf(rv, errmsg, "out of memory");
    }
    *out = v;
    *n = o;
    return 0;
}
