/* api_tempo_search.c - Tempo's search API: GET /api/search (TraceQL q=,
 * or the legacy tags= / minDuration / maxDuration), /api/search/tags,
 * /api/v2/search/tags, /api/search/tag/<t>/values and
 * /api/v2/search/tag/<t>/values.
 *
 * Every request is pushed down to the nodes that hold traces shards of
 * the time range (tr_cluster_traces_query): each node parses the query,
 * prunes blocks with the query's equalities, evaluates TraceQL over its
 * local traces (query/traceql/eval.h) and answers with at most `limit`
 * matching traces; this node merges the answers by trace id (a trace's
 * parts in several windows or blocks join), keeps the `limit` most recent
 * and writes Tempo's JSON. The coordinator's runs take their parameters
 * as values (server/tempo_search.h) and return results in
 * proto/tempo_pb.h's types, so that the StreamingQuerier gRPC service
 * (server/api_tempo_grpc.c) runs them too and writes protobuf instead.
 *
 *   pushed request  u8 kind (1 search, 2 tag names, 3 tag values, 4
 *                   metrics: server/api_tempo_metrics.c), str
 *                   tenant, u64 BE start ns, u64 BE end ns, then
 *                   search: str TraceQL, uvarint limit, uvarint spss;
 *                   names: uvarint scope mask (storage/trace_select.h);
 *                   values: u8 field, u8 second field (0: none), str key
 *   search answer   uvarint n traces, per trace: 16-byte id, u8 has
 *                   root, str root service, str root name, u64 BE start,
 *                   u64 BE end, uvarint n spansets, per spanset: uvarint
 *                   matched, kvs by() values, uvarint n spans, per span:
 *                   8-byte id, u64 BE start, u64 BE end, str name, kvs
 *                   attributes (storage/trace_entry.h's kvs encoding)
 *   names answer    uvarint n, per name: u8 scope bit, str name
 *   values answer   uvarint n, per value: str value encoding
 *   (str = uvarint length, bytes) */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/hash.h"
#include "lib/json.h"
#include "lib/u64map.h"
#include "proto/tempo_pb.h"
#include "query/traceql/eval.h"
#include "query/traceql/traceql.h"
#include "server/app.h"
#include "server/tempo_search.h"
#include "server/tempo_trace.h"

enum { TS_SEARCH = 1, TS_NAMES = 2, TS_VALUES = 3, TS_METRICS = 4 };
#define TS_DEFAULT_LIMIT TR_TEMPO_DEFAULT_LIMIT
#define TS_MAX_LIMIT TR_TEMPO_MAX_LIMIT
#define TS_DEFAULT_SPSS TR_TEMPO_DEFAULT_SPSS
#define TS_MAX_SPSS TR_TEMPO_MAX_SPSS
#define TS_MAX_NAMES TR_TEMPO_MAX_NAMES
#define TS_MAX_VALUES TR_TEMPO_MAX_VALUES
#define TS_MAX_TAGS 256 /* legacy tags of a protobuf search */

/* ---- small helpers ---------------------------------------------------------
 */

static void ts__str(struct tr_buf *b, struct tr_slice s)
{
    tr_buf_put_uvarint(b, s.len);
    tr_buf_append(b, s.base, s.len);
}

static int ts__str_get(struct tr_cursor *c, struct tr_slice *s)
{
    uint64_t n;
    return tr_cursor_uvarint(c, &n) == 0 && tr_cursor_bytes(c, n, s) == 0
               ? 0
               : TR_EPROTO;
}

static void ts__text(struct tr_http_response *resp, int status, const char *m)
{
    tr_buf_reset(&resp->body);
    tr_buf_puts(&resp->body, m);
    tr_buf_putc(&resp->body, '\n');
    resp->content_type = "text/plain; charset=utf-8";
    resp->status = status;
}

int tr_tempo_range(const struct tr_app *app,
                   int64_t start_s,
                   int64_t end_s,
                   uint64_t *start_ns,
                   uint64_t *end_ns)
{
    int64_t now = tr_now_ms();
    int64_t ret = app->cfg->retention_traces_ms > 0
                      ? app->cfg->retention_traces_ms
                      : 14 * 86400000LL;
    int64_t s = now - ret, e = now + 3600000;
    if (start_s > INT64_MAX / 1000000000LL ||
        end_s > INT64_MAX / 1000000000LL) {
        return TR_EINVAL;
    }
    if (start_s >= 0) {
        s = start_s * 1000;
    }
    if (end_s >= 0) {
        e = end_s * 1000 + 999;
    }
    if (s < 0) {
        s = 0;
    }
    if (e < s) {
        return TR_EINVAL;
    }
    *start_ns = (uint64_t)s * 1000000;
    *end_ns = (uint64_t)e * 1000000 + 999999;
    return 0;
}

/* start (ns) raised to the tenant's retention start: what waits for its
 * drop is never returned. */
static uint64_t ts__from(const struct tr_app *app,
                         const char *tenant,
                         uint64_t start)
{
    if (app->cluster == NULL) {
        return start;
    }
    int64_t ms =
        tr_cluster_retention_start(app->cluster, TR_SIGNAL_TRACES, tenant);
    return ms > 0 && (uint64_t)ms * 1000000 > start ? (uint64_t)ms * 1000000
                                                    : start;
}

/* start/end (Unix seconds) of a request (tr_tempo_range). 0 or
 * TR_EINVAL. */
static int ts__range(const struct tr_http_request *req,
                     uint64_t *start_ns,
                     uint64_t *end_ns)
{
    static const char *const names[2] = {"start", "end"};
    int64_t se[2] = {-1, -1};
    for (int i = 0; i < 2; i++) {
        const char *v = tr_http_form_get(req, names[i]);
        if (v != NULL && *v != '\0') {
            char *end;
            long long x = strtoll(v, &end, 10);
            if (*end != '\0' || x < 0 || x > INT64_MAX / 1000000000LL) {
                return TR_EINVAL;
            }
            se[i] = x;
        }
    }
    return tr_tempo_range(req->app, se[0], se[1], start_ns, end_ns);
}

static void ts__req_head(struct tr_buf *b,
                         int kind,
                         const char *tenant,
                         uint64_t start,
                         uint64_t end)
{
    tr_buf_putc(b, (char)kind);
    ts__str(b, tr_slice_cstr(tenant));
    tr_buf_put_u64be(b, start);
    tr_buf_put_u64be(b, end);
}

/* ---- one node's search
 * -------------------------------------------------------- */

struct ts_results {
    struct tr_arena *a;
    struct tr_tempo_trace *t;
    size_t n, cap;
    struct tr_u64map by_id; /* hash(id) -> index + 1 */
    size_t limit, spss;
    /* node side */
    struct tr_traceql_eval *ev;
    char *errmsg;
};

static uint64_t ts__idh(const uint8_t *id)
{
    return tr_hash64(id, 16, 0x73656172);
}

static bool ts__kvs_eq(const struct tr_otlp_kv *a,
                       size_t na,
                       const struct tr_otlp_kv *b,
                       size_t nb)
{
    if (na != nb) {
        return false;
    }
    struct tr_buf x, y;
    tr_buf_init(&x);
    tr_buf_init(&y);
    tr_trace_kvs_put(&x, a, na);
    tr_trace_kvs_put(&y, b, nb);
    bool eq = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
    tr_buf_free(&x);
    tr_buf_free(&y);
    return eq;
}

/* Merges src (a part of a trace, memory that lives in r->a) into r: a new
 * trace, or joined with the one of the same id. Over the limit, the
 * oldest trace gives way. 0 or TR_ENOMEM. */
