/* cluster.c - the node in its cluster: identity, forming or joining the
 * meta group, the catalog-driven lifecycle of shard groups, window
 * creation by the meta leader, leader balancing, eviction, shutdown.
 * Loop thread unless noted. */
#include "server/cluster.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "server/cluster_int.h"

#define CL_TICK_MS 100
#define CL_TRANSFER_EVERY_MS 5000
#define CL_EVICT_EVERY_MS 60000

int64_t cl_now_ms(void)
{
    return tr_now_ms();
}

void cl_call_init(struct cl_call *w, int pending)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->pending = pending;
}

void cl_call_done(struct cl_call *w)
{
    pthread_mutex_lock(&w->mu);
    w->pending--;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void cl_call_wait(struct cl_call *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->pending > 0) {
        pthread_cond_wait(&w->cv, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
}

void cl_call_destroy(struct cl_call *w)
{
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

int64_t cl_window_start(const struct tr_cluster *c, int64_t t)
{
    int64_t q = t / c->window_ms;
    if (t % c->window_ms != 0 && t < 0) {
        q--;
    }
    return q * c->window_ms;
}

int cl_node_decode(const void *buf, size_t len, struct tr_catalog_node *n)
{
    struct tr_catalog tmp;
    tr_catalog_init(&tmp);
    char err[TR_ERRMSG_SIZE];
    int rv = tr_catalog_apply(&tmp, buf, len, err);
    if (rv == 0 && tmp.n_nodes == 1) {
        *n = tmp.nodes[0];
    } else if (rv == 0) {
        rv = TR_EPROTO;
    }
    tr_catalog_free(&tmp);
    return rv;
}

bool cl_node_http(struct tr_cluster *c, uint64_t id, char *out, size_t n)
{
    bool ok = false;
    pthread_mutex_lock(&c->meta_fsm.mu);
    const struct tr_catalog_node *nd =
        tr_catalog_node(&c->meta_fsm.catalog, id);
    if (nd != NULL && nd->http_addr[0] != '\0') {
        snprintf(out, n, "%s", nd->http_addr);
        ok = true;
    }
    pthread_mutex_unlock(&c->meta_fsm.mu);
    if (!ok) {
        pthread_mutex_lock(&c->mu);
        for (size_t i = 0; i < c->n_peers && !ok; i++) {
            if (c->peers[i].id == id) {
                snprintf(out, n, "%s", c->peers[i].http_addr);
                ok = true;
            }
        }
        pthread_mutex_unlock(&c->mu);
    }
    return ok;
}

struct cl_group *cl_group_find(struct tr_cluster *c,
                               int64_t window,
                               uint16_t slot)
{
    for (struct cl_group *g = c->groups; g != NULL; g = g->next) {
        if (g->window == window && g->slot == slot && !g->closing) {
            return g;
        }
    }
    return NULL;
}

/* ---- shard groups -------------------------------------------------------- */

static void cl__group_closed(void *arg);

struct cl_copy_work {
    uv_work_t req;
    struct cl_group *g;
    uint64_t replicas[TR_CATALOG_MAX_REPLICAS];
    size_t n;
    bool ok;
    uint64_t loaded;
};

static void cl__copy_work(uv_work_t *req)
{
    struct cl_copy_work *w = req->data;
    struct tr_cluster *c = w->g->c;
    struct tr_buf body, dump;
    tr_buf_init(&body);
    tr_buf_put_varint(&body, w->g->window);
    tr_buf_put_uvarint(&body, w->g->slot);
    for (size_t i = 0; i < w->n && !w->ok; i++) {
        char http[TR_CATALOG_ADDR_MAX], url[300];
        if (w->replicas[i] == c->self.id ||
            !cl_node_http(c, w->replicas[i], http, sizeof(http))) {
            continue;
        }
        snprintf(url, sizeof(url), "http://%s/internal/v1/shard/dump", http);
        tr_buf_init(&dump);
        long status = 0;
        if (tr_rpc_call(c->rpc, url, body.data, body.len, NULL, 60000, &status,
                        &dump) == 0 &&
            status == 200 &&
            tr_storage_shard_load(c->storage, w->g->window, w->g->slot,
                                  dump.data, dump.len, &w->loaded) == 0) {
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
    w->g->copying = false;
    if (w->ok && w->loaded >= w->g->fsm.copy_target) {
        tr_shard_fsm_copy_done(&w->g->fsm, true, w->loaded);
    } else {
        tr_log_warn("shard copy failed; retrying", "window=%" PRId64 " slot=%u",
                    w->g->window, w->g->slot);
    }
    tr_free(w);
}

static void cl__start_copy(struct cl_group *g)
{
    struct tr_cluster *c = g->c;
    if (g->copying || c->stopping) {
        return;
    }
    const struct tr_catalog_shard *sh =
        tr_catalog_shard(&c->meta_fsm.catalog, CL_SIGNAL, g->window, g->slot);
    if (sh == NULL) {
        return;
    }
    struct cl_copy_work *w = tr_calloc(1, sizeof(*w));
    if (w == NULL) {
        return;
    }
    w->g = g;
    w->n = sh->n_replicas;
    memcpy(w->replicas, sh->replicas, sizeof(w->replicas));
    w->req.data = w;
    g->copying = true;
    uv_queue_work(c->loop, &w->req, cl__copy_work, cl__copy_done);
}

static void cl__copy_hook(void *arg, struct tr_shard_fsm *f, uint64_t index)
{
    (void)f;
    (void)index;
    cl__start_copy(arg);
}

static int cl__group_start(struct tr_cluster *c,
                           const struct tr_catalog_shard *sh)
{
    struct cl_group *g = tr_calloc(1, sizeof(*g));
    if (g == NULL) {
        return TR_ENOMEM;
    }
    g->c = c;
    g->window = sh->window;
    g->slot = sh->slot;
    snprintf(g->name, sizeof(g->name), "m%" PRId64 "-%u", sh->window, sh->slot);
    tr_shard_fsm_init(&g->fsm, c->storage, sh->window, sh->slot, cl__copy_hook,
                      g);
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
    cl_group_config(c, &gc, g->name, dir, &g->fsm.fsm);
    char err[TR_ERRMSG_SIZE];
    int rv = tr_raft_group_start(c->loop, c->mux, &gc, initial ? servers : NULL,
                                 initial ? n : 0, &g->g, err);
    if (rv != 0) {
        tr_log_error("cannot start shard group", "group=%s err=\"%s\"", g->name,
                     err);
        tr_shard_fsm_close(&g->fsm);
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

static void cl__group_closed(void *arg)
{
    struct cl_group *g = arg;
    struct tr_cluster *c = g->c;
    for (struct cl_group **pg = &c->groups; *pg != NULL; pg = &(*pg)->next) {
        if (*pg == g) {
            *pg = g->next;
            break;
        }
    }
    tr_shard_fsm_close(&g->fsm);
    tr_free(g);
    c->closing--;
}

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
 * replica list, one change at a time (new voters first). */
static void cl__reconcile(struct cl_group *g, const struct tr_catalog_shard *sh)
{
    struct tr_cluster *c = g->c;
    if (g->change_inflight) {
        return;
    }
    struct tr_raft_server servers[16];
    size_t ns = tr_raft_group_servers(g->g, servers, 16);
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
}

/* Starts the groups of shards this node replicates; rebalances leaders;
 * restarts copies that failed. */
static void cl__groups(struct tr_cluster *c)
{
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    for (size_t i = 0; i < cat->n_shards; i++) {
        const struct tr_catalog_shard *sh = &cat->shards[i];
        if (sh->signal != CL_SIGNAL || sh->state != TR_SHARD_ACTIVE) {
            continue;
        }
        bool mine = false;
        for (size_t r = 0; r < sh->n_replicas; r++) {
            mine = mine || sh->replicas[r] == c->self.id;
        }
        if (mine && cl_group_find(c, sh->window, sh->slot) == NULL) {
            cl__group_start(c, sh);
        }
    }
    int64_t now = cl_now_ms();
    for (struct cl_group *g = c->groups; g != NULL; g = g->next) {
        if (g->closing) {
            continue;
        }
        if (g->fsm.catching_up && !g->copying) {
            cl__start_copy(g);
        }
        const struct tr_catalog_shard *csh =
            tr_catalog_shard(cat, CL_SIGNAL, g->window, g->slot);
        if (csh != NULL && !cl_is_replica(csh, c->self.id)) {
            /* re-placed away from this node */
            tr_log_info("leaving shard group", "group=%s", g->name);
            g->closing = true;
            c->closing++;
            tr_raft_group_close(g->g, cl__group_closed, g);
            continue;
        }
        if (csh != NULL && tr_raft_group_is_leader(g->g)) {
            cl__reconcile(g, csh);
        }
        if (!tr_raft_group_is_leader(g->g) ||
            now - g->last_transfer_ms < CL_TRANSFER_EVERY_MS) {
            continue;
        }
        const struct tr_catalog_shard *sh =
            tr_catalog_shard(cat, CL_SIGNAL, g->window, g->slot);
        if (sh == NULL || sh->n_replicas < 2 || sh->replicas[0] == c->self.id) {
            continue;
        }
        /* hand leadership to the preferred replica, but only when it is a
         * voter that answered recently and has the whole log (a transfer
         * to a dead or lagging node would stall writes) */
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
}

/* Has every active shard this node replicates a local group? */
static bool cl__all_groups_started(struct tr_cluster *c)
{
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    for (size_t i = 0; i < cat->n_shards; i++) {
        const struct tr_catalog_shard *sh = &cat->shards[i];
        if (sh->signal != CL_SIGNAL || sh->state != TR_SHARD_ACTIVE) {
            continue;
        }
        for (size_t r = 0; r < sh->n_replicas; r++) {
            if (sh->replicas[r] == c->self.id &&
                cl_group_find(c, sh->window, sh->slot) == NULL) {
                return false;
            }
        }
    }
    return true;
}

static void cl__refresh_stats(struct tr_cluster *c)
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
        if (!g->replayed && gs.leader != 0 &&
            gs.last_applied >= g->start_last_index) {
            g->replayed = true;
        }
        replayed = replayed && g->replayed;
        st[i] = (struct cl_stat){
            .window = g->window,
            .slot = g->slot,
            .state = gs.state,
            .leader = gs.leader,
            .term = gs.term,
            .commit = gs.commit_index,
            .applied = gs.last_applied,
            .last_index = gs.last_index,
            .leader_changes = gs.leader_changes,
            .snapshots = gs.snapshots,
            .bytes = gs.bytes_replicated,
            .catching_up = g->fsm.catching_up,
        };
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

/* Every node must place data by the cluster's window length: reads seek
 * windows with this node's --placement-window. */
static void cl__check_window_length(struct tr_cluster *c)
{
    static bool warned;
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    if (warned || cat->n_shards == 0) {
        return;
    }
    const struct tr_catalog_shard *sh = &cat->shards[cat->n_shards - 1];
    if (sh->window_ms != c->window_ms) {
        warned = true;
        tr_log_error(
            "this node's --placement-window differs from the "
            "cluster's; start it with the cluster's value",
            "node_ms=%" PRId64 " cluster_ms=%" PRId64, c->window_ms,
            sh->window_ms);
    }
}

static void cl__on_tick(uv_timer_t *t)
{
    struct tr_cluster *c = t->data;
    if (c->stopping) {
        return;
    }
    if (c->meta == NULL) {
        cl_maybe_start_meta(c);
        return;
    }
    cl_register(c);
    cl__check_window_length(c);
    cl_leader_windows(c);
    cl__groups(c);
    cl__refresh_stats(c);
    int64_t now = cl_now_ms();
    if (now - c->last_evict_ms >= CL_EVICT_EVERY_MS) {
        c->last_evict_ms = now;
        int64_t grace = c->cfg->late_write_grace_metrics_ms >= 0
                            ? c->cfg->late_write_grace_metrics_ms
                            : c->cfg->late_write_grace_ms;
        if (grace < INT64_MAX / 4) {
            tr_storage_evict(c->storage, now - grace);
        }
    }
}

bool tr_cluster_tenant(struct tr_cluster *c,
                       const char *tenant,
                       struct tr_catalog_tenant *out)
{
    pthread_mutex_lock(&c->meta_fsm.mu);
    const struct tr_catalog_tenant *t =
        tr_catalog_tenant(&c->meta_fsm.catalog, tenant);
    if (t != NULL) {
        *out = *t;
    }
    pthread_mutex_unlock(&c->meta_fsm.mu);
    return t != NULL;
}

bool tr_cluster_ready(struct tr_cluster *c)
{
    pthread_mutex_lock(&c->mu);
    bool leader = c->meta_stats.leader != 0 && c->groups_replayed;
    pthread_mutex_unlock(&c->mu);
    if (!leader) {
        return false;
    }
    pthread_mutex_lock(&c->meta_fsm.mu);
    bool in = tr_catalog_node(&c->meta_fsm.catalog, c->self.id) != NULL;
    pthread_mutex_unlock(&c->meta_fsm.mu);
    return in;
}

/* ---- start / stop -------------------------------------------------------- */

static void cl__host_of(const char *addr, char *host, size_t n)
{
    const char *colon = strrchr(addr, ':');
    size_t l = colon ? (size_t)(colon - addr) : strlen(addr);
    if (l >= n) {
        l = n - 1;
    }
    memcpy(host, addr, l);
    host[l] = '\0';
}

int tr_cluster_start(uv_loop_t *loop,
                     const struct tr_config *cfg,
                     struct tr_storage *storage,
                     int http_port,
                     struct tr_cluster **out,
                     char *errmsg)
{
    struct tr_cluster *c = tr_calloc(1, sizeof(*c));
    if (c == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    c->loop = loop;
    c->cfg = cfg;
    c->storage = storage;
    c->window_ms = cfg->placement_window_ms;
    pthread_mutex_init(&c->mu, NULL);
    tr_meta_fsm_init(&c->meta_fsm, cl_meta_changed, c);
    /* identity: a stable raft id from the node name */
    uint64_t id = tr_hash64(cfg->node_name, strlen(cfg->node_name), 0x6e6f6465);
    c->self.id = id ? id : 1;
    snprintf(c->self.name, sizeof(c->self.name), "%s", cfg->node_name);
    c->self.state = TR_NODE_ACTIVE;
    int port = 0;
    int rv = tr_raft_mux_new(loop, cfg->cluster_addr, &port, &c->mux, errmsg);
    if (rv != 0) {
        goto err_after_alloc;
    }
    char host[100];
    if (cfg->advertise_addr[0] != '\0') {
        snprintf(c->self.raft_addr, sizeof(c->self.raft_addr), "%s",
                 cfg->advertise_addr);
        cl__host_of(cfg->advertise_addr, host, sizeof(host));
    } else {
        cl__host_of(cfg->cluster_addr, host, sizeof(host));
        if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0') {
            snprintf(host, sizeof(host), "%s", cfg->node_name);
        }
        snprintf(c->self.raft_addr, sizeof(c->self.raft_addr), "%s:%d", host,
                 port);
    }
    snprintf(c->self.http_addr, sizeof(c->self.http_addr), "%s:%d", host,
             http_port);
    rv = tr_rpc_new(loop, cfg->cluster_secret, &c->rpc);
    if (rv != 0) {
        tr_errf(rv, errmsg, "cannot create the RPC client");
        goto err_after_mux;
    }
    snprintf(c->raft_dir, sizeof(c->raft_dir), "%s/raft", cfg->data_dir);
    mkdir(c->raft_dir, 0755);
    struct tr_selfmetrics *r = tr_selfmetrics_default();
    static const double lat[] = {0.001, 0.002, 0.005, 0.01, 0.025, 0.05,
                                 0.1,   0.25,  0.5,   1,    2.5,   5};
    c->m_commit_seconds = tr_selfmetrics_histogram(
        r, "triad_raft_commit_duration_seconds",
        "Time from proposing a write to its commit and apply on the leader.", 0,
        NULL, lat, sizeof(lat) / sizeof(lat[0]));
    static const char *const rl[] = {"result"};
    c->m_forwarded = tr_selfmetrics_counter(
        r, "triad_shard_writes_total",
        "Shard writes by how they were done (local, forwarded, failed).", 1,
        rl);
    cl_io_init_source(c);
    uv_timer_init(loop, &c->tick);
    c->tick.data = c;
    uv_timer_start(&c->tick, cl__on_tick, 0, CL_TICK_MS);
    tr_log_info("cluster layer started",
                "node=%s id=%" PRIu64 " raft_addr=%s http_addr=%s",
                c->self.name, c->self.id, c->self.raft_addr, c->self.http_addr);
    *out = c;
    return 0;

err_after_mux:
    tr_raft_mux_close(c->mux, NULL, NULL);
err_after_alloc:
    tr_meta_fsm_close(&c->meta_fsm);
    pthread_mutex_destroy(&c->mu);
    tr_free(c);
    return rv;
}

static void cl__maybe_finish(struct tr_cluster *c);

static void cl__meta_closed(void *arg)
{
    struct tr_cluster *c = arg;
    c->meta = NULL;
    c->closing--;
    cl__maybe_finish(c);
}

static void cl__rpc_closed(void *arg)
{
    struct tr_cluster *c = arg;
    c->rpc = NULL;
    c->closing--;
    cl__maybe_finish(c);
}

static void cl__mux_closed(void *arg)
{
    struct tr_cluster *c = arg;
    c->mux = NULL;
    c->closing--;
    cl__maybe_finish(c);
}

static void cl__tick_closed(uv_handle_t *h)
{
    struct tr_cluster *c = h->data;
    c->closing--;
    cl__maybe_finish(c);
}

static void cl__group_closed_cb(void *arg)
{
    struct cl_group *g = arg;
    struct tr_cluster *c = g->c;
    cl__group_closed(g);
    cl__maybe_finish(c);
}

static void cl__maybe_finish(struct tr_cluster *c)
{
    if (c->closing > 0) {
        return;
    }
    if (c->close_phase == 0) {
        c->close_phase = 1;
        c->closing = 2;
        tr_rpc_close(c->rpc, cl__rpc_closed, c);
        tr_raft_mux_close(c->mux, cl__mux_closed, c);
        return;
    }
    if (c->close_phase == 1) {
        c->close_phase = 2;
        if (c->shutdown_cb != NULL) {
            c->shutdown_cb(c->shutdown_arg);
        }
    }
}

static void cl__close_all(uv_timer_t *t)
{
    struct tr_cluster *c = t->data;
    uv_timer_stop(&c->tick);
    c->closing = 1; /* the tick handle */
    uv_close((uv_handle_t *)&c->tick, cl__tick_closed);
    for (struct cl_group *g = c->groups; g != NULL;) {
        struct cl_group *next = g->next;
        g->closing = true;
        c->closing++;
        tr_raft_group_close(g->g, cl__group_closed_cb, g);
        g = next;
    }
    c->groups = NULL;
    if (c->meta != NULL) {
        c->closing++;
        tr_raft_group_close(c->meta, cl__meta_closed, c);
    }
}

void tr_cluster_shutdown(struct tr_cluster *c, void (*cb)(void *arg), void *arg)
{
    c->stopping = true;
    c->shutdown_cb = cb;
    c->shutdown_arg = arg;
    c->close_phase = 0;
    /* hand our leaderships to other voters first, then close */
    bool transferred = false;
    for (struct cl_group *g = c->groups; g != NULL; g = g->next) {
        struct tr_raft_server servers[TR_CATALOG_MAX_REPLICAS];
        if (tr_raft_group_is_leader(g->g) &&
            tr_raft_group_servers(g->g, servers, TR_CATALOG_MAX_REPLICAS) > 1) {
            tr_raft_group_transfer(g->g, 0, NULL, NULL);
            transferred = true;
        }
    }
    if (c->meta != NULL && tr_raft_group_is_leader(c->meta)) {
        struct tr_raft_server servers[CL_MAX_PEERS];
        if (tr_raft_group_servers(c->meta, servers, CL_MAX_PEERS) > 1) {
            tr_raft_group_transfer(c->meta, 0, NULL, NULL);
            transferred = true;
        }
    }
    /* the tick timer doubles as the delay before closing */
    uv_timer_stop(&c->tick);
    uv_timer_start(&c->tick, cl__close_all,
                   transferred ? (uint64_t)c->cfg->raft_election_ms * 2 : 0, 0);
}

void tr_cluster_free(struct tr_cluster *c)
{
    if (c == NULL) {
        return;
    }
    tr_meta_fsm_close(&c->meta_fsm);
    tr_free(c->stats);
    pthread_mutex_destroy(&c->mu);
    tr_free(c);
}

void tr_cluster_metrics(struct tr_cluster *c, struct tr_buf *out)
{
    pthread_mutex_lock(&c->mu);
    tr_buf_printf(out,
                  "# HELP triad_raft_term Current Raft term per group.\n"
                  "# TYPE triad_raft_term gauge\n");
    tr_buf_printf(out, "triad_raft_term{group=\"meta\"} %" PRIu64 "\n",
                  c->meta_stats.term);
    for (size_t i = 0; i < c->n_stats; i++) {
        tr_buf_printf(
            out, "triad_raft_term{group=\"m%" PRId64 "-%u\"} %" PRIu64 "\n",
            c->stats[i].window, c->stats[i].slot, c->stats[i].term);
    }
    static const char *const names[][2] = {
        {"triad_raft_commit_index", "Commit index per group."},
        {"triad_raft_applied_index", "Applied index per group."},
        {"triad_raft_apply_lag", "Committed entries not applied yet."},
        {"triad_raft_leader_changes_total", "Leader changes seen per group."},
        {"triad_raft_snapshots_total", "Snapshots taken or installed."},
        {"triad_raft_replicated_bytes_total", "Bytes of entries applied."},
        {"triad_raft_is_leader", "1 when this node leads the group."},
        {"triad_shard_catching_up", "1 while a replica copies its shard."},
    };
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        const char *type = strstr(names[k][0], "_total") ? "counter" : "gauge";
        tr_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", names[k][0],
                      names[k][1], names[k][0], type);
        for (size_t i = 0; i <= c->n_stats; i++) {
            struct cl_stat m;
            char gname[64];
            if (i == c->n_stats) {
                memset(&m, 0, sizeof(m));
                m.state = c->meta_stats.state;
                m.leader = c->meta_stats.leader;
                m.term = c->meta_stats.term;
                m.commit = c->meta_stats.commit_index;
                m.applied = c->meta_stats.last_applied;
                m.leader_changes = c->meta_stats.leader_changes;
                m.snapshots = c->meta_stats.snapshots;
                m.bytes = c->meta_stats.bytes_replicated;
                snprintf(gname, sizeof(gname), "meta");
            } else {
                m = c->stats[i];
                snprintf(gname, sizeof(gname), "m%" PRId64 "-%u", m.window,
                         m.slot);
            }
            uint64_t v = 0;
            switch (k) {
                case 0:
                    v = m.commit;
                    break;
                case 1:
                    v = m.applied;
                    break;
                case 2:
                    v = m.commit > m.applied ? m.commit - m.applied : 0;
                    break;
                case 3:
                    v = m.leader_changes;
                    break;
                case 4:
                    v = m.snapshots;
                    break;
                case 5:
                    v = m.bytes;
                    break;
                case 6:
                    v = m.state == RAFT_LEADER;
                    break;
                default:
                    v = m.catching_up;
                    break;
            }
            tr_buf_printf(out, "%s{group=\"%s\"} %" PRIu64 "\n", names[k][0],
                          gname, v);
        }
    }
    pthread_mutex_unlock(&c->mu);
}
