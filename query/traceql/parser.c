/* parser.c - TraceQL parser: recursive descent with backtracking over the
 * token array of the lexer, accepting the language of Tempo's yacc grammar
 * (pkg/traceql/expr.y) with its precedences:
 *
 *   query      := ( pipeline [ "|" metrics_agg { second } ]
 *                 | spanset_pipeline_expr
 *                 | scalar_pipeline_expr cmp ( scalar_pipeline_expr | lit )
 *                 | metrics_expr { second } ) { with(...) }
 *   pipeline   := element { "|" element }; the first element is a spanset
 *                 expression, a scalar filter, by() or select(); later ones
 *                 may also be coalesce()
 *   spanset operators: && || (lowest), then > < >> << ~ !> !< !>> !<< !~
 *                 &> &< &>> &<< &~, all left-associative
 *   field expressions (inside {}), lowest first: && || | = != < <= > >=
 *                 =~ !~ | + - (and unary -) | ! (prefix) | * / % | ^ (right)
 *   scalar filters: arithmetic of aggregates (count() avg(x) ...) and
 *                 literals, at least one aggregate on one side
 *   metrics math: + - * / between parenthesised metrics pipelines and
 *                 literals (literals folded; no durations)
 *
 * Alternatives are tried in that order; every parse function restores the
 * position when it fails. The error reported is the first semantic one
 * ("unknown identifier: foo") or else the syntax error at the furthest
 * token reached. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "query/traceql/traceql_int.h"

#define MAX_STEPS 2000000

struct ps {
    const char *q;
    size_t n;
    const struct tr_tql_token *t;
    size_t nt;
    size_t i;
    struct tr_arena *a;
    int depth;
    size_t steps;
    bool oom;
    bool abort; /* too deep or too complex: stop everything */
    size_t far; /* furthest token a syntax error was seen at */
    bool have_sem;
    char sem[TR_ERRMSG_SIZE]; /* first semantic error */
    char abort_msg[TR_ERRMSG_SIZE];
};

/* ---- helpers ---------------------------------------------------------- */

static enum tr_tql_tok cur(const struct ps *p)
{
    return p->t[p->i].type;
}

static enum tr_tql_tok ahead(const struct ps *p, size_t k)
{
    size_t j = p->i + k;
    return j < p->nt ? p->t[j].type : TR_TQL_T_EOF;
}

static void advance(struct ps *p)
{
    if (p->i + 1 < p->nt) {
        p->i++;
    }
}

static bool fail(struct ps *p)
{
    if (p->i > p->far) {
        p->far = p->i;
    }
    return false;
}

static bool accept(struct ps *p, enum tr_tql_tok t)
{
    if (cur(p) == t) {
        advance(p);
        return true;
    }
    return false;
}

static bool expect(struct ps *p, enum tr_tql_tok t)
{
    return accept(p, t) || fail(p);
}

