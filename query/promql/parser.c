/* parser.c - PromQL expression parser and type checker (see parser.h).
 *
 * Grammar (Prometheus 2.53 generated_parser.y, as recursive descent):
 *
 *   expr      = unary { binop modifiers expr }      (precedence climbing)
 *   modifiers = [ "bool" ] [ ( "on" | "ignoring" ) labels
 *               [ ( "group_left" | "group_right" ) [ labels ] ] ]
 *   unary     = ( "+" | "-" ) expr(^ and tighter) | postfix
 *   postfix   = primary { "[" dur "]" | "[" dur ":" [ dur ] "]"
 *               | "offset" [ "-" ] dur | "@" ( number | start() | end() ) }
 *   primary   = NUMBER | STRING | "(" expr ")" | selector
 *             | aggr_op [ grouping ] body [ grouping ] | func body
 *   body      = "(" [ expr { "," expr } ] ")"
 *   grouping  = ( "by" | "without" ) labels
 *   labels    = "(" [ label { "," label } [ "," ] ] ")"
 *   selector  = metric [ braces ] | braces
 *
 * Errors found while building nodes (bad ranges, offsets, unknown
 * functions, argument counts of aggregations) stop the parse at once; type
 * errors come from a second pass in the order of Prometheus' checkAST. */
#include "query/promql/parser.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"

#define T(x) TR_PROMQL_TYPE_##x

/* A vector selector whose matchers must be freed on error. */
struct vs_link {
    struct tr_promql_node *node;
    struct vs_link *next;
};

struct parser {
    struct tr_promql_lexer lex;
    const char *s;
    size_t n;
    struct tr_arena *a;
    char *errmsg;
    struct tr_promql_token tok; /* lookahead when have_tok */
    bool have_tok;
    size_t last_end; /* end of the last consumed token */
    int depth;       /* parse recursion */
    struct vs_link *selectors;
};

/* ---- tokens
 * ------------------------------------------------------------------ */

static int peek(struct parser *p, struct tr_promql_token **t)
{
    if (!p->have_tok) {
        int rv;
        do {
            rv = tr_promql_lex_next(&p->lex, &p->tok, p->errmsg);
        } while (rv == 0 && p->tok.type == TR_PROMQL_COMMENT);
        if (rv != 0) {
            return rv;
        }
        p->have_tok = true;
    }
    *t = &p->tok;
    return 0;
}

static void advance(struct parser *p)
{
    p->last_end = p->tok.pos + p->tok.len;
    p->have_tok = false;
}

static int unexpected(struct parser *p,
                      const struct tr_promql_token *t,
                      const char *context,
                      const char *expected)
{
    char d[200];
    tr_promql_tok_desc(p->s, t, d, sizeof(d));
    return tr_promql_errf(p->errmsg, p->s, p->n, t->pos,
                          "unexpected %s%s%s%s%s", d, context ? " in " : "",
                          context ? context : "", expected ? ", expected " : "",
                          expected ? expected : "");
}

static int oom(struct parser *p)
{
    return tr_errf(TR_ENOMEM, p->errmsg, "out of memory");
}

static struct tr_promql_node *new_node(struct parser *p,
                                       enum tr_promql_kind kind,
                                       size_t start)
{
    struct tr_promql_node *n = tr_arena_alloc(p->a, sizeof(*n));
    if (n != NULL) {
        memset(n, 0, sizeof(*n));
        n->kind = kind;
        n->start = start;
        n->end = p->last_end;
        n->height = 1;
    }
    return n;
}

static unsigned child_height(const struct tr_promql_node *n)
{
    return n != NULL ? n->height : 0;
}

/* Sets n->height from its children; error when too deep. */
static int set_height(struct parser *p,
                      struct tr_promql_node *n,
                      const struct tr_promql_node *a,
                      const struct tr_promql_node *b)
{
    unsigned h =
        child_height(a) > child_height(b) ? child_height(a) : child_height(b);
    if (h + 1 > n->height) {
        n->height = h + 1;
    }
    if (n->height > TR_PROMQL_MAX_DEPTH) {
        return tr_promql_errf(p->errmsg, p->s, p->n, n->start,
                              "expression nested too deeply (limit %d)",
                              TR_PROMQL_MAX_DEPTH);
    }
    return 0;
}

static bool is_label_name(const char *s, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '_' || (i > 0 && c >= '0' && c <= '9');
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* Tokens Prometheus' grammar accepts as a metric name at expression start
 * (identifiers and the keywords listed in metric_identifier). */
static bool is_metric_tok(enum tr_promql_tok t)
{
    switch (t) {
        case TR_PROMQL_IDENT:
        case TR_PROMQL_METRIC_IDENT:
        case TR_PROMQL_BY:
        case TR_PROMQL_WITHOUT:
        case TR_PROMQL_LAND:
        case TR_PROMQL_LOR:
        case TR_PROMQL_LUNLESS:
        case TR_PROMQL_OFFSET:
        case TR_PROMQL_START:
        case TR_PROMQL_END:
            return true;
        default:
            return false;
    }
}

/* Tokens accepted where a label name may stand (maybe_label). */
static bool is_label_tok(enum tr_promql_tok t)
{
    return t == TR_PROMQL_IDENT || t == TR_PROMQL_METRIC_IDENT ||
           t == TR_PROMQL_LAND || t == TR_PROMQL_LOR ||
           t == TR_PROMQL_LUNLESS || t == TR_PROMQL_ATAN2 || t >= TR_PROMQL_BY;
}

static int aggr_op(const char *s, size_t n, enum tr_promql_aggr *op)
{
    static const char *const names[] = {
        "sum",    "avg",    "count", "min",     "max",          "group",
        "stddev", "stdvar", "topk",  "bottomk", "count_values", "quantile",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i]) == n && strncasecmp(names[i], s, n) == 0) {
            *op = (enum tr_promql_aggr)i;
            return 1;
        }
    }
    return 0;
}

