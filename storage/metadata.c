/* metadata.c - metric metadata (type, help, unit per metric family) held
 * in the metrics shards' key ranges (kind 'M', storage/keys.h), so it is
 * replicated with the shard's Raft log and answers alike on every node. */
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "storage/keys.h"
#include "storage/storage_int.h"

struct meta_ref {
    struct tr_metadata_item item;
    int64_t window; /* newest first; legacy records count as oldest */
    size_t seq;     /* stable order */
};

static int meta__cmp(const void *a, const void *b)
{
    const struct meta_ref *x = a, *y = b;
    int c = tr_slice_cmp(x->item.metric, y->item.metric);
    if (c != 0) {
        return c;
    }
    if (x->window != y->window) {
        return x->window > y->window ? -1 : 1;
    }
    return x->seq < y->seq ? -1 : (x->seq > y->seq ? 1 : 0);
}

static int meta__item_cmp(const void *a, const void *b)
{
    const struct tr_metadata_item *x = a, *y = b;
    int c = tr_slice_cmp(x->metric, y->metric);
    if (c == 0 && x->type != y->type) {
        c = x->type < y->type ? -1 : 1;
    }
    if (c == 0) {
        c = tr_slice_cmp(x->help, y->help);
    }
    return c != 0 ? c : tr_slice_cmp(x->unit, y->unit);
}

size_t tr_metadata_merge(struct tr_metadata_item *items, size_t n, size_t limit)
{
    /* by name, then by content, so that every node picks the same record
     * whatever order the shards answered in */
    if (n > 1) {
        qsort(items, n, sizeof(*items), meta__item_cmp);
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o > 0 && tr_slice_eq(items[i].metric, items[o - 1].metric)) {
            continue;
        }
        if (limit > 0 && o >= limit) {
            break;
        }
        items[o++] = items[i];
    }
    return o;
}

static bool meta__wanted(const struct tr_shard_id *shards,
                         size_t n,
                         int64_t window,
                         uint16_t slot)
{
    if (n == 0) {
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        if (shards[i].window == window && shards[i].slot == slot) {
            return true;
        }
    }
    return false;
}

/* Decodes one record into ref (bytes copied into a). */
static int meta__decode(struct tr_arena *a,
                        struct tr_slice name,
                        struct tr_slice v,
                        struct meta_ref *ref)
{
    struct tr_metadata_item *m = &ref->item;
    struct tr_cursor c = tr_cursor_make(v.base, v.len);
    uint64_t l;
    if (tr_cursor_u8(&c, &m->type) != 0 || tr_cursor_uvarint(&c, &l) != 0 ||
        tr_cursor_bytes(&c, l, &m->help) != 0 ||
        tr_cursor_uvarint(&c, &l) != 0 ||
        tr_cursor_bytes(&c, l, &m->unit) != 0) {
        return TR_ECORRUPT;
    }
    m->metric.base = tr_arena_memdup(a, name.base, name.len);
    m->metric.len = name.len;
    m->help.base = tr_arena_memdup(a, m->help.base, m->help.len);
    m->unit.base = tr_arena_memdup(a, m->unit.base, m->unit.len);
    return m->metric.base && m->help.base && m->unit.base ? 0 : TR_ENOMEM;
}

struct meta_list {
    struct meta_ref *v;
    size_t n, cap;
};

static struct meta_ref *meta__push(struct meta_list *l)
{
    if (l->n == l->cap) {
        struct meta_ref *nv = tr_array_grow(l->v, &l->cap, sizeof(*nv), 64);
        if (nv == NULL) {
            return NULL;
        }
        l->v = nv;
    }
    struct meta_ref *r = &l->v[l->n];
    memset(r, 0, sizeof(*r));
    r->seq = l->n;
    return r;
}