static bool semantic(struct ps *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool semantic(struct ps *p, size_t at, const char *fmt, ...)
{
    if (!p->have_sem) {
        char msg[TR_ERRMSG_SIZE];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        int line, col;
        tr_tql_line_col(p->q, p->n, p->t[at].pos, &line, &col);
        snprintf(p->sem, sizeof(p->sem),
                 "parse error at line %d, col %d: %.440s", line, col, msg);
        p->have_sem = true;
    }
    return false;
}

/* Counts a step and a nesting level; false when over the limits. */
static bool enter(struct ps *p)
{
    if (p->abort) {
        return false;
    }
    if (++p->steps > MAX_STEPS) {
        snprintf(p->abort_msg, sizeof(p->abort_msg),
                 "parse error : query too complex");
        p->abort = true;
        return false;
    }
    if (++p->depth > TR_TRACEQL_MAX_DEPTH) {
        snprintf(p->abort_msg, sizeof(p->abort_msg),
                 "parse error : query too deeply nested");
        p->abort = true;
        p->depth--;
        return false;
    }
    return true;
}

static void leave(struct ps *p)
{
    p->depth--;
}

static void *alloc(struct ps *p, size_t n)
{
    void *m = tr_arena_alloc(p->a, n);
    if (!m) {
        p->oom = true;
        p->abort = true;
    } else {
        memset(m, 0, n);
    }
    return m;
}

/* Appends elem (size sz) to the arena array *arr of *n elements. */
static bool push(struct ps *p,
                 void *arr,
                 size_t *n,
                 size_t *cap,
                 const void *elem,
                 size_t sz)
{
    void **ap = arr;
    if (*n == *cap) {
        void *na = tr_arena_array_grow(p->a, *ap, *n, cap, sz, 4);
        if (!na) {
            p->oom = p->abort = true;
            return false;
        }
        *ap = na;
    }
    memcpy((char *)*ap + *n * sz, elem, sz);
    (*n)++;
    return true;
}

/* ---- statics and attributes ------------------------------------------- */

/* A static literal token (Tempo's "static" rule); IDENTIFIER is minInt,
 * maxInt or an error. */
static bool p_static(struct ps *p, struct tr_traceql_static *st)
{
    const struct tr_tql_token *t = &p->t[p->i];
    memset(st, 0, sizeof(*st));
    switch (t->type) {
        case TR_TQL_T_STRING:
            st->type = TR_TQL_TYPE_STRING;
            st->v.str.s = t->str;
            st->v.str.len = t->str_len;
            break;
        case TR_TQL_T_INTEGER:
            st->type = TR_TQL_TYPE_INT;
            st->v.i = t->i;
            break;
        case TR_TQL_T_FLOAT:
            st->type = TR_TQL_TYPE_FLOAT;
            st->v.f = t->f;
            break;
        case TR_TQL_T_DURATION:
            st->type = TR_TQL_TYPE_DURATION;
            st->v.i = t->i;
            break;
        case TR_TQL_T_TRUE:
        case TR_TQL_T_FALSE:
            st->type = TR_TQL_TYPE_BOOL;
            st->v.b = t->type == TR_TQL_T_TRUE;
            break;
        case TR_TQL_T_STATUS_OK:
        case TR_TQL_T_STATUS_ERROR:
        case TR_TQL_T_STATUS_UNSET:
            st->type = TR_TQL_TYPE_STATUS;
            st->v.status = t->type == TR_TQL_T_STATUS_OK ? TR_TQL_STATUS_OK
                           : t->type == TR_TQL_T_STATUS_ERROR
                               ? TR_TQL_STATUS_ERROR
                               : TR_TQL_STATUS_UNSET;
            break;
        case TR_TQL_T_KIND_UNSPECIFIED:
        case TR_TQL_T_KIND_INTERNAL:
        case TR_TQL_T_KIND_SERVER:
        case TR_TQL_T_KIND_CLIENT:
        case TR_TQL_T_KIND_PRODUCER:
        case TR_TQL_T_KIND_CONSUMER:
            st->type = TR_TQL_TYPE_KIND;
            st->v.kind = (int)(t->type - TR_TQL_T_KIND_UNSPECIFIED);
            break;
        case TR_TQL_T_IDENTIFIER:
            if (t->str_len == 6 && memcmp(t->str, "minInt", 6) == 0) {
                st->type = TR_TQL_TYPE_INT;
                st->v.i = INT64_MIN;
                break;
            }
            if (t->str_len == 6 && memcmp(t->str, "maxInt", 6) == 0) {
                st->type = TR_TQL_TYPE_INT;
                st->v.i = INT64_MAX;
                break;
            }
            return semantic(p, p->i, "unknown identifier: %s", t->str);
        default:
            return fail(p);
    }
    advance(p);
    return true;
}

static void set_intrinsic(struct tr_traceql_attr *a,
                          enum tr_traceql_intrinsic i)
{
    memset(a, 0, sizeof(*a));
    a->intrinsic = i;
    a->name = tr_traceql_intrinsic_name(i);
    a->name_len = strlen(a->name);
}

/* intrinsicField | scopedIntrinsicField | attributeField */
static bool p_attribute(struct ps *p, struct tr_traceql_attr *a)
{
    size_t save = p->i;
    enum tr_traceql_intrinsic in = TR_TQL_INTR_NONE;
    enum tr_tql_tok t = cur(p);
    switch (t) {
        case TR_TQL_T_IDURATION:
            in = TR_TQL_INTR_DURATION;
            break;
        case TR_TQL_T_NAME:
            in = TR_TQL_INTR_NAME;
            break;
        case TR_TQL_T_STATUS:
            in = TR_TQL_INTR_STATUS;
            break;
        case TR_TQL_T_STATUS_MESSAGE:
            in = TR_TQL_INTR_STATUS_MESSAGE;
            break;
        case TR_TQL_T_KIND:
            in = TR_TQL_INTR_KIND;
            break;
        case TR_TQL_T_PARENT:
            in = TR_TQL_INTR_PARENT;
            break;
        case TR_TQL_T_ROOTNAME:
            in = TR_TQL_INTR_TRACE_ROOT_SPAN;
            break;
        case TR_TQL_T_ROOTSERVICENAME:
            in = TR_TQL_INTR_TRACE_ROOT_SERVICE;
            break;
        case TR_TQL_T_TRACEDURATION:
            in = TR_TQL_INTR_TRACE_DURATION;
            break;
        case TR_TQL_T_NESTEDSETLEFT:
            in = TR_TQL_INTR_NESTED_SET_LEFT;
            break;
        case TR_TQL_T_NESTEDSETRIGHT:
            in = TR_TQL_INTR_NESTED_SET_RIGHT;
            break;
        case TR_TQL_T_NESTEDSETPARENT:
            in = TR_TQL_INTR_NESTED_SET_PARENT;
            break;
        default:
            break;
    }
    if (in != TR_TQL_INTR_NONE) {
        advance(p);
        set_intrinsic(a, in);
        return true;
    }
    if (t == TR_TQL_T_TRACE_COLON || t == TR_TQL_T_SPAN_COLON ||
        t == TR_TQL_T_EVENT_COLON || t == TR_TQL_T_LINK_COLON ||
        t == TR_TQL_T_INSTRUMENTATION_COLON) {
        advance(p);
        enum tr_tql_tok n = cur(p);
        switch (t) {
            case TR_TQL_T_TRACE_COLON:
                in = n == TR_TQL_T_IDURATION  ? TR_TQL_INTR_TRACE_DURATION
                     : n == TR_TQL_T_ROOTNAME ? TR_TQL_INTR_TRACE_ROOT_SPAN
                     : n == TR_TQL_T_ROOTSERVICE
                         ? TR_TQL_INTR_TRACE_ROOT_SERVICE
                     : n == TR_TQL_T_ID ? TR_TQL_INTR_TRACE_ID
                                        : TR_TQL_INTR_NONE;
                break;
            case TR_TQL_T_SPAN_COLON:
                in = n == TR_TQL_T_IDURATION        ? TR_TQL_INTR_DURATION
                     : n == TR_TQL_T_NAME           ? TR_TQL_INTR_NAME
                     : n == TR_TQL_T_KIND           ? TR_TQL_INTR_KIND
                     : n == TR_TQL_T_STATUS         ? TR_TQL_INTR_STATUS
                     : n == TR_TQL_T_STATUS_MESSAGE ? TR_TQL_INTR_STATUS_MESSAGE
                     : n == TR_TQL_T_ID             ? TR_TQL_INTR_SPAN_ID
                     : n == TR_TQL_T_PARENT_ID      ? TR_TQL_INTR_PARENT_ID
                     : n == TR_TQL_T_CHILDCOUNT     ? TR_TQL_INTR_CHILD_COUNT
                                                    : TR_TQL_INTR_NONE;
                break;
            case TR_TQL_T_EVENT_COLON:
                in = n == TR_TQL_T_NAME ? TR_TQL_INTR_EVENT_NAME
                     : n == TR_TQL_T_TIMESINCESTART
                         ? TR_TQL_INTR_EVENT_TIME_SINCE_START
                         : TR_TQL_INTR_NONE;
                break;
            case TR_TQL_T_LINK_COLON:
                in = n == TR_TQL_T_TRACE_ID  ? TR_TQL_INTR_LINK_TRACE_ID
                     : n == TR_TQL_T_SPAN_ID ? TR_TQL_INTR_LINK_SPAN_ID
                                             : TR_TQL_INTR_NONE;
                break;
            default:
                in = n == TR_TQL_T_NAME ? TR_TQL_INTR_INSTRUMENTATION_NAME
                     : n == TR_TQL_T_VERSION
                         ? TR_TQL_INTR_INSTRUMENTATION_VERSION
                         : TR_TQL_INTR_NONE;
                break;
        }
        if (in == TR_TQL_INTR_NONE) {
            fail(p);
            p->i = save;
            return false;
        }
        advance(p);
        set_intrinsic(a, in);
        return true;
    }
    memset(a, 0, sizeof(*a));
    switch (t) {
        case TR_TQL_T_DOT:
            break;
        case TR_TQL_T_RESOURCE_DOT:
            a->scope = TR_TQL_SCOPE_RESOURCE;
            break;
        case TR_TQL_T_SPAN_DOT:
            a->scope = TR_TQL_SCOPE_SPAN;
            break;
        case TR_TQL_T_EVENT_DOT:
            a->scope = TR_TQL_SCOPE_EVENT;
            break;
        case TR_TQL_T_LINK_DOT:
            a->scope = TR_TQL_SCOPE_LINK;
            break;
        case TR_TQL_T_INSTRUMENTATION_DOT:
            a->scope = TR_TQL_SCOPE_INSTRUMENTATION;
            break;
        case TR_TQL_T_PARENT_DOT:
            a->parent = true;
            break;
        default:
            return fail(p);
    }
    advance(p);
    if (a->parent) {
        if (accept(p, TR_TQL_T_RESOURCE_DOT)) {
            a->scope = TR_TQL_SCOPE_RESOURCE;
        } else if (accept(p, TR_TQL_T_SPAN_DOT)) {
            a->scope = TR_TQL_SCOPE_SPAN;
        }
    }
    if (cur(p) != TR_TQL_T_IDENTIFIER) {
        fail(p);
        p->i = save;
        return false;
    }
    a->name = p->t[p->i].str;
    a->name_len = p->t[p->i].str_len;
    advance(p);
    if (!expect(p, TR_TQL_T_END_ATTRIBUTE)) {
        p->i = save;
        return false;
    }
    return true;
}

/* ---- field expressions ------------------------------------------------ */

static struct tr_traceql_field *f_new(struct ps *p,
                                      enum tr_traceql_field_kind k)
{
    struct tr_traceql_field *f = alloc(p, sizeof(*f));
    if (f) {
        f->kind = k;
    }
    return f;
}

static struct tr_traceql_field *f_unary(struct ps *p,
                                        enum tr_traceql_op op,
                                        struct tr_traceql_field *e)
{
    /* -literal is a literal (Tempo folds it) */
    if (op == TR_TQL_OP_SUB && e->kind == TR_TQL_F_STATIC) {
        struct tr_traceql_static *st = &e->u.st;
        if (st->type == TR_TQL_TYPE_INT || st->type == TR_TQL_TYPE_DURATION) {
            st->v.i = (int64_t)(0 - (uint64_t)st->v.i);
            return e;
        }
        if (st->type == TR_TQL_TYPE_FLOAT) {
            st->v.f = -st->v.f;
            return e;
        }
    }
    struct tr_traceql_field *f = f_new(p, TR_TQL_F_UNARY);
    if (f) {
        f->u.un.op = op;
        f->u.un.e = e;
    }
    return f;
}

static int field_prec(enum tr_tql_tok t, enum tr_traceql_op *op, bool *right)
{
    *right = false;
    switch (t) {
        case TR_TQL_T_AND:
            *op = TR_TQL_OP_AND;
            return 1;
        case TR_TQL_T_OR:
            *op = TR_TQL_OP_OR;
            return 1;
        case TR_TQL_T_EQ:
            *op = TR_TQL_OP_EQ;
            return 2;
        case TR_TQL_T_NEQ:
            *op = TR_TQL_OP_NEQ;
            return 2;
        case TR_TQL_T_LT:
            *op = TR_TQL_OP_LT;
            return 2;
        case TR_TQL_T_LTE:
            *op = TR_TQL_OP_LTE;
            return 2;
        case TR_TQL_T_GT:
            *op = TR_TQL_OP_GT;
            return 2;
        case TR_TQL_T_GTE:
            *op = TR_TQL_OP_GTE;
            return 2;
        case TR_TQL_T_RE:
            *op = TR_TQL_OP_RE;
            return 2;
        case TR_TQL_T_NRE:
            *op = TR_TQL_OP_NRE;
            return 2;
        case TR_TQL_T_ADD:
            *op = TR_TQL_OP_ADD;
            return 3;
        case TR_TQL_T_SUB:
            *op = TR_TQL_OP_SUB;
            return 3;
        case TR_TQL_T_MUL:
            *op = TR_TQL_OP_MUL;
            return 5;
        case TR_TQL_T_DIV:
            *op = TR_TQL_OP_DIV;
            return 5;
        case TR_TQL_T_MOD:
            *op = TR_TQL_OP_MOD;
            return 5;
        case TR_TQL_T_POW:
            *op = TR_TQL_OP_POW;
            *right = true;
            return 6;
        default:
            return -1;
    }
}

static struct tr_traceql_field *p_field(struct ps *p, int min);

static struct tr_traceql_field *p_field_primary(struct ps *p)
{
    size_t save = p->i;
    struct tr_traceql_field *f = NULL;
    if (!enter(p)) {
        return NULL;
    }
    switch (cur(p)) {
        case TR_TQL_T_OPEN_PARENS:
            advance(p);
            f = p_field(p, 1);
            if (f && !expect(p, TR_TQL_T_CLOSE_PARENS)) {
                f = NULL;
            }
            break;
        case TR_TQL_T_SUB:
            advance(p);
            f = p_field(p, 4);
            if (f) {
                f = f_unary(p, TR_TQL_OP_SUB, f);
            }
            break;
        case TR_TQL_T_NOT:
            advance(p);
            f = p_field(p, 5);
            if (f) {
                f = f_unary(p, TR_TQL_OP_NOT, f);
            }
            break;
        case TR_TQL_T_NIL: {
            advance(p);
            enum tr_traceql_op op;
            if (accept(p, TR_TQL_T_EQ)) {
                op = TR_TQL_OP_NOT_EXISTS;
            } else if (accept(p, TR_TQL_T_NEQ)) {
                op = TR_TQL_OP_EXISTS;
            } else {
                fail(p);
                break;
            }
            if (accept(p, TR_TQL_T_NIL)) {
                f = f_new(p, TR_TQL_F_STATIC); /* nil = nil is false */
                if (f) {
                    f->u.st.type = TR_TQL_TYPE_BOOL;
                    f->u.st.v.b = false;
                }
                break;
            }
            f = p_field(p, 3);
            if (f) {
                f = f_unary(p, op, f);
            }
            break;
        }
        default: {
            struct tr_traceql_attr at;
            if (p_attribute(p, &at)) {
                f = f_new(p, TR_TQL_F_ATTR);
                if (f) {
                    f->u.attr = at;
                }
                break;
            }
            struct tr_traceql_static st;
            if (p_static(p, &st)) {
                f = f_new(p, TR_TQL_F_STATIC);
                if (f) {
                    f->u.st = st;
                }
            }
            break;
        }
    }
    if (!f) {
        p->i = save;
    }
    leave(p);
    return f;
}

static struct tr_traceql_field *p_field(struct ps *p, int min)
{
    struct tr_traceql_field *lhs = p_field_primary(p);
    while (lhs) {
        enum tr_traceql_op op;
        bool right;
        int prec = field_prec(cur(p), &op, &right);
        if (prec < 0 || prec < min) {
            break;
        }
        size_t save = p->i;
        advance(p);
        if ((op == TR_TQL_OP_EQ || op == TR_TQL_OP_NEQ) &&
            accept(p, TR_TQL_T_NIL)) {
            lhs = f_unary(
                p, op == TR_TQL_OP_EQ ? TR_TQL_OP_NOT_EXISTS : TR_TQL_OP_EXISTS,
                lhs);
            continue;
        }
        struct tr_traceql_field *rhs = p_field(p, right ? prec : prec + 1);
        if (!rhs) {
            p->i = save;
            return NULL;
        }
        struct tr_traceql_field *b = f_new(p, TR_TQL_F_BINARY);
        if (!b) {
            return NULL;
        }
        b->u.bin.op = op;
        b->u.bin.lhs = lhs;
        b->u.bin.rhs = rhs;
        lhs = b;
    }
    return lhs;
}

/* ---- scalar arithmetic: aggregates and literals ----------------------- */

static bool is_const(const struct tr_traceql_scalar *s)
{
    return s->kind == TR_TQL_S_STATIC;
}

static struct tr_traceql_scalar *p_arith(struct ps *p, int min);

static bool p_aggregate(struct ps *p, struct tr_traceql_scalar **out)
{
    size_t save = p->i;
    enum tr_traceql_aggr op;
    switch (cur(p)) {
        case TR_TQL_T_COUNT:
            op = TR_TQL_AGGR_COUNT;
            break;
        case TR_TQL_T_MAX:
            op = TR_TQL_AGGR_MAX;
            break;
        case TR_TQL_T_MIN:
            op = TR_TQL_AGGR_MIN;
            break;
        case TR_TQL_T_AVG:
            op = TR_TQL_AGGR_AVG;
            break;
        case TR_TQL_T_SUM:
            op = TR_TQL_AGGR_SUM;
            break;
        default:
            return fail(p);
    }
    advance(p);
    struct tr_traceql_field *e = NULL;
    if (!expect(p, TR_TQL_T_OPEN_PARENS)) {
        goto failed;
    }
    if (op != TR_TQL_AGGR_COUNT) {
        e = p_field(p, 1);
        if (!e) {
            goto failed;
        }
    }
    if (!expect(p, TR_TQL_T_CLOSE_PARENS)) {
        goto failed;
    }
    struct tr_traceql_scalar *s = alloc(p, sizeof(*s));
    if (!s) {
        return false;
    }
    s->kind = TR_TQL_S_AGGREGATE;
    s->u.aggr.op = op;
    s->u.aggr.e = e;
    *out = s;
    return true;
failed:
    p->i = save;
    return false;
}

static int arith_prec(enum tr_tql_tok t, enum tr_traceql_op *op, bool *right)
{
    bool r;
    int prec = field_prec(t, op, &r);
    *right = r;
    return prec >= 3 ? prec : -1;
}

static struct tr_traceql_scalar *s_static(struct ps *p,
                                          const struct tr_traceql_static *st)
{
    struct tr_traceql_scalar *s = alloc(p, sizeof(*s));
    if (s) {
        s->kind = TR_TQL_S_STATIC;
        s->u.st = *st;
    }
    return s;
}

static struct tr_traceql_scalar *p_arith_primary(struct ps *p)
{
    size_t save = p->i;
    struct tr_traceql_scalar *s = NULL;
    if (!enter(p)) {
        return NULL;
    }
    switch (cur(p)) {
        case TR_TQL_T_OPEN_PARENS:
            advance(p);
            s = p_arith(p, 1);
            if (s && !expect(p, TR_TQL_T_CLOSE_PARENS)) {
                s = NULL;
            }
            break;
        case TR_TQL_T_SUB: {
            size_t at = p->i;
            advance(p);
            s = p_arith_primary(p);
            if (s && !is_const(s)) {
                p->i = at + 1;
                fail(p);
                s = NULL;
            } else if (s) {
                struct tr_traceql_static *st = &s->u.st;
                if (st->type == TR_TQL_TYPE_FLOAT) {
                    st->v.f = -st->v.f;
                } else {
                    st->v.i = (int64_t)(0 - (uint64_t)st->v.i);
                }
            }
            break;
        }
        case TR_TQL_T_INTEGER:
        case TR_TQL_T_FLOAT:
        case TR_TQL_T_DURATION: {
            struct tr_traceql_static st;
            if (p_static(p, &st)) {
                s = s_static(p, &st);
            }
            break;
        }
        default:
            p_aggregate(p, &s);
            break;
    }
    if (!s) {
        p->i = save;
    }
    leave(p);
    return s;
}

/* Arithmetic of aggregates and literals (scalarExpression / scalar):
 * literal-only parts are folded (only + - * / between literals, no
 * durations). */
static struct tr_traceql_scalar *p_arith(struct ps *p, int min)
{
    struct tr_traceql_scalar *lhs = p_arith_primary(p);
    while (lhs) {
        enum tr_traceql_op op;
        bool right;
        int prec = arith_prec(cur(p), &op, &right);
        if (prec < 0 || prec < min) {
            break;
        }
        size_t save = p->i;
        advance(p);
        struct tr_traceql_scalar *rhs = p_arith(p, right ? prec : prec + 1);
        if (!rhs) {
            p->i = save;
            break;
        }
        if (is_const(lhs) && is_const(rhs)) {
            if (op == TR_TQL_OP_MOD || op == TR_TQL_OP_POW) {
                p->i = save;
                fail(p);
                return NULL;
            }
            if (lhs->u.st.type == TR_TQL_TYPE_DURATION ||
                rhs->u.st.type == TR_TQL_TYPE_DURATION) {
                semantic(p, save,
                         "duration cannot be used in scalar arithmetic");
                return NULL;
            }
            struct tr_traceql_static r;
            if (!tr_tql_fold_arith(op, &lhs->u.st, &rhs->u.st, &r)) {
                semantic(p, save, "division by zero");
                return NULL;
            }
            lhs->u.st = r;
            continue;
        }
        struct tr_traceql_scalar *b = alloc(p, sizeof(*b));
        if (!b) {
            return NULL;
        }
        b->kind = TR_TQL_S_BINARY;
        b->u.bin.op = op;
        b->u.bin.lhs = lhs;
        b->u.bin.rhs = rhs;
        lhs = b;
    }
    return lhs;
}

static bool p_cmp(struct ps *p, enum tr_traceql_op *op)
{
    switch (cur(p)) {
        case TR_TQL_T_EQ:
            *op = TR_TQL_OP_EQ;
            break;
        case TR_TQL_T_NEQ:
            *op = TR_TQL_OP_NEQ;
            break;
        case TR_TQL_T_LT:
            *op = TR_TQL_OP_LT;
            break;
        case TR_TQL_T_LTE:
            *op = TR_TQL_OP_LTE;
            break;
        case TR_TQL_T_GT:
            *op = TR_TQL_OP_GT;
            break;
        case TR_TQL_T_GTE:
            *op = TR_TQL_OP_GTE;
            break;
        default:
            return fail(p);
    }
    advance(p);
    return true;
}

/* A literal in a scalar position: a folded constant expression. */
static bool p_const(struct ps *p, struct tr_traceql_static *st)
{
    size_t save = p->i;
    struct tr_traceql_scalar *s = p_arith(p, 1);
    if (!s) {
        return false;
    }
    if (!is_const(s)) {
        p->i = save;
        return fail(p);
    }
    *st = s->u.st;
    return true;
}

/* scalarFilter: arith cmp arith, one side holding an aggregate. */
static bool p_scalar_filter(struct ps *p, struct tr_traceql_scalar_filter *sf)
{
    size_t save = p->i;
    struct tr_traceql_scalar *lhs = p_arith(p, 1);
    if (!lhs) {
        return false;
    }
    if (!p_cmp(p, &sf->op)) {
        p->i = save;
        return false;
    }
    size_t rpos = p->i;
    struct tr_traceql_scalar *rhs = p_arith(p, 1);
    if (!rhs || (is_const(lhs) && is_const(rhs))) {
        if (rhs) {
            p->i = rpos;
            fail(p);
        }
        p->i = save;
        return false;
    }
    sf->lhs = lhs;
    sf->rhs = rhs;
    return true;
}

/* ---- spansets and pipelines ------------------------------------------- */

static int spanset_prec(enum tr_tql_tok t, enum tr_traceql_op *op)
{
    switch (t) {
        case TR_TQL_T_AND:
            *op = TR_TQL_OP_SS_AND;
            return 1;
        case TR_TQL_T_OR:
            *op = TR_TQL_OP_SS_UNION;
            return 1;
        case TR_TQL_T_GT:
            *op = TR_TQL_OP_SS_CHILD;
            return 2;
        case TR_TQL_T_LT:
            *op = TR_TQL_OP_SS_PARENT;
            return 2;
        case TR_TQL_T_DESC:
            *op = TR_TQL_OP_SS_DESCENDANT;
            return 2;
        case TR_TQL_T_ANCE:
            *op = TR_TQL_OP_SS_ANCESTOR;
            return 2;
        case TR_TQL_T_SIBL:
            *op = TR_TQL_OP_SS_SIBLING;
            return 2;
        case TR_TQL_T_NOT_CHILD:
            *op = TR_TQL_OP_SS_NOT_CHILD;
            return 2;
        case TR_TQL_T_NOT_PARENT:
            *op = TR_TQL_OP_SS_NOT_PARENT;
            return 2;
        case TR_TQL_T_NOT_DESC:
            *op = TR_TQL_OP_SS_NOT_DESCENDANT;
            return 2;
        case TR_TQL_T_NOT_ANCE:
            *op = TR_TQL_OP_SS_NOT_ANCESTOR;
            return 2;
        case TR_TQL_T_NRE:
            *op = TR_TQL_OP_SS_NOT_SIBLING;
            return 2;
        case TR_TQL_T_UNION_CHILD:
            *op = TR_TQL_OP_SS_UNION_CHILD;
            return 2;
        case TR_TQL_T_UNION_PARENT:
            *op = TR_TQL_OP_SS_UNION_PARENT;
            return 2;
        case TR_TQL_T_UNION_DESC:
            *op = TR_TQL_OP_SS_UNION_DESCENDANT;
            return 2;
        case TR_TQL_T_UNION_ANCE:
            *op = TR_TQL_OP_SS_UNION_ANCESTOR;
            return 2;
        case TR_TQL_T_UNION_SIBL:
            *op = TR_TQL_OP_SS_UNION_SIBLING;
            return 2;
        default:
            return -1;
    }
}

static struct tr_traceql_spanset *ss_new(struct ps *p,
                                         enum tr_traceql_spanset_kind k)
{
    struct tr_traceql_spanset *s = alloc(p, sizeof(*s));
    if (s) {
        s->kind = k;
    }
    return s;
}

/* { } | { field } */
static struct tr_traceql_spanset *p_filter(struct ps *p)
{
    size_t save = p->i;
    if (!expect(p, TR_TQL_T_OPEN_BRACE)) {
        return NULL;
    }
    struct tr_traceql_field *f;
    if (cur(p) == TR_TQL_T_CLOSE_BRACE) {
        f = f_new(p, TR_TQL_F_STATIC);
        if (!f) {
            return NULL;
        }
        f->u.st.type = TR_TQL_TYPE_BOOL;
        f->u.st.v.b = true;
    } else {
        f = p_field(p, 1);
    }
    if (!f || !expect(p, TR_TQL_T_CLOSE_BRACE)) {
        p->i = save;
        return NULL;
    }
    struct tr_traceql_spanset *s = ss_new(p, TR_TQL_SS_FILTER);
    if (s) {
        s->u.filter = f;
    }
    return s;
}

static struct tr_traceql_pipeline *p_pipeline(struct ps *p);

/* The operands of spanset operators: filters in spansetExpression, or
 * parenthesised pipelines in spansetPipelineExpression (pipes). */
static struct tr_traceql_spanset *p_spanset(struct ps *p, int min, bool pipes);

static struct tr_traceql_spanset *p_spanset_primary(struct ps *p, bool pipes)
{
    size_t save = p->i;
    struct tr_traceql_spanset *s = NULL;
    if (!enter(p)) {
        return NULL;
    }
    if (!pipes && cur(p) == TR_TQL_T_OPEN_BRACE) {
        s = p_filter(p);
    } else if (accept(p, TR_TQL_T_OPEN_PARENS)) {
        s = p_spanset(p, 1, pipes);
        if (s && !expect(p, TR_TQL_T_CLOSE_PARENS)) {
            s = NULL;
        }
        if (!s && pipes) {
            p->i = save + 1;
            struct tr_traceql_pipeline *pl = p_pipeline(p);
            if (pl && expect(p, TR_TQL_T_CLOSE_PARENS)) {
                s = ss_new(p, TR_TQL_SS_PIPELINE);
                if (s) {
                    s->u.pipeline = pl;
                }
            }
        }
    } else {
        fail(p);
    }
    if (!s) {
        p->i = save;
    }
    leave(p);
    return s;
}

static struct tr_traceql_spanset *p_spanset(struct ps *p, int min, bool pipes)
{
    struct tr_traceql_spanset *lhs = p_spanset_primary(p, pipes);
    while (lhs) {
        enum tr_traceql_op op;
        int prec = spanset_prec(cur(p), &op);
        if (prec < 0 || prec < min) {
            break;
        }
        size_t save = p->i;
        advance(p);
        struct tr_traceql_spanset *rhs = p_spanset(p, prec + 1, pipes);
        if (!rhs) {
            p->i = save;
            break;
        }
        struct tr_traceql_spanset *o = ss_new(p, TR_TQL_SS_OP);
        if (!o) {
            return NULL;
        }
        o->u.op.op = op;
        o->u.op.lhs = lhs;
        o->u.op.rhs = rhs;
        lhs = o;
    }
    return lhs;
}

/* select(attr, ...) / by(field) / coalesce() */
static bool p_stage_fn(struct ps *p, struct tr_traceql_stage *st, bool later)
{
    size_t save = p->i;
    enum tr_tql_tok t = cur(p);
    if (t != TR_TQL_T_BY && t != TR_TQL_T_SELECT &&
        !(later && t == TR_TQL_T_COALESCE)) {
        return fail(p);
    }
    advance(p);
    if (!expect(p, TR_TQL_T_OPEN_PARENS)) {
        goto failed;
    }
    if (t == TR_TQL_T_BY) {
        st->kind = TR_TQL_STAGE_GROUP;
        st->u.group = p_field(p, 1);
        if (!st->u.group) {
            goto failed;
        }
    } else if (t == TR_TQL_T_COALESCE) {
        st->kind = TR_TQL_STAGE_COALESCE;
    } else {
        st->kind = TR_TQL_STAGE_SELECT;
        size_t cap = 0;
        st->u.select.attrs = NULL;
        st->u.select.n = 0;
        do {
            struct tr_traceql_attr a;
            if (!p_attribute(p, &a)) {
                goto failed;
            }
            if (!push(p, &st->u.select.attrs, &st->u.select.n, &cap, &a,
                      sizeof(a))) {
                return false;
            }
        } while (accept(p, TR_TQL_T_COMMA));
    }
    if (!expect(p, TR_TQL_T_CLOSE_PARENS)) {
        goto failed;
    }
    return true;
failed:
    p->i = save;
    return false;
}

static bool p_stage(struct ps *p, struct tr_traceql_stage *st, bool later)
{
    memset(st, 0, sizeof(*st));
    if (!enter(p)) {
        return false;
    }
    bool ok = true;
    struct tr_traceql_spanset *s = p_spanset(p, 1, false);
    if (s) {
        st->kind = TR_TQL_STAGE_SPANSET;
        st->u.spanset = s;
    } else if (p_scalar_filter(p, &st->u.sfilter)) {
        st->kind = TR_TQL_STAGE_SCALAR_FILTER;
    } else {
        ok = p_stage_fn(p, st, later);
    }
    leave(p);
    return ok;
}

static struct tr_traceql_pipeline *p_pipeline(struct ps *p)
{
    struct tr_traceql_stage st;
    struct tr_traceql_pipeline *pl;
    size_t cap = 0;
    if (!p_stage(p, &st, false)) {
        return NULL;
    }
    pl = alloc(p, sizeof(*pl));
    if (!pl || !push(p, &pl->stages, &pl->n, &cap, &st, sizeof(st))) {
        return NULL;
    }
    while (cur(p) == TR_TQL_T_PIPE) {
        size_t save = p->i;
        advance(p);
        if (!p_stage(p, &st, true)) {
            p->i = save;
            break;
        }
        if (!push(p, &pl->stages, &pl->n, &cap, &st, sizeof(st))) {
            return NULL;
        }
    }
    return pl;
}

/* ---- scalar pipeline expressions -------------------------------------- */

static struct tr_traceql_scalar *p_spx(struct ps *p, int min);

/* ( pipeline | aggregate ) */
static struct tr_traceql_scalar *p_wrapped_scalar_pipeline(struct ps *p)
{
    size_t save = p->i;
    struct tr_traceql_pipeline *pl;
    struct tr_traceql_scalar *ag = NULL;
    if (!expect(p, TR_TQL_T_OPEN_PARENS) || !(pl = p_pipeline(p)) ||
        !expect(p, TR_TQL_T_PIPE) || !p_aggregate(p, &ag) ||
        !expect(p, TR_TQL_T_CLOSE_PARENS)) {
        p->i = save;
        return NULL;
    }
    struct tr_traceql_stage st = {.kind = TR_TQL_STAGE_AGGREGATE};
    st.u.aggregate = ag;
    struct tr_traceql_pipeline *np = alloc(p, sizeof(*np));
    if (!np) {
        return NULL;
    }
    size_t cap = pl->n + 1;
    np->stages = alloc(p, cap * sizeof(*np->stages));
    if (!np->stages) {
        return NULL;
    }
    memcpy(np->stages, pl->stages, pl->n * sizeof(*np->stages));
    np->stages[pl->n] = st;
    np->n = pl->n + 1;
    struct tr_traceql_scalar *s = alloc(p, sizeof(*s));
    if (s) {
        s->kind = TR_TQL_S_PIPELINE;
        s->u.pipeline = np;
    }
    return s;
}

static struct tr_traceql_scalar *p_spx_primary(struct ps *p)
{
    size_t save = p->i;
    if (!enter(p)) {
        return NULL;
    }
    struct tr_traceql_scalar *s = p_wrapped_scalar_pipeline(p);
    if (!s && accept(p, TR_TQL_T_OPEN_PARENS)) {
        s = p_spx(p, 1);
        if (s && !expect(p, TR_TQL_T_CLOSE_PARENS)) {
            s = NULL;
        }
    }
    if (!s) {
        p->i = save;
    }
    leave(p);
    return s;
}

static struct tr_traceql_scalar *p_spx(struct ps *p, int min)
{
    struct tr_traceql_scalar *lhs = p_spx_primary(p);
    while (lhs) {
        enum tr_traceql_op op;
        bool right;
        int prec = arith_prec(cur(p), &op, &right);
        if (prec < 0 || prec < min) {
            break;
        }
        size_t save = p->i;
        advance(p);
        struct tr_traceql_scalar *rhs = p_spx(p, right ? prec : prec + 1);
        if (!rhs) {
            p->i = save;
            break;
        }
        struct tr_traceql_scalar *b = alloc(p, sizeof(*b));
        if (!b) {
            return NULL;
        }
        b->kind = TR_TQL_S_BINARY;
        b->u.bin.op = op;
        b->u.bin.lhs = lhs;
        b->u.bin.rhs = rhs;
        lhs = b;
    }
    return lhs;
}

/* ---- metrics ---------------------------------------------------------- */

static bool p_attr_list(struct ps *p, struct tr_traceql_attr **out, size_t *n)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    do {
        struct tr_traceql_attr a;
        if (!p_attribute(p, &a)) {
            return false;
        }
        if (!push(p, out, n, &cap, &a, sizeof(a))) {
            return false;
        }
    } while (accept(p, TR_TQL_T_COMMA));
    return true;
}

