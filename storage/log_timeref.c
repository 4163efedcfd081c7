/* log_timeref.c - finding and writing the time texts of
 * storage/log_timeref.h. */
#include "storage/log_timeref.h"

#include <string.h>

#include "lib/clock.h"

#define TR_NS_PER_S 1000000000LL

static const char tr__months[12][3] = {"Jan", "Feb", "Mar", "Apr",
                                       "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"};

static void tr__two(char *o, int v)
{
    o[0] = (char)('0' + v / 10);
    o[1] = (char)('0' + v % 10);
}

/* Splits ts into whole seconds (floor) and nanoseconds 0..10^9-1. */
static void tr__split(int64_t ts, int64_t *sec, int64_t *frac)
{
    *sec = ts / TR_NS_PER_S;
    *frac = ts % TR_NS_PER_S;
    if (*frac < 0) {
        *frac += TR_NS_PER_S;
        (*sec)--;
    }
}

/* Brings the date and time texts of the cache to second sec (years stay
 * within 1677..2262 for every int64 ts in nanoseconds). Consecutive
 * entries mostly share their day, often their second. */
static void tr__cache(struct tr_log_timeref_cache *c, int64_t sec)
{
    if (c->valid && c->sec == sec) {
        return;
    }
    int64_t day = sec / 86400, rem = sec % 86400;
    if (rem < 0) {
        rem += 86400;
        day--;
    }
    if (!c->valid || c->day != day) {
        int64_t y;
        int m, d;
        tr_civil_from_days(day, &y, &m, &d);
        int yy = (int)y;
        tr__two(c->date, yy / 100);
        tr__two(c->date + 2, yy % 100);
        c->date[4] = '-';
        tr__two(c->date + 5, m);
        c->date[7] = '-';
        tr__two(c->date + 8, d);
        tr__two(c->clf_date, d);
        c->clf_date[2] = '/';
        memcpy(c->clf_date + 3, tr__months[m - 1], 3);
        c->clf_date[6] = '/';
        memcpy(c->clf_date + 7, c->date, 4);
        c->clf_date[11] = ':';
        c->day = day;
        c->epoch_sec = -1;
    }
    int r = (int)rem;
    tr__two(c->hms, r / 3600);
    c->hms[2] = ':';
    tr__two(c->hms + 3, r / 60 % 60);
    c->hms[5] = ':';
    tr__two(c->hms + 6, r % 60);
    c->sec = sec;
    c->valid = true;
}

/* The epoch text of the cached second: its length, 0 before 10^9 s
 * (fewer digits match too often by chance). */
static size_t tr__epoch(struct tr_log_timeref_cache *c)
{
    if (c->sec < 1000000000) {
        return 0;
    }
    if (c->epoch_sec != c->sec) {
        char tmp[20];
        size_t n = 0;
        for (uint64_t v = (uint64_t)c->sec; v > 0; v /= 10) {
            tmp[n++] = (char)('0' + v % 10);
        }
        for (size_t i = 0; i < n; i++) {
            c->epoch[i] = tmp[n - 1 - i];
        }
        c->epoch_len = (uint8_t)n;
        c->epoch_sec = c->sec;
    }
    return c->epoch_len;
}

