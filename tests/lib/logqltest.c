/* logqltest.c - parser and comparisons for *.logqltest files (see the
 * header for the format). */
#include "tests/lib/logqltest.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/matcher.h"

#define EPSILON 1e-6

/* ---- small text helpers ---------------------------------------------------
 */

struct cur {
    const char *p, *end;
};

static void skip_ws(struct cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) {
        c->p++;
    }
}

static bool take(struct cur *c, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, word, n) == 0) {
        c->p += n;
        return true;
    }
    return false;
}

static struct tr_slice token(struct cur *c)
{
    skip_ws(c);
    const char *s = c->p;
    while (c->p < c->end && *c->p != ' ' && *c->p != '\t') {
        c->p++;
    }
    return (struct tr_slice){(char *)s, (size_t)(c->p - s)};
}

/* Length of s without a trailing comment ('#' outside quotes) and
 * trailing blanks. */
static size_t strip_comment(const char *s, size_t n)
{
    char q = 0;
    size_t i = 0;
    for (; i < n; i++) {
        char ch = s[i];
        if (q) {
            if (ch == '\\' && q == '"' && i + 1 < n) {
                i++;
            } else if (ch == q) {
                q = 0;
            }
        } else if (ch == '"' || ch == '`' || ch == '\'') {
            q = ch;
        } else if (ch == '#') {
            break;
        }
    }
    while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t' || s[i - 1] == '\r')) {
        i--;
    }
    return i;
}

int tr_lqt_parse_duration(const char *s, size_t n, int64_t *ns)
{
    size_t i = 0;
    bool neg = false;
    double total = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) {
        neg = s[i] == '-';
        i++;
    }
    if (n - i == 1 && s[i] == '0') {
        *ns = 0;
        return 0;
    }
    if (i >= n) {
        return TR_EINVAL;
    }
    while (i < n) {
        size_t st = i;
        while (i < n && (isdigit((unsigned char)s[i]) || s[i] == '.')) {
            i++;
        }
        if (st == i) {
            return TR_EINVAL;
        }
        char num[64];
        if (i - st >= sizeof(num)) {
            return TR_EINVAL;
        }
        memcpy(num, s + st, i - st);
        num[i - st] = '\0';
        double v = strtod(num, NULL);
        double mul;
        if (i + 2 <= n && memcmp(s + i, "ns", 2) == 0) {
            mul = 1, i += 2;
        } else if (i + 2 <= n && memcmp(s + i, "us", 2) == 0) {
            mul = 1e3, i += 2;
        } else if (i + 2 <= n && memcmp(s + i, "ms", 2) == 0) {
            mul = 1e6, i += 2;
        } else if (i < n && s[i] == 's') {
            mul = 1e9, i++;
        } else if (i < n && s[i] == 'm') {
            mul = 60e9, i++;
        } else if (i < n && s[i] == 'h') {
            mul = 3600e9, i++;
        } else if (i < n && s[i] == 'd') {
            mul = 86400e9, i++;
        } else {
            return TR_EINVAL;
        }
        total += v * mul;
    }
    *ns = (int64_t)llround(neg ? -total : total);
    return 0;
}

/* name="value" pairs up to end (selector body or metadata list). */
static int parse_pairs(struct tr_arena *a,
                       const char *s,
                       size_t n,
                       char close,
                       struct tr_label **out,
                       size_t *n_out,
                       size_t *used)
{
    struct tr_label tmp[64];
    size_t k = 0, i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == ',' || s[i] == '\t')) {
            i++;
        }
        if (i >= n || s[i] == close) {
            break;
        }
        size_t ns = i;
        while (i < n &&
               (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.')) {
            i++;
        }
        if (i == ns || i >= n || s[i] != '=' || i + 1 >= n || s[i + 1] != '"' ||
            k == 64) {
            return TR_EINVAL;
        }
        size_t ne = i;
        i += 2;
        size_t vs = i;
        while (i < n && s[i] != '"') {
            i += s[i] == '\\' ? 2 : 1;
        }
        if (i >= n) {
            return TR_EINVAL;
        }
        tmp[k].name.base = tr_arena_strndup(a, s + ns, ne - ns);
        tmp[k].name.len = ne - ns;
        /* unescape \" and \\ */
        char *v = tr_arena_alloc(a, i - vs + 1);
        if (!tmp[k].name.base || !v) {
            return TR_ENOMEM;
        }
        size_t vl = 0;
        for (size_t j = vs; j < i; j++) {
            if (s[j] == '\\' && j + 1 < i) {
                j++;
                v[vl++] = s[j] == 'n' ? '\n' : s[j] == 't' ? '\t' : s[j];
            } else {
                v[vl++] = s[j];
            }
        }
        v[vl] = '\0';
        tmp[k].value = (struct tr_slice){v, vl};
        k++;
        i++;
    }
    *used = i;
    *out = tr_arena_memdup(a, tmp, (k ? k : 1) * sizeof(*tmp));
    *n_out = k;
    if (!*out) {
        return TR_ENOMEM;
    }
    tr_labels_sort(*out, k);
    return 0;
}

