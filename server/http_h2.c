/* http_h2.c - HTTP/2 with prior knowledge (h2c) on the HTTP server's
 * connections, and gRPC on top of it (the seam with http.c is at the end
 * of server/http_int.h).
 *
 * nghttp2 does the framing, HPACK, flow control (window updates as data is
 * consumed) and the stream states; this file turns each request stream
 * into an exchange of http.c, so that HTTP/2 requests run through the same
 * routes, limits and handler pool as HTTP/1, and writes the responses back
 * as HEADERS + DATA. Input is fed with nghttp2_session_mem_recv, output
 * taken with nghttp2_session_mem_send into one buffer written with one
 * uv_write at a time.
 *
 * gRPC (content-type application/grpc*): a unary call's request body is
 * one length-prefixed message (1 byte compressed flag, 4 bytes big-endian
 * length, the message); grpc-encoding gzip or deflate with the flag set is
 * decoded on the handler pool like an HTTP Content-Encoding. Methods map
 * to the HTTP routes that serve the same message:
 *
 *   /opentelemetry.proto.collector.logs.v1.LogsService/Export
 *       -> POST /otlp/v1/logs (application/x-protobuf)
 *   /opentelemetry.proto.collector.trace.v1.TraceService/Export
 *       -> POST /otlp/v1/traces (application/x-protobuf)
 *   /opentelemetry.proto.collector.metrics.v1.MetricsService/Export
 *       -> POST /otlp/v1/metrics (application/x-protobuf)
 *
 * Tempo's tempopb.StreamingQuerier (Grafana's Tempo data source with
 * streaming on) is served the same way:
 *
 *   /tempopb.StreamingQuerier/Search            -> /internal-grpc/tempo/search
 *   /tempopb.StreamingQuerier/SearchTags        -> .../tags
 *   /tempopb.StreamingQuerier/SearchTagsV2      -> .../tags-v2
 *   /tempopb.StreamingQuerier/SearchTagValues   -> .../tag-values
 *   /tempopb.StreamingQuerier/SearchTagValuesV2 -> .../tag-values-v2
 *   /tempopb.StreamingQuerier/MetricsQueryRange -> .../metrics-range
 *   /tempopb.StreamingQuerier/MetricsQueryInstant -> .../metrics-instant
 *
 * The /internal-grpc/tempo/{} route (server/api_tempo_grpc.c) takes the
 * request message as its protobuf body and answers the response message
 * as its protobuf body: a table entry stays a (method, route) pair and
 * this file knows nothing of Tempo. These methods are server-streaming;
 * their one response message followed by the trailers is a valid server
 * stream, so they are framed exactly as unary answers are.
 *
 * The route's HTTP status maps to the gRPC status the OTLP spec asks
 * for (200 OK; 400/413/415 INVALID_ARGUMENT; 401 UNAUTHENTICATED; 403
 * PERMISSION_DENIED; 404 UNIMPLEMENTED; 429 and 503 UNAVAILABLE, which
 * clients retry; 504 DEADLINE_EXCEEDED; 500 INTERNAL; else UNKNOWN). A
 * successful call answers HEADERS, one DATA frame set holding the
 * length-prefixed response message, and trailers with grpc-status 0; a
 * failed one answers "trailers only" (one HEADERS frame with grpc-status
 * and grpc-message, percent-encoded as gRPC requires). Other methods get
 * UNIMPLEMENTED. */
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "server/grpc.h"
#include "server/http_int.h"

#define H2_MAX_STREAMS 100
#define H2_WINDOW (1u << 20) /* per stream; the connection gets 16 of it */
#define GRPC_PREFIX TR_GRPC_PREFIX
#define GRPC_MESSAGE_MAX 1024

/* gRPC methods served, and the route each one runs (NULL: known but not
 * implemented, UNIMPLEMENTED with a message saying so). */
