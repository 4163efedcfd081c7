/* write.c - committing entries on their shards: admission by the leader,
 * proposal to the local Raft group or forwarding to the leader's node,
 * waiting until the entry is applied in the leader's storage, retries,
 * back-pressure; and the internal RPC encodings they use.
 *
 *   shard apply request body:  u8 signal, varint window, uvarint slot,
 *                  entry bytes
 *   apply result:  varint rv, uvarint index, uvarint appended, duplicate,
 *                  rejected, created, metadata, varint first error,
 *                  uvarint + bytes message
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "storage/entry.h"
#include "storage/log_entry.h"
#include "storage/trace_entry.h"
#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/log.h"

/* ---- apply results ---------------------------------------------------------
 */

void cl_apply_result_encode(const struct tr_apply_result *r,
                            int rv,
                            const char *err,
                            struct tr_buf *out)
{
    tr_buf_put_varint(out, rv);
    tr_buf_put_uvarint(out, r->index);
    tr_buf_put_uvarint(out, r->appended);
    tr_buf_put_uvarint(out, r->duplicate);
    tr_buf_put_uvarint(out, r->rejected);
    tr_buf_put_uvarint(out, r->created);
    tr_buf_put_uvarint(out, r->metadata);
    tr_buf_put_varint(out, r->first_error);
    const char *m = rv != 0 ? err : r->errmsg;
    size_t ml = strnlen(m, TR_ERRMSG_SIZE - 1);
    tr_buf_put_uvarint(out, ml);
    tr_buf_append(out, m, ml);
}

int cl_apply_result_decode(const void *buf,
                           size_t len,
                           struct tr_apply_result *r,
                           int *rv,
                           char *err)
{
    struct tr_cursor c = tr_cursor_make(buf, len);
    int64_t v, fe;
    uint64_t ml;
    struct tr_slice m;
    memset(r, 0, sizeof(*r));
    if (tr_cursor_varint(&c, &v) != 0 ||
        tr_cursor_uvarint(&c, &r->index) != 0 ||
        tr_cursor_uvarint(&c, &r->appended) != 0 ||
        tr_cursor_uvarint(&c, &r->duplicate) != 0 ||
        tr_cursor_uvarint(&c, &r->rejected) != 0 ||
        tr_cursor_uvarint(&c, &r->created) != 0 ||
        tr_cursor_uvarint(&c, &r->metadata) != 0 ||
        tr_cursor_varint(&c, &fe) != 0 || tr_cursor_uvarint(&c, &ml) != 0 ||
        ml >= TR_ERRMSG_SIZE || tr_cursor_bytes(&c, ml, &m) != 0 ||
        v < INT32_MIN || v > 0 || fe < INT32_MIN || fe > 0) {
        return TR_EPROTO;
    }
    *rv = (int)v;
    r->first_error = (int)fe;
    if (*rv != 0) {
        memcpy(err, m.base, m.len);
        err[m.len] = '\0';
    } else {
        memcpy(r->errmsg, m.base, m.len);
        r->errmsg[m.len] = '\0';
    }
    return 0;
}

/* ---- one shard write, driven on the loop ----------------------------------
 */

struct cl_op {
    struct tr_cluster *c;
    struct tr_shard_id id;
    struct tr_buf body;  /* shard id, entry */
    struct tr_buf plain; /* the entry uncompressed, or empty */
    size_t entry_off;    /* where the entry starts in body */
    bool admitted;       /* this node cut the entry at the shard's limits */
    bool no_forward;     /* apply here or fail (already forwarded) */
    bool mark_forwarded; /* the next node must not forward again */
    int attempt;
    int rv;
    char err[TR_ERRMSG_SIZE];
    struct tr_apply_result pre; /* what admission refused */
    struct tr_apply_result res;
    struct cl_call *call;
    int64_t t0_ns;
};

static const char *op__signal(const struct cl_op *op)
{
    return tr_signal_name(op->id.signal);
}

static void op__finish(struct cl_op *op, int rv)
{
    op->rv = rv;
    cl_call_done(op->call);
}

