/* storage_int.h - private types of the metric store (storage/ only). */
#ifndef TR_STORAGE_STORAGE_INT_H
#define TR_STORAGE_STORAGE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/u64map.h"
#include "storage/chunk.h"
#include "storage/engine.h"
#include "storage/entry.h"
#include "storage/keys.h"
#include "storage/log_select.h"
#include "storage/trace_select.h"
#include "storage/storage.h"

/* Out-of-order samples of a series, sorted by time, not yet in a chunk. */
struct head_ooo {
    int64_t *t;
    double *v;
    uint32_t n;
    uint32_t cap;
    bool dirty;     /* changed since the last checkpoint */
    bool persisted; /* an open out-of-order record exists */
};

/* One series in one window, in memory. */
struct head_series {
    uint64_t id;  /* key id in the window (hash + probe) */
    char *labels; /* canonical encoding (tr_malloc) */
    uint32_t labels_len;
    bool loaded;               /* persisted tail looked up already */
    bool dirty;                /* open chunk changed since checkpoint */
    int64_t last_t;            /* newest in-order timestamp, INT64_MIN */
    uint64_t last_v;           /* its value bits */
    struct tr_xor_chunk chunk; /* open in-order chunk (count 0 = none) */
    struct head_ooo ooo;
};

struct head_window {
    int64_t start;           /* window start ms */
    uint16_t slot;           /* shard slot within the window */
    struct tr_u64map series; /* id -> struct head_series */
    uint64_t n_series;       /* the tenant's series in this shard (the
                                replicated count: its 'N' key) */
    bool n_loaded;           /* n_series read from storage */
    struct head_window *next;
};

struct head_tenant {
    char *name;
    size_t name_len;
    uint64_t active_series; /* series in memory over all windows */
    struct head_window *windows;
    struct head_tenant *next;
};

struct tr_jobs;

/* A seal job's checksum of a shard (seal.c). */
struct seal_sum {
    struct tr_shard_id id;
    uint64_t index; /* the applied index it was taken at */
    uint64_t sum;
};

struct tr_storage {
    struct tr_storage_config cfg;
    char *data_dir;
    struct tr_engine *eng;
    pthread_mutex_t write_mu; /* serializes append/checkpoint */
    pthread_rwlock_t head_mu; /* head structure: W in apply, R in reads */
    struct head_tenant *tenants;
    struct storage_shard *shards;
    uint64_t head_series;
    uint64_t chunks_cut;
    uint64_t checkpoints;
    struct tr_wbatch *batch; /* reused per apply (under write_mu) */
    bool write_failed;       /* a write of the current apply failed */
    unsigned fail_writes;    /* test seam: applies left to fail (write_mu) */
    struct tr_buf key;       /* scratch key (under write_mu) */
    struct tr_buf val;       /* scratch value (under write_mu) */
    struct tr_select_source source;
    struct tr_log_source log_source;
    struct tr_trace_source trace_source;
    struct tr_jobs *jobs; /* the job queue, while open (storage/jobs.h) */
    /* the checksums seal jobs took (tr_storage_shard_seal_sum), under
     * sum_mu: the loop thread reads them, and write_mu is held across
     * RocksDB writes */
    pthread_mutex_t sum_mu;
    struct seal_sum *sums;
    size_t n_sums, cap_sums;
    uint64_t reshape; /* ranges deleted or replaced (drops, copies):
                         a seal job's step reads without write_mu and
                         writes only if it did not move (write_mu) */
};

/* A shard's progress (one per shard applied on this node). */
struct storage_shard {
    struct tr_shard_id id;
    uint64_t applied; /* newest applied Raft index */
    uint64_t durable; /* everything <= durable is in RocksDB */
    uint64_t entries; /* applied since open */
    bool claimed;     /* a state machine owns it */
    bool sealed;      /* its sealed marker exists (storage/seal.h) */
    bool compacting;  /* a seal job is pending (storage/seal.h) */
    struct storage_shard *next;
};