static const struct grpc_method {
    const char *path;
    const char *route;
} grpc_methods[] = {
    {"/opentelemetry.proto.collector.logs.v1.LogsService/Export",
     "/otlp/v1/logs"},
    {"/opentelemetry.proto.collector.trace.v1.TraceService/Export",
     "/otlp/v1/traces"},
    {"/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
     "/otlp/v1/metrics"},
    {"/tempopb.StreamingQuerier/Search", "/internal-grpc/tempo/search"},
    {"/tempopb.StreamingQuerier/SearchTags", "/internal-grpc/tempo/tags"},
    {"/tempopb.StreamingQuerier/SearchTagsV2", "/internal-grpc/tempo/tags-v2"},
    {"/tempopb.StreamingQuerier/SearchTagValues",
     "/internal-grpc/tempo/tag-values"},
    {"/tempopb.StreamingQuerier/SearchTagValuesV2",
     "/internal-grpc/tempo/tag-values-v2"},
    {"/tempopb.StreamingQuerier/MetricsQueryRange",
     "/internal-grpc/tempo/metrics-range"},
    {"/tempopb.StreamingQuerier/MetricsQueryInstant",
     "/internal-grpc/tempo/metrics-instant"},
};

struct tr_h2_stream {
    struct tr_h2_conn *h;
    int32_t id;
    void *x;            /* the exchange until the response is taken */
    bool dispatched;    /* x is with http.c (routing, the pool) */
    bool grpc;          /* content-type application/grpc* */
    bool too_large;     /* the body passed the size limit */
    bool compressed_ok; /* grpc-encoding names gzip or deflate */
    char encoding[16];  /* grpc-encoding as sent */
    size_t n_headers;   /* request headers kept (in x's arena) */
    size_t cap_headers;
    struct tr_buf out; /* response body to send */
    size_t out_off;
    int grpc_status;           /* sent in the trailers of a successful call */
    bool responded;            /* a response was submitted */
    uint64_t deadline_ms;      /* grpc-timeout, monotonic ms (0: none) */
    uint64_t recv_deadline_ms; /* the request must be whole by then, as the
                                  header and body timeouts of HTTP/1.1
                                  allow (0: it is) */
    struct tr_h2_stream *prev, *next;
};

struct tr_h2_conn {
    nghttp2_session *ng;
    void *conn;
    uv_stream_t *tcp;
    const struct tr_http_server_config *cfg;
    struct tr_h2_stream *streams;
    size_t n_streams;
    uv_write_t wreq;
    struct tr_buf wbuf; /* bytes of the write in flight */
    bool writing;
    bool closing; /* the connection is closing: no more output */
    bool in_recv; /* inside nghttp2_session_mem_recv: callbacks may submit
                     frames, but sending waits until it returns (nghttp2
                     may still use a stream that sending would close) */
    bool released_while_writing;
};

static void h2__flush(struct tr_h2_conn *h);

/* ---- streams -------------------------------------------------------------
 */

static void stream_unlink(struct tr_h2_stream *st)
{
    struct tr_h2_conn *h = st->h;
    if (st->prev) {
        st->prev->next = st->next;
    } else {
        h->streams = st->next;
    }
    if (st->next) {
        st->next->prev = st->prev;
    }
    h->n_streams--;
}

/* Frees st and what it holds (an exchange with http.c is detached: http.c
 * frees it when the handler returns). */
static void stream_free(struct tr_h2_stream *st)
{
    if (st->x != NULL) {
        if (st->dispatched) {
            tr_http__x_detach(st->x);
        } else {
            tr_http__x_free(st->x);
        }
    }
    tr_buf_free(&st->out);
    tr_free(st);
}

static bool slice_is(const uint8_t *p, size_t n, const char *c)
{
    return n == strlen(c) && memcmp(p, c, n) == 0;
}

/* Appends a request header (copied into the exchange's arena). */
static int stream_header(struct tr_h2_stream *st,
                         const uint8_t *name,
                         size_t nlen,
                         const uint8_t *value,
                         size_t vlen)
{
    struct tr_http_request *req = tr_http__x_req(st->x);
    if (st->n_headers == st->cap_headers) {
        if (st->cap_headers >= TR_HTTP_MAX_HEADERS) {
            return 0; /* more are dropped, as nothing routes on them */
        }
        size_t cap = st->cap_headers ? st->cap_headers * 2 : 16;
        struct tr_http_header *nh =
            tr_arena_alloc(req->arena, cap * sizeof(*nh));
        if (nh == NULL) {
            return TR_ENOMEM;
        }
        if (st->n_headers > 0) {
            memcpy(nh, req->headers, st->n_headers * sizeof(*nh));
        }
        req->headers = nh;
        st->cap_headers = cap;
    }
    char *n = tr_arena_memdup(req->arena, name, nlen);
    char *v = tr_arena_memdup(req->arena, value, vlen);
    if (n == NULL || v == NULL) {
        return TR_ENOMEM;
    }
    req->headers[st->n_headers++] =
        (struct tr_http_header){{n, nlen}, {v, vlen}};
    req->n_headers = st->n_headers;
    return 0;
}

