/* trace_block.c - building and decoding blocks of whole traces and their
 * index records (formats in storage/trace_block.h). */
#include "storage/trace_block.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "lib/compress.h"
#include "lib/err.h"
#include "lib/hash.h"
#include "storage/trace_keys.h"

#define TB_ZSTD_LEVEL 3
#define TB_MAX_RAW (256u << 20)
#define TB_PARENT_SEARCH_MAX 512 /* larger traces store parents raw */

enum {
    COL_STRINGS,
    COL_RESOURCES,
    COL_SCOPES,
    COL_TRACES,
    COL_SPAN_IDS,
    COL_PARENTS,
    COL_PARENTS_X,
    COL_TIMES,
    COL_NAMES,
    COL_ATTRS,
    COL_EVENTS,
    COL_LINKS,
};

/* ---- a dictionary of byte strings -> dense refs ------------------------- */

struct tb_dict {
    uint32_t *slots; /* ref + 1, 0 = empty; cap a power of two */
    size_t cap;
    struct tr_slice *strs; /* by ref */
    size_t n, scap;
};

static void tb__dict_free(struct tb_dict *d)
{
    tr_free(d->slots);
    tr_free(d->strs);
    memset(d, 0, sizeof(*d));
}

/* The ref of s (added when new: *added). s must outlive the dict. */
static int tb__dict_ref(struct tb_dict *d,
                        struct tr_slice s,
                        uint32_t *ref,
                        bool *added)
{
    if (d->n * 2 >= d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 256;
        uint32_t *ns = tr_calloc(ncap, sizeof(*ns));
        if (ns == NULL) {
            return TR_ENOMEM;
        }
        for (size_t i = 0; i < d->n; i++) {
            uint64_t h = tr_hash64(d->strs[i].base, d->strs[i].len, 7);
            size_t j = (size_t)h & (ncap - 1);
            while (ns[j] != 0) {
                j = (j + 1) & (ncap - 1);
            }
            ns[j] = (uint32_t)i + 1;
        }
        tr_free(d->slots);
        d->slots = ns;
        d->cap = ncap;
    }
    uint64_t h = tr_hash64(s.base, s.len, 7);
    size_t j = (size_t)h & (d->cap - 1);
    while (d->slots[j] != 0) {
        uint32_t r = d->slots[j] - 1;
        if (tr_slice_eq(d->strs[r], s)) {
            *ref = r;
            *added = false;
            return 0;
        }
        j = (j + 1) & (d->cap - 1);
    }
    if (d->n == d->scap) {
        struct tr_slice *n = tr_array_grow(d->strs, &d->scap, sizeof(*n), 256);
        if (n == NULL) {
            return TR_ENOMEM;
        }
        d->strs = n;
    }
    d->strs[d->n] = s;
    d->slots[j] = (uint32_t)d->n + 1;
    *ref = (uint32_t)d->n++;
    *added = true;
    return 0;
}

/* Whether s is in the dictionary (no insertion). */
static bool tb__dict_find(const struct tb_dict *d, struct tr_slice s)
{
    if (d->cap == 0) {
        return false;
    }
    uint64_t h = tr_hash64(s.base, s.len, 7);
    size_t j = (size_t)h & (d->cap - 1);
    while (d->slots[j] != 0) {
        if (tr_slice_eq(d->strs[d->slots[j] - 1], s)) {
            return true;
        }
        j = (j + 1) & (d->cap - 1);
    }
    return false;
}

/* ---- building ------------------------------------------------------------ */

struct tb_post {
    uint8_t field;
    struct tr_slice key;
    struct tr_slice val; /* value encoding */
    uint32_t ord;
};

struct tb_build {
    struct tr_buf col[TB_COLS];
    struct tb_dict strings;
    struct tb_dict resources; /* encoded dkvs of a resource */
    struct tb_dict scopes;    /* resource ref + encoded scope */
    uint32_t n_res, n_scopes;
    uint32_t **res_map;   /* per batch: resource -> block resource */
    uint32_t **scope_map; /* per batch: scope -> block scope */
    struct tr_arena a;
    struct tr_buf tmp;
    struct tb_post *posts;
    size_t n_posts, cap_posts;
    struct tb_post *keys; /* (scope, attribute name) */
    size_t n_keys, cap_keys;
    struct tb_dict post_dict; /* interned values */
    struct tb_dict key_dict;  /* interned names */
    struct tr_buf tmp2;
    int err;
};

static uint32_t tb__str(struct tb_build *x, struct tr_slice s)
{
    uint32_t ref = 0;
    bool added = false;
    if (tb__dict_ref(&x->strings, s, &ref, &added) != 0) {
        x->err = TR_ENOMEM;
        return 0;
    }
    if (added) {
        tr_buf_put_uvarint(&x->col[COL_STRINGS], s.len);
        tr_buf_append(&x->col[COL_STRINGS], s.base, s.len);
    }
    return ref;
}

static void tb__dkvs(struct tb_build *x,
                     struct tr_buf *b,
                     const struct tr_otlp_kv *kvs,
                     size_t n);

static void tb__dvalue(struct tb_build *x,
                       struct tr_buf *b,
                       const struct tr_otlp_value *v)
{
    switch (v->type) {
        case TR_OTLP_STRING:
            tr_buf_putc(b, (char)v->type);
            tr_buf_put_uvarint(b, tb__str(x, v->s));
            break;
        case TR_OTLP_ARRAY:
            tr_buf_putc(b, (char)v->type);
            tr_buf_put_uvarint(b, v->n);
            for (size_t i = 0; i < v->n; i++) {
                tb__dvalue(x, b, &v->items[i]);
            }
            break;
        case TR_OTLP_KVLIST:
            tr_buf_putc(b, (char)v->type);
            tb__dkvs(x, b, v->kvs, v->n);
            break;
        default:
            tr_trace_value_put(b, v);
    }
}

