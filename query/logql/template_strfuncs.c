/* template_strfuncs.c - the string, URL, base64 and regex functions of
 * LogQL templates (Loki's and sprig's; see template.h for the list). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/matcher.h"
#include "query/logql/stages_int.h"
#include "query/logql/template_int.h"

#define ARENA(x) tr_logql_lb__arena((x)->lb)

/* Simple case mapping of a two-byte UTF-8 rune r (U+0080..U+07FF):
 * Latin-1, Greek and Cyrillic letters whose pair has the same length;
 * other runes map to themselves. */
static unsigned map_rune2(unsigned r, bool up)
{
    if (up) {
        if ((r >= 0xe0 && r <= 0xfe && r != 0xf7) ||
            (r >= 0x3b1 && r <= 0x3c9 && r != 0x3c2) ||
            (r >= 0x430 && r <= 0x44f)) {
            return r - 0x20;
        }
        if (r >= 0x450 && r <= 0x45f) {
            return r - 0x50;
        }
        return r;
    }
    if ((r >= 0xc0 && r <= 0xde && r != 0xd7) ||
        (r >= 0x391 && r <= 0x3a9 && r != 0x3a2) ||
        (r >= 0x410 && r <= 0x42f)) {
        return r + 0x20;
    }
    if (r >= 0x400 && r <= 0x40f) {
        return r + 0x50;
    }
    return r;
}

/* strings.ToUpper / ToLower for ASCII and the two-byte letters above. */
static int map_case(struct tt_exec *x,
                    struct tr_slice s,
                    bool up,
                    struct tt_val *out)
{
    char *o = tr_arena_alloc(ARENA(x), s.len + 1);
    if (!o) {
        tr_logql_lb__set_oom(x->lb);
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.base[i];
        if (up && c >= 'a' && c <= 'z') {
            c = (unsigned char)(c - 'a' + 'A');
        } else if (!up && c >= 'A' && c <= 'Z') {
            c = (unsigned char)(c - 'A' + 'a');
        } else if (c >= 0xc2 && c <= 0xdf && i + 1 < s.len &&
                   ((unsigned char)s.base[i + 1] & 0xc0) == 0x80) {
            unsigned r =
                ((c & 0x1fu) << 6) | ((unsigned char)s.base[i + 1] & 0x3fu);
            r = map_rune2(r, up);
            o[i] = (char)(0xc0 | (r >> 6));
            o[i + 1] = (char)(0x80 | (r & 0x3f));
            i++;
            continue;
        }
        o[i] = (char)c;
    }
    out->kind = TV_STR;
    out->s = (struct tr_slice){o, s.len};
    return 0;
}

static int f_lower(struct tt_exec *x,
                   const struct tt_val *a,
                   size_t n,
                   struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    return map_case(x, s, false, out);
}

static int f_upper(struct tt_exec *x,
                   const struct tt_val *a,
                   size_t n,
                   struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    return map_case(x, s, true, out);
}

static int f_title(struct tt_exec *x,
                   const struct tt_val *a,
                   size_t n,
                   struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    char *o = tr_arena_alloc(ARENA(x), s.len + 1);
    if (!o) {
        tr_logql_lb__set_oom(x->lb);
        return TR_ENOMEM;
    }
    bool prev_sep = true;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.base[i];
        o[i] = (char)c;
        bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
        if (prev_sep && c >= 'a' && c <= 'z') {
            o[i] = (char)(c - 'a' + 'A');
        }
        prev_sep = !word;
    }
    out->kind = TV_STR;
    out->s = (struct tr_slice){o, s.len};
    return 0;
}

static const char *find(struct tr_slice h, struct tr_slice nd)
{
    if (nd.len == 0) {
        return h.base;
    }
    if (nd.len > h.len) {
        return NULL;
    }
    return memmem(h.base, h.len, nd.base, nd.len);
}

