/* json_parser.c - LogQL's json parser (flattening every nested field), its
 * expression form (json a="b.c[0]") and unpack, walking the line in place
 * the way Loki's jsonparser does (lenient: the first object is read, what
 * follows it is ignored). See stages.h. */
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "query/logql/parsers_int.h"
#include "query/logql/stages.h"
#include "query/logql/stages_int.h"

#define JP_MAX_DEPTH 64
#define ERR_OBJECT "Value looks like object, but can't find closing '}' symbol"
#define ERR_MALFORMED "Malformed JSON error"
#define ERR_TYPE "Unknown value type"
#define ERR_UNPACK "expecting json object(6), but it is not"

enum jtype { J_STRING, J_NUMBER, J_BOOL, J_NULL, J_OBJECT, J_ARRAY };

struct jwalk {
    const char *s;
    size_t n;
    size_t i;
    struct tr_logql_lb *lb;
    char *key; /* sanitized prefix buffer (entry arena) */
    const char *err;
};

static void skip_ws(struct jwalk *w)
{
    while (w->i < w->n && (w->s[w->i] == ' ' || w->s[w->i] == '\t' ||
                           w->s[w->i] == '\n' || w->s[w->i] == '\r')) {
        w->i++;
    }
}

/* At an opening quote: the raw body bounds; w->i after the closing quote. */
static bool read_string(struct jwalk *w, size_t *start, size_t *len)
{
    size_t i = w->i + 1;
    *start = i;
    while (i < w->n) {
        if (w->s[i] == '\\') {
            i += 2;
            continue;
        }
        if (w->s[i] == '"') {
            *len = i - *start;
            w->i = i + 1;
            return true;
        }
        i++;
    }
    w->err = ERR_MALFORMED;
    return false;
}

static bool is_delim(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == ',' ||
           c == '}' || c == ']';
}

/* Skips a balanced [...] or {...} at w->i (strings honoured). */
static bool skip_block(struct jwalk *w)
{
    int level = 0;
    while (w->i < w->n) {
        char c = w->s[w->i];
        if (c == '"') {
            size_t st, ln;
            if (!read_string(w, &st, &ln)) {
                return false;
            }
            continue;
        }
        if (c == '[' || c == '{') {
            level++;
        } else if (c == ']' || c == '}') {
            level--;
            if (level == 0) {
                w->i++;
                return true;
            }
        }
        w->i++;
    }
    w->err = ERR_MALFORMED;
    return false;
}

/* Reads the value at w->i: its type and raw bounds (strings without the
 * quotes); objects and arrays are skipped over when skip is set. */
static bool read_value(struct jwalk *w,
                       enum jtype *t,
                       size_t *st,
                       size_t *ln,
                       bool skip)
{
    if (w->i >= w->n) {
        w->err = ERR_MALFORMED;
        return false;
    }
    char c = w->s[w->i];
    *st = w->i;
    if (c == '"') {
        *t = J_STRING;
        return read_string(w, st, ln);
    }
    if (c == '{' || c == '[') {
        *t = c == '{' ? J_OBJECT : J_ARRAY;
        if (!skip) {
            return true;
        }
        if (!skip_block(w)) {
            return false;
        }
        *ln = w->i - *st;
        return true;
    }
    size_t e = w->i;
    while (e < w->n && !is_delim(w->s[e])) {
        e++;
    }
    *ln = e - w->i;
    const char *v = w->s + w->i;
    if (c == '-' || (c >= '0' && c <= '9')) {
        *t = J_NUMBER;
    } else if (*ln == 4 && memcmp(v, "true", 4) == 0) {
        *t = J_BOOL;
    } else if (*ln == 5 && memcmp(v, "false", 5) == 0) {
        *t = J_BOOL;
    } else if (*ln == 4 && memcmp(v, "null", 4) == 0) {
        *t = J_NULL;
    } else {
        w->err = ERR_TYPE;
        return false;
    }
    w->i = e;
    return true;
}

/* An unescaped copy of a raw string body in the entry arena ("" when the
 * escapes are malformed, like Loki). */
static struct tr_slice unescape(struct tr_logql_lb *lb, const char *s, size_t n)
{
    if (!memchr(s, '\\', n) && tr_utf8_valid(s, n) &&
        !(n >= 3 && memmem(s, n, "\xef\xbf\xbd", 3))) {
        return (struct tr_slice){s, n};
    }
    char *o = tr_arena_alloc(tr_logql_lb__arena(lb), n + 1);
    if (!o) {
        tr_logql_lb__set_oom(lb);
        return (struct tr_slice){"", 0};
    }
    long k = tr_logql__json_unescape(o, s, n);
    if (k < 0) {
        return (struct tr_slice){"", 0};
    }
    return (struct tr_slice){o, (size_t)k};
}

