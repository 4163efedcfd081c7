/* Tests for storage/retention.c, storage/jobs.c and storage/seal.c: the
 * drop-tenant entry (codec, apply on metrics and logs shards, replicas equal,
 * durable after a restart), the tenants of a shard, and drop jobs (done,
 * waiting for the shard's owner, resumed after a stop, the group's files
 * removed). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/alloc.h"
#include "storage/entry.h"
#include "storage/jobs.h"
#include "storage/labels.h"
#include "storage/log_entry.h"
#include "storage/log_store.h"
#include "storage/retention.h"
#include "storage/seal.h"
#include "storage/storage.h"

#define HOUR (3600 * 1000LL)
#define DAY (24 * HOUR)
#define W0 (1893456000000LL) /* 2030-01-01 */

static char rt_dir[128];
static uint64_t rt_index;

static void rt_setup(void)
{
    rt_index = 0;
    snprintf(rt_dir, sizeof(rt_dir), "/tmp/triad-test-retention-%d", getpid());
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s %s-b", rt_dir, rt_dir);
    cr_assert_eq(system(cmd), 0);
}

static void rt_teardown(void)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s %s-b", rt_dir, rt_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cleanup failed\n");
    }
}

static struct tr_storage *rt_open(const char *dir)
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
    cr_assert_eq(tr_storage_open(&c, &s, err), 0, "open: %s", err);
    return s;
}

static const struct tr_shard_id M0 = {TR_SIGNAL_METRICS, W0, 0};
static const struct tr_shard_id M1 = {TR_SIGNAL_METRICS, W0 + DAY, 0};
static const struct tr_shard_id L0 = {TR_SIGNAL_LOGS, W0, 0};

static void rt_apply_raw(struct tr_storage *s,
                         const struct tr_shard_id *id,
                         uint64_t index,
                         const void *e,
                         size_t len)
{
    struct tr_apply_result res;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_storage_shard_apply(s, id, index, e, len, &res, err), 0,
                 "apply: %s", err);
}

/* A metrics entry: series name{job=j} of tenant with 3 samples from t. */
static void rt_metrics(struct tr_buf *b,
                       const char *tenant,
                       const char *name,
                       int64_t t)
{
    struct tr_label ls[2] = {
        {TR_SLICE_LIT("__name__"), tr_slice_cstr(name)},
        {TR_SLICE_LIT("job"), TR_SLICE_LIT("j")},
    };
    int64_t ts[3] = {t, t + 15000, t + 30000};
    double vs[3] = {1, 2, 3};
    struct tr_entry_series es = {
        .labels = ls, .n_labels = 2, .ts = ts, .vs = vs, .n_samples = 3};
    struct tr_entry_metrics m = {.tenant = tr_slice_cstr(tenant),
                                 .series = &es,
                                 .n_series = 1,
                                 .ooo_window_ms = HOUR};
    tr_buf_reset(b);
    cr_assert_eq(tr_entry_metrics_encode(&m, b), 0);
}

static void rt_put(struct tr_storage *s,
                   const struct tr_shard_id *id,
                   const char *tenant,
                   const char *name)
{
    struct tr_buf b;
    tr_buf_init(&b);
    rt_metrics(&b, tenant, name, id->window + HOUR);
    rt_apply_raw(s, id, ++rt_index, b.data, b.len);
    tr_buf_free(&b);
}

static void rt_drop_tenant(struct tr_storage *s,
                           const struct tr_shard_id *id,
                           const char *tenant)
{
    struct tr_buf b;
    tr_buf_init(&b);
    tr_entry_drop_tenant_encode(&b, tr_slice_cstr(tenant));
    rt_apply_raw(s, id, ++rt_index, b.data, b.len);
    tr_buf_free(&b);
}

/* Series of tenant in [W0, W0 + 3 days). */
static size_t rt_series(struct tr_storage *s, const char *tenant)
{
    const struct tr_select_source *src = tr_storage_source(s);
    struct tr_matcher m;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_EQ, "job", "j", 1, err), 0);
    struct tr_select_hints h = {.mint = W0, .maxt = W0 + 3 * DAY};
    struct tr_select_result r;
    cr_assert_eq(
        src->select(src->impl, tr_slice_cstr(tenant), &m, 1, &h, &r, err), 0,
        "select: %s", err);
    size_t n = r.n_series;
    tr_select_result_free(&r);
    tr_matcher_free(&m);
    return n;
}

