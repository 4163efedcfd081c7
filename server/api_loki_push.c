/* api_loki_push.c - POST /loki/api/v1/push and /api/prom/push: Loki's push
 * API. The body is JSON when Content-Type says so (the current form, and
 * the legacy form of /api/prom/push), else snappy-block protobuf
 * (PushRequest), after any Content-Encoding (gzip, deflate) the HTTP layer
 * removed. Everything after decoding is server/logs_ingest.c. Success is
 * 204; errors are text/plain as Loki writes them. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/compress.h"
#include "lib/err.h"
#include "proto/loki_push.h"
#include "server/app.h"
#include "server/logs_ingest.h"

static void push__fail(struct tr_http_response *resp, int status, const char *m)
{
    tr_http_resp_text(resp, status, m);
}

static bool push__is_json(const struct tr_http_request *req)
{
    const struct tr_slice *ct = tr_http_header_get(req, "Content-Type");
    return ct != NULL && ct->len >= 16 &&
           strncasecmp(ct->base, "application/json", 16) == 0;
}

void tr_api_loki_push(const struct tr_http_request *req,
                      struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    char errmsg[TR_ERRMSG_SIZE];
    char tenant[TR_TENANT_MAX + 1];
    int rv = tr_app_tenant(app, req, tenant, errmsg);
    if (rv != 0) {
        push__fail(resp, tr_status_for(rv), errmsg);
        return;
    }
    struct tr_loki_push p;
    struct tr_buf dec;
    tr_buf_init(&dec);
    if (push__is_json(req)) {
        rv = tr_loki_push_decode_json(req->body, req->body_len, req->arena, &p,
                                      errmsg);
    } else {
        const struct tr_slice *ce = tr_http_header_get(req, "Content-Encoding");
        const char *pb = req->body;
        size_t pbl = req->body_len;
        if (!(req->body_decoded && ce != NULL &&
              tr_slice_eq_nocase(*ce, "snappy"))) {
            rv = tr_snappy_decode(req->body, req->body_len,
                                  app->cfg->max_body_bytes, &dec, errmsg);
            if (rv == TR_ETOOLARGE) {
                push__fail(resp, 413,
                           "the push body is too large after "
                           "snappy decompression");
                tr_buf_free(&dec);
                return;
            }
            pb = dec.data;
            pbl = dec.len;
        }
        if (rv == 0) {
            rv = tr_loki_push_decode(pb, pbl, req->arena, &p, errmsg);
        }
    }
    if (rv != 0) {
        char m[TR_ERRMSG_SIZE + 64];
        snprintf(m, sizeof(m), "error parsing push request: %s", errmsg);
        push__fail(resp, rv == TR_ENOMEM ? 500 : 400, m);
        tr_buf_free(&dec);
        return;
    }
    struct tr_logs_push_result r;
    tr_logs_ingest(app, tenant, &p, req->arena, &r);
    tr_buf_free(&dec);
    if (r.retry_after) {
        tr_http_resp_header(resp, "Retry-After", "1");
    }
    if (r.status == 204) {
        resp->status = 204;
    } else {
        tr_http_resp_text(resp, r.status, r.body.data ? r.body.data : "");
    }
    tr_buf_free(&r.body);
}