static int parse_value(struct tr_slice t, double *v)
{
    char buf[64];
    if (t.len == 0 || t.len >= sizeof(buf)) {
        return TR_EINVAL;
    }
    memcpy(buf, t.base, t.len);
    buf[t.len] = '\0';
    if (strcmp(buf, "NaN") == 0) {
        *v = NAN;
        return 0;
    }
    if (strcmp(buf, "+Inf") == 0 || strcmp(buf, "Inf") == 0) {
        *v = INFINITY;
        return 0;
    }
    if (strcmp(buf, "-Inf") == 0) {
        *v = -INFINITY;
        return 0;
    }
    char *e;
    *v = strtod(buf, &e);
    return *e ? TR_EINVAL : 0;
}

static int grow_cmds(struct tr_lqt_file *f, size_t *cap)
{
    if (f->n_cmds < *cap) {
        return 0;
    }
    struct tr_lqt_cmd *c = tr_array_grow(f->cmds, cap, sizeof(*c), 64);
    if (!c) {
        return TR_ENOMEM;
    }
    f->cmds = c;
    return 0;
}

static int parse_load(struct tr_lqt_file *f,
                      struct tr_lqt_cmd *c,
                      const char *s,
                      size_t n)
{
    size_t used;
    struct cur cu = {s, s + n};
    skip_ws(&cu);
    if (cu.p >= cu.end || *cu.p != '{') {
        return TR_EINVAL;
    }
    cu.p++;
    int rc = parse_pairs(&f->a, cu.p, (size_t)(cu.end - cu.p), '}', &c->labels,
                         &c->n_labels, &used);
    if (rc) {
        return rc;
    }
    cu.p += used;
    if (cu.p >= cu.end || *cu.p != '}') {
        return TR_EINVAL;
    }
    cu.p++;
    skip_ws(&cu);
    if (cu.p >= cu.end || (*cu.p != '"' && *cu.p != '`')) {
        return TR_EINVAL;
    }
    char q = *cu.p++;
    const char *ls = cu.p;
    while (cu.p < cu.end && *cu.p != q) {
        cu.p++;
    }
    if (cu.p >= cu.end) {
        return TR_EINVAL;
    }
    c->line = tr_arena_strndup(&f->a, ls, (size_t)(cu.p - ls));
    c->line_len = (size_t)(cu.p - ls);
    cu.p++;
    skip_ws(&cu);
    if (!take(&cu, "@")) {
        return TR_EINVAL;
    }
    struct tr_slice t = token(&cu);
    if (tr_lqt_parse_duration(t.base, t.len, &c->offset_ns)) {
        return TR_EINVAL;
    }
    c->count = 1;
    for (;;) {
        skip_ws(&cu);
        if (cu.p >= cu.end) {
            break;
        }
        if (take(&cu, "[repeat every")) {
            t = token(&cu);
            if (tr_lqt_parse_duration(t.base, t.len, &c->step_ns)) {
                return TR_EINVAL;
            }
            skip_ws(&cu);
            if (!take(&cu, "for")) {
                return TR_EINVAL;
            }
            skip_ws(&cu);
            char *e;
            c->count = strtoul(cu.p, &e, 10);
            cu.p = e;
            skip_ws(&cu);
            if (!take(&cu, "]")) {
                return TR_EINVAL;
            }
        } else if (take(&cu, "[metadata")) {
            rc = parse_pairs(&f->a, cu.p, (size_t)(cu.end - cu.p), ']',
                             &c->meta, &c->n_meta, &used);
            if (rc) {
                return rc;
            }
            cu.p += used;
            if (!take(&cu, "]")) {
                return TR_EINVAL;
            }
        } else {
            return TR_EINVAL;
        }
    }
    return 0;
}

