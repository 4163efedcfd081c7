/* api_otlp_traces.c - OTLP traces over HTTP: POST /otlp/v1/traces (the
 * API port) and POST /v1/traces (the --otlp-http-addr port); gRPC
 * TraceService/Export is routed here too (server/http_h2.c).
 *
 * The body is protobuf or OTLP/JSON after any Content-Encoding (gzip) and
 * chunking the HTTP layer removed. Spans are checked as Tempo's
 * distributor does, with its limits (server/config.h):
 *   - a span whose trace id is not 16 bytes or all zero, or whose span id
 *     is not 8 bytes or all zero, is refused (partial_success);
 *   - attribute strings (span, resource, event, link, scope) longer than
 *     limits.traces-max-attribute-bytes are cut to it (at a UTF-8
 *     boundary), counted in triad_span_attributes_truncated_total;
 *   - a span starting before the window that holds now - the traces'
 *     late-write grace (--late-write-grace.traces), or after now + the
 *     creation grace, is refused ("too old" / "too far in the future"),
 *     as samples and log lines are;
 *   - the spans of one trace in one request beyond
 *     limits.traces-max-bytes-per-trace are refused (TRACE_TOO_LARGE);
 *   - the request's bytes are taken from the tenant's token bucket
 *     (limits.traces-ingestion-rate / -burst): 429 RATE_LIMITED with
 *     Retry-After when over it.
 * A tenant's catalog overrides (/api/v1/admin/tenants/limits) replace the
 * flags' values.
 * The rest is routed to the traces shards (cluster/signal_traces.c) and
 * acknowledged once committed: 200 with an ExportTraceServiceResponse
 * (partial_success with the refused count and the first reason), 400 for
 * a body that does not decode, 503 with Retry-After when a shard cannot
 * commit, 415 for another content type. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cluster/cluster.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/hash.h"
#include "lib/selfmetrics.h"
#include "lib/u64map.h"
#include "proto/otlp_spanmetrics.h"
#include "proto/otlp_traces.h"
#include "server/app.h"
#include "server/otlp_resp.h"
#include "server/trace_metrics.h"

/* Bytes a span takes, roughly as encoded (for the per-trace limit). */
static size_t ot__kvs_size(const struct tr_otlp_kv *kvs, size_t n);

static size_t ot__value_size(const struct tr_otlp_value *v)
{
    switch (v->type) {
        case TR_OTLP_STRING:
        case TR_OTLP_BYTES:
            return 2 + v->s.len;
        case TR_OTLP_ARRAY: {
            size_t t = 2;
            for (size_t i = 0; i < v->n; i++) {
                t += ot__value_size(&v->items[i]);
            }
            return t;
        }
        case TR_OTLP_KVLIST:
            return 2 + ot__kvs_size(v->kvs, v->n);
        default:
            return 9;
    }
}

static size_t ot__kvs_size(const struct tr_otlp_kv *kvs, size_t n)
{
    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
        t += 2 + kvs[i].key.len + ot__value_size(&kvs[i].value);
    }
    return t;
}

static size_t ot__span_size(const struct tr_otlp_span *s)
{
    size_t t = 64 + s->name.len + s->trace_state.len + s->status_message.len +
               ot__kvs_size(s->attrs, s->n_attrs);
    for (size_t i = 0; i < s->n_events; i++) {
        t += 16 + s->events[i].name.len +
             ot__kvs_size(s->events[i].attrs, s->events[i].n_attrs);
    }
    for (size_t i = 0; i < s->n_links; i++) {
        t += 32 + s->links[i].trace_state.len +
             ot__kvs_size(s->links[i].attrs, s->links[i].n_attrs);
    }
    return t;
}

/* Cuts strings longer than max (at a UTF-8 boundary) in kvs, nested
 * values too; returns how many were cut. The decoded request is ours. */
static uint64_t ot__truncate_kvs(const struct tr_otlp_kv *kvs,
                                 size_t n,
                                 size_t max);

