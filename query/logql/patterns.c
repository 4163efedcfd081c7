/* patterns.c - Drain log pattern mining (see patterns.h).
 *
 * Layout: tokenizers (text, logfmt, JSON message) and the format guess,
 * then the per-level tree (prefix tree + clusters in an LRU list + the
 * eviction limiter), then training and the pattern listing. */
#include "query/logql/patterns.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/u64map.h"

#define PARAM TR_DRAIN_PARAM
#define PARAM_LEN 3
#define MAX_TOKENS_LIMIT 1024
#define N_LEVELS 8
#define N_JSON_FIELDS 6

static const char *const level_names[N_LEVELS] = {
    "unknown", "debug", "info", "warn", "error", "fatal", "critical", "trace",
};

/* Loki's default pattern_ingester_tokenizable_json_fields, by priority. */
static const char *const json_fields[N_JSON_FIELDS] = {
    "log", "message", "msg", "msg_", "_msg", "content",
};

static const struct tr_slice param_slice = {PARAM, PARAM_LEN};

void tr_drain_config_default(struct tr_drain_config *c)
{
    memset(c, 0, sizeof(*c));
    c->depth = 30;
    c->sim_threshold = 0.3;
    c->max_children = 15;
    c->max_clusters = 300;
    c->max_eviction_ratio = 0.25;
    c->eviction_block_ns = 10LL * 60 * 1000000000;
    c->max_line_length = 3000;
    c->min_tokens = 4;
    c->max_tokens = 80;
    c->bucket_ns = 10LL * 1000000000;
    c->max_buckets = 11000;
    c->format = TR_DRAIN_FORMAT_AUTO;
    c->min_total = 30;
    c->max_patterns = 300;
}

/* ---- structures ------------------------------------------------------ */

struct cluster {
    uint64_t id;
    struct cluster *newer; /* LRU list, towards the most recently used */
    struct cluster *older;
    struct tr_slice *tok; /* n_tok tokens: into text, or param_slice */
    uint32_t *spaces;     /* text: [0] leading, [i + 1] after token i */
    char *text;           /* the first line's token bytes (owned) */
    uint32_t n_tok;
    struct tr_drain_sample *samples; /* sorted by ts */
    size_t n_samples;
    size_t cap_samples;
};

struct node;

struct child {
    char *key; /* owned, key_len bytes (+ NUL) */
    size_t key_len;
    struct node *node;
};

struct node {
    struct child *kids; /* insertion order */
    size_t n_kids;
    size_t cap_kids;
    uint64_t *ids; /* cluster ids at a leaf, some maybe evicted */
    size_t n_ids;
    size_t cap_ids;
};

/* One Drain: Loki keeps one per stream and level. */
struct tree {
    struct node **by_count; /* first layer: token count 0..max_tokens */
    struct tr_u64map ids;   /* id -> struct cluster */
    struct cluster *newest;
    struct cluster *oldest;
    size_t n_clusters;
    uint64_t next_id;
    uint64_t added; /* limiter: lines allowed since the last reset */
    uint64_t evicted;
    bool blocked;
    int64_t blocked_at;
    size_t evictions_since_prune;
};

struct tr_drain {
    struct tr_drain_config cfg;
    enum tr_drain_format format;
    struct tree *trees[N_LEVELS];
    struct tr_slice *tok; /* scratch tokens, max_tokens + 1 */
    uint32_t *spaces;     /* scratch spaces, max_tokens + 2 */
    size_t n_tok;
    struct tr_buf scratch; /* unescaped logfmt values */
    struct tr_drain_stats st;
};

enum tok_result {
    TOK_OK,
    TOK_UNPARSABLE,
    TOK_TOO_MANY,
    TOK_TOO_LONG,
    TOK_NOMEM,
};

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
static size_t utf8_rune(const char *s, size_t n, uint32_t *r)
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

static bool tok_push(struct tr_drain *d, const char *p, size_t n)
{
    if (d->n_tok >= d->cfg.max_tokens) {
        return false;
    }
    d->tok[d->n_tok].base = p;
    d->tok[d->n_tok].len = n;
    d->n_tok++;
    d->spaces[d->n_tok] = 0;
    return true;
}

/* Loki's punctuationTokenizer: a space ends a token (and is remembered), '='
 * and punctuation end a token and are one themselves; everything else
 * (letters, digits, _ - . : /, symbols, control bytes, invalid UTF-8) is
 * part of a token. */
