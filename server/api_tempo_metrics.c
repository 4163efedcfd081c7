/* api_tempo_metrics.c - TraceQL metrics: GET /api/metrics/query_range and
 * GET /api/metrics/query (Tempo's API; semantics in
 * query/traceql/metrics.h).
 *
 * Parameters: q (a TraceQL metrics query), start and end (Unix seconds,
 * fractions allowed, or nanoseconds when larger than 1e14; RFC3339 is not
 * accepted), since (a duration before end instead of start), step (a
 * duration such as "30s", or seconds; query_range only; default: the
 * range / 100, at least 1 s). The query is pushed down to the nodes that
 * hold traces shards of the range (as search is: server/api_tempo_search.c):
 * each aggregates its spans per series and step and answers the partial
 * state; this node merges them and answers Tempo's JSON:
 *
 *   range:   {"series":[{"labels":[{"key":..,"value":{..}}],"samples":
 *            [{"timestampMs":"..","value":N}],"promLabels":"{k=\"v\"}"}],
 *            "metrics":{...}}
 *   instant: {"series":[{"labels":[..],"value":N,"promLabels":".."}]}
 *
 *   pushed request (kind 4 of api_tempo_search.c's node requests): the
 *   common head, then str query, varint step ns */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/json.h"
#include "query/traceql/metrics.h"
#include "query/traceql/traceql.h"
#include "server/app.h"
#include "server/tempo_metrics.h"
#include "server/tempo_trace.h"

#define TM_KIND 4

static void tm__text(struct tr_http_response *resp, int status, const char *m)
{
    tr_buf_reset(&resp->body);
    tr_buf_puts(&resp->body, m);
    tr_buf_putc(&resp->body, '\n');
    resp->content_type = "text/plain; charset=utf-8";
    resp->status = status;
}

/* A time parameter in ns: Unix seconds (fractions allowed), or ns when
 * larger than 1e14. 0 (absent: *out unchanged) or TR_EINVAL. */
static int tm__time(const struct tr_http_request *req,
                    const char *name,
                    int64_t *out)
{
    const char *v = tr_http_form_get(req, name);
    if (v == NULL || *v == '\0') {
        return 0;
    }
    char *end;
    double x = strtod(v, &end);
    if (*end != '\0' || !isfinite(x) || x < 0 || x > 9.2e18) {
        return TR_EINVAL;
    }
    *out = x > 1e14 ? (int64_t)x : (int64_t)(x * 1e9);
    return 0;
}

/* A duration parameter ("30s", "1m30s", "500ms") or seconds, in ns. */
static int tm__duration(const char *v, int64_t *out)
{
    char *end;
    double x = strtod(v, &end);
    if (end != v && *end == '\0' && isfinite(x) && x > 0) {
        *out = (int64_t)(x * 1e9);
        return 0;
    }
    int64_t total = 0;
    const char *p = v;
    while (*p) {
        double n = strtod(p, &end);
        if (end == p || !(n >= 0)) {
            return TR_EINVAL;
        }
        p = end;
        double unit;
        if (strncmp(p, "ms", 2) == 0) {
            unit = 1e6;
            p += 2;
        } else if (strncmp(p, "us", 2) == 0) {
            unit = 1e3;
            p += 2;
        } else if (strncmp(p, "ns", 2) == 0) {
            unit = 1;
            p += 2;
        } else if (*p == 's') {
            unit = 1e9;
            p++;
        } else if (*p == 'm') {
            unit = 60e9;
            p++;
        } else if (*p == 'h') {
            unit = 3600e9;
            p++;
        } else if (*p == 'd') {
            unit = 86400e9;
            p++;
        } else {
            return TR_EINVAL;
        }
        total += (int64_t)(n * unit);
    }
    if (total <= 0) {
        return TR_EINVAL;
    }
    *out = total;
    return 0;
}

struct tm_node {
    struct tr_traceql_metrics_job *job;
};

static int tm__observe(void *arg, const struct tr_span_batch *t, char *errmsg)
{
    struct tm_node *x = arg;
    int rv = tr_traceql_metrics_observe(x->job, t);
    if (rv == TR_ELIMIT) {
        return tr_errf(rv, errmsg,
                       "the query makes more than %d series: narrow its by()",
                       TR_TQL_METRICS_MAX_SERIES);
    }
    return rv == 0 ? 0 : tr_errf(rv, errmsg, "out of memory");
}

