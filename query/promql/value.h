/* value.h - PromQL evaluation values and the function-call interface
 * shared by the evaluator (query/promql/eval.c) and the function
 * implementations (query/promql/funcs_eval.c).
 *
 * All memory of values lives in the evaluation's arena. Label sets are
 * sorted by name (storage/labels.h). Timestamps are ms, values bit-exact
 * float64. */
#ifndef TR_QUERY_PROMQL_VALUE_H
#define TR_QUERY_PROMQL_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "query/promql/ast.h"
#include "storage/labels.h"

struct tr_pq_point {
    int64_t t;
    double v;
};

/* One element of an instant vector. */
struct tr_pq_sample {
    struct tr_label *labels;
    size_t n_labels;
    int64_t t; /* the evaluation timestamp (Prometheus' T) */
    double v;
};

struct tr_pq_vector {
    struct tr_pq_sample *s;
    size_t n;
};

/* One element of a range vector: the points of a series inside the range
 * [t - range, t] (closed, as Prometheus 2.53), sorted by time. */
struct tr_pq_series {
    struct tr_label *labels;
    size_t n_labels;
    struct tr_pq_point *pts;
    size_t n;
};

struct tr_pq_matrix {
    struct tr_pq_series *s;
    size_t n;
};

struct tr_pq_value {
    enum tr_promql_type type;
    double scalar;   /* TR_PROMQL_TYPE_SCALAR */
    const char *str; /* TR_PROMQL_TYPE_STRING (arena) */
    size_t str_len;
    struct tr_pq_vector vec; /* TR_PROMQL_TYPE_VECTOR */
    struct tr_pq_matrix mat; /* TR_PROMQL_TYPE_MATRIX */
};

/* Annotations of one evaluation: Prometheus' "warnings" and "infos"
 * (util/annotations), deduplicated by message; the position (byte offset
 * into the query of the node the annotation is about) of the last one
 * added is kept, as Prometheus' map does. */
struct tr_pq_anno {
    bool info;  /* "PromQL info: ..." rather than "PromQL warning: ..." */
    size_t pos; /* byte offset of the node in the query */
    char *msg;  /* heap */
};
struct tr_pq_annos {
    struct tr_pq_anno *v; /* heap */
    size_t n;
    size_t cap;
    size_t omitted_warnings; /* beyond TR_PQ_ANNOS_MAX distinct ones */
    size_t omitted_infos;
};
#define TR_PQ_ANNOS_MAX 1024

/* Adds one annotation (a NULL a is a no-op). */
void tr_pq_annos_add(struct tr_pq_annos *a,
                     bool info,
                     size_t pos,
                     const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));
/* Moves every annotation of src into dst (src is left empty). */
void tr_pq_annos_merge(struct tr_pq_annos *dst, struct tr_pq_annos *src);
void tr_pq_annos_free(struct tr_pq_annos *a);
/* Go's fmt %g of v into buf (n >= 32): shortest digits, exponent form
 * ("1e+06", "2.5e-05") when the exponent is below -4 or at least 6,
 * "NaN", "+Inf", "-Inf". */
void tr_pq_go_fmt_g(char *buf, size_t n, double v);

/* Context of one function call at one evaluation step. */
struct tr_pq_fctx {
    struct tr_arena *arena;            /* for the output */
    int64_t ts;                        /* evaluation time, ms */
    int64_t range_ms;                  /* matrix argument's range (rate etc.) */
    const struct tr_promql_node *call; /* the CALL node (absent() reads
                                          its argument's matchers) */
    char *errmsg;                      /* TR_ERRMSG_SIZE */
    /* set by sort/sort_desc/sort_by_label*: the result's order matters */
    bool ordered;
    /* End of the matrix argument's range (ts minus offset, @ applied) when
     * has_range_end; otherwise rate/increase/delta derive it from the CALL
     * node (offset, @ <timestamp>). */
    bool has_range_end;
    int64_t range_end_ms;
    /* where warnings and infos go; NULL: nowhere */
    struct tr_pq_annos *annos;
};

/* A PromQL function: args as evaluated (matrix arguments hold the points
 * of [ts - range, ts] for this step). Writes the resulting instant vector
 * (or, for scalar-returning functions, a one-element vector without
 * labels: the evaluator converts it). Returns 0 or TR_EEXEC (errmsg set,
 * e.g. Prometheus' "invalid regular expression in label_replace(): ..."). */
typedef int (*tr_pq_func_fn)(struct tr_pq_fctx *ctx,
                             const struct tr_pq_value *args,
                             size_t n_args,
                             struct tr_pq_vector *out);

/* The implementation of a function by name, NULL when not implemented. */
tr_pq_func_fn tr_pq_func_impl(const char *name);

/* The per-series core of a range function (rate, *_over_time, deriv, ...):
 * one value from the points of series s inside the range ending at
 * ctx->range_end_ms (args as for the function; the matrix argument is s).
 * *st (0 on entry) set to 1 drops the series at this step, to a TR_E*
 * code (errmsg set) fails the call. */
typedef double (*tr_pq_over_fn)(struct tr_pq_fctx *ctx,
                                const struct tr_pq_value *args,
                                const struct tr_pq_series *s,
                                int *st);

/* Prometheus' InvalidQuantileWarning when q is outside [0, 1] or NaN; pos
 * is the quantile argument's position. */
void tr_pq_warn_quantile(struct tr_pq_annos *a, double q, size_t pos);

/* Prometheus' PossibleNonCounterInfo: rate() or increase() over a matrix
 * selector gave a result for a series whose metric name does not end in
 * _total, _sum, _count or _bucket (call this for such series). */
void tr_pq_note_non_counter(struct tr_pq_fctx *ctx,
                            const struct tr_label *ls,
                            size_t n);

/* Whether function name is a range function with a per-series core: its
 * core, the index of its matrix argument, and whether the result keeps the
 * metric name. */
bool tr_pq_func_over(const char *name,
                     tr_pq_over_fn *f,
                     size_t *mat_arg,
                     bool *keep_name);

/* Label helpers for functions and the evaluator (arena copies). */
struct tr_label *tr_pq_labels_drop_name(struct tr_arena *a,
                                        const struct tr_label *ls,
                                        size_t n,
                                        size_t *out_n);
struct tr_label *tr_pq_labels_set(struct tr_arena *a,
                                  const struct tr_label *ls,
                                  size_t n,
                                  const char *name,
                                  const char *value,
                                  size_t value_len,
                                  size_t *out_n); /* "" value removes */

#endif
