/* template_funcs.c - the function map of LogQL templates: Go's builtins,
 * conversions, math and time functions (Loki's and sprig's), the table and
 * its lookup (string and regex functions in template_strfuncs.c). See
 * template.h for the list. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/dtoa.h"
#include "lib/err.h"
#include "query/logql/stages_int.h"
#include "query/logql/template_int.h"

#define ARENA(x) tr_logql_lb__arena((x)->lb)

/* ---- value helpers ------------------------------------------------------- */

int tt_want_str(struct tt_exec *x, const struct tt_val *v, struct tr_slice *s)
{
    if (v->kind == TV_STR) {
        *s = v->s;
        return 0;
    }
    if (v->kind == TV_INVALID) {
        return tt_fail(x, "invalid value; expected string");
    }
    return tt_fail(x, "wrong type for value; expected string; got %s",
                   tt_type_name(v));
}

int tt_want_int(struct tt_exec *x, const struct tt_val *v, int64_t *i)
{
    if (v->kind == TV_INT) {
        *i = v->i;
        return 0;
    }
    return tt_fail(x, "wrong type for value; expected int; got %s",
                   tt_type_name(v));
}

static int want_time(struct tt_exec *x, const struct tt_val *v)
{
    if (v->kind == TV_TIME) {
        return 0;
    }
    return tt_fail(x, "wrong type for value; expected time.Time; got %s",
                   tt_type_name(v));
}

/* cast.ToInt64 (errors read as 0). */
static int64_t cast_int(const struct tt_val *v)
{
    switch (v->kind) {
        case TV_INT:
            return v->i;
        case TV_FLOAT:
            /* Go's out-of-range float conversion gives the minimum on amd64 */
            return (isnan(v->f) || v->f >= 9223372036854775808.0 ||
                    v->f < -9223372036854775808.0)
                       ? INT64_MIN
                       : (int64_t)v->f;
        case TV_BOOL:
            return v->b;
        case TV_STR: {
            char buf[64];
            size_t n = v->s.len;
            if (n == 0 || n >= sizeof(buf)) {
                return 0;
            }
            memcpy(buf, v->s.base, n);
            buf[n] = 0;
            /* trimZeroDecimal: "12.0" -> "12" */
            char *dot = strchr(buf, '.');
            if (dot) {
                bool zeros = true;
                for (char *p = dot + 1; *p; p++) {
                    zeros = zeros && *p == '0';
                }
                if (zeros && dot[1]) {
                    *dot = 0;
                }
            }
            char *end;
            long long r = strtoll(buf, &end, 0);
            return *end == 0 ? r : 0;
        }
        default:
            return 0;
    }
}

/* cast.ToFloat64 (errors read as 0). */
static double cast_float(const struct tt_val *v)
{
    switch (v->kind) {
        case TV_INT:
            return (double)v->i;
        case TV_FLOAT:
            return v->f;
        case TV_BOOL:
            return v->b;
        case TV_STR: {
            double f;
            return tr_logql_parse_float(v->s.base, v->s.len, &f, NULL) ? 0 : f;
        }
        default:
            return 0;
    }
}

struct tt_val tt_mk_int(int64_t i)
{
    struct tt_val v = {.kind = TV_INT, .i = i};
    return v;
}

struct tt_val tt_mk_float(double f)
{
    struct tt_val v = {.kind = TV_FLOAT, .f = f};
    return v;
}

struct tt_val tt_mk_bool(bool b)
{
    struct tt_val v = {.kind = TV_BOOL, .b = b};
    return v;
}

static struct tt_val mk_time(int64_t sec, int32_t nsec)
{
    struct tt_val v = {.kind = TV_TIME, .i = sec, .nsec = nsec};
    return v;
}

/* Decimal-like rounding of float arithmetic (sprig uses shopspring
 * decimal): 15 significant digits. */
static double dec_round(double f)
{
    if (!isfinite(f) || f == 0) {
        return f;
    }
    char buf[40];
    snprintf(buf, sizeof(buf), "%.15g", f);
    return strtod(buf, NULL);
}

