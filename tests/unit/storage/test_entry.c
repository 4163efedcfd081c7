/* Tests for storage/entry.c: version 3 round trip (delta-of-delta
 * timestamps, byte-aligned XOR values) and its zstd form (version 4), every
 * XOR byte pattern and special values, decoding of hand-built version 1 and
 * version 2 (LZ4) entries of earlier builds, rejection of non-canonical and
 * truncated input, verify entries. */
#include <criterion/criterion.h>
#include <lz4.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "storage/entry.h"

static uint64_t bits_of(double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    return b;
}

static double double_of(uint64_t b)
{
    double v;
    memcpy(&v, &b, 8);
    return v;
}

/* Encodes m, checks the version byte (want_version 0: 3 or 4, whichever
 * the size gives), decodes and compares everything bit-exactly (values by
 * their bits: NaN payloads, -0.0). */
static void roundtrip(const struct tr_entry_metrics *m, uint8_t want_version)
{
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_entry_metrics_encode(m, &b), 0);
    cr_assert_geq(b.len, 2);
    cr_assert_eq((uint8_t)b.data[0], TR_ENTRY_METRICS);
    if (want_version != 0) {
        cr_assert_eq((uint8_t)b.data[1], want_version, "version %u, want %u",
                     (uint8_t)b.data[1], want_version);
    } else {
        cr_assert((uint8_t)b.data[1] == TR_ENTRY_METRICS_VERSION ||
                  (uint8_t)b.data[1] == TR_ENTRY_METRICS_ZSTD);
    }
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_entry_metrics d;
    cr_assert_eq(tr_entry_metrics_decode(b.data, b.len, &a, &d), 0);
    cr_assert_eq(d.ooo_window_ms, m->ooo_window_ms);
    cr_assert(tr_slice_eq(d.tenant, m->tenant));
    size_t want_series = 0;
    for (size_t i = 0; i < m->n_series; i++) {
        want_series += m->series[i].n_samples > 0;
    }
    cr_assert_eq(d.n_series, want_series);
    struct tr_buf lb;
    tr_buf_init(&lb);
    size_t j = 0;
    for (size_t i = 0; i < m->n_series; i++) {
        const struct tr_entry_series *s = &m->series[i];
        if (s->n_samples == 0) {
            continue; /* series without samples are left out */
        }
        const struct tr_entry_series *ds = &d.series[j++];
        tr_buf_reset(&lb);
        tr_labels_encode(s->labels, s->n_labels, &lb);
        cr_assert_eq(ds->enc.len, lb.len);
        cr_assert_eq(memcmp(ds->enc.base, lb.data, lb.len), 0);
        cr_assert_eq(ds->n_samples, s->n_samples);
        for (size_t k = 0; k < s->n_samples; k++) {
            cr_assert_eq(ds->ts[k], s->ts[k], "series %zu sample %zu", i, k);
            cr_assert_eq(bits_of(ds->vs[k]), bits_of(s->vs[k]),
                         "series %zu sample %zu: %016llx != %016llx", i, k,
                         (unsigned long long)bits_of(ds->vs[k]),
                         (unsigned long long)bits_of(s->vs[k]));
        }
    }
    cr_assert_eq(d.n_meta, m->n_meta);
    for (size_t i = 0; i < m->n_meta; i++) {
        cr_assert_eq(d.meta[i].type, m->meta[i].type);
        cr_assert(tr_slice_eq(d.meta[i].metric, m->meta[i].metric));
        cr_assert(tr_slice_eq(d.meta[i].help, m->meta[i].help));
        cr_assert(tr_slice_eq(d.meta[i].unit, m->meta[i].unit));
    }
    /* truncations never decode */
    for (size_t cut = 0; cut < b.len; cut++) {
        struct tr_entry_metrics x;
        cr_assert_neq(tr_entry_metrics_decode(b.data, cut, &a, &x), 0,
                      "cut=%zu", cut);
    }
    tr_buf_free(&lb);
    tr_arena_free(&a);
    tr_buf_free(&b);
}

