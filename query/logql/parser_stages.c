/* parser_stages.c - LogQL parser, part two: the pipeline stages after a
 * selector (line filters with their or-chains, parsers, label filters,
 * formatters, drop/keep), and the checks Loki makes on patterns, regexp
 * parsers and ip() arguments. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "lib/matcher.h"
#include "query/logql/convert.h"
#include "query/logql/lexer.h"
#include "query/logql/parser.h"
#include "query/logql/parser_int.h"

/* ---- patterns (pattern parser and |> filters) -------------------------- */

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
                    part = logql__push(p, &out->parts, &out->n_parts, &cap,
                                       sizeof(*part));
                    if (part == NULL) {
                        return p->rc;
                    }
                    part->text = tr_arena_strndup(p->a, s + lit, i - lit);
                    part->len = i - lit;
                    if (part->text == NULL) {
                        return logql__oom(p);
                    }
                }
                part = logql__push(p, &out->parts, &out->n_parts, &cap,
                                   sizeof(*part));
                if (part == NULL) {
                    return p->rc;
                }
                part->capture = true;
                part->text = tr_arena_strndup(p->a, s + i + 1, j - i - 1);
                part->len = j - i - 1;
                if (part->text == NULL) {
                    return logql__oom(p);
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
            logql__push(p, &out->parts, &out->n_parts, &cap, sizeof(*part));
        if (part == NULL) {
            return p->rc;
        }
        part->text = tr_arena_strndup(p->a, s + lit, n - lit);
        part->len = n - lit;
        if (part->text == NULL) {
            return logql__oom(p);
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
                    logql__push(p, names, n_names, &cap, sizeof(*slot));
                if (slot == NULL) {
                    return p->rc;
                }
                *slot = tr_arena_strndup(p->a, s + j + 1, k - j - 1);
                if (*slot == NULL) {
                    return logql__oom(p);
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

/* ---- ip() patterns ----------------------------------------------------- */

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

/* ---- label filters ----------------------------------------------------- */

static struct tr_logql_label_filter *lf_new(struct parser *p,
                                            enum tr_logql_lf_kind kind)
{
    struct tr_logql_label_filter *f = logql__alloc0(p, sizeof(*f));
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
    if (logql__peek_type(p, 0) == T(OPEN_PARENTHESIS)) {
        logql__next(p);
        if (!logql__enter(p)) {
            return p->rc;
        }
        rc = logql__parse_lf_expr(p, 1, out);
        logql__leave(p);
        if (rc != 0) {
            return rc;
        }
        return logql__expect(p, T(CLOSE_PARENTHESIS), NULL);
    }
    if (logql__peek_type(p, 0) != T(IDENTIFIER)) {
        return logql__syntax_error(p, NULL);
    }
    const struct tr_logql_token *name = logql__next(p);
    enum tr_logql_tok op = logql__peek_type(p, 0);
    enum tr_logql_cmp cmp = TR_LOGQL_CMP_EQ;
    if (!cmp_of(op, &cmp) && op != T(RE) && op != T(NRE)) {
        return logql__syntax_error(p, NULL);
    }
    logql__next(p);
    enum tr_logql_tok vt = logql__peek_type(p, 0);
    struct tr_logql_label_filter *f;
    if (vt == T(STRING) &&
        (op == T(EQ) || op == T(NEQ) || op == T(RE) || op == T(NRE))) {
        const struct tr_logql_token *value = logql__next(p);
        enum tr_match_type mt;
        logql__is_match_op(op, &mt);
        f = lf_new(p, TR_LOGQL_LF_STRING);
        if (f == NULL) {
            return p->rc;
        }
        rc = logql__make_matcher(p, &f->matcher, mt, name, value);
        if (rc != 0) {
            return rc;
        }
        *out = f;
        return 0;
    }
    if (vt == T(IP) && (op == T(EQ) || op == T(NEQ))) {
        logql__next(p);
        if ((rc = logql__expect(p, T(OPEN_PARENTHESIS), "(")) != 0) {
            return rc;
        }
        if (logql__peek_type(p, 0) != T(STRING)) {
            return logql__syntax_error(p, "STRING");
        }
        const struct tr_logql_token *pat = logql__next(p);
        if ((rc = logql__expect(p, T(CLOSE_PARENTHESIS), ")")) != 0) {
            return rc;
        }
        f = lf_new(p, TR_LOGQL_LF_IP);
        if (f == NULL) {
            return p->rc;
        }
        f->ip.name = logql__tok_text(p, name);
        f->ip.negate = op == T(NEQ);
        f->ip.pattern = pat->str;
        f->ip.pattern_len = pat->str_len;
        if (f->ip.name == NULL) {
            return p->rc;
        }
        if (!ip_pattern_ok(pat->str, pat->str_len)) {
            logql__stage_err(p, "ip: invalid pattern");
        }
        *out = f;
        return 0;
    }
    if (op == T(RE) || op == T(NRE)) {
        return logql__syntax_error(p, "STRING");
    }
    if (vt == T(DURATION)) {
        const struct tr_logql_token *v = logql__next(p);
        f = lf_new(p, TR_LOGQL_LF_DURATION);
        if (f == NULL ||
            (f->duration.name = logql__tok_text(p, name)) == NULL) {
            return p->rc;
        }
        f->duration.op = cmp;
        f->duration.ns = v->dur_ns;
        *out = f;
        return 0;
    }
    if (vt == T(BYTES)) {
        const struct tr_logql_token *v = logql__next(p);
        f = lf_new(p, TR_LOGQL_LF_BYTES);
        if (f == NULL || (f->bytes.name = logql__tok_text(p, name)) == NULL) {
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
        logql__next(p);
        if (logql__peek_type(p, 0) != T(NUMBER)) {
            return logql__syntax_error(p, "NUMBER");
        }
    } else if (vt != T(NUMBER)) {
        return logql__syntax_error(p, NULL);
    }
    const struct tr_logql_token *num = logql__next(p);
    double v;
    char msg[TR_ERRMSG_SIZE];
    if (tr_logql_parse_float(num->str, num->str_len, &v, msg) != 0) {
        return logql__fail(p, "unable to parse literal as a float: %s", msg);
    }
    f = lf_new(p, TR_LOGQL_LF_NUMBER);
    if (f == NULL || (f->number.name = logql__tok_text(p, name)) == NULL) {
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
    enum tr_logql_tok t = logql__peek_type(p, 0);
    if (t == T(COMMA) || t == T(IDENTIFIER) || t == T(OPEN_PARENTHESIS)) {
        if (t == T(COMMA)) {
            logql__next(p);
        }
        if (!logql__enter(p)) {
            return p->rc;
        }
        struct tr_logql_label_filter *right = NULL;
        rc = logql__parse_lf_expr(p, 1, &right);
        logql__leave(p);
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
int logql__parse_lf_expr(struct parser *p,
                         int min_prec,
                         struct tr_logql_label_filter **out)
{
    struct tr_logql_label_filter *left = NULL;
    int rc = parse_lf_unit(p, &left);
    if (rc != 0) {
        return rc;
    }
    for (;;) {
        enum tr_logql_tok t = logql__peek_type(p, 0);
        int prec = t == T(OR) ? 1 : t == T(AND) ? 2 : 0;
        if (prec == 0 || prec < min_prec) {
            break;
        }
        logql__next(p);
        struct tr_logql_label_filter *right = NULL;
        if (!logql__enter(p)) {
            return p->rc;
        }
        rc = logql__parse_lf_expr(p, prec + 1, &right);
        logql__leave(p);
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

/* ---- pipeline stages --------------------------------------------------- */

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
    if (logql__peek_type(p, 0) == T(IP)) {
        logql__next(p);
        if ((rc = logql__expect(p, T(OPEN_PARENTHESIS), "(")) != 0) {
            return rc;
        }
        if (logql__peek_type(p, 0) != T(STRING)) {
            return logql__syntax_error(p, "STRING");
        }
        const struct tr_logql_token *s = logql__next(p);
        if ((rc = logql__expect(p, T(CLOSE_PARENTHESIS), ")")) != 0) {
            return rc;
        }
        alt->ip = true;
        alt->text = s->str;
        alt->len = s->str_len;
        if (op != TR_LOGQL_LINE_CONTAINS && op != TR_LOGQL_LINE_NOT_CONTAINS) {
            logql__stage_err(p, "ip: invalid operation");
        } else if (!ip_pattern_ok(s->str, s->str_len)) {
            logql__stage_err(p, "ip: invalid pattern");
        }
        return 0;
    }
    if (logql__peek_type(p, 0) != T(STRING)) {
        return logql__syntax_error(p, "STRING or ip");
    }
    const struct tr_logql_token *s = logql__next(p);
    alt->text = s->str;
    alt->len = s->str_len;
    if (op == TR_LOGQL_LINE_MATCH || op == TR_LOGQL_LINE_NOT_MATCH) {
        char msg[TR_ERRMSG_SIZE];
        rc = tr_regex_compile(s->str, s->str_len, false, &alt->re, msg);
        if (rc == TR_ENOMEM) {
            return logql__oom(p);
        }
        if (rc != 0) {
            alt->re = NULL;
            logql__stage_err(p, "%s", msg);
        } else if (logql__own(p, NULL, alt->re) != 0) {
            tr_regex_free(alt->re);
            alt->re = NULL;
            return logql__oom(p);
        }
    } else if (op == TR_LOGQL_LINE_PATTERN || op == TR_LOGQL_LINE_NOT_PATTERN) {
        if ((rc = parse_pattern(p, s->str, s->str_len, &alt->pattern)) != 0) {
            return rc;
        }
        char buf[TR_ERRMSG_SIZE];
        const char *e = check_pattern(&alt->pattern, true, buf, sizeof(buf));
        if (e != NULL) {
            logql__stage_err(p, "%s", e);
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
    line_op_of(logql__next(p)->type, &op);
    struct tr_logql_line_alt *alts = NULL;
    size_t n = 0, acap = 0;
    for (;;) {
        struct tr_logql_line_alt *alt =
            logql__push(p, &alts, &n, &acap, sizeof(*alt));
        if (alt == NULL) {
            return p->rc;
        }
        int rc = parse_line_alt(p, op, alt);
        if (rc != 0) {
            return rc;
        }
        if (logql__peek_type(p, 0) != T(OR)) {
            break;
        }
        logql__next(p);
    }
    bool negative = op == TR_LOGQL_LINE_NOT_CONTAINS ||
                    op == TR_LOGQL_LINE_NOT_MATCH ||
                    op == TR_LOGQL_LINE_NOT_PATTERN;
    for (size_t i = 0; i < (negative ? n : 1); i++) {
        struct tr_logql_stage *st =
            logql__push(p, &log->stages, &log->n_stages, cap, sizeof(*st));
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
        if (logql__peek_type(p, 0) != T(IDENTIFIER)) {
            return logql__syntax_error(p, "IDENTIFIER");
        }
        const struct tr_logql_token *id = logql__next(p);
        struct tr_logql_extract *x = logql__push(p, out, n, &cap, sizeof(*x));
        if (x == NULL || (x->label = logql__tok_text(p, id)) == NULL) {
            return p->rc;
        }
        if (logql__peek_type(p, 0) == T(EQ)) {
            logql__next(p);
            if (logql__peek_type(p, 0) != T(STRING)) {
                return logql__syntax_error(p, "STRING");
            }
            const struct tr_logql_token *s = logql__next(p);
            x->expr = s->str;
            x->expr_len = s->str_len;
        } else {
            x->expr = x->label;
            x->expr_len = strlen(x->label);
        }
        if (logql__peek_type(p, 0) != T(COMMA)) {
            return 0;
        }
        logql__next(p);
    }
}

/* drop / keep: a, b="v" */
static int parse_named_matchers(struct parser *p, struct tr_logql_stage *st)
{
    size_t cap = 0;
    for (;;) {
        if (logql__peek_type(p, 0) != T(IDENTIFIER)) {
            return logql__syntax_error(p, "IDENTIFIER");
        }
        const struct tr_logql_token *id = logql__next(p);
        struct tr_logql_named_matcher *it = logql__push(
            p, &st->names.items, &st->names.n_items, &cap, sizeof(*it));
        if (it == NULL) {
            return p->rc;
        }
        enum tr_match_type mt;
        if (logql__is_match_op(logql__peek_type(p, 0), &mt)) {
            logql__next(p);
            if (logql__peek_type(p, 0) != T(STRING)) {
                return logql__syntax_error(p, "STRING");
            }
            const struct tr_logql_token *v = logql__next(p);
            int rc = logql__make_matcher(p, &it->matcher, mt, id, v);
            if (rc != 0) {
                return rc;
            }
            it->has_matcher = true;
        } else if ((it->name = logql__tok_text(p, id)) == NULL) {
            return p->rc;
        }
        if (logql__peek_type(p, 0) != T(COMMA)) {
            return 0;
        }
        logql__next(p);
    }
}

/* label_format a=b, c="{{.d}}" */
static int parse_label_format(struct parser *p, struct tr_logql_stage *st)
{
    size_t cap = 0;
    for (;;) {
        if (logql__peek_type(p, 0) != T(IDENTIFIER)) {
            return logql__syntax_error(p, "IDENTIFIER");
        }
        const struct tr_logql_token *dst = logql__next(p);
        int rc = logql__expect(p, T(EQ), "=");
        if (rc != 0) {
            return rc;
        }
        struct tr_logql_label_fmt *f =
            logql__push(p, &st->label_format.fmts, &st->label_format.n_fmts,
                        &cap, sizeof(*f));
        if (f == NULL || (f->dst = logql__tok_text(p, dst)) == NULL) {
            return p->rc;
        }
        if (logql__peek_type(p, 0) == T(IDENTIFIER)) {
            const struct tr_logql_token *src = logql__next(p);
            f->rename = true;
            if ((f->value = logql__tok_text(p, src)) == NULL) {
                return p->rc;
            }
            f->value_len = src->str_len;
        } else if (logql__peek_type(p, 0) == T(STRING)) {
            const struct tr_logql_token *s = logql__next(p);
            f->value = s->str;
            f->value_len = s->str_len;
        } else {
            return logql__syntax_error(p, "IDENTIFIER or STRING");
        }
        if (logql__peek_type(p, 0) != T(COMMA)) {
            return 0;
        }
        logql__next(p);
    }
}

static int parse_regexp_stage(struct parser *p, struct tr_logql_stage *st)
{
    if (logql__peek_type(p, 0) != T(STRING)) {
        return logql__syntax_error(p, "STRING");
    }
    const struct tr_logql_token *s = logql__next(p);
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
                return logql__fail(
                    p,
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
        return logql__oom(p);
    }
    tr_regex_free(re);
    if (rc != 0) {
        return logql__fail(p, "invalid regexp parser: %s", msg);
    }
    if (groups == 0) {
        return logql__fail(
            p,
            "invalid regexp parser: at least one named capture must be "
            "supplied");
    }
    for (size_t i = 0; i < st->regexp.n_names; i++) {
        if (!valid_label_name(st->regexp.names[i])) {
            return logql__fail(
                p,
                "invalid regexp parser: invalid extracted label name "
                "'%s'",
                st->regexp.names[i]);
        }
    }
    if (st->regexp.n_names == 0) {
        return logql__fail(
            p,
            "invalid regexp parser: at least one named capture must be "
            "supplied");
    }
    return 0;
}

static int parse_pattern_stage(struct parser *p, struct tr_logql_stage *st)
{
    if (logql__peek_type(p, 0) != T(STRING)) {
        return logql__syntax_error(p, "STRING");
    }
    const struct tr_logql_token *s = logql__next(p);
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
        return logql__fail(p, "invalid pattern parser: %s", e);
    }
    return 0;
}

/* Stages after a selector, up to a token that starts none (or "| unwrap"
 * when stop_at_unwrap). */
int logql__parse_pipeline(struct parser *p,
                          struct tr_logql_log *log,
                          bool stop_at_unwrap)
{
    size_t cap = log->n_stages;
    for (;;) {
        enum tr_logql_tok t = logql__peek_type(p, 0);
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
        if (stop_at_unwrap && logql__peek_type(p, 1) == T(UNWRAP)) {
            return 0;
        }
        logql__next(p);
        t = logql__peek_type(p, 0);
        struct tr_logql_stage *st =
            logql__push(p, &log->stages, &log->n_stages, &cap, sizeof(*st));
        if (st == NULL) {
            return p->rc;
        }
        switch (t) {
            case T(LOGFMT):
                logql__next(p);
                st->kind = TR_LOGQL_STAGE_LOGFMT;
                while (logql__peek_type(p, 0) == T(FUNCTION_FLAG)) {
                    const struct tr_logql_token *f = logql__next(p);
                    if (f->str_len == 8) {
                        st->logfmt.strict = true;
                    } else {
                        st->logfmt.keep_empty = true;
                    }
                }
                if (logql__peek_type(p, 0) == T(IDENTIFIER)) {
                    rc = parse_extractions(p, &st->logfmt.params,
                                           &st->logfmt.n_params);
                }
                break;
            case T(JSON):
                logql__next(p);
                st->kind = TR_LOGQL_STAGE_JSON;
                if (logql__peek_type(p, 0) == T(IDENTIFIER)) {
                    rc = parse_extractions(p, &st->json.params,
                                           &st->json.n_params);
                }
                break;
            case T(REGEXP):
                logql__next(p);
                st->kind = TR_LOGQL_STAGE_REGEXP;
                rc = parse_regexp_stage(p, st);
                break;
            case T(PATTERN):
                logql__next(p);
                st->kind = TR_LOGQL_STAGE_PATTERN;
                rc = parse_pattern_stage(p, st);
                break;
            case T(UNPACK):
                logql__next(p);
                st->kind = TR_LOGQL_STAGE_UNPACK;
                break;
            case T(LINE_FMT):
                logql__next(p);
                st->kind = TR_LOGQL_STAGE_LINE_FORMAT;
                if (logql__peek_type(p, 0) != T(STRING)) {
                    return logql__syntax_error(p, "STRING");
                }
                st->line_format.tmpl = logql__peek(p, 0)->str;
                st->line_format.len = logql__next(p)->str_len;
                break;
            case T(LABEL_FMT):
                logql__next(p);
                st->kind = TR_LOGQL_STAGE_LABEL_FORMAT;
                rc = parse_label_format(p, st);
                break;
            case T(DECOLORIZE):
                logql__next(p);
                st->kind = TR_LOGQL_STAGE_DECOLORIZE;
                break;
            case T(DROP):
            case T(KEEP):
                logql__next(p);
                st->kind =
                    t == T(DROP) ? TR_LOGQL_STAGE_DROP : TR_LOGQL_STAGE_KEEP;
                rc = parse_named_matchers(p, st);
                break;
            case T(IDENTIFIER):
            case T(OPEN_PARENTHESIS):
                st->kind = TR_LOGQL_STAGE_LABEL_FILTER;
                rc = logql__parse_lf_expr(p, 1, &st->label_filter);
                break;
            default:
                log->n_stages--;
                return logql__syntax_error(p, NULL);
        }
        if (rc != 0) {
            return rc;
        }
    }
}
