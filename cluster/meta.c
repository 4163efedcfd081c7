/* meta.c - the meta group side of the cluster layer: starting or
 * forming the meta group (alone, --bootstrap-expect with --join, or joining
 * a running cluster), registration and joins, node removal with replica
 * re-placement, generic catalog proposals, and window creation by the meta
 * leader. Loop thread unless noted. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cluster/cluster_int.h"
#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/log.h"

static bool cl__dir_has_state(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return false;
    }
    bool any = false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            any = true;
            break;
        }
    }
    closedir(d);
    return any;
}

void cl_group_config(struct tr_cluster *c,
                     struct tr_raft_group_config *gc,
                     const char *name,
                     const char *dir,
                     struct raft_fsm *fsm)
{
    memset(gc, 0, sizeof(*gc));
    gc->version = 1;
    gc->name = name;
    gc->dir = dir;
    gc->id = c->self.id;
    gc->address = c->self.raft_addr;
    gc->fsm = fsm;
    gc->election_ms = (unsigned)c->cfg.election_ms;
    gc->heartbeat_ms = (unsigned)c->cfg.heartbeat_ms;
    gc->pre_vote = c->cfg.pre_vote;
    gc->snapshot_threshold = c->cfg.snapshot_threshold;
    gc->snapshot_trailing = c->cfg.snapshot_trailing;
    gc->snapshot_bytes = c->cfg.snapshot_bytes;
    gc->snapshot_trailing_bytes = c->cfg.snapshot_trailing_bytes;
    gc->segment_size =
        c->cfg.segment_bytes != 0 ? c->cfg.segment_bytes : CL_SEGMENT_SIZE;
}

/* Catalog changed (loop, after apply): the tick reacts to most changes; the
 * cluster clock moves here, so every node moves it as it applies. */
void cl_meta_changed(void *arg)
{
    struct tr_cluster *c = arg;
    int64_t t = c->meta_fsm.catalog.clock_ms;
    if (c->cfg.fake_clock && t > 0 && t > tr_now_ms()) {
        tr_clock_fake_set(t);
    }
}

/* Starts the meta group, bootstrapping it with servers when given. */
static int cl__meta_start(struct tr_cluster *c,
                          const struct tr_raft_server *servers,
                          size_t n)
{
    char dir[2100];
    snprintf(dir, sizeof(dir), "%s/meta", c->raft_dir);
    struct tr_raft_group_config gc;
    cl_group_config(c, &gc, "meta", dir, &c->meta_fsm.fsm);
    gc.snapshot_threshold = 256;
    gc.snapshot_trailing = 128;
    gc.snapshot_bytes = 0;
    gc.snapshot_trailing_bytes = 0;
    /* catalog commands are tiny: no large preallocated segments */
    gc.segment_size = CL_META_SEGMENT_SIZE;
    char err[TR_ERRMSG_SIZE];
    int rv =
        tr_raft_group_start(c->loop, c->mux, &gc, servers, n, &c->meta, err);
    if (rv != 0) {
        tr_log_error("cannot start the meta group", "err=\"%s\"", err);
        return rv;
    }
    struct tr_raft_group_stats gs;
    tr_raft_group_stats(c->meta, &gs);
    c->meta_start_last_index = gs.last_index;
    tr_log_info("meta group started",
                "bootstrap_servers=%zu last_index=%" PRIu64, n, gs.last_index);
    return 0;
}

/* ---- discovery: hello -----------------------------------------------------
 */

static void cl__add_peer(struct tr_cluster *c, const struct tr_catalog_node *n)
{
    pthread_mutex_lock(&c->mu);
    size_t i = 0;
    for (; i < c->n_peers; i++) {
        if (c->peers[i].id == n->id) {
            c->peers[i] = *n;
            break;
        }
    }
    if (i == c->n_peers && c->n_peers < CL_MAX_PEERS) {
        c->peers[c->n_peers++] = *n;
    }
    pthread_mutex_unlock(&c->mu);
}

struct cl_hello_ctx {
    struct tr_cluster *c;
    char http[TR_CATALOG_ADDR_MAX];
};

int cl_hello_decode(const char *body,
                    size_t len,
                    bool *formed,
                    struct tr_catalog_node *nodes,
                    size_t max)
{
    struct tr_cursor cur = tr_cursor_make(body, len);
    uint8_t f;
    uint64_t n;
    if (tr_cursor_u8(&cur, &f) != 0 || tr_cursor_uvarint(&cur, &n) != 0) {
        return -1;
    }
    *formed = f != 0;
    size_t k = 0;
    for (uint64_t i = 0; i < n && k < max; i++) {
        uint64_t l;
        struct tr_slice rec;
        if (tr_cursor_uvarint(&cur, &l) != 0 ||
            tr_cursor_bytes(&cur, l, &rec) != 0) {
            break;
        }
        if (cl_node_decode(rec.base, rec.len, &nodes[k]) == 0) {
            k++;
        }
    }
    return (int)k;
}

