/* Tests for storage/storage.c, head.c, select.c: append, duplicates,
 * out-of-order, windows, matchers, label APIs, crash recovery. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/par.h"
#include "storage/entry.h"
#include "storage/storage.h"

#define HOUR (3600 * 1000LL)
#define DAY (24 * HOUR)

static char st_dir[256];
static uint64_t st_index; /* the "Raft log" index of the last entry */

static struct tr_storage *st_open(uint64_t max_series)
{
    struct tr_storage_config c = {
        .version = 1,
        .data_dir = st_dir,
        .cache_bytes = 8 << 20,
        .window_ms = DAY,
        .ooo_window_ms = HOUR,
        .chunk_max_ms = 2 * HOUR,
        .max_series = max_series,
    };
    struct tr_storage *s = NULL;
    char err[TR_ERRMSG_SIZE];
    int rv = tr_storage_open(&c, &s, err);
    cr_assert_eq(rv, 0, "open: %s", err);
    return s;
}

static void st_setup(void)
{
    st_index = 0;
    snprintf(st_dir, sizeof(st_dir), "/tmp/triad-test-storage-%d", getpid());
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", st_dir);
    cr_assert_eq(system(cmd), 0);
}

static void st_teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", st_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cleanup failed\n");
    }
}

static int64_t st_window(int64_t t)
{
    int64_t q = t / DAY;
    if (t % DAY != 0 && t < 0) {
        q--;
    }
    return q * DAY;
}

/* Applies one series "name{k=v}" with samples (all in one window) as the
 * next entry of shard (window of ts[0], slot 0); returns the result. */
static struct tr_apply_result st_put(struct tr_storage *s,
                                     const char *tenant,
                                     const char *name,
                                     const char *k,
                                     const char *v,
                                     const int64_t *ts,
                                     const double *vs,
                                     size_t n)
{
    struct tr_label ls[2] = {
        {TR_SLICE_LIT("__name__"), tr_slice_cstr(name)},
        {tr_slice_cstr(k), tr_slice_cstr(v)},
    };
    tr_labels_sort(ls, 2);
    struct tr_entry_series es = {
        .labels = ls, .n_labels = 2, .ts = ts, .vs = vs, .n_samples = n};
    struct tr_entry_metrics m = {
        .tenant = tr_slice_cstr(tenant), .series = &es, .n_series = 1};
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_entry_metrics_encode(&m, &b), 0);
    struct tr_apply_result res;
    char err[TR_ERRMSG_SIZE];
    int rv = tr_storage_shard_apply(s, st_window(ts[0]), 0, ++st_index, b.data,
                                    b.len, &res, err);
    cr_assert_eq(rv, 0, "apply: %s", err);
    tr_buf_free(&b);
    return res;
}

static struct tr_select_result st_select(struct tr_storage *s,
                                         const char *tenant,
                                         enum tr_match_type t,
                                         const char *lname,
                                         const char *val,
                                         int64_t mint,
                                         int64_t maxt)
{
    const struct tr_select_source *src = tr_storage_source(s);
    struct tr_matcher m;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_matcher_init(&m, t, lname, val, strlen(val), err), 0);
    struct tr_select_hints h = {.mint = mint, .maxt = maxt};
    struct tr_select_result r;
    int rv = src->select(src->impl, tr_slice_cstr(tenant), &m, 1, &h, &r, err);
    cr_assert_eq(rv, 0, "select: %s", err);
    tr_matcher_free(&m);
    return r;
}

