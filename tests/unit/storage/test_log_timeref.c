/* Tests for storage/log_timeref.c: the time texts found in lines for an
 * entry's timestamp (every layout, partial and mismatching fractions,
 * texts that must not be taken) and the texts written back. */
#include <criterion/criterion.h>
#include <string.h>

#include "storage/log_timeref.h"

/* 2026-12-05T09:57:30.135980123Z */
#define LT_SEC 1796464650LL
#define LT_TS (LT_SEC * 1000000000LL + 135980123LL)

struct lt_case {
    const char *line;
    size_t off;
    size_t len;
    uint8_t desc;
};

Test(log_timeref, finds_each_layout_and_writes_it_back)
{
    static const struct lt_case cases[] = {
        {"{\"ts\":\"2026-12-05T09:57:30.135980Z\",\"level\":\"info\"}", 7, 26,
         0x02},
        {"ts=2026-12-05T09:57:30.135Z level=info", 3, 23, 0x01},
        {"2026-12-05 09:57:30,135 INFO [main] x", 0, 23, 0x15},
        {"2026-12-05 09:57:30.135980123 x", 0, 29, 0x13},
        {"1.2.3.4 - - [05/Dec/2026:09:57:30 +0000] \"GET / HTTP/1.1\"", 13, 20,
         0x20},
        {"{\"time\":1796464650135,\"msg\":\"x\"}", 8, 13, 0x39},
        {"{\"date\":1796464650.135980,\"log\":\"x\"}", 8, 17, 0x32},
        {"level=info at 1796464650 x", 14, 10, 0x30},
        /* four digits: the first three match */
        {"t=2026-12-05T09:57:30.1359Z", 2, 23, 0x01},
        /* a fraction that is not the entry's: the seconds only */
        {"t=2026-12-05T09:57:30.999Z", 2, 19, 0x00},
        /* the first epoch text not inside a longer number */
        {"id=41796464650 at=1796464650", 18, 10, 0x30},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct lt_case *c = &cases[i];
        struct tr_log_timeref_cache cache = {0};
        size_t off = 99, len = 99;
        uint8_t desc = 0xff;
        struct tr_slice line = {c->line, strlen(c->line)};
        cr_assert(tr_log_timeref_find(line, LT_TS, &cache, &off, &len, &desc),
                  "case %zu", i);
        cr_assert_eq(off, c->off, "case %zu: off %zu", i, off);
        cr_assert_eq(len, c->len, "case %zu: len %zu", i, len);
        cr_assert_eq(desc, c->desc, "case %zu: desc 0x%02x", i, desc);
        char out[TR_LOG_TIMEREF_MAX];
        size_t n = tr_log_timeref_format(desc, LT_TS, &cache, out);
        cr_assert_eq(n, len, "case %zu", i);
        cr_assert_eq(memcmp(out, c->line + off, n), 0, "case %zu: %.*s", i,
                     (int)n, out);
    }
}

Test(log_timeref, other_times_are_not_taken)
{
    char far[400];
    memset(far, 'x', sizeof(far));
    memcpy(far + 300, "2026-12-05T09:57:30Z", 20);
    far[sizeof(far) - 1] = 0;
    static const char *lines[] = {
        "2026-12-05T10:57:30.135+01:00 local time, not UTC",
        "2026-12-04T09:57:30.135Z the day before",
        "06/Dec/2026:09:57:30 +0000 the day after",
        "2026-12-05T09:57:31Z a second later",
        "x11796464650 inside a longer number",
        "short",
        "",
    };
    struct tr_log_timeref_cache cache = {0};
    size_t off, len;
    uint8_t desc;
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        struct tr_slice line = {lines[i], strlen(lines[i])};
        cr_assert_not(
            tr_log_timeref_find(line, LT_TS, &cache, &off, &len, &desc),
            "line %zu", i);
    }
    /* beyond the first TR_LOG_TIMEREF_SCAN bytes */
    struct tr_slice line = {far, strlen(far)};
    cr_assert_not(tr_log_timeref_find(line, LT_TS, &cache, &off, &len, &desc));
    /* epoch seconds of fewer than 10 digits are never taken */
    struct tr_slice small = {"at 999999999 x", 14};
    cr_assert_not(tr_log_timeref_find(small, 999999999LL * 1000000000LL, &cache,
                                      &off, &len, &desc));
}

Test(log_timeref, invalid_descriptors_write_nothing)
{
    struct tr_log_timeref_cache cache = {0};
    char out[TR_LOG_TIMEREF_MAX];
    static const uint8_t bad[] = {0x40, 0x80, 0x0d, 0x04, 0x09, 0x29, 0x1c};
    for (size_t i = 0; i < sizeof(bad); i++) {
        cr_assert_eq(tr_log_timeref_format(bad[i], LT_TS, &cache, out), 0,
                     "0x%02x", bad[i]);
    }
    /* epoch layouts cannot spell times before 10^9 s, nor negative ones */
    cr_assert_eq(tr_log_timeref_format(0x30, 5, &cache, out), 0);
    cr_assert_eq(tr_log_timeref_format(0x30, -5, &cache, out), 0);
    /* every valid descriptor writes at most TR_LOG_TIMEREF_MAX bytes, for
     * the extremes of int64 nanoseconds too */
    static const int64_t ts[] = {INT64_MIN, -1, 0, LT_TS, INT64_MAX};
    for (unsigned d = 0; d < 256; d++) {
        for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
            size_t n = tr_log_timeref_format((uint8_t)d, ts[i], &cache, out);
            cr_assert(n <= TR_LOG_TIMEREF_MAX);
        }
    }
    /* before 1970: the seconds are floored, the fraction counts up */
    size_t n = tr_log_timeref_format(0x03, -1, &cache, out);
    cr_assert_eq(n, 29);
    cr_assert_eq(memcmp(out, "1969-12-31T23:59:59.999999999", 29), 0);
}
