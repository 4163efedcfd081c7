/* test_http_server.c - the HTTP server end to end: a real server on
 * 127.0.0.1 (port 0) running its own uv loop in a thread, driven by libcurl
 * and by raw sockets for timeouts, pipelining and framing errors.
 * No criterion .timeout: it leaks in criterion's runner under LSan; every
 * socket read has SO_RCVTIMEO and every curl call CURLOPT_TIMEOUT_MS. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <zlib.h>

#include "lib/compress.h"
#include "lib/err.h"
#include "server/http.h"
#include "lib/selfmetrics.h"

/* ---- server fixture ---------------------------------------------------- */

struct fixture {
    uv_loop_t loop;
    uv_async_t stop;
    pthread_t thread;
    struct tr_http_server *s;
    struct tr_selfmetrics *metrics;
    int port;
    uint64_t shutdown_ms;
    volatile int shutdown_done;
};

static struct fixture fx;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void h_echo(const struct tr_http_request *req,
                   struct tr_http_response *resp)
{
    resp->content_type = "application/octet-stream";
    tr_buf_append(&resp->body, req->body, req->body_len);
    tr_http_resp_header(resp, "X-Decoded", "%d", req->body_decoded ? 1 : 0);
    tr_http_resp_header(resp, "X-Remote", "%s", req->remote_addr);
}

static void h_hello(const struct tr_http_request *req,
                    struct tr_http_response *resp)
{
    (void)req;
    tr_http_resp_text(resp, 200, "hello");
}

static void h_label(const struct tr_http_request *req,
                    struct tr_http_response *resp)
{
    resp->content_type = "text/plain";
    tr_buf_printf(&resp->body, "%zu:%.*s|%s", req->n_params,
                  (int)req->params[0].len, req->params[0].base,
                  req->route_name);
}

static void h_slow(const struct tr_http_request *req,
                   struct tr_http_response *resp)
{
    (void)req;
    sleep_ms(300);
    tr_http_resp_text(resp, 200, "slow");
}

static void h_nocontent(const struct tr_http_request *req,
                        struct tr_http_response *resp)
{
    (void)req;
    resp->status = 204;
    tr_buf_puts(&resp->body, "ignored");
}

static void h_form(const struct tr_http_request *req,
                   struct tr_http_response *resp)
{
    struct tr_slice v[4];
    size_t total;
    size_t n = tr_http_form_values(req, "a", v, 4, &total);
    for (size_t i = 0; i < n; i++) {
        tr_buf_printf(&resp->body, "%s%.*s", i ? "," : "", (int)v[i].len,
                      v[i].base);
    }
    resp->content_type = "text/plain";
}

static void h_metrics(const struct tr_http_request *req,
                      struct tr_http_response *resp)
{
    (void)req;
    resp->content_type = "text/plain; version=0.0.4";
    tr_selfmetrics_render(fx.metrics, &resp->body);
}

static void *loop_thread(void *arg)
{
    (void)arg;
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    return NULL;
}

static void on_shutdown_done(void *arg)
{
    (void)arg;
    fx.shutdown_done = 1;
}

