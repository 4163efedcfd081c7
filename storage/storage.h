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
 * Logs shards (signal 2; storage/log_store.h) keep nothing in memory: each
 * apply writes its lines, the streams' state and the shard's applied index
 * in one batch (storage/log_keys.h), so a logs shard is durable at every
 * applied index and its checkpoint only rewrites that index. Both kinds
 * rely on the same contract: RocksDB's WAL (fsync per write only with
 * wal_sync) holds what was written, and after a crash the Raft log is
 * replayed from the applied index found in RocksDB.
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
#include "storage/shard.h"

struct tr_storage_config {
    int version; /* 1 */
    const char *data_dir;
    size_t cache_bytes;
    bool wal_sync;             /* fsync RocksDB writes */
    int64_t window_ms;         /* placement window, 24 h */
    int64_t chunk_max_ms;      /* cut chunks spanning this (2 h) */
    size_t compact_write_rate; /* bytes/s a seal compaction writes; 0 any */
};

/* What applying one entry did. Counts are of the signal's items: samples
 * for metrics (later: log entries, spans). */
struct tr_apply_result {
    uint64_t index;              /* Raft index of the entry */
    bool skipped;                /* at or below the applied index */
    uint64_t appended;           /* items stored */
    uint64_t duplicate;          /* exact duplicates: no-ops */
    uint64_t rejected;           /* items refused (reason: first_error) */
    uint64_t created;            /* series (streams, traces) created */
    uint64_t metadata;           /* metadata records written */
    int first_error;             /* TR_EDUP, TR_ETOOOLD, TR_ELIMIT or 0 */
    char errmsg[TR_ERRMSG_SIZE]; /* message of the first rejected item */
};

/* Adds b's counts to a (and b's first error when a has none). */
void tr_apply_result_add(struct tr_apply_result *a,
                         const struct tr_apply_result *b);

struct tr_storage_stats {
    uint64_t head_series;
    uint64_t head_chunks;
    uint64_t shards; /* shards with state on this node */
    uint64_t chunks_cut;
    uint64_t checkpoints;
};

struct tr_storage;

/* Opens (creating if needed). A data directory written before shard ids
 * carried their signal is upgraded in place: its applied-index keys
 * ("A" | window | slot) become metrics shards' keys. */
int tr_storage_open(const struct tr_storage_config *cfg,
                    struct tr_storage **out,
                    char *errmsg);
/* Checkpoints every shard and closes. */
void tr_storage_close(struct tr_storage *s);

/* Applies one entry of the shard's signal (metrics: storage/entry.h; logs:
 * storage/log_entry.h, Loki's semantics in storage/log_apply.c) at
 * Raft index `index`. Entries at or below the shard's applied index are
 * skipped (res->skipped). Apply is deterministic: it depends only on the
 * entry and on the shard's stored state, never on limits, clocks or flags
 * of this node.
 * Returns 0 when applied (individual items may still be refused: see
 * res->first_error); TR_ECORRUPT for an undecodable entry (skipped on every
 * replica alike, the applied index advances); TR_EIO when the storage
 * write failed: nothing of the entry is acknowledged, the applied index
 * does not advance, and the shard must be reset (tr_storage_shard_reset)
 * and the entry applied again - a replica never skips an entry. */
int tr_storage_shard_apply(struct tr_storage *s,
                           const struct tr_shard_id *id,
                           uint64_t index,
                           const void *entry,
                           size_t len,
                           struct tr_apply_result *res,
                           char *errmsg);
/* One owner (a shard state machine) at a time per shard: 0, or
 * TR_EUNAVAIL while another owner still holds it (a closing state machine
 * draining its queue). */
int tr_storage_shard_claim(struct tr_storage *s, const struct tr_shard_id *id);
void tr_storage_shard_unclaim(struct tr_storage *s,
                              const struct tr_shard_id *id);
/* Forgets the shard's in-memory state that is not durable (after a failed
 * apply): its head is dropped and its applied index falls back to the
 * durable one, so the entries above it are applied again (idempotently). */
int tr_storage_shard_reset(struct tr_storage *s, const struct tr_shard_id *id);
/* Persists the shard's head and applied index atomically; *index gets the
 * index now durable. */
int tr_storage_shard_checkpoint(struct tr_storage *s,
                                const struct tr_shard_id *id,
                                uint64_t *index);
/* Checkpoints every shard with state on this node (bounds Raft replay
 * after a crash independently of snapshots). */
int tr_storage_checkpoint_all(struct tr_storage *s);
/* Applied index of a shard (durable = covered by a checkpoint). */
uint64_t tr_storage_shard_applied(struct tr_storage *s,
                                  const struct tr_shard_id *id,
                                  bool durable);
/* Forgets a shard's applied state, head and data (before a bulk copy
 * replaces it, or when it is dropped). */
int tr_storage_shard_drop(struct tr_storage *s, const struct tr_shard_id *id);
/* Bulk copy: every key of the shard (all tenants) with its value, after a
 * checkpoint, as a stream of records: u8 cf, uvarint key length, key,
 * uvarint value length, value; then the applied index (u64 BE) and an
 * FNV-1a 64 checksum of everything before it (u64 BE). */
int tr_storage_shard_dump(struct tr_storage *s,
                          const struct tr_shard_id *id,
                          struct tr_buf *out);
/* Loads a dump (verifying the checksum) in place of the shard's data and
 * sets its applied index; TR_ECORRUPT on a bad dump. */
int tr_storage_shard_load(struct tr_storage *s,
                          const struct tr_shard_id *id,
                          const void *dump,
                          size_t len,
                          uint64_t *index);
