/* Tests for the exemplars of metrics write entries (storage/entry.c,
 * versions 5 and 6) and their store (storage/exemplars.c): round trips
 * with and without samples, corrupt records refused, entries without
 * exemplars still version 3; apply keeps the 64 newest per series
 * whatever the order of the entries and however often they are applied
 * again, reads filter by matchers and time and merge windows, and the
 * exemplars stay over a reopen. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/matcher.h"
#include "storage/entry.h"
#include "storage/storage.h"

#define DAY (24 * 3600 * 1000LL)

static struct tr_label EXL[1] = {{{"trace_id", 8}, {"abc", 3}}};

static void ex_make(struct tr_entry_exemplar *e, int64_t ts, double v)
{
    memset(e, 0, sizeof(*e));
    e->labels = EXL;
    e->n_labels = 1;
    e->ts = ts;
    e->v = v;
}

Test(exemplars, entry_round_trip_v5_v6_and_v3_without)
{
    struct tr_label ls[1] = {{TR_SLICE_LIT("__name__"), TR_SLICE_LIT("m")}};
    struct tr_label ls2[1] = {{TR_SLICE_LIT("__name__"), TR_SLICE_LIT("n")}};
    int64_t ts[2] = {1000, 2000};
    double vs[2] = {1, 2};
    struct tr_entry_exemplar ex[2];
    ex_make(&ex[0], 1500, 0.5);
    ex_make(&ex[1], 1600, 0.75);
    ex[1].n_labels = 0; /* an exemplar without labels */
    struct tr_entry_series es[3] = {
        {.labels = ls, .n_labels = 1, .ts = ts, .vs = vs, .n_samples = 2},
        {.labels = ls2, .n_labels = 1, .exemplars = ex, .n_exemplars = 2},
        {.labels = ls, .n_labels = 1}, /* neither: not written */
    };
    struct tr_entry_metrics m = {.tenant = TR_SLICE_LIT("t"),
                                 .series = es,
                                 .n_series = 3,
                                 .ooo_window_ms = 5};
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_entry_metrics_encode(&m, &b), 0);
    cr_assert_eq((uint8_t)b.data[1], TR_ENTRY_METRICS_EX);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_entry_metrics d;
    cr_assert_eq(tr_entry_metrics_decode(b.data, b.len, &a, &d), 0);
    cr_assert_eq(d.n_series, 2);
    cr_expect_eq(d.series[0].n_samples, 2);
    cr_expect_eq(d.series[0].n_exemplars, 0);
    cr_expect_eq(d.series[1].n_samples, 0);
    cr_assert_eq(d.series[1].n_exemplars, 2);
    cr_expect_eq(d.series[1].exemplars[0].ts, 1500);
    cr_expect_eq(d.series[1].exemplars[0].v, 0.5);
    cr_expect_gt(d.series[1].exemplars[0].enc.len, 0);
    cr_expect_eq(d.series[1].exemplars[1].enc.len, 0);
    /* re-encoding what was decoded gives the same bytes */
    struct tr_buf b2;
    tr_buf_init(&b2);
    cr_assert_eq(tr_entry_metrics_encode(&d, &b2), 0);
    cr_expect(b2.len == b.len && memcmp(b.data, b2.data, b.len) == 0);
    /* every truncation is refused */
    for (size_t n = 0; n < b.len; n++) {
        cr_expect_neq(tr_entry_metrics_decode(b.data, n, &a, &d), 0, "%zu", n);
    }
    /* without exemplars: version 3 as before */
    es[1].n_exemplars = 0;
    m.n_series = 1;
    tr_buf_reset(&b);
    cr_assert_eq(tr_entry_metrics_encode(&m, &b), 0);
    cr_expect_eq((uint8_t)b.data[1], TR_ENTRY_METRICS_VERSION);
    /* large: compressed as version 6 */
    struct tr_entry_exemplar many[200];
    for (int i = 0; i < 200; i++) {
        ex_make(&many[i], 1000 + i, i);
    }
    es[0].exemplars = many;
    es[0].n_exemplars = 200;
    tr_buf_reset(&b);
    cr_assert_eq(tr_entry_metrics_encode(&m, &b), 0);
    cr_expect_eq((uint8_t)b.data[1], TR_ENTRY_METRICS_EX_ZSTD);
    cr_assert_eq(tr_entry_metrics_decode(b.data, b.len, &a, &d), 0);
    cr_assert_eq(d.series[0].n_exemplars, 200);
    cr_expect_eq(d.series[0].exemplars[199].ts, 1199);
    tr_buf_free(&b);
    tr_buf_free(&b2);
    tr_arena_free(&a);
}

/* ---- the store ----------------------------------------------------------
 */

static char dir[256];
static uint64_t idx;

static struct tr_storage *open_store(void)
{
    struct tr_storage_config c = {
        .version = 1,
        .data_dir = dir,
        .cache_bytes = 8 << 20,
        .window_ms = DAY,
        .chunk_max_ms = 2 * 3600 * 1000LL,
    };
    struct tr_storage *s = NULL;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_storage_open(&c, &s, err), 0, "%s", err);
    return s;
}

static void setup(void)
{
    idx = 0;
    snprintf(dir, sizeof(dir), "/tmp/triad-test-exemplars-%d", getpid());
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cleanup failed\n");
    }
}

/* Applies one sample of series m{} at ts and exemplars ts0..ts0+n-1 (value
 * = time, trace_id = "t<time>") to shard (window of ts, slot 0) at index
 * at (0: the next). */
