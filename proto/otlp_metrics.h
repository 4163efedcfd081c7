/* otlp_metrics.h - OTLP metrics: ExportMetricsServiceRequest decoding from
 * protobuf and OTLP/JSON (the body of POST /v1/metrics and of the gRPC
 * MetricsService/Export method). The mapping to Prometheus series and the
 * routes come with the rest of issue 10.
 *
 * Protobuf messages (wire types: V varint, L length-delimited, 8 fixed64 /
 * double; the resource and scope levels in proto/otlp_groups.h):
 *
 *   MESSAGE                 FIELD                     NO  WT  DESCRIPTION
 *   ScopeMetrics            metrics                   2   L   Metric*
 *   Metric                  name                      1   L   string
 *                           description               2   L   string
 *                           unit                      3   L   string
 *                           gauge                     5   L   Gauge
 *                           sum                       7   L   Sum
 *                           histogram                 9   L   Histogram
 *                           exponential_histogram     10  L   Exp.Histogram
 *                           summary                   11  L   Summary
 *                           metadata                  12  L   KeyValue*
 *   Gauge                   data_points               1   L   NumberDataPoint*
 *   Sum                     data_points               1   L   NumberDataPoint*
 *                           aggregation_temporality   2   V   enum 0..2
 *                           is_monotonic              3   V   bool
 *   Histogram               data_points               1   L   HistogramDP*
 *                           aggregation_temporality   2   V   enum
 *   ExponentialHistogram    data_points               1   L   ExpHistogramDP*
 *                           aggregation_temporality   2   V   enum
 *   Summary                 data_points               1   L   SummaryDP*
 *   NumberDataPoint         attributes                7   L   KeyValue*
 *                           start_time_unix_nano      2   8
 *                           time_unix_nano            3   8
 *                           as_double                 4   8   (oneof value)
 *                           as_int                    6   8   sfixed64
 *                           exemplars                 5   L   Exemplar*
 *                           flags                     8   V   uint32
 *   HistogramDataPoint      attributes                9   L   KeyValue*
 *                           start_time_unix_nano      2   8
 *                           time_unix_nano            3   8
 *                           count                     4   8   fixed64
 *                           sum                       5   8   optional double
 *                           bucket_counts             6   L/8 fixed64, packed
 *                                                             or not
 *                           explicit_bounds           7   L/8 double, same
 *                           exemplars                 8   L   Exemplar*
 *                           flags                     10  V   uint32
 *                           min                       11  8   optional double
 *                           max                       12  8   optional double
 *   ExponentialHistogramDP  attributes                1   L   KeyValue*
 *                           start_time_unix_nano      2   8
 *                           time_unix_nano            3   8
 *                           count                     4   8   fixed64
 *                           sum                       5   8   optional double
 *                           scale                     6   V   sint32
 *                           zero_count                7   8   fixed64
 *                           positive                  8   L   Buckets
 *                           negative                  9   L   Buckets
 *                           flags                     10  V   uint32
 *                           exemplars                 11  L   Exemplar*
 *                           min                       12  8   optional double
 *                           max                       13  8   optional double
 *                           zero_threshold            14  8   double
 *   Buckets                 offset                    1   V   sint32
 *                           bucket_counts             2   L/V uint64, packed
 *                                                             or not
 *   SummaryDataPoint        attributes                7   L   KeyValue*
 *                           start_time_unix_nano      2   8
 *                           time_unix_nano            3   8
 *                           count                     4   8   fixed64
 *                           sum                       5   8   double
 *                           quantile_values           6   L   ValueAtQuantile*
 *                           flags                     8   V   uint32
 *   ValueAtQuantile         quantile                  1   8   double
 *                           value                     2   8   double
 *   Exemplar                filtered_attributes       7   L   KeyValue*
 *                           time_unix_nano            2   8
 *                           as_double                 3   8   (oneof value)
 *                           as_int                    6   8   sfixed64
 *                           span_id                   4   L   0 or 8 bytes
 *                           trace_id                  5   L   0 or 16 bytes
 *
 * JSON names: resourceMetrics, scopeMetrics, metrics, name, description,
 * unit, gauge / sum / histogram / exponentialHistogram / summary, metadata,
 * dataPoints, aggregationTemporality (an integer or its
 * AGGREGATION_TEMPORALITY_* name), isMonotonic, attributes,
 * startTimeUnixNano, timeUnixNano, asDouble, asInt, flags, exemplars
 * (filteredAttributes, timeUnixNano, asDouble, asInt, spanId, traceId),
 * count, sum, min, max, bucketCounts, explicitBounds, scale, zeroCount,
 * zeroThreshold, positive / negative {offset, bucketCounts},
 * quantileValues {quantile, value}; the snake_case forms too; 64-bit
 * integers as strings or numbers, doubles as numbers or "NaN" /
 * "Infinity" strings, ids in hex.
 *
 * A metric keeps the data member decoded last (a oneof), a value oneof
 * the member decoded last; a point without a value has is_int false and d
 * 0. Errors: protobuf TR_EPROTO with the message, the resource_metrics
 * index and the byte offset; JSON TR_EINVAL with the JSON path. */
