/* ast.h - LogQL (Loki 3.x) abstract syntax tree.
 *
 * tr_logql_parse (parser.h) builds the tree in the caller's arena. Label
 * matchers (struct tr_matcher, lib/matcher.h) and compiled regexes hold heap
 * memory: release it with tr_logql_ast_free before freeing the arena.
 *
 * A query is either a log query (kind LOG: a stream selector and a
 * pipeline; it returns log lines) or a metric query (every other kind; it
 * returns samples). The tree keeps Loki's meaning, not the text: parentheses
 * are dropped, a binary operation of two literals is folded into a literal
 * ("1 + 1" is the literal 2), "!= "a" or "b"" becomes the two filters
 * "!= "a" != "b"" as in Loki.
 *
 *   kind            fields                          result
 *   LOG             log (matchers + stages)         log stream
 *   RANGE_AGGR      range (op, log, range, offset,  instant vector
 *                   unwrap, param, grouping)
 *   VECTOR_AGGR     vector_aggr (op, k, grouping,   instant vector
 *                   expr)
 *   BINARY          binary (op, bool, matching,     instant vector, or a
 *                   lhs, rhs)                       scalar-like literal
 *   LITERAL         literal (number)                scalar
 *   VECTOR          vector (vector(n))              vector without labels
 *   LABEL_REPLACE   label_replace (expr, dst, ...)  instant vector
 *
 * Durations are nanoseconds (Go's time.Duration), as Loki keeps them.
 * Strings are unquoted, NUL-terminated arena copies with an explicit
 * length (they may contain NUL bytes from escapes). */
#ifndef TR_QUERY_LOGQL_AST_H
#define TR_QUERY_LOGQL_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/matcher.h"

/* ---- pieces shared by several nodes ------------------------------------ */

/* A list of label names: grouping, on()/ignoring(), group_left()/right(). */
struct tr_logql_labels {
    const char **names; /* arena strings, in query order (not sorted) */
    size_t n;           /* number of names; 0 for "()" */
};

/* by (...) / without (...) of an aggregation. */
struct tr_logql_grouping {
    bool present;                  /* false: no by/without was written */
    bool without;                  /* without (...) rather than by (...) */
    struct tr_logql_labels labels; /* the labels; may be empty: "by ()" */
};

/* A pattern of the pattern parser ("<ip> - <_> <path>") and of the |> and
 * !> line filters: literals and captures in order. Loki's rules hold
 * (checked by the parser): no two captures in a row; for the parser stage
 * at least one named capture and no duplicate names; for line filters only
 * the unnamed capture <_>. */
struct tr_logql_pattern_part {
    bool capture;     /* true: <name>; false: literal text */
    const char *text; /* capture name ("_" for unnamed) or literal bytes
                         (arena, NUL-terminated) */
    size_t len;       /* bytes in text */
};

struct tr_logql_pattern {
    struct tr_logql_pattern_part *parts; /* arena array */
    size_t n_parts;                      /* 0 for the empty pattern "" */
};

/* Comparison of label filters and binary operators' comparison subset. */
enum tr_logql_cmp {
    TR_LOGQL_CMP_EQ,  /* = or == */
    TR_LOGQL_CMP_NEQ, /* != */
    TR_LOGQL_CMP_GT,  /* > */
    TR_LOGQL_CMP_GTE, /* >= */
    TR_LOGQL_CMP_LT,  /* < */
    TR_LOGQL_CMP_LTE, /* <= */
};

/* ---- label filters ("| status >= 400 and method="GET"") ---------------- */

enum tr_logql_lf_kind {
    TR_LOGQL_LF_AND,      /* bin: both hold ("and", "," or juxtaposition) */
    TR_LOGQL_LF_OR,       /* bin: either holds */
    TR_LOGQL_LF_STRING,   /* matcher: name = != =~ !~ "string" */
    TR_LOGQL_LF_NUMBER,   /* number: name op 1.5 (value parsed as float) */
    TR_LOGQL_LF_DURATION, /* duration: name op 10s (value parsed as Go
                             duration) */
    TR_LOGQL_LF_BYTES,    /* bytes: name op 20MB (value parsed with
                             humanize.ParseBytes) */
    TR_LOGQL_LF_IP,       /* ip: name = ip("cidr") or name != ip(...) */
};

