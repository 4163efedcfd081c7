/* read.c - reads fan out to one healthy replica per shard, local first, all
 * nodes in parallel (one request per node for all the shards it answers),
 * and /internal/v1/read, which serves them.
 *
 *   read request body:  u8 signal, u8 flags (1 = leader only: consistency=
 *                  strong; 2 = units limited), uvarint n shards (1..4096),
 *                  per shard: varint window, uvarint slot; (flags & 2)
 *                  uvarint max units >= 1: the most the answer may hold
 *                  (what is left of the read's budget when it was sent);
 *                  then the signal's request bytes
 *   response:      200 + the signal's response (framed reads: frames,
 *                  cluster_int.h); 400 (the request is wrong: the
 *                  coordinator fails the read); 422 (a limit, e.g. more
 *                  units than allowed: the read fails with TR_ELIMIT); 503
 *                  (this replica cannot serve a shard: the coordinator asks
 *                  the shard's next replica)
 *
 * The coordinator receives answers on the loop thread through an rpc sink
 * (rd__sink): framed answers go frame by frame into the answer's arena
 * (cl_frame_reader, at the end of this file: the pure part, which the wire
 * fuzz driver feeds too), each frame's units taken from the read's budget
 * as its header arrives;
 * when the budget is exceeded the sink aborts its transfer, whose callback
 * cancels the round's other transfers, and a local part that fails cancels
 * them too. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/log.h"

#define RD_TIMEOUT_MS 30000
#define RD_START_WAIT_MS 1000 /* for local groups just created */

struct rd_shard {
    struct tr_shard_id id;
    uint64_t replicas[TR_CATALOG_MAX_REPLICAS];
    uint8_t n;
    bool replica; /* this node holds a replica */
    bool sealed;  /* SEALED in the catalog: replicas serve without a group */
    bool local;   /* read locally (this round) */
    bool done;
    int tried;       /* remote replicas asked */
    uint64_t leader; /* as this node knows it (0: unknown) */
};

struct rd_round;

/* One request to one node. */
struct rd_target {
    struct tr_cluster *c;
    const struct cl_read *r;
    struct rd_round *round;
    uint64_t node;
    size_t *shards; /* indexes into the shard list */
    size_t n;
    struct tr_buf req;
    struct tr_buf resp; /* plain answers, error texts */
    int rv;
    long status;
    struct cl_call *call;
    struct tr_rpc_req *q;      /* in flight (loop thread) */
    bool sent;                 /* rd__send tried it */
    struct cl_frame_reader fr; /* framed answers (loop thread) */
    int sink_rv;               /* why the sink stopped the transfer */
};

struct rd_round {
    struct tr_cluster *c;
    struct rd_target *targets;
    size_t n;
    struct cl_call *call;
};

/* Shards of signal overlapping [mint, maxt], with local = this node
 * serves it (and leads it, for leader-only reads). */
static size_t rd__shards(struct tr_cluster *c,
                         const struct cl_read *r,
                         struct rd_shard **out)
{
    pthread_mutex_lock(&c->meta_fsm.mu);
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    size_t n = 0;
    struct rd_shard *v =
        tr_calloc(cat->n_shards ? cat->n_shards : 1, sizeof(*v));
    for (size_t i = 0; v != NULL && i < cat->n_shards; i++) {
        const struct tr_catalog_shard *sh = &cat->shards[i];
        if (sh->signal != r->signal || sh->state == TR_SHARD_DELETED ||
            sh->window > r->maxt || sh->window + sh->window_ms <= r->mint) {
            continue;
        }
        struct rd_shard *s = &v[n++];
        s->id = (struct tr_shard_id){sh->signal, sh->window, sh->slot};
        s->n = sh->n_replicas;
        memcpy(s->replicas, sh->replicas, sizeof(s->replicas));
        s->replica = cl_is_replica(sh, c->self.id);
        s->sealed = sh->state == TR_SHARD_SEALED;
    }
    pthread_mutex_unlock(&c->meta_fsm.mu);
    /* a group this node replicates but created a moment ago (a window
     * placed ahead of time) has no stats until the next tick: wait a
     * little for it rather than call its shard unavailable */
    int64_t until = cl_mono_ms() + RD_START_WAIT_MS;
    for (size_t i = 0; v != NULL && i < n; i++) {
        struct cl_stat st;
        bool have = v[i].replica && cl_stat_get(c, &v[i].id, &st);
        bool sealed = v[i].replica && !have && cl_sealed_local(c, &v[i].id);
        while (v[i].replica && !have && !sealed && !v[i].sealed &&
               cl_mono_ms() < until) {
            cl_sleep_ms(10);
            have = cl_stat_get(c, &v[i].id, &st);
        }
        v[i].leader = have ? st.leader : 0;
    }
    *out = v;
    return n;
}

