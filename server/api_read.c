/* api_read.c - Prometheus read endpoints that need no PromQL:
 * /api/v1/series, /api/v1/labels, /api/v1/label/<name>/values,
 * /api/v1/metadata, /api/v1/status/buildinfo. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "cluster/cluster.h"
#include "server/app.h"
#include "server/prom_json.h"
#include "server/version.h"

#define TRUNCATED_WARNING "results truncated due to limit"

/* Reads tenant and time range; writes the error response on failure. */
static int read__common(const struct tr_http_request *req,
                        struct tr_http_response *resp,
                        char *tenant,
                        struct tr_select_hints *h)
{
    struct tr_app *app = req->app;
    char err[TR_ERRMSG_SIZE];
    int rv = tr_app_tenant(app, req, tenant, err);
    if (rv != 0) {
        tr_prom_error(resp, tr_status_for(rv),
                      rv == TR_EAUTH ? "unauthorized" : "bad_data", err);
        return -1;
    }
    memset(h, 0, sizeof(*h));
    if (tr_prom_time_param(req, resp, "start", TR_PROM_MIN_TIME, &h->mint) !=
            0 ||
        tr_prom_time_param(req, resp, "end", TR_PROM_MAX_TIME, &h->maxt) != 0) {
        return -1;
    }
    const char *cons = tr_http_form_get(req, "consistency");
    if (cons != NULL && strcmp(cons, "strong") == 0) {
        h->leader_only = true; /* read every shard from its leader */
    } else if (cons != NULL && cons[0] != '\0' &&
               strcmp(cons, "eventual") != 0) {
        tr_prom_error(resp, 400, "bad_data",
                      "invalid parameter \"consistency\": want strong or "
                      "eventual");
        return -1;
    }
    if (h->maxt < h->mint) {
        tr_prom_error(resp, 400, "bad_data",
                      "invalid parameter \"end\": end timestamp must not be "
                      "before start time");
        return -1;
    }
    return 0;
}

static void read__storage_error(struct tr_http_response *resp,
                                int rv,
                                const char *err)
{
    if (rv == TR_ELIMIT) {
        tr_prom_error(resp, 422, "execution", err);
    } else {
        tr_prom_error(resp, tr_status_for(rv) == 400 ? 400 : 503,
                      tr_status_for(rv) == 400 ? "bad_data" : "unavailable",
                      err);
    }
}

struct series_ref {
    const struct tr_series_data *sd;
};

static int read__series_cmp(const void *a, const void *b)
{
    const struct series_ref *x = a, *y = b;
    return tr_labels_cmp(x->sd->labels, x->sd->n_labels, y->sd->labels,
                         y->sd->n_labels);
}

void tr_api_series(const struct tr_http_request *req,
                   struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    char tenant[TR_TENANT_MAX + 1];
    struct tr_select_hints h;
    size_t limit;
    if (read__common(req, resp, tenant, &h) != 0 ||
        tr_prom_limit_param(req, resp, &limit) != 0) {
        return;
    }
    struct tr_prom_matchers pm;
    if (tr_prom_matchers_param(req, resp, &pm) != 0) {
        return;
    }
    if (pm.n == 0) {
        tr_prom_error(resp, 400, "bad_data", "no match[] parameter provided");
        return;
    }
    h.no_samples = true;
    h.limit = limit > 0 ? limit + 1 : 0;
    struct tr_select_result *res = tr_calloc(pm.n, sizeof(*res));
    if (res == NULL) {
        tr_prom_matchers_free(&pm);
        tr_prom_error(resp, 503, "internal", "out of memory");
        return;
    }
    size_t total = 0;
    int rv = 0;
    char err[TR_ERRMSG_SIZE];
    size_t done = 0;
    for (; done < pm.n; done++) {
        rv = app->source->select(app->source->impl, tr_slice_cstr(tenant),
                                 pm.sets[done], pm.lens[done], &h, &res[done],
                                 err);
        if (rv != 0) {
            break;
        }
        total += res[done].n_series;
    }
    if (rv == 0) {
        struct series_ref *refs =
            tr_malloc((total ? total : 1) * sizeof(*refs));
        if (refs == NULL) {
            rv = tr_errf(TR_ENOMEM, err, "out of memory");
        } else {
            size_t k = 0;
            for (size_t i = 0; i < pm.n; i++) {
                for (size_t j = 0; j < res[i].n_series; j++) {
                    refs[k++].sd = &res[i].series[j];
                }
            }
            if (pm.n > 1 && k > 1) {
                qsort(refs, k, sizeof(*refs), read__series_cmp);
            }
            struct tr_json j;
            tr_prom_success_begin(resp, &j);
            tr_json_arr_begin(&j);
            size_t out = 0;
            bool truncated = false;
            for (size_t i = 0; i < k; i++) {
                if (i > 0 && read__series_cmp(&refs[i - 1], &refs[i]) == 0) {
                    continue;
                }
                if (limit > 0 && out >= limit) {
                    truncated = true;
                    break;
                }
                tr_json_obj_begin(&j);
                for (size_t l = 0; l < refs[i].sd->n_labels; l++) {
                    const struct tr_label *lb = &refs[i].sd->labels[l];
                    tr_json_key_n(&j, lb->name.base, lb->name.len);
                    tr_json_str_n(&j, lb->value.base, lb->value.len);
                }
                tr_json_obj_end(&j);
                out++;
            }
            tr_json_arr_end(&j);
            tr_prom_success_end(resp, &j, truncated ? TRUNCATED_WARNING : NULL);
            tr_free(refs);
        }
    }
    for (size_t i = 0; i < pm.n; i++) {
        tr_select_result_free(&res[i]);
    }
    tr_free(res);
    tr_prom_matchers_free(&pm);
    if (rv != 0) {
        read__storage_error(resp, rv, err);
    }
}

