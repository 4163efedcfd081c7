/* node.c - the node in its cluster: identity, start and shutdown, the tick
 * that drives the meta and shard groups, eviction of ended windows, the
 * shared state other threads read, and the cluster's self-metrics.
 * Loop thread unless noted. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "storage/seal.h"

#define CL_TICK_MS 100
#define CL_EVICT_EVERY_MS 60000
#define CL_SHUTDOWN_SNAPSHOT_MS 3000

int64_t cl_now_ms(void)
{
    return tr_now_ms();
}

int64_t cl_mono_ms(void)
{
    return tr_mono_ns() / 1000000;
}

void cl_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
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
    return tr_window_floor(t, c->window_ms);
}

void cl_put_shard(struct tr_buf *b, const struct tr_shard_id *id)
{
    tr_buf_putc(b, (char)id->signal);
    tr_buf_put_varint(b, id->window);
    tr_buf_put_uvarint(b, id->slot);
}

int cl_get_shard(struct tr_cursor *c, struct tr_shard_id *id)
{
    uint64_t slot;
    if (tr_cursor_u8(c, &id->signal) != 0 || !tr_signal_valid(id->signal) ||
        tr_cursor_varint(c, &id->window) != 0 ||
        tr_cursor_uvarint(c, &slot) != 0 || slot > UINT16_MAX) {
        return TR_EPROTO;
    }
    id->slot = (uint16_t)slot;
    return 0;
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

bool cl_node_url(struct tr_cluster *c,
                 uint64_t id,
                 const char *path,
                 char *url,
                 size_t n)
{
    char http[TR_CATALOG_ADDR_MAX];
    if (!cl_node_http(c, id, http, sizeof(http))) {
        return false;
    }
    snprintf(url, n, "http://%s%s", http, path);
    return true;
}

bool cl_stat_get(struct tr_cluster *c,
                 const struct tr_shard_id *id,
                 struct cl_stat *out)
{
    bool found = false;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_stats && !found; i++) {
        if (tr_shard_eq(&c->stats[i].id, id)) {
            *out = c->stats[i];
            found = true;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

bool cl_sealed_local(struct tr_cluster *c, const struct tr_shard_id *id)
{
    return tr_storage_shard_sealed(c->storage, id) &&
           !tr_storage_shard_seal_pending(c->storage, id);
}

bool cl_serves(struct tr_cluster *c, const struct tr_shard_id *id)
{
    struct cl_stat st;
    if (cl_stat_get(c, id, &st)) {
        return !st.catching_up && !st.failed;
    }
    return cl_sealed_local(c, id);
}

/* ---- tick ------------------------------------------------------------------
 */

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

/* Eviction persists and frees ended windows: storage I/O, so it runs on
 * the thread pool, never on the loop. */
static void cl__evict_work(uv_work_t *w)
{
    struct tr_cluster *c = w->data;
    for (uint8_t s = TR_SIGNAL_MIN; s <= TR_SIGNAL_MAX; s++) {
        if (cl_signal_ops(s) != NULL && c->evict_before[s] != INT64_MIN) {
            tr_storage_evict(c->storage, s, c->evict_before[s]);
        }
    }
}

static void cl__evict_done(uv_work_t *w, int status)
{
    (void)status;
    struct tr_cluster *c = w->data;
    c->evict_running = false;
}

static void cl__maybe_evict(struct tr_cluster *c)
{
    int64_t mono = cl_mono_ms(), now = cl_now_ms();
    /* every minute, or as soon as a fake clock moved a minute */
    if (c->evict_running || (mono - c->last_evict_ms < CL_EVICT_EVERY_MS &&
                             now - c->last_evict_wall_ms < CL_EVICT_EVERY_MS)) {
        return;
    }
    c->last_evict_ms = mono;
    c->last_evict_wall_ms = now;
    for (uint8_t s = TR_SIGNAL_MIN; s <= TR_SIGNAL_MAX; s++) {
        int64_t grace = c->cfg.late_write_grace_ms[s];
        c->evict_before[s] = grace < INT64_MAX / 4 ? now - grace : INT64_MIN;
    }
    c->evict_running = true;
    c->evict_work.data = c;
    uv_queue_work(c->loop, &c->evict_work, cl__evict_work, cl__evict_done);
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
    cl_retention_tick(c);
    cl_leader_seal(c);
    cl_groups_tick(c);
    cl_sealed_tick(c);
    cl_groups_refresh_stats(c);
    cl__maybe_evict(c);
}

