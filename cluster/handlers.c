/* handlers.c - the node-to-node endpoints under /internal/v1/ (compact
 * binary bodies, formats at the top of write.c, read.c and
 * signal_metrics.c), authenticated by the cluster secret, and the cluster
 * administration endpoints. Plain functions over tr_cluster_request /
 * tr_cluster_response that server/ registers; they run on worker threads.
 *
 *   endpoint                       body -> answer
 *   POST /internal/v1/hello        node record -> u8 formed, uvarint n,
 *                                  n x (uvarint len + node record)
 *   POST /internal/v1/join         node record -> 200 joined / 503
 *   POST /internal/v1/ensure-window  u8 signal, varint window -> 200 / 503
 *   POST /internal/v1/shard/apply  shard id, entry -> 200 + apply result
 *   POST /internal/v1/shard/dump   shard id -> 200 + dump / 503
 *   POST /internal/v1/shard/verify shard id, u64 BE request id -> 200 +
 *                                  u64 BE index, u64 BE checksum / 404
 *                                  (not applied yet) / 503
 *   POST /internal/v1/shard/recopy shard id -> 200 (copies it again) / 404
 *   POST /internal/v1/shard/sealed-sum  shard id, uvarint tenant drops the
 *                                  asker knows -> 200 + u64 BE checksum of
 *                                  the sealed copy here / 404 (drops not
 *                                  learnt yet) / 503 (not sealed here)
 *   POST /internal/v1/shard/tenants shard id -> 200 + the sealed shard's
 *                                  tenants (uvarint length + name each) /
 *                                  503 (not sealed here)
 *   POST /internal/v1/read         read request (read.c) -> the signal's
 *                                  response / 400 / 422 (a limit) / 503
 *   POST /internal/v1/status/local -> local groups (status.c)
 *   POST /internal/v1/remove-node  u64 BE node id -> 200 / 404 / 503
 *   POST /api/v1/admin/cluster/drain?timeout_ms=N  hands this node's Raft
 *                                  leaderships to other replicas; 200 when
 *                                  it leads none, 503 when it still leads
 *                                  some after N ms (default 30000)
 *   POST /internal/v1/meta-command catalog command -> 200 / 400 / 503
 *   (shard id: u8 signal, varint window, uvarint slot)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/log.h"
#include "storage/retention.h"

void cl_resp_text(struct tr_cluster_response *resp, int status, const char *msg)
{
    tr_buf_reset(resp->body);
    tr_buf_append(resp->body, msg, strlen(msg));
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
}

static void cl__binary(struct tr_cluster_response *resp, struct tr_buf *b)
{
    tr_buf_reset(resp->body);
    tr_buf_append(resp->body, b->data, b->len);
    resp->status = 200;
    resp->content_type = "application/octet-stream";
}

bool cl_authorized(struct tr_cluster *c,
                   const struct tr_cluster_request *req,
                   struct tr_cluster_response *resp)
{
    const char *secret = c->cfg.cluster_secret;
    if (secret[0] != '\0') {
        const char *h = req->header(req->ctx, TR_RPC_SECRET_HEADER);
        if (h == NULL || strcmp(h, secret) != 0) {
            cl_resp_text(resp, 401, "bad or missing cluster secret");
            return false;
        }
    }
    return true;
}

/* ---- hello and join ---------------------------------------------------------
 */

static void api__hello(struct tr_cluster *c,
                       const struct tr_cluster_request *req,
                       struct tr_cluster_response *resp)
{
    struct tr_catalog_node n;
    if (cl_node_decode(req->body, req->body_len, &n) != 0) {
        cl_resp_text(resp, 400, "malformed node record");
        return;
    }
    pthread_mutex_lock(&c->mu);
    size_t i = 0;
    for (; i < c->n_peers; i++) {
        if (c->peers[i].id == n.id) {
            c->peers[i] = n;
            break;
        }
    }
    if (i == c->n_peers && c->n_peers < CL_MAX_PEERS) {
        c->peers[c->n_peers++] = n;
    }
    bool have_self = false;
    for (i = 0; i < c->n_peers; i++) {
        have_self = have_self || c->peers[i].id == c->self.id;
    }
    if (!have_self && c->n_peers < CL_MAX_PEERS) {
        c->peers[c->n_peers++] = c->self;
    }
    struct tr_buf b, rec;
    tr_buf_init(&b);
    tr_buf_init(&rec);
    bool formed = c->meta_stats.leader != 0;
    tr_buf_putc(&b, formed ? 1 : 0);
    tr_buf_put_uvarint(&b, c->n_peers);
    for (i = 0; i < c->n_peers; i++) {
        tr_buf_reset(&rec);
        tr_catalog_cmd_add_node(&rec, &c->peers[i]);
        tr_buf_put_uvarint(&b, rec.len);
        tr_buf_append(&b, rec.data, rec.len);
    }
    pthread_mutex_unlock(&c->mu);
    cl__binary(resp, &b);
    tr_buf_free(&b);
    tr_buf_free(&rec);
}