Test(entry, roundtrip_plain_and_compressed)
{
    for (int big = 0; big < 2; big++) {
        size_t ns = big ? 500 : 1;
        struct tr_entry_series *ser = calloc(ns, sizeof(*ser));
        struct tr_label ls[2] = {{TR_SLICE_LIT("__name__"), TR_SLICE_LIT("up")},
                                 {TR_SLICE_LIT("job"), TR_SLICE_LIT("node")}};
        int64_t ts[3] = {-1, 1700000000000LL, 1700000015000LL};
        double vs[3] = {1, 0.5, -2};
        for (size_t i = 0; i < ns; i++) {
            ser[i] = (struct tr_entry_series){.labels = ls,
                                              .n_labels = 2,
                                              .ts = ts,
                                              .vs = vs,
                                              .n_samples = 3};
        }
        struct tr_entry_meta meta = {1, TR_SLICE_LIT("up"), TR_SLICE_LIT("h"),
                                     TR_SLICE_LIT("")};
        struct tr_entry_metrics m = {.tenant = TR_SLICE_LIT("t"),
                                     .series = ser,
                                     .n_series = ns,
                                     .meta = &meta,
                                     .n_meta = 1,
                                     .ooo_window_ms = 3600000};
        roundtrip(&m, big ? TR_ENTRY_METRICS_ZSTD : TR_ENTRY_METRICS_VERSION);

        struct tr_buf b;
        tr_buf_init(&b);
        cr_assert_eq(tr_entry_metrics_encode(&m, &b), 0);
        struct tr_arena a;
        tr_arena_init(&a, 4096);
        struct tr_entry_metrics d;
        cr_assert_eq(tr_entry_metrics_decode(b.data, b.len, &a, &d), 0);
        struct tr_label *dl;
        size_t dn;
        cr_assert_eq(tr_labels_decode(d.series[0].enc.base, d.series[0].enc.len,
                                      &a, &dl, &dn),
                     0);
        cr_assert_eq(dn, 2);
        cr_assert(tr_slice_eq_cstr(dl[1].value, "node"));
        tr_arena_free(&a);
        tr_buf_free(&b);
        free(ser);
    }
}

Test(entry, ooo_window_and_empty_parts)
{
    struct tr_label ls[1] = {{TR_SLICE_LIT("__name__"), TR_SLICE_LIT("x")}};
    int64_t t = 5;
    double v = 1;
    struct tr_entry_series ser[3] = {
        {.labels = ls, .n_labels = 1, .ts = &t, .vs = &v, .n_samples = 0},
        {.labels = ls, .n_labels = 1, .ts = &t, .vs = &v, .n_samples = 1},
        {.labels = ls, .n_labels = 1, .ts = &t, .vs = &v, .n_samples = 0},
    };
    const int64_t windows[] = {0, 1, 63, 64, 3600000, INT64_MAX};
    for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
        struct tr_entry_metrics m = {.tenant = TR_SLICE_LIT(""),
                                     .series = ser,
                                     .n_series = 3,
                                     .ooo_window_ms = windows[i]};
        roundtrip(&m, TR_ENTRY_METRICS_VERSION);
    }
    /* nothing at all */
    struct tr_entry_metrics empty = {.tenant = TR_SLICE_LIT("t"),
                                     .ooo_window_ms = 7};
    roundtrip(&empty, TR_ENTRY_METRICS_VERSION);
}

/* Values whose XOR with the previous value has every (trailing zero bytes,
 * significant bytes) shape, x = 0 (repeats), and the special values. */
