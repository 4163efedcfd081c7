/* main.c - `triad serve | status | version | help`. */
#include <curl/curl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "lib/par.h"
#include "lib/log.h"
#include "server/app.h"
#include "server/cluster.h"
#include "server/config.h"
#include "server/http.h"
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
    uv_work_t trim_work;
    bool trim_running;
    int64_t trimmed_after; /* last_query_end_ms the last trim followed */
    bool stopping;
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
        tr_now_ms() - last < TRIM_IDLE_MS) {
        return;
    }
    n->trimmed_after = last;
    n->trim_running = true;
    n->trim_work.data = n;
    uv_queue_work(n->loop, &n->trim_work, node__trim_work, node__trim_done);
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
}

static void node__on_http_closed(void *arg)
{
    struct node *n = arg;
    /* in-flight requests are done: hand leaderships over, close groups */
    tr_cluster_shutdown(n->cluster, node__on_cluster_closed, n);
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
    uv_timer_stop(&n->checkpoint_timer);
    uv_timer_stop(&n->trim_timer);
    tr_http_server_shutdown(n->http, (uint64_t)n->cfg.shutdown_timeout_ms,
                            node__on_http_closed, n);
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
    };
    if (tr_http_server_new(n->loop, &hc, &n->http) != 0) {
        tr_log_error("cannot create HTTP server", NULL);
        tr_app_close(&n->app);
        return 1;
    }
    if (tr_app_routes(&n->app, n->http) != 0 ||
        tr_cluster_routes(NULL, n->http) != 0) {
        tr_log_error("cannot add routes", NULL);
        tr_app_close(&n->app);
        return 1;
    }
    int http_port = 0;
    const char *addrs[2] = {n->cfg.http_addr, n->cfg.tempo_http_addr};
    for (int i = 0; i < 2; i++) {
        if (addrs[i] == NULL || addrs[i][0] == '\0' ||
            (i == 1 && strcmp(addrs[1], addrs[0]) == 0)) {
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
                    i == 0 ? "http" : "tempo-http");
        if (http_port == 0) {
            http_port = port;
        }
    }
    if (tr_cluster_start(n->loop, &n->cfg, n->app.storage, http_port,
                         &n->cluster, err) != 0) {
        tr_log_error("cannot start the cluster layer", "err=\"%s\"", err);
        tr_http_server_free(n->http);
        tr_app_close(&n->app);
        return 1;
    }
    n->app.cluster = n->cluster;
    n->app.source = tr_cluster_source(n->cluster);
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

static size_t status__write(char *p, size_t size, size_t nmemb, void *arg)
{
    tr_buf_append(arg, p, size * nmemb);
    return size * nmemb;
}

static int status__get(const char *base,
                       const char *path,
                       struct tr_buf *out,
                       long *code)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", base, path);
    CURL *c = curl_easy_init();
    if (c == NULL) {
        return -1;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, status__write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
}

#include "server/status_cmd.h" /* tr_status_print, for node__status */

/* Prints the cluster status (nodes, shards, leaders, lag) of the node at
 * --addr, from GET /api/v1/status/cluster, as tables (server/status_cmd.c).
 * Exit status 1 when the node cannot be reached, answers non-200 or sends
 * something that is not the expected JSON. */
static int node__status(const struct tr_config *cfg)
{
    static const char path[] = "/api/v1/status/cluster";
    char base[900];
    const char *addr = cfg->status_addr ? cfg->status_addr : "";
    snprintf(base, sizeof(base), "%s%s",
             strstr(addr, "://") == NULL ? "http://" : "", addr);
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/') {
        base[--bl] = '\0';
    }
    struct tr_buf body;
    tr_buf_init(&body);
    long code = 0;
    int rc = 0;
    if (status__get(base, path, &body, &code) != 0) {
        fprintf(stderr,
                "triad status: cannot reach %s (GET %s%s failed: connection "
                "refused, unresolvable host or no answer within 10 s)\n",
                base, base, path);
        rc = 1;
    } else if (code != 200) {
        int n = body.data ? (int)strcspn(body.data, "\r\n") : 0;
        fprintf(stderr, "triad status: GET %s%s answered HTTP %ld%s%.*s\n",
                base, path, code, n > 0 ? ": " : "", n > 200 ? 200 : n,
                body.data ? body.data : "");
        rc = 1;
    } else if (body.oom) {
        fprintf(stderr, "triad status: out of memory reading %s%s\n", base,
                path);
        rc = 1;
    } else {
        char err[512];
        if (tr_status_print(stdout, base, body.data ? body.data : "", body.len,
                            err, sizeof(err)) != 0) {
            fprintf(stderr, "triad status: %s\n", err);
            rc = 1;
        }
    }
    tr_buf_free(&body);
    return rc;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
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
            rc = node__status(&n.cfg);
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
