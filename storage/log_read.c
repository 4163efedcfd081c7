/* log_read.c - the local logs read source (storage/log_select.h): streams
 * by matchers over the logs postings (storage/postings.h), then per stream
 * its blocks and fragments overlapping the range (storage/log_keys.h),
 * pruned by the blocks' indexes when needles or metadata are pushed down,
 * decoded only when needed, merged in (ts, push order) in the select's
 * direction and cut at the per-stream limit.
 *
 * Every read of one select goes through one RocksDB iterator, a
 * point-in-time view: an apply that cuts fragments into a block while the
 * select runs is seen either before or after, never half. Logs shards keep
 * nothing in memory, so reads take no lock. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/par.h"
#include "storage/keys.h"
#include "storage/log_block.h"
#include "storage/log_index.h"
#include "storage/log_keys.h"
#include "storage/log_store.h"
#include "storage/postings.h"
#include "storage/storage_int.h"

/* A matched stream in one shard. */
struct lr_hit {
    struct tr_label *labels;
    size_t n_labels;
    int64_t window;
    uint16_t slot;
    uint64_t id;
};

struct lr_hits {
    struct lr_hit *v;
    size_t n;
    size_t cap;
};

static int lr__hit_cmp(const void *a, const void *b)
{
    const struct lr_hit *x = a, *y = b;
    int c = tr_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
    if (c != 0) {
        return c;
    }
    if (x->window != y->window) {
        return x->window < y->window ? -1 : 1;
    }
    return x->slot < y->slot ? -1 : (x->slot > y->slot ? 1 : 0);
}

/* floor(ns / 1e6) */
static int64_t lr__ms(int64_t ns)
{
    int64_t q = ns / 1000000;
    return (ns % 1000000 != 0 && ns < 0) ? q - 1 : q;
}

/* The shards (windows) a read over [start, end) ns visits. */
static struct postings_range lr__range(const struct tr_storage *s,
                                       const struct tr_log_hints *h)
{
    struct postings_range r = {
        .first_window = tr_window_floor(lr__ms(h->start), s->cfg.window_ms),
        .last_window = lr__ms(h->end > INT64_MIN ? h->end - 1 : h->end),
        .shards = h->shards,
        .n_shards = h->n_shards,
    };
    return r;
}

