/* test_http_ws.c - WebSocket connections end to end (server/http_ws.c and
 * the upgrade path of server/http.c): a real server on 127.0.0.1 (port 0)
 * running its own uv loop in a thread, and raw TCP clients that do the
 * handshake and speak frames (server/ws.c encodes and parses them on the
 * client side too). Every socket read has SO_RCVTIMEO (no criterion
 * .timeout, as in test_http_server.c). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "lib/err.h"
#include "lib/selfmetrics.h"
#include "server/http.h"
#include "server/ws.h"

static const uint8_t mask_key[4] = {1, 2, 3, 4};

/* ---- what the server side saw ------------------------------------------ */

static atomic_int n_open, n_close;
static atomic_uint last_code;
static atomic_int flood_ok, flood_busy, flood_toolarge, send_after_close;
static pthread_t poster;
static atomic_int poster_started, poster_failed;

static void on_close_rec(struct tr_ws_conn *w, unsigned code, void *user)
{
    (void)w;
    (void)user;
    atomic_store(&last_code, code);
    atomic_fetch_add(&n_close, 1);
}

static void on_open_rec(struct tr_ws_conn *w, void *user)
{
    (void)w;
    (void)user;
    atomic_fetch_add(&n_open, 1);
}

/* Echoes messages; "close-me" makes the server close with 4000. */
static void on_echo(struct tr_ws_conn *w,
                    enum tr_ws_opcode op,
                    const char *data,
                    size_t len,
                    void *user)
{
    (void)user;
    if (op == TR_WS_OP_TEXT && len == 8 && memcmp(data, "close-me", 8) == 0) {
        cr_assert_eq(tr_ws_close(w, 4000, "asked"), 0);
        atomic_store(&send_after_close, tr_ws_send_text(w, "x", 1));
        return;
    }
    if (op == TR_WS_OP_TEXT) {
        tr_ws_send_text(w, data, len);
    } else {
        tr_ws_send_binary(w, data, len);
    }
}

static void h_echo(const struct tr_http_request *req,
                   struct tr_http_response *resp)
{
    struct tr_ws_handler h = {
        .version = 1,
        .on_open = on_open_rec,
        .on_message = on_echo,
        .on_close = on_close_rec,
        .max_message_bytes = 100000,
    };
    tr_http_ws_upgrade(req, resp, &h, NULL);
}

static void *poster_main(void *arg)
{
    struct tr_ws_conn *w = arg;
    for (int i = 0; i < 100; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof(msg), "msg %d", i);
        if (tr_ws_post_text(w, msg, (size_t)n) != 0) {
            atomic_store(&poster_failed, 1);
        }
    }
    if (tr_ws_post_close(w, 1000, "done") != 0 ||
        tr_ws_post_text(w, "late", 4) != TR_ECANCELED) {
        atomic_store(&poster_failed, 1);
    }
    tr_ws_conn_unref(w);
    return NULL;
}

/* Hands the connection to another thread that posts 100 messages. */
static void on_open_post(struct tr_ws_conn *w, void *user)
{
    (void)user;
    atomic_fetch_add(&n_open, 1);
    tr_ws_conn_ref(w);
    pthread_create(&poster, NULL, poster_main, w);
    atomic_store(&poster_started, 1);
}

static void h_post(const struct tr_http_request *req,
                   struct tr_http_response *resp)
{
    struct tr_ws_handler h = {
        .version = 1,
        .on_open = on_open_post,
        .on_close = on_close_rec,
    };
    tr_http_ws_upgrade(req, resp, &h, NULL);
}

