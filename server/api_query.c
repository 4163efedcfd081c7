/* api_query.c - Prometheus PromQL endpoints: /api/v1/query,
 * /api/v1/query_range, /api/v1/format_query, and the stubs Grafana probes
 * (/api/v1/query_exemplars, /api/v1/rules, /api/v1/alerts). Responses are
 * byte-compatible with Prometheus 2.53 (web/api/v1/api.go). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "cluster/cluster.h"
#include "lib/err.h"
#include "query/promql/eval.h"
#include "query/promql/lexer.h"
#include "query/promql/parser.h"
#include "server/app.h"
#include "server/prom_json.h"
#include "server/prom_result.h"

#define QUERY_DEFAULT_TIMEOUT_MS (2 * 60 * 1000)
#define QUERY_MAX_SAMPLES 50000000

/* Prometheus' invalidParamError: `invalid parameter "name": msg`. */
static void query__bad_param(struct tr_http_response *resp,
                             const char *name,
                             const char *msg)
{
    char buf[TR_ERRMSG_SIZE + 64];
    snprintf(buf, sizeof(buf), "invalid parameter \"%s\": %s", name, msg);
    tr_prom_error(resp, 400, "bad_data", buf);
}

/* Prometheus' parseDuration: float seconds or a duration string. */
static int query__parse_duration(const char *s, int64_t *ms, char *errmsg)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end != s && *end == '\0' && !isnan(d)) {
        double ns = d * 1e9;
        if (ns >= 9223372036854775807.0 || ns < -9223372036854775808.0) {
            snprintf(errmsg, TR_ERRMSG_SIZE,
                     "cannot parse \"%.300s\" to a valid duration. It "
                     "overflows int64",
                     s);
            return TR_EINVAL;
        }
        /* time.Duration(ns) truncates; keep ms (sub-ms steps round down) */
        *ms = (int64_t)ns / 1000000;
        return 0;
    }
    if (tr_promql_parse_duration(s, strlen(s), ms, NULL) == 0) {
        return 0;
    }
    snprintf(errmsg, TR_ERRMSG_SIZE,
             "cannot parse \"%.300s\" to a valid duration", s);
    return TR_EINVAL;
}

/* Optional duration parameter; on error writes the response. */
static int query__duration_param(const struct tr_http_request *req,
                                 struct tr_http_response *resp,
                                 const char *name,
                                 int64_t def,
                                 int64_t *ms)
{
    const char *v = tr_http_form_get(req, name);
    *ms = def;
    if (v == NULL || v[0] == '\0') {
        return 0;
    }
    char err[TR_ERRMSG_SIZE];
    if (query__parse_duration(v, ms, err) != 0) {
        query__bad_param(resp, name, err);
        return -1;
    }
    return 0;
}

/* Required time (query_range start/end): parseTime's message. */
static int query__required_time(const struct tr_http_request *req,
                                struct tr_http_response *resp,
                                const char *name,
                                int64_t *ms)
{
    const char *v = tr_http_form_get(req, name);
    if (v == NULL) {
        v = "";
    }
    if (v[0] == '\0' || tr_prom_parse_time(v, ms) != 0) {
        char msg[TR_ERRMSG_SIZE];
        snprintf(msg, sizeof(msg),
                 "cannot parse \"%.300s\" to a valid timestamp", v);
        query__bad_param(resp, name, msg);
        return -1;
    }
    return 0;
}

/* Maps an evaluation error to Prometheus' error type and status. */
static void query__eval_error(struct tr_http_response *resp,
                              int rv,
                              const char *err)
{
    switch (rv) {
        case TR_EINVAL:
            query__bad_param(resp, "query", err);
            break;
        case TR_EEXEC:
        case TR_ELIMIT:
            tr_prom_error(resp, 422, "execution", err);
            break;
        case TR_ETIMEOUT:
            tr_prom_error(resp, 503, "timeout", err);
            break;
        case TR_ECANCELED:
            tr_prom_error(resp, 499, "canceled", err);
            break;
        case TR_EUNAVAIL:
            tr_prom_error(resp, 503, "unavailable", err);
            break;
        default:
            tr_prom_error(resp, 500, "internal",
                          err[0] ? err : tr_strerror(rv));
            break;
    }
}

/* The "query" parameter ("" when absent) as a slice: it may hold NUL
 * bytes (%00 in the form), which PromQL string literals accept. */
static struct tr_slice query__text(const struct tr_http_request *req)
{
    struct tr_slice q;
    if (tr_http_form_values(req, "query", &q, 1, NULL) == 0) {
        return (struct tr_slice){"", 0};
    }
    return q;
}

