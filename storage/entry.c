/* entry.c - metrics write entries (format in storage/entry.h). */
#include "storage/entry.h"

#include <lz4.h>
#include <string.h>
#include <zstd.h>

#include "lib/compress.h"
#include "lib/err.h"

#define ENTRY_ZSTD_LEVEL 1
#define ENTRY_MAX_RAW (1u << 30)

static void entry__put_bytes(struct tr_buf *b, struct tr_slice s)
{
    tr_buf_put_uvarint(b, s.len);
    tr_buf_append(b, s.base, s.len);
}

/* One value as its XOR with the previous value's bits. */
static void entry__put_xor(struct tr_buf *b, uint64_t x)
{
    if (x == 0) {
        tr_buf_putc(b, 0);
        return;
    }
    unsigned tz = (unsigned)__builtin_ctzll(x) / 8;
    unsigned lz = (unsigned)__builtin_clzll(x) / 8;
    unsigned n = 8 - tz - lz;
    unsigned char tmp[9];
    tmp[0] = (unsigned char)((tz << 4) | n);
    x >>= 8 * tz;
    for (unsigned i = 0; i < n; i++) {
        tmp[1 + i] = (unsigned char)(x >> (8 * i));
    }
    tr_buf_append(b, tmp, 1 + n);
}

static bool entry__written(const struct tr_entry_series *s)
{
    return s->n_samples > 0 || s->n_exemplars > 0;
}

static int entry__encode_plain(const struct tr_entry_metrics *m,
                               struct tr_buf *out)
{
    struct tr_buf lb;
    tr_buf_init(&lb);
    size_t n_ex = 0; /* records: series with exemplars */
    for (size_t i = 0; i < m->n_series; i++) {
        n_ex += m->series[i].n_exemplars > 0;
    }
    tr_buf_putc(out, TR_ENTRY_METRICS);
    tr_buf_putc(out, n_ex > 0 ? TR_ENTRY_METRICS_EX : TR_ENTRY_METRICS_VERSION);
    tr_buf_put_varint(out, m->ooo_window_ms);
    entry__put_bytes(out, m->tenant);
    /* a series without samples is written only for its exemplars
     * (version 5) */
    size_t n_series = 0;
    for (size_t i = 0; i < m->n_series; i++) {
        n_series += entry__written(&m->series[i]);
    }
    tr_buf_put_uvarint(out, n_series);
    for (size_t i = 0; i < m->n_series; i++) {
        const struct tr_entry_series *s = &m->series[i];
        if (!entry__written(s)) {
            continue;
        }
        if (s->is_ref) {
            tr_buf_put_uvarint(out, 0);
            tr_buf_put_u64be(out, s->ref);
        } else if (s->enc.len > 0) {
            entry__put_bytes(out, s->enc); /* already canonical */
        } else {
            tr_buf_reset(&lb);
            tr_labels_encode(s->labels, s->n_labels, &lb);
            entry__put_bytes(out, (struct tr_slice){lb.data, lb.len});
        }
        tr_buf_put_uvarint(out, s->n_samples);
        tr_buf_reserve(out, s->n_samples * 12);
        uint64_t prev_t = 0, prev_d = 0;
        for (size_t j = 0; j < s->n_samples; j++) {
            uint64_t t = (uint64_t)s->ts[j];
            uint64_t d = t - prev_t;
            tr_buf_put_varint(out, (int64_t)(j < 2 ? d : d - prev_d));
            prev_d = d;
            prev_t = t;
        }
        uint64_t prev_v = 0;
        for (size_t j = 0; j < s->n_samples; j++) {
            uint64_t bits;
            memcpy(&bits, &s->vs[j], 8);
            entry__put_xor(out, bits ^ prev_v);
            prev_v = bits;
        }
    }
    tr_buf_put_uvarint(out, m->n_meta);
    for (size_t i = 0; i < m->n_meta; i++) {
        tr_buf_putc(out, (char)m->meta[i].type);
        entry__put_bytes(out, m->meta[i].metric);
        entry__put_bytes(out, m->meta[i].help);
        entry__put_bytes(out, m->meta[i].unit);
    }
    if (n_ex > 0) {
        tr_buf_put_uvarint(out, n_ex);
        size_t idx = 0; /* index among the series written */
        for (size_t i = 0; i < m->n_series; i++) {
            const struct tr_entry_series *s = &m->series[i];
            if (!entry__written(s)) {
                continue;
            }
            if (s->n_exemplars > 0) {
                tr_buf_put_uvarint(out, idx);
                tr_buf_put_uvarint(out, s->n_exemplars);
                for (size_t j = 0; j < s->n_exemplars; j++) {
                    const struct tr_entry_exemplar *e = &s->exemplars[j];
                    uint64_t bits;
                    memcpy(&bits, &e->v, 8);
                    tr_buf_put_varint(out, e->ts);
                    for (int k = 0; k < 8; k++) {
                        tr_buf_putc(out, (char)(bits >> (8 * k)));
                    }
                    if (e->enc.len > 0 || e->n_labels == 0) {
                        entry__put_bytes(out, e->enc);
                    } else {
                        tr_buf_reset(&lb);
                        tr_labels_encode(e->labels, e->n_labels, &lb);
                        entry__put_bytes(out,
                                         (struct tr_slice){lb.data, lb.len});
                    }
                }
            }
            idx++;
        }
    }
    tr_buf_free(&lb);
    return out->oom ? TR_ENOMEM : 0;
}