int tr_storage_metadata(struct tr_storage *s,
                        struct tr_slice tenant,
                        struct tr_slice metric,
                        size_t limit,
                        const struct tr_shard_id *shards,
                        size_t n_shards,
                        struct tr_arena *a,
                        struct tr_metadata_item **out,
                        size_t *n)
{
    struct meta_list l = {0};
    struct tr_buf k;
    tr_buf_init(&k);
    int rv = 0;
    /* records in the metrics shards' ranges */
    struct tr_iter *it = tr_iter_new(s->eng, TR_CF_METRICS);
    if (it == NULL) {
        tr_buf_free(&k);
        return TR_ENOMEM;
    }
    tr_key_tenant_prefix(&k, tenant);
    tr_iter_seek(it, k.data, k.len);
    while (rv == 0 && tr_iter_has_prefix(it, k.data, k.len)) {
        int64_t window;
        uint16_t slot;
        char kind;
        if (tr_key_parse_shard(tr_iter_key(it), tenant.len, &window, &slot,
                               &kind) != 0) {
            tr_iter_next(it);
            continue;
        }
        struct tr_buf pk;
        tr_buf_init(&pk);
        tr_key_shard_prefix(&pk, tenant, window, slot, TR_KEY_META);
        size_t plen = pk.len;
        if (meta__wanted(shards, n_shards, window, slot)) {
            tr_buf_append(&pk, metric.base, metric.len);
            for (tr_iter_seek(it, pk.data, pk.len);
                 rv == 0 && tr_iter_has_prefix(it, pk.data, pk.len);
                 tr_iter_next(it)) {
                struct tr_slice key = tr_iter_key(it);
                struct tr_slice name = {key.base + plen, key.len - plen};
                if (metric.len > 0 && key.len != pk.len) {
                    continue;
                }
                struct meta_ref *r = meta__push(&l);
                if (r == NULL) {
                    rv = TR_ENOMEM;
                    break;
                }
                r->window = window;
                if (meta__decode(a, name, tr_iter_value(it), r) == 0) {
                    l.n++;
                }
            }
        }
        /* on to the next shard of the tenant */
        tr_buf_reset(&pk);
        tr_key_tenant_prefix(&pk, tenant);
        if (slot == UINT16_MAX) {
            tr_buf_put_u64be(&pk, tr_key_time(window) + 1);
        } else {
            tr_buf_put_u64be(&pk, tr_key_time(window));
            tr_buf_put_u16be(&pk, (uint16_t)(slot + 1));
        }
        tr_iter_seek(it, pk.data, pk.len);
        tr_buf_free(&pk);
    }
    tr_iter_free(it);
    /* legacy records (meta column family, before shards held metadata) */
    tr_buf_reset(&k);
    tr_key_metadata(&k, tenant, metric);
    size_t base = k.len - metric.len;
    it = rv == 0 ? tr_iter_new(s->eng, TR_CF_META) : NULL;
    if (it != NULL) {
        tr_iter_seek(it, k.data, k.len);
    }
    for (; it != NULL && rv == 0 && tr_iter_has_prefix(it, k.data, k.len);
         tr_iter_next(it)) {
        struct tr_slice key = tr_iter_key(it);
        if (metric.len > 0 && key.len != k.len) {
            continue;
        }
        struct meta_ref *r = meta__push(&l);
        if (r == NULL) {
            rv = TR_ENOMEM;
            break;
        }
        r->window = INT64_MIN;
        struct tr_slice name = {key.base + base, key.len - base};
        if (meta__decode(a, name, tr_iter_value(it), r) == 0) {
            l.n++;
        }
    }
    tr_iter_free(it);
    tr_buf_free(&k);
    size_t cnt = 0;
    struct tr_metadata_item *items = NULL;
    if (rv == 0) {
        if (l.n > 1) {
            qsort(l.v, l.n, sizeof(*l.v), meta__cmp);
        }
        items = tr_arena_alloc(a, (l.n ? l.n : 1) * sizeof(*items));
        if (items == NULL) {
            rv = TR_ENOMEM;
        }
        for (size_t i = 0; rv == 0 && i < l.n; i++) {
            if (cnt > 0 &&
                tr_slice_eq(l.v[i].item.metric, items[cnt - 1].metric)) {
                continue;
            }
            if (limit > 0 && cnt >= limit) {
                break;
            }
            items[cnt++] = l.v[i].item;
        }
    }
    tr_free(l.v);
    *out = items;
    *n = cnt;
    return rv;
}
