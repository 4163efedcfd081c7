/* cluster.h - the node in its cluster: the meta group (catalog), the shard
 * groups this node replicates, forming and joining, windows and placement,
 * routing writes to shard leaders, reading from one healthy replica per
 * shard in parallel, shard copy, verification, and the internal RPC
 * endpoints (as plain handler functions that server/ registers).
 *
 * A single node is the same code with one node, RF = 1, K = 1.
 *
 * Signals: the signal-independent machinery lives in node.c, groups.c,
 * meta.c, write.c, read.c, handlers.c; everything a signal adds is one
 * "signal ops" file (signal_metrics.c today; see cluster/signal.h).
 *
 * Threads: everything that touches Raft runs on the loop thread; applies
 * run on the storage threads (raft/shard_fsm.h). The write and read entry
 * points below are called from worker threads; they hand work to the loop
 * and wait. Dependencies: cluster -> {raft, storage, proto, lib}; it never
 * includes server/. */
#ifndef TR_CLUSTER_CLUSTER_H
#define TR_CLUSTER_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/buf.h"
#include "raft/catalog.h"
#include "storage/entry.h"
#include "storage/log_entry.h"
#include "storage/log_select.h"
#include "storage/select.h"
#include "storage/storage.h"
#include "storage/trace_entry.h"
#include "storage/trace_select.h"

struct tr_cluster;
struct tr_jobs;

/* What the cluster layer needs from the node's configuration (server/
 * fills it from its flags). Strings are borrowed for the cluster's life. */
/* Traces queries pushed down to the nodes that hold the shards (search,
 * tag names and values: the TraceQL engine belongs to server/, which
 * gives the function in tr_cluster_config; the cluster only carries requests
 * and answers). fn answers req over src (the node's local trace source)
 * restricted to the shards ids[0..n), appending its answer to out; 0 or
 * an error with errmsg (TR_EINVAL: the caller's mistake, 400). */
typedef int (*tr_cluster_traces_fn)(void *arg,
                                    const struct tr_trace_source *src,
                                    const struct tr_shard_id *ids,
                                    size_t n,
                                    const void *req,
                                    size_t len,
                                    struct tr_buf *out,
                                    char *errmsg);
struct tr_cluster_config {
    int version;                /* 1 */
    const char *data_dir;       /* Raft state in <data_dir>/raft */
    const char *node_name;      /* identity (the Raft id is its hash) */
    const char *cluster_addr;   /* Raft listener */
    const char *advertise_addr; /* "" = derived */
    const char *join;           /* "a,b" HTTP addresses, "" = none */
    const char *cluster_secret; /* "" = none */
    uint32_t bootstrap_expect;
    uint32_t replication_factor; /* 0 = min(3, nodes) */
    uint32_t shards_per_window;  /* 0 = nodes */
    int64_t placement_window_ms;
    int64_t election_ms;
    int64_t heartbeat_ms;
    bool pre_vote;
    uint32_t snapshot_threshold; /* entries */
    uint32_t snapshot_trailing;  /* entries */
    uint64_t snapshot_bytes;     /* log bytes that trigger a snapshot */
    uint64_t snapshot_trailing_bytes;
    uint64_t segment_bytes; /* raft_uv segments of shard groups; 0: 4 MiB */
    int64_t write_timeout_ms;
    /* late-write grace per signal (index: enum tr_signal), resolved */
    int64_t late_write_grace_ms[TR_SIGNAL_MAX + 1];
    int64_t ooo_window_ms; /* proposed into the catalog's settings */
    /* retention per signal (index: enum tr_signal); 0 = forever */
    int64_t retention_ms[TR_SIGNAL_MAX + 1];
    struct tr_jobs *jobs;           /* drop jobs go here (NULL: no drops) */
    uint64_t max_series;            /* default per-tenant series limit */
    uint64_t max_streams;           /* default per-tenant log stream limit */
    uint64_t apply_queue_bytes;     /* back-pressure: 503 above this */
    unsigned storage_threads;       /* apply threads (lanes) */
    bool fake_clock;                /* --debug.fake-clock given */
    int64_t fake_clock_start_ms;    /* its start */
    tr_cluster_traces_fn traces_fn; /* NULL: this node serves none */
    void *traces_arg;
};

