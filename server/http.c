/* http.c - the HTTP/1.1 server: listeners, connections, timeouts, routing,
 * dispatch to the thread pool, response writing, graceful shutdown.
 *
 * Connection state machine (one request at a time per connection; bytes of
 * pipelined requests wait in conn->in until the previous response is out):
 *
 *            accept
 *              |
 *              v      first byte            head parsed
 *   +----->  IDLE  -------------->  HEAD  -------------->  BODY
 *   |          |                     |                      |
 *   |   idle timeout: close    header timeout: 408    body timeout: 408
 *   |                                |                      | body done
 *   |                                v                      v
 *   |                              BUSY  <------------------+
 *   |                      (handler on the pool, then uv_write; reading
 *   |                       stopped)
 *   |  written, keep-alive           |
 *   +--------------------------------+
 *                                    | written, close: shutdown(SHUT_WR)
 *                                    |
 *                                    |  101 written (tr_http_ws_upgrade)
 *                                    +-------------->  WS (frames; reads,
 *                                    |                  |  timer and writes
 *                                    |   close          |  are http_ws.c's)
 *                                    v   handshake done |
 *                                  DRAIN <--------------+
 *                                    |  (read and discard until EOF or
 *                                    |   a short timer; avoids a RST
 *                                    v   that would eat the response)
 *                                 CLOSING (uv_close; freed when both
 *                                          handles are closed and no
 *                                          work item refers to it)
 *
 * Memory: a connection is freed only when its tcp and timer close callbacks
 * have run and no exchange is on the thread pool (conn->refs). */
#include "server/http.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/compress.h"
#include "lib/err.h"
#include "lib/log.h"
#include "server/http_int.h"
#include "lib/selfmetrics.h"

#define READ_CHUNK (64 * 1024)
#define DRAIN_MS 2000
#define DEFAULT_MAX_BODY (64u << 20)
#define DEFAULT_MAX_HEADER (1u << 20)

enum enc { ENC_IDENTITY, ENC_GZIP, ENC_DEFLATE, ENC_SNAPPY };

struct route {
    unsigned methods;
    char *pattern;
    unsigned flags;
    tr_http_handler_fn fn;
};

struct listener {
    uv_tcp_t tcp;
    struct tr_http_server *s;
    struct listener *next;
};

enum phase {
    PH_IDLE,
    PH_HEAD,
    PH_BODY,
    PH_BUSY,
    PH_WS, /* a WebSocket: c->ws */
    PH_H2, /* HTTP/2 with prior knowledge (h2c): c->h2 */
    PH_DRAIN,
    PH_CLOSING
};

struct exchange;

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t cont_req;    /* "100 Continue" */
    uv_shutdown_t shut_req; /* lingering close */
    struct tr_http_server *s;
    struct conn *prev, *next; /* s->conns */
    int refs;                 /* open handles + exchanges on the pool */
    enum phase phase;
    bool reading;
    bool counted;     /* included in the connections gauge */
    unsigned served;  /* HTTP/1 requests answered (h2c only as the first) */
    struct tr_buf in; /* received, not yet consumed */
    struct tr_http_parser parser;
    struct exchange *x;    /* current request (NULL when closing or PH_WS) */
    struct tr_ws_conn *ws; /* PH_WS and after: the WebSocket (http_ws.c) */
    struct tr_h2_conn *h2; /* PH_H2 and after: the HTTP/2 session (http_h2.c) */
    char remote[64];
};

struct exchange {
    uv_work_t work;
    uv_write_t wreq;
    struct conn *c;
    struct tr_arena arena;
    struct tr_http_request req;
    struct tr_http_response resp;
    const struct route *route;
    struct tr_buf raw;     /* body as received (de-chunked) */
    struct tr_buf decoded; /* body after Content-Encoding */
    enum enc enc;
    struct tr_buf head; /* serialized status line + headers */
    bool close_after;
    bool head_only; /* HEAD request: no body bytes */
    tr_ns start;
    const char *method_label;
    struct tr_ws_conn *ws; /* upgrade accepted, 101 not yet written */
    char ws_accept[TR_WS_ACCEPT_SIZE]; /* its Sec-WebSocket-Accept */
    struct exchange *pend_next;        /* waiting for a handler slot */
    struct tr_h2_stream *h2s; /* HTTP/2: its stream (NULL once the stream
                                 is gone); responses go to http_h2.c */
    bool is_h2;
};

struct tr_http_server {
    uv_loop_t *loop;
    struct tr_http_server_config cfg;
    struct route *routes;
    size_t n_routes;
    struct listener *listeners;
    size_t n_listeners; /* not yet closed */
    struct conn *conns;
    size_t n_conns;   /* allocated (incl. closing) */
    size_t n_active;  /* counted in the gauge */
    size_t n_work;    /* exchanges on the thread pool or waiting for it */
    size_t n_running; /* handlers running on the thread pool */
    /* exchanges waiting for a handler slot (cfg.max_handlers), FIFO */
    struct exchange *pend_head, *pend_tail;
    bool shutting_down;
    bool shutdown_timer_on;
    bool done;
    uv_timer_t shutdown_timer;
    void (*shutdown_cb)(void *arg);
    void *shutdown_arg;
    struct tr_sm_family *m_requests;
    struct tr_sm_family *m_duration;
    struct tr_sm_family *m_conns;
};

static void conn_close(struct conn *c);
static void conn_process(struct conn *c);
static void write_response(struct exchange *x);
static void ws_begin(struct conn *c, struct exchange *x);
static void maybe_done(struct tr_http_server *s);

/* ---- small helpers ----------------------------------------------------- */

