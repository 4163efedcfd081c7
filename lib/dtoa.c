/* dtoa.c - shortest round-trip digits of a double by exact integer
 * arithmetic (see dtoa.h).
 *
 * For v = m * 2^e2 the rounding interval is (with a = e2 - 2)
 *   lo = Xm * 2^a,  v = Xc * 2^a,  hi = Xp * 2^a
 *   Xc = 4m, Xp = 4m + 2, Xm = 4m - 2 (4m - 1 when m is the smallest
 *   mantissa of a binade above the subnormals: the gap below is half).
 * They are scaled by 10^-q to integers of 18 or 19 digits:
 *   vr = floor(v / 10^q), vp = floor(hi / 10^q), vm = ceil(lo / 10^q)
 * (an excluded bound that is hit exactly moves one unit inwards). Then
 * trailing digits are dropped while the interval still holds a multiple
 * of the next power of ten, and the kept prefix of vr is rounded (half to
 * even on an exact tie) and clamped into the interval. */
#include "lib/dtoa.h"

#include <stdbool.h>
#include <string.h>

/* 10^341 * 2^55 < 2^1190 and 2^971 * 2^55 < 2^1030: 38 words suffice. */
#define BIG_WORDS 40

struct big {
    uint32_t w[BIG_WORDS]; /* little-endian words */
    int n;                 /* words in use; w[n-1] != 0 unless n == 0 */
};

static const uint32_t pow10_u32[10] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};

__extension__ typedef unsigned __int128 tr_u128;

static const uint64_t pow10_u64[20] = {1ULL,
                                       10ULL,
                                       100ULL,
                                       1000ULL,
                                       10000ULL,
                                       100000ULL,
                                       1000000ULL,
                                       10000000ULL,
                                       100000000ULL,
                                       1000000000ULL,
                                       10000000000ULL,
                                       100000000000ULL,
                                       1000000000000ULL,
                                       10000000000000ULL,
                                       100000000000000ULL,
                                       1000000000000000ULL,
                                       10000000000000000ULL,
                                       100000000000000000ULL,
                                       1000000000000000000ULL,
                                       10000000000000000000ULL};

static const char dtoa_digits2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536"
    "37383940414243444546474849505152535455565758596061626364656667686970717273"
    "7475767778798081828384858687888990919293949596979899";

static void big_set(struct big *b, uint64_t x)
{
    b->w[0] = (uint32_t)x;
    b->w[1] = (uint32_t)(x >> 32);
    b->n = b->w[1] != 0 ? 2 : (b->w[0] != 0 ? 1 : 0);
}

static void big_mul(struct big *b, uint32_t m)
{
    uint64_t carry = 0;
    for (int i = 0; i < b->n; i++) {
        uint64_t p = (uint64_t)b->w[i] * m + carry;
        b->w[i] = (uint32_t)p;
        carry = p >> 32;
    }
    if (carry != 0 && b->n < BIG_WORDS) {
        b->w[b->n++] = (uint32_t)carry;
    }
}

/* b /= d; returns the remainder. */
static uint32_t big_div(struct big *b, uint32_t d)
{
    uint64_t r = 0;
    for (int i = b->n - 1; i >= 0; i--) {
        uint64_t cur = (r << 32) | b->w[i];
        b->w[i] = (uint32_t)(cur / d);
        r = cur % d;
    }
    while (b->n > 0 && b->w[b->n - 1] == 0) {
        b->n--;
    }
    return (uint32_t)r;
}

static void big_shl(struct big *b, int s)
{
    if (b->n == 0 || s == 0) {
        return;
    }
    int words = s / 32, bits = s % 32;
    if (bits != 0) {
        uint32_t carry = 0;
        for (int i = 0; i < b->n; i++) {
            uint32_t x = b->w[i];
            b->w[i] = (x << bits) | carry;
            carry = x >> (32 - bits);
        }
        if (carry != 0 && b->n < BIG_WORDS) {
            b->w[b->n++] = carry;
        }
    }
    if (words > 0) {
        if (b->n + words > BIG_WORDS) {
            words = BIG_WORDS - b->n; /* cannot happen for doubles */
        }
        memmove(b->w + words, b->w, (size_t)b->n * sizeof(uint32_t));
        memset(b->w, 0, (size_t)words * sizeof(uint32_t));
        b->n += words;
    }
}

/* b >>= s; returns whether a non-zero bit was shifted out. */
static bool big_shr(struct big *b, int s)
{
    int words = s / 32, bits = s % 32;
    bool lost = false;
    if (words >= b->n) {
        lost = b->n > 0;
        b->n = 0;
        return lost;
    }
    for (int i = 0; i < words; i++) {
        lost = lost || b->w[i] != 0;
    }
    if (words > 0) {
        memmove(b->w, b->w + words, (size_t)(b->n - words) * sizeof(uint32_t));
        b->n -= words;
    }
    if (bits != 0) {
        lost = lost || (b->w[0] & ((1u << bits) - 1)) != 0;
        for (int i = 0; i < b->n; i++) {
            uint32_t hi = i + 1 < b->n ? b->w[i + 1] : 0;
            b->w[i] = (b->w[i] >> bits) | (hi << (32 - bits));
        }
    }
    while (b->n > 0 && b->w[b->n - 1] == 0) {
        b->n--;
    }
    return lost;
}

