/* cluster_int.h - private types of the cluster layer (cluster/ only). */
#ifndef TR_CLUSTER_CLUSTER_INT_H
#define TR_CLUSTER_CLUSTER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster/cluster.h"
#include "cluster/rpc.h"
#include "cluster/signal.h"
#include "lib/lanes.h"
#include "lib/selfmetrics.h"
#include "lib/u64map.h"
#include "raft/catalog.h"
#include "raft/group.h"
#include "raft/meta_fsm.h"
#include "raft/shard_fsm.h"
#include "raft/transport.h"
#include "storage/select.h"

#define CL_MAX_PEERS 64
#define CL_URL_MAX 320
/* raft_uv segment sizes: its open segments are preallocated (two or three
 * per group), the meta group's small (it writes little). Shard groups
 * default to 8 MiB (--raft.segment-size): every segment that fills closes
 * its writer, and raft_uv tears the writer's kernel AIO context down on the
 * loop thread (io_destroy waits for an RCU grace period, ~40 ms); O_DIRECT
 * pads each entry's write to 4 KiB, so at 167k samples/s on RF=3 4 MiB
 * segments closed every 5 s per group and put the loop's lag p99 at 27 ms
 * (8 MiB: 7-8 ms). See docs/architecture.md section 10. */
#define CL_SEGMENT_SIZE (8u << 20)
/* Raft log bytes between snapshots of a logs shard, at most (groups.c). */
#define CL_LOGS_SNAPSHOT_BYTES (8u << 20)
#define CL_META_SEGMENT_SIZE (64u << 10)

/* A shard group this node replicates. Loop thread only. */
struct cl_group {
    struct tr_cluster *c;
    struct tr_shard_id id;
    char name[48];
    struct tr_raft_group *g;
    struct tr_shard_fsm *fsm;
    bool closing;
    bool copying;
    uint64_t start_last_index; /* newest log entry when the group started */
    bool change_inflight;      /* a membership change is being applied */
    bool replayed;             /* applied everything it had at start */
    int64_t last_transfer_ms;
    int64_t leader_since_ms; /* when this node became leader, 0 = follower */
    uint64_t snap_before;    /* shutdown: snapshot index to pass, or max */
    struct cl_group *next;
};

/* What other threads may read about a local group (under c->mu). */
struct cl_stat {
    struct tr_shard_id id;
    int state; /* RAFT_* */
    uint64_t leader;
    uint64_t term;
    uint64_t commit;
    uint64_t applied; /* applied in storage */
    uint64_t last_index;
    uint64_t leader_changes;
    uint64_t snapshots;
    uint64_t bytes;
    uint64_t trimmed; /* AppendEntries trimmed to the snapshot */
    uint64_t queued;  /* entries waiting for the storage thread */
    uint64_t queued_bytes;
    bool catching_up;
    bool failed;
};

