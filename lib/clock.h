/* clock.h - time sources behind a swappable vtable (tests fake "now"). */
#ifndef TR_LIB_CLOCK_H
#define TR_LIB_CLOCK_H

#include <stddef.h>
#include <stdint.h>

typedef int64_t tr_ms; /* milliseconds since the Unix epoch */
typedef int64_t tr_ns; /* nanoseconds since the Unix epoch */

struct tr_clock {
    int version; /* 1 */
    void *data;
    tr_ns (*now_ns)(void *data);  /* wall clock */
    tr_ns (*mono_ns)(void *data); /* monotonic */
};

void tr_clock_set(const struct tr_clock *c); /* NULL restores real time */
/* The fake wall clock (--debug.fake-clock): starts at `at`, standing still
 * until moved by tr_clock_fake_set (which never moves it back); the
 * monotonic clock stays real. Installs itself with tr_clock_set. */
void tr_clock_fake_start(tr_ms at);
void tr_clock_fake_set(tr_ms now);
tr_ns tr_now_ns(void);
tr_ms tr_now_ms(void);
tr_ns tr_mono_ns(void);
/* The start of the window of length w (> 0) holding t: the multiple of w
 * at or below t. Where that lies below INT64_MIN (t within one window of
 * it) the lowest multiple of w that is representable instead: no overflow
 * for any t a peer or a client sends. */
int64_t tr_window_floor(int64_t t, int64_t w);
/* Parses RFC 3339 time s[0..len) (2006-01-02T15:04:05.999999999Z07:00; 'T'
 * or 't', 'Z' or 'z' or a +hh:mm offset, any number of fraction digits, of
 * which the first nine count) into seconds since the epoch and nanoseconds
 * (0..999999999, so a time before 1970 has nsec > 0 and sec below it).
 * 0 or TR_EINVAL. */
int tr_rfc3339_parse(const char *s, size_t len, int64_t *sec, int32_t *nsec);
/* The same as nanoseconds since the epoch: TR_EINVAL as well outside what
 * int64 nanoseconds hold (years 1678..2262). */
int tr_rfc3339_parse_ns(const char *s, size_t len, int64_t *ns);
/* Formats ns as Go's RFC3339Nano in UTC ("2006-01-02T15:04:05.999999999Z",
 * trailing fraction zeros dropped); buf of at least 40 bytes. Returns buf. */
char *tr_rfc3339_format_ns(int64_t ns, char *buf, size_t n);

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d (month
 * 1..12, day 1..31; no check), and back. Exact for every int64 day
 * count a time in nanoseconds or seconds gives. */
int64_t tr_days_from_civil(int64_t y, int m, int d);
void tr_civil_from_days(int64_t z, int64_t *y, int *m, int *d);

/* CPU seconds used by this process (user+system). */
double tr_process_cpu_seconds(void);

#endif