/* A loop-thread operation awaited by a worker thread: the operation's
 * context embeds this first, its completion callback is wait__done. */
struct loop_wait {
    struct tr_cluster *c;
    int rv;
    struct cl_call call;
};

static void wait__done(void *arg, int rv)
{
    struct loop_wait *w = arg;
    w->rv = rv;
    cl_call_done(&w->call);
}

/* Runs start(w) on the loop and waits until it calls wait__done. */
static int wait__run(struct loop_wait *w, void (*start)(void *arg))
{
    cl_call_init(&w->call, 1);
    if (tr_rpc_run_on_loop(w->c->rpc, start, w) == 0) {
        cl_call_wait(&w->call);
    } else {
        w->rv = TR_ENOMEM;
    }
    cl_call_destroy(&w->call);
    return w->rv;
}

struct join_call {
    struct loop_wait w; /* first */
    struct tr_catalog_node n;
};

static void join__start(void *arg)
{
    struct join_call *j = arg;
    cl_join_loop(j->w.c, &j->n, wait__done, &j->w);
}

static void api__join(struct tr_cluster *c,
                      const struct tr_cluster_request *req,
                      struct tr_cluster_response *resp)
{
    struct join_call j;
    memset(&j, 0, sizeof(j));
    j.w.c = c;
    if (cl_node_decode(req->body, req->body_len, &j.n) != 0) {
        cl_resp_text(resp, 400, "malformed node record");
        return;
    }
    if (wait__run(&j.w, join__start) != 0) {
        cl_resp_text(resp, 503, "join failed: no meta leader yet");
        return;
    }
    cl_resp_text(resp, 200, "joined");
}

struct window_call {
    struct loop_wait w; /* first */
    uint8_t signal;
    int64_t window;
};

static void window__start(void *arg)
{
    struct window_call *w = arg;
    cl_ensure_window_loop(w->w.c, w->signal, w->window, wait__done, &w->w);
}

int cl_window_req_parse(const void *body,
                        size_t len,
                        int64_t window_ms,
                        uint8_t *signal,
                        int64_t *window)
{
    struct tr_cursor cur = tr_cursor_make(body, len);
    /* aligned: the start of its window (window % window_ms == 0 is that,
     * without cl_window_start's overflow just above INT64_MIN) */
    if (tr_cursor_u8(&cur, signal) != 0 || cl_signal_ops(*signal) == NULL ||
        tr_cursor_varint(&cur, window) != 0 || window_ms <= 0 ||
        *window % window_ms != 0) {
        return TR_EPROTO;
    }
    return 0;
}

static void api__ensure_window(struct tr_cluster *c,
                               const struct tr_cluster_request *req,
                               struct tr_cluster_response *resp)
{
    struct window_call w;
    memset(&w, 0, sizeof(w));
    w.w.c = c;
    if (cl_window_req_parse(req->body, req->body_len, c->window_ms, &w.signal,
                            &w.window) != 0) {
        cl_resp_text(resp, 400, "malformed window");
        return;
    }
    if (wait__run(&w.w, window__start) != 0) {
        cl_resp_text(resp, 503, "window not created (not the meta leader?)");
        return;
    }
    cl_resp_text(resp, 200, "ok");
}

/* ---- removing a node
 * ------------------------------------------------------------
 */

struct remove_call {
    struct loop_wait w; /* first */
    uint64_t id;
};

static void remove__start(void *arg)
{
    struct remove_call *r = arg;
    cl_remove_node_loop(r->w.c, r->id, wait__done, &r->w);
}

