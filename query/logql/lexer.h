/* lexer.h - LogQL (Loki 3.x) tokenizer.
 *
 * Loki scans a query with Go's text/scanner and then classifies the text;
 * this lexer reproduces that classification, since LogQL's tokens depend on
 * it:
 *
 *   token            examples / rule
 *   IDENTIFIER       app  __error__  (also any character LogQL has no use
 *                    for, e.g. "@", and a function name not followed by
 *                    "(": {rate="x"} has the label rate)
 *   STRING           "a\n"  `raw`  (Go escapes, unquoted by the lexer)
 *   NUMBER           1  1.5  .5  1e-3  0x1p3  0x1A (text kept; Loki's
 *                    strconv.ParseFloat decides later)
 *   DURATION         5m  1h30m  1.5s  250ms  -1h (a number followed by
 *                    duration characters, Prometheus or Go syntax)
 *   BYTES            20MB  1KiB  1.5GB  (a number followed by byte units)
 *   RANGE            [5m]  (the whole bracket; Prometheus duration inside)
 *   FUNCTION_FLAG    --strict  --keep-empty
 *   keywords         by without bool unwrap offset on ignoring group_left
 *                    group_right or and unless json regexp logfmt unpack
 *                    pattern label_format line_format decolorize drop keep
 *                    (case-insensitive, always keywords, also in selectors)
 *   function names   rate count_over_time ... sum topk ... vector
 *                    label_replace ip bytes duration duration_seconds:
 *                    only when "(" follows, or "by (" / "without (" does
 *   operators        + - * / % ^ == != > >= < <= = =~ !~ |= |~ |> !> |
 *   punctuation      ( ) { } ] , .
 *   comments         # to end of line; Go's // and slash-star comments
 *
 * Positions: Loki reports "line L, col C" with C counted in characters
 * (runes), 1-based, of the token where the error was found; for tokens it
 * scanned with look-ahead (two-character operators, durations, byte sizes,
 * ranges, flags) it reports line 0, a quirk kept here (token.line0). */
#ifndef TR_QUERY_LOGQL_LEXER_H
#define TR_QUERY_LOGQL_LEXER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/err.h"

/* X(name, text for "unexpected ..." messages) - the names are goyacc's
 * token names after Loki's renaming of its keyword tokens. */
#define TR_LOGQL_TOKENS(X)                      \
    X(EOF, "$end")                              \
    X(ERROR, "ERROR")                           \
    X(IDENTIFIER, "IDENTIFIER")                 \
    X(STRING, "STRING")                         \
    X(NUMBER, "NUMBER")                         \
    X(DURATION, "DURATION")                     \
    X(BYTES, "BYTES")                           \
    X(RANGE, "RANGE")                           \
    X(FUNCTION_FLAG, "FUNCTION_FLAG")           \
    X(COMMA, ",")                               \
    X(DOT, ".")                                 \
    X(OPEN_BRACE, "{")                          \
    X(CLOSE_BRACE, "}")                         \
    X(EQ, "=")                                  \
    X(NEQ, "!=")                                \
    X(RE, "=~")                                 \
    X(NRE, "!~")                                \
    X(NPA, "!>")                                \
    X(PIPE_EXACT, "|=")                         \
    X(PIPE_MATCH, "|~")                         \
    X(PIPE_PATTERN, "|>")                       \
    X(PIPE, "|")                                \
    X(UNWRAP, "unwrap")                         \
    X(OPEN_PARENTHESIS, "(")                    \
    X(CLOSE_PARENTHESIS, ")")                   \
    X(BY, "by")                                 \
    X(WITHOUT, "without")                       \
    X(BOOL, "bool")                             \
    X(OPEN_BRACKET, "[")                        \
    X(CLOSE_BRACKET, "]")                       \
    X(LABEL_REPLACE, "label_replace")           \
    X(OFFSET, "offset")                         \
    X(ON, "on")                                 \
    X(IGNORING, "ignoring")                     \
    X(GROUP_LEFT, "group_left")                 \
    X(GROUP_RIGHT, "group_right")               \
    X(OR, "or")                                 \
    X(AND, "and")                               \
    X(UNLESS, "unless")                         \
    X(ADD, "+")                                 \
    X(SUB, "-")                                 \
    X(MUL, "*")                                 \
    X(DIV, "/")                                 \
    X(MOD, "%")                                 \
    X(POW, "^")                                 \
    X(CMP_EQ, "==")                             \
    X(GT, ">")                                  \
    X(GTE, ">=")                                \
    X(LT, "<")                                  \
    X(LTE, "<=")                                \
    X(JSON, "json")                             \
    X(REGEXP, "regexp")                         \
    X(LOGFMT, "logfmt")                         \
    X(UNPACK, "unpack")                         \
    X(PATTERN, "pattern")                       \
    X(LABEL_FMT, "label_format")                \
    X(LINE_FMT, "line_format")                  \
    X(IP, "ip")                                 \
    X(DECOLORIZE, "decolorize")                 \
    X(DROP, "drop")                             \
    X(KEEP, "keep")                             \
    X(COUNT_OVER_TIME, "COUNT_OVER_TIME")       \
    X(RATE, "RATE")                             \
    X(RATE_COUNTER, "RATE_COUNTER")             \
    X(BYTES_OVER_TIME, "BYTES_OVER_TIME")       \
    X(BYTES_RATE, "BYTES_RATE")                 \
    X(AVG_OVER_TIME, "AVG_OVER_TIME")           \
    X(SUM_OVER_TIME, "SUM_OVER_TIME")           \
    X(MIN_OVER_TIME, "MIN_OVER_TIME")           \
    X(MAX_OVER_TIME, "MAX_OVER_TIME")           \
    X(STDVAR_OVER_TIME, "STDVAR_OVER_TIME")     \
    X(STDDEV_OVER_TIME, "STDDEV_OVER_TIME")     \
    X(QUANTILE_OVER_TIME, "QUANTILE_OVER_TIME") \
    X(FIRST_OVER_TIME, "FIRST_OVER_TIME")       \
    X(LAST_OVER_TIME, "LAST_OVER_TIME")         \
    X(ABSENT_OVER_TIME, "ABSENT_OVER_TIME")     \
    X(VECTOR, "VECTOR")                         \
    X(SUM, "SUM")                               \
    X(AVG, "AVG")                               \
    X(COUNT, "COUNT")                           \
    X(MAX, "MAX")                               \
    X(MIN, "MIN")                               \
    X(STDDEV, "STDDEV")                         \
    X(STDVAR, "STDVAR")                         \
    X(BOTTOMK, "BOTTOMK")                       \
    X(TOPK, "TOPK")                             \
    X(SORT, "SORT")                             \
    X(SORT_DESC, "SORT_DESC")                   \
    X(APPROX_TOPK, "APPROX_TOPK")               \
    X(BYTES_CONV, "BYTES_CONV")                 \
    X(DURATION_CONV, "DURATION_CONV")           \
    X(DURATION_SECONDS_CONV, "DURATION_SECONDS_CONV")

