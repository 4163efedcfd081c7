/* eval.c - TraceQL search evaluation over one trace (semantics in
 * query/traceql/eval.h). */
#include "query/traceql/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/matcher.h"

#define EV_MAX_ATTRS 64
#define EV_MAX_REGEX 64

/* A value during evaluation. */
enum ev_type {
    V_NIL = TR_TQL_TYPE_NIL,
    V_INT = TR_TQL_TYPE_INT,
    V_FLOAT = TR_TQL_TYPE_FLOAT,
    V_STRING = TR_TQL_TYPE_STRING,
    V_BOOL = TR_TQL_TYPE_BOOL,
    V_DURATION = TR_TQL_TYPE_DURATION,
    V_STATUS = TR_TQL_TYPE_STATUS,
    V_KIND = TR_TQL_TYPE_KIND,
    V_ARRAY = 100, /* an OTLP array attribute */
};

struct ev_val {
    int t; /* enum ev_type */
    int64_t i;
    double f;
    bool b;
    const char *s;
    size_t n;
    const struct tr_otlp_value *arr; /* V_ARRAY */
};

struct ev_regex {
    const struct tr_traceql_field *node;
    struct tr_regex *re;
};

struct tr_traceql_eval {
    const struct tr_traceql_query *q;
    struct ev_regex regex[EV_MAX_REGEX];
    size_t n_regex;
    const struct tr_traceql_attr *attrs[EV_MAX_ATTRS];
    size_t n_attrs;
    bool local;
};

/* Per-trace state. */
struct ev_trace {
    struct tr_traceql_eval *ev;
    const struct tr_span_batch *b;
    struct tr_arena *a;
    size_t n;
    size_t *parent;   /* index of the parent span, or n */
    size_t root;      /* a span without parent, or n */
    uint64_t t_start; /* trace time range */
    uint64_t t_end;
    int64_t *nested; /* left, right, parent per span (lazily) */
    /* the event and link being looked at (SIZE_MAX: none) */
    size_t event, link;
};

/* A set of span indexes, ascending, unique. */
struct ev_set {
    size_t *v;
    size_t n;
};

/* ---- preparing ----------------------------------------------------------- */

static void ev__walk_field(struct tr_traceql_eval *ev,
                           const struct tr_traceql_field *f,
                           int *rv,
                           char *errmsg);

static void ev__add_attr(struct tr_traceql_eval *ev,
                         const struct tr_traceql_attr *at)
{
    for (size_t i = 0; i < ev->n_attrs; i++) {
        const struct tr_traceql_attr *o = ev->attrs[i];
        if (o->scope == at->scope && o->intrinsic == at->intrinsic &&
            o->name_len == at->name_len &&
            memcmp(o->name, at->name, at->name_len) == 0) {
            return;
        }
    }
    if (ev->n_attrs < EV_MAX_ATTRS) {
        ev->attrs[ev->n_attrs++] = at;
    }
}

static void ev__walk_field(struct tr_traceql_eval *ev,
                           const struct tr_traceql_field *f,
                           int *rv,
                           char *errmsg)
{
    if (f == NULL || *rv != 0) {
        return;
    }
    switch (f->kind) {
        case TR_TQL_F_ATTR:
            ev__add_attr(ev, &f->u.attr);
            switch (f->u.attr.intrinsic) {
                case TR_TQL_INTR_TRACE_ROOT_SERVICE:
                case TR_TQL_INTR_TRACE_ROOT_SPAN:
                case TR_TQL_INTR_TRACE_DURATION:
                case TR_TQL_INTR_CHILD_COUNT:
                case TR_TQL_INTR_NESTED_SET_LEFT:
                case TR_TQL_INTR_NESTED_SET_RIGHT:
                case TR_TQL_INTR_NESTED_SET_PARENT:
                case TR_TQL_INTR_PARENT:
                    ev->local = false;
                    break;
                default:
                    break;
            }
            if (f->u.attr.parent) {
                ev->local = false;
            }
            break;
        case TR_TQL_F_BINARY:
            ev__walk_field(ev, f->u.bin.lhs, rv, errmsg);
            ev__walk_field(ev, f->u.bin.rhs, rv, errmsg);
            if ((f->u.bin.op == TR_TQL_OP_RE || f->u.bin.op == TR_TQL_OP_NRE) &&
                f->u.bin.rhs->kind == TR_TQL_F_STATIC &&
                f->u.bin.rhs->u.st.type == TR_TQL_TYPE_STRING) {
                if (ev->n_regex == EV_MAX_REGEX) {
                    *rv = tr_errf(TR_EINVAL, errmsg,
                                  "too many regular expressions");
                    return;
                }
                struct ev_regex *r = &ev->regex[ev->n_regex];
                r->node = f;
                *rv = tr_regex_compile(f->u.bin.rhs->u.st.v.str.s,
                                       f->u.bin.rhs->u.st.v.str.len, true,
                                       &r->re, errmsg);
                ev->n_regex += *rv == 0;
            }
            break;
        case TR_TQL_F_UNARY:
            ev__walk_field(ev, f->u.un.e, rv, errmsg);
            break;
        default:
            break;
    }
}

static void ev__walk_pipeline(struct tr_traceql_eval *ev,
                              const struct tr_traceql_pipeline *p,
                              int *rv,
                              char *errmsg);

static void ev__walk_spanset(struct tr_traceql_eval *ev,
                             const struct tr_traceql_spanset *s,
                             int *rv,
                             char *errmsg)
{
    if (s == NULL || *rv != 0) {
        return;
    }
    switch (s->kind) {
        case TR_TQL_SS_FILTER:
            ev__walk_field(ev, s->u.filter, rv, errmsg);
            break;
        case TR_TQL_SS_OP:
            ev->local = false;
            ev__walk_spanset(ev, s->u.op.lhs, rv, errmsg);
            ev__walk_spanset(ev, s->u.op.rhs, rv, errmsg);
            break;
        case TR_TQL_SS_PIPELINE:
            ev__walk_pipeline(ev, s->u.pipeline, rv, errmsg);
            break;
    }
}

static void ev__walk_scalar(struct tr_traceql_eval *ev,
                            const struct tr_traceql_scalar *s,
                            int *rv,
                            char *errmsg)
{
    if (s == NULL || *rv != 0) {
        return;
    }
    ev->local = false;
    switch (s->kind) {
        case TR_TQL_S_AGGREGATE:
            ev__walk_field(ev, s->u.aggr.e, rv, errmsg);
            break;
        case TR_TQL_S_BINARY:
            ev__walk_scalar(ev, s->u.bin.lhs, rv, errmsg);
            ev__walk_scalar(ev, s->u.bin.rhs, rv, errmsg);
            break;
        case TR_TQL_S_PIPELINE:
            ev__walk_pipeline(ev, s->u.pipeline, rv, errmsg);
            break;
        default:
            break;
    }
}

