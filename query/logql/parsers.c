/* parsers.c - LogQL's logfmt (go-logfmt decoding as Loki adapted it),
 * regexp and pattern parsers, and the constructors and dispatch of every
 * parser stage (json ones in json_parser.c). See stages.h. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/matcher.h"
#include "query/logql/parsers_int.h"
#include "query/logql/pattern_int.h"
#include "query/logql/stages.h"
#include "query/logql/stages_int.h"

/* ---- logfmt decoder -------------------------------------------------------
 */

struct lfdec {
    const char *s;
    size_t n;
    size_t pos;
    struct tr_slice key;
    struct tr_slice val;
    bool has_val_copy; /* val unescaped into the arena */
    bool err;
    char errmsg[128]; /* the first error, as go-logfmt words it */
    struct tr_logql_lb *lb;
};

static void lf_err(struct lfdec *d, const char *msg, char unexpected)
{
    if (unexpected) {
        snprintf(d->errmsg, sizeof(d->errmsg),
                 "logfmt syntax error at pos %zu : unexpected '%c'", d->pos + 1,
                 unexpected);
    } else {
        snprintf(d->errmsg, sizeof(d->errmsg),
                 "logfmt syntax error at pos %zu : %s", d->pos + 1, msg);
    }
    d->err = true;
}

static bool key_has_bad_utf8(struct tr_slice k)
{
    return !tr_utf8_valid(k.base, k.len);
}

/* Unquotes a quoted value with escapes (the quotes included in s). */
static bool lf_unquote(struct lfdec *d, const char *s, size_t n)
{
    char *o = tr_arena_alloc(tr_logql_lb__arena(d->lb), n + 1);
    if (!o) {
        tr_logql_lb__set_oom(d->lb);
        d->val = (struct tr_slice){"", 0};
        return true;
    }
    long k = tr_logql__json_unescape(o, s + 1, n - 2);
    if (k < 0) {
        return false;
    }
    d->val = (struct tr_slice){o, (size_t)k};
    return true;
}

/* go-logfmt's ScanKeyval: true when a key (and maybe a value) was read. */
static bool lf_scan(struct lfdec *d)
{
    const char *s = d->s;
    size_t n = d->n;
    d->key = (struct tr_slice){NULL, 0};
    d->val = (struct tr_slice){NULL, 0};
    while (d->pos < n && (unsigned char)s[d->pos] <= ' ') {
        d->pos++;
    }
    if (d->pos >= n) {
        return false;
    }
    size_t start = d->pos;
    bool multibyte = false;
    for (; d->pos < n; d->pos++) {
        unsigned char c = (unsigned char)s[d->pos];
        if (c == '=') {
            if (d->pos > start) {
                d->key = (struct tr_slice){s + start, d->pos - start};
                if (multibyte && key_has_bad_utf8(d->key)) {
                    lf_err(d, "invalid key", 0);
                    goto skip_value;
                }
            }
            if (!d->key.base) {
                lf_err(d, NULL, '=');
                goto skip_value;
            }
            goto equal;
        }
        if (c == '"') {
            lf_err(d, NULL, '"');
            goto skip_value;
        }
        if (c <= ' ') {
            if (d->pos > start) {
                d->key = (struct tr_slice){s + start, d->pos - start};
                if (multibyte && key_has_bad_utf8(d->key)) {
                    lf_err(d, "invalid key", 0);
                    return false;
                }
            }
            return true;
        }
        if (c >= 0x80) {
            multibyte = true;
        }
    }
    if (d->pos > start) {
        d->key = (struct tr_slice){s + start, d->pos - start};
        if (multibyte && key_has_bad_utf8(d->key)) {
            lf_err(d, "invalid key", 0);
            return false;
        }
    }
    return true;

equal:
    d->pos++;
    if (d->pos >= n) {
        return true;
    }
    if ((unsigned char)s[d->pos] <= ' ') {
        return true;
    }
    if (s[d->pos] == '"') {
        goto qvalue;
    }
    start = d->pos;
    for (; d->pos < n; d->pos++) {
        unsigned char c = (unsigned char)s[d->pos];
        if (c == '=' || c == '"') {
            lf_err(d, NULL, (char)c);
            goto skip_value;
        }
        if (c <= ' ') {
            break;
        }
    }
    if (d->pos > start) {
        d->val = (struct tr_slice){s + start, d->pos - start};
    }
    return true;

skip_value:
    while (d->pos < n && (unsigned char)s[d->pos] > ' ') {
        d->pos++;
    }
    return false;

qvalue : {
    bool has_esc = false, esc = false;
    start = d->pos;
    for (size_t p = d->pos + 1; p < n; p++) {
        char c = s[p];
        if (esc) {
            esc = false;
        } else if (c == '\\') {
            has_esc = esc = true;
        } else if (c == '"') {
            d->pos = p + 1;
            if (has_esc) {
                if (!lf_unquote(d, s + start, d->pos - start)) {
                    lf_err(d, "invalid quoted value", 0);
                    return false;
                }
            } else if (d->pos - 1 > start + 1) {
                d->val = (struct tr_slice){s + start + 1, d->pos - start - 2};
            }
            return true;
        }
    }
    d->pos = n;
    lf_err(d, "unterminated quoted value", 0);
    return false;
}
}

