/* ip.c - LogQL's ip() matcher: an address, a range "a-b" or a CIDR
 * prefix (Go's netip / netipx parsing rules), searched for inside a line or
 * a label value the way Loki scans for address-looking runs. */
#include <stdio.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "query/logql/stages.h"
#include "query/logql/stages_int.h"

struct ip_addr {
    int fam; /* 4 or 6 */
    unsigned char b[16];
};

enum ip_kind { IP_SINGLE, IP_PREFIX, IP_RANGE };

struct tr_logql_ip {
    enum ip_kind kind;
    struct ip_addr a; /* the address, the prefix or the range start */
    struct ip_addr b; /* range end */
    int bits;         /* prefix length */
};

static bool parse_v4(const char *s, size_t n, unsigned char out[4])
{
    size_t i = 0;
    for (int f = 0; f < 4; f++) {
        if (f > 0) {
            if (i >= n || s[i] != '.') {
                return false;
            }
            i++;
        }
        size_t st = i;
        unsigned v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - st < 3) {
            v = v * 10 + (unsigned)(s[i] - '0');
            i++;
        }
        if (i == st || v > 255 || (i - st > 1 && s[st] == '0')) {
            return false;
        }
        out[f] = (unsigned char)v;
    }
    return i == n;
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

static bool parse_v6(const char *s, size_t n, unsigned char out[16])
{
    size_t i = 0, p = 0;
    int ell = -1;
    memset(out, 0, 16);
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        ell = 0;
        p = 2;
        if (p == n) {
            return true;
        }
    }
    while (i < 16) {
        size_t st = p;
        unsigned v = 0;
        while (p < n && hexv(s[p]) >= 0 && p - st < 5) {
            v = v * 16 + (unsigned)hexv(s[p]);
            p++;
        }
        if (p == st || p - st > 4) {
            return false;
        }
        if (p < n && s[p] == '.') {
            if ((ell < 0 && i != 12) || i + 4 > 16) {
                return false;
            }
            if (!parse_v4(s + st, n - st, out + i)) {
                return false;
            }
            i += 4;
            p = n;
            break;
        }
        out[i] = (unsigned char)(v >> 8);
        out[i + 1] = (unsigned char)v;
        i += 2;
        if (p == n) {
            break;
        }
        if (s[p] != ':') {
            return false;
        }
        p++;
        if (p < n && s[p] == ':') {
            if (ell >= 0) {
                return false;
            }
            ell = (int)i;
            p++;
            if (p == n) {
                break;
            }
        } else if (p == n) {
            return false;
        }
    }
    if (p != n) {
        return false;
    }
    if (i < 16) {
        if (ell < 0) {
            return false;
        }
        size_t k = 16 - i;
        memmove(out + (size_t)ell + k, out + ell, i - (size_t)ell);
        memset(out + ell, 0, k);
    } else if (ell >= 0) {
        return false;
    }
    return true;
}

static bool parse_addr(const char *s, size_t n, struct ip_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (memchr(s, ':', n)) {
        a->fam = 6;
        return parse_v6(s, n, a->b);
    }
    a->fam = 4;
    return parse_v4(s, n, a->b);
}

static int addr_cmp(const struct ip_addr *x, const struct ip_addr *y)
{
    if (x->fam != y->fam) {
        return x->fam < y->fam ? -1 : 1;
    }
    return memcmp(x->b, y->b, x->fam == 4 ? 4 : 16);
}

static bool prefix_contains(const struct tr_logql_ip *p,
                            const struct ip_addr *a)
{
    if (a->fam != p->a.fam) {
        return false;
    }
    int bits = p->bits;
    for (int i = 0; bits > 0; i++, bits -= 8) {
        unsigned char mask =
            bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
        if ((a->b[i] & mask) != (p->a.b[i] & mask)) {
            return false;
        }
    }
    return true;
}

