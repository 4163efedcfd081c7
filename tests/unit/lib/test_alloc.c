/* test_alloc.c - arenas (lib/alloc.c): adoption keeps memory valid. */
#include "lib/alloc.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

Test(alloc, arena_adopt_keeps_memory)
{
    struct tr_arena dst, src, empty;
    tr_arena_init(&dst, 1024);
    tr_arena_init(&src, 1024);
    tr_arena_init(&empty, 1024);
    char *small = tr_arena_strndup(&src, "hello", 5);
    char *big = tr_arena_alloc(&src, 10000); /* its own block */
    memset(big, 'x', 10000);
    char *d0 = tr_arena_strndup(&dst, "dst", 3);
    tr_arena_adopt(&dst, &src);
    tr_arena_adopt(&dst, &empty);
    cr_assert_null(src.head);
    cr_assert_eq(src.total, 0);
    cr_assert_geq(dst.total, 10000 + 16 + 16);
    /* dst's head still serves small allocations; old memory unchanged */
    char *d1 = tr_arena_strndup(&dst, "more", 4);
    cr_assert_str_eq(small, "hello");
    cr_assert_str_eq(d0, "dst");
    cr_assert_str_eq(d1, "more");
    cr_assert_eq(big[9999], 'x');
    /* adopting into an empty arena */
    tr_arena_init(&src, 1024);
    char *s2 = tr_arena_strndup(&src, "two", 3);
    tr_arena_adopt(&empty, &src);
    cr_assert_str_eq(s2, "two");
    tr_arena_free(&empty);
    tr_arena_free(&src);
    tr_arena_free(&dst); /* ASan: every block freed exactly once */
}

Test(alloc, array_grow_doubles_and_refuses_overflow)
{
    int *v = NULL;
    size_t cap = 0;
    for (size_t n = 0; n < 100; n++) {
        if (n == cap) {
            int *nv = tr_array_grow(v, &cap, sizeof(*nv), 4);
            cr_assert_not_null(nv);
            v = nv;
        }
        v[n] = (int)n;
    }
    cr_assert_eq(cap, 128); /* 4, 8, ..., 128 */
    cr_assert_eq(v[99], 99);
    size_t huge = SIZE_MAX / 2 + 1;
    cr_assert_null(tr_array_grow(v, &huge, 1, 4)); /* doubling overflows */
    cr_assert_eq(huge, SIZE_MAX / 2 + 1);
    size_t c2 = 8;
    cr_assert_null(tr_array_grow(v, &c2, SIZE_MAX / 8, 4)); /* bytes */
    cr_assert_eq(c2, 8);
    tr_free(v);

    struct tr_arena a;
    tr_arena_init(&a, 256);
    long *w = NULL;
    size_t wcap = 0;
    for (size_t n = 0; n < 20; n++) {
        if (n == wcap) {
            long *nw = tr_arena_array_grow(&a, w, n, &wcap, sizeof(*nw), 3);
            cr_assert_not_null(nw);
            w = nw;
        }
        w[n] = (long)n * 7;
    }
    cr_assert_eq(wcap, 24); /* 3, 6, 12, 24 */
    for (size_t n = 0; n < 20; n++) {
        cr_assert_eq(w[n], (long)n * 7); /* copied on every growth */
    }
    tr_arena_free(&a);
}