/* Shared by query and query_range; step 0 = instant at start. */
static void query__run(const struct tr_http_request *req,
                       struct tr_http_response *resp,
                       const char *tenant,
                       int64_t start,
                       int64_t end,
                       int64_t step,
                       const struct tr_promql_eval_opts *opts)
{
    struct tr_app *app = req->app;
    struct tr_slice q = query__text(req);
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    struct tr_promql_node *expr = NULL;
    char err[TR_ERRMSG_SIZE] = "";
    int rv = tr_promql_parse(q.base, q.len, &a, &expr, err);
    if (rv != 0) {
        if (rv == TR_ENOMEM) {
            tr_prom_error(resp, 503, "internal", "out of memory");
        } else {
            query__bad_param(resp, "query", err);
        }
        tr_arena_free(&a);
        return;
    }
    atomic_fetch_add(&app->queries_running, 1);
    struct tr_pq_value v;
    struct tr_pq_annos annos;
    memset(&annos, 0, sizeof(annos));
    struct tr_promql_eval_opts o = *opts;
    o.annos = &annos;
    rv = tr_promql_eval(app->source, tr_slice_cstr(tenant), expr, start, end,
                        step, &o, &a, &v, err);
    if (rv != 0) {
        query__eval_error(resp, rv, err);
    } else {
        struct tr_json j;
        tr_prom_success_begin(resp, &j);
        tr_prom_write_result(&j, resp, &v, start);
        tr_prom_success_end_annos(resp, &j, &annos, q.base, q.len);
    }
    tr_pq_annos_free(&annos);
    atomic_store(&app->last_query_end_ms, tr_mono_ns() / 1000000);
    atomic_fetch_sub(&app->queries_running, 1);
    tr_promql_ast_free(expr);
    tr_arena_free(&a);
}

/* Tenant, timeout and lookback_delta; writes the error response. */
static int query__common(const struct tr_http_request *req,
                         struct tr_http_response *resp,
                         char *tenant,
                         struct tr_promql_eval_opts *opts)
{
    struct tr_app *app = req->app;
    char err[TR_ERRMSG_SIZE];
    int rv = tr_app_tenant(app, req, tenant, err);
    if (rv != 0) {
        tr_prom_error(resp, tr_status_for(rv),
                      rv == TR_EAUTH ? "unauthorized" : "bad_data", err);
        return -1;
    }
    memset(opts, 0, sizeof(*opts));
    const struct tr_config *cfg = app->cfg;
    int64_t max_timeout =
        cfg != NULL ? cfg->query_timeout_ms : QUERY_DEFAULT_TIMEOUT_MS;
    int64_t timeout, lookback;
    if (query__duration_param(req, resp, "timeout", max_timeout, &timeout) !=
            0 ||
        query__duration_param(req, resp, "lookback_delta", 0, &lookback) != 0) {
        return -1;
    }
    if (timeout <= 0 || timeout > max_timeout) {
        timeout = max_timeout;
    }
    opts->deadline_mono_ns = tr_mono_ns() + timeout * 1000000;
    opts->lookback_ms =
        lookback > 0 ? lookback : (cfg != NULL ? cfg->query_lookback_ms : 0);
    opts->max_samples =
        cfg != NULL ? (size_t)cfg->query_max_samples : QUERY_MAX_SAMPLES;
    opts->max_series = cfg != NULL ? (size_t)cfg->query_max_series : 0;
    return 0;
}

void tr_api_query(const struct tr_http_request *req,
                  struct tr_http_response *resp)
{
    char tenant[TR_TENANT_MAX + 1];
    struct tr_promql_eval_opts opts;
    if (query__common(req, resp, tenant, &opts) != 0) {
        return;
    }
    int64_t ts;
    if (tr_prom_time_param(req, resp, "time", tr_now_ms(), &ts) != 0) {
        return;
    }
    query__run(req, resp, tenant, ts, ts, 0, &opts);
}

void tr_api_query_range(const struct tr_http_request *req,
                        struct tr_http_response *resp)
{
    char tenant[TR_TENANT_MAX + 1];
    struct tr_promql_eval_opts opts;
    if (query__common(req, resp, tenant, &opts) != 0) {
        return;
    }
    int64_t start, end, step;
    if (query__required_time(req, resp, "start", &start) != 0 ||
        query__required_time(req, resp, "end", &end) != 0) {
        return;
    }
    if (end < start) {
        query__bad_param(resp, "end",
                         "end timestamp must not be before start time");
        return;
    }
    const char *sv = tr_http_form_get(req, "step");
    char err[TR_ERRMSG_SIZE];
    if (sv == NULL) {
        sv = "";
    }
    if (query__parse_duration(sv, &step, err) != 0) {
        query__bad_param(resp, "step", err);
        return;
    }
    if (step <= 0) {
        query__bad_param(resp, "step",
                         "zero or negative query resolution step widths are "
                         "not accepted. Try a positive integer");
        return;
    }
    if ((end - start) / step > TR_PROMQL_MAX_POINTS) {
        tr_prom_error(resp, 400, "bad_data",
                      "exceeded maximum resolution of 11,000 points per "
                      "timeseries. Try decreasing the query resolution "
                      "(?step=XX)");
        return;
    }
    query__run(req, resp, tenant, start, end, step, &opts);
}