/* Loop thread: cancels the round's transfers still in flight (their
 * callbacks run inside). */
static void rd__cancel_pending(struct rd_round *rr)
{
    for (size_t i = 0; i < rr->n; i++) {
        if (rr->targets[i].q != NULL) {
            tr_rpc_cancel(rr->c->rpc, rr->targets[i].q);
        }
    }
}

/* Loop thread, queued by the worker when its local part failed. */
static void rd__cancel_all(void *arg)
{
    struct rd_round *rr = arg;
    rd__cancel_pending(rr);
    cl_call_done(rr->call);
}

static void rd__on_reply(void *arg,
                         int status,
                         long http_status,
                         const char *body,
                         size_t len)
{
    (void)body;
    (void)len;
    struct rd_target *t = arg;
    t->q = NULL;
    t->rv = status;
    t->status = http_status;
    if (status == TR_ECANCELED && t->sink_rv != 0) {
        t->rv = t->sink_rv;
    }
    if (t->rv == 0 && t->r->framed && http_status == 200 &&
        !cl_frame_reader_done(&t->fr)) {
        t->rv = TR_EPROTO; /* the answer ended inside a frame */
    }
    if (t->r->budget != NULL && tr_select_budget_over(t->r->budget)) {
        rd__cancel_pending(t->round); /* the read fails: stop the others */
    }
    cl_call_done(t->call); /* last: the worker may free the round then */
}

/* Loop thread, inside libcurl: a piece of t's answer. Framed 200 answers
 * go frame by frame into t->fr, every other body into t->resp. */
static int rd__sink(void *arg, long http_status, const char *p, size_t n)
{
    struct rd_target *t = arg;
    if (http_status != 200 || !t->r->framed) {
        if (tr_buf_append(&t->resp, p, n) != 0) {
            t->sink_rv = TR_ENOMEM;
            return 1;
        }
        return 0;
    }
    int rv = cl_frame_reader_feed(&t->fr, p, n);
    if (rv != 0) {
        t->sink_rv = rv;
        return 1;
    }
    return 0;
}

/* Loop: sends every target's request. Once the last one is done the
 * worker may free the round: nothing of it is read after that. */
static void rd__send(void *arg)
{
    struct rd_round *rr = arg;
    struct tr_cluster *c = rr->c;
    struct rd_target *targets = rr->targets;
    size_t n = rr->n;
    for (size_t i = 0; i < n; i++) {
        struct rd_target *t = &targets[i];
        char url[CL_URL_MAX];
        t->sent = true;
        if (!cl_node_url(c, t->node, "/internal/v1/read", url, sizeof(url)) ||
            tr_rpc_post_stream(c->rpc, url, t->req.data, t->req.len, NULL,
                               RD_TIMEOUT_MS, rd__sink, rd__on_reply, t,
                               &t->q) != 0) {
            t->q = NULL;
            t->rv = TR_EUNAVAIL;
            cl_call_done(t->call);
        }
    }
}

/* Drops what t received (its units go back to the budget). */
static void rd__target_free(struct rd_target *t, bool give_back)
{
    if (give_back && t->r->budget != NULL && t->fr.units > 0) {
        tr_select_budget_give(t->r->budget, t->fr.units);
    }
    t->fr.units = 0;
    tr_buf_free(&t->req);
    tr_buf_free(&t->resp);
    cl_frame_reader_free(&t->fr);
}

