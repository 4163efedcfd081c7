/* trace_entry.c - span batches and traces write entries (format in
 * storage/trace_entry.h). */
#include "storage/trace_entry.h"

#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "storage/entry.h"

/* ---- values -------------------------------------------------------------- */

static int te__str_put(struct tr_buf *b, struct tr_slice s)
{
    tr_buf_put_uvarint(b, s.len);
    return tr_buf_append(b, s.base, s.len);
}

static int te__str_get(struct tr_cursor *c, struct tr_slice *s)
{
    uint64_t n;
    if (tr_cursor_uvarint(c, &n) != 0 || tr_cursor_bytes(c, n, s) != 0) {
        return TR_ECORRUPT;
    }
    return 0;
}

/* A count of items of at least min bytes each that fits in what is left. */
static int te__count(struct tr_cursor *c, size_t min, uint64_t *n)
{
    if (tr_cursor_uvarint(c, n) != 0 || *n > tr_cursor_left(c) / min) {
        return TR_ECORRUPT;
    }
    return 0;
}

int tr_trace_value_put(struct tr_buf *b, const struct tr_otlp_value *v)
{
    tr_buf_putc(b, (char)v->type);
    switch (v->type) {
        case TR_OTLP_STRING:
        case TR_OTLP_BYTES:
            return te__str_put(b, v->s);
        case TR_OTLP_BOOL:
            return tr_buf_putc(b, v->b ? 1 : 0);
        case TR_OTLP_INT:
            return tr_buf_put_varint(b, v->i);
        case TR_OTLP_DOUBLE: {
            uint64_t u;
            memcpy(&u, &v->d, 8);
            return tr_buf_put_u64be(b, u);
        }
        case TR_OTLP_ARRAY:
            tr_buf_put_uvarint(b, v->n);
            for (size_t i = 0; i < v->n; i++) {
                tr_trace_value_put(b, &v->items[i]);
            }
            return b->oom ? TR_ENOMEM : 0;
        case TR_OTLP_KVLIST:
            return tr_trace_kvs_put(b, v->kvs, v->n);
        default:
            return b->oom ? TR_ENOMEM : 0;
    }
}

int tr_trace_kvs_put(struct tr_buf *b, const struct tr_otlp_kv *kvs, size_t n)
{
    tr_buf_put_uvarint(b, n);
    for (size_t i = 0; i < n; i++) {
        te__str_put(b, kvs[i].key);
        tr_trace_value_put(b, &kvs[i].value);
    }
    return b->oom ? TR_ENOMEM : 0;
}

int tr_trace_value_get(struct tr_cursor *c,
                       struct tr_arena *a,
                       int depth,
                       struct tr_otlp_value *v)
{
    memset(v, 0, sizeof(*v));
    uint8_t t;
    if (depth > TR_OTLP_MAX_DEPTH || tr_cursor_u8(c, &t) != 0) {
        return TR_ECORRUPT;
    }
    v->type = t;
    switch (t) {
        case TR_OTLP_EMPTY:
            return 0;
        case TR_OTLP_STRING:
        case TR_OTLP_BYTES:
            return te__str_get(c, &v->s);
        case TR_OTLP_BOOL: {
            uint8_t x;
            if (tr_cursor_u8(c, &x) != 0 || x > 1) {
                return TR_ECORRUPT;
            }
            v->b = x == 1;
            return 0;
        }
        case TR_OTLP_INT:
            return tr_cursor_varint(c, &v->i) == 0 ? 0 : TR_ECORRUPT;
        case TR_OTLP_DOUBLE: {
            uint64_t u;
            if (tr_cursor_u64be(c, &u) != 0) {
                return TR_ECORRUPT;
            }
            memcpy(&v->d, &u, 8);
            return 0;
        }
        case TR_OTLP_ARRAY: {
            uint64_t n;
            if (te__count(c, 1, &n) != 0) {
                return TR_ECORRUPT;
            }
            struct tr_otlp_value *items =
                n ? tr_arena_alloc(a, n * sizeof(*items)) : NULL;
            if (n > 0 && items == NULL) {
                return TR_ENOMEM;
            }
            for (uint64_t i = 0; i < n; i++) {
                int rv = tr_trace_value_get(c, a, depth + 1, &items[i]);
                if (rv != 0) {
                    return rv;
                }
            }
            v->items = items;
            v->n = n;
            return 0;
        }
        case TR_OTLP_KVLIST:
            return tr_trace_kvs_get(c, a, depth + 1, &v->kvs, &v->n);
        default:
            return TR_ECORRUPT;
    }
}