/* Storage thread (or loop): the entry is applied in this node's storage. */
static void op__stored(void *arg, int rv, const struct tr_apply_result *res)
{
    struct cl_op *op = arg;
    struct tr_cluster *c = op->c;
    op->res = *res;
    if (rv == TR_ECANCELED) {
        /* the group closed before storage applied it: committed or not,
         * proposing it again is safe (exact duplicates are no-ops) */
        rv = TR_EUNAVAIL;
        snprintf(op->err, sizeof(op->err),
                 "shard %s/%" PRId64 "/%u: replica closing", op__signal(op),
                 op->id.window, op->id.slot);
    } else if (rv != 0) {
        snprintf(op->err, sizeof(op->err), "shard %s/%" PRId64 "/%u: %s",
                 op__signal(op), op->id.window, op->id.slot, tr_strerror(rv));
    } else {
        double secs = (double)(tr_mono_ns() - op->t0_ns) / 1e9;
        tr_selfmetrics_observe(c->m_commit_seconds, secs, op__signal(op));
        tr_selfmetrics_inc(c->m_forwarded, 1, op__signal(op), "local");
    }
    op__finish(op, rv);
}

/* Loop: raft committed the entry and handed it to the storage thread. */
static void op__committed(void *arg, int status, void *result)
{
    struct cl_op *op = arg;
    if (status == 0 && result != NULL) {
        tr_shard_fsm_when_applied(result, op__stored, op);
        return;
    }
    snprintf(op->err, sizeof(op->err), "shard %s/%" PRId64 "/%u: %s",
             op__signal(op), op->id.window, op->id.slot,
             status == TR_EUNAVAIL ? "leadership lost" : tr_strerror(status));
    op__finish(op, status != 0 ? status : TR_EIO);
}

static void op__rpc_done(void *arg,
                         int status,
                         long http_status,
                         const char *body,
                         size_t len)
{
    struct cl_op *op = arg;
    int rv = status;
    if (rv == 0 && http_status == 200) {
        if (cl_apply_result_decode(body, len, &op->res, &rv, op->err) != 0) {
            rv = TR_EUNAVAIL;
            snprintf(op->err, sizeof(op->err), "bad apply response");
        }
        tr_selfmetrics_inc(op->c->m_forwarded, 1, op__signal(op), "forwarded");
    } else if (rv == 0) {
        rv = TR_EUNAVAIL;
        snprintf(op->err, sizeof(op->err),
                 "shard %s/%" PRId64 "/%u: HTTP %ld: %.*s", op__signal(op),
                 op->id.window, op->id.slot, http_status,
                 (int)(len > 200 ? 200 : len), body);
    } else {
        snprintf(op->err, sizeof(op->err), "shard %s/%" PRId64 "/%u: %s",
                 op__signal(op), op->id.window, op->id.slot, tr_strerror(rv));
    }
    op__finish(op, rv);
}

/* Loop: propose locally when leader (and the entry was admitted here),
 * else send it to the leader (or a replica, which forwards once). */
