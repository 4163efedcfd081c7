/* Tests for storage/seal_compact.c and the seal job (storage/jobs.c): a
 * sealed metrics shard's chunks merged into full-length chunks, the same
 * bytes on replicas that checkpointed at different times, the same samples
 * read before and after, a rerun changing nothing, a job resumed after a
 * stop, and verify answered with the compact form's checksum. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storage/entry.h"
#include "storage/jobs.h"
#include "storage/keys.h"
#include "storage/labels.h"
#include "storage/seal.h"
#include "storage/storage.h"
#include "storage/storage_int.h"

#define HOUR (3600 * 1000LL)
#define DAY (24 * HOUR)
#define W0 (1893456000000LL) /* 2030-01-01 */
#define SERIES 40
#define ROUNDS 12 /* entries of BATCH samples per series */
#define BATCH 50

static char sc_dir[128];
static const struct tr_shard_id M0 = {TR_SIGNAL_METRICS, W0, 0};

static void sc_setup(void)
{
    snprintf(sc_dir, sizeof(sc_dir), "/tmp/triad-test-sealc-%d", getpid());
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s-*", sc_dir);
    cr_assert_eq(system(cmd), 0);
}

static void sc_teardown(void)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s-*", sc_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cleanup failed\n");
    }
}

static struct tr_storage *sc_open(const char *name)
{
    char dir[300];
    snprintf(dir, sizeof(dir), "%s-%s", sc_dir, name);
    static char dirs[4][300];
    static int next;
    char *d = dirs[next++ % 4];
    snprintf(d, 300, "%s", dir);
    struct tr_storage_config c = {
        .version = 1,
        .data_dir = d,
        .cache_bytes = 8 << 20,
        .window_ms = DAY,
        .chunk_max_ms = 2 * HOUR,
    };
    struct tr_storage *s = NULL;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_storage_open(&c, &s, err), 0, "open: %s", err);
    return s;
}

static double sc_value(int series, int i)
{
    if (series % 3 == 0) {
        return 40.0 + sin(i / 7.0) * (series + 1) / 3.0; /* XOR kept */
    }
    return (double)(series * 1000 + i * (series % 5)); /* packed */
}

/* Entry r: BATCH samples of every series; entry ROUNDS - 1 goes back in
 * time (out-of-order samples between the in-order ones). */
static void sc_entry(struct tr_buf *b, int r)
{
    struct tr_entry_series es[SERIES];
    struct tr_label ls[SERIES][2];
    char names[SERIES][16];
    static int64_t ts[SERIES][BATCH];
    static double vs[SERIES][BATCH];
    for (int s = 0; s < SERIES; s++) {
        snprintf(names[s], sizeof(names[s]), "m%02d", s);
        ls[s][0] = (struct tr_label){TR_SLICE_LIT("__name__"),
                                     tr_slice_cstr(names[s])};
        ls[s][1] = (struct tr_label){TR_SLICE_LIT("job"), TR_SLICE_LIT("j")};
        for (int i = 0; i < BATCH; i++) {
            int k = r * BATCH + i;
            int64_t t = W0 + HOUR + (int64_t)k * 15000;
            if (r == ROUNDS - 1) {
                t = W0 + HOUR + (int64_t)(i * 4) * 15000 + 7000;
            }
            ts[s][i] = t;
            vs[s][i] = sc_value(s, k);
        }
        es[s] = (struct tr_entry_series){.labels = ls[s],
                                         .n_labels = 2,
                                         .ts = ts[s],
                                         .vs = vs[s],
                                         .n_samples = BATCH};
    }
    struct tr_entry_metrics m = {.tenant = TR_SLICE_LIT("t"),
                                 .series = es,
                                 .n_series = SERIES,
                                 .ooo_window_ms = DAY};
    tr_buf_reset(b);
    cr_assert_eq(tr_entry_metrics_encode(&m, b), 0);
}

/* Applies the data (checkpointing after entry `ckpt`, -1: never) and the
 * seal entry; returns the seal entry's index. */
