/* convert.c - Go's strconv.ParseFloat, time.ParseDuration and
 * go-humanize's ParseBytes, with their error texts (LogQL shows them in
 * __error_details__), and unwrap's label conversion. See stages.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "query/logql/stages.h"
#include "query/logql/stages_int.h"

#define CONV_MAX 128 /* longest text parsed (longer: invalid syntax) */

static int float_err(const char *s, size_t n, const char *why, char *errmsg)
{
    char q[300];
    if (errmsg) {
        tr_logql__quote(q, sizeof(q), s, n < CONV_MAX * 2 ? n : CONV_MAX * 2);
        snprintf(errmsg, TR_ERRMSG_SIZE, "strconv.ParseFloat: parsing %s: %s",
                 q, why);
    }
    return TR_EINVAL;
}

static size_t prefix_nocase(const char *s, size_t n, const char *lit)
{
    size_t i = 0;
    while (i < n && lit[i]) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != lit[i]) {
            break;
        }
        i++;
    }
    return i;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

/* Go's float syntax (without underscores): true when s[0..n) is one. */
static bool float_syntax(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        i++;
    }
    bool hex = i + 1 < n && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X');
    if (hex) {
        i += 2;
    }
    size_t digits = 0;
    bool dot = false;
    for (; i < n; i++) {
        if (s[i] == '.' && !dot) {
            dot = true;
        } else if (hex ? is_hex(s[i]) : (s[i] >= '0' && s[i] <= '9')) {
            digits++;
        } else {
            break;
        }
    }
    if (digits == 0) {
        return false;
    }
    if (i < n &&
        (hex ? (s[i] == 'p' || s[i] == 'P') : (s[i] == 'e' || s[i] == 'E'))) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        size_t ed = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            ed++;
        }
        if (ed == 0) {
            return false;
        }
    } else if (hex) {
        return false; /* a hex mantissa needs the p exponent */
    }
    return i == n;
}

int tr_logql_parse_float(const char *s, size_t n, double *out, char *errmsg)
{
    *out = 0;
    if (n == 0 || n > CONV_MAX) {
        return float_err(s, n, "invalid syntax", errmsg);
    }
    /* inf, infinity, nan */
    size_t i = 0;
    double sign = 1;
    if (s[0] == '+' || s[0] == '-') {
        sign = s[0] == '-' ? -1 : 1;
        i = 1;
    }
    if (i < n && (s[i] == 'i' || s[i] == 'I')) {
        size_t k = prefix_nocase(s + i, n - i, "infinity");
        if ((k == 3 || k == 8) && i + k == n) {
            *out = sign * INFINITY;
            return 0;
        }
        return float_err(s, n, "invalid syntax", errmsg);
    }
    if (i == 0 && (s[0] == 'n' || s[0] == 'N')) {
        if (n == 3 && prefix_nocase(s, n, "nan") == 3) {
            *out = NAN;
            return 0;
        }
        return float_err(s, n, "invalid syntax", errmsg);
    }
    if (!float_syntax(s, n)) {
        return float_err(s, n, "invalid syntax", errmsg);
    }
    char tmp[CONV_MAX + 1];
    memcpy(tmp, s, n);
    tmp[n] = 0;
    errno = 0;
    double v = strtod(tmp, NULL);
    if (errno == ERANGE && isinf(v)) {
        *out = v;
        return float_err(s, n, "value out of range", errmsg);
    }
    *out = v;
    return 0;
}

/* ---- time.ParseDuration ----------------------------------------------------
 */

static int dur_err(const char *what,
                   const char *unit,
                   size_t ulen,
                   const char *s,
                   size_t n,
                   char *errmsg)
{
    if (errmsg) {
        char q[200], qu[150];
        size_t m = n < CONV_MAX ? n : CONV_MAX;
        tr_logql__quote(q, sizeof(q), s, m);
        if (unit) {
            tr_logql__quote(qu, sizeof(qu), unit,
                            ulen < CONV_MAX ? ulen : CONV_MAX);
            snprintf(errmsg, TR_ERRMSG_SIZE,
                     "time: unknown unit %s in duration %s", qu, q);
        } else {
            snprintf(errmsg, TR_ERRMSG_SIZE, "time: %s %s", what, q);
        }
    }
    return TR_EINVAL;
}

