/* eval_pipeline.c - compiles a LogQL AST pipeline (ast.h) into the log-line
 * stages of stages.h and runs it on entries.
 *
 * ast.h and stages.h declare some identical names with different members;
 * ast.h is included here under renaming macros (every clashing AST name
 * gets an "ast__" prefix) so that this file can see both. */
#define tr_logql_cmp ast__cmp
#define TR_LOGQL_CMP_EQ AST__CMP_EQ
#define TR_LOGQL_CMP_NEQ AST__CMP_NEQ
#define TR_LOGQL_CMP_GT AST__CMP_GT
#define TR_LOGQL_CMP_GTE AST__CMP_GTE
#define TR_LOGQL_CMP_LT AST__CMP_LT
#define TR_LOGQL_CMP_LTE AST__CMP_LTE
#define tr_logql_lf_kind ast__lf_kind
#define TR_LOGQL_LF_AND AST__LF_AND
#define TR_LOGQL_LF_OR AST__LF_OR
#define TR_LOGQL_LF_STRING AST__LF_STRING
#define TR_LOGQL_LF_NUMBER AST__LF_NUMBER
#define TR_LOGQL_LF_DURATION AST__LF_DURATION
#define TR_LOGQL_LF_BYTES AST__LF_BYTES
#define TR_LOGQL_LF_IP AST__LF_IP
#define tr_logql_pattern ast__pattern
#define tr_logql_line_op ast__line_op
#define TR_LOGQL_LINE_CONTAINS AST__LINE_CONTAINS
#define TR_LOGQL_LINE_NOT_CONTAINS AST__LINE_NOT_CONTAINS
#define TR_LOGQL_LINE_MATCH AST__LINE_MATCH
#define TR_LOGQL_LINE_NOT_MATCH AST__LINE_NOT_MATCH
#define TR_LOGQL_LINE_PATTERN AST__LINE_PATTERN
#define TR_LOGQL_LINE_NOT_PATTERN AST__LINE_NOT_PATTERN
#define tr_logql_line_filter ast__line_filter
#define tr_logql_label_fmt ast__label_fmt
#define tr_logql_conv ast__conv
#define TR_LOGQL_CONV_NONE AST__CONV_NONE
#define TR_LOGQL_CONV_BYTES AST__CONV_BYTES
#define TR_LOGQL_CONV_DURATION AST__CONV_DURATION
#define TR_LOGQL_CONV_DURATION_SECONDS AST__CONV_DURATION_SECONDS
#include "query/logql/ast.h"
#include "query/logql/eval_int.h"
#undef tr_logql_cmp
#undef TR_LOGQL_CMP_EQ
#undef TR_LOGQL_CMP_NEQ
#undef TR_LOGQL_CMP_GT
#undef TR_LOGQL_CMP_GTE
#undef TR_LOGQL_CMP_LT
#undef TR_LOGQL_CMP_LTE
#undef tr_logql_lf_kind
#undef TR_LOGQL_LF_AND
#undef TR_LOGQL_LF_OR
#undef TR_LOGQL_LF_STRING
#undef TR_LOGQL_LF_NUMBER
#undef TR_LOGQL_LF_DURATION
#undef TR_LOGQL_LF_BYTES
#undef TR_LOGQL_LF_IP
#undef tr_logql_pattern
#undef tr_logql_line_op
#undef TR_LOGQL_LINE_CONTAINS
#undef TR_LOGQL_LINE_NOT_CONTAINS
#undef TR_LOGQL_LINE_MATCH
#undef TR_LOGQL_LINE_NOT_MATCH
#undef TR_LOGQL_LINE_PATTERN
#undef TR_LOGQL_LINE_NOT_PATTERN
#undef tr_logql_line_filter
#undef tr_logql_label_fmt
#undef tr_logql_conv
#undef TR_LOGQL_CONV_NONE
#undef TR_LOGQL_CONV_BYTES
#undef TR_LOGQL_CONV_DURATION
#undef TR_LOGQL_CONV_DURATION_SECONDS

