/* pattern.c - Loki's pattern expressions ("<method> <_> <status>"): the
 * pattern parser's captures and the |> / !> line filter's whole-line test.
 * See stages.h and stages_int.h. */
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "query/logql/pattern_int.h"
#include "query/logql/stages.h"
#include "query/logql/stages_int.h"

static bool ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool ident_char(char c)
{
    return ident_start(c) || (c >= '0' && c <= '9');
}

/* Length of a capture "<name>" at s, 0 when there is none. */
static size_t capture_len(const char *s, size_t n)
{
    if (n < 3 || s[0] != '<' || !ident_start(s[1])) {
        return 0;
    }
    size_t i = 2;
    while (i < n && ident_char(s[i])) {
        i++;
    }
    return i < n && s[i] == '>' ? i + 1 : 0;
}

static int add_node(struct tr_logql_pattern *p,
                    bool cap,
                    const char *s,
                    size_t n)
{
    if (p->n == p->cap) {
        struct tr_logql_pnode *nv =
            tr_array_grow(p->nodes, &p->cap, sizeof(*nv), 8);
        if (!nv) {
            return TR_ENOMEM;
        }
        p->nodes = nv;
    }
    p->nodes[p->n].capture = cap;
    p->nodes[p->n].s = s;
    p->nodes[p->n].len = n;
    p->nodes[p->n].named = cap && !(n == 1 && s[0] == '_');
    p->n++;
    return 0;
}

int tr_logql_pattern_new(const char *src,
                         size_t len,
                         bool for_line_filter,
                         struct tr_logql_pattern **out,
                         char *errmsg)
{
    int rc = TR_ENOMEM;
    struct tr_logql_pattern *p = tr_calloc(1, sizeof(*p));
    if (!p) {
        return TR_ENOMEM;
    }
    p->text = tr_strndup(src, len);
    if (!p->text) {
        goto err_after_p;
    }
    const char *s = p->text;
    size_t i = 0;
    while (i < len) {
        size_t c = capture_len(s + i, len - i);
        if (c) {
            if ((rc = add_node(p, true, s + i + 1, c - 2))) {
                goto err_after_p;
            }
            i += c;
            continue;
        }
        size_t st = i;
        while (i < len && !capture_len(s + i, len - i)) {
            size_t l = tr_utf8_seq_len((const unsigned char *)s + i, len - i);
            if (l == 0) {
                rc = tr_errf(TR_EINVAL, errmsg,
                             "syntax error: invalid UTF-8 in pattern");
                goto err_after_p;
            }
            i += l;
        }
        if ((rc = add_node(p, false, s + st, i - st))) {
            goto err_after_p;
        }
    }
    size_t named = 0;
    for (size_t k = 0; k < p->n; k++) {
        const struct tr_logql_pnode *nd = &p->nodes[k];
        if (nd->capture && k + 1 < p->n && p->nodes[k + 1].capture) {
            rc = tr_errf(TR_EINVAL, errmsg,
                         "found consecutive capture '<%.*s><%.*s>': invalid "
                         "expression",
                         (int)nd->len, nd->s, (int)p->nodes[k + 1].len,
                         p->nodes[k + 1].s);
            goto err_after_p;
        }
        if (!nd->named) {
            continue;
        }
        if (for_line_filter) {
            rc = tr_errf(TR_EINVAL, errmsg,
                         "named captures are not allowed: found '<%.*s>'",
                         (int)nd->len, nd->s);
            goto err_after_p;
        }
        for (size_t j = 0; j < k; j++) {
            const struct tr_logql_pnode *o = &p->nodes[j];
            if (o->named && o->len == nd->len &&
                memcmp(o->s, nd->s, nd->len) == 0) {
                rc = tr_errf(TR_EINVAL, errmsg,
                             "duplicate capture name (%.*s): invalid "
                             "expression",
                             (int)nd->len, nd->s);
                goto err_after_p;
            }
        }
        named++;
    }
    if (!for_line_filter && named == 0) {
        rc = tr_errf(TR_EINVAL, errmsg, "at least one capture is required");
        goto err_after_p;
    }
    p->n_named = named;
    *out = p;
    return 0;

err_after_p:
    tr_logql_pattern_free(p);
    return rc;
}

void tr_logql_pattern_free(struct tr_logql_pattern *p)
{
    if (!p) {
        return;
    }
    tr_free(p->nodes);
    tr_free(p->text);
    tr_free(p);
}

static const char *find(const char *h, size_t hn, const char *nd, size_t nn)
{
    if (nn == 0) {
        return h;
    }
    return memmem(h, hn, nd, nn);
}

size_t tr_logql_pattern_matches(const struct tr_logql_pattern *p,
                                const char *in,
                                size_t n,
                                struct tr_slice *caps)
{
    size_t nc = 0, k = 0;
    if (n == 0 || p->n == 0) {
        return 0;
    }
    if (!p->nodes[0].capture) {
        const char *f = find(in, n, p->nodes[0].s, p->nodes[0].len);
        if (f != in) {
            return 0;
        }
        in += p->nodes[0].len;
        n -= p->nodes[0].len;
        k = 1;
    }
    if (k == p->n) {
        return 0;
    }
    while (k < p->n) {
        const struct tr_logql_pnode *c = &p->nodes[k];
        if (k + 1 == p->n) {
            if (c->named) {
                caps[nc++] = (struct tr_slice){in, n};
            }
            return nc;
        }
        const struct tr_logql_pnode *lit = &p->nodes[k + 1];
        k += 2;
        const char *f = find(in, n, lit->s, lit->len);
        if (!f) {
            if (c->named) {
                caps[nc++] = (struct tr_slice){in, n};
            }
            return nc;
        }
        size_t i = (size_t)(f - in);
        if (c->named) {
            caps[nc++] = (struct tr_slice){in, i};
        }
        in += i + lit->len;
        n -= i + lit->len;
    }
    return nc;
}

bool tr_logql_pattern_test(const struct tr_logql_pattern *p,
                           const char *s,
                           size_t n)
{
    if (n == 0 || p->n == 0) {
        return n == 0 && p->n == 0;
    }
    size_t off = 0;
    for (size_t i = 0; i < p->n; i++) {
        const struct tr_logql_pnode *nd = &p->nodes[i];
        if (nd->capture) {
            continue;
        }
        const char *f = find(s + off, n - off, nd->s, nd->len);
        if (!f) {
            return false;
        }
        size_t j = (size_t)(f - (s + off));
        if (i != 0 && j == 0) {
            return false;
        }
        off += j + nd->len;
    }
    bool req_rem = p->nodes[p->n - 1].capture;
    bool has_rem = off != n;
    return req_rem == has_rem;
}