static bool p_metrics_agg(struct ps *p, struct tr_traceql_metrics_agg *m)
{
    size_t save = p->i;
    memset(m, 0, sizeof(*m));
    enum tr_tql_tok t = cur(p);
    switch (t) {
        case TR_TQL_T_RATE:
            m->fn = TR_TQL_M_RATE;
            break;
        case TR_TQL_T_COUNT_OVER_TIME:
            m->fn = TR_TQL_M_COUNT_OVER_TIME;
            break;
        case TR_TQL_T_MIN_OVER_TIME:
            m->fn = TR_TQL_M_MIN_OVER_TIME;
            break;
        case TR_TQL_T_MAX_OVER_TIME:
            m->fn = TR_TQL_M_MAX_OVER_TIME;
            break;
        case TR_TQL_T_AVG_OVER_TIME:
            m->fn = TR_TQL_M_AVG_OVER_TIME;
            break;
        case TR_TQL_T_SUM_OVER_TIME:
            m->fn = TR_TQL_M_SUM_OVER_TIME;
            break;
        case TR_TQL_T_QUANTILE_OVER_TIME:
            m->fn = TR_TQL_M_QUANTILE_OVER_TIME;
            break;
        case TR_TQL_T_HISTOGRAM_OVER_TIME:
            m->fn = TR_TQL_M_HISTOGRAM_OVER_TIME;
            break;
        case TR_TQL_T_COMPARE:
            m->fn = TR_TQL_M_COMPARE;
            break;
        default:
            return fail(p);
    }
    advance(p);
    if (!expect(p, TR_TQL_T_OPEN_PARENS)) {
        goto failed;
    }
    if (m->fn == TR_TQL_M_COMPARE) {
        m->compare = p_filter(p);
        if (!m->compare) {
            goto failed;
        }
        m->topn = 10;
        m->n_compare_args = 1;
        if (accept(p, TR_TQL_T_COMMA)) {
            if (cur(p) != TR_TQL_T_INTEGER) {
                fail(p);
                goto failed;
            }
            m->topn = p->t[p->i].i;
            advance(p);
            m->n_compare_args = 2;
            if (accept(p, TR_TQL_T_COMMA)) {
                int64_t v[2];
                for (int k = 0; k < 2; k++) {
                    if (k == 1 && !expect(p, TR_TQL_T_COMMA)) {
                        goto failed;
                    }
                    if (cur(p) != TR_TQL_T_INTEGER) {
                        fail(p);
                        goto failed;
                    }
                    v[k] = p->t[p->i].i;
                    advance(p);
                }
                m->start = v[0];
                m->end = v[1];
                m->n_compare_args = 4;
            }
        }
        if (!expect(p, TR_TQL_T_CLOSE_PARENS)) {
            goto failed;
        }
        return true;
    }
    if (m->fn != TR_TQL_M_RATE && m->fn != TR_TQL_M_COUNT_OVER_TIME) {
        if (!p_attribute(p, &m->attr)) {
            goto failed;
        }
        m->has_attr = true;
    }
    if (m->fn == TR_TQL_M_QUANTILE_OVER_TIME) {
        size_t cap = 0;
        if (!expect(p, TR_TQL_T_COMMA)) {
            goto failed;
        }
        do {
            double q;
            if (cur(p) == TR_TQL_T_INTEGER) {
                q = (double)p->t[p->i].i;
            } else if (cur(p) == TR_TQL_T_FLOAT) {
                q = p->t[p->i].f;
            } else {
                fail(p);
                goto failed;
            }
            advance(p);
            if (!push(p, &m->quantiles, &m->n_quantiles, &cap, &q, sizeof(q))) {
                return false;
            }
        } while (accept(p, TR_TQL_T_COMMA));
    }
    if (!expect(p, TR_TQL_T_CLOSE_PARENS)) {
        goto failed;
    }
    if (cur(p) == TR_TQL_T_BY) {
        size_t bsave = p->i;
        advance(p);
        if (!expect(p, TR_TQL_T_OPEN_PARENS) ||
            !p_attr_list(p, &m->by, &m->n_by) ||
            !expect(p, TR_TQL_T_CLOSE_PARENS)) {
            p->i = bsave;
            goto failed;
        }
    }
    return true;
failed:
    p->i = save;
    return false;
}