/* Series count of a select with two matchers (type, name, value each). */
static size_t st_count2(struct tr_storage *s,
                        enum tr_match_type t1,
                        const char *n1,
                        const char *v1,
                        enum tr_match_type t2,
                        const char *n2,
                        const char *v2,
                        int64_t t)
{
    const struct tr_select_source *src = tr_storage_source(s);
    struct tr_matcher m[2];
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_matcher_init(&m[0], t1, n1, v1, strlen(v1), err), 0);
    cr_assert_eq(tr_matcher_init(&m[1], t2, n2, v2, strlen(v2), err), 0);
    struct tr_select_hints h = {.mint = t - DAY, .maxt = t + DAY};
    struct tr_select_result r;
    cr_assert_eq(src->select(src->impl, TR_SLICE_LIT("t"), m, 2, &h, &r, err),
                 0, "select: %s", err);
    size_t n = r.n_series;
    tr_select_result_free(&r);
    tr_matcher_free(&m[0]);
    tr_matcher_free(&m[1]);
    return n;
}

TestSuite(storage, .init = st_setup, .fini = st_teardown);

Test(storage, append_and_read_back_bit_exact)
{
    struct tr_storage *s = st_open(0);
    int64_t base = 1700000000000LL;
    int64_t ts[300];
    double vs[300];
    for (int i = 0; i < 300; i++) {
        ts[i] = base + i * 15000;
        vs[i] = i * 1.5;
    }
    uint64_t stale = 0x7ff0000000000002ULL;
    memcpy(&vs[299], &stale, 8);
    struct tr_apply_result r = st_put(s, "t1", "up", "job", "a", ts, vs, 300);
    cr_assert_eq(r.samples_appended, 300);
    cr_assert_eq(r.series_created, 1);
    struct tr_select_result q =
        st_select(s, "t1", TR_MATCH_EQ, "job", "a", base, base + DAY);
    cr_assert_eq(q.n_series, 1);
    cr_assert_eq(q.series[0].n_samples, 300);
    for (int i = 0; i < 300; i++) {
        cr_assert_eq(q.series[0].samples[i].t, ts[i]);
        cr_assert_eq(memcmp(&q.series[0].samples[i].v, &vs[i], 8), 0, "i=%d",
                     i);
    }
    /* time range restricts samples */
    tr_select_result_free(&q);
    q = st_select(s, "t1", TR_MATCH_EQ, "job", "a", ts[10], ts[19]);
    cr_assert_eq(q.series[0].n_samples, 10);
    tr_select_result_free(&q);
    /* tenant isolation */
    q = st_select(s, "t2", TR_MATCH_EQ, "job", "a", base, base + DAY);
    cr_assert_eq(q.n_series, 0);
    tr_select_result_free(&q);
    tr_storage_close(s);
}

Test(storage, duplicates_and_out_of_order)
{
    struct tr_storage *s = st_open(0);
    int64_t base = 1700000000000LL;
    int64_t ts[3] = {base + 60000, base + 120000, base + 180000};
    double vs[3] = {1, 2, 3};
    st_put(s, "t", "m", "k", "v", ts, vs, 3);
    /* exact duplicate: no-op */
    struct tr_apply_result r = st_put(s, "t", "m", "k", "v", ts, vs, 3);
    cr_assert_eq(r.samples_duplicate, 3);
    cr_assert_eq(r.samples_rejected, 0);
    /* same timestamp, other value */
    double other = 9;
    r = st_put(s, "t", "m", "k", "v", &ts[1], &other, 1);
    cr_assert_eq(r.samples_rejected, 1);
    cr_assert_eq(r.first_error, TR_EDUP);
    cr_assert(strstr(r.errmsg, "duplicate sample for timestamp") != NULL);
    /* out of order inside the window: accepted, read back sorted */
    int64_t t_ooo = base + 90000;
    double v_ooo = 1.5;
    r = st_put(s, "t", "m", "k", "v", &t_ooo, &v_ooo, 1);
    cr_assert_eq(r.samples_appended, 1);
    /* a duplicate of the out-of-order sample is a no-op too */
    r = st_put(s, "t", "m", "k", "v", &t_ooo, &v_ooo, 1);
    cr_assert_eq(r.samples_duplicate, 1);
    /* older than the out-of-order window */
    int64_t t_old = base + 180000 - 2 * HOUR;
    r = st_put(s, "t", "m", "k", "v", &t_old, &v_ooo, 1);
    cr_assert_eq(r.first_error, TR_ETOOOLD);
    struct tr_select_result q =
        st_select(s, "t", TR_MATCH_EQ, "k", "v", base, base + DAY);
    cr_assert_eq(q.series[0].n_samples, 4);
    cr_assert_eq(q.series[0].samples[1].t, t_ooo);
    cr_assert_eq(q.series[0].samples[2].v, 2);
    tr_select_result_free(&q);
    /* survives a flush (chunks persisted, out-of-order chunk too) */
    cr_assert_eq(tr_storage_flush(s), 0);
    q = st_select(s, "t", TR_MATCH_EQ, "k", "v", base, base + DAY);
    cr_assert_eq(q.series[0].n_samples, 4);
    cr_assert_eq(q.series[0].samples[1].t, t_ooo);
    tr_select_result_free(&q);
    r = st_put(s, "t", "m", "k", "v", &ts[1], &other, 1);
    cr_assert_eq(r.first_error, TR_EDUP, "dup check must see flushed chunks");
    tr_storage_close(s);
}

