#include "lib/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const struct tr_allocator *alloc_cur;

void tr_allocator_set(const struct tr_allocator *a)
{
    alloc_cur = a;
}

void *tr_malloc(size_t size)
{
    if (alloc_cur != NULL) {
        return alloc_cur->malloc(alloc_cur->data, size);
    }
    return malloc(size);
}

void *tr_calloc(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size) {
        return NULL;
    }
    void *p = tr_malloc(n * size);
    if (p != NULL) {
        memset(p, 0, n * size);
    }
    return p;
}

void *tr_realloc(void *ptr, size_t size)
{
    if (alloc_cur != NULL) {
        return alloc_cur->realloc(alloc_cur->data, ptr, size);
    }
    return realloc(ptr, size);
}

void tr_free(void *ptr)
{
    if (ptr == NULL) {
        return;
    }
    if (alloc_cur != NULL) {
        alloc_cur->free(alloc_cur->data, ptr);
        return;
    }
    free(ptr);
}

char *tr_strndup(const char *s, size_t n)
{
    char *p = tr_malloc(n + 1);
    if (p != NULL) {
        if (n > 0) {
            memcpy(p, s, n);
        }
        p[n] = '\0';
    }
    return p;
}

/* The next capacity of a growable array, 0 on overflow. */
static size_t array__next_cap(size_t cap, size_t elem, size_t first)
{
    size_t nc = cap ? cap * 2 : (first ? first : 1);
    if (nc <= cap || elem == 0 || nc > SIZE_MAX / elem) {
        return 0;
    }
    return nc;
}

void *tr_array_grow(void *p, size_t *cap, size_t elem, size_t first)
{
    size_t nc = array__next_cap(*cap, elem, first);
    void *np = nc ? tr_realloc(p, nc * elem) : NULL;
    if (np != NULL) {
        *cap = nc;
    }
    return np;
}

char *tr_strdup(const char *s)
{
    return tr_strndup(s, strlen(s));
}

struct tr_arena_block {
    struct tr_arena_block *next; /* older block */
    size_t size;                 /* usable bytes in data */
    size_t used;                 /* bytes handed out */
    _Alignas(16) unsigned char data[];
};

void tr_arena_init(struct tr_arena *a, size_t block_size)
{
    a->head = NULL;
    a->block_size = block_size ? block_size : 8192;
    a->total = 0;
}

void *tr_arena_alloc(struct tr_arena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size == 0) {
        size = 16;
    }
    struct tr_arena_block *b = a->head;
    if (b == NULL || b->size - b->used < size) {
        size_t bs = a->block_size;
        if (size > bs / 4) {
            /* big allocation: its own block, linked behind the head so the
             * head keeps serving small allocations */
            struct tr_arena_block *nb = tr_malloc(sizeof(*nb) + size);
            if (nb == NULL) {
                return NULL;
            }
            nb->size = size;
            nb->used = size;
            if (b != NULL) {
                nb->next = b->next;
                b->next = nb;
            } else {
                nb->next = NULL;
                a->head = nb;
            }
            a->total += size;
            return nb->data;
        }
        struct tr_arena_block *nb = tr_malloc(sizeof(*nb) + bs);
        if (nb == NULL) {
            return NULL;
        }
        nb->size = bs;
        nb->used = 0;
        nb->next = b;
        a->head = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += size;
    a->total += size;
    return p;
}

void *tr_arena_memdup(struct tr_arena *a, const void *p, size_t n)
{
    void *q = tr_arena_alloc(a, n ? n : 1); /* never NULL for n == 0 */
    if (q != NULL && n > 0) {
        memcpy(q, p, n);
    }
    return q;
}

void *tr_arena_array_grow(struct tr_arena *a,
                          const void *p,
                          size_t n,
                          size_t *cap,
                          size_t elem,
                          size_t first)
{
    size_t nc = array__next_cap(*cap, elem, first);
    void *np = nc ? tr_arena_alloc(a, nc * elem) : NULL;
    if (np != NULL) {
        if (n > 0) {
            memcpy(np, p, n * elem);
        }
        *cap = nc;
    }
    return np;
}

char *tr_arena_strndup(struct tr_arena *a, const char *s, size_t n)
{
    char *q = tr_arena_alloc(a, n + 1);
    if (q != NULL) {
        if (n > 0) {
            memcpy(q, s, n);
        }
        q[n] = '\0';
    }
    return q;
}

void tr_arena_reset(struct tr_arena *a)
{
    struct tr_arena_block *b = a->head;
    if (b == NULL) {
        return;
    }
    struct tr_arena_block *keep = NULL;
    while (b != NULL) {
        struct tr_arena_block *next = b->next;
        if (keep == NULL && b->size == a->block_size) {
            keep = b;
        } else {
            tr_free(b);
        }
        b = next;
    }
    if (keep != NULL) {
        keep->next = NULL;
        keep->used = 0;
    }
    a->head = keep;
    a->total = 0;
}

void tr_arena_adopt(struct tr_arena *dst, struct tr_arena *src)
{
    struct tr_arena_block *first = src->head;
    if (first == NULL) {
        return;
    }
    struct tr_arena_block *last = first;
    while (last->next != NULL) {
        last = last->next;
    }
    if (dst->head == NULL) {
        dst->head = first;
    } else {
        /* behind dst's head, which keeps serving new allocations */
        last->next = dst->head->next;
        dst->head->next = first;
    }
    dst->total += src->total;
    src->head = NULL;
    src->total = 0;
}

void tr_arena_free(struct tr_arena *a)
{
    struct tr_arena_block *b = a->head;
    while (b != NULL) {
        struct tr_arena_block *next = b->next;
        tr_free(b);
        b = next;
    }
    a->head = NULL;
    a->total = 0;
}
