/* trace_apply.c - applying traces write entries and cut entries to a
 * traces shard: open fragments, and cutting them into blocks (layout and
 * lifecycle in storage/trace_keys.h). Everything written goes into the
 * storage's write batch of the apply (storage.c writes it with the
 * shard's applied index). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "storage/storage_int.h"
#include "storage/trace_block.h"
#include "storage/trace_keys.h"
#include "storage/trace_store.h"

struct ta_ctx {
    struct tr_storage *s;
    const struct tr_shard_id *id;
    uint64_t index;
    struct tr_apply_result *res;
    struct tr_buf key;
    struct tr_buf val;
    struct tr_arena *a;
};

static int ta__state_load(struct ta_ctx *c,
                          struct tr_slice tenant,
                          struct trace_state *st)
{
    return trace_state_load(c->s->eng, &c->key, tenant, c->id->window,
                            c->id->slot, st);
}

static void ta__state_put(struct ta_ctx *c,
                          struct tr_slice tenant,
                          const struct trace_state *st)
{
    uint8_t v[TR_TRACE_STATE_SIZE];
    trace_state_encode(st, v);
    trace_key(&c->key, tenant, c->id->window, c->id->slot, TR_KEY_TRACE_STATE);
    tr_wbatch_put(c->s->batch, TR_CF_TRACES, c->key.data, c->key.len, v,
                  sizeof(v));
}

/* A span on its way into a block, with its arrival order. */
struct ta_span {
    struct tr_trace_block_in in;
    size_t order;
};

static int ta__arrival_cmp(const void *pa, const void *pb)
{
    const struct ta_span *a = pa, *b = pb;
    const struct tr_otlp_span *x = &a->in.span->span, *y = &b->in.span->span;
    int c = memcmp(x->trace_id.base, y->trace_id.base, TR_TRACE_ID_SIZE);
    if (c == 0) {
        c = memcmp(x->span_id.base, y->span_id.base, TR_SPAN_ID_SIZE);
    }
    return c != 0 ? c : (a->order < b->order ? -1 : a->order > b->order);
}

static int ta__block_cmp(const void *pa, const void *pb)
{
    const struct ta_span *a = pa, *b = pb;
    const struct tr_otlp_span *x = &a->in.span->span, *y = &b->in.span->span;
    int c = memcmp(x->trace_id.base, y->trace_id.base, TR_TRACE_ID_SIZE);
    if (c != 0) {
        return c;
    }
    if (x->start_time_unix_nano != y->start_time_unix_nano) {
        return x->start_time_unix_nano < y->start_time_unix_nano ? -1 : 1;
    }
    return memcmp(x->span_id.base, y->span_id.base, TR_SPAN_ID_SIZE);
}

/* Writes one key of kind per item of list (u8 field, str key[, str
 * value]): prefix | the item's bytes | seq. */
static int ta__value_keys(struct ta_ctx *c,
                          struct tr_slice tenant,
                          const struct tr_buf *list,
                          char kind,
                          bool with_value)
{
    struct tr_cursor lc = tr_cursor_make(list->data, list->len);
    while (tr_cursor_left(&lc) > 0) {
        const uint8_t *start = lc.p;
        uint8_t field;
        uint64_t l;
        struct tr_slice part;
        if (tr_cursor_u8(&lc, &field) != 0 || tr_cursor_uvarint(&lc, &l) != 0 ||
            tr_cursor_bytes(&lc, l, &part) != 0 ||
            (with_value && (tr_cursor_uvarint(&lc, &l) != 0 ||
                            tr_cursor_bytes(&lc, l, &part) != 0))) {
            return TR_ENOMEM; /* only a failed append leaves it short */
        }
        trace_key(&c->key, tenant, c->id->window, c->id->slot, kind);
        tr_buf_append(&c->key, start, (size_t)(lc.p - start));
        tr_buf_put_u64be(&c->key, c->index);
        tr_wbatch_put(c->s->batch, TR_CF_TRACES, c->key.data, c->key.len, "",
                      0);
    }
    return 0;
}