/* Starts the cluster layer on loop: the Raft listener, the meta group
 * (bootstrapped alone, with --bootstrap-expect peers, or joined through
 * --join), the storage threads, and a tick that creates windows and starts
 * shard groups. http_port is the bound API port (for the advertised
 * address). cfg is copied. */
int tr_cluster_start(uv_loop_t *loop,
                     const struct tr_cluster_config *cfg,
                     struct tr_storage *storage,
                     int http_port,
                     struct tr_cluster **out,
                     char *errmsg);
/* Transfers leaderships away, closes every group, the listener and the RPC
 * client; cb on the loop when done. Loop thread. */
void tr_cluster_shutdown(struct tr_cluster *c,
                         void (*cb)(void *arg),
                         void *arg);
/* After the loop stopped: joins the storage threads, frees. */
void tr_cluster_free(struct tr_cluster *c);

/* ---- metrics (cluster/signal_metrics.c) ---------------------------------
 */

/* Worker threads: routes a validated metrics write (one tenant) to its
 * shards and waits until every touched shard committed and applied it.
 * res sums the shards' results (including series refused at the tenant's
 * series limit by the shards' leaders). 0, or TR_EUNAVAIL (no leader / no
 * quorum / overloaded within --cluster.write-timeout: 503) with errmsg. */
int tr_cluster_write_metrics(struct tr_cluster *c,
                             const struct tr_entry_metrics *m,
                             struct tr_apply_result *res,
                             char *errmsg);
/* The cluster-wide metrics select source (parallel fan-out to one replica
 * per shard). */
const struct tr_select_source *tr_cluster_source(struct tr_cluster *c);
/* Exemplars in [mint, maxt] of the tenant's series matching ms, from
 * one replica of every metrics shard overlapping the range (worker
 * thread): one item per series, sorted by labels, exemplars by time
 * (storage/storage.h, tr_storage_exemplars); arrays in arena. 0 or an
 * error with errmsg (TR_EUNAVAIL: a shard could not be read). */
int tr_cluster_exemplars(struct tr_cluster *c,
                         struct tr_slice tenant,
                         const struct tr_matcher *ms,
                         size_t n_ms,
                         int64_t mint,
                         int64_t maxt,
                         struct tr_arena *a,
                         struct tr_exemplar_series **out,
                         size_t *n,
                         char *errmsg);
/* Metric metadata of a tenant from the metrics shards of the last two
 * windows, from any node alike (worker thread; arrays in arena). */
int tr_cluster_metadata(struct tr_cluster *c,
                        struct tr_slice tenant,
                        struct tr_slice metric,
                        size_t limit,
                        struct tr_arena *a,
                        struct tr_metadata_item **out,
                        size_t *n,
                        char *errmsg);

/* ---- logs (cluster/signal_logs.c) ----------------------------------------
 */
/* Worker threads: routes a validated logs push (one tenant; streams with
 * canonical labels, lines valid) to its shards - stream = (tenant, labels),
 * shard = (logs, window(ts), jump_hash(hash(tenant, labels), K)) - and
 * waits until every touched shard committed and applied it. res sums the
 * shards' results (lines refused at the tenant's stream limit by the
 * leaders, too far behind, duplicates). 0, or TR_EUNAVAIL / TR_EBUSY (503)
 * with errmsg. */
int tr_cluster_write_logs(struct tr_cluster *c,
                          const struct tr_entry_logs *e,
                          struct tr_apply_result *res,
                          char *errmsg);
/* The cluster-wide logs read source (storage/log_select.h; parallel
 * fan-out to one replica per shard, streams merged across windows). */
const struct tr_log_source *tr_cluster_log_source(struct tr_cluster *c);

/* ---- traces (cluster/signal_traces.c) -------------------------------------
 */
/* Worker threads: routes the spans of a decoded OTLP export (one tenant;
 * ids validated: 16-byte trace ids, 8-byte span ids) to their shards -
 * trace = (tenant, trace id), shard = (traces, window(span start),
 * jump_hash(hash(tenant, trace id), K)) - leaving out the spans whose
 * skip[k] is true (k counts spans in request order; skip may be NULL),
 * and waits until every touched shard committed and applied them. 0, or
 * TR_EUNAVAIL / TR_EBUSY (503) with errmsg. */