static void on_stop(uv_async_t *a)
{
    tr_http_server_shutdown(fx.s, fx.shutdown_ms, on_shutdown_done, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

static void start_server(struct tr_http_server_config cfg)
{
    memset(&fx, 0, sizeof(fx));
    fx.shutdown_ms = 2000;
    cr_assert_eq(tr_selfmetrics_new(&fx.metrics), 0);
    cfg.version = 1;
    cfg.metrics = fx.metrics;
    cr_assert_eq(uv_loop_init(&fx.loop), 0);
    cr_assert_eq(tr_http_server_new(&fx.loop, &cfg, &fx.s), 0);
    tr_http_route(fx.s, TR_HTTP_POST | TR_HTTP_PUT, "/echo", 0, h_echo);
    tr_http_route(fx.s, TR_HTTP_GET, "/hello", TR_ROUTE_INLINE, h_hello);
    tr_http_route(fx.s, TR_HTTP_GET, "/work", 0, h_hello);
    tr_http_route(fx.s, TR_HTTP_GET, "/api/v1/label/{}/values", 0, h_label);
    tr_http_route(fx.s, TR_HTTP_GET, "/slow", 0, h_slow);
    tr_http_route(fx.s, TR_HTTP_POST, "/nocontent", 0, h_nocontent);
    tr_http_route(fx.s, TR_HTTP_GET | TR_HTTP_POST, "/form", 0, h_form);
    tr_http_route(fx.s, TR_HTTP_GET, "/metrics", 0, h_metrics);
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_http_listen(fx.s, "127.0.0.1:0", &fx.port, err), 0, "%s",
                 err);
    cr_assert_gt(fx.port, 0);
    uv_async_init(&fx.loop, &fx.stop, on_stop);
    pthread_create(&fx.thread, NULL, loop_thread, NULL);
}

static struct tr_http_server_config default_cfg(void)
{
    struct tr_http_server_config cfg = {
        .version = 1,
        .max_body_bytes = 1 << 20,
        .max_header_bytes = 16384,
        .header_timeout_ms = 5000,
        .body_timeout_ms = 5000,
        .idle_timeout_ms = 10000,
        .max_connections = 1000,
    };
    return cfg;
}

static void stop_server(void)
{
    uv_async_send(&fx.stop);
    pthread_join(fx.thread, NULL);
    cr_assert(fx.shutdown_done);
    tr_http_server_free(fx.s);
    cr_assert_eq(uv_loop_close(&fx.loop), 0);
    tr_selfmetrics_free(fx.metrics);
}

static void setup_default(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    start_server(default_cfg());
}

static void teardown_default(void)
{
    stop_server();
    curl_global_cleanup();
}

/* ---- curl helpers ------------------------------------------------------ */

struct reply {
    long status;
    struct tr_buf body;
    struct tr_buf headers;
};

static size_t on_data(char *p, size_t sz, size_t n, void *arg)
{
    tr_buf_append(arg, p, sz * n);
    return sz * n;
}

static void reply_free(struct reply *r)
{
    tr_buf_free(&r->body);
    tr_buf_free(&r->headers);
}

static void setup_easy(CURL *h,
                       struct reply *r,
                       const char *method,
                       const char *path,
                       const void *body,
                       long len,
                       struct curl_slist *hdrs)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", fx.port, path);
    memset(r, 0, sizeof(*r));
    tr_buf_init(&r->body);
    tr_buf_init(&r->headers);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, len);
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
                     strcmp(method, "HEAD") == 0 ||
                             strcmp(method, "GET") == 0 ||
                             strcmp(method, "POST") == 0
                         ? NULL
                         : method);
}

static CURLcode do_req(CURL *h,
                       struct reply *r,
                       const char *method,
                       const char *path,
                       const void *body,
                       long len,
                       struct curl_slist *hdrs)
{
    setup_easy(h, r, method, path, body, len, hdrs);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    return rc;
}

static bool has_header(const struct reply *r, const char *line)
{
    return r->headers.data && strcasestr(r->headers.data, line) != NULL;
}

/* ---- raw socket helpers ------------------------------------------------ */

