/* Tests for storage/storage.c, head.c, select.c, metadata.c: append,
 * duplicates, out-of-order (window carried by the entry), windows,
 * matchers, label APIs, crash recovery, copy, series admission and the
 * replicated series count ('N'), metadata in the shards' key ranges, the
 * upgrade of applied-index keys written before shard ids carried their
 * signal, and reset of non-durable state. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/par.h"
#include "storage/entry.h"
#include "storage/keys.h"
#include "storage/storage.h"

#define HOUR (3600 * 1000LL)
#define DAY (24 * HOUR)

static char st_dir[256];
static uint64_t st_index; /* the "Raft log" index of the last entry */

static struct tr_storage *st_open_dir(const char *dir)
{
    struct tr_storage_config c = {
        .version = 1,
        .data_dir = dir,
        .cache_bytes = 8 << 20,
        .window_ms = DAY,
        .chunk_max_ms = 2 * HOUR,
    };
    struct tr_storage *s = NULL;
    char err[TR_ERRMSG_SIZE];
    int rv = tr_storage_open(&c, &s, err);
    cr_assert_eq(rv, 0, "open: %s", err);
    return s;
}

static struct tr_storage *st_open(void)
{
    return st_open_dir(st_dir);
}

static struct tr_shard_id st_id(int64_t window, uint16_t slot)
{
    return (struct tr_shard_id){
        .signal = TR_SIGNAL_METRICS, .window = window, .slot = slot};
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

/* Applies m (out-of-order window 1 h unless set) as the next entry of
 * shard id; returns the result. */
static struct tr_apply_result st_apply(struct tr_storage *s,
                                       const struct tr_shard_id *id,
                                       struct tr_entry_metrics *m)
{
    if (m->ooo_window_ms == 0) {
        m->ooo_window_ms = HOUR;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_entry_metrics_encode(m, &b), 0);
    struct tr_apply_result res;
    char err[TR_ERRMSG_SIZE];
    int rv =
        tr_storage_shard_apply(s, id, ++st_index, b.data, b.len, &res, err);
    cr_assert_eq(rv, 0, "apply: %s", err);
    cr_assert_eq(res.index, st_index);
    tr_buf_free(&b);
    return res;
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
    struct tr_shard_id id = st_id(st_window(ts[0]), 0);
    return st_apply(s, &id, &m);
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
    struct tr_storage *s = st_open();
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
    cr_assert_eq(r.appended, 300);
    cr_assert_eq(r.created, 1);
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
    struct tr_storage *s = st_open();
    int64_t base = 1700000000000LL;
    int64_t ts[3] = {base + 60000, base + 120000, base + 180000};
    double vs[3] = {1, 2, 3};
    st_put(s, "t", "m", "k", "v", ts, vs, 3);
    /* exact duplicate: no-op */
    struct tr_apply_result r = st_put(s, "t", "m", "k", "v", ts, vs, 3);
    cr_assert_eq(r.duplicate, 3);
    cr_assert_eq(r.rejected, 0);
    /* same timestamp, other value */
    double other = 9;
    r = st_put(s, "t", "m", "k", "v", &ts[1], &other, 1);
    cr_assert_eq(r.rejected, 1);
    cr_assert_eq(r.first_error, TR_EDUP);
    cr_assert(strstr(r.errmsg, "duplicate sample for timestamp") != NULL);
    /* out of order inside the window: accepted, read back sorted */
    int64_t t_ooo = base + 90000;
    double v_ooo = 1.5;
    r = st_put(s, "t", "m", "k", "v", &t_ooo, &v_ooo, 1);
    cr_assert_eq(r.appended, 1);
    /* a duplicate of the out-of-order sample is a no-op too */
    r = st_put(s, "t", "m", "k", "v", &t_ooo, &v_ooo, 1);
    cr_assert_eq(r.duplicate, 1);
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
    struct tr_storage *s = st_open();
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
    cr_assert_eq(r.duplicate, 1);
    cr_assert_eq(r.rejected, 1);
    tr_storage_close(s);
}

Test(storage, matchers_and_label_apis)
{
    struct tr_storage *s = st_open();
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
    struct tr_shard_id id = st_id(st_window(base), 0);
    const struct tr_shard_id *w = &id;
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct tr_storage *s = st_open();
        for (int round = 0; round < 5; round++) {
            st_round(s, base, round, (uint64_t)round + 1);
            if (round == 2) {
                uint64_t idx;
                tr_storage_shard_checkpoint(s, w, &idx);
            }
        }
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct tr_storage *s = st_open();
    cr_assert_eq(tr_storage_shard_applied(s, w, true), 3);
    /* Raft replays from the snapshot: entries 1..3 are skipped, 4..5 apply */
    for (int round = 0; round < 5; round++) {
        st_round(s, base, round, (uint64_t)round + 1);
    }
    cr_assert_eq(tr_storage_shard_applied(s, w, false), 5);
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
    cr_assert_eq(r.appended, 1);
    int64_t t1 = base + 10 * 1000;
    double v1 = 10;
    r = st_put(s, "t", "m", "k", "v", &t1, &v1, 1);
    cr_assert_eq(r.duplicate, 1);
    tr_storage_close(s);
    s = st_open();
    cr_assert_eq(tr_storage_shard_applied(s, w, true), 7);
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
    struct tr_shard_id id = st_id(st_window(base), 0);
    const struct tr_shard_id *w = &id;
    for (int r = 0; r < 2; r++) {
        snprintf(dirs[r], sizeof(dirs[r]), "%s/r%d", st_dir, r);
        ss[r] = st_open_dir(dirs[r]);
        for (int round = 0; round < 6; round++) {
            st_round(ss[r], base, round, (uint64_t)round * 2 + 1);
            /* out-of-order samples (t = 500, 1500, 2500 are new) and
             * conflicting ones (t = 0, 1000, 2000 exist with other values) */
            int64_t t = base + round * 500;
            double v = 7;
            st_put(ss[r], "t", "m", "k", "v", &t, &v, 1);
        }
        uint64_t idx;
        cr_assert_eq(tr_storage_shard_checkpoint(ss[r], w, &idx), 0);
        cr_assert_eq(idx, 12);
    }
    uint64_t c0 = tr_storage_shard_checksum(ss[0], w);
    cr_assert_eq(c0, tr_storage_shard_checksum(ss[1], w));
    struct tr_buf dump;
    tr_buf_init(&dump);
    cr_assert_eq(tr_storage_shard_dump(ss[0], w, &dump), 0);
    /* a corrupted dump is refused and changes nothing */
    dump.data[dump.len / 2] ^= 1;
    uint64_t idx = 0;
    cr_assert_eq(tr_storage_shard_load(ss[1], w, dump.data, dump.len, &idx),
                 TR_ECORRUPT);
    dump.data[dump.len / 2] ^= 1;
    cr_assert_eq(tr_storage_shard_drop(ss[1], w), 0);
    cr_assert_neq(tr_storage_shard_checksum(ss[1], w), c0);
    cr_assert_eq(tr_storage_shard_load(ss[1], w, dump.data, dump.len, &idx), 0);
    cr_assert_eq(idx, 12);
    cr_assert_eq(tr_storage_shard_checksum(ss[1], w), c0);
    cr_assert_eq(tr_storage_shard_applied(ss[1], w, true), 12);
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
    struct tr_storage *s = st_open();
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

/* ---- series admission and the replicated series count ('N') ------------ */

/* Canonical label set of a{i=v} in out. */
static struct tr_slice st_labels(struct tr_buf *out, const char *v)
{
    struct tr_label ls[2] = {
        {TR_SLICE_LIT("__name__"), TR_SLICE_LIT("a")},
        {TR_SLICE_LIT("i"), tr_slice_cstr(v)},
    };
    tr_buf_reset(out);
    cr_assert_eq(tr_labels_encode(ls, 2, out), 0);
    return (struct tr_slice){out->data, out->len};
}

/* tr_storage_series_admit for a{i="1"}, a{i="2"}, a{i="3"}: the three
 * is_new flags as a string ("nny") and the count. */
static uint64_t st_admit(struct tr_storage *s,
                         const struct tr_shard_id *id,
                         const char *tenant,
                         char news[4])
{
    struct tr_buf b[3];
    struct tr_slice ls[3];
    static const char *const vals[3] = {"1", "2", "3"};
    for (int i = 0; i < 3; i++) {
        tr_buf_init(&b[i]);
        ls[i] = st_labels(&b[i], vals[i]);
    }
    bool is_new[3] = {false, false, false};
    uint64_t ids[3] = {1, 1, 1};
    uint64_t count = 12345;
    cr_assert_eq(tr_storage_series_admit(s, id, tr_slice_cstr(tenant), ls, 3,
                                         is_new, ids, &count),
                 0);
    for (int i = 0; i < 3; i++) {
        news[i] = is_new[i] ? 'y' : 'n';
        /* an existing series has its id: its labels' hash (no collision
         * among these) */
        if (!is_new[i]) {
            cr_assert_eq(ids[i], tr_labels_hash(ls[i].base, ls[i].len));
        }
        tr_buf_free(&b[i]);
    }
    news[3] = '\0';
    return count;
}

static void st_admit_eq(struct tr_storage *s,
                        const struct tr_shard_id *id,
                        const char *tenant,
                        char news[4],
                        uint64_t want)
{
    uint64_t got = st_admit(s, id, tenant, news);
    cr_assert_eq(got, want, "count %llu, want %llu", (unsigned long long)got,
                 (unsigned long long)want);
}

/* The stored 'N' key of the tenant in the shard, or -1 when absent. */
static int64_t st_count_key(struct tr_storage *s,
                            const struct tr_shard_id *id,
                            const char *tenant)
{
    struct tr_buf k, v;
    tr_buf_init(&k);
    tr_buf_init(&v);
    tr_key_shard_prefix(&k, tr_slice_cstr(tenant), id->window, id->slot,
                        TR_KEY_COUNT);
    int rv =
        tr_engine_get(tr_storage_engine(s), TR_CF_METRICS, k.data, k.len, &v);
    int64_t n = -1;
    if (rv == 0) {
        cr_assert_eq(v.len, 8);
        n = (int64_t)tr_get_u64be(v.data);
    } else {
        cr_assert_eq(rv, TR_ENOTFOUND);
    }
    tr_buf_free(&k);
    tr_buf_free(&v);
    return n;
}

Test(storage, series_admit_is_new_and_count)
{
    struct tr_storage *s = st_open();
    int64_t t = 1700000000000LL;
    double v = 1;
    struct tr_shard_id id = st_id(st_window(t), 0);
    char news[4];
    st_admit_eq(s, &id, "t", news, 0);
    cr_assert_str_eq(news, "yyy");
    cr_assert_eq(st_count_key(s, &id, "t"), -1);

    struct tr_apply_result r = st_put(s, "t", "a", "i", "1", &t, &v, 1);
    cr_assert_eq(r.created, 1);
    r = st_put(s, "t", "a", "i", "2", &t, &v, 1);
    cr_assert_eq(r.created, 1);
    st_admit_eq(s, &id, "t", news, 2);
    cr_assert_str_eq(news, "nny");
    cr_assert_eq(st_count_key(s, &id, "t"), 2);
    /* more samples of known series: no new series, same count */
    int64_t t2 = t + 15000;
    r = st_put(s, "t", "a", "i", "2", &t2, &v, 1);
    cr_assert_eq(r.created, 0);
    st_admit_eq(s, &id, "t", news, 2);
    /* per tenant and per shard */
    st_admit_eq(s, &id, "u", news, 0);
    cr_assert_str_eq(news, "yyy");
    struct tr_shard_id other = st_id(id.window, 1);
    st_admit_eq(s, &other, "t", news, 0);
    cr_assert_str_eq(news, "yyy");
    struct tr_shard_id next = st_id(id.window + DAY, 0);
    st_admit_eq(s, &next, "t", news, 0);
    /* only metrics shards have series */
    struct tr_shard_id logs = id;
    logs.signal = TR_SIGNAL_LOGS;
    bool is_new;
    uint64_t count, sid;
    struct tr_slice none = TR_SLICE_LIT("");
    cr_assert_eq(tr_storage_series_admit(s, &logs, TR_SLICE_LIT("t"), &none, 1,
                                         &is_new, &sid, &count),
                 TR_EINVAL);

    /* the count survives a restart through the 'N' key (the head is
     * empty after reopening) and goes on from there */
    tr_storage_close(s);
    s = st_open();
    st_admit_eq(s, &id, "t", news, 2);
    cr_assert_str_eq(news, "nny");
    r = st_put(s, "t", "a", "i", "3", &t, &v, 1);
    cr_assert_eq(r.created, 1);
    st_admit_eq(s, &id, "t", news, 3);
    cr_assert_str_eq(news, "nnn");
    cr_assert_eq(st_count_key(s, &id, "t"), 3);
    tr_storage_close(s);
    s = st_open();
    st_admit_eq(s, &id, "t", news, 3);
    tr_storage_close(s);
}

Test(storage, series_count_of_a_shard_without_count_keys)
{
    /* a shard written before the 'N' key existed: its 'S' keys count */
    struct tr_storage *s = st_open();
    int64_t t = 1700000000000LL;
    double v = 1;
    struct tr_shard_id id = st_id(st_window(t), 0);
    st_put(s, "t", "a", "i", "1", &t, &v, 1);
    st_put(s, "t", "a", "i", "2", &t, &v, 1);
    st_put(s, "t", "b", "i", "1", &t, &v, 1);
    cr_assert_eq(st_count_key(s, &id, "t"), 3);
    tr_storage_close(s);
    s = st_open();
    struct tr_buf k;
    tr_buf_init(&k);
    tr_key_shard_prefix(&k, TR_SLICE_LIT("t"), id.window, id.slot,
                        TR_KEY_COUNT);
    struct tr_wbatch *b = tr_wbatch_new(tr_storage_engine(s));
    tr_wbatch_delete(b, TR_CF_METRICS, k.data, k.len);
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_engine_write(tr_storage_engine(s), b, err), 0, "%s", err);
    tr_wbatch_free(b);
    tr_buf_free(&k);
    tr_storage_close(s);

    s = st_open();
    cr_assert_eq(st_count_key(s, &id, "t"), -1);
    char news[4];
    st_admit_eq(s, &id, "t", news, 3);
    cr_assert_str_eq(news, "nny");
    /* the next new series writes the count, counted from the series keys */
    st_put(s, "t", "a", "i", "3", &t, &v, 1);
    st_admit_eq(s, &id, "t", news, 4);
    cr_assert_eq(st_count_key(s, &id, "t"), 4);
    tr_storage_close(s);
}

/* ---- metadata in the shards' key ranges ---------------------------------- */

static void st_meta(struct tr_storage *s,
                    const char *tenant,
                    const struct tr_shard_id *id,
                    const char *metric,
                    const char *help)
{
    struct tr_entry_meta m = {.type = 1,
                              .metric = tr_slice_cstr(metric),
                              .help = tr_slice_cstr(help),
                              .unit = TR_SLICE_LIT("seconds")};
    struct tr_entry_metrics e = {
        .tenant = tr_slice_cstr(tenant), .meta = &m, .n_meta = 1};
    struct tr_apply_result r = st_apply(s, id, &e);
    cr_assert_eq(r.metadata, 1);
}

/* tr_storage_metadata as "name=help,name=help". */
static void st_meta_list(struct tr_storage *s,
                         const char *tenant,
                         const char *metric,
                         size_t limit,
                         const struct tr_shard_id *shards,
                         size_t n_shards,
                         char *out,
                         size_t cap)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_metadata_item *items = NULL;
    size_t n = 0;
    cr_assert_eq(
        tr_storage_metadata(s, tr_slice_cstr(tenant), tr_slice_cstr(metric),
                            limit, shards, n_shards, &a, &items, &n),
        0);
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(items[i].type, 1);
        cr_assert(tr_slice_eq_cstr(items[i].unit, "seconds"));
        o += (size_t)snprintf(out + o, cap - o, "%s%.*s=%.*s", i ? "," : "",
                              (int)items[i].metric.len, items[i].metric.base,
                              (int)items[i].help.len, items[i].help.base);
        cr_assert_lt(o, cap);
    }
    tr_arena_free(&a);
}

