/* lexer.c - PromQL tokenizer with Prometheus 2.53's rules and error wording
 * (see lexer.h). Written from the language's behaviour, not its code. */
#include "query/promql/lexer.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"

#define RUNE_EOF (-1)
#define RUNE_ERROR 0xfffd

/* ---- characters ------------------------------------------------------------
 */

static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(int c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(int c)
{
    return is_alpha(c) || is_digit(c);
}

/* Byte at i or RUNE_EOF. Only ASCII decisions are made on bytes. */
static int at(const struct tr_promql_lexer *l, size_t i)
{
    return i < l->n ? (unsigned char)l->input[i] : RUNE_EOF;
}

/* Decodes the UTF-8 rune at s[i..n): invalid -> U+FFFD width 1. */
static int32_t decode_rune(const char *input, size_t n, size_t i, size_t *w)
{
    const unsigned char *s = (const unsigned char *)input;
    if (i >= n) {
        *w = 0;
        return RUNE_EOF;
    }
    unsigned c = s[i];
    *w = 1;
    if (c < 0x80) {
        return (int32_t)c;
    }
    size_t len;
    uint32_t r, min;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, r = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, r = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, r = c & 0x07, min = 0x10000;
    } else {
        return RUNE_ERROR;
    }
    if (n - i < len) {
        return RUNE_ERROR;
    }
    for (size_t k = 1; k < len; k++) {
        if ((s[i + k] & 0xc0) != 0x80) {
            return RUNE_ERROR;
        }
        r = (r << 6) | (s[i + k] & 0x3f);
    }
    if (r < min || r > 0x10ffff || (r >= 0xd800 && r < 0xe000)) {
        return RUNE_ERROR;
    }
    *w = len;
    return (int32_t)r;
}

static size_t put_utf8(char *o, uint32_t r)
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

static bool rune_printable(int32_t r)
{
    return r >= 0x20 && r != 0x7f && !(r >= 0x80 && r < 0xa0) && r != 0xfffd;
}

/* Go's %q of one rune: 'x', '\n', '\x00', '\u0085'. */
static void quote_rune(char *buf, size_t n, int32_t r)
{
    char u[5];
    switch (r) {
        case '\a':
            snprintf(buf, n, "'\\a'");
            return;
        case '\b':
            snprintf(buf, n, "'\\b'");
            return;
        case '\f':
            snprintf(buf, n, "'\\f'");
            return;
        case '\n':
            snprintf(buf, n, "'\\n'");
            return;
        case '\r':
            snprintf(buf, n, "'\\r'");
            return;
        case '\t':
            snprintf(buf, n, "'\\t'");
            return;
        case '\v':
            snprintf(buf, n, "'\\v'");
            return;
        case '\'':
            snprintf(buf, n, "'\\''");
            return;
        case '\\':
            snprintf(buf, n, "'\\\\'");
            return;
        default:
            break;
    }
    if (r == RUNE_ERROR || r == RUNE_EOF) {
        snprintf(buf, n, "'\xef\xbf\xbd'");
    } else if (rune_printable(r)) {
        u[put_utf8(u, (uint32_t)r)] = '\0';
        snprintf(buf, n, "'%s'", u);
    } else if (r < 0x80) {
        snprintf(buf, n, "'\\x%02x'", (unsigned)r);
    } else {
        snprintf(buf, n, "'\\u%04x'", (unsigned)r);
    }
}

/* Go's %#U: U+0078 'x' (no quoted form for unprintable runes). */
static void fmt_U(char *buf, size_t n, int32_t r)
{
    if (rune_printable(r) || r == RUNE_ERROR) {
        char u[5];
        u[put_utf8(u, (uint32_t)r)] = '\0';
        snprintf(buf, n, "U+%04X '%s'", (unsigned)r, u);
    } else {
        snprintf(buf, n, "U+%04X", (unsigned)(r < 0 ? 0xfffd : r));
    }
}