void tr_http_resp_header(struct tr_http_response *resp,
                         const char *name,
                         const char *fmt,
                         ...)
{
    tr_buf_puts(&resp->headers, name);
    tr_buf_puts(&resp->headers, ": ");
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(tmp)) {
        tr_buf_append(&resp->headers, tmp, (size_t)n);
    } else if (n >= 0) {
        char *big = tr_malloc((size_t)n + 1);
        if (big != NULL) {
            va_start(ap, fmt);
            vsnprintf(big, (size_t)n + 1, fmt, ap);
            va_end(ap);
            tr_buf_append(&resp->headers, big, (size_t)n);
            tr_free(big);
        } else {
            resp->headers.oom = true;
        }
    }
    tr_buf_puts(&resp->headers, "\r\n");
}

static void resp__drop_front(struct tr_http_response *resp)
{
    for (size_t i = 0; i < resp->n_front; i++) {
        tr_buf_free(&resp->front[i]);
    }
    tr_free(resp->front);
    resp->front = NULL;
    resp->n_front = resp->cap_front = 0;
}

int tr_http_resp_front(struct tr_http_response *resp, struct tr_buf *b)
{
    if (resp->n_front == resp->cap_front) {
        struct tr_buf *nv =
            tr_array_grow(resp->front, &resp->cap_front, sizeof(*nv), 16);
        if (nv == NULL) {
            return TR_ENOMEM;
        }
        resp->front = nv;
    }
    resp->front[resp->n_front++] = *b;
    tr_buf_init(b);
    return 0;
}

void tr_http_resp_text(struct tr_http_response *resp,
                       int status,
                       const char *text)
{
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
    resp__drop_front(resp);
    tr_buf_reset(&resp->body);
    tr_buf_puts(&resp->body, text);
    if (resp->body.len == 0 || resp->body.data[resp->body.len - 1] != '\n') {
        tr_buf_putc(&resp->body, '\n');
    }
}

/* ---- server ------------------------------------------------------------ */

int tr_http_server_new(uv_loop_t *loop,
                       const struct tr_http_server_config *cfg,
                       struct tr_http_server **out)
{
    if (cfg == NULL || cfg->version != 1) {
        return TR_EINVAL;
    }
    struct tr_http_server *s = tr_calloc(1, sizeof(*s));
    if (s == NULL) {
        return TR_ENOMEM;
    }
    s->loop = loop;
    s->cfg = *cfg;
    if (s->cfg.max_body_bytes == 0) {
        s->cfg.max_body_bytes = DEFAULT_MAX_BODY;
    }
    if (s->cfg.max_header_bytes == 0) {
        s->cfg.max_header_bytes = DEFAULT_MAX_HEADER;
    }
    struct tr_selfmetrics *reg =
        cfg->metrics ? cfg->metrics : tr_selfmetrics_default();
    static const char *const req_labels[] = {"route", "method", "status"};
    static const char *const route_label[] = {"route"};
    s->m_requests = tr_selfmetrics_counter(
        reg, "triad_http_requests_total",
        "Total HTTP requests served, by route, method and status code.", 3,
        req_labels);
    s->m_duration = tr_selfmetrics_histogram(
        reg, "triad_http_request_duration_seconds",
        "Time from the first byte of a request to its response being queued.",
        1, route_label, NULL, 0);
    s->m_conns = tr_selfmetrics_gauge(reg, "triad_http_connections",
                                      "Open HTTP connections.", 0, NULL);
    *out = s;
    return 0;
}

int tr_http_route(struct tr_http_server *s,
                  unsigned methods,
                  const char *pattern,
                  unsigned flags,
                  tr_http_handler_fn fn)
{
    if (pattern == NULL || pattern[0] != '/' || fn == NULL || methods == 0) {
        return TR_EINVAL;
    }
    size_t caps = 0;
    for (const char *p = strstr(pattern, "{}"); p; p = strstr(p + 2, "{}")) {
        caps++;
    }
    if (caps > TR_HTTP_MAX_PARAMS) {
        return TR_EINVAL;
    }
    struct route *nr =
        tr_realloc(s->routes, (s->n_routes + 1) * sizeof(*s->routes));
    if (nr == NULL) {
        return TR_ENOMEM;
    }
    s->routes = nr;
    struct route *r = &s->routes[s->n_routes];
    r->pattern = tr_strdup(pattern);
    if (r->pattern == NULL) {
        return TR_ENOMEM;
    }
    r->methods = methods;
    r->flags = flags;
    r->fn = fn;
    s->n_routes++;
    return 0;
}

void tr_http_server_free(struct tr_http_server *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->n_routes; i++) {
        tr_free(s->routes[i].pattern);
    }
    tr_free(s->routes);
    tr_free(s);
}

/* ---- listening --------------------------------------------------------- */

static void on_listener_close(uv_handle_t *h)
{
    struct listener *l = h->data;
    struct tr_http_server *s = l->s;
    s->n_listeners--;
    tr_free(l);
    maybe_done(s);
}

static void on_conn_handle_close(uv_handle_t *h);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_timer(uv_timer_t *t);

static void gauge_update(struct tr_http_server *s)
{
    tr_selfmetrics_set(s->m_conns, (double)s->n_active);
}

static struct exchange *exchange_new(struct conn *c)
{
    struct exchange *x = tr_calloc(1, sizeof(*x));
    if (x == NULL) {
        return NULL;
    }
    x->c = c;
    tr_arena_init(&x->arena, 8192);
    tr_buf_init(&x->raw);
    tr_buf_init(&x->decoded);
    tr_buf_init(&x->head);
    tr_buf_init(&x->resp.headers);
    tr_buf_init(&x->resp.body);
    x->resp.status = 200;
    x->route = NULL;
    x->method_label = "OTHER";
    x->work.data = x;
    x->wreq.data = x;
    return x;
}

