/* status_cmd.c - `triad status [--verify]`: a bounded JSON parser, the
 * tables printed from GET /api/v1/status/cluster (and, with --verify, from
 * POST /api/v1/admin/cluster/verify), and the command itself. */
#include "cluster/status_cmd.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"

/* ---- JSON parser ----------------------------------------------------------
 */

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

/* ---- tables -----------------------------------------------------------------
 */

#define ST_MAX_COLS 8

struct st_table {
    size_t ncols;
    const char *head[ST_MAX_COLS];
    bool right[ST_MAX_COLS]; /* right-aligned (numbers) */
    char **cells;            /* nrows * ncols, owned */
    size_t nrows, cap;
    bool oom;
};

static void st__init(struct st_table *t,
                     size_t ncols,
                     const char *const *head,
                     const bool *right)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    for (size_t i = 0; i < ncols; i++) {
        t->head[i] = head[i];
        t->right[i] = right[i];
    }
}

static void st__free(struct st_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++) {
        tr_free(t->cells[i]);
    }
    tr_free(t->cells);
}

/* A copy of s fit for a terminal: control characters become '?'. */
static char *st__cell(const char *s)
{
    size_t n = strlen(s);
    char *c = tr_malloc(n + 1);
    if (c == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        c[i] = (ch < 0x20 || ch == 0x7F) ? '?' : (char)ch;
    }
    c[n] = '\0';
    return c;
}

static void st__row(struct st_table *t, const char *const *vals)
{
    if (t->oom) {
        return;
    }
    if (t->nrows == t->cap) {
        char **cells =
            tr_array_grow(t->cells, &t->cap, t->ncols * sizeof(char *), 16);
        if (cells == NULL) {
            t->oom = true;
            return;
        }
        t->cells = cells;
    }
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        row[i] = st__cell(vals[i] ? vals[i] : "");
        if (row[i] == NULL) {
            for (size_t k = 0; k < i; k++) {
                tr_free(row[k]);
            }
            t->oom = true;
            return;
        }
    }
    t->nrows++;
}

/* Display width: UTF-8 code points (continuation bytes do not count). */
static size_t st__width(const char *s)
{
    size_t w = 0;
    for (; *s; s++) {
        if (((unsigned char)*s & 0xC0) != 0x80) {
            w++;
        }
    }
    return w;
}

static void st__line(FILE *out,
                     const struct st_table *t,
                     const size_t *widths,
                     const char *const *vals)
{
    for (size_t i = 0; i < t->ncols; i++) {
        size_t w = st__width(vals[i]);
        size_t pad = widths[i] > w ? widths[i] - w : 0;
        bool last = i + 1 == t->ncols;
        if (t->right[i]) {
            fprintf(out, "%*s%s", (int)pad, "", vals[i]);
        } else {
            fputs(vals[i], out);
            if (!last) {
                fprintf(out, "%*s", (int)pad, "");
            }
        }
        if (!last) {
            fputs("  ", out);
        }
    }
    fputc('\n', out);
}

static void st__print(FILE *out, const struct st_table *t)
{
    size_t widths[ST_MAX_COLS] = {0};
    for (size_t i = 0; i < t->ncols; i++) {
        widths[i] = st__width(t->head[i]);
    }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t i = 0; i < t->ncols; i++) {
            size_t w = st__width(t->cells[r * t->ncols + i]);
            if (w > widths[i]) {
                widths[i] = w;
            }
        }
    }
    st__line(out, t, widths, t->head);
    for (size_t r = 0; r < t->nrows; r++) {
        st__line(out, t, widths,
                 (const char *const *)(t->cells + r * t->ncols));
    }
}

/* ---- the status report
 * -------------------------------------------------------- */

static int st__fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int st__fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

#define ST_FIELD 256

static void st__replicas(const struct tr_sjson *d, long reps, struct tr_buf *b)
{
    tr_buf_reset(b);
    tr_buf_puts(b, "");
    size_t n =
        reps >= 0 && d->toks[reps].type == TR_SJSON_ARRAY ? d->toks[reps].n : 0;
    for (size_t i = 0; i < n; i++) {
        long r = tr_sjson_at(d, reps, i);
        char node[ST_FIELD], state[64];
        tr_sjson_text(d, tr_sjson_get(d, r, "node"), node, sizeof(node));
        tr_sjson_text(d, tr_sjson_get(d, r, "state"), state, sizeof(state));
        if (i > 0) {
            tr_buf_putc(b, ' ');
        }
        if (strcmp(state, "unknown") == 0) {
            tr_buf_printf(b, "%s:-(unknown)", node[0] ? node : "?");
            continue;
        }
        tr_buf_printf(b, "%s:%" PRIu64 "(%" PRIu64 "%s%s)",
                      node[0] ? node : "?",
                      tr_sjson_u64(d, tr_sjson_get(d, r, "appliedIndex")),
                      tr_sjson_u64(d, tr_sjson_get(d, r, "lag")),
                      strcmp(state, "catching-up") == 0 ? "," : "",
                      strcmp(state, "catching-up") == 0 ? "catching-up" : "");
    }
}