TestSuite(retention, .init = rt_setup, .fini = rt_teardown);

Test(retention, drop_entry_codec)
{
    struct tr_buf b;
    tr_buf_init(&b);
    tr_entry_drop_tenant_encode(&b, tr_slice_cstr("team-a"));
    struct tr_slice t;
    cr_assert_eq(tr_entry_drop_tenant_decode(b.data, b.len, &t), 0);
    cr_assert(tr_slice_eq_cstr(t, "team-a"));
    /* other entries are not drop entries */
    struct tr_buf m;
    tr_buf_init(&m);
    rt_metrics(&m, "x", "up", W0);
    cr_assert_eq(tr_entry_drop_tenant_decode(m.data, m.len, &t), TR_ENOTFOUND);
    cr_assert_eq(tr_entry_drop_tenant_decode("", 0, &t), TR_ENOTFOUND);
    /* malformed: trailing byte, truncated, wrong version, empty, NUL */
    tr_buf_putc(&b, 'x');
    cr_assert_eq(tr_entry_drop_tenant_decode(b.data, b.len, &t), TR_ECORRUPT);
    cr_assert_eq(tr_entry_drop_tenant_decode(b.data, 4, &t), TR_ECORRUPT);
    const uint8_t v2[] = {0x44, 2, 1, 'a'}, empty[] = {0x44, 1, 0},
                  nul[] = {0x44, 1, 2, 'a', 0};
    cr_assert_eq(tr_entry_drop_tenant_decode(v2, sizeof(v2), &t), TR_ECORRUPT);
    cr_assert_eq(tr_entry_drop_tenant_decode(empty, sizeof(empty), &t),
                 TR_ECORRUPT);
    cr_assert_eq(tr_entry_drop_tenant_decode(nul, sizeof(nul), &t),
                 TR_ECORRUPT);
    tr_buf_free(&b);
    tr_buf_free(&m);
}

Test(retention, drop_tenant_metrics_keeps_others_and_survives_restart)
{
    struct tr_storage *s = rt_open(rt_dir);
    rt_put(s, &M0, "a", "m1");
    rt_put(s, &M0, "b", "m1");
    rt_put(s, &M1, "a", "m2");
    uint64_t idx;
    cr_assert_eq(tr_storage_shard_checkpoint(s, &M0, &idx), 0);
    rt_put(s, &M0, "a", "m3"); /* in the head only */
    cr_assert_eq(rt_series(s, "a"), 3);
    struct tr_buf tenants;
    tr_buf_init(&tenants);
    cr_assert_eq(tr_storage_shard_tenants(s, &M0, &tenants), 0);
    cr_assert_eq(tenants.len, 4, "a and b, once each (both families)");
    cr_assert_eq(memcmp(tenants.data, "\1a\1b", 4), 0);
    rt_drop_tenant(s, &M0, "a");
    /* a's series of the other shard stay, b's of this one too */
    cr_assert_eq(rt_series(s, "a"), 1);
    cr_assert_eq(rt_series(s, "b"), 1);
    /* new writes after the drop are kept */
    rt_put(s, &M0, "a", "m4");
    cr_assert_eq(rt_series(s, "a"), 2);
    cr_assert_eq(tr_storage_shard_checkpoint(s, &M0, &idx), 0);
    tr_storage_close(s);
    s = rt_open(rt_dir);
    cr_assert_eq(rt_series(s, "a"), 2);
    cr_assert_eq(rt_series(s, "b"), 1);
    tr_storage_close(s);
    tr_buf_free(&tenants);
}

Test(retention, drop_tenant_replicas_equal)
{
    char dir2[300];
    snprintf(dir2, sizeof(dir2), "%s-b", rt_dir);
    struct tr_storage *s[2] = {rt_open(rt_dir), rt_open(dir2)};
    uint64_t sum[2];
    for (int r = 0; r < 2; r++) {
        rt_index = 0;
        rt_put(s[r], &M0, "a", "m1");
        rt_put(s[r], &M0, "b", "m1");
        if (r == 0) {
            /* one replica checkpoints in between: the bytes must not
             * depend on when */
            uint64_t idx;
            cr_assert_eq(tr_storage_shard_checkpoint(s[r], &M0, &idx), 0);
        }
        rt_put(s[r], &M0, "a", "m2");
        rt_drop_tenant(s[r], &M0, "a");
        rt_put(s[r], &M0, "a", "m5");
        uint64_t idx;
        cr_assert_eq(tr_storage_shard_verify(s[r], &M0, &idx, &sum[r]), 0);
        cr_assert_eq(idx, 5);
    }
    cr_assert_eq(sum[0], sum[1]);
    tr_storage_close(s[0]);
    tr_storage_close(s[1]);
}