/* Writes the block of batches[0..n) (B, I, X, V and K keys) at seq =
 * index. */
static int ta__write_block(struct ta_ctx *c,
                           struct tr_slice tenant,
                           const struct tr_span_batch *batches,
                           size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += batches[i].n_spans;
    }
    if (total == 0) {
        return 0;
    }
    struct ta_span *sp = tr_malloc(total * sizeof(*sp));
    struct tr_trace_block_in *in = tr_malloc(total * sizeof(*in));
    if (sp == NULL || in == NULL) {
        tr_free(sp);
        tr_free(in);
        return TR_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < batches[i].n_spans; j++, k++) {
            sp[k] = (struct ta_span){{(uint32_t)i, &batches[i].spans[j]}, k};
        }
    }
    /* a span id twice in a trace: the earliest arrival stays */
    qsort(sp, total, sizeof(*sp), ta__arrival_cmp);
    size_t m = 0;
    for (size_t i = 0; i < total; i++) {
        if (m > 0) {
            const struct tr_otlp_span *x = &sp[m - 1].in.span->span;
            const struct tr_otlp_span *y = &sp[i].in.span->span;
            if (memcmp(x->trace_id.base, y->trace_id.base, TR_TRACE_ID_SIZE) ==
                    0 &&
                memcmp(x->span_id.base, y->span_id.base, TR_SPAN_ID_SIZE) ==
                    0) {
                c->res->duplicate++;
                continue;
            }
        }
        sp[m++] = sp[i];
    }
    qsort(sp, m, sizeof(*sp), ta__block_cmp);
    for (size_t i = 0; i < m; i++) {
        in[i] = sp[i].in;
    }
    struct tr_buf block, index, recs, values, keys;
    tr_buf_init(&block);
    tr_buf_init(&index);
    tr_buf_init(&recs);
    tr_buf_init(&values);
    tr_buf_init(&keys);
    int rv = tr_trace_block_build(batches, n, in, m, &block, &index, &recs,
                                  &values, &keys);
    if (rv == 0) {
        trace_key(&c->key, tenant, c->id->window, c->id->slot,
                  TR_KEY_TRACE_BLOCK);
        tr_buf_put_u64be(&c->key, c->index);
        tr_wbatch_put(c->s->batch, TR_CF_TRACES, c->key.data, c->key.len,
                      block.data, block.len);
        trace_key(&c->key, tenant, c->id->window, c->id->slot,
                  TR_KEY_TRACE_INDEX);
        tr_buf_put_u64be(&c->key, c->index);
        tr_wbatch_put(c->s->batch, TR_CF_TRACES, c->key.data, c->key.len,
                      index.data, index.len);
        struct tr_cursor rc = tr_cursor_make(recs.data, recs.len);
        while (rv == 0 && tr_cursor_left(&rc) > 0) {
            struct tr_slice id, rec;
            uint64_t l;
            if (tr_cursor_bytes(&rc, TR_TRACE_ID_SIZE, &id) != 0 ||
                tr_cursor_uvarint(&rc, &l) != 0 ||
                tr_cursor_bytes(&rc, l, &rec) != 0) {
                rv = TR_ENOMEM; /* only a failed append leaves it short */
                break;
            }
            trace_key(&c->key, tenant, c->id->window, c->id->slot,
                      TR_KEY_TRACE_ID);
            tr_buf_append(&c->key, id.base, id.len);
            tr_buf_put_u64be(&c->key, c->index);
            tr_wbatch_put(c->s->batch, TR_CF_TRACES, c->key.data, c->key.len,
                          rec.base, rec.len);
        }
        if (rv == 0) {
            rv = ta__value_keys(c, tenant, &values, TR_KEY_TRACE_VALUE, true);
        }
        if (rv == 0) {
            rv = ta__value_keys(c, tenant, &keys, TR_KEY_TRACE_NAME, false);
        }
        rv = rv == 0 && c->key.oom ? TR_ENOMEM : rv;
    }
    tr_buf_free(&block);
    tr_buf_free(&index);
    tr_buf_free(&recs);
    tr_buf_free(&values);
    tr_buf_free(&keys);
    tr_free(sp);
    tr_free(in);
    return rv;
}

