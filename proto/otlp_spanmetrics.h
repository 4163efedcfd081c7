/* otlp_spanmetrics.h - span metrics and the service graph derived from
 * decoded OTLP spans, with the names, labels and defaults of Tempo's
 * metrics-generator (processors span-metrics and service-graphs), kept as
 * per-tenant cumulative totals in memory and handed out as remote-write
 * requests (proto/prw.h) for the metrics write path to store.
 *
 * Why proto/: like proto/otlp_prom.c (OTLP metrics -> Prometheus series)
 * this maps one wire model onto another and needs nothing but the decoded
 * spans (proto/otlp_traces.h), the remote-write model (proto/prw.h) and
 * lib/ (proto -> lib). It holds state, but no server, cluster or storage
 * dependency: the server (server/trace_metrics.c) decides when to add and
 * collect and writes what it collects through tr_metrics_write.
 *
 * Span metrics (one label set per service, span name, kind, status):
 *   traces_spanmetrics_calls_total           counter
 *   traces_spanmetrics_latency_bucket{le}    histogram of the span's
 *   traces_spanmetrics_latency_sum/_count      duration in seconds (0 when
 *                                              end <= start); le 0.002,
 *                                              0.004, ..., 16.384, +Inf
 *                                              (Prometheus'
 *                                              ExponentialBuckets(0.002,
 *                                              2, 14), Tempo's default)
 *   traces_spanmetrics_size_total            counter of the span's
 *                                              protobuf size in bytes
 *   labels: service (resource service.name, "" - so absent - without
 *   one), span_name, span_kind (SPAN_KIND_UNSPECIFIED, _INTERNAL,
 *   _SERVER, _CLIENT, _PRODUCER, _CONSUMER; another value as its number),
 *   status_code (STATUS_CODE_UNSET, _OK, _ERROR). Tempo adds job and
 *   instance only with enable_target_info (default off): not added.
 *
 * Service graph (one label set per client, server, connection_type):
 *   traces_service_graph_request_total            counter
 *   traces_service_graph_request_failed_total     counter (a series once
 *                                                   an edge failed)
 *   traces_service_graph_request_server_seconds   histograms of the
 *   traces_service_graph_request_client_seconds     server and the client
 *                                                   span's durations; le
 *                                                   0.1, 0.2, ..., 12.8,
 *                                                   +Inf (Tempo's
 *                                                   ExponentialBuckets(
 *                                                   0.1, 2, 8))
 *   connection_type: "" (so absent), messaging_system, database or
 *   virtual_node.
 * Edges, as Tempo builds them. Only spans of a resource with a non-empty
 * service.name take part. A CLIENT (PRODUCER: messaging_system) span is
 * the client side of the edge keyed (trace id, its span id); a SERVER
 * (CONSUMER: messaging_system) span the server side of the edge keyed
 * (trace id, its parent span id). Either side with status ERROR fails
 * the edge. An edge completes - one request counted - when both sides are
 * known:
 *   - in the same add call (one export request) whatever the span order;
 *   - across calls of the same tenant on this registry, while the first
 *     side waits in the tenant's pending store (at most wait_ms, at most
 *     max_pending edges: beyond it the oldest edges are expired early);
 *   - at once for a client span naming a database (the first of
 *     db.namespace, db.name, db.system, db.system.name in the span's or the
 *     resource's attributes): connection_type database, server = the first
 *     of peer.service, server.address, network.peer.address(:port) or the
 *     database name, server duration = the client span's;
 *   - at once for a root SERVER/CONSUMER span (no parent: no client can
 *     match it): client = its first peer attribute (peer.service, db.name,
 *     db.system, db.system.name in the span's attributes) or "user",
 *     connection_type virtual_node (Tempo does this when the edge expires;
 *     the outcome is the same);
 *   - when a pending client edge expires and the client span had a peer
 *     attribute: server = that value, connection_type virtual_node.
 * Other expired edges are dropped (counted in edges_expired). Spans whose
 * counterpart reaches another node, or arrives after wait_ms, are not
 * paired.
 *
 * Series and limits. Every counter and histogram is cumulative from the
 * moment its label set appeared in this registry (process memory: a
 * restart starts again from 0, which PromQL's rate() treats as a counter
 * reset). Each series also carries __metrics_gen_instance = instance (as
 * Tempo's registry does with its host name), so that the totals of two
 * nodes never collide in one series. A label set costs the series it
 * writes (span metrics 19; a service graph edge 23, 24 once failed);
 * label sets that would take a tenant beyond max_series are not created
 * (their observations are counted in series_refused). A label set not
 * updated for stale_ms is dropped (Tempo's stale_duration). Label values
 * are cut to max_label_value_len bytes at a UTF-8 boundary; a span whose
 * label values are not UTF-8 is not counted (invalid_utf8).
 *
 * Collecting gives one sample per series at the collection time (strictly
 * later than the tenant's previous collection), preceded the first time a
 * series is collected by a 0 sample at the end of the previous minute
 * (Tempo does so, so that increase() counts the first observations). */