/* strings.Replace(s, old, new, n) */
static int replace(struct tt_exec *x,
                   struct tr_slice s,
                   struct tr_slice old,
                   struct tr_slice nw,
                   int64_t n,
                   struct tt_val *out)
{
    struct tt_sb b = {x, NULL, 0, 0};
    if (old.len == 0) {
        /* Go inserts new before every rune and at the end */
        size_t i = 0;
        int64_t k = 0;
        while (n < 0 || k < n) {
            tt_sb_add(&b, nw.base, nw.len);
            k++;
            if (i >= s.len) {
                break;
            }
            size_t l =
                tr_utf8_seq_len((const unsigned char *)s.base + i, s.len - i);
            l = l ? l : 1;
            tt_sb_add(&b, s.base + i, l);
            i += l;
        }
        tt_sb_add(&b, s.base + i, s.len - i);
        if (b.n > TT_MAX_OUTPUT) {
            return tt_fail(x, "output too large");
        }
        return tt_sb_done(&b, out);
    }
    size_t i = 0;
    int64_t k = 0;
    while (n < 0 || k < n) {
        const char *f = find((struct tr_slice){s.base + i, s.len - i}, old);
        if (!f) {
            break;
        }
        size_t at = (size_t)(f - s.base);
        tt_sb_add(&b, s.base + i, at - i);
        if (!tt_sb_add(&b, nw.base, nw.len)) {
            return tr_logql_lb_oom(x->lb) ? TR_ENOMEM
                                          : tt_fail(x, "output too large");
        }
        i = at + old.len;
        k++;
    }
    tt_sb_add(&b, s.base + i, s.len - i);
    return tt_sb_done(&b, out);
}

static int f_Replace(struct tt_exec *x,
                     const struct tt_val *a,
                     size_t n,
                     struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    STR_ARG(1, old);
    STR_ARG(2, nw);
    INT_ARG(3, k);
    return replace(x, s, old, nw, k, out);
}

static int f_replace(struct tt_exec *x,
                     const struct tt_val *a,
                     size_t n,
                     struct tt_val *out)
{
    (void)n;
    STR_ARG(0, old);
    STR_ARG(1, nw);
    STR_ARG(2, s);
    return replace(x, s, old, nw, -1, out);
}

static bool in_cutset(struct tr_slice cut, const char *s, size_t l)
{
    for (size_t i = 0; i < cut.len;) {
        size_t cl =
            tr_utf8_seq_len((const unsigned char *)cut.base + i, cut.len - i);
        cl = cl ? cl : 1;
        if (cl == l && memcmp(cut.base + i, s, l) == 0) {
            return true;
        }
        i += cl;
    }
    return false;
}

static struct tr_slice trim_cut(struct tr_slice s,
                                struct tr_slice cut,
                                bool left,
                                bool right)
{
    if (left) {
        while (s.len) {
            size_t l = tr_utf8_seq_len((const unsigned char *)s.base, s.len);
            l = l ? l : 1;
            if (!in_cutset(cut, s.base, l)) {
                break;
            }
            s.base += l;
            s.len -= l;
        }
    }
    if (right) {
        while (s.len) {
            size_t l = 1;
            while (l < s.len && l < 4 &&
                   ((unsigned char)s.base[s.len - l] & 0xc0) == 0x80) {
                l++;
            }
            if (tr_utf8_seq_len((const unsigned char *)s.base + s.len - l, l) !=
                l) {
                l = 1;
            }
            if (!in_cutset(cut, s.base + s.len - l, l)) {
                break;
            }
            s.len -= l;
        }
    }
    return s;
}

static struct tr_slice trim_space(struct tr_slice s)
{
    size_t l;
    while (s.len && (l = tr_logql__space_len(s.base, s.len)) > 0) {
        s.base += l;
        s.len -= l;
    }
    for (bool again = true; again && s.len;) {
        again = false;
        for (size_t k = 1; k <= 3 && k <= s.len; k++) {
            if (tr_logql__space_len(s.base + s.len - k, k) == k) {
                s.len -= k;
                again = true;
                break;
            }
        }
    }
    return s;
}

int tt_ret_slice(struct tt_val *out, struct tr_slice s)
{
    out->kind = TV_STR;
    out->s = s;
    return 0;
}

static int f_Trim(struct tt_exec *x,
                  const struct tt_val *a,
                  size_t n,
                  struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    STR_ARG(1, cut);
    return tt_ret_slice(out, trim_cut(s, cut, true, true));
}

static int f_TrimLeft(struct tt_exec *x,
                      const struct tt_val *a,
                      size_t n,
                      struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    STR_ARG(1, cut);
    return tt_ret_slice(out, trim_cut(s, cut, true, false));
}

