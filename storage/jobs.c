/* jobs.c - the compaction job queue and its worker (storage/jobs.h). */
#include "storage/jobs.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/log.h"
#include "storage/keys.h"
#include "storage/retention.h"
#include "storage/storage_int.h"

#define JOB_KEY_SIZE 13
#define JOB_RETRY_MS 200 /* the shard is still owned: look again */
#define JOB_DROP_STEPS 5
#define JOB_SEAL_STEPS 4
#define JOB_RETIRE_STEPS 2

const double tr_jobs_duration_bounds[TR_JOB_DURATION_BUCKETS] = {
    0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 1800};

struct job {
    struct tr_job_info info;
    int64_t not_before_mono; /* ms: retry no sooner */
    int64_t started_mono;    /* ms: first run (duration) */
    struct job *next;
};

struct tr_jobs {
    struct tr_storage *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool started;
    bool stopping;
    struct job *queue; /* FIFO; the running job stays at its place */
    struct tr_jobs_stats st;
};

static int64_t jobs__mono_ms(void)
{
    return tr_mono_ns() / 1000000;
}

static void jobs__key(uint8_t k[JOB_KEY_SIZE], const struct tr_job_spec *sp)
{
    k[0] = 'J';
    k[1] = (uint8_t)sp->kind;
    k[2] = sp->id.signal;
    tr_put_u64be(k + 3, tr_key_time(sp->id.window));
    tr_put_u16be(k + 11, sp->id.slot);
}

static unsigned jobs__steps(int kind)
{
    return kind == TR_JOB_SEAL     ? JOB_SEAL_STEPS
           : kind == TR_JOB_RETIRE ? JOB_RETIRE_STEPS
                                   : JOB_DROP_STEPS;
}

static const char *jobs__kind_name(int kind)
{
    return kind == TR_JOB_SEAL     ? "seal"
           : kind == TR_JOB_RETIRE ? "retire"
                                   : "drop";
}

/* The job's record: version, directory, then extra (tenants) if any. */
static int jobs__put_record(struct tr_jobs *j,
                            const struct tr_job_spec *sp,
                            const void *extra,
                            size_t extra_len)
{
    uint8_t k[JOB_KEY_SIZE];
    jobs__key(k, sp);
    struct tr_buf v;
    tr_buf_init(&v);
    tr_buf_putc(&v, 1);
    size_t dl = strlen(sp->dir);
    tr_buf_put_uvarint(&v, dl);
    tr_buf_append(&v, sp->dir, dl);
    tr_buf_append(&v, extra, extra_len);
    int rv = v.oom ? TR_ENOMEM : 0;
    struct tr_wbatch *b = rv == 0 ? tr_wbatch_new(j->s->eng) : NULL;
    char err[TR_ERRMSG_SIZE];
    if (rv == 0 && b == NULL) {
        rv = TR_ENOMEM;
    }
    if (rv == 0) {
        tr_wbatch_put(b, TR_CF_META, k, sizeof(k), v.data, v.len);
        rv = tr_engine_write(j->s->eng, b, err);
    }
    tr_wbatch_free(b);
    tr_buf_free(&v);
    return rv;
}

void jobs_record_seal(struct tr_wbatch *b, const struct tr_shard_id *id)
{
    struct tr_job_spec sp;
    memset(&sp, 0, sizeof(sp));
    sp.kind = TR_JOB_SEAL;
    sp.id = *id;
    uint8_t k[JOB_KEY_SIZE], v[2] = {1, 0}; /* version 1, no directory */
    jobs__key(k, &sp);
    tr_wbatch_put(b, TR_CF_META, k, sizeof(k), v, sizeof(v));
}

static int jobs__delete_record(struct tr_jobs *j, const struct tr_job_spec *sp)
{
    uint8_t k[JOB_KEY_SIZE];
    jobs__key(k, sp);
    struct tr_wbatch *b = tr_wbatch_new(j->s->eng);
    if (b == NULL) {
        return TR_ENOMEM;
    }
    char err[TR_ERRMSG_SIZE];
    tr_wbatch_delete(b, TR_CF_META, k, sizeof(k));
    int rv = tr_engine_write(j->s->eng, b, err);
    tr_wbatch_free(b);
    return rv;
}

