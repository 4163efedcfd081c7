/* http.h - HTTP/1.1 server on libuv: keep-alive, pipelining-safe,
 * Content-Length and chunked request bodies, Content-Encoding
 * snappy|gzip|deflate decoding, body size limit (413), header/body read
 * timeouts, routing table.
 *
 * Threading: the server runs on one libuv loop. A matched route's handler
 * runs on the libuv thread pool (uv_queue_work) unless the route is
 * TR_ROUTE_INLINE; the response is written back on the loop thread.
 * Handlers must not touch libuv handles. A handler may turn its connection
 * into a WebSocket (tr_http_ws_upgrade, at the end of this header). */
#ifndef TR_SERVER_HTTP_H
#define TR_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "server/ws.h"

enum tr_http_method {
    TR_HTTP_GET = 1 << 0,
    TR_HTTP_POST = 1 << 1,
    TR_HTTP_PUT = 1 << 2,
    TR_HTTP_DELETE = 1 << 3,
    TR_HTTP_HEAD = 1 << 4,
    TR_HTTP_OPTIONS = 1 << 5,
    TR_HTTP_PATCH = 1 << 6,
    TR_HTTP_OTHER = 1 << 7,
};

struct tr_http_header {
    struct tr_slice name;  /* as sent; compare case-insensitively */
    struct tr_slice value; /* leading/trailing white space trimmed */
};

#define TR_HTTP_MAX_PARAMS 4

struct tr_http_request {
    enum tr_http_method method;
    struct tr_slice path;      /* path only, percent-decoded, no query */
    struct tr_slice raw_query; /* after '?', not decoded; len 0 if none */
    struct tr_http_header *headers;
    size_t n_headers;
    /* Body after de-chunking and after Content-Encoding (gzip, deflate,
     * snappy block) was removed. NUL-terminated (not counted in len). */
    const char *body;
    size_t body_len;
    bool body_decoded; /* a Content-Encoding was removed */
    struct tr_slice params[TR_HTTP_MAX_PARAMS]; /* route {} captures */
    size_t n_params;
    struct tr_arena *arena; /* per-request memory, freed after reply */
    const char *route_name; /* the matched route's pattern */
    void *app;              /* tr_http_server_config.app */
    char remote_addr[64];   /* "ip:port" of the peer */
};

struct tr_http_response {
    int status;               /* default 200 */
    const char *content_type; /* static string or arena; NULL = none */
    struct tr_buf headers;    /* extra "Name: value\r\n" lines */
    struct tr_buf body;       /* owned by the server */
    /* sent before body, in order (owned by the server): parts of a large
     * body built in separate buffers, handed over (tr_http_resp_front)
     * instead of copied into body */
    struct tr_buf *front;
    size_t n_front;
    size_t cap_front;
};

/* Handler: fills resp. Runs on a worker thread unless TR_ROUTE_INLINE. */
typedef void (*tr_http_handler_fn)(const struct tr_http_request *req,
                                   struct tr_http_response *resp);

enum tr_route_flags {
    TR_ROUTE_INLINE = 1 << 0, /* cheap: run on the loop thread */
    TR_ROUTE_PREFIX = 1 << 1, /* pattern matches as a path prefix */
};

struct tr_http_server_config {
    int version;                /* 1 */
    size_t max_body_bytes;      /* decoded and raw body limit -> 413 */
    size_t max_header_bytes;    /* request line + headers -> 431 */
    uint64_t header_timeout_ms; /* first byte to end of headers -> 408 */
    uint64_t body_timeout_ms;   /* end of headers to end of body -> 408 */
    uint64_t idle_timeout_ms;   /* keep-alive idle -> close */
    size_t max_connections;     /* over it: accept and close */
    void *app;                  /* handed to handlers as req->app */
    /* Registry for triad_http_* metrics; NULL = tr_selfmetrics_default(). */
    struct tr_selfmetrics *metrics;
};

struct tr_http_server;
struct tr_selfmetrics;

/* Creates a server on loop (not listening yet). */
int tr_http_server_new(uv_loop_t *loop,
                       const struct tr_http_server_config *cfg,
                       struct tr_http_server **out);
/* Pattern: exact path, "{}" matches one non-empty segment and is captured
 * into req->params (e.g. "/api/v1/label/{}/values"). methods: a mask of
 * tr_http_method; a path that matches with another method gets 405 with an
 * Allow header. Routes are matched in the order added. */
