/* chunk.h - Gorilla/XOR chunks of (timestamp ms, float64) samples.
 *
 * Layout (bit stream after a 2-byte header; same scheme as Prometheus' XOR
 * chunk, so sizes are directly comparable):
 *
 *   OFFSET  SIZE      DESCRIPTION
 *   0       2         number of samples, big-endian uint16
 *   2       varint    t0 (zig-zag varint, ms)
 *   .       8         v0 as raw IEEE-754 bits, big-endian
 *   .       uvarint   t1 - t0                      (sample 2)
 *   .       bits      XOR(v1, v0) (see below)
 *   .       bits      per later sample: delta-of-delta of t, then XOR of v
 *
 *   delta-of-delta dod = (t_n - t_{n-1}) - (t_{n-1} - t_{n-2}):
 *     '0'                          dod == 0
 *     '10'  + 14 bits              -8191 <= dod <= 8192
 *     '110' + 17 bits              -65535 <= dod <= 65536
 *     '1110'+ 20 bits              -524287 <= dod <= 524288
 *     '1111'+ 64 bits              otherwise
 *   value xor x = bits(v_n) ^ bits(v_{n-1}):
 *     '0'                          x == 0
 *     '10' + meaningful bits       leading/trailing zeros fit the previous
 *     '11' + 5 bits leading + 6 bits length (0 = 64) + meaningful bits
 *
 * Values are stored bit-exact (NaN payloads, stale markers included).
 * Timestamps must strictly increase within a chunk. Timestamp arithmetic
 * wraps modulo 2^64 as in Prometheus (Go int64), so any int64 sequence that
 * increases round-trips, including jumps larger than INT64_MAX.
 * A never-appended chunk has length 0 (no header); a 2-byte chunk holds 0
 * samples. A chunk holds at most 65535 samples (the header's limit);
 * TR_CHUNK_MAX_SAMPLES is the cut target, not enforced here. The bit
 * stream's trailing pad bits are zero. */
#ifndef TR_STORAGE_CHUNK_H
#define TR_STORAGE_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#define TR_CHUNK_MAX_SAMPLES 120

/* An appendable chunk. Owns data (tr_malloc). */
struct tr_xor_chunk {
    uint8_t *data;    /* encoded bytes, header included */
    size_t cap;       /* allocated bytes */
    size_t bits;      /* bits written (len = (bits + 7) / 8) */
    uint16_t count;   /* samples */
    int64_t t;        /* last timestamp */
    int64_t t_delta;  /* last timestamp delta */
    uint64_t v_bits;  /* last value bits */
    uint8_t leading;  /* leading zeros of last stored xor (0xff: none) */
    uint8_t trailing; /* trailing zeros of last stored xor */
    int64_t min_t;    /* first timestamp */
};

void tr_xor_init(struct tr_xor_chunk *c);
void tr_xor_free(struct tr_xor_chunk *c);
/* Appends; t must be > c->t when count > 0 (else TR_EINVAL). TR_ENOMEM;
 * TR_ELIMIT at 65535 samples. On error the chunk is unchanged. */
int tr_xor_append(struct tr_xor_chunk *c, int64_t t, double v);
/* Encoded length in bytes. */
size_t tr_xor_len(const struct tr_xor_chunk *c);
/* Rebuilds appender state from encoded bytes so appending can resume
 * (c need not be initialized; bytes are copied). Appending to the loaded
 * chunk yields the same bytes as appending to the original. Bytes after the
 * last sample's bits are ignored. TR_ECORRUPT on bad bytes, TR_ENOMEM. */
int tr_xor_load(struct tr_xor_chunk *c, const void *bytes, size_t n);

/* Read iterator over encoded bytes (not copied; must outlive it). */
struct tr_xor_iter {
    const uint8_t *data;
    size_t nbits;   /* total bits available */
    size_t pos;     /* bit position */
    uint16_t total; /* samples in chunk */
    uint16_t read;  /* samples returned */
    int64_t t;
    int64_t t_delta;
    uint64_t v_bits;
    uint8_t leading;
    uint8_t trailing;
};

void tr_xor_iter_init(struct tr_xor_iter *it, const void *bytes, size_t n);
/* 1 = a sample in *t,*v; 0 = end; TR_ECORRUPT on malformed bytes (data
 * ending before the header's count, an impossible bit pattern, timestamps
 * not strictly increasing). Never reads outside [bytes, bytes + n). */
int tr_xor_iter_next(struct tr_xor_iter *it, int64_t *t, double *v);
/* Number of samples encoded in the chunk header (0 if too short). */
uint16_t tr_xor_count(const void *bytes, size_t n);

#endif
