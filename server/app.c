/* app.c - wiring: storage, self-metrics, routes. */
#include "server/app.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "lib/log.h"
#include "cluster/cluster.h"
#include "storage/jobs.h"
#include "server/trace_metrics.h"
#include "server/version.h"

static void app__collect(struct tr_buf *out, void *arg)
{
    struct tr_app *app = arg;
    struct tr_storage_stats st;
    tr_storage_get_stats(app->storage, &st);
    tr_buf_printf(out,
                  "# HELP triad_head_series Series held in memory (open "
                  "windows).\n# TYPE triad_head_series gauge\n"
                  "triad_head_series %" PRIu64
                  "\n"
                  "# HELP triad_head_chunks Open chunks in memory.\n"
                  "# TYPE triad_head_chunks gauge\ntriad_head_chunks %" PRIu64
                  "\n# HELP triad_storage_shards Shards with data on this "
                  "node.\n# TYPE triad_storage_shards gauge\n"
                  "triad_storage_shards %" PRIu64
                  "\n"
                  "# HELP triad_chunks_cut_total Chunks completed and "
                  "persisted.\n# TYPE triad_chunks_cut_total counter\n"
                  "triad_chunks_cut_total %" PRIu64
                  "\n"
                  "# HELP triad_checkpoints_total Shard checkpoints taken.\n"
                  "# TYPE triad_checkpoints_total counter\n"
                  "triad_checkpoints_total %" PRIu64 "\n",
                  st.head_series, st.head_chunks, st.shards, st.chunks_cut,
                  st.checkpoints);
    if (app->cluster != NULL) {
        tr_cluster_metrics(app->cluster, out);
    }
    tr_engine_stats(tr_storage_engine(app->storage), out);
    if (app->jobs != NULL) {
        tr_jobs_metrics(app->jobs, out);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    long rss_pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        long size;
        if (fscanf(f, "%ld %ld", &size, &rss_pages) != 2) {
            rss_pages = 0;
        }
        fclose(f);
    }
    tr_buf_printf(out,
                  "# HELP process_cpu_seconds_total Total user and system CPU "
                  "time spent in seconds.\n# TYPE process_cpu_seconds_total "
                  "counter\nprocess_cpu_seconds_total %.3f\n"
                  "# HELP process_resident_memory_bytes Resident memory size "
                  "in bytes.\n# TYPE process_resident_memory_bytes gauge\n"
                  "process_resident_memory_bytes %ld\n"
                  "# HELP process_start_time_seconds Start time of the process "
                  "since unix epoch in seconds.\n# TYPE "
                  "process_start_time_seconds gauge\n"
                  "process_start_time_seconds %.3f\n"
                  "# HELP triad_build_info Build information.\n"
                  "# TYPE triad_build_info gauge\n"
                  "triad_build_info{version=\"%s\",revision=\"%s\"} 1\n",
                  cpu, rss_pages * sysconf(_SC_PAGESIZE),
                  (double)app->start_ms / 1000.0, TRIAD_VERSION,
                  TRIAD_REVISION);
}

