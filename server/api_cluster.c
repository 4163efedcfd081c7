/* api_cluster.c - registers the cluster layer's endpoints (cluster/
 * cluster.h: /internal/v1/..., /api/v1/status/cluster, cluster
 * administration) under their paths, adapting the HTTP request and
 * response; and the administration endpoints that need the node's flags:
 * tenant limits and the fake clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/json.h"
#include "server/app.h"
#include "server/overrides.h"
#include "server/prom_json.h"

_Static_assert((int)TR_CLUSTER_GET == (int)TR_HTTP_GET &&
                   (int)TR_CLUSTER_POST == (int)TR_HTTP_POST,
               "cluster and HTTP method bits agree");

static const char *ac__header(void *ctx, const char *name)
{
    const struct tr_http_request *req = ctx;
    const struct tr_slice *h = tr_http_header_get(req, name);
    return h == NULL ? NULL : tr_arena_strndup(req->arena, h->base, h->len);
}

static const char *ac__form(void *ctx, const char *name)
{
    return tr_http_form_get(ctx, name);
}

/* Every cluster route: finds it by the matched pattern and runs it. */
static void ac__handle(const struct tr_http_request *req,
                       struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    if (app->cluster == NULL) {
        tr_http_resp_text(resp, 503, "cluster layer not running");
        return;
    }
    size_t n;
    const struct tr_cluster_route *routes = tr_cluster_routes(&n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(routes[i].path, req->route_name) != 0) {
            continue;
        }
        struct tr_cluster_request creq = {
            .body = req->body,
            .body_len = req->body_len,
            .post = req->method == TR_HTTP_POST,
            .header = ac__header,
            .form = ac__form,
            .ctx = (void *)req,
        };
        struct tr_cluster_response cresp = {200, NULL, &resp->body};
        routes[i].fn(app->cluster, &creq, &cresp);
        resp->status = cresp.status;
        resp->content_type = cresp.content_type;
        return;
    }
    tr_http_resp_text(resp, 404, "not found");
}

/* ---- tenant limits ----------------------------------------------------------
 */

/* Reads an optional numeric form value; -2 = absent, -3 = malformed. */
static void limits__dur(struct tr_json *j, const char *key, int64_t ms)
{
    char d[64];
    tr_format_duration_ms(ms, d, sizeof(d));
    tr_json_key(j, key);
    tr_json_str(j, d);
}

static void limits__json(struct tr_http_response *resp,
                         const struct tr_config *cfg,
                         const char *tenant,
                         const struct tr_catalog_tenant *t)
{
    struct tr_json j;
    tr_buf_reset(&resp->body);
    tr_json_init(&j, &resp->body);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "status");
    tr_json_str(&j, "success");
    tr_json_key(&j, "data");
    tr_json_obj_begin(&j);
    tr_json_key(&j, "tenant");
    tr_json_str(&j, tenant);
    tr_json_key(&j, "overridden");
    tr_json_bool(&j, t != NULL);
    tr_json_key(&j, "max_series");
    tr_json_uint(&j,
                 t && t->max_series ? t->max_series : cfg->limits.max_series);
    tr_json_key(&j, "ingestion_rate");
    tr_json_double(&j, t && t->ingestion_rate >= 0
                           ? t->ingestion_rate
                           : cfg->limits.ingestion_rate);
    tr_json_key(&j, "ingestion_burst");
    tr_json_uint(&j, t && t->ingestion_burst ? t->ingestion_burst
                                             : cfg->limits.ingestion_burst);
    limits__dur(&j, "retention_metrics",
                t && t->retention_metrics_ms >= 0 ? t->retention_metrics_ms
                                                  : cfg->retention_metrics_ms);
    limits__dur(&j, "retention_logs",
                t && t->retention_logs_ms >= 0 ? t->retention_logs_ms
                                               : cfg->retention_logs_ms);
    limits__dur(&j, "retention_traces",
                t && t->retention_traces_ms >= 0 ? t->retention_traces_ms
                                                 : cfg->retention_traces_ms);
    tr_json_key(&j, "traces_max_bytes_per_trace");
    tr_json_uint(&j, t && t->traces_max_bytes_per_trace
                         ? t->traces_max_bytes_per_trace
                         : cfg->limits.traces_max_bytes_per_trace);
    tr_json_key(&j, "traces_max_attribute_bytes");
    tr_json_uint(&j, t && t->traces_max_attr_bytes
                         ? t->traces_max_attr_bytes
                         : cfg->limits.traces_max_attr_bytes);
    tr_json_key(&j, "traces_ingestion_rate_bytes");
    tr_json_uint(&j, t && t->traces_rate_bytes ? t->traces_rate_bytes
                                               : cfg->limits.traces_rate_bytes);
    tr_json_key(&j, "traces_ingestion_burst_bytes");
    tr_json_uint(&j, t && t->traces_burst_bytes
                         ? t->traces_burst_bytes
                         : cfg->limits.traces_burst_bytes);
    tr_json_key(&j, "traces_span_metrics");
    tr_json_bool(&j, t && t->traces_span_metrics ? t->traces_span_metrics == 1
                                                 : cfg->traces_span_metrics);
    tr_json_key(&j, "traces_service_graph");
    tr_json_bool(&j, t && t->traces_service_graph ? t->traces_service_graph == 1
                                                  : cfg->traces_service_graph);
    tr_json_obj_end(&j);
    tr_json_obj_end(&j);
    resp->status = 200;
    resp->content_type = "application/json";
}