static void ev__walk_pipeline(struct tr_traceql_eval *ev,
                              const struct tr_traceql_pipeline *p,
                              int *rv,
                              char *errmsg)
{
    for (size_t i = 0; i < p->n && *rv == 0; i++) {
        const struct tr_traceql_stage *st = &p->stages[i];
        switch (st->kind) {
            case TR_TQL_STAGE_SPANSET:
                if (i > 0) {
                    ev->local = false;
                }
                ev__walk_spanset(ev, st->u.spanset, rv, errmsg);
                break;
            case TR_TQL_STAGE_SCALAR_FILTER:
                ev__walk_scalar(ev, st->u.sfilter.lhs, rv, errmsg);
                ev__walk_scalar(ev, st->u.sfilter.rhs, rv, errmsg);
                break;
            case TR_TQL_STAGE_GROUP:
                ev->local = false;
                ev__walk_field(ev, st->u.group, rv, errmsg);
                break;
            case TR_TQL_STAGE_COALESCE:
                ev->local = false;
                break;
            case TR_TQL_STAGE_SELECT:
                for (size_t k = 0; k < st->u.select.n; k++) {
                    ev__add_attr(ev, &st->u.select.attrs[k]);
                }
                break;
            case TR_TQL_STAGE_AGGREGATE:
                ev__walk_scalar(ev, st->u.aggregate, rv, errmsg);
                break;
        }
    }
}

int tr_traceql_eval_new(const struct tr_traceql_query *q,
                        struct tr_traceql_eval **out,
                        char *errmsg)
{
    *out = NULL;
    if (q->kind == TR_TQL_Q_METRICS) {
        return tr_errf(TR_EINVAL, errmsg,
                       "metrics queries are answered by "
                       "/api/metrics/query_range, not by search");
    }
    struct tr_traceql_eval *ev = tr_calloc(1, sizeof(*ev));
    if (ev == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    ev->q = q;
    ev->local = true;
    int rv = 0;
    if (q->kind == TR_TQL_Q_SPANSET) {
        ev__walk_spanset(ev, q->spanset, &rv, errmsg);
    } else {
        ev__walk_scalar(ev, q->sfilter.lhs, &rv, errmsg);
        ev__walk_scalar(ev, q->sfilter.rhs, &rv, errmsg);
    }
    if (rv != 0) {
        tr_traceql_eval_free(ev);
        return rv;
    }
    *out = ev;
    return 0;
}

void tr_traceql_eval_free(struct tr_traceql_eval *ev)
{
    if (ev == NULL) {
        return;
    }
    for (size_t i = 0; i < ev->n_regex; i++) {
        tr_regex_free(ev->regex[i].re);
    }
    tr_free(ev);
}

bool tr_traceql_eval_span_local(const struct tr_traceql_eval *ev)
{
    return ev->local;
}

void tr_traceql_eval_attrs(const struct tr_traceql_eval *ev,
                           const struct tr_traceql_attr *const **attrs,
                           size_t *n)
{
    *attrs = ev->attrs;
    *n = ev->n_attrs;
}

/* ---- pruning ------------------------------------------------------------- */

/* Equalities of a conjunction f (attr = literal, name = "x", status = s,
 * kind = k) into out. */
static size_t ev__conj_eqs(const struct tr_traceql_field *f,
                           struct tr_trace_eq *out,
                           size_t n,
                           size_t max)
{
    if (f == NULL || f->kind != TR_TQL_F_BINARY || n >= max) {
        return n;
    }
    if (f->u.bin.op == TR_TQL_OP_AND) {
        n = ev__conj_eqs(f->u.bin.lhs, out, n, max);
        return ev__conj_eqs(f->u.bin.rhs, out, n, max);
    }
    if (f->u.bin.op != TR_TQL_OP_EQ) {
        return n;
    }
    const struct tr_traceql_field *l = f->u.bin.lhs, *r = f->u.bin.rhs;
    if (l->kind != TR_TQL_F_ATTR) {
        const struct tr_traceql_field *t = l;
        l = r;
        r = t;
    }
    if (l->kind != TR_TQL_F_ATTR || r->kind != TR_TQL_F_STATIC ||
        l->u.attr.parent) {
        return n;
    }
    const struct tr_traceql_attr *at = &l->u.attr;
    const struct tr_traceql_static *st = &r->u.st;
    struct tr_trace_eq e;
    memset(&e, 0, sizeof(e));
    if (at->intrinsic == TR_TQL_INTR_NONE) {
        if (at->scope == TR_TQL_SCOPE_RESOURCE) {
            e.fields[0] = TR_TRACE_FIELD_RESOURCE;
        } else if (at->scope == TR_TQL_SCOPE_SPAN) {
            e.fields[0] = TR_TRACE_FIELD_SPAN;
        } else if (at->scope == TR_TQL_SCOPE_NONE) {
            e.fields[0] = TR_TRACE_FIELD_SPAN;
            e.fields[1] = TR_TRACE_FIELD_RESOURCE;
        } else {
            return n;
        }
        e.key = (struct tr_slice){at->name, at->name_len};
        if (st->type == TR_TQL_TYPE_STRING) {
            e.value.type = TR_OTLP_STRING;
            e.value.s = (struct tr_slice){st->v.str.s, st->v.str.len};
        } else if (st->type == TR_TQL_TYPE_INT) {
            e.value.type = TR_OTLP_INT;
            e.value.i = st->v.i;
        } else if (st->type == TR_TQL_TYPE_BOOL) {
            e.value.type = TR_OTLP_BOOL;
            e.value.b = st->v.b;
        } else {
            return n;
        }
    } else if (at->intrinsic == TR_TQL_INTR_NAME &&
               st->type == TR_TQL_TYPE_STRING) {
        e.fields[0] = TR_TRACE_FIELD_NAME;
        e.value.type = TR_OTLP_STRING;
        e.value.s = (struct tr_slice){st->v.str.s, st->v.str.len};
    } else if (at->intrinsic == TR_TQL_INTR_STATUS &&
               st->type == TR_TQL_TYPE_STATUS) {
        e.fields[0] = TR_TRACE_FIELD_STATUS;
        e.value.type = TR_OTLP_INT;
        e.value.i = st->v.status == TR_TQL_STATUS_ERROR ? 2
                    : st->v.status == TR_TQL_STATUS_OK  ? 1
                                                        : 0;
    } else if (at->intrinsic == TR_TQL_INTR_KIND &&
               st->type == TR_TQL_TYPE_KIND) {
        e.fields[0] = TR_TRACE_FIELD_KIND;
        e.value.type = TR_OTLP_INT;
        e.value.i = st->v.kind;
    } else {
        return n;
    }
    out[n++] = e;
    return n;
}

/* A spanset whose every match must hold f's equalities: its first
 * filter (the first pipeline stage, or either side of &&). */
static size_t ev__spanset_eqs(const struct tr_traceql_spanset *s,
                              struct tr_trace_eq *out,
                              size_t n,
                              size_t max)
{
    if (s == NULL) {
        return n;
    }
    switch (s->kind) {
        case TR_TQL_SS_FILTER:
            return ev__conj_eqs(s->u.filter, out, n, max);
        case TR_TQL_SS_OP:
            if (s->u.op.op == TR_TQL_OP_SS_AND) {
                n = ev__spanset_eqs(s->u.op.lhs, out, n, max);
                return ev__spanset_eqs(s->u.op.rhs, out, n, max);
            }
            if (s->u.op.op >= TR_TQL_OP_SS_CHILD &&
                s->u.op.op <= TR_TQL_OP_SS_SIBLING) {
                /* both sides must have matched */
                n = ev__spanset_eqs(s->u.op.lhs, out, n, max);
                return ev__spanset_eqs(s->u.op.rhs, out, n, max);
            }
            return n;
        case TR_TQL_SS_PIPELINE: {
            const struct tr_traceql_pipeline *p = s->u.pipeline;
            for (size_t i = 0; i < p->n; i++) {
                if (p->stages[i].kind == TR_TQL_STAGE_SPANSET) {
                    n = ev__spanset_eqs(p->stages[i].u.spanset, out, n, max);
                }
            }
            return n;
        }
    }
    return n;
}

size_t tr_traceql_eval_prune(const struct tr_traceql_eval *ev,
                             struct tr_trace_eq *out,
                             size_t max)
{
    if (ev->q->kind != TR_TQL_Q_SPANSET) {
        return 0;
    }
    return ev__spanset_eqs(ev->q->spanset, out, 0, max);
}

/* ---- values -------------------------------------------------------------- */

static struct ev_val ev__otlp(const struct tr_otlp_value *v)
{
    struct ev_val r = {.t = V_NIL};
    switch (v->type) {
        case TR_OTLP_STRING:
            r.t = V_STRING;
            r.s = v->s.base;
            r.n = v->s.len;
            break;
        case TR_OTLP_INT:
            r.t = V_INT;
            r.i = v->i;
            break;
        case TR_OTLP_DOUBLE:
            r.t = V_FLOAT;
            r.f = v->d;
            break;
        case TR_OTLP_BOOL:
            r.t = V_BOOL;
            r.b = v->b;
            break;
        case TR_OTLP_ARRAY:
            r.t = V_ARRAY;
            r.arr = v;
            break;
        default:
            break;
    }
    return r;
}

static const struct tr_otlp_value *ev__kv(const struct tr_otlp_kv *kvs,
                                          size_t n,
                                          const char *name,
                                          size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (kvs[i].key.len == len && memcmp(kvs[i].key.base, name, len) == 0) {
            return &kvs[i].value;
        }
    }
    return NULL;
}