/* Applies one logs entry of tenant with a stream app=<app>. */
static void rt_log(struct tr_storage *s, const char *tenant, const char *app)
{
    struct tr_label l = {TR_SLICE_LIT("app"), tr_slice_cstr(app)};
    struct tr_buf labels, e;
    tr_buf_init(&labels);
    tr_buf_init(&e);
    cr_assert_eq(tr_labels_encode(&l, 1, &labels), 0);
    struct tr_log_line line = {.ts = (W0 + HOUR) * 1000000,
                               .line = TR_SLICE_LIT("hello")};
    struct tr_log_entry_stream st = {
        .labels = {(const char *)labels.data, labels.len},
        .lines = &line,
        .n_lines = 1};
    struct tr_entry_logs le = {.tenant = tr_slice_cstr(tenant),
                               .streams = &st,
                               .n_streams = 1,
                               .ooo_window_ns = HOUR * 1000000};
    cr_assert_eq(tr_entry_logs_encode(&le, &e), 0);
    rt_apply_raw(s, &L0, ++rt_index, e.data, e.len);
    tr_buf_free(&labels);
    tr_buf_free(&e);
}

static size_t rt_streams(struct tr_storage *s, const char *tenant)
{
    const struct tr_log_source *src = tr_storage_log_source(s);
    struct tr_log_hints h = {.start = W0 * 1000000,
                             .end = (W0 + DAY) * 1000000};
    struct tr_string_list sl;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(src->label_values(src->impl, tr_slice_cstr(tenant),
                                   TR_SLICE_LIT("app"), NULL, 0, &h, &sl, err),
                 0, "%s", err);
    size_t n = sl.n;
    tr_string_list_free(&sl);
    return n;
}

Test(retention, drop_tenant_logs)
{
    struct tr_storage *s = rt_open(rt_dir);
    rt_log(s, "a", "x");
    rt_log(s, "a", "y");
    rt_log(s, "b", "x");
    cr_assert_eq(rt_streams(s, "a"), 2);
    rt_drop_tenant(s, &L0, "a");
    cr_assert_eq(rt_streams(s, "a"), 0);
    cr_assert_eq(rt_streams(s, "b"), 1);
    cr_assert_eq(tr_storage_shard_applied(s, &L0, true), rt_index,
                 "a logs shard is durable at the drop entry too");
    rt_log(s, "a", "z");
    cr_assert_eq(rt_streams(s, "a"), 1);
    tr_storage_close(s);
}

static void rt_wait_idle(struct tr_jobs *j)
{
    for (int i = 0; i < 1000; i++) {
        struct tr_jobs_stats st;
        tr_jobs_get_stats(j, &st);
        if (st.queued == 0 && st.running == 0) {
            return;
        }
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    cr_assert_fail("the jobs did not finish");
}

Test(retention, drop_job_removes_shard_data_and_files)
{
    struct tr_storage *s = rt_open(rt_dir);
    rt_put(s, &M0, "a", "m1");
    rt_put(s, &M0, "b", "m1");
    rt_put(s, &M1, "a", "m2");
    uint64_t idx;
    cr_assert_eq(tr_storage_shard_checkpoint(s, &M0, &idx), 0);
    cr_assert(tr_storage_shard_present(s, &M0));
    char group[400];
    snprintf(group, sizeof(group), "%s/raft-group", rt_dir);
    cr_assert_eq(mkdir(group, 0755), 0);
    char file[500];
    snprintf(file, sizeof(file), "%s/segment", group);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("raft", f);
    fclose(f);
    struct tr_jobs *j = NULL;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_jobs_open(s, &j, err), 0, "%s", err);
    struct tr_job_spec sp = {.kind = TR_JOB_DROP, .id = M0};
    snprintf(sp.dir, sizeof(sp.dir), "%s", group);
    cr_assert_eq(tr_jobs_submit(j, &sp), 0);
    cr_assert_eq(tr_jobs_submit(j, &sp), 0, "a second submit is a no-op");
    rt_wait_idle(j);
    struct tr_jobs_stats st;
    tr_jobs_get_stats(j, &st);
    cr_assert_eq(st.done, 1);
    cr_assert_eq(st.failed, 0);
    cr_assert_eq(st.duration_count, 1);
    cr_assert(!tr_storage_shard_present(s, &M0));
    cr_assert_eq(access(group, F_OK), -1, "the group's files are gone");
    cr_assert_eq(rt_series(s, "b"), 0);
    cr_assert_eq(rt_series(s, "a"), 1, "the other window stays");
    struct tr_buf body;
    tr_buf_init(&body);
    tr_jobs_metrics(j, &body);
    cr_assert_not_null(strstr((const char *)body.data,
                              "triad_compaction_jobs{state=\"done\"} 1\n"));
    cr_assert_not_null(strstr((const char *)body.data,
                              "triad_compaction_job_duration_seconds_count 1"));
    tr_buf_free(&body);
    tr_jobs_close(j);
    tr_storage_close(s);
}