int tr_status_print(FILE *out,
                    const char *addr,
                    const char *body,
                    size_t len,
                    char *err,
                    size_t errlen)
{
    struct tr_sjson d;
    if (tr_sjson_parse(&d, body, len) != 0) {
        int rv =
            st__fail(err, errlen, "%s/api/v1/status/cluster: %s", addr, d.err);
        tr_sjson_free(&d);
        return rv;
    }
    char status[64];
    tr_sjson_text(&d, tr_sjson_get(&d, 0, "status"), status, sizeof(status));
    long data = tr_sjson_get(&d, 0, "data");
    if (strcmp(status, "success") != 0 || data < 0 ||
        d.toks[data].type != TR_SJSON_OBJECT) {
        char msg[ST_FIELD];
        tr_sjson_text(&d, tr_sjson_get(&d, 0, "error"), msg, sizeof(msg));
        st__fail(err, errlen, "%s/api/v1/status/cluster: status %s%s%s", addr,
                 status[0] ? status : "(missing)", msg[0] ? ": " : "", msg);
        tr_sjson_free(&d);
        return -1;
    }
    long nodes = tr_sjson_get(&d, data, "nodes");
    long shards = tr_sjson_get(&d, data, "shards");
    if (nodes < 0 || d.toks[nodes].type != TR_SJSON_ARRAY || shards < 0 ||
        d.toks[shards].type != TR_SJSON_ARRAY) {
        st__fail(err, errlen,
                 "%s/api/v1/status/cluster: no nodes or shards array", addr);
        tr_sjson_free(&d);
        return -1;
    }

    char node[ST_FIELD], leader[ST_FIELD], term[32], commit[32];
    tr_sjson_text(&d, tr_sjson_get(&d, data, "node"), node, sizeof(node));
    tr_sjson_text(&d, tr_sjson_get(&d, data, "metaLeader"), leader,
                  sizeof(leader));
    snprintf(term, sizeof(term), "%" PRIu64,
             tr_sjson_u64(&d, tr_sjson_get(&d, data, "metaTerm")));
    snprintf(commit, sizeof(commit), "%" PRIu64,
             tr_sjson_u64(&d, tr_sjson_get(&d, data, "metaCommitIndex")));

    /* NODES */
    static const char *const nhead[] = {"NAME", "ID", "RAFT ADDR", "HTTP ADDR",
                                        "STATE"};
    static const bool nright[] = {false, false, false, false, false};
    struct st_table nt;
    st__init(&nt, 5, nhead, nright);
    size_t n_nodes = d.toks[nodes].n, n_up = 0;
    for (size_t i = 0; i < n_nodes; i++) {
        long e = tr_sjson_at(&d, nodes, i);
        char v[5][ST_FIELD];
        static const char *const keys[] = {"name", "id", "raftAddr", "httpAddr",
                                           "state"};
        const char *row[5];
        for (int k = 0; k < 5; k++) {
            row[k] = tr_sjson_text(&d, tr_sjson_get(&d, e, keys[k]), v[k],
                                   sizeof(v[k]));
        }
        if (strcmp(v[4], "up") == 0) {
            n_up++;
        }
        st__row(&nt, row);
    }

    /* SHARDS */
    static const char *const shead[] = {
        "SIGNAL", "WINDOW START", "SLOT",   "STATE",
        "LEADER", "TERM",         "COMMIT", "REPLICAS node:applied(lag)"};
    static const bool sright[] = {false, false, true, false,
                                  false, true,  true, false};
    struct st_table stt;
    st__init(&stt, 8, shead, sright);
    struct tr_buf reps;
    tr_buf_init(&reps);
    size_t n_shards = d.toks[shards].n, n_led = 0;
    for (size_t i = 0; i < n_shards; i++) {
        long e = tr_sjson_at(&d, shards, i);
        char sig[64], ws[64], slot[32], state[64], lead[ST_FIELD], sterm[32],
            scommit[32];
        tr_sjson_text(&d, tr_sjson_get(&d, e, "signal"), sig, sizeof(sig));
        tr_sjson_text(&d, tr_sjson_get(&d, e, "windowStart"), ws, sizeof(ws));
        if (ws[0] == '\0') {
            tr_sjson_text(&d, tr_sjson_get(&d, e, "window"), ws, sizeof(ws));
        }
        snprintf(slot, sizeof(slot), "%" PRIu64,
                 tr_sjson_u64(&d, tr_sjson_get(&d, e, "slot")));
        tr_sjson_text(&d, tr_sjson_get(&d, e, "state"), state, sizeof(state));
        tr_sjson_text(&d, tr_sjson_get(&d, e, "leader"), lead, sizeof(lead));
        if (lead[0] != '\0') {
            n_led++;
        } else {
            strcpy(lead, "-");
        }
        snprintf(sterm, sizeof(sterm), "%" PRIu64,
                 tr_sjson_u64(&d, tr_sjson_get(&d, e, "term")));
        snprintf(scommit, sizeof(scommit), "%" PRIu64,
                 tr_sjson_u64(&d, tr_sjson_get(&d, e, "commitIndex")));
        st__replicas(&d, tr_sjson_get(&d, e, "replicas"), &reps);
        const char *row[8] = {sig,  ws,    slot,    state,
                              lead, sterm, scommit, reps.oom ? "?" : reps.data};
        st__row(&stt, row);
    }
    tr_buf_free(&reps);

    int rv = 0;
    if (nt.oom || stt.oom) {
        rv = st__fail(err, errlen, "out of memory");
    } else {
        char nodeline[2 * ST_FIELD + 8];
        snprintf(nodeline, sizeof(nodeline), "%s (%s)", addr,
                 node[0] ? node : "?");
        static const char *const khead[] = {"", ""};
        static const bool kright[] = {false, false};
        struct st_table kv;
        st__init(&kv, 2, khead, kright);
        const char *r1[] = {"node asked", nodeline};
        const char *r2[] = {"meta leader", leader[0] ? leader : "(none)"};
        const char *r3[] = {"meta term", term};
        const char *r4[] = {"meta commit index", commit};
        st__row(&kv, r1);
        st__row(&kv, r2);
        st__row(&kv, r3);
        st__row(&kv, r4);
        /* the key/value header has no column titles */
        size_t kw = st__width("meta commit index");
        for (size_t r = 0; r < kv.nrows; r++) {
            const char *k = kv.cells[r * 2];
            fprintf(out, "%s%*s  %s\n", k, (int)(kw - st__width(k)), "",
                    kv.cells[r * 2 + 1]);
        }
        st__free(&kv);
        fprintf(out, "\nNODES (%zu, %zu up)\n", n_nodes, n_up);
        st__print(out, &nt);
        fprintf(out, "\nSHARDS (%zu, %zu with a leader)\n", n_shards, n_led);
        if (n_shards > 0) {
            st__print(out, &stt);
        } else {
            fputs("(none)\n", out);
        }
    }
    st__free(&nt);
    st__free(&stt);
    tr_sjson_free(&d);
    return rv;
}