static const struct tr_otlp_span *ev__span(const struct ev_trace *t, size_t i)
{
    return &t->b->spans[i].span;
}

static const struct tr_batch_scope *ev__scope(const struct ev_trace *t,
                                              size_t i)
{
    return &t->b->scopes[t->b->spans[i].scope];
}

static const struct tr_otlp_resource *ev__resource(const struct ev_trace *t,
                                                   size_t i)
{
    return &t->b->resources[ev__scope(t, i)->resource];
}

static struct ev_val ev__str(const char *s, size_t n)
{
    return (struct ev_val){.t = V_STRING, .s = s, .n = n};
}

static struct ev_val ev__hex(const struct ev_trace *t, struct tr_slice id)
{
    static const char hx[] = "0123456789abcdef";
    if (id.len == 0) {
        return (struct ev_val){.t = V_NIL};
    }
    char *s = tr_arena_alloc(t->a, id.len * 2 + 1);
    if (s == NULL) {
        return (struct ev_val){.t = V_NIL};
    }
    for (size_t i = 0; i < id.len; i++) {
        s[2 * i] = hx[(uint8_t)id.base[i] >> 4];
        s[2 * i + 1] = hx[(uint8_t)id.base[i] & 15];
    }
    s[id.len * 2] = '\0';
    return ev__str(s, id.len * 2);
}

/* Nested set numbers (left, right, parent's left) by a depth-first walk
 * from the roots, children in span order. */
static void ev__nested(struct ev_trace *t)
{
    if (t->nested != NULL) {
        return;
    }
    int64_t *ns = tr_arena_alloc(t->a, (t->n * 3 + 1) * sizeof(*ns));
    size_t *stack = tr_arena_alloc(t->a, (t->n + 1) * 2 * sizeof(*stack));
    if (ns == NULL || stack == NULL) {
        return;
    }
    for (size_t i = 0; i < t->n * 3; i++) {
        ns[i] = 0;
    }
    int64_t counter = 1;
    for (size_t r = 0; r < t->n; r++) {
        if (t->parent[r] != t->n) {
            continue;
        }
        /* iterative DFS: stack of (span, next child position) */
        size_t sp = 0;
        stack[sp++] = r;
        stack[sp++] = 0;
        ns[3 * r] = counter++;
        ns[3 * r + 2] = -1;
        while (sp > 0) {
            size_t cur = stack[sp - 2], pos = stack[sp - 1];
            size_t c = pos;
            while (c < t->n && t->parent[c] != cur) {
                c++;
            }
            if (c < t->n && sp + 2 <= (t->n + 1) * 2) {
                stack[sp - 1] = c + 1;
                ns[3 * c] = counter++;
                ns[3 * c + 2] = ns[3 * cur];
                stack[sp++] = c;
                stack[sp++] = 0;
            } else {
                ns[3 * cur + 1] = counter++;
                sp -= 2;
            }
        }
    }
    t->nested = ns;
}

/* The value of attribute at for span i (the event / link being looked at
 * for those scopes). */
