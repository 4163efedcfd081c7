/* prw.h - Prometheus remote-write 1.0 and 2.0 request codecs.
 *
 * Hand-written, zero-copy protobuf decoders for the hot ingest path: strings
 * are slices into the caller's (decompressed) buffer, arrays live in the
 * caller's arena. Unknown fields are skipped; every length is bounds-checked.
 * The generated protobuf-c code (build/gen/proto/) is used by tests as a
 * cross-check and by the encoder-free paths.
 *
 * 1.0 (prometheus.WriteRequest): timeseries=1 {labels=1 {name=1,value=2},
 *   samples=2 {value=1 double, timestamp=2 int64}, exemplars=3 {labels=1,
 *   value=2, timestamp=3}, histograms=4}, metadata=3 {type=1 enum,
 *   metric_family_name=2, help=4, unit=5}.
 * 2.0 (io.prometheus.write.v2.Request): symbols=4 (string table, symbols[0]
 *   must be ""), timeseries=5 {labels_refs=1 packed uint32 pairs, samples=2,
 *   histograms=3, exemplars=4 {labels_refs=1, value=2, timestamp=3},
 *   metadata=5 {type=1, help_ref=3, unit_ref=4}, created_timestamp=6}.
 *   Decoded into the same structures as 1.0 (refs resolved to slices). */
#ifndef TR_PROTO_PRW_H
#define TR_PROTO_PRW_H

#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"

struct tr_prw_label {
    struct tr_slice name;
    struct tr_slice value;
};

struct tr_prw_sample {
    double value; /* bit-exact (stale markers are NaN 0x7ff0000000000002) */
    int64_t ts_ms;
};

struct tr_prw_exemplar {
    struct tr_prw_label *labels;
    size_t n_labels;
    double value;
    int64_t ts_ms;
};

enum tr_prw_metric_type {
    TR_PRW_UNKNOWN = 0,
    TR_PRW_COUNTER = 1,
    TR_PRW_GAUGE = 2,
    TR_PRW_HISTOGRAM = 3,
    TR_PRW_GAUGEHISTOGRAM = 4,
    TR_PRW_SUMMARY = 5,
    TR_PRW_INFO = 6,
    TR_PRW_STATESET = 7,
};

struct tr_prw_metadata {
    int type;               /* enum tr_prw_metric_type */
    struct tr_slice family; /* metric family name (1.0); for 2.0 the
                               series' __name__ */
    struct tr_slice help;
    struct tr_slice unit;
};

struct tr_prw_series {
    struct tr_prw_label *labels; /* as sent: unsorted, maybe invalid */
    size_t n_labels;
    struct tr_prw_sample *samples;
    size_t n_samples;
    struct tr_prw_exemplar *exemplars;
    size_t n_exemplars;
    size_t n_histograms;             /* native histograms: counted, skipped */
    int has_metadata;                /* 2.0 per-series metadata present */
    struct tr_prw_metadata metadata; /* 2.0 only */
    int64_t created_ts_ms;           /* 2.0 created_timestamp=6; 0 = unset */
};

struct tr_prw_request {
    int version; /* 1 or 2 */
    struct tr_prw_series *series;
    size_t n_series;
    struct tr_prw_metadata *metadata; /* 1.0 request-level metadata */
    size_t n_metadata;
};

/* Bit pattern of Prometheus' stale marker (value.StaleNaN). */
#define TR_PRW_STALE_NAN_BITS UINT64_C(0x7ff0000000000002)

/* Decode a 1.0 WriteRequest (already snappy-decoded). Returns 0 or TR_EPROTO
 * (errmsg says what and at which byte offset) or TR_ENOMEM. out's arrays are
 * allocated in arena; slices point into buf, which must outlive out.
 * TR_EINVAL if buf is NULL with len > 0. Two passes (count, then fill),
 * no recursion; on error out is left empty (arena memory may be used). */
int tr_prw_decode_v1(const void *buf,
                     size_t len,
                     struct tr_arena *arena,
                     struct tr_prw_request *out,
                     char *errmsg);
/* Decode a 2.0 Request. Also TR_EPROTO for a symbol reference out of range
 * or an odd labels_refs count. */
int tr_prw_decode_v2(const void *buf,
                     size_t len,
                     struct tr_arena *arena,
                     struct tr_prw_request *out,
                     char *errmsg);

/* Encoders (tests, benchmarks, load generators): protobuf bytes appended to
 * out (not snappy-compressed). Returns 0, TR_ENOMEM or TR_EINVAL (a count
 * without its array). Fields equal to their proto3 default are omitted, as
 * Go's encoder does (a double is omitted only if its bits are all zero).
 * Histograms cannot be encoded (n_histograms is ignored). 1.0 ignores the
 * 2.0-only fields; 2.0 ignores req->metadata and metadata.family (a 2.0
 * receiver derives it from __name__) and builds a de-duplicated symbol table
 * with symbols[0] = "". */
int tr_prw_encode_v1(const struct tr_prw_request *req, struct tr_buf *out);
int tr_prw_encode_v2(const struct tr_prw_request *req, struct tr_buf *out);

#endif
