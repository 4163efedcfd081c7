/* jsonparse.c - the bounded JSON parser (jsonparse.h). */
#include "lib/jsonparse.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"

struct sj_parser {
    struct tr_sjson *doc;
    size_t pos;
};

static void sj__fail(struct sj_parser *p, const char *what)
{
    if (p->doc->err[0] == '\0') {
        snprintf(p->doc->err, sizeof(p->doc->err),
                 "invalid JSON at byte %zu: %s", p->pos, what);
    }
}

static void sj__ws(struct sj_parser *p)
{
    const char *s = p->doc->text;
    while (p->pos < p->doc->len && (s[p->pos] == ' ' || s[p->pos] == '\t' ||
                                    s[p->pos] == '\n' || s[p->pos] == '\r')) {
        p->pos++;
    }
}

/* Appends a token; returns its index or -1. At most one token per input
 * byte exists (every token consumes at least one), so this is bounded. */
static long sj__tok(struct sj_parser *p, enum tr_sjson_type type)
{
    struct tr_sjson *d = p->doc;
    if (d->n_toks >= d->len + 1) {
        sj__fail(p, "too many tokens");
        return -1;
    }
    if (d->n_toks == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        if (cap > d->len + 1) {
            cap = d->len + 1;
        }
        struct tr_sjson_tok *t = tr_realloc(d->toks, cap * sizeof(*t));
        if (t == NULL) {
            sj__fail(p, "out of memory");
            return -1;
        }
        d->toks = t;
        d->cap = cap;
    }
    struct tr_sjson_tok *t = &d->toks[d->n_toks];
    memset(t, 0, sizeof(*t));
    t->type = (uint8_t)type;
    t->start = (uint32_t)p->pos;
    return (long)d->n_toks++;
}

static int sj__hex(char c)
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

static int sj__string(struct sj_parser *p)
{
    const char *s = p->doc->text;
    size_t len = p->doc->len;
    p->pos++; /* opening quote */
    long t = sj__tok(p, TR_SJSON_STRING);
    if (t < 0) {
        return -1;
    }
    while (p->pos < len) {
        unsigned char c = (unsigned char)s[p->pos];
        if (c == '"') {
            p->doc->toks[t].len = (uint32_t)(p->pos - p->doc->toks[t].start);
            p->doc->toks[t].next = (uint32_t)(t + 1);
            p->pos++;
            return 0;
        }
        if (c < 0x20) {
            sj__fail(p, "control character in string");
            return -1;
        }
        if (c == '\\') {
            if (p->pos + 1 >= len) {
                break;
            }
            char e = s[p->pos + 1];
            if (e == 'u') {
                if (p->pos + 6 > len) {
                    break;
                }
                for (int i = 2; i < 6; i++) {
                    if (sj__hex(s[p->pos + (size_t)i]) < 0) {
                        sj__fail(p, "bad \\u escape");
                        return -1;
                    }
                }
                p->pos += 6;
                continue;
            }
            if (strchr("\"\\/bfnrt", e) == NULL || e == '\0') {
                sj__fail(p, "bad escape");
                return -1;
            }
            p->pos += 2;
            continue;
        }
        p->pos++;
    }
    sj__fail(p, "unterminated string");
    return -1;
}

static bool sj__digit(const struct sj_parser *p)
{
    return p->pos < p->doc->len && p->doc->text[p->pos] >= '0' &&
           p->doc->text[p->pos] <= '9';
}

static int sj__number(struct sj_parser *p)
{
    const char *s = p->doc->text;
    long t = sj__tok(p, TR_SJSON_NUMBER);
    if (t < 0) {
        return -1;
    }
    if (s[p->pos] == '-') {
        p->pos++;
    }
    if (!sj__digit(p)) {
        sj__fail(p, "bad number");
        return -1;
    }
    if (s[p->pos] == '0') {
        p->pos++;
    } else {
        while (sj__digit(p)) {
            p->pos++;
        }
    }
    if (p->pos < p->doc->len && s[p->pos] == '.') {
        p->pos++;
        if (!sj__digit(p)) {
            sj__fail(p, "bad fraction");
            return -1;
        }
        while (sj__digit(p)) {
            p->pos++;
        }
    }
    if (p->pos < p->doc->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->doc->len && (s[p->pos] == '+' || s[p->pos] == '-')) {
            p->pos++;
        }
        if (!sj__digit(p)) {
            sj__fail(p, "bad exponent");
            return -1;
        }
        while (sj__digit(p)) {
            p->pos++;
        }
    }
    p->doc->toks[t].len = (uint32_t)(p->pos - p->doc->toks[t].start);
    p->doc->toks[t].next = (uint32_t)(t + 1);
    return 0;
}

static int sj__literal(struct sj_parser *p,
                       const char *lit,
                       enum tr_sjson_type type)
{
    size_t n = strlen(lit);
    if (p->doc->len - p->pos < n ||
        memcmp(p->doc->text + p->pos, lit, n) != 0) {
        sj__fail(p, "unexpected character");
        return -1;
    }
    long t = sj__tok(p, type);
    if (t < 0) {
        return -1;
    }
    p->pos += n;
    p->doc->toks[t].len = (uint32_t)n;
    p->doc->toks[t].next = (uint32_t)(t + 1);
    return 0;
}

