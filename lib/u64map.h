/* u64map.h - open-addressing hash map from uint64_t keys to pointers.
 * Keys are expected to be well mixed already (series ids are hashes).
 * Not thread-safe. NULL values are not allowed. */
#ifndef TR_LIB_U64MAP_H
#define TR_LIB_U64MAP_H

#include <stddef.h>
#include <stdint.h>

struct tr_u64map_slot {
    uint64_t key;
    void *value; /* NULL = empty slot */
};

struct tr_u64map {
    struct tr_u64map_slot *slots;
    size_t cap;   /* power of two (0 before the first put) */
    size_t count; /* live entries */
};

void tr_u64map_init(struct tr_u64map *m);
void tr_u64map_free(struct tr_u64map *m); /* values are not freed */
void *tr_u64map_get(const struct tr_u64map *m, uint64_t key);
/* Inserts or replaces. 0 or TR_ENOMEM. value != NULL. */
int tr_u64map_put(struct tr_u64map *m, uint64_t key, void *value);
/* Removes key; returns its value or NULL. */
void *tr_u64map_del(struct tr_u64map *m, uint64_t key);
/* Iteration: for (size_t i = 0; i < m->cap; i++) if (m->slots[i].value) */

#endif
