/* fuzz_prom_time.c - libFuzzer driver for tr_prom_parse_time
 * (server/prom_json.h): float Unix seconds or RFC 3339 on arbitrary
 * NUL-terminated bytes.
 *
 * Properties checked: no crash or UB; a string starting with '-' never
 * gives a positive time; a plain decimal integer ([+-]?[0-9]+) parses and
 * gives value*1000 exactly while |value| <= 2^53 (every such integer is an
 * exact double), is off by at most one second beyond that (double
 * rounding), and clamps to TR_PROM_MIN_TIME/TR_PROM_MAX_TIME at +-9.2e15 s.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/prom_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool plain_integer(const char *s)
{
    if (*s == '+' || *s == '-') {
        s++;
    }
    if (*s == '\0') {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return false;
        }
    }
    return true;
}

static void check_integer(const char *s, int rv, int64_t ms)
{
    if (rv != 0) {
        abort(); /* a plain integer must parse */
    }
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    bool range = errno == ERANGE;
    const long long exact = 1LL << 53;
    if (!range && v >= -exact && v <= exact) {
        if (ms != (int64_t)v * 1000) {
            abort(); /* plain integer seconds must give value*1000 */
        }
        return;
    }
    if (ms == TR_PROM_MAX_TIME && v > 0) {
        return;
    }
    if (ms == TR_PROM_MIN_TIME && v < 0) {
        return;
    }
    if (range || v >= 9200000000000000LL || v <= -9200000000000000LL) {
        abort(); /* beyond +-9.2e15 s the result must clamp */
    }
    int64_t sec = ms / 1000;
    if (ms % 1000 != 0 || sec - v > 1 || v - sec > 1) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';

    int64_t ms = 0;
    int rv = tr_prom_parse_time(s, &ms);
    if (rv == 0 && s[0] == '-' && ms > 0) {
        abort(); /* a negative time must not come out positive */
    }
    if (plain_integer(s)) {
        check_integer(s, rv, ms);
    }
    free(s);
    return 0;
}