static void exchange_free(struct exchange *x)
{
    if (x == NULL) {
        return;
    }
    if (x->ws != NULL) {
        tr_http__ws_release(x->ws); /* the upgrade never happened */
    }
    tr_arena_free(&x->arena);
    tr_buf_free(&x->raw);
    tr_buf_free(&x->decoded);
    tr_buf_free(&x->head);
    tr_buf_free(&x->resp.headers);
    tr_buf_free(&x->resp.body);
    resp__drop_front(&x->resp);
    tr_free(x);
}

static void set_timer(struct conn *c, uint64_t ms)
{
    if (ms == 0) {
        uv_timer_stop(&c->timer);
    } else {
        uv_timer_start(&c->timer, on_timer, ms, 0);
    }
}

static void start_reading(struct conn *c)
{
    if (!c->reading && c->phase != PH_CLOSING) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) {
            c->reading = true;
        }
    }
}

static void stop_reading(struct conn *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void peer_name(struct conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    c->remote[0] = '\0';
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0) {
        return;
    }
    char ip[INET6_ADDRSTRLEN] = "";
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof(ip));
        snprintf(c->remote, sizeof(c->remote), "%s:%d", ip, ntohs(a->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof(ip));
        snprintf(c->remote, sizeof(c->remote), "[%s]:%d", ip,
                 ntohs(a->sin6_port));
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    struct tr_http_server *s = l->s;
    if (status < 0) {
        tr_log_warn("http accept failed", "err=%s", uv_strerror(status));
        return;
    }
    struct conn *c = tr_calloc(1, sizeof(*c));
    if (c == NULL) {
        return; /* the connection stays in the backlog; retried later */
    }
    c->s = s;
    tr_buf_init(&c->in);
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->refs = 2;
    c->next = s->conns;
    if (s->conns) {
        s->conns->prev = c;
    }
    s->conns = c;
    s->n_conns++;
    c->phase = PH_IDLE;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    if (s->shutting_down ||
        (s->cfg.max_connections > 0 && s->n_active >= s->cfg.max_connections)) {
        conn_close(c);
        return;
    }
    c->counted = true;
    s->n_active++;
    gauge_update(s);
    uv_tcp_nodelay(&c->tcp, 1);
    peer_name(c);
    tr_http_parser_init(&c->parser, s->cfg.max_header_bytes,
                        s->cfg.max_body_bytes, NULL);
    c->x = exchange_new(c);
    if (c->x == NULL) {
        conn_close(c);
        return;
    }
    c->parser.arena = &c->x->arena;
    /* The header timeout also bounds a connection that sends nothing. */
    set_timer(c, s->cfg.header_timeout_ms ? s->cfg.header_timeout_ms
                                          : s->cfg.idle_timeout_ms);
    start_reading(c);
}

/* Splits "host:port" ("[v6]:port", ":port"). */
static int parse_addr(const char *addr,
                      struct sockaddr_storage *ss,
                      char *errmsg)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL) {
        return tr_errf(TR_EINVAL, errmsg, "listen: address %s has no port",
                       addr);
    }
    char host[128];
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof(host)) {
        return tr_errf(TR_EINVAL, errmsg, "listen: host too long in %s", addr);
    }
    memcpy(host, addr, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535) {
        return tr_errf(TR_EINVAL, errmsg, "listen: invalid port in %s", addr);
    }
    memset(ss, 0, sizeof(*ss));
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        if (uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)ss) != 0) {
            return tr_errf(TR_EINVAL, errmsg, "listen: invalid address %s",
                           addr);
        }
        return 0;
    }
    if (hl == 0) {
        strcpy(host, "0.0.0.0");
    } else if (strcmp(host, "localhost") == 0) {
        strcpy(host, "127.0.0.1");
    }
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) != 0 &&
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) != 0) {
        return tr_errf(TR_EINVAL, errmsg, "listen: invalid address %s", addr);
    }
    return 0;
}

int tr_http_listen(struct tr_http_server *s,
                   const char *addr,
                   int *port,
                   char *errmsg)
{
    struct sockaddr_storage ss;
    int rv = parse_addr(addr, &ss, errmsg);
    if (rv != 0) {
        return rv;
    }
    if (s->shutting_down) {
        return tr_errf(TR_EINVAL, errmsg, "listen: server is shutting down");
    }
    struct listener *l = tr_calloc(1, sizeof(*l));
    if (l == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "listen: out of memory");
    }
    l->s = s;
    uv_tcp_init(s->loop, &l->tcp);
    l->tcp.data = l;
    s->n_listeners++;
    int uvrv = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0);
    if (uvrv == 0) {
        uvrv = uv_listen((uv_stream_t *)&l->tcp, 1024, on_connection);
    }
    if (uvrv != 0) {
        uv_close((uv_handle_t *)&l->tcp, on_listener_close);
        return tr_errf(TR_EIO, errmsg, "listen on %s: %s", addr,
                       uv_strerror(uvrv));
    }
    if (port != NULL) {
        struct sockaddr_storage bound;
        int len = sizeof(bound);
        uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &len);
        *port = ntohs(bound.ss_family == AF_INET6
                          ? ((struct sockaddr_in6 *)&bound)->sin6_port
                          : ((struct sockaddr_in *)&bound)->sin_port);
    }
    l->next = s->listeners;
    s->listeners = l;
    return 0;
}

/* ---- connection life --------------------------------------------------- */

static void conn_unref(struct conn *c)
{
    if (--c->refs > 0) {
        return;
    }
    struct tr_http_server *s = c->s;
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        s->conns = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    s->n_conns--;
    if (c->ws != NULL) {
        tr_http__ws_release(c->ws);
    }
    if (c->h2 != NULL) {
        tr_http__h2_release(c->h2);
    }
    exchange_free(c->x);
    tr_http_parser_free(&c->parser);
    tr_buf_free(&c->in);
    tr_free(c);
    maybe_done(s);
}

