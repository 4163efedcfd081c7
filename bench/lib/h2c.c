/* h2c.c - see h2c.h. */
#include "bench/lib/h2c.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define H2C_MAX_HDRS 16

struct h2c_stream {
    const uint8_t *body;
    size_t len, off;
    int http_status, grpc_status;
    char grpc_message[256];
    uint8_t *resp;
    size_t resp_len, resp_cap;
    void *ud;
};

struct h2c {
    int fd;
    nghttp2_session *ng;
    h2c_done_fn done;
    void *ctx;
    int inflight;
    int eof;
    char authority[64];
};

static ssize_t h2c__send(nghttp2_session *ng,
                         const uint8_t *data,
                         size_t len,
                         int flags,
                         void *ud)
{
    (void)ng;
    (void)flags;
    struct h2c *c = ud;
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return NGHTTP2_ERR_WOULDBLOCK;
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return n;
}

static int h2c__header(nghttp2_session *ng,
                       const nghttp2_frame *frame,
                       const uint8_t *name,
                       size_t namelen,
                       const uint8_t *value,
                       size_t valuelen,
                       uint8_t flags,
                       void *ud)
{
    (void)flags;
    (void)ud;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    struct h2c_stream *s =
        nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (!s)
        return 0;
    char v[16];
    size_t vl = valuelen < sizeof v - 1 ? valuelen : sizeof v - 1;
    memcpy(v, value, vl);
    v[vl] = 0;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0)
        s->http_status = atoi(v);
    else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0)
        s->grpc_status = atoi(v);
    else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
        size_t ml = valuelen < sizeof s->grpc_message - 1
                        ? valuelen
                        : sizeof s->grpc_message - 1;
        memcpy(s->grpc_message, value, ml);
        s->grpc_message[ml] = 0;
    }
    return 0;
}

static int h2c__data(nghttp2_session *ng,
                     uint8_t flags,
                     int32_t stream_id,
                     const uint8_t *data,
                     size_t len,
                     void *ud)
{
    (void)flags;
    (void)ud;
    struct h2c_stream *s = nghttp2_session_get_stream_user_data(ng, stream_id);
    if (!s)
        return 0;
    if (s->resp_len + len > s->resp_cap) {
        size_t cap = s->resp_cap ? s->resp_cap : 256;
        while (cap < s->resp_len + len)
            cap *= 2;
        uint8_t *p = realloc(s->resp, cap);
        if (!p)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        s->resp = p;
        s->resp_cap = cap;
    }
    memcpy(s->resp + s->resp_len, data, len);
    s->resp_len += len;
    return 0;
}

static int h2c__close(nghttp2_session *ng,
                      int32_t stream_id,
                      uint32_t error_code,
                      void *ud)
{
    struct h2c *c = ud;
    struct h2c_stream *s = nghttp2_session_get_stream_user_data(ng, stream_id);
    if (!s)
        return 0;
    struct h2c_result r = {
        .http_status = s->http_status,
        .grpc_status = s->grpc_status,
        .body = s->resp,
        .body_len = s->resp_len,
        .error_code = error_code,
        .ud = s->ud,
    };
    memcpy(r.grpc_message, s->grpc_message, sizeof r.grpc_message);
    nghttp2_session_set_stream_user_data(ng, stream_id, NULL);
    c->inflight--;
    c->done(&r, c->ctx);
    free(s->resp);
    free(s);
    return 0;
}