/* storage.c */
/* The shard's progress record, loaded from RocksDB on first use (caller
 * holds write_mu). */
struct storage_shard *storage_shard_get(struct tr_storage *s,
                                        const struct tr_shard_id *id);
void storage_applied_key(uint8_t out[TR_KEY_APPLIED_SIZE],
                         const struct tr_shard_id *id);

/* log_apply.c: directories written before the logs_open column family
 * held open fragments in logs: moves them there, once (a marker in meta
 * says it is done). 0 or TR_EIO/TR_ENOMEM with errmsg. */
int log_upgrade_fragments(struct tr_storage *s, char *errmsg);

/* shard_copy.c: calls fn for every tenant's key range of the shard (its
 * prefix: tenant | 0 | window | slot) in every column family of its
 * signal (tr_cfs_of_signal, in that order), with it positioned at the
 * range's first key; fn iterates the range itself and may move it. Stops
 * at the first fn that does not return 0 and returns that. */
typedef int (*storage_range_fn)(void *arg,
                                enum tr_cf cf,
                                struct tr_iter *it,
                                const struct tr_buf *prefix);
int storage_shard_ranges(struct tr_storage *s,
                         const struct tr_shard_id *id,
                         storage_range_fn fn,
                         void *arg);
/* Checksum of the shard's keys (caller holds write_mu). */
uint64_t storage_shard_checksum_locked(struct tr_storage *s,
                                       const struct tr_shard_id *id);

/* head.c */
int head_apply(struct tr_storage *s,
               int64_t window,
               uint16_t slot,
               uint64_t index,
               const void *entry,
               size_t len,
               struct tr_apply_result *res,
               char *errmsg);
/* Persists the open chunks (cutting them when cut_all) and out-of-order
 * buffers (as chunks numbered seq) of window's slot (-1: every slot) into
 * s->batch. */
void head_persist(struct tr_storage *s,
                  int64_t window,
                  int slot,
                  uint64_t seq,
                  bool cut_all);
/* Frees window's slot (-1: every slot) from memory; persist it first. */
void head_evict_window(struct tr_storage *s, int64_t window, int slot);
/* Frees one tenant's series of the shard (window, slot) from memory
 * without persisting them (a drop-tenant entry; caller holds head_mu). */
void head_evict_tenant(struct tr_storage *s,
                       struct tr_slice tenant,
                       int64_t window,
                       uint16_t slot);
/* seal.c: the sealed marker's key (storage/seal.h) and whether it is in
 * RocksDB. */
#define SEAL_MARKER_KEY_SIZE 12
void seal_marker_key(uint8_t out[SEAL_MARKER_KEY_SIZE],
                     const struct tr_shard_id *id);
bool seal_marker_load(struct tr_storage *s, const struct tr_shard_id *id);
/* Records (ok) or forgets the seal job's checksum of a shard (takes
 * sum_mu). */
void seal_sum_set(struct tr_storage *s,
                  const struct tr_shard_id *id,
                  bool ok,
                  uint64_t index,
                  uint64_t sum);

/* seal_compact.c: one step of compacting the sealed metrics shard id's
 * tenant: seal_compact_step merges series' chunks, then
 * seal_compact_postings_step turns the label index's posting keys into
 * lists (storage/postings.h). Each reads about SEAL_STEP_BYTES from
 * *resume on (empty: the start; a step leaves there where the next one
 * begins), writes the result, sets *done after the tenant's last series or
 * label, and adds to *read and *written. It takes write_mu for its write
 * only, and writes nothing when a range changed meanwhile (*resume then
 * stays). 0, TR_ENOMEM, TR_ECORRUPT (a chunk that does not decode) or
 * TR_EIO. */
typedef int seal_step_fn(struct tr_storage *s,
                         const struct tr_shard_id *id,
                         struct tr_slice tenant,
                         struct tr_buf *resume,
                         bool *done,
                         uint64_t *read,
                         uint64_t *written);