#include <string.h>

#include "lib/err.h"
#include "query/logql/stages.h"
#include "query/logql/template.h"

struct pstage {
    enum ast__stage_kind_tag {
        PS_LINE,
        PS_PARSER,
        PS_LF,
        PS_LINE_FMT,
        PS_LABEL_FMT,
        PS_DROP,
        PS_KEEP,
        PS_DECOLORIZE,
    } kind;
    struct tr_logql_line_filter *lf_line;
    struct tr_logql_parser *parser;
    struct tr_logql_lf *lf;
    struct tr_logql_template *tmpl;
    struct tr_logql_label_fmt *fmts;      /* heap */
    struct tr_logql_template **fmt_tmpls; /* heap, n_fmts */
    size_t n_fmts;
    struct tr_logql_name_match *names; /* heap */
    size_t n_names;
};

struct tr_logql_pipe {
    struct pstage *st; /* heap */
    size_t n_st;
    struct tr_logql_lb *lb;
    bool has_unwrap;
    const char *unwrap_label;
    enum tr_logql_conv conv;
    struct tr_logql_lf **post; /* heap */
    size_t n_post;
    struct tr_label *scratch; /* heap */
    uint8_t *cats;            /* heap */
    size_t cap;
    struct tr_logql_label *stream_tmp; /* heap */
    size_t stream_cap;
};

static enum tr_logql_cmp conv_cmp(enum ast__cmp c)
{
    switch (c) {
        case AST__CMP_EQ:
            return TR_LOGQL_CMP_EQ;
        case AST__CMP_NEQ:
            return TR_LOGQL_CMP_NE;
        case AST__CMP_GT:
            return TR_LOGQL_CMP_GT;
        case AST__CMP_GTE:
            return TR_LOGQL_CMP_GE;
        case AST__CMP_LT:
            return TR_LOGQL_CMP_LT;
        default:
            return TR_LOGQL_CMP_LE;
    }
}

static int build_lf(const struct tr_logql_label_filter *f,
                    struct tr_logql_lf **out,
                    char *errmsg)
{
    int rc;
    switch (f->kind) {
        case AST__LF_AND:
        case AST__LF_OR: {
            struct tr_logql_lf *l = NULL, *r = NULL;
            rc = build_lf(f->bin.left, &l, errmsg);
            if (rc) {
                return rc;
            }
            rc = build_lf(f->bin.right, &r, errmsg);
            if (rc) {
                tr_logql_lf_free(l);
                return rc;
            }
            return tr_logql_lf_new_binary(f->kind == AST__LF_AND, l, r, out);
        }
        case AST__LF_STRING:
            return tr_logql_lf_new_string(f->matcher.type, f->matcher.name,
                                          f->matcher.value,
                                          f->matcher.value_len, out, errmsg);
        case AST__LF_NUMBER:
            return tr_logql_lf_new_number(conv_cmp(f->number.op),
                                          f->number.name, f->number.value, out);
        case AST__LF_DURATION:
            return tr_logql_lf_new_duration(conv_cmp(f->duration.op),
                                            f->duration.name, f->duration.ns,
                                            out);
        case AST__LF_BYTES:
            return tr_logql_lf_new_bytes(conv_cmp(f->bytes.op), f->bytes.name,
                                         f->bytes.bytes, out);
        case AST__LF_IP:
            return tr_logql_lf_new_ip(
                f->ip.negate ? TR_LOGQL_CMP_NE : TR_LOGQL_CMP_EQ, f->ip.name,
                f->ip.pattern, f->ip.pattern_len, out, errmsg);
    }
    return TR_EINVAL;
}

static enum tr_logql_line_op conv_line_op(enum ast__line_op op)
{
    switch (op) {
        case AST__LINE_CONTAINS:
            return TR_LOGQL_LINE_CONTAINS;
        case AST__LINE_NOT_CONTAINS:
            return TR_LOGQL_LINE_NOT_CONTAINS;
        case AST__LINE_MATCH:
            return TR_LOGQL_LINE_RE;
        case AST__LINE_NOT_MATCH:
            return TR_LOGQL_LINE_NOT_RE;
        case AST__LINE_PATTERN:
            return TR_LOGQL_LINE_PATTERN;
        default:
            return TR_LOGQL_LINE_NOT_PATTERN;
    }
}

