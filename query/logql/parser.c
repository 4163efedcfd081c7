/* parser.c - LogQL recursive-descent parser (see parser.h).
 *
 * Error kinds, in the order Loki reports them:
 *   1. syntax and lexical errors, and errors Loki raises while reducing a
 *      rule (a bad matcher regex, a bad regexp/pattern parser, a numeric
 *      label filter literal that is not a float): parsing stops there;
 *   2. node errors Loki keeps in a node and reports when it validates the
 *      tree (parameters, grouping, unwrap rules, binary operand types,
 *      literal values, label_replace regexes), in validation order, then
 *      the selector checks;
 *   3. stage errors Loki only meets when it builds the pipeline at run
 *      time (line filter regexes, ip() patterns, |> patterns). */
#include "query/logql/parser.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/matcher.h"
#include "query/logql/lexer.h"

struct node_err {
    const void *node; /* the expression the error belongs to */
    const char *msg;  /* arena */
};

/* Heap objects of the tree being built, freed if parsing fails. */
struct owned {
    struct tr_matcher m; /* a copy of a matcher (its heap pointers) */
    struct tr_regex *re; /* or a regex */
};

struct parser {
    const char *q;
    size_t n;
    struct tr_arena *a;
    struct tr_logql_token *toks; /* every token up to EOF or ERROR */
    size_t ntoks;
    size_t cur;   /* next token */
    int rc;       /* first error (0 while fine) */
    char *errmsg; /* caller's buffer (may be NULL) */
    unsigned depth;
    struct node_err *nerrs;
    size_t n_nerrs, cap_nerrs;
    struct owned *owned;
    size_t n_owned, cap_owned;
    bool has_stage_err;
    char stage_err[TR_ERRMSG_SIZE];
    unsigned flags; /* TR_LOGQL_PARSE_* */
};

#define T(name) TR_LOGQL_T_##name

/* ---- errors -----------------------------------------------------------------
 */

static int oom(struct parser *p)
{
    if (p->rc == 0) {
        p->rc = TR_ENOMEM;
        tr_errf(TR_ENOMEM, p->errmsg, "out of memory");
    }
    return TR_ENOMEM;
}

static const struct tr_logql_token *peek(const struct parser *p, size_t k)
{
    size_t i = p->cur + k;
    if (i >= p->ntoks) {
        i = p->ntoks - 1; /* EOF or ERROR repeats */
    }
    return &p->toks[i];
}

static enum tr_logql_tok peek_type(const struct parser *p, size_t k)
{
    return peek(p, k)->type;
}

static const struct tr_logql_token *next(struct parser *p)
{
    const struct tr_logql_token *t = peek(p, 0);
    if (p->cur < p->ntoks - 1) {
        p->cur++;
    }
    return t;
}

/* A syntax error at the current token (or the lexical error it is). */
static int syntax_error(struct parser *p, const char *expecting)
{
    if (p->rc != 0) {
        return p->rc;
    }
    const struct tr_logql_token *t = peek(p, 0);
    p->rc = TR_EINVAL;
    if (t->type == T(ERROR)) {
        tr_logql_errf_at(p->errmsg, p->q, p->n, t, "%s", t->str);
    } else if (expecting != NULL) {
        tr_logql_errf_at(p->errmsg, p->q, p->n, t,
                         "syntax error: unexpected %s, expecting %s",
                         tr_logql_tok_name(t->type), expecting);
    } else {
        tr_logql_errf_at(p->errmsg, p->q, p->n, t,
                         "syntax error: unexpected %s",
                         tr_logql_tok_name(t->type));
    }
    return TR_EINVAL;
}

/* An error Loki raises while reducing a rule: "parse error : msg". */
__attribute__((format(printf, 2, 3))) static int fail(struct parser *p,
                                                      const char *fmt,
                                                      ...)
{
    if (p->rc != 0) {
        return p->rc;
    }
    char msg[TR_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p->rc = TR_EINVAL;
    tr_logql_errf_at(p->errmsg, p->q, p->n, NULL, "%s", msg);
    return TR_EINVAL;
}

/* Records an error Loki keeps in a node until validation. */
__attribute__((format(printf, 3, 4))) static int node_err(struct parser *p,
                                                          const void *node,
                                                          const char *fmt,
                                                          ...)
{
    char msg[TR_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (p->n_nerrs == p->cap_nerrs) {
        struct node_err *g = tr_arena_array_grow(p->a, p->nerrs, p->n_nerrs,
                                                 &p->cap_nerrs, sizeof(*g), 8);
        if (g == NULL) {
            return oom(p);
        }
        p->nerrs = g;
    }
    char *s = tr_arena_strndup(p->a, msg, strlen(msg));
    if (s == NULL) {
        return oom(p);
    }
    p->nerrs[p->n_nerrs].node = node;
    p->nerrs[p->n_nerrs].msg = s;
    p->n_nerrs++;
    return 0;
}

static const char *node_err_of(const struct parser *p, const void *node)
{
    for (size_t i = 0; i < p->n_nerrs; i++) {
        if (p->nerrs[i].node == node) {
            return p->nerrs[i].msg;
        }
    }
    return NULL;
}

/* Records an error Loki only meets when it builds the pipeline. */
__attribute__((format(printf, 2, 3))) static void stage_err(struct parser *p,
                                                            const char *fmt,
                                                            ...)
{
    if (p->has_stage_err) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->stage_err, sizeof(p->stage_err), fmt, ap);
    va_end(ap);
    p->has_stage_err = true;
}

static int own(struct parser *p,
               const struct tr_matcher *m,
               struct tr_regex *re)
{
    if (p->n_owned == p->cap_owned) {
        size_t cap = p->cap_owned;
        struct owned *g = tr_array_grow(p->owned, &cap, sizeof(*g), 16);
        if (g == NULL) {
            return TR_ENOMEM;
        }
        p->owned = g;
        p->cap_owned = cap;
    }
    struct owned *o = &p->owned[p->n_owned++];
    memset(o, 0, sizeof(*o));
    if (m != NULL) {
        o->m = *m;
    }
    o->re = re;
    return 0;
}

/* ---- small helpers
 * ------------------------------------------------------------ */

static int expect(struct parser *p, enum tr_logql_tok t, const char *expecting)
{
    if (peek_type(p, 0) != t) {
        return syntax_error(p, expecting);
    }
    next(p);
    return 0;
}

static char *tok_text(struct parser *p, const struct tr_logql_token *t)
{
    char *s = tr_arena_strndup(p->a, t->str, t->str_len);
    if (s == NULL) {
        oom(p);
    }
    return s;
}

static void *alloc0(struct parser *p, size_t size)
{
    void *v = tr_arena_alloc(p->a, size);
    if (v == NULL) {
        oom(p);
        return NULL;
    }
    memset(v, 0, size);
    return v;
}

/* Appends one element of size elem to *arr (holding *n, room *cap). */
static void *push(struct parser *p,
                  void *arr_p,
                  size_t *n,
                  size_t *cap,
                  size_t elem)
{
    void **arr = arr_p;
    if (*n == *cap) {
        void *g = tr_arena_array_grow(p->a, *arr, *n, cap, elem, 4);
        if (g == NULL) {
            oom(p);
            return NULL;
        }
        *arr = g;
    }
    void *slot = (char *)*arr + *n * elem;
    memset(slot, 0, elem);
    (*n)++;
    return slot;
}

static bool enter(struct parser *p)
{
    if (++p->depth > TR_LOGQL_MAX_DEPTH) {
        fail(p, "query too deeply nested (more than %d levels)",
             TR_LOGQL_MAX_DEPTH);
        return false;
    }
    return true;
}

static void leave(struct parser *p)
{
    p->depth--;
}

/* Go's strconv.Atoi for NUMBER text (no sign possible). */
static bool atoi_go(const char *s, size_t n, int64_t *out)
{
    if (n == 0) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > (uint64_t)INT64_MAX) {
            return false;
        }
    }
    *out = (int64_t)v;
    return true;
}

/* ---- matchers
 * ------------------------------------------------------------------- */

static bool is_match_op(enum tr_logql_tok t, enum tr_match_type *mt)
{
    switch (t) {
        case T(EQ):
            *mt = TR_MATCH_EQ;
            return true;
        case T(NEQ):
            *mt = TR_MATCH_NEQ;
            return true;
        case T(RE):
            *mt = TR_MATCH_RE;
            return true;
        case T(NRE):
            *mt = TR_MATCH_NRE;
            return true;
        default:
            return false;
    }
}

/* Compiles a matcher (Loki's mustNewMatcher: errors stop parsing). */
static int make_matcher(struct parser *p,
                        struct tr_matcher *m,
                        enum tr_match_type mt,
                        const struct tr_logql_token *name,
                        const struct tr_logql_token *value)
{
    char *nm = tok_text(p, name);
    if (nm == NULL) {
        return p->rc;
    }
    char msg[TR_ERRMSG_SIZE];
    int rc = tr_matcher_init(m, mt, nm, value->str, value->str_len, msg);
    if (rc == TR_ENOMEM) {
        return oom(p);
    }
    if (rc != 0) {
        return fail(p, "%s", msg);
    }
    if (own(p, m, NULL) != 0) {
        tr_matcher_free(m);
        return oom(p);
    }
    return 0;
}

