/* Tests for lib/jsonparse.c: parsing, lookups, and tr_sjson_string's
 * decoding (escapes, \u escapes, surrogate pairs, lone surrogates). */
#include "lib/jsonparse.h"

#include <criterion/criterion.h>
#include <string.h>

#include "lib/err.h"

Test(jsonparse, lookups_and_strings)
{
    static const char text[] =
        " {\"a\": [1, \"two\", {\"k\": null}], \"s\": \"x\\\"y\\\\z\\n\\/\","
        " \"u\": \"\\u00fc\\u20ac\\ud83d\\ude00\", \"lone\": \"a\\ud800b\","
        " \"plain\": \"Z\xc3\xbcrich\"} ";
    struct tr_sjson d;
    cr_assert_eq(tr_sjson_parse(&d, text, strlen(text)), 0, "%s", d.err);
    struct tr_arena a;
    tr_arena_init(&a, 256);
    struct tr_slice s;
    long arr = tr_sjson_get(&d, 0, "a");
    cr_assert_geq(arr, 0);
    cr_assert_eq(tr_sjson_u64(&d, tr_sjson_at(&d, arr, 0)), 1);
    cr_assert_eq(tr_sjson_string(&d, tr_sjson_at(&d, arr, 1), &a, &s), 0);
    cr_assert(tr_slice_eq_cstr(s, "two"));
    cr_assert_eq(tr_sjson_at(&d, arr, 3), -1);
    cr_assert_eq(tr_sjson_string(&d, tr_sjson_at(&d, arr, 0), &a, &s),
                 TR_EINVAL); /* a number */
    cr_assert_eq(tr_sjson_string(&d, tr_sjson_get(&d, 0, "s"), &a, &s), 0);
    cr_assert(tr_slice_eq_cstr(s, "x\"y\\z\n/"));
    cr_assert_eq(tr_sjson_string(&d, tr_sjson_get(&d, 0, "u"), &a, &s), 0);
    cr_assert(tr_slice_eq_cstr(s, "\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80"));
    cr_assert_eq(tr_sjson_string(&d, tr_sjson_get(&d, 0, "lone"), &a, &s), 0);
    cr_assert(tr_slice_eq_cstr(s,
                               "a\xef\xbf\xbd"
                               "b"));
    long p = tr_sjson_get(&d, 0, "plain");
    cr_assert_eq(tr_sjson_string(&d, p, &a, &s), 0);
    cr_assert(tr_slice_eq_cstr(s, "Z\xc3\xbcrich"));
    cr_assert(s.base >= text && s.base < text + sizeof(text)); /* no copy */
    cr_assert_eq(tr_sjson_string(&d, -1, &a, &s), TR_EINVAL);
    cr_assert_eq(tr_sjson_get(&d, 0, "missing"), -1);
    tr_sjson_free(&d);
    tr_arena_free(&a);

    static const char *const bad[] = {"",          "{",          "[1,]",
                                      "{\"a\" 1}", "\"\\x\"",    "\"a\nb\"",
                                      "[1] 2",     "\"\\u12g4\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_neq(tr_sjson_parse(&d, bad[i], strlen(bad[i])), 0, "%s",
                      bad[i]);
        tr_sjson_free(&d);
    }
}
