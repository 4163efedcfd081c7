/* rpc.h - internal node-to-node RPC client: HTTP POST over libcurl multi,
 * driven by the node's libuv loop (uv_poll + uv_timer), authenticated with
 * the cluster secret header.
 *
 * tr_rpc_post must be called on the loop thread; its callback runs there.
 * tr_rpc_call is the blocking form for worker threads: it hands the request
 * to the loop (uv_async) and waits for the answer. */
#ifndef TR_CLUSTER_RPC_H
#define TR_CLUSTER_RPC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/buf.h"

#define TR_RPC_SECRET_HEADER "X-Triad-Cluster-Secret"
/* timeout_ms 0 in tr_rpc_post / tr_rpc_call means this. */
#define TR_RPC_DEFAULT_TIMEOUT_MS 30000
/* Connections kept per peer host (CURLMOPT_MAX_HOST_CONNECTIONS); more
 * concurrent requests to one host wait in curl's queue. */
#define TR_RPC_MAX_HOST_CONNECTIONS 16

struct tr_rpc;

/* secret may be "" (no header). Call on the thread that runs (or will
 * run) loop: that thread is taken as the loop thread until the loop first
 * wakes the client (then the thread actually running it is recorded).
 * 0, TR_ENOMEM or TR_EIO (libcurl/libuv initialisation failed). */
int tr_rpc_new(uv_loop_t *loop, const char *secret, struct tr_rpc **out);
/* Loop thread only; at most once. Stops accepting (later tr_rpc_post,
 * tr_rpc_call and tr_rpc_run_on_loop return TR_ECANCELED), runs functions
 * already queued by tr_rpc_run_on_loop, cancels pending requests (their
 * callbacks run with TR_ECANCELED, blocking callers return TR_ECANCELED),
 * closes cached connections, and frees everything once the libuv handles
 * are closed; cb(arg) then (cb may be NULL). r must not be used after
 * tr_rpc_close returns except by threads already blocked in tr_rpc_call. */
void tr_rpc_close(struct tr_rpc *r, void (*cb)(void *arg), void *arg);

/* status: 0 when an HTTP response arrived (http_status set, body = the
 * response body, valid only during the callback), or TR_ETIMEOUT /
 * TR_EUNAVAIL (connection failed, or any other transfer error) /
 * TR_ECANCELED / TR_ENOMEM (response body could not be stored). */
typedef void (*tr_rpc_cb)(void *arg,
                          int status,
                          long http_status,
                          const char *body,
                          size_t len);

/* POST body (copied) to url ("http://host:port/internal/v1/...") with
 * Content-Type application/octet-stream and extra headers (NULL or a
 * NULL-terminated array of "Name: value"; copied). Loop thread only.
 * timeout_ms covers the whole transfer (0 = TR_RPC_DEFAULT_TIMEOUT_MS).
 * Returns 0 (cb will run exactly once, never from inside this call) or
 * TR_ENOMEM / TR_EINVAL / TR_ECANCELED (closing; cb will not run). */
int tr_rpc_post(struct tr_rpc *r,
                const char *url,
                const void *body,
                size_t len,
                const char *const *headers,
                uint64_t timeout_ms,
                tr_rpc_cb cb,
                void *arg);

/* Streaming body: called on the loop thread with each piece of the response
 * body as it arrives (http_status: the response's status). 0 goes on;
 * anything else aborts the transfer, whose callback then runs with
 * TR_ECANCELED. It runs inside libcurl: it must not call tr_rpc_post,
 * tr_rpc_post_stream or tr_rpc_cancel. */
typedef int (*tr_rpc_sink)(void *arg,
                           long http_status,
                           const char *p,
                           size_t n);

/* A transfer in flight (tr_rpc_post_stream). */
struct tr_rpc_req;

/* tr_rpc_post whose response body goes to sink (when not NULL) instead of
 * being collected: cb then gets an empty body. *req (req may be NULL) is
 * the transfer, valid until cb runs. */
int tr_rpc_post_stream(struct tr_rpc *r,
                       const char *url,
                       const void *body,
                       size_t len,
                       const char *const *headers,
                       uint64_t timeout_ms,
                       tr_rpc_sink sink,
                       tr_rpc_cb cb,
                       void *arg,
                       struct tr_rpc_req **req);

/* Loop thread, not inside a sink: ends transfer q now; its callback runs
 * (within this call) with TR_ECANCELED. */
void tr_rpc_cancel(struct tr_rpc *r, struct tr_rpc_req *q);

/* Blocking call from any thread except the loop thread (TR_EINVAL there:
 * it would deadlock). Response body appended to out (may be NULL);
 * *http_status (may be NULL) set, 0 when no response arrived. Returns as
 * the callback's status, TR_ECANCELED when the client closes, or the
 * error of tr_rpc_post (TR_ENOMEM also when out could not grow). */
int tr_rpc_call(struct tr_rpc *r,
                const char *url,
                const void *body,
                size_t len,
                const char *const *headers,
                uint64_t timeout_ms,
                long *http_status,
                struct tr_buf *out);

/* Runs fn(arg) on the loop thread soon (thread-safe; used to hand work from
 * workers to the loop). Functions run in the order queued. 0, TR_ENOMEM,
 * or TR_ECANCELED once tr_rpc_close began (fn will not run). */
int tr_rpc_run_on_loop(struct tr_rpc *r, void (*fn)(void *arg), void *arg);

/* Counters since tr_rpc_new (readable from any thread). */
struct tr_rpc_stats {
    uint64_t requests; /* transfers started (tr_rpc_post accepted) */
    uint64_t done;     /* callbacks run, any status */
    uint64_t failed;   /* callbacks with status != 0 */
    uint64_t connects; /* new TCP connections (others were reused) */
};
void tr_rpc_get_stats(struct tr_rpc *r, struct tr_rpc_stats *out);

#endif