/* {a="b", c=~"d"} */
static int parse_selector(struct parser *p, struct tr_logql_log *log)
{
    int rc = expect(p, T(OPEN_BRACE), NULL);
    if (rc != 0) {
        return rc;
    }
    if (peek_type(p, 0) == T(CLOSE_BRACE)) {
        next(p);
        return 0;
    }
    size_t cap = 0;
    for (;;) {
        if (peek_type(p, 0) != T(IDENTIFIER)) {
            return syntax_error(
                p, log->n_matchers == 0 ? "IDENTIFIER or }" : "IDENTIFIER");
        }
        const struct tr_logql_token *name = next(p);
        enum tr_match_type mt;
        if (!is_match_op(peek_type(p, 0), &mt)) {
            return syntax_error(p, "= or =~ or !~ or !=");
        }
        next(p);
        if (peek_type(p, 0) != T(STRING)) {
            return syntax_error(p, "STRING");
        }
        const struct tr_logql_token *value = next(p);
        struct tr_matcher *m =
            push(p, &log->matchers, &log->n_matchers, &cap, sizeof(*m));
        if (m == NULL) {
            return p->rc;
        }
        rc = make_matcher(p, m, mt, name, value);
        if (rc != 0) {
            log->n_matchers--;
            return rc;
        }
        if (peek_type(p, 0) == T(COMMA)) {
            next(p);
            continue;
        }
        if (peek_type(p, 0) == T(CLOSE_BRACE)) {
            next(p);
            return 0;
        }
        return syntax_error(p, "} or ,");
    }
}

/* ---- patterns (pattern parser and |> filters)
 * ------------------------------------ */

static bool pat_ident_char(char c, bool first)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (!first && c >= '0' && c <= '9');
}

/* Splits a pattern into literals and <captures>. */
static int parse_pattern(struct parser *p,
                         const char *s,
                         size_t n,
                         struct tr_logql_pattern *out)
{
    size_t cap = 0;
    size_t lit = 0; /* start of the pending literal */
    size_t i = 0;
    memset(out, 0, sizeof(*out));
    while (i < n) {
        if (s[i] == '<' && i + 1 < n && pat_ident_char(s[i + 1], true)) {
            size_t j = i + 2;
            while (j < n && pat_ident_char(s[j], false)) {
                j++;
            }
            if (j < n && s[j] == '>') {
                struct tr_logql_pattern_part *part;
                if (i > lit) {
                    part = push(p, &out->parts, &out->n_parts, &cap,
                                sizeof(*part));
                    if (part == NULL) {
                        return p->rc;
                    }
                    part->text = tr_arena_strndup(p->a, s + lit, i - lit);
                    part->len = i - lit;
                    if (part->text == NULL) {
                        return oom(p);
                    }
                }
                part = push(p, &out->parts, &out->n_parts, &cap, sizeof(*part));
                if (part == NULL) {
                    return p->rc;
                }
                part->capture = true;
                part->text = tr_arena_strndup(p->a, s + i + 1, j - i - 1);
                part->len = j - i - 1;
                if (part->text == NULL) {
                    return oom(p);
                }
                i = j + 1;
                lit = i;
                continue;
            }
        }
        i++;
    }
    if (n > lit) {
        struct tr_logql_pattern_part *part =
            push(p, &out->parts, &out->n_parts, &cap, sizeof(*part));
        if (part == NULL) {
            return p->rc;
        }
        part->text = tr_arena_strndup(p->a, s + lit, n - lit);
        part->len = n - lit;
        if (part->text == NULL) {
            return oom(p);
        }
    }
    return 0;
}

/* Loki's pattern validation; returns the error text or NULL.
 * line_filter: only <_> captures allowed, none required. */
static const char *check_pattern(const struct tr_logql_pattern *pt,
                                 bool line_filter,
                                 char *buf,
                                 size_t size)
{
    size_t named = 0;
    for (size_t i = 0; i < pt->n_parts; i++) {
        const struct tr_logql_pattern_part *a = &pt->parts[i];
        if (!a->capture) {
            continue;
        }
        if (i + 1 < pt->n_parts && pt->parts[i + 1].capture) {
            snprintf(buf, size,
                     "found consecutive capture '<%s><%s>': invalid expression",
                     a->text, pt->parts[i + 1].text);
            return buf;
        }
        if (strcmp(a->text, "_") != 0) {
            named++;
        }
    }
    if (line_filter) {
        for (size_t i = 0; i < pt->n_parts; i++) {
            if (pt->parts[i].capture && strcmp(pt->parts[i].text, "_") != 0) {
                snprintf(buf, size,
                         "named captures are not allowed: found '<%s>'",
                         pt->parts[i].text);
                return buf;
            }
        }
        return NULL;
    }
    if (named == 0) {
        return "at least one capture is required";
    }
    for (size_t i = 0; i < pt->n_parts; i++) {
        if (!pt->parts[i].capture || strcmp(pt->parts[i].text, "_") == 0) {
            continue;
        }
        for (size_t k = i + 1; k < pt->n_parts; k++) {
            if (pt->parts[k].capture &&
                strcmp(pt->parts[i].text, pt->parts[k].text) == 0) {
                snprintf(buf, size,
                         "duplicate capture name (%s): invalid expression",
                         pt->parts[i].text);
                return buf;
            }
        }
    }
    return NULL;
}

/* The named groups (?P<name>...) / (?<name>...) of a regex; counts every
 * capturing group in *groups. */
static int regex_names(struct parser *p,
                       const char *s,
                       size_t n,
                       const char ***names,
                       size_t *n_names,
                       size_t *groups)
{
    size_t cap = 0;
    *names = NULL;
    *n_names = 0;
    *groups = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\') {
            i++;
            continue;
        }
        if (s[i] == '[') {
            size_t j = i + 1;
            if (j < n && s[j] == '^') {
                j++;
            }
            if (j < n && s[j] == ']') {
                j++;
            }
            for (; j < n && s[j] != ']'; j++) {
                if (s[j] == '\\') {
                    j++;
                } else if (s[j] == '[' && j + 1 < n && s[j + 1] == ':') {
                    const char *e = strstr(s + j + 2, ":]");
                    if (e != NULL && (size_t)(e - s) < n) {
                        j = (size_t)(e - s) + 1;
                    }
                }
            }
            i = j;
            continue;
        }
        if (s[i] != '(') {
            continue;
        }
        if (i + 1 < n && s[i + 1] == '?') {
            size_t j = i + 2;
            if (j < n && s[j] == 'P') {
                j++;
            }
            if (j < n && s[j] == '<') {
                size_t k = j + 1;
                while (k < n && s[k] != '>') {
                    k++;
                }
                (*groups)++;
                const char **slot =
                    push(p, names, n_names, &cap, sizeof(*slot));
                if (slot == NULL) {
                    return p->rc;
                }
                *slot = tr_arena_strndup(p->a, s + j + 1, k - j - 1);
                if (*slot == NULL) {
                    return oom(p);
                }
            }
            continue;
        }
        (*groups)++;
    }
    return 0;
}

static bool valid_label_name(const char *s)
{
    if (*s == '\0') {
        return false;
    }
    for (const char *c = s; *c != '\0'; c++) {
        if (!pat_ident_char(*c, c == s)) {
            return false;
        }
    }
    return true;
}

/* ---- ip() patterns
 * --------------------------------------------------------------- */