#ifndef TR_PROTO_OTLP_SPANMETRICS_H
#define TR_PROTO_OTLP_SPANMETRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "proto/otlp_traces.h"
#include "proto/prw.h"

#define TR_SPANMETRICS_SPAN_BUCKETS 14
#define TR_SPANMETRICS_GRAPH_BUCKETS 8
/* Prometheus series a label set writes. */
#define TR_SPANMETRICS_SPAN_SERIES (2 + TR_SPANMETRICS_SPAN_BUCKETS + 3)
#define TR_SPANMETRICS_GRAPH_SERIES (1 + 2 * (TR_SPANMETRICS_GRAPH_BUCKETS + 3))

struct tr_spanmetrics_config {
    bool span_metrics;          /* the span-metrics processor */
    bool service_graph;         /* the service-graphs processor */
    uint64_t max_series;        /* per tenant, Prometheus series; 0 = off */
    size_t max_pending;         /* pending edges per tenant (Tempo 10000) */
    int64_t wait_ms;            /* how long an edge waits (Tempo 10 s) */
    int64_t stale_ms;           /* label sets idle this long are dropped */
    size_t max_label_value_len; /* 0 = no cut */
    const char *instance;       /* __metrics_gen_instance; "" = no label */
};

/* What one call did (added to by the call; zero it first) and the
 * tenant's state after it. */
struct tr_spanmetrics_stats {
    uint64_t spans;          /* spans counted in span metrics */
    uint64_t edges;          /* edges completed (requests counted) */
    uint64_t edges_expired;  /* pending edges dropped unpaired */
    uint64_t series_refused; /* observations refused at max_series */
    uint64_t invalid_utf8;   /* spans or edges with non-UTF-8 labels */
    uint64_t series;         /* the tenant's series now */
    uint64_t pending;        /* the tenant's pending edges now */
};

struct tr_spanmetrics; /* the registry: every tenant; thread-safe */

/* A registry with cfg (copied, instance too). 0 or TR_ENOMEM. */
int tr_spanmetrics_new(const struct tr_spanmetrics_config *cfg,
                       struct tr_spanmetrics **out);
void tr_spanmetrics_free(struct tr_spanmetrics *r);

/* Adds the spans of export t (spans k with skip[k] true are left out;
 * skip may be NULL) to tenant's totals at now_ms, and expires the tenant's
 * pending edges older than wait_ms. Nothing points into t afterwards.
 * 0 or TR_ENOMEM (what was added so far stays). */
/* Processors of one call (a tenant may turn off what the configuration
 * runs): */
#define TR_SPANMETRICS_SPAN 1u
#define TR_SPANMETRICS_GRAPH 2u
#define TR_SPANMETRICS_ALL 3u
int tr_spanmetrics_add(struct tr_spanmetrics *r,
                       const char *tenant,
                       const struct tr_otlp_traces *t,
                       const bool *skip,
                       unsigned which,
                       int64_t now_ms,
                       struct tr_spanmetrics_stats *st);

/* When tenant's previous collection is at least min_interval_ms before
 * now_ms (or there was none): expires pending edges, drops stale label
 * sets and fills out (version 1, arrays and strings in a) with every
 * series of the tenant, one sample each at max(now_ms, previous + 1).
 * Otherwise, or when the tenant has no series, out is empty. 0 or
 * TR_ENOMEM. */
int tr_spanmetrics_collect(struct tr_spanmetrics *r,
                           const char *tenant,
                           int64_t now_ms,
                           int64_t min_interval_ms,
                           struct tr_arena *a,
                           struct tr_prw_request *out,
                           struct tr_spanmetrics_stats *st);

/* Appends the name of every tenant the registry holds, each followed by
 * a NUL, to out (for a periodic flush of every tenant). 0 or TR_ENOMEM. */
int tr_spanmetrics_tenants(struct tr_spanmetrics *r, struct tr_buf *out);

/* The protobuf size of span s as encoded (fields in canonical order,
 * proto3 defaults left out): traces_spanmetrics_size_total's measure. */
size_t tr_spanmetrics_span_size(const struct tr_otlp_span *s);

#endif
