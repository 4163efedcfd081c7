/* log_block.h - log blocks: the entries of one stream, sorted by (ts, push
 * order), in a column layout, compressed with zstd. A block is also how a
 * stream's open "fragment" (its lines of one Raft entry, not compressed)
 * is stored, so readers decode both alike. Blocks are read from RocksDB
 * and arrive over the network in shard copies: the decoder checks every
 * length and count, and never trusts the header.
 *
 *   block
 *   OFFSET  SIZE  DESCRIPTION
 *   0       1     version = 1
 *   1       1     compression: 0 none, 1 zstd
 *   2       8     min ts, ns, int64 big-endian (the first entry's)
 *   10      8     max ts, ns, int64 big-endian (the last entry's)
 *   18      4     number of entries N (1 .. 2^24), big-endian
 *   22      8     raw bytes: the sum of the line lengths, big-endian
 *   30      4     payload length P (uncompressed; at most 256 MiB)
 *   34      .     the payload: P bytes (compression 0) or one zstd frame
 *                 of exactly P bytes (compression 1)
 *
 *   payload (columns: similar values sit together, for the compressor)
 *   OFFSET  SIZE     DESCRIPTION
 *   0       N x uv   timestamp deltas: the first entry's minus min ts,
 *                    then each minus the previous one (non-decreasing)
 *   .       N x uv   line lengths
 *   .       N x uv   number of structured metadata pairs of each entry
 *   .       uvarint  number D of dictionary strings, then D times:
 *                    uvarint length, bytes (in the order of first use)
 *   .       M x 2uv  per metadata pair in entry order: dictionary index
 *                    of the name, then of the value (M = the sum of the
 *                    counts above)
 *   .       raw      the lines, concatenated (exactly `raw bytes` left)
 */
#ifndef TR_STORAGE_LOG_BLOCK_H
#define TR_STORAGE_LOG_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "storage/log_entry.h"

#define TR_LOG_BLOCK_VERSION 1
#define TR_LOG_BLOCK_HEADER 34
#define TR_LOG_BLOCK_NONE 0
#define TR_LOG_BLOCK_ZSTD 1
#define TR_LOG_BLOCK_MAX_ENTRIES (1u << 24)
#define TR_LOG_BLOCK_MAX_PAYLOAD (256u << 20)
#define TR_LOG_BLOCK_ZSTD_LEVEL 3

/* The header of a block. */
struct tr_log_block_info {
    uint8_t compression;
    int64_t mint;
    int64_t maxt;
    uint32_t count;
    uint64_t raw_bytes;
    uint32_t payload_len;
};

/* Appends a block of the n >= 1 lines (sorted by ts by the caller; their
 * order is kept) to out. The same lines give the same bytes (zstd at a
 * fixed level, the dictionary in first-use order). 0, TR_EINVAL (n == 0,
 * unsorted, too many or too large), TR_ENOMEM. */
int tr_log_block_encode(const struct tr_log_line *lines,
                        size_t n,
                        uint8_t compression,
                        struct tr_buf *out);
/* Reads and checks the header (not the payload). 0 or TR_ECORRUPT. */
int tr_log_block_info(const void *buf,
                      size_t len,
                      struct tr_log_block_info *out);
/* Decodes every entry: *lines is an arena array of *n lines whose bytes
 * live in the arena (compressed blocks) or in buf (uncompressed: buf must
 * outlive them). Every count, length, index and the time order are
 * checked. 0, TR_ECORRUPT, TR_ENOMEM. */
int tr_log_block_decode(const void *buf,
                        size_t len,
                        struct tr_arena *a,
                        struct tr_log_line **lines,
                        size_t *n);

#endif