static int ts__merge_trace(struct ts_results *r,
                           const struct tr_tempo_trace *src)
{
    uint64_t h = ts__idh(src->id);
    uintptr_t at = (uintptr_t)tr_u64map_get(&r->by_id, h);
    while (at != 0 && memcmp(r->t[at - 1].id, src->id, 16) != 0) {
        at = 0; /* a hash collision: keep apart (rare) */
    }
    if (at == 0) {
        if (r->n >= r->limit) {
            size_t oldest = 0;
            for (size_t i = 1; i < r->n; i++) {
                if (r->t[i].start < r->t[oldest].start) {
                    oldest = i;
                }
            }
            if (src->start <= r->t[oldest].start) {
                return 0;
            }
            tr_u64map_del(&r->by_id, ts__idh(r->t[oldest].id));
            r->t[oldest] = *src;
            return tr_u64map_put(&r->by_id, h, (void *)(oldest + 1));
        }
        if (r->n == r->cap) {
            void *nt = tr_arena_array_grow(r->a, r->t, r->n, &r->cap,
                                           sizeof(*r->t), 16);
            if (nt == NULL) {
                return TR_ENOMEM;
            }
            r->t = nt;
        }
        r->t[r->n++] = *src;
        return tr_u64map_put(&r->by_id, h, (void *)(uintptr_t)r->n);
    }
    struct tr_tempo_trace *d = &r->t[at - 1];
    d->start = src->start < d->start ? src->start : d->start;
    d->end = src->end > d->end ? src->end : d->end;
    if (!d->has_root && src->has_root) {
        d->has_root = true;
        d->root_service = src->root_service;
        d->root_name = src->root_name;
    }
    for (size_t i = 0; i < src->n_sets; i++) {
        const struct tr_tempo_spanset *s = &src->sets[i];
        size_t k = 0;
        while (k < d->n_sets &&
               !ts__kvs_eq(d->sets[k].by, d->sets[k].n_by, s->by, s->n_by)) {
            k++;
        }
        if (k == d->n_sets) {
            struct tr_tempo_spanset *ns =
                tr_arena_alloc(r->a, (d->n_sets + 1) * sizeof(*ns));
            if (ns == NULL) {
                return TR_ENOMEM;
            }
            memcpy(ns, d->sets, d->n_sets * sizeof(*ns));
            ns[d->n_sets++] = *s;
            d->sets = ns;
            continue;
        }
        struct tr_tempo_spanset *ds = &d->sets[k];
        ds->matched += s->matched;
        size_t room = r->spss > ds->n_spans ? r->spss - ds->n_spans : 0;
        size_t add = s->n_spans < room ? s->n_spans : room;
        if (add > 0) {
            struct tr_tempo_span *sp =
                tr_arena_alloc(r->a, (ds->n_spans + add) * sizeof(*sp));
            if (sp == NULL) {
                return TR_ENOMEM;
            }
            memcpy(sp, ds->spans, ds->n_spans * sizeof(*sp));
            memcpy(sp + ds->n_spans, s->spans, add * sizeof(*sp));
            ds->spans = sp;
            ds->n_spans += add;
        }
    }
    return 0;
}

static int ts__decode_answer(struct ts_results *r, const void *p, size_t len);