/* ---- the verify table ------------------------------------------------------
 */

int tr_status_print_verify(FILE *out,
                           const char *addr,
                           const char *body,
                           size_t len,
                           bool *consistent,
                           char *err,
                           size_t errlen)
{
    struct tr_sjson d;
    *consistent = false;
    if (tr_sjson_parse(&d, body, len) != 0) {
        int rv = st__fail(err, errlen, "%s/api/v1/admin/cluster/verify: %s",
                          addr, d.err);
        tr_sjson_free(&d);
        return rv;
    }
    long shards = tr_sjson_get(&d, 0, "shards");
    if (shards < 0 || d.toks[shards].type != TR_SJSON_ARRAY) {
        st__fail(err, errlen, "%s/api/v1/admin/cluster/verify: no shards",
                 addr);
        tr_sjson_free(&d);
        return -1;
    }
    static const char *const head[] = {"SIGNAL",     "WINDOW",
                                       "SLOT",       "INDEX",
                                       "CONSISTENT", "REPLICAS node:checksum"};
    static const bool right[] = {false, false, true, true, false, false};
    struct st_table t;
    st__init(&t, 6, head, right);
    struct tr_buf reps;
    tr_buf_init(&reps);
    size_t n = d.toks[shards].n, bad = 0;
    for (size_t i = 0; i < n; i++) {
        long e = tr_sjson_at(&d, shards, i);
        char sig[32], win[32], slot[32], idx[32], cons[16];
        tr_sjson_text(&d, tr_sjson_get(&d, e, "signal"), sig, sizeof(sig));
        tr_sjson_text(&d, tr_sjson_get(&d, e, "window"), win, sizeof(win));
        tr_sjson_text(&d, tr_sjson_get(&d, e, "slot"), slot, sizeof(slot));
        tr_sjson_text(&d, tr_sjson_get(&d, e, "index"), idx, sizeof(idx));
        tr_sjson_text(&d, tr_sjson_get(&d, e, "consistent"), cons,
                      sizeof(cons));
        bad += strcmp(cons, "true") != 0;
        tr_buf_reset(&reps);
        long rs = tr_sjson_get(&d, e, "replicas");
        for (size_t r = 0; rs >= 0 && r < d.toks[rs].n; r++) {
            long re = tr_sjson_at(&d, rs, r);
            char node[ST_FIELD], sum[40], rerr[ST_FIELD];
            tr_sjson_text(&d, tr_sjson_get(&d, re, "node"), node, sizeof(node));
            tr_sjson_text(&d, tr_sjson_get(&d, re, "checksum"), sum,
                          sizeof(sum));
            tr_sjson_text(&d, tr_sjson_get(&d, re, "error"), rerr,
                          sizeof(rerr));
            tr_buf_printf(&reps, "%s%s:%s", r ? " " : "", node,
                          sum[0] ? sum : "-");
            if (rerr[0]) {
                tr_buf_printf(&reps, "(%s)", rerr);
            }
        }
        tr_buf_putc(&reps, '\0');
        const char *row[6] = {sig, win,  slot,
                              idx, cons, reps.oom ? "?" : reps.data};
        st__row(&t, row);
    }
    tr_buf_free(&reps);
    int rv = 0;
    if (t.oom) {
        rv = st__fail(err, errlen, "out of memory");
    } else {
        fprintf(out, "\nVERIFY (%zu shards, %zu not consistent)\n", n, bad);
        if (n > 0) {
            st__print(out, &t);
        } else {
            fputs("(none)\n", out);
        }
        *consistent = bad == 0;
    }
    st__free(&t);
    tr_sjson_free(&d);
    return rv;
}