static uint64_t sc_fill(struct tr_storage *s, int ckpt)
{
    struct tr_buf b;
    tr_buf_init(&b);
    uint64_t index = 0;
    struct tr_apply_result res;
    char err[TR_ERRMSG_SIZE];
    for (int r = 0; r < ROUNDS; r++) {
        sc_entry(&b, r);
        cr_assert_eq(
            tr_storage_shard_apply(s, &M0, ++index, b.data, b.len, &res, err),
            0, "%s", err);
        cr_assert_eq(res.rejected, 0, "%s", res.errmsg);
        if (r == ckpt) {
            uint64_t at;
            cr_assert_eq(tr_storage_shard_checkpoint(s, &M0, &at), 0);
        }
    }
    uint8_t e[TR_ENTRY_SEAL_SIZE];
    tr_entry_seal_encode(7, e);
    cr_assert_eq(
        tr_storage_shard_apply(s, &M0, ++index, e, sizeof(e), &res, err), 0);
    tr_buf_free(&b);
    return index;
}

/* Every sample of the tenant, flattened (t, value bits) in series order. */
static size_t sc_samples(struct tr_storage *s, uint64_t *out, size_t max)
{
    const struct tr_select_source *src = tr_storage_source(s);
    struct tr_matcher m;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_EQ, "job", "j", 1, err), 0);
    struct tr_select_hints h = {.mint = W0, .maxt = W0 + DAY};
    struct tr_select_result r;
    cr_assert_eq(src->select(src->impl, TR_SLICE_LIT("t"), &m, 1, &h, &r, err),
                 0, "select: %s", err);
    cr_assert_eq(r.n_series, SERIES);
    size_t n = 0;
    for (size_t i = 0; i < r.n_series; i++) {
        const struct tr_series_data *sd = &r.series[i];
        cr_assert_not_null(sd->samples);
        for (size_t k = 0; k < sd->n_samples && n + 2 <= max; k++) {
            out[n++] = (uint64_t)sd->samples[k].t;
            memcpy(&out[n++], &sd->samples[k].v, 8);
        }
    }
    tr_select_result_free(&r);
    tr_matcher_free(&m);
    return n;
}

/* Series of the tenant matching __name__=~re (a postings scan). */
static size_t sc_match(struct tr_storage *s, const char *re)
{
    const struct tr_select_source *src = tr_storage_source(s);
    struct tr_matcher m;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(
        tr_matcher_init(&m, TR_MATCH_RE, "__name__", re, strlen(re), err), 0);
    struct tr_select_hints h = {
        .mint = W0, .maxt = W0 + DAY, .no_samples = true};
    struct tr_select_result r;
    cr_assert_eq(src->select(src->impl, TR_SLICE_LIT("t"), &m, 1, &h, &r, err),
                 0, "select: %s", err);
    size_t n = r.n_series;
    tr_select_result_free(&r);
    tr_matcher_free(&m);
    return n;
}

/* Keys of one kind in the shard. */
static size_t sc_keys(struct tr_storage *s, char kind)
{
    struct tr_buf p;
    tr_buf_init(&p);
    tr_key_shard_prefix(&p, TR_SLICE_LIT("t"), W0, 0, kind);
    struct tr_iter *it = tr_iter_new(tr_storage_engine(s), TR_CF_METRICS);
    size_t n = 0;
    for (tr_iter_seek(it, p.data, p.len); tr_iter_has_prefix(it, p.data, p.len);
         tr_iter_next(it)) {
        n++;
    }
    tr_iter_free(it);
    tr_buf_free(&p);
    return n;
}

static size_t sc_chunks(struct tr_storage *s)
{
    return sc_keys(s, TR_KEY_CHUNK);
}

