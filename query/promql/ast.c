/* ast.c - PromQL AST helpers and the canonical formatter (Prometheus 2.53
 * promql/parser/printer.go String() forms). */
#include "query/promql/ast.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/json.h"

void tr_promql_ast_free(struct tr_promql_node *n)
{
    if (n == NULL) {
        return;
    }
    switch (n->kind) {
        case TR_PROMQL_NODE_VECTOR_SEL:
            for (size_t i = 0; i < n->vs.n_matchers; i++) {
                tr_matcher_free(&n->vs.matchers[i]);
            }
            n->vs.n_matchers = 0;
            break;
        case TR_PROMQL_NODE_MATRIX_SEL:
            tr_promql_ast_free(n->ms.vs);
            break;
        case TR_PROMQL_NODE_SUBQUERY:
            tr_promql_ast_free(n->sq.expr);
            break;
        case TR_PROMQL_NODE_UNARY:
            tr_promql_ast_free(n->unary.expr);
            break;
        case TR_PROMQL_NODE_BINARY:
            tr_promql_ast_free(n->bin.lhs);
            tr_promql_ast_free(n->bin.rhs);
            break;
        case TR_PROMQL_NODE_AGGREGATE:
            tr_promql_ast_free(n->agg.param);
            tr_promql_ast_free(n->agg.expr);
            break;
        case TR_PROMQL_NODE_CALL:
            for (size_t i = 0; i < n->call.n_args; i++) {
                tr_promql_ast_free(n->call.args[i]);
            }
            break;
        case TR_PROMQL_NODE_PAREN:
            tr_promql_ast_free(n->paren.expr);
            break;
        case TR_PROMQL_NODE_NUMBER:
        case TR_PROMQL_NODE_STRING:
            break;
    }
}

const char *tr_promql_aggr_name(enum tr_promql_aggr op)
{
    static const char *const names[] = {
        "sum",    "avg",    "count", "min",     "max",          "group",
        "stddev", "stdvar", "topk",  "bottomk", "count_values", "quantile",
    };
    return (size_t)op < sizeof(names) / sizeof(names[0]) ? names[op] : "?";
}

const char *tr_promql_binop_name(enum tr_promql_tok op)
{
    switch (op) {
        case TR_PROMQL_ADD:
            return "+";
        case TR_PROMQL_SUB:
            return "-";
        case TR_PROMQL_MUL:
            return "*";
        case TR_PROMQL_DIV:
            return "/";
        case TR_PROMQL_MOD:
            return "%";
        case TR_PROMQL_POW:
            return "^";
        case TR_PROMQL_EQLC:
            return "==";
        case TR_PROMQL_NEQ:
            return "!=";
        case TR_PROMQL_LSS:
            return "<";
        case TR_PROMQL_LTE:
            return "<=";
        case TR_PROMQL_GTR:
            return ">";
        case TR_PROMQL_GTE:
            return ">=";
        case TR_PROMQL_LAND:
            return "and";
        case TR_PROMQL_LOR:
            return "or";
        case TR_PROMQL_LUNLESS:
            return "unless";
        case TR_PROMQL_ATAN2:
            return "atan2";
        default:
            return "?";
    }
}

const char *tr_promql_type_doc(enum tr_promql_type t)
{
    switch (t) {
        case TR_PROMQL_TYPE_SCALAR:
            return "scalar";
        case TR_PROMQL_TYPE_VECTOR:
            return "instant vector";
        case TR_PROMQL_TYPE_MATRIX:
            return "range vector";
        case TR_PROMQL_TYPE_STRING:
            return "string";
        default:
            return "none";
    }
}

const char *tr_promql_type_name(enum tr_promql_type t)
{
    switch (t) {
        case TR_PROMQL_TYPE_SCALAR:
            return "scalar";
        case TR_PROMQL_TYPE_VECTOR:
            return "vector";
        case TR_PROMQL_TYPE_MATRIX:
            return "matrix";
        case TR_PROMQL_TYPE_STRING:
            return "string";
        default:
            return "none";
    }
}

