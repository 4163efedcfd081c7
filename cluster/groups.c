/* groups.c - the shard groups this node replicates, driven by the catalog:
 * start (bootstrap with the initial replicas or join empty), membership
 * reconciliation by the leader, leadership balancing, catch-up by copy,
 * restart of a replica that stopped after a storage failure, close.
 * Loop thread unless noted. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/log.h"

#define CL_TRANSFER_EVERY_MS 5000
#define CL_READY_MAX_LAG 256 /* committed entries not applied yet */

struct cl_group *cl_group_find(struct tr_cluster *c,
                               const struct tr_shard_id *id)
{
    for (struct cl_group *g = c->groups; g != NULL; g = g->next) {
        if (tr_shard_eq(&g->id, id) && !g->closing) {
            return g;
        }
    }
    return NULL;
}

/* ---- catch-up by copy ------------------------------------------------------
 */

struct cl_copy_work {
    uv_work_t req;
    struct tr_cluster *c;
    struct tr_shard_id id;
    struct tr_shard_fsm *fsm;
    uint64_t replicas[TR_CATALOG_MAX_REPLICAS];
    size_t n;
    bool ok;
    uint64_t loaded;
};

/* Thread pool: fetches the shard from a healthy replica and loads it (the
 * state machine holds its queue meanwhile, so nothing applies). */
static void cl__copy_work(uv_work_t *req)
{
    struct cl_copy_work *w = req->data;
    struct tr_cluster *c = w->c;
    struct tr_buf body, dump;
    tr_buf_init(&body);
    cl_put_shard(&body, &w->id);
    for (size_t i = 0; i < w->n && !w->ok; i++) {
        char url[CL_URL_MAX];
        if (w->replicas[i] == c->self.id ||
            !cl_node_url(c, w->replicas[i], "/internal/v1/shard/dump", url,
                         sizeof(url))) {
            continue;
        }
        tr_buf_init(&dump);
        long status = 0;
        if (tr_rpc_call(c->rpc, url, body.data, body.len, NULL, 60000, &status,
                        &dump) == 0 &&
            status == 200 &&
            tr_storage_shard_load(c->storage, &w->id, dump.data, dump.len,
                                  &w->loaded) == 0) {
            w->ok = true;
        }
        tr_buf_free(&dump);
    }
    tr_buf_free(&body);
}

static void cl__copy_done(uv_work_t *req, int status)
{
    (void)status;
    struct cl_copy_work *w = req->data;
    struct cl_group *g = cl_group_find(w->c, &w->id);
    if (g != NULL && g->fsm == w->fsm) {
        g->copying = false;
        tr_shard_fsm_copy_done(g->fsm, w->ok, w->loaded);
    }
    if (!w->ok) {
        tr_log_warn("shard copy failed; retrying", "group=%s",
                    g != NULL ? g->name : "?");
    }
    tr_free(w);
}

static void cl__start_copy(struct cl_group *g)
{
    struct tr_cluster *c = g->c;
    if (g->copying || c->stopping) {
        return;
    }
    const struct tr_catalog_shard *sh = tr_catalog_shard(
        &c->meta_fsm.catalog, g->id.signal, g->id.window, g->id.slot);
    if (sh == NULL) {
        return;
    }
    struct cl_copy_work *w = tr_calloc(1, sizeof(*w));
    if (w == NULL) {
        return;
    }
    w->c = c;
    w->id = g->id;
    w->fsm = g->fsm;
    w->n = sh->n_replicas;
    memcpy(w->replicas, sh->replicas, sizeof(w->replicas));
    w->req.data = w;
    g->copying = true;
    uv_queue_work(c->loop, &w->req, cl__copy_work, cl__copy_done);
}

/* ---- start and close --------------------------------------------------------
 */