struct tr_logql_label_filter {
    enum tr_logql_lf_kind kind; /* which member of the union is set */
    union {
        struct {
            struct tr_logql_label_filter *left;  /* first operand */
            struct tr_logql_label_filter *right; /* second operand */
        } bin;                                   /* AND, OR */
        struct tr_matcher matcher; /* STRING: compiled matcher (anchored
                                      regex for =~ !~); heap contents */
        struct {
            const char *name;     /* label name (arena) */
            enum tr_logql_cmp op; /* comparison */
            double value;         /* right-hand side */
        } number;                 /* NUMBER */
        struct {
            const char *name;     /* label name (arena) */
            enum tr_logql_cmp op; /* comparison */
            int64_t ns;           /* right-hand side in nanoseconds */
        } duration;               /* DURATION */
        struct {
            const char *name;     /* label name (arena) */
            enum tr_logql_cmp op; /* comparison */
            uint64_t bytes;       /* right-hand side in bytes */
        } bytes;                  /* BYTES */
        struct {
            const char *name;    /* label name (arena) */
            bool negate;         /* != ip(...) rather than = ip(...) */
            const char *pattern; /* the ip() argument: an address, a range
                                    "a-b" or a CIDR (arena); syntax checked
                                    by the parser */
            size_t pattern_len;  /* bytes in pattern */
        } ip;                    /* IP */
    };
};

/* ---- pipeline stages --------------------------------------------------- */

enum tr_logql_stage_kind {
    TR_LOGQL_STAGE_LINE_FILTER,  /* |= != |~ !~ |> !> (with or-chains) */
    TR_LOGQL_STAGE_JSON,         /* | json [a="x.y", b] */
    TR_LOGQL_STAGE_LOGFMT,       /* | logfmt [--strict] [--keep-empty]
                                    [a="k", b] */
    TR_LOGQL_STAGE_REGEXP,       /* | regexp "re" */
    TR_LOGQL_STAGE_PATTERN,      /* | pattern "p" */
    TR_LOGQL_STAGE_UNPACK,       /* | unpack */
    TR_LOGQL_STAGE_LABEL_FILTER, /* | label filter expression */
    TR_LOGQL_STAGE_LINE_FORMAT,  /* | line_format "template" */
    TR_LOGQL_STAGE_LABEL_FORMAT, /* | label_format a=b, c="template" */
    TR_LOGQL_STAGE_DECOLORIZE,   /* | decolorize */
    TR_LOGQL_STAGE_DROP,         /* | drop a, b="v" */
    TR_LOGQL_STAGE_KEEP,         /* | keep a, b="v" */
};

/* Line filter operators. */
enum tr_logql_line_op {
    TR_LOGQL_LINE_CONTAINS,     /* |= */
    TR_LOGQL_LINE_NOT_CONTAINS, /* != */
    TR_LOGQL_LINE_MATCH,        /* |~ */
    TR_LOGQL_LINE_NOT_MATCH,    /* !~ */
    TR_LOGQL_LINE_PATTERN,      /* |> */
    TR_LOGQL_LINE_NOT_PATTERN,  /* !> */
};

/* One operand of a line filter. */
struct tr_logql_line_alt {
    bool ip;             /* ip("...") rather than a string; only with |= and
                            != (the parser rejects the others) */
    const char *text;    /* the string (arena, unquoted, NUL-terminated) */
    size_t len;          /* bytes in text */
    struct tr_regex *re; /* |~ !~: text compiled unanchored (Go's
                            regexp.MatchString semantics); heap, freed by
                            tr_logql_ast_free; else NULL */
    struct tr_logql_pattern pattern; /* |> !>: text parsed as a pattern
                                        (only <_> captures); else empty */
};

/* A line filter: op applied to alts. A positive op (|= |~ |>) keeps a line
 * that matches ANY alternative ("|= "a" or "b""); Loki turns a negative op
 * with an or-chain into one filter per operand, and so does the parser, so
 * a negative op always has exactly one alternative. Consecutive filters
 * are consecutive stages (all must hold). */
struct tr_logql_line_filter {
    enum tr_logql_line_op op;       /* the operator */
    struct tr_logql_line_alt *alts; /* arena array, >= 1 */
    size_t n_alts;                  /* number of alternatives */
};

