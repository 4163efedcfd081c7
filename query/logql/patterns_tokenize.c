/* patterns_tokenize.c - the Drain tokenizers (text, logfmt, the message
 * field of a JSON line) and the format guess, for patterns.c (see
 * patterns.h for the rules, patterns_int.h for the token buffer). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "query/logql/patterns.h"
#include "query/logql/patterns_int.h"

#define N_JSON_FIELDS 6

/* Loki's default pattern_ingester_tokenizable_json_fields, by priority. */
static const char *const json_fields[N_JSON_FIELDS] = {
    "log", "message", "msg", "msg_", "_msg", "content",
};

const struct tr_slice drain__param = {TR_DRAIN_PARAM,
                                      sizeof(TR_DRAIN_PARAM) - 1};

/* ---- text tokenizer -------------------------------------------------- */

/* ASCII punctuation Go's unicode.IsPunct accepts, minus the characters
 * Loki keeps inside tokens (_ - . : /). */
static bool ascii_punct(unsigned char c)
{
    switch (c) {
        case '!':
        case '"':
        case '#':
        case '%':
        case '&':
        case '\'':
        case '(':
        case ')':
        case '*':
        case ',':
        case ';':
        case '?':
        case '@':
        case '[':
        case '\\':
        case ']':
        case '{':
        case '}':
            return true;
        default:
            return false;
    }
}

/* The common non-ASCII punctuation of Unicode categories P* (Latin-1,
 * General Punctuation, CJK, fullwidth forms). */
static bool unicode_punct(uint32_t r)
{
    static const uint32_t ranges[][2] = {
        {0xA1, 0xA1},     {0xA7, 0xA7},     {0xAB, 0xAB},     {0xB6, 0xB7},
        {0xBB, 0xBB},     {0xBF, 0xBF},     {0x37E, 0x37E},   {0x387, 0x387},
        {0x2010, 0x2027}, {0x2030, 0x2043}, {0x2045, 0x2051}, {0x2053, 0x205E},
        {0x3001, 0x3003}, {0x3008, 0x3011}, {0x3014, 0x301F}, {0xFF01, 0xFF03},
        {0xFF05, 0xFF0A}, {0xFF0C, 0xFF0F}, {0xFF1A, 0xFF1B}, {0xFF1F, 0xFF20},
        {0xFF3B, 0xFF3D}, {0xFF3F, 0xFF3F}, {0xFF5B, 0xFF5B}, {0xFF5D, 0xFF5D},
        {0xFF5F, 0xFF65},
    };
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        if (r >= ranges[i][0] && r <= ranges[i][1]) {
            return true;
        }
    }
    return false;
}

/* Decodes the UTF-8 rune at s (n >= 1 bytes); its length, 0 if invalid. */
size_t drain__utf8_rune(const char *s, size_t n, uint32_t *r)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t w = tr_utf8_seq_len(u, n);
    if (w == 0) {
        return 0;
    }
    if (w == 1) {
        *r = u[0];
    } else if (w == 2) {
        *r = ((uint32_t)(u[0] & 0x1f) << 6) | (u[1] & 0x3f);
    } else if (w == 3) {
        *r = ((uint32_t)(u[0] & 0x0f) << 12) | ((uint32_t)(u[1] & 0x3f) << 6) |
             (u[2] & 0x3f);
    } else {
        *r = ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3f) << 12) |
             ((uint32_t)(u[2] & 0x3f) << 6) | (u[3] & 0x3f);
    }
    return w;
}

static bool tok_push(struct drain_toks *tk, const char *p, size_t n)
{
    if (tk->n >= tk->max) {
        return false;
    }
    tk->tok[tk->n].base = p;
    tk->tok[tk->n].len = n;
    tk->n++;
    tk->spaces[tk->n] = 0;
    return true;
}

/* Loki's punctuationTokenizer: a space ends a token (and is remembered), '='
 * and punctuation end a token and are one themselves; everything else
 * (letters, digits, _ - . : /, symbols, control bytes, invalid UTF-8) is
 * part of a token. */
