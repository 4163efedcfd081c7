/* ast.h - PromQL (Prometheus 2.53) abstract syntax tree.
 *
 * Nodes are allocated in the caller's arena by tr_promql_parse (parser.h).
 * Label matchers (lib/matcher.h) hold heap memory (names, values, compiled
 * regexes): release them with tr_promql_ast_free before freeing the arena.
 *
 *   kind          fields                       value type
 *   NUMBER        num                          scalar
 *   STRING        str                          string
 *   VECTOR_SEL    vs (name, matchers, offset, @) instant vector
 *   MATRIX_SEL    ms (vector selector + range; offset/@ live in the
 *                 inner vector selector, as in Prometheus) range vector
 *   SUBQUERY      sq (expr[range:step] offset @) range vector
 *   UNARY         unary (-expr / +expr)        type of expr
 *   BINARY        bin (op, bool, matching)     scalar if both sides are
 *                                              scalars, else instant vector
 *   AGGREGATE     agg (op, param, grouping)    instant vector
 *   CALL          call (function, args)        the function's return type
 *   PAREN         paren (expr)                 type of expr
 *
 * Every node records its byte range [start, end) in the query text. */
#ifndef TR_QUERY_PROMQL_AST_H
#define TR_QUERY_PROMQL_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/matcher.h"
#include "query/promql/lexer.h"

enum tr_promql_type {
    TR_PROMQL_TYPE_NONE,
    TR_PROMQL_TYPE_SCALAR,
    TR_PROMQL_TYPE_VECTOR, /* instant vector */
    TR_PROMQL_TYPE_MATRIX, /* range vector */
    TR_PROMQL_TYPE_STRING,
};

enum tr_promql_kind {
    TR_PROMQL_NODE_NUMBER,
    TR_PROMQL_NODE_STRING,
    TR_PROMQL_NODE_VECTOR_SEL,
    TR_PROMQL_NODE_MATRIX_SEL,
    TR_PROMQL_NODE_SUBQUERY,
    TR_PROMQL_NODE_UNARY,
    TR_PROMQL_NODE_BINARY,
    TR_PROMQL_NODE_AGGREGATE,
    TR_PROMQL_NODE_CALL,
    TR_PROMQL_NODE_PAREN,
};

/* Aggregation operators (Prometheus 2.53). */
enum tr_promql_aggr {
    TR_PROMQL_AGGR_SUM,
    TR_PROMQL_AGGR_AVG,
    TR_PROMQL_AGGR_COUNT,
    TR_PROMQL_AGGR_MIN,
    TR_PROMQL_AGGR_MAX,
    TR_PROMQL_AGGR_GROUP,
    TR_PROMQL_AGGR_STDDEV,
    TR_PROMQL_AGGR_STDVAR,
    TR_PROMQL_AGGR_TOPK,
    TR_PROMQL_AGGR_BOTTOMK,
    TR_PROMQL_AGGR_COUNT_VALUES,
    TR_PROMQL_AGGR_QUANTILE,
};

/* Vector matching cardinality. */
enum tr_promql_card {
    TR_PROMQL_CARD_ONE_TO_ONE,
    TR_PROMQL_CARD_MANY_TO_ONE,  /* group_left */
    TR_PROMQL_CARD_ONE_TO_MANY,  /* group_right */
    TR_PROMQL_CARD_MANY_TO_MANY, /* and, or, unless */
};

/* The @ modifier. */
enum tr_promql_at {
    TR_PROMQL_AT_NONE,
    TR_PROMQL_AT_TIMESTAMP, /* @ <at_ms> */
    TR_PROMQL_AT_START,     /* @ start() */
    TR_PROMQL_AT_END,       /* @ end() */
};

/* A function of the language: argument types, optional/variadic count, and
 * return type, as Prometheus' parser.Functions. variadic: 0 = exactly
 * n_args; > 0 = the last argument may be omitted or repeated up to that many
 * times (min n_args - 1, max n_args - 1 + variadic); -1 = the last argument
 * repeats without limit (min n_args - 1). */
struct tr_promql_func {
    const char *name;
    enum tr_promql_type arg_types[5];
    int n_args;
    int variadic;
    enum tr_promql_type ret;
    bool experimental; /* accepted (Prometheus' experimental flag on) */
};

/* Looks a function up by name (n bytes); NULL when unknown. */
const struct tr_promql_func *tr_promql_func_lookup(const char *name, size_t n);
/* The whole table (sorted by name) and its size, for tests. */
const struct tr_promql_func *tr_promql_funcs(size_t *n);