/* Replaces the value of header `name` (lower case), adding it if absent. */
static int stream_set_header(struct tr_h2_stream *st,
                             const char *name,
                             const char *value)
{
    struct tr_http_request *req = tr_http__x_req(st->x);
    for (size_t i = 0; i < req->n_headers; i++) {
        if (tr_slice_eq_nocase(req->headers[i].name, name)) {
            req->headers[i].value = (struct tr_slice){value, strlen(value)};
            return 0;
        }
    }
    return stream_header(st, (const uint8_t *)name, strlen(name),
                         (const uint8_t *)value, strlen(value));
}

/* ---- responses -----------------------------------------------------------
 */

static ssize_t data_read(nghttp2_session *ng,
                         int32_t id,
                         uint8_t *buf,
                         size_t length,
                         uint32_t *flags,
                         nghttp2_data_source *src,
                         void *user)
{
    (void)user;
    struct tr_h2_stream *st = src->ptr;
    size_t left = st->out.len - st->out_off;
    size_t n = left < length ? left : length;
    if (n > 0) {
        memcpy(buf, st->out.data + st->out_off, n);
        st->out_off += n;
    }
    if (st->out_off == st->out.len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (st->grpc) {
            char code[12];
            snprintf(code, sizeof(code), "%d", st->grpc_status);
            nghttp2_nv tr[] = {
                {(uint8_t *)"grpc-status", (uint8_t *)code, 11, strlen(code),
                 NGHTTP2_NV_FLAG_NONE},
            };
            if (nghttp2_submit_trailer(ng, id, tr, 1) == 0) {
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            }
        }
    }
    return (ssize_t)n;
}

/* The error text of a route's response: the message of a google.rpc.Status
 * body (field 2) when the body is protobuf, else the body as text. */
static void error_text(const struct tr_http_response *resp, struct tr_buf *out)
{
    const uint8_t *p = (const uint8_t *)resp->body.data;
    size_t n = resp->body.len;
    bool pb = resp->content_type != NULL &&
              strstr(resp->content_type, "protobuf") != NULL;
    if (pb) {
        struct tr_cursor c = tr_cursor_make(p, n);
        while (tr_cursor_left(&c) > 0) {
            uint64_t tag, len;
            if (tr_cursor_uvarint(&c, &tag) != 0) {
                break;
            }
            if ((tag & 7) == 0) {
                if (tr_cursor_uvarint(&c, &len) != 0) {
                    break;
                }
                continue;
            }
            struct tr_slice s;
            if ((tag & 7) != 2 || tr_cursor_uvarint(&c, &len) != 0 ||
                tr_cursor_bytes(&c, len, &s) != 0) {
                break;
            }
            if (tag >> 3 == 2) {
                tr_grpc_message(s.base, s.len, GRPC_MESSAGE_MAX, out);
                return;
            }
        }
        return;
    }
    while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == ' ')) {
        n--;
    }
    tr_grpc_message((const char *)p, n, GRPC_MESSAGE_MAX, out);
}

/* Answers a gRPC call without a message: "trailers only". */
static void grpc_fail(struct tr_h2_stream *st, int code, const char *msg)
{
    struct tr_buf m;
    tr_buf_init(&m);
    tr_grpc_message(msg, strlen(msg), GRPC_MESSAGE_MAX, &m);
    char cs[12];
    snprintf(cs, sizeof(cs), "%d", code);
    nghttp2_nv nv[] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16,
         NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"grpc-status", (uint8_t *)cs, 11, strlen(cs),
         NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"grpc-message", (uint8_t *)(m.data ? m.data : ""), 12,
         m.len, NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_submit_response(st->h->ng, st->id, nv, m.len > 0 ? 4 : 3, NULL);
    st->responded = true;
    tr_buf_free(&m);
}