static struct ev_val ev__attr(struct ev_trace *t,
                              size_t i,
                              const struct tr_traceql_attr *at)
{
    struct ev_val nil = {.t = V_NIL};
    if (at->parent) {
        i = t->parent[i];
        if (i == t->n) {
            return nil;
        }
    }
    const struct tr_otlp_span *s = ev__span(t, i);
    const struct tr_otlp_event *e =
        t->event < s->n_events ? &s->events[t->event] : NULL;
    const struct tr_otlp_link *l =
        t->link < s->n_links ? &s->links[t->link] : NULL;
    switch (at->intrinsic) {
        case TR_TQL_INTR_NONE:
            break;
        case TR_TQL_INTR_DURATION:
            return (struct ev_val){.t = V_DURATION,
                                   .i = (int64_t)(s->end_time_unix_nano -
                                                  s->start_time_unix_nano)};
        case TR_TQL_INTR_NAME:
            return ev__str(s->name.base, s->name.len);
        case TR_TQL_INTR_STATUS:
            return (struct ev_val){.t = V_STATUS,
                                   .i = s->status_code == TR_OTLP_STATUS_ERROR
                                            ? TR_TQL_STATUS_ERROR
                                        : s->status_code == TR_OTLP_STATUS_OK
                                            ? TR_TQL_STATUS_OK
                                            : TR_TQL_STATUS_UNSET};
        case TR_TQL_INTR_STATUS_MESSAGE:
            return ev__str(s->status_message.base, s->status_message.len);
        case TR_TQL_INTR_KIND:
            return (struct ev_val){
                .t = V_KIND, .i = s->kind >= 0 && s->kind <= 5 ? s->kind : 0};
        case TR_TQL_INTR_CHILD_COUNT: {
            int64_t c = 0;
            for (size_t k = 0; k < t->n; k++) {
                c += t->parent[k] == i;
            }
            return (struct ev_val){.t = V_INT, .i = c};
        }
        case TR_TQL_INTR_TRACE_ROOT_SERVICE: {
            if (t->root == t->n) {
                return nil;
            }
            const struct tr_otlp_resource *r = ev__resource(t, t->root);
            const struct tr_otlp_value *v =
                ev__kv(r->attrs, r->n_attrs, "service.name", 12);
            return v != NULL ? ev__otlp(v) : nil;
        }
        case TR_TQL_INTR_TRACE_ROOT_SPAN:
            return t->root == t->n ? nil
                                   : ev__str(ev__span(t, t->root)->name.base,
                                             ev__span(t, t->root)->name.len);
        case TR_TQL_INTR_TRACE_DURATION:
            return (struct ev_val){.t = V_DURATION,
                                   .i = (int64_t)(t->t_end - t->t_start)};
        case TR_TQL_INTR_NESTED_SET_LEFT:
        case TR_TQL_INTR_NESTED_SET_RIGHT:
        case TR_TQL_INTR_NESTED_SET_PARENT:
            ev__nested(t);
            if (t->nested == NULL) {
                return nil;
            }
            return (struct ev_val){
                .t = V_INT,
                .i = t->nested[3 * i +
                               (at->intrinsic == TR_TQL_INTR_NESTED_SET_LEFT ? 0
                                : at->intrinsic == TR_TQL_INTR_NESTED_SET_RIGHT
                                    ? 1
                                    : 2)]};
        case TR_TQL_INTR_EVENT_NAME:
            return e != NULL ? ev__str(e->name.base, e->name.len) : nil;
        case TR_TQL_INTR_EVENT_TIME_SINCE_START:
            return e != NULL
                       ? (struct ev_val){.t = V_DURATION,
                                         .i =
                                             (int64_t)(e->time_unix_nano -
                                                       s->start_time_unix_nano)}
                       : nil;
        case TR_TQL_INTR_LINK_SPAN_ID:
            return l != NULL ? ev__hex(t, l->span_id) : nil;
        case TR_TQL_INTR_LINK_TRACE_ID:
            return l != NULL ? ev__hex(t, l->trace_id) : nil;
        case TR_TQL_INTR_INSTRUMENTATION_NAME:
            return ev__str(ev__scope(t, i)->scope.name.base,
                           ev__scope(t, i)->scope.name.len);
        case TR_TQL_INTR_INSTRUMENTATION_VERSION:
            return ev__str(ev__scope(t, i)->scope.version.base,
                           ev__scope(t, i)->scope.version.len);
        case TR_TQL_INTR_TRACE_ID:
            return ev__hex(t, s->trace_id);
        case TR_TQL_INTR_SPAN_ID:
            return ev__hex(t, s->span_id);
        case TR_TQL_INTR_PARENT_ID:
            return ev__hex(t, s->parent_span_id);
        default:
            return nil;
    }
    const struct tr_otlp_value *v = NULL;
    switch (at->scope) {
        case TR_TQL_SCOPE_SPAN:
            v = ev__kv(s->attrs, s->n_attrs, at->name, at->name_len);
            break;
        case TR_TQL_SCOPE_RESOURCE: {
            const struct tr_otlp_resource *r = ev__resource(t, i);
            v = ev__kv(r->attrs, r->n_attrs, at->name, at->name_len);
            break;
        }
        case TR_TQL_SCOPE_EVENT:
            v = e ? ev__kv(e->attrs, e->n_attrs, at->name, at->name_len) : NULL;
            break;
        case TR_TQL_SCOPE_LINK:
            v = l ? ev__kv(l->attrs, l->n_attrs, at->name, at->name_len) : NULL;
            break;
        case TR_TQL_SCOPE_INSTRUMENTATION: {
            const struct tr_otlp_scope *sc = &ev__scope(t, i)->scope;
            v = ev__kv(sc->attrs, sc->n_attrs, at->name, at->name_len);
            break;
        }
        case TR_TQL_SCOPE_NONE: {
            v = ev__kv(s->attrs, s->n_attrs, at->name, at->name_len);
            if (v == NULL) {
                const struct tr_otlp_resource *r = ev__resource(t, i);
                v = ev__kv(r->attrs, r->n_attrs, at->name, at->name_len);
            }
            break;
        }
    }
    return v != NULL ? ev__otlp(v) : nil;
}

static bool ev__num(const struct ev_val *v)
{
    return v->t == V_INT || v->t == V_FLOAT || v->t == V_DURATION;
}

static double ev__f(const struct ev_val *v)
{
    return v->t == V_FLOAT ? v->f : (double)v->i;
}

static const struct tr_regex *ev__regex_of(const struct ev_trace *t,
                                           const struct tr_traceql_field *f)
{
    for (size_t i = 0; i < t->ev->n_regex; i++) {
        if (t->ev->regex[i].node == f) {
            return t->ev->regex[i].re;
        }
    }
    return NULL;
}

/* a op b for scalars (no arrays). */
static bool ev__cmp1(const struct ev_trace *t,
                     const struct tr_traceql_field *node,
                     enum tr_traceql_op op,
                     const struct ev_val *a,
                     const struct ev_val *b)
{
    if (a->t == V_NIL || b->t == V_NIL) {
        return false;
    }
    int c;
    if (ev__num(a) && ev__num(b)) {
        if (a->t != V_FLOAT && b->t != V_FLOAT) {
            c = a->i < b->i ? -1 : a->i > b->i;
        } else {
            double x = ev__f(a), y = ev__f(b);
            if (isnan(x) || isnan(y)) {
                return op == TR_TQL_OP_NEQ;
            }
            c = x < y ? -1 : x > y;
        }
    } else if (a->t == V_STRING && b->t == V_STRING) {
        if (op == TR_TQL_OP_RE || op == TR_TQL_OP_NRE) {
            const struct tr_regex *re = ev__regex_of(t, node);
            bool m = re != NULL && tr_regex_match(re, a->s, a->n);
            return op == TR_TQL_OP_RE ? m : !m;
        }
        size_t n = a->n < b->n ? a->n : b->n;
        c = memcmp(a->s, b->s, n);
        if (c == 0) {
            c = a->n < b->n ? -1 : a->n > b->n;
        }
        c = c < 0 ? -1 : c > 0;
    } else if (a->t == b->t &&
               (a->t == V_BOOL || a->t == V_STATUS || a->t == V_KIND)) {
        int64_t x = a->t == V_BOOL ? a->b : a->i;
        int64_t y = b->t == V_BOOL ? b->b : b->i;
        if (op != TR_TQL_OP_EQ && op != TR_TQL_OP_NEQ) {
            return false;
        }
        c = x != y;
    } else {
        return false;
    }
    switch (op) {
        case TR_TQL_OP_EQ:
            return c == 0;
        case TR_TQL_OP_NEQ:
            return c != 0;
        case TR_TQL_OP_LT:
            return c < 0;
        case TR_TQL_OP_LTE:
            return c <= 0;
        case TR_TQL_OP_GT:
            return c > 0;
        case TR_TQL_OP_GTE:
            return c >= 0;
        default:
            return false;
    }
}

static bool ev__cmp(const struct ev_trace *t,
                    const struct tr_traceql_field *node,
                    enum tr_traceql_op op,
                    const struct ev_val *a,
                    const struct ev_val *b)
{
    if (a->t != V_ARRAY && b->t != V_ARRAY) {
        return ev__cmp1(t, node, op, a, b);
    }
    const struct ev_val *arr = a->t == V_ARRAY ? a : b;
    bool neg = op == TR_TQL_OP_NEQ || op == TR_TQL_OP_NRE;
    enum tr_traceql_op pos = op == TR_TQL_OP_NEQ   ? TR_TQL_OP_EQ
                             : op == TR_TQL_OP_NRE ? TR_TQL_OP_RE
                                                   : op;
    bool any = false;
    for (size_t k = 0; k < arr->arr->n && !any; k++) {
        struct ev_val e = ev__otlp(&arr->arr->items[k]);
        if (e.t == V_ARRAY) {
            continue;
        }
        any = arr == a ? ev__cmp1(t, node, pos, &e, b)
                       : ev__cmp1(t, node, pos, a, &e);
    }
    return neg ? !any : any;
}

static struct ev_val ev__field(struct ev_trace *t,
                               size_t i,
                               const struct tr_traceql_field *f);