static enum tok_result tok_text(struct tr_drain *d, const char *s, size_t n)
{
    size_t start = 0, i = 0;
    d->n_tok = 0;
    d->spaces[0] = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t w = 1;
        bool delim = false;
        if (c < 0x80) {
            delim = c == ' ' || c == '=' || ascii_punct(c);
        } else {
            uint32_t r = 0;
            w = utf8_rune(s + i, n - i, &r);
            if (w == 0) {
                w = 1;
            } else {
                delim = unicode_punct(r);
            }
        }
        if (delim) {
            if (i > start && !tok_push(d, s + start, i - start)) {
                return TOK_TOO_MANY;
            }
            if (c == ' ') {
                d->spaces[d->n_tok]++;
            } else if (!tok_push(d, s + i, w)) {
                return TOK_TOO_MANY;
            }
            start = i + w;
        }
        i += w;
    }
    if (start < n && !tok_push(d, s + start, n - start)) {
        return TOK_TOO_MANY;
    }
    return TOK_OK;
}

/* ---- logfmt tokenizer ------------------------------------------------ */

static bool ascii_eq_nocase(const char *a, size_t n, const char *b)
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
    return ascii_eq_nocase(k, n, "ts") || (n == 1 && k[0] == 't') ||
           ascii_eq_nocase(k, n, "traceID") || ascii_eq_nocase(k, n, "time") ||
           ascii_eq_nocase(k, n, "timestamp");
}

/* A key with a byte >= 0x80 must be valid UTF-8 without U+FFFD. */
static bool key_ok(const char *k, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t r = 0;
        size_t w = utf8_rune(k + i, n - i, &r);
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
            size_t sz = utf8_rune(s + r, n - r, &rr);
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

static enum tok_result logfmt_pair(struct tr_drain *d,
                                   const char *k,
                                   size_t kn,
                                   const char *v,
                                   size_t vn)
{
    if (d->n_tok + 2 > d->cfg.max_tokens) {
        return TOK_TOO_MANY;
    }
    tok_push(d, k, kn);
    if (variable_field(k, kn)) {
        tok_push(d, param_slice.base, param_slice.len);
    } else {
        tok_push(d, v, vn);
    }
    return TOK_OK;
}

/* Loki's logfmtTokenizer over its logfmt decoder: key and value tokens,
 * a bare key has the value "", any syntax error skips the line. */
static enum tok_result tok_logfmt(struct tr_drain *d, const char *s, size_t n)
{
    size_t pos = 0;
    d->n_tok = 0;
    d->spaces[0] = 0;
    tr_buf_reset(&d->scratch);
    if (tr_buf_reserve(&d->scratch, 3 * n + 16) != 0) {
        return TOK_NOMEM;
    }
    char *w = d->scratch.data;
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
            return TOK_UNPARSABLE;
        }
        if (kn == 0 || !key_ok(s + ks, kn)) {
            return TOK_UNPARSABLE;
        }
        enum tok_result tr;
        if (pos >= n || s[pos] != '=') { /* bare key */
            tr = logfmt_pair(d, s + ks, kn, "", 0);
            if (tr != TOK_OK) {
                return tr;
            }
            continue;
        }
        pos++; /* '=' */
        if (pos >= n || (unsigned char)s[pos] <= ' ') {
            tr = logfmt_pair(d, s + ks, kn, "", 0);
        } else if (s[pos] != '"') {
            size_t vs = pos;
            while (pos < n && (unsigned char)s[pos] > ' ') {
                if (s[pos] == '=' || s[pos] == '"') {
                    return TOK_UNPARSABLE;
                }
                pos++;
            }
            tr = logfmt_pair(d, s + ks, kn, s + vs, pos - vs);
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
                return TOK_UNPARSABLE; /* unterminated */
            }
            pos = q + 1;
            if (!has_esc) {
                tr = logfmt_pair(d, s + ks, kn, s + qs, q - qs);
            } else {
                char *e = logfmt_unquote(s + qs, q - qs, w);
                if (e == NULL) {
                    return TOK_UNPARSABLE;
                }
                tr = logfmt_pair(d, s + ks, kn, w, (size_t)(e - w));
                w = e;
            }
        }
        if (tr != TOK_OK) {
            return tr;
        }
    }
    return TOK_OK;
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
static bool json_message(const char *s, size_t n, struct tr_slice *out)
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

/* ---- prefix tree and clusters ---------------------------------------- */

static void node_free(struct node *nd)
{
    if (nd == NULL) {
        return;
    }
    for (size_t i = 0; i < nd->n_kids; i++) {
        node_free(nd->kids[i].node);
        tr_free(nd->kids[i].key);
    }
    tr_free(nd->kids);
    tr_free(nd->ids);
    tr_free(nd);
}

static struct node *node_find(const struct node *nd, struct tr_slice key)
{
    for (size_t i = 0; i < nd->n_kids; i++) {
        const struct child *ch = &nd->kids[i];
        if (ch->key_len == key.len && memcmp(ch->key, key.base, key.len) == 0) {
            return ch->node;
        }
    }
    return NULL;
}

