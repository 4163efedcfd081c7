/* traceql.h - TraceQL (Tempo 2.x/3.x) front end: parser, AST, validation
 * and canonical formatter. No evaluation here.
 *
 * tr_traceql_parse builds the tree in the caller's arena (nothing else to
 * free); tr_traceql_validate runs Tempo's semantic checks (validate()
 * methods of pkg/traceql) and tells "invalid" from "not yet supported".
 *
 * A query (struct tr_traceql_query) is one of:
 *
 *   kind           what                                    Tempo's rule
 *   SPANSET        a spanset pipeline or an expression of  spansetPipeline,
 *                  parenthesised pipelines (spanset)       spansetPipeline-
 *                                                          Expression
 *   SCALAR_FILTER  (pipeline | aggr) op (pipeline | aggr)  scalarPipeline-
 *                  or op literal (scalar_filter)           ExpressionFilter
 *   METRICS        metrics pipelines, math between them,   metrics...
 *                  second stages (metrics)
 *
 * plus the hints of "with(k=v, ...)" (the last with() wins, as in Tempo).
 *
 * Spansets (struct tr_traceql_spanset): a filter { field expression }, an
 * operation between two spansets (&&, ||, structural >, >>, <, <<, ~ and
 * their negated !x and union &x forms) or a pipeline (stages separated by
 * "|"). Field expressions (struct tr_traceql_field) are typed nodes:
 * static values, attributes (scope + name + intrinsic id + parent flag),
 * binary and unary operations. Durations are nanoseconds. Strings are
 * NUL-terminated arena copies with a length.
 *
 * What the parser folds, as Tempo does: a unary minus on a numeric literal
 * ("-1", "-1.5", "-1s") is a literal; "nil = nil" / "nil != nil" are the
 * literal false; "x = nil" / "x != nil" are the unary NOT_EXISTS / EXISTS;
 * literal arithmetic in scalar positions (metrics math, scalar filters,
 * metrics filters) is folded at parse time (Go's int/float semantics:
 * "1 / 2" is 0); "minInt" / "maxInt" are the int64 limits; a string
 * compared with trace:id loses its leading zeros. */
#ifndef TR_QUERY_TRACEQL_TRACEQL_H
#define TR_QUERY_TRACEQL_TRACEQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"

/* Longest query accepted (bytes) and deepest nesting of the parser. */
#define TR_TRACEQL_MAX_INPUT 131072
#define TR_TRACEQL_MAX_DEPTH 256

/* ---- static values ---------------------------------------------------- */

enum tr_traceql_type {
    TR_TQL_TYPE_NIL,
    TR_TQL_TYPE_SPANSET,   /* a spanset pipeline (validation only) */
    TR_TQL_TYPE_ATTRIBUTE, /* known only at query time (attributes) */
    TR_TQL_TYPE_INT,
    TR_TQL_TYPE_FLOAT,
    TR_TQL_TYPE_STRING,
    TR_TQL_TYPE_BOOL,
    TR_TQL_TYPE_DURATION,
    TR_TQL_TYPE_STATUS,
    TR_TQL_TYPE_KIND,
};

enum tr_traceql_status {
    TR_TQL_STATUS_ERROR,
    TR_TQL_STATUS_OK,
    TR_TQL_STATUS_UNSET,
};

enum tr_traceql_kind {
    TR_TQL_KIND_UNSPECIFIED,
    TR_TQL_KIND_INTERNAL,
    TR_TQL_KIND_SERVER,
    TR_TQL_KIND_CLIENT,
    TR_TQL_KIND_PRODUCER,
    TR_TQL_KIND_CONSUMER,
};

struct tr_traceql_static {
    enum tr_traceql_type type; /* NIL INT FLOAT STRING BOOL DURATION STATUS
                                  KIND */
    union {
        int64_t i;  /* INT; DURATION: nanoseconds */
        double f;   /* FLOAT */
        bool b;     /* BOOL */
        int status; /* STATUS: enum tr_traceql_status */
        int kind;   /* KIND: enum tr_traceql_kind */
        struct {
            const char *s; /* STRING: arena, NUL-terminated */
            size_t len;
        } str;
    } v;
};

/* ---- attributes ------------------------------------------------------- */

enum tr_traceql_scope {
    TR_TQL_SCOPE_NONE, /* ".foo" and intrinsics */
    TR_TQL_SCOPE_RESOURCE,
    TR_TQL_SCOPE_SPAN,
    TR_TQL_SCOPE_EVENT,
    TR_TQL_SCOPE_LINK,
    TR_TQL_SCOPE_INSTRUMENTATION,
};