enum drain_tok_result drain__tok_text(struct drain_toks *tk,
                                      const char *s,
                                      size_t n)
{
    size_t start = 0, i = 0;
    tk->n = 0;
    tk->spaces[0] = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t w = 1;
        bool delim = false;
        if (c < 0x80) {
            delim = c == ' ' || c == '=' || ascii_punct(c);
        } else {
            uint32_t r = 0;
            w = drain__utf8_rune(s + i, n - i, &r);
            if (w == 0) {
                w = 1;
            } else {
                delim = unicode_punct(r);
            }
        }
        if (delim) {
            if (i > start && !tok_push(tk, s + start, i - start)) {
                return DRAIN_TOK_TOO_MANY;
            }
            if (c == ' ') {
                tk->spaces[tk->n]++;
            } else if (!tok_push(tk, s + i, w)) {
                return DRAIN_TOK_TOO_MANY;
            }
            start = i + w;
        }
        i += w;
    }
    if (start < n && !tok_push(tk, s + start, n - start)) {
        return DRAIN_TOK_TOO_MANY;
    }
    return DRAIN_TOK_OK;
}

/* ---- logfmt tokenizer ------------------------------------------------ */

bool drain__ascii_eq_nocase(const char *a, size_t n, const char *b)
{
    size_t m = strlen(b);
    if (n != m) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z') {
            x = (unsigned char)(x + 32);
        }
        if (y >= 'A' && y <= 'Z') {
            y = (unsigned char)(y + 32);
        }
        if (x != y) {
            return false;
        }
    }
    return true;
}

/* Loki's isVariableField: values replaced by the placeholder. */
static bool variable_field(const char *k, size_t n)
{
    return drain__ascii_eq_nocase(k, n, "ts") || (n == 1 && k[0] == 't') ||
           drain__ascii_eq_nocase(k, n, "traceID") ||
           drain__ascii_eq_nocase(k, n, "time") ||
           drain__ascii_eq_nocase(k, n, "timestamp");
}

/* A key with a byte >= 0x80 must be valid UTF-8 without U+FFFD. */
static bool key_ok(const char *k, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t r = 0;
        size_t w = drain__utf8_rune(k + i, n - i, &r);
        if (w == 0 || r == 0xFFFD) {
            return false;
        }
        i += w;
    }
    return true;
}

static int hexval(char c)
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

/* \uXXXX at s (n bytes left), or -1. */
static int32_t get_u4(const char *s, size_t n)
{
    if (n < 6 || s[0] != '\\' || s[1] != 'u') {
        return -1;
    }
    int32_t r = 0;
    for (int i = 2; i < 6; i++) {
        int h = hexval(s[i]);
        if (h < 0) {
            return -1;
        }
        r = r * 16 + h;
    }
    return r;
}

static char *put_rune(char *w, uint32_t r)
{
    if (r < 0x80) {
        *w++ = (char)r;
    } else if (r < 0x800) {
        *w++ = (char)(0xC0 | (r >> 6));
        *w++ = (char)(0x80 | (r & 0x3F));
    } else if (r < 0x10000) {
        *w++ = (char)(0xE0 | (r >> 12));
        *w++ = (char)(0x80 | ((r >> 6) & 0x3F));
        *w++ = (char)(0x80 | (r & 0x3F));
    } else {
        *w++ = (char)(0xF0 | (r >> 18));
        *w++ = (char)(0x80 | ((r >> 12) & 0x3F));
        *w++ = (char)(0x80 | ((r >> 6) & 0x3F));
        *w++ = (char)(0x80 | (r & 0x3F));
    }
    return w;
}

/* Unquotes the body s[0..n) of a quoted logfmt value with escapes into w
 * (room for 3 * n bytes): \" \\ \/ \' \b \f \n \r \t \uXXXX (surrogate
 * pairs joined, a lone one U+FFFD), invalid UTF-8 as U+FFFD, as Loki's
 * unquoteBytes. Returns the end of the output, or NULL if invalid. */