static int cl__group_start(struct tr_cluster *c,
                           const struct tr_catalog_shard *sh)
{
    struct cl_group *g = tr_calloc(1, sizeof(*g));
    if (g == NULL) {
        return TR_ENOMEM;
    }
    g->c = c;
    g->id = (struct tr_shard_id){sh->signal, sh->window, sh->slot};
    tr_shard_group_name(&g->id, g->name, sizeof(g->name));
    int rv = tr_shard_fsm_new(c->storage, c->lanes, &g->id, &g->fsm);
    if (rv != 0) {
        /* TR_EUNAVAIL: the previous state machine still drains */
        tr_free(g);
        return rv;
    }
    char dir[2200];
    snprintf(dir, sizeof(dir), "%s/%s", c->raft_dir, g->name);
    /* the window's initial replicas bootstrap the group; a replica added
     * later starts empty and is brought in by the group's leader */
    bool initial = false;
    for (size_t i = 0; i < sh->n_initial; i++) {
        initial = initial || sh->initial[i] == c->self.id;
    }
    struct tr_raft_server servers[TR_CATALOG_MAX_REPLICAS];
    size_t n = 0;
    for (size_t i = 0; initial && i < sh->n_initial; i++) {
        const struct tr_catalog_node *nd =
            tr_catalog_node(&c->meta_fsm.catalog, sh->initial[i]);
        if (nd == NULL) {
            continue;
        }
        servers[n].id = nd->id;
        snprintf(servers[n].address, sizeof(servers[n].address), "%s",
                 nd->raft_addr);
        servers[n].role = RAFT_VOTER;
        n++;
    }
    struct tr_raft_group_config gc;
    cl_group_config(c, &gc, g->name, dir, tr_shard_fsm_raft(g->fsm));
    if ((sh->signal == TR_SIGNAL_LOGS || sh->signal == TR_SIGNAL_TRACES) &&
        (gc.snapshot_bytes == 0 ||
         gc.snapshot_bytes > CL_LOGS_SNAPSHOT_BYTES)) {
        /* a logs or traces shard holds nothing in memory: its snapshot
         * writes only the applied index (storage/log_store.h,
         * storage/trace_store.h), so snapshot often and
         * keep its Raft log short (bench/logs: the log was 10-25 MiB of a
         * 1 GiB data directory at 64 MiB) */
        gc.snapshot_bytes = CL_LOGS_SNAPSHOT_BYTES;
    }
    char err[TR_ERRMSG_SIZE];
    rv = tr_raft_group_start(c->loop, c->mux, &gc, initial ? servers : NULL,
                             initial ? n : 0, &g->g, err);
    if (rv != 0) {
        tr_log_error("cannot start shard group", "group=%s err=\"%s\"", g->name,
                     err);
        tr_shard_fsm_release(g->fsm);
        tr_free(g);
        return rv;
    }
    struct tr_raft_group_stats gs;
    tr_raft_group_stats(g->g, &gs);
    g->start_last_index = gs.last_index;
    g->next = c->groups;
    c->groups = g;
    tr_log_info("shard group started", "group=%s replicas=%zu", g->name, n);
    return 0;
}

struct cl_close {
    struct cl_group *g;
    void (*done)(struct tr_cluster *c);
};

static void cl__group_closed(void *arg)
{
    struct cl_close *cc = arg;
    struct cl_group *g = cc->g;
    struct tr_cluster *c = g->c;
    for (struct cl_group **pg = &c->groups; *pg != NULL; pg = &(*pg)->next) {
        if (*pg == g) {
            *pg = g->next;
            break;
        }
    }
    tr_shard_fsm_release(g->fsm); /* freed once its storage thread is idle */
    void (*done)(struct tr_cluster *) = cc->done;
    tr_free(g);
    tr_free(cc);
    if (done != NULL) {
        done(c);
    }
}

/* Stops the state machine (waiters released), then closes the Raft group;
 * the group leaves the list when closed. */
static void cl__group_close(struct cl_group *g,
                            void (*done)(struct tr_cluster *c))
{
    struct cl_close *cc = tr_calloc(1, sizeof(*cc));
    if (cc == NULL) {
        return; /* tried again on the next tick */
    }
    cc->g = g;
    cc->done = done;
    g->closing = true;
    tr_shard_fsm_stop(g->fsm);
    tr_raft_group_close(g->g, cl__group_closed, cc);
}

int cl_groups_close_all(struct tr_cluster *c, void (*done)(struct tr_cluster *))
{
    int n = 0;
    for (struct cl_group *g = c->groups; g != NULL; g = g->next) {
        if (!g->closing) {
            cl__group_close(g, done);
            n++;
        }
    }
    return n;
}