/* Go's %q of a string, at most max_runes runes then "..." (max 0: all). */
static void quote_str(char *buf,
                      size_t n,
                      const char *s,
                      size_t len,
                      size_t max_runes)
{
    size_t o = 0, runes = 0;
    if (n < 8) {
        if (n > 0) {
            buf[0] = '\0';
        }
        return;
    }
    buf[o++] = '"';
    for (size_t i = 0; i < len;) {
        if (max_runes != 0 && runes == max_runes) {
            break;
        }
        size_t w;
        int32_t r = decode_rune(s, len, i, &w);
        char tmp[16];
        size_t tl;
        if (r == RUNE_ERROR && w == 1 &&
            !(len - i >= 3 && memcmp(s + i, "\xef\xbf\xbd", 3) == 0)) {
            tl = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x",
                                  (unsigned char)s[i]);
        } else if (r == '"' || r == '\\') {
            tmp[0] = '\\', tmp[1] = (char)r, tl = 2;
        } else if (r == '\n') {
            tl = (size_t)snprintf(tmp, sizeof(tmp), "\\n");
        } else if (r == '\t') {
            tl = (size_t)snprintf(tmp, sizeof(tmp), "\\t");
        } else if (r == '\r') {
            tl = (size_t)snprintf(tmp, sizeof(tmp), "\\r");
        } else if (rune_printable(r) || r == RUNE_ERROR) {
            tl = put_utf8(tmp, (uint32_t)r);
        } else if (r < 0x80) {
            tl = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", (unsigned)r);
        } else {
            tl = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", (unsigned)r);
        }
        if (o + tl + 5 >= n) {
            break;
        }
        memcpy(buf + o, tmp, tl);
        o += tl;
        i += w;
        runes++;
    }
    buf[o++] = '"';
    if (max_runes != 0 && runes == max_runes && o + 4 < n) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
}

/* ---- errors
 * ------------------------------------------------------------------ */

int tr_promql_errf(char *errmsg,
                   const char *input,
                   size_t n,
                   size_t pos,
                   const char *fmt,
                   ...)
{
    if (errmsg == NULL) {
        return TR_EINVAL;
    }
    size_t line = 1, col;
    size_t last_nl = 0;
    bool have_nl = false;
    if (pos > n) {
        pos = n;
    }
    for (size_t i = 0; i < pos; i++) {
        if (input[i] == '\n') {
            line++;
            last_nl = i;
            have_nl = true;
        }
    }
    col = have_nl ? pos - last_nl : pos + 1;
    int w =
        snprintf(errmsg, TR_ERRMSG_SIZE, "%zu:%zu: parse error: ", line, col);
    if (w < 0 || w >= TR_ERRMSG_SIZE) {
        return TR_EINVAL;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg + w, TR_ERRMSG_SIZE - (size_t)w, fmt, ap);
    va_end(ap);
    return TR_EINVAL;
}

/* ---- tokens
 * ------------------------------------------------------------------ */

static const struct {
    const char *word;
    enum tr_promql_tok type;
} keywords[] = {
    {"and", TR_PROMQL_LAND},
    {"or", TR_PROMQL_LOR},
    {"unless", TR_PROMQL_LUNLESS},
    {"atan2", TR_PROMQL_ATAN2},
    {"by", TR_PROMQL_BY},
    {"without", TR_PROMQL_WITHOUT},
    {"on", TR_PROMQL_ON},
    {"ignoring", TR_PROMQL_IGNORING},
    {"group_left", TR_PROMQL_GROUP_LEFT},
    {"group_right", TR_PROMQL_GROUP_RIGHT},
    {"bool", TR_PROMQL_BOOL},
    {"offset", TR_PROMQL_OFFSET},
    {"start", TR_PROMQL_START},
    {"end", TR_PROMQL_END},
    {"inf", TR_PROMQL_NUMBER},
    {"nan", TR_PROMQL_NUMBER},
};

const char *tr_promql_tok_name(enum tr_promql_tok t)
{
    switch (t) {
        case TR_PROMQL_EOF:
            return "EOF";
        case TR_PROMQL_ERROR:
            return "ERROR";
        case TR_PROMQL_COMMENT:
            return "COMMENT";
        case TR_PROMQL_IDENT:
            return "IDENT";
        case TR_PROMQL_METRIC_IDENT:
            return "METRIC_IDENT";
        case TR_PROMQL_NUMBER:
            return "NUMBER";
        case TR_PROMQL_DURATION:
            return "DURATION";
        case TR_PROMQL_STRING:
            return "STRING";
        case TR_PROMQL_LPAREN:
            return "(";
        case TR_PROMQL_RPAREN:
            return ")";
        case TR_PROMQL_LBRACE:
            return "{";
        case TR_PROMQL_RBRACE:
            return "}";
        case TR_PROMQL_LBRACKET:
            return "[";
        case TR_PROMQL_RBRACKET:
            return "]";
        case TR_PROMQL_COMMA:
            return ",";
        case TR_PROMQL_COLON:
            return ":";
        case TR_PROMQL_AT:
            return "@";
        case TR_PROMQL_EQL:
            return "=";
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
        case TR_PROMQL_EQL_REGEX:
            return "=~";
        case TR_PROMQL_NEQ_REGEX:
            return "!~";
        case TR_PROMQL_LAND:
            return "and";
        case TR_PROMQL_LOR:
            return "or";
        case TR_PROMQL_LUNLESS:
            return "unless";
        case TR_PROMQL_ATAN2:
            return "atan2";
        case TR_PROMQL_BY:
            return "by";
        case TR_PROMQL_WITHOUT:
            return "without";
        case TR_PROMQL_ON:
            return "on";
        case TR_PROMQL_IGNORING:
            return "ignoring";
        case TR_PROMQL_GROUP_LEFT:
            return "group_left";
        case TR_PROMQL_GROUP_RIGHT:
            return "group_right";
        case TR_PROMQL_BOOL:
            return "bool";
        case TR_PROMQL_OFFSET:
            return "offset";
        case TR_PROMQL_START:
            return "start";
        case TR_PROMQL_END:
            return "end";
    }
    return "?";
}

