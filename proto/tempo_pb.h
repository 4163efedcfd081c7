/* tempo_pb.h - the messages of Tempo's tempopb.StreamingQuerier gRPC
 * service (grafana/tempo pkg/tempopb/tempo.proto) that triad serves:
 * decoders of the requests (bounds-checked, over proto/pbread.h;
 * zero-copy: strings point into the message) and encoders of the
 * responses.
 *
 *   SearchRequest            1 map<string,string> Tags (entries: 1 key,
 *                            2 value), 2 uint32 MinDurationMs, 3 uint32
 *                            MaxDurationMs, 4 uint32 Limit, 5 uint32 start,
 *                            6 uint32 end (Unix seconds), 8 string Query
 *                            (TraceQL), 9 uint32 SpansPerSpanSet; 10
 *                            RF1After, 11 skipASTTransformations: skipped
 *   SearchTagsRequest        1 string scope, 2 string query, 3 uint32
 *                            start, 4 uint32 end, 5 uint32 maxTagsPerScope,
 *                            6 uint32 staleValuesThreshold; 7 skipped
 *   SearchTagValuesRequest   1 string tagName, 2 string query, 4 uint32
 *                            start, 5 uint32 end, 6 uint32 maxTagValues,
 *                            7 uint32 staleValueThreshold; 8 skipped
 *   QueryRangeRequest        1 string query (TraceQL metrics), 2 uint64
 *                            start, 3 uint64 end (Unix ns), 4 uint64 step
 *                            (ns), 16 uint32 exemplars; 7 queryMode, 8-15
 *                            (RF1 block fields, dedicated columns), 17
 *                            maxSeries, 18 instant, 19: skipped
 *   QueryInstantRequest      1 string query, 2 uint64 start, 3 uint64 end
 *                            (Unix ns)
 *
 *   SearchResponse           1 repeated TraceSearchMetadata traces,
 *                            2 SearchMetrics metrics
 *   TraceSearchMetadata      1 string traceID (hex, leading zeros
 *                            trimmed), 2 rootServiceName, 3 rootTraceName,
 *                            4 uint64 startTimeUnixNano, 5 uint32
 *                            durationMs, 6 SpanSet spanSet (the first of
 *                            spanSets; deprecated upstream), 7 repeated
 *                            SpanSet spanSets
 *   SpanSet                  1 repeated Span spans, 2 uint32 matched,
 *                            3 repeated KeyValue attributes (OTLP)
 *   Span                     1 string spanID (16 hex digits), 2 name,
 *                            3 uint64 startTimeUnixNano, 4 uint64
 *                            durationNanos, 5 repeated KeyValue attributes
 *   SearchMetrics            1 uint32 inspectedTraces, 2 uint64
 *                            inspectedBytes, 3 uint32 totalBlocks, 4 uint32
 *                            completedJobs, 5 uint32 totalJobs
 *   SearchTagsResponse       1 repeated string tagNames, 2 MetadataMetrics
 *   SearchTagsV2Response     1 repeated SearchTagsV2Scope scopes (1 string
 *                            name, 2 repeated string tags), 2 metrics
 *   SearchTagValuesResponse  1 repeated string tagValues, 2 metrics
 *   SearchTagValuesV2Response 1 repeated TagValue tagValues (1 string
 *                            type, 2 string value), 2 metrics
 *   MetadataMetrics          1 uint64 inspectedBytes, 2 uint32 totalJobs,
 *                            3 uint32 completedJobs, 4 uint32 totalBlocks
 *   QueryRangeResponse       1 repeated TimeSeries series, 2 SearchMetrics
 *                            metrics (3 status, 4 message: not written,
 *                            COMPLETE)
 *   TimeSeries               1 repeated KeyValue labels (OTLP), 2 repeated
 *                            Sample samples, 3 string prom_labels (Tempo
 *                            2.7's; reserved by later versions, which skip
 *                            it), 4 repeated Exemplar exemplars (none)
 *   Sample                   1 double value (fixed64), 2 int64
 *                            timestamp_ms
 *   QueryInstantResponse     1 repeated InstantSeries series, 2
 *                            SearchMetrics metrics
 *   InstantSeries            1 repeated KeyValue labels, 2 double value,
 *                            3 string prom_labels
 *
 * As proto3 wants, singular fields equal to zero or empty are left out;
 * repeated strings are written even when empty; the metrics message is
 * always written (Tempo's JSON always has "metrics"). A uint32 field sent
 * as a larger varint keeps its low 32 bits, as Go's decoder does. */
