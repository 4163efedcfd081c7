/* ast.c - TraceQL AST helpers: names, implied types, literal folding. */
#include <math.h>
#include <string.h>

#include "query/traceql/traceql_int.h"

static const char *const intrinsic_names[] = {
#define TR__TQL_INTR_NAME(name, text) text,
    TR_TRACEQL_INTRINSICS(TR__TQL_INTR_NAME)
#undef TR__TQL_INTR_NAME
};

static const char *const op_names[] = {
#define TR__TQL_OP_NAME(name, text) text,
    TR_TRACEQL_OPS(TR__TQL_OP_NAME)
#undef TR__TQL_OP_NAME
};

const char *tr_traceql_intrinsic_name(enum tr_traceql_intrinsic i)
{
    if ((int)i < 0 || i >= TR_TQL_INTR_COUNT) {
        return "?";
    }
    return intrinsic_names[i];
}

const char *tr_traceql_op_name(enum tr_traceql_op op)
{
    if ((int)op < 0 || (size_t)op >= sizeof(op_names) / sizeof(op_names[0])) {
        return "?";
    }
    return op_names[op];
}

static bool is_boolean_op(enum tr_traceql_op op)
{
    switch (op) {
        case TR_TQL_OP_OR:
        case TR_TQL_OP_AND:
        case TR_TQL_OP_EQ:
        case TR_TQL_OP_NEQ:
        case TR_TQL_OP_RE:
        case TR_TQL_OP_NRE:
        case TR_TQL_OP_GT:
        case TR_TQL_OP_GTE:
        case TR_TQL_OP_LT:
        case TR_TQL_OP_LTE:
        case TR_TQL_OP_NOT:
        case TR_TQL_OP_EXISTS:
        case TR_TQL_OP_NOT_EXISTS:
            return true;
        default:
            return false;
    }
}

static enum tr_traceql_type attr_type(const struct tr_traceql_attr *a)
{
    switch (a->intrinsic) {
        case TR_TQL_INTR_DURATION:
        case TR_TQL_INTR_EVENT_TIME_SINCE_START:
        case TR_TQL_INTR_TRACE_DURATION:
            return TR_TQL_TYPE_DURATION;
        case TR_TQL_INTR_CHILD_COUNT:
        case TR_TQL_INTR_NESTED_SET_LEFT:
        case TR_TQL_INTR_NESTED_SET_RIGHT:
        case TR_TQL_INTR_NESTED_SET_PARENT:
            return TR_TQL_TYPE_INT;
        case TR_TQL_INTR_NAME:
        case TR_TQL_INTR_STATUS_MESSAGE:
        case TR_TQL_INTR_EVENT_NAME:
        case TR_TQL_INTR_LINK_TRACE_ID:
        case TR_TQL_INTR_LINK_SPAN_ID:
        case TR_TQL_INTR_TRACE_ROOT_SERVICE:
        case TR_TQL_INTR_TRACE_ROOT_SPAN:
        case TR_TQL_INTR_TRACE_ID:
        case TR_TQL_INTR_SPAN_ID:
        case TR_TQL_INTR_PARENT_ID:
            return TR_TQL_TYPE_STRING;
        case TR_TQL_INTR_STATUS:
            return TR_TQL_TYPE_STATUS;
        case TR_TQL_INTR_KIND:
            return TR_TQL_TYPE_KIND;
        case TR_TQL_INTR_PARENT:
            return TR_TQL_TYPE_NIL;
        default:
            return TR_TQL_TYPE_ATTRIBUTE;
    }
}

enum tr_traceql_type tr_traceql_field_type(const struct tr_traceql_field *f)
{
    switch (f->kind) {
        case TR_TQL_F_STATIC:
            return f->u.st.type;
        case TR_TQL_F_ATTR:
            return attr_type(&f->u.attr);
        case TR_TQL_F_BINARY: {
            if (is_boolean_op(f->u.bin.op)) {
                return TR_TQL_TYPE_BOOL;
            }
            enum tr_traceql_type t = tr_traceql_field_type(f->u.bin.lhs);
            return t != TR_TQL_TYPE_ATTRIBUTE
                       ? t
                       : tr_traceql_field_type(f->u.bin.rhs);
        }
        case TR_TQL_F_UNARY:
            if (f->u.un.op == TR_TQL_OP_EXISTS ||
                f->u.un.op == TR_TQL_OP_NOT_EXISTS) {
                return TR_TQL_TYPE_BOOL;
            }
            return tr_traceql_field_type(f->u.un.e);
    }
    return TR_TQL_TYPE_NIL;
}

