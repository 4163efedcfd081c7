/* status.c - GET /api/v1/status/cluster (what `triad status` prints): the
 * catalog (nodes, shards, replicas) plus every active node's view of its
 * local groups from POST /internal/v1/status/local.
 *
 *   status/local response: uvarint n, per local group: u8 signal, varint
 *   window, uvarint slot, u8 Raft state, u64 BE leader id, uvarint term,
 *   uvarint commit index, uvarint applied index (in storage), u8 flags
 *   (1 catching-up, 2 failed, bits 2-3: enum cl_sealed_state of a sealed
 *   shard replicated here without a group - its entry then has Raft state
 *   0 and zero numbers), uvarint queued entries; then u8 1 and the
 *   heartbeat health (uvarint n, n x (u64 BE id, u8 ok)) on the meta
 *   leader, else u8 0; then u8 1 and the node's compaction jobs: uvarint
 *   done, uvarint failed (since it started), uvarint n (at most
 *   CL_STATUS_JOBS), per job: u8 kind, shard (signal, varint window,
 *   uvarint slot), u8 state, uvarint step, uvarint steps, uvarint
 *   attempts, varint queued ms, varint started ms (0: not yet).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/cluster_int.h"
#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/json.h"
#include "storage/jobs.h"

void cl_status_local(struct tr_cluster *c,
                     const struct tr_cluster_request *req,
                     struct tr_cluster_response *resp)
{
    (void)req;
    struct tr_buf *b = resp->body;
    tr_buf_reset(b);
    pthread_mutex_lock(&c->mu);
    size_t ns = 0;
    for (size_t i = 0; i < c->n_sealed_views; i++) {
        ns += !c->sealed_views[i].group;
    }
    tr_buf_put_uvarint(b, c->n_stats + ns);
    for (size_t i = 0; i < c->n_sealed_views; i++) {
        const struct cl_sealed_view *v = &c->sealed_views[i];
        if (v->group) {
            continue; /* listed with the groups */
        }
        cl_put_shard(b, &v->id);
        tr_buf_putc(b, 0);
        tr_buf_put_u64be(b, 0);
        tr_buf_put_uvarint(b, 0);
        tr_buf_put_uvarint(b, 0);
        tr_buf_put_uvarint(b, 0);
        tr_buf_putc(b, (char)((v->state & 3) << 2));
        tr_buf_put_uvarint(b, 0);
    }
    for (size_t i = 0; i < c->n_stats; i++) {
        const struct cl_stat *s = &c->stats[i];
        cl_put_shard(b, &s->id);
        tr_buf_putc(b, (char)s->state);
        tr_buf_put_u64be(b, s->leader);
        tr_buf_put_uvarint(b, s->term);
        tr_buf_put_uvarint(b, s->commit);
        tr_buf_put_uvarint(b, s->applied);
        tr_buf_putc(b, (char)((s->catching_up ? 1 : 0) | (s->failed ? 2 : 0)));
        tr_buf_put_uvarint(b, s->queued);
    }
    /* the meta leader adds every member's heartbeat health */
    tr_buf_putc(b, c->meta_leader ? 1 : 0);
    if (c->meta_leader) {
        tr_buf_put_uvarint(b, c->n_health);
        for (size_t i = 0; i < c->n_health; i++) {
            tr_buf_put_u64be(b, c->health[i].id);
            tr_buf_putc(b, c->health[i].ok ? 1 : 0);
        }
    }
    pthread_mutex_unlock(&c->mu);
    /* then the compaction jobs (section 1; absent from older nodes) */
    tr_buf_putc(b, 1);
    struct tr_job_info jobs[CL_STATUS_JOBS];
    size_t nj = c->cfg.jobs != NULL
                    ? tr_jobs_list(c->cfg.jobs, jobs, CL_STATUS_JOBS)
                    : 0;
    nj = nj < CL_STATUS_JOBS ? nj : CL_STATUS_JOBS;
    struct tr_jobs_stats js;
    memset(&js, 0, sizeof(js));
    if (c->cfg.jobs != NULL) {
        tr_jobs_get_stats(c->cfg.jobs, &js);
    }
    tr_buf_put_uvarint(b, js.done);
    tr_buf_put_uvarint(b, js.failed);
    tr_buf_put_uvarint(b, nj);
    for (size_t i = 0; i < nj; i++) {
        tr_buf_putc(b, (char)jobs[i].spec.kind);
        cl_put_shard(b, &jobs[i].spec.id);
        tr_buf_putc(b, (char)jobs[i].state);
        tr_buf_put_uvarint(b, jobs[i].step);
        tr_buf_put_uvarint(b, jobs[i].steps);
        tr_buf_put_uvarint(b, jobs[i].attempts);
        tr_buf_put_varint(b, jobs[i].queued_ms);
        tr_buf_put_varint(b, jobs[i].started_ms);
    }
    resp->status = 200;
    resp->content_type = "application/octet-stream";
}

