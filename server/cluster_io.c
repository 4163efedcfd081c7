/* cluster_io.c - routing writes to shard leaders and reads to one healthy
 * replica per shard, and the internal RPC encodings they use.
 *
 *   shard apply request body:  varint window, uvarint slot, entry bytes
 *   apply result:  varint rv, uvarint index, uvarint appended, duplicate,
 *                  rejected, series created, metadata written, varint
 *                  first error, uvarint + bytes message
 *   select request:  u8 op (1 select, 2 label names, 3 label values),
 *                  uvarint + tenant, varint window, uvarint slot, varint
 *                  mint, varint maxt, u8 flags (1 = no samples, 2 = leader
 *                  only: consistency=strong), uvarint
 *                  limit, max series, max samples, uvarint + label name
 *                  (op 3), uvarint n matchers, per matcher: u8 type,
 *                  uvarint + name, uvarint + value
 *   select response: u8 truncated, uvarint n series, per series: uvarint +
 *                  canonical labels, uvarint n samples, per sample: varint
 *                  t delta, 8 bytes value bits (LE)
 *   strings response: u8 truncated, uvarint n, per string uvarint + bytes
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "server/cluster_int.h"

/* ---- apply results ----------------------------------------------------------
 */

void cl_apply_result_encode(const struct tr_apply_result *r,
                            int rv,
                            const char *err,
                            struct tr_buf *out)
{
    tr_buf_put_varint(out, rv);
    tr_buf_put_uvarint(out, r->index);
    tr_buf_put_uvarint(out, r->samples_appended);
    tr_buf_put_uvarint(out, r->samples_duplicate);
    tr_buf_put_uvarint(out, r->samples_rejected);
    tr_buf_put_uvarint(out, r->series_created);
    tr_buf_put_uvarint(out, r->metadata_written);
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
        tr_cursor_uvarint(&c, &r->samples_appended) != 0 ||
        tr_cursor_uvarint(&c, &r->samples_duplicate) != 0 ||
        tr_cursor_uvarint(&c, &r->samples_rejected) != 0 ||
        tr_cursor_uvarint(&c, &r->series_created) != 0 ||
        tr_cursor_uvarint(&c, &r->metadata_written) != 0 ||
        tr_cursor_varint(&c, &fe) != 0 || tr_cursor_uvarint(&c, &ml) != 0 ||
        ml >= TR_ERRMSG_SIZE || tr_cursor_bytes(&c, ml, &m) != 0) {
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

/* ---- one shard write, driven on the loop
 * -------------------------------------- */

struct cl_op {
    struct tr_cluster *c;
    int64_t window;
    uint16_t slot;
    struct tr_buf body;  /* window, slot, entry */
    size_t entry_off;    /* where the entry starts in body */
    bool no_forward;     /* apply here or fail (already forwarded) */
    bool mark_forwarded; /* the next node must not forward again */
    int attempt;
    int rv;
    char err[TR_ERRMSG_SIZE];
    struct tr_apply_result res;
    struct cl_call *call;
    int64_t t0_ns;
};

static void op__finish(struct cl_op *op, int rv)
{
    op->rv = rv;
    cl_call_done(op->call);
}

static void op__applied(void *arg, int status, void *result)
{
    struct cl_op *op = arg;
    struct tr_cluster *c = op->c;
    if (status == 0 && result != NULL) {
        struct tr_shard_fsm *f = result;
        op->res = f->last;
        status = f->last_rv;
        double secs = (double)(tr_mono_ns() - op->t0_ns) / 1e9;
        tr_selfmetrics_observe(c->m_commit_seconds, secs);
        tr_selfmetrics_inc(c->m_forwarded, 1, "local");
    }
    if (status != 0) {
        snprintf(
            op->err, sizeof(op->err), "shard %" PRId64 "/%u: %s", op->window,
            op->slot,
            status == TR_EUNAVAIL ? "leadership lost" : tr_strerror(status));
    }
    op__finish(op, status);
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
        tr_selfmetrics_inc(op->c->m_forwarded, 1, "forwarded");
    } else if (rv == 0) {
        rv = TR_EUNAVAIL;
        snprintf(op->err, sizeof(op->err),
                 "shard %" PRId64 "/%u: HTTP %ld: %.*s", op->window, op->slot,
                 http_status, (int)(len > 200 ? 200 : len), body);
    } else {
        snprintf(op->err, sizeof(op->err), "shard %" PRId64 "/%u: %s",
                 op->window, op->slot, tr_strerror(rv));
    }
    op__finish(op, rv);
}

