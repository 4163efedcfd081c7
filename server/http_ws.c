/* http_ws.c - WebSocket connections of the HTTP server: after the 101,
 * frames in (server/ws.c's parser), frames out (uv_write on the
 * connection's stream), pings, the closing handshake, the bounded send
 * queue and the cross-thread post queue. The public contract is at the end
 * of server/http.h; the seam with http.c at the end of server/http_int.h.
 *
 * States (loop thread):
 *
 *          start             tr_ws_close / protocol error / shutdown
 *   NEW ----------> OPEN ------------------------------------> CLOSE_SENT
 *                     |  peer's close: reply with a close          |
 *                     |                                            | peer's
 *                     v                                            v close
 *                   DONE <--- our close frame written and the peer's
 *                    (http.c lingers: FIN, drain, close)  close received
 *
 * Any state -> (conn gone): tr_http__ws_closing, then tr_http__ws_release.
 * A protocol error counts as "close received" (the connection is failed,
 * RFC 6455 section 7.1.7): it ends as soon as our close frame is written.
 * The close timeout and the pong timeout close the TCP connection at once.
 *
 * Memory. struct tr_ws_conn is reference-counted (refs under mu): one
 * reference for the server (until tr_http__ws_release), one for the async
 * handle (until its close callback), one per tr_ws_conn_ref. Each frame
 * being written is a struct ws_out freed in its write callback; libuv runs
 * those (with UV_ECANCELED if need be) before the stream's close callback,
 * so before tr_http__ws_release. */
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/log.h"
#include "server/http.h"
#include "server/http_int.h"
#include "server/ws.h"

#define DEF_MAX_MESSAGE (1u << 20)
#define DEF_MAX_QUEUED (4u << 20)
#define DEF_PING_MS 30000
#define DEF_PONG_MS 10000
#define DEF_CLOSE_MS 5000

enum ws_state { WS_NEW, WS_OPEN, WS_CLOSE_SENT, WS_DONE };

/* One frame on its way out. */
struct ws_out {
    uv_write_t req;
    struct ws_out *next; /* in the post queue */
    struct tr_ws_conn *w;
    struct tr_buf frame; /* the encoded frame */
    bool is_close;       /* a close frame */
    unsigned close_code; /* is_close: its code (0 = none) */
};

struct tr_ws_conn {
    /* Shared between threads: under mu. */
    uv_mutex_t mu;
    int refs;
    bool gone;     /* closing: posts and sends refused */
    size_t queued; /* bytes of frames accepted and not yet written */
    struct ws_out *post_head, *post_tail; /* posted, not yet on the loop */
    /* Loop thread only. */
    struct tr_ws_handler h;
    void *user;
    enum ws_state state;
    uv_stream_t *stream;
    void *conn;       /* http.c's connection; NULL once it closes */
    uv_async_t async; /* wakes the loop for posts */
    bool async_on;    /* async initialised (to be closed) */
    struct tr_ws_parser parser;
    bool awaiting_pong;  /* a ping is out and nothing came since */
    bool close_received; /* the peer's close frame (or a protocol error) */
    bool close_written;  /* our close frame reached the socket */
    unsigned close_code; /* for on_close; 0 = none yet */
    bool reported;       /* on_close ran */
};

static void ws__lock(struct tr_ws_conn *w)
{
    uv_mutex_lock(&w->mu);
}

static void ws__unlock(struct tr_ws_conn *w)
{
    uv_mutex_unlock(&w->mu);
}

static void ws__out_free(struct ws_out *o)
{
    tr_buf_free(&o->frame);
    tr_free(o);
}

/* Frees posted frames that will not be sent (called under mu). */
static void ws__drop_posts_locked(struct tr_ws_conn *w)
{
    struct ws_out *o = w->post_head;
    while (o != NULL) {
        struct ws_out *next = o->next;
        w->queued -= o->frame.len;
        ws__out_free(o);
        o = next;
    }
    w->post_head = w->post_tail = NULL;
}

/* ---- references -------------------------------------------------------- */

void tr_ws_conn_ref(struct tr_ws_conn *w)
{
    ws__lock(w);
    w->refs++;
    ws__unlock(w);
}