/* { | topk(n) | | bottomk(n) | cmp literal } appended to m's stages */
static bool p_second_stages(struct ps *p, struct tr_traceql_metrics *m)
{
    size_t cap = m->n_stages;
    for (;;) {
        struct tr_traceql_second_stage s = {0};
        size_t save = p->i;
        if (cur(p) == TR_TQL_T_PIPE &&
            (ahead(p, 1) == TR_TQL_T_TOPK || ahead(p, 1) == TR_TQL_T_BOTTOMK)) {
            advance(p);
            s.kind =
                cur(p) == TR_TQL_T_TOPK ? TR_TQL_2ND_TOPK : TR_TQL_2ND_BOTTOMK;
            advance(p);
            if (!expect(p, TR_TQL_T_OPEN_PARENS) ||
                cur(p) != TR_TQL_T_INTEGER) {
                fail(p);
                p->i = save;
                return false;
            }
            s.limit = p->t[p->i].i;
            advance(p);
            if (!expect(p, TR_TQL_T_CLOSE_PARENS)) {
                p->i = save;
                return false;
            }
        } else if (p_cmp(p, &s.op)) {
            struct tr_traceql_static st;
            if (!p_const(p, &st)) {
                p->i = save;
                return false;
            }
            s.kind = TR_TQL_2ND_FILTER;
            s.value = tr_tql_static_float(&st);
            if (st.type == TR_TQL_TYPE_DURATION) {
                s.value /= 1e9;
            }
        } else {
            return true;
        }
        if (!push(p, &m->stages, &m->n_stages, &cap, &s, sizeof(s))) {
            return false;
        }
    }
}

