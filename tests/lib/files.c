/* files.c - helpers shared by the unit tests (files.h). */
#include "tests/lib/files.h"

#include <criterion/criterion.h>
#include <stdio.h>

#include "lib/alloc.h"
#include "lib/buf.h"

char *tr_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_buf_reserve(&b, 0), 0); /* "" for an empty file */
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        cr_assert_eq(tr_buf_append(&b, chunk, n), 0);
    }
    fclose(f);
    return tr_buf_steal(&b, len);
}
