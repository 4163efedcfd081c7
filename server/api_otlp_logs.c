/* api_otlp_logs.c - OTLP logs over HTTP: POST /otlp/v1/logs (the API
 * port: Loki's path, what the Collector's otlphttp exporter pointed at
 * <base>/otlp sends) and POST /v1/logs (the --otlp-http-addr port).
 *
 * The body is protobuf (application/x-protobuf, the default) or OTLP/JSON
 * (application/json), after any Content-Encoding (gzip) the HTTP layer
 * removed; chunked bodies are de-chunked there too. Records are mapped to
 * Loki streams as Loki's OTLP ingestion does (proto/otlp_logs.h) and go
 * through the log write path every push shares (server/logs_ingest.h).
 *
 * Responses as the OTLP/HTTP specification says, in the request's content
 * type: 200 with an ExportLogsServiceResponse (empty, or partial_success
 * with the rejected count and the first reasons when some records were
 * refused); 400 with a google.rpc.Status for a body that does not decode;
 * 429 (rate limit, stream limit) and 503 (not committed) with Retry-After;
 * 415 for another content type. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "lib/json.h"
#include "proto/otlp_logs.h"
#include "server/app.h"
#include "server/logs_ingest.h"

/* google.rpc.Status codes */
enum {
    RPC_INVALID_ARGUMENT = 3,
    RPC_RESOURCE_EXHAUSTED = 8,
    RPC_INTERNAL = 13,
    RPC_UNAVAILABLE = 14
};

static void otlp__put_str_field(struct tr_buf *b,
                                unsigned field,
                                const char *s,
                                size_t n)
{
    tr_buf_put_uvarint(b, (field << 3) | 2);
    tr_buf_put_uvarint(b, n);
    tr_buf_append(b, s, n);
}

/* Status {code = 1, message = 2} (protobuf) or {"code":..,"message":..}. */
static void otlp__status(struct tr_http_response *resp,
                         bool json,
                         int http,
                         int code,
                         const char *msg)
{
    tr_buf_reset(&resp->body);
    if (json) {
        struct tr_json j;
        tr_json_init(&j, &resp->body);
        tr_json_obj_begin(&j);
        tr_json_key(&j, "code");
        tr_json_int(&j, code);
        tr_json_key(&j, "message");
        tr_json_str(&j, msg);
        tr_json_obj_end(&j);
        resp->content_type = "application/json";
    } else {
        tr_buf_put_uvarint(&resp->body, (1 << 3) | 0);
        tr_buf_put_uvarint(&resp->body, (uint64_t)code);
        otlp__put_str_field(&resp->body, 2, msg, strlen(msg));
        resp->content_type = "application/x-protobuf";
    }
    resp->status = http;
}

/* ExportLogsServiceResponse: partial_success = 1 {rejected_log_records =
 * 1 (int64), error_message = 2}; empty when nothing was rejected. */
static void otlp__success(struct tr_http_response *resp,
                          bool json,
                          uint64_t rejected,
                          const char *msg,
                          size_t msg_len)
{
    tr_buf_reset(&resp->body);
    resp->status = 200;
    if (json) {
        struct tr_json j;
        tr_json_init(&j, &resp->body);
        tr_json_obj_begin(&j);
        if (rejected > 0) {
            tr_json_key(&j, "partialSuccess");
            tr_json_obj_begin(&j);
            tr_json_key(&j, "rejectedLogRecords");
            char n[24];
            snprintf(n, sizeof(n), "%" PRIu64, rejected);
            tr_json_str(&j, n);
            tr_json_key(&j, "errorMessage");
            tr_json_str_n(&j, msg, msg_len);
            tr_json_obj_end(&j);
        }
        tr_json_obj_end(&j);
        resp->content_type = "application/json";
        return;
    }
    resp->content_type = "application/x-protobuf";
    if (rejected == 0) {
        return;
    }
    struct tr_buf ps;
    tr_buf_init(&ps);
    tr_buf_put_uvarint(&ps, (1 << 3) | 0);
    tr_buf_put_uvarint(&ps, rejected);
    otlp__put_str_field(&ps, 2, msg, msg_len);
    otlp__put_str_field(&resp->body, 1, ps.data, ps.len);
    tr_buf_free(&ps);
}

void tr_api_otlp_logs(const struct tr_http_request *req,
                      struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    const struct tr_slice *ct = tr_http_header_get(req, "Content-Type");
    bool json = ct != NULL && ct->len >= 16 &&
                strncasecmp(ct->base, "application/json", 16) == 0;
    bool proto = ct == NULL || ct->len == 0 ||
                 (ct->len >= 22 &&
                  strncasecmp(ct->base, "application/x-protobuf", 22) == 0) ||
                 (ct->len >= 20 &&
                  strncasecmp(ct->base, "application/protobuf", 20) == 0);
    if (!json && !proto) {
        otlp__status(resp, false, 415, RPC_INVALID_ARGUMENT,
                     "unsupported content type: use application/x-protobuf "
                     "or application/json");
        return;
    }
    char errmsg[TR_ERRMSG_SIZE];
    char tenant[TR_TENANT_MAX + 1];
    int rv = tr_app_tenant(app, req, tenant, errmsg);
    if (rv != 0) {
        otlp__status(resp, json, tr_status_for(rv), RPC_INVALID_ARGUMENT,
                     errmsg);
        return;
    }
    struct tr_otlp_logs logs;
    rv = json ? tr_otlp_logs_decode_json(req->body, req->body_len, req->arena,
                                         &logs, errmsg)
              : tr_otlp_logs_decode(req->body, req->body_len, req->arena, &logs,
                                    errmsg);
    if (rv != 0) {
        otlp__status(resp, json, rv == TR_ENOMEM ? 500 : 400,
                     rv == TR_ENOMEM ? RPC_INTERNAL : RPC_INVALID_ARGUMENT,
                     errmsg);
        return;
    }
    struct tr_loki_push p;
    size_t dropped = 0;
    rv = tr_otlp_logs_to_loki(&logs, tr_now_ns(), req->arena, &p, &dropped,
                              errmsg);
    if (rv != 0) {
        otlp__status(resp, json,
                     rv == TR_ENOMEM      ? 500
                     : rv == TR_ETOOLARGE ? 413
                                          : 400,
                     rv == TR_ENOMEM ? RPC_INTERNAL : RPC_INVALID_ARGUMENT,
                     errmsg);
        return;
    }
    struct tr_logs_push_result r;
    tr_logs_ingest(app, tenant, &p, req->arena, &r);
    const char *msg = r.body.data ? r.body.data : "";
    size_t msg_len = r.body.len;
    while (msg_len > 0 && msg[msg_len - 1] == '\n') {
        msg_len--;
    }
    if (r.retry_after || r.status == 503) {
        tr_http_resp_header(resp, "Retry-After", "1");
    }
    if (r.status == 204 || r.status == 400) {
        uint64_t rejected = r.rejected + dropped;
        if (dropped > 0 && msg_len == 0) {
            msg =
                "records of resources whose labels are not valid were "
                "dropped";
            msg_len = strlen(msg);
        }
        otlp__success(resp, json, rejected, msg, msg_len);
    } else {
        char m[1024];
        snprintf(m, sizeof(m), "%.*s", (int)(msg_len < 1000 ? msg_len : 1000),
                 msg);
        otlp__status(resp, json, r.status,
                     r.status == 429   ? RPC_RESOURCE_EXHAUSTED
                     : r.status == 503 ? RPC_UNAVAILABLE
                                       : RPC_INTERNAL,
                     m);
    }
    tr_buf_free(&r.body);
}
