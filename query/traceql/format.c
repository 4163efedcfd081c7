/* format.c - canonical TraceQL text of a parsed query.
 *
 * Binary and unary operations are parenthesised, but the outermost one
 * inside { } and a left operand of the same precedence level (so that
 * long chains do not nest); spanset operators get only the parentheses
 * their precedences need. The text parses back to the same tree. Literals
 * print so that they lex back to the same value (floats with a "." or
 * exponent, durations in the largest exact unit, minInt for the int64
 * minimum); attribute names that the lexer would split are quoted
 * (span."foo bar"). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/traceql/traceql_int.h"

void tr_tql_format_float(double v, struct tr_buf *b)
{
    char s[40];
    if (isnan(v)) {
        tr_buf_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        tr_buf_puts(b, v > 0 ? "Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(s, sizeof(s), "%.1f", v);
        tr_buf_puts(b, s);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(s, sizeof(s), "%.*g", prec, v);
        if (strtod(s, NULL) == v) {
            break;
        }
    }
    tr_buf_puts(b, s);
    if (!strpbrk(s, ".e")) {
        tr_buf_puts(b, ".0");
    }
}

static void format_duration(int64_t ns, struct tr_buf *b)
{
    static const struct {
        const char *u;
        uint64_t ns;
    } units[] = {
        {"h", 3600000000000ULL}, {"m", 60000000000ULL}, {"s", 1000000000ULL},
        {"ms", 1000000ULL},      {"us", 1000ULL},       {"ns", 1ULL},
    };
    uint64_t a = ns < 0 ? 0 - (uint64_t)ns : (uint64_t)ns;
    if (ns < 0) {
        tr_buf_putc(b, '-');
    }
    if (a == 0) {
        tr_buf_puts(b, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (a % units[i].ns == 0) {
            tr_buf_printf(b, "%" PRIu64 "%s", a / units[i].ns, units[i].u);
            return;
        }
    }
}

static void format_string(const char *s, size_t n, struct tr_buf *b)
{
    tr_buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            tr_buf_putc(b, '\\');
            tr_buf_putc(b, (char)c);
            i++;
        } else if (c == '\n') {
            tr_buf_puts(b, "\\n");
            i++;
        } else if (c == '\t') {
            tr_buf_puts(b, "\\t");
            i++;
        } else if (c == '\r') {
            tr_buf_puts(b, "\\r");
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            tr_buf_printf(b, "\\x%02x", c);
            i++;
        } else if (c < 0x80) {
            tr_buf_putc(b, (char)c);
            i++;
        } else {
            size_t w = tr_utf8_seq_len((const unsigned char *)s + i, n - i);
            if (w >= 2) {
                tr_buf_append(b, s + i, w);
                i += w;
            } else {
                tr_buf_printf(b, "\\x%02x", c);
                i++;
            }
        }
    }
    tr_buf_putc(b, '"');
}

void tr_tql_format_static(const struct tr_traceql_static *s, struct tr_buf *b)
{
    static const char *const status[] = {"error", "ok", "unset"};
    static const char *const kinds[] = {"unspecified", "internal", "server",
                                        "client",      "producer", "consumer"};
    switch (s->type) {
        case TR_TQL_TYPE_INT:
            if (s->v.i == INT64_MIN) {
                tr_buf_puts(b, "minInt");
            } else {
                tr_buf_printf(b, "%" PRId64, s->v.i);
            }
            break;
        case TR_TQL_TYPE_FLOAT:
            tr_tql_format_float(s->v.f, b);
            break;
        case TR_TQL_TYPE_DURATION:
            format_duration(s->v.i, b);
            break;
        case TR_TQL_TYPE_STRING:
            format_string(s->v.str.s, s->v.str.len, b);
            break;
        case TR_TQL_TYPE_BOOL:
            tr_buf_puts(b, s->v.b ? "true" : "false");
            break;
        case TR_TQL_TYPE_STATUS:
            tr_buf_puts(b, s->v.status >= 0 && s->v.status < 3
                               ? status[s->v.status]
                               : "?");
            break;
        case TR_TQL_TYPE_KIND:
            tr_buf_puts(
                b, s->v.kind >= 0 && s->v.kind < 6 ? kinds[s->v.kind] : "?");
            break;
        default:
            tr_buf_puts(b, "nil");
            break;
    }
}

/* The lexer would not read name back as one attribute name. */
static bool needs_quotes(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9')) {
        return true;
    }
    if ((n >= 5 && memcmp(s, "span.", 5) == 0) ||
        (n >= 9 && memcmp(s, "resource.", 9) == 0)) {
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || strchr("{}()=~!<>&|^,\"\\", c)) {
            return true;
        }
    }
    return false;
}