struct tr_cluster {
    uv_loop_t *loop;
    struct tr_cluster_config cfg;
    char *strings; /* copies of cfg's strings */
    struct tr_storage *storage;
    struct tr_lanes *lanes; /* storage threads */
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
    int64_t last_settings_ms;       /* settings proposed (meta leader) */
    /* discovery before the meta group exists (under mu) */
    struct tr_catalog_node peers[CL_MAX_PEERS];
    size_t n_peers;
    bool peer_formed; /* a peer reported a running cluster */
    char formed_http[TR_CATALOG_ADDR_MAX];
    int hello_inflight;
    bool join_inflight;
    bool replace_inflight; /* removing this node's earlier incarnation */
    int64_t last_join_ms;
    bool window_inflight;
    /* shard groups (loop thread) */
    struct cl_group *groups;
    uv_timer_t tick;
    int64_t last_evict_ms;      /* monotonic */
    int64_t last_evict_wall_ms; /* the cluster's clock */
    uv_work_t evict_work;
    bool evict_running;
    int64_t evict_before[TR_SIGNAL_MAX + 1];
    /* retention (retention.c) */
    int retention_inflight;         /* DELETED proposals (meta leader) */
    struct tr_u64map dropped;       /* DELETED shards handled here */
    bool sweep_running;             /* drop jobs being submitted */
    bool tenants_running;           /* shards' tenants being listed */
    int64_t last_tenants_ms;        /* monotonic */
    int64_t last_tenants_wall_ms;   /* the cluster's clock */
    bool sealed_tenants_running;    /* sealed shards' tenants (meta leader) */
    int64_t last_sealed_tenants_ms; /* monotonic */
    int64_t last_sealed_tenants_wall_ms; /* the cluster's clock */
    /* sealing (seal.c, meta leader) */
    int seal_inflight;    /* SEALING proposals */
    bool seal_running;    /* a sealing round on a worker */
    int64_t seal_next_ms; /* monotonic: no round before */
    /* sealed shards without groups (sealed.c) */
    struct tr_u64map sealed_state;  /* cl_shard_key -> enum cl_sealed_state
                                       of the replica here, last pass */
    struct tr_u64map sealed_recopy; /* cl_shard_key -> 1: copy again */
    struct tr_u64map sealed_drops;  /* tenant drops done here (this run) */
    bool sealed_running;            /* a pass on a worker */
    int64_t sealed_last_ms;         /* monotonic: the last pass */
    /* shared with workers */
    pthread_mutex_t mu;
    struct cl_sealed_view *sealed_views; /* the last pass's (status) */
    size_t n_sealed_views;
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
    struct tr_log_source log_source;
    /* shutdown */
    bool stopping;
    int closing;     /* close callbacks still to come */
    int close_phase; /* 0 groups and meta, 1 mux and rpc, 2 done */
    void (*shutdown_cb)(void *arg);
    void *shutdown_arg;
    int64_t snap_deadline_ms; /* shutdown: stop waiting for snapshots */
    /* metrics */
    struct tr_sm_family *m_commit_seconds;
    struct tr_sm_family *m_forwarded;
    struct tr_sm_family *m_read_seconds;
    struct tr_sm_family *m_read_answers; /* {signal, result} */
    struct tr_sm_family *m_seals;        /* {result} */
    struct tr_sm_family *m_sealed;       /* {event} (sealed.c) */
};

/* ---- node.c ---------------------------------------------------------------
 */

/* Runs fn(arg) on the loop thread and waits for it to call cl_call_done. */
struct cl_call {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending;
};
void cl_call_init(struct cl_call *w, int pending);
void cl_call_done(struct cl_call *w);
void cl_call_wait(struct cl_call *w);
void cl_call_destroy(struct cl_call *w);
void cl_sleep_ms(int ms);

/* The cluster's wall clock (the fake clock when configured): placement,
 * windows, eviction. Deadlines and intervals use cl_mono_ms (monotonic,
 * never fake: a fake clock stands still). */
int64_t cl_now_ms(void);
int64_t cl_mono_ms(void);
int64_t cl_window_start(const struct tr_cluster *c, int64_t t);
/* Copy of a catalog node's HTTP address (under the meta mutex); false when
 * unknown. */
bool cl_node_http(struct tr_cluster *c, uint64_t id, char *out, size_t n);
/* "http://<node's address><path>" into url; false when unknown. */
bool cl_node_url(struct tr_cluster *c,
                 uint64_t id,
                 const char *path,
                 char *url,
                 size_t n);
/* node record wire form (an 'N' catalog command) */
int cl_node_decode(const void *buf, size_t len, struct tr_catalog_node *n);
/* The local group's stats (under c->mu); false when there is none. */
bool cl_stat_get(struct tr_cluster *c,
                 const struct tr_shard_id *id,
                 struct cl_stat *out);
/* Can this replica answer reads of the shard (running group, caught up,
 * not failed; or, with no group running, sealed here)? Any thread. */
bool cl_serves(struct tr_cluster *c, const struct tr_shard_id *id);
/* Is the shard sealed in local storage, its seal job done, so that it
 * answers reads without its group (which a sealed shard's restart, or a
 * node's start, leaves briefly absent)? Any thread. */
bool cl_sealed_local(struct tr_cluster *c, const struct tr_shard_id *id);

/* ---- sealed.c: sealed shards without groups -------------------------------
 */

