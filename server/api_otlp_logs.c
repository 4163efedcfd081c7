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
#include "server/otlp_resp.h"

void tr_api_otlp_logs(const struct tr_http_request *req,
                      struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    int kind = tr_otlp_req_kind(req);
    bool json = kind == 1;
    if (kind < 0) {
        tr_otlp_resp_status(
            resp, false, 415, TR_RPC_INVALID_ARGUMENT,
            "unsupported content type: use application/x-protobuf "
            "or application/json");
        return;
    }
    char errmsg[TR_ERRMSG_SIZE];
    char tenant[TR_TENANT_MAX + 1];
    int rv = tr_app_tenant(app, req, tenant, errmsg);
    if (rv != 0) {
        tr_otlp_resp_status(resp, json, tr_status_for(rv),
                            TR_RPC_INVALID_ARGUMENT, errmsg);
        return;
    }
    struct tr_otlp_logs logs;
    rv = json ? tr_otlp_logs_decode_json(req->body, req->body_len, req->arena,
                                         &logs, errmsg)
              : tr_otlp_logs_decode(req->body, req->body_len, req->arena, &logs,
                                    errmsg);
    if (rv != 0) {
        tr_otlp_resp_status(
            resp, json, rv == TR_ENOMEM ? 500 : 400,
            rv == TR_ENOMEM ? TR_RPC_INTERNAL : TR_RPC_INVALID_ARGUMENT,
            errmsg);
        return;
    }
    struct tr_loki_push p;
    size_t dropped = 0;
    rv = tr_otlp_logs_to_loki(&logs, tr_now_ns(), req->arena, &p, &dropped,
                              errmsg);
    if (rv != 0) {
        tr_otlp_resp_status(
            resp, json,
            rv == TR_ENOMEM      ? 500
            : rv == TR_ETOOLARGE ? 413
                                 : 400,
            rv == TR_ENOMEM ? TR_RPC_INTERNAL : TR_RPC_INVALID_ARGUMENT,
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
        tr_otlp_resp_success(resp, json, "rejectedLogRecords", rejected, msg,
                             msg_len);
    } else {
        char m[1024];
        snprintf(m, sizeof(m), "%.*s", (int)(msg_len < 1000 ? msg_len : 1000),
                 msg);
        tr_otlp_resp_status(resp, json, r.status,
                            r.status == 429   ? TR_RPC_RESOURCE_EXHAUSTED
                            : r.status == 503 ? TR_RPC_UNAVAILABLE
                                              : TR_RPC_INTERNAL,
                            m);
    }
    tr_buf_free(&r.body);
}