static uint64_t ot__truncate_value(struct tr_otlp_value *v, size_t max)
{
    uint64_t cut = 0;
    if (v->type == TR_OTLP_STRING && v->s.len > max) {
        size_t l = max;
        while (l > 0 && ((unsigned char)v->s.base[l] & 0xc0) == 0x80) {
            l--;
        }
        v->s.len = l;
        cut++;
    } else if (v->type == TR_OTLP_ARRAY) {
        for (size_t i = 0; i < v->n; i++) {
            cut +=
                ot__truncate_value((struct tr_otlp_value *)&v->items[i], max);
        }
    } else if (v->type == TR_OTLP_KVLIST) {
        cut += ot__truncate_kvs(v->kvs, v->n, max);
    }
    return cut;
}

static uint64_t ot__truncate_kvs(const struct tr_otlp_kv *kvs,
                                 size_t n,
                                 size_t max)
{
    uint64_t cut = 0;
    for (size_t i = 0; i < n; i++) {
        cut += ot__truncate_value((struct tr_otlp_value *)&kvs[i].value, max);
    }
    return cut;
}

static bool ot__zero(struct tr_slice s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (s.base[i] != 0) {
            return false;
        }
    }
    return true;
}

struct ot_check {
    bool *skip;
    uint64_t rejected;
    uint64_t truncated;
    char reason[256];
};

static void ot__refuse(struct ot_check *k,
                       struct tr_app *app,
                       const char *tenant,
                       size_t i,
                       const char *why,
                       const char *metric_reason)
{
    k->skip[i] = true;
    k->rejected++;
    if (k->reason[0] == '\0') {
        snprintf(k->reason, sizeof(k->reason), "%s", why);
    }
    tr_selfmetrics_inc(app->m_spans_rejected, 1, tenant, metric_reason);
}

/* The tenant's traces limits: the flags, or its catalog overrides. */
struct ot_limits {
    size_t max_bytes_per_trace;
    size_t max_attr_bytes;
    size_t rate, burst;
    unsigned metrics; /* TR_SPANMETRICS_* the tenant has on */
};

static void ot__limits(struct tr_app *app,
                       const char *tenant,
                       struct ot_limits *l)
{
    const struct tr_limits *f = &app->cfg->limits;
    *l = (struct ot_limits){f->traces_max_bytes_per_trace,
                            f->traces_max_attr_bytes, f->traces_rate_bytes,
                            f->traces_burst_bytes, TR_SPANMETRICS_ALL};
    struct tr_catalog_tenant o;
    if (app->cluster == NULL || !tr_cluster_tenant(app->cluster, tenant, &o)) {
        return;
    }
    if (o.traces_max_bytes_per_trace > 0) {
        l->max_bytes_per_trace = (size_t)o.traces_max_bytes_per_trace;
    }
    if (o.traces_max_attr_bytes > 0) {
        l->max_attr_bytes = (size_t)o.traces_max_attr_bytes;
    }
    if (o.traces_rate_bytes > 0) {
        l->rate = (size_t)o.traces_rate_bytes;
    }
    if (o.traces_burst_bytes > 0) {
        l->burst = (size_t)o.traces_burst_bytes;
    }
    if (o.traces_span_metrics == 2) {
        l->metrics &= ~TR_SPANMETRICS_SPAN;
    }
    if (o.traces_service_graph == 2) {
        l->metrics &= ~TR_SPANMETRICS_GRAPH;
    }
}