Test(entry, v3_values_every_xor_pattern_and_special_values)
{
    double vs[200];
    size_t n = 0;
    uint64_t prev = 0;
    for (unsigned tz = 0; tz < 8; tz++) {
        for (unsigned nb = 1; tz + nb <= 8; nb++) {
            /* outermost significant bytes non-zero, inner ones vary */
            uint64_t x = 0;
            for (unsigned k = 0; k < nb; k++) {
                uint64_t byte =
                    (k == 0 || k == nb - 1) ? 0x80 | (k + 1) : (k * 37) & 0xff;
                x |= byte << (8 * (tz + k));
            }
            prev ^= x;
            vs[n++] = double_of(prev);
        }
    }
    vs[n] = vs[n - 1]; /* x = 0 */
    n++;
    const uint64_t special[] = {
        0,                     /* 0.0 */
        0x8000000000000000ULL, /* -0.0 */
        0x7ff0000000000002ULL, /* Prometheus stale marker */
        0x7ff8000000000000ULL, /* quiet NaN */
        0x7ff8000000000001ULL, /* NaN payloads */
        0xfff8dead0000beefULL,
        0x7ff0000000000001ULL, /* signalling NaN */
        0x7ff0000000000000ULL, /* +inf */
        0xfff0000000000000ULL, /* -inf */
        0x0000000000000001ULL, /* smallest denormal */
        0x000fffffffffffffULL, /* largest denormal */
        0x800fffffffffffffULL, /* negative denormal */
        0x0010000000000000ULL, /* smallest normal */
        0x7fefffffffffffffULL, /* largest normal */
        0xffffffffffffffffULL,
        0x00000000000000ffULL,
        0xff00000000000000ULL,
        0x7ff0000000000002ULL, /* again: x = 0 after a NaN */
        0x7ff0000000000002ULL,
    };
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
        vs[n++] = double_of(special[i]);
    }
    cr_assert(isnan(vs[n - 1]));
    int64_t ts[200];
    for (size_t i = 0; i < n; i++) {
        ts[i] = 1700000000000LL + (int64_t)i * 15000;
    }
    struct tr_label ls[1] = {{TR_SLICE_LIT("__name__"), TR_SLICE_LIT("v")}};
    struct tr_entry_series s = {
        .labels = ls, .n_labels = 1, .ts = ts, .vs = vs, .n_samples = n};
    struct tr_entry_metrics m = {.tenant = TR_SLICE_LIT("t"),
                                 .series = &s,
                                 .n_series = 1,
                                 .ooo_window_ms = 600000};
    roundtrip(&m, 0);
    /* each single value alone (against 0) too: always the plain form */
    for (size_t i = 0; i < n; i++) {
        s.ts = &ts[i];
        s.vs = &vs[i];
        s.n_samples = 1;
        roundtrip(&m, TR_ENTRY_METRICS_VERSION);
    }
}

Test(entry, v3_timestamps_out_of_order_duplicated_and_extreme)
{
    const int64_t ts[] = {
        1700000000000LL,
        1700000015000LL,
        1700000015000LL, /* duplicate */
        1699999990000LL, /* back */
        1700000030000LL,
        INT64_MIN,
        INT64_MAX,
        INT64_MIN,
        INT64_MIN,
        0,
        -1,
        1,
        INT64_MAX,
        INT64_MAX - 1,
        INT64_MIN + 1,
        -86400000LL,
        1700000000000LL,
    };
    size_t n = sizeof(ts) / sizeof(ts[0]);
    double vs[sizeof(ts) / sizeof(ts[0])];
    for (size_t i = 0; i < n; i++) {
        vs[i] = (double)i * 0.25;
    }
    struct tr_label ls[1] = {{TR_SLICE_LIT("__name__"), TR_SLICE_LIT("t")}};
    struct tr_entry_series s = {
        .labels = ls, .n_labels = 1, .ts = ts, .vs = vs, .n_samples = n};
    struct tr_entry_metrics m = {.tenant = TR_SLICE_LIT("t"),
                                 .series = &s,
                                 .n_series = 1,
                                 .ooo_window_ms = 1};
    roundtrip(&m, TR_ENTRY_METRICS_VERSION);
    /* every prefix (the first samples are special cases of the delta of
     * deltas) */
    for (size_t k = 1; k < n; k++) {
        s.n_samples = k;
        roundtrip(&m, TR_ENTRY_METRICS_VERSION);
    }
    /* every suffix */
    for (size_t k = 1; k < n; k++) {
        s.ts = ts + k;
        s.vs = vs + k;
        s.n_samples = n - k;
        roundtrip(&m, TR_ENTRY_METRICS_VERSION);
    }
}

/* ---- entries of earlier builds (format in storage/entry.h) ------------- */

static void put_bytes(struct tr_buf *b, const char *s, size_t n)
{
    tr_buf_put_uvarint(b, n);
    tr_buf_append(b, s, n);
}

/* A version 1 entry: tenant "ten", series up{job="a"} with samples
 * (ts[i], vs[i]) and a series without samples, one metadata record, and
 * the optional trailing series limit when limit > 0. */