static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)fx.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void raw_send(int fd, const char *s)
{
    size_t n = strlen(s);
    cr_assert_eq(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Reads until EOF (or timeout); returns the bytes (caller frees). */
static char *raw_read_all(int fd, size_t *len)
{
    struct tr_buf b;
    tr_buf_init(&b);
    char tmp[4096];
    for (;;) {
        ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        if (n <= 0) {
            break;
        }
        tr_buf_append(&b, tmp, (size_t)n);
    }
    tr_buf_putc(&b, '\0');
    b.len--;
    if (len) {
        *len = b.len;
    }
    return tr_buf_steal(&b, NULL);
}

/* Reads until s appears in the stream. */
static bool raw_read_until(int fd, struct tr_buf *b, const char *s)
{
    char tmp[4096];
    while (b->data == NULL || strstr(b->data, s) == NULL) {
        ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        if (n <= 0) {
            return false;
        }
        tr_buf_append(b, tmp, (size_t)n);
    }
    return true;
}

/* ---- tests ------------------------------------------------------------- */

TestSuite(http_server, .init = setup_default, .fini = teardown_default);

Test(http_server, get_keepalive_reuse)
{
    CURL *h = curl_easy_init();
    struct reply r;
    cr_assert_eq(do_req(h, &r, "GET", "/hello", NULL, 0, NULL), CURLE_OK);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body.data, "hello\n");
    cr_assert(has_header(&r, "Content-Type: text/plain; charset=utf-8"));
    cr_assert(has_header(&r, "Content-Length: 6"));
    reply_free(&r);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(do_req(h, &r, "GET", "/work", NULL, 0, NULL), CURLE_OK);
        cr_assert_eq(r.status, 200);
        long nc = -1;
        curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nc);
        cr_assert_eq(nc, 0, "connection was not reused");
        reply_free(&r);
    }
    curl_easy_cleanup(h);
}

Test(http_server, routing_404_405_head_params)
{
    CURL *h = curl_easy_init();
    struct reply r;
    do_req(h, &r, "GET", "/nope", NULL, 0, NULL);
    cr_assert_eq(r.status, 404);
    cr_assert(strstr(r.body.data, "not found") != NULL);
    reply_free(&r);
    do_req(h, &r, "DELETE", "/hello", NULL, 0, NULL);
    cr_assert_eq(r.status, 405);
    cr_assert(has_header(&r, "Allow: GET, HEAD"), "%s", r.headers.data);
    reply_free(&r);
    do_req(h, &r, "POST", "/hello", "x", 1, NULL);
    cr_assert_eq(r.status, 405);
    reply_free(&r);
    do_req(h, &r, "HEAD", "/hello", NULL, 0, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert(has_header(&r, "Content-Length: 6"));
    cr_assert_eq(r.body.len, 0);
    reply_free(&r);
    do_req(h, &r, "GET", "/api/v1/label/job%20name/values", NULL, 0, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body.data, "1:job name|/api/v1/label/{}/values");
    reply_free(&r);
    do_req(h, &r, "GET", "/api/v1/label//values", NULL, 0, NULL);
    cr_assert_eq(r.status, 404);
    reply_free(&r);
    do_req(h, &r, "POST", "/nocontent", "abc", 3, NULL);
    cr_assert_eq(r.status, 204);
    cr_assert(!has_header(&r, "Content-Length"));
    cr_assert_eq(r.body.len, 0);
    reply_free(&r);
    /* the connection survived all of the above */
    do_req(h, &r, "GET", "/hello", NULL, 0, NULL);
    long nc = -1;
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nc);
    cr_assert_eq(nc, 0);
    reply_free(&r);
    curl_easy_cleanup(h);
}

Test(http_server, form_values)
{
    CURL *h = curl_easy_init();
    struct reply r;
    do_req(h, &r, "POST", "/form?a=q1", "a=b1&a=b+2", 10, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body.data, "b1,b 2,q1");
    reply_free(&r);
    do_req(h, &r, "GET", "/form?a=%41&b=1", NULL, 0, NULL);
    cr_assert_str_eq(r.body.data, "A");
    reply_free(&r);
    curl_easy_cleanup(h);
}

struct src {
    const char *p;
    size_t left;
};

static size_t on_read_src(char *buf, size_t sz, size_t n, void *arg)
{
    struct src *s = arg;
    size_t take = sz * n < s->left ? sz * n : s->left;
    if (take > 1000) {
        take = 1000; /* many chunks */
    }
    memcpy(buf, s->p, take);
    s->p += take;
    s->left -= take;
    return take;
}