static void tb__dkvs(struct tb_build *x,
                     struct tr_buf *b,
                     const struct tr_otlp_kv *kvs,
                     size_t n)
{
    tr_buf_put_uvarint(b, n);
    for (size_t i = 0; i < n; i++) {
        tr_buf_put_uvarint(b, tb__str(x, kvs[i].key));
        tb__dvalue(x, b, &kvs[i].value);
    }
}

static void tb__post(struct tb_build *x,
                     uint8_t field,
                     struct tr_slice key,
                     const struct tr_otlp_value *v);
static void tb__key(struct tb_build *x,
                    uint8_t scope,
                    const struct tr_otlp_kv *kvs,
                    size_t n);

/* The block ref of batch bi's resource r (added when new). */
static uint32_t tb__resource(struct tb_build *x,
                             const struct tr_span_batch *bt,
                             uint32_t bi,
                             uint32_t r)
{
    if (x->res_map[bi][r] != UINT32_MAX) {
        return x->res_map[bi][r];
    }
    const struct tr_otlp_resource *res = &bt->resources[r];
    tr_buf_reset(&x->tmp);
    tb__dkvs(x, &x->tmp, res->attrs, res->n_attrs);
    tr_buf_put_uvarint(&x->tmp, res->dropped_attributes_count);
    char *copy = tr_arena_memdup(&x->a, x->tmp.data, x->tmp.len);
    uint32_t ref = 0;
    bool added = false;
    if (copy == NULL || x->tmp.oom ||
        tb__dict_ref(&x->resources, (struct tr_slice){copy, x->tmp.len}, &ref,
                     &added) != 0) {
        x->err = TR_ENOMEM;
        return 0;
    }
    if (added) {
        tr_buf_append(&x->col[COL_RESOURCES], copy, x->tmp.len);
        x->n_res++;
        /* the block's values and names: once per distinct resource */
        for (size_t k = 0; k < res->n_attrs; k++) {
            tb__post(x, TB_FIELD_RESOURCE, res->attrs[k].key,
                     &res->attrs[k].value);
        }
        tb__key(x, TB_SCOPE_RESOURCE, res->attrs, res->n_attrs);
    }
    x->res_map[bi][r] = ref;
    return ref;
}

static uint32_t tb__scope(struct tb_build *x,
                          const struct tr_span_batch *bt,
                          uint32_t bi,
                          uint32_t s)
{
    if (x->scope_map[bi][s] != UINT32_MAX) {
        return x->scope_map[bi][s];
    }
    const struct tr_batch_scope *sc = &bt->scopes[s];
    uint32_t r = tb__resource(x, bt, bi, sc->resource);
    struct tr_buf enc;
    tr_buf_init(&enc);
    tr_buf_put_uvarint(&enc, r);
    tr_buf_put_uvarint(&enc, tb__str(x, sc->scope.name));
    tr_buf_put_uvarint(&enc, tb__str(x, sc->scope.version));
    tb__dkvs(x, &enc, sc->scope.attrs, sc->scope.n_attrs);
    tr_buf_put_uvarint(&enc, sc->scope.dropped_attributes_count);
    char *copy = tr_arena_memdup(&x->a, enc.data, enc.len);
    uint32_t ref = 0;
    bool added = false;
    if (copy == NULL || enc.oom ||
        tb__dict_ref(&x->scopes, (struct tr_slice){copy, enc.len}, &ref,
                     &added) != 0) {
        x->err = TR_ENOMEM;
    } else if (added) {
        tr_buf_append(&x->col[COL_SCOPES], copy, enc.len);
        x->n_scopes++;
        tb__key(x, TB_SCOPE_INSTRUMENTATION, sc->scope.attrs,
                sc->scope.n_attrs);
    }
    tr_buf_free(&enc);
    x->scope_map[bi][s] = ref;
    return ref;
}

/* Adds (field, key, value) to the block's values once: a dictionary of
 * their bytes interns them, so each span costs a hash lookup per
 * attribute and only the distinct ones are sorted at the end. */
static void tb__intern(struct tb_build *x,
                       struct tb_dict *d,
                       struct tb_post **arr,
                       size_t *n,
                       size_t *cap,
                       uint8_t field,
                       struct tr_slice key,
                       struct tr_slice val)
{
    tr_buf_reset(&x->tmp2);
    tr_buf_putc(&x->tmp2, (char)field);
    tr_buf_put_uvarint(&x->tmp2, key.len);
    tr_buf_append(&x->tmp2, key.base, key.len);
    tr_buf_append(&x->tmp2, val.base, val.len);
    if (x->tmp2.oom) {
        x->err = TR_ENOMEM;
        return;
    }
    uint32_t ref;
    bool added;
    /* the dictionary keeps its slices: look up a scratch copy first */
    if (tb__dict_find(d, (struct tr_slice){x->tmp2.data, x->tmp2.len})) {
        return;
    }
    char *copy = tr_arena_memdup(&x->a, x->tmp2.data, x->tmp2.len);
    if (copy == NULL || tb__dict_ref(d, (struct tr_slice){copy, x->tmp2.len},
                                     &ref, &added) != 0) {
        x->err = TR_ENOMEM;
        return;
    }
    if (*n == *cap) {
        struct tb_post *na = tr_array_grow(*arr, cap, sizeof(*na), 256);
        if (na == NULL) {
            x->err = TR_ENOMEM;
            return;
        }
        *arr = na;
    }
    size_t koff = 1 + tr_uvarint_len(key.len);
    (*arr)[(*n)++] =
        (struct tb_post){field, (struct tr_slice){copy + koff, key.len},
                         (struct tr_slice){copy + koff + key.len, val.len}, 0};
}