int tr_trace_kvs_get(struct tr_cursor *c,
                     struct tr_arena *a,
                     int depth,
                     const struct tr_otlp_kv **kvs,
                     size_t *n)
{
    uint64_t m;
    *kvs = NULL;
    *n = 0;
    if (depth > TR_OTLP_MAX_DEPTH || te__count(c, 2, &m) != 0) {
        return TR_ECORRUPT;
    }
    if (m == 0) {
        return 0;
    }
    struct tr_otlp_kv *out = tr_arena_alloc(a, m * sizeof(*out));
    if (out == NULL) {
        return TR_ENOMEM;
    }
    for (uint64_t i = 0; i < m; i++) {
        int rv = te__str_get(c, &out[i].key);
        if (rv == 0) {
            rv = tr_trace_value_get(c, a, depth, &out[i].value);
        }
        if (rv != 0) {
            return rv;
        }
    }
    *kvs = out;
    *n = m;
    return 0;
}

/* ---- batches ------------------------------------------------------------- */

static void te__span_put(struct tr_buf *b, const struct tr_batch_span *bs)
{
    const struct tr_otlp_span *s = &bs->span;
    tr_buf_put_uvarint(b, bs->scope);
    tr_buf_append(b, s->trace_id.base, TR_TRACE_ID_SIZE);
    tr_buf_append(b, s->span_id.base, TR_SPAN_ID_SIZE);
    tr_buf_putc(b, (char)s->parent_span_id.len);
    tr_buf_append(b, s->parent_span_id.base, s->parent_span_id.len);
    te__str_put(b, s->trace_state);
    tr_buf_put_uvarint(b, s->flags);
    te__str_put(b, s->name);
    tr_buf_put_uvarint(b, (uint64_t)(uint32_t)s->kind);
    tr_buf_put_u64be(b, s->start_time_unix_nano);
    tr_buf_put_u64be(b, s->end_time_unix_nano);
    tr_trace_kvs_put(b, s->attrs, s->n_attrs);
    tr_buf_put_uvarint(b, s->dropped_attributes_count);
    tr_buf_put_uvarint(b, s->n_events);
    for (size_t i = 0; i < s->n_events; i++) {
        const struct tr_otlp_event *e = &s->events[i];
        tr_buf_put_u64be(b, e->time_unix_nano);
        te__str_put(b, e->name);
        tr_trace_kvs_put(b, e->attrs, e->n_attrs);
        tr_buf_put_uvarint(b, e->dropped_attributes_count);
    }
    tr_buf_put_uvarint(b, s->dropped_events_count);
    tr_buf_put_uvarint(b, s->n_links);
    for (size_t i = 0; i < s->n_links; i++) {
        const struct tr_otlp_link *l = &s->links[i];
        tr_buf_putc(b, (char)l->trace_id.len);
        tr_buf_append(b, l->trace_id.base, l->trace_id.len);
        tr_buf_putc(b, (char)l->span_id.len);
        tr_buf_append(b, l->span_id.base, l->span_id.len);
        te__str_put(b, l->trace_state);
        tr_trace_kvs_put(b, l->attrs, l->n_attrs);
        tr_buf_put_uvarint(b, l->dropped_attributes_count);
        tr_buf_put_uvarint(b, l->flags);
    }
    tr_buf_put_uvarint(b, s->dropped_links_count);
    te__str_put(b, s->status_message);
    tr_buf_put_uvarint(b, (uint64_t)(uint32_t)s->status_code);
}

