#include "storage/entry.h"

#include <lz4.h>
#include <string.h>

#include "lib/err.h"

static void entry__put_bytes(struct tr_buf *b, struct tr_slice s)
{
    tr_buf_put_uvarint(b, s.len);
    tr_buf_append(b, s.base, s.len);
}

static int entry__encode_plain(const struct tr_entry_metrics *m,
                               struct tr_buf *out)
{
    struct tr_buf lb;
    tr_buf_init(&lb);
    tr_buf_putc(out, TR_ENTRY_METRICS);
    tr_buf_putc(out, TR_ENTRY_METRICS_VERSION);
    entry__put_bytes(out, m->tenant);
    tr_buf_put_uvarint(out, m->n_series);
    for (size_t i = 0; i < m->n_series; i++) {
        const struct tr_entry_series *s = &m->series[i];
        tr_buf_reset(&lb);
        tr_labels_encode(s->labels, s->n_labels, &lb);
        entry__put_bytes(out, (struct tr_slice){lb.data, lb.len});
        tr_buf_put_uvarint(out, s->n_samples);
        int64_t prev = 0;
        tr_buf_reserve(out, s->n_samples * 18);
        for (size_t j = 0; j < s->n_samples; j++) {
            tr_buf_put_varint(out,
                              (int64_t)((uint64_t)s->ts[j] - (uint64_t)prev));
            prev = s->ts[j];
            uint64_t bits;
            memcpy(&bits, &s->vs[j], 8);
            unsigned char le[8];
            for (int k = 0; k < 8; k++) {
                le[k] = (unsigned char)(bits >> (8 * k));
            }
            tr_buf_append(out, le, 8);
        }
    }
    tr_buf_put_uvarint(out, m->n_meta);
    for (size_t i = 0; i < m->n_meta; i++) {
        tr_buf_putc(out, (char)m->meta[i].type);
        entry__put_bytes(out, m->meta[i].metric);
        entry__put_bytes(out, m->meta[i].help);
        entry__put_bytes(out, m->meta[i].unit);
    }
    if (m->max_series > 0) {
        tr_buf_put_uvarint(out, m->max_series);
    }
    tr_buf_free(&lb);
    return out->oom ? TR_ENOMEM : 0;
}

int tr_entry_metrics_encode(const struct tr_entry_metrics *m,
                            struct tr_buf *out)
{
    struct tr_buf plain;
    tr_buf_init(&plain);
    int rv = entry__encode_plain(m, &plain);
    if (rv != 0 || plain.len < TR_ENTRY_COMPRESS_MIN ||
        plain.len > LZ4_MAX_INPUT_SIZE) {
        if (rv == 0) {
            rv = tr_buf_append(out, plain.data, plain.len);
        }
        tr_buf_free(&plain);
        return rv;
    }
    int bound = LZ4_compressBound((int)plain.len);
    tr_buf_putc(out, TR_ENTRY_METRICS);
    tr_buf_putc(out, TR_ENTRY_METRICS_LZ4);
    tr_buf_put_uvarint(out, plain.len);
    if (tr_buf_reserve(out, (size_t)bound) != 0) {
        tr_buf_free(&plain);
        return TR_ENOMEM;
    }
    int n = LZ4_compress_default(plain.data, out->data + out->len,
                                 (int)plain.len, bound);
    tr_buf_free(&plain);
    if (n <= 0) {
        return TR_ENOMEM;
    }
    out->len += (size_t)n;
    return 0;
}

static int entry__bytes(struct tr_cursor *c, struct tr_slice *s)
{
    uint64_t n;
    if (tr_cursor_uvarint(c, &n) != 0) {
        return TR_ECORRUPT;
    }
    return tr_cursor_bytes(c, n, s) == 0 ? 0 : TR_ECORRUPT;
}