static void tb__post(struct tb_build *x,
                     uint8_t field,
                     struct tr_slice key,
                     const struct tr_otlp_value *v)
{
    if (v->type != TR_OTLP_STRING && v->type != TR_OTLP_INT &&
        v->type != TR_OTLP_BOOL) {
        return;
    }
    if (v->type == TR_OTLP_STRING && v->s.len > TB_POSTING_MAX) {
        return;
    }
    tr_buf_reset(&x->tmp);
    tr_trace_value_put(&x->tmp, v);
    tb__intern(x, &x->post_dict, &x->posts, &x->n_posts, &x->cap_posts, field,
               key, (struct tr_slice){x->tmp.data, x->tmp.len});
}

static int tb__post_cmp(const void *pa, const void *pb)
{
    const struct tb_post *a = pa, *b = pb;
    if (a->field != b->field) {
        return a->field < b->field ? -1 : 1;
    }
    int c = tr_slice_cmp(a->key, b->key);
    if (c == 0) {
        c = tr_slice_cmp(a->val, b->val);
    }
    if (c == 0) {
        c = a->ord < b->ord ? -1 : a->ord > b->ord;
    }
    return c;
}

static bool tb__same_group(const struct tb_post *a, const struct tb_post *b)
{
    return a->field == b->field && tr_slice_eq(a->key, b->key) &&
           tr_slice_eq(a->val, b->val);
}

static void tb__index(size_t traces,
                      size_t spans,
                      uint64_t mint,
                      uint64_t maxt,
                      struct tr_buf *out)
{
    tr_buf_putc(out, TB_VERSION);
    tr_buf_put_uvarint(out, traces);
    tr_buf_put_uvarint(out, spans);
    tr_buf_put_u64be(out, mint);
    tr_buf_put_u64be(out, maxt);
}

static bool tb__same_key(const struct tb_post *a, const struct tb_post *b)
{
    return a->field == b->field && tr_slice_eq(a->key, b->key);
}

/* The distinct (field, key, value) of the block; a (field, key) with more
 * than TB_VALUES_MAX values gets one entry with an empty value instead
 * (any value). */
static void tb__values(struct tb_build *x, struct tr_buf *out)
{
    if (x->n_posts > 0) {
        qsort(x->posts, x->n_posts, sizeof(*x->posts), tb__post_cmp);
    }
    for (size_t i = 0; i < x->n_posts;) {
        size_t j = i, distinct = 0;
        while (j < x->n_posts && tb__same_key(&x->posts[i], &x->posts[j])) {
            distinct +=
                j == i || !tb__same_group(&x->posts[j - 1], &x->posts[j]);
            j++;
        }
        for (size_t k = i; k < j; k++) {
            if (k > i && tb__same_group(&x->posts[k - 1], &x->posts[k])) {
                continue;
            }
            const struct tb_post *p = &x->posts[k];
            tr_buf_putc(out, (char)p->field);
            tr_buf_put_uvarint(out, p->key.len);
            tr_buf_append(out, p->key.base, p->key.len);
            if (distinct > TB_VALUES_MAX) {
                tr_buf_put_uvarint(out, 0);
                break;
            }
            tr_buf_put_uvarint(out, p->val.len);
            tr_buf_append(out, p->val.base, p->val.len);
        }
        i = j;
    }
}

/* The distinct (scope, attribute name) of the block. */
static void tb__keys(struct tb_build *x, struct tr_buf *out)
{
    if (x->n_keys > 0) {
        qsort(x->keys, x->n_keys, sizeof(*x->keys), tb__post_cmp);
    }
    for (size_t i = 0; i < x->n_keys; i++) {
        if (i > 0 && tb__same_key(&x->keys[i - 1], &x->keys[i])) {
            continue;
        }
        tr_buf_putc(out, (char)x->keys[i].field);
        tr_buf_put_uvarint(out, x->keys[i].key.len);
        tr_buf_append(out, x->keys[i].key.base, x->keys[i].key.len);
    }
}

static void tb__key(struct tb_build *x,
                    uint8_t scope,
                    const struct tr_otlp_kv *kvs,
                    size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tb__intern(x, &x->key_dict, &x->keys, &x->n_keys, &x->cap_keys, scope,
                   kvs[i].key, (struct tr_slice){"", 0});
    }
}

static const struct tr_otlp_value *tb__attr(const struct tr_otlp_kv *kvs,
                                            size_t n,
                                            const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (tr_slice_eq_cstr(kvs[i].key, key)) {
            return &kvs[i].value;
        }
    }
    return NULL;
}