/* Metrics math operands: constants are kept in *st while folding. */
struct mx {
    struct tr_traceql_metrics *m; /* NULL: a constant */
    struct tr_traceql_static st;
};

static bool p_mx(struct ps *p, int min, struct mx *out);

/* ( pipeline | metrics_agg { second } ) */
static struct tr_traceql_metrics *p_wrapped_metrics(struct ps *p)
{
    size_t save = p->i;
    struct tr_traceql_pipeline *pl;
    struct tr_traceql_metrics *m = alloc(p, sizeof(*m));
    if (!m) {
        return NULL;
    }
    m->kind = TR_TQL_ME_PIPELINE;
    if (!expect(p, TR_TQL_T_OPEN_PARENS) || !(pl = p_pipeline(p)) ||
        !expect(p, TR_TQL_T_PIPE) || !p_metrics_agg(p, &m->agg) ||
        !p_second_stages(p, m) || !expect(p, TR_TQL_T_CLOSE_PARENS)) {
        p->i = save;
        return NULL;
    }
    m->pipeline = pl;
    return m;
}

static bool p_mx_primary(struct ps *p, struct mx *out)
{
    size_t save = p->i;
    bool ok = false;
    if (!enter(p)) {
        return false;
    }
    memset(out, 0, sizeof(*out));
    switch (cur(p)) {
        case TR_TQL_T_OPEN_PARENS:
            out->m = p_wrapped_metrics(p);
            if (out->m) {
                ok = true;
                break;
            }
            if (p->abort) {
                break;
            }
            advance(p);
            ok = p_mx(p, 1, out) && expect(p, TR_TQL_T_CLOSE_PARENS);
            break;
        case TR_TQL_T_SUB:
            advance(p);
            ok = p_mx_primary(p, out);
            if (ok && out->m) {
                p->i = save + 1;
                ok = fail(p);
            } else if (ok) {
                if (out->st.type == TR_TQL_TYPE_FLOAT) {
                    out->st.v.f = -out->st.v.f;
                } else {
                    out->st.v.i = (int64_t)(0 - (uint64_t)out->st.v.i);
                }
            }
            break;
        case TR_TQL_T_INTEGER:
        case TR_TQL_T_FLOAT:
        case TR_TQL_T_DURATION:
            ok = p_static(p, &out->st);
            break;
        default:
            ok = fail(p);
            break;
    }
    if (!ok) {
        p->i = save;
    }
    leave(p);
    return ok;
}