static struct ev_val ev__arith(enum tr_traceql_op op,
                               const struct ev_val *a,
                               const struct ev_val *b)
{
    struct ev_val nil = {.t = V_NIL};
    if (!ev__num(a) || !ev__num(b)) {
        return nil;
    }
    if (a->t != V_FLOAT && b->t != V_FLOAT && op != TR_TQL_OP_POW) {
        struct ev_val r = {
            .t = a->t == V_DURATION || b->t == V_DURATION ? V_DURATION : V_INT};
        switch (op) {
            case TR_TQL_OP_ADD:
                r.i = (int64_t)((uint64_t)a->i + (uint64_t)b->i);
                return r;
            case TR_TQL_OP_SUB:
                r.i = (int64_t)((uint64_t)a->i - (uint64_t)b->i);
                return r;
            case TR_TQL_OP_MUL:
                r.i = (int64_t)((uint64_t)a->i * (uint64_t)b->i);
                return r;
            case TR_TQL_OP_DIV:
            case TR_TQL_OP_MOD:
                if (b->i == 0 || (a->i == INT64_MIN && b->i == -1)) {
                    return nil;
                }
                r.i = op == TR_TQL_OP_DIV ? a->i / b->i : a->i % b->i;
                return r;
            default:
                return nil;
        }
    }
    double x = ev__f(a), y = ev__f(b);
    struct ev_val r = {.t = V_FLOAT};
    switch (op) {
        case TR_TQL_OP_ADD:
            r.f = x + y;
            break;
        case TR_TQL_OP_SUB:
            r.f = x - y;
            break;
        case TR_TQL_OP_MUL:
            r.f = x * y;
            break;
        case TR_TQL_OP_DIV:
            r.f = x / y;
            break;
        case TR_TQL_OP_MOD:
            r.f = fmod(x, y);
            break;
        case TR_TQL_OP_POW:
            r.f = pow(x, y);
            break;
        default:
            return nil;
    }
    return r;
}

static struct ev_val ev__field(struct ev_trace *t,
                               size_t i,
                               const struct tr_traceql_field *f)
{
    struct ev_val nil = {.t = V_NIL};
    switch (f->kind) {
        case TR_TQL_F_STATIC: {
            const struct tr_traceql_static *st = &f->u.st;
            struct ev_val v = {.t = (int)st->type};
            switch (st->type) {
                case TR_TQL_TYPE_INT:
                case TR_TQL_TYPE_DURATION:
                    v.i = st->v.i;
                    break;
                case TR_TQL_TYPE_FLOAT:
                    v.f = st->v.f;
                    break;
                case TR_TQL_TYPE_BOOL:
                    v.b = st->v.b;
                    break;
                case TR_TQL_TYPE_STATUS:
                    v.i = st->v.status;
                    break;
                case TR_TQL_TYPE_KIND:
                    v.i = st->v.kind;
                    break;
                case TR_TQL_TYPE_STRING:
                    v.s = st->v.str.s;
                    v.n = st->v.str.len;
                    break;
                default:
                    v.t = V_NIL;
            }
            return v;
        }
        case TR_TQL_F_ATTR:
            return ev__attr(t, i, &f->u.attr);
        case TR_TQL_F_UNARY: {
            struct ev_val e = ev__field(t, i, f->u.un.e);
            switch (f->u.un.op) {
                case TR_TQL_OP_NOT:
                    return e.t == V_BOOL
                               ? (struct ev_val){.t = V_BOOL, .b = !e.b}
                               : nil;
                case TR_TQL_OP_SUB:
                    if (e.t == V_FLOAT) {
                        e.f = -e.f;
                    } else if (ev__num(&e)) {
                        e.i = (int64_t)(0 - (uint64_t)e.i);
                    } else {
                        return nil;
                    }
                    return e;
                case TR_TQL_OP_EXISTS:
                    return (struct ev_val){.t = V_BOOL, .b = e.t != V_NIL};
                case TR_TQL_OP_NOT_EXISTS:
                    return (struct ev_val){.t = V_BOOL, .b = e.t == V_NIL};
                default:
                    return nil;
            }
        }
        case TR_TQL_F_BINARY: {
            enum tr_traceql_op op = f->u.bin.op;
            if (op == TR_TQL_OP_AND || op == TR_TQL_OP_OR) {
                struct ev_val l = ev__field(t, i, f->u.bin.lhs);
                bool lb = l.t == V_BOOL && l.b;
                if (op == TR_TQL_OP_AND && !lb) {
                    return (struct ev_val){.t = V_BOOL, .b = false};
                }
                if (op == TR_TQL_OP_OR && lb) {
                    return (struct ev_val){.t = V_BOOL, .b = true};
                }
                struct ev_val r = ev__field(t, i, f->u.bin.rhs);
                return (struct ev_val){.t = V_BOOL, .b = r.t == V_BOOL && r.b};
            }
            struct ev_val l = ev__field(t, i, f->u.bin.lhs);
            struct ev_val r = ev__field(t, i, f->u.bin.rhs);
            switch (op) {
                case TR_TQL_OP_EQ:
                case TR_TQL_OP_NEQ:
                case TR_TQL_OP_RE:
                case TR_TQL_OP_NRE:
                case TR_TQL_OP_GT:
                case TR_TQL_OP_GTE:
                case TR_TQL_OP_LT:
                case TR_TQL_OP_LTE:
                    return (struct ev_val){.t = V_BOOL,
                                           .b = ev__cmp(t, f, op, &l, &r)};
                default:
                    return ev__arith(op, &l, &r);
            }
        }
    }
    return nil;
}

/* Which scopes an expression reads (events, links). */
static void ev__scopes(const struct tr_traceql_field *f, bool *ev, bool *lk)
{
    if (f == NULL) {
        return;
    }
    if (f->kind == TR_TQL_F_ATTR) {
        const struct tr_traceql_attr *a = &f->u.attr;
        *ev = *ev || a->scope == TR_TQL_SCOPE_EVENT ||
              a->intrinsic == TR_TQL_INTR_EVENT_NAME ||
              a->intrinsic == TR_TQL_INTR_EVENT_TIME_SINCE_START;
        *lk = *lk || a->scope == TR_TQL_SCOPE_LINK ||
              a->intrinsic == TR_TQL_INTR_LINK_SPAN_ID ||
              a->intrinsic == TR_TQL_INTR_LINK_TRACE_ID;
    } else if (f->kind == TR_TQL_F_BINARY) {
        ev__scopes(f->u.bin.lhs, ev, lk);
        ev__scopes(f->u.bin.rhs, ev, lk);
    } else if (f->kind == TR_TQL_F_UNARY) {
        ev__scopes(f->u.un.e, ev, lk);
    }
}

/* Whether filter f holds for span i (for one of its events / links when
 * f reads them). */
static bool ev__holds(struct ev_trace *t,
                      size_t i,
                      const struct tr_traceql_field *f)
{
    bool uses_ev = false, uses_lk = false;
    ev__scopes(f, &uses_ev, &uses_lk);
    const struct tr_otlp_span *s = ev__span(t, i);
    size_t ne = uses_ev && s->n_events > 0 ? s->n_events : 1;
    size_t nl = uses_lk && s->n_links > 0 ? s->n_links : 1;
    for (size_t e = 0; e < ne; e++) {
        for (size_t l = 0; l < nl; l++) {
            t->event = uses_ev ? e : SIZE_MAX;
            t->link = uses_lk ? l : SIZE_MAX;
            struct ev_val v = ev__field(t, i, f);
            t->event = t->link = SIZE_MAX;
            if (v.t == V_BOOL && v.b) {
                return true;
            }
        }
    }
    return false;
}

/* ---- spansets ------------------------------------------------------------ */