/* One span's columns (but its id and parent). */
static void tb__span(struct tb_build *x,
                     const struct tr_span_batch *bt,
                     const struct tr_trace_block_in *in)
{
    const struct tr_otlp_span *s = &in->span->span;
    struct tr_buf *nm = &x->col[COL_NAMES];
    tr_buf_put_uvarint(nm, tb__str(x, s->name));
    tr_buf_put_uvarint(nm, tb__scope(x, bt, in->batch, in->span->scope));
    tr_buf_putc(nm, (char)s->kind);
    tr_buf_putc(nm, (char)s->status_code);
    tr_buf_put_uvarint(nm, tb__str(x, s->status_message));
    tr_buf_put_uvarint(nm, tb__str(x, s->trace_state));
    tr_buf_put_uvarint(nm, s->flags);
    tb__dkvs(x, &x->col[COL_ATTRS], s->attrs, s->n_attrs);
    tr_buf_put_uvarint(&x->col[COL_ATTRS], s->dropped_attributes_count);
    struct tr_buf *ev = &x->col[COL_EVENTS];
    tr_buf_put_uvarint(ev, s->n_events);
    for (size_t i = 0; i < s->n_events; i++) {
        const struct tr_otlp_event *e = &s->events[i];
        tr_buf_put_varint(
            ev, (int64_t)(e->time_unix_nano - s->start_time_unix_nano));
        tr_buf_put_uvarint(ev, tb__str(x, e->name));
        tb__dkvs(x, ev, e->attrs, e->n_attrs);
        tr_buf_put_uvarint(ev, e->dropped_attributes_count);
    }
    tr_buf_put_uvarint(ev, s->dropped_events_count);
    struct tr_buf *lk = &x->col[COL_LINKS];
    tr_buf_put_uvarint(lk, s->n_links);
    for (size_t i = 0; i < s->n_links; i++) {
        const struct tr_otlp_link *l = &s->links[i];
        tr_buf_putc(lk, (char)l->trace_id.len);
        tr_buf_append(lk, l->trace_id.base, l->trace_id.len);
        tr_buf_putc(lk, (char)l->span_id.len);
        tr_buf_append(lk, l->span_id.base, l->span_id.len);
        tr_buf_put_uvarint(lk, tb__str(x, l->trace_state));
        tb__dkvs(x, lk, l->attrs, l->n_attrs);
        tr_buf_put_uvarint(lk, l->dropped_attributes_count);
        tr_buf_put_uvarint(lk, l->flags);
    }
    tr_buf_put_uvarint(lk, s->dropped_links_count);
    /* postings */
    tb__post(x, TB_FIELD_NAME, (struct tr_slice){"", 0},
             &(struct tr_otlp_value){.type = TR_OTLP_STRING, .s = s->name});
    tb__post(x, TB_FIELD_STATUS, (struct tr_slice){"", 0},
             &(struct tr_otlp_value){.type = TR_OTLP_INT, .i = s->status_code});
    tb__post(x, TB_FIELD_KIND, (struct tr_slice){"", 0},
             &(struct tr_otlp_value){.type = TR_OTLP_INT, .i = s->kind});
    for (size_t i = 0; i < s->n_attrs; i++) {
        tb__post(x, TB_FIELD_SPAN, s->attrs[i].key, &s->attrs[i].value);
    }
    tb__key(x, TB_SCOPE_SPAN, s->attrs, s->n_attrs);
    for (size_t i = 0; i < s->n_events; i++) {
        tb__key(x, TB_SCOPE_EVENT, s->events[i].attrs, s->events[i].n_attrs);
    }
    for (size_t i = 0; i < s->n_links; i++) {
        tb__key(x, TB_SCOPE_LINK, s->links[i].attrs, s->links[i].n_attrs);
    }
}

/* The trace of spans [b, e): its columns, record and postings. */
static void tb__trace(struct tb_build *x,
                      const struct tr_span_batch *batches,
                      const struct tr_trace_block_in *in,
                      size_t b,
                      size_t e,
                      uint32_t ord,
                      struct tr_buf *recs)
{
    const struct tr_otlp_span *first = &in[b].span->span;
    tr_buf_append(&x->col[COL_TRACES], first->trace_id.base, TR_TRACE_ID_SIZE);
    tr_buf_put_uvarint(&x->col[COL_TRACES], e - b);
    uint64_t mint = UINT64_MAX, maxt = 0, prev = 0;
    uint8_t flags = 0;
    struct tr_slice root_svc = {"", 0}, root_name = {"", 0};
    for (size_t i = b; i < e; i++) {
        const struct tr_span_batch *bt = &batches[in[i].batch];
        const struct tr_otlp_span *s = &in[i].span->span;
        tr_buf_append(&x->col[COL_SPAN_IDS], s->span_id.base, TR_SPAN_ID_SIZE);
        uint64_t parent = 0;
        if (s->parent_span_id.len == TR_SPAN_ID_SIZE) {
            parent = TB_PARENT_OUTSIDE;
            if (e - b <= TB_PARENT_SEARCH_MAX) {
                for (size_t j = b; j < e; j++) {
                    if (memcmp(in[j].span->span.span_id.base,
                               s->parent_span_id.base, TR_SPAN_ID_SIZE) == 0) {
                        parent = j - b + 1;
                        break;
                    }
                }
            }
            if (parent == TB_PARENT_OUTSIDE) {
                tr_buf_append(&x->col[COL_PARENTS_X], s->parent_span_id.base,
                              TR_SPAN_ID_SIZE);
            }
        }
        tr_buf_put_uvarint(&x->col[COL_PARENTS], parent);
        if (i == b) {
            tr_buf_put_uvarint(&x->col[COL_TIMES], s->start_time_unix_nano);
        } else {
            tr_buf_put_varint(&x->col[COL_TIMES],
                              (int64_t)(s->start_time_unix_nano - prev));
        }
        prev = s->start_time_unix_nano;
        tr_buf_put_varint(
            &x->col[COL_TIMES],
            (int64_t)(s->end_time_unix_nano - s->start_time_unix_nano));
        mint = s->start_time_unix_nano < mint ? s->start_time_unix_nano : mint;
        maxt = s->end_time_unix_nano > maxt ? s->end_time_unix_nano : maxt;
        if (s->status_code == TR_OTLP_STATUS_ERROR) {
            flags |= TRACE_REC_ERROR;
        }
        uint32_t sc = in[i].span->scope;
        const struct tr_otlp_resource *res =
            &bt->resources[bt->scopes[sc].resource];
        if (s->parent_span_id.len == 0 && !(flags & TRACE_REC_ROOT)) {
            flags |= TRACE_REC_ROOT;
            const struct tr_otlp_value *v =
                tb__attr(res->attrs, res->n_attrs, "service.name");
            if (v != NULL && v->type == TR_OTLP_STRING) {
                root_svc = v->s;
            }
            root_name = s->name;
        }
        tb__span(x, bt, &in[i]);
    }
    /* the trace record */
    tr_buf_reset(&x->tmp);
    tr_buf_put_uvarint(&x->tmp, ord);
    tr_buf_put_uvarint(&x->tmp, e - b);
    tr_buf_put_u64be(&x->tmp, mint);
    tr_buf_put_u64be(&x->tmp, maxt);
    tr_buf_putc(&x->tmp, (char)flags);
    tr_buf_put_uvarint(&x->tmp, root_svc.len);
    tr_buf_append(&x->tmp, root_svc.base, root_svc.len);
    tr_buf_put_uvarint(&x->tmp, root_name.len);
    tr_buf_append(&x->tmp, root_name.base, root_name.len);
    tr_buf_append(recs, first->trace_id.base, TR_TRACE_ID_SIZE);
    tr_buf_put_uvarint(recs, x->tmp.len);
    tr_buf_append(recs, x->tmp.data, x->tmp.len);
}