static bool te__ids_ok(const struct tr_otlp_span *s)
{
    if (s->trace_id.len != TR_TRACE_ID_SIZE ||
        s->span_id.len != TR_SPAN_ID_SIZE ||
        (s->parent_span_id.len != 0 &&
         s->parent_span_id.len != TR_SPAN_ID_SIZE)) {
        return false;
    }
    for (size_t i = 0; i < s->n_links; i++) {
        const struct tr_otlp_link *l = &s->links[i];
        if ((l->trace_id.len != 0 && l->trace_id.len != TR_TRACE_ID_SIZE) ||
            (l->span_id.len != 0 && l->span_id.len != TR_SPAN_ID_SIZE)) {
            return false;
        }
    }
    return true;
}

int tr_span_batch_encode(const struct tr_span_batch *b, struct tr_buf *out)
{
    tr_buf_put_uvarint(out, b->n_resources);
    for (size_t i = 0; i < b->n_resources; i++) {
        tr_trace_kvs_put(out, b->resources[i].attrs, b->resources[i].n_attrs);
        tr_buf_put_uvarint(out, b->resources[i].dropped_attributes_count);
    }
    tr_buf_put_uvarint(out, b->n_scopes);
    for (size_t i = 0; i < b->n_scopes; i++) {
        const struct tr_batch_scope *s = &b->scopes[i];
        if (s->resource >= b->n_resources) {
            return TR_EINVAL;
        }
        tr_buf_put_uvarint(out, s->resource);
        te__str_put(out, s->scope.name);
        te__str_put(out, s->scope.version);
        tr_trace_kvs_put(out, s->scope.attrs, s->scope.n_attrs);
        tr_buf_put_uvarint(out, s->scope.dropped_attributes_count);
    }
    tr_buf_put_uvarint(out, b->n_spans);
    for (size_t i = 0; i < b->n_spans; i++) {
        if (b->spans[i].scope >= b->n_scopes ||
            !te__ids_ok(&b->spans[i].span)) {
            return TR_EINVAL;
        }
        te__span_put(out, &b->spans[i]);
    }
    return out->oom ? TR_ENOMEM : 0;
}

/* An id of 0 or exactly `size` bytes, after its u8 length. */
static int te__id_get(struct tr_cursor *c, size_t size, struct tr_slice *id)
{
    uint8_t n;
    if (tr_cursor_u8(c, &n) != 0 || (n != 0 && n != size) ||
        tr_cursor_bytes(c, n, id) != 0) {
        return TR_ECORRUPT;
    }
    return 0;
}

static int te__u32(struct tr_cursor *c, uint32_t *v)
{
    uint64_t x;
    if (tr_cursor_uvarint(c, &x) != 0 || x > UINT32_MAX) {
        return TR_ECORRUPT;
    }
    *v = (uint32_t)x;
    return 0;
}

static int te__events_get(struct tr_cursor *c,
                          struct tr_arena *a,
                          struct tr_otlp_span *s)
{
    uint64_t n;
    if (te__count(c, 11, &n) != 0) {
        return TR_ECORRUPT;
    }
    struct tr_otlp_event *ev = n ? tr_arena_alloc(a, n * sizeof(*ev)) : NULL;
    if (n > 0 && ev == NULL) {
        return TR_ENOMEM;
    }
    for (uint64_t i = 0; i < n; i++) {
        int rv = tr_cursor_u64be(c, &ev[i].time_unix_nano) != 0 ||
                         te__str_get(c, &ev[i].name) != 0
                     ? TR_ECORRUPT
                     : tr_trace_kvs_get(c, a, 0, &ev[i].attrs, &ev[i].n_attrs);
        if (rv == 0) {
            rv = te__u32(c, &ev[i].dropped_attributes_count);
        }
        if (rv != 0) {
            return rv;
        }
    }
    s->events = ev;
    s->n_events = n;
    return te__u32(c, &s->dropped_events_count);
}