static struct tr_traceql_metrics *me_scalar(struct ps *p,
                                            const struct tr_traceql_static *st,
                                            size_t at)
{
    if (st->type == TR_TQL_TYPE_DURATION) {
        semantic(p, at,
                 "duration cannot be used as a scalar operand in metric "
                 "arithmetic");
        return NULL;
    }
    struct tr_traceql_metrics *m = alloc(p, sizeof(*m));
    if (m) {
        m->kind = TR_TQL_ME_SCALAR;
        m->value = tr_tql_static_float(st);
    }
    return m;
}

static bool p_mx(struct ps *p, int min, struct mx *out)
{
    if (!p_mx_primary(p, out)) {
        return false;
    }
    for (;;) {
        enum tr_traceql_op op;
        bool right;
        int prec = arith_prec(cur(p), &op, &right);
        if (prec < 0 || prec < min || op == TR_TQL_OP_MOD ||
            op == TR_TQL_OP_POW) {
            break;
        }
        size_t save = p->i;
        advance(p);
        struct mx rhs;
        if (!p_mx(p, prec + 1, &rhs)) {
            p->i = save;
            break;
        }
        if (!out->m && !rhs.m) {
            if (out->st.type == TR_TQL_TYPE_DURATION ||
                rhs.st.type == TR_TQL_TYPE_DURATION) {
                return semantic(p, save,
                                "duration cannot be used in scalar arithmetic");
            }
            struct tr_traceql_static r;
            if (!tr_tql_fold_arith(op, &out->st, &rhs.st, &r)) {
                return semantic(p, save, "division by zero");
            }
            out->st = r;
            continue;
        }
        struct tr_traceql_metrics *l = out->m, *r = rhs.m;
        if (!l && !(l = me_scalar(p, &out->st, save))) {
            return false;
        }
        if (!r && !(r = me_scalar(p, &rhs.st, save))) {
            return false;
        }
        struct tr_traceql_metrics *b = alloc(p, sizeof(*b));
        if (!b) {
            return false;
        }
        b->kind = TR_TQL_ME_BINARY;
        b->op = op;
        b->lhs = l;
        b->rhs = r;
        out->m = b;
    }
    return true;
}