static char *logfmt_unquote(const char *s, size_t n, char *w)
{
    size_t r = 0;
    while (r < n) {
        unsigned char c = (unsigned char)s[r];
        if (c == '\\') {
            if (++r >= n) {
                return NULL;
            }
            switch (s[r]) {
                case '"':
                case '\\':
                case '/':
                case '\'':
                    *w++ = s[r++];
                    break;
                case 'b':
                    *w++ = '\b';
                    r++;
                    break;
                case 'f':
                    *w++ = '\f';
                    r++;
                    break;
                case 'n':
                    *w++ = '\n';
                    r++;
                    break;
                case 'r':
                    *w++ = '\r';
                    r++;
                    break;
                case 't':
                    *w++ = '\t';
                    r++;
                    break;
                case 'u': {
                    int32_t u = get_u4(s + r - 1, n - r + 1);
                    if (u < 0) {
                        return NULL;
                    }
                    r += 5;
                    if (u >= 0xD800 && u < 0xE000) {
                        int32_t u2 = get_u4(s + r, n - r);
                        if (u < 0xDC00 && u2 >= 0xDC00 && u2 < 0xE000) {
                            r += 6;
                            u = 0x10000 + ((u - 0xD800) << 10) + (u2 - 0xDC00);
                        } else {
                            u = 0xFFFD;
                        }
                    }
                    w = put_rune(w, (uint32_t)u);
                    break;
                }
                default:
                    return NULL;
            }
        } else if (c == '"') {
            return NULL;
        } else if (c < 0x80) {
            *w++ = (char)c;
            r++;
        } else {
            uint32_t rr = 0;
            size_t sz = drain__utf8_rune(s + r, n - r, &rr);
            if (sz == 0) {
                w = put_rune(w, 0xFFFD);
                r++;
            } else {
                memcpy(w, s + r, sz);
                w += sz;
                r += sz;
            }
        }
    }
    return w;
}

static enum drain_tok_result logfmt_pair(struct drain_toks *tk,
                                         const char *k,
                                         size_t kn,
                                         const char *v,
                                         size_t vn)
{
    if (tk->n + 2 > tk->max) {
        return DRAIN_TOK_TOO_MANY;
    }
    tok_push(tk, k, kn);
    if (variable_field(k, kn)) {
        tok_push(tk, drain__param.base, drain__param.len);
    } else {
        tok_push(tk, v, vn);
    }
    return DRAIN_TOK_OK;
}

/* Loki's logfmtTokenizer over its logfmt decoder: key and value tokens,
 * a bare key has the value "", any syntax error skips the line. */
enum drain_tok_result drain__tok_logfmt(struct drain_toks *tk,
                                        const char *s,
                                        size_t n)
{
    size_t pos = 0;
    tk->n = 0;
    tk->spaces[0] = 0;
    tr_buf_reset(&tk->scratch);
    if (tr_buf_reserve(&tk->scratch, 3 * n + 16) != 0) {
        return DRAIN_TOK_NOMEM;
    }
    char *w = tk->scratch.data;
    while (pos < n) {
        while (pos < n && (unsigned char)s[pos] <= ' ') {
            pos++;
        }
        if (pos >= n) {
            break;
        }
        size_t ks = pos;
        while (pos < n && s[pos] != '=' && s[pos] != '"' &&
               (unsigned char)s[pos] > ' ') {
            pos++;
        }
        size_t kn = pos - ks;
        if (pos < n && s[pos] == '"') {
            return DRAIN_TOK_UNPARSABLE;
        }
        if (kn == 0 || !key_ok(s + ks, kn)) {
            return DRAIN_TOK_UNPARSABLE;
        }
        enum drain_tok_result tr;
        if (pos >= n || s[pos] != '=') { /* bare key */
            tr = logfmt_pair(tk, s + ks, kn, "", 0);
            if (tr != DRAIN_TOK_OK) {
                return tr;
            }
            continue;
        }
        pos++; /* '=' */
        if (pos >= n || (unsigned char)s[pos] <= ' ') {
            tr = logfmt_pair(tk, s + ks, kn, "", 0);
        } else if (s[pos] != '"') {
            size_t vs = pos;
            while (pos < n && (unsigned char)s[pos] > ' ') {
                if (s[pos] == '=' || s[pos] == '"') {
                    return DRAIN_TOK_UNPARSABLE;
                }
                pos++;
            }
            tr = logfmt_pair(tk, s + ks, kn, s + vs, pos - vs);
        } else {
            size_t qs = pos + 1, q = qs;
            bool esc = false, has_esc = false;
            while (q < n) {
                if (esc) {
                    esc = false;
                } else if (s[q] == '\\') {
                    esc = has_esc = true;
                } else if (s[q] == '"') {
                    break;
                }
                q++;
            }
            if (q >= n) {
                return DRAIN_TOK_UNPARSABLE; /* unterminated */
            }
            pos = q + 1;
            if (!has_esc) {
                tr = logfmt_pair(tk, s + ks, kn, s + qs, q - qs);
            } else {
                char *e = logfmt_unquote(s + qs, q - qs, w);
                if (e == NULL) {
                    return DRAIN_TOK_UNPARSABLE;
                }
                tr = logfmt_pair(tk, s + ks, kn, w, (size_t)(e - w));
                w = e;
            }
        }
        if (tr != DRAIN_TOK_OK) {
            return tr;
        }
    }
    return DRAIN_TOK_OK;
}