/* Shared by /labels and /label/<name>/values: union over match[] sets. */
static void read__strings(const struct tr_http_request *req,
                          struct tr_http_response *resp,
                          const struct tr_slice *value_of)
{
    struct tr_app *app = req->app;
    char tenant[TR_TENANT_MAX + 1];
    struct tr_select_hints h;
    size_t limit;
    if (read__common(req, resp, tenant, &h) != 0 ||
        tr_prom_limit_param(req, resp, &limit) != 0) {
        return;
    }
    struct tr_prom_matchers pm;
    if (tr_prom_matchers_param(req, resp, &pm) != 0) {
        return;
    }
    h.no_samples = true;
    h.limit = limit > 0 ? limit + 1 : 0;
    size_t sets = pm.n ? pm.n : 1;
    struct tr_string_list *lists = tr_calloc(sets, sizeof(*lists));
    if (lists == NULL) {
        tr_prom_matchers_free(&pm);
        tr_prom_error(resp, 503, "internal", "out of memory");
        return;
    }
    int rv = 0;
    char err[TR_ERRMSG_SIZE];
    const struct tr_select_source *src = app->source;
    for (size_t i = 0; i < sets && rv == 0; i++) {
        const struct tr_matcher *ms = pm.n ? pm.sets[i] : NULL;
        size_t nm = pm.n ? pm.lens[i] : 0;
        rv = value_of == NULL
                 ? src->label_names(src->impl, tr_slice_cstr(tenant), ms, nm,
                                    &h, &lists[i], err)
                 : src->label_values(src->impl, tr_slice_cstr(tenant),
                                     *value_of, ms, nm, &h, &lists[i], err);
    }
    if (rv == 0) {
        /* every part holds at most limit + 1: the union is cut at limit
         * only when there are more */
        struct tr_string_list u;
        if (tr_string_list_union(lists, sets, limit, &u) != 0) {
            rv = tr_errf(TR_ENOMEM, err, "out of memory");
        } else {
            struct tr_json j;
            tr_prom_success_begin(resp, &j);
            tr_json_arr_begin(&j);
            for (size_t i = 0; i < u.n; i++) {
                tr_json_str_n(&j, u.items[i].base, u.items[i].len);
            }
            tr_json_arr_end(&j);
            tr_prom_success_end(resp, &j,
                                u.truncated ? TRUNCATED_WARNING : NULL);
        }
        tr_string_list_free(&u);
    }
    for (size_t i = 0; i < sets; i++) {
        tr_string_list_free(&lists[i]);
    }
    tr_free(lists);
    tr_prom_matchers_free(&pm);
    if (rv != 0) {
        read__storage_error(resp, rv, err);
    }
}

void tr_api_labels(const struct tr_http_request *req,
                   struct tr_http_response *resp)
{
    read__strings(req, resp, NULL);
}