static int ev__set_new(struct ev_trace *t, size_t cap, struct ev_set *s)
{
    s->n = 0;
    s->v = tr_arena_alloc(t->a, (cap ? cap : 1) * sizeof(*s->v));
    return s->v != NULL ? 0 : TR_ENOMEM;
}

static bool ev__in(const struct ev_set *s, size_t x)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (s->v[m] == x) {
            return true;
        }
        if (s->v[m] < x) {
            lo = m + 1;
        } else {
            hi = m;
        }
    }
    return false;
}

static bool ev__ancestor_in(const struct ev_trace *t,
                            size_t i,
                            const struct ev_set *a)
{
    size_t p = t->parent[i];
    for (size_t hops = 0; p != t->n && hops < t->n; hops++) {
        if (ev__in(a, p)) {
            return true;
        }
        p = t->parent[p];
    }
    return false;
}

/* Whether span r relates to some span of l under op's base relation
 * (child, parent, descendant, ancestor, sibling) from B's side; and
 * whether span x of l has some partner in r (for union forms). */
static bool ev__rel(const struct ev_trace *t,
                    int rel,
                    size_t r,
                    const struct ev_set *l)
{
    switch (rel) {
        case TR_TQL_OP_SS_CHILD: /* r's parent in l */
            return t->parent[r] != t->n && ev__in(l, t->parent[r]);
        case TR_TQL_OP_SS_PARENT: /* r is the parent of a span of l */
            for (size_t k = 0; k < l->n; k++) {
                if (t->parent[l->v[k]] == r) {
                    return true;
                }
            }
            return false;
        case TR_TQL_OP_SS_DESCENDANT:
            return ev__ancestor_in(t, r, l);
        case TR_TQL_OP_SS_ANCESTOR:
            for (size_t k = 0; k < l->n; k++) {
                size_t p = t->parent[l->v[k]];
                for (size_t hops = 0; p != t->n && hops < t->n; hops++) {
                    if (p == r) {
                        return true;
                    }
                    p = t->parent[p];
                }
            }
            return false;
        case TR_TQL_OP_SS_SIBLING:
            for (size_t k = 0; k < l->n; k++) {
                size_t x = l->v[k];
                if (x != r && t->parent[x] != t->n &&
                    t->parent[x] == t->parent[r]) {
                    return true;
                }
            }
            return false;
        default:
            return false;
    }
}

/* The relation op names from the left side's point of view: x in l has a
 * partner in r. */
static int ev__mirror(int rel)
{
    switch (rel) {
        case TR_TQL_OP_SS_CHILD:
            return TR_TQL_OP_SS_PARENT;
        case TR_TQL_OP_SS_PARENT:
            return TR_TQL_OP_SS_CHILD;
        case TR_TQL_OP_SS_DESCENDANT:
            return TR_TQL_OP_SS_ANCESTOR;
        case TR_TQL_OP_SS_ANCESTOR:
            return TR_TQL_OP_SS_DESCENDANT;
        default:
            return rel;
    }
}

static int ev__spanset(struct ev_trace *t,
                       const struct tr_traceql_spanset *s,
                       const struct ev_set *universe,
                       struct ev_set *out);

static int ev__union(struct ev_trace *t,
                     const struct ev_set *a,
                     const struct ev_set *b,
                     struct ev_set *out)
{
    int rv = ev__set_new(t, a->n + b->n, out);
    size_t i = 0, j = 0;
    while (rv == 0 && (i < a->n || j < b->n)) {
        size_t x;
        if (j >= b->n || (i < a->n && a->v[i] < b->v[j])) {
            x = a->v[i++];
        } else if (i >= a->n || b->v[j] < a->v[i]) {
            x = b->v[j++];
        } else {
            x = a->v[i++];
            j++;
        }
        out->v[out->n++] = x;
    }
    return rv;
}

static int ev__pipeline(struct ev_trace *t,
                        const struct tr_traceql_pipeline *p,
                        const struct ev_set *universe,
                        struct tr_traceql_match *out);

/* A pipeline's spansets joined into one set. */
static int ev__pipeline_set(struct ev_trace *t,
                            const struct tr_traceql_pipeline *p,
                            const struct ev_set *universe,
                            struct ev_set *out)
{
    struct tr_traceql_match m;
    int rv = ev__pipeline(t, p, universe, &m);
    if (rv == 0) {
        rv = ev__set_new(t, 0, out);
    }
    for (size_t k = 0; k < m.n && rv == 0; k++) {
        struct ev_set part = {m.sets[k].spans, m.sets[k].n}, u;
        rv = ev__union(t, out, &part, &u);
        *out = u;
    }
    return rv;
}

static int ev__spanset(struct ev_trace *t,
                       const struct tr_traceql_spanset *s,
                       const struct ev_set *universe,
                       struct ev_set *out)
{
    int rv;
    switch (s->kind) {
        case TR_TQL_SS_FILTER:
            rv = ev__set_new(t, universe->n, out);
            for (size_t k = 0; k < universe->n && rv == 0; k++) {
                size_t i = universe->v[k];
                if (s->u.filter == NULL || ev__holds(t, i, s->u.filter)) {
                    out->v[out->n++] = i;
                }
            }
            return rv;
        case TR_TQL_SS_PIPELINE:
            return ev__pipeline_set(t, s->u.pipeline, universe, out);
        case TR_TQL_SS_OP:
            break;
    }
    struct ev_set l, r;
    rv = ev__spanset(t, s->u.op.lhs, universe, &l);
    if (rv == 0) {
        rv = ev__spanset(t, s->u.op.rhs, universe, &r);
    }
    if (rv != 0) {
        return rv;
    }
    int op = s->u.op.op;
    if (op == TR_TQL_OP_SS_AND) {
        if (l.n == 0 || r.n == 0) {
            return ev__set_new(t, 0, out);
        }
        return ev__union(t, &l, &r, out);
    }
    if (op == TR_TQL_OP_SS_UNION) {
        return ev__union(t, &l, &r, out);
    }
    int rel;
    bool neg = false, uni = false;
    if (op >= TR_TQL_OP_SS_CHILD && op <= TR_TQL_OP_SS_SIBLING) {
        rel = op;
    } else if (op >= TR_TQL_OP_SS_NOT_CHILD && op <= TR_TQL_OP_SS_NOT_SIBLING) {
        rel = op - TR_TQL_OP_SS_NOT_CHILD + TR_TQL_OP_SS_CHILD;
        neg = true;
    } else {
        rel = op - TR_TQL_OP_SS_UNION_CHILD + TR_TQL_OP_SS_CHILD;
        uni = true;
    }
    struct ev_set rs;
    rv = ev__set_new(t, r.n, &rs);
    for (size_t k = 0; k < r.n && rv == 0; k++) {
        bool has = ev__rel(t, rel, r.v[k], &l);
        if (has != neg) {
            rs.v[rs.n++] = r.v[k];
        }
    }
    if (rv != 0 || !uni) {
        *out = rs;
        return rv;
    }
    struct ev_set ls;
    rv = ev__set_new(t, l.n, &ls);
    int mirror = ev__mirror(rel);
    for (size_t k = 0; k < l.n && rv == 0; k++) {
        if (ev__rel(t, mirror, l.v[k], &r)) {
            ls.v[ls.n++] = l.v[k];
        }
    }
    return rv == 0 ? ev__union(t, &ls, &rs, out) : rv;
}

/* ---- pipelines and aggregates ----------------------------------------------
 */