/* Changing state through the admin API needs the cluster secret when one
 * is set (the same header as node-to-node requests). */
static bool admin__authorized(const struct tr_http_request *req,
                              struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    const char *secret = app->cfg->cluster_secret;
    if (secret[0] == '\0') {
        return true;
    }
    const struct tr_slice *h =
        tr_http_header_get(req, "X-Triad-Cluster-Secret");
    if (h == NULL || !tr_slice_eq_cstr(*h, secret)) {
        tr_http_resp_text(resp, 401, "bad or missing cluster secret");
        return false;
    }
    return true;
}

/* GET shows a tenant's effective limits; POST sets its overrides:
 * /api/v1/admin/tenants/limits?tenant=T&max_series=N&ingestion_rate=R&
 * ingestion_burst=B&retention_metrics=D&retention_logs=D&retention_traces=D
 * &traces_max_bytes_per_trace=N&traces_max_attribute_bytes=N&
 * traces_ingestion_rate_bytes=N&traces_ingestion_burst_bytes=N&
 * traces_span_metrics=on|off&traces_service_graph=on|off
 * (absent or 0 for the traces limits = default; a POST with none of them
 * removes the overrides). */
static void admin__tenant_limits(const struct tr_http_request *req,
                                 struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    if (app->cluster == NULL) {
        tr_http_resp_text(resp, 503, "cluster layer not running");
        return;
    }
    if (req->method == TR_HTTP_POST && !admin__authorized(req, resp)) {
        return;
    }
    const char *tenant = tr_http_form_get(req, "tenant");
    if (tenant == NULL || tenant[0] == '\0' ||
        strlen(tenant) >= TR_CATALOG_TENANT_MAX) {
        tr_http_resp_text(resp, 400,
                          "missing or too long parameter \"tenant\"");
        return;
    }
    struct tr_catalog_tenant cur;
    if (req->method != TR_HTTP_POST) {
        bool have = tr_cluster_tenant(app->cluster, tenant, &cur);
        limits__json(resp, app->cfg, tenant, have ? &cur : NULL);
        return;
    }
    struct tr_catalog_tenant t;
    tr_overrides_init(&t, tenant);
    int bad = 0;
    for (size_t i = 0; tr_overrides_keys[i] != NULL; i++) {
        const char *v = tr_http_form_get(req, tr_overrides_keys[i]);
        if (v == NULL || v[0] == '\0') {
            continue; /* absent: the default */
        }
        bad |= tr_overrides_set(&t, tr_overrides_keys[i], v) != 0;
    }
    if (bad) {
        tr_http_resp_text(resp, 400,
                          "bad value: numbers must be >= 0, retentions "
                          "durations like 30d, switches on or off");
        return;
    }
    if (tr_cluster_set_tenant(app->cluster, &t) != 0) {
        tr_http_resp_text(resp, 503, "not stored (no meta leader?); retry");
        return;
    }
    bool have = tr_cluster_tenant(app->cluster, tenant, &cur);
    limits__json(resp, app->cfg, tenant, have ? &cur : NULL);
}