static void on_conn_handle_close(uv_handle_t *h)
{
    conn_unref(h->data);
}

static void conn_close(struct conn *c)
{
    if (c->phase == PH_CLOSING) {
        return;
    }
    c->phase = PH_CLOSING;
    c->reading = false;
    if (c->ws != NULL) {
        tr_http__ws_closing(c->ws);
    }
    if (c->h2 != NULL) {
        tr_http__h2_closing(c->h2);
    }
    if (c->counted) {
        c->counted = false;
        c->s->n_active--;
        gauge_update(c->s);
    }
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_close);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_close);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    if (status < 0 && c->phase == PH_DRAIN) {
        conn_close(c);
    }
}

/* After the last response of a connection: half-close and drain. */
static void conn_linger(struct conn *c)
{
    if (c->phase == PH_CLOSING) {
        return;
    }
    c->phase = PH_DRAIN;
    c->shut_req.data = c;
    if (c->s->shutting_down ||
        uv_shutdown(&c->shut_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        conn_close(c);
        return;
    }
    set_timer(c, DRAIN_MS);
    start_reading(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct conn *c = h->data;
    if (c->phase == PH_DRAIN) {
        tr_buf_reset(&c->in);
    }
    if (tr_buf_reserve(&c->in, READ_CHUNK - 1) != 0) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    buf->base = c->in.data + c->in.len;
    buf->len = c->in.cap - c->in.len - 1; /* keep room for the NUL */
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = st->data;
    if (nread == 0) {
        return;
    }
    if (nread < 0) {
        /* EOF or error (incl. UV_ENOBUFS): nothing more to answer. */
        conn_close(c);
        return;
    }
    if (c->phase == PH_DRAIN) {
        return; /* discarded (on_alloc resets the buffer) */
    }
    if (c->phase == PH_WS) {
        c->in.len = 0; /* the frame parser keeps what it needs */
        tr_http__ws_input(c->ws, buf->base, (size_t)nread);
        return;
    }
    if (c->phase == PH_H2) {
        c->in.len = 0; /* nghttp2 keeps what it needs */
        tr_http__h2_input(c->h2, buf->base, (size_t)nread);
        return;
    }
    c->in.len += (size_t)nread;
    c->in.data[c->in.len] = '\0';
    conn_process(c);
}

static void on_timer(uv_timer_t *t)
{
    struct conn *c = t->data;
    struct tr_http_server *s = c->s;
    switch (c->phase) {
        case PH_HEAD:
        case PH_BODY: {
            struct exchange *x = c->x;
            stop_reading(c);
            char msg[128];
            snprintf(msg, sizeof(msg),
                     "request timeout: %s not received within %llu ms",
                     c->phase == PH_HEAD ? "headers" : "body",
                     (unsigned long long)(c->phase == PH_HEAD
                                              ? s->cfg.header_timeout_ms
                                              : s->cfg.body_timeout_ms));
            c->phase = PH_BUSY;
            tr_http_resp_text(&x->resp, 408, msg);
            x->close_after = true;
            write_response(x);
            break;
        }
        case PH_IDLE:
        case PH_DRAIN:
            conn_close(c);
            break;
        case PH_WS:
            tr_http__ws_on_timer(c->ws);
            break;
        case PH_H2:
            tr_http__h2_on_timer(c->h2);
            break;
        default:
            break;
    }
}

static void on_continue_written(uv_write_t *req, int status)
{
    (void)req;
    (void)status;
}

/* Drops n consumed bytes from the front of c->in. */
static void in_consume(struct conn *c, size_t n)
{
    if (n == 0) {
        return;
    }
    memmove(c->in.data, c->in.data + n, c->in.len - n);
    c->in.len -= n;
    c->in.data[c->in.len] = '\0';
}

static void dispatch(struct exchange *x);

/* The HTTP/2 connection preface (RFC 9113 3.4): a client speaking h2c
 * with prior knowledge (gRPC) starts with it. */
static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define H2_PREFACE_LEN (sizeof(h2_preface) - 1)

/* At the start of a connection's first request: 1 when the input is the
 * HTTP/2 preface (the connection switches to http_h2.c), 0 when it is
 * not, -1 while it is a proper prefix of it (wait for more). */
static int conn_h2_start(struct conn *c)
{
    size_t n = c->in.len < H2_PREFACE_LEN ? c->in.len : H2_PREFACE_LEN;
    if (c->x == NULL || tr_http_parser_started(&c->parser) ||
        memcmp(c->in.data, h2_preface, n) != 0) {
        return 0;
    }
    if (n < H2_PREFACE_LEN) {
        return -1;
    }
    c->h2 = tr_http__h2_new(c, (uv_stream_t *)&c->tcp, &c->s->cfg);
    if (c->h2 == NULL) {
        conn_close(c);
        return 1;
    }
    exchange_free(c->x);
    c->x = NULL;
    c->phase = PH_H2;
    set_timer(c, c->s->cfg.idle_timeout_ms);
    size_t len = c->in.len;
    c->in.len = 0;
    tr_http__h2_input(c->h2, c->in.data, len);
    return 1;
}

static void conn_process(struct conn *c)
{
    struct tr_http_server *s = c->s;
    while (c->phase == PH_IDLE || c->phase == PH_HEAD || c->phase == PH_BODY) {
        if (c->phase == PH_IDLE && c->in.len == 0) {
            return;
        }
        if (c->phase == PH_IDLE && c->served == 0) {
            int h2 = conn_h2_start(c);
            if (h2 != 0) {
                return;
            }
        }
        size_t used = 0;
        int rv = tr_http_parse(&c->parser, c->in.data ? c->in.data : "",
                               c->in.len, &used);
        in_consume(c, used);
        if (c->phase == PH_IDLE && (tr_http_parser_started(&c->parser) ||
                                    c->in.len > 0 || rv != TR_HP_NEED_MORE)) {
            c->phase = PH_HEAD;
            c->x->start = tr_mono_ns();
            set_timer(c, s->cfg.header_timeout_ms);
        }
        switch (rv) {
            case TR_HP_NEED_MORE:
                return;
            case TR_HP_HEAD: {
                struct tr_http_parser *p = &c->parser;
                c->phase = PH_BODY;
                set_timer(c, s->cfg.body_timeout_ms);
                bool has_body =
                    p->chunked || (p->has_content_length && p->content_length);
                if (p->expect_continue && has_body && c->in.len == 0) {
                    static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                    uv_buf_t b = uv_buf_init(cont, sizeof(cont) - 1);
                    uv_write(&c->cont_req, (uv_stream_t *)&c->tcp, &b, 1,
                             on_continue_written);
                }
                break;
            }
            case TR_HP_DONE:
                uv_timer_stop(&c->timer);
                stop_reading(c);
                c->phase = PH_BUSY;
                dispatch(c->x);
                return;
            case TR_HP_ERROR:
            default: {
                struct exchange *x = c->x;
                uv_timer_stop(&c->timer);
                stop_reading(c);
                c->phase = PH_BUSY;
                tr_http_resp_text(&x->resp, c->parser.err_status,
                                  c->parser.errmsg);
                x->close_after = true;
                write_response(x);
                return;
            }
        }
    }
}

/* ---- routing and dispatch ---------------------------------------------- */

/* Matches path against pattern, capturing "{}" segments into req. */
static bool route_match(const struct route *r, struct tr_http_request *req)
{
    const char *p = r->pattern;
    const char *x = req->path.base;
    const char *xe = x + req->path.len;
    size_t np = 0;
    struct tr_slice caps[TR_HTTP_MAX_PARAMS];
    while (*p) {
        if (p[0] == '{' && p[1] == '}') {
            const char *st = x;
            while (x < xe && *x != '/') {
                x++;
            }
            if (x == st || np >= TR_HTTP_MAX_PARAMS) {
                return false;
            }
            caps[np++] = (struct tr_slice){st, (size_t)(x - st)};
            p += 2;
            continue;
        }
        if (x >= xe || *x != *p) {
            return false;
        }
        x++;
        p++;
    }
    if (x != xe && !(r->flags & TR_ROUTE_PREFIX)) {
        return false;
    }
    memcpy(req->params, caps, np * sizeof(caps[0]));
    req->n_params = np;
    return true;
}

static bool method_allowed(unsigned mask, enum tr_http_method m)
{
    return (mask & m) || (m == TR_HTTP_HEAD && (mask & TR_HTTP_GET));
}

static void put_allow(struct tr_http_response *resp, unsigned mask)
{
    static const enum tr_http_method all[] = {
        TR_HTTP_GET,    TR_HTTP_HEAD,  TR_HTTP_POST,    TR_HTTP_PUT,
        TR_HTTP_DELETE, TR_HTTP_PATCH, TR_HTTP_OPTIONS,
    };
    if (mask & TR_HTTP_GET) {
        mask |= TR_HTTP_HEAD;
    }
    char list[128] = "";
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (mask & all[i]) {
            if (list[0]) {
                strcat(list, ", ");
            }
            strcat(list, tr_http__method_name(all[i]));
        }
    }
    tr_http_resp_header(resp, "Allow", "%s", list);
}

static void work_cb(uv_work_t *w)
{
    struct exchange *x = w->data;
    struct tr_http_request *req = &x->req;
    if (x->enc != ENC_IDENTITY) {
        char err[TR_ERRMSG_SIZE];
        int rv;
        size_t max = x->c->s->cfg.max_body_bytes;
        switch (x->enc) {
            case ENC_GZIP:
                rv = tr_gzip_decode(x->raw.data, x->raw.len, max, &x->decoded,
                                    err);
                break;
            case ENC_DEFLATE:
                rv = tr_deflate_decode(x->raw.data, x->raw.len, max,
                                       &x->decoded, err);
                break;
            default:
                rv = tr_snappy_decode(x->raw.data, x->raw.len, max, &x->decoded,
                                      err);
                break;
        }
        if (rv == TR_ETOOLARGE) {
            char msg[TR_ERRMSG_SIZE + 64];
            snprintf(msg, sizeof(msg), "request body too large: %s", err);
            tr_http_resp_text(&x->resp, 413, msg);
            x->close_after = true;
            return;
        }
        if (rv != 0) {
            tr_http_resp_text(&x->resp, rv == TR_ENOMEM ? 503 : 400, err);
            return;
        }
        req->body = x->decoded.data ? x->decoded.data : "";
        req->body_len = x->decoded.len;
        req->body_decoded = true;
        tr_buf_free(&x->raw);
    }
    x->route->fn(req, &x->resp);
}

static void start_pending(struct tr_http_server *s);
static void run_handler(struct exchange *x);

static void after_work_cb(uv_work_t *w, int status)
{
    (void)status;
    struct exchange *x = w->data;
    struct conn *c = x->c;
    struct tr_http_server *s = c->s;
    s->n_work--;
    s->n_running--;
    start_pending(s);
    if (c->phase == PH_CLOSING) {
        /* The connection was force-closed meanwhile. */
        if (x->is_h2) {
            exchange_free(x); /* its stream is gone (tr_http__h2_closing) */
        }
        conn_unref(c);
        maybe_done(s);
        return;
    }
    c->refs--; /* the handles still hold theirs */
    write_response(x);
    maybe_done(s);
}

static void route_and_run(struct exchange *x, const char *method_str);

/* An HTTP/1 request is complete in the parser: x's request from it. */
static void dispatch(struct exchange *x)
{
    struct conn *c = x->c;
    struct tr_http_server *s = c->s;
    struct tr_http_parser *p = &c->parser;
    struct tr_http_request *req = &x->req;
    req->method = p->method;
    req->path = (struct tr_slice){p->path, p->path_len};
    req->raw_query = (struct tr_slice){p->raw_query, p->raw_query_len};
    req->headers = p->headers;
    req->n_headers = p->n_headers;
    req->arena = &x->arena;
    req->app = s->cfg.app;
    memcpy(req->remote_addr, c->remote, sizeof(req->remote_addr));
    /* Take the body buffer: the parser starts a new one. */
    x->raw = p->body;
    tr_buf_init(&p->body);
    req->body = x->raw.data ? x->raw.data : "";
    req->body_len = x->raw.len;
    x->head_only = p->method == TR_HTTP_HEAD;
    x->close_after = !p->keep_alive;
    route_and_run(x, p->method_str);
}

/* Routes x's request and runs its handler (inline or on the pool); the
 * response goes out through write_response. */
static void route_and_run(struct exchange *x, const char *method_str)
{
    struct conn *c = x->c;
    struct tr_http_server *s = c->s;
    struct tr_http_request *req = &x->req;
    x->method_label = tr_http__method_name(req->method);
    if (x->start == 0) {
        x->start = tr_mono_ns();
    }

    unsigned allow = 0;
    for (size_t i = 0; i < s->n_routes; i++) {
        const struct route *r = &s->routes[i];
        if (!route_match(r, req)) {
            continue;
        }
        if (method_allowed(r->methods, req->method)) {
            x->route = r;
            break;
        }
        allow |= r->methods;
    }
    if (x->route == NULL) {
        char msg[256];
        if (allow) {
            snprintf(msg, sizeof(msg), "method %s not allowed for %.*s",
                     method_str,
                     (int)(req->path.len > 150 ? 150 : req->path.len),
                     req->path.base);
            tr_http_resp_text(&x->resp, 405, msg);
            put_allow(&x->resp, allow);
        } else {
            snprintf(msg, sizeof(msg), "404 page not found: %.*s",
                     (int)(req->path.len > 150 ? 150 : req->path.len),
                     req->path.base);
            tr_http_resp_text(&x->resp, 404, msg);
        }
        req->n_params = 0;
        write_response(x);
        return;
    }
    req->route_name = x->route->pattern;

    const struct tr_slice *ce = tr_http_header_get(req, "Content-Encoding");
    x->enc = ENC_IDENTITY;
    if (ce != NULL && ce->len > 0 && !tr_slice_eq_nocase(*ce, "identity")) {
        if (tr_slice_eq_nocase(*ce, "gzip") ||
            tr_slice_eq_nocase(*ce, "x-gzip")) {
            x->enc = ENC_GZIP;
        } else if (tr_slice_eq_nocase(*ce, "deflate")) {
            x->enc = ENC_DEFLATE;
        } else if (tr_slice_eq_nocase(*ce, "snappy")) {
            x->enc = ENC_SNAPPY;
        } else {
            char msg[256];
            snprintf(msg, sizeof(msg),
                     "unsupported Content-Encoding \"%.*s\" (supported: "
                     "gzip, deflate, snappy, identity)",
                     (int)(ce->len > 64 ? 64 : ce->len), ce->base);
            tr_http_resp_text(&x->resp, 415, msg);
            write_response(x);
            return;
        }
    }
    if ((x->route->flags & TR_ROUTE_INLINE) && x->enc == ENC_IDENTITY) {
        x->route->fn(req, &x->resp);
        write_response(x);
        return;
    }
    c->refs++;
    s->n_work++;
    if (s->cfg.max_handlers > 0 && s->n_running >= s->cfg.max_handlers) {
        /* every handler slot is taken: wait in line (handlers may block
         * on work that needs the thread pool, e.g. Raft's file I/O, so
         * the pool must never fill with handlers) */
        x->pend_next = NULL;
        if (s->pend_tail != NULL) {
            s->pend_tail->pend_next = x;
        } else {
            s->pend_head = x;
        }
        s->pend_tail = x;
        return;
    }
    run_handler(x);
}

/* Puts x's handler on the thread pool (x counted in n_work, its
 * connection referenced). */
static void run_handler(struct exchange *x)
{
    struct conn *c = x->c;
    struct tr_http_server *s = c->s;
    s->n_running++;
    int rv = uv_queue_work(s->loop, &x->work, work_cb, after_work_cb);
    if (rv != 0) {
        s->n_running--;
        c->refs--;
        s->n_work--;
        tr_http_resp_text(&x->resp, 503, "server busy: cannot queue request");
        write_response(x);
    }
}

/* Starts waiting exchanges while handler slots are free; one whose
 * connection was closed meanwhile is dropped. */
static void start_pending(struct tr_http_server *s)
{
    while (s->pend_head != NULL &&
           (s->cfg.max_handlers == 0 || s->n_running < s->cfg.max_handlers)) {
        struct exchange *x = s->pend_head;
        s->pend_head = x->pend_next;
        if (s->pend_head == NULL) {
            s->pend_tail = NULL;
        }
        struct conn *c = x->c;
        if (c->phase == PH_CLOSING) {
            s->n_work--;
            if (x->is_h2) {
                exchange_free(x);
            }
            conn_unref(c);
            maybe_done(s);
            continue;
        }
        run_handler(x);
    }
}

/* ---- responses --------------------------------------------------------- */

static void on_written(uv_write_t *w, int status)
{
    struct exchange *x = w->data;
    struct conn *c = x->c;
    struct tr_http_server *s = c->s;
    if (c->phase == PH_CLOSING) {
        return; /* freed with the connection */
    }
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (x->ws != NULL && x->resp.status == 101) {
        ws_begin(c, x);
        return;
    }
    if (x->close_after || s->shutting_down) {
        conn_linger(c);
        return;
    }
    /* Next request on this connection. */
    c->served++;
    exchange_free(x);
    c->x = exchange_new(c);
    if (c->x == NULL) {
        conn_close(c);
        return;
    }
    tr_http_parser_reset(&c->parser, &c->x->arena);
    c->phase = PH_IDLE;
    set_timer(c, s->cfg.idle_timeout_ms);
    start_reading(c);
    conn_process(c);
}

/* The 101 of x is written: the connection carries WebSocket frames. */
static void ws_begin(struct conn *c, struct exchange *x)
{
    struct tr_http_server *s = c->s;
    c->ws = x->ws;
    x->ws = NULL;
    exchange_free(x);
    c->x = NULL;
    c->phase = PH_WS;
    set_timer(c, 0);
    if (tr_http__ws_start(c->ws, s->loop, (uv_stream_t *)&c->tcp, c) != 0) {
        conn_close(c);
        return;
    }
    start_reading(c);
    if (c->phase == PH_WS && c->in.len > 0) {
        /* frames sent right after the request */
        size_t n = c->in.len;
        c->in.len = 0;
        tr_http__ws_input(c->ws, c->in.data, n);
    }
    if (c->phase == PH_WS && s->shutting_down) {
        tr_http__ws_shutdown(c->ws);
    }
}

/* Counts x's response in the request metrics. */
static void observe(struct exchange *x)
{
    struct tr_http_server *s = x->c->s;
    char status_str[8];
    snprintf(status_str, sizeof(status_str), "%d", x->resp.status);
    const char *route = x->route ? x->route->pattern : "other";
    tr_selfmetrics_inc(s->m_requests, 1, route, x->method_label, status_str);
    if (x->start != 0) {
        tr_selfmetrics_observe(s->m_duration,
                               (double)(tr_mono_ns() - x->start) / 1e9, route);
    }
}

static void write_response(struct exchange *x)
{
    struct conn *c = x->c;
    struct tr_http_server *s = c->s;
    struct tr_http_response *r = &x->resp;
    if (r->status < 100 || r->status > 999) {
        r->status = 500;
    }
    if (x->is_h2) {
        observe(x);
        if (x->h2s != NULL && c->phase != PH_CLOSING) {
            tr_http__h2_respond(x->h2s, r, x); /* frees x when sent */
        } else {
            exchange_free(x);
        }
        return;
    }
    bool oom = r->body.oom || r->headers.oom;
    for (size_t i = 0; i < r->n_front; i++) {
        oom = oom || r->front[i].oom;
    }
    if (oom) {
        tr_buf_reset(&r->headers);
        tr_http_resp_text(r, 503, "out of memory building the response");
    }
    size_t body_len = r->body.len;
    for (size_t i = 0; i < r->n_front; i++) {
        body_len += r->front[i].len;
    }
    if (x->ws != NULL && r->status == 101 && s->shutting_down) {
        tr_buf_reset(&r->headers);
        tr_http_resp_text(r, 503, "server shutting down");
    }
    int st = r->status;
    bool no_body = st == 204 || st == 304 || (st >= 100 && st < 200);
    bool keep_alive_10 = !x->close_after && c->parser.minor == 0;
    bool upgrade = x->ws != NULL && st == 101;
    if (s->shutting_down || upgrade) {
        x->close_after = !upgrade; /* no more HTTP either way */
    }
    struct tr_buf *h = &x->head;
    tr_buf_printf(h, "HTTP/1.1 %d %s\r\n", st, tr_http__status_text(st));
    if (upgrade) {
        tr_buf_printf(h,
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: %s\r\n",
                      x->ws_accept);
    }
    if (r->content_type != NULL && !no_body) {
        tr_buf_printf(h, "Content-Type: %s\r\n", r->content_type);
    }
    if (!no_body) {
        tr_buf_printf(h, "Content-Length: %zu\r\n", body_len);
    }
    if (x->close_after) {
        tr_buf_puts(h, "Connection: close\r\n");
    } else if (keep_alive_10 && !upgrade) {
        tr_buf_puts(h, "Connection: keep-alive\r\n");
    }
    tr_buf_append(h, r->headers.data ? r->headers.data : "", r->headers.len);
    tr_buf_puts(h, "\r\n");

    observe(x);
    if (h->oom) {
        conn_close(c);
        return;
    }
    /* libuv copies the array; the bytes stay with x until on_written */
    uv_buf_t two[2];
    uv_buf_t *bufs = two;
    if (r->n_front > 0) {
        bufs = tr_malloc((r->n_front + 2) * sizeof(*bufs));
        if (bufs == NULL) {
            conn_close(c);
            return;
        }
    }
    unsigned n = 0;
    bufs[n++] = uv_buf_init(h->data, (unsigned)h->len);
    for (size_t i = 0; !no_body && !x->head_only && i < r->n_front; i++) {
        if (r->front[i].len > 0) {
            bufs[n++] =
                uv_buf_init(r->front[i].data, (unsigned)r->front[i].len);
        }
    }
    if (!no_body && !x->head_only && r->body.len > 0) {
        bufs[n++] = uv_buf_init(r->body.data, (unsigned)r->body.len);
    }
    c->phase = PH_BUSY;
    int wrv = uv_write(&x->wreq, (uv_stream_t *)&c->tcp, bufs, n, on_written);
    if (bufs != two) {
        tr_free(bufs);
    }
    if (wrv != 0) {
        conn_close(c);
    }
}

/* ---- shutdown ---------------------------------------------------------- */

static void on_shutdown_timer_close(uv_handle_t *h)
{
    struct tr_http_server *s = h->data;
    if (s->shutdown_cb) {
        s->shutdown_cb(s->shutdown_arg);
    }
}

static void maybe_done(struct tr_http_server *s)
{
    if (!s->shutting_down || s->done || s->n_listeners > 0 || s->n_conns > 0 ||
        s->n_work > 0) {
        return;
    }
    s->done = true;
    uv_timer_stop(&s->shutdown_timer);
    uv_close((uv_handle_t *)&s->shutdown_timer, on_shutdown_timer_close);
}

static void on_shutdown_timeout(uv_timer_t *t)
{
    struct tr_http_server *s = t->data;
    tr_log_warn("http shutdown timeout: closing busy connections",
                "open=%zu in_flight=%zu", s->n_conns, s->n_work);
    for (struct conn *c = s->conns; c; c = c->next) {
        conn_close(c);
    }
}

void tr_http_server_shutdown(struct tr_http_server *s,
                             uint64_t timeout_ms,
                             void (*cb)(void *arg),
                             void *arg)
{
    if (s->shutting_down) {
        return;
    }
    s->shutting_down = true;
    s->shutdown_cb = cb;
    s->shutdown_arg = arg;
    uv_timer_init(s->loop, &s->shutdown_timer);
    s->shutdown_timer.data = s;
    for (struct listener *l = s->listeners; l; l = l->next) {
        uv_close((uv_handle_t *)&l->tcp, on_listener_close);
    }
    s->listeners = NULL;
    /* Idle or half-read connections close now; busy ones after their
     * response (write_response forces Connection: close); WebSockets after
     * their closing handshake. */
    for (struct conn *c = s->conns; c; c = c->next) {
        if (c->phase == PH_WS) {
            tr_http__ws_shutdown(c->ws); /* close 1001, then the end */
        } else if (c->phase == PH_H2) {
            tr_http__h2_shutdown(c->h2); /* GOAWAY, then the end */
        } else if (c->phase != PH_BUSY) {
            conn_close(c);
        }
    }
    uv_timer_start(&s->shutdown_timer, on_shutdown_timeout,
                   timeout_ms ? timeout_ms : 1, 0);
    maybe_done(s);
}

/* ---- WebSocket upgrade and the seam for http_ws.c ---------------------- */

int tr_http_ws_upgrade(const struct tr_http_request *req,
                       struct tr_http_response *resp,
                       const struct tr_ws_handler *h,
                       void *user_data)
{
    /* req is the exchange's own (handlers only see those) */
    struct exchange *x =
        (struct exchange *)((char *)req - offsetof(struct exchange, req));
    if (resp != &x->resp || h == NULL || h->version != 1 ||
        h->on_close == NULL || x->ws != NULL) {
        return TR_EINVAL;
    }
    if (x->is_h2) {
        tr_http_resp_text(resp, 400,
                          "WebSocket over HTTP/2 is not supported: use "
                          "HTTP/1.1");
        return TR_EINVAL;
    }
    char accept[TR_WS_ACCEPT_SIZE];
    char msg[TR_ERRMSG_SIZE];
    int status;
    /* the parser is not touched while the handler runs */
    int rv =
        tr_ws_handshake_check(req, x->c->parser.minor, accept, &status, msg);
    if (rv != 0) {
        tr_http_resp_text(resp, status, msg);
        if (status == 426) {
            tr_http_resp_header(resp, "Sec-WebSocket-Version", "13");
        }
        return rv;
    }
    x->ws = tr_http__ws_new(h, user_data);
    if (x->ws == NULL) {
        tr_http_resp_text(resp, 503, "out of memory accepting a websocket");
        return TR_ENOMEM;
    }
    /* the upgrade headers are written with the 101 (write_response) */
    memcpy(x->ws_accept, accept, sizeof(accept));
    resp->status = 101;
    resp->content_type = NULL;
    resp__drop_front(resp);
    tr_buf_reset(&resp->body);
    return 0;
}

void tr_http__conn_close(void *conn)
{
    conn_close(conn);
}

void tr_http__conn_linger(void *conn)
{
    conn_linger(conn);
}

void tr_http__conn_timer(void *conn, uint64_t ms)
{
    struct conn *c = conn;
    if (c->phase != PH_CLOSING) {
        set_timer(c, ms);
    }
}

/* ---- the seam for http_h2.c --------------------------------------------- */

void *tr_http__h2_exchange(void *conn, struct tr_h2_stream *st)
{
    struct conn *c = conn;
    struct exchange *x = exchange_new(c);
    if (x != NULL) {
        x->is_h2 = true;
        x->h2s = st;
        x->req.arena = &x->arena;
        x->req.app = c->s->cfg.app;
        memcpy(x->req.remote_addr, c->remote, sizeof(x->req.remote_addr));
    }
    return x;
}

struct tr_http_request *tr_http__x_req(void *x)
{
    return &((struct exchange *)x)->req;
}

struct tr_buf *tr_http__x_body(void *x)
{
    return &((struct exchange *)x)->raw;
}

void tr_http__x_dispatch(void *vx)
{
    struct exchange *x = vx;
    struct tr_http_request *req = &x->req;
    req->body = x->raw.data ? x->raw.data : "";
    req->body_len = x->raw.len;
    x->head_only = req->method == TR_HTTP_HEAD;
    route_and_run(x, tr_http__method_name(req->method));
}

void tr_http__x_detach(void *x)
{
    ((struct exchange *)x)->h2s = NULL;
}

void tr_http__x_free(void *x)
{
    exchange_free(x);
}

size_t tr_http__max_body(void *conn)
{
    return ((struct conn *)conn)->s->cfg.max_body_bytes;
}

bool tr_http__shutting_down(void *conn)
{
    return ((struct conn *)conn)->s->shutting_down;
}