int tr_http_route(struct tr_http_server *s,
                  unsigned methods,
                  const char *pattern,
                  unsigned flags,
                  tr_http_handler_fn fn);
/* Listens on "host:port" (port 0 = any); may be called several times (one
 * router serves every listener). Writes the bound port to *port if not NULL. */
int tr_http_listen(struct tr_http_server *s,
                   const char *addr,
                   int *port,
                   char *errmsg);
/* Stops accepting, lets in-flight requests finish within timeout_ms, closes
 * connections; cb runs on the loop when everything is closed. */
void tr_http_server_shutdown(struct tr_http_server *s,
                             uint64_t timeout_ms,
                             void (*cb)(void *arg),
                             void *arg);
/* Frees the server. Call it only after the shutdown callback ran, or if
 * tr_http_listen never succeeded (handles must be closed first). */
void tr_http_server_free(struct tr_http_server *s);

/* Request helpers (usable from handlers). */
/* First header with this name (case-insensitive), or NULL. */
const struct tr_slice *tr_http_header_get(const struct tr_http_request *req,
                                          const char *name);
/* Form values: query-string parameters plus, for POST with
 * Content-Type application/x-www-form-urlencoded, body parameters (as Go's
 * r.Form: body values first, then query values). Values are
 * percent/plus-decoded, allocated in req->arena. Returns the number of
 * values for key stored into out (at most max); total count in *total. */
size_t tr_http_form_values(const struct tr_http_request *req,
                           const char *key,
                           struct tr_slice *out,
                           size_t max,
                           size_t *total);
/* First form value or NULL (NUL-terminated, arena). */
const char *tr_http_form_get(const struct tr_http_request *req,
                             const char *key);

/* Response helpers. */
void tr_http_resp_header(struct tr_http_response *resp,
                         const char *name,
                         const char *fmt,
                         ...) __attribute__((format(printf, 3, 4)));
void tr_http_resp_text(struct tr_http_response *resp,
                       int status,
                       const char *text);
/* Moves b's bytes to the end of resp's front parts (sent before body); b is
 * left empty. 0, or TR_ENOMEM (b unchanged). */
int tr_http_resp_front(struct tr_http_response *resp, struct tr_buf *b);

/* ---- WebSocket connections (server/http_ws.c) ---------------------------
 *
 * A route handler accepts a WebSocket opening handshake (RFC 6455) with
 * tr_http_ws_upgrade(). The server writes the 101 response on the loop
 * thread; the connection then leaves HTTP and carries frames: pings are
 * answered with pongs, a close frame is answered with a close frame and the
 * connection is closed, complete messages go to on_message.
 *
 * Threads. The callbacks run on the loop thread. tr_ws_send_text,
 * tr_ws_send_binary and tr_ws_close: loop thread only, from on_open until
 * on_close returns (in the callbacks, or in other loop-thread code).
 * tr_http_ws_upgrade: in the route handler, on whatever thread it runs.
 * tr_ws_post_text, tr_ws_post_close, tr_ws_queued_bytes, tr_ws_conn_ref
 * and tr_ws_conn_unref: any thread, while the caller holds a reference
 * (or, on the loop thread, between on_open and the return of on_close).
 * A post copies the frame into a queue and wakes the loop (uv_async);
 * posts of one thread are sent in order.
 *
 * Lifetime. on_close runs exactly once for every successful
 * tr_http_ws_upgrade, also when on_open never ran (the 101 could not be
 * written): release user_data there. The connection object lives while
 * references remain: the server holds one until on_close returned; code
 * that hands w to other threads takes its own with tr_ws_conn_ref (e.g. in
 * on_open) and drops it with tr_ws_conn_unref. Once the connection is
 * closing, sends and posts return TR_ECANCELED.
 *
 * Back-pressure. Bytes of frames accepted but not yet written to the socket
 * are bounded by max_queued_bytes. A text/binary send or post that would
 * pass the bound is dropped and returns TR_EBUSY; the connection stays
 * open, so the caller decides: report the drop (Loki's tail has a
 * droppedEntries field) or close (e.g. tr_ws_close(w, 1008, "too slow")).
 * Our pings and close frames are never dropped; pongs are (a peer that
 * pings without reading gets no answer once the queue is full).
 *
 * Liveness. ping_interval_ms after the connection opened, and again that
 * long after each answer, the server sends a ping; if nothing at all
 * arrives within pong_timeout_ms after it, the TCP connection is closed
 * without a close frame (on_close gets 1006). Any bytes count as an answer.
 * A close handshake the server started (tr_ws_close, a protocol error,
 * server shutdown with 1001) waits close_timeout_ms for the peer's close
 * frame. */