bool tr_promql_op_is_comparison(enum tr_promql_tok op)
{
    return op == TR_PROMQL_EQLC || op == TR_PROMQL_NEQ || op == TR_PROMQL_LSS ||
           op == TR_PROMQL_LTE || op == TR_PROMQL_GTR || op == TR_PROMQL_GTE;
}

bool tr_promql_op_is_set(enum tr_promql_tok op)
{
    return op == TR_PROMQL_LAND || op == TR_PROMQL_LOR ||
           op == TR_PROMQL_LUNLESS;
}

/* ---- scalar formatting
 * ------------------------------------------------------------------ */

void tr_promql_format_duration(int64_t ms, struct tr_buf *out)
{
    static const struct {
        const char *unit;
        int64_t mult;
        bool exact;
    } units[] = {
        {"y", 1000LL * 60 * 60 * 24 * 365, true},
        {"w", 1000LL * 60 * 60 * 24 * 7, true},
        {"d", 1000LL * 60 * 60 * 24, false},
        {"h", 1000LL * 60 * 60, false},
        {"m", 1000LL * 60, false},
        {"s", 1000LL, false},
        {"ms", 1, false},
    };
    if (ms == 0) {
        tr_buf_puts(out, "0s");
        return;
    }
    uint64_t left = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    if (ms < 0) {
        tr_buf_putc(out, '-');
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        uint64_t mult = (uint64_t)units[i].mult;
        if (units[i].exact && left % mult != 0) {
            continue;
        }
        uint64_t v = left / mult;
        if (v > 0) {
            tr_buf_printf(out, "%llu%s", (unsigned long long)v, units[i].unit);
            left -= v * mult;
        }
    }
}

void tr_promql_format_float(double v, struct tr_buf *out)
{
    /* Go's FormatFloat(v, 'f', -1, 64); NaN, +Inf, -Inf and -0 alike */
    char tmp[TR_DOUBLE_BUF];
    size_t n = tr_format_double(tmp, v);
    tr_buf_append(out, tmp, n);
}

/* Decodes one UTF-8 rune at s[i]; -1 (width 1) for an invalid byte. */
static int32_t utf8_rune(const unsigned char *s, size_t n, size_t i, size_t *w)
{
    unsigned c = s[i];
    *w = 1;
    if (c < 0x80) {
        return (int32_t)c;
    }
    size_t len;
    uint32_t r, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, r = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, r = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, r = c & 0x07, min = 0x10000;
    } else {
        return -1;
    }
    if (i + len > n) {
        return -1;
    }
    for (size_t j = 1; j < len; j++) {
        if ((s[i + j] & 0xC0) != 0x80) {
            return -1;
        }
        r = (r << 6) | (s[i + j] & 0x3F);
    }
    if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) {
        return -1;
    }
    *w = len;
    return (int32_t)r;
}

void tr_promql_format_quote(const char *s, size_t n, struct tr_buf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    tr_buf_putc(out, '"');
    for (size_t i = 0; i < n;) {
        size_t w;
        int32_t r = utf8_rune(u, n, i, &w);
        if (r < 0) {
            tr_buf_printf(out, "\\x%02x", u[i]);
            i++;
            continue;
        }
        i += w;
        switch (r) {
            case '\a':
                tr_buf_puts(out, "\\a");
                continue;
            case '\b':
                tr_buf_puts(out, "\\b");
                continue;
            case '\f':
                tr_buf_puts(out, "\\f");
                continue;
            case '\n':
                tr_buf_puts(out, "\\n");
                continue;
            case '\r':
                tr_buf_puts(out, "\\r");
                continue;
            case '\t':
                tr_buf_puts(out, "\\t");
                continue;
            case '\v':
                tr_buf_puts(out, "\\v");
                continue;
            case '\\':
                tr_buf_puts(out, "\\\\");
                continue;
            case '"':
                tr_buf_puts(out, "\\\"");
                continue;
            default:
                break;
        }
        if (r < 0x20 || r == 0x7F) {
            tr_buf_printf(out, "\\x%02x", (unsigned)r);
        } else if ((r >= 0x80 && r < 0xA0) || r == 0xAD ||
                   (r >= 0x2028 && r <= 0x2029) || r == 0xFEFF ||
                   (r >= 0xFFF9 && r <= 0xFFFB) || r == 0xFFFE || r == 0xFFFF) {
            tr_buf_printf(out, "\\u%04x", (unsigned)r);
        } else {
            tr_buf_append(out, s + i - w, w);
        }
    }
    tr_buf_putc(out, '"');
}