Test(storage, windows_merge_into_one_series)
{
    struct tr_storage *s = st_open(0);
    int64_t day0 = 1700006400000LL - (1700006400000LL % DAY);
    int64_t ts[4] = {day0 + DAY - 30000, day0 + DAY - 15000, day0 + DAY,
                     day0 + DAY + 15000};
    double vs[4] = {1, 2, 3, 4};
    st_put(s, "t", "m", "k", "v", ts, vs, 2);
    st_put(s, "t", "m", "k", "v", ts + 2, vs + 2, 2);
    struct tr_select_result q =
        st_select(s, "t", TR_MATCH_RE, "__name__", "m|x", day0, day0 + 3 * DAY);
    cr_assert_eq(q.n_series, 1);
    cr_assert_eq(q.series[0].n_samples, 4);
    tr_select_result_free(&q);
    /* a sample before the shard's window is rejected (routing error) */
    int64_t wrong[2] = {ts[2], ts[0]};
    double wrong_v[2] = {vs[2], vs[0]};
    struct tr_apply_result r = st_put(s, "t", "m", "k", "v", wrong, wrong_v, 2);
    cr_assert_eq(r.samples_duplicate, 1);
    cr_assert_eq(r.samples_rejected, 1);
    tr_storage_close(s);
}

Test(storage, matchers_and_label_apis)
{
    struct tr_storage *s = st_open(0);
    int64_t t = 1700000000000LL;
    double v = 1;
    st_put(s, "t", "a", "job", "x", &t, &v, 1);
    st_put(s, "t", "a", "job", "y", &t, &v, 1);
    st_put(s, "t", "b", "env", "prod", &t, &v, 1);
    struct tr_select_result q =
        st_select(s, "t", TR_MATCH_NEQ, "job", "x", t - DAY, t + DAY);
    cr_assert_eq(q.n_series, 2, "job!=x keeps series without job");
    tr_select_result_free(&q);
    q = st_select(s, "t", TR_MATCH_RE, "job", ".+", t - DAY, t + DAY);
    cr_assert_eq(q.n_series, 2);
    tr_select_result_free(&q);
    q = st_select(s, "t", TR_MATCH_NRE, "job", "x|y", t - DAY, t + DAY);
    cr_assert_eq(q.n_series, 1);
    cr_assert(tr_slice_eq_cstr(q.series[0].labels[0].name, "__name__"));
    cr_assert(tr_slice_eq_cstr(q.series[0].labels[0].value, "b"));
    tr_select_result_free(&q);
    q = st_select(s, "t", TR_MATCH_EQ, "job", "", t - DAY, t + DAY);
    cr_assert_eq(q.n_series, 1, "job=\"\" means no job label");
    tr_select_result_free(&q);
    /* an exact matcher narrows the candidates; the others are checked on
     * their labels (a missing label is "") */
    cr_assert_eq(
        st_count2(s, TR_MATCH_EQ, "__name__", "a", TR_MATCH_NEQ, "job", "x", t),
        1);
    cr_assert_eq(st_count2(s, TR_MATCH_EQ, "__name__", "a", TR_MATCH_RE, "job",
                           ".*y", t),
                 1);
    cr_assert_eq(st_count2(s, TR_MATCH_EQ, "__name__", "a", TR_MATCH_RE, "job",
                           "x|z", t),
                 1);
    cr_assert_eq(
        st_count2(s, TR_MATCH_EQ, "__name__", "a", TR_MATCH_EQ, "job", "", t),
        0);
    cr_assert_eq(
        st_count2(s, TR_MATCH_EQ, "__name__", "b", TR_MATCH_EQ, "job", "", t),
        1);
    cr_assert_eq(st_count2(s, TR_MATCH_RE, "__name__", "a|b", TR_MATCH_NRE,
                           "env", "pr.*", t),
                 2);
    cr_assert_eq(st_count2(s, TR_MATCH_RE, "__name__", "a|b", TR_MATCH_RE,
                           "env", "pr.*", t),
                 1);
    cr_assert_eq(st_count2(s, TR_MATCH_EQ, "__name__", "b", TR_MATCH_NEQ, "env",
                           "prod", t),
                 0);

    const struct tr_select_source *src = tr_storage_source(s);
    struct tr_select_hints h = {.mint = t - DAY, .maxt = t + DAY};
    struct tr_string_list l;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(
        src->label_names(src->impl, TR_SLICE_LIT("t"), NULL, 0, &h, &l, err),
        0);
    cr_assert_eq(l.n, 3);
    cr_assert(tr_slice_eq_cstr(l.items[0], "__name__"));
    cr_assert(tr_slice_eq_cstr(l.items[1], "env"));
    cr_assert(tr_slice_eq_cstr(l.items[2], "job"));
    tr_string_list_free(&l);
    cr_assert_eq(src->label_values(src->impl, TR_SLICE_LIT("t"),
                                   TR_SLICE_LIT("job"), NULL, 0, &h, &l, err),
                 0);
    cr_assert_eq(l.n, 2);
    cr_assert(tr_slice_eq_cstr(l.items[1], "y"));
    tr_string_list_free(&l);
    h.limit = 1;
    cr_assert_eq(
        src->label_values(src->impl, TR_SLICE_LIT("t"),
                          TR_SLICE_LIT("__name__"), NULL, 0, &h, &l, err),
        0);
    cr_assert_eq(l.n, 1);
    cr_assert(l.truncated);
    tr_string_list_free(&l);
    tr_storage_close(s);
}