/* X(name, canonical text) - Tempo's intrinsics. The colon forms map to the
 * same ids as Tempo does (span:duration is DURATION, trace:rootService is
 * TRACE_ROOT_SERVICE, ...). */
#define TR_TRACEQL_INTRINSICS(X)                          \
    X(NONE, "")                                           \
    X(DURATION, "duration")                               \
    X(NAME, "name")                                       \
    X(STATUS, "status")                                   \
    X(STATUS_MESSAGE, "statusMessage")                    \
    X(KIND, "kind")                                       \
    X(CHILD_COUNT, "span:childCount")                     \
    X(TRACE_ROOT_SERVICE, "rootServiceName")              \
    X(TRACE_ROOT_SPAN, "rootName")                        \
    X(TRACE_DURATION, "traceDuration")                    \
    X(NESTED_SET_LEFT, "nestedSetLeft")                   \
    X(NESTED_SET_RIGHT, "nestedSetRight")                 \
    X(NESTED_SET_PARENT, "nestedSetParent")               \
    X(EVENT_NAME, "event:name")                           \
    X(EVENT_TIME_SINCE_START, "event:timeSinceStart")     \
    X(LINK_SPAN_ID, "link:spanID")                        \
    X(LINK_TRACE_ID, "link:traceID")                      \
    X(INSTRUMENTATION_NAME, "instrumentation:name")       \
    X(INSTRUMENTATION_VERSION, "instrumentation:version") \
    X(PARENT, "parent")                                   \
    X(TRACE_ID, "trace:id")                               \
    X(SPAN_ID, "span:id")                                 \
    X(PARENT_ID, "span:parentID")

enum tr_traceql_intrinsic {
#define TR__TQL_INTR_ENUM(name, text) TR_TQL_INTR_##name,
    TR_TRACEQL_INTRINSICS(TR__TQL_INTR_ENUM)
#undef TR__TQL_INTR_ENUM
        TR_TQL_INTR_COUNT
};

struct tr_traceql_attr {
    enum tr_traceql_scope scope;
    enum tr_traceql_intrinsic intrinsic; /* NONE for plain attributes */
    bool parent;                         /* parent.x, parent.span.x, ... */
    const char *name; /* arena, NUL-terminated: the attribute name without
                         scope ("http.status"), or the intrinsic's text */
    size_t name_len;
};

/* ---- operators -------------------------------------------------------- */

/* X(name, text) */
#define TR_TRACEQL_OPS(X)         \
    X(NONE, "")                   \
    X(ADD, "+")                   \
    X(SUB, "-")                   \
    X(DIV, "/")                   \
    X(MOD, "%")                   \
    X(MUL, "*")                   \
    X(EQ, "=")                    \
    X(NEQ, "!=")                  \
    X(RE, "=~")                   \
    X(NRE, "!~")                  \
    X(GT, ">")                    \
    X(GTE, ">=")                  \
    X(LT, "<")                    \
    X(LTE, "<=")                  \
    X(POW, "^")                   \
    X(AND, "&&")                  \
    X(OR, "||")                   \
    X(NOT, "!")                   \
    X(EXISTS, "!= nil")           \
    X(NOT_EXISTS, "= nil")        \
    X(SS_AND, "&&")               \
    X(SS_UNION, "||")             \
    X(SS_CHILD, ">")              \
    X(SS_PARENT, "<")             \
    X(SS_DESCENDANT, ">>")        \
    X(SS_ANCESTOR, "<<")          \
    X(SS_SIBLING, "~")            \
    X(SS_NOT_CHILD, "!>")         \
    X(SS_NOT_PARENT, "!<")        \
    X(SS_NOT_DESCENDANT, "!>>")   \
    X(SS_NOT_ANCESTOR, "!<<")     \
    X(SS_NOT_SIBLING, "!~")       \
    X(SS_UNION_CHILD, "&>")       \
    X(SS_UNION_PARENT, "&<")      \
    X(SS_UNION_DESCENDANT, "&>>") \
    X(SS_UNION_ANCESTOR, "&<<")   \
    X(SS_UNION_SIBLING, "&~")

enum tr_traceql_op {
#define TR__TQL_OP_ENUM(name, text) TR_TQL_OP_##name,
    TR_TRACEQL_OPS(TR__TQL_OP_ENUM)
#undef TR__TQL_OP_ENUM
};

/* ---- field expressions (inside { }, aggregates, by()) ----------------- */

enum tr_traceql_field_kind {
    TR_TQL_F_STATIC,
    TR_TQL_F_ATTR,
    TR_TQL_F_BINARY, /* op: ADD..NOT except NOT, EXISTS, NOT_EXISTS */
    TR_TQL_F_UNARY,  /* op: SUB, NOT, EXISTS, NOT_EXISTS */
};