/* Appends the sanitized key part to w->key at len; returns the new length
 * (len when the part trims to nothing). */
static size_t key_append(struct jwalk *w, size_t len, const char *s, size_t n)
{
    /* trim to see whether anything is left */
    size_t a = 0, b = n, l;
    while (a < b && (l = tr_logql__space_len(s + a, b - a)) > 0) {
        a += l;
    }
    if (a == b) {
        return len;
    }
    if (len > 0) {
        w->key[len++] = '_';
        /* a leading digit only gets "_" when the key is empty */
        size_t o = tr_logql__sanitize_into(w->key + len, s, n);
        if (o > 0 && w->key[len] == '_' && s[a] >= '0' && s[a] <= '9') {
            memmove(w->key + len, w->key + len + 1, o - 1);
            o--;
        }
        return len + o;
    }
    return tr_logql__sanitize_into(w->key, s, n);
}

static bool json_object(struct jwalk *w, size_t plen, int depth);

static bool json_member(struct jwalk *w,
                        size_t plen,
                        int depth,
                        size_t kst,
                        size_t kln)
{
    enum jtype t;
    size_t st, ln;
    if (!read_value(w, &t, &st, &ln, false)) {
        return false;
    }
    if (t == J_OBJECT) {
        size_t nl = key_append(w, plen, w->s + kst, kln);
        return json_object(w, nl, depth + 1);
    }
    if (t == J_ARRAY) {
        return skip_block(w);
    }
    if (t == J_NULL) {
        return true;
    }
    size_t kl = key_append(w, plen, w->s + kst, kln);
    if (kl == 0) {
        return true;
    }
    struct tr_slice key = {w->key, kl};
    struct tr_slice val;
    if (t == J_STRING) {
        val = unescape(w->lb, w->s + st, ln);
    } else {
        val = (struct tr_slice){w->s + st, ln};
    }
    key = tr_logql_lb__parsed_key(w->lb, key);
    if (!tr_logql_lb__extracted(w->lb, key)) {
        tr_logql_lb_set(w->lb, TR_LOGQL_CAT_PARSED, key, val);
    }
    return true;
}

/* At '{': reads the members; w->i after the closing '}'. */
static bool json_object(struct jwalk *w, size_t plen, int depth)
{
    if (depth > JP_MAX_DEPTH) {
        w->err = ERR_MALFORMED;
        return false;
    }
    if (w->i >= w->n || w->s[w->i] != '{') {
        w->err = ERR_OBJECT;
        return false;
    }
    w->i++;
    skip_ws(w);
    if (w->i < w->n && w->s[w->i] == '}') {
        w->i++;
        return true;
    }
    for (;;) {
        skip_ws(w);
        if (w->i >= w->n || w->s[w->i] != '"') {
            w->err = ERR_MALFORMED;
            return false;
        }
        size_t kst, kln;
        if (!read_string(w, &kst, &kln)) {
            return false;
        }
        skip_ws(w);
        if (w->i >= w->n || w->s[w->i] != ':') {
            w->err = ERR_MALFORMED;
            return false;
        }
        w->i++;
        skip_ws(w);
        if (!json_member(w, plen, depth, kst, kln)) {
            return false;
        }
        skip_ws(w);
        if (w->i >= w->n) {
            w->err = ERR_OBJECT;
            return false;
        }
        if (w->s[w->i] == ',') {
            w->i++;
            continue;
        }
        if (w->s[w->i] == '}') {
            w->i++;
            return true;
        }
        w->err = ERR_MALFORMED;
        return false;
    }
}

bool tr_logql__json_process(const struct tr_logql_parser *p,
                            struct tr_logql_lb *lb,
                            struct tr_slice *line)
{
    (void)p;
    struct jwalk w = {line->base, line->len, 0, lb, NULL, NULL};
    w.key = tr_arena_alloc(tr_logql_lb__arena(lb), 2 * line->len + 16);
    if (!w.key) {
        tr_logql_lb__set_oom(lb);
        return true;
    }
    skip_ws(&w);
    if (!json_object(&w, 0, 0)) {
        tr_logql__set_error(lb, TR_LOGQL_ERR_JSON, w.err);
    }
    return true;
}

/* ---- expressions ----------------------------------------------------------
 */