void tr_ws_conn_unref(struct tr_ws_conn *w)
{
    ws__lock(w);
    int left = --w->refs;
    ws__unlock(w);
    if (left > 0) {
        return;
    }
    ws__drop_posts_locked(w); /* nobody else can see w any more */
    tr_ws_parser_free(&w->parser);
    uv_mutex_destroy(&w->mu);
    tr_free(w);
}

size_t tr_ws_queued_bytes(struct tr_ws_conn *w)
{
    ws__lock(w);
    size_t n = w->queued;
    ws__unlock(w);
    return n;
}

/* ---- frames out -------------------------------------------------------- */

/* A frame in a new ws_out; NULL when out of memory or refused (*rv). */
static struct ws_out *ws__frame(struct tr_ws_conn *w,
                                enum tr_ws_opcode op,
                                const void *data,
                                size_t len,
                                int *rv)
{
    size_t need = tr_ws_frame_header_len(len, false) + len;
    if (len > SIZE_MAX / 2 || ((op == TR_WS_OP_TEXT || op == TR_WS_OP_BINARY) &&
                               need > w->h.max_queued_bytes)) {
        *rv = TR_ETOOLARGE;
        return NULL;
    }
    struct ws_out *o = tr_calloc(1, sizeof(*o));
    if (o == NULL) {
        *rv = TR_ENOMEM;
        return NULL;
    }
    o->w = w;
    tr_buf_init(&o->frame);
    *rv = tr_buf_reserve_exact(&o->frame, need);
    if (*rv == 0) {
        *rv = tr_ws_frame_append(&o->frame, op, true, data, len, NULL);
    }
    if (*rv != 0) {
        ws__out_free(o);
        return NULL;
    }
    return o;
}

/* A close frame in a new ws_out (reason: NULL or a C string). */
static struct ws_out *ws__close_frame(struct tr_ws_conn *w,
                                      unsigned code,
                                      const char *reason,
                                      int *rv)
{
    if (!tr_ws_close_code_valid(code)) {
        *rv = TR_EINVAL;
        return NULL;
    }
    struct ws_out *o = tr_calloc(1, sizeof(*o));
    if (o == NULL) {
        *rv = TR_ENOMEM;
        return NULL;
    }
    o->w = w;
    o->is_close = true;
    o->close_code = code;
    tr_buf_init(&o->frame);
    *rv = tr_ws_close_append(&o->frame, code, reason,
                             reason ? strlen(reason) : 0, NULL);
    if (*rv != 0) {
        ws__out_free(o);
        return NULL;
    }
    return o;
}

/* Accounts o in the queue. bounded: a data frame that may be dropped.
 * 0, TR_EBUSY or TR_ECANCELED (o is freed on failure). */
static int ws__account(struct tr_ws_conn *w, struct ws_out *o, bool bounded)
{
    ws__lock(w);
    int rv = 0;
    if (w->gone) {
        rv = TR_ECANCELED;
    } else if (bounded && w->queued + o->frame.len > w->h.max_queued_bytes) {
        rv = TR_EBUSY;
    } else {
        w->queued += o->frame.len;
    }
    ws__unlock(w);
    if (rv != 0) {
        ws__out_free(o);
    }
    return rv;
}

static void ws__maybe_done(struct tr_ws_conn *w);

static void ws__on_written(uv_write_t *req, int status)
{
    struct ws_out *o = req->data;
    struct tr_ws_conn *w = o->w;
    ws__lock(w);
    w->queued -= o->frame.len;
    ws__unlock(w);
    bool was_close = o->is_close;
    ws__out_free(o);
    if (w->conn == NULL) {
        return; /* the connection is closing (UV_ECANCELED) */
    }
    if (status < 0) {
        tr_log_debug("websocket write failed", "err=%s", uv_strerror(status));
        tr_http__conn_close(w->conn);
        return;
    }
    if (was_close) {
        w->close_written = true;
        ws__maybe_done(w);
    }
}

/* Writes an accounted frame (loop thread). */
static void ws__write(struct tr_ws_conn *w, struct ws_out *o)
{
    if (w->conn == NULL) {
        ws__lock(w);
        w->queued -= o->frame.len;
        ws__unlock(w);
        ws__out_free(o);
        return;
    }
    o->req.data = o;
    uv_buf_t b = uv_buf_init(o->frame.data, (unsigned)o->frame.len);
    int rv = uv_write(&o->req, w->stream, &b, 1, ws__on_written);
    if (rv != 0) {
        ws__lock(w);
        w->queued -= o->frame.len;
        ws__unlock(w);
        ws__out_free(o);
        tr_log_debug("websocket write failed", "err=%s", uv_strerror(rv));
        tr_http__conn_close(w->conn);
    }
}