/* The visitor of a node's scan: evaluates one trace (or part). */
static int ts__visit(void *arg, const struct tr_span_batch *t, char *errmsg)
{
    struct ts_results *r = arg;
    struct tr_arena tmp;
    tr_arena_init(&tmp, 16 * 1024);
    struct tr_traceql_match m;
    int rv = tr_traceql_eval_trace(r->ev, t, &tmp, &m);
    if (rv != 0 || m.n == 0) {
        tr_arena_free(&tmp);
        return rv == 0 ? 0 : tr_errf(rv, errmsg, "out of memory");
    }
    struct tr_tempo_trace tr;
    memset(&tr, 0, sizeof(tr));
    memcpy(tr.id, t->spans[0].span.trace_id.base, 16);
    tr.start = UINT64_MAX;
    for (size_t i = 0; i < t->n_spans; i++) {
        const struct tr_otlp_span *s = &t->spans[i].span;
        tr.start = s->start_time_unix_nano < tr.start ? s->start_time_unix_nano
                                                      : tr.start;
        tr.end =
            s->end_time_unix_nano > tr.end ? s->end_time_unix_nano : tr.end;
        if (s->parent_span_id.len == 0 && !tr.has_root) {
            tr.has_root = true;
            const struct tr_batch_scope *sc = &t->scopes[t->spans[i].scope];
            const struct tr_otlp_resource *res = &t->resources[sc->resource];
            for (size_t k = 0; k < res->n_attrs; k++) {
                if (tr_slice_eq_cstr(res->attrs[k].key, "service.name") &&
                    res->attrs[k].value.type == TR_OTLP_STRING) {
                    tr.root_service = res->attrs[k].value.s;
                }
            }
            tr.root_name = s->name;
        }
    }
    const struct tr_traceql_attr *const *attrs;
    size_t n_attrs;
    tr_traceql_eval_attrs(r->ev, &attrs, &n_attrs);
    tr.sets = tr_arena_alloc(r->a, m.n * sizeof(*tr.sets));
    tr.n_sets = m.n;
    rv = tr.sets != NULL ? 0 : TR_ENOMEM;
    for (size_t k = 0; k < m.n && rv == 0; k++) {
        struct tr_tempo_spanset *s = &tr.sets[k];
        memset(s, 0, sizeof(*s));
        s->matched = m.sets[k].n;
        s->by = m.sets[k].by;
        s->n_by = m.sets[k].n_by;
        size_t ns = m.sets[k].n < r->spss ? m.sets[k].n : r->spss;
        s->spans = tr_arena_alloc(r->a, (ns ? ns : 1) * sizeof(*s->spans));
        if (s->spans == NULL) {
            rv = TR_ENOMEM;
            break;
        }
        for (size_t j = 0; j < ns; j++) {
            size_t i = m.sets[k].spans[j];
            const struct tr_otlp_span *sp = &t->spans[i].span;
            struct tr_tempo_span *o = &s->spans[s->n_spans++];
            memset(o, 0, sizeof(*o));
            o->id = sp->span_id;
            o->start = sp->start_time_unix_nano;
            o->end = sp->end_time_unix_nano;
            o->name = sp->name;
            o->attrs = tr_arena_alloc(
                r->a, (n_attrs ? n_attrs : 1) * sizeof(*o->attrs));
            if (o->attrs == NULL) {
                rv = TR_ENOMEM;
                break;
            }
            for (size_t q = 0; q < n_attrs; q++) {
                const struct tr_traceql_attr *at = attrs[q];
                struct tr_otlp_value v;
                if (at->intrinsic == TR_TQL_INTR_NAME ||
                    at->intrinsic == TR_TQL_INTR_DURATION ||
                    !tr_traceql_eval_value(r->ev, t, i, at, &tmp, &v)) {
                    continue;
                }
                o->attrs[o->n_attrs++] = (struct tr_otlp_kv){
                    (struct tr_slice){at->name, at->name_len}, v};
            }
        }
    }
    /* everything kept must outlive tmp and the scan's buffers: encode
     * the part into r's arena by a round trip through the wire form */
    struct tr_buf enc;
    tr_buf_init(&enc);
    if (rv == 0) {
        tr_buf_put_uvarint(&enc, 1);
        tr_buf_append(&enc, tr.id, 16);
        tr_buf_putc(&enc, tr.has_root ? 1 : 0);
        ts__str(&enc, tr.root_service);
        ts__str(&enc, tr.root_name);
        tr_buf_put_u64be(&enc, tr.start);
        tr_buf_put_u64be(&enc, tr.end);
        tr_buf_put_uvarint(&enc, tr.n_sets);
        for (size_t k = 0; k < tr.n_sets; k++) {
            const struct tr_tempo_spanset *s = &tr.sets[k];
            tr_buf_put_uvarint(&enc, s->matched);
            tr_trace_kvs_put(&enc, s->by, s->n_by);
            tr_buf_put_uvarint(&enc, s->n_spans);
            for (size_t j = 0; j < s->n_spans; j++) {
                const struct tr_tempo_span *o = &s->spans[j];
                tr_buf_append(&enc, o->id.base, 8);
                tr_buf_put_u64be(&enc, o->start);
                tr_buf_put_u64be(&enc, o->end);
                ts__str(&enc, o->name);
                tr_trace_kvs_put(&enc, o->attrs, o->n_attrs);
            }
        }
        rv = enc.oom ? TR_ENOMEM : 0;
    }
    tr_arena_free(&tmp);
    if (rv != 0) {
        tr_buf_free(&enc);
        return tr_errf(rv, errmsg, "out of memory");
    }
    char *copy = tr_arena_memdup(r->a, enc.data, enc.len);
    size_t len = enc.len;
    tr_buf_free(&enc);
    if (copy == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    rv = ts__decode_answer(r, copy, len);
    return rv == 0 ? 0 : tr_errf(rv, errmsg, "search result");
}

/* Decodes a search answer (memory that lives in r->a) and merges its
 * traces into r. 0, TR_EPROTO or TR_ENOMEM. */
static int ts__decode_answer(struct ts_results *r, const void *p, size_t len)
{
    struct tr_cursor c = tr_cursor_make(p, len);
    uint64_t nt;
    if (tr_cursor_uvarint(&c, &nt) != 0 || nt > len) {
        return TR_EPROTO;
    }
    for (uint64_t i = 0; i < nt; i++) {
        struct tr_tempo_trace t;
        memset(&t, 0, sizeof(t));
        struct tr_slice id;
        uint8_t hr;
        uint64_t ns;
        if (tr_cursor_bytes(&c, 16, &id) != 0 || tr_cursor_u8(&c, &hr) != 0 ||
            ts__str_get(&c, &t.root_service) != 0 ||
            ts__str_get(&c, &t.root_name) != 0 ||
            tr_cursor_u64be(&c, &t.start) != 0 ||
            tr_cursor_u64be(&c, &t.end) != 0 ||
            tr_cursor_uvarint(&c, &ns) != 0 || ns > tr_cursor_left(&c)) {
            return TR_EPROTO;
        }
        memcpy(t.id, id.base, 16);
        t.has_root = hr != 0;
        t.n_sets = ns;
        t.sets = tr_arena_alloc(r->a, (ns ? ns : 1) * sizeof(*t.sets));
        if (t.sets == NULL) {
            return TR_ENOMEM;
        }
        for (uint64_t k = 0; k < ns; k++) {
            struct tr_tempo_spanset *s = &t.sets[k];
            uint64_t nsp;
            memset(s, 0, sizeof(*s));
            if (tr_cursor_uvarint(&c, &s->matched) != 0 ||
                tr_trace_kvs_get(&c, r->a, 0,
                                 (const struct tr_otlp_kv **)&s->by,
                                 &s->n_by) != 0 ||
                tr_cursor_uvarint(&c, &nsp) != 0 ||
                nsp > tr_cursor_left(&c) / 24) {
                return TR_EPROTO;
            }
            s->spans =
                tr_arena_alloc(r->a, (nsp ? nsp : 1) * sizeof(*s->spans));
            if (s->spans == NULL) {
                return TR_ENOMEM;
            }
            for (uint64_t j = 0; j < nsp; j++) {
                struct tr_tempo_span *o = &s->spans[j];
                if (tr_cursor_bytes(&c, 8, &o->id) != 0 ||
                    tr_cursor_u64be(&c, &o->start) != 0 ||
                    tr_cursor_u64be(&c, &o->end) != 0 ||
                    ts__str_get(&c, &o->name) != 0 ||
                    tr_trace_kvs_get(&c, r->a, 0,
                                     (const struct tr_otlp_kv **)&o->attrs,
                                     &o->n_attrs) != 0) {
                    return TR_EPROTO;
                }
            }
            s->n_spans = nsp;
        }
        int rv = ts__merge_trace(r, &t);
        if (rv != 0) {
            return rv;
        }
    }
    return tr_cursor_left(&c) == 0 ? 0 : TR_EPROTO;
}

static void ts__encode_answer(const struct ts_results *r, struct tr_buf *out)
{
    tr_buf_put_uvarint(out, r->n);
    for (size_t i = 0; i < r->n; i++) {
        const struct tr_tempo_trace *t = &r->t[i];
        tr_buf_append(out, t->id, 16);
        tr_buf_putc(out, t->has_root ? 1 : 0);
        ts__str(out, t->root_service);
        ts__str(out, t->root_name);
        tr_buf_put_u64be(out, t->start);
        tr_buf_put_u64be(out, t->end);
        tr_buf_put_uvarint(out, t->n_sets);
        for (size_t k = 0; k < t->n_sets; k++) {
            const struct tr_tempo_spanset *s = &t->sets[k];
            tr_buf_put_uvarint(out, s->matched);
            tr_trace_kvs_put(out, s->by, s->n_by);
            tr_buf_put_uvarint(out, s->n_spans);
            for (size_t j = 0; j < s->n_spans; j++) {
                const struct tr_tempo_span *o = &s->spans[j];
                tr_buf_append(out, o->id.base, 8);
                tr_buf_put_u64be(out, o->start);
                tr_buf_put_u64be(out, o->end);
                ts__str(out, o->name);
                tr_trace_kvs_put(out, o->attrs, o->n_attrs);
            }
        }
    }
}

/* Parses and validates a TraceQL search query. */
static int ts__parse(const char *q,
                     size_t len,
                     struct tr_arena *a,
                     struct tr_traceql_query **out,
                     char *errmsg)
{
    int rv = tr_traceql_parse(q, len, a, out, errmsg);
    if (rv == 0) {
        rv = tr_traceql_validate(*out, errmsg);
    }
    if (rv == 0 && (*out)->kind == TR_TQL_Q_METRICS) {
        rv = tr_errf(TR_EINVAL, errmsg,
                     "metrics queries are answered by /api/metrics/query_range "
                     "and /api/metrics/query, not by search");
    }
    return rv;
}

static int ts__node_search(const struct tr_trace_source *src,
                           const struct tr_shard_id *ids,
                           size_t n,
                           struct tr_slice tenant,
                           uint64_t start,
                           uint64_t end,
                           struct tr_cursor *c,
                           struct tr_buf *out,
                           char *errmsg)
{
    struct tr_slice q;
    uint64_t limit, spss;
    if (ts__str_get(c, &q) != 0 || tr_cursor_uvarint(c, &limit) != 0 ||
        tr_cursor_uvarint(c, &spss) != 0 || limit == 0 ||
        limit > TS_MAX_LIMIT || spss > TS_MAX_SPSS) {
        return tr_errf(TR_EPROTO, errmsg, "malformed search request");
    }
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    struct tr_traceql_query *query;
    int rv = ts__parse(q.base, q.len, &a, &query, errmsg);
    struct ts_results r;
    memset(&r, 0, sizeof(r));
    r.a = &a;
    r.limit = limit;
    r.spss = spss;
    r.errmsg = errmsg;
    tr_u64map_init(&r.by_id);
    if (rv == 0) {
        rv = tr_traceql_eval_new(query, &r.ev, errmsg);
    }
    if (rv == 0) {
        struct tr_trace_eq eqs[TR_TRACE_MAX_EQ];
        struct tr_trace_hints h = {
            .start = start,
            .end = end,
            .eq = eqs,
            .n_eq = tr_traceql_eval_prune(r.ev, eqs, TR_TRACE_MAX_EQ),
            .whole = !tr_traceql_eval_span_local(r.ev),
            .shards = ids,
            .n_shards = n,
        };
        rv = src->scan(src->impl, tenant, &h, ts__visit, &r, errmsg);
    }
    /* a trace matched through a part without its root: the root and the
     * time range from the whole trace in these shards */
    for (size_t i = 0; rv == 0 && i < r.n; i++) {
        struct tr_tempo_trace *t = &r.t[i];
        if (t->has_root) {
            continue;
        }
        struct tr_span_batch_builder bb;
        tr_span_batch_builder_init(&bb);
        rv = src->get(src->impl, tenant, ids, n, t->id, &a, &bb, errmsg);
        for (size_t k = 0; rv == 0 && k < bb.b.n_spans; k++) {
            const struct tr_otlp_span *s = &bb.b.spans[k].span;
            t->start = s->start_time_unix_nano < t->start
                           ? s->start_time_unix_nano
                           : t->start;
            t->end =
                s->end_time_unix_nano > t->end ? s->end_time_unix_nano : t->end;
            if (s->parent_span_id.len == 0 && !t->has_root) {
                const struct tr_batch_scope *sc =
                    &bb.b.scopes[bb.b.spans[k].scope];
                const struct tr_otlp_resource *res =
                    &bb.b.resources[sc->resource];
                t->has_root = true;
                t->root_name = s->name;
                for (size_t ka = 0; ka < res->n_attrs; ka++) {
                    if (tr_slice_eq_cstr(res->attrs[ka].key, "service.name") &&
                        res->attrs[ka].value.type == TR_OTLP_STRING) {
                        t->root_service = res->attrs[ka].value.s;
                    }
                }
            }
        }
    }
    if (rv == 0) {
        ts__encode_answer(&r, out);
    }
    tr_traceql_eval_free(r.ev);
    tr_u64map_free(&r.by_id);
    tr_arena_free(&a);
    return rv;
}

/* ---- tag names and values on a node
 * -------------------------------------------- */

struct ts_set_of {
    bool scoped;           /* items are (u8 scope, str name) */
    struct tr_u64map seen; /* hash -> 1 */
    struct tr_buf out;     /* the answer's items */
    size_t n;
    size_t max;
};

static void ts__set_init(struct ts_set_of *s, size_t max, bool scoped)
{
    s->scoped = scoped;
    tr_u64map_init(&s->seen);
    tr_buf_init(&s->out);
    s->n = 0;
    s->max = max;
}

static void ts__set_free(struct ts_set_of *s)
{
    tr_u64map_free(&s->seen);
    tr_buf_free(&s->out);
}

/* Adds the item bytes once (by hash; a collision loses an item). */
static void ts__set_add(struct ts_set_of *s, const void *p, size_t n)
{
    uint64_t h = tr_hash64(p, n, 0x7461);
    if (s->n >= s->max || tr_u64map_get(&s->seen, h) != NULL) {
        return;
    }
    if (tr_u64map_put(&s->seen, h, (void *)1) == 0) {
        tr_buf_append(&s->out, p, n);
        s->n++;
    }
}

static void ts__name_cb(void *arg, unsigned scope, struct tr_slice name)
{
    struct ts_set_of *s = arg;
    if (name.len > 1024) {
        return;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    tr_buf_putc(&b, (char)scope);
    ts__str(&b, name);
    if (!b.oom) {
        ts__set_add(s, b.data, b.len);
    }
    tr_buf_free(&b);
}

static void ts__value_cb(void *arg, const struct tr_otlp_value *v)
{
    struct ts_set_of *s = arg;
    if (v->type != TR_OTLP_STRING && v->type != TR_OTLP_INT &&
        v->type != TR_OTLP_DOUBLE && v->type != TR_OTLP_BOOL) {
        return;
    }
    struct tr_buf b, enc;
    tr_buf_init(&b);
    tr_buf_init(&enc);
    tr_trace_value_put(&enc, v);
    ts__str(&b, (struct tr_slice){enc.data, enc.len});
    if (!b.oom && !enc.oom) {
        ts__set_add(s, b.data, b.len);
    }
    tr_buf_free(&b);
    tr_buf_free(&enc);
}

/* The node side of every pushed-down traces query. */
int tr_tempo_search_node(void *arg,
                         const struct tr_trace_source *src,
                         const struct tr_shard_id *ids,
                         size_t n,
                         const void *req,
                         size_t len,
                         struct tr_buf *out,
                         char *errmsg)
{
    (void)arg;
    struct tr_cursor c = tr_cursor_make(req, len);
    uint8_t kind;
    struct tr_slice tenant;
    uint64_t start, end;
    if (tr_cursor_u8(&c, &kind) != 0 || ts__str_get(&c, &tenant) != 0 ||
        tr_cursor_u64be(&c, &start) != 0 || tr_cursor_u64be(&c, &end) != 0) {
        return tr_errf(TR_EPROTO, errmsg, "malformed traces query");
    }
    if (kind == TS_SEARCH) {
        return ts__node_search(src, ids, n, tenant, start, end, &c, out,
                               errmsg);
    }
    if (kind == TS_METRICS) {
        return tr_tempo_metrics_node(src, ids, n, tenant, start, end, &c, out,
                                     errmsg);
    }
    struct tr_trace_hints h = {
        .start = start, .end = end, .shards = ids, .n_shards = n};
    struct ts_set_of set;
    int rv;
    if (kind == TS_NAMES) {
        uint64_t mask;
        if (tr_cursor_uvarint(&c, &mask) != 0) {
            return tr_errf(TR_EPROTO, errmsg, "malformed tags request");
        }
        ts__set_init(&set, TS_MAX_NAMES, true);
        rv = src->tag_names(src->impl, tenant, &h, (unsigned)mask, ts__name_cb,
                            &set, errmsg);
    } else if (kind == TS_VALUES) {
        struct tr_trace_eq which, eqs[TR_TRACE_MAX_EQ];
        memset(&which, 0, sizeof(which));
        uint64_t n_eq = 0;
        if (tr_cursor_u8(&c, &which.fields[0]) != 0 ||
            tr_cursor_u8(&c, &which.fields[1]) != 0 ||
            ts__str_get(&c, &which.key) != 0 ||
            tr_cursor_uvarint(&c, &n_eq) != 0 || n_eq > TR_TRACE_MAX_EQ) {
            return tr_errf(TR_EPROTO, errmsg, "malformed tag values request");
        }
        struct tr_arena ea;
        tr_arena_init(&ea, 1024);
        for (uint64_t i = 0; i < n_eq; i++) {
            struct tr_slice enc;
            memset(&eqs[i], 0, sizeof(eqs[i]));
            if (tr_cursor_u8(&c, &eqs[i].fields[0]) != 0 ||
                tr_cursor_u8(&c, &eqs[i].fields[1]) != 0 ||
                ts__str_get(&c, &eqs[i].key) != 0 ||
                ts__str_get(&c, &enc) != 0) {
                tr_arena_free(&ea);
                return tr_errf(TR_EPROTO, errmsg,
                               "malformed tag values request");
            }
            struct tr_cursor vc = tr_cursor_make(enc.base, enc.len);
            if (tr_trace_value_get(&vc, &ea, 0, &eqs[i].value) != 0) {
                tr_arena_free(&ea);
                return tr_errf(TR_EPROTO, errmsg,
                               "malformed tag values request");
            }
        }
        h.eq = eqs;
        h.n_eq = (size_t)n_eq;
        ts__set_init(&set, TS_MAX_VALUES, false);
        rv = src->tag_values(src->impl, tenant, &h, &which, ts__value_cb, &set,
                             errmsg);
        tr_arena_free(&ea);
    } else {
        return tr_errf(TR_EPROTO, errmsg, "unknown traces query");
    }
    if (rv == 0) {
        tr_buf_put_uvarint(out, set.n);
        tr_buf_append(out, set.out.data, set.out.len);
        rv = out->oom || set.out.oom
                 ? tr_errf(TR_ENOMEM, errmsg, "out of memory")
                 : 0;
    }
    ts__set_free(&set);
    return rv;
}

/* ---- the coordinator
 * ------------------------------------------------------------ */

static int ts__tenant(const struct tr_http_request *req,
                      struct tr_http_response *resp,
                      char *tenant)
{
    char errmsg[TR_ERRMSG_SIZE];
    int rv = tr_app_tenant(req->app, req, tenant, errmsg);
    if (rv != 0) {
        ts__text(resp, tr_status_for(rv), errmsg);
    }
    return rv;
}

/* A positive integer parameter (default when absent). */
static int ts__uint(const struct tr_http_request *req,
                    const char *name,
                    uint64_t dflt,
                    uint64_t max,
                    uint64_t *out)
{
    const char *v = tr_http_form_get(req, name);
    if (v == NULL || *v == '\0') {
        *out = dflt;
        return 0;
    }
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end != '\0' || v[0] == '-') {
        return TR_EINVAL;
    }
    *out = x == 0 ? dflt : (x > max ? max : x);
    return 0;
}

/* Appends the legacy condition .k = "v" (*n conditions so far); v is
 * escaped unless quoted (then it is taken as written between quotes). */
static void ts__cond(struct tr_buf *q,
                     int *n,
                     const char *k,
                     size_t kl,
                     const char *v,
                     size_t vl,
                     bool quoted)
{
    if ((*n)++ > 0) {
        tr_buf_puts(q, " && ");
    }
    tr_buf_puts(q, ".\"");
    for (size_t i = 0; i < kl; i++) {
        if (k[i] == '"' || k[i] == '\\') {
            tr_buf_putc(q, '\\');
        }
        tr_buf_putc(q, k[i]);
    }
    tr_buf_puts(q, "\" = \"");
    for (size_t i = 0; i < vl; i++) {
        if ((v[i] == '"' || v[i] == '\\') && !quoted) {
            tr_buf_putc(q, '\\');
        }
        tr_buf_putc(q, v[i]);
    }
    tr_buf_putc(q, '"');
}

/* The legacy search parameters as a TraceQL query: every tag (logfmt
 * key=value pairs) an attribute of a span or its resource, the trace's
 * duration within minDuration and maxDuration. */
static int ts__legacy(const struct tr_http_request *req, struct tr_buf *q)
{
    const char *tags = tr_http_form_get(req, "tags");
    const char *mind = tr_http_form_get(req, "minDuration");
    const char *maxd = tr_http_form_get(req, "maxDuration");
    int n = 0;
    tr_buf_puts(q, "{ ");
    for (const char *p = tags ? tags : ""; *p;) {
        while (*p == ' ') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        const char *k = p;
        while (*p && *p != '=' && *p != ' ') {
            p++;
        }
        if (*p != '=' || p == k) {
            return TR_EINVAL;
        }
        size_t kl = (size_t)(p - k);
        p++;
        const char *v = p;
        size_t vl;
        bool quoted = *p == '"';
        if (quoted) {
            v = ++p;
            while (*p && *p != '"') {
                p += p[0] == '\\' && p[1] ? 2 : 1;
            }
            if (*p != '"') {
                return TR_EINVAL;
            }
            vl = (size_t)(p - v);
            p++;
        } else {
            while (*p && *p != ' ') {
                p++;
            }
            vl = (size_t)(p - v);
        }
        ts__cond(q, &n, k, kl, v, vl, quoted);
    }
    if (mind != NULL && *mind != '\0') {
        tr_buf_printf(q, "%straceDuration >= %s", n++ ? " && " : "", mind);
    }
    if (maxd != NULL && *maxd != '\0') {
        tr_buf_printf(q, "%straceDuration <= %s", n++ ? " && " : "", maxd);
    }
    tr_buf_puts(q, " }");
    return q->oom ? TR_ENOMEM : 0;
}

int tr_tempo_legacy_query(const struct tr_tempo_pb_tag *tags,
                          size_t n,
                          uint32_t min_ms,
                          uint32_t max_ms,
                          struct tr_buf *q)
{
    if (n > TS_MAX_TAGS) {
        return TR_EINVAL;
    }
    int k = 0;
    tr_buf_puts(q, "{ ");
    for (size_t i = 0; i < n; i++) {
        bool later = false; /* a later entry of the same key wins */
        for (size_t j = i + 1; j < n && !later; j++) {
            later = tr_slice_eq(tags[i].key, tags[j].key);
        }
        if (!later) {
            ts__cond(q, &k, tags[i].key.base, tags[i].key.len,
                     tags[i].value.base, tags[i].value.len, false);
        }
    }
    if (min_ms > 0) {
        tr_buf_printf(q, "%straceDuration >= %" PRIu32 "ms", k++ ? " && " : "",
                      min_ms);
    }
    if (max_ms > 0) {
        tr_buf_printf(q, "%straceDuration <= %" PRIu32 "ms", k++ ? " && " : "",
                      max_ms);
    }
    tr_buf_puts(q, " }");
    return q->oom ? TR_ENOMEM : 0;
}

static int ts__merge_search(void *arg,
                            const void *answer,
                            size_t len,
                            char *errmsg)
{
    struct ts_results *r = arg;
    char *copy = tr_arena_memdup(r->a, answer, len);
    int rv = copy != NULL ? ts__decode_answer(r, copy, len) : TR_ENOMEM;
    return rv == 0 ? 0
                   : tr_errf(rv == TR_ENOMEM ? rv : TR_EUNAVAIL, errmsg,
                             "bad search answer from a node");
}

static int ts__recent_first(const void *pa, const void *pb)
{
    const struct tr_tempo_trace *a = pa, *b = pb;
    return a->start > b->start ? -1 : a->start < b->start;
}

int tr_tempo_search_run(struct tr_app *app,
                        const char *tenant,
                        const struct tr_tempo_search_params *p,
                        struct tr_arena *a,
                        struct tr_tempo_trace **t,
                        size_t *n,
                        char *errmsg)
{
    /* the query NUL-terminated, in a */
    char *q = tr_arena_strndup(a, p->q.base ? p->q.base : "", p->q.len);
    if (q == NULL) {
        tr_errf(TR_ENOMEM, errmsg, "out of memory");
        return 500;
    }
    struct tr_traceql_query *parsed;
    int rv = ts__parse(q, p->q.len, a, &parsed, errmsg);
    if (rv != 0) {
        return 400;
    }
    struct tr_buf r;
    tr_buf_init(&r);
    uint64_t from = ts__from(app, tenant, p->start);
    ts__req_head(&r, TS_SEARCH, tenant, from, p->end);
    ts__str(&r, (struct tr_slice){q, p->q.len});
    tr_buf_put_uvarint(&r, p->limit);
    tr_buf_put_uvarint(&r, p->spss);
    struct ts_results res;
    memset(&res, 0, sizeof(res));
    res.a = a;
    res.limit = p->limit;
    res.spss = p->spss;
    tr_u64map_init(&res.by_id);
    rv = r.oom
             ? tr_errf(TR_ENOMEM, errmsg, "out of memory")
             : tr_cluster_traces_query(
                   app->cluster, r.data, r.len, (int64_t)(from / 1000000),
                   (int64_t)(p->end / 1000000), ts__merge_search, &res, errmsg);
    tr_buf_free(&r);
    tr_u64map_free(&res.by_id);
    if (rv != 0) {
        return tr_status_for(rv);
    }
    if (res.n > 1) {
        qsort(res.t, res.n, sizeof(*res.t), ts__recent_first);
    }
    *t = res.t;
    *n = res.n;
    return 0;
}

static void ts__hex(struct tr_json *j, const uint8_t *id, size_t n, bool trim)
{
    char s[33];
    size_t len = tr_tempo_hex_id(id, n, trim, s);
    tr_json_str_n(j, s, len);
}

static void ts__u64s(struct tr_json *j, uint64_t v)
{
    char n[24];
    snprintf(n, sizeof(n), "%" PRIu64, v);
    tr_json_str(j, n);
}

static void ts__json_kvs(struct tr_json *j,
                         const struct tr_otlp_kv *kvs,
                         size_t n)
{
    tr_json_arr_begin(j);
    for (size_t i = 0; i < n; i++) {
        tr_json_obj_begin(j);
        tr_json_key(j, "key");
        tr_json_str_n(j, kvs[i].key.base, kvs[i].key.len);
        tr_json_key(j, "value");
        tr_tempo_json_value(j, &kvs[i].value);
        tr_json_obj_end(j);
    }
    tr_json_arr_end(j);
}

static void ts__json_set(struct tr_json *j, const struct tr_tempo_spanset *s)
{
    tr_json_obj_begin(j);
    tr_json_key(j, "spans");
    tr_json_arr_begin(j);
    for (size_t k = 0; k < s->n_spans; k++) {
        const struct tr_tempo_span *o = &s->spans[k];
        tr_json_obj_begin(j);
        tr_json_key(j, "spanID");
        ts__hex(j, (const uint8_t *)o->id.base, 8, false);
        if (o->name.len > 0) {
            tr_json_key(j, "name");
            tr_json_str_n(j, o->name.base, o->name.len);
        }
        tr_json_key(j, "startTimeUnixNano");
        ts__u64s(j, o->start);
        tr_json_key(j, "durationNanos");
        ts__u64s(j, o->end > o->start ? o->end - o->start : 0);
        if (o->n_attrs > 0) {
            tr_json_key(j, "attributes");
            ts__json_kvs(j, o->attrs, o->n_attrs);
        }
        tr_json_obj_end(j);
    }
    tr_json_arr_end(j);
    tr_json_key(j, "matched");
    tr_json_uint(j, s->matched);
    if (s->n_by > 0) {
        tr_json_key(j, "attributes");
        ts__json_kvs(j, s->by, s->n_by);
    }
    tr_json_obj_end(j);
}

/* Tempo's JSON of a search answer. */
static void ts__search_json(const struct tr_tempo_trace *t,
                            size_t n,
                            struct tr_buf *out)
{
    struct tr_json j;
    tr_json_init(&j, out);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "traces");
    tr_json_arr_begin(&j);
    for (size_t i = 0; i < n; i++) {
        tr_json_obj_begin(&j);
        tr_json_key(&j, "traceID");
        ts__hex(&j, t[i].id, 16, true);
        tr_json_key(&j, "rootServiceName");
        if (t[i].has_root) {
            tr_json_str_n(&j, t[i].root_service.base, t[i].root_service.len);
        } else {
            tr_json_str(&j, TR_TEMPO_NO_ROOT);
        }
        if (t[i].has_root) {
            tr_json_key(&j, "rootTraceName");
            tr_json_str_n(&j, t[i].root_name.base, t[i].root_name.len);
        }
        tr_json_key(&j, "startTimeUnixNano");
        ts__u64s(&j, t[i].start);
        tr_json_key(&j, "durationMs");
        tr_json_uint(
            &j, t[i].end > t[i].start ? (t[i].end - t[i].start) / 1000000 : 0);
        if (t[i].n_sets > 0) {
            tr_json_key(&j, "spanSet");
            ts__json_set(&j, &t[i].sets[0]);
        }
        tr_json_key(&j, "spanSets");
        tr_json_arr_begin(&j);
        for (size_t k = 0; k < t[i].n_sets; k++) {
            ts__json_set(&j, &t[i].sets[k]);
        }
        tr_json_arr_end(&j);
        tr_json_obj_end(&j);
    }
    tr_json_arr_end(&j);
    tr_json_key(&j, "metrics");
    tr_json_obj_begin(&j);
    tr_json_key(&j, "inspectedBytes");
    tr_json_str(&j, "0");
    tr_json_key(&j, "completedJobs");
    tr_json_uint(&j, 1);
    tr_json_key(&j, "totalJobs");
    tr_json_uint(&j, 1);
    tr_json_obj_end(&j);
    tr_json_obj_end(&j);
}