Test(storage, metadata_per_shard_newest_window_wins)
{
    struct tr_storage *s = st_open();
    int64_t w1 = st_window(1700000000000LL), w2 = w1 + DAY;
    struct tr_shard_id a = st_id(w1, 0), b = st_id(w2, 0), c = st_id(w2, 1);
    st_meta(s, "t", &a, "cpu", "old");
    st_meta(s, "t", &a, "mem", "m1");
    st_meta(s, "t", &b, "cpu", "new");
    st_meta(s, "t", &c, "disk", "d");
    st_meta(s, "u", &a, "cpu", "other tenant");
    /* a later record of the same metric in the same shard replaces it */
    st_meta(s, "t", &a, "mem", "m2");
    char out[256];
    for (int round = 0; round < 2; round++) {
        st_meta_list(s, "t", "", 0, NULL, 0, out, sizeof(out));
        cr_assert_str_eq(out, "cpu=new,disk=d,mem=m2");
        struct tr_shard_id l1[] = {a};
        st_meta_list(s, "t", "", 0, l1, 1, out, sizeof(out));
        cr_assert_str_eq(out, "cpu=old,mem=m2");
        struct tr_shard_id l2[] = {b};
        st_meta_list(s, "t", "", 0, l2, 1, out, sizeof(out));
        cr_assert_str_eq(out, "cpu=new");
        struct tr_shard_id l3[] = {c, a};
        st_meta_list(s, "t", "", 0, l3, 2, out, sizeof(out));
        cr_assert_str_eq(out, "cpu=old,disk=d,mem=m2");
        struct tr_shard_id l4[] = {a, c, b};
        st_meta_list(s, "t", "", 0, l4, 3, out, sizeof(out));
        cr_assert_str_eq(out, "cpu=new,disk=d,mem=m2");
        struct tr_shard_id none[] = {st_id(w2 + DAY, 0)};
        st_meta_list(s, "t", "", 0, none, 1, out, sizeof(out));
        cr_assert_str_eq(out, "");
        /* one metric (exact name), a limit, another tenant */
        st_meta_list(s, "t", "cpu", 0, NULL, 0, out, sizeof(out));
        cr_assert_str_eq(out, "cpu=new");
        st_meta_list(s, "t", "cp", 0, NULL, 0, out, sizeof(out));
        cr_assert_str_eq(out, "");
        st_meta_list(s, "t", "cpu", 0, l1, 1, out, sizeof(out));
        cr_assert_str_eq(out, "cpu=old");
        st_meta_list(s, "t", "", 2, NULL, 0, out, sizeof(out));
        cr_assert_str_eq(out, "cpu=new,disk=d");
        st_meta_list(s, "u", "", 0, NULL, 0, out, sizeof(out));
        cr_assert_str_eq(out, "cpu=other tenant");
        st_meta_list(s, "v", "", 0, NULL, 0, out, sizeof(out));
        cr_assert_str_eq(out, "");
        /* stored in RocksDB: the same after a restart */
        tr_storage_close(s);
        s = st_open();
    }
    /* part of the shard: its checksum, and dropped with it */
    uint64_t before = tr_storage_shard_checksum(s, &b);
    st_meta(s, "t", &b, "cpu", "newer");
    cr_assert_neq(tr_storage_shard_checksum(s, &b), before);
    st_meta_list(s, "t", "", 0, NULL, 0, out, sizeof(out));
    cr_assert_str_eq(out, "cpu=newer,disk=d,mem=m2");
    cr_assert_eq(tr_storage_shard_drop(s, &b), 0);
    st_meta_list(s, "t", "", 0, NULL, 0, out, sizeof(out));
    cr_assert_str_eq(out, "cpu=old,disk=d,mem=m2");

    /* records of the meta column family (data directories from before
     * shards held metadata) come after every shard's */
    struct tr_buf k, v;
    tr_buf_init(&k);
    tr_buf_init(&v);
    struct tr_wbatch *wb = tr_wbatch_new(tr_storage_engine(s));
    const char *legacy[][2] = {{"cpu", "legacy"}, {"zzz", "legacy z"}};
    for (int i = 0; i < 2; i++) {
        tr_buf_reset(&k);
        tr_buf_reset(&v);
        tr_key_metadata(&k, TR_SLICE_LIT("t"), tr_slice_cstr(legacy[i][0]));
        tr_buf_putc(&v, 1);
        tr_buf_put_uvarint(&v, strlen(legacy[i][1]));
        tr_buf_puts(&v, legacy[i][1]);
        tr_buf_put_uvarint(&v, 7);
        tr_buf_puts(&v, "seconds");
        tr_wbatch_put(wb, TR_CF_META, k.data, k.len, v.data, v.len);
    }
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_engine_write(tr_storage_engine(s), wb, err), 0);
    tr_wbatch_free(wb);
    tr_buf_free(&k);
    tr_buf_free(&v);
    st_meta_list(s, "t", "", 0, NULL, 0, out, sizeof(out));
    cr_assert_str_eq(out, "cpu=old,disk=d,mem=m2,zzz=legacy z");
    st_meta_list(s, "t", "zzz", 0, NULL, 0, out, sizeof(out));
    cr_assert_str_eq(out, "zzz=legacy z");
    tr_storage_close(s);

    /* tr_metadata_merge: any order of the same items, the same result */
    struct tr_metadata_item items[4] = {
        {TR_SLICE_LIT("b"), 1, TR_SLICE_LIT("x"), TR_SLICE_LIT("")},
        {TR_SLICE_LIT("a"), 2, TR_SLICE_LIT("y"), TR_SLICE_LIT("")},
        {TR_SLICE_LIT("b"), 1, TR_SLICE_LIT("w"), TR_SLICE_LIT("")},
        {TR_SLICE_LIT("a"), 1, TR_SLICE_LIT("z"), TR_SLICE_LIT("")},
    };
    struct tr_metadata_item rev[4] = {items[3], items[2], items[1], items[0]};
    cr_assert_eq(tr_metadata_merge(items, 4, 0), 2);
    cr_assert_eq(tr_metadata_merge(rev, 4, 0), 2);
    for (int i = 0; i < 2; i++) {
        cr_assert(tr_slice_eq(items[i].metric, rev[i].metric));
        cr_assert(tr_slice_eq(items[i].help, rev[i].help));
        cr_assert_eq(items[i].type, rev[i].type);
    }
    cr_assert(tr_slice_eq_cstr(items[0].help, "z"));
    cr_assert(tr_slice_eq_cstr(items[1].help, "w"));
    cr_assert_eq(tr_metadata_merge(rev, 2, 1), 1);
}

