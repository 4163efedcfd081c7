/* api_tempo_grpc.c - Tempo's tempopb.StreamingQuerier gRPC service: the
 * route POST /internal-grpc/tempo/<method> that server/http_h2.c runs for
 * the service's methods (its grpc_methods table), with the decoded gRPC
 * message as the body (application/x-protobuf) and the gRPC metadata as
 * headers (the tenant from x-scope-orgid).
 *
 *   <method>        request (proto/tempo_pb.h)   response message
 *   search          SearchRequest                SearchResponse
 *   tags            SearchTagsRequest            SearchTagsResponse
 *   tags-v2         SearchTagsRequest            SearchTagsV2Response
 *   tag-values      SearchTagValuesRequest       SearchTagValuesResponse
 *   tag-values-v2   SearchTagValuesRequest       SearchTagValuesV2Response
 *   metrics-range   QueryRangeRequest            QueryRangeResponse
 *   metrics-instant QueryInstantRequest          QueryInstantResponse
 *
 * Each runs the same coordinator as the HTTP API (server/tempo_search.h;
 * TraceQL metrics: server/tempo_metrics.h)
 * and answers one response message holding the whole result (a server
 * stream of one message; Tempo streams partial results, each one whole
 * up to then, so the last message is what a client keeps). Errors are
 * text with the HTTP status http_h2.c maps to a gRPC status: 400 (a
 * malformed message, a bad query or tag) INVALID_ARGUMENT, 404 (an
 * unknown method) UNIMPLEMENTED, 503 UNAVAILABLE.
 *
 * Parameters as Tempo reads them: 0 is "absent" for start, end and the
 * limits; Query (TraceQL) wins over the legacy Tags / MinDurationMs /
 * MaxDurationMs, which become a TraceQL query as the HTTP API's tags=
 * do; SearchTagsRequest.query and SearchTagValuesRequest.query are not
 * used to filter (as on the HTTP API). The metrics requests' start and
 * end are Unix ns (0: absent; default: the hour up to now, as the HTTP
 * API's since=1h), step ns (0: the HTTP API's default); exemplars and
 * QueryRangeRequest's block and paging fields are not used. */
#include <string.h>

#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "proto/tempo_pb.h"
#include "server/app.h"
#include "server/tempo_metrics.h"
#include "server/tempo_search.h"

static void tg__fail(struct tr_http_response *resp, int status, const char *m)
{
    tr_buf_reset(&resp->body);
    tr_buf_puts(&resp->body, m);
    tr_buf_putc(&resp->body, '\n');
    resp->content_type = "text/plain; charset=utf-8";
    resp->status = status;
}

/* A limit of a request: 0 the default, at most max. */
static uint64_t tg__limit(uint32_t v, uint64_t dflt, uint64_t max)
{
    return v == 0 ? dflt : (v > max ? max : v);
}

static int tg__range(const struct tr_http_request *req,
                     uint32_t start,
                     uint32_t end,
                     uint64_t *start_ns,
                     uint64_t *end_ns,
                     char *errmsg)
{
    if (tr_tempo_range(req->app, start > 0 ? (int64_t)start : -1,
                       end > 0 ? (int64_t)end : -1, start_ns, end_ns) != 0) {
        tr_errf(TR_EINVAL, errmsg, "invalid start or end: end before start");
        return 400;
    }
    return 0;
}

static int tg__search(const struct tr_http_request *req,
                      const char *tenant,
                      struct tr_arena *a,
                      struct tr_buf *out,
                      char *errmsg)
{
    struct tr_tempo_search_req m;
    if (tr_tempo_pb_search_req(req->body, req->body_len, a, &m, errmsg) != 0) {
        return 400;
    }
    struct tr_tempo_search_params p;
    int status = tg__range(req, m.start, m.end, &p.start, &p.end, errmsg);
    if (status != 0) {
        return status;
    }
    p.limit = tg__limit(m.limit, TR_TEMPO_DEFAULT_LIMIT, TR_TEMPO_MAX_LIMIT);
    p.spss = tg__limit(m.spss, TR_TEMPO_DEFAULT_SPSS, TR_TEMPO_MAX_SPSS);
    struct tr_buf q;
    tr_buf_init(&q);
    if (m.query.len > 0) {
        p.q = m.query;
    } else {
        int rv = tr_tempo_legacy_query(m.tags, m.n_tags, m.min_duration_ms,
                                       m.max_duration_ms, &q);
        if (rv != 0) {
            tr_buf_free(&q);
            tr_errf(rv, errmsg, "%s",
                    rv == TR_ENOMEM ? "out of memory" : "too many tags");
            return rv == TR_ENOMEM ? 500 : 400;
        }
        p.q = (struct tr_slice){q.data, q.len};
    }
    struct tr_tempo_trace *t = NULL;
    size_t n = 0;
    status = tr_tempo_search_run(req->app, tenant, &p, a, &t, &n, errmsg);
    tr_buf_free(&q);
    if (status != 0) {
        return status;
    }
    struct tr_tempo_search_metrics mt = {.completed_jobs = 1, .total_jobs = 1};
    return tr_tempo_pb_search_resp(t, n, &mt, out) == 0 ? 0 : 500;
}