int tr_entry_metrics_decode(const void *buf,
                            size_t len,
                            struct tr_arena *a,
                            struct tr_entry_metrics *out)
{
    const uint8_t *b = buf;
    if (len >= 2 && b[0] == TR_ENTRY_METRICS && b[1] == TR_ENTRY_METRICS_LZ4) {
        struct tr_cursor lc = tr_cursor_make(b + 2, len - 2);
        uint64_t raw;
        if (tr_cursor_uvarint(&lc, &raw) != 0 || raw < 2 || raw > (1u << 30) ||
            tr_cursor_left(&lc) > INT32_MAX) {
            return TR_ECORRUPT;
        }
        char *plain = tr_arena_alloc(a, raw);
        if (plain == NULL) {
            return TR_ENOMEM;
        }
        int n = LZ4_decompress_safe((const char *)lc.p, plain,
                                    (int)tr_cursor_left(&lc), (int)raw);
        if (n < 0 || (uint64_t)n != raw ||
            (uint8_t)plain[1] == TR_ENTRY_METRICS_LZ4) {
            return TR_ECORRUPT;
        }
        buf = plain;
        len = raw;
    }
    struct tr_cursor c = tr_cursor_make(buf, len);
    uint8_t type, ver;
    uint64_t ns;
    memset(out, 0, sizeof(*out));
    if (tr_cursor_u8(&c, &type) != 0 || type != TR_ENTRY_METRICS ||
        tr_cursor_u8(&c, &ver) != 0 || ver != TR_ENTRY_METRICS_VERSION ||
        entry__bytes(&c, &out->tenant) != 0 ||
        tr_cursor_uvarint(&c, &ns) != 0 || ns > len) {
        return TR_ECORRUPT;
    }
    out->series = tr_arena_alloc(a, (ns ? ns : 1) * sizeof(*out->series));
    if (out->series == NULL) {
        return TR_ENOMEM;
    }
    for (uint64_t i = 0; i < ns; i++) {
        struct tr_entry_series *s = &out->series[i];
        memset(s, 0, sizeof(*s));
        uint64_t n;
        if (entry__bytes(&c, &s->enc) != 0 || tr_cursor_uvarint(&c, &n) != 0 ||
            n > tr_cursor_left(&c) / 9) {
            return TR_ECORRUPT;
        }
        int64_t *ts = tr_arena_alloc(a, (n ? n : 1) * sizeof(int64_t));
        double *vs = tr_arena_alloc(a, (n ? n : 1) * sizeof(double));
        if (ts == NULL || vs == NULL) {
            return TR_ENOMEM;
        }
        int64_t prev = 0;
        for (uint64_t j = 0; j < n; j++) {
            int64_t d;
            struct tr_slice vb;
            if (tr_cursor_varint(&c, &d) != 0 ||
                tr_cursor_bytes(&c, 8, &vb) != 0) {
                return TR_ECORRUPT;
            }
            prev = (int64_t)((uint64_t)prev + (uint64_t)d);
            ts[j] = prev;
            uint64_t bits = 0;
            for (int k = 7; k >= 0; k--) {
                bits = (bits << 8) | (uint8_t)vb.base[k];
            }
            memcpy(&vs[j], &bits, 8);
        }
        s->ts = ts;
        s->vs = vs;
        s->n_samples = n;
    }
    out->n_series = ns;
    uint64_t nm;
    if (tr_cursor_uvarint(&c, &nm) != 0 || nm > len) {
        return TR_ECORRUPT;
    }
    out->meta = tr_arena_alloc(a, (nm ? nm : 1) * sizeof(*out->meta));
    if (out->meta == NULL) {
        return TR_ENOMEM;
    }
    for (uint64_t i = 0; i < nm; i++) {
        struct tr_entry_meta *m = &out->meta[i];
        if (tr_cursor_u8(&c, &m->type) != 0 ||
            entry__bytes(&c, &m->metric) != 0 ||
            entry__bytes(&c, &m->help) != 0 ||
            entry__bytes(&c, &m->unit) != 0) {
            return TR_ECORRUPT;
        }
    }
    out->n_meta = nm;
    if (tr_cursor_left(&c) > 0 &&
        (tr_cursor_uvarint(&c, &out->max_series) != 0 ||
         out->max_series == 0)) {
        return TR_ECORRUPT;
    }
    return tr_cursor_left(&c) == 0 ? 0 : TR_ECORRUPT;
}
