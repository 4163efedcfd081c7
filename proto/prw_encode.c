/* prw_encode.c - Prometheus remote-write 1.0 and 2.0 encoders (contract
 * in prw.h; wire format notes at the top of prw.c). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lib/err.h"
#include "lib/hash.h"
#include "proto/prw.h"
#include "proto/prw_int.h"

/* ---- encoding ----------------------------------------------------------- */

/* Sizes. Every field number here is < 16, so a tag is one byte. */
static inline size_t sz_varint_field(uint64_t v)
{
    return v ? 1 + tr_uvarint_len(v) : 0;
}

static inline size_t sz_double_field(double d)
{
    return double_to_bits(d) ? 9 : 0;
}

static inline size_t sz_len_field(size_t n)
{
    return 1 + tr_uvarint_len(n) + n;
}

static inline size_t sz_str_field(struct tr_slice s)
{
    return s.len ? sz_len_field(s.len) : 0;
}

static inline uint8_t *w_uvarint(uint8_t *w, uint64_t v)
{
    while (v >= 0x80) {
        *w++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *w++ = (uint8_t)v;
    return w;
}

static inline uint8_t *w_tag(uint8_t *w, unsigned field, unsigned wt)
{
    *w++ = (uint8_t)(field << 3 | wt);
    return w;
}

static inline uint8_t *w_varint_field(uint8_t *w, unsigned field, uint64_t v)
{
    return v ? w_uvarint(w_tag(w, field, WT_VARINT), v) : w;
}

static inline uint8_t *w_double_field(uint8_t *w, unsigned field, double d)
{
    uint64_t u = double_to_bits(d);
    if (u == 0) {
        return w;
    }
    w = w_tag(w, field, WT_I64);
    for (int i = 0; i < 8; i++) {
        *w++ = (uint8_t)(u >> (8 * i));
    }
    return w;
}

static inline uint8_t *w_len_hdr(uint8_t *w, unsigned field, size_t n)
{
    return w_uvarint(w_tag(w, field, WT_LEN), n);
}

static inline uint8_t *w_bytes_field(uint8_t *w,
                                     unsigned field,
                                     struct tr_slice s,
                                     bool always)
{
    if (s.len == 0 && !always) {
        return w;
    }
    w = w_len_hdr(w, field, s.len);
    if (s.len) {
        memcpy(w, s.base, s.len);
    }
    return w + s.len;
}

static size_t sz_sample(const struct tr_prw_sample *s)
{
    return sz_double_field(s->value) + sz_varint_field((uint64_t)s->ts_ms);
}

static uint8_t *w_sample(uint8_t *w, const struct tr_prw_sample *s)
{
    w = w_len_hdr(w, 2, sz_sample(s));
    w = w_double_field(w, 1, s->value);
    return w_varint_field(w, 2, (uint64_t)s->ts_ms);
}

/* Checks that every nonzero count comes with its array. */
static int check_request(const struct tr_prw_request *req)
{
    if (req->n_series && req->series == NULL) {
        return TR_EINVAL;
    }
    if (req->n_metadata && req->metadata == NULL) {
        return TR_EINVAL;
    }
    for (size_t i = 0; i < req->n_series; i++) {
        const struct tr_prw_series *s = &req->series[i];
        if ((s->n_labels && !s->labels) || (s->n_samples && !s->samples) ||
            (s->n_exemplars && !s->exemplars)) {
            return TR_EINVAL;
        }
        for (size_t j = 0; j < s->n_exemplars; j++) {
            if (s->exemplars[j].n_labels && !s->exemplars[j].labels) {
                return TR_EINVAL;
            }
        }
    }
    return 0;
}

/* -- 1.0 -- */

static size_t sz_label_v1(const struct tr_prw_label *l)
{
    return sz_str_field(l->name) + sz_str_field(l->value);
}

static uint8_t *w_label_v1(uint8_t *w,
                           unsigned field,
                           const struct tr_prw_label *l)
{
    w = w_len_hdr(w, field, sz_label_v1(l));
    w = w_bytes_field(w, 1, l->name, false);
    return w_bytes_field(w, 2, l->value, false);
}

static size_t sz_exemplar_v1(const struct tr_prw_exemplar *e)
{
    size_t n = sz_double_field(e->value) + sz_varint_field((uint64_t)e->ts_ms);
    for (size_t i = 0; i < e->n_labels; i++) {
        n += sz_len_field(sz_label_v1(&e->labels[i]));
    }
    return n;
}

static size_t sz_series_v1(const struct tr_prw_series *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_labels; i++) {
        n += sz_len_field(sz_label_v1(&s->labels[i]));
    }
    for (size_t i = 0; i < s->n_samples; i++) {
        n += sz_len_field(sz_sample(&s->samples[i]));
    }
    for (size_t i = 0; i < s->n_exemplars; i++) {
        n += sz_len_field(sz_exemplar_v1(&s->exemplars[i]));
    }
    return n;
}

static size_t sz_metadata_v1(const struct tr_prw_metadata *m)
{
    return sz_varint_field((uint64_t)(int64_t)m->type) +
           sz_str_field(m->family) + sz_str_field(m->help) +
           sz_str_field(m->unit);
}

