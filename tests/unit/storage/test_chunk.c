/* test_chunk.c - XOR chunk round trips, loader, corrupt input. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "storage/chunk.h"

struct sample {
    int64_t t;
    uint64_t vb;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static double from_bits(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

static uint64_t to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

/* Encodes s[0..n), checks iteration and load+append equivalence. */
static void roundtrip(const struct sample *s, size_t n)
{
    struct tr_xor_chunk c;
    tr_xor_init(&c);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(tr_xor_append(&c, s[i].t, from_bits(s[i].vb)), 0,
                     "append %zu", i);
    }
    size_t len = tr_xor_len(&c);
    cr_assert_eq(tr_xor_count(c.data, len), n);

    struct tr_xor_iter it;
    tr_xor_iter_init(&it, c.data, len);
    int64_t t;
    double v;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(tr_xor_iter_next(&it, &t, &v), 1, "next %zu", i);
        cr_assert_eq(t, s[i].t, "t[%zu] %lld != %lld", i, (long long)t,
                     (long long)s[i].t);
        cr_assert_eq(to_bits(v), s[i].vb, "v[%zu]", i);
    }
    cr_assert_eq(tr_xor_iter_next(&it, &t, &v), 0);
    cr_assert_eq(tr_xor_iter_next(&it, &t, &v), 0);

    /* Load after every prefix k, append the rest: same bytes. */
    for (size_t k = 0; k <= n; k++) {
        struct tr_xor_chunk p, l;
        tr_xor_init(&p);
        for (size_t i = 0; i < k; i++) {
            cr_assert_eq(tr_xor_append(&p, s[i].t, from_bits(s[i].vb)), 0);
        }
        cr_assert_eq(tr_xor_load(&l, p.data, tr_xor_len(&p)), 0);
        cr_assert_eq(l.count, k);
        if (k > 0) {
            cr_assert_eq(l.min_t, s[0].t);
        }
        for (size_t i = k; i < n; i++) {
            cr_assert_eq(tr_xor_append(&l, s[i].t, from_bits(s[i].vb)), 0);
        }
        cr_assert_eq(tr_xor_len(&l), len, "prefix %zu", k);
        cr_assert(memcmp(l.data, c.data, len) == 0, "prefix %zu bytes", k);
        tr_xor_free(&p);
        tr_xor_free(&l);
        if (n > 40 && k > 3 && k < n - 3) {
            k += 7; /* keep long cases fast */
        }
    }
    tr_xor_free(&c);
}

TestSuite(storage_chunk);

Test(storage_chunk, empty)
{
    struct tr_xor_chunk c;
    tr_xor_init(&c);
    cr_assert_eq(tr_xor_len(&c), 0);
    struct tr_xor_iter it;
    int64_t t;
    double v;
    tr_xor_iter_init(&it, c.data, 0);
    cr_assert_eq(tr_xor_iter_next(&it, &t, &v), 0);
    uint8_t two[2] = {0, 0};
    tr_xor_iter_init(&it, two, 2);
    cr_assert_eq(tr_xor_iter_next(&it, &t, &v), 0);
    cr_assert_eq(tr_xor_load(&c, two, 2), 0);
    cr_assert_eq(tr_xor_append(&c, 5, 1.0), 0);
    cr_assert_eq(tr_xor_count(c.data, tr_xor_len(&c)), 1);
    tr_xor_free(&c);
    cr_assert_eq(tr_xor_load(&c, two, 1), TR_ECORRUPT);
    tr_xor_free(&c);
}

Test(storage_chunk, one_sample)
{
    struct sample s[1] = {{1700000000000, to_bits(42.5)}};
    roundtrip(s, 1);
    s[0].t = -123456789;
    roundtrip(s, 1);
    s[0].t = INT64_MIN;
    roundtrip(s, 1);
    s[0].t = INT64_MAX;
    roundtrip(s, 1);
}