static int f_TrimRight(struct tt_exec *x,
                       const struct tt_val *a,
                       size_t n,
                       struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    STR_ARG(1, cut);
    return tt_ret_slice(out, trim_cut(s, cut, false, true));
}

static struct tr_slice trim_prefix(struct tr_slice s, struct tr_slice p)
{
    if (s.len >= p.len && memcmp(s.base, p.base, p.len) == 0) {
        s.base += p.len;
        s.len -= p.len;
    }
    return s;
}

static struct tr_slice trim_suffix(struct tr_slice s, struct tr_slice p)
{
    if (s.len >= p.len && memcmp(s.base + s.len - p.len, p.base, p.len) == 0) {
        s.len -= p.len;
    }
    return s;
}

static int f_TrimPrefix(struct tt_exec *x,
                        const struct tt_val *a,
                        size_t n,
                        struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    STR_ARG(1, p);
    return tt_ret_slice(out, trim_prefix(s, p));
}

static int f_TrimSuffix(struct tt_exec *x,
                        const struct tt_val *a,
                        size_t n,
                        struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    STR_ARG(1, p);
    return tt_ret_slice(out, trim_suffix(s, p));
}

static int f_trimPrefix(struct tt_exec *x,
                        const struct tt_val *a,
                        size_t n,
                        struct tt_val *out)
{
    (void)n;
    STR_ARG(0, p);
    STR_ARG(1, s);
    return tt_ret_slice(out, trim_prefix(s, p));
}

static int f_trimSuffix(struct tt_exec *x,
                        const struct tt_val *a,
                        size_t n,
                        struct tt_val *out)
{
    (void)n;
    STR_ARG(0, p);
    STR_ARG(1, s);
    return tt_ret_slice(out, trim_suffix(s, p));
}

static int f_trim(struct tt_exec *x,
                  const struct tt_val *a,
                  size_t n,
                  struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    return tt_ret_slice(out, trim_space(s));
}

static int f_trimAll(struct tt_exec *x,
                     const struct tt_val *a,
                     size_t n,
                     struct tt_val *out)
{
    (void)n;
    STR_ARG(0, cut);
    STR_ARG(1, s);
    return tt_ret_slice(out, trim_cut(s, cut, true, true));
}

static int f_contains(struct tt_exec *x,
                      const struct tt_val *a,
                      size_t n,
                      struct tt_val *out)
{
    (void)n;
    STR_ARG(0, sub);
    STR_ARG(1, s);
    *out = tt_mk_bool(find(s, sub) != NULL);
    return 0;
}

static int f_hasPrefix(struct tt_exec *x,
                       const struct tt_val *a,
                       size_t n,
                       struct tt_val *out)
{
    (void)n;
    STR_ARG(0, p);
    STR_ARG(1, s);
    *out = tt_mk_bool(s.len >= p.len && memcmp(s.base, p.base, p.len) == 0);
    return 0;
}

static int f_hasSuffix(struct tt_exec *x,
                       const struct tt_val *a,
                       size_t n,
                       struct tt_val *out)
{
    (void)n;
    STR_ARG(0, p);
    STR_ARG(1, s);
    *out = tt_mk_bool(s.len >= p.len &&
                      memcmp(s.base + s.len - p.len, p.base, p.len) == 0);
    return 0;
}

/* Rune offsets of s: the byte offset of rune k. */
static size_t rune_off(struct tr_slice s, int64_t k)
{
    return tt_rune_prefix(s.base, s.len, k < 0 ? 0 : (size_t)k);
}

static int f_trunc(struct tt_exec *x,
                   const struct tt_val *a,
                   size_t n,
                   struct tt_val *out)
{
    (void)n;
    INT_ARG(0, c);
    STR_ARG(1, s);
    int64_t l = (int64_t)tt_rune_count(s.base, s.len);
    if (c < 0 && l + c > 0) {
        size_t off = rune_off(s, l + c);
        return tt_ret_slice(out, (struct tr_slice){s.base + off, s.len - off});
    }
    if (c >= 0 && l > c) {
        return tt_ret_slice(out, (struct tr_slice){s.base, rune_off(s, c)});
    }
    return tt_ret_slice(out, s);
}