static struct node *node_add(struct node *nd, struct tr_slice key)
{
    if (nd->n_kids == nd->cap_kids) {
        struct child *k =
            tr_array_grow(nd->kids, &nd->cap_kids, sizeof(struct child), 2);
        if (k == NULL) {
            return NULL;
        }
        nd->kids = k;
    }
    struct node *child = tr_calloc(1, sizeof(*child));
    char *kc = tr_malloc(key.len + 1);
    if (child == NULL || kc == NULL) {
        tr_free(child);
        tr_free(kc);
        return NULL;
    }
    memcpy(kc, key.base, key.len);
    kc[key.len] = '\0';
    nd->kids[nd->n_kids].key = kc;
    nd->kids[nd->n_kids].key_len = key.len;
    nd->kids[nd->n_kids].node = child;
    nd->n_kids++;
    return child;
}

static void cluster_free(struct cluster *c)
{
    if (c != NULL) {
        tr_free(c->samples);
        tr_free(c);
    }
}

static void lru_unlink(struct tree *t, struct cluster *c)
{
    if (c->newer) {
        c->newer->older = c->older;
    } else {
        t->newest = c->older;
    }
    if (c->older) {
        c->older->newer = c->newer;
    } else {
        t->oldest = c->newer;
    }
    c->newer = c->older = NULL;
}

static void lru_push(struct tree *t, struct cluster *c)
{
    c->newer = NULL;
    c->older = t->newest;
    if (t->newest) {
        t->newest->newer = c;
    } else {
        t->oldest = c;
    }
    t->newest = c;
}

/* Loki's LRU Get: the cluster or NULL (evicted), marked recently used. */
static struct cluster *tree_get(struct tree *t, uint64_t id)
{
    struct cluster *c = tr_u64map_get(&t->ids, id);
    if (c != NULL && t->newest != c) {
        lru_unlink(t, c);
        lru_push(t, c);
    }
    return c;
}

static void tree_remove(struct tr_drain *d, struct tree *t, struct cluster *c)
{
    lru_unlink(t, c);
    tr_u64map_del(&t->ids, c->id);
    t->n_clusters--;
    d->st.clusters--;
    cluster_free(c);
}

/* Drops evicted ids and empty subtrees; returns whether nd is empty. */
static bool prune_node(struct tree *t, struct node *nd)
{
    size_t j = 0;
    for (size_t i = 0; i < nd->n_kids; i++) {
        if (prune_node(t, nd->kids[i].node)) {
            node_free(nd->kids[i].node);
            tr_free(nd->kids[i].key);
        } else {
            nd->kids[j++] = nd->kids[i];
        }
    }
    nd->n_kids = j;
    j = 0;
    for (size_t i = 0; i < nd->n_ids; i++) {
        if (tr_u64map_get(&t->ids, nd->ids[i]) != NULL) {
            nd->ids[j++] = nd->ids[i];
        }
    }
    nd->n_ids = j;
    return nd->n_kids == 0 && nd->n_ids == 0;
}

static void tree_prune(struct tr_drain *d, struct tree *t)
{
    for (size_t n = 0; n <= d->cfg.max_tokens; n++) {
        if (t->by_count[n] != NULL && prune_node(t, t->by_count[n])) {
            node_free(t->by_count[n]);
            t->by_count[n] = NULL;
        }
    }
    t->evictions_since_prune = 0;
}

static void tree_free(struct tr_drain *d, struct tree *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t n = 0; n <= d->cfg.max_tokens; n++) {
        node_free(t->by_count[n]);
    }
    tr_free(t->by_count);
    struct cluster *c = t->newest;
    while (c != NULL) {
        struct cluster *next = c->older;
        cluster_free(c);
        c = next;
    }
    tr_u64map_free(&t->ids);
    tr_free(t);
}

/* Loki's limiter.Allow, on the lines' timestamps. */
static bool tree_allow(const struct tr_drain *d, struct tree *t, int64_t ts)
{
    if (d->cfg.max_eviction_ratio < 0) {
        return true;
    }
    if (t->blocked) {
        uint64_t diff = ts >= t->blocked_at
                            ? (uint64_t)ts - (uint64_t)t->blocked_at
                            : (uint64_t)t->blocked_at - (uint64_t)ts;
        if (d->cfg.eviction_block_ns > 0 &&
            diff < (uint64_t)d->cfg.eviction_block_ns) {
            return false;
        }
        t->blocked = false;
        t->added = 0;
        t->evicted = 0;
    }
    if (t->added == 0) {
        t->added++;
        return true;
    }
    if ((double)t->evicted / (double)t->added > d->cfg.max_eviction_ratio) {
        t->blocked = true;
        t->blocked_at = ts;
        return false;
    }
    t->added++;
    return true;
}