int tr_entry_metrics_encode_both(const struct tr_entry_metrics *m,
                                 struct tr_buf *out,
                                 struct tr_buf *plain_out)
{
    struct tr_buf plain;
    tr_buf_init(&plain);
    int rv = entry__encode_plain(m, &plain);
    if (rv != 0) {
        tr_buf_free(&plain);
        return rv;
    }
    uint8_t zv = plain.len > 1 && plain.data[1] == TR_ENTRY_METRICS_EX
                     ? TR_ENTRY_METRICS_EX_ZSTD
                     : TR_ENTRY_METRICS_ZSTD;
    return tr_entry_pack_move(&plain, zv, out, plain_out);
}

int tr_entry_metrics_encode(const struct tr_entry_metrics *m,
                            struct tr_buf *out)
{
    return tr_entry_metrics_encode_both(m, out, NULL);
}

/* Whether tr_entry_pack compresses an entry of len bytes. */
static bool entry__packs(size_t len)
{
    return len >= TR_ENTRY_COMPRESS_MIN && len <= ENTRY_MAX_RAW;
}

int tr_entry_pack(const struct tr_buf *plain,
                  uint8_t zstd_version,
                  struct tr_buf *out)
{
    if (!entry__packs(plain->len)) {
        return tr_buf_append(out, plain->data, plain->len);
    }
    tr_buf_putc(out, plain->data[0]);
    tr_buf_putc(out, (char)zstd_version);
    tr_buf_put_uvarint(out, plain->len);
    return tr_zstd_encode(plain->data, plain->len, ENTRY_ZSTD_LEVEL, out);
}

int tr_entry_pack_move(struct tr_buf *plain,
                       uint8_t zstd_version,
                       struct tr_buf *out,
                       struct tr_buf *plain_out)
{
    int rv = tr_entry_pack(plain, zstd_version, out);
    if (rv == 0 && plain_out != NULL && entry__packs(plain->len)) {
        tr_buf_free(plain_out);
        *plain_out = *plain;
        tr_buf_init(plain);
    }
    tr_buf_free(plain);
    return rv;
}

static int entry__bytes(struct tr_cursor *c, struct tr_slice *s)
{
    uint64_t n;
    if (tr_cursor_uvarint(c, &n) != 0) {
        return TR_ECORRUPT;
    }
    return tr_cursor_bytes(c, n, s) == 0 ? 0 : TR_ECORRUPT;
}

int tr_entry_unpack(const void *buf,
                    size_t len,
                    uint8_t want_version,
                    struct tr_arena *a,
                    const void **plain_out,
                    size_t *len_out)
{
    const uint8_t *b = buf;
    if (len < 3) {
        return TR_ECORRUPT;
    }
    struct tr_cursor lc = tr_cursor_make(b + 2, len - 2);
    uint64_t raw;
    if (tr_cursor_uvarint(&lc, &raw) != 0 || raw < 2 || raw > ENTRY_MAX_RAW ||
        tr_cursor_left(&lc) > INT32_MAX) {
        return TR_ECORRUPT;
    }
    char *plain = tr_arena_alloc(a, raw);
    if (plain == NULL) {
        return TR_ENOMEM;
    }
    if (b[0] == TR_ENTRY_METRICS && b[1] == TR_ENTRY_METRICS_V1_LZ4) {
        int n = LZ4_decompress_safe((const char *)lc.p, plain,
                                    (int)tr_cursor_left(&lc), (int)raw);
        if (n < 0 || (uint64_t)n != raw) {
            return TR_ECORRUPT;
        }
    } else {
        size_t n = ZSTD_decompress(plain, raw, lc.p, tr_cursor_left(&lc));
        if (ZSTD_isError(n) || n != raw) {
            return TR_ECORRUPT;
        }
    }
    if ((uint8_t)plain[0] != b[0] || (uint8_t)plain[1] != want_version) {
        return TR_ECORRUPT;
    }
    *plain_out = plain;
    *len_out = raw;
    return 0;
}