int tr_tempo_metrics_node(const struct tr_trace_source *src,
                          const struct tr_shard_id *ids,
                          size_t n,
                          struct tr_slice tenant,
                          uint64_t start,
                          uint64_t end,
                          struct tr_cursor *c,
                          struct tr_buf *out,
                          char *errmsg)
{
    uint64_t ql;
    struct tr_slice q;
    int64_t step;
    if (tr_cursor_uvarint(c, &ql) != 0 || tr_cursor_bytes(c, ql, &q) != 0 ||
        tr_cursor_varint(c, &step) != 0 || step <= 0) {
        return tr_errf(TR_EPROTO, errmsg, "malformed metrics request");
    }
    struct tr_arena a;
    tr_arena_init(&a, 16 * 1024);
    struct tr_traceql_query *query;
    struct tm_node x = {NULL};
    int rv = tr_traceql_parse(q.base, q.len, &a, &query, errmsg);
    if (rv == 0) {
        rv = tr_traceql_validate(query, errmsg);
    }
    if (rv == 0) {
        rv = tr_traceql_metrics_new(query, (int64_t)start, (int64_t)end, step,
                                    &x.job, errmsg);
    }
    if (rv == 0) {
        struct tr_trace_eq eqs[TR_TRACE_MAX_EQ];
        struct tr_trace_hints h = {
            .start = start,
            .end = end,
            .eq = eqs,
            .n_eq = tr_traceql_metrics_prune(x.job, eqs, TR_TRACE_MAX_EQ),
            .whole = !tr_traceql_metrics_span_local(x.job),
            .shards = ids,
            .n_shards = n,
        };
        rv = src->scan(src->impl, tenant, &h, tm__observe, &x, errmsg);
    }
    if (rv == 0 && tr_traceql_metrics_encode(x.job, out) != 0) {
        rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    tr_traceql_metrics_free(x.job);
    tr_arena_free(&a);
    return rv;
}

static int tm__merge(void *arg, const void *answer, size_t len, char *errmsg)
{
    struct tm_node *x = arg;
    int rv = tr_traceql_metrics_merge(x->job, answer, len);
    if (rv == TR_ELIMIT) {
        return tr_errf(rv, errmsg,
                       "the query makes more than %d series: narrow its by()",
                       TR_TQL_METRICS_MAX_SERIES);
    }
    return rv == 0 ? 0
                   : tr_errf(rv == TR_ENOMEM ? rv : TR_EUNAVAIL, errmsg,
                             "bad metrics answer from a node");
}

/* The series' labels as Tempo's promLabels ({k="v", ...}) into a. */
static int tm__prom_labels(const struct tr_traceql_series *s,
                           struct tr_arena *a,
                           struct tr_slice *out)
{
    struct tr_buf b;
    tr_buf_init(&b);
    tr_buf_putc(&b, '{');
    for (size_t i = 0; i < s->n_labels; i++) {
        const struct tr_otlp_kv *kv = &s->labels[i];
        tr_buf_printf(&b, "%s%.*s=\"", i ? ", " : "", (int)kv->key.len,
                      kv->key.base);
        const struct tr_otlp_value *v = &kv->value;
        if (v->type == TR_OTLP_STRING) {
            for (size_t k = 0; k < v->s.len; k++) {
                char ch = v->s.base[k];
                if (ch == '"' || ch == '\\') {
                    tr_buf_putc(&b, '\\');
                }
                tr_buf_putc(&b, ch);
            }
        } else if (v->type == TR_OTLP_INT) {
            tr_buf_printf(&b, "%" PRId64, v->i);
        } else if (v->type == TR_OTLP_DOUBLE) {
            tr_buf_printf(&b, "%g", v->d);
        } else if (v->type == TR_OTLP_BOOL) {
            tr_buf_puts(&b, v->b ? "true" : "false");
        } else {
            tr_buf_puts(&b, "nil");
        }
        tr_buf_putc(&b, '"');
    }
    tr_buf_putc(&b, '}');
    char *p = b.oom ? NULL : tr_arena_memdup(a, b.data, b.len);
    *out = (struct tr_slice){p, p ? b.len : 0};
    tr_buf_free(&b);
    return p ? 0 : TR_ENOMEM;
}

/* The job's result as tempo_pb.h's series (in a). */
static int tm__series(struct tr_traceql_metrics_job *job,
                      struct tr_arena *a,
                      struct tr_tempo_series **out,
                      size_t *n_out)
{
    struct tr_traceql_series *series = NULL;
    size_t n = 0;
    int rv = tr_traceql_metrics_result(job, &series, &n);
    if (rv != 0) {
        return rv;
    }
    struct tr_tempo_series *o = tr_arena_alloc(a, (n + 1) * sizeof(*o));
    if (o == NULL) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const struct tr_traceql_series *s = &series[i];
        struct tr_tempo_sample *sm =
            tr_arena_alloc(a, (s->n_samples + 1) * sizeof(*sm));
        if (sm == NULL || tm__prom_labels(s, a, &o[i].prom_labels) != 0) {
            return TR_ENOMEM;
        }
        for (size_t k = 0; k < s->n_samples; k++) {
            sm[k] = (struct tr_tempo_sample){s->samples[k].ts_ms,
                                             s->samples[k].value};
        }
        o[i].labels = s->labels;
        o[i].n_labels = s->n_labels;
        o[i].samples = sm;
        o[i].n_samples = s->n_samples;
    }
    *out = o;
    *n_out = n;
    return 0;
}

