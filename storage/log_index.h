/* log_index.h - the search index of a log block, stored under its own key
 * next to the block (storage/log_keys.h) so that a select prunes blocks by
 * reading these small values only. Both sketches are exact pruning: they
 * may let through a block that holds no match (false positives), never
 * rule out one that does.
 *
 * Needles (`|= "x"`, byte substrings): winnowing over k-grams. In every
 * window of w consecutive k-grams of a line, the k-gram with the smallest
 * hash is selected; the block keeps a bloom filter of the selected
 * hashes. A needle of at least w + k - 1 bytes holds a full window; if a
 * line contains the needle it contains that window, whose minimum the
 * line selected too. So every full window of the needle must have its
 * minimum in the bloom, else the block cannot hold the needle. Shorter
 * needles never prune. Lines shorter than w + k - 1 bytes select nothing
 * (no needle that can prune fits in them).
 *
 * Metadata (`| name="value"`): a bloom filter of hash(name, value) of
 * every structured metadata pair of the block.
 *
 *   index record
 *   OFFSET  SIZE  DESCRIPTION
 *   0       1     version: 1 or 2 (how k-grams are ranked and hashed,
 *                 storage/log_index.c; both read)
 *   1       8     min ts, ns, int64 big-endian
 *   9       8     max ts
 *   17      4     number of entries, big-endian
 *   21      8     raw bytes (sum of the line lengths)
 *   29      4     stored size of the block value, big-endian
 *   33      1     k: k-gram length in bytes (1..8)
 *   34      1     w: winnowing window in k-grams (1..64)
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

#define TR_LOG_INDEX_VERSION 2
/* k = 5, w = 8: needles of 12 bytes or more prune. Shorter k-grams were
 * too few for hex (k = 4: a block of lines that each carry a random trace
 * id holds most of the 65,536 hex 4-grams). A smaller w selects more
 * k-grams per line, but a needle then holds several windows whose minima
 * must all be in the bloom, so fewer bits per item give fewer false
 * positives for the same index size: measured on 600 blocks of the
 * bench/logs corpus (absent random 32-hex needles), k = 6, w = 22 with
 * 10 bits / 7 probes let 0.64 % of blocks through for 7.0 KiB of index
 * per block; k = 5, w = 8 with 3.5 bits / 3 probes lets ~0.05 % through
 * for ~6 KiB, and a 17-byte token such as DEADLINE_EXCEEDED now prunes (364
 * of 600 blocks passed, 346 held it). On all 3,651 blocks of a 1 GiB run
 * (100 absent needles each): 3.5 bits / 3 probes 21.5 MiB, 0.075 % pass;
 * 3.0 / 2 18.4 MiB, 0.145 %; 2.8 / 2 (written now) 17.2 MiB, 0.22 %
 * (about 8 blocks of 3,651 read in vain, ~2 ms); 2.5 / 2 15.4 MiB,
 * 0.42 %. Each record stores its k, w, bits and probes, so records made
 * with other values still read. */
#define TR_LOG_INDEX_K 5
#define TR_LOG_INDEX_W 8

/* What an index record says about its block. */
struct tr_log_index {
    uint8_t version;
    int64_t mint;
    int64_t maxt;
    uint32_t count;
    uint64_t raw_bytes;
    uint32_t block_bytes;
    uint8_t k;
    uint8_t w;
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