/* ---- applied-index keys of data directories without signals ------------- */

Test(storage, upgrades_applied_keys_without_signal)
{
    int64_t w = st_window(1700000000000LL);
    struct tr_storage *s = st_open();
    struct tr_wbatch *b = tr_wbatch_new(tr_storage_engine(s));
    const struct {
        int64_t window;
        uint16_t slot;
        uint64_t applied;
    } old[] = {{w, 0, 42}, {w, 7, 9}, {w - DAY, 0, 1ULL << 40}};
    for (size_t i = 0; i < 3; i++) {
        uint8_t k[11], v[8];
        k[0] = 'A';
        tr_put_u64be(k + 1, tr_key_time(old[i].window));
        tr_put_u16be(k + 9, old[i].slot);
        tr_put_u64be(v, old[i].applied);
        tr_wbatch_put(b, TR_CF_META, k, sizeof(k), v, sizeof(v));
    }
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_engine_write(tr_storage_engine(s), b, err), 0, "%s", err);
    tr_wbatch_free(b);
    tr_storage_close(s);

    for (int round = 0; round < 2; round++) { /* the upgrade is idempotent */
        s = st_open();
        for (size_t i = 0; i < 3; i++) {
            struct tr_shard_id id = st_id(old[i].window, old[i].slot);
            cr_assert_eq(tr_storage_shard_applied(s, &id, true), old[i].applied,
                         "key %zu", i);
            cr_assert_eq(tr_storage_shard_applied(s, &id, false),
                         old[i].applied);
            /* not the logs shard of the same window and slot */
            id.signal = TR_SIGNAL_LOGS;
            cr_assert_eq(tr_storage_shard_applied(s, &id, true), 0);
            /* the old key is gone, the new one holds the index */
            uint8_t k[12];
            k[0] = 'A';
            tr_put_u64be(k + 1, tr_key_time(old[i].window));
            tr_put_u16be(k + 9, old[i].slot);
            struct tr_buf v;
            tr_buf_init(&v);
            cr_assert_eq(
                tr_engine_get(tr_storage_engine(s), TR_CF_META, k, 11, &v),
                TR_ENOTFOUND);
            k[1] = TR_SIGNAL_METRICS;
            tr_put_u64be(k + 2, tr_key_time(old[i].window));
            tr_put_u16be(k + 10, old[i].slot);
            cr_assert_eq(
                tr_engine_get(tr_storage_engine(s), TR_CF_META, k, 12, &v), 0);
            cr_assert_eq(v.len, 8);
            cr_assert_eq(tr_get_u64be(v.data), old[i].applied);
            tr_buf_free(&v);
        }
        /* entries at or below the upgraded index are skipped */
        int64_t t = w + HOUR;
        double val = 1;
        st_index = 41;
        struct tr_apply_result r = st_put(s, "t", "m", "k", "v", &t, &val, 1);
        cr_assert(r.skipped);
        tr_storage_close(s);
    }
}

