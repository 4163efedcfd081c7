/* trace_block.h - blocks of whole traces: compact columns (ids, times,
 * dictionary-coded names and attributes), zstd-compressed, and the
 * block's index record (time range, counts, postings of the common
 * attributes). Keys that hold them: storage/trace_keys.h.
 *
 *   block (value of a 'B' key): one zstd frame of
 *   OFFSET  SIZE     DESCRIPTION
 *   0       1        version = 1
 *   1       uvarint  traces T, spans N, strings D, resources R, scopes S
 *   .       uvarint  byte length of each of the TB_COLS columns below, in
 *                    order, then the columns back to back
 *   columns (a "ref" is a uvarint index into the strings column; "dkvs"
 *   are kvs as in storage/trace_entry.h with every key and every STRING
 *   value as a ref instead of its bytes, nested values alike):
 *     0 strings    D strings: uvarint length, bytes (in order of first use)
 *     1 resources  R resources: dkvs, uvarint dropped attributes count
 *     2 scopes     S scopes: uvarint resource, ref name, ref version, dkvs,
 *                  uvarint dropped attributes count
 *     3 traces     T traces, ascending by id: 16-byte id, uvarint spans
 *     4 span ids   N x 8 bytes
 *     5 parents    per span: uvarint 0 = no parent, i + 1 = the trace's
 *                  i-th span, 0xFFFFFFFF = a parent outside the trace
 *                  (its 8 bytes in column 6)
 *     6 parents x  8 bytes per parent outside its trace
 *     7 times      per span: start ns (the trace's first span: uvarint;
 *                  others: varint delta from the previous span's start),
 *                  varint end - start
 *     8 names      per span: ref name, uvarint scope, u8 kind, u8 status
 *                  code, ref status message, ref trace state, uvarint
 *                  flags
 *     9 attributes per span: dkvs, uvarint dropped attributes count
 *    10 events     per span: uvarint n, per event: varint time - span
 *                  start, ref name, dkvs, uvarint dropped; then uvarint
 *                  dropped events count
 *    11 links      per span: uvarint n, per link: u8 length + trace id,
 *                  u8 length + span id, ref trace state, dkvs, uvarint
 *                  dropped, uvarint flags; then uvarint dropped links
 *   Spans of a trace are in the order (start, span id); a span id appears
 *   once per trace.
 *
 *   index record (value of an 'I' key)
 *   OFFSET  SIZE     DESCRIPTION
 *   0       1        version = 1
 *   1       uvarint  traces, spans
 *   .       8        min span start ns, u64 BE
 *   .       8        max span end ns, u64 BE
 *
 *   Building a block also lists, for the shard's value and name keys
 *   (storage/trace_keys.h):
 *   values  the distinct (u8 field, str key, str value) of the block, in
 *           ascending order: fields TB_FIELD_* (resource and span
 *           attributes, span name, status and kind as INT), values in the
 *           value encoding of storage/trace_entry.h, strings of at most
 *           TB_POSTING_MAX bytes, integers and booleans; a (field, key)
 *           with more than TB_VALUES_MAX distinct values is listed once
 *           with an empty value ("any value")
 *   keys    the distinct (u8 scope TB_SCOPE_*, str attribute name) */
#ifndef TR_STORAGE_TRACE_BLOCK_H
#define TR_STORAGE_TRACE_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "storage/trace_entry.h"
#include "storage/trace_select.h"

#define TB_VERSION 1
#define TB_COLS 12
#define TB_POSTING_MAX 128
#define TB_PARENT_OUTSIDE 0xFFFFFFFFu
#define TB_VALUES_MAX 64

enum tb_scope {
    TB_SCOPE_RESOURCE = 'r',
    TB_SCOPE_SPAN = 's',
    TB_SCOPE_EVENT = 'e',
    TB_SCOPE_LINK = 'l',
    TB_SCOPE_INSTRUMENTATION = 'i',
};

/* Fields of the values: enum tr_trace_field (storage/trace_select.h). */
#define TB_FIELD_RESOURCE TR_TRACE_FIELD_RESOURCE
#define TB_FIELD_SPAN TR_TRACE_FIELD_SPAN
#define TB_FIELD_NAME TR_TRACE_FIELD_NAME
#define TB_FIELD_STATUS TR_TRACE_FIELD_STATUS
#define TB_FIELD_KIND TR_TRACE_FIELD_KIND

/* One span to put in a block: the index of its batch and the span. */
struct tr_trace_block_in {
    uint32_t batch;
    const struct tr_batch_span *span;
};

/* Builds a block from n spans sorted by (trace id, start, span id), no
 * span id twice within a trace, from batches. Appends the block to
 * block, its index record to index, per trace to recs: the 16-byte id,
 * uvarint length, its trace record (storage/trace_keys.h); and the
 * block's values and keys (above). 0 or TR_ENOMEM. */
int tr_trace_block_build(const struct tr_span_batch *batches,
                         size_t n_batches,
                         const struct tr_trace_block_in *spans,
                         size_t n,
                         struct tr_buf *block,
                         struct tr_buf *index,
                         struct tr_buf *recs,
                         struct tr_buf *values,
                         struct tr_buf *keys);

/* A decoded block: its spans as a batch, in trace order; trace t holds
 * spans [first[t], first[t + 1]). */
struct tr_trace_block {
    struct tr_span_batch batch;
    size_t n_traces;
    const uint8_t *ids;    /* 16 * n_traces bytes */
    const uint32_t *first; /* n_traces + 1 */
};

/* Decodes a block; everything in arena. 0, TR_ECORRUPT or TR_ENOMEM. */
int tr_trace_block_decode(const void *p,
                          size_t len,
                          struct tr_arena *a,
                          struct tr_trace_block *out);

/* An index record. */
struct tr_trace_block_index {
    uint64_t traces, spans;
    uint64_t start, end;
};
int tr_trace_block_index_decode(struct tr_slice rec,
                                struct tr_trace_block_index *out);

#endif