void tr_promql_tok_desc(const char *input,
                        const struct tr_promql_token *tok,
                        char *buf,
                        size_t n)
{
    const char *s = input + tok->pos;
    char q[160];
    const char *kind = NULL;
    if (n == 0) {
        return;
    }
    switch (tok->type) {
        case TR_PROMQL_EOF:
            snprintf(buf, n, "end of input");
            return;
        case TR_PROMQL_IDENT:
            kind = "identifier";
            break;
        case TR_PROMQL_METRIC_IDENT:
            kind = "metric identifier";
            break;
        case TR_PROMQL_NUMBER:
            kind = "number";
            break;
        case TR_PROMQL_DURATION:
            kind = "duration";
            break;
        case TR_PROMQL_STRING:
            kind = "string";
            break;
        case TR_PROMQL_COMMENT:
            kind = "comment";
            break;
        case TR_PROMQL_ERROR:
            kind = "error";
            break;
        default:
            break;
    }
    if (kind != NULL) {
        /* Identifiers print in full; other values as Go's "%.10q...". */
        bool ident =
            tok->type == TR_PROMQL_IDENT || tok->type == TR_PROMQL_METRIC_IDENT;
        size_t runes = 0;
        for (size_t i = 0; i < tok->len;) {
            size_t w;
            decode_rune(s, tok->len, i, &w);
            i += w;
            runes++;
        }
        quote_str(q, sizeof(q), s, tok->len, ident || runes <= 10 ? 0 : 10);
        snprintf(buf, n, "%s %s", kind, q);
        return;
    }
    if (tok->type >= TR_PROMQL_ADD && tok->type <= TR_PROMQL_ATAN2) {
        snprintf(buf, n, "<op:%.*s>", (int)tok->len, s);
    } else if (tok->type >= TR_PROMQL_BY) {
        snprintf(buf, n, "<%.*s>", (int)tok->len, s);
    } else {
        snprintf(buf, n, "\"%.*s\"", (int)tok->len, s);
    }
}

/* ---- scanning
 * ------------------------------------------------------------------ */

void tr_promql_lex_init(struct tr_promql_lexer *l, const char *s, size_t n)
{
    memset(l, 0, sizeof(*l));
    l->input = s != NULL ? s : "";
    l->n = s != NULL ? n : 0;
}

static int lex_fail(struct tr_promql_lexer *l,
                    struct tr_promql_token *tok,
                    size_t pos,
                    char *errmsg,
                    const char *fmt,
                    ...) __attribute__((format(printf, 5, 6)));

