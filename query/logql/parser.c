/* parser.c - LogQL recursive-descent parser (see parser.h): expressions,
 * selectors, ranges, validation and the entry point; the pipeline stages
 * are in parser_stages.c, the private shared parts in parser_int.h.
 *
 * Error kinds, in the order Loki reports them:
 *   1. syntax and lexical errors, and errors Loki raises while reducing a
 *      rule (a bad matcher regex, a bad regexp/pattern parser, a numeric
 *      label filter literal that is not a float): parsing stops there;
 *   2. node errors Loki keeps in a node and reports when it validates the
 *      tree (parameters, grouping, unwrap rules, binary operand types,
 *      literal values, label_replace regexes), in validation order, then
 *      the selector checks;
 *   3. stage errors Loki only meets when it builds the pipeline at run
 *      time (line filter regexes, ip() patterns, |> patterns). */
#include "query/logql/parser.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/matcher.h"
#include "query/logql/lexer.h"
#include "query/logql/convert.h"
#include "query/logql/parser_int.h"

/* ---- errors ------------------------------------------------------------ */

int logql__oom(struct parser *p)
{
    if (p->rc == 0) {
        p->rc = TR_ENOMEM;
        tr_errf(TR_ENOMEM, p->errmsg, "out of memory");
    }
    return TR_ENOMEM;
}

const struct tr_logql_token *logql__peek(const struct parser *p, size_t k)
{
    size_t i = p->cur + k;
    if (i >= p->ntoks) {
        i = p->ntoks - 1; /* EOF or ERROR repeats */
    }
    return &p->toks[i];
}

enum tr_logql_tok logql__peek_type(const struct parser *p, size_t k)
{
    return logql__peek(p, k)->type;
}

const struct tr_logql_token *logql__next(struct parser *p)
{
    const struct tr_logql_token *t = logql__peek(p, 0);
    if (p->cur < p->ntoks - 1) {
        p->cur++;
    }
    return t;
}

/* A syntax error at the current token (or the lexical error it is). */
int logql__syntax_error(struct parser *p, const char *expecting)
{
    if (p->rc != 0) {
        return p->rc;
    }
    const struct tr_logql_token *t = logql__peek(p, 0);
    p->rc = TR_EINVAL;
    if (t->type == T(ERROR)) {
        tr_logql_errf_at(p->errmsg, p->q, p->n, t, "%s", t->str);
    } else if (expecting != NULL) {
        tr_logql_errf_at(p->errmsg, p->q, p->n, t,
                         "syntax error: unexpected %s, expecting %s",
                         tr_logql_tok_name(t->type), expecting);
    } else {
        tr_logql_errf_at(p->errmsg, p->q, p->n, t,
                         "syntax error: unexpected %s",
                         tr_logql_tok_name(t->type));
    }
    return TR_EINVAL;
}

/* An error Loki raises while reducing a rule: "parse error : msg". */
int logql__fail(struct parser *p, const char *fmt, ...)
{
    if (p->rc != 0) {
        return p->rc;
    }
    char msg[TR_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p->rc = TR_EINVAL;
    tr_logql_errf_at(p->errmsg, p->q, p->n, NULL, "%s", msg);
    return TR_EINVAL;
}

/* Records an error Loki keeps in a node until validation. */
int logql__node_err(struct parser *p, const void *node, const char *fmt, ...)
{
    char msg[TR_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (p->n_nerrs == p->cap_nerrs) {
        struct node_err *g = tr_arena_array_grow(p->a, p->nerrs, p->n_nerrs,
                                                 &p->cap_nerrs, sizeof(*g), 8);
        if (g == NULL) {
            return logql__oom(p);
        }
        p->nerrs = g;
    }
    char *s = tr_arena_strndup(p->a, msg, strlen(msg));
    if (s == NULL) {
        return logql__oom(p);
    }
    p->nerrs[p->n_nerrs].node = node;
    p->nerrs[p->n_nerrs].msg = s;
    p->n_nerrs++;
    return 0;
}

static const char *node_err_of(const struct parser *p, const void *node)
{
    for (size_t i = 0; i < p->n_nerrs; i++) {
        if (p->nerrs[i].node == node) {
            return p->nerrs[i].msg;
        }
    }
    return NULL;
}

/* Records an error Loki only meets when it builds the pipeline. */
void logql__stage_err(struct parser *p, const char *fmt, ...)
{
    if (p->has_stage_err) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->stage_err, sizeof(p->stage_err), fmt, ap);
    va_end(ap);
    p->has_stage_err = true;
}

int logql__own(struct parser *p,
               const struct tr_matcher *m,
               struct tr_regex *re)
{
    if (p->n_owned == p->cap_owned) {
        size_t cap = p->cap_owned;
        struct owned *g = tr_array_grow(p->owned, &cap, sizeof(*g), 16);
        if (g == NULL) {
            return TR_ENOMEM;
        }
        p->owned = g;
        p->cap_owned = cap;
    }
    struct owned *o = &p->owned[p->n_owned++];
    memset(o, 0, sizeof(*o));
    if (m != NULL) {
        o->m = *m;
    }
    o->re = re;
    return 0;
}

/* ---- small helpers ----------------------------------------------------- */

int logql__expect(struct parser *p, enum tr_logql_tok t, const char *expecting)
{
    if (logql__peek_type(p, 0) != t) {
        return logql__syntax_error(p, expecting);
    }
    logql__next(p);
    return 0;
}

char *logql__tok_text(struct parser *p, const struct tr_logql_token *t)
{
    char *s = tr_arena_strndup(p->a, t->str, t->str_len);
    if (s == NULL) {
        logql__oom(p);
    }
    return s;
}

void *logql__alloc0(struct parser *p, size_t size)
{
    void *v = tr_arena_alloc(p->a, size);
    if (v == NULL) {
        logql__oom(p);
        return NULL;
    }
    memset(v, 0, size);
    return v;
}

/* Appends one element of size elem to *arr (holding *n, room *cap). */
void *logql__push(struct parser *p,
                  void *arr_p,
                  size_t *n,
                  size_t *cap,
                  size_t elem)
{
    void **arr = arr_p;
    if (*n == *cap) {
        void *g = tr_arena_array_grow(p->a, *arr, *n, cap, elem, 4);
        if (g == NULL) {
            logql__oom(p);
            return NULL;
        }
        *arr = g;
    }
    void *slot = (char *)*arr + *n * elem;
    memset(slot, 0, elem);
    (*n)++;
    return slot;
}

bool logql__enter(struct parser *p)
{
    if (++p->depth > TR_LOGQL_MAX_DEPTH) {
        logql__fail(p, "query too deeply nested (more than %d levels)",
                    TR_LOGQL_MAX_DEPTH);
        return false;
    }
    return true;
}

void logql__leave(struct parser *p)
{
    p->depth--;
}

/* Go's strconv.Atoi for NUMBER text (no sign possible). */
static bool atoi_go(const char *s, size_t n, int64_t *out)
{
    if (n == 0) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > (uint64_t)INT64_MAX) {
            return false;
        }
    }
    *out = (int64_t)v;
    return true;
}

