/* log_index.h - the search index of a log block, stored under its own key
 * next to the block (storage/log_keys.h) so that a select prunes blocks by
 * reading these small values only. Both sketches are exact pruning: they
 * may let through a block that holds no match (false positives), never
 * rule out one that does.
 *
 * Needles (`|= "x"`, byte substrings): sampled k-grams (version 3, what
 * is written). Every k-gram (k consecutive bytes) of a line gets a rank, a
 * multiplicative hash of its bytes; the k-grams whose rank falls in the
 * lowest 1/2^shift of the range are sampled, and the block keeps a bloom
 * filter of the sampled ones. Whether a k-gram is sampled depends on its
 * bytes only, so if a line contains the needle it sampled every sampled
 * k-gram of the needle: each must be in the bloom, else the block cannot
 * hold the needle. A needle with no sampled k-gram (most likely for short
 * ones: with shift 2, 0.75^(len - 4) of needles) prunes nothing; the rest
 * are checked against several bloom items at once, which makes short
 * needles prune too (measured below).
 *
 * Versions 1 and 2 (still read) used winnowing over k-grams instead: in
 * every window of w consecutive k-grams the one with the smallest rank was
 * selected (a needle of w + k - 1 bytes or more holds a full window, whose
 * minimum the line selected too). It guarantees a selection for every
 * needle that long, but finding the window minima cost 2.5 of the 4.4 CPU
 * seconds per GB the index took, and at the same index size it pruned
 * less on average (one item per window against a needle's several
 * sampled k-grams).
 *
 * Metadata (`| name="value"`): a bloom filter of hash(name, value) of
 * every structured metadata pair of the block.
 *
 *   index record
 *   OFFSET  SIZE  DESCRIPTION
 *   0       1     version: 3 (sampled k-grams); 1 and 2 (winnowing, k-grams
 *                 ranked and hashed as storage/log_index.c says) are read
 *   1       8     min ts, ns, int64 big-endian
 *   9       8     max ts
 *   17      4     number of entries, big-endian
 *   21      8     raw bytes (sum of the line lengths)
 *   29      4     stored size of the block value, big-endian
 *   33      1     k: k-gram length in bytes (1..8)
 *   34      1     version 3: shift, one k-gram in 2^shift sampled (1..16);
 *                 versions 1, 2: w, the winnowing window in k-grams (1..64)
 *   35      1     needle bloom: number of probes (1..16)
 *   36      4     needle bloom: number of bits m (0 = no k-gram selected)
 *   40      .     ceil(m / 8) bytes of bits (bit i = byte i/8, 1 << i%8)
 *   .       1     metadata bloom: number of probes (1..16)
 *   .       4     metadata bloom: number of bits (0 = no metadata)
 *   .       .     its bytes
 *
 * Bloom probes: with the item's 64-bit hash h, probe i sets bit
 * (lo32(h) + i * (hi32(h) | 1)) mod m. */
#ifndef TR_STORAGE_LOG_INDEX_H
#define TR_STORAGE_LOG_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "storage/labels.h"
#include "storage/log_entry.h"

#define TR_LOG_INDEX_VERSION 3
/* k = 5, one k-gram in 4 sampled, 2.6 bits and 2 probes per distinct
 * sampled k-gram. Shorter k-grams were too few for hex (k = 4: a block of
 * lines that each carry a random trace id holds most of the 65,536 hex
 * 4-grams). Measured on the first 1,500 blocks of the bench/logs corpus
 * (423 MiB of lines; 100 absent random 32-hex needles per block): version
 * 2 (winnowing k = 5, w = 8, 2.8 bits / 2 probes) 4.5 CPU s per GB of
 * lines, 7.00 MiB of index, 0.25 % of blocks let through; version 3 with
 * one in 4 sampled: 2.6 bits 2.9 s/GB, 7.10 MiB, 0.46 %; 2.4 bits 6.56
 * MiB, 0.59 %; 2.8 bits 7.64 MiB, 0.35 %; one in 8 sampled (1.8 s/GB)
 * let 5-8 % through (too many needles with one sampled k-gram or none).
 * DEADLINE_EXCEEDED (17 bytes) passed 1,007 blocks against 1,030; the
 * 17-byte `GET /api/v1/users` 560 against 842. Each record stores its k,
 * shift, bits and probes, so records made with other values still read. */
#define TR_LOG_INDEX_K 5
#define TR_LOG_INDEX_SHIFT 2

/* What an index record says about its block. */
struct tr_log_index {
    uint8_t version;
    int64_t mint;
    int64_t maxt;
    uint32_t count;
    uint64_t raw_bytes;
    uint32_t block_bytes;
    uint8_t k;
    uint8_t w; /* version 3: the sampling shift; 1, 2: the window */
    uint8_t needle_probes;
    uint32_t needle_bits;
    const uint8_t *needle_bloom;
    uint8_t meta_probes;
    uint32_t meta_bits;
    const uint8_t *meta_bloom;
};

/* Appends the index record of the n lines of a block of block_bytes
 * stored bytes (lines sorted by ts). Deterministic. 0 or TR_ENOMEM. */
int tr_log_index_build(const struct tr_log_line *lines,
                       size_t n,
                       size_t block_bytes,
                       struct tr_buf *out);
/* Parses an index record (pointers into buf). 0 or TR_ECORRUPT. */
int tr_log_index_parse(const void *buf, size_t len, struct tr_log_index *out);
/* false when the block cannot hold a line containing every needle and an
 * entry with every metadata pair; true when it may. */
bool tr_log_index_may_match(const struct tr_log_index *ix,
                            const struct tr_slice *needles,
                            size_t n_needles,
                            const struct tr_label *meta,
                            size_t n_meta);

#endif
