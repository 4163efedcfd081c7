/* trace_entry.h - span batches and traces write entries: the compact,
 * versioned internal encoding of validated OTLP spans. A span batch is
 * what a traces write entry carries for one shard, what apply keeps as an
 * open fragment until the shard's spans are cut into a block
 * (storage/trace_keys.h), and what a trace-by-id read answers with
 * (cluster/signal_traces.c): one encoding serves all three. Raft entries
 * never carry the client's bytes.
 *
 *   span batch
 *   OFFSET  SIZE     DESCRIPTION
 *   0       uvarint  number of resources R, then R resources:
 *                      kvs (below), uvarint dropped attributes count
 *   .       uvarint  number of scopes S, then S scopes:
 *                      uvarint resource index (< R), str name,
 *                      str version, kvs, uvarint dropped attributes count
 *   .       uvarint  number of spans N, then N spans:
 *                      uvarint scope index (< S)
 *                      16       trace id
 *                      8        span id
 *                      u8       parent span id length (0 or 8), its bytes
 *                      str      trace state
 *                      uvarint  flags
 *                      str      name
 *                      uvarint  kind (0..5)
 *                      8        start, ns, u64 BE
 *                      8        end, ns, u64 BE
 *                      kvs      attributes, uvarint dropped count
 *                      uvarint  number of events, per event: 8 time ns
 *                               (u64 BE), str name, kvs, uvarint dropped;
 *                               then uvarint dropped events count
 *                      uvarint  number of links, per link: u8 trace id
 *                               length (0 or 16) and bytes, u8 span id
 *                               length (0 or 8) and bytes, str trace
 *                               state, kvs, uvarint dropped, uvarint
 *                               flags; then uvarint dropped links count
 *                      str      status message, uvarint status code (0..2)
 *   str  = uvarint length, bytes
 *   kvs  = uvarint count, per pair: str key, value
 *   value = u8 type (enum tr_otlp_type), then: STRING, BYTES: str; BOOL:
 *           u8 0/1; INT: varint (zig-zag); DOUBLE: 8 bytes (IEEE 754 bits,
 *           u64 BE); ARRAY: uvarint n, n values; KVLIST: kvs; EMPTY:
 *           nothing. Values nest at most TR_OTLP_MAX_DEPTH deep.
 *
 *   traces write entry (type 3, version 1)
 *   OFFSET  SIZE     DESCRIPTION
 *   0       1        type = 3
 *   1       1        version = 1
 *   2       uvarint  tenant length, then the tenant bytes
 *   .       ...      span batch (above; N >= 1)
 *
 *   compressed traces write entry (type 3, version 2): a version 1 entry
 *   of TR_ENTRY_COMPRESS_MIN bytes or more, as storage/entry.h packs it
 *   (type, 2, uvarint plain length, zstd frame of the version 1 entry)
 *
 *   traces cut entry (type 3, version 3): every tenant of the shard with
 *   open fragments gets them cut into a block (storage/trace_keys.h);
 *   proposed by a leader before its last snapshot at a graceful stop
 *   OFFSET  SIZE     DESCRIPTION
 *   0       1        type = 3
 *   1       1        version = 3
 *
 * Decoding checks every length against the bytes left, every index
 * against its table and the ids' sizes; anything else is TR_ECORRUPT. */
#ifndef TR_STORAGE_TRACE_ENTRY_H
#define TR_STORAGE_TRACE_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "proto/otlp_common.h"
#include "proto/otlp_traces.h"

#define TR_ENTRY_TRACES 3
#define TR_ENTRY_TRACES_VERSION 1
#define TR_ENTRY_TRACES_ZSTD 2
#define TR_ENTRY_TRACES_CUT 3
#define TR_ENTRY_TRACES_CUT_SIZE 2
#define TR_TRACE_ID_SIZE 16
#define TR_SPAN_ID_SIZE 8

