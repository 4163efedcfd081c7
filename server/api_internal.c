/* api_internal.c - node-to-node endpoints under /internal/v1/ (protobuf-free
 * compact bodies, see server/cluster_io.c), authenticated by the cluster
 * secret, and GET /api/v1/status/cluster. Handlers run on worker threads. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/log.h"
#include "server/app.h"
#include "server/cluster_int.h"

static struct tr_cluster *internal__cluster(const struct tr_http_request *req,
                                            struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    struct tr_cluster *c = app->cluster;
    if (c == NULL) {
        tr_http_resp_text(resp, 503, "cluster layer not running");
        return NULL;
    }
    const char *secret = app->cfg->cluster_secret;
    if (secret[0] != '\0') {
        const struct tr_slice *h =
            tr_http_header_get(req, TR_RPC_SECRET_HEADER);
        if (h == NULL || !tr_slice_eq_cstr(*h, secret)) {
            tr_http_resp_text(resp, 401, "bad or missing cluster secret");
            return NULL;
        }
    }
    return c;
}

static void internal__binary(struct tr_http_response *resp, struct tr_buf *b)
{
    tr_buf_reset(&resp->body);
    tr_buf_append(&resp->body, b->data, b->len);
    resp->status = 200;
    resp->content_type = "application/octet-stream";
}

/* ---- hello and join
 * ---------------------------------------------------------- */