static int lex_fail(struct tr_promql_lexer *l,
                    struct tr_promql_token *tok,
                    size_t pos,
                    char *errmsg,
                    const char *fmt,
                    ...)
{
    char msg[TR_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    l->failed = true;
    l->pos = l->n;
    tok->type = TR_PROMQL_ERROR;
    tok->pos = pos;
    tok->len = 0;
    return tr_promql_errf(errmsg, l->input, l->n, pos, "%s", msg);
}

/* Prometheus' number scan from q; returns whether it is a complete number
 * (not followed by an alphanumeric) and sets *end. */
static bool scan_number(const struct tr_promql_lexer *l, size_t q, size_t *end)
{
    bool hex = false;
    if (at(l, q) == '0' && (at(l, q + 1) == 'x' || at(l, q + 1) == 'X')) {
        q += 2;
        hex = true;
    }
#define DIGIT(c) (is_digit(c) || (hex && strchr("abcdefABCDEF", (c)) && (c)))
    while (at(l, q) != RUNE_EOF && DIGIT(at(l, q))) {
        q++;
    }
    if (at(l, q) == '.') {
        q++;
        while (at(l, q) != RUNE_EOF && DIGIT(at(l, q))) {
            q++;
        }
    }
#undef DIGIT
    if (at(l, q) == 'e' || at(l, q) == 'E') {
        q++;
        if (at(l, q) == '+' || at(l, q) == '-') {
            q++;
        }
        while (is_digit(at(l, q))) {
            q++;
        }
    }
    *end = q;
    return !is_alnum(at(l, q));
}

/* The unit part of a duration from q; *end is where scanning stopped (past
 * the offending character on failure, as Prometheus reports it). */
static bool scan_duration_rest(const struct tr_promql_lexer *l,
                               size_t q,
                               size_t *end)
{
    int c = at(l, q);
    if (c == RUNE_EOF || strchr("smhdwy", c) == NULL) {
        *end = q;
        return false;
    }
    q++;
    if (at(l, q) == 's') {
        q++;
    }
    while (is_digit(at(l, q))) {
        while (is_digit(at(l, q))) {
            q++;
        }
        c = at(l, q);
        if (c == RUNE_EOF || strchr("smhdw", c) == NULL) {
            *end = q;
            return false;
        }
        q++;
        if (at(l, q) == 's') {
            q++;
        }
    }
    if (is_alnum(at(l, q))) {
        *end = q + 1;
        return false;
    }
    *end = q;
    return true;
}

/* Validates a string starting at its quote; sets *end past the closing
 * quote. Returns NULL or the error message (in buf). */
static const char *scan_string(const struct tr_promql_lexer *l,
                               size_t start,
                               size_t *end,
                               char *buf,
                               size_t bn)
{
    int quote = at(l, start);
    size_t q = start + 1;
    for (;;) {
        size_t w;
        int32_t r = decode_rune(l->input, l->n, q, &w);
        if (r == RUNE_EOF) {
            return quote == '`' ? "unterminated raw string"
                                : "unterminated quoted string";
        }
        q += w;
        if (r == RUNE_ERROR) {
            return "invalid UTF-8 rune";
        }
        if (r == quote) {
            *end = q;
            return NULL;
        }
        if (quote == '`') {
            continue;
        }
        if (r == '\n') {
            return "unterminated quoted string";
        }
        if (r != '\\') {
            continue;
        }
        int32_t ch = decode_rune(l->input, l->n, q, &w);
        q += w;
        int digits;
        uint32_t base, max;
        char u[48];
        switch (ch) {
            case 'a':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
            case 'v':
            case '\\':
                continue;
            case '0':
            case '1':
            case '2':
            case '3':
            case '4':
            case '5':
            case '6':
            case '7':
                digits = 3, base = 8, max = 255;
                break;
            case 'x':
                digits = 2, base = 16, max = 255;
                ch = decode_rune(l->input, l->n, q, &w);
                q += w;
                break;
            case 'u':
                digits = 4, base = 16, max = 0x10ffff;
                ch = decode_rune(l->input, l->n, q, &w);
                q += w;
                break;
            case 'U':
                digits = 8, base = 16, max = 0x10ffff;
                ch = decode_rune(l->input, l->n, q, &w);
                q += w;
                break;
            case RUNE_EOF:
                return "escape sequence not terminated";
            default:
                if (ch == quote) {
                    continue;
                }
                fmt_U(u, sizeof(u), ch);
                snprintf(buf, bn, "unknown escape sequence %s", u);
                return buf;
        }
        uint32_t x = 0;
        while (digits > 0) {
            uint32_t d = 16;
            if (ch >= '0' && ch <= '9') {
                d = (uint32_t)(ch - '0');
            } else if (ch >= 'a' && ch <= 'f') {
                d = (uint32_t)(ch - 'a' + 10);
            } else if (ch >= 'A' && ch <= 'F') {
                d = (uint32_t)(ch - 'A' + 10);
            }
            if (d >= base) {
                if (ch == RUNE_EOF) {
                    return "escape sequence not terminated";
                }
                fmt_U(u, sizeof(u), ch);
                snprintf(buf, bn, "illegal character %s in escape sequence", u);
                return buf;
            }
            x = x * base + d;
            digits--;
            if (digits > 0) {
                ch = decode_rune(l->input, l->n, q, &w);
                q += w;
            }
        }
        if (x > max || (x >= 0xd800 && x < 0xe000)) {
            return "escape sequence is an invalid Unicode code point";
        }
    }
}

static void emit(struct tr_promql_lexer *l,
                 struct tr_promql_token *tok,
                 enum tr_promql_tok type,
                 size_t start,
                 size_t end)
{
    tok->type = type;
    tok->pos = start;
    tok->len = end - start;
    l->pos = end;
}

static int lex_string_tok(struct tr_promql_lexer *l,
                          struct tr_promql_token *tok,
                          size_t start,
                          char *errmsg)
{
    char buf[128];
    size_t end = start;
    const char *err = scan_string(l, start, &end, buf, sizeof(buf));
    if (err != NULL) {
        return lex_fail(l, tok, start, errmsg, "%s", err);
    }
    emit(l, tok, TR_PROMQL_STRING, start, end);
    return 0;
}

static int lex_comment(struct tr_promql_lexer *l,
                       struct tr_promql_token *tok,
                       size_t start)
{
    size_t q = start + 1;
    while (q < l->n && l->input[q] != '\n' && l->input[q] != '\r') {
        q++;
    }
    emit(l, tok, TR_PROMQL_COMMENT, start, q);
    return 0;
}

static int lex_inside_braces(struct tr_promql_lexer *l,
                             struct tr_promql_token *tok,
                             char *errmsg)
{
    size_t s = l->pos;
    while (is_space(at(l, s))) {
        s++;
    }
    int c = at(l, s);
    char qr[32];
    size_t w;
    switch (c) {
        case RUNE_EOF:
            return lex_fail(l, tok, s, errmsg,
                            "unexpected end of input inside braces");
        case '#':
            return lex_comment(l, tok, s);
        case ',':
            emit(l, tok, TR_PROMQL_COMMA, s, s + 1);
            return 0;
        case '"':
        case '\'':
        case '`':
            return lex_string_tok(l, tok, s, errmsg);
        case '=':
            if (at(l, s + 1) == '~') {
                emit(l, tok, TR_PROMQL_EQL_REGEX, s, s + 2);
            } else {
                emit(l, tok, TR_PROMQL_EQL, s, s + 1);
            }
            return 0;
        case '!':
            if (at(l, s + 1) == '~') {
                emit(l, tok, TR_PROMQL_NEQ_REGEX, s, s + 2);
                return 0;
            }
            if (at(l, s + 1) == '=') {
                emit(l, tok, TR_PROMQL_NEQ, s, s + 2);
                return 0;
            }
            quote_rune(qr, sizeof(qr), decode_rune(l->input, l->n, s + 1, &w));
            return lex_fail(l, tok, s, errmsg,
                            "unexpected character after '!' inside braces: %s",
                            qr);
        case '{':
            return lex_fail(l, tok, s, errmsg, "unexpected left brace '{'");
        case '}':
            emit(l, tok, TR_PROMQL_RBRACE, s, s + 1);
            l->brace_open = false;
            return 0;
        default:
            break;
    }
    if (is_alpha(c)) {
        size_t q = s + 1;
        while (is_alnum(at(l, q))) {
            q++;
        }
        emit(l, tok, TR_PROMQL_IDENT, s, q);
        return 0;
    }
    quote_rune(qr, sizeof(qr), decode_rune(l->input, l->n, s, &w));
    return lex_fail(l, tok, s, errmsg, "unexpected character inside braces: %s",
                    qr);
}

static int lex_word(struct tr_promql_lexer *l,
                    struct tr_promql_token *tok,
                    size_t s)
{
    size_t q = s;
    bool colon = false;
    while (is_alnum(at(l, q)) || at(l, q) == ':') {
        colon |= at(l, q) == ':';
        q++;
    }
    size_t len = q - s;
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
        if (strlen(keywords[i].word) == len &&
            strncasecmp(keywords[i].word, l->input + s, len) == 0) {
            emit(l, tok, keywords[i].type, s, q);
            return 0;
        }
    }
    emit(l, tok, colon ? TR_PROMQL_METRIC_IDENT : TR_PROMQL_IDENT, s, q);
    return 0;
}

