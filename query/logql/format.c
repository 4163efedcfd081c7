/* format.c - Loki's canonical String() form of a LogQL tree.
 *
 * Known differences from Loki: a string label filter with a regex is
 * always printed as its matcher (name=~"re"), where Loki prints some with
 * backquotes after its regex simplifier had a look; label names are never
 * quoted. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lib/dtoa.h"
#include "query/logql/ast.h"
#include "query/promql/ast.h"

static void quote(struct tr_buf *out, const char *s, size_t n)
{
    tr_promql_format_quote(s, n, out);
}

/* Go's strconv.FormatFloat(v, 'g', -1, 64), the %v of fmt.Sprint. */
static void format_g(double v, struct tr_buf *out)
{
    if (isnan(v)) {
        tr_buf_puts(out, "NaN");
        return;
    }
    if (isinf(v)) {
        tr_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == 0) {
        tr_buf_puts(out, signbit(v) ? "-0" : "0");
        return;
    }
    char d[17];
    int exp10;
    int nd = tr_dtoa_shortest(v, d, &exp10);
    if (v < 0) {
        tr_buf_putc(out, '-');
    }
    if (exp10 < -4 || exp10 >= 6) { /* Go: shortest %g switches at 6 */
        tr_buf_putc(out, d[0]);
        if (nd > 1) {
            tr_buf_putc(out, '.');
            tr_buf_append(out, d + 1, (size_t)nd - 1);
        }
        int e = exp10;
        tr_buf_printf(out, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
        return;
    }
    if (exp10 < 0) {
        tr_buf_puts(out, "0.");
        for (int i = -1; i > exp10; i--) {
            tr_buf_putc(out, '0');
        }
        tr_buf_append(out, d, (size_t)nd);
        return;
    }
    for (int i = 0; i <= exp10 || i < nd; i++) {
        if (i == exp10 + 1) {
            tr_buf_putc(out, '.');
        }
        tr_buf_putc(out, i < nd ? d[i] : '0');
    }
}

/* Go's time.Duration.String(): "1h0m0s", "1.5s", "250ms", "0s". */
static void format_go_duration(int64_t ns, struct tr_buf *out)
{
    char buf[40];
    size_t w = sizeof(buf);
    uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    /* fraction of u / 10^prec into buf before w, trailing zeros dropped */
#define FRAC(prec)                               \
    do {                                         \
        bool print = false;                      \
        for (int i_ = 0; i_ < (prec); i_++) {    \
            unsigned digit = (unsigned)(u % 10); \
            print = print || digit != 0;         \
            if (print) {                         \
                buf[--w] = (char)('0' + digit);  \
            }                                    \
            u /= 10;                             \
        }                                        \
        if (print) {                             \
            buf[--w] = '.';                      \
        }                                        \
    } while (0)
#define INT(v)                                \
    do {                                      \
        uint64_t v_ = (v);                    \
        if (v_ == 0) {                        \
            buf[--w] = '0';                   \
        }                                     \
        while (v_ > 0) {                      \
            buf[--w] = (char)('0' + v_ % 10); \
            v_ /= 10;                         \
        }                                     \
    } while (0)
    if (u < 1000000000ULL) {
        buf[--w] = 's';
        if (u == 0) {
            tr_buf_puts(out, "0s");
            return;
        }
        if (u < 1000) {
            buf[--w] = 'n';
            INT(u);
        } else if (u < 1000000) {
            w -= 2;
            memcpy(buf + w, "\xc2\xb5", 2);
            FRAC(3);
            INT(u);
        } else {
            buf[--w] = 'm';
            FRAC(6);
            INT(u);
        }
    } else {
        buf[--w] = 's';
        FRAC(9);
        INT(u % 60);
        u /= 60;
        if (u > 0) {
            buf[--w] = 'm';
            INT(u % 60);
            u /= 60;
            if (u > 0) {
                buf[--w] = 'h';
                INT(u);
            }
        }
    }
#undef FRAC
#undef INT
    if (ns < 0) {
        buf[--w] = '-';
    }
    tr_buf_append(out, buf + w, sizeof(buf) - w);
}

/* go-humanize's Bytes() without its space: "20MB", "1.0kB", "5B". */
static void format_bytes(uint64_t s, struct tr_buf *out)
{
    static const char *const sizes[] = {"B",  "kB", "MB", "GB",
                                        "TB", "PB", "EB"};
    if (s < 10) {
        tr_buf_printf(out, "%lluB", (unsigned long long)s);
        return;
    }
    double e = floor(log((double)s) / log(1000.0));
    if (e > 6) {
        e = 6;
    }
    double val = floor((double)s / pow(1000.0, e) * 10 + 0.5) / 10;
    tr_buf_printf(out, val < 10 ? "%.1f%s" : "%.0f%s", val, sizes[(int)e]);
}

static void format_matcher(const struct tr_matcher *m, struct tr_buf *out)
{
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    tr_buf_puts(out, m->name);
    tr_buf_puts(out, ops[m->type]);
    quote(out, m->value, m->value_len);
}

static void format_labels(const struct tr_logql_labels *l, struct tr_buf *out)
{
    for (size_t i = 0; i < l->n; i++) {
        if (i > 0) {
            tr_buf_putc(out, ',');
        }
        tr_buf_puts(out, l->names[i]);
    }
}

static void format_grouping(const struct tr_logql_grouping *g,
                            struct tr_buf *out)
{
    tr_buf_puts(out, g->without ? " without (" : " by (");
    format_labels(&g->labels, out);
    tr_buf_putc(out, ')');
}

void tr_logql_format_label_filter(const struct tr_logql_label_filter *f,
                                  struct tr_buf *out)
{
    switch (f->kind) {
        case TR_LOGQL_LF_AND:
        case TR_LOGQL_LF_OR:
            tr_buf_puts(out, "( ");
            tr_logql_format_label_filter(f->bin.left, out);
            tr_buf_puts(out, f->kind == TR_LOGQL_LF_AND ? " , " : " or ");
            tr_logql_format_label_filter(f->bin.right, out);
            tr_buf_puts(out, " )");
            return;
        case TR_LOGQL_LF_STRING:
            format_matcher(&f->matcher, out);
            return;
        case TR_LOGQL_LF_NUMBER:
            tr_buf_puts(out, f->number.name);
            tr_buf_puts(out, tr_logql_cmp_name(f->number.op));
            tr_promql_format_float(f->number.value, out);
            return;
        case TR_LOGQL_LF_DURATION:
            tr_buf_puts(out, f->duration.name);
            tr_buf_puts(out, tr_logql_cmp_name(f->duration.op));
            format_go_duration(f->duration.ns, out);
            return;
        case TR_LOGQL_LF_BYTES:
            tr_buf_puts(out, f->bytes.name);
            tr_buf_puts(out, tr_logql_cmp_name(f->bytes.op));
            format_bytes(f->bytes.bytes, out);
            return;
        case TR_LOGQL_LF_IP:
            tr_buf_puts(out, f->ip.name);
            tr_buf_puts(out, f->ip.negate ? "!=ip(" : "=ip(");
            quote(out, f->ip.pattern, f->ip.pattern_len);
            tr_buf_putc(out, ')');
            return;
    }
}

static void format_extracts(const struct tr_logql_extract *x,
                            size_t n,
                            struct tr_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            tr_buf_putc(out, ',');
        }
        tr_buf_puts(out, x[i].label);
        tr_buf_putc(out, '=');
        quote(out, x[i].expr, x[i].expr_len);
    }
}

