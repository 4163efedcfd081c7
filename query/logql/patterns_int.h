/* patterns_int.h - pieces shared by the Drain pattern miner's files: the
 * token buffer the tokenizers (patterns_tokenize.c) fill and the trees
 * (patterns.c) read, and the tokenizers themselves. See patterns.h. */
#ifndef TR_QUERY_LOGQL_PATTERNS_INT_H
#define TR_QUERY_LOGQL_PATTERNS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* The placeholder token `<_>`. A token that IS this slice (same base
 * pointer, not just the same bytes) was made a placeholder by the
 * tokenizer (logfmt time/trace fields); patterns.c relies on the pointer. */
extern const struct tr_slice drain__param;

/* The tokens of the line being trained. Allocated and freed by patterns.c
 * (tok: max + 1 slots, spaces: max + 2, scratch: an initialised buffer);
 * every tokenizer call starts it afresh. */
struct drain_toks {
    struct tr_slice *tok;  /* n tokens: into the line, into scratch, or
                              drain__param */
    uint32_t *spaces;      /* spaces[0] leading spaces, spaces[i + 1] the
                              spaces after token i (text tokenizer) */
    size_t n;              /* tokens in tok */
    size_t max;            /* most tokens a line may have (max_tokens) */
    struct tr_buf scratch; /* unescaped logfmt values */
};

/* What a tokenizer made of a line. */
enum drain_tok_result {
    DRAIN_TOK_OK,         /* tk holds the tokens */
    DRAIN_TOK_UNPARSABLE, /* not valid for the format: skip the line */
    DRAIN_TOK_TOO_MANY,   /* more than max tokens: skip the line */
    DRAIN_TOK_TOO_LONG,   /* longer than max_line_length (set by the caller,
                             never by a tokenizer) */
    DRAIN_TOK_NOMEM,      /* out of memory */
};

/* Loki's punctuationTokenizer over s: spaces end a token (and are counted
 * in spaces), '=' and punctuation other than _ - . : / end a token and are
 * one themselves. Tokens point into s. DRAIN_TOK_OK or DRAIN_TOK_TOO_MANY. */
enum drain_tok_result drain__tok_text(struct drain_toks *tk,
                                      const char *s,
                                      size_t n);
/* Loki's logfmtTokenizer: key and value tokens (values of ts, time,
 * timestamp, traceID, t are drain__param); tokens point into s or, for an
 * unescaped quoted value, into tk->scratch. DRAIN_TOK_OK, _UNPARSABLE (any
 * logfmt syntax error), _TOO_MANY or _NOMEM. */
enum drain_tok_result drain__tok_logfmt(struct drain_toks *tk,
                                        const char *s,
                                        size_t n);
/* The highest-priority of the top-level string fields log, message, msg,
 * msg_, _msg, content of the JSON object s, raw (still escaped) without its
 * quotes, in *out (pointing into s). False when s is not an object or has
 * none of them. Lenient like jsonparser.Get: only the path to the value
 * has to parse. */
bool drain__json_message(const char *s, size_t n, struct tr_slice *out);
/* Decodes the UTF-8 rune at s (n >= 1 bytes) into *r; its length in bytes,
 * 0 when invalid. */
size_t drain__utf8_rune(const char *s, size_t n, uint32_t *r);
/* True when a (n bytes) equals the NUL-terminated b ignoring ASCII case. */
bool drain__ascii_eq_nocase(const char *a, size_t n, const char *b);

#endif