static bool sb_grow(struct tt_sb *b, size_t extra)
{
    if (b->n + extra <= b->cap) {
        return true;
    }
    if (b->n + extra > TT_MAX_OUTPUT) {
        return false;
    }
    size_t cap = b->cap ? b->cap * 2 : 64;
    while (cap < b->n + extra) {
        cap *= 2;
    }
    char *np = tr_arena_alloc(ARENA(b->x), cap);
    if (!np) {
        tr_logql_lb__set_oom(b->x->lb);
        return false;
    }
    if (b->n) {
        memcpy(np, b->p, b->n);
    }
    b->p = np;
    b->cap = cap;
    return true;
}

bool tt_sb_add(struct tt_sb *b, const char *s, size_t n)
{
    if (!sb_grow(b, n)) {
        return false;
    }
    if (n) {
        memcpy(b->p + b->n, s, n);
    }
    b->n += n;
    return true;
}

int tt_sb_done(struct tt_sb *b, struct tt_val *out)
{
    out->kind = TV_STR;
    out->s = (struct tr_slice){b->p ? b->p : "", b->n};
    return tr_logql_lb_oom(b->x->lb) ? TR_ENOMEM : 0;
}

/* Runs fn into a tr_buf then copies the result into the arena. */
static int buf_result(struct tt_exec *x,
                      struct tr_buf *b,
                      int rc,
                      struct tt_val *out)
{
    if (rc == 0) {
        *out = tt_str(x, b->data ? b->data : "", b->len);
        if (tr_logql_lb_oom(x->lb)) {
            rc = TR_ENOMEM;
        }
    }
    tr_buf_free(b);
    return rc;
}

/* ---- builtins ------------------------------------------------------------ */

static int f_not(struct tt_exec *x,
                 const struct tt_val *a,
                 size_t n,
                 struct tt_val *out)
{
    (void)x;
    (void)n;
    *out = tt_mk_bool(!tt_truth(&a[0]));
    return 0;
}

static int f_unused(struct tt_exec *x,
                    const struct tt_val *a,
                    size_t n,
                    struct tt_val *out)
{
    (void)a;
    (void)n;
    (void)out;
    return tt_fail(x, "internal error");
}

static int count_cb(struct tt_exec *x,
                    const struct tt_val *k,
                    const struct tt_val *v,
                    void *arg,
                    bool *stop)
{
    (void)x;
    (void)k;
    (void)v;
    (void)arg;
    (void)stop;
    return 0;
}

static int f_len(struct tt_exec *x,
                 const struct tt_val *a,
                 size_t n,
                 struct tt_val *out)
{
    (void)n;
    if (a[0].kind == TV_STR) {
        *out = tt_mk_int((int64_t)a[0].s.len);
        return 0;
    }
    if (a[0].kind == TV_MAP) {
        *out = tt_mk_int((int64_t)x->n_labels);
        return 0;
    }
    if (a[0].kind == TV_JSON) {
        size_t count;
        int rc = tt_json_foreach(x, &a[0], count_cb, NULL, &count);
        *out = tt_mk_int((int64_t)count);
        return rc;
    }
    return tt_fail(x, "error calling len: len of type %s", tt_type_name(&a[0]));
}

