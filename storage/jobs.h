/* jobs.h - the node's background compaction jobs: queued, run one at a
 * time (TR_JOBS_WORKERS) on their own thread, resumable after a crash.
 *
 * A job is a list of idempotent steps. Its record is written to the meta
 * column family when it is submitted and deleted after its last step, so
 * a job interrupted by a crash or a stop is queued again when the storage
 * opens and runs its steps again from the first (each step is a no-op
 * when already done). What a job learnt in a step that later steps need
 * (the tenants of a dropped shard) is written into its record first.
 *
 * Kinds:
 *   drop  (retention: the catalog marked the shard DELETED) - wait until
 *         no state machine owns the shard (its Raft group closed and its
 *         storage thread idle), list the shard's tenants into the record,
 *         delete every range of the shard and its applied index in one
 *         batch (tr_storage_shard_drop), compact those ranges (one
 *         tenant at a time, sleeping as long as each took), remove the
 *         group's directory, delete the record.
 *
 *   seal  (a metrics shard's seal entry recorded it, storage/seal.h) -
 *         merge every series' chunks into full-length chunks, step by step
 *         at --compaction.max-write-rate (storage/seal_compact.c), compact
 *         the shard's ranges, take its checksum (tr_storage_shard_seal_sum),
 *         delete the record. Runs while the shard's state machine applies
 *         on (each step holds the storage's write lock).
 *
 *   retire (the catalog recorded the shard SEALED and its group here
 *         closed, cluster/sealed.c) - wait until no state machine owns the
 *         shard, remove the group's directory (its Raft log), delete the
 *         record. The shard's data stays.
 *
 *   job record (meta column family)
 *   key:   "J" | kind u8 | signal u8 | window (8, sign-flipped BE) |
 *          slot (2 BE)
 *   value: u8 version 1, uvarint length + directory to remove (may be
 *          empty), then (once listed) the shard's tenants as
 *          tr_storage_shard_tenants gives them
 *
 * Progress and counters: tr_jobs_list (queued and running jobs, with the
 * step each is at) and tr_jobs_get_stats (totals since the process
 * started: done, failed, bytes, a duration histogram). */
#ifndef TR_STORAGE_JOBS_H
#define TR_STORAGE_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/shard.h"

#define TR_JOBS_WORKERS 1
#define TR_JOB_DIR_MAX 2304
#define TR_JOB_DURATION_BUCKETS 10

enum tr_job_kind { TR_JOB_DROP = 1, TR_JOB_SEAL = 2, TR_JOB_RETIRE = 3 };
enum tr_job_state { TR_JOB_QUEUED = 1, TR_JOB_RUNNING = 2 };

struct tr_job_spec {
    int kind; /* enum tr_job_kind */
    struct tr_shard_id id;
    char dir[TR_JOB_DIR_MAX]; /* removed (recursively) by the job; "" none */
};

struct tr_job_info {
    struct tr_job_spec spec;
    int state;          /* enum tr_job_state */
    unsigned step;      /* steps done */
    unsigned steps;     /* of */
    unsigned attempts;  /* times it found the shard still owned */
    int64_t queued_ms;  /* wall clock (tr_now_ms) */
    int64_t started_ms; /* 0 until it runs */
    bool resumed;       /* queued again from its record at open */
};

struct tr_jobs_stats {
    uint64_t queued, running; /* now */
    uint64_t done, failed;    /* since start */
    uint64_t resumed;         /* jobs found unfinished at open */
    uint64_t bytes_read;      /* by their steps (what they copy) */
    uint64_t bytes_written;
    uint64_t bytes_freed; /* live SST bytes of the signal's families before
                             minus after (never negative) */
    /* duration of finished jobs: cumulative counts per upper bound of
     * tr_jobs_duration_bounds, then +Inf = count */
    uint64_t duration_le[TR_JOB_DURATION_BUCKETS];
    uint64_t duration_count;
    double duration_sum; /* seconds */
};

/* The upper bounds (seconds) of the duration histogram's buckets. */
extern const double tr_jobs_duration_bounds[TR_JOB_DURATION_BUCKETS];

struct tr_storage;
struct tr_jobs;

/* Queues the jobs left unfinished in s and starts the worker. 0 or
 * TR_ENOMEM/TR_EIO with errmsg. */
int tr_jobs_open(struct tr_storage *s, struct tr_jobs **out, char *errmsg);
/* Stops the worker after its current step (the job stays recorded and
 * resumes at the next open) and frees. */
void tr_jobs_close(struct tr_jobs *j);

/* Records and queues a job; a job of the same kind and shard already
 * queued or running makes this a no-op. 0, TR_ENOMEM or TR_EIO (not
 * recorded: call again). Any thread. */
int tr_jobs_submit(struct tr_jobs *j, const struct tr_job_spec *spec);
/* Is a job for the shard queued or running? */
bool tr_jobs_pending(struct tr_jobs *j, const struct tr_shard_id *id);
/* Queued and running jobs (at most max into out; running first). Returns
 * how many there are. */
size_t tr_jobs_list(struct tr_jobs *j, struct tr_job_info *out, size_t max);
void tr_jobs_get_stats(struct tr_jobs *j, struct tr_jobs_stats *st);
/* Prometheus text exposition of the stats (triad_compaction_*). */
struct tr_buf;
void tr_jobs_metrics(struct tr_jobs *j, struct tr_buf *out);

#endif