/* POST /debug/clock?advance=DURATION: moves the cluster's fake clock
 * (--debug.fake-clock) on every node; 404 without the flag, 403 with
 * --auth.enabled (never on a production cluster). */
static void admin__clock(const struct tr_http_request *req,
                         struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    if (app->cfg->debug_fake_clock[0] == '\0') {
        tr_http_resp_text(resp, 404,
                          "not found (start with --debug.fake-clock)");
        return;
    }
    if (app->cfg->auth_enabled) {
        tr_http_resp_text(resp, 403,
                          "the fake clock is refused with --auth.enabled");
        return;
    }
    if (app->cluster == NULL) {
        tr_http_resp_text(resp, 503, "cluster layer not running");
        return;
    }
    const char *adv = tr_http_form_get(req, "advance");
    int64_t ms;
    if (adv == NULL || tr_parse_duration_ms(adv, &ms) != 0) {
        tr_http_resp_text(resp, 400,
                          "missing or bad parameter \"advance\" (a duration "
                          "like 90m)");
        return;
    }
    char err[TR_ERRMSG_SIZE];
    int rv = tr_cluster_clock_advance(app->cluster, ms, err);
    if (rv != 0) {
        tr_http_resp_text(resp, rv == TR_EINVAL ? 400 : 503, err);
        return;
    }
    char body[64];
    snprintf(body, sizeof(body), "%lld\n", (long long)tr_now_ms());
    tr_http_resp_text(resp, 200, body);
}

/* POST /debug/corrupt?signal=S&window=MS&slot=N: deletes one key of this
 * node's replica of the shard, as a damaged disk would (tests of the
 * replicas' comparison at sealing). Same guards as /debug/clock. */
static void admin__corrupt(const struct tr_http_request *req,
                           struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    if (app->cfg->debug_fake_clock[0] == '\0') {
        tr_http_resp_text(resp, 404,
                          "not found (start with --debug.fake-clock)");
        return;
    }
    if (app->cfg->auth_enabled) {
        tr_http_resp_text(resp, 403, "refused with --auth.enabled");
        return;
    }
    const char *sig = tr_http_form_get(req, "signal");
    const char *win = tr_http_form_get(req, "window");
    const char *slot = tr_http_form_get(req, "slot");
    struct tr_shard_id id = {0, 0, 0};
    char *end = NULL;
    int signal = sig ? tr_signal_parse(sig) : 0;
    long long w = win ? strtoll(win, &end, 10) : 0;
    unsigned long sl = slot ? strtoul(slot, NULL, 10) : 0;
    if (signal == 0 || win == NULL || end == win || *end != '\0' ||
        sl > 65535) {
        tr_http_resp_text(resp, 400,
                          "signal (metrics, logs, traces), window (ms) and "
                          "slot expected");
        return;
    }
    id.signal = (uint8_t)signal;
    id.window = w;
    id.slot = (uint16_t)sl;
    int rv = tr_storage_shard_corrupt_for_test(app->storage, &id);
    tr_http_resp_text(resp, rv == 0 ? 200 : 404,
                      rv == 0 ? "one key deleted\n" : "no data here\n");
}

int tr_api_cluster_routes(struct tr_http_server *http)
{
    size_t n;
    const struct tr_cluster_route *routes = tr_cluster_routes(&n);
    for (size_t i = 0; i < n; i++) {
        int rv = tr_http_route(http, routes[i].methods, routes[i].path, 0,
                               ac__handle);
        if (rv != 0) {
            return rv;
        }
    }
    int rv =
        tr_http_route(http, TR_HTTP_GET | TR_HTTP_POST,
                      "/api/v1/admin/tenants/limits", 0, admin__tenant_limits);
    if (rv == 0) {
        rv = tr_http_route(http, TR_HTTP_POST, "/debug/clock", 0, admin__clock);
    }
    if (rv == 0) {
        rv = tr_http_route(http, TR_HTTP_POST, "/debug/corrupt", 0,
                           admin__corrupt);
    }
    return rv;
}
