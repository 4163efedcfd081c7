/* line_filter.c - LogQL line filters |= != |~ !~ |> !> with ip() operands
 * and "or" chains. See stages.h. */
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/matcher.h"
#include "query/logql/stages.h"
#include "query/logql/stages_int.h"

enum lf_kind {
    LF_CONTAINS,  /* substring */
    LF_ICONTAINS, /* (?i)literal: ASCII case-insensitive substring */
    LF_REGEX,
    LF_PATTERN,
    LF_IP,
};

struct lf_operand {
    enum lf_kind kind;
    char *lit; /* owned: substring (CONTAINS, ICONTAINS lower-cased) */
    size_t len;
    struct tr_regex *re;
    struct tr_logql_pattern_matcher *pat;
    struct tr_logql_ip *ip;
};

struct tr_logql_line_matcher {
    bool negate;
    size_t n;
    struct lf_operand ops[];
};

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* "(?i)" followed by plain ASCII letters, digits, spaces and harmless
 * punctuation: the literal (case-folded) for a fast search. */
static bool icase_literal(const char *s, size_t n)
{
    if (n <= 4 || memcmp(s, "(?i)", 4) != 0) {
        return false;
    }
    for (size_t i = 4; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == ' ' || c == '_' || c == '-' ||
                  c == '=' || c == ':' || c == '/' || c == ',' || c == '"' ||
                  c == '\'' || c == '@' || c == '%' || c == '#';
        /* k and s fold with Unicode runes (K, ſ) in Go: no fast path. */
        if (!ok || c == 'k' || c == 'K' || c == 's' || c == 'S') {
            return false;
        }
    }
    return true;
}

static bool icontains(const char *h, size_t hn, const char *lit, size_t n)
{
    if (n == 0) {
        return true;
    }
    if (hn < n) {
        return false;
    }
    for (size_t i = 0; i + n <= hn; i++) {
        if (lower(h[i]) != lit[0]) {
            continue;
        }
        size_t j = 1;
        while (j < n && lower(h[i + j]) == lit[j]) {
            j++;
        }
        if (j == n) {
            return true;
        }
    }
    return false;
}

static void operand_free(struct lf_operand *o)
{
    tr_free(o->lit);
    if (o->re) {
        tr_regex_free(o->re);
    }
    tr_logql_pattern_matcher_free(o->pat);
    tr_logql_ip_free(o->ip);
}

int tr_logql_line_matcher_new(enum tr_logql_line_op op,
                              const struct tr_logql_line_operand *ops,
                              size_t n,
                              struct tr_logql_line_matcher **out,
                              char *errmsg)
{
    if (n == 0) {
        return tr_errf(TR_EINVAL, errmsg, "line filter without operand");
    }
    for (size_t i = 0; i < n; i++) {
        if (ops[i].is_ip && op != TR_LOGQL_LINE_CONTAINS &&
            op != TR_LOGQL_LINE_NOT_CONTAINS) {
            return tr_errf(TR_EINVAL, errmsg, "ip: invalid operation");
        }
    }
    struct tr_logql_line_matcher *f =
        tr_calloc(1, sizeof(*f) + n * sizeof(f->ops[0]));
    if (!f) {
        return TR_ENOMEM;
    }
    f->negate = op == TR_LOGQL_LINE_NOT_CONTAINS ||
                op == TR_LOGQL_LINE_NOT_MATCH ||
                op == TR_LOGQL_LINE_NOT_PATTERN;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct lf_operand *o = &f->ops[i];
        f->n = i + 1;
        const char *s = ops[i].s;
        size_t len = ops[i].len;
        if (ops[i].is_ip) {
            o->kind = LF_IP;
            rc = tr_logql_ip_new(s, len, &o->ip, errmsg);
        } else if (op == TR_LOGQL_LINE_CONTAINS ||
                   op == TR_LOGQL_LINE_NOT_CONTAINS) {
            o->kind = LF_CONTAINS;
            o->lit = tr_strndup(s, len);
            o->len = len;
            rc = o->lit ? 0 : TR_ENOMEM;
        } else if (op == TR_LOGQL_LINE_MATCH || op == TR_LOGQL_LINE_NOT_MATCH) {
            if (icase_literal(s, len)) {
                o->kind = LF_ICONTAINS;
                o->lit = tr_strndup(s + 4, len - 4);
                o->len = len - 4;
                if (!o->lit) {
                    rc = TR_ENOMEM;
                    break;
                }
                for (size_t k = 0; k < o->len; k++) {
                    o->lit[k] = lower(o->lit[k]);
                }
            } else {
                o->kind = LF_REGEX;
                rc = tr_regex_compile(s, len, false, &o->re, errmsg);
            }
        } else {
            o->kind = LF_PATTERN;
            rc = tr_logql_pattern_matcher_new(s, len, true, &o->pat, errmsg);
        }
    }
    if (rc) {
        tr_logql_line_matcher_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

static bool operand_match(const struct lf_operand *o, const char *s, size_t n)
{
    switch (o->kind) {
        case LF_CONTAINS:
            return o->len == 0 ||
                   (n >= o->len && tr_memmem(s, n, o->lit, o->len));
        case LF_ICONTAINS:
            return icontains(s, n, o->lit, o->len);
        case LF_REGEX:
            return tr_regex_match(o->re, s, n);
        case LF_PATTERN:
            return tr_logql_pattern_matcher_test(o->pat, s, n);
        default:
            return tr_logql_ip_match(o->ip, s, n);
    }
}

bool tr_logql_line_matcher_match(const struct tr_logql_line_matcher *f,
                                 const char *line,
                                 size_t len)
{
    for (size_t i = 0; i < f->n; i++) {
        if (operand_match(&f->ops[i], line, len)) {
            return !f->negate;
        }
    }
    return f->negate;
}

void tr_logql_line_matcher_free(struct tr_logql_line_matcher *f)
{
    if (!f) {
        return;
    }
    for (size_t i = 0; i < f->n; i++) {
        operand_free(&f->ops[i]);
    }
    tr_free(f);
}
