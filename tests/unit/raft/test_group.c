/* test_group.c - raft/group.c: three "nodes" (one mux each) on one loop in
 * this process, two groups per node, real TCP on 127.0.0.1 and real
 * raft_uv directories under /tmp/triad-raft-test-<pid>-<n>. */
#include <criterion/criterion.h>
#include <signal.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "lib/err.h"
#include "raft/group.h"
#include "raft/transport.h"

#define NODES 3
#define GROUPS 2

static const char *const group_names[GROUPS] = {"g1", "g2"};

/* Trivial FSM: every entry is a uint64, appended to an array. */
struct tfsm {
    uint64_t *v;
    size_t n;
    size_t cap;
};

static int tfsm_apply(struct raft_fsm *fsm,
                      const struct raft_buffer *buf,
                      void **result)
{
    struct tfsm *f = fsm->data;
    uint64_t x;
    cr_assert_eq(buf->len, sizeof(x));
    memcpy(&x, buf->base, sizeof(x));
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 64;
        f->v = realloc(f->v, f->cap * sizeof(*f->v));
    }
    f->v[f->n++] = x;
    *result = &f->v[f->n - 1];
    return 0;
}

static int tfsm_snapshot(struct raft_fsm *fsm,
                         struct raft_buffer *bufs[],
                         unsigned *n)
{
    struct tfsm *f = fsm->data;
    *bufs = raft_malloc(sizeof(**bufs));
    (*bufs)[0].len = f->n * sizeof(uint64_t) + 1;
    (*bufs)[0].base = raft_malloc((*bufs)[0].len);
    memcpy((*bufs)[0].base, f->v, f->n * sizeof(uint64_t));
    *n = 1;
    return 0;
}

static int tfsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct tfsm *f = fsm->data;
    free(f->v);
    f->n = f->cap = (buf->len - 1) / sizeof(uint64_t);
    f->v = malloc(f->cap * sizeof(uint64_t) + 1);
    memcpy(f->v, buf->base, f->n * sizeof(uint64_t));
    raft_free(buf->base);
    return 0;
}

struct node {
    struct tr_raft_mux *mux;
    int port;
    char addr[32];
    struct tr_raft_group *g[GROUPS];
    struct tfsm fsm[GROUPS];
    struct raft_fsm rfsm[GROUPS];
    unsigned leader_events[GROUPS];
};

static uv_loop_t loop;
static uv_timer_t tick;
static struct node nodes[NODES];
static struct tr_raft_server servers[NODES];
static char root[256];
static int root_seq;

static void tick_cb(uv_timer_t *t)
{
    (void)t;
}

static bool run_until(bool (*pred)(void), unsigned ms)
{
    uint64_t end = uv_now(&loop) + ms;
    while (!pred() && uv_now(&loop) < end) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    return pred();
}

