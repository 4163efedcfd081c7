/* http.h - HTTP/1.1 server on libuv: keep-alive, pipelining-safe,
 * Content-Length and chunked request bodies, Content-Encoding
 * snappy|gzip|deflate decoding, body size limit (413), header/body read
 * timeouts, routing table.
 *
 * Threading: the server runs on one libuv loop. A matched route's handler
 * runs on the libuv thread pool (uv_queue_work) unless the route is
 * TR_ROUTE_INLINE; the response is written back on the loop thread.
 * Handlers must not touch libuv handles. */
#ifndef TR_SERVER_HTTP_H
#define TR_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/alloc.h"
#include "lib/buf.h"

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

#endif