static void remove__run(struct tr_cluster *c,
                        uint64_t id,
                        struct tr_cluster_response *resp)
{
    struct remove_call r;
    memset(&r, 0, sizeof(r));
    r.w.c = c;
    r.id = id;
    int rv = wait__run(&r.w, remove__start);
    if (rv == TR_ENOTFOUND) {
        cl_resp_text(resp, 404, "no such node in the catalog");
    } else if (rv != 0) {
        cl_resp_text(resp, 503, "node not removed (no meta leader?); retry");
    } else {
        cl_resp_text(resp, 200, "removed");
    }
}

static void api__remove_node(struct tr_cluster *c,
                             const struct tr_cluster_request *req,
                             struct tr_cluster_response *resp)
{
    struct tr_cursor cur = tr_cursor_make(req->body, req->body_len);
    uint64_t id;
    if (tr_cursor_u64be(&cur, &id) != 0) {
        cl_resp_text(resp, 400, "malformed node id");
        return;
    }
    remove__run(c, id, resp);
}

/* POST /api/v1/admin/cluster/remove-node?name=NODE: re-places the node's
 * shard replicas on other nodes and takes it out of the cluster. */
static void api__admin_remove_node(struct tr_cluster *c,
                                   const struct tr_cluster_request *req,
                                   struct tr_cluster_response *resp)
{
    const char *name = req->form(req->ctx, "name");
    if (name == NULL || name[0] == '\0') {
        cl_resp_text(resp, 400, "missing parameter \"name\"");
        return;
    }
    uint64_t id = 0;
    pthread_mutex_lock(&c->meta_fsm.mu);
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    /* an active node of that name first (a node that restarted with an
     * empty data directory left a removed incarnation of the name) */
    for (size_t i = 0; i < cat->n_nodes; i++) {
        if (strcmp(cat->nodes[i].name, name) == 0 &&
            (id == 0 || cat->nodes[i].state == TR_NODE_ACTIVE)) {
            id = cat->nodes[i].id;
        }
    }
    pthread_mutex_unlock(&c->meta_fsm.mu);
    if (id == 0) {
        cl_resp_text(resp, 404, "no such node in the catalog");
        return;
    }
    remove__run(c, id, resp);
}

static void api__meta_command(struct tr_cluster *c,
                              const struct tr_cluster_request *req,
                              struct tr_cluster_response *resp)
{
    int rv = cl_meta_propose(c, req->body, req->body_len);
    if (rv == TR_EINVAL || rv == TR_ECORRUPT) {
        cl_resp_text(resp, 400, "catalog command refused");
    } else if (rv != 0) {
        cl_resp_text(resp, 503, "no meta leader; retry");
    } else {
        cl_resp_text(resp, 200, "ok");
    }
}

/* ---- shard data
 * ----------------------------------------------------------------
 */

static void api__shard_apply(struct tr_cluster *c,
                             const struct tr_cluster_request *req,
                             struct tr_cluster_response *resp)
{
    struct tr_cursor cur = tr_cursor_make(req->body, req->body_len);
    struct tr_shard_id id;
    if (cl_get_shard(&cur, &id) != 0 || cl_signal_ops(id.signal) == NULL) {
        cl_resp_text(resp, 400, "malformed shard apply");
        return;
    }
    bool forwarded = req->header(req->ctx, "X-Triad-Forwarded") != NULL;
    struct tr_apply_result res;
    char err[TR_ERRMSG_SIZE] = "";
    int rv = cl_shard_apply_here(c, &id, cur.p, tr_cursor_left(&cur), forwarded,
                                 &res, err);
    struct tr_buf b;
    tr_buf_init(&b);
    cl_apply_result_encode(&res, rv, err, &b);
    cl__binary(resp, &b);
    tr_buf_free(&b);
}

static void api__read(struct tr_cluster *c,
                      const struct tr_cluster_request *req,
                      struct tr_cluster_response *resp)
{
    struct tr_buf b;
    tr_buf_init(&b);
    char err[TR_ERRMSG_SIZE] = "";
    int rv = cl_read_serve(c, req->body, req->body_len, &b, err);
    if (rv != 0) {
        cl_resp_text(resp,
                     rv == TR_ELIMIT                      ? 422
                     : rv == TR_EINVAL || rv == TR_EPROTO ? 400
                                                          : 503,
                     err);
    } else {
        cl__binary(resp, &b);
    }
    tr_buf_free(&b);
}