/* A json / logfmt extraction parameter: label = "expression" (a bare
 * identifier b stands for b="b"). For json the expression is a JSON path
 * ("a.b[0]", "[\"x y\"]"); for logfmt a key. */
struct tr_logql_extract {
    const char *label; /* label to set (arena) */
    const char *expr;  /* expression (arena, unquoted) */
    size_t expr_len;   /* bytes in expr */
};

/* One label_format entry. */
struct tr_logql_label_fmt {
    const char *dst;   /* label to set (arena) */
    bool rename;       /* dst=src: value is a label name (the src label is
                          moved); false: value is a Go text/template */
    const char *value; /* source label name or template (arena) */
    size_t value_len;  /* bytes in value */
};

/* One drop/keep entry: a bare name, or a matcher (drop the label only when
 * its value matches). */
struct tr_logql_named_matcher {
    const char *name;          /* bare label name (arena), or NULL */
    bool has_matcher;          /* matcher is set (name is NULL) */
    struct tr_matcher matcher; /* compiled matcher; heap contents */
};

struct tr_logql_stage {
    enum tr_logql_stage_kind kind; /* which member of the union is set */
    union {
        struct tr_logql_line_filter line_filter; /* LINE_FILTER */
        struct {
            struct tr_logql_extract *params; /* arena array or NULL */
            size_t n_params; /* 0: extract every field ("| json") */
        } json;              /* JSON */
        struct {
            bool strict;     /* --strict: a malformed line is an error */
            bool keep_empty; /* --keep-empty: keep standalone keys as "" */
            struct tr_logql_extract *params; /* arena array or NULL */
            size_t n_params;                 /* 0: extract every key */
        } logfmt;                            /* LOGFMT */
        struct {
            const char *re;     /* the regex text (arena, unquoted) with
                                   named captures (?P<name>...) */
            size_t len;         /* bytes in re */
            const char **names; /* named captures in order (arena); >= 1,
                                   no duplicates (checked) */
            size_t n_names;     /* number of named captures */
        } regexp;               /* REGEXP */
        struct {
            const char *text; /* the pattern text (arena, unquoted) */
            size_t len;       /* bytes in text */
            struct tr_logql_pattern pattern; /* parsed; >= 1 named capture */
        } pattern;                           /* PATTERN */
        struct tr_logql_label_filter *label_filter; /* LABEL_FILTER */
        struct {
            const char *tmpl; /* Go text/template (arena, unquoted) */
            size_t len;       /* bytes in tmpl */
        } line_format;        /* LINE_FORMAT */
        struct {
            struct tr_logql_label_fmt *fmts; /* arena array, >= 1 */
            size_t n_fmts;                   /* number of entries */
        } label_format;                      /* LABEL_FORMAT */
        struct {
            struct tr_logql_named_matcher *items; /* arena array, >= 1 */
            size_t n_items;                       /* number of entries */
        } names;                                  /* DROP and KEEP */
    };
};

/* ---- expressions -------------------------------------------------------- */

enum tr_logql_expr_kind {
    TR_LOGQL_EXPR_LOG,           /* log: selector + pipeline */
    TR_LOGQL_EXPR_RANGE_AGGR,    /* range: count_over_time(...) etc. */
    TR_LOGQL_EXPR_VECTOR_AGGR,   /* vector_aggr: sum(...) etc. */
    TR_LOGQL_EXPR_BINARY,        /* binary: lhs op rhs */
    TR_LOGQL_EXPR_LITERAL,       /* literal: a number */
    TR_LOGQL_EXPR_VECTOR,        /* vector: vector(n) */
    TR_LOGQL_EXPR_LABEL_REPLACE, /* label_replace: label_replace(...) */
};

/* A stream selector and its pipeline: "{app="a"} |= "x" | json". */
struct tr_logql_log {
    struct tr_matcher *matchers;   /* arena array, heap contents; >= 1,
                                      one of them not matching "" (checked
                                      unless TR_LOGQL_PARSE_NO_VALIDATE) */
    size_t n_matchers;             /* number of matchers */
    struct tr_logql_stage *stages; /* arena array or NULL, in query order
                                      (not reordered) */
    size_t n_stages;               /* number of stages */
};