static int build_extracts(const struct tr_logql_extract *x,
                          size_t n,
                          struct tr_logql_extract_expr **out)
{
    *out = NULL;
    if (n == 0) {
        return 0;
    }
    struct tr_logql_extract_expr *e = tr_calloc(n, sizeof(*e));
    if (!e) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        e[i].label = x[i].label;
        e[i].expr = x[i].expr;
        e[i].expr_len = x[i].expr_len;
    }
    *out = e;
    return 0;
}

static int build_names(const struct tr_logql_stage *s, struct pstage *p)
{
    size_t n = s->names.n_items;
    p->names = tr_calloc(n ? n : 1, sizeof(*p->names));
    if (!p->names) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const struct tr_logql_named_matcher *m = &s->names.items[i];
        if (m->has_matcher) {
            p->names[i].name = m->matcher.name;
            p->names[i].m = &m->matcher;
        } else {
            p->names[i].name = m->name;
        }
    }
    p->n_names = n;
    return 0;
}

static int build_label_fmt(const struct tr_logql_stage *s,
                           struct pstage *p,
                           char *errmsg)
{
    size_t n = s->label_format.n_fmts;
    p->fmts = tr_calloc(n ? n : 1, sizeof(*p->fmts));
    p->fmt_tmpls = tr_calloc(n ? n : 1, sizeof(*p->fmt_tmpls));
    if (!p->fmts || !p->fmt_tmpls) {
        return TR_ENOMEM;
    }
    p->n_fmts = n;
    for (size_t i = 0; i < n; i++) {
        const struct ast__label_fmt *f = &s->label_format.fmts[i];
        p->fmts[i].dst = f->dst;
        if (f->rename) {
            p->fmts[i].src = f->value;
            continue;
        }
        char msg[TR_ERRMSG_SIZE];
        int rc = tr_logql_template_compile("label", f->value, f->value_len,
                                           &p->fmt_tmpls[i], msg);
        if (rc) {
            if (rc == TR_EINVAL) {
                tr_errf(rc, errmsg, "invalid label template for %s: %s", f->dst,
                        msg);
            }
            return rc;
        }
        p->fmts[i].tmpl = p->fmt_tmpls[i];
    }
    return tr_logql_label_format_check(p->fmts, n, errmsg);
}