Test(storage_chunk, regular_gauge_random_120)
{
    struct sample s[120];
    for (int rep = 0; rep < 20; rep++) {
        int64_t t = 1700000000000 + (int64_t)(rnd() % 100000);
        for (int i = 0; i < 120; i++) {
            s[i].t = t;
            s[i].vb = rnd();
            t += 15000;
        }
        roundtrip(s, 120);
    }
}

Test(storage_chunk, random_timestamps_and_values)
{
    struct sample s[120];
    for (int rep = 0; rep < 50; rep++) {
        int64_t t = (int64_t)rnd();
        size_t n = 1 + rnd() % 120;
        size_t i;
        for (i = 0; i < n; i++) {
            s[i].t = t;
            s[i].vb = (rnd() & 1) ? rnd() : to_bits((double)(rnd() % 100));
            uint64_t step = 1 + (rnd() >> (rnd() % 64));
            if ((uint64_t)INT64_MAX - (uint64_t)t < step && t >= 0) {
                i++;
                break;
            }
            t = (int64_t)((uint64_t)t + step);
            if (t < s[i].t) { /* wrapped */
                i++;
                break;
            }
        }
        roundtrip(s, i);
    }
}

Test(storage_chunk, counter_constant_special_values)
{
    struct sample s[120];
    double cnt = 0;
    for (int i = 0; i < 120; i++) {
        cnt += (double)(rnd() % 1000);
        s[i].t = 1700000000000 + i * 15000 + (int64_t)(rnd() % 20) - 10;
        s[i].vb = to_bits(cnt);
    }
    roundtrip(s, 120);
    for (int i = 0; i < 120; i++) {
        s[i].vb = to_bits(7.0);
    }
    roundtrip(s, 120);
    uint64_t special[] = {
        0x7ff0000000000002ull, /* Prometheus stale marker */
        0x7ff8000000000001ull, /* NaN */
        0xfff8000000000000ull, /* -NaN */
        0x7ff0000000000000ull, /* +Inf */
        0xfff0000000000000ull, /* -Inf */
        0x8000000000000000ull, /* -0 */
        0,
        1, /* denormal */
        0x7fefffffffffffffull,
        0xffffffffffffffffull,
    };
    size_t ns = sizeof(special) / sizeof(special[0]);
    for (int i = 0; i < 120; i++) {
        s[i].t = i * 1000;
        s[i].vb = special[(size_t)i % ns];
    }
    roundtrip(s, 120);
    for (int i = 0; i < 120; i++) {
        s[i].vb = special[rnd() % ns];
    }
    roundtrip(s, 120);
}

/* Every dod bucket boundary, both sides, and 64-bit extremes. */
Test(storage_chunk, dod_buckets)
{
    const int64_t dods[] = {
        0,       1,      -1,      8192,    -8191,      8193,
        -8192,   65536,  -65535,  65537,   -65536,     524288,
        -524287, 524289, -524288, 1 << 30, -(1 << 30), INT64_C(1) << 40};
    size_t nd = sizeof(dods) / sizeof(dods[0]);
    for (size_t a = 0; a < nd; a++) {
        struct sample s[4];
        int64_t d0 = 1000000;
        s[0] = (struct sample){0, to_bits(1)};
        s[1] = (struct sample){d0, to_bits(2)};
        s[2] = (struct sample){2 * d0 + dods[a], to_bits(3)};
        s[3] = (struct sample){3 * d0 + 2 * dods[a], to_bits(3)};
        if (d0 + dods[a] <= 0) {
            continue;
        }
        roundtrip(s, 4);
    }
    /* Check the chosen encoding sizes at the boundaries. */
    struct {
        int64_t dod;
        size_t bits;
    } sz[] = {{0, 1},       {8192, 16},   {-8191, 16},   {8193, 20},
              {-8192, 20},  {65536, 20},  {-65535, 20},  {65537, 24},
              {-65536, 24}, {524288, 24}, {-524287, 24}, {524289, 68},
              {-524288, 68}};
    for (size_t i = 0; i < sizeof(sz) / sizeof(sz[0]); i++) {
        struct tr_xor_chunk c;
        tr_xor_init(&c);
        cr_assert_eq(tr_xor_append(&c, 0, 1), 0);
        cr_assert_eq(tr_xor_append(&c, 1000000, 1), 0);
        size_t before = c.bits;
        cr_assert_eq(tr_xor_append(&c, 2000000 + sz[i].dod, 1), 0);
        cr_assert_eq(c.bits - before, sz[i].bits + 1, "dod %lld",
                     (long long)sz[i].dod);
        tr_xor_free(&c);
    }
}

