/* otlp_prom.h - OTLP metrics mapped to Prometheus series, as Prometheus
 * 3's OTLP receiver does with its default settings (translation strategy
 * UnderscoreEscapingWithSuffixes, no promoted resource attributes, scope
 * metadata not promoted, target_info on, no created series, no native
 * histograms); the result is a remote-write 1.0 request
 * (proto/prw.h) that the remote-write path validates and stores.
 *
 * Metric names (Prometheus' otlptranslator MetricNamer with suffixes):
 *   - the name is cut into tokens at every byte other than [A-Za-z0-9:]
 *     (so runs of '_', '.', '-' become one '_');
 *   - the unit is split at the first '/' into a main and a "per" unit,
 *     each trimmed of spaces; a part holding '{' or '}' (an annotation
 *     such as "{request}") is dropped; the main unit is translated by the
 *     table below (other units are kept as they are), the per unit by its
 *     own table and prefixed "per_"; both then have invalid bytes turned
 *     into '_', runs of '_' collapsed and a leading '_' removed; each is
 *     appended as a token unless a token already equals it;
 *   - monotonic cumulative sums: every "total" token removed, "total"
 *     appended; gauges whose unit is exactly "1": every "ratio" token
 *     removed, "ratio" appended;
 *   - tokens joined with '_', a '_' put before a leading digit; an empty
 *     result rejects the metric.
 *
 *   UNIT  SUFFIX        UNIT  SUFFIX        UNIT  SUFFIX      PER  SUFFIX
 *   d     days          By    bytes         m     meters      s    second
 *   h     hours         KiBy  kibibytes     V     volts       m    minute
 *   min   minutes       MiBy  mebibytes     A     amperes     h    hour
 *   s     seconds       GiBy  gibibytes     J     joules      d    day
 *   ms    milliseconds  TiBy  tibibytes     W     watts       w    week
 *   us    microseconds  KBy   kilobytes     g     grams       mo   month
 *   ns    nanoseconds   MBy   megabytes     Cel   celsius     y    year
 *   1     (none)        GBy   gigabytes     Hz    hertz
 *   %     percent       TBy   terabytes
 *
 * Labels of a data point: its attributes (values as text, as pdata's
 * AsString), names made valid by tr_otlp_label_name (proto/otlp_common.h);
 * attributes whose names collide once made valid are merged, their values
 * joined with ';' in the order of the original names; then job =
 * "<service.namespace>/<service.name>" (or service.name alone) and
 * instance = service.instance.id from the resource, when present, and
 * __name__ (plus le or quantile), each replacing an attribute of that
 * name. Resource attributes are not copied onto the series: they go to
 * target_info.
 *
 * Series per data type (value flags bit 0, no recorded value, turns every
 * sample of the point into Prometheus' stale marker):
 *   gauge, non-monotonic cumulative sum   <name> (type gauge)
 *   monotonic cumulative sum              <name> (name ends in _total)
 *   histogram (cumulative)                <name>_bucket{le="<bound>"} with
 *       cumulative counts, le="+Inf" = count; <name>_count; <name>_sum when
 *       the point has a sum. Bounds and quantiles are written as Go's
 *       strconv.FormatFloat(v, 'f', -1, 64) ("0.005", "1000000")
 *   summary                               <name>{quantile="<q>"},
 *       <name>_sum, <name>_count
 *   delta sums and histograms, sums and histograms with an unspecified
 *   temporality, exponential histograms: rejected (counted in
 *   rejected_points with a message) - no native histograms yet.
 * Timestamps: time_unix_nano / 1e6 (ms, truncated).
 *
 * target_info: per resource with at least one attribute other than
 * service.name, service.namespace and service.instance.id, and with job or
 * instance: the other attributes as labels plus job and instance, value
 * 1, one sample every 150 s (half the 5 m lookback) from the earliest to
 * the latest point time of the resource's metrics and one at the latest.
 * (Unlike Prometheus, at most TR_OTLP_PROM_MAX_INFO_SAMPLES samples: the
 * latest ones.)
 *
 * Exemplars (Prometheus' rules): labels trace_id and span_id (lower-case
 * hex) when set, then the filtered attributes (names as sent) unless all
 * labels together exceed 128 characters; on the number point's series, or
 * on the bucket series of the smallest bound >= the exemplar's value.
 *
 * Metadata: one record per metric converted: type (counter, gauge,
 * histogram, summary), family name, description as help, unit as sent. */
#ifndef TR_PROTO_OTLP_PROM_H
#define TR_PROTO_OTLP_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "proto/otlp_metrics.h"
#include "proto/prw.h"

#define TR_OTLP_PROM_MAX_INFO_SAMPLES 1000
#define TR_OTLP_PROM_INFO_INTERVAL_MS 150000

struct tr_otlp_prom_stats {
    uint64_t points;          /* data points in the request */
    uint64_t rejected_points; /* data points not converted */
    unsigned n_errors;        /* distinct reasons (metrics) rejected */
    /* the first reasons, "; "-separated ("metric \"x\": delta temporality
     * is not supported ..."), then "(and N more)" */
    char errmsg[TR_ERRMSG_SIZE];
};

/* Appends the Prometheus metric family name of m (rules above) to out.
 * TR_EINVAL (message in errmsg) when the name comes out empty; TR_ENOMEM. */
int tr_otlp_prom_metric_name(const struct tr_otlp_metric *m,
                             struct tr_buf *out,
                             char *errmsg);

/* Converts a decoded request into a remote-write 1.0 request: series
 * (labels unsorted, as a sender would send them), samples, exemplars and
 * request-level metadata, all in arena a (strings may also point into the
 * request's body). Points that cannot be converted are counted in *st with
 * the reasons. 0 or TR_ENOMEM. */
int tr_otlp_prom_convert(const struct tr_otlp_metrics *m,
                         struct tr_arena *a,
                         struct tr_prw_request *out,
                         struct tr_otlp_prom_stats *st);

#endif