/* Parses a record's value: the spec's directory and the tenants listed
 * after it (*extra points into v; NULL when not listed yet). */
static int jobs__parse_record(struct tr_slice v,
                              struct tr_job_spec *sp,
                              struct tr_slice *extra)
{
    struct tr_cursor c = tr_cursor_make(v.base, v.len);
    uint8_t version;
    uint64_t dl;
    struct tr_slice d;
    if (tr_cursor_u8(&c, &version) != 0 || version != 1 ||
        tr_cursor_uvarint(&c, &dl) != 0 || dl >= TR_JOB_DIR_MAX ||
        tr_cursor_bytes(&c, dl, &d) != 0) {
        return TR_ECORRUPT;
    }
    memcpy(sp->dir, d.base, dl);
    sp->dir[dl] = '\0';
    size_t left = tr_cursor_left(&c);
    extra->base = left > 0 ? v.base + (v.len - left) : NULL;
    extra->len = left;
    return 0;
}

static int jobs__rm_entry(const char *path,
                          const struct stat *sb,
                          int flag,
                          struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT) {
        tr_log_warn("cannot remove", "path=%s errno=%d", path, errno);
    }
    return 0;
}

/* Removes dir and everything below it; a missing dir is fine. False when
 * it is still there (a closed group's Raft library may finish a segment
 * in it a moment after its close: the job tries again). */
static bool jobs__remove_dir(const char *dir)
{
    if (dir[0] == '\0' || access(dir, F_OK) != 0) {
        return true;
    }
    nftw(dir, jobs__rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return access(dir, F_OK) != 0;
}

static uint64_t jobs__live_bytes(struct tr_jobs *j, uint8_t signal)
{
    enum tr_cf cfs[2];
    size_t n = tr_cfs_of_signal(signal, cfs);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += tr_engine_live_bytes(j->s->eng, cfs[i]);
    }
    return sum;
}

static void jobs__set_step(struct tr_jobs *j, struct job *jb, unsigned step)
{
    pthread_mutex_lock(&j->mu);
    jb->info.step = step;
    pthread_mutex_unlock(&j->mu);
}

/* Worker: runs a drop job. 0 (done), TR_EUNAVAIL (the shard is still
 * owned: retry later) or an error (the job failed; its record stays, so
 * the next open tries again). */
static bool jobs__stopping(struct tr_jobs *j);
static void jobs__pace(struct tr_jobs *j,
                       int64_t t0,
                       uint64_t written,
                       int64_t step_ns);