void tr_api_label_values(const struct tr_http_request *req,
                         struct tr_http_response *resp)
{
    struct tr_slice name =
        req->n_params > 0 ? req->params[0] : (struct tr_slice){"", 0};
    bool ok = name.len > 0;
    for (size_t i = 0; i < name.len && ok; i++) {
        char c = name.base[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
             (i > 0 && c >= '0' && c <= '9');
    }
    if (!ok) {
        char msg[512];
        snprintf(msg, sizeof(msg), "invalid label name: \"%.*s\"",
                 (int)(name.len > 300 ? 300 : name.len), name.base);
        tr_prom_error(resp, 400, "bad_data", msg);
        return;
    }
    read__strings(req, resp, &name);
}

static const char *read__type_name(uint8_t t)
{
    static const char *const names[] = {
        "unknown",        "counter", "gauge", "histogram",
        "gaugehistogram", "summary", "info",  "stateset"};
    return t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

void tr_api_metadata(const struct tr_http_request *req,
                     struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    char tenant[TR_TENANT_MAX + 1];
    char err[TR_ERRMSG_SIZE];
    int rv = tr_app_tenant(app, req, tenant, err);
    if (rv != 0) {
        tr_prom_error(resp, tr_status_for(rv),
                      rv == TR_EAUTH ? "unauthorized" : "bad_data", err);
        return;
    }
    size_t limit;
    if (tr_prom_limit_param(req, resp, &limit) != 0) {
        return;
    }
    const char *lpm = tr_http_form_get(req, "limit_per_metric");
    if (lpm != NULL && lpm[0] != '\0') {
        char *end;
        long long v = strtoll(lpm, &end, 10);
        if (*end != '\0') {
            tr_prom_error(resp, 400, "bad_data",
                          "invalid parameter \"limit_per_metric\"");
            return;
        }
        if (v == 0) {
            /* zero metadata per metric: every metric with an empty list is
             * dropped by Prometheus too */
            struct tr_json j;
            tr_prom_success_begin(resp, &j);
            tr_json_obj_begin(&j);
            tr_json_obj_end(&j);
            tr_prom_success_end(resp, &j, NULL);
            return;
        }
    }
    const char *metric = tr_http_form_get(req, "metric");
    struct tr_metadata_item *items;
    size_t n;
    snprintf(err, sizeof(err), "metadata read failed");
    if (app->cluster != NULL) {
        /* cluster-wide: the metrics shards hold it, every node answers
         * alike */
        rv = tr_cluster_metadata(app->cluster, tr_slice_cstr(tenant),
                                 tr_slice_cstr(metric ? metric : ""), limit,
                                 req->arena, &items, &n, err);
    } else {
        rv = tr_storage_metadata(app->storage, tr_slice_cstr(tenant),
                                 tr_slice_cstr(metric ? metric : ""), limit,
                                 NULL, 0, req->arena, &items, &n);
    }
    if (rv != 0) {
        tr_prom_error(resp, 503, "unavailable", err);
        return;
    }
    struct tr_json j;
    tr_prom_success_begin(resp, &j);
    tr_json_obj_begin(&j);
    for (size_t i = 0; i < n; i++) {
        tr_json_key_n(&j, items[i].metric.base, items[i].metric.len);
        tr_json_arr_begin(&j);
        tr_json_obj_begin(&j);
        tr_json_key(&j, "type");
        tr_json_str(&j, read__type_name(items[i].type));
        tr_json_key(&j, "help");
        tr_json_str_n(&j, items[i].help.base, items[i].help.len);
        tr_json_key(&j, "unit");
        tr_json_str_n(&j, items[i].unit.base, items[i].unit.len);
        tr_json_obj_end(&j);
        tr_json_arr_end(&j);
    }
    tr_json_obj_end(&j);
    tr_prom_success_end(resp, &j, NULL);
}

void tr_api_buildinfo(const struct tr_http_request *req,
                      struct tr_http_response *resp)
{
    (void)req;
    /* Grafana reads "version" to pick PromQL features; triad implements
     * Prometheus 2.53 semantics. No "features" key (Grafana would take us
     * for Mimir). */
    struct tr_json j;
    tr_prom_success_begin(resp, &j);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "version");
    tr_json_str(&j, "2.53.0");
    tr_json_key(&j, "revision");
    tr_json_str(&j, TRIAD_REVISION);
    tr_json_key(&j, "branch");
    tr_json_str(&j, "main");
    tr_json_key(&j, "buildUser");
    tr_json_str(&j, "triad");
    tr_json_key(&j, "buildDate");
    tr_json_str(&j, __DATE__);
    tr_json_key(&j, "goVersion");
    tr_json_str(&j, "none (C11, triad " TRIAD_VERSION ")");
    tr_json_obj_end(&j);
    tr_prom_success_end(resp, &j, NULL);
}