void tr_api_tempo_search(const struct tr_http_request *req,
                         struct tr_http_response *resp)
{
    char tenant[TR_TENANT_MAX + 1], errmsg[TR_ERRMSG_SIZE];
    if (ts__tenant(req, resp, tenant) != 0) {
        return;
    }
    struct tr_tempo_search_params p;
    if (ts__range(req, &p.start, &p.end) != 0) {
        ts__text(resp, 400, "invalid start or end: Unix seconds expected");
        return;
    }
    if (ts__uint(req, "limit", TS_DEFAULT_LIMIT, TS_MAX_LIMIT, &p.limit) != 0 ||
        ts__uint(req, "spss", TS_DEFAULT_SPSS, TS_MAX_SPSS, &p.spss) != 0) {
        ts__text(resp, 400, "invalid limit or spss: a positive integer");
        return;
    }
    struct tr_buf q;
    tr_buf_init(&q);
    const char *qp = tr_http_form_get(req, "q");
    if (qp != NULL && *qp != '\0') {
        tr_buf_puts(&q, qp);
    } else if (ts__legacy(req, &q) != 0) {
        tr_buf_free(&q);
        ts__text(resp, 400, "invalid tags: logfmt key=value pairs expected");
        return;
    }
    p.q = (struct tr_slice){q.data ? q.data : "", q.len};
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    struct tr_tempo_trace *t = NULL;
    size_t n = 0;
    int status = tr_tempo_search_run(req->app, tenant, &p, &a, &t, &n, errmsg);
    tr_buf_free(&q);
    if (status != 0) {
        if (status == 503) {
            tr_http_resp_header(resp, "Retry-After", "1");
        }
        ts__text(resp, status, errmsg);
        tr_arena_free(&a);
        return;
    }
    tr_buf_reset(&resp->body);
    ts__search_json(t, n, &resp->body);
    resp->content_type = "application/json";
    tr_arena_free(&a);
}