/* The first `digits` (3, 6 or 9) of frac written with 9 digits. */
static void tr__frac(int64_t frac, unsigned digits, char *out)
{
    uint32_t v = (uint32_t)frac;
    v /= digits == 3 ? 1000000u : digits == 6 ? 1000u : 1u;
    for (unsigned i = digits; i-- > 0;) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* The sub-second part of a text whose seconds end at p[at]: the longest
 * of 9, 6, 3 digits (after '.' or ',', or directly when bare) that match
 * frac. Returns the descriptor bits 0-3 and adds the bytes to *len. */
static uint8_t tr__subsec(const char *p,
                          size_t n,
                          size_t at,
                          int64_t frac,
                          bool bare,
                          size_t *len)
{
    size_t d0 = at;
    uint8_t sep = 2;
    if (at < n && (p[at] == '.' || p[at] == ',')) {
        sep = p[at] == '.' ? 0 : 1;
        d0 = at + 1;
    } else if (!bare) {
        return 0;
    }
    size_t digits = 0;
    while (digits < 9 && d0 + digits < n && p[d0 + digits] >= '0' &&
           p[d0 + digits] <= '9') {
        digits++;
    }
    char f[9];
    for (uint8_t code = 3; code >= 1; code--) {
        unsigned want = 3u * code;
        if (want > digits) {
            continue;
        }
        tr__frac(frac, want, f);
        if (memcmp(p + d0, f, want) == 0) {
            *len += (d0 - at) + want;
            return (uint8_t)(code | (sep << 2));
        }
    }
    return 0;
}

bool tr_log_timeref_find(struct tr_slice line,
                         int64_t ts,
                         struct tr_log_timeref_cache *c,
                         size_t *off,
                         size_t *len,
                         uint8_t *desc)
{
    int64_t sec, frac;
    tr__split(ts, &sec, &frac);
    tr__cache(c, sec);
    const char *p = line.base;
    size_t n = line.len;
    size_t scan = n < TR_LOG_TIMEREF_SCAN ? n : TR_LOG_TIMEREF_SCAN;
    if (scan < 8) {
        return false;
    }
    /* YYYY-MM-DD[T ]HH:MM:SS */
    const char *h = tr_memmem(p, scan, c->date, 10);
    if (h != NULL) {
        size_t o = (size_t)(h - p);
        if (o + 19 <= n && (h[10] == 'T' || h[10] == ' ') &&
            memcmp(h + 11, c->hms, 8) == 0) {
            *off = o;
            *len = 19;
            uint8_t layout = h[10] == 'T' ? 0 : 1;
            *desc = (uint8_t)((layout << 4) |
                              tr__subsec(p, n, o + 19, frac, false, len));
            return true;
        }
    }
    /* DD/Mon/YYYY:HH:MM:SS */
    h = tr_memmem(p, scan, c->clf_date, 12);
    if (h != NULL) {
        size_t o = (size_t)(h - p);
        if (o + 20 <= n && memcmp(h + 12, c->hms, 8) == 0) {
            *off = o;
            *len = 20;
            *desc = (uint8_t)((2 << 4) |
                              tr__subsec(p, n, o + 20, frac, false, len));
            return true;
        }
    }
    /* epoch seconds, not inside a longer number on the left */
    size_t el = tr__epoch(c);
    if (el > 0) {
        const char *from = p, *end = p + scan;
        while ((h = tr_memmem(from, (size_t)(end - from), c->epoch, el)) !=
               NULL) {
            if (h == p || h[-1] < '0' || h[-1] > '9') {
                size_t o = (size_t)(h - p);
                *off = o;
                *len = el;
                *desc = (uint8_t)((3 << 4) |
                                  tr__subsec(p, n, o + el, frac, true, len));
                return true;
            }
            from = h + 1;
        }
    }
    return false;
}

size_t tr_log_timeref_format(uint8_t desc,
                             int64_t ts,
                             struct tr_log_timeref_cache *c,
                             char *out)
{
    unsigned digits = 3u * (desc & 3u), sep = (desc >> 2) & 3u,
             layout = (desc >> 4) & 3u;
    if ((desc & 0xc0) != 0 || sep == 3 || (digits == 0 && sep != 0) ||
        (sep == 2 && layout != 3)) {
        return 0;
    }
    int64_t sec, frac;
    tr__split(ts, &sec, &frac);
    tr__cache(c, sec);
    size_t n = 0;
    switch (layout) {
        case 0:
        case 1:
            memcpy(out, c->date, 10);
            out[10] = layout == 0 ? 'T' : ' ';
            memcpy(out + 11, c->hms, 8);
            n = 19;
            break;
        case 2:
            memcpy(out, c->clf_date, 12);
            memcpy(out + 12, c->hms, 8);
            n = 20;
            break;
        default:
            n = tr__epoch(c);
            if (n == 0) {
                return 0;
            }
            memcpy(out, c->epoch, n);
            break;
    }
    if (digits > 0) {
        if (sep != 2) {
            out[n++] = sep == 0 ? '.' : ',';
        }
        tr__frac(frac, digits, out + n);
        n += digits;
    }
    return n;
}