/* Invalid UTF-8 in a value becomes spaces (Loki's removeInvalidUtf). */
static struct tr_slice lf_clean_value(struct tr_logql_lb *lb, struct tr_slice v)
{
    if (v.len == 0 || (tr_utf8_valid(v.base, v.len) &&
                       !memmem(v.base, v.len, "\xef\xbf\xbd", 3))) {
        return v;
    }
    char *o = tr_arena_alloc(tr_logql_lb__arena(lb), v.len);
    if (!o) {
        tr_logql_lb__set_oom(lb);
        return (struct tr_slice){"", 0};
    }
    size_t k = 0;
    for (size_t i = 0; i < v.len;) {
        size_t l =
            tr_utf8_seq_len((const unsigned char *)v.base + i, v.len - i);
        if (l == 0 || (l == 3 && memcmp(v.base + i, "\xef\xbf\xbd", 3) == 0)) {
            o[k++] = ' ';
            i += l ? l : 1;
        } else {
            memcpy(o + k, v.base + i, l);
            k += l;
            i += l;
        }
    }
    return (struct tr_slice){o, k};
}

static void logfmt_process(const struct tr_logql_parser *p,
                           struct tr_logql_lb *lb,
                           struct tr_slice line)
{
    struct lfdec d = {line.base, line.len, 0,  {NULL, 0}, {NULL, 0},
                      false,     false,    "", lb};
    while (d.pos < d.n) {
        if (!lf_scan(&d)) {
            if (p->strict) {
                break;
            }
            continue;
        }
        struct tr_slice key = tr_logql__sanitize_key(lb, d.key.base, d.key.len);
        if (key.len == 0) {
            continue;
        }
        key = tr_logql_lb__parsed_key(lb, key);
        if (tr_logql_lb__extracted(lb, key)) {
            continue;
        }
        struct tr_slice val = lf_clean_value(lb, d.val);
        if (!p->keep_empty && val.len == 0) {
            continue;
        }
        tr_logql_lb_set(lb, TR_LOGQL_CAT_PARSED, key, val);
    }
    if (p->strict && d.err) {
        tr_logql__set_error(lb, TR_LOGQL_ERR_LOGFMT, d.errmsg);
    }
}