static int sj__value(struct sj_parser *p, int depth);

static int sj__container(struct sj_parser *p, int depth, bool object)
{
    const char *s = p->doc->text;
    char close = object ? '}' : ']';
    if (depth >= TR_SJSON_MAX_DEPTH) {
        sj__fail(p, "nested too deeply");
        return -1;
    }
    long t = sj__tok(p, object ? TR_SJSON_OBJECT : TR_SJSON_ARRAY);
    if (t < 0) {
        return -1;
    }
    p->pos++;
    sj__ws(p);
    uint32_t n = 0;
    if (p->pos < p->doc->len && s[p->pos] == close) {
        p->pos++;
    } else {
        for (;;) {
            sj__ws(p);
            if (object) {
                if (p->pos >= p->doc->len || s[p->pos] != '"') {
                    sj__fail(p, "expected a key");
                    return -1;
                }
                if (sj__string(p) != 0) {
                    return -1;
                }
                sj__ws(p);
                if (p->pos >= p->doc->len || s[p->pos] != ':') {
                    sj__fail(p, "expected ':'");
                    return -1;
                }
                p->pos++;
            }
            if (sj__value(p, depth + 1) != 0) {
                return -1;
            }
            n++;
            sj__ws(p);
            if (p->pos < p->doc->len && s[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (p->pos < p->doc->len && s[p->pos] == close) {
                p->pos++;
                break;
            }
            sj__fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
            return -1;
        }
    }
    struct tr_sjson_tok *tk = &p->doc->toks[t];
    tk->n = n;
    tk->len = (uint32_t)(p->pos - tk->start);
    tk->next = (uint32_t)p->doc->n_toks;
    return 0;
}

static int sj__value(struct sj_parser *p, int depth)
{
    sj__ws(p);
    if (p->pos >= p->doc->len) {
        sj__fail(p, "unexpected end of input");
        return -1;
    }
    char c = p->doc->text[p->pos];
    switch (c) {
        case '{':
            return sj__container(p, depth, true);
        case '[':
            return sj__container(p, depth, false);
        case '"':
            return sj__string(p);
        case 't':
            return sj__literal(p, "true", TR_SJSON_TRUE);
        case 'f':
            return sj__literal(p, "false", TR_SJSON_FALSE);
        case 'n':
            return sj__literal(p, "null", TR_SJSON_NULL);
        default:
            if (c == '-' || (c >= '0' && c <= '9')) {
                return sj__number(p);
            }
            sj__fail(p, "unexpected character");
            return -1;
    }
}

int tr_sjson_parse(struct tr_sjson *doc, const char *text, size_t len)
{
    memset(doc, 0, sizeof(*doc));
    doc->text = text;
    doc->len = len;
    if (len > TR_SJSON_MAX_INPUT) {
        snprintf(doc->err, sizeof(doc->err), "JSON too large (%zu bytes)", len);
        return -1;
    }
    struct sj_parser p = {doc, 0};
    if (sj__value(&p, 0) != 0) {
        return -1;
    }
    sj__ws(&p);
    if (p.pos != len) {
        sj__fail(&p, "trailing data");
        return -1;
    }
    return 0;
}

void tr_sjson_free(struct tr_sjson *doc)
{
    tr_free(doc->toks);
    doc->toks = NULL;
    doc->n_toks = doc->cap = 0;
}

static bool sj__valid(const struct tr_sjson *doc, long idx)
{
    return idx >= 0 && (size_t)idx < doc->n_toks;
}

/* Compares the string token at idx (decoded) with key. */
static bool sj__key_eq(const struct tr_sjson *doc, long idx, const char *key)
{
    const struct tr_sjson_tok *t = &doc->toks[idx];
    size_t n = strlen(key);
    if (memchr(doc->text + t->start, '\\', t->len) == NULL) {
        return t->len == n && memcmp(doc->text + t->start, key, n) == 0;
    }
    char buf[256];
    if (n >= sizeof(buf)) {
        return false;
    }
    tr_sjson_text(doc, idx, buf, sizeof(buf));
    return strcmp(buf, key) == 0;
}

long tr_sjson_get(const struct tr_sjson *doc, long obj, const char *key)
{
    if (!sj__valid(doc, obj) || doc->toks[obj].type != TR_SJSON_OBJECT) {
        return -1;
    }
    long k = obj + 1;
    for (uint32_t i = 0; i < doc->toks[obj].n && sj__valid(doc, k + 1); i++) {
        if (sj__key_eq(doc, k, key)) {
            return k + 1;
        }
        k = (long)doc->toks[k + 1].next;
    }
    return -1;
}

long tr_sjson_at(const struct tr_sjson *doc, long arr, size_t i)
{
    if (!sj__valid(doc, arr) || doc->toks[arr].type != TR_SJSON_ARRAY ||
        i >= doc->toks[arr].n) {
        return -1;
    }
    long e = arr + 1;
    for (size_t k = 0; k < i && sj__valid(doc, e); k++) {
        e = (long)doc->toks[e].next;
    }
    return sj__valid(doc, e) ? e : -1;
}

/* Appends n bytes if they fit (leaving room for the NUL). */
static bool sj__put(char *out,
                    size_t outlen,
                    size_t *o,
                    const char *b,
                    size_t n)
{
    if (*o + n + 1 > outlen) {
        return false;
    }
    memcpy(out + *o, b, n);
    *o += n;
    return true;
}

static size_t sj__utf8(uint32_t cp, char *b)
{
    if (cp < 0x80) {
        b[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (char)(0xF0 | (cp >> 18));
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static uint32_t sj__hex4(const char *s)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        v = v * 16 + (uint32_t)sj__hex(s[i]);
    }
    return v;
}

const char *tr_sjson_text(const struct tr_sjson *doc,
                          long idx,
                          char *out,
                          size_t outlen)
{
    if (outlen == 0) {
        return out;
    }
    out[0] = '\0';
    if (!sj__valid(doc, idx)) {
        return out;
    }
    const struct tr_sjson_tok *t = &doc->toks[idx];
    const char *s = doc->text + t->start;
    size_t n = t->len, o = 0;
    if (t->type == TR_SJSON_NULL) {
        return out;
    }
    if (t->type != TR_SJSON_STRING) {
        if (n >= outlen) {
            n = outlen - 1;
        }
        memcpy(out, s, n);
        out[n] = '\0';
        return out;
    }
    /* the parser validated the escapes */
    for (size_t i = 0; i < n;) {
        char b[4];
        size_t bl;
        if (s[i] == '\\') {
            char e = s[i + 1];
            if (e == 'u') {
                uint32_t cp = sj__hex4(s + i + 2);
                i += 6;
                if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 <= n &&
                    s[i] == '\\' && s[i + 1] == 'u') {
                    uint32_t lo = sj__hex4(s + i + 2);
                    if (lo >= 0xDC00 && lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        i += 6;
                    }
                }
                if (cp >= 0xD800 && cp <= 0xDFFF) {
                    cp = 0xFFFD; /* lone surrogate */
                }
                bl = sj__utf8(cp, b);
            } else {
                static const char from[] = "\"\\/bfnrt";
                static const char to[] = "\"\\/\b\f\n\r\t";
                b[0] = to[strchr(from, e) - from];
                bl = 1;
                i += 2;
            }
            if (!sj__put(out, outlen, &o, b, bl)) {
                break;
            }
            continue;
        }
        /* a raw UTF-8 sequence is copied whole or not at all */
        unsigned char c = (unsigned char)s[i];
        size_t sl = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        size_t j = 1;
        while (j < sl && i + j < n &&
               ((unsigned char)s[i + j] & 0xC0) == 0x80) {
            j++;
        }
        if (!sj__put(out, outlen, &o, s + i, j)) {
            break;
        }
        i += j;
    }
    out[o] = '\0';
    return out;
}

uint64_t tr_sjson_u64(const struct tr_sjson *doc, long idx)
{
    if (!sj__valid(doc, idx)) {
        return 0;
    }
    const struct tr_sjson_tok *t = &doc->toks[idx];
    if (t->type != TR_SJSON_NUMBER && t->type != TR_SJSON_STRING) {
        return 0;
    }
    const char *s = doc->text + t->start;
    uint64_t v = 0;
    if (t->len == 0) {
        return 0;
    }
    for (uint32_t i = 0; i < t->len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0; /* negative, fraction, exponent: not an index */
        }
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return 0;
        }
        v = v * 10 + d;
    }
    return v;
}

