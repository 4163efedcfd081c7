/* rpc.c - the internal RPC client: one libcurl multi handle driven by the
 * node's libuv loop through the multi-socket API.
 *
 *   curl ── CURLMOPT_SOCKETFUNCTION ──> on_curl_socket: one struct rpc_sock
 *        │                              (a uv_poll_t) per socket assignment,
 *        │                              attached with curl_multi_assign
 *        └─ CURLMOPT_TIMERFUNCTION ───> on_curl_timer: r->timer (uv_timer_t)
 *   uv_poll / uv_timer callbacks ──> curl_multi_socket_action ──> check_done
 *                                    (curl_multi_info_read -> user callback)
 *
 * Worker threads reach the loop through one mutex-protected FIFO and one
 * uv_async_t (r->async): items are either a blocking call (struct
 * rpc_wait, on the caller's stack; the caller sleeps on its own condition
 * variable) or a function to run (tr_rpc_run_on_loop). The whole queue is
 * drained per wakeup.
 *
 * Poll handles and fd reuse: when curl says CURL_POLL_REMOVE the poll is
 * closed at once (uv_close stops it and removes the fd from epoll
 * synchronously, before curl closes the fd); only its memory waits for the
 * close callback. If curl then gets the same fd number for a new socket,
 * the socketp it hands back is NULL (we cleared the assignment), so a new
 * rpc_sock is allocated: a closing handle is never restarted.
 *
 * Lifetime: every libuv handle (async, timer, each poll) counts in
 * r->n_handles; r is freed in the last close callback, after tr_rpc_close. */
#include "cluster/rpc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/log.h"

#define RPC_EASY_POOL_MAX 64 /* idle easy handles kept for reuse */
#define RPC_MAX_CONNECTS 256 /* connection cache size of the multi */

/* One in-flight transfer. */
struct tr_rpc_req {
    struct tr_rpc *r;
    CURL *easy;
    struct curl_slist *hdrs;
    struct tr_buf resp; /* response body (without a sink) */
    tr_rpc_sink sink;   /* NULL: the body is collected in resp */
    bool sink_abort;    /* the sink stopped the transfer */
    tr_rpc_cb cb;
    void *arg;
    struct tr_rpc_req *prev, *next; /* r->active */
    char errbuf[CURL_ERROR_SIZE];   /* curl's message, for debug logs */
    size_t len;                     /* body length */
    char body[];                    /* the copied request body */
};

/* One socket assignment of curl: a poll handle on fd. */
struct rpc_sock {
    uv_poll_t poll; /* poll.data = this */
    struct tr_rpc *r;
    curl_socket_t fd;
    bool closing;                 /* uv_close called */
    struct rpc_sock *prev, *next; /* r->socks (open ones only) */
};

/* A blocking tr_rpc_call, living on the caller's stack. */
struct rpc_wait {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool done; /* under mu */
    int status;
    long http_status;
    struct tr_buf *out;
    /* request, valid while the caller waits */
    const char *url;
    const void *body;
    size_t len;
    const char *const *headers;
    uint64_t timeout_ms;
};

/* A queue item: a blocking call (wait != NULL) or fn(arg). */
struct rpc_item {
    struct rpc_item *next;
    struct rpc_wait *wait;
    void (*fn)(void *arg);
    void *arg;
};

struct tr_rpc {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;              /* curl's timeout */
    uv_async_t async;              /* wakes the loop for r->queue */
    char *secret_header;           /* "X-Triad-Cluster-Secret: s" or NULL */
    struct tr_rpc_req *active;     /* transfers added to multi */
    struct rpc_sock *socks;        /* open poll handles */
    CURL *pool[RPC_EASY_POOL_MAX]; /* idle easy handles */
    size_t n_pool;
    size_t n_handles; /* libuv handles not yet closed */
    bool closing;     /* tr_rpc_close called */
    void (*close_cb)(void *arg);
    void *close_arg;

    pthread_mutex_t qmu; /* guards the fields below */
    struct rpc_item *qhead, *qtail;
    bool qclosed;       /* no more items accepted */
    pthread_t loop_tid; /* the thread running the loop */