/* ---- tags
 * ---------------------------------------------------------------------- */

static int ts__merge_items(void *arg,
                           const void *answer,
                           size_t len,
                           char *errmsg)
{
    struct ts_set_of *s = arg;
    struct tr_cursor c = tr_cursor_make(answer, len);
    uint64_t n;
    if (tr_cursor_uvarint(&c, &n) != 0) {
        return tr_errf(TR_EUNAVAIL, errmsg, "bad tags answer from a node");
    }
    /* items are self-delimiting: a u8 prefix for names, none for values */
    while (tr_cursor_left(&c) > 0) {
        const uint8_t *st = c.p;
        struct tr_slice x;
        if (s->scoped) {
            uint8_t scope;
            if (tr_cursor_u8(&c, &scope) != 0) {
                return tr_errf(TR_EUNAVAIL, errmsg,
                               "bad tags answer from a node");
            }
        }
        if (ts__str_get(&c, &x) != 0) {
            return tr_errf(TR_EUNAVAIL, errmsg, "bad tags answer from a node");
        }
        ts__set_add(s, st, (size_t)(c.p - st));
    }
    return 0;
}

#define TS_LIT(s)          \
    {                      \
        (s), sizeof(s) - 1 \
    }
static const struct tr_slice TS_INTRINSICS[] = {
    TS_LIT("duration"),
    TS_LIT("event:name"),
    TS_LIT("event:timeSinceStart"),
    TS_LIT("instrumentation:name"),
    TS_LIT("instrumentation:version"),
    TS_LIT("kind"),
    TS_LIT("link:spanID"),
    TS_LIT("link:traceID"),
    TS_LIT("name"),
    TS_LIT("rootName"),
    TS_LIT("rootServiceName"),
    TS_LIT("span:duration"),
    TS_LIT("span:id"),
    TS_LIT("span:kind"),
    TS_LIT("span:name"),
    TS_LIT("span:parentID"),
    TS_LIT("span:status"),
    TS_LIT("span:statusMessage"),
    TS_LIT("status"),
    TS_LIT("statusMessage"),
    TS_LIT("trace:duration"),
    TS_LIT("trace:id"),
    TS_LIT("trace:rootName"),
    TS_LIT("trace:rootService"),
    TS_LIT("traceDuration")};

