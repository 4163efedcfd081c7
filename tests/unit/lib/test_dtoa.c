/* test_dtoa.c - shortest round-trip digits (lib/dtoa.c) against an
 * obviously correct, slow oracle built on printf and strtod, and against
 * values whose shortest form Python's repr (Gay's algorithm) and Go's
 * strconv give. */
#include "lib/dtoa.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "d.ddde<exp>" of the digits tr_dtoa_shortest gives for |v|. */
static void shortest_e(double v, char *out, size_t cap)
{
    char d[17];
    int e;
    int n = tr_dtoa_shortest(v, d, &e);
    cr_assert(n >= 1 && n <= 17);
    cr_assert(d[0] != '0' || n == 1, "leading zero for %a", v);
    cr_assert(d[n - 1] != '0' || n == 1, "trailing zero for %a", v);
    snprintf(out, cap, "%c%s%.*se%d", d[0], n > 1 ? "." : "", n - 1, d + 1, e);
}

/* Adds delta units in the last place to the digits of "d.ddde<x>" (same
 * length; false when the digit count would change). */
static bool bump_last(const char *in, int delta, char *out, size_t cap)
{
    char digs[24];
    int n = 0;
    const char *p = in;
    for (; *p != 'e'; p++) {
        if (*p != '.') {
            digs[n++] = *p;
        }
    }
    int e = atoi(p + 1);
    int i = n - 1;
    if (delta > 0) {
        while (i >= 0 && digs[i] == '9') {
            digs[i--] = '0';
        }
        if (i < 0) {
            return false;
        }
        digs[i]++;
    } else {
        while (i >= 0 && digs[i] == '0') {
            digs[i--] = '9';
        }
        if (i < 0 || (i == 0 && digs[0] == '1' && n > 1)) {
            return false;
        }
        digs[i]--;
    }
    snprintf(out, cap, "%c%s%.*se%d", digs[0], n > 1 ? "." : "", n - 1,
             digs + 1, e);
    return true;
}

/* The definition: the fewest significant digits that read back as v;
 * with that many digits, the one nearest v (printf rounds correctly, and
 * when the nearest does not read back, a neighbour inside v's asymmetric
 * rounding interval may). */
static void oracle_e(double v, char *out, size_t cap)
{
    for (int prec = 0; prec <= 16; prec++) {
        char c[64], nb[64];
        snprintf(c, sizeof(c), "%.*e", prec, v);
        if (strtod(c, NULL) == v) {
            snprintf(out, cap, "%s", c);
            return;
        }
        for (int d = -1; d <= 1; d += 2) {
            if (bump_last(c, d, nb, sizeof(nb)) && strtod(nb, NULL) == v) {
                snprintf(out, cap, "%s", nb);
                return;
            }
        }
    }
    snprintf(out, cap, "%.16e", v);
}

/* Both forms as (significant digits, exponent of the first digit). */
static void norm(const char *s, char *digs, int *exp10)
{
    int n = 0;
    const char *p = s;
    for (; *p != 'e' && *p != '\0'; p++) {
        if (*p >= '0' && *p <= '9') {
            digs[n++] = *p;
        }
    }
    while (n > 1 && digs[n - 1] == '0') {
        n--;
    }
    digs[n] = '\0';
    *exp10 = *p == 'e' ? atoi(p + 1) : 0;
}

static void check(double v)
{
    char a[64], b[64], da[32], db[32];
    int ea, eb;
    shortest_e(v, a, sizeof(a));
    oracle_e(fabs(v), b, sizeof(b));
    norm(a, da, &ea);
    norm(b, db, &eb);
    cr_assert(strcmp(da, db) == 0 && ea == eb, "%a: got %s, want %s", v, a, b);
    cr_assert_eq(strtod(a, NULL), fabs(v), "%a: %s does not read back", v, a);
}

Test(dtoa, known_values)
{
    static const struct {
        double v;
        const char *want; /* Python repr / Go 'e' -1 digits */
    } cases[] = {
        {0.1, "1e-1"},
        {0.1 + 0.2, "3.0000000000000004e-1"},
        {1.0 / 3, "3.333333333333333e-1"},
        {5e-324, "5e-324"},
        {DBL_MAX, "1.7976931348623157e308"},
        {DBL_MIN, "2.2250738585072014e-308"},
        {1e21, "1e21"},
        {1e23, "1e23"},
        {9007199254740993.0, "9.007199254740992e15"},
        {0.9999999999999999, "9.999999999999999e-1"},
        /* powers of two whose rounding interval is asymmetric: the nearest
         * 17-digit decimal is not needed (printf-and-check gets these
         * wrong, Python and Go do not) */
        {0x1p-1017, "7.120236347223045e-307"},
        {0x1p-1007, "7.291122019556398e-304"},
        {0x1p-957, "8.209073602596753e-289"},
        {0x1p-808, "5.858190679279809e-244"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char got[64], dg[32], dw[32];
        int eg, ew;
        shortest_e(cases[i].v, got, sizeof(got));
        norm(got, dg, &eg);
        norm(cases[i].want, dw, &ew);
        cr_assert(strcmp(dg, dw) == 0 && eg == ew, "%a: got %s, want %s",
                  cases[i].v, got, cases[i].want);
    }
    char d[17];
    int e;
    cr_assert_eq(tr_dtoa_shortest(0.0, d, &e), 1);
    cr_assert_eq(d[0], '0');
}

Test(dtoa, every_power_of_two)
{
    for (int i = -1074; i <= 1023; i++) {
        check(ldexp(1.0, i));
    }
}

Test(dtoa, random_bit_patterns_match_oracle)
{
    uint64_t x = 0x2545f4914f6cdd1dULL;
    for (int i = 0; i < 40000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t y = x;
        switch (i % 4) {
            case 1: /* exponents near 1 (typical sample values) */
                y = (x & 0x800fffffffffffffULL) |
                    ((uint64_t)(1023 + (int)(x % 80) - 40) << 52);
                break;
            case 2: /* subnormals */
                y = x & 0x000fffffffffffffULL;
                break;
            case 3: /* short mantissas */
                y = x & 0xfff0000000000000ULL;
                break;
            default:
                break;
        }
        double v;
        memcpy(&v, &y, sizeof(v));
        if (!isfinite(v) || v == 0) {
            continue;
        }
        check(v);
    }
}

Test(dtoa, ratios_and_decimals)
{
    for (int i = 1; i < 3000; i++) {
        check((double)i / 7.0);
        check((double)i * 0.001);
        check((double)i / 60.0);
        check(1e15 + (double)i);
    }
}