static void sc_wait_sum(struct tr_storage *s, uint64_t *index, uint64_t *sum)
{
    for (int i = 0; i < 1000; i++) {
        if (tr_storage_shard_seal_sum(s, &M0, index, sum) == 0) {
            cr_assert(!tr_storage_shard_seal_pending(s, &M0));
            return;
        }
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    cr_assert_fail("the seal job did not finish");
}

TestSuite(seal_compact, .init = sc_setup, .fini = sc_teardown);

#define MAXS (SERIES * ROUNDS * BATCH * 2)

Test(seal_compact, replicas_reach_the_same_bytes_and_samples)
{
    static uint64_t before[MAXS], after[MAXS];
    struct tr_storage *a = sc_open("a"), *b = sc_open("b");
    uint64_t sa = sc_fill(a, 3), sb = sc_fill(b, -1);
    cr_assert_eq(sa, sb);
    size_t nb = sc_samples(a, before, MAXS);
    cr_assert_eq(nb, (size_t)SERIES * (ROUNDS * BATCH) * 2,
                 "every sample, in-order and out-of-order");
    cr_assert(tr_storage_shard_seal_pending(a, &M0));
    size_t chunks_before = sc_chunks(a);
    cr_assert_gt(chunks_before, (size_t)SERIES * 3);
    cr_assert_eq(sc_keys(a, TR_KEY_POSTING), (size_t)SERIES * 2,
                 "a posting key per series and label");
    cr_assert_eq(sc_match(a, "m0.*"), 10);
    struct tr_jobs *ja, *jb;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_jobs_open(a, &ja, err), 0, "%s", err);
    cr_assert_eq(tr_jobs_open(b, &jb, err), 0, "%s", err);
    uint64_t ia, ib, suma, sumb;
    sc_wait_sum(a, &ia, &suma);
    sc_wait_sum(b, &ib, &sumb);
    cr_assert_eq(ia, sa);
    cr_assert_eq(ib, sb);
    cr_assert_eq(suma, sumb, "replicas compact to the same bytes");
    cr_assert_eq(sc_chunks(a), (size_t)SERIES, "one full-length chunk each");
    cr_assert_eq(sc_keys(a, TR_KEY_POSTING), (size_t)SERIES + 1,
                 "a posting list per label name and value");
    cr_assert_eq(sc_match(a, "m0.*"), 10, "a scan reads the lists");
    cr_assert_eq(sc_match(a, "m01|m22|m39|m99"), 3, "literals too");
    size_t na = sc_samples(a, after, MAXS);
    cr_assert_eq(na, nb);
    cr_assert_eq(memcmp(before, after, nb * 8), 0, "the same samples");
    struct tr_jobs_stats st;
    tr_jobs_get_stats(ja, &st);
    cr_assert_eq(st.done, 1);
    cr_assert_gt(st.bytes_written, 0);
    cr_assert_gt(st.bytes_read, st.bytes_written / 4);
    /* a rerun over its own output changes nothing */
    uint64_t rd = 0, wr = 0;
    bool done = false;
    struct tr_buf resume;
    tr_buf_init(&resume);
    while (!done) {
        cr_assert_eq(seal_compact_step(a, &M0, TR_SLICE_LIT("t"), &resume,
                                       &done, &rd, &wr),
                     0);
    }
    tr_buf_reset(&resume);
    done = false;
    while (!done) {
        cr_assert_eq(seal_compact_postings_step(a, &M0, TR_SLICE_LIT("t"),
                                                &resume, &done, &rd, &wr),
                     0);
    }
    tr_buf_free(&resume);
    cr_assert_eq(wr, 0);
    cr_assert_gt(rd, 0);
    cr_assert_eq(tr_storage_shard_checksum(a, &M0), suma);
    tr_jobs_close(ja);
    tr_jobs_close(jb);
    tr_storage_close(a);
    tr_storage_close(b);
}

Test(seal_compact, job_resumes_after_a_stop)
{
    struct tr_storage *a = sc_open("c"), *ref = sc_open("d");
    sc_fill(a, 5);
    sc_fill(ref, 5);
    /* stopped before any job ran: the record brings it back */
    tr_storage_close(a);
    a = sc_open("c");
    cr_assert(tr_storage_shard_sealed(a, &M0));
    struct tr_jobs *ja, *jr;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_jobs_open(a, &ja, err), 0, "%s", err);
    cr_assert_eq(tr_jobs_open(ref, &jr, err), 0, "%s", err);
    uint64_t i1, i2, s1, s2;
    sc_wait_sum(a, &i1, &s1);
    sc_wait_sum(ref, &i2, &s2);
    cr_assert_eq(s1, s2);
    struct tr_jobs_stats st;
    tr_jobs_get_stats(ja, &st);
    cr_assert_eq(st.resumed, 1);
    cr_assert_eq(sc_chunks(a), (size_t)SERIES);
    /* after a restart nothing is pending and the data is unchanged */
    tr_jobs_close(ja);
    tr_storage_close(a);
    a = sc_open("c");
    cr_assert(!tr_storage_shard_seal_pending(a, &M0));
    cr_assert_eq(tr_storage_shard_checksum(a, &M0), s1);
    tr_storage_close(a);
    tr_jobs_close(jr);
    tr_storage_close(ref);
}