    _Atomic uint64_t n_requests, n_done, n_failed, n_connects;
};

/* ---- global init ------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- handle lifetime --------------------------------------------------- */

static void rpc_free(struct tr_rpc *r)
{
    void (*cb)(void *) = r->close_cb;
    void *arg = r->close_arg;
    pthread_mutex_destroy(&r->qmu);
    tr_free(r->secret_header);
    tr_free(r);
    if (cb != NULL) {
        cb(arg);
    }
}

static void handle_closed(struct tr_rpc *r)
{
    r->n_handles--;
    if (r->closing && r->n_handles == 0) {
        rpc_free(r);
    }
}

static void on_core_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static void on_sock_closed(uv_handle_t *h)
{
    struct rpc_sock *s = h->data;
    struct tr_rpc *r = s->r;
    tr_free(s);
    handle_closed(r);
}

static void sock_close(struct rpc_sock *s)
{
    struct tr_rpc *r = s->r;
    if (s->closing) {
        return;
    }
    s->closing = true;
    if (s->prev != NULL) {
        s->prev->next = s->next;
    } else {
        r->socks = s->next;
    }
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
    /* Stops polling and drops the fd from epoll now, while it is still
     * open; the memory goes in on_sock_closed. */
    uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

/* ---- completion -------------------------------------------------------- */

static void active_unlink(struct tr_rpc *r, struct tr_rpc_req *q)
{
    if (q->prev != NULL) {
        q->prev->next = q->next;
    } else {
        r->active = q->next;
    }
    if (q->next != NULL) {
        q->next->prev = q->prev;
    }
    q->prev = q->next = NULL;
}

static void easy_release(struct tr_rpc *r, CURL *easy)
{
    if (!r->closing && r->n_pool < RPC_EASY_POOL_MAX) {
        curl_easy_reset(easy);
        r->pool[r->n_pool++] = easy;
    } else {
        curl_easy_cleanup(easy);
    }
}

/* Removes q from the multi, runs its callback once, frees it. */
static void req_finish(struct tr_rpc *r,
                       struct tr_rpc_req *q,
                       int status,
                       long http_status)
{
    curl_multi_remove_handle(r->multi, q->easy);
    active_unlink(r, q);
    atomic_fetch_add_explicit(&r->n_done, 1, memory_order_relaxed);
    if (status != 0) {
        atomic_fetch_add_explicit(&r->n_failed, 1, memory_order_relaxed);
    }
    const char *body = status == 0 && q->resp.data != NULL ? q->resp.data : "";
    size_t blen = status == 0 ? q->resp.len : 0;
    q->cb(q->arg, status, http_status, body, blen);
    easy_release(r, q->easy);
    curl_slist_free_all(q->hdrs);
    tr_buf_free(&q->resp);
    tr_free(q);
}

static int map_curl_error(CURLcode rc, const struct tr_rpc_req *q)
{
    switch (rc) {
        case CURLE_OK:
            return 0;
        case CURLE_OPERATION_TIMEDOUT:
            return TR_ETIMEOUT;
        case CURLE_OUT_OF_MEMORY:
            return TR_ENOMEM;
        case CURLE_WRITE_ERROR:
            return q->sink_abort ? TR_ECANCELED
                                 : (q->resp.oom ? TR_ENOMEM : TR_EUNAVAIL);
        default:
            return TR_EUNAVAIL;
    }
}

/* Runs the callbacks of finished transfers. Stops if a callback closed r
 * (the multi is gone then). */
static void check_done(struct tr_rpc *r)
{
    CURLMsg *msg;
    int left;
    while (!r->closing && (msg = curl_multi_info_read(r->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        char *priv = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        struct tr_rpc_req *q = (struct tr_rpc_req *)(void *)priv;
        long conns = 0;
        curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &conns);
        if (conns > 0) {
            atomic_fetch_add_explicit(&r->n_connects, (uint64_t)conns,
                                      memory_order_relaxed);
        }
        long http_status = 0;
        int status = map_curl_error(rc, q);
        if (status == 0) {
            curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &http_status);
        } else if (tr_log_enabled(TR_LOG_DEBUG)) {
            char *url = NULL;
            curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url);
            tr_log_debug("rpc failed", "url=%s curl=%d err=\"%s\"",
                         url ? url : "", (int)rc,
                         q->errbuf[0] ? q->errbuf : curl_easy_strerror(rc));
        }
        req_finish(r, q, status, http_status);
    }
}