void tr_logql_format_stage(const struct tr_logql_stage *s, struct tr_buf *out)
{
    switch (s->kind) {
        case TR_LOGQL_STAGE_LINE_FILTER:
            tr_buf_puts(out, tr_logql_line_op_name(s->line_filter.op));
            for (size_t i = 0; i < s->line_filter.n_alts; i++) {
                const struct tr_logql_line_alt *a = &s->line_filter.alts[i];
                tr_buf_puts(out, i == 0 ? " " : " or ");
                if (a->ip) {
                    tr_buf_puts(out, "ip(");
                    quote(out, a->text, a->len);
                    tr_buf_putc(out, ')');
                } else {
                    quote(out, a->text, a->len);
                }
            }
            return;
        case TR_LOGQL_STAGE_JSON:
            tr_buf_puts(out, "| json");
            if (s->json.n_params > 0) {
                tr_buf_putc(out, ' ');
                format_extracts(s->json.params, s->json.n_params, out);
            }
            return;
        case TR_LOGQL_STAGE_LOGFMT:
            tr_buf_puts(out, "| logfmt");
            if (s->logfmt.n_params == 0) {
                if (s->logfmt.strict) {
                    tr_buf_puts(out, " --strict");
                }
                if (s->logfmt.keep_empty) {
                    tr_buf_puts(out, " --keep-empty");
                }
                return;
            }
            tr_buf_putc(out, ' ');
            if (s->logfmt.strict) {
                tr_buf_puts(out, "--strict ");
            }
            if (s->logfmt.keep_empty) {
                tr_buf_puts(out, "--keep-empty ");
            }
            format_extracts(s->logfmt.params, s->logfmt.n_params, out);
            return;
        case TR_LOGQL_STAGE_REGEXP:
            tr_buf_puts(out, "| regexp ");
            quote(out, s->regexp.re, s->regexp.len);
            return;
        case TR_LOGQL_STAGE_PATTERN:
            tr_buf_puts(out, "| pattern ");
            quote(out, s->pattern.text, s->pattern.len);
            return;
        case TR_LOGQL_STAGE_UNPACK:
            tr_buf_puts(out, "| unpack");
            return;
        case TR_LOGQL_STAGE_LABEL_FILTER:
            tr_buf_puts(out, "| ");
            tr_logql_format_label_filter(s->label_filter, out);
            return;
        case TR_LOGQL_STAGE_LINE_FORMAT:
            tr_buf_puts(out, "| line_format ");
            quote(out, s->line_format.tmpl, s->line_format.len);
            return;
        case TR_LOGQL_STAGE_LABEL_FORMAT:
            tr_buf_puts(out, "| label_format ");
            for (size_t i = 0; i < s->label_format.n_fmts; i++) {
                const struct tr_logql_label_fmt *f = &s->label_format.fmts[i];
                if (i > 0) {
                    tr_buf_putc(out, ',');
                }
                tr_buf_puts(out, f->dst);
                tr_buf_putc(out, '=');
                if (f->rename) {
                    tr_buf_puts(out, f->value);
                } else {
                    quote(out, f->value, f->value_len);
                }
            }
            return;
        case TR_LOGQL_STAGE_DECOLORIZE:
            tr_buf_puts(out, "| decolorize");
            return;
        case TR_LOGQL_STAGE_DROP:
        case TR_LOGQL_STAGE_KEEP:
            tr_buf_puts(out,
                        s->kind == TR_LOGQL_STAGE_DROP ? "| drop " : "| keep ");
            for (size_t i = 0; i < s->names.n_items; i++) {
                const struct tr_logql_named_matcher *it = &s->names.items[i];
                if (i > 0) {
                    tr_buf_putc(out, ',');
                }
                if (it->has_matcher) {
                    format_matcher(&it->matcher, out);
                } else {
                    tr_buf_puts(out, it->name);
                }
            }
            return;
    }
}