static void tb__build_free(struct tb_build *x, size_t n_batches)
{
    for (size_t i = 0; i < TB_COLS; i++) {
        tr_buf_free(&x->col[i]);
    }
    tb__dict_free(&x->strings);
    tb__dict_free(&x->resources);
    tb__dict_free(&x->scopes);
    tr_arena_free(&x->a);
    tr_buf_free(&x->tmp);
    tr_free(x->posts);
    tr_free(x->keys);
    tb__dict_free(&x->post_dict);
    tb__dict_free(&x->key_dict);
    tr_buf_free(&x->tmp2);
    (void)n_batches;
}

int tr_trace_block_build(const struct tr_span_batch *batches,
                         size_t n_batches,
                         const struct tr_trace_block_in *spans,
                         size_t n,
                         struct tr_buf *block,
                         struct tr_buf *index,
                         struct tr_buf *recs,
                         struct tr_buf *values,
                         struct tr_buf *keys)
{
    struct tb_build x;
    memset(&x, 0, sizeof(x));
    for (size_t i = 0; i < TB_COLS; i++) {
        tr_buf_init(&x.col[i]);
    }
    tr_buf_init(&x.tmp);
    tr_buf_init(&x.tmp2);
    tr_arena_init(&x.a, 64 * 1024);
    x.res_map = tr_arena_alloc(&x.a, (n_batches + 1) * sizeof(*x.res_map));
    x.scope_map = tr_arena_alloc(&x.a, (n_batches + 1) * sizeof(*x.scope_map));
    if (x.res_map == NULL || x.scope_map == NULL) {
        tb__build_free(&x, n_batches);
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < n_batches; i++) {
        size_t nr = batches[i].n_resources, ns = batches[i].n_scopes;
        x.res_map[i] = tr_arena_alloc(&x.a, (nr + 1) * sizeof(uint32_t));
        x.scope_map[i] = tr_arena_alloc(&x.a, (ns + 1) * sizeof(uint32_t));
        if (x.res_map[i] == NULL || x.scope_map[i] == NULL) {
            tb__build_free(&x, n_batches);
            return TR_ENOMEM;
        }
        memset(x.res_map[i], 0xff, (nr + 1) * sizeof(uint32_t));
        memset(x.scope_map[i], 0xff, (ns + 1) * sizeof(uint32_t));
    }
    uint64_t mint = UINT64_MAX, maxt = 0;
    uint32_t traces = 0;
    for (size_t b = 0; b < n;) {
        size_t e = b + 1;
        while (e < n && memcmp(spans[e].span->span.trace_id.base,
                               spans[b].span->span.trace_id.base,
                               TR_TRACE_ID_SIZE) == 0) {
            e++;
        }
        tb__trace(&x, batches, spans, b, e, traces++, recs);
        for (size_t i = b; i < e; i++) {
            const struct tr_otlp_span *s = &spans[i].span->span;
            mint =
                s->start_time_unix_nano < mint ? s->start_time_unix_nano : mint;
            maxt = s->end_time_unix_nano > maxt ? s->end_time_unix_nano : maxt;
        }
        b = e;
    }
    struct tr_buf raw;
    tr_buf_init(&raw);
    tr_buf_putc(&raw, TB_VERSION);
    tr_buf_put_uvarint(&raw, traces);
    tr_buf_put_uvarint(&raw, n);
    tr_buf_put_uvarint(&raw, x.strings.n);
    tr_buf_put_uvarint(&raw, x.n_res);
    tr_buf_put_uvarint(&raw, x.n_scopes);
    bool oom = x.err != 0 || x.tmp.oom || recs->oom;
    for (size_t i = 0; i < TB_COLS; i++) {
        tr_buf_put_uvarint(&raw, x.col[i].len);
        oom = oom || x.col[i].oom;
    }
    for (size_t i = 0; i < TB_COLS; i++) {
        tr_buf_append(&raw, x.col[i].data, x.col[i].len);
    }
    int rv = oom || raw.oom ? TR_ENOMEM : 0;
    if (rv == 0) {
        rv = tr_zstd_encode(raw.data, raw.len, TB_ZSTD_LEVEL, block);
    }
    if (rv == 0) {
        tb__index(traces, n, n ? mint : 0, maxt, index);
        tb__values(&x, values);
        tb__keys(&x, keys);
        rv = index->oom || values->oom || keys->oom || x.err ? TR_ENOMEM : 0;
    }
    tr_buf_free(&raw);
    tb__build_free(&x, n_batches);
    return rv;
}

/* ---- decoding ------------------------------------------------------------ */

struct tb_dec {
    struct tr_slice *strs;
    uint64_t n_strs;
    struct tr_arena *a;
};

static int tb__ref_get(const struct tb_dec *d,
                       struct tr_cursor *c,
                       struct tr_slice *s)
{
    uint64_t r;
    if (tr_cursor_uvarint(c, &r) != 0 || r >= d->n_strs) {
        return TR_ECORRUPT;
    }
    *s = d->strs[r];
    return 0;
}