static int f_index(struct tt_exec *x,
                   const struct tt_val *a,
                   size_t n,
                   struct tt_val *out)
{
    struct tt_val v = a[0];
    for (size_t i = 1; i < n; i++) {
        if (v.kind == TV_MAP || (v.kind == TV_JSON && v.s.base[0] == '{')) {
            if (a[i].kind != TV_STR) {
                return tt_fail(
                    x,
                    "error calling index: value has type %s; should be string",
                    tt_type_name(&a[i]));
            }
            struct tt_val nv;
            int rc = tt_field(x, &v, a[i].s, &nv);
            if (rc) {
                return rc;
            }
            v = nv;
        } else if (v.kind == TV_JSON) {
            if (a[i].kind != TV_INT) {
                return tt_fail(x,
                               "error calling index: cannot index slice/array "
                               "with type %s",
                               tt_type_name(&a[i]));
            }
            struct tt_val f;
            bool found;
            int rc = tt_json_find(x, &v, (struct tr_slice){"", 0}, a[i].i, &f,
                                  &found);
            if (rc) {
                return rc;
            }
            if (!found) {
                return tt_fail(x,
                               "error calling index: index out of range: %lld",
                               (long long)a[i].i);
            }
            v = f;
        } else if (v.kind == TV_STR) {
            if (a[i].kind != TV_INT) {
                return tt_fail(x,
                               "error calling index: cannot index slice/array "
                               "with type %s",
                               tt_type_name(&a[i]));
            }
            if (a[i].i < 0 || (uint64_t)a[i].i >= v.s.len) {
                return tt_fail(x,
                               "error calling index: index out of range: %lld",
                               (long long)a[i].i);
            }
            v = tt_mk_int((unsigned char)v.s.base[a[i].i]);
        } else {
            return tt_fail(x,
                           "error calling index: can't index item of type %s",
                           tt_type_name(&v));
        }
    }
    *out = v;
    return 0;
}

static int print_args(struct tt_exec *x,
                      const struct tt_val *a,
                      size_t n,
                      struct tt_val *out,
                      bool ln)
{
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i > 0 && (ln || (a[i].kind != TV_STR && a[i - 1].kind != TV_STR))) {
            tr_buf_putc(&b, ' ');
        }
        rc = tt_print(x, &b, &a[i]);
    }
    if (ln) {
        tr_buf_putc(&b, '\n');
    }
    return buf_result(x, &b, rc, out);
}

static int f_print(struct tt_exec *x,
                   const struct tt_val *a,
                   size_t n,
                   struct tt_val *out)
{
    return print_args(x, a, n, out, false);
}

static int f_println(struct tt_exec *x,
                     const struct tt_val *a,
                     size_t n,
                     struct tt_val *out)
{
    return print_args(x, a, n, out, true);
}

