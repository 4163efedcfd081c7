/* matcher.c - label matchers and PCRE2-backed regexes (see matcher.h).
 *
 * Anchored regexes are compiled with PCRE2_ANCHORED | PCRE2_ENDANCHORED |
 * PCRE2_DOTALL | PCRE2_DOLLAR_ENDONLY, which is what Prometheus' "^(?s:re)$"
 * means under Go's RE2 semantics, in UTF mode with PCRE2_MATCH_INVALID_UTF.
 * Go's regexp reads an invalid UTF-8 byte as U+FFFD; PCRE2 never matches it.
 * To keep Prometheus' answers, a subject that fails to match and is not valid
 * UTF-8 is retried once with each invalid byte replaced by U+FFFD.
 *
 * Match data and the JIT stack are per thread (created on first use, freed
 * at thread exit), so a compiled regex can be shared by threads. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "lib/matcher.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/hash.h"

enum re_kind {
    RE_PCRE,     /* general: PCRE2 */
    RE_ANY,      /* ".*": everything */
    RE_NONEMPTY, /* ".+" (anchored): any non-empty string */
    RE_LITERALS, /* anchored literal set "a|b|c" */
    RE_SUBSTR,   /* unanchored pure literal: substring search */
};

struct tr_regex {
    enum re_kind kind;
    bool anchored;
    pcre2_code *code;  /* NULL for kinds that never need it */
    bool jit;          /* JIT compiled */
    size_t n_lits;     /* RE_LITERALS / RE_SUBSTR (1) */
    const char **lits; /* pointers into lit_buf */
    size_t *lens;      /* lengths */
    char *lit_buf;     /* unescaped literals, NUL-separated */
    uint32_t *table;   /* open addressing (index + 1), NULL if small */
    size_t table_mask; /* table size - 1 */
};

#define LIT_TABLE_MIN 16 /* sets larger than this get a hash table */

/* ---- per-thread PCRE2 state ---------------------------------------------- */

struct re_tls {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jstack;
};

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static _Thread_local struct re_tls *tls_cur;

static void tls_destroy(void *p)
{
    struct re_tls *t = p;
    if (t == NULL) {
        return;
    }
    pcre2_match_data_free(t->md);
    pcre2_match_context_free(t->mctx);
    pcre2_jit_stack_free(t->jstack);
    tr_free(t);
}

static void tls_key_init(void)
{
    (void)pthread_key_create(&tls_key, tls_destroy);
}

static struct re_tls *tls_get(void)
{
    if (tls_cur != NULL) {
        return tls_cur;
    }
    pthread_once(&tls_once, tls_key_init);
    struct re_tls *t = tr_calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->md = pcre2_match_data_create(1, NULL);
    t->mctx = pcre2_match_context_create(NULL);
    t->jstack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
    if (t->md == NULL || t->mctx == NULL) {
        tls_destroy(t);
        return NULL;
    }
    if (t->jstack != NULL) {
        pcre2_jit_stack_assign(t->mctx, NULL, t->jstack);
    }
    (void)pthread_setspecific(tls_key, t);
    tls_cur = t;
    return t;
}

/* ---- UTF-8 ----------------------------------------------------------------
 */

/* Length of the valid UTF-8 sequence at s[i..n), or 0 if invalid (Go's and
 * PCRE2's rules: no overlongs, no surrogates, <= U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t i, size_t n)
{
    unsigned c = s[i];
    if (c < 0x80) {
        return 1;
    }
    size_t len;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) {
            lo = 0xa0;
        } else if (c == 0xed) {
            hi = 0x9f;
        }
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) {
            lo = 0x90;
        } else if (c == 0xf4) {
            hi = 0x8f;
        }
    } else {
        return 0;
    }
    if (n - i < len) {
        return 0;
    }
    if (s[i + 1] < lo || s[i + 1] > hi) {
        return 0;
    }
    for (size_t k = 2; k < len; k++) {
        if ((s[i + k] & 0xc0) != 0x80) {
            return 0;
        }
    }
    return len;
}

static bool utf8_valid(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = utf8_seq(s, i, n);
        if (l == 0) {
            return false;
        }
        i += l;
    }
    return true;
}

/* ---- literal sets ----------------------------------------------------------
 */

