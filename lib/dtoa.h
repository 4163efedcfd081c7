/* dtoa.h - shortest decimal digits of a double (the digits Go's
 * strconv.FormatFloat(v, 'f' or 'e', -1, 64), Python's repr and Ryu
 * produce).
 *
 * A finite double v = m * 2^e stands for every real number in its rounding
 * interval, [v - ulp_low/2, v + ulp/2], boundaries included when m is even
 * (round-half-even reads them back as v). The result is the decimal with
 * the fewest significant digits inside that interval; among those with
 * that many digits, the one nearest v (an exact tie goes to the even last
 * digit).
 *
 * Arithmetic is exact: the interval bounds are scaled to integers with a
 * small fixed-size big integer (shifts, multiplications and divisions by
 * 32-bit words), never with floating point, so every double, subnormals
 * and extremes included, takes the same path. Typical sample values need
 * two or three 32-bit words. */
#ifndef TR_LIB_DTOA_H
#define TR_LIB_DTOA_H

#include <stddef.h>
#include <stdint.h>

/* Shortest digits of |v| (v finite and non-zero): writes 1..17 ASCII digits
 * (no leading or trailing zeros, not NUL-terminated) to digits and the
 * decimal exponent of the first one to *exp10, so that
 * |v| ~ 0.d1d2...dn * 10^(*exp10 + 1). Returns n. For v == 0 writes "0"
 * with *exp10 = 0; the sign is the caller's. */
int tr_dtoa_shortest(double v, char digits[17], int *exp10);

/* Decimal digits of v into buf (at least 20 bytes, not NUL-terminated);
 * returns their number. */
size_t tr_dtoa_u64(char *buf, uint64_t v);

#endif