static void cl__on_hello(void *arg,
                         int status,
                         long http_status,
                         const char *body,
                         size_t len)
{
    struct cl_hello_ctx *h = arg;
    struct tr_cluster *c = h->c;
    c->hello_inflight--;
    struct tr_catalog_node nodes[CL_MAX_PEERS];
    bool formed = false;
    int n = status == 0 && http_status == 200
                ? cl_hello_decode(body, len, &formed, nodes, CL_MAX_PEERS)
                : -1;
    for (int i = 0; i < n; i++) {
        cl__add_peer(c, &nodes[i]);
    }
    if (n >= 0 && formed) {
        pthread_mutex_lock(&c->mu);
        c->peer_formed = true;
        snprintf(c->formed_http, sizeof(c->formed_http), "%s", h->http);
        pthread_mutex_unlock(&c->mu);
    }
    tr_free(h);
}

static void cl__send_hellos(struct tr_cluster *c)
{
    if (c->hello_inflight > 0 || c->cfg.join[0] == '\0') {
        return;
    }
    struct tr_buf body;
    tr_buf_init(&body);
    tr_catalog_cmd_add_node(&body, &c->self);
    char list[4096];
    snprintf(list, sizeof(list), "%s", c->cfg.join);
    char *save = NULL;
    for (char *a = strtok_r(list, ",", &save); a != NULL;
         a = strtok_r(NULL, ",", &save)) {
        struct cl_hello_ctx *h = tr_calloc(1, sizeof(*h));
        if (h == NULL) {
            break;
        }
        h->c = c;
        snprintf(h->http, sizeof(h->http), "%s", a);
        char url[CL_URL_MAX];
        snprintf(url, sizeof(url), "http://%s/internal/v1/hello", a);
        if (tr_rpc_post(c->rpc, url, body.data, body.len, NULL, 1000,
                        cl__on_hello, h) == 0) {
            c->hello_inflight++;
        } else {
            tr_free(h);
        }
    }
    tr_buf_free(&body);
}

static int cl__node_cmp(const void *a, const void *b)
{
    const struct tr_catalog_node *x = a, *y = b;
    return x->id < y->id ? -1 : (x->id > y->id ? 1 : 0);
}

/* Before the meta group exists: start it alone, with the expected peers, or
 * empty (to be added by the running cluster's leader). */
void cl_maybe_start_meta(struct tr_cluster *c)
{
    char dir[2100];
    snprintf(dir, sizeof(dir), "%s/meta", c->raft_dir);
    if (cl__dir_has_state(dir)) {
        cl__meta_start(c, NULL, 0);
        return;
    }
    uint32_t expect = c->cfg.bootstrap_expect;
    bool has_join = c->cfg.join[0] != '\0';
    if (!has_join && expect <= 1) {
        struct tr_raft_server s = {.id = c->self.id, .role = RAFT_VOTER};
        snprintf(s.address, sizeof(s.address), "%s", c->self.raft_addr);
        c->meta_bootstrapped_here = true;
        cl__meta_start(c, &s, 1);
        return;
    }
    cl__send_hellos(c);
    pthread_mutex_lock(&c->mu);
    bool formed = c->peer_formed;
    struct tr_catalog_node known[CL_MAX_PEERS];
    size_t n = c->n_peers;
    memcpy(known, c->peers, n * sizeof(*known));
    pthread_mutex_unlock(&c->mu);
    if (formed || (expect <= 1 && has_join)) {
        /* join a running cluster: start empty; its leader adds us */
        if (formed || n > 0) {
            cl__meta_start(c, NULL, 0);
        }
        return;
    }
    if (n < expect) {
        return;
    }
    /* the expect smallest ids form the cluster, identically on every node */
    qsort(known, n, sizeof(*known), cl__node_cmp);
    bool self_in = false;
    struct tr_raft_server servers[CL_MAX_PEERS];
    for (size_t i = 0; i < expect; i++) {
        servers[i].id = known[i].id;
        snprintf(servers[i].address, sizeof(servers[i].address), "%s",
                 known[i].raft_addr);
        servers[i].role = i < 5 ? RAFT_VOTER : RAFT_STANDBY;
        self_in = self_in || known[i].id == c->self.id;
    }
    if (!self_in) {
        cl__meta_start(c, NULL, 0);
        return;
    }
    tr_log_info("forming the cluster", "nodes=%u", expect);
    c->meta_bootstrapped_here = true;
    cl__meta_start(c, servers, expect);
}

/* ---- joining and registration (meta leader side) ----------------------------
 */