static int te__links_get(struct tr_cursor *c,
                         struct tr_arena *a,
                         struct tr_otlp_span *s)
{
    uint64_t n;
    if (te__count(c, 6, &n) != 0) {
        return TR_ECORRUPT;
    }
    struct tr_otlp_link *l = n ? tr_arena_alloc(a, n * sizeof(*l)) : NULL;
    if (n > 0 && l == NULL) {
        return TR_ENOMEM;
    }
    for (uint64_t i = 0; i < n; i++) {
        int rv = te__id_get(c, TR_TRACE_ID_SIZE, &l[i].trace_id) != 0 ||
                         te__id_get(c, TR_SPAN_ID_SIZE, &l[i].span_id) != 0 ||
                         te__str_get(c, &l[i].trace_state) != 0
                     ? TR_ECORRUPT
                     : tr_trace_kvs_get(c, a, 0, &l[i].attrs, &l[i].n_attrs);
        if (rv == 0 && (te__u32(c, &l[i].dropped_attributes_count) != 0 ||
                        te__u32(c, &l[i].flags) != 0)) {
            rv = TR_ECORRUPT;
        }
        if (rv != 0) {
            return rv;
        }
    }
    s->links = l;
    s->n_links = n;
    return te__u32(c, &s->dropped_links_count);
}

static int te__span_get(struct tr_cursor *c,
                        struct tr_arena *a,
                        size_t n_scopes,
                        struct tr_batch_span *bs)
{
    struct tr_otlp_span *s = &bs->span;
    memset(bs, 0, sizeof(*bs));
    uint64_t scope, kind, code;
    if (tr_cursor_uvarint(c, &scope) != 0 || scope >= n_scopes ||
        tr_cursor_bytes(c, TR_TRACE_ID_SIZE, &s->trace_id) != 0 ||
        tr_cursor_bytes(c, TR_SPAN_ID_SIZE, &s->span_id) != 0 ||
        te__id_get(c, TR_SPAN_ID_SIZE, &s->parent_span_id) != 0 ||
        te__str_get(c, &s->trace_state) != 0 || te__u32(c, &s->flags) != 0 ||
        te__str_get(c, &s->name) != 0 || tr_cursor_uvarint(c, &kind) != 0 ||
        kind > INT32_MAX || tr_cursor_u64be(c, &s->start_time_unix_nano) != 0 ||
        tr_cursor_u64be(c, &s->end_time_unix_nano) != 0) {
        return TR_ECORRUPT;
    }
    bs->scope = (uint32_t)scope;
    s->kind = (int32_t)kind;
    int rv = tr_trace_kvs_get(c, a, 0, &s->attrs, &s->n_attrs);
    if (rv == 0) {
        rv = te__u32(c, &s->dropped_attributes_count);
    }
    if (rv == 0) {
        rv = te__events_get(c, a, s);
    }
    if (rv == 0) {
        rv = te__links_get(c, a, s);
    }
    if (rv == 0 && (te__str_get(c, &s->status_message) != 0 ||
                    tr_cursor_uvarint(c, &code) != 0 || code > INT32_MAX)) {
        rv = TR_ECORRUPT;
    }
    if (rv == 0) {
        s->status_code = (int32_t)code;
    }
    return rv;
}

