/* trace_metrics.c - span metrics and the service graph at trace ingest
 * (server/trace_metrics.h): the registry of proto/otlp_spanmetrics.c on
 * this node, its self-metrics, and the flush through the metrics write
 * path.
 *
 * Spans are added on the export's worker thread after they were committed
 * (a refused or failed export adds nothing, so a client's retry is not
 * counted twice); that costs the export a few hash lookups per span and
 * never a write. A flusher thread writes, every
 * --traces.metrics-flush-interval, the totals of every tenant the registry
 * holds (expiring their pending edges first), so an export never waits for
 * the metrics shards and idle tenants' last increments get written. Its
 * writes wait for the cluster like a handler's, so it is stopped and
 * joined after the HTTP server drained and before the cluster shuts down
 * (server/main.c). The write goes through tr_metrics_write like any
 * remote-write (validation, the tenant's ingestion rate and series
 * limit); a failure only delays the values to the next flush. When the
 * thread could not start, exports flush their tenant instead. */
#include "server/trace_metrics.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/selfmetrics.h"
#include "proto/otlp_spanmetrics.h"
#include "server/api_write.h"

struct tr_trace_metrics {
    struct tr_app *app;
    struct tr_spanmetrics *reg;
    pthread_mutex_t mu; /* with cv: wakes the flusher */
    pthread_cond_t cv;
    atomic_bool stop;
    atomic_bool running; /* the flusher thread exists (joinable) */
    pthread_t thread;
    struct tr_sm_family *m_series;  /* gauge {tenant} */
    struct tr_sm_family *m_pending; /* gauge {tenant} */
    struct tr_sm_family *m_spans;   /* counter {tenant} */
    struct tr_sm_family *m_edges;   /* counter {tenant} */
    struct tr_sm_family *m_expired; /* counter {tenant} */
    struct tr_sm_family *m_dropped; /* counter {tenant, reason} */
    struct tr_sm_family *m_flushes; /* counter {tenant, result} */
};

int tr_trace_metrics_init(struct tr_app *app)
{
    const struct tr_config *cfg = app->cfg;
    app->trace_metrics = NULL;
    if (!cfg->traces_span_metrics && !cfg->traces_service_graph) {
        return 0;
    }
    struct tr_trace_metrics *tm = tr_calloc(1, sizeof(*tm));
    if (tm == NULL) {
        return TR_ENOMEM;
    }
    struct tr_spanmetrics_config sc = {
        .span_metrics = cfg->traces_span_metrics,
        .service_graph = cfg->traces_service_graph,
        .max_series = cfg->limits.traces_metrics_max_series,
        .max_pending = (size_t)cfg->limits.service_graph_max_pending,
        .wait_ms = cfg->service_graph_wait_ms,
        .stale_ms = 15 * 60 * 1000, /* Tempo's stale_duration */
        .max_label_value_len = cfg->limits.max_label_value_len,
        .instance = cfg->node_name,
    };
    if (tr_spanmetrics_new(&sc, &tm->reg) != 0) {
        tr_free(tm);
        return TR_ENOMEM;
    }
    tm->app = app;
    pthread_mutex_init(&tm->mu, NULL);
    pthread_cond_init(&tm->cv, NULL);
    struct tr_selfmetrics *r = tr_selfmetrics_default();
    static const char *const tl[] = {"tenant"};
    static const char *const trl[] = {"tenant", "reason"};
    static const char *const tres[] = {"tenant", "result"};
    tm->m_series = tr_selfmetrics_gauge(
        r, "triad_traces_metrics_series",
        "Series of span metrics and the service graph this node keeps "
        "totals of, per tenant (limits.traces-metrics-max-series).",
        1, tl);
    tm->m_pending = tr_selfmetrics_gauge(
        r, "triad_service_graph_pending_edges",
        "Service graph edges waiting for their other side, per tenant "
        "(limits.service-graph-max-pending).",
        1, tl);
    tm->m_spans = tr_selfmetrics_counter(
        r, "triad_traces_metrics_spans_total",
        "Spans counted in span metrics, per tenant.", 1, tl);
    tm->m_edges = tr_selfmetrics_counter(
        r, "triad_service_graph_edges_total",
        "Service graph edges completed (requests counted), per tenant.", 1, tl);
    tm->m_expired = tr_selfmetrics_counter(
        r, "triad_service_graph_edges_expired_total",
        "Service graph edges dropped without their other side (waited "
        "traces.service-graph-wait or evicted from a full store), per "
        "tenant.",
        1, tl);
    tm->m_dropped = tr_selfmetrics_counter(
        r, "triad_traces_metrics_dropped_total",
        "Spans or edges not counted in span metrics or the service graph, "
        "per tenant and reason (series_limit, invalid_utf8).",
        2, trl);
    tm->m_flushes = tr_selfmetrics_counter(
        r, "triad_traces_metrics_flushes_total",
        "Writes of span metrics and service graph totals into the metric "
        "store, per tenant and result (ok, error).",
        2, tres);
    app->trace_metrics = tm;
    return 0;
}

void tr_trace_metrics_close(struct tr_app *app)
{
    struct tr_trace_metrics *tm = app->trace_metrics;
    if (tm == NULL) {
        return;
    }
    tr_trace_metrics_stop(app);
    if (atomic_load(&tm->running)) {
        /* normally joined before the cluster stopped; a thread still in a
         * write now would never return: leave it and its registry */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 2;
        if (pthread_timedjoin_np(tm->thread, NULL, &ts) != 0) {
            tr_log_warn("span metrics: flusher still writing at close", NULL);
            app->trace_metrics = NULL;
            return;
        }
        atomic_store(&tm->running, false);
    }
    tr_spanmetrics_free(tm->reg);
    pthread_cond_destroy(&tm->cv);
    pthread_mutex_destroy(&tm->mu);
    tr_free(tm);
    app->trace_metrics = NULL;
}