enum tr_traceql_type tr_tql_scalar_type(const struct tr_traceql_scalar *s)
{
    switch (s->kind) {
        case TR_TQL_S_STATIC:
            return s->u.st.type;
        case TR_TQL_S_AGGREGATE:
            if (s->u.aggr.op == TR_TQL_AGGR_COUNT || !s->u.aggr.e) {
                return TR_TQL_TYPE_INT;
            }
            return tr_traceql_field_type(s->u.aggr.e);
        case TR_TQL_S_BINARY: {
            enum tr_traceql_type t = tr_tql_scalar_type(s->u.bin.lhs);
            return t != TR_TQL_TYPE_ATTRIBUTE
                       ? t
                       : tr_tql_scalar_type(s->u.bin.rhs);
        }
        case TR_TQL_S_PIPELINE: {
            const struct tr_traceql_pipeline *pl = s->u.pipeline;
            if (pl->n > 0 &&
                pl->stages[pl->n - 1].kind == TR_TQL_STAGE_AGGREGATE) {
                return tr_tql_scalar_type(pl->stages[pl->n - 1].u.aggregate);
            }
            return TR_TQL_TYPE_SPANSET;
        }
    }
    return TR_TQL_TYPE_NIL;
}

double tr_tql_static_float(const struct tr_traceql_static *s)
{
    switch (s->type) {
        case TR_TQL_TYPE_INT:
        case TR_TQL_TYPE_DURATION:
            return (double)s->v.i;
        case TR_TQL_TYPE_FLOAT:
            return s->v.f;
        default:
            return NAN;
    }
}

/* Go's int arithmetic wraps. */
static int64_t wrap(uint64_t v)
{
    return (int64_t)v;
}

static int64_t int_pow(int64_t base, int64_t exp)
{
    /* Tempo's intPow: exponent < 0 gives 0 (integer result), else the
     * wrapped product */
    if (exp < 0) {
        return 0;
    }
    uint64_t r = 1, b = (uint64_t)base;
    while (exp > 0) {
        if (exp & 1) {
            r *= b;
        }
        b *= b;
        exp >>= 1;
    }
    return (int64_t)r;
}

bool tr_tql_fold_arith(enum tr_traceql_op op,
                       const struct tr_traceql_static *lhs,
                       const struct tr_traceql_static *rhs,
                       struct tr_traceql_static *out)
{
    memset(out, 0, sizeof(*out));
    bool ln = lhs->type == TR_TQL_TYPE_INT || lhs->type == TR_TQL_TYPE_FLOAT ||
              lhs->type == TR_TQL_TYPE_DURATION;
    bool rn = rhs->type == TR_TQL_TYPE_INT || rhs->type == TR_TQL_TYPE_FLOAT ||
              rhs->type == TR_TQL_TYPE_DURATION;
    if (!ln || !rn) {
        return false;
    }
    if (lhs->type == TR_TQL_TYPE_INT && rhs->type == TR_TQL_TYPE_INT) {
        int64_t a = lhs->v.i, b = rhs->v.i;
        out->type = TR_TQL_TYPE_INT;
        switch (op) {
            case TR_TQL_OP_ADD:
                out->v.i = wrap((uint64_t)a + (uint64_t)b);
                return true;
            case TR_TQL_OP_SUB:
                out->v.i = wrap((uint64_t)a - (uint64_t)b);
                return true;
            case TR_TQL_OP_MUL:
                out->v.i = wrap((uint64_t)a * (uint64_t)b);
                return true;
            case TR_TQL_OP_DIV:
                if (b == 0) {
                    return false;
                }
                out->v.i = (a == INT64_MIN && b == -1) ? INT64_MIN : a / b;
                return true;
            case TR_TQL_OP_MOD:
                if (b == 0) {
                    return false;
                }
                out->v.i = (b == -1) ? 0 : a % b;
                return true;
            case TR_TQL_OP_POW:
                out->v.i = int_pow(a, b);
                return true;
            default:
                return false;
        }
    }
    double a = tr_tql_static_float(lhs), b = tr_tql_static_float(rhs);
    out->type = TR_TQL_TYPE_FLOAT;
    switch (op) {
        case TR_TQL_OP_ADD:
            out->v.f = a + b;
            return true;
        case TR_TQL_OP_SUB:
            out->v.f = a - b;
            return true;
        case TR_TQL_OP_MUL:
            out->v.f = a * b;
            return true;
        case TR_TQL_OP_DIV:
            out->v.f = a / b;
            return true;
        case TR_TQL_OP_MOD:
            out->v.f = fmod(a, b);
            return true;
        case TR_TQL_OP_POW:
            out->v.f = pow(a, b);
            return true;
        default:
            return false;
    }
}

void tr_tql_negate(struct tr_traceql_static *s)
{
    if (s->type == TR_TQL_TYPE_FLOAT) {
        s->v.f = -s->v.f;
    } else if (s->type == TR_TQL_TYPE_INT || s->type == TR_TQL_TYPE_DURATION) {
        s->v.i = (int64_t)(0 - (uint64_t)s->v.i); /* wraps, as Go's */
    }
}