Test(retention, drop_job_waits_for_owner_and_resumes_after_stop)
{
    struct tr_storage *s = rt_open(rt_dir);
    rt_put(s, &M0, "a", "m1");
    uint64_t idx;
    cr_assert_eq(tr_storage_shard_checkpoint(s, &M0, &idx), 0);
    /* a state machine still owns the shard: the job waits */
    cr_assert_eq(tr_storage_shard_claim(s, &M0), 0);
    struct tr_jobs *j = NULL;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_jobs_open(s, &j, err), 0, "%s", err);
    struct tr_job_spec sp = {.kind = TR_JOB_DROP, .id = M0};
    cr_assert_eq(tr_jobs_submit(j, &sp), 0);
    struct timespec ts = {0, 500 * 1000000L};
    nanosleep(&ts, NULL);
    cr_assert(tr_jobs_pending(j, &M0));
    struct tr_job_info info[4];
    cr_assert_eq(tr_jobs_list(j, info, 4), 1);
    cr_assert_geq(info[0].attempts, 1);
    cr_assert_eq(info[0].step, 0);
    cr_assert(tr_storage_shard_present(s, &M0));
    /* stopped before it ran: its record brings it back */
    tr_jobs_close(j);
    tr_storage_shard_unclaim(s, &M0);
    tr_storage_close(s);
    s = rt_open(rt_dir);
    cr_assert_eq(tr_jobs_open(s, &j, err), 0, "%s", err);
    rt_wait_idle(j);
    struct tr_jobs_stats st;
    tr_jobs_get_stats(j, &st);
    cr_assert_eq(st.resumed, 1);
    cr_assert_eq(st.done, 1);
    cr_assert(!tr_storage_shard_present(s, &M0));
    cr_assert_eq(rt_series(s, "a"), 0);
    tr_jobs_close(j);
    tr_storage_close(s);
    /* nothing left to resume */
    s = rt_open(rt_dir);
    cr_assert_eq(tr_jobs_open(s, &j, err), 0, "%s", err);
    tr_jobs_get_stats(j, &st);
    cr_assert_eq(st.resumed, 0);
    tr_jobs_close(j);
    tr_storage_close(s);
}

/* ---- sealing (storage/seal.c) --------------------------------------------
 */

Test(retention, seal_entry_codec)
{
    uint8_t e[TR_ENTRY_SEAL_SIZE];
    tr_entry_seal_encode(42, e);
    uint64_t req = 0;
    cr_assert_eq(tr_entry_seal_decode(e, sizeof(e), &req), 0);
    cr_assert_eq(req, 42);
    cr_assert_eq(tr_entry_seal_decode(e, sizeof(e) - 1, &req), TR_ECORRUPT);
    tr_entry_seal_encode(0, e);
    cr_assert_eq(tr_entry_seal_decode(e, sizeof(e), &req), TR_ECORRUPT);
    struct tr_buf m;
    tr_buf_init(&m);
    rt_metrics(&m, "x", "up", W0);
    cr_assert_eq(tr_entry_seal_decode(m.data, m.len, &req), TR_ENOTFOUND);
    tr_buf_free(&m);
}

/* After the seal entry every replica refuses data entries alike; drop
 * entries still apply; the marker is part of the shard's data (checksum,
 * restart, copy). */