/* The response body (front parts, then body) into st->out. */
static void take_body(struct tr_h2_stream *st,
                      const struct tr_http_response *resp)
{
    for (size_t i = 0; i < resp->n_front; i++) {
        tr_buf_append(&st->out, resp->front[i].data, resp->front[i].len);
    }
    tr_buf_append(&st->out, resp->body.data, resp->body.len);
}

static void respond_grpc(struct tr_h2_stream *st,
                         const struct tr_http_response *resp)
{
    int code = tr_grpc_code_of_http(resp->status);
    if (code != TR_GRPC_OK) {
        struct tr_buf m;
        tr_buf_init(&m);
        error_text(resp, &m);
        tr_buf_putc(&m, '\0');
        grpc_fail(st, code, m.data ? m.data : "");
        tr_buf_free(&m);
        return;
    }
    size_t n = resp->body.len;
    for (size_t i = 0; i < resp->n_front; i++) {
        n += resp->front[i].len;
    }
    uint8_t pre[GRPC_PREFIX];
    tr_grpc_prefix(n, pre);
    tr_buf_append(&st->out, pre, sizeof(pre));
    take_body(st, resp);
    st->grpc_status = TR_GRPC_OK;
    nghttp2_nv nv[] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16,
         NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_data_provider dp = {{.ptr = st}, data_read};
    nghttp2_submit_response(st->h->ng, st->id, nv, 2, &dp);
    st->responded = true;
}

/* Connection-specific headers HTTP/2 forbids (RFC 9113 8.2.2). */
static bool hop_by_hop(const char *n, size_t len)
{
    static const char *const names[] = {"connection", "keep-alive",
                                        "proxy-connection", "transfer-encoding",
                                        "upgrade"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (len == strlen(names[i]) && strncasecmp(n, names[i], len) == 0) {
            return true;
        }
    }
    return false;
}

#define H2_MAX_RESP_HEADERS 32

static void respond_http(struct tr_h2_stream *st,
                         const struct tr_http_response *resp,
                         bool head_only)
{
    nghttp2_nv nv[H2_MAX_RESP_HEADERS + 3];
    size_t n = 0;
    char status[8];
    snprintf(status, sizeof(status), "%d", resp->status);
    nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7,
                           strlen(status), NGHTTP2_NV_FLAG_NONE};
    if (resp->content_type != NULL) {
        nv[n++] = (nghttp2_nv){
            (uint8_t *)"content-type", (uint8_t *)resp->content_type, 12,
            strlen(resp->content_type), NGHTTP2_NV_FLAG_NONE};
    }
    /* the extra "Name: value\r\n" lines (nghttp2 lower-cases nothing:
     * names are lowered in place in a copy) */
    char *lines = tr_strndup(resp->headers.data ? resp->headers.data : "",
                             resp->headers.len);
    for (char *p = lines; p != NULL && *p && n < H2_MAX_RESP_HEADERS + 2;) {
        char *eol = strstr(p, "\r\n");
        char *colon = memchr(p, ':', eol ? (size_t)(eol - p) : strlen(p));
        if (eol == NULL || colon == NULL) {
            break;
        }
        for (char *q = p; q < colon; q++) {
            *q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
        }
        char *v = colon + 1;
        while (v < eol && *v == ' ') {
            v++;
        }
        if (!hop_by_hop(p, (size_t)(colon - p))) {
            nv[n++] =
                (nghttp2_nv){(uint8_t *)p, (uint8_t *)v, (size_t)(colon - p),
                             (size_t)(eol - v), NGHTTP2_NV_FLAG_NONE};
        }
        p = eol + 2;
    }
    int s = resp->status;
    bool body = !head_only && s != 204 && s != 304 && s >= 200;
    if (body) {
        take_body(st, resp);
    }
    nghttp2_data_provider dp = {{.ptr = st}, data_read};
    /* nghttp2 copies the header fields when the frame is submitted */
    nghttp2_submit_response(st->h->ng, st->id, nv, n,
                            body && st->out.len > 0 ? &dp : NULL);
    st->responded = true;
    tr_free(lines);
}