struct tr_ws_conn;

struct tr_ws_handler {
    int version; /* 1 */
    /* The 101 was written; w is usable from here on (optional). */
    void (*on_open)(struct tr_ws_conn *w, void *user_data);
    /* A complete message: TR_WS_OP_TEXT (valid UTF-8) or TR_WS_OP_BINARY;
     * data (NUL-terminated, not counted) is valid during the call only. Not
     * called once a close handshake started (optional). */
    void (*on_message)(struct tr_ws_conn *w,
                       enum tr_ws_opcode opcode,
                       const char *data,
                       size_t len,
                       void *user_data);
    /* The connection is gone (required). code: the peer's close code when
     * it sent a close frame (1005: without a code), else the code of the
     * close frame the server sent, else 1006 (connection lost, pong
     * timeout, never opened). */
    void (*on_close)(struct tr_ws_conn *w, unsigned code, void *user_data);
    size_t max_message_bytes;  /* incoming message -> close 1009; 0: 1 MiB */
    size_t max_queued_bytes;   /* outgoing unwritten bytes; 0: 4 MiB */
    uint64_t ping_interval_ms; /* 0: 30000 */
    uint64_t pong_timeout_ms;  /* 0: 10000 */
    uint64_t close_timeout_ms; /* 0: 5000 */
};

/* Accepts req as a WebSocket opening handshake, from a route handler (any
 * thread; call it at most once, with the handler's own req and resp). On
 * success sets resp->status to 101 (the server adds the Upgrade,
 * Connection and Sec-WebSocket-Accept headers when it writes it; headers
 * the handler adds are sent too) and returns 0; the handler struct is
 * copied. A handler that then sets another status abandons the upgrade:
 * that response is sent as usual and on_close runs with 1006. Otherwise fills
 * resp with the error response and returns: TR_EPROTO (400 with the reason, or
 * 426 with "Sec-WebSocket-Version: 13", see tr_ws_handshake_check), TR_EINVAL
 * (h NULL, wrong version or without on_close, a second call), TR_ENOMEM (503);
 * no callback will run then. No subprotocol or extension is negotiated. */
int tr_http_ws_upgrade(const struct tr_http_request *req,
                       struct tr_http_response *resp,
                       const struct tr_ws_handler *h,
                       void *user_data);
/* Sends one text (caller-checked UTF-8) or binary message, copied (loop
 * thread). 0; TR_EBUSY (dropped: over max_queued_bytes); TR_ETOOLARGE (the
 * frame alone is larger than max_queued_bytes); TR_ECANCELED (closing or
 * closed); TR_ENOMEM. */
int tr_ws_send_text(struct tr_ws_conn *w, const char *data, size_t len);
int tr_ws_send_binary(struct tr_ws_conn *w, const void *data, size_t len);
/* Starts the closing handshake with code (1000-1003, 1007-1014, 3000-4999)
 * and a reason (NULL or a C string, cut to 123 bytes); later messages from
 * the peer are not delivered (loop thread). 0; TR_EINVAL (code);
 * TR_ECANCELED (already closing); TR_ENOMEM. */
int tr_ws_close(struct tr_ws_conn *w, unsigned code, const char *reason);
/* As tr_ws_send_text / tr_ws_close, from any thread (see above): the frame
 * is queued for the loop. Same returns; a post after the connection started
 * closing returns TR_ECANCELED. */
int tr_ws_post_text(struct tr_ws_conn *w, const char *data, size_t len);
int tr_ws_post_close(struct tr_ws_conn *w, unsigned code, const char *reason);
/* Bytes accepted for sending and not yet written (any thread). */
size_t tr_ws_queued_bytes(struct tr_ws_conn *w);
/* One more reference to w / drops one (any thread; the last frees w). */
void tr_ws_conn_ref(struct tr_ws_conn *w);
void tr_ws_conn_unref(struct tr_ws_conn *w);

#endif