int tr_prw_encode_v1(const struct tr_prw_request *req, struct tr_buf *out)
{
    int rv = check_request(req);
    if (rv != 0) {
        return rv;
    }
    size_t total = 0;
    for (size_t i = 0; i < req->n_series; i++) {
        total += sz_len_field(sz_series_v1(&req->series[i]));
    }
    for (size_t i = 0; i < req->n_metadata; i++) {
        total += sz_len_field(sz_metadata_v1(&req->metadata[i]));
    }
    if ((rv = tr_buf_reserve(out, total)) != 0) {
        return rv;
    }
    uint8_t *w0 = (uint8_t *)out->data + out->len;
    uint8_t *w = w0;
    for (size_t i = 0; i < req->n_series; i++) {
        const struct tr_prw_series *s = &req->series[i];
        w = w_len_hdr(w, 1, sz_series_v1(s));
        for (size_t j = 0; j < s->n_labels; j++) {
            w = w_label_v1(w, 1, &s->labels[j]);
        }
        for (size_t j = 0; j < s->n_samples; j++) {
            w = w_sample(w, &s->samples[j]);
        }
        for (size_t j = 0; j < s->n_exemplars; j++) {
            const struct tr_prw_exemplar *e = &s->exemplars[j];
            w = w_len_hdr(w, 3, sz_exemplar_v1(e));
            for (size_t k = 0; k < e->n_labels; k++) {
                w = w_label_v1(w, 1, &e->labels[k]);
            }
            w = w_double_field(w, 2, e->value);
            w = w_varint_field(w, 3, (uint64_t)e->ts_ms);
        }
    }
    for (size_t i = 0; i < req->n_metadata; i++) {
        const struct tr_prw_metadata *m = &req->metadata[i];
        w = w_len_hdr(w, 3, sz_metadata_v1(m));
        w = w_varint_field(w, 1, (uint64_t)(int64_t)m->type);
        w = w_bytes_field(w, 2, m->family, false);
        w = w_bytes_field(w, 4, m->help, false);
        w = w_bytes_field(w, 5, m->unit, false);
    }
    out->len += (size_t)(w - w0);
    out->data[out->len] = '\0';
    return 0;
}

/* -- 2.0 -- */

/* Symbol table under construction: symbols[0] = "", an open-addressing
 * hash index over it, and the references of every string in the order the
 * writer consumes them (series labels, exemplar labels, help, unit). */
struct symtab {
    struct tr_slice *symbols;
    size_t n_symbols;
    uint32_t *index; /* symbol number + 1; 0 = empty slot */
    size_t mask;     /* index has mask + 1 slots (a power of two) */
    uint32_t *refs;
    size_t n_refs;
};

static uint32_t symtab_intern(struct symtab *t, struct tr_slice s)
{
    if (s.len == 0) {
        return 0;
    }
    size_t h = (size_t)tr_hash64(s.base, s.len, 0) & t->mask;
    for (;;) {
        uint32_t slot = t->index[h];
        if (slot == 0) {
            uint32_t ref = (uint32_t)t->n_symbols;
            t->symbols[t->n_symbols++] = s;
            t->index[h] = ref + 1;
            return ref;
        }
        if (tr_slice_eq(t->symbols[slot - 1], s)) {
            return slot - 1;
        }
        h = (h + 1) & t->mask;
    }
}

static void symtab_add(struct symtab *t, struct tr_slice s)
{
    t->refs[t->n_refs++] = symtab_intern(t, s);
}

static size_t sz_refs(const uint32_t *refs, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        len += tr_uvarint_len(refs[i]);
    }
    return len;
}

static uint8_t *w_refs(uint8_t *w, const uint32_t *refs, size_t n)
{
    if (n == 0) {
        return w;
    }
    w = w_len_hdr(w, 1, sz_refs(refs, n));
    for (size_t i = 0; i < n; i++) {
        w = w_uvarint(w, refs[i]);
    }
    return w;
}

static size_t sz_refs_field(const uint32_t *refs, size_t n)
{
    return n ? sz_len_field(sz_refs(refs, n)) : 0;
}

static size_t sz_exemplar_v2(const struct tr_prw_exemplar *e,
                             const uint32_t *refs)
{
    return sz_refs_field(refs, 2 * e->n_labels) + sz_double_field(e->value) +
           sz_varint_field((uint64_t)e->ts_ms);
}

static size_t sz_metadata_v2(const struct tr_prw_series *s,
                             const uint32_t *refs)
{
    return sz_varint_field((uint64_t)(int64_t)s->metadata.type) +
           sz_varint_field(refs[0]) + sz_varint_field(refs[1]);
}