Test(storage_chunk, huge_jumps)
{
    struct sample s[5] = {
        {INT64_MIN, to_bits(1)}, {INT64_MIN + 1, to_bits(2)},
        {0, to_bits(3)},         {INT64_MAX - 1, to_bits(4)},
        {INT64_MAX, to_bits(5)},
    };
    roundtrip(s, 5);
    struct sample s2[3] = {
        {INT64_MIN, to_bits(1)}, {INT64_MAX, to_bits(2)}, /* delta 2^64 - 1 */
    };
    roundtrip(s2, 2);
    (void)s2[2];
}

Test(storage_chunk, append_rejects)
{
    struct tr_xor_chunk c;
    tr_xor_init(&c);
    cr_assert_eq(tr_xor_append(&c, 10, 1), 0);
    cr_assert_eq(tr_xor_append(&c, 10, 1), TR_EINVAL);
    cr_assert_eq(tr_xor_append(&c, 9, 1), TR_EINVAL);
    cr_assert_eq(tr_xor_count(c.data, tr_xor_len(&c)), 1);
    tr_xor_free(&c);
}

/* Known bytes: two samples (t=1000 v=1, t=2000 v=1) in Prometheus' format. */
Test(storage_chunk, golden_bytes)
{
    struct tr_xor_chunk c;
    tr_xor_init(&c);
    cr_assert_eq(tr_xor_append(&c, 1000, 1.0), 0);
    cr_assert_eq(tr_xor_append(&c, 2000, 1.0), 0);
    cr_assert_eq(tr_xor_append(&c, 3000, 2.0), 0);
    /* 00 03 | d0 0f | 3f f0 00.. | e8 07 | 0 (v same) | 0 (dod) | 11 ...
     */
    const uint8_t want[] = {0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0x00,
                            0x00, 0x00, 0x00, 0x00, 0x00, 0xe8, 0x07};
    cr_assert(tr_xor_len(&c) > sizeof(want));
    cr_assert(memcmp(c.data, want, sizeof(want)) == 0);
    /* xor(2.0, 1.0) = 0x7ff0000000000000: lead 1, trail 52, sig 11:
     * '0' '0' then '11' 00001 001011 11111111111 */
    const uint8_t rest[] = {0x30, 0x97, 0xff, 0xc0};
    cr_assert_eq(tr_xor_len(&c), sizeof(want) + sizeof(rest));
    cr_assert(memcmp(c.data + sizeof(want), rest, sizeof(rest)) == 0);
    tr_xor_free(&c);
}

static int iterate_all(const uint8_t *p, size_t n, size_t *count)
{
    struct tr_xor_iter it;
    int64_t t;
    double v;
    int rv;
    *count = 0;
    tr_xor_iter_init(&it, p, n);
    while ((rv = tr_xor_iter_next(&it, &t, &v)) == 1) {
        (*count)++;
    }
    return rv;
}