static bool has_digit(struct tr_slice s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (s.base[i] >= '0' && s.base[i] <= '9') {
            return true;
        }
    }
    return false;
}

/* Loki's getSeqDistance: share of equal tokens (placeholders excluded)
 * and the placeholder count, or -1 when a marked token (starting with a
 * NUL byte) differs. */
static long seq_distance(const struct cluster *c,
                         const struct tr_slice *tok,
                         double *sim)
{
    size_t same = 0;
    long params = 0;
    for (uint32_t i = 0; i < c->n_tok; i++) {
        struct tr_slice a = c->tok[i], b = tok[i];
        bool eq = tr_slice_eq(a, b);
        if (a.len > 0 && a.base[0] == '\0' && !eq) {
            return -1;
        }
        if (tr_slice_eq(a, param_slice)) {
            params++;
        } else if (eq) {
            same++;
        }
    }
    *sim = (double)same / (double)c->n_tok;
    return params;
}

static size_t max_node_depth(const struct tr_drain *d)
{
    return d->cfg.depth - 2;
}

/* Loki's treeSearch + fastMatch for the scratch tokens. */
static struct cluster *tree_search(struct tr_drain *d, struct tree *t)
{
    size_t n = d->n_tok;
    struct node *nd = t->by_count[n];
    if (nd == NULL) {
        return NULL;
    }
    if (n < 2) {
        return nd->n_ids ? tree_get(t, nd->ids[0]) : NULL;
    }
    size_t depth = 1;
    for (size_t i = 0; i < n; i++) {
        if (depth >= max_node_depth(d) || depth == n) {
            break;
        }
        struct node *next = node_find(nd, d->tok[i]);
        if (next == NULL) {
            next = node_find(nd, param_slice);
        }
        if (next == NULL) {
            return NULL;
        }
        nd = next;
        depth++;
    }
    struct cluster *best = NULL;
    double best_sim = -1.0;
    long best_params = -1;
    for (size_t i = 0; i < nd->n_ids; i++) {
        struct cluster *c = tree_get(t, nd->ids[i]);
        if (c == NULL) {
            continue;
        }
        double sim = 0;
        long params = seq_distance(c, d->tok, &sim);
        if (params < 0) {
            continue;
        }
        if (sim > best_sim || (sim == best_sim && params > best_params)) {
            best_sim = sim;
            best_params = params;
            best = c;
        }
    }
    return best_sim >= d->cfg.sim_threshold ? best : NULL;
}

static int leaf_add(struct tree *t, struct node *nd, uint64_t id)
{
    size_t j = 0;
    for (size_t i = 0; i < nd->n_ids; i++) {
        if (tree_get(t, nd->ids[i]) != NULL) {
            nd->ids[j++] = nd->ids[i];
        }
    }
    nd->n_ids = j;
    if (nd->n_ids == nd->cap_ids) {
        uint64_t *p = tr_array_grow(nd->ids, &nd->cap_ids, sizeof(uint64_t), 2);
        if (p == NULL) {
            return TR_ENOMEM;
        }
        nd->ids = p;
    }
    nd->ids[nd->n_ids++] = id;
    return 0;
}

/* Loki's addSeqToPrefixTree. */
static int tree_add_seq(struct tr_drain *d, struct tree *t, struct cluster *c)
{
    size_t n = c->n_tok;
    struct node *nd = t->by_count[n];
    if (nd == NULL) {
        nd = tr_calloc(1, sizeof(*nd));
        if (nd == NULL) {
            return TR_ENOMEM;
        }
        t->by_count[n] = nd;
    }
    if (n == 0) {
        return leaf_add(t, nd, c->id);
    }
    size_t depth = 1;
    for (size_t i = 0; i < n; i++) {
        if (depth >= max_node_depth(d) || depth >= n) {
            return leaf_add(t, nd, c->id);
        }
        struct tr_slice tok = c->tok[i];
        struct node *next = node_find(nd, tok);
        if (next == NULL) {
            struct node *param = node_find(nd, param_slice);
            size_t max = d->cfg.max_children;
            if (!has_digit(tok)) {
                if (param != NULL) {
                    next = nd->n_kids < max ? node_add(nd, tok) : param;
                } else if (nd->n_kids + 1 < max) {
                    next = node_add(nd, tok);
                } else {
                    next = node_add(nd, param_slice);
                }
            } else {
                next = param != NULL ? param : node_add(nd, param_slice);
            }
            if (next == NULL) {
                return TR_ENOMEM;
            }
        }
        nd = next;
        depth++;
    }
    return leaf_add(t, nd, c->id);
}