static int ts__slice_cmp(const void *a, const void *b)
{
    return tr_slice_cmp(*(const struct tr_slice *)a,
                        *(const struct tr_slice *)b);
}

static const struct {
    const char *name;
    unsigned bit;
} TS_SCOPES[] = {
    {"resource", TR_TRACE_TAGS_RESOURCE},     {"span", TR_TRACE_TAGS_SPAN},
    {"event", TR_TRACE_TAGS_EVENT},           {"link", TR_TRACE_TAGS_LINK},
    {"instrumentation", TR_TRACE_TAGS_SCOPE},
};

/* Sorts names[0..n) and keeps the distinct ones, at most limit; returns
 * how many are kept. */
static size_t ts__distinct(struct tr_slice *names, size_t n, uint64_t limit)
{
    if (n > 1) {
        qsort(names, n, sizeof(*names), ts__slice_cmp);
    }
    size_t out = 0;
    for (size_t i = 0; i < n && out < limit; i++) {
        if (i == 0 || !tr_slice_eq(names[i - 1], names[i])) {
            names[out++] = names[i];
        }
    }
    return out;
}

int tr_tempo_tags_run(struct tr_app *app,
                      const char *tenant,
                      const struct tr_tempo_tags_params *p,
                      struct tr_arena *a,
                      struct tr_tempo_tag_scope **scopes_out,
                      size_t *n_out,
                      char *errmsg)
{
    unsigned mask = p->v2 ? TR_TRACE_TAGS_RESOURCE | TR_TRACE_TAGS_SPAN |
                                TR_TRACE_TAGS_EVENT | TR_TRACE_TAGS_LINK |
                                TR_TRACE_TAGS_SCOPE
                          : TR_TRACE_TAGS_RESOURCE | TR_TRACE_TAGS_SPAN;
    bool intrinsic = p->v2;
    struct tr_slice scope = p->scope;
    if (scope.len > 0 && !tr_slice_eq_cstr(scope, "none") &&
        !tr_slice_eq_cstr(scope, "all")) {
        mask = 0;
        intrinsic = tr_slice_eq_cstr(scope, "intrinsic");
        for (size_t i = 0; i < sizeof(TS_SCOPES) / sizeof(TS_SCOPES[0]); i++) {
            if (tr_slice_eq_cstr(scope, TS_SCOPES[i].name)) {
                mask = TS_SCOPES[i].bit;
            }
        }
        if (mask == 0 && !intrinsic) {
            tr_errf(TR_EINVAL, errmsg,
                    "invalid scope: resource, span, event, link, "
                    "instrumentation, intrinsic or none");
            return 400;
        }
    }
    struct ts_set_of set;
    ts__set_init(&set, TS_MAX_NAMES, true);
    int rv = 0;
    if (mask != 0) {
        struct tr_buf r;
        tr_buf_init(&r);
        uint64_t from = ts__from(app, tenant, p->start);
        ts__req_head(&r, TS_NAMES, tenant, from, p->end);
        tr_buf_put_uvarint(&r, mask);
        rv = tr_cluster_traces_query(
            app->cluster, r.data, r.len, (int64_t)(from / 1000000),
            (int64_t)(p->end / 1000000), ts__merge_items, &set, errmsg);
        tr_buf_free(&r);
    }
    if (rv != 0) {
        ts__set_free(&set);
        return tr_status_for(rv);
    }
    /* the names (in a) and their scope bits */
    struct tr_slice *names = tr_arena_alloc(a, (set.n + 1) * sizeof(*names));
    uint8_t *bits = tr_arena_alloc(a, set.n + 1);
    struct tr_tempo_tag_scope *scopes = tr_arena_alloc(
        a, (sizeof(TS_SCOPES) / sizeof(TS_SCOPES[0]) + 1) * sizeof(*scopes));
    char *items =
        tr_arena_memdup(a, set.out.data ? set.out.data : "", set.out.len);
    size_t n = 0;
    if (names == NULL || bits == NULL || scopes == NULL || items == NULL) {
        ts__set_free(&set);
        tr_errf(TR_ENOMEM, errmsg, "out of memory");
        return 500;
    }
    struct tr_cursor c = tr_cursor_make(items, set.out.len);
    while (tr_cursor_left(&c) > 0 && n < set.n) {
        if (tr_cursor_u8(&c, &bits[n]) != 0 ||
            ts__str_get(&c, &names[n]) != 0) {
            break;
        }
        n++;
    }
    ts__set_free(&set);
    size_t ns = 0;
    if (!p->v2) {
        scopes[ns++] = (struct tr_tempo_tag_scope){
            TR_SLICE_LIT(""), names, ts__distinct(names, n, p->limit)};
        *scopes_out = scopes;
        *n_out = ns;
        return 0;
    }
    for (size_t s = 0; s < sizeof(TS_SCOPES) / sizeof(TS_SCOPES[0]); s++) {
        if (!(mask & TS_SCOPES[s].bit)) {
            continue;
        }
        size_t m = 0;
        struct tr_slice *sub = tr_arena_alloc(a, (n + 1) * sizeof(*sub));
        for (size_t i = 0; sub != NULL && i < n; i++) {
            if (bits[i] == TS_SCOPES[s].bit) {
                sub[m++] = names[i];
            }
        }
        if (m == 0) {
            continue;
        }
        scopes[ns++] =
            (struct tr_tempo_tag_scope){tr_slice_cstr(TS_SCOPES[s].name), sub,
                                        ts__distinct(sub, m, p->limit)};
    }
    if (intrinsic) {
        scopes[ns++] = (struct tr_tempo_tag_scope){
            TR_SLICE_LIT("intrinsic"), TS_INTRINSICS,
            sizeof(TS_INTRINSICS) / sizeof(TS_INTRINSICS[0])};
    }
    *scopes_out = scopes;
    *n_out = ns;
    return 0;
}