struct cl_join {
    struct tr_cluster *c;
    struct tr_catalog_node node;
    void (*cb)(void *arg, int rv);
    void *arg;
    struct tr_buf cmd;
};

static void cl__join_finish(struct cl_join *j, int rv)
{
    if (j->cb != NULL) {
        j->cb(j->arg, rv);
    }
    tr_buf_free(&j->cmd);
    tr_free(j);
}

static void cl__join_applied(void *arg, int status, void *result)
{
    (void)result;
    cl__join_finish(arg, status);
}

static void cl__join_added(void *arg, int status, void *result)
{
    (void)result;
    struct cl_join *j = arg;
    if (status != 0) {
        cl__join_finish(j, status);
        return;
    }
    int rv = tr_raft_group_apply(j->c->meta, j->cmd.data, j->cmd.len,
                                 cl__join_applied, j);
    if (rv != 0) {
        cl__join_finish(j, rv);
    }
}

static void cl__on_forward_join(void *arg,
                                int status,
                                long http_status,
                                const char *body,
                                size_t len)
{
    (void)body;
    (void)len;
    cl__join_finish(
        arg, status != 0 ? status : (http_status == 200 ? 0 : TR_EUNAVAIL));
}

void cl_join_loop(struct tr_cluster *c,
                  const struct tr_catalog_node *n,
                  void (*cb)(void *arg, int rv),
                  void *arg)
{
    struct cl_join *j = tr_calloc(1, sizeof(*j));
    if (j == NULL) {
        cb(arg, TR_ENOMEM);
        return;
    }
    j->c = c;
    j->node = *n;
    j->cb = cb;
    j->arg = arg;
    tr_buf_init(&j->cmd);
    tr_catalog_cmd_add_node(&j->cmd, n);
    if (c->meta == NULL) {
        cl__join_finish(j, TR_EUNAVAIL);
        return;
    }
    if (!tr_raft_group_is_leader(c->meta)) {
        raft_id leader = tr_raft_group_leader(c->meta, NULL);
        char http[TR_CATALOG_ADDR_MAX], url[CL_URL_MAX];
        if (leader == 0 || leader == c->self.id ||
            !cl_node_http(c, leader, http, sizeof(http))) {
            cl__join_finish(j, TR_EUNAVAIL);
            return;
        }
        snprintf(url, sizeof(url), "http://%s/internal/v1/join", http);
        if (tr_rpc_post(c->rpc, url, j->cmd.data, j->cmd.len, NULL, 3000,
                        cl__on_forward_join, j) != 0) {
            cl__join_finish(j, TR_EUNAVAIL);
        }
        return;
    }
    struct tr_raft_server servers[CL_MAX_PEERS];
    size_t ns = tr_raft_group_servers(c->meta, servers, CL_MAX_PEERS);
    /* a new incarnation of a node (same name, new id: its data directory
     * was emptied): its predecessor leaves the meta group first - it may
     * have the same address, and Raft messages to it would reach the new
     * incarnation and be taken for its answers. The joiner retries. */
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    for (size_t i = 0; i < cat->n_nodes; i++) {
        const struct tr_catalog_node *p = &cat->nodes[i];
        if (p->id == n->id || p->state != TR_NODE_ACTIVE ||
            strcmp(p->name, n->name) != 0 || p->id == c->self.id) {
            continue;
        }
        for (size_t k = 0; k < ns; k++) {
            if (servers[k].id != p->id) {
                continue;
            }
            tr_log_warn(
                "a node restarted with an empty data directory: its "
                "earlier incarnation leaves the meta group",
                "name=%s old_id=%016" PRIx64 " id=%016" PRIx64, n->name, p->id,
                n->id);
            tr_raft_group_remove(c->meta, p->id, NULL, NULL);
            cl__join_finish(j, TR_EUNAVAIL);
            return;
        }
    }
    /* in the meta configuration already? then only the catalog record */
    size_t voters = 0;
    bool member = false;
    for (size_t i = 0; i < ns; i++) {
        voters += servers[i].role == RAFT_VOTER;
        member = member || servers[i].id == n->id;
    }
    if (member) {
        cl__join_added(j, 0, NULL);
        return;
    }
    int role = voters < 5 ? RAFT_VOTER : RAFT_STANDBY;
    tr_log_info("adding node", "name=%s id=%" PRIu64 " role=%s", n->name, n->id,
                role == RAFT_VOTER ? "voter" : "standby");
    if (tr_raft_group_add(c->meta, n->id, n->raft_addr, role, cl__join_added,
                          j) != 0) {
        cl__join_finish(j, TR_EUNAVAIL);
    }
}

