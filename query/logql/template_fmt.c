/* template_fmt.c - Go's printing of template values (fmt.Sprint and
 * Sprintf forms, time.Time.String), fromJson values (JSON text walked in
 * place: objects and arrays stay as their text) and field access. See
 * template_int.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dtoa.h"
#include "lib/err.h"
#include "query/logql/stages_int.h"
#include "query/logql/template_int.h"

#define ARENA(x) tr_logql_lb__arena((x)->lb)

const char *tt_type_name(const struct tt_val *v)
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
        v = tt_mk_bool(s[0] == 't');
    } else if (s[0] != 'n') {
        double f = 0;
        tr_logql_parse_float(s, len, &f, NULL);
        v = tt_mk_float(f);
    }
    return v;
}

/* Calls each(key, value) for the members of a JSON object or array. */
typedef int (*jeach_fn)(struct tt_exec *,
                        const struct tt_val *,
                        const struct tt_val *,
                        void *,
                        bool *);

int tt_json_foreach(struct tt_exec *x,
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
        struct tt_val k = tt_mk_int(idx);
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
        int rc = tt_json_foreach(x, v, jfind_cb, &f, &count);
        *out = f.v;
        return rc;
    }
    if (v->kind == TV_INVALID || v->kind == TV_NIL) {
        return tt_fail(x, "nil pointer evaluating interface {}.%.*s",
                       (int)name.len, name.base);
    }
    return tt_fail(x, "can't evaluate field %.*s in type %s", (int)name.len,
                   name.base, tt_type_name(v));
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
    int rc = tt_json_foreach(x, v, jcollect, &p, &count);
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

size_t tt_rune_count(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n;) {
        size_t l = tr_utf8_seq_len((const unsigned char *)s + i, n - i);
        i += l ? l : 1;
        c++;
    }
    return c;
}

size_t tt_rune_prefix(const char *s, size_t n, size_t runes)
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
    size_t rc = tt_rune_count(s, n);
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
    tr_buf_printf(b, "%%!%c(%s=", verb, tt_type_name(v));
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
                        len = tt_rune_prefix(sv.data ? sv.data : "", sv.len,
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
                pad(b, tt_type_name(v), strlen(tt_type_name(v)), width, minus,
                    false);
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
            tr_buf_printf(b, "%s=", tt_type_name(&a[k]));
            tt_print(x, b, &a[k]);
        }
        tr_buf_putc(b, ')');
    }
    return b->oom ? TR_ENOMEM : 0;
}
#pragma GCC diagnostic pop

int tt_json_find(struct tt_exec *x,
                 const struct tt_val *v,
                 struct tr_slice key,
                 int64_t index,
                 struct tt_val *out,
                 bool *found)
{
    struct jfind f = {key, index, false, {.kind = TV_INVALID}};
    size_t count;
    int rc = tt_json_foreach(x, v, jfind_cb, &f, &count);
    *out = f.v;
    *found = f.found;
    return rc;
}

struct tt_val tt_json_parse(struct tt_exec *x, struct tr_slice s)
{
    struct tt_val nil = {.kind = TV_NIL};
    size_t i = 0;
    if (!jskip(s.base, s.len, &i, 0)) {
        return nil;
    }
    size_t e = i;
    jws(s.base, s.len, &i);
    if (i != s.len) {
        return nil;
    }
    size_t st = 0;
    jws(s.base, s.len, &st);
    return jval(x, s.base + st, e - st);
}