/* ---- curl <-> libuv ---------------------------------------------------- */

static void socket_action(struct tr_rpc *r, curl_socket_t fd, int ev)
{
    int running;
    CURLMcode mc = curl_multi_socket_action(r->multi, fd, ev, &running);
    if (mc != CURLM_OK) {
        tr_log_warn("rpc: curl_multi_socket_action failed", "err=\"%s\"",
                    curl_multi_strerror(mc));
    }
    check_done(r);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct rpc_sock *s = p->data;
    struct tr_rpc *r = s->r;
    int ev = 0;
    if (status < 0) {
        ev = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE) {
            ev |= CURL_CSELECT_IN;
        }
        if (events & UV_WRITABLE) {
            ev |= CURL_CSELECT_OUT;
        }
    }
    /* s may be closed (and r too) inside: use only the copies. */
    socket_action(r, s->fd, ev);
}

static void on_timer(uv_timer_t *t)
{
    socket_action(t->data, CURL_SOCKET_TIMEOUT, 0);
}

static int on_curl_socket(CURL *easy,
                          curl_socket_t fd,
                          int what,
                          void *userp,
                          void *socketp)
{
    (void)easy;
    struct tr_rpc *r = userp;
    struct rpc_sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            sock_close(s);
            curl_multi_assign(r->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = tr_calloc(1, sizeof(*s));
        if (s == NULL) {
            return -1;
        }
        s->r = r;
        s->fd = fd;
        if (uv_poll_init_socket(r->loop, &s->poll, fd) != 0) {
            tr_free(s);
            return -1;
        }
        s->poll.data = s;
        r->n_handles++;
        s->next = r->socks;
        if (r->socks != NULL) {
            r->socks->prev = s;
        }
        r->socks = s;
        curl_multi_assign(r->multi, fd, s);
    }
    int events = 0;
    if (what & CURL_POLL_IN) {
        events |= UV_READABLE;
    }
    if (what & CURL_POLL_OUT) {
        events |= UV_WRITABLE;
    }
    if (uv_poll_start(&s->poll, events, on_poll) != 0) {
        return -1;
    }
    return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct tr_rpc *r = userp;
    if (timeout_ms < 0) {
        uv_timer_stop(&r->timer);
    } else {
        /* 0: act on the next loop iteration (never call socket_action
         * from inside a curl callback). */
        uv_timer_start(&r->timer, on_timer, (uint64_t)timeout_ms, 0);
    }
    return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct tr_rpc_req *q = arg;
    size_t len = size * n;
    if (q->sink != NULL) {
        long code = 0;
        curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &code);
        if (q->sink(q->arg, code, p, len) != 0) {
            q->sink_abort = true;
            return 0; /* CURLE_WRITE_ERROR; mapped to TR_ECANCELED */
        }
        return len;
    }
    if (tr_buf_append(&q->resp, p, len) != 0) {
        return 0; /* CURLE_WRITE_ERROR; mapped to TR_ENOMEM */
    }
    return len;
}

/* ---- public: post ------------------------------------------------------ */

static struct curl_slist *slist_add(struct curl_slist *l,
                                    const char *s,
                                    bool *ok)
{
    if (!*ok) {
        return l;
    }
    struct curl_slist *n = curl_slist_append(l, s);
    if (n == NULL) {
        *ok = false;
        return l;
    }
    return n;
}

int tr_rpc_post(struct tr_rpc *r,
                const char *url,
                const void *body,
                size_t len,
                const char *const *headers,
                uint64_t timeout_ms,
                tr_rpc_cb cb,
                void *arg)
{
    return tr_rpc_post_stream(r, url, body, len, headers, timeout_ms, NULL, cb,
                              arg, NULL);
}