/* floor(ts / width) * width; false when it would not fit. */
static bool bucket_of(int64_t ts, int64_t width, int64_t *out)
{
    int64_t r = ts % width;
    if (r < 0) {
        r += width;
    }
    if (ts < INT64_MIN + r) {
        return false;
    }
    *out = ts - r;
    return true;
}

/* Counts one line in bucket b: 0, TR_ELIMIT or TR_ENOMEM. */
static int cluster_count(struct tr_drain *d, struct cluster *c, int64_t b)
{
    size_t lo = 0, hi = c->n_samples;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->samples[mid].ts_ns < b) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < c->n_samples && c->samples[lo].ts_ns == b) {
        c->samples[lo].count++;
        return 0;
    }
    if (c->n_samples >= d->cfg.max_buckets) {
        return TR_ELIMIT;
    }
    if (c->n_samples == c->cap_samples) {
        struct tr_drain_sample *p = tr_array_grow(
            c->samples, &c->cap_samples, sizeof(struct tr_drain_sample), 4);
        if (p == NULL) {
            return TR_ENOMEM;
        }
        c->samples = p;
    }
    memmove(&c->samples[lo + 1], &c->samples[lo],
            (c->n_samples - lo) * sizeof(c->samples[0]));
    c->samples[lo].ts_ns = b;
    c->samples[lo].count = 1;
    c->n_samples++;
    return 0;
}

/* A new cluster holding a copy of the scratch tokens (and spaces). */
static struct cluster *cluster_new(struct tr_drain *d, uint64_t id)
{
    size_t n = d->n_tok, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        bytes += d->tok[i].len;
    }
    size_t size = sizeof(struct cluster) + n * sizeof(struct tr_slice) +
                  (n + 1) * sizeof(uint32_t) + bytes + 1;
    struct cluster *c = tr_calloc(1, size);
    if (c == NULL) {
        return NULL;
    }
    c->id = id;
    c->n_tok = (uint32_t)n;
    c->tok = (struct tr_slice *)(c + 1);
    c->spaces = (uint32_t *)(c->tok + n);
    c->text = (char *)(c->spaces + n + 1);
    memcpy(c->spaces, d->spaces, (n + 1) * sizeof(uint32_t));
    char *p = c->text;
    for (size_t i = 0; i < n; i++) {
        if (d->tok[i].base == param_slice.base) {
            c->tok[i] = param_slice;
            continue;
        }
        if (d->tok[i].len > 0) {
            memcpy(p, d->tok[i].base, d->tok[i].len);
        }
        c->tok[i].base = p;
        c->tok[i].len = d->tok[i].len;
        p += d->tok[i].len;
    }
    return c;
}

static int tree_train(struct tr_drain *d, struct tree *t, int64_t bucket)
{
    struct cluster *c = tree_search(d, t);
    if (c != NULL) {
        int rv = cluster_count(d, c, bucket);
        if (rv != 0) {
            return rv;
        }
        for (uint32_t i = 0; i < c->n_tok; i++) {
            if (!tr_slice_eq(c->tok[i], d->tok[i])) {
                c->tok[i] = param_slice;
            }
        }
        tree_get(t, c->id);
        return 0;
    }
    c = cluster_new(d, t->next_id + 1);
    if (c == NULL) {
        return TR_ENOMEM;
    }
    if (cluster_count(d, c, bucket) != 0 ||
        tr_u64map_put(&t->ids, c->id, c) != 0) {
        cluster_free(c);
        return TR_ENOMEM;
    }
    t->next_id++;
    lru_push(t, c);
    t->n_clusters++;
    d->st.clusters++;
    if (d->cfg.max_clusters > 0 && t->n_clusters > d->cfg.max_clusters) {
        tree_remove(d, t, t->oldest);
        t->evicted++;
        d->st.evicted++;
        t->evictions_since_prune++;
    }
    if (tree_add_seq(d, t, c) != 0) {
        tree_remove(d, t, c);
        return TR_ENOMEM;
    }
    size_t every = d->cfg.max_clusters > 64 ? d->cfg.max_clusters : 64;
    if (t->evictions_since_prune >= every) {
        tree_prune(d, t);
    }
    return 0;
}

/* ---- public API ------------------------------------------------------ */

