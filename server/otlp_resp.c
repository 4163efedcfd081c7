/* otlp_resp.c - OTLP/HTTP answers (see server/otlp_resp.h). */
#include "server/otlp_resp.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/json.h"

int tr_otlp_req_kind(const struct tr_http_request *req)
{
    const struct tr_slice *ct = tr_http_header_get(req, "Content-Type");
    if (ct != NULL && ct->len >= 16 &&
        strncasecmp(ct->base, "application/json", 16) == 0) {
        return 1;
    }
    if (ct == NULL || ct->len == 0 ||
        (ct->len >= 22 &&
         strncasecmp(ct->base, "application/x-protobuf", 22) == 0) ||
        (ct->len >= 20 &&
         strncasecmp(ct->base, "application/protobuf", 20) == 0)) {
        return 0;
    }
    return -1;
}

static void otlp__put_str_field(struct tr_buf *b,
                                unsigned field,
                                const char *s,
                                size_t n)
{
    tr_buf_put_uvarint(b, (field << 3) | 2);
    tr_buf_put_uvarint(b, n);
    tr_buf_append(b, s, n);
}

void tr_otlp_resp_status(struct tr_http_response *resp,
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

void tr_otlp_resp_success(struct tr_http_response *resp,
                          bool json,
                          const char *json_field,
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
            tr_json_key(&j, json_field);
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