/* cl_status_decode, leaving c after the health section (at the end when
 * the answer is malformed before it). */
static size_t status__decode(uint64_t node,
                             struct tr_cursor *cp,
                             struct cl_shard_view *out,
                             size_t max,
                             struct cl_node_health *health)
{
    struct tr_cursor c = *cp;
    cp->p = cp->end; /* nothing left unless the health section is whole */
    uint64_t n;
    size_t k = 0;
    if (tr_cursor_uvarint(&c, &n) != 0) {
        return 0;
    }
    /* views beyond max are read and dropped: the health list follows them */
    for (uint64_t i = 0; i < n; i++) {
        struct cl_shard_view extra = {0};
        struct cl_shard_view *v = k < max ? &out[k] : &extra;
        uint8_t state, flags;
        if (cl_get_shard(&c, &v->id) != 0 || tr_cursor_u8(&c, &state) != 0 ||
            tr_cursor_u64be(&c, &v->leader) != 0 ||
            tr_cursor_uvarint(&c, &v->term) != 0 ||
            tr_cursor_uvarint(&c, &v->commit) != 0 ||
            tr_cursor_uvarint(&c, &v->applied) != 0 ||
            tr_cursor_u8(&c, &flags) != 0 ||
            tr_cursor_uvarint(&c, &v->queued) != 0) {
            return k; /* a malformed tail: no health list to find */
        }
        v->node = node;
        v->state = state;
        v->catching_up = flags & 1;
        v->failed = flags & 2;
        v->sealed = (flags >> 2) & 3;
        if (v != &extra) {
            k++;
        }
    }
    /* heartbeat health, from the meta leader only */
    uint8_t leader;
    uint64_t nh;
    if (tr_cursor_u8(&c, &leader) != 0) {
        return k;
    }
    if (leader == 1 && tr_cursor_uvarint(&c, &nh) == 0) {
        for (uint64_t i = 0; i < nh; i++) {
            uint64_t id;
            uint8_t ok;
            if (tr_cursor_u64be(&c, &id) != 0 || tr_cursor_u8(&c, &ok) != 0) {
                return k;
            }
            if (health != NULL && health->n < CL_MAX_PEERS) {
                health->id[health->n] = id;
                health->ok[health->n] = ok != 0;
                health->n++;
            }
        }
    } else if (leader != 0) {
        return k;
    }
    *cp = c;
    return k;
}

size_t cl_status_decode(uint64_t node,
                        const char *buf,
                        size_t len,
                        struct cl_shard_view *out,
                        size_t max,
                        struct cl_node_health *health)
{
    struct tr_cursor c = tr_cursor_make(buf, len);
    return status__decode(node, &c, out, max, health);
}