bool tr_cluster_is_meta_leader(struct tr_cluster *c)
{
    pthread_mutex_lock(&c->mu);
    bool leader = c->meta_leader;
    pthread_mutex_unlock(&c->mu);
    return leader;
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

int tr_cluster_set_tenant(struct tr_cluster *c,
                          const struct tr_catalog_tenant *t)
{
    struct tr_buf cmd;
    tr_buf_init(&cmd);
    tr_catalog_cmd_set_tenant(&cmd, t);
    int rv = cl_meta_propose(c, cmd.data, cmd.len);
    tr_buf_free(&cmd);
    return rv;
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

int tr_cluster_clock_advance(struct tr_cluster *c, int64_t ms, char *errmsg)
{
    if (!c->cfg.fake_clock) {
        return tr_errf(TR_EUNSUPPORTED, errmsg,
                       "the clock is real (start with --debug.fake-clock)");
    }
    if (ms < 0) {
        return tr_errf(TR_EINVAL, errmsg, "the clock never goes back");
    }
    pthread_mutex_lock(&c->meta_fsm.mu);
    int64_t base = c->meta_fsm.catalog.clock_ms;
    pthread_mutex_unlock(&c->meta_fsm.mu);
    int64_t now = tr_now_ms();
    if (now > base) {
        base = now;
    }
    struct tr_buf cmd;
    tr_buf_init(&cmd);
    tr_catalog_cmd_set_clock(&cmd, base + ms);
    int rv = cl_meta_propose(c, cmd.data, cmd.len);
    tr_buf_free(&cmd);
    if (rv != 0) {
        return tr_errf(TR_EUNAVAIL, errmsg,
                       "clock not advanced (no meta leader?); retry");
    }
    /* the leader applied it; this node's catalog follows within a
     * heartbeat or so */
    for (int i = 0; i < 1000 && tr_now_ms() < base + ms; i++) {
        cl_sleep_ms(5);
    }
    return 0;
}

/* ---- start / stop ---------------------------------------------------------
 */

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

/* Copies cfg and its strings into c. */
static int cl__copy_config(struct tr_cluster *c,
                           const struct tr_cluster_config *cfg)
{
    c->cfg = *cfg;
    const char **fields[] = {&c->cfg.data_dir,     &c->cfg.node_name,
                             &c->cfg.cluster_addr, &c->cfg.advertise_addr,
                             &c->cfg.join,         &c->cfg.cluster_secret};
    size_t n = sizeof(fields) / sizeof(fields[0]), total = 0;
    for (size_t i = 0; i < n; i++) {
        if (*fields[i] == NULL) {
            *fields[i] = "";
        }
        total += strlen(*fields[i]) + 1;
    }
    c->strings = tr_malloc(total);
    if (c->strings == NULL) {
        return TR_ENOMEM;
    }
    char *p = c->strings;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(*fields[i]) + 1;
        memcpy(p, *fields[i], l);
        *fields[i] = p;
        p += l;
    }
    return 0;
}

/* The node's Raft id, kept in <data-dir>/raft/identity (16 hex digits and
 * a newline). A data directory without one gets a new random id - unless
 * it holds Raft state written before identities were kept, whose id was
 * the hash of the node name. So a node that restarts with an emptied data
 * directory is a new member (its old id, which may have voted in terms it
 * no longer remembers, is never used again); it replaces its predecessor
 * of the same name (cl_register). */
static int cl__identity(struct tr_cluster *c, char *errmsg)
{
    char path[2200], tmp[2300], meta[2200];
    snprintf(path, sizeof(path), "%s/identity", c->raft_dir);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        char line[64] = "";
        char *end = NULL;
        unsigned long long v = 0;
        if (fgets(line, sizeof(line), f) != NULL) {
            v = strtoull(line, &end, 16);
        }
        fclose(f);
        if (v == 0 || end != line + 16 || *end != '\n') {
            return tr_errf(TR_ECORRUPT, errmsg,
                           "%s is not a node identity (16 hex digits)", path);
        }
        c->self.id = v;
        return 0;
    }
    snprintf(meta, sizeof(meta), "%s/meta", c->raft_dir);
    struct stat st;
    const char *how;
    uint64_t id;
    if (stat(meta, &st) == 0) {
        const char *name = c->cfg.node_name;
        id = tr_hash64(name, strlen(name), 0x6e6f6465); /* earlier builds */
        how = "kept from the existing Raft state";
    } else {
        uint64_t seed[3] = {0, (uint64_t)tr_mono_ns(), (uint64_t)getpid()};
        FILE *r = fopen("/dev/urandom", "r");
        if (r == NULL || fread(&seed[0], sizeof(seed[0]), 1, r) != 1) {
            seed[0] = (uint64_t)tr_now_ns();
        }
        if (r != NULL) {
            fclose(r);
        }
        id = tr_hash64(seed, sizeof(seed), 0x6e6f6465);
        how = "new data directory";
    }
    id = id ? id : 1;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    bool ok = f != NULL && fprintf(f, "%016" PRIx64 "\n", id) == 17 &&
              fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (f != NULL) {
        ok = fclose(f) == 0 && ok;
    }
    if (!ok || rename(tmp, path) != 0) {
        return tr_errf(TR_EIO, errmsg, "cannot write %s", path);
    }
    c->self.id = id;
    tr_log_info("node identity", "id=%016" PRIx64 " how=\"%s\"", id, how);
    return 0;
}