/* ---- matchers ---------------------------------------------------------- */

bool logql__is_match_op(enum tr_logql_tok t, enum tr_match_type *mt)
{
    switch (t) {
        case T(EQ):
            *mt = TR_MATCH_EQ;
            return true;
        case T(NEQ):
            *mt = TR_MATCH_NEQ;
            return true;
        case T(RE):
            *mt = TR_MATCH_RE;
            return true;
        case T(NRE):
            *mt = TR_MATCH_NRE;
            return true;
        default:
            return false;
    }
}

/* Compiles a matcher (Loki's mustNewMatcher: errors stop parsing). */
int logql__make_matcher(struct parser *p,
                        struct tr_matcher *m,
                        enum tr_match_type mt,
                        const struct tr_logql_token *name,
                        const struct tr_logql_token *value)
{
    char *nm = logql__tok_text(p, name);
    if (nm == NULL) {
        return p->rc;
    }
    char msg[TR_ERRMSG_SIZE];
    int rc = tr_matcher_init(m, mt, nm, value->str, value->str_len, msg);
    if (rc == TR_ENOMEM) {
        return logql__oom(p);
    }
    if (rc != 0) {
        return logql__fail(p, "%s", msg);
    }
    if (logql__own(p, m, NULL) != 0) {
        tr_matcher_free(m);
        return logql__oom(p);
    }
    return 0;
}

/* {a="b", c=~"d"} */
static int parse_selector(struct parser *p, struct tr_logql_log *log)
{
    int rc = logql__expect(p, T(OPEN_BRACE), NULL);
    if (rc != 0) {
        return rc;
    }
    if (logql__peek_type(p, 0) == T(CLOSE_BRACE)) {
        logql__next(p);
        return 0;
    }
    size_t cap = 0;
    for (;;) {
        if (logql__peek_type(p, 0) != T(IDENTIFIER)) {
            return logql__syntax_error(
                p, log->n_matchers == 0 ? "IDENTIFIER or }" : "IDENTIFIER");
        }
        const struct tr_logql_token *name = logql__next(p);
        enum tr_match_type mt;
        if (!logql__is_match_op(logql__peek_type(p, 0), &mt)) {
            return logql__syntax_error(p, "= or =~ or !~ or !=");
        }
        logql__next(p);
        if (logql__peek_type(p, 0) != T(STRING)) {
            return logql__syntax_error(p, "STRING");
        }
        const struct tr_logql_token *value = logql__next(p);
        struct tr_matcher *m =
            logql__push(p, &log->matchers, &log->n_matchers, &cap, sizeof(*m));
        if (m == NULL) {
            return p->rc;
        }
        rc = logql__make_matcher(p, m, mt, name, value);
        if (rc != 0) {
            log->n_matchers--;
            return rc;
        }
        if (logql__peek_type(p, 0) == T(COMMA)) {
            logql__next(p);
            continue;
        }
        if (logql__peek_type(p, 0) == T(CLOSE_BRACE)) {
            logql__next(p);
            return 0;
        }
        return logql__syntax_error(p, "} or ,");
    }
}

/* ---- expressions ------------------------------------------------------- */

static int parse_expr(struct parser *p,
                      int min_prec,
                      struct tr_logql_expr **out);

static struct tr_logql_expr *expr_new(struct parser *p,
                                      enum tr_logql_expr_kind kind)
{
    struct tr_logql_expr *e = logql__alloc0(p, sizeof(*e));
    if (e != NULL) {
        e->kind = kind;
    }
    return e;
}

/* ( labels ) with possibly no label; the "(" is the current token. */
static int parse_labels(struct parser *p, struct tr_logql_labels *out)
{
    int rc = logql__expect(p, T(OPEN_PARENTHESIS), "(");
    if (rc != 0) {
        return rc;
    }
    size_t cap = 0;
    memset(out, 0, sizeof(*out));
    if (logql__peek_type(p, 0) == T(CLOSE_PARENTHESIS)) {
        logql__next(p);
        return 0;
    }
    for (;;) {
        if (logql__peek_type(p, 0) != T(IDENTIFIER)) {
            return logql__syntax_error(
                p, out->n == 0 ? "IDENTIFIER or )" : "IDENTIFIER");
        }
        const struct tr_logql_token *id = logql__next(p);
        const char **slot =
            logql__push(p, &out->names, &out->n, &cap, sizeof(*slot));
        if (slot == NULL || (*slot = logql__tok_text(p, id)) == NULL) {
            return p->rc;
        }
        if (logql__peek_type(p, 0) == T(COMMA)) {
            logql__next(p);
            continue;
        }
        return logql__expect(p, T(CLOSE_PARENTHESIS), ", or )");
    }
}