struct tr_traceql_field {
    enum tr_traceql_field_kind kind;
    union {
        struct tr_traceql_static st;
        struct tr_traceql_attr attr;
        struct {
            enum tr_traceql_op op;
            struct tr_traceql_field *lhs, *rhs;
        } bin;
        struct {
            enum tr_traceql_op op;
            struct tr_traceql_field *e;
        } un;
    } u;
};

/* ---- scalar expressions (count() > 2, avg(duration) + 1, ...) --------- */

enum tr_traceql_aggr {
    TR_TQL_AGGR_COUNT,
    TR_TQL_AGGR_MAX,
    TR_TQL_AGGR_MIN,
    TR_TQL_AGGR_AVG,
    TR_TQL_AGGR_SUM,
};

struct tr_traceql_pipeline;

enum tr_traceql_scalar_kind {
    TR_TQL_S_AGGREGATE, /* aggr(field); field NULL for count() */
    TR_TQL_S_STATIC,    /* a (folded) literal */
    TR_TQL_S_BINARY,    /* op: ADD SUB MUL DIV MOD POW */
    TR_TQL_S_PIPELINE,  /* ( pipeline ): its last stage is an AGGREGATE */
};

struct tr_traceql_scalar {
    enum tr_traceql_scalar_kind kind;
    union {
        struct {
            enum tr_traceql_aggr op;
            struct tr_traceql_field *e; /* NULL for count() */
        } aggr;
        struct tr_traceql_static st;
        struct {
            enum tr_traceql_op op;
            struct tr_traceql_scalar *lhs, *rhs;
        } bin;
        struct tr_traceql_pipeline *pipeline;
    } u;
};

/* lhs op rhs, op one of EQ NEQ LT LTE GT GTE. */
struct tr_traceql_scalar_filter {
    enum tr_traceql_op op;
    struct tr_traceql_scalar *lhs, *rhs;
};

/* ---- spansets and pipelines ------------------------------------------- */

enum tr_traceql_spanset_kind {
    TR_TQL_SS_FILTER,   /* { field }; "{ }" is { true } */
    TR_TQL_SS_OP,       /* lhs op rhs, op SS_* */
    TR_TQL_SS_PIPELINE, /* a pipeline (possibly of one stage) */
};

struct tr_traceql_spanset {
    enum tr_traceql_spanset_kind kind;
    union {
        struct tr_traceql_field *filter;
        struct {
            enum tr_traceql_op op;
            struct tr_traceql_spanset *lhs, *rhs;
        } op;
        struct tr_traceql_pipeline *pipeline;
    } u;
};

enum tr_traceql_stage_kind {
    TR_TQL_STAGE_SPANSET,       /* spanset (a FILTER or OP tree) */
    TR_TQL_STAGE_SCALAR_FILTER, /* scalar_filter */
    TR_TQL_STAGE_GROUP,         /* by(field) */
    TR_TQL_STAGE_COALESCE,      /* coalesce() */
    TR_TQL_STAGE_SELECT,        /* select(attr, ...) */
    TR_TQL_STAGE_AGGREGATE,     /* last stage of a scalar pipeline only */
};

struct tr_traceql_stage {
    enum tr_traceql_stage_kind kind;
    union {
        struct tr_traceql_spanset *spanset;
        struct tr_traceql_scalar_filter sfilter;
        struct tr_traceql_field *group;
        struct {
            struct tr_traceql_attr *attrs;
            size_t n;
        } select;
        struct tr_traceql_scalar *aggregate; /* kind AGGREGATE */
    } u;
};

struct tr_traceql_pipeline {
    struct tr_traceql_stage *stages;
    size_t n;
};

/* ---- metrics ---------------------------------------------------------- */

enum tr_traceql_metrics_fn {
    TR_TQL_M_RATE,
    TR_TQL_M_COUNT_OVER_TIME,
    TR_TQL_M_MIN_OVER_TIME,
    TR_TQL_M_MAX_OVER_TIME,
    TR_TQL_M_AVG_OVER_TIME,
    TR_TQL_M_SUM_OVER_TIME,
    TR_TQL_M_QUANTILE_OVER_TIME,
    TR_TQL_M_HISTOGRAM_OVER_TIME,
    TR_TQL_M_COMPARE,
};

