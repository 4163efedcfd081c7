/* oom.h - an allocator for out-of-memory tests: once installed, the next
 * `budget` allocations (malloc, calloc or realloc through lib/alloc.h)
 * succeed and every later one returns NULL, so a loop over budgets reaches
 * every failure path of the code under test. Not thread-safe (like
 * tr_allocator_set). */
#ifndef TR_TESTS_LIB_OOM_H
#define TR_TESTS_LIB_OOM_H

/* Installs the allocator with `budget` allocations left. */
void tr_test_oom_install(int budget);
/* Sets the allocations left (installed or not). */
void tr_test_oom_budget(int budget);
/* Restores libc's allocator. */
void tr_test_oom_remove(void);

#endif