static int f_printf(struct tt_exec *x,
                    const struct tt_val *a,
                    size_t n,
                    struct tt_val *out)
{
    struct tr_slice fmt;
    int rc = tt_want_str(x, &a[0], &fmt);
    if (rc) {
        return rc;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    rc = tt_sprintf(x, &b, fmt, a + 1, n - 1);
    return buf_result(x, &b, rc, out);
}

/* eq / ne / lt / le / gt / ge */
static int basic_cmp(struct tt_exec *x,
                     const char *fn,
                     const struct tt_val *l,
                     const struct tt_val *r,
                     int *c,
                     bool ordered)
{
    if (l->kind != r->kind || l->kind == TV_INVALID || l->kind == TV_NIL ||
        l->kind == TV_TIME || l->kind == TV_MAP || l->kind == TV_JSON ||
        (ordered && l->kind == TV_BOOL)) {
        if (l->kind == r->kind || l->kind == TV_INVALID ||
            r->kind == TV_INVALID ||
            (ordered && (l->kind == TV_BOOL || r->kind == TV_BOOL))) {
            return tt_fail(x, "error calling %s: invalid type for comparison",
                           fn);
        }
        return tt_fail(x, "error calling %s: incompatible types for comparison",
                       fn);
    }
    switch (l->kind) {
        case TV_STR:
            *c = tr_slice_cmp(l->s, r->s);
            break;
        case TV_INT:
            *c = l->i < r->i ? -1 : l->i > r->i;
            break;
        case TV_FLOAT:
            *c = l->f < r->f ? -1 : l->f > r->f ? 1 : (l->f == r->f ? 0 : 2);
            break;
        default:
            *c = l->b == r->b ? 0 : 1;
            break;
    }
    return 0;
}

static int f_eq(struct tt_exec *x,
                const struct tt_val *a,
                size_t n,
                struct tt_val *out)
{
    for (size_t i = 1; i < n; i++) {
        int c;
        int rc = basic_cmp(x, "eq", &a[0], &a[i], &c, false);
        if (rc) {
            return rc;
        }
        if (c == 0) {
            *out = tt_mk_bool(true);
            return 0;
        }
    }
    *out = tt_mk_bool(false);
    return 0;
}

static int f_ne(struct tt_exec *x,
                const struct tt_val *a,
                size_t n,
                struct tt_val *out)
{
    (void)n;
    int c;
    int rc = basic_cmp(x, "ne", &a[0], &a[1], &c, false);
    *out = tt_mk_bool(c != 0);
    return rc;
}

static int ordered(struct tt_exec *x,
                   const char *fn,
                   const struct tt_val *a,
                   struct tt_val *out,
                   int want)
{
    int c;
    int rc = basic_cmp(x, fn, &a[0], &a[1], &c, true);
    if (rc) {
        return rc;
    }
    bool r = false;
    switch (want) {
        case 0: /* lt */
            r = c == -1;
            break;
        case 1: /* le */
            r = c == -1 || c == 0;
            break;
        case 2: /* gt */
            r = c == 1;
            break;
        default: /* ge */
            r = c == 1 || c == 0;
            break;
    }
    *out = tt_mk_bool(r);
    return 0;
}

static int f_lt(struct tt_exec *x,
                const struct tt_val *a,
                size_t n,
                struct tt_val *out)
{
    (void)n;
    return ordered(x, "lt", a, out, 0);
}

static int f_le(struct tt_exec *x,
                const struct tt_val *a,
                size_t n,
                struct tt_val *out)
{
    (void)n;
    return ordered(x, "le", a, out, 1);
}

static int f_gt(struct tt_exec *x,
                const struct tt_val *a,
                size_t n,
                struct tt_val *out)
{
    (void)n;
    return ordered(x, "gt", a, out, 2);
}

static int f_ge(struct tt_exec *x,
                const struct tt_val *a,
                size_t n,
                struct tt_val *out)
{
    (void)n;
    return ordered(x, "ge", a, out, 3);
}

void tt_query_escape(struct tt_sb *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
            c == '~') {
            tt_sb_add(b, (const char *)&s[i], 1);
        } else if (c == ' ') {
            tt_sb_add(b, "+", 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            tt_sb_add(b, e, 3);
        }
    }
}

static int f_urlquery(struct tt_exec *x,
                      const struct tt_val *a,
                      size_t n,
                      struct tt_val *out)
{
    struct tt_val s;
    int rc = print_args(x, a, n, &s, false);
    if (rc) {
        return rc;
    }
    struct tt_sb b = {x, NULL, 0, 0};
    tt_query_escape(&b, s.s.base, s.s.len);
    return tt_sb_done(&b, out);
}

/* ---- strings
 * ------------------------------------------------------------------ */

/* ---- conversions and math -------------------------------------------------
 */

static int f_bytes(struct tt_exec *x,
                   const struct tt_val *a,
                   size_t n,
                   struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    uint64_t v;
    char msg[TR_ERRMSG_SIZE];
    if (tr_logql_parse_bytes(s.base, s.len, &v, msg)) {
        return tt_fail(x, "error calling bytes: %s", msg);
    }
    *out = tt_mk_float((double)v);
    return 0;
}

static int f_duration(struct tt_exec *x,
                      const struct tt_val *a,
                      size_t n,
                      struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    int64_t d;
    char msg[TR_ERRMSG_SIZE];
    if (tr_logql_parse_duration(s.base, s.len, &d, msg)) {
        return tt_fail(x, "error calling duration: %s", msg);
    }
    *out =
        tt_mk_float((double)(d / 1000000000) + (double)(d % 1000000000) / 1e9);
    return 0;
}

