/* oom.c - the budgeted failing allocator of tests/lib/oom.h. */
#include "tests/lib/oom.h"

#include <stdlib.h>

#include "lib/alloc.h"

static int oom_left;

static void *oom_malloc(void *data, size_t size)
{
    (void)data;
    return oom_left-- > 0 ? malloc(size) : NULL;
}

static void *oom_realloc(void *data, void *ptr, size_t size)
{
    (void)data;
    return oom_left-- > 0 ? realloc(ptr, size) : NULL;
}

static void oom_free(void *data, void *ptr)
{
    (void)data;
    free(ptr);
}

static const struct tr_allocator oom_allocator = {1, NULL, oom_malloc,
                                                  oom_realloc, oom_free};

void tr_test_oom_install(int budget)
{
    oom_left = budget;
    tr_allocator_set(&oom_allocator);
}

void tr_test_oom_budget(int budget)
{
    oom_left = budget;
}

void tr_test_oom_remove(void)
{
    tr_allocator_set(NULL);
}
