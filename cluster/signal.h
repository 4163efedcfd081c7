/* signal.h - what a signal adds to the cluster layer: one "signal ops"
 * table per signal, in one file per signal (signal_metrics.c,
 * signal_logs.c, signal_traces.c).
 *
 * The signal-independent machinery calls these; the signal's own entry
 * points (its write and read functions in cluster.h) use the generic
 * pieces of cluster_int.h:
 *
 *   split a decoded write    signal's write fn: cl_window_k per window,
 *   into per-shard batches   jump hash of (tenant, key) over K, one
 *                            cl_batch per shard, then cl_write_batches
 *   encode an entry          storage/entry.h of the signal
 *   admit (leader)           ops->admit, below, before proposing
 *   apply an entry           storage (tr_storage_shard_apply dispatches by
 *                            the shard's signal) on the storage threads
 *   serve a shard-local read ops->serve_read, for /internal/v1/read
 *   merge shard results      the signal's read fns over cl_read_run
 *   graceful stop (leader)   ops->stop_entry, proposed before the last
 *                            snapshot (cl_groups_snapshot_all)
 */
#ifndef TR_CLUSTER_SIGNAL_H
#define TR_CLUSTER_SIGNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "storage/shard.h"
#include "storage/storage.h"

struct tr_cluster;

struct cl_signal_ops {
    uint8_t signal; /* enum tr_signal */
    /* Leader, worker thread, before proposing: cuts an entry at the
     * shard's limits, deciding against the shard's replicated state only
     * (e.g. the tenant's series count in the shard) and the catalog's
     * limits; appends the entry to propose to out (the same bytes when
     * nothing is cut) and counts what it refused in res (res->rejected,
     * first_error, errmsg). Entries that are not data (verify) pass
     * unchanged. 0 or an error (the write fails). */
    int (*admit)(struct tr_cluster *c,
                 const struct tr_shard_id *id,
                 const void *entry,
                 size_t len,
                 struct tr_buf *out,
                 struct tr_apply_result *res,
                 char *errmsg);
    /* Worker thread: answers the signal's read request req over the local
     * shards ids (this node serves them all), appending the signal's
     * response to out; a framed answer (cluster_int.h) holds at most
     * max_units units (0: no limit). TR_EINVAL/TR_EPROTO for the caller's
     * mistakes (HTTP 400), TR_ELIMIT for a limit (422), anything else is
     * a failure of this replica. */
    int (*serve_read)(struct tr_cluster *c,
                      const struct tr_shard_id *ids,
                      size_t n,
                      uint64_t max_units,
                      const void *req,
                      size_t len,
                      struct tr_buf *out,
                      char *errmsg);
    /* Loop thread, leader of a shard with entries since its last snapshot,
     * graceful stop: appends to out an entry to propose before the last
     * snapshot (the logs cut entry: open fragments become blocks, so a
     * stopped node holds its shards in their compact form). NULL: none. */
    void (*stop_entry)(struct tr_buf *out);
};

/* The ops of a signal with a store on this build, else NULL. */
const struct cl_signal_ops *cl_signal_ops(uint8_t signal);

extern const struct cl_signal_ops cl_signal_metrics;
extern const struct cl_signal_ops cl_signal_logs;
extern const struct cl_signal_ops cl_signal_traces;

#endif
