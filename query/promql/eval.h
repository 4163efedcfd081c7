/* eval.h - PromQL (Prometheus 2.53) evaluator.
 *
 * Every selector of the expression is fetched once through the select
 * interface (storage/select.h) for the whole time range it can read:
 *   [start - lookback (or range) - offset - enclosing subquery ranges,
 *    end - offset]
 * with its matchers pushed down. The expression is then evaluated step by
 * step (start, start + step, ..., end):
 *   - instant selectors take the newest sample in [t - lookback, t] (the
 *     series is dropped when there is none or it is a stale marker);
 *   - matrix selectors take the samples in [t - range, t] (stale markers
 *     skipped) - both intervals closed, as Prometheus 2.x;
 *   - offset shifts t, @ pins it (start()/end() are the query's bounds);
 *   - subqueries evaluate their inner expression at the multiples of their
 *     step inside [t - offset - range, t - offset];
 *   - binary operators, aggregations and functions (funcs_eval.c through
 *     tr_pq_func_impl) as Prometheus' engine.
 * Range queries merge the step vectors into series (sorted by labels). */
#ifndef TR_QUERY_PROMQL_EVAL_H
#define TR_QUERY_PROMQL_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "query/promql/ast.h"
#include "query/promql/value.h"
#include "storage/select.h"

#define TR_PROMQL_DEFAULT_LOOKBACK_MS (5 * 60 * 1000)
#define TR_PROMQL_DEFAULT_SUBQUERY_STEP_MS (60 * 1000)
#define TR_PROMQL_MAX_POINTS 11000

struct tr_promql_eval_opts {
    int64_t lookback_ms;      /* 0: 5m */
    size_t max_samples;       /* samples in memory at once; 0: unlimited */
    int64_t deadline_mono_ns; /* tr_mono_ns() deadline; 0: none */
    int64_t subquery_step_ms; /* default subquery step; 0: 1m */
    size_t max_series;        /* series selected, over all selectors; 0:
                                 unlimited */
    /* receives Prometheus' warnings and infos (the caller frees them with
     * tr_pq_annos_free); NULL: not collected */
    struct tr_pq_annos *annos;
};

/* Evaluates expr (from tr_promql_parse) over [start_ms, end_ms]:
 * step_ms == 0 is an instant query at start_ms (end_ms ignored) whose
 * result is a scalar, vector, string or matrix value; step_ms > 0 is a
 * range query whose result is a matrix (one point per step, series sorted
 * by labels; scalars become a series without labels). opts may be NULL.
 * Everything in *out lives in a (the caller frees the arena).
 * Returns 0, or with errmsg (TR_ERRMSG_SIZE) set:
 *   TR_EINVAL  bad request (expression type for a range query, too many
 *              points per series);
 *   TR_EEXEC   evaluation error (Prometheus' message, e.g. many-to-many
 *              matching);
 *   TR_ELIMIT  too many samples;
 *   TR_ETIMEOUT the deadline passed;
 *   TR_ENOMEM, or the select source's error. */
int tr_promql_eval(const struct tr_select_source *src,
                   struct tr_slice tenant,
                   const struct tr_promql_node *expr,
                   int64_t start_ms,
                   int64_t end_ms,
                   int64_t step_ms,
                   const struct tr_promql_eval_opts *opts,
                   struct tr_arena *a,
                   struct tr_pq_value *out,
                   char *errmsg);

/* Prometheus' labels.String(): {__name__="a", b="c"}. */
void tr_pq_labels_format(const struct tr_label *ls,
                         size_t n,
                         struct tr_buf *out);

#endif