int tr_span_batch_decode(struct tr_cursor *c,
                         struct tr_arena *a,
                         struct tr_span_batch *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t nr, ns, nsp;
    if (te__count(c, 2, &nr) != 0) {
        return TR_ECORRUPT;
    }
    struct tr_otlp_resource *res =
        nr ? tr_arena_alloc(a, nr * sizeof(*res)) : NULL;
    if (nr > 0 && res == NULL) {
        return TR_ENOMEM;
    }
    for (uint64_t i = 0; i < nr; i++) {
        int rv = tr_trace_kvs_get(c, a, 0, &res[i].attrs, &res[i].n_attrs);
        if (rv == 0) {
            rv = te__u32(c, &res[i].dropped_attributes_count);
        }
        if (rv != 0) {
            return rv;
        }
    }
    if (te__count(c, 5, &ns) != 0) {
        return TR_ECORRUPT;
    }
    struct tr_batch_scope *sc = ns ? tr_arena_alloc(a, ns * sizeof(*sc)) : NULL;
    if (ns > 0 && sc == NULL) {
        return TR_ENOMEM;
    }
    for (uint64_t i = 0; i < ns; i++) {
        uint64_t r;
        struct tr_otlp_scope *s = &sc[i].scope;
        memset(s, 0, sizeof(*s));
        if (tr_cursor_uvarint(c, &r) != 0 || r >= nr ||
            te__str_get(c, &s->name) != 0 || te__str_get(c, &s->version) != 0) {
            return TR_ECORRUPT;
        }
        sc[i].resource = (uint32_t)r;
        int rv = tr_trace_kvs_get(c, a, 0, &s->attrs, &s->n_attrs);
        if (rv == 0) {
            rv = te__u32(c, &s->dropped_attributes_count);
        }
        if (rv != 0) {
            return rv;
        }
    }
    if (te__count(c, 50, &nsp) != 0) {
        return TR_ECORRUPT;
    }
    struct tr_batch_span *sp =
        nsp ? tr_arena_alloc(a, nsp * sizeof(*sp)) : NULL;
    if (nsp > 0 && sp == NULL) {
        return TR_ENOMEM;
    }
    for (uint64_t i = 0; i < nsp; i++) {
        int rv = te__span_get(c, a, ns, &sp[i]);
        if (rv != 0) {
            return rv;
        }
    }
    out->resources = res;
    out->n_resources = nr;
    out->scopes = sc;
    out->n_scopes = ns;
    out->spans = sp;
    out->n_spans = nsp;
    return 0;
}

/* ---- builder ------------------------------------------------------------- */

void tr_span_batch_builder_init(struct tr_span_batch_builder *bb)
{
    memset(bb, 0, sizeof(*bb));
}

int tr_span_batch_builder_add(struct tr_span_batch_builder *bb,
                              struct tr_arena *a,
                              const struct tr_otlp_resource *res,
                              const struct tr_otlp_scope *scope,
                              const struct tr_otlp_span *span)
{
    struct tr_span_batch *b = &bb->b;
    if (bb->last_res != res || b->n_resources == 0) {
        if (b->n_resources == bb->cap_res) {
            void *n =
                tr_arena_array_grow(a, (void *)b->resources, b->n_resources,
                                    &bb->cap_res, sizeof(*b->resources), 4);
            if (n == NULL) {
                return TR_ENOMEM;
            }
            b->resources = n;
        }
        ((struct tr_otlp_resource *)b->resources)[b->n_resources++] = *res;
        bb->last_res = res;
        bb->last_scope = NULL;
    }
    if (bb->last_scope != scope || b->n_scopes == 0) {
        if (b->n_scopes == bb->cap_scopes) {
            void *n =
                tr_arena_array_grow(a, (void *)b->scopes, b->n_scopes,
                                    &bb->cap_scopes, sizeof(*b->scopes), 4);
            if (n == NULL) {
                return TR_ENOMEM;
            }
            b->scopes = n;
        }
        struct tr_batch_scope *s =
            &((struct tr_batch_scope *)b->scopes)[b->n_scopes++];
        s->resource = (uint32_t)(b->n_resources - 1);
        s->scope = *scope;
        bb->last_scope = scope;
    }
    if (b->n_spans == bb->cap_spans) {
        void *n = tr_arena_array_grow(a, (void *)b->spans, b->n_spans,
                                      &bb->cap_spans, sizeof(*b->spans), 64);
        if (n == NULL) {
            return TR_ENOMEM;
        }
        b->spans = n;
    }
    struct tr_batch_span *s = &((struct tr_batch_span *)b->spans)[b->n_spans++];
    s->scope = (uint32_t)(b->n_scopes - 1);
    s->span = *span;
    return 0;
}

/* ---- duplicates ---------------------------------------------------------- */

struct te_ref {
    const struct tr_otlp_span *s;
    size_t i;
};

static int te__ids_cmp(const void *pa, const void *pb)
{
    const struct te_ref *a = pa, *b = pb;
    int c = memcmp(a->s->trace_id.base, b->s->trace_id.base, TR_TRACE_ID_SIZE);
    if (c == 0) {
        c = memcmp(a->s->span_id.base, b->s->span_id.base, TR_SPAN_ID_SIZE);
    }
    return c != 0 ? c : (a->i < b->i ? -1 : a->i > b->i);
}