/* ---- hints and the query ---------------------------------------------- */

static bool p_hints(struct ps *p, struct tr_traceql_query *q)
{
    while (cur(p) == TR_TQL_T_WITH) {
        size_t cap = 0;
        q->hints = NULL;
        q->n_hints = 0;
        advance(p);
        if (!expect(p, TR_TQL_T_OPEN_PARENS)) {
            return false;
        }
        do {
            struct tr_traceql_hint h;
            if (cur(p) != TR_TQL_T_IDENTIFIER) {
                return fail(p);
            }
            h.name = p->t[p->i].str;
            advance(p);
            if (!expect(p, TR_TQL_T_EQ) || !p_static(p, &h.value)) {
                return false;
            }
            if (!push(p, &q->hints, &q->n_hints, &cap, &h, sizeof(h))) {
                return false;
            }
        } while (accept(p, TR_TQL_T_COMMA));
        if (!expect(p, TR_TQL_T_CLOSE_PARENS)) {
            return false;
        }
    }
    return true;
}

static bool at_end(struct ps *p, struct tr_traceql_query *q)
{
    return p_hints(p, q) && (cur(p) == TR_TQL_T_EOF || fail(p));
}

static bool root_pipeline(struct ps *p, struct tr_traceql_query *q)
{
    struct tr_traceql_pipeline *pl = p_pipeline(p);
    if (!pl) {
        return false;
    }
    if (cur(p) == TR_TQL_T_PIPE) {
        size_t save = p->i;
        struct tr_traceql_metrics *m = alloc(p, sizeof(*m));
        if (!m) {
            return false;
        }
        advance(p);
        if (p_metrics_agg(p, &m->agg)) {
            m->kind = TR_TQL_ME_PIPELINE;
            m->pipeline = pl;
            if (!p_second_stages(p, m)) {
                return false;
            }
            q->kind = TR_TQL_Q_METRICS;
            q->metrics = m;
            return at_end(p, q);
        }
        p->i = save;
    }
    struct tr_traceql_spanset *s = ss_new(p, TR_TQL_SS_PIPELINE);
    if (!s) {
        return false;
    }
    s->u.pipeline = pl;
    q->kind = TR_TQL_Q_SPANSET;
    q->spanset = s;
    return at_end(p, q);
}