static void cl__on_self_join(void *arg, int rv)
{
    struct tr_cluster *c = arg;
    c->join_inflight = false;
    if (rv != 0) {
        tr_log_debug("registration not done yet", "rv=%d", rv);
    }
}

static void cl__on_join_rpc(void *arg,
                            int status,
                            long http_status,
                            const char *body,
                            size_t len)
{
    (void)body;
    (void)len;
    struct tr_cluster *c = arg;
    c->join_inflight = false;
    if (status == 0 && http_status == 200) {
        tr_log_info("joined the cluster", NULL);
    }
}

static void cl__on_replaced(void *arg, int rv)
{
    struct tr_cluster *c = arg;
    c->replace_inflight = false;
    if (rv != 0) {
        tr_log_warn("replacing this node's earlier incarnation failed; retried",
                    "rv=%d", rv);
    }
}

/* This node is active in the catalog. Another active node of the same name
 * is this node's earlier incarnation (its data directory was emptied, so
 * it got a new Raft id: cl__identity): it is removed, which re-places its
 * replicas - on this node first, which holds none of them - and takes its
 * id out of the meta group; the shards' leaders then add this node, which
 * refills by copy. Node names must be unique (a StatefulSet's are). */
static void cl__replace_predecessor(struct tr_cluster *c)
{
    if (c->replace_inflight) {
        return;
    }
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    for (size_t i = 0; i < cat->n_nodes; i++) {
        const struct tr_catalog_node *n = &cat->nodes[i];
        if (n->id == c->self.id || n->state != TR_NODE_ACTIVE ||
            strcmp(n->name, c->self.name) != 0) {
            continue;
        }
        tr_log_warn(
            "replacing this node's earlier incarnation (restarted "
            "with an empty data directory): removing its old id; "
            "its replicas move here and are copied",
            "name=%s old_id=%016" PRIx64 " id=%016" PRIx64, n->name, n->id,
            c->self.id);
        c->replace_inflight = true;
        cl_remove_node_loop(c, n->id, cl__on_replaced, c);
        return;
    }
}

/* Makes sure this node is in the catalog with its current addresses. */
void cl_register(struct tr_cluster *c)
{
    if (c->join_inflight || cl_mono_ms() - c->last_join_ms < 500) {
        return;
    }
    const struct tr_catalog_node *me =
        tr_catalog_node(&c->meta_fsm.catalog, c->self.id);
    if (me != NULL && me->state == TR_NODE_REMOVED) {
        static bool said;
        if (!said) {
            said = true;
            tr_log_error(
                "this node was removed from the cluster; it does not "
                "rejoin (start it with an empty data directory to "
                "add it again)",
                NULL);
        }
        return;
    }
    if (me != NULL && me->state == TR_NODE_ACTIVE &&
        strcmp(me->raft_addr, c->self.raft_addr) == 0 &&
        strcmp(me->http_addr, c->self.http_addr) == 0) {
        cl__replace_predecessor(c);
        return;
    }
    c->last_join_ms = cl_mono_ms();
    raft_id leader = tr_raft_group_leader(c->meta, NULL);
    if (leader != 0) {
        c->join_inflight = true;
        cl_join_loop(c, &c->self, cl__on_self_join, c);
        return;
    }
    /* no leader known: we may be a new node the cluster does not know yet;
     * ask the nodes given by --join */
    if (c->cfg.join[0] == '\0') {
        return;
    }
    struct tr_buf body;
    tr_buf_init(&body);
    tr_catalog_cmd_add_node(&body, &c->self);
    char list[4096];
    snprintf(list, sizeof(list), "%s", c->cfg.join);
    char *save = NULL;
    char *a = strtok_r(list, ",", &save);
    if (a != NULL) {
        char url[CL_URL_MAX];
        snprintf(url, sizeof(url), "http://%s/internal/v1/join", a);
        if (tr_rpc_post(c->rpc, url, body.data, body.len, NULL, 3000,
                        cl__on_join_rpc, c) == 0) {
            c->join_inflight = true;
        }
    }
    tr_buf_free(&body);
}

/* ---- removing a node (meta leader) --------------------------------------- */

bool cl_is_replica(const struct tr_catalog_shard *sh, uint64_t id)
{
    for (size_t r = 0; r < sh->n_replicas; r++) {
        if (sh->replicas[r] == id) {
            return true;
        }
    }
    return false;
}

struct cl_remove {
    struct tr_cluster *c;
    uint64_t id;
    int pending;
    int rv;
    void (*cb)(void *arg, int rv);
    void *arg;
};

static void cl__remove_finish(struct cl_remove *r)
{
    if (r->cb != NULL) {
        r->cb(r->arg, r->rv);
    }
    tr_free(r);
}