#ifndef TR_PROTO_TEMPO_PB_H
#define TR_PROTO_TEMPO_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "proto/otlp_common.h"

/* ---- requests ------------------------------------------------------------ */

struct tr_tempo_pb_tag {
    struct tr_slice key;   /* a Tags map entry's key */
    struct tr_slice value; /* its value */
};

struct tr_tempo_search_req {
    struct tr_tempo_pb_tag *tags; /* wire order, duplicates kept (in Go's
                                     map the last one wins) */
    size_t n_tags;
    uint32_t min_duration_ms; /* 0: none */
    uint32_t max_duration_ms; /* 0: none */
    uint32_t limit;           /* 0: the default */
    uint32_t start, end;      /* Unix seconds, 0: absent */
    struct tr_slice query;    /* TraceQL, empty: none */
    uint32_t spss;            /* SpansPerSpanSet, 0: the default */
};

struct tr_tempo_tags_req {
    struct tr_slice scope; /* empty: none */
    struct tr_slice query; /* TraceQL (tag names are not filtered by it) */
    uint32_t start, end;   /* Unix seconds, 0: absent */
    uint32_t max_tags_per_scope;
    uint32_t stale_values_threshold;
};

struct tr_tempo_tag_values_req {
    struct tr_slice tag_name;
    struct tr_slice query; /* TraceQL: narrows the values by block */
    uint32_t start, end;   /* Unix seconds, 0: absent */
    uint32_t max_tag_values;
    uint32_t stale_value_threshold;
};

/* A QueryRangeRequest (instant: false) or a QueryInstantRequest (instant:
 * true; step and exemplars 0). */
struct tr_tempo_metrics_req {
    struct tr_slice query; /* TraceQL metrics, empty: none */
    uint64_t start, end;   /* Unix ns, 0: absent */
    uint64_t step;         /* ns, 0: the default */
    uint32_t exemplars;    /* read, not used (triad keeps no exemplars) */
};

/* Decode the message p[0..n) into *out (slices into p; the tags array in
 * a). 0, TR_EPROTO (a precise message in errmsg, when not NULL: the field
 * and the byte offset) or TR_ENOMEM. */
int tr_tempo_pb_search_req(const void *p,
                           size_t n,
                           struct tr_arena *a,
                           struct tr_tempo_search_req *out,
                           char *errmsg);
int tr_tempo_pb_tags_req(const void *p,
                         size_t n,
                         struct tr_tempo_tags_req *out,
                         char *errmsg);
int tr_tempo_pb_tag_values_req(const void *p,
                               size_t n,
                               struct tr_tempo_tag_values_req *out,
                               char *errmsg);
/* instant: a QueryInstantRequest, else a QueryRangeRequest. */
int tr_tempo_pb_metrics_req(const void *p,
                            size_t n,
                            bool instant,
                            struct tr_tempo_metrics_req *out,
                            char *errmsg);

/* ---- responses ----------------------------------------------------------- */

/* rootServiceName of a trace whose root span is not stored (Tempo's). */
#define TR_TEMPO_NO_ROOT "<root span not yet received>"

struct tr_tempo_span {
    struct tr_slice id; /* 8 bytes */
    uint64_t start, end;
    struct tr_slice name;
    struct tr_otlp_kv *attrs; /* the attributes the query selected */
    size_t n_attrs;
};