static void api__shard_dump(struct tr_cluster *c,
                            const struct tr_cluster_request *req,
                            struct tr_cluster_response *resp)
{
    struct tr_cursor cur = tr_cursor_make(req->body, req->body_len);
    struct tr_shard_id id;
    if (cl_get_shard(&cur, &id) != 0) {
        cl_resp_text(resp, 400, "malformed shard dump request");
        return;
    }
    if (!cl_serves(c, &id)) {
        cl_resp_text(resp, 503, "this replica cannot serve the shard");
        return;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    if (tr_storage_shard_dump(c->storage, &id, &b) != 0) {
        tr_buf_free(&b);
        cl_resp_text(resp, 503, "dump failed");
        return;
    }
    cl__binary(resp, &b);
    tr_buf_free(&b);
}

/* Loop: marks the local replica for a copy from a healthy one. */
struct recopy_look {
    struct loop_wait w; /* first */
    struct tr_shard_id id;
};

static void recopy__start(void *arg)
{
    struct recopy_look *r = arg;
    struct tr_cluster *c = r->w.c;
    struct cl_group *g = cl_group_find(c, &r->id);
    const struct tr_catalog_shard *sh = tr_catalog_shard(
        &c->meta_fsm.catalog, r->id.signal, r->id.window, r->id.slot);
    int rv = 0;
    if (g != NULL) {
        tr_shard_fsm_recopy(g->fsm);
    } else if (sh != NULL && sh->state == TR_SHARD_SEALED &&
               cl_is_replica(sh, c->self.id)) {
        cl_sealed_recopy(c, &r->id); /* without its group (sealed.c) */
    } else {
        rv = TR_ENOTFOUND;
    }
    wait__done(&r->w, rv);
}

/* POST /internal/v1/shard/recopy (body: shard): the meta leader found this
 * replica's checksum at a seal entry different from the majority's; the
 * replica copies the shard again from a healthy one. */
static void api__shard_recopy(struct tr_cluster *c,
                              const struct tr_cluster_request *req,
                              struct tr_cluster_response *resp)
{
    struct tr_cursor cur = tr_cursor_make(req->body, req->body_len);
    struct recopy_look r;
    memset(&r, 0, sizeof(r));
    r.w.c = c;
    if (cl_get_shard(&cur, &r.id) != 0) {
        cl_resp_text(resp, 400, "malformed recopy request");
        return;
    }
    int rv = wait__run(&r.w, recopy__start);
    cl_resp_text(resp, rv == 0 ? 200 : 404,
                 rv == 0 ? "copying" : "no replica of the shard here");
}

/* Loop: the local group's verify result for a request. */
struct verify_look {
    struct loop_wait w; /* first */
    struct tr_shard_id id;
    uint64_t request;
    uint64_t index;
    uint64_t checksum;
};

static void verify_look__start(void *arg)
{
    struct verify_look *v = arg;
    struct cl_group *g = cl_group_find(v->w.c, &v->id);
    int rv = g == NULL ? TR_EUNAVAIL
                       : tr_shard_fsm_verify_result(g->fsm, v->request,
                                                    &v->index, &v->checksum);
    wait__done(&v->w, rv);
}

int cl_verify_local(struct tr_cluster *c,
                    const struct tr_shard_id *id,
                    uint64_t request,
                    uint64_t *index,
                    uint64_t *checksum)
{
    struct verify_look v;
    memset(&v, 0, sizeof(v));
    v.w.c = c;
    v.id = *id;
    v.request = request;
    int rv = wait__run(&v.w, verify_look__start);
    *index = v.index;
    *checksum = v.checksum;
    return rv;
}

static void api__shard_verify(struct tr_cluster *c,
                              const struct tr_cluster_request *req,
                              struct tr_cluster_response *resp)
{
    struct tr_cursor cur = tr_cursor_make(req->body, req->body_len);
    struct tr_shard_id id;
    uint64_t request, index = 0, sum = 0;
    if (cl_get_shard(&cur, &id) != 0 || tr_cursor_u64be(&cur, &request) != 0) {
        cl_resp_text(resp, 400, "malformed verify request");
        return;
    }
    int rv = cl_verify_local(c, &id, request, &index, &sum);
    if (rv == TR_ENOTFOUND) {
        cl_resp_text(resp, 404, "verify entry not applied here (yet)");
        return;
    }
    if (rv != 0) {
        cl_resp_text(resp, 503, "no replica of the shard here");
        return;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    tr_buf_put_u64be(&b, index);
    tr_buf_put_u64be(&b, sum);
    cl__binary(resp, &b);
    tr_buf_free(&b);
}

/* Loop: transfers every leadership this node holds (shard groups with
 * other voters, the meta group) and counts them. */
struct drain_look {
    struct loop_wait w; /* first */
    int leading;
};

static void drain__start(void *arg)
{
    struct drain_look *d = arg;
    struct tr_cluster *c = d->w.c;
    d->leading = 0;
    for (struct cl_group *g = c->groups; g != NULL; g = g->next) {
        struct tr_raft_server servers[TR_CATALOG_MAX_REPLICAS];
        d->leading +=
            !g->closing && tr_raft_group_is_leader(g->g) &&
            tr_raft_group_servers(g->g, servers, TR_CATALOG_MAX_REPLICAS) > 1;
    }
    if (c->meta != NULL && tr_raft_group_is_leader(c->meta)) {
        struct tr_raft_server servers[CL_MAX_PEERS];
        d->leading += tr_raft_group_servers(c->meta, servers, CL_MAX_PEERS) > 1;
    }
    if (d->leading > 0) {
        cl_groups_transfer_all(c);
        if (c->meta != NULL && tr_raft_group_is_leader(c->meta)) {
            tr_raft_group_transfer(c->meta, 0, NULL, NULL);
        }
    }
    wait__done(&d->w, 0);
}

/* POST /api/v1/admin/cluster/drain: before a planned stop (the Helm
 * chart's preStop hook runs `triad drain`), hands this node's leaderships
 * away - again every 500 ms, elections may give some back - until it leads
 * nothing that another voter could lead, or the timeout. */
static void api__admin_drain(struct tr_cluster *c,
                             const struct tr_cluster_request *req,
                             struct tr_cluster_response *resp)
{
    const char *t = req->form(req->ctx, "timeout_ms");
    char *end = NULL;
    long long ms = t != NULL ? strtoll(t, &end, 10) : 30000;
    if (t != NULL && (end == t || *end != '\0' || ms < 0 || ms > 600000)) {
        cl_resp_text(resp, 400,
                     "bad timeout_ms: milliseconds from 0 to 600000");
        return;
    }
    int64_t deadline = cl_mono_ms() + ms;
    struct drain_look d;
    memset(&d, 0, sizeof(d));
    d.w.c = c;
    for (;;) {
        if (wait__run(&d.w, drain__start) != 0) {
            cl_resp_text(resp, 503, "cannot reach the loop; retry");
            return;
        }
        if (d.leading == 0 || cl_mono_ms() >= deadline || c->stopping) {
            break;
        }
        cl_sleep_ms(500);
    }
    char msg[160];
    if (d.leading == 0) {
        snprintf(msg, sizeof(msg), "drained: this node leads no group\n");
    } else {
        snprintf(msg, sizeof(msg),
                 "still leading %d group(s) after %lld ms; retry\n", d.leading,
                 ms);
    }
    cl_resp_text(resp, d.leading == 0 ? 200 : 503, msg);
    tr_log_info("drain", "leading=%d", d.leading);
}

static void api__shard_sealed_sum(struct tr_cluster *c,
                                  const struct tr_cluster_request *req,
                                  struct tr_cluster_response *resp)
{
    struct tr_cursor cur = tr_cursor_make(req->body, req->body_len);
    struct tr_shard_id id;
    uint64_t known, sum = 0;
    if (cl_get_shard(&cur, &id) != 0 || tr_cursor_uvarint(&cur, &known) != 0 ||
        tr_cursor_left(&cur) != 0) {
        cl_resp_text(resp, 400, "malformed sealed-sum request");
        return;
    }
    char err[TR_ERRMSG_SIZE] = "";
    int rv = cl_sealed_sum(c, &id, known, &sum, err);
    if (rv != 0) {
        cl_resp_text(resp, rv == TR_ENOTFOUND ? 404 : 503, err);
        return;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    tr_buf_put_u64be(&b, sum);
    cl__binary(resp, &b);
    tr_buf_free(&b);
}

static void api__shard_tenants(struct tr_cluster *c,
                               const struct tr_cluster_request *req,
                               struct tr_cluster_response *resp)
{
    struct tr_cursor cur = tr_cursor_make(req->body, req->body_len);
    struct tr_shard_id id;
    if (cl_get_shard(&cur, &id) != 0 || tr_cursor_left(&cur) != 0) {
        cl_resp_text(resp, 400, "malformed tenants request");
        return;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    if (!cl_sealed_local(c, &id) ||
        tr_storage_shard_tenants(c->storage, &id, &b) != 0) {
        tr_buf_free(&b);
        cl_resp_text(resp, 503, "the shard is not sealed here");
        return;
    }
    cl__binary(resp, &b);
    tr_buf_free(&b);
}

static void api__admin_verify(struct tr_cluster *c,
                              const struct tr_cluster_request *req,
                              struct tr_cluster_response *resp)
{
    (void)req;
    char err[TR_ERRMSG_SIZE] = "";
    tr_buf_reset(resp->body);
    int rv = cl_verify(c, resp->body, err);
    if (rv != 0) {
        cl_resp_text(resp, 503, err);
        return;
    }
    resp->status = 200;
    resp->content_type = "application/json";
}

/* ---- the route table
 * ------------------------------------------------------------
 */

/* Checks the cluster secret, then runs the endpoint. */
#define CL_ROUTE(fn)                                             \
    static void fn##__auth(struct tr_cluster *c,                 \
                           const struct tr_cluster_request *req, \
                           struct tr_cluster_response *resp)     \
    {                                                            \
        if (cl_authorized(c, req, resp)) {                       \
            fn(c, req, resp);                                    \
        }                                                        \
    }

CL_ROUTE(api__hello)
CL_ROUTE(api__join)
CL_ROUTE(api__ensure_window)
CL_ROUTE(api__shard_apply)
CL_ROUTE(api__shard_dump)
CL_ROUTE(api__shard_verify)
CL_ROUTE(api__shard_recopy)
CL_ROUTE(api__shard_sealed_sum)
CL_ROUTE(api__shard_tenants)
CL_ROUTE(api__read)
CL_ROUTE(api__remove_node)
CL_ROUTE(api__meta_command)
CL_ROUTE(api__admin_remove_node)
CL_ROUTE(api__admin_verify)
CL_ROUTE(api__admin_drain)
CL_ROUTE(cl_status_local)

static const struct tr_cluster_route cl_routes[] = {
    {TR_CLUSTER_POST, "/internal/v1/hello", api__hello__auth},
    {TR_CLUSTER_POST, "/internal/v1/join", api__join__auth},
    {TR_CLUSTER_POST, "/internal/v1/ensure-window", api__ensure_window__auth},
    {TR_CLUSTER_POST, "/internal/v1/shard/apply", api__shard_apply__auth},
    {TR_CLUSTER_POST, "/internal/v1/shard/dump", api__shard_dump__auth},
    {TR_CLUSTER_POST, "/internal/v1/shard/verify", api__shard_verify__auth},
    {TR_CLUSTER_POST, "/internal/v1/shard/recopy", api__shard_recopy__auth},
    {TR_CLUSTER_POST, "/internal/v1/shard/sealed-sum",
     api__shard_sealed_sum__auth},
    {TR_CLUSTER_POST, "/internal/v1/shard/tenants", api__shard_tenants__auth},
    {TR_CLUSTER_POST, "/internal/v1/read", api__read__auth},
    {TR_CLUSTER_POST, "/internal/v1/status/local", cl_status_local__auth},
    {TR_CLUSTER_POST, "/internal/v1/remove-node", api__remove_node__auth},
    {TR_CLUSTER_POST, "/internal/v1/meta-command", api__meta_command__auth},
    {TR_CLUSTER_GET, "/api/v1/status/cluster", cl_status_cluster},
    {TR_CLUSTER_POST, "/api/v1/admin/cluster/remove-node",
     api__admin_remove_node__auth},
    {TR_CLUSTER_POST, "/api/v1/admin/cluster/verify", api__admin_verify__auth},
    {TR_CLUSTER_POST, "/api/v1/admin/cluster/drain", api__admin_drain__auth},
};

const struct tr_cluster_route *tr_cluster_routes(size_t *n)
{
    *n = sizeof(cl_routes) / sizeof(cl_routes[0]);
    return cl_routes;
}