static void api__hello(const struct tr_http_request *req,
                       struct tr_http_response *resp)
{
    struct tr_cluster *c = internal__cluster(req, resp);
    if (c == NULL) {
        return;
    }
    struct tr_catalog_node n;
    if (cl_node_decode(req->body, req->body_len, &n) != 0) {
        tr_http_resp_text(resp, 400, "malformed node record");
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
    internal__binary(resp, &b);
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

static void api__join(const struct tr_http_request *req,
                      struct tr_http_response *resp)
{
    struct tr_cluster *c = internal__cluster(req, resp);
    if (c == NULL) {
        return;
    }
    struct join_call j;
    memset(&j, 0, sizeof(j));
    j.w.c = c;
    if (cl_node_decode(req->body, req->body_len, &j.n) != 0) {
        tr_http_resp_text(resp, 400, "malformed node record");
        return;
    }
    if (wait__run(&j.w, join__start) != 0) {
        tr_http_resp_text(resp, 503, "join failed: no meta leader yet");
        return;
    }
    tr_http_resp_text(resp, 200, "joined");
}

struct window_call {
    struct loop_wait w; /* first */
    int64_t window;
};

static void window__start(void *arg)
{
    struct window_call *w = arg;
    cl_ensure_window_loop(w->w.c, w->window, wait__done, &w->w);
}

static void api__ensure_window(const struct tr_http_request *req,
                               struct tr_http_response *resp)
{
    struct tr_cluster *c = internal__cluster(req, resp);
    if (c == NULL) {
        return;
    }
    struct tr_cursor cur = tr_cursor_make(req->body, req->body_len);
    struct window_call w;
    memset(&w, 0, sizeof(w));
    w.w.c = c;
    if (tr_cursor_varint(&cur, &w.window) != 0 ||
        cl_window_start(c, w.window) != w.window) {
        tr_http_resp_text(resp, 400, "malformed window");
        return;
    }
    if (wait__run(&w.w, window__start) != 0) {
        tr_http_resp_text(resp, 503,
                          "window not created (not the meta leader?)");
        return;
    }
    tr_http_resp_text(resp, 200, "ok");
}

/* ---- removing a node
 * --------------------------------------------------------- */

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
                        struct tr_http_response *resp)
{
    struct remove_call r;
    memset(&r, 0, sizeof(r));
    r.w.c = c;
    r.id = id;
    int rv = wait__run(&r.w, remove__start);
    if (rv == TR_ENOTFOUND) {
        tr_http_resp_text(resp, 404, "no such node in the catalog");
    } else if (rv != 0) {
        tr_http_resp_text(resp, 503,
                          "node not removed (no meta leader?); retry");
    } else {
        tr_http_resp_text(resp, 200, "removed");
    }
}

static void api__remove_node(const struct tr_http_request *req,
                             struct tr_http_response *resp)
{
    struct tr_cluster *c = internal__cluster(req, resp);
    if (c == NULL) {
        return;
    }
    struct tr_cursor cur = tr_cursor_make(req->body, req->body_len);
    uint64_t id;
    if (tr_cursor_u64be(&cur, &id) != 0) {
        tr_http_resp_text(resp, 400, "malformed node id");
        return;
    }
    remove__run(c, id, resp);
}

/* POST /api/v1/admin/cluster/remove-node?name=NODE: re-places the node's
 * shard replicas on other nodes and takes it out of the cluster. */
static void api__admin_remove_node(const struct tr_http_request *req,
                                   struct tr_http_response *resp)
{
    /* cluster administration: the cluster secret when one is set */
    struct tr_cluster *c = internal__cluster(req, resp);
    if (c == NULL) {
        return;
    }
    const char *name = tr_http_form_get(req, "name");
    if (name == NULL || name[0] == '\0') {
        tr_http_resp_text(resp, 400, "missing parameter \"name\"");
        return;
    }
    uint64_t id = 0;
    pthread_mutex_lock(&c->meta_fsm.mu);
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    for (size_t i = 0; i < cat->n_nodes; i++) {
        if (strcmp(cat->nodes[i].name, name) == 0) {
            id = cat->nodes[i].id;
        }
    }
    pthread_mutex_unlock(&c->meta_fsm.mu);
    if (id == 0) {
        tr_http_resp_text(resp, 404, "no such node in the catalog");
        return;
    }
    remove__run(c, id, resp);
}

/* ---- catalog commands and tenant limits ------------------------------- */

struct propose_call {
    struct loop_wait w; /* first */
    const void *cmd;
    size_t len;
};

static void propose__start(void *arg)
{
    struct propose_call *p = arg;
    cl_meta_propose_loop(p->w.c, p->cmd, p->len, wait__done, &p->w);
}

/* Worker thread: proposes a catalog command and waits for its result. */
static int internal__propose(struct tr_cluster *c, const void *cmd, size_t len)
{
    struct propose_call p;
    memset(&p, 0, sizeof(p));
    p.w.c = c;
    p.cmd = cmd;
    p.len = len;
    return wait__run(&p.w, propose__start);
}

static void api__meta_command(const struct tr_http_request *req,
                              struct tr_http_response *resp)
{
    struct tr_cluster *c = internal__cluster(req, resp);
    if (c == NULL) {
        return;
    }
    int rv = internal__propose(c, req->body, req->body_len);
    if (rv == TR_EINVAL || rv == TR_ECORRUPT) {
        tr_http_resp_text(resp, 400, "catalog command refused");
    } else if (rv != 0) {
        tr_http_resp_text(resp, 503, "no meta leader; retry");
    } else {
        tr_http_resp_text(resp, 200, "ok");
    }
}

/* Reads an optional numeric form value; -2 = absent, -3 = malformed. */
static double internal__num(const struct tr_http_request *req, const char *key)
{
    const char *v = tr_http_form_get(req, key);
    if (v == NULL || v[0] == '\0') {
        return -2;
    }
    char *end;
    double d = strtod(v, &end);
    if (*end != '\0' || d != d || d < 0) {
        return -3;
    }
    return d;
}

static int64_t internal__dur(const struct tr_http_request *req,
                             const char *key,
                             int *bad)
{
    const char *v = tr_http_form_get(req, key);
    int64_t ms;
    if (v == NULL || v[0] == '\0') {
        return -1;
    }
    if (tr_parse_duration_ms(v, &ms) != 0) {
        *bad = 1;
        return -1;
    }
    return ms;
}

static void limits__dur(struct tr_json *j, const char *key, int64_t ms)
{
    char d[64];
    tr_format_duration_ms(ms, d, sizeof(d));
    tr_json_key(j, key);
    tr_json_str(j, d);
}

static void limits__json(struct tr_http_response *resp,
                         const struct tr_config *cfg,
                         const char *tenant,
                         const struct tr_catalog_tenant *t)
{
    struct tr_json j;
    tr_buf_reset(&resp->body);
    tr_json_init(&j, &resp->body);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "status");
    tr_json_str(&j, "success");
    tr_json_key(&j, "data");
    tr_json_obj_begin(&j);
    tr_json_key(&j, "tenant");
    tr_json_str(&j, tenant);
    tr_json_key(&j, "overridden");
    tr_json_bool(&j, t != NULL);
    tr_json_key(&j, "max_series");
    tr_json_uint(&j,
                 t && t->max_series ? t->max_series : cfg->limits.max_series);
    tr_json_key(&j, "ingestion_rate");
    tr_json_double(&j, t && t->ingestion_rate >= 0
                           ? t->ingestion_rate
                           : cfg->limits.ingestion_rate);
    tr_json_key(&j, "ingestion_burst");
    tr_json_uint(&j, t && t->ingestion_burst ? t->ingestion_burst
                                             : cfg->limits.ingestion_burst);
    limits__dur(&j, "retention_metrics",
                t && t->retention_metrics_ms >= 0 ? t->retention_metrics_ms
                                                  : cfg->retention_metrics_ms);
    limits__dur(&j, "retention_logs",
                t && t->retention_logs_ms >= 0 ? t->retention_logs_ms
                                               : cfg->retention_logs_ms);
    limits__dur(&j, "retention_traces",
                t && t->retention_traces_ms >= 0 ? t->retention_traces_ms
                                                 : cfg->retention_traces_ms);
    tr_json_obj_end(&j);
    tr_json_obj_end(&j);
    resp->status = 200;
    resp->content_type = "application/json";
}

