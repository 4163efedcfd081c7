/* trace_select.h - the traces read interface: how the TraceQL engine and
 * Tempo's API handlers read spans. Local storage implements it
 * (tr_storage_trace_source); the cluster runs a search on every node that
 * holds a shard of the range over the node's local source and merges the
 * answers (cluster/signal_traces.c), so the engine never knows where data
 * lives.
 *
 * A scan visits the traces of one tenant with a span starting in
 * [start, end] (ns), each as a span batch holding only that trace's spans
 * (resources and scopes may be shared with other traces). Equalities in
 * the hints are a pushed-down pruning: only blocks whose value keys hold
 * every one of them are read (storage/trace_keys.h), so a trace without
 * them may or may not be visited; the engine still evaluates its query.
 * With whole = false a trace whose spans lie in several blocks or open
 * fragments of a shard may be visited once per part (the engine merges
 * by trace id); with whole = true each trace is visited once per shard
 * with all its spans in that shard. */
#ifndef TR_STORAGE_TRACE_SELECT_H
#define TR_STORAGE_TRACE_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "proto/otlp_common.h"
#include "storage/shard.h"
#include "storage/trace_entry.h"

/* Fields of a pruning equality and of the value keys. */
enum tr_trace_field {
    TR_TRACE_FIELD_RESOURCE = 'r', /* resource attribute key */
    TR_TRACE_FIELD_SPAN = 's',     /* span attribute key */
    TR_TRACE_FIELD_NAME = 'n',     /* span name */
    TR_TRACE_FIELD_STATUS = 'S',   /* status code (INT) */
    TR_TRACE_FIELD_KIND = 'k',     /* span kind (INT) */
};

/* A value every wanted trace has: field (key for attributes) = value, or
 * with two fields, either of them (".x" is a span or resource
 * attribute). */
struct tr_trace_eq {
    uint8_t fields[2]; /* enum tr_trace_field; fields[1] 0 when one */
    struct tr_slice key;
    struct tr_otlp_value value; /* STRING, INT or BOOL */
};

#define TR_TRACE_MAX_EQ 16

struct tr_trace_hints {
    uint64_t start; /* ns, inclusive */
    uint64_t end;   /* ns, inclusive */
    const struct tr_trace_eq *eq;
    size_t n_eq;
    bool whole; /* visit each trace once per shard, whole */
    const struct tr_shard_id *shards; /* only these (n_shards > 0) */
    size_t n_shards;
};

/* The visitor: 0 to go on, 1 to stop the scan (enough), an error code
 * (with errmsg) to fail it. */
typedef int (*tr_trace_visit_fn)(void *arg,
                                 const struct tr_span_batch *trace,
                                 char *errmsg);

/* Attribute names and values for tag autocomplete. */
enum tr_trace_tag_scope {
    TR_TRACE_TAGS_RESOURCE = 1,
    TR_TRACE_TAGS_SPAN = 2,
    TR_TRACE_TAGS_EVENT = 4,
    TR_TRACE_TAGS_LINK = 8,
    TR_TRACE_TAGS_SCOPE = 16, /* instrumentation */
};

struct tr_trace_source {
    void *impl;
    int (*scan)(void *impl,
                struct tr_slice tenant,
                const struct tr_trace_hints *h,
                tr_trace_visit_fn fn,
                void *arg,
                char *errmsg);
    /* Every span of trace id in the shards ids[0..n) (all local traces
     * shards when n is 0), added to bb (memory from a); a span stored
     * twice comes twice (tr_span_batch_dedup). */
    int (*get)(void *impl,
               struct tr_slice tenant,
               const struct tr_shard_id *ids,
               size_t n,
               const uint8_t id[TR_TRACE_ID_SIZE],
               struct tr_arena *a,
               struct tr_span_batch_builder *bb,
               char *errmsg);
    /* Calls fn(arg, scope, name) for every attribute name of the scopes
     * in mask seen in blocks and fragments overlapping h's range (a name
     * may come more than once). */
    int (*tag_names)(void *impl,
                     struct tr_slice tenant,
                     const struct tr_trace_hints *h,
                     unsigned mask,
                     void (*fn)(void *arg, unsigned scope, struct tr_slice n),
                     void *arg,
                     char *errmsg);
    /* Calls fn for every value of attribute key (field r or s; both when
     * fields[1] is set) or intrinsic field (n, S, k) kept in value keys
     * of blocks overlapping h's range, and in open fragments. */
    int (*tag_values)(void *impl,
                      struct tr_slice tenant,
                      const struct tr_trace_hints *h,
                      const struct tr_trace_eq *which,
                      void (*fn)(void *arg, const struct tr_otlp_value *v),
                      void *arg,
                      char *errmsg);
};

#endif