static int f_int(struct tt_exec *x,
                 const struct tt_val *a,
                 size_t n,
                 struct tt_val *out)
{
    (void)x;
    (void)n;
    *out = tt_mk_int(cast_int(&a[0]));
    return 0;
}

static int f_float64(struct tt_exec *x,
                     const struct tt_val *a,
                     size_t n,
                     struct tt_val *out)
{
    (void)x;
    (void)n;
    *out = tt_mk_float(cast_float(&a[0]));
    return 0;
}

static int f_add(struct tt_exec *x,
                 const struct tt_val *a,
                 size_t n,
                 struct tt_val *out)
{
    (void)x;
    int64_t s = 0;
    for (size_t i = 0; i < n; i++) {
        s = (int64_t)((uint64_t)s + (uint64_t)cast_int(&a[i]));
    }
    *out = tt_mk_int(s);
    return 0;
}

static int f_sub(struct tt_exec *x,
                 const struct tt_val *a,
                 size_t n,
                 struct tt_val *out)
{
    (void)x;
    (void)n;
    *out = tt_mk_int(
        (int64_t)((uint64_t)cast_int(&a[0]) - (uint64_t)cast_int(&a[1])));
    return 0;
}

static int f_mul(struct tt_exec *x,
                 const struct tt_val *a,
                 size_t n,
                 struct tt_val *out)
{
    (void)x;
    uint64_t s = (uint64_t)cast_int(&a[0]);
    for (size_t i = 1; i < n; i++) {
        s *= (uint64_t)cast_int(&a[i]);
    }
    *out = tt_mk_int((int64_t)s);
    return 0;
}

static int f_div(struct tt_exec *x,
                 const struct tt_val *a,
                 size_t n,
                 struct tt_val *out)
{
    (void)n;
    int64_t l = cast_int(&a[0]), r = cast_int(&a[1]);
    if (r == 0) {
        return tt_fail(
            x, "error calling div: runtime error: integer divide by zero");
    }
    *out = tt_mk_int(r == -1 ? (int64_t)(0 - (uint64_t)l) : l / r);
    return 0;
}

static int f_mod(struct tt_exec *x,
                 const struct tt_val *a,
                 size_t n,
                 struct tt_val *out)
{
    (void)n;
    int64_t l = cast_int(&a[0]), r = cast_int(&a[1]);
    if (r == 0) {
        return tt_fail(
            x, "error calling mod: runtime error: integer divide by zero");
    }
    *out = tt_mk_int(r == -1 ? 0 : l % r);
    return 0;
}

static int f_max(struct tt_exec *x,
                 const struct tt_val *a,
                 size_t n,
                 struct tt_val *out)
{
    (void)x;
    int64_t m = cast_int(&a[0]);
    for (size_t i = 1; i < n; i++) {
        int64_t v = cast_int(&a[i]);
        m = v > m ? v : m;
    }
    *out = tt_mk_int(m);
    return 0;
}

static int f_min(struct tt_exec *x,
                 const struct tt_val *a,
                 size_t n,
                 struct tt_val *out)
{
    (void)x;
    int64_t m = cast_int(&a[0]);
    for (size_t i = 1; i < n; i++) {
        int64_t v = cast_int(&a[i]);
        m = v < m ? v : m;
    }
    *out = tt_mk_int(m);
    return 0;
}

static int f_addf(struct tt_exec *x,
                  const struct tt_val *a,
                  size_t n,
                  struct tt_val *out)
{
    (void)x;
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        s = dec_round(s + cast_float(&a[i]));
    }
    *out = tt_mk_float(s);
    return 0;
}

static int f_subf(struct tt_exec *x,
                  const struct tt_val *a,
                  size_t n,
                  struct tt_val *out)
{
    (void)x;
    double s = cast_float(&a[0]);
    for (size_t i = 1; i < n; i++) {
        s = dec_round(s - cast_float(&a[i]));
    }
    *out = tt_mk_float(s);
    return 0;
}