void tr_tql_format_attr(const struct tr_traceql_attr *a, struct tr_buf *b)
{
    static const char *const scopes[] = {
        "", "resource.", "span.", "event.", "link.", "instrumentation."};
    if (a->intrinsic != TR_TQL_INTR_NONE) {
        tr_buf_puts(b, tr_traceql_intrinsic_name(a->intrinsic));
        return;
    }
    if (a->parent) {
        tr_buf_puts(b, "parent.");
    }
    if (a->scope == TR_TQL_SCOPE_NONE) {
        if (!a->parent) {
            tr_buf_putc(b, '.');
        }
    } else if ((int)a->scope > 0 && (int)a->scope < 6) {
        tr_buf_puts(b, scopes[a->scope]);
    }
    if (!needs_quotes(a->name, a->name_len)) {
        tr_buf_append(b, a->name, a->name_len);
        return;
    }
    tr_buf_putc(b, '"');
    for (size_t i = 0; i < a->name_len; i++) {
        if (a->name[i] == '"' || a->name[i] == '\\') {
            tr_buf_putc(b, '\\');
        }
        tr_buf_putc(b, a->name[i]);
    }
    tr_buf_putc(b, '"');
}

/* Precedence level of a binary operator (higher binds tighter); an
 * operand on the left of the same level needs no parentheses (all are
 * left-associative but ^). */
static int op_level(enum tr_traceql_op op)
{
    switch (op) {
        case TR_TQL_OP_AND:
        case TR_TQL_OP_OR:
        case TR_TQL_OP_SS_AND:
        case TR_TQL_OP_SS_UNION:
            return 1;
        case TR_TQL_OP_ADD:
        case TR_TQL_OP_SUB:
            return 3;
        case TR_TQL_OP_MUL:
        case TR_TQL_OP_DIV:
        case TR_TQL_OP_MOD:
            return 5;
        case TR_TQL_OP_POW:
            return 6;
        default:
            return 2; /* comparisons; structural spanset operators */
    }
}

static bool bare_left(enum tr_traceql_op parent, enum tr_traceql_op child)
{
    return parent != TR_TQL_OP_POW && op_level(parent) == op_level(child);
}

static void format_field(const struct tr_traceql_field *f,
                         bool top,
                         struct tr_buf *b)
{
    switch (f->kind) {
        case TR_TQL_F_STATIC:
            tr_tql_format_static(&f->u.st, b);
            break;
        case TR_TQL_F_ATTR:
            tr_tql_format_attr(&f->u.attr, b);
            break;
        case TR_TQL_F_BINARY:
            if (!top) {
                tr_buf_putc(b, '(');
            }
            format_field(f->u.bin.lhs,
                         f->u.bin.lhs->kind == TR_TQL_F_BINARY &&
                             bare_left(f->u.bin.op, f->u.bin.lhs->u.bin.op),
                         b);
            tr_buf_printf(b, " %s ", tr_traceql_op_name(f->u.bin.op));
            format_field(f->u.bin.rhs, false, b);
            if (!top) {
                tr_buf_putc(b, ')');
            }
            break;
        case TR_TQL_F_UNARY:
            if (!top) {
                tr_buf_putc(b, '(');
            }
            if (f->u.un.op == TR_TQL_OP_EXISTS ||
                f->u.un.op == TR_TQL_OP_NOT_EXISTS) {
                format_field(f->u.un.e, false, b);
                tr_buf_puts(
                    b, f->u.un.op == TR_TQL_OP_EXISTS ? " != nil" : " = nil");
            } else {
                tr_buf_puts(b, f->u.un.op == TR_TQL_OP_SUB ? "-" : "!");
                format_field(f->u.un.e, false, b);
            }
            if (!top) {
                tr_buf_putc(b, ')');
            }
            break;
    }
}

void tr_tql_format_field(const struct tr_traceql_field *f, struct tr_buf *b)
{
    format_field(f, true, b);
}

static void format_pipeline(const struct tr_traceql_pipeline *pl,
                            struct tr_buf *b);