static bool contains(const struct tr_logql_ip *ip, const struct ip_addr *a)
{
    switch (ip->kind) {
        case IP_SINGLE:
            return addr_cmp(&ip->a, a) == 0;
        case IP_PREFIX:
            return prefix_contains(ip, a);
        default:
            return a->fam == ip->a.fam && addr_cmp(&ip->a, a) <= 0 &&
                   addr_cmp(&ip->b, a) >= 0;
    }
}

int tr_logql_ip_new(const char *pattern,
                    size_t len,
                    struct tr_logql_ip **out,
                    char *errmsg)
{
    struct tr_logql_ip ip;
    memset(&ip, 0, sizeof(ip));
    const char *slash = memchr(pattern, '/', len);
    const char *dash = memchr(pattern, '-', len);
    bool ok = false;
    if (parse_addr(pattern, len, &ip.a)) {
        ip.kind = IP_SINGLE;
        ok = true;
    } else if (slash) {
        size_t an = (size_t)(slash - pattern);
        const char *bs = slash + 1;
        size_t bn = len - an - 1;
        int bits = 0;
        bool bok = bn > 0 && bn <= 3 && !(bn > 1 && bs[0] == '0');
        for (size_t i = 0; bok && i < bn; i++) {
            bok = bs[i] >= '0' && bs[i] <= '9';
            bits = bits * 10 + (bs[i] - '0');
        }
        if (bok && parse_addr(pattern, an, &ip.a) &&
            bits <= (ip.a.fam == 4 ? 32 : 128)) {
            ip.kind = IP_PREFIX;
            ip.bits = bits;
            ok = true;
        }
    } else if (dash) {
        size_t an = (size_t)(dash - pattern);
        if (parse_addr(pattern, an, &ip.a) &&
            parse_addr(dash + 1, len - an - 1, &ip.b) && ip.a.fam == ip.b.fam &&
            addr_cmp(&ip.a, &ip.b) <= 0) {
            ip.kind = IP_RANGE;
            ok = true;
        }
    }
    if (!ok) {
        char q[200];
        tr_logql__quote(q, sizeof(q), pattern, len);
        return tr_errf(TR_EINVAL, errmsg, "ip: invalid pattern: %s", q);
    }
    *out = tr_malloc(sizeof(ip));
    if (!*out) {
        return TR_ENOMEM;
    }
    **out = ip;
    return 0;
}

void tr_logql_ip_free(struct tr_logql_ip *ip)
{
    tr_free(ip);
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hexd(unsigned char c)
{
    return hexv((char)c) >= 0;
}

static size_t span(const char *s, size_t n, bool v6)
{
    size_t i = 0;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(is_digit(c) || c == '.' || (v6 && (is_hexd(c) || c == ':')))) {
            break;
        }
    }
    return i;
}

bool tr_logql_ip_match(const struct tr_logql_ip *ip, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
#define AT(k) ((k) < n ? u[(k)] : 0)
    for (size_t i = 0; i < n; i++) {
        bool v4 = i + 3 < n && is_digit(u[i]) &&
                  (u[i + 1] == '.' || u[i + 2] == '.' || u[i + 3] == '.');
        bool v6 = false;
        if (!v4) {
            unsigned char c0 = AT(i), c1 = AT(i + 1), c2 = AT(i + 2),
                          c3 = AT(i + 3), c4 = AT(i + 4);
            v6 = (c0 == ':' && c1 == ':' && is_hexd(c2)) ||
                 (is_hexd(c0) && c1 == ':') ||
                 (is_hexd(c0) && is_hexd(c1) && c2 == ':') ||
                 (is_hexd(c0) && is_hexd(c1) && is_hexd(c2) && c3 == ':') ||
                 (is_hexd(c0) && is_hexd(c1) && is_hexd(c2) && is_hexd(c3) &&
                  c4 == ':');
        }
        if (!v4 && !v6) {
            continue;
        }
        size_t len = span(s + i, n - i, v6);
        struct ip_addr a;
        if (parse_addr(s + i, len, &a) && contains(ip, &a)) {
            return true;
        }
        i += len;
    }
#undef AT
    return false;
}
