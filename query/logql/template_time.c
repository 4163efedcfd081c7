/* template_time.c - Go's time layouts ("2006-01-02T15:04:05Z07:00") for
 * the template functions date, toDate, toDateInZone and Time.String(), in
 * UTC (no zone database: every zone reads as UTC). See template_int.h. */
#include <stdio.h>
#include <string.h>

#include "lib/clock.h"
#include "query/logql/template_int.h"

static const char *const months[] = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};
static const char *const wdays[] = {"Sunday",    "Monday",   "Tuesday",
                                    "Wednesday", "Thursday", "Friday",
                                    "Saturday"};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

enum lt {
    L_NONE,
    L_LONGMONTH,
    L_MONTH,
    L_NUMMONTH,
    L_ZEROMONTH,
    L_LONGWEEKDAY,
    L_WEEKDAY,
    L_DAY,
    L_UNDERDAY,
    L_ZERODAY,
    L_YDAY,
    L_HOUR,
    L_HOUR12,
    L_ZEROHOUR12,
    L_MINUTE,
    L_ZEROMINUTE,
    L_SECOND,
    L_ZEROSECOND,
    L_LONGYEAR,
    L_YEAR,
    L_PM,
    L_pm,
    L_TZ,
    L_ISO_TZ, /* Z07:00 and friends: "Z" for UTC */
    L_NUM_TZ, /* -07:00 and friends */
    L_FRAC0,  /* .000 */
    L_FRAC9,  /* .999 */
};

static bool has(const char *s, size_t n, size_t i, const char *w)
{
    size_t l = strlen(w);
    return i + l <= n && memcmp(s + i, w, l) == 0;
}

/* The std chunk at l[i]: its kind and length (L_NONE: one literal byte). */
static enum lt chunk(const char *l, size_t n, size_t i, size_t *len, int *arg)
{
    static const struct {
        const char *w;
        enum lt t;
        int colon;
    } tz[] = {
        {"Z070000", L_ISO_TZ, 0},   {"Z07:00:00", L_ISO_TZ, 1},
        {"Z0700", L_ISO_TZ, 2},     {"Z07:00", L_ISO_TZ, 3},
        {"Z07", L_ISO_TZ, 4},       {"-070000", L_NUM_TZ, 0},
        {"-07:00:00", L_NUM_TZ, 1}, {"-0700", L_NUM_TZ, 2},
        {"-07:00", L_NUM_TZ, 3},    {"-07", L_NUM_TZ, 4},
    };
    *arg = 0;
    switch (l[i]) {
        case 'J':
            if (has(l, n, i, "January")) {
                *len = 7;
                return L_LONGMONTH;
            }
            if (has(l, n, i, "Jan")) {
                *len = 3;
                return L_MONTH;
            }
            break;
        case 'M':
            if (has(l, n, i, "Monday")) {
                *len = 6;
                return L_LONGWEEKDAY;
            }
            if (has(l, n, i, "Mon")) {
                *len = 3;
                return L_WEEKDAY;
            }
            if (has(l, n, i, "MST")) {
                *len = 3;
                return L_TZ;
            }
            break;
        case '0':
            if (i + 1 < n && l[i + 1] >= '1' && l[i + 1] <= '6') {
                static const enum lt t[] = {L_ZEROMONTH,  L_ZERODAY,
                                            L_ZEROHOUR12, L_ZEROMINUTE,
                                            L_ZEROSECOND, L_YEAR};
                *len = 2;
                return t[l[i + 1] - '1'];
            }
            if (has(l, n, i, "002")) {
                *len = 3;
                return L_YDAY;
            }
            break;
        case '1':
            if (has(l, n, i, "15")) {
                *len = 2;
                return L_HOUR;
            }
            *len = 1;
            return L_NUMMONTH;
        case '2':
            if (has(l, n, i, "2006")) {
                *len = 4;
                return L_LONGYEAR;
            }
            *len = 1;
            return L_DAY;
        case '_':
            if (has(l, n, i, "_2") && !has(l, n, i, "_2006")) {
                *len = 2;
                return L_UNDERDAY;
            }
            break;
        case '3':
            *len = 1;
            return L_HOUR12;
        case '4':
            *len = 1;
            return L_MINUTE;
        case '5':
            *len = 1;
            return L_SECOND;
        case 'P':
            if (has(l, n, i, "PM")) {
                *len = 2;
                return L_PM;
            }
            break;
        case 'p':
            if (has(l, n, i, "pm")) {
                *len = 2;
                return L_pm;
            }
            break;
        case '-':
        case 'Z':
            for (size_t k = 0; k < sizeof(tz) / sizeof(tz[0]); k++) {
                if (has(l, n, i, tz[k].w)) {
                    *len = strlen(tz[k].w);
                    *arg = tz[k].colon;
                    return tz[k].t;
                }
            }
            break;
        case '.':
        case ',':
            if (i + 1 < n && (l[i + 1] == '0' || l[i + 1] == '9')) {
                char c = l[i + 1];
                size_t j = i + 1;
                while (j < n && l[j] == c) {
                    j++;
                }
                if (!(j < n && l[j] >= '0' && l[j] <= '9')) {
                    *len = j - i;
                    *arg = (int)(j - i - 1);
                    return c == '0' ? L_FRAC0 : L_FRAC9;
                }
            }
            break;
        default:
            break;
    }
    *len = 1;
    return L_NONE;
}

