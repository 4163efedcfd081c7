/* hash.h - non-cryptographic 64-bit hashing (series ids, hash tables) and
 * Google's jump consistent hash (shard slots). */
#ifndef TR_LIB_HASH_H
#define TR_LIB_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t tr_hash64(const void *p, size_t n, uint64_t seed);

/* splitmix64's finalizer: a bijection of 64-bit values that mixes every
 * input bit into every output bit (distinct inputs stay distinct). Part of
 * on-disk formats (storage/log_index.c): never change it. */
static inline uint64_t tr_hash_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}
/* Maps key to a bucket in [0, buckets). buckets >= 1. */
uint32_t tr_jump_hash(uint64_t key, uint32_t buckets);

#endif