/* A scope with the index of its resource in the batch. */
struct tr_batch_scope {
    uint32_t resource;
    struct tr_otlp_scope scope;
};

/* A span with the index of its scope in the batch. Ids are raw bytes:
 * trace_id 16, span_id 8, parent_span_id 0 or 8. */
struct tr_batch_span {
    uint32_t scope;
    struct tr_otlp_span span;
};

struct tr_span_batch {
    const struct tr_otlp_resource *resources;
    size_t n_resources;
    const struct tr_batch_scope *scopes;
    size_t n_scopes;
    const struct tr_batch_span *spans;
    size_t n_spans;
};

struct tr_entry_traces {
    struct tr_slice tenant;
    struct tr_span_batch batch;
    struct tr_slice batch_bytes; /* decode: the batch's encoded bytes */
};

/* Appends the batch. 0 or TR_ENOMEM (ids of other sizes: TR_EINVAL). */
int tr_span_batch_encode(const struct tr_span_batch *b, struct tr_buf *out);
/* Decodes a batch from c (consuming it); slices point into the cursor's
 * bytes, arrays in arena. 0, TR_ECORRUPT or TR_ENOMEM. */
int tr_span_batch_decode(struct tr_cursor *c,
                         struct tr_arena *a,
                         struct tr_span_batch *out);

/* Builds batches from decoded OTLP requests: spans added one by one with
 * their resource and scope; a resource or scope is added once per run of
 * spans that share it (the same pointer as the previous span's). Arrays
 * grow in the arena. */
struct tr_span_batch_builder {
    struct tr_span_batch b;
    size_t cap_res, cap_scopes, cap_spans;
    const void *last_res;   /* identity of the last resource added */
    const void *last_scope; /* identity of the last scope added */
};
void tr_span_batch_builder_init(struct tr_span_batch_builder *bb);
/* 0 or TR_ENOMEM. */
int tr_span_batch_builder_add(struct tr_span_batch_builder *bb,
                              struct tr_arena *a,
                              const struct tr_otlp_resource *res,
                              const struct tr_otlp_scope *scope,
                              const struct tr_otlp_span *span);

/* Drops every span whose (trace id, span id) an earlier span of the
 * batch has; the others keep their order. n_spans shrinks. 0 or
 * TR_ENOMEM. */
int tr_span_batch_dedup(struct tr_span_batch *b);

/* Appends the entry (compressed when large); plain_out as in
 * tr_entry_pack_move (NULL: not wanted). 0, TR_EINVAL or TR_ENOMEM. */
int tr_entry_traces_encode(const struct tr_entry_traces *e,
                           struct tr_buf *out,
                           struct tr_buf *plain_out);
/* Decodes a version 1 or 2 entry; slices point into buf (or the arena),
 * arrays in arena. TR_ECORRUPT (also for a batch without spans) or
 * TR_ENOMEM. */
int tr_entry_traces_decode(const void *buf,
                           size_t len,
                           struct tr_arena *a,
                           struct tr_entry_traces *out);
void tr_entry_traces_cut_encode(uint8_t out[TR_ENTRY_TRACES_CUT_SIZE]);
bool tr_entry_traces_is_cut(const void *buf, size_t len);

/* Encoding of one value and of a kvs list (the batch's and the blocks'
 * form, above): append / decode (depth counts nesting; start at 0). */
int tr_trace_value_put(struct tr_buf *b, const struct tr_otlp_value *v);
int tr_trace_kvs_put(struct tr_buf *b, const struct tr_otlp_kv *kvs, size_t n);
int tr_trace_value_get(struct tr_cursor *c,
                       struct tr_arena *a,
                       int depth,
                       struct tr_otlp_value *v);
int tr_trace_kvs_get(struct tr_cursor *c,
                     struct tr_arena *a,
                     int depth,
                     const struct tr_otlp_kv **kvs,
                     size_t *n);

#endif
