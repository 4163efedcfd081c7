/* lexer.c - TraceQL tokenizer (see traceql_int.h for the rules). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "query/traceql/traceql_int.h"

#define RUNE_EOF (-1)

static const char *const tok_names[] = {
#define TR__TQL_TOK_NAME(name, text) text,
    TR_TQL_TOKENS(TR__TQL_TOK_NAME)
#undef TR__TQL_TOK_NAME
};

/* Tokens from TR_TQL_T_COMMA on are spelled by their text. */
#define FIRST_SPELLED TR_TQL_T_COMMA

const char *tr_tql_tok_name(enum tr_tql_tok t)
{
    if ((int)t < 0 || t >= TR_TQL_T__COUNT) {
        return "?";
    }
    return tok_names[t];
}

static int lookup(const char *s, size_t n)
{
    for (int t = FIRST_SPELLED; t < TR_TQL_T__COUNT; t++) {
        const char *name = tok_names[t];
        if (strlen(name) == n && memcmp(name, s, n) == 0) {
            return t;
        }
    }
    return -1;
}

void tr_tql_line_col(const char *q, size_t n, size_t pos, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < pos && i < n; i++) {
        unsigned char ch = (unsigned char)q[i];
        if (ch == '\n') {
            l++;
            c = 1;
        } else if ((ch & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* ---- runes ------------------------------------------------------------ */

struct lx {
    const char *q;
    size_t n;
    size_t pos;
    struct tr_arena *a;
    struct tr_tql_token *toks;
    size_t ntoks, cap;
    char *errmsg;
    bool failed;
};

/* The rune at p (RUNE_EOF at the end) and its width. The input was
 * checked to be valid UTF-8 without NUL. */
static int32_t rune_at(const struct lx *l, size_t p, size_t *w)
{
    if (p >= l->n) {
        *w = 0;
        return RUNE_EOF;
    }
    const unsigned char *s = (const unsigned char *)l->q + p;
    size_t len = tr_utf8_seq_len(s, l->n - p);
    if (len <= 1) {
        *w = 1;
        return s[0];
    }
    int32_t r = len == 2 ? s[0] & 0x1F : len == 3 ? s[0] & 0x0F : s[0] & 0x07;
    for (size_t i = 1; i < len; i++) {
        r = (r << 6) | (s[i] & 0x3F);
    }
    *w = len;
    return r;
}

static int32_t peek(const struct lx *l)
{
    size_t w;
    return rune_at(l, l->pos, &w);
}

static bool is_space(int32_t r) /* unicode.IsSpace */
{
    return r == ' ' || r == '\t' || r == '\n' || r == '\v' || r == '\f' ||
           r == '\r' || r == 0x85 || r == 0xA0 || r == 0x1680 ||
           (r >= 0x2000 && r <= 0x200A) || r == 0x2028 || r == 0x2029 ||
           r == 0x202F || r == 0x205F || r == 0x3000;
}

static bool is_attr_rune(int32_t r)
{
    if (r == RUNE_EOF || is_space(r)) {
        return false;
    }
    switch (r) {
        case '{':
        case '}':
        case '(':
        case ')':
        case '=':
        case '~':
        case '!':
        case '<':
        case '>':
        case '&':
        case '|':
        case '^':
        case ',':
            return false;
        default:
            return true;
    }
}

static bool is_letter(int32_t r)
{
    if (r < 0x80) {
        return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || r == '_';
    }
    /* Approximation of unicode.IsLetter for non-ASCII runes. */
    return r == 0xAA || r == 0xB5 || r == 0xBA ||
           (r >= 0xC0 && r != 0xD7 && r != 0xF7 && !is_space(r) &&
            !(r >= 0x2000 && r <= 0x206F) && !(r >= 0x3000 && r <= 0x303F));
}

static bool is_digit(int32_t r)
{
    return r >= '0' && r <= '9';
}

/* ---- tokens and errors ------------------------------------------------ */

static struct tr_tql_token *emit(struct lx *l, enum tr_tql_tok t, size_t pos)
{
    if (l->ntoks == l->cap) {
        struct tr_tql_token *nt = tr_arena_array_grow(l->a, l->toks, l->ntoks,
                                                      &l->cap, sizeof(*nt), 32);
        if (!nt) {
            return NULL;
        }
        l->toks = nt;
    }
    struct tr_tql_token *tok = &l->toks[l->ntoks++];
    memset(tok, 0, sizeof(*tok));
    tok->type = t;
    tok->pos = pos;
    tok->str = l->q + pos;
    return tok;
}

static int lex_error(struct lx *l, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int lex_error(struct lx *l, size_t pos, const char *fmt, ...)
{
    char msg[TR_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int line, col;
    tr_tql_line_col(l->q, l->n, pos, &line, &col);
    if (l->errmsg) {
        snprintf(l->errmsg, TR_ERRMSG_SIZE,
                 "parse error at line %d, col %d: %.440s", line, col, msg);
    }
    l->failed = true;
    return emit(l, TR_TQL_T_ERROR, pos) ? 0 : TR_ENOMEM;
}

static int emit_str(struct lx *l,
                    enum tr_tql_tok t,
                    size_t pos,
                    const char *s,
                    size_t n)
{
    char *c = tr_arena_strndup(l->a, s, n);
    if (!c) {
        return TR_ENOMEM;
    }
    struct tr_tql_token *tok = emit(l, t, pos);
    if (!tok) {
        return TR_ENOMEM;
    }
    tok->str = c;
    tok->str_len = n;
    return 0;
}

/* ---- durations -------------------------------------------------------- */

static bool mul_add(int64_t *acc, int64_t v, int64_t unit)
{
    if (v != 0 && unit > INT64_MAX / v) {
        return false;
    }
    if (*acc > INT64_MAX - v * unit) {
        return false;
    }
    *acc += v * unit;
    return true;
}

/* Prometheus' model.ParseDuration: [Ny][Nw][Nd][Nh][Nm][Ns][Nms]. */
static bool prom_duration(const char *s, size_t n, int64_t *ns)
{
    static const struct {
        const char *u;
        int64_t ns;
    } units[] = {
        {"y", 365LL * 24 * 3600 * 1000000000LL},
        {"w", 7LL * 24 * 3600 * 1000000000LL},
        {"d", 24LL * 3600 * 1000000000LL},
        {"h", 3600LL * 1000000000LL},
        {"m", 60LL * 1000000000LL},
        {"s", 1000000000LL},
        {"ms", 1000000LL},
    };
    if (n == 1 && s[0] == '0') {
        *ns = 0;
        return true;
    }
    if (n == 0) {
        return false;
    }
    size_t i = 0, next_unit = 0;
    int64_t total = 0;
    while (i < n) {
        int64_t v = 0;
        size_t d0 = i;
        while (i < n && is_digit((unsigned char)s[i])) {
            if (v > (INT64_MAX - 9) / 10) {
                return false;
            }
            v = v * 10 + (s[i] - '0');
            i++;
        }
        if (i == d0) {
            return false;
        }
        size_t u0 = i;
        while (i < n && !is_digit((unsigned char)s[i])) {
            i++;
        }
        size_t k;
        for (k = next_unit; k < sizeof(units) / sizeof(units[0]); k++) {
            if (strlen(units[k].u) == i - u0 &&
                memcmp(units[k].u, s + u0, i - u0) == 0) {
                break;
            }
        }
        if (k == sizeof(units) / sizeof(units[0])) {
            return false;
        }
        if (!mul_add(&total, v, units[k].ns)) {
            return false;
        }
        next_unit = k + 1;
    }
    *ns = total;
    return true;
}

/* Go's time.ParseDuration (without sign: the text starts with a digit). */
static bool go_duration(const char *s, size_t n, int64_t *ns)
{
    static const struct {
        const char *u;
        int64_t ns;
    } units[] = {
        {"ns", 1},
        {"us", 1000},
        {"\xc2\xb5s", 1000},
        {"\xce\xbcs", 1000},
        {"ms", 1000000},
        {"s", 1000000000LL},
        {"m", 60LL * 1000000000LL},
        {"h", 3600LL * 1000000000LL},
    };
    if (n == 1 && s[0] == '0') {
        *ns = 0;
        return true;
    }
    if (n == 0) {
        return false;
    }
    size_t i = 0;
    double total = 0;
    while (i < n) {
        size_t d0 = i;
        double v = 0;
        while (i < n && is_digit((unsigned char)s[i])) {
            v = v * 10 + (s[i] - '0');
            i++;
        }
        bool digits = i > d0;
        if (i < n && s[i] == '.') {
            i++;
            double scale = 0.1;
            size_t f0 = i;
            while (i < n && is_digit((unsigned char)s[i])) {
                v += (s[i] - '0') * scale;
                scale /= 10;
                i++;
            }
            digits = digits || i > f0;
        }
        if (!digits) {
            return false;
        }
        size_t u0 = i;
        while (i < n && s[i] != '.' && !is_digit((unsigned char)s[i])) {
            i++;
        }
        if (i == u0) {
            return false; /* missing unit */
        }
        size_t k;
        for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
            if (strlen(units[k].u) == i - u0 &&
                memcmp(units[k].u, s + u0, i - u0) == 0) {
                break;
            }
        }
        if (k == sizeof(units) / sizeof(units[0])) {
            return false;
        }
        total += v * (double)units[k].ns;
        if (total > 9.2233720368547e18) {
            return false;
        }
    }
    *ns = (int64_t)llround(total);
    return true;
}

bool tr_tql_parse_duration(const char *s, size_t n, int64_t *ns)
{
    return prom_duration(s, n, ns) || go_duration(s, n, ns);
}

/* ---- numbers ---------------------------------------------------------- */

static bool is_hex(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int lex_number(struct lx *l)
{
    const char *q = l->q;
    size_t start = l->pos, n = l->n;
    size_t i = start;
    bool is_float = false;
    if (q[i] == '0' && i + 1 < n &&
        (q[i + 1] == 'x' || q[i + 1] == 'X' || q[i + 1] == 'b' ||
         q[i + 1] == 'B' || q[i + 1] == 'o' || q[i + 1] == 'O')) {
        bool hex = q[i + 1] == 'x' || q[i + 1] == 'X';
        i += 2;
        while (i < n && (is_hex((unsigned char)q[i]) || q[i] == '_')) {
            i++;
        }
        if (hex && i < n && q[i] == '.') {
            is_float = true;
            i++;
            while (i < n && (is_hex((unsigned char)q[i]) || q[i] == '_')) {
                i++;
            }
        }
        if (hex && i < n && (q[i] == 'p' || q[i] == 'P')) {
            is_float = true;
            i++;
            if (i < n && (q[i] == '+' || q[i] == '-')) {
                i++;
            }
            size_t e0 = i;
            while (i < n && (is_digit((unsigned char)q[i]) || q[i] == '_')) {
                i++;
            }
            if (i == e0) {
                return lex_error(l, start, "exponent has no digits");
            }
        }
    } else {
        while (i < n && (is_digit((unsigned char)q[i]) || q[i] == '_')) {
            i++;
        }
        if (i < n && q[i] == '.') {
            is_float = true;
            i++;
            while (i < n && (is_digit((unsigned char)q[i]) || q[i] == '_')) {
                i++;
            }
        }
        if (i < n && (q[i] == 'e' || q[i] == 'E')) {
            is_float = true;
            i++;
            if (i < n && (q[i] == '+' || q[i] == '-')) {
                i++;
            }
            size_t e0 = i;
            while (i < n && (is_digit((unsigned char)q[i]) || q[i] == '_')) {
                i++;
            }
            if (i == e0) {
                return lex_error(l, start, "exponent has no digits");
            }
        }
    }
    size_t num_end = i;
    /* Go's scanner reads a leading 0 as an octal prefix (strconv.Atoi
     * later reads the digits as decimal) */
    if (!is_float && q[start] == '0' && num_end - start > 1 &&
        is_digit((unsigned char)q[start + 1])) {
        for (size_t k = start + 1; k < num_end; k++) {
            if (q[k] == '8' || q[k] == '9') {
                return lex_error(l, start,
                                 "invalid digit '%c' in octal literal", q[k]);
            }
        }
    }

    /* A duration: the number and the duration characters after it. */
    size_t j = i;
    while (j < n) {
        size_t w;
        int32_t r = rune_at(l, j, &w);
        if (!(is_digit(r) || r == '.' || r == 'n' || r == 's' || r == 'u' ||
              r == 'm' || r == 'h' || r == 0xB5 || r == 'd' || r == 'w' ||
              r == 'y')) {
            break;
        }
        j += w;
    }
    int64_t ns;
    if (j > num_end && tr_tql_parse_duration(q + start, j - start, &ns)) {
        struct tr_tql_token *t = emit(l, TR_TQL_T_DURATION, start);
        if (!t) {
            return TR_ENOMEM;
        }
        t->i = ns;
        l->pos = j;
        return 0;
    }

    size_t len = num_end - start;
    char buf[128];
    if (len >= sizeof(buf)) {
        return lex_error(l, start, "strconv.%s: parsing \"%.40s...\": %s",
                         is_float ? "ParseFloat" : "Atoi", q + start,
                         is_float ? "invalid syntax" : "value out of range");
    }
    memcpy(buf, q + start, len);
    buf[len] = '\0';
    l->pos = num_end;
    if (!is_float) {
        /* strconv.Atoi: decimal digits only */
        int64_t v = 0;
        for (size_t k = 0; k < len; k++) {
            if (!is_digit((unsigned char)buf[k])) {
                return lex_error(l, start,
                                 "strconv.Atoi: parsing \"%s\": invalid syntax",
                                 buf);
            }
            int d = buf[k] - '0';
            if (v > (INT64_MAX - d) / 10) {
                return lex_error(
                    l, start,
                    "strconv.Atoi: parsing \"%s\": value out of range", buf);
            }
            v = v * 10 + d;
        }
        struct tr_tql_token *t = emit(l, TR_TQL_T_INTEGER, start);
        if (!t) {
            return TR_ENOMEM;
        }
        t->i = v;
        return 0;
    }
    if (memchr(buf, '_', len)) {
        return lex_error(l, start,
                         "strconv.ParseFloat: parsing \"%s\": invalid syntax",
                         buf);
    }
    errno = 0;
    char *end;
    double f = strtod(buf, &end);
    if (end != buf + len) {
        return lex_error(l, start,
                         "strconv.ParseFloat: parsing \"%s\": invalid syntax",
                         buf);
    }
    if (errno == ERANGE && isinf(f)) {
        return lex_error(
            l, start, "strconv.ParseFloat: parsing \"%s\": value out of range",
            buf);
    }
    struct tr_tql_token *t = emit(l, TR_TQL_T_FLOAT, start);
    if (!t) {
        return TR_ENOMEM;
    }
    t->f = f;
    return 0;
}

/* ---- strings ---------------------------------------------------------- */

static int put_rune(struct tr_buf *b, uint32_t r)
{
    char u[4];
    size_t n;
    if (r < 0x80) {
        u[0] = (char)r;
        n = 1;
    } else if (r < 0x800) {
        u[0] = (char)(0xC0 | (r >> 6));
        u[1] = (char)(0x80 | (r & 0x3F));
        n = 2;
    } else if (r < 0x10000) {
        u[0] = (char)(0xE0 | (r >> 12));
        u[1] = (char)(0x80 | ((r >> 6) & 0x3F));
        u[2] = (char)(0x80 | (r & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (r >> 18));
        u[1] = (char)(0x80 | ((r >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((r >> 6) & 0x3F));
        u[3] = (char)(0x80 | (r & 0x3F));
        n = 4;
    }
    return tr_buf_append(b, u, n);
}

static int hexval(int c)
{
    if (is_digit(c)) {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return c - 'A' + 10;
}

/* "..." with Go's escapes. */
static int lex_string(struct lx *l)
{
    const char *q = l->q;
    size_t start = l->pos, i = l->pos + 1, n = l->n;
    struct tr_buf b;
    int rv = 0;
    tr_buf_init(&b);
    for (;;) {
        if (i >= n || q[i] == '\n') {
            rv = lex_error(l, start, "literal not terminated");
            goto out;
        }
        char c = q[i];
        if (c == '"') {
            i++;
            break;
        }
        if (c != '\\') {
            tr_buf_putc(&b, c);
            i++;
            continue;
        }
        i++;
        if (i >= n) {
            rv = lex_error(l, start, "literal not terminated");
            goto out;
        }
        c = q[i++];
        switch (c) {
            case 'a':
                tr_buf_putc(&b, '\a');
                break;
            case 'b':
                tr_buf_putc(&b, '\b');
                break;
            case 'f':
                tr_buf_putc(&b, '\f');
                break;
            case 'n':
                tr_buf_putc(&b, '\n');
                break;
            case 'r':
                tr_buf_putc(&b, '\r');
                break;
            case 't':
                tr_buf_putc(&b, '\t');
                break;
            case 'v':
                tr_buf_putc(&b, '\v');
                break;
            case '\\':
            case '"':
                tr_buf_putc(&b, c);
                break;
            case '0':
            case '1':
            case '2':
            case '3':
            case '4':
            case '5':
            case '6':
            case '7': {
                unsigned v = (unsigned)(c - '0');
                for (int k = 0; k < 2; k++) {
                    if (i >= n || q[i] < '0' || q[i] > '7') {
                        rv = lex_error(l, start, "invalid char escape");
                        goto out;
                    }
                    v = v * 8 + (unsigned)(q[i++] - '0');
                }
                if (v > 255) {
                    rv = lex_error(l, start, "invalid syntax");
                    goto out;
                }
                tr_buf_putc(&b, (char)v);
                break;
            }
            case 'x':
            case 'u':
            case 'U': {
                int digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
                uint32_t v = 0;
                for (int k = 0; k < digits; k++) {
                    if (i >= n || !is_hex((unsigned char)q[i])) {
                        rv = lex_error(l, start, "invalid char escape");
                        goto out;
                    }
                    v = v * 16 + (uint32_t)hexval((unsigned char)q[i++]);
                }
                if (c == 'x') {
                    tr_buf_putc(&b, (char)v);
                } else if (v > 0x10FFFF || (v >= 0xD800 && v < 0xE000)) {
                    rv = lex_error(l, start, "invalid syntax");
                    goto out;
                } else {
                    put_rune(&b, v);
                }
                break;
            }
            default:
                rv = lex_error(l, start, "invalid char escape");
                goto out;
        }
    }
    if (b.oom) {
        rv = TR_ENOMEM;
        goto out;
    }
    rv = emit_str(l, TR_TQL_T_STRING, start, b.len ? b.data : "", b.len);
    l->pos = i;
out:
    tr_buf_free(&b);
    return rv;
}

/* `raw`: no escapes; carriage returns dropped (strconv.Unquote). */
static int lex_raw_string(struct lx *l)
{
    const char *q = l->q;
    size_t start = l->pos, i = l->pos + 1;
    const char *close = memchr(q + i, '`', l->n - i);
    if (!close) {
        return lex_error(l, start, "literal not terminated");
    }
    size_t end = (size_t)(close - q);
    char *s = tr_arena_alloc(l->a, end - i + 1);
    if (!s) {
        return TR_ENOMEM;
    }
    size_t k = 0;
    for (size_t p = i; p < end; p++) {
        if (q[p] != '\r') {
            s[k++] = q[p];
        }
    }
    s[k] = '\0';
    struct tr_tql_token *t = emit(l, TR_TQL_T_STRING, start);
    if (!t) {
        return TR_ENOMEM;
    }
    t->str = s;
    t->str_len = k;
    l->pos = end + 1;
    return 0;
}

/* ---- attributes ------------------------------------------------------- */

static int lex_attribute(struct lx *l, int *scope)
{
    size_t start = l->pos;
    /* parent.span.x / parent.resource.x: the second scope */
    if (*scope == TR_TQL_T_PARENT_DOT) {
        size_t p = l->pos, w;
        while (p < l->n && p - l->pos <= 9) {
            int32_t r = rune_at(l, p, &w);
            if (r == '.') {
                p += w;
                break;
            }
            if (!is_attr_rune(r)) {
                break;
            }
            p += w;
        }
        int t = lookup(l->q + l->pos, p - l->pos);
        if (t == TR_TQL_T_SPAN_DOT || t == TR_TQL_T_RESOURCE_DOT) {
            if (!emit(l, (enum tr_tql_tok)t, start)) {
                return TR_ENOMEM;
            }
            *scope = t;
            l->pos = p;
            return 0;
        }
    }
    struct tr_buf b;
    int rv = 0;
    tr_buf_init(&b);
    for (;;) {
        size_t w;
        int32_t r = rune_at(l, l->pos, &w);
        if (r == '"') {
            l->pos++;
            for (;;) {
                r = rune_at(l, l->pos, &w);
                if (r == RUNE_EOF) {
                    rv = lex_error(l, l->pos, "unexpected EOF, expecting \"");
                    goto out;
                }
                if (r == '"') {
                    l->pos++;
                    break;
                }
                if (r == '\\') {
                    l->pos++;
                    r = rune_at(l, l->pos, &w);
                    if (r != '\\' && r != '"') {
                        rv = lex_error(l, l->pos, "invalid escape sequence");
                        goto out;
                    }
                }
                tr_buf_append(&b, l->q + l->pos, w);
                l->pos += w;
            }
        } else if (is_attr_rune(r)) {
            tr_buf_append(&b, l->q + l->pos, w);
            l->pos += w;
        } else {
            break;
        }
    }
    if (b.oom) {
        rv = TR_ENOMEM;
        goto out;
    }
    rv = emit_str(l, TR_TQL_T_IDENTIFIER, start, b.len ? b.data : "", b.len);
out:
    tr_buf_free(&b);
    return rv;
}

static bool starts_attribute(int t)
{
    return t == TR_TQL_T_DOT || t == TR_TQL_T_RESOURCE_DOT ||
           t == TR_TQL_T_SPAN_DOT || t == TR_TQL_T_PARENT_DOT ||
           t == TR_TQL_T_EVENT_DOT || t == TR_TQL_T_LINK_DOT ||
           t == TR_TQL_T_INSTRUMENTATION_DOT;
}

static bool is_scope_token(int t)
{
    return t == TR_TQL_T_PARENT_DOT || t == TR_TQL_T_SPAN_DOT ||
           t == TR_TQL_T_RESOURCE_DOT || t == TR_TQL_T_SPAN_COLON ||
           t == TR_TQL_T_TRACE_COLON || t == TR_TQL_T_EVENT_COLON ||
           t == TR_TQL_T_LINK_COLON || t == TR_TQL_T_INSTRUMENTATION_COLON ||
           t == TR_TQL_T_EVENT_DOT || t == TR_TQL_T_LINK_DOT ||
           t == TR_TQL_T_INSTRUMENTATION_DOT;
}

/* Skips whitespace and comments; false on an unterminated comment. */
static bool skip_space(struct lx *l)
{
    const char *q = l->q;
    for (;;) {
        while (l->pos < l->n && (q[l->pos] == ' ' || q[l->pos] == '\t' ||
                                 q[l->pos] == '\n' || q[l->pos] == '\r')) {
            l->pos++;
        }
        if (l->pos + 1 < l->n && q[l->pos] == '/' && q[l->pos + 1] == '/') {
            while (l->pos < l->n && q[l->pos] != '\n') {
                l->pos++;
            }
            continue;
        }
        if (l->pos + 1 < l->n && q[l->pos] == '/' && q[l->pos + 1] == '*') {
            const char *e =
                tr_memmem(q + l->pos + 2, l->n - l->pos - 2, "*/", 2);
            if (!e) {
                return false;
            }
            l->pos = (size_t)(e - q) + 2;
            continue;
        }
        return true;
    }
}

int tr_tql_lex_all(const char *q,
                   size_t n,
                   struct tr_arena *a,
                   struct tr_tql_token **toks,
                   size_t *ntoks,
                   char *errmsg)
{
    struct lx l = {.q = q, .n = n, .a = a, .errmsg = errmsg};
    bool in_attr = false;
    int scope = -1;
    int rv = 0;

    /* Go's scanner refuses NUL and invalid UTF-8 wherever it reads. */
    for (size_t i = 0; i < n;) {
        size_t w = tr_utf8_seq_len((const unsigned char *)q + i, n - i);
        if (q[i] == '\0') {
            rv = lex_error(&l, i, "invalid character NUL");
            goto done;
        }
        if (w == 0 || (w == 1 && (unsigned char)q[i] >= 0x80)) {
            rv = lex_error(&l, i, "invalid UTF-8 encoding");
            goto done;
        }
        i += w;
    }

    while (!l.failed) {
        if (in_attr) {
            if (!is_attr_rune(peek(&l))) {
                in_attr = false;
                if (!emit(&l, TR_TQL_T_END_ATTRIBUTE, l.pos)) {
                    return TR_ENOMEM;
                }
                continue;
            }
            rv = lex_attribute(&l, &scope);
            if (rv != 0) {
                return rv;
            }
            continue;
        }
        if (!skip_space(&l)) {
            rv = lex_error(&l, l.pos, "comment not terminated");
            break;
        }
        if (l.pos >= n) {
            if (!emit(&l, TR_TQL_T_EOF, n)) {
                return TR_ENOMEM;
            }
            break;
        }
        size_t start = l.pos, w;
        int32_t r = rune_at(&l, l.pos, &w);
        if (is_digit(r) || (r == '.' && l.pos + 1 < n &&
                            is_digit((unsigned char)q[l.pos + 1]))) {
            rv = lex_number(&l);
        } else if (r == '"') {
            rv = lex_string(&l);
        } else if (r == '`') {
            rv = lex_raw_string(&l);
        } else {
            if (is_letter(r)) {
                l.pos += w;
                for (;;) {
                    int32_t c = rune_at(&l, l.pos, &w);
                    if (!is_letter(c) && !is_digit(c)) {
                        break;
                    }
                    l.pos += w;
                }
            } else if (r == '\'') {
                const char *e = l.pos + 1 < n
                                    ? memchr(q + l.pos + 1, '\'', n - l.pos - 1)
                                    : NULL;
                const char *nl =
                    l.pos + 1 < n ? memchr(q + l.pos + 1, '\n', n - l.pos - 1)
                                  : NULL;
                if (!e || (nl && nl < e)) {
                    rv = lex_error(&l, start, "literal not terminated");
                    break;
                }
                l.pos = (size_t)(e - q) + 1;
            } else {
                l.pos += w;
            }
            /* the longest extension by single runes naming a token */
            int multi = -1;
            for (;;) {
                int32_t c = rune_at(&l, l.pos, &w);
                if (c == RUNE_EOF) {
                    break;
                }
                int t = lookup(q + start, l.pos + w - start);
                if (t < 0) {
                    break;
                }
                multi = t;
                l.pos += w;
            }
            if (multi >= 0 && is_scope_token(multi)) {
                scope = multi;
            }
            int t = multi >= 0 ? multi : lookup(q + start, l.pos - start);
            if (t >= 0) {
                if (!emit(&l, (enum tr_tql_tok)t, start)) {
                    return TR_ENOMEM;
                }
                in_attr = starts_attribute(t);
            } else {
                rv = emit_str(&l, TR_TQL_T_IDENTIFIER, start, q + start,
                              l.pos - start);
            }
        }
        if (rv != 0) {
            return rv;
        }
    }
done:
    if (rv != 0) {
        return rv;
    }
    *toks = l.toks;
    *ntoks = l.ntoks;
    return 0;
}