static int tb__dkvs_get(const struct tb_dec *d,
                        struct tr_cursor *c,
                        int depth,
                        const struct tr_otlp_kv **kvs,
                        size_t *n);

static int tb__dvalue_get(const struct tb_dec *d,
                          struct tr_cursor *c,
                          int depth,
                          struct tr_otlp_value *v)
{
    if (depth > TR_OTLP_MAX_DEPTH || tr_cursor_left(c) == 0) {
        return TR_ECORRUPT;
    }
    uint8_t t = c->p[0];
    if (t == TR_OTLP_STRING) {
        memset(v, 0, sizeof(*v));
        c->p++;
        v->type = t;
        return tb__ref_get(d, c, &v->s);
    }
    if (t == TR_OTLP_ARRAY) {
        memset(v, 0, sizeof(*v));
        c->p++;
        v->type = t;
        uint64_t n;
        if (tr_cursor_uvarint(c, &n) != 0 || n > tr_cursor_left(c)) {
            return TR_ECORRUPT;
        }
        struct tr_otlp_value *items =
            n ? tr_arena_alloc(d->a, n * sizeof(*items)) : NULL;
        if (n > 0 && items == NULL) {
            return TR_ENOMEM;
        }
        for (uint64_t i = 0; i < n; i++) {
            int rv = tb__dvalue_get(d, c, depth + 1, &items[i]);
            if (rv != 0) {
                return rv;
            }
        }
        v->items = items;
        v->n = n;
        return 0;
    }
    if (t == TR_OTLP_KVLIST) {
        memset(v, 0, sizeof(*v));
        c->p++;
        v->type = t;
        return tb__dkvs_get(d, c, depth + 1, &v->kvs, &v->n);
    }
    return tr_trace_value_get(c, d->a, depth, v);
}

static int tb__dkvs_get(const struct tb_dec *d,
                        struct tr_cursor *c,
                        int depth,
                        const struct tr_otlp_kv **kvs,
                        size_t *n)
{
    uint64_t m;
    *kvs = NULL;
    *n = 0;
    if (depth > TR_OTLP_MAX_DEPTH || tr_cursor_uvarint(c, &m) != 0 ||
        m > tr_cursor_left(c) / 2) {
        return TR_ECORRUPT;
    }
    if (m == 0) {
        return 0;
    }
    struct tr_otlp_kv *out = tr_arena_alloc(d->a, m * sizeof(*out));
    if (out == NULL) {
        return TR_ENOMEM;
    }
    for (uint64_t i = 0; i < m; i++) {
        int rv = tb__ref_get(d, c, &out[i].key);
        if (rv == 0) {
            rv = tb__dvalue_get(d, c, depth, &out[i].value);
        }
        if (rv != 0) {
            return rv;
        }
    }
    *kvs = out;
    *n = m;
    return 0;
}

static int tb__u32(struct tr_cursor *c, uint32_t *v)
{
    uint64_t x;
    if (tr_cursor_uvarint(c, &x) != 0 || x > UINT32_MAX) {
        return TR_ECORRUPT;
    }
    *v = (uint32_t)x;
    return 0;
}

static int tb__id(struct tr_cursor *c, size_t size, struct tr_slice *id)
{
    uint8_t n;
    if (tr_cursor_u8(c, &n) != 0 || (n != 0 && n != size) ||
        tr_cursor_bytes(c, n, id) != 0) {
        return TR_ECORRUPT;
    }
    return 0;
}

/* The events and links of one span from their columns. */
static int tb__span_lists(const struct tb_dec *d,
                          struct tr_cursor *ev,
                          struct tr_cursor *lk,
                          struct tr_otlp_span *s)
{
    uint64_t n;
    if (tr_cursor_uvarint(ev, &n) != 0 || n > tr_cursor_left(ev) / 3) {
        return TR_ECORRUPT;
    }
    struct tr_otlp_event *e = n ? tr_arena_alloc(d->a, n * sizeof(*e)) : NULL;
    if (n > 0 && e == NULL) {
        return TR_ENOMEM;
    }
    for (uint64_t i = 0; i < n; i++) {
        int64_t dt;
        if (tr_cursor_varint(ev, &dt) != 0 ||
            tb__ref_get(d, ev, &e[i].name) != 0) {
            return TR_ECORRUPT;
        }
        e[i].time_unix_nano = s->start_time_unix_nano + (uint64_t)dt;
        int rv = tb__dkvs_get(d, ev, 0, &e[i].attrs, &e[i].n_attrs);
        if (rv == 0) {
            rv = tb__u32(ev, &e[i].dropped_attributes_count);
        }
        if (rv != 0) {
            return rv;
        }
    }
    s->events = e;
    s->n_events = n;
    if (tb__u32(ev, &s->dropped_events_count) != 0 ||
        tr_cursor_uvarint(lk, &n) != 0 || n > tr_cursor_left(lk) / 6) {
        return TR_ECORRUPT;
    }
    struct tr_otlp_link *l = n ? tr_arena_alloc(d->a, n * sizeof(*l)) : NULL;
    if (n > 0 && l == NULL) {
        return TR_ENOMEM;
    }
    for (uint64_t i = 0; i < n; i++) {
        memset(&l[i], 0, sizeof(l[i]));
        if (tb__id(lk, TR_TRACE_ID_SIZE, &l[i].trace_id) != 0 ||
            tb__id(lk, TR_SPAN_ID_SIZE, &l[i].span_id) != 0 ||
            tb__ref_get(d, lk, &l[i].trace_state) != 0) {
            return TR_ECORRUPT;
        }
        int rv = tb__dkvs_get(d, lk, 0, &l[i].attrs, &l[i].n_attrs);
        if (rv == 0 && (tb__u32(lk, &l[i].dropped_attributes_count) != 0 ||
                        tb__u32(lk, &l[i].flags) != 0)) {
            rv = TR_ECORRUPT;
        }
        if (rv != 0) {
            return rv;
        }
    }
    s->links = l;
    s->n_links = n;
    return tb__u32(lk, &s->dropped_links_count);
}

