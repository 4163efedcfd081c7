/* eval.h - TraceQL search evaluation over one trace at a time (Tempo 2.x
 * semantics for spanset filters, spanset operators, structural operators
 * and pipelines; metrics queries are not evaluated here).
 *
 * A trace is a span batch holding only that trace's spans
 * (storage/trace_select.h). The result is a list of spansets: each the
 * spans that matched (indexes into the batch, ascending), their count,
 * and the by() values of its group. A trace matches when the list is not
 * empty.
 *
 * Semantics (Tempo's):
 *   { e }      the spans for which e is true; an attribute or intrinsic of
 *              event or link scope makes e true for a span when it is true
 *              for one of its events (links); unscoped .x is the span's
 *              attribute, else the resource's
 *   A && B     A's and B's spans when both are non-empty, else none
 *   A || B     A's and B's spans
 *   A > B      B's spans whose parent is in A (child); A < B: B's spans
 *              that are the parent of a span in A; A >> B / A << B:
 *              descendants / ancestors; A ~ B: B's spans with a sibling
 *              (another span, same parent) in A; !op: B's spans without
 *              the relation; &op: A's and B's spans that have it
 *   | { e }    keeps the spans of each spanset for which e holds
 *   | count() > 2, avg(duration) > 1s, ...: keeps the spansets for which
 *              the comparison of their aggregates holds
 *   | by(e)    splits each spanset by e's value; | coalesce() joins them
 *   | select(...) adds attributes to the output (tr_traceql_eval_attrs)
 * Comparisons of different types are false (numbers compare across int,
 * float and duration); an array attribute compares true when an element
 * does (!= and !~: when none is equal / matches); regexes are fully
 * anchored (Go RE2 syntax through PCRE2). */
#ifndef TR_QUERY_TRACEQL_EVAL_H
#define TR_QUERY_TRACEQL_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "proto/otlp_common.h"
#include "query/traceql/traceql.h"
#include "storage/trace_select.h"

struct tr_traceql_eval; /* a prepared query (regexes compiled) */

struct tr_traceql_spanset_out {
    size_t *spans; /* indexes into the trace batch's spans, ascending */
    size_t n;
    struct tr_otlp_kv *by; /* by() keys ("by(.x)") and values */
    size_t n_by;
};

struct tr_traceql_match {
    struct tr_traceql_spanset_out *sets;
    size_t n;
};

/* Prepares a parsed and validated spanset or scalar-filter query. 0,
 * TR_EINVAL (a regex that does not compile; a metrics query: errmsg),
 * TR_ENOMEM. */
int tr_traceql_eval_new(const struct tr_traceql_query *q,
                        struct tr_traceql_eval **out,
                        char *errmsg);
void tr_traceql_eval_free(struct tr_traceql_eval *ev);

/* Evaluates over one trace; out's memory comes from a. 0 or TR_ENOMEM. */
int tr_traceql_eval_trace(struct tr_traceql_eval *ev,
                          const struct tr_span_batch *trace,
                          struct tr_arena *a,
                          struct tr_traceql_match *out);

/* True when the query's answer for a trace is the union of its answers
 * over any split of the trace's spans (one spanset filter or a pipeline
 * of them, no trace-level intrinsic, structure or aggregate): parts of a
 * trace may then be evaluated apart and merged by trace id. */
bool tr_traceql_eval_span_local(const struct tr_traceql_eval *ev);

/* Equalities every matching trace has (for pruning), at most max; the
 * slices point into the query's arena. Returns the count. */
size_t tr_traceql_eval_prune(const struct tr_traceql_eval *ev,
                             struct tr_trace_eq *out,
                             size_t max);

/* The attributes a result span shows: those the query's conditions name
 * and those select() adds (intrinsics too). */
void tr_traceql_eval_attrs(const struct tr_traceql_eval *ev,
                           const struct tr_traceql_attr *const **attrs,
                           size_t *n);

/* The value of attr for span i of trace as an OTLP value (intrinsics:
 * strings for names, status and kind names, ints for durations in ns);
 * false when the span has none. */
bool tr_traceql_eval_value(const struct tr_traceql_eval *ev,
                           const struct tr_span_batch *trace,
                           size_t i,
                           const struct tr_traceql_attr *attr,
                           struct tr_arena *a,
                           struct tr_otlp_value *out);

#endif