static int parse_eval_head(struct tr_lqt_file *f,
                           struct tr_lqt_cmd *c,
                           const char *s,
                           size_t n)
{
    struct cur cu = {s, s + n};
    struct tr_slice t;
    take(&cu, "eval");
    skip_ws(&cu);
    if (take(&cu, "instant")) {
        skip_ws(&cu);
        if (!take(&cu, "at")) {
            return TR_EINVAL;
        }
        t = token(&cu);
        if (tr_lqt_parse_duration(t.base, t.len, &c->start_ns)) {
            return TR_EINVAL;
        }
        c->end_ns = c->start_ns;
    } else if (take(&cu, "range")) {
        c->range = true;
        skip_ws(&cu);
        if (!take(&cu, "from")) {
            return TR_EINVAL;
        }
        t = token(&cu);
        if (tr_lqt_parse_duration(t.base, t.len, &c->start_ns)) {
            return TR_EINVAL;
        }
        skip_ws(&cu);
        if (!take(&cu, "to")) {
            return TR_EINVAL;
        }
        t = token(&cu);
        if (tr_lqt_parse_duration(t.base, t.len, &c->end_ns)) {
            return TR_EINVAL;
        }
        skip_ws(&cu);
        if (!take(&cu, "step")) {
            return TR_EINVAL;
        }
        t = token(&cu);
        if (tr_lqt_parse_duration(t.base, t.len, &c->step) || c->step <= 0) {
            return TR_EINVAL;
        }
    } else {
        return TR_EINVAL;
    }
    skip_ws(&cu);
    c->query = tr_arena_strndup(&f->a, cu.p, (size_t)(cu.end - cu.p));
    return c->query ? 0 : TR_ENOMEM;
}

static size_t n_steps(const struct tr_lqt_cmd *c)
{
    return c->range ? (size_t)((c->end_ns - c->start_ns) / c->step) + 1 : 1;
}

static int parse_expect(struct tr_lqt_file *f,
                        struct tr_lqt_cmd *c,
                        size_t *cap,
                        const char *s,
                        size_t n)
{
    struct cur cu = {s, s + n};
    skip_ws(&cu);
    if (take(&cu, "expect empty")) {
        c->expect = TR_LQT_EXPECT_EMPTY;
        return 0;
    }
    if (take(&cu, "expect ordered")) {
        c->ordered = true;
        return 0;
    }
    if (take(&cu, "skip")) {
        return 0;
    }
    if (take(&cu, "expect fail")) {
        c->expect = TR_LQT_EXPECT_FAIL;
        skip_ws(&cu);
        if (take(&cu, "msg:") || (c->fail_regex = take(&cu, "regex:"))) {
            skip_ws(&cu);
            c->fail_msg =
                tr_arena_strndup(&f->a, cu.p, (size_t)(cu.end - cu.p));
        }
        return 0;
    }
    struct tr_lqt_series se = {0};
    if (cu.p < cu.end && *cu.p == '{') {
        size_t used;
        cu.p++;
        int rc = parse_pairs(&f->a, cu.p, (size_t)(cu.end - cu.p), '}',
                             &se.labels, &se.n_labels, &used);
        if (rc) {
            return rc;
        }
        cu.p += used;
        if (!take(&cu, "}")) {
            return TR_EINVAL;
        }
    } else if (!c->range) {
        struct tr_slice t = token(&cu);
        if (parse_value(t, &c->scalar_value)) {
            return TR_EINVAL;
        }
        c->scalar = true;
        return 0;
    }
    size_t k = n_steps(c);
    se.v = tr_arena_alloc(&f->a, k * sizeof(double));
    se.present = tr_arena_alloc(&f->a, k * sizeof(bool));
    if (!se.v || !se.present) {
        return TR_ENOMEM;
    }
    for (;;) {
        struct tr_slice t = token(&cu);
        if (t.len == 0) {
            break;
        }
        if (se.n >= k) {
            return TR_EINVAL;
        }
        if (t.len == 1 && t.base[0] == '_') {
            se.present[se.n] = false;
            se.v[se.n++] = 0;
            continue;
        }
        if (parse_value(t, &se.v[se.n])) {
            return TR_EINVAL;
        }
        se.present[se.n++] = true;
    }
    if (se.n != k) {
        return TR_EINVAL;
    }
    if (c->n_series == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        struct tr_lqt_series *ns = tr_arena_alloc(&f->a, nc * sizeof(*ns));
        if (!ns) {
            return TR_ENOMEM;
        }
        if (c->n_series) {
            memcpy(ns, c->series, c->n_series * sizeof(*ns));
        }
        c->series = ns;
        *cap = nc;
    }
    c->series[c->n_series++] = se;
    return 0;
}

