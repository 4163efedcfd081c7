/* template_exec.c - evaluation of a parsed Go text/template over an
 * entry's labels (Go's exec.go semantics for what LogQL templates use).
 * See template.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "query/logql/stages_int.h"
#include "query/logql/template.h"
#include "query/logql/template_int.h"

int tt_fail(struct tt_exec *x, const char *fmt, ...)
{
    if (x->errmsg && x->errmsg[0] == 0) {
        char msg[TR_ERRMSG_SIZE - 160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        size_t pos = x->pos;
        size_t col = 0;
        while (col < pos && x->t->src[pos - col - 1] != '\n') {
            col++;
        }
        snprintf(x->errmsg, TR_ERRMSG_SIZE,
                 "template: %.16s:%d:%zu: executing \"%.16s\" at <%.*s>: %s",
                 x->t->name, tt_line_of(x->t, pos), col, x->t->name,
                 (int)(x->at.len > 60 ? 60 : x->at.len), x->at.base, msg);
    }
    return TR_EEXEC;
}

struct tt_val tt_str(struct tt_exec *x, const char *s, size_t n)
{
    struct tt_val v = {.kind = TV_STR};
    v.s = tr_logql_lb_dup(x->lb, s, n);
    return v;
}

bool tt_truth(const struct tt_val *v)
{
    switch (v->kind) {
        case TV_STR:
            return v->s.len > 0;
        case TV_INT:
            return v->i != 0;
        case TV_FLOAT:
            return v->f != 0;
        case TV_BOOL:
            return v->b;
        case TV_TIME:
            return true;
        case TV_MAP:
            return true;
        case TV_JSON:
            return !(v->s.len == 2); /* {} or [] */
        default:
            return false;
    }
}

static int push_var(struct tt_exec *x,
                    struct tr_slice name,
                    const struct tt_val *v)
{
    if (x->n_vars == x->cap_vars) {
        struct tt_var *nv =
            tr_arena_array_grow(tr_logql_lb__arena(x->lb), x->vars, x->n_vars,
                                &x->cap_vars, sizeof(*nv), 8);
        if (!nv) {
            tr_logql_lb__set_oom(x->lb);
            return TR_ENOMEM;
        }
        x->vars = nv;
    }
    x->vars[x->n_vars].name = name;
    x->vars[x->n_vars].v = *v;
    x->n_vars++;
    return 0;
}

static struct tt_var *find_var(struct tt_exec *x, struct tr_slice name)
{
    for (size_t i = x->n_vars; i-- > 0;) {
        if (tr_slice_eq(x->vars[i].name, name)) {
            return &x->vars[i];
        }
    }
    return NULL;
}

static int eval_pipe(struct tt_exec *x,
                     const struct tt_pipe *pp,
                     const struct tt_val *dot,
                     struct tt_val *out);

static int eval_fields(struct tt_exec *x,
                       struct tt_val *v,
                       const struct tr_slice *fields,
                       size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct tt_val nv;
        int rc = tt_field(x, v, fields[i], &nv);
        if (rc) {
            return rc;
        }
        *v = nv;
    }
    return 0;
}

static int eval_arg(struct tt_exec *x,
                    const struct tt_arg *a,
                    const struct tt_val *dot,
                    struct tt_val *out);