static void format_aggregate(const struct tr_traceql_scalar *s,
                             struct tr_buf *b)
{
    static const char *const names[] = {"count", "max", "min", "avg", "sum"};
    tr_buf_printf(b, "%s(", names[s->u.aggr.op]);
    if (s->u.aggr.e) {
        format_field(s->u.aggr.e, true, b);
    }
    tr_buf_putc(b, ')');
}

static void format_scalar(const struct tr_traceql_scalar *s,
                          bool bare,
                          struct tr_buf *b)
{
    switch (s->kind) {
        case TR_TQL_S_AGGREGATE:
            format_aggregate(s, b);
            break;
        case TR_TQL_S_STATIC:
            tr_tql_format_static(&s->u.st, b);
            break;
        case TR_TQL_S_BINARY:
            if (!bare) {
                tr_buf_putc(b, '(');
            }
            format_scalar(s->u.bin.lhs,
                          s->u.bin.lhs->kind == TR_TQL_S_BINARY &&
                              bare_left(s->u.bin.op, s->u.bin.lhs->u.bin.op),
                          b);
            tr_buf_printf(b, " %s ", tr_traceql_op_name(s->u.bin.op));
            format_scalar(s->u.bin.rhs, false, b);
            if (!bare) {
                tr_buf_putc(b, ')');
            }
            break;
        case TR_TQL_S_PIPELINE:
            tr_buf_putc(b, '(');
            format_pipeline(s->u.pipeline, b);
            tr_buf_putc(b, ')');
            break;
    }
}

static void format_sfilter(const struct tr_traceql_scalar_filter *f,
                           struct tr_buf *b)
{
    format_scalar(f->lhs, false, b);
    tr_buf_printf(b, " %s ", tr_traceql_op_name(f->op));
    format_scalar(f->rhs, false, b);
}

/* Spanset operators print with the parentheses their precedences need
 * only: an added pair could turn "({ .a })" after it into a spanset
 * expression where it was a pipeline (see parser.c). parent: the level of
 * the operator s is an operand of (0: none), right: s is its right
 * operand. */
static void format_spanset(const struct tr_traceql_spanset *s,
                           int parent,
                           bool right,
                           struct tr_buf *b)
{
    switch (s->kind) {
        case TR_TQL_SS_FILTER:
            tr_buf_puts(b, "{ ");
            format_field(s->u.filter, true, b);
            tr_buf_puts(b, " }");
            break;
        case TR_TQL_SS_OP: {
            int level = op_level(s->u.op.op);
            bool parens = level < parent || (right && level == parent);
            if (parens) {
                tr_buf_putc(b, '(');
            }
            format_spanset(s->u.op.lhs, level, false, b);
            tr_buf_printf(b, " %s ", tr_traceql_op_name(s->u.op.op));
            format_spanset(s->u.op.rhs, level, true, b);
            if (parens) {
                tr_buf_putc(b, ')');
            }
            break;
        }
        case TR_TQL_SS_PIPELINE:
            if (parent > 0) {
                tr_buf_putc(b, '(');
            }
            format_pipeline(s->u.pipeline, b);
            if (parent > 0) {
                tr_buf_putc(b, ')');
            }
            break;
    }
}

static void format_pipeline(const struct tr_traceql_pipeline *pl,
                            struct tr_buf *b)
{
    for (size_t i = 0; i < pl->n; i++) {
        const struct tr_traceql_stage *st = &pl->stages[i];
        if (i > 0) {
            tr_buf_puts(b, " | ");
        }
        switch (st->kind) {
            case TR_TQL_STAGE_SPANSET:
                format_spanset(st->u.spanset, 0, false, b);
                break;
            case TR_TQL_STAGE_SCALAR_FILTER:
                format_sfilter(&st->u.sfilter, b);
                break;
            case TR_TQL_STAGE_GROUP:
                tr_buf_puts(b, "by(");
                format_field(st->u.group, true, b);
                tr_buf_putc(b, ')');
                break;
            case TR_TQL_STAGE_COALESCE:
                tr_buf_puts(b, "coalesce()");
                break;
            case TR_TQL_STAGE_SELECT:
                tr_buf_puts(b, "select(");
                for (size_t k = 0; k < st->u.select.n; k++) {
                    if (k > 0) {
                        tr_buf_puts(b, ", ");
                    }
                    tr_tql_format_attr(&st->u.select.attrs[k], b);
                }
                tr_buf_putc(b, ')');
                break;
            case TR_TQL_STAGE_AGGREGATE:
                format_aggregate(st->u.aggregate, b);
                break;
        }
    }
}

