/* stages_util.c - small helpers the LogQL stage files share: error labels,
 * label key sanitising, JSON string unescaping, Go-style quoting. */
#include <stdio.h>
#include <string.h>

#include "lib/buf.h"
#include "query/logql/stages.h"
#include "query/logql/stages_int.h"

void tr_logql__set_error(struct tr_logql_lb *lb,
                         const char *err,
                         const char *details)
{
    tr_logql_lb_set_err(lb, err);
    if (details) {
        tr_logql_lb_set_err_details(lb, details, strlen(details));
    }
}

size_t tr_logql__space_len(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0) {
        return 0;
    }
    switch (u[0]) {
        case ' ':
        case '\t':
        case '\n':
        case '\v':
        case '\f':
        case '\r':
            return 1;
        default:
            break;
    }
    if (n >= 2 && u[0] == 0xc2 && (u[1] == 0x85 || u[1] == 0xa0)) {
        return 2;
    }
    if (n >= 3 && u[0] == 0xe1 && u[1] == 0x9a && u[2] == 0x80) {
        return 3; /* U+1680 */
    }
    if (n >= 3 && u[0] == 0xe2 && u[1] == 0x80 &&
        (u[2] <= 0x8a || u[2] == 0xa8 || u[2] == 0xa9 || u[2] == 0xaf)) {
        return u[2] >= 0x80 ? 3 : 0; /* U+2000..200A, 2028, 2029, 202F */
    }
    if (n >= 3 && u[0] == 0xe2 && u[1] == 0x81 && u[2] == 0x9f) {
        return 3; /* U+205F */
    }
    if (n >= 3 && u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x80) {
        return 3; /* U+3000 */
    }
    return 0;
}

/* Length of the trailing space rune ending at s + n (0 when none). */
static size_t space_len_back(const char *s, size_t n)
{
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        if (tr_logql__space_len(s + n - k, k) == k) {
            return k;
        }
    }
    return 0;
}

static bool is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

size_t tr_logql__sanitize_into(char *out, const char *s, size_t n)
{
    size_t k;
    while (n && (k = tr_logql__space_len(s, n)) > 0) {
        s += k;
        n -= k;
    }
    while (n && (k = space_len_back(s, n)) > 0) {
        n -= k;
    }
    size_t o = 0;
    if (n && s[0] >= '0' && s[0] <= '9') {
        out[o++] = '_';
    }
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            out[o++] = is_word(c) ? (char)c : '_';
            i++;
            continue;
        }
        size_t l = tr_utf8_seq_len((const unsigned char *)s + i, n - i);
        out[o++] = '_';
        i += l ? l : 1;
    }
    return o;
}

struct tr_slice tr_logql__sanitize_key(struct tr_logql_lb *lb,
                                       const char *s,
                                       size_t n)
{
    char *p = tr_arena_alloc(tr_logql_lb__arena(lb), n + 1);
    if (!p) {
        tr_logql_lb__set_oom(lb);
        return (struct tr_slice){"", 0};
    }
    return (struct tr_slice){p, tr_logql__sanitize_into(p, s, n)};
}

bool tr_logql__valid_label_name(const char *s, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_word(c) || (i == 0 && c >= '0' && c <= '9')) {
            return false;
        }
    }
    return true;
}

const char *tr_logql__quote(char *buf, size_t size, const char *s, size_t n)
{
    size_t o = 0;
    if (size < 8) {
        if (size) {
            buf[0] = 0;
        }
        return buf;
    }
    buf[o++] = '"';
    for (size_t i = 0; i < n && o + 6 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (c == '\t') {
            buf[o++] = '\\';
            buf[o++] = 't';
        } else if (c == '\r') {
            buf[o++] = '\\';
            buf[o++] = 'r';
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = 0;
    return buf;
}

static int hexval(char c)
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

static long hex4(const char *s, size_t n)
{
    if (n < 4) {
        return -1;
    }
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(s[i]);
        if (h < 0) {
            return -1;
        }
        v = v * 16 + h;
    }
    return v;
}

static size_t put_utf8(char *o, unsigned long r)
{
    if (r < 0x80) {
        o[0] = (char)r;
        return 1;
    }
    if (r < 0x800) {
        o[0] = (char)(0xc0 | (r >> 6));
        o[1] = (char)(0x80 | (r & 0x3f));
        return 2;
    }
    if (r < 0x10000) {
        o[0] = (char)(0xe0 | (r >> 12));
        o[1] = (char)(0x80 | ((r >> 6) & 0x3f));
        o[2] = (char)(0x80 | (r & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (r >> 18));
    o[1] = (char)(0x80 | ((r >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((r >> 6) & 0x3f));
    o[3] = (char)(0x80 | (r & 0x3f));
    return 4;
}

long tr_logql__json_unescape(char *out, const char *s, size_t n)
{
    size_t o = 0, i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\') {
            if (i + 1 >= n) {
                return -1;
            }
            char e = s[i + 1];
            i += 2;
            switch (e) {
                case '"':
                case '\\':
                case '/':
                    out[o++] = e;
                    continue;
                case 'b':
                    out[o++] = '\b';
                    continue;
                case 'f':
                    out[o++] = '\f';
                    continue;
                case 'n':
                    out[o++] = '\n';
                    continue;
                case 'r':
                    out[o++] = '\r';
                    continue;
                case 't':
                    out[o++] = '\t';
                    continue;
                case 'u': {
                    long r = hex4(s + i, n - i);
                    if (r < 0) {
                        return -1;
                    }
                    i += 4;
                    if (r >= 0xd800 && r < 0xdc00) {
                        long lo = -1;
                        if (i + 6 <= n && s[i] == '\\' && s[i + 1] == 'u') {
                            lo = hex4(s + i + 2, n - i - 2);
                        }
                        if (lo >= 0xdc00 && lo < 0xe000) {
                            i += 6;
                            r = 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00);
                        } else {
                            r = 0xfffd;
                        }
                    } else if (r >= 0xdc00 && r < 0xe000) {
                        r = 0xfffd;
                    }
                    if (r == 0xfffd) {
                        out[o++] = ' ';
                    } else {
                        o += put_utf8(out + o, (unsigned long)r);
                    }
                    continue;
                }
                default:
                    return -1;
            }
        }
        if (c < 0x80) {
            out[o++] = (char)c;
            i++;
            continue;
        }
        size_t l = tr_utf8_seq_len((const unsigned char *)s + i, n - i);
        if (l == 0) {
            out[o++] = ' ';
            i++;
        } else if (l == 3 && (unsigned char)s[i] == 0xef &&
                   (unsigned char)s[i + 1] == 0xbf &&
                   (unsigned char)s[i + 2] == 0xbd) {
            out[o++] = ' ';
            i += 3;
        } else {
            memcpy(out + o, s + i, l);
            o += l;
            i += l;
        }
    }
    return (long)o;
}
