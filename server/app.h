/* app.h - the running node: configuration, storage, metrics families and
 * per-tenant state shared by the API handlers. */
#ifndef TR_SERVER_APP_H
#define TR_SERVER_APP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>

#include "server/config.h"
#include "server/http.h"
#include "lib/selfmetrics.h"
#include "storage/select.h"
#include "storage/storage.h"

#define TR_TENANT_MAX 150

struct tr_rate_limiters;      /* server/limits.c */
struct tr_cluster;            /* cluster/cluster.h */
struct tr_trace_metrics;      /* server/trace_metrics.h */
struct tr_overrides_reloader; /* server/overrides.h */

struct tr_app {
    const struct tr_config *cfg;
    struct tr_storage *storage;
    struct tr_jobs *jobs; /* compaction jobs (storage/jobs.h) */
    struct tr_overrides_reloader *overrides; /* --runtime-config.file */
    const struct tr_select_source *source;   /* reads: the cluster fan-out */
    struct tr_cluster *cluster;              /* writes are routed through it */
    struct tr_rate_limiters *limiters;
    struct tr_rate_limiters *log_limiters;   /* line bytes per tenant */
    struct tr_rate_limiters *trace_limiters; /* OTLP trace bytes */
    struct tr_trace_metrics *trace_metrics;  /* span metrics, service graph */
    int64_t start_ms;
    /* self-metrics */
    struct tr_sm_family *m_samples; /* triad_samples_ingested_total{tenant} */
    struct tr_sm_family
        *m_rejected; /* triad_samples_rejected_total{tenant,reason} */
    struct tr_sm_family *m_series;    /* triad_series_created_total{tenant} */
    struct tr_sm_family *m_exemplars; /* triad_exemplars_received_total */
    struct tr_sm_family
        *m_histograms; /* triad_native_histograms_received_total */
    struct tr_sm_family *m_metadata;       /* triad_metadata_ingested_total */
    struct tr_sm_family *m_log_lines;      /* triad_log_lines_ingested_total */
    struct tr_sm_family *m_log_bytes;      /* triad_log_bytes_ingested_total */
    struct tr_sm_family *m_log_rejected;   /* ..._lines_rejected_total */
    struct tr_sm_family *m_log_streams;    /* triad_log_streams_created_total */
    struct tr_sm_family *m_spans;          /* triad_spans_ingested_total */
    struct tr_sm_family *m_spans_rejected; /* ..._spans_rejected_total */
    struct tr_sm_family *m_attrs_truncated; /* ..._attributes_truncated */
    struct tr_sm_family
        *m_write_bytes; /* triad_write_request_bytes histogram */
    /* PromQL queries running and when the last one ended (tr_now_ms), for
     * returning memory to the OS while idle (server/main.c) */
    atomic_int queries_running;
    _Atomic int64_t last_query_end_ms;
};

/* Builds the app (opens storage) and registers self-metrics. */
int tr_app_init(struct tr_app *app, const struct tr_config *cfg, char *errmsg);
void tr_app_close(struct tr_app *app);
/* Adds every API route to the HTTP server. */
int tr_app_routes(struct tr_app *app, struct tr_http_server *http);

/* Tenant of a request: X-Scope-OrgID, else the basic-auth user when auth is
 * enabled, else "anonymous" (auth disabled). Fills out (NUL-terminated,
 * TR_TENANT_MAX + 1 bytes). Returns 0, TR_EAUTH (401: no tenant with auth
 * enabled) or TR_EINVAL (400: malformed tenant id); errmsg set. */
int tr_app_tenant(const struct tr_app *app,
                  const struct tr_http_request *req,
                  char *out,
                  char *errmsg);
/* HTTP status for an error code (the one place that maps them). */
int tr_status_for(int code);

/* Rate limiting (server/limits.c): takes n tokens from the tenant's bucket;
 * false when the tenant is over its ingestion rate. */
struct tr_rate_limiters *tr_rate_limiters_new(double rate, double burst);
void tr_rate_limiters_free(struct tr_rate_limiters *l);
bool tr_rate_limit_take(struct tr_rate_limiters *l,
                        const char *tenant,
                        double n);