static bool aggr_has_param(enum tr_promql_aggr op)
{
    return op == TR_PROMQL_AGGR_TOPK || op == TR_PROMQL_AGGR_BOTTOMK ||
           op == TR_PROMQL_AGGR_COUNT_VALUES || op == TR_PROMQL_AGGR_QUANTILE;
}

/* Precedence of a binary operator token, 0 when it is none. */
static int binop_prec(enum tr_promql_tok t)
{
    switch (t) {
        case TR_PROMQL_LOR:
            return 1;
        case TR_PROMQL_LAND:
        case TR_PROMQL_LUNLESS:
            return 2;
        case TR_PROMQL_EQLC:
        case TR_PROMQL_NEQ:
        case TR_PROMQL_LSS:
        case TR_PROMQL_LTE:
        case TR_PROMQL_GTR:
        case TR_PROMQL_GTE:
            return 3;
        case TR_PROMQL_ADD:
        case TR_PROMQL_SUB:
            return 4;
        case TR_PROMQL_MUL:
        case TR_PROMQL_DIV:
        case TR_PROMQL_MOD:
        case TR_PROMQL_ATAN2:
            return 5;
        case TR_PROMQL_POW:
            return 6;
        default:
            return 0;
    }
}

#define PREC_POW 6

/* ---- pieces
 * ------------------------------------------------------------------ */

/* Parses a DURATION token (already peeked as t) into *ms (> 0). */
static int duration_tok(struct parser *p,
                        const struct tr_promql_token *t,
                        int64_t *ms)
{
    char msg[TR_ERRMSG_SIZE];
    int rv = tr_promql_parse_duration(p->s + t->pos, t->len, ms, msg);
    if (rv != 0) {
        return tr_promql_errf(p->errmsg, p->s, p->n, t->pos, "%s", msg);
    }
    if (*ms == 0) {
        return tr_promql_errf(p->errmsg, p->s, p->n, t->pos,
                              "duration must be greater than 0");
    }
    advance(p);
    return 0;
}

/* "(" [ label { "," label } [ "," ] ] ")" into *out. */
static int parse_labels(struct parser *p, struct tr_promql_labels *out)
{
    struct tr_promql_token *t;
    const char **names = NULL;
    size_t cnt = 0, cap = 0;
    int rv;

    if ((rv = peek(p, &t)) != 0) {
        return rv;
    }
    if (t->type != TR_PROMQL_LPAREN) {
        return unexpected(p, t, "grouping opts", "\"(\"");
    }
    advance(p);
    for (;;) {
        if ((rv = peek(p, &t)) != 0) {
            return rv;
        }
        if (t->type == TR_PROMQL_RPAREN) {
            advance(p);
            break;
        }
        if (!is_label_tok(t->type) || !is_label_name(p->s + t->pos, t->len)) {
            return unexpected(p, t, "grouping opts", "label");
        }
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            const char **nn = tr_arena_alloc(p->a, ncap * sizeof(*nn));
            if (nn == NULL) {
                return oom(p);
            }
            if (cnt > 0) {
                memcpy(nn, names, cnt * sizeof(*nn));
            }
            names = nn;
            cap = ncap;
        }
        names[cnt] = tr_arena_strndup(p->a, p->s + t->pos, t->len);
        if (names[cnt] == NULL) {
            return oom(p);
        }
        cnt++;
        advance(p);
        if ((rv = peek(p, &t)) != 0) {
            return rv;
        }
        if (t->type == TR_PROMQL_COMMA) {
            advance(p);
        } else if (t->type != TR_PROMQL_RPAREN) {
            return unexpected(p, t, "grouping opts", "\",\" or \")\"");
        }
    }
    out->names = names;
    out->n = cnt;
    return 0;
}

static int unquote_tok(struct parser *p,
                       const struct tr_promql_token *t,
                       const char **val,
                       size_t *len)
{
    struct tr_buf b;
    tr_buf_init(&b);
    int rv = tr_promql_unquote(p->s + t->pos, t->len, &b);
    if (rv == 0) {
        char *c = tr_arena_alloc(p->a, b.len + 1);
        if (c == NULL) {
            rv = TR_ENOMEM;
        } else {
            if (b.len > 0) {
                memcpy(c, b.data, b.len);
            }
            c[b.len] = '\0';
            *val = c;
            *len = b.len;
        }
    }
    tr_buf_free(&b);
    if (rv == TR_ENOMEM) {
        return oom(p);
    }
    if (rv != 0) {
        return tr_promql_errf(p->errmsg, p->s, p->n, t->pos,
                              "error unquoting string");
    }
    return 0;
}

/* Growable matcher list (heap) while parsing braces. */
struct mlist {
    struct tr_matcher *m;
    size_t n;
    size_t cap;
};

static void mlist_free(struct mlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        tr_matcher_free(&l->m[i]);
    }
    tr_free(l->m);
}

static int mlist_add(struct parser *p,
                     struct mlist *l,
                     enum tr_match_type type,
                     const char *name,
                     const char *value,
                     size_t value_len,
                     size_t pos)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 4;
        struct tr_matcher *nm = tr_realloc(l->m, ncap * sizeof(*nm));
        if (nm == NULL) {
            return oom(p);
        }
        l->m = nm;
        l->cap = ncap;
    }
    char msg[TR_ERRMSG_SIZE];
    int rv = tr_matcher_init(&l->m[l->n], type, name, value, value_len, msg);
    if (rv == TR_EINVAL) {
        return tr_promql_errf(p->errmsg, p->s, p->n, pos, "%s", msg);
    }
    if (rv != 0) {
        return tr_errf(rv, p->errmsg, "%s", msg);
    }
    l->n++;
    return 0;
}