enum tr_logql_range_op {
    TR_LOGQL_RANGE_COUNT_OVER_TIME,
    TR_LOGQL_RANGE_RATE,
    TR_LOGQL_RANGE_RATE_COUNTER,
    TR_LOGQL_RANGE_BYTES_OVER_TIME,
    TR_LOGQL_RANGE_BYTES_RATE,
    TR_LOGQL_RANGE_AVG_OVER_TIME,
    TR_LOGQL_RANGE_SUM_OVER_TIME,
    TR_LOGQL_RANGE_MIN_OVER_TIME,
    TR_LOGQL_RANGE_MAX_OVER_TIME,
    TR_LOGQL_RANGE_STDVAR_OVER_TIME,
    TR_LOGQL_RANGE_STDDEV_OVER_TIME,
    TR_LOGQL_RANGE_QUANTILE_OVER_TIME,
    TR_LOGQL_RANGE_FIRST_OVER_TIME,
    TR_LOGQL_RANGE_LAST_OVER_TIME,
    TR_LOGQL_RANGE_ABSENT_OVER_TIME,
};

/* unwrap conversion. */
enum tr_logql_conv {
    TR_LOGQL_CONV_NONE,             /* unwrap x: the value as a float */
    TR_LOGQL_CONV_BYTES,            /* unwrap bytes(x): "5 MB" etc. */
    TR_LOGQL_CONV_DURATION,         /* unwrap duration(x): seconds */
    TR_LOGQL_CONV_DURATION_SECONDS, /* unwrap duration_seconds(x): same */
};

/* "| unwrap bytes(size) | __error__=""": the sample value source and the
 * label filters applied after the conversion. */
struct tr_logql_unwrap {
    const char *label;       /* label to take the value from (arena) */
    enum tr_logql_conv conv; /* conversion of the value */
    struct tr_logql_label_filter **post_filters; /* arena array or NULL */
    size_t n_post_filters;                       /* filters after unwrap */
};

enum tr_logql_vector_op {
    TR_LOGQL_VEC_SUM,
    TR_LOGQL_VEC_AVG,
    TR_LOGQL_VEC_COUNT,
    TR_LOGQL_VEC_MAX,
    TR_LOGQL_VEC_MIN,
    TR_LOGQL_VEC_STDDEV,
    TR_LOGQL_VEC_STDVAR,
    TR_LOGQL_VEC_BOTTOMK,
    TR_LOGQL_VEC_TOPK,
    TR_LOGQL_VEC_SORT,
    TR_LOGQL_VEC_SORT_DESC,
    TR_LOGQL_VEC_APPROX_TOPK, /* instant queries only (an evaluator check) */
};

enum tr_logql_binop {
    TR_LOGQL_OP_OR,     /* or (lowest precedence) */
    TR_LOGQL_OP_AND,    /* and */
    TR_LOGQL_OP_UNLESS, /* unless */
    TR_LOGQL_OP_ADD,    /* + */
    TR_LOGQL_OP_SUB,    /* - */
    TR_LOGQL_OP_MUL,    /* * */
    TR_LOGQL_OP_DIV,    /* / */
    TR_LOGQL_OP_MOD,    /* % */
    TR_LOGQL_OP_POW,    /* ^ (right-associative, highest) */
    TR_LOGQL_OP_EQ,     /* == */
    TR_LOGQL_OP_NEQ,    /* != */
    TR_LOGQL_OP_GT,     /* > */
    TR_LOGQL_OP_GTE,    /* >= */
    TR_LOGQL_OP_LT,     /* < */
    TR_LOGQL_OP_LTE,    /* <= */
};

/* Vector matching cardinality (Loki's VectorMatchCardinality). */
enum tr_logql_card {
    TR_LOGQL_CARD_ONE_TO_ONE,  /* default */
    TR_LOGQL_CARD_MANY_TO_ONE, /* group_left */
    TR_LOGQL_CARD_ONE_TO_MANY, /* group_right */
};

