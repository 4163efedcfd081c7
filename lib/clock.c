#include "lib/clock.h"

#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

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