static void format_metrics_agg(const struct tr_traceql_metrics_agg *m,
                               struct tr_buf *b)
{
    static const char *const names[] = {"rate",
                                        "count_over_time",
                                        "min_over_time",
                                        "max_over_time",
                                        "avg_over_time",
                                        "sum_over_time",
                                        "quantile_over_time",
                                        "histogram_over_time",
                                        "compare"};
    tr_buf_printf(b, "%s(", names[m->fn]);
    if (m->fn == TR_TQL_M_COMPARE) {
        format_spanset(m->compare, 0, false, b);
        if (m->n_compare_args >= 2) {
            tr_buf_printf(b, ", %" PRId64, m->topn);
        }
        if (m->n_compare_args >= 4) {
            tr_buf_printf(b, ", %" PRId64 ", %" PRId64, m->start, m->end);
        }
        tr_buf_putc(b, ')');
        return;
    }
    if (m->has_attr) {
        tr_tql_format_attr(&m->attr, b);
    }
    for (size_t i = 0; i < m->n_quantiles; i++) {
        tr_buf_puts(b, ", ");
        tr_tql_format_float(m->quantiles[i], b);
    }
    tr_buf_putc(b, ')');
    if (m->n_by > 0) {
        tr_buf_puts(b, " by (");
        for (size_t i = 0; i < m->n_by; i++) {
            if (i > 0) {
                tr_buf_puts(b, ", ");
            }
            tr_tql_format_attr(&m->by[i], b);
        }
        tr_buf_putc(b, ')');
    }
}

static void format_metrics(const struct tr_traceql_metrics *m,
                           bool top,
                           bool bare,
                           struct tr_buf *b)
{
    switch (m->kind) {
        case TR_TQL_ME_PIPELINE:
            if (!top) {
                tr_buf_putc(b, '(');
            }
            format_pipeline(m->pipeline, b);
            tr_buf_puts(b, " | ");
            format_metrics_agg(&m->agg, b);
            break;
        case TR_TQL_ME_BINARY:
            if (!bare) {
                tr_buf_putc(b, '(');
            }
            format_metrics(m->lhs, false,
                           m->lhs->kind == TR_TQL_ME_BINARY &&
                               m->lhs->n_stages == 0 &&
                               bare_left(m->op, m->lhs->op),
                           b);
            tr_buf_printf(b, " %s ", tr_traceql_op_name(m->op));
            format_metrics(m->rhs, false, false, b);
            if (!bare) {
                tr_buf_putc(b, ')');
            }
            break;
        case TR_TQL_ME_SCALAR:
            tr_tql_format_float(m->value, b);
            break;
    }
    for (size_t i = 0; i < m->n_stages; i++) {
        const struct tr_traceql_second_stage *s = &m->stages[i];
        if (s->kind == TR_TQL_2ND_FILTER) {
            tr_buf_printf(b, " %s ", tr_traceql_op_name(s->op));
            tr_tql_format_float(s->value, b);
        } else {
            tr_buf_printf(b, " | %s(%" PRId64 ")",
                          s->kind == TR_TQL_2ND_TOPK ? "topk" : "bottomk",
                          s->limit);
        }
    }
    if (m->kind == TR_TQL_ME_PIPELINE && !top) {
        tr_buf_putc(b, ')');
    }
}

void tr_traceql_format(const struct tr_traceql_query *q, struct tr_buf *b)
{
    switch (q->kind) {
        case TR_TQL_Q_SPANSET:
            format_spanset(q->spanset, 0, false, b);
            break;
        case TR_TQL_Q_SCALAR_FILTER:
            format_sfilter(&q->sfilter, b);
            break;
        case TR_TQL_Q_METRICS:
            format_metrics(q->metrics, true, false, b);
            break;
    }
    if (q->n_hints > 0) {
        tr_buf_puts(b, " with(");
        for (size_t i = 0; i < q->n_hints; i++) {
            if (i > 0) {
                tr_buf_puts(b, ", ");
            }
            tr_buf_printf(b, "%s=", q->hints[i].name);
            tr_tql_format_static(&q->hints[i].value, b);
        }
        tr_buf_putc(b, ')');
    }
}
