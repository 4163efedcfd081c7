/* log_store.h - the node's log store: logs shards (signal 2) in the logs
 * column family of the node's RocksDB (storage/storage.h owns it; applies,
 * checkpoints, copies, checksums and drops of logs shards go through the
 * same tr_storage_shard_* calls as metrics shards, dispatched by the
 * shard's signal). The key layout and the block format are documented in
 * storage/log_keys.h and storage/log_block.h. */
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