/* Checksum of the shard's persisted keys and values (all tenants). Call
 * after a checkpoint at the index of interest for a replica-independent
 * value (tr_storage_shard_verify does both). */
uint64_t tr_storage_shard_checksum(struct tr_storage *s,
                                   const struct tr_shard_id *id);
/* Checkpoints the shard and checksums it: every replica that calls this
 * at the same applied index gets the same value. */
int tr_storage_shard_verify(struct tr_storage *s,
                            const struct tr_shard_id *id,
                            uint64_t *index,
                            uint64_t *checksum);
/* Persists (cutting every chunk) and frees from memory the shards of
 * signal whose window ended before older_than_ms. Logs shards hold nothing
 * in memory: their open fragments stay as they are (blocks are cut by
 * apply only, so replicas stay byte-equal). */
int tr_storage_evict(struct tr_storage *s,
                     uint8_t signal,
                     int64_t older_than_ms);
/* Checkpoints every shard, flushes RocksDB memtables and compacts
 * (benchmarks, admin). Open chunks stay open (replicas stay equal). */
int tr_storage_flush(struct tr_storage *s);
void tr_storage_get_stats(struct tr_storage *s, struct tr_storage_stats *st);
struct tr_engine *tr_storage_engine(struct tr_storage *s);
/* Test seam (unit tests only): the next n applies that reach their write
 * (entries above the shard's applied index that decode) fail with TR_EIO
 * as if RocksDB refused the write: the entry's batch is not written while
 * the head may hold part of it - the state a real write failure leaves. */
void tr_storage_fail_writes_for_test(struct tr_storage *s, unsigned n);
/* Test seam (POST /debug/corrupt, with --debug.fake-clock only): deletes
 * one key of the shard's data on this node, as a damaged disk would. 0 or
 * TR_ENOTFOUND (no data). */
int tr_storage_shard_corrupt_for_test(struct tr_storage *s,
                                      const struct tr_shard_id *id);
/* The local select source (storage/select.h). */
const struct tr_select_source *tr_storage_source(struct tr_storage *s);

/* Series admission (metrics shards; any thread): for each of the n
 * canonical label sets, is_new[i] tells whether the series does not exist
 * in the shard yet (else ids[i] is its series id), and *count gets the
 * tenant's series count in the shard (replicated state: kept by apply).
 * The leader uses it to cut a write at the tenant's series limit before
 * proposing it, and to write references instead of labels for series the
 * shard has (storage/entry.h). */
int tr_storage_series_admit(struct tr_storage *s,
                            const struct tr_shard_id *id,
                            struct tr_slice tenant,
                            const struct tr_slice *labels,
                            size_t n,
                            bool *is_new,
                            uint64_t *ids,
                            uint64_t *count);

/* Metric metadata (from remote-write). */
struct tr_metadata_item {
    struct tr_slice metric;
    uint8_t type;
    struct tr_slice help;
    struct tr_slice unit;
};
/* Metadata of a tenant's metrics shards (all local metrics shards when
 * n_shards is 0, else those listed), or of one metric when metric.len > 0;
 * sorted by metric name, one item per metric (the newest window's record
 * wins; records of data directories older than shard-held metadata come
 * last); at most limit metrics (0 = all). Arrays and bytes in arena. */
int tr_storage_metadata(struct tr_storage *s,
                        struct tr_slice tenant,
                        struct tr_slice metric,
                        size_t limit,
                        const struct tr_shard_id *shards,
                        size_t n_shards,
                        struct tr_arena *a,
                        struct tr_metadata_item **out,
                        size_t *n);
/* Sorts items by metric name (then content) and keeps one per name, at
 * most limit (0 = all); the same items in any order give the same result.
 * Returns the count. */
size_t tr_metadata_merge(struct tr_metadata_item *items,
                         size_t n,
                         size_t limit);

/* Exemplars (storage/exemplars.c): at most TR_EXEMPLARS_PER_SERIES per
 * series in a shard, the newest. */
#define TR_EXEMPLARS_PER_SERIES 64
struct tr_exemplar {
    struct tr_label *labels; /* sorted (trace_id, span_id, ...) */
    size_t n_labels;
    double value;
    int64_t ts; /* ms */
};
struct tr_exemplar_series {
    struct tr_label *labels; /* the series' labels, sorted */
    size_t n_labels;
    struct tr_exemplar *ex; /* by time */
    size_t n;
};
/* The exemplars in [mint, maxt] of the tenant's series matching ms (n_ms
 * matchers), in the shards listed (every local metrics shard when
 * n_shards is 0), one item per series (merged over windows), sorted by
 * series labels, exemplars by time. Arrays and bytes in arena. 0,
 * TR_ENOMEM or TR_EIO (errmsg). */
int tr_storage_exemplars(struct tr_storage *s,
                         struct tr_slice tenant,
                         const struct tr_matcher *ms,
                         size_t n_ms,
                         int64_t mint,
                         int64_t maxt,
                         const struct tr_shard_id *shards,
                         size_t n_shards,
                         struct tr_arena *a,
                         struct tr_exemplar_series **out,
                         size_t *n,
                         char *errmsg);
/* Sorts items by series labels, merges the items of one series (their
 * exemplars sorted by time, value and labels, exact duplicates dropped)
 * and drops items without exemplars; the same items in any order give the
 * same result. *n shrinks. 0 or TR_ENOMEM. */
int tr_exemplar_series_merge(struct tr_exemplar_series *v,
                             size_t *n,
                             struct tr_arena *a);

#endif