static bool parse_ip(const char *s, size_t n, unsigned char *buf, int *family)
{
    char tmp[64];
    if (n == 0 || n >= sizeof(tmp)) {
        return false;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (inet_pton(AF_INET, tmp, buf) == 1) {
        *family = 4;
        return true;
    }
    if (inet_pton(AF_INET6, tmp, buf) == 1) {
        *family = 6;
        return true;
    }
    return false;
}

/* An address, a range "a-b" or a CIDR prefix "a/n". */
static bool ip_pattern_ok(const char *s, size_t n)
{
    unsigned char a[16], b[16];
    int fa, fb;
    const char *slash = memchr(s, '/', n);
    if (slash != NULL) {
        size_t an = (size_t)(slash - s);
        if (!parse_ip(s, an, a, &fa)) {
            return false;
        }
        const char *d = slash + 1;
        size_t dn = n - an - 1;
        if (dn == 0 || dn > 3) {
            return false;
        }
        int bits = 0;
        for (size_t i = 0; i < dn; i++) {
            if (d[i] < '0' || d[i] > '9') {
                return false;
            }
            bits = bits * 10 + (d[i] - '0');
        }
        return bits <= (fa == 4 ? 32 : 128);
    }
    const char *dash = memchr(s, '-', n);
    if (dash != NULL) {
        size_t an = (size_t)(dash - s);
        return parse_ip(s, an, a, &fa) &&
               parse_ip(dash + 1, n - an - 1, b, &fb) && fa == fb &&
               memcmp(a, b, fa == 4 ? 4 : 16) <= 0;
    }
    return parse_ip(s, n, a, &fa);
}

/* ---- label filters
 * ------------------------------------------------------------------ */

static int parse_lf_expr(struct parser *p,
                         int min_prec,
                         struct tr_logql_label_filter **out);

static struct tr_logql_label_filter *lf_new(struct parser *p,
                                            enum tr_logql_lf_kind kind)
{
    struct tr_logql_label_filter *f = alloc0(p, sizeof(*f));
    if (f != NULL) {
        f->kind = kind;
    }
    return f;
}

static struct tr_logql_label_filter *lf_bin(struct parser *p,
                                            enum tr_logql_lf_kind kind,
                                            struct tr_logql_label_filter *l,
                                            struct tr_logql_label_filter *r)
{
    struct tr_logql_label_filter *f = lf_new(p, kind);
    if (f != NULL) {
        f->bin.left = l;
        f->bin.right = r;
    }
    return f;
}

static bool cmp_of(enum tr_logql_tok t, enum tr_logql_cmp *c)
{
    switch (t) {
        case T(EQ):
        case T(CMP_EQ):
            *c = TR_LOGQL_CMP_EQ;
            return true;
        case T(NEQ):
            *c = TR_LOGQL_CMP_NEQ;
            return true;
        case T(GT):
            *c = TR_LOGQL_CMP_GT;
            return true;
        case T(GTE):
            *c = TR_LOGQL_CMP_GTE;
            return true;
        case T(LT):
            *c = TR_LOGQL_CMP_LT;
            return true;
        case T(LTE):
            *c = TR_LOGQL_CMP_LTE;
            return true;
        default:
            return false;
    }
}

/* name op value, or ( filter ) */
static int parse_lf_primary(struct parser *p,
                            struct tr_logql_label_filter **out)
{
    int rc;
    if (peek_type(p, 0) == T(OPEN_PARENTHESIS)) {
        next(p);
        if (!enter(p)) {
            return p->rc;
        }
        rc = parse_lf_expr(p, 1, out);
        leave(p);
        if (rc != 0) {
            return rc;
        }
        return expect(p, T(CLOSE_PARENTHESIS), NULL);
    }
    if (peek_type(p, 0) != T(IDENTIFIER)) {
        return syntax_error(p, NULL);
    }
    const struct tr_logql_token *name = next(p);
    enum tr_logql_tok op = peek_type(p, 0);
    enum tr_logql_cmp cmp = TR_LOGQL_CMP_EQ;
    if (!cmp_of(op, &cmp) && op != T(RE) && op != T(NRE)) {
        return syntax_error(p, NULL);
    }
    next(p);
    enum tr_logql_tok vt = peek_type(p, 0);
    struct tr_logql_label_filter *f;
    if (vt == T(STRING) &&
        (op == T(EQ) || op == T(NEQ) || op == T(RE) || op == T(NRE))) {
        const struct tr_logql_token *value = next(p);
        enum tr_match_type mt;
        is_match_op(op, &mt);
        f = lf_new(p, TR_LOGQL_LF_STRING);
        if (f == NULL) {
            return p->rc;
        }
        rc = make_matcher(p, &f->matcher, mt, name, value);
        if (rc != 0) {
            return rc;
        }
        *out = f;
        return 0;
    }
    if (vt == T(IP) && (op == T(EQ) || op == T(NEQ))) {
        next(p);
        if ((rc = expect(p, T(OPEN_PARENTHESIS), "(")) != 0) {
            return rc;
        }
        if (peek_type(p, 0) != T(STRING)) {
            return syntax_error(p, "STRING");
        }
        const struct tr_logql_token *pat = next(p);
        if ((rc = expect(p, T(CLOSE_PARENTHESIS), ")")) != 0) {
            return rc;
        }
        f = lf_new(p, TR_LOGQL_LF_IP);
        if (f == NULL) {
            return p->rc;
        }
        f->ip.name = tok_text(p, name);
        f->ip.negate = op == T(NEQ);
        f->ip.pattern = pat->str;
        f->ip.pattern_len = pat->str_len;
        if (f->ip.name == NULL) {
            return p->rc;
        }
        if (!ip_pattern_ok(pat->str, pat->str_len)) {
            stage_err(p, "ip: invalid pattern");
        }
        *out = f;
        return 0;
    }
    if (op == T(RE) || op == T(NRE)) {
        return syntax_error(p, "STRING");
    }
    if (vt == T(DURATION)) {
        const struct tr_logql_token *v = next(p);
        f = lf_new(p, TR_LOGQL_LF_DURATION);
        if (f == NULL || (f->duration.name = tok_text(p, name)) == NULL) {
            return p->rc;
        }
        f->duration.op = cmp;
        f->duration.ns = v->dur_ns;
        *out = f;
        return 0;
    }
    if (vt == T(BYTES)) {
        const struct tr_logql_token *v = next(p);
        f = lf_new(p, TR_LOGQL_LF_BYTES);
        if (f == NULL || (f->bytes.name = tok_text(p, name)) == NULL) {
            return p->rc;
        }
        f->bytes.op = cmp;
        f->bytes.bytes = v->bytes;
        *out = f;
        return 0;
    }
    bool neg = false;
    if (vt == T(ADD) || vt == T(SUB)) {
        neg = vt == T(SUB);
        next(p);
        if (peek_type(p, 0) != T(NUMBER)) {
            return syntax_error(p, "NUMBER");
        }
    } else if (vt != T(NUMBER)) {
        return syntax_error(p, NULL);
    }
    const struct tr_logql_token *num = next(p);
    double v;
    char msg[TR_ERRMSG_SIZE];
    if (tr_logql_parse_float(num->str, num->str_len, &v, msg) != 0) {
        return fail(p, "unable to parse literal as a float: %s", msg);
    }
    f = lf_new(p, TR_LOGQL_LF_NUMBER);
    if (f == NULL || (f->number.name = tok_text(p, name)) == NULL) {
        return p->rc;
    }
    f->number.op = cmp;
    f->number.value = neg ? -v : v;
    *out = f;
    return 0;
}

/* A primary, and with "," or juxtaposition the whole rest as its right
 * operand (yacc shifts on those tokens: they bind to everything after). */
static int parse_lf_unit(struct parser *p, struct tr_logql_label_filter **out)
{
    struct tr_logql_label_filter *left = NULL;
    int rc = parse_lf_primary(p, &left);
    if (rc != 0) {
        return rc;
    }
    enum tr_logql_tok t = peek_type(p, 0);
    if (t == T(COMMA) || t == T(IDENTIFIER) || t == T(OPEN_PARENTHESIS)) {
        if (t == T(COMMA)) {
            next(p);
        }
        if (!enter(p)) {
            return p->rc;
        }
        struct tr_logql_label_filter *right = NULL;
        rc = parse_lf_expr(p, 1, &right);
        leave(p);
        if (rc != 0) {
            return rc;
        }
        left = lf_bin(p, TR_LOGQL_LF_AND, left, right);
        if (left == NULL) {
            return p->rc;
        }
    }
    *out = left;
    return 0;
}

/* Precedence climbing: or (1) < and (2), left-associative. */
static int parse_lf_expr(struct parser *p,
                         int min_prec,
                         struct tr_logql_label_filter **out)
{
    struct tr_logql_label_filter *left = NULL;
    int rc = parse_lf_unit(p, &left);
    if (rc != 0) {
        return rc;
    }
    for (;;) {
        enum tr_logql_tok t = peek_type(p, 0);
        int prec = t == T(OR) ? 1 : t == T(AND) ? 2 : 0;
        if (prec == 0 || prec < min_prec) {
            break;
        }
        next(p);
        struct tr_logql_label_filter *right = NULL;
        if (!enter(p)) {
            return p->rc;
        }
        rc = parse_lf_expr(p, prec + 1, &right);
        leave(p);
        if (rc != 0) {
            return rc;
        }
        left = lf_bin(p, t == T(OR) ? TR_LOGQL_LF_OR : TR_LOGQL_LF_AND, left,
                      right);
        if (left == NULL) {
            return p->rc;
        }
    }
    *out = left;
    return 0;
}

/* ---- pipeline stages
 * ---------------------------------------------------------------- */

static bool line_op_of(enum tr_logql_tok t, enum tr_logql_line_op *op)
{
    switch (t) {
        case T(PIPE_EXACT):
            *op = TR_LOGQL_LINE_CONTAINS;
            return true;
        case T(NEQ):
            *op = TR_LOGQL_LINE_NOT_CONTAINS;
            return true;
        case T(PIPE_MATCH):
            *op = TR_LOGQL_LINE_MATCH;
            return true;
        case T(NRE):
            *op = TR_LOGQL_LINE_NOT_MATCH;
            return true;
        case T(PIPE_PATTERN):
            *op = TR_LOGQL_LINE_PATTERN;
            return true;
        case T(NPA):
            *op = TR_LOGQL_LINE_NOT_PATTERN;
            return true;
        default:
            return false;
    }
}

/* STRING or ip("...") of a line filter, compiled for op. */
static int parse_line_alt(struct parser *p,
                          enum tr_logql_line_op op,
                          struct tr_logql_line_alt *alt)
{
    int rc;
    if (peek_type(p, 0) == T(IP)) {
        next(p);
        if ((rc = expect(p, T(OPEN_PARENTHESIS), "(")) != 0) {
            return rc;
        }
        if (peek_type(p, 0) != T(STRING)) {
            return syntax_error(p, "STRING");
        }
        const struct tr_logql_token *s = next(p);
        if ((rc = expect(p, T(CLOSE_PARENTHESIS), ")")) != 0) {
            return rc;
        }
        alt->ip = true;
        alt->text = s->str;
        alt->len = s->str_len;
        if (op != TR_LOGQL_LINE_CONTAINS && op != TR_LOGQL_LINE_NOT_CONTAINS) {
            stage_err(p, "ip: invalid operation");
        } else if (!ip_pattern_ok(s->str, s->str_len)) {
            stage_err(p, "ip: invalid pattern");
        }
        return 0;
    }
    if (peek_type(p, 0) != T(STRING)) {
        return syntax_error(p, "STRING or ip");
    }
    const struct tr_logql_token *s = next(p);
    alt->text = s->str;
    alt->len = s->str_len;
    if (op == TR_LOGQL_LINE_MATCH || op == TR_LOGQL_LINE_NOT_MATCH) {
        char msg[TR_ERRMSG_SIZE];
        rc = tr_regex_compile(s->str, s->str_len, false, &alt->re, msg);
        if (rc == TR_ENOMEM) {
            return oom(p);
        }
        if (rc != 0) {
            alt->re = NULL;
            stage_err(p, "%s", msg);
        } else if (own(p, NULL, alt->re) != 0) {
            tr_regex_free(alt->re);
            alt->re = NULL;
            return oom(p);
        }
    } else if (op == TR_LOGQL_LINE_PATTERN || op == TR_LOGQL_LINE_NOT_PATTERN) {
        if ((rc = parse_pattern(p, s->str, s->str_len, &alt->pattern)) != 0) {
            return rc;
        }
        char buf[TR_ERRMSG_SIZE];
        const char *e = check_pattern(&alt->pattern, true, buf, sizeof(buf));
        if (e != NULL) {
            stage_err(p, "%s", e);
        }
    }
    return 0;
}

/* A line filter with its or-chain; a negative one becomes one stage per
 * operand (Loki's rewrite). */
static int parse_line_filter(struct parser *p,
                             struct tr_logql_log *log,
                             size_t *cap)
{
    enum tr_logql_line_op op = TR_LOGQL_LINE_CONTAINS;
    line_op_of(next(p)->type, &op);
    struct tr_logql_line_alt *alts = NULL;
    size_t n = 0, acap = 0;
    for (;;) {
        struct tr_logql_line_alt *alt = push(p, &alts, &n, &acap, sizeof(*alt));
        if (alt == NULL) {
            return p->rc;
        }
        int rc = parse_line_alt(p, op, alt);
        if (rc != 0) {
            return rc;
        }
        if (peek_type(p, 0) != T(OR)) {
            break;
        }
        next(p);
    }
    bool negative = op == TR_LOGQL_LINE_NOT_CONTAINS ||
                    op == TR_LOGQL_LINE_NOT_MATCH ||
                    op == TR_LOGQL_LINE_NOT_PATTERN;
    for (size_t i = 0; i < (negative ? n : 1); i++) {
        struct tr_logql_stage *st =
            push(p, &log->stages, &log->n_stages, cap, sizeof(*st));
        if (st == NULL) {
            return p->rc;
        }
        st->kind = TR_LOGQL_STAGE_LINE_FILTER;
        st->line_filter.op = op;
        st->line_filter.alts = negative ? &alts[i] : alts;
        st->line_filter.n_alts = negative ? 1 : n;
    }
    return 0;
}

/* a="x.y", b */
static int parse_extractions(struct parser *p,
                             struct tr_logql_extract **out,
                             size_t *n)
{
    size_t cap = 0;
    for (;;) {
        if (peek_type(p, 0) != T(IDENTIFIER)) {
            return syntax_error(p, "IDENTIFIER");
        }
        const struct tr_logql_token *id = next(p);
        struct tr_logql_extract *x = push(p, out, n, &cap, sizeof(*x));
        if (x == NULL || (x->label = tok_text(p, id)) == NULL) {
            return p->rc;
        }
        if (peek_type(p, 0) == T(EQ)) {
            next(p);
            if (peek_type(p, 0) != T(STRING)) {
                return syntax_error(p, "STRING");
            }
            const struct tr_logql_token *s = next(p);
            x->expr = s->str;
            x->expr_len = s->str_len;
        } else {
            x->expr = x->label;
            x->expr_len = strlen(x->label);
        }
        if (peek_type(p, 0) != T(COMMA)) {
            return 0;
        }
        next(p);
    }
}

/* drop / keep: a, b="v" */
static int parse_named_matchers(struct parser *p, struct tr_logql_stage *st)
{
    size_t cap = 0;
    for (;;) {
        if (peek_type(p, 0) != T(IDENTIFIER)) {
            return syntax_error(p, "IDENTIFIER");
        }
        const struct tr_logql_token *id = next(p);
        struct tr_logql_named_matcher *it =
            push(p, &st->names.items, &st->names.n_items, &cap, sizeof(*it));
        if (it == NULL) {
            return p->rc;
        }
        enum tr_match_type mt;
        if (is_match_op(peek_type(p, 0), &mt)) {
            next(p);
            if (peek_type(p, 0) != T(STRING)) {
                return syntax_error(p, "STRING");
            }
            const struct tr_logql_token *v = next(p);
            int rc = make_matcher(p, &it->matcher, mt, id, v);
            if (rc != 0) {
                return rc;
            }
            it->has_matcher = true;
        } else if ((it->name = tok_text(p, id)) == NULL) {
            return p->rc;
        }
        if (peek_type(p, 0) != T(COMMA)) {
            return 0;
        }
        next(p);
    }
}

/* label_format a=b, c="{{.d}}" */
static int parse_label_format(struct parser *p, struct tr_logql_stage *st)
{
    size_t cap = 0;
    for (;;) {
        if (peek_type(p, 0) != T(IDENTIFIER)) {
            return syntax_error(p, "IDENTIFIER");
        }
        const struct tr_logql_token *dst = next(p);
        int rc = expect(p, T(EQ), "=");
        if (rc != 0) {
            return rc;
        }
        struct tr_logql_label_fmt *f =
            push(p, &st->label_format.fmts, &st->label_format.n_fmts, &cap,
                 sizeof(*f));
        if (f == NULL || (f->dst = tok_text(p, dst)) == NULL) {
            return p->rc;
        }
        if (peek_type(p, 0) == T(IDENTIFIER)) {
            const struct tr_logql_token *src = next(p);
            f->rename = true;
            if ((f->value = tok_text(p, src)) == NULL) {
                return p->rc;
            }
            f->value_len = src->str_len;
        } else if (peek_type(p, 0) == T(STRING)) {
            const struct tr_logql_token *s = next(p);
            f->value = s->str;
            f->value_len = s->str_len;
        } else {
            return syntax_error(p, "IDENTIFIER or STRING");
        }
        if (peek_type(p, 0) != T(COMMA)) {
            return 0;
        }
        next(p);
    }
}

static int parse_regexp_stage(struct parser *p, struct tr_logql_stage *st)
{
    if (peek_type(p, 0) != T(STRING)) {
        return syntax_error(p, "STRING");
    }
    const struct tr_logql_token *s = next(p);
    st->regexp.re = s->str;
    st->regexp.len = s->str_len;
    /* Go's regexp accepts a name twice, PCRE2 does not: check names first */
    size_t groups;
    int rc = regex_names(p, s->str, s->str_len, &st->regexp.names,
                         &st->regexp.n_names, &groups);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < st->regexp.n_names; i++) {
        const char *nm = st->regexp.names[i];
        for (size_t k = 0; k < i; k++) {
            if (strcmp(st->regexp.names[k], nm) == 0) {
                return fail(p,
                            "invalid regexp parser: duplicate extracted label "
                            "name '%s'",
                            nm);
            }
        }
    }
    struct tr_regex *re = NULL;
    char msg[TR_ERRMSG_SIZE];
    rc = tr_regex_compile(s->str, s->str_len, false, &re, msg);
    if (rc == TR_ENOMEM) {
        return oom(p);
    }
    tr_regex_free(re);
    if (rc != 0) {
        return fail(p, "invalid regexp parser: %s", msg);
    }
    if (groups == 0) {
        return fail(p,
                    "invalid regexp parser: at least one named capture must be "
                    "supplied");
    }
    for (size_t i = 0; i < st->regexp.n_names; i++) {
        if (!valid_label_name(st->regexp.names[i])) {
            return fail(p,
                        "invalid regexp parser: invalid extracted label name "
                        "'%s'",
                        st->regexp.names[i]);
        }
    }
    if (st->regexp.n_names == 0) {
        return fail(p,
                    "invalid regexp parser: at least one named capture must be "
                    "supplied");
    }
    return 0;
}

