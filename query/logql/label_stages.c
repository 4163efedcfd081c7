/* label_stages.c - LogQL's drop, keep and decolorize stages. See stages.h. */
#include <string.h>

#include "lib/matcher.h"
#include "query/logql/stages.h"
#include "query/logql/stages_int.h"

static bool is_err(struct tr_slice n)
{
    return tr_slice_eq_cstr(n, TR_LOGQL_ERROR_LABEL);
}

static bool is_details(struct tr_slice n)
{
    return tr_slice_eq_cstr(n, TR_LOGQL_ERROR_DETAILS_LABEL);
}

void tr_logql_drop(struct tr_logql_lb *lb,
                   const struct tr_logql_name_match *ops,
                   size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct tr_matcher *m = ops[i].m;
        struct tr_slice name = tr_slice_cstr(m ? m->name : ops[i].name);
        struct tr_slice v;
        if (is_err(name)) {
            v = tr_logql_lb_err(lb);
            if (!m || tr_matcher_matches(m, v.base, v.len)) {
                tr_logql_lb_set_err(lb, "");
            }
            continue;
        }
        if (is_details(name)) {
            v = tr_logql_lb_err_details(lb);
            if (!m || tr_matcher_matches(m, v.base, v.len)) {
                tr_logql_lb_set_err_details(lb, "", 0);
            }
            continue;
        }
        bool ok = tr_logql_lb_get(lb, name, &v, NULL);
        if (m ? tr_matcher_matches(m, v.base, v.len) : ok) {
            tr_logql_lb_del(lb, name);
        }
    }
}

void tr_logql_keep(struct tr_logql_lb *lb,
                   const struct tr_logql_name_match *ops,
                   size_t n)
{
    if (n == 0) {
        return;
    }
    struct tr_logql_label *ls;
    size_t nl;
    tr_logql_lb_labels(lb, &ls, &nl);
    /* Deleting does not touch the result buffer, but copy the names that
     * go: tr_logql_lb_labels is not called again meanwhile. */
    for (size_t i = 0; i < nl; i++) {
        struct tr_slice name = ls[i].name;
        if (is_err(name) || is_details(name) ||
            tr_slice_eq_cstr(name, "__preserve_error__")) {
            continue;
        }
        bool keep = false;
        for (size_t k = 0; k < n && !keep; k++) {
            const struct tr_matcher *m = ops[k].m;
            if (m) {
                keep = tr_slice_eq_cstr(name, m->name) &&
                       tr_matcher_matches(m, ls[i].value.base, ls[i].value.len);
            } else {
                keep = tr_slice_eq_cstr(name, ops[k].name);
            }
        }
        if (!keep) {
            tr_logql_lb_del(lb, name);
        }
    }
}

/* ---- decolorize -----------------------------------------------------------
 */

#define DC_MAX_DEPTH 64

static bool dc_final(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'P') || c == 'R' ||
           c == 'Z' || c == 'c' || (c >= 'f' && c <= 'n') || c == 'q' ||
           c == 'r' || c == 'y' || c == 't' || c == '=' || c == '>' ||
           c == '<' || c == '~';
}

static size_t dc_digits(const unsigned char *s, size_t n, size_t p)
{
    size_t k = 0;
    while (p + k < n && k < 4 && s[p + k] >= '0' && s[p + k] <= '9') {
        k++;
    }
    return k;
}

static long dc_end(const unsigned char *s, size_t n, size_t p)
{
    return p < n && dc_final(s[p]) ? (long)p + 1 : -1;
}

/* (;\d{0,4})* then the final character, greedy first. */
static long dc_semis(const unsigned char *s, size_t n, size_t p, int depth)
{
    if (depth < DC_MAX_DEPTH && p < n && s[p] == ';') {
        size_t run = dc_digits(s, n, p + 1);
        for (size_t k = run + 1; k-- > 0;) {
            long r = dc_semis(s, n, p + 1 + k, depth + 1);
            if (r >= 0) {
                return r;
            }
        }
    }
    return dc_end(s, n, p);
}

/* Length of the ANSI sequence at s[i] (0 when none). */
static size_t dc_match(const unsigned char *s, size_t n, size_t i)
{
    size_t j;
    if (s[i] == 0x1b) {
        j = i + 1;
    } else if (s[i] == 0xc2 && i + 1 < n && s[i + 1] == 0x9b) {
        j = i + 2;
    } else {
        return 0;
    }
    while (j < n && strchr("[]()#;?", s[j]) && s[j]) {
        j++;
    }
    /* [a-zA-Z\d;]* \x07 */
    size_t k = j;
    while (k < n &&
           ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') ||
            (s[k] >= '0' && s[k] <= '9') || s[k] == ';')) {
        k++;
    }
    if (k < n && s[k] == 0x07) {
        return k + 1 - i;
    }
    /* (\d{1,4}(;\d{0,4})*)? final */
    size_t run = dc_digits(s, n, j);
    for (size_t d = run; d >= 1; d--) {
        long r = dc_semis(s, n, j + d, 0);
        if (r >= 0) {
            return (size_t)r - i;
        }
    }
    long r = dc_end(s, n, j);
    return r >= 0 ? (size_t)r - i : 0;
}

bool tr_logql_decolorize(struct tr_logql_lb *lb, struct tr_slice *line)
{
    const unsigned char *s = (const unsigned char *)line->base;
    size_t n = line->len;
    if (n == 0 || (!memchr(s, 0x1b, n) && !memchr(s, 0xc2, n))) {
        return true;
    }
    char *o = tr_arena_alloc(tr_logql_lb__arena(lb), n);
    if (!o) {
        tr_logql_lb__set_oom(lb);
        return true;
    }
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t m = dc_match(s, n, i);
        if (m) {
            i += m;
        } else {
            o[k++] = (char)s[i++];
        }
    }
    *line = (struct tr_slice){o, k};
    return true;
}
