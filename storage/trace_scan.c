/* trace_scan.c - the local trace source (storage/trace_select.h): scans
 * of a tenant's traces shards by time range with value-key pruning, and
 * the attribute names and values of tag autocomplete (keys in
 * storage/trace_keys.h). */
#include <string.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "lib/hash.h"
#include "lib/u64map.h"
#include "storage/storage_int.h"
#include "storage/trace_block.h"
#include "storage/trace_keys.h"
#include "storage/trace_store.h"

#define TS_MAX_SEQS (1u << 20)

/* One shard of the tenant being read. */
struct ts_shard {
    struct tr_storage *s;
    struct tr_iter *it;
    struct tr_slice tenant;
    int64_t window;
    uint16_t slot;
    const struct tr_trace_hints *h;
    struct tr_arena *a;
    struct tr_buf key;
    struct tr_arena *decode; /* blocks of a scan (reset per block) or a */
};

/* ---- shards of a range -----------------------------------------------------
 */

typedef int (*ts_shard_fn)(void *arg, struct ts_shard *sh, char *errmsg);

static bool ts__wanted(const struct tr_trace_hints *h,
                       int64_t window,
                       uint16_t slot)
{
    if (h->n_shards == 0) {
        return true;
    }
    for (size_t i = 0; i < h->n_shards; i++) {
        if (h->shards[i].signal == TR_SIGNAL_TRACES &&
            h->shards[i].window == window && h->shards[i].slot == slot) {
            return true;
        }
    }
    return false;
}

/* Calls fn for every traces shard of tenant whose window overlaps the
 * hints' range. */