static struct ev_val ev__scalar(struct ev_trace *t,
                                const struct tr_traceql_scalar *s,
                                const size_t *spans,
                                size_t n)
{
    struct ev_val nil = {.t = V_NIL};
    switch (s->kind) {
        case TR_TQL_S_STATIC: {
            struct tr_traceql_field f = {.kind = TR_TQL_F_STATIC};
            f.u.st = s->u.st;
            return ev__field(t, 0, &f);
        }
        case TR_TQL_S_BINARY: {
            struct ev_val l = ev__scalar(t, s->u.bin.lhs, spans, n);
            struct ev_val r = ev__scalar(t, s->u.bin.rhs, spans, n);
            return ev__arith(s->u.bin.op, &l, &r);
        }
        case TR_TQL_S_PIPELINE: {
            struct ev_set all = {(size_t *)spans, n}, joined;
            const struct tr_traceql_pipeline *p = s->u.pipeline;
            if (p->n == 0 ||
                p->stages[p->n - 1].kind != TR_TQL_STAGE_AGGREGATE) {
                return nil;
            }
            struct tr_traceql_pipeline head = {p->stages, p->n - 1};
            if (ev__pipeline_set(t, &head, &all, &joined) != 0) {
                return nil;
            }
            return ev__scalar(t, p->stages[p->n - 1].u.aggregate, joined.v,
                              joined.n);
        }
        case TR_TQL_S_AGGREGATE:
            break;
    }
    if (s->u.aggr.op == TR_TQL_AGGR_COUNT) {
        return (struct ev_val){.t = V_INT, .i = (int64_t)n};
    }
    bool any = false, all_int = true, dur = false;
    double acc = 0;
    for (size_t k = 0; k < n; k++) {
        struct ev_val v = ev__field(t, spans[k], s->u.aggr.e);
        if (!ev__num(&v)) {
            continue;
        }
        double x = ev__f(&v);
        all_int = all_int && v.t != V_FLOAT;
        dur = dur || v.t == V_DURATION;
        switch (s->u.aggr.op) {
            case TR_TQL_AGGR_MIN:
                acc = !any || x < acc ? x : acc;
                break;
            case TR_TQL_AGGR_MAX:
                acc = !any || x > acc ? x : acc;
                break;
            default:
                acc += x;
        }
        any = true;
    }
    if (!any) {
        return nil;
    }
    if (s->u.aggr.op == TR_TQL_AGGR_AVG) {
        acc /= (double)n;
        all_int = false;
    }
    if (dur) {
        return (struct ev_val){.t = V_DURATION, .i = (int64_t)acc};
    }
    return all_int ? (struct ev_val){.t = V_INT, .i = (int64_t)acc}
                   : (struct ev_val){.t = V_FLOAT, .f = acc};
}

static bool ev__sfilter(struct ev_trace *t,
                        const struct tr_traceql_scalar_filter *sf,
                        const size_t *spans,
                        size_t n)
{
    struct ev_val l = ev__scalar(t, sf->lhs, spans, n);
    struct ev_val r = ev__scalar(t, sf->rhs, spans, n);
    return ev__cmp1(t, NULL, sf->op, &l, &r);
}

/* The OTLP form of a by() value (strings point into the trace or arena). */
static struct tr_otlp_value ev__to_otlp(const struct ev_val *v)
{
    static const char *const status[] = {"error", "ok", "unset"};
    static const char *const kind[] = {"unspecified", "internal", "server",
                                       "client",      "producer", "consumer"};
    struct tr_otlp_value o = {.type = TR_OTLP_EMPTY};
    switch (v->t) {
        case V_STRING:
            o.type = TR_OTLP_STRING;
            o.s = (struct tr_slice){v->s, v->n};
            break;
        case V_INT:
        case V_DURATION:
            o.type = TR_OTLP_INT;
            o.i = v->i;
            break;
        case V_FLOAT:
            o.type = TR_OTLP_DOUBLE;
            o.d = v->f;
            break;
        case V_BOOL:
            o.type = TR_OTLP_BOOL;
            o.b = v->b;
            break;
        case V_STATUS:
            o.type = TR_OTLP_STRING;
            o.s = tr_slice_cstr(status[v->i >= 0 && v->i <= 2 ? v->i : 2]);
            break;
        case V_KIND:
            o.type = TR_OTLP_STRING;
            o.s = tr_slice_cstr(kind[v->i >= 0 && v->i <= 5 ? v->i : 0]);
            break;
        case V_ARRAY:
            o = *v->arr;
            break;
        default:
            break;
    }
    return o;
}

static bool ev__same(const struct ev_val *a, const struct ev_val *b)
{
    if (a->t != b->t) {
        return false;
    }
    switch (a->t) {
        case V_NIL:
            return true;
        case V_STRING:
            return a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
        case V_FLOAT:
            return a->f == b->f;
        case V_BOOL:
            return a->b == b->b;
        case V_ARRAY:
            return a->arr == b->arr;
        default:
            return a->i == b->i;
    }
}

/* by(f): splits each spanset of m by f's value. */
static int ev__group(struct ev_trace *t,
                     const struct tr_traceql_field *f,
                     struct tr_traceql_match *m)
{
    size_t total = 0;
    for (size_t k = 0; k < m->n; k++) {
        total += m->sets[k].n;
    }
    struct tr_traceql_spanset_out *out =
        tr_arena_alloc(t->a, (total ? total : 1) * sizeof(*out));
    struct ev_val *keys =
        tr_arena_alloc(t->a, (total ? total : 1) * sizeof(*keys));
    if (out == NULL || keys == NULL) {
        return TR_ENOMEM;
    }
    size_t no = 0;
    char *label = NULL;
    struct tr_buf lb;
    tr_buf_init(&lb);
    tr_buf_puts(&lb, "by(");
    if (f->kind == TR_TQL_F_ATTR) {
        const struct tr_traceql_attr *at = &f->u.attr;
        static const char *const sc[] = {
            "", "resource.", "span.", "event.", "link.", "instrumentation."};
        if (at->intrinsic == TR_TQL_INTR_NONE) {
            tr_buf_puts(&lb,
                        at->scope == TR_TQL_SCOPE_NONE ? "." : sc[at->scope]);
        }
        tr_buf_append(&lb, at->name, at->name_len);
    }
    tr_buf_putc(&lb, ')');
    label = tr_arena_memdup(t->a, lb.data ? lb.data : "", lb.len);
    size_t label_len = lb.len;
    tr_buf_free(&lb);
    if (label == NULL) {
        return TR_ENOMEM;
    }
    for (size_t k = 0; k < m->n; k++) {
        size_t first = no;
        for (size_t j = 0; j < m->sets[k].n; j++) {
            size_t i = m->sets[k].spans[j];
            struct ev_val v = ev__field(t, i, f);
            size_t g = first;
            while (g < no && !ev__same(&keys[g], &v)) {
                g++;
            }
            if (g == no) {
                keys[no] = v;
                out[no].spans =
                    tr_arena_alloc(t->a, m->sets[k].n * sizeof(size_t));
                out[no].n = 0;
                out[no].by = tr_arena_alloc(
                    t->a, (m->sets[k].n_by + 1) * sizeof(*out[no].by));
                if (out[no].spans == NULL || out[no].by == NULL) {
                    return TR_ENOMEM;
                }
                if (m->sets[k].n_by > 0) {
                    memcpy(out[no].by, m->sets[k].by,
                           m->sets[k].n_by * sizeof(*out[no].by));
                }
                out[no].by[m->sets[k].n_by] = (struct tr_otlp_kv){
                    (struct tr_slice){label, label_len}, ev__to_otlp(&v)};
                out[no].n_by = m->sets[k].n_by + 1;
                no++;
            }
            out[g].spans[out[g].n++] = i;
        }
    }
    m->sets = out;
    m->n = no;
    return 0;
}

