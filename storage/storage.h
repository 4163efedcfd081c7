/* storage.h - the node's metric store: one RocksDB (storage/engine.h), an
 * in-memory head of open chunks, and a write-ahead log of entries.
 *
 * Write path: tr_storage_append() assigns the entry the next log index,
 * writes it to the WAL column family (durable before anything else), then
 * applies it: samples go into per-series open XOR chunks in memory; full
 * chunks (120 samples or 2 h) are cut into RocksDB; new series get their
 * series and posting keys. Apply is deterministic and idempotent: exact
 * duplicate samples are no-ops, so replaying the log after a crash is safe.
 *
 * Checkpoint: persists every open chunk and out-of-order buffer, records
 * the checkpoint index and deletes the WAL up to it. Recovery replays WAL
 * entries after the checkpoint index.
 *
 * Threading: appends are serialized by one lock; reads run concurrently. */
#ifndef TR_STORAGE_STORAGE_H
#define TR_STORAGE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "storage/engine.h"
#include "storage/select.h"

struct tr_storage_config {
    int version;                 /* 1 */
    const char *data_dir;
    size_t cache_bytes;
    bool wal_sync;
    int64_t window_ms;           /* placement window, 24 h */
    int64_t ooo_window_ms;       /* out-of-order acceptance per series */
    int64_t chunk_max_ms;        /* cut chunks spanning this (2 h) */
    uint64_t max_series;         /* per tenant active series; 0 = off */
    int64_t head_retain_ms;      /* keep a window in memory until
                                    window end + this (late-write grace) */
    uint64_t wal_checkpoint_bytes; /* checkpoint once the WAL holds this
                                      much (0 = 64 MiB) */
};

struct tr_apply_result {
    uint64_t index;              /* log index the entry got */
    uint64_t samples_appended;
    uint64_t samples_duplicate;  /* exact duplicates: no-ops */
    uint64_t samples_rejected;
    uint64_t series_created;
    uint64_t metadata_written;
    int first_error;             /* TR_EDUP, TR_ETOOOLD, TR_ELIMIT or 0 */
    char errmsg[TR_ERRMSG_SIZE]; /* message of the first rejected sample */
};

struct tr_storage_stats {
    uint64_t head_series;
    uint64_t head_chunks;
    uint64_t last_index;
    uint64_t checkpoint_index;
    uint64_t chunks_cut;
    uint64_t checkpoints;
    uint64_t wal_bytes;          /* since the last checkpoint */
};

struct tr_storage;

/* Opens (creating if needed) and recovers from the WAL. */
int tr_storage_open(const struct tr_storage_config *cfg,
                    struct tr_storage **out, char *errmsg);
/* Checkpoints and closes. */
void tr_storage_close(struct tr_storage *s);

/* Logs and applies one metrics entry (storage/entry.h). Returns 0 when the
 * entry was durably logged and applied (individual samples may still be
 * rejected: see res->first_error), TR_ECORRUPT for an undecodable entry,
 * TR_EIO when it could not be logged (nothing changed). */
int tr_storage_append(struct tr_storage *s, const void *entry, size_t len,
                      struct tr_apply_result *res, char *errmsg);
/* Persists the head and truncates the WAL. Evicts windows older than
 * now - head_retain_ms from memory. */
int tr_storage_checkpoint(struct tr_storage *s, int64_t now_ms);
/* Cuts every open chunk, checkpoints, flushes RocksDB memtables and
 * compacts the metrics column family (benchmarks, admin). */
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
int tr_storage_metadata(struct tr_storage *s, struct tr_slice tenant,
                        struct tr_slice metric, size_t limit,
                        struct tr_arena *a, struct tr_metadata_item **out,
                        size_t *n);

#endif