static void build_v1(struct tr_buf *out,
                     const int64_t *ts,
                     const double *vs,
                     size_t n,
                     uint64_t limit,
                     struct tr_buf *labels_out)
{
    struct tr_label ls[2] = {{TR_SLICE_LIT("__name__"), TR_SLICE_LIT("up")},
                             {TR_SLICE_LIT("job"), TR_SLICE_LIT("a")}};
    tr_buf_reset(labels_out);
    tr_labels_encode(ls, 2, labels_out);
    tr_buf_putc(out, TR_ENTRY_METRICS);
    tr_buf_putc(out, TR_ENTRY_METRICS_V1);
    put_bytes(out, "ten", 3);
    tr_buf_put_uvarint(out, 2);
    put_bytes(out, labels_out->data, labels_out->len);
    tr_buf_put_uvarint(out, n);
    int64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        tr_buf_put_varint(out, (int64_t)((uint64_t)ts[i] - (uint64_t)prev));
        prev = ts[i];
        uint64_t bits = bits_of(vs[i]);
        for (int k = 0; k < 8; k++) {
            tr_buf_putc(out, (char)(bits >> (8 * k)));
        }
    }
    put_bytes(out, labels_out->data, labels_out->len);
    tr_buf_put_uvarint(out, 0); /* a series without samples (allowed) */
    tr_buf_put_uvarint(out, 1);
    tr_buf_putc(out, 2);
    put_bytes(out, "up", 2);
    put_bytes(out, "help text", 9);
    put_bytes(out, "", 0);
    if (limit > 0) {
        tr_buf_put_uvarint(out, limit);
    }
}

static void check_v1(const struct tr_entry_metrics *d,
                     const struct tr_buf *labels,
                     const int64_t *ts,
                     const double *vs,
                     size_t n)
{
    cr_assert_eq(d->ooo_window_ms, TR_ENTRY_LEGACY_OOO_MS);
    cr_assert(tr_slice_eq_cstr(d->tenant, "ten"));
    cr_assert_eq(d->n_series, 2);
    cr_assert_eq(d->series[0].enc.len, labels->len);
    cr_assert_eq(memcmp(d->series[0].enc.base, labels->data, labels->len), 0);
    cr_assert_eq(d->series[0].n_samples, n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(d->series[0].ts[i], ts[i], "sample %zu", i);
        cr_assert_eq(bits_of(d->series[0].vs[i]), bits_of(vs[i]), "sample %zu",
                     i);
    }
    cr_assert_eq(d->series[1].n_samples, 0);
    cr_assert_eq(d->n_meta, 1);
    cr_assert_eq(d->meta[0].type, 2);
    cr_assert(tr_slice_eq_cstr(d->meta[0].metric, "up"));
    cr_assert(tr_slice_eq_cstr(d->meta[0].help, "help text"));
    cr_assert_eq(d->meta[0].unit.len, 0);
}