static int parse_grouping(struct parser *p, struct tr_logql_grouping *g)
{
    g->present = true;
    g->without = logql__next(p)->type == T(WITHOUT);
    return parse_labels(p, &g->labels);
}

/* | unwrap x, | unwrap bytes(x), then | label filters */
static int parse_unwrap(struct parser *p, struct tr_logql_unwrap *u)
{
    logql__next(p); /* | */
    logql__next(p); /* unwrap */
    enum tr_logql_tok t = logql__peek_type(p, 0);
    int rc;
    if (t == T(BYTES_CONV) || t == T(DURATION_CONV) ||
        t == T(DURATION_SECONDS_CONV)) {
        logql__next(p);
        u->conv = t == T(BYTES_CONV)      ? TR_LOGQL_CONV_BYTES
                  : t == T(DURATION_CONV) ? TR_LOGQL_CONV_DURATION
                                          : TR_LOGQL_CONV_DURATION_SECONDS;
        if ((rc = logql__expect(p, T(OPEN_PARENTHESIS), "(")) != 0) {
            return rc;
        }
        if (logql__peek_type(p, 0) != T(IDENTIFIER)) {
            return logql__syntax_error(p, "IDENTIFIER");
        }
        if ((u->label = logql__tok_text(p, logql__next(p))) == NULL) {
            return p->rc;
        }
        if ((rc = logql__expect(p, T(CLOSE_PARENTHESIS), ")")) != 0) {
            return rc;
        }
    } else if (t == T(IDENTIFIER)) {
        if ((u->label = logql__tok_text(p, logql__next(p))) == NULL) {
            return p->rc;
        }
    } else {
        return logql__syntax_error(p, NULL);
    }
    size_t cap = 0;
    while (logql__peek_type(p, 0) == T(PIPE)) {
        logql__next(p);
        struct tr_logql_label_filter **slot = logql__push(
            p, &u->post_filters, &u->n_post_filters, &cap, sizeof(*slot));
        if (slot == NULL) {
            return p->rc;
        }
        if ((rc = logql__parse_lf_expr(p, 1, slot)) != 0) {
            return rc;
        }
    }
    return 0;
}

static int parse_offset(struct parser *p, int64_t *ns)
{
    if (logql__peek_type(p, 0) != T(OFFSET)) {
        return 0;
    }
    logql__next(p);
    if (logql__peek_type(p, 0) != T(DURATION)) {
        return logql__syntax_error(p, "DURATION");
    }
    *ns = logql__next(p)->dur_ns;
    return 0;
}

/* A log range: the forms of Loki's logRangeExpr rule. */
static int parse_log_range(struct parser *p, struct tr_logql_expr *e)
{
    int rc;
    bool paren = false;
    if (logql__peek_type(p, 0) == T(OPEN_PARENTHESIS)) {
        logql__next(p);
        if (logql__peek_type(p, 0) == T(OPEN_PARENTHESIS)) {
            /* ( logRangeExpr ) */
            if (!logql__enter(p)) {
                return p->rc;
            }
            rc = parse_log_range(p, e);
            logql__leave(p);
            if (rc != 0) {
                return rc;
            }
            return logql__expect(p, T(CLOSE_PARENTHESIS), NULL);
        }
        paren = true;
    }
    if (logql__peek_type(p, 0) != T(OPEN_BRACE)) {
        return logql__syntax_error(p, paren ? NULL : "{ or (");
    }
    if ((rc = parse_selector(p, &e->range.log)) != 0) {
        return rc;
    }
    if ((rc = logql__parse_pipeline(p, &e->range.log, true)) != 0) {
        return rc;
    }
    bool inner = e->range.log.n_stages > 0;
    if (logql__peek_type(p, 0) == T(PIPE) &&
        logql__peek_type(p, 1) == T(UNWRAP)) {
        e->range.has_unwrap = true;
        inner = true;
        if ((rc = parse_unwrap(p, &e->range.unwrap)) != 0) {
            return rc;
        }
    }
    if (paren && logql__peek_type(p, 0) == T(CLOSE_PARENTHESIS)) {
        /* ( selector [pipeline] [unwrap] ) RANGE [offset] [unwrap] */
        logql__next(p);
        if (logql__peek_type(p, 0) != T(RANGE)) {
            return logql__syntax_error(p, "RANGE");
        }
        e->range.range_ns = logql__next(p)->dur_ns;
        if ((rc = parse_offset(p, &e->range.offset_ns)) != 0) {
            return rc;
        }
        if (!inner && logql__peek_type(p, 0) == T(PIPE) &&
            logql__peek_type(p, 1) == T(UNWRAP)) {
            e->range.has_unwrap = true;
            if ((rc = parse_unwrap(p, &e->range.unwrap)) != 0) {
                return rc;
            }
        }
        return 0;
    }
    if (logql__peek_type(p, 0) != T(RANGE)) {
        return logql__syntax_error(p, NULL);
    }
    e->range.range_ns = logql__next(p)->dur_ns;
    if ((rc = parse_offset(p, &e->range.offset_ns)) != 0) {
        return rc;
    }
    if (!inner) {
        /* selector RANGE [offset] [pipeline] [unwrap] */
        if ((rc = logql__parse_pipeline(p, &e->range.log, true)) != 0) {
            return rc;
        }
        if (logql__peek_type(p, 0) == T(PIPE) &&
            logql__peek_type(p, 1) == T(UNWRAP)) {
            e->range.has_unwrap = true;
            if ((rc = parse_unwrap(p, &e->range.unwrap)) != 0) {
                return rc;
            }
        }
    }
    if (paren) {
        return logql__expect(p, T(CLOSE_PARENTHESIS), NULL);
    }
    return 0;
}