/* ---- reset of non-durable state ------------------------------------------ */

/* Entry k of a sequence that exercises the head: 4 series of "r" with
 * 40 in-order samples each (chunks fill and are cut), an out-of-order
 * sample and a conflicting one, a new series every other entry, and
 * metadata every third. */
static void st_reset_entry(struct tr_storage *s,
                           const struct tr_shard_id *id,
                           unsigned k,
                           struct tr_apply_result *res,
                           int *rv)
{
    enum { NS = 4, NT = 42 };
    struct tr_label ls[NS + 1][2];
    struct tr_entry_series es[NS + 1];
    int64_t ts[NS + 1][NT];
    double vs[NS + 1][NT];
    char vals[NS + 1][16];
    size_t n_series = 0;
    for (unsigned j = 0; j <= NS; j++) {
        if (j == NS) { /* a new series */
            if (k % 2 != 0) {
                break;
            }
            snprintf(vals[j], sizeof(vals[j]), "new%u", k);
        } else {
            snprintf(vals[j], sizeof(vals[j]), "s%u", j);
        }
        ls[j][0] =
            (struct tr_label){TR_SLICE_LIT("__name__"), TR_SLICE_LIT("r")};
        ls[j][1] = (struct tr_label){TR_SLICE_LIT("i"), tr_slice_cstr(vals[j])};
        size_t n = 0;
        for (unsigned i = 0; i < 40; i++) {
            ts[j][n] = id->window + HOUR + (int64_t)(k * 40 + i) * 10000;
            vs[j][n++] = (double)(k * 40 + i) + j * 0.5;
        }
        if (k >= 2) {
            /* out of order, inside the window: a new timestamp */
            ts[j][n] = id->window + HOUR + (int64_t)(k * 40 - 30) * 10000 + 7;
            vs[j][n++] = -1.0 * k;
            /* conflicting value at an existing timestamp */
            ts[j][n] = id->window + HOUR + (int64_t)(k * 40 - 50) * 10000;
            vs[j][n++] = 0.125;
        }
        es[j] = (struct tr_entry_series){.labels = ls[j],
                                         .n_labels = 2,
                                         .ts = ts[j],
                                         .vs = vs[j],
                                         .n_samples = n};
        n_series++;
    }
    char help[32];
    snprintf(help, sizeof(help), "rev %u", k);
    struct tr_entry_meta meta = {.type = 1,
                                 .metric = TR_SLICE_LIT("r"),
                                 .help = tr_slice_cstr(help),
                                 .unit = TR_SLICE_LIT("seconds")};
    struct tr_entry_metrics m = {.tenant = TR_SLICE_LIT("t"),
                                 .series = es,
                                 .n_series = n_series,
                                 .meta = &meta,
                                 .n_meta = k % 3 == 0,
                                 .ooo_window_ms = HOUR};
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_entry_metrics_encode(&m, &b), 0);
    char err[TR_ERRMSG_SIZE];
    *rv = tr_storage_shard_apply(s, id, k + 1, b.data, b.len, res, err);
    tr_buf_free(&b);
}