/* A control frame (loop thread). Our pings are not bounded; pongs are:
 * a peer that pings without reading gets no more pongs once the queue is
 * full (RFC 6455 section 5.5.3 lets us answer only the latest ping). */
static void ws__control(struct tr_ws_conn *w,
                        enum tr_ws_opcode op,
                        struct tr_slice payload)
{
    int rv;
    struct ws_out *o = ws__frame(w, op, payload.base, payload.len, &rv);
    if (o == NULL) {
        return; /* out of memory: the peer may ping again */
    }
    if (ws__account(w, o, op == TR_WS_OP_PONG) == 0) {
        ws__write(w, o);
    }
}

/* Both close frames are through: let http.c finish the connection. */
static void ws__maybe_done(struct tr_ws_conn *w)
{
    if (w->conn == NULL || w->state == WS_DONE || !w->close_written ||
        !w->close_received) {
        return;
    }
    w->state = WS_DONE;
    tr_http__conn_timer(w->conn, 0);
    tr_http__conn_linger(w->conn);
}

/* Sends the close frame o (built, not accounted) and enters CLOSE_SENT;
 * queued posts are dropped (loop thread). */
static void ws__send_close(struct tr_ws_conn *w, struct ws_out *o)
{
    ws__lock(w);
    w->gone = true;
    ws__drop_posts_locked(w);
    w->queued += o->frame.len;
    ws__unlock(w);
    w->state = WS_CLOSE_SENT;
    if (w->close_code == 0) {
        w->close_code = o->close_code ? o->close_code : TR_WS_CLOSE_NO_STATUS;
    }
    if (!w->close_received) {
        tr_http__conn_timer(w->conn, w->h.close_timeout_ms);
    } else {
        tr_http__conn_timer(w->conn, 0);
    }
    ws__write(w, o);
}

/* Starts or answers a closing handshake (loop thread). */
static int ws__close(struct tr_ws_conn *w, unsigned code, const char *reason)
{
    if (w->state != WS_OPEN || w->conn == NULL) {
        return TR_ECANCELED;
    }
    int rv;
    struct ws_out *o;
    if (code == 0 || code == TR_WS_CLOSE_NO_STATUS) {
        /* answering a close without a code: an empty close frame */
        o = tr_calloc(1, sizeof(*o));
        if (o == NULL) {
            return TR_ENOMEM;
        }
        o->w = w;
        o->is_close = true;
        tr_buf_init(&o->frame);
        rv = tr_ws_close_append(&o->frame, 0, NULL, 0, NULL);
        if (rv != 0) {
            ws__out_free(o);
            return rv;
        }
    } else {
        o = ws__close_frame(w, code, reason, &rv);
        if (o == NULL) {
            return rv;
        }
    }
    ws__send_close(w, o);
    return 0;
}

/* Fails the connection: a close frame with code, then the end. */
static void ws__fail(struct tr_ws_conn *w, unsigned code, const char *why)
{
    tr_log_debug("websocket protocol error", "code=%u err=%s", code, why);
    w->close_received = true; /* do not wait for the peer */
    if (ws__close(w, code, why) != 0 && w->conn != NULL) {
        tr_http__conn_close(w->conn);
    }
}

/* ---- public sends ------------------------------------------------------ */

static int ws__send(struct tr_ws_conn *w,
                    enum tr_ws_opcode op,
                    const void *data,
                    size_t len)
{
    if (w->state != WS_OPEN || w->conn == NULL) {
        return TR_ECANCELED;
    }
    int rv;
    struct ws_out *o = ws__frame(w, op, data, len, &rv);
    if (o == NULL) {
        return rv;
    }
    rv = ws__account(w, o, true);
    if (rv == 0) {
        ws__write(w, o);
    }
    return rv;
}

int tr_ws_send_text(struct tr_ws_conn *w, const char *data, size_t len)
{
    return ws__send(w, TR_WS_OP_TEXT, data, len);
}

int tr_ws_send_binary(struct tr_ws_conn *w, const void *data, size_t len)
{
    return ws__send(w, TR_WS_OP_BINARY, data, len);
}