/* ---- node formatting
 * ------------------------------------------------------------------ */

static void put_labels(const struct tr_promql_labels *l, struct tr_buf *out)
{
    for (size_t i = 0; i < l->n; i++) {
        if (i > 0) {
            tr_buf_puts(out, ", ");
        }
        tr_buf_puts(out, l->names[i]);
    }
}

static void put_at_offset(enum tr_promql_at at,
                          int64_t at_ms,
                          int64_t offset_ms,
                          struct tr_buf *out)
{
    switch (at) {
        case TR_PROMQL_AT_TIMESTAMP:
            tr_buf_printf(out, " @ %.3f", (double)at_ms / 1000.0);
            break;
        case TR_PROMQL_AT_START:
            tr_buf_puts(out, " @ start()");
            break;
        case TR_PROMQL_AT_END:
            tr_buf_puts(out, " @ end()");
            break;
        case TR_PROMQL_AT_NONE:
            break;
    }
    if (offset_ms != 0) {
        tr_buf_puts(out, " offset ");
        tr_promql_format_duration(offset_ms, out);
    }
}

static const char *match_op(enum tr_match_type t)
{
    switch (t) {
        case TR_MATCH_EQ:
            return "=";
        case TR_MATCH_NEQ:
            return "!=";
        case TR_MATCH_RE:
            return "=~";
        case TR_MATCH_NRE:
            return "!~";
    }
    return "?";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* name{sorted matchers} without modifiers. */
static void put_selector(const struct tr_promql_node *n, struct tr_buf *out)
{
    if (n->vs.name != NULL) {
        tr_buf_puts(out, n->vs.name);
    }
    size_t cnt = 0;
    char **strs = n->vs.n_matchers > 0
                      ? tr_calloc(n->vs.n_matchers, sizeof(*strs))
                      : NULL;
    if (n->vs.n_matchers > 0 && strs == NULL) {
        out->oom = true;
        return;
    }
    for (size_t i = 0; i < n->vs.n_matchers; i++) {
        const struct tr_matcher *m = &n->vs.matchers[i];
        if (n->vs.name != NULL && m->type == TR_MATCH_EQ &&
            strcmp(m->name, "__name__") == 0 &&
            m->value_len == strlen(n->vs.name) &&
            memcmp(m->value, n->vs.name, m->value_len) == 0) {
            continue;
        }
        struct tr_buf b;
        tr_buf_init(&b);
        tr_buf_puts(&b, m->name);
        tr_buf_puts(&b, match_op(m->type));
        tr_promql_format_quote(m->value, m->value_len, &b);
        if (b.oom) {
            tr_buf_free(&b);
            out->oom = true;
            continue;
        }
        strs[cnt++] = tr_buf_steal(&b, NULL);
    }
    if (cnt > 0) {
        qsort(strs, cnt, sizeof(*strs), cmp_str);
        tr_buf_putc(out, '{');
        for (size_t i = 0; i < cnt; i++) {
            if (i > 0) {
                tr_buf_putc(out, ',');
            }
            tr_buf_puts(out, strs[i]);
            tr_free(strs[i]);
        }
        tr_buf_putc(out, '}');
    }
    tr_free(strs);
}

void tr_promql_format(const struct tr_promql_node *n, struct tr_buf *out)
{
    if (n == NULL) {
        return;
    }
    switch (n->kind) {
        case TR_PROMQL_NODE_NUMBER:
            tr_promql_format_float(n->num.val, out);
            break;
        case TR_PROMQL_NODE_STRING:
            tr_promql_format_quote(n->str.val, n->str.len, out);
            break;
        case TR_PROMQL_NODE_VECTOR_SEL:
            put_selector(n, out);
            put_at_offset(n->vs.at, n->vs.at_ms, n->vs.offset_ms, out);
            break;
        case TR_PROMQL_NODE_MATRIX_SEL: {
            const struct tr_promql_node *vs = n->ms.vs;
            put_selector(vs, out);
            tr_buf_putc(out, '[');
            tr_promql_format_duration(n->ms.range_ms, out);
            tr_buf_putc(out, ']');
            put_at_offset(vs->vs.at, vs->vs.at_ms, vs->vs.offset_ms, out);
            break;
        }
        case TR_PROMQL_NODE_SUBQUERY:
            tr_promql_format(n->sq.expr, out);
            tr_buf_putc(out, '[');
            tr_promql_format_duration(n->sq.range_ms, out);
            tr_buf_putc(out, ':');
            if (n->sq.step_ms != 0) {
                tr_promql_format_duration(n->sq.step_ms, out);
            }
            tr_buf_putc(out, ']');
            put_at_offset(n->sq.at, n->sq.at_ms, n->sq.offset_ms, out);
            break;
        case TR_PROMQL_NODE_UNARY:
            tr_buf_puts(out, n->unary.op == TR_PROMQL_SUB ? "-" : "+");
            tr_promql_format(n->unary.expr, out);
            break;
        case TR_PROMQL_NODE_BINARY:
            /* Prometheus prints +Inf as "+Inf", which re-parses as unary
             * plus over the whole ^ expression ("+Inf ^ 2" is +(Inf ^ 2));
             * print the left operand of ^ as "Inf" so that the canonical
             * form is stable (the only deviation from Prometheus). */
            if (n->bin.op == TR_PROMQL_POW &&
                n->bin.lhs->kind == TR_PROMQL_NODE_NUMBER &&
                isinf(n->bin.lhs->num.val) && n->bin.lhs->num.val > 0) {
                tr_buf_puts(out, "Inf");
            } else {
                tr_promql_format(n->bin.lhs, out);
            }
            tr_buf_putc(out, ' ');
            tr_buf_puts(out, tr_promql_binop_name(n->bin.op));
            if (n->bin.return_bool) {
                tr_buf_puts(out, " bool");
            }
            if (n->bin.has_matching && (n->bin.matching.n > 0 || n->bin.on)) {
                tr_buf_puts(out, n->bin.on ? " on (" : " ignoring (");
                put_labels(&n->bin.matching, out);
                tr_buf_putc(out, ')');
                if (n->bin.card == TR_PROMQL_CARD_MANY_TO_ONE ||
                    n->bin.card == TR_PROMQL_CARD_ONE_TO_MANY) {
                    tr_buf_puts(out, n->bin.card == TR_PROMQL_CARD_MANY_TO_ONE
                                         ? " group_left ("
                                         : " group_right (");
                    put_labels(&n->bin.include, out);
                    tr_buf_putc(out, ')');
                }
            }
            tr_buf_putc(out, ' ');
            tr_promql_format(n->bin.rhs, out);
            break;
        case TR_PROMQL_NODE_AGGREGATE:
            tr_buf_puts(out, tr_promql_aggr_name(n->agg.op));
            if (n->agg.without || n->agg.grouping.n > 0) {
                tr_buf_puts(out, n->agg.without ? " without (" : " by (");
                put_labels(&n->agg.grouping, out);
                tr_buf_puts(out, ") ");
            }
            tr_buf_putc(out, '(');
            if (n->agg.param != NULL) {
                tr_promql_format(n->agg.param, out);
                tr_buf_puts(out, ", ");
            }
            tr_promql_format(n->agg.expr, out);
            tr_buf_putc(out, ')');
            break;
        case TR_PROMQL_NODE_CALL:
            tr_buf_puts(out, n->call.func->name);
            tr_buf_putc(out, '(');
            for (size_t i = 0; i < n->call.n_args; i++) {
                if (i > 0) {
                    tr_buf_puts(out, ", ");
                }
                tr_promql_format(n->call.args[i], out);
            }
            tr_buf_putc(out, ')');
            break;
        case TR_PROMQL_NODE_PAREN:
            tr_buf_putc(out, '(');
            tr_promql_format(n->paren.expr, out);
            tr_buf_putc(out, ')');
            break;
    }
}