/* GET shows a tenant's effective limits; POST sets its overrides:
 * /api/v1/admin/tenants/limits?tenant=T&max_series=N&ingestion_rate=R&
 * ingestion_burst=B&retention_metrics=D&retention_logs=D&retention_traces=D
 * (absent = default; a POST with none of them removes the overrides). */
static void api__tenant_limits(const struct tr_http_request *req,
                               struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    /* changing limits needs the cluster secret when one is set */
    struct tr_cluster *c = req->method == TR_HTTP_POST
                               ? internal__cluster(req, resp)
                               : app->cluster;
    if (c == NULL) {
        if (req->method != TR_HTTP_POST) {
            tr_http_resp_text(resp, 503, "cluster layer not running");
        }
        return;
    }
    const char *tenant = tr_http_form_get(req, "tenant");
    if (tenant == NULL || tenant[0] == '\0' ||
        strlen(tenant) >= TR_CATALOG_TENANT_MAX) {
        tr_http_resp_text(resp, 400,
                          "missing or too long parameter \"tenant\"");
        return;
    }
    struct tr_catalog_tenant cur;
    if (req->method != TR_HTTP_POST) {
        bool have = tr_cluster_tenant(c, tenant, &cur);
        limits__json(resp, app->cfg, tenant, have ? &cur : NULL);
        return;
    }
    struct tr_catalog_tenant t;
    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "%s", tenant);
    double ms = internal__num(req, "max_series");
    double rate = internal__num(req, "ingestion_rate");
    double burst = internal__num(req, "ingestion_burst");
    int bad = ms == -3 || rate == -3 || burst == -3;
    t.max_series = ms >= 0 ? (uint64_t)ms : 0;
    t.ingestion_rate = rate >= 0 ? rate : -1;
    t.ingestion_burst = burst >= 0 ? (uint64_t)burst : 0;
    t.retention_metrics_ms = internal__dur(req, "retention_metrics", &bad);
    t.retention_logs_ms = internal__dur(req, "retention_logs", &bad);
    t.retention_traces_ms = internal__dur(req, "retention_traces", &bad);
    if (bad) {
        tr_http_resp_text(resp, 400,
                          "bad value: numbers must be >= 0, retentions "
                          "durations like 30d");
        return;
    }
    struct tr_buf cmd;
    tr_buf_init(&cmd);
    tr_catalog_cmd_set_tenant(&cmd, &t);
    int rv = internal__propose(c, cmd.data, cmd.len);
    tr_buf_free(&cmd);
    if (rv != 0) {
        tr_http_resp_text(resp, 503, "not stored (no meta leader?); retry");
        return;
    }
    bool have = tr_cluster_tenant(c, tenant, &cur);
    limits__json(resp, app->cfg, tenant, have ? &cur : NULL);
}

