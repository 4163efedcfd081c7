/* eval_int.h - pieces shared by the LogQL evaluator's files: the compiled
 * pipeline (eval_pipeline.c), the push-down analysis, label helpers and the
 * deadline/limit context.
 *
 * The compiled pipeline hides stages.h from the rest of the evaluator:
 * stages.h and ast.h declare some of the same names (enum tr_logql_cmp,
 * struct tr_logql_line_filter, ...) with other members, so no file can
 * include both plainly; eval_pipeline.c includes ast.h under renaming
 * macros and is the only file that sees stages.h. */
#ifndef TR_QUERY_LOGQL_EVAL_INT_H
#define TR_QUERY_LOGQL_EVAL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "query/logql/ast.h"
#include "storage/labels.h"
#include "query/promql/value.h"
#include "storage/log_entry.h"
#include "storage/log_select.h"

/* What one entry became after the pipeline (valid until the next
 * tr_logql_pipe_run on the same pipeline). */
struct tr_logql_pipe_out {
    struct tr_slice line;    /* line after line_format etc. */
    struct tr_label *labels; /* final label set, sorted by name (with
                                __error__ / __error_details__) */
    size_t n_labels;
    uint8_t *cats;  /* category of each label: 0 stream, 1 meta, 2 parsed */
    bool has_value; /* unwrap produced a value */
    double value;   /* the unwrapped value */
    bool has_err;   /* __error__ is set */
};

struct tr_logql_pipe; /* opaque */

/* Compiles log's stages (and unwrap with its post filters when not NULL)
 * into a pipeline. 0, TR_EINVAL (errmsg: Loki's message for a template,
 * json path, ... that does not compile) or TR_ENOMEM. */
int tr_logql_pipe_new(const struct tr_logql_log *log,
                      const struct tr_logql_unwrap *unwrap,
                      struct tr_logql_pipe **out,
                      char *errmsg);
void tr_logql_pipe_free(struct tr_logql_pipe *p);
/* Sets the stream labels for the next entries. 0 or TR_ENOMEM. */
int tr_logql_pipe_stream(struct tr_logql_pipe *p,
                         const struct tr_label *labels,
                         size_t n);
/* Runs one entry: 1 kept (out set), 0 dropped, TR_ENOMEM. */
int tr_logql_pipe_run(struct tr_logql_pipe *p,
                      const struct tr_log_line *l,
                      struct tr_logql_pipe_out *out);

/* Push-down of a log selector's leading stages. */
struct tr_logql_pushdown {
    struct tr_slice *needles; /* arena array */
    size_t n_needles;
    struct tr_label *meta; /* arena array */
    size_t n_meta;
    bool filters_left; /* some stage that is not pushed down may drop
                          lines */
};

/* Fills pd from log's leading stages (arrays in a). 0 or TR_ENOMEM. */
int tr_logql_pushdown_plan(const struct tr_logql_log *log,
                           struct tr_arena *a,
                           struct tr_logql_pushdown *pd);

/* Evaluation context shared by log and metric evaluation. */
struct tr_logql_ctx {
    const struct tr_log_source *src;
    struct tr_slice tenant;
    struct tr_arena *a; /* results */
    char *errmsg;
    int64_t deadline; /* tr_mono_ns(); 0 none */
    size_t max_series;
    struct tr_select_budget *budget; /* NULL: none */
    struct tr_select_budget budget_store;
    struct tr_log_stats stats;
    bool meta_unpushed; /* a select kept a metadata equality in the
                           pipeline (a stream carries that label) */
};

/* TR_ETIMEOUT with Loki's message once the deadline passed; else 0. */
int tr_logql_ctx_check(struct tr_logql_ctx *c);
/* One select through the source with the context's budget. */
int tr_logql_ctx_select(struct tr_logql_ctx *c,
                        const struct tr_logql_log *log,
                        const struct tr_logql_pushdown *pd,
                        int64_t start,
                        int64_t end,
                        enum tr_log_direction dir,
                        size_t limit,
                        struct tr_log_result *res);

/* qsort that accepts n == 0 with base NULL. */
void tr_logql_sort(void *base,
                   size_t n,
                   size_t size,
                   int (*cmp)(const void *, const void *));

/* Copies labels into a (sorted input stays sorted). NULL on OOM (n > 0). */
struct tr_label *tr_logql_labels_dup(struct tr_arena *a,
                                     const struct tr_label *ls,
                                     size_t n);
/* Loki's pipeline error for a series with __error__. Returns TR_EEXEC. */
int tr_logql_pipeline_err(const struct tr_label *ls, size_t n, char *errmsg);

/* A step value: a scalar or an instant vector (labels sorted). */
struct tr_logql_sv {
    bool scalar;
    double s;
    struct tr_pq_vector v;
};

/* Vector aggregation of in (op, k, grouping of e) into out (arena a). 0 or
 * TR_ENOMEM. */
int tr_logql_vec_aggr(const struct tr_logql_expr *e,
                      const struct tr_pq_vector *in,
                      int64_t t_ms,
                      struct tr_arena *a,
                      struct tr_pq_vector *out);
/* Binary operation of e on two evaluated operands (not both scalars).
 * 0, TR_EEXEC (Loki's matching errors in errmsg) or TR_ENOMEM. */
int tr_logql_binop(const struct tr_logql_expr *e,
                   const struct tr_logql_sv *l,
                   const struct tr_logql_sv *r,
                   int64_t t_ms,
                   struct tr_arena *a,
                   struct tr_logql_sv *out,
                   char *errmsg);
/* Scalar binary operation as Loki's (x / 0 and x % 0 are NaN); *keep
 * false when a comparison is false. */
double tr_logql_scalar_op(enum tr_logql_binop op,
                          double l,
                          double r,
                          bool *keep);
/* label_replace of e over in (PromQL's). 0, TR_EEXEC or TR_ENOMEM. */
int tr_logql_label_replace(const struct tr_logql_expr *e,
                           const struct tr_pq_vector *in,
                           struct tr_arena *a,
                           struct tr_pq_vector *out,
                           char *errmsg);
/* Labels of ls kept by a grouping (by: only names; without: all but names)
 * into a (sorted). NULL with *n 0 for an empty result; TR_ENOMEM. */
int tr_logql_labels_group(const struct tr_label *ls,
                          size_t n,
                          const struct tr_logql_labels *names,
                          bool without,
                          struct tr_arena *a,
                          struct tr_label **out,
                          size_t *n_out);

#endif