/* Marks in k->skip the spans refused, cuts long attributes. */
static int ot__check(struct tr_app *app,
                     const char *tenant,
                     const struct tr_otlp_traces *t,
                     const struct ot_limits *lim,
                     struct ot_check *k,
                     struct tr_arena *a)
{
    k->skip = tr_arena_alloc(a, (t->n_spans ? t->n_spans : 1) * sizeof(bool));
    if (k->skip == NULL) {
        return TR_ENOMEM;
    }
    memset(k->skip, 0, (t->n_spans ? t->n_spans : 1) * sizeof(bool));
    struct tr_u64map per_trace;
    tr_u64map_init(&per_trace);
    size_t max_attr = lim->max_attr_bytes;
    /* writable start times: from the start of the window that holds (now -
     * the traces' late-write grace) to now + the creation grace, as for
     * samples and log lines */
    const struct tr_config *cfg = app->cfg;
    int64_t grace = cfg->late_write_grace_traces_ms >= 0
                        ? cfg->late_write_grace_traces_ms
                        : cfg->late_write_grace_ms;
    int64_t now_ms = tr_now_ms();
    int64_t min_ms =
        grace >= INT64_MAX / 4
            ? INT64_MIN
            : tr_window_floor(now_ms - grace, cfg->placement_window_ms);
    uint64_t min_ns = min_ms <= 0 ? 0 : (uint64_t)min_ms * 1000000;
    uint64_t max_ns =
        cfg->creation_grace_ms >= INT64_MAX / 4000000
            ? UINT64_MAX
            : (uint64_t)(now_ms + cfg->creation_grace_ms) * 1000000;
    size_t i = 0;
    int rv = 0;
    for (size_t r = 0; r < t->n_resources; r++) {
        const struct tr_otlp_resource_group *rg = &t->resources[r];
        if (max_attr > 0) {
            k->truncated += ot__truncate_kvs(rg->resource.attrs,
                                             rg->resource.n_attrs, max_attr);
        }
        for (size_t s = 0; s < rg->n_scopes; s++) {
            const struct tr_otlp_scope_group *sg = &rg->scopes[s];
            if (max_attr > 0) {
                k->truncated += ot__truncate_kvs(sg->scope.attrs,
                                                 sg->scope.n_attrs, max_attr);
            }
            for (size_t j = 0; j < sg->n_items; j++, i++) {
                const struct tr_otlp_span *sp = &sg->spans[j];
                if (sp->trace_id.len != 16 || ot__zero(sp->trace_id)) {
                    ot__refuse(k, app, tenant, i,
                               "span with an invalid trace id (16 bytes, not "
                               "all zero)",
                               "invalid_trace_id");
                    continue;
                }
                if (sp->span_id.len != 8 || ot__zero(sp->span_id)) {
                    ot__refuse(k, app, tenant, i,
                               "span with an invalid span id (8 bytes, not "
                               "all zero)",
                               "invalid_span_id");
                    continue;
                }
                if (sp->start_time_unix_nano < min_ns) {
                    ot__refuse(k, app, tenant, i,
                               "span too old: its start is before the oldest "
                               "writable time (--late-write-grace.traces)",
                               "too_old");
                    continue;
                }
                if (sp->start_time_unix_nano > max_ns) {
                    ot__refuse(k, app, tenant, i,
                               "span too far in the future: its start is past "
                               "now + --ingest.creation-grace",
                               "too_far_in_future");
                    continue;
                }
                if (max_attr > 0) {
                    k->truncated +=
                        ot__truncate_kvs(sp->attrs, sp->n_attrs, max_attr);
                    for (size_t e = 0; e < sp->n_events; e++) {
                        k->truncated +=
                            ot__truncate_kvs(sp->events[e].attrs,
                                             sp->events[e].n_attrs, max_attr);
                    }
                    for (size_t l = 0; l < sp->n_links; l++) {
                        k->truncated += ot__truncate_kvs(
                            sp->links[l].attrs, sp->links[l].n_attrs, max_attr);
                    }
                }
                if (lim->max_bytes_per_trace == 0) {
                    continue;
                }
                uint64_t h = tr_hash64(sp->trace_id.base, 16, 0x62797465);
                uintptr_t have = (uintptr_t)tr_u64map_get(&per_trace, h);
                uintptr_t now = have + ot__span_size(sp);
                if (now > lim->max_bytes_per_trace) {
                    char why[200];
                    snprintf(why, sizeof(why),
                             "TRACE_TOO_LARGE: max size of trace (%zu) "
                             "exceeded while adding spans",
                             lim->max_bytes_per_trace);
                    ot__refuse(k, app, tenant, i, why, "trace_too_large");
                    continue;
                }
                if (tr_u64map_put(&per_trace, h, (void *)now) != 0) {
                    rv = TR_ENOMEM;
                }
            }
        }
    }
    tr_u64map_free(&per_trace);
    return rv;
}