void tr_http__h2_respond(struct tr_h2_stream *st,
                         struct tr_http_response *resp,
                         void *x)
{
    struct tr_h2_conn *h = st->h;
    bool head_only = tr_http__x_req(x)->method == TR_HTTP_HEAD;
    if (st->grpc) {
        respond_grpc(st, resp);
    } else {
        respond_http(st, resp, head_only);
    }
    st->x = NULL;
    st->dispatched = false;
    tr_http__x_free(x);
    h2__flush(h);
}

/* Answers an HTTP (not gRPC) request with a text status (its exchange
 * stays the caller's to free). */
static void respond_text(struct tr_h2_stream *st, int status, const char *msg)
{
    struct tr_http_response r = {.status = status,
                                 .content_type = "text/plain"};
    tr_buf_init(&r.headers);
    tr_buf_init(&r.body);
    tr_buf_printf(&r.body, "%s\n", msg);
    respond_http(st, &r, false);
    tr_buf_free(&r.body);
}

/* ---- requests ------------------------------------------------------------
 */

/* A gRPC call is complete: checks its framing and maps its method to the
 * route that serves it; false when it was answered here. */
static bool grpc_request(struct tr_h2_stream *st)
{
    struct tr_http_request *req = tr_http__x_req(st->x);
    struct tr_buf *body = tr_http__x_body(st->x);
    const struct grpc_method *m = NULL;
    for (size_t i = 0; i < sizeof(grpc_methods) / sizeof(grpc_methods[0]);
         i++) {
        if (tr_slice_eq_cstr(req->path, grpc_methods[i].path)) {
            m = &grpc_methods[i];
        }
    }
    char msg[256];
    if (m == NULL) {
        snprintf(msg, sizeof(msg), "unknown method %.*s",
                 (int)(req->path.len > 160 ? 160 : req->path.len),
                 req->path.base);
        grpc_fail(st, TR_GRPC_UNIMPLEMENTED, msg);
        return false;
    }
    if (m->route == NULL) {
        snprintf(msg, sizeof(msg), "%s is not implemented by triad yet",
                 m->path);
        grpc_fail(st, TR_GRPC_UNIMPLEMENTED, msg);
        return false;
    }
    if (st->too_large) {
        snprintf(msg, sizeof(msg),
                 "grpc: received message larger than max (%zu bytes)",
                 tr_http__max_body(st->h->conn));
        grpc_fail(st, TR_GRPC_RESOURCE_EXHAUSTED, msg);
        return false;
    }
    const uint8_t *b = (const uint8_t *)body->data;
    bool compressed;
    size_t mlen;
    const char *why;
    if (tr_grpc_unframe(b, body->len, &compressed, &mlen, &why) != 0) {
        grpc_fail(st, TR_GRPC_INTERNAL, why);
        return false;
    }
    if (compressed && !st->compressed_ok) {
        snprintf(msg, sizeof(msg),
                 "grpc: compressed message with grpc-encoding \"%s\" (gzip "
                 "and deflate are supported)",
                 st->encoding[0] ? st->encoding : "identity");
        grpc_fail(st,
                  st->encoding[0] ? TR_GRPC_UNIMPLEMENTED : TR_GRPC_INTERNAL,
                  msg);
        return false;
    }
    memmove(body->data, body->data + GRPC_PREFIX, mlen);
    body->len = mlen;
    req->method = TR_HTTP_POST;
    req->path = (struct tr_slice){m->route, strlen(m->route)};
    int rv = stream_set_header(st, "content-type", "application/x-protobuf");
    if (rv == 0 && compressed) {
        const char *enc =
            tr_arena_memdup(req->arena, st->encoding, strlen(st->encoding) + 1);
        rv = enc != NULL ? stream_set_header(st, "content-encoding", enc)
                         : TR_ENOMEM;
    }
    if (rv != 0) {
        grpc_fail(st, TR_GRPC_UNAVAILABLE, "out of memory");
        return false;
    }
    return true;
}

static void stream_complete(struct tr_h2_stream *st)
{
    if (st->grpc) {
        if (!grpc_request(st)) {
            h2__flush(st->h);
            return;
        }
    } else if (st->too_large) {
        char msg[128];
        snprintf(msg, sizeof(msg), "request body too large (limit %zu bytes)",
                 tr_http__max_body(st->h->conn));
        respond_text(st, 413, msg);
        h2__flush(st->h);
        return;
    }
    st->recv_deadline_ms = 0;
    st->dispatched = true;
    tr_http__x_dispatch(st->x); /* may answer at once */
}

