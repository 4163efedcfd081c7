/* test_json.c - number formatting of lib/json.c (Prometheus sample values) */
#include "lib/json.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *fmt(double v, char *buf)
{
    size_t n = tr_format_double(buf, v);
    buf[n] = '\0';
    return buf;
}

/* Go's strconv.FormatFloat(v, 'f', -1, 64), as Prometheus renders
 * sample values: shortest digits that read back as v, plain layout. */
Test(json, format_double_shortest_plain)
{
    char b[TR_DOUBLE_BUF];
    cr_assert_str_eq(fmt(0, b), "0");
    cr_assert_str_eq(fmt(-0.0, b), "-0");
    cr_assert_str_eq(fmt(1, b), "1");
    cr_assert_str_eq(fmt(-2.5, b), "-2.5");
    cr_assert_str_eq(fmt(0.1, b), "0.1");
    cr_assert_str_eq(fmt(1.0 / 3, b), "0.3333333333333333");
    cr_assert_str_eq(fmt(2.0 / 3, b), "0.6666666666666666");
    cr_assert_str_eq(fmt(0.1 + 0.2, b), "0.30000000000000004");
    cr_assert_str_eq(fmt(1e21, b), "1000000000000000000000");
    cr_assert_str_eq(fmt(2.5e-5, b), "0.000025");
    cr_assert_str_eq(fmt(9007199254740993.0, b), "9007199254740992");
    cr_assert_str_eq(fmt(0.9999999999999999, b), "0.9999999999999999");
    cr_assert_str_eq(fmt(NAN, b), "NaN");
    cr_assert_str_eq(fmt(INFINITY, b), "+Inf");
    cr_assert_str_eq(fmt(-INFINITY, b), "-Inf");
}

Test(json, format_double_subnormal_and_extremes)
{
    char b[TR_DOUBLE_BUF];
    const char *s = fmt(5e-324, b); /* 323 zeros after the point, then 5 */
    cr_assert_eq(strlen(s), 2 + 323 + 1);
    cr_assert_eq(s[strlen(s) - 1], '5');
    cr_assert_eq(strtod(s, NULL), 5e-324);
    s = fmt(DBL_MAX, b);
    cr_assert_eq(strtod(s, NULL), DBL_MAX);
    cr_assert_eq(strncmp(s, "17976931348623157", 17), 0);
}

/* Every finite double reads back exactly, from random bit patterns. */
Test(json, format_double_round_trips)
{
    char b[TR_DOUBLE_BUF];
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof(v));
        if (!isfinite(v)) {
            continue;
        }
        cr_assert_eq(strtod(fmt(v, b), NULL), v, "%a -> %s", v, b);
    }
}

/* Integer values (counters, byte gauges) take a digit-table path: every
 * power-of-ten boundary and its neighbours, both signs. */
Test(json, format_double_integers)
{
    char b[TR_DOUBLE_BUF], want[32];
    int64_t p = 1;
    for (int e = 0; e <= 16; e++, p *= 10) {
        for (int64_t d = -2; d <= 2; d++) {
            int64_t x = p + d;
            if (x < 0 || x >= (1LL << 53)) {
                continue;
            }
            snprintf(want, sizeof(want), "%lld", (long long)x);
            cr_assert_str_eq(fmt((double)x, b), want);
            if (x > 0) {
                snprintf(want, sizeof(want), "-%lld", (long long)x);
                cr_assert_str_eq(fmt(-(double)x, b), want);
            }
        }
    }
    cr_assert_str_eq(fmt(9007199254740991.0, b), "9007199254740991");
    cr_assert_str_eq(fmt(1854881792.0, b), "1854881792");
}