static void op__start(void *arg)
{
    struct cl_op *op = arg;
    struct tr_cluster *c = op->c;
    op->t0_ns = tr_mono_ns();
    memset(&op->res, 0, sizeof(op->res));
    if (c->stopping) {
        snprintf(op->err, sizeof(op->err), "node shutting down");
        op__finish(op, TR_EUNAVAIL);
        return;
    }
    struct cl_group *g = cl_group_find(c, &op->id);
    struct tr_shard_fsm_state st = {0};
    if (g != NULL) {
        tr_shard_fsm_state(g->fsm, &st);
    }
    if (g != NULL && tr_raft_group_is_leader(g->g) && !st.catching_up &&
        !st.failed) {
        if (!op->admitted) {
            /* leadership came here after the worker looked: admit first */
            snprintf(op->err, sizeof(op->err), "leadership moved here");
            op__finish(op, TR_EUNAVAIL);
            return;
        }
        if (st.queued_bytes > c->cfg.apply_queue_bytes) {
            tr_selfmetrics_inc(c->m_forwarded, 1, op__signal(op), "overloaded");
            snprintf(op->err, sizeof(op->err),
                     "shard %s/%" PRId64 "/%u is overloaded (%" PRIu64
                     " bytes wait for storage); retry later",
                     op__signal(op), op->id.window, op->id.slot,
                     st.queued_bytes);
            op__finish(op, TR_EBUSY);
            return;
        }
        int rv = tr_raft_group_apply(g->g, op->body.data + op->entry_off,
                                     op->body.len - op->entry_off,
                                     op__committed, op);
        if (rv == 0 && op->plain.len > 0) {
            /* raft appended it: the newest index is this entry's */
            tr_shard_fsm_hint(g->fsm, raft_last_index(tr_raft_group_raft(g->g)),
                              op->body.data + op->entry_off,
                              op->body.len - op->entry_off, &op->plain);
        }
        if (rv != 0) {
            snprintf(op->err, sizeof(op->err), "shard %s/%" PRId64 "/%u: %s",
                     op__signal(op), op->id.window, op->id.slot,
                     tr_strerror(rv));
            op__finish(op, rv);
        }
        return;
    }
    uint64_t target = 0;
    if (g != NULL) {
        target = tr_raft_group_leader(g->g, NULL);
        if (target == c->self.id) {
            target = 0;
        }
    }
    if (op->no_forward || (target == 0 && op->mark_forwarded && g != NULL)) {
        snprintf(op->err, sizeof(op->err),
                 "this node does not lead shard %s/%" PRId64 "/%u",
                 op__signal(op), op->id.window, op->id.slot);
        op__finish(op, TR_EUNAVAIL);
        return;
    }
    if (target == 0) {
        const struct tr_catalog_shard *sh = tr_catalog_shard(
            &c->meta_fsm.catalog, op->id.signal, op->id.window, op->id.slot);
        if (sh == NULL || sh->n_replicas == 0) {
            snprintf(op->err, sizeof(op->err),
                     "unknown shard %s/%" PRId64 "/%u", op__signal(op),
                     op->id.window, op->id.slot);
            op__finish(op, TR_EUNAVAIL);
            return;
        }
        /* preferred leader first, then the others in turn */
        for (size_t i = 0; i < sh->n_replicas; i++) {
            uint64_t id = sh->replicas[(op->attempt + i) % sh->n_replicas];
            if (id != c->self.id) {
                target = id;
                break;
            }
        }
    }
    char url[CL_URL_MAX];
    if (target == 0 ||
        !cl_node_url(c, target, "/internal/v1/shard/apply", url, sizeof(url))) {
        snprintf(op->err, sizeof(op->err),
                 "no reachable replica for shard %s/%" PRId64 "/%u",
                 op__signal(op), op->id.window, op->id.slot);
        op__finish(op, TR_EUNAVAIL);
        return;
    }
    static const char *const fwd[] = {"X-Triad-Forwarded: 1", NULL};
    uint64_t timeout = (uint64_t)c->cfg.write_timeout_ms;
    if (tr_rpc_post(c->rpc, url, op->body.data, op->body.len,
                    op->mark_forwarded ? fwd : NULL, timeout, op__rpc_done,
                    op) != 0) {
        snprintf(op->err, sizeof(op->err), "cannot send to %s", url);
        op__finish(op, TR_EUNAVAIL);
    }
}

static void op__init(struct cl_op *op,
                     struct tr_cluster *c,
                     const struct tr_shard_id *id)
{
    memset(op, 0, sizeof(*op));
    op->c = c;
    op->id = *id;
    tr_buf_init(&op->body);
    tr_buf_init(&op->plain);
    cl_put_shard(&op->body, id);
    op->entry_off = op->body.len;
}

/* Worker: when this node leads the shard, cuts the entry at the shard's
 * limits (the signal's admit op) before it goes to the loop. */