/* "{" [ matcher { "," matcher } [ "," ] ] "}" (the "{" is the lookahead). */
static int parse_braces(struct parser *p, struct mlist *l)
{
    struct tr_promql_token *t;
    int rv;

    advance(p); /* { */
    for (;;) {
        if ((rv = peek(p, &t)) != 0) {
            return rv;
        }
        if (t->type == TR_PROMQL_RBRACE) {
            advance(p);
            return 0;
        }
        if (t->type != TR_PROMQL_IDENT) {
            return unexpected(p, t, "label matching", "identifier or \"}\"");
        }
        size_t lpos = t->pos;
        const char *name = tr_arena_strndup(p->a, p->s + t->pos, t->len);
        if (name == NULL) {
            return oom(p);
        }
        advance(p);
        if ((rv = peek(p, &t)) != 0) {
            return rv;
        }
        enum tr_match_type type;
        switch (t->type) {
            case TR_PROMQL_EQL:
                type = TR_MATCH_EQ;
                break;
            case TR_PROMQL_NEQ:
                type = TR_MATCH_NEQ;
                break;
            case TR_PROMQL_EQL_REGEX:
                type = TR_MATCH_RE;
                break;
            case TR_PROMQL_NEQ_REGEX:
                type = TR_MATCH_NRE;
                break;
            default:
                return unexpected(p, t, "label matching",
                                  "label matching operator");
        }
        advance(p);
        if ((rv = peek(p, &t)) != 0) {
            return rv;
        }
        if (t->type != TR_PROMQL_STRING) {
            return unexpected(p, t, "label matching", "string");
        }
        const char *val;
        size_t vlen;
        if ((rv = unquote_tok(p, t, &val, &vlen)) != 0) {
            return rv;
        }
        advance(p);
        if ((rv = mlist_add(p, l, type, name, val, vlen, lpos)) != 0) {
            return rv;
        }
        if ((rv = peek(p, &t)) != 0) {
            return rv;
        }
        if (t->type == TR_PROMQL_RBRACE) {
            advance(p);
            return 0;
        }
        if (t->type != TR_PROMQL_COMMA) {
            return unexpected(p, t, "label matching", "\",\" or \"}\"");
        }
        advance(p);
    }
}

/* Vector selector; name (len nlen) already consumed or NULL; the
 * lookahead may be "{". */
static int parse_selector(struct parser *p,
                          const char *name,
                          size_t nlen,
                          size_t start,
                          struct tr_promql_node **out)
{
    struct mlist l = {NULL, 0, 0};
    struct tr_promql_token *t;
    int rv;

    if ((rv = peek(p, &t)) != 0) {
        return rv;
    }
    if (t->type == TR_PROMQL_LBRACE) {
        if ((rv = parse_braces(p, &l)) != 0) {
            goto err;
        }
    }
    const char *mname = NULL;
    if (name != NULL) {
        mname = tr_arena_strndup(p->a, name, nlen);
        if (mname == NULL) {
            rv = oom(p);
            goto err;
        }
        if ((rv = mlist_add(p, &l, TR_MATCH_EQ, "__name__", mname, nlen,
                            start)) != 0) {
            goto err;
        }
    }
    struct tr_promql_node *n = new_node(p, TR_PROMQL_NODE_VECTOR_SEL, start);
    struct vs_link *link = tr_arena_alloc(p->a, sizeof(*link));
    struct tr_matcher *ms =
        l.n > 0 ? tr_arena_alloc(p->a, l.n * sizeof(*ms)) : NULL;
    if (n == NULL || link == NULL || (l.n > 0 && ms == NULL)) {
        rv = oom(p);
        goto err;
    }
    if (l.n > 0) {
        memcpy(ms, l.m, l.n * sizeof(*ms));
    }
    n->type = T(VECTOR);
    n->vs.name = mname;
    n->vs.matchers = ms;
    n->vs.n_matchers = l.n;
    tr_free(l.m); /* contents now owned by the node */
    link->node = n;
    link->next = p->selectors;
    p->selectors = link;
    *out = n;
    return 0;
err:
    mlist_free(&l);
    return rv;
}

static int parse_expr(struct parser *p,
                      int min_prec,
                      struct tr_promql_node **out);

/* body = "(" [ expr { "," expr } ] ")"; the "(" is the lookahead. */
static int parse_args(struct parser *p,
                      struct tr_promql_node ***args,
                      size_t *n_args)
{
    struct tr_promql_token *t;
    struct tr_promql_node **v = NULL;
    size_t cnt = 0, cap = 0;
    int rv;

    advance(p); /* ( */
    if ((rv = peek(p, &t)) != 0) {
        return rv;
    }
    if (t->type == TR_PROMQL_RPAREN) {
        advance(p);
        *args = NULL;
        *n_args = 0;
        return 0;
    }
    for (;;) {
        struct tr_promql_node *e;
        if ((rv = parse_expr(p, 0, &e)) != 0) {
            return rv;
        }
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            struct tr_promql_node **nv =
                tr_arena_alloc(p->a, ncap * sizeof(*nv));
            if (nv == NULL) {
                return oom(p);
            }
            if (cnt > 0) {
                memcpy(nv, v, cnt * sizeof(*nv));
            }
            v = nv;
            cap = ncap;
        }
        v[cnt++] = e;
        if ((rv = peek(p, &t)) != 0) {
            return rv;
        }
        if (t->type == TR_PROMQL_RPAREN) {
            advance(p);
            break;
        }
        if (t->type != TR_PROMQL_COMMA) {
            return unexpected(p, t, NULL, NULL);
        }
        size_t comma = t->pos;
        advance(p);
        if ((rv = peek(p, &t)) != 0) {
            return rv;
        }
        if (t->type == TR_PROMQL_RPAREN) {
            return tr_promql_errf(p->errmsg, p->s, p->n, comma,
                                  "trailing commas not allowed in function "
                                  "call args");
        }
    }
    *args = v;
    *n_args = cnt;
    return 0;
}

static int parse_grouping(struct parser *p, struct tr_promql_node *n)
{
    struct tr_promql_token *t;
    int rv = peek(p, &t);
    if (rv != 0) {
        return rv;
    }
    n->agg.without = t->type == TR_PROMQL_WITHOUT;
    advance(p);
    return parse_labels(p, &n->agg.grouping);
}

/* Aggregation; the operator is consumed, the lookahead is "(", "by" or
 * "without". */