/* A SEALED shard's replica here, as the last pass saw it. */
enum cl_sealed_state {
    CL_SEALED_MISSING = 1, /* no sealed data: copied from another replica */
    CL_SEALED_PENDING = 2, /* sealed, its seal job not done yet */
    CL_SEALED_HERE = 3,    /* sealed and compacted: serves, group closed */
};

struct cl_sealed_view {
    struct tr_shard_id id;
    int state;  /* enum cl_sealed_state */
    bool group; /* its group was still running */
};

/* A bijective mix of (signal, window in s, slot): map keys per shard. */
uint64_t cl_shard_key(const struct tr_shard_id *id);
/* May the group of this SEALED shard close (sealed here, or to be copied
 * without it)? */
bool cl_sealed_group_done(struct tr_cluster *c, const struct tr_shard_id *id);
/* Every CL_SEALED_EVERY_MS: copies, retires and tenant drops of the SEALED
 * shards this node replicates, on a worker. */
void cl_sealed_tick(struct tr_cluster *c);
/* The shard is to be copied again from another replica. */
void cl_sealed_recopy(struct tr_cluster *c, const struct tr_shard_id *id);
void cl_sealed_free(struct tr_cluster *c);
/* Worker: the checksum of the sealed shard here after the window's tenant
 * drops (at least known_drops of them) are applied. 0; TR_ENOTFOUND (not
 * every drop learnt yet: ask again); TR_EUNAVAIL (not sealed here). */
int cl_sealed_sum(struct tr_cluster *c,
                  const struct tr_shard_id *id,
                  uint64_t known_drops,
                  uint64_t *checksum,
                  char *errmsg);

/* ---- groups.c: shard groups (loop) ----------------------------------------
 */

struct cl_group *cl_group_find(struct tr_cluster *c,
                               const struct tr_shard_id *id);
/* Starts, reconciles, balances, copies and restarts the groups of shards
 * this node replicates (every tick). */
void cl_groups_tick(struct tr_cluster *c);
/* Refreshes c->stats from the local groups (every tick). */
void cl_groups_refresh_stats(struct tr_cluster *c);
/* Shutdown: stops every group's state machine and closes its Raft group;
 * done(c) once per group when closed. Returns the number closing. */
int cl_groups_close_all(struct tr_cluster *c,
                        void (*done)(struct tr_cluster *));
/* Shutdown: asks every shard group for a snapshot (the log then keeps
 * only its trailing entries); returns how many have new entries to cover.
 * cl_groups_snapshots_done tells when they all have one. */
int cl_groups_snapshot_all(struct tr_cluster *c);
bool cl_groups_snapshots_done(struct tr_cluster *c);
/* Shutdown: transfers the leadership of every group this node leads to
 * another voter; true when any transfer started. */
bool cl_groups_transfer_all(struct tr_cluster *c);
/* Strong reads (worker thread): 0 when this node leads the shard and has
 * applied in storage every entry committed before the call. */
int cl_leader_barrier(struct tr_cluster *c, const struct tr_shard_id *id);

/* ---- meta.c: the meta group (loop unless noted) -----------------------------
 */

void cl_maybe_start_meta(struct tr_cluster *c);
void cl_register(struct tr_cluster *c);
/* Meta leader: creates the current and next windows of every signal with a
 * store, and keeps the catalog's settings equal to this node's flags. */
void cl_leader_windows(struct tr_cluster *c);
void cl_meta_changed(void *arg);
bool cl_is_replica(const struct tr_catalog_shard *sh, uint64_t id);
/* Raft settings of a group of this node (--raft.* flags). */
void cl_group_config(struct tr_cluster *c,
                     struct tr_raft_group_config *gc,
                     const char *name,
                     const char *dir,
                     struct raft_fsm *fsm);
/* Asks the meta leader (local or remote) to create window w of signal. */
int cl_ensure_window_loop(struct tr_cluster *c,
                          uint8_t signal,
                          int64_t window,
                          void (*cb)(void *arg, int rv),
                          void *arg);
/* Removes node id from the cluster (meta leader or forward). */
void cl_remove_node_loop(struct tr_cluster *c,
                         uint64_t id,
                         void (*cb)(void *arg, int rv),
                         void *arg);