struct tb_cols {
    struct tr_cursor c[TB_COLS];
};

/* Span i (the k-th of its trace, which starts at span t0) from the columns. */
static int tb__span_get(const struct tb_dec *d,
                        struct tb_cols *cs,
                        uint64_t n_scopes,
                        struct tr_batch_span *out,
                        size_t t0,
                        size_t k,
                        size_t trace_len,
                        const uint8_t *trace_id,
                        uint32_t *pidx,
                        uint64_t *prev)
{
    struct tr_otlp_span *s = &out[t0 + k].span;
    memset(&out[t0 + k], 0, sizeof(out[t0 + k]));
    s->trace_id = (struct tr_slice){(const char *)trace_id, TR_TRACE_ID_SIZE};
    uint64_t parent, start, scope;
    int64_t dur;
    if (tr_cursor_bytes(&cs->c[COL_SPAN_IDS], TR_SPAN_ID_SIZE, &s->span_id) !=
            0 ||
        tr_cursor_uvarint(&cs->c[COL_PARENTS], &parent) != 0) {
        return TR_ECORRUPT;
    }
    if (parent == TB_PARENT_OUTSIDE) {
        if (tr_cursor_bytes(&cs->c[COL_PARENTS_X], TR_SPAN_ID_SIZE,
                            &s->parent_span_id) != 0) {
            return TR_ECORRUPT;
        }
    } else if (parent > trace_len) {
        return TR_ECORRUPT;
    }
    /* a parent inside the trace (maybe later in it): resolved by the
     * caller once the trace's spans are read */
    pidx[t0 + k] = parent == TB_PARENT_OUTSIDE ? 0 : (uint32_t)parent;
    if (k == 0) {
        if (tr_cursor_uvarint(&cs->c[COL_TIMES], &start) != 0) {
            return TR_ECORRUPT;
        }
    } else {
        int64_t dt;
        if (tr_cursor_varint(&cs->c[COL_TIMES], &dt) != 0) {
            return TR_ECORRUPT;
        }
        start = *prev + (uint64_t)dt;
    }
    *prev = start;
    if (tr_cursor_varint(&cs->c[COL_TIMES], &dur) != 0) {
        return TR_ECORRUPT;
    }
    s->start_time_unix_nano = start;
    s->end_time_unix_nano = start + (uint64_t)dur;
    struct tr_cursor *nm = &cs->c[COL_NAMES];
    uint8_t kind, code;
    if (tb__ref_get(d, nm, &s->name) != 0 ||
        tr_cursor_uvarint(nm, &scope) != 0 || scope >= n_scopes ||
        tr_cursor_u8(nm, &kind) != 0 || tr_cursor_u8(nm, &code) != 0 ||
        tb__ref_get(d, nm, &s->status_message) != 0 ||
        tb__ref_get(d, nm, &s->trace_state) != 0 || tb__u32(nm, &s->flags)) {
        return TR_ECORRUPT;
    }
    out[t0 + k].scope = (uint32_t)scope;
    s->kind = kind;
    s->status_code = code;
    int rv = tb__dkvs_get(d, &cs->c[COL_ATTRS], 0, &s->attrs, &s->n_attrs);
    if (rv == 0) {
        rv = tb__u32(&cs->c[COL_ATTRS], &s->dropped_attributes_count);
    }
    if (rv == 0) {
        rv = tb__span_lists(d, &cs->c[COL_EVENTS], &cs->c[COL_LINKS], s);
    }
    return rv;
}

static int tb__tables(struct tb_dec *d,
                      struct tb_cols *cs,
                      uint64_t nr,
                      uint64_t ns,
                      struct tr_trace_block *out)
{
    struct tr_cursor *c = &cs->c[COL_STRINGS];
    for (uint64_t i = 0; i < d->n_strs; i++) {
        uint64_t l;
        if (tr_cursor_uvarint(c, &l) != 0 ||
            tr_cursor_bytes(c, l, &d->strs[i]) != 0) {
            return TR_ECORRUPT;
        }
    }
    struct tr_otlp_resource *res =
        tr_arena_alloc(d->a, (nr + 1) * sizeof(*res));
    struct tr_batch_scope *sc = tr_arena_alloc(d->a, (ns + 1) * sizeof(*sc));
    if (res == NULL || sc == NULL) {
        return TR_ENOMEM;
    }
    for (uint64_t i = 0; i < nr; i++) {
        int rv = tb__dkvs_get(d, &cs->c[COL_RESOURCES], 0, &res[i].attrs,
                              &res[i].n_attrs);
        if (rv == 0) {
            rv = tb__u32(&cs->c[COL_RESOURCES],
                         &res[i].dropped_attributes_count);
        }
        if (rv != 0) {
            return rv;
        }
    }
    c = &cs->c[COL_SCOPES];
    for (uint64_t i = 0; i < ns; i++) {
        memset(&sc[i], 0, sizeof(sc[i]));
        if (tb__u32(c, &sc[i].resource) != 0 || sc[i].resource >= nr ||
            tb__ref_get(d, c, &sc[i].scope.name) != 0 ||
            tb__ref_get(d, c, &sc[i].scope.version) != 0) {
            return TR_ECORRUPT;
        }
        int rv =
            tb__dkvs_get(d, c, 0, &sc[i].scope.attrs, &sc[i].scope.n_attrs);
        if (rv == 0) {
            rv = tb__u32(c, &sc[i].scope.dropped_attributes_count);
        }
        if (rv != 0) {
            return rv;
        }
    }
    out->batch.resources = res;
    out->batch.n_resources = nr;
    out->batch.scopes = sc;
    out->batch.n_scopes = ns;
    return 0;
}

