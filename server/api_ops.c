/* api_ops.c - operational endpoints: readiness, health, /metrics, flush. */
#include <inttypes.h>
#include <string.h>

#include "lib/clock.h"
#include "server/app.h"
#include "cluster/cluster.h"

void tr_api_ready(const struct tr_http_request *req,
                  struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    if (app->cluster == NULL || !tr_cluster_ready(app->cluster)) {
        tr_http_resp_text(resp, 503,
                          "not ready: waiting for the cluster (meta group "
                          "leader and this node's registration)");
        return;
    }
    tr_http_resp_text(resp, 200, "ready");
}

void tr_api_healthy(const struct tr_http_request *req,
                    struct tr_http_response *resp)
{
    (void)req;
    tr_http_resp_text(resp, 200, "triad is Healthy.");
}

void tr_api_metrics(const struct tr_http_request *req,
                    struct tr_http_response *resp)
{
    (void)req;
    tr_buf_reset(&resp->body);
    tr_selfmetrics_render(tr_selfmetrics_default(), &resp->body);
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

void tr_api_flush(const struct tr_http_request *req,
                  struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    if (tr_storage_flush(app->storage) != 0) {
        tr_http_resp_text(resp, 503, "flush failed: see the server log");
        return;
    }
    resp->status = 204;
}