/* The replica to ask next for shard s (skipping this node), or 0: the
 * leader this node knows first (a strong read needs it), then the
 * replicas in catalog order. */
static uint64_t rd__pick(struct tr_cluster *c, const struct rd_shard *s)
{
    int seen = 0;
    uint64_t leader = s->leader != c->self.id ? s->leader : 0;
    if (leader != 0 && seen++ == s->tried) {
        return leader;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (s->replicas[i] == c->self.id || s->replicas[i] == leader) {
            continue;
        }
        if (seen++ == s->tried) {
            return s->replicas[i];
        }
    }
    return 0;
}

/* One round: groups the shards still to read by the node to ask, asks all
 * nodes in parallel (running local() meanwhile when given), hands the
 * answers to remote(). Shards whose node failed stay to do. */
static int rd__round(struct tr_cluster *c,
                     const struct cl_read *r,
                     struct rd_shard *shards,
                     size_t ns,
                     const struct tr_shard_id *locals,
                     size_t nl,
                     bool *retry,
                     char *errmsg)
{
    struct rd_target *targets = tr_calloc(ns ? ns : 1, sizeof(*targets));
    size_t *idx = tr_calloc(ns ? ns : 1, sizeof(*idx));
    if (targets == NULL || idx == NULL) {
        tr_free(targets);
        tr_free(idx);
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    size_t nt = 0, used = 0;
    int rv = 0;
    *retry = false;
    /* the node to ask for each shard still to read */
    uint64_t *pick = tr_calloc(ns ? ns : 1, sizeof(*pick));
    if (pick == NULL) {
        rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    for (size_t i = 0; i < ns && rv == 0; i++) {
        struct rd_shard *s = &shards[i];
        if (s->done || s->local) {
            continue;
        }
        pick[i] = rd__pick(c, s);
        if (pick[i] == 0) {
            rv =
                tr_errf(TR_EUNAVAIL, errmsg,
                        "no replica of shard %s/%" PRId64
                        "/%u answered (data of that shard is unavailable)",
                        tr_signal_name(s->id.signal), s->id.window, s->id.slot);
            /* a strong read waits for the shard's leader */
            *retry = r->leader_only;
        }
    }
    /* one target per node, its shards contiguous in idx; a strong read
     * asks for each shard alone (a node that does not lead one of them
     * must not fail the others) */
    for (size_t i = 0; i < ns && rv == 0; i++) {
        if (pick[i] == 0) {
            continue;
        }
        size_t t = 0;
        while (!r->leader_only && t < nt && targets[t].node != pick[i]) {
            t++;
        }
        if (!r->leader_only && t < nt) {
            continue; /* gathered with the first shard of its node */
        }
        targets[nt].c = c;
        targets[nt].node = pick[i];
        targets[nt].shards = &idx[used];
        for (size_t j = i; j < ns; j++) {
            if (pick[j] == pick[i] && (j == i || !r->leader_only)) {
                idx[used++] = j;
                targets[nt].n++;
            }
        }
        nt++;
    }
    tr_free(pick);
    struct cl_call call;
    cl_call_init(&call, (int)nt);
    struct rd_round rr = {c, targets, nt, &call};
    for (size_t t = 0; t < nt && rv == 0; t++) {
        struct rd_target *tg = &targets[t];
        tr_buf_init(&tg->req);
        tr_buf_init(&tg->resp);
        cl_frame_reader_init(&tg->fr, r->budget, CL_FRAME_MAX);
        tg->r = r;
        tg->round = &rr;
        tg->call = &call;
        bool limited = r->budget != NULL && r->budget->max > 0;
        tr_buf_putc(&tg->req, (char)r->signal);
        tr_buf_putc(&tg->req, (char)((r->leader_only ? CL_READ_LEADER : 0) |
                                     (limited ? CL_READ_UNITS : 0)));
        tr_buf_put_uvarint(&tg->req, tg->n);
        for (size_t k = 0; k < tg->n; k++) {
            const struct rd_shard *s = &shards[tg->shards[k]];
            tr_buf_put_varint(&tg->req, s->id.window);
            tr_buf_put_uvarint(&tg->req, s->id.slot);
        }
        if (limited) {
            /* the most the node may answer: what is left of the budget */
            size_t taken = atomic_load(&r->budget->used);
            tr_buf_put_uvarint(
                &tg->req, taken < r->budget->max ? r->budget->max - taken : 1);
        }
        tr_buf_append(&tg->req, r->req, r->req_len);
    }
    if (rv == 0 && nt > 0 && tr_rpc_run_on_loop(c->rpc, rd__send, &rr) != 0) {
        rv = tr_errf(TR_EUNAVAIL, errmsg, "node shutting down");
        call.pending = 0;
    }
    if (rv != 0) {
        call.pending = 0;
    }
    /* the local shards are read while the remote ones travel */
    int lrv = 0;
    if (rv == 0 && nl > 0) {
        lrv = r->local(r->arg, locals, nl, errmsg);
    }
    if (lrv != 0 && nt > 0) {
        /* the read fails: stop the transfers (one more done to wait for) */
        pthread_mutex_lock(&call.mu);
        call.pending++;
        pthread_mutex_unlock(&call.mu);
        if (tr_rpc_run_on_loop(c->rpc, rd__cancel_all, &rr) != 0) {
            cl_call_done(&call);
        }
    }
    cl_call_wait(&call);
    cl_call_destroy(&call);
    if (rv == 0) {
        rv = lrv;
    }
    for (size_t t = 0; t < nt; t++) {
        struct rd_target *tg = &targets[t];
        bool give_back = true;
        const char *how = "failed";
        if (tg->rv == 0 && tg->status == 200) {
            how = "ok";
        } else if (tg->rv == 0 && (tg->status == 400 || tg->status == 422)) {
            how = "rejected";
        } else if (tg->rv == TR_ELIMIT) {
            how = "over_budget";
        } else if (tg->rv == TR_ECANCELED) {
            how = "cancelled";
        }
        if (tg->sent) {
            tr_selfmetrics_inc(c->m_read_answers, 1, tr_signal_name(r->signal),
                               how);
        }
        if (rv == 0 && tg->rv == 0 && tg->status == 200) {
            struct tr_shard_id *ids =
                tr_malloc((tg->n ? tg->n : 1) * sizeof(*ids));
            if (ids == NULL) {
                rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
            }
            for (size_t k = 0; ids != NULL && k < tg->n; k++) {
                ids[k] = shards[tg->shards[k]].id;
                shards[tg->shards[k]].done = true;
            }
            if (ids != NULL) {
                struct cl_answer a = {tg->resp.data, tg->resp.len,
                                      tg->fr.frames, tg->fr.n, &tg->fr.arena};
                rv = r->remote(r->arg, ids, tg->n, &a, errmsg);
                give_back = false;
            }
            tr_free(ids);
        } else if (rv == 0 && tg->rv == 0 &&
                   (tg->status == 400 || tg->status == 422)) {
            rv = tr_errf(tg->status == 422 ? TR_ELIMIT : TR_EINVAL, errmsg,
                         "%.*s", (int)tg->resp.len,
                         tg->resp.data ? tg->resp.data : "");
        } else if (rv == 0 && tg->rv == TR_ELIMIT) {
            rv = tr_errf(TR_ELIMIT, errmsg,
                         "the read's answers exceed its sample budget");
            give_back = false;
        } else if (rv == 0) {
            /* that node failed: its shards go to their next replicas */
            for (size_t k = 0; k < tg->n; k++) {
                shards[tg->shards[k]].tried++;
            }
            *retry = true;
        }
        rd__target_free(tg, give_back);
    }
    tr_free(targets);
    tr_free(idx);
    return rv;
}

/* The shards to read locally this round (marked done): for an eventual
 * read the ones this node serves, for a strong read the ones it leads now
 * (after a barrier) - re-checked every round, leadership moves. */
static size_t rd__locals(struct tr_cluster *c,
                         const struct cl_read *r,
                         struct rd_shard *shards,
                         size_t ns,
                         struct tr_shard_id *locals)
{
    size_t nl = 0;
    for (size_t i = 0; i < ns; i++) {
        struct rd_shard *sh = &shards[i];
        if (sh->done || !sh->replica) {
            continue;
        }
        struct cl_stat st;
        bool group = cl_stat_get(c, &sh->id, &st);
        /* a sealed replica without its group holds what the leader held
         * (nothing changes after the seal): good for a strong read too */
        bool ok =
            group ? !st.catching_up && !st.failed : cl_sealed_local(c, &sh->id);
        if (ok && r->leader_only && group) {
            ok = st.state == RAFT_LEADER && cl_leader_barrier(c, &sh->id) == 0;
        }
        sh->local = ok;
        if (ok) {
            locals[nl++] = sh->id;
            sh->done = true;
        }
    }
    return nl;
}

int cl_read_run(struct tr_cluster *c, const struct cl_read *r, char *errmsg)
{
    int64_t t0 = tr_mono_ns();
    struct rd_shard *shards;
    size_t ns = rd__shards(c, r, &shards);
    if (shards == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    struct tr_shard_id *locals = tr_calloc(ns ? ns : 1, sizeof(*locals));
    if (locals == NULL) {
        tr_free(shards);
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    int64_t deadline = cl_mono_ms() + c->cfg.write_timeout_ms;
    int rv = 0;
    for (bool first = true;; first = false) {
        size_t nl =
            first || r->leader_only ? rd__locals(c, r, shards, ns, locals) : 0;
        bool retry = false, todo = nl > 0;
        for (size_t i = 0; i < ns; i++) {
            todo = todo || !shards[i].done;
        }
        if (!todo && !first) {
            break;
        }
        rv = rd__round(c, r, shards, ns, locals, nl, &retry, errmsg);
        if (rv == 0 && !retry) {
            break;
        }
        if (rv != 0 && !(retry && r->leader_only)) {
            break;
        }
        if (rv != 0) {
            /* strong read with a shard without a leader right now (an
             * election, a transfer): ask its replicas again shortly */
            if (cl_mono_ms() >= deadline) {
                break;
            }
            for (size_t i = 0; i < ns; i++) {
                shards[i].tried = 0;
            }
            rv = 0;
            cl_sleep_ms(50);
        }
    }
    tr_free(locals);
    tr_free(shards);
    tr_selfmetrics_observe(c->m_read_seconds, (double)(tr_mono_ns() - t0) / 1e9,
                           tr_signal_name(r->signal));
    return rv;
}

int cl_read_req_parse(const void *body,
                      size_t len,
                      struct cl_read_req *out,
                      char *errmsg)
{
    struct tr_cursor cur = tr_cursor_make(body, len);
    uint64_t n;
    memset(out, 0, sizeof(*out));
    /* a shard takes at least 2 bytes: a count beyond what is left is
     * malformed before anything is allocated for it */
    if (tr_cursor_u8(&cur, &out->signal) != 0 ||
        tr_cursor_u8(&cur, &out->flags) != 0 ||
        tr_cursor_uvarint(&cur, &n) != 0 || n == 0 || n > CL_READ_MAX_SHARDS ||
        n > tr_cursor_left(&cur) / 2) {
        return tr_errf(TR_EPROTO, errmsg, "malformed read request");
    }
    struct tr_shard_id *ids = tr_calloc(n, sizeof(*ids));
    if (ids == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t slot;
        ids[i].signal = out->signal;
        if (tr_cursor_varint(&cur, &ids[i].window) != 0 ||
            tr_cursor_uvarint(&cur, &slot) != 0 || slot > UINT16_MAX) {
            tr_free(ids);
            return tr_errf(TR_EPROTO, errmsg, "malformed read request");
        }
        ids[i].slot = (uint16_t)slot;
    }
    if ((out->flags & CL_READ_UNITS) &&
        (tr_cursor_uvarint(&cur, &out->max_units) != 0 ||
         out->max_units == 0)) {
        tr_free(ids);
        return tr_errf(TR_EPROTO, errmsg, "malformed read request");
    }
    out->ids = ids;
    out->n = (size_t)n;
    out->req = cur.p;
    out->req_len = tr_cursor_left(&cur);
    return 0;
}

int cl_read_serve(struct tr_cluster *c,
                  const void *body,
                  size_t len,
                  struct tr_buf *out,
                  char *errmsg)
{
    struct cl_read_req q;
    int rv = cl_read_req_parse(body, len, &q, errmsg);
    if (rv != 0) {
        return rv;
    }
    const struct cl_signal_ops *ops = cl_signal_ops(q.signal);
    if (ops == NULL) {
        rv = tr_errf(TR_EPROTO, errmsg, "no store for signal %u", q.signal);
    }
    for (size_t i = 0; i < q.n && rv == 0; i++) {
        const struct tr_shard_id *id = &q.ids[i];
        struct cl_stat st;
        /* a replica without a running, caught-up group for the shard may
         * hold partial data: let the coordinator ask another one */
        if (!cl_serves(c, id)) {
            rv = tr_errf(TR_EUNAVAIL, errmsg,
                         "shard %s/%" PRId64 "/%u not served by this replica",
                         tr_signal_name(q.signal), id->window, id->slot);
        } else if ((q.flags & CL_READ_LEADER) && cl_stat_get(c, id, &st) &&
                   cl_leader_barrier(c, id) != 0) {
            /* strong consistency: only the shard's current leader answers */
            rv = tr_errf(TR_EUNAVAIL, errmsg,
                         "not the leader of shard %s/%" PRId64 "/%u",
                         tr_signal_name(q.signal), id->window, id->slot);
        }
    }
    if (rv == 0) {
        rv = ops->serve_read(c, q.ids, q.n, q.max_units, q.req, q.req_len, out,
                             errmsg);
    }
    tr_free(q.ids);
    return rv;
}

size_t cl_frame_begin(struct tr_buf *out, uint32_t units)
{
    size_t at = out->len;
    tr_buf_put_u32be(out, 0);
    tr_buf_put_u32be(out, units);
    return at;
}

void cl_frame_end(struct tr_buf *out, size_t at)
{
    if (out->oom || out->len < at + CL_FRAME_HEADER) {
        return;
    }
    tr_put_u32be(out->data + at, (uint32_t)(out->len - at - CL_FRAME_HEADER));
}

/* ---- reading framed answers --------------------------------------------- */

void cl_frame_reader_init(struct cl_frame_reader *r,
                          struct tr_select_budget *budget,
                          uint32_t max_len)
{
    memset(r, 0, sizeof(*r));
    tr_arena_init(&r->arena, 64 * 1024);
    r->budget = budget;
    r->max_len = max_len;
}

/* The header in r->hdr is complete: checks it, takes its units, begins
 * its frame. */
static int frame__begin(struct cl_frame_reader *r)
{
    uint32_t flen = tr_get_u32be(r->hdr);
    uint32_t units = tr_get_u32be(r->hdr + 4);
    r->hdr_have = 0;
    if (flen > r->max_len) {
        return TR_EPROTO;
    }
    if (r->budget != NULL) {
        r->units += units;
        if (!tr_select_budget_take(r->budget, units)) {
            return TR_ELIMIT;
        }
    }
    if (r->n == r->cap) {
        struct cl_frame *nv =
            tr_array_grow(r->frames, &r->cap, sizeof(*nv), 256);
        if (nv == NULL) {
            return TR_ENOMEM;
        }
        r->frames = nv;
    }
    char *dst = tr_arena_alloc(&r->arena, flen ? flen : 1);
    if (dst == NULL) {
        return TR_ENOMEM;
    }
    r->frames[r->n++] = (struct cl_frame){dst, flen, units};
    r->body_have = 0;
    r->in_frame = true;
    return 0;
}

int cl_frame_reader_feed(struct cl_frame_reader *r, const void *buf, size_t n)
{
    const char *p = buf;
    if (r->budget != NULL && tr_select_budget_over(r->budget)) {
        return TR_ELIMIT; /* another part of the read used the budget up */
    }
    while (n > 0) {
        if (!r->in_frame) {
            size_t k = CL_FRAME_HEADER - r->hdr_have;
            k = k < n ? k : n;
            memcpy(r->hdr + r->hdr_have, p, k);
            r->hdr_have += k;
            p += k;
            n -= k;
            if (r->hdr_have < CL_FRAME_HEADER) {
                break;
            }
            int rv = frame__begin(r);
            if (rv != 0) {
                return rv;
            }
        }
        struct cl_frame *f = &r->frames[r->n - 1];
        size_t k = f->len - r->body_have;
        k = k < n ? k : n;
        memcpy((char *)f->p + r->body_have, p, k);
        r->body_have += k;
        p += k;
        n -= k;
        r->in_frame = r->body_have < f->len;
    }
    return 0;
}

bool cl_frame_reader_done(const struct cl_frame_reader *r)
{
    return !r->in_frame && r->hdr_have == 0;
}

void cl_frame_reader_free(struct cl_frame_reader *r)
{
    tr_free(r->frames);
    r->frames = NULL;
    r->n = 0;
    r->cap = 0;
    tr_arena_free(&r->arena);
}

/* ---- string lists over the fan-out (label names and values) -------------- */

struct cl_strings_state {
    const struct cl_strings_read *r;
    struct tr_string_list *parts;
    size_t np;
    size_t cap;
};

static struct tr_string_list *cl__strings_part(struct cl_strings_state *s)
{
    if (s->np == s->cap) {
        struct tr_string_list *p =
            tr_array_grow(s->parts, &s->cap, sizeof(*p), 8);
        if (p == NULL) {
            return NULL;
        }
        s->parts = p;
    }
    struct tr_string_list *l = &s->parts[s->np++];
    memset(l, 0, sizeof(*l));
    tr_arena_init(&l->arena, 1024);
    return l;
}

static int cl__strings_local(void *arg,
                             const struct tr_shard_id *ids,
                             size_t n,
                             char *errmsg)
{
    struct cl_strings_state *s = arg;
    struct tr_string_list *l = cl__strings_part(s);
    if (l == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    tr_string_list_free(l); /* the local read initialises it */
    return s->r->local(s->r->arg, ids, n, l, errmsg);
}

static int cl__strings_remote(void *arg,
                              const struct tr_shard_id *ids,
                              size_t n,
                              struct cl_answer *a,
                              char *errmsg)
{
    (void)ids;
    (void)n;
    struct cl_strings_state *s = arg;
    struct tr_string_list *l = cl__strings_part(s);
    if (l == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    tr_string_list_free(l);
    if (cl_strings_decode(a->body, a->len, l) != 0) {
        return tr_errf(TR_EUNAVAIL, errmsg, "bad label response");
    }
    return 0;
}

int cl_strings_run(struct tr_cluster *c,
                   const struct cl_strings_read *r,
                   struct tr_string_list *out,
                   char *errmsg)
{
    struct cl_strings_state s = {r, NULL, 0, 0};
    struct cl_read rd = {
        .signal = r->signal,
        .mint = r->mint,
        .maxt = r->maxt,
        .leader_only = r->leader_only,
        .req = r->req,
        .req_len = r->req_len,
        .local = cl__strings_local,
        .remote = cl__strings_remote,
        .arg = &s,
    };
    int rv = cl_read_run(c, &rd, errmsg);
    if (rv == 0) {
        rv = tr_string_list_union(s.parts, s.np, r->limit, out);
        if (rv != 0) {
            rv = tr_errf(rv, errmsg, "out of memory");
        }
    } else {
        memset(out, 0, sizeof(*out));
        tr_arena_init(&out->arena, 1024);
    }
    for (size_t i = 0; i < s.np; i++) {
        tr_string_list_free(&s.parts[i]);
    }
    tr_free(s.parts);
    return rv;
}