static int build_stage(const struct tr_logql_stage *s,
                       struct pstage *p,
                       char *errmsg)
{
    int rc = 0;
    switch (s->kind) {
        case TR_LOGQL_STAGE_LINE_FILTER: {
            const struct ast__line_filter *f = &s->line_filter;
            struct tr_logql_line_operand ops[16] = {0};
            struct tr_logql_line_operand *o = ops;
            if (f->n_alts > 16) {
                o = tr_calloc(f->n_alts, sizeof(*o));
                if (!o) {
                    return TR_ENOMEM;
                }
            }
            for (size_t i = 0; i < f->n_alts; i++) {
                o[i].is_ip = f->alts[i].ip;
                o[i].s = f->alts[i].text;
                o[i].len = f->alts[i].len;
            }
            p->kind = PS_LINE;
            rc = tr_logql_line_filter_new(conv_line_op(f->op), o, f->n_alts,
                                          &p->lf_line, errmsg);
            if (o != ops) {
                tr_free(o);
            }
            return rc;
        }
        case TR_LOGQL_STAGE_JSON: {
            struct tr_logql_extract_expr *x;
            p->kind = PS_PARSER;
            rc = build_extracts(s->json.params, s->json.n_params, &x);
            if (rc) {
                return rc;
            }
            rc = tr_logql_parser_new_json(x, s->json.n_params, &p->parser,
                                          errmsg);
            tr_free(x);
            return rc;
        }
        case TR_LOGQL_STAGE_LOGFMT: {
            struct tr_logql_extract_expr *x;
            p->kind = PS_PARSER;
            rc = build_extracts(s->logfmt.params, s->logfmt.n_params, &x);
            if (rc) {
                return rc;
            }
            rc = tr_logql_parser_new_logfmt(
                s->logfmt.strict, s->logfmt.keep_empty, x, s->logfmt.n_params,
                &p->parser, errmsg);
            tr_free(x);
            return rc;
        }
        case TR_LOGQL_STAGE_REGEXP:
            p->kind = PS_PARSER;
            return tr_logql_parser_new_regexp(s->regexp.re, s->regexp.len,
                                              &p->parser, errmsg);
        case TR_LOGQL_STAGE_PATTERN:
            p->kind = PS_PARSER;
            return tr_logql_parser_new_pattern(s->pattern.text, s->pattern.len,
                                               &p->parser, errmsg);
        case TR_LOGQL_STAGE_UNPACK:
            p->kind = PS_PARSER;
            return tr_logql_parser_new_unpack(&p->parser);
        case TR_LOGQL_STAGE_LABEL_FILTER:
            p->kind = PS_LF;
            return build_lf(s->label_filter, &p->lf, errmsg);
        case TR_LOGQL_STAGE_LINE_FORMAT: {
            char msg[TR_ERRMSG_SIZE];
            p->kind = PS_LINE_FMT;
            rc = tr_logql_template_compile("line", s->line_format.tmpl,
                                           s->line_format.len, &p->tmpl, msg);
            if (rc == TR_EINVAL) {
                tr_errf(rc, errmsg, "invalid line template: %s", msg);
            }
            return rc;
        }
        case TR_LOGQL_STAGE_LABEL_FORMAT:
            p->kind = PS_LABEL_FMT;
            return build_label_fmt(s, p, errmsg);
        case TR_LOGQL_STAGE_DECOLORIZE:
            p->kind = PS_DECOLORIZE;
            return 0;
        case TR_LOGQL_STAGE_DROP:
            p->kind = PS_DROP;
            return build_names(s, p);
        case TR_LOGQL_STAGE_KEEP:
            p->kind = PS_KEEP;
            return build_names(s, p);
    }
    return tr_errf(TR_EINVAL, errmsg, "unsupported pipeline stage");
}

static void free_stage(struct pstage *p)
{
    tr_logql_line_filter_free(p->lf_line);
    tr_logql_parser_free(p->parser);
    tr_logql_lf_free(p->lf);
    tr_logql_template_free(p->tmpl);
    for (size_t i = 0; p->fmt_tmpls && i < p->n_fmts; i++) {
        tr_logql_template_free(p->fmt_tmpls[i]);
    }
    tr_free(p->fmt_tmpls);
    tr_free(p->fmts);
    tr_free(p->names);
}

void tr_logql_pipe_free(struct tr_logql_pipe *p)
{
    if (!p) {
        return;
    }
    for (size_t i = 0; i < p->n_st; i++) {
        free_stage(&p->st[i]);
    }
    for (size_t i = 0; i < p->n_post; i++) {
        tr_logql_lf_free(p->post[i]);
    }
    tr_free(p->post);
    tr_free(p->st);
    tr_free(p->scratch);
    tr_free(p->cats);
    tr_free(p->stream_tmp);
    if (p->lb) {
        tr_logql_lb_free(p->lb);
    }
    tr_free(p);
}