static int parse_aggregate(struct parser *p,
                           enum tr_promql_aggr op,
                           size_t start,
                           struct tr_promql_node **out)
{
    struct tr_promql_token *t;
    struct tr_promql_node **args;
    size_t n_args;
    bool grouped = false;
    int rv;

    struct tr_promql_node *n = new_node(p, TR_PROMQL_NODE_AGGREGATE, start);
    if (n == NULL) {
        return oom(p);
    }
    n->type = T(VECTOR);
    n->agg.op = op;
    if ((rv = peek(p, &t)) != 0) {
        return rv;
    }
    if (t->type == TR_PROMQL_BY || t->type == TR_PROMQL_WITHOUT) {
        if ((rv = parse_grouping(p, n)) != 0) {
            return rv;
        }
        grouped = true;
        if ((rv = peek(p, &t)) != 0) {
            return rv;
        }
    }
    if (t->type != TR_PROMQL_LPAREN) {
        return unexpected(p, t, "aggregation", NULL);
    }
    if ((rv = parse_args(p, &args, &n_args)) != 0) {
        return rv;
    }
    if (!grouped) {
        if ((rv = peek(p, &t)) != 0) {
            return rv;
        }
        if (t->type == TR_PROMQL_BY || t->type == TR_PROMQL_WITHOUT) {
            if ((rv = parse_grouping(p, n)) != 0) {
                return rv;
            }
        }
    }
    n->end = p->last_end;
    if (n_args == 0) {
        return tr_promql_errf(p->errmsg, p->s, p->n, start,
                              "no arguments for aggregate expression "
                              "provided");
    }
    size_t want = aggr_has_param(op) ? 2 : 1;
    if (n_args != want) {
        return tr_promql_errf(p->errmsg, p->s, p->n, start,
                              "wrong number of arguments for aggregate "
                              "expression provided, expected %zu, got %zu",
                              want, n_args);
    }
    n->agg.param = want == 2 ? args[0] : NULL;
    n->agg.expr = args[want - 1];
    if ((rv = set_height(p, n, n->agg.param, n->agg.expr)) != 0) {
        return rv;
    }
    *out = n;
    return 0;
}

static int parse_primary(struct parser *p, struct tr_promql_node **out)
{
    struct tr_promql_token *t;
    struct tr_promql_node *n;
    int rv;

    if ((rv = peek(p, &t)) != 0) {
        return rv;
    }
    size_t start = t->pos;
    switch (t->type) {
        case TR_PROMQL_NUMBER: {
            double v;
            if (tr_promql_parse_number(p->s + t->pos, t->len, &v) != 0) {
                return tr_promql_errf(p->errmsg, p->s, p->n, t->pos,
                                      "bad number or duration syntax: "
                                      "\"%.*s\"",
                                      (int)t->len, p->s + t->pos);
            }
            advance(p);
            if ((n = new_node(p, TR_PROMQL_NODE_NUMBER, start)) == NULL) {
                return oom(p);
            }
            n->type = T(SCALAR);
            n->num.val = v;
            *out = n;
            return 0;
        }
        case TR_PROMQL_STRING: {
            const char *val;
            size_t len;
            if ((rv = unquote_tok(p, t, &val, &len)) != 0) {
                return rv;
            }
            advance(p);
            if ((n = new_node(p, TR_PROMQL_NODE_STRING, start)) == NULL) {
                return oom(p);
            }
            n->type = T(STRING);
            n->str.val = val;
            n->str.len = len;
            *out = n;
            return 0;
        }
        case TR_PROMQL_LPAREN: {
            struct tr_promql_node *e;
            advance(p);
            if ((rv = parse_expr(p, 0, &e)) != 0) {
                return rv;
            }
            if ((rv = peek(p, &t)) != 0) {
                return rv;
            }
            if (t->type != TR_PROMQL_RPAREN) {
                return unexpected(p, t, NULL, NULL);
            }
            advance(p);
            if ((n = new_node(p, TR_PROMQL_NODE_PAREN, start)) == NULL) {
                return oom(p);
            }
            n->type = e->type;
            n->paren.expr = e;
            if ((rv = set_height(p, n, e, NULL)) != 0) {
                return rv;
            }
            *out = n;
            return 0;
        }
        case TR_PROMQL_LBRACE:
            return parse_selector(p, NULL, 0, start, out);
        default:
            break;
    }
    if (!is_metric_tok(t->type)) {
        return unexpected(p, t, NULL, NULL);
    }
    enum tr_promql_tok ttype = t->type;
    const char *name = p->s + t->pos;
    size_t nlen = t->len;
    advance(p);
    if (ttype != TR_PROMQL_IDENT) {
        return parse_selector(p, name, nlen, start, out);
    }
    if ((rv = peek(p, &t)) != 0) {
        return rv;
    }
    enum tr_promql_aggr op;
    bool is_aggr = aggr_op(name, nlen, &op);
    if (is_aggr && (t->type == TR_PROMQL_LPAREN || t->type == TR_PROMQL_BY ||
                    t->type == TR_PROMQL_WITHOUT)) {
        return parse_aggregate(p, op, start, out);
    }
    if (t->type != TR_PROMQL_LPAREN) {
        return parse_selector(p, name, nlen, start, out);
    }
    const struct tr_promql_func *f = tr_promql_func_lookup(name, nlen);
    if (f == NULL) {
        return tr_promql_errf(p->errmsg, p->s, p->n, start,
                              "unknown function with name \"%.*s\"", (int)nlen,
                              name);
    }
    if ((n = new_node(p, TR_PROMQL_NODE_CALL, start)) == NULL) {
        return oom(p);
    }
    n->call.func = f;
    n->type = f->ret;
    if ((rv = parse_args(p, &n->call.args, &n->call.n_args)) != 0) {
        return rv;
    }
    n->end = p->last_end;
    for (size_t i = 0; i < n->call.n_args; i++) {
        if ((rv = set_height(p, n, n->call.args[i], NULL)) != 0) {
            return rv;
        }
    }
    *out = n;
    return 0;
}

