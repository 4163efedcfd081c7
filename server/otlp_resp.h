/* otlp_resp.h - OTLP/HTTP answers every signal's export endpoint shares
 * (server/api_otlp_logs.c, api_otlp_traces.c): the content type of a
 * request, google.rpc.Status error bodies and Export*ServiceResponse
 * bodies with their partial_success, each in the request's content type
 * (protobuf or OTLP/JSON), as the OTLP specification says. */
#ifndef TR_SERVER_OTLP_RESP_H
#define TR_SERVER_OTLP_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/http.h"

/* google.rpc.Status codes */
enum {
    TR_RPC_INVALID_ARGUMENT = 3,
    TR_RPC_RESOURCE_EXHAUSTED = 8,
    TR_RPC_INTERNAL = 13,
    TR_RPC_UNAVAILABLE = 14
};

/* The request's body kind: 0 protobuf (application/x-protobuf,
 * application/protobuf or none), 1 JSON (application/json), -1 another
 * content type (answer 415 with tr_otlp_resp_status). */
int tr_otlp_req_kind(const struct tr_http_request *req);

/* An error: HTTP status http with a google.rpc.Status {code, message}. */
void tr_otlp_resp_status(struct tr_http_response *resp,
                         bool json,
                         int http,
                         int code,
                         const char *msg);

/* 200 with the signal's Export*ServiceResponse: empty when nothing was
 * rejected, else partial_success = 1 {rejected count = 1 (int64), message
 * = 2}; json_field names the count in JSON ("rejectedSpans",
 * "rejectedLogRecords", "rejectedDataPoints"). */
void tr_otlp_resp_success(struct tr_http_response *resp,
                          bool json,
                          const char *json_field,
                          uint64_t rejected,
                          const char *msg,
                          size_t msg_len);

#endif