int tr_promql_lex_next(struct tr_promql_lexer *l,
                       struct tr_promql_token *tok,
                       char *errmsg)
{
    char qr[32];
    size_t w, end;

    if (l->failed) {
        return lex_fail(l, tok, l->n, errmsg, "lexer already failed");
    }
    if (l->brace_open) {
        return lex_inside_braces(l, tok, errmsg);
    }
    size_t s = l->pos;
    while (is_space(at(l, s))) {
        s++;
    }
    if (l->after_bracket) {
        /* '[' must be followed by a duration. */
        l->after_bracket = false;
        if (scan_number(l, s, &end)) {
            return lex_fail(l, tok, s, errmsg,
                            "missing unit character in duration");
        }
        if (!scan_duration_rest(l, end, &end)) {
            char q[160];
            quote_str(q, sizeof(q), l->input + s, end - s, 0);
            return lex_fail(l, tok, s, errmsg, "bad duration syntax: %s", q);
        }
        emit(l, tok, TR_PROMQL_DURATION, s, end);
        return 0;
    }
    int c = at(l, s);
    int c1 = at(l, s + 1);
    switch (c) {
        case RUNE_EOF:
            if (l->paren_depth != 0) {
                return lex_fail(l, tok, s, errmsg, "unclosed left parenthesis");
            }
            if (l->bracket_open) {
                return lex_fail(l, tok, s, errmsg, "unclosed left bracket");
            }
            emit(l, tok, TR_PROMQL_EOF, s, s);
            return 0;
        case '#':
            return lex_comment(l, tok, s);
        case ',':
            emit(l, tok, TR_PROMQL_COMMA, s, s + 1);
            return 0;
        case '*':
            emit(l, tok, TR_PROMQL_MUL, s, s + 1);
            return 0;
        case '/':
            emit(l, tok, TR_PROMQL_DIV, s, s + 1);
            return 0;
        case '%':
            emit(l, tok, TR_PROMQL_MOD, s, s + 1);
            return 0;
        case '+':
            emit(l, tok, TR_PROMQL_ADD, s, s + 1);
            return 0;
        case '-':
            emit(l, tok, TR_PROMQL_SUB, s, s + 1);
            return 0;
        case '^':
            emit(l, tok, TR_PROMQL_POW, s, s + 1);
            return 0;
        case '@':
            emit(l, tok, TR_PROMQL_AT, s, s + 1);
            return 0;
        case '=':
            if (c1 == '=') {
                emit(l, tok, TR_PROMQL_EQLC, s, s + 2);
                return 0;
            }
            if (c1 == '~') {
                return lex_fail(l, tok, s, errmsg,
                                "unexpected character after '=': '~'");
            }
            emit(l, tok, TR_PROMQL_EQL, s, s + 1);
            return 0;
        case '!':
            if (c1 == '=') {
                emit(l, tok, TR_PROMQL_NEQ, s, s + 2);
                return 0;
            }
            quote_rune(qr, sizeof(qr), decode_rune(l->input, l->n, s + 1, &w));
            return lex_fail(l, tok, s, errmsg,
                            "unexpected character after '!': %s", qr);
        case '<':
            if (c1 == '=') {
                emit(l, tok, TR_PROMQL_LTE, s, s + 2);
            } else {
                emit(l, tok, TR_PROMQL_LSS, s, s + 1);
            }
            return 0;
        case '>':
            if (c1 == '=') {
                emit(l, tok, TR_PROMQL_GTE, s, s + 2);
            } else {
                emit(l, tok, TR_PROMQL_GTR, s, s + 1);
            }
            return 0;
        case '"':
        case '\'':
        case '`':
            return lex_string_tok(l, tok, s, errmsg);
        case '(':
            l->paren_depth++;
            emit(l, tok, TR_PROMQL_LPAREN, s, s + 1);
            return 0;
        case ')':
            if (l->paren_depth == 0) {
                /* Prometheus reports this after the ')'. */
                return lex_fail(l, tok, s + 1, errmsg,
                                "unexpected right parenthesis ')'");
            }
            l->paren_depth--;
            emit(l, tok, TR_PROMQL_RPAREN, s, s + 1);
            return 0;
        case '{':
            l->brace_open = true;
            emit(l, tok, TR_PROMQL_LBRACE, s, s + 1);
            return 0;
        case '[':
            if (l->bracket_open) {
                return lex_fail(l, tok, s, errmsg,
                                "unexpected left bracket '['");
            }
            l->got_colon = false;
            l->bracket_open = true;
            l->after_bracket = true;
            emit(l, tok, TR_PROMQL_LBRACKET, s, s + 1);
            return 0;
        case ']':
            if (!l->bracket_open) {
                return lex_fail(l, tok, s, errmsg,
                                "unexpected right bracket ']'");
            }
            l->bracket_open = false;
            emit(l, tok, TR_PROMQL_RBRACKET, s, s + 1);
            return 0;
        default:
            break;
    }
    if (is_digit(c) || (c == '.' && is_digit(c1))) {
        if (scan_number(l, s, &end)) {
            emit(l, tok, TR_PROMQL_NUMBER, s, end);
            return 0;
        }
        if (scan_duration_rest(l, end, &end)) {
            emit(l, tok, TR_PROMQL_DURATION, s, end);
            return 0;
        }
        char q[160];
        quote_str(q, sizeof(q), l->input + s, end - s, 0);
        return lex_fail(l, tok, s, errmsg, "bad number or duration syntax: %s",
                        q);
    }
    if (is_alpha(c) || c == ':') {
        if (!l->bracket_open) {
            return lex_word(l, tok, s);
        }
        if (c == ':') {
            if (l->got_colon) {
                return lex_fail(l, tok, s, errmsg, "unexpected colon ':'");
            }
            l->got_colon = true;
            emit(l, tok, TR_PROMQL_COLON, s, s + 1);
            return 0;
        }
    }
    quote_rune(qr, sizeof(qr), decode_rune(l->input, l->n, s, &w));
    return lex_fail(l, tok, s, errmsg, "unexpected character: %s", qr);
}

