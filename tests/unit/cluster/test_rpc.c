/* test_rpc.c - the internal RPC client against our own HTTP server: both on
 * one uv loop running in a background thread (as on a node), requests
 * issued from the test thread (tr_rpc_call), from extra worker threads and
 * from the loop itself (tr_rpc_post via tr_rpc_run_on_loop).
 * No criterion .timeout (it leaks in criterion's runner under LSan); every
 * request has a timeout and every wait is bounded. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "lib/err.h"
#include "server/http.h"
#include "cluster/rpc.h"
#include "lib/selfmetrics.h"

#define SECRET "s3cret-Ünïcode"
#define SLOW_MS 600

/* ---- fixture: server + rpc client on one loop thread ------------------ */

struct rpc_fixture {
    uv_loop_t loop;
    uv_async_t stop;
    pthread_t thread;
    pthread_t loop_tid;
    struct tr_http_server *s;
    struct tr_selfmetrics *metrics;
    struct tr_rpc *rpc;
    uint64_t idle_ms;
    int port;
    int start_rc;
    bool rpc_closed;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool ready;
    bool stopped;
    char url_echo[128], url_slow[128], url_fail[128], url_missing[128];
    char url_front[128];
};

static struct rpc_fixture rfx;

static void msleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void put_header(struct tr_buf *b,
                       const struct tr_http_request *req,
                       const char *name)
{
    const struct tr_slice *v = tr_http_header_get(req, name);
    if (v == NULL) {
        tr_buf_puts(b, "-");
    } else {
        tr_buf_append(b, v->base, v->len);
    }
    tr_buf_putc(b, '|');
}

/* Body: "secret|content-type|expect|x-extra|remote\n" + request body. */
static void h_echo(const struct tr_http_request *req,
                   struct tr_http_response *resp)
{
    resp->content_type = "application/octet-stream";
    put_header(&resp->body, req, TR_RPC_SECRET_HEADER);
    put_header(&resp->body, req, "Content-Type");
    put_header(&resp->body, req, "Expect");
    put_header(&resp->body, req, "X-Extra");
    tr_buf_printf(&resp->body, "%s\n", req->remote_addr);
    tr_buf_append(&resp->body, req->body, req->body_len);
}

static void h_slow(const struct tr_http_request *req,
                   struct tr_http_response *resp)
{
    (void)req;
    msleep(SLOW_MS);
    tr_http_resp_text(resp, 200, "slow");
}

static void h_fail(const struct tr_http_request *req,
                   struct tr_http_response *resp)
{
    (void)req;
    tr_http_resp_text(resp, 500, "boom");
}

/* The request body split into front parts of 1000 bytes, then "|end" in
 * the body: the server sends them in order. */
static void h_front(const struct tr_http_request *req,
                    struct tr_http_response *resp)
{
    resp->content_type = "application/octet-stream";
    for (size_t off = 0; off < req->body_len; off += 1000) {
        struct tr_buf b;
        tr_buf_init(&b);
        size_t n = req->body_len - off < 1000 ? req->body_len - off : 1000;
        tr_buf_append(&b, req->body + off, n);
        if (tr_http_resp_front(resp, &b) != 0) {
            tr_buf_free(&b);
        }
    }
    tr_buf_puts(&resp->body, "|end");
}

static void *loop_main(void *arg)
{
    (void)arg;
    struct tr_http_server_config cfg = {
        .version = 1,
        .max_body_bytes = 8 << 20,
        .max_header_bytes = 16384,
        .header_timeout_ms = 5000,
        .body_timeout_ms = 5000,
        .idle_timeout_ms = rfx.idle_ms,
        .max_connections = 1000,
        .metrics = rfx.metrics,
    };
    char err[TR_ERRMSG_SIZE];
    int rc = tr_http_server_new(&rfx.loop, &cfg, &rfx.s);
    if (rc == 0) {
        tr_http_route(rfx.s, TR_HTTP_POST, "/internal/v1/echo", TR_ROUTE_INLINE,
                      h_echo);
        tr_http_route(rfx.s, TR_HTTP_POST, "/internal/v1/slow", 0, h_slow);
        tr_http_route(rfx.s, TR_HTTP_POST, "/internal/v1/fail", 0, h_fail);
        tr_http_route(rfx.s, TR_HTTP_POST, "/internal/v1/front", 0, h_front);
        rc = tr_http_listen(rfx.s, "127.0.0.1:0", &rfx.port, err);
    }
    if (rc == 0) {
        rc = tr_rpc_new(&rfx.loop, SECRET, &rfx.rpc);
    }
    rfx.loop_tid = pthread_self();
    pthread_mutex_lock(&rfx.mu);
    rfx.start_rc = rc;
    rfx.ready = true;
    pthread_cond_broadcast(&rfx.cond);
    pthread_mutex_unlock(&rfx.mu);
    if (rc == 0) {
        uv_run(&rfx.loop, UV_RUN_DEFAULT);
    }
    return NULL;
}

