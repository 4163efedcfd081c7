/* validate.c - Tempo's semantic checks of a parsed TraceQL query (the
 * validate() methods of pkg/traceql/ast_validate.go and the metrics
 * nodes): operand types of every operator, filters that resolve to a
 * boolean, aggregates of numbers that reference the span, valid regexes,
 * quantiles in [0, 1], topk/bottomk limits > 0, compare() without second
 * stages or math. What Tempo parses but does not run (parent attributes,
 * scalar filters other than "aggregate op literal", more than 5 group-bys
 * of metrics) is TR_EUNSUPPORTED. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/matcher.h"
#include "query/traceql/traceql_int.h"

#define MAX_GROUP_BYS 5
#define MAX_COMPARE_TOPN 1000

struct vs {
    char *errmsg;
};

static bool is_numeric(enum tr_traceql_type t)
{
    return t == TR_TQL_TYPE_INT || t == TR_TQL_TYPE_FLOAT ||
           t == TR_TQL_TYPE_DURATION;
}

static bool matching_operand(enum tr_traceql_type a, enum tr_traceql_type b)
{
    return a == TR_TQL_TYPE_ATTRIBUTE || b == TR_TQL_TYPE_ATTRIBUTE || a == b ||
           (is_numeric(a) && is_numeric(b)) || a == TR_TQL_TYPE_NIL ||
           b == TR_TQL_TYPE_NIL;
}

static bool binary_type_valid(enum tr_traceql_op op, enum tr_traceql_type t)
{
    switch (t) {
        case TR_TQL_TYPE_ATTRIBUTE:
            return true;
        case TR_TQL_TYPE_BOOL:
            return op == TR_TQL_OP_AND || op == TR_TQL_OP_OR ||
                   op == TR_TQL_OP_EQ || op == TR_TQL_OP_NEQ;
        case TR_TQL_TYPE_INT:
        case TR_TQL_TYPE_FLOAT:
        case TR_TQL_TYPE_DURATION:
            return op == TR_TQL_OP_ADD || op == TR_TQL_OP_SUB ||
                   op == TR_TQL_OP_MUL || op == TR_TQL_OP_DIV ||
                   op == TR_TQL_OP_MOD || op == TR_TQL_OP_POW ||
                   op == TR_TQL_OP_EQ || op == TR_TQL_OP_NEQ ||
                   op == TR_TQL_OP_GT || op == TR_TQL_OP_GTE ||
                   op == TR_TQL_OP_LT || op == TR_TQL_OP_LTE;
        case TR_TQL_TYPE_STRING:
            return op == TR_TQL_OP_EQ || op == TR_TQL_OP_NEQ ||
                   op == TR_TQL_OP_RE || op == TR_TQL_OP_NRE ||
                   op == TR_TQL_OP_GT || op == TR_TQL_OP_GTE ||
                   op == TR_TQL_OP_LT || op == TR_TQL_OP_LTE;
        case TR_TQL_TYPE_NIL:
        case TR_TQL_TYPE_STATUS:
        case TR_TQL_TYPE_KIND:
            return op == TR_TQL_OP_EQ || op == TR_TQL_OP_NEQ;
        default:
            return false;
    }
}

static bool unary_type_valid(enum tr_traceql_op op, enum tr_traceql_type t)
{
    if (t == TR_TQL_TYPE_ATTRIBUTE) {
        return true;
    }
    switch (op) {
        case TR_TQL_OP_SUB:
            return is_numeric(t);
        case TR_TQL_OP_NOT:
            return t == TR_TQL_TYPE_BOOL;
        case TR_TQL_OP_EXISTS:
        case TR_TQL_OP_NOT_EXISTS:
            return true;
        default:
            return false;
    }
}

static bool references_span(const struct tr_traceql_field *f)
{
    switch (f->kind) {
        case TR_TQL_F_ATTR:
            return true;
        case TR_TQL_F_BINARY:
            return references_span(f->u.bin.lhs) ||
                   references_span(f->u.bin.rhs);
        case TR_TQL_F_UNARY:
            return references_span(f->u.un.e);
        default:
            return false;
    }
}

/* Formats code + "prefix<field text>" (field may be NULL). */
static int verr(struct vs *v,
                int code,
                const struct tr_traceql_field *f,
                const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

static int verr(struct vs *v,
                int code,
                const struct tr_traceql_field *f,
                const char *fmt,
                ...)
{
    char msg[TR_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!f) {
        return tr_errf(code, v->errmsg, "%s", msg);
    }
    struct tr_buf b;
    tr_buf_init(&b);
    tr_tql_format_field(f, &b);
    int rv = tr_errf(code, v->errmsg, "%s%.*s", msg, (int)(b.oom ? 0 : b.len),
                     b.data ? b.data : "");
    tr_buf_free(&b);
    return rv;
}

static int v_attr(struct vs *v, const struct tr_traceql_attr *a)
{
    if (a->parent) {
        return verr(v, TR_EUNSUPPORTED, NULL, "parent not yet supported");
    }
    if (a->intrinsic == TR_TQL_INTR_PARENT) {
        return verr(v, TR_EUNSUPPORTED, NULL,
                    "intrinsic (parent) not yet supported");
    }
    return 0;
}

static int v_field(struct vs *v, const struct tr_traceql_field *f)
{
    int rv;
    switch (f->kind) {
        case TR_TQL_F_STATIC:
            return 0;
        case TR_TQL_F_ATTR:
            return v_attr(v, &f->u.attr);
        case TR_TQL_F_BINARY: {
            if ((rv = v_field(v, f->u.bin.lhs)) != 0 ||
                (rv = v_field(v, f->u.bin.rhs)) != 0) {
                return rv;
            }
            enum tr_traceql_op op = f->u.bin.op;
            enum tr_traceql_type lt = tr_traceql_field_type(f->u.bin.lhs);
            enum tr_traceql_type rt = tr_traceql_field_type(f->u.bin.rhs);
            if (!matching_operand(lt, rt)) {
                return verr(v, TR_EINVAL, f,
                            "binary operations must operate on the same "
                            "type: ");
            }
            if (!binary_type_valid(op, lt) || !binary_type_valid(op, rt)) {
                return verr(v, TR_EINVAL, f,
                            "illegal operation for the given types: ");
            }
            if (op == TR_TQL_OP_RE || op == TR_TQL_OP_NRE) {
                const struct tr_traceql_field *r = f->u.bin.rhs;
                if (r->kind != TR_TQL_F_STATIC ||
                    r->u.st.type != TR_TQL_TYPE_STRING) {
                    return verr(v, TR_EINVAL, r, "invalid type for =~ or !~: ");
                }
                struct tr_regex *re = NULL;
                char rerr[TR_ERRMSG_SIZE];
                rv = tr_regex_compile(r->u.st.v.str.s, r->u.st.v.str.len, false,
                                      &re, rerr);
                if (rv == TR_ENOMEM) {
                    return tr_errf(TR_ENOMEM, v->errmsg, "out of memory");
                }
                if (rv != 0) {
                    return verr(v, TR_EINVAL, r, "invalid regex: ");
                }
                tr_regex_free(re);
            }
            return 0;
        }
        case TR_TQL_F_UNARY: {
            const struct tr_traceql_field *e = f->u.un.e;
            if ((rv = v_field(v, e)) != 0) {
                return rv;
            }
            if (f->u.un.op == TR_TQL_OP_NOT_EXISTS &&
                e->kind == TR_TQL_F_ATTR) {
                const struct tr_traceql_attr *a = &e->u.attr;
                if (a->intrinsic != TR_TQL_INTR_NONE) {
                    return verr(v, TR_EINVAL, NULL,
                                "%s=nil is not valid because intrinsics "
                                "cannot be nil",
                                tr_traceql_intrinsic_name(a->intrinsic));
                }
                if (a->scope == TR_TQL_SCOPE_RESOURCE && !a->parent &&
                    a->name_len == 12 &&
                    memcmp(a->name, "service.name", 12) == 0) {
                    return verr(v, TR_EINVAL, NULL,
                                "resource.service.name=nil is not valid "
                                "because resource.service.name cannot be nil");
                }
            }
            enum tr_traceql_type t = tr_traceql_field_type(e);
            if (!unary_type_valid(f->u.un.op, t)) {
                return verr(v, TR_EINVAL, f,
                            "illegal operation for the given type: ");
            }
            return 0;
        }
    }
    return 0;
}

static int v_pipeline(struct vs *v, const struct tr_traceql_pipeline *pl);

static int v_spanset(struct vs *v, const struct tr_traceql_spanset *s)
{
    int rv;
    switch (s->kind) {
        case TR_TQL_SS_FILTER: {
            if ((rv = v_field(v, s->u.filter)) != 0) {
                return rv;
            }
            enum tr_traceql_type t = tr_traceql_field_type(s->u.filter);
            if (t != TR_TQL_TYPE_ATTRIBUTE && t != TR_TQL_TYPE_BOOL) {
                return verr(v, TR_EINVAL, s->u.filter,
                            "span filter field expressions must resolve to a "
                            "boolean: ");
            }
            return 0;
        }
        case TR_TQL_SS_OP:
            if ((rv = v_spanset(v, s->u.op.lhs)) != 0) {
                return rv;
            }
            return v_spanset(v, s->u.op.rhs);
        case TR_TQL_SS_PIPELINE:
            return v_pipeline(v, s->u.pipeline);
    }
    return 0;
}

static int v_aggregate(struct vs *v, const struct tr_traceql_scalar *s)
{
    const struct tr_traceql_field *e = s->u.aggr.e;
    int rv;
    if (!e) {
        return 0;
    }
    if ((rv = v_field(v, e)) != 0) {
        return rv;
    }
    enum tr_traceql_type t = tr_traceql_field_type(e);
    if (t != TR_TQL_TYPE_ATTRIBUTE && !is_numeric(t)) {
        return verr(v, TR_EINVAL, e,
                    "aggregate field expressions must resolve to a number "
                    "type: ");
    }
    if (!references_span(e)) {
        return verr(v, TR_EINVAL, e,
                    "aggregate field expressions must reference the span: ");
    }
    return 0;
}

static int v_scalar(struct vs *v, const struct tr_traceql_scalar *s)
{
    int rv;
    switch (s->kind) {
        case TR_TQL_S_STATIC:
            return 0;
        case TR_TQL_S_AGGREGATE:
            return v_aggregate(v, s);
        case TR_TQL_S_PIPELINE:
            return v_pipeline(v, s->u.pipeline);
        case TR_TQL_S_BINARY: {
            if ((rv = v_scalar(v, s->u.bin.lhs)) != 0 ||
                (rv = v_scalar(v, s->u.bin.rhs)) != 0) {
                return rv;
            }
            enum tr_traceql_type lt = tr_tql_scalar_type(s->u.bin.lhs);
            enum tr_traceql_type rt = tr_tql_scalar_type(s->u.bin.rhs);
            if (!matching_operand(lt, rt)) {
                return verr(v, TR_EINVAL, NULL,
                            "binary operations must operate on the same type");
            }
            if (!binary_type_valid(s->u.bin.op, lt) ||
                !binary_type_valid(s->u.bin.op, rt)) {
                return verr(v, TR_EINVAL, NULL,
                            "illegal operation for the given types");
            }
            return 0;
        }
    }
    return 0;
}

static int v_scalar_filter(struct vs *v,
                           const struct tr_traceql_scalar_filter *f)
{
    int rv;
    if ((rv = v_scalar(v, f->lhs)) != 0 || (rv = v_scalar(v, f->rhs)) != 0) {
        return rv;
    }
    enum tr_traceql_type lt = tr_tql_scalar_type(f->lhs);
    enum tr_traceql_type rt = tr_tql_scalar_type(f->rhs);
    if (!matching_operand(lt, rt)) {
        return verr(v, TR_EINVAL, NULL,
                    "binary operations must operate on the same type (scalar "
                    "filter)");
    }
    if (!binary_type_valid(f->op, lt) || !binary_type_valid(f->op, rt)) {
        return verr(v, TR_EINVAL, NULL,
                    "illegal operation for the given types (scalar filter)");
    }
    if (f->lhs->kind != TR_TQL_S_AGGREGATE) {
        return verr(v, TR_EUNSUPPORTED, NULL,
                    "scalar filter lhs other than an aggregate not yet "
                    "supported");
    }
    if (f->rhs->kind != TR_TQL_S_STATIC) {
        return verr(v, TR_EUNSUPPORTED, NULL,
                    "scalar filter rhs other than a literal not yet supported");
    }
    return 0;
}

static int v_pipeline(struct vs *v, const struct tr_traceql_pipeline *pl)
{
    int rv = 0;
    for (size_t i = 0; i < pl->n && rv == 0; i++) {
        const struct tr_traceql_stage *st = &pl->stages[i];
        switch (st->kind) {
            case TR_TQL_STAGE_SPANSET:
                rv = v_spanset(v, st->u.spanset);
                break;
            case TR_TQL_STAGE_SCALAR_FILTER:
                rv = v_scalar_filter(v, &st->u.sfilter);
                break;
            case TR_TQL_STAGE_GROUP:
                if (!references_span(st->u.group)) {
                    return verr(v, TR_EINVAL, st->u.group,
                                "grouping field expressions must reference "
                                "the span: ");
                }
                rv = v_field(v, st->u.group);
                break;
            case TR_TQL_STAGE_COALESCE:
                break;
            case TR_TQL_STAGE_SELECT:
                for (size_t k = 0; k < st->u.select.n && rv == 0; k++) {
                    rv = v_attr(v, &st->u.select.attrs[k]);
                }
                break;
            case TR_TQL_STAGE_AGGREGATE:
                rv = v_aggregate(v, st->u.aggregate);
                break;
        }
    }
    return rv;
}

static int v_metrics_agg(struct vs *v, const struct tr_traceql_metrics_agg *m)
{
    int rv;
    switch (m->fn) {
        case TR_TQL_M_QUANTILE_OVER_TIME:
            if (m->n_by >= MAX_GROUP_BYS) {
                return verr(v, TR_EUNSUPPORTED, NULL,
                            "metrics group by %zu values not yet supported",
                            m->n_by);
            }
            for (size_t i = 0; i < m->n_quantiles; i++) {
                double q = m->quantiles[i];
                if (!(q >= 0 && q <= 1)) {
                    return verr(v, TR_EINVAL, NULL,
                                "quantile must be between 0 and 1: %g", q);
                }
            }
            break;
        case TR_TQL_M_HISTOGRAM_OVER_TIME:
            if (m->n_by >= MAX_GROUP_BYS) {
                return verr(v, TR_EUNSUPPORTED, NULL,
                            "metrics group by %zu values not yet supported",
                            m->n_by);
            }
            break;
        case TR_TQL_M_COMPARE:
            if ((rv = v_spanset(v, m->compare)) != 0) {
                return rv;
            }
            if (m->topn <= 0 || m->topn > MAX_COMPARE_TOPN) {
                return verr(v, TR_EINVAL, NULL,
                            "compare() top number of values must be an "
                            "integer between 1 and %d",
                            MAX_COMPARE_TOPN);
            }
            if (m->start == 0 && m->end == 0) {
                break;
            }
            if (m->start <= 0 || m->end <= 0) {
                return verr(v, TR_EINVAL, NULL,
                            "compare() timestamps must be positive integer "
                            "unix nanoseconds");
            }
            if (m->end <= m->start) {
                return verr(v, TR_EINVAL, NULL,
                            "compare() end timestamp must be greater than "
                            "start timestamp");
            }
            break;
        default:
            break;
    }
    if (m->n_by > MAX_GROUP_BYS) {
        return verr(v, TR_EUNSUPPORTED, NULL,
                    "metrics group by %zu values not yet supported", m->n_by);
    }
    return 0;
}

/* Validates m; *compare is set when a compare() is found. */
static int v_metrics(struct vs *v,
                     const struct tr_traceql_metrics *m,
                     bool *compare)
{
    int rv;
    switch (m->kind) {
        case TR_TQL_ME_PIPELINE:
            if ((rv = v_pipeline(v, m->pipeline)) != 0 ||
                (rv = v_metrics_agg(v, &m->agg)) != 0) {
                return rv;
            }
            if (m->agg.fn == TR_TQL_M_COMPARE) {
                *compare = true;
            }
            break;
        case TR_TQL_ME_BINARY:
            if ((rv = v_metrics(v, m->lhs, compare)) != 0 ||
                (rv = v_metrics(v, m->rhs, compare)) != 0) {
                return rv;
            }
            break;
        case TR_TQL_ME_SCALAR:
            break;
    }
    for (size_t i = 0; i < m->n_stages; i++) {
        const struct tr_traceql_second_stage *s = &m->stages[i];
        if ((s->kind == TR_TQL_2ND_TOPK || s->kind == TR_TQL_2ND_BOTTOMK) &&
            s->limit <= 0) {
            return verr(v, TR_EINVAL, NULL, "limit must be greater than 0");
        }
    }
    return 0;
}

int tr_traceql_validate(const struct tr_traceql_query *q, char *errmsg)
{
    struct vs v = {.errmsg = errmsg};
    bool compare = false;
    int rv = 0;
    if (errmsg) {
        errmsg[0] = '\0';
    }
    switch (q->kind) {
        case TR_TQL_Q_SPANSET:
            rv = v_spanset(&v, q->spanset);
            break;
        case TR_TQL_Q_SCALAR_FILTER:
            rv = v_scalar_filter(&v, &q->sfilter);
            break;
        case TR_TQL_Q_METRICS:
            rv = v_metrics(&v, q->metrics, &compare);
            if (rv == 0 && compare &&
                (q->metrics->kind != TR_TQL_ME_PIPELINE ||
                 q->metrics->n_stages > 0)) {
                rv = verr(&v, TR_EINVAL, NULL,
                          "`compare()` cannot be used with second stage "
                          "functions");
            }
            break;
    }
    return rv;
}