static void format_log(const struct tr_logql_log *l, struct tr_buf *out)
{
    tr_buf_putc(out, '{');
    for (size_t i = 0; i < l->n_matchers; i++) {
        if (i > 0) {
            tr_buf_puts(out, ", ");
        }
        format_matcher(&l->matchers[i], out);
    }
    tr_buf_putc(out, '}');
    for (size_t i = 0; i < l->n_stages; i++) {
        tr_buf_putc(out, ' ');
        tr_logql_format_stage(&l->stages[i], out);
    }
}

void tr_logql_format(const struct tr_logql_expr *e, struct tr_buf *out)
{
    switch (e->kind) {
        case TR_LOGQL_EXPR_LOG:
            format_log(&e->log, out);
            return;
        case TR_LOGQL_EXPR_RANGE_AGGR:
            tr_buf_puts(out, tr_logql_range_op_name(e->range.op));
            tr_buf_putc(out, '(');
            if (e->range.has_param) {
                tr_promql_format_float(e->range.param, out);
                tr_buf_putc(out, ',');
            }
            format_log(&e->range.log, out);
            if (e->range.has_unwrap) {
                const struct tr_logql_unwrap *u = &e->range.unwrap;
                tr_buf_puts(out, " | unwrap ");
                if (u->conv != TR_LOGQL_CONV_NONE) {
                    tr_buf_printf(out, "%s(%s)", tr_logql_conv_name(u->conv),
                                  u->label);
                } else {
                    tr_buf_puts(out, u->label);
                }
                for (size_t i = 0; i < u->n_post_filters; i++) {
                    tr_buf_puts(out, " | ");
                    tr_logql_format_label_filter(u->post_filters[i], out);
                }
            }
            tr_buf_putc(out, '[');
            tr_promql_format_duration(e->range.range_ns / 1000000, out);
            tr_buf_putc(out, ']');
            if (e->range.offset_ns != 0) {
                tr_buf_puts(out, " offset ");
                format_go_duration(e->range.offset_ns, out);
            }
            tr_buf_putc(out, ')');
            if (e->range.grouping.present) {
                format_grouping(&e->range.grouping, out);
            }
            return;
        case TR_LOGQL_EXPR_VECTOR_AGGR: {
            const struct tr_logql_grouping *g = &e->vector_aggr.grouping;
            enum tr_logql_vector_op op = e->vector_aggr.op;
            tr_buf_puts(out, tr_logql_vector_op_name(op));
            if (g->present && (g->without || g->labels.n > 0)) {
                format_grouping(g, out);
            }
            tr_buf_putc(out, '(');
            if (op == TR_LOGQL_VEC_TOPK || op == TR_LOGQL_VEC_BOTTOMK ||
                op == TR_LOGQL_VEC_APPROX_TOPK || e->vector_aggr.k != 0) {
                tr_buf_printf(out, "%lld,", (long long)e->vector_aggr.k);
            }
            tr_logql_format(e->vector_aggr.expr, out);
            tr_buf_putc(out, ')');
            return;
        }
        case TR_LOGQL_EXPR_BINARY: {
            tr_buf_putc(out, '(');
            tr_logql_format(e->binary.lhs, out);
            tr_buf_putc(out, ' ');
            tr_buf_puts(out, tr_logql_binop_name(e->binary.op));
            if (e->binary.return_bool) {
                tr_buf_puts(out, " bool");
            }
            if (e->binary.on || e->binary.matching.n > 0) {
                tr_buf_puts(out, e->binary.on ? " on (" : " ignoring (");
                format_labels(&e->binary.matching, out);
                tr_buf_puts(out, ") ");
                if (e->binary.card == TR_LOGQL_CARD_MANY_TO_ONE) {
                    tr_buf_puts(out, "group_left");
                } else if (e->binary.card == TR_LOGQL_CARD_ONE_TO_MANY) {
                    tr_buf_puts(out, "group_right");
                }
                if (e->binary.has_include) {
                    tr_buf_puts(out, " (");
                    format_labels(&e->binary.include, out);
                    tr_buf_putc(out, ')');
                }
            }
            tr_buf_putc(out, ' ');
            tr_logql_format(e->binary.rhs, out);
            tr_buf_putc(out, ')');
            return;
        }
        case TR_LOGQL_EXPR_LITERAL:
            format_g(e->literal.value, out);
            return;
        case TR_LOGQL_EXPR_VECTOR:
            tr_buf_puts(out, "vector(");
            if (isnan(e->vector.value)) {
                tr_buf_puts(out, "NaN");
            } else if (isinf(e->vector.value)) {
                tr_buf_puts(out, e->vector.value > 0 ? "+Inf" : "-Inf");
            } else {
                tr_buf_printf(out, "%f", e->vector.value);
            }
            tr_buf_putc(out, ')');
            return;
        case TR_LOGQL_EXPR_LABEL_REPLACE:
            tr_buf_puts(out, "label_replace(");
            tr_logql_format(e->label_replace.expr, out);
            tr_buf_putc(out, ',');
            quote(out, e->label_replace.dst, strlen(e->label_replace.dst));
            tr_buf_putc(out, ',');
            quote(out, e->label_replace.replacement,
                  e->label_replace.replacement_len);
            tr_buf_putc(out, ',');
            quote(out, e->label_replace.src, strlen(e->label_replace.src));
            tr_buf_putc(out, ',');
            quote(out, e->label_replace.regex, e->label_replace.regex_len);
            tr_buf_putc(out, ')');
            return;
    }
}