/* Streams of tenant matching ms in the shards of h (labels in arena). */
static int lr__collect(struct tr_storage *s,
                       struct tr_iter *it,
                       struct tr_slice tenant,
                       const struct tr_matcher *ms,
                       size_t n,
                       const struct tr_log_hints *h,
                       struct tr_arena *arena,
                       struct lr_hits *hits)
{
    struct postings_range r = lr__range(s, h);
    if (h->end <= h->start) {
        return 0;
    }
    struct win_ctx wc;
    memset(&wc, 0, sizeof(wc));
    wc.tenant = tenant;
    wc.it = it;
    tr_buf_init(&wc.key);
    struct tr_buf k2, lv;
    tr_buf_init(&k2);
    tr_buf_init(&lv);
    tr_key_tenant_prefix(&k2, tenant);
    size_t tpl = k2.len;
    tr_buf_put_u64be(&k2, tr_key_time(r.first_window));
    tr_iter_seek(it, k2.data, k2.len);
    int rv = 0;
    while (rv == 0 && tr_iter_has_prefix(it, k2.data, tpl)) {
        int64_t window;
        uint16_t slot;
        char kind;
        if (tr_key_parse_shard(tr_iter_key(it), tenant.len, &window, &slot,
                               &kind) != 0 ||
            window > r.last_window) {
            break;
        }
        if (!postings_shard_wanted(&r, window, slot)) {
            postings_seek_next_shard(it, &k2, tenant, window, slot);
            continue;
        }
        wc.window = window;
        wc.slot = slot;
        struct idvec ids = {0};
        bool filter;
        rv = postings_match_window(&wc, ms, n, &ids, &filter);
        for (size_t i = 0; i < ids.n && rv == 0; i++) {
            log_key_stream(&wc.key, tenant, window, slot, TR_KEY_SERIES,
                           ids.v[i]);
            tr_buf_reset(&lv);
            if (tr_engine_get(s->eng, TR_CF_LOGS, wc.key.data, wc.key.len,
                              &lv) != 0) {
                continue;
            }
            const char *enc = tr_arena_memdup(arena, lv.data, lv.len);
            if (enc == NULL) {
                rv = TR_ENOMEM;
                break;
            }
            if (hits->n == hits->cap) {
                struct lr_hit *nv =
                    tr_array_grow(hits->v, &hits->cap, sizeof(*nv), 64);
                if (nv == NULL) {
                    rv = TR_ENOMEM;
                    break;
                }
                hits->v = nv;
            }
            struct lr_hit *hit = &hits->v[hits->n];
            if (tr_labels_decode(enc, lv.len, arena, &hit->labels,
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
        idvec_free(&ids);
        postings_seek_next_shard(it, &k2, tenant, window, slot);
    }
    tr_buf_free(&wc.key);
    tr_buf_free(&k2);
    tr_buf_free(&lv);
    if (rv == 0 && hits->n > 1) {
        qsort(hits->v, hits->n, sizeof(*hits->v), lr__hit_cmp);
    }
    return rv;
}

/* A block or fragment of a stream. */
struct lr_src {
    int64_t mint;
    int64_t maxt;
    bool block;
    size_t rank;    /* push order among the stream's sources */
    int64_t window; /* rank key: window, slot, seq */
    uint16_t slot;
    uint64_t seq;
    struct tr_slice value; /* fragment: its block */
    struct tr_slice key;   /* block: its 'B' key */
};

struct lr_srcs {
    struct lr_src *v;
    size_t n;
    size_t cap;
};

static int lr__src_push(struct lr_srcs *ss, const struct lr_src *src)
{
    if (ss->n == ss->cap) {
        struct lr_src *nv = tr_array_grow(ss->v, &ss->cap, sizeof(*nv), 16);
        if (nv == NULL) {
            return TR_ENOMEM;
        }
        ss->v = nv;
    }
    ss->v[ss->n++] = *src;
    return 0;
}

/* Lists the sources of stream hit overlapping [start, end) that can hold
 * a match (a block's key and a fragment's value copied into a); every
 * source in the range counts in ls's totals and st. Blocks whose index
 * rules out the pushed-down needles or metadata, and fragments without
 * the needles, are counted as skipped and not listed. */
static int lr__sources(struct tr_iter *it,
                       struct tr_iter *oit,
                       struct tr_slice tenant,
                       const struct lr_hit *hit,
                       const struct tr_log_hints *h,
                       struct tr_arena *a,
                       struct tr_log_stream *ls,
                       struct tr_log_stats *st,
                       struct lr_srcs *out)
{
    struct tr_buf k;
    tr_buf_init(&k);
    int rv = 0;
    bool prune = h->n_needles > 0 || h->n_meta > 0;
    /* blocks, by their index records */
    log_key_stream(&k, tenant, hit->window, hit->slot, TR_KEY_LOG_INDEX,
                   hit->id);
    size_t pl = k.len;
    for (tr_iter_seek(it, k.data, pl);
         rv == 0 && tr_iter_has_prefix(it, k.data, pl); tr_iter_next(it)) {
        struct tr_slice key = tr_iter_key(it), v = tr_iter_value(it);
        struct tr_log_index ix;
        if (key.len != pl + 16) {
            continue;
        }
        if (tr_key_time_decode(tr_get_u64be(key.base + pl)) >= h->end) {
            break;
        }
        if (tr_log_index_parse(v.base, v.len, &ix) != 0) {
            rv = TR_ECORRUPT;
            break;
        }
        if (ix.maxt < h->start) {
            continue;
        }
        ls->total_entries += ix.count;
        ls->total_bytes += ix.raw_bytes;
        st->blocks_total++;
        if (h->no_lines) {
            continue;
        }
        if (prune && !tr_log_index_may_match(&ix, h->needles, h->n_needles,
                                             h->meta, h->n_meta)) {
            st->blocks_skipped++;
            continue;
        }
        struct lr_src src = {
            .mint = ix.mint,
            .maxt = ix.maxt,
            .block = true,
            .window = hit->window,
            .slot = hit->slot,
            .seq = tr_get_u64be(key.base + pl + 8),
        };
        src.key.base = tr_arena_memdup(a, key.base, key.len);
        src.key.len = key.len;
        if (src.key.base == NULL) {
            rv = TR_ENOMEM;
            break;
        }
        ((char *)src.key.base)[pl - 9] = TR_KEY_LOG_BLOCK;
        rv = lr__src_push(out, &src);
    }
    /* open fragments */
    log_key_stream(&k, tenant, hit->window, hit->slot, TR_KEY_LOG_FRAGMENT,
                   hit->id);
    pl = k.len;
    for (tr_iter_seek(oit, k.data, pl);
         rv == 0 && tr_iter_has_prefix(oit, k.data, pl); tr_iter_next(oit)) {
        struct tr_slice key = tr_iter_key(oit), v = tr_iter_value(oit);
        struct tr_log_block_info bi;
        if (key.len != pl + 8) {
            continue;
        }
        if (tr_log_block_info(v.base, v.len, &bi) != 0) {
            rv = TR_ECORRUPT;
            break;
        }
        if (bi.maxt < h->start || bi.mint >= h->end) {
            continue;
        }
        ls->total_entries += bi.count;
        ls->total_bytes += bi.raw_bytes;
        /* a needle found nowhere in the fragment's bytes is in no line */
        if (h->no_lines || !tr_log_has_needles(v, h->needles, h->n_needles)) {
            continue;
        }
        struct lr_src src = {
            .mint = bi.mint,
            .maxt = bi.maxt,
            .block = false,
            .window = hit->window,
            .slot = hit->slot,
            .seq = tr_get_u64be(key.base + pl),
        };
        src.value.base = tr_arena_memdup(a, v.base, v.len);
        src.value.len = v.len;
        if (src.value.base == NULL) {
            rv = TR_ENOMEM;
            break;
        }
        rv = lr__src_push(out, &src);
    }
    tr_buf_free(&k);
    return rv;
}

static int lr__rank_cmp(const void *a, const void *b)
{
    const struct lr_src *x = a, *y = b;
    if (x->window != y->window) {
        return x->window < y->window ? -1 : 1;
    }
    if (x->slot != y->slot) {
        return x->slot < y->slot ? -1 : 1;
    }
    return x->seq < y->seq ? -1 : (x->seq > y->seq ? 1 : 0);
}

static int lr__fwd_cmp(const void *a, const void *b)
{
    const struct lr_src *x = *(const struct lr_src *const *)a;
    const struct lr_src *y = *(const struct lr_src *const *)b;
    if (x->mint != y->mint) {
        return x->mint < y->mint ? -1 : 1;
    }
    return x->rank < y->rank ? -1 : (x->rank > y->rank ? 1 : 0);
}

static int lr__bwd_cmp(const void *a, const void *b)
{
    const struct lr_src *x = *(const struct lr_src *const *)a;
    const struct lr_src *y = *(const struct lr_src *const *)b;
    if (x->maxt != y->maxt) {
        return x->maxt > y->maxt ? -1 : 1;
    }
    return x->rank > y->rank ? -1 : (x->rank < y->rank ? 1 : 0);
}

/* A line kept for the result, with its place in push order. */
struct lr_item {
    struct tr_log_line l;
    size_t rank;
    size_t pos;
};

static int lr__item_fwd(const void *a, const void *b)
{
    const struct lr_item *x = a, *y = b;
    if (x->l.ts != y->l.ts) {
        return x->l.ts < y->l.ts ? -1 : 1;
    }
    if (x->rank != y->rank) {
        return x->rank < y->rank ? -1 : 1;
    }
    return x->pos < y->pos ? -1 : (x->pos > y->pos ? 1 : 0);
}

static int lr__item_bwd(const void *a, const void *b)
{
    return lr__item_fwd(b, a);
}

/* Whether line l carries every pushed-down metadata pair. */
static bool lr__meta_matches(const struct tr_log_line *l,
                             const struct tr_log_hints *h)
{
    for (size_t i = 0; i < h->n_meta; i++) {
        bool have = false;
        for (size_t j = 0; j < l->n_meta && !have; j++) {
            have = tr_slice_eq(l->meta[j].name, h->meta[i].name) &&
                   tr_slice_eq(l->meta[j].value, h->meta[i].value);
        }
        if (!have) {
            return false;
        }
    }
    return true;
}

struct lr_items {
    struct lr_item *v;
    size_t n;
    size_t cap;
};

/* Decodes source src (a block through the iterator) and keeps its
 * matching lines in [start, end). */
static int lr__scan_src(struct tr_iter *it,
                        const struct lr_src *src,
                        const struct tr_log_hints *h,
                        struct tr_arena *tmp,
                        struct tr_log_stats *st,
                        struct lr_items *items)
{
    struct tr_slice data = src->value;
    if (src->block) {
        tr_iter_seek(it, src->key.base, src->key.len);
        if (!tr_iter_valid(it) || !tr_slice_eq(tr_iter_key(it), src->key)) {
            return TR_ECORRUPT; /* an index without its block */
        }
        data = tr_iter_value(it);
    }
    struct tr_log_block_filter f = {
        .start = h->start,
        .end = h->end,
        .needles = h->needles,
        .n_needles = h->n_needles,
    };
    struct tr_log_line *lines;
    uint32_t *pos;
    size_t n, in_range;
    int rv = tr_log_block_select(data.base, data.len, &f, tmp, &lines, &pos, &n,
                                 &in_range);
    if (rv != 0) {
        return rv;
    }
    if (src->block) {
        struct tr_log_block_info bi;
        if (tr_log_block_info(data.base, data.len, &bi) == 0) {
            st->bytes_decompressed += bi.payload_len;
        }
    }
    st->lines_scanned += in_range;
    for (size_t i = 0; i < n; i++) {
        if (!lr__meta_matches(&lines[i], h)) {
            continue;
        }
        if (items->n == items->cap) {
            struct lr_item *nv =
                tr_array_grow(items->v, &items->cap, sizeof(*nv), 256);
            if (nv == NULL) {
                return TR_ENOMEM;
            }
            items->v = nv;
        }
        items->v[items->n++] = (struct lr_item){lines[i], src->rank, pos[i]};
    }
    return 0;
}

/* Copies the line (bytes and metadata) into a. */
static int lr__copy_line(struct tr_arena *a,
                         const struct tr_log_line *l,
                         struct tr_log_line *out)
{
    out->ts = l->ts;
    out->line.base =
        tr_arena_memdup(a, l->line.base, l->line.len ? l->line.len : 1);
    out->line.len = l->line.len;
    out->n_meta = l->n_meta;
    out->meta = NULL;
    if (out->line.base == NULL) {
        return TR_ENOMEM;
    }
    if (l->n_meta > 0) {
        struct tr_label *m = tr_arena_alloc(a, l->n_meta * sizeof(*m));
        if (m == NULL) {
            return TR_ENOMEM;
        }
        for (size_t i = 0; i < l->n_meta; i++) {
            m[i].name.base = tr_arena_memdup(a, l->meta[i].name.base,
                                             l->meta[i].name.len + 1);
            m[i].name.len = l->meta[i].name.len;
            m[i].value.base = tr_arena_memdup(a, l->meta[i].value.base,
                                              l->meta[i].value.len + 1);
            m[i].value.len = l->meta[i].value.len;
            if (m[i].name.base == NULL || m[i].value.base == NULL) {
                return TR_ENOMEM;
            }
        }
        out->meta = m;
    }
    return 0;
}

/* Reads one stream (its hits in several shards) into st: blocks through
 * it, open fragments through oit (one snapshot). */
static int lr__stream(struct tr_iter *it,
                      struct tr_iter *oit,
                      struct tr_slice tenant,
                      const struct lr_hit *hits,
                      size_t nh,
                      const struct tr_log_hints *h,
                      struct tr_log_result *out,
                      struct tr_log_stream *ls)
{
    struct tr_arena tmp;
    tr_arena_init(&tmp, 64 * 1024);
    struct lr_srcs ss = {0};
    struct lr_items items = {0};
    struct lr_src **order = NULL;
    int rv = 0;
    for (size_t i = 0; i < nh && rv == 0; i++) {
        rv = lr__sources(it, oit, tenant, &hits[i], h, &tmp, ls, &out->stats,
                         &ss);
    }
    if (rv == 0 && ss.n > 1) {
        qsort(ss.v, ss.n, sizeof(*ss.v), lr__rank_cmp);
    }
    for (size_t i = 0; i < ss.n; i++) {
        ss.v[i].rank = i;
    }
    if (rv != 0 || h->no_lines || ss.n == 0) {
        goto done;
    }
    order = tr_malloc(ss.n * sizeof(*order));
    if (order == NULL) {
        rv = TR_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < ss.n; i++) {
        order[i] = &ss.v[i];
    }
    bool fwd = h->direction == TR_LOG_FORWARD;
    qsort(order, ss.n, sizeof(*order), fwd ? lr__fwd_cmp : lr__bwd_cmp);
    for (size_t i = 0; i < ss.n && rv == 0; i++) {
        const struct lr_src *src = order[i];
        if (h->limit > 0 && items.n >= h->limit) {
            int64_t edge = items.v[h->limit - 1].l.ts;
            if (fwd ? src->mint > edge : src->maxt < edge) {
                break; /* nothing further can enter the first `limit` */
            }
        }
        rv = lr__scan_src(it, src, h, &tmp, &out->stats, &items);
        /* with a limit, keep only the first `limit` so far: the stop
         * test above compares with the last of them */
        if (rv == 0 && h->limit > 0 && items.n > 1) {
            qsort(items.v, items.n, sizeof(*items.v),
                  fwd ? lr__item_fwd : lr__item_bwd);
            if (items.n > h->limit) {
                items.n = h->limit;
            }
        }
    }
    if (rv == 0 && h->limit == 0 && items.n > 1) {
        qsort(items.v, items.n, sizeof(*items.v),
              fwd ? lr__item_fwd : lr__item_bwd);
    }
    if (rv != 0) {
        goto done;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < items.n; i++) {
        bytes += items.v[i].l.line.len;
    }
    if (h->budget != NULL && !tr_select_budget_take(h->budget, bytes)) {
        rv = TR_ELIMIT;
        goto done;
    }
    ls->lines = tr_arena_alloc(&out->arena,
                               (items.n ? items.n : 1) * sizeof(*ls->lines));
    rv = ls->lines == NULL ? TR_ENOMEM : 0;
    for (size_t i = 0; i < items.n && rv == 0; i++) {
        rv = lr__copy_line(&out->arena, &items.v[i].l, &ls->lines[i]);
    }
    ls->n_lines = rv == 0 ? items.n : 0;
done:
    tr_free(order);
    tr_free(items.v);
    tr_free(ss.v);
    tr_arena_free(&tmp);
    return rv;
}

static int lr__errf(int rv, char *errmsg)
{
    switch (rv) {
        case TR_ENOMEM:
            return tr_errf(rv, errmsg, "out of memory");
        case TR_ECORRUPT:
            return tr_errf(TR_EIO, errmsg, "corrupt log block in storage");
        case TR_ELIMIT:
            return tr_errf(rv, errmsg,
                           "the query would read too many bytes (query limit)");
        default:
            return tr_errf(rv, errmsg, "%s", tr_strerror(rv));
    }
}

/* A part of a parallel read: stream groups [g0, g1), with its own arena
 * and stats. */
struct lr_piece {
    size_t g0;
    size_t g1;
    struct tr_log_result part;
    int rv;
};

struct lr_par {
    struct tr_iter *base; /* the read's point in time */
    struct tr_slice tenant;
    const struct lr_hits *hits;
    const size_t *group_start; /* [ng + 1]: first hit of each group */
    const struct tr_log_hints *h;
    struct tr_log_stream *streams; /* [ng] */
    struct lr_piece *pieces;
    atomic_int stop;
};

static void lr__read_piece(void *arg, size_t pi)
{
    struct lr_par *p = arg;
    struct lr_piece *pc = &p->pieces[pi];
    struct tr_iter *it = tr_iter_clone(p->base, TR_CF_LOGS);
    struct tr_iter *oit = tr_iter_clone(p->base, TR_CF_LOGS_OPEN);
    pc->rv = it == NULL || oit == NULL ? TR_ENOMEM : 0;
    for (size_t g = pc->g0; g < pc->g1 && pc->rv == 0; g++) {
        if (atomic_load(&p->stop)) {
            break;
        }
        const struct lr_hit *hit = &p->hits->v[p->group_start[g]];
        struct tr_log_stream *ls = &p->streams[g];
        ls->labels = hit->labels;
        ls->n_labels = hit->n_labels;
        pc->rv = lr__stream(it, oit, p->tenant, hit,
                            p->group_start[g + 1] - p->group_start[g], p->h,
                            &pc->part, ls);
    }
    if (pc->rv != 0) {
        atomic_store(&p->stop, 1);
    }
    tr_iter_free(it);
    tr_iter_free(oit);
}

/* The first hit of each label set of hits (sorted by labels), then
 * hits->n: *starts (tr_malloc'ed) gets *ng + 1 entries. 0 or TR_ENOMEM. */
static int lr__group_starts(const struct lr_hits *hits,
                            size_t **starts,
                            size_t *ng)
{
    size_t *v = tr_malloc((hits->n + 1) * sizeof(*v));
    if (v == NULL) {
        return TR_ENOMEM;
    }
    size_t g = 0;
    for (size_t i = 0; i < hits->n; i++) {
        if (i == 0 ||
            tr_labels_cmp(hits->v[i - 1].labels, hits->v[i - 1].n_labels,
                          hits->v[i].labels, hits->v[i].n_labels) != 0) {
            v[g++] = i;
        }
    }
    v[g] = hits->n;
    *starts = v;
    *ng = g;
    return 0;
}

/* Reads the ng stream groups of hits (sorted by labels; starts: the
 * first hit of each, see lr__group_starts) into
 * out->streams, in label order, on the tr_par helpers: streams are
 * independent, and every part reads at the point in time of it. Streams
 * without lines are left out (unless h->no_lines). */
static int lr__read_streams(struct tr_iter *it,
                            struct tr_slice tenant,
                            const struct lr_hits *hits,
                            const size_t *starts,
                            size_t ng,
                            const struct tr_log_hints *h,
                            struct tr_log_result *out)
{
    out->streams =
        tr_arena_alloc(&out->arena, (ng ? ng : 1) * sizeof(*out->streams));
    size_t np = tr_par_threads() > 1 && ng > 1 ? tr_par_threads() * 8 : 1;
    np = np > ng ? (ng ? ng : 1) : np;
    struct lr_piece *pieces = tr_calloc(np, sizeof(*pieces));
    if (out->streams == NULL || pieces == NULL) {
        tr_free(pieces);
        return TR_ENOMEM;
    }
    memset(out->streams, 0, ng * sizeof(*out->streams));
    struct lr_par p = {
        .base = it,
        .tenant = tenant,
        .hits = hits,
        .group_start = starts,
        .h = h,
        .streams = out->streams,
        .pieces = pieces,
    };
    atomic_init(&p.stop, 0);
    for (size_t i = 0; i < np; i++) {
        pieces[i].g0 = ng * i / np;
        pieces[i].g1 = ng * (i + 1) / np;
        tr_log_result_init(&pieces[i].part);
    }
    tr_par_for(ng > 0 ? np : 0, lr__read_piece, &p);
    int rv = 0;
    for (size_t i = 0; i < np; i++) {
        if (rv == 0) {
            rv = pieces[i].rv;
        }
        const struct tr_log_stats *ps = &pieces[i].part.stats;
        out->stats.blocks_total += ps->blocks_total;
        out->stats.blocks_skipped += ps->blocks_skipped;
        out->stats.bytes_decompressed += ps->bytes_decompressed;
        out->stats.lines_scanned += ps->lines_scanned;
        tr_arena_adopt(&out->arena, &pieces[i].part.arena);
    }
    size_t kept = 0;
    for (size_t i = 0; rv == 0 && i < ng; i++) {
        if (h->no_lines || out->streams[i].n_lines > 0) {
            out->streams[kept++] = out->streams[i];
        }
    }
    out->n_streams = rv == 0 ? kept : 0;
    tr_free(pieces);
    return rv;
}

static int lr__select(void *impl,
                      struct tr_slice tenant,
                      const struct tr_matcher *ms,
                      size_t n,
                      const struct tr_log_hints *h,
                      struct tr_log_result *out,
                      char *errmsg)
{
    struct tr_storage *s = impl;
    tr_log_result_init(out);
    struct tr_iter *it = tr_iter_new(s->eng, TR_CF_LOGS);
    if (it == NULL) {
        return lr__errf(TR_ENOMEM, errmsg);
    }
    struct lr_hits hits = {0};
    int rv = lr__collect(s, it, tenant, ms, n, h, &out->arena, &hits);
    size_t *starts = NULL, groups = 0;
    if (rv == 0) {
        rv = lr__group_starts(&hits, &starts, &groups);
    }
    if (rv == 0 && h->max_streams > 0 && groups > h->max_streams) {
        tr_free(starts);
        tr_free(hits.v);
        tr_iter_free(it);
        return tr_errf(TR_ELIMIT, errmsg,
                       "maximum of series (%zu) reached for a single query",
                       h->max_streams);
    }
    if (rv == 0) {
        rv = lr__read_streams(it, tenant, &hits, starts, groups, h, out);
    }
    tr_free(starts);
    tr_free(hits.v);
    tr_iter_free(it);
    return rv == 0 ? 0 : lr__errf(rv, errmsg);
}

static int lr__labels(struct tr_storage *s,
                      struct tr_slice tenant,
                      const struct tr_slice *value_of,
                      const struct tr_matcher *ms,
                      size_t n,
                      const struct tr_log_hints *h,
                      struct tr_string_list *out,
                      char *errmsg)
{
    memset(out, 0, sizeof(*out));
    tr_arena_init(&out->arena, 16 * 1024);
    struct strset ss = {0};
    int rv = 0;
    if (n == 0) {
        struct postings_range r = lr__range(s, h);
        if (h->end > h->start) {
            rv = postings_scan(s->eng, TR_CF_LOGS, tenant, value_of, &r,
                               &out->arena, &ss);
        }
    } else {
        struct tr_iter *it = tr_iter_new(s->eng, TR_CF_LOGS);
        struct lr_hits hits = {0};
        struct tr_arena tmp;
        tr_arena_init(&tmp, 16 * 1024);
        rv = it == NULL ? TR_ENOMEM
                        : lr__collect(s, it, tenant, ms, n, h, &tmp, &hits);
        for (size_t i = 0; i < hits.n && rv == 0; i++) {
            const struct lr_hit *hit = &hits.v[i];
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
        tr_iter_free(it);
    }
    if (rv == 0) {
        rv = strset_finish(&ss, 0, out);
    } else {
        tr_free(ss.v);
    }
    return rv == 0 ? 0 : lr__errf(rv, errmsg);
}

static int lr__label_names(void *impl,
                           struct tr_slice tenant,
                           const struct tr_matcher *ms,
                           size_t n,
                           const struct tr_log_hints *h,
                           struct tr_string_list *out,
                           char *errmsg)
{
    return lr__labels(impl, tenant, NULL, ms, n, h, out, errmsg);
}

static int lr__label_values(void *impl,
                            struct tr_slice tenant,
                            struct tr_slice name,
                            const struct tr_matcher *ms,
                            size_t n,
                            const struct tr_log_hints *h,
                            struct tr_string_list *out,
                            char *errmsg)
{
    return lr__labels(impl, tenant, &name, ms, n, h, out, errmsg);
}

void log_init_source(struct tr_storage *s)
{
    s->log_source.version = 1;
    s->log_source.impl = s;
    s->log_source.select = lr__select;
    s->log_source.label_names = lr__label_names;
    s->log_source.label_values = lr__label_values;
}

const struct tr_log_source *tr_storage_log_source(struct tr_storage *s)
{
    return &s->log_source;
}

int tr_storage_streams_admit(struct tr_storage *s,
                             const struct tr_shard_id *id,
                             struct tr_slice tenant,
                             const struct tr_slice *labels,
                             size_t n,
                             bool *is_new,
                             uint64_t *count)
{
    if (id->signal != TR_SIGNAL_LOGS) {
        return TR_EINVAL;
    }
    struct tr_buf key, val;
    tr_buf_init(&key);
    tr_buf_init(&val);
    int rv = 0;
    *count =
        postings_count_load(s->eng, TR_CF_LOGS, tenant, id->window, id->slot);
    for (size_t i = 0; i < n && rv == 0; i++) {
        uint64_t sid = tr_labels_hash(labels[i].base, labels[i].len);
        is_new[i] = true;
        for (int probe = 0; probe < 1024; probe++, sid++) {
            int p = postings_probe(s->eng, TR_CF_LOGS, tenant, id->window,
                                   id->slot, sid, labels[i], &key, &val);
            if (p < 0) {
                rv = TR_EIO;
                break;
            }
            if (p != POSTINGS_TAKEN) {
                is_new[i] = p == POSTINGS_FREE;
                break;
            }
        }
    }
    tr_buf_free(&key);
    tr_buf_free(&val);
    return rv;
}
