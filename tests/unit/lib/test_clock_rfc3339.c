/* Tests for lib/clock.c's RFC 3339 parsing and formatting: fractions of
 * any length, offsets, times before 1970, the int64 nanosecond range, and
 * malformed input. */
#include <criterion/criterion.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/err.h"

static int parse_ns(const char *s, int64_t *ns)
{
    return tr_rfc3339_parse_ns(s, strlen(s), ns);
}

Test(clock_rfc3339, parses_fractions_and_offsets)
{
    int64_t ns;
    cr_assert_eq(parse_ns("1970-01-01T00:00:00Z", &ns), 0);
    cr_assert_eq(ns, 0);
    cr_assert_eq(parse_ns("2024-05-01T10:00:00.123456789Z", &ns), 0);
    cr_assert_eq(ns, 1714557600123456789LL);
    cr_assert_eq(parse_ns("2024-05-01T10:00:00.1234567891234Z", &ns), 0);
    cr_assert_eq(ns, 1714557600123456789LL);
    cr_assert_eq(parse_ns("2024-05-01T10:00:00.5z", &ns), 0);
    cr_assert_eq(ns, 1714557600500000000LL);
    cr_assert_eq(parse_ns("2024-05-01t12:30:00+02:30", &ns), 0);
    cr_assert_eq(ns, 1714557600000000000LL);
    cr_assert_eq(parse_ns("2024-05-01T07:00:00-03:00", &ns), 0);
    cr_assert_eq(ns, 1714557600000000000LL);
    cr_assert_eq(parse_ns("1969-12-31T23:59:59.75Z", &ns), 0);
    cr_assert_eq(ns, -250000000LL);
    cr_assert_eq(parse_ns("2262-04-11T23:47:16.854775807Z", &ns), 0);
    cr_assert_eq(ns, INT64_MAX);
    cr_assert_eq(parse_ns("2262-04-12T00:00:00Z", &ns), TR_EINVAL);
    cr_assert_eq(parse_ns("1677-09-21T00:00:00Z", &ns), TR_EINVAL);
    int64_t sec;
    int32_t nsec;
    cr_assert_eq(tr_rfc3339_parse("9999-12-31T23:59:59Z", 20, &sec, &nsec), 0);
    cr_assert_eq(sec, 253402300799LL);
}

Test(clock_rfc3339, refuses_malformed)
{
    static const char *const bad[] = {
        "",
        "2024-05-01",
        "2024-05-01 10:00:00Z",
        "2024-05-01T10:00:00",
        "2024-13-01T10:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T10:00:00.Z",
        "2024-05-01T10:00:00+0200",
        "2024-05-01T10:00:00+02:00x",
        "2024-05-01T10:00:00ZZ",
        "20x4-05-01T10:00:00Z",
    };
    int64_t ns;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(parse_ns(bad[i], &ns), TR_EINVAL, "%s", bad[i]);
    }
}

Test(clock_rfc3339, formats_like_go_rfc3339nano)
{
    char b[48];
    cr_assert_str_eq(tr_rfc3339_format_ns(0, b, sizeof(b)),
                     "1970-01-01T00:00:00Z");
    cr_assert_str_eq(tr_rfc3339_format_ns(1714557600123456789LL, b, sizeof(b)),
                     "2024-05-01T10:00:00.123456789Z");
    cr_assert_str_eq(tr_rfc3339_format_ns(1714557600120000000LL, b, sizeof(b)),
                     "2024-05-01T10:00:00.12Z");
    cr_assert_str_eq(tr_rfc3339_format_ns(-250000000LL, b, sizeof(b)),
                     "1969-12-31T23:59:59.75Z");
    cr_assert_str_eq(tr_rfc3339_format_ns(INT64_MIN, b, sizeof(b)),
                     "1677-09-21T00:12:43.145224192Z");
    /* round trip */
    for (int64_t ns = -5000000000123LL; ns < 5000000000000LL;
         ns += 987654321012LL) {
        int64_t back;
        tr_rfc3339_format_ns(ns, b, sizeof(b));
        cr_assert_eq(tr_rfc3339_parse_ns(b, strlen(b), &back), 0, "%s", b);
        cr_assert_eq(back, ns, "%s", b);
    }
}