Test(retention, seal_marker_refuses_later_data)
{
    char dir2[300];
    snprintf(dir2, sizeof(dir2), "%s-b", rt_dir);
    struct tr_storage *s[2] = {rt_open(rt_dir), rt_open(dir2)};
    uint64_t sum[2];
    for (int r = 0; r < 2; r++) {
        rt_index = 0;
        rt_put(s[r], &M0, "a", "m1");
        rt_log(s[r], "a", "x");
        cr_assert(!tr_storage_shard_sealed(s[r], &M0));
        uint8_t e[TR_ENTRY_SEAL_SIZE];
        tr_entry_seal_encode(9, e);
        rt_apply_raw(s[r], &M0, ++rt_index, e, sizeof(e));
        rt_apply_raw(s[r], &L0, ++rt_index, e, sizeof(e));
        cr_assert(tr_storage_shard_sealed(s[r], &M0));
        cr_assert(tr_storage_shard_sealed(s[r], &L0));
        /* a later metrics write is refused, as too old */
        struct tr_buf b;
        tr_buf_init(&b);
        rt_metrics(&b, "a", "m2", W0 + 2 * HOUR);
        struct tr_apply_result res;
        char err[TR_ERRMSG_SIZE];
        cr_assert_eq(tr_storage_shard_apply(s[r], &M0, ++rt_index, b.data,
                                            b.len, &res, err),
                     0);
        cr_assert_eq(res.first_error, TR_ETOOOLD);
        cr_assert_eq(res.appended, 0);
        cr_assert_not_null(strstr(res.errmsg, "sealed"));
        tr_buf_free(&b);
        rt_log(s[r], "a", "y"); /* refused too */
        cr_assert_eq(rt_series(s[r], "a"), 1);
        cr_assert_eq(rt_streams(s[r], "a"), 1);
        cr_assert_eq(tr_storage_shard_applied(s[r], &L0, true), rt_index,
                     "a refused entry still advances the applied index");
        uint64_t idx;
        cr_assert_eq(tr_storage_shard_verify(s[r], &M0, &idx, &sum[r]), 0);
    }
    cr_assert_eq(sum[0], sum[1]);
    /* the marker survives a restart and goes with a drop */
    tr_storage_close(s[0]);
    s[0] = rt_open(rt_dir);
    cr_assert(tr_storage_shard_sealed(s[0], &M0));
    cr_assert_eq(tr_storage_shard_checksum(s[0], &M0), sum[0]);
    cr_assert_eq(tr_storage_shard_drop(s[0], &M0), 0);
    cr_assert(!tr_storage_shard_sealed(s[0], &M0));
    tr_storage_close(s[0]);
    tr_storage_close(s[1]);
}

Test(retention, sealed_shard_drops_tenants_outside_its_log)
{
    char dir2[300];
    snprintf(dir2, sizeof(dir2), "%s-b", rt_dir);
    struct tr_storage *s[2] = {rt_open(rt_dir), rt_open(dir2)};
    uint64_t sum[2];
    for (int r = 0; r < 2; r++) {
        rt_index = 0;
        rt_put(s[r], &M0, "a", "m1");
        rt_put(s[r], &M0, "b", "m1");
        uint8_t e[TR_ENTRY_SEAL_SIZE];
        tr_entry_seal_encode(7, e);
        rt_apply_raw(s[r], &M0, ++rt_index, e, sizeof(e));
        uint64_t sealed = tr_storage_shard_checksum(s[r], &M0);
        /* after the seal entry a drop-tenant entry changes nothing */
        rt_drop_tenant(s[r], &M0, "a");
        cr_assert_eq(rt_series(s[r], "a"), 1);
        cr_assert_eq(tr_storage_shard_checksum(s[r], &M0), sealed);
        /* the catalog's drop does, on each replica alike, once */
        cr_assert_eq(
            tr_storage_shard_drop_tenant(s[r], &M0, tr_slice_cstr("a")), 0);
        cr_assert_eq(rt_series(s[r], "a"), 0);
        cr_assert_eq(rt_series(s[r], "b"), 1);
        sum[r] = tr_storage_shard_checksum(s[r], &M0);
        cr_assert_neq(sum[r], sealed);
        cr_assert_eq(
            tr_storage_shard_drop_tenant(s[r], &M0, tr_slice_cstr("a")), 0);
        cr_assert_eq(tr_storage_shard_checksum(s[r], &M0), sum[r]);
        cr_assert(tr_storage_shard_sealed(s[r], &M0), "the marker stays");
    }
    cr_assert_eq(sum[0], sum[1]);
    tr_storage_close(s[0]);
    tr_storage_close(s[1]);
}