int tr_app_init(struct tr_app *app, const struct tr_config *cfg, char *errmsg)
{
    memset(app, 0, sizeof(*app));
    app->cfg = cfg;
    app->start_ms = tr_now_ms();
    struct tr_storage_config sc = {
        .version = 1,
        .data_dir = cfg->data_dir,
        .cache_bytes = cfg->storage_cache_bytes,
        .wal_sync = cfg->wal_sync,
        .window_ms = cfg->placement_window_ms,
        .chunk_max_ms = 2 * 3600 * 1000LL,
        .compact_write_rate = cfg->compaction_write_rate,
    };
    int rv = tr_storage_open(&sc, &app->storage, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = tr_jobs_open(app->storage, &app->jobs, errmsg);
    if (rv != 0) {
        tr_storage_close(app->storage);
        app->storage = NULL;
        return rv;
    }
    app->source = tr_storage_source(app->storage);
    app->limiters = tr_rate_limiters_new(cfg->limits.ingestion_rate,
                                         (double)cfg->limits.ingestion_burst);
    app->log_limiters =
        tr_rate_limiters_new((double)cfg->limits.logs_rate_bytes,
                             (double)cfg->limits.logs_burst_bytes);
    app->trace_limiters =
        tr_rate_limiters_new((double)cfg->limits.traces_rate_bytes,
                             (double)cfg->limits.traces_burst_bytes);
    struct tr_selfmetrics *r = tr_selfmetrics_default();
    static const char *const tl[] = {"tenant"};
    static const char *const trl[] = {"tenant", "reason"};
    app->m_samples = tr_selfmetrics_counter(
        r, "triad_samples_ingested_total",
        "Samples appended to storage, per tenant.", 1, tl);
    app->m_rejected = tr_selfmetrics_counter(
        r, "triad_samples_rejected_total",
        "Samples rejected on ingest, per tenant and reason.", 2, trl);
    app->m_series = tr_selfmetrics_counter(
        r, "triad_series_created_total", "Series created, per tenant.", 1, tl);
    app->m_exemplars =
        tr_selfmetrics_counter(r, "triad_exemplars_received_total",
                               "Exemplars received (not stored yet).", 1, tl);
    app->m_histograms = tr_selfmetrics_counter(
        r, "triad_native_histograms_received_total",
        "Native histogram samples received (not stored yet).", 1, tl);
    app->m_metadata =
        tr_selfmetrics_counter(r, "triad_metadata_ingested_total",
                               "Metric metadata records stored.", 1, tl);
    app->m_log_lines = tr_selfmetrics_counter(
        r, "triad_log_lines_ingested_total",
        "Log lines stored (Loki push and OTLP logs), per tenant.", 1, tl);
    app->m_log_bytes = tr_selfmetrics_counter(
        r, "triad_log_bytes_ingested_total",
        "Bytes of the log lines received and accepted, per tenant.", 1, tl);
    app->m_log_rejected = tr_selfmetrics_counter(
        r, "triad_log_lines_rejected_total",
        "Log lines rejected on ingest, per tenant and reason.", 2, trl);
    app->m_log_streams =
        tr_selfmetrics_counter(r, "triad_log_streams_created_total",
                               "Log streams created, per tenant.", 1, tl);
    app->m_spans = tr_selfmetrics_counter(
        r, "triad_spans_ingested_total",
        "Spans stored (OTLP traces over HTTP and gRPC), per tenant.", 1, tl);
    app->m_spans_rejected = tr_selfmetrics_counter(
        r, "triad_spans_rejected_total",
        "Spans refused on ingest, per tenant and reason.", 2, trl);
    app->m_attrs_truncated = tr_selfmetrics_counter(
        r, "triad_span_attributes_truncated_total",
        "Attribute values cut to limits.traces-max-attribute-bytes, per "
        "tenant.",
        1, tl);
    tr_selfmetrics_add_collector(r, app__collect, app);
    if (tr_trace_metrics_init(app) != 0) {
        snprintf(errmsg, TR_ERRMSG_SIZE, "span metrics: out of memory");
        return TR_ENOMEM;
    }
    return 0;
}

void tr_app_close(struct tr_app *app)
{
    tr_loki_tail_shutdown();
    tr_selfmetrics_remove_collector(tr_selfmetrics_default(), app__collect,
                                    app);
    tr_jobs_close(app->jobs); /* a running job stops after its step */
    app->jobs = NULL;
    tr_storage_close(app->storage);
    app->storage = NULL;
    tr_rate_limiters_free(app->limiters);
    app->limiters = NULL;
    tr_rate_limiters_free(app->log_limiters);
    app->log_limiters = NULL;
    tr_rate_limiters_free(app->trace_limiters);
    app->trace_limiters = NULL;
    tr_trace_metrics_close(app);
}

int tr_app_routes(struct tr_app *app, struct tr_http_server *http)
{
    (void)app;
    const unsigned GP = TR_HTTP_GET | TR_HTTP_POST;
    struct {
        unsigned methods;
        const char *pattern;
        unsigned flags;
        tr_http_handler_fn fn;
    } routes[] = {
        {TR_HTTP_GET, "/ready", TR_ROUTE_INLINE, tr_api_ready},
        {TR_HTTP_GET, "/-/ready", TR_ROUTE_INLINE, tr_api_ready},
        {TR_HTTP_GET, "/-/healthy", TR_ROUTE_INLINE, tr_api_healthy},
        {TR_HTTP_GET, "/metrics", 0, tr_api_metrics},
        {TR_HTTP_POST | TR_HTTP_PUT, "/api/v1/write", 0, tr_api_write},
        {TR_HTTP_POST | TR_HTTP_PUT, "/api/v1/push", 0, tr_api_write},
        {TR_HTTP_POST, "/api/v1/read", 0, tr_api_remote_read},
        {TR_HTTP_POST, "/loki/api/v1/push", 0, tr_api_loki_push},
        {TR_HTTP_POST, "/api/prom/push", 0, tr_api_loki_push},
        {TR_HTTP_GET, "/loki/api/v1/labels", 0, tr_api_loki_labels},
        {TR_HTTP_GET, "/loki/api/v1/label", 0, tr_api_loki_labels},
        {TR_HTTP_GET, "/loki/api/v1/label/{}/values", 0,
         tr_api_loki_label_values},
        {GP, "/loki/api/v1/series", 0, tr_api_loki_series},
        {GP, "/loki/api/v1/query", 0, tr_api_loki_query},
        {GP, "/loki/api/v1/query_range", 0, tr_api_loki_query_range},
        {GP, "/loki/api/v1/format_query", 0, tr_api_loki_format_query},
        {TR_HTTP_GET, "/loki/api/v1/tail", 0, tr_api_loki_tail},
        {TR_HTTP_GET, "/loki/api/v1/detected_fields", 0,
         tr_api_loki_detected_fields},
        {TR_HTTP_GET, "/loki/api/v1/detected_field/{}/values", 0,
         tr_api_loki_detected_field_values},
        {TR_HTTP_GET, "/loki/api/v1/patterns", 0, tr_api_loki_patterns},
        {TR_HTTP_POST, "/otlp/v1/logs", 0, tr_api_otlp_logs},
        {TR_HTTP_POST, "/v1/logs", 0, tr_api_otlp_logs},
        {TR_HTTP_POST, "/otlp/v1/traces", 0, tr_api_otlp_traces},
        {TR_HTTP_POST, "/v1/traces", 0, tr_api_otlp_traces},
        {TR_HTTP_GET, "/api/traces/{}", 0, tr_api_tempo_trace},
        {TR_HTTP_GET, "/api/v2/traces/{}", 0, tr_api_tempo_trace_v2},
        {TR_HTTP_GET, "/api/echo", TR_ROUTE_INLINE, tr_api_tempo_echo},
        {GP, "/api/search", 0, tr_api_tempo_search},
        {GP, "/api/metrics/query_range", 0, tr_api_tempo_metrics_range},
        {GP, "/api/metrics/query", 0, tr_api_tempo_metrics_instant},
        {TR_HTTP_GET, "/api/search/tags", 0, tr_api_tempo_tags},
        {TR_HTTP_GET, "/api/v2/search/tags", 0, tr_api_tempo_tags_v2},
        {TR_HTTP_GET, "/api/search/tag/{}/values", 0, tr_api_tempo_tag_values},
        {TR_HTTP_GET, "/api/v2/search/tag/{}/values", 0,
         tr_api_tempo_tag_values_v2},
        {TR_HTTP_GET, "/api/status/buildinfo", TR_ROUTE_INLINE,
         tr_api_tempo_buildinfo},
        {TR_HTTP_POST, "/internal-grpc/tempo/{}", 0, tr_api_tempo_grpc},
        {TR_HTTP_POST, "/otlp/v1/metrics", 0, tr_api_otlp_metrics},
        {TR_HTTP_POST, "/api/v1/otlp/v1/metrics", 0, tr_api_otlp_metrics},
        {TR_HTTP_POST, "/v1/metrics", 0, tr_api_otlp_metrics},
        {GP, "/loki/api/v1/index/stats", 0, tr_api_loki_index_stats},
        {GP, "/loki/api/v1/index/volume", 0, tr_api_loki_volume},
        {GP, "/loki/api/v1/index/volume_range", 0, tr_api_loki_volume_range},
        {TR_HTTP_GET, "/loki/api/v1/detected_labels", 0,
         tr_api_loki_detected_labels},
        {TR_HTTP_GET, "/loki/api/v1/status/buildinfo", TR_ROUTE_INLINE,
         tr_api_loki_buildinfo},
        {TR_HTTP_GET, "/loki/api/v1/drilldown-limits", TR_ROUTE_INLINE,
         tr_api_loki_drilldown_limits},
        {GP, "/api/v1/series", 0, tr_api_series},
        {GP, "/api/v1/labels", 0, tr_api_labels},
        {TR_HTTP_GET, "/api/v1/label/{}/values", 0, tr_api_label_values},
        {TR_HTTP_GET, "/api/v1/metadata", 0, tr_api_metadata},
        {TR_HTTP_GET, "/api/v1/status/buildinfo", TR_ROUTE_INLINE,
         tr_api_buildinfo},
        {TR_HTTP_POST, "/api/v1/admin/flush", 0, tr_api_flush},
        {GP, "/api/v1/query", 0, tr_api_query},
        {GP, "/api/v1/query_range", 0, tr_api_query_range},
        {GP, "/api/v1/format_query", 0, tr_api_format_query},
        {GP, "/api/v1/query_exemplars", 0, tr_api_query_exemplars},
        {TR_HTTP_GET, "/api/v1/rules", TR_ROUTE_INLINE, tr_api_rules},
        {TR_HTTP_GET, "/api/v1/alerts", TR_ROUTE_INLINE, tr_api_alerts},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        int rv = tr_http_route(http, routes[i].methods, routes[i].pattern,
                               routes[i].flags, routes[i].fn);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}