/* The same with the tenant's own rate and burst (catalog overrides). */
bool tr_rate_limit_take_with(struct tr_rate_limiters *l,
                             const char *tenant,
                             double n,
                             double rate,
                             double burst);

/* Handlers (server/api_*.c). */
void tr_api_write(const struct tr_http_request *req,
                  struct tr_http_response *resp);
void tr_api_remote_read(const struct tr_http_request *req,
                        struct tr_http_response *resp);
void tr_api_series(const struct tr_http_request *req,
                   struct tr_http_response *resp);
void tr_api_labels(const struct tr_http_request *req,
                   struct tr_http_response *resp);
void tr_api_label_values(const struct tr_http_request *req,
                         struct tr_http_response *resp);
void tr_api_metadata(const struct tr_http_request *req,
                     struct tr_http_response *resp);
void tr_api_buildinfo(const struct tr_http_request *req,
                      struct tr_http_response *resp);
void tr_api_ready(const struct tr_http_request *req,
                  struct tr_http_response *resp);
void tr_api_healthy(const struct tr_http_request *req,
                    struct tr_http_response *resp);
void tr_api_metrics(const struct tr_http_request *req,
                    struct tr_http_response *resp);
void tr_api_flush(const struct tr_http_request *req,
                  struct tr_http_response *resp);
/* Loki push (server/api_loki_push.c). */
void tr_api_loki_push(const struct tr_http_request *req,
                      struct tr_http_response *resp);
/* Loki read endpoints without LogQL pipelines (server/api_loki_meta.c). */
void tr_api_loki_labels(const struct tr_http_request *req,
                        struct tr_http_response *resp);
void tr_api_loki_label_values(const struct tr_http_request *req,
                              struct tr_http_response *resp);
void tr_api_loki_series(const struct tr_http_request *req,
                        struct tr_http_response *resp);
void tr_api_loki_index_stats(const struct tr_http_request *req,
                             struct tr_http_response *resp);
void tr_api_loki_volume(const struct tr_http_request *req,
                        struct tr_http_response *resp);
void tr_api_loki_volume_range(const struct tr_http_request *req,
                              struct tr_http_response *resp);
void tr_api_loki_detected_labels(const struct tr_http_request *req,
                                 struct tr_http_response *resp);
void tr_api_loki_buildinfo(const struct tr_http_request *req,
                           struct tr_http_response *resp);
void tr_api_loki_drilldown_limits(const struct tr_http_request *req,
                                  struct tr_http_response *resp);
/* Logs Drilldown exploration (server/api_loki_detect.c). */
void tr_api_loki_detected_fields(const struct tr_http_request *req,
                                 struct tr_http_response *resp);
void tr_api_loki_detected_field_values(const struct tr_http_request *req,
                                       struct tr_http_response *resp);
void tr_api_loki_patterns(const struct tr_http_request *req,
                          struct tr_http_response *resp);
/* LogQL endpoints (server/api_loki_query.c). */
void tr_api_loki_query(const struct tr_http_request *req,
                       struct tr_http_response *resp);
void tr_api_loki_query_range(const struct tr_http_request *req,
                             struct tr_http_response *resp);
void tr_api_loki_format_query(const struct tr_http_request *req,
                              struct tr_http_response *resp);
/* Loki live tail over WebSocket (server/api_loki_tail.c); the tail thread
 * stops in tr_loki_tail_shutdown (tr_app_close calls it). */
void tr_api_loki_tail(const struct tr_http_request *req,
                      struct tr_http_response *resp);
void tr_loki_tail_shutdown(void);
/* Asks the tail thread to stop (any thread, does not wait): graceful
 * shutdown calls it first, while the loop still serves reads. */
void tr_loki_tail_stop(void);
/* OTLP logs over HTTP (server/api_otlp_logs.c). */
void tr_api_otlp_logs(const struct tr_http_request *req,
                      struct tr_http_response *resp);
