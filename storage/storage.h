/* storage.h - the node's metric store: one RocksDB (storage/engine.h) and an
 * in-memory head of open chunks, organised in shards (window, slot).
 *
 * Write path: every shard is a Raft group; its state machine calls
 * tr_storage_shard_apply() with each committed entry and its Raft index.
 * Samples go into per-series open XOR chunks in memory; full chunks (120
 * samples or 2 h) are cut into RocksDB; new series get their series and
 * posting keys. Apply is deterministic and idempotent: exact duplicate
 * samples are no-ops, so replaying the Raft log after a crash is safe.
 *
 * Durability: the Raft log holds what the head has not persisted. A shard
 * checkpoint (tr_storage_shard_checkpoint, taken when Raft snapshots)
 * persists the shard's open chunks and out-of-order buffers together with
 * its applied index in one RocksDB write batch: everything up to that
 * index is then in RocksDB, and the snapshot is just that index.
 *
 * Threading: applies and checkpoints are serialized by one lock; reads run
 * concurrently from any thread. */
#ifndef TR_STORAGE_STORAGE_H
#define TR_STORAGE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "storage/engine.h"
#include "storage/select.h"

struct tr_storage_config {
    int version; /* 1 */
    const char *data_dir;
    size_t cache_bytes;
    bool wal_sync;         /* fsync RocksDB writes */
    int64_t window_ms;     /* placement window, 24 h */
    int64_t ooo_window_ms; /* out-of-order acceptance per series */
    int64_t chunk_max_ms;  /* cut chunks spanning this (2 h) */
    uint64_t max_series;   /* per tenant active series; 0 = off */
};

struct tr_apply_result {
    uint64_t index; /* Raft index of the entry */
    bool skipped;   /* at or below the applied index */
    uint64_t samples_appended;
    uint64_t samples_duplicate; /* exact duplicates: no-ops */
    uint64_t samples_rejected;
    uint64_t series_created;
    uint64_t metadata_written;
    int first_error;             /* TR_EDUP, TR_ETOOOLD, TR_ELIMIT or 0 */
    char errmsg[TR_ERRMSG_SIZE]; /* message of the first rejected sample */
};

struct tr_storage_stats {
    uint64_t head_series;
    uint64_t head_chunks;
    uint64_t shards; /* shards with state on this node */
    uint64_t chunks_cut;
    uint64_t checkpoints;
};

struct tr_storage;

/* Opens (creating if needed). */
int tr_storage_open(const struct tr_storage_config *cfg,
                    struct tr_storage **out,
                    char *errmsg);
/* Checkpoints every shard and closes. */
void tr_storage_close(struct tr_storage *s);

/* Applies one metrics entry (storage/entry.h) at Raft index `index` to the
 * shard (window, slot). Entries at or below the shard's applied index are
 * skipped (res->skipped). Returns 0 when applied (individual samples may
 * still be rejected: see res->first_error), TR_ECORRUPT for an undecodable
 * entry (skipped: apply stays deterministic). */
int tr_storage_shard_apply(struct tr_storage *s,
                           int64_t window,
                           uint16_t slot,
                           uint64_t index,
                           const void *entry,
                           size_t len,
                           struct tr_apply_result *res,
                           char *errmsg);
/* Persists the shard's head and applied index atomically; *index gets the
 * index now durable. */
int tr_storage_shard_checkpoint(struct tr_storage *s,
                                int64_t window,
                                uint16_t slot,
                                uint64_t *index);
/* Checkpoints every shard with state on this node (bounds Raft replay
 * after a crash independently of snapshots). */
int tr_storage_checkpoint_all(struct tr_storage *s);
/* Applied index of a shard (durable = covered by a checkpoint). */
uint64_t tr_storage_shard_applied(struct tr_storage *s,
                                  int64_t window,
                                  uint16_t slot,
                                  bool durable);
/* Forgets a shard's applied state, head and data (before a bulk copy
 * replaces it, or when it is dropped). */
int tr_storage_shard_drop(struct tr_storage *s, int64_t window, uint16_t slot);
/* Bulk copy: every key of the shard (all tenants) with its value, after a
 * checkpoint, as a stream of records: u8 cf, uvarint key length, key,
 * uvarint value length, value; then the applied index (u64 BE) and an
 * FNV-1a 64 checksum of everything before it (u64 BE). */
int tr_storage_shard_dump(struct tr_storage *s,
                          int64_t window,
                          uint16_t slot,
                          struct tr_buf *out);
/* Loads a dump (verifying the checksum) in place of the shard's data and
 * sets its applied index; TR_ECORRUPT on a bad dump. */
int tr_storage_shard_load(struct tr_storage *s,
                          int64_t window,
                          uint16_t slot,
                          const void *dump,
                          size_t len,
                          uint64_t *index);
/* Checksum of the shard's persisted keys and values (all tenants). */
uint64_t tr_storage_shard_checksum(struct tr_storage *s,
                                   int64_t window,
                                   uint16_t slot);
/* Persists (cutting every chunk) and frees windows that ended before
 * older_than_ms from memory. */
int tr_storage_evict(struct tr_storage *s, int64_t older_than_ms);
/* Cuts every open chunk of every shard, checkpoints, flushes RocksDB
 * memtables and compacts (benchmarks, admin). */
int tr_storage_flush(struct tr_storage *s);
void tr_storage_get_stats(struct tr_storage *s, struct tr_storage_stats *st);
struct tr_engine *tr_storage_engine(struct tr_storage *s);
/* The local select source (storage/select.h). */
const struct tr_select_source *tr_storage_source(struct tr_storage *s);

/* Metric metadata (from remote-write). */
struct tr_metadata_item {
    struct tr_slice metric;
    uint8_t type;
    struct tr_slice help;
    struct tr_slice unit;
};
/* All metadata of a tenant, or of one metric when metric.len > 0; sorted by
 * metric name; at most limit metrics (0 = all). Arrays in arena. */
int tr_storage_metadata(struct tr_storage *s,
                        struct tr_slice tenant,
                        struct tr_slice metric,
                        size_t limit,
                        struct tr_arena *a,
                        struct tr_metadata_item **out,
                        size_t *n);

#endif
