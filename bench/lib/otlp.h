/* otlp.h - shared by the benchmarks: a small protobuf writer and an OTLP
 * ExportTraceServiceRequest encoder on top of it, plus a span counter for
 * the trace-by-id answer (tempopb.Trace = OTLP TracesData bytes).
 *
 * Messages written (field numbers of opentelemetry-proto v1; wire types
 * V varint, L length-delimited, 8 fixed64, 4 fixed32):
 *
 *   MESSAGE                    FIELD                 NO  WT
 *   ExportTraceServiceRequest  resource_spans        1   L  ResourceSpans*
 *   ResourceSpans              resource              1   L  Resource
 *                              scope_spans           2   L  ScopeSpans*
 *   Resource                   attributes            1   L  KeyValue*
 *   ScopeSpans                 scope                 1   L  Instrumentation-
 *                                                           Scope
 *                              spans                 2   L  Span*
 *   InstrumentationScope       name, version         1,2 L  string
 *   Span                       trace_id, span_id     1,2 L  16, 8 bytes
 *                              parent_span_id        4   L  8 bytes (not for
 *                                                           a root span)
 *                              name                  5   L  string
 *                              kind                  6   V  enum 1..5
 *                              start/end_time_unix_nano 7,8 8
 *                              attributes            9   L  KeyValue*
 *                              events                11  L  Event*
 *                              status                15  L  Status (when
 *                                                           not UNSET)
 *                              flags                 16  4  W3C flags
 *   Span.Event                 time_unix_nano        1   8
 *                              name                  2   L  string
 *                              attributes            3   L  KeyValue*
 *   Status                     message, code         2,3 L,V
 *   KeyValue                   key, value            1,2 L  string, AnyValue
 *   AnyValue                   string, bool, int, double 1,2,3,4
 *
 * Nested messages are written in place: a one-byte length placeholder,
 * then the content, then the length is written and, when it needs more
 * than one byte, the content moved up (lengths stay canonical varints). */
#ifndef TR_BENCH_OTLP_H
#define TR_BENCH_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/lib/datagen.h"

#define PBW_DEPTH 8

/* A protobuf writer: bytes and the open nested messages. */
struct pbw {
    struct bytes b;         /* the message so far */
    size_t open[PBW_DEPTH]; /* offset of each open message's length */
    int depth;              /* open messages */
};

void pbw_reset(struct pbw *w);
void pbw_tag(struct pbw *w, unsigned field, unsigned wire_type);
void pbw_varint(struct pbw *w, unsigned field, uint64_t v);
void pbw_fixed64(struct pbw *w, unsigned field, uint64_t v);
void pbw_fixed32(struct pbw *w, unsigned field, uint32_t v);
void pbw_bytes(struct pbw *w, unsigned field, const void *p, size_t n);
void pbw_string(struct pbw *w, unsigned field, const char *s);
/* Opens a length-delimited nested message as field; pbw_end closes the
 * innermost one (dies beyond PBW_DEPTH or on an unmatched end). */
void pbw_begin(struct pbw *w, unsigned field);
void pbw_end(struct pbw *w);

enum otlp_vtype { OV_STR, OV_INT, OV_DOUBLE, OV_BOOL };

/* One attribute; s for OV_STR, i for OV_INT and OV_BOOL, d for OV_DOUBLE.
 * Strings are borrowed. */
struct otlp_attr {
    const char *key;
    enum otlp_vtype type;
    const char *s;
    int64_t i;
    double d;
};

struct otlp_event {
    uint64_t time_ns;
    const char *name;
    const struct otlp_attr *attrs;
    size_t n_attrs;
};

/* One span; every pointer is borrowed for the time of otlp_span(). */
struct otlp_span {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_id[8];
    bool has_parent;
    const char *name;
    int kind; /* 1 internal 2 server 3 client 4 producer 5 consumer */
    uint64_t start_ns;
    uint64_t end_ns;
    uint32_t flags; /* W3C trace flags (0: field left out) */
    const struct otlp_attr *attrs;
    size_t n_attrs;
    const struct otlp_event *events;
    size_t n_events;
    int status_code;        /* 0 unset (left out), 1 ok, 2 error */
    const char *status_msg; /* NULL: none */
};

/* Writing an ExportTraceServiceRequest into w (reset it first):
 *   otlp_rs_begin(resource) { otlp_ss_begin(scope) { otlp_span()* }
 *   otlp_ss_end() }* otlp_rs_end(), repeated per resource. */
void otlp_rs_begin(struct pbw *w, const struct otlp_attr *res, size_t n);
void otlp_rs_end(struct pbw *w);
void otlp_ss_begin(struct pbw *w, const char *scope, const char *version);
void otlp_ss_end(struct pbw *w);
void otlp_span(struct pbw *w, const struct otlp_span *sp);

/* The spans in an OTLP TracesData / tempopb.Trace message (repeated
 * ResourceSpans as field 1): -1 if it does not parse. */
long otlp_count_spans(const uint8_t *p, size_t n);
/* rejected_spans of an ExportTraceServiceResponse (partial_success = 1 {
 * rejected_spans = 1, error_message = 2 }): 0 when absent, -1 if it does
 * not parse; the error message (cut to msg_n - 1) into msg. */
long otlp_export_rejected(const uint8_t *p, size_t n, char *msg, size_t msg_n);

#endif