/* ---- JSON message ---------------------------------------------------- */

static size_t json_ws(const char *s, size_t n, size_t i)
{
    while (i < n &&
           (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) {
        i++;
    }
    return i;
}

/* s[i] is '"': index after the closing quote, or 0 when unterminated. */
static size_t json_str_end(const char *s, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\') {
            i++;
        } else if (s[i] == '"') {
            return i + 1;
        }
    }
    return 0;
}

/* Index after the value at i (object, array, string or a literal). */
static size_t json_skip(const char *s, size_t n, size_t i)
{
    if (i >= n) {
        return n;
    }
    if (s[i] == '"') {
        size_t e = json_str_end(s, n, i);
        return e ? e : n;
    }
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        while (i < n) {
            char c = s[i];
            if (c == '"') {
                i = json_str_end(s, n, i);
                if (i == 0) {
                    return n;
                }
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0) {
                    return i + 1;
                }
            }
            i++;
        }
        return n;
    }
    while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' &&
           s[i] != '\t' && s[i] != '\n' && s[i] != '\r') {
        i++;
    }
    return i;
}

/* The raw (still escaped) text of the first top-level string field named
 * like one of json_fields, by their priority; false if none. Lenient like
 * jsonparser.Get: only the path to the value has to parse. */
bool drain__json_message(const char *s, size_t n, struct tr_slice *out)
{
    struct tr_slice found[N_JSON_FIELDS];
    bool seen[N_JSON_FIELDS] = {false};
    size_t i = json_ws(s, n, 0);
    if (i >= n || s[i] != '{') {
        return false;
    }
    i++;
    for (;;) {
        i = json_ws(s, n, i);
        if (i >= n || s[i] != '"') {
            break;
        }
        size_t ke = json_str_end(s, n, i);
        if (ke == 0) {
            break;
        }
        const char *key = s + i + 1;
        size_t kn = ke - i - 2;
        i = json_ws(s, n, ke);
        if (i >= n || s[i] != ':') {
            break;
        }
        i = json_ws(s, n, i + 1);
        if (i >= n) {
            break;
        }
        bool is_str = s[i] == '"' && json_str_end(s, n, i) != 0;
        size_t ve = json_skip(s, n, i);
        for (size_t f = 0; f < N_JSON_FIELDS; f++) {
            if (!seen[f] && strlen(json_fields[f]) == kn &&
                memcmp(json_fields[f], key, kn) == 0) {
                seen[f] = true;
                found[f].base = NULL;
                found[f].len = 0;
                if (is_str) {
                    found[f].base = s + i + 1;
                    found[f].len = ve - i - 2;
                }
            }
        }
        i = json_ws(s, n, ve);
        if (i >= n || s[i] != ',') {
            break;
        }
        i++;
    }
    for (size_t f = 0; f < N_JSON_FIELDS; f++) {
        if (seen[f] && found[f].base != NULL) {
            *out = found[f];
            return true;
        }
    }
    return false;
}

/* ---- format guess ---------------------------------------------------- */

static bool re_word(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || c == '_';
}

static bool re_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

enum {
    LF_START_SP = 1, /* a pair may start here, spaces still allowed */
    LF_START_CC = 2, /* a pair may start here, in the final run */
    LF_END_SP = 4,   /* a pair that started in space mode ends here */
    LF_END_CC = 8,
};

