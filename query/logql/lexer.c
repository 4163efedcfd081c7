/* lexer.c - LogQL tokenizer: Go text/scanner's tokens, classified the way
 * Loki's lexer does (see lexer.h). */
#include "query/logql/lexer.h"
#include "query/logql/convert.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "query/promql/lexer.h"

static const char *const tok_names[] = {
#define TR__LOGQL_TOK_NAME(name, text) text,
    TR_LOGQL_TOKENS(TR__LOGQL_TOK_NAME)
#undef TR__LOGQL_TOK_NAME
};

const char *tr_logql_tok_name(enum tr_logql_tok t)
{
    if ((size_t)t >= sizeof(tok_names) / sizeof(tok_names[0])) {
        return "?";
    }
    return tok_names[t];
}

/* ---- error positions --------------------------------------------------- */

int tr_logql_errf_at(char *errmsg,
                     const char *q,
                     size_t n,
                     const struct tr_logql_token *tok,
                     const char *fmt,
                     ...)
{
    if (errmsg == NULL) {
        return TR_EINVAL;
    }
    char msg[TR_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int k;
    if (tok == NULL || tok->no_pos) {
        k = snprintf(errmsg, TR_ERRMSG_SIZE, "parse error : ");
    } else {
        size_t pos = tok->pos < n ? tok->pos : n;
        unsigned long line = 1, col = 1;
        for (size_t i = 0; i < pos; i++) {
            unsigned char c = (unsigned char)q[i];
            if (c == '\n') {
                line++;
                col = 1;
            } else if ((c & 0xC0) != 0x80) {
                col++; /* columns count characters, not bytes */
            }
        }
        k = snprintf(
            errmsg, TR_ERRMSG_SIZE,
            "parse error at line %lu, col %lu: ", tok->line0 ? 0UL : line, col);
    }
    size_t used = k < 0 ? 0 : (size_t)k;
    if (used >= TR_ERRMSG_SIZE) {
        used = TR_ERRMSG_SIZE - 1;
    }
    size_t ml = strlen(msg);
    if (ml > TR_ERRMSG_SIZE - 1 - used) {
        ml = TR_ERRMSG_SIZE - 1 - used;
    }
    memcpy(errmsg + used, msg, ml);
    errmsg[used + ml] = '\0';
    return TR_EINVAL;
}

/* ---- characters -------------------------------------------------------- */

/* Width of the valid UTF-8 sequence at s[i] (1 for ASCII), or 0 when the
 * byte starts no valid sequence. */
static size_t utf8_width(const char *s, size_t n, size_t i)
{
    return tr_utf8_seq_len((const unsigned char *)s + i, n - i);
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* unicode.IsSpace for the ASCII range (isFunction's look-ahead). */
static bool is_uspace(int c)
{
    return is_space(c) || c == '\v' || c == '\f';
}

/* Identifier characters: letters and '_' (any non-ASCII character counts as
 * a letter: an approximation of unicode.IsLetter), digits after the first. */
static bool ident_start(const char *s, size_t n, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x80) {
        return utf8_width(s, n, i) > 1;
    }
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int digit_val(int c)
{
    if (is_digit(c)) {
        return c - '0';
    }
    c = lower(c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return 16;
}

/* ---- durations, sizes, floats ------------------------------------------ */

int tr_logql_parse_prom_duration(const char *s,
                                 size_t n,
                                 int64_t *ns,
                                 char *errmsg)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {
        {"y", 365ULL * 24 * 3600 * 1000000000ULL},
        {"w", 7ULL * 24 * 3600 * 1000000000ULL},
        {"d", 24ULL * 3600 * 1000000000ULL},
        {"h", 3600ULL * 1000000000ULL},
        {"m", 60ULL * 1000000000ULL},
        {"s", 1000000000ULL},
        {"ms", 1000000ULL},
    };
    if (n == 1 && s[0] == '0') {
        *ns = 0;
        return 0;
    }
    if (n == 0) {
        return tr_errf(TR_EINVAL, errmsg, "empty duration string");
    }
    uint64_t d = 0;
    size_t i = 0;
    size_t last = 0;
    while (i < n) {
        if (!is_digit(s[i])) {
            goto bad;
        }
        uint64_t v = 0;
        for (; i < n && is_digit(s[i]); i++) {
            if (v > (UINT64_MAX - 9) / 10) {
                goto bad;
            }
            v = v * 10 + (uint64_t)(s[i] - '0');
        }
        size_t u0 = i;
        for (; i < n && !is_digit(s[i]); i++) {
        }
        if (i == u0) {
            goto bad;
        }
        size_t k;
        for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
            if (strlen(units[k].unit) == i - u0 &&
                memcmp(units[k].unit, s + u0, i - u0) == 0) {
                break;
            }
        }
        if (k == sizeof(units) / sizeof(units[0])) {
            return tr_errf(TR_EINVAL, errmsg,
                           "unknown unit \"%.*s\" in duration \"%.*s\"",
                           (int)(i - u0), s + u0, (int)n, s);
        }
        if (k + 1 <= last) {
            goto bad; /* units must go from the biggest to the smallest */
        }
        last = k + 1;
        if (v > (1ULL << 63) / units[k].mult) {
            return tr_errf(TR_EINVAL, errmsg, "duration out of range");
        }
        d += v * units[k].mult;
        if (d > (uint64_t)INT64_MAX) {
            return tr_errf(TR_EINVAL, errmsg, "duration out of range");
        }
    }
    *ns = (int64_t)d;
    return 0;
bad:
    return tr_errf(TR_EINVAL, errmsg, "not a valid duration string: \"%.*s\"",
                   (int)n, s);
}

/* ---- the scanner ----------------------------------------------------------
 */

void tr_logql_lex_init(struct tr_logql_lexer *l,
                       const char *q,
                       size_t n,
                       struct tr_arena *a)
{
    memset(l, 0, sizeof(*l));
    l->in = q;
    l->n = n;
    l->arena = a;
}

/* Records a lexical error at byte offset pos and returns it in *tok. */
__attribute__((format(printf, 6, 7))) static int lex_error(
    struct tr_logql_lexer *l,
    struct tr_logql_token *tok,
    size_t pos,
    bool line0,
    bool no_pos,
    const char *fmt,
    ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->errmsg, sizeof(l->errmsg), fmt, ap);
    va_end(ap);
    memset(tok, 0, sizeof(*tok));
    tok->type = TR_LOGQL_T_ERROR;
    tok->pos = pos;
    tok->line0 = line0;
    tok->no_pos = no_pos;
    tok->str = l->errmsg;
    tok->str_len = strlen(l->errmsg);
    l->failed = true;
    l->err_tok = *tok;
    return TR_EINVAL;
}

/* An invalid character (NUL, bad UTF-8) found between tokens: Go's scanner
 * reports it with the position of the token scanned before. */
static int bad_char_error(struct tr_logql_lexer *l,
                          struct tr_logql_token *tok,
                          const char *msg)
{
    if (!l->have_prev) {
        return lex_error(l, tok, 0, false, true, "%s", msg);
    }
    return lex_error(l, tok, l->prev_pos, l->prev_line0, false, "%s", msg);
}

static const struct {
    const char *name;
    enum tr_logql_tok tok;
} keywords[] = {
    {"by", TR_LOGQL_T_BY},
    {"without", TR_LOGQL_T_WITHOUT},
    {"bool", TR_LOGQL_T_BOOL},
    {"unwrap", TR_LOGQL_T_UNWRAP},
    {"offset", TR_LOGQL_T_OFFSET},
    {"on", TR_LOGQL_T_ON},
    {"ignoring", TR_LOGQL_T_IGNORING},
    {"group_left", TR_LOGQL_T_GROUP_LEFT},
    {"group_right", TR_LOGQL_T_GROUP_RIGHT},
    {"or", TR_LOGQL_T_OR},
    {"and", TR_LOGQL_T_AND},
    {"unless", TR_LOGQL_T_UNLESS},
    {"json", TR_LOGQL_T_JSON},
    {"regexp", TR_LOGQL_T_REGEXP},
    {"logfmt", TR_LOGQL_T_LOGFMT},
    {"unpack", TR_LOGQL_T_UNPACK},
    {"pattern", TR_LOGQL_T_PATTERN},
    {"label_format", TR_LOGQL_T_LABEL_FMT},
    {"line_format", TR_LOGQL_T_LINE_FMT},
    {"decolorize", TR_LOGQL_T_DECOLORIZE},
    {"drop", TR_LOGQL_T_DROP},
    {"keep", TR_LOGQL_T_KEEP},
};

/* Names that are tokens only when "(" (or "by (", "without (") follows. */
static const struct {
    const char *name;
    enum tr_logql_tok tok;
} functions[] = {
    {"rate", TR_LOGQL_T_RATE},
    {"rate_counter", TR_LOGQL_T_RATE_COUNTER},
    {"count_over_time", TR_LOGQL_T_COUNT_OVER_TIME},
    {"bytes_rate", TR_LOGQL_T_BYTES_RATE},
    {"bytes_over_time", TR_LOGQL_T_BYTES_OVER_TIME},
    {"avg_over_time", TR_LOGQL_T_AVG_OVER_TIME},
    {"sum_over_time", TR_LOGQL_T_SUM_OVER_TIME},
    {"min_over_time", TR_LOGQL_T_MIN_OVER_TIME},
    {"max_over_time", TR_LOGQL_T_MAX_OVER_TIME},
    {"stdvar_over_time", TR_LOGQL_T_STDVAR_OVER_TIME},
    {"stddev_over_time", TR_LOGQL_T_STDDEV_OVER_TIME},
    {"quantile_over_time", TR_LOGQL_T_QUANTILE_OVER_TIME},
    {"first_over_time", TR_LOGQL_T_FIRST_OVER_TIME},
    {"last_over_time", TR_LOGQL_T_LAST_OVER_TIME},
    {"absent_over_time", TR_LOGQL_T_ABSENT_OVER_TIME},
    {"vector", TR_LOGQL_T_VECTOR},
    {"sum", TR_LOGQL_T_SUM},
    {"avg", TR_LOGQL_T_AVG},
    {"max", TR_LOGQL_T_MAX},
    {"min", TR_LOGQL_T_MIN},
    {"count", TR_LOGQL_T_COUNT},
    {"stddev", TR_LOGQL_T_STDDEV},
    {"stdvar", TR_LOGQL_T_STDVAR},
    {"bottomk", TR_LOGQL_T_BOTTOMK},
    {"topk", TR_LOGQL_T_TOPK},
    {"sort", TR_LOGQL_T_SORT},
    {"sort_desc", TR_LOGQL_T_SORT_DESC},
    {"label_replace", TR_LOGQL_T_LABEL_REPLACE},
    {"approx_topk", TR_LOGQL_T_APPROX_TOPK},
    {"bytes", TR_LOGQL_T_BYTES_CONV},
    {"duration", TR_LOGQL_T_DURATION_CONV},
    {"duration_seconds", TR_LOGQL_T_DURATION_SECONDS_CONV},
    {"ip", TR_LOGQL_T_IP},
};

static bool word_eq(const char *s, size_t n, const char *w)
{
    size_t wn = strlen(w);
    if (wn != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (lower(s[i]) != w[i]) {
            return false;
        }
    }
    return true;
}

/* Loki's isFunction: after optional spaces, "(" follows, or "by"/"without"
 * then optional spaces and "(". */
static bool is_function(const struct tr_logql_lexer *l, size_t p)
{
    while (p < l->n && is_uspace(l->in[p])) {
        p++;
    }
    if (p >= l->n) {
        return false;
    }
    if (l->in[p] == '(') {
        return true;
    }
    size_t w = 0;
    if (l->n - p >= 2 && word_eq(l->in + p, 2, "by")) {
        w = 2;
    } else if (l->n - p >= 7 && word_eq(l->in + p, 7, "without")) {
        w = 7;
    }
    if (w == 0) {
        return false;
    }
    p += w;
    while (p < l->n && is_uspace(l->in[p])) {
        p++;
    }
    return p < l->n && l->in[p] == '(';
}

static void set_tok(struct tr_logql_lexer *l,
                    struct tr_logql_token *tok,
                    enum tr_logql_tok type,
                    size_t start,
                    size_t end,
                    bool line0)
{
    memset(tok, 0, sizeof(*tok));
    tok->type = type;
    tok->pos = start;
    tok->len = end - start;
    tok->line0 = line0;
    tok->str = l->in + start;
    tok->str_len = end - start;
    l->pos = end;
    l->have_prev = true;
    l->prev_pos = start;
    l->prev_line0 = line0;
}

static int lex_ident(struct tr_logql_lexer *l,
                     struct tr_logql_token *tok,
                     size_t start)
{
    size_t p = start;
    while (p < l->n) {
        unsigned char c = (unsigned char)l->in[p];
        if (c >= 0x80) {
            size_t w = utf8_width(l->in, l->n, p);
            if (w <= 1) {
                break;
            }
            p += w;
        } else if (c == '_' || is_digit(c) || (c >= 'a' && c <= 'z') ||
                   (c >= 'A' && c <= 'Z')) {
            p++;
        } else {
            break;
        }
    }
    const char *s = l->in + start;
    size_t n = p - start;
    for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++) {
        if (word_eq(s, n, functions[i].name)) {
            set_tok(
                l, tok,
                is_function(l, p) ? functions[i].tok : TR_LOGQL_T_IDENTIFIER,
                start, p, false);
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
        if (word_eq(s, n, keywords[i].name)) {
            set_tok(l, tok, keywords[i].tok, start, p, false);
            return 0;
        }
    }
    set_tok(l, tok, TR_LOGQL_T_IDENTIFIER, start, p, false);
    return 0;
}

/* Scans digits of base (and '_' separators) from *p; returns bit 0 = a
 * digit seen, bit 1 = a '_' seen; *invalid gets the first digit >= base. */
static int scan_digits(const struct tr_logql_lexer *l,
                       size_t *p,
                       int base,
                       char *invalid)
{
    int ds = 0;
    int max = base <= 10 ? 10 : 16;
    while (*p < l->n) {
        char c = l->in[*p];
        if (c == '_') {
            ds |= 2;
        } else if (digit_val(c) < max) {
            if (digit_val(c) >= base && invalid != NULL && *invalid == 0) {
                *invalid = c;
            }
            ds |= 1;
        } else {
            break;
        }
        (*p)++;
    }
    return ds;
}

static const char *lit_name(char prefix)
{
    switch (prefix) {
        case 'x':
            return "hexadecimal literal";
        case 'o':
        case '0':
            return "octal literal";
        case 'b':
            return "binary literal";
        default:
            return "decimal literal";
    }
}

/* Go's invalidSep: '_' must separate successive digits. */
static bool bad_separators(const char *s, size_t n)
{
    char x1 = ' ';
    char d = '.';
    size_t i = 0;
    if (n >= 2 && s[0] == '0' &&
        (lower(s[1]) == 'x' || lower(s[1]) == 'o' || lower(s[1]) == 'b')) {
        x1 = (char)lower(s[1]);
        i = 2;
        d = '0';
    }
    for (; i < n; i++) {
        char p = d;
        d = (char)lower(s[i]);
        if (d == '_') {
            if (p != '0') {
                return true;
            }
        } else if (is_digit(d) || (x1 == 'x' && digit_val(d) < 16)) {
            d = '0';
        } else {
            if (p == '_') {
                return true;
            }
            d = '.';
        }
    }
    return d == '_';
}

/* A Go number at start; then Loki's duration and byte-size look-ahead. */
static int lex_number(struct tr_logql_lexer *l,
                      struct tr_logql_token *tok,
                      size_t start)
{
    size_t p = start;
    char prefix = 0;
    int base = 10;
    int digsep = 0;
    char invalid = 0;
    bool is_float = false;
    if (l->in[p] != '.') {
        if (l->in[p] == '0') {
            p++;
            int c = p < l->n ? lower(l->in[p]) : 0;
            if (c == 'x') {
                p++, base = 16, prefix = 'x';
            } else if (c == 'o') {
                p++, base = 8, prefix = 'o';
            } else if (c == 'b') {
                p++, base = 2, prefix = 'b';
            } else {
                base = 8, prefix = '0', digsep = 1;
            }
        }
        digsep |= scan_digits(l, &p, base, &invalid);
        if (p < l->n && l->in[p] == '.') {
            p++;
            is_float = true;
        }
    } else {
        p++;
        is_float = true;
    }
    if (is_float) {
        if (prefix == 'o' || prefix == 'b') {
            return lex_error(l, tok, start, false, false,
                             "invalid radix point in %s", lit_name(prefix));
        }
        digsep |= scan_digits(l, &p, base, &invalid);
    }
    if ((digsep & 1) == 0) {
        return lex_error(l, tok, start, false, false, "%s has no digits",
                         lit_name(prefix));
    }
    int e = p < l->n ? lower(l->in[p]) : 0;
    if (e == 'e' || e == 'p') {
        if (e == 'e' && prefix != 0 && prefix != '0') {
            return lex_error(l, tok, start, false, false,
                             "'%c' exponent requires decimal mantissa",
                             l->in[p]);
        }
        if (e == 'p' && prefix != 'x') {
            return lex_error(l, tok, start, false, false,
                             "'%c' exponent requires hexadecimal mantissa",
                             l->in[p]);
        }
        p++;
        is_float = true;
        if (p < l->n && (l->in[p] == '+' || l->in[p] == '-')) {
            p++;
        }
        int ds = scan_digits(l, &p, 10, NULL);
        digsep |= ds;
        if ((ds & 1) == 0) {
            return lex_error(l, tok, start, false, false,
                             "exponent has no digits");
        }
    } else if (prefix == 'x' && is_float) {
        return lex_error(l, tok, start, false, false,
                         "hexadecimal mantissa requires a 'p' exponent");
    }
    if (!is_float && invalid != 0) {
        return lex_error(l, tok, start, false, false,
                         "invalid digit '%c' in %s", invalid, lit_name(prefix));
    }
    if ((digsep & 2) != 0 && bad_separators(l->in + start, p - start)) {
        return lex_error(l, tok, start, false, false,
                         "'_' must separate successive digits");
    }
    /* tryScanDuration: digits, duration letters and '.' up to a space */
    size_t q = p;
    while (q < l->n) {
        char c = l->in[q];
        if (is_digit(c) || c == '.' || c == 'n' || c == 'u' || c == 'm' ||
            c == 's' || c == 'h' || c == 'd' || c == 'w' || c == 'y') {
            q++;
        } else if ((unsigned char)c == 0xC2 && q + 1 < l->n &&
                   (unsigned char)l->in[q + 1] == 0xB5) {
            q += 2; /* µ */
        } else {
            break;
        }
    }
    if (q > p) {
        int64_t ns;
        if (tr_logql_parse_prom_duration(l->in + start, q - start, &ns, NULL) ==
                0 ||
            tr_logql_parse_duration(l->in + start, q - start, &ns, NULL) == 0) {
            set_tok(l, tok, TR_LOGQL_T_DURATION, start, q, true);
            tok->dur_ns = ns;
            return 0;
        }
    }
    /* tryScanBytes: digits, '.' and size letters */
    q = p;
    while (q < l->n) {
        char c = l->in[q];
        if (is_digit(c) || c == '.' || c == 'B' || c == 'i' || c == 'k' ||
            c == 'K' || c == 'M' || c == 'G' || c == 'T' || c == 'P') {
            q++;
        } else {
            break;
        }
    }
    if (q > p) {
        uint64_t b;
        if (tr_logql_parse_bytes(l->in + start, q - start, &b, NULL) == 0) {
            set_tok(l, tok, TR_LOGQL_T_BYTES, start, q, true);
            tok->bytes = b;
            return 0;
        }
    }
    set_tok(l, tok, TR_LOGQL_T_NUMBER, start, p, false);
    return 0;
}

/* Go's scanEscape after the backslash at *p (quote: the string's quote). */
static bool scan_escape(const struct tr_logql_lexer *l, size_t *p, char quote)
{
    if (*p >= l->n) {
        return false;
    }
    char c = l->in[*p];
    int n = 0, base = 0;
    switch (c) {
        case 'a':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
        case 'v':
        case '\\':
            (*p)++;
            return true;
        case 'x':
            (*p)++, n = 2, base = 16;
            break;
        case 'u':
            (*p)++, n = 4, base = 16;
            break;
        case 'U':
            (*p)++, n = 8, base = 16;
            break;
        default:
            if (c == quote) {
                (*p)++;
                return true;
            }
            if (c >= '0' && c <= '7') {
                n = 3, base = 8;
                break;
            }
            return false;
    }
    for (; n > 0 && *p < l->n && digit_val(l->in[*p]) < base; n--) {
        (*p)++;
    }
    return n == 0;
}

/* A quoted string (", ` or '): validates like Go's scanner, unquotes like
 * Prometheus' strutil.Unquote. */
static int lex_string(struct tr_logql_lexer *l,
                      struct tr_logql_token *tok,
                      size_t start)
{
    char quote = l->in[start];
    size_t p = start + 1;
    size_t chars = 0;
    for (;;) {
        if (p >= l->n) {
            return lex_error(l, tok, start, false, false,
                             "literal not terminated");
        }
        unsigned char c = (unsigned char)l->in[p];
        if (c == (unsigned char)quote) {
            p++;
            break;
        }
        if (c == '\0') {
            return lex_error(l, tok, start, false, false,
                             "invalid character NUL");
        }
        if (c >= 0x80) {
            size_t w = utf8_width(l->in, l->n, p);
            if (w == 0) {
                return lex_error(l, tok, start, false, false,
                                 "invalid UTF-8 encoding");
            }
            p += w;
            chars++;
            continue;
        }
        if (quote != '`' && c == '\n') {
            return lex_error(l, tok, start, false, false,
                             "literal not terminated");
        }
        p++;
        chars++;
        if (quote != '`' && c == '\\' && !scan_escape(l, &p, quote)) {
            return lex_error(l, tok, start, false, false,
                             "invalid char escape");
        }
    }
    if (quote == '\'') {
        if (chars != 1) {
            return lex_error(l, tok, start, false, false,
                             "invalid char literal");
        }
        set_tok(l, tok, TR_LOGQL_T_IDENTIFIER, start, p, false);
        return 0;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = 0;
    if (quote == '`') {
        for (size_t i = start + 1; i + 1 < p; i++) {
            if (l->in[i] != '\r') {
                tr_buf_putc(&b, l->in[i]);
            }
        }
        rc = b.oom ? TR_ENOMEM : 0;
    } else {
        rc = tr_promql_unquote(l->in + start, p - start, &b);
    }
    if (rc == TR_ENOMEM || b.oom) {
        tr_buf_free(&b);
        return TR_ENOMEM;
    }
    if (rc != 0) {
        tr_buf_free(&b);
        return lex_error(l, tok, start, false, false, "invalid syntax");
    }
    char *s = tr_arena_strndup(l->arena, b.data != NULL ? b.data : "", b.len);
    size_t len = b.len;
    tr_buf_free(&b);
    if (s == NULL) {
        return TR_ENOMEM;
    }
    set_tok(l, tok, TR_LOGQL_T_STRING, start, p, false);
    tok->str = s;
    tok->str_len = len;
    return 0;
}

static int lex_range(struct tr_logql_lexer *l,
                     struct tr_logql_token *tok,
                     size_t start)
{
    const char *close = memchr(l->in + start + 1, ']', l->n - start - 1);
    if (close == NULL) {
        return lex_error(l, tok, start, true, false,
                         "missing closing ']' in duration");
    }
    size_t end = (size_t)(close - l->in) + 1;
    int64_t ns;
    char msg[TR_ERRMSG_SIZE];
    if (tr_logql_parse_prom_duration(l->in + start + 1, end - start - 2, &ns,
                                     msg) != 0) {
        return lex_error(l, tok, start, true, false, "%s", msg);
    }
    set_tok(l, tok, TR_LOGQL_T_RANGE, start, end, true);
    tok->dur_ns = ns;
    return 0;
}

/* '-': a parser flag (--strict), a negative duration (-1h) or minus. */
static int lex_minus(struct tr_logql_lexer *l,
                     struct tr_logql_token *tok,
                     size_t start)
{
    size_t p = start + 1;
    if (p < l->n && l->in[p] == '-') {
        size_t q = p;
        while (q < l->n &&
               (l->in[q] == '-' || (l->in[q] >= 'a' && l->in[q] <= 'z') ||
                (l->in[q] >= 'A' && l->in[q] <= 'Z'))) {
            q++;
        }
        if ((q - start == 8 && memcmp(l->in + start, "--strict", 8) == 0) ||
            (q - start == 12 &&
             memcmp(l->in + start, "--keep-empty", 12) == 0)) {
            set_tok(l, tok, TR_LOGQL_T_FUNCTION_FLAG, start, q, true);
            return 0;
        }
    }
    size_t q = p;
    while (q < l->n) {
        char c = l->in[q];
        if (is_digit(c) || c == '.' || c == 'n' || c == 'u' || c == 'm' ||
            c == 's' || c == 'h' || c == 'd' || c == 'w' || c == 'y') {
            q++;
        } else if ((unsigned char)c == 0xC2 && q + 1 < l->n &&
                   (unsigned char)l->in[q + 1] == 0xB5) {
            q += 2;
        } else {
            break;
        }
    }
    if (q > p) {
        int64_t ns;
        if (tr_logql_parse_prom_duration(l->in + start, q - start, &ns, NULL) ==
                0 ||
            tr_logql_parse_duration(l->in + start, q - start, &ns, NULL) == 0) {
            set_tok(l, tok, TR_LOGQL_T_DURATION, start, q, true);
            tok->dur_ns = ns;
            return 0;
        }
    }
    set_tok(l, tok, TR_LOGQL_T_SUB, start, p, false);
    return 0;
}

int tr_logql_lex_next(struct tr_logql_lexer *l, struct tr_logql_token *tok)
{
    if (l->failed) {
        *tok = l->err_tok;
        return TR_EINVAL;
    }
    /* white space and comments */
    for (;;) {
        while (l->pos < l->n && is_space(l->in[l->pos])) {
            l->pos++;
        }
        if (l->pos >= l->n) {
            break;
        }
        char c = l->in[l->pos];
        if (c == '#') {
            while (l->pos < l->n && l->in[l->pos] != '\n') {
                l->pos++;
            }
            continue;
        }
        if (c == '/' && l->pos + 1 < l->n && l->in[l->pos + 1] == '/') {
            while (l->pos < l->n && l->in[l->pos] != '\n') {
                l->pos++;
            }
            continue;
        }
        if (c == '/' && l->pos + 1 < l->n && l->in[l->pos + 1] == '*') {
            size_t start = l->pos;
            size_t p = l->pos + 2;
            for (;;) {
                if (p + 1 >= l->n) {
                    return lex_error(l, tok, start, false, false,
                                     "comment not terminated");
                }
                if (l->in[p] == '*' && l->in[p + 1] == '/') {
                    break;
                }
                p++;
            }
            l->pos = p + 2;
            continue;
        }
        break;
    }
    size_t start = l->pos;
    if (start >= l->n) {
        set_tok(l, tok, TR_LOGQL_T_EOF, l->n, l->n, false);
        return 0;
    }
    unsigned char c = (unsigned char)l->in[start];
    if (c == '\0') {
        return bad_char_error(l, tok, "invalid character NUL");
    }
    if (c >= 0x80 && utf8_width(l->in, l->n, start) == 0) {
        return bad_char_error(l, tok, "invalid UTF-8 encoding");
    }
    if (ident_start(l->in, l->n, start)) {
        return lex_ident(l, tok, start);
    }
    if (is_digit(c) ||
        (c == '.' && start + 1 < l->n && is_digit(l->in[start + 1]))) {
        return lex_number(l, tok, start);
    }
    char next = start + 1 < l->n ? l->in[start + 1] : '\0';
    switch (c) {
        case '"':
        case '`':
        case '\'':
            return lex_string(l, tok, start);
        case '[':
            return lex_range(l, tok, start);
        case '-':
            return lex_minus(l, tok, start);
        case '|':
            if (next == '=' || next == '~' || next == '>') {
                set_tok(l, tok,
                        next == '='   ? TR_LOGQL_T_PIPE_EXACT
                        : next == '~' ? TR_LOGQL_T_PIPE_MATCH
                                      : TR_LOGQL_T_PIPE_PATTERN,
                        start, start + 2, true);
                return 0;
            }
            set_tok(l, tok, TR_LOGQL_T_PIPE, start, start + 1, false);
            return 0;
        case '!':
            if (next == '=' || next == '~' || next == '>') {
                set_tok(l, tok,
                        next == '='   ? TR_LOGQL_T_NEQ
                        : next == '~' ? TR_LOGQL_T_NRE
                                      : TR_LOGQL_T_NPA,
                        start, start + 2, true);
                return 0;
            }
            break;
        case '=':
            if (next == '~' || next == '=') {
                set_tok(l, tok, next == '~' ? TR_LOGQL_T_RE : TR_LOGQL_T_CMP_EQ,
                        start, start + 2, true);
                return 0;
            }
            set_tok(l, tok, TR_LOGQL_T_EQ, start, start + 1, false);
            return 0;
        case '>':
        case '<':
            if (next == '=') {
                set_tok(l, tok, c == '>' ? TR_LOGQL_T_GTE : TR_LOGQL_T_LTE,
                        start, start + 2, true);
                return 0;
            }
            set_tok(l, tok, c == '>' ? TR_LOGQL_T_GT : TR_LOGQL_T_LT, start,
                    start + 1, false);
            return 0;
        default:
            break;
    }
    static const struct {
        char c;
        enum tr_logql_tok tok;
    } singles[] = {
        {',', TR_LOGQL_T_COMMA},
        {'.', TR_LOGQL_T_DOT},
        {'{', TR_LOGQL_T_OPEN_BRACE},
        {'}', TR_LOGQL_T_CLOSE_BRACE},
        {'(', TR_LOGQL_T_OPEN_PARENTHESIS},
        {')', TR_LOGQL_T_CLOSE_PARENTHESIS},
        {']', TR_LOGQL_T_CLOSE_BRACKET},
        {'+', TR_LOGQL_T_ADD},
        {'*', TR_LOGQL_T_MUL},
        {'/', TR_LOGQL_T_DIV},
        {'%', TR_LOGQL_T_MOD},
        {'^', TR_LOGQL_T_POW},
    };
    for (size_t i = 0; i < sizeof(singles) / sizeof(singles[0]); i++) {
        if (singles[i].c == (char)c) {
            set_tok(l, tok, singles[i].tok, start, start + 1, false);
            return 0;
        }
    }
    /* any other character is an identifier for Loki's lexer */
    size_t w = c >= 0x80 ? utf8_width(l->in, l->n, start) : 1;
    set_tok(l, tok, TR_LOGQL_T_IDENTIFIER, start, start + w, false);
    return 0;
}