static bool range_op_of(enum tr_logql_tok t, enum tr_logql_range_op *op)
{
    static const struct {
        enum tr_logql_tok t;
        enum tr_logql_range_op op;
    } map[] = {
        {T(COUNT_OVER_TIME), TR_LOGQL_RANGE_COUNT_OVER_TIME},
        {T(RATE), TR_LOGQL_RANGE_RATE},
        {T(RATE_COUNTER), TR_LOGQL_RANGE_RATE_COUNTER},
        {T(BYTES_OVER_TIME), TR_LOGQL_RANGE_BYTES_OVER_TIME},
        {T(BYTES_RATE), TR_LOGQL_RANGE_BYTES_RATE},
        {T(AVG_OVER_TIME), TR_LOGQL_RANGE_AVG_OVER_TIME},
        {T(SUM_OVER_TIME), TR_LOGQL_RANGE_SUM_OVER_TIME},
        {T(MIN_OVER_TIME), TR_LOGQL_RANGE_MIN_OVER_TIME},
        {T(MAX_OVER_TIME), TR_LOGQL_RANGE_MAX_OVER_TIME},
        {T(STDVAR_OVER_TIME), TR_LOGQL_RANGE_STDVAR_OVER_TIME},
        {T(STDDEV_OVER_TIME), TR_LOGQL_RANGE_STDDEV_OVER_TIME},
        {T(QUANTILE_OVER_TIME), TR_LOGQL_RANGE_QUANTILE_OVER_TIME},
        {T(FIRST_OVER_TIME), TR_LOGQL_RANGE_FIRST_OVER_TIME},
        {T(LAST_OVER_TIME), TR_LOGQL_RANGE_LAST_OVER_TIME},
        {T(ABSENT_OVER_TIME), TR_LOGQL_RANGE_ABSENT_OVER_TIME},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (map[i].t == t) {
            *op = map[i].op;
            return true;
        }
    }
    return false;
}

static bool vector_op_of(enum tr_logql_tok t, enum tr_logql_vector_op *op)
{
    static const struct {
        enum tr_logql_tok t;
        enum tr_logql_vector_op op;
    } map[] = {
        {T(SUM), TR_LOGQL_VEC_SUM},
        {T(AVG), TR_LOGQL_VEC_AVG},
        {T(COUNT), TR_LOGQL_VEC_COUNT},
        {T(MAX), TR_LOGQL_VEC_MAX},
        {T(MIN), TR_LOGQL_VEC_MIN},
        {T(STDDEV), TR_LOGQL_VEC_STDDEV},
        {T(STDVAR), TR_LOGQL_VEC_STDVAR},
        {T(BOTTOMK), TR_LOGQL_VEC_BOTTOMK},
        {T(TOPK), TR_LOGQL_VEC_TOPK},
        {T(SORT), TR_LOGQL_VEC_SORT},
        {T(SORT_DESC), TR_LOGQL_VEC_SORT_DESC},
        {T(APPROX_TOPK), TR_LOGQL_VEC_APPROX_TOPK},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (map[i].t == t) {
            *op = map[i].op;
            return true;
        }
    }
    return false;
}

/* Loki's RangeAggregationExpr checks (node errors). */
static int check_range_aggr(struct parser *p,
                            struct tr_logql_expr *e,
                            const struct tr_logql_token *param)
{
    enum tr_logql_range_op op = e->range.op;
    const char *name = tr_logql_range_op_name(op);
    if (param != NULL) {
        if (op != TR_LOGQL_RANGE_QUANTILE_OVER_TIME) {
            return logql__node_err(
                p, e, "parameter %.*s not supported for operation %s",
                (int)param->str_len, param->str, name);
        }
        char msg[TR_ERRMSG_SIZE];
        if (tr_logql_parse_float(param->str, param->str_len, &e->range.param,
                                 msg) != 0) {
            return logql__node_err(
                p, e, "invalid parameter for operation %s: %s", name, msg);
        }
        e->range.has_param = true;
    } else if (op == TR_LOGQL_RANGE_QUANTILE_OVER_TIME) {
        return logql__node_err(p, e, "parameter required for operation %s",
                               name);
    }
    if (e->range.grouping.present) {
        switch (op) {
            case TR_LOGQL_RANGE_AVG_OVER_TIME:
            case TR_LOGQL_RANGE_STDDEV_OVER_TIME:
            case TR_LOGQL_RANGE_STDVAR_OVER_TIME:
            case TR_LOGQL_RANGE_QUANTILE_OVER_TIME:
            case TR_LOGQL_RANGE_MAX_OVER_TIME:
            case TR_LOGQL_RANGE_MIN_OVER_TIME:
            case TR_LOGQL_RANGE_FIRST_OVER_TIME:
            case TR_LOGQL_RANGE_LAST_OVER_TIME:
                break;
            default:
                return logql__node_err(
                    p, e, "grouping not allowed for %s aggregation", name);
        }
    }
    if (e->range.has_unwrap) {
        switch (op) {
            case TR_LOGQL_RANGE_COUNT_OVER_TIME:
            case TR_LOGQL_RANGE_BYTES_OVER_TIME:
            case TR_LOGQL_RANGE_BYTES_RATE:
                return logql__node_err(
                    p, e, "invalid aggregation %s with unwrap", name);
            default:
                return 0;
        }
    }
    switch (op) {
        case TR_LOGQL_RANGE_BYTES_OVER_TIME:
        case TR_LOGQL_RANGE_BYTES_RATE:
        case TR_LOGQL_RANGE_COUNT_OVER_TIME:
        case TR_LOGQL_RANGE_RATE:
        case TR_LOGQL_RANGE_ABSENT_OVER_TIME:
            return 0;
        default:
            return logql__node_err(
                p, e, "invalid aggregation %s without unwrap", name);
    }
}

