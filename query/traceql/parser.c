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

#include "query/traceql/parser_int.h"

bool tr_tql_semantic(struct tr_tql_parser *p, size_t at, const char *fmt, ...)
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
bool tr_tql_enter(struct tr_tql_parser *p)
{
    if (p->abort) {
        return false;
    }
    if (++p->steps > p->max_steps) {
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

void tr_tql_leave(struct tr_tql_parser *p)
{
    p->depth--;
}

void *tr_tql_alloc(struct tr_tql_parser *p, size_t n)
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
bool tr_tql_push(struct tr_tql_parser *p,
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

int tr_tql_memo_get(struct tr_tql_parser *p, int fn, void **node)
{
    const struct tr_tql_memo *m = p->memo[fn] ? &p->memo[fn][p->i] : NULL;
    if (!m || m->state == 0) {
        return -1;
    }
    *node = m->node;
    if (m->state == 2) {
        return 0;
    }
    p->i = m->end;
    return 1;
}

void tr_tql_memo_put(struct tr_tql_parser *p, int fn, size_t start, void *node)
{
    if (p->abort) {
        return;
    }
    if (!p->memo[fn]) {
        p->memo[fn] = tr_tql_alloc(p, p->nt * sizeof(*p->memo[fn]));
        if (!p->memo[fn]) {
            return;
        }
    }
    struct tr_tql_memo *m = &p->memo[fn][start];
    m->node = node;
    m->end = (uint32_t)p->i;
    m->state = node ? 1 : 2;
}

/* ---- statics and attributes ------------------------------------------- */

/* A static literal token (Tempo's "static" rule); IDENTIFIER is minInt,
 * maxInt or an error. */
bool tr_tql_p_static(struct tr_tql_parser *p, struct tr_traceql_static *st)
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
            return tr_tql_semantic(p, p->i, "unknown identifier: %s", t->str);
        default:
            return tok_fail(p);
    }
    tok_advance(p);
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
bool tr_tql_p_attribute(struct tr_tql_parser *p, struct tr_traceql_attr *a)
{
    size_t save = p->i;
    enum tr_traceql_intrinsic in = TR_TQL_INTR_NONE;
    enum tr_tql_tok t = tok_cur(p);
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
        tok_advance(p);
        set_intrinsic(a, in);
        return true;
    }
    if (t == TR_TQL_T_TRACE_COLON || t == TR_TQL_T_SPAN_COLON ||
        t == TR_TQL_T_EVENT_COLON || t == TR_TQL_T_LINK_COLON ||
        t == TR_TQL_T_INSTRUMENTATION_COLON) {
        tok_advance(p);
        enum tr_tql_tok n = tok_cur(p);
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
            tok_fail(p);
            p->i = save;
            return false;
        }
        tok_advance(p);
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
            return tok_fail(p);
    }
    tok_advance(p);
    if (a->parent) {
        if (tok_accept(p, TR_TQL_T_RESOURCE_DOT)) {
            a->scope = TR_TQL_SCOPE_RESOURCE;
        } else if (tok_accept(p, TR_TQL_T_SPAN_DOT)) {
            a->scope = TR_TQL_SCOPE_SPAN;
        }
    }
    if (tok_cur(p) != TR_TQL_T_IDENTIFIER) {
        tok_fail(p);
        p->i = save;
        return false;
    }
    a->name = p->t[p->i].str;
    a->name_len = p->t[p->i].str_len;
    tok_advance(p);
    if (!tok_expect(p, TR_TQL_T_END_ATTRIBUTE)) {
        p->i = save;
        return false;
    }
    return true;
}

/* ---- field expressions ------------------------------------------------ */

static struct tr_traceql_field *f_new(struct tr_tql_parser *p,
                                      enum tr_traceql_field_kind k)
{
    struct tr_traceql_field *f = tr_tql_alloc(p, sizeof(*f));
    if (f) {
        f->kind = k;
    }
    return f;
}

