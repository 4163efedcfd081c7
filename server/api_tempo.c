/* api_tempo.c - Tempo's HTTP API: trace by id (GET /api/traces/<id> and
 * /api/v2/traces/<id>), GET /api/echo and GET /api/status/buildinfo.
 *
 * Trace by id: the id in hex (up to 32 digits; shorter ids are 64-bit or
 * shorter ones, left-padded with zeros as Tempo does); optional start and
 * end (Unix seconds) narrow the windows asked, otherwise every window the
 * catalog holds is asked (each answers "not here" from its trace records
 * without reading a block: storage/trace_keys.h). The answer is OTLP
 * protobuf when the Accept header asks for application/protobuf (what
 * Grafana does), else Tempo's JSON (server/tempo_trace.h); 404 "trace not
 * found" when no span exists; 400 for a malformed id or time. With start
 * and end, the windows asked reach one window further on each side, so a
 * trace that crosses a window boundary comes back whole. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "lib/err.h"
#include "server/app.h"
#include "server/tempo_trace.h"
#include "server/version.h"

/* The Tempo version reported: Grafana enables streaming search and
 * TraceQL metrics from 2.7 on. */
#define TR_TEMPO_VERSION "2.7.2"

static void tempo__text(struct tr_http_response *resp,
                        int status,
                        const char *msg)
{
    tr_buf_reset(&resp->body);
    tr_buf_puts(&resp->body, msg);
    tr_buf_putc(&resp->body, '\n');
    resp->content_type = "text/plain; charset=utf-8";
    resp->status = status;
}

static int tempo__hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Parses a trace id in hex (1..32 digits, left-padded). 0 or TR_EINVAL. */
static int tempo__parse_id(struct tr_slice s, uint8_t out[16])
{
    if (s.len == 0 || s.len > 32) {
        return TR_EINVAL;
    }
    char digits[32];
    memset(digits, '0', sizeof(digits));
    memcpy(digits + 32 - s.len, s.base, s.len);
    for (size_t i = 0; i < 16; i++) {
        int hi = tempo__hex(digits[2 * i]), lo = tempo__hex(digits[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return TR_EINVAL;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* A Unix-seconds parameter; absent: dflt. 0 or TR_EINVAL. */
static int tempo__secs(const struct tr_http_request *req,
                       const char *name,
                       int64_t dflt,
                       int64_t *out_ms)
{
    const char *v = tr_http_form_get(req, name);
    if (v == NULL || *v == '\0') {
        *out_ms = dflt;
        return 0;
    }
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*end != '\0' || x < 0 || x > INT64_MAX / 1000 / 4) {
        return TR_EINVAL;
    }
    *out_ms = (int64_t)x * 1000;
    return 0;
}

static bool tempo__wants_pb(const struct tr_http_request *req)
{
    const struct tr_slice *acc = tr_http_header_get(req, "Accept");
    if (acc == NULL) {
        return false;
    }
    char buf[256];
    snprintf(buf, sizeof(buf), "%.*s", (int)acc->len, acc->base);
    return strstr(buf, "application/protobuf") != NULL ||
           strstr(buf, "application/x-protobuf") != NULL;
}

static void tempo__trace(const struct tr_http_request *req,
                         struct tr_http_response *resp,
                         bool v2)
{
    struct tr_app *app = req->app;
    char errmsg[TR_ERRMSG_SIZE];
    char tenant[TR_TENANT_MAX + 1];
    int rv = tr_app_tenant(app, req, tenant, errmsg);
    if (rv != 0) {
        tempo__text(resp, tr_status_for(rv), errmsg);
        return;
    }
    uint8_t id[16];
    if (req->n_params < 1 || tempo__parse_id(req->params[0], id)) {
        tempo__text(resp, 400,
                    "invalid trace id: expected up to 32 hexadecimal digits");
        return;
    }
    int64_t start_ms, end_ms;
    if (tempo__secs(req, "start", INT64_MIN / 4, &start_ms) != 0 ||
        tempo__secs(req, "end", INT64_MAX / 4, &end_ms) != 0) {
        tempo__text(resp, 400, "invalid start or end: Unix seconds expected");
        return;
    }
    if (end_ms < start_ms) {
        tempo__text(resp, 400, "invalid start and end: end before start");
        return;
    }
    struct tr_span_batch b;
    rv = tr_cluster_trace_get(app->cluster, tr_slice_cstr(tenant), id, start_ms,
                              end_ms, req->arena, &b, errmsg);
    if (rv != 0) {
        int status = tr_status_for(rv);
        if (status == 503) {
            tr_http_resp_header(resp, "Retry-After", "1");
        }
        tempo__text(resp, status, errmsg);
        return;
    }
    if (b.n_spans == 0) {
        tempo__text(resp, 404, "trace not found");
        return;
    }
    tr_buf_reset(&resp->body);
    bool pb = tempo__wants_pb(req);
    rv = pb ? tr_tempo_trace_pb(&b, v2, 0, &resp->body)
            : tr_tempo_trace_json(&b, v2, 0, &resp->body);
    if (rv != 0) {
        tempo__text(resp, 500, "out of memory");
        return;
    }
    resp->content_type = pb ? "application/protobuf" : "application/json";
}

void tr_api_tempo_trace(const struct tr_http_request *req,
                        struct tr_http_response *resp)
{
    tempo__trace(req, resp, false);
}

void tr_api_tempo_trace_v2(const struct tr_http_request *req,
                           struct tr_http_response *resp)
{
    tempo__trace(req, resp, true);
}

void tr_api_tempo_echo(const struct tr_http_request *req,
                       struct tr_http_response *resp)
{
    (void)req;
    tempo__text(resp, 200, "echo");
    tr_buf_reset(&resp->body);
    tr_buf_puts(&resp->body, "echo");
}

void tr_api_tempo_buildinfo(const struct tr_http_request *req,
                            struct tr_http_response *resp)
{
    (void)req;
    tr_buf_reset(&resp->body);
    tr_buf_printf(&resp->body,
                  "{\"version\":\"%s\",\"revision\":\"%s\",\"branch\":"
                  "\"triad\",\"buildUser\":\"triad\",\"buildDate\":\"\","
                  "\"goVersion\":\"\"}",
                  TR_TEMPO_VERSION, TRIAD_REVISION);
    resp->content_type = "application/json";
}