static uint64_t unit_ns(const char *u, size_t n)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {
        {"ns", 1},
        {"us", 1000},
        {"\xc2\xb5s", 1000}, /* µs U+00B5 */
        {"\xce\xbcs", 1000}, /* μs U+03BC */
        {"ms", 1000000},
        {"s", 1000000000ULL},
        {"m", 60ULL * 1000000000ULL},
        {"h", 3600ULL * 1000000000ULL},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strlen(units[i].name) == n && memcmp(units[i].name, u, n) == 0) {
            return units[i].ns;
        }
    }
    return 0;
}

int tr_logql_parse_duration(const char *s, size_t n, int64_t *ns, char *errmsg)
{
    const char *orig = s;
    size_t on = n;
    uint64_t d = 0;
    bool neg = false;
    *ns = 0;
    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        s++;
        n--;
    }
    if (n == 1 && s[0] == '0') {
        return 0;
    }
    if (n == 0) {
        return dur_err("invalid duration", NULL, 0, orig, on, errmsg);
    }
    const uint64_t lim = (uint64_t)1 << 63;
    while (n > 0) {
        uint64_t v = 0, f = 0;
        double scale = 1;
        if (!(s[0] == '.' || (s[0] >= '0' && s[0] <= '9'))) {
            return dur_err("invalid duration", NULL, 0, orig, on, errmsg);
        }
        size_t i = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            if (v > (lim - 1) / 10) {
                return dur_err("invalid duration", NULL, 0, orig, on, errmsg);
            }
            v = v * 10 + (uint64_t)(s[i] - '0');
            if (v > lim) {
                return dur_err("invalid duration", NULL, 0, orig, on, errmsg);
            }
        }
        bool pre = i > 0;
        bool post = false;
        s += i;
        n -= i;
        if (n > 0 && s[0] == '.') {
            s++;
            n--;
            size_t j = 0;
            bool overflow = false;
            for (; j < n && s[j] >= '0' && s[j] <= '9'; j++) {
                if (overflow) {
                    continue;
                }
                if (f > (lim - 1) / 10) {
                    overflow = true;
                    continue;
                }
                uint64_t y = f * 10 + (uint64_t)(s[j] - '0');
                if (y > lim) {
                    overflow = true;
                    continue;
                }
                f = y;
                scale *= 10;
            }
            post = j > 0;
            s += j;
            n -= j;
        }
        if (!pre && !post) {
            return dur_err("invalid duration", NULL, 0, orig, on, errmsg);
        }
        size_t k = 0;
        while (k < n && s[k] != '.' && !(s[k] >= '0' && s[k] <= '9')) {
            k++;
        }
        if (k == 0) {
            return dur_err("missing unit in duration", NULL, 0, orig, on,
                           errmsg);
        }
        uint64_t unit = unit_ns(s, k);
        if (unit == 0) {
            return dur_err(NULL, s, k, orig, on, errmsg);
        }
        s += k;
        n -= k;
        if (v > lim / unit) {
            return dur_err("invalid duration", NULL, 0, orig, on, errmsg);
        }
        v *= unit;
        if (f > 0) {
            v += (uint64_t)((double)f * ((double)unit / scale));
            if (v > lim) {
                return dur_err("invalid duration", NULL, 0, orig, on, errmsg);
            }
        }
        d += v;
        if (d > lim) {
            return dur_err("invalid duration", NULL, 0, orig, on, errmsg);
        }
    }
    if (neg) {
        *ns = d == lim ? INT64_MIN : -(int64_t)d;
        return 0;
    }
    if (d > lim - 1) {
        return dur_err("invalid duration", NULL, 0, orig, on, errmsg);
    }
    *ns = (int64_t)d;
    return 0;
}

/* ---- humanize.ParseBytes ----------------------------------------------------
 */