static void logfmt_expr_process(const struct tr_logql_parser *p,
                                struct tr_logql_lb *lb,
                                struct tr_slice line)
{
    for (size_t k = 0; k < p->n_exprs; k++) {
        struct tr_slice id = {p->exprs[k].label, p->exprs[k].label_len};
        if (!tr_logql_lb_base_has(lb, id)) {
            struct tr_slice v;
            enum tr_logql_label_cat cat;
            if (!(tr_logql_lb_get(lb, id, &v, &cat) &&
                  cat == TR_LOGQL_CAT_META)) {
                tr_logql_lb_set(lb, TR_LOGQL_CAT_PARSED, id,
                                (struct tr_slice){"", 0});
            }
        }
    }
    struct lfdec d = {line.base, line.len, 0,  {NULL, 0}, {NULL, 0},
                      false,     false,    "", lb};
    while (d.pos < d.n) {
        if (!lf_scan(&d)) {
            if (p->strict) {
                break;
            }
            continue;
        }
        struct tr_slice key = tr_logql__sanitize_key(lb, d.key.base, d.key.len);
        if (key.len == 0) {
            continue;
        }
        struct tr_slice val = d.val;
        if (!tr_utf8_valid(val.base, val.len)) {
            val = (struct tr_slice){"", 0};
        }
        const struct tr_logql_pexpr *e = NULL;
        for (size_t k = 0; k < p->n_exprs; k++) {
            if (key.len == p->exprs[k].key_len &&
                memcmp(key.base, p->exprs[k].key, key.len) == 0) {
                e = &p->exprs[k];
                break;
            }
        }
        if (!e) {
            continue;
        }
        key = tr_logql_lb__parsed_key(
            lb, (struct tr_slice){e->label, e->label_len});
        tr_logql_lb_set(lb, TR_LOGQL_CAT_PARSED, key, val);
    }
    if (p->strict && d.err) {
        tr_logql__set_error(lb, TR_LOGQL_ERR_LOGFMT, d.errmsg);
    }
}

/* ---- regexp and pattern ---------------------------------------------------
 */

static void regexp_process(const struct tr_logql_parser *p,
                           struct tr_logql_lb *lb,
                           struct tr_slice line)
{
    pcre2_match_data *md = tr_logql_lb__match_data(lb, (uint32_t)p->n_groups);
    if (!md) {
        tr_logql_lb__set_oom(lb);
        return;
    }
    int rc = pcre2_match(p->code, (PCRE2_SPTR)(line.len ? line.base : ""),
                         line.len, 0, 0, md, NULL);
    if (rc > 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        for (size_t g = 1; g < p->n_groups; g++) {
            if (!p->names[g]) {
                continue;
            }
            struct tr_slice v = {"", 0};
            if ((int)g < rc && ov[2 * g] != PCRE2_UNSET) {
                v = (struct tr_slice){line.base + ov[2 * g],
                                      ov[2 * g + 1] - ov[2 * g]};
            }
            struct tr_slice key =
                tr_logql_lb__parsed_key(lb, tr_slice_cstr(p->names[g]));
            if (!tr_logql_lb__extracted(lb, key)) {
                tr_logql_lb_set(lb, TR_LOGQL_CAT_PARSED, key, v);
            }
        }
    }
}

static void pattern_process(const struct tr_logql_parser *p,
                            struct tr_logql_lb *lb,
                            struct tr_slice line)
{
    struct tr_slice *caps = tr_arena_alloc(
        tr_logql_lb__arena(lb), (p->pat->n_named + 1) * sizeof(*caps));
    if (!caps) {
        tr_logql_lb__set_oom(lb);
        return;
    }
    size_t nc = tr_logql_pattern_matches(p->pat, line.base, line.len, caps);
    size_t ci = 0;
    for (size_t k = 0; k < p->pat->n && ci < nc; k++) {
        const struct tr_logql_pnode *nd = &p->pat->nodes[k];
        if (!nd->named) {
            continue;
        }
        struct tr_slice key =
            tr_logql_lb__parsed_key(lb, (struct tr_slice){nd->s, nd->len});
        if (!tr_logql_lb__extracted(lb, key)) {
            tr_logql_lb_set(lb, TR_LOGQL_CAT_PARSED, key, caps[ci]);
        }
        ci++;
    }
}