int tr_drain_new(const struct tr_drain_config *cfg,
                 struct tr_drain **out,
                 char *errmsg)
{
    *out = NULL;
    if (cfg->depth < 3) {
        return tr_errf(TR_EINVAL, errmsg, "drain depth must be at least 3");
    }
    if (cfg->bucket_ns <= 0) {
        return tr_errf(TR_EINVAL, errmsg, "bucket width must be positive");
    }
    if (cfg->max_buckets == 0) {
        return tr_errf(TR_EINVAL, errmsg, "max_buckets must be at least 1");
    }
    if (cfg->max_tokens > MAX_TOKENS_LIMIT ||
        cfg->min_tokens > cfg->max_tokens) {
        return tr_errf(TR_EINVAL, errmsg,
                       "token limits must satisfy min <= max <= %d",
                       MAX_TOKENS_LIMIT);
    }
    if (isnan(cfg->sim_threshold) || isnan(cfg->max_eviction_ratio)) {
        return tr_errf(TR_EINVAL, errmsg, "drain thresholds must be numbers");
    }
    struct tr_drain *d = tr_calloc(1, sizeof(*d));
    if (d == NULL) {
        return TR_ENOMEM;
    }
    d->cfg = *cfg;
    d->format = cfg->format;
    tr_buf_init(&d->scratch);
    d->tok = tr_calloc(cfg->max_tokens + 1, sizeof(struct tr_slice));
    d->spaces = tr_calloc(cfg->max_tokens + 2, sizeof(uint32_t));
    if (d->tok == NULL || d->spaces == NULL) {
        tr_drain_free(d);
        return TR_ENOMEM;
    }
    d->st.format = d->format;
    *out = d;
    return 0;
}

void tr_drain_free(struct tr_drain *d)
{
    if (d == NULL) {
        return;
    }
    for (size_t i = 0; i < N_LEVELS; i++) {
        tree_free(d, d->trees[i]);
    }
    tr_free(d->tok);
    tr_free(d->spaces);
    tr_buf_free(&d->scratch);
    tr_free(d);
}

static size_t level_index(struct tr_slice level)
{
    for (size_t i = 1; i < N_LEVELS; i++) {
        if (level.base != NULL &&
            ascii_eq_nocase(level.base, level.len, level_names[i])) {
            return i;
        }
    }
    return 0;
}

static struct tree *tree_for(struct tr_drain *d, size_t li)
{
    if (d->trees[li] == NULL) {
        struct tree *t = tr_calloc(1, sizeof(*t));
        if (t == NULL) {
            return NULL;
        }
        t->by_count = tr_calloc(d->cfg.max_tokens + 1, sizeof(struct node *));
        if (t->by_count == NULL) {
            tr_free(t);
            return NULL;
        }
        tr_u64map_init(&t->ids);
        d->trees[li] = t;
    }
    return d->trees[li];
}

int tr_drain_add_level(struct tr_drain *d,
                       int64_t ts_ns,
                       struct tr_slice level,
                       const char *line,
                       size_t len)
{
    if (line == NULL && len > 0) {
        return TR_EINVAL;
    }
    if (line == NULL) {
        line = "";
    }
    int64_t bucket;
    if (!bucket_of(ts_ns, d->cfg.bucket_ns, &bucket)) {
        return TR_EINVAL;
    }
    struct tree *t = tree_for(d, level_index(level));
    if (t == NULL) {
        return TR_ENOMEM;
    }
    d->st.lines++;
    if (d->format == TR_DRAIN_FORMAT_AUTO) {
        d->format = tr_drain_detect_format(line, len);
        d->st.format = d->format;
    }
    if (!tree_allow(d, t, ts_ns)) {
        d->st.limited++;
        return 0;
    }
    enum tok_result tr;
    if (d->format == TR_DRAIN_FORMAT_JSON) {
        struct tr_slice msg;
        if (!json_message(line, len, &msg)) {
            tr = TOK_UNPARSABLE;
        } else if (msg.len > d->cfg.max_line_length) {
            tr = TOK_TOO_LONG;
        } else {
            tr = tok_text(d, msg.base, msg.len);
        }
    } else if (len > d->cfg.max_line_length) {
        tr = TOK_TOO_LONG;
    } else if (d->format == TR_DRAIN_FORMAT_LOGFMT) {
        tr = tok_logfmt(d, line, len);
    } else {
        tr = tok_text(d, line, len);
    }
    switch (tr) {
        case TOK_OK:
            break;
        case TOK_NOMEM:
            return TR_ENOMEM;
        case TOK_UNPARSABLE:
            d->st.unparsable++;
            return 0;
        case TOK_TOO_MANY:
            d->st.too_many_tokens++;
            return 0;
        case TOK_TOO_LONG:
            d->st.too_long++;
            return 0;
    }
    if (d->n_tok < d->cfg.min_tokens) {
        d->st.too_few_tokens++;
        return 0;
    }
    int rv = tree_train(d, t, bucket);
    if (rv == 0) {
        d->st.counted++;
    }
    return rv;
}

int tr_drain_add(struct tr_drain *d,
                 int64_t ts_ns,
                 const char *line,
                 size_t len)
{
    return tr_drain_add_level(d, ts_ns, (struct tr_slice){NULL, 0}, line, len);
}

void tr_drain_stats(const struct tr_drain *d, struct tr_drain_stats *st)
{
    *st = d->st;
}

