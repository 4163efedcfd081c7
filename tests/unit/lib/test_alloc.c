/* test_alloc.c - arenas (lib/alloc.c): adoption keeps memory valid. */
#include "lib/alloc.h"

#include <criterion/criterion.h>
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