int tr_ws_close(struct tr_ws_conn *w, unsigned code, const char *reason)
{
    if (!tr_ws_close_code_valid(code)) {
        return TR_EINVAL;
    }
    return ws__close(w, code, reason);
}

/* Queues o for the loop (any thread). bounded as in ws__account. */
static int ws__post(struct tr_ws_conn *w, struct ws_out *o, bool bounded)
{
    ws__lock(w);
    int rv = 0;
    if (w->gone) {
        rv = TR_ECANCELED;
    } else if (bounded && w->queued + o->frame.len > w->h.max_queued_bytes) {
        rv = TR_EBUSY;
    } else {
        w->queued += o->frame.len;
        if (w->post_tail) {
            w->post_tail->next = o;
        } else {
            w->post_head = o;
        }
        w->post_tail = o;
        if (o->is_close) {
            w->gone = true; /* nothing may follow a close */
        }
        /* under mu: release sets gone under mu before closing the handle */
        uv_async_send(&w->async);
    }
    ws__unlock(w);
    if (rv != 0) {
        ws__out_free(o);
    }
    return rv;
}

int tr_ws_post_text(struct tr_ws_conn *w, const char *data, size_t len)
{
    int rv;
    struct ws_out *o = ws__frame(w, TR_WS_OP_TEXT, data, len, &rv);
    if (o == NULL) {
        return rv;
    }
    return ws__post(w, o, true);
}

int tr_ws_post_close(struct tr_ws_conn *w, unsigned code, const char *reason)
{
    int rv;
    struct ws_out *o = ws__close_frame(w, code, reason, &rv);
    if (o == NULL) {
        return rv;
    }
    return ws__post(w, o, false);
}

static void ws__on_async(uv_async_t *a)
{
    struct tr_ws_conn *w = a->data;
    ws__lock(w);
    struct ws_out *o = w->post_head;
    w->post_head = w->post_tail = NULL;
    ws__unlock(w);
    while (o != NULL) {
        struct ws_out *next = o->next;
        o->next = NULL;
        if (w->state != WS_OPEN || w->conn == NULL) {
            ws__lock(w);
            w->queued -= o->frame.len;
            ws__unlock(w);
            ws__out_free(o);
        } else if (o->is_close) {
            ws__lock(w);
            w->queued -= o->frame.len; /* ws__send_close counts it again */
            ws__unlock(w);
            ws__send_close(w, o);
        } else {
            ws__write(w, o);
        }
        o = next;
    }
}

static void ws__on_async_close(uv_handle_t *h)
{
    tr_ws_conn_unref(h->data);
}

/* ---- the seam with http.c ---------------------------------------------- */

struct tr_ws_conn *tr_http__ws_new(const struct tr_ws_handler *h,
                                   void *user_data)
{
    struct tr_ws_conn *w = tr_calloc(1, sizeof(*w));
    if (w == NULL) {
        return NULL;
    }
    if (uv_mutex_init(&w->mu) != 0) {
        tr_free(w);
        return NULL;
    }
    w->refs = 1; /* the server's */
    w->h = *h;
    if (w->h.max_message_bytes == 0) {
        w->h.max_message_bytes = DEF_MAX_MESSAGE;
    }
    if (w->h.max_queued_bytes == 0) {
        w->h.max_queued_bytes = DEF_MAX_QUEUED;
    }
    if (w->h.ping_interval_ms == 0) {
        w->h.ping_interval_ms = DEF_PING_MS;
    }
    if (w->h.pong_timeout_ms == 0) {
        w->h.pong_timeout_ms = DEF_PONG_MS;
    }
    if (w->h.close_timeout_ms == 0) {
        w->h.close_timeout_ms = DEF_CLOSE_MS;
    }
    w->user = user_data;
    w->state = WS_NEW;
    tr_ws_parser_init(&w->parser, w->h.max_message_bytes, true);
    return w;
}

int tr_http__ws_start(struct tr_ws_conn *w,
                      uv_loop_t *loop,
                      uv_stream_t *stream,
                      void *conn)
{
    int rv = uv_async_init(loop, &w->async, ws__on_async);
    if (rv != 0) {
        return rv;
    }
    w->async.data = w;
    w->async_on = true;
    tr_ws_conn_ref(w); /* the async handle's */
    w->stream = stream;
    w->conn = conn;
    w->state = WS_OPEN;
    tr_http__conn_timer(conn, w->h.ping_interval_ms);
    if (w->h.on_open) {
        w->h.on_open(w, w->user);
    }
    return 0;
}