void tr_api_otlp_traces(const struct tr_http_request *req,
                        struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    int kind = tr_otlp_req_kind(req);
    bool json = kind == 1;
    if (kind < 0) {
        tr_otlp_resp_status(resp, false, 415, TR_RPC_INVALID_ARGUMENT,
                            "unsupported content type: use "
                            "application/x-protobuf or application/json");
        return;
    }
    char errmsg[TR_ERRMSG_SIZE];
    char tenant[TR_TENANT_MAX + 1];
    int rv = tr_app_tenant(app, req, tenant, errmsg);
    if (rv != 0) {
        tr_otlp_resp_status(resp, json, tr_status_for(rv),
                            TR_RPC_INVALID_ARGUMENT, errmsg);
        return;
    }
    struct tr_otlp_traces t;
    rv = json ? tr_otlp_traces_decode_json(req->body, req->body_len, req->arena,
                                           &t, errmsg)
              : tr_otlp_traces_decode(req->body, req->body_len, req->arena, &t,
                                      errmsg);
    if (rv != 0) {
        tr_otlp_resp_status(
            resp, json, rv == TR_ENOMEM ? 500 : 400,
            rv == TR_ENOMEM ? TR_RPC_INTERNAL : TR_RPC_INVALID_ARGUMENT,
            errmsg);
        return;
    }
    if (t.n_spans == 0) {
        tr_otlp_resp_success(resp, json, "rejectedSpans", 0, "", 0);
        return;
    }
    struct ot_limits lim;
    ot__limits(app, tenant, &lim);
    if (!tr_rate_limit_take_with(app->trace_limiters, tenant,
                                 (double)req->body_len, (double)lim.rate,
                                 (double)lim.burst)) {
        char m[300];
        snprintf(m, sizeof(m),
                 "RATE_LIMITED: ingestion rate limit (%zu bytes) exceeded "
                 "while adding %zu bytes for user %s",
                 lim.rate, req->body_len, tenant);
        tr_selfmetrics_inc(app->m_spans_rejected, (double)t.n_spans, tenant,
                           "rate_limited");
        tr_http_resp_header(resp, "Retry-After", "1");
        tr_otlp_resp_status(resp, json, 429, TR_RPC_RESOURCE_EXHAUSTED, m);
        return;
    }
    struct ot_check k;
    memset(&k, 0, sizeof(k));
    if (ot__check(app, tenant, &t, &lim, &k, req->arena) != 0) {
        tr_otlp_resp_status(resp, json, 500, TR_RPC_INTERNAL, "out of memory");
        return;
    }
    if (k.truncated > 0) {
        tr_selfmetrics_inc(app->m_attrs_truncated, (double)k.truncated, tenant);
    }
    struct tr_apply_result res;
    memset(&res, 0, sizeof(res));
    if (k.rejected < t.n_spans) {
        rv = tr_cluster_write_traces(app->cluster, tr_slice_cstr(tenant), &t,
                                     k.skip, &res, errmsg);
        if (rv != 0) {
            int status = tr_status_for(rv);
            if (status == 503 || status == 429) {
                tr_http_resp_header(resp, "Retry-After", "1");
            }
            tr_otlp_resp_status(resp, json, status,
                                status == 503   ? TR_RPC_UNAVAILABLE
                                : status == 400 ? TR_RPC_INVALID_ARGUMENT
                                                : TR_RPC_INTERNAL,
                                errmsg);
            return;
        }
    }
    tr_selfmetrics_inc(app->m_spans, (double)res.appended, tenant);
    if (k.rejected < t.n_spans) {
        /* committed: span metrics and the service graph count them */
        tr_trace_metrics_ingest(app, tenant, req->arena, &t, k.skip,
                                lim.metrics);
    }
    tr_otlp_resp_success(resp, json, "rejectedSpans", k.rejected, k.reason,
                         strlen(k.reason));
}
