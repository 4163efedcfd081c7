/* hash.h - non-cryptographic 64-bit hashing (series ids, hash tables) and
 * Google's jump consistent hash (shard slots). */
#ifndef TR_LIB_HASH_H
#define TR_LIB_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t tr_hash64(const void *p, size_t n, uint64_t seed);
/* Maps key to a bucket in [0, buckets). buckets >= 1. */
uint32_t tr_jump_hash(uint64_t key, uint32_t buckets);

#endif