int tr_logql_pipe_new(const struct tr_logql_log *log,
                      const struct tr_logql_unwrap *unwrap,
                      struct tr_logql_pipe **out,
                      char *errmsg)
{
    int rc = TR_ENOMEM;
    struct tr_logql_pipe *p = tr_calloc(1, sizeof(*p));
    *out = NULL;
    if (!p) {
        return TR_ENOMEM;
    }
    if (tr_logql_lb_new(&p->lb)) {
        goto err;
    }
    if (log->n_stages) {
        p->st = tr_calloc(log->n_stages, sizeof(*p->st));
        if (!p->st) {
            goto err;
        }
    }
    for (size_t i = 0; i < log->n_stages; i++) {
        p->n_st = i + 1;
        rc = build_stage(&log->stages[i], &p->st[i], errmsg);
        if (rc) {
            goto err;
        }
    }
    if (unwrap) {
        p->has_unwrap = true;
        p->unwrap_label = unwrap->label;
        p->conv = unwrap->conv == AST__CONV_BYTES  ? TR_LOGQL_CONV_BYTES
                  : unwrap->conv == AST__CONV_NONE ? TR_LOGQL_CONV_FLOAT
                                                   : TR_LOGQL_CONV_DURATION;
        if (unwrap->n_post_filters) {
            rc = TR_ENOMEM;
            p->post = tr_calloc(unwrap->n_post_filters, sizeof(*p->post));
            if (!p->post) {
                goto err;
            }
        }
        for (size_t i = 0; i < unwrap->n_post_filters; i++) {
            p->n_post = i + 1;
            rc = build_lf(unwrap->post_filters[i], &p->post[i], errmsg);
            if (rc) {
                goto err;
            }
        }
    }
    *out = p;
    return 0;
err:
    tr_logql_pipe_free(p);
    return rc;
}

int tr_logql_pipe_stream(struct tr_logql_pipe *p,
                         const struct tr_label *labels,
                         size_t n)
{
    if (n > p->stream_cap) {
        struct tr_logql_label *t =
            tr_realloc(p->stream_tmp, n * sizeof(*p->stream_tmp));
        if (!t) {
            return TR_ENOMEM;
        }
        p->stream_tmp = t;
        p->stream_cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        p->stream_tmp[i].name = labels[i].name;
        p->stream_tmp[i].value = labels[i].value;
        p->stream_tmp[i].cat = TR_LOGQL_CAT_STREAM;
    }
    return tr_logql_lb_set_stream(p->lb, p->stream_tmp, n);
}

static bool run_stage(struct pstage *s,
                      struct tr_logql_lb *lb,
                      struct tr_slice *cur)
{
    switch (s->kind) {
        case PS_LINE:
            return tr_logql_line_filter_match(s->lf_line, cur->base, cur->len);
        case PS_PARSER:
            return tr_logql_parser_process(s->parser, lb, cur);
        case PS_LF:
            return tr_logql_lf_eval(s->lf, lb);
        case PS_LINE_FMT:
            return tr_logql_line_format(s->tmpl, lb, cur);
        case PS_LABEL_FMT:
            return tr_logql_label_format(s->fmts, s->n_fmts, lb, *cur);
        case PS_DROP:
            tr_logql_drop(lb, s->names, s->n_names);
            return true;
        case PS_KEEP:
            tr_logql_keep(lb, s->names, s->n_names);
            return true;
        case PS_DECOLORIZE:
            return tr_logql_decolorize(lb, cur);
    }
    return true;
}