Test(entry, decodes_version_1_and_2)
{
    const int64_t ts[] = {1700000000000LL, 1700000015000LL, 1699999000000LL,
                          INT64_MIN, INT64_MAX};
    const double vs[] = {1.5, double_of(0x7ff0000000000002ULL), -0.0, 3, 4};
    size_t n = sizeof(ts) / sizeof(ts[0]);
    struct tr_buf b, lb;
    tr_buf_init(&b);
    tr_buf_init(&lb);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    for (uint64_t limit = 0; limit <= 1000; limit += 1000) {
        tr_buf_reset(&b);
        build_v1(&b, ts, vs, n, limit, &lb);
        struct tr_entry_metrics d;
        cr_assert_eq(tr_entry_metrics_decode(b.data, b.len, &a, &d), 0,
                     "limit %llu", (unsigned long long)limit);
        check_v1(&d, &lb, ts, vs, n);
        for (size_t cut = 0; cut < b.len; cut++) {
            if (limit > 0 && cut == b.len - 2) {
                continue; /* without the (optional) limit: valid */
            }
            cr_assert_neq(tr_entry_metrics_decode(b.data, cut, &a, &d), 0,
                          "cut=%zu", cut);
        }
    }
    /* a trailing limit of 0 was never written */
    tr_buf_reset(&b);
    build_v1(&b, ts, vs, n, 0, &lb);
    tr_buf_put_uvarint(&b, 0);
    struct tr_entry_metrics d;
    cr_assert_eq(tr_entry_metrics_decode(b.data, b.len, &a, &d), TR_ECORRUPT);

    /* version 2: the LZ4 block of a version 1 entry after its length */
    for (uint64_t limit = 0; limit <= 7; limit += 7) {
        struct tr_buf v1;
        tr_buf_init(&v1);
        build_v1(&v1, ts, vs, n, limit, &lb);
        int bound = LZ4_compressBound((int)v1.len);
        char *z = malloc((size_t)bound);
        int zn = LZ4_compress_default(v1.data, z, (int)v1.len, bound);
        cr_assert_gt(zn, 0);
        tr_buf_reset(&b);
        tr_buf_putc(&b, TR_ENTRY_METRICS);
        tr_buf_putc(&b, TR_ENTRY_METRICS_V1_LZ4);
        tr_buf_put_uvarint(&b, v1.len);
        tr_buf_append(&b, z, (size_t)zn);
        cr_assert_eq(tr_entry_metrics_decode(b.data, b.len, &a, &d), 0);
        check_v1(&d, &lb, ts, vs, n);
        /* a wrong raw length is refused */
        struct tr_buf bad;
        tr_buf_init(&bad);
        tr_buf_putc(&bad, TR_ENTRY_METRICS);
        tr_buf_putc(&bad, TR_ENTRY_METRICS_V1_LZ4);
        tr_buf_put_uvarint(&bad, v1.len + 1);
        tr_buf_append(&bad, z, (size_t)zn);
        cr_assert_eq(tr_entry_metrics_decode(bad.data, bad.len, &a, &d),
                     TR_ECORRUPT);
        /* an LZ4 block must hold a version 1 entry, not another version */
        v1.data[1] = TR_ENTRY_METRICS_VERSION;
        zn = LZ4_compress_default(v1.data, z, (int)v1.len, bound);
        tr_buf_reset(&bad);
        tr_buf_putc(&bad, TR_ENTRY_METRICS);
        tr_buf_putc(&bad, TR_ENTRY_METRICS_V1_LZ4);
        tr_buf_put_uvarint(&bad, v1.len);
        tr_buf_append(&bad, z, (size_t)zn);
        cr_assert_eq(tr_entry_metrics_decode(bad.data, bad.len, &a, &d),
                     TR_ECORRUPT);
        tr_buf_free(&bad);
        free(z);
        tr_buf_free(&v1);
    }
    tr_arena_free(&a);
    tr_buf_free(&lb);
    tr_buf_free(&b);
}

/* ---- malformed version 3 and 4 ------------------------------------------ */

/* A version 3 entry of one series with one sample at t = 0 whose value
 * bytes are given raw (header byte and its bytes). */
static void build_v3_raw_value(struct tr_buf *out,
                               const uint8_t *vbytes,
                               size_t vn)
{
    tr_buf_reset(out);
    tr_buf_putc(out, TR_ENTRY_METRICS);
    tr_buf_putc(out, TR_ENTRY_METRICS_VERSION);
    tr_buf_put_varint(out, 1000);
    put_bytes(out, "t", 1);
    tr_buf_put_uvarint(out, 1);
    put_bytes(out, "\x08__name__\x01x", 11);
    tr_buf_put_uvarint(out, 1);
    tr_buf_put_varint(out, 0);
    tr_buf_append(out, vbytes, vn);
    tr_buf_put_uvarint(out, 0);
}