static int parse_range_aggr(struct parser *p, struct tr_logql_expr **out)
{
    const struct tr_logql_token *optok = logql__next(p);
    struct tr_logql_expr *e = expr_new(p, TR_LOGQL_EXPR_RANGE_AGGR);
    if (e == NULL) {
        return p->rc;
    }
    range_op_of(optok->type, &e->range.op);
    int rc = logql__expect(p, T(OPEN_PARENTHESIS), "(");
    if (rc != 0) {
        return rc;
    }
    const struct tr_logql_token *param = NULL;
    enum tr_logql_tok t = logql__peek_type(p, 0);
    if (t == T(NUMBER)) {
        param = logql__next(p);
        if ((rc = logql__expect(p, T(COMMA), ",")) != 0) {
            return rc;
        }
    } else if (t != T(OPEN_BRACE) && t != T(OPEN_PARENTHESIS)) {
        return logql__syntax_error(p, "NUMBER or { or (");
    }
    if ((rc = parse_log_range(p, e)) != 0) {
        return rc;
    }
    if ((rc = logql__expect(p, T(CLOSE_PARENTHESIS), NULL)) != 0) {
        return rc;
    }
    t = logql__peek_type(p, 0);
    if (t == T(BY) || t == T(WITHOUT)) {
        if ((rc = parse_grouping(p, &e->range.grouping)) != 0) {
            return rc;
        }
    }
    if ((rc = check_range_aggr(p, e, param)) != 0) {
        return rc;
    }
    *out = e;
    return 0;
}

/* A metric expression: a log query in its place is a syntax error at the
 * token after it, as in Loki's grammar. */
static int parse_metric(struct parser *p, struct tr_logql_expr **out)
{
    int rc = parse_expr(p, 1, out);
    if (rc != 0) {
        return rc;
    }
    if ((*out)->kind == TR_LOGQL_EXPR_LOG) {
        return logql__syntax_error(p, NULL);
    }
    return 0;
}

static int parse_vector_aggr(struct parser *p, struct tr_logql_expr **out)
{
    const struct tr_logql_token *optok = logql__next(p);
    struct tr_logql_expr *e = expr_new(p, TR_LOGQL_EXPR_VECTOR_AGGR);
    if (e == NULL) {
        return p->rc;
    }
    enum tr_logql_vector_op op = TR_LOGQL_VEC_SUM;
    vector_op_of(optok->type, &op);
    e->vector_aggr.op = op;
    int rc;
    bool before = false;
    enum tr_logql_tok t = logql__peek_type(p, 0);
    if (t == T(BY) || t == T(WITHOUT)) {
        before = true;
        if ((rc = parse_grouping(p, &e->vector_aggr.grouping)) != 0) {
            return rc;
        }
    }
    if ((rc = logql__expect(p, T(OPEN_PARENTHESIS), "(")) != 0) {
        return rc;
    }
    const struct tr_logql_token *param = NULL;
    if (logql__peek_type(p, 0) == T(NUMBER) &&
        logql__peek_type(p, 1) == T(COMMA)) {
        param = logql__next(p);
        logql__next(p);
    }
    if ((rc = parse_metric(p, &e->vector_aggr.expr)) != 0) {
        return rc;
    }
    if ((rc = logql__expect(p, T(CLOSE_PARENTHESIS), NULL)) != 0) {
        return rc;
    }
    t = logql__peek_type(p, 0);
    if (!before && (t == T(BY) || t == T(WITHOUT))) {
        if ((rc = parse_grouping(p, &e->vector_aggr.grouping)) != 0) {
            return rc;
        }
    }
    *out = e;
    /* Loki's mustNewVectorAggregationExpr checks (node errors) */
    const char *name = tr_logql_vector_op_name(op);
    if (op == TR_LOGQL_VEC_TOPK || op == TR_LOGQL_VEC_BOTTOMK ||
        op == TR_LOGQL_VEC_APPROX_TOPK) {
        if (param == NULL) {
            return logql__node_err(p, e, "parameter required for operation %s",
                                   name);
        }
        int64_t k;
        if (!atoi_go(param->str, param->str_len, &k)) {
            return logql__node_err(p, e, "invalid parameter %s(%.*s,", name,
                                   (int)param->str_len, param->str);
        }
        if (k <= 0) {
            return logql__node_err(
                p, e, "invalid parameter (must be greater than 0) %s(%.*s",
                name, (int)param->str_len, param->str);
        }
        if (op == TR_LOGQL_VEC_APPROX_TOPK && e->vector_aggr.grouping.present) {
            return logql__node_err(
                p, e, "grouping not allowed for %s aggregation", name);
        }
        e->vector_aggr.k = k;
    } else if (param != NULL) {
        return logql__node_err(p, e,
                               "unsupported parameter for operation %s(%.*s,",
                               name, (int)param->str_len, param->str);
    }
    return 0;
}