static bool root_spanset_expr(struct ps *p, struct tr_traceql_query *q)
{
    struct tr_traceql_spanset *s = p_spanset(p, 1, true);
    if (!s) {
        return false;
    }
    q->kind = TR_TQL_Q_SPANSET;
    q->spanset = s;
    return at_end(p, q);
}

static bool root_scalar_filter(struct ps *p, struct tr_traceql_query *q)
{
    struct tr_traceql_scalar *lhs = p_spx(p, 1);
    if (!lhs || !p_cmp(p, &q->sfilter.op)) {
        return false;
    }
    struct tr_traceql_scalar *rhs = p_spx(p, 1);
    if (!rhs) {
        struct tr_traceql_static st;
        if (!p_const(p, &st) || !(rhs = s_static(p, &st))) {
            return false;
        }
    }
    q->kind = TR_TQL_Q_SCALAR_FILTER;
    q->sfilter.lhs = lhs;
    q->sfilter.rhs = rhs;
    return at_end(p, q);
}

static bool root_metrics_expr(struct ps *p, struct tr_traceql_query *q)
{
    struct mx x;
    if (!p_mx(p, 1, &x)) {
        return false;
    }
    if (!x.m) {
        return fail(p);
    }
    /* second stages after the whole expression (appended to the stages
     * a wrapped pipeline may already have: the same meaning) */
    if (!p_second_stages(p, x.m)) {
        return false;
    }
    q->kind = TR_TQL_Q_METRICS;
    q->metrics = x.m;
    return at_end(p, q);
}

int tr_traceql_parse(const char *q,
                     size_t len,
                     struct tr_arena *a,
                     struct tr_traceql_query **out,
                     char *errmsg)
{
    static bool (*const roots[])(struct ps *, struct tr_traceql_query *) = {
        root_pipeline, root_spanset_expr, root_scalar_filter,
        root_metrics_expr};
    struct tr_tql_token *toks;
    size_t nt;
    char lexmsg[TR_ERRMSG_SIZE];

    *out = NULL;
    if (errmsg) {
        errmsg[0] = '\0';
    }
    if (len >= TR_TRACEQL_MAX_INPUT) {
        return tr_errf(TR_EINVAL, errmsg, "parse error : input size too long");
    }
    lexmsg[0] = '\0';
    int rv = tr_tql_lex_all(q, len, a, &toks, &nt, lexmsg);
    if (rv != 0) {
        return rv;
    }
    struct ps p = {.q = q, .n = len, .t = toks, .nt = nt, .a = a};
    struct tr_traceql_query *res = NULL;
    for (size_t k = 0; k < sizeof(roots) / sizeof(roots[0]) && !p.abort; k++) {
        struct tr_traceql_query *cand = alloc(&p, sizeof(*cand));
        if (!cand) {
            break;
        }
        p.i = 0;
        p.depth = 0;
        if (roots[k](&p, cand)) {
            res = cand;
            break;
        }
    }
    if (p.oom) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    if (res) {
        *out = res;
        return 0;
    }
    if (p.abort) {
        return tr_errf(TR_EINVAL, errmsg, "%s", p.abort_msg);
    }
    if (p.have_sem) {
        return tr_errf(TR_EINVAL, errmsg, "%s", p.sem);
    }
    const struct tr_tql_token *t = &toks[p.far < nt ? p.far : nt - 1];
    if (t->type == TR_TQL_T_ERROR) {
        return tr_errf(TR_EINVAL, errmsg, "%s", lexmsg);
    }
    int line, col;
    tr_tql_line_col(q, len, t->pos, &line, &col);
    if (t->type == TR_TQL_T_IDENTIFIER || t->type == TR_TQL_T_STRING ||
        t->type == TR_TQL_T_INTEGER || t->type == TR_TQL_T_FLOAT ||
        t->type == TR_TQL_T_DURATION) {
        size_t tl = t + 1 < toks + nt ? t[1].pos - t->pos : len - t->pos;
        if (tl > 40) {
            tl = 40;
        }
        return tr_errf(TR_EINVAL, errmsg,
                       "parse error at line %d, col %d: syntax error: "
                       "unexpected %s %.*s",
                       line, col, tr_tql_tok_name(t->type), (int)tl,
                       q + t->pos);
    }
    return tr_errf(
        TR_EINVAL, errmsg,
        "parse error at line %d, col %d: syntax error: unexpected %s", line,
        col, tr_tql_tok_name(t->type));
}