/* ---- rendering and listing ------------------------------------------- */

static bool logfmt_needs_quote(struct tr_slice v)
{
    size_t i = 0;
    while (i < v.len) {
        unsigned char c = (unsigned char)v.base[i];
        if (c < 0x80) {
            if (c <= ' ' || c == '=' || c == '"') {
                return true;
            }
            i++;
            continue;
        }
        uint32_t r = 0;
        size_t w = utf8_rune(v.base + i, v.len - i, &r);
        if (w == 0 || r == 0xFFFD) {
            return true;
        }
        i += w;
    }
    return false;
}

/* go-logfmt's quoted value. */
static void logfmt_quote(struct tr_buf *b, struct tr_slice v)
{
    static const char hex[] = "0123456789abcdef";
    tr_buf_putc(b, '"');
    size_t i = 0;
    while (i < v.len) {
        unsigned char c = (unsigned char)v.base[i];
        if (c < 0x80) {
            if (c >= 0x20 && c != '\\' && c != '"') {
                tr_buf_putc(b, (char)c);
            } else if (c == '\\' || c == '"') {
                tr_buf_putc(b, '\\');
                tr_buf_putc(b, (char)c);
            } else if (c == '\n') {
                tr_buf_puts(b, "\\n");
            } else if (c == '\r') {
                tr_buf_puts(b, "\\r");
            } else if (c == '\t') {
                tr_buf_puts(b, "\\t");
            } else {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                tr_buf_append(b, e, sizeof(e));
            }
            i++;
            continue;
        }
        uint32_t r = 0;
        size_t w = utf8_rune(v.base + i, v.len - i, &r);
        if (w == 0) {
            tr_buf_puts(b, "\\ufffd");
            i++;
        } else {
            tr_buf_append(b, v.base + i, w);
            i += w;
        }
    }
    tr_buf_putc(b, '"');
}

/* Renders c into b (reset first). An unwritable logfmt key renders "". */
static void render(const struct tr_drain *d,
                   const struct cluster *c,
                   struct tr_buf *b)
{
    struct tr_buf raw;
    tr_buf_init(&raw);
    if (d->format == TR_DRAIN_FORMAT_LOGFMT) {
        for (uint32_t i = 0; i < c->n_tok; i += 2) {
            struct tr_slice k = c->tok[i];
            struct tr_slice v =
                i + 1 < c->n_tok ? c->tok[i + 1] : (struct tr_slice){"", 0};
            if (k.len == 0 || logfmt_needs_quote(k)) {
                tr_buf_reset(&raw);
                break;
            }
            if (i > 0) {
                tr_buf_putc(&raw, ' ');
            }
            tr_buf_append(&raw, k.base, k.len);
            tr_buf_putc(&raw, '=');
            if (logfmt_needs_quote(v)) {
                logfmt_quote(&raw, v);
            } else {
                tr_buf_append(&raw, v.base, v.len);
            }
        }
    } else {
        bool json = d->format == TR_DRAIN_FORMAT_JSON;
        if (json) {
            tr_buf_puts(&raw, PARAM);
        }
        for (uint32_t s = 0; s < c->spaces[0]; s++) {
            tr_buf_putc(&raw, ' ');
        }
        for (uint32_t i = 0; i < c->n_tok; i++) {
            tr_buf_append(&raw, c->tok[i].base, c->tok[i].len);
            for (uint32_t s = 0; s < c->spaces[i + 1]; s++) {
                tr_buf_putc(&raw, ' ');
            }
        }
        if (json) {
            tr_buf_puts(&raw, PARAM);
        }
    }
    /* runs of placeholders collapse into one (deduplicatePlaceholders) */
    tr_buf_reset(b);
    size_t i = 0;
    while (i < raw.len) {
        if (i + PARAM_LEN <= raw.len &&
            memcmp(raw.data + i, PARAM, PARAM_LEN) == 0) {
            tr_buf_append(b, PARAM, PARAM_LEN);
            i += PARAM_LEN;
            while (i + PARAM_LEN <= raw.len &&
                   memcmp(raw.data + i, PARAM, PARAM_LEN) == 0) {
                i += PARAM_LEN;
            }
        } else {
            tr_buf_putc(b, raw.data[i]);
            i++;
        }
    }
    if (raw.oom) {
        b->oom = true;
    }
    tr_buf_free(&raw);
}

struct item {
    struct tr_drain_pattern p;
    size_t level;
    uint64_t id; /* first cluster (creation order) */
};

static int item_cmp_text(const void *pa, const void *pb)
{
    const struct item *a = pa, *b = pb;
    if (a->level != b->level) {
        return a->level < b->level ? -1 : 1;
    }
    int c = tr_slice_cmp((struct tr_slice){a->p.pattern, a->p.pattern_len},
                         (struct tr_slice){b->p.pattern, b->p.pattern_len});
    if (c != 0) {
        return c;
    }
    return a->id < b->id ? -1 : a->id > b->id ? 1 : 0;
}