static void st_reset_range(struct tr_storage *s,
                           const struct tr_shard_id *id,
                           unsigned from,
                           unsigned to)
{
    for (unsigned k = from; k < to; k++) {
        struct tr_apply_result r;
        int rv;
        st_reset_entry(s, id, k, &r, &rv);
        cr_assert_eq(rv, 0, "entry %u", k);
        cr_assert_not(r.skipped, "entry %u", k);
    }
}

static uint64_t st_sum_at(struct tr_storage *s,
                          const struct tr_shard_id *id,
                          uint64_t want)
{
    uint64_t idx = 0, sum = 0;
    cr_assert_eq(tr_storage_shard_verify(s, id, &idx, &sum), 0);
    cr_assert_eq(idx, want);
    cr_assert_eq(tr_storage_shard_applied(s, id, true), want);
    cr_assert_eq(sum, tr_storage_shard_checksum(s, id));
    return sum;
}

Test(storage, reset_drops_non_durable_state)
{
    enum { K = 3, N = 9 };
    char dirs[3][300];
    struct tr_storage *ss[3];
    struct tr_shard_id id = st_id(st_window(1700000000000LL), 2);
    for (int r = 0; r < 3; r++) {
        snprintf(dirs[r], sizeof(dirs[r]), "%s/r%d", st_dir, r);
        ss[r] = st_open_dir(dirs[r]);
        st_reset_range(ss[r], &id, 0, K);
        uint64_t idx = 0;
        cr_assert_eq(tr_storage_shard_checkpoint(ss[r], &id, &idx), 0);
        cr_assert_eq(idx, K);
    }
    /* the reference applies every entry once */
    st_reset_range(ss[0], &id, K, N);
    uint64_t want = st_sum_at(ss[0], &id, N);

    /* replica 1 applies K+1..N, forgets them, and applies them again */
    st_reset_range(ss[1], &id, K, N);
    cr_assert_eq(tr_storage_shard_applied(ss[1], &id, false), N);
    cr_assert_eq(tr_storage_shard_reset(ss[1], &id), 0);
    cr_assert_eq(tr_storage_shard_applied(ss[1], &id, false), K);
    cr_assert_eq(tr_storage_shard_applied(ss[1], &id, true), K);
    st_reset_range(ss[1], &id, K, N);
    cr_assert_eq(st_sum_at(ss[1], &id, N), want);
    /* a reset right after a checkpoint changes nothing */
    cr_assert_eq(tr_storage_shard_reset(ss[1], &id), 0);
    cr_assert_eq(tr_storage_shard_applied(ss[1], &id, false), N);
    cr_assert_eq(st_sum_at(ss[1], &id, N), want);

    /* replica 2: a write fails half-way (the test seam), the entry is not
     * applied; reset and replay from the durable index */
    st_reset_range(ss[2], &id, K, 6);
    tr_storage_fail_writes_for_test(ss[2], 1);
    struct tr_apply_result res;
    int rv;
    st_reset_entry(ss[2], &id, 6, &res, &rv);
    cr_assert_eq(rv, TR_EIO);
    cr_assert_eq(tr_storage_shard_applied(ss[2], &id, false), 6);
    /* the seam is spent: skipped entries do not use it, the next one
     * would apply (not done: the shard must be reset first) */
    st_reset_entry(ss[2], &id, 3, &res, &rv);
    cr_assert_eq(rv, 0);
    cr_assert(res.skipped);
    cr_assert_eq(tr_storage_shard_reset(ss[2], &id), 0);
    cr_assert_eq(tr_storage_shard_applied(ss[2], &id, false), K);
    st_reset_range(ss[2], &id, K, N);
    cr_assert_eq(st_sum_at(ss[2], &id, N), want);

    /* the same series and samples through the select path */
    struct tr_select_result q[3];
    for (int r = 0; r < 3; r++) {
        q[r] = st_select(ss[r], "t", TR_MATCH_EQ, "__name__", "r", id.window,
                         id.window + DAY);
    }
    cr_assert_eq(q[0].n_series, 4 + (N + 1) / 2);
    for (int r = 1; r < 3; r++) {
        cr_assert_eq(q[r].n_series, q[0].n_series, "replica %d", r);
        for (size_t i = 0; i < q[0].n_series; i++) {
            const struct tr_series_data *x = &q[0].series[i],
                                        *y = &q[r].series[i];
            cr_assert_eq(
                tr_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels),
                0);
            cr_assert_eq(x->n_samples, y->n_samples, "replica %d series %zu", r,
                         i);
            cr_assert_eq(memcmp(x->samples, y->samples,
                                x->n_samples * sizeof(*x->samples)),
                         0);
        }
    }
    /* s3 (sorted after the "new" series) */
    const struct tr_series_data *s3 = &q[0].series[q[0].n_series - 1];
    cr_assert(tr_slice_eq_cstr(s3->labels[1].value, "s3"));
    cr_assert_eq(s3->n_samples, 40 * N + (N - 2), "%zu samples", s3->n_samples);
    for (int r = 0; r < 3; r++) {
        tr_select_result_free(&q[r]);
        tr_storage_close(ss[r]);
    }
}