static void cl__remove_left_meta(void *arg, int status, void *result)
{
    (void)result;
    struct cl_remove *r = arg;
    if (status != 0 && r->rv == 0) {
        r->rv = status;
    }
    cl__remove_finish(r);
}

static void cl__remove_step(void *arg, int status, void *result)
{
    struct cl_remove *r = arg;
    if (status == 0 && result != NULL) {
        struct tr_meta_fsm *m = result;
        status = m->last_rv;
    }
    if (status != 0 && r->rv == 0) {
        r->rv = status;
    }
    if (--r->pending > 0) {
        return;
    }
    /* catalog updated: now take it out of the meta group if a member */
    struct tr_raft_server servers[CL_MAX_PEERS];
    size_t ns = tr_raft_group_servers(r->c->meta, servers, CL_MAX_PEERS);
    for (size_t i = 0; i < ns; i++) {
        if (servers[i].id == r->id && r->id != r->c->self.id &&
            tr_raft_group_remove(r->c->meta, r->id, cl__remove_left_meta, r) ==
                0) {
            return;
        }
    }
    cl__remove_finish(r);
}

static void cl__on_forward_remove(void *arg,
                                  int status,
                                  long http_status,
                                  const char *body,
                                  size_t len)
{
    (void)body;
    (void)len;
    struct cl_remove *r = arg;
    r->rv = status != 0 ? status
                        : (http_status == 200   ? 0
                           : http_status == 404 ? TR_ENOTFOUND
                                                : TR_EUNAVAIL);
    cl__remove_finish(r);
}

void cl_remove_node_loop(struct tr_cluster *c,
                         uint64_t id,
                         void (*cb)(void *arg, int rv),
                         void *arg)
{
    struct cl_remove *r = tr_calloc(1, sizeof(*r));
    if (r == NULL || c->meta == NULL) {
        tr_free(r);
        cb(arg, TR_EUNAVAIL);
        return;
    }
    r->c = c;
    r->id = id;
    r->cb = cb;
    r->arg = arg;
    if (!tr_raft_group_is_leader(c->meta)) {
        raft_id leader = tr_raft_group_leader(c->meta, NULL);
        char http[TR_CATALOG_ADDR_MAX], url[CL_URL_MAX];
        struct tr_buf body;
        tr_buf_init(&body);
        tr_buf_put_u64be(&body, id);
        if (leader == 0 || !cl_node_http(c, leader, http, sizeof(http))) {
            tr_buf_free(&body);
            r->rv = TR_EUNAVAIL;
            cl__remove_finish(r);
            return;
        }
        snprintf(url, sizeof(url), "http://%s/internal/v1/remove-node", http);
        if (tr_rpc_post(c->rpc, url, body.data, body.len, NULL, 10000,
                        cl__on_forward_remove, r) != 0) {
            r->rv = TR_EUNAVAIL;
            cl__remove_finish(r);
        }
        tr_buf_free(&body);
        return;
    }
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    const struct tr_catalog_node *nd = tr_catalog_node(cat, id);
    if (nd == NULL) {
        r->rv = TR_ENOTFOUND;
        cl__remove_finish(r);
        return;
    }
    tr_log_info("removing node", "name=%s id=%" PRIu64, nd->name, id);
    uint64_t active[256];
    size_t na = tr_catalog_active_nodes(cat, active, 256);
    if (na > 256) {
        na = 256;
    }
    struct tr_buf cmd;
    tr_buf_init(&cmd);
    r->pending = 1; /* held until every proposal is submitted */
    int64_t cur_window = INT64_MIN;
    size_t load[256];
    for (size_t i = 0; i < cat->n_shards; i++) {
        const struct tr_catalog_shard *sh = &cat->shards[i];
        if (sh->window != cur_window) {
            /* replicas per node in this window, to spread replacements */
            cur_window = sh->window;
            memset(load, 0, sizeof(load));
            for (size_t j = i;
                 j < cat->n_shards && cat->shards[j].window == cur_window;
                 j++) {
                for (size_t q = 0; q < cat->shards[j].n_replicas; q++) {
                    for (size_t a = 0; a < na; a++) {
                        load[a] += active[a] == cat->shards[j].replicas[q];
                    }
                }
            }
        }
        if (sh->state == TR_SHARD_DELETED || !cl_is_replica(sh, id)) {
            continue;
        }
        uint64_t ids[TR_CATALOG_MAX_REPLICAS];
        uint8_t n = 0;
        size_t best = SIZE_MAX;
        for (size_t a = 0; a < na; a++) {
            if (active[a] != id && !cl_is_replica(sh, active[a]) &&
                (best == SIZE_MAX || load[a] < load[best])) {
                best = a;
            }
        }
        for (size_t q = 0; q < sh->n_replicas; q++) {
            if (sh->replicas[q] != id) {
                ids[n++] = sh->replicas[q];
            } else if (best != SIZE_MAX) {
                ids[n++] = active[best]; /* same position */
                load[best]++;
            }
        }
        if (n == 0) {
            continue; /* its only replica: nothing to move it to */
        }
        tr_buf_reset(&cmd);
        tr_catalog_cmd_set_replicas(&cmd, sh->signal, sh->window, sh->slot, ids,
                                    n);
        if (tr_raft_group_apply(c->meta, cmd.data, cmd.len, cl__remove_step,
                                r) == 0) {
            r->pending++;
        }
    }
    tr_buf_reset(&cmd);
    tr_catalog_cmd_remove_node(&cmd, id);
    if (tr_raft_group_apply(c->meta, cmd.data, cmd.len, cl__remove_step, r) ==
        0) {
        r->pending++;
    }
    tr_buf_free(&cmd);
    cl__remove_step(r, 0, NULL); /* release the hold */
}

