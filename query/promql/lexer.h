/* lexer.h - PromQL (Prometheus 2.53) tokenizer.
 *
 * Tokens are zero-copy slices of the input (pos, len). The lexer keeps the
 * same context as Prometheus' (inside braces, inside brackets, paren depth)
 * because PromQL's tokens depend on it: inside {...} keywords are plain
 * identifiers and ':' is not allowed in them; after '[' a duration must
 * follow; inside [...] ':' separates the subquery step.
 *
 *   token              examples
 *   IDENT              foo  sum  rate  __name__  (aggregators/functions too)
 *   METRIC_IDENT       job:rate5m:sum  (an identifier containing ':')
 *   keywords           and or unless atan2 by without on ignoring group_left
 *                      group_right bool offset start end (case-insensitive)
 *   NUMBER             1  1.5  .5  1e-3  0x1F  Inf  NaN  (case-insensitive)
 *   DURATION           5m  1h30m  1y2w  100ms
 *   STRING             "a\n"  'b'  `raw`  (Go escapes; \xNN \uNNNN \UNNNNNNNN
 *                      \NNN octal; the quote char of the string)
 *   operators          + - * / % ^ == != < <= > >= = =~ !~
 *   punctuation        ( ) { } [ ] , : @
 *   COMMENT            # to end of line
 *
 * Errors use Prometheus' wording and position: the byte offset where the
 * offending token starts, rendered "line:col: parse error: message" with a
 * 1-based byte column. */
#ifndef TR_QUERY_PROMQL_LEXER_H
#define TR_QUERY_PROMQL_LEXER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

enum tr_promql_tok {
    TR_PROMQL_EOF,
    TR_PROMQL_ERROR,
    TR_PROMQL_COMMENT,
    TR_PROMQL_IDENT,
    TR_PROMQL_METRIC_IDENT,
    TR_PROMQL_NUMBER,
    TR_PROMQL_DURATION,
    TR_PROMQL_STRING,
    /* punctuation */
    TR_PROMQL_LPAREN,
    TR_PROMQL_RPAREN,
    TR_PROMQL_LBRACE,
    TR_PROMQL_RBRACE,
    TR_PROMQL_LBRACKET,
    TR_PROMQL_RBRACKET,
    TR_PROMQL_COMMA,
    TR_PROMQL_COLON,
    TR_PROMQL_AT,
    TR_PROMQL_EQL, /* = (label matching) */
    /* operators */
    TR_PROMQL_ADD,
    TR_PROMQL_SUB,
    TR_PROMQL_MUL,
    TR_PROMQL_DIV,
    TR_PROMQL_MOD,
    TR_PROMQL_POW,
    TR_PROMQL_EQLC, /* == */
    TR_PROMQL_NEQ,
    TR_PROMQL_LSS,
    TR_PROMQL_LTE,
    TR_PROMQL_GTR,
    TR_PROMQL_GTE,
    TR_PROMQL_EQL_REGEX,
    TR_PROMQL_NEQ_REGEX,
    TR_PROMQL_LAND,
    TR_PROMQL_LOR,
    TR_PROMQL_LUNLESS,
    TR_PROMQL_ATAN2,
    /* keywords */
    TR_PROMQL_BY,
    TR_PROMQL_WITHOUT,
    TR_PROMQL_ON,
    TR_PROMQL_IGNORING,
    TR_PROMQL_GROUP_LEFT,
    TR_PROMQL_GROUP_RIGHT,
    TR_PROMQL_BOOL,
    TR_PROMQL_OFFSET,
    TR_PROMQL_START,
    TR_PROMQL_END,
};

struct tr_promql_token {
    enum tr_promql_tok type;
    size_t pos; /* byte offset of the first byte in the input */
    size_t len; /* bytes (quotes included for strings) */
};

struct tr_promql_lexer {
    const char *input;  /* not copied; must outlive the lexer */
    size_t n;           /* input length */
    size_t pos;         /* next byte to scan */
    int paren_depth;    /* open '(' */
    bool brace_open;    /* inside {...} */
    bool bracket_open;  /* inside [...] */
    bool got_colon;     /* ':' already seen inside [...] */
    bool after_bracket; /* a duration must follow '[' */
    bool failed;        /* an error was returned; next() keeps failing */
};

void tr_promql_lex_init(struct tr_promql_lexer *l, const char *s, size_t n);
/* Scans the next token into *tok (comments included). 0, or TR_EINVAL with
 * tok->type = TR_PROMQL_ERROR, tok->pos at the error and errmsg (may be NULL)
 * = "1:5: parse error: unexpected end of input inside braces". After EOF or
 * an error, returns the same again. */
int tr_promql_lex_next(struct tr_promql_lexer *l,
                       struct tr_promql_token *tok,
                       char *errmsg);

/* Prometheus' description of a token for "unexpected ..." messages, e.g.
 * `identifier "foo"`, `string "\"a\""`, `"{"`, `<op:=~>`, `end of input`. */
void tr_promql_tok_desc(const char *input,
                        const struct tr_promql_token *tok,
                        char *buf,
                        size_t n);
/* Static name of a token type ("IDENT", "=~", "by", ...). */
const char *tr_promql_tok_name(enum tr_promql_tok t);

/* Formats "line:col: parse error: <fmt>" for byte offset pos of input into
 * errmsg (may be NULL); returns TR_EINVAL. */
int tr_promql_errf(char *errmsg,
                   const char *input,
                   size_t n,
                   size_t pos,
                   const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));

/* Appends the value of a STRING token (quotes included, already validated by
 * the lexer) to out, applying Go's escapes. TR_EINVAL on a bad escape (only
 * for unvalidated input), TR_ENOMEM. */
int tr_promql_unquote(const char *s, size_t n, struct tr_buf *out);
/* Value of a NUMBER token as Prometheus parses it: integers in base 10, 16
 * (0x) and 8 (leading 0), else a float ("1e3", "Inf", "NaN", "0x1p-2").
 * TR_EINVAL if it is not a number. */
int tr_promql_parse_number(const char *s, size_t n, double *out);
/* Prometheus duration "1y2w3d4h5m6s7ms" (units in this order, each at most
 * once; "0" alone allowed) to milliseconds. TR_EINVAL (errmsg: `not a valid
 * duration string: "..."`) or TR_ETOOLARGE on overflow. */
int tr_promql_parse_duration(const char *s,
                             size_t n,
                             int64_t *ms,
                             char *errmsg);

#endif