Test(http_server, chunked_upload)
{
    size_t n = 100000;
    char *data = malloc(n);
    for (size_t i = 0; i < n; i++) {
        data[i] = (char)('a' + i % 26);
    }
    CURL *h = curl_easy_init();
    struct reply r;
    struct src s = {data, n};
    struct curl_slist *hd =
        curl_slist_append(NULL, "Transfer-Encoding: chunked");
    setup_easy(h, &r, "POST", "/echo", NULL, 0, hd);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read_src);
    curl_easy_setopt(h, CURLOPT_READDATA, &s);
    cr_assert_eq(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body.len, n);
    cr_assert(memcmp(r.body.data, data, n) == 0);
    cr_assert(has_header(&r, "X-Decoded: 0"));
    cr_assert(has_header(&r, "X-Remote: 127.0.0.1:"));
    reply_free(&r);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    free(data);
}

static void post_encoded(CURL *h,
                         const char *enc,
                         const struct tr_buf *body,
                         struct reply *r)
{
    char hv[64];
    snprintf(hv, sizeof(hv), "Content-Encoding: %s", enc);
    struct curl_slist *hd = curl_slist_append(NULL, hv);
    do_req(h, r, "POST", "/echo", body->data, (long)body->len, hd);
    curl_slist_free_all(hd);
}

Test(http_server, encoded_bodies)
{
    const char *text =
        "the quick brown fox jumps over the lazy dog, "
        "the quick brown fox jumps over the lazy dog";
    size_t tl = strlen(text);
    CURL *h = curl_easy_init();
    struct reply r;
    struct tr_buf b;

    tr_buf_init(&b);
    tr_gzip_encode(text, tl, &b);
    post_encoded(h, "gzip", &b, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body.len, tl);
    cr_assert(memcmp(r.body.data, text, tl) == 0);
    cr_assert(has_header(&r, "X-Decoded: 1"));
    reply_free(&r);
    tr_buf_free(&b);

    tr_buf_init(&b);
    tr_snappy_encode(text, tl, &b);
    post_encoded(h, "snappy", &b, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body.data, text);
    reply_free(&r);
    tr_buf_free(&b);

    /* zlib-wrapped deflate */
    tr_buf_init(&b);
    uLongf cl = compressBound((uLong)tl);
    tr_buf_reserve(&b, cl);
    compress((Bytef *)b.data, &cl, (const Bytef *)text, (uLong)tl);
    b.len = cl;
    post_encoded(h, "deflate", &b, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body.data, text);
    reply_free(&r);
    /* raw deflate: strip the 2-byte zlib header and 4-byte adler */
    struct tr_buf raw;
    tr_buf_init(&raw);
    tr_buf_append(&raw, b.data + 2, b.len - 6);
    post_encoded(h, "deflate", &raw, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body.data, text);
    reply_free(&r);
    tr_buf_free(&raw);
    tr_buf_free(&b);

    /* corrupt snappy */
    tr_buf_init(&b);
    tr_buf_puts(&b, "\xff\x01garbage");
    post_encoded(h, "snappy", &b, &r);
    cr_assert_eq(r.status, 400);
    cr_assert_str_eq(r.body.data, "snappy: corrupt input\n");
    reply_free(&r);
    post_encoded(h, "gzip", &b, &r);
    cr_assert_eq(r.status, 400);
    cr_assert(strncmp(r.body.data, "gzip: ", 6) == 0, "%s", r.body.data);
    reply_free(&r);
    post_encoded(h, "br", &b, &r);
    cr_assert_eq(r.status, 415);
    cr_assert(strstr(r.body.data, "\"br\"") != NULL);
    reply_free(&r);
    tr_buf_free(&b);
    curl_easy_cleanup(h);
}