/* A list of label names (grouping, on/ignoring, group_left/right). */
struct tr_promql_labels {
    const char **names; /* arena strings, in input order */
    size_t n;
};

struct tr_promql_node {
    enum tr_promql_kind kind;
    enum tr_promql_type type; /* value type of the expression */
    size_t start;             /* byte range in the query */
    size_t end;
    unsigned height; /* of the subtree (1 for a leaf), bounds recursion */
    union {
        struct {
            double val;
        } num;
        struct {
            const char *val; /* arena, unquoted, NUL-terminated */
            size_t len;
        } str;
        struct {
            const char *name; /* metric name before the braces or NULL */
            /* matchers in input order; with a name, its __name__ equality
             * matcher comes last (as in Prometheus) */
            struct tr_matcher *matchers; /* arena array, heap contents */
            size_t n_matchers;
            int64_t offset_ms; /* may be negative */
            enum tr_promql_at at;
            int64_t at_ms; /* for TR_PROMQL_AT_TIMESTAMP */
        } vs;
        struct {
            struct tr_promql_node *vs; /* a VECTOR_SEL */
            int64_t range_ms;
        } ms;
        struct {
            struct tr_promql_node *expr;
            int64_t range_ms;
            int64_t step_ms; /* 0: the default evaluation interval */
            int64_t offset_ms;
            enum tr_promql_at at;
            int64_t at_ms;
        } sq;
        struct {
            enum tr_promql_tok op; /* TR_PROMQL_ADD or TR_PROMQL_SUB */
            struct tr_promql_node *expr;
        } unary;
        struct {
            enum tr_promql_tok op; /* TR_PROMQL_ADD .. TR_PROMQL_ATAN2 */
            size_t op_pos;
            bool return_bool;
            struct tr_promql_node *lhs;
            struct tr_promql_node *rhs;
            /* Vector matching; meaningful only when both sides are
             * instant vectors (has_matching). */
            bool has_matching;
            enum tr_promql_card card;
            bool on; /* on(...) rather than ignoring(...) */
            struct tr_promql_labels matching;
            struct tr_promql_labels include; /* group_x(...) labels */
        } bin;
        struct {
            enum tr_promql_aggr op;
            struct tr_promql_node *expr;
            struct tr_promql_node *param; /* topk/bottomk/quantile/
                                             count_values, else NULL */
            bool without;
            struct tr_promql_labels grouping;
        } agg;
        struct {
            const struct tr_promql_func *func;
            struct tr_promql_node **args;
            size_t n_args;
        } call;
        struct {
            struct tr_promql_node *expr;
        } paren;
    };
};

/* Frees the heap memory of every matcher in the tree (the nodes themselves
 * stay in the arena). NULL is a no-op. */
void tr_promql_ast_free(struct tr_promql_node *n);

/* Names: "sum", "count_values", ...; "+", "==", "and", "atan2", ... */
const char *tr_promql_aggr_name(enum tr_promql_aggr op);
const char *tr_promql_binop_name(enum tr_promql_tok op);
/* "scalar", "instant vector", "range vector", "string" (Prometheus'
 * DocumentedType) and "scalar", "vector", "matrix", "string" (ValueType). */
const char *tr_promql_type_doc(enum tr_promql_type t);
const char *tr_promql_type_name(enum tr_promql_type t);

/* True for == != < <= > >= / and or unless. */
bool tr_promql_op_is_comparison(enum tr_promql_tok op);
bool tr_promql_op_is_set(enum tr_promql_tok op);

/* Appends Prometheus' canonical String() form of n to out (the form
 * /api/v1/format_query returns), e.g.
 *   sum by (job) (rate(http_requests_total{job="api"}[5m]))
 * Out of memory is recorded in out->oom. */
void tr_promql_format(const struct tr_promql_node *n, struct tr_buf *out);
/* Prometheus' model.Duration form: "1h30m", "1d", "2w", "100ms", "0s". */
void tr_promql_format_duration(int64_t ms, struct tr_buf *out);
/* Go's strconv.FormatFloat(v, 'f', -1, 64), with "+Inf", "-Inf", "NaN". */
void tr_promql_format_float(double v, struct tr_buf *out);
/* Go's strconv.Quote of s[0..n). */
void tr_promql_format_quote(const char *s, size_t n, struct tr_buf *out);

#endif