/* ---- generic catalog proposals ----------------------------------------- */

struct cl_propose {
    void (*cb)(void *arg, int rv);
    void *arg;
};

static void cl__propose_applied(void *arg, int status, void *result)
{
    struct cl_propose *p = arg;
    if (status == 0 && result != NULL) {
        status = ((struct tr_meta_fsm *)result)->last_rv;
    }
    p->cb(p->arg, status);
    tr_free(p);
}

static void cl__propose_forwarded(void *arg,
                                  int status,
                                  long http_status,
                                  const char *body,
                                  size_t len)
{
    (void)body;
    (void)len;
    struct cl_propose *p = arg;
    p->cb(p->arg, status != 0 ? status
                              : (http_status == 200   ? 0
                                 : http_status == 400 ? TR_EINVAL
                                                      : TR_EUNAVAIL));
    tr_free(p);
}

void cl_meta_propose_loop(struct tr_cluster *c,
                          const void *cmd,
                          size_t len,
                          void (*cb)(void *arg, int rv),
                          void *arg)
{
    struct cl_propose *p = tr_calloc(1, sizeof(*p));
    if (p == NULL || c->meta == NULL) {
        tr_free(p);
        cb(arg, TR_EUNAVAIL);
        return;
    }
    p->cb = cb;
    p->arg = arg;
    if (tr_raft_group_is_leader(c->meta)) {
        if (tr_raft_group_apply(c->meta, cmd, len, cl__propose_applied, p) !=
            0) {
            tr_free(p);
            cb(arg, TR_EUNAVAIL);
        }
        return;
    }
    raft_id leader = tr_raft_group_leader(c->meta, NULL);
    char http[TR_CATALOG_ADDR_MAX], url[CL_URL_MAX];
    if (leader == 0 || leader == c->self.id ||
        !cl_node_http(c, leader, http, sizeof(http))) {
        tr_free(p);
        cb(arg, TR_EUNAVAIL);
        return;
    }
    snprintf(url, sizeof(url), "http://%s/internal/v1/meta-command", http);
    if (tr_rpc_post(c->rpc, url, cmd, len, NULL, 5000, cl__propose_forwarded,
                    p) != 0) {
        tr_free(p);
        cb(arg, TR_EUNAVAIL);
    }
}

size_t cl_cmd_open(struct tr_buf *cmds)
{
    size_t at = cmds->len;
    tr_buf_put_u32be(cmds, 0);
    return at;
}

void cl_cmd_close(struct tr_buf *cmds, size_t at)
{
    if (!cmds->oom) {
        tr_put_u32be(cmds->data + at, (uint32_t)(cmds->len - at - 4));
    }
}

size_t cl_meta_propose_each(struct tr_cluster *c,
                            const struct tr_buf *cmds,
                            void (*cb)(void *arg, int rv),
                            void *arg)
{
    size_t n = 0;
    for (size_t off = 0; !cmds->oom && off + 4 <= cmds->len; n++) {
        uint32_t len = tr_get_u32be(cmds->data + off);
        cl_meta_propose_loop(c, cmds->data + off + 4, len, cb, arg);
        off += 4 + len;
    }
    return n;
}

/* ---- windows (meta leader) ---------------------------------------------- */

struct cl_window_req {
    struct tr_cluster *c;
    void (*cb)(void *arg, int rv);
    void *arg;
};

static void cl__window_applied(void *arg, int status, void *result)
{
    struct cl_window_req *w = arg;
    int rv = status;
    if (rv == 0 && result != NULL) {
        struct tr_meta_fsm *m = result;
        /* TR_EINVAL: it exists already (created concurrently) */
        rv = (m->last_rv == TR_EINVAL) ? 0 : m->last_rv;
    }
    w->c->window_inflight = false;
    if (w->cb != NULL) {
        w->cb(w->arg, rv);
    }
    tr_free(w);
}