/* ---- nghttp2 callbacks ---------------------------------------------------
 */

static uint64_t now_ms(void)
{
    return (uint64_t)(tr_mono_ns() / 1000000);
}

/* The deadline a grpc-timeout value sets ("100m": 1 to 8 digits and a unit
 * of H, M, S, m, u, n), in monotonic ms rounded up; 0 when malformed (no
 * deadline, as gRPC servers treat it). */
static uint64_t grpc_deadline(const uint8_t *v, size_t n)
{
    if (n < 2 || n > 9) {
        return 0;
    }
    uint64_t x = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return 0;
        }
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    uint64_t ms;
    switch (v[n - 1]) {
        case 'H':
            ms = x * 3600000;
            break;
        case 'M':
            ms = x * 60000;
            break;
        case 'S':
            ms = x * 1000;
            break;
        case 'm':
            ms = x;
            break;
        case 'u':
            ms = (x + 999) / 1000;
            break;
        case 'n':
            ms = (x + 999999) / 1000000;
            break;
        default:
            return 0;
    }
    return now_ms() + (ms > 0 ? ms : 1);
}

static int on_begin_headers(nghttp2_session *ng,
                            const nghttp2_frame *frame,
                            void *user)
{
    struct tr_h2_conn *h = user;
    if (frame->hd.type != NGHTTP2_HEADERS ||
        frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
    }
    struct tr_h2_stream *st = tr_calloc(1, sizeof(*st));
    if (st == NULL) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    st->h = h;
    st->id = frame->hd.stream_id;
    st->recv_deadline_ms =
        now_ms() + h->cfg->header_timeout_ms + h->cfg->body_timeout_ms;
    tr_buf_init(&st->out);
    st->x = tr_http__h2_exchange(h->conn, st);
    if (st->x == NULL) {
        tr_free(st);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    st->next = h->streams;
    if (h->streams) {
        h->streams->prev = st;
    }
    h->streams = st;
    h->n_streams++;
    nghttp2_session_set_stream_user_data(ng, st->id, st);
    return 0;
}

static int on_header(nghttp2_session *ng,
                     const nghttp2_frame *frame,
                     const uint8_t *name,
                     size_t nlen,
                     const uint8_t *value,
                     size_t vlen,
                     uint8_t flags,
                     void *user)
{
    (void)flags;
    (void)user;
    struct tr_h2_stream *st =
        nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (st == NULL || st->x == NULL || st->dispatched ||
        frame->hd.type != NGHTTP2_HEADERS) {
        return 0;
    }
    struct tr_http_request *req = tr_http__x_req(st->x);
    if (slice_is(name, nlen, ":method")) {
        req->method = tr_http__method((const char *)value, vlen);
        return 0;
    }
    if (slice_is(name, nlen, ":path")) {
        const uint8_t *q = memchr(value, '?', vlen);
        size_t plen = q ? (size_t)(q - value) : vlen;
        char *path = tr_arena_alloc(req->arena, plen + 1);
        char *query =
            q ? tr_arena_memdup(req->arena, q + 1, vlen - plen - 1) : NULL;
        if (path == NULL || (q != NULL && query == NULL)) {
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        size_t n =
            tr_http__unescape((const char *)value, plen, false, false, path);
        req->path = (struct tr_slice){path, n};
        req->raw_query =
            (struct tr_slice){q ? query : "", q ? vlen - plen - 1 : 0};
        return 0;
    }
    if (nlen > 0 && name[0] == ':') {
        return 0; /* :scheme, :authority */
    }
    if (slice_is(name, nlen, "content-type") && vlen >= 16 &&
        memcmp(value, "application/grpc", 16) == 0) {
        st->grpc = true;
    }
    if (slice_is(name, nlen, "grpc-timeout")) {
        st->deadline_ms = grpc_deadline(value, vlen);
    }
    if (slice_is(name, nlen, "grpc-encoding")) {
        size_t n =
            vlen < sizeof(st->encoding) - 1 ? vlen : sizeof(st->encoding) - 1;
        memcpy(st->encoding, value, n);
        st->encoding[n] = '\0';
        st->compressed_ok =
            slice_is(value, vlen, "gzip") || slice_is(value, vlen, "deflate");
    }
    if (stream_header(st, name, nlen, value, vlen) != 0) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *ng,
                         uint8_t flags,
                         int32_t id,
                         const uint8_t *data,
                         size_t len,
                         void *user)
{
    (void)flags;
    struct tr_h2_conn *h = user;
    struct tr_h2_stream *st = nghttp2_session_get_stream_user_data(ng, id);
    if (st == NULL || st->x == NULL || st->dispatched || st->too_large) {
        return 0;
    }
    struct tr_buf *body = tr_http__x_body(st->x);
    size_t max = tr_http__max_body(h->conn);
    if (max > 0 && body->len + len > max + (st->grpc ? GRPC_PREFIX : 0)) {
        st->too_large = true;
        tr_buf_free(body);
        return 0;
    }
    if (tr_buf_append(body, data, len) != 0) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *ng,
                         const nghttp2_frame *frame,
                         void *user)
{
    (void)user;
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        return 0;
    }
    struct tr_h2_stream *st =
        nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (st != NULL && st->x != NULL && !st->dispatched) {
        stream_complete(st);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *ng,
                           int32_t id,
                           uint32_t error_code,
                           void *user)
{
    (void)error_code;
    (void)user;
    struct tr_h2_stream *st = nghttp2_session_get_stream_user_data(ng, id);
    if (st != NULL) {
        nghttp2_session_set_stream_user_data(ng, id, NULL);
        stream_unlink(st);
        stream_free(st);
    }
    return 0;
}

/* ---- the connection ------------------------------------------------------
 */

static void on_written(uv_write_t *w, int status)
{
    struct tr_h2_conn *h = w->data;
    h->writing = false;
    tr_buf_reset(&h->wbuf);
    if (h->released_while_writing) {
        return; /* cannot happen: libuv calls back before the close */
    }
    if (status < 0) {
        if (!h->closing) {
            tr_http__conn_close(h->conn);
        }
        return;
    }
    h2__flush(h);
}

/* Writes what nghttp2 has to send; closes the connection once the session
 * wants neither to read nor to write. */
/* The connection's timer: the idle timeout when no stream is open, else
 * the earliest gRPC deadline of a call not answered yet (none: off). */
static void h2__arm(struct tr_h2_conn *h)
{
    if (h->n_streams == 0) {
        tr_http__conn_timer(h->conn, h->cfg->idle_timeout_ms);
        return;
    }
    uint64_t first = 0;
    for (struct tr_h2_stream *st = h->streams; st; st = st->next) {
        uint64_t d[2] = {st->deadline_ms, st->recv_deadline_ms};
        for (int i = 0; i < 2 && !st->responded; i++) {
            first = d[i] != 0 && (first == 0 || d[i] < first) ? d[i] : first;
        }
    }
    uint64_t now = now_ms();
    tr_http__conn_timer(h->conn, first == 0    ? 0
                                 : first > now ? first - now
                                               : 1);
}

static void h2__flush(struct tr_h2_conn *h)
{
    if (h->closing || h->writing || h->in_recv) {
        return;
    }
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(h->ng, &data);
        if (n < 0) {
            tr_http__conn_close(h->conn);
            return;
        }
        if (n == 0) {
            break;
        }
        if (tr_buf_append(&h->wbuf, data, (size_t)n) != 0) {
            tr_http__conn_close(h->conn);
            return;
        }
    }
    if (h->wbuf.len > 0) {
        uv_buf_t b = uv_buf_init(h->wbuf.data, (unsigned)h->wbuf.len);
        h->wreq.data = h;
        if (uv_write(&h->wreq, h->tcp, &b, 1, on_written) != 0) {
            tr_http__conn_close(h->conn);
            return;
        }
        h->writing = true;
        return;
    }
    if (!nghttp2_session_want_read(h->ng) &&
        !nghttp2_session_want_write(h->ng)) {
        tr_http__conn_linger(h->conn);
        return;
    }
    h2__arm(h);
}

struct tr_h2_conn *tr_http__h2_new(void *conn,
                                   uv_stream_t *tcp,
                                   const struct tr_http_server_config *cfg)
{
    struct tr_h2_conn *h = tr_calloc(1, sizeof(*h));
    nghttp2_session_callbacks *cb = NULL;
    if (h == NULL || nghttp2_session_callbacks_new(&cb) != 0) {
        tr_free(h);
        return NULL;
    }
    h->conn = conn;
    h->tcp = tcp;
    h->cfg = cfg;
    tr_buf_init(&h->wbuf);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
                                                            on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
                                                              on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    int rv = nghttp2_session_server_new(&h->ng, cb, h);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0) {
        tr_free(h);
        return NULL;
    }
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
         (uint32_t)(cfg->max_header_bytes ? cfg->max_header_bytes : 1 << 20)},
    };
    if (nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv,
                                sizeof(iv) / sizeof(iv[0])) != 0 ||
        nghttp2_session_set_local_window_size(h->ng, NGHTTP2_FLAG_NONE, 0,
                                              16 * H2_WINDOW) != 0) {
        nghttp2_session_del(h->ng);
        tr_free(h);
        return NULL;
    }
    return h;
}