int tr_cluster_start(uv_loop_t *loop,
                     const struct tr_cluster_config *cfg,
                     struct tr_storage *storage,
                     int http_port,
                     struct tr_cluster **out,
                     char *errmsg)
{
    struct tr_cluster *c = tr_calloc(1, sizeof(*c));
    if (c == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    if (cl__copy_config(c, cfg) != 0) {
        tr_free(c);
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    c->loop = loop;
    c->storage = storage;
    c->window_ms = c->cfg.placement_window_ms > 0 ? c->cfg.placement_window_ms
                                                  : 24 * 3600 * 1000LL;
    pthread_mutex_init(&c->mu, NULL);
    tr_meta_fsm_init(&c->meta_fsm, cl_meta_changed, c);
    /* identity: the Raft id this data directory was given */
    const char *name = c->cfg.node_name;
    snprintf(c->raft_dir, sizeof(c->raft_dir), "%s/raft", c->cfg.data_dir);
    mkdir(c->raft_dir, 0755);
    int rv = cl__identity(c, errmsg);
    if (rv != 0) {
        goto err_after_init;
    }
    snprintf(c->self.name, sizeof(c->self.name), "%s", name);
    c->self.state = TR_NODE_ACTIVE;
    rv = tr_lanes_new(c->cfg.storage_threads ? c->cfg.storage_threads : 2,
                      &c->lanes);
    if (rv != 0) {
        tr_errf(rv, errmsg, "cannot start the storage threads");
        goto err_after_alloc;
    }
    int port = 0;
    rv = tr_raft_mux_new(loop, c->cfg.cluster_addr, &port, &c->mux, errmsg);
    if (rv != 0) {
        goto err_after_lanes;
    }
    char host[100];
    if (c->cfg.advertise_addr[0] != '\0') {
        snprintf(c->self.raft_addr, sizeof(c->self.raft_addr), "%s",
                 c->cfg.advertise_addr);
        cl__host_of(c->cfg.advertise_addr, host, sizeof(host));
    } else {
        cl__host_of(c->cfg.cluster_addr, host, sizeof(host));
        if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0') {
            snprintf(host, sizeof(host), "%s", name);
        }
        snprintf(c->self.raft_addr, sizeof(c->self.raft_addr), "%s:%d", host,
                 port);
    }
    snprintf(c->self.http_addr, sizeof(c->self.http_addr), "%s:%d", host,
             http_port);
    rv = tr_rpc_new(loop, c->cfg.cluster_secret, &c->rpc);
    if (rv != 0) {
        tr_errf(rv, errmsg, "cannot create the RPC client");
        goto err_after_mux;
    }
    struct tr_selfmetrics *r = tr_selfmetrics_default();
    static const double lat[] = {0.001, 0.002, 0.005, 0.01, 0.025, 0.05,
                                 0.1,   0.25,  0.5,   1,    2.5,   5};
    static const char *const sl[] = {"signal"};
    c->m_commit_seconds = tr_selfmetrics_histogram(
        r, "triad_raft_commit_duration_seconds",
        "Time from proposing a write to its commit and apply on the leader.", 1,
        sl, lat, sizeof(lat) / sizeof(lat[0]));
    static const char *const rl[] = {"signal", "result"};
    c->m_forwarded = tr_selfmetrics_counter(
        r, "triad_shard_writes_total",
        "Shard writes by how they were done (local, forwarded, failed, "
        "overloaded).",
        2, rl);
    c->m_read_seconds = tr_selfmetrics_histogram(
        r, "triad_cluster_read_duration_seconds",
        "Time of a read's fan-out to the shards' replicas.", 1, sl, lat,
        sizeof(lat) / sizeof(lat[0]));
    c->m_read_answers = tr_selfmetrics_counter(
        r, "triad_cluster_read_answers_total",
        "Other nodes' answers to this node's reads, by how they ended: ok, "
        "rejected (400/422), failed (the shards' next replicas were asked), "
        "over_budget (stopped while arriving: the read's sample budget ran "
        "out), cancelled (the read had failed).",
        2, rl);
    static const char *const seal_l[] = {"result"};
    c->m_seals = tr_selfmetrics_counter(
        r, "triad_seal_total",
        "Shard sealing attempts by the meta leader: sealed, mismatch (a "
        "replica differed from the majority and copies again), failed "
        "(retried).",
        1, seal_l);
    static const char *const sealed_l[] = {"event"};
    c->m_sealed = tr_selfmetrics_counter(
        r, "triad_sealed_shard_events_total",
        "What this node did for sealed shards without their Raft groups: "
        "group_closed (its log deleted), copied / copy_failed (a replica "
        "without the sealed data copied it from another), tenant_dropped "
        "(retention of a tenant, recorded in the catalog).",
        1, sealed_l);
    cl_signal_metrics_init_source(c);
    cl_signal_logs_init_source(c);
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
err_after_lanes:
    tr_lanes_free(c->lanes);
err_after_alloc:
err_after_init:
    tr_meta_fsm_close(&c->meta_fsm);
    pthread_mutex_destroy(&c->mu);
    tr_free(c->strings);
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

static void cl__group_closed(struct tr_cluster *c)
{
    c->closing--;
    cl__maybe_finish(c);
}

static void cl__maybe_finish(struct tr_cluster *c)
{
    if (c->closing > 0) {
        return;
    }
    if (c->close_phase == 0 &&
        (c->seal_running || c->sweep_running || c->tenants_running ||
         c->sealed_running || c->sealed_tenants_running)) {
        return; /* their workers use the RPC client: cl_background_done */
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

void cl_background_done(struct tr_cluster *c)
{
    if (c->stopping && c->close_phase == 0 && c->tick.data == c &&
        uv_is_closing((uv_handle_t *)&c->tick)) {
        cl__maybe_finish(c);
    }
}

static void cl__close_all(uv_timer_t *t)
{
    struct tr_cluster *c = t->data;
    uv_timer_stop(&c->tick);
    c->closing = 1; /* the tick handle */
    uv_close((uv_handle_t *)&c->tick, cl__tick_closed);
    c->closing += cl_groups_close_all(c, cl__group_closed);
    if (c->meta != NULL) {
        c->closing++;
        tr_raft_group_close(c->meta, cl__meta_closed, c);
    }
}

/* Shutdown, second step: hand our leaderships to other voters, then (after
 * two election timeouts) close. */
static void cl__shutdown_transfer(struct tr_cluster *c)
{
    bool transferred = cl_groups_transfer_all(c);
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
                   transferred ? (uint64_t)c->cfg.election_ms * 2 : 0, 0);
}

static void cl__shutdown_poll(uv_timer_t *t)
{
    struct tr_cluster *c = t->data;
    if (cl_groups_snapshots_done(c) || cl_mono_ms() >= c->snap_deadline_ms) {
        uv_timer_stop(&c->tick);
        cl__shutdown_transfer(c);
    }
}

void tr_cluster_shutdown(struct tr_cluster *c, void (*cb)(void *arg), void *arg)
{
    c->stopping = true;
    c->shutdown_cb = cb;
    c->shutdown_arg = arg;
    c->close_phase = 0;
    uv_timer_stop(&c->tick);
    /* a last snapshot of every shard with new entries (bounded wait),
     * after its signal's stop entry where it has one (logs: open
     * fragments cut into blocks): the logs shrink to their trailing
     * entries and the next start replays nothing */
    if (cl_groups_snapshot_all(c) == 0) {
        cl__shutdown_transfer(c);
        return;
    }
    c->snap_deadline_ms = cl_mono_ms() + CL_SHUTDOWN_SNAPSHOT_MS;
    uv_timer_start(&c->tick, cl__shutdown_poll, 10, 10);
}

void tr_cluster_free(struct tr_cluster *c)
{
    if (c == NULL) {
        return;
    }
    /* every state machine was released at close: the storage threads
     * finish their last runs and stop */
    tr_lanes_free(c->lanes);
    tr_meta_fsm_close(&c->meta_fsm);
    tr_free(c->stats);
    tr_u64map_free(&c->dropped);
    cl_sealed_free(c);
    pthread_mutex_destroy(&c->mu);
    tr_free(c->strings);
    tr_free(c);
}

/* ---- metrics ---------------------------------------------------------------
 */

static void cl__group_label(const struct cl_stat *m, char *out, size_t n)
{
    if (m == NULL) {
        snprintf(out, n, "group=\"meta\",signal=\"\"");
        return;
    }
    char gname[48];
    tr_shard_group_name(&m->id, gname, sizeof(gname));
    snprintf(out, n, "group=\"%s\",signal=\"%s\"", gname,
             tr_signal_name(m->id.signal));
}

void tr_cluster_metrics(struct tr_cluster *c, struct tr_buf *out)
{
    static const char *const names[][2] = {
        {"triad_raft_term", "Current Raft term per group."},
        {"triad_raft_commit_index", "Commit index per group."},
        {"triad_raft_applied_index",
         "Applied index per group (shards: applied in storage)."},
        {"triad_raft_apply_lag", "Committed entries not applied yet."},
        {"triad_raft_leader_changes_total", "Leader changes seen per group."},
        {"triad_raft_snapshots_total", "Snapshots taken or installed."},
        {"triad_raft_replicated_bytes_total", "Bytes of entries applied."},
        {"triad_raft_is_leader", "1 when this node leads the group."},
        {"triad_raft_appends_trimmed_total",
         "AppendEntries received from below this replica's snapshot and "
         "trimmed to start after it (a libraft 0.15 workaround)."},
        {"triad_shard_catching_up", "1 while a replica copies its shard."},
        {"triad_shard_failed",
         "1 while a replica is stopped after a storage failure."},
        {"triad_shard_apply_queue_entries",
         "Committed entries waiting for the storage thread."},
        {"triad_shard_apply_queue_bytes",
         "Bytes of committed entries waiting for the storage thread."},
    };
    pthread_mutex_lock(&c->mu);
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        const char *type = strstr(names[k][0], "_total") ? "counter" : "gauge";
        tr_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", names[k][0],
                      names[k][1], names[k][0], type);
        for (size_t i = 0; i <= c->n_stats; i++) {
            struct cl_stat m;
            char label[96];
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
                cl__group_label(NULL, label, sizeof(label));
                m.trimmed = c->meta_stats.appends_trimmed;
                if (k >= 9) {
                    continue; /* shard-only families */
                }
            } else {
                m = c->stats[i];
                cl__group_label(&m, label, sizeof(label));
            }
            uint64_t v = 0;
            switch (k) {
                case 0:
                    v = m.term;
                    break;
                case 1:
                    v = m.commit;
                    break;
                case 2:
                    v = m.applied;
                    break;
                case 3:
                    v = m.commit > m.applied ? m.commit - m.applied : 0;
                    break;
                case 4:
                    v = m.leader_changes;
                    break;
                case 5:
                    v = m.snapshots;
                    break;
                case 6:
                    v = m.bytes;
                    break;
                case 7:
                    v = m.state == RAFT_LEADER;
                    break;
                case 8:
                    v = m.trimmed;
                    break;
                case 9:
                    v = m.catching_up;
                    break;
                case 10:
                    v = m.failed;
                    break;
                case 11:
                    v = m.queued;
                    break;
                default:
                    v = m.queued_bytes;
                    break;
            }
            tr_buf_printf(out, "%s{%s} %" PRIu64 "\n", names[k][0], label, v);
        }
    }
    pthread_mutex_unlock(&c->mu);
}