void tr_api_format_query(const struct tr_http_request *req,
                         struct tr_http_response *resp)
{
    struct tr_slice q = query__text(req);
    struct tr_arena a;
    tr_arena_init(&a, 16 * 1024);
    struct tr_promql_node *expr = NULL;
    char err[TR_ERRMSG_SIZE] = "";
    int rv = tr_promql_parse(q.base, q.len, &a, &expr, err);
    if (rv != 0) {
        query__bad_param(resp, "query", err);
        tr_arena_free(&a);
        return;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    tr_promql_format(expr, &b);
    struct tr_json j;
    tr_prom_success_begin(resp, &j);
    tr_json_str_n(&j, b.data ? b.data : "", b.len);
    tr_prom_success_end(resp, &j, NULL);
    if (b.oom) {
        tr_prom_error(resp, 503, "internal", "out of memory");
    }
    tr_buf_free(&b);
    tr_promql_ast_free(expr);
    tr_arena_free(&a);
}

/* Exemplar times: Prometheus' float seconds / RFC 3339, or (as some
 * clients send) integer milliseconds. */
static int query__exemplar_time(const struct tr_http_request *req,
                                struct tr_http_response *resp,
                                const char *name,
                                int64_t def,
                                int64_t *ms)
{
    const char *v = tr_http_form_get(req, name);
    if (v != NULL && v[0] != '\0' && strspn(v, "0123456789") == strlen(v) &&
        strlen(v) >= 13) {
        *ms = strtoll(v, NULL, 10);
        return 0;
    }
    return tr_prom_time_param(req, resp, name, def, ms);
}

/* The vector selectors of a query (Prometheus' parser.ExtractSelectors:
 * every vector selector, also those of range selectors and subqueries). */
static int query__selectors(struct tr_promql_node *n,
                            struct tr_promql_node **out,
                            size_t *n_out,
                            size_t cap)
{
    if (n == NULL) {
        return 0;
    }
    switch (n->kind) {
        case TR_PROMQL_NODE_VECTOR_SEL:
            if (*n_out == cap) {
                return TR_ELIMIT;
            }
            out[(*n_out)++] = n;
            return 0;
        case TR_PROMQL_NODE_MATRIX_SEL:
            return query__selectors(n->ms.vs, out, n_out, cap);
        case TR_PROMQL_NODE_SUBQUERY:
            return query__selectors(n->sq.expr, out, n_out, cap);
        case TR_PROMQL_NODE_UNARY:
            return query__selectors(n->unary.expr, out, n_out, cap);
        case TR_PROMQL_NODE_PAREN:
            return query__selectors(n->paren.expr, out, n_out, cap);
        case TR_PROMQL_NODE_BINARY: {
            int rv = query__selectors(n->bin.lhs, out, n_out, cap);
            return rv != 0 ? rv : query__selectors(n->bin.rhs, out, n_out, cap);
        }
        case TR_PROMQL_NODE_AGGREGATE: {
            int rv = query__selectors(n->agg.param, out, n_out, cap);
            return rv != 0 ? rv
                           : query__selectors(n->agg.expr, out, n_out, cap);
        }
        case TR_PROMQL_NODE_CALL:
            for (size_t i = 0; i < n->call.n_args; i++) {
                int rv = query__selectors(n->call.args[i], out, n_out, cap);
                if (rv != 0) {
                    return rv;
                }
            }
            return 0;
        default:
            return 0;
    }
}

static void query__labels_json(struct tr_json *j,
                               const struct tr_label *ls,
                               size_t n)
{
    tr_json_obj_begin(j);
    for (size_t i = 0; i < n; i++) {
        tr_json_key_n(j, ls[i].name.base, ls[i].name.len);
        tr_json_str_n(j, ls[i].value.base, ls[i].value.len);
    }
    tr_json_obj_end(j);
}

#define QUERY_MAX_SELECTORS 64

void tr_api_query_exemplars(const struct tr_http_request *req,
                            struct tr_http_response *resp)
{
    int64_t start, end;
    if (query__exemplar_time(req, resp, "start", TR_PROM_MIN_TIME, &start) !=
            0 ||
        query__exemplar_time(req, resp, "end", TR_PROM_MAX_TIME, &end) != 0) {
        return;
    }
    if (end < start) {
        query__bad_param(resp, "end",
                         "end timestamp must not be before start time");
        return;
    }
    struct tr_app *app = req->app;
    char err[TR_ERRMSG_SIZE] = "";
    char tenant[TR_TENANT_MAX + 1];
    int rv = tr_app_tenant(app, req, tenant, err);
    if (rv != 0) {
        tr_prom_error(resp, tr_status_for(rv), "bad_data", err);
        return;
    }
    struct tr_slice q = query__text(req);
    struct tr_arena a;
    tr_arena_init(&a, 16 * 1024);
    struct tr_promql_node *expr = NULL;
    if (tr_promql_parse(q.base, q.len, &a, &expr, err) != 0) {
        tr_prom_error(resp, 400, "bad_data", err);
        tr_arena_free(&a);
        return;
    }
    struct tr_promql_node *sels[QUERY_MAX_SELECTORS];
    size_t n_sels = 0;
    if (query__selectors(expr, sels, &n_sels, QUERY_MAX_SELECTORS) != 0) {
        tr_prom_error(resp, 400, "bad_data",
                      "too many selectors in an exemplar query (at most 64)");
        tr_promql_ast_free(expr);
        tr_arena_free(&a);
        return;
    }
    struct tr_exemplar_series *all = NULL;
    size_t n_all = 0, cap_all = 0;
    for (size_t i = 0; i < n_sels && rv == 0; i++) {
        struct tr_exemplar_series *v = NULL;
        size_t n = 0;
        rv = tr_cluster_exemplars(app->cluster, tr_slice_cstr(tenant),
                                  sels[i]->vs.matchers, sels[i]->vs.n_matchers,
                                  start, end, &a, &v, &n, err);
        for (size_t k = 0; rv == 0 && k < n; k++) {
            if (n_all == cap_all) {
                struct tr_exemplar_series *nv = tr_arena_array_grow(
                    &a, all, n_all, &cap_all, sizeof(*nv), 64);
                if (nv == NULL) {
                    rv = tr_errf(TR_ENOMEM, err, "out of memory");
                    break;
                }
                all = nv;
            }
            all[n_all++] = v[k];
        }
    }
    if (rv == 0 && n_sels > 1) {
        rv = tr_exemplar_series_merge(all, &n_all, &a);
    }
    tr_promql_ast_free(expr);
    if (rv != 0) {
        tr_prom_error(resp, rv == TR_ENOMEM ? 503 : tr_status_for(rv),
                      rv == TR_EUNAVAIL ? "unavailable" : "internal", err);
        tr_arena_free(&a);
        return;
    }
    struct tr_json j;
    tr_prom_success_begin(resp, &j);
    tr_json_arr_begin(&j);
    for (size_t i = 0; i < n_all; i++) {
        tr_json_obj_begin(&j);
        tr_json_key(&j, "seriesLabels");
        query__labels_json(&j, all[i].labels, all[i].n_labels);
        tr_json_key(&j, "exemplars");
        tr_json_arr_begin(&j);
        for (size_t k = 0; k < all[i].n; k++) {
            const struct tr_exemplar *e = &all[i].ex[k];
            char num[TR_DOUBLE_BUF];
            tr_json_obj_begin(&j);
            tr_json_key(&j, "labels");
            query__labels_json(&j, e->labels, e->n_labels);
            tr_json_key(&j, "value");
            size_t nl = tr_format_double(num, e->value);
            tr_json_str_n(&j, num, nl);
            tr_json_key(&j, "timestamp");
            nl = tr_prom_format_ts(num, e->ts);
            tr_json_raw(&j, num, nl);
            tr_json_obj_end(&j);
        }
        tr_json_arr_end(&j);
        tr_json_obj_end(&j);
    }
    tr_json_arr_end(&j);
    tr_prom_success_end(resp, &j, NULL);
    tr_arena_free(&a);
}

void tr_api_rules(const struct tr_http_request *req,
                  struct tr_http_response *resp)
{
    (void)req;
    struct tr_json j;
    tr_prom_success_begin(resp, &j);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "groups");
    tr_json_arr_begin(&j);
    tr_json_arr_end(&j);
    tr_json_obj_end(&j);
    tr_prom_success_end(resp, &j, NULL);
}

void tr_api_alerts(const struct tr_http_request *req,
                   struct tr_http_response *resp)
{
    (void)req;
    struct tr_json j;
    tr_prom_success_begin(resp, &j);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "alerts");
    tr_json_arr_begin(&j);
    tr_json_arr_end(&j);
    tr_json_obj_end(&j);
    tr_prom_success_end(resp, &j, NULL);
}