Test(storage, series_limit)
{
    struct tr_storage *s = st_open(2);
    int64_t t = 1700000000000LL;
    double v = 1;
    st_put(s, "t", "a", "i", "1", &t, &v, 1);
    st_put(s, "t", "a", "i", "2", &t, &v, 1);
    struct tr_apply_result r = st_put(s, "t", "a", "i", "3", &t, &v, 1);
    cr_assert_eq(r.first_error, TR_ELIMIT);
    cr_assert(strstr(r.errmsg, "series limit") != NULL);
    /* other tenants are not affected */
    r = st_put(s, "u", "a", "i", "3", &t, &v, 1);
    cr_assert_eq(r.samples_appended, 1);
    tr_storage_close(s);
}

/* A child process applies entries and dies without closing (as kill -9
 * would); the parent reopens: the applied index is the last checkpoint, and
 * re-applying the log after it (as Raft replays) restores everything. */
static void st_round(struct tr_storage *s,
                     int64_t base,
                     int round,
                     uint64_t index)
{
    int64_t ts[50];
    double vs[50];
    for (int i = 0; i < 50; i++) {
        ts[i] = base + (round * 50 + i) * 1000;
        vs[i] = round * 50 + i;
    }
    st_index = index - 1;
    st_put(s, "t", "m", "k", "v", ts, vs, 50);
}

