#include "lib/clock.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <time.h>

#include "lib/err.h"

static const struct tr_clock *clock_cur;

void tr_clock_set(const struct tr_clock *c)
{
    clock_cur = c;
}

tr_ns tr_now_ns(void)
{
    if (clock_cur != NULL) {
        return clock_cur->now_ns(clock_cur->data);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (tr_ns)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

tr_ms tr_now_ms(void)
{
    return tr_now_ns() / 1000000;
}

tr_ns tr_mono_ns(void)
{
    if (clock_cur != NULL) {
        return clock_cur->mono_ns(clock_cur->data);
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (tr_ns)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double tr_process_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static _Atomic tr_ns clock_fake_now;

static tr_ns clock__fake_now(void *data)
{
    (void)data;
    return atomic_load(&clock_fake_now);
}

static tr_ns clock__real_mono(void *data)
{
    (void)data;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (tr_ns)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const struct tr_clock clock_fake = {1, NULL, clock__fake_now,
                                           clock__real_mono};

void tr_clock_fake_start(tr_ms at)
{
    atomic_store(&clock_fake_now, (tr_ns)at * 1000000);
    tr_clock_set(&clock_fake);
}

void tr_clock_fake_set(tr_ms now)
{
    tr_ns v = (tr_ns)now * 1000000;
    tr_ns cur = atomic_load(&clock_fake_now);
    while (v > cur && !atomic_compare_exchange_weak(&clock_fake_now, &cur, v)) {
    }
}

int64_t tr_window_floor(int64_t t, int64_t w)
{
    int64_t q = t / w;
    if (t % w != 0 && t < 0) {
        if (q == INT64_MIN / w) {
            return q * w; /* q - 1 windows would lie below INT64_MIN */
        }
        q--;
    }
    return q * w;
}

int64_t tr_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tr_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* n decimal digits at s as a number, -1 when one is not a digit. */
static int clock__digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int tr_rfc3339_parse(const char *s, size_t len, int64_t *sec, int32_t *nsec)
{
    if (len < 20 || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':') {
        return TR_EINVAL;
    }
    int y = clock__digits(s, 4), mo = clock__digits(s + 5, 2);
    int d = clock__digits(s + 8, 2), h = clock__digits(s + 11, 2);
    int mi = clock__digits(s + 14, 2), se = clock__digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || se < 0 || se > 59) {
        return TR_EINVAL;
    }
    size_t i = 19;
    int32_t frac = 0;
    if (i < len && s[i] == '.') {
        i++;
        int digits = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (digits < 9) {
                frac = frac * 10 + (s[i] - '0');
            }
            digits++;
            i++;
        }
        if (digits == 0) {
            return TR_EINVAL;
        }
        for (int k = digits; k < 9; k++) {
            frac *= 10;
        }
    }
    int64_t off = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') &&
               s[i + 3] == ':') {
        int oh = clock__digits(s + i + 1, 2), om = clock__digits(s + i + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59) {
            return TR_EINVAL;
        }
        off = (oh * 60 + om) * 60;
        if (s[i] == '-') {
            off = -off;
        }
        i += 6;
    } else {
        return TR_EINVAL;
    }
    if (i != len) {
        return TR_EINVAL;
    }
    int64_t days = tr_days_from_civil(y, mo, d);
    *sec = days * 86400 + h * 3600 + mi * 60 + se - off;
    *nsec = frac;
    return 0;
}

int tr_rfc3339_parse_ns(const char *s, size_t len, int64_t *ns)
{
    int64_t sec;
    int32_t nsec;
    if (tr_rfc3339_parse(s, len, &sec, &nsec) != 0) {
        return TR_EINVAL;
    }
    /* INT64_MIN/MAX ns lie in 1677/2262 */
    int64_t v;
    if (__builtin_mul_overflow(sec, (int64_t)1000000000, &v) ||
        __builtin_add_overflow(v, (int64_t)nsec, &v)) {
        return TR_EINVAL;
    }
    *ns = v;
    return 0;
}

char *tr_rfc3339_format_ns(int64_t ns, char *buf, size_t n)
{
    int64_t sec = ns / 1000000000;
    int64_t frac = ns % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        sec--;
    }
    int64_t days = sec / 86400;
    int64_t rem = sec % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    int m, d;
    tr_civil_from_days(days, &y, &m, &d);
    int w = snprintf(buf, n, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d", y, m, d,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
    size_t o = w < 0 ? 0 : (size_t)w;
    if (frac != 0 && o + 11 < n) {
        char f[16];
        snprintf(f, sizeof(f), ".%09" PRId64, frac);
        size_t fl = strlen(f);
        while (f[fl - 1] == '0') {
            fl--;
        }
        memcpy(buf + o, f, fl);
        o += fl;
    }
    if (o + 2 <= n) {
        buf[o++] = 'Z';
        buf[o] = '\0';
    }
    return buf;
}