static int parse_label_replace(struct parser *p, struct tr_logql_expr **out)
{
    logql__next(p);
    struct tr_logql_expr *e = expr_new(p, TR_LOGQL_EXPR_LABEL_REPLACE);
    if (e == NULL) {
        return p->rc;
    }
    int rc = logql__expect(p, T(OPEN_PARENTHESIS), "(");
    if (rc != 0) {
        return rc;
    }
    if ((rc = parse_metric(p, &e->label_replace.expr)) != 0) {
        return rc;
    }
    const struct tr_logql_token *s[4];
    for (int i = 0; i < 4; i++) {
        if ((rc = logql__expect(p, T(COMMA), ",")) != 0) {
            return rc;
        }
        if (logql__peek_type(p, 0) != T(STRING)) {
            return logql__syntax_error(p, "STRING");
        }
        s[i] = logql__next(p);
    }
    if ((rc = logql__expect(p, T(CLOSE_PARENTHESIS), ")")) != 0) {
        return rc;
    }
    e->label_replace.dst = s[0]->str;
    e->label_replace.replacement = s[1]->str;
    e->label_replace.replacement_len = s[1]->str_len;
    e->label_replace.src = s[2]->str;
    e->label_replace.regex = s[3]->str;
    e->label_replace.regex_len = s[3]->str_len;
    char msg[TR_ERRMSG_SIZE];
    rc = tr_regex_compile(s[3]->str, s[3]->str_len, true, &e->label_replace.re,
                          msg);
    if (rc == TR_ENOMEM) {
        return logql__oom(p);
    }
    *out = e;
    if (rc != 0) {
        e->label_replace.re = NULL;
        return logql__node_err(p, e, "invalid regex in label_replace: %s", msg);
    }
    if (logql__own(p, NULL, e->label_replace.re) != 0) {
        tr_regex_free(e->label_replace.re);
        e->label_replace.re = NULL;
        return logql__oom(p);
    }
    return 0;
}

static int parse_literal(struct parser *p, bool neg, struct tr_logql_expr **out)
{
    const struct tr_logql_token *num = logql__next(p);
    struct tr_logql_expr *e = expr_new(p, TR_LOGQL_EXPR_LITERAL);
    if (e == NULL) {
        return p->rc;
    }
    *out = e;
    double v = 0;
    char msg[TR_ERRMSG_SIZE];
    if (tr_logql_parse_float(num->str, num->str_len, &v, msg) != 0) {
        return logql__node_err(p, e, "unable to parse literal as a float: %s",
                               msg);
    }
    e->literal.value = neg ? -v : v;
    return 0;
}

static int parse_primary(struct parser *p, struct tr_logql_expr **out)
{
    enum tr_logql_tok t = logql__peek_type(p, 0);
    enum tr_logql_range_op rop;
    enum tr_logql_vector_op vop;
    int rc;
    if (range_op_of(t, &rop)) {
        return parse_range_aggr(p, out);
    }
    if (vector_op_of(t, &vop)) {
        return parse_vector_aggr(p, out);
    }
    switch (t) {
        case T(OPEN_BRACE): {
            struct tr_logql_expr *e = expr_new(p, TR_LOGQL_EXPR_LOG);
            if (e == NULL) {
                return p->rc;
            }
            if ((rc = parse_selector(p, &e->log)) != 0) {
                return rc;
            }
            if ((rc = logql__parse_pipeline(p, &e->log, false)) != 0) {
                return rc;
            }
            *out = e;
            return 0;
        }
        case T(OPEN_PARENTHESIS):
            logql__next(p);
            if ((rc = parse_expr(p, 1, out)) != 0) {
                return rc;
            }
            return logql__expect(p, T(CLOSE_PARENTHESIS), NULL);
        case T(NUMBER):
            return parse_literal(p, false, out);
        case T(ADD):
        case T(SUB):
            logql__next(p);
            if (logql__peek_type(p, 0) != T(NUMBER)) {
                return logql__syntax_error(p, "NUMBER");
            }
            return parse_literal(p, t == T(SUB), out);
        case T(VECTOR): {
            logql__next(p);
            if ((rc = logql__expect(p, T(OPEN_PARENTHESIS), "(")) != 0) {
                return rc;
            }
            if (logql__peek_type(p, 0) != T(NUMBER)) {
                return logql__syntax_error(p, "NUMBER");
            }
            const struct tr_logql_token *num = logql__next(p);
            if ((rc = logql__expect(p, T(CLOSE_PARENTHESIS), ")")) != 0) {
                return rc;
            }
            struct tr_logql_expr *e = expr_new(p, TR_LOGQL_EXPR_VECTOR);
            if (e == NULL) {
                return p->rc;
            }
            *out = e;
            char msg[TR_ERRMSG_SIZE];
            if (tr_logql_parse_float(num->str, num->str_len, &e->vector.value,
                                     msg) != 0) {
                return logql__node_err(
                    p, e, "unable to parse vectorExpr as a float: %s", msg);
            }
            return 0;
        }
        case T(LABEL_REPLACE):
            return parse_label_replace(p, out);
        default:
            return logql__syntax_error(p, NULL);
    }
}

static int binop_of(enum tr_logql_tok t, enum tr_logql_binop *op, int *prec)
{
    static const struct {
        enum tr_logql_tok t;
        enum tr_logql_binop op;
        int prec;
    } map[] = {
        {T(OR), TR_LOGQL_OP_OR, 1},         {T(AND), TR_LOGQL_OP_AND, 2},
        {T(UNLESS), TR_LOGQL_OP_UNLESS, 2}, {T(CMP_EQ), TR_LOGQL_OP_EQ, 3},
        {T(NEQ), TR_LOGQL_OP_NEQ, 3},       {T(GT), TR_LOGQL_OP_GT, 3},
        {T(GTE), TR_LOGQL_OP_GTE, 3},       {T(LT), TR_LOGQL_OP_LT, 3},
        {T(LTE), TR_LOGQL_OP_LTE, 3},       {T(ADD), TR_LOGQL_OP_ADD, 4},
        {T(SUB), TR_LOGQL_OP_SUB, 4},       {T(MUL), TR_LOGQL_OP_MUL, 5},
        {T(DIV), TR_LOGQL_OP_DIV, 5},       {T(MOD), TR_LOGQL_OP_MOD, 5},
        {T(POW), TR_LOGQL_OP_POW, 6},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (map[i].t == t) {
            *op = map[i].op;
            *prec = map[i].prec;
            return 1;
        }
    }
    return 0;
}