int tr_logql_pipe_run(struct tr_logql_pipe *p,
                      const struct tr_log_line *l,
                      struct tr_logql_pipe_out *out)
{
    struct tr_logql_lb *lb = p->lb;
    tr_logql_lb_reset(lb, l->ts);
    for (size_t i = 0; i < l->n_meta; i++) {
        tr_logql_lb_add_meta(lb, l->meta[i].name, l->meta[i].value);
    }
    struct tr_slice cur = l->line;
    for (size_t i = 0; i < p->n_st; i++) {
        if (!run_stage(&p->st[i], lb, &cur)) {
            return tr_logql_lb_oom(lb) ? TR_ENOMEM : 0;
        }
    }
    out->has_value = false;
    out->value = 0;
    if (p->has_unwrap) {
        double v;
        struct tr_slice name = {(char *)p->unwrap_label,
                                strlen(p->unwrap_label)};
        if (!tr_logql_unwrap(lb, name, p->conv, &v)) {
            return tr_logql_lb_oom(lb) ? TR_ENOMEM : 0;
        }
        for (size_t i = 0; i < p->n_post; i++) {
            if (!tr_logql_lf_eval(p->post[i], lb)) {
                return tr_logql_lb_oom(lb) ? TR_ENOMEM : 0;
            }
        }
        out->has_value = true;
        out->value = v;
    }
    struct tr_logql_label *ls;
    size_t n;
    tr_logql_lb_labels(lb, &ls, &n);
    if (tr_logql_lb_oom(lb)) {
        return TR_ENOMEM;
    }
    if (n > p->cap) {
        size_t cap = n * 2;
        struct tr_label *s = tr_realloc(p->scratch, cap * sizeof(*s));
        if (!s) {
            return TR_ENOMEM;
        }
        p->scratch = s;
        uint8_t *c = tr_realloc(p->cats, cap);
        if (!c) {
            return TR_ENOMEM;
        }
        p->cats = c;
        p->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        p->scratch[i].name = ls[i].name;
        p->scratch[i].value = ls[i].value;
        p->cats[i] = ls[i].cat;
    }
    out->line = cur;
    out->labels = p->scratch;
    out->cats = p->cats;
    out->n_labels = n;
    out->has_err = tr_logql_lb_has_err(lb);
    return 1;
}

/* ---- push-down ---------------------------------------------------------- */

int tr_logql_pushdown_plan(const struct tr_logql_log *log,
                           struct tr_arena *a,
                           struct tr_logql_pushdown *pd)
{
    memset(pd, 0, sizeof(*pd));
    size_t n = log->n_stages;
    if (n) {
        pd->needles = tr_arena_alloc(a, n * sizeof(*pd->needles));
        pd->meta = tr_arena_alloc(a, n * sizeof(*pd->meta));
        if (!pd->needles || !pd->meta) {
            return TR_ENOMEM;
        }
    }
    size_t i = 0;
    for (; i < n; i++) {
        const struct tr_logql_stage *s = &log->stages[i];
        if (s->kind == TR_LOGQL_STAGE_LINE_FILTER) {
            const struct ast__line_filter *f = &s->line_filter;
            if (f->op == AST__LINE_CONTAINS && f->n_alts == 1 &&
                !f->alts[0].ip && f->alts[0].len > 0) {
                pd->needles[pd->n_needles++] =
                    (struct tr_slice){(char *)f->alts[0].text, f->alts[0].len};
                continue;
            }
            if (f->op == AST__LINE_CONTAINS && f->n_alts == 1 &&
                !f->alts[0].ip) {
                continue; /* |= "" keeps every line */
            }
            pd->filters_left = true;
            continue;
        }
        if (s->kind == TR_LOGQL_STAGE_LABEL_FILTER &&
            s->label_filter->kind == AST__LF_STRING &&
            s->label_filter->matcher.type == TR_MATCH_EQ &&
            s->label_filter->matcher.value_len > 0 &&
            strncmp(s->label_filter->matcher.name, "__", 2) != 0) {
            const struct tr_matcher *m = &s->label_filter->matcher;
            bool in_sel = false;
            for (size_t j = 0; j < log->n_matchers; j++) {
                if (strcmp(log->matchers[j].name, m->name) == 0) {
                    in_sel = true;
                }
            }
            if (!in_sel) {
                pd->meta[pd->n_meta].name =
                    (struct tr_slice){m->name, strlen(m->name)};
                pd->meta[pd->n_meta].value =
                    (struct tr_slice){m->value, m->value_len};
                pd->n_meta++;
                continue;
            }
        }
        break;
    }
    for (; i < n; i++) {
        const struct tr_logql_stage *s = &log->stages[i];
        if (s->kind == TR_LOGQL_STAGE_LINE_FILTER ||
            s->kind == TR_LOGQL_STAGE_LABEL_FILTER) {
            pd->filters_left = true;
        }
    }
    return 0;
}
