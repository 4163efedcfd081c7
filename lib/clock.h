/* clock.h - time sources behind a swappable vtable (tests fake "now"). */
#ifndef TR_LIB_CLOCK_H
#define TR_LIB_CLOCK_H

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
/* CPU seconds used by this process (user+system). */
double tr_process_cpu_seconds(void);

#endif