/* Cuts the tenant's open fragments (and extra, this apply's spans, when
 * not NULL) into a block; the fragments are deleted. */
static int ta__cut(struct ta_ctx *c,
                   struct tr_slice tenant,
                   const struct tr_span_batch *extra,
                   struct trace_state *st)
{
    size_t cap = st->frags + 2, n = 0;
    struct tr_span_batch *batches = tr_calloc(cap, sizeof(*batches));
    struct tr_iter *it = tr_iter_new(c->s->eng, TR_CF_TRACES);
    if (batches == NULL || it == NULL) {
        tr_free(batches);
        if (it != NULL) {
            tr_iter_free(it);
        }
        return TR_ENOMEM;
    }
    struct tr_buf prefix;
    tr_buf_init(&prefix);
    trace_key_fragments(&prefix, tenant, c->id->window, c->id->slot, st);
    int rv = prefix.oom ? TR_ENOMEM : 0;
    for (tr_iter_seek(it, prefix.data, prefix.len);
         rv == 0 && tr_iter_valid(it) &&
         tr_iter_has_prefix(it, prefix.data, prefix.len);
         tr_iter_next(it)) {
        struct tr_slice k = tr_iter_key(it), v = tr_iter_value(it);
        tr_wbatch_delete(c->s->batch, TR_CF_TRACES, k.base, k.len);
        char *copy = tr_arena_memdup(c->a, v.base, v.len);
        if (copy == NULL) {
            rv = TR_ENOMEM;
            break;
        }
        if (n + 1 >= cap) {
            struct tr_span_batch *nb =
                tr_array_grow(batches, &cap, sizeof(*nb), 16);
            if (nb == NULL) {
                rv = TR_ENOMEM;
                break;
            }
            batches = nb;
        }
        struct tr_cursor fc = tr_cursor_make(copy, v.len);
        uint64_t nid;
        struct tr_slice ids;
        if (tr_cursor_uvarint(&fc, &nid) != 0 ||
            nid > tr_cursor_left(&fc) / TR_TRACE_ID_SIZE ||
            tr_cursor_bytes(&fc, nid * TR_TRACE_ID_SIZE, &ids) != 0 ||
            tr_span_batch_decode(&fc, c->a, &batches[n]) != 0) {
            rv = TR_ECORRUPT;
            break;
        }
        n++;
    }
    tr_iter_free(it);
    tr_buf_free(&prefix);
    if (rv == 0 && extra != NULL) {
        batches[n++] = *extra;
    }
    if (rv == 0) {
        rv = ta__write_block(c, tenant, batches, n);
    }
    tr_free(batches);
    if (rv == 0) {
        st->frags = 0;
        st->spans = 0;
        st->bytes = 0;
        st->blocks++;
    }
    return rv;
}

static int ta__id_cmp(const void *a, const void *b)
{
    return memcmp(*(const char *const *)a, *(const char *const *)b,
                  TR_TRACE_ID_SIZE);
}

/* The fragment value of batch b (encoded as enc): its distinct trace ids
 * ascending, then enc. */
static int ta__fragment(const struct tr_span_batch *b,
                        struct tr_slice enc,
                        struct tr_buf *out)
{
    const char **ids = tr_malloc((b->n_spans + 1) * sizeof(*ids));
    if (ids == NULL) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < b->n_spans; i++) {
        ids[i] = b->spans[i].span.trace_id.base;
    }
    qsort(ids, b->n_spans, sizeof(*ids), ta__id_cmp);
    size_t m = 0;
    for (size_t i = 0; i < b->n_spans; i++) {
        if (m == 0 || memcmp(ids[m - 1], ids[i], TR_TRACE_ID_SIZE) != 0) {
            ids[m++] = ids[i];
        }
    }
    tr_buf_reset(out);
    tr_buf_put_uvarint(out, m);
    for (size_t i = 0; i < m; i++) {
        tr_buf_append(out, ids[i], TR_TRACE_ID_SIZE);
    }
    tr_buf_append(out, enc.base, enc.len);
    tr_free(ids);
    return out->oom ? TR_ENOMEM : 0;
}

