/* http_int.h - private types of the HTTP server: the incremental request
 * parser (http_parse.c, pure: no libuv, fuzzable), helpers shared by
 * http.c and http_form.c, and the seams between http.c and its WebSocket
 * connections (http_ws.c) and its HTTP/2 connections (http_h2.c; at the
 * end).
 *
 * Parser contract. The caller keeps the unconsumed input in one contiguous
 * buffer and calls tr_http_parse() with it after every read; the parser
 * reports how many bytes it consumed (the caller drops them). The head
 * (request line + headers) is consumed only once complete; its parsed form
 * is copied into p->arena, so the input buffer may move afterwards. Body
 * bytes are consumed as they arrive and appended (de-chunked) to p->body.
 *
 *   NEED_MORE --(head complete)--> HEAD --(body complete)--> DONE
 *       \                            \
 *        +-------------(framing/limit error)--------------> ERROR
 *
 * HEAD is reported exactly once per request, even without a body (the
 * next call then returns DONE at once), so the caller can answer
 * "Expect: 100-continue" before the body is read. Bytes after a complete
 * request are left unconsumed (pipelining): the caller resets the parser
 * with tr_http_parser_reset() once it has answered.
 *
 * Accepted grammar (RFC 9112, with Go's leniencies): lines end in CRLF or a
 * bare LF; empty lines before the request line are skipped; the request
 * target is origin-form ("/path?query"), absolute-form ("http://h/path")
 * or "*"; versions HTTP/1.0 and HTTP/1.1 (others -> 505); header names are
 * tokens followed directly by ':'; obsolete line folding is rejected.
 * Chunked bodies: hex size, optional ";ext" (ignored), CRLF, data, CRLF;
 * trailers after the last chunk are read and discarded. */
#ifndef TR_SERVER_HTTP_INT_H
#define TR_SERVER_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "server/http.h"

#define TR_HTTP_MAX_HEADERS 100
#define TR_HTTP_MAX_CHUNK_LINE 4096 /* size line incl. extensions */

enum tr_http_parse_result {
    TR_HP_NEED_MORE = 0, /* feed more bytes */
    TR_HP_HEAD = 1,      /* head parsed; call again for the body */
    TR_HP_DONE = 2,      /* request complete */
    TR_HP_ERROR = 3,     /* p->err_status and p->errmsg tell why */
};

enum tr_http_parse_state {
    TR_HPS_HEAD = 0,
    TR_HPS_HEAD_DONE, /* HEAD reported, body (if any) next */
    TR_HPS_BODY_CL,
    TR_HPS_CHUNK_SIZE,
    TR_HPS_CHUNK_EXT,
    TR_HPS_CHUNK_SIZE_LF,
    TR_HPS_CHUNK_DATA,
    TR_HPS_CHUNK_DATA_CR,
    TR_HPS_CHUNK_DATA_LF,
    TR_HPS_TRAILER_START, /* at the start of a trailer line */
    TR_HPS_TRAILER_LINE,
    TR_HPS_TRAILER_LF, /* after CR of a trailer line */
    TR_HPS_END_LF,     /* after CR of the empty line ending trailers */
    TR_HPS_DONE,
    TR_HPS_ERROR,
};

struct tr_http_parser {
    /* Set by the caller (kept across resets). */
    size_t max_header_bytes; /* head size limit -> 431 */
    size_t max_body_bytes;   /* raw body limit -> 413 */
    struct tr_arena *arena;  /* receives the parsed head */
    /* Internal state. */
    enum tr_http_parse_state state;
    size_t scan;        /* head bytes already searched */
    uint64_t left;      /* CL bytes or chunk bytes to read */
    size_t line_len;    /* chunk size line / trailer bytes */
    size_t size_digits; /* hex digits of the chunk size */
    /* Result: the head (valid after TR_HP_HEAD, in arena). */
    enum tr_http_method method;
    char *method_str; /* as sent */
    char *path;       /* percent-decoded, NUL-terminated */
    size_t path_len;
    char *raw_query; /* after '?', NUL-terminated */
    size_t raw_query_len;
    struct tr_http_header *headers; /* n_headers entries */
    size_t n_headers;
    int minor;            /* HTTP/1.<minor> */
    bool keep_alive;      /* after Connection / version rules */
    bool expect_continue; /* "Expect: 100-continue" (1.1) */
    bool chunked;         /* Transfer-Encoding: chunked */
    bool has_content_length;
    uint64_t content_length;
    size_t head_bytes; /* size of the consumed head */
    /* Result: the raw (still content-encoded) body, tr_malloc'ed. */
    struct tr_buf body;
    /* Error (after TR_HP_ERROR). */
    int err_status; /* 400, 413, 431, 505 */
    char errmsg[256];
};

/* Zeroes p, sets the limits and arena; body buffer empty. */
void tr_http_parser_init(struct tr_http_parser *p,
                         size_t max_header_bytes,
                         size_t max_body_bytes,
                         struct tr_arena *arena);
/* Ready for the next request (keeps limits; frees nothing in the arena:
 * the caller sets p->arena to the next request's arena). The body buffer
 * is emptied, its memory kept unless the caller stole it. */
void tr_http_parser_reset(struct tr_http_parser *p, struct tr_arena *arena);
void tr_http_parser_free(struct tr_http_parser *p);
/* Parses data[0..len). Returns a tr_http_parse_result; *consumed is the
 * number of bytes used (the caller drops them before the next call). */