static ssize_t h2c__read_body(nghttp2_session *ng,
                              int32_t stream_id,
                              uint8_t *buf,
                              size_t length,
                              uint32_t *data_flags,
                              nghttp2_data_source *src,
                              void *ud)
{
    (void)ng;
    (void)stream_id;
    (void)ud;
    struct h2c_stream *s = src->ptr;
    size_t n = s->len - s->off;
    if (n > length)
        n = length;
    memcpy(buf, s->body + s->off, n);
    s->off += n;
    if (s->off == s->len)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

struct h2c *h2c_connect(const char *host,
                        int port,
                        h2c_done_fn done,
                        void *ctx,
                        char *err,
                        size_t errn)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        snprintf(err, errn, "h2c: bad address %s", host);
        return NULL;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        snprintf(err, errn, "h2c: connect %s:%d: %s", host, port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct h2c *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        snprintf(err, errn, "h2c: out of memory");
        return NULL;
    }
    c->fd = fd;
    c->done = done;
    c->ctx = ctx;
    snprintf(c->authority, sizeof c->authority, "%s:%d", host, port);
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, h2c__send);
    nghttp2_session_callbacks_set_on_header_callback(cb, h2c__header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2c__data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2c__close);
    int rv = nghttp2_session_client_new(&c->ng, cb, c);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0) {
        snprintf(err, errn, "h2c: %s", nghttp2_strerror(rv));
        close(fd);
        free(c);
        return NULL;
    }
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
    };
    nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, 2);
    nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0,
                                          16 << 20);
    return c;
}

int h2c_post(struct h2c *c,
             const char *path,
             const char *const *hdrs,
             size_t n_hdrs,
             const uint8_t *body,
             size_t len,
             void *ud)
{
    if (n_hdrs > H2C_MAX_HDRS)
        return -1;
    struct h2c_stream *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->body = body;
    s->len = len;
    s->grpc_status = -1;
    s->ud = ud;
#define NV(n, v) \
    {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
    nghttp2_nv nva[4 + H2C_MAX_HDRS] = {
        NV(":method", "POST"),
        NV(":scheme", "http"),
        NV(":path", path),
        NV(":authority", c->authority),
    };
    size_t n = 4;
    for (size_t i = 0; i < n_hdrs; i++) {
        nghttp2_nv nv = NV(hdrs[2 * i], hdrs[2 * i + 1]);
        nva[n++] = nv;
    }
#undef NV
    nghttp2_data_provider prd = {.source = {.ptr = s},
                                 .read_callback = h2c__read_body};
    int32_t id = nghttp2_submit_request(c->ng, NULL, nva, n, &prd, s);
    if (id < 0) {
        free(s);
        return -1;
    }
    c->inflight++;
    return 0;
}

int h2c_inflight(const struct h2c *c)
{
    return c->inflight;
}

int h2c_pump(struct h2c *c, int timeout_ms, char *err, size_t errn)
{
    int rv = nghttp2_session_send(c->ng);
    if (rv != 0) {
        snprintf(err, errn, "h2c: send: %s", nghttp2_strerror(rv));
        return -1;
    }
    if (c->eof) {
        snprintf(err, errn, "h2c: the server closed the connection");
        return -1;
    }
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    if (nghttp2_session_want_write(c->ng))
        pfd.events |= POLLOUT;
    int k = poll(&pfd, 1, timeout_ms);
    if (k < 0 && errno != EINTR) {
        snprintf(err, errn, "h2c: poll: %s", strerror(errno));
        return -1;
    }
    if (k > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
        uint8_t buf[65536];
        for (;;) {
            ssize_t n = recv(c->fd, buf, sizeof buf, 0);
            if (n == 0) {
                c->eof = 1;
                break;
            }
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
                if (errno == EINTR)
                    continue;
                snprintf(err, errn, "h2c: recv: %s", strerror(errno));
                return -1;
            }
            ssize_t m = nghttp2_session_mem_recv(c->ng, buf, (size_t)n);
            if (m < 0) {
                snprintf(err, errn, "h2c: %s", nghttp2_strerror((int)m));
                return -1;
            }
            if ((size_t)n < sizeof buf)
                break;
        }
    }
    rv = nghttp2_session_send(c->ng);
    if (rv != 0) {
        snprintf(err, errn, "h2c: send: %s", nghttp2_strerror(rv));
        return -1;
    }
    if (c->eof && c->inflight > 0) {
        snprintf(err, errn,
                 "h2c: the server closed the connection with %d streams open",
                 c->inflight);
        return -1;
    }
    return 0;
}

void h2c_close(struct h2c *c)
{
    if (!c)
        return;
    nghttp2_session_terminate_session(c->ng, NGHTTP2_NO_ERROR);
    nghttp2_session_send(c->ng);
    nghttp2_session_del(c->ng);
    close(c->fd);
    free(c);
}