/* Finds the value at path steps from the value at w->i. */
static bool jpath_find(struct jwalk *w,
                       const struct tr_logql_jpath_step *steps,
                       size_t n,
                       enum jtype *t,
                       size_t *st,
                       size_t *ln)
{
    for (size_t k = 0; k < n; k++) {
        skip_ws(w);
        if (w->i >= w->n) {
            return false;
        }
        const struct tr_logql_jpath_step *sp = &steps[k];
        char open = sp->is_index ? '[' : '{';
        if (w->s[w->i] != open) {
            return false;
        }
        w->i++;
        bool found = false;
        for (size_t idx = 0;; idx++) {
            skip_ws(w);
            if (w->i >= w->n) {
                return false;
            }
            if (w->s[w->i] == (sp->is_index ? ']' : '}')) {
                return false;
            }
            bool match;
            if (sp->is_index) {
                match = idx == sp->index;
            } else {
                size_t kst, kln;
                if (w->s[w->i] != '"' || !read_string(w, &kst, &kln)) {
                    return false;
                }
                struct tr_slice key = unescape(w->lb, w->s + kst, kln);
                match = key.len == sp->key_len &&
                        memcmp(key.base, sp->key, key.len) == 0;
                skip_ws(w);
                if (w->i >= w->n || w->s[w->i] != ':') {
                    return false;
                }
                w->i++;
                skip_ws(w);
            }
            if (match) {
                found = true;
                break;
            }
            enum jtype tt;
            size_t a, b;
            if (!read_value(w, &tt, &a, &b, true)) {
                return false;
            }
            skip_ws(w);
            if (w->i < w->n && w->s[w->i] == ',') {
                w->i++;
            }
        }
        if (!found) {
            return false;
        }
    }
    skip_ws(w);
    return read_value(w, t, st, ln, true);
}

bool tr_logql__json_expr_process(const struct tr_logql_parser *p,
                                 struct tr_logql_lb *lb,
                                 struct tr_slice *line)
{
    if (line->len == 0) {
        return true;
    }
    char c0 = line->base[0];
    if (c0 != '"' && c0 != '{' && c0 != '[') {
        tr_logql_lb_set_err(lb, TR_LOGQL_ERR_JSON);
        return true;
    }
    size_t matches = 0;
    for (size_t k = 0; k < p->n_exprs; k++) {
        const struct tr_logql_pexpr *e = &p->exprs[k];
        struct jwalk w = {line->base, line->len, 0, lb, NULL, NULL};
        enum jtype t;
        size_t st, ln;
        if (!jpath_find(&w, e->steps, e->n_steps, &t, &st, &ln)) {
            continue;
        }
        struct tr_slice key = {e->label, e->label_len};
        key = tr_logql_lb__parsed_key(lb, key);
        struct tr_slice val;
        if (t == J_NULL) {
            val = (struct tr_slice){"", 0};
        } else if (t == J_OBJECT) {
            val = (struct tr_slice){line->base + st, ln};
        } else {
            val = unescape(lb, line->base + st, ln);
        }
        tr_logql_lb_set(lb, TR_LOGQL_CAT_PARSED, key, val);
        matches++;
    }
    if (matches < p->n_exprs) {
        for (size_t k = 0; k < p->n_exprs; k++) {
            struct tr_slice id = {p->exprs[k].label, p->exprs[k].label_len};
            struct tr_slice v;
            if (!tr_logql_lb_get(lb, id, &v, NULL)) {
                tr_logql_lb_set(lb, TR_LOGQL_CAT_PARSED, id, v);
            }
        }
    }
    return true;
}

int tr_logql__jpath_parse(const char *s,
                          size_t n,
                          struct tr_logql_pexpr *e,
                          char *errmsg)
{
    size_t i = 0, cap = 0;
    const char *why = NULL;
    bool first = true;
    e->steps = NULL;
    e->n_steps = 0;
    while (i < n) {
        struct tr_logql_jpath_step step = {false, 0, NULL, 0};
        const char *ks = NULL;
        size_t kn = 0;
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) {
            i++;
        }
        if (i == n) {
            break;
        }
        if (s[i] == '[') {
            i++;
            while (i < n && s[i] == ' ') {
                i++;
            }
            if (i < n && s[i] == '"') {
                size_t st = ++i;
                while (i < n && s[i] != '"' && s[i] != ']') {
                    i++;
                }
                ks = s + st;
                kn = i - st;
                if (i < n && s[i] == '"') {
                    i++;
                }
            } else if (i < n && s[i] >= '0' && s[i] <= '9') {
                step.is_index = true;
                while (i < n && s[i] >= '0' && s[i] <= '9') {
                    if (step.index > 100000000) {
                        why = "index out of range";
                        goto err;
                    }
                    step.index = step.index * 10 + (size_t)(s[i] - '0');
                    i++;
                }
                if (i < n && s[i] == '.') {
                    why = "cannot use float as array index";
                    goto err;
                }
            } else {
                why = "syntax error: unexpected end of expression";
                goto err;
            }
            while (i < n && s[i] == ' ') {
                i++;
            }
            if (i >= n || s[i] != ']') {
                why =
                    "syntax error: unexpected end of expression, expecting RSB";
                goto err;
            }
            i++;
        } else {
            if (!first) {
                if (s[i] != '.') {
                    why = "syntax error: unexpected FIELD";
                    goto err;
                }
                i++;
            }
            size_t st = i;
            char c = i < n ? s[i] : 0;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '_')) {
                why = "syntax error: unexpected character";
                goto err;
            }
            while (i < n && ((s[i] >= 'a' && s[i] <= 'z') ||
                             (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' ||
                             (s[i] >= '0' && s[i] <= '9'))) {
                i++;
            }
            ks = s + st;
            kn = i - st;
        }
        first = false;
        if (!step.is_index) {
            step.key = tr_strndup(ks, kn);
            if (!step.key) {
                goto oom;
            }
            step.key_len = kn;
        }
        if (e->n_steps == cap) {
            struct tr_logql_jpath_step *nv =
                tr_array_grow(e->steps, &cap, sizeof(*nv), 4);
            if (!nv) {
                tr_free(step.key);
                goto oom;
            }
            e->steps = nv;
        }
        e->steps[e->n_steps++] = step;
    }
    if (e->n_steps == 0) {
        why = "syntax error: unexpected end of expression";
        goto err;
    }
    return 0;