static void cl__on_window_rpc(void *arg,
                              int status,
                              long http_status,
                              const char *body,
                              size_t len)
{
    (void)body;
    (void)len;
    struct cl_window_req *w = arg;
    if (w->cb != NULL) {
        w->cb(w->arg,
              status != 0 ? status : (http_status == 200 ? 0 : TR_EUNAVAIL));
    }
    tr_free(w);
}

int cl_ensure_window_loop(struct tr_cluster *c,
                          uint8_t signal,
                          int64_t window,
                          void (*cb)(void *arg, int rv),
                          void *arg)
{
    if (tr_catalog_window(&c->meta_fsm.catalog, signal, window) >= 0) {
        cb(arg, 0);
        return 0;
    }
    struct cl_window_req *w = tr_calloc(1, sizeof(*w));
    if (w == NULL || c->meta == NULL) {
        tr_free(w);
        cb(arg, TR_EUNAVAIL);
        return 0;
    }
    w->c = c;
    w->cb = cb;
    w->arg = arg;
    if (!tr_raft_group_is_leader(c->meta)) {
        raft_id leader = tr_raft_group_leader(c->meta, NULL);
        char http[TR_CATALOG_ADDR_MAX], url[CL_URL_MAX];
        if (leader == 0 || !cl_node_http(c, leader, http, sizeof(http))) {
            tr_free(w);
            cb(arg, TR_EUNAVAIL);
            return 0;
        }
        struct tr_buf body;
        tr_buf_init(&body);
        tr_buf_putc(&body, (char)signal);
        tr_buf_put_varint(&body, window);
        snprintf(url, sizeof(url), "http://%s/internal/v1/ensure-window", http);
        int rv = tr_rpc_post(c->rpc, url, body.data, body.len, NULL, 3000,
                             cl__on_window_rpc, w);
        tr_buf_free(&body);
        if (rv != 0) {
            tr_free(w);
            cb(arg, TR_EUNAVAIL);
        }
        return 0;
    }
    uint64_t ids[256];
    size_t n = tr_catalog_active_nodes(&c->meta_fsm.catalog, ids, 256);
    if (n == 0) {
        tr_free(w);
        cb(arg, TR_EUNAVAIL);
        return 0;
    }
    uint16_t k =
        (uint16_t)(c->cfg.shards_per_window ? c->cfg.shards_per_window : n);
    uint8_t rf = (uint8_t)(c->cfg.replication_factor ? c->cfg.replication_factor
                                                     : (n < 3 ? n : 3));
    if (rf > n) {
        rf = (uint8_t)n;
    }
    uint64_t *place = tr_calloc((size_t)k * rf, sizeof(uint64_t));
    if (place == NULL) {
        tr_free(w);
        cb(arg, TR_ENOMEM);
        return 0;
    }
    uint8_t used = tr_catalog_place(ids, n, window, c->window_ms, k, rf, place);
    struct tr_buf cmd;
    tr_buf_init(&cmd);
    tr_catalog_cmd_create_window(&cmd, signal, window, c->window_ms, k, place,
                                 used);
    tr_free(place);
    tr_log_info("creating window",
                "signal=%s window=%" PRId64 " shards=%u rf=%u",
                tr_signal_name(signal), window, k, used);
    int rv =
        tr_raft_group_apply(c->meta, cmd.data, cmd.len, cl__window_applied, w);
    tr_buf_free(&cmd);
    if (rv != 0) {
        tr_free(w);
        cb(arg, rv);
    }
    return 0;
}

static void cl__on_own_window(void *arg, int rv)
{
    (void)arg;
    (void)rv;
}

static void cl__on_settings(void *arg, int rv)
{
    (void)arg;
    if (rv != 0) {
        tr_log_warn("cluster settings not stored yet", "rv=%d", rv);
    }
}

/* The meta leader keeps the catalog's settings (what apply depends on)
 * equal to its own flags: they are set once the cluster forms, and change
 * when a leader with other flags takes over (a warning says so). */
static void cl__leader_settings(struct tr_cluster *c, int64_t now)
{
    const struct tr_catalog_settings *cur = &c->meta_fsm.catalog.settings;
    struct tr_catalog_settings want = {true, c->cfg.ooo_window_ms};
    if ((cur->set && cur->ooo_window_ms == want.ooo_window_ms) ||
        now - c->last_settings_ms < 1000) {
        return;
    }
    if (cur->set) {
        tr_log_warn(
            "cluster settings differ from this meta leader's flags; "
            "the leader's apply",
            "ooo_window_ms=%" PRId64 " catalog_ooo_window_ms=%" PRId64,
            want.ooo_window_ms, cur->ooo_window_ms);
    }
    c->last_settings_ms = now;
    struct tr_buf cmd;
    tr_buf_init(&cmd);
    tr_catalog_cmd_set_settings(&cmd, &want);
    cl_meta_propose_loop(c, cmd.data, cmd.len, cl__on_settings, NULL);
    tr_buf_free(&cmd);
}