static void ts__json_strs(struct tr_json *j, const struct tr_slice *s, size_t n)
{
    tr_json_arr_begin(j);
    for (size_t i = 0; i < n; i++) {
        tr_json_str_n(j, s[i].base, s[i].len);
    }
    tr_json_arr_end(j);
}

/* "metrics" of a tags or values answer. */
static void ts__json_meta_metrics(struct tr_json *j)
{
    tr_json_key(j, "metrics");
    tr_json_obj_begin(j);
    tr_json_key(j, "inspectedBytes");
    tr_json_str(j, "0");
    tr_json_obj_end(j);
}

static void ts__tags(const struct tr_http_request *req,
                     struct tr_http_response *resp,
                     bool v2)
{
    char tenant[TR_TENANT_MAX + 1], errmsg[TR_ERRMSG_SIZE];
    if (ts__tenant(req, resp, tenant) != 0) {
        return;
    }
    struct tr_tempo_tags_params p = {.v2 = v2};
    if (ts__range(req, &p.start, &p.end) != 0 ||
        ts__uint(req, "limit", TS_MAX_NAMES, TS_MAX_NAMES, &p.limit) != 0) {
        ts__text(resp, 400, "invalid start, end or limit");
        return;
    }
    const char *scope = tr_http_form_get(req, "scope");
    p.scope = tr_slice_cstr(scope != NULL ? scope : "");
    struct tr_arena a;
    tr_arena_init(&a, 16 * 1024);
    struct tr_tempo_tag_scope *scopes = NULL;
    size_t n = 0;
    int status =
        tr_tempo_tags_run(req->app, tenant, &p, &a, &scopes, &n, errmsg);
    if (status != 0) {
        ts__text(resp, status, errmsg);
        tr_arena_free(&a);
        return;
    }
    tr_buf_reset(&resp->body);
    struct tr_json j;
    tr_json_init(&j, &resp->body);
    tr_json_obj_begin(&j);
    if (!v2) {
        tr_json_key(&j, "tagNames");
        ts__json_strs(&j, scopes[0].tags, scopes[0].n_tags);
    } else {
        tr_json_key(&j, "scopes");
        tr_json_arr_begin(&j);
        for (size_t s = 0; s < n; s++) {
            tr_json_obj_begin(&j);
            tr_json_key(&j, "name");
            tr_json_str_n(&j, scopes[s].name.base, scopes[s].name.len);
            tr_json_key(&j, "tags");
            ts__json_strs(&j, scopes[s].tags, scopes[s].n_tags);
            tr_json_obj_end(&j);
        }
        tr_json_arr_end(&j);
    }
    ts__json_meta_metrics(&j);
    tr_json_obj_end(&j);
    resp->content_type = "application/json";
    tr_arena_free(&a);
}

void tr_api_tempo_tags(const struct tr_http_request *req,
                       struct tr_http_response *resp)
{
    ts__tags(req, resp, false);
}

void tr_api_tempo_tags_v2(const struct tr_http_request *req,
                          struct tr_http_response *resp)
{
    ts__tags(req, resp, true);
}

/* ---- tag values
 * ------------------------------------------------------------------ */

/* Which values a tag names: v1 "service.name" (span or resource
 * attribute); v2 a TraceQL attribute ("span.x", "resource.x", ".x") or an
 * intrinsic (name, status, kind and their span: forms). 0 or TR_EINVAL. */
static int ts__tag(struct tr_slice t, bool v2, struct tr_trace_eq *w)
{
    memset(w, 0, sizeof(*w));
    static const struct {
        const char *name;
        uint8_t field;
    } intr[] = {{"name", TR_TRACE_FIELD_NAME},
                {"span:name", TR_TRACE_FIELD_NAME},
                {"status", TR_TRACE_FIELD_STATUS},
                {"span:status", TR_TRACE_FIELD_STATUS},
                {"kind", TR_TRACE_FIELD_KIND},
                {"span:kind", TR_TRACE_FIELD_KIND}};
    if (t.len == 0) {
        return TR_EINVAL;
    }
    if (v2) {
        for (size_t i = 0; i < sizeof(intr) / sizeof(intr[0]); i++) {
            if (tr_slice_eq_cstr(t, intr[i].name)) {
                w->fields[0] = intr[i].field;
                return 0;
            }
        }
        if (t.len > 5 && memcmp(t.base, "span.", 5) == 0) {
            w->fields[0] = TR_TRACE_FIELD_SPAN;
            w->key = (struct tr_slice){t.base + 5, t.len - 5};
        } else if (t.len > 9 && memcmp(t.base, "resource.", 9) == 0) {
            w->fields[0] = TR_TRACE_FIELD_RESOURCE;
            w->key = (struct tr_slice){t.base + 9, t.len - 9};
        } else if (t.len > 1 && t.base[0] == '.') {
            w->fields[0] = TR_TRACE_FIELD_SPAN;
            w->fields[1] = TR_TRACE_FIELD_RESOURCE;
            w->key = (struct tr_slice){t.base + 1, t.len - 1};
        } else {
            return TR_EINVAL;
        }
        /* a quoted name: span."a b" */
        if (w->key.len >= 2 && w->key.base[0] == '"' &&
            w->key.base[w->key.len - 1] == '"') {
            w->key.base++;
            w->key.len -= 2;
        }
        return 0;
    }
    w->fields[0] = TR_TRACE_FIELD_SPAN;
    w->fields[1] = TR_TRACE_FIELD_RESOURCE;
    w->key = t;
    return 0;
}

static int ts__bad_tag(bool v2, char *errmsg)
{
    tr_errf(TR_EINVAL, errmsg, "%s",
            v2 ? "invalid tag: a scoped attribute (span.x, resource.x, "
                 ".x) or an intrinsic (name, status, kind)"
               : "invalid tag");
    return 400;
}

static int ts__value_cmp(const void *pa, const void *pb)
{
    const struct tr_otlp_value *a = pa, *b = pb;
    if (a->type != b->type) {
        return a->type < b->type ? -1 : 1;
    }
    switch (a->type) {
        case TR_OTLP_STRING:
            return tr_slice_cmp(a->s, b->s);
        case TR_OTLP_INT:
            return a->i < b->i ? -1 : a->i > b->i;
        case TR_OTLP_DOUBLE:
            return a->d < b->d ? -1 : a->d > b->d;
        case TR_OTLP_BOOL:
            return (int)a->b - (int)b->b;
        default:
            return 0;
    }
}

/* The equalities of a TraceQL query q for pruning (slices in a), trying q
 * as it is, then completed with "}", then cut back to its last whole
 * condition; 0 when none of them parses. */
