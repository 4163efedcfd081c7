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

/* google.rpc.Status codes */
enum {
    RPC_INVALID_ARGUMENT = 3,
    RPC_RESOURCE_EXHAUSTED = 8,
    RPC_INTERNAL = 13,
    RPC_UNAVAILABLE = 14
};

static void om__put_str_field(struct tr_buf *b,
                              unsigned field,
                              const char *s,
                              size_t n)
{
    tr_buf_put_uvarint(b, (field << 3) | 2);
    tr_buf_put_uvarint(b, n);
    tr_buf_append(b, s, n);
}

/* Status {code = 1, message = 2} (protobuf) or {"code":..,"message":..}. */
static void om__status(struct tr_http_response *resp,
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
        om__put_str_field(&resp->body, 2, msg, strlen(msg));
        resp->content_type = "application/x-protobuf";
    }
    resp->status = http;
}

/* ExportMetricsServiceResponse: partial_success = 1 {rejected_data_points
 * = 1 (int64), error_message = 2}; empty when nothing was rejected. */
static void om__success(struct tr_http_response *resp,
                        bool json,
                        uint64_t rejected,
                        const char *msg)
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
            tr_json_key(&j, "rejectedDataPoints");
            char n[24];
            snprintf(n, sizeof(n), "%" PRIu64, rejected);
            tr_json_str(&j, n);
            tr_json_key(&j, "errorMessage");
            tr_json_str(&j, msg);
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
    om__put_str_field(&ps, 2, msg, strlen(msg));
    om__put_str_field(&resp->body, 1, ps.data, ps.len);
    tr_buf_free(&ps);
}

void tr_api_otlp_metrics(const struct tr_http_request *req,
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
        om__status(resp, false, 415, RPC_INVALID_ARGUMENT,
                   "unsupported content type: use application/x-protobuf "
                   "or application/json");
        return;
    }
    char errmsg[TR_ERRMSG_SIZE];
    char tenant[TR_TENANT_MAX + 1];
    int rv = tr_app_tenant(app, req, tenant, errmsg);
    if (rv != 0) {
        om__status(resp, json, tr_status_for(rv), RPC_INVALID_ARGUMENT, errmsg);
        return;
    }
    struct tr_otlp_metrics m;
    rv = json ? tr_otlp_metrics_decode_json(req->body, req->body_len,
                                            req->arena, &m, errmsg)
              : tr_otlp_metrics_decode(req->body, req->body_len, req->arena, &m,
                                       errmsg);
    if (rv != 0) {
        om__status(resp, json, rv == TR_ENOMEM ? 500 : 400,
                   rv == TR_ENOMEM ? RPC_INTERNAL : RPC_INVALID_ARGUMENT,
                   errmsg);
        return;
    }
    struct tr_prw_request pr;
    struct tr_otlp_prom_stats st;
    rv = tr_otlp_prom_convert(&m, req->arena, &pr, &st);
    if (rv != 0) {
        om__status(resp, json, 500, RPC_INTERNAL, "out of memory");
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
        om__success(resp, json, rejected, msg);
        return;
    }
    if (r.rate_limited) {
        tr_http_resp_header(resp, "Retry-After", "1");
        om__status(resp, json, 429, RPC_RESOURCE_EXHAUSTED, r.msg);
        return;
    }
    if (r.status == 503) {
        tr_http_resp_header(resp, "Retry-After", "1");
        om__status(resp, json, 503, RPC_UNAVAILABLE, r.msg);
        return;
    }
    om__status(resp, json, 500, RPC_INTERNAL, r.msg);
}