struct tr_tempo_spanset {
    uint64_t matched;      /* spans matched (more than spans kept) */
    struct tr_otlp_kv *by; /* by() values of the set */
    size_t n_by;
    struct tr_tempo_span *spans;
    size_t n_spans;
};

/* One trace of a search answer. */
struct tr_tempo_trace {
    uint8_t id[16];
    bool has_root; /* root_service and root_name are set */
    struct tr_slice root_service, root_name;
    uint64_t start, end; /* ns: the earliest start, the latest end */
    struct tr_tempo_spanset *sets;
    size_t n_sets;
};

struct tr_tempo_search_metrics {
    uint32_t inspected_traces;
    uint64_t inspected_bytes;
    uint32_t total_blocks;
    uint32_t completed_jobs;
    uint32_t total_jobs;
};

struct tr_tempo_meta_metrics {
    uint64_t inspected_bytes;
    uint32_t total_jobs;
    uint32_t completed_jobs;
    uint32_t total_blocks;
};

struct tr_tempo_tag_scope {
    struct tr_slice name;
    const struct tr_slice *tags;
    size_t n_tags;
};

struct tr_tempo_tag_value {
    struct tr_slice type; /* "string", "int", "float", "bool", "keyword" */
    struct tr_slice value;
};

struct tr_tempo_sample {
    int64_t ts_ms;
    double value;
};

/* A series of a TraceQL metrics answer. */
struct tr_tempo_series {
    const struct tr_otlp_kv *labels;
    size_t n_labels;
    const struct tr_tempo_sample *samples; /* oldest first */
    size_t n_samples;
    struct tr_slice prom_labels; /* {k="v", ...} as the JSON's promLabels */
};

/* Lower-case hex of id[0..n) (n <= 16) into out, NUL-terminated; with trim,
 * leading zeros dropped but the last digit (Tempo's trace ids). Returns
 * the length. */
size_t tr_tempo_hex_id(const uint8_t *id, size_t n, bool trim, char out[33]);

/* Appends each pair as an OTLP KeyValue message (1 key, left out when
 * empty; 2 AnyValue: 1 string, 2 bool, 3 int, 4 double, 5 array, 6
 * kvlist, 7 bytes, the value written even when zero) in field of b (the
 * trace-by-id encoder of server/tempo_trace.c shares it). */
void tr_tempo_pb_kvs(struct tr_buf *b,
                     unsigned field,
                     const struct tr_otlp_kv *kvs,
                     size_t n);

/* Append the response message to out. 0 or TR_ENOMEM (out->oom). */
int tr_tempo_pb_search_resp(const struct tr_tempo_trace *t,
                            size_t n,
                            const struct tr_tempo_search_metrics *m,
                            struct tr_buf *out);
int tr_tempo_pb_tags_resp(const struct tr_slice *names,
                          size_t n,
                          const struct tr_tempo_meta_metrics *m,
                          struct tr_buf *out);
int tr_tempo_pb_tags_v2_resp(const struct tr_tempo_tag_scope *scopes,
                             size_t n,
                             const struct tr_tempo_meta_metrics *m,
                             struct tr_buf *out);
/* v2: SearchTagValuesV2Response (type and value); else
 * SearchTagValuesResponse (the values only). */
int tr_tempo_pb_tag_values_resp(const struct tr_tempo_tag_value *v,
                                size_t n,
                                bool v2,
                                const struct tr_tempo_meta_metrics *m,
                                struct tr_buf *out);
/* instant: QueryInstantResponse (each series' value its first sample's,
 * 0 without samples, as the HTTP API's); else QueryRangeResponse. Values
 * of 0 are left out (proto3), NaN and infinities written. */
int tr_tempo_pb_metrics_resp(const struct tr_tempo_series *s,
                             size_t n,
                             bool instant,
                             const struct tr_tempo_search_metrics *m,
                             struct tr_buf *out);

#endif