Test(entry, v3_rejects_non_canonical_values)
{
    struct tr_buf b;
    tr_buf_init(&b);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_entry_metrics d;
    /* the canonical forms decode */
    static const uint8_t ok0[] = {0x00};
    static const uint8_t ok1[] = {0x01, 0x2a};
    static const uint8_t ok2[] = {0x71, 0x01}; /* tz 7, n 1: 0x01 << 56 */
    static const uint8_t ok3[] = {0x08, 1, 2, 3, 4, 5, 6, 7, 8};
    static const uint8_t ok4[] = {0x13, 0x11, 0x00, 0x22};
    const struct {
        const uint8_t *p;
        size_t n;
        uint64_t want;
    } good[] = {
        {ok0, sizeof(ok0), 0},
        {ok1, sizeof(ok1), 0x2a},
        {ok2, sizeof(ok2), 0x0100000000000000ULL},
        {ok3, sizeof(ok3), 0x0807060504030201ULL},
        {ok4, sizeof(ok4), 0x0000000022001100ULL},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        build_v3_raw_value(&b, good[i].p, good[i].n);
        cr_assert_eq(tr_entry_metrics_decode(b.data, b.len, &a, &d), 0,
                     "good %zu", i);
        cr_assert_eq(bits_of(d.series[0].vs[0]), good[i].want, "good %zu", i);
        cr_assert_eq(d.ooo_window_ms, 1000);
    }
    /* the same values encoded otherwise, and impossible shapes */
    static const uint8_t bad0[] = {0x01, 0x00};       /* x = 0 as n = 1 */
    static const uint8_t bad1[] = {0x02, 0x00, 0x2a}; /* zero low byte */
    static const uint8_t bad2[] = {0x02, 0x2a, 0x00}; /* zero top byte */
    static const uint8_t bad3[] = {0x10};             /* n = 0 */
    static const uint8_t bad4[] = {0x70};             /* n = 0 */
    static const uint8_t bad5[] = {0x72, 0x01, 0x01}; /* tz + n = 9 */
    static const uint8_t bad6[] = {0x81, 0x01};       /* tz = 8 */
    static const uint8_t bad7[] = {0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9}; /* n 9 */
    static const uint8_t bad8[] = {0x0f, 1, 2,  3,  4,  5,  6,  7,
                                   8,    9, 10, 11, 12, 13, 14, 15}; /* n 15 */
    static const uint8_t bad9[] = {0x04, 0x01, 0x02, 0x03};          /* short */
    static const uint8_t bad10[] = {0x11, 0x00}; /* zero byte */
    const struct {
        const uint8_t *p;
        size_t n;
    } bad[] = {
        {bad0, sizeof(bad0)}, {bad1, sizeof(bad1)},   {bad2, sizeof(bad2)},
        {bad3, sizeof(bad3)}, {bad4, sizeof(bad4)},   {bad5, sizeof(bad5)},
        {bad6, sizeof(bad6)}, {bad7, sizeof(bad7)},   {bad8, sizeof(bad8)},
        {bad9, sizeof(bad9)}, {bad10, sizeof(bad10)},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        build_v3_raw_value(&b, bad[i].p, bad[i].n);
        cr_assert_eq(tr_entry_metrics_decode(b.data, b.len, &a, &d),
                     TR_ECORRUPT, "bad %zu", i);
    }
    /* a negative out-of-order window, a series without samples, trailing
     * bytes, an unknown version */
    build_v3_raw_value(&b, ok1, sizeof(ok1));
    struct tr_buf c;
    tr_buf_init(&c);
    tr_buf_putc(&c, TR_ENTRY_METRICS);
    tr_buf_putc(&c, TR_ENTRY_METRICS_VERSION);
    tr_buf_put_varint(&c, -1);
    tr_buf_append(&c, b.data + 4, b.len - 4); /* varint(1000) is 2 bytes */
    cr_assert_eq(tr_entry_metrics_decode(c.data, c.len, &a, &d), TR_ECORRUPT);
    tr_buf_reset(&c);
    tr_buf_putc(&c, TR_ENTRY_METRICS);
    tr_buf_putc(&c, TR_ENTRY_METRICS_VERSION);
    tr_buf_put_varint(&c, 0);
    put_bytes(&c, "t", 1);
    tr_buf_put_uvarint(&c, 1);
    put_bytes(&c, "\x08__name__\x01x", 11);
    tr_buf_put_uvarint(&c, 0); /* version 3 never writes empty series */
    tr_buf_put_uvarint(&c, 0);
    cr_assert_eq(tr_entry_metrics_decode(c.data, c.len, &a, &d), TR_ECORRUPT);
    tr_buf_reset(&c);
    tr_buf_append(&c, b.data, b.len);
    tr_buf_putc(&c, 0);
    cr_assert_eq(tr_entry_metrics_decode(c.data, c.len, &a, &d), TR_ECORRUPT);
    for (int v = 0; v < 256; v++) {
        if (v == TR_ENTRY_METRICS_V1 || v == TR_ENTRY_METRICS_VERSION) {
            continue;
        }
        tr_buf_reset(&c);
        tr_buf_append(&c, b.data, b.len);
        c.data[1] = (char)v;
        cr_assert_neq(tr_entry_metrics_decode(c.data, c.len, &a, &d), 0,
                      "version %d", v);
    }
    tr_buf_free(&c);
    tr_arena_free(&a);
    tr_buf_free(&b);
}