static int ts__shards(struct tr_storage *s,
                      struct tr_slice tenant,
                      const struct tr_trace_hints *h,
                      ts_shard_fn fn,
                      void *arg,
                      char *errmsg)
{
    int64_t wms = s->cfg.window_ms > 0 ? s->cfg.window_ms : 86400000;
    int64_t first = tr_window_floor((int64_t)(h->start / 1000000), wms);
    int64_t last = (int64_t)(h->end / 1000000);
    struct tr_iter *it = tr_iter_new(s->eng, TR_CF_TRACES);
    struct tr_iter *sit = tr_iter_new(s->eng, TR_CF_TRACES);
    if (it == NULL || sit == NULL) {
        if (it != NULL) {
            tr_iter_free(it);
        }
        if (sit != NULL) {
            tr_iter_free(sit);
        }
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    struct tr_buf k;
    tr_buf_init(&k);
    tr_key_tenant_prefix(&k, tenant);
    size_t tpl = k.len;
    tr_buf_put_u64be(&k, tr_key_time(first));
    tr_iter_seek(it, k.data, k.len);
    int rv = 0;
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    while (rv == 0 && tr_iter_valid(it) &&
           tr_iter_has_prefix(it, k.data, tpl)) {
        int64_t window;
        uint16_t slot;
        char kind;
        if (tr_key_parse_shard(tr_iter_key(it), tenant.len, &window, &slot,
                               &kind) != 0 ||
            window > last) {
            break;
        }
        if (ts__wanted(h, window, slot)) {
            struct ts_shard sh = {s, sit, tenant, window, slot,
                                  h, &a,  {0},    NULL};
            tr_buf_init(&sh.key);
            rv = fn(arg, &sh, errmsg);
            tr_buf_free(&sh.key);
            tr_arena_reset(&a);
        }
        /* the next shard: past every key of (window, slot) */
        struct tr_buf nx;
        tr_buf_init(&nx);
        tr_key_tenant_prefix(&nx, tenant);
        tr_buf_put_u64be(&nx, tr_key_time(window));
        tr_buf_put_u16be(&nx, slot);
        uint8_t succ[TR_KEY_MAX_TENANT + 16];
        size_t sl = nx.len <= sizeof(succ)
                        ? tr_prefix_successor(nx.data, nx.len, succ)
                        : 0;
        tr_buf_free(&nx);
        if (sl == 0) {
            break;
        }
        tr_iter_seek(it, succ, sl);
    }
    tr_arena_free(&a);
    tr_buf_free(&k);
    tr_iter_free(sit);
    tr_iter_free(it);
    return rv == 1 ? 0 : rv;
}

/* ---- fragments ------------------------------------------------------------
 */

/* The open fragments of a shard, decoded (data in sh->a). */
struct ts_frags {
    struct tr_span_batch *b;
    size_t n, cap;
};

static int ts__fragments(struct ts_shard *sh, struct ts_frags *f, char *errmsg)
{
    memset(f, 0, sizeof(*f));
    struct trace_state st;
    int rv = trace_state_load(sh->s->eng, &sh->key, sh->tenant, sh->window,
                              sh->slot, &st);
    if (rv != 0) {
        return tr_errf(rv, errmsg, "reading a trace state failed");
    }
    if (st.frags == 0) {
        return 0;
    }
    trace_key_fragments(&sh->key, sh->tenant, sh->window, sh->slot, &st);
    for (tr_iter_seek(sh->it, sh->key.data, sh->key.len);
         rv == 0 && tr_iter_valid(sh->it) &&
         tr_iter_has_prefix(sh->it, sh->key.data, sh->key.len);
         tr_iter_next(sh->it)) {
        struct tr_slice v = tr_iter_value(sh->it);
        char *copy = tr_arena_memdup(sh->a, v.base, v.len);
        if (f->n == f->cap) {
            void *nb = tr_arena_array_grow(sh->a, f->b, f->n, &f->cap,
                                           sizeof(*f->b), 16);
            if (nb == NULL) {
                return tr_errf(TR_ENOMEM, errmsg, "out of memory");
            }
            f->b = nb;
        }
        if (copy == NULL) {
            return tr_errf(TR_ENOMEM, errmsg, "out of memory");
        }
        struct tr_cursor c = tr_cursor_make(copy, v.len);
        uint64_t nid;
        struct tr_slice ids;
        if (tr_cursor_uvarint(&c, &nid) != 0 ||
            nid > tr_cursor_left(&c) / TR_TRACE_ID_SIZE ||
            tr_cursor_bytes(&c, nid * TR_TRACE_ID_SIZE, &ids) != 0 ||
            tr_span_batch_decode(&c, sh->a, &f->b[f->n]) != 0) {
            rv = tr_errf(TR_ECORRUPT, errmsg, "corrupt trace fragment");
            break;
        }
        f->n++;
    }
    return rv;
}

/* ---- scans -----------------------------------------------------------------
 */

/* A trace of the shard whose spans lie in several places (blocks, open
 * fragments): its parts are gathered while the shard is scanned and it
 * is visited whole at the end (fetched by id when the scan did not read
 * every part, e.g. blocks left out by pruning). */
struct ts_pending {
    uint8_t id[TR_TRACE_ID_SIZE];
    struct tr_span_batch_builder bb;
    size_t seen;  /* parts gathered */
    size_t parts; /* trace records, plus 1 with spans in fragments */
};

struct ts_scan {
    const struct tr_trace_hints *h;
    tr_trace_visit_fn fn;
    void *arg;
    struct tr_u64map pending; /* hash(id) -> index + 1 into pend */
    struct ts_pending *pend;
    size_t n_pend, cap_pend;
    const struct ts_frags *frags; /* the shard's open fragments */
    struct tr_u64map blocks;      /* seq -> decoded block (flush) */
};

static uint64_t ts__id_hash(const char *id)
{
    return tr_hash64(id, TR_TRACE_ID_SIZE, 0x76697369);
}

static bool ts__overlaps(const struct tr_trace_hints *h,
                         const struct tr_span_batch *t)
{
    for (size_t i = 0; i < t->n_spans; i++) {
        const struct tr_otlp_span *s = &t->spans[i].span;
        if (s->start_time_unix_nano <= h->end &&
            s->end_time_unix_nano >= h->start) {
            return true;
        }
    }
    return false;
}

/* How many places hold trace id in the shard: its trace records, plus
 * one when open fragments have spans of it. */
static size_t ts__parts(struct ts_shard *sh, const char *id, bool in_frags)
{
    trace_key(&sh->key, sh->tenant, sh->window, sh->slot, TR_KEY_TRACE_ID);
    tr_buf_append(&sh->key, id, TR_TRACE_ID_SIZE);
    size_t n = 0;
    for (tr_iter_seek(sh->it, sh->key.data, sh->key.len);
         tr_iter_valid(sh->it) &&
         tr_iter_has_prefix(sh->it, sh->key.data, sh->key.len);
         tr_iter_next(sh->it)) {
        n++;
    }
    return n + (in_frags ? 1 : 0);
}

static int ts__add_spans(struct tr_span_batch_builder *bb,
                         struct tr_arena *a,
                         const struct tr_span_batch *t)
{
    for (size_t i = 0; i < t->n_spans; i++) {
        const struct tr_batch_scope *sc = &t->scopes[t->spans[i].scope];
        int rv = tr_span_batch_builder_add(bb, a, &t->resources[sc->resource],
                                           &sc->scope, &t->spans[i].span);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

static bool ts__value_eq(const struct tr_otlp_value *a,
                         const struct tr_otlp_value *b)
{
    if (a->type != b->type) {
        return false;
    }
    switch (a->type) {
        case TR_OTLP_STRING:
            return tr_slice_eq(a->s, b->s);
        case TR_OTLP_INT:
            return a->i == b->i;
        case TR_OTLP_BOOL:
            return a->b == b->b;
        default:
            return false;
    }
}

static bool ts__kvs_have(const struct tr_otlp_kv *kvs,
                         size_t n,
                         const struct tr_trace_eq *e)
{
    for (size_t i = 0; i < n; i++) {
        if (tr_slice_eq(kvs[i].key, e->key) &&
            ts__value_eq(&kvs[i].value, &e->value)) {
            return true;
        }
    }
    return false;
}

/* Whether a span of part t (or its resource) has e's value. */
static bool ts__part_has(const struct tr_span_batch *t,
                         const struct tr_trace_eq *e)
{
    for (size_t i = 0; i < t->n_spans; i++) {
        const struct tr_otlp_span *s = &t->spans[i].span;
        const struct tr_batch_scope *sc = &t->scopes[t->spans[i].scope];
        const struct tr_otlp_resource *r = &t->resources[sc->resource];
        for (int f = 0; f < 2 && e->fields[f] != 0; f++) {
            struct tr_otlp_value v = {.type = TR_OTLP_INT};
            switch (e->fields[f]) {
                case TR_TRACE_FIELD_RESOURCE:
                    if (ts__kvs_have(r->attrs, r->n_attrs, e)) {
                        return true;
                    }
                    continue;
                case TR_TRACE_FIELD_SPAN:
                    if (ts__kvs_have(s->attrs, s->n_attrs, e)) {
                        return true;
                    }
                    continue;
                case TR_TRACE_FIELD_NAME:
                    v = (struct tr_otlp_value){.type = TR_OTLP_STRING,
                                               .s = s->name};
                    break;
                case TR_TRACE_FIELD_STATUS:
                    v.i = s->status_code;
                    break;
                case TR_TRACE_FIELD_KIND:
                    v.i = s->kind;
                    break;
                default:
                    continue;
            }
            if (ts__value_eq(&v, &e->value)) {
                return true;
            }
        }
    }
    return false;
}

/* Visits trace part t: at once when it is the whole trace (or whole
 * traces are not asked for), else gathered (ts__flush). With
 * equalities, a part without the first one's value is passed over: a
 * matching trace has it in another part, in a block the scan reads. */
static int ts__visit(struct ts_scan *x,
                     struct ts_shard *sh,
                     const struct tr_span_batch *t,
                     bool in_frags,
                     char *errmsg)
{
    if (t->n_spans == 0) {
        return 0;
    }
    const char *id = t->spans[0].span.trace_id.base;
    if (!x->h->whole) {
        return ts__overlaps(x->h, t) ? x->fn(x->arg, t, errmsg) : 0;
    }
    uint64_t hid = ts__id_hash(id);
    uintptr_t at = (uintptr_t)tr_u64map_get(&x->pending, hid);
    if (at == 0 && x->h->n_eq > 0 && !ts__part_has(t, &x->h->eq[0])) {
        return 0;
    }
    if (at == 0) {
        size_t parts = ts__parts(sh, id, in_frags);
        if (parts <= 1) {
            return ts__overlaps(x->h, t) ? x->fn(x->arg, t, errmsg) : 0;
        }
        if (x->n_pend == x->cap_pend) {
            struct ts_pending *np =
                tr_array_grow(x->pend, &x->cap_pend, sizeof(*np), 64);
            if (np == NULL) {
                return tr_errf(TR_ENOMEM, errmsg, "out of memory");
            }
            x->pend = np;
        }
        struct ts_pending *p = &x->pend[x->n_pend++];
        memset(p, 0, sizeof(*p));
        memcpy(p->id, id, TR_TRACE_ID_SIZE);
        tr_span_batch_builder_init(&p->bb);
        p->parts = parts;
        at = x->n_pend;
        if (tr_u64map_put(&x->pending, hid, (void *)at) != 0) {
            return tr_errf(TR_ENOMEM, errmsg, "out of memory");
        }
    }
    struct ts_pending *p = &x->pend[at - 1];
    if (memcmp(p->id, id, TR_TRACE_ID_SIZE) != 0) {
        /* two ids of one hash: the second is fetched whole on its own */
        struct tr_span_batch_builder bb;
        tr_span_batch_builder_init(&bb);
        struct tr_shard_id one = {TR_SIGNAL_TRACES, sh->window, sh->slot};
        int rv = tr_storage_trace_get(sh->s, &one, 1, sh->tenant,
                                      (const uint8_t *)id, sh->a, &bb, errmsg);
        if (rv == 0) {
            rv = tr_span_batch_dedup(&bb.b);
        }
        return rv != 0 || !ts__overlaps(x->h, &bb.b)
                   ? rv
                   : x->fn(x->arg, &bb.b, errmsg);
    }
    p->seen++;
    /* a copy of the part (it may live in a block's arena of its own) */
    struct tr_buf enc;
    tr_buf_init(&enc);
    int rv = tr_span_batch_encode(t, &enc);
    char *copy = rv == 0 ? tr_arena_memdup(sh->a, enc.data, enc.len) : NULL;
    struct tr_span_batch own;
    if (rv == 0 && copy == NULL) {
        rv = TR_ENOMEM;
    }
    if (rv == 0) {
        struct tr_cursor c = tr_cursor_make(copy, enc.len);
        rv = tr_span_batch_decode(&c, sh->a, &own);
    }
    tr_buf_free(&enc);
    if (rv == 0) {
        rv = ts__add_spans(&p->bb, sh->a, &own);
    }
    return rv == 0 ? 0 : tr_errf(rv, errmsg, "out of memory");
}

static int ts__block(struct ts_shard *sh,
                     uint64_t seq,
                     bool check_time,
                     struct tr_trace_block *blk,
                     char *errmsg);

/* Every part of pending trace p: the blocks its trace records name
 * (decoded once per flush: x->blocks) and the open fragments. */
static int ts__fetch(struct ts_scan *x,
                     struct ts_shard *sh,
                     struct ts_pending *p,
                     char *errmsg)
{
    tr_span_batch_builder_init(&p->bb);
    struct tr_buf prefix;
    tr_buf_init(&prefix);
    trace_key(&prefix, sh->tenant, sh->window, sh->slot, TR_KEY_TRACE_ID);
    tr_buf_append(&prefix, p->id, TR_TRACE_ID_SIZE);
    int rv = prefix.oom ? tr_errf(TR_ENOMEM, errmsg, "out of memory") : 0;
    /* the records first (the block reads move the iterator) */
    uint64_t seqs[64];
    uint32_t ords[64];
    size_t n = 0;
    for (tr_iter_seek(sh->it, prefix.data, prefix.len);
         rv == 0 && n < 64 && tr_iter_valid(sh->it) &&
         tr_iter_has_prefix(sh->it, prefix.data, prefix.len);
         tr_iter_next(sh->it)) {
        struct tr_slice k = tr_iter_key(sh->it);
        struct trace_rec r;
        if (k.len != prefix.len + 8 ||
            trace_rec_decode(tr_iter_value(sh->it), &r) != 0) {
            rv = tr_errf(TR_ECORRUPT, errmsg, "corrupt trace record");
            break;
        }
        seqs[n] = tr_get_u64be(k.base + prefix.len);
        ords[n++] = r.ordinal;
    }
    tr_buf_free(&prefix);
    for (size_t i = 0; i < n && rv == 0; i++) {
        struct tr_trace_block *blk = tr_u64map_get(&x->blocks, seqs[i]);
        if (blk == NULL) {
            blk = tr_arena_alloc(sh->a, sizeof(*blk));
            if (blk == NULL) {
                return tr_errf(TR_ENOMEM, errmsg, "out of memory");
            }
            rv = ts__block(sh, seqs[i], false, blk, errmsg);
            if (rv == 0 && tr_u64map_put(&x->blocks, seqs[i], blk) != 0) {
                rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
            }
        }
        if (rv == 0 && ords[i] >= blk->n_traces) {
            rv = tr_errf(TR_ECORRUPT, errmsg, "corrupt trace record");
        }
        if (rv == 0) {
            struct tr_span_batch part = blk->batch;
            part.spans = &blk->batch.spans[blk->first[ords[i]]];
            part.n_spans = blk->first[ords[i] + 1] - blk->first[ords[i]];
            rv = ts__add_spans(&p->bb, sh->a, &part);
        }
    }
    for (size_t i = 0; rv == 0 && x->frags != NULL && i < x->frags->n; i++) {
        const struct tr_span_batch *b = &x->frags->b[i];
        for (size_t j = 0; j < b->n_spans && rv == 0; j++) {
            const struct tr_batch_span *sp = &b->spans[j];
            if (memcmp(sp->span.trace_id.base, p->id, TR_TRACE_ID_SIZE) != 0) {
                continue;
            }
            const struct tr_batch_scope *sc = &b->scopes[sp->scope];
            rv = tr_span_batch_builder_add(&p->bb, sh->a,
                                           &b->resources[sc->resource],
                                           &sc->scope, &sp->span);
        }
    }
    return rv;
}

/* Visits the gathered traces of the shard, whole. */
static int ts__flush(struct ts_scan *x, struct ts_shard *sh, char *errmsg)
{
    int rv = 0;
    tr_u64map_init(&x->blocks);
    for (size_t i = 0; i < x->n_pend && rv == 0; i++) {
        struct ts_pending *p = &x->pend[i];
        if (p->seen < p->parts) {
            /* parts the scan did not read */
            rv = ts__fetch(x, sh, p, errmsg);
        }
        if (rv == 0) {
            rv = tr_span_batch_dedup(&p->bb.b);
        }
        if (rv == 0 && ts__overlaps(x->h, &p->bb.b)) {
            rv = x->fn(x->arg, &p->bb.b, errmsg);
        }
    }
    x->n_pend = 0;
    tr_u64map_free(&x->pending);
    tr_u64map_init(&x->pending);
    tr_u64map_free(&x->blocks);
    return rv;
}

/* The blocks (seqs) that value key eq names in the shard, sorted. */
static int ts__eq_seqs(struct ts_shard *sh,
                       const struct tr_trace_eq *eq,
                       uint64_t **out,
                       size_t *n)
{
    uint64_t *v = NULL;
    size_t cnt = 0, cap = 0;
    struct tr_buf val;
    tr_buf_init(&val);
    tr_trace_value_put(&val, &eq->value);
    for (int f = 0; f < 2 && eq->fields[f] != 0; f++) {
        for (int any = 0; any < 2; any++) {
            trace_key(&sh->key, sh->tenant, sh->window, sh->slot,
                      TR_KEY_TRACE_VALUE);
            tr_buf_putc(&sh->key, (char)eq->fields[f]);
            tr_buf_put_uvarint(&sh->key, eq->key.len);
            tr_buf_append(&sh->key, eq->key.base, eq->key.len);
            tr_buf_put_uvarint(&sh->key, any ? 0 : val.len);
            if (!any) {
                tr_buf_append(&sh->key, val.data, val.len);
            }
            for (tr_iter_seek(sh->it, sh->key.data, sh->key.len);
                 tr_iter_valid(sh->it) &&
                 tr_iter_has_prefix(sh->it, sh->key.data, sh->key.len);
                 tr_iter_next(sh->it)) {
                struct tr_slice k = tr_iter_key(sh->it);
                if (k.len != sh->key.len + 8) {
                    continue;
                }
                if (cnt == cap) {
                    uint64_t *nv = tr_array_grow(v, &cap, sizeof(*v), 64);
                    if (nv == NULL || cnt >= TS_MAX_SEQS) {
                        tr_free(v);
                        tr_buf_free(&val);
                        return TR_ENOMEM;
                    }
                    v = nv;
                }
                v[cnt++] = tr_get_u64be(k.base + sh->key.len);
            }
        }
    }
    tr_buf_free(&val);
    /* sort and unique (two fields, "any" keys) */
    for (size_t i = 1; i < cnt; i++) {
        uint64_t x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    size_t m = 0;
    for (size_t i = 0; i < cnt; i++) {
        if (m == 0 || v[m - 1] != v[i]) {
            v[m++] = v[i];
        }
    }
    *out = v;
    *n = m;
    return 0;
}

/* The candidate blocks: all (every 'I' key) or those every equality of
 * the hints names. */
static int ts__blocks(struct ts_shard *sh, uint64_t **out, size_t *n)
{
    const struct tr_trace_hints *h = sh->h;
    *out = NULL;
    *n = 0;
    if (h->n_eq == 0) {
        uint64_t *v = NULL;
        size_t cnt = 0, cap = 0;
        trace_key(&sh->key, sh->tenant, sh->window, sh->slot,
                  TR_KEY_TRACE_INDEX);
        for (tr_iter_seek(sh->it, sh->key.data, sh->key.len);
             tr_iter_valid(sh->it) &&
             tr_iter_has_prefix(sh->it, sh->key.data, sh->key.len);
             tr_iter_next(sh->it)) {
            struct tr_slice k = tr_iter_key(sh->it);
            if (k.len != sh->key.len + 8) {
                continue;
            }
            if (cnt == cap) {
                uint64_t *nv = tr_array_grow(v, &cap, sizeof(*v), 64);
                if (nv == NULL) {
                    tr_free(v);
                    return TR_ENOMEM;
                }
                v = nv;
            }
            v[cnt++] = tr_get_u64be(k.base + sh->key.len);
        }
        *out = v;
        *n = cnt;
        return 0;
    }
    uint64_t *acc = NULL;
    size_t na = 0;
    /* a span holds every equality of a span-local query; a whole trace
     * holds them in any of its parts: the first finds its blocks */
    size_t n_eq = h->whole ? 1 : h->n_eq;
    for (size_t e = 0; e < n_eq; e++) {
        uint64_t *v;
        size_t nv;
        if (ts__eq_seqs(sh, &h->eq[e], &v, &nv) != 0) {
            tr_free(acc);
            return TR_ENOMEM;
        }
        if (e == 0) {
            acc = v;
            na = nv;
            continue;
        }
        size_t i = 0, j = 0, m = 0;
        while (i < na && j < nv) {
            if (acc[i] == v[j]) {
                acc[m++] = acc[i];
                i++;
                j++;
            } else if (acc[i] < v[j]) {
                i++;
            } else {
                j++;
            }
        }
        na = m;
        tr_free(v);
    }
    *out = acc;
    *n = na;
    return 0;
}

/* Reads block seq when its time range overlaps the hints'. *blk->n_traces
 * is 0 when it does not. */
static int ts__block(struct ts_shard *sh,
                     uint64_t seq,
                     bool check_time,
                     struct tr_trace_block *blk,
                     char *errmsg)
{
    memset(blk, 0, sizeof(*blk));
    struct tr_buf v;
    tr_buf_init(&v);
    trace_key(&sh->key, sh->tenant, sh->window, sh->slot, TR_KEY_TRACE_INDEX);
    tr_buf_put_u64be(&sh->key, seq);
    int rv =
        tr_engine_get(sh->s->eng, TR_CF_TRACES, sh->key.data, sh->key.len, &v);
    struct tr_trace_block_index bi;
    if (rv == 0 && tr_trace_block_index_decode((struct tr_slice){v.data, v.len},
                                               &bi) != 0) {
        rv = TR_ECORRUPT;
    }
    if (rv == 0 && check_time &&
        (bi.start > sh->h->end || bi.end < sh->h->start)) {
        tr_buf_free(&v);
        return 0;
    }
    if (rv == 0) {
        tr_buf_reset(&v);
        trace_key(&sh->key, sh->tenant, sh->window, sh->slot,
                  TR_KEY_TRACE_BLOCK);
        tr_buf_put_u64be(&sh->key, seq);
        rv = tr_engine_get(sh->s->eng, TR_CF_TRACES, sh->key.data, sh->key.len,
                           &v);
    }
    if (rv == 0) {
        rv = tr_trace_block_decode(v.data, v.len,
                                   sh->decode ? sh->decode : sh->a, blk);
    }
    tr_buf_free(&v);
    if (rv == TR_ENOTFOUND) {
        rv = TR_ECORRUPT;
    }
    return rv == 0 ? 0 : tr_errf(rv, errmsg, "reading a trace block failed");
}

/* Groups the fragments' spans per trace and calls fn on each trace. */
static int ts__frag_traces(struct ts_shard *sh,
                           const struct ts_frags *f,
                           int (*fn)(void *arg,
                                     struct ts_shard *sh,
                                     const struct tr_span_batch *t,
                                     char *errmsg),
                           void *arg,
                           char *errmsg)
{
    size_t total = 0;
    for (size_t i = 0; i < f->n; i++) {
        total += f->b[i].n_spans;
    }
    if (total == 0) {
        return 0;
    }
    struct ts_ref {
        const char *id;
        uint32_t b, s;
    } *refs = tr_malloc(total * sizeof(*refs));
    if (refs == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < f->n; i++) {
        for (size_t j = 0; j < f->b[i].n_spans; j++) {
            refs[k++] = (struct ts_ref){f->b[i].spans[j].span.trace_id.base,
                                        (uint32_t)i, (uint32_t)j};
        }
    }
    /* insertion into trace groups through a map: id -> first ref + 1 */
    struct tr_u64map seen;
    tr_u64map_init(&seen);
    uint32_t *next = tr_malloc(total * sizeof(*next));
    int rv = next != NULL ? 0 : TR_ENOMEM;
    for (size_t i = 0; i < total && rv == 0; i++) {
        next[i] = UINT32_MAX;
        uint64_t h = ts__id_hash(refs[i].id);
        uintptr_t head = (uintptr_t)tr_u64map_get(&seen, h);
        if (head == 0) {
            rv = tr_u64map_put(&seen, h, (void *)(uintptr_t)(i + 1));
            continue;
        }
        /* append to the chain (ids of equal hash but another trace go
         * apart below) */
        size_t p = head - 1;
        while (next[p] != UINT32_MAX) {
            p = next[p];
        }
        next[p] = (uint32_t)i;
    }
    bool *done = rv == 0 ? tr_calloc(total, sizeof(*done)) : NULL;
    if (rv == 0 && done == NULL) {
        rv = TR_ENOMEM;
    }
    for (size_t i = 0; i < total && rv == 0; i++) {
        if (done[i]) {
            continue;
        }
        struct tr_span_batch_builder bb;
        tr_span_batch_builder_init(&bb);
        for (size_t p = i; p != UINT32_MAX && rv == 0; p = next[p]) {
            if (done[p] ||
                memcmp(refs[p].id, refs[i].id, TR_TRACE_ID_SIZE) != 0) {
                continue;
            }
            done[p] = true;
            const struct tr_span_batch *b = &f->b[refs[p].b];
            const struct tr_batch_span *sp = &b->spans[refs[p].s];
            const struct tr_batch_scope *sc = &b->scopes[sp->scope];
            rv = tr_span_batch_builder_add(
                &bb, sh->a, &b->resources[sc->resource], &sc->scope, &sp->span);
        }
        if (rv == 0) {
            rv = tr_span_batch_dedup(&bb.b);
        }
        if (rv == 0) {
            rv = fn(arg, sh, &bb.b, errmsg);
        }
    }
    if (rv == TR_ENOMEM) {
        tr_errf(rv, errmsg, "out of memory");
    }
    tr_free(done);
    tr_free(next);
    tr_u64map_free(&seen);
    tr_free(refs);
    return rv;
}

static int ts__frag_visit(void *arg,
                          struct ts_shard *sh,
                          const struct tr_span_batch *t,
                          char *errmsg)
{
    return ts__visit(arg, sh, t, true, errmsg);
}

static int ts__scan_shard(void *arg, struct ts_shard *sh, char *errmsg)
{
    struct ts_scan *x = arg;
    struct ts_frags f;
    int rv = ts__fragments(sh, &f, errmsg);
    x->frags = &f;
    if (rv == 0) {
        rv = ts__frag_traces(sh, &f, ts__frag_visit, x, errmsg);
    }
    /* trace ids in fragments: their block parts are split too */
    struct tr_u64map in_frags;
    tr_u64map_init(&in_frags);
    for (size_t i = 0; rv == 0 && i < f.n; i++) {
        for (size_t j = 0; j < f.b[i].n_spans; j++) {
            tr_u64map_put(&in_frags,
                          ts__id_hash(f.b[i].spans[j].span.trace_id.base),
                          (void *)1);
        }
    }
    uint64_t *seqs = NULL;
    size_t n = 0;
    if (rv == 0 && ts__blocks(sh, &seqs, &n) != 0) {
        rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    /* each block is decoded into an arena of its own, freed once its
     * traces are visited (gathered parts are copied out) */
    struct tr_arena blk_a;
    tr_arena_init(&blk_a, 256 * 1024);
    for (size_t i = 0; i < n && rv == 0; i++) {
        struct tr_trace_block blk;
        tr_arena_reset(&blk_a);
        sh->decode = &blk_a;
        rv = ts__block(sh, seqs[i], true, &blk, errmsg);
        sh->decode = NULL;
        for (size_t t = 0; t < blk.n_traces && rv == 0; t++) {
            struct tr_span_batch part = blk.batch;
            part.spans = &blk.batch.spans[blk.first[t]];
            part.n_spans = blk.first[t + 1] - blk.first[t];
            bool frag =
                tr_u64map_get(&in_frags, ts__id_hash((const char *)blk.ids +
                                                     16 * t)) != NULL;
            rv = ts__visit(x, sh, &part, frag, errmsg);
        }
    }
    tr_arena_free(&blk_a);
    tr_free(seqs);
    tr_u64map_free(&in_frags);
    if (rv == 0) {
        rv = ts__flush(x, sh, errmsg);
    }
    x->frags = NULL;
    x->n_pend = 0;
    tr_u64map_free(&x->pending);
    tr_u64map_init(&x->pending);
    return rv;
}

static int ts__scan(void *impl,
                    struct tr_slice tenant,
                    const struct tr_trace_hints *h,
                    tr_trace_visit_fn fn,
                    void *arg,
                    char *errmsg)
{
    struct ts_scan x;
    memset(&x, 0, sizeof(x));
    x.h = h;
    x.fn = fn;
    x.arg = arg;
    tr_u64map_init(&x.pending);
    int rv = ts__shards(impl, tenant, h, ts__scan_shard, &x, errmsg);
    tr_u64map_free(&x.pending);
    tr_free(x.pend);
    return rv;
}

/* ---- tag names and values ---------------------------------------------------
 */

struct ts_names {
    unsigned mask;
    void (*fn)(void *arg, unsigned scope, struct tr_slice n);
    void *arg;
};

static unsigned ts__scope_bit(uint8_t c)
{
    return c == TB_SCOPE_RESOURCE          ? TR_TRACE_TAGS_RESOURCE
           : c == TB_SCOPE_SPAN            ? TR_TRACE_TAGS_SPAN
           : c == TB_SCOPE_EVENT           ? TR_TRACE_TAGS_EVENT
           : c == TB_SCOPE_LINK            ? TR_TRACE_TAGS_LINK
           : c == TB_SCOPE_INSTRUMENTATION ? TR_TRACE_TAGS_SCOPE
                                           : 0;
}

static void ts__emit_kvs(struct ts_names *x,
                         unsigned bit,
                         const struct tr_otlp_kv *kvs,
                         size_t n)
{
    if (!(x->mask & bit)) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        x->fn(x->arg, bit, kvs[i].key);
    }
}

static int ts__names_shard(void *arg, struct ts_shard *sh, char *errmsg)
{
    struct ts_names *x = arg;
    struct ts_frags f;
    int rv = ts__fragments(sh, &f, errmsg);
    for (size_t i = 0; rv == 0 && i < f.n; i++) {
        const struct tr_span_batch *b = &f.b[i];
        for (size_t r = 0; r < b->n_resources; r++) {
            ts__emit_kvs(x, TR_TRACE_TAGS_RESOURCE, b->resources[r].attrs,
                         b->resources[r].n_attrs);
        }
        for (size_t s = 0; s < b->n_scopes; s++) {
            ts__emit_kvs(x, TR_TRACE_TAGS_SCOPE, b->scopes[s].scope.attrs,
                         b->scopes[s].scope.n_attrs);
        }
        for (size_t s = 0; s < b->n_spans; s++) {
            const struct tr_otlp_span *sp = &b->spans[s].span;
            ts__emit_kvs(x, TR_TRACE_TAGS_SPAN, sp->attrs, sp->n_attrs);
            for (size_t e = 0; e < sp->n_events; e++) {
                ts__emit_kvs(x, TR_TRACE_TAGS_EVENT, sp->events[e].attrs,
                             sp->events[e].n_attrs);
            }
            for (size_t l = 0; l < sp->n_links; l++) {
                ts__emit_kvs(x, TR_TRACE_TAGS_LINK, sp->links[l].attrs,
                             sp->links[l].n_attrs);
            }
        }
    }
    if (rv != 0) {
        return rv;
    }
    /* name keys: one seek per distinct (scope, name) */
    struct tr_buf prefix;
    tr_buf_init(&prefix);
    trace_key(&prefix, sh->tenant, sh->window, sh->slot, TR_KEY_TRACE_NAME);
    tr_iter_seek(sh->it, prefix.data, prefix.len);
    while (tr_iter_valid(sh->it) &&
           tr_iter_has_prefix(sh->it, prefix.data, prefix.len)) {
        struct tr_slice k = tr_iter_key(sh->it);
        struct tr_cursor c =
            tr_cursor_make(k.base + prefix.len, k.len - prefix.len);
        uint8_t scope;
        uint64_t l;
        struct tr_slice name;
        if (tr_cursor_u8(&c, &scope) != 0 || tr_cursor_uvarint(&c, &l) != 0 ||
            tr_cursor_bytes(&c, l, &name) != 0 || tr_cursor_left(&c) != 8) {
            rv = tr_errf(TR_ECORRUPT, errmsg, "corrupt trace name key");
            break;
        }
        unsigned bit = ts__scope_bit(scope);
        if (x->mask & bit) {
            x->fn(x->arg, bit, name);
        }
        size_t pl = k.len - 8;
        uint8_t succ[1024];
        size_t sl =
            pl <= sizeof(succ) ? tr_prefix_successor(k.base, pl, succ) : 0;
        if (sl == 0) {
            break;
        }
        tr_iter_seek(sh->it, succ, sl);
    }
    tr_buf_free(&prefix);
    return rv;
}

static int ts__tag_names(void *impl,
                         struct tr_slice tenant,
                         const struct tr_trace_hints *h,
                         unsigned mask,
                         void (*fn)(void *arg,
                                    unsigned scope,
                                    struct tr_slice n),
                         void *arg,
                         char *errmsg)
{
    struct ts_names x = {mask, fn, arg};
    return ts__shards(impl, tenant, h, ts__names_shard, &x, errmsg);
}

struct ts_values {
    const struct tr_trace_eq *which;
    void (*fn)(void *arg, const struct tr_otlp_value *v);
    void *arg;
};

static void ts__value_of_kvs(struct ts_values *x,
                             const struct tr_otlp_kv *kvs,
                             size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (tr_slice_eq(kvs[i].key, x->which->key)) {
            x->fn(x->arg, &kvs[i].value);
        }
    }
}

static bool ts__has_field(const struct tr_trace_eq *w, uint8_t f)
{
    return w->fields[0] == f || w->fields[1] == f;
}

/* The values of which in a decoded batch (fragments, blocks with too
 * many values to list). */
static void ts__batch_values(struct ts_values *x, const struct tr_span_batch *b)
{
    const struct tr_trace_eq *w = x->which;
    if (ts__has_field(w, TR_TRACE_FIELD_RESOURCE)) {
        for (size_t r = 0; r < b->n_resources; r++) {
            ts__value_of_kvs(x, b->resources[r].attrs, b->resources[r].n_attrs);
        }
    }
    for (size_t s = 0; s < b->n_spans; s++) {
        const struct tr_otlp_span *sp = &b->spans[s].span;
        struct tr_otlp_value v = {.type = TR_OTLP_EMPTY};
        if (ts__has_field(w, TR_TRACE_FIELD_SPAN)) {
            ts__value_of_kvs(x, sp->attrs, sp->n_attrs);
        }
        if (ts__has_field(w, TR_TRACE_FIELD_NAME)) {
            v = (struct tr_otlp_value){.type = TR_OTLP_STRING, .s = sp->name};
        } else if (ts__has_field(w, TR_TRACE_FIELD_STATUS)) {
            v = (struct tr_otlp_value){.type = TR_OTLP_INT,
                                       .i = sp->status_code};
        } else if (ts__has_field(w, TR_TRACE_FIELD_KIND)) {
            v = (struct tr_otlp_value){.type = TR_OTLP_INT, .i = sp->kind};
        }
        if (v.type != TR_OTLP_EMPTY) {
            x->fn(x->arg, &v);
        }
    }
}

static bool ts__seq_in(const uint64_t *v, size_t n, uint64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (v[m] == x) {
            return true;
        }
        if (v[m] < x) {
            lo = m + 1;
        } else {
            hi = m;
        }
    }
    return false;
}

static int ts__values_shard(void *arg, struct ts_shard *sh, char *errmsg)
{
    struct ts_values *x = arg;
    struct ts_frags f;
    int rv = ts__fragments(sh, &f, errmsg);
    /* with equalities (a query narrowing the values): only the blocks
     * holding them, only the fragments with a span or resource of the
     * first */
    uint64_t *allowed = NULL;
    size_t n_allowed = 0;
    if (rv == 0 && sh->h->n_eq > 0 && ts__blocks(sh, &allowed, &n_allowed)) {
        rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    for (size_t i = 0; rv == 0 && i < f.n; i++) {
        if (sh->h->n_eq == 0 || ts__part_has(&f.b[i], &sh->h->eq[0])) {
            ts__batch_values(x, &f.b[i]);
        }
    }
    uint64_t *wild = NULL;
    size_t n_wild = 0, cap_wild = 0;
    for (int fi = 0; fi < 2 && rv == 0 && x->which->fields[fi] != 0; fi++) {
        struct tr_buf prefix;
        tr_buf_init(&prefix);
        trace_key(&prefix, sh->tenant, sh->window, sh->slot,
                  TR_KEY_TRACE_VALUE);
        tr_buf_putc(&prefix, (char)x->which->fields[fi]);
        tr_buf_put_uvarint(&prefix, x->which->key.len);
        tr_buf_append(&prefix, x->which->key.base, x->which->key.len);
        for (tr_iter_seek(sh->it, prefix.data, prefix.len);
             rv == 0 && tr_iter_valid(sh->it) &&
             tr_iter_has_prefix(sh->it, prefix.data, prefix.len);
             tr_iter_next(sh->it)) {
            struct tr_slice k = tr_iter_key(sh->it);
            struct tr_cursor c =
                tr_cursor_make(k.base + prefix.len, k.len - prefix.len);
            uint64_t l;
            struct tr_slice enc;
            if (tr_cursor_uvarint(&c, &l) != 0 ||
                tr_cursor_bytes(&c, l, &enc) != 0 || tr_cursor_left(&c) != 8) {
                rv = tr_errf(TR_ECORRUPT, errmsg, "corrupt trace value key");
                break;
            }
            if (sh->h->n_eq > 0 &&
                !ts__seq_in(allowed, n_allowed, tr_get_u64be(c.p))) {
                continue;
            }
            if (l == 0) {
                /* too many values to list: read the block */
                if (n_wild == cap_wild) {
                    uint64_t *nw =
                        tr_array_grow(wild, &cap_wild, sizeof(*wild), 16);
                    if (nw == NULL) {
                        rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
                        break;
                    }
                    wild = nw;
                }
                wild[n_wild++] = tr_get_u64be(c.p);
                continue;
            }
            char *copy = tr_arena_memdup(sh->a, enc.base, enc.len);
            struct tr_cursor vc = tr_cursor_make(copy, enc.len);
            struct tr_otlp_value v;
            if (copy == NULL || tr_trace_value_get(&vc, sh->a, 0, &v) != 0) {
                rv = tr_errf(TR_ECORRUPT, errmsg, "corrupt trace value key");
                break;
            }
            x->fn(x->arg, &v);
        }
        tr_buf_free(&prefix);
    }
    for (size_t i = 0; i < n_wild && rv == 0; i++) {
        struct tr_trace_block blk;
        rv = ts__block(sh, wild[i], true, &blk, errmsg);
        if (rv == 0 && blk.n_traces > 0) {
            ts__batch_values(x, &blk.batch);
        }
    }
    tr_free(wild);
    tr_free(allowed);
    return rv;
}

static int ts__tag_values(void *impl,
                          struct tr_slice tenant,
                          const struct tr_trace_hints *h,
                          const struct tr_trace_eq *which,
                          void (*fn)(void *arg, const struct tr_otlp_value *v),
                          void *arg,
                          char *errmsg)
{
    struct ts_values x = {which, fn, arg};
    return ts__shards(impl, tenant, h, ts__values_shard, &x, errmsg);
}

static int ts__get(void *impl,
                   struct tr_slice tenant,
                   const struct tr_shard_id *ids,
                   size_t n,
                   const uint8_t id[TR_TRACE_ID_SIZE],
                   struct tr_arena *a,
                   struct tr_span_batch_builder *bb,
                   char *errmsg)
{
    return tr_storage_trace_get(impl, ids, n, tenant, id, a, bb, errmsg);
}

const struct tr_trace_source *tr_storage_trace_source(struct tr_storage *s)
{
    s->trace_source = (struct tr_trace_source){
        .impl = s,
        .scan = ts__scan,
        .get = ts__get,
        .tag_names = ts__tag_names,
        .tag_values = ts__tag_values,
    };
    return &s->trace_source;
}
