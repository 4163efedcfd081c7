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
 *   2       1     flags: bit 0 = lines are newline-terminated (no line
 *                 holds a '\n'; the length column is left out); bit 1 =
 *                 hex runs packed (below; zstd blocks only); bit 2 = time
 *                 references in the packed text (below; with bit 1 only);
 *                 bit 3 = timestamp deltas in byte planes (below; the
 *                 encoder sets it on zstd blocks); other bits 0
 *   3       8     min ts, ns, int64 big-endian (the first entry's)
 *   11      8     max ts, ns, int64 big-endian (the last entry's)
 *   19      4     number of entries N (1 .. 2^24), big-endian
 *   23      8     raw bytes: the sum of the line lengths, big-endian
 *   31      4     payload length P (uncompressed; at most 256 MiB)
 *   35      .     the payload: P bytes (compression 0), or zstd frames
 *                 whose contents, concatenated, are exactly P bytes
 *                 (compression 1; the encoder writes two: the columns
 *                 before the lines, then the line section, which
 *                 compress better apart: -6 % on bench/logs' corpus)
 *
 *   payload (columns: similar values sit together, for the compressor)
 *   OFFSET  SIZE     DESCRIPTION
 *   0       N x uv   timestamp deltas: the first entry's minus min ts,
 *                    then each minus the previous one (non-decreasing);
 *                    with flag bit 3 instead 1 byte W (1..8), then W
 *                    planes of N bytes, plane q holding byte W - 1 - q of
 *                    every delta (the high bytes of a stream's deltas
 *                    repeat, the low ones do not: -7 % of the column's
 *                    compressed bytes on bench/logs' corpus)
 *   .       N x uv   line lengths (only without flag bit 0)
 *   .       N x uv   number of structured metadata pairs of each entry
 *   .       uvarint  number D of dictionary strings, then D times:
 *                    uvarint length, bytes (in the order of first use)
 *   .       M x 2uv  per metadata pair in entry order: dictionary index
 *                    of the name, then of the value (M = the sum of the
 *                    counts above)
 *   .       raw      the lines, concatenated (exactly `raw bytes` left),
 *                    or with flag bit 0 each line followed by '\n'
 *                    (exactly raw bytes + N left)
 *
 *   with flag bit 1 the line section above (lines, with or without the
 *   newlines) is stored packed: random ids written as hex digits cost a
 *   compressor more than their 4 bits each (they share its literal
 *   statistics with the text), and the text around them repeats far
 *   better without them
 *   .       uvarint  T: length of the text
 *   .       T        the text: the section with every packed run replaced
 *                    by 0x01 and m (1 byte, 8..255), every 0x01 byte of
 *                    the section by 0x01 0x00, and (flag bit 2) time
 *                    texts by 0x01 0x01 and a layout descriptor (1 byte,
 *                    storage/log_timeref.h): the text of that layout for
 *                    the timestamp of the entry whose line holds it, which
 *                    must end inside that line
 *   .       rest     the packed runs' bytes, m per run in order, each two
 *                    hex digits [0-9a-f] (high nibble first)
 *   The encoder packs maximal runs of at least 16 lower-case hex digits
 *   holding a digit and a letter (2 x min(floor(len / 2), 255) digits of
 *   each), and refers to the first time text of a line that spells its
 *   timestamp (storage/log_timeref.h), packing hex runs on either side of
 *   it apart; the decoder only expands, and checks that the result has
 *   the section's exact size and uses every packed byte.
 *
 * Newline-terminated lines compress better than a length column (the
 * separator is nearly free for zstd), and log lines rarely hold one.
 */
#ifndef TR_STORAGE_LOG_BLOCK_H
#define TR_STORAGE_LOG_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "storage/log_entry.h"

#define TR_LOG_BLOCK_VERSION 1
#define TR_LOG_BLOCK_HEADER 35
#define TR_LOG_BLOCK_NEWLINES 0x01
#define TR_LOG_BLOCK_PACKED 0x02
#define TR_LOG_BLOCK_TIMES 0x04
#define TR_LOG_BLOCK_TS_PLANES 0x08
#define TR_LOG_BLOCK_NONE 0
#define TR_LOG_BLOCK_ZSTD 1
#define TR_LOG_BLOCK_MAX_ENTRIES (1u << 24)
#define TR_LOG_BLOCK_MAX_PAYLOAD (256u << 20)
/* zstd level of blocks. With hex runs packed (flag bit 1), level 5 gives
 * blocks + indexes of 0.93x `zstd -3` of the raw lines on log-like data
 * (test_log_block.c, size_against_zstd3; level 7 without packing gave
 * 0.96x) at about 60 % of level 7's CPU, paid once per ~256 KiB block. */
#define TR_LOG_BLOCK_ZSTD_LEVEL 5

/* The header of a block. */
struct tr_log_block_info {
    uint8_t compression;
    uint8_t flags;
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
/* Whether s holds every one of the n needles as a substring (an empty
 * needle is held by anything). */
bool tr_log_has_needles(struct tr_slice s,
                        const struct tr_slice *needles,
                        size_t n);

/* Which entries tr_log_block_select keeps: ts in [start, end) and a line
 * holding every needle (empty needles match every line). */
struct tr_log_block_filter {
    int64_t start;
    int64_t end;
    const struct tr_slice *needles;
    size_t n_needles;
};

/* Decodes the entries of the block that f keeps (every entry when f is
 * NULL): *lines is an arena array of the *n kept lines (bytes as with
 * tr_log_block_decode), *pos (when pos is not NULL) an arena array of
 * their positions in the block, *in_range (when not NULL) the number of
 * entries in f's time range. Lines that cannot match are not
 * materialised, but the whole block is checked as by
 * tr_log_block_decode. 0, TR_ECORRUPT, TR_ENOMEM. */
int tr_log_block_select(const void *buf,
                        size_t len,
                        const struct tr_log_block_filter *f,
                        struct tr_arena *a,
                        struct tr_log_line **lines,
                        uint32_t **pos,
                        size_t *n,
                        size_t *in_range);
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