void tr_rpc_cancel(struct tr_rpc *r, struct tr_rpc_req *q)
{
    req_finish(r, q, TR_ECANCELED, 0);
}

int tr_rpc_post_stream(struct tr_rpc *r,
                       const char *url,
                       const void *body,
                       size_t len,
                       const char *const *headers,
                       uint64_t timeout_ms,
                       tr_rpc_sink sink,
                       tr_rpc_cb cb,
                       void *arg,
                       struct tr_rpc_req **req)
{
    if (r->closing) {
        return TR_ECANCELED;
    }
    if (url == NULL || cb == NULL || (body == NULL && len > 0) ||
        len > (size_t)INT64_MAX - sizeof(struct tr_rpc_req)) {
        return TR_EINVAL;
    }
    if (timeout_ms == 0) {
        timeout_ms = TR_RPC_DEFAULT_TIMEOUT_MS;
    }
    struct tr_rpc_req *q = tr_malloc(sizeof(*q) + len + 1);
    if (q == NULL) {
        return TR_ENOMEM;
    }
    memset(q, 0, sizeof(*q));
    q->r = r;
    q->sink = sink;
    q->cb = cb;
    q->arg = arg;
    q->len = len;
    if (len > 0) {
        memcpy(q->body, body, len);
    }
    q->body[len] = '\0';
    tr_buf_init(&q->resp);

    bool ok = true;
    q->hdrs = slist_add(NULL, "Content-Type: application/octet-stream", &ok);
    q->hdrs = slist_add(q->hdrs, "Expect:", &ok);
    if (r->secret_header != NULL) {
        q->hdrs = slist_add(q->hdrs, r->secret_header, &ok);
    }
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        q->hdrs = slist_add(q->hdrs, headers[i], &ok);
    }
    int err = TR_ENOMEM;
    if (!ok) {
        goto err_after_req;
    }

    if (r->n_pool > 0) {
        q->easy = r->pool[--r->n_pool];
    } else {
        q->easy = curl_easy_init();
        if (q->easy == NULL) {
            goto err_after_req;
        }
    }
    err = TR_EINVAL;
    CURL *e = q->easy;
    CURLcode rc = CURLE_OK;
#define SETOPT(opt, val)                        \
    do {                                        \
        if (rc == CURLE_OK) {                   \
            rc = curl_easy_setopt(e, opt, val); \
        }                                       \
    } while (0)
    SETOPT(CURLOPT_URL, url);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_POST, 1L);
    SETOPT(CURLOPT_POSTFIELDS, (const char *)q->body);
    SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    SETOPT(CURLOPT_HTTPHEADER, q->hdrs);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, q);
    SETOPT(CURLOPT_PRIVATE, q);
    SETOPT(CURLOPT_ERRORBUFFER, q->errbuf);
    SETOPT(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_TCP_NODELAY, 1L);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
#undef SETOPT
    if (rc != CURLE_OK) {
        err = rc == CURLE_OUT_OF_MEMORY ? TR_ENOMEM : TR_EINVAL;
        tr_log_warn("rpc: curl_easy_setopt failed", "err=\"%s\"",
                    curl_easy_strerror(rc));
        goto err_after_easy;
    }
    CURLMcode mc = curl_multi_add_handle(r->multi, e);
    if (mc != CURLM_OK) {
        err = mc == CURLM_OUT_OF_MEMORY ? TR_ENOMEM : TR_EINVAL;
        goto err_after_easy;
    }
    q->next = r->active;
    if (r->active != NULL) {
        r->active->prev = q;
    }
    r->active = q;
    atomic_fetch_add_explicit(&r->n_requests, 1, memory_order_relaxed);
    if (req != NULL) {
        *req = q;
    }
    return 0;

err_after_easy:
    easy_release(r, e);
err_after_req:
    curl_slist_free_all(q->hdrs);
    tr_free(q);
    return err;
}

/* ---- queue from other threads ------------------------------------------ */