static bool is_meta(char c)
{
    return strchr("\\.+*?()|[]{}^$", c) != NULL;
}

/* Splits pattern into literal alternatives if it is one ("a|b\\.c|"). Only
 * escapes of ASCII punctuation are understood; anything else is not a
 * literal set. On success fills re's literal arrays. Returns 0, 1 (not a
 * set) or TR_ENOMEM. */
static int parse_literals(struct tr_regex *re,
                          const char *p,
                          size_t n,
                          bool allow_alt)
{
    size_t alts = 1;
    /* Go reads an invalid byte as U+FFFD, which a literal U+FFFD matches:
     * leave such patterns to PCRE2 (with its sanitizing retry). */
    if (n >= 3 && memmem(p, n, "\xef\xbf\xbd", 3) != NULL) {
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\') {
            if (i + 1 >= n) {
                return 1;
            }
            unsigned char e = (unsigned char)p[i + 1];
            if (e >= 0x80 ||
                !((e >= 0x21 && e <= 0x2f) || (e >= 0x3a && e <= 0x40) ||
                  (e >= 0x5b && e <= 0x60) || (e >= 0x7b && e <= 0x7e))) {
                return 1;
            }
            i++;
        } else if (c == '|') {
            if (!allow_alt) {
                return 1;
            }
            alts++;
        } else if (is_meta(c)) {
            return 1;
        }
    }
    re->lit_buf = tr_malloc(n + 1);
    re->lits = tr_calloc(alts, sizeof(*re->lits));
    re->lens = tr_calloc(alts, sizeof(*re->lens));
    if (re->lit_buf == NULL || re->lits == NULL || re->lens == NULL) {
        return TR_ENOMEM;
    }
    size_t k = 0, o = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || p[i] == '|') {
            re->lits[k] = re->lit_buf + start;
            re->lens[k] = o - start;
            k++;
            re->lit_buf[o++] = '\0';
            start = o;
            continue;
        }
        if (p[i] == '\\') {
            i++;
        }
        re->lit_buf[o++] = p[i];
    }
    re->n_lits = k;
    if (k > LIT_TABLE_MIN) {
        size_t sz = 32;
        while (sz < k * 2) {
            sz *= 2;
        }
        re->table = tr_calloc(sz, sizeof(*re->table));
        if (re->table == NULL) {
            return TR_ENOMEM;
        }
        re->table_mask = sz - 1;
        for (size_t i = 0; i < k; i++) {
            size_t h = tr_hash64(re->lits[i], re->lens[i], 0) & re->table_mask;
            while (re->table[h] != 0) {
                h = (h + 1) & re->table_mask;
            }
            re->table[h] = (uint32_t)(i + 1);
        }
    }
    return 0;
}

static bool literals_match(const struct tr_regex *re, const char *s, size_t n)
{
    if (re->table != NULL) {
        size_t h = tr_hash64(s, n, 0) & re->table_mask;
        uint32_t ix;
        while ((ix = re->table[h]) != 0) {
            if (re->lens[ix - 1] == n && memcmp(re->lits[ix - 1], s, n) == 0) {
                return true;
            }
            h = (h + 1) & re->table_mask;
        }
        return false;
    }
    for (size_t i = 0; i < re->n_lits; i++) {
        if (re->lens[i] == n && (n == 0 || memcmp(re->lits[i], s, n) == 0)) {
            return true;
        }
    }
    return false;
}

/* ---- regex ----------------------------------------------------------------
 */

void tr_regex_free(struct tr_regex *re)
{
    if (re == NULL) {
        return;
    }
    pcre2_code_free(re->code);
    tr_free(re->lits);
    tr_free(re->lens);
    tr_free(re->lit_buf);
    tr_free(re->table);
    tr_free(re);
}