int tr_trace_block_decode(const void *p,
                          size_t len,
                          struct tr_arena *a,
                          struct tr_trace_block *out)
{
    memset(out, 0, sizeof(*out));
    unsigned long long raw_len = ZSTD_getFrameContentSize(p, len);
    if (raw_len == ZSTD_CONTENTSIZE_ERROR ||
        raw_len == ZSTD_CONTENTSIZE_UNKNOWN || raw_len > TB_MAX_RAW ||
        raw_len == 0) {
        return TR_ECORRUPT;
    }
    char *raw = tr_arena_alloc(a, (size_t)raw_len);
    if (raw == NULL) {
        return TR_ENOMEM;
    }
    size_t got = ZSTD_decompress(raw, (size_t)raw_len, p, len);
    if (ZSTD_isError(got) || got != raw_len) {
        return TR_ECORRUPT;
    }
    struct tr_cursor c = tr_cursor_make(raw, got);
    uint8_t ver;
    uint64_t nt, nsp, nd, nr, ns;
    if (tr_cursor_u8(&c, &ver) != 0 || ver != TB_VERSION ||
        tr_cursor_uvarint(&c, &nt) != 0 || tr_cursor_uvarint(&c, &nsp) != 0 ||
        tr_cursor_uvarint(&c, &nd) != 0 || tr_cursor_uvarint(&c, &nr) != 0 ||
        tr_cursor_uvarint(&c, &ns) != 0 || nt > got / 17 || nsp > got / 8 ||
        nd > got || nr > got || ns > got || nt > nsp) {
        return TR_ECORRUPT;
    }
    struct tb_cols cs;
    uint64_t lens[TB_COLS], total = 0;
    for (size_t i = 0; i < TB_COLS; i++) {
        if (tr_cursor_uvarint(&c, &lens[i]) != 0 || lens[i] > got) {
            return TR_ECORRUPT;
        }
        total += lens[i];
    }
    if (total != tr_cursor_left(&c)) {
        return TR_ECORRUPT;
    }
    for (size_t i = 0; i < TB_COLS; i++) {
        cs.c[i] = tr_cursor_make(c.p, lens[i]);
        c.p += lens[i];
    }
    struct tb_dec d = {tr_arena_alloc(a, (nd + 1) * sizeof(struct tr_slice)),
                       nd, a};
    uint32_t *first = tr_arena_alloc(a, (nt + 1) * sizeof(*first));
    struct tr_batch_span *spans = tr_arena_alloc(a, (nsp + 1) * sizeof(*spans));
    uint32_t *pidx = tr_arena_alloc(a, (nsp + 1) * sizeof(*pidx));
    if (d.strs == NULL || first == NULL || spans == NULL || pidx == NULL) {
        return TR_ENOMEM;
    }
    int rv = tb__tables(&d, &cs, nr, ns, out);
    if (rv != 0) {
        return rv;
    }
    struct tr_slice ids;
    if (tr_cursor_bytes(&cs.c[COL_TRACES], 0, &ids) != 0) {
        return TR_ECORRUPT;
    }
    uint8_t *idv = tr_arena_alloc(a, nt * TR_TRACE_ID_SIZE + 1);
    if (idv == NULL) {
        return TR_ENOMEM;
    }
    size_t at = 0;
    for (uint64_t t = 0; t < nt; t++) {
        struct tr_slice id;
        uint64_t cnt;
        if (tr_cursor_bytes(&cs.c[COL_TRACES], TR_TRACE_ID_SIZE, &id) != 0 ||
            tr_cursor_uvarint(&cs.c[COL_TRACES], &cnt) != 0 || cnt == 0 ||
            cnt > nsp - at) {
            return TR_ECORRUPT;
        }
        memcpy(idv + t * TR_TRACE_ID_SIZE, id.base, TR_TRACE_ID_SIZE);
        first[t] = (uint32_t)at;
        uint64_t prev = 0;
        for (uint64_t k = 0; k < cnt; k++) {
            rv = tb__span_get(&d, &cs, ns, spans, at, k, cnt,
                              idv + t * TR_TRACE_ID_SIZE, pidx, &prev);
            if (rv != 0) {
                return rv;
            }
        }
        /* parents inside the trace: index -> that span's id */
        for (uint64_t k = 0; k < cnt; k++) {
            if (pidx[at + k] > 0) {
                spans[at + k].span.parent_span_id =
                    spans[at + pidx[at + k] - 1].span.span_id;
            }
        }
        at += cnt;
    }
    first[nt] = (uint32_t)at;
    for (size_t i = 0; i < TB_COLS; i++) {
        if (tr_cursor_left(&cs.c[i]) != 0) {
            return TR_ECORRUPT;
        }
    }
    if (at != nsp) {
        return TR_ECORRUPT;
    }
    out->batch.spans = spans;
    out->batch.n_spans = nsp;
    out->n_traces = nt;
    out->ids = idv;
    out->first = first;
    return 0;
}

int tr_trace_block_index_decode(struct tr_slice rec,
                                struct tr_trace_block_index *out)
{
    struct tr_cursor c = tr_cursor_make(rec.base, rec.len);
    uint8_t ver;
    memset(out, 0, sizeof(*out));
    if (tr_cursor_u8(&c, &ver) != 0 || ver != TB_VERSION ||
        tr_cursor_uvarint(&c, &out->traces) != 0 ||
        tr_cursor_uvarint(&c, &out->spans) != 0 ||
        tr_cursor_u64be(&c, &out->start) != 0 ||
        tr_cursor_u64be(&c, &out->end) != 0 || tr_cursor_left(&c) != 0) {
        return TR_ECORRUPT;
    }
    return 0;
}
