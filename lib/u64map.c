#include "lib/u64map.h"

#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"

static inline size_t map__idx(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

void tr_u64map_init(struct tr_u64map *m)
{
    memset(m, 0, sizeof(*m));
}

void tr_u64map_free(struct tr_u64map *m)
{
    tr_free(m->slots);
    tr_u64map_init(m);
}

void *tr_u64map_get(const struct tr_u64map *m, uint64_t key)
{
    if (m->cap == 0) {
        return NULL;
    }
    size_t i = map__idx(key, m->cap);
    for (;;) {
        const struct tr_u64map_slot *s = &m->slots[i];
        if (s->value == NULL) {
            return NULL;
        }
        if (s->key == key) {
            return s->value;
        }
        i = (i + 1) & (m->cap - 1);
    }
}

static void map__insert(struct tr_u64map_slot *slots,
                        size_t cap,
                        uint64_t key,
                        void *value)
{
    size_t i = map__idx(key, cap);
    while (slots[i].value != NULL && slots[i].key != key) {
        i = (i + 1) & (cap - 1);
    }
    slots[i].key = key;
    slots[i].value = value;
}

int tr_u64map_put(struct tr_u64map *m, uint64_t key, void *value)
{
    if ((m->count + 1) * 4 > m->cap * 3) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        struct tr_u64map_slot *ns = tr_calloc(ncap, sizeof(*ns));
        if (ns == NULL) {
            return TR_ENOMEM;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (m->slots[i].value != NULL) {
                map__insert(ns, ncap, m->slots[i].key, m->slots[i].value);
            }
        }
        tr_free(m->slots);
        m->slots = ns;
        m->cap = ncap;
    }
    size_t i = map__idx(key, m->cap);
    while (m->slots[i].value != NULL) {
        if (m->slots[i].key == key) {
            m->slots[i].value = value;
            return 0;
        }
        i = (i + 1) & (m->cap - 1);
    }
    m->slots[i].key = key;
    m->slots[i].value = value;
    m->count++;
    return 0;
}

void *tr_u64map_del(struct tr_u64map *m, uint64_t key)
{
    if (m->cap == 0) {
        return NULL;
    }
    size_t i = map__idx(key, m->cap);
    while (m->slots[i].value != NULL && m->slots[i].key != key) {
        i = (i + 1) & (m->cap - 1);
    }
    if (m->slots[i].value == NULL) {
        return NULL;
    }
    void *v = m->slots[i].value;
    m->slots[i].value = NULL;
    m->count--;
    /* backward-shift deletion keeps probe chains intact */
    size_t j = i;
    for (;;) {
        j = (j + 1) & (m->cap - 1);
        if (m->slots[j].value == NULL) {
            break;
        }
        size_t home = map__idx(m->slots[j].key, m->cap);
        /* can slot j move to i? yes if home is not in (i, j] cyclically */
        int move = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
        if (move) {
            m->slots[i] = m->slots[j];
            m->slots[j].value = NULL;
            i = j;
        }
    }
    return v;
}
