/* Tests for storage/series.c: the chunk form of select results - encoding,
 * decoding (whole and a chunk at a time, rejecting malformed chunks),
 * merging the parts of one series, decoding a whole result. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "lib/err.h"
#include "storage/chunk_record.h"
#include "storage/select.h"

static void ser_fill(struct tr_sample *v, size_t n, int64_t t0, int64_t step)
{
    for (size_t i = 0; i < n; i++) {
        v[i].t = t0 + (int64_t)i * step + (int64_t)(i % 7);
        v[i].v = i % 5 == 4 ? (double)i / 7.0 : (double)(i / 3);
    }
}

static bool ser_same(const struct tr_sample *a,
                     const struct tr_sample *b,
                     size_t n)
{
    return n == 0 || memcmp(a, b, n * sizeof(*a)) == 0;
}

Test(series, encode_decode_round_trip_bit_exact)
{
    enum { N = 2500 };
    static struct tr_sample v[N], out[N];
    ser_fill(v, N, -40000, 15000); /* negative times too */
    uint64_t stale = 0x7ff0000000000002ULL, payload = 0x7ff8dead0000beefULL;
    memcpy(&v[10].v, &stale, 8);
    memcpy(&v[11].v, &payload, 8);
    v[12].v = -0.0;
    v[13].v = INFINITY;
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_series_data sd;
    memset(&sd, 0, sizeof(sd));
    cr_assert_eq(tr_series_encode(&a, v, N, &sd), 0);
    cr_assert_null(sd.samples);
    cr_assert_eq(sd.n_samples, N);
    cr_assert_eq(sd.n_chunks, 3); /* 1024 samples a chunk */
    size_t bytes = 0;
    for (size_t i = 0; i < sd.n_chunks; i++) {
        bytes += sd.chunks[i].len;
    }
    cr_assert_lt(bytes, N * 8, "%zu bytes", bytes); /* < half of decoded */
    const struct tr_sample *s = tr_series_samples(&sd, out);
    cr_assert_eq(s, out);
    cr_assert(ser_same(v, out, N));
    /* a chunk at a time */
    struct tr_series_iter it;
    tr_series_iter_init(&it, &sd);
    size_t got = 0, n, pieces = 0;
    int r;
    while ((r = tr_series_iter_next(&it, &s, &n)) == 1) {
        cr_assert(ser_same(v + got, s, n));
        got += n;
        pieces++;
    }
    cr_assert_eq(r, 0);
    cr_assert_eq(got, N);
    cr_assert_eq(pieces, 3);
    tr_series_iter_free(&it);
    /* a decoded series is one piece, returned in place */
    struct tr_series_data dec = {NULL, 0, v, N, NULL, 0};
    cr_assert_eq(tr_series_samples(&dec, NULL), v);
    tr_series_iter_init(&it, &dec);
    cr_assert_eq(tr_series_iter_next(&it, &s, &n), 1);
    cr_assert_eq(s, v);
    cr_assert_eq(n, N);
    cr_assert_eq(tr_series_iter_next(&it, &s, &n), 0);
    tr_series_iter_free(&it);
    tr_arena_free(&a);
}

/* Chunks are checked as they are decoded: a record not holding exactly n
 * samples in [mint, maxt], from mint to maxt, or chunks out of order, is
 * an error; a record crossing the window is clipped by it. */
Test(series, malformed_chunks_rejected)
{
    enum { N = 300 };
    struct tr_sample v[N], out[N + 8];
    ser_fill(v, N, 1000, 1000);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_series_data sd;
    memset(&sd, 0, sizeof(sd));
    cr_assert_eq(tr_series_encode(&a, v, N, &sd), 0);
    cr_assert_not_null(tr_series_samples(&sd, out));
    struct tr_chunk_ref good = sd.chunks[0];
    sd.chunks[0].n = N - 1; /* wrong count */
    sd.n_samples = N - 1;
    cr_assert_null(tr_series_samples(&sd, out));
    sd.chunks[0] = good;
    sd.n_samples = N;
    sd.chunks[0].mint = 999; /* first time is not mint */
    cr_assert_null(tr_series_samples(&sd, out));
    sd.chunks[0] = good;
    sd.chunks[0].maxt = good.maxt + 1;
    cr_assert_null(tr_series_samples(&sd, out));
    sd.chunks[0] = good;
    sd.chunks[0].len = 5; /* shorter than a record header */
    cr_assert_null(tr_series_samples(&sd, out));
    sd.chunks[0] = good;
    /* truncated bit stream: the header still claims N samples */
    sd.chunks[0].len = good.len / 2;
    cr_assert_null(tr_series_samples(&sd, out));
    sd.chunks[0] = good;
    /* two chunks out of order */
    struct tr_series_data two;
    memset(&two, 0, sizeof(two));
    struct tr_sample w[2] = {{500, 1}, {600, 2}};
    struct tr_series_data b;
    memset(&b, 0, sizeof(b));
    cr_assert_eq(tr_series_encode(&a, w, 2, &b), 0);
    struct tr_chunk_ref refs[2] = {good, b.chunks[0]};
    two.chunks = refs;
    two.n_chunks = 2;
    two.n_samples = N + 2;
    cr_assert_null(tr_series_samples(&two, out));
    struct tr_series_iter it;
    tr_series_iter_init(&it, &two);
    const struct tr_sample *s;
    size_t n;
    cr_assert_eq(tr_series_iter_next(&it, &s, &n), 1);
    cr_assert_eq(tr_series_iter_next(&it, &s, &n), TR_ECORRUPT);
    tr_series_iter_free(&it);
    /* a record clipped by mint and maxt: samples 10..20 of its 300 (more
     * than fit on the decoder's stack) */
    struct tr_series_data clip;
    memset(&clip, 0, sizeof(clip));
    struct tr_chunk_ref cr = good;
    cr.mint = v[10].t;
    cr.maxt = v[20].t;
    cr.n = 11;
    clip.chunks = &cr;
    clip.n_chunks = 1;
    clip.n_samples = 11;
    const struct tr_sample *cs = tr_series_samples(&clip, out);
    cr_assert_not_null(cs);
    cr_assert(ser_same(v + 10, cs, 11));
    cr.maxt = v[20].t + 1; /* not a sample's time */
    cr_assert_null(tr_series_samples(&clip, out));
    cr.maxt = v[21].t; /* 12 samples in the window, 11 claimed */
    cr_assert_null(tr_series_samples(&clip, out));
    /* n_samples larger than the chunks hold */
    sd.n_samples = N + 1;
    cr_assert_null(tr_series_samples(&sd, out));
    tr_arena_free(&a);
}

