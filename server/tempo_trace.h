/* tempo_trace.h - a trace as Tempo's trace-by-id API answers it: the
 * spans of a span batch (storage/trace_entry.h) grouped into OTLP
 * ResourceSpans > ScopeSpans (equal resources and scopes merged), as
 * protobuf or as Tempo's JSON.
 *
 *   protobuf: tempopb.Trace = repeated ResourceSpans resource_spans = 1
 *   (the bytes of an OTLP TracesData); tempopb.TraceByIDResponse (v2) =
 *   trace = 1 (Trace), metrics = 2 (TraceByIDMetrics {inspected_bytes =
 *   1}).
 *   JSON (Go's jsonpb, as Tempo writes it): v1 {"batches":[...]}, v2
 *   {"trace":{"resourceSpans":[...]},"metrics":{"inspectedBytes":"N"}};
 *   ids in base64, 64-bit integers as strings, enums by name
 *   ("SPAN_KIND_SERVER", "STATUS_CODE_ERROR"), empty fields left out.
 *
 * Spans are written in the batch's order within their scope. */
#ifndef TR_SERVER_TEMPO_TRACE_H
#define TR_SERVER_TEMPO_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/buf.h"
#include "storage/trace_entry.h"

/* Appends the tempopb.Trace message's fields (v2: the TraceByIDResponse's,
 * with inspected bytes). 0 or TR_ENOMEM. */
int tr_tempo_trace_pb(const struct tr_span_batch *b,
                      bool v2,
                      uint64_t inspected_bytes,
                      struct tr_buf *out);
/* Appends the JSON document. 0 or TR_ENOMEM. */
int tr_tempo_trace_json(const struct tr_span_batch *b,
                        bool v2,
                        uint64_t inspected_bytes,
                        struct tr_buf *out);

/* An OTLP AnyValue in OTLP/JSON ({"stringValue": ...}; 64-bit integers
 * as strings, bytes in base64, NaN and infinities as strings). */
struct tr_json;
void tr_tempo_json_value(struct tr_json *j, const struct tr_otlp_value *v);

#endif