/* ---- the command ------------------------------------------------------------
 */

static size_t st__write(char *p, size_t size, size_t nmemb, void *arg)
{
    tr_buf_append(arg, p, size * nmemb);
    return size * nmemb;
}

static int st__http(const char *base,
                    const char *path,
                    bool post,
                    const char *secret,
                    long timeout_s,
                    struct tr_buf *out,
                    long *code)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", base, path);
    CURL *c = curl_easy_init();
    if (c == NULL) {
        return -1;
    }
    struct curl_slist *hdrs = NULL;
    char h[600];
    if (secret != NULL && secret[0] != '\0') {
        snprintf(h, sizeof(h), "X-Triad-Cluster-Secret: %s", secret);
        hdrs = curl_slist_append(hdrs, h);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (post) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, st__write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    return rc == CURLE_OK ? 0 : -1;
}

/* GET or POST base+path; 0 with the body, or -1 with a message on stderr. */
static int st__fetch(const char *base,
                     const char *path,
                     bool post,
                     const char *secret,
                     struct tr_buf *body)
{
    long code = 0;
    if (st__http(base, path, post, secret, post ? 60L : 10L, body, &code) !=
        0) {
        fprintf(stderr,
                "triad status: cannot reach %s (%s %s%s failed: connection "
                "refused, unresolvable host or no answer in time)\n",
                base, post ? "POST" : "GET", base, path);
        return -1;
    }
    if (code != 200) {
        int n = body->data ? (int)strcspn(body->data, "\r\n") : 0;
        fprintf(stderr, "triad status: %s %s%s answered HTTP %ld%s%.*s\n",
                post ? "POST" : "GET", base, path, code, n > 0 ? ": " : "",
                n > 200 ? 200 : n, body->data ? body->data : "");
        return -1;
    }
    if (body->oom) {
        fprintf(stderr, "triad status: out of memory reading %s%s\n", base,
                path);
        return -1;
    }
    return 0;
}

int tr_status_command(FILE *out,
                      const char *addr,
                      bool verify,
                      const char *secret)
{
    static const char path[] = "/api/v1/status/cluster";
    char base[900];
    snprintf(base, sizeof(base), "%s%s",
             strstr(addr, "://") == NULL ? "http://" : "", addr);
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/') {
        base[--bl] = '\0';
    }
    struct tr_buf body;
    tr_buf_init(&body);
    int rc = 0;
    char err[512];
    if (st__fetch(base, path, false, secret, &body) != 0) {
        rc = 1;
    } else if (tr_status_print(out, base, body.data ? body.data : "", body.len,
                               err, sizeof(err)) != 0) {
        fprintf(stderr, "triad status: %s\n", err);
        rc = 1;
    }
    if (rc == 0 && verify) {
        tr_buf_reset(&body);
        bool consistent = false;
        if (st__fetch(base, "/api/v1/admin/cluster/verify", true, secret,
                      &body) != 0) {
            rc = 1;
        } else if (tr_status_print_verify(out, base, body.data ? body.data : "",
                                          body.len, &consistent, err,
                                          sizeof(err)) != 0) {
            fprintf(stderr, "triad status: %s\n", err);
            rc = 1;
        } else if (!consistent) {
            rc = 1; /* replicas differ (or did not answer) */
        }
    }
    tr_buf_free(&body);
    return rc;
}
