/* alloc.h - the one swappable allocator (tests inject OOM through it) and
 * per-request arenas freed in one call. */
#ifndef TR_LIB_ALLOC_H
#define TR_LIB_ALLOC_H

#include <stddef.h>

struct tr_allocator {
    int version; /* 1 */
    void *data;
    void *(*malloc)(void *data, size_t size);
    void *(*realloc)(void *data, void *ptr, size_t size);
    void (*free)(void *data, void *ptr);
};

/* Replaces the process allocator (NULL restores libc). Not thread-safe:
 * call before any other thread starts. */
void tr_allocator_set(const struct tr_allocator *a);

void *tr_malloc(size_t size);
void *tr_calloc(size_t n, size_t size); /* NULL on overflow */
void *tr_realloc(void *ptr, size_t size);
void tr_free(void *ptr);
char *tr_strdup(const char *s);
char *tr_strndup(const char *s, size_t n);

/* Growable arrays: room for more elements of elem bytes in p, which holds
 * *cap. The capacity doubles (the first one is first); returns the new
 * array, or NULL when out of memory or on overflow, with p and *cap
 * unchanged. tr_array_grow reallocates; tr_arena_array_grow copies the n
 * elements in use into a new allocation from the arena. */
void *tr_array_grow(void *p, size_t *cap, size_t elem, size_t first);

/* Arena: bump allocation in blocks; everything freed by tr_arena_free.
 * Allocations are 16-byte aligned. Not thread-safe. */
struct tr_arena_block;
struct tr_arena {
    struct tr_arena_block *head; /* current block (list of blocks) */
    size_t block_size;           /* default size of new blocks */
    size_t total;                /* bytes handed out, for limits */
};

void tr_arena_init(struct tr_arena *a, size_t block_size);
void *tr_arena_alloc(struct tr_arena *a, size_t size); /* NULL on OOM */
/* A copy of n bytes (an allocation of one byte when n is 0: never NULL
 * unless out of memory). */
void *tr_arena_memdup(struct tr_arena *a, const void *p, size_t n);
char *tr_arena_strndup(struct tr_arena *a, const char *s, size_t n);
void *tr_arena_array_grow(struct tr_arena *a,
                          const void *p,
                          size_t n,
                          size_t *cap,
                          size_t elem,
                          size_t first);
void tr_arena_reset(struct tr_arena *a); /* keeps the first block */
/* Moves every block of src into dst: memory src handed out stays valid
 * and is freed with dst; src is left empty. */
void tr_arena_adopt(struct tr_arena *dst, struct tr_arena *src);
void tr_arena_free(struct tr_arena *a);

#endif