bool tr_logql_parser_process(const struct tr_logql_parser *p,
                             struct tr_logql_lb *lb,
                             struct tr_slice *line)
{
    switch (p->kind) {
        case TR_LOGQL_P_JSON:
            return tr_logql__json_process(p, lb, line);
        case TR_LOGQL_P_JSON_EXPR:
            return tr_logql__json_expr_process(p, lb, line);
        case TR_LOGQL_P_UNPACK:
            return tr_logql__unpack_process(lb, line);
        case TR_LOGQL_P_LOGFMT:
            logfmt_process(p, lb, *line);
            return true;
        case TR_LOGQL_P_LOGFMT_EXPR:
            logfmt_expr_process(p, lb, *line);
            return true;
        case TR_LOGQL_P_REGEXP:
            regexp_process(p, lb, *line);
            return true;
        default:
            pattern_process(p, lb, *line);
            return true;
    }
}

/* ---- construction ----------------------------------------------------------
 */

void tr_logql_parser_free(struct tr_logql_parser *p)
{
    if (!p) {
        return;
    }
    for (size_t i = 0; i < p->n_exprs; i++) {
        struct tr_logql_pexpr *e = &p->exprs[i];
        tr_free(e->label);
        tr_free(e->key);
        for (size_t k = 0; k < e->n_steps; k++) {
            tr_free(e->steps[k].key);
        }
        tr_free(e->steps);
    }
    tr_free(p->exprs);
    if (p->code) {
        pcre2_code_free(p->code);
    }
    if (p->names) {
        for (size_t i = 0; i < p->n_groups; i++) {
            tr_free(p->names[i]);
        }
        tr_free(p->names);
    }
    tr_logql_pattern_free(p->pat);
    tr_free(p);
}

static struct tr_logql_parser *parser_alloc(enum tr_logql_parser_kind kind)
{
    struct tr_logql_parser *p = tr_calloc(1, sizeof(*p));
    if (p) {
        p->kind = kind;
    }
    return p;
}

/* Copies the label names of exprs into p; json paths or logfmt keys. */
static int parser_exprs(struct tr_logql_parser *p,
                        const struct tr_logql_extract_expr *exprs,
                        size_t n,
                        bool json,
                        char *errmsg)
{
    p->exprs = tr_calloc(n, sizeof(*p->exprs));
    if (!p->exprs) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct tr_logql_pexpr *e = &p->exprs[i];
        p->n_exprs = i + 1;
        size_t ln = strlen(exprs[i].label);
        e->label = tr_strndup(exprs[i].label, ln);
        if (!e->label) {
            return TR_ENOMEM;
        }
        e->label_len = ln;
        const char *x = exprs[i].expr;
        size_t xn = exprs[i].expr_len;
        int rc;
        if (json) {
            if ((rc = tr_logql__jpath_parse(x, xn, e, errmsg))) {
                return rc;
            }
        } else {
            /* logfmt expression: one identifier (or a quoted key) */
            bool ok = xn > 0;
            for (size_t k = 0; ok && k < xn; k++) {
                char c = x[k];
                ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     c == '_' || (k > 0 && c >= '0' && c <= '9');
            }
            if (!ok) {
                return tr_errf(TR_EINVAL, errmsg,
                               "cannot parse expression [%.*s]: syntax error",
                               (int)(xn > 200 ? 200 : xn), x);
            }
            e->key = tr_strndup(x, xn);
            if (!e->key) {
                return TR_ENOMEM;
            }
            e->key_len = xn;
        }
        if (!tr_logql__valid_label_name(e->label, ln)) {
            return tr_errf(TR_EINVAL, errmsg,
                           "invalid extracted label name '%s'", e->label);
        }
    }
    return 0;
}

