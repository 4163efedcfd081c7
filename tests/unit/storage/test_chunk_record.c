/* Tests for storage/chunk_record.c: packed vs XOR choice, bit-exact round
 * trips, corrupt records. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "storage/chunk_record.h"

static void rec_roundtrip(const int64_t *ts,
                          const double *vs,
                          size_t n,
                          int want_format)
{
    struct tr_xor_chunk c;
    tr_xor_init(&c);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(tr_xor_append(&c, ts[i], vs[i]), 0);
    }
    struct tr_buf rec;
    tr_buf_init(&rec);
    cr_assert_eq(tr_chunk_record_build(&rec, ts[n - 1], c.data, tr_xor_len(&c)),
                 0);
    cr_assert_eq((uint8_t)rec.data[8], want_format);
    cr_assert_eq(tr_chunk_record_maxt(rec.data, rec.len), ts[n - 1]);
    struct tr_chunk_reader r;
    cr_assert_eq(tr_chunk_reader_init(&r, rec.data, rec.len), 0);
    int64_t t;
    double v;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(tr_chunk_reader_next(&r, &t, &v), 1, "i=%zu", i);
        cr_assert_eq(t, ts[i]);
        cr_assert_eq(memcmp(&v, &vs[i], 8), 0, "i=%zu %.17g vs %.17g", i, v,
                     vs[i]);
    }
    cr_assert_eq(tr_chunk_reader_next(&r, &t, &v), 0);
    /* the bulk decoder: whole record and windows of it */
    cr_assert_eq(tr_chunk_record_count(rec.data, rec.len), n);
    struct tr_sample *d = malloc(n * sizeof(*d));
    for (size_t a = 0; a < n; a += 1 + n / 7) {
        for (size_t b = a; b < n; b += 1 + n / 5) {
            int64_t lo = a == 0 ? INT64_MIN : ts[a] - (a % 2);
            int64_t hi = b == n - 1 ? INT64_MAX : ts[b] + (b % 2);
            long got = tr_chunk_record_decode(rec.data, rec.len, lo, hi, d);
            size_t want = 0;
            for (size_t i = 0; i < n; i++) {
                if (ts[i] >= lo && ts[i] <= hi) {
                    cr_assert_lt(want, (size_t)got, "[%zu,%zu]", a, b);
                    cr_assert_eq(d[want].t, ts[i]);
                    cr_assert_eq(memcmp(&d[want].v, &vs[i], 8), 0);
                    want++;
                }
            }
            cr_assert_eq((size_t)got, want, "[%zu,%zu]", a, b);
        }
    }
    /* every truncation is rejected or ends early, never read past the end */
    for (size_t cut = 0; cut < rec.len; cut++) {
        char *copy = malloc(cut ? cut : 1);
        memcpy(copy, rec.data, cut);
        struct tr_chunk_reader r2;
        if (tr_chunk_reader_init(&r2, copy, cut) == 0) {
            while (tr_chunk_reader_next(&r2, &t, &v) == 1) {
            }
        }
        long got = tr_chunk_record_decode(copy, cut, INT64_MIN, INT64_MAX, d);
        cr_assert(got < 0 || (size_t)got <= n, "cut %zu: %ld", cut, got);
        free(copy);
    }
    free(d);
    tr_buf_free(&rec);
    tr_xor_free(&c);
}

Test(chunk_record, counters_pack)
{
    int64_t ts[120];
    double vs[120];
    for (int i = 0; i < 120; i++) {
        ts[i] = 1700000000000LL + i * 15000 + (i % 7 == 0 ? 2 : 0);
        vs[i] = 1000 + i * 3 + (i % 5);
    }
    rec_roundtrip(ts, vs, 120, TR_CHUNK_FMT_PACKED);
}

Test(chunk_record, decimals_pack)
{
    int64_t ts[50];
    double vs[50];
    for (int i = 0; i < 50; i++) {
        ts[i] = -5000 + i * 1000;
        vs[i] = (double)(i * 37 % 1000) / 1000.0; /* 3-digit ratios */
    }
    rec_roundtrip(ts, vs, 50, TR_CHUNK_FMT_PACKED);
    for (int i = 0; i < 50; i++) {
        vs[i] = -1048576.0 * (i % 9) + 4096.0 * i; /* negative ints, gcd */
    }
    rec_roundtrip(ts, vs, 50, TR_CHUNK_FMT_PACKED);
}

Test(chunk_record, non_decimal_stays_xor)
{
    int64_t ts[40];
    double vs[40];
    for (int i = 0; i < 40; i++) {
        ts[i] = i * 15000;
        vs[i] = sin(i) * 10.0;
    }
    rec_roundtrip(ts, vs, 40, TR_CHUNK_FMT_XOR);
    /* a stale marker forces XOR and keeps its bits */
    for (int i = 0; i < 40; i++) {
        vs[i] = i;
    }
    uint64_t stale = 0x7ff0000000000002ULL;
    memcpy(&vs[20], &stale, 8);
    rec_roundtrip(ts, vs, 40, TR_CHUNK_FMT_XOR);
    /* -0.0 is not a decimal k/10^d bit for bit */
    vs[20] = -0.0;
    rec_roundtrip(ts, vs, 40, TR_CHUNK_FMT_XOR);
    /* one sample stays XOR */
    rec_roundtrip(ts, vs, 1, TR_CHUNK_FMT_XOR);
}

Test(chunk_record, corrupt)
{
    struct tr_chunk_reader r;
    cr_assert_neq(tr_chunk_reader_init(&r, "short", 5), 0);
    char bad[12] = {0, 0, 0, 0, 0, 0, 0, 0, 7, 1, 2, 3};
    cr_assert_neq(tr_chunk_reader_init(&r, bad, sizeof(bad)), 0);
    char packed_bad[12] = {0, 0, 0, 0,          0,          0,
                           0, 0, 2, (char)0xff, (char)0xff, (char)0xff};
    cr_assert_neq(tr_chunk_reader_init(&r, packed_bad, sizeof(packed_bad)), 0);
}