/* What waits for a group's stop entry to apply. */
struct cl_stop_wait {
    struct tr_cluster *c;
    struct tr_shard_id id;
};

/* The stop entry applied (or failed): a snapshot after it, now that the
 * one the barrier forced may have been taken before it. */
static void cl__stop_entry_applied(void *arg, int status, void *result)
{
    (void)result;
    struct cl_stop_wait *w = arg;
    struct cl_group *g = cl_group_find(w->c, &w->id);
    if (status == 0 && g != NULL && !g->closing) {
        tr_raft_group_snapshot_soon(g->g);
    }
    tr_free(w);
}

/* Proposes the signal's stop entry (leader with entries since the last
 * snapshot): its index, or 0 when none was proposed. */
static uint64_t cl__propose_stop_entry(struct cl_group *g)
{
    const struct cl_signal_ops *ops = cl_signal_ops(g->id.signal);
    struct raft *r = tr_raft_group_raft(g->g);
    if (ops == NULL || ops->stop_entry == NULL ||
        raft_state(r) != RAFT_LEADER ||
        raft_last_applied(r) <= tr_raft_group_snapshot_index(g->g)) {
        return 0;
    }
    struct tr_buf e;
    tr_buf_init(&e);
    ops->stop_entry(&e);
    struct cl_stop_wait *w = tr_malloc(sizeof(*w));
    uint64_t index = 0;
    if (w != NULL && !e.oom) {
        *w = (struct cl_stop_wait){.c = g->c, .id = g->id};
        if (tr_raft_group_apply(g->g, e.data, e.len, cl__stop_entry_applied,
                                w) == 0) {
            index = raft_last_index(r);
            w = NULL;
        }
    }
    tr_free(w);
    tr_buf_free(&e);
    return index;
}

int cl_groups_snapshot_all(struct tr_cluster *c)
{
    int n = 0;
    for (struct cl_group *g = c->groups; g != NULL; g = g->next) {
        g->snap_before = UINT64_MAX;
        if (g->closing) {
            continue;
        }
        struct raft *r = tr_raft_group_raft(g->g);
        uint64_t stop = cl__propose_stop_entry(g);
        uint64_t before = tr_raft_group_snapshot_soon(g->g);
        /* a leader forces its snapshot with a barrier; a follower takes
         * one only when the leader sends an entry, which may not happen:
         * shutdown waits for the leaders' only (a follower that got no
         * entry replays its log at the next start, skipping what storage
         * has) */
        if (raft_last_applied(r) > before && raft_state(r) == RAFT_LEADER) {
            /* past the stop entry when there is one */
            g->snap_before = stop > before + 1 ? stop - 1 : before;
            n++;
        }
    }
    return n;
}

bool cl_groups_snapshots_done(struct tr_cluster *c)
{
    for (struct cl_group *g = c->groups; g != NULL; g = g->next) {
        if (!g->closing && g->snap_before != UINT64_MAX &&
            tr_raft_group_snapshot_index(g->g) <= g->snap_before) {
            return false;
        }
    }
    return true;
}

bool cl_groups_transfer_all(struct tr_cluster *c)
{
    bool any = false;
    for (struct cl_group *g = c->groups; g != NULL; g = g->next) {
        struct tr_raft_server servers[TR_CATALOG_MAX_REPLICAS];
        if (!g->closing && tr_raft_group_is_leader(g->g) &&
            tr_raft_group_servers(g->g, servers, TR_CATALOG_MAX_REPLICAS) > 1) {
            tr_raft_group_transfer(g->g, 0, NULL, NULL);
            any = true;
        }
    }
    return any;
}

/* ---- membership and leadership
 * -----------------------------------------------
 */

static void cl__change_done(void *arg, int status, void *result)
{
    (void)result;
    struct cl_group *g = arg;
    g->change_inflight = false;
    if (status != 0) {
        tr_log_warn("shard membership change failed", "group=%s rv=%d", g->name,
                    status);
    }
}

/* Leader: makes the group's Raft configuration follow the catalog's
 * replica list, one change at a time: replicas the catalog dropped leave
 * first (a replaced replica is down, or a new incarnation of it may share
 * its address: messages to the old id would reach the new one), then the
 * new ones are added. */