size_t cl_status_jobs_decode(uint64_t node,
                             const char *buf,
                             size_t len,
                             struct cl_job_view *out,
                             size_t max,
                             uint64_t *done,
                             uint64_t *failed)
{
    struct tr_cursor c = tr_cursor_make(buf, len);
    status__decode(node, &c, NULL, 0, NULL);
    uint8_t section;
    uint64_t n;
    *done = *failed = 0;
    if (tr_cursor_u8(&c, &section) != 0 || section != 1 ||
        tr_cursor_uvarint(&c, done) != 0 ||
        tr_cursor_uvarint(&c, failed) != 0 || tr_cursor_uvarint(&c, &n) != 0) {
        return 0;
    }
    size_t k = 0;
    for (uint64_t i = 0; i < n && k < max; i++) {
        struct cl_job_view *v = &out[k];
        uint8_t kind, state;
        uint64_t step, steps, attempts;
        if (tr_cursor_u8(&c, &kind) != 0 || cl_get_shard(&c, &v->id) != 0 ||
            tr_cursor_u8(&c, &state) != 0 ||
            tr_cursor_uvarint(&c, &step) != 0 ||
            tr_cursor_uvarint(&c, &steps) != 0 ||
            tr_cursor_uvarint(&c, &attempts) != 0 ||
            tr_cursor_varint(&c, &v->queued_ms) != 0 ||
            tr_cursor_varint(&c, &v->started_ms) != 0) {
            break;
        }
        v->node = node;
        v->kind = kind;
        v->state = state;
        v->step = (unsigned)(step < 1000 ? step : 1000);
        v->steps = (unsigned)(steps < 1000 ? steps : 1000);
        v->attempts = attempts;
        k++;
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

/* A copy of the catalog (any thread). */
int cl_catalog_copy(struct tr_cluster *c, struct tr_catalog *out)
{
    struct tr_buf enc;
    tr_buf_init(&enc);
    pthread_mutex_lock(&c->meta_fsm.mu);
    int rv = tr_catalog_encode(&c->meta_fsm.catalog, &enc);
    pthread_mutex_unlock(&c->meta_fsm.mu);
    tr_catalog_init(out);
    if (rv == 0) {
        rv = tr_catalog_decode(out, enc.data, enc.len);
    }
    tr_buf_free(&enc);
    return rv;
}

static void status__json(struct tr_json *j,
                         struct tr_cluster *c,
                         const struct tr_catalog *cat,
                         const struct cl_shard_view *views,
                         size_t nv,
                         const bool *reachable,
                         const struct cl_node_health *health,
                         const struct cl_job_view *jobs,
                         size_t nj,
                         const uint64_t (*totals)[2])
{
    pthread_mutex_lock(&c->mu);
    struct tr_raft_group_stats ms = c->meta_stats;
    pthread_mutex_unlock(&c->mu);
    tr_json_obj_begin(j);
    tr_json_key(j, "status");
    tr_json_str(j, "success");
    tr_json_key(j, "data");
    tr_json_obj_begin(j);
    tr_json_key(j, "node");
    tr_json_str(j, c->self.name);
    tr_json_key(j, "metaLeader");
    tr_json_str(j, status__node_name(cat, ms.leader));
    tr_json_key(j, "metaTerm");
    tr_json_uint(j, ms.term);
    tr_json_key(j, "metaCommitIndex");
    tr_json_uint(j, ms.commit_index);
    tr_json_key(j, "nodes");
    tr_json_arr_begin(j);
    for (size_t i = 0; i < cat->n_nodes; i++) {
        const struct tr_catalog_node *nd = &cat->nodes[i];
        tr_json_obj_begin(j);
        tr_json_key(j, "name");
        tr_json_str(j, nd->name);
        tr_json_key(j, "id");
        char id[32];
        snprintf(id, sizeof(id), "%016" PRIx64, nd->id);
        tr_json_str(j, id);
        tr_json_key(j, "raftAddr");
        tr_json_str(j, nd->raft_addr);
        tr_json_key(j, "httpAddr");
        tr_json_str(j, nd->http_addr);
        /* heartbeat: what the meta leader heard (null: not a meta member,
         * or no leader) */
        int hb = -1;
        for (size_t h = 0; h < health->n; h++) {
            if (health->id[h] == nd->id) {
                hb = health->ok[h];
            }
        }
        tr_json_key(j, "state");
        tr_json_str(j, nd->state != TR_NODE_ACTIVE ? "removed"
                       : hb == 0                   ? "down"
                       : reachable[i]              ? "up"
                                                   : "unreachable");
        tr_json_key(j, "heartbeat");
        if (hb < 0) {
            tr_json_null(j);
        } else {
            tr_json_bool(j, hb == 1);
        }
        tr_json_key(j, "jobsDone");
        tr_json_uint(j, totals[i][0]);
        tr_json_key(j, "jobsFailed");
        tr_json_uint(j, totals[i][1]);
        tr_json_obj_end(j);
    }
    tr_json_arr_end(j);
    tr_json_key(j, "shards");
    tr_json_arr_begin(j);
    static const char *const states[] = {"", "active", "sealing", "sealed",
                                         "deleted"};
    for (size_t i = 0; i < cat->n_shards; i++) {
        const struct tr_catalog_shard *sh = &cat->shards[i];
        struct tr_shard_id id = {sh->signal, sh->window, sh->slot};
        tr_json_obj_begin(j);
        tr_json_key(j, "signal");
        tr_json_str(j, tr_signal_name(sh->signal));
        tr_json_key(j, "window");
        tr_json_int(j, sh->window);
        char tb[40];
        status__time(sh->window, tb, sizeof(tb));
        tr_json_key(j, "windowStart");
        tr_json_str(j, tb);
        tr_json_key(j, "slot");
        tr_json_uint(j, sh->slot);
        tr_json_key(j, "group");
        char gname[48];
        tr_json_str(j, tr_shard_group_name(&id, gname, sizeof(gname)));
        tr_json_key(j, "state");
        tr_json_str(j, sh->state >= 1 && sh->state <= 4 ? states[sh->state]
                                                        : "unknown");
        if (sh->state == TR_SHARD_SEALED) {
            /* what every replica agreed on when it was sealed */
            char hex[24];
            snprintf(hex, sizeof(hex), "%016" PRIx64, sh->sealed_checksum);
            tr_json_key(j, "sealedIndex");
            tr_json_uint(j, sh->sealed_index);
            tr_json_key(j, "sealedChecksum");
            tr_json_str(j, hex);
        }
        /* the leader's view gives commit; lag is per replica */
        const struct cl_shard_view *lead = NULL;
        for (size_t v = 0; v < nv; v++) {
            if (tr_shard_eq(&views[v].id, &id) &&
                views[v].state == RAFT_LEADER) {
                lead = &views[v];
            }
        }
        tr_json_key(j, "leader");
        tr_json_str(j, lead ? status__node_name(cat, lead->node) : "");
        tr_json_key(j, "term");
        tr_json_uint(j, lead ? lead->term : 0);
        tr_json_key(j, "commitIndex");
        tr_json_uint(j, lead ? lead->commit : 0);
        tr_json_key(j, "replicas");
        tr_json_arr_begin(j);
        for (size_t r = 0; r < sh->n_replicas; r++) {
            const struct cl_shard_view *rv = NULL;
            for (size_t v = 0; v < nv; v++) {
                if (tr_shard_eq(&views[v].id, &id) &&
                    views[v].node == sh->replicas[r]) {
                    rv = &views[v];
                }
            }
            tr_json_obj_begin(j);
            tr_json_key(j, "node");
            tr_json_str(j, status__node_name(cat, sh->replicas[r]));
            tr_json_key(j, "appliedIndex");
            tr_json_uint(j, rv ? rv->applied : 0);
            tr_json_key(j, "lag");
            uint64_t commit = lead ? lead->commit : 0;
            tr_json_uint(j,
                         rv && commit > rv->applied ? commit - rv->applied : 0);
            tr_json_key(j, "queued");
            tr_json_uint(j, rv ? rv->queued : 0);
            tr_json_key(j, "state");
            /* a sealed shard's replicas have no group: "sealed" (serves),
             * "sealing" (its seal job runs), "copying" (no sealed data
             * here yet: copied from another replica) */
            tr_json_str(j, rv == NULL                        ? "unknown"
                           : rv->sealed == CL_SEALED_HERE    ? "sealed"
                           : rv->sealed == CL_SEALED_PENDING ? "sealing"
                           : rv->sealed == CL_SEALED_MISSING ? "copying"
                           : rv->failed                      ? "failed"
                           : rv->catching_up                 ? "catching-up"
                           : rv->state == RAFT_LEADER        ? "leader"
                                                             : "follower");
            tr_json_obj_end(j);
        }
        tr_json_arr_end(j);
        tr_json_obj_end(j);
    }
    tr_json_arr_end(j);
    /* compaction jobs queued or running on every node */
    tr_json_key(j, "jobs");
    tr_json_arr_begin(j);
    for (size_t i = 0; i < nj; i++) {
        const struct cl_job_view *v = &jobs[i];
        tr_json_obj_begin(j);
        tr_json_key(j, "node");
        tr_json_str(j, status__node_name(cat, v->node));
        tr_json_key(j, "kind");
        tr_json_str(j, v->kind == TR_JOB_DROP     ? "drop"
                       : v->kind == TR_JOB_SEAL   ? "seal"
                       : v->kind == TR_JOB_RETIRE ? "retire"
                                                  : "unknown");
        tr_json_key(j, "signal");
        tr_json_str(j, tr_signal_name(v->id.signal));
        tr_json_key(j, "window");
        tr_json_int(j, v->id.window);
        char ws[40];
        status__time(v->id.window, ws, sizeof(ws));
        tr_json_key(j, "windowStart");
        tr_json_str(j, ws);
        tr_json_key(j, "slot");
        tr_json_uint(j, v->id.slot);
        char gname[48];
        tr_json_key(j, "group");
        tr_json_str(j, tr_shard_group_name(&v->id, gname, sizeof(gname)));
        tr_json_key(j, "state");
        tr_json_str(j, v->state == TR_JOB_RUNNING ? "running" : "queued");
        tr_json_key(j, "step");
        tr_json_uint(j, v->step);
        tr_json_key(j, "steps");
        tr_json_uint(j, v->steps);
        tr_json_key(j, "attempts");
        tr_json_uint(j, v->attempts);
        char tb[40];
        status__time(v->queued_ms, tb, sizeof(tb));
        tr_json_key(j, "queued");
        tr_json_str(j, tb);
        tr_json_obj_end(j);
    }
    tr_json_arr_end(j);
    tr_json_obj_end(j);
    tr_json_obj_end(j);
}

void cl_status_cluster(struct tr_cluster *c,
                       const struct tr_cluster_request *req,
                       struct tr_cluster_response *resp)
{
    (void)req;
    struct tr_catalog cat;
    if (cl_catalog_copy(c, &cat) != 0) {
        cl_resp_text(resp, 503, "out of memory");
        return;
    }
    size_t cap = 4096, nv = 0;
    struct cl_shard_view *views = tr_calloc(cap, sizeof(*views));
    bool *reachable = tr_calloc(cat.n_nodes ? cat.n_nodes : 1, sizeof(bool));
    uint64_t(*totals)[2] =
        tr_calloc(cat.n_nodes ? cat.n_nodes : 1, sizeof(*totals));
    size_t jcap = 1024, nj = 0;
    struct cl_job_view *jobs = tr_calloc(jcap, sizeof(*jobs));
    struct cl_node_health health;
    memset(&health, 0, sizeof(health));
    struct tr_buf body;
    tr_buf_init(&body);
    bool room =
        views != NULL && reachable != NULL && totals != NULL && jobs != NULL;
    for (size_t i = 0; room && i < cat.n_nodes; i++) {
        const struct tr_catalog_node *nd = &cat.nodes[i];
        if (nd->state != TR_NODE_ACTIVE) {
            continue;
        }
        tr_buf_reset(&body);
        long status = 0;
        char url[CL_URL_MAX];
        snprintf(url, sizeof(url), "http://%s/internal/v1/status/local",
                 nd->http_addr);
        if (tr_rpc_call(c->rpc, url, "", 0, NULL, 1500, &status, &body) == 0 &&
            status == 200) {
            reachable[i] = true;
            nv += cl_status_decode(nd->id, body.data, body.len, views + nv,
                                   cap - nv, &health);
            nj +=
                cl_status_jobs_decode(nd->id, body.data, body.len, jobs + nj,
                                      jcap - nj, &totals[i][0], &totals[i][1]);
        }
    }
    tr_buf_free(&body);
    if (!room) {
        cl_resp_text(resp, 503, "out of memory");
    } else {
        struct tr_json j;
        tr_buf_reset(resp->body);
        tr_json_init(&j, resp->body);
        status__json(&j, c, &cat, views, nv, reachable, &health, jobs, nj,
                     (const uint64_t(*)[2])totals);
        resp->status = 200;
        resp->content_type = "application/json";
    }
    tr_free(views);
    tr_free(reachable);
    tr_free(totals);
    tr_free(jobs);
    tr_catalog_free(&cat);
}