/* ---- values
 * ------------------------------------------------------------------ */

int tr_promql_unquote(const char *s, size_t n, struct tr_buf *out)
{
    if (n < 2 || s[0] != s[n - 1] ||
        (s[0] != '"' && s[0] != '\'' && s[0] != '`')) {
        return TR_EINVAL;
    }
    char quote = s[0];
    const char *p = s + 1;
    const char *e = s + n - 1;
    if (quote == '`') {
        return tr_buf_append(out, p, (size_t)(e - p));
    }
    while (p < e) {
        const char *bs = memchr(p, '\\', (size_t)(e - p));
        if (bs == NULL) {
            return tr_buf_append(out, p, (size_t)(e - p));
        }
        if (tr_buf_append(out, p, (size_t)(bs - p)) != 0) {
            return TR_ENOMEM;
        }
        p = bs + 1;
        if (p >= e) {
            return TR_EINVAL;
        }
        char c = *p++;
        char ch;
        int digits = 0;
        uint32_t base = 16, x = 0;
        bool byte = false;
        switch (c) {
            case 'a':
                ch = '\a';
                break;
            case 'b':
                ch = '\b';
                break;
            case 'f':
                ch = '\f';
                break;
            case 'n':
                ch = '\n';
                break;
            case 'r':
                ch = '\r';
                break;
            case 't':
                ch = '\t';
                break;
            case 'v':
                ch = '\v';
                break;
            case '\\':
                ch = '\\';
                break;
            case 'x':
                digits = 2, byte = true;
                break;
            case 'u':
                digits = 4;
                break;
            case 'U':
                digits = 8;
                break;
            default:
                if (c >= '0' && c <= '7') {
                    digits = 2, base = 8, byte = true;
                    x = (uint32_t)(c - '0');
                    break;
                }
                if (c == quote) {
                    ch = c;
                    break;
                }
                return TR_EINVAL;
        }
        if (digits == 0) {
            if (tr_buf_putc(out, ch) != 0) {
                return TR_ENOMEM;
            }
            continue;
        }
        for (; digits > 0; digits--) {
            if (p >= e) {
                return TR_EINVAL;
            }
            char d = *p++;
            uint32_t v;
            if (d >= '0' && d <= '9') {
                v = (uint32_t)(d - '0');
            } else if (d >= 'a' && d <= 'f') {
                v = (uint32_t)(d - 'a' + 10);
            } else if (d >= 'A' && d <= 'F') {
                v = (uint32_t)(d - 'A' + 10);
            } else {
                return TR_EINVAL;
            }
            if (v >= base) {
                return TR_EINVAL;
            }
            x = x * base + v;
        }
        if (byte) {
            if (x > 255) {
                return TR_EINVAL;
            }
            if (tr_buf_putc(out, (char)x) != 0) {
                return TR_ENOMEM;
            }
        } else {
            if (x > 0x10ffff || (x >= 0xd800 && x < 0xe000)) {
                return TR_EINVAL;
            }
            char u[4];
            if (tr_buf_append(out, u, put_utf8(u, x)) != 0) {
                return TR_ENOMEM;
            }
        }
    }
    return out->oom ? TR_ENOMEM : 0;
}