/* Version 1 samples: delta timestamps, 8 raw value bytes. */
static int entry__samples_v1(struct tr_cursor *c,
                             uint64_t n,
                             int64_t *ts,
                             double *vs)
{
    int64_t prev = 0;
    for (uint64_t j = 0; j < n; j++) {
        int64_t d;
        struct tr_slice vb;
        if (tr_cursor_varint(c, &d) != 0 || tr_cursor_bytes(c, 8, &vb) != 0) {
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
    return 0;
}

/* Version 3 samples: delta-of-delta timestamps, XOR'd values. */
static int entry__samples_v3(struct tr_cursor *c,
                             uint64_t n,
                             int64_t *ts,
                             double *vs)
{
    uint64_t prev_t = 0, prev_d = 0;
    for (uint64_t j = 0; j < n; j++) {
        int64_t v;
        if (tr_cursor_varint(c, &v) != 0) {
            return TR_ECORRUPT;
        }
        uint64_t d = j < 2 ? (uint64_t)v : prev_d + (uint64_t)v;
        prev_t += d;
        prev_d = d;
        ts[j] = (int64_t)prev_t;
    }
    uint64_t prev_v = 0;
    for (uint64_t j = 0; j < n; j++) {
        uint8_t h;
        if (tr_cursor_u8(c, &h) != 0) {
            return TR_ECORRUPT;
        }
        uint64_t x = 0;
        if (h != 0) {
            unsigned tz = h >> 4, nb = h & 15;
            struct tr_slice xb;
            if (nb == 0 || tz + nb > 8 || tr_cursor_bytes(c, nb, &xb) != 0) {
                return TR_ECORRUPT;
            }
            for (unsigned k = nb; k-- > 0;) {
                x = (x << 8) | (uint8_t)xb.base[k];
            }
            /* canonical: the outermost bytes are non-zero */
            if ((x & 0xff) == 0 || (x >> (8 * (nb - 1))) == 0) {
                return TR_ECORRUPT;
            }
            x <<= 8 * tz;
        }
        prev_v ^= x;
        memcpy(&vs[j], &prev_v, 8);
    }
    return 0;
}

/* Version 5: the exemplar records after the metadata. */
static int entry__exemplars(struct tr_cursor *c,
                            struct tr_arena *a,
                            struct tr_entry_metrics *out)
{
    uint64_t nr;
    if (tr_cursor_uvarint(c, &nr) != 0 || nr == 0 || nr > out->n_series) {
        return TR_ECORRUPT;
    }
    uint64_t next = 0; /* indexes strictly increase */
    for (uint64_t r = 0; r < nr; r++) {
        uint64_t idx, ne;
        if (tr_cursor_uvarint(c, &idx) != 0 || idx < next ||
            idx >= out->n_series || tr_cursor_uvarint(c, &ne) != 0 || ne == 0 ||
            ne > tr_cursor_left(c) / 10) {
            return TR_ECORRUPT;
        }
        next = idx + 1;
        struct tr_entry_exemplar *ev = tr_arena_alloc(a, ne * sizeof(*ev));
        if (ev == NULL) {
            return TR_ENOMEM;
        }
        for (uint64_t j = 0; j < ne; j++) {
            struct tr_entry_exemplar *e = &ev[j];
            memset(e, 0, sizeof(*e));
            struct tr_slice vb;
            if (tr_cursor_varint(c, &e->ts) != 0 ||
                tr_cursor_bytes(c, 8, &vb) != 0 || entry__bytes(c, &e->enc)) {
                return TR_ECORRUPT;
            }
            uint64_t bits = 0;
            for (int k = 7; k >= 0; k--) {
                bits = (bits << 8) | (uint8_t)vb.base[k];
            }
            memcpy(&e->v, &bits, 8);
        }
        out->series[idx].exemplars = ev;
        out->series[idx].n_exemplars = ne;
    }
    return 0;
}

int tr_entry_metrics_decode(const void *buf,
                            size_t len,
                            struct tr_arena *a,
                            struct tr_entry_metrics *out)
{
    const uint8_t *b = buf;
    memset(out, 0, sizeof(*out));
    if (len >= 2 && b[0] == TR_ENTRY_METRICS &&
        (b[1] == TR_ENTRY_METRICS_V1_LZ4 || b[1] == TR_ENTRY_METRICS_ZSTD ||
         b[1] == TR_ENTRY_METRICS_EX_ZSTD)) {
        int rv = tr_entry_unpack(
            b, len,
            b[1] == TR_ENTRY_METRICS_V1_LZ4 ? TR_ENTRY_METRICS_V1
            : b[1] == TR_ENTRY_METRICS_ZSTD ? TR_ENTRY_METRICS_VERSION
                                            : TR_ENTRY_METRICS_EX,
            a, &buf, &len);
        if (rv != 0) {
            return rv;
        }
    }
    struct tr_cursor c = tr_cursor_make(buf, len);
    uint8_t type, ver;
    uint64_t ns;
    if (tr_cursor_u8(&c, &type) != 0 || type != TR_ENTRY_METRICS ||
        tr_cursor_u8(&c, &ver) != 0 ||
        (ver != TR_ENTRY_METRICS_V1 && ver != TR_ENTRY_METRICS_VERSION &&
         ver != TR_ENTRY_METRICS_EX)) {
        return TR_ECORRUPT;
    }
    bool ex = ver == TR_ENTRY_METRICS_EX;
    bool v3 = ver == TR_ENTRY_METRICS_VERSION || ex;
    out->ooo_window_ms = TR_ENTRY_LEGACY_OOO_MS;
    if (v3 && (tr_cursor_varint(&c, &out->ooo_window_ms) != 0 ||
               out->ooo_window_ms < 0)) {
        return TR_ECORRUPT;
    }
    if (entry__bytes(&c, &out->tenant) != 0 ||
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
        if (entry__bytes(&c, &s->enc) != 0) {
            return TR_ECORRUPT;
        }
        if (s->enc.len == 0 && v3) {
            if (tr_cursor_u64be(&c, &s->ref) != 0) {
                return TR_ECORRUPT;
            }
            s->is_ref = true;
        }
        if (tr_cursor_uvarint(&c, &n) != 0 ||
            n > tr_cursor_left(&c) / (v3 ? 2 : 9) || (v3 && !ex && n == 0)) {
            return TR_ECORRUPT;
        }
        int64_t *ts = tr_arena_alloc(a, (n ? n : 1) * sizeof(int64_t));
        double *vs = tr_arena_alloc(a, (n ? n : 1) * sizeof(double));
        if (ts == NULL || vs == NULL) {
            return TR_ENOMEM;
        }
        int rv = v3 ? entry__samples_v3(&c, n, ts, vs)
                    : entry__samples_v1(&c, n, ts, vs);
        if (rv != 0) {
            return rv;
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
    if (ex) {
        int rv = entry__exemplars(&c, a, out);
        if (rv != 0) {
            return rv;
        }
        for (size_t i = 0; i < out->n_series; i++) {
            if (!entry__written(&out->series[i])) {
                return TR_ECORRUPT; /* neither samples nor exemplars */
            }
        }
    }
    if (!v3 && tr_cursor_left(&c) > 0) {
        uint64_t legacy_limit; /* ignored: limits come before proposing */
        if (tr_cursor_uvarint(&c, &legacy_limit) != 0 || legacy_limit == 0) {
            return TR_ECORRUPT;
        }
    }
    return tr_cursor_left(&c) == 0 ? 0 : TR_ECORRUPT;
}

void tr_entry_verify_encode(uint64_t request, uint8_t out[TR_ENTRY_VERIFY_SIZE])
{
    out[0] = TR_ENTRY_VERIFY;
    out[1] = 1;
    tr_put_u64be(out + 2, request);
}

int tr_entry_verify_decode(const void *buf, size_t len, uint64_t *request)
{
    const uint8_t *p = buf;
    if (len != TR_ENTRY_VERIFY_SIZE || p[0] != TR_ENTRY_VERIFY || p[1] != 1) {
        return TR_ECORRUPT;
    }
    *request = tr_get_u64be(p + 2);
    return 0;
}