Test(http_server, body_limits_413)
{
    CURL *h = curl_easy_init();
    struct reply r;
    size_t n = (1 << 20) + 1;
    char *big = calloc(1, n);
    /* raw too large (Content-Length known up front) */
    do_req(h, &r, "POST", "/echo", big, (long)n, NULL);
    cr_assert_eq(r.status, 413);
    cr_assert(strstr(r.body.data, "too large") != NULL);
    cr_assert(has_header(&r, "Connection: close"));
    reply_free(&r);
    /* decoded too large: a gzip bomb of 8 MiB zeros */
    size_t zn = 8u << 20;
    char *zeros = calloc(1, zn);
    struct tr_buf b;
    tr_buf_init(&b);
    tr_gzip_encode(zeros, zn, &b);
    cr_assert_lt(b.len, 1 << 20);
    post_encoded(h, "gzip", &b, &r);
    cr_assert_eq(r.status, 413);
    cr_assert(strstr(r.body.data, "exceeds limit") != NULL, "%s", r.body.data);
    reply_free(&r);
    /* exact limit is fine */
    do_req(h, &r, "POST", "/echo", big, (long)(n - 1), NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body.len, n - 1);
    reply_free(&r);
    tr_buf_free(&b);
    free(zeros);
    free(big);
    curl_easy_cleanup(h);
}

Test(http_server, small_body_413_no_reset)
{
    /* A body sent in full before the 413: the lingering close lets the
     * client read the response instead of getting a reset. */
    int fd = raw_connect();
    char req[4096];
    snprintf(req, sizeof(req),
             "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
             "chunked\r\n\r\n");
    raw_send(fd, req);
    /* 2 MiB in chunks */
    char *chunk = malloc(65536 + 16);
    int hl = snprintf(chunk, 16, "10000\r\n");
    memset(chunk + hl, 'x', 65536);
    memcpy(chunk + hl + 65536, "\r\n", 2);
    for (int i = 0; i < 32; i++) {
        if (send(fd, chunk, (size_t)hl + 65538, MSG_NOSIGNAL) < 0) {
            break;
        }
    }
    free(chunk);
    size_t len;
    char *resp = raw_read_all(fd, &len);
    cr_assert(strncmp(resp, "HTTP/1.1 413 ", 13) == 0, "%s", resp);
    tr_free(resp);
    close(fd);
}

Test(http_server, expect_continue)
{
    int fd = raw_connect();
    raw_send(fd,
             "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
             "Expect: 100-continue\r\n\r\n");
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert(raw_read_until(fd, &b, "\r\n\r\n"));
    cr_assert_str_eq(b.data, "HTTP/1.1 100 Continue\r\n\r\n");
    raw_send(fd, "hello");
    tr_buf_reset(&b);
    cr_assert(raw_read_until(fd, &b, "hello"));
    cr_assert(strncmp(b.data, "HTTP/1.1 200 OK\r\n", 17) == 0);
    tr_buf_free(&b);
    close(fd);
}