static int f_mulf(struct tt_exec *x,
                  const struct tt_val *a,
                  size_t n,
                  struct tt_val *out)
{
    (void)x;
    double s = cast_float(&a[0]);
    for (size_t i = 1; i < n; i++) {
        s = dec_round(s * cast_float(&a[i]));
    }
    *out = tt_mk_float(s);
    return 0;
}

static int f_divf(struct tt_exec *x,
                  const struct tt_val *a,
                  size_t n,
                  struct tt_val *out)
{
    double s = cast_float(&a[0]);
    for (size_t i = 1; i < n; i++) {
        double d = cast_float(&a[i]);
        if (d == 0) {
            return tt_fail(x, "error calling divf: decimal division by 0");
        }
        s = dec_round(s / d);
    }
    *out = tt_mk_float(s);
    return 0;
}

static int f_maxf(struct tt_exec *x,
                  const struct tt_val *a,
                  size_t n,
                  struct tt_val *out)
{
    (void)x;
    double m = cast_float(&a[0]);
    for (size_t i = 1; i < n; i++) {
        m = fmax(m, cast_float(&a[i]));
    }
    *out = tt_mk_float(m);
    return 0;
}

static int f_minf(struct tt_exec *x,
                  const struct tt_val *a,
                  size_t n,
                  struct tt_val *out)
{
    (void)x;
    double m = cast_float(&a[0]);
    for (size_t i = 1; i < n; i++) {
        m = fmin(m, cast_float(&a[i]));
    }
    *out = tt_mk_float(m);
    return 0;
}

static int f_ceil(struct tt_exec *x,
                  const struct tt_val *a,
                  size_t n,
                  struct tt_val *out)
{
    (void)x;
    (void)n;
    *out = tt_mk_float(ceil(cast_float(&a[0])));
    return 0;
}

static int f_floor(struct tt_exec *x,
                   const struct tt_val *a,
                   size_t n,
                   struct tt_val *out)
{
    (void)x;
    (void)n;
    *out = tt_mk_float(floor(cast_float(&a[0])));
    return 0;
}

static int f_round(struct tt_exec *x,
                   const struct tt_val *a,
                   size_t n,
                   struct tt_val *out)
{
    INT_ARG(1, p);
    double on = n > 2 ? cast_float(&a[2]) : 0.5;
    double v = cast_float(&a[0]);
    double pw = pow(10, (double)p);
    double digit = pw * v;
    double ip;
    double frac = modf(digit, &ip);
    *out = tt_mk_float((frac >= on ? ceil(digit) : floor(digit)) / pw);
    return 0;
}

static bool empty_val(const struct tt_val *v)
{
    switch (v->kind) {
        case TV_STR:
            return v->s.len == 0;
        case TV_INT:
            return v->i == 0;
        case TV_FLOAT:
            return v->f == 0;
        case TV_BOOL:
            return !v->b;
        case TV_TIME:
        case TV_MAP:
            return false;
        case TV_JSON:
            return v->s.len == 2;
        default:
            return true;
    }
}

static int f_default(struct tt_exec *x,
                     const struct tt_val *a,
                     size_t n,
                     struct tt_val *out)
{
    (void)x;
    *out = (n < 2 || empty_val(&a[1])) ? a[0] : a[1];
    return 0;
}

static int f_fromJson(struct tt_exec *x,
                      const struct tt_val *a,
                      size_t n,
                      struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    *out = tt_json_parse(x, s);
    return 0;
}

/* ---- time ------------------------------------------------------------------
 */

static int f_now(struct tt_exec *x,
                 const struct tt_val *a,
                 size_t n,
                 struct tt_val *out)
{
    (void)x;
    (void)a;
    (void)n;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *out = mk_time(ts.tv_sec, (int32_t)ts.tv_nsec);
    return 0;
}

