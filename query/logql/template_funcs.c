/* template_funcs.c - the function map of LogQL templates (Go builtins,
 * Loki's functions and the sprig subset Loki exposes) and Go's value
 * printing. See template.h for the list. */
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

static const char *type_name(const struct tt_val *v)
{
    switch (v->kind) {
        case TV_STR:
            return "string";
        case TV_INT:
            return "int";
        case TV_FLOAT:
            return "float64";
        case TV_BOOL:
            return "bool";
        case TV_TIME:
            return "time.Time";
        case TV_MAP:
            return "map[string]string";
        case TV_JSON:
            return v->s.len && v->s.base[0] == '[' ? "[]interface {}"
                                                   : "map[string]interface {}";
        case TV_NIL:
            return "<nil>";
        default:
            return "invalid";
    }
}

static int want_str(struct tt_exec *x,
                    const struct tt_val *v,
                    struct tr_slice *s)
{
    if (v->kind == TV_STR) {
        *s = v->s;
        return 0;
    }
    if (v->kind == TV_INVALID) {
        return tt_fail(x, "invalid value; expected string");
    }
    return tt_fail(x, "wrong type for value; expected string; got %s",
                   type_name(v));
}

static int want_int(struct tt_exec *x, const struct tt_val *v, int64_t *i)
{
    if (v->kind == TV_INT) {
        *i = v->i;
        return 0;
    }
    return tt_fail(x, "wrong type for value; expected int; got %s",
                   type_name(v));
}

static int want_time(struct tt_exec *x, const struct tt_val *v)
{
    if (v->kind == TV_TIME) {
        return 0;
    }
    return tt_fail(x, "wrong type for value; expected time.Time; got %s",
                   type_name(v));
}