int tr_logql_parser_new_json(const struct tr_logql_extract_expr *exprs,
                             size_t n,
                             struct tr_logql_parser **out,
                             char *errmsg)
{
    struct tr_logql_parser *p =
        parser_alloc(n ? TR_LOGQL_P_JSON_EXPR : TR_LOGQL_P_JSON);
    if (!p) {
        return TR_ENOMEM;
    }
    int rc = n ? parser_exprs(p, exprs, n, true, errmsg) : 0;
    if (rc) {
        tr_logql_parser_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int tr_logql_parser_new_logfmt(bool strict,
                               bool keep_empty,
                               const struct tr_logql_extract_expr *exprs,
                               size_t n,
                               struct tr_logql_parser **out,
                               char *errmsg)
{
    struct tr_logql_parser *p =
        parser_alloc(n ? TR_LOGQL_P_LOGFMT_EXPR : TR_LOGQL_P_LOGFMT);
    if (!p) {
        return TR_ENOMEM;
    }
    p->strict = strict;
    p->keep_empty = keep_empty;
    int rc = n ? parser_exprs(p, exprs, n, false, errmsg) : 0;
    if (rc) {
        tr_logql_parser_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int tr_logql_parser_new_unpack(struct tr_logql_parser **out)
{
    *out = parser_alloc(TR_LOGQL_P_UNPACK);
    return *out ? 0 : TR_ENOMEM;
}

int tr_logql_parser_new_pattern(const char *src,
                                size_t len,
                                struct tr_logql_parser **out,
                                char *errmsg)
{
    struct tr_logql_parser *p = parser_alloc(TR_LOGQL_P_PATTERN);
    if (!p) {
        return TR_ENOMEM;
    }
    int rc = tr_logql_pattern_new(src, len, false, &p->pat, errmsg);
    if (rc) {
        tr_logql_parser_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int tr_logql_parser_new_regexp(const char *re,
                               size_t len,
                               struct tr_logql_parser **out,
                               char *errmsg)
{
    struct tr_logql_parser *p = parser_alloc(TR_LOGQL_P_REGEXP);
    if (!p) {
        return TR_ENOMEM;
    }
    int rc, ec;
    PCRE2_SIZE eoff;
    /* duplicate names compile (Go accepts them); Loki rejects them below */
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)(len ? re : ""), len,
                                     PCRE2_UTF | PCRE2_MATCH_INVALID_UTF |
                                         PCRE2_DOLLAR_ENDONLY | PCRE2_DUPNAMES,
                                     &ec, &eoff, NULL);
    if (!code) {
        struct tr_regex *check = NULL;
        rc = tr_regex_compile(re, len, false, &check, errmsg);
        tr_regex_free(check);
        if (rc == 0) {
            rc = tr_errf(TR_EINVAL, errmsg, "error parsing regexp: `%.*s`",
                         (int)(len > 200 ? 200 : len), re);
        }
        goto err_after_p;
    }
    p->code = code;
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    uint32_t ncap = 0, nname = 0, esize = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &ncap);
    pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &nname);
    pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &esize);
    pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);
    if (ncap == 0 || nname == 0) {
        rc = tr_errf(TR_EINVAL, errmsg,
                     "at least one named capture must be supplied");
        goto err_after_p;
    }
    p->n_groups = ncap + 1;
    p->names = tr_calloc(p->n_groups, sizeof(*p->names));
    if (!p->names) {
        rc = TR_ENOMEM;
        goto err_after_p;
    }
    for (uint32_t i = 0; i < nname; i++) {
        const unsigned char *ent = table + (size_t)i * esize;
        uint32_t g = ((uint32_t)ent[0] << 8) | ent[1];
        const char *name = (const char *)ent + 2;
        for (size_t k = 0; k < p->n_groups; k++) {
            if (p->names[k] && strcmp(p->names[k], name) == 0) {
                rc = tr_errf(TR_EINVAL, errmsg,
                             "duplicate extracted label name '%s'", name);
                goto err_after_p;
            }
        }
        if (!tr_logql__valid_label_name(name, strlen(name))) {
            rc = tr_errf(TR_EINVAL, errmsg, "invalid extracted label name '%s'",
                         name);
            goto err_after_p;
        }
        if (g < p->n_groups) {
            p->names[g] = tr_strdup(name);
            if (!p->names[g]) {
                rc = TR_ENOMEM;
                goto err_after_p;
            }
        }
    }
    *out = p;
    return 0;

err_after_p:
    tr_logql_parser_free(p);
    return rc;
}