/* ---- shard data
 * ----------------------------------------------------------------- */

static int internal__shard(const struct tr_http_request *req,
                           struct tr_cursor *cur,
                           int64_t *window,
                           uint16_t *slot)
{
    uint64_t s;
    *cur = tr_cursor_make(req->body, req->body_len);
    if (tr_cursor_varint(cur, window) != 0 || tr_cursor_uvarint(cur, &s) != 0 ||
        s > UINT16_MAX) {
        return TR_EPROTO;
    }
    *slot = (uint16_t)s;
    return 0;
}

static void api__shard_apply(const struct tr_http_request *req,
                             struct tr_http_response *resp)
{
    struct tr_cluster *c = internal__cluster(req, resp);
    if (c == NULL) {
        return;
    }
    struct tr_cursor cur;
    int64_t window;
    uint16_t slot;
    if (internal__shard(req, &cur, &window, &slot) != 0) {
        tr_http_resp_text(resp, 400, "malformed shard apply");
        return;
    }
    bool forwarded = tr_http_header_get(req, "X-Triad-Forwarded") != NULL;
    struct tr_apply_result res;
    char err[TR_ERRMSG_SIZE] = "";
    int rv = cl_shard_apply_here(c, window, slot, cur.p, tr_cursor_left(&cur),
                                 forwarded, &res, err);
    struct tr_buf b;
    tr_buf_init(&b);
    cl_apply_result_encode(&res, rv, err, &b);
    internal__binary(resp, &b);
    tr_buf_free(&b);
}