int tr_logql_parse_bytes(const char *s, size_t n, uint64_t *out, char *errmsg)
{
    static const struct {
        const char *name;
        double mult;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"k", 1e3},
        {"kb", 1e3},
        {"ki", 1024.0},
        {"kib", 1024.0},
        {"m", 1e6},
        {"mb", 1e6},
        {"mi", 1048576.0},
        {"mib", 1048576.0},
        {"g", 1e9},
        {"gb", 1e9},
        {"gi", 1073741824.0},
        {"gib", 1073741824.0},
        {"t", 1e12},
        {"tb", 1e12},
        {"ti", 1099511627776.0},
        {"tib", 1099511627776.0},
        {"p", 1e15},
        {"pb", 1e15},
        {"pi", 1125899906842624.0},
        {"pib", 1125899906842624.0},
        {"e", 1e18},
        {"eb", 1e18},
        {"ei", 1152921504606846976.0},
        {"eib", 1152921504606846976.0},
    };
    *out = 0;
    size_t last = 0;
    char num[CONV_MAX + 1] = {0};
    size_t nn = 0;
    while (last < n && ((s[last] >= '0' && s[last] <= '9') || s[last] == '.' ||
                        s[last] == ',')) {
        if (s[last] != ',') {
            if (nn == CONV_MAX) {
                return float_err(s, last, "invalid syntax", errmsg);
            }
            num[nn++] = s[last];
        }
        last++;
    }
    double f;
    int rc = tr_logql_parse_float(num, nn, &f, errmsg);
    if (rc) {
        return rc;
    }
    const char *x = s + last;
    size_t xn = n - last, k;
    while (xn && (k = tr_logql__space_len(x, xn)) > 0) {
        x += k;
        xn -= k;
    }
    while (xn && x[xn - 1] == ' ') {
        xn--;
    }
    char lower[8];
    if (xn < sizeof(lower)) {
        for (size_t i = 0; i < xn; i++) {
            char c = x[i];
            lower[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (strlen(units[i].name) == xn &&
                memcmp(units[i].name, lower, xn) == 0) {
                f *= units[i].mult;
                if (f >= 18446744073709551616.0) {
                    if (errmsg) {
                        snprintf(errmsg, TR_ERRMSG_SIZE, "too large: %.*s",
                                 (int)(n < CONV_MAX ? n : CONV_MAX), s);
                    }
                    return TR_EINVAL;
                }
                *out = (uint64_t)f;
                return 0;
            }
        }
    }
    if (errmsg) {
        snprintf(errmsg, TR_ERRMSG_SIZE, "unhandled size name: %.*s",
                 (int)(xn < CONV_MAX ? xn : CONV_MAX), x);
        for (char *p = errmsg + strlen("unhandled size name: "); *p; p++) {
            if (*p >= 'A' && *p <= 'Z') {
                *p = (char)(*p - 'A' + 'a');
            }
        }
    }
    return TR_EINVAL;
}

bool tr_logql_unwrap(struct tr_logql_lb *lb,
                     struct tr_slice name,
                     enum tr_logql_conv conv,
                     double *v)
{
    struct tr_slice val;
    char msg[TR_ERRMSG_SIZE];
    *v = 0;
    tr_logql_lb_get(lb, name, &val, NULL);
    if (val.len == 0) {
        return false;
    }
    int rc;
    switch (conv) {
        case TR_LOGQL_CONV_BYTES: {
            uint64_t b;
            rc = tr_logql_parse_bytes(val.base, val.len, &b, msg);
            *v = rc ? 0 : (double)b;
            break;
        }
        case TR_LOGQL_CONV_DURATION: {
            int64_t d;
            rc = tr_logql_parse_duration(val.base, val.len, &d, msg);
            *v = rc ? 0
                    : (double)(d / 1000000000) + (double)(d % 1000000000) / 1e9;
            break;
        }
        default:
            rc = tr_logql_parse_float(val.base, val.len, v, msg);
            if (rc) {
                *v = 0;
            }
            break;
    }
    if (rc) {
        tr_logql__set_error(lb, TR_LOGQL_ERR_SAMPLE, msg);
    }
    return true;
}