static int f_timestamp(struct tt_exec *x,
                       const struct tt_val *a,
                       size_t n,
                       struct tt_val *out)
{
    (void)a;
    (void)n;
    int64_t ts = tr_logql_lb_ts(x->lb);
    int64_t sec = ts / 1000000000, ns = ts % 1000000000;
    if (ns < 0) {
        ns += 1000000000;
        sec--;
    }
    *out = mk_time(sec, (int32_t)ns);
    return 0;
}

static int f_line(struct tt_exec *x,
                  const struct tt_val *a,
                  size_t n,
                  struct tt_val *out)
{
    (void)a;
    (void)n;
    return tt_ret_slice(out, x->line);
}

static int f_unixEpoch(struct tt_exec *x,
                       const struct tt_val *a,
                       size_t n,
                       struct tt_val *out)
{
    (void)n;
    int rc = want_time(x, &a[0]);
    if (rc) {
        return rc;
    }
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)a[0].i);
    *out = tt_str(x, buf, strlen(buf));
    return 0;
}

static int f_unixEpochMillis(struct tt_exec *x,
                             const struct tt_val *a,
                             size_t n,
                             struct tt_val *out)
{
    (void)n;
    int rc = want_time(x, &a[0]);
    if (rc) {
        return rc;
    }
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld",
             (long long)((uint64_t)a[0].i * 1000u +
                         (uint64_t)(a[0].nsec / 1000000)));
    *out = tt_str(x, buf, strlen(buf));
    return 0;
}

static int f_unixEpochNanos(struct tt_exec *x,
                            const struct tt_val *a,
                            size_t n,
                            struct tt_val *out)
{
    (void)n;
    int rc = want_time(x, &a[0]);
    if (rc) {
        return rc;
    }
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld",
             (long long)((uint64_t)a[0].i * 1000000000u + (uint64_t)a[0].nsec));
    *out = tt_str(x, buf, strlen(buf));
    return 0;
}

static int f_unixToTime(struct tt_exec *x,
                        const struct tt_val *a,
                        size_t n,
                        struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    char buf[32];
    if (s.len == 0 || s.len >= sizeof(buf)) {
        return tt_fail(x,
                       "error calling unixToTime: unable to parse time '%.*s'",
                       (int)(s.len > 64 ? 64 : s.len), s.base);
    }
    memcpy(buf, s.base, s.len);
    buf[s.len] = 0;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (*end ||
        !((buf[0] >= '0' && buf[0] <= '9') || buf[0] == '-' || buf[0] == '+')) {
        return tt_fail(x,
                       "error calling unixToTime: unable to parse time '%s': "
                       "strconv.ParseInt: parsing \"%s\": invalid syntax",
                       buf, buf);
    }
    switch (s.len) {
        case 5:
            *out = mk_time(v * 86400, 0);
            return 0;
        case 10:
            *out = mk_time(v, 0);
            return 0;
        case 13:
            *out = mk_time(v / 1000, (int32_t)(v % 1000 * 1000000));
            return 0;
        case 16:
            *out = mk_time(v / 1000000, (int32_t)(v % 1000000 * 1000));
            return 0;
        case 19:
            *out = mk_time(v / 1000000000, (int32_t)(v % 1000000000));
            return 0;
        default:
            return tt_fail(x,
                           "error calling unixToTime: unable to parse time "
                           "'%s': %%!w(<nil>)",
                           buf);
    }
}

static int f_date(struct tt_exec *x,
                  const struct tt_val *a,
                  size_t n,
                  struct tt_val *out)
{
    (void)n;
    STR_ARG(0, layout);
    struct tt_val t;
    if (a[1].kind == TV_TIME) {
        t = a[1];
    } else if (a[1].kind == TV_INT) {
        t = mk_time(a[1].i, 0);
    } else {
        f_now(x, a, 0, &t);
    }
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = tt_time_format(&b, layout, t.i, t.nsec) ? TR_ENOMEM : 0;
    return buf_result(x, &b, rc, out);
}

