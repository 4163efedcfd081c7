/* group.h - one Raft group (canonical raft 0.15 + raft_uv) whose traffic is
 * multiplexed with every other group of the node over the single
 * --cluster-addr listener (raft/transport.h).
 *
 * Everything here runs on the node's libuv loop thread (raft calls back on
 * the loop); none of these functions may be called from another thread.
 *
 * Per-group state lives in its own directory (raft_uv segments and
 * snapshots). Segment size is small (default 1 MiB) so that hundreds of
 * groups do not preallocate hundreds of MB. */
#ifndef TR_RAFT_GROUP_H
#define TR_RAFT_GROUP_H

#include <raft.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct tr_raft_mux; /* raft/transport.h */
struct tr_raft_group;

struct tr_raft_group_config {
    int version;           /* 1 */
    const char *name;      /* group name, e.g. "meta", "m-1732406400000-0";
                              [A-Za-z0-9_.-], at most 63 bytes */
    const char *dir;       /* data directory (created if missing) */
    raft_id id;            /* this node's raft id (non-zero) */
    const char *address;   /* this node's cluster address (advertised) */
    struct raft_fsm *fsm;  /* version 1 or 2; called on the loop */
    unsigned election_ms;  /* default 300 */
    unsigned heartbeat_ms; /* default 50 */
    bool pre_vote;         /* default true (set by the caller) */
    unsigned snapshot_threshold; /* entries between snapshots, default 1024 */
    unsigned snapshot_trailing;  /* entries kept after a snapshot, def. 512 */
    /* version 1 also: a snapshot once this many log bytes were applied
     * since the last one (0: entries only), keeping about
     * snapshot_trailing_bytes of log behind it (at least 16 entries, 4 in
     * a group of one server; at most snapshot_trailing) */
    uint64_t snapshot_bytes;
    uint64_t snapshot_trailing_bytes;
    size_t segment_size; /* default 1 MiB */
    /* Optional: called on the loop when this node's view of the leader
     * changes (new leader id, 0 = none) - for metrics and routing caches. */
    void (*on_leader_change)(void *arg,
                             struct tr_raft_group *g,
                             raft_id leader);
    void *arg;
};

struct tr_raft_server {
    raft_id id;
    char address[128];
    int role; /* RAFT_VOTER, RAFT_STANDBY, RAFT_SPARE */
};

/* Creates the group (raft_uv I/O, transport over mux, raft instance). When
 * bootstrap is non-NULL and the directory holds no Raft state yet, the
 * group is bootstrapped with that configuration (n servers; every replica
 * must pass the same list). Then starts it. 0 or TR_E* with errmsg. */
int tr_raft_group_start(uv_loop_t *loop,
                        struct tr_raft_mux *mux,
                        const struct tr_raft_group_config *cfg,
                        const struct tr_raft_server *bootstrap,
                        size_t n,
                        struct tr_raft_group **out,
                        char *errmsg);

/* Proposes buf (copied) as a new entry. cb runs on the loop once the entry
 * is committed and applied locally (status 0, result = what the FSM's
 * apply returned) or failed (status: TR_EUNAVAIL when this node is not the
 * leader or lost leadership, TR_ENOMEM, ...). Returns 0 when submitted
 * (cb will run) or an error (cb will not run). */
/* Status mapping: RAFT_NOTLEADER, RAFT_LEADERSHIPLOST, RAFT_SHUTDOWN,
 * RAFT_NOCONNECTION -> TR_EUNAVAIL; RAFT_NOMEM -> TR_ENOMEM; RAFT_CANCELED
 * (request pending when the group closed) -> TR_ECANCELED; bad ids/roles/
 * addresses -> TR_EINVAL; everything else -> TR_EIO. A transfer that did
 * not complete within the election timeout reports TR_ETIMEOUT. */
typedef void (*tr_raft_apply_cb)(void *arg, int status, void *result);
int tr_raft_group_apply(struct tr_raft_group *g,
                        const void *buf,
                        size_t len,
                        tr_raft_apply_cb cb,
                        void *arg);

/* Membership changes (leader only). cb as above (result NULL). */
int tr_raft_group_add(struct tr_raft_group *g,
                      raft_id id,
                      const char *address,
                      int role,
                      tr_raft_apply_cb cb,
                      void *arg);
int tr_raft_group_remove(struct tr_raft_group *g,
                         raft_id id,
                         tr_raft_apply_cb cb,
                         void *arg);
/* Leadership transfer to id (0 = let raft pick). */
int tr_raft_group_transfer(struct tr_raft_group *g,
                           raft_id id,
                           tr_raft_apply_cb cb,
                           void *arg);

/* Inside an FSM's apply callback: the Raft index of the entry being applied
 * (r->last_applied + 1; also during raft_start's replay, before the caller
 * could know the struct raft). 0 outside apply. Loop thread only. */
uint64_t tr_raft_group_applying_index(void);
/* Sets the value tr_raft_group_applying_index() returns: for test harnesses
 * driving an FSM without a group (e.g. raft_fixture), around each apply.
 * Loop thread only. */
void tr_raft_group_set_applying_index(uint64_t index);

/* The current leader as this node sees it (id 0 = unknown); address may be
 * NULL. */
raft_id tr_raft_group_leader(struct tr_raft_group *g, const char **address);
bool tr_raft_group_is_leader(struct tr_raft_group *g);
const char *tr_raft_group_name(struct tr_raft_group *g);
struct raft *tr_raft_group_raft(struct tr_raft_group *g);

struct tr_raft_group_stats {
    int state; /* RAFT_FOLLOWER, RAFT_CANDIDATE, ... */
    uint64_t term;
    uint64_t commit_index;
    uint64_t last_applied;
    uint64_t last_index;       /* newest entry in the log */
    uint64_t leader_changes;   /* observed by this node */
    uint64_t snapshots;        /* taken or installed */
    uint64_t bytes_replicated; /* bytes of entries applied */
    uint64_t appends_trimmed;  /* AppendEntries trimmed to the snapshot */
    raft_id leader;
};
/* Every received message passes this before raft sees it: an
 * AppendEntries of the current term whose prev_log_index lies below r's
 * snapshot loses the entries the snapshot covers (they are committed, so
 * equal to the leader's) and then starts right after the snapshot; the
 * batch is freed when no entry is left. Works around libraft 0.15, which
 * re-appends such entries under wrong indices. True when m was changed. */
bool tr_raft_trim_append(const struct raft *r, struct raft_message *m);

void tr_raft_group_stats(struct tr_raft_group *g,
                         struct tr_raft_group_stats *st);
/* Configuration (servers) as this node knows it; returns count (<= max). */
size_t tr_raft_group_servers(struct tr_raft_group *g,
                             struct tr_raft_server *out,
                             size_t max);

/* Graceful shutdown: asks raft for a snapshot as soon as possible (its
 * threshold drops to one entry) and, on the leader, proposes a barrier so
 * that an entry applies and triggers it; followers take theirs when the
 * barrier reaches them. Everything up to the snapshot leaves the log, so a
 * stopped node keeps only the trailing entries on disk and replays nothing
 * at the next start. Returns the newest snapshot index before the call. */
uint64_t tr_raft_group_snapshot_soon(struct tr_raft_group *g);
/* Index of the newest snapshot taken or installed (0 = none). */
uint64_t tr_raft_group_snapshot_index(struct tr_raft_group *g);

/* Closes the raft instance, its I/O and transport; cb runs on the loop when
 * the memory is released. */
void tr_raft_group_close(struct tr_raft_group *g,
                         void (*cb)(void *arg),
                         void *arg);

#endif