static void cl__reconcile(struct cl_group *g, const struct tr_catalog_shard *sh)
{
    struct tr_cluster *c = g->c;
    if (g->change_inflight) {
        return;
    }
    struct tr_raft_server servers[16];
    size_t ns = tr_raft_group_servers(g->g, servers, 16);
    for (size_t i = 0; i < ns; i++) {
        if (!cl_is_replica(sh, servers[i].id) && servers[i].id != c->self.id) {
            tr_log_info("removing shard replica", "group=%s id=%" PRIu64,
                        g->name, (uint64_t)servers[i].id);
            g->change_inflight = true;
            if (tr_raft_group_remove(g->g, servers[i].id, cl__change_done, g) !=
                0) {
                g->change_inflight = false;
            }
            return;
        }
    }
    for (size_t r = 0; r < sh->n_replicas; r++) {
        bool in = false;
        for (size_t i = 0; i < ns; i++) {
            in = in || servers[i].id == sh->replicas[r];
        }
        const struct tr_catalog_node *nd =
            tr_catalog_node(&c->meta_fsm.catalog, sh->replicas[r]);
        if (!in && nd != NULL) {
            tr_log_info("adding shard replica", "group=%s node=%s", g->name,
                        nd->name);
            g->change_inflight = true;
            if (tr_raft_group_add(g->g, nd->id, nd->raft_addr, RAFT_VOTER,
                                  cl__change_done, g) != 0) {
                g->change_inflight = false;
            }
            return;
        }
    }
}

/* Leader that is not the shard's preferred replica: hands leadership to
 * it, but only when it is a voter that answered recently and has the whole
 * log (a transfer to a dead or lagging node would stall writes), and not
 * in the first CL_TRANSFER_EVERY_MS of its leadership (a preferred replica
 * that is shutting down hands its leaderships away: handing them straight
 * back would make it close as a leader). */
static void cl__balance(struct cl_group *g,
                        const struct tr_catalog_shard *sh,
                        int64_t now)
{
    struct tr_cluster *c = g->c;
    if (g->leader_since_ms == 0) {
        g->leader_since_ms = now;
    }
    if (now - g->last_transfer_ms < CL_TRANSFER_EVERY_MS ||
        now - g->leader_since_ms < CL_TRANSFER_EVERY_MS || sh->n_replicas < 2 ||
        sh->replicas[0] == c->self.id) {
        return;
    }
    struct raft *r = tr_raft_group_raft(g->g);
    const struct raft_configuration *conf = &r->configuration;
    for (unsigned i = 0; i < conf->n; i++) {
        if (conf->servers[i].id != sh->replicas[0] ||
            conf->servers[i].role != RAFT_VOTER ||
            r->leader_state.progress == NULL) {
            continue;
        }
        const struct raft_progress *p = &r->leader_state.progress[i];
        if (p->recent_recv && p->match_index >= raft_last_index(r)) {
            g->last_transfer_ms = now;
            tr_raft_group_transfer(g->g, sh->replicas[0], NULL, NULL);
        }
        break;
    }
}