static int ta__entry(struct ta_ctx *c, const struct tr_entry_traces *e)
{
    struct trace_state st;
    int rv = ta__state_load(c, e->tenant, &st);
    if (rv != 0) {
        return rv;
    }
    /* the entry's batch bytes are the fragment's (decoded and checked) */
    struct tr_slice enc = e->batch_bytes;
    if (st.spans + e->batch.n_spans >= TRACE_CUT_SPANS ||
        st.bytes + enc.len >= TRACE_CUT_BYTES ||
        st.frags + 1 >= TRACE_CUT_FRAGS) {
        rv = ta__cut(c, e->tenant, &e->batch, &st);
    } else {
        rv = ta__fragment(&e->batch, enc, &c->val);
        if (rv == 0) {
            trace_key_fragments(&c->key, e->tenant, c->id->window, c->id->slot,
                                &st);
            tr_buf_put_u64be(&c->key, c->index);
            tr_wbatch_put(c->s->batch, TR_CF_TRACES, c->key.data, c->key.len,
                          c->val.data, c->val.len);
            st.frags++;
            st.spans += e->batch.n_spans;
            st.bytes += enc.len;
        }
    }
    if (rv == 0) {
        ta__state_put(c, e->tenant, &st);
        c->res->appended += e->batch.n_spans;
    }
    return rv;
}

/* storage_shard_ranges callback of the cut entry: one tenant's range. */
static int ta__cut_range(void *arg,
                         enum tr_cf cf,
                         struct tr_iter *it,
                         const struct tr_buf *prefix)
{
    struct ta_ctx *c = arg;
    (void)it;
    if (cf != TR_CF_TRACES || prefix->len < 11) {
        return 0;
    }
    /* prefix = tenant | 0 | window (8) | slot (2) */
    struct tr_slice tenant = {prefix->data, prefix->len - 11};
    struct trace_state st;
    int rv = ta__state_load(c, tenant, &st);
    if (rv != 0 || st.frags == 0) {
        return rv;
    }
    rv = ta__cut(c, tenant, NULL, &st);
    if (rv == 0) {
        ta__state_put(c, tenant, &st);
    }
    return rv;
}

int trace_apply(struct tr_storage *s,
                const struct tr_shard_id *id,
                uint64_t index,
                const void *entry,
                size_t len,
                struct tr_apply_result *res,
                char *errmsg)
{
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    struct ta_ctx c = {.s = s, .id = id, .index = index, .res = res, .a = &a};
    tr_buf_init(&c.key);
    tr_buf_init(&c.val);
    int rv;
    if (tr_entry_traces_is_cut(entry, len)) {
        rv = storage_shard_ranges(s, id, ta__cut_range, &c);
    } else {
        struct tr_entry_traces e;
        rv = tr_entry_traces_decode(entry, len, &a, &e);
        if (rv != 0) {
            tr_buf_free(&c.key);
            tr_buf_free(&c.val);
            tr_arena_free(&a);
            return tr_errf(rv == TR_ENOMEM ? TR_ENOMEM : TR_ECORRUPT, errmsg,
                           "corrupt traces write entry at index %" PRIu64,
                           index);
        }
        rv = ta__entry(&c, &e);
    }
    tr_buf_free(&c.key);
    tr_buf_free(&c.val);
    tr_arena_free(&a);
    if (rv != 0) {
        /* not a property of the entry (memory, I/O, a corrupt fragment):
         * fail as a whole */
        return tr_errf(TR_EIO, errmsg,
                       "traces apply failed at index %" PRIu64 ": %s", index,
                       tr_strerror(rv));
    }
    return 0;
}