#ifndef TR_PROTO_OTLP_METRICS_H
#define TR_PROTO_OTLP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "proto/otlp_common.h"
#include "proto/otlp_groups.h"

enum tr_otlp_metric_type {
    TR_OTLP_METRIC_NONE = 0, /* no data member */
    TR_OTLP_METRIC_GAUGE,
    TR_OTLP_METRIC_SUM,
    TR_OTLP_METRIC_HISTOGRAM,
    TR_OTLP_METRIC_EXP_HISTOGRAM,
    TR_OTLP_METRIC_SUMMARY,
};

enum tr_otlp_temporality {
    TR_OTLP_TEMPORALITY_UNSPECIFIED = 0,
    TR_OTLP_TEMPORALITY_DELTA = 1,
    TR_OTLP_TEMPORALITY_CUMULATIVE = 2,
};

struct tr_otlp_exemplar {
    const struct tr_otlp_kv *attrs; /* filtered_attributes */
    size_t n_attrs;
    uint64_t time_unix_nano;
    bool is_int;
    double d;
    int64_t i;
    struct tr_slice span_id;  /* empty or 8 bytes */
    struct tr_slice trace_id; /* empty or 16 bytes */
};

/* What every data point has (the first member of each point struct). */
struct tr_otlp_point_common {
    const struct tr_otlp_kv *attrs;
    size_t n_attrs;
    uint64_t start_time_unix_nano;
    uint64_t time_unix_nano;
    uint32_t flags;
    const struct tr_otlp_exemplar *exemplars;
    size_t n_exemplars;
};

struct tr_otlp_number_point {
    struct tr_otlp_point_common c;
    bool is_int; /* as_int was the value member decoded last */
    double d;
    int64_t i;
};

struct tr_otlp_histogram_point {
    struct tr_otlp_point_common c;
    uint64_t count;
    bool has_sum, has_min, has_max;
    double sum, min, max;
    const uint64_t *bucket_counts;
    size_t n_bucket_counts;
    const double *bounds; /* explicit_bounds */
    size_t n_bounds;
};

struct tr_otlp_exp_buckets {
    int32_t offset;
    const uint64_t *counts;
    size_t n_counts;
};

struct tr_otlp_exp_histogram_point {
    struct tr_otlp_point_common c;
    uint64_t count;
    bool has_sum, has_min, has_max;
    double sum, min, max;
    int32_t scale;
    uint64_t zero_count;
    double zero_threshold;
    struct tr_otlp_exp_buckets positive, negative;
};

struct tr_otlp_quantile {
    double quantile;
    double value;
};

struct tr_otlp_summary_point {
    struct tr_otlp_point_common c;
    uint64_t count;
    double sum;
    const struct tr_otlp_quantile *quantiles;
    size_t n_quantiles;
};

struct tr_otlp_metric {
    struct tr_slice name;
    struct tr_slice description;
    struct tr_slice unit;
    uint8_t type;        /* enum tr_otlp_metric_type */
    int32_t temporality; /* sums, histograms (enum tr_otlp_temporality) */
    bool monotonic;      /* sums */
    union {
        const void *points;
        const struct tr_otlp_number_point *numbers; /* gauge, sum */
        const struct tr_otlp_histogram_point *histograms;
        const struct tr_otlp_exp_histogram_point *exp_histograms;
        const struct tr_otlp_summary_point *summaries;
    };
    size_t n_points;
    const struct tr_otlp_kv *metadata;
    size_t n_metadata;
};

/* A decoded request: resources > scopes > metrics (scope->items as struct
 * tr_otlp_metric, scope->n_items). */
struct tr_otlp_metrics {
    const struct tr_otlp_resource_group *resources;
    size_t n_resources;
    size_t n_metrics; /* over all resources and scopes */
    size_t n_points;  /* over all metrics */
    size_t body_len;
};

/* Decodes a protobuf ExportMetricsServiceRequest. Slices point into buf
 * (keep it), arrays come from the arena. 0, TR_EPROTO (what, where and the
 * byte offset in errmsg) or TR_ENOMEM; on error *out is empty. */
int tr_otlp_metrics_decode(const void *buf,
                           size_t len,
                           struct tr_arena *a,
                           struct tr_otlp_metrics *out,
                           char *errmsg);

/* Decodes an OTLP/JSON ExportMetricsServiceRequest (an object; every
 * member optional). 0, TR_EINVAL (the JSON path and what is wrong in
 * errmsg) or TR_ENOMEM; on error *out is empty. */
int tr_otlp_metrics_decode_json(const void *buf,
                                size_t len,
                                struct tr_arena *a,
                                struct tr_otlp_metrics *out,
                                char *errmsg);

#endif