seal_step_fn seal_compact_step;
seal_step_fn seal_compact_postings_step;
/* storage.c: a seal job finished: checkpoints and checksums the shard
 * (tr_storage_shard_seal_sum) and clears its compacting flag. 0 or
 * TR_EIO/TR_ENOMEM. */
int storage_seal_finish(struct tr_storage *s, const struct tr_shard_id *id);
/* storage.c: a seal job of the shard is pending (found at open). */
void storage_seal_compacting(struct tr_storage *s,
                             const struct tr_shard_id *id);
/* jobs.c: adds the record of a seal job for shard id to b; once b is
 * written, jobs_queue_recorded queues it (j may be NULL: it is queued at
 * the next open). */
void jobs_record_seal(struct tr_wbatch *b, const struct tr_shard_id *id);
void jobs_queue_recorded(struct tr_jobs *j, const struct tr_shard_id *id);

/* retention.c: adds the drop of tenant's ranges in the shard to s->batch
 * and evicts its metrics head (caller holds write_mu, and head_mu for a
 * metrics shard). */
void retention_apply_drop(struct tr_storage *s,
                          const struct tr_shard_id *id,
                          struct tr_slice tenant);
void head_free(struct tr_storage *s);
/* The tenant's series count in a shard as stored ('N' key, else counted). */
uint64_t head_series_count_load(struct tr_storage *s,
                                struct tr_slice tenant,
                                int64_t window,
                                uint16_t slot);
struct head_tenant *head_tenant_find(struct tr_storage *s,
                                     struct tr_slice tenant);
struct head_window *head_window_find(struct head_tenant *t,
                                     int64_t start,
                                     uint16_t slot);
/* Appends the chunk record (maxt + bytes) to out. */
void head_chunk_record(struct tr_buf *out,
                       int64_t maxt,
                       const void *bytes,
                       size_t n);

/* select.c */
void select_init_source(struct tr_storage *s);

/* exemplars.c: merges the exemplars ex (n of them) of series id into its
 * stored ones, keeping the TR_EXEMPLARS_PER_SERIES greatest keys; the
 * changes go into s->batch (caller holds write_mu). The exemplars' enc
 * must be set. 0 or TR_ENOMEM. */
int exemplars_apply(struct tr_storage *s,
                    struct tr_slice tenant,
                    int64_t window,
                    uint16_t slot,
                    uint64_t id,
                    const struct tr_entry_exemplar *const *ex,
                    size_t n);
/* Appends the stored exemplars of series id in [mint, maxt] to *v (*n
 * used, *cap allocated; grown in arena a), by time. 0 or TR_ENOMEM. */
int exemplars_read(struct tr_iter *it,
                   struct tr_slice tenant,
                   int64_t window,
                   uint16_t slot,
                   uint64_t id,
                   int64_t mint,
                   int64_t maxt,
                   struct tr_arena *a,
                   struct tr_exemplar **v,
                   size_t *n,
                   size_t *cap);

/* log_apply.c: applies a logs write entry of shard id at index into
 * s->batch (caller holds write_mu; storage.c writes the batch with the
 * applied index). Same contract as tr_storage_shard_apply. */
int log_apply(struct tr_storage *s,
              const struct tr_shard_id *id,
              uint64_t index,
              const void *entry,
              size_t len,
              struct tr_apply_result *res,
              char *errmsg);
/* trace_apply.c: applies a traces write or cut entry of shard id at
 * index into s->batch (storage/trace_keys.h). 0, TR_ECORRUPT (an entry
 * that does not decode) or TR_EIO/TR_ENOMEM (errmsg). */
int trace_apply(struct tr_storage *s,
                const struct tr_shard_id *id,
                uint64_t index,
                const void *entry,
                size_t len,
                struct tr_apply_result *res,
                char *errmsg);

/* log_read.c */
void log_init_source(struct tr_storage *s);

#endif