static void on_server_down(void *arg)
{
    (void)arg;
    rfx.stopped = true;
}

static void on_rpc_closed_stop(void *arg)
{
    (void)arg;
    rfx.rpc_closed = true;
    rfx.rpc = NULL; /* freed: LSan would see a leak */
    tr_http_server_shutdown(rfx.s, 5000, on_server_down, NULL);
}

static void on_stop(uv_async_t *a)
{
    uv_close((uv_handle_t *)a, NULL);
    if (!rfx.rpc_closed) {
        tr_rpc_close(rfx.rpc, on_rpc_closed_stop, NULL);
    } else {
        tr_http_server_shutdown(rfx.s, 5000, on_server_down, NULL);
    }
}

static void start_fixture(uint64_t idle_ms)
{
    memset(&rfx, 0, sizeof(rfx));
    rfx.idle_ms = idle_ms;
    pthread_mutex_init(&rfx.mu, NULL);
    pthread_cond_init(&rfx.cond, NULL);
    cr_assert_eq(tr_selfmetrics_new(&rfx.metrics), 0);
    cr_assert_eq(uv_loop_init(&rfx.loop), 0);
    cr_assert_eq(uv_async_init(&rfx.loop, &rfx.stop, on_stop), 0);
    cr_assert_eq(pthread_create(&rfx.thread, NULL, loop_main, NULL), 0);
    pthread_mutex_lock(&rfx.mu);
    while (!rfx.ready) {
        pthread_cond_wait(&rfx.cond, &rfx.mu);
    }
    pthread_mutex_unlock(&rfx.mu);
    cr_assert_eq(rfx.start_rc, 0, "start: %s", tr_strerror(rfx.start_rc));
    snprintf(rfx.url_echo, sizeof(rfx.url_echo),
             "http://127.0.0.1:%d/internal/v1/echo", rfx.port);
    snprintf(rfx.url_slow, sizeof(rfx.url_slow),
             "http://127.0.0.1:%d/internal/v1/slow", rfx.port);
    snprintf(rfx.url_fail, sizeof(rfx.url_fail),
             "http://127.0.0.1:%d/internal/v1/fail", rfx.port);
    snprintf(rfx.url_missing, sizeof(rfx.url_missing),
             "http://127.0.0.1:%d/internal/v1/nope", rfx.port);
    snprintf(rfx.url_front, sizeof(rfx.url_front),
             "http://127.0.0.1:%d/internal/v1/front", rfx.port);
}

static void setup_rpc(void)
{
    start_fixture(10000);
}

static void teardown_rpc(void)
{
    uv_async_send(&rfx.stop);
    pthread_join(rfx.thread, NULL);
    cr_assert(rfx.stopped);
    cr_assert(rfx.rpc_closed);
    tr_http_server_free(rfx.s);
    cr_assert_eq(uv_loop_close(&rfx.loop), 0, "handles left open");
    tr_selfmetrics_free(rfx.metrics);
    pthread_cond_destroy(&rfx.cond);
    pthread_mutex_destroy(&rfx.mu);
}

/* Runs fn(arg) on the loop and waits until it returned. */
struct on_loop {
    void (*fn)(void *arg);
    void *arg;
    bool done;
};

static void on_loop_run(void *arg)
{
    struct on_loop *o = arg;
    o->fn(o->arg);
    pthread_mutex_lock(&rfx.mu);
    o->done = true;
    pthread_cond_broadcast(&rfx.cond);
    pthread_mutex_unlock(&rfx.mu);
}