void tr_http__ws_input(struct tr_ws_conn *w, const char *data, size_t len)
{
    if (len > 0 && w->state == WS_OPEN && w->awaiting_pong) {
        w->awaiting_pong = false; /* alive */
        tr_http__conn_timer(w->conn, w->h.ping_interval_ms);
    }
    while (len > 0 && w->conn != NULL &&
           (w->state == WS_OPEN || w->state == WS_CLOSE_SENT) &&
           !w->close_received) {
        size_t used = 0;
        struct tr_ws_event ev;
        enum tr_ws_result r = tr_ws_parse(&w->parser, data, len, &used, &ev);
        data += used;
        len -= used;
        switch (r) {
            case TR_WS_NEED_MORE:
                return;
            case TR_WS_MESSAGE:
                if (w->state == WS_OPEN && w->h.on_message) {
                    w->h.on_message(w, ev.opcode, ev.payload.base,
                                    ev.payload.len, w->user);
                }
                break;
            case TR_WS_PING:
                if (w->state == WS_OPEN) {
                    ws__control(w, TR_WS_OP_PONG, ev.payload);
                }
                break;
            case TR_WS_PONG:
                break;
            case TR_WS_CLOSE:
                w->close_received = true;
                w->close_code = ev.close_code;
                if (w->state == WS_OPEN) {
                    /* echo the code (none when the peer sent none) */
                    if (ws__close(w, ev.close_code, NULL) != 0 &&
                        w->conn != NULL) {
                        tr_http__conn_close(w->conn);
                    }
                } else {
                    ws__maybe_done(w);
                }
                return;
            case TR_WS_ERROR:
            default:
                if (w->state == WS_OPEN) {
                    ws__fail(w, w->parser.close_code, w->parser.errmsg);
                } else {
                    /* already closing: just end it */
                    w->close_received = true;
                    ws__maybe_done(w);
                }
                return;
        }
    }
}

void tr_http__ws_on_timer(struct tr_ws_conn *w)
{
    if (w->conn == NULL) {
        return;
    }
    switch (w->state) {
        case WS_OPEN:
            if (w->awaiting_pong) {
                tr_log_debug("websocket peer stopped answering",
                             "after_ms=%llu",
                             (unsigned long long)w->h.pong_timeout_ms);
                tr_http__conn_close(w->conn);
                return;
            }
            w->awaiting_pong = true;
            ws__control(w, TR_WS_OP_PING, TR_SLICE_LIT(""));
            if (w->conn != NULL) {
                tr_http__conn_timer(w->conn, w->h.pong_timeout_ms);
            }
            break;
        case WS_CLOSE_SENT:
            tr_log_debug("websocket close handshake timed out", "after_ms=%llu",
                         (unsigned long long)w->h.close_timeout_ms);
            tr_http__conn_close(w->conn);
            break;
        default:
            break;
    }
}

void tr_http__ws_shutdown(struct tr_ws_conn *w)
{
    if (ws__close(w, TR_WS_CLOSE_GOING_AWAY, "server shutting down") != 0 &&
        w->state != WS_CLOSE_SENT && w->state != WS_DONE && w->conn != NULL) {
        tr_http__conn_close(w->conn);
    }
}

void tr_http__ws_closing(struct tr_ws_conn *w)
{
    w->conn = NULL;
    w->stream = NULL;
    if (w->state != WS_NEW) {
        w->state = WS_DONE;
    }
    ws__lock(w);
    w->gone = true;
    ws__drop_posts_locked(w);
    ws__unlock(w);
}

void tr_http__ws_release(struct tr_ws_conn *w)
{
    tr_http__ws_closing(w);
    if (!w->reported) {
        w->reported = true;
        unsigned code = w->close_code ? w->close_code : TR_WS_CLOSE_ABNORMAL;
        w->h.on_close(w, code, w->user);
    }
    if (w->async_on) {
        w->async_on = false;
        uv_close((uv_handle_t *)&w->async, ws__on_async_close);
    }
    tr_ws_conn_unref(w);
}
