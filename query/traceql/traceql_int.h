/* traceql_int.h - private pieces of the TraceQL front end: the lexer's
 * tokens and helpers shared by parser, validation and formatter.
 *
 * The lexer reproduces Tempo's (pkg/traceql/lexer.go over Go's
 * text/scanner): Go identifiers, numbers, strings ("..." with Go escapes,
 * `raw`), // and slash-star comments; an operator is the longest
 * extension of one character that names a token ("!>>", "&&"); an
 * identifier followed by "." or ":" may form a scope token ("span.",
 * "trace:"). After a scope token with a dot (".", "span.", "parent.", ...)
 * the lexer reads an attribute name: every rune up to a space or one of
 * {}()=~!<>&|^, with "..." parts unquoted (only \" and \\ escapes), then
 * the END_ATTRIBUTE token. A number followed by duration characters
 * ("1.5s", "1h30m", "100ms") is a DURATION when Prometheus' or Go's
 * duration syntax accepts the whole, else the number stands alone. */
#ifndef TR_QUERY_TRACEQL_TRACEQL_INT_H
#define TR_QUERY_TRACEQL_TRACEQL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "query/traceql/traceql.h"

/* X(name, text) - text is what the token is spelled as (for keywords
 * and operators) or its class ("IDENTIFIER"). */
#define TR_TQL_TOKENS(X)                          \
    X(EOF, "$end")                                \
    X(ERROR, "ERROR")                             \
    X(IDENTIFIER, "IDENTIFIER")                   \
    X(STRING, "STRING")                           \
    X(INTEGER, "INTEGER")                         \
    X(FLOAT, "FLOAT")                             \
    X(DURATION, "DURATION")                       \
    X(END_ATTRIBUTE, "END_ATTRIBUTE")             \
    X(COMMA, ",")                                 \
    X(DOT, ".")                                   \
    X(OPEN_BRACE, "{")                            \
    X(CLOSE_BRACE, "}")                           \
    X(OPEN_PARENS, "(")                           \
    X(CLOSE_PARENS, ")")                          \
    X(EQ, "=")                                    \
    X(NEQ, "!=")                                  \
    X(RE, "=~")                                   \
    X(NRE, "!~")                                  \
    X(GT, ">")                                    \
    X(GTE, ">=")                                  \
    X(LT, "<")                                    \
    X(LTE, "<=")                                  \
    X(ADD, "+")                                   \
    X(SUB, "-")                                   \
    X(DIV, "/")                                   \
    X(MOD, "%")                                   \
    X(MUL, "*")                                   \
    X(POW, "^")                                   \
    X(TRUE, "true")                               \
    X(FALSE, "false")                             \
    X(NIL, "nil")                                 \
    X(STATUS_OK, "ok")                            \
    X(STATUS_ERROR, "error")                      \
    X(STATUS_UNSET, "unset")                      \
    X(KIND_UNSPECIFIED, "unspecified")            \
    X(KIND_INTERNAL, "internal")                  \
    X(KIND_SERVER, "server")                      \
    X(KIND_CLIENT, "client")                      \
    X(KIND_PRODUCER, "producer")                  \
    X(KIND_CONSUMER, "consumer")                  \
    X(AND, "&&")                                  \
    X(OR, "||")                                   \
    X(NOT, "!")                                   \
    X(PIPE, "|")                                  \
    X(DESC, ">>")                                 \
    X(ANCE, "<<")                                 \
    X(SIBL, "~")                                  \
    X(NOT_CHILD, "!>")                            \
    X(NOT_PARENT, "!<")                           \
    X(NOT_DESC, "!>>")                            \
    X(NOT_ANCE, "!<<")                            \
    X(UNION_SIBL, "&~")                           \
    X(UNION_CHILD, "&>")                          \
    X(UNION_PARENT, "&<")                         \
    X(UNION_DESC, "&>>")                          \
    X(UNION_ANCE, "&<<")                          \
    X(IDURATION, "duration")                      \
    X(CHILDCOUNT, "childCount")                   \
    X(NAME, "name")                               \
    X(STATUS, "status")                           \
    X(STATUS_MESSAGE, "statusMessage")            \
    X(KIND, "kind")                               \
    X(ROOTNAME, "rootName")                       \
    X(ROOTSERVICENAME, "rootServiceName")         \
    X(ROOTSERVICE, "rootService")                 \
    X(TRACEDURATION, "traceDuration")             \
    X(NESTEDSETLEFT, "nestedSetLeft")             \
    X(NESTEDSETRIGHT, "nestedSetRight")           \
    X(NESTEDSETPARENT, "nestedSetParent")         \
    X(ID, "id")                                   \
    X(TRACE_ID, "traceID")                        \
    X(SPAN_ID, "spanID")                          \
    X(PARENT_ID, "parentID")                      \
    X(TIMESINCESTART, "timeSinceStart")           \
    X(VERSION, "version")                         \
    X(PARENT, "parent")                           \
    X(PARENT_DOT, "parent.")                      \
    X(RESOURCE_DOT, "resource.")                  \
    X(SPAN_DOT, "span.")                          \
    X(TRACE_COLON, "trace:")                      \
    X(SPAN_COLON, "span:")                        \
    X(EVENT_COLON, "event:")                      \
    X(LINK_COLON, "link:")                        \
    X(INSTRUMENTATION_COLON, "instrumentation:")  \
    X(EVENT_DOT, "event.")                        \
    X(LINK_DOT, "link.")                          \
    X(INSTRUMENTATION_DOT, "instrumentation.")    \
    X(COUNT, "count")                             \
    X(AVG, "avg")                                 \
    X(MAX, "max")                                 \
    X(MIN, "min")                                 \
    X(SUM, "sum")                                 \
    X(BY, "by")                                   \
    X(COALESCE, "coalesce")                       \
    X(SELECT, "select")                           \
    X(RATE, "rate")                               \
    X(COUNT_OVER_TIME, "count_over_time")         \
    X(MIN_OVER_TIME, "min_over_time")             \
    X(MAX_OVER_TIME, "max_over_time")             \
    X(AVG_OVER_TIME, "avg_over_time")             \
    X(SUM_OVER_TIME, "sum_over_time")             \
    X(QUANTILE_OVER_TIME, "quantile_over_time")   \
    X(HISTOGRAM_OVER_TIME, "histogram_over_time") \
    X(COMPARE, "compare")                         \
    X(TOPK, "topk")                               \
    X(BOTTOMK, "bottomk")                         \
    X(WITH, "with")

