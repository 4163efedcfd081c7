/* ast.c - LogQL AST helpers: names, query kinds, freeing the heap parts. */
#include "query/logql/ast.h"

#include <stddef.h>

bool tr_logql_is_log_query(const struct tr_logql_expr *e)
{
    return e != NULL && e->kind == TR_LOGQL_EXPR_LOG;
}

bool tr_logql_is_metric_query(const struct tr_logql_expr *e)
{
    return e != NULL && e->kind != TR_LOGQL_EXPR_LOG;
}

const char *tr_logql_range_op_name(enum tr_logql_range_op op)
{
    static const char *const names[] = {
        [TR_LOGQL_RANGE_COUNT_OVER_TIME] = "count_over_time",
        [TR_LOGQL_RANGE_RATE] = "rate",
        [TR_LOGQL_RANGE_RATE_COUNTER] = "rate_counter",
        [TR_LOGQL_RANGE_BYTES_OVER_TIME] = "bytes_over_time",
        [TR_LOGQL_RANGE_BYTES_RATE] = "bytes_rate",
        [TR_LOGQL_RANGE_AVG_OVER_TIME] = "avg_over_time",
        [TR_LOGQL_RANGE_SUM_OVER_TIME] = "sum_over_time",
        [TR_LOGQL_RANGE_MIN_OVER_TIME] = "min_over_time",
        [TR_LOGQL_RANGE_MAX_OVER_TIME] = "max_over_time",
        [TR_LOGQL_RANGE_STDVAR_OVER_TIME] = "stdvar_over_time",
        [TR_LOGQL_RANGE_STDDEV_OVER_TIME] = "stddev_over_time",
        [TR_LOGQL_RANGE_QUANTILE_OVER_TIME] = "quantile_over_time",
        [TR_LOGQL_RANGE_FIRST_OVER_TIME] = "first_over_time",
        [TR_LOGQL_RANGE_LAST_OVER_TIME] = "last_over_time",
        [TR_LOGQL_RANGE_ABSENT_OVER_TIME] = "absent_over_time",
    };
    if ((size_t)op >= sizeof(names) / sizeof(names[0])) {
        return "?";
    }
    return names[op];
}

const char *tr_logql_vector_op_name(enum tr_logql_vector_op op)
{
    static const char *const names[] = {
        [TR_LOGQL_VEC_SUM] = "sum",
        [TR_LOGQL_VEC_AVG] = "avg",
        [TR_LOGQL_VEC_COUNT] = "count",
        [TR_LOGQL_VEC_MAX] = "max",
        [TR_LOGQL_VEC_MIN] = "min",
        [TR_LOGQL_VEC_STDDEV] = "stddev",
        [TR_LOGQL_VEC_STDVAR] = "stdvar",
        [TR_LOGQL_VEC_BOTTOMK] = "bottomk",
        [TR_LOGQL_VEC_TOPK] = "topk",
        [TR_LOGQL_VEC_SORT] = "sort",
        [TR_LOGQL_VEC_SORT_DESC] = "sort_desc",
        [TR_LOGQL_VEC_APPROX_TOPK] = "approx_topk",
    };
    if ((size_t)op >= sizeof(names) / sizeof(names[0])) {
        return "?";
    }
    return names[op];
}

const char *tr_logql_binop_name(enum tr_logql_binop op)
{
    static const char *const names[] = {
        [TR_LOGQL_OP_OR] = "or",         [TR_LOGQL_OP_AND] = "and",
        [TR_LOGQL_OP_UNLESS] = "unless", [TR_LOGQL_OP_ADD] = "+",
        [TR_LOGQL_OP_SUB] = "-",         [TR_LOGQL_OP_MUL] = "*",
        [TR_LOGQL_OP_DIV] = "/",         [TR_LOGQL_OP_MOD] = "%",
        [TR_LOGQL_OP_POW] = "^",         [TR_LOGQL_OP_EQ] = "==",
        [TR_LOGQL_OP_NEQ] = "!=",        [TR_LOGQL_OP_GT] = ">",
        [TR_LOGQL_OP_GTE] = ">=",        [TR_LOGQL_OP_LT] = "<",
        [TR_LOGQL_OP_LTE] = "<=",
    };
    if ((size_t)op >= sizeof(names) / sizeof(names[0])) {
        return "?";
    }
    return names[op];
}

const char *tr_logql_line_op_name(enum tr_logql_line_op op)
{
    static const char *const names[] = {
        [TR_LOGQL_LINE_CONTAINS] = "|=", [TR_LOGQL_LINE_NOT_CONTAINS] = "!=",
        [TR_LOGQL_LINE_MATCH] = "|~",    [TR_LOGQL_LINE_NOT_MATCH] = "!~",
        [TR_LOGQL_LINE_PATTERN] = "|>",  [TR_LOGQL_LINE_NOT_PATTERN] = "!>",
    };
    if ((size_t)op >= sizeof(names) / sizeof(names[0])) {
        return "?";
    }
    return names[op];
}