int tr_tempo_metrics_run(struct tr_app *app,
                         const char *tenant,
                         const struct tr_tempo_metrics_params *p,
                         struct tr_arena *a,
                         struct tr_tempo_metrics_result *out,
                         char *errmsg)
{
    memset(out, 0, sizeof(*out));
    int64_t start = p->start, end = p->end, step = p->step;
    if (end < start) {
        tr_errf(TR_EINVAL, errmsg, "invalid start and end: end before start");
        return 400;
    }
    if (p->instant) {
        step = end - start + 1;
    } else if (step <= 0) {
        step = (end - start) / 100;
        step = step < 1000000000 ? 1000000000 : step;
    }
    struct tr_traceql_query *query;
    struct tm_node x = {NULL};
    int rv = tr_traceql_parse(p->q.base, p->q.len, a, &query, errmsg);
    if (rv == 0) {
        rv = tr_traceql_validate(query, errmsg);
    }
    if (rv == 0) {
        rv = tr_traceql_metrics_new(query, start, end, step, &x.job, errmsg);
    }
    if (rv != 0) {
        return rv == TR_ENOMEM ? 500 : 400;
    }
    out->job = x.job;
    struct tr_buf r;
    tr_buf_init(&r);
    tr_buf_putc(&r, TM_KIND);
    tr_buf_put_uvarint(&r, strlen(tenant));
    tr_buf_puts(&r, tenant);
    tr_buf_put_u64be(&r, (uint64_t)start);
    tr_buf_put_u64be(&r, (uint64_t)end);
    tr_buf_put_uvarint(&r, p->q.len);
    tr_buf_append(&r, p->q.base, p->q.len);
    tr_buf_put_varint(&r, step);
    rv = r.oom ? tr_errf(TR_ENOMEM, errmsg, "out of memory")
               : tr_cluster_traces_query(app->cluster, r.data, r.len,
                                         start / 1000000, end / 1000000,
                                         tm__merge, &x, errmsg);
    tr_buf_free(&r);
    if (rv == 0) {
        rv = tm__series(x.job, a, &out->series, &out->n);
        if (rv != 0) {
            tr_errf(rv, errmsg, "out of memory");
        }
    }
    return rv == 0 ? 0 : tr_status_for(rv);
}

void tr_tempo_metrics_release(struct tr_tempo_metrics_result *r)
{
    tr_traceql_metrics_free(r->job);
    r->job = NULL;
}

static void tm__number(struct tr_json *j, double v)
{
    if (isnan(v)) {
        tr_json_str(j, "NaN");
    } else if (isinf(v)) {
        tr_json_str(j, v > 0 ? "Infinity" : "-Infinity");
    } else {
        tr_json_double(j, v);
    }
}