enum tr_logql_tok {
#define TR__LOGQL_TOK_ENUM(name, text) TR_LOGQL_T_##name,
    TR_LOGQL_TOKENS(TR__LOGQL_TOK_ENUM)
#undef TR__LOGQL_TOK_ENUM
};

struct tr_logql_token {
    enum tr_logql_tok type; /* the token */
    size_t pos;             /* byte offset of its first byte in the input (for
                               ERROR: where Loki reports the error) */
    size_t len;             /* bytes of input it covers */
    bool line0;             /* Loki reports its position as line 0 */
    bool no_pos;            /* ERROR only: Loki reports no position at all */
    const char *str;        /* STRING: unquoted value (arena, NUL-terminated);
                               other tokens: the input text at pos */
    size_t str_len;         /* bytes in str */
    int64_t dur_ns;         /* DURATION, RANGE: nanoseconds */
    uint64_t bytes;         /* BYTES: the size in bytes */
};

struct tr_logql_lexer {
    const char *in;         /* the query (not copied) */
    size_t n;               /* its length */
    size_t pos;             /* next byte to scan */
    struct tr_arena *arena; /* for unquoted strings */
    bool have_prev;         /* a token was returned before */
    size_t prev_pos;        /* start of the previous token */
    bool prev_line0;        /* its line0 */
    bool failed;            /* an ERROR was returned; next() repeats it */
    struct tr_logql_token err_tok; /* the ERROR token */
    char errmsg[TR_ERRMSG_SIZE];   /* its message (without position) */
};

/* Starts scanning q (n bytes); strings are unquoted into a. */
void tr_logql_lex_init(struct tr_logql_lexer *l,
                       const char *q,
                       size_t n,
                       struct tr_arena *a);

/* Scans the next token into *tok, skipping whitespace and comments.
 * Returns 0 (tok->type may be EOF, then again EOF), TR_ENOMEM, or TR_EINVAL
 * for a lexical error: tok->type = ERROR, l->errmsg holds Loki's message
 * ("literal not terminated", `unknown unit "x" in duration "5x"`, ...)
 * and later calls return the same error. */
int tr_logql_lex_next(struct tr_logql_lexer *l, struct tr_logql_token *tok);

/* Token name as Loki's syntax errors print it ("IDENTIFIER", "|=", "by",
 * "RATE", "$end"). */
const char *tr_logql_tok_name(enum tr_logql_tok t);

/* Formats Loki's parse error for a message at tok (NULL: no position):
 * "parse error at line L, col C: msg" or "parse error : msg" into errmsg
 * (TR_ERRMSG_SIZE; may be NULL). Returns TR_EINVAL. */
int tr_logql_errf_at(char *errmsg,
                     const char *q,
                     size_t n,
                     const struct tr_logql_token *tok,
                     const char *fmt,
                     ...) __attribute__((format(printf, 5, 6)));

/* Loki's duration syntaxes: Prometheus' model.ParseDuration ("1h30m",
 * "5d", units y w d h m s ms in order) and Go's time.ParseDuration ("1.5h",
 * "-3s", "10us": tr_logql_parse_duration of stages.h). 0 or TR_EINVAL
 * with Prometheus' message in errmsg (may be NULL). */
int tr_logql_parse_prom_duration(const char *s,
                                 size_t n,
                                 int64_t *ns,
                                 char *errmsg);
/* Go's time.ParseDuration, go-humanize's ParseBytes and strconv.ParseFloat
 * are the value conversions of query/logql/stages.h
 * (tr_logql_parse_duration, tr_logql_parse_bytes, tr_logql_parse_float):
 * one implementation serves the lexer and the pipeline stages. */

#endif