static int parse_pattern_stage(struct parser *p, struct tr_logql_stage *st)
{
    if (peek_type(p, 0) != T(STRING)) {
        return syntax_error(p, "STRING");
    }
    const struct tr_logql_token *s = next(p);
    st->pattern.text = s->str;
    st->pattern.len = s->str_len;
    int rc = parse_pattern(p, s->str, s->str_len, &st->pattern.pattern);
    if (rc != 0) {
        return rc;
    }
    char buf[TR_ERRMSG_SIZE];
    const char *e =
        check_pattern(&st->pattern.pattern, false, buf, sizeof(buf));
    if (e != NULL) {
        return fail(p, "invalid pattern parser: %s", e);
    }
    return 0;
}

/* Stages after a selector, up to a token that starts none (or "| unwrap"
 * when stop_at_unwrap). */
static int parse_pipeline(struct parser *p,
                          struct tr_logql_log *log,
                          bool stop_at_unwrap)
{
    size_t cap = log->n_stages;
    for (;;) {
        enum tr_logql_tok t = peek_type(p, 0);
        enum tr_logql_line_op lop;
        int rc = 0;
        if (line_op_of(t, &lop)) {
            rc = parse_line_filter(p, log, &cap);
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        if (t != T(PIPE)) {
            return 0;
        }
        if (stop_at_unwrap && peek_type(p, 1) == T(UNWRAP)) {
            return 0;
        }
        next(p);
        t = peek_type(p, 0);
        struct tr_logql_stage *st =
            push(p, &log->stages, &log->n_stages, &cap, sizeof(*st));
        if (st == NULL) {
            return p->rc;
        }
        switch (t) {
            case T(LOGFMT):
                next(p);
                st->kind = TR_LOGQL_STAGE_LOGFMT;
                while (peek_type(p, 0) == T(FUNCTION_FLAG)) {
                    const struct tr_logql_token *f = next(p);
                    if (f->str_len == 8) {
                        st->logfmt.strict = true;
                    } else {
                        st->logfmt.keep_empty = true;
                    }
                }
                if (peek_type(p, 0) == T(IDENTIFIER)) {
                    rc = parse_extractions(p, &st->logfmt.params,
                                           &st->logfmt.n_params);
                }
                break;
            case T(JSON):
                next(p);
                st->kind = TR_LOGQL_STAGE_JSON;
                if (peek_type(p, 0) == T(IDENTIFIER)) {
                    rc = parse_extractions(p, &st->json.params,
                                           &st->json.n_params);
                }
                break;
            case T(REGEXP):
                next(p);
                st->kind = TR_LOGQL_STAGE_REGEXP;
                rc = parse_regexp_stage(p, st);
                break;
            case T(PATTERN):
                next(p);
                st->kind = TR_LOGQL_STAGE_PATTERN;
                rc = parse_pattern_stage(p, st);
                break;
            case T(UNPACK):
                next(p);
                st->kind = TR_LOGQL_STAGE_UNPACK;
                break;
            case T(LINE_FMT):
                next(p);
                st->kind = TR_LOGQL_STAGE_LINE_FORMAT;
                if (peek_type(p, 0) != T(STRING)) {
                    return syntax_error(p, "STRING");
                }
                st->line_format.tmpl = peek(p, 0)->str;
                st->line_format.len = next(p)->str_len;
                break;
            case T(LABEL_FMT):
                next(p);
                st->kind = TR_LOGQL_STAGE_LABEL_FORMAT;
                rc = parse_label_format(p, st);
                break;
            case T(DECOLORIZE):
                next(p);
                st->kind = TR_LOGQL_STAGE_DECOLORIZE;
                break;
            case T(DROP):
            case T(KEEP):
                next(p);
                st->kind =
                    t == T(DROP) ? TR_LOGQL_STAGE_DROP : TR_LOGQL_STAGE_KEEP;
                rc = parse_named_matchers(p, st);
                break;
            case T(IDENTIFIER):
            case T(OPEN_PARENTHESIS):
                st->kind = TR_LOGQL_STAGE_LABEL_FILTER;
                rc = parse_lf_expr(p, 1, &st->label_filter);
                break;
            default:
                log->n_stages--;
                return syntax_error(p, NULL);
        }
        if (rc != 0) {
            return rc;
        }
    }
}

/* ---- expressions
 * ------------------------------------------------------------------- */

static int parse_expr(struct parser *p,
                      int min_prec,
                      struct tr_logql_expr **out);

static struct tr_logql_expr *expr_new(struct parser *p,
                                      enum tr_logql_expr_kind kind)
{
    struct tr_logql_expr *e = alloc0(p, sizeof(*e));
    if (e != NULL) {
        e->kind = kind;
    }
    return e;
}

/* ( labels ) with possibly no label; the "(" is the current token. */
static int parse_labels(struct parser *p, struct tr_logql_labels *out)
{
    int rc = expect(p, T(OPEN_PARENTHESIS), "(");
    if (rc != 0) {
        return rc;
    }
    size_t cap = 0;
    memset(out, 0, sizeof(*out));
    if (peek_type(p, 0) == T(CLOSE_PARENTHESIS)) {
        next(p);
        return 0;
    }
    for (;;) {
        if (peek_type(p, 0) != T(IDENTIFIER)) {
            return syntax_error(p,
                                out->n == 0 ? "IDENTIFIER or )" : "IDENTIFIER");
        }
        const struct tr_logql_token *id = next(p);
        const char **slot = push(p, &out->names, &out->n, &cap, sizeof(*slot));
        if (slot == NULL || (*slot = tok_text(p, id)) == NULL) {
            return p->rc;
        }
        if (peek_type(p, 0) == T(COMMA)) {
            next(p);
            continue;
        }
        return expect(p, T(CLOSE_PARENTHESIS), ", or )");
    }
}

static int parse_grouping(struct parser *p, struct tr_logql_grouping *g)
{
    g->present = true;
    g->without = next(p)->type == T(WITHOUT);
    return parse_labels(p, &g->labels);
}

/* | unwrap x, | unwrap bytes(x), then | label filters */
static int parse_unwrap(struct parser *p, struct tr_logql_unwrap *u)
{
    next(p); /* | */
    next(p); /* unwrap */
    enum tr_logql_tok t = peek_type(p, 0);
    int rc;
    if (t == T(BYTES_CONV) || t == T(DURATION_CONV) ||
        t == T(DURATION_SECONDS_CONV)) {
        next(p);
        u->conv = t == T(BYTES_CONV)      ? TR_LOGQL_CONV_BYTES
                  : t == T(DURATION_CONV) ? TR_LOGQL_CONV_DURATION
                                          : TR_LOGQL_CONV_DURATION_SECONDS;
        if ((rc = expect(p, T(OPEN_PARENTHESIS), "(")) != 0) {
            return rc;
        }
        if (peek_type(p, 0) != T(IDENTIFIER)) {
            return syntax_error(p, "IDENTIFIER");
        }
        if ((u->label = tok_text(p, next(p))) == NULL) {
            return p->rc;
        }
        if ((rc = expect(p, T(CLOSE_PARENTHESIS), ")")) != 0) {
            return rc;
        }
    } else if (t == T(IDENTIFIER)) {
        if ((u->label = tok_text(p, next(p))) == NULL) {
            return p->rc;
        }
    } else {
        return syntax_error(p, NULL);
    }
    size_t cap = 0;
    while (peek_type(p, 0) == T(PIPE)) {
        next(p);
        struct tr_logql_label_filter **slot =
            push(p, &u->post_filters, &u->n_post_filters, &cap, sizeof(*slot));
        if (slot == NULL) {
            return p->rc;
        }
        if ((rc = parse_lf_expr(p, 1, slot)) != 0) {
            return rc;
        }
    }
    return 0;
}

static int parse_offset(struct parser *p, int64_t *ns)
{
    if (peek_type(p, 0) != T(OFFSET)) {
        return 0;
    }
    next(p);
    if (peek_type(p, 0) != T(DURATION)) {
        return syntax_error(p, "DURATION");
    }
    *ns = next(p)->dur_ns;
    return 0;
}

/* A log range: the forms of Loki's logRangeExpr rule. */
static int parse_log_range(struct parser *p, struct tr_logql_expr *e)
{
    int rc;
    bool paren = false;
    if (peek_type(p, 0) == T(OPEN_PARENTHESIS)) {
        next(p);
        if (peek_type(p, 0) == T(OPEN_PARENTHESIS)) {
            /* ( logRangeExpr ) */
            if (!enter(p)) {
                return p->rc;
            }
            rc = parse_log_range(p, e);
            leave(p);
            if (rc != 0) {
                return rc;
            }
            return expect(p, T(CLOSE_PARENTHESIS), NULL);
        }
        paren = true;
    }
    if (peek_type(p, 0) != T(OPEN_BRACE)) {
        return syntax_error(p, paren ? NULL : "{ or (");
    }
    if ((rc = parse_selector(p, &e->range.log)) != 0) {
        return rc;
    }
    if ((rc = parse_pipeline(p, &e->range.log, true)) != 0) {
        return rc;
    }
    bool inner = e->range.log.n_stages > 0;
    if (peek_type(p, 0) == T(PIPE) && peek_type(p, 1) == T(UNWRAP)) {
        e->range.has_unwrap = true;
        inner = true;
        if ((rc = parse_unwrap(p, &e->range.unwrap)) != 0) {
            return rc;
        }
    }
    if (paren && peek_type(p, 0) == T(CLOSE_PARENTHESIS)) {
        /* ( selector [pipeline] [unwrap] ) RANGE [offset] [unwrap] */
        next(p);
        if (peek_type(p, 0) != T(RANGE)) {
            return syntax_error(p, "RANGE");
        }
        e->range.range_ns = next(p)->dur_ns;
        if ((rc = parse_offset(p, &e->range.offset_ns)) != 0) {
            return rc;
        }
        if (!inner && peek_type(p, 0) == T(PIPE) &&
            peek_type(p, 1) == T(UNWRAP)) {
            e->range.has_unwrap = true;
            if ((rc = parse_unwrap(p, &e->range.unwrap)) != 0) {
                return rc;
            }
        }
        return 0;
    }
    if (peek_type(p, 0) != T(RANGE)) {
        return syntax_error(p, NULL);
    }
    e->range.range_ns = next(p)->dur_ns;
    if ((rc = parse_offset(p, &e->range.offset_ns)) != 0) {
        return rc;
    }
    if (!inner) {
        /* selector RANGE [offset] [pipeline] [unwrap] */
        if ((rc = parse_pipeline(p, &e->range.log, true)) != 0) {
            return rc;
        }
        if (peek_type(p, 0) == T(PIPE) && peek_type(p, 1) == T(UNWRAP)) {
            e->range.has_unwrap = true;
            if ((rc = parse_unwrap(p, &e->range.unwrap)) != 0) {
                return rc;
            }
        }
    }
    if (paren) {
        return expect(p, T(CLOSE_PARENTHESIS), NULL);
    }
    return 0;
}

static bool range_op_of(enum tr_logql_tok t, enum tr_logql_range_op *op)
{
    static const struct {
        enum tr_logql_tok t;
        enum tr_logql_range_op op;
    } map[] = {
        {T(COUNT_OVER_TIME), TR_LOGQL_RANGE_COUNT_OVER_TIME},
        {T(RATE), TR_LOGQL_RANGE_RATE},
        {T(RATE_COUNTER), TR_LOGQL_RANGE_RATE_COUNTER},
        {T(BYTES_OVER_TIME), TR_LOGQL_RANGE_BYTES_OVER_TIME},
        {T(BYTES_RATE), TR_LOGQL_RANGE_BYTES_RATE},
        {T(AVG_OVER_TIME), TR_LOGQL_RANGE_AVG_OVER_TIME},
        {T(SUM_OVER_TIME), TR_LOGQL_RANGE_SUM_OVER_TIME},
        {T(MIN_OVER_TIME), TR_LOGQL_RANGE_MIN_OVER_TIME},
        {T(MAX_OVER_TIME), TR_LOGQL_RANGE_MAX_OVER_TIME},
        {T(STDVAR_OVER_TIME), TR_LOGQL_RANGE_STDVAR_OVER_TIME},
        {T(STDDEV_OVER_TIME), TR_LOGQL_RANGE_STDDEV_OVER_TIME},
        {T(QUANTILE_OVER_TIME), TR_LOGQL_RANGE_QUANTILE_OVER_TIME},
        {T(FIRST_OVER_TIME), TR_LOGQL_RANGE_FIRST_OVER_TIME},
        {T(LAST_OVER_TIME), TR_LOGQL_RANGE_LAST_OVER_TIME},
        {T(ABSENT_OVER_TIME), TR_LOGQL_RANGE_ABSENT_OVER_TIME},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (map[i].t == t) {
            *op = map[i].op;
            return true;
        }
    }
    return false;
}

static bool vector_op_of(enum tr_logql_tok t, enum tr_logql_vector_op *op)
{
    static const struct {
        enum tr_logql_tok t;
        enum tr_logql_vector_op op;
    } map[] = {
        {T(SUM), TR_LOGQL_VEC_SUM},
        {T(AVG), TR_LOGQL_VEC_AVG},
        {T(COUNT), TR_LOGQL_VEC_COUNT},
        {T(MAX), TR_LOGQL_VEC_MAX},
        {T(MIN), TR_LOGQL_VEC_MIN},
        {T(STDDEV), TR_LOGQL_VEC_STDDEV},
        {T(STDVAR), TR_LOGQL_VEC_STDVAR},
        {T(BOTTOMK), TR_LOGQL_VEC_BOTTOMK},
        {T(TOPK), TR_LOGQL_VEC_TOPK},
        {T(SORT), TR_LOGQL_VEC_SORT},
        {T(SORT_DESC), TR_LOGQL_VEC_SORT_DESC},
        {T(APPROX_TOPK), TR_LOGQL_VEC_APPROX_TOPK},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (map[i].t == t) {
            *op = map[i].op;
            return true;
        }
    }
    return false;
}

/* Loki's RangeAggregationExpr checks (node errors). */
static int check_range_aggr(struct parser *p,
                            struct tr_logql_expr *e,
                            const struct tr_logql_token *param)
{
    enum tr_logql_range_op op = e->range.op;
    const char *name = tr_logql_range_op_name(op);
    if (param != NULL) {
        if (op != TR_LOGQL_RANGE_QUANTILE_OVER_TIME) {
            return node_err(p, e,
                            "parameter %.*s not supported for operation %s",
                            (int)param->str_len, param->str, name);
        }
        char msg[TR_ERRMSG_SIZE];
        if (tr_logql_parse_float(param->str, param->str_len, &e->range.param,
                                 msg) != 0) {
            return node_err(p, e, "invalid parameter for operation %s: %s",
                            name, msg);
        }
        e->range.has_param = true;
    } else if (op == TR_LOGQL_RANGE_QUANTILE_OVER_TIME) {
        return node_err(p, e, "parameter required for operation %s", name);
    }
    if (e->range.grouping.present) {
        switch (op) {
            case TR_LOGQL_RANGE_AVG_OVER_TIME:
            case TR_LOGQL_RANGE_STDDEV_OVER_TIME:
            case TR_LOGQL_RANGE_STDVAR_OVER_TIME:
            case TR_LOGQL_RANGE_QUANTILE_OVER_TIME:
            case TR_LOGQL_RANGE_MAX_OVER_TIME:
            case TR_LOGQL_RANGE_MIN_OVER_TIME:
            case TR_LOGQL_RANGE_FIRST_OVER_TIME:
            case TR_LOGQL_RANGE_LAST_OVER_TIME:
                break;
            default:
                return node_err(p, e, "grouping not allowed for %s aggregation",
                                name);
        }
    }
    if (e->range.has_unwrap) {
        switch (op) {
            case TR_LOGQL_RANGE_COUNT_OVER_TIME:
            case TR_LOGQL_RANGE_BYTES_OVER_TIME:
            case TR_LOGQL_RANGE_BYTES_RATE:
                return node_err(p, e, "invalid aggregation %s with unwrap",
                                name);
            default:
                return 0;
        }
    }
    switch (op) {
        case TR_LOGQL_RANGE_BYTES_OVER_TIME:
        case TR_LOGQL_RANGE_BYTES_RATE:
        case TR_LOGQL_RANGE_COUNT_OVER_TIME:
        case TR_LOGQL_RANGE_RATE:
        case TR_LOGQL_RANGE_ABSENT_OVER_TIME:
            return 0;
        default:
            return node_err(p, e, "invalid aggregation %s without unwrap",
                            name);
    }
}

static int parse_range_aggr(struct parser *p, struct tr_logql_expr **out)
{
    const struct tr_logql_token *optok = next(p);
    struct tr_logql_expr *e = expr_new(p, TR_LOGQL_EXPR_RANGE_AGGR);
    if (e == NULL) {
        return p->rc;
    }
    range_op_of(optok->type, &e->range.op);
    int rc = expect(p, T(OPEN_PARENTHESIS), "(");
    if (rc != 0) {
        return rc;
    }
    const struct tr_logql_token *param = NULL;
    enum tr_logql_tok t = peek_type(p, 0);
    if (t == T(NUMBER)) {
        param = next(p);
        if ((rc = expect(p, T(COMMA), ",")) != 0) {
            return rc;
        }
    } else if (t != T(OPEN_BRACE) && t != T(OPEN_PARENTHESIS)) {
        return syntax_error(p, "NUMBER or { or (");
    }
    if ((rc = parse_log_range(p, e)) != 0) {
        return rc;
    }
    if ((rc = expect(p, T(CLOSE_PARENTHESIS), NULL)) != 0) {
        return rc;
    }
    t = peek_type(p, 0);
    if (t == T(BY) || t == T(WITHOUT)) {
        if ((rc = parse_grouping(p, &e->range.grouping)) != 0) {
            return rc;
        }
    }
    if ((rc = check_range_aggr(p, e, param)) != 0) {
        return rc;
    }
    *out = e;
    return 0;
}

/* A metric expression: a log query in its place is a syntax error at the
 * token after it, as in Loki's grammar. */
static int parse_metric(struct parser *p, struct tr_logql_expr **out)
{
    int rc = parse_expr(p, 1, out);
    if (rc != 0) {
        return rc;
    }
    if ((*out)->kind == TR_LOGQL_EXPR_LOG) {
        return syntax_error(p, NULL);
    }
    return 0;
}

static int parse_vector_aggr(struct parser *p, struct tr_logql_expr **out)
{
    const struct tr_logql_token *optok = next(p);
    struct tr_logql_expr *e = expr_new(p, TR_LOGQL_EXPR_VECTOR_AGGR);
    if (e == NULL) {
        return p->rc;
    }
    enum tr_logql_vector_op op = TR_LOGQL_VEC_SUM;
    vector_op_of(optok->type, &op);
    e->vector_aggr.op = op;
    int rc;
    bool before = false;
    enum tr_logql_tok t = peek_type(p, 0);
    if (t == T(BY) || t == T(WITHOUT)) {
        before = true;
        if ((rc = parse_grouping(p, &e->vector_aggr.grouping)) != 0) {
            return rc;
        }
    }
    if ((rc = expect(p, T(OPEN_PARENTHESIS), "(")) != 0) {
        return rc;
    }
    const struct tr_logql_token *param = NULL;
    if (peek_type(p, 0) == T(NUMBER) && peek_type(p, 1) == T(COMMA)) {
        param = next(p);
        next(p);
    }
    if ((rc = parse_metric(p, &e->vector_aggr.expr)) != 0) {
        return rc;
    }
    if ((rc = expect(p, T(CLOSE_PARENTHESIS), NULL)) != 0) {
        return rc;
    }
    t = peek_type(p, 0);
    if (!before && (t == T(BY) || t == T(WITHOUT))) {
        if ((rc = parse_grouping(p, &e->vector_aggr.grouping)) != 0) {
            return rc;
        }
    }
    *out = e;
    /* Loki's mustNewVectorAggregationExpr checks (node errors) */
    const char *name = tr_logql_vector_op_name(op);
    if (op == TR_LOGQL_VEC_TOPK || op == TR_LOGQL_VEC_BOTTOMK ||
        op == TR_LOGQL_VEC_APPROX_TOPK) {
        if (param == NULL) {
            return node_err(p, e, "parameter required for operation %s", name);
        }
        int64_t k;
        if (!atoi_go(param->str, param->str_len, &k)) {
            return node_err(p, e, "invalid parameter %s(%.*s,", name,
                            (int)param->str_len, param->str);
        }
        if (k <= 0) {
            return node_err(
                p, e, "invalid parameter (must be greater than 0) %s(%.*s",
                name, (int)param->str_len, param->str);
        }
        if (op == TR_LOGQL_VEC_APPROX_TOPK && e->vector_aggr.grouping.present) {
            return node_err(p, e, "grouping not allowed for %s aggregation",
                            name);
        }
        e->vector_aggr.k = k;
    } else if (param != NULL) {
        return node_err(p, e, "unsupported parameter for operation %s(%.*s,",
                        name, (int)param->str_len, param->str);
    }
    return 0;
}

static int parse_label_replace(struct parser *p, struct tr_logql_expr **out)
{
    next(p);
    struct tr_logql_expr *e = expr_new(p, TR_LOGQL_EXPR_LABEL_REPLACE);
    if (e == NULL) {
        return p->rc;
    }
    int rc = expect(p, T(OPEN_PARENTHESIS), "(");
    if (rc != 0) {
        return rc;
    }
    if ((rc = parse_metric(p, &e->label_replace.expr)) != 0) {
        return rc;
    }
    const struct tr_logql_token *s[4];
    for (int i = 0; i < 4; i++) {
        if ((rc = expect(p, T(COMMA), ",")) != 0) {
            return rc;
        }
        if (peek_type(p, 0) != T(STRING)) {
            return syntax_error(p, "STRING");
        }
        s[i] = next(p);
    }
    if ((rc = expect(p, T(CLOSE_PARENTHESIS), ")")) != 0) {
        return rc;
    }
    e->label_replace.dst = s[0]->str;
    e->label_replace.replacement = s[1]->str;
    e->label_replace.replacement_len = s[1]->str_len;
    e->label_replace.src = s[2]->str;
    e->label_replace.regex = s[3]->str;
    e->label_replace.regex_len = s[3]->str_len;
    char msg[TR_ERRMSG_SIZE];
    rc = tr_regex_compile(s[3]->str, s[3]->str_len, true, &e->label_replace.re,
                          msg);
    if (rc == TR_ENOMEM) {
        return oom(p);
    }
    *out = e;
    if (rc != 0) {
        e->label_replace.re = NULL;
        return node_err(p, e, "invalid regex in label_replace: %s", msg);
    }
    if (own(p, NULL, e->label_replace.re) != 0) {
        tr_regex_free(e->label_replace.re);
        e->label_replace.re = NULL;
        return oom(p);
    }
    return 0;
}

static int parse_literal(struct parser *p, bool neg, struct tr_logql_expr **out)
{
    const struct tr_logql_token *num = next(p);
    struct tr_logql_expr *e = expr_new(p, TR_LOGQL_EXPR_LITERAL);
    if (e == NULL) {
        return p->rc;
    }
    *out = e;
    double v = 0;
    char msg[TR_ERRMSG_SIZE];
    if (tr_logql_parse_float(num->str, num->str_len, &v, msg) != 0) {
        return node_err(p, e, "unable to parse literal as a float: %s", msg);
    }
    e->literal.value = neg ? -v : v;
    return 0;
}

static int parse_primary(struct parser *p, struct tr_logql_expr **out)
{
    enum tr_logql_tok t = peek_type(p, 0);
    enum tr_logql_range_op rop;
    enum tr_logql_vector_op vop;
    int rc;
    if (range_op_of(t, &rop)) {
        return parse_range_aggr(p, out);
    }
    if (vector_op_of(t, &vop)) {
        return parse_vector_aggr(p, out);
    }
    switch (t) {
        case T(OPEN_BRACE): {
            struct tr_logql_expr *e = expr_new(p, TR_LOGQL_EXPR_LOG);
            if (e == NULL) {
                return p->rc;
            }
            if ((rc = parse_selector(p, &e->log)) != 0) {
                return rc;
            }
            if ((rc = parse_pipeline(p, &e->log, false)) != 0) {
                return rc;
            }
            *out = e;
            return 0;
        }
        case T(OPEN_PARENTHESIS):
            next(p);
            if ((rc = parse_expr(p, 1, out)) != 0) {
                return rc;
            }
            return expect(p, T(CLOSE_PARENTHESIS), NULL);
        case T(NUMBER):
            return parse_literal(p, false, out);
        case T(ADD):
        case T(SUB):
            next(p);
            if (peek_type(p, 0) != T(NUMBER)) {
                return syntax_error(p, "NUMBER");
            }
            return parse_literal(p, t == T(SUB), out);
        case T(VECTOR): {
            next(p);
            if ((rc = expect(p, T(OPEN_PARENTHESIS), "(")) != 0) {
                return rc;
            }
            if (peek_type(p, 0) != T(NUMBER)) {
                return syntax_error(p, "NUMBER");
            }
            const struct tr_logql_token *num = next(p);
            if ((rc = expect(p, T(CLOSE_PARENTHESIS), ")")) != 0) {
                return rc;
            }
            struct tr_logql_expr *e = expr_new(p, TR_LOGQL_EXPR_VECTOR);
            if (e == NULL) {
                return p->rc;
            }
            *out = e;
            char msg[TR_ERRMSG_SIZE];
            if (tr_logql_parse_float(num->str, num->str_len, &e->vector.value,
                                     msg) != 0) {
                return node_err(
                    p, e, "unable to parse vectorExpr as a float: %s", msg);
            }
            return 0;
        }
        case T(LABEL_REPLACE):
            return parse_label_replace(p, out);
        default:
            return syntax_error(p, NULL);
    }
}

static int binop_of(enum tr_logql_tok t, enum tr_logql_binop *op, int *prec)
{
    static const struct {
        enum tr_logql_tok t;
        enum tr_logql_binop op;
        int prec;
    } map[] = {
        {T(OR), TR_LOGQL_OP_OR, 1},         {T(AND), TR_LOGQL_OP_AND, 2},
        {T(UNLESS), TR_LOGQL_OP_UNLESS, 2}, {T(CMP_EQ), TR_LOGQL_OP_EQ, 3},
        {T(NEQ), TR_LOGQL_OP_NEQ, 3},       {T(GT), TR_LOGQL_OP_GT, 3},
        {T(GTE), TR_LOGQL_OP_GTE, 3},       {T(LT), TR_LOGQL_OP_LT, 3},
        {T(LTE), TR_LOGQL_OP_LTE, 3},       {T(ADD), TR_LOGQL_OP_ADD, 4},
        {T(SUB), TR_LOGQL_OP_SUB, 4},       {T(MUL), TR_LOGQL_OP_MUL, 5},
        {T(DIV), TR_LOGQL_OP_DIV, 5},       {T(MOD), TR_LOGQL_OP_MOD, 5},
        {T(POW), TR_LOGQL_OP_POW, 6},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (map[i].t == t) {
            *op = map[i].op;
            *prec = map[i].prec;
            return 1;
        }
    }
    return 0;
}

/* [bool] [on|ignoring (..) [group_left|group_right [(..)]]] */
static int parse_bin_modifier(struct parser *p, struct tr_logql_expr *e)
{
    int rc;
    if (peek_type(p, 0) == T(BOOL)) {
        next(p);
        e->binary.return_bool = true;
    }
    enum tr_logql_tok t = peek_type(p, 0);
    if (t != T(ON) && t != T(IGNORING)) {
        return 0;
    }
    next(p);
    e->binary.on = t == T(ON);
    if ((rc = parse_labels(p, &e->binary.matching)) != 0) {
        return rc;
    }
    t = peek_type(p, 0);
    if (t != T(GROUP_LEFT) && t != T(GROUP_RIGHT)) {
        return 0;
    }
    next(p);
    e->binary.card = t == T(GROUP_LEFT) ? TR_LOGQL_CARD_MANY_TO_ONE
                                        : TR_LOGQL_CARD_ONE_TO_MANY;
    if (peek_type(p, 0) == T(OPEN_PARENTHESIS)) {
        if ((rc = parse_labels(p, &e->binary.include)) != 0) {
            return rc;
        }
        e->binary.has_include = e->binary.include.n > 0;
    }
    return 0;
}

static double fold(enum tr_logql_binop op, double l, double r)
{
    switch (op) {
        case TR_LOGQL_OP_ADD:
            return l + r;
        case TR_LOGQL_OP_SUB:
            return l - r;
        case TR_LOGQL_OP_MUL:
            return l * r;
        case TR_LOGQL_OP_DIV:
            return r == 0 ? NAN : l / r;
        case TR_LOGQL_OP_MOD:
            return r == 0 ? NAN : fmod(l, r);
        case TR_LOGQL_OP_POW:
            return pow(l, r);
        case TR_LOGQL_OP_EQ:
            return l == r;
        case TR_LOGQL_OP_NEQ:
            return l != r;
        case TR_LOGQL_OP_GT:
            return l > r;
        case TR_LOGQL_OP_GTE:
            return l >= r;
        case TR_LOGQL_OP_LT:
            return l < r;
        case TR_LOGQL_OP_LTE:
            return l <= r;
        default:
            return NAN;
    }
}

/* Loki's mustNewBinOpExpr: operand checks (node errors) and folding of two
 * literals. */
static int make_binop(struct parser *p,
                      struct tr_logql_expr *e,
                      struct tr_logql_expr **out)
{
    const char *name = tr_logql_binop_name(e->binary.op);
    struct tr_logql_expr *l = e->binary.lhs, *r = e->binary.rhs;
    *out = e;
    if (l->kind == TR_LOGQL_EXPR_LOG) {
        return node_err(
            p, e, "unexpected type for left leg of binary operation (%s): %s",
            name,
            l->log.n_stages > 0 ? "*syntax.PipelineExpr"
                                : "*syntax.MatchersExpr");
    }
    if (r->kind == TR_LOGQL_EXPR_LOG) {
        return node_err(
            p, e, "unexpected type for right leg of binary operation (%s): %s",
            name,
            r->log.n_stages > 0 ? "*syntax.PipelineExpr"
                                : "*syntax.MatchersExpr");
    }
    bool llit = l->kind == TR_LOGQL_EXPR_LITERAL;
    bool rlit = r->kind == TR_LOGQL_EXPR_LITERAL;
    if (tr_logql_binop_is_set(e->binary.op) && (llit || rlit)) {
        const char *lerr = llit ? node_err_of(p, l) : NULL;
        const char *rerr = rlit ? node_err_of(p, r) : NULL;
        if (lerr != NULL || rerr != NULL) {
            return node_err(p, e, "%s", lerr != NULL ? lerr : rerr);
        }
        return node_err(p, e,
                        "unexpected literal for %s leg of logical/set binary "
                        "operation (%s): %f",
                        llit ? "left" : "right", name,
                        llit ? l->literal.value : r->literal.value);
    }
    /* a literal that is not a float is the operation's error (Loki); two
     * literals fold into one, which then carries that error */
    struct tr_logql_expr *res = e;
    if (llit && rlit) {
        res = expr_new(p, TR_LOGQL_EXPR_LITERAL);
        if (res == NULL) {
            return p->rc;
        }
        res->literal.value =
            fold(e->binary.op, l->literal.value, r->literal.value);
        *out = res;
    }
    const char *err = llit ? node_err_of(p, l) : NULL;
    if (err == NULL && rlit) {
        err = node_err_of(p, r);
    }
    if (err != NULL) {
        return node_err(p, res, "%s", err);
    }
    return 0;
}

static int parse_expr(struct parser *p,
                      int min_prec,
                      struct tr_logql_expr **out)
{
    if (!enter(p)) {
        return p->rc;
    }
    struct tr_logql_expr *lhs = NULL;
    int rc = parse_primary(p, &lhs);
    while (rc == 0) {
        enum tr_logql_binop op;
        int prec;
        if (!binop_of(peek_type(p, 0), &op, &prec) || prec < min_prec) {
            break;
        }
        next(p);
        struct tr_logql_expr *e = expr_new(p, TR_LOGQL_EXPR_BINARY);
        if (e == NULL) {
            rc = p->rc;
            break;
        }
        e->binary.op = op;
        e->binary.lhs = lhs;
        if ((rc = parse_bin_modifier(p, e)) != 0) {
            break;
        }
        rc = parse_expr(p, op == TR_LOGQL_OP_POW ? prec : prec + 1,
                        &e->binary.rhs);
        if (rc != 0) {
            break;
        }
        rc = make_binop(p, e, &lhs);
    }
    leave(p);
    if (rc == 0) {
        *out = lhs;
    }
    return rc;
}

/* ---- validation (Loki's validateExpr)
 * ------------------------------------------------ */

static const char *const need_matcher_msg =
    "queries require at least one regexp or equality matcher that does not "
    "have an empty-compatible value. For instance, app=~\".*\" does not meet "
    "this requirement, but app=~\".+\" will";

static bool selector_ok(const struct tr_logql_log *log)
{
    for (size_t i = 0; i < log->n_matchers; i++) {
        if (!tr_matcher_matches_empty(&log->matchers[i])) {
            return true;
        }
    }
    return false;
}

static int validate(struct parser *p, const struct tr_logql_expr *e)
{
    const char *err = node_err_of(p, e);
    if (err != NULL) {
        return fail(p, "%s", err);
    }
    switch (e->kind) {
        case TR_LOGQL_EXPR_BINARY: {
            int rc = validate(p, e->binary.lhs);
            return rc != 0 ? rc : validate(p, e->binary.rhs);
        }
        case TR_LOGQL_EXPR_VECTOR_AGGR:
            if ((e->vector_aggr.op == TR_LOGQL_VEC_SORT ||
                 e->vector_aggr.op == TR_LOGQL_VEC_SORT_DESC) &&
                e->vector_aggr.grouping.labels.n > 0) {
                return fail(p, "sort and sort_desc doesn't allow grouping by ");
            }
            return validate(p, e->vector_aggr.expr);
        case TR_LOGQL_EXPR_LABEL_REPLACE:
            return validate(p, e->label_replace.expr);
        case TR_LOGQL_EXPR_RANGE_AGGR:
            return selector_ok(&e->range.log) ? 0
                                              : fail(p, "%s", need_matcher_msg);
        case TR_LOGQL_EXPR_LOG:
            return selector_ok(&e->log) ? 0 : fail(p, "%s", need_matcher_msg);
        default:
            return 0;
    }
}

/* ---- entry point
 * --------------------------------------------------------------------- */

static int lex_all(struct parser *p)
{
    struct tr_logql_lexer lx;
    tr_logql_lex_init(&lx, p->q, p->n, p->a);
    size_t cap = 0;
    for (;;) {
        if (p->ntoks == cap) {
            struct tr_logql_token *g =
                tr_array_grow(p->toks, &cap, sizeof(*g), 64);
            if (g == NULL) {
                return TR_ENOMEM;
            }
            p->toks = g;
        }
        struct tr_logql_token *t = &p->toks[p->ntoks];
        int rc = tr_logql_lex_next(&lx, t);
        if (rc == TR_ENOMEM) {
            return TR_ENOMEM;
        }
        if (t->type == T(ERROR)) {
            /* keep the message in the arena: the lexer goes away */
            char *msg = tr_arena_strndup(p->a, t->str, t->str_len);
            if (msg == NULL) {
                return TR_ENOMEM;
            }
            t->str = msg;
        }
        p->ntoks++;
        if (t->type == T(EOF) || t->type == T(ERROR)) {
            return 0;
        }
    }
}

int tr_logql_parse(const char *q,
                   size_t n,
                   struct tr_arena *a,
                   struct tr_logql_expr **out,
                   char *errmsg)
{
    return tr_logql_parse_ex(q, n, 0, a, out, errmsg);
}

int tr_logql_parse_ex(const char *q,
                      size_t n,
                      unsigned flags,
                      struct tr_arena *a,
                      struct tr_logql_expr **out,
                      char *errmsg)
{
    *out = NULL;
    if (errmsg != NULL) {
        errmsg[0] = '\0';
    }
    if (n >= TR_LOGQL_MAX_INPUT) {
        return tr_logql_errf_at(errmsg, q, n, NULL,
                                "input size too long (%zu > %d)", n,
                                TR_LOGQL_MAX_INPUT);
    }
    struct parser p;
    memset(&p, 0, sizeof(p));
    p.q = q;
    p.n = n;
    p.a = a;
    p.errmsg = errmsg;
    p.flags = flags;
    int rc = lex_all(&p);
    struct tr_logql_expr *e = NULL;
    if (rc != 0) {
        rc = oom(&p);
        goto done;
    }
    rc = parse_expr(&p, 1, &e);
    if (rc == 0 && peek_type(&p, 0) != T(EOF)) {
        rc = syntax_error(&p, NULL);
    }
    bool check = (flags & TR_LOGQL_PARSE_NO_VALIDATE) == 0;
    if (rc == 0 && check) {
        rc = validate(&p, e);
    }
    if (rc == 0 && check && p.has_stage_err) {
        rc = TR_EINVAL;
        if (errmsg != NULL) {
            snprintf(errmsg, TR_ERRMSG_SIZE, "%s", p.stage_err);
        }
    }
done:
    if (rc != 0) {
        if (p.rc == TR_ENOMEM) {
            rc = TR_ENOMEM;
        }
        for (size_t i = 0; i < p.n_owned; i++) {
            tr_matcher_free(&p.owned[i].m);
            tr_regex_free(p.owned[i].re);
        }
    } else {
        *out = e;
    }
    tr_free(p.owned);
    tr_free(p.toks);
    return rc;
}