/* Size of series s whose references start at refs. */
static size_t sz_series_v2(const struct tr_prw_series *s, const uint32_t *refs)
{
    size_t n = sz_refs_field(refs, 2 * s->n_labels);
    refs += 2 * s->n_labels;
    for (size_t i = 0; i < s->n_samples; i++) {
        n += sz_len_field(sz_sample(&s->samples[i]));
    }
    for (size_t i = 0; i < s->n_exemplars; i++) {
        n += sz_len_field(sz_exemplar_v2(&s->exemplars[i], refs));
        refs += 2 * s->exemplars[i].n_labels;
    }
    if (s->has_metadata) {
        n += sz_len_field(sz_metadata_v2(s, refs));
    }
    return n + sz_varint_field((uint64_t)s->created_ts_ms);
}

static uint8_t *w_series_v2(uint8_t *w,
                            const struct tr_prw_series *s,
                            const uint32_t *refs)
{
    w = w_len_hdr(w, 5, sz_series_v2(s, refs));
    w = w_refs(w, refs, 2 * s->n_labels);
    refs += 2 * s->n_labels;
    for (size_t i = 0; i < s->n_samples; i++) {
        w = w_sample(w, &s->samples[i]);
    }
    for (size_t i = 0; i < s->n_exemplars; i++) {
        const struct tr_prw_exemplar *e = &s->exemplars[i];
        w = w_len_hdr(w, 4, sz_exemplar_v2(e, refs));
        w = w_refs(w, refs, 2 * e->n_labels);
        w = w_double_field(w, 2, e->value);
        w = w_varint_field(w, 3, (uint64_t)e->ts_ms);
        refs += 2 * e->n_labels;
    }
    if (s->has_metadata) {
        w = w_len_hdr(w, 5, sz_metadata_v2(s, refs));
        w = w_varint_field(w, 1, (uint64_t)(int64_t)s->metadata.type);
        w = w_varint_field(w, 3, refs[0]);
        w = w_varint_field(w, 4, refs[1]);
    }
    return w_varint_field(w, 6, (uint64_t)s->created_ts_ms);
}

/* Number of references series s consumes. */
static size_t series_refs(const struct tr_prw_series *s)
{
    size_t n = 2 * s->n_labels + (s->has_metadata ? 2 : 0);
    for (size_t i = 0; i < s->n_exemplars; i++) {
        n += 2 * s->exemplars[i].n_labels;
    }
    return n;
}

int tr_prw_encode_v2(const struct tr_prw_request *req, struct tr_buf *out)
{
    int rv = check_request(req);
    if (rv != 0) {
        return rv;
    }
    size_t n_refs = 0;
    for (size_t i = 0; i < req->n_series; i++) {
        n_refs += series_refs(&req->series[i]);
    }
    if (n_refs >= UINT32_MAX / 2) {
        return TR_EINVAL;
    }
    struct symtab t = {0};
    size_t slots = 16;
    while (slots < 2 * (n_refs + 1)) {
        slots *= 2;
    }
    t.mask = slots - 1;
    t.symbols = tr_malloc((n_refs + 1) * sizeof(*t.symbols));
    t.index = tr_calloc(slots, sizeof(*t.index));
    t.refs = tr_malloc((n_refs + 1) * sizeof(*t.refs));
    if (t.symbols == NULL || t.index == NULL || t.refs == NULL) {
        rv = TR_ENOMEM;
        goto err_after_alloc;
    }
    t.symbols[t.n_symbols++] = (struct tr_slice){"", 0};
    for (size_t i = 0; i < req->n_series; i++) {
        const struct tr_prw_series *s = &req->series[i];
        for (size_t j = 0; j < s->n_labels; j++) {
            symtab_add(&t, s->labels[j].name);
            symtab_add(&t, s->labels[j].value);
        }
        for (size_t j = 0; j < s->n_exemplars; j++) {
            const struct tr_prw_exemplar *e = &s->exemplars[j];
            for (size_t k = 0; k < e->n_labels; k++) {
                symtab_add(&t, e->labels[k].name);
                symtab_add(&t, e->labels[k].value);
            }
        }
        if (s->has_metadata) {
            symtab_add(&t, s->metadata.help);
            symtab_add(&t, s->metadata.unit);
        }
    }
    size_t total = 0;
    for (size_t i = 0; i < t.n_symbols; i++) {
        total += sz_len_field(t.symbols[i].len);
    }
    const uint32_t *refs = t.refs;
    for (size_t i = 0; i < req->n_series; i++) {
        total += sz_len_field(sz_series_v2(&req->series[i], refs));
        refs += series_refs(&req->series[i]);
    }
    if ((rv = tr_buf_reserve(out, total)) != 0) {
        goto err_after_alloc;
    }
    uint8_t *w0 = (uint8_t *)out->data + out->len;
    uint8_t *w = w0;
    for (size_t i = 0; i < t.n_symbols; i++) {
        w = w_bytes_field(w, 4, t.symbols[i], true);
    }
    refs = t.refs;
    for (size_t i = 0; i < req->n_series; i++) {
        w = w_series_v2(w, &req->series[i], refs);
        refs += series_refs(&req->series[i]);
    }
    out->len += (size_t)(w - w0);
    out->data[out->len] = '\0';
    rv = 0;
err_after_alloc:
    tr_free(t.refs);
    tr_free(t.index);
    tr_free(t.symbols);
    return rv;
}