int tr_http_parse(struct tr_http_parser *p,
                  const char *data,
                  size_t len,
                  size_t *consumed);
/* True if the parser has consumed bytes of a request not yet complete. */
bool tr_http_parser_started(const struct tr_http_parser *p);

/* The reason phrase of a status code ("Not Found"; "" when unknown) and
 * the name of a method ("GET"; "OTHER"), server/http_status.c. */
const char *tr_http__status_text(int status);
const char *tr_http__method_name(enum tr_http_method m);
/* Method name to enum (TR_HTTP_OTHER if unknown). */
enum tr_http_method tr_http__method(const char *s, size_t n);
/* Decodes %XX (and '+' as space if plus) from s into out (room for n+1
 * bytes); returns the decoded length. strict: an invalid escape fails with
 * (size_t)-1; otherwise it is copied literally. out is NUL-terminated. */
size_t tr_http__unescape(const char *s,
                         size_t n,
                         bool plus,
                         bool strict,
                         char *out);

/* ---- WebSocket seam: http.c <-> http_ws.c ------------------------------
 * http.c owns the connection (socket, timer, read buffer, close and
 * linger); http_ws.c owns a struct tr_ws_conn that writes frames on the
 * connection's stream and reacts to input and timer expiry. Connection
 * phases: the 101 is written -> tr_http__ws_start; each read ->
 * tr_http__ws_input; the connection's timer -> tr_http__ws_on_timer; server
 * shutdown -> tr_http__ws_shutdown; conn_close -> tr_http__ws_closing (no
 * callbacks run, the stream is no longer used); the connection's memory is
 * freed -> tr_http__ws_release (on_close runs). Loop thread only, except
 * tr_http__ws_new. */

/* A connection object for an accepted upgrade, not started (any thread).
 * NULL when out of memory. */
struct tr_ws_conn *tr_http__ws_new(const struct tr_ws_handler *h,
                                   void *user_data);
/* The 101 was written on stream: start (on_open runs). conn is http.c's
 * connection for the tr_http__conn_* calls. 0, or a negative libuv code
 * (then the caller closes the connection). */
int tr_http__ws_start(struct tr_ws_conn *w,
                      uv_loop_t *loop,
                      uv_stream_t *stream,
                      void *conn);
/* Bytes read from the connection (all consumed). */
void tr_http__ws_input(struct tr_ws_conn *w, const char *data, size_t len);
/* The connection's timer (armed with tr_http__conn_timer) expired. */
void tr_http__ws_on_timer(struct tr_ws_conn *w);
/* Server shutdown: close with 1001. */
void tr_http__ws_shutdown(struct tr_ws_conn *w);
/* The connection is being closed (uv_close called). */
void tr_http__ws_closing(struct tr_ws_conn *w);
/* The connection is gone (or never started): runs on_close if it has not
 * run and drops the server's reference. */
void tr_http__ws_release(struct tr_ws_conn *w);

/* Provided by http.c for http_ws.c; conn as given to tr_http__ws_start. */
void tr_http__conn_close(void *conn);  /* close now (pending writes fail) */
void tr_http__conn_linger(void *conn); /* after pending writes: FIN, drain,
                                          close */
void tr_http__conn_timer(void *conn, uint64_t ms); /* arm (0: stop) */

/* ---- HTTP/2 seam: http.c <-> http_h2.c ----------------------------------
 * A connection whose first bytes are the HTTP/2 preface becomes an h2c
 * session (tr_http__h2_new, then every read -> tr_http__h2_input). Each
 * request stream gets an exchange from http.c (tr_http__h2_exchange; its
 * request and raw body filled through tr_http__x_req / tr_http__x_body)
 * and is dispatched through the same routes and handler pool as HTTP/1
 * (tr_http__x_dispatch); the response comes back through
 * tr_http__h2_respond, and http_h2.c frees the exchange (tr_http__x_free)
 * once the stream is done. conn_close -> tr_http__h2_closing (exchanges
 * on the pool are detached: http.c frees them when they return); the
 * connection freed -> tr_http__h2_release. Loop thread only. */
struct tr_h2_conn;
struct tr_h2_stream;

struct tr_h2_conn *tr_http__h2_new(void *conn,
                                   uv_stream_t *tcp,
                                   const struct tr_http_server_config *cfg);
void tr_http__h2_input(struct tr_h2_conn *h, const char *data, size_t len);
/* The response of x, the exchange of stream st (x freed when sent). */
void tr_http__h2_respond(struct tr_h2_stream *st,
                         struct tr_http_response *resp,
                         void *x);
void tr_http__h2_on_timer(struct tr_h2_conn *h);
void tr_http__h2_shutdown(struct tr_h2_conn *h);
void tr_http__h2_closing(struct tr_h2_conn *h);
void tr_http__h2_release(struct tr_h2_conn *h);

/* Provided by http.c for http_h2.c. */
void *tr_http__h2_exchange(void *conn, struct tr_h2_stream *st);
struct tr_http_request *tr_http__x_req(void *x);
struct tr_buf *tr_http__x_body(void *x);
void tr_http__x_dispatch(void *x);
void tr_http__x_detach(void *x); /* its stream is gone */
void tr_http__x_free(void *x);
size_t tr_http__max_body(void *conn);
bool tr_http__shutting_down(void *conn);

#endif
