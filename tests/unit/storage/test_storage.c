/* Tests for storage/storage.c, head.c, select.c: append, duplicates,
 * out-of-order, windows, matchers, label APIs, crash recovery. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage/entry.h"
#include "storage/storage.h"

#define HOUR (3600 * 1000LL)
#define DAY (24 * HOUR)

static char st_dir[256];

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
        .head_retain_ms = 2 * HOUR,
    };
    struct tr_storage *s = NULL;
    char err[TR_ERRMSG_SIZE];
    int rv = tr_storage_open(&c, &s, err);
    cr_assert_eq(rv, 0, "open: %s", err);
    return s;
}

static void st_setup(void)
{
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

/* Appends one series "name{k=v}" with samples; returns the result. */
static struct tr_apply_result st_put(struct tr_storage *s, const char *tenant,
                                     const char *name, const char *k,
                                     const char *v, const int64_t *ts,
                                     const double *vs, size_t n)
{
    struct tr_label ls[2] = {
        {TR_SLICE_LIT("__name__"), tr_slice_cstr(name)},
        {tr_slice_cstr(k), tr_slice_cstr(v)},
    };
    tr_labels_sort(ls, 2);
    struct tr_entry_series es = {.labels = ls, .n_labels = 2, .ts = ts,
                                 .vs = vs, .n_samples = n};
    struct tr_entry_metrics m = {.tenant = tr_slice_cstr(tenant),
                                 .series = &es, .n_series = 1};
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_entry_metrics_encode(&m, &b), 0);
    struct tr_apply_result res;
    char err[TR_ERRMSG_SIZE];
    int rv = tr_storage_append(s, b.data, b.len, &res, err);
    cr_assert_eq(rv, 0, "append: %s", err);
    tr_buf_free(&b);
    return res;
}

static struct tr_select_result st_select(struct tr_storage *s,
                                         const char *tenant,
                                         enum tr_match_type t,
                                         const char *lname, const char *val,
                                         int64_t mint, int64_t maxt)
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
    st_put(s, "t", "m", "k", "v", ts, vs, 4);
    struct tr_select_result q =
        st_select(s, "t", TR_MATCH_RE, "__name__", "m|x", day0, day0 + 3 * DAY);
    cr_assert_eq(q.n_series, 1);
    cr_assert_eq(q.series[0].n_samples, 4);
    tr_select_result_free(&q);
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

    const struct tr_select_source *src = tr_storage_source(s);
    struct tr_select_hints h = {.mint = t - DAY, .maxt = t + DAY};
    struct tr_string_list l;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(src->label_names(src->impl, TR_SLICE_LIT("t"), NULL, 0, &h,
                                  &l, err),
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
    cr_assert_eq(src->label_values(src->impl, TR_SLICE_LIT("t"),
                                   TR_SLICE_LIT("__name__"), NULL, 0, &h, &l,
                                   err),
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

/* A child process appends and dies without closing (as kill -9 would); the
 * parent reopens the directory and finds every acknowledged sample. */
Test(storage, crash_recovery_replays_wal)
{
    int64_t base = 1700000000000LL;
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct tr_storage *s = st_open(0);
        for (int round = 0; round < 5; round++) {
            int64_t ts[50];
            double vs[50];
            for (int i = 0; i < 50; i++) {
                ts[i] = base + (round * 50 + i) * 1000;
                vs[i] = round * 50 + i;
            }
            st_put(s, "t", "m", "k", "v", ts, vs, 50);
            if (round == 2) {
                tr_storage_checkpoint(s, INT64_MIN);
            }
        }
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct tr_storage *s = st_open(0);
    struct tr_select_result q =
        st_select(s, "t", TR_MATCH_EQ, "k", "v", base, base + DAY);
    cr_assert_eq(q.n_series, 1);
    cr_assert_eq(q.series[0].n_samples, 250);
    for (int i = 0; i < 250; i++) {
        cr_assert_eq(q.series[0].samples[i].t, base + i * 1000);
        cr_assert_eq(q.series[0].samples[i].v, i);
    }
    tr_select_result_free(&q);
    /* appending continues after recovery; duplicates stay no-ops */
    int64_t t2 = base + 250 * 1000;
    double v2 = 250;
    struct tr_apply_result r = st_put(s, "t", "m", "k", "v", &t2, &v2, 1);
    cr_assert_eq(r.samples_appended, 1);
    int64_t t1 = base + 10 * 1000;
    double v1 = 10;
    r = st_put(s, "t", "m", "k", "v", &t1, &v1, 1);
    cr_assert_eq(r.samples_duplicate, 1);
    tr_storage_close(s);
    /* clean reopen */
    s = st_open(0);
    q = st_select(s, "t", TR_MATCH_EQ, "k", "v", base, base + DAY);
    cr_assert_eq(q.series[0].n_samples, 251);
    tr_select_result_free(&q);
    tr_storage_close(s);
}