int tr_span_batch_dedup(struct tr_span_batch *b)
{
    size_t n = b->n_spans;
    if (n < 2) {
        return 0;
    }
    struct te_ref *ord = tr_malloc(n * sizeof(*ord));
    bool *drop = tr_calloc(n, sizeof(*drop));
    if (ord == NULL || drop == NULL) {
        tr_free(ord);
        tr_free(drop);
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        ord[i] = (struct te_ref){&b->spans[i].span, i};
    }
    qsort(ord, n, sizeof(*ord), te__ids_cmp);
    for (size_t i = 1; i < n; i++) {
        if (memcmp(ord[i - 1].s->trace_id.base, ord[i].s->trace_id.base,
                   TR_TRACE_ID_SIZE) == 0 &&
            memcmp(ord[i - 1].s->span_id.base, ord[i].s->span_id.base,
                   TR_SPAN_ID_SIZE) == 0) {
            drop[ord[i].i] = true;
        }
    }
    struct tr_batch_span *sp = (struct tr_batch_span *)b->spans;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (!drop[i]) {
            sp[o++] = sp[i];
        }
    }
    b->n_spans = o;
    tr_free(ord);
    tr_free(drop);
    return 0;
}

/* ---- entries ------------------------------------------------------------- */

int tr_entry_traces_encode(const struct tr_entry_traces *e,
                           struct tr_buf *out,
                           struct tr_buf *plain_out)
{
    struct tr_buf plain;
    tr_buf_init(&plain);
    tr_buf_putc(&plain, TR_ENTRY_TRACES);
    tr_buf_putc(&plain, TR_ENTRY_TRACES_VERSION);
    te__str_put(&plain, e->tenant);
    int rv = tr_span_batch_encode(&e->batch, &plain);
    if (rv != 0) {
        tr_buf_free(&plain);
        return rv;
    }
    return tr_entry_pack_move(&plain, TR_ENTRY_TRACES_ZSTD, out, plain_out);
}

int tr_entry_traces_decode(const void *buf,
                           size_t len,
                           struct tr_arena *a,
                           struct tr_entry_traces *out)
{
    const uint8_t *b = buf;
    memset(out, 0, sizeof(*out));
    if (len >= 2 && b[0] == TR_ENTRY_TRACES && b[1] == TR_ENTRY_TRACES_ZSTD) {
        int rv =
            tr_entry_unpack(b, len, TR_ENTRY_TRACES_VERSION, a, &buf, &len);
        if (rv != 0) {
            return rv;
        }
    }
    struct tr_cursor c = tr_cursor_make(buf, len);
    uint8_t type, ver;
    if (tr_cursor_u8(&c, &type) != 0 || type != TR_ENTRY_TRACES ||
        tr_cursor_u8(&c, &ver) != 0 || ver != TR_ENTRY_TRACES_VERSION ||
        te__str_get(&c, &out->tenant) != 0) {
        return TR_ECORRUPT;
    }
    const uint8_t *from = c.p;
    int rv = tr_span_batch_decode(&c, a, &out->batch);
    if (rv == 0 && (out->batch.n_spans == 0 || tr_cursor_left(&c) != 0)) {
        rv = TR_ECORRUPT;
    }
    if (rv == 0) {
        out->batch_bytes =
            (struct tr_slice){(const char *)from, (size_t)(c.p - from)};
    }
    return rv;
}

void tr_entry_traces_cut_encode(uint8_t out[TR_ENTRY_TRACES_CUT_SIZE])
{
    out[0] = TR_ENTRY_TRACES;
    out[1] = TR_ENTRY_TRACES_CUT;
}

bool tr_entry_traces_is_cut(const void *buf, size_t len)
{
    const uint8_t *b = buf;
    return len == TR_ENTRY_TRACES_CUT_SIZE && b[0] == TR_ENTRY_TRACES &&
           b[1] == TR_ENTRY_TRACES_CUT;
}