int tr_lqt_parse(const char *text,
                 size_t len,
                 struct tr_lqt_file *f,
                 char *errmsg)
{
    size_t cap = 0, scap = 0;
    int line_no = 0;
    enum { NONE, LOAD, EVAL } block = NONE;
    const char *p = text, *end = text + len;
    memset(f, 0, sizeof(*f));
    tr_arena_init(&f->a, 64 * 1024);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *s = p;
        p = nl ? nl + 1 : end;
        line_no++;
        size_t n = strip_comment(s, (size_t)(le - s));
        bool indented = n > 0 && (s[0] == ' ' || s[0] == '\t');
        size_t lead = 0;
        while (lead < n && (s[lead] == ' ' || s[lead] == '\t')) {
            lead++;
        }
        bool blank = true;
        for (const char *q = s; q < le; q++) {
            blank = blank && (*q == ' ' || *q == '\t' || *q == '\r');
        }
        if (blank) {
            block = NONE; /* a blank line ends a block */
            continue;
        }
        if (lead == n) {
            continue; /* comment only */
        }
        int rc = 0;
        if (indented && block == LOAD) {
            if ((rc = grow_cmds(f, &cap))) {
                return rc;
            }
            struct tr_lqt_cmd *c = &f->cmds[f->n_cmds];
            memset(c, 0, sizeof(*c));
            c->kind = TR_LQT_LOAD;
            c->line_no = line_no;
            rc = parse_load(f, c, s + lead, n - lead);
            if (rc == 0) {
                f->n_cmds++;
            }
        } else if (indented && block == EVAL) {
            rc = parse_expect(f, &f->cmds[f->n_cmds - 1], &scap, s + lead,
                              n - lead);
        } else if (n >= 5 && memcmp(s, "clear", 5) == 0) {
            if ((rc = grow_cmds(f, &cap))) {
                return rc;
            }
            memset(&f->cmds[f->n_cmds], 0, sizeof(f->cmds[0]));
            f->cmds[f->n_cmds].kind = TR_LQT_CLEAR;
            f->cmds[f->n_cmds].line_no = line_no;
            f->n_cmds++;
            block = NONE;
        } else if (n >= 4 && memcmp(s, "load", 4) == 0) {
            block = LOAD;
        } else if (n >= 4 && memcmp(s, "eval", 4) == 0) {
            if ((rc = grow_cmds(f, &cap))) {
                return rc;
            }
            struct tr_lqt_cmd *c = &f->cmds[f->n_cmds];
            memset(c, 0, sizeof(*c));
            c->kind = TR_LQT_EVAL;
            c->line_no = line_no;
            rc = parse_eval_head(f, c, s, n);
            if (rc == 0) {
                f->n_cmds++;
                f->n_evals++;
                scap = 0;
                block = EVAL;
            }
        } else {
            rc = TR_EINVAL;
        }
        if (rc) {
            return tr_errf(rc, errmsg, "line %d: cannot parse \"%.*s\"",
                           line_no, (int)(le - s), s);
        }
    }
    return 0;
}

void tr_lqt_file_free(struct tr_lqt_file *f)
{
    tr_free(f->cmds);
    f->cmds = NULL;
    f->n_cmds = 0;
    tr_arena_free(&f->a);
}

int tr_lqt_load_line(const struct tr_lqt_cmd *c,
                     size_t i,
                     struct tr_buf *out,
                     int64_t *ts_ns)
{
    tr_buf_reset(out);
    *ts_ns = c->offset_ns + (int64_t)i * c->step_ns;
    const char *s = c->line, *e = c->line + c->line_len;
    while (s < e) {
        const char *m = memmem(s, (size_t)(e - s), "{{.i}}", 6);
        if (!m) {
            tr_buf_append(out, s, (size_t)(e - s));
            break;
        }
        tr_buf_append(out, s, (size_t)(m - s));
        tr_buf_printf(out, "%zu", i);
        s = m + 6;
    }
    return out->oom ? TR_ENOMEM : 0;
}

/* ---- comparison ------------------------------------------------------------
 */

static bool almost_equal(double a, double b)
{
    if (isnan(a) && isnan(b)) {
        return true;
    }
    if (a == b) {
        return true;
    }
    double sum = fabs(a) + fabs(b), diff = fabs(a - b);
    if (a == 0 || b == 0 || sum < 2.2250738585072014e-308) {
        return diff < EPSILON * 2.2250738585072014e-308;
    }
    return diff / sum < EPSILON;
}