/* Loop: apply locally when leader, else send to the leader (or a replica,
 * which forwards once). */
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
    struct cl_group *g = cl_group_find(c, op->window, op->slot);
    if (g != NULL && tr_raft_group_is_leader(g->g) && !g->fsm.catching_up) {
        int rv =
            tr_raft_group_apply(g->g, op->body.data + op->entry_off,
                                op->body.len - op->entry_off, op__applied, op);
        if (rv != 0) {
            snprintf(op->err, sizeof(op->err), "shard %" PRId64 "/%u: %s",
                     op->window, op->slot, tr_strerror(rv));
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
                 "this node does not lead shard %" PRId64 "/%u", op->window,
                 op->slot);
        op__finish(op, TR_EUNAVAIL);
        return;
    }
    if (target == 0) {
        const struct tr_catalog_shard *sh = tr_catalog_shard(
            &c->meta_fsm.catalog, CL_SIGNAL, op->window, op->slot);
        if (sh == NULL || sh->n_replicas == 0) {
            snprintf(op->err, sizeof(op->err), "unknown shard %" PRId64 "/%u",
                     op->window, op->slot);
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
    char http[TR_CATALOG_ADDR_MAX], url[300];
    if (target == 0 || !cl_node_http(c, target, http, sizeof(http))) {
        snprintf(op->err, sizeof(op->err),
                 "no reachable replica for shard "
                 "%" PRId64 "/%u",
                 op->window, op->slot);
        op__finish(op, TR_EUNAVAIL);
        return;
    }
    snprintf(url, sizeof(url), "http://%s/internal/v1/shard/apply", http);
    static const char *const fwd[] = {"X-Triad-Forwarded: 1", NULL};
    uint64_t timeout = (uint64_t)c->cfg->cluster_write_timeout_ms;
    if (tr_rpc_post(c->rpc, url, op->body.data, op->body.len,
                    op->mark_forwarded ? fwd : NULL, timeout, op__rpc_done,
                    op) != 0) {
        snprintf(op->err, sizeof(op->err), "cannot send to %s", http);
        op__finish(op, TR_EUNAVAIL);
    }
}

static void op__init(struct cl_op *op,
                     struct tr_cluster *c,
                     int64_t window,
                     uint16_t slot)
{
    memset(op, 0, sizeof(*op));
    op->c = c;
    op->window = window;
    op->slot = slot;
    tr_buf_init(&op->body);
    tr_buf_put_varint(&op->body, window);
    tr_buf_put_uvarint(&op->body, slot);
    op->entry_off = op->body.len;
}

static void cl__sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
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
    for (size_t i = 0; i < n; i++) {
        pending[i] = true;
    }
    while (todo > 0) {
        struct cl_call call;
        cl_call_init(&call, (int)todo);
        for (size_t i = 0; i < n; i++) {
            if (pending[i]) {
                ops[i].call = &call;
                if (tr_rpc_run_on_loop(c->rpc, op__start, &ops[i]) != 0) {
                    ops[i].rv = TR_ENOMEM;
                    cl_call_done(&call);
                }
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
                cl_now_ms() < deadline_ms;
            if (retry) {
                ops[i].attempt++;
                todo++;
            } else {
                pending[i] = false;
            }
        }
        if (todo > 0) {
            cl__sleep_ms(50);
        }
    }
    tr_free(pending);
}

/* ---- the write path
 * ----------------------------------------------------------- */

struct cl_win_wait {
    struct tr_cluster *c;
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
    cl_ensure_window_loop(w->c, w->window, win__done, w);
}

/* K of window w, creating the window through the meta leader if needed. */
static int cl__window_k(struct tr_cluster *c,
                        int64_t w,
                        int64_t deadline,
                        uint16_t *k,
                        char *errmsg)
{
    for (;;) {
        pthread_mutex_lock(&c->meta_fsm.mu);
        long idx = tr_catalog_window(&c->meta_fsm.catalog, CL_SIGNAL, w);
        if (idx >= 0) {
            *k = c->meta_fsm.catalog.shards[idx].k;
        }
        pthread_mutex_unlock(&c->meta_fsm.mu);
        if (idx >= 0) {
            return 0;
        }
        if (cl_now_ms() >= deadline) {
            return tr_errf(TR_EUNAVAIL, errmsg,
                           "the shards of window %" PRId64
                           " could not be "
                           "created in time (no meta leader?)",
                           w);
        }
        struct cl_call call;
        cl_call_init(&call, 1);
        struct cl_win_wait ww = {c, w, 0, &call};
        if (tr_rpc_run_on_loop(c->rpc, win__start, &ww) == 0) {
            cl_call_wait(&call);
        }
        cl_call_destroy(&call);
        if (ww.rv != 0) {
            cl__sleep_ms(50);
        } else {
            cl__sleep_ms(5); /* the commit reaches our catalog soon */
        }
    }
}

struct cl_shard_build {
    int64_t window;
    uint16_t slot;
    struct tr_entry_series *series;
    size_t n;
    size_t cap;
};

int tr_cluster_write(struct tr_cluster *c,
                     const struct tr_entry_metrics *m,
                     struct tr_apply_result *res,
                     char *errmsg)
{
    memset(res, 0, sizeof(*res));
    int64_t deadline = cl_now_ms() + c->cfg->cluster_write_timeout_ms;
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    uint64_t tseed = tr_hash64(m->tenant.base, m->tenant.len, 0x74656e);
    struct cl_shard_build *bs = NULL;
    size_t nb = 0, capb = 0;
    struct tr_buf enc;
    tr_buf_init(&enc);
    int rv = 0;
    for (size_t i = 0; i < m->n_series && rv == 0; i++) {
        const struct tr_entry_series *es = &m->series[i];
        tr_buf_reset(&enc);
        tr_labels_encode(es->labels, es->n_labels, &enc);
        uint64_t h = tr_hash64(enc.data, enc.len, tseed);
        /* split the series' samples by window */
        for (size_t j = 0; j < es->n_samples && rv == 0; j++) {
            int64_t w = cl_window_start(c, es->ts[j]);
            uint16_t k;
            rv = cl__window_k(c, w, deadline, &k, errmsg);
            if (rv != 0) {
                break;
            }
            uint16_t slot = (uint16_t)tr_jump_hash(h, k);
            size_t b = 0;
            for (; b < nb; b++) {
                if (bs[b].window == w && bs[b].slot == slot) {
                    break;
                }
            }
            if (b == nb) {
                if (nb == capb) {
                    capb = capb ? capb * 2 : 8;
                    struct cl_shard_build *nbs =
                        tr_realloc(bs, capb * sizeof(*bs));
                    if (nbs == NULL) {
                        rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
                        break;
                    }
                    bs = nbs;
                }
                memset(&bs[nb], 0, sizeof(bs[nb]));
                bs[nb].window = w;
                bs[nb].slot = slot;
                nb++;
            }
            struct cl_shard_build *sb = &bs[b];
            /* the series' sub-series in this shard is the last one added
             * when it came from this series */
            struct tr_entry_series *dst = NULL;
            if (sb->n > 0 && sb->series[sb->n - 1].labels == es->labels) {
                dst = &sb->series[sb->n - 1];
            } else {
                if (sb->n == sb->cap) {
                    size_t cap = sb->cap ? sb->cap * 2 : 64;
                    struct tr_entry_series *ns =
                        tr_arena_alloc(&a, cap * sizeof(*ns));
                    if (ns == NULL) {
                        rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
                        break;
                    }
                    if (sb->n > 0) {
                        memcpy(ns, sb->series, sb->n * sizeof(*ns));
                    }
                    sb->series = ns;
                    sb->cap = cap;
                }
                dst = &sb->series[sb->n++];
                memset(dst, 0, sizeof(*dst));
                dst->labels = es->labels;
                dst->n_labels = es->n_labels;
                dst->ts = tr_arena_alloc(&a, es->n_samples * sizeof(int64_t));
                dst->vs = tr_arena_alloc(&a, es->n_samples * sizeof(double));
                if (dst->ts == NULL || dst->vs == NULL) {
                    rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
                    break;
                }
            }
            ((int64_t *)dst->ts)[dst->n_samples] = es->ts[j];
            ((double *)dst->vs)[dst->n_samples] = es->vs[j];
            dst->n_samples++;
        }
    }
    tr_buf_free(&enc);
    if (rv == 0 && nb == 0 && m->n_meta > 0) {
        /* metadata only: it goes to slot 0 of the current window */
        int64_t w = cl_window_start(c, cl_now_ms());
        uint16_t k;
        rv = cl__window_k(c, w, deadline, &k, errmsg);
        if (rv == 0) {
            bs = tr_calloc(1, sizeof(*bs));
            if (bs == NULL) {
                rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
            } else {
                bs[0].window = w;
                nb = 1;
            }
        }
    }
    struct cl_op *ops = rv == 0 ? tr_calloc(nb ? nb : 1, sizeof(*ops)) : NULL;
    if (rv == 0 && ops == NULL) {
        rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    for (size_t b = 0; b < nb && rv == 0; b++) {
        struct tr_entry_metrics em = {
            .tenant = m->tenant,
            .series = bs[b].series,
            .n_series = bs[b].n,
            .meta = b == 0 ? m->meta : NULL,
            .n_meta = b == 0 ? m->n_meta : 0,
            .max_series = m->max_series,
        };
        op__init(&ops[b], c, bs[b].window, bs[b].slot);
        rv = tr_entry_metrics_encode(&em, &ops[b].body);
    }
    if (rv == 0) {
        cl__run_ops(c, ops, nb, deadline);
        for (size_t b = 0; b < nb; b++) {
            struct cl_op *op = &ops[b];
            if (op->rv != 0) {
                if (rv == 0) {
                    rv = op->rv == TR_ENOMEM ? TR_ENOMEM : TR_EUNAVAIL;
                    snprintf(errmsg, TR_ERRMSG_SIZE, "%s", op->err);
                }
                tr_selfmetrics_inc(c->m_forwarded, 1, "failed");
                continue;
            }
            res->samples_appended += op->res.samples_appended;
            res->samples_duplicate += op->res.samples_duplicate;
            res->samples_rejected += op->res.samples_rejected;
            res->series_created += op->res.series_created;
            res->metadata_written += op->res.metadata_written;
            if (res->first_error == 0 && op->res.first_error != 0) {
                res->first_error = op->res.first_error;
                memcpy(res->errmsg, op->res.errmsg, sizeof(res->errmsg));
            }
        }
    }
    for (size_t b = 0; ops != NULL && b < nb; b++) {
        tr_buf_free(&ops[b].body);
    }
    tr_free(ops);
    tr_free(bs);
    tr_arena_free(&a);
    return rv;
}

int cl_shard_apply_here(struct tr_cluster *c,
                        int64_t window,
                        uint16_t slot,
                        const void *entry,
                        size_t len,
                        bool forwarded,
                        struct tr_apply_result *res,
                        char *errmsg)
{
    struct cl_op op;
    op__init(&op, c, window, slot);
    tr_buf_append(&op.body, entry, len);
    /* at most one forwarding hop: to the leader this replica knows */
    op.no_forward = forwarded;
    op.mark_forwarded = true;
    struct cl_call call;
    cl_call_init(&call, 1);
    op.call = &call;
    int rv = tr_rpc_run_on_loop(c->rpc, op__start, &op);
    if (rv == 0) {
        cl_call_wait(&call);
        rv = op.rv;
    }
    cl_call_destroy(&call);
    *res = op.res;
    if (rv != 0) {
        snprintf(errmsg, TR_ERRMSG_SIZE, "%s", op.err);
    }
    tr_buf_free(&op.body);
    return rv;
}

/* ---- reads
 * --------------------------------------------------------------------- */

/* Strong reads: a Raft barrier on the shard's leader makes every entry
 * committed before the read applied here, and proves leadership. */
struct cl_barrier {
    struct tr_cluster *c;
    int64_t window;
    uint16_t slot;
    int rv;
    struct raft_barrier req;
    struct cl_call call;
};

static void barrier__done(struct raft_barrier *req, int status)
{
    struct cl_barrier *b = req->data;
    b->rv = status == 0 ? 0 : TR_EUNAVAIL;
    cl_call_done(&b->call);
}

static void barrier__start(void *arg)
{
    struct cl_barrier *b = arg;
    struct cl_group *g = cl_group_find(b->c, b->window, b->slot);
    if (g == NULL || g->fsm.catching_up || !tr_raft_group_is_leader(g->g)) {
        b->rv = TR_EUNAVAIL;
        cl_call_done(&b->call);
        return;
    }
    b->req.data = b;
    if (raft_barrier(tr_raft_group_raft(g->g), &b->req, barrier__done) != 0) {
        b->rv = TR_EUNAVAIL;
        cl_call_done(&b->call);
    }
}

/* Worker thread: 0 when this node leads the shard and has applied every
 * committed entry. */
static int cl__leader_barrier(struct tr_cluster *c,
                              int64_t window,
                              uint16_t slot)
{
    struct cl_barrier b;
    memset(&b, 0, sizeof(b));
    b.c = c;
    b.window = window;
    b.slot = slot;
    cl_call_init(&b.call, 1);
    if (tr_rpc_run_on_loop(c->rpc, barrier__start, &b) == 0) {
        cl_call_wait(&b.call);
    } else {
        b.rv = TR_ENOMEM;
    }
    cl_call_destroy(&b.call);
    return b.rv;
}

enum { SEL_SELECT = 1, SEL_NAMES = 2, SEL_VALUES = 3 };

static void sel__put_bytes(struct tr_buf *b, struct tr_slice s)
{
    tr_buf_put_uvarint(b, s.len);
    tr_buf_append(b, s.base, s.len);
}

static int sel__get_bytes(struct tr_cursor *c, struct tr_slice *s)
{
    uint64_t l;
    if (tr_cursor_uvarint(c, &l) != 0) {
        return TR_EPROTO;
    }
    return tr_cursor_bytes(c, l, s) == 0 ? 0 : TR_EPROTO;
}

static void sel__encode_req(struct tr_buf *b,
                            int op,
                            struct tr_slice tenant,
                            int64_t window,
                            uint16_t slot,
                            const struct tr_select_hints *h,
                            const struct tr_slice *name,
                            const struct tr_matcher *ms,
                            size_t n)
{
    tr_buf_putc(b, (char)op);
    sel__put_bytes(b, tenant);
    tr_buf_put_varint(b, window);
    tr_buf_put_uvarint(b, slot);
    tr_buf_put_varint(b, h->mint);
    tr_buf_put_varint(b, h->maxt);
    tr_buf_putc(b, (char)((h->no_samples ? 1 : 0) | (h->leader_only ? 2 : 0)));
    tr_buf_put_uvarint(b, h->limit);
    tr_buf_put_uvarint(b, h->max_series);
    tr_buf_put_uvarint(b, h->max_samples);
    if (op == SEL_VALUES) {
        sel__put_bytes(b, *name);
    }
    tr_buf_put_uvarint(b, n);
    for (size_t i = 0; i < n; i++) {
        tr_buf_putc(b, (char)ms[i].type);
        sel__put_bytes(b, tr_slice_cstr(ms[i].name));
        sel__put_bytes(b, (struct tr_slice){ms[i].value, ms[i].value_len});
    }
}

static void sel__encode_result(struct tr_buf *b,
                               const struct tr_select_result *r)
{
    struct tr_buf lb;
    tr_buf_init(&lb);
    tr_buf_putc(b, r->truncated ? 1 : 0);
    tr_buf_put_uvarint(b, r->n_series);
    for (size_t i = 0; i < r->n_series; i++) {
        const struct tr_series_data *sd = &r->series[i];
        tr_buf_reset(&lb);
        tr_labels_encode(sd->labels, sd->n_labels, &lb);
        sel__put_bytes(b, (struct tr_slice){lb.data, lb.len});
        tr_buf_put_uvarint(b, sd->n_samples);
        int64_t prev = 0;
        for (size_t j = 0; j < sd->n_samples; j++) {
            tr_buf_put_varint(
                b, (int64_t)((uint64_t)sd->samples[j].t - (uint64_t)prev));
            prev = sd->samples[j].t;
            uint64_t bits;
            memcpy(&bits, &sd->samples[j].v, 8);
            unsigned char le[8];
            for (int k = 0; k < 8; k++) {
                le[k] = (unsigned char)(bits >> (8 * k));
            }
            tr_buf_append(b, le, 8);
        }
    }
    tr_buf_free(&lb);
}

/* Decodes a select response into r (arena-backed; r initialised here). */
static int sel__decode_result(const void *buf,
                              size_t len,
                              struct tr_select_result *r)
{
    memset(r, 0, sizeof(*r));
    tr_arena_init(&r->arena, 64 * 1024);
    struct tr_cursor c = tr_cursor_make(buf, len);
    uint8_t trunc;
    uint64_t n;
    if (tr_cursor_u8(&c, &trunc) != 0 || tr_cursor_uvarint(&c, &n) != 0 ||
        n > len) {
        return TR_EPROTO;
    }
    r->truncated = trunc != 0;
    r->series = tr_arena_alloc(&r->arena, (n ? n : 1) * sizeof(*r->series));
    if (r->series == NULL) {
        return TR_ENOMEM;
    }
    char *copy = tr_arena_memdup(&r->arena, buf, len ? len : 1);
    if (copy == NULL) {
        return TR_ENOMEM;
    }
    c = tr_cursor_make(copy, len);
    tr_cursor_u8(&c, &trunc);
    tr_cursor_uvarint(&c, &n);
    for (uint64_t i = 0; i < n; i++) {
        struct tr_series_data *sd = &r->series[i];
        struct tr_slice enc;
        uint64_t ns;
        if (sel__get_bytes(&c, &enc) != 0 ||
            tr_labels_decode(enc.base, enc.len, &r->arena, &sd->labels,
                             &sd->n_labels) != 0 ||
            tr_cursor_uvarint(&c, &ns) != 0 || ns > tr_cursor_left(&c)) {
            return TR_EPROTO;
        }
        sd->samples =
            tr_arena_alloc(&r->arena, (ns ? ns : 1) * sizeof(struct tr_sample));
        if (sd->samples == NULL) {
            return TR_ENOMEM;
        }
        int64_t prev = 0;
        for (uint64_t j = 0; j < ns; j++) {
            int64_t d;
            struct tr_slice vb;
            if (tr_cursor_varint(&c, &d) != 0 ||
                tr_cursor_bytes(&c, 8, &vb) != 0) {
                return TR_EPROTO;
            }
            prev = (int64_t)((uint64_t)prev + (uint64_t)d);
            uint64_t bits = 0;
            for (int k = 7; k >= 0; k--) {
                bits = (bits << 8) | (uint8_t)vb.base[k];
            }
            sd->samples[j].t = prev;
            memcpy(&sd->samples[j].v, &bits, 8);
        }
        sd->n_samples = ns;
        r->n_series++;
    }
    return 0;
}

static void sel__encode_strings(struct tr_buf *b,
                                const struct tr_string_list *l)
{
    tr_buf_putc(b, l->truncated ? 1 : 0);
    tr_buf_put_uvarint(b, l->n);
    for (size_t i = 0; i < l->n; i++) {
        sel__put_bytes(b, l->items[i]);
    }
}

static int sel__decode_strings(const void *buf,
                               size_t len,
                               struct tr_string_list *l)
{
    memset(l, 0, sizeof(*l));
    tr_arena_init(&l->arena, 16 * 1024);
    char *copy = tr_arena_memdup(&l->arena, buf, len ? len : 1);
    if (copy == NULL) {
        return TR_ENOMEM;
    }
    struct tr_cursor c = tr_cursor_make(copy, len);
    uint8_t trunc;
    uint64_t n;
    if (tr_cursor_u8(&c, &trunc) != 0 || tr_cursor_uvarint(&c, &n) != 0 ||
        n > len) {
        return TR_EPROTO;
    }
    l->truncated = trunc != 0;
    l->items = tr_arena_alloc(&l->arena, (n ? n : 1) * sizeof(*l->items));
    if (l->items == NULL) {
        return TR_ENOMEM;
    }
    for (uint64_t i = 0; i < n; i++) {
        if (sel__get_bytes(&c, &l->items[i]) != 0) {
            return TR_EPROTO;
        }
        l->n++;
    }
    return 0;
}

int cl_select_serve(struct tr_cluster *c,
                    const void *req,
                    size_t len,
                    struct tr_buf *out,
                    char *errmsg)
{
    struct tr_cursor cur = tr_cursor_make(req, len);
    uint8_t op, flags;
    struct tr_slice tenant, name = {NULL, 0};
    int64_t window;
    uint64_t slot, limit, max_series, max_samples, n;
    struct tr_select_hints h;
    memset(&h, 0, sizeof(h));
    if (tr_cursor_u8(&cur, &op) != 0 || op < SEL_SELECT || op > SEL_VALUES ||
        sel__get_bytes(&cur, &tenant) != 0 ||
        tr_cursor_varint(&cur, &window) != 0 ||
        tr_cursor_uvarint(&cur, &slot) != 0 || slot > UINT16_MAX ||
        tr_cursor_varint(&cur, &h.mint) != 0 ||
        tr_cursor_varint(&cur, &h.maxt) != 0 ||
        tr_cursor_u8(&cur, &flags) != 0 ||
        tr_cursor_uvarint(&cur, &limit) != 0 ||
        tr_cursor_uvarint(&cur, &max_series) != 0 ||
        tr_cursor_uvarint(&cur, &max_samples) != 0 ||
        (op == SEL_VALUES && sel__get_bytes(&cur, &name) != 0) ||
        tr_cursor_uvarint(&cur, &n) != 0 || n > 256) {
        return tr_errf(TR_EPROTO, errmsg, "malformed select request");
    }
    h.no_samples = flags & 1;
    /* a replica without a running, caught-up group for the shard may hold
     * partial data: let the coordinator ask another one */
    bool serving = false;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_stats; i++) {
        if (c->stats[i].window == window && c->stats[i].slot == slot) {
            serving = !c->stats[i].catching_up;
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (!serving) {
        return tr_errf(TR_EUNAVAIL, errmsg, "shard not served by this replica");
    }
    if ((flags & 2) && cl__leader_barrier(c, window, (uint16_t)slot) != 0) {
        /* strong consistency: only the shard's current leader answers */
        return tr_errf(TR_EUNAVAIL, errmsg, "not the shard's leader");
    }
    h.limit = limit;
    h.max_series = max_series;
    h.max_samples = max_samples;
    struct tr_shard_id only = {window, (uint16_t)slot};
    h.shards = &only;
    h.n_shards = 1;
    struct tr_matcher *ms = tr_calloc(n ? n : 1, sizeof(*ms));
    size_t nm = 0;
    int rv = ms ? 0 : TR_ENOMEM;
    char tn[TR_CATALOG_NAME_MAX + 100];
    for (uint64_t i = 0; i < n && rv == 0; i++) {
        uint8_t t;
        struct tr_slice mn, mv;
        if (tr_cursor_u8(&cur, &t) != 0 || t > TR_MATCH_NRE ||
            sel__get_bytes(&cur, &mn) != 0 || sel__get_bytes(&cur, &mv) != 0 ||
            mn.len >= sizeof(tn)) {
            rv = tr_errf(TR_EPROTO, errmsg, "malformed matcher");
            break;
        }
        memcpy(tn, mn.base, mn.len);
        tn[mn.len] = '\0';
        rv = tr_matcher_init(&ms[nm], (enum tr_match_type)t, tn, mv.base,
                             mv.len, errmsg);
        if (rv == 0) {
            nm++;
        }
    }
    const struct tr_select_source *src = tr_storage_source(c->storage);
    if (rv == 0 && op == SEL_SELECT) {
        struct tr_select_result r;
        rv = src->select(src->impl, tenant, ms, nm, &h, &r, errmsg);
        if (rv == 0) {
            sel__encode_result(out, &r);
            tr_select_result_free(&r);
        }
    } else if (rv == 0) {
        struct tr_string_list l;
        rv = op == SEL_NAMES
                 ? src->label_names(src->impl, tenant, ms, nm, &h, &l, errmsg)
                 : src->label_values(src->impl, tenant, name, ms, nm, &h, &l,
                                     errmsg);
        if (rv == 0) {
            sel__encode_strings(out, &l);
            tr_string_list_free(&l);
        }
    }
    for (size_t i = 0; i < nm; i++) {
        tr_matcher_free(&ms[i]);
    }
    tr_free(ms);
    return rv;
}

/* A shard to read: where. */
struct sel_shard {
    int64_t window;
    uint16_t slot;
    uint64_t replicas[TR_CATALOG_MAX_REPLICAS];
    uint8_t n;
    bool local;
};

/* Shards of windows overlapping [mint, maxt] (under the meta mutex);
 * local = this node may answer (a replica that is not catching up, and the
 * leader when leader_only). */
static size_t sel__shards(struct tr_cluster *c,
                          int64_t mint,
                          int64_t maxt,
                          bool leader_only,
                          struct sel_shard **out)
{
    pthread_mutex_lock(&c->meta_fsm.mu);
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    size_t n = 0;
    struct sel_shard *v =
        tr_calloc(cat->n_shards ? cat->n_shards : 1, sizeof(*v));
    for (size_t i = 0; v != NULL && i < cat->n_shards; i++) {
        const struct tr_catalog_shard *sh = &cat->shards[i];
        if (sh->signal != CL_SIGNAL || sh->state == TR_SHARD_DELETED ||
            sh->window > maxt || sh->window + sh->window_ms <= mint) {
            continue;
        }
        struct sel_shard *s = &v[n++];
        s->window = sh->window;
        s->slot = sh->slot;
        s->n = sh->n_replicas;
        memcpy(s->replicas, sh->replicas, sizeof(s->replicas));
        for (size_t r = 0; r < sh->n_replicas; r++) {
            s->local = s->local || sh->replicas[r] == c->self.id;
        }
    }
    pthread_mutex_unlock(&c->meta_fsm.mu);
    if (v != NULL) {
        pthread_mutex_lock(&c->mu);
        for (size_t i = 0; i < n; i++) {
            /* local only with a running group for the shard */
            bool running = false;
            for (size_t k = 0; k < c->n_stats; k++) {
                running = running || (c->stats[k].window == v[i].window &&
                                      c->stats[k].slot == v[i].slot);
            }
            v[i].local = v[i].local && running;
            for (size_t k = 0; k < c->n_stats; k++) {
                if (c->stats[k].window == v[i].window &&
                    c->stats[k].slot == v[i].slot &&
                    (c->stats[k].catching_up ||
                     (leader_only && c->stats[k].state != RAFT_LEADER &&
                      c->stats[k].leader != 0))) {
                    v[i].local = false; /* no reads while catching up */
                }
            }
        }
        pthread_mutex_unlock(&c->mu);
    }
    *out = v;
    return n;
}

/* Sends req to the shard's replicas in turn until one answers 200. */
static int sel__remote_once(struct tr_cluster *c,
                            const struct sel_shard *sh,
                            const struct tr_buf *req,
                            struct tr_buf *resp,
                            char *errmsg)
{
    int rv = TR_EUNAVAIL;
    for (size_t i = 0; i < sh->n; i++) {
        char http[TR_CATALOG_ADDR_MAX], url[300];
        if (sh->replicas[i] == c->self.id ||
            !cl_node_http(c, sh->replicas[i], http, sizeof(http))) {
            continue;
        }
        snprintf(url, sizeof(url), "http://%s/internal/v1/select", http);
        long status = 0;
        tr_buf_reset(resp);
        rv = tr_rpc_call(c->rpc, url, req->data, req->len, NULL, 30000, &status,
                         resp);
        if (rv == 0 && status == 200) {
            return 0;
        }
        if (rv == 0 && status == 400) {
            return tr_errf(TR_EINVAL, errmsg, "%.*s", (int)resp->len,
                           resp->data);
        }
        rv = TR_EUNAVAIL;
    }
    return tr_errf(rv, errmsg,
                   "no replica of shard %" PRId64
                   "/%u answered (data of that "
                   "shard is unavailable)",
                   sh->window, sh->slot);
}

/* Asks the replicas; while a shard has no leader (election, leadership
 * transfer) a leader-only read retries for up to the write timeout. */
static int sel__remote(struct tr_cluster *c,
                       const struct sel_shard *sh,
                       const struct tr_buf *req,
                       struct tr_buf *resp,
                       bool leader_only,
                       char *errmsg)
{
    int64_t deadline = cl_now_ms() + c->cfg->cluster_write_timeout_ms;
    for (;;) {
        int rv = sel__remote_once(c, sh, req, resp, errmsg);
        if (rv != TR_EUNAVAIL || !leader_only || cl_now_ms() >= deadline) {
            return rv;
        }
        cl__sleep_ms(50);
    }
}

struct merge_ref {
    const struct tr_series_data *sd;
};

static int merge__cmp(const void *a, const void *b)
{
    const struct merge_ref *x = a, *y = b;
    return tr_labels_cmp(x->sd->labels, x->sd->n_labels, y->sd->labels,
                         y->sd->n_labels);
}

static int merge__sample_cmp(const void *a, const void *b)
{
    const struct tr_sample *x = a, *y = b;
    return x->t < y->t ? -1 : (x->t > y->t ? 1 : 0);
}

static int merge__first_cmp(const void *a, const void *b)
{
    const struct merge_ref *x = a, *y = b;
    int64_t tx = x->sd->n_samples ? x->sd->samples[0].t : INT64_MIN;
    int64_t ty = y->sd->n_samples ? y->sd->samples[0].t : INT64_MIN;
    return tx < ty ? -1 : (tx > ty ? 1 : 0);
}

/* The samples of one series from several shards into dst, sorted and
 * unique; returns their number. Shards of different windows hold disjoint
 * time ranges, so the parts ordered by their first sample are usually
 * already in order; overlapping parts are sorted and deduplicated. */
static size_t merge__samples(struct merge_ref *refs,
                             size_t n,
                             struct tr_sample *dst)
{
    qsort(refs, n, sizeof(*refs), merge__first_cmp);
    size_t o = 0;
    bool sorted = true;
    for (size_t r = 0; r < n; r++) {
        const struct tr_series_data *sd = refs[r].sd;
        if (sd->n_samples == 0) {
            continue;
        }
        if (o > 0 && sd->samples[0].t <= dst[o - 1].t) {
            sorted = false;
        }
        memcpy(dst + o, sd->samples, sd->n_samples * sizeof(*dst));
        o += sd->n_samples;
    }
    if (sorted || o < 2) {
        return o;
    }
    qsort(dst, o, sizeof(*dst), merge__sample_cmp);
    size_t u = 1;
    for (size_t s = 1; s < o; s++) {
        if (dst[s].t != dst[u - 1].t) {
            dst[u++] = dst[s];
        }
    }
    return u;
}

/* Merges per-shard results into out: one series per label set, samples
 * sorted and unique. Takes over the parts' memory (their arenas are
 * empty afterwards). */
static int sel__merge(struct tr_select_result *parts,
                      size_t np,
                      const struct tr_select_hints *h,
                      struct tr_select_result *out,
                      char *errmsg)
{
    memset(out, 0, sizeof(*out));
    tr_arena_init(&out->arena, 64 * 1024);
    size_t total = 0;
    for (size_t i = 0; i < np; i++) {
        total += parts[i].n_series;
        out->truncated = out->truncated || parts[i].truncated;
    }
    struct merge_ref *refs = tr_malloc((total ? total : 1) * sizeof(*refs));
    out->series =
        tr_arena_alloc(&out->arena, (total ? total : 1) * sizeof(*out->series));
    if (refs == NULL || out->series == NULL) {
        tr_free(refs);
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < np; i++) {
        for (size_t j = 0; j < parts[i].n_series; j++) {
            refs[k++].sd = &parts[i].series[j];
        }
    }
    if (k > 1) {
        qsort(refs, k, sizeof(*refs), merge__cmp);
    }
    size_t samples = 0;
    int rv = 0;
    for (size_t i = 0; i < k && rv == 0;) {
        size_t j = i + 1;
        size_t ns = refs[i].sd->n_samples;
        while (j < k && merge__cmp(&refs[i], &refs[j]) == 0) {
            ns += refs[j].sd->n_samples;
            j++;
        }
        if (h->limit > 0 && out->n_series >= h->limit) {
            out->truncated = true;
            break;
        }
        struct tr_series_data *d = &out->series[out->n_series++];
        /* labels and single-part samples stay in the parts' memory, which
         * out adopts below */
        d->n_labels = refs[i].sd->n_labels;
        d->labels = refs[i].sd->labels;
        size_t o;
        if (j - i == 1) {
            d->samples = refs[i].sd->samples;
            o = refs[i].sd->n_samples;
        } else {
            d->samples = tr_arena_alloc(&out->arena,
                                        (ns ? ns : 1) * sizeof(*d->samples));
            if (d->samples == NULL) {
                rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
                break;
            }
            o = merge__samples(&refs[i], j - i, d->samples);
        }
        d->n_samples = o;
        samples += o;
        if (h->max_samples > 0 && samples > h->max_samples) {
            rv = tr_errf(TR_ELIMIT, errmsg,
                         "query processing would load too many samples into "
                         "memory in query execution");
        }
        i = j;
    }
    if (rv == 0 && h->max_series > 0 && out->n_series > h->max_series) {
        rv = tr_errf(TR_ELIMIT, errmsg,
                     "query would select more series than the limit of %zu",
                     h->max_series);
    }
    for (size_t i = 0; i < np; i++) {
        tr_arena_adopt(&out->arena, &parts[i].arena);
    }
    tr_free(refs);
    return rv;
}

static int cl__select(void *impl,
                      struct tr_slice tenant,
                      const struct tr_matcher *ms,
                      size_t n,
                      const struct tr_select_hints *h,
                      struct tr_select_result *out,
                      char *errmsg)
{
    struct tr_cluster *c = impl;
    struct sel_shard *shards;
    size_t ns = sel__shards(c, h->mint, h->maxt, h->leader_only, &shards);
    if (shards == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    struct tr_select_result *parts = tr_calloc(ns + 1, sizeof(*parts));
    int rv = parts ? 0 : tr_errf(TR_ENOMEM, errmsg, "out of memory");
    const struct tr_select_source *local = tr_storage_source(c->storage);
    struct tr_buf req, resp;
    tr_buf_init(&req);
    tr_buf_init(&resp);
    /* every shard this node can answer is read in one local select (the
     * storage merges a series' windows itself), the others one request
     * each; parts[0] is the local one */
    struct tr_shard_id *locals = tr_calloc(ns ? ns : 1, sizeof(*locals));
    size_t nl = 0, np = 1;
    if (locals == NULL && rv == 0) {
        rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    for (size_t i = 0; i < ns && rv == 0; i++) {
        struct sel_shard *sh = &shards[i];
        if (sh->local && (!h->leader_only ||
                          cl__leader_barrier(c, sh->window, sh->slot) == 0)) {
            locals[nl].window = sh->window;
            locals[nl++].slot = sh->slot;
            continue;
        }
        struct tr_select_hints hh = *h;
        struct tr_shard_id only = {sh->window, sh->slot};
        hh.shards = &only;
        hh.n_shards = 1;
        tr_buf_reset(&req);
        sel__encode_req(&req, SEL_SELECT, tenant, sh->window, sh->slot, &hh,
                        NULL, ms, n);
        rv = sel__remote(c, sh, &req, &resp, h->leader_only, errmsg);
        if (rv == 0 &&
            sel__decode_result(resp.data, resp.len, &parts[np]) != 0) {
            rv = tr_errf(TR_EUNAVAIL, errmsg, "bad select response");
        }
        np++;
    }
    if (rv == 0 && nl > 0) {
        struct tr_select_hints hh = *h;
        hh.shards = locals;
        hh.n_shards = nl;
        rv = local->select(local->impl, tenant, ms, n, &hh, &parts[0], errmsg);
    }
    if (rv == 0 && np == 1) {
        *out = parts[0]; /* only local shards: nothing to merge */
        memset(&parts[0], 0, sizeof(parts[0]));
        if (nl == 0) {
            tr_arena_init(&out->arena, 1024);
        }
    } else if (rv == 0) {
        rv = sel__merge(parts, np, h, out, errmsg);
        if (rv != 0) {
            tr_select_result_free(out); /* as the storage's select does */
        }
    } else {
        memset(out, 0, sizeof(*out));
    }
    for (size_t i = 0; parts != NULL && i < np && i <= ns; i++) {
        tr_select_result_free(&parts[i]);
    }
    tr_free(parts);
    tr_free(locals);
    tr_free(shards);
    tr_buf_free(&req);
    tr_buf_free(&resp);
    return rv;
}

static int strs__cmp(const void *a, const void *b)
{
    return tr_slice_cmp(*(const struct tr_slice *)a,
                        *(const struct tr_slice *)b);
}

static int cl__strings(struct tr_cluster *c,
                       int op,
                       struct tr_slice tenant,
                       const struct tr_slice *name,
                       const struct tr_matcher *ms,
                       size_t n,
                       const struct tr_select_hints *h,
                       struct tr_string_list *out,
                       char *errmsg)
{
    struct sel_shard *shards;
    size_t ns = sel__shards(c, h->mint, h->maxt, h->leader_only, &shards);
    if (shards == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    struct tr_string_list *parts = tr_calloc(ns ? ns : 1, sizeof(*parts));
    int rv = parts ? 0 : tr_errf(TR_ENOMEM, errmsg, "out of memory");
    const struct tr_select_source *local = tr_storage_source(c->storage);
    struct tr_buf req, resp;
    tr_buf_init(&req);
    tr_buf_init(&resp);
    size_t total = 0;
    for (size_t i = 0; i < ns && rv == 0; i++) {
        struct sel_shard *sh = &shards[i];
        struct tr_select_hints hh = *h;
        struct tr_shard_id only = {sh->window, sh->slot};
        hh.shards = &only;
        hh.n_shards = 1;
        if (sh->local && (!h->leader_only ||
                          cl__leader_barrier(c, sh->window, sh->slot) == 0)) {
            rv = op == SEL_NAMES
                     ? local->label_names(local->impl, tenant, ms, n, &hh,
                                          &parts[i], errmsg)
                     : local->label_values(local->impl, tenant, *name, ms, n,
                                           &hh, &parts[i], errmsg);
        } else {
            tr_buf_reset(&req);
            sel__encode_req(&req, op, tenant, sh->window, sh->slot, &hh, name,
                            ms, n);
            rv = sel__remote(c, sh, &req, &resp, h->leader_only, errmsg);
            if (rv == 0 &&
                sel__decode_strings(resp.data, resp.len, &parts[i]) != 0) {
                rv = tr_errf(TR_EUNAVAIL, errmsg, "bad label response");
            }
        }
        total += parts[i].n;
    }
    memset(out, 0, sizeof(*out));
    tr_arena_init(&out->arena, 16 * 1024);
    if (rv == 0) {
        struct tr_slice *all = tr_malloc((total ? total : 1) * sizeof(*all));
        out->items = tr_arena_alloc(&out->arena,
                                    (total ? total : 1) * sizeof(*out->items));
        if (all == NULL || out->items == NULL) {
            rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
        } else {
            size_t k = 0;
            for (size_t i = 0; i < ns; i++) {
                for (size_t j = 0; j < parts[i].n; j++) {
                    all[k++] = parts[i].items[j];
                }
                out->truncated = out->truncated || parts[i].truncated;
            }
            if (k > 1) {
                qsort(all, k, sizeof(*all), strs__cmp);
            }
            for (size_t i = 0; i < k; i++) {
                if (i > 0 && tr_slice_eq(all[i], all[i - 1])) {
                    continue;
                }
                if (h->limit > 0 && out->n >= h->limit) {
                    out->truncated = true;
                    break;
                }
                out->items[out->n].base =
                    tr_arena_strndup(&out->arena, all[i].base, all[i].len);
                out->items[out->n].len = all[i].len;
                out->n++;
            }
        }
        tr_free(all);
    }
    for (size_t i = 0; parts != NULL && i < ns; i++) {
        tr_string_list_free(&parts[i]);
    }
    tr_free(parts);
    tr_free(shards);
    tr_buf_free(&req);
    tr_buf_free(&resp);
    return rv;
}

static int cl__label_names(void *impl,
                           struct tr_slice tenant,
                           const struct tr_matcher *ms,
                           size_t n,
                           const struct tr_select_hints *h,
                           struct tr_string_list *out,
                           char *errmsg)
{
    return cl__strings(impl, SEL_NAMES, tenant, NULL, ms, n, h, out, errmsg);
}

static int cl__label_values(void *impl,
                            struct tr_slice tenant,
                            struct tr_slice name,
                            const struct tr_matcher *ms,
                            size_t n,
                            const struct tr_select_hints *h,
                            struct tr_string_list *out,
                            char *errmsg)
{
    return cl__strings(impl, SEL_VALUES, tenant, &name, ms, n, h, out, errmsg);
}

void cl_io_init_source(struct tr_cluster *c)
{
    c->source.version = 1;
    c->source.impl = c;
    c->source.select = cl__select;
    c->source.label_names = cl__label_names;
    c->source.label_values = cl__label_values;
}

const struct tr_select_source *tr_cluster_source(struct tr_cluster *c)
{
    return &c->source;
}
