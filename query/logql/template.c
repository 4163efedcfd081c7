/* template.c - parser of Go text/template sources into the tree of
 * template_int.h, with Go's messages for bad templates ("template: line:1:
 * function \"x\" not defined", "unclosed action", ...). See template.h. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "query/logql/stages_int.h"
#include "query/logql/template.h"
#include "query/logql/template_int.h"

enum tok {
    T_EOF, /* end of the action (the closing delimiter was consumed) */
    T_ERR,
    T_IDENT,
    T_FIELD, /* .name */
    T_DOT,
    T_VAR, /* $ or $name */
    T_STR,
    T_RAW,
    T_CHAR,
    T_NUM,
    T_LPAREN,
    T_RPAREN,
    T_PIPE,
    T_DECL,   /* := */
    T_ASSIGN, /* = */
    T_COMMA,
};

struct tp {
    struct tr_logql_template *t;
    const char *s;
    size_t n;
    size_t i;       /* cursor */
    size_t act_end; /* inside an action: where its "}}" (or " -}}") starts */
    bool trim_right;
    /* one token of look-ahead */
    enum tok tk;
    size_t tk_pos;
    size_t tk_len;
    bool peeked;
    char *errmsg;
    bool failed;
    int depth;
    /* declared variables (for "undefined variable") */
    struct tr_slice vars[256];
    size_t n_vars;
};

int tt_line_of(const struct tr_logql_template *t, size_t pos)
{
    int line = 1;
    for (size_t i = 0; i < pos && i < t->len; i++) {
        if (t->src[i] == '\n') {
            line++;
        }
    }
    return line;
}