static void run_on_loop_sync(void (*fn)(void *arg), void *arg)
{
    struct on_loop o = {fn, arg, false};
    cr_assert_eq(tr_rpc_run_on_loop(rfx.rpc, on_loop_run, &o), 0);
    pthread_mutex_lock(&rfx.mu);
    while (!o.done) {
        pthread_cond_wait(&rfx.cond, &rfx.mu);
    }
    pthread_mutex_unlock(&rfx.mu);
}

/* Waits until *counter (guarded by rfx.mu) reaches n, at most ms. */
static bool wait_count(const int *counter, int n, long ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&rfx.mu);
    int rc = 0;
    while (*counter < n && rc == 0) {
        rc = pthread_cond_timedwait(&rfx.cond, &rfx.mu, &dl);
    }
    bool ok = *counter >= n;
    pthread_mutex_unlock(&rfx.mu);
    return ok;
}

/* Splits an echo reply into its header line and the echoed body. */
static void split_echo(const struct tr_buf *out,
                       struct tr_slice *line,
                       struct tr_slice *body)
{
    const char *nl = memchr(out->data, '\n', out->len);
    cr_assert_not_null(nl, "no header line in echo reply");
    *line = (struct tr_slice){out->data, (size_t)(nl - out->data)};
    *body = (struct tr_slice){nl + 1, out->len - (size_t)(nl + 1 - out->data)};
}

/* The "remote" field (last) of an echo header line. */
static struct tr_slice echo_remote(struct tr_slice line)
{
    const char *bar = memrchr(line.base, '|', line.len);
    cr_assert_not_null(bar);
    return (struct tr_slice){bar + 1, line.len - (size_t)(bar + 1 - line.base)};
}

TestSuite(server_rpc, .init = setup_rpc, .fini = teardown_rpc);

/* ---- round trips ------------------------------------------------------- */

Test(server_rpc, echo_round_trip_with_secret_and_headers)
{
    unsigned char body[300];
    for (size_t i = 0; i < sizeof(body); i++) {
        body[i] = (unsigned char)(i * 7);
    }
    const char *hdrs[] = {"X-Extra: forty-two", NULL};
    struct tr_buf out;
    tr_buf_init(&out);
    long http = -1;
    int rc = tr_rpc_call(rfx.rpc, rfx.url_echo, body, sizeof(body), hdrs, 5000,
                         &http, &out);
    cr_assert_eq(rc, 0, "%s", tr_strerror(rc));
    cr_assert_eq(http, 200);
    struct tr_slice line, got;
    split_echo(&out, &line, &got);
    const char *want = SECRET "|application/octet-stream|-|forty-two|";
    cr_assert(
        line.len > strlen(want) && memcmp(line.base, want, strlen(want)) == 0,
        "header line: %.*s", (int)line.len, line.base);
    cr_assert_eq(got.len, sizeof(body));
    cr_assert_eq(memcmp(got.base, body, sizeof(body)), 0);

    /* Empty body, NULL out and NULL http_status are allowed. */
    cr_assert_eq(
        tr_rpc_call(rfx.rpc, rfx.url_echo, NULL, 0, NULL, 5000, NULL, NULL), 0);
    tr_buf_free(&out);
}

Test(server_rpc, large_body_no_expect_continue)
{
    size_t n = 3u << 20;
    char *body = malloc(n);
    cr_assert_not_null(body);
    for (size_t i = 0; i < n; i++) {
        body[i] = (char)(i * 31 + (i >> 12));
    }
    struct tr_buf out;
    tr_buf_init(&out);
    long http = 0;
    double t0 = now_ms();
    int rc =
        tr_rpc_call(rfx.rpc, rfx.url_echo, body, n, NULL, 10000, &http, &out);
    double el = now_ms() - t0;
    cr_assert_eq(rc, 0, "%s", tr_strerror(rc));
    cr_assert_eq(http, 200);
    struct tr_slice line, got;
    split_echo(&out, &line, &got);
    /* No "Expect: 100-continue" (it would add a round trip or a 1 s wait). */
    const char *want = SECRET "|application/octet-stream|-|";
    cr_assert_eq(memcmp(line.base, want, strlen(want)), 0, "%.*s",
                 (int)line.len, line.base);
    cr_assert_eq(got.len, n);
    cr_assert_eq(memcmp(got.base, body, n), 0);
    cr_assert_lt(el, 900.0, "3 MiB echo took %.0f ms", el);
    free(body);
    tr_buf_free(&out);
}

