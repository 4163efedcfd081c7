/* main.c - `triad serve | status | drain | version | help`. */
#include <curl/curl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "cluster/cluster.h"
#include "cluster/status_cmd.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/par.h"
#include "lib/selfmetrics.h"
#include "server/app.h"
#include "server/overrides.h"
#include "server/config.h"
#include "server/http.h"
#include "server/prom_json.h"
#include "server/trace_metrics.h"
#include "server/version.h"

struct node {
    struct tr_config cfg;
    struct tr_app app;
    uv_loop_t *loop;
    struct tr_http_server *http;
    struct tr_cluster *cluster;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    uv_timer_t checkpoint_timer;
    uv_work_t checkpoint_work;
    bool checkpoint_running;
    uv_timer_t trim_timer;
    uv_timer_t lag_timer; /* measures how late the loop's timers fire */
    int64_t lag_due_ns;
    struct tr_sm_family *m_loop_lag;
    uv_work_t trim_work;
    bool trim_running;
    int64_t trimmed_after; /* last_query_end_ms the last trim followed */
    bool stopping;
    uv_work_t trace_metrics_join; /* shutdown: the span metrics flusher */
};

/* glibc keeps freed memory for the next query (mallopt in main); once no
 * query has run for TRIM_IDLE_MS it is handed back to the OS. */
#define TRIM_CHECK_MS 5000
#define TRIM_IDLE_MS 10000

static void node__trim_work(uv_work_t *w)
{
    (void)w;
    malloc_trim(0);
}

static void node__trim_done(uv_work_t *w, int status)
{
    (void)status;
    struct node *n = w->data;
    n->trim_running = false;
}

static void node__on_trim_timer(uv_timer_t *t)
{
    struct node *n = t->data;
    int64_t last = atomic_load(&n->app.last_query_end_ms);
    if (n->trim_running || n->stopping || last == 0 ||
        last == n->trimmed_after || atomic_load(&n->app.queries_running) > 0 ||
        tr_mono_ns() / 1000000 - last < TRIM_IDLE_MS) {
        return;
    }
    n->trimmed_after = last;
    n->trim_running = true;
    n->trim_work.data = n;
    uv_queue_work(n->loop, &n->trim_work, node__trim_work, node__trim_done);
}

/* The loop's lateness: a timer due every LAG_EVERY_MS; how much later
 * than due it fires is triad_loop_lag_seconds (the loop never blocks on
 * disk or queries, so this stays small; Raft heartbeats share it). */
#define LAG_EVERY_MS 10

static void node__on_lag_timer(uv_timer_t *t)
{
    struct node *n = t->data;
    int64_t now = tr_mono_ns();
    if (n->lag_due_ns != 0) {
        int64_t late = now - n->lag_due_ns;
        tr_selfmetrics_observe(n->m_loop_lag,
                               late > 0 ? (double)late / 1e9 : 0);
    }
    n->lag_due_ns = now + LAG_EVERY_MS * 1000000LL;
}

static void node__checkpoint_work(uv_work_t *w)
{
    struct node *n = w->data;
    tr_storage_checkpoint_all(n->app.storage);
}

static void node__checkpoint_done(uv_work_t *w, int status)
{
    (void)status;
    struct node *n = w->data;
    n->checkpoint_running = false;
}

static void node__on_checkpoint_timer(uv_timer_t *t)
{
    struct node *n = t->data;
    if (n->checkpoint_running || n->stopping) {
        return;
    }
    n->checkpoint_running = true;
    n->checkpoint_work.data = n;
    uv_queue_work(n->loop, &n->checkpoint_work, node__checkpoint_work,
                  node__checkpoint_done);
}

static void node__on_cluster_closed(void *arg)
{
    struct node *n = arg;
    uv_close((uv_handle_t *)&n->sigterm, NULL);
    uv_close((uv_handle_t *)&n->sigint, NULL);
    uv_close((uv_handle_t *)&n->checkpoint_timer, NULL);
    uv_close((uv_handle_t *)&n->trim_timer, NULL);
    uv_close((uv_handle_t *)&n->lag_timer, NULL);
}

static void node__trace_metrics_join(uv_work_t *w)
{
    struct node *n = w->data;
    tr_trace_metrics_join(&n->app); /* its last write needs the loop */
    tr_overrides_join(&n->app);     /* its catalog writes too */
}

static void node__trace_metrics_joined(uv_work_t *w, int status)
{
    (void)status;
    struct node *n = w->data;
    /* in-flight requests and span metrics writes are done: hand
     * leaderships over, close groups */
    tr_cluster_shutdown(n->cluster, node__on_cluster_closed, n);
}

