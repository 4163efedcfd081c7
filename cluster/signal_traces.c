/* signal_traces.c - the traces signal in the cluster: splitting an OTLP
 * export into per-shard entries (trace = tenant + trace id, shard =
 * (traces, window(span start), jump_hash(hash(tenant, trace id), K))),
 * the trace-by-id read over the parallel fan-out, serving it for other
 * nodes, and merging the shards' spans (a span id seen twice in a trace
 * is kept once).
 *
 *   traces read request (after the generic read header, cluster/read.c):
 *                  u8 op: 1 = trace by id: uvarint + tenant, 16 bytes
 *                  trace id; 2 = a pushed-down query: the bytes of the
 *                  server's request (tr_cluster_traces_fn)
 *   trace-by-id response: one span batch (storage/trace_entry.h) with the
 *                  trace's spans in the node's shards that were asked
 *   pushed-down response: the server function's answer
 */
#include "storage/trace_store.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/hash.h"
#include "storage/trace_entry.h"
#include "storage/trace_store.h"

enum { ST_TRACE_BY_ID = 1, ST_PUSHED = 2 };

/* ---- writes ------------------------------------------------------------- */

struct st_build {
    struct tr_shard_id id;
    struct tr_span_batch_builder bb;
};

/* The batch of shard (w, slot), added when new (zeroed: an empty
 * builder). */
static struct st_build *st__batch(struct st_build **bs,
                                  size_t *nb,
                                  size_t *capb,
                                  int64_t w,
                                  uint16_t slot)
{
    return cl_shard_elem((void **)bs, nb, capb, sizeof(**bs), TR_SIGNAL_TRACES,
                         w, slot);
}

