/* cluster.h - the node in its cluster: the meta group (catalog), the shard
 * groups this node replicates, joining and bootstrapping, routing writes to
 * shard leaders and reads to one healthy replica per shard.
 *
 * A single node is the same code with one node, RF = 1, K = 1.
 *
 * Threads: everything that touches Raft runs on the loop thread. The write
 * and read entry points below are called from worker threads; they hand
 * work to the loop and wait. */
#ifndef TR_SERVER_CLUSTER_H
#define TR_SERVER_CLUSTER_H

#include <stdbool.h>
#include <uv.h>

#include "server/config.h"
#include "server/http.h"
#include "storage/entry.h"
#include "storage/select.h"
#include "storage/storage.h"

struct tr_cluster;

/* Starts the cluster layer on loop: the Raft listener (--cluster-addr), the
 * meta group (bootstrapped alone, with --bootstrap-expect peers, or joined
 * through --join), and a tick that creates windows and starts shard
 * groups. http_port is the bound API port (for the advertised address). */
int tr_cluster_start(uv_loop_t *loop,
                     const struct tr_config *cfg,
                     struct tr_storage *storage,
                     int http_port,
                     struct tr_cluster **out,
                     char *errmsg);
/* Transfers leaderships away, closes every group, the listener and the RPC
 * client; cb on the loop when done. Loop thread. */
void tr_cluster_shutdown(struct tr_cluster *c,
                         void (*cb)(void *arg),
                         void *arg);
void tr_cluster_free(struct tr_cluster *c);

/* Worker threads: routes a validated metrics write (one tenant) to its
 * shards and waits until every touched shard committed and applied it.
 * res sums the shards' results. 0, or TR_EUNAVAIL (no leader / no quorum
 * within --cluster.write-timeout: 503) with errmsg. */
int tr_cluster_write(struct tr_cluster *c,
                     const struct tr_entry_metrics *m,
                     struct tr_apply_result *res,
                     char *errmsg);
/* The cluster-wide select source (fan-out to one replica per shard). */
const struct tr_select_source *tr_cluster_source(struct tr_cluster *c);
/* The tenant's limit overrides from the catalog; false when it has none
 * (any thread). */
struct tr_catalog_tenant;
bool tr_cluster_tenant(struct tr_cluster *c,
                       const char *tenant,
                       struct tr_catalog_tenant *out);
/* Ready: the meta group has a leader and this node is in the catalog. */
bool tr_cluster_ready(struct tr_cluster *c);
/* Adds /internal/v1/... and /api/v1/status/cluster routes. */
int tr_cluster_routes(struct tr_cluster *c, struct tr_http_server *http);
/* Appends Prometheus text-format Raft metrics. */
void tr_cluster_metrics(struct tr_cluster *c, struct tr_buf *out);

#endif
