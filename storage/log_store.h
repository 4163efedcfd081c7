/* log_store.h - the node's log store: logs shards (signal 2) in the logs
 * and logs_open column families of the node's RocksDB (storage/engine.h;
 * storage/storage.h owns it; applies,
 * checkpoints, copies, checksums and drops of logs shards go through the
 * same tr_storage_shard_* calls as metrics shards, dispatched by the
 * shard's signal). The key layout and the lifecycle of a stream's data are
 * documented in storage/log_keys.h, the block format in storage/log_block.h
 * and the blocks' search index in storage/log_index.h.
 *
 * Design: nothing of a logs shard lives in memory between applies (memory
 * stays bounded with any number of streams). Each apply writes, per stream
 * of its entry, one uncompressed "fragment" and the stream's small state
 * record, in the RocksDB batch that also carries the shard's applied index;
 * when a stream's fragments reach ~256 KiB of lines or span an hour, that
 * apply merges them into one zstd block plus its index (deterministic: the
 * same entries give the same bytes on every replica); the logs cut entry
 * of a leader's graceful stop does that for every stream with open
 * fragments (storage/log_entry.h). A logs shard is thus
 * durable at every applied index: checkpoints only rewrite that index,
 * and crash recovery replays the Raft log from it (storage/storage.h).
 * Semantics (Loki's): an entry more than the entry's out-of-order window
 * behind its stream's newest is refused ("entry too far behind ..."), an
 * exact duplicate (ts, line, structured metadata) of an entry the stream
 * holds is dropped, everything else is stored (storage/log_apply.c). */
#ifndef TR_STORAGE_LOG_STORE_H
#define TR_STORAGE_LOG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "storage/log_select.h"
#include "storage/shard.h"
#include "storage/storage.h"

/* Stream admission (logs shards; any thread): for each of the n canonical
 * label sets, is_new[i] tells whether the stream does not exist in the
 * shard yet, and *count gets the tenant's stream count in the shard
 * (replicated state: kept by apply). The leader cuts a write at the
 * tenant's stream limit against it before proposing. 0, TR_ENOMEM,
 * TR_EIO. */
int tr_storage_streams_admit(struct tr_storage *s,
                             const struct tr_shard_id *id,
                             struct tr_slice tenant,
                             const struct tr_slice *labels,
                             size_t n,
                             bool *is_new,
                             uint64_t *count);

/* The local logs read source (storage/log_select.h) over every logs shard
 * of this node, or only hints->shards when n_shards > 0. */
const struct tr_log_source *tr_storage_log_source(struct tr_storage *s);

#endif
