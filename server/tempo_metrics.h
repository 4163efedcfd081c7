/* tempo_metrics.h - the coordinator of TraceQL metrics
 * (server/api_tempo_metrics.c), callable with plain parameters: from
 * Tempo's HTTP API (/api/metrics/query_range and /api/metrics/query, which
 * write JSON) or from a decoded tempopb request (MetricsQueryRange and
 * MetricsQueryInstant of server/api_tempo_grpc.c, which write protobuf).
 *
 * A run parses and validates the query, pushes it down to the nodes that
 * hold traces shards of the range, merges their partial states and
 * returns the series. It returns 0 or the HTTP status of the failure (400
 * a bad query or range, 503 no shard leader, 500 out of memory, ...) with
 * errmsg set. */
#ifndef TR_SERVER_TEMPO_METRICS_H
#define TR_SERVER_TEMPO_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "proto/tempo_pb.h"

struct tr_app;
struct tr_traceql_metrics_job;

struct tr_tempo_metrics_params {
    struct tr_slice q;  /* TraceQL metrics query */
    int64_t start, end; /* ns, start <= end */
    int64_t step;       /* ns; 0: the default (the range / 100, at least
                           1 s); ignored when instant */
    bool instant;       /* one step [start, end] */
};

struct tr_tempo_metrics_result {
    struct tr_tempo_series *series; /* in the run's arena */
    size_t n;
    struct tr_traceql_metrics_job *job; /* owns the labels */
};

/* Runs p for tenant; the series array, samples and prom labels in a, the
 * labels in out->job: release out with tr_tempo_metrics_release (also
 * after a failure) before freeing a. */
int tr_tempo_metrics_run(struct tr_app *app,
                         const char *tenant,
                         const struct tr_tempo_metrics_params *p,
                         struct tr_arena *a,
                         struct tr_tempo_metrics_result *out,
                         char *errmsg);
void tr_tempo_metrics_release(struct tr_tempo_metrics_result *r);

#endif