static int to_date(struct tt_exec *x,
                   struct tr_slice layout,
                   struct tr_slice v,
                   struct tt_val *out)
{
    int64_t sec;
    int32_t ns;
    (void)x;
    if (!tt_time_parse(layout, v, &sec, &ns)) {
        *out = mk_time(-62135596800LL, 0); /* Go's zero time */
        return 0;
    }
    *out = mk_time(sec, ns);
    return 0;
}

static int f_toDate(struct tt_exec *x,
                    const struct tt_val *a,
                    size_t n,
                    struct tt_val *out)
{
    (void)n;
    STR_ARG(0, layout);
    STR_ARG(1, v);
    return to_date(x, layout, v, out);
}

static int f_toDateInZone(struct tt_exec *x,
                          const struct tt_val *a,
                          size_t n,
                          struct tt_val *out)
{
    (void)n;
    STR_ARG(0, layout);
    STR_ARG(1, zone);
    STR_ARG(2, v);
    (void)zone; /* no zone database: every zone reads as UTC */
    return to_date(x, layout, v, out);
}

/* ---- the table
 * --------------------------------------------------------------- */

static const struct tt_func funcs[] = {
    {"and", 1, -1, f_unused},
    {"or", 1, -1, f_unused},
    {"not", 1, 1, f_not},
    {"len", 1, 1, f_len},
    {"index", 1, -1, f_index},
    {"print", 0, -1, f_print},
    {"printf", 1, -1, f_printf},
    {"println", 0, -1, f_println},
    {"urlquery", 0, -1, f_urlquery},
    {"eq", 1, -1, f_eq},
    {"ne", 2, 2, f_ne},
    {"lt", 2, 2, f_lt},
    {"le", 2, 2, f_le},
    {"gt", 2, 2, f_gt},
    {"ge", 2, 2, f_ge},
    {"bytes", 1, 1, f_bytes},
    {"duration", 1, 1, f_duration},
    {"duration_seconds", 1, 1, f_duration},
    {"unixEpochMillis", 1, 1, f_unixEpochMillis},
    {"unixEpochNanos", 1, 1, f_unixEpochNanos},
    {"toDateInZone", 3, 3, f_toDateInZone},
    {"unixToTime", 1, 1, f_unixToTime},
    {"__line__", 0, 0, f_line},
    {"__timestamp__", 0, 0, f_timestamp},
    {"int", 1, 1, f_int},
    {"float64", 1, 1, f_float64},
    {"add", 0, -1, f_add},
    {"sub", 2, 2, f_sub},
    {"mul", 1, -1, f_mul},
    {"div", 2, 2, f_div},
    {"mod", 2, 2, f_mod},
    {"addf", 0, -1, f_addf},
    {"subf", 1, -1, f_subf},
    {"mulf", 1, -1, f_mulf},
    {"divf", 1, -1, f_divf},
    {"max", 1, -1, f_max},
    {"min", 1, -1, f_min},
    {"maxf", 1, -1, f_maxf},
    {"minf", 1, -1, f_minf},
    {"ceil", 1, 1, f_ceil},
    {"floor", 1, 1, f_floor},
    {"round", 2, 3, f_round},
    {"fromJson", 1, 1, f_fromJson},
    {"date", 2, 2, f_date},
    {"toDate", 2, 2, f_toDate},
    {"now", 0, 0, f_now},
    {"unixEpoch", 1, 1, f_unixEpoch},
    {"default", 1, -1, f_default},
};

#define N_FUNCS (sizeof(funcs) / sizeof(funcs[0]))

int tt_func_find(const char *name, size_t len)
{
    for (size_t i = 0; i < N_FUNCS + tt_n_str_funcs; i++) {
        const struct tt_func *f = tt_func_at((int)i);
        if (strlen(f->name) == len && memcmp(f->name, name, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

const struct tt_func *tt_func_at(int i)
{
    return (size_t)i < N_FUNCS ? &funcs[i] : &tt_str_funcs[(size_t)i - N_FUNCS];
}

bool tt_func_is(int i, const char *name)
{
    return strcmp(tt_func_at(i)->name, name) == 0;
}