/* The first stage: rate() by (...), quantile_over_time(attr, q...) ... */
struct tr_traceql_metrics_agg {
    enum tr_traceql_metrics_fn fn;
    bool has_attr; /* *_over_time(attr) but count_over_time */
    struct tr_traceql_attr attr;
    double *quantiles; /* QUANTILE_OVER_TIME */
    size_t n_quantiles;
    struct tr_traceql_attr *by; /* by (...) */
    size_t n_by;
    struct tr_traceql_spanset *compare; /* COMPARE: its filter */
    int n_compare_args;       /* COMPARE: 1, 2 or 4 arguments were written */
    int64_t topn, start, end; /* COMPARE: defaults 10, 0, 0 */
};

enum tr_traceql_second_kind {
    TR_TQL_2ND_TOPK,
    TR_TQL_2ND_BOTTOMK,
    TR_TQL_2ND_FILTER, /* op value: > 10 (durations in seconds) */
};

struct tr_traceql_second_stage {
    enum tr_traceql_second_kind kind;
    int64_t limit;         /* TOPK, BOTTOMK */
    enum tr_traceql_op op; /* FILTER: EQ NEQ LT LTE GT GTE */
    double value;          /* FILTER */
};

enum tr_traceql_metrics_kind {
    TR_TQL_ME_PIPELINE, /* pipeline | agg */
    TR_TQL_ME_BINARY,   /* lhs op rhs, op ADD SUB MUL DIV; one side may
                           be a SCALAR */
    TR_TQL_ME_SCALAR,   /* a literal operand of BINARY */
};

struct tr_traceql_metrics {
    enum tr_traceql_metrics_kind kind;
    struct tr_traceql_pipeline *pipeline; /* PIPELINE */
    struct tr_traceql_metrics_agg agg;    /* PIPELINE */
    enum tr_traceql_op op;                /* BINARY */
    struct tr_traceql_metrics *lhs, *rhs; /* BINARY */
    double value;                         /* SCALAR */
    /* second stages applied to this node's result, in order */
    struct tr_traceql_second_stage *stages;
    size_t n_stages;
};

/* ---- the query -------------------------------------------------------- */

enum tr_traceql_query_kind {
    TR_TQL_Q_SPANSET,
    TR_TQL_Q_SCALAR_FILTER,
    TR_TQL_Q_METRICS,
};

struct tr_traceql_hint {
    const char *name; /* arena */
    struct tr_traceql_static value;
};

struct tr_traceql_query {
    enum tr_traceql_query_kind kind;
    struct tr_traceql_spanset *spanset;      /* SPANSET */
    struct tr_traceql_scalar_filter sfilter; /* SCALAR_FILTER */
    struct tr_traceql_metrics *metrics;      /* METRICS */
    struct tr_traceql_hint *hints;           /* with(...) */
    size_t n_hints;
};

/* ---- API -------------------------------------------------------------- */

/* Parses the TraceQL query q (len bytes) into *out, allocated in a (freed
 * with the arena; nothing else to free). Returns 0, TR_ENOMEM, or
 * TR_EINVAL with a message in errmsg (TR_ERRMSG_SIZE; may be NULL) such as
 * "parse error at line 1, col 7: syntax error: unexpected }" or
 * "parse error at line 1, col 3: unknown identifier: foo". On error *out
 * is NULL. */
int tr_traceql_parse(const char *q,
                     size_t len,
                     struct tr_arena *a,
                     struct tr_traceql_query **out,
                     char *errmsg);

/* Tempo's semantic validation of a parsed query. Returns 0; TR_EINVAL for
 * an invalid query ("span filter field expressions must resolve to a
 * boolean: 1.1", "invalid regex: \"[\"", "limit must be greater than
 * 0", ...); or TR_EUNSUPPORTED for what Tempo parses but does not run yet
 * ("parent not yet supported", "scalar filter lhs ... not yet supported").
 * errmsg as above. */
int tr_traceql_validate(const struct tr_traceql_query *q, char *errmsg);

/* Canonical text of q appended to b (b->oom on allocation failure). The
 * text parses back to the same tree: binary operations parenthesised but
 * for left-associative chains ("{ (.a = 1) && (.b = 2) && (.c = 3) }"),
 * durations in the largest exact unit ("1500ms"), floats with a "." or an
 * exponent. */
void tr_traceql_format(const struct tr_traceql_query *q, struct tr_buf *b);

/* Text of an intrinsic ("duration", "span:id") and of an operator. */
const char *tr_traceql_intrinsic_name(enum tr_traceql_intrinsic i);
const char *tr_traceql_op_name(enum tr_traceql_op op);

/* The static type a field expression implies (Tempo's impliedType):
 * ATTRIBUTE when it depends on an attribute's value. */
enum tr_traceql_type tr_traceql_field_type(const struct tr_traceql_field *f);

#endif
