/* eval.h - LogQL (Loki 3.x) evaluator: log queries and metric queries over
 * the logs read interface (storage/log_select.h).
 *
 * LOG QUERIES (tr_logql_select_logs): the selector's streams in [start,
 * end) run through the pipeline; entries are grouped into result streams
 * by their final label set and the `limit` entries first in the query's
 * direction across every stream are returned (backward: the newest
 * `limit`, newest first; forward: the oldest, oldest first), as Loki's
 * merge of stream iterators (equal times: by labels, then read order).
 * What is read is kept small:
 *   - leading `|= "x"` filters become needles and a leading `| name="v"`
 *     (a name no selected stream carries, v non-empty) a metadata
 *     equality, pushed down to the source (both exact there; whether a
 *     stream carries the name is learnt from a no_lines select first);
 *   - when nothing else can drop a line, one select with `limit` entries
 *     per stream is enough;
 *   - otherwise the range is read in time slices from the direction's edge
 *     (a window that doubles each time) until `limit` lines came out of
 *     the pipeline.
 *
 * METRIC QUERIES (tr_logql_eval_metric): every range aggregation reads its
 * selector once for [first step - offset - range, last step - offset],
 * runs the pipeline and the sample extraction (count, bytes or an unwrap
 * value) and keeps per-series samples; each step t then aggregates the
 * samples in Loki's left-open window (t - offset - range, t - offset].
 * Vector aggregations, binary operations (vector matching as Loki/
 * Prometheus: on, ignoring, group_left, group_right, bool, and/or/unless),
 * label_replace, vector() and literals work step by step on those vectors.
 * A sample whose labels still carry __error__ fails the query with Loki's
 * pipeline error ("pipeline error: 'JSONParserErr' for series: ...") unless
 * a label filter removed the error.
 *
 * Results use PromQL's value types (query/promql/value.h) so the JSON layer
 * writes both alike: timestamps in ms, label sets sorted by name.
 *
 * Errors (every function): 0, or a negative code with errmsg
 * (TR_ERRMSG_SIZE) set:
 *   TR_EINVAL   bad request (a log query at /query, a pipeline that does
 *               not compile: template, json path, ..., a range query of
 *               an instant-only aggregation);
 *   TR_EEXEC    evaluation error (Loki's message: pipeline error, many-to-
 *               many matching, ...);
 *   TR_ELIMIT   a per-query limit (Loki's message: "maximum of series (500)
 *               reached for a single query", "max entries limit per query
 *               exceeded, limit > max_entries_limit (6000 > 5000)", or the
 *               source's bytes limit);
 *   TR_ETIMEOUT the deadline passed;
 *   TR_ENOMEM, or the source's own code. */
#ifndef TR_QUERY_LOGQL_EVAL_H
#define TR_QUERY_LOGQL_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "query/logql/ast.h"
#include "query/promql/value.h"
#include "storage/log_select.h"

/* Per-query limits; 0 everywhere means unlimited. */
struct tr_logql_opts {
    size_t max_entries;       /* log queries: limit above it is refused */
    size_t max_series;        /* streams / series in a result */
    size_t max_bytes;         /* line bytes read from the source (shared
                                 tr_select_budget over every select) */
    int64_t deadline_mono_ns; /* tr_mono_ns() deadline; 0: none */
    size_t max_points;        /* points per series of a range query
                                 (0: 11000, Loki's limit) */
    bool categorize_labels;   /* log queries: group entries into streams
                                 by their stream labels only (Loki's
                                 categorize-labels response); metadata and
                                 parsed labels stay with each entry */
};

/* One entry of a log query result. */
struct tr_logql_entry {
    int64_t ts;           /* ns since the epoch */
    struct tr_slice line; /* the line after the pipeline (line_format) */
    /* The entry's labels outside the stream's own, for Loki's
     * categorize-labels form: structured metadata and parsed labels (both
     * sorted by name; __error__ / __error_details__ are parsed). */
    struct tr_label *meta;
    size_t n_meta;
    struct tr_label *parsed;
    size_t n_parsed;
};

/* One stream of a log query result: entries sharing a final label set
 * (with categorize_labels: sharing their stream labels). */
struct tr_logql_stream {
    struct tr_label *labels; /* final label set, sorted by name (with
                                categorize_labels: the stream labels) */
    size_t n_labels;
    /* The stream labels only (category stream of the final set). */
    struct tr_label *stream_labels;
    size_t n_stream_labels;
    struct tr_logql_entry *entries; /* in the query's direction */
    size_t n_entries;
};

struct tr_logql_streams {
    struct tr_logql_stream *streams; /* sorted by labels */
    size_t n_streams;
    size_t n_entries;          /* over every stream (<= limit) */
    struct tr_log_stats stats; /* summed over the selects */
};

/* True when expr returns samples (every kind but a log query). */
bool tr_logql_is_metric(const struct tr_logql_expr *expr);

/* Checks expr for /loki/api/v1/query (instant): a log query is refused
 * (TR_EINVAL, "log queries are not supported as an instant query type,
 * please change your query to a range query type"). 0 otherwise. */
int tr_logql_check_instant(const struct tr_logql_expr *expr, char *errmsg);

/* Runs the log query expr (kind LOG) over [start_ns, end_ns) and fills
 * *out with at most limit entries (limit 0: 100, Loki's default) in
 * direction. Everything in *out lives in a (the caller frees the arena).
 * opts may be NULL. Returns 0 or an error as above (TR_EINVAL for a
 * metric expression). */
int tr_logql_select_logs(const struct tr_log_source *src,
                         struct tr_slice tenant,
                         const struct tr_logql_expr *expr,
                         int64_t start_ns,
                         int64_t end_ns,
                         size_t limit,
                         enum tr_log_direction direction,
                         const struct tr_logql_opts *opts,
                         struct tr_arena *a,
                         struct tr_logql_streams *out,
                         char *errmsg);

/* Evaluates the metric query expr. step_ns == 0: an instant query at
 * start_ns (end_ns ignored), result a vector (samples stamped start in ms)
 * or a scalar; step_ns > 0: a range query at start, start + step, ...,
 * <= end, result a matrix (series sorted by labels; a scalar expression
 * becomes one series without labels). Everything in *out lives in a.
 * opts may be NULL. Returns 0 or an error as above. */
int tr_logql_eval_metric(const struct tr_log_source *src,
                         struct tr_slice tenant,
                         const struct tr_logql_expr *expr,
                         int64_t start_ns,
                         int64_t end_ns,
                         int64_t step_ns,
                         const struct tr_logql_opts *opts,
                         struct tr_arena *a,
                         struct tr_pq_value *out,
                         char *errmsg);

/* True when an instant query's vector (from tr_logql_eval_metric) keeps
 * the order of sort / sort_desc at the top of the expression (also under
 * an operation with a literal); other vectors are sorted by labels. */
bool tr_logql_result_ordered(const struct tr_logql_expr *expr);

#endif
