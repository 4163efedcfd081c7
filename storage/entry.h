/* entry.h - write entries: the compact, versioned internal encoding of a
 * validated write batch for one shard. Raft entries carry it; never the
 * client's raw bytes. Everything apply needs to decide is in the entry
 * (the out-of-order window comes from the catalog through the proposer),
 * so every replica applies it alike.
 *
 *   metrics write entry (type 1, version 3; what is written)
 *   OFFSET  SIZE     DESCRIPTION
 *   0       1        type = 1
 *   1       1        version = 3
 *   2       varint   out-of-order window ms (>= 0; zig-zag)
 *   .       uvarint  tenant length, then tenant bytes
 *   .       uvarint  number of series S
 *   .       per series:
 *             uvarint  length L of the canonical label set, then its bytes
 *                      (storage/labels.h; sorted, validated); L = 0: a
 *                      series that exists in the shard, by reference:
 *                      8 bytes, its series id (big-endian; storage/keys.h
 *                      'S' keys) - the leader writes references for the
 *                      series it found in the shard (series are never
 *                      removed from a shard, so the id holds when the
 *                      entry applies on every replica)
 *             uvarint  number of samples N (>= 1)
 *             varint   t0 (zig-zag, ms); if N >= 2: varint t1 - t0; then
 *                      varint delta-of-delta (t_i - t_i-1) - (t_i-1 - t_i-2)
 *                      for i = 2..N-1 (wrapping int64 arithmetic; any
 *                      order, duplicates allowed)
 *             per sample: the value bits XOR the previous sample's (the
 *                      first against 0) x, byte-aligned: one byte 0x00 when
 *                      x = 0, else a byte (tz << 4) | n with tz = trailing
 *                      zero bytes of x (0..7) and n = its significant
 *                      bytes (1..8), then those n bytes, least significant
 *                      first
 *   .       uvarint  number of metadata records M
 *   .       per record: u8 type, uvarint+bytes metric family name,
 *                      uvarint+bytes help, uvarint+bytes unit
 *
 *   metrics write entry with exemplars (type 1, version 5; written only
 *   when a series of the entry has exemplars, so that entries without
 *   them stay readable by older builds): a version 3 entry (version byte
 *   5) in which a series may have N = 0 samples when it has exemplars
 *   (remote-write senders send exemplars apart from samples), followed by
 *   OFFSET  SIZE     DESCRIPTION
 *   .       uvarint  number of records R (>= 1)
 *   .       per record (series indexes strictly increasing):
 *             uvarint  index of the series in the entry (< S)
 *             uvarint  number of exemplars E (>= 1)
 *             per exemplar:
 *               varint   timestamp (zig-zag, ms)
 *               8        value bits, little-endian
 *               uvarint  length of the exemplar's canonical label set
 *                        (storage/labels.h; 0 = no labels), then its bytes
 *
 *   compressed metrics write entry (type 1, version 4 or, for version 5,
 *   version 6): a version 3 (5) entry of 512 bytes or more, compressed
 *   with zstd
 *   OFFSET  SIZE     DESCRIPTION
 *   0       1        type = 1
 *   1       1        version = 4
 *   2       uvarint  length of the version 3 entry (at most 1 GiB)
 *   .       ...      zstd frame of the whole version 3 entry
 *
 *   still read (Raft logs written by earlier builds):
 *   version 1: as version 3 without the out-of-order window (apply uses
 *   TR_ENTRY_LEGACY_OOO_MS), with per sample a varint timestamp delta from
 *   the previous (the first absolute) and 8 value bytes little-endian, and
 *   an optional trailing uvarint series limit (ignored: limits are applied
 *   before proposing); version 2: LZ4 block of a version 1 entry, after
 *   uvarint length.
 *
 *   verify entry (type 0x56 'V', version 1; storage never sees it: the
 *   shard state machine checksums the shard when it applies one)
 *   OFFSET  SIZE     DESCRIPTION
 *   0       1        type = 0x56
 *   1       1        version = 1
 *   2       8        request id, big-endian (chosen by the proposer)
 */
#ifndef TR_STORAGE_ENTRY_H
#define TR_STORAGE_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "storage/labels.h"