/* [bool] [on|ignoring (..) [group_left|group_right [(..)]]] */
static int parse_bin_modifier(struct parser *p, struct tr_logql_expr *e)
{
    int rc;
    if (logql__peek_type(p, 0) == T(BOOL)) {
        logql__next(p);
        e->binary.return_bool = true;
    }
    enum tr_logql_tok t = logql__peek_type(p, 0);
    if (t != T(ON) && t != T(IGNORING)) {
        return 0;
    }
    logql__next(p);
    e->binary.on = t == T(ON);
    if ((rc = parse_labels(p, &e->binary.matching)) != 0) {
        return rc;
    }
    t = logql__peek_type(p, 0);
    if (t != T(GROUP_LEFT) && t != T(GROUP_RIGHT)) {
        return 0;
    }
    logql__next(p);
    e->binary.card = t == T(GROUP_LEFT) ? TR_LOGQL_CARD_MANY_TO_ONE
                                        : TR_LOGQL_CARD_ONE_TO_MANY;
    if (logql__peek_type(p, 0) == T(OPEN_PARENTHESIS)) {
        if ((rc = parse_labels(p, &e->binary.include)) != 0) {
            return rc;
        }
        e->binary.has_include = e->binary.include.n > 0;
    }
    return 0;
}

static double fold(enum tr_logql_binop op, double l, double r)
{
    switch (op) {
        case TR_LOGQL_OP_ADD:
            return l + r;
        case TR_LOGQL_OP_SUB:
            return l - r;
        case TR_LOGQL_OP_MUL:
            return l * r;
        case TR_LOGQL_OP_DIV:
            return r == 0 ? NAN : l / r;
        case TR_LOGQL_OP_MOD:
            return r == 0 ? NAN : fmod(l, r);
        case TR_LOGQL_OP_POW:
            return pow(l, r);
        case TR_LOGQL_OP_EQ:
            return l == r;
        case TR_LOGQL_OP_NEQ:
            return l != r;
        case TR_LOGQL_OP_GT:
            return l > r;
        case TR_LOGQL_OP_GTE:
            return l >= r;
        case TR_LOGQL_OP_LT:
            return l < r;
        case TR_LOGQL_OP_LTE:
            return l <= r;
        default:
            return NAN;
    }
}

/* Loki's mustNewBinOpExpr: operand checks (node errors) and folding of two
 * literals. */
static int make_binop(struct parser *p,
                      struct tr_logql_expr *e,
                      struct tr_logql_expr **out)
{
    const char *name = tr_logql_binop_name(e->binary.op);
    struct tr_logql_expr *l = e->binary.lhs, *r = e->binary.rhs;
    *out = e;
    if (l->kind == TR_LOGQL_EXPR_LOG) {
        return logql__node_err(
            p, e, "unexpected type for left leg of binary operation (%s): %s",
            name,
            l->log.n_stages > 0 ? "*syntax.PipelineExpr"
                                : "*syntax.MatchersExpr");
    }
    if (r->kind == TR_LOGQL_EXPR_LOG) {
        return logql__node_err(
            p, e, "unexpected type for right leg of binary operation (%s): %s",
            name,
            r->log.n_stages > 0 ? "*syntax.PipelineExpr"
                                : "*syntax.MatchersExpr");
    }
    bool llit = l->kind == TR_LOGQL_EXPR_LITERAL;
    bool rlit = r->kind == TR_LOGQL_EXPR_LITERAL;
    if (tr_logql_binop_is_set(e->binary.op) && (llit || rlit)) {
        const char *lerr = llit ? node_err_of(p, l) : NULL;
        const char *rerr = rlit ? node_err_of(p, r) : NULL;
        if (lerr != NULL || rerr != NULL) {
            return logql__node_err(p, e, "%s", lerr != NULL ? lerr : rerr);
        }
        return logql__node_err(
            p, e,
            "unexpected literal for %s leg of logical/set binary "
            "operation (%s): %f",
            llit ? "left" : "right", name,
            llit ? l->literal.value : r->literal.value);
    }
    /* a literal that is not a float is the operation's error (Loki); two
     * literals fold into one, which then carries that error */
    struct tr_logql_expr *res = e;
    if (llit && rlit) {
        res = expr_new(p, TR_LOGQL_EXPR_LITERAL);
        if (res == NULL) {
            return p->rc;
        }
        res->literal.value =
            fold(e->binary.op, l->literal.value, r->literal.value);
        *out = res;
    }
    const char *err = llit ? node_err_of(p, l) : NULL;
    if (err == NULL && rlit) {
        err = node_err_of(p, r);
    }
    if (err != NULL) {
        return logql__node_err(p, res, "%s", err);
    }
    return 0;
}

static int parse_expr(struct parser *p,
                      int min_prec,
                      struct tr_logql_expr **out)
{
    if (!logql__enter(p)) {
        return p->rc;
    }
    struct tr_logql_expr *lhs = NULL;
    int rc = parse_primary(p, &lhs);
    while (rc == 0) {
        enum tr_logql_binop op;
        int prec;
        if (!binop_of(logql__peek_type(p, 0), &op, &prec) || prec < min_prec) {
            break;
        }
        logql__next(p);
        struct tr_logql_expr *e = expr_new(p, TR_LOGQL_EXPR_BINARY);
        if (e == NULL) {
            rc = p->rc;
            break;
        }
        e->binary.op = op;
        e->binary.lhs = lhs;
        if ((rc = parse_bin_modifier(p, e)) != 0) {
            break;
        }
        rc = parse_expr(p, op == TR_LOGQL_OP_POW ? prec : prec + 1,
                        &e->binary.rhs);
        if (rc != 0) {
            break;
        }
        rc = make_binop(p, e, &lhs);
    }
    logql__leave(p);
    if (rc == 0) {
        *out = lhs;
    }
    return rc;
}