Test(entry, v4_rejects_bad_frames)
{
    /* a big entry (compressed) */
    enum { NS = 100 };
    struct tr_entry_series ser[NS];
    struct tr_label ls[2] = {{TR_SLICE_LIT("__name__"), TR_SLICE_LIT("up")},
                             {TR_SLICE_LIT("job"), TR_SLICE_LIT("node")}};
    int64_t ts[2] = {1, 2};
    double vs[2] = {1, 2};
    for (size_t i = 0; i < NS; i++) {
        ser[i] = (struct tr_entry_series){
            .labels = ls, .n_labels = 2, .ts = ts, .vs = vs, .n_samples = 2};
    }
    struct tr_entry_metrics m = {.tenant = TR_SLICE_LIT("t"),
                                 .series = ser,
                                 .n_series = NS,
                                 .ooo_window_ms = 5};
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_entry_metrics_encode(&m, &b), 0);
    cr_assert_eq((uint8_t)b.data[1], TR_ENTRY_METRICS_ZSTD);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_entry_metrics d;
    cr_assert_eq(tr_entry_metrics_decode(b.data, b.len, &a, &d), 0);
    cr_assert_eq(d.n_series, NS);
    cr_assert_eq(d.ooo_window_ms, 5);
    /* any flipped byte of the frame fails the decode or changes nothing
     * it should not: it never crashes (ASan) */
    for (size_t i = 2; i < b.len; i++) {
        b.data[i] ^= 0x40;
        struct tr_entry_metrics x;
        (void)tr_entry_metrics_decode(b.data, b.len, &a, &x);
        b.data[i] ^= 0x40;
    }
    /* a length that does not match the frame */
    struct tr_cursor c = tr_cursor_make(b.data + 2, b.len - 2);
    uint64_t raw;
    cr_assert_eq(tr_cursor_uvarint(&c, &raw), 0);
    struct tr_buf bad;
    tr_buf_init(&bad);
    const uint64_t lens[] = {raw - 1, raw + 1, 0, 1, (1ULL << 30) + 1};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        tr_buf_reset(&bad);
        tr_buf_putc(&bad, TR_ENTRY_METRICS);
        tr_buf_putc(&bad, TR_ENTRY_METRICS_ZSTD);
        tr_buf_put_uvarint(&bad, lens[i]);
        tr_buf_append(&bad, c.p, tr_cursor_left(&c));
        cr_assert_eq(tr_entry_metrics_decode(bad.data, bad.len, &a, &d),
                     TR_ECORRUPT, "length %llu", (unsigned long long)lens[i]);
    }
    tr_buf_free(&bad);
    tr_arena_free(&a);
    tr_buf_free(&b);
}

Test(entry, verify_entry)
{
    const uint64_t ids[] = {0, 1, 0x0102030405060708ULL, UINT64_MAX};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        uint8_t e[TR_ENTRY_VERIFY_SIZE];
        tr_entry_verify_encode(ids[i], e);
        cr_assert_eq(e[0], TR_ENTRY_VERIFY);
        cr_assert_eq(e[1], 1);
        uint64_t r = 0;
        cr_assert_eq(tr_entry_verify_decode(e, sizeof(e), &r), 0);
        cr_assert_eq(r, ids[i]);
        for (size_t n = 0; n < sizeof(e); n++) {
            cr_assert_eq(tr_entry_verify_decode(e, n, &r), TR_ECORRUPT);
        }
        e[1] = 2;
        cr_assert_eq(tr_entry_verify_decode(e, sizeof(e), &r), TR_ECORRUPT);
        /* never taken for a metrics entry, and the reverse */
        struct tr_arena a;
        tr_arena_init(&a, 1024);
        struct tr_entry_metrics d;
        e[1] = 1;
        cr_assert_eq(tr_entry_metrics_decode(e, sizeof(e), &a, &d),
                     TR_ECORRUPT);
        tr_arena_free(&a);
    }
    uint8_t m[] = {
        TR_ENTRY_METRICS, TR_ENTRY_METRICS_VERSION, 0, 0, 0, 0, 0, 0, 0, 0};
    uint64_t r;
    cr_assert_eq(tr_entry_verify_decode(m, sizeof(m), &r), TR_ECORRUPT);
}
