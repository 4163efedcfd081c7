/* parser_int.h - private parts of the LogQL parser, shared by parser.c
 * (expressions, validation, the entry point) and parser_stages.c (pipeline
 * stages, label filters, patterns). */
#ifndef TR_QUERY_LOGQL_PARSER_INT_H
#define TR_QUERY_LOGQL_PARSER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/matcher.h"
#include "query/logql/ast.h"
#include "query/logql/lexer.h"

struct node_err {
    const void *node; /* the expression the error belongs to */
    const char *msg;  /* arena */
};

/* Heap objects of the tree being built, freed if parsing fails. */
struct owned {
    struct tr_matcher m; /* a copy of a matcher (its heap pointers) */
    struct tr_regex *re; /* or a regex */
};

struct parser {
    const char *q;
    size_t n;
    struct tr_arena *a;
    struct tr_logql_token *toks; /* every token up to EOF or ERROR */
    size_t ntoks;
    size_t cur;   /* next token */
    int rc;       /* first error (0 while fine) */
    char *errmsg; /* caller's buffer (may be NULL) */
    unsigned depth;
    struct node_err *nerrs;
    size_t n_nerrs, cap_nerrs;
    struct owned *owned;
    size_t n_owned, cap_owned;
    bool has_stage_err;
    char stage_err[TR_ERRMSG_SIZE];
    unsigned flags; /* TR_LOGQL_PARSE_* */
};

#define T(name) TR_LOGQL_T_##name

/* Errors (see parser.c for the three kinds). Each returns the code it set
 * (TR_EINVAL, or TR_ENOMEM once memory ran out); only the first error of a
 * parse is kept. */
int logql__oom(struct parser *p);
/* A syntax error at the current token ("syntax error: unexpected X[,
 * expecting Y]"), or the lexical error that token is. */
int logql__syntax_error(struct parser *p, const char *expecting);
/* An error Loki raises while reducing a rule: parsing stops. */
int logql__fail(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* An error Loki keeps in node until it validates the tree. 0 or
 * TR_ENOMEM. */
int logql__node_err(struct parser *p, const void *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An error Loki only meets when it builds the pipeline (first one kept). */
void logql__stage_err(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Registers heap memory of the tree (a copy of matcher m, or re) to free if
 * the parse fails. 0 or TR_ENOMEM. */
int logql__own(struct parser *p,
               const struct tr_matcher *m,
               struct tr_regex *re);

/* Tokens: the k-th token from the current one (EOF or ERROR repeat at the
 * end), its type, and consuming it (returns the consumed token). */
const struct tr_logql_token *logql__peek(const struct parser *p, size_t k);
enum tr_logql_tok logql__peek_type(const struct parser *p, size_t k);
const struct tr_logql_token *logql__next(struct parser *p);
/* Consumes a token of type t, or a syntax error (expecting may be NULL). */
int logql__expect(struct parser *p, enum tr_logql_tok t, const char *expecting);

/* Arena helpers; NULL (with the error set) when out of memory. */
char *logql__tok_text(struct parser *p, const struct tr_logql_token *t);
void *logql__alloc0(struct parser *p, size_t size);
/* Appends a zeroed element of elem bytes to the arena array *arr_p (n
 * used, cap room). */
void *logql__push(struct parser *p,
                  void *arr_p,
                  size_t *n,
                  size_t *cap,
                  size_t elem);
/* Recursion bound: false (with the error set) past TR_LOGQL_MAX_DEPTH. */
bool logql__enter(struct parser *p);
void logql__leave(struct parser *p);

/* = != =~ !~ to a matcher type; false for other tokens. */
bool logql__is_match_op(enum tr_logql_tok t, enum tr_match_type *mt);
/* Compiles a matcher into *m and registers it (Loki's mustNewMatcher). */
int logql__make_matcher(struct parser *p,
                        struct tr_matcher *m,
                        enum tr_match_type mt,
                        const struct tr_logql_token *name,
                        const struct tr_logql_token *value);

/* parser_stages.c: the stages after a selector, up to a token that starts
 * none (or "| unwrap" when stop_at_unwrap), appended to log->stages. */
int logql__parse_pipeline(struct parser *p,
                          struct tr_logql_log *log,
                          bool stop_at_unwrap);
/* A label filter expression (min_prec 1: all of it). */
int logql__parse_lf_expr(struct parser *p,
                         int min_prec,
                         struct tr_logql_label_filter **out);

#endif
