/* parser_int.h - private pieces of the TraceQL parser shared by parser.c
 * (statics, attributes, field expressions, scalar filters, spansets,
 * pipelines) and parser_metrics.c (scalar pipeline expressions, metrics,
 * hints and the query's alternatives). See parser.c for the grammar. */
#ifndef TR_QUERY_TRACEQL_PARSER_INT_H
#define TR_QUERY_TRACEQL_PARSER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "query/traceql/traceql_int.h"

/* Budget of parse steps (primaries and stages tried, over every
 * alternative): TR_TQL_STEPS_BASE + TR_TQL_STEPS_PER_TOKEN per token. Real
 * queries need a few per token; the budget bounds the time and the arena
 * memory that backtracking can spend on a hostile query. */
#define TR_TQL_STEPS_BASE 4096
#define TR_TQL_STEPS_PER_TOKEN 32

/* Memoized parse functions (packrat): the result of each at each token is
 * kept, so that backtracking over nested parentheses stays linear. Nodes
 * are never changed once built, so a result may be reused. */
enum {
    TR_TQL_MEMO_FIELD, /* field expression primary */
    TR_TQL_MEMO_ARITH, /* aggregate/literal arithmetic primary */
    TR_TQL_MEMO_SS,    /* spanset primary, 3 modes: + mode */
    TR_TQL_MEMO_PIPELINE = TR_TQL_MEMO_SS + 3,
    TR_TQL_MEMO_SPX, /* scalar pipeline expression primary */
    TR_TQL_MEMO_MX,  /* metrics math primary */
    TR_TQL_MEMO__COUNT
};

struct tr_tql_memo {
    void *node;    /* the result (NULL: failed) */
    uint32_t end;  /* token after it */
    uint8_t state; /* 0 unknown, 1 parsed, 2 failed */
};

/* Parser state: the tokens, the position, limits and the errors seen. */
struct tr_tql_parser {
    const char *q;
    size_t n;
    const struct tr_tql_token *t;
    size_t nt;
    size_t i;
    struct tr_arena *a;
    int depth;
    size_t steps;
    size_t max_steps;
    bool oom;
    bool abort; /* too deep or too complex: stop everything */
    size_t far; /* furthest token a syntax error was seen at */
    bool have_sem;
    char sem[TR_ERRMSG_SIZE]; /* first semantic error */
    char abort_msg[TR_ERRMSG_SIZE];
    struct tr_tql_memo *memo[TR_TQL_MEMO__COUNT]; /* nt entries each */
};

/* ---- helpers ---------------------------------------------------------- */

static inline enum tr_tql_tok tok_cur(const struct tr_tql_parser *p)
{
    return p->t[p->i].type;
}

static inline enum tr_tql_tok tok_ahead(const struct tr_tql_parser *p, size_t k)
{
    size_t j = p->i + k;
    return j < p->nt ? p->t[j].type : TR_TQL_T_EOF;
}

static inline void tok_advance(struct tr_tql_parser *p)
{
    if (p->i + 1 < p->nt) {
        p->i++;
    }
}

static inline bool tok_fail(struct tr_tql_parser *p)
{
    if (p->i > p->far) {
        p->far = p->i;
    }
    return false;
}

static inline bool tok_accept(struct tr_tql_parser *p, enum tr_tql_tok t)
{
    if (tok_cur(p) == t) {
        tok_advance(p);
        return true;
    }
    return false;
}

static inline bool tok_expect(struct tr_tql_parser *p, enum tr_tql_tok t)
{
    return tok_accept(p, t) || tok_fail(p);
}

/* Records the first semantic error (message at token at); returns false. */
bool tr_tql_semantic(struct tr_tql_parser *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Counts a step and a nesting level; false when over the limits. */
bool tr_tql_enter(struct tr_tql_parser *p);
void tr_tql_leave(struct tr_tql_parser *p);
/* Zeroed arena memory; NULL (and p->oom) when out of memory. */
void *tr_tql_alloc(struct tr_tql_parser *p, size_t n);
/* Appends elem (size sz) to the arena array *arr of *n elements. */
bool tr_tql_push(struct tr_tql_parser *p,
                 void *arr,
                 size_t *n,
                 size_t *cap,
                 const void *elem,
                 size_t sz);

/* The memoized result of fn at p->i: 1 (p->i moved past it, *node set),
 * 0 (it failed there) or -1 (not known yet). */
int tr_tql_memo_get(struct tr_tql_parser *p, int fn, void **node);
/* Records the result of fn that started at start and ended at p->i (node
 * NULL: it failed). */
void tr_tql_memo_put(struct tr_tql_parser *p, int fn, size_t start, void *node);

/* Each parse function restores p->i when it fails. */
bool tr_tql_p_static(struct tr_tql_parser *p, struct tr_traceql_static *st);
bool tr_tql_p_attribute(struct tr_tql_parser *p, struct tr_traceql_attr *a);
struct tr_traceql_spanset *tr_tql_p_filter(struct tr_tql_parser *p);
struct tr_traceql_pipeline *tr_tql_p_pipeline(struct tr_tql_parser *p);
/* Spanset operators over filters (mode FILTERS: spansetExpression) or
 * over parenthesised pipelines (PIPES: spansetPipelineExpression; FIRST:
 * where a pipeline may start too, so that "( spanset )" is not one). */
enum { TR_TQL_SS_FILTERS, TR_TQL_SS_PIPES, TR_TQL_SS_PIPES_FIRST };
struct tr_traceql_spanset *tr_tql_p_spanset(struct tr_tql_parser *p,
                                            int min,
                                            int mode);
bool tr_tql_p_aggregate(struct tr_tql_parser *p,
                        struct tr_traceql_scalar **out);
bool tr_tql_p_cmp(struct tr_tql_parser *p, enum tr_traceql_op *op);
bool tr_tql_p_const(struct tr_tql_parser *p, struct tr_traceql_static *st);
int tr_tql_arith_prec(enum tr_tql_tok t, enum tr_traceql_op *op, bool *right);
struct tr_traceql_spanset *tr_tql_ss_new(struct tr_tql_parser *p,
                                         enum tr_traceql_spanset_kind k);
struct tr_traceql_scalar *tr_tql_s_static(struct tr_tql_parser *p,
                                          const struct tr_traceql_static *st);

#endif