int tr_regex_compile(const char *pattern,
                     size_t len,
                     bool anchored,
                     struct tr_regex **out,
                     char *errmsg)
{
    int rv;
    *out = NULL;
    struct tr_regex *re = tr_calloc(1, sizeof(*re));
    if (re == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    re->anchored = anchored;

    /* Compile even when a fast path applies, so errors (and invalid UTF-8
     * in the pattern) are reported the same way and tests can compare. */
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY;
    if (anchored) {
        opts |= PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOTALL;
    }
    int ecode;
    PCRE2_SIZE eoff;
    re->code = pcre2_compile((PCRE2_SPTR)(pattern != NULL ? pattern : ""), len,
                             opts, &ecode, &eoff, NULL);
    if (re->code == NULL) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(ecode, msg, sizeof(msg)) < 0) {
            snprintf((char *)msg, sizeof(msg), "error %d", ecode);
        }
        int plen = len > 200 ? 200 : (int)len;
        rv = tr_errf(TR_EINVAL, errmsg,
                     "error parsing regexp: %s at offset %zu: `%.*s%s`",
                     (const char *)msg, (size_t)eoff, plen,
                     pattern != NULL ? pattern : "", len > 200 ? "..." : "");
        goto err_after_alloc;
    }
    re->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;

    re->kind = RE_PCRE;
    if (len == 2 && memcmp(pattern, ".*", 2) == 0) {
        re->kind = RE_ANY;
    } else if (anchored && len == 2 && memcmp(pattern, ".+", 2) == 0) {
        re->kind = RE_NONEMPTY;
    } else {
        rv = parse_literals(re, pattern != NULL ? pattern : "", len, anchored);
        if (rv == TR_ENOMEM) {
            tr_errf(rv, errmsg, "out of memory");
            goto err_after_alloc;
        }
        if (rv == 0) {
            re->kind = anchored ? RE_LITERALS : RE_SUBSTR;
        }
    }
    *out = re;
    return 0;

err_after_alloc:
    tr_regex_free(re);
    return rv;
}

static int pcre_run(const struct tr_regex *re, const char *s, size_t n)
{
    struct re_tls *t = tls_get();
    if (t == NULL) {
        return 0; /* OOM: treat as no match */
    }
    int rc;
    if (re->jit) {
        rc = pcre2_jit_match(re->code, (PCRE2_SPTR)s, n, 0, 0, t->md, t->mctx);
    } else {
        rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, 0, 0, t->md, t->mctx);
    }
    return rc >= 0;
}

/* Retry with invalid bytes replaced by U+FFFD (Go semantics). */
static bool pcre_match_sanitized(const struct tr_regex *re,
                                 const char *s,
                                 size_t n)
{
    if (n > SIZE_MAX / 3) {
        return false;
    }
    char stackbuf[256];
    char *buf = n * 3 <= sizeof(stackbuf) ? stackbuf : tr_malloc(n * 3);
    if (buf == NULL) {
        return false;
    }
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq(u, i, n);
        if (l == 0) {
            memcpy(buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(buf + o, s + i, l);
            o += l;
            i += l;
        }
    }
    bool m = pcre_run(re, buf, o);
    if (buf != stackbuf) {
        tr_free(buf);
    }
    return m;
}

static bool regex_match_pcre(const struct tr_regex *re, const char *s, size_t n)
{
    if (s == NULL) {
        s = "";
        n = 0;
    }
    if (pcre_run(re, s, n)) {
        return true;
    }
    if (!utf8_valid(s, n)) {
        return pcre_match_sanitized(re, s, n);
    }
    return false;
}

bool tr_regex_match_pcre2(const struct tr_regex *re, const char *s, size_t n)
{
    return regex_match_pcre(re, s, n);
}