/* cast.ToInt64 (errors read as 0). */
static int64_t cast_int(const struct tt_val *v)
{
    switch (v->kind) {
        case TV_INT:
            return v->i;
        case TV_FLOAT:
            return isnan(v->f) ? 0 : (int64_t)v->f;
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

static struct tt_val mk_int(int64_t i)
{
    struct tt_val v = {.kind = TV_INT, .i = i};
    return v;
}

static struct tt_val mk_float(double f)
{
    struct tt_val v = {.kind = TV_FLOAT, .f = f};
    return v;
}

static struct tt_val mk_bool(bool b)
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

/* A scratch buffer for building a string result in the arena. */
struct sb {
    struct tt_exec *x;
    char *p;
    size_t n;
    size_t cap;
};

static bool sb_grow(struct sb *b, size_t extra)
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

static bool sb_add(struct sb *b, const char *s, size_t n)
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

static int sb_done(struct sb *b, struct tt_val *out)
{
    out->kind = TV_STR;
    out->s = (struct tr_slice){b->p ? b->p : "", b->n};
    return tr_logql_lb_oom(b->x->lb) ? TR_ENOMEM : 0;
}

/* ---- JSON values (fromJson) -------------------------------------------- */

static void jws(const char *s, size_t n, size_t *i)
{
    while (*i < n &&
           (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' || s[*i] == '\r')) {
        (*i)++;
    }
}

/* Skips one JSON value (validating); false when malformed. */
static bool jskip(const char *s, size_t n, size_t *i, int depth)
{
    jws(s, n, i);
    if (*i >= n || depth > TT_MAX_DEPTH) {
        return false;
    }
    char c = s[*i];
    if (c == '"') {
        for ((*i)++; *i < n; (*i)++) {
            if (s[*i] == '\\') {
                (*i)++;
            } else if (s[*i] == '"') {
                (*i)++;
                return true;
            } else if ((unsigned char)s[*i] < 0x20) {
                return false;
            }
        }
        return false;
    }
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        (*i)++;
        jws(s, n, i);
        if (*i < n && s[*i] == close) {
            (*i)++;
            return true;
        }
        for (;;) {
            if (c == '{') {
                jws(s, n, i);
                if (*i >= n || s[*i] != '"' || !jskip(s, n, i, depth + 1)) {
                    return false;
                }
                jws(s, n, i);
                if (*i >= n || s[*i] != ':') {
                    return false;
                }
                (*i)++;
            }
            if (!jskip(s, n, i, depth + 1)) {
                return false;
            }
            jws(s, n, i);
            if (*i < n && s[*i] == ',') {
                (*i)++;
                continue;
            }
            if (*i < n && s[*i] == close) {
                (*i)++;
                return true;
            }
            return false;
        }
    }
    size_t st = *i;
    while (*i < n && (s[*i] == '-' || s[*i] == '+' || s[*i] == '.' ||
                      (s[*i] >= '0' && s[*i] <= '9') || s[*i] == 'e' ||
                      s[*i] == 'E' || (s[*i] >= 'a' && s[*i] <= 'z'))) {
        (*i)++;
    }
    size_t l = *i - st;
    if ((l == 4 && memcmp(s + st, "true", 4) == 0) ||
        (l == 5 && memcmp(s + st, "false", 5) == 0) ||
        (l == 4 && memcmp(s + st, "null", 4) == 0)) {
        return true;
    }
    double f;
    return l > 0 && (s[st] == '-' || (s[st] >= '0' && s[st] <= '9')) &&
           tr_logql_parse_float(s + st, l, &f, NULL) == 0;
}

/* The tt_val of the JSON value s[st, st+len). */
static struct tt_val jval(struct tt_exec *x, const char *s, size_t len)
{
    struct tt_val v = {.kind = TV_NIL};
    if (len == 0) {
        return v;
    }
    if (s[0] == '{' || s[0] == '[') {
        v.kind = TV_JSON;
        v.s = (struct tr_slice){s, len};
    } else if (s[0] == '"') {
        char *o = tr_arena_alloc(ARENA(x), len);
        long k = o ? tr_logql__json_unescape(o, s + 1, len - 2) : -1;
        v.kind = TV_STR;
        v.s =
            k >= 0 ? (struct tr_slice){o, (size_t)k} : (struct tr_slice){"", 0};
    } else if (s[0] == 't' || s[0] == 'f') {
        v = mk_bool(s[0] == 't');
    } else if (s[0] != 'n') {
        double f = 0;
        tr_logql_parse_float(s, len, &f, NULL);
        v = mk_float(f);
    }
    return v;
}

/* Calls each(key, value) for the members of a JSON object or array. */
typedef int (*jeach_fn)(struct tt_exec *,
                        const struct tt_val *,
                        const struct tt_val *,
                        void *,
                        bool *);

static int jforeach(struct tt_exec *x,
                    const struct tt_val *v,
                    jeach_fn each,
                    void *arg,
                    size_t *count)
{
    const char *s = v->s.base;
    size_t n = v->s.len, i = 1;
    bool obj = s[0] == '{', stop = false;
    *count = 0;
    jws(s, n, &i);
    if (i < n && (s[i] == '}' || s[i] == ']')) {
        return 0;
    }
    for (int64_t idx = 0; !stop; idx++) {
        struct tt_val k = mk_int(idx);
        jws(s, n, &i);
        if (obj) {
            size_t ks = i;
            if (!jskip(s, n, &i, 0)) {
                return 0;
            }
            k = jval(x, s + ks, i - ks);
            jws(s, n, &i);
            i++; /* ':' */
            jws(s, n, &i);
        }
        size_t vs = i;
        if (!jskip(s, n, &i, 0)) {
            return 0;
        }
        struct tt_val val = jval(x, s + vs, i - vs);
        (*count)++;
        int rc = each(x, &k, &val, arg, &stop);
        if (rc) {
            return rc;
        }
        jws(s, n, &i);
        if (i >= n || s[i] != ',') {
            break;
        }
        i++;
    }
    return 0;
}

int tt_range_json(struct tt_exec *x,
                  const struct tt_val *v,
                  jeach_fn each,
                  void *arg,
                  size_t *count)
{
    return jforeach(x, v, each, arg, count);
}

struct jfind {
    struct tr_slice key; /* object member */
    int64_t idx;         /* array element */
    bool found;
    struct tt_val v;
};

static int jfind_cb(struct tt_exec *x,
                    const struct tt_val *k,
                    const struct tt_val *v,
                    void *arg,
                    bool *stop)
{
    (void)x;
    struct jfind *f = arg;
    bool hit = k->kind == TV_STR ? tr_slice_eq(k->s, f->key)
                                 : (k->kind == TV_INT && k->i == f->idx);
    if (hit) {
        f->found = true;
        f->v = *v;
        *stop = true;
    }
    return 0;
}

int tt_field(struct tt_exec *x,
             const struct tt_val *v,
             struct tr_slice name,
             struct tt_val *out)
{
    if (v->kind == TV_MAP) {
        size_t lo = 0, hi = x->n_labels;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            int c = tr_slice_cmp(x->labels[mid].name, name);
            if (c == 0) {
                out->kind = TV_STR;
                out->s = x->labels[mid].value;
                return 0;
            }
            if (c < 0) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        memset(out, 0, sizeof(*out));
        out->kind = TV_STR;
        out->s = (struct tr_slice){"", 0};
        return 0;
    }
    if (v->kind == TV_JSON && v->s.base[0] == '{') {
        struct jfind f = {name, -1, false, {.kind = TV_INVALID}};
        size_t count;
        int rc = jforeach(x, v, jfind_cb, &f, &count);
        *out = f.v;
        return rc;
    }
    if (v->kind == TV_INVALID || v->kind == TV_NIL) {
        return tt_fail(x, "nil pointer evaluating interface {}.%.*s",
                       (int)name.len, name.base);
    }
    return tt_fail(x, "can't evaluate field %.*s in type %s", (int)name.len,
                   name.base, type_name(v));
}

/* ---- printing --------------------------------------------------------------
 */

void tt_fmt_float(char *buf, size_t size, double f)
{
    if (isnan(f)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(f)) {
        snprintf(buf, size, f > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (f == 0) {
        snprintf(buf, size, signbit(f) ? "-0" : "0");
        return;
    }
    char d[17];
    int e10;
    int nd = tr_dtoa_shortest(f, d, &e10);
    int exp = e10; /* value = 0.d * 10^(e10+1): first digit at 10^e10 */
    char *o = buf;
    size_t left = size;
#define PUT(c)          \
    do {                \
        if (left > 1) { \
            *o++ = (c); \
            left--;     \
        }               \
    } while (0)
    if (f < 0) {
        PUT('-');
    }
    if (exp < -4 || exp >= 6) { /* %g with the shortest digits */
        PUT(d[0]);
        if (nd > 1) {
            PUT('.');
            for (int i = 1; i < nd; i++) {
                PUT(d[i]);
            }
        }
        PUT('e');
        PUT(exp < 0 ? '-' : '+');
        int ae = exp < 0 ? -exp : exp;
        char eb[8];
        int k = snprintf(eb, sizeof(eb), "%02d", ae);
        for (int i = 0; i < k; i++) {
            PUT(eb[i]);
        }
    } else if (exp < 0) {
        PUT('0');
        PUT('.');
        for (int i = -1; i > exp; i--) {
            PUT('0');
        }
        for (int i = 0; i < nd; i++) {
            PUT(d[i]);
        }
    } else {
        for (int i = 0; i <= exp || i < nd; i++) {
            if (i == exp + 1) {
                PUT('.');
            }
            PUT(i < nd ? d[i] : '0');
        }
    }
#undef PUT
    *o = 0;
}

static int print_json(struct tt_exec *x,
                      struct tr_buf *b,
                      const struct tt_val *v,
                      int depth);

struct jprint {
    struct tr_buf *b;
    int depth;
    bool obj;
    bool first;
    struct tr_slice *keys;
    struct tt_val *vals;
    size_t n;
    size_t cap;
};

static int jcollect(struct tt_exec *x,
                    const struct tt_val *k,
                    const struct tt_val *v,
                    void *arg,
                    bool *stop)
{
    (void)stop;
    struct jprint *p = arg;
    if (p->n == p->cap) {
        size_t cap = p->cap;
        struct tr_slice *nk =
            tr_arena_array_grow(ARENA(x), p->keys, p->n, &cap, sizeof(*nk), 8);
        struct tt_val *nv = tr_arena_array_grow(ARENA(x), p->vals, p->n,
                                                &p->cap, sizeof(*nv), 8);
        if (!nk || !nv) {
            tr_logql_lb__set_oom(x->lb);
            return TR_ENOMEM;
        }
        p->keys = nk;
        p->vals = nv;
    }
    p->keys[p->n] = k->kind == TV_STR ? k->s : (struct tr_slice){"", 0};
    p->vals[p->n] = *v;
    p->n++;
    return 0;
}

static int print_json(struct tt_exec *x,
                      struct tr_buf *b,
                      const struct tt_val *v,
                      int depth)
{
    struct jprint p = {b, depth, v->s.base[0] == '{', true, NULL, NULL, 0, 0};
    size_t count;
    if (depth > TT_MAX_DEPTH) {
        return tt_fail(x, "value nested too deep");
    }
    int rc = jforeach(x, v, jcollect, &p, &count);
    if (rc) {
        return rc;
    }
    /* Go prints maps with sorted keys */
    if (p.obj) {
        for (size_t i = 1; i < p.n; i++) {
            for (size_t j = i;
                 j > 0 && tr_slice_cmp(p.keys[j - 1], p.keys[j]) > 0; j--) {
                struct tr_slice tk = p.keys[j];
                struct tt_val tv = p.vals[j];
                p.keys[j] = p.keys[j - 1];
                p.vals[j] = p.vals[j - 1];
                p.keys[j - 1] = tk;
                p.vals[j - 1] = tv;
            }
        }
    }
    tr_buf_puts(b, p.obj ? "map[" : "[");
    for (size_t i = 0; i < p.n; i++) {
        if (i) {
            tr_buf_putc(b, ' ');
        }
        if (p.obj) {
            tr_buf_append(b, p.keys[i].base, p.keys[i].len);
            tr_buf_putc(b, ':');
        }
        if (p.vals[i].kind == TV_JSON) {
            rc = print_json(x, b, &p.vals[i], depth + 1);
        } else {
            rc = tt_print(x, b, &p.vals[i]);
        }
        if (rc) {
            return rc;
        }
    }
    tr_buf_putc(b, ']');
    return 0;
}

int tt_print(struct tt_exec *x, struct tr_buf *b, const struct tt_val *v)
{
    char tmp[64];
    switch (v->kind) {
        case TV_STR:
            tr_buf_append(b, v->s.base, v->s.len);
            break;
        case TV_INT:
            tr_buf_printf(b, "%lld", (long long)v->i);
            break;
        case TV_FLOAT:
            tt_fmt_float(tmp, sizeof(tmp), v->f);
            tr_buf_puts(b, tmp);
            break;
        case TV_BOOL:
            tr_buf_puts(b, v->b ? "true" : "false");
            break;
        case TV_TIME:
            tt_time_format(
                b, TR_SLICE_LIT("2006-01-02 15:04:05.999999999 -0700 MST"),
                v->i, v->nsec);
            break;
        case TV_MAP:
            tr_buf_puts(b, "map[");
            for (size_t i = 0; i < x->n_labels; i++) {
                if (i) {
                    tr_buf_putc(b, ' ');
                }
                tr_buf_append(b, x->labels[i].name.base, x->labels[i].name.len);
                tr_buf_putc(b, ':');
                tr_buf_append(b, x->labels[i].value.base,
                              x->labels[i].value.len);
            }
            tr_buf_putc(b, ']');
            break;
        case TV_JSON:
            return print_json(x, b, v, 0);
        case TV_NIL:
            tr_buf_puts(b, "<nil>");
            break;
        default:
            tr_buf_puts(b, "<no value>");
            break;
    }
    return b->oom ? TR_ENOMEM : 0;
}

/* ---- printf ----------------------------------------------------------------
 */

static size_t rune_count(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n;) {
        size_t l = tr_utf8_seq_len((const unsigned char *)s + i, n - i);
        i += l ? l : 1;
        c++;
    }
    return c;
}

static size_t rune_prefix(const char *s, size_t n, size_t runes)
{
    size_t i = 0;
    while (i < n && runes > 0) {
        size_t l = tr_utf8_seq_len((const unsigned char *)s + i, n - i);
        i += l ? l : 1;
        runes--;
    }
    return i;
}

static void pad(struct tr_buf *b,
                const char *s,
                size_t n,
                int width,
                bool minus,
                bool zero)
{
    size_t rc = rune_count(s, n);
    size_t w = width > 0 ? (size_t)width : 0;
    if (!minus) {
        for (size_t i = rc; i < w; i++) {
            tr_buf_putc(b, zero ? '0' : ' ');
        }
    }
    tr_buf_append(b, s, n);
    if (minus) {
        for (size_t i = rc; i < w; i++) {
            tr_buf_putc(b, ' ');
        }
    }
}

static void go_quote(struct tr_buf *b, const char *s, size_t n)
{
    tr_buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t l = tr_utf8_seq_len((const unsigned char *)s + i, n - i);
        if (l == 0) {
            tr_buf_printf(b, "\\x%02x", c);
            i++;
            continue;
        }
        if (l > 1) {
            tr_buf_append(b, s + i, l);
            i += l;
            continue;
        }
        switch (c) {
            case '"':
                tr_buf_puts(b, "\\\"");
                break;
            case '\\':
                tr_buf_puts(b, "\\\\");
                break;
            case '\n':
                tr_buf_puts(b, "\\n");
                break;
            case '\t':
                tr_buf_puts(b, "\\t");
                break;
            case '\r':
                tr_buf_puts(b, "\\r");
                break;
            case '\a':
                tr_buf_puts(b, "\\a");
                break;
            case '\b':
                tr_buf_puts(b, "\\b");
                break;
            case '\f':
                tr_buf_puts(b, "\\f");
                break;
            case '\v':
                tr_buf_puts(b, "\\v");
                break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    tr_buf_printf(b, "\\x%02x", c);
                } else {
                    tr_buf_putc(b, (char)c);
                }
        }
        i++;
    }
    tr_buf_putc(b, '"');
}

static void bad_verb(struct tt_exec *x,
                     struct tr_buf *b,
                     char verb,
                     const struct tt_val *v)
{
    tr_buf_printf(b, "%%!%c(%s=", verb, type_name(v));
    tt_print(x, b, v);
    tr_buf_putc(b, ')');
}

/* The numeric verbs format through C's snprintf with a spec built from
 * the Go verb's flags. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
int tt_sprintf(struct tt_exec *x,
               struct tr_buf *b,
               struct tr_slice fmt,
               const struct tt_val *a,
               size_t n)
{
    size_t ai = 0;
    const char *f = fmt.base;
    size_t fn = fmt.len;
    for (size_t i = 0; i < fn;) {
        if (f[i] != '%') {
            tr_buf_putc(b, f[i++]);
            continue;
        }
        i++;
        bool minus = false, plus = false, zero = false, space = false,
             sharp = false;
        for (; i < fn; i++) {
            if (f[i] == '-') {
                minus = true;
            } else if (f[i] == '+') {
                plus = true;
            } else if (f[i] == '0') {
                zero = true;
            } else if (f[i] == ' ') {
                space = true;
            } else if (f[i] == '#') {
                sharp = true;
            } else {
                break;
            }
        }
        int width = -1, prec = -1;
        while (i < fn && f[i] >= '0' && f[i] <= '9') {
            width = (width < 0 ? 0 : width) * 10 + (f[i++] - '0');
            if (width > 10000) {
                width = 10000;
            }
        }
        if (i < fn && f[i] == '.') {
            i++;
            prec = 0;
            while (i < fn && f[i] >= '0' && f[i] <= '9') {
                prec = prec * 10 + (f[i++] - '0');
                if (prec > 10000) {
                    prec = 10000;
                }
            }
        }
        if (i >= fn) {
            tr_buf_puts(b, "%!(NOVERB)");
            break;
        }
        char verb = f[i++];
        if (verb == '%') {
            tr_buf_putc(b, '%');
            continue;
        }
        if (ai >= n) {
            tr_buf_printf(b, "%%!%c(MISSING)", verb);
            continue;
        }
        const struct tt_val *v = &a[ai++];
        char spec[32], tmp[512];
        struct tr_buf sv;
        tr_buf_init(&sv);
        switch (verb) {
            case 'v':
            case 's':
            case 'q':
                if (verb == 's' && v->kind != TV_STR && v->kind != TV_TIME &&
                    v->kind != TV_JSON && v->kind != TV_MAP) {
                    if (v->kind == TV_INT || v->kind == TV_FLOAT ||
                        v->kind == TV_BOOL) {
                        bad_verb(x, b, verb, v);
                        break;
                    }
                }
                if (verb == 'q' && v->kind == TV_STR) {
                    go_quote(&sv, v->s.base, v->s.len);
                } else if (verb == 'q' && v->kind == TV_INT) {
                    tr_buf_printf(&sv, "'%c'", (char)v->i);
                } else {
                    tt_print(x, &sv, v);
                }
                {
                    size_t len = sv.len;
                    if (prec >= 0 && (verb == 's' || verb == 'v') &&
                        v->kind == TV_STR) {
                        len = rune_prefix(sv.data ? sv.data : "", sv.len,
                                          (size_t)prec);
                    }
                    pad(b, sv.data ? sv.data : "", len, width, minus,
                        zero && !minus);
                }
                break;
            case 'd':
            case 'x':
            case 'X':
            case 'o':
            case 'b':
            case 'c':
                if (v->kind == TV_STR && (verb == 'x' || verb == 'X')) {
                    for (size_t k = 0; k < v->s.len; k++) {
                        tr_buf_printf(&sv, verb == 'x' ? "%02x" : "%02X",
                                      (unsigned char)v->s.base[k]);
                    }
                    pad(b, sv.data ? sv.data : "", sv.len, width, minus, false);
                    break;
                }
                if (v->kind != TV_INT) {
                    bad_verb(x, b, verb, v);
                    break;
                }
                if (verb == 'c') {
                    char r[8];
                    size_t l = 0;
                    int64_t c = v->i;
                    if (c < 0x80 && c >= 0) {
                        r[l++] = (char)c;
                    } else {
                        tt_print(x, &sv, v);
                    }
                    pad(b, r, l, width, minus, false);
                    break;
                }
                if (verb == 'b') {
                    uint64_t u = v->i < 0 ? (uint64_t)0 - (uint64_t)v->i
                                          : (uint64_t)v->i;
                    char bits[70];
                    int k = 0;
                    do {
                        bits[k++] = (char)('0' + (u & 1));
                        u >>= 1;
                    } while (u);
                    if (v->i < 0) {
                        tr_buf_putc(&sv, '-');
                    }
                    while (k) {
                        tr_buf_putc(&sv, bits[--k]);
                    }
                    pad(b, sv.data, sv.len, width, minus, zero && !minus);
                    break;
                }
                {
                    bool neg = v->i < 0 && verb != 'd';
                    unsigned long long u = neg ? 0ULL - (unsigned long long)v->i
                                               : (unsigned long long)v->i;
                    int w = width < 0 ? 0 : width;
                    if (prec >= 0) {
                        snprintf(spec, sizeof(spec), "%%%s%s%s%s*.*ll%c",
                                 minus ? "-" : "", plus ? "+" : "",
                                 space ? " " : "", sharp ? "#" : "", verb);
                    } else {
                        snprintf(spec, sizeof(spec), "%%%s%s%s%s%s*ll%c",
                                 minus ? "-" : "", plus ? "+" : "",
                                 zero && !minus ? "0" : "", space ? " " : "",
                                 sharp ? "#" : "", verb);
                    }
                    if (neg) {
                        tr_buf_putc(b, '-');
                    }
                    if (verb == 'd' && prec >= 0) {
                        snprintf(tmp, sizeof(tmp), spec, w, prec,
                                 (long long)v->i);
                    } else if (verb == 'd') {
                        snprintf(tmp, sizeof(tmp), spec, w, (long long)v->i);
                    } else if (prec >= 0) {
                        snprintf(tmp, sizeof(tmp), spec, w, prec, u);
                    } else {
                        snprintf(tmp, sizeof(tmp), spec, w, u);
                    }
                    tr_buf_puts(b, tmp);
                }
                break;
            case 'f':
            case 'F':
            case 'e':
            case 'E':
            case 'g':
            case 'G': {
                double d;
                if (v->kind == TV_FLOAT) {
                    d = v->f;
                } else {
                    bad_verb(x, b, verb, v);
                    break;
                }
                if ((verb == 'g' || verb == 'G') && prec < 0) {
                    char fb[64];
                    tt_fmt_float(fb, sizeof(fb), d);
                    pad(b, fb, strlen(fb), width, minus, zero && !minus);
                    break;
                }
                snprintf(spec, sizeof(spec), "%%%s%s%s%s%s*.*%c",
                         minus ? "-" : "", plus ? "+" : "", zero ? "0" : "",
                         space ? " " : "", sharp ? "#" : "", verb);
                snprintf(tmp, sizeof(tmp), spec, width < 0 ? 0 : width,
                         prec < 0 ? 6 : (prec > 100 ? 100 : prec), d);
                tr_buf_puts(b, tmp);
                break;
            }
            case 't':
                if (v->kind != TV_BOOL) {
                    bad_verb(x, b, verb, v);
                    break;
                }
                pad(b, v->b ? "true" : "false", v->b ? 4 : 5, width, minus,
                    false);
                break;
            case 'T':
                pad(b, type_name(v), strlen(type_name(v)), width, minus, false);
                break;
            default:
                bad_verb(x, b, verb, v);
                break;
        }
        tr_buf_free(&sv);
        if (b->len > TT_MAX_OUTPUT) {
            return tt_fail(x, "output too large");
        }
    }
    if (ai < n) {
        tr_buf_puts(b, "%!(EXTRA ");
        for (size_t k = ai; k < n; k++) {
            if (k > ai) {
                tr_buf_puts(b, ", ");
            }
            tr_buf_printf(b, "%s=", type_name(&a[k]));
            tt_print(x, b, &a[k]);
        }
        tr_buf_putc(b, ')');
    }
    return b->oom ? TR_ENOMEM : 0;
}
#pragma GCC diagnostic pop

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
    *out = mk_bool(!tt_truth(&a[0]));
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

static int f_len(struct tt_exec *x,
                 const struct tt_val *a,
                 size_t n,
                 struct tt_val *out)
{
    (void)n;
    if (a[0].kind == TV_STR) {
        *out = mk_int((int64_t)a[0].s.len);
        return 0;
    }
    if (a[0].kind == TV_MAP) {
        *out = mk_int((int64_t)x->n_labels);
        return 0;
    }
    if (a[0].kind == TV_JSON) {
        struct jprint p = {NULL, 0, false, true, NULL, NULL, 0, 0};
        size_t count;
        int rc = jforeach(x, &a[0], jcollect, &p, &count);
        *out = mk_int((int64_t)count);
        return rc;
    }
    return tt_fail(x, "error calling len: len of type %s", type_name(&a[0]));
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
                    type_name(&a[i]));
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
                               type_name(&a[i]));
            }
            struct jfind f = {{"", 0}, a[i].i, false, {.kind = TV_INVALID}};
            size_t count;
            int rc = jforeach(x, &v, jfind_cb, &f, &count);
            if (rc) {
                return rc;
            }
            if (!f.found) {
                return tt_fail(x,
                               "error calling index: index out of range: %lld",
                               (long long)a[i].i);
            }
            v = f.v;
        } else if (v.kind == TV_STR) {
            if (a[i].kind != TV_INT) {
                return tt_fail(x,
                               "error calling index: cannot index slice/array "
                               "with type %s",
                               type_name(&a[i]));
            }
            if (a[i].i < 0 || (uint64_t)a[i].i >= v.s.len) {
                return tt_fail(x,
                               "error calling index: index out of range: %lld",
                               (long long)a[i].i);
            }
            v = mk_int((unsigned char)v.s.base[a[i].i]);
        } else {
            return tt_fail(x,
                           "error calling index: can't index item of type %s",
                           type_name(&v));
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
    int rc = want_str(x, &a[0], &fmt);
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
            *out = mk_bool(true);
            return 0;
        }
    }
    *out = mk_bool(false);
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
    *out = mk_bool(c != 0);
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
    *out = mk_bool(r);
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

static void query_escape(struct sb *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
            c == '~') {
            sb_add(b, (const char *)&s[i], 1);
        } else if (c == ' ') {
            sb_add(b, "+", 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            sb_add(b, e, 3);
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
    struct sb b = {x, NULL, 0, 0};
    query_escape(&b, s.s.base, s.s.len);
    return sb_done(&b, out);
}

/* ---- strings
 * ------------------------------------------------------------------ */

/* Fetches the string arguments of a (indices given by mask order). */
#define STR_ARG(i, var)                       \
    struct tr_slice var;                      \
    do {                                      \
        int rc_ = want_str(x, &a[(i)], &var); \
        if (rc_) {                            \
            return rc_;                       \
        }                                     \
    } while (0)

#define INT_ARG(i, var)                       \
    int64_t var;                              \
    do {                                      \
        int rc_ = want_int(x, &a[(i)], &var); \
        if (rc_) {                            \
            return rc_;                       \
        }                                     \
    } while (0)

static int map_case(struct tt_exec *x,
                    struct tr_slice s,
                    bool up,
                    struct tt_val *out)
{
    char *o = tr_arena_alloc(ARENA(x), s.len + 1);
    if (!o) {
        tr_logql_lb__set_oom(x->lb);
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < s.len; i++) {
        char c = s.base[i];
        if (up && c >= 'a' && c <= 'z') {
            c = (char)(c - 'a' + 'A');
        } else if (!up && c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        o[i] = c;
    }
    out->kind = TV_STR;
    out->s = (struct tr_slice){o, s.len};
    return 0;
}

static int f_lower(struct tt_exec *x,
                   const struct tt_val *a,
                   size_t n,
                   struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    return map_case(x, s, false, out);
}

static int f_upper(struct tt_exec *x,
                   const struct tt_val *a,
                   size_t n,
                   struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    return map_case(x, s, true, out);
}

static int f_title(struct tt_exec *x,
                   const struct tt_val *a,
                   size_t n,
                   struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    char *o = tr_arena_alloc(ARENA(x), s.len + 1);
    if (!o) {
        tr_logql_lb__set_oom(x->lb);
        return TR_ENOMEM;
    }
    bool prev_sep = true;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.base[i];
        o[i] = (char)c;
        bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
        if (prev_sep && c >= 'a' && c <= 'z') {
            o[i] = (char)(c - 'a' + 'A');
        }
        prev_sep = !word;
    }
    out->kind = TV_STR;
    out->s = (struct tr_slice){o, s.len};
    return 0;
}

static const char *find(struct tr_slice h, struct tr_slice nd)
{
    if (nd.len == 0) {
        return h.base;
    }
    if (nd.len > h.len) {
        return NULL;
    }
    return memmem(h.base, h.len, nd.base, nd.len);
}

/* strings.Replace(s, old, new, n) */
static int replace(struct tt_exec *x,
                   struct tr_slice s,
                   struct tr_slice old,
                   struct tr_slice nw,
                   int64_t n,
                   struct tt_val *out)
{
    struct sb b = {x, NULL, 0, 0};
    if (old.len == 0) {
        /* Go inserts new before every rune and at the end */
        size_t i = 0;
        int64_t k = 0;
        while (n < 0 || k < n) {
            sb_add(&b, nw.base, nw.len);
            k++;
            if (i >= s.len) {
                break;
            }
            size_t l =
                tr_utf8_seq_len((const unsigned char *)s.base + i, s.len - i);
            l = l ? l : 1;
            sb_add(&b, s.base + i, l);
            i += l;
        }
        sb_add(&b, s.base + i, s.len - i);
        if (b.n > TT_MAX_OUTPUT) {
            return tt_fail(x, "output too large");
        }
        return sb_done(&b, out);
    }
    size_t i = 0;
    int64_t k = 0;
    while (n < 0 || k < n) {
        const char *f = find((struct tr_slice){s.base + i, s.len - i}, old);
        if (!f) {
            break;
        }
        size_t at = (size_t)(f - s.base);
        sb_add(&b, s.base + i, at - i);
        if (!sb_add(&b, nw.base, nw.len)) {
            return tr_logql_lb_oom(x->lb) ? TR_ENOMEM
                                          : tt_fail(x, "output too large");
        }
        i = at + old.len;
        k++;
    }
    sb_add(&b, s.base + i, s.len - i);
    return sb_done(&b, out);
}

static int f_Replace(struct tt_exec *x,
                     const struct tt_val *a,
                     size_t n,
                     struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    STR_ARG(1, old);
    STR_ARG(2, nw);
    INT_ARG(3, k);
    return replace(x, s, old, nw, k, out);
}

static int f_replace(struct tt_exec *x,
                     const struct tt_val *a,
                     size_t n,
                     struct tt_val *out)
{
    (void)n;
    STR_ARG(0, old);
    STR_ARG(1, nw);
    STR_ARG(2, s);
    return replace(x, s, old, nw, -1, out);
}

static bool in_cutset(struct tr_slice cut, const char *s, size_t l)
{
    for (size_t i = 0; i < cut.len;) {
        size_t cl =
            tr_utf8_seq_len((const unsigned char *)cut.base + i, cut.len - i);
        cl = cl ? cl : 1;
        if (cl == l && memcmp(cut.base + i, s, l) == 0) {
            return true;
        }
        i += cl;
    }
    return false;
}

static struct tr_slice trim_cut(struct tr_slice s,
                                struct tr_slice cut,
                                bool left,
                                bool right)
{
    if (left) {
        while (s.len) {
            size_t l = tr_utf8_seq_len((const unsigned char *)s.base, s.len);
            l = l ? l : 1;
            if (!in_cutset(cut, s.base, l)) {
                break;
            }
            s.base += l;
            s.len -= l;
        }
    }
    if (right) {
        while (s.len) {
            size_t l = 1;
            while (l < s.len && l < 4 &&
                   ((unsigned char)s.base[s.len - l] & 0xc0) == 0x80) {
                l++;
            }
            if (tr_utf8_seq_len((const unsigned char *)s.base + s.len - l, l) !=
                l) {
                l = 1;
            }
            if (!in_cutset(cut, s.base + s.len - l, l)) {
                break;
            }
            s.len -= l;
        }
    }
    return s;
}

static struct tr_slice trim_space(struct tr_slice s)
{
    size_t l;
    while (s.len && (l = tr_logql__space_len(s.base, s.len)) > 0) {
        s.base += l;
        s.len -= l;
    }
    for (bool again = true; again && s.len;) {
        again = false;
        for (size_t k = 1; k <= 3 && k <= s.len; k++) {
            if (tr_logql__space_len(s.base + s.len - k, k) == k) {
                s.len -= k;
                again = true;
                break;
            }
        }
    }
    return s;
}

static int ret_slice(struct tt_val *out, struct tr_slice s)
{
    out->kind = TV_STR;
    out->s = s;
    return 0;
}

static int f_Trim(struct tt_exec *x,
                  const struct tt_val *a,
                  size_t n,
                  struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    STR_ARG(1, cut);
    return ret_slice(out, trim_cut(s, cut, true, true));
}

static int f_TrimLeft(struct tt_exec *x,
                      const struct tt_val *a,
                      size_t n,
                      struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    STR_ARG(1, cut);
    return ret_slice(out, trim_cut(s, cut, true, false));
}

static int f_TrimRight(struct tt_exec *x,
                       const struct tt_val *a,
                       size_t n,
                       struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    STR_ARG(1, cut);
    return ret_slice(out, trim_cut(s, cut, false, true));
}

static struct tr_slice trim_prefix(struct tr_slice s, struct tr_slice p)
{
    if (s.len >= p.len && memcmp(s.base, p.base, p.len) == 0) {
        s.base += p.len;
        s.len -= p.len;
    }
    return s;
}

static struct tr_slice trim_suffix(struct tr_slice s, struct tr_slice p)
{
    if (s.len >= p.len && memcmp(s.base + s.len - p.len, p.base, p.len) == 0) {
        s.len -= p.len;
    }
    return s;
}

static int f_TrimPrefix(struct tt_exec *x,
                        const struct tt_val *a,
                        size_t n,
                        struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    STR_ARG(1, p);
    return ret_slice(out, trim_prefix(s, p));
}

static int f_TrimSuffix(struct tt_exec *x,
                        const struct tt_val *a,
                        size_t n,
                        struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    STR_ARG(1, p);
    return ret_slice(out, trim_suffix(s, p));
}

static int f_trimPrefix(struct tt_exec *x,
                        const struct tt_val *a,
                        size_t n,
                        struct tt_val *out)
{
    (void)n;
    STR_ARG(0, p);
    STR_ARG(1, s);
    return ret_slice(out, trim_prefix(s, p));
}

static int f_trimSuffix(struct tt_exec *x,
                        const struct tt_val *a,
                        size_t n,
                        struct tt_val *out)
{
    (void)n;
    STR_ARG(0, p);
    STR_ARG(1, s);
    return ret_slice(out, trim_suffix(s, p));
}

static int f_trim(struct tt_exec *x,
                  const struct tt_val *a,
                  size_t n,
                  struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    return ret_slice(out, trim_space(s));
}

static int f_trimAll(struct tt_exec *x,
                     const struct tt_val *a,
                     size_t n,
                     struct tt_val *out)
{
    (void)n;
    STR_ARG(0, cut);
    STR_ARG(1, s);
    return ret_slice(out, trim_cut(s, cut, true, true));
}

static int f_contains(struct tt_exec *x,
                      const struct tt_val *a,
                      size_t n,
                      struct tt_val *out)
{
    (void)n;
    STR_ARG(0, sub);
    STR_ARG(1, s);
    *out = mk_bool(find(s, sub) != NULL);
    return 0;
}

static int f_hasPrefix(struct tt_exec *x,
                       const struct tt_val *a,
                       size_t n,
                       struct tt_val *out)
{
    (void)n;
    STR_ARG(0, p);
    STR_ARG(1, s);
    *out = mk_bool(s.len >= p.len && memcmp(s.base, p.base, p.len) == 0);
    return 0;
}

static int f_hasSuffix(struct tt_exec *x,
                       const struct tt_val *a,
                       size_t n,
                       struct tt_val *out)
{
    (void)n;
    STR_ARG(0, p);
    STR_ARG(1, s);
    *out = mk_bool(s.len >= p.len &&
                   memcmp(s.base + s.len - p.len, p.base, p.len) == 0);
    return 0;
}

/* Rune offsets of s: the byte offset of rune k. */
static size_t rune_off(struct tr_slice s, int64_t k)
{
    return rune_prefix(s.base, s.len, k < 0 ? 0 : (size_t)k);
}

static int f_trunc(struct tt_exec *x,
                   const struct tt_val *a,
                   size_t n,
                   struct tt_val *out)
{
    (void)n;
    INT_ARG(0, c);
    STR_ARG(1, s);
    int64_t l = (int64_t)rune_count(s.base, s.len);
    if (c < 0 && l + c > 0) {
        size_t off = rune_off(s, l + c);
        return ret_slice(out, (struct tr_slice){s.base + off, s.len - off});
    }
    if (c >= 0 && l > c) {
        return ret_slice(out, (struct tr_slice){s.base, rune_off(s, c)});
    }
    return ret_slice(out, s);
}

static int f_substr(struct tt_exec *x,
                    const struct tt_val *a,
                    size_t n,
                    struct tt_val *out)
{
    (void)n;
    INT_ARG(0, start);
    INT_ARG(1, end);
    STR_ARG(2, s);
    int64_t l = (int64_t)rune_count(s.base, s.len);
    if (end > l) {
        end = l;
    }
    if (start > l) {
        start = l;
    }
    if (start < 0) {
        if (end < 0) {
            return ret_slice(out, (struct tr_slice){"", 0});
        }
        return ret_slice(out, (struct tr_slice){s.base, rune_off(s, end)});
    }
    if (end < 0) {
        size_t off = rune_off(s, start);
        return ret_slice(out, (struct tr_slice){s.base + off, s.len - off});
    }
    if (start > end) {
        return ret_slice(out, (struct tr_slice){"", 0});
    }
    size_t so = rune_off(s, start), eo = rune_off(s, end);
    return ret_slice(out, (struct tr_slice){s.base + so, eo - so});
}

static int indent(struct tt_exec *x,
                  const struct tt_val *a,
                  bool nl,
                  struct tt_val *out)
{
    INT_ARG(0, sp);
    STR_ARG(1, s);
    if (sp < 0) {
        return tt_fail(x, "error calling indent: negative count");
    }
    if (sp > 1000) {
        return tt_fail(x, "error calling indent: count too large");
    }
    struct sb b = {x, NULL, 0, 0};
    if (nl) {
        sb_add(&b, "\n", 1);
    }
    for (int64_t k = 0; k < sp; k++) {
        sb_add(&b, " ", 1);
    }
    for (size_t i = 0; i < s.len; i++) {
        if (!sb_add(&b, s.base + i, 1)) {
            return tr_logql_lb_oom(x->lb) ? TR_ENOMEM
                                          : tt_fail(x, "output too large");
        }
        if (s.base[i] == '\n') {
            for (int64_t k = 0; k < sp; k++) {
                sb_add(&b, " ", 1);
            }
        }
    }
    return sb_done(&b, out);
}

static int f_indent(struct tt_exec *x,
                    const struct tt_val *a,
                    size_t n,
                    struct tt_val *out)
{
    (void)n;
    return indent(x, a, false, out);
}

static int f_nindent(struct tt_exec *x,
                     const struct tt_val *a,
                     size_t n,
                     struct tt_val *out)
{
    (void)n;
    return indent(x, a, true, out);
}

static int f_repeat(struct tt_exec *x,
                    const struct tt_val *a,
                    size_t n,
                    struct tt_val *out)
{
    (void)n;
    INT_ARG(0, c);
    STR_ARG(1, s);
    if (c < 0) {
        return tt_fail(x,
                       "error calling repeat: strings: negative Repeat count");
    }
    if (s.len && (uint64_t)c > TT_MAX_OUTPUT / s.len) {
        return tt_fail(x, "error calling repeat: output too large");
    }
    struct sb b = {x, NULL, 0, 0};
    for (int64_t k = 0; k < c; k++) {
        sb_add(&b, s.base, s.len);
    }
    return sb_done(&b, out);
}

static int align(struct tt_exec *x,
                 const struct tt_val *a,
                 bool left,
                 struct tt_val *out)
{
    INT_ARG(0, c);
    STR_ARG(1, s);
    int64_t l = (int64_t)rune_count(s.base, s.len);
    if (c < 0 || c == l) {
        return ret_slice(out, s);
    }
    if (c > 100000) {
        return tt_fail(x, "count too large");
    }
    if (c > l) {
        struct sb b = {x, NULL, 0, 0};
        if (left) {
            sb_add(&b, s.base, s.len);
        }
        for (int64_t k = l; k < c; k++) {
            sb_add(&b, " ", 1);
        }
        if (!left) {
            sb_add(&b, s.base, s.len);
        }
        return sb_done(&b, out);
    }
    if (left) {
        return ret_slice(out, (struct tr_slice){s.base, rune_off(s, c)});
    }
    size_t off = rune_off(s, l - c);
    return ret_slice(out, (struct tr_slice){s.base + off, s.len - off});
}

static int f_alignLeft(struct tt_exec *x,
                       const struct tt_val *a,
                       size_t n,
                       struct tt_val *out)
{
    (void)n;
    return align(x, a, true, out);
}

static int f_alignRight(struct tt_exec *x,
                        const struct tt_val *a,
                        size_t n,
                        struct tt_val *out)
{
    (void)n;
    return align(x, a, false, out);
}

static int f_urlencode(struct tt_exec *x,
                       const struct tt_val *a,
                       size_t n,
                       struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    struct sb b = {x, NULL, 0, 0};
    query_escape(&b, s.base, s.len);
    return sb_done(&b, out);
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static int f_urldecode(struct tt_exec *x,
                       const struct tt_val *a,
                       size_t n,
                       struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    char *o = tr_arena_alloc(ARENA(x), s.len + 1);
    if (!o) {
        tr_logql_lb__set_oom(x->lb);
        return TR_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.base[i];
        if (c == '+') {
            o[k++] = ' ';
        } else if (c == '%') {
            if (i + 2 >= s.len + 0 || hexv(s.base[i + 1]) < 0 ||
                hexv(s.base[i + 2]) < 0) {
                size_t m = s.len - i < 3 ? s.len - i : 3;
                return tt_fail(
                    x, "error calling urldecode: invalid URL escape \"%.*s\"",
                    (int)m, s.base + i);
            }
            o[k++] = (char)(hexv(s.base[i + 1]) * 16 + hexv(s.base[i + 2]));
            i += 2;
        } else {
            o[k++] = c;
        }
    }
    return ret_slice(out, (struct tr_slice){o, k});
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int f_b64enc(struct tt_exec *x,
                    const struct tt_val *a,
                    size_t n,
                    struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    char *o = tr_arena_alloc(ARENA(x), (s.len + 2) / 3 * 4 + 1);
    if (!o) {
        tr_logql_lb__set_oom(x->lb);
        return TR_ENOMEM;
    }
    size_t k = 0;
    const unsigned char *u = (const unsigned char *)s.base;
    for (size_t i = 0; i < s.len; i += 3) {
        uint32_t v = (uint32_t)u[i] << 16;
        if (i + 1 < s.len) {
            v |= (uint32_t)u[i + 1] << 8;
        }
        if (i + 2 < s.len) {
            v |= u[i + 2];
        }
        o[k++] = b64[(v >> 18) & 63];
        o[k++] = b64[(v >> 12) & 63];
        o[k++] = i + 1 < s.len ? b64[(v >> 6) & 63] : '=';
        o[k++] = i + 2 < s.len ? b64[v & 63] : '=';
    }
    return ret_slice(out, (struct tr_slice){o, k});
}

static int b64_err(struct tt_exec *x, size_t at, struct tt_val *out)
{
    char msg[64];
    snprintf(msg, sizeof(msg), "illegal base64 data at input byte %zu", at);
    *out = tt_str(x, msg, strlen(msg));
    return tr_logql_lb_oom(x->lb) ? TR_ENOMEM : 0;
}

/* Loki's b64dec: pads a short tail, decodes with Go's StdEncoding; a
 * decoding error becomes the result text. */
static int f_b64dec(struct tt_exec *x,
                    const struct tt_val *a,
                    size_t n,
                    struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    size_t rem = s.len % 4;
    size_t total = s.len + ((rem == 2 || rem == 3) ? 4 - rem : 0);
    if (total % 4) {
        return b64_err(x, s.len - 1, out);
    }
    char *o = tr_arena_alloc(ARENA(x), total / 4 * 3 + 1);
    if (!o) {
        tr_logql_lb__set_oom(x->lb);
        return TR_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < total; i += 4) {
        uint32_t v = 0;
        int pads = 0;
        for (size_t j = 0; j < 4; j++) {
            char c = i + j < s.len ? s.base[i + j] : '=';
            if (c == '=') {
                if (j < 2 || i + 4 != total ||
                    (j == 2 && (i + 3 < s.len ? s.base[i + 3] : '=') != '=')) {
                    return b64_err(x, i + j, out);
                }
                pads++;
                v <<= 6;
                continue;
            }
            const char *p = c ? strchr(b64, c) : NULL;
            if (!p || pads) {
                return b64_err(x, i + j, out);
            }
            v = (v << 6) | (uint32_t)(p - b64);
        }
        o[k++] = (char)(v >> 16);
        if (pads < 2) {
            o[k++] = (char)(v >> 8);
        }
        if (pads < 1) {
            o[k++] = (char)v;
        }
    }
    return ret_slice(out, (struct tr_slice){o, k});
}

/* ---- regex functions
 * --------------------------------------------------------- */

static int re_compile(struct tt_exec *x,
                      const char *fn,
                      struct tr_slice re,
                      pcre2_code **code)
{
    struct tr_regex *chk;
    char msg[TR_ERRMSG_SIZE];
    if (tr_regex_compile(re.base, re.len, false, &chk, msg)) {
        return tt_fail(x, "error calling %s: %s", fn, msg);
    }
    tr_regex_free(chk);
    int ec;
    PCRE2_SIZE eo;
    *code = pcre2_compile((PCRE2_SPTR)(re.len ? re.base : ""), re.len,
                          PCRE2_UTF | PCRE2_MATCH_INVALID_UTF |
                              PCRE2_DOLLAR_ENDONLY | PCRE2_DUPNAMES,
                          &ec, &eo, NULL);
    if (!*code) {
        return tt_fail(x, "error calling %s: error parsing regexp", fn);
    }
    return 0;
}

/* Go's Regexp.Expand of template for one match. */
static void expand(struct sb *b,
                   pcre2_code *code,
                   struct tr_slice tpl,
                   const char *s,
                   const PCRE2_SIZE *ov,
                   int rc)
{
    for (size_t i = 0; i < tpl.len;) {
        if (tpl.base[i] != '$' || i + 1 >= tpl.len) {
            sb_add(b, tpl.base + i, 1);
            i++;
            continue;
        }
        i++;
        if (tpl.base[i] == '$') {
            sb_add(b, "$", 1);
            i++;
            continue;
        }
        bool brace = tpl.base[i] == '{';
        size_t st = brace ? i + 1 : i, e = st;
        while (e < tpl.len && ((tpl.base[e] >= 'a' && tpl.base[e] <= 'z') ||
                               (tpl.base[e] >= 'A' && tpl.base[e] <= 'Z') ||
                               (tpl.base[e] >= '0' && tpl.base[e] <= '9') ||
                               tpl.base[e] == '_')) {
            e++;
        }
        if (e == st || (brace && (e >= tpl.len || tpl.base[e] != '}'))) {
            sb_add(b, "$", 1); /* malformed: keep the dollar */
            continue;
        }
        char name[64];
        size_t nl = e - st < sizeof(name) - 1 ? e - st : sizeof(name) - 1;
        memcpy(name, tpl.base + st, nl);
        name[nl] = 0;
        long g = -1;
        bool digits = true;
        for (size_t k = 0; k < nl; k++) {
            digits = digits && name[k] >= '0' && name[k] <= '9';
        }
        if (digits) {
            g = nl < 9 ? strtol(name, NULL, 10) : -1;
        } else {
            int r = pcre2_substring_number_from_name(code, (PCRE2_SPTR)name);
            g = r > 0 ? r : -1;
        }
        if (g >= 0 && g < rc && ov[2 * g] != PCRE2_UNSET) {
            sb_add(b, s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
        }
        i = brace ? e + 1 : e;
    }
}

/* ReplaceAll / count over every match. mode 0: expand, 1: literal, 2:
 * count only. */
static int re_all(struct tt_exec *x,
                  const char *fn,
                  struct tr_slice re,
                  struct tr_slice s,
                  struct tr_slice repl,
                  int mode,
                  struct tt_val *out)
{
    pcre2_code *code;
    int rc = re_compile(x, fn, re, &code);
    if (rc) {
        return rc;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    if (!md) {
        pcre2_code_free(code);
        return TR_ENOMEM;
    }
    struct sb b = {x, NULL, 0, 0};
    size_t pos = 0, last = 0, count = 0;
    long prev_end = -1;
    const char *base = s.len ? s.base : "";
    while (pos <= s.len) {
        int r = pcre2_match(code, (PCRE2_SPTR)base, s.len, pos, 0, md, NULL);
        if (r <= 0) {
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me < ms) {
            break;
        }
        bool accept = !(ms == me && (long)ms == prev_end);
        if (accept) {
            count++;
            if (mode != 2) {
                sb_add(&b, base + last, ms - last);
                if (mode == 0) {
                    expand(&b, code, repl, base, ov, r);
                } else {
                    sb_add(&b, repl.base, repl.len);
                }
                last = me;
            }
            prev_end = (long)me;
        }
        if (me > ms) {
            pos = me;
        } else {
            size_t l = pos < s.len
                           ? tr_utf8_seq_len((const unsigned char *)base + pos,
                                             s.len - pos)
                           : 1;
            pos = ms + (l ? l : 1);
        }
        if (b.n > TT_MAX_OUTPUT) {
            break;
        }
    }
    pcre2_match_data_free(md);
    pcre2_code_free(code);
    if (mode == 2) {
        *out = mk_int((int64_t)count);
        return 0;
    }
    sb_add(&b, base + last, s.len - last);
    if (b.n > TT_MAX_OUTPUT) {
        return tt_fail(x, "output too large");
    }
    return sb_done(&b, out);
}

static int f_regexReplaceAll(struct tt_exec *x,
                             const struct tt_val *a,
                             size_t n,
                             struct tt_val *out)
{
    (void)n;
    STR_ARG(0, re);
    STR_ARG(1, s);
    STR_ARG(2, repl);
    return re_all(x, "regexReplaceAll", re, s, repl, 0, out);
}

static int f_regexReplaceAllLiteral(struct tt_exec *x,
                                    const struct tt_val *a,
                                    size_t n,
                                    struct tt_val *out)
{
    (void)n;
    STR_ARG(0, re);
    STR_ARG(1, s);
    STR_ARG(2, repl);
    return re_all(x, "regexReplaceAllLiteral", re, s, repl, 1, out);
}

static int f_count(struct tt_exec *x,
                   const struct tt_val *a,
                   size_t n,
                   struct tt_val *out)
{
    (void)n;
    STR_ARG(0, re);
    STR_ARG(1, s);
    return re_all(x, "count", re, s, (struct tr_slice){"", 0}, 2, out);
}

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
    *out = mk_float((double)v);
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
    *out = mk_float((double)(d / 1000000000) + (double)(d % 1000000000) / 1e9);
    return 0;
}

static int f_int(struct tt_exec *x,
                 const struct tt_val *a,
                 size_t n,
                 struct tt_val *out)
{
    (void)x;
    (void)n;
    *out = mk_int(cast_int(&a[0]));
    return 0;
}

static int f_float64(struct tt_exec *x,
                     const struct tt_val *a,
                     size_t n,
                     struct tt_val *out)
{
    (void)x;
    (void)n;
    *out = mk_float(cast_float(&a[0]));
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
    *out = mk_int(s);
    return 0;
}

static int f_sub(struct tt_exec *x,
                 const struct tt_val *a,
                 size_t n,
                 struct tt_val *out)
{
    (void)x;
    (void)n;
    *out = mk_int(
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
    *out = mk_int((int64_t)s);
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
    *out = mk_int(r == -1 ? (int64_t)(0 - (uint64_t)l) : l / r);
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
    *out = mk_int(r == -1 ? 0 : l % r);
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
    *out = mk_int(m);
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
    *out = mk_int(m);
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
    *out = mk_float(s);
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
    *out = mk_float(s);
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
    *out = mk_float(s);
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
    *out = mk_float(s);
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
    *out = mk_float(m);
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
    *out = mk_float(m);
    return 0;
}

static int f_ceil(struct tt_exec *x,
                  const struct tt_val *a,
                  size_t n,
                  struct tt_val *out)
{
    (void)x;
    (void)n;
    *out = mk_float(ceil(cast_float(&a[0])));
    return 0;
}

static int f_floor(struct tt_exec *x,
                   const struct tt_val *a,
                   size_t n,
                   struct tt_val *out)
{
    (void)x;
    (void)n;
    *out = mk_float(floor(cast_float(&a[0])));
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
    *out = mk_float((frac >= on ? ceil(digit) : floor(digit)) / pw);
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
    size_t i = 0;
    if (!jskip(s.base, s.len, &i, 0)) {
        out->kind = TV_NIL;
        return 0;
    }
    size_t e = i;
    jws(s.base, s.len, &i);
    if (i != s.len) {
        out->kind = TV_NIL;
        return 0;
    }
    size_t st = 0;
    jws(s.base, s.len, &st);
    *out = jval(x, s.base + st, e - st);
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
    return ret_slice(out, x->line);
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
             (long long)(a[0].i * 1000 + a[0].nsec / 1000000));
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
    if (*end || buf[0] == ' ') {
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
    /* Go builtins */
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
    /* Loki */
    {"ToLower", 1, 1, f_lower},
    {"ToUpper", 1, 1, f_upper},
    {"Replace", 4, 4, f_Replace},
    {"Trim", 2, 2, f_Trim},
    {"TrimLeft", 2, 2, f_TrimLeft},
    {"TrimRight", 2, 2, f_TrimRight},
    {"TrimPrefix", 2, 2, f_TrimPrefix},
    {"TrimSuffix", 2, 2, f_TrimSuffix},
    {"TrimSpace", 1, 1, f_trim},
    {"regexReplaceAll", 3, 3, f_regexReplaceAll},
    {"regexReplaceAllLiteral", 3, 3, f_regexReplaceAllLiteral},
    {"count", 2, 2, f_count},
    {"urldecode", 1, 1, f_urldecode},
    {"urlencode", 1, 1, f_urlencode},
    {"bytes", 1, 1, f_bytes},
    {"duration", 1, 1, f_duration},
    {"duration_seconds", 1, 1, f_duration},
    {"unixEpochMillis", 1, 1, f_unixEpochMillis},
    {"unixEpochNanos", 1, 1, f_unixEpochNanos},
    {"toDateInZone", 3, 3, f_toDateInZone},
    {"unixToTime", 1, 1, f_unixToTime},
    {"alignLeft", 2, 2, f_alignLeft},
    {"alignRight", 2, 2, f_alignRight},
    {"b64dec", 1, 1, f_b64dec},
    {"__line__", 0, 0, f_line},
    {"__timestamp__", 0, 0, f_timestamp},
    /* sprig */
    {"b64enc", 1, 1, f_b64enc},
    {"lower", 1, 1, f_lower},
    {"upper", 1, 1, f_upper},
    {"title", 1, 1, f_title},
    {"trunc", 2, 2, f_trunc},
    {"substr", 3, 3, f_substr},
    {"contains", 2, 2, f_contains},
    {"hasPrefix", 2, 2, f_hasPrefix},
    {"hasSuffix", 2, 2, f_hasSuffix},
    {"indent", 2, 2, f_indent},
    {"nindent", 2, 2, f_nindent},
    {"replace", 3, 3, f_replace},
    {"repeat", 2, 2, f_repeat},
    {"trim", 1, 1, f_trim},
    {"trimAll", 2, 2, f_trimAll},
    {"trimSuffix", 2, 2, f_trimSuffix},
    {"trimPrefix", 2, 2, f_trimPrefix},
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

int tt_func_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++) {
        if (strlen(funcs[i].name) == len &&
            memcmp(funcs[i].name, name, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

const struct tt_func *tt_func_at(int i)
{
    return &funcs[i];
}

bool tt_func_is(int i, const char *name)
{
    return strcmp(funcs[i].name, name) == 0;
}