/* The offset / @ fields a modifier applies to, or an error. */
static int modifier_target(struct parser *p,
                           struct tr_promql_node *e,
                           const char *what,
                           int64_t **offset,
                           enum tr_promql_at **at,
                           int64_t **at_ms)
{
    switch (e->kind) {
        case TR_PROMQL_NODE_VECTOR_SEL:
            *offset = &e->vs.offset_ms;
            *at = &e->vs.at;
            *at_ms = &e->vs.at_ms;
            return 0;
        case TR_PROMQL_NODE_MATRIX_SEL:
            *offset = &e->ms.vs->vs.offset_ms;
            *at = &e->ms.vs->vs.at;
            *at_ms = &e->ms.vs->vs.at_ms;
            return 0;
        case TR_PROMQL_NODE_SUBQUERY:
            *offset = &e->sq.offset_ms;
            *at = &e->sq.at;
            *at_ms = &e->sq.at_ms;
            return 0;
        default:
            return tr_promql_errf(p->errmsg, p->s, p->n, e->start,
                                  "%s modifier must be preceded by an instant "
                                  "vector selector or range vector selector "
                                  "or a subquery",
                                  what);
    }
}

static void fmt_go_float(char *buf, size_t n, double v)
{
    if (isnan(v)) {
        snprintf(buf, n, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, n, v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(buf, n, "%f", v);
    }
}

static int parse_range(struct parser *p, struct tr_promql_node **e)
{
    struct tr_promql_token *t;
    int64_t range, step = 0;
    int rv;
    size_t lb = p->tok.pos;

    advance(p); /* [ */
    if ((rv = peek(p, &t)) != 0) {
        return rv;
    }
    if (t->type != TR_PROMQL_DURATION) {
        return unexpected(p, t, "subquery selector", "duration");
    }
    if ((rv = duration_tok(p, t, &range)) != 0) {
        return rv;
    }
    if ((rv = peek(p, &t)) != 0) {
        return rv;
    }
    struct tr_promql_node *n;
    if (t->type == TR_PROMQL_RBRACKET) {
        advance(p);
        const char *msg = NULL;
        if ((*e)->kind != TR_PROMQL_NODE_VECTOR_SEL) {
            msg = "ranges only allowed for vector selectors";
        } else if ((*e)->vs.offset_ms != 0) {
            msg = "no offset modifiers allowed before range";
        } else if ((*e)->vs.at != TR_PROMQL_AT_NONE) {
            msg = "no @ modifiers allowed before range";
        }
        if (msg != NULL) {
            return tr_promql_errf(p->errmsg, p->s, p->n, lb, "%s", msg);
        }
        if ((n = new_node(p, TR_PROMQL_NODE_MATRIX_SEL, (*e)->start)) == NULL) {
            return oom(p);
        }
        n->type = T(MATRIX);
        n->ms.vs = *e;
        n->ms.range_ms = range;
    } else if (t->type == TR_PROMQL_COLON) {
        advance(p);
        if ((rv = peek(p, &t)) != 0) {
            return rv;
        }
        if (t->type == TR_PROMQL_DURATION) {
            if ((rv = duration_tok(p, t, &step)) != 0) {
                return rv;
            }
            if ((rv = peek(p, &t)) != 0) {
                return rv;
            }
            if (t->type != TR_PROMQL_RBRACKET) {
                return unexpected(p, t, "subquery selector", "\"]\"");
            }
        } else if (t->type != TR_PROMQL_RBRACKET) {
            return unexpected(p, t, "subquery selector", "duration or \"]\"");
        }
        advance(p);
        if ((n = new_node(p, TR_PROMQL_NODE_SUBQUERY, (*e)->start)) == NULL) {
            return oom(p);
        }
        n->type = T(MATRIX);
        n->sq.expr = *e;
        n->sq.range_ms = range;
        n->sq.step_ms = step;
    } else {
        return unexpected(p, t, "subquery or range", "\":\" or \"]\"");
    }
    if ((rv = set_height(p, n, *e, NULL)) != 0) {
        return rv;
    }
    *e = n;
    return 0;
}

static int parse_offset(struct parser *p, struct tr_promql_node *e)
{
    struct tr_promql_token *t;
    int64_t *offset = NULL, *at_ms = NULL, d;
    enum tr_promql_at *at = NULL;
    bool neg = false;
    int rv;

    advance(p); /* offset */
    if ((rv = peek(p, &t)) != 0) {
        return rv;
    }
    if (t->type == TR_PROMQL_SUB) {
        neg = true;
        advance(p);
        if ((rv = peek(p, &t)) != 0) {
            return rv;
        }
    }
    if (t->type != TR_PROMQL_DURATION) {
        return unexpected(p, t, "offset", "duration");
    }
    if ((rv = duration_tok(p, t, &d)) != 0) {
        return rv;
    }
    if ((rv = modifier_target(p, e, "offset", &offset, &at, &at_ms)) != 0) {
        return rv;
    }
    if (*offset != 0) {
        return tr_promql_errf(p->errmsg, p->s, p->n, e->start,
                              "offset may not be set multiple times");
    }
    *offset = neg ? -d : d;
    e->end = p->last_end;
    return 0;
}

static int parse_at(struct parser *p, struct tr_promql_node *e)
{
    struct tr_promql_token *t;
    int64_t *offset = NULL, *at_ms = NULL;
    enum tr_promql_at *at = NULL;
    int rv;

    advance(p); /* @ */
    if ((rv = peek(p, &t)) != 0) {
        return rv;
    }
    enum tr_promql_at kind = TR_PROMQL_AT_TIMESTAMP;
    double ts = 0;
    if (t->type == TR_PROMQL_START || t->type == TR_PROMQL_END) {
        kind =
            t->type == TR_PROMQL_START ? TR_PROMQL_AT_START : TR_PROMQL_AT_END;
        advance(p);
        if ((rv = peek(p, &t)) != 0) {
            return rv;
        }
        if (t->type != TR_PROMQL_LPAREN) {
            return unexpected(p, t, "@", "\"(\"");
        }
        advance(p);
        if ((rv = peek(p, &t)) != 0) {
            return rv;
        }
        if (t->type != TR_PROMQL_RPAREN) {
            return unexpected(p, t, "@", "\")\"");
        }
        advance(p);
    } else {
        bool neg = false;
        if (t->type == TR_PROMQL_ADD || t->type == TR_PROMQL_SUB) {
            neg = t->type == TR_PROMQL_SUB;
            advance(p);
            if ((rv = peek(p, &t)) != 0) {
                return rv;
            }
        }
        if (t->type != TR_PROMQL_NUMBER ||
            tr_promql_parse_number(p->s + t->pos, t->len, &ts) != 0) {
            return unexpected(p, t, "@", "timestamp");
        }
        advance(p);
        if (neg) {
            ts = -ts;
        }
        if (isnan(ts) || isinf(ts) || ts >= 9223372036854775807.0 ||
            ts <= -9223372036854775808.0) {
            char f[64];
            fmt_go_float(f, sizeof(f), ts);
            return tr_promql_errf(p->errmsg, p->s, p->n, e->start,
                                  "timestamp out of bounds for @ modifier: %s",
                                  f);
        }
    }
    if ((rv = modifier_target(p, e, "@", &offset, &at, &at_ms)) != 0) {
        return rv;
    }
    if (*at != TR_PROMQL_AT_NONE) {
        return tr_promql_errf(p->errmsg, p->s, p->n, e->start,
                              "@ <timestamp> may not be set multiple times");
    }
    *at = kind;
    if (kind == TR_PROMQL_AT_TIMESTAMP) {
        double ms = round(ts * 1000.0);
        *at_ms = ms >= 9223372036854775807.0    ? INT64_MAX
                 : ms <= -9223372036854775808.0 ? INT64_MIN
                                                : (int64_t)ms;
    }
    e->end = p->last_end;
    return 0;
}

static int parse_postfix(struct parser *p, struct tr_promql_node **out)
{
    struct tr_promql_token *t;
    struct tr_promql_node *e;
    int rv;

    if ((rv = parse_primary(p, &e)) != 0) {
        return rv;
    }
    for (;;) {
        if ((rv = peek(p, &t)) != 0) {
            return rv;
        }
        if (t->type == TR_PROMQL_LBRACKET) {
            rv = parse_range(p, &e);
        } else if (t->type == TR_PROMQL_OFFSET) {
            rv = parse_offset(p, e);
        } else if (t->type == TR_PROMQL_AT) {
            rv = parse_at(p, e);
        } else {
            break;
        }
        if (rv != 0) {
            return rv;
        }
    }
    *out = e;
    return 0;
}

static int parse_unary(struct parser *p, struct tr_promql_node **out)
{
    struct tr_promql_token *t;
    struct tr_promql_node *e;
    int rv;

    if ((rv = peek(p, &t)) != 0) {
        return rv;
    }
    if (t->type != TR_PROMQL_ADD && t->type != TR_PROMQL_SUB) {
        return parse_postfix(p, out);
    }
    enum tr_promql_tok op = t->type;
    size_t start = t->pos;
    advance(p);
    /* The operand extends over ^ only (unary binds like *). */
    if ((rv = parse_expr(p, PREC_POW, &e)) != 0) {
        return rv;
    }
    if (e->kind == TR_PROMQL_NODE_NUMBER) {
        if (op == TR_PROMQL_SUB) {
            e->num.val = -e->num.val;
        }
        e->start = start;
        *out = e;
        return 0;
    }
    struct tr_promql_node *n = new_node(p, TR_PROMQL_NODE_UNARY, start);
    if (n == NULL) {
        return oom(p);
    }
    n->type = e->type;
    n->unary.op = op;
    n->unary.expr = e;
    if ((rv = set_height(p, n, e, NULL)) != 0) {
        return rv;
    }
    *out = n;
    return 0;
}

/* Modifiers after a binary operator: bool, on/ignoring, group_x. */
static int parse_bin_modifiers(struct parser *p, struct tr_promql_node *n)
{
    struct tr_promql_token *t;
    int rv;

    n->bin.has_matching = true;
    n->bin.card = TR_PROMQL_CARD_ONE_TO_ONE;
    if ((rv = peek(p, &t)) != 0) {
        return rv;
    }
    if (t->type == TR_PROMQL_BOOL) {
        n->bin.return_bool = true;
        advance(p);
        if ((rv = peek(p, &t)) != 0) {
            return rv;
        }
    }
    if (t->type != TR_PROMQL_ON && t->type != TR_PROMQL_IGNORING) {
        return 0;
    }
    n->bin.on = t->type == TR_PROMQL_ON;
    advance(p);
    if ((rv = parse_labels(p, &n->bin.matching)) != 0) {
        return rv;
    }
    if ((rv = peek(p, &t)) != 0) {
        return rv;
    }
    if (t->type != TR_PROMQL_GROUP_LEFT && t->type != TR_PROMQL_GROUP_RIGHT) {
        return 0;
    }
    n->bin.card = t->type == TR_PROMQL_GROUP_LEFT ? TR_PROMQL_CARD_MANY_TO_ONE
                                                  : TR_PROMQL_CARD_ONE_TO_MANY;
    advance(p);
    if ((rv = peek(p, &t)) != 0) {
        return rv;
    }
    if (t->type == TR_PROMQL_LPAREN) {
        return parse_labels(p, &n->bin.include);
    }
    return 0;
}

static int parse_expr(struct parser *p,
                      int min_prec,
                      struct tr_promql_node **out)
{
    struct tr_promql_token *t;
    struct tr_promql_node *lhs;
    int rv;

    if (++p->depth > TR_PROMQL_MAX_DEPTH) {
        if ((rv = peek(p, &t)) != 0) {
            return rv;
        }
        return tr_promql_errf(p->errmsg, p->s, p->n, t->pos,
                              "expression nested too deeply (limit %d)",
                              TR_PROMQL_MAX_DEPTH);
    }
    if ((rv = parse_unary(p, &lhs)) != 0) {
        return rv;
    }
    for (;;) {
        if ((rv = peek(p, &t)) != 0) {
            return rv;
        }
        int prec = binop_prec(t->type);
        if (prec == 0 || prec < min_prec) {
            break;
        }
        struct tr_promql_node *n =
            new_node(p, TR_PROMQL_NODE_BINARY, lhs->start);
        if (n == NULL) {
            return oom(p);
        }
        n->bin.op = t->type;
        n->bin.op_pos = t->pos;
        n->bin.lhs = lhs;
        advance(p);
        if ((rv = parse_bin_modifiers(p, n)) != 0) {
            return rv;
        }
        if ((rv = parse_expr(p, n->bin.op == TR_PROMQL_POW ? prec : prec + 1,
                             &n->bin.rhs)) != 0) {
            return rv;
        }
        n->end = n->bin.rhs->end;
        n->type = lhs->type == T(SCALAR) && n->bin.rhs->type == T(SCALAR)
                      ? T(SCALAR)
                      : T(VECTOR);
        if ((rv = set_height(p, n, lhs, n->bin.rhs)) != 0) {
            return rv;
        }
        lhs = n;
    }
    p->depth--;
    *out = lhs;
    return 0;
}

/* ---- type checking (Prometheus' checkAST)
 * ------------------------------------------------------------------ */

static int check(struct parser *p, struct tr_promql_node *n);

static int expect_type(struct parser *p,
                       struct tr_promql_node *n,
                       enum tr_promql_type want,
                       const char *context)
{
    int rv = check(p, n);
    if (rv != 0) {
        return rv;
    }
    if (n->type != want) {
        return tr_promql_errf(
            p->errmsg, p->s, p->n, n->start, "expected type %s in %s, got %s",
            tr_promql_type_doc(want), context, tr_promql_type_doc(n->type));
    }
    return 0;
}

static int check_binary(struct parser *p, struct tr_promql_node *n)
{
    int rv;
    if ((rv = check(p, n->bin.lhs)) != 0 || (rv = check(p, n->bin.rhs)) != 0) {
        return rv;
    }
    enum tr_promql_type lt = n->bin.lhs->type, rt = n->bin.rhs->type;
    enum tr_promql_tok op = n->bin.op;
    const char *opn = tr_promql_binop_name(op);
    if (n->bin.return_bool && !tr_promql_op_is_comparison(op)) {
        return tr_promql_errf(p->errmsg, p->s, p->n, n->bin.op_pos,
                              "bool modifier can only be used on comparison "
                              "operators");
    }
    if (tr_promql_op_is_comparison(op) && !n->bin.return_bool &&
        lt == T(SCALAR) && rt == T(SCALAR)) {
        return tr_promql_errf(p->errmsg, p->s, p->n, n->bin.op_pos,
                              "comparisons between scalars must use BOOL "
                              "modifier");
    }
    if (tr_promql_op_is_set(op) && n->bin.card == TR_PROMQL_CARD_ONE_TO_ONE) {
        n->bin.card = TR_PROMQL_CARD_MANY_TO_MANY;
    }
    if (n->bin.on) {
        for (size_t i = 0; i < n->bin.matching.n; i++) {
            for (size_t j = 0; j < n->bin.include.n; j++) {
                if (strcmp(n->bin.matching.names[i], n->bin.include.names[j]) ==
                    0) {
                    return tr_promql_errf(
                        p->errmsg, p->s, p->n, n->bin.op_pos,
                        "label \"%s\" must not occur in ON and GROUP clause "
                        "at once",
                        n->bin.matching.names[i]);
                }
            }
        }
    }
    if (lt != T(SCALAR) && lt != T(VECTOR)) {
        return tr_promql_errf(p->errmsg, p->s, p->n, n->bin.lhs->start,
                              "binary expression must contain only scalar and "
                              "instant vector types");
    }
    if (rt != T(SCALAR) && rt != T(VECTOR)) {
        return tr_promql_errf(p->errmsg, p->s, p->n, n->bin.rhs->start,
                              "binary expression must contain only scalar and "
                              "instant vector types");
    }
    if (lt != T(VECTOR) || rt != T(VECTOR)) {
        if (n->bin.matching.n > 0) {
            return tr_promql_errf(p->errmsg, p->s, p->n, n->start,
                                  "vector matching only allowed between "
                                  "instant vectors");
        }
        n->bin.has_matching = false;
    } else if (tr_promql_op_is_set(op)) {
        if (n->bin.card == TR_PROMQL_CARD_ONE_TO_MANY ||
            n->bin.card == TR_PROMQL_CARD_MANY_TO_ONE) {
            return tr_promql_errf(p->errmsg, p->s, p->n, n->start,
                                  "no grouping allowed for \"%s\" operation",
                                  opn);
        }
        if (n->bin.card != TR_PROMQL_CARD_MANY_TO_MANY) {
            return tr_promql_errf(p->errmsg, p->s, p->n, n->start,
                                  "set operations must always be "
                                  "many-to-many");
        }
    }
    if ((lt == T(SCALAR) || rt == T(SCALAR)) && tr_promql_op_is_set(op)) {
        return tr_promql_errf(p->errmsg, p->s, p->n, n->start,
                              "set operator \"%s\" not allowed in binary "
                              "scalar expression",
                              opn);
    }
    return 0;
}

static int check_call(struct parser *p, struct tr_promql_node *n)
{
    const struct tr_promql_func *f = n->call.func;
    size_t nargs = (size_t)f->n_args, got = n->call.n_args;
    int rv;
    if (f->variadic == 0) {
        if (nargs != got) {
            return tr_promql_errf(p->errmsg, p->s, p->n, n->start,
                                  "expected %zu argument(s) in call to "
                                  "\"%s\", got %zu",
                                  nargs, f->name, got);
        }
    } else {
        size_t na = nargs - 1;
        if (na > got) {
            return tr_promql_errf(p->errmsg, p->s, p->n, n->start,
                                  "expected at least %zu argument(s) in call "
                                  "to \"%s\", got %zu",
                                  na, f->name, got);
        }
        if (f->variadic > 0 && na + (size_t)f->variadic < got) {
            return tr_promql_errf(p->errmsg, p->s, p->n, n->start,
                                  "expected at most %zu argument(s) in call "
                                  "to \"%s\", got %zu",
                                  na + (size_t)f->variadic, f->name, got);
        }
    }
    char ctx[96];
    snprintf(ctx, sizeof(ctx), "call to function \"%s\"", f->name);
    for (size_t i = 0; i < got; i++) {
        size_t ti = i;
        if (i >= nargs) {
            if (f->variadic == 0) {
                break;
            }
            ti = nargs - 1;
        }
        if ((rv = expect_type(p, n->call.args[i], f->arg_types[ti], ctx)) !=
            0) {
            return rv;
        }
    }
    return 0;
}

static int check_selector(struct parser *p, struct tr_promql_node *n)
{
    if (n->vs.name != NULL) {
        for (size_t i = 0; i + 1 < n->vs.n_matchers; i++) {
            const struct tr_matcher *m = &n->vs.matchers[i];
            if (strcmp(m->name, "__name__") == 0) {
                struct tr_buf a, b;
                tr_buf_init(&a);
                tr_buf_init(&b);
                tr_promql_format_quote(n->vs.name, strlen(n->vs.name), &a);
                tr_promql_format_quote(m->value, m->value_len, &b);
                int rv = a.oom || b.oom
                             ? oom(p)
                             : tr_promql_errf(p->errmsg, p->s, p->n, n->start,
                                              "metric name must not be set "
                                              "twice: %s or %s",
                                              a.data, b.data);
                tr_buf_free(&a);
                tr_buf_free(&b);
                return rv;
            }
        }
        return 0;
    }
    for (size_t i = 0; i < n->vs.n_matchers; i++) {
        if (!tr_matcher_matches_empty(&n->vs.matchers[i])) {
            return 0;
        }
    }
    return tr_promql_errf(p->errmsg, p->s, p->n, n->start,
                          "vector selector must contain at least one "
                          "non-empty matcher");
}

static int check(struct parser *p, struct tr_promql_node *n)
{
    int rv;
    switch (n->kind) {
        case TR_PROMQL_NODE_NUMBER:
        case TR_PROMQL_NODE_STRING:
            return 0;
        case TR_PROMQL_NODE_VECTOR_SEL:
            return check_selector(p, n);
        case TR_PROMQL_NODE_MATRIX_SEL:
            return check(p, n->ms.vs);
        case TR_PROMQL_NODE_SUBQUERY:
            if ((rv = check(p, n->sq.expr)) != 0) {
                return rv;
            }
            if (n->sq.expr->type != T(VECTOR)) {
                return tr_promql_errf(p->errmsg, p->s, p->n, n->start,
                                      "subquery is only allowed on instant "
                                      "vector, got %s instead",
                                      tr_promql_type_name(n->sq.expr->type));
            }
            return 0;
        case TR_PROMQL_NODE_UNARY:
            if ((rv = check(p, n->unary.expr)) != 0) {
                return rv;
            }
            if (n->unary.expr->type != T(SCALAR) &&
                n->unary.expr->type != T(VECTOR)) {
                return tr_promql_errf(p->errmsg, p->s, p->n, n->start,
                                      "unary expression only allowed on "
                                      "expressions of type scalar or instant "
                                      "vector, got \"%s\"",
                                      tr_promql_type_doc(n->unary.expr->type));
            }
            return 0;
        case TR_PROMQL_NODE_BINARY:
            return check_binary(p, n);
        case TR_PROMQL_NODE_AGGREGATE:
            if ((rv = expect_type(p, n->agg.expr, T(VECTOR),
                                  "aggregation expression")) != 0) {
                return rv;
            }
            if (n->agg.op == TR_PROMQL_AGGR_COUNT_VALUES) {
                return expect_type(p, n->agg.param, T(STRING),
                                   "aggregation parameter");
            }
            if (n->agg.param != NULL) {
                return expect_type(p, n->agg.param, T(SCALAR),
                                   "aggregation parameter");
            }
            return 0;
        case TR_PROMQL_NODE_CALL:
            return check_call(p, n);
        case TR_PROMQL_NODE_PAREN:
            return check(p, n->paren.expr);
    }
    return 0;
}

/* ---- entry point
 * ------------------------------------------------------------------ */

int tr_promql_parse(const char *q,
                    size_t n,
                    struct tr_arena *a,
                    struct tr_promql_node **out,
                    char *errmsg)
{
    struct parser p;
    struct tr_promql_token *t;
    struct tr_promql_node *root = NULL;
    int rv;

    *out = NULL;
    memset(&p, 0, sizeof(p));
    p.s = q != NULL ? q : "";
    p.n = q != NULL ? n : 0;
    p.a = a;
    p.errmsg = errmsg;
    tr_promql_lex_init(&p.lex, p.s, p.n);

    if ((rv = peek(&p, &t)) != 0) {
        goto err;
    }
    if (t->type == TR_PROMQL_EOF) {
        rv =
            tr_promql_errf(errmsg, p.s, p.n, 0, "no expression found in input");
        goto err;
    }
    if ((rv = parse_expr(&p, 0, &root)) != 0) {
        goto err;
    }
    if ((rv = peek(&p, &t)) != 0) {
        goto err;
    }
    if (t->type != TR_PROMQL_EOF) {
        rv = unexpected(&p, t, NULL, NULL);
        goto err;
    }
    if ((rv = check(&p, root)) != 0) {
        goto err;
    }
    *out = root;
    return 0;
err:
    for (struct vs_link *l = p.selectors; l != NULL; l = l->next) {
        tr_promql_ast_free(l->node);
    }
    return rv;
}