static int ev__pipeline(struct ev_trace *t,
                        const struct tr_traceql_pipeline *p,
                        const struct ev_set *universe,
                        struct tr_traceql_match *out)
{
    out->sets = tr_arena_alloc(t->a, sizeof(*out->sets));
    if (out->sets == NULL) {
        return TR_ENOMEM;
    }
    out->sets[0] =
        (struct tr_traceql_spanset_out){universe->v, universe->n, NULL, 0};
    out->n = 1;
    for (size_t s = 0; s < p->n && out->n > 0; s++) {
        const struct tr_traceql_stage *st = &p->stages[s];
        int rv = 0;
        size_t o = 0;
        switch (st->kind) {
            case TR_TQL_STAGE_SPANSET:
                for (size_t k = 0; k < out->n && rv == 0; k++) {
                    struct ev_set in = {out->sets[k].spans, out->sets[k].n}, r;
                    rv = ev__spanset(t, st->u.spanset, &in, &r);
                    if (rv == 0 && r.n > 0) {
                        out->sets[o] = out->sets[k];
                        out->sets[o].spans = r.v;
                        out->sets[o].n = r.n;
                        o++;
                    }
                }
                out->n = o;
                break;
            case TR_TQL_STAGE_SCALAR_FILTER:
                for (size_t k = 0; k < out->n; k++) {
                    if (ev__sfilter(t, &st->u.sfilter, out->sets[k].spans,
                                    out->sets[k].n)) {
                        out->sets[o++] = out->sets[k];
                    }
                }
                out->n = o;
                break;
            case TR_TQL_STAGE_GROUP:
                rv = ev__group(t, st->u.group, out);
                break;
            case TR_TQL_STAGE_COALESCE:
                if (out->n > 1) {
                    struct ev_set acc = {out->sets[0].spans, out->sets[0].n};
                    for (size_t k = 1; k < out->n && rv == 0; k++) {
                        struct ev_set part = {out->sets[k].spans,
                                              out->sets[k].n},
                                      u;
                        rv = ev__union(t, &acc, &part, &u);
                        acc = u;
                    }
                    out->sets[0] =
                        (struct tr_traceql_spanset_out){acc.v, acc.n, NULL, 0};
                    out->n = 1;
                }
                break;
            case TR_TQL_STAGE_SELECT:
            case TR_TQL_STAGE_AGGREGATE:
                break;
        }
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* ---- a trace ---------------------------------------------------------------
 */

struct ev_sid {
    const char *id;
    size_t i;
};

static int ev__sid_cmp(const void *pa, const void *pb)
{
    const struct ev_sid *a = pa, *b = pb;
    int c = memcmp(a->id, b->id, TR_SPAN_ID_SIZE);
    return c != 0 ? c : (a->i < b->i ? -1 : a->i > b->i);
}

static int ev__prepare(struct ev_trace *t)
{
    size_t n = t->n;
    t->parent = tr_arena_alloc(t->a, (n + 1) * sizeof(*t->parent));
    struct ev_sid *ids = tr_malloc((n + 1) * sizeof(*ids));
    if (t->parent == NULL || ids == NULL) {
        tr_free(ids);
        return TR_ENOMEM;
    }
    t->root = n;
    t->t_start = UINT64_MAX;
    t->t_end = 0;
    for (size_t i = 0; i < n; i++) {
        const struct tr_otlp_span *s = ev__span(t, i);
        ids[i] = (struct ev_sid){s->span_id.base, i};
        t->t_start = s->start_time_unix_nano < t->t_start
                         ? s->start_time_unix_nano
                         : t->t_start;
        t->t_end =
            s->end_time_unix_nano > t->t_end ? s->end_time_unix_nano : t->t_end;
    }
    qsort(ids, n, sizeof(*ids), ev__sid_cmp);
    for (size_t i = 0; i < n; i++) {
        const struct tr_otlp_span *s = ev__span(t, i);
        t->parent[i] = n;
        if (s->parent_span_id.len != TR_SPAN_ID_SIZE) {
            if (t->root == n) {
                t->root = i;
            }
            continue;
        }
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t m = lo + (hi - lo) / 2;
            int c = memcmp(ids[m].id, s->parent_span_id.base, TR_SPAN_ID_SIZE);
            if (c < 0) {
                lo = m + 1;
            } else {
                hi = m;
            }
        }
        if (lo < n &&
            memcmp(ids[lo].id, s->parent_span_id.base, TR_SPAN_ID_SIZE) == 0 &&
            ids[lo].i != i) {
            t->parent[i] = ids[lo].i;
        }
    }
    tr_free(ids);
    if (t->t_start == UINT64_MAX) {
        t->t_start = 0;
    }
    return 0;
}

int tr_traceql_eval_trace(struct tr_traceql_eval *ev,
                          const struct tr_span_batch *trace,
                          struct tr_arena *a,
                          struct tr_traceql_match *out)
{
    memset(out, 0, sizeof(*out));
    struct ev_trace t = {.ev = ev,
                         .b = trace,
                         .a = a,
                         .n = trace->n_spans,
                         .event = SIZE_MAX,
                         .link = SIZE_MAX};
    if (t.n == 0) {
        return 0;
    }
    int rv = ev__prepare(&t);
    struct ev_set all;
    if (rv == 0) {
        rv = ev__set_new(&t, t.n, &all);
    }
    if (rv != 0) {
        return rv;
    }
    for (size_t i = 0; i < t.n; i++) {
        all.v[all.n++] = i;
    }
    const struct tr_traceql_query *q = ev->q;
    if (q->kind == TR_TQL_Q_SCALAR_FILTER) {
        if (ev__sfilter(&t, &q->sfilter, all.v, all.n)) {
            out->sets = tr_arena_alloc(a, sizeof(*out->sets));
            if (out->sets == NULL) {
                return TR_ENOMEM;
            }
            out->sets[0] =
                (struct tr_traceql_spanset_out){all.v, all.n, NULL, 0};
            out->n = 1;
        }
        return 0;
    }
    if (q->spanset->kind == TR_TQL_SS_PIPELINE) {
        return ev__pipeline(&t, q->spanset->u.pipeline, &all, out);
    }
    struct ev_set r;
    rv = ev__spanset(&t, q->spanset, &all, &r);
    if (rv == 0 && r.n > 0) {
        out->sets = tr_arena_alloc(a, sizeof(*out->sets));
        if (out->sets == NULL) {
            return TR_ENOMEM;
        }
        out->sets[0] = (struct tr_traceql_spanset_out){r.v, r.n, NULL, 0};
        out->n = 1;
    }
    return rv;
}

bool tr_traceql_eval_value(const struct tr_traceql_eval *ev,
                           const struct tr_span_batch *trace,
                           size_t i,
                           const struct tr_traceql_attr *attr,
                           struct tr_arena *a,
                           struct tr_otlp_value *out)
{
    struct ev_trace t = {.ev = (struct tr_traceql_eval *)ev,
                         .b = trace,
                         .a = a,
                         .n = trace->n_spans,
                         .event = SIZE_MAX,
                         .link = SIZE_MAX};
    if (i >= t.n || ev__prepare(&t) != 0) {
        return false;
    }
    struct ev_val v = ev__attr(&t, i, attr);
    if (v.t == V_NIL) {
        return false;
    }
    *out = ev__to_otlp(&v);
    return true;
}