/* retention.c: the meta leader's DELETED proposals, the drop jobs of
 * DELETED shards, the shard leaders' drop-tenant entries (each tick). */
void cl_retention_tick(struct tr_cluster *c);
/* seal.c: the meta leader marks ended windows' shards SEALING and seals
 * them (each tick). */
void cl_leader_seal(struct tr_cluster *c);
/* node.c: a background worker that uses the RPC client (sealing, drop
 * sweeps, tenant listing) finished; shutdown may go on. Loop thread. */
void cl_background_done(struct tr_cluster *c);
void cl_leader_retention(struct tr_cluster *c);
/* Is window of signal dropped, or due to be (past the longest retention)?
 * Writes into it are refused as too old. Any thread. */
bool cl_retention_expired(struct tr_cluster *c, uint8_t signal, int64_t window);
/* mint raised to the tenant's retention start (ms): reads never return
 * what waits for its drop. */
int64_t cl_retention_clip(struct tr_cluster *c,
                          uint8_t signal,
                          struct tr_slice tenant,
                          int64_t mint);

/* Several catalog commands in one buffer, each framed by a u32 BE length:
 * cl_cmd_open before appending one (returns where its frame starts),
 * cl_cmd_close after. cl_meta_propose_each proposes them one by one (cb
 * once per command) and returns how many. */
size_t cl_cmd_open(struct tr_buf *cmds);
void cl_cmd_close(struct tr_buf *cmds, size_t at);
size_t cl_meta_propose_each(struct tr_cluster *c,
                            const struct tr_buf *cmds,
                            void (*cb)(void *arg, int rv),
                            void *arg);

/* Proposes a catalog command on the meta leader (here or forwarded). */
void cl_meta_propose_loop(struct tr_cluster *c,
                          const void *cmd,
                          size_t len,
                          void (*cb)(void *arg, int rv),
                          void *arg);
/* Worker thread: proposes a catalog command and waits for its result. */
int cl_meta_propose(struct tr_cluster *c, const void *cmd, size_t len);
/* Handles a join / registration of node n (leader or forward). */
void cl_join_loop(struct tr_cluster *c,
                  const struct tr_catalog_node *n,
                  void (*cb)(void *arg, int rv),
                  void *arg);
/* Worker thread: K of window w of signal, creating the window through the
 * meta leader when needed (until deadline). */
int cl_window_k(struct tr_cluster *c,
                uint8_t signal,
                int64_t w,
                int64_t deadline,
                uint16_t *k,
                char *errmsg);

/* ---- write.c: shard writes ------------------------------------------------
 */

/* One shard's entry to commit, and what became of it. */
struct cl_batch {
    struct tr_shard_id id;
    struct tr_buf entry;
    struct tr_buf plain;        /* the entry uncompressed, or empty: a
                                 * leader here applies it without
                                 * decompressing (tr_shard_fsm_hint) */
    bool admitted;              /* the signal's admission ran already */
    int rv;                     /* out: 0 or why it failed */
    struct tr_apply_result res; /* out: index, counts */
};
/* A signal's write split builds one element per touched shard in a
 * growable array (tr_array_grow) whose elements start with their struct
 * tr_shard_id: the element of shard (signal, w, slot), zeroed and added
 * when new; NULL when out of memory. */
void *cl_shard_elem(void **arr,
                    size_t *n,
                    size_t *cap,
                    size_t elem_size,
                    uint8_t signal,
                    int64_t w,
                    uint16_t slot);
/* Worker thread: commits each batch's entry on its shard (the leader cuts it
 * at the shard's limits first: the signal's admit op), in parallel, and
 * waits until each is applied in the leader's storage; retries
 * "unavailable" until deadline. res sums the results. 0, TR_EUNAVAIL or
 * TR_EBUSY (a shard is overloaded) with errmsg. */
int cl_write_batches(struct tr_cluster *c,
                     struct cl_batch *b,
                     size_t n,
                     int64_t deadline_ms,
                     struct tr_apply_result *res,
                     char *errmsg);