Test(server_rpc, sequential_calls_reuse_connections)
{
    struct tr_buf out;
    tr_buf_init(&out);
    char first_remote[64] = "";
    int distinct = 0;
    double t0 = now_ms();
    for (int i = 0; i < 1000; i++) {
        char body[32];
        int blen = snprintf(body, sizeof(body), "req-%d", i);
        long http = 0;
        tr_buf_reset(&out);
        int rc = tr_rpc_call(rfx.rpc, rfx.url_echo, body, (size_t)blen, NULL,
                             5000, &http, &out);
        cr_assert_eq(rc, 0, "call %d: %s", i, tr_strerror(rc));
        cr_assert_eq(http, 200);
        struct tr_slice line, got;
        split_echo(&out, &line, &got);
        cr_assert(got.len == (size_t)blen &&
                  memcmp(got.base, body, got.len) == 0);
        struct tr_slice remote = echo_remote(line);
        if (!tr_slice_eq_cstr(remote, first_remote)) {
            distinct++;
            snprintf(first_remote, sizeof(first_remote), "%.*s",
                     (int)remote.len, remote.base);
        }
    }
    double el = now_ms() - t0;
    struct tr_rpc_stats st;
    tr_rpc_get_stats(rfx.rpc, &st);
    fprintf(stderr,
            "rpc: 1000 sequential small POSTs: %.1f us per round trip, %llu "
            "connection(s)\n",
            el * 1000.0 / 1000, (unsigned long long)st.connects);
    cr_assert_eq(distinct, 1, "peer saw %d client addresses", distinct);
    cr_assert_eq(st.connects, 1);
    cr_assert_eq(st.requests, 1000);
    cr_assert_eq(st.done, 1000);
    cr_assert_eq(st.failed, 0);
    tr_buf_free(&out);
}

/* The server's idle timeout closes the kept-alive connection: the next
 * call reconnects transparently (new socket, often the same fd number). */
Test(server_rpc, reconnects_after_idle_close)
{
    teardown_rpc();
    start_fixture(100);
    for (int i = 0; i < 3; i++) {
        long http = 0;
        int rc =
            tr_rpc_call(rfx.rpc, rfx.url_echo, "x", 1, NULL, 5000, &http, NULL);
        cr_assert_eq(rc, 0, "call %d: %s", i, tr_strerror(rc));
        cr_assert_eq(http, 200);
        msleep(300);
    }
    struct tr_rpc_stats st;
    tr_rpc_get_stats(rfx.rpc, &st);
    cr_assert_eq(st.connects, 3);
}

/* ---- concurrency ------------------------------------------------------- */

#define N_THREADS 8
#define N_PER_THREAD 50

struct worker {
    pthread_t t;
    int id;
    int failures;
    int first_rc;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct tr_buf out;
    tr_buf_init(&out);
    for (int i = 0; i < N_PER_THREAD; i++) {
        char body[64];
        int blen = snprintf(body, sizeof(body), "thread-%d-call-%d", w->id, i);
        long http = 0;
        tr_buf_reset(&out);
        int rc = tr_rpc_call(rfx.rpc, rfx.url_echo, body, (size_t)blen, NULL,
                             10000, &http, &out);
        const char *nl = rc == 0 ? memchr(out.data, '\n', out.len) : NULL;
        if (rc != 0 || http != 200 || nl == NULL ||
            out.len - (size_t)(nl + 1 - out.data) != (size_t)blen ||
            memcmp(nl + 1, body, (size_t)blen) != 0) {
            if (w->failures++ == 0) {
                w->first_rc = rc;
            }
        }
    }
    tr_buf_free(&out);
    return NULL;
}