static int rm_one(const char *path,
                  const struct stat *sb,
                  int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void on_leader(void *arg, struct tr_raft_group *g, raft_id leader)
{
    unsigned *count = arg;
    (void)g;
    (void)leader;
    (*count)++;
}

static void group_dir(char *out, size_t cap, int node, int grp)
{
    snprintf(out, cap, "%s/node%d/%s", root, node + 1, group_names[grp]);
}

static void start_group(int i, int k)
{
    struct node *nd = &nodes[i];
    char dir[512];
    char err[TR_ERRMSG_SIZE];
    group_dir(dir, sizeof(dir), i, k);
    memset(&nd->fsm[k], 0, sizeof(nd->fsm[k]));
    memset(&nd->rfsm[k], 0, sizeof(nd->rfsm[k]));
    nd->rfsm[k].version = 1;
    nd->rfsm[k].data = &nd->fsm[k];
    nd->rfsm[k].apply = tfsm_apply;
    nd->rfsm[k].snapshot = tfsm_snapshot;
    nd->rfsm[k].restore = tfsm_restore;
    struct tr_raft_group_config cfg = {
        .version = 1,
        .name = group_names[k],
        .dir = dir,
        .id = (raft_id)(i + 1),
        .address = nd->addr,
        .fsm = &nd->rfsm[k],
        .election_ms = 300,
        .heartbeat_ms = 50,
        .pre_vote = true,
        .segment_size = 64 * 1024,
        .on_leader_change = on_leader,
        .arg = &nd->leader_events[k],
    };
    cr_assert_eq(tr_raft_group_start(&loop, nd->mux, &cfg, servers, NODES,
                                     &nd->g[k], err),
                 0, "start node %d group %s: %s", i + 1, group_names[k], err);
}

static bool cut_bootstrap; /* cluster_start: g1 half bootstrapped */

static void cluster_start(void)
{
    signal(SIGPIPE, SIG_IGN); /* as triad does at start (DESIGN §2) */
    snprintf(root, sizeof(root), "/tmp/triad-raft-test-%d-%d", (int)getpid(),
             root_seq++);
    cr_assert_eq(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, tick_cb, 5, 5);
    memset(nodes, 0, sizeof(nodes));
    for (int i = 0; i < NODES; i++) {
        char err[TR_ERRMSG_SIZE];
        cr_assert_eq(tr_raft_mux_new(&loop, "127.0.0.1:0", &nodes[i].port,
                                     &nodes[i].mux, err),
                     0, "%s", err);
        snprintf(nodes[i].addr, sizeof(nodes[i].addr), "127.0.0.1:%d",
                 nodes[i].port);
        servers[i].id = (raft_id)(i + 1);
        snprintf(servers[i].address, sizeof(servers[i].address), "%s",
                 nodes[i].addr);
        servers[i].role = RAFT_VOTER;
    }
    for (int i = 0; cut_bootstrap && i < NODES; i++) {
        /* every replica of g1 as a crash in its bootstrap leaves it:
         * raft_uv's metadata (format 1, version 1, term 1, no vote), no
         * segment - no replica has the configuration to elect with */
        char dir[512], path[600];
        group_dir(dir, sizeof(dir), i, 0);
        char cmd[700];
        snprintf(cmd, sizeof(cmd), "mkdir -p %s", dir);
        cr_assert_eq(system(cmd), 0);
        snprintf(path, sizeof(path), "%s/metadata1", dir);
        FILE *f = fopen(path, "wb");
        cr_assert_not_null(f);
        uint8_t md[32] = {1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
                          1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        cr_assert_eq(fwrite(md, 1, sizeof(md), f), sizeof(md));
        fclose(f);
    }
    for (int i = 0; i < NODES; i++) {
        for (int k = 0; k < GROUPS; k++) {
            start_group(i, k);
        }
    }
}

static int closes_pending;
static void count_close(void *arg)
{
    (void)arg;
    closes_pending--;
}

static bool no_closes_pending(void)
{
    return closes_pending == 0;
}

static void close_group(int i, int k)
{
    closes_pending++;
    tr_raft_group_close(nodes[i].g[k], count_close, NULL);
    nodes[i].g[k] = NULL;
}

/* .fini: also runs when an assertion failed mid-test. */
static void remove_root(void)
{
    if (root[0] != '\0') {
        nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
}

static void cluster_stop(void)
{
    for (int i = 0; i < NODES; i++) {
        for (int k = 0; k < GROUPS; k++) {
            if (nodes[i].g[k] != NULL) {
                close_group(i, k);
            }
        }
    }
    cr_assert(run_until(no_closes_pending, 5000), "group close callbacks");
    for (int i = 0; i < NODES; i++) {
        closes_pending++;
        tr_raft_mux_close(nodes[i].mux, count_close, NULL);
    }
    cr_assert(run_until(no_closes_pending, 5000), "mux close callbacks");
    uv_close((uv_handle_t *)&tick, NULL);
    for (int i = 0; i < 100 && uv_loop_alive(&loop); i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left on the loop");
    for (int i = 0; i < NODES; i++) {
        for (int k = 0; k < GROUPS; k++) {
            free(nodes[i].fsm[k].v);
        }
    }
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Leader of group k (node index) when exactly one node is leader and
 * every node knows it, else -1. */
static int leader_of(int k)
{
    int leader = -1;
    for (int i = 0; i < NODES; i++) {
        if (nodes[i].g[k] != NULL && tr_raft_group_is_leader(nodes[i].g[k])) {
            if (leader >= 0) {
                return -1;
            }
            leader = i;
        }
    }
    if (leader < 0) {
        return -1;
    }
    for (int i = 0; i < NODES; i++) {
        if (nodes[i].g[k] != NULL &&
            tr_raft_group_leader(nodes[i].g[k], NULL) !=
                (raft_id)(leader + 1)) {
            return -1;
        }
    }
    return leader;
}

static bool all_have_leaders(void)
{
    for (int k = 0; k < GROUPS; k++) {
        if (leader_of(k) < 0) {
            return false;
        }
    }
    return true;
}

static size_t want_entries;
static bool all_applied(void)
{
    for (int i = 0; i < NODES; i++) {
        for (int k = 0; k < GROUPS; k++) {
            if (nodes[i].g[k] != NULL && nodes[i].fsm[k].n < want_entries) {
                return false;
            }
        }
    }
    return true;
}

static int acks;
static int ack_errors;
static void apply_cb(void *arg, int status, void *result)
{
    (void)arg;
    if (status != 0 || result == NULL) {
        ack_errors++;
    }
    acks++;
}

static int want_acks;
static bool all_acked(void)
{
    return acks + ack_errors >= want_acks || ack_errors;
}

/* Applies n entries (base + j, group tag in the top byte) through each
 * group's leader. */
static void apply_batch(uint64_t base, size_t n)
{
    acks = ack_errors = 0;
    want_acks = (int)n * GROUPS;
    for (int k = 0; k < GROUPS; k++) {
        int l = leader_of(k);
        cr_assert_geq(l, 0, "group %s has no leader", group_names[k]);
        for (size_t j = 0; j < n; j++) {
            uint64_t x = ((uint64_t)(k + 1) << 56) | (base + j);
            cr_assert_eq(tr_raft_group_apply(nodes[l].g[k], &x, sizeof(x),
                                             apply_cb, NULL),
                         0);
        }
        /* A follower refuses. */
        uint64_t y = 0;
        int f = (l + 1) % NODES;
        cr_assert_eq(
            tr_raft_group_apply(nodes[f].g[k], &y, sizeof(y), apply_cb, NULL),
            TR_EUNAVAIL);
    }
}

static void check_replicas(size_t n)
{
    for (int k = 0; k < GROUPS; k++) {
        for (int i = 0; i < NODES; i++) {
            struct tfsm *f = &nodes[i].fsm[k];
            cr_assert_eq(f->n, n, "node %d group %s applied %zu", i + 1,
                         group_names[k], f->n);
            for (size_t j = 0; j < n; j++) {
                cr_assert_eq(f->v[j], ((uint64_t)(k + 1) << 56) | j,
                             "node %d group %s entry %zu", i + 1,
                             group_names[k], j);
            }
        }
    }
}

Test(raft_group, three_nodes_two_groups_replicate, .fini = remove_root)
{
    cluster_start();
    uint64_t t0 = uv_hrtime();
    cr_assert(run_until(all_have_leaders, 10000), "no leaders");
    double ms = (double)(uv_hrtime() - t0) / 1e6;
    cr_log_info("leaders for %d groups elected in %.0f ms", GROUPS, ms);
    fprintf(stderr, "raft_group: leaders elected in %.0f ms\n", ms);

    want_entries = 100;
    apply_batch(0, 100);
    cr_assert(run_until(all_acked, 10000), "acks %d errors %d", acks,
              ack_errors);
    cr_assert_eq(ack_errors, 0);
    cr_assert(run_until(all_applied, 10000), "replicas behind");
    check_replicas(100);

    for (int k = 0; k < GROUPS; k++) {
        int l = leader_of(k);
        struct tr_raft_group_stats st;
        tr_raft_group_stats(nodes[l].g[k], &st);
        cr_assert_eq(st.state, RAFT_LEADER);
        cr_assert_geq(st.term, 1);
        cr_assert_eq(st.leader, (raft_id)(l + 1));
        cr_assert_geq(st.commit_index, 101); /* bootstrap config + 100 */
        cr_assert_eq(st.last_applied, st.commit_index);
        cr_assert_geq(st.last_index, st.commit_index);
        cr_assert_eq(st.bytes_replicated, 100 * sizeof(uint64_t));
        cr_assert_geq(st.leader_changes, 1);
        cr_assert_geq(nodes[l].leader_events[k], 1);
        struct tr_raft_server sv[8];
        cr_assert_eq(tr_raft_group_servers(nodes[l].g[k], sv, 8), NODES);
        cr_assert_str_eq(tr_raft_group_name(nodes[l].g[k]), group_names[k]);
        cr_assert_not_null(tr_raft_group_raft(nodes[l].g[k]));
    }
    for (int i = 0; i < NODES; i++) {
        struct tr_raft_mux_stats ms_;
        tr_raft_mux_stats(nodes[i].mux, &ms_);
        cr_assert_gt(ms_.accepted, 0);
        cr_assert_gt(ms_.connected, 0);
    }
    cluster_stop();
}

static bool transferred;
static int transfer_status;
static void transfer_cb(void *arg, int status, void *result)
{
    (void)arg;
    (void)result;
    transfer_status = status;
    transferred = true;
}

static bool is_transferred(void)
{
    return transferred;
}

static int restart_node;
static bool restarted_caught_up(void)
{
    return all_applied() && leader_of(0) >= 0 && leader_of(1) >= 0;
}

Test(raft_group, restart_reloads_log_and_transfer, .fini = remove_root)
{
    cluster_start();
    cr_assert(run_until(all_have_leaders, 10000), "no leaders");
    want_entries = 20;
    apply_batch(0, 20);
    cr_assert(run_until(all_acked, 10000));
    cr_assert_eq(ack_errors, 0);
    cr_assert(run_until(all_applied, 10000));

    /* Restart a follower of g1 on the same directory: its log reloads
     * before any network traffic, then it applies everything again. */
    int l = leader_of(0);
    restart_node = (l + 1) % NODES;
    int k = 0;
    close_group(restart_node, k);
    cr_assert(run_until(no_closes_pending, 5000));
    free(nodes[restart_node].fsm[k].v);
    start_group(restart_node, k);
    struct tr_raft_group_stats st;
    tr_raft_group_stats(nodes[restart_node].g[k], &st);
    cr_assert_geq(st.last_index, 21, "log not reloaded: last %llu",
                  (unsigned long long)st.last_index);
    cr_assert_eq(nodes[restart_node].fsm[k].n, 0);
    cr_assert(run_until(restarted_caught_up, 10000), "restart: applied %zu",
              nodes[restart_node].fsm[k].n);
    check_replicas(20);

    /* Then restart the g2 leader itself; a new leader takes over. */
    l = leader_of(1);
    close_group(l, 1);
    cr_assert(run_until(no_closes_pending, 5000));
    free(nodes[l].fsm[1].v);
    start_group(l, 1);
    cr_assert(run_until(restarted_caught_up, 10000));

    /* Leadership transfer in g1 to a named follower. */
    l = leader_of(0);
    int target = (l + 2) % NODES;
    transferred = false;
    cr_assert_eq(tr_raft_group_transfer(nodes[l].g[0], (raft_id)(target + 1),
                                        transfer_cb, NULL),
                 0);
    cr_assert(run_until(is_transferred, 5000));
    cr_assert_eq(transfer_status, 0);
    cr_assert(run_until(all_have_leaders, 5000));
    cr_assert_eq(leader_of(0), target);

    want_entries = 30;
    apply_batch(20, 10);
    cr_assert(run_until(all_acked, 10000));
    cr_assert_eq(ack_errors, 0);
    cr_assert(run_until(all_applied, 10000));
    check_replicas(30);
    cluster_stop();
}

/* Replicas whose bootstrap a crash cut short (metadata without the
 * configuration's segment; a single-replica group's only one, say)
 * bootstrap again at their next start, elect and replicate. */
Test(raft_group, bootstrap_cut_by_a_crash_is_done_again, .fini = remove_root)
{
    cut_bootstrap = true;
    cluster_start();
    cut_bootstrap = false;
    cr_assert(run_until(all_have_leaders, 10000), "no leaders");
    want_entries = 10;
    apply_batch(0, 10);
    cr_assert(run_until(all_acked, 10000));
    cr_assert_eq(ack_errors, 0);
    cr_assert(run_until(all_applied, 10000), "node 1 applied %zu of g1",
              nodes[0].fsm[0].n);
    check_replicas(10);
    cluster_stop();
}

Test(raft_group, bad_config_and_duplicate_name, .fini = remove_root)
{
    cluster_start();
    char err[TR_ERRMSG_SIZE];
    struct tr_raft_group *g = NULL;
    struct tr_raft_group_config cfg = {
        .version = 1,
        .name = "g1", /* already registered on node 1's mux */
        .dir = root,
        .id = 1,
        .address = nodes[0].addr,
        .fsm = &nodes[0].rfsm[0],
    };
    cr_assert_eq(
        tr_raft_group_start(&loop, nodes[0].mux, &cfg, NULL, 0, &g, err),
        TR_EINVAL);
    cfg.name = "bad name";
    cr_assert_eq(
        tr_raft_group_start(&loop, nodes[0].mux, &cfg, NULL, 0, &g, err),
        TR_EINVAL);
    cfg.name = "g3";
    cfg.id = 0;
    cr_assert_eq(
        tr_raft_group_start(&loop, nodes[0].mux, &cfg, NULL, 0, &g, err),
        TR_EINVAL);
    cluster_stop();
}

/* ---- tr_raft_trim_append: AppendEntries below the follower's snapshot --- */

/* A message of n entries after prev (entry i has term 10 + index), all in
 * one raft_malloc'd batch as raft_uv delivers them. */
static struct raft_message append_msg(raft_term term,
                                      raft_index prev,
                                      unsigned n)
{
    struct raft_message m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_IO_APPEND_ENTRIES;
    struct raft_append_entries *a = &m.append_entries;
    a->term = term;
    a->prev_log_index = prev;
    a->prev_log_term = prev > 0 ? 10 + prev : 0;
    a->leader_commit = prev + n;
    a->n_entries = n;
    if (n > 0) {
        uint64_t *batch = raft_malloc(n * sizeof(uint64_t));
        a->entries = raft_malloc(n * sizeof(*a->entries));
        cr_assert(batch != NULL && a->entries != NULL);
        for (unsigned i = 0; i < n; i++) {
            batch[i] = prev + 1 + i; /* the entry's index, as its payload */
            a->entries[i] = (struct raft_entry){
                .term = 10 + prev + 1 + i,
                .type = RAFT_COMMAND,
                .buf = {.base = &batch[i], .len = sizeof(uint64_t)},
                .batch = batch,
            };
        }
    }
    return m;
}

/* What raft does with a message it did not keep. */
static void append_msg_free(struct raft_message *m)
{
    struct raft_append_entries *a = &m->append_entries;
    if (a->n_entries > 0 && a->entries[0].batch != NULL) {
        raft_free(a->entries[0].batch);
    }
    raft_free(a->entries);
}

static struct raft follower(raft_term term, raft_index snap)
{
    struct raft r;
    memset(&r, 0, sizeof(r));
    r.current_term = term;
    r.log.snapshot.last_index = snap;
    r.log.snapshot.last_term = snap > 0 ? 10 + snap : 0;
    r.log.offset = snap > 2 ? snap - 2 : 0; /* two trailing entries kept */
    return r;
}

Test(raft_trim, probe_from_zero_below_snapshot_becomes_heartbeat_after_it)
{
    struct raft r = follower(6, 5);
    struct raft_message m = append_msg(6, 0, 5);
    cr_assert(tr_raft_trim_append(&r, &m));
    cr_assert_eq(m.append_entries.n_entries, 0);
    cr_assert_eq(m.append_entries.prev_log_index, 5);
    cr_assert_eq(m.append_entries.prev_log_term, 15);
    cr_assert_eq(m.append_entries.leader_commit, 5);
    append_msg_free(&m); /* the batch is gone already: only the array */
}

Test(raft_trim, overlapping_entries_keep_the_ones_after_the_snapshot)
{
    struct raft r = follower(6, 5);
    struct raft_message m = append_msg(7, 2, 6); /* entries 3..8 */
    cr_assert(tr_raft_trim_append(&r, &m));
    struct raft_append_entries *a = &m.append_entries;
    cr_assert_eq(a->n_entries, 3);
    cr_assert_eq(a->prev_log_index, 5);
    cr_assert_eq(a->prev_log_term, 15);
    for (unsigned i = 0; i < 3; i++) {
        uint64_t idx;
        memcpy(&idx, a->entries[i].buf.base, sizeof(idx));
        cr_assert_eq(idx, 6 + i);
        cr_assert_eq(a->entries[i].term, 16 + i);
        cr_assert(a->entries[i].batch != NULL);
    }
    append_msg_free(&m);
}

Test(raft_trim, messages_raft_handles_itself_are_untouched)
{
    struct raft r = follower(6, 5);
    /* starts at the snapshot or later */
    struct raft_message m = append_msg(6, 5, 2);
    cr_assert_not(tr_raft_trim_append(&r, &m));
    cr_assert_eq(m.append_entries.prev_log_index, 5);
    cr_assert_eq(m.append_entries.n_entries, 2);
    append_msg_free(&m);
    /* an older term: raft rejects it whole */
    m = append_msg(5, 0, 3);
    cr_assert_not(tr_raft_trim_append(&r, &m));
    cr_assert_eq(m.append_entries.n_entries, 3);
    append_msg_free(&m);
    /* no snapshot */
    struct raft fresh = follower(6, 0);
    m = append_msg(6, 0, 3);
    cr_assert_not(tr_raft_trim_append(&fresh, &m));
    cr_assert_eq(m.append_entries.n_entries, 3);
    append_msg_free(&m);
    /* other message types */
    struct raft_message v;
    memset(&v, 0, sizeof(v));
    v.type = RAFT_IO_REQUEST_VOTE;
    cr_assert_not(tr_raft_trim_append(&r, &v));
}