static int call_func(struct tt_exec *x,
                     const struct tt_cmd *c,
                     const struct tt_val *dot,
                     const struct tt_val *final,
                     struct tt_val *out)
{
    const struct tt_arg *a0 = c->args[0];
    const struct tt_func *f = tt_func_at(a0->fn);
    size_t n = c->n - 1 + (final ? 1 : 0);
    /* and / or: lazy, return the deciding operand */
    if (tt_func_is(a0->fn, "and") || tt_func_is(a0->fn, "or")) {
        bool is_and = tt_func_is(a0->fn, "and");
        if (n < 1) {
            return tt_fail(x,
                           "wrong number of args for %s: want at least 1 got 0",
                           f->name);
        }
        for (size_t i = 0; i < n; i++) {
            int rc = (i + 1 < c->n) ? eval_arg(x, c->args[i + 1], dot, out) : 0;
            if (i + 1 >= c->n) {
                *out = *final;
            }
            if (rc) {
                return rc;
            }
            if (tt_truth(out) != is_and) {
                return 0;
            }
        }
        return 0;
    }
    struct tt_val args[16];
    if (n > sizeof(args) / sizeof(args[0])) {
        return tt_fail(x, "too many arguments for %s", f->name);
    }
    if ((int)n < f->min_args || (f->max_args >= 0 && (int)n > f->max_args)) {
        if (f->max_args < 0) {
            return tt_fail(
                x, "wrong number of args for %s: want at least %d got %zu",
                f->name, f->min_args, n);
        }
        return tt_fail(x, "wrong number of args for %s: want %d got %zu",
                       f->name, f->max_args, n);
    }
    for (size_t i = 1; i < c->n; i++) {
        int rc = eval_arg(x, c->args[i], dot, &args[i - 1]);
        if (rc) {
            return rc;
        }
    }
    if (final) {
        args[n - 1] = *final;
    }
    struct tr_slice save = x->at;
    size_t save_pos = x->pos;
    x->at = (struct tr_slice){x->t->src + c->pos, c->end - c->pos};
    x->pos = c->pos;
    int rc = f->fn(x, args, n, out);
    x->at = save;
    x->pos = save_pos;
    return rc;
}

/* The source text of an operand with its fields, for messages. */
static void arg_at(struct tt_exec *x, const struct tt_arg *a)
{
    size_t end = a->pos + a->s.len;
    if (a->n_fields) {
        const struct tr_slice *f = &a->fields[a->n_fields - 1];
        end = (size_t)(f->base + f->len - x->t->src);
    }
    if (end > a->pos && end <= x->t->len) {
        x->at = (struct tr_slice){x->t->src + a->pos, end - a->pos};
        x->pos = a->pos;
    }
}

static int eval_arg(struct tt_exec *x,
                    const struct tt_arg *a,
                    const struct tt_val *dot,
                    struct tt_val *out)
{
    memset(out, 0, sizeof(*out));
    if (a->n_fields && a->kind != TA_PIPE) {
        arg_at(x, a);
    }
    switch (a->kind) {
        case TA_DOT:
            *out = *dot;
            return 0;
        case TA_FIELD:
            *out = *dot;
            return eval_fields(x, out, a->fields, a->n_fields);
        case TA_VAR: {
            struct tt_var *v = find_var(x, a->s);
            if (!v) {
                return tt_fail(x, "undefined variable: %.*s", (int)a->s.len,
                               a->s.base);
            }
            *out = v->v;
            return eval_fields(x, out, a->fields, a->n_fields);
        }
        case TA_STR:
            out->kind = TV_STR;
            out->s = a->s;
            return 0;
        case TA_NUM:
            if (a->is_int) {
                out->kind = TV_INT;
                out->i = a->i;
            } else {
                out->kind = TV_FLOAT;
                out->f = a->f;
            }
            return 0;
        case TA_BOOL:
            out->kind = TV_BOOL;
            out->b = a->b;
            return 0;
        case TA_NIL:
            out->kind = TV_NIL;
            return 0;
        case TA_FUNC: {
            struct tt_cmd c = {(struct tt_arg **)&a, 1, 1, a->pos,
                               a->pos + a->s.len};
            return call_func(x, &c, dot, NULL, out);
        }
        default: {
            if (++x->depth > TT_MAX_DEPTH) {
                return tt_fail(x, "max depth exceeded");
            }
            size_t nv = x->n_vars;
            int rc = eval_pipe(x, a->pipe, dot, out);
            x->n_vars = nv;
            x->depth--;
            if (rc) {
                return rc;
            }
            return eval_fields(x, out, a->fields, a->n_fields);
        }
    }
}

static int eval_cmd(struct tt_exec *x,
                    const struct tt_cmd *c,
                    const struct tt_val *dot,
                    const struct tt_val *final,
                    struct tt_val *out)
{
    const struct tt_arg *a0 = c->args[0];
    if (a0->kind == TA_FUNC) {
        return call_func(x, c, dot, final, out);
    }
    if (c->n > 1 || final) {
        x->at = (struct tr_slice){x->t->src + c->pos, c->end - c->pos};
        return tt_fail(x, "can't give argument to non-function %.*s",
                       (int)a0->s.len, a0->s.base);
    }
    return eval_arg(x, a0, dot, out);
}