Test(server_rpc, concurrent_calls_from_threads)
{
    struct worker ws[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        ws[i] = (struct worker){.id = i};
        cr_assert_eq(pthread_create(&ws[i].t, NULL, worker_main, &ws[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(ws[i].t, NULL);
    }
    for (int i = 0; i < N_THREADS; i++) {
        cr_assert_eq(ws[i].failures, 0, "thread %d: %d failures (first %s)", i,
                     ws[i].failures, tr_strerror(ws[i].first_rc));
    }
    struct tr_rpc_stats st;
    tr_rpc_get_stats(rfx.rpc, &st);
    cr_assert_eq(st.done, N_THREADS * N_PER_THREAD);
    cr_assert_leq(st.connects, N_THREADS);
}

/* Many async posts at once from the loop: more than the per-host
 * connection limit, so curl queues some; all complete. */
#define N_ASYNC 200

static int async_done;
static int async_ok;

static void on_async_reply(void *arg,
                           int status,
                           long http_status,
                           const char *body,
                           size_t len)
{
    intptr_t i = (intptr_t)arg;
    char want[32];
    int wlen = snprintf(want, sizeof(want), "async-%d", (int)i);
    const char *nl = status == 0 ? memchr(body, '\n', len) : NULL;
    bool ok = status == 0 && http_status == 200 && nl != NULL &&
              len - (size_t)(nl + 1 - body) == (size_t)wlen &&
              memcmp(nl + 1, want, (size_t)wlen) == 0;
    pthread_mutex_lock(&rfx.mu);
    async_done++;
    async_ok += ok;
    pthread_cond_broadcast(&rfx.cond);
    pthread_mutex_unlock(&rfx.mu);
}

static void post_many(void *arg)
{
    int *rc = arg;
    for (int i = 0; i < N_ASYNC && *rc == 0; i++) {
        char body[32];
        int blen = snprintf(body, sizeof(body), "async-%d", i);
        /* body is on this stack: tr_rpc_post copies it */
        *rc = tr_rpc_post(rfx.rpc, rfx.url_echo, body, (size_t)blen, NULL,
                          10000, on_async_reply, (void *)(intptr_t)i);
    }
}

Test(server_rpc, many_async_posts_on_loop)
{
    int rc = 0;
    run_on_loop_sync(post_many, &rc);
    cr_assert_eq(rc, 0, "%s", tr_strerror(rc));
    cr_assert(wait_count(&async_done, N_ASYNC, 10000), "done %d", async_done);
    cr_assert_eq(async_ok, N_ASYNC);
    struct tr_rpc_stats st;
    tr_rpc_get_stats(rfx.rpc, &st);
    cr_assert_leq(st.connects, TR_RPC_MAX_HOST_CONNECTIONS);
}

/* ---- streaming bodies and cancel ---------------------------------------- */

/* A transfer whose body goes to a sink (loop thread) as it arrives. */
struct stream_t {
    const char *url;
    struct tr_buf body; /* what the sink got */
    long sink_status;
    int sink_calls;
    int abort_after;    /* the sink stops after this many calls (0: never) */
    bool cancel;        /* tr_rpc_cancel right after posting */
    bool cancel_ran_cb; /* the callback had run when it returned */
    int rc;             /* of the post */
    int status;         /* of the callback */
    long http;
    size_t cb_len;
    int done;
    struct tr_rpc_req *q;
    char *req;
    size_t req_len;
};

static int stream_sink(void *arg, long http_status, const char *p, size_t n)
{
    struct stream_t *st = arg;
    st->sink_status = http_status;
    tr_buf_append(&st->body, p, n);
    st->sink_calls++;
    return st->abort_after > 0 && st->sink_calls >= st->abort_after;
}

static void stream_cb(void *arg,
                      int status,
                      long http_status,
                      const char *body,
                      size_t len)
{
    (void)body;
    struct stream_t *st = arg;
    pthread_mutex_lock(&rfx.mu);
    st->status = status;
    st->http = http_status;
    st->cb_len = len;
    st->q = NULL;
    st->done++;
    pthread_cond_broadcast(&rfx.cond);
    pthread_mutex_unlock(&rfx.mu);
}

static void stream_post(void *arg)
{
    struct stream_t *st = arg;
    st->rc = tr_rpc_post_stream(rfx.rpc, st->url, st->req, st->req_len, NULL,
                                10000, stream_sink, stream_cb, st, &st->q);
    if (st->rc == 0 && st->cancel) {
        tr_rpc_cancel(rfx.rpc, st->q); /* the callback runs inside */
        st->cancel_ran_cb = st->done == 1;
    }
}

static void stream_run(struct stream_t *st)
{
    tr_buf_init(&st->body);
    run_on_loop_sync(stream_post, st);
    cr_assert_eq(st->rc, 0, "%s", tr_strerror(st->rc));
    cr_assert(wait_count(&st->done, 1, 10000));
    msleep(20);
    cr_assert_eq(st->done, 1); /* exactly once */
}

Test(server_rpc, streaming_sink_gets_the_body)
{
    enum { N = 3 << 20 };
    struct stream_t st;
    memset(&st, 0, sizeof(st));
    st.url = rfx.url_echo;
    st.req = tr_malloc(N);
    st.req_len = N;
    for (size_t i = 0; i < N; i++) {
        st.req[i] = (char)('a' + i % 23);
    }
    stream_run(&st);
    cr_assert_eq(st.status, 0, "%s", tr_strerror(st.status));
    cr_assert_eq(st.http, 200);
    cr_assert_eq(st.sink_status, 200);
    cr_assert_eq(st.cb_len, 0); /* the body went to the sink */
    cr_assert_gt(st.sink_calls, 1);
    struct tr_slice line, echoed;
    split_echo(&st.body, &line, &echoed);
    cr_assert_eq(echoed.len, N);
    cr_assert_eq(memcmp(echoed.base, st.req, N), 0);
    tr_buf_free(&st.body);
    tr_free(st.req);
    /* a sink that stops the transfer: its callback says cancelled */
    memset(&st, 0, sizeof(st));
    st.url = rfx.url_echo;
    st.req = tr_malloc(N);
    memset(st.req, 'x', N);
    st.req_len = N;
    st.abort_after = 1;
    stream_run(&st);
    cr_assert_eq(st.status, TR_ECANCELED, "%s", tr_strerror(st.status));
    cr_assert_eq(st.sink_calls, 1);
    tr_buf_free(&st.body);
    tr_free(st.req);
    /* the client keeps working */
    long http = 0;
    cr_assert_eq(
        tr_rpc_call(rfx.rpc, rfx.url_echo, "y", 1, NULL, 5000, &http, NULL), 0);
    cr_assert_eq(http, 200);
}

Test(server_rpc, cancel_ends_a_transfer_at_once)
{
    struct stream_t st;
    memset(&st, 0, sizeof(st));
    st.url = rfx.url_slow;
    char x[] = "x";
    st.req = x;
    st.req_len = 1;
    st.cancel = true;
    double t0 = now_ms();
    stream_run(&st);
    cr_assert(st.cancel_ran_cb);
    cr_assert_eq(st.status, TR_ECANCELED, "%s", tr_strerror(st.status));
    cr_assert_lt(now_ms() - t0, SLOW_MS - 100);
    cr_assert_eq(st.sink_calls, 0);
    tr_buf_free(&st.body);
    long http = 0;
    cr_assert_eq(
        tr_rpc_call(rfx.rpc, rfx.url_echo, "y", 1, NULL, 5000, &http, NULL), 0);
    cr_assert_eq(http, 200);
}

/* server/http.c: front parts go out before the body, in order, counted in
 * Content-Length. */
Test(server_rpc, response_front_parts)
{
    enum { N = 10500 };
    char *req = tr_malloc(N);
    for (size_t i = 0; i < N; i++) {
        req[i] = (char)('0' + i % 10);
    }
    long http = 0;
    struct tr_buf out;
    tr_buf_init(&out);
    cr_assert_eq(
        tr_rpc_call(rfx.rpc, rfx.url_front, req, N, NULL, 5000, &http, &out),
        0);
    cr_assert_eq(http, 200);
    cr_assert_eq(out.len, N + 4);
    cr_assert_eq(memcmp(out.data, req, N), 0);
    cr_assert_eq(memcmp(out.data + N, "|end", 4), 0);
    tr_buf_free(&out);
    tr_free(req);
}

/* ---- errors ------------------------------------------------------------ */

Test(server_rpc, timeout)
{
    long http = -1;
    struct tr_buf out;
    tr_buf_init(&out);
    double t0 = now_ms();
    int rc = tr_rpc_call(rfx.rpc, rfx.url_slow, "x", 1, NULL, 100, &http, &out);
    double el = now_ms() - t0;
    cr_assert_eq(rc, TR_ETIMEOUT, "%s", tr_strerror(rc));
    cr_assert_eq(http, 0);
    cr_assert_eq(out.len, 0);
    cr_assert(el >= 90 && el < SLOW_MS - 100, "timed out after %.0f ms", el);
    /* The client keeps working afterwards. */
    rc = tr_rpc_call(rfx.rpc, rfx.url_echo, "y", 1, NULL, 5000, &http, NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(http, 200);
    tr_buf_free(&out);
}

Test(server_rpc, connection_refused)
{
    /* A bound but not listening socket: connects are refused, and nobody
     * else can take the port while we hold it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/internal/v1/echo",
             ntohs(sa.sin_port));
    long http = -1;
    int rc = tr_rpc_call(rfx.rpc, url, "x", 1, NULL, 5000, &http, NULL);
    cr_assert_eq(rc, TR_EUNAVAIL, "%s", tr_strerror(rc));
    cr_assert_eq(http, 0);
    close(fd);
    struct tr_rpc_stats st;
    tr_rpc_get_stats(rfx.rpc, &st);
    cr_assert_eq(st.failed, 1);
}

Test(server_rpc, http_error_statuses)
{
    struct tr_buf out;
    tr_buf_init(&out);
    long http = 0;
    int rc =
        tr_rpc_call(rfx.rpc, rfx.url_fail, "x", 1, NULL, 5000, &http, &out);
    cr_assert_eq(rc, 0, "%s", tr_strerror(rc));
    cr_assert_eq(http, 500);
    cr_assert(strstr(out.data, "boom") != NULL);
    rc = tr_rpc_call(rfx.rpc, rfx.url_missing, "x", 1, NULL, 5000, &http, NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(http, 404);
    tr_buf_free(&out);
}

Test(server_rpc, invalid_arguments)
{
    cr_assert_eq(tr_rpc_call(rfx.rpc, NULL, "x", 1, NULL, 0, NULL, NULL),
                 TR_EINVAL);
    cr_assert_eq(
        tr_rpc_call(rfx.rpc, rfx.url_echo, NULL, 5, NULL, 0, NULL, NULL),
        TR_EINVAL);
    /* A URL curl rejects fails through the callback path or up front,
     * never hangs. */
    long http = 0;
    int rc = tr_rpc_call(rfx.rpc, "ftp://127.0.0.1:1/x", "x", 1, NULL, 2000,
                         &http, NULL);
    cr_assert(rc == TR_EUNAVAIL || rc == TR_EINVAL, "%s", tr_strerror(rc));
}

/* ---- run_on_loop, loop-thread rules ------------------------------------ */

struct loop_probe {
    pthread_t tid;
    int call_rc;
    int seq[100];
    int n;
};

static void probe_fn(void *arg)
{
    struct loop_probe *p = arg;
    p->tid = pthread_self();
    p->call_rc =
        tr_rpc_call(rfx.rpc, rfx.url_echo, "x", 1, NULL, 1000, NULL, NULL);
}

struct seq_arg {
    struct loop_probe *p;
    int i;
};

static struct seq_arg seq_args[100];

static void seq_fn(void *arg)
{
    struct seq_arg *a = arg;
    bool on_loop = pthread_equal(pthread_self(), rfx.loop_tid);
    pthread_mutex_lock(&rfx.mu);
    a->p->seq[a->p->n++] = on_loop ? a->i : -1;
    pthread_cond_broadcast(&rfx.cond);
    pthread_mutex_unlock(&rfx.mu);
}

Test(server_rpc, run_on_loop_runs_on_loop_thread_in_order)
{
    struct loop_probe p = {0};
    run_on_loop_sync(probe_fn, &p);
    cr_assert(pthread_equal(p.tid, rfx.loop_tid));
    /* tr_rpc_call on the loop thread would deadlock: refused. */
    cr_assert_eq(p.call_rc, TR_EINVAL);

    for (int i = 0; i < 100; i++) {
        seq_args[i] = (struct seq_arg){&p, i};
        cr_assert_eq(tr_rpc_run_on_loop(rfx.rpc, seq_fn, &seq_args[i]), 0);
    }
    cr_assert(wait_count(&p.n, 100, 5000));
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(p.seq[i], i);
    }
}

/* ---- close ------------------------------------------------------------- */

#define N_PENDING 5

static int cancel_done;
static int cancel_status[N_PENDING];
static int repost_rc[N_PENDING];
static int closed_cb_ran;

static void on_pending_reply(void *arg,
                             int status,
                             long http_status,
                             const char *body,
                             size_t len)
{
    (void)http_status;
    (void)body;
    (void)len;
    intptr_t i = (intptr_t)arg;
    /* Posting from a callback during close must be refused. */
    int rc = tr_rpc_post(rfx.rpc, rfx.url_echo, "z", 1, NULL, 1000,
                         on_pending_reply, arg);
    pthread_mutex_lock(&rfx.mu);
    cancel_status[i] = status;
    repost_rc[i] = rc;
    cancel_done++;
    pthread_cond_broadcast(&rfx.cond);
    pthread_mutex_unlock(&rfx.mu);
}

static void post_pending(void *arg)
{
    int *rc = arg;
    for (intptr_t i = 0; i < N_PENDING && *rc == 0; i++) {
        *rc = tr_rpc_post(rfx.rpc, rfx.url_slow, "p", 1, NULL, 10000,
                          on_pending_reply, (void *)i);
    }
}

static void on_closed_in_test(void *arg)
{
    (void)arg;
    rfx.rpc = NULL; /* freed: LSan would see a leak */
    pthread_mutex_lock(&rfx.mu);
    closed_cb_ran++;
    pthread_cond_broadcast(&rfx.cond);
    pthread_mutex_unlock(&rfx.mu);
}

static void close_fn(void *arg)
{
    (void)arg;
    rfx.rpc_closed = true;
    tr_rpc_close(rfx.rpc, on_closed_in_test, NULL);
}

struct blocked {
    pthread_t t;
    int rc;
    long http;
};

static void *blocked_main(void *arg)
{
    struct blocked *b = arg;
    struct tr_buf out;
    tr_buf_init(&out);
    b->rc =
        tr_rpc_call(rfx.rpc, rfx.url_slow, "b", 1, NULL, 10000, &b->http, &out);
    tr_buf_free(&out);
    return NULL;
}

Test(server_rpc, close_cancels_pending)
{
    int rc = 0;
    run_on_loop_sync(post_pending, &rc);
    cr_assert_eq(rc, 0);
    struct blocked bs[2];
    for (int i = 0; i < 2; i++) {
        bs[i] = (struct blocked){.rc = 1};
        pthread_create(&bs[i].t, NULL, blocked_main, &bs[i]);
    }
    /* Wait until the blocking calls are transfers too. */
    struct tr_rpc_stats st = {0};
    for (int i = 0; i < 500 && st.requests < N_PENDING + 2; i++) {
        msleep(2);
        tr_rpc_get_stats(rfx.rpc, &st);
    }
    cr_assert_eq(st.requests, N_PENDING + 2);
    msleep(50); /* let the requests reach the server */

    double t0 = now_ms();
    /* close_fn runs on the loop; the rpc is freed soon after, so nothing
     * below touches rfx.rpc. */
    cr_assert_eq(tr_rpc_run_on_loop(rfx.rpc, close_fn, NULL), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(bs[i].t, NULL);
        cr_assert_eq(bs[i].rc, TR_ECANCELED, "%s", tr_strerror(bs[i].rc));
        cr_assert_eq(bs[i].http, 0);
    }
    cr_assert(wait_count(&cancel_done, N_PENDING, 5000));
    cr_assert(wait_count(&closed_cb_ran, 1, 5000));
    double el = now_ms() - t0;
    cr_assert_lt(el, SLOW_MS / 2, "close took %.0f ms", el);
    for (int i = 0; i < N_PENDING; i++) {
        cr_assert_eq(cancel_status[i], TR_ECANCELED);
        cr_assert_eq(repost_rc[i], TR_ECANCELED);
    }
    cr_assert_eq(cancel_done, N_PENDING);
    cr_assert_eq(closed_cb_ran, 1);
}

/* Closing an idle client with cached connections and nothing pending. */
Test(server_rpc, close_idle_after_use)
{
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(
            tr_rpc_call(rfx.rpc, rfx.url_echo, "x", 1, NULL, 5000, NULL, NULL),
            0);
    }
    cr_assert_eq(tr_rpc_run_on_loop(rfx.rpc, close_fn, NULL), 0);
    cr_assert(wait_count(&closed_cb_ran, 1, 5000));
}
