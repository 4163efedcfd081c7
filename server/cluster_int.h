/* cluster_int.h - private types of the cluster layer (server/cluster*.c,
 * server/api_internal.c). */
#ifndef TR_SERVER_CLUSTER_INT_H
#define TR_SERVER_CLUSTER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "raft/catalog.h"
#include "raft/group.h"
#include "raft/meta_fsm.h"
#include "raft/shard_fsm.h"
#include "raft/transport.h"
#include "server/cluster.h"
#include "server/rpc.h"
#include "server/selfmetrics.h"

#define CL_MAX_PEERS 64
#define CL_SIGNAL TR_SIGNAL_METRICS

/* A shard group this node replicates. Loop thread only. */
struct cl_group {
    struct tr_cluster *c;
    int64_t window;
    uint16_t slot;
    char name[64];
    struct tr_raft_group *g;
    struct tr_shard_fsm fsm;
    bool closing;
    bool copying;
    uint64_t start_last_index; /* newest log entry when the group started */
    bool change_inflight;      /* a membership change is being applied */
    bool replayed;             /* applied everything it had at start */
    int64_t last_transfer_ms;
    struct cl_group *next;
};

/* What other threads may read about a local group (under c->mu). */
struct cl_stat {
    int64_t window;
    uint16_t slot;
    int state; /* RAFT_* */
    uint64_t leader;
    uint64_t term;
    uint64_t commit;
    uint64_t applied;
    uint64_t last_index;
    uint64_t leader_changes;
    uint64_t snapshots;
    uint64_t bytes;
    bool catching_up;
};

struct tr_cluster {
    uv_loop_t *loop;
    const struct tr_config *cfg;
    struct tr_storage *storage;
    struct tr_raft_mux *mux;
    struct tr_rpc *rpc;
    struct tr_catalog_node self;
    char raft_dir[2048];
    int64_t window_ms;
    /* meta group */
    struct tr_raft_group *meta;
    struct tr_meta_fsm meta_fsm;
    bool meta_bootstrapped_here;
    uint64_t meta_start_last_index; /* newest meta entry at start */
    bool meta_replayed;             /* the catalog caught up with it */
    /* discovery before the meta group exists (under mu) */
    struct tr_catalog_node peers[CL_MAX_PEERS];
    size_t n_peers;
    bool peer_formed; /* a peer reported a running cluster */
    char formed_http[TR_CATALOG_ADDR_MAX];
    int hello_inflight;
    bool join_inflight;
    int64_t last_join_ms;
    bool window_inflight;
    /* shard groups (loop thread) */
    struct cl_group *groups;
    uv_timer_t tick;
    int64_t last_evict_ms;
    /* shared with workers */
    pthread_mutex_t mu;
    struct cl_stat *stats;
    size_t n_stats;
    struct tr_raft_group_stats meta_stats;
    /* node health as the meta leader sees it: heard from within the
     * election timeout (Raft heartbeat replies); only on the meta leader */
    bool meta_leader;
    size_t n_health;
    struct {
        uint64_t id;
        bool ok;
    } health[CL_MAX_PEERS];
    bool groups_replayed; /* every local group replayed its log */
    struct tr_select_source source;
    /* shutdown */
    bool stopping;
    int closing;     /* close callbacks still to come */
    int close_phase; /* 0 groups and meta, 1 mux and rpc, 2 done */
    void (*shutdown_cb)(void *arg);
    void *shutdown_arg;
    /* metrics */
    struct tr_sm_family *m_commit_seconds;
    struct tr_sm_family *m_forwarded;
    struct tr_sm_family *m_write_errors;
};

/* Runs fn(arg) on the loop thread and waits for it to call cl_done. */
struct cl_call {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending;
};
void cl_call_init(struct cl_call *w, int pending);
void cl_call_done(struct cl_call *w);
void cl_call_wait(struct cl_call *w);
void cl_call_destroy(struct cl_call *w);

/* cluster.c */
int64_t cl_window_start(const struct tr_cluster *c, int64_t t);
struct cl_group *cl_group_find(struct tr_cluster *c,
                               int64_t window,
                               uint16_t slot);
/* Copy of a catalog node's HTTP address (under the meta mutex); false when
 * unknown. */
bool cl_node_http(struct tr_cluster *c, uint64_t id, char *out, size_t n);
/* Loop: asks the meta leader (local or remote) to create window w. */
int cl_ensure_window_loop(struct tr_cluster *c,
                          int64_t window,
                          void (*cb)(void *arg, int rv),
                          void *arg);
/* Loop: removes node id from the cluster (meta leader or forward): its
 * shards get a replacement replica, then it leaves the catalog and the
 * meta group. */
void cl_remove_node_loop(struct tr_cluster *c,
                         uint64_t id,
                         void (*cb)(void *arg, int rv),
                         void *arg);
/* Loop: proposes a catalog command on the meta leader (here or forwarded);
 * cb gets the apply result. */
void cl_meta_propose_loop(struct tr_cluster *c,
                          const void *cmd,
                          size_t len,
                          void (*cb)(void *arg, int rv),
                          void *arg);
/* Loop: handles a join / registration of node n (leader or forward). */
void cl_join_loop(struct tr_cluster *c,
                  const struct tr_catalog_node *n,
                  void (*cb)(void *arg, int rv),
                  void *arg);
int64_t cl_now_ms(void);

/* cluster_meta.c */
void cl_maybe_start_meta(struct tr_cluster *c);
void cl_register(struct tr_cluster *c);
void cl_leader_windows(struct tr_cluster *c);
void cl_meta_changed(void *arg);
bool cl_is_replica(const struct tr_catalog_shard *sh, uint64_t id);
/* Raft settings of a group of this node (--raft.* flags). */
void cl_group_config(struct tr_cluster *c,
                     struct tr_raft_group_config *gc,
                     const char *name,
                     const char *dir,
                     struct raft_fsm *fsm);

/* cluster_io.c: write routing and reads */
void cl_io_init_source(struct tr_cluster *c);
/* Serves a forwarded shard apply on this node (worker thread). */
int cl_shard_apply_here(struct tr_cluster *c,
                        int64_t window,
                        uint16_t slot,
                        const void *entry,
                        size_t len,
                        bool forwarded,
                        struct tr_apply_result *res,
                        char *errmsg);
void cl_apply_result_encode(const struct tr_apply_result *r,
                            int rv,
                            const char *err,
                            struct tr_buf *out);
int cl_apply_result_decode(const void *buf,
                           size_t len,
                           struct tr_apply_result *r,
                           int *rv,
                           char *err);
/* Serves a select request from another node (worker thread). */
int cl_select_serve(struct tr_cluster *c,
                    const void *req,
                    size_t len,
                    struct tr_buf *out,
                    char *errmsg);

/* node record wire form (an 'N' catalog command) */
int cl_node_decode(const void *buf, size_t len, struct tr_catalog_node *n);

#endif