static int perr(struct tp *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int perr(struct tp *p, size_t pos, const char *fmt, ...)
{
    if (p->failed) {
        return TR_EINVAL;
    }
    p->failed = true;
    if (p->errmsg) {
        char msg[TR_ERRMSG_SIZE - 128];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(p->errmsg, TR_ERRMSG_SIZE, "template: %.32s:%d: %s",
                 p->t->name, tt_line_of(p->t, pos), msg);
    }
    return TR_EINVAL;
}

static void *palloc(struct tp *p, size_t n)
{
    void *v = tr_arena_alloc(&p->t->arena, n);
    if (v) {
        memset(v, 0, n);
    }
    return v;
}

static bool list_add(struct tp *p, struct tt_list *l, struct tt_node *nd)
{
    if (l->n == l->cap) {
        struct tt_node **nv = tr_arena_array_grow(&p->t->arena, l->v, l->n,
                                                  &l->cap, sizeof(*nv), 8);
        if (!nv) {
            return false;
        }
        l->v = nv;
    }
    l->v[l->n++] = nd;
    return true;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

/* ---- lexing inside an action -------------------------------------------- */

/* Finds where the action starting at p->i ends: sets act_end and
 * trim_right. Strings and raw strings may hold "}}". False: unclosed. */
static bool find_action_end(struct tp *p)
{
    size_t i = p->i;
    while (i < p->n) {
        char c = p->s[i];
        if (c == '"' || c == '\'') {
            i++;
            while (i < p->n && p->s[i] != c && p->s[i] != '\n') {
                i += p->s[i] == '\\' ? 2 : 1;
            }
            if (i >= p->n || p->s[i] != c) {
                /* the lexer reports the unterminated literal */
                p->act_end = i < p->n ? i : p->n;
                p->trim_right = false;
                return true;
            }
            i++;
            continue;
        }
        if (c == '`') {
            const char *e = memchr(p->s + i + 1, '`', p->n - i - 1);
            if (!e) {
                return false;
            }
            i = (size_t)(e - p->s) + 1;
            continue;
        }
        if (c == '}' && i + 1 < p->n && p->s[i + 1] == '}') {
            p->trim_right =
                i >= 2 && p->s[i - 1] == '-' && is_space(p->s[i - 2]);
            p->act_end = p->trim_right ? i - 1 : i;
            return true;
        }
        i++;
    }
    return false;
}

static enum tok lex(struct tp *p)
{
    while (p->i < p->act_end && is_space(p->s[p->i])) {
        p->i++;
    }
    p->tk_pos = p->i;
    if (p->i >= p->act_end) {
        p->tk_len = 0;
        return T_EOF;
    }
    const char *s = p->s;
    size_t i = p->i, e = p->act_end;
    char c = s[i];
    enum tok t;
    if (c == '(' || c == ')' || c == '|' || c == ',') {
        i++;
        t = c == '('   ? T_LPAREN
            : c == ')' ? T_RPAREN
            : c == '|' ? T_PIPE
                       : T_COMMA;
    } else if (c == ':' && i + 1 < e && s[i + 1] == '=') {
        i += 2;
        t = T_DECL;
    } else if (c == '=') {
        i++;
        t = T_ASSIGN;
    } else if (c == '"' || c == '\'') {
        i++;
        while (i < e && s[i] != c && s[i] != '\n') {
            i += s[i] == '\\' ? 2 : 1;
        }
        if (i >= e || s[i] != c) {
            perr(p, p->i,
                 c == '"' ? "unterminated quoted string"
                          : "unterminated character constant");
            return T_ERR;
        }
        i++;
        t = c == '"' ? T_STR : T_CHAR;
    } else if (c == '`') {
        const char *q = memchr(s + i + 1, '`', e - i - 1);
        if (!q) {
            perr(p, p->i, "unterminated raw quoted string");
            return T_ERR;
        }
        i = (size_t)(q - s) + 1;
        t = T_RAW;
    } else if (c == '.' && !(i + 1 < e && s[i + 1] >= '0' && s[i + 1] <= '9')) {
        i++;
        if (i < e && is_alnum((unsigned char)s[i])) {
            while (i < e && is_alnum((unsigned char)s[i])) {
                i++;
            }
            t = T_FIELD;
        } else {
            t = T_DOT;
        }
    } else if (c == '$') {
        i++;
        while (i < e && is_alnum((unsigned char)s[i])) {
            i++;
        }
        t = T_VAR;
    } else if ((c >= '0' && c <= '9') || c == '.' ||
               ((c == '-' || c == '+') && i + 1 < e &&
                ((s[i + 1] >= '0' && s[i + 1] <= '9') || s[i + 1] == '.'))) {
        i++;
        while (i < e && (is_alnum((unsigned char)s[i]) || s[i] == '.' ||
                         ((s[i] == '+' || s[i] == '-') &&
                          (s[i - 1] == 'e' || s[i - 1] == 'E' ||
                           s[i - 1] == 'p' || s[i - 1] == 'P')))) {
            i++;
        }
        t = T_NUM;
    } else if (is_alnum((unsigned char)c)) {
        while (i < e && is_alnum((unsigned char)s[i])) {
            i++;
        }
        t = T_IDENT;
    } else {
        perr(p, p->i, "unexpected \"%c\" in command", c);
        return T_ERR;
    }
    p->tk_len = i - p->i;
    p->i = i;
    return t;
}

static enum tok peek(struct tp *p)
{
    if (!p->peeked) {
        p->tk = lex(p);
        p->peeked = true;
    }
    return p->tk;
}

static enum tok next(struct tp *p)
{
    enum tok t = peek(p);
    p->peeked = false;
    return t;
}

static struct tr_slice tok_text(const struct tp *p)
{
    return (struct tr_slice){p->s + p->tk_pos, p->tk_len};
}

static bool tok_is(const struct tp *p, enum tok t, const char *word)
{
    return p->tk == t && tr_slice_eq_cstr(tok_text(p), word);
}

/* ---- literals --------------------------------------------------------------
 */

static size_t put_rune(char *o, unsigned long r)
{
    if (r < 0x80) {
        o[0] = (char)r;
        return 1;
    }
    if (r < 0x800) {
        o[0] = (char)(0xc0 | (r >> 6));
        o[1] = (char)(0x80 | (r & 0x3f));
        return 2;
    }
    if (r < 0x10000) {
        o[0] = (char)(0xe0 | (r >> 12));
        o[1] = (char)(0x80 | ((r >> 6) & 0x3f));
        o[2] = (char)(0x80 | (r & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (r >> 18));
    o[1] = (char)(0x80 | ((r >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((r >> 6) & 0x3f));
    o[3] = (char)(0x80 | (r & 0x3f));
    return 4;
}

static int hexd(char c)
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

/* Go's strconv.Unquote of a "..." or '...' body into out (room for n + 4
 * bytes); returns the length or -1. */
static long go_unquote(char *out, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') {
            out[o++] = s[i++];
            continue;
        }
        if (++i >= n) {
            return -1;
        }
        char c = s[i++];
        unsigned long r = 0;
        int digits = 0;
        switch (c) {
            case 'a':
                out[o++] = '\a';
                continue;
            case 'b':
                out[o++] = '\b';
                continue;
            case 'f':
                out[o++] = '\f';
                continue;
            case 'n':
                out[o++] = '\n';
                continue;
            case 'r':
                out[o++] = '\r';
                continue;
            case 't':
                out[o++] = '\t';
                continue;
            case 'v':
                out[o++] = '\v';
                continue;
            case '\\':
            case '"':
            case '\'':
                out[o++] = c;
                continue;
            case 'x':
                digits = 2;
                break;
            case 'u':
                digits = 4;
                break;
            case 'U':
                digits = 8;
                break;
            default:
                if (c >= '0' && c <= '7') {
                    if (i + 2 > n || s[i] < '0' || s[i] > '7' ||
                        s[i + 1] < '0' || s[i + 1] > '7') {
                        return -1;
                    }
                    r = (unsigned long)((c - '0') * 64 + (s[i] - '0') * 8 +
                                        (s[i + 1] - '0'));
                    i += 2;
                    if (r > 255) {
                        return -1;
                    }
                    out[o++] = (char)r;
                    continue;
                }
                return -1;
        }
        if (i + (size_t)digits > n) {
            return -1;
        }
        for (int k = 0; k < digits; k++) {
            int h = hexd(s[i + (size_t)k]);
            if (h < 0) {
                return -1;
            }
            r = r * 16 + (unsigned long)h;
        }
        i += (size_t)digits;
        if (c == 'x') {
            out[o++] = (char)r;
        } else {
            if (r > 0x10ffff || (r >= 0xd800 && r < 0xe000)) {
                return -1;
            }
            o += put_rune(out + o, r);
        }
    }
    return (long)o;
}

/* Go's number constants: ints (with 0x 0o 0b prefixes and _), floats. */
static bool parse_number(struct tt_arg *a, const char *s, size_t n)
{
    char buf[128];
    size_t k = 0;
    if (n == 0 || n >= sizeof(buf)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '_') {
            buf[k++] = s[i];
        }
    }
    buf[k] = 0;
    char *end;
    const char *b = buf;
    bool neg = false;
    if (*b == '+' || *b == '-') {
        neg = *b == '-';
        b++;
    }
    int base = 10;
    const char *digits = b;
    if (b[0] == '0' && (b[1] == 'x' || b[1] == 'X')) {
        base = 16;
        digits = b + 2;
    } else if (b[0] == '0' && (b[1] == 'o' || b[1] == 'O')) {
        base = 8;
        digits = b + 2;
    } else if (b[0] == '0' && (b[1] == 'b' || b[1] == 'B')) {
        base = 2;
        digits = b + 2;
    } else if (b[0] == '0' && b[1] >= '0' && b[1] <= '9') {
        base = 8;
        digits = b + 1;
    }
    errno = 0;
    unsigned long long u = strtoull(digits, &end, base);
    if (*digits && *end == 0 && errno == 0 && digits[0] != '-' &&
        digits[0] != '+') {
        if (u <= (unsigned long long)INT64_MAX + (neg ? 1u : 0u)) {
            a->is_int = true;
            a->i = neg ? (int64_t)(0 - u) : (int64_t)u;
            a->is_float = true;
            a->f = neg ? -(double)u : (double)u;
            return true;
        }
    }
    double f;
    if (base == 8 && digits == b + 1) {
        /* 0755-like decimals with a fraction, e.g. 01.5 */
    }
    if (tr_logql_parse_float(buf, k, &f, NULL) != 0) {
        return false;
    }
    a->is_float = true;
    a->f = f;
    if (f == floor(f) && fabs(f) < 9.2e18 && !memchr(buf, '.', k) &&
        !memchr(buf, 'e', k) && !memchr(buf, 'E', k)) {
        a->is_int = true;
        a->i = (int64_t)f;
    }
    return true;
}

/* ---- parser -----------------------------------------------------------------
 */

static struct tt_pipe *parse_pipeline(struct tp *p,
                                      const char *ctx,
                                      bool in_paren);

static bool var_known(struct tp *p, struct tr_slice name)
{
    if (name.len == 1) {
        return true; /* $ */
    }
    for (size_t i = p->n_vars; i-- > 0;) {
        if (tr_slice_eq(p->vars[i], name)) {
            return true;
        }
    }
    return false;
}

/* Trailing .a.b fields of an operand whose last token ended at end. */
static bool parse_fields(struct tp *p, struct tt_arg *a, size_t end)
{
    size_t cap = a->n_fields;
    while (peek(p) == T_FIELD && p->tk_pos == end) {
        next(p);
        if (a->n_fields == cap) {
            struct tr_slice *nv = tr_arena_array_grow(
                &p->t->arena, a->fields, a->n_fields, &cap, sizeof(*nv), 4);
            if (!nv) {
                return false;
            }
            a->fields = nv;
        }
        a->fields[a->n_fields++] =
            (struct tr_slice){p->s + p->tk_pos + 1, p->tk_len - 1};
        end = p->tk_pos + p->tk_len;
    }
    return true;
}

static struct tt_arg *parse_operand(struct tp *p)
{
    enum tok t = peek(p);
    if (t == T_EOF || t == T_PIPE || t == T_RPAREN || t == T_ERR) {
        return NULL;
    }
    next(p);
    struct tt_arg *a = palloc(p, sizeof(*a));
    if (!a) {
        perr(p, p->tk_pos, "out of memory");
        return NULL;
    }
    a->pos = p->tk_pos;
    a->s = tok_text(p);
    struct tr_slice txt = tok_text(p);
    switch (t) {
        case T_DOT:
            a->kind = TA_DOT;
            break;
        case T_FIELD:
            a->kind = TA_FIELD;
            a->fields = palloc(p, sizeof(*a->fields));
            if (!a->fields) {
                perr(p, a->pos, "out of memory");
                return NULL;
            }
            a->fields[0] = (struct tr_slice){txt.base + 1, txt.len - 1};
            a->n_fields = 1;
            if (!parse_fields(p, a, a->pos + txt.len)) {
                perr(p, a->pos, "out of memory");
                return NULL;
            }
            return a;
        case T_VAR:
            a->kind = TA_VAR;
            if (!var_known(p, txt)) {
                perr(p, a->pos, "undefined variable \"%.*s\"", (int)txt.len,
                     txt.base);
                return NULL;
            }
            break;
        case T_STR:
        case T_RAW: {
            a->kind = TA_STR;
            if (t == T_RAW) {
                a->s = (struct tr_slice){txt.base + 1, txt.len - 2};
                break;
            }
            char *o = palloc(p, txt.len + 4);
            long k = o ? go_unquote(o, txt.base + 1, txt.len - 2) : -1;
            if (k < 0) {
                perr(p, a->pos, o ? "invalid syntax" : "out of memory");
                return NULL;
            }
            a->s = (struct tr_slice){o, (size_t)k};
            break;
        }
        case T_CHAR: {
            char o[16];
            long k =
                txt.len <= 12 ? go_unquote(o, txt.base + 1, txt.len - 2) : -1;
            if (k <= 0) {
                perr(p, a->pos, "malformed character constant: %.*s",
                     (int)txt.len, txt.base);
                return NULL;
            }
            unsigned long r = (unsigned char)o[0];
            size_t l = tr_utf8_seq_len((const unsigned char *)o, (size_t)k);
            if (l != (size_t)k && !(k == 1)) {
                perr(p, a->pos, "malformed character constant: %.*s",
                     (int)txt.len, txt.base);
                return NULL;
            }
            if (l > 1) {
                r = (unsigned long)(o[0] & (0x7f >> l));
                for (size_t q = 1; q < l; q++) {
                    r = (r << 6) | (unsigned long)(o[q] & 0x3f);
                }
            }
            a->kind = TA_NUM;
            a->is_int = a->is_float = true;
            a->i = (int64_t)r;
            a->f = (double)r;
            break;
        }
        case T_NUM:
            a->kind = TA_NUM;
            if (!parse_number(a, txt.base, txt.len)) {
                perr(p, a->pos, "bad number syntax: \"%.*s\"", (int)txt.len,
                     txt.base);
                return NULL;
            }
            break;
        case T_IDENT:
            if (tr_slice_eq_cstr(txt, "true") ||
                tr_slice_eq_cstr(txt, "false")) {
                a->kind = TA_BOOL;
                a->b = tr_slice_eq_cstr(txt, "true");
            } else if (tr_slice_eq_cstr(txt, "nil")) {
                a->kind = TA_NIL;
            } else {
                a->kind = TA_FUNC;
                a->fn = tt_func_find(txt.base, txt.len);
                if (a->fn < 0) {
                    perr(p, a->pos, "function \"%.*s\" not defined",
                         (int)txt.len, txt.base);
                    return NULL;
                }
            }
            break;
        case T_LPAREN:
            if (++p->depth > TT_MAX_DEPTH) {
                perr(p, a->pos, "max expression depth exceeded");
                return NULL;
            }
            a->kind = TA_PIPE;
            a->pipe = parse_pipeline(p, "parenthesized pipeline", true);
            p->depth--;
            if (!a->pipe) {
                return NULL;
            }
            break;
        case T_RPAREN:
            perr(p, a->pos, "unexpected right paren");
            return NULL;
        default:
            perr(p, a->pos, "unexpected \"%.*s\" in operand", (int)txt.len,
                 txt.base);
            return NULL;
    }
    if (a->kind == TA_VAR || a->kind == TA_PIPE || a->kind == TA_DOT) {
        size_t end =
            a->kind == TA_PIPE ? p->tk_pos + p->tk_len : a->pos + txt.len;
        if (!parse_fields(p, a, end)) {
            perr(p, a->pos, "out of memory");
            return NULL;
        }
        if (a->kind == TA_DOT && a->n_fields) {
            perr(p, a->pos, "unexpected . after term \".\"");
            return NULL;
        }
    } else if (peek(p) == T_FIELD && p->tk_pos == a->pos + txt.len) {
        perr(p, p->tk_pos, "unexpected . after term \"%.*s\"", (int)txt.len,
             txt.base);
        return NULL;
    }
    return a;
}

static struct tt_cmd *parse_command(struct tp *p)
{
    struct tt_cmd *c = palloc(p, sizeof(*c));
    if (!c) {
        perr(p, p->i, "out of memory");
        return NULL;
    }
    c->pos = p->i;
    for (;;) {
        struct tt_arg *a = parse_operand(p);
        if (p->failed) {
            return NULL;
        }
        if (!a) {
            break;
        }
        if (c->n == c->cap) {
            struct tt_arg **nv = tr_arena_array_grow(
                &p->t->arena, c->args, c->n, &c->cap, sizeof(*nv), 4);
            if (!nv) {
                perr(p, p->i, "out of memory");
                return NULL;
            }
            c->args = nv;
        }
        c->args[c->n++] = a;
        enum tok t = peek(p);
        if (t == T_ERR) {
            return NULL;
        }
        if (t == T_EOF || t == T_PIPE || t == T_RPAREN) {
            break;
        }
    }
    if (c->n == 0) {
        perr(p, p->i, "empty command");
        return NULL;
    }
    c->pos = c->args[0]->pos;
    c->end = p->tk_pos;
    while (c->end > c->pos && is_space(p->s[c->end - 1])) {
        c->end--;
    }
    return c;
}

/* Parses "[$x[, $y] :=|=] cmd | cmd ..." up to the end of the action (or a
 * right paren when in_paren). */
static struct tt_pipe *parse_pipeline(struct tp *p,
                                      const char *ctx,
                                      bool in_paren)
{
    struct tt_pipe *pp = palloc(p, sizeof(*pp));
    if (!pp) {
        perr(p, p->i, "out of memory");
        return NULL;
    }
    pp->pos = p->i;
    /* declarations */
    if (peek(p) == T_VAR) {
        size_t save_pos = p->tk_pos;
        struct tr_slice v1 = tok_text(p);
        next(p);
        enum tok t = peek(p);
        if (t == T_DECL || t == T_ASSIGN) {
            next(p);
            pp->decl = t == T_DECL;
            pp->assign = t == T_ASSIGN;
            pp->vars[0] = v1;
            pp->n_vars = 1;
        } else if (t == T_COMMA) {
            next(p);
            if (next(p) != T_VAR) {
                perr(p, p->tk_pos, "too many declarations in %s", ctx);
                return NULL;
            }
            struct tr_slice v2 = tok_text(p);
            t = next(p);
            if (t != T_DECL && t != T_ASSIGN) {
                perr(p, p->tk_pos, "expected := or = in %s", ctx);
                return NULL;
            }
            pp->decl = t == T_DECL;
            pp->assign = t == T_ASSIGN;
            pp->vars[0] = v1;
            pp->vars[1] = v2;
            pp->n_vars = 2;
        } else {
            /* not a declaration: lex again from the variable */
            p->i = save_pos;
            p->peeked = false;
        }
        if (pp->assign) {
            for (size_t k = 0; k < pp->n_vars; k++) {
                if (!var_known(p, pp->vars[k])) {
                    perr(p, pp->pos, "undefined variable \"%.*s\"",
                         (int)pp->vars[k].len, pp->vars[k].base);
                    return NULL;
                }
            }
        }
    }
    for (;;) {
        enum tok t = peek(p);
        if (t == T_ERR) {
            return NULL;
        }
        if (t == T_EOF) {
            if (in_paren) {
                perr(p, p->tk_pos, "unclosed left paren");
                return NULL;
            }
            break;
        }
        if (t == T_RPAREN) {
            if (!in_paren) {
                perr(p, p->tk_pos, "unexpected right paren");
                return NULL;
            }
            next(p);
            break;
        }
        struct tt_cmd *c = parse_command(p);
        if (!c) {
            return NULL;
        }
        if (pp->n == pp->cap) {
            struct tt_cmd **nv = tr_arena_array_grow(
                &p->t->arena, pp->cmds, pp->n, &pp->cap, sizeof(*nv), 4);
            if (!nv) {
                perr(p, p->i, "out of memory");
                return NULL;
            }
            pp->cmds = nv;
        }
        pp->cmds[pp->n++] = c;
        if (peek(p) == T_PIPE) {
            next(p);
            enum tok t2 = peek(p);
            if (t2 == T_EOF || t2 == T_RPAREN || t2 == T_PIPE) {
                perr(p, p->tk_pos, "missing command after pipe");
                return NULL;
            }
        }
    }
    if (pp->n == 0) {
        perr(p, pp->pos, "missing value for %s", ctx);
        return NULL;
    }
    for (size_t k = 1; k < pp->n; k++) {
        enum tt_arg_kind ak = pp->cmds[k]->args[0]->kind;
        if (ak == TA_BOOL || ak == TA_DOT || ak == TA_NIL || ak == TA_NUM ||
            ak == TA_STR) {
            perr(p, pp->cmds[k]->pos,
                 "non executable command in pipeline stage %zu", k + 1);
            return NULL;
        }
    }
    if (pp->n == 1 && pp->cmds[0]->n > 1 &&
        pp->cmds[0]->args[0]->kind != TA_FUNC) {
        /* Go: a non-function operand cannot take arguments; reported at
         * execution ("can't give argument to non-function"). */
    }
    if (pp->cmds[0]->args[0]->kind == TA_NIL && pp->cmds[0]->n == 1) {
        perr(p, pp->pos, "nil is not a command");
        return NULL;
    }
    if (pp->decl) {
        for (size_t k = 0; k < pp->n_vars; k++) {
            if (p->n_vars >= sizeof(p->vars) / sizeof(p->vars[0])) {
                perr(p, pp->pos, "too many variables");
                return NULL;
            }
            p->vars[p->n_vars++] = pp->vars[k];
        }
    }
    return pp;
}

enum end_kind { END_EOF, END_END, END_ELSE, END_ERR };

static enum end_kind parse_list(struct tp *p,
                                struct tt_list *l,
                                struct tt_node **else_if);

/* Consumes the closing delimiter of the current action (and its trim). */
static void close_action(struct tp *p)
{
    p->i = p->act_end + (p->trim_right ? 3 : 2);
    p->peeked = false;
    if (p->trim_right) {
        while (p->i < p->n && is_space(p->s[p->i])) {
            p->i++;
        }
    }
}

static bool expect_action_end(struct tp *p, const char *what)
{
    enum tok t = next(p);
    if (t == T_ERR) {
        return false;
    }
    if (t != T_EOF) {
        perr(p, p->tk_pos, "unexpected \"%.*s\" in %s", (int)p->tk_len,
             p->s + p->tk_pos, what);
        return false;
    }
    close_action(p);
    return true;
}

/* if / with / range: the pipeline, then the lists up to {{end}}. */
static struct tt_node *parse_control(struct tp *p,
                                     enum tt_node_kind kind,
                                     size_t pos)
{
    static const char *names[] = {"", "", "if", "with", "range"};
    struct tt_node *nd = palloc(p, sizeof(*nd));
    if (!nd) {
        perr(p, pos, "out of memory");
        return NULL;
    }
    if (++p->depth > TT_MAX_DEPTH) {
        perr(p, pos, "max nesting depth exceeded");
        return NULL;
    }
    nd->kind = kind;
    nd->pos = pos;
    size_t vars_before = p->n_vars;
    nd->pipe = parse_pipeline(p, names[kind], false);
    if (!nd->pipe) {
        return NULL;
    }
    if (kind == TT_RANGE && nd->pipe->n_vars == 2 && nd->pipe->assign) {
        /* fine */
    } else if (kind != TT_RANGE && nd->pipe->n_vars > 1) {
        perr(p, pos, "too many declarations in %s", names[kind]);
        return NULL;
    }
    close_action(p);
    struct tt_node *else_if = NULL;
    enum end_kind ek = parse_list(p, &nd->list, &else_if);
    if (ek == END_ERR) {
        return NULL;
    }
    if (ek == END_EOF) {
        perr(p, p->n, "unexpected EOF");
        return NULL;
    }
    if (ek == END_ELSE) {
        if (else_if) {
            /* {{else if ...}} / {{else with ...}}: the chained node
             * consumed the shared {{end}} */
            if (!list_add(p, &nd->else_list, else_if)) {
                perr(p, pos, "out of memory");
                return NULL;
            }
        } else {
            struct tt_node *dummy = NULL;
            ek = parse_list(p, &nd->else_list, &dummy);
            if (ek == END_ERR) {
                return NULL;
            }
            if (ek != END_END) {
                perr(p, p->n,
                     ek == END_EOF ? "unexpected EOF"
                                   : "expected end; found {{else}}");
                return NULL;
            }
        }
    }
    p->n_vars = vars_before;
    p->depth--;
    return nd;
}

/* Parses nodes until {{end}}, {{else}} or the end of the source. On
 * {{else if}} / {{else with}} *else_if gets the chained node. */
static enum end_kind parse_list(struct tp *p,
                                struct tt_list *l,
                                struct tt_node **else_if)
{
    for (;;) {
        if (p->i >= p->n) {
            return END_EOF;
        }
        const char *open = NULL;
        size_t from = p->i;
        for (size_t k = p->i; k + 1 < p->n; k++) {
            if (p->s[k] == '{' && p->s[k + 1] == '{') {
                open = p->s + k;
                break;
            }
        }
        size_t text_end = open ? (size_t)(open - p->s) : p->n;
        size_t act = text_end + 2;
        bool trim_left = open && act + 1 < p->n && p->s[act] == '-' &&
                         is_space(p->s[act + 1]);
        size_t te = text_end;
        if (trim_left) {
            while (te > from && is_space(p->s[te - 1])) {
                te--;
            }
        }
        if (te > from) {
            struct tt_node *nd = palloc(p, sizeof(*nd));
            if (!nd || !list_add(p, l, nd)) {
                perr(p, from, "out of memory");
                return END_ERR;
            }
            nd->kind = TT_TEXT;
            nd->pos = from;
            nd->text = (struct tr_slice){p->s + from, te - from};
        }
        if (!open) {
            p->i = p->n;
            return END_EOF;
        }
        p->i = trim_left ? act + 2 : act;
        size_t apos = text_end;
        /* comment */
        size_t ci = p->i;
        if (ci + 1 < p->n && p->s[ci] == '/' && p->s[ci + 1] == '*') {
            const char *e = NULL;
            for (size_t k = ci + 2; k + 1 < p->n; k++) {
                if (p->s[k] == '*' && p->s[k + 1] == '/') {
                    e = p->s + k;
                    break;
                }
            }
            if (!e) {
                perr(p, apos, "unclosed comment");
                return END_ERR;
            }
            size_t k = (size_t)(e - p->s) + 2;
            bool tr = false;
            if (k + 3 < p->n && p->s[k] == ' ' && p->s[k + 1] == '-' &&
                p->s[k + 2] == '}' && p->s[k + 3] == '}') {
                tr = true;
                k += 2;
            }
            if (!(k + 1 < p->n && p->s[k] == '}' && p->s[k + 1] == '}')) {
                perr(p, apos, "comment ends before closing delimiter");
                return END_ERR;
            }
            p->i = k + 2;
            if (tr) {
                while (p->i < p->n && is_space(p->s[p->i])) {
                    p->i++;
                }
            }
            continue;
        }
        if (!find_action_end(p)) {
            perr(p, apos, "unclosed action");
            return END_ERR;
        }
        p->peeked = false;
        enum tok t = peek(p);
        if (t == T_ERR) {
            return END_ERR;
        }
        if (t == T_EOF) {
            perr(p, apos, "missing value for command");
            return END_ERR;
        }
        if (t == T_IDENT) {
            struct tr_slice w = tok_text(p);
            if (tr_slice_eq_cstr(w, "end")) {
                next(p);
                if (!expect_action_end(p, "end")) {
                    return END_ERR;
                }
                if (p->depth == 0) {
                    perr(p, apos, "unexpected {{end}}");
                    return END_ERR;
                }
                return END_END;
            }
            if (tr_slice_eq_cstr(w, "else")) {
                next(p);
                if (p->depth == 0) {
                    perr(p, apos, "unexpected {{else}}");
                    return END_ERR;
                }
                if (peek(p) == T_IDENT &&
                    (tok_is(p, T_IDENT, "if") || tok_is(p, T_IDENT, "with"))) {
                    enum tt_node_kind k =
                        tok_is(p, T_IDENT, "if") ? TT_IF : TT_WITH;
                    next(p);
                    *else_if = parse_control(p, k, apos);
                    if (!*else_if) {
                        return END_ERR;
                    }
                    return END_ELSE;
                }
                if (!expect_action_end(p, "else")) {
                    return END_ERR;
                }
                return END_ELSE;
            }
            if (tr_slice_eq_cstr(w, "if") || tr_slice_eq_cstr(w, "with") ||
                tr_slice_eq_cstr(w, "range")) {
                enum tt_node_kind k = tr_slice_eq_cstr(w, "if")     ? TT_IF
                                      : tr_slice_eq_cstr(w, "with") ? TT_WITH
                                                                    : TT_RANGE;
                next(p);
                struct tt_node *nd = parse_control(p, k, apos);
                if (!nd) {
                    return END_ERR;
                }
                if (!list_add(p, l, nd)) {
                    perr(p, apos, "out of memory");
                    return END_ERR;
                }
                continue;
            }
            if (tr_slice_eq_cstr(w, "break") ||
                tr_slice_eq_cstr(w, "continue")) {
                next(p);
                struct tt_node *nd = palloc(p, sizeof(*nd));
                if (!nd || !list_add(p, l, nd)) {
                    perr(p, apos, "out of memory");
                    return END_ERR;
                }
                nd->kind = w.len == 5 ? TT_BREAK : TT_CONTINUE;
                nd->pos = apos;
                if (!expect_action_end(p, w.len == 5 ? "break" : "continue")) {
                    return END_ERR;
                }
                continue;
            }
            if (tr_slice_eq_cstr(w, "define") ||
                tr_slice_eq_cstr(w, "template") ||
                tr_slice_eq_cstr(w, "block")) {
                perr(p, apos, "%.*s is not supported", (int)w.len, w.base);
                return END_ERR;
            }
        }
        struct tt_node *nd = palloc(p, sizeof(*nd));
        if (!nd || !list_add(p, l, nd)) {
            perr(p, apos, "out of memory");
            return END_ERR;
        }
        nd->kind = TT_ACTION;
        nd->pos = apos;
        nd->pipe = parse_pipeline(p, "command", false);
        if (!nd->pipe) {
            return END_ERR;
        }
        close_action(p);
    }
}

int tr_logql_template_compile(const char *name,
                              const char *src,
                              size_t len,
                              struct tr_logql_template **out,
                              char *errmsg)
{
    struct tr_logql_template *t = tr_calloc(1, sizeof(*t));
    if (!t) {
        return TR_ENOMEM;
    }
    tr_arena_init(&t->arena, 4096);
    t->name = tr_arena_strndup(&t->arena, name, strlen(name));
    char *copy = tr_arena_memdup(&t->arena, src, len);
    if (!t->name || !copy) {
        tr_logql_template_free(t);
        return TR_ENOMEM;
    }
    t->src = copy;
    t->len = len;
    struct tp p;
    memset(&p, 0, sizeof(p));
    p.t = t;
    p.s = copy;
    p.n = len;
    p.errmsg = errmsg;
    struct tt_node *dummy = NULL;
    enum end_kind ek = parse_list(&p, &t->root, &dummy);
    if (ek != END_EOF || p.failed) {
        if (!p.failed) {
            perr(&p, p.i, "unexpected {{end}}");
        }
        tr_logql_template_free(t);
        return TR_EINVAL;
    }
    /* {{.name}} alone */
    if (t->root.n == 1 && t->root.v[0]->kind == TT_ACTION) {
        const struct tt_pipe *pp = t->root.v[0]->pipe;
        if (pp->n == 1 && pp->n_vars == 0 && pp->cmds[0]->n == 1 &&
            pp->cmds[0]->args[0]->kind == TA_FIELD &&
            pp->cmds[0]->args[0]->n_fields == 1) {
            t->simple_key = pp->cmds[0]->args[0]->fields[0];
        }
    }
    *out = t;
    return 0;
}

void tr_logql_template_free(struct tr_logql_template *t)
{
    if (!t) {
        return;
    }
    tr_arena_free(&t->arena);
    tr_free(t);
}

struct tr_slice tr_logql_template_simple_key(const struct tr_logql_template *t)
{
    return t->simple_key;
}