int tr_promql_parse_number(const char *s, size_t n, double *out)
{
    if (n == 0 || n > 1024) {
        return TR_EINVAL;
    }
    if (n == 3 && strncasecmp(s, "nan", 3) == 0) {
        uint64_t b = 0x7ff8000000000001ull; /* Go's math.NaN() */
        memcpy(out, &b, sizeof(*out));
        return 0;
    }
    if (n == 3 && strncasecmp(s, "inf", 3) == 0) {
        *out = INFINITY;
        return 0;
    }
    char buf[1025];
    memcpy(buf, s, n);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum((unsigned char)buf[i]) && buf[i] != '.' &&
            buf[i] != '+' && buf[i] != '-') {
            return TR_EINVAL;
        }
    }
    /* Integers first, as Go's strconv.ParseInt(s, 0, 64). */
    bool hex = n > 2 && buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X');
    int base = hex ? 16 : (n > 1 && buf[0] == '0') ? 8 : 10;
    const char *digits = hex ? buf + 2 : buf;
    bool all = *digits != '\0';
    for (const char *p = digits; *p; p++) {
        int c = (unsigned char)*p;
        int v = is_digit(c)              ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : 99;
        if (v >= base) {
            all = false;
            break;
        }
    }
    if (all) {
        errno = 0;
        char *endp;
        long long v = strtoll(digits, &endp, base);
        if (errno == 0 && *endp == '\0') {
            *out = (double)v;
            return 0;
        }
    }
    if (hex) {
        return TR_EINVAL; /* hex floats need a 'p' exponent */
    }
    errno = 0;
    char *endp;
    double d = strtod(buf, &endp);
    if (*endp != '\0' || endp == buf || (errno == ERANGE && isinf(d))) {
        return TR_EINVAL;
    }
    if (!is_digit((unsigned char)buf[0]) && buf[0] != '.') {
        return TR_EINVAL; /* strtod accepts "infinity", signs, ... */
    }
    *out = d;
    return 0;
}