/* Parts of one series from shards of different windows are joined by
 * concatenating their chunk lists (no copy); overlapping parts are
 * resampled: sorted, deduplicated (the first part's value wins), encoded
 * again. Decoded parts may be mixed in. */
Test(series, merge_parts)
{
    enum { N = 200 };
    struct tr_sample v[2 * N], out[2 * N];
    ser_fill(v, 2 * N, 0, 1000);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_series_data p1, p2, m;
    memset(&p1, 0, sizeof(p1));
    memset(&p2, 0, sizeof(p2));
    cr_assert_eq(tr_series_encode(&a, v + N, N, &p2), 0);
    cr_assert_eq(tr_series_encode(&a, v, N, &p1), 0);
    const struct tr_series_data *parts[3] = {&p2, &p1, NULL};
    cr_assert_eq(tr_series_merge(&a, parts, 2, &m), 0);
    cr_assert_eq(m.n_samples, 2 * N);
    cr_assert_eq(m.n_chunks, 2);
    cr_assert_eq(m.chunks[0].rec, p1.chunks[0].rec); /* in time order */
    cr_assert_eq(m.chunks[1].rec, p2.chunks[0].rec);
    cr_assert(ser_same(v, tr_series_samples(&m, out), 2 * N));

    /* overlap: p3 holds every other sample of the whole range with other
     * values; p1's values win where both have a time */
    struct tr_sample odd[N];
    for (size_t i = 0; i < N; i++) {
        odd[i] = v[2 * i];
        odd[i].v = -1;
    }
    struct tr_series_data p3;
    memset(&p3, 0, sizeof(p3));
    cr_assert_eq(tr_series_encode(&a, odd, N, &p3), 0);
    parts[0] = &p1;
    parts[1] = &p3;
    cr_assert_eq(tr_series_merge(&a, parts, 2, &m), 0);
    /* p1 holds [0, N); p3 adds the even times of [N, 2N) */
    cr_assert_eq(m.n_samples, N + N / 2);
    const struct tr_sample *s = tr_series_samples(&m, out);
    cr_assert_not_null(s);
    cr_assert(ser_same(v, s, N));
    for (size_t i = N; i < m.n_samples; i++) {
        cr_assert_eq(s[i].t, v[N + 2 * (i - N)].t);
        cr_assert_eq(s[i].v, -1);
    }

    /* a decoded part mixed in, and an empty one */
    struct tr_series_data dec = {NULL, 0, v + N, N, NULL, 0};
    struct tr_series_data empty = {NULL, 0, NULL, 0, NULL, 0};
    parts[0] = &dec;
    parts[1] = &empty;
    parts[2] = &p1;
    cr_assert_eq(tr_series_merge(&a, parts, 3, &m), 0);
    cr_assert_eq(m.n_samples, 2 * N);
    cr_assert_null(m.samples);
    cr_assert(ser_same(v, tr_series_samples(&m, out), 2 * N));
    tr_arena_free(&a);
}

Test(series, result_decode_in_place)
{
    enum { N = 50 };
    struct tr_sample v[N];
    ser_fill(v, N, 5000, 60000);
    struct tr_select_result r;
    memset(&r, 0, sizeof(r));
    tr_arena_init(&r.arena, 4096);
    r.series = tr_arena_alloc(&r.arena, 2 * sizeof(*r.series));
    memset(r.series, 0, 2 * sizeof(*r.series));
    r.n_series = 2;
    cr_assert_eq(tr_series_encode(&r.arena, v, N, &r.series[0]), 0);
    r.series[1].samples = v; /* already decoded: left as it is */
    r.series[1].n_samples = N;
    cr_assert_eq(tr_select_result_decode(&r), 0);
    cr_assert_not_null(r.series[0].samples);
    cr_assert_eq(r.series[0].n_chunks, 0);
    cr_assert(ser_same(v, r.series[0].samples, N));
    cr_assert_eq(r.series[1].samples, v);
    tr_select_result_free(&r);
}