err:
    tr_errf(TR_EINVAL, errmsg, "cannot parse expression [%.*s]: %s",
            (int)(n > 200 ? 200 : n), s, why);
    return TR_EINVAL;
oom:
    return TR_ENOMEM;
}

/* ---- unpack ------------------------------------------------------------- */

bool tr_logql__unpack_process(struct tr_logql_lb *lb, struct tr_slice *line)
{
    if (line->len == 0) {
        return true;
    }
    if (line->base[0] != '{') {
        tr_logql__set_error(lb, TR_LOGQL_ERR_JSON, ERR_UNPACK);
        return true;
    }
    struct jwalk w = {line->base, line->len, 0, lb, NULL, NULL};
    struct tr_slice entry = *line;
    bool packed = false;
    /* pairs to set once the object is known to be packed */
    size_t cap = 0, np = 0;
    struct tr_slice *pairs = NULL;
    w.i = 1;
    skip_ws(&w);
    bool ok = true;
    if (w.i < w.n && w.s[w.i] == '}') {
        w.i++;
    } else {
        for (;;) {
            skip_ws(&w);
            size_t kst, kln, st, ln;
            enum jtype t;
            if (w.i >= w.n || w.s[w.i] != '"' || !read_string(&w, &kst, &kln)) {
                ok = false;
                break;
            }
            skip_ws(&w);
            if (w.i >= w.n || w.s[w.i] != ':') {
                ok = false;
                break;
            }
            w.i++;
            skip_ws(&w);
            if (!read_value(&w, &t, &st, &ln, true)) {
                ok = false;
                break;
            }
            if (t == J_STRING) {
                struct tr_slice key = {w.s + kst, kln};
                if (tr_slice_eq_cstr(key, "_entry")) {
                    char *o = tr_arena_alloc(tr_logql_lb__arena(lb), ln + 1);
                    if (!o) {
                        tr_logql_lb__set_oom(lb);
                        return true;
                    }
                    long k = tr_logql__json_unescape(o, w.s + st, ln);
                    if (k < 0) {
                        ok = false;
                        w.err = ERR_MALFORMED;
                        break;
                    }
                    entry = (struct tr_slice){o, (size_t)k};
                    packed = true;
                } else {
                    key = tr_logql_lb__parsed_key(lb, key);
                    if (!tr_logql_lb__extracted(lb, key)) {
                        if (np + 2 > cap) {
                            struct tr_slice *nv = tr_arena_array_grow(
                                tr_logql_lb__arena(lb), pairs, np, &cap,
                                sizeof(*nv), 16);
                            if (!nv) {
                                tr_logql_lb__set_oom(lb);
                                return true;
                            }
                            pairs = nv;
                        }
                        pairs[np++] =
                            tr_logql__sanitize_key(lb, key.base, key.len);
                        pairs[np++] = unescape(lb, w.s + st, ln);
                    }
                }
            }
            skip_ws(&w);
            if (w.i < w.n && w.s[w.i] == ',') {
                w.i++;
                continue;
            }
            if (w.i < w.n && w.s[w.i] == '}') {
                w.i++;
                break;
            }
            ok = false;
            break;
        }
    }
    if (!ok) {
        tr_logql__set_error(lb, TR_LOGQL_ERR_JSON,
                            w.err ? w.err : ERR_MALFORMED);
        return true;
    }
    if (packed) {
        for (size_t k = 0; k + 1 < np; k += 2) {
            tr_logql_lb_set(lb, TR_LOGQL_CAT_PARSED, pairs[k], pairs[k + 1]);
        }
        *line = entry;
    }
    return true;
}