int tr_promql_parse_duration(const char *s, size_t n, int64_t *ms, char *errmsg)
{
    static const struct {
        const char *unit;
        uint64_t mult_ms;
    } units[] = {
        {"y", 365ull * 86400000},
        {"w", 7ull * 86400000},
        {"d", 86400000},
        {"h", 3600000},
        {"m", 60000},
        {"s", 1000},
        {"ms", 1},
    };
    const uint64_t max_ms = (uint64_t)INT64_MAX / 1000000; /* as Go's ns */
    char q[160];
    if (n == 1 && s[0] == '0') {
        *ms = 0;
        return 0;
    }
    quote_str(q, sizeof(q), s, n, 0);
    if (n == 0) {
        return tr_errf(TR_EINVAL, errmsg, "empty duration string");
    }
    uint64_t total = 0;
    size_t i = 0, last = 0;
    while (i < n) {
        if (!is_digit((unsigned char)s[i])) {
            return tr_errf(TR_EINVAL, errmsg, "not a valid duration string: %s",
                           q);
        }
        uint64_t v = 0;
        bool big = false;
        while (i < n && is_digit((unsigned char)s[i])) {
            if (v > (UINT64_MAX - 9) / 10) {
                big = true;
            } else {
                v = v * 10 + (uint64_t)(s[i] - '0');
            }
            i++;
        }
        size_t u = i;
        while (i < n && !is_digit((unsigned char)s[i])) {
            i++;
        }
        if (u == i || big) {
            return tr_errf(TR_EINVAL, errmsg, "not a valid duration string: %s",
                           q);
        }
        size_t k;
        for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
            if (strlen(units[k].unit) == i - u &&
                memcmp(units[k].unit, s + u, i - u) == 0) {
                break;
            }
        }
        if (k == sizeof(units) / sizeof(units[0])) {
            char uq[64];
            quote_str(uq, sizeof(uq), s + u, i - u, 0);
            return tr_errf(TR_EINVAL, errmsg, "unknown unit %s in duration %s",
                           uq, q);
        }
        if (k + 1 <= last) {
            return tr_errf(TR_EINVAL, errmsg, "not a valid duration string: %s",
                           q);
        }
        last = k + 1;
        if (v > max_ms / units[k].mult_ms) {
            return tr_errf(TR_ETOOLARGE, errmsg, "duration out of range");
        }
        total += v * units[k].mult_ms;
        if (total > max_ms) {
            return tr_errf(TR_ETOOLARGE, errmsg, "duration out of range");
        }
    }
    *ms = (int64_t)total;
    return 0;
}