bool tr_regex_match(const struct tr_regex *re, const char *s, size_t n)
{
    switch (re->kind) {
        case RE_ANY:
            return true;
        case RE_NONEMPTY:
            return n > 0;
        case RE_LITERALS:
            return literals_match(re, s, n);
        case RE_SUBSTR:
            return re->lens[0] == 0 ||
                   (n >= re->lens[0] &&
                    memmem(s, n, re->lits[0], re->lens[0]) != NULL);
        case RE_PCRE:
        default:
            return regex_match_pcre(re, s, n);
    }
}

/* ---- matchers --------------------------------------------------------------
 */

int tr_matcher_init(struct tr_matcher *m,
                    enum tr_match_type type,
                    const char *name,
                    const char *value,
                    size_t value_len,
                    char *errmsg)
{
    int rv;
    memset(m, 0, sizeof(*m));
    if (type != TR_MATCH_EQ && type != TR_MATCH_NEQ && type != TR_MATCH_RE &&
        type != TR_MATCH_NRE) {
        return tr_errf(TR_EINVAL, errmsg, "invalid match type %d", (int)type);
    }
    m->type = type;
    m->name = tr_strdup(name != NULL ? name : "");
    if (m->name == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    m->value = tr_malloc(value_len + 1);
    if (m->value == NULL) {
        rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
        goto err_after_name;
    }
    if (value_len > 0) {
        memcpy(m->value, value, value_len);
    }
    m->value[value_len] = '\0';
    m->value_len = value_len;
    if (type == TR_MATCH_RE || type == TR_MATCH_NRE) {
        rv = tr_regex_compile(m->value, value_len, true, &m->re, errmsg);
        if (rv != 0) {
            goto err_after_value;
        }
    }
    return 0;

err_after_value:
    tr_free(m->value);
err_after_name:
    tr_free(m->name);
    memset(m, 0, sizeof(*m));
    return rv;
}

void tr_matcher_free(struct tr_matcher *m)
{
    if (m == NULL) {
        return;
    }
    tr_free(m->name);
    tr_free(m->value);
    tr_regex_free(m->re);
    memset(m, 0, sizeof(*m));
}

bool tr_matcher_matches(const struct tr_matcher *m, const char *s, size_t n)
{
    switch (m->type) {
        case TR_MATCH_EQ:
            return n == m->value_len && (n == 0 || memcmp(s, m->value, n) == 0);
        case TR_MATCH_NEQ:
            return !(n == m->value_len &&
                     (n == 0 || memcmp(s, m->value, n) == 0));
        case TR_MATCH_RE:
            return tr_regex_match(m->re, s, n);
        case TR_MATCH_NRE:
            return !tr_regex_match(m->re, s, n);
    }
    return false;
}

bool tr_matcher_matches_empty(const struct tr_matcher *m)
{
    return tr_matcher_matches(m, "", 0);
}

size_t tr_matcher_literals(const struct tr_matcher *m,
                           const char *const **lits,
                           const size_t **lens)
{
    if (m->re == NULL || m->re->kind != RE_LITERALS) {
        return 0;
    }
    *lits = m->re->lits;
    *lens = m->re->lens;
    return m->re->n_lits;
}

void tr_matcher_format(const struct tr_matcher *m, char *buf, size_t n)
{
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    if (n == 0) {
        return;
    }
    size_t o = 0;
    int w = snprintf(buf, n, "%s%s\"", m->name != NULL ? m->name : "",
                     ops[(int)m->type & 3]);
    if (w < 0) {
        buf[0] = '\0';
        return;
    }
    o = (size_t)w < n ? (size_t)w : n - 1;
    for (size_t i = 0; i < m->value_len && o + 1 < n; i++) {
        char c = m->value[i];
        const char *esc = NULL;
        if (c == '"') {
            esc = "\\\"";
        } else if (c == '\\') {
            esc = "\\\\";
        } else if (c == '\n') {
            esc = "\\n";
        }
        if (esc != NULL) {
            if (o + 2 >= n) {
                break;
            }
            buf[o++] = esc[0];
            buf[o++] = esc[1];
        } else {
            buf[o++] = c;
        }
    }
    if (o + 1 < n) {
        buf[o++] = '"';
    }
    buf[o] = '\0';
}