Test(storage, crash_recovery_replays_log)
{
    int64_t base = 1700000000000LL;
    int64_t w = st_window(base);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct tr_storage *s = st_open(0);
        for (int round = 0; round < 5; round++) {
            st_round(s, base, round, (uint64_t)round + 1);
            if (round == 2) {
                uint64_t idx;
                tr_storage_shard_checkpoint(s, w, 0, &idx);
            }
        }
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct tr_storage *s = st_open(0);
    cr_assert_eq(tr_storage_shard_applied(s, w, 0, true), 3);
    /* Raft replays from the snapshot: entries 1..3 are skipped, 4..5 apply */
    for (int round = 0; round < 5; round++) {
        st_round(s, base, round, (uint64_t)round + 1);
    }
    cr_assert_eq(tr_storage_shard_applied(s, w, 0, false), 5);
    struct tr_select_result q =
        st_select(s, "t", TR_MATCH_EQ, "k", "v", base, base + DAY);
    cr_assert_eq(q.n_series, 1);
    cr_assert_eq(q.series[0].n_samples, 250);
    for (int i = 0; i < 250; i++) {
        cr_assert_eq(q.series[0].samples[i].t, base + i * 1000);
        cr_assert_eq(q.series[0].samples[i].v, i);
    }
    tr_select_result_free(&q);
    /* appending continues; duplicates stay no-ops */
    int64_t t2 = base + 250 * 1000;
    double v2 = 250;
    st_index = 5;
    struct tr_apply_result r = st_put(s, "t", "m", "k", "v", &t2, &v2, 1);
    cr_assert_eq(r.samples_appended, 1);
    int64_t t1 = base + 10 * 1000;
    double v1 = 10;
    r = st_put(s, "t", "m", "k", "v", &t1, &v1, 1);
    cr_assert_eq(r.samples_duplicate, 1);
    tr_storage_close(s);
    s = st_open(0);
    cr_assert_eq(tr_storage_shard_applied(s, w, 0, true), 7);
    q = st_select(s, "t", TR_MATCH_EQ, "k", "v", base, base + DAY);
    cr_assert_eq(q.series[0].n_samples, 251);
    tr_select_result_free(&q);
    tr_storage_close(s);
}

/* Two replicas applying the same entries hold byte-identical shards, and a
 * dump of one loads into another (checksummed). */
Test(storage, determinism_and_copy)
{
    char dirs[2][300];
    struct tr_storage *ss[2];
    int64_t base = 1700000000000LL;
    int64_t w = st_window(base);
    for (int r = 0; r < 2; r++) {
        snprintf(dirs[r], sizeof(dirs[r]), "%s/r%d", st_dir, r);
        struct tr_storage_config c = {.version = 1,
                                      .data_dir = dirs[r],
                                      .cache_bytes = 8 << 20,
                                      .window_ms = DAY,
                                      .ooo_window_ms = HOUR};
        char err[TR_ERRMSG_SIZE];
        cr_assert_eq(tr_storage_open(&c, &ss[r], err), 0, "%s", err);
        for (int round = 0; round < 6; round++) {
            st_round(ss[r], base, round, (uint64_t)round * 2 + 1);
            /* out-of-order samples (t = 500, 1500, 2500 are new) and
             * conflicting ones (t = 0, 1000, 2000 exist with other values) */
            int64_t t = base + round * 500;
            double v = 7;
            st_put(ss[r], "t", "m", "k", "v", &t, &v, 1);
        }
        uint64_t idx;
        cr_assert_eq(tr_storage_shard_checkpoint(ss[r], w, 0, &idx), 0);
        cr_assert_eq(idx, 12);
    }
    uint64_t c0 = tr_storage_shard_checksum(ss[0], w, 0);
    cr_assert_eq(c0, tr_storage_shard_checksum(ss[1], w, 0));
    struct tr_buf dump;
    tr_buf_init(&dump);
    cr_assert_eq(tr_storage_shard_dump(ss[0], w, 0, &dump), 0);
    /* a corrupted dump is refused and changes nothing */
    dump.data[dump.len / 2] ^= 1;
    uint64_t idx = 0;
    cr_assert_eq(tr_storage_shard_load(ss[1], w, 0, dump.data, dump.len, &idx),
                 TR_ECORRUPT);
    dump.data[dump.len / 2] ^= 1;
    cr_assert_eq(tr_storage_shard_drop(ss[1], w, 0), 0);
    cr_assert_neq(tr_storage_shard_checksum(ss[1], w, 0), c0);
    cr_assert_eq(tr_storage_shard_load(ss[1], w, 0, dump.data, dump.len, &idx),
                 0);
    cr_assert_eq(idx, 12);
    cr_assert_eq(tr_storage_shard_checksum(ss[1], w, 0), c0);
    cr_assert_eq(tr_storage_shard_applied(ss[1], w, 0, true), 12);
    struct tr_select_result q =
        st_select(ss[1], "t", TR_MATCH_EQ, "k", "v", base, base + DAY);
    cr_assert_eq(q.series[0].n_samples, 300 + 3);
    tr_select_result_free(&q);
    tr_buf_free(&dump);
    tr_storage_close(ss[0]);
    tr_storage_close(ss[1]);
}