static int tg__tags(const struct tr_http_request *req,
                    const char *tenant,
                    bool v2,
                    struct tr_arena *a,
                    struct tr_buf *out,
                    char *errmsg)
{
    struct tr_tempo_tags_req m;
    if (tr_tempo_pb_tags_req(req->body, req->body_len, &m, errmsg) != 0) {
        return 400;
    }
    struct tr_tempo_tags_params p = {.v2 = v2, .scope = m.scope};
    int status = tg__range(req, m.start, m.end, &p.start, &p.end, errmsg);
    if (status != 0) {
        return status;
    }
    p.limit =
        tg__limit(m.max_tags_per_scope, TR_TEMPO_MAX_NAMES, TR_TEMPO_MAX_NAMES);
    struct tr_tempo_tag_scope *scopes = NULL;
    size_t n = 0;
    status = tr_tempo_tags_run(req->app, tenant, &p, a, &scopes, &n, errmsg);
    if (status != 0) {
        return status;
    }
    struct tr_tempo_meta_metrics mt = {0};
    int rv =
        v2 ? tr_tempo_pb_tags_v2_resp(scopes, n, &mt, out)
           : tr_tempo_pb_tags_resp(scopes[0].tags, scopes[0].n_tags, &mt, out);
    return rv == 0 ? 0 : 500;
}

static int tg__tag_values(const struct tr_http_request *req,
                          const char *tenant,
                          bool v2,
                          struct tr_arena *a,
                          struct tr_buf *out,
                          char *errmsg)
{
    struct tr_tempo_tag_values_req m;
    if (tr_tempo_pb_tag_values_req(req->body, req->body_len, &m, errmsg) != 0) {
        return 400;
    }
    uint64_t start, end;
    int status = tg__range(req, m.start, m.end, &start, &end, errmsg);
    if (status != 0) {
        return status;
    }
    uint64_t limit =
        tg__limit(m.max_tag_values, TR_TEMPO_MAX_VALUES, TR_TEMPO_MAX_VALUES);
    struct tr_tempo_tag_value *v = NULL;
    size_t n = 0;
    status = tr_tempo_tag_values_run(req->app, tenant, m.tag_name, m.query, v2,
                                     start, end, limit, a, &v, &n, errmsg);
    if (status != 0) {
        return status;
    }
    struct tr_tempo_meta_metrics mt = {0};
    return tr_tempo_pb_tag_values_resp(v, n, v2, &mt, out) == 0 ? 0 : 500;
}

static int tg__metrics(const struct tr_http_request *req,
                       const char *tenant,
                       bool instant,
                       struct tr_arena *a,
                       struct tr_buf *out,
                       char *errmsg)
{
    struct tr_tempo_metrics_req m;
    if (tr_tempo_pb_metrics_req(req->body, req->body_len, instant, &m,
                                errmsg) != 0) {
        return 400;
    }
    if (m.query.len == 0) {
        tr_errf(TR_EINVAL, errmsg, "missing query: a TraceQL metrics query");
        return 400;
    }
    if (m.start > INT64_MAX || m.end > INT64_MAX || m.step > INT64_MAX) {
        tr_errf(TR_EINVAL, errmsg,
                "invalid start, end or step: beyond 2^63 ns");
        return 400;
    }
    struct tr_tempo_metrics_params p = {
        .q = m.query,
        .end = m.end > 0 ? (int64_t)m.end : tr_now_ms() * 1000000,
        .step = (int64_t)m.step,
        .instant = instant,
    };
    p.start = m.start > 0 ? (int64_t)m.start : p.end - 3600000000000LL;
    struct tr_tempo_metrics_result r;
    int status = tr_tempo_metrics_run(req->app, tenant, &p, a, &r, errmsg);
    if (status == 0) {
        struct tr_tempo_search_metrics mt = {.completed_jobs = 1,
                                             .total_jobs = 1};
        status = tr_tempo_pb_metrics_resp(r.series, r.n, instant, &mt, out) == 0
                     ? 0
                     : 500;
    }
    tr_tempo_metrics_release(&r);
    return status;
}

void tr_api_tempo_grpc(const struct tr_http_request *req,
                       struct tr_http_response *resp)
{
    char tenant[TR_TENANT_MAX + 1], errmsg[TR_ERRMSG_SIZE];
    int rv = tr_app_tenant(req->app, req, tenant, errmsg);
    if (rv != 0) {
        tg__fail(resp, tr_status_for(rv), errmsg);
        return;
    }
    struct tr_slice method =
        req->n_params > 0 ? req->params[0] : (struct tr_slice){"", 0};
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    struct tr_buf *out = &resp->body;
    tr_buf_reset(out);
    int status;
    errmsg[0] = '\0';
    if (tr_slice_eq_cstr(method, "search")) {
        status = tg__search(req, tenant, &a, out, errmsg);
    } else if (tr_slice_eq_cstr(method, "tags") ||
               tr_slice_eq_cstr(method, "tags-v2")) {
        status = tg__tags(req, tenant, method.len > 4, &a, out, errmsg);
    } else if (tr_slice_eq_cstr(method, "tag-values") ||
               tr_slice_eq_cstr(method, "tag-values-v2")) {
        status = tg__tag_values(req, tenant, method.len > 10, &a, out, errmsg);
    } else if (tr_slice_eq_cstr(method, "metrics-range") ||
               tr_slice_eq_cstr(method, "metrics-instant")) {
        status = tg__metrics(req, tenant, method.len > 13, &a, out, errmsg);
    } else {
        status = 404;
        tr_errf(TR_ENOTFOUND, errmsg, "unknown method %.*s",
                (int)(method.len > 64 ? 64 : method.len), method.base);
    }
    if (status != 0) {
        tg__fail(resp, status, errmsg[0] ? errmsg : "out of memory");
    } else {
        resp->content_type = "application/x-protobuf";
    }
    tr_arena_free(&a);
}