#define TR_ENTRY_METRICS 1
#define TR_ENTRY_METRICS_V1 1
#define TR_ENTRY_METRICS_V1_LZ4 2
#define TR_ENTRY_METRICS_VERSION 3
#define TR_ENTRY_METRICS_ZSTD 4
#define TR_ENTRY_METRICS_EX 5      /* version 3 + exemplars */
#define TR_ENTRY_METRICS_EX_ZSTD 6 /* zstd of a version 5 entry */
#define TR_ENTRY_COMPRESS_MIN 512
#define TR_ENTRY_LEGACY_OOO_MS (3600 * 1000LL)
#define TR_ENTRY_VERIFY 0x56
#define TR_ENTRY_VERIFY_SIZE 10

/* One exemplar of a series (remote-write or OTLP): labels sorted and
 * unique (trace_id, span_id, ...). */
struct tr_entry_exemplar {
    struct tr_label *labels; /* for encoding (when enc is empty) */
    size_t n_labels;
    struct tr_slice enc; /* canonical labels: set by decode */
    int64_t ts;          /* ms */
    double v;
};

struct tr_entry_series {
    struct tr_label *labels; /* sorted by name, unique names */
    size_t n_labels;
    const int64_t *ts; /* samples (any order) */
    const double *vs;
    size_t n_samples;
    struct tr_slice enc; /* canonical labels: set by decode (empty for a
                            reference); when set, encode writes it instead
                            of encoding labels */
    bool is_ref;         /* by reference: ref is the series id in the shard
                            (labels unused when encoding; version 3 only) */
    uint64_t ref;
    const struct tr_entry_exemplar *exemplars; /* version 5 */
    size_t n_exemplars;
};

struct tr_entry_meta {
    uint8_t type; /* enum tr_prw_metric_type values */
    struct tr_slice metric;
    struct tr_slice help;
    struct tr_slice unit;
};

struct tr_entry_metrics {
    struct tr_slice tenant;
    struct tr_entry_series *series;
    size_t n_series;
    struct tr_entry_meta *meta;
    size_t n_meta;
    int64_t ooo_window_ms; /* out-of-order acceptance per series */
};

int tr_entry_metrics_encode(const struct tr_entry_metrics *m,
                            struct tr_buf *out);
/* The same, and when the entry was compressed, its plain form in
 * *plain_out (tr_entry_pack_move). */
int tr_entry_metrics_encode_both(const struct tr_entry_metrics *m,
                                 struct tr_buf *out,
                                 struct tr_buf *plain_out);
/* Decodes; slices point into buf (or into the arena for compressed
 * entries), arrays in arena. labels are not decoded (enc holds the
 * canonical bytes; n_labels = 0). TR_ECORRUPT. */
int tr_entry_metrics_decode(const void *buf,
                            size_t len,
                            struct tr_arena *a,
                            struct tr_entry_metrics *out);

/* Shared by every signal's entries: appends plain (an entry: type byte,
 * version byte, ...) to out as is when small (under TR_ENTRY_COMPRESS_MIN
 * bytes) or huge, else as the compressed form: plain's type byte, then
 * zstd_version, uvarint plain length, the zstd frame of plain. 0 or
 * TR_ENOMEM. */
int tr_entry_pack(const struct tr_buf *plain,
                  uint8_t zstd_version,
                  struct tr_buf *out);
/* tr_entry_pack, consuming plain: when it was compressed and plain_out is
 * not NULL, plain's memory moves to *plain_out (replacing it: the form a
 * leader's apply reads without decompressing, raft/shard_fsm.h), else it
 * is freed. */
int tr_entry_pack_move(struct tr_buf *plain,
                       uint8_t zstd_version,
                       struct tr_buf *out,
                       struct tr_buf *plain_out);
/* Uncompresses a compressed entry (type, compressed version, uvarint
 * length, frame: zstd, or LZ4 for metrics version 2) into the arena; the
 * result must have the same type byte and the version want_version.
 * *plain_out and *len_out get it. 0, TR_ECORRUPT or TR_ENOMEM. */
int tr_entry_unpack(const void *buf,
                    size_t len,
                    uint8_t want_version,
                    struct tr_arena *a,
                    const void **plain_out,
                    size_t *len_out);

/* Verify entry: encode / decode (TR_ECORRUPT unless exactly one). */
void tr_entry_verify_encode(uint64_t request,
                            uint8_t out[TR_ENTRY_VERIFY_SIZE]);
int tr_entry_verify_decode(const void *buf, size_t len, uint64_t *request);

#endif