/* Sends 16 KiB messages until the 40 KiB queue bound refuses one. */
static void on_open_flood(struct tr_ws_conn *w, void *user)
{
    (void)user;
    static char big[16384];
    memset(big, 'f', sizeof(big));
    atomic_store(&flood_toolarge,
                 tr_ws_send_text(w, big, 0) == 0 && tr_ws_queued_bytes(w) > 0);
    char huge[50000];
    memset(huge, 'h', sizeof(huge));
    if (tr_ws_send_text(w, huge, sizeof(huge)) != TR_ETOOLARGE) {
        atomic_store(&flood_toolarge, 0);
    }
    for (int i = 0; i < 10; i++) {
        int rv = tr_ws_send_text(w, big, sizeof(big));
        if (rv == 0) {
            atomic_fetch_add(&flood_ok, 1);
        } else if (rv == TR_EBUSY) {
            atomic_fetch_add(&flood_busy, 1);
        }
    }
    tr_ws_close(w, TR_WS_CLOSE_NORMAL, "flooded");
}

static void h_flood(const struct tr_http_request *req,
                    struct tr_http_response *resp)
{
    struct tr_ws_handler h = {
        .version = 1,
        .on_open = on_open_flood,
        .on_close = on_close_rec,
        .max_queued_bytes = 40 * 1024,
    };
    tr_http_ws_upgrade(req, resp, &h, NULL);
}

static void h_ping(const struct tr_http_request *req,
                   struct tr_http_response *resp)
{
    struct tr_ws_handler h = {
        .version = 1,
        .on_open = on_open_rec,
        .on_close = on_close_rec,
        .ping_interval_ms = 100,
        .pong_timeout_ms = 300,
    };
    tr_http_ws_upgrade(req, resp, &h, NULL);
}

/* Closes at once and waits 200 ms for the peer's close frame. */
static void on_open_closer(struct tr_ws_conn *w, void *user)
{
    (void)user;
    atomic_fetch_add(&n_open, 1);
    cr_assert_eq(tr_ws_close(w, 999, NULL), TR_EINVAL);
    cr_assert_eq(tr_ws_close(w, 3001, "not now"), 0);
    cr_assert_eq(tr_ws_close(w, 3001, "twice"), TR_ECANCELED);
}

static void h_closer(const struct tr_http_request *req,
                     struct tr_http_response *resp)
{
    struct tr_ws_handler h = {
        .version = 1,
        .on_open = on_open_closer,
        .on_close = on_close_rec,
        .close_timeout_ms = 200,
    };
    tr_http_ws_upgrade(req, resp, &h, NULL);
}

/* Accepts, then answers with a plain response after all. */
static void h_abandon(const struct tr_http_request *req,
                      struct tr_http_response *resp)
{
    struct tr_ws_handler h = {
        .version = 1,
        .on_open = on_open_rec,
        .on_close = on_close_rec,
    };
    cr_assert_eq(tr_http_ws_upgrade(req, resp, &h, NULL), 0);
    cr_assert_eq(tr_http_ws_upgrade(req, resp, &h, NULL), TR_EINVAL);
    tr_http_resp_text(resp, 200, "changed my mind");
}

static void h_plain(const struct tr_http_request *req,
                    struct tr_http_response *resp)
{
    (void)req;
    tr_http_resp_text(resp, 200, "plain");
}

/* ---- server fixture ---------------------------------------------------- */

struct fixture {
    uv_loop_t loop;
    uv_async_t stop;
    pthread_t thread;
    struct tr_http_server *s;
    struct tr_selfmetrics *metrics;
    int port;
    atomic_int shutdown_done;
    atomic_int stop_sent;
};

static struct fixture fx;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
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
    atomic_store(&fx.shutdown_done, 1);
}