static void node__on_http_closed(void *arg)
{
    struct node *n = arg;
    n->trace_metrics_join.data = n;
    uv_queue_work(n->loop, &n->trace_metrics_join, node__trace_metrics_join,
                  node__trace_metrics_joined);
}

static void node__on_signal(uv_signal_t *s, int signum)
{
    struct node *n = s->data;
    if (n->stopping) {
        tr_log_warn("second signal: exiting now", "signal=%d", signum);
        exit(1);
    }
    n->stopping = true;
    tr_log_info("shutting down", "signal=%d", signum);
    tr_loki_tail_stop();
    tr_trace_metrics_stop(&n->app);
    tr_overrides_stop(&n->app);
    uv_timer_stop(&n->checkpoint_timer);
    uv_timer_stop(&n->trim_timer);
    uv_timer_stop(&n->lag_timer);
    tr_http_server_shutdown(n->http, (uint64_t)n->cfg.shutdown_timeout_ms,
                            node__on_http_closed, n);
}

/* Two thread-pool threads stay free of HTTP handlers (which may wait for
 * Raft commits whose file I/O runs on the pool). */
static size_t main__max_handlers(void)
{
    const char *e = getenv("UV_THREADPOOL_SIZE");
    long n = e != NULL ? strtol(e, NULL, 10) : 4;
    return n > 3 ? (size_t)(n - 2) : 1;
}

static int64_t node__grace(const struct tr_config *cfg, int64_t per_signal)
{
    return per_signal >= 0 ? per_signal : cfg->late_write_grace_ms;
}

static void node__cluster_config(const struct tr_config *cfg,
                                 struct tr_cluster_config *cc)
{
    memset(cc, 0, sizeof(*cc));
    cc->version = 1;
    cc->data_dir = cfg->data_dir;
    cc->node_name = cfg->node_name;
    cc->cluster_addr = cfg->cluster_addr;
    cc->advertise_addr = cfg->advertise_addr;
    cc->join = cfg->join;
    cc->cluster_secret = cfg->cluster_secret;
    cc->bootstrap_expect = cfg->bootstrap_expect;
    cc->replication_factor = cfg->replication_factor;
    cc->shards_per_window = cfg->shards_per_window;
    cc->placement_window_ms = cfg->placement_window_ms;
    cc->election_ms = cfg->raft_election_ms;
    cc->heartbeat_ms = cfg->raft_heartbeat_ms;
    cc->pre_vote = cfg->raft_pre_vote;
    cc->snapshot_threshold = cfg->raft_snapshot_threshold;
    cc->snapshot_trailing = cfg->raft_snapshot_trailing;
    cc->snapshot_bytes = cfg->raft_snapshot_bytes;
    cc->snapshot_trailing_bytes = cfg->raft_snapshot_trailing_bytes;
    cc->segment_bytes = cfg->raft_segment_bytes;
    cc->write_timeout_ms = cfg->cluster_write_timeout_ms;
    cc->retention_ms[TR_SIGNAL_METRICS] = cfg->retention_metrics_ms;
    cc->retention_ms[TR_SIGNAL_LOGS] = cfg->retention_logs_ms;
    cc->retention_ms[TR_SIGNAL_TRACES] = cfg->retention_traces_ms;
    cc->late_write_grace_ms[TR_SIGNAL_METRICS] =
        node__grace(cfg, cfg->late_write_grace_metrics_ms);
    cc->late_write_grace_ms[TR_SIGNAL_LOGS] =
        node__grace(cfg, cfg->late_write_grace_logs_ms);
    cc->late_write_grace_ms[TR_SIGNAL_TRACES] =
        node__grace(cfg, cfg->late_write_grace_traces_ms);
    cc->ooo_window_ms = cfg->ooo_window_ms;
    cc->max_series = cfg->limits.max_series;
    cc->max_streams = cfg->limits.max_streams;
    cc->apply_queue_bytes = cfg->apply_queue_bytes;
    cc->storage_threads = cfg->storage_apply_threads;
    cc->fake_clock = cfg->debug_fake_clock[0] != '\0';
}

/* --debug.fake-clock: the wall clock starts at the given time and stands
 * still (the cluster moves it: POST /debug/clock). */