static void wait_complete(struct rpc_wait *w,
                          int status,
                          long http_status,
                          const char *body,
                          size_t len)
{
    if (status == 0 && w->out != NULL && len > 0 &&
        tr_buf_append(w->out, body, len) != 0) {
        status = TR_ENOMEM;
    }
    pthread_mutex_lock(&w->mu);
    w->status = status;
    w->http_status = http_status;
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

static void on_call_done(void *arg,
                         int status,
                         long http_status,
                         const char *body,
                         size_t len)
{
    wait_complete(arg, status, http_status, body, len);
}

static void run_items(struct tr_rpc *r, struct rpc_item *it)
{
    while (it != NULL) {
        struct rpc_item *next = it->next;
        if (it->wait != NULL) {
            struct rpc_wait *w = it->wait;
            int rc = tr_rpc_post(r, w->url, w->body, w->len, w->headers,
                                 w->timeout_ms, on_call_done, w);
            if (rc != 0) {
                wait_complete(w, rc, 0, NULL, 0);
            }
        } else {
            it->fn(it->arg);
            tr_free(it);
        }
        it = next;
    }
}

static void on_async(uv_async_t *a)
{
    struct tr_rpc *r = a->data;
    pthread_mutex_lock(&r->qmu);
    r->loop_tid = pthread_self();
    struct rpc_item *it = r->qhead;
    r->qhead = r->qtail = NULL;
    pthread_mutex_unlock(&r->qmu);
    run_items(r, it);
}

/* 0, or TR_ECANCELED when closed, or TR_EINVAL on the loop thread. */
static int enqueue(struct tr_rpc *r, struct rpc_item *it, bool not_on_loop)
{
    pthread_mutex_lock(&r->qmu);
    if (r->qclosed) {
        pthread_mutex_unlock(&r->qmu);
        return TR_ECANCELED;
    }
    if (not_on_loop && pthread_equal(r->loop_tid, pthread_self())) {
        pthread_mutex_unlock(&r->qmu);
        return TR_EINVAL;
    }
    it->next = NULL;
    if (r->qtail != NULL) {
        r->qtail->next = it;
    } else {
        r->qhead = it;
    }
    r->qtail = it;
    /* Under qmu: tr_rpc_close closes the async only after setting
     * qclosed under qmu, so the handle is alive here. */
    uv_async_send(&r->async);
    pthread_mutex_unlock(&r->qmu);
    return 0;
}

int tr_rpc_call(struct tr_rpc *r,
                const char *url,
                const void *body,
                size_t len,
                const char *const *headers,
                uint64_t timeout_ms,
                long *http_status,
                struct tr_buf *out)
{
    if (http_status != NULL) {
        *http_status = 0;
    }
    if (url == NULL || (body == NULL && len > 0)) {
        return TR_EINVAL;
    }
    struct rpc_wait w = {
        .out = out,
        .url = url,
        .body = body,
        .len = len,
        .headers = headers,
        .timeout_ms = timeout_ms,
    };
    struct rpc_item it = {.wait = &w};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cond, NULL);
    int rc = enqueue(r, &it, true);
    if (rc == 0) {
        pthread_mutex_lock(&w.mu);
        while (!w.done) {
            pthread_cond_wait(&w.cond, &w.mu);
        }
        pthread_mutex_unlock(&w.mu);
        rc = w.status;
        if (http_status != NULL) {
            *http_status = w.http_status;
        }
    }
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.mu);
    return rc;
}

int tr_rpc_run_on_loop(struct tr_rpc *r, void (*fn)(void *arg), void *arg)
{
    struct rpc_item *it = tr_calloc(1, sizeof(*it));
    if (it == NULL) {
        return TR_ENOMEM;
    }
    it->fn = fn;
    it->arg = arg;
    int rc = enqueue(r, it, false);
    if (rc != 0) {
        tr_free(it);
    }
    return rc;
}

/* ---- new / close ------------------------------------------------------- */