/* The meta leader creates the current and the next window of every signal
 * with a store ahead of time, once the expected nodes are in the catalog. */
void cl_leader_windows(struct tr_cluster *c)
{
    if (c->window_inflight || !tr_raft_group_is_leader(c->meta)) {
        return;
    }
    uint64_t ids[256];
    size_t n = tr_catalog_active_nodes(&c->meta_fsm.catalog, ids, 256);
    uint32_t expect = c->cfg.bootstrap_expect ? c->cfg.bootstrap_expect : 1;
    /* wait for the expected nodes before the first window only: after a
     * node removal there may be fewer for good */
    if (n < expect && c->meta_fsm.catalog.n_shards == 0) {
        return;
    }
    cl__leader_settings(c, cl_mono_ms());
    int64_t cur = cl_window_start(c, cl_now_ms());
    for (uint8_t s = TR_SIGNAL_MIN; s <= TR_SIGNAL_MAX; s++) {
        if (cl_signal_ops(s) == NULL) {
            continue;
        }
        for (int i = 0; i < 2; i++) {
            int64_t w = cur + i * c->window_ms;
            if (tr_catalog_window(&c->meta_fsm.catalog, s, w) < 0) {
                c->window_inflight = true;
                cl_ensure_window_loop(c, s, w, cl__on_own_window, NULL);
                return;
            }
        }
    }
}

/* ---- worker-thread helpers -------------------------------------------------
 */

struct cl_propose_wait {
    struct tr_cluster *c;
    const void *cmd;
    size_t len;
    int rv;
    struct cl_call call;
};

static void propose_wait__done(void *arg, int rv)
{
    struct cl_propose_wait *p = arg;
    p->rv = rv;
    cl_call_done(&p->call);
}

static void propose_wait__start(void *arg)
{
    struct cl_propose_wait *p = arg;
    cl_meta_propose_loop(p->c, p->cmd, p->len, propose_wait__done, p);
}

int cl_meta_propose(struct tr_cluster *c, const void *cmd, size_t len)
{
    struct cl_propose_wait p;
    memset(&p, 0, sizeof(p));
    p.c = c;
    p.cmd = cmd;
    p.len = len;
    cl_call_init(&p.call, 1);
    if (tr_rpc_run_on_loop(c->rpc, propose_wait__start, &p) == 0) {
        cl_call_wait(&p.call);
    } else {
        p.rv = TR_ENOMEM;
    }
    cl_call_destroy(&p.call);
    return p.rv;
}

struct cl_win_wait {
    struct tr_cluster *c;
    uint8_t signal;
    int64_t window;
    int rv;
    struct cl_call *call;
};

static void win__done(void *arg, int rv)
{
    struct cl_win_wait *w = arg;
    w->rv = rv;
    cl_call_done(w->call);
}

static void win__start(void *arg)
{
    struct cl_win_wait *w = arg;
    cl_ensure_window_loop(w->c, w->signal, w->window, win__done, w);
}

int cl_window_k(struct tr_cluster *c,
                uint8_t signal,
                int64_t w,
                int64_t deadline,
                uint16_t *k,
                char *errmsg)
{
    if (cl_retention_expired(c, signal, w)) {
        return tr_errf(TR_ETOOOLD, errmsg,
                       "too old: the %s window starting at %" PRId64
                       " is past its retention",
                       tr_signal_name(signal), w);
    }
    for (;;) {
        pthread_mutex_lock(&c->meta_fsm.mu);
        long idx = tr_catalog_window(&c->meta_fsm.catalog, signal, w);
        if (idx >= 0) {
            *k = c->meta_fsm.catalog.shards[idx].k;
        }
        pthread_mutex_unlock(&c->meta_fsm.mu);
        if (idx >= 0) {
            return 0;
        }
        if (cl_mono_ms() >= deadline) {
            return tr_errf(TR_EUNAVAIL, errmsg,
                           "the %s shards of window %" PRId64
                           " could not be created in time (no meta leader?)",
                           tr_signal_name(signal), w);
        }
        struct cl_call call;
        cl_call_init(&call, 1);
        struct cl_win_wait ww = {c, signal, w, 0, &call};
        if (tr_rpc_run_on_loop(c->rpc, win__start, &ww) == 0) {
            cl_call_wait(&call);
        }
        cl_call_destroy(&call);
        cl_sleep_ms(ww.rv != 0 ? 50 : 5); /* the commit reaches us soon */
    }
}