static void on_stop(uv_async_t *a)
{
    tr_http_server_shutdown(fx.s, 3000, on_shutdown_done, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

static void start_server(void)
{
    memset(&fx, 0, sizeof(fx));
    atomic_store(&n_open, 0);
    atomic_store(&n_close, 0);
    atomic_store(&last_code, 0);
    cr_assert_eq(tr_selfmetrics_new(&fx.metrics), 0);
    struct tr_http_server_config cfg = {
        .version = 1,
        .max_body_bytes = 1 << 20,
        .max_header_bytes = 16384,
        .header_timeout_ms = 5000,
        .body_timeout_ms = 5000,
        .idle_timeout_ms = 10000,
        .max_connections = 100,
        .metrics = fx.metrics,
    };
    cr_assert_eq(uv_loop_init(&fx.loop), 0);
    cr_assert_eq(tr_http_server_new(&fx.loop, &cfg, &fx.s), 0);
    tr_http_route(fx.s, TR_HTTP_GET, "/ws/echo", 0, h_echo);
    tr_http_route(fx.s, TR_HTTP_GET, "/ws/inline", TR_ROUTE_INLINE, h_echo);
    tr_http_route(fx.s, TR_HTTP_GET, "/ws/post", 0, h_post);
    tr_http_route(fx.s, TR_HTTP_GET, "/ws/flood", 0, h_flood);
    tr_http_route(fx.s, TR_HTTP_GET, "/ws/ping", 0, h_ping);
    tr_http_route(fx.s, TR_HTTP_GET, "/plain", 0, h_plain);
    tr_http_route(fx.s, TR_HTTP_GET, "/ws/abandon", 0, h_abandon);
    tr_http_route(fx.s, TR_HTTP_GET, "/ws/closer", TR_ROUTE_INLINE, h_closer);
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_http_listen(fx.s, "127.0.0.1:0", &fx.port, err), 0, "%s",
                 err);
    uv_async_init(&fx.loop, &fx.stop, on_stop);
    pthread_create(&fx.thread, NULL, loop_thread, NULL);
}

static void send_stop(void)
{
    if (atomic_exchange(&fx.stop_sent, 1) == 0) {
        uv_async_send(&fx.stop);
    }
}

static void stop_server(void)
{
    send_stop();
    pthread_join(fx.thread, NULL);
    cr_assert(atomic_load(&fx.shutdown_done));
    tr_http_server_free(fx.s);
    cr_assert_eq(uv_loop_close(&fx.loop), 0);
    tr_selfmetrics_free(fx.metrics);
}

/* Waits until the server reported n closes. */
static void wait_closes(int n)
{
    for (int i = 0; i < 300 && atomic_load(&n_close) < n; i++) {
        sleep_ms(10);
    }
    cr_assert_eq(atomic_load(&n_close), n);
}

/* ---- client side ------------------------------------------------------- */

struct client {
    int fd;
    struct tr_ws_parser p;
    struct tr_buf in; /* received, not yet parsed */
};

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

static void send_all(int fd, const void *p, size_t n)
{
    cr_assert_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Reads the HTTP response head; the bytes after it stay in c->in. */
static void read_head(struct client *c, struct tr_buf *head)
{
    char tmp[4096];
    for (;;) {
        char *end = c->in.data ? strstr(c->in.data, "\r\n\r\n") : NULL;
        if (end != NULL) {
            size_t hl = (size_t)(end + 4 - c->in.data);
            tr_buf_append(head, c->in.data, hl);
            memmove(c->in.data, c->in.data + hl, c->in.len - hl);
            c->in.len -= hl;
            c->in.data[c->in.len] = '\0';
            return;
        }
        ssize_t n = recv(c->fd, tmp, sizeof(tmp), 0);
        cr_assert_gt(n, 0, "connection ended before the response head");
        tr_buf_append(&c->in, tmp, (size_t)n);
    }
}

#define HANDSHAKE_FMT                                              \
    "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" \
    "Connection: Upgrade\r\n"                                      \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"              \
    "Sec-WebSocket-Version: 13\r\n\r\n"

/* Connects and upgrades; extra (may be NULL) is sent right after the
 * request in the same packet. */
static void ws_open(struct client *c,
                    const char *path,
                    const struct tr_buf *extra)
{
    memset(c, 0, sizeof(*c));
    tr_buf_init(&c->in);
    tr_ws_parser_init(&c->p, 1 << 20, false);
    c->fd = raw_connect();
    struct tr_buf req;
    tr_buf_init(&req);
    tr_buf_printf(&req, HANDSHAKE_FMT, path);
    if (extra) {
        tr_buf_append(&req, extra->data, extra->len);
    }
    send_all(c->fd, req.data, req.len);
    tr_buf_free(&req);
    struct tr_buf head;
    tr_buf_init(&head);
    read_head(c, &head);
    cr_assert(
        strncmp(head.data, "HTTP/1.1 101 Switching Protocols\r\n", 34) == 0,
        "%s", head.data);
    cr_assert(strstr(head.data, "Upgrade: websocket\r\n"), "%s", head.data);
    cr_assert(strstr(head.data, "Connection: Upgrade\r\n"), "%s", head.data);
    cr_assert(strstr(head.data,
                     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
              "%s", head.data);
    cr_assert_null(strstr(head.data, "Content-Length"), "%s", head.data);
    tr_buf_free(&head);
}

static void ws_client_free(struct client *c)
{
    close(c->fd);
    tr_ws_parser_free(&c->p);
    tr_buf_free(&c->in);
}

/* A masked frame from the client. */
static void ws_send(struct client *c,
                    enum tr_ws_opcode op,
                    bool fin,
                    const char *s,
                    size_t n)
{
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_ws_frame_append(&b, op, fin, s, n, mask_key), 0);
    send_all(c->fd, b.data, b.len);
    tr_buf_free(&b);
}

/* The next event from the server; payload copied to out (NUL-terminated).
 * Returns TR_WS_NEED_MORE at EOF or timeout. */
static enum tr_ws_result ws_next(struct client *c,
                                 struct tr_buf *out,
                                 uint16_t *code)
{
    char tmp[8192];
    tr_buf_reset(out);
    for (;;) {
        if (c->in.len > 0) {
            size_t used;
            struct tr_ws_event ev;
            enum tr_ws_result r =
                tr_ws_parse(&c->p, c->in.data, c->in.len, &used, &ev);
            if (r != TR_WS_NEED_MORE) {
                tr_buf_append(
                    out, r == TR_WS_CLOSE ? ev.reason.base : ev.payload.base,
                    r == TR_WS_CLOSE ? ev.reason.len : ev.payload.len);
                tr_buf_putc(out, '\0');
                out->len--;
                if (code) {
                    *code = ev.close_code;
                }
            }
            memmove(c->in.data, c->in.data + used, c->in.len - used);
            c->in.len -= used;
            cr_assert_neq(r, TR_WS_ERROR, "bad frame from server: %s",
                          c->p.errmsg);
            if (r != TR_WS_NEED_MORE) {
                return r;
            }
        }
        ssize_t n = recv(c->fd, tmp, sizeof(tmp), 0);
        if (n <= 0) {
            return TR_WS_NEED_MORE;
        }
        tr_buf_append(&c->in, tmp, (size_t)n);
    }
}

static void expect(struct client *c,
                   enum tr_ws_result want,
                   const char *payload)
{
    struct tr_buf b;
    tr_buf_init(&b);
    enum tr_ws_result r = ws_next(c, &b, NULL);
    cr_assert_eq(r, want, "got event %d", r);
    cr_assert_str_eq(b.data ? b.data : "", payload);
    tr_buf_free(&b);
}

static void expect_close(struct client *c, uint16_t code, const char *reason)
{
    struct tr_buf b;
    tr_buf_init(&b);
    uint16_t got = 0;
    cr_assert_eq(ws_next(c, &b, &got), TR_WS_CLOSE);
    cr_assert_eq(got, code);
    cr_assert_str_eq(b.data ? b.data : "", reason);
    tr_buf_free(&b);
}

/* The server closed the TCP connection (EOF, no more bytes). */
static void expect_eof(struct client *c)
{
    char tmp[64];
    cr_assert_eq(recv(c->fd, tmp, sizeof(tmp), 0), 0);
}

/* ---- tests ------------------------------------------------------------- */

TestSuite(http_ws, .init = start_server, .fini = stop_server);

Test(http_ws, echo_ping_and_clean_close)
{
    const char *paths[] = {"/ws/echo", "/ws/inline"};
    for (int k = 0; k < 2; k++) {
        struct client c;
        ws_open(&c, paths[k], NULL);
        ws_send(&c, TR_WS_OP_TEXT, true, "hello", 5);
        expect(&c, TR_WS_MESSAGE, "hello");
        ws_send(&c, TR_WS_OP_BINARY, true, "bin", 3);
        expect(&c, TR_WS_MESSAGE, "bin");
        ws_send(&c, TR_WS_OP_PING, true, "p1", 2);
        expect(&c, TR_WS_PONG, "p1");
        /* fragmented, with a ping in the middle */
        ws_send(&c, TR_WS_OP_TEXT, false, "frag", 4);
        ws_send(&c, TR_WS_OP_PING, true, "", 0);
        ws_send(&c, TR_WS_OP_CONT, true, "mented", 6);
        expect(&c, TR_WS_PONG, "");
        expect(&c, TR_WS_MESSAGE, "fragmented");
        /* a 70000-byte message (64-bit length both ways) */
        char *big = malloc(70001);
        memset(big, 'b', 70000);
        big[70000] = '\0';
        ws_send(&c, TR_WS_OP_TEXT, true, big, 70000);
        expect(&c, TR_WS_MESSAGE, big);
        free(big);
        struct tr_buf cl;
        tr_buf_init(&cl);
        tr_ws_close_append(&cl, 1000, "bye", 3, mask_key);
        send_all(c.fd, cl.data, cl.len);
        tr_buf_free(&cl);
        expect_close(&c, 1000, "");
        expect_eof(&c);
        ws_client_free(&c);
        wait_closes(k + 1);
        cr_assert_eq(atomic_load(&last_code), 1000);
    }
    cr_assert_eq(atomic_load(&n_open), 2);
}

Test(http_ws, frames_sent_with_the_request)
{
    struct tr_buf extra;
    tr_buf_init(&extra);
    tr_ws_frame_append(&extra, TR_WS_OP_TEXT, true, "early", 5, mask_key);
    struct client c;
    ws_open(&c, "/ws/echo", &extra);
    tr_buf_free(&extra);
    expect(&c, TR_WS_MESSAGE, "early");
    ws_client_free(&c); /* no close frame: the server sees 1006 */
    wait_closes(1);
    cr_assert_eq(atomic_load(&last_code), TR_WS_CLOSE_ABNORMAL);
}

Test(http_ws, rejected_handshakes)
{
    /* missing key: 400, and the connection stays HTTP */
    int fd = raw_connect();
    const char *req =
        "GET /ws/echo HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"
        "GET /plain HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    send_all(fd, req, strlen(req));
    struct client c = {.fd = fd};
    tr_buf_init(&c.in);
    struct tr_buf head;
    tr_buf_init(&head);
    read_head(&c, &head);
    cr_assert(strncmp(head.data, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%s",
              head.data);
    tr_buf_reset(&head);
    char tmp[4096];
    ssize_t n;
    while ((n = recv(fd, tmp, sizeof(tmp), 0)) > 0) {
        tr_buf_append(&c.in, tmp, (size_t)n);
    }
    cr_assert(strstr(c.in.data, "missing Sec-WebSocket-Key header"), "%s",
              c.in.data);
    cr_assert(strstr(c.in.data, "HTTP/1.1 200 OK"), "%s", c.in.data);
    cr_assert(strstr(c.in.data, "plain\n"), "%s", c.in.data);
    close(fd);
    /* version 8: 426 with the supported version */
    fd = raw_connect();
    req =
        "GET /ws/echo HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Connection: close\r\n\r\n";
    send_all(fd, req, strlen(req));
    tr_buf_reset(&c.in);
    c.fd = fd;
    while ((n = recv(fd, tmp, sizeof(tmp), 0)) > 0) {
        tr_buf_append(&c.in, tmp, (size_t)n);
    }
    cr_assert(strncmp(c.in.data, "HTTP/1.1 426 Upgrade Required\r\n", 31) == 0,
              "%s", c.in.data);
    cr_assert(strstr(c.in.data, "Sec-WebSocket-Version: 13\r\n"), "%s",
              c.in.data);
    close(fd);
    tr_buf_free(&head);
    tr_buf_free(&c.in);
    sleep_ms(50);
    cr_assert_eq(atomic_load(&n_open), 0);
    cr_assert_eq(atomic_load(&n_close), 0);
}

Test(http_ws, protocol_error_closes_with_1002)
{
    struct client c;
    ws_open(&c, "/ws/echo", NULL);
    /* an unmasked client frame */
    struct tr_buf b;
    tr_buf_init(&b);
    tr_ws_frame_append(&b, TR_WS_OP_TEXT, true, "oops", 4, NULL);
    send_all(c.fd, b.data, b.len);
    tr_buf_free(&b);
    expect_close(&c, 1002, "unmasked frame from a client");
    expect_eof(&c);
    ws_client_free(&c);
    wait_closes(1);
    cr_assert_eq(atomic_load(&last_code), 1002);
    /* invalid UTF-8 in a text message: 1007; too big: 1009 */
    ws_open(&c, "/ws/echo", NULL);
    ws_send(&c, TR_WS_OP_TEXT, true, "\xc3\x28", 2);
    expect_close(&c, 1007, "text message is not valid UTF-8");
    expect_eof(&c);
    ws_client_free(&c);
    ws_open(&c, "/ws/echo", NULL);
    char *big = calloc(1, 100001);
    ws_send(&c, TR_WS_OP_BINARY, true, big, 100001);
    free(big);
    expect_close(&c, 1009, "message larger than 100000 bytes");
    ws_client_free(&c);
    wait_closes(3);
}

Test(http_ws, server_initiated_close)
{
    struct client c;
    ws_open(&c, "/ws/echo", NULL);
    ws_send(&c, TR_WS_OP_TEXT, true, "close-me", 8);
    expect_close(&c, 4000, "asked");
    /* a message sent after the server's close is not delivered */
    ws_send(&c, TR_WS_OP_TEXT, true, "ignored", 7);
    struct tr_buf cl;
    tr_buf_init(&cl);
    tr_ws_close_append(&cl, 4000, NULL, 0, mask_key);
    send_all(c.fd, cl.data, cl.len);
    tr_buf_free(&cl);
    expect_eof(&c);
    ws_client_free(&c);
    wait_closes(1);
    cr_assert_eq(atomic_load(&last_code), 4000);
    cr_assert_eq(atomic_load(&send_after_close), TR_ECANCELED);
}

Test(http_ws, posts_from_another_thread)
{
    atomic_store(&poster_started, 0);
    struct client c;
    ws_open(&c, "/ws/post", NULL);
    for (int i = 0; i < 100; i++) {
        char want[32];
        snprintf(want, sizeof(want), "msg %d", i);
        expect(&c, TR_WS_MESSAGE, want);
    }
    expect_close(&c, 1000, "done");
    struct tr_buf cl;
    tr_buf_init(&cl);
    tr_ws_close_append(&cl, 1000, NULL, 0, mask_key);
    send_all(c.fd, cl.data, cl.len);
    tr_buf_free(&cl);
    expect_eof(&c);
    ws_client_free(&c);
    wait_closes(1);
    cr_assert(atomic_load(&poster_started));
    pthread_join(poster, NULL);
    cr_assert_eq(atomic_load(&poster_failed), 0);
}

Test(http_ws, queue_bound_drops_and_reports)
{
    atomic_store(&flood_ok, 0);
    atomic_store(&flood_busy, 0);
    atomic_store(&flood_toolarge, 0);
    struct client c;
    ws_open(&c, "/ws/flood", NULL);
    /* 40 KiB: an empty message, then two 16 KiB ones fit, eight are
     * dropped (the writes complete only on the next loop turn) */
    expect(&c, TR_WS_MESSAGE, "");
    struct tr_buf b;
    tr_buf_init(&b);
    int got = 0;
    while (ws_next(&c, &b, NULL) == TR_WS_MESSAGE) {
        cr_assert_eq(b.len, 16384);
        got++;
    }
    tr_buf_free(&b);
    cr_assert(atomic_load(&flood_toolarge));
    cr_assert_eq(atomic_load(&flood_ok), 2);
    cr_assert_eq(atomic_load(&flood_busy), 8);
    cr_assert_eq(got, 2);
    ws_client_free(&c);
    wait_closes(1);
}

Test(http_ws, pings_and_dead_peer)
{
    /* a client that answers pings stays */
    struct client c;
    ws_open(&c, "/ws/ping", NULL);
    for (int i = 0; i < 3; i++) {
        expect(&c, TR_WS_PING, "");
        ws_send(&c, TR_WS_OP_PONG, true, "", 0);
    }
    cr_assert_eq(atomic_load(&n_close), 0);
    /* one that does not is dropped after the pong timeout */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    expect(&c, TR_WS_PING, "");
    expect_eof(&c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms =
        (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    cr_assert(ms >= 200 && ms < 3000, "closed after %ld ms", ms);
    ws_client_free(&c);
    wait_closes(1);
    cr_assert_eq(atomic_load(&last_code), TR_WS_CLOSE_ABNORMAL);
}

Test(http_ws, shutdown_sends_going_away)
{
    struct client c;
    ws_open(&c, "/ws/echo", NULL);
    ws_send(&c, TR_WS_OP_TEXT, true, "hi", 2);
    expect(&c, TR_WS_MESSAGE, "hi");
    send_stop();
    expect_close(&c, 1001, "server shutting down");
    struct tr_buf cl;
    tr_buf_init(&cl);
    tr_ws_close_append(&cl, 1001, NULL, 0, mask_key);
    send_all(c.fd, cl.data, cl.len);
    tr_buf_free(&cl);
    expect_eof(&c);
    ws_client_free(&c);
    wait_closes(1);
    cr_assert_eq(atomic_load(&last_code), 1001);
    /* the fixture's stop finds the server already shut down */
    for (int i = 0; i < 300 && !atomic_load(&fx.shutdown_done); i++) {
        sleep_ms(10);
    }
    cr_assert(atomic_load(&fx.shutdown_done));
}

Test(http_ws, abandoned_upgrade_still_reports_close)
{
    int fd = raw_connect();
    char req[512];
    snprintf(req, sizeof(req), HANDSHAKE_FMT, "/ws/abandon");
    send_all(fd, req, strlen(req));
    struct client c = {.fd = fd};
    tr_buf_init(&c.in);
    struct tr_buf head;
    tr_buf_init(&head);
    read_head(&c, &head);
    cr_assert(strncmp(head.data, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s",
              head.data);
    cr_assert_null(strstr(head.data, "Sec-WebSocket-Accept"), "%s", head.data);
    tr_buf_free(&head);
    tr_buf_free(&c.in);
    close(fd);
    wait_closes(1);
    cr_assert_eq(atomic_load(&last_code), TR_WS_CLOSE_ABNORMAL);
    cr_assert_eq(atomic_load(&n_open), 0);
}

Test(http_ws, close_timeout_when_the_peer_does_not_answer)
{
    struct client c;
    ws_open(&c, "/ws/closer", NULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    expect_close(&c, 3001, "not now");
    expect_eof(&c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms =
        (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    cr_assert(ms >= 100 && ms < 3000, "closed after %ld ms", ms);
    ws_client_free(&c);
    wait_closes(1);
    cr_assert_eq(atomic_load(&last_code), 3001);
}
