/* trace_store.h - the node's trace store: traces shards (signal 3) in the
 * traces column family of the node's RocksDB (storage/engine.h;
 * storage/storage.h owns it; applies, checkpoints, copies, checksums and
 * drops of traces shards go through the same tr_storage_shard_* calls as
 * the other signals, dispatched by the shard's signal). Key layout and
 * the lifecycle of spans: storage/trace_keys.h; blocks and their index:
 * storage/trace_block.h; entries and span batches: storage/trace_entry.h.
 *
 * Design: like logs shards, nothing of a traces shard lives in memory
 * between applies. Each apply writes its spans as one open fragment; when
 * a tenant's open fragments reach a size, that apply cuts them into a
 * block of whole traces (deterministic: the same entries give the same
 * bytes on every replica) with one trace record per trace; a trace-by-id
 * lookup seeks the trace records and reads the blocks they name, plus
 * the open fragments whose id list holds the id. A traces shard is
 * durable at every applied index. */
#ifndef TR_STORAGE_TRACE_STORE_H
#define TR_STORAGE_TRACE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "storage/shard.h"
#include "storage/storage.h"
#include "storage/trace_entry.h"
#include "storage/trace_select.h"

/* Adds to bb (arrays and copies of the data in arena a) every span of
 * trace id held by the local traces shards ids[0..n) for tenant: the
 * blocks its trace records name and the open fragments listing it. A span
 * stored twice (a retried write cut into two blocks) is added twice:
 * tr_span_batch_dedup removes it. 0, TR_ECORRUPT (a record or block that
 * does not decode; errmsg), TR_ENOMEM or TR_EIO. */
int tr_storage_trace_get(struct tr_storage *s,
                         const struct tr_shard_id *ids,
                         size_t n,
                         struct tr_slice tenant,
                         const uint8_t id[TR_TRACE_ID_SIZE],
                         struct tr_arena *a,
                         struct tr_span_batch_builder *bb,
                         char *errmsg);

/* The local trace read source (storage/trace_select.h) over every traces
 * shard of this node, or only hints->shards when n_shards > 0. */
const struct tr_trace_source *tr_storage_trace_source(struct tr_storage *s);

#endif