struct tr_logql_expr {
    enum tr_logql_expr_kind kind; /* which member of the union is set */
    union {
        struct tr_logql_log log; /* LOG */
        struct {
            enum tr_logql_range_op op;     /* the function */
            struct tr_logql_log log;       /* selector + pipeline inside */
            int64_t range_ns;              /* [range] */
            int64_t offset_ns;             /* offset; 0 when absent (may be
                                              negative: "offset -1h") */
            bool has_unwrap;               /* unwrap is set */
            struct tr_logql_unwrap unwrap; /* "| unwrap ..." */
            bool has_param; /* quantile_over_time's first argument given
                               (always for quantile, never otherwise) */
            double param;   /* the quantile, e.g. 0.99 */
            struct tr_logql_grouping grouping; /* by/without after the
                                                  call (avg, min, max,
                                                  stddev, stdvar, quantile,
                                                  first, last only) */
        } range;                               /* RANGE_AGGR */
        struct {
            enum tr_logql_vector_op op;        /* the aggregation */
            int64_t k;                         /* topk/bottomk/approx_topk
                                                  parameter (> 0); else 0 */
            struct tr_logql_grouping grouping; /* by/without, before or
                                                  after the arguments */
            struct tr_logql_expr *expr;        /* metric expression */
        } vector_aggr;                         /* VECTOR_AGGR */
        struct {
            enum tr_logql_binop op;          /* the operator */
            bool return_bool;                /* "bool" after a comparison */
            enum tr_logql_card card;         /* group_left / group_right */
            bool on;                         /* on(...) rather than ignoring */
            struct tr_logql_labels matching; /* on/ignoring labels */
            bool has_include;                /* group_x(labels) with >= 1 label
                                                (Loki's Include != nil) */
            struct tr_logql_labels include;  /* group_left/right labels */
            struct tr_logql_expr *lhs;       /* left operand (not both lhs and
                                                rhs are literals: folded) */
            struct tr_logql_expr *rhs;       /* right operand */
        } binary;                            /* BINARY */
        struct {
            double value; /* the number (negation applied) */
        } literal;        /* LITERAL */
        struct {
            double value; /* vector(value) */
        } vector;         /* VECTOR */
        struct {
            struct tr_logql_expr *expr; /* metric expression */
            const char *dst;            /* destination label (arena) */
            const char *replacement;    /* replacement with $1 refs */
            size_t replacement_len;     /* bytes in replacement */
            const char *src;            /* source label (arena) */
            const char *regex;          /* regex text (arena) */
            size_t regex_len;           /* bytes in regex */
            struct tr_regex *re;        /* regex compiled fully anchored
                                           (heap; freed by
                                           tr_logql_ast_free) */
        } label_replace;                /* LABEL_REPLACE */
    };
};

/* True for a log query (kind LOG): it returns log lines. */
bool tr_logql_is_log_query(const struct tr_logql_expr *e);
/* True for a metric query (every other kind): it returns samples. */
bool tr_logql_is_metric_query(const struct tr_logql_expr *e);

/* Frees the heap memory of every matcher and compiled regex in the tree
 * (the nodes stay in the arena). NULL is a no-op. Call it once. */
void tr_logql_ast_free(struct tr_logql_expr *e);

/* Names as LogQL writes them: "count_over_time", "sum", "+", "and", "==";
 * "|=", "!~"; "==", ">=" (label filter comparisons); "bytes", "duration",
 * "duration_seconds" ("" for NONE). */
const char *tr_logql_range_op_name(enum tr_logql_range_op op);
const char *tr_logql_vector_op_name(enum tr_logql_vector_op op);
const char *tr_logql_binop_name(enum tr_logql_binop op);
const char *tr_logql_line_op_name(enum tr_logql_line_op op);
const char *tr_logql_cmp_name(enum tr_logql_cmp op);
const char *tr_logql_conv_name(enum tr_logql_conv conv);

/* True for == != > >= < <= and for and/or/unless respectively. */
bool tr_logql_binop_is_comparison(enum tr_logql_binop op);
bool tr_logql_binop_is_set(enum tr_logql_binop op);

/* Appends Loki's canonical String() form of e to out (the form
 * /loki/api/v1/format_query returns), e.g.
 *   sum by (app)(rate({app="a"} |= "x" | json [5m]))
 *   (sum(count_over_time({app="a"}[1m])) > bool on (app)  1)
 * Out of memory is recorded in out->oom. tr_logql_parse of the result gives
 * a tree that formats to the same text. */
void tr_logql_format(const struct tr_logql_expr *e, struct tr_buf *out);
/* One stage / label filter alone, as they appear in tr_logql_format. */
void tr_logql_format_stage(const struct tr_logql_stage *s, struct tr_buf *out);
void tr_logql_format_label_filter(const struct tr_logql_label_filter *f,
                                  struct tr_buf *out);

#endif
