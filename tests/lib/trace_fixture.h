/* trace_fixture.h - a hand-built trace with known answers for the
 * TraceQL tests (query/traceql/eval.c, metrics.c):
 *
 *   A  GET /        frontend server  100ms  http.status_code=200
 *   |- B auth       frontend internal 10ms
 *   |- C POST /pay  checkout client    50ms  status error
 *   |  |- D SELECT  db client          20ms  db.system, event "retry"
 *   |  `- E UPDATE  db client           5ms  db.system, a link
 *   `- F render     frontend internal  30ms  tags = ["a", "b"]
 * Span i starts at T0 + i ms. */
#ifndef TR_TESTS_LIB_TRACE_FIXTURE_H
#define TR_TESTS_LIB_TRACE_FIXTURE_H

#include <stdint.h>

#include "storage/trace_entry.h"

#define TR_TEST_MS 1000000ULL
#define TR_TEST_T0 1700000000000000000ULL

struct tr_test_trace_fix {
    struct tr_otlp_kv res_attrs[3][1];
    struct tr_otlp_resource res[3];
    struct tr_batch_scope scopes[3];
    struct tr_otlp_kv a_attrs[1], c_attrs[1], db_attrs[1], f_attrs[1];
    struct tr_otlp_value tags[2];
    struct tr_otlp_event ev;
    struct tr_otlp_link link;
    uint8_t tid[16], ltid[16], ids[6][8];
    struct tr_batch_span spans[6];
    struct tr_span_batch b; /* the trace */
};

extern struct tr_test_trace_fix tr_test_trace;
/* (Re)builds tr_test_trace. */
void tr_test_trace_init(void);

#endif