void cl_groups_tick(struct tr_cluster *c)
{
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    for (size_t i = 0; i < cat->n_shards; i++) {
        const struct tr_catalog_shard *sh = &cat->shards[i];
        struct tr_shard_id id = {sh->signal, sh->window, sh->slot};
        /* a sealed shard runs no group (sealed.c) */
        if (sh->state == TR_SHARD_DELETED || sh->state == TR_SHARD_SEALED ||
            cl_signal_ops(sh->signal) == NULL ||
            !cl_is_replica(sh, c->self.id) || cl_group_find(c, &id) != NULL) {
            continue;
        }
        bool closing = false; /* its previous group is still closing */
        for (struct cl_group *g = c->groups; g != NULL; g = g->next) {
            closing = closing || tr_shard_eq(&g->id, &id);
        }
        if (!closing) {
            cl__group_start(c, sh);
        }
    }
    int64_t now = cl_mono_ms();
    for (struct cl_group *g = c->groups; g != NULL; g = g->next) {
        if (g->closing) {
            continue;
        }
        if (g->copying) {
            continue; /* the copy writes into storage: let it finish */
        }
        struct tr_shard_fsm_state st;
        tr_shard_fsm_state(g->fsm, &st);
        if (st.failed) {
            /* fail-stop: close the replica; the next tick starts it again
             * and storage replays the log from its durable index */
            tr_log_warn("restarting shard replica after a storage failure",
                        "group=%s err=\"%s\"", g->name, st.failure);
            cl__group_close(g, NULL);
            continue;
        }
        if (st.catching_up && !g->copying) {
            cl__start_copy(g);
        }
        const struct tr_catalog_shard *sh =
            tr_catalog_shard(cat, g->id.signal, g->id.window, g->id.slot);
        if (sh != NULL && !cl_is_replica(sh, c->self.id)) {
            tr_log_info("leaving shard group", "group=%s", g->name);
            cl__group_close(g, NULL);
            continue;
        }
        if (sh != NULL && sh->state == TR_SHARD_DELETED) {
            /* retention: its drop job (retention.c) runs once closed */
            tr_log_info("closing a deleted shard's group", "group=%s", g->name);
            cl__group_close(g, NULL);
            continue;
        }
        if (sh != NULL && sh->state == TR_SHARD_SEALED &&
            cl_sealed_group_done(c, &g->id)) {
            /* nothing goes through its log any more: a retire job removes
             * it once closed (sealed.c) */
            tr_log_info("closing a sealed shard's group; its log goes",
                        "group=%s", g->name);
            tr_selfmetrics_inc(c->m_sealed, 1, "group_closed");
            cl__group_close(g, NULL);
            continue;
        }
        if (sh != NULL && tr_raft_group_is_leader(g->g)) {
            cl__reconcile(g, sh);
            cl__balance(g, sh, now);
        } else {
            g->leader_since_ms = 0;
        }
    }
}

/* Has every active or sealing shard this node replicates a local group? */
static bool cl__all_groups_started(struct tr_cluster *c)
{
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    for (size_t i = 0; i < cat->n_shards; i++) {
        const struct tr_catalog_shard *sh = &cat->shards[i];
        struct tr_shard_id id = {sh->signal, sh->window, sh->slot};
        if (sh->state != TR_SHARD_DELETED && sh->state != TR_SHARD_SEALED &&
            cl_signal_ops(sh->signal) && cl_is_replica(sh, c->self.id) &&
            cl_group_find(c, &id) == NULL) {
            return false;
        }
    }
    return true;
}

void cl_groups_refresh_stats(struct tr_cluster *c)
{
    size_t n = 0;
    for (struct cl_group *g = c->groups; g != NULL; g = g->next) {
        n++;
    }
    struct cl_stat *st = tr_calloc(n ? n : 1, sizeof(*st));
    if (st == NULL) {
        return;
    }
    size_t i = 0;
    bool replayed = true;
    for (struct cl_group *g = c->groups; g != NULL; g = g->next) {
        if (g->closing) {
            continue;
        }
        struct tr_raft_group_stats gs;
        tr_raft_group_stats(g->g, &gs);
        struct tr_shard_fsm_state fs;
        tr_shard_fsm_state(g->fsm, &fs);
        if (!g->replayed && gs.leader != 0 &&
            fs.applied_index >= g->start_last_index) {
            g->replayed = true;
        }
        /* an empty replayed group may hold only configuration entries */
        if (!g->replayed && gs.leader != 0 && fs.queued == 0 &&
            gs.last_applied >= g->start_last_index) {
            g->replayed = true;
        }
        replayed = replayed && g->replayed;
        st[i] = (struct cl_stat){
            .id = g->id,
            .state = gs.state,
            .leader = gs.leader,
            .term = gs.term,
            .commit = gs.commit_index,
            /* with nothing queued, storage has everything raft applied
             * (configuration entries and barriers have no data) */
            .applied = fs.queued == 0 && gs.last_applied > fs.applied_index
                           ? gs.last_applied
                           : fs.applied_index,
            .last_index = gs.last_index,
            .leader_changes = gs.leader_changes,
            .snapshots = gs.snapshots,
            .bytes = gs.bytes_replicated,
            .trimmed = gs.appends_trimmed,
            .queued = fs.queued,
            .queued_bytes = fs.queued_bytes,
            .catching_up = fs.catching_up,
            .failed = fs.failed,
        };
        /* ready also means caught up: not copying the shard, not stopped,
         * and applied what the leader committed (within a batch's worth:
         * a replica under load always trails by the entries in flight) */
        replayed = replayed && !fs.catching_up && !fs.failed &&
                   st[i].commit <= st[i].applied + CL_READY_MAX_LAG;
        i++;
    }
    struct tr_raft_group_stats ms;
    memset(&ms, 0, sizeof(ms));
    if (c->meta != NULL) {
        tr_raft_group_stats(c->meta, &ms);
        if (!c->meta_replayed && ms.leader != 0 &&
            ms.last_applied >= c->meta_start_last_index) {
            c->meta_replayed = true;
        }
    }
    replayed = replayed && c->meta_replayed;
    pthread_mutex_lock(&c->mu);
    tr_free(c->stats);
    c->stats = st;
    c->n_stats = i;
    c->meta_stats = ms;
    c->meta_leader = c->meta != NULL && tr_raft_group_is_leader(c->meta);
    c->n_health = 0;
    if (c->meta_leader) {
        struct raft *r = tr_raft_group_raft(c->meta);
        for (unsigned k = 0; k < r->configuration.n && k < CL_MAX_PEERS; k++) {
            uint64_t id = r->configuration.servers[k].id;
            c->health[c->n_health].id = id;
            c->health[c->n_health].ok =
                id == c->self.id || (r->leader_state.progress != NULL &&
                                     r->leader_state.progress[k].recent_recv);
            c->n_health++;
        }
    }
    c->groups_replayed = replayed && cl__all_groups_started(c);
    pthread_mutex_unlock(&c->mu);
}