static int item_cmp_total(const void *pa, const void *pb)
{
    const struct item *a = pa, *b = pb;
    if (a->p.total != b->p.total) {
        return a->p.total > b->p.total ? -1 : 1;
    }
    if (a->level != b->level) {
        return a->level < b->level ? -1 : 1;
    }
    return a->id < b->id ? -1 : a->id > b->id ? 1 : 0;
}

/* Adds b's samples into a's (both sorted), in a new arena array. */
static int merge_samples(struct tr_arena *ar,
                         struct item *a,
                         const struct item *b)
{
    size_t n = a->p.n_samples + b->p.n_samples;
    struct tr_drain_sample *m = tr_arena_alloc(ar, n * sizeof(*m));
    if (m == NULL) {
        return TR_ENOMEM;
    }
    size_t i = 0, j = 0, k = 0;
    const struct tr_drain_sample *x = a->p.samples, *y = b->p.samples;
    while (i < a->p.n_samples || j < b->p.n_samples) {
        if (j >= b->p.n_samples ||
            (i < a->p.n_samples && x[i].ts_ns < y[j].ts_ns)) {
            m[k++] = x[i++];
        } else if (i >= a->p.n_samples || y[j].ts_ns < x[i].ts_ns) {
            m[k++] = y[j++];
        } else {
            m[k] = x[i++];
            m[k++].count += y[j++].count;
        }
    }
    a->p.samples = m;
    a->p.n_samples = k;
    a->p.total += b->p.total;
    if (b->id < a->id) {
        a->id = b->id;
    }
    return 0;
}

int tr_drain_patterns(struct tr_drain *d,
                      struct tr_arena *a,
                      struct tr_drain_pattern **out,
                      size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t total = 0;
    for (size_t li = 0; li < N_LEVELS; li++) {
        total += d->trees[li] ? d->trees[li]->n_clusters : 0;
    }
    if (total == 0) {
        return 0;
    }
    struct item *items = tr_arena_alloc(a, total * sizeof(*items));
    if (items == NULL) {
        return TR_ENOMEM;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    size_t k = 0;
    int rv = 0;
    for (size_t li = 0; li < N_LEVELS; li++) {
        struct tree *t = d->trees[li];
        for (struct cluster *c = t ? t->oldest : NULL; c; c = c->newer) {
            render(d, c, &b);
            if (b.oom) {
                rv = TR_ENOMEM;
                goto err_after_buf;
            }
            if (b.len == 0) {
                continue;
            }
            struct item *it = &items[k];
            memset(it, 0, sizeof(*it));
            char *text = tr_arena_strndup(a, b.data, b.len);
            struct tr_drain_sample *s =
                tr_arena_memdup(a, c->samples, c->n_samples * sizeof(*s));
            if (text == NULL || s == NULL) {
                rv = TR_ENOMEM;
                goto err_after_buf;
            }
            it->p.pattern = text;
            it->p.pattern_len = b.len;
            it->p.level = level_names[li];
            it->p.samples = s;
            it->p.n_samples = c->n_samples;
            for (size_t i = 0; i < c->n_samples; i++) {
                it->p.total += c->samples[i].count;
            }
            it->level = li;
            it->id = c->id;
            k++;
        }
    }
    tr_buf_free(&b);
    /* merge clusters of one level rendering the same text */
    qsort(items, k, sizeof(*items), item_cmp_text);
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        if (m > 0 && items[m - 1].level == items[i].level &&
            items[m - 1].p.pattern_len == items[i].p.pattern_len &&
            memcmp(items[m - 1].p.pattern, items[i].p.pattern,
                   items[i].p.pattern_len) == 0) {
            if (merge_samples(a, &items[m - 1], &items[i]) != 0) {
                return TR_ENOMEM;
            }
            continue;
        }
        items[m++] = items[i];
    }
    qsort(items, m, sizeof(*items), item_cmp_total);
    size_t keep = 0;
    while (keep < m && items[keep].p.total >= d->cfg.min_total) {
        keep++;
    }
    if (d->cfg.max_patterns > 0 && keep > d->cfg.max_patterns) {
        keep = d->cfg.max_patterns;
    }
    if (keep == 0) {
        return 0;
    }
    struct tr_drain_pattern *res = tr_arena_alloc(a, keep * sizeof(*res));
    if (res == NULL) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < keep; i++) {
        res[i] = items[i].p;
    }
    *out = res;
    *n = keep;
    return 0;

err_after_buf:
    tr_buf_free(&b);
    return rv;
}