const char *tr_logql_cmp_name(enum tr_logql_cmp op)
{
    static const char *const names[] = {
        [TR_LOGQL_CMP_EQ] = "==", [TR_LOGQL_CMP_NEQ] = "!=",
        [TR_LOGQL_CMP_GT] = ">",  [TR_LOGQL_CMP_GTE] = ">=",
        [TR_LOGQL_CMP_LT] = "<",  [TR_LOGQL_CMP_LTE] = "<=",
    };
    if ((size_t)op >= sizeof(names) / sizeof(names[0])) {
        return "?";
    }
    return names[op];
}

const char *tr_logql_conv_name(enum tr_logql_conv conv)
{
    switch (conv) {
        case TR_LOGQL_CONV_BYTES:
            return "bytes";
        case TR_LOGQL_CONV_DURATION:
            return "duration";
        case TR_LOGQL_CONV_DURATION_SECONDS:
            return "duration_seconds";
        case TR_LOGQL_CONV_NONE:
        default:
            return "";
    }
}

bool tr_logql_binop_is_comparison(enum tr_logql_binop op)
{
    return op >= TR_LOGQL_OP_EQ && op <= TR_LOGQL_OP_LTE;
}

bool tr_logql_binop_is_set(enum tr_logql_binop op)
{
    return op == TR_LOGQL_OP_OR || op == TR_LOGQL_OP_AND ||
           op == TR_LOGQL_OP_UNLESS;
}

/* ---- freeing ----------------------------------------------------------- */

static void free_label_filter(struct tr_logql_label_filter *f)
{
    /* iterative on the right spine, recursive on the left: the parser
     * bounds the depth */
    while (f != NULL) {
        switch (f->kind) {
            case TR_LOGQL_LF_AND:
            case TR_LOGQL_LF_OR:
                free_label_filter(f->bin.left);
                f = f->bin.right;
                continue;
            case TR_LOGQL_LF_STRING:
                tr_matcher_free(&f->matcher);
                break;
            default:
                break;
        }
        return;
    }
}

static void free_log(struct tr_logql_log *l)
{
    for (size_t i = 0; i < l->n_matchers; i++) {
        tr_matcher_free(&l->matchers[i]);
    }
    l->n_matchers = 0;
    for (size_t i = 0; i < l->n_stages; i++) {
        struct tr_logql_stage *s = &l->stages[i];
        switch (s->kind) {
            case TR_LOGQL_STAGE_LINE_FILTER:
                for (size_t k = 0; k < s->line_filter.n_alts; k++) {
                    tr_regex_free(s->line_filter.alts[k].re);
                    s->line_filter.alts[k].re = NULL;
                }
                break;
            case TR_LOGQL_STAGE_LABEL_FILTER:
                free_label_filter(s->label_filter);
                break;
            case TR_LOGQL_STAGE_DROP:
            case TR_LOGQL_STAGE_KEEP:
                for (size_t k = 0; k < s->names.n_items; k++) {
                    if (s->names.items[k].has_matcher) {
                        tr_matcher_free(&s->names.items[k].matcher);
                        s->names.items[k].has_matcher = false;
                    }
                }
                break;
            default:
                break;
        }
    }
    l->n_stages = 0;
}

void tr_logql_ast_free(struct tr_logql_expr *e)
{
    while (e != NULL) {
        switch (e->kind) {
            case TR_LOGQL_EXPR_LOG:
                free_log(&e->log);
                return;
            case TR_LOGQL_EXPR_RANGE_AGGR:
                free_log(&e->range.log);
                if (e->range.has_unwrap) {
                    for (size_t i = 0; i < e->range.unwrap.n_post_filters;
                         i++) {
                        free_label_filter(e->range.unwrap.post_filters[i]);
                    }
                    e->range.unwrap.n_post_filters = 0;
                }
                return;
            case TR_LOGQL_EXPR_VECTOR_AGGR:
                e = e->vector_aggr.expr;
                continue;
            case TR_LOGQL_EXPR_BINARY:
                tr_logql_ast_free(e->binary.lhs);
                e = e->binary.rhs;
                continue;
            case TR_LOGQL_EXPR_LABEL_REPLACE:
                tr_regex_free(e->label_replace.re);
                e->label_replace.re = NULL;
                e = e->label_replace.expr;
                continue;
            default:
                return;
        }
    }
}