static void tm__json(const struct tr_tempo_series *series,
                     size_t n,
                     bool instant,
                     struct tr_buf *out)
{
    struct tr_json j;
    tr_json_init(&j, out);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "series");
    tr_json_arr_begin(&j);
    for (size_t i = 0; i < n; i++) {
        const struct tr_tempo_series *s = &series[i];
        tr_json_obj_begin(&j);
        tr_json_key(&j, "labels");
        tr_json_arr_begin(&j);
        for (size_t k = 0; k < s->n_labels; k++) {
            tr_json_obj_begin(&j);
            tr_json_key(&j, "key");
            tr_json_str_n(&j, s->labels[k].key.base, s->labels[k].key.len);
            tr_json_key(&j, "value");
            tr_tempo_json_value(&j, &s->labels[k].value);
            tr_json_obj_end(&j);
        }
        tr_json_arr_end(&j);
        if (instant) {
            tr_json_key(&j, "value");
            tm__number(&j, s->n_samples > 0 ? s->samples[0].value : 0);
        } else {
            tr_json_key(&j, "samples");
            tr_json_arr_begin(&j);
            for (size_t k = 0; k < s->n_samples; k++) {
                char ts[24];
                snprintf(ts, sizeof(ts), "%" PRId64, s->samples[k].ts_ms);
                tr_json_obj_begin(&j);
                tr_json_key(&j, "timestampMs");
                tr_json_str(&j, ts);
                tr_json_key(&j, "value");
                tm__number(&j, s->samples[k].value);
                tr_json_obj_end(&j);
            }
            tr_json_arr_end(&j);
        }
        tr_json_key(&j, "promLabels");
        tr_json_str_n(&j, s->prom_labels.base, s->prom_labels.len);
        tr_json_obj_end(&j);
    }
    tr_json_arr_end(&j);
    tr_json_key(&j, "metrics");
    tr_json_obj_begin(&j);
    tr_json_key(&j, "completedJobs");
    tr_json_uint(&j, 1);
    tr_json_key(&j, "totalJobs");
    tr_json_uint(&j, 1);
    tr_json_obj_end(&j);
    tr_json_obj_end(&j);
}

static void tm__run(const struct tr_http_request *req,
                    struct tr_http_response *resp,
                    bool instant)
{
    struct tr_app *app = req->app;
    char tenant[TR_TENANT_MAX + 1], errmsg[TR_ERRMSG_SIZE];
    int rv = tr_app_tenant(app, req, tenant, errmsg);
    if (rv != 0) {
        tm__text(resp, tr_status_for(rv), errmsg);
        return;
    }
    const char *q = tr_http_form_get(req, "q");
    if (q == NULL || *q == '\0') {
        q = tr_http_form_get(req, "query");
    }
    if (q == NULL || *q == '\0') {
        tm__text(resp, 400, "missing q: a TraceQL metrics query");
        return;
    }
    int64_t now = tr_now_ms() * 1000000;
    int64_t end = now, start = INT64_MIN, step = 0, since = 3600000000000LL;
    const char *sv = tr_http_form_get(req, "since");
    const char *st = tr_http_form_get(req, "step");
    if (tm__time(req, "end", &end) != 0 ||
        tm__time(req, "start", &start) != 0 ||
        (sv != NULL && *sv != '\0' && tm__duration(sv, &since) != 0) ||
        (st != NULL && *st != '\0' && tm__duration(st, &step) != 0)) {
        tm__text(resp, 400,
                 "invalid start, end, since or step: Unix seconds (or ns) "
                 "and durations such as 30s");
        return;
    }
    if (start == INT64_MIN) {
        start = end - since;
    }
    struct tr_tempo_metrics_params p = {
        .q = {q, strlen(q)},
        .start = start,
        .end = end,
        .step = step,
        .instant = instant,
    };
    struct tr_arena a;
    tr_arena_init(&a, 16 * 1024);
    struct tr_tempo_metrics_result r;
    int status = tr_tempo_metrics_run(app, tenant, &p, &a, &r, errmsg);
    if (status != 0) {
        if (status == 503) {
            tr_http_resp_header(resp, "Retry-After", "1");
        }
        tm__text(resp, status, errmsg);
    } else {
        tr_buf_reset(&resp->body);
        tm__json(r.series, r.n, instant, &resp->body);
        resp->content_type = "application/json";
    }
    tr_tempo_metrics_release(&r);
    tr_arena_free(&a);
}

void tr_api_tempo_metrics_range(const struct tr_http_request *req,
                                struct tr_http_response *resp)
{
    tm__run(req, resp, false);
}

void tr_api_tempo_metrics_instant(const struct tr_http_request *req,
                                  struct tr_http_response *resp)
{
    tm__run(req, resp, true);
}
