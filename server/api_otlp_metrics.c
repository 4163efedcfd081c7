/* api_otlp_metrics.c - OTLP metrics over HTTP: POST /otlp/v1/metrics and
 * /api/v1/otlp/v1/metrics (the API port: Mimir's and Prometheus' paths)
 * and POST /v1/metrics (the --otlp-http-addr port); gRPC
 * MetricsService/Export runs the same route (server/http_h2.c).
 *
 * The body is protobuf (application/x-protobuf, the default) or OTLP/JSON
 * (application/json), after any Content-Encoding (gzip) the HTTP layer
 * removed. Metrics are mapped to Prometheus series as Prometheus 3's OTLP
 * receiver does (proto/otlp_prom.h) and go through the remote-write path
 * (server/api_write.h: the same validation, limits and cluster write).
 *
 * Responses as the OTLP/HTTP specification says, in the request's content
 * type: 200 with an ExportMetricsServiceResponse, empty, or with
 * partial_success {rejected_data_points, error_message} when points were
 * not converted (delta temporality, exponential histograms, names that
 * cannot be made valid) or samples were refused by validation or the
 * shards (each refused sample counts as one point); 400 with a
 * google.rpc.Status for a body that does not decode; 415 for another
 * content type; 429 (the tenant's ingestion rate) and 503 (not committed:
 * no leader, overloaded), both with Retry-After. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/err.h"
#include "lib/json.h"
#include "proto/otlp_metrics.h"
#include "proto/otlp_prom.h"
#include "server/api_write.h"
#include "server/app.h"
#include "server/otlp_resp.h"

void tr_api_otlp_metrics(const struct tr_http_request *req,
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
    struct tr_otlp_metrics m;
    rv = json ? tr_otlp_metrics_decode_json(req->body, req->body_len,
                                            req->arena, &m, errmsg)
              : tr_otlp_metrics_decode(req->body, req->body_len, req->arena, &m,
                                       errmsg);
    if (rv != 0) {
        tr_otlp_resp_status(
            resp, json, rv == TR_ENOMEM ? 500 : 400,
            rv == TR_ENOMEM ? TR_RPC_INTERNAL : TR_RPC_INVALID_ARGUMENT,
            errmsg);
        return;
    }
    struct tr_prw_request pr;
    struct tr_otlp_prom_stats st;
    rv = tr_otlp_prom_convert(&m, req->arena, &pr, &st);
    if (rv != 0) {
        tr_otlp_resp_status(resp, json, 500, TR_RPC_INTERNAL, "out of memory");
        return;
    }
    struct tr_metrics_write_result r;
    tr_metrics_write(app, tenant, req->arena, &pr, &r);
    if (r.status == 204 || r.status == 400) {
        uint64_t rejected = st.rejected_points;
        char msg[TR_ERRMSG_SIZE * 3 + 8];
        snprintf(msg, sizeof(msg), "%s", st.errmsg);
        if (r.status == 400) {
            rejected += r.rejected;
            size_t len = strlen(msg);
            snprintf(msg + len, sizeof(msg) - len, "%s%s", len > 0 ? "; " : "",
                     r.msg);
        }
        tr_otlp_resp_success(resp, json, "rejectedDataPoints", rejected, msg,
                             strlen(msg));
        return;
    }
    if (r.rate_limited) {
        tr_http_resp_header(resp, "Retry-After", "1");
        tr_otlp_resp_status(resp, json, 429, TR_RPC_RESOURCE_EXHAUSTED, r.msg);
        return;
    }
    if (r.status == 503) {
        tr_http_resp_header(resp, "Retry-After", "1");
        tr_otlp_resp_status(resp, json, 503, TR_RPC_UNAVAILABLE, r.msg);
        return;
    }
    tr_otlp_resp_status(resp, json, 500, TR_RPC_INTERNAL, r.msg);
}