/* OTLP traces over HTTP and gRPC (server/api_otlp_traces.c). */
void tr_api_otlp_traces(const struct tr_http_request *req,
                        struct tr_http_response *resp);
/* Tempo's API (server/api_tempo.c): trace by id (v1 and v2), echo and
 * build information. */
void tr_api_tempo_trace(const struct tr_http_request *req,
                        struct tr_http_response *resp);
void tr_api_tempo_trace_v2(const struct tr_http_request *req,
                           struct tr_http_response *resp);
void tr_api_tempo_echo(const struct tr_http_request *req,
                       struct tr_http_response *resp);
void tr_api_tempo_buildinfo(const struct tr_http_request *req,
                            struct tr_http_response *resp);
/* Tempo's search, tags and tag values (server/api_tempo_search.c); the
 * node side of their pushed-down queries, tr_tempo_search_node, is the
 * cluster's traces_fn (tr_cluster_config). */
void tr_api_tempo_search(const struct tr_http_request *req,
                         struct tr_http_response *resp);
void tr_api_tempo_tags(const struct tr_http_request *req,
                       struct tr_http_response *resp);
void tr_api_tempo_tags_v2(const struct tr_http_request *req,
                          struct tr_http_response *resp);
void tr_api_tempo_tag_values(const struct tr_http_request *req,
                             struct tr_http_response *resp);
void tr_api_tempo_tag_values_v2(const struct tr_http_request *req,
                                struct tr_http_response *resp);
/* Tempo's StreamingQuerier gRPC methods as the route
 * /internal-grpc/tempo/{} (server/api_tempo_grpc.c; http_h2.c maps them). */
void tr_api_tempo_grpc(const struct tr_http_request *req,
                       struct tr_http_response *resp);
struct tr_trace_source;
struct tr_shard_id;
/* TraceQL metrics (server/api_tempo_metrics.c): the endpoints, and the
 * node side of their pushed-down query (kind 4 of the search node's
 * requests: c is after the common head). */
void tr_api_tempo_metrics_range(const struct tr_http_request *req,
                                struct tr_http_response *resp);
void tr_api_tempo_metrics_instant(const struct tr_http_request *req,
                                  struct tr_http_response *resp);
struct tr_cursor;
int tr_tempo_metrics_node(const struct tr_trace_source *src,
                          const struct tr_shard_id *ids,
                          size_t n,
                          struct tr_slice tenant,
                          uint64_t start,
                          uint64_t end,
                          struct tr_cursor *c,
                          struct tr_buf *out,
                          char *errmsg);
int tr_tempo_search_node(void *arg,
                         const struct tr_trace_source *src,
                         const struct tr_shard_id *ids,
                         size_t n,
                         const void *req,
                         size_t len,
                         struct tr_buf *out,
                         char *errmsg);
/* OTLP metrics over HTTP (server/api_otlp_metrics.c). */
void tr_api_otlp_metrics(const struct tr_http_request *req,
                         struct tr_http_response *resp);
/* PromQL endpoints (server/api_query.c). */
void tr_api_query(const struct tr_http_request *req,
                  struct tr_http_response *resp);
void tr_api_query_range(const struct tr_http_request *req,
                        struct tr_http_response *resp);
void tr_api_format_query(const struct tr_http_request *req,
                         struct tr_http_response *resp);
void tr_api_query_exemplars(const struct tr_http_request *req,
                            struct tr_http_response *resp);
void tr_api_rules(const struct tr_http_request *req,
                  struct tr_http_response *resp);
void tr_api_alerts(const struct tr_http_request *req,
                   struct tr_http_response *resp);

/* The cluster layer's endpoints and the administration endpoints
 * (server/api_cluster.c). */
int tr_api_cluster_routes(struct tr_http_server *http);

/* Prometheus JSON error envelope: {"status":"error","errorType":..,"error":..}
 * with the status code for the error type. */
void tr_prom_error(struct tr_http_response *resp,
                   int status,
                   const char *error_type,
                   const char *msg);

#endif