static int op__admit(struct cl_op *op)
{
    struct tr_cluster *c = op->c;
    struct cl_stat st;
    if (op->admitted || !cl_stat_get(c, &op->id, &st) ||
        st.state != RAFT_LEADER || st.catching_up || st.failed) {
        return 0;
    }
    const struct cl_signal_ops *ops = cl_signal_ops(op->id.signal);
    if (ops == NULL) {
        return tr_errf(TR_EINVAL, op->err, "no store for %s", op__signal(op));
    }
    const uint8_t *e = (const uint8_t *)op->body.data + op->entry_off;
    size_t elen = op->body.len - op->entry_off;
    /* data: metrics entries, logs and traces entries but their cut entry
     * (version 3); verify, seal and cut entries pass as they are */
    bool data =
        elen >= 2 && (e[0] == TR_ENTRY_METRICS ||
                      (e[0] == TR_ENTRY_LOGS && e[1] != TR_ENTRY_LOGS_CUT) ||
                      (e[0] == TR_ENTRY_TRACES && e[1] != TR_ENTRY_TRACES_CUT));
    if (!data) {
        op->admitted = true;
        return 0;
    }
    pthread_mutex_lock(&c->meta_fsm.mu);
    const struct tr_catalog_shard *sh = tr_catalog_shard(
        &c->meta_fsm.catalog, op->id.signal, op->id.window, op->id.slot);
    int state = sh != NULL ? sh->state : TR_SHARD_ACTIVE;
    pthread_mutex_unlock(&c->meta_fsm.mu);
    if (state != TR_SHARD_ACTIVE) {
        return tr_errf(
            TR_ETOOOLD, op->err,
            "too old: the %s window starting at %" PRId64 " is %s",
            op__signal(op), op->id.window,
            state == TR_SHARD_DELETED ? "past its retention" : "sealed");
    }
    struct tr_buf out;
    tr_buf_init(&out);
    cl_put_shard(&out, &op->id);
    struct tr_apply_result pre;
    memset(&pre, 0, sizeof(pre));
    int rv = ops->admit(c, &op->id, op->body.data + op->entry_off,
                        op->body.len - op->entry_off, &out, &pre, op->err);
    if (rv != 0) {
        tr_buf_free(&out);
        return rv;
    }
    tr_buf_free(&op->body);
    op->body = out;
    tr_apply_result_add(&op->pre, &pre);
    op->admitted = true;
    return 0;
}

/* Runs ops on the loop until each succeeds or fails for good; retries
 * "unavailable" (no leader, leader moved, replica down) until deadline. */