static int eval_pipe(struct tt_exec *x,
                     const struct tt_pipe *pp,
                     const struct tt_val *dot,
                     struct tt_val *out)
{
    struct tt_val v = {.kind = TV_INVALID};
    for (size_t i = 0; i < pp->n; i++) {
        struct tt_val nv;
        int rc = eval_cmd(x, pp->cmds[i], dot, i ? &v : NULL, &nv);
        if (rc) {
            return rc;
        }
        v = nv;
    }
    for (size_t k = 0; k < pp->n_vars; k++) {
        if (pp->decl) {
            if (push_var(x, pp->vars[k], &v)) {
                return TR_ENOMEM;
            }
        } else {
            struct tt_var *var = find_var(x, pp->vars[k]);
            if (!var) {
                return tt_fail(x, "undefined variable: %.*s",
                               (int)pp->vars[k].len, pp->vars[k].base);
            }
            var->v = v;
        }
    }
    *out = v;
    return 0;
}

static int run_list(struct tt_exec *x,
                    const struct tt_list *l,
                    const struct tt_val *dot);

static int range_one(struct tt_exec *x,
                     const struct tt_node *nd,
                     const struct tt_val *k,
                     const struct tt_val *v,
                     bool *stop)
{
    size_t nv = x->n_vars;
    const struct tt_pipe *pp = nd->pipe;
    if (pp->n_vars == 1) {
        if (pp->decl ? push_var(x, pp->vars[0], v) : 0) {
            return TR_ENOMEM;
        }
        if (!pp->decl) {
            struct tt_var *var = find_var(x, pp->vars[0]);
            if (var) {
                var->v = *v;
            }
        }
    } else if (pp->n_vars == 2) {
        if (pp->decl) {
            if (push_var(x, pp->vars[0], k) || push_var(x, pp->vars[1], v)) {
                return TR_ENOMEM;
            }
        } else {
            struct tt_var *a = find_var(x, pp->vars[0]);
            struct tt_var *b = find_var(x, pp->vars[1]);
            if (a) {
                a->v = *k;
            }
            if (b) {
                b->v = *v;
            }
        }
    }
    int rc = run_list(x, &nd->list, v);
    x->n_vars = nv;
    if (x->brk) {
        x->brk = false;
        *stop = true;
    }
    x->cont = false;
    return rc;
}

struct range_ctx {
    const struct tt_node *nd;
};

static int range_cb(struct tt_exec *x,
                    const struct tt_val *k,
                    const struct tt_val *v,
                    void *arg,
                    bool *stop)
{
    const struct range_ctx *rc = arg;
    return range_one(x, rc->nd, k, v, stop);
}

static int run_range(struct tt_exec *x,
                     const struct tt_node *nd,
                     const struct tt_val *dot)
{
    struct tt_val v;
    size_t nv = x->n_vars;
    /* evaluate without declaring: the range declares per element */
    struct tt_pipe copy = *nd->pipe;
    copy.n_vars = 0;
    int rc = eval_pipe(x, &copy, dot, &v);
    x->n_vars = nv;
    if (rc) {
        return rc;
    }
    size_t count = 0;
    bool stop = false;
    struct range_ctx ctx = {nd};
    switch (v.kind) {
        case TV_INT:
            for (int64_t i = 0; i < v.i && !stop && rc == 0; i++) {
                struct tt_val iv = {.kind = TV_INT, .i = i};
                rc = range_one(x, nd, &iv, &iv, &stop);
                count++;
                if (count > 100000) {
                    return tt_fail(x, "range too long");
                }
            }
            break;
        case TV_MAP:
            for (size_t i = 0; i < x->n_labels && !stop && rc == 0; i++) {
                struct tt_val kv = {.kind = TV_STR, .s = x->labels[i].name};
                struct tt_val vv = {.kind = TV_STR, .s = x->labels[i].value};
                rc = range_one(x, nd, &kv, &vv, &stop);
                count++;
            }
            break;
        case TV_JSON:
            rc = tt_json_foreach(x, &v, range_cb, &ctx, &count);
            break;
        case TV_INVALID:
        case TV_NIL:
            break;
        default:
            return tt_fail(x, "range can't iterate over %s",
                           v.kind == TV_STR ? "string" : "value");
    }
    if (rc) {
        return rc;
    }
    if (count == 0) {
        return run_list(x, &nd->else_list, dot);
    }
    return 0;
}