static int jobs__run_drop(struct tr_jobs *j, struct job *jb)
{
    struct tr_storage *s = j->s;
    const struct tr_job_spec *sp = &jb->info.spec;
    int rv = tr_storage_shard_claim(s, &sp->id);
    if (rv != 0) {
        return rv;
    }
    jobs__set_step(j, jb, 1);
    uint64_t before = jobs__live_bytes(j, sp->id.signal);
    /* the tenants: from the record when an earlier run listed them (the
     * data may be gone already), else listed now and recorded first */
    uint8_t k[JOB_KEY_SIZE];
    jobs__key(k, sp);
    struct tr_buf rec, tenants;
    tr_buf_init(&rec);
    tr_buf_init(&tenants);
    struct tr_job_spec parsed = *sp;
    struct tr_slice extra = {NULL, 0};
    rv = tr_engine_get(s->eng, TR_CF_META, k, sizeof(k), &rec);
    if (rv == 0) {
        rv = jobs__parse_record(
            (struct tr_slice){(const char *)rec.data, rec.len}, &parsed,
            &extra);
    }
    if (rv == 0 && extra.len > 0) {
        tr_buf_append(&tenants, extra.base, extra.len);
    } else if (rv == 0) {
        tr_buf_put_uvarint(&tenants, 0); /* a listed, maybe empty, list */
        rv = tr_storage_shard_tenants(s, &sp->id, &tenants);
        if (rv == 0) {
            rv = jobs__put_record(j, sp, tenants.data, tenants.len);
        }
    }
    if (rv == 0) {
        jobs__set_step(j, jb, 2);
        rv = tr_storage_shard_drop(s, &sp->id);
    }
    if (rv == 0) {
        jobs__set_step(j, jb, 3);
        /* after the leading 0 that marks the list as made, one tenant's
         * ranges at a time, paced as seal steps are (a job uses at most
         * half a core): a compaction rewrites the files the deleted ranges
         * overlap */
        struct tr_cursor c = tr_cursor_make(tenants.data, tenants.len);
        uint64_t zero, tl;
        struct tr_slice t;
        if (tr_cursor_uvarint(&c, &zero) != 0 || zero != 0) {
            rv = TR_ECORRUPT;
        }
        while (rv == 0 && tr_cursor_left(&c) > 0) {
            const uint8_t *one = (const uint8_t *)c.p;
            if (tr_cursor_uvarint(&c, &tl) != 0 ||
                tr_cursor_bytes(&c, tl, &t) != 0) {
                rv = TR_ECORRUPT;
                break;
            }
            if (jobs__stopping(j)) {
                rv = TR_ECANCELED; /* resumed at the next open */
                break;
            }
            int64_t s0 = tr_mono_ns();
            rv = tr_storage_shard_compact(s, &sp->id, one,
                                          (size_t)((const uint8_t *)c.p - one));
            jobs__pace(j, jobs__mono_ms(), 0, tr_mono_ns() - s0);
        }
    }
    if (rv == 0) {
        jobs__set_step(j, jb, 4);
        rv = jobs__remove_dir(sp->dir) ? jobs__delete_record(j, sp)
                                       : TR_EUNAVAIL;
    }
    if (rv == 0) {
        jobs__set_step(j, jb, JOB_DROP_STEPS);
        uint64_t after = jobs__live_bytes(j, sp->id.signal);
        pthread_mutex_lock(&j->mu);
        j->st.bytes_freed += before > after ? before - after : 0;
        pthread_mutex_unlock(&j->mu);
    }
    tr_storage_shard_unclaim(s, &sp->id);
    tr_buf_free(&rec);
    tr_buf_free(&tenants);
    return rv;
}

/* Worker: runs a retire job (a sealed shard's closed group: its Raft
 * directory goes). 0, or TR_EUNAVAIL (still owned, or the directory not
 * yet gone: retry later). */
static int jobs__run_retire(struct tr_jobs *j, struct job *jb)
{
    const struct tr_job_spec *sp = &jb->info.spec;
    int rv = tr_storage_shard_claim(j->s, &sp->id);
    if (rv != 0) {
        return rv;
    }
    jobs__set_step(j, jb, 1);
    rv = jobs__remove_dir(sp->dir) ? jobs__delete_record(j, sp) : TR_EUNAVAIL;
    if (rv == 0) {
        jobs__set_step(j, jb, JOB_RETIRE_STEPS);
    }
    tr_storage_shard_unclaim(j->s, &sp->id);
    return rv;
}

static bool jobs__stopping(struct tr_jobs *j)
{
    pthread_mutex_lock(&j->mu);
    bool stop = j->stopping;
    pthread_mutex_unlock(&j->mu);
    return stop;
}

/* Sleeps after a step that took step_ns: at least as long again (a job
 * uses at most half of one core), and so that `written` bytes since t0
 * (mono ms) keep to the configured rate. */
static void jobs__pace(struct tr_jobs *j,
                       int64_t t0,
                       uint64_t written,
                       int64_t step_ns)
{
    size_t rate = j->s->cfg.compact_write_rate;
    int64_t ns = step_ns;
    if (rate > 0) {
        int64_t due = t0 + (int64_t)(written * 1000 / rate);
        int64_t ahead = (due - jobs__mono_ms()) * 1000000;
        ns = ahead > ns ? ahead : ns;
    }
    if (ns > 1000000000) {
        ns = 1000000000;
    }
    if (ns > 0) {
        struct timespec ts = {ns / 1000000000, (long)(ns % 1000000000)};
        nanosleep(&ts, NULL);
    }
}

/* Runs step over the tenant t of shard id until it is done (paced, the
 * bytes counted). 0, TR_ECANCELED (the node stops) or the step's error. */