/* ---- validation (Loki's validateExpr) ---------------------------------- */

static const char *const need_matcher_msg =
    "queries require at least one regexp or equality matcher that does not "
    "have an empty-compatible value. For instance, app=~\".*\" does not meet "
    "this requirement, but app=~\".+\" will";

static bool selector_ok(const struct tr_logql_log *log)
{
    for (size_t i = 0; i < log->n_matchers; i++) {
        if (!tr_matcher_matches_empty(&log->matchers[i])) {
            return true;
        }
    }
    return false;
}

static int validate(struct parser *p, const struct tr_logql_expr *e)
{
    const char *err = node_err_of(p, e);
    if (err != NULL) {
        return logql__fail(p, "%s", err);
    }
    switch (e->kind) {
        case TR_LOGQL_EXPR_BINARY: {
            int rc = validate(p, e->binary.lhs);
            return rc != 0 ? rc : validate(p, e->binary.rhs);
        }
        case TR_LOGQL_EXPR_VECTOR_AGGR:
            if ((e->vector_aggr.op == TR_LOGQL_VEC_SORT ||
                 e->vector_aggr.op == TR_LOGQL_VEC_SORT_DESC) &&
                e->vector_aggr.grouping.labels.n > 0) {
                return logql__fail(
                    p, "sort and sort_desc doesn't allow grouping by ");
            }
            return validate(p, e->vector_aggr.expr);
        case TR_LOGQL_EXPR_LABEL_REPLACE:
            return validate(p, e->label_replace.expr);
        case TR_LOGQL_EXPR_RANGE_AGGR:
            return selector_ok(&e->range.log)
                       ? 0
                       : logql__fail(p, "%s", need_matcher_msg);
        case TR_LOGQL_EXPR_LOG:
            return selector_ok(&e->log)
                       ? 0
                       : logql__fail(p, "%s", need_matcher_msg);
        default:
            return 0;
    }
}

/* ---- entry point ------------------------------------------------------- */

static int lex_all(struct parser *p)
{
    struct tr_logql_lexer lx;
    tr_logql_lex_init(&lx, p->q, p->n, p->a);
    size_t cap = 0;
    for (;;) {
        if (p->ntoks == cap) {
            struct tr_logql_token *g =
                tr_array_grow(p->toks, &cap, sizeof(*g), 64);
            if (g == NULL) {
                return TR_ENOMEM;
            }
            p->toks = g;
        }
        struct tr_logql_token *t = &p->toks[p->ntoks];
        int rc = tr_logql_lex_next(&lx, t);
        if (rc == TR_ENOMEM) {
            return TR_ENOMEM;
        }
        if (t->type == T(ERROR)) {
            /* keep the message in the arena: the lexer goes away */
            char *msg = tr_arena_strndup(p->a, t->str, t->str_len);
            if (msg == NULL) {
                return TR_ENOMEM;
            }
            t->str = msg;
        }
        p->ntoks++;
        if (t->type == T(EOF) || t->type == T(ERROR)) {
            return 0;
        }
    }
}

int tr_logql_parse(const char *q,
                   size_t n,
                   struct tr_arena *a,
                   struct tr_logql_expr **out,
                   char *errmsg)
{
    return tr_logql_parse_ex(q, n, 0, a, out, errmsg);
}

int tr_logql_parse_ex(const char *q,
                      size_t n,
                      unsigned flags,
                      struct tr_arena *a,
                      struct tr_logql_expr **out,
                      char *errmsg)
{
    *out = NULL;
    if (errmsg != NULL) {
        errmsg[0] = '\0';
    }
    if (n >= TR_LOGQL_MAX_INPUT) {
        return tr_logql_errf_at(errmsg, q, n, NULL,
                                "input size too long (%zu > %d)", n,
                                TR_LOGQL_MAX_INPUT);
    }
    struct parser p;
    memset(&p, 0, sizeof(p));
    p.q = q;
    p.n = n;
    p.a = a;
    p.errmsg = errmsg;
    p.flags = flags;
    int rc = lex_all(&p);
    struct tr_logql_expr *e = NULL;
    if (rc != 0) {
        rc = logql__oom(&p);
        goto done;
    }
    rc = parse_expr(&p, 1, &e);
    if (rc == 0 && logql__peek_type(&p, 0) != T(EOF)) {
        rc = logql__syntax_error(&p, NULL);
    }
    bool check = (flags & TR_LOGQL_PARSE_NO_VALIDATE) == 0;
    if (rc == 0 && check) {
        rc = validate(&p, e);
    }
    if (rc == 0 && check && p.has_stage_err) {
        rc = TR_EINVAL;
        if (errmsg != NULL) {
            snprintf(errmsg, TR_ERRMSG_SIZE, "%s", p.stage_err);
        }
    }
done:
    if (rc != 0) {
        if (p.rc == TR_ENOMEM) {
            rc = TR_ENOMEM;
        }
        for (size_t i = 0; i < p.n_owned; i++) {
            tr_matcher_free(&p.owned[i].m);
            tr_regex_free(p.owned[i].re);
        }
    } else {
        *out = e;
    }
    tr_free(p.owned);
    tr_free(p.toks);
    return rc;
}