/* ---- strong reads
 * ------------------------------------------------------------
 */

/* A Raft barrier on the shard's leader proves leadership and makes every
 * entry committed before it queued here; the read then waits until the
 * storage thread applied them (tr_shard_fsm_when_index). */
struct cl_barrier {
    struct tr_cluster *c;
    struct tr_shard_id id;
    int rv;
    struct tr_shard_fsm *fsm;
    struct raft_barrier req;
    struct cl_call call;
};

static void barrier__applied(void *arg, int rv)
{
    struct cl_barrier *b = arg;
    b->rv = rv == 0 ? 0 : TR_EUNAVAIL;
    cl_call_done(&b->call);
}

static void barrier__done(struct raft_barrier *req, int status)
{
    struct cl_barrier *b = req->data;
    if (status != 0) {
        b->rv = TR_EUNAVAIL;
        cl_call_done(&b->call);
        return;
    }
    struct tr_shard_fsm_state st;
    tr_shard_fsm_state(b->fsm, &st);
    if (tr_shard_fsm_when_index(b->fsm, st.queued_index, barrier__applied, b) !=
        0) {
        b->rv = TR_ENOMEM;
        cl_call_done(&b->call);
    }
}

static void barrier__start(void *arg)
{
    struct cl_barrier *b = arg;
    struct cl_group *g = cl_group_find(b->c, &b->id);
    struct tr_shard_fsm_state st = {0};
    if (g != NULL) {
        tr_shard_fsm_state(g->fsm, &st);
    }
    if (g == NULL || st.catching_up || st.failed ||
        !tr_raft_group_is_leader(g->g)) {
        b->rv = TR_EUNAVAIL;
        cl_call_done(&b->call);
        return;
    }
    b->fsm = g->fsm;
    b->req.data = b;
    if (raft_barrier(tr_raft_group_raft(g->g), &b->req, barrier__done) != 0) {
        b->rv = TR_EUNAVAIL;
        cl_call_done(&b->call);
    }
}

int cl_leader_barrier(struct tr_cluster *c, const struct tr_shard_id *id)
{
    struct cl_barrier b;
    memset(&b, 0, sizeof(b));
    b.c = c;
    b.id = *id;
    cl_call_init(&b.call, 1);
    if (tr_rpc_run_on_loop(c->rpc, barrier__start, &b) == 0) {
        cl_call_wait(&b.call);
    } else {
        b.rv = TR_ENOMEM;
    }
    cl_call_destroy(&b.call);
    return b.rv;
}
