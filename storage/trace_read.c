/* trace_read.c - the read side of the trace store: trace-by-id over the
 * trace records, blocks and open fragments of local traces shards
 * (storage/trace_keys.h). */
#include <string.h>

#include "lib/err.h"
#include "storage/storage_int.h"
#include "storage/trace_block.h"
#include "storage/trace_keys.h"
#include "storage/trace_store.h"

/* Adds the spans of trace id from batch b (all of them when all). */
static int tr__add_batch(struct tr_span_batch_builder *bb,
                         struct tr_arena *a,
                         const struct tr_span_batch *b,
                         size_t from,
                         size_t to,
                         const uint8_t *id)
{
    for (size_t i = from; i < to; i++) {
        const struct tr_batch_span *sp = &b->spans[i];
        if (id != NULL &&
            memcmp(sp->span.trace_id.base, id, TR_TRACE_ID_SIZE) != 0) {
            continue;
        }
        const struct tr_batch_scope *sc = &b->scopes[sp->scope];
        int rv = tr_span_batch_builder_add(bb, a, &b->resources[sc->resource],
                                           &sc->scope, &sp->span);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* The trace's part in block seq of the shard (record rec). */
static int tr__from_block(struct tr_storage *s,
                          struct tr_buf *key,
                          struct tr_slice tenant,
                          const struct tr_shard_id *sh,
                          uint64_t seq,
                          struct tr_slice rec,
                          struct tr_arena *a,
                          struct tr_span_batch_builder *bb,
                          char *errmsg)
{
    struct trace_rec r;
    if (trace_rec_decode(rec, &r) != 0) {
        return tr_errf(TR_ECORRUPT, errmsg, "corrupt trace record");
    }
    trace_key(key, tenant, sh->window, sh->slot, TR_KEY_TRACE_BLOCK);
    tr_buf_put_u64be(key, seq);
    struct tr_buf v;
    tr_buf_init(&v);
    int rv = tr_engine_get(s->eng, TR_CF_TRACES, key->data, key->len, &v);
    if (rv != 0) {
        tr_buf_free(&v);
        return rv == TR_ENOTFOUND
                   ? tr_errf(TR_ECORRUPT, errmsg, "trace block missing")
                   : tr_errf(rv, errmsg, "reading a trace block failed");
    }
    struct tr_trace_block blk;
    rv = tr_trace_block_decode(v.data, v.len, a, &blk);
    tr_buf_free(&v);
    if (rv == 0 && r.ordinal >= blk.n_traces) {
        rv = TR_ECORRUPT;
    }
    if (rv != 0) {
        return tr_errf(rv, errmsg, "corrupt trace block");
    }
    return tr__add_batch(bb, a, &blk.batch, blk.first[r.ordinal],
                         blk.first[r.ordinal + 1], NULL);
}

/* Whether the fragment value's id list holds id (binary search). */
static bool tr__fragment_has(struct tr_cursor *c, const uint8_t *id)
{
    uint64_t n;
    struct tr_slice ids;
    if (tr_cursor_uvarint(c, &n) != 0 ||
        n > tr_cursor_left(c) / TR_TRACE_ID_SIZE ||
        tr_cursor_bytes(c, n * TR_TRACE_ID_SIZE, &ids) != 0) {
        return false;
    }
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp =
            memcmp(ids.base + mid * TR_TRACE_ID_SIZE, id, TR_TRACE_ID_SIZE);
        if (cmp == 0) {
            return true;
        }
        if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

static int tr__shard(struct tr_storage *s,
                     struct tr_iter *it,
                     struct tr_buf *key,
                     struct tr_slice tenant,
                     const struct tr_shard_id *sh,
                     const uint8_t *id,
                     struct tr_arena *a,
                     struct tr_span_batch_builder *bb,
                     char *errmsg)
{
    struct tr_buf prefix;
    tr_buf_init(&prefix);
    trace_key(&prefix, tenant, sh->window, sh->slot, TR_KEY_TRACE_ID);
    tr_buf_append(&prefix, id, TR_TRACE_ID_SIZE);
    int rv = prefix.oom ? TR_ENOMEM : 0;
    for (tr_iter_seek(it, prefix.data, prefix.len);
         rv == 0 && tr_iter_valid(it) &&
         tr_iter_has_prefix(it, prefix.data, prefix.len);
         tr_iter_next(it)) {
        struct tr_slice k = tr_iter_key(it);
        if (k.len != prefix.len + 8) {
            rv = tr_errf(TR_ECORRUPT, errmsg, "corrupt trace record key");
            break;
        }
        uint64_t seq = tr_get_u64be(k.base + prefix.len);
        struct tr_slice v = tr_iter_value(it);
        char *rec = tr_arena_memdup(a, v.base, v.len);
        if (rec == NULL) {
            rv = TR_ENOMEM;
            break;
        }
        rv = tr__from_block(s, key, tenant, sh, seq,
                            (struct tr_slice){rec, v.len}, a, bb, errmsg);
    }
    struct trace_state st;
    memset(&st, 0, sizeof(st));
    if (rv == 0) {
        rv = trace_state_load(s->eng, key, tenant, sh->window, sh->slot, &st);
        if (rv != 0) {
            rv = tr_errf(rv, errmsg, "reading a trace state failed");
        }
    }
    if (rv != 0 || st.frags == 0) {
        tr_buf_free(&prefix);
        return rv;
    }
    trace_key_fragments(&prefix, tenant, sh->window, sh->slot, &st);
    for (tr_iter_seek(it, prefix.data, prefix.len);
         rv == 0 && tr_iter_valid(it) &&
         tr_iter_has_prefix(it, prefix.data, prefix.len);
         tr_iter_next(it)) {
        struct tr_slice v = tr_iter_value(it);
        struct tr_cursor c = tr_cursor_make(v.base, v.len);
        if (!tr__fragment_has(&c, id)) {
            continue;
        }
        size_t off = (size_t)((const char *)c.p - v.base);
        char *copy = tr_arena_memdup(a, v.base + off, v.len - off);
        if (copy == NULL) {
            rv = TR_ENOMEM;
            break;
        }
        struct tr_cursor bc = tr_cursor_make(copy, v.len - off);
        struct tr_span_batch b;
        rv = tr_span_batch_decode(&bc, a, &b);
        if (rv != 0) {
            rv = tr_errf(rv, errmsg, "corrupt trace fragment");
            break;
        }
        rv = tr__add_batch(bb, a, &b, 0, b.n_spans, id);
    }
    tr_buf_free(&prefix);
    return rv;
}

int tr_storage_trace_get(struct tr_storage *s,
                         const struct tr_shard_id *ids,
                         size_t n,
                         struct tr_slice tenant,
                         const uint8_t id[TR_TRACE_ID_SIZE],
                         struct tr_arena *a,
                         struct tr_span_batch_builder *bb,
                         char *errmsg)
{
    struct tr_iter *it = tr_iter_new(s->eng, TR_CF_TRACES);
    if (it == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    struct tr_buf key;
    tr_buf_init(&key);
    int rv = 0;
    for (size_t i = 0; i < n && rv == 0; i++) {
        if (ids[i].signal != TR_SIGNAL_TRACES) {
            continue;
        }
        rv = tr__shard(s, it, &key, tenant, &ids[i], id, a, bb, errmsg);
    }
    if (rv == TR_ENOMEM) {
        tr_errf(rv, errmsg, "out of memory");
    }
    tr_buf_free(&key);
    tr_iter_free(it);
    return rv;
}