/* Loki's logfmt regexp, anchored at both ends:
 *   (\w+?=([^"]\S*?|".+?") )*?(\w+?=([^"]\S*?|".+?"))+
 * decided in one left-to-right pass over the possible pair boundaries
 * (linear, no backtracking). */
static bool logfmt_like(const char *s, size_t n)
{
    if (n > ((size_t)1 << 30)) {
        return false;
    }
    size_t m = n + 2;
    uint8_t *flags = tr_calloc(m, 1);
    int32_t *cnt = tr_calloc(m * 4, sizeof(int32_t));
    uint32_t *word_end = tr_malloc(m * sizeof(uint32_t));
    uint32_t *ws_next = tr_malloc(m * sizeof(uint32_t));
    bool ok = false;
    if (flags == NULL || cnt == NULL || word_end == NULL || ws_next == NULL) {
        goto out;
    }
    int32_t *dsp = cnt, *dcc = cnt + m, *asp = cnt + 2 * m, *acc = cnt + 3 * m;
    word_end[n] = (uint32_t)n;
    ws_next[n] = (uint32_t)n;
    for (size_t i = n; i-- > 0;) {
        unsigned char c = (unsigned char)s[i];
        word_end[i] = re_word(c) ? word_end[i + 1] : (uint32_t)i;
        ws_next[i] = re_space(c) ? (uint32_t)i : ws_next[i + 1];
    }
    int32_t run_sp = 0, run_cc = 0, act_sp = 0, act_cc = 0;
    flags[0] |= LF_START_SP;
    for (size_t i = 0;; i++) {
        run_sp += dsp[i];
        run_cc += dcc[i];
        if (run_sp > 0) {
            flags[i] |= LF_END_SP;
        }
        if (run_cc > 0) {
            flags[i] |= LF_END_CC;
        }
        if (i == n) {
            ok = (flags[n] & (LF_END_SP | LF_END_CC)) != 0;
            break;
        }
        unsigned char c = (unsigned char)s[i];
        if (flags[i] & (LF_END_SP | LF_END_CC)) {
            flags[i] |= LF_START_CC;
        }
        if ((flags[i] & LF_END_SP) && c == ' ') {
            flags[i + 1] |= LF_START_SP;
        }
        /* quoted values open earlier may close at this quote */
        act_sp += asp[i];
        act_cc += acc[i];
        if (c == '\n') {
            act_sp = act_cc = 0;
        } else if (c == '"') {
            if (act_sp > 0) {
                flags[i + 1] |= LF_END_SP;
            }
            if (act_cc > 0) {
                flags[i + 1] |= LF_END_CC;
            }
        }
        if (!(flags[i] & (LF_START_SP | LF_START_CC))) {
            continue;
        }
        size_t k = word_end[i];
        if (k == i || k >= n || s[k] != '=' || k + 1 >= n) {
            continue;
        }
        size_t v = k + 1;
        for (int mode = 0; mode < 2; mode++) {
            if (!(flags[i] & (mode == 0 ? LF_START_SP : LF_START_CC))) {
                continue;
            }
            int32_t *diff = mode == 0 ? dsp : dcc;
            int32_t *act = mode == 0 ? asp : acc;
            if (s[v] != '"') {
                diff[v + 1]++;
                diff[ws_next[v + 1] + 1]--;
            } else if (v + 1 < n && s[v + 1] != '\n') {
                act[v + 2]++;
            }
        }
    }
out:
    tr_free(flags);
    tr_free(cnt);
    tr_free(word_end);
    tr_free(ws_next);
    return ok;
}

enum tr_drain_format tr_drain_detect_format(const char *line, size_t len)
{
    if (line == NULL || len < 2) {
        return TR_DRAIN_FORMAT_TEXT;
    }
    if (line[0] == '{' && line[len - 1] == '}') {
        return TR_DRAIN_FORMAT_JSON;
    }
    if (logfmt_like(line, len)) {
        return TR_DRAIN_FORMAT_LOGFMT;
    }
    return TR_DRAIN_FORMAT_TEXT;
}