static int run_node(struct tt_exec *x,
                    const struct tt_node *nd,
                    const struct tt_val *dot)
{
    struct tt_val v;
    int rc;
    if (++x->steps > TT_MAX_STEPS) {
        return tt_fail(x, "template execution too long");
    }
    x->pos = nd->pos;
    switch (nd->kind) {
        case TT_TEXT:
            rc = tr_buf_append(x->out, nd->text.base, nd->text.len);
            break;
        case TT_ACTION:
            rc = eval_pipe(x, nd->pipe, dot, &v);
            if (rc == 0 && nd->pipe->n_vars == 0) {
                rc = tt_print(x, x->out, &v);
            }
            break;
        case TT_IF:
        case TT_WITH: {
            size_t nv = x->n_vars;
            rc = eval_pipe(x, nd->pipe, dot, &v);
            if (rc == 0) {
                if (tt_truth(&v)) {
                    rc = run_list(x, &nd->list, nd->kind == TT_WITH ? &v : dot);
                } else {
                    rc = run_list(x, &nd->else_list, dot);
                }
            }
            x->n_vars = nv;
            break;
        }
        case TT_RANGE:
            rc = run_range(x, nd, dot);
            break;
        case TT_BREAK:
            x->brk = true;
            return 0;
        default:
            x->cont = true;
            return 0;
    }
    if (rc == 0 && x->out->oom) {
        rc = TR_ENOMEM;
    }
    if (rc == 0 && x->out->len > TT_MAX_OUTPUT) {
        rc = tt_fail(x, "template output too large");
    }
    return rc;
}

static int run_list(struct tt_exec *x,
                    const struct tt_list *l,
                    const struct tt_val *dot)
{
    if (++x->depth > TT_MAX_DEPTH) {
        return tt_fail(x, "max depth exceeded");
    }
    for (size_t i = 0; i < l->n && !x->brk && !x->cont; i++) {
        int rc = run_node(x, l->v[i], dot);
        if (rc) {
            return rc;
        }
    }
    x->depth--;
    return 0;
}

int tt_exec_labels(const struct tr_logql_template *t,
                   struct tr_logql_lb *lb,
                   const struct tr_logql_label *labels,
                   size_t n_labels,
                   struct tr_slice line,
                   struct tr_buf *out,
                   char *errmsg)
{
    struct tt_exec x;
    memset(&x, 0, sizeof(x));
    x.t = t;
    x.lb = lb;
    x.labels = labels;
    x.n_labels = n_labels;
    x.line = line;
    x.out = out;
    x.errmsg = errmsg;
    if (errmsg) {
        errmsg[0] = 0;
    }
    struct tt_val dot = {.kind = TV_MAP};
    if (push_var(&x, TR_SLICE_LIT("$"), &dot)) {
        return TR_ENOMEM;
    }
    int rc = run_list(&x, &t->root, &dot);
    if (rc == 0 && (out->oom || tr_logql_lb_oom(lb))) {
        rc = TR_ENOMEM;
    }
    return rc;
}

int tr_logql_template_exec(const struct tr_logql_template *t,
                           struct tr_logql_lb *lb,
                           struct tr_slice line,
                           struct tr_buf *out,
                           char *errmsg)
{
    struct tr_logql_label *ls;
    size_t n;
    tr_logql_lb_labels(lb, &ls, &n);
    if (tr_logql_lb_oom(lb)) {
        return TR_ENOMEM;
    }
    return tt_exec_labels(t, lb, ls, n, line, out, errmsg);
}
