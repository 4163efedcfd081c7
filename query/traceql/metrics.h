/* metrics.h - TraceQL metrics (Tempo's /api/metrics/query_range and
 * /api/metrics/query): the spans a query's pipeline keeps, counted or
 * aggregated per series (its by() values) and per step of a time range.
 *
 * Functions: rate() (spans per second of the step), count_over_time(),
 * min/max/avg/sum_over_time(attr), quantile_over_time(attr, q...) (one
 * series per quantile, label "p"), histogram_over_time(attr) (one series
 * per bucket, label "__bucket": the bucket's upper bound); by(attrs...);
 * second stages topk(n), bottomk(n) (per step, as Prometheus'), and
 * comparisons with a number (samples that fail are dropped). A span counts
 * at its start time. Durations are reported in seconds. Quantiles and
 * histograms use power-of-two buckets (of nanoseconds for durations) and
 * interpolate within a bucket, as Tempo's do. compare({filter}, topn):
 * every kept span counted per step under each of its scalar resource and
 * span attributes ("resource.x", "span.x") and its name, status and kind,
 * as "selection" when the filter holds for it, else "baseline" (label
 * __meta_type), with the totals per attribute ("baseline_total",
 * "selection_total", the attribute's value empty); only the topn values
 * (default 10) with the most spans per side and attribute stay; its start
 * and end arguments are not applied. Arithmetic between metrics queries is
 * refused (TR_EUNSUPPORTED).
 *
 * Evaluation is split so that nodes aggregate their own spans: each node
 * observes its traces into a job and encodes the partial state; the
 * coordinator merges the partial states into its own job (same query,
 * range and step) and finalises the series.
 *
 *   partial state   uvarint n series, per series: kvs by() values
 *                   (storage/trace_entry.h's encoding), uvarint n steps
 *                   used, per step: uvarint step, uvarint count, 8 sum
 *                   (double bits BE), 8 min, 8 max, uvarint n buckets, per
 *                   bucket: u8 exponent, uvarint count */
#ifndef TR_QUERY_TRACEQL_METRICS_H
#define TR_QUERY_TRACEQL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "proto/otlp_common.h"
#include "query/traceql/traceql.h"
#include "storage/trace_select.h"

#define TR_TQL_METRICS_MAX_STEPS 11000
#define TR_TQL_METRICS_MAX_SERIES 10000

struct tr_traceql_metrics_job;

/* One sample. */
struct tr_traceql_sample {
    int64_t ts_ms;
    double value;
};

/* A result series: its labels and samples (steps without data left out). */
struct tr_traceql_series {
    struct tr_otlp_kv *labels;
    size_t n_labels;
    struct tr_traceql_sample *samples;
    size_t n_samples;
};

/* Prepares a parsed, validated metrics query over [start, end] ns in
 * steps of step ns (the first step starts at start rounded down to a
 * multiple of step). 0, TR_EINVAL (not a metrics query, too many steps)
 * or TR_EUNSUPPORTED (compare(), metrics math), TR_ENOMEM; errmsg. */
int tr_traceql_metrics_new(const struct tr_traceql_query *q,
                           int64_t start,
                           int64_t end,
                           int64_t step,
                           struct tr_traceql_metrics_job **out,
                           char *errmsg);
void tr_traceql_metrics_free(struct tr_traceql_metrics_job *job);

/* Equalities every kept span's trace has (pruning) and whether a trace
 * must be whole (as tr_traceql_eval_*). */
size_t tr_traceql_metrics_prune(const struct tr_traceql_metrics_job *job,
                                struct tr_trace_eq *out,
                                size_t max);
bool tr_traceql_metrics_span_local(const struct tr_traceql_metrics_job *job);

/* Adds the kept spans of one trace (a span batch of that trace). 0,
 * TR_ELIMIT (more than TR_TQL_METRICS_MAX_SERIES series) or TR_ENOMEM. */
int tr_traceql_metrics_observe(struct tr_traceql_metrics_job *job,
                               const struct tr_span_batch *trace);
/* Partial state out / in (format above). merge: 0, TR_EPROTO, TR_ELIMIT,
 * TR_ENOMEM. */
int tr_traceql_metrics_encode(const struct tr_traceql_metrics_job *job,
                              struct tr_buf *out);
int tr_traceql_metrics_merge(struct tr_traceql_metrics_job *job,
                             const void *p,
                             size_t len);
/* The result series (memory of the job), second stages applied. */
int tr_traceql_metrics_result(struct tr_traceql_metrics_job *job,
                              struct tr_traceql_series **out,
                              size_t *n);

#endif