Test(http_server, pipelining_in_order)
{
    int fd = raw_connect();
    raw_send(fd,
             "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n"
             "GET /hello HTTP/1.1\r\nHost: h\r\n\r\n"
             "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n"
             "ping"
             "GET /nope HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    size_t len;
    char *all = raw_read_all(fd, &len);
    const char *a = strstr(all, "slow\n");
    const char *b = strstr(all, "hello\n");
    const char *c = strstr(all, "ping");
    const char *d = strstr(all, "HTTP/1.1 404");
    cr_assert(a && b && c && d, "%s", all);
    cr_assert(a < b && b < c && c < d);
    cr_assert(strstr(d, "Connection: close\r\n") != NULL);
    tr_free(all);
    close(fd);
}

Test(http_server, bad_framing_400)
{
    int fd = raw_connect();
    raw_send(fd,
             "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
             "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    char *all = raw_read_all(fd, NULL);
    cr_assert(strncmp(all, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%s", all);
    cr_assert(strstr(all, "both Content-Length and Transfer-Encoding") != NULL);
    cr_assert(strstr(all, "Connection: close") != NULL);
    tr_free(all);
    close(fd);

    fd = raw_connect();
    char big[20000];
    int n = snprintf(big, sizeof(big), "GET /hello HTTP/1.1\r\nHost: h\r\n");
    memset(big + n, 'a', 17000);
    big[n + 17000] = '\0';
    raw_send(fd, big);
    all = raw_read_all(fd, NULL);
    cr_assert(strncmp(all, "HTTP/1.1 431 ", 13) == 0, "%s", all);
    tr_free(all);
    close(fd);
}

Test(http_server, http10)
{
    int fd = raw_connect();
    raw_send(fd, "GET /hello HTTP/1.0\r\n\r\n");
    char *all = raw_read_all(fd, NULL);
    cr_assert(strncmp(all, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", all);
    cr_assert(strstr(all, "Connection: close") != NULL);
    tr_free(all);
    close(fd);
    fd = raw_connect();
    raw_send(fd, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert(raw_read_until(fd, &b, "hello\n"));
    cr_assert(strstr(b.data, "Connection: keep-alive") != NULL);
    raw_send(fd, "GET /hello HTTP/1.0\r\n\r\n");
    cr_assert(raw_read_until(fd, &b, "Connection: close"));
    tr_buf_free(&b);
    close(fd);
}

static void concurrent_round(CURLM *m, CURL **hs, struct reply *rs, int n)
{
    for (int i = 0; i < n; i++) {
        setup_easy(hs[i], &rs[i], "GET", i % 2 ? "/work" : "/hello", NULL, 0,
                   NULL);
        curl_multi_add_handle(m, hs[i]);
    }
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        if (running) {
            curl_multi_poll(m, NULL, 0, 100, NULL);
        }
    }
    CURLMsg *msg;
    int left;
    int ok = 0;
    while ((msg = curl_multi_info_read(m, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE && msg->data.result == CURLE_OK) {
            ok++;
        }
    }
    cr_assert_eq(ok, n);
    for (int i = 0; i < n; i++) {
        curl_easy_getinfo(hs[i], CURLINFO_RESPONSE_CODE, &rs[i].status);
        cr_assert_eq(rs[i].status, 200);
        cr_assert_str_eq(rs[i].body.data, "hello\n");
        curl_multi_remove_handle(m, hs[i]);
        reply_free(&rs[i]);
    }
}

Test(http_server, concurrent_200_keepalive)
{
    enum { N = 200 };
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)N);
    static CURL *hs[N];
    static struct reply rs[N];
    for (int i = 0; i < N; i++) {
        hs[i] = curl_easy_init();
    }
    concurrent_round(m, hs, rs, N);
    concurrent_round(m, hs, rs, N);
    /* metrics: 400 requests, connections gauge > 0 while curl holds them */
    CURL *h = curl_easy_init();
    struct reply r;
    do_req(h, &r, "GET", "/metrics", NULL, 0, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body.data,
                     "triad_http_requests_total{route=\"/hello\",method="
                     "\"GET\",status=\"200\"} 200\n") != NULL,
              "%s", r.body.data);
    cr_assert(strstr(r.body.data, "triad_http_connections 2") != NULL, "%s",
              r.body.data);
    cr_assert(strstr(r.body.data,
                     "triad_http_request_duration_seconds_count{route=\""
                     "/work\"} 200\n") != NULL);
    reply_free(&r);
    curl_easy_cleanup(h);
    for (int i = 0; i < N; i++) {
        curl_easy_cleanup(hs[i]);
    }
    curl_multi_cleanup(m);
}

/* ---- tests with their own configuration -------------------------------- */

static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

Test(http_server_cfg, timeouts, .init = curl_init)
{
    struct tr_http_server_config cfg = default_cfg();
    cfg.header_timeout_ms = 200;
    cfg.body_timeout_ms = 300;
    cfg.idle_timeout_ms = 250;
    start_server(cfg);
    /* header timeout */
    int fd = raw_connect();
    raw_send(fd, "GET /hello HTTP/1.1\r\nHost: h\r\n");
    char *all = raw_read_all(fd, NULL);
    cr_assert(strncmp(all, "HTTP/1.1 408 Request Timeout\r\n", 30) == 0, "%s",
              all);
    cr_assert(strstr(all, "headers not received") != NULL);
    tr_free(all);
    close(fd);
    /* body timeout */
    fd = raw_connect();
    raw_send(fd,
             "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n"
             "abc");
    all = raw_read_all(fd, NULL);
    cr_assert(strncmp(all, "HTTP/1.1 408 ", 13) == 0, "%s", all);
    cr_assert(strstr(all, "body not received") != NULL);
    tr_free(all);
    close(fd);
    /* idle keep-alive timeout: one request, then silence -> EOF */
    fd = raw_connect();
    raw_send(fd, "GET /hello HTTP/1.1\r\nHost: h\r\n\r\n");
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert(raw_read_until(fd, &b, "hello\n"));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char tmp[16];
    cr_assert_eq(recv(fd, tmp, sizeof(tmp), 0), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms =
        (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    cr_assert(ms >= 150 && ms < 3000, "closed after %ld ms", ms);
    tr_buf_free(&b);
    close(fd);
    /* a connection that sends nothing is closed by the header timeout */
    fd = raw_connect();
    all = raw_read_all(fd, NULL);
    cr_assert_str_eq(all, "");
    tr_free(all);
    close(fd);
    stop_server();
    curl_global_cleanup();
}

Test(http_server_cfg, max_connections, .init = curl_init)
{
    struct tr_http_server_config cfg = default_cfg();
    cfg.max_connections = 2;
    start_server(cfg);
    int fds[2];
    for (int i = 0; i < 2; i++) {
        fds[i] = raw_connect();
        raw_send(fds[i], "GET /hello HTTP/1.1\r\nHost: h\r\n\r\n");
        struct tr_buf b;
        tr_buf_init(&b);
        cr_assert(raw_read_until(fds[i], &b, "hello\n"));
        tr_buf_free(&b);
    }
    int fd = raw_connect();
    raw_send(fd, "GET /hello HTTP/1.1\r\nHost: h\r\n\r\n");
    char *all = raw_read_all(fd, NULL);
    cr_assert_str_eq(all, "");
    tr_free(all);
    close(fd);
    close(fds[0]);
    sleep_ms(100);
    fd = raw_connect();
    raw_send(fd, "GET /hello HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    all = raw_read_all(fd, NULL);
    cr_assert(strstr(all, "hello\n") != NULL, "%s", all);
    tr_free(all);
    close(fd);
    close(fds[1]);
    stop_server();
    curl_global_cleanup();
}

Test(http_server_cfg, graceful_shutdown_finishes_in_flight, .init = curl_init)
{
    start_server(default_cfg());
    int fd = raw_connect();
    int idle = raw_connect();
    raw_send(fd, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
    sleep_ms(100);
    uv_async_send(&fx.stop);
    char *all = raw_read_all(fd, NULL);
    cr_assert(strncmp(all, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", all);
    cr_assert(strstr(all, "Connection: close") != NULL);
    cr_assert(strstr(all, "slow\n") != NULL);
    tr_free(all);
    all = raw_read_all(idle, NULL);
    cr_assert_str_eq(all, "");
    tr_free(all);
    close(fd);
    close(idle);
    pthread_join(fx.thread, NULL);
    cr_assert(fx.shutdown_done);
    tr_http_server_free(fx.s);
    cr_assert_eq(uv_loop_close(&fx.loop), 0);
    tr_selfmetrics_free(fx.metrics);
    curl_global_cleanup();
}

Test(http_server_cfg, shutdown_timeout_forces_close, .init = curl_init)
{
    start_server(default_cfg());
    fx.shutdown_ms = 50;
    int fd = raw_connect();
    raw_send(fd, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
    sleep_ms(50);
    uv_async_send(&fx.stop);
    char *all = raw_read_all(fd, NULL);
    cr_assert_str_eq(all, "");
    tr_free(all);
    close(fd);
    pthread_join(fx.thread, NULL);
    cr_assert(fx.shutdown_done);
    tr_http_server_free(fx.s);
    cr_assert_eq(uv_loop_close(&fx.loop), 0);
    tr_selfmetrics_free(fx.metrics);
    curl_global_cleanup();
}