static void fmt_num(struct tr_buf *b, double v)
{
    if (isnan(v)) {
        tr_buf_puts(b, "NaN");
    } else if (isinf(v)) {
        tr_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    } else {
        tr_buf_printf(b, "%.17g", v);
    }
}

static void fmt_labels(struct tr_buf *b, const struct tr_label *ls, size_t n)
{
    tr_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        tr_buf_printf(b, "%s%.*s=\"%.*s\"", i ? ", " : "", (int)ls[i].name.len,
                      ls[i].name.base, (int)ls[i].value.len, ls[i].value.base);
    }
    tr_buf_putc(b, '}');
}

void tr_lqt_format_value(const struct tr_pq_value *v, struct tr_buf *out)
{
    switch (v->type) {
        case TR_PROMQL_TYPE_SCALAR:
            tr_buf_puts(out, "  scalar ");
            fmt_num(out, v->scalar);
            tr_buf_putc(out, '\n');
            break;
        case TR_PROMQL_TYPE_VECTOR:
            for (size_t i = 0; i < v->vec.n; i++) {
                tr_buf_puts(out, "  ");
                fmt_labels(out, v->vec.s[i].labels, v->vec.s[i].n_labels);
                tr_buf_putc(out, ' ');
                fmt_num(out, v->vec.s[i].v);
                tr_buf_putc(out, '\n');
            }
            break;
        case TR_PROMQL_TYPE_MATRIX:
            for (size_t i = 0; i < v->mat.n; i++) {
                tr_buf_puts(out, "  ");
                fmt_labels(out, v->mat.s[i].labels, v->mat.s[i].n_labels);
                for (size_t j = 0; j < v->mat.s[i].n; j++) {
                    tr_buf_printf(
                        out, " @%lld:", (long long)v->mat.s[i].pts[j].t / 1000);
                    fmt_num(out, v->mat.s[i].pts[j].v);
                }
                tr_buf_putc(out, '\n');
            }
            break;
        default:
            tr_buf_puts(out, "  (no value)\n");
    }
    if (v->type != TR_PROMQL_TYPE_SCALAR &&
        ((v->type == TR_PROMQL_TYPE_VECTOR && v->vec.n == 0) ||
         (v->type == TR_PROMQL_TYPE_MATRIX && v->mat.n == 0))) {
        tr_buf_puts(out, "  (empty)\n");
    }
}

void tr_lqt_format_expected(const struct tr_lqt_cmd *c, struct tr_buf *out)
{
    if (c->expect == TR_LQT_EXPECT_FAIL) {
        tr_buf_printf(out, "  fail %s%s\n", c->fail_regex ? "regex: " : "",
                      c->fail_msg ? c->fail_msg : "");
        return;
    }
    if (c->expect == TR_LQT_EXPECT_EMPTY) {
        tr_buf_puts(out, "  (empty)\n");
        return;
    }
    if (c->scalar) {
        tr_buf_puts(out, "  scalar ");
        fmt_num(out, c->scalar_value);
        tr_buf_putc(out, '\n');
    }
    for (size_t i = 0; i < c->n_series; i++) {
        const struct tr_lqt_series *s = &c->series[i];
        tr_buf_puts(out, "  ");
        fmt_labels(out, s->labels, s->n_labels);
        for (size_t j = 0; j < s->n; j++) {
            tr_buf_putc(out, ' ');
            if (!s->present[j]) {
                tr_buf_putc(out, '_');
            } else {
                fmt_num(out, s->v[j]);
            }
        }
        tr_buf_putc(out, '\n');
    }
}

static bool check_instant(const struct tr_lqt_cmd *c,
                          const struct tr_pq_value *got,
                          struct tr_buf *why)
{
    if (c->scalar) {
        if (got->type == TR_PROMQL_TYPE_SCALAR) {
            if (!almost_equal(c->scalar_value, got->scalar)) {
                tr_buf_puts(why, "scalar value differs");
                return false;
            }
            return true;
        }
        tr_buf_puts(why, "expected a scalar");
        return false;
    }
    if (got->type != TR_PROMQL_TYPE_VECTOR) {
        tr_buf_puts(why, "expected a vector");
        return false;
    }
    size_t want = c->expect == TR_LQT_EXPECT_EMPTY ? 0 : c->n_series;
    if (got->vec.n != want) {
        tr_buf_printf(why, "expected %zu samples, got %zu", want, got->vec.n);
        return false;
    }
    for (size_t i = 0; i < want; i++) {
        const struct tr_lqt_series *s = &c->series[i];
        bool found = false;
        for (size_t j = 0; j < got->vec.n && !found; j++) {
            if (c->ordered && j != i) {
                continue;
            }
            const struct tr_pq_sample *g = &got->vec.s[j];
            if (tr_labels_cmp(s->labels, s->n_labels, g->labels, g->n_labels) !=
                0) {
                continue;
            }
            if (!almost_equal(s->v[0], g->v)) {
                tr_buf_printf(why, "sample %zu: value differs", i);
                return false;
            }
            found = true;
        }
        if (!found) {
            tr_buf_printf(why, "sample %zu: %s", i,
                          c->ordered ? "not at its place" : "missing");
            return false;
        }
    }
    return true;
}