static void tm__stats(struct tr_trace_metrics *tm,
                      const char *tenant,
                      const struct tr_spanmetrics_stats *st)
{
    tr_selfmetrics_set(tm->m_series, (double)st->series, tenant);
    tr_selfmetrics_set(tm->m_pending, (double)st->pending, tenant);
    tr_selfmetrics_inc(tm->m_spans, (double)st->spans, tenant);
    tr_selfmetrics_inc(tm->m_edges, (double)st->edges, tenant);
    tr_selfmetrics_inc(tm->m_expired, (double)st->edges_expired, tenant);
    if (st->series_refused > 0) {
        tr_selfmetrics_inc(tm->m_dropped, (double)st->series_refused, tenant,
                           "series_limit");
    }
    if (st->invalid_utf8 > 0) {
        tr_selfmetrics_inc(tm->m_dropped, (double)st->invalid_utf8, tenant,
                           "invalid_utf8");
    }
}

/* Collects tenant's totals when its last flush is at least min_interval
 * old and writes them. */
static void tm__flush(struct tr_trace_metrics *tm,
                      const char *tenant,
                      struct tr_arena *arena,
                      int64_t now,
                      int64_t min_interval,
                      struct tr_spanmetrics_stats *st)
{
    struct tr_app *app = tm->app;
    struct tr_prw_request pr;
    int rv = tr_spanmetrics_collect(tm->reg, tenant, now, min_interval, arena,
                                    &pr, st);
    if (rv != 0) {
        tr_log_warn("span metrics: out of memory", "tenant=%s", tenant);
    }
    tm__stats(tm, tenant, st);
    if (rv != 0 || pr.n_series == 0) {
        return;
    }
    struct tr_metrics_write_result res;
    tr_metrics_write(app, tenant, arena, &pr, &res);
    bool ok = res.status == 204;
    tr_selfmetrics_inc(tm->m_flushes, 1, tenant, ok ? "ok" : "error");
    if (!ok) {
        tr_log_warn("span metrics: write failed",
                    "tenant=%s status=%d err=\"%s\"", tenant, res.status,
                    res.msg);
    }
}

static void *tm__run(void *arg)
{
    struct tr_trace_metrics *tm = arg;
    int64_t every = tm->app->cfg->traces_metrics_flush_ms;
    if (every < 100) {
        every = 100;
    }
    struct tr_buf names;
    tr_buf_init(&names);
    pthread_mutex_lock(&tm->mu);
    while (!atomic_load(&tm->stop)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (every % 1000) * 1000000;
        ts.tv_sec += (time_t)(every / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        while (!atomic_load(&tm->stop) &&
               pthread_cond_timedwait(&tm->cv, &tm->mu, &ts) == 0) {
        }
        if (atomic_load(&tm->stop)) {
            break;
        }
        pthread_mutex_unlock(&tm->mu);
        tr_buf_reset(&names);
        if (tr_spanmetrics_tenants(tm->reg, &names) == 0) {
            for (size_t o = 0; o < names.len && !atomic_load(&tm->stop);
                 o += strlen(names.data + o) + 1) {
                struct tr_arena a;
                tr_arena_init(&a, 64 * 1024);
                struct tr_spanmetrics_stats st;
                memset(&st, 0, sizeof(st));
                tm__flush(tm, names.data + o, &a, tr_now_ms(), 0, &st);
                tr_arena_free(&a);
            }
        }
        pthread_mutex_lock(&tm->mu);
    }
    pthread_mutex_unlock(&tm->mu);
    tr_buf_free(&names);
    return NULL;
}

int tr_trace_metrics_start(struct tr_app *app)
{
    struct tr_trace_metrics *tm = app->trace_metrics;
    if (tm == NULL || atomic_load(&tm->running)) {
        return 0;
    }
    if (pthread_create(&tm->thread, NULL, tm__run, tm) != 0) {
        return TR_EIO;
    }
    atomic_store(&tm->running, true);
    return 0;
}

void tr_trace_metrics_stop(struct tr_app *app)
{
    struct tr_trace_metrics *tm = app->trace_metrics;
    if (tm == NULL) {
        return;
    }
    pthread_mutex_lock(&tm->mu);
    atomic_store(&tm->stop, true);
    pthread_cond_broadcast(&tm->cv);
    pthread_mutex_unlock(&tm->mu);
}

void tr_trace_metrics_join(struct tr_app *app)
{
    struct tr_trace_metrics *tm = app->trace_metrics;
    if (tm == NULL || !atomic_load(&tm->running)) {
        return;
    }
    tr_trace_metrics_stop(app);
    pthread_join(tm->thread, NULL);
    atomic_store(&tm->running, false);
}

void tr_trace_metrics_ingest(struct tr_app *app,
                             const char *tenant,
                             struct tr_arena *arena,
                             const struct tr_otlp_traces *t,
                             const bool *skip,
                             unsigned which)
{
    struct tr_trace_metrics *tm = app->trace_metrics;
    if (tm == NULL) {
        return;
    }
    struct tr_spanmetrics_stats st;
    memset(&st, 0, sizeof(st));
    int64_t now = tr_now_ms();
    if (tr_spanmetrics_add(tm->reg, tenant, t, skip, which, now, &st) != 0) {
        tr_log_warn("span metrics: out of memory", "tenant=%s", tenant);
    }
    if (atomic_load(&tm->running)) {
        tm__stats(tm, tenant, &st);
    } else {
        /* no flusher thread */
        tm__flush(tm, tenant, arena, now, app->cfg->traces_metrics_flush_ms,
                  &st);
    }
}