static void api__select(const struct tr_http_request *req,
                        struct tr_http_response *resp)
{
    struct tr_cluster *c = internal__cluster(req, resp);
    if (c == NULL) {
        return;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    char err[TR_ERRMSG_SIZE] = "";
    int rv = cl_select_serve(c, req->body, req->body_len, &b, err);
    if (rv != 0) {
        tr_http_resp_text(
            resp,
            rv == TR_ELIMIT || rv == TR_EINVAL || rv == TR_EPROTO ? 400 : 503,
            err);
    } else {
        internal__binary(resp, &b);
    }
    tr_buf_free(&b);
}

static void api__shard_dump(const struct tr_http_request *req,
                            struct tr_http_response *resp)
{
    struct tr_cluster *c = internal__cluster(req, resp);
    if (c == NULL) {
        return;
    }
    struct tr_cursor cur;
    int64_t window;
    uint16_t slot;
    if (internal__shard(req, &cur, &window, &slot) != 0) {
        tr_http_resp_text(resp, 400, "malformed shard dump request");
        return;
    }
    pthread_mutex_lock(&c->mu);
    bool ok = false;
    for (size_t i = 0; i < c->n_stats; i++) {
        if (c->stats[i].window == window && c->stats[i].slot == slot) {
            ok = !c->stats[i].catching_up;
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (!ok) {
        tr_http_resp_text(resp, 503, "this replica cannot serve the shard");
        return;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    if (tr_storage_shard_dump(c->storage, window, slot, &b) != 0) {
        tr_buf_free(&b);
        tr_http_resp_text(resp, 503, "dump failed");
        return;
    }
    internal__binary(resp, &b);
    tr_buf_free(&b);
}

/* ---- status
 * ----------------------------------------------------------------------- */

static void api__status_local(const struct tr_http_request *req,
                              struct tr_http_response *resp)
{
    struct tr_cluster *c = internal__cluster(req, resp);
    if (c == NULL) {
        return;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    pthread_mutex_lock(&c->mu);
    tr_buf_put_uvarint(&b, c->n_stats);
    for (size_t i = 0; i < c->n_stats; i++) {
        const struct cl_stat *s = &c->stats[i];
        tr_buf_put_varint(&b, s->window);
        tr_buf_put_uvarint(&b, s->slot);
        tr_buf_putc(&b, (char)s->state);
        tr_buf_put_u64be(&b, s->leader);
        tr_buf_put_uvarint(&b, s->term);
        tr_buf_put_uvarint(&b, s->commit);
        tr_buf_put_uvarint(&b, s->applied);
        tr_buf_putc(&b, s->catching_up ? 1 : 0);
    }
    /* the meta leader adds every member's heartbeat health */
    tr_buf_putc(&b, c->meta_leader ? 1 : 0);
    if (c->meta_leader) {
        tr_buf_put_uvarint(&b, c->n_health);
        for (size_t i = 0; i < c->n_health; i++) {
            tr_buf_put_u64be(&b, c->health[i].id);
            tr_buf_putc(&b, c->health[i].ok ? 1 : 0);
        }
    }
    pthread_mutex_unlock(&c->mu);
    internal__binary(resp, &b);
    tr_buf_free(&b);
}

/* One replica's view of one shard. */
struct shard_view {
    uint64_t node;
    int64_t window;
    uint16_t slot;
    int state;
    uint64_t leader;
    uint64_t term;
    uint64_t commit;
    uint64_t applied;
    bool catching_up;
};

struct node_health {
    uint64_t id[64];
    bool ok[64];
    size_t n;
};

static size_t status__decode(uint64_t node,
                             const char *buf,
                             size_t len,
                             struct shard_view *out,
                             size_t max,
                             struct node_health *health)
{
    struct tr_cursor c = tr_cursor_make(buf, len);
    uint64_t n;
    size_t k = 0;
    if (tr_cursor_uvarint(&c, &n) != 0) {
        return 0;
    }
    for (uint64_t i = 0; i < n && k < max; i++) {
        struct shard_view *v = &out[k];
        uint64_t slot;
        uint8_t state, cu;
        if (tr_cursor_varint(&c, &v->window) != 0 ||
            tr_cursor_uvarint(&c, &slot) != 0 ||
            tr_cursor_u8(&c, &state) != 0 ||
            tr_cursor_u64be(&c, &v->leader) != 0 ||
            tr_cursor_uvarint(&c, &v->term) != 0 ||
            tr_cursor_uvarint(&c, &v->commit) != 0 ||
            tr_cursor_uvarint(&c, &v->applied) != 0 ||
            tr_cursor_u8(&c, &cu) != 0) {
            break;
        }
        v->node = node;
        v->slot = (uint16_t)slot;
        v->state = state;
        v->catching_up = cu != 0;
        k++;
    }
    /* heartbeat health, from the meta leader only */
    uint8_t leader;
    uint64_t nh;
    if (health != NULL && tr_cursor_u8(&c, &leader) == 0 && leader == 1 &&
        tr_cursor_uvarint(&c, &nh) == 0) {
        for (uint64_t i = 0; i < nh && i < 64; i++) {
            uint64_t id;
            uint8_t ok;
            if (tr_cursor_u64be(&c, &id) != 0 || tr_cursor_u8(&c, &ok) != 0) {
                break;
            }
            health->id[health->n] = id;
            health->ok[health->n] = ok != 0;
            health->n++;
        }
    }
    return k;
}

static const char *status__node_name(const struct tr_catalog *cat, uint64_t id)
{
    const struct tr_catalog_node *n = tr_catalog_node(cat, id);
    return n ? n->name : "";
}

static void status__time(int64_t ms, char *buf, size_t n)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void api__status_cluster(const struct tr_http_request *req,
                                struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    struct tr_cluster *c = app->cluster;
    if (c == NULL) {
        tr_http_resp_text(resp, 503, "cluster layer not running");
        return;
    }
    /* a copy of the catalog, then every node's local view */
    struct tr_catalog cat;
    tr_catalog_init(&cat);
    struct tr_buf enc;
    tr_buf_init(&enc);
    pthread_mutex_lock(&c->meta_fsm.mu);
    tr_catalog_encode(&c->meta_fsm.catalog, &enc);
    pthread_mutex_unlock(&c->meta_fsm.mu);
    tr_catalog_decode(&cat, enc.data, enc.len);
    tr_buf_free(&enc);
    size_t cap = 4096, nv = 0;
    struct shard_view *views = tr_calloc(cap, sizeof(*views));
    bool *reachable = tr_calloc(cat.n_nodes ? cat.n_nodes : 1, sizeof(bool));
    struct node_health health;
    memset(&health, 0, sizeof(health));
    struct tr_buf body;
    tr_buf_init(&body);
    for (size_t i = 0; views != NULL && reachable != NULL && i < cat.n_nodes;
         i++) {
        const struct tr_catalog_node *nd = &cat.nodes[i];
        if (nd->state != TR_NODE_ACTIVE) {
            continue;
        }
        tr_buf_reset(&body);
        long status = 0;
        char url[300];
        snprintf(url, sizeof(url), "http://%s/internal/v1/status/local",
                 nd->http_addr);
        if (tr_rpc_call(c->rpc, url, "", 0, NULL, 1500, &status, &body) == 0 &&
            status == 200) {
            reachable[i] = true;
            nv += status__decode(nd->id, body.data, body.len, views + nv,
                                 cap - nv, &health);
        }
    }
    tr_buf_free(&body);
    pthread_mutex_lock(&c->mu);
    struct tr_raft_group_stats ms = c->meta_stats;
    pthread_mutex_unlock(&c->mu);

    struct tr_json j;
    tr_buf_reset(&resp->body);
    tr_json_init(&j, &resp->body);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "status");
    tr_json_str(&j, "success");
    tr_json_key(&j, "data");
    tr_json_obj_begin(&j);
    tr_json_key(&j, "node");
    tr_json_str(&j, c->self.name);
    tr_json_key(&j, "metaLeader");
    tr_json_str(&j, status__node_name(&cat, ms.leader));
    tr_json_key(&j, "metaTerm");
    tr_json_uint(&j, ms.term);
    tr_json_key(&j, "metaCommitIndex");
    tr_json_uint(&j, ms.commit_index);
    tr_json_key(&j, "nodes");
    tr_json_arr_begin(&j);
    for (size_t i = 0; i < cat.n_nodes; i++) {
        const struct tr_catalog_node *nd = &cat.nodes[i];
        tr_json_obj_begin(&j);
        tr_json_key(&j, "name");
        tr_json_str(&j, nd->name);
        tr_json_key(&j, "id");
        char id[32];
        snprintf(id, sizeof(id), "%016" PRIx64, nd->id);
        tr_json_str(&j, id);
        tr_json_key(&j, "raftAddr");
        tr_json_str(&j, nd->raft_addr);
        tr_json_key(&j, "httpAddr");
        tr_json_str(&j, nd->http_addr);
        /* heartbeat: what the meta leader heard (null: not a meta member,
         * or no leader) */
        int hb = -1;
        for (size_t h = 0; h < health.n; h++) {
            if (health.id[h] == nd->id) {
                hb = health.ok[h];
            }
        }
        tr_json_key(&j, "state");
        tr_json_str(&j, nd->state != TR_NODE_ACTIVE ? "removed"
                        : hb == 0                   ? "down"
                        : reachable && reachable[i] ? "up"
                                                    : "unreachable");
        tr_json_key(&j, "heartbeat");
        if (hb < 0) {
            tr_json_null(&j);
        } else {
            tr_json_bool(&j, hb == 1);
        }
        tr_json_obj_end(&j);
    }
    tr_json_arr_end(&j);
    tr_json_key(&j, "shards");
    tr_json_arr_begin(&j);
    static const char *const states[] = {"", "active", "sealing", "sealed",
                                         "deleted"};
    for (size_t i = 0; i < cat.n_shards; i++) {
        const struct tr_catalog_shard *sh = &cat.shards[i];
        tr_json_obj_begin(&j);
        tr_json_key(&j, "signal");
        tr_json_str(&j, sh->signal == TR_SIGNAL_METRICS ? "metrics" : "other");
        tr_json_key(&j, "window");
        tr_json_int(&j, sh->window);
        char tb[40];
        status__time(sh->window, tb, sizeof(tb));
        tr_json_key(&j, "windowStart");
        tr_json_str(&j, tb);
        tr_json_key(&j, "slot");
        tr_json_uint(&j, sh->slot);
        tr_json_key(&j, "state");
        tr_json_str(&j, sh->state >= 1 && sh->state <= 4 ? states[sh->state]
                                                         : "unknown");
        /* the leader's view gives commit; lag is per replica */
        const struct shard_view *lead = NULL;
        for (size_t v = 0; v < nv; v++) {
            if (views[v].window == sh->window && views[v].slot == sh->slot &&
                views[v].state == RAFT_LEADER) {
                lead = &views[v];
            }
        }
        tr_json_key(&j, "leader");
        tr_json_str(&j, lead ? status__node_name(&cat, lead->node) : "");
        tr_json_key(&j, "term");
        tr_json_uint(&j, lead ? lead->term : 0);
        tr_json_key(&j, "commitIndex");
        tr_json_uint(&j, lead ? lead->commit : 0);
        tr_json_key(&j, "replicas");
        tr_json_arr_begin(&j);
        for (size_t r = 0; r < sh->n_replicas; r++) {
            const struct shard_view *rv = NULL;
            for (size_t v = 0; v < nv; v++) {
                if (views[v].window == sh->window &&
                    views[v].slot == sh->slot &&
                    views[v].node == sh->replicas[r]) {
                    rv = &views[v];
                }
            }
            tr_json_obj_begin(&j);
            tr_json_key(&j, "node");
            tr_json_str(&j, status__node_name(&cat, sh->replicas[r]));
            tr_json_key(&j, "appliedIndex");
            tr_json_uint(&j, rv ? rv->applied : 0);
            tr_json_key(&j, "lag");
            uint64_t commit = lead ? lead->commit : 0;
            tr_json_uint(&j,
                         rv && commit > rv->applied ? commit - rv->applied : 0);
            tr_json_key(&j, "state");
            tr_json_str(&j, rv == NULL                 ? "unknown"
                            : rv->catching_up          ? "catching-up"
                            : rv->state == RAFT_LEADER ? "leader"
                                                       : "follower");
            tr_json_obj_end(&j);
        }
        tr_json_arr_end(&j);
        tr_json_obj_end(&j);
    }
    tr_json_arr_end(&j);
    tr_json_obj_end(&j);
    tr_json_obj_end(&j);
    resp->status = 200;
    resp->content_type = "application/json";
    tr_free(views);
    tr_free(reachable);
    tr_catalog_free(&cat);
}

int tr_cluster_routes(struct tr_cluster *c, struct tr_http_server *http)
{
    (void)c;
    struct {
        unsigned methods;
        const char *pattern;
        tr_http_handler_fn fn;
    } routes[] = {
        {TR_HTTP_POST, "/internal/v1/hello", api__hello},
        {TR_HTTP_POST, "/internal/v1/join", api__join},
        {TR_HTTP_POST, "/internal/v1/ensure-window", api__ensure_window},
        {TR_HTTP_POST, "/internal/v1/shard/apply", api__shard_apply},
        {TR_HTTP_POST, "/internal/v1/shard/dump", api__shard_dump},
        {TR_HTTP_POST, "/internal/v1/select", api__select},
        {TR_HTTP_POST, "/internal/v1/status/local", api__status_local},
        {TR_HTTP_GET, "/api/v1/status/cluster", api__status_cluster},
        {TR_HTTP_POST, "/internal/v1/remove-node", api__remove_node},
        {TR_HTTP_POST, "/internal/v1/meta-command", api__meta_command},
        {TR_HTTP_GET | TR_HTTP_POST, "/api/v1/admin/tenants/limits",
         api__tenant_limits},
        {TR_HTTP_POST, "/api/v1/admin/cluster/remove-node",
         api__admin_remove_node},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        int rv = tr_http_route(http, routes[i].methods, routes[i].pattern, 0,
                               routes[i].fn);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}