/* dtoa__scale for any magnitude, with the big integer. */
static bool dtoa__scale_big(uint64_t x,
                            int a,
                            int q,
                            uint64_t *out,
                            bool *exact)
{
    struct big b;
    big_set(&b, x);
    if (a > 0) {
        big_shl(&b, a);
    }
    for (int k = -q; k > 0; k -= 9) {
        big_mul(&b, pow10_u32[k < 9 ? k : 9]);
    }
    bool lost = false;
    if (a < 0) {
        lost = big_shr(&b, -a);
    }
    for (int k = q; k > 0; k -= 9) {
        lost = big_div(&b, pow10_u32[k < 9 ? k : 9]) != 0 || lost;
    }
    if (b.n > 2) {
        return false;
    }
    *out =
        b.n == 0 ? 0 : (b.n == 1 ? b.w[0] : ((uint64_t)b.w[1] << 32 | b.w[0]));
    *exact = !lost;
    return true;
}

/* floor(x * 2^a / 10^q) into *out, *exact when nothing was cut off.
 * Returns false when the result does not fit in 64 bits. */
static inline bool dtoa__scale(uint64_t x,
                               int a,
                               int q,
                               uint64_t *out,
                               bool *exact)
{
    if (a <= 0 && a > -128 && q <= 0 && q >= -21) {
        /* typical magnitudes: x * 10^-q < 2^55 * 10^21 < 2^126 */
        tr_u128 p = (tr_u128)x * pow10_u64[q < -19 ? 19 : -q];
        if (q < -19) {
            p *= pow10_u64[-q - 19];
        }
        tr_u128 r = a == 0 ? p : p >> -a;
        if ((r >> 64) != 0) {
            return false;
        }
        *out = (uint64_t)r;
        *exact = a == 0 || (p & (((tr_u128)1 << -a) - 1)) == 0;
        return true;
    }
    return dtoa__scale_big(x, a, q, out, exact);
}

static int dtoa__floor_log10_pow2(int p)
{
    /* floor(p * log10(2)) for |p| < 1700, within one (callers adjust) */
    int64_t x = (int64_t)p * 78913;
    return (int)(x >= 0 ? x >> 18 : -((-x + (1 << 18) - 1) >> 18));
}

int tr_dtoa_shortest(double v, char digits[17], int *exp10)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    uint64_t frac = bits & ((1ULL << 52) - 1);
    int be = (int)((bits >> 52) & 0x7ff);
    if (be == 0 && frac == 0) {
        digits[0] = '0';
        *exp10 = 0;
        return 1;
    }
    uint64_t m;
    int e2;
    if (be == 0) {
        m = frac;
        e2 = -1074;
    } else {
        m = frac | (1ULL << 52);
        e2 = be - 1075;
    }
    bool inclusive = (m & 1) == 0;
    int a = e2 - 2;
    uint64_t xm = (frac == 0 && be > 1) ? 4 * m - 1 : 4 * m - 2;
    uint64_t xc = 4 * m, xp = 4 * m + 2;
    int msb = 63 - __builtin_clzll(m);
    int q = dtoa__floor_log10_pow2(e2 + msb) - 17;
    uint64_t vr = 0, vp = 0, vm = 0;
    bool vr_exact = false, vp_exact = false, vm_exact = false;
    /* q is right or one too small; the loop settles it (an estimate one
     * off either way costs one more scaling) */
    for (int tries = 0; tries < 6; tries++) {
        if (!dtoa__scale(xp, a, q, &vp, &vp_exact)) {
            q++; /* more than 64 bits */
        } else if (vp < 10000000000000000ULL) {
            q--; /* fewer than 17 digits */
        } else {
            break;
        }
    }
    dtoa__scale(xc, a, q, &vr, &vr_exact);
    dtoa__scale(xm, a, q, &vm, &vm_exact);
    if (vp_exact && !inclusive) {
        vp--;
    }
    if (!vm_exact) {
        vm++; /* ceil */
    } else if (!inclusive) {
        vm++;
    }
    /* drop digits while [vm, vp] holds a multiple of the next power */
    int k = 0;
    uint8_t last = 0;           /* last digit dropped from vr */
    bool below_zero = vr_exact; /* everything below it is zero */
    for (;;) {
        uint64_t p10 = vp / 10;
        uint64_t m10 = vm / 10 + (vm % 10 != 0);
        if (p10 < m10) {
            break;
        }
        vp = p10;
        vm = m10;
        below_zero = below_zero && last == 0;
        last = (uint8_t)(vr % 10);
        vr /= 10;
        k++;
    }
    uint64_t d = vr;
    if (last > 5 || (last == 5 && (!below_zero || (vr & 1) != 0))) {
        d++;
    }
    if (d > vp) {
        d = vp;
    }
    if (d < vm) {
        d = vm;
    }
    while (d % 10 == 0 && d != 0) {
        d /= 10;
        k++;
    }
    /* 17 digits always suffice */
    int n = (int)tr_dtoa_u64(digits, d);
    *exp10 = q + k + n - 1;
    return n;
}

size_t tr_dtoa_u64(char *buf, uint64_t v)
{
    size_t n = 1;
    if (v >= 10) {
        /* digits from the bit length: log10(2) ~ 1233 / 4096 */
        int t = (64 - __builtin_clzll(v)) * 1233 >> 12;
        n = (size_t)t + (v >= pow10_u64[t]);
    }
    char *p = buf + n;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        memcpy(p, dtoa_digits2 + 2 * r, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, dtoa_digits2 + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    return n;
}