static int node__fake_clock(const struct tr_config *cfg)
{
    if (cfg->debug_fake_clock[0] == '\0') {
        return 0;
    }
    int64_t ms;
    if (tr_prom_parse_time(cfg->debug_fake_clock, &ms) != 0) {
        tr_log_error("bad --debug.fake-clock (want RFC3339 or unix seconds)",
                     "value=%s", cfg->debug_fake_clock);
        return -1;
    }
    tr_clock_fake_start(ms);
    tr_log_warn("the wall clock is fake (--debug.fake-clock): tests only",
                "start=%s", cfg->debug_fake_clock);
    return 0;
}

static int node__serve(struct node *n)
{
    char err[TR_ERRMSG_SIZE];
    enum tr_log_level lvl;
    if (tr_log_parse_level(n->cfg.log_level, &lvl) == 0) {
        tr_log_set_level(lvl);
    }
    tr_log_info("starting triad", "version=%s node=%s data_dir=%s http_addr=%s",
                TRIAD_VERSION, n->cfg.node_name, n->cfg.data_dir,
                n->cfg.http_addr);
    if (node__fake_clock(&n->cfg) != 0) {
        return 2;
    }
    int64_t t0 = tr_mono_ns();
    if (tr_app_init(&n->app, &n->cfg, err) != 0) {
        tr_log_error("cannot open storage", "err=\"%s\"", err);
        return 1;
    }
    tr_log_info("storage open", "took_ms=%lld",
                (long long)((tr_mono_ns() - t0) / 1000000));
    n->loop = uv_default_loop();
    struct tr_http_server_config hc = {
        .version = 1,
        .max_body_bytes = n->cfg.max_body_bytes,
        .max_header_bytes = 64 * 1024,
        .header_timeout_ms = (uint64_t)n->cfg.http_header_timeout_ms,
        .body_timeout_ms = (uint64_t)n->cfg.http_body_timeout_ms,
        .idle_timeout_ms = (uint64_t)n->cfg.http_idle_timeout_ms,
        .max_connections = n->cfg.http_max_connections,
        .app = &n->app,
        .max_handlers = main__max_handlers(),
    };
    if (tr_http_server_new(n->loop, &hc, &n->http) != 0) {
        tr_log_error("cannot create HTTP server", NULL);
        tr_app_close(&n->app);
        return 1;
    }
    if (tr_app_routes(&n->app, n->http) != 0 ||
        tr_api_cluster_routes(n->http) != 0) {
        tr_log_error("cannot add routes", NULL);
        tr_app_close(&n->app);
        return 1;
    }
    int http_port = 0;
    /* one router on every API port: OTLP/HTTP's /v1/{logs,...} paths do
     * not collide with the other APIs', and every port takes HTTP/2 with
     * prior knowledge (gRPC) next to HTTP/1.1 (server/http_h2.c), so the
     * OTLP gRPC port is one more listener of the same router */
    const char *addrs[4] = {n->cfg.http_addr, n->cfg.tempo_http_addr,
                            n->cfg.otlp_http_addr, n->cfg.otlp_grpc_addr};
    static const char *const api_names[4] = {"http", "tempo-http", "otlp-http",
                                             "otlp-grpc"};
    for (int i = 0; i < 4; i++) {
        bool dup = false;
        for (int k = 0; k < i; k++) {
            dup = dup || (addrs[k] != NULL && addrs[i] != NULL &&
                          strcmp(addrs[i], addrs[k]) == 0);
        }
        if (addrs[i] == NULL || addrs[i][0] == '\0' || dup) {
            continue;
        }
        int port = 0;
        if (tr_http_listen(n->http, addrs[i], &port, err) != 0) {
            tr_log_error("cannot listen", "addr=%s err=\"%s\"", addrs[i], err);
            tr_http_server_free(n->http);
            tr_app_close(&n->app);
            return 1;
        }
        tr_log_info("listening", "addr=%s port=%d api=%s", addrs[i], port,
                    api_names[i]);
        if (http_port == 0) {
            http_port = port;
        }
    }
    struct tr_cluster_config cc;
    node__cluster_config(&n->cfg, &cc);
    cc.traces_fn = tr_tempo_search_node;
    cc.jobs = n->app.jobs;
    if (tr_cluster_start(n->loop, &cc, n->app.storage, http_port, &n->cluster,
                         err) != 0) {
        tr_log_error("cannot start the cluster layer", "err=\"%s\"", err);
        tr_http_server_free(n->http);
        tr_app_close(&n->app);
        return 1;
    }
    n->app.cluster = n->cluster;
    n->app.source = tr_cluster_source(n->cluster);
    if (tr_overrides_start(&n->app) != 0) {
        tr_log_error("cannot start the runtime overrides reloader", NULL);
        return 1;
    }
    if (tr_trace_metrics_start(&n->app) != 0) {
        tr_log_warn(
            "span metrics: cannot start the flusher thread; tenants "
            "are flushed at their exports only",
            NULL);
    }
    uv_signal_init(n->loop, &n->sigterm);
    uv_signal_init(n->loop, &n->sigint);
    n->sigterm.data = n;
    n->sigint.data = n;
    uv_signal_start(&n->sigterm, node__on_signal, SIGTERM);
    uv_signal_start(&n->sigint, node__on_signal, SIGINT);
    uv_timer_init(n->loop, &n->checkpoint_timer);
    n->checkpoint_timer.data = n;
    uint64_t every = (uint64_t)n->cfg.head_flush_interval_ms;
    uv_timer_start(&n->checkpoint_timer, node__on_checkpoint_timer, every,
                   every);
    uv_timer_init(n->loop, &n->trim_timer);
    n->trim_timer.data = n;
    uv_timer_start(&n->trim_timer, node__on_trim_timer, TRIM_CHECK_MS,
                   TRIM_CHECK_MS);
    static const double lag_buckets[] = {
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
    n->m_loop_lag = tr_selfmetrics_histogram(
        tr_selfmetrics_default(), "triad_loop_lag_seconds",
        "How late the event loop's timers fire (the loop runs every socket "
        "and every Raft group).",
        0, NULL, lag_buckets, sizeof(lag_buckets) / sizeof(lag_buckets[0]));
    uv_timer_init(n->loop, &n->lag_timer);
    n->lag_timer.data = n;
    uv_timer_start(&n->lag_timer, node__on_lag_timer, LAG_EVERY_MS,
                   LAG_EVERY_MS);
    tr_log_info("ready", NULL);
    uv_run(n->loop, UV_RUN_DEFAULT);
    tr_http_server_free(n->http);
    n->app.cluster = NULL;
    tr_cluster_free(n->cluster);
    tr_app_close(&n->app);
    uv_loop_close(n->loop);
    tr_log_info("stopped", NULL);
    return 0;
}

/* glibc gives every thread that contends for the heap its own malloc
 * arena (up to 8 per CPU) and each arena keeps its freed memory (the trim
 * threshold above): a query's transient memory, freed on one of the 8
 * worker threads, stays resident once per arena a query ever ran in. One
 * arena per CPU is enough for threads that run at the same time (at least
 * 2); MALLOC_ARENA_MAX in the environment still decides when set. */
static void main__malloc_arenas(void)
{
    if (getenv("MALLOC_ARENA_MAX") != NULL) {
        return;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    mallopt(M_ARENA_MAX, cpus > 2 ? (int)cpus : 2);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    main__malloc_arenas();
    if (getenv("UV_THREADPOOL_SIZE") == NULL) {
        setenv("UV_THREADPOOL_SIZE", "8", 1);
    }
    static struct node n;
    char err[TR_ERRMSG_SIZE];
    if (tr_config_load(&n.cfg, argc, argv, err) != 0) {
        fprintf(stderr, "triad: %s\n\n", err);
        tr_config_usage(stderr);
        return 2;
    }
    int rc = 0;
    switch (n.cfg.command) {
        case TR_CMD_VERSION:
            printf("triad %s (revision %s)\n", TRIAD_VERSION, TRIAD_REVISION);
            break;
        case TR_CMD_HELP:
            tr_config_usage(stdout);
            break;
        case TR_CMD_STATUS:
            curl_global_init(CURL_GLOBAL_DEFAULT);
            rc = tr_status_command(stdout,
                                   n.cfg.status_addr ? n.cfg.status_addr : "",
                                   n.cfg.status_verify, n.cfg.cluster_secret);
            curl_global_cleanup();
            break;
        case TR_CMD_DRAIN:
            curl_global_init(CURL_GLOBAL_DEFAULT);
            rc = tr_drain_command(stdout,
                                  n.cfg.status_addr ? n.cfg.status_addr : "",
                                  n.cfg.drain_timeout_ms, n.cfg.cluster_secret);
            curl_global_cleanup();
            break;
        case TR_CMD_SERVE:
            /* helpers for work inside one request (lib/par.h) */
            if (tr_par_start(0) != 0) {
                fprintf(stderr, "triad: cannot start helper threads\n");
                rc = 1;
                break;
            }
            rc = node__serve(&n);
            tr_par_stop();
            break;
    }
    tr_config_free(&n.cfg);
    return rc;
}