static void cl__run_ops(struct tr_cluster *c,
                        struct cl_op *ops,
                        size_t n,
                        int64_t deadline_ms)
{
    size_t todo = n;
    bool *pending = tr_calloc(n ? n : 1, sizeof(bool));
    if (pending == NULL) {
        for (size_t i = 0; i < n; i++) {
            ops[i].rv = TR_ENOMEM;
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        pending[i] = true;
    }
    while (todo > 0) {
        struct cl_call call;
        cl_call_init(&call, (int)todo);
        for (size_t i = 0; i < n; i++) {
            if (!pending[i]) {
                continue;
            }
            ops[i].call = &call;
            ops[i].rv = op__admit(&ops[i]);
            if (ops[i].rv != 0 ||
                tr_rpc_run_on_loop(c->rpc, op__start, &ops[i]) != 0) {
                if (ops[i].rv == 0) {
                    ops[i].rv = TR_EUNAVAIL;
                    snprintf(ops[i].err, sizeof(ops[i].err),
                             "node shutting down");
                }
                cl_call_done(&call);
            }
        }
        cl_call_wait(&call);
        cl_call_destroy(&call);
        todo = 0;
        for (size_t i = 0; i < n; i++) {
            if (!pending[i]) {
                continue;
            }
            bool retry =
                (ops[i].rv == TR_EUNAVAIL || ops[i].rv == TR_ETIMEOUT) &&
                cl_mono_ms() < deadline_ms;
            if (retry) {
                ops[i].attempt++;
                todo++;
            } else {
                pending[i] = false;
            }
        }
        if (todo > 0) {
            cl_sleep_ms(50);
        }
    }
    tr_free(pending);
}

int cl_write_batches(struct tr_cluster *c,
                     struct cl_batch *b,
                     size_t n,
                     int64_t deadline_ms,
                     struct tr_apply_result *res,
                     char *errmsg)
{
    memset(res, 0, sizeof(*res));
    struct cl_op *ops = tr_calloc(n ? n : 1, sizeof(*ops));
    if (ops == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    int rv = 0;
    for (size_t i = 0; i < n && rv == 0; i++) {
        op__init(&ops[i], c, &b[i].id);
        ops[i].admitted = b[i].admitted;
        rv = tr_buf_append(&ops[i].body, b[i].entry.data, b[i].entry.len);
        if (b[i].admitted) {
            ops[i].plain = b[i].plain; /* moved */
            tr_buf_init(&b[i].plain);
        }
    }
    bool ran = rv == 0;
    if (rv != 0) {
        rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
    } else {
        cl__run_ops(c, ops, n, deadline_ms);
    }
    for (size_t i = 0; ran && i < n; i++) {
        struct cl_op *op = &ops[i];
        b[i].rv = op->rv;
        b[i].res = op->res;
        tr_apply_result_add(&b[i].res, &op->pre);
        tr_apply_result_add(res, &op->pre);
        if (op->rv != 0) {
            if (rv == 0 || op->rv == TR_EBUSY) {
                rv = op->rv == TR_ENOMEM || op->rv == TR_EBUSY ? op->rv
                                                               : TR_EUNAVAIL;
                snprintf(errmsg, TR_ERRMSG_SIZE, "%s", op->err);
            }
            tr_selfmetrics_inc(c->m_forwarded, 1, op__signal(op), "failed");
            continue;
        }
        tr_apply_result_add(res, &op->res);
        if (op->res.index > res->index) {
            res->index = op->res.index;
        }
    }
    for (size_t i = 0; i < n; i++) {
        tr_buf_free(&ops[i].body);
        tr_buf_free(&ops[i].plain);
    }
    tr_free(ops);
    return rv;
}

int cl_shard_apply_here(struct tr_cluster *c,
                        const struct tr_shard_id *id,
                        const void *entry,
                        size_t len,
                        bool forwarded,
                        struct tr_apply_result *res,
                        char *errmsg)
{
    struct cl_op op;
    op__init(&op, c, id);
    tr_buf_append(&op.body, entry, len);
    /* at most one forwarding hop: to the leader this replica knows */
    op.no_forward = forwarded;
    op.mark_forwarded = true;
    struct cl_call call;
    cl_call_init(&call, 1);
    op.call = &call;
    int rv = op__admit(&op);
    if (rv == 0) {
        rv = tr_rpc_run_on_loop(c->rpc, op__start, &op);
        if (rv == 0) {
            cl_call_wait(&call);
            rv = op.rv;
        }
    }
    cl_call_destroy(&call);
    *res = op.res;
    tr_apply_result_add(res, &op.pre);
    if (rv != 0) {
        snprintf(errmsg, TR_ERRMSG_SIZE, "%s", op.err);
    }
    tr_buf_free(&op.body);
    return rv;
}

void *cl_shard_elem(void **arr,
                    size_t *n,
                    size_t *cap,
                    size_t elem_size,
                    uint8_t signal,
                    int64_t w,
                    uint16_t slot)
{
    char *base = *arr;
    for (size_t i = 0; i < *n; i++) {
        struct tr_shard_id *id = (struct tr_shard_id *)(base + i * elem_size);
        if (id->window == w && id->slot == slot) {
            return id;
        }
    }
    if (*n == *cap) {
        char *nb = tr_array_grow(base, cap, elem_size, 8);
        if (nb == NULL) {
            return NULL;
        }
        *arr = base = nb;
    }
    char *e = base + (*n)++ * elem_size;
    memset(e, 0, elem_size);
    *(struct tr_shard_id *)e = (struct tr_shard_id){signal, w, slot};
    return e;
}