Test(storage_chunk, truncated_and_corrupt)
{
    struct tr_xor_chunk c;
    tr_xor_init(&c);
    for (int i = 0; i < 120; i++) {
        cr_assert_eq(tr_xor_append(&c, i * 15000 + (i % 3), (double)(i * i)),
                     0);
    }
    size_t len = tr_xor_len(&c);
    size_t cnt;
    cr_assert_eq(iterate_all(c.data, len, &cnt), 0);
    cr_assert_eq(cnt, 120);
    /* Every truncation fails (exact-length heap copies so ASan sees
     * overreads). */
    for (size_t n = 3; n < len; n++) {
        uint8_t *p = malloc(n);
        memcpy(p, c.data, n);
        cr_assert_eq(iterate_all(p, n, &cnt), TR_ECORRUPT, "n=%zu", n);
        struct tr_xor_chunk l;
        cr_assert_eq(tr_xor_load(&l, p, n), TR_ECORRUPT);
        tr_xor_free(&l);
        free(p);
    }
    /* A count larger than the data. */
    uint8_t *p = malloc(len);
    memcpy(p, c.data, len);
    p[0] = 0xff;
    cr_assert_eq(iterate_all(p, len, &cnt), TR_ECORRUPT);
    /* Random garbage never crashes; mostly corrupt. */
    for (int rep = 0; rep < 2000; rep++) {
        size_t n = rnd() % 64;
        uint8_t *g = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++) {
            g[i] = (uint8_t)rnd();
        }
        int rv = iterate_all(g, n, &cnt);
        cr_assert(rv == 0 || rv == TR_ECORRUPT);
        struct tr_xor_chunk l;
        rv = tr_xor_load(&l, g, n);
        cr_assert(rv == 0 || rv == TR_ECORRUPT);
        if (rv == 0 && l.count < 65535) {
            cr_assert_eq(tr_xor_append(&l, l.count ? l.t + 1 : 0, 1.5), 0);
        }
        tr_xor_free(&l);
        free(g);
    }
    /* Non-increasing timestamps are corrupt: zero delta for sample 2. */
    const uint8_t zero_delta[] = {0x00, 0x02, 0x02, 0, 0,    0,   0,
                                  0,    0,    0,    0, 0x00, 0x00};
    cr_assert_eq(iterate_all(zero_delta, sizeof(zero_delta), &cnt),
                 TR_ECORRUPT);
    free(p);
    tr_xor_free(&c);
}

static size_t encoded_size(const struct sample *s, size_t n)
{
    struct tr_xor_chunk c;
    tr_xor_init(&c);
    for (size_t i = 0; i < n; i++) {
        tr_xor_append(&c, s[i].t, from_bits(s[i].vb));
    }
    size_t len = tr_xor_len(&c);
    tr_xor_free(&c);
    return len;
}

/* Realistic compression figures (printed, loosely bounded). */
Test(storage_chunk, bytes_per_sample)
{
    struct sample s[120];
    int64_t t = 1700000000000;
    double cnt = 123456;
    for (int i = 0; i < 120; i++) {
        /* scrape jitter of a few ms, counter growing by ~ 10 req/s */
        s[i].t = t + (int64_t)(rnd() % 5);
        s[i].vb = to_bits(cnt);
        t += 15000;
        cnt += (double)(100 + rnd() % 100);
    }
    double counter = (double)encoded_size(s, 120) / 120.0;
    for (int i = 0; i < 120; i++) {
        /* gauge: memory bytes with 1 KiB granularity wandering */
        s[i].vb = to_bits(1.5e9 + (double)((rnd() % 200000) * 1024));
    }
    double gauge = (double)encoded_size(s, 120) / 120.0;
    for (int i = 0; i < 120; i++) {
        s[i].t = 1700000000000 + i * 15000;
        s[i].vb = to_bits(1.0);
    }
    double up = (double)encoded_size(s, 120) / 120.0;
    printf(
        "chunk bytes/sample (120 samples, 15 s): counter %.2f, gauge "
        "%.2f, constant 'up' %.2f\n",
        counter, gauge, up);
    cr_assert(counter < 4.0);
    cr_assert(up < 0.5);
}