int tr_sjson_string(const struct tr_sjson *doc,
                    long idx,
                    struct tr_arena *a,
                    struct tr_slice *out)
{
    *out = (struct tr_slice){"", 0};
    if (!sj__valid(doc, idx) || doc->toks[idx].type != TR_SJSON_STRING) {
        return TR_EINVAL;
    }
    const struct tr_sjson_tok *t = &doc->toks[idx];
    const char *s = doc->text + t->start;
    size_t n = t->len;
    if (memchr(s, '\\', n) == NULL) {
        *out = (struct tr_slice){s, n};
        return 0;
    }
    /* decoded text is never longer than its escaped form */
    char *d = tr_arena_alloc(a, n);
    if (d == NULL) {
        return TR_ENOMEM;
    }
    size_t o = 0;
    /* the parser validated the escapes */
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') {
            d[o++] = s[i++];
            continue;
        }
        char e = s[i + 1];
        if (e != 'u') {
            static const char from[] = "\"\\/bfnrt";
            static const char to[] = "\"\\/\b\f\n\r\t";
            d[o++] = to[strchr(from, e) - from];
            i += 2;
            continue;
        }
        uint32_t cp = sj__hex4(s + i + 2);
        i += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 <= n && s[i] == '\\' &&
            s[i + 1] == 'u') {
            uint32_t lo = sj__hex4(s + i + 2);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) {
            cp = 0xFFFD; /* a lone surrogate, as Go's encoding/json does */
        }
        o += sj__utf8(cp, d + o);
    }
    *out = (struct tr_slice){d, o};
    return 0;
}
