/* trace_metrics.c - span metrics and the service graph at trace ingest
 * (server/trace_metrics.h): the registry of proto/otlp_spanmetrics.c on
 * this node, its self-metrics, and the flush through the metrics write
 * path.
 *
 * Flushing happens on the export's worker thread, after its spans were
 * committed (a refused or failed export adds nothing, so a client's retry
 * is not counted twice), when the tenant's previous flush is at least
 * --traces.metrics-flush-interval old: an idle tenant's last increments
 * wait for its next export. The write goes through tr_metrics_write like
 * any remote-write (validation, the tenant's ingestion rate and series
 * limit); a failure only delays the values to the next flush. */
#include "server/trace_metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/selfmetrics.h"
#include "proto/otlp_spanmetrics.h"
#include "server/api_write.h"

struct tr_trace_metrics {
    struct tr_spanmetrics *reg;
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
    tr_spanmetrics_free(tm->reg);
    tr_free(tm);
    app->trace_metrics = NULL;
}

void tr_trace_metrics_ingest(struct tr_app *app,
                             const char *tenant,
                             struct tr_arena *arena,
                             const struct tr_otlp_traces *t,
                             const bool *skip)
{
    struct tr_trace_metrics *tm = app->trace_metrics;
    if (tm == NULL) {
        return;
    }
    struct tr_spanmetrics_stats st;
    memset(&st, 0, sizeof(st));
    int64_t now = tr_now_ms();
    int rv = tr_spanmetrics_add(tm->reg, tenant, t, skip, now, &st);
    struct tr_prw_request pr;
    memset(&pr, 0, sizeof(pr));
    if (rv == 0) {
        rv = tr_spanmetrics_collect(tm->reg, tenant, now,
                                    app->cfg->traces_metrics_flush_ms, arena,
                                    &pr, &st);
    }
    if (rv != 0) {
        tr_log_warn("span metrics: out of memory", "tenant=%s", tenant);
    }
    tr_selfmetrics_set(tm->m_series, (double)st.series, tenant);
    tr_selfmetrics_set(tm->m_pending, (double)st.pending, tenant);
    tr_selfmetrics_inc(tm->m_spans, (double)st.spans, tenant);
    tr_selfmetrics_inc(tm->m_edges, (double)st.edges, tenant);
    tr_selfmetrics_inc(tm->m_expired, (double)st.edges_expired, tenant);
    if (st.series_refused > 0) {
        tr_selfmetrics_inc(tm->m_dropped, (double)st.series_refused, tenant,
                           "series_limit");
    }
    if (st.invalid_utf8 > 0) {
        tr_selfmetrics_inc(tm->m_dropped, (double)st.invalid_utf8, tenant,
                           "invalid_utf8");
    }
    if (pr.n_series == 0) {
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