static struct tr_traceql_field *f_unary(struct tr_tql_parser *p,
                                        enum tr_traceql_op op,
                                        struct tr_traceql_field *e)
{
    /* -literal is a literal (Tempo folds it); nodes are not changed once
     * built (the parser memoizes them), so this is a new one */
    if (op == TR_TQL_OP_SUB && e->kind == TR_TQL_F_STATIC &&
        (e->u.st.type == TR_TQL_TYPE_INT ||
         e->u.st.type == TR_TQL_TYPE_DURATION ||
         e->u.st.type == TR_TQL_TYPE_FLOAT)) {
        struct tr_traceql_field *n = f_new(p, TR_TQL_F_STATIC);
        if (n) {
            n->u.st = e->u.st;
            tr_tql_negate(&n->u.st);
        }
        return n;
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

static struct tr_traceql_field *p_field(struct tr_tql_parser *p, int min);

static struct tr_traceql_field *p_field_primary_raw(struct tr_tql_parser *p)
{
    size_t save = p->i;
    struct tr_traceql_field *f = NULL;
    if (!tr_tql_enter(p)) {
        return NULL;
    }
    switch (tok_cur(p)) {
        case TR_TQL_T_OPEN_PARENS:
            tok_advance(p);
            f = p_field(p, 1);
            if (f && !tok_expect(p, TR_TQL_T_CLOSE_PARENS)) {
                f = NULL;
            }
            break;
        case TR_TQL_T_SUB:
            tok_advance(p);
            f = p_field(p, 4);
            if (f) {
                f = f_unary(p, TR_TQL_OP_SUB, f);
            }
            break;
        case TR_TQL_T_NOT:
            tok_advance(p);
            f = p_field(p, 5);
            if (f) {
                f = f_unary(p, TR_TQL_OP_NOT, f);
            }
            break;
        case TR_TQL_T_NIL: {
            tok_advance(p);
            enum tr_traceql_op op;
            if (tok_accept(p, TR_TQL_T_EQ)) {
                op = TR_TQL_OP_NOT_EXISTS;
            } else if (tok_accept(p, TR_TQL_T_NEQ)) {
                op = TR_TQL_OP_EXISTS;
            } else {
                tok_fail(p);
                break;
            }
            if (tok_accept(p, TR_TQL_T_NIL)) {
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
            if (tr_tql_p_attribute(p, &at)) {
                f = f_new(p, TR_TQL_F_ATTR);
                if (f) {
                    f->u.attr = at;
                }
                break;
            }
            struct tr_traceql_static st;
            if (tr_tql_p_static(p, &st)) {
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
    tr_tql_leave(p);
    return f;
}

static struct tr_traceql_field *p_field_primary(struct tr_tql_parser *p)
{
    void *n;
    size_t start = p->i;
    if (tr_tql_memo_get(p, TR_TQL_MEMO_FIELD, &n) >= 0) {
        return n;
    }
    struct tr_traceql_field *r = p_field_primary_raw(p);
    tr_tql_memo_put(p, TR_TQL_MEMO_FIELD, start, r);
    return r;
}

/* A string compared with trace:id loses its leading zeros, as in Tempo
 * (trace IDs are compared without them). Returns operand or its new copy;
 * NULL when out of memory. */
static struct tr_traceql_field *trace_id_operand(
    struct tr_tql_parser *p,
    const struct tr_traceql_field *other,
    struct tr_traceql_field *operand)
{
    if (other->kind != TR_TQL_F_ATTR ||
        other->u.attr.intrinsic != TR_TQL_INTR_TRACE_ID ||
        operand->kind != TR_TQL_F_STATIC ||
        operand->u.st.type != TR_TQL_TYPE_STRING) {
        return operand;
    }
    const char *s = operand->u.st.v.str.s;
    size_t n = operand->u.st.v.str.len, k = 0;
    while (k < n && s[k] == '0') {
        k++;
    }
    if (k == 0) {
        return operand;
    }
    struct tr_traceql_field *c = f_new(p, TR_TQL_F_STATIC);
    if (c) {
        c->u.st = operand->u.st;
        c->u.st.v.str.s = s + k; /* still NUL-terminated */
        c->u.st.v.str.len = n - k;
    }
    return c;
}

static struct tr_traceql_field *p_field(struct tr_tql_parser *p, int min)
{
    struct tr_traceql_field *lhs = p_field_primary(p);
    while (lhs) {
        enum tr_traceql_op op;
        bool right;
        int prec = field_prec(tok_cur(p), &op, &right);
        if (prec < 0 || prec < min) {
            break;
        }
        size_t save = p->i;
        tok_advance(p);
        if ((op == TR_TQL_OP_EQ || op == TR_TQL_OP_NEQ) &&
            tok_accept(p, TR_TQL_T_NIL)) {
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
        b->u.bin.lhs = trace_id_operand(p, rhs, lhs);
        b->u.bin.rhs = trace_id_operand(p, lhs, rhs);
        if (!b->u.bin.lhs || !b->u.bin.rhs) {
            return NULL;
        }
        lhs = b;
    }
    return lhs;
}

/* ---- scalar arithmetic: aggregates and literals ----------------------- */

static bool is_const(const struct tr_traceql_scalar *s)
{
    return s->kind == TR_TQL_S_STATIC;
}

static struct tr_traceql_scalar *p_arith(struct tr_tql_parser *p, int min);

bool tr_tql_p_aggregate(struct tr_tql_parser *p, struct tr_traceql_scalar **out)
{
    size_t save = p->i;
    enum tr_traceql_aggr op;
    switch (tok_cur(p)) {
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
            return tok_fail(p);
    }
    tok_advance(p);
    struct tr_traceql_field *e = NULL;
    if (!tok_expect(p, TR_TQL_T_OPEN_PARENS)) {
        goto failed;
    }
    if (op != TR_TQL_AGGR_COUNT) {
        e = p_field(p, 1);
        if (!e) {
            goto failed;
        }
    }
    if (!tok_expect(p, TR_TQL_T_CLOSE_PARENS)) {
        goto failed;
    }
    struct tr_traceql_scalar *s = tr_tql_alloc(p, sizeof(*s));
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

int tr_tql_arith_prec(enum tr_tql_tok t, enum tr_traceql_op *op, bool *right)
{
    bool r;
    int prec = field_prec(t, op, &r);
    *right = r;
    return prec >= 3 ? prec : -1;
}

struct tr_traceql_scalar *tr_tql_s_static(struct tr_tql_parser *p,
                                          const struct tr_traceql_static *st)
{
    struct tr_traceql_scalar *s = tr_tql_alloc(p, sizeof(*s));
    if (s) {
        s->kind = TR_TQL_S_STATIC;
        s->u.st = *st;
    }
    return s;
}

static struct tr_traceql_scalar *p_arith_primary(struct tr_tql_parser *p);

static struct tr_traceql_scalar *p_arith_primary_raw(struct tr_tql_parser *p)
{
    size_t save = p->i;
    struct tr_traceql_scalar *s = NULL;
    if (!tr_tql_enter(p)) {
        return NULL;
    }
    switch (tok_cur(p)) {
        case TR_TQL_T_OPEN_PARENS:
            tok_advance(p);
            s = p_arith(p, 1);
            if (s && !tok_expect(p, TR_TQL_T_CLOSE_PARENS)) {
                s = NULL;
            }
            break;
        case TR_TQL_T_SUB: {
            size_t at = p->i;
            tok_advance(p);
            s = p_arith_primary(p);
            if (s && !is_const(s)) {
                p->i = at + 1;
                tok_fail(p);
                s = NULL;
            } else if (s) {
                struct tr_traceql_static st = s->u.st;
                tr_tql_negate(&st);
                s = tr_tql_s_static(p, &st);
            }
            break;
        }
        case TR_TQL_T_INTEGER:
        case TR_TQL_T_FLOAT:
        case TR_TQL_T_DURATION: {
            struct tr_traceql_static st;
            if (tr_tql_p_static(p, &st)) {
                s = tr_tql_s_static(p, &st);
            }
            break;
        }
        default:
            tr_tql_p_aggregate(p, &s);
            break;
    }
    if (!s) {
        p->i = save;
    }
    tr_tql_leave(p);
    return s;
}

static struct tr_traceql_scalar *p_arith_primary(struct tr_tql_parser *p)
{
    void *n;
    size_t start = p->i;
    if (tr_tql_memo_get(p, TR_TQL_MEMO_ARITH, &n) >= 0) {
        return n;
    }
    struct tr_traceql_scalar *r = p_arith_primary_raw(p);
    tr_tql_memo_put(p, TR_TQL_MEMO_ARITH, start, r);
    return r;
}

/* Arithmetic of aggregates and literals (scalarExpression / scalar):
 * literal-only parts are folded (only + - * / between literals, no
 * durations). */
static struct tr_traceql_scalar *p_arith(struct tr_tql_parser *p, int min)
{
    struct tr_traceql_scalar *lhs = p_arith_primary(p);
    while (lhs) {
        enum tr_traceql_op op;
        bool right;
        int prec = tr_tql_arith_prec(tok_cur(p), &op, &right);
        if (prec < 0 || prec < min) {
            break;
        }
        size_t save = p->i;
        tok_advance(p);
        struct tr_traceql_scalar *rhs = p_arith(p, right ? prec : prec + 1);
        if (!rhs) {
            p->i = save;
            break;
        }
        if (is_const(lhs) && is_const(rhs)) {
            if (op == TR_TQL_OP_MOD || op == TR_TQL_OP_POW) {
                p->i = save;
                tok_fail(p);
                return NULL;
            }
            if (lhs->u.st.type == TR_TQL_TYPE_DURATION ||
                rhs->u.st.type == TR_TQL_TYPE_DURATION) {
                tr_tql_semantic(p, save,
                                "duration cannot be used in scalar arithmetic");
                return NULL;
            }
            struct tr_traceql_static r;
            if (!tr_tql_fold_arith(op, &lhs->u.st, &rhs->u.st, &r)) {
                tr_tql_semantic(p, save, "division by zero");
                return NULL;
            }
            lhs = tr_tql_s_static(p, &r);
            if (!lhs) {
                return NULL;
            }
            continue;
        }
        struct tr_traceql_scalar *b = tr_tql_alloc(p, sizeof(*b));
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

bool tr_tql_p_cmp(struct tr_tql_parser *p, enum tr_traceql_op *op)
{
    switch (tok_cur(p)) {
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
            return tok_fail(p);
    }
    tok_advance(p);
    return true;
}

/* A literal in a scalar position: a folded constant expression. */
bool tr_tql_p_const(struct tr_tql_parser *p, struct tr_traceql_static *st)
{
    size_t save = p->i;
    struct tr_traceql_scalar *s = p_arith(p, 1);
    if (!s) {
        return false;
    }
    if (!is_const(s)) {
        p->i = save;
        return tok_fail(p);
    }
    *st = s->u.st;
    return true;
}

/* scalarFilter: arith cmp arith, one side holding an aggregate. */
static bool p_scalar_filter(struct tr_tql_parser *p,
                            struct tr_traceql_scalar_filter *sf)
{
    size_t save = p->i;
    struct tr_traceql_scalar *lhs = p_arith(p, 1);
    if (!lhs) {
        return false;
    }
    if (!tr_tql_p_cmp(p, &sf->op)) {
        p->i = save;
        return false;
    }
    size_t rpos = p->i;
    struct tr_traceql_scalar *rhs = p_arith(p, 1);
    if (!rhs || (is_const(lhs) && is_const(rhs))) {
        if (rhs) {
            p->i = rpos;
            tok_fail(p);
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

struct tr_traceql_spanset *tr_tql_ss_new(struct tr_tql_parser *p,
                                         enum tr_traceql_spanset_kind k)
{
    struct tr_traceql_spanset *s = tr_tql_alloc(p, sizeof(*s));
    if (s) {
        s->kind = k;
    }
    return s;
}

/* { } | { field } */
struct tr_traceql_spanset *tr_tql_p_filter(struct tr_tql_parser *p)
{
    size_t save = p->i;
    if (!tok_expect(p, TR_TQL_T_OPEN_BRACE)) {
        return NULL;
    }
    struct tr_traceql_field *f;
    if (tok_cur(p) == TR_TQL_T_CLOSE_BRACE) {
        f = f_new(p, TR_TQL_F_STATIC);
        if (!f) {
            return NULL;
        }
        f->u.st.type = TR_TQL_TYPE_BOOL;
        f->u.st.v.b = true;
    } else {
        f = p_field(p, 1);
    }
    if (!f || !tok_expect(p, TR_TQL_T_CLOSE_BRACE)) {
        p->i = save;
        return NULL;
    }
    struct tr_traceql_spanset *s = tr_tql_ss_new(p, TR_TQL_SS_FILTER);
    if (s) {
        s->u.filter = f;
    }
    return s;
}

/* The operands of spanset operators: filters in spansetExpression, or
 * parenthesised pipelines in spansetPipelineExpression (pipes). */

static struct tr_traceql_spanset *p_spanset_primary_raw(struct tr_tql_parser *p,
                                                        int mode)
{
    size_t save = p->i;
    struct tr_traceql_spanset *s = NULL;
    bool pipes = mode != TR_TQL_SS_FILTERS;
    if (!tr_tql_enter(p)) {
        return NULL;
    }
    if (!pipes && tok_cur(p) == TR_TQL_T_OPEN_BRACE) {
        s = tr_tql_p_filter(p);
    } else if (tok_accept(p, TR_TQL_T_OPEN_PARENS)) {
        if (mode == TR_TQL_SS_PIPES_FIRST) {
            /* where a pipeline may start too, "( spanset )" is a spanset
             * expression, not a pipeline: Tempo's yacc shifts the ")" */
            if (tr_tql_p_spanset(p, 1, TR_TQL_SS_FILTERS) &&
                tok_cur(p) == TR_TQL_T_CLOSE_PARENS) {
                tok_fail(p);
                goto out;
            }
            p->i = save + 1;
        }
        s = tr_tql_p_spanset(p, 1, pipes ? TR_TQL_SS_PIPES_FIRST : mode);
        if (s && !tok_expect(p, TR_TQL_T_CLOSE_PARENS)) {
            s = NULL;
        }
        if (!s && pipes) {
            p->i = save + 1;
            struct tr_traceql_pipeline *pl = tr_tql_p_pipeline(p);
            if (pl && tok_expect(p, TR_TQL_T_CLOSE_PARENS)) {
                s = tr_tql_ss_new(p, TR_TQL_SS_PIPELINE);
                if (s) {
                    s->u.pipeline = pl;
                }
            }
        }
    } else {
        tok_fail(p);
    }
out:
    if (!s) {
        p->i = save;
    }
    tr_tql_leave(p);
    return s;
}

static struct tr_traceql_spanset *p_spanset_primary(struct tr_tql_parser *p,
                                                    int mode)
{
    void *n;
    size_t start = p->i;
    if (tr_tql_memo_get(p, TR_TQL_MEMO_SS + mode, &n) >= 0) {
        return n;
    }
    struct tr_traceql_spanset *r = p_spanset_primary_raw(p, mode);
    tr_tql_memo_put(p, TR_TQL_MEMO_SS + mode, start, r);
    return r;
}

struct tr_traceql_spanset *tr_tql_p_spanset(struct tr_tql_parser *p,
                                            int min,
                                            int mode)
{
    struct tr_traceql_spanset *lhs = p_spanset_primary(p, mode);
    while (lhs) {
        enum tr_traceql_op op;
        int prec = spanset_prec(tok_cur(p), &op);
        if (prec < 0 || prec < min) {
            break;
        }
        size_t save = p->i;
        tok_advance(p);
        struct tr_traceql_spanset *rhs = tr_tql_p_spanset(
            p, prec + 1,
            mode == TR_TQL_SS_PIPES_FIRST ? TR_TQL_SS_PIPES : mode);
        if (!rhs) {
            p->i = save;
            break;
        }
        struct tr_traceql_spanset *o = tr_tql_ss_new(p, TR_TQL_SS_OP);
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
static bool p_stage_fn(struct tr_tql_parser *p,
                       struct tr_traceql_stage *st,
                       bool later)
{
    size_t save = p->i;
    enum tr_tql_tok t = tok_cur(p);
    if (t != TR_TQL_T_BY && t != TR_TQL_T_SELECT &&
        !(later && t == TR_TQL_T_COALESCE)) {
        return tok_fail(p);
    }
    tok_advance(p);
    if (!tok_expect(p, TR_TQL_T_OPEN_PARENS)) {
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
            if (!tr_tql_p_attribute(p, &a)) {
                goto failed;
            }
            if (!tr_tql_push(p, &st->u.select.attrs, &st->u.select.n, &cap, &a,
                             sizeof(a))) {
                return false;
            }
        } while (tok_accept(p, TR_TQL_T_COMMA));
    }
    if (!tok_expect(p, TR_TQL_T_CLOSE_PARENS)) {
        goto failed;
    }
    return true;
failed:
    p->i = save;
    return false;
}

static bool p_stage(struct tr_tql_parser *p,
                    struct tr_traceql_stage *st,
                    bool later)
{
    memset(st, 0, sizeof(*st));
    if (!tr_tql_enter(p)) {
        return false;
    }
    bool ok = true;
    struct tr_traceql_spanset *s = tr_tql_p_spanset(p, 1, TR_TQL_SS_FILTERS);
    if (s) {
        st->kind = TR_TQL_STAGE_SPANSET;
        st->u.spanset = s;
    } else if (p_scalar_filter(p, &st->u.sfilter)) {
        st->kind = TR_TQL_STAGE_SCALAR_FILTER;
    } else {
        ok = p_stage_fn(p, st, later);
    }
    tr_tql_leave(p);
    return ok;
}

static struct tr_traceql_pipeline *p_pipeline_raw(struct tr_tql_parser *p)
{
    struct tr_traceql_stage st;
    struct tr_traceql_pipeline *pl;
    size_t cap = 0;
    if (!p_stage(p, &st, false)) {
        return NULL;
    }
    pl = tr_tql_alloc(p, sizeof(*pl));
    if (!pl || !tr_tql_push(p, &pl->stages, &pl->n, &cap, &st, sizeof(st))) {
        return NULL;
    }
    while (tok_cur(p) == TR_TQL_T_PIPE) {
        size_t save = p->i;
        tok_advance(p);
        if (!p_stage(p, &st, true)) {
            p->i = save;
            break;
        }
        if (!tr_tql_push(p, &pl->stages, &pl->n, &cap, &st, sizeof(st))) {
            return NULL;
        }
    }
    return pl;
}

struct tr_traceql_pipeline *tr_tql_p_pipeline(struct tr_tql_parser *p)
{
    void *n;
    size_t start = p->i;
    if (tr_tql_memo_get(p, TR_TQL_MEMO_PIPELINE, &n) >= 0) {
        return n;
    }
    struct tr_traceql_pipeline *r = p_pipeline_raw(p);
    tr_tql_memo_put(p, TR_TQL_MEMO_PIPELINE, start, r);
    return r;
}