static bool check_range(const struct tr_lqt_cmd *c,
                        const struct tr_pq_value *got,
                        struct tr_buf *why)
{
    if (got->type != TR_PROMQL_TYPE_MATRIX) {
        tr_buf_puts(why, "expected a matrix");
        return false;
    }
    size_t want = c->expect == TR_LQT_EXPECT_EMPTY ? 0 : c->n_series;
    if (got->mat.n != want) {
        tr_buf_printf(why, "expected %zu series, got %zu", want, got->mat.n);
        return false;
    }
    int64_t step_ms = c->step / 1000000, start_ms = c->start_ns / 1000000;
    for (size_t i = 0; i < want; i++) {
        const struct tr_lqt_series *s = &c->series[i];
        const struct tr_pq_series *g = NULL;
        for (size_t j = 0; j < got->mat.n && !g; j++) {
            if (tr_labels_cmp(s->labels, s->n_labels, got->mat.s[j].labels,
                              got->mat.s[j].n_labels) == 0) {
                g = &got->mat.s[j];
            }
        }
        if (!g) {
            tr_buf_printf(why, "series %zu missing", i);
            return false;
        }
        size_t k = 0;
        for (size_t st = 0; st < s->n; st++) {
            int64_t t = start_ms + (int64_t)st * step_ms;
            bool have = k < g->n && g->pts[k].t == t;
            if (have != s->present[st]) {
                tr_buf_printf(why, "series %zu: point at step %zu %s", i, st,
                              have ? "unexpected" : "missing");
                return false;
            }
            if (have) {
                if (!almost_equal(s->v[st], g->pts[k].v)) {
                    tr_buf_printf(why, "series %zu: value at step %zu", i, st);
                    return false;
                }
                k++;
            }
        }
        if (k != g->n) {
            tr_buf_printf(why, "series %zu: extra points", i);
            return false;
        }
    }
    return true;
}

bool tr_lqt_check(const struct tr_lqt_cmd *c,
                  const struct tr_pq_value *got,
                  struct tr_buf *why)
{
    if (c->expect == TR_LQT_EXPECT_FAIL) {
        tr_buf_puts(why, "expected a failure");
        return false;
    }
    return c->range ? check_range(c, got, why) : check_instant(c, got, why);
}

bool tr_lqt_check_fail(const struct tr_lqt_cmd *c,
                       const char *errmsg,
                       struct tr_buf *why)
{
    if (c->expect != TR_LQT_EXPECT_FAIL) {
        tr_buf_printf(why, "unexpected error: %s", errmsg);
        return false;
    }
    if (!c->fail_msg) {
        return true;
    }
    if (!c->fail_regex) {
        /* the files write Go-quoted text: \" stands for " */
        char want[1024];
        size_t k = 0;
        for (const char *p = c->fail_msg; *p && k + 1 < sizeof(want); p++) {
            if (p[0] == '\\' && p[1] == '"') {
                p++;
            }
            want[k++] = *p;
        }
        want[k] = '\0';
        if (strstr(errmsg, want) || strstr(errmsg, c->fail_msg)) {
            return true;
        }
        tr_buf_printf(why, "error \"%s\" lacks \"%s\"", errmsg, c->fail_msg);
        return false;
    }
    struct tr_regex *re;
    char m[TR_ERRMSG_SIZE];
    if (tr_regex_compile(c->fail_msg, strlen(c->fail_msg), false, &re, m)) {
        tr_buf_printf(why, "bad expected regex: %s", m);
        return false;
    }
    bool ok = tr_regex_match(re, errmsg, strlen(errmsg));
    tr_regex_free(re);
    if (!ok) {
        tr_buf_printf(why, "error \"%s\" does not match /%s/", errmsg,
                      c->fail_msg);
    }
    return ok;
}
