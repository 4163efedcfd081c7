/* entry.h - write entries: the compact, versioned internal encoding of a
 * validated write batch. It is what the write-ahead log stores today and
 * what Raft entries carry later; never the client's raw bytes.
 *
 *   metrics write entry (type 1, version 1)
 *   OFFSET  SIZE     DESCRIPTION
 *   0       1        type = 1
 *   1       1        version = 1
 *   2       uvarint  tenant length, then tenant bytes
 *   .       uvarint  number of series S
 *   .       per series:
 *             uvarint  length of the canonical label set, then its bytes
 *                      (storage/labels.h; sorted, validated)
 *             uvarint  number of samples N
 *             per sample: varint timestamp ms (zig-zag; the first is
 *                      absolute, later ones are deltas from the previous),
 *                      8 bytes value bits, little-endian
 *   .       uvarint  number of metadata records M
 *   .       per record: u8 type, uvarint+bytes metric family name,
 *                      uvarint+bytes help, uvarint+bytes unit
 *   .       optional uvarint: the tenant's series limit when it overrides
 *           the node default (carried in the entry so that every replica
 *           enforces the same limit)
 *
 *   compressed metrics write entry (type 1, version 2): entries of 512
 *   bytes or more are LZ4-compressed (label sets repeat a lot)
 *   OFFSET  SIZE     DESCRIPTION
 *   0       1        type = 1
 *   1       1        version = 2
 *   2       uvarint  length of the version 1 entry (at most 1 GiB)
 *   .       ...      LZ4 block of the whole version 1 entry
 */
#ifndef TR_STORAGE_ENTRY_H
#define TR_STORAGE_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "storage/labels.h"

#define TR_ENTRY_METRICS 1
#define TR_ENTRY_METRICS_VERSION 1
#define TR_ENTRY_METRICS_LZ4 2
#define TR_ENTRY_COMPRESS_MIN 512

struct tr_entry_series {
    struct tr_label *labels; /* sorted by name, unique names */
    size_t n_labels;
    const int64_t *ts; /* samples (any order) */
    const double *vs;
    size_t n_samples;
    struct tr_slice enc; /* canonical labels (decode output only) */
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
    uint64_t max_series; /* 0: the storage's default */
};

int tr_entry_metrics_encode(const struct tr_entry_metrics *m,
                            struct tr_buf *out);
/* Decodes; slices point into buf, arrays in arena. labels are not decoded
 * (enc holds the canonical bytes; n_labels = 0). TR_ECORRUPT. */
int tr_entry_metrics_decode(const void *buf,
                            size_t len,
                            struct tr_arena *a,
                            struct tr_entry_metrics *out);

#endif