static int f_substr(struct tt_exec *x,
                    const struct tt_val *a,
                    size_t n,
                    struct tt_val *out)
{
    (void)n;
    INT_ARG(0, start);
    INT_ARG(1, end);
    STR_ARG(2, s);
    int64_t l = (int64_t)tt_rune_count(s.base, s.len);
    if (end > l) {
        end = l;
    }
    if (start > l) {
        start = l;
    }
    if (start < 0) {
        if (end < 0) {
            return tt_ret_slice(out, (struct tr_slice){"", 0});
        }
        return tt_ret_slice(out, (struct tr_slice){s.base, rune_off(s, end)});
    }
    if (end < 0) {
        size_t off = rune_off(s, start);
        return tt_ret_slice(out, (struct tr_slice){s.base + off, s.len - off});
    }
    if (start > end) {
        return tt_ret_slice(out, (struct tr_slice){"", 0});
    }
    size_t so = rune_off(s, start), eo = rune_off(s, end);
    return tt_ret_slice(out, (struct tr_slice){s.base + so, eo - so});
}

static int indent(struct tt_exec *x,
                  const struct tt_val *a,
                  bool nl,
                  struct tt_val *out)
{
    INT_ARG(0, sp);
    STR_ARG(1, s);
    if (sp < 0) {
        return tt_fail(x, "error calling indent: negative count");
    }
    if (sp > 1000) {
        return tt_fail(x, "error calling indent: count too large");
    }
    struct tt_sb b = {x, NULL, 0, 0};
    if (nl) {
        tt_sb_add(&b, "\n", 1);
    }
    for (int64_t k = 0; k < sp; k++) {
        tt_sb_add(&b, " ", 1);
    }
    for (size_t i = 0; i < s.len; i++) {
        if (!tt_sb_add(&b, s.base + i, 1)) {
            return tr_logql_lb_oom(x->lb) ? TR_ENOMEM
                                          : tt_fail(x, "output too large");
        }
        if (s.base[i] == '\n') {
            for (int64_t k = 0; k < sp; k++) {
                tt_sb_add(&b, " ", 1);
            }
        }
    }
    return tt_sb_done(&b, out);
}

static int f_indent(struct tt_exec *x,
                    const struct tt_val *a,
                    size_t n,
                    struct tt_val *out)
{
    (void)n;
    return indent(x, a, false, out);
}

static int f_nindent(struct tt_exec *x,
                     const struct tt_val *a,
                     size_t n,
                     struct tt_val *out)
{
    (void)n;
    return indent(x, a, true, out);
}

static int f_repeat(struct tt_exec *x,
                    const struct tt_val *a,
                    size_t n,
                    struct tt_val *out)
{
    (void)n;
    INT_ARG(0, c);
    STR_ARG(1, s);
    if (c < 0) {
        return tt_fail(x,
                       "error calling repeat: strings: negative Repeat count");
    }
    if (s.len && (uint64_t)c > TT_MAX_OUTPUT / s.len) {
        return tt_fail(x, "error calling repeat: output too large");
    }
    struct tt_sb b = {x, NULL, 0, 0};
    for (int64_t k = 0; k < c; k++) {
        tt_sb_add(&b, s.base, s.len);
    }
    return tt_sb_done(&b, out);
}

static int align(struct tt_exec *x,
                 const struct tt_val *a,
                 bool left,
                 struct tt_val *out)
{
    INT_ARG(0, c);
    STR_ARG(1, s);
    int64_t l = (int64_t)tt_rune_count(s.base, s.len);
    if (c < 0 || c == l) {
        return tt_ret_slice(out, s);
    }
    if (c > 100000) {
        return tt_fail(x, "count too large");
    }
    if (c > l) {
        struct tt_sb b = {x, NULL, 0, 0};
        if (left) {
            tt_sb_add(&b, s.base, s.len);
        }
        for (int64_t k = l; k < c; k++) {
            tt_sb_add(&b, " ", 1);
        }
        if (!left) {
            tt_sb_add(&b, s.base, s.len);
        }
        return tt_sb_done(&b, out);
    }
    if (left) {
        return tt_ret_slice(out, (struct tr_slice){s.base, rune_off(s, c)});
    }
    size_t off = rune_off(s, l - c);
    return tt_ret_slice(out, (struct tr_slice){s.base + off, s.len - off});
}