static void put(struct tr_storage *s,
                int64_t ts,
                int64_t ts0,
                int n,
                uint64_t at)
{
    struct tr_label ls[1] = {{TR_SLICE_LIT("__name__"), TR_SLICE_LIT("m")}};
    struct tr_entry_exemplar *ex = calloc((size_t)n + 1, sizeof(*ex));
    struct tr_label *el = calloc((size_t)n + 1, sizeof(*el));
    char(*tv)[32] = calloc((size_t)n + 1, 32);
    for (int i = 0; i < n; i++) {
        snprintf(tv[i], 32, "t%lld", (long long)(ts0 + i));
        el[i].name = tr_slice_cstr("trace_id");
        el[i].value = tr_slice_cstr(tv[i]);
        ex[i].labels = &el[i];
        ex[i].n_labels = 1;
        ex[i].ts = ts0 + i;
        ex[i].v = (double)(ts0 + i);
    }
    double v = 1;
    struct tr_entry_series es = {.labels = ls,
                                 .n_labels = 1,
                                 .ts = &ts,
                                 .vs = &v,
                                 .n_samples = 1,
                                 .exemplars = ex,
                                 .n_exemplars = (size_t)n};
    struct tr_entry_metrics m = {.tenant = TR_SLICE_LIT("t"),
                                 .series = &es,
                                 .n_series = 1,
                                 .ooo_window_ms = DAY};
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_entry_metrics_encode(&m, &b), 0);
    struct tr_shard_id id = {TR_SIGNAL_METRICS, ts - ts % DAY, 0};
    struct tr_apply_result res;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_storage_shard_apply(s, &id, at ? at : ++idx, b.data, b.len,
                                        &res, err),
                 0, "%s", err);
    tr_buf_free(&b);
    free(ex);
    free(el);
    free(tv);
}

/* The exemplars of m{} in [mint, maxt]: their times into out. */
static size_t get(struct tr_storage *s,
                  int64_t mint,
                  int64_t maxt,
                  int64_t *out,
                  size_t cap)
{
    struct tr_matcher mt;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_matcher_init(&mt, TR_MATCH_EQ, "__name__", "m", 1, err), 0);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_exemplar_series *v;
    size_t n;
    cr_assert_eq(tr_storage_exemplars(s, TR_SLICE_LIT("t"), &mt, 1, mint, maxt,
                                      NULL, 0, &a, &v, &n, err),
                 0, "%s", err);
    size_t k = 0;
    cr_assert_leq(n, 1);
    for (size_t i = 0; n == 1 && i < v[0].n && k < cap; i++) {
        char want[32];
        snprintf(want, sizeof(want), "t%lld", (long long)v[0].ex[i].ts);
        cr_expect_eq(v[0].ex[i].value, (double)v[0].ex[i].ts);
        cr_expect(v[0].ex[i].n_labels == 1 &&
                  tr_slice_eq_cstr(v[0].ex[i].labels[0].value, want));
        out[k++] = v[0].ex[i].ts;
    }
    tr_matcher_free(&mt);
    tr_arena_free(&a);
    return k;
}

TestSuite(exemplars_store, .init = setup, .fini = teardown);

Test(exemplars_store, newest_64_kept_in_any_order_and_again)
{
    struct tr_storage *s = open_store();
    int64_t base = 10 * DAY;
    /* 100 exemplars in three entries, newest first, then again */
    put(s, base + 1, base + 60, 40, 0);
    put(s, base + 2, base + 0, 30, 0);
    put(s, base + 3, base + 30, 30, 0);
    int64_t got[200];
    size_t n = get(s, base, base + DAY - 1, got, 200);
    cr_assert_eq(n, TR_EXEMPLARS_PER_SERIES);
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(got[i], base + 36 + (int64_t)i);
    }
    put(s, base + 4, base + 0, 100, 0); /* everything again */
    cr_expect_eq(get(s, base, base + DAY - 1, got, 200), 64);
    cr_expect_eq(got[0], base + 36);
    /* time filter */
    n = get(s, base + 90, base + 95, got, 200);
    cr_assert_eq(n, 6);
    cr_expect_eq(got[0], base + 90);
    /* a second window of the same series: merged in one item */
    put(s, base + DAY + 1, base + DAY, 2, 0);
    n = get(s, base, base + 2 * DAY, got, 200);
    cr_expect_eq(n, 66);
    tr_storage_close(s);
    /* reopened: the same */
    s = open_store();
    cr_expect_eq(get(s, base, base + 2 * DAY, got, 200), 66);
    tr_storage_close(s);
}

/* Two stores given the same exemplars in another order, one of them with
 * entries applied twice (a replay), end with the same exemplars. */
Test(exemplars_store, order_and_replay_do_not_matter)
{
    int64_t base = 20 * DAY;
    int64_t a[200], b[200];
    struct tr_storage *s = open_store();
    put(s, base, base + 0, 50, 0);
    put(s, base, base + 50, 50, 0);
    size_t na = get(s, base, base + DAY - 1, a, 200);
    tr_storage_close(s);
    teardown();
    setup();
    s = open_store();
    put(s, base, base + 50, 50, 0);
    put(s, base, base + 0, 50, 0);
    put(s, base, base + 50, 50, 0);
    size_t nb = get(s, base, base + DAY - 1, b, 200);
    tr_storage_close(s);
    cr_assert_eq(na, nb);
    cr_expect(memcmp(a, b, na * sizeof(a[0])) == 0);
}