void tr_http__h2_input(struct tr_h2_conn *h, const char *data, size_t len)
{
    if (h->closing) {
        return;
    }
    h->in_recv = true;
    ssize_t rv = nghttp2_session_mem_recv(h->ng, (const uint8_t *)data, len);
    h->in_recv = false;
    if (rv < 0) {
        /* a connection error: nghttp2 queued a GOAWAY; send it, then end */
        h2__flush(h);
        if (!h->closing) {
            tr_http__conn_linger(h->conn);
        }
        return;
    }
    h2__flush(h);
}

void tr_http__h2_on_timer(struct tr_h2_conn *h)
{
    uint64_t now = now_ms();
    for (struct tr_h2_stream *st = h->streams; st; st = st->next) {
        if (!st->responded && st->recv_deadline_ms != 0 &&
            st->recv_deadline_ms <= now && st->x != NULL) {
            /* the request did not arrive whole in time (HTTP/1.1's 408) */
            tr_http__x_free(st->x);
            st->x = NULL;
            if (st->grpc) {
                grpc_fail(st, TR_GRPC_DEADLINE_EXCEEDED,
                          "request not received in time");
            } else {
                respond_text(st, 408, "request not received in time");
            }
            continue;
        }
        if (st->deadline_ms == 0 || st->responded || st->deadline_ms > now) {
            continue;
        }
        /* the call is abandoned: its handler may still finish, but its
         * answer goes nowhere */
        if (st->x != NULL) {
            if (st->dispatched) {
                tr_http__x_detach(st->x);
            } else {
                tr_http__x_free(st->x);
            }
            st->x = NULL;
            st->dispatched = false;
        }
        grpc_fail(st, TR_GRPC_DEADLINE_EXCEEDED, "Deadline Exceeded");
    }
    if (h->n_streams == 0) {
        nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(h->ng),
                              NGHTTP2_NO_ERROR, NULL, 0);
        h2__flush(h);
        if (!h->closing) {
            tr_http__conn_linger(h->conn);
        }
        return;
    }
    h2__flush(h);
}

void tr_http__h2_shutdown(struct tr_h2_conn *h)
{
    nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(h->ng),
                          NGHTTP2_NO_ERROR, NULL, 0);
    h2__flush(h);
}

void tr_http__h2_closing(struct tr_h2_conn *h)
{
    h->closing = true;
    /* exchanges with http.c are detached now: the stream is gone for
     * good, whatever the handler still does */
    for (struct tr_h2_stream *st = h->streams; st; st = st->next) {
        if (st->x != NULL && st->dispatched) {
            tr_http__x_detach(st->x);
            st->x = NULL;
        }
    }
}

void tr_http__h2_release(struct tr_h2_conn *h)
{
    while (h->streams != NULL) {
        struct tr_h2_stream *st = h->streams;
        nghttp2_session_set_stream_user_data(h->ng, st->id, NULL);
        stream_unlink(st);
        stream_free(st);
    }
    nghttp2_session_del(h->ng);
    tr_buf_free(&h->wbuf);
    tr_free(h);
}
