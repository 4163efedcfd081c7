/* chunk_record.h - the persisted form of a chunk: the value of a 'C' key
 * (storage/keys.h). Open chunks are XOR-encoded (storage/chunk.h); when a
 * chunk is written to RocksDB it is re-encoded as "packed" when its values
 * are decimal numbers with at most 6 fractional digits (counters, integer
 * gauges, ratios, histogram buckets: most real series), which stores
 * byte-aligned deltas that the bottom level's ZSTD compresses well; other
 * chunks keep the XOR bit stream.
 *
 *   record
 *   OFFSET  SIZE     DESCRIPTION
 *   0       8        maxt: newest timestamp, sign-flipped u64 BE
 *   8       1        format: 1 = XOR (storage/chunk.h), 2 = packed
 *   9       ...      payload
 *
 *   packed payload (n >= 1 samples)
 *   uvarint  n
 *   varint   t0 (zig-zag)
 *   uvarint  t1 - t0                       (n >= 2)
 *   varint   dod_i = (t_i - t_{i-1}) - (t_{i-1} - t_{i-2}), i = 2..n-1
 *   u8       d: values are v_i = k_i / 10^d exactly (bit for bit)
 *   uvarint  g >= 1: every k_i - k_{i-1} is a multiple of g
 *   varint   k_0
 *   varint   (k_i - k_{i-1}) / g, i = 1..n-1
 */
#ifndef TR_STORAGE_CHUNK_RECORD_H
#define TR_STORAGE_CHUNK_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "storage/chunk.h"
#include "storage/select.h"

#define TR_CHUNK_FMT_XOR 1
#define TR_CHUNK_FMT_PACKED 2
#define TR_CHUNK_RECORD_HEADER 9

/* Appends the record for an XOR-encoded chunk (whose newest timestamp is
 * maxt) to out, packed when the values allow it. 0 or TR_ENOMEM /
 * TR_ECORRUPT (bad XOR bytes). */
int tr_chunk_record_build(struct tr_buf *out,
                          int64_t maxt,
                          const void * xor
                          ,
                          size_t n);
/* maxt of a record; INT64_MIN when rec is too short. */
int64_t tr_chunk_record_maxt(const void *rec, size_t n);

struct tr_chunk_reader {
    int format;
    struct tr_xor_iter xor ; /* format 1 */
    struct tr_cursor cur;    /* format 2: timestamps ... */
    struct tr_cursor vcur;   /* ... and values */
    uint64_t n;
    uint64_t i;
    int64_t t;
    int64_t delta;
    int64_t k;
    int64_t g;
    double div;
};

/* Number of samples the record says it holds (0 when malformed): room
 * to reserve for tr_chunk_record_decode. At most n * 8. */
size_t tr_chunk_record_count(const void *rec, size_t n);
/* Decodes the samples of record rec with mint <= t <= maxt into dst
 * (room for tr_chunk_record_count samples), in time order. Returns how
 * many, or TR_ECORRUPT. One pass over the bytes, no per-sample calls:
 * the query path's decoder; tr_chunk_reader is the general one. */
long tr_chunk_record_decode(const void *rec,
                            size_t n,
                            int64_t mint,
                            int64_t maxt,
                            struct tr_sample *dst);

/* TR_ECORRUPT when rec is not a record. */
int tr_chunk_reader_init(struct tr_chunk_reader *r, const void *rec, size_t n);
/* 1 = a sample, 0 = end, TR_ECORRUPT. */
int tr_chunk_reader_next(struct tr_chunk_reader *r, int64_t *t, double *v);

#endif