int tr_rpc_new(uv_loop_t *loop, const char *secret, struct tr_rpc **out)
{
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        return TR_EIO;
    }
    struct tr_rpc *r = tr_calloc(1, sizeof(*r));
    if (r == NULL) {
        return TR_ENOMEM;
    }
    int rc = TR_ENOMEM;
    r->loop = loop;
    r->loop_tid = pthread_self();
    if (secret != NULL && secret[0] != '\0') {
        size_t n = strlen(TR_RPC_SECRET_HEADER) + 2 + strlen(secret) + 1;
        r->secret_header = tr_malloc(n);
        if (r->secret_header == NULL) {
            goto err_after_r;
        }
        snprintf(r->secret_header, n, "%s: %s", TR_RPC_SECRET_HEADER, secret);
    }
    if (pthread_mutex_init(&r->qmu, NULL) != 0) {
        goto err_after_secret;
    }
    r->multi = curl_multi_init();
    if (r->multi == NULL) {
        goto err_after_mutex;
    }
    curl_multi_setopt(r->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(r->multi, CURLMOPT_SOCKETDATA, r);
    curl_multi_setopt(r->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(r->multi, CURLMOPT_TIMERDATA, r);
    curl_multi_setopt(r->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      (long)TR_RPC_MAX_HOST_CONNECTIONS);
    curl_multi_setopt(r->multi, CURLMOPT_MAXCONNECTS, (long)RPC_MAX_CONNECTS);
    rc = TR_EIO;
    if (uv_timer_init(loop, &r->timer) != 0) {
        goto err_after_multi;
    }
    r->timer.data = r;
    r->n_handles++;
    if (uv_async_init(loop, &r->async, on_async) != 0) {
        /* The timer is initialised: only a close can release it. */
        r->closing = true;
        curl_multi_cleanup(r->multi);
        uv_close((uv_handle_t *)&r->timer, on_core_closed);
        return TR_EIO;
    }
    r->async.data = r;
    r->n_handles++;
    /* Learn the thread that actually runs the loop on its first turn. */
    uv_async_send(&r->async);
    *out = r;
    return 0;

err_after_multi:
    curl_multi_cleanup(r->multi);
err_after_mutex:
    pthread_mutex_destroy(&r->qmu);
err_after_secret:
    tr_free(r->secret_header);
err_after_r:
    tr_free(r);
    return rc;
}

void tr_rpc_close(struct tr_rpc *r, void (*cb)(void *arg), void *arg)
{
    if (r->closing) {
        return;
    }
    /* 1. No new items; run what was queued (calls fail with TR_ECANCELED
     * since closing is set first). */
    r->closing = true;
    r->close_cb = cb;
    r->close_arg = arg;
    pthread_mutex_lock(&r->qmu);
    r->qclosed = true;
    struct rpc_item *it = r->qhead;
    r->qhead = r->qtail = NULL;
    pthread_mutex_unlock(&r->qmu);
    run_items(r, it);

    /* 2. Cancel transfers (callbacks may call tr_rpc_post: TR_ECANCELED). */
    while (r->active != NULL) {
        req_finish(r, r->active, TR_ECANCELED, 0);
    }

    /* 3. Close poll handles before curl closes the cached connections'
     * fds, then let curl go without calling back into us. */
    while (r->socks != NULL) {
        sock_close(r->socks);
    }
    curl_multi_setopt(r->multi, CURLMOPT_SOCKETFUNCTION, NULL);
    curl_multi_setopt(r->multi, CURLMOPT_TIMERFUNCTION, NULL);
    curl_multi_cleanup(r->multi);
    r->multi = NULL;
    for (size_t i = 0; i < r->n_pool; i++) {
        curl_easy_cleanup(r->pool[i]);
    }
    r->n_pool = 0;

    /* 4. Core handles; r is freed by the last close callback. */
    uv_close((uv_handle_t *)&r->timer, on_core_closed);
    uv_close((uv_handle_t *)&r->async, on_core_closed);
}

void tr_rpc_get_stats(struct tr_rpc *r, struct tr_rpc_stats *out)
{
    out->requests = atomic_load_explicit(&r->n_requests, memory_order_relaxed);
    out->done = atomic_load_explicit(&r->n_done, memory_order_relaxed);
    out->failed = atomic_load_explicit(&r->n_failed, memory_order_relaxed);
    out->connects = atomic_load_explicit(&r->n_connects, memory_order_relaxed);
}
