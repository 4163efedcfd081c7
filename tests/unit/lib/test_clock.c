/* test_clock.c - lib/clock.c: window starts, the fake wall clock. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "lib/clock.h"

Test(clock, window_floor)
{
    const int64_t h = 3600000;
    cr_assert_eq(tr_window_floor(0, h), 0);
    cr_assert_eq(tr_window_floor(h - 1, h), 0);
    cr_assert_eq(tr_window_floor(h, h), h);
    cr_assert_eq(tr_window_floor(-1, h), -h);
    cr_assert_eq(tr_window_floor(-h, h), -h);
    cr_assert_eq(tr_window_floor(-h - 1, h), -2 * h);
    cr_assert_eq(tr_window_floor(INT64_MAX, h), (INT64_MAX / h) * h);
    /* within one window of INT64_MIN: the lowest representable multiple,
     * not an overflow (UBSan aborts this test otherwise) */
    int64_t lowest = (INT64_MIN / h) * h;
    cr_assert_eq(tr_window_floor(INT64_MIN, h), lowest);
    cr_assert_eq(tr_window_floor(INT64_MIN + 1, h), lowest);
    cr_assert_eq(tr_window_floor(lowest, h), lowest);
    cr_assert_eq(tr_window_floor(lowest - 1, h), lowest);
    cr_assert_eq(tr_window_floor(lowest + 1, h), lowest);
    cr_assert_eq(tr_window_floor(INT64_MIN, 1), INT64_MIN);
}

Test(clock, fake_clock_stands_still_and_moves_forward_only)
{
    tr_clock_fake_start(1000);
    cr_assert_eq(tr_now_ms(), 1000);
    cr_assert_eq(tr_now_ms(), 1000);
    tr_clock_fake_set(5000);
    cr_assert_eq(tr_now_ms(), 5000);
    tr_clock_fake_set(2000); /* never back */
    cr_assert_eq(tr_now_ms(), 5000);
    tr_clock_set(NULL);
    cr_assert_gt(tr_now_ms(), 1700000000000LL);
}