/* A select of many series reads pieces of them on lib/par's helper threads
 * (each with its own iterator and arena): same series, same samples, same
 * order as on one thread, across two windows, head and persisted chunks;
 * the sample limit still holds. */
Test(storage, parallel_reads_match_serial)
{
    struct tr_storage *s = st_open(0);
    int64_t base = 1700000000000LL - 1700000000000LL % DAY + DAY - 2 * HOUR;
    int64_t ts[300];
    double vs[300];
    char val[16];
    for (int i = 0; i < 150; i++) {
        snprintf(val, sizeof(val), "%03d", i);
        /* samples before and after the window boundary, one apply each */
        for (int w = 0; w < 2; w++) {
            int n = 0;
            for (int k = 0; k < 150; k++) {
                int64_t t = base + (int64_t)(w * 150 + k) * 48000;
                if ((t >= base + 2 * HOUR) != (w == 1)) {
                    continue;
                }
                ts[n] = t;
                vs[n++] = i * 1000 + w * 150 + k;
            }
            if (n > 0) {
                st_put(s, "t", "m", "i", val, ts, vs, (size_t)n);
            }
        }
    }
    const struct tr_select_source *src = tr_storage_source(s);
    struct tr_matcher m;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_EQ, "__name__", "m", 1, err), 0);
    struct tr_select_hints h = {.mint = base, .maxt = base + DAY};
    struct tr_select_result serial, par;
    cr_assert_eq(
        src->select(src->impl, TR_SLICE_LIT("t"), &m, 1, &h, &serial, err), 0);
    cr_assert_eq(serial.n_series, 150);
    cr_assert_eq(tr_par_start(3), 0);
    cr_assert_eq(
        src->select(src->impl, TR_SLICE_LIT("t"), &m, 1, &h, &par, err), 0,
        "%s", err);
    cr_assert_eq(par.n_series, serial.n_series);
    for (size_t i = 0; i < par.n_series; i++) {
        const struct tr_series_data *a = &serial.series[i], *b = &par.series[i];
        cr_assert_eq(
            tr_labels_cmp(a->labels, a->n_labels, b->labels, b->n_labels), 0);
        cr_assert_eq(a->n_samples, b->n_samples, "series %zu", i);
        cr_assert_eq(a->n_samples, 300, "series %zu", i);
        cr_assert_eq(
            memcmp(a->samples, b->samples, a->n_samples * sizeof(*a->samples)),
            0);
    }
    tr_select_result_free(&par);
    h.max_samples = 1000;
    cr_assert_eq(
        src->select(src->impl, TR_SLICE_LIT("t"), &m, 1, &h, &par, err),
        TR_ELIMIT);
    cr_assert(strstr(err, "too many samples") != NULL, "%s", err);
    tr_par_stop();
    tr_select_result_free(&serial);
    tr_matcher_free(&m);
    tr_storage_close(s);
}