int tr_cluster_write_traces(struct tr_cluster *c,
                            struct tr_slice tenant,
                            const struct tr_otlp_traces *req,
                            const bool *skip,
                            struct tr_apply_result *res,
                            char *errmsg);
/* Worker threads: every span of trace id for tenant in the traces shards
 * of windows overlapping [start_ms, end_ms], asked of one replica per
 * shard in parallel; a span id seen twice is kept once. out's arrays and
 * data live in arena a. 0 (no span: out->n_spans = 0), or an error with
 * errmsg (TR_EUNAVAIL: a shard had no replica to answer). */
int tr_cluster_trace_get(struct tr_cluster *c,
                         struct tr_slice tenant,
                         const uint8_t id[TR_TRACE_ID_SIZE],
                         int64_t start_ms,
                         int64_t end_ms,
                         struct tr_arena *a,
                         struct tr_span_batch *out,
                         char *errmsg);

/* Worker threads: runs req on one replica of every traces shard of the
 * windows overlapping [start_ms, end_ms] (local shards in this thread,
 * other nodes in parallel) and hands each answer to merge (in a fixed
 * order, on this thread). 0 or an error with errmsg. */
int tr_cluster_traces_query(
    struct tr_cluster *c,
    const void *req,
    size_t len,
    int64_t start_ms,
    int64_t end_ms,
    int (*merge)(void *arg, const void *answer, size_t len, char *errmsg),
    void *arg,
    char *errmsg);

/* ---- node state --------------------------------------------------------- */

/* The tenant's limit overrides from the catalog; false when it has none
 * (any thread). */
/* The oldest time (ms) a read of tenant's signal may return: now minus
 * the tenant's retention (its override, else the flag); INT64_MIN when it
 * keeps data forever. Any thread. */
int64_t tr_cluster_retention_start(struct tr_cluster *c,
                                   uint8_t signal,
                                   const char *tenant);
/* Does this node lead the meta group (as of its last tick)? Any thread. */
bool tr_cluster_is_meta_leader(struct tr_cluster *c);
bool tr_cluster_tenant(struct tr_cluster *c,
                       const char *tenant,
                       struct tr_catalog_tenant *out);
/* Stores a tenant's overrides through the meta group (worker thread). */
int tr_cluster_set_tenant(struct tr_cluster *c,
                          const struct tr_catalog_tenant *t);
/* Ready: the meta group has a leader, this node is in the catalog and every
 * local shard replayed what it had at start. */
bool tr_cluster_ready(struct tr_cluster *c);
/* Appends Prometheus text-format cluster metrics (per group and signal). */
void tr_cluster_metrics(struct tr_cluster *c, struct tr_buf *out);

/* ---- the cluster's clock (--debug.fake-clock) ----------------------------
 */

/* Advances the cluster's fake clock by ms through the meta group (worker
 * thread): every node's clock moves to the same time. TR_EUNSUPPORTED
 * without --debug.fake-clock. */
int tr_cluster_clock_advance(struct tr_cluster *c, int64_t ms, char *errmsg);

/* ---- HTTP endpoints, as plain functions ----------------------------------
 *
 * The cluster's routes (/internal/v1/..., /api/v1/status/cluster, the admin
 * endpoints) are plain functions over this request/response pair; server/
 * registers each under its path and adapts its HTTP types. */
struct tr_cluster_request {
    const char *body;
    size_t body_len;
    bool post;
    /* header value (NUL-terminated, valid during the call) or NULL */
    const char *(*header)(void *ctx, const char *name);
    /* query/form parameter or NULL */
    const char *(*form)(void *ctx, const char *name);
    void *ctx;
};
struct tr_cluster_response {
    int status;               /* HTTP status */
    const char *content_type; /* static */
    struct tr_buf *body;      /* owned by the caller */
};
typedef void (*tr_cluster_handler_fn)(struct tr_cluster *c,
                                      const struct tr_cluster_request *req,
                                      struct tr_cluster_response *resp);
enum { TR_CLUSTER_GET = 1 << 0, TR_CLUSTER_POST = 1 << 1 };
struct tr_cluster_route {
    unsigned methods; /* TR_CLUSTER_GET | TR_CLUSTER_POST */
    const char *path;
    tr_cluster_handler_fn fn;
};
/* The routes (static table); *n gets their number. */
const struct tr_cluster_route *tr_cluster_routes(size_t *n);

#endif