/* Serves a forwarded shard apply on this node (worker thread). */
int cl_shard_apply_here(struct tr_cluster *c,
                        const struct tr_shard_id *id,
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

/* ---- status.c: one node's part of GET /api/v1/status/cluster -------------
 */

/* One shard replica as a node reports it (/internal/v1/status/local). */
struct cl_shard_view {
    uint64_t node;
    struct tr_shard_id id;
    int state;
    uint64_t leader;
    uint64_t term;
    uint64_t commit;
    uint64_t applied;
    uint64_t queued;
    bool catching_up;
    bool failed;
    int sealed; /* enum cl_sealed_state when sealed without a group here */
};

/* Heartbeat health of the nodes, as the meta leader sees it. */
struct cl_node_health {
    uint64_t id[CL_MAX_PEERS];
    bool ok[CL_MAX_PEERS];
    size_t n;
};

/* verify.c: one replica's checksum at the verify (or seal) entry with
 * this request id, asked until it applied it or deadline (r->node set by
 * the caller; r->ok, index, checksum or err filled). Worker thread. */
struct cl_replica_sum {
    uint64_t node;
    bool ok;
    uint64_t index;
    uint64_t checksum;
    char err[120];
};
/* Worker: tells node to copy its replica of the shard again from a healthy
 * one (its checksum differed from the majority's at a seal or verify). */
void cl_recopy_ask(struct tr_cluster *c,
                   const struct tr_shard_id *id,
                   uint64_t node);
void cl_verify_ask(struct tr_cluster *c,
                   const struct tr_shard_id *id,
                   uint64_t request,
                   int64_t deadline,
                   struct cl_replica_sum *r);

/* A compaction job as a node reports it in its status/local answer. */
#define CL_STATUS_JOBS 256 /* jobs a node reports */
struct cl_job_view {
    uint64_t node;
    int kind;  /* enum tr_job_kind */
    int state; /* enum tr_job_state */
    struct tr_shard_id id;
    unsigned step, steps;
    uint64_t attempts;
    int64_t queued_ms, started_ms; /* 0: not started */
};
/* The jobs section of a status/local answer (after the views and health):
 * at most max into out, returns how many; *done and *failed get the node's
 * totals (0 when the answer has no jobs section: an older node). */
size_t cl_status_jobs_decode(uint64_t node,
                             const char *buf,
                             size_t len,
                             struct cl_job_view *out,
                             size_t max,
                             uint64_t *done,
                             uint64_t *failed);

/* Decodes node's /internal/v1/status/local answer into at most max views
 * (returns how many; views beyond max are read and dropped) and, when
 * health is not NULL, appends the health list the meta leader adds after
 * the views. A malformed view ends the answer: the views before it count,
 * no health list is read. */
size_t cl_status_decode(uint64_t node,
                        const char *buf,
                        size_t len,
                        struct cl_shard_view *out,
                        size_t max,
                        struct cl_node_health *health);

/* Decodes a /internal/v1/hello answer: whether the peer's cluster is
 * formed, and up to max of the nodes it knows (undecodable records are
 * skipped). Returns how many nodes, or -1 when the answer is malformed. */
int cl_hello_decode(const char *body,
                    size_t len,
                    bool *formed,
                    struct tr_catalog_node *nodes,
                    size_t max);

/* ---- read.c: parallel reads -------------------------------------------------
 */

/* A read over the shards of one signal overlapping [mint, maxt]: the local
 * shards are handed to local() on the calling worker, every other shard is
 * asked of one replica (shards grouped per node, all nodes in parallel),
 * and each answer is handed to remote() - in a fixed order, on the calling
 * worker. A node that fails is replaced by the shards' next replicas; a
 * shard no replica serves fails the read (never partial data).
 *
 * Framed reads (framed = true): a node's 200 answer is a sequence of
 * frames, each
 *   u32 BE  payload length (<= CL_FRAME_MAX)
 *   u32 BE  units (e.g. the samples it holds)
 *   ...     payload
 * received on the loop thread straight into memory of the answer (no copy
 * of the whole body). With a budget, a frame's units are taken from it as
 * soon as its header arrives (the local part takes its own through the
 * select hints): once the budget is exceeded every transfer of the read is
 * aborted or cancelled and the read fails with TR_ELIMIT, so the
 * coordinator never holds much more than the budget. A node that fails
 * gives back what its answer took. */
#define CL_FRAME_HEADER 8
#define CL_FRAME_MAX (256u << 20)

struct cl_frame {
    const char *p; /* payload (the answer's arena) */
    uint32_t len;
    uint32_t units;
};

/* Reads a framed answer from the pieces it arrives in (the pure part of
 * the reads' rpc sink): each frame's payload goes into the reader's arena,
 * and with a budget each frame's units are taken from it as soon as its
 * header is complete. */
struct cl_frame_reader {
    struct tr_arena arena;   /* owns the frames' payloads */
    struct cl_frame *frames; /* in order (tr_realloc) */
    size_t n;                /* frames begun; the last may be
                                incomplete (cl_frame_reader_done) */
    size_t cap;
    struct tr_select_budget *budget; /* NULL: none */
    uint32_t max_len;                /* longest payload (CL_FRAME_MAX) */
    size_t units;                    /* taken from budget */
    uint8_t hdr[CL_FRAME_HEADER];    /* the next frame's header so far */
    size_t hdr_have;
    size_t body_have; /* bytes of the last frame's payload */
    bool in_frame;    /* the last frame's payload is incomplete */
};
void cl_frame_reader_init(struct cl_frame_reader *r,
                          struct tr_select_budget *budget,
                          uint32_t max_len);
/* Takes the next n bytes of the answer (any split of it gives the same
 * frames): 0; TR_EPROTO (a frame longer than max_len); TR_ELIMIT (its
 * units exceed the budget, or another part of the read exceeded it
 * already; the units stay counted in r->units); TR_ENOMEM. After an error
 * r is only freed. */
int cl_frame_reader_feed(struct cl_frame_reader *r, const void *p, size_t n);
/* True when the bytes fed so far end between two frames. */
bool cl_frame_reader_done(const struct cl_frame_reader *r);
/* Frees the frames and the arena (what r->units took stays taken). */
void cl_frame_reader_free(struct cl_frame_reader *r);

/* A node's answer, handed to remote(). */
struct cl_answer {
    const char *body; /* plain reads: the 200 body */
    size_t len;
    struct cl_frame *frames; /* framed reads, in order */
    size_t n_frames;
    struct tr_arena *arena; /* owns the frames' payloads; remote() may adopt
                               it (tr_arena_adopt) */
};

struct cl_read {
    uint8_t signal;
    int64_t mint;
    int64_t maxt;
    bool leader_only;                /* consistency=strong */
    bool framed;                     /* answers are frames (above) */
    struct tr_select_budget *budget; /* framed reads: units drawn from it
                                        (NULL: none) */
    const void *req;                 /* the signal's read request */
    size_t req_len;
    int (*local)(void *arg,
                 const struct tr_shard_id *ids,
                 size_t n,
                 char *errmsg);
    int (*remote)(void *arg,
                  const struct tr_shard_id *ids,
                  size_t n,
                  struct cl_answer *a,
                  char *errmsg);
    void *arg;
};
/* Serving side of framed reads: cl_frame_begin appends a frame header for
 * units and returns where it is; cl_frame_end sets its length once the
 * payload was appended after it. */
size_t cl_frame_begin(struct tr_buf *out, uint32_t units);
void cl_frame_end(struct tr_buf *out, size_t at);
int cl_read_run(struct tr_cluster *c, const struct cl_read *r, char *errmsg);

/* A read request's generic header (the format at the top of read.c). */
#define CL_READ_MAX_SHARDS 4096
#define CL_READ_LEADER 1 /* flags: only a shard's leader answers */
#define CL_READ_UNITS 2  /* flags: the answer's units are limited */
struct cl_read_req {
    uint8_t signal;
    uint8_t flags;           /* CL_READ_* (other bits ignored) */
    struct tr_shard_id *ids; /* n shards of signal (tr_calloc) */
    size_t n;                /* 1..CL_READ_MAX_SHARDS */
    uint64_t max_units;      /* >= 1 with CL_READ_UNITS, else 0 */
    const void *req;         /* the signal's request: the rest of the body */
    size_t req_len;
};
/* Parses a read request's header (no store or shard is looked at): 0 with
 * out->ids the caller's (tr_free), else TR_EPROTO ("malformed read
 * request") or TR_ENOMEM with errmsg. */
int cl_read_req_parse(const void *body,
                      size_t len,
                      struct cl_read_req *out,
                      char *errmsg);
/* Serves /internal/v1/read (worker thread). */
int cl_read_serve(struct tr_cluster *c,
                  const void *body,
                  size_t len,
                  struct tr_buf *out,
                  char *errmsg);

/* ---- handlers.c, status.c: endpoints ---------------------------------------
 */
/* Parses an ensure-window request (u8 signal with a store, varint window
 * start aligned to window_ms): 0 or TR_EPROTO. */
int cl_window_req_parse(const void *body,
                        size_t len,
                        int64_t window_ms,
                        uint8_t *signal,
                        int64_t *window);
void cl_resp_text(struct tr_cluster_response *resp,
                  int status,
                  const char *msg);
/* Checks the cluster secret; false (401 written) when it is wrong. */
bool cl_authorized(struct tr_cluster *c,
                   const struct tr_cluster_request *req,
                   struct tr_cluster_response *resp);
/* The local replica's verify result (worker thread): 0, TR_ENOTFOUND (not
 * applied yet), TR_EUNAVAIL (no local group). */
int cl_verify_local(struct tr_cluster *c,
                    const struct tr_shard_id *id,
                    uint64_t request,
                    uint64_t *index,
                    uint64_t *checksum);
void cl_status_local(struct tr_cluster *c,
                     const struct tr_cluster_request *req,
                     struct tr_cluster_response *resp);
/* A copy of the catalog (any thread); free with tr_catalog_free. */
int cl_catalog_copy(struct tr_cluster *c, struct tr_catalog *out);
void cl_status_cluster(struct tr_cluster *c,
                       const struct tr_cluster_request *req,
                       struct tr_cluster_response *resp);

/* ---- verify.c ------------------------------------------------------------ */

/* Worker thread: proposes a verify entry through every active shard and
 * collects every replica's checksum at that index; JSON into out. */
int cl_verify(struct tr_cluster *c, struct tr_buf *out, char *errmsg);

/* ---- signal_metrics.c ------------------------------------------------------
 */
void cl_signal_metrics_init_source(struct tr_cluster *c);
void cl_signal_logs_init_source(struct tr_cluster *c);

/* The metrics read request and its answers on the wire (formats at the top
 * of signal_metrics.c). Decoders never trust the bytes: counts are bounded
 * by the input, malformed input is TR_EPROTO. */
#define CL_METRICS_MAX_MATCHERS 256
#define CL_METRICS_MATCHER_NAME_MAX          \
    (TR_CATALOG_NAME_MAX + 100) /* NUL incl. \
                                 */

struct cl_metrics_matcher {
    uint8_t type;         /* enum tr_match_type */
    struct tr_slice name; /* < CL_METRICS_MATCHER_NAME_MAX bytes */
    struct tr_slice value;
};

/* A parsed metrics read request; slices point into the request. */
struct cl_metrics_req {
    uint8_t op; /* 2 label names, 3 label values, 4 metadata, 5 select */
    struct tr_slice tenant;
    int64_t mint;
    int64_t maxt;
    uint8_t flags; /* 1: no samples (other bits ignored) */
    uint64_t limit;
    uint64_t max_series;
    uint64_t max_samples;
    struct tr_slice name;          /* label name (op 3), metric (op 4) */
    struct cl_metrics_matcher *ms; /* n_ms (tr_calloc; NULL for op 4,
                                      whose matchers are not read) */
    size_t n_ms;
};
void cl_metrics_req_encode(struct tr_buf *b,
                           int op,
                           struct tr_slice tenant,
                           const struct tr_select_hints *h,
                           const struct tr_slice *name,
                           const struct tr_matcher *ms,
                           size_t n);
/* Parses a metrics read request (regexes are not compiled here): 0 with
 * out->ms the caller's (tr_free), else TR_EPROTO ("malformed select
 * request", "malformed matcher") or TR_ENOMEM with errmsg. */
int cl_metrics_req_parse(const void *req,
                         size_t len,
                         struct cl_metrics_req *out,
                         char *errmsg);

/* Appends a select result as frames: one per series, its samples as the
 * frame's units, then the end frame. 0, TR_ENOMEM, or TR_ELIMIT (a series
 * larger than a frame). */
int cl_metrics_encode_result(struct tr_buf *b,
                             const struct tr_select_result *r);
/* One series frame into sd: labels decoded into a, chunks referencing the
 * frame's payload, checked as far as their header goes (count bounded by
 * the bytes, each record holding at least the samples it claims, chunks in
 * time order, their samples summing to the frame's units); the samples
 * themselves are checked when decoded (tr_series_samples). 0, TR_EPROTO or
 * TR_ENOMEM. */
int cl_metrics_decode_series(const struct cl_frame *f,
                             struct tr_arena *a,
                             struct tr_series_data *sd);
/* A framed select answer into r (initialised here, to be freed with
 * tr_select_result_free whatever the result; it adopts the answer's arena:
 * the chunks stay where they arrived). 0, TR_EPROTO or TR_ENOMEM. */
int cl_metrics_decode_result(struct cl_answer *ans, struct tr_select_result *r);
/* A read of label names or values over the fan-out: the signal's request
 * sent to every node, local shards read by local(); the answers (strings
 * responses, cl_strings_encode) united, at most limit (0 = all). */
struct cl_strings_read {
    uint8_t signal;
    int64_t mint; /* ms: the windows asked */
    int64_t maxt;
    bool leader_only;
    const void *req; /* the signal's read request */
    size_t req_len;
    size_t limit;
    /* fills l (initialised by it) from the local shards ids */
    int (*local)(void *arg,
                 const struct tr_shard_id *ids,
                 size_t n,
                 struct tr_string_list *l,
                 char *errmsg);
    void *arg;
};
int cl_strings_run(struct tr_cluster *c,
                   const struct cl_strings_read *r,
                   struct tr_string_list *out,
                   char *errmsg);

/* ---- signal_logs.c: the logs read wire (format at its top) ----------------
 */
void cl_logs_req_encode(struct tr_buf *b,
                        int op,
                        struct tr_slice tenant,
                        const struct tr_log_hints *h,
                        const struct tr_slice *name,
                        const struct tr_matcher *ms,
                        size_t n);
int cl_logs_encode_result(struct tr_buf *b, const struct tr_log_result *r);
int cl_logs_decode_result(struct cl_answer *ans, struct tr_log_result *r);

void cl_strings_encode(struct tr_buf *b, const struct tr_string_list *l);
/* A strings answer into l (initialised here, with a copy of buf: free
 * with tr_string_list_free whatever the result). 0, TR_EPROTO or
 * TR_ENOMEM. */
int cl_strings_decode(const void *buf, size_t len, struct tr_string_list *l);
/* Exemplars response (format at the top of signal_metrics.c): encode
 * (sets b->oom on failure) / decode appending to *v (*n used, *cap
 * allocated, grown in arena a): 0, TR_EPROTO or TR_ENOMEM. */
void cl_metrics_encode_exemplars(struct tr_buf *b,
                                 const struct tr_exemplar_series *v,
                                 size_t n);
int cl_metrics_decode_exemplars(const void *buf,
                                size_t len,
                                struct tr_arena *a,
                                struct tr_exemplar_series **v,
                                size_t *n,
                                size_t *cap);
void cl_metrics_encode_metadata(struct tr_buf *b,
                                const struct tr_metadata_item *it,
                                size_t n);
/* Appends the items of a metadata answer to *items (*n of *cap used;
 * memory, and a copy of buf, from a). On TR_EPROTO the items decoded
 * before the malformed one stay appended. 0, TR_EPROTO or TR_ENOMEM. */
int cl_metrics_decode_metadata(const void *buf,
                               size_t len,
                               struct tr_arena *a,
                               struct tr_metadata_item **items,
                               size_t *n,
                               size_t *cap);

/* ---- shard ids on the wire: u8 signal, varint window, uvarint slot ------ */
void cl_put_shard(struct tr_buf *b, const struct tr_shard_id *id);
int cl_get_shard(struct tr_cursor *c, struct tr_shard_id *id);

#endif
