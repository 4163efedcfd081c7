/* otlp_traces.h - OTLP traces: ExportTraceServiceRequest decoding
 * (protobuf and OTLP/JSON: the bodies of POST /v1/traces, /otlp/v1/traces
 * and of the gRPC TraceService/Export method, after gzip).
 *
 * Protobuf messages (wire types: V varint, L length-delimited, 8 fixed64,
 * 4 fixed32; the resource and scope levels in proto/otlp_groups.h, shared
 * messages in proto/otlp_common.h):
 *
 *   MESSAGE                    FIELD                     NO  WT  DESCRIPTION
 *   ExportTraceServiceRequest  resource_spans            1   L   ResourceSpans*
 *   ResourceSpans              resource                  1   L   Resource
 *                              scope_spans               2   L   ScopeSpans*
 *                              schema_url                3   L   string
 *   ScopeSpans                 scope                     1   L   Instrumenta-
 *                                                                tionScope
 *                              spans                     2   L   Span*
 *                              schema_url                3   L   string
 *   Span                       trace_id                  1   L   16 bytes
 *                              span_id                   2   L   8 bytes
 *                              trace_state               3   L   string
 *                              parent_span_id            4   L   0 or 8 bytes
 *                              flags                     16  4   W3C flags
 *                              name                      5   L   string
 *                              kind                      6   V   enum 0..5
 *                              start_time_unix_nano      7   8   ns
 *                              end_time_unix_nano        8   8   ns
 *                              attributes                9   L   KeyValue*
 *                              dropped_attributes_count  10  V   uint32
 *                              events                    11  L   Event*
 *                              dropped_events_count      12  V   uint32
 *                              links                     13  L   Link*
 *                              dropped_links_count       14  V   uint32
 *                              status                    15  L   Status
 *   Span.Event                 time_unix_nano            1   8   ns
 *                              name                      2   L   string
 *                              attributes                3   L   KeyValue*
 *                              dropped_attributes_count  4   V   uint32
 *   Span.Link                  trace_id                  1   L   16 bytes
 *                              span_id                   2   L   8 bytes
 *                              trace_state               3   L   string
 *                              attributes                4   L   KeyValue*
 *                              dropped_attributes_count  5   V   uint32
 *                              flags                     6   4   W3C flags
 *   Status                     message                   2   L   string
 *                              code                      3   V   enum 0..2
 *
 * Ids are checked for their length only (an id of another length is an
 * error; an absent one is empty): whether a span without a trace or span
 * id is accepted is the ingest's decision, as the OTLP spec leaves it to
 * the receiver. Enums keep the value sent (an unknown kind or code is not
 * an error here).
 *
 * JSON names: resourceSpans, scopeSpans, spans, traceId, spanId,
 * traceState, parentSpanId, flags, name, kind (an integer or a SPAN_KIND_*
 * name), startTimeUnixNano, endTimeUnixNano, attributes,
 * droppedAttributesCount, events, droppedEventsCount, links,
 * droppedLinksCount, status {message, code (an integer or a STATUS_CODE_*
 * name)}, and in events timeUnixNano and name; the snake_case forms too;
 * ids in hex. Protobuf errors are TR_EPROTO with the message, the
 * resource_spans index and the byte offset; JSON errors TR_EINVAL with the
 * JSON path. */
#ifndef TR_PROTO_OTLP_TRACES_H
#define TR_PROTO_OTLP_TRACES_H

#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "proto/otlp_common.h"
#include "proto/otlp_groups.h"

enum tr_otlp_span_kind {
    TR_OTLP_KIND_UNSPECIFIED = 0,
    TR_OTLP_KIND_INTERNAL = 1,
    TR_OTLP_KIND_SERVER = 2,
    TR_OTLP_KIND_CLIENT = 3,
    TR_OTLP_KIND_PRODUCER = 4,
    TR_OTLP_KIND_CONSUMER = 5,
};

enum tr_otlp_status_code {
    TR_OTLP_STATUS_UNSET = 0,
    TR_OTLP_STATUS_OK = 1,
    TR_OTLP_STATUS_ERROR = 2,
};

struct tr_otlp_event {
    uint64_t time_unix_nano;
    struct tr_slice name;
    const struct tr_otlp_kv *attrs;
    size_t n_attrs;
    uint32_t dropped_attributes_count;
};

struct tr_otlp_link {
    struct tr_slice trace_id; /* raw bytes: empty or 16 */
    struct tr_slice span_id;  /* raw bytes: empty or 8 */
    struct tr_slice trace_state;
    const struct tr_otlp_kv *attrs;
    size_t n_attrs;
    uint32_t dropped_attributes_count;
    uint32_t flags;
};

struct tr_otlp_span {
    struct tr_slice trace_id;       /* raw bytes: empty or 16 */
    struct tr_slice span_id;        /* raw bytes: empty or 8 */
    struct tr_slice trace_state;    /* W3C tracestate */
    struct tr_slice parent_span_id; /* raw bytes: empty (a root) or 8 */
    uint32_t flags;
    struct tr_slice name;
    int32_t kind; /* enum tr_otlp_span_kind values, as sent */
    uint64_t start_time_unix_nano;
    uint64_t end_time_unix_nano;
    const struct tr_otlp_kv *attrs; /* in wire order, duplicates kept */
    size_t n_attrs;
    uint32_t dropped_attributes_count;
    const struct tr_otlp_event *events;
    size_t n_events;
    uint32_t dropped_events_count;
    const struct tr_otlp_link *links;
    size_t n_links;
    uint32_t dropped_links_count;
    struct tr_slice status_message;
    int32_t status_code; /* enum tr_otlp_status_code values, as sent */
};

/* A decoded request: resources > scopes > spans (scope->spans,
 * scope->n_items). */
struct tr_otlp_traces {
    const struct tr_otlp_resource_group *resources;
    size_t n_resources;
    size_t n_spans;  /* over all resources and scopes */
    size_t body_len; /* bytes decoded */
};

/* Decodes a protobuf ExportTraceServiceRequest. Slices point into buf
 * (keep it), arrays come from the arena. 0, TR_EPROTO (what, where and the
 * byte offset in errmsg) or TR_ENOMEM; on error *out is empty. */
int tr_otlp_traces_decode(const void *buf,
                          size_t len,
                          struct tr_arena *a,
                          struct tr_otlp_traces *out,
                          char *errmsg);

/* Decodes an OTLP/JSON ExportTraceServiceRequest (an object; every member
 * optional). Strings point into buf unless they hold escapes; ids live in
 * the arena. 0, TR_EINVAL (the JSON path and what is wrong in errmsg) or
 * TR_ENOMEM; on error *out is empty. */
int tr_otlp_traces_decode_json(const void *buf,
                               size_t len,
                               struct tr_arena *a,
                               struct tr_otlp_traces *out,
                               char *errmsg);

#endif