static size_t ts__q_eqs(struct tr_slice q,
                        struct tr_arena *a,
                        struct tr_trace_eq *out,
                        size_t max)
{
    if (q.len == 0 || q.len > 65536) {
        return 0;
    }
    struct tr_buf t;
    tr_buf_init(&t);
    size_t n = 0;
    for (int attempt = 0; attempt < 3 && n == 0; attempt++) {
        tr_buf_reset(&t);
        tr_buf_append(&t, q.base, q.len);
        if (attempt == 2) {
            /* cut at the last "&&" */
            size_t cut = 0;
            for (size_t i = 0; i + 1 < t.len; i++) {
                if (t.data[i] == '&' && t.data[i + 1] == '&') {
                    cut = i;
                }
            }
            if (cut == 0) {
                break;
            }
            t.len = cut;
        }
        if (attempt >= 1) {
            tr_buf_puts(&t, " }");
        }
        if (t.oom) {
            break;
        }
        char err[TR_ERRMSG_SIZE];
        struct tr_traceql_query *query;
        struct tr_traceql_eval *ev;
        char *text = tr_arena_memdup(a, t.data, t.len);
        if (text == NULL ||
            tr_traceql_parse(text, t.len, a, &query, err) != 0 ||
            tr_traceql_validate(query, err) != 0 ||
            query->kind == TR_TQL_Q_METRICS ||
            tr_traceql_eval_new(query, &ev, err) != 0) {
            continue;
        }
        n = tr_traceql_eval_prune(ev, out, max);
        tr_traceql_eval_free(ev);
        if (n == 0) {
            break; /* a whole query without equalities: nothing to narrow */
        }
    }
    tr_buf_free(&t);
    return n;
}

int tr_tempo_tag_values_run(struct tr_app *app,
                            const char *tenant,
                            struct tr_slice tag,
                            struct tr_slice q,
                            bool v2,
                            uint64_t start,
                            uint64_t end,
                            uint64_t limit,
                            struct tr_arena *a,
                            struct tr_tempo_tag_value **out,
                            size_t *n_out,
                            char *errmsg)
{
    struct tr_trace_eq w;
    if (ts__tag(tag, v2, &w) != 0) {
        return ts__bad_tag(v2, errmsg);
    }
    struct ts_set_of set;
    ts__set_init(&set, TS_MAX_VALUES, false);
    struct tr_buf r;
    tr_buf_init(&r);
    start = ts__from(app, tenant, start);
    ts__req_head(&r, TS_VALUES, tenant, start, end);
    tr_buf_putc(&r, (char)w.fields[0]);
    tr_buf_putc(&r, (char)w.fields[1]);
    ts__str(&r, w.key);
    struct tr_trace_eq eqs[TR_TRACE_MAX_EQ];
    size_t n_eq = ts__q_eqs(q, a, eqs, TR_TRACE_MAX_EQ);
    tr_buf_put_uvarint(&r, n_eq);
    for (size_t i = 0; i < n_eq; i++) {
        tr_buf_putc(&r, (char)eqs[i].fields[0]);
        tr_buf_putc(&r, (char)eqs[i].fields[1]);
        ts__str(&r, eqs[i].key);
        struct tr_buf enc;
        tr_buf_init(&enc);
        tr_trace_value_put(&enc, &eqs[i].value);
        ts__str(&r, (struct tr_slice){enc.data ? enc.data : "", enc.len});
        tr_buf_free(&enc);
    }
    int rv = tr_cluster_traces_query(
        app->cluster, r.data, r.len, (int64_t)(start / 1000000),
        (int64_t)(end / 1000000), ts__merge_items, &set, errmsg);
    tr_buf_free(&r);
    if (rv != 0) {
        ts__set_free(&set);
        return tr_status_for(rv);
    }
    struct tr_otlp_value *vals = tr_arena_alloc(a, (set.n + 1) * sizeof(*vals));
    struct tr_tempo_tag_value *tv =
        tr_arena_alloc(a, (set.n + 1) * sizeof(*tv));
    char *items =
        tr_arena_memdup(a, set.out.data ? set.out.data : "", set.out.len);
    size_t n = 0;
    struct tr_cursor c = tr_cursor_make(items, set.out.len);
    while (vals != NULL && items != NULL && tr_cursor_left(&c) > 0 &&
           n < set.n) {
        struct tr_slice enc;
        if (ts__str_get(&c, &enc) != 0) {
            break;
        }
        struct tr_cursor vc = tr_cursor_make(enc.base, enc.len);
        if (tr_trace_value_get(&vc, a, 0, &vals[n]) == 0) {
            n++;
        }
    }
    ts__set_free(&set);
    if (vals == NULL || tv == NULL || items == NULL) {
        tr_errf(TR_ENOMEM, errmsg, "out of memory");
        return 500;
    }
    if (n > 1) {
        qsort(vals, n, sizeof(*vals), ts__value_cmp);
    }
    static const char *const status[] = {"unset", "ok", "error"};
    static const char *const kind[] = {"unspecified", "internal", "server",
                                       "client",      "producer", "consumer"};
    size_t k = 0;
    for (size_t i = 0; i < n && i < limit; i++) {
        const struct tr_otlp_value *v = &vals[i];
        char num[40];
        const char *type = "string", *text = NULL;
        if (w.fields[0] == TR_TRACE_FIELD_STATUS && v->type == TR_OTLP_INT) {
            type = "keyword";
            text = status[v->i >= 0 && v->i <= 2 ? v->i : 0];
        } else if (w.fields[0] == TR_TRACE_FIELD_KIND &&
                   v->type == TR_OTLP_INT) {
            type = "keyword";
            text = kind[v->i >= 0 && v->i <= 5 ? v->i : 0];
        } else if (v->type == TR_OTLP_STRING) {
            tv[k++] = (struct tr_tempo_tag_value){tr_slice_cstr(type), v->s};
            continue;
        } else if (v->type == TR_OTLP_INT) {
            type = "int";
            snprintf(num, sizeof(num), "%" PRId64, v->i);
            text = num;
        } else if (v->type == TR_OTLP_DOUBLE) {
            type = "float";
            snprintf(num, sizeof(num), "%.17g", v->d);
            text = num;
        } else if (v->type == TR_OTLP_BOOL) {
            type = "bool";
            text = v->b ? "true" : "false";
        } else {
            continue;
        }
        char *copy = tr_arena_strndup(a, text, strlen(text));
        if (copy == NULL) {
            tr_errf(TR_ENOMEM, errmsg, "out of memory");
            return 500;
        }
        tv[k++] = (struct tr_tempo_tag_value){tr_slice_cstr(type),
                                              tr_slice_cstr(copy)};
    }
    *out = tv;
    *n_out = k;
    return 0;
}

static void ts__tag_values(const struct tr_http_request *req,
                           struct tr_http_response *resp,
                           bool v2)
{
    char tenant[TR_TENANT_MAX + 1], errmsg[TR_ERRMSG_SIZE];
    if (ts__tenant(req, resp, tenant) != 0) {
        return;
    }
    struct tr_trace_eq w;
    if (req->n_params < 1 || ts__tag(req->params[0], v2, &w) != 0) {
        ts__bad_tag(v2, errmsg);
        ts__text(resp, 400, errmsg);
        return;
    }
    uint64_t start, end, limit;
    if (ts__range(req, &start, &end) != 0 ||
        ts__uint(req, "limit", TS_MAX_VALUES, TS_MAX_VALUES, &limit) != 0) {
        ts__text(resp, 400, "invalid start, end or limit");
        return;
    }
    struct tr_arena a;
    tr_arena_init(&a, 16 * 1024);
    struct tr_tempo_tag_value *v = NULL;
    size_t n = 0;
    const char *qp = tr_http_form_get(req, "q");
    int status = tr_tempo_tag_values_run(req->app, tenant, req->params[0],
                                         tr_slice_cstr(qp ? qp : ""), v2, start,
                                         end, limit, &a, &v, &n, errmsg);
    if (status != 0) {
        ts__text(resp, status, errmsg);
        tr_arena_free(&a);
        return;
    }
    tr_buf_reset(&resp->body);
    struct tr_json j;
    tr_json_init(&j, &resp->body);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "tagValues");
    tr_json_arr_begin(&j);
    for (size_t i = 0; i < n; i++) {
        if (v2) {
            tr_json_obj_begin(&j);
            tr_json_key(&j, "type");
            tr_json_str_n(&j, v[i].type.base, v[i].type.len);
            tr_json_key(&j, "value");
            tr_json_str_n(&j, v[i].value.base, v[i].value.len);
            tr_json_obj_end(&j);
        } else {
            tr_json_str_n(&j, v[i].value.base, v[i].value.len);
        }
    }
    tr_json_arr_end(&j);
    ts__json_meta_metrics(&j);
    tr_json_obj_end(&j);
    resp->content_type = "application/json";
    tr_arena_free(&a);
}

void tr_api_tempo_tag_values(const struct tr_http_request *req,
                             struct tr_http_response *resp)
{
    ts__tag_values(req, resp, false);
}

void tr_api_tempo_tag_values_v2(const struct tr_http_request *req,
                                struct tr_http_response *resp)
{
    ts__tag_values(req, resp, true);
}