enum tr_tql_tok {
#define TR__TQL_TOK_ENUM(name, text) TR_TQL_T_##name,
    TR_TQL_TOKENS(TR__TQL_TOK_ENUM)
#undef TR__TQL_TOK_ENUM
        TR_TQL_T__COUNT
};

struct tr_tql_token {
    enum tr_tql_tok type;
    size_t pos;      /* byte offset of its first byte */
    const char *str; /* IDENTIFIER, STRING: value (arena, NUL-terminated) */
    size_t str_len;
    int64_t i; /* INTEGER; DURATION: nanoseconds */
    double f;  /* FLOAT */
};

/* Tokenizes q (n bytes) into *toks (arena array, *ntoks tokens, the last
 * one EOF or ERROR). On a lexical error the last token is ERROR and
 * errmsg holds Tempo's message with its position ("parse error at line
 * 1, col 5: literal not terminated"). Returns 0, TR_ENOMEM; a lexical
 * error is not a failure of this function. */
int tr_tql_lex_all(const char *q,
                   size_t n,
                   struct tr_arena *a,
                   struct tr_tql_token **toks,
                   size_t *ntoks,
                   char *errmsg);

/* Token text for messages ("IDENTIFIER", "{", "duration", "$end"). */
const char *tr_tql_tok_name(enum tr_tql_tok t);

/* "line L, col C" of byte offset pos in q (C in characters, 1-based). */
void tr_tql_line_col(const char *q, size_t n, size_t pos, int *line, int *col);

/* Prometheus' then Go's duration syntax; false if neither accepts s. */
bool tr_tql_parse_duration(const char *s, size_t n, int64_t *ns);

/* Type of a scalar expression / static (Tempo's impliedType). */
enum tr_traceql_type tr_tql_scalar_type(const struct tr_traceql_scalar *s);

/* Folds lhs op rhs (ADD SUB MUL DIV MOD POW) of two numeric statics with
 * Go's int/float rules into *out; false when it cannot (types, division
 * of ints by zero). */
bool tr_tql_fold_arith(enum tr_traceql_op op,
                       const struct tr_traceql_static *lhs,
                       const struct tr_traceql_static *rhs,
                       struct tr_traceql_static *out);

/* Negates a numeric static in place (int64 wraps, as in Go). */
void tr_tql_negate(struct tr_traceql_static *s);

/* Float of a numeric static (durations in nanoseconds). */
double tr_tql_static_float(const struct tr_traceql_static *s);

/* Appends a static / attribute / field in canonical form. */
void tr_tql_format_static(const struct tr_traceql_static *s, struct tr_buf *b);
void tr_tql_format_attr(const struct tr_traceql_attr *a, struct tr_buf *b);
void tr_tql_format_field(const struct tr_traceql_field *f, struct tr_buf *b);
void tr_tql_format_float(double v, struct tr_buf *b);

#endif