static int f_alignLeft(struct tt_exec *x,
                       const struct tt_val *a,
                       size_t n,
                       struct tt_val *out)
{
    (void)n;
    return align(x, a, true, out);
}

static int f_alignRight(struct tt_exec *x,
                        const struct tt_val *a,
                        size_t n,
                        struct tt_val *out)
{
    (void)n;
    return align(x, a, false, out);
}

static int f_urlencode(struct tt_exec *x,
                       const struct tt_val *a,
                       size_t n,
                       struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    struct tt_sb b = {x, NULL, 0, 0};
    tt_query_escape(&b, s.base, s.len);
    return tt_sb_done(&b, out);
}

static int hexv(char c)
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

static int f_urldecode(struct tt_exec *x,
                       const struct tt_val *a,
                       size_t n,
                       struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    char *o = tr_arena_alloc(ARENA(x), s.len + 1);
    if (!o) {
        tr_logql_lb__set_oom(x->lb);
        return TR_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.base[i];
        if (c == '+') {
            o[k++] = ' ';
        } else if (c == '%') {
            if (i + 2 >= s.len + 0 || hexv(s.base[i + 1]) < 0 ||
                hexv(s.base[i + 2]) < 0) {
                size_t m = s.len - i < 3 ? s.len - i : 3;
                return tt_fail(
                    x, "error calling urldecode: invalid URL escape \"%.*s\"",
                    (int)m, s.base + i);
            }
            o[k++] = (char)(hexv(s.base[i + 1]) * 16 + hexv(s.base[i + 2]));
            i += 2;
        } else {
            o[k++] = c;
        }
    }
    return tt_ret_slice(out, (struct tr_slice){o, k});
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int f_b64enc(struct tt_exec *x,
                    const struct tt_val *a,
                    size_t n,
                    struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    char *o = tr_arena_alloc(ARENA(x), (s.len + 2) / 3 * 4 + 1);
    if (!o) {
        tr_logql_lb__set_oom(x->lb);
        return TR_ENOMEM;
    }
    size_t k = 0;
    const unsigned char *u = (const unsigned char *)s.base;
    for (size_t i = 0; i < s.len; i += 3) {
        uint32_t v = (uint32_t)u[i] << 16;
        if (i + 1 < s.len) {
            v |= (uint32_t)u[i + 1] << 8;
        }
        if (i + 2 < s.len) {
            v |= u[i + 2];
        }
        o[k++] = b64[(v >> 18) & 63];
        o[k++] = b64[(v >> 12) & 63];
        o[k++] = i + 1 < s.len ? b64[(v >> 6) & 63] : '=';
        o[k++] = i + 2 < s.len ? b64[v & 63] : '=';
    }
    return tt_ret_slice(out, (struct tr_slice){o, k});
}

static int b64_err(struct tt_exec *x, size_t at, struct tt_val *out)
{
    char msg[64];
    snprintf(msg, sizeof(msg), "illegal base64 data at input byte %zu", at);
    *out = tt_str(x, msg, strlen(msg));
    return tr_logql_lb_oom(x->lb) ? TR_ENOMEM : 0;
}

/* Loki's b64dec: pads a short tail, decodes with Go's StdEncoding; a
 * decoding error becomes the result text. */
static int f_b64dec(struct tt_exec *x,
                    const struct tt_val *a,
                    size_t n,
                    struct tt_val *out)
{
    (void)n;
    STR_ARG(0, s);
    size_t rem = s.len % 4;
    size_t total = s.len + ((rem == 2 || rem == 3) ? 4 - rem : 0);
    if (total % 4) {
        return b64_err(x, s.len - 1, out);
    }
    char *o = tr_arena_alloc(ARENA(x), total / 4 * 3 + 1);
    if (!o) {
        tr_logql_lb__set_oom(x->lb);
        return TR_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < total; i += 4) {
        uint32_t v = 0;
        int pads = 0;
        for (size_t j = 0; j < 4; j++) {
            char c = i + j < s.len ? s.base[i + j] : '=';
            if (c == '=') {
                if (j < 2 || i + 4 != total ||
                    (j == 2 && (i + 3 < s.len ? s.base[i + 3] : '=') != '=')) {
                    return b64_err(x, i + j, out);
                }
                pads++;
                v <<= 6;
                continue;
            }
            const char *p = c ? strchr(b64, c) : NULL;
            if (!p || pads) {
                return b64_err(x, i + j, out);
            }
            v = (v << 6) | (uint32_t)(p - b64);
        }
        o[k++] = (char)(v >> 16);
        if (pads < 2) {
            o[k++] = (char)(v >> 8);
        }
        if (pads < 1) {
            o[k++] = (char)v;
        }
    }
    return tt_ret_slice(out, (struct tr_slice){o, k});
}

/* ---- regex functions
 * --------------------------------------------------------- */

static int re_compile(struct tt_exec *x,
                      const char *fn,
                      struct tr_slice re,
                      pcre2_code **code)
{
    struct tr_regex *chk;
    char msg[TR_ERRMSG_SIZE];
    if (tr_regex_compile(re.base, re.len, false, &chk, msg)) {
        return tt_fail(x, "error calling %s: %s", fn, msg);
    }
    tr_regex_free(chk);
    int ec;
    PCRE2_SIZE eo;
    *code = pcre2_compile((PCRE2_SPTR)(re.len ? re.base : ""), re.len,
                          PCRE2_UTF | PCRE2_MATCH_INVALID_UTF |
                              PCRE2_DOLLAR_ENDONLY | PCRE2_DUPNAMES,
                          &ec, &eo, NULL);
    if (!*code) {
        return tt_fail(x, "error calling %s: error parsing regexp", fn);
    }
    return 0;
}

/* Go's Regexp.Expand of template for one match. */
static void expand(struct tt_sb *b,
                   pcre2_code *code,
                   struct tr_slice tpl,
                   const char *s,
                   const PCRE2_SIZE *ov,
                   int rc)
{
    for (size_t i = 0; i < tpl.len;) {
        if (tpl.base[i] != '$' || i + 1 >= tpl.len) {
            tt_sb_add(b, tpl.base + i, 1);
            i++;
            continue;
        }
        i++;
        if (tpl.base[i] == '$') {
            tt_sb_add(b, "$", 1);
            i++;
            continue;
        }
        bool brace = tpl.base[i] == '{';
        size_t st = brace ? i + 1 : i, e = st;
        while (e < tpl.len && ((tpl.base[e] >= 'a' && tpl.base[e] <= 'z') ||
                               (tpl.base[e] >= 'A' && tpl.base[e] <= 'Z') ||
                               (tpl.base[e] >= '0' && tpl.base[e] <= '9') ||
                               tpl.base[e] == '_')) {
            e++;
        }
        if (e == st || (brace && (e >= tpl.len || tpl.base[e] != '}'))) {
            tt_sb_add(b, "$", 1); /* malformed: keep the dollar */
            continue;
        }
        char name[64];
        size_t nl = e - st < sizeof(name) - 1 ? e - st : sizeof(name) - 1;
        memcpy(name, tpl.base + st, nl);
        name[nl] = 0;
        long g = -1;
        bool digits = true;
        for (size_t k = 0; k < nl; k++) {
            digits = digits && name[k] >= '0' && name[k] <= '9';
        }
        if (digits) {
            g = nl < 9 ? strtol(name, NULL, 10) : -1;
        } else {
            int r = pcre2_substring_number_from_name(code, (PCRE2_SPTR)name);
            g = r > 0 ? r : -1;
        }
        if (g >= 0 && g < rc && ov[2 * g] != PCRE2_UNSET) {
            tt_sb_add(b, s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
        }
        i = brace ? e + 1 : e;
    }
}

/* ReplaceAll / count over every match. mode 0: expand, 1: literal, 2:
 * count only. */
static int re_all(struct tt_exec *x,
                  const char *fn,
                  struct tr_slice re,
                  struct tr_slice s,
                  struct tr_slice repl,
                  int mode,
                  struct tt_val *out)
{
    pcre2_code *code;
    int rc = re_compile(x, fn, re, &code);
    if (rc) {
        return rc;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    if (!md) {
        pcre2_code_free(code);
        return TR_ENOMEM;
    }
    struct tt_sb b = {x, NULL, 0, 0};
    size_t pos = 0, last = 0, count = 0;
    long prev_end = -1;
    const char *base = s.len ? s.base : "";
    while (pos <= s.len) {
        int r = pcre2_match(code, (PCRE2_SPTR)base, s.len, pos, 0, md, NULL);
        if (r <= 0) {
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me < ms) {
            break;
        }
        bool accept = !(ms == me && (long)ms == prev_end);
        if (accept) {
            count++;
            if (mode != 2) {
                tt_sb_add(&b, base + last, ms - last);
                if (mode == 0) {
                    expand(&b, code, repl, base, ov, r);
                } else {
                    tt_sb_add(&b, repl.base, repl.len);
                }
                last = me;
            }
            prev_end = (long)me;
        }
        if (me > ms) {
            pos = me;
        } else {
            size_t l = pos < s.len
                           ? tr_utf8_seq_len((const unsigned char *)base + pos,
                                             s.len - pos)
                           : 1;
            pos = ms + (l ? l : 1);
        }
        if (b.n > TT_MAX_OUTPUT) {
            break;
        }
    }
    pcre2_match_data_free(md);
    pcre2_code_free(code);
    if (mode == 2) {
        *out = tt_mk_int((int64_t)count);
        return 0;
    }
    tt_sb_add(&b, base + last, s.len - last);
    if (b.n > TT_MAX_OUTPUT) {
        return tt_fail(x, "output too large");
    }
    return tt_sb_done(&b, out);
}

static int f_regexReplaceAll(struct tt_exec *x,
                             const struct tt_val *a,
                             size_t n,
                             struct tt_val *out)
{
    (void)n;
    STR_ARG(0, re);
    STR_ARG(1, s);
    STR_ARG(2, repl);
    return re_all(x, "regexReplaceAll", re, s, repl, 0, out);
}

static int f_regexReplaceAllLiteral(struct tt_exec *x,
                                    const struct tt_val *a,
                                    size_t n,
                                    struct tt_val *out)
{
    (void)n;
    STR_ARG(0, re);
    STR_ARG(1, s);
    STR_ARG(2, repl);
    return re_all(x, "regexReplaceAllLiteral", re, s, repl, 1, out);
}

static int f_count(struct tt_exec *x,
                   const struct tt_val *a,
                   size_t n,
                   struct tt_val *out)
{
    (void)n;
    STR_ARG(0, re);
    STR_ARG(1, s);
    return re_all(x, "count", re, s, (struct tr_slice){"", 0}, 2, out);
}

const struct tt_func tt_str_funcs[] = {
    {"ToLower", 1, 1, f_lower},
    {"ToUpper", 1, 1, f_upper},
    {"Replace", 4, 4, f_Replace},
    {"Trim", 2, 2, f_Trim},
    {"TrimLeft", 2, 2, f_TrimLeft},
    {"TrimRight", 2, 2, f_TrimRight},
    {"TrimPrefix", 2, 2, f_TrimPrefix},
    {"TrimSuffix", 2, 2, f_TrimSuffix},
    {"TrimSpace", 1, 1, f_trim},
    {"regexReplaceAll", 3, 3, f_regexReplaceAll},
    {"regexReplaceAllLiteral", 3, 3, f_regexReplaceAllLiteral},
    {"count", 2, 2, f_count},
    {"urldecode", 1, 1, f_urldecode},
    {"urlencode", 1, 1, f_urlencode},
    {"alignLeft", 2, 2, f_alignLeft},
    {"alignRight", 2, 2, f_alignRight},
    {"b64dec", 1, 1, f_b64dec},
    {"b64enc", 1, 1, f_b64enc},
    {"lower", 1, 1, f_lower},
    {"upper", 1, 1, f_upper},
    {"title", 1, 1, f_title},
    {"trunc", 2, 2, f_trunc},
    {"substr", 3, 3, f_substr},
    {"contains", 2, 2, f_contains},
    {"hasPrefix", 2, 2, f_hasPrefix},
    {"hasSuffix", 2, 2, f_hasSuffix},
    {"indent", 2, 2, f_indent},
    {"nindent", 2, 2, f_nindent},
    {"replace", 3, 3, f_replace},
    {"repeat", 2, 2, f_repeat},
    {"trim", 1, 1, f_trim},
    {"trimAll", 2, 2, f_trimAll},
    {"trimSuffix", 2, 2, f_trimSuffix},
    {"trimPrefix", 2, 2, f_trimPrefix},
};

const size_t tt_n_str_funcs = sizeof(tt_str_funcs) / sizeof(tt_str_funcs[0]);