int tr_cluster_write_traces(struct tr_cluster *c,
                            struct tr_slice tenant,
                            const struct tr_otlp_traces *req,
                            const bool *skip,
                            struct tr_apply_result *res,
                            char *errmsg)
{
    memset(res, 0, sizeof(*res));
    int64_t deadline = cl_mono_ms() + c->cfg.write_timeout_ms;
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    uint64_t tseed = tr_hash64(tenant.base, tenant.len, 0x74726163);
    struct st_build *bs = NULL;
    size_t nb = 0, capb = 0, k = 0;
    int rv = 0;
    int64_t last_w = INT64_MIN;
    uint16_t last_k = 0;
    for (size_t r = 0; r < req->n_resources && rv == 0; r++) {
        const struct tr_otlp_resource_group *rg = &req->resources[r];
        for (size_t s = 0; s < rg->n_scopes && rv == 0; s++) {
            const struct tr_otlp_scope_group *sg = &rg->scopes[s];
            for (size_t i = 0; i < sg->n_items && rv == 0; i++, k++) {
                if (skip != NULL && skip[k]) {
                    continue;
                }
                const struct tr_otlp_span *sp = &sg->spans[i];
                int64_t ms = (int64_t)(sp->start_time_unix_nano / 1000000);
                int64_t w = cl_window_start(c, ms);
                if (w != last_w) {
                    rv = cl_window_k(c, TR_SIGNAL_TRACES, w, deadline, &last_k,
                                     errmsg);
                    if (rv != 0) {
                        break;
                    }
                    last_w = w;
                }
                uint64_t h =
                    tr_hash64(sp->trace_id.base, sp->trace_id.len, tseed);
                uint16_t slot = (uint16_t)tr_jump_hash(h, last_k);
                struct st_build *b = st__batch(&bs, &nb, &capb, w, slot);
                if (b == NULL ||
                    tr_span_batch_builder_add(&b->bb, &a, &rg->resource,
                                              &sg->scope, sp) != 0) {
                    rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
                }
            }
        }
    }
    struct cl_batch *batches =
        rv == 0 ? tr_calloc(nb ? nb : 1, sizeof(*batches)) : NULL;
    if (rv == 0 && batches == NULL) {
        rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    for (size_t b = 0; b < nb && rv == 0; b++) {
        batches[b].id = bs[b].id;
        tr_buf_init(&batches[b].entry);
        tr_buf_init(&batches[b].plain);
        struct tr_entry_traces e = {.tenant = tenant, .batch = bs[b].bb.b};
        rv = tr_entry_traces_encode(&e, &batches[b].entry, &batches[b].plain);
        if (rv != 0) {
            rv = tr_errf(rv, errmsg,
                         rv == TR_EINVAL ? "a span id or trace id of the wrong "
                                           "length"
                                         : "out of memory");
        }
    }
    if (rv == 0 && nb > 0) {
        rv = cl_write_batches(c, batches, nb, deadline, res, errmsg);
    }
    for (size_t b = 0; batches != NULL && b < nb; b++) {
        tr_buf_free(&batches[b].entry);
        tr_buf_free(&batches[b].plain);
    }
    tr_free(batches);
    tr_free(bs);
    tr_arena_free(&a);
    return rv;
}

/* Leader: nothing of a traces entry is cut at admission (the per-request
 * limits are checked before routing): the entry is proposed as it is. */
static int st__admit(struct tr_cluster *c,
                     const struct tr_shard_id *id,
                     const void *entry,
                     size_t len,
                     struct tr_buf *out,
                     struct tr_apply_result *res,
                     char *errmsg)
{
    (void)c;
    (void)id;
    (void)res;
    int rv = tr_buf_append(out, entry, len);
    return rv == 0 ? 0 : tr_errf(TR_ENOMEM, errmsg, "out of memory");
}

/* ---- reads ----------------------------------------------------------------
 */

static int st__req_parse(const void *req,
                         size_t len,
                         struct tr_slice *tenant,
                         struct tr_slice *id,
                         char *errmsg)
{
    struct tr_cursor cur = tr_cursor_make(req, len);
    uint8_t op;
    uint64_t tl;
    if (tr_cursor_u8(&cur, &op) != 0 || op != ST_TRACE_BY_ID ||
        tr_cursor_uvarint(&cur, &tl) != 0 ||
        tr_cursor_bytes(&cur, tl, tenant) != 0 ||
        tr_cursor_bytes(&cur, TR_TRACE_ID_SIZE, id) != 0 ||
        tr_cursor_left(&cur) != 0) {
        return tr_errf(TR_EPROTO, errmsg, "malformed traces read request");
    }
    return 0;
}

static int st__serve_read(struct tr_cluster *c,
                          const struct tr_shard_id *ids,
                          size_t n,
                          uint64_t max_units,
                          const void *req,
                          size_t len,
                          struct tr_buf *out,
                          char *errmsg)
{
    (void)max_units;
    const uint8_t *p = req;
    if (len >= 1 && p[0] == ST_PUSHED) {
        if (c->cfg.traces_fn == NULL) {
            return tr_errf(TR_EUNSUPPORTED, errmsg,
                           "traces queries are not served by this node");
        }
        return c->cfg.traces_fn(c->cfg.traces_arg,
                                tr_storage_trace_source(c->storage), ids, n,
                                p + 1, len - 1, out, errmsg);
    }
    struct tr_slice tenant, id;
    int rv = st__req_parse(req, len, &tenant, &id, errmsg);
    if (rv != 0) {
        return rv;
    }
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    struct tr_span_batch_builder bb;
    tr_span_batch_builder_init(&bb);
    rv = tr_storage_trace_get(c->storage, ids, n, tenant,
                              (const uint8_t *)id.base, &a, &bb, errmsg);
    if (rv == 0 && tr_span_batch_encode(&bb.b, out) != 0) {
        rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    tr_arena_free(&a);
    return rv;
}

static void st__stop_entry(struct tr_buf *out)
{
    uint8_t e[TR_ENTRY_TRACES_CUT_SIZE];
    tr_entry_traces_cut_encode(e);
    tr_buf_append(out, e, sizeof(e));
}

const struct cl_signal_ops cl_signal_traces = {
    .signal = TR_SIGNAL_TRACES,
    .admit = st__admit,
    .serve_read = st__serve_read,
    .stop_entry = st__stop_entry,
};

struct st_get {
    struct tr_cluster *c;
    struct tr_slice tenant;
    const uint8_t *id;
    struct tr_arena *a;
    struct tr_span_batch_builder bb;
};

static int st__get_local(void *arg,
                         const struct tr_shard_id *ids,
                         size_t n,
                         char *errmsg)
{
    struct st_get *g = arg;
    return tr_storage_trace_get(g->c->storage, ids, n, g->tenant, g->id, g->a,
                                &g->bb, errmsg);
}

static int st__get_remote(void *arg,
                          const struct tr_shard_id *ids,
                          size_t n,
                          struct cl_answer *ans,
                          char *errmsg)
{
    (void)ids;
    (void)n;
    struct st_get *g = arg;
    char *copy = tr_arena_memdup(g->a, ans->body, ans->len);
    if (copy == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    struct tr_cursor cur = tr_cursor_make(copy, ans->len);
    struct tr_span_batch b;
    int rv = tr_span_batch_decode(&cur, g->a, &b);
    if (rv == 0 && tr_cursor_left(&cur) != 0) {
        rv = TR_ECORRUPT;
    }
    if (rv != 0) {
        return tr_errf(rv == TR_ENOMEM ? rv : TR_EUNAVAIL, errmsg,
                       "bad trace-by-id response");
    }
    for (size_t i = 0; i < b.n_spans; i++) {
        const struct tr_batch_scope *sc = &b.scopes[b.spans[i].scope];
        if (tr_span_batch_builder_add(&g->bb, g->a, &b.resources[sc->resource],
                                      &sc->scope, &b.spans[i].span) != 0) {
            return tr_errf(TR_ENOMEM, errmsg, "out of memory");
        }
    }
    return 0;
}

int tr_cluster_trace_get(struct tr_cluster *c,
                         struct tr_slice tenant,
                         const uint8_t id[TR_TRACE_ID_SIZE],
                         int64_t start_ms,
                         int64_t end_ms,
                         struct tr_arena *a,
                         struct tr_span_batch *out,
                         char *errmsg)
{
    memset(out, 0, sizeof(*out));
    /* a trace in a window past the tenant's retention is not returned */
    start_ms = cl_retention_clip(c, TR_SIGNAL_TRACES, tenant, start_ms);
    struct st_get g = {.c = c, .tenant = tenant, .id = id, .a = a};
    tr_span_batch_builder_init(&g.bb);
    struct tr_buf req;
    tr_buf_init(&req);
    tr_buf_putc(&req, ST_TRACE_BY_ID);
    tr_buf_put_uvarint(&req, tenant.len);
    tr_buf_append(&req, tenant.base, tenant.len);
    tr_buf_append(&req, id, TR_TRACE_ID_SIZE);
    struct cl_read r = {
        .signal = TR_SIGNAL_TRACES,
        .mint = start_ms,
        .maxt = end_ms,
        .req = req.data,
        .req_len = req.len,
        .local = st__get_local,
        .remote = st__get_remote,
        .arg = &g,
    };
    int rv = req.oom ? tr_errf(TR_ENOMEM, errmsg, "out of memory")
                     : cl_read_run(c, &r, errmsg);
    tr_buf_free(&req);
    if (rv == 0 && tr_span_batch_dedup(&g.bb.b) != 0) {
        rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    if (rv == 0) {
        *out = g.bb.b;
    }
    return rv;
}

/* ---- pushed-down queries ------------------------------------------------- */

struct st_pushed {
    struct tr_cluster *c;
    const void *req; /* the server's request (without the op byte) */
    size_t len;
    int (*merge)(void *arg, const void *answer, size_t len, char *errmsg);
    void *arg;
};

static int st__pushed_local(void *arg,
                            const struct tr_shard_id *ids,
                            size_t n,
                            char *errmsg)
{
    struct st_pushed *p = arg;
    if (p->c->cfg.traces_fn == NULL) {
        return tr_errf(TR_EUNSUPPORTED, errmsg,
                       "traces queries are not served by this node");
    }
    struct tr_buf out;
    tr_buf_init(&out);
    int rv = p->c->cfg.traces_fn(p->c->cfg.traces_arg,
                                 tr_storage_trace_source(p->c->storage), ids, n,
                                 p->req, p->len, &out, errmsg);
    if (rv == 0 && out.oom) {
        rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    if (rv == 0) {
        rv = p->merge(p->arg, out.data, out.len, errmsg);
    }
    tr_buf_free(&out);
    return rv;
}

static int st__pushed_remote(void *arg,
                             const struct tr_shard_id *ids,
                             size_t n,
                             struct cl_answer *ans,
                             char *errmsg)
{
    (void)ids;
    (void)n;
    struct st_pushed *p = arg;
    return p->merge(p->arg, ans->body, ans->len, errmsg);
}

int tr_cluster_traces_query(
    struct tr_cluster *c,
    const void *req,
    size_t len,
    int64_t start_ms,
    int64_t end_ms,
    int (*merge)(void *arg, const void *answer, size_t len, char *errmsg),
    void *arg,
    char *errmsg)
{
    struct st_pushed p = {c, req, len, merge, arg};
    struct tr_buf r;
    tr_buf_init(&r);
    tr_buf_putc(&r, ST_PUSHED);
    tr_buf_append(&r, req, len);
    struct cl_read rd = {
        .signal = TR_SIGNAL_TRACES,
        .mint = start_ms,
        .maxt = end_ms,
        .req = r.data,
        .req_len = r.len,
        .local = st__pushed_local,
        .remote = st__pushed_remote,
        .arg = &p,
    };
    int rv = r.oom ? tr_errf(TR_ENOMEM, errmsg, "out of memory")
                   : cl_read_run(c, &rd, errmsg);
    tr_buf_free(&r);
    return rv;
}