static void put_num(struct tr_buf *b, int64_t v, int width, char pad)
{
    char tmp[32];
    bool neg = v < 0;
    uint64_t u = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int k = 0;
    do {
        tmp[k++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (neg) {
        tr_buf_putc(b, '-');
    }
    for (int i = k; i < width; i++) {
        tr_buf_putc(b, pad);
    }
    while (k) {
        tr_buf_putc(b, tmp[--k]);
    }
}

int tt_time_format(struct tr_buf *b,
                   struct tr_slice layout,
                   int64_t sec,
                   int32_t nsec)
{
    int64_t days = floor_div(sec, 86400);
    int64_t secs = sec - days * 86400;
    int64_t year;
    int month, day;
    tr_civil_from_days(days, &year, &month, &day);
    int hour = (int)(secs / 3600), min = (int)(secs / 60 % 60),
        s = (int)(secs % 60);
    int wday = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
    int yday = (int)(days - tr_days_from_civil(year, 1, 1)) + 1;
    const char *l = layout.base;
    size_t n = layout.len;
    for (size_t i = 0; i < n;) {
        size_t len;
        int arg;
        enum lt t = chunk(l, n, i, &len, &arg);
        switch (t) {
            case L_NONE:
                tr_buf_putc(b, l[i]);
                break;
            case L_LONGMONTH:
                tr_buf_puts(b, months[month - 1]);
                break;
            case L_MONTH:
                tr_buf_append(b, months[month - 1], 3);
                break;
            case L_NUMMONTH:
                put_num(b, month, 0, '0');
                break;
            case L_ZEROMONTH:
                put_num(b, month, 2, '0');
                break;
            case L_LONGWEEKDAY:
                tr_buf_puts(b, wdays[wday]);
                break;
            case L_WEEKDAY:
                tr_buf_append(b, wdays[wday], 3);
                break;
            case L_DAY:
                put_num(b, day, 0, '0');
                break;
            case L_UNDERDAY:
                put_num(b, day, 2, ' ');
                break;
            case L_ZERODAY:
                put_num(b, day, 2, '0');
                break;
            case L_YDAY:
                put_num(b, yday, 3, '0');
                break;
            case L_HOUR:
                put_num(b, hour, 2, '0');
                break;
            case L_HOUR12:
            case L_ZEROHOUR12: {
                int h = hour % 12;
                put_num(b, h == 0 ? 12 : h, t == L_ZEROHOUR12 ? 2 : 0, '0');
                break;
            }
            case L_MINUTE:
            case L_ZEROMINUTE:
                put_num(b, min, t == L_ZEROMINUTE ? 2 : 0, '0');
                break;
            case L_SECOND:
            case L_ZEROSECOND:
                put_num(b, s, t == L_ZEROSECOND ? 2 : 0, '0');
                break;
            case L_LONGYEAR:
                put_num(b, year, 4, '0');
                break;
            case L_YEAR:
                put_num(b, ((year % 100) + 100) % 100, 2, '0');
                break;
            case L_PM:
                tr_buf_puts(b, hour >= 12 ? "PM" : "AM");
                break;
            case L_pm:
                tr_buf_puts(b, hour >= 12 ? "pm" : "am");
                break;
            case L_TZ:
                tr_buf_puts(b, "UTC");
                break;
            case L_ISO_TZ:
                tr_buf_putc(b, 'Z');
                break;
            case L_NUM_TZ: {
                static const char *const z[] = {"+000000", "+00:00:00", "+0000",
                                                "+00:00", "+00"};
                tr_buf_puts(b, z[arg]);
                break;
            }
            default: { /* fractions */
                char frac[10];
                snprintf(frac, sizeof(frac), "%09d", (int)nsec);
                int digits = arg > 9 ? 9 : arg;
                if (t == L_FRAC9) {
                    while (digits > 0 && frac[digits - 1] == '0') {
                        digits--;
                    }
                    if (digits == 0) {
                        break;
                    }
                }
                tr_buf_putc(b, l[i]);
                tr_buf_append(b, frac, (size_t)digits);
                break;
            }
        }
        i += len;
    }
    return b->oom ? -1 : 0;
}

static bool get_num(const char *v,
                    size_t n,
                    size_t *i,
                    int min,
                    int max,
                    int64_t *out)
{
    size_t st = *i;
    int64_t x = 0;
    while (*i < n && *i - st < (size_t)max && v[*i] >= '0' && v[*i] <= '9') {
        x = x * 10 + (v[*i] - '0');
        (*i)++;
    }
    if (*i - st < (size_t)min) {
        return false;
    }
    *out = x;
    return true;
}

static bool get_name(const char *v,
                     size_t n,
                     size_t *i,
                     const char *const *names,
                     size_t count,
                     bool abbrev,
                     int *out)
{
    for (size_t k = 0; k < count; k++) {
        size_t l = abbrev ? 3 : strlen(names[k]);
        if (*i + l <= n && strncasecmp(v + *i, names[k], l) == 0) {
            *i += l;
            *out = (int)k;
            return true;
        }
    }
    return false;
}

bool tt_time_parse(struct tr_slice layout,
                   struct tr_slice value,
                   int64_t *sec,
                   int32_t *nsec)
{
    const char *l = layout.base, *v = value.base;
    size_t n = layout.len, vn = value.len, vi = 0;
    int64_t year = 1, month = 1, day = 1, hour = 0, min = 0, s = 0, ns = 0;
    int64_t off = 0, yday = -1;
    bool pm = false, pm_set = false;
    for (size_t i = 0; i < n;) {
        size_t len;
        int arg;
        enum lt t = chunk(l, n, i, &len, &arg);
        int idx;
        int64_t x;
        switch (t) {
            case L_NONE:
                if (vi >= vn || v[vi] != l[i]) {
                    return false;
                }
                vi++;
                break;
            case L_LONGMONTH:
            case L_MONTH:
                if (!get_name(v, vn, &vi, months, 12, t == L_MONTH, &idx)) {
                    return false;
                }
                month = idx + 1;
                break;
            case L_NUMMONTH:
            case L_ZEROMONTH:
                if (!get_num(v, vn, &vi, t == L_ZEROMONTH ? 2 : 1, 2, &month) ||
                    month < 1 || month > 12) {
                    return false;
                }
                break;
            case L_LONGWEEKDAY:
            case L_WEEKDAY:
                if (!get_name(v, vn, &vi, wdays, 7, t == L_WEEKDAY, &idx)) {
                    return false;
                }
                break;
            case L_DAY:
            case L_UNDERDAY:
            case L_ZERODAY:
                if (t == L_UNDERDAY && vi < vn && v[vi] == ' ') {
                    vi++;
                }
                if (!get_num(v, vn, &vi, t == L_ZERODAY ? 2 : 1, 2, &day) ||
                    day < 1 || day > 31) {
                    return false;
                }
                break;
            case L_YDAY:
                if (!get_num(v, vn, &vi, 3, 3, &yday)) {
                    return false;
                }
                break;
            case L_HOUR:
                if (!get_num(v, vn, &vi, 2, 2, &hour) || hour > 23) {
                    return false;
                }
                break;
            case L_HOUR12:
            case L_ZEROHOUR12:
                if (!get_num(v, vn, &vi, t == L_ZEROHOUR12 ? 2 : 1, 2, &hour) ||
                    hour > 12) {
                    return false;
                }
                break;
            case L_MINUTE:
            case L_ZEROMINUTE:
                if (!get_num(v, vn, &vi, t == L_ZEROMINUTE ? 2 : 1, 2, &min) ||
                    min > 59) {
                    return false;
                }
                break;
            case L_SECOND:
            case L_ZEROSECOND:
                if (!get_num(v, vn, &vi, t == L_ZEROSECOND ? 2 : 1, 2, &s) ||
                    s > 59) {
                    return false;
                }
                /* Go accepts a fraction after the seconds even when the layout
                 * has none */
                if (vi + 1 < vn && (v[vi] == '.' || v[vi] == ',') &&
                    v[vi + 1] >= '0' && v[vi + 1] <= '9' &&
                    !(i + len < n &&
                      (l[i + len] == '.' || l[i + len] == ','))) {
                    vi++;
                    int64_t f = 0, scale = 0;
                    while (vi < vn && v[vi] >= '0' && v[vi] <= '9') {
                        if (scale < 9) {
                            f = f * 10 + (v[vi] - '0');
                            scale++;
                        }
                        vi++;
                    }
                    while (scale++ < 9) {
                        f *= 10;
                    }
                    ns = f;
                }
                break;
            case L_LONGYEAR:
                if (!get_num(v, vn, &vi, 4, 4, &year)) {
                    return false;
                }
                break;
            case L_YEAR:
                if (!get_num(v, vn, &vi, 2, 2, &x)) {
                    return false;
                }
                year = x >= 69 ? 1900 + x : 2000 + x;
                break;
            case L_PM:
            case L_pm:
                if (vi + 2 > vn) {
                    return false;
                }
                if (strncasecmp(v + vi, "PM", 2) == 0) {
                    pm = true;
                } else if (strncasecmp(v + vi, "AM", 2) != 0) {
                    return false;
                }
                pm_set = true;
                vi += 2;
                break;
            case L_TZ:
                while (vi < vn && ((v[vi] >= 'A' && v[vi] <= 'Z'))) {
                    vi++;
                }
                break;
            case L_ISO_TZ:
            case L_NUM_TZ: {
                if (t == L_ISO_TZ && vi < vn && v[vi] == 'Z') {
                    vi++;
                    break;
                }
                if (vi >= vn || (v[vi] != '+' && v[vi] != '-')) {
                    return false;
                }
                int sign = v[vi] == '-' ? -1 : 1;
                vi++;
                int64_t hh = 0, mm = 0, ss = 0;
                if (!get_num(v, vn, &vi, 2, 2, &hh)) {
                    return false;
                }
                if (arg != 4) {
                    if ((arg == 1 || arg == 3) && vi < vn && v[vi] == ':') {
                        vi++;
                    }
                    if (!get_num(v, vn, &vi, 2, 2, &mm)) {
                        return false;
                    }
                    if (arg == 0 || arg == 1) {
                        if (arg == 1 && vi < vn && v[vi] == ':') {
                            vi++;
                        }
                        if (!get_num(v, vn, &vi, 2, 2, &ss)) {
                            return false;
                        }
                    }
                }
                off = sign * (hh * 3600 + mm * 60 + ss);
                break;
            }
            default: {
                /* fraction: .000 needs exactly that many digits; .999 any */
                if (vi >= vn || (v[vi] != '.' && v[vi] != ',')) {
                    if (t == L_FRAC9) {
                        break;
                    }
                    return false;
                }
                vi++;
                int64_t f = 0, scale = 0;
                size_t st = vi;
                while (vi < vn && v[vi] >= '0' && v[vi] <= '9') {
                    if (scale < 9) {
                        f = f * 10 + (v[vi] - '0');
                        scale++;
                    }
                    vi++;
                }
                if (t == L_FRAC0 && vi - st != (size_t)arg) {
                    return false;
                }
                while (scale++ < 9) {
                    f *= 10;
                }
                ns = f;
                break;
            }
        }
        i += len;
    }
    if (vi != vn) {
        return false;
    }
    if (pm_set) {
        if (pm && hour < 12) {
            hour += 12;
        } else if (!pm && hour == 12) {
            hour = 0;
        }
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (day > mdays[month - 1]) {
        return false;
    }
    int64_t d = tr_days_from_civil(year, month, day);
    if (yday > 0) {
        d = tr_days_from_civil(year, 1, 1) + yday - 1;
    }
    *sec = d * 86400 + hour * 3600 + min * 60 + s - off;
    *nsec = (int32_t)ns;
    return true;
}