static int jobs__seal_steps(struct tr_jobs *j,
                            seal_step_fn *step,
                            const struct tr_shard_id *id,
                            struct tr_slice t,
                            int64_t t0,
                            uint64_t *read,
                            uint64_t *written)
{
    struct tr_buf resume;
    tr_buf_init(&resume);
    bool done = false;
    int rv = 0;
    while (rv == 0 && !done) {
        if (jobs__stopping(j)) {
            rv = TR_ECANCELED;
            break;
        }
        uint64_t r0 = *read, w0 = *written;
        int64_t s0 = tr_mono_ns();
        rv = step(j->s, id, t, &resume, &done, read, written);
        int64_t step_ns = tr_mono_ns() - s0;
        pthread_mutex_lock(&j->mu);
        j->st.bytes_read += *read - r0;
        j->st.bytes_written += *written - w0;
        pthread_mutex_unlock(&j->mu);
        jobs__pace(j, t0, *written, step_ns);
    }
    tr_buf_free(&resume);
    return rv;
}

/* Worker: runs a seal job (storage/seal.h): every tenant's series of the
 * shard compacted step by step at the configured write rate, the ranges
 * compacted, the checksum taken, the record deleted. 0, TR_ECANCELED (the
 * node stops: resumed at the next open) or an error. */
static int jobs__run_seal(struct tr_jobs *j, struct job *jb)
{
    struct tr_storage *s = j->s;
    const struct tr_job_spec *sp = &jb->info.spec;
    struct tr_buf tenants;
    tr_buf_init(&tenants);
    int rv = tr_storage_shard_tenants(s, &sp->id, &tenants);
    jobs__set_step(j, jb, 1);
    uint64_t read = 0, written = 0;
    int64_t t0 = jobs__mono_ms();
    struct tr_cursor c = tr_cursor_make(tenants.data, tenants.len);
    while (rv == 0 && tr_cursor_left(&c) > 0) {
        uint64_t n;
        struct tr_slice t;
        if (tr_cursor_uvarint(&c, &n) != 0 || tr_cursor_bytes(&c, n, &t) != 0) {
            rv = TR_ECORRUPT;
            break;
        }
        static seal_step_fn *const steps[] = {seal_compact_step,
                                              seal_compact_postings_step};
        for (size_t k = 0; rv == 0 && k < sizeof(steps) / sizeof(steps[0]);
             k++) {
            rv = jobs__seal_steps(j, steps[k], &sp->id, t, t0, &read, &written);
        }
    }
    if (rv == 0) {
        jobs__set_step(j, jb, 2);
        rv = tr_storage_shard_compact(s, &sp->id, tenants.data, tenants.len);
    }
    if (rv == 0) {
        jobs__set_step(j, jb, 3);
        rv = storage_seal_finish(s, &sp->id);
    }
    if (rv == 0) {
        rv = jobs__delete_record(j, sp);
    }
    if (rv == 0) {
        jobs__set_step(j, jb, JOB_SEAL_STEPS);
    }
    tr_buf_free(&tenants);
    return rv;
}

/* The first queued job that may run now, or NULL (*wait_ms: until the
 * next one may). Caller holds mu. */
static struct job *jobs__next(struct tr_jobs *j, int64_t now, int64_t *wait)
{
    *wait = -1;
    for (struct job *jb = j->queue; jb != NULL; jb = jb->next) {
        if (jb->info.state != TR_JOB_QUEUED) {
            continue;
        }
        if (jb->not_before_mono <= now) {
            return jb;
        }
        int64_t w = jb->not_before_mono - now;
        if (*wait < 0 || w < *wait) {
            *wait = w;
        }
    }
    return NULL;
}

static void jobs__unlink(struct tr_jobs *j, struct job *jb)
{
    for (struct job **pp = &j->queue; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == jb) {
            *pp = jb->next;
            return;
        }
    }
}

static void jobs__finished(struct tr_jobs *j, struct job *jb, int rv)
{
    double secs = (double)(jobs__mono_ms() - jb->started_mono) / 1000.0;
    if (secs < 0) {
        secs = 0;
    }
    if (rv == 0) {
        j->st.done++;
        j->st.duration_count++;
        j->st.duration_sum += secs;
        for (int i = 0; i < TR_JOB_DURATION_BUCKETS; i++) {
            if (secs <= tr_jobs_duration_bounds[i]) {
                j->st.duration_le[i]++;
            }
        }
        tr_log_info("compaction job done",
                    "kind=%s signal=%s window=%" PRId64 " slot=%u secs=%.3f",
                    jobs__kind_name(jb->info.spec.kind),
                    tr_signal_name(jb->info.spec.id.signal),
                    jb->info.spec.id.window, jb->info.spec.id.slot, secs);
    } else {
        j->st.failed++;
        tr_log_error("compaction job failed; it runs again at the next start",
                     "kind=%s signal=%s window=%" PRId64 " slot=%u rv=%d",
                     jobs__kind_name(jb->info.spec.kind),
                     tr_signal_name(jb->info.spec.id.signal),
                     jb->info.spec.id.window, jb->info.spec.id.slot, rv);
    }
}

static void *jobs__main(void *arg)
{
    struct tr_jobs *j = arg;
    pthread_mutex_lock(&j->mu);
    while (!j->stopping) {
        int64_t wait;
        struct job *jb = jobs__next(j, jobs__mono_ms(), &wait);
        if (jb == NULL) {
            if (wait < 0) {
                pthread_cond_wait(&j->cv, &j->mu);
            } else {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += (long)(wait % 1000) * 1000000L;
                ts.tv_sec += wait / 1000 + ts.tv_nsec / 1000000000L;
                ts.tv_nsec %= 1000000000L;
                pthread_cond_timedwait(&j->cv, &j->mu, &ts);
            }
            continue;
        }
        jb->info.state = TR_JOB_RUNNING;
        if (jb->info.started_ms == 0) {
            jb->info.started_ms = tr_now_ms();
            jb->started_mono = jobs__mono_ms();
        }
        pthread_mutex_unlock(&j->mu);
        int kind = jb->info.spec.kind;
        int rv = kind == TR_JOB_SEAL     ? jobs__run_seal(j, jb)
                 : kind == TR_JOB_RETIRE ? jobs__run_retire(j, jb)
                                         : jobs__run_drop(j, jb);
        pthread_mutex_lock(&j->mu);
        if (rv == TR_ECANCELED) {
            jb->info.state = TR_JOB_QUEUED; /* stopping: resumed at open */
            break;
        }
        if (rv == TR_EUNAVAIL) {
            jb->info.state = TR_JOB_QUEUED;
            jb->info.attempts++;
            jb->not_before_mono = jobs__mono_ms() + JOB_RETRY_MS;
            continue;
        }
        jobs__finished(j, jb, rv);
        jobs__unlink(j, jb);
        tr_free(jb);
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

static struct job *jobs__find(struct tr_jobs *j, const struct tr_job_spec *sp)
{
    for (struct job *jb = j->queue; jb != NULL; jb = jb->next) {
        if (jb->info.spec.kind == sp->kind &&
            tr_shard_eq(&jb->info.spec.id, &sp->id)) {
            return jb;
        }
    }
    return NULL;
}

/* Appends a job to the queue (caller holds mu). */
static int jobs__enqueue(struct tr_jobs *j,
                         const struct tr_job_spec *sp,
                         bool resumed)
{
    struct job *jb = tr_calloc(1, sizeof(*jb));
    if (jb == NULL) {
        return TR_ENOMEM;
    }
    jb->info.spec = *sp;
    jb->info.state = TR_JOB_QUEUED;
    jb->info.steps = jobs__steps(sp->kind);
    jb->info.queued_ms = tr_now_ms();
    jb->info.resumed = resumed;
    struct job **pp = &j->queue;
    while (*pp != NULL) {
        pp = &(*pp)->next;
    }
    *pp = jb;
    pthread_cond_signal(&j->cv);
    return 0;
}

/* Queues the recorded jobs (at open). */
static int jobs__load(struct tr_jobs *j)
{
    struct tr_iter *it = tr_iter_new(j->s->eng, TR_CF_META);
    if (it == NULL) {
        return TR_ENOMEM;
    }
    int rv = 0;
    for (tr_iter_seek(it, "J", 1); rv == 0 && tr_iter_has_prefix(it, "J", 1);
         tr_iter_next(it)) {
        struct tr_slice k = tr_iter_key(it);
        const uint8_t *p = (const uint8_t *)k.base;
        struct tr_job_spec sp;
        memset(&sp, 0, sizeof(sp));
        struct tr_slice extra;
        if (k.len != JOB_KEY_SIZE ||
            (p[1] != TR_JOB_DROP && p[1] != TR_JOB_SEAL &&
             p[1] != TR_JOB_RETIRE) ||
            jobs__parse_record(tr_iter_value(it), &sp, &extra) != 0) {
            tr_log_warn("unknown compaction job record skipped", "len=%zu",
                        k.len);
            continue;
        }
        sp.kind = p[1];
        sp.id.signal = p[2];
        sp.id.window = tr_key_time_decode(tr_get_u64be(p + 3));
        sp.id.slot = tr_get_u16be(p + 11);
        rv = jobs__enqueue(j, &sp, true);
        j->st.resumed++;
        if (sp.kind == TR_JOB_SEAL) {
            storage_seal_compacting(j->s, &sp.id);
        }
    }
    tr_iter_free(it);
    return rv;
}

/* Frees the queue (the records stay) and j; no worker may run. */
static void jobs__free(struct tr_jobs *j)
{
    while (j->queue != NULL) {
        struct job *n = j->queue->next;
        tr_free(j->queue);
        j->queue = n;
    }
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    tr_free(j);
}

int tr_jobs_open(struct tr_storage *s, struct tr_jobs **out, char *errmsg)
{
    struct tr_jobs *j = tr_calloc(1, sizeof(*j));
    if (j == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    j->s = s;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    int rv = jobs__load(j);
    if (rv != 0) {
        tr_errf(rv, errmsg, "cannot read the compaction jobs");
        goto err_after_init;
    }
    if (j->st.resumed > 0) {
        tr_log_info("compaction jobs resumed", "jobs=%" PRIu64, j->st.resumed);
    }
    if (pthread_create(&j->thread, NULL, jobs__main, j) != 0) {
        rv = tr_errf(TR_ENOMEM, errmsg, "cannot start the compaction thread");
        goto err_after_init;
    }
    j->started = true;
    s->jobs = j;
    *out = j;
    return 0;

err_after_init:
    jobs__free(j);
    return rv;
}

void tr_jobs_close(struct tr_jobs *j)
{
    if (j == NULL) {
        return;
    }
    pthread_mutex_lock(&j->mu);
    j->stopping = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (j->started) {
        pthread_join(j->thread, NULL);
    }
    pthread_mutex_lock(&j->s->write_mu); /* apply queues no more jobs */
    j->s->jobs = NULL;
    pthread_mutex_unlock(&j->s->write_mu);
    jobs__free(j);
}

int tr_jobs_submit(struct tr_jobs *j, const struct tr_job_spec *spec)
{
    if ((spec->kind != TR_JOB_DROP && spec->kind != TR_JOB_RETIRE) ||
        memchr(spec->dir, '\0', TR_JOB_DIR_MAX) == NULL) {
        return TR_EINVAL;
    }
    pthread_mutex_lock(&j->mu);
    bool have = jobs__find(j, spec) != NULL;
    pthread_mutex_unlock(&j->mu);
    if (have) {
        return 0;
    }
    /* recorded before it is queued: a crash from here on resumes it */
    int rv = jobs__put_record(j, spec, NULL, 0);
    if (rv != 0) {
        return rv;
    }
    pthread_mutex_lock(&j->mu);
    if (jobs__find(j, spec) == NULL) {
        rv = jobs__enqueue(j, spec, false);
    }
    pthread_mutex_unlock(&j->mu);
    return rv;
}

void jobs_queue_recorded(struct tr_jobs *j, const struct tr_shard_id *id)
{
    if (j == NULL) {
        return;
    }
    struct tr_job_spec sp;
    memset(&sp, 0, sizeof(sp));
    sp.kind = TR_JOB_SEAL;
    sp.id = *id;
    pthread_mutex_lock(&j->mu);
    if (jobs__find(j, &sp) == NULL && jobs__enqueue(j, &sp, false) != 0) {
        tr_log_error("cannot queue a seal job; it runs at the next start",
                     NULL);
    }
    pthread_mutex_unlock(&j->mu);
}

bool tr_jobs_pending(struct tr_jobs *j, const struct tr_shard_id *id)
{
    pthread_mutex_lock(&j->mu);
    bool found = false;
    for (struct job *jb = j->queue; jb != NULL && !found; jb = jb->next) {
        found = tr_shard_eq(&jb->info.spec.id, id);
    }
    pthread_mutex_unlock(&j->mu);
    return found;
}

size_t tr_jobs_list(struct tr_jobs *j, struct tr_job_info *out, size_t max)
{
    pthread_mutex_lock(&j->mu);
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        int want = pass == 0 ? TR_JOB_RUNNING : TR_JOB_QUEUED;
        for (struct job *jb = j->queue; jb != NULL; jb = jb->next) {
            if (jb->info.state != want) {
                continue;
            }
            if (n < max) {
                out[n] = jb->info;
            }
            n++;
        }
    }
    pthread_mutex_unlock(&j->mu);
    return n;
}

void tr_jobs_get_stats(struct tr_jobs *j, struct tr_jobs_stats *st)
{
    pthread_mutex_lock(&j->mu);
    *st = j->st;
    st->queued = st->running = 0;
    for (struct job *jb = j->queue; jb != NULL; jb = jb->next) {
        if (jb->info.state == TR_JOB_RUNNING) {
            st->running++;
        } else {
            st->queued++;
        }
    }
    pthread_mutex_unlock(&j->mu);
}

void tr_jobs_metrics(struct tr_jobs *j, struct tr_buf *out)
{
    struct tr_jobs_stats st;
    tr_jobs_get_stats(j, &st);
    tr_buf_printf(
        out,
        "# HELP triad_compaction_jobs Compaction jobs (drops, sealing) by "
        "state: queued and running now; done and failed since start.\n"
        "# TYPE triad_compaction_jobs gauge\n"
        "triad_compaction_jobs{state=\"queued\"} %" PRIu64
        "\n"
        "triad_compaction_jobs{state=\"running\"} %" PRIu64
        "\n"
        "triad_compaction_jobs{state=\"done\"} %" PRIu64
        "\n"
        "triad_compaction_jobs{state=\"failed\"} %" PRIu64
        "\n"
        "# HELP triad_compaction_jobs_resumed_total Jobs found unfinished "
        "at start and run again.\n"
        "# TYPE triad_compaction_jobs_resumed_total counter\n"
        "triad_compaction_jobs_resumed_total %" PRIu64
        "\n"
        "# HELP triad_compaction_read_bytes_total Bytes compaction jobs "
        "read.\n"
        "# TYPE triad_compaction_read_bytes_total counter\n"
        "triad_compaction_read_bytes_total %" PRIu64
        "\n"
        "# HELP triad_compaction_written_bytes_total Bytes compaction jobs "
        "wrote.\n"
        "# TYPE triad_compaction_written_bytes_total counter\n"
        "triad_compaction_written_bytes_total %" PRIu64
        "\n"
        "# HELP triad_retention_freed_bytes_total Live SST bytes that "
        "retention drops gave back.\n"
        "# TYPE triad_retention_freed_bytes_total counter\n"
        "triad_retention_freed_bytes_total %" PRIu64
        "\n"
        "# HELP triad_compaction_job_duration_seconds Duration of finished "
        "compaction jobs.\n"
        "# TYPE triad_compaction_job_duration_seconds histogram\n",
        st.queued, st.running, st.done, st.failed, st.resumed, st.bytes_read,
        st.bytes_written, st.bytes_freed);
    for (int i = 0; i < TR_JOB_DURATION_BUCKETS; i++) {
        tr_buf_printf(out,
                      "triad_compaction_job_duration_seconds_bucket{le=\"%g\"}"
                      " %" PRIu64 "\n",
                      tr_jobs_duration_bounds[i], st.duration_le[i]);
    }
    tr_buf_printf(out,
                  "triad_compaction_job_duration_seconds_bucket{le=\"+Inf\"} "
                  "%" PRIu64
                  "\n"
                  "triad_compaction_job_duration_seconds_sum %.6f\n"
                  "triad_compaction_job_duration_seconds_count %" PRIu64 "\n",
                  st.duration_count, st.duration_sum, st.duration_count);
}
