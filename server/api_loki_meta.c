/* api_loki_meta.c - the Loki API endpoints that read streams but run no
 * LogQL pipeline: labels, label values, series, index stats, volume (and
 * its range form), detected labels, build information, Grafana's Logs
 * Drilldown limits. JSON as Loki writes it; errors text/plain. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "lib/err.h"
#include "lib/json.h"
#include "server/app.h"
#include "server/loki_params.h"
#include "server/version.h"

#define VOLUME_DEFAULT_LIMIT 100
#define VOLUME_MAX_STEPS 11000

static const struct tr_log_source *meta__src(const struct tr_http_request *req)
{
    struct tr_app *app = req->app;
    return tr_cluster_log_source(app->cluster);
}

static void meta__hints(const struct tr_loki_req *lr, struct tr_log_hints *h)
{
    memset(h, 0, sizeof(*h));
    h->start = lr->start;
    h->end = lr->end > lr->start ? lr->end : lr->start + 1;
    h->no_lines = true;
}

static void meta__strings(struct tr_http_response *resp,
                          const struct tr_string_list *l)
{
    struct tr_json j;
    tr_buf_reset(&resp->body);
    tr_json_init(&j, &resp->body);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "status");
    tr_json_str(&j, "success");
    tr_json_key(&j, "data");
    tr_json_arr_begin(&j);
    for (size_t i = 0; i < l->n; i++) {
        tr_json_str_n(&j, l->items[i].base, l->items[i].len);
    }
    tr_json_arr_end(&j);
    tr_json_obj_end(&j);
    resp->content_type = "application/json";
    resp->status = 200;
}

/* Stream label names (name NULL) or the values of label *name among the
 * streams of the optional `query` selector. */
static void meta__labels(const struct tr_http_request *req,
                         struct tr_http_response *resp,
                         const struct tr_slice *name)
{
    struct tr_loki_req lr;
    struct tr_matcher *ms;
    size_t n;
    if (tr_loki_req_init(req, resp, &lr) != 0 ||
        tr_loki_selector(req, resp, "query", true, &ms, &n) != 0) {
        return;
    }
    struct tr_log_hints h;
    meta__hints(&lr, &h);
    const struct tr_log_source *src = meta__src(req);
    struct tr_string_list l;
    char err[TR_ERRMSG_SIZE];
    struct tr_slice tenant = tr_slice_cstr(lr.tenant);
    int rv =
        name == NULL
            ? src->label_names(src->impl, tenant, ms, n, &h, &l, err)
            : src->label_values(src->impl, tenant, *name, ms, n, &h, &l, err);
    if (rv == 0) {
        meta__strings(resp, &l);
    } else {
        tr_loki_error(resp, rv, err);
    }
    tr_string_list_free(&l);
    tr_loki_matchers_free(ms, n);
}

/* GET /loki/api/v1/labels (and /label): stream label names. */
void tr_api_loki_labels(const struct tr_http_request *req,
                        struct tr_http_response *resp)
{
    meta__labels(req, resp, NULL);
}

/* GET /loki/api/v1/label/<name>/values */
void tr_api_loki_label_values(const struct tr_http_request *req,
                              struct tr_http_response *resp)
{
    meta__labels(req, resp, &req->params[0]);
}

/* The streams of one selector (no lines), for series, stats and volume. */
static int meta__streams(const struct tr_http_request *req,
                         const struct tr_loki_req *lr,
                         const struct tr_matcher *ms,
                         size_t n,
                         int64_t start,
                         int64_t end,
                         struct tr_log_result *r,
                         char *err)
{
    struct tr_log_hints h;
    struct tr_loki_req part = *lr;
    part.start = start;
    part.end = end;
    meta__hints(&part, &h);
    const struct tr_log_source *src = meta__src(req);
    return src->select(src->impl, tr_slice_cstr(lr->tenant), ms, n, &h, r, err);
}

static void meta__labels_obj(struct tr_json *j,
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

/* GET/POST /loki/api/v1/series: the streams matching any match[] (or
 * query) selector. */
void tr_api_loki_series(const struct tr_http_request *req,
                        struct tr_http_response *resp)
{
    struct tr_loki_req lr;
    if (tr_loki_req_init(req, resp, &lr) != 0) {
        return;
    }
    size_t total = 0;
    struct tr_slice sels[64];
    size_t ns = tr_http_form_values(req, "match[]", sels, 64, &total);
    if (total > 64) {
        tr_http_resp_text(resp, 400, "too many match[] selectors (max 64)");
        return;
    }
    /* each selector in turn; streams of several selectors deduplicated */
    struct tr_log_result parts[64];
    size_t np = 0;
    int rv = 0;
    char err[TR_ERRMSG_SIZE];
    const char *q = tr_http_form_get(req, "query");
    size_t todo = ns > 0 ? ns : 1;
    for (size_t i = 0; i < todo && rv == 0; i++) {
        struct tr_matcher *ms = NULL;
        size_t n = 0;
        if (ns == 0 && (q == NULL || q[0] == '\0')) {
            tr_http_resp_text(resp, 400, "match[] parameter is required");
            return;
        }
        rv = tr_loki_parse_selector(ns > 0 ? sels[i].base : q, "match[]", &ms,
                                    &n, err);
        if (rv != 0) {
            break;
        }
        rv = meta__streams(req, &lr, ms, n, lr.start, lr.end, &parts[np], err);
        np++;
        tr_loki_matchers_free(ms, n);
    }
    if (rv != 0) {
        for (size_t i = 0; i < np; i++) {
            tr_log_result_free(&parts[i]);
        }
        tr_loki_error(resp, rv, err);
        return;
    }
    struct tr_json j;
    tr_buf_reset(&resp->body);
    tr_json_init(&j, &resp->body);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "status");
    tr_json_str(&j, "success");
    tr_json_key(&j, "data");
    tr_json_arr_begin(&j);
    for (size_t p = 0; p < np; p++) {
        for (size_t i = 0; i < parts[p].n_streams; i++) {
            const struct tr_log_stream *s = &parts[p].streams[i];
            bool seen = false;
            for (size_t q2 = 0; q2 < p && !seen; q2++) {
                for (size_t k = 0; k < parts[q2].n_streams && !seen; k++) {
                    seen = tr_labels_cmp(parts[q2].streams[k].labels,
                                         parts[q2].streams[k].n_labels,
                                         s->labels, s->n_labels) == 0;
                }
            }
            if (!seen) {
                meta__labels_obj(&j, s->labels, s->n_labels);
            }
        }
    }
    tr_json_arr_end(&j);
    tr_json_obj_end(&j);
    resp->content_type = "application/json";
    for (size_t i = 0; i < np; i++) {
        tr_log_result_free(&parts[i]);
    }
}

/* GET /loki/api/v1/index/stats: streams, chunks (our blocks), bytes and
 * entries of the selector's streams in the range. */
void tr_api_loki_index_stats(const struct tr_http_request *req,
                             struct tr_http_response *resp)
{
    struct tr_loki_req lr;
    struct tr_matcher *ms;
    size_t n;
    if (tr_loki_req_init(req, resp, &lr) != 0 ||
        tr_loki_selector(req, resp, "query", false, &ms, &n) != 0) {
        return;
    }
    struct tr_log_result r;
    char err[TR_ERRMSG_SIZE];
    int rv = meta__streams(req, &lr, ms, n, lr.start, lr.end, &r, err);
    tr_loki_matchers_free(ms, n);
    if (rv != 0) {
        tr_log_result_free(&r);
        tr_loki_error(resp, rv, err);
        return;
    }
    uint64_t bytes = 0, entries = 0;
    for (size_t i = 0; i < r.n_streams; i++) {
        bytes += r.streams[i].total_bytes;
        entries += r.streams[i].total_entries;
    }
    tr_buf_reset(&resp->body);
    tr_buf_printf(&resp->body,
                  "{\"streams\":%zu,\"chunks\":%" PRIu64 ",\"bytes\":%" PRIu64
                  ",\"entries\":%" PRIu64 "}",
                  r.n_streams, r.stats.blocks_total, bytes, entries);
    resp->content_type = "application/json";
    tr_log_result_free(&r);
}

/* One group of the volume: labels (arena) and bytes. */
struct vol_group {
    struct tr_label *labels;
    size_t n;
    uint64_t bytes;
};

static int vol__cmp(const void *a, const void *b)
{
    const struct vol_group *x = a, *y = b;
    if (x->bytes != y->bytes) {
        return x->bytes > y->bytes ? -1 : 1;
    }
    return tr_labels_cmp(x->labels, x->n, y->labels, y->n);
}

/* Groups r's streams by the target labels (all labels when none, or by
 * each target label alone with aggregateBy=labels as Loki does), summing
 * bytes; sorted by bytes, descending. */
static size_t vol__groups(const struct tr_log_result *r,
                          const char *targets,
                          bool by_labels,
                          struct tr_arena *a,
                          struct vol_group **out)
{
    size_t cap = r->n_streams * 4 + 1, ng = 0;
    struct vol_group *g = tr_arena_alloc(a, cap * sizeof(*g));
    if (g == NULL) {
        *out = NULL;
        return 0;
    }
    for (size_t i = 0; i < r->n_streams; i++) {
        const struct tr_log_stream *s = &r->streams[i];
        struct tr_label key[64];
        size_t nk = 0;
        if (targets == NULL || targets[0] == '\0') {
            if (by_labels) {
                /* one group per label name=value of the stream */
                for (size_t k = 0; k < s->n_labels && ng < cap; k++) {
                    struct tr_label one = s->labels[k];
                    size_t f = 0;
                    while (f < ng &&
                           tr_labels_cmp(g[f].labels, g[f].n, &one, 1) != 0) {
                        f++;
                    }
                    if (f == ng) {
                        g[ng].labels = tr_arena_memdup(a, &one, sizeof(one));
                        g[ng].n = 1;
                        g[ng++].bytes = 0;
                    }
                    g[f].bytes += s->total_bytes;
                }
                continue;
            }
            for (size_t k = 0; k < s->n_labels && nk < 64; k++) {
                key[nk++] = s->labels[k];
            }
        } else {
            const char *p = targets;
            while (*p != '\0' && nk < 64) {
                const char *e = strchr(p, ',');
                size_t len = e ? (size_t)(e - p) : strlen(p);
                struct tr_slice v =
                    tr_labels_get(s->labels, s->n_labels, p, len);
                if (v.base != NULL) {
                    key[nk].name = (struct tr_slice){p, len};
                    key[nk++].value = v;
                }
                p += len + (e != NULL);
            }
            tr_labels_sort(key, nk);
        }
        size_t f = 0;
        while (f < ng && tr_labels_cmp(g[f].labels, g[f].n, key, nk) != 0) {
            f++;
        }
        if (f == ng && ng < cap) {
            g[ng].labels =
                nk ? tr_arena_memdup(a, key, nk * sizeof(*key)) : NULL;
            g[ng].n = nk;
            g[ng++].bytes = 0;
        }
        if (f < ng) {
            g[f].bytes += s->total_bytes;
        }
    }
    qsort(g, ng, sizeof(*g), vol__cmp);
    *out = g;
    return ng;
}

static void vol__metric(struct tr_json *j, const struct vol_group *g)
{
    tr_json_key(j, "metric");
    meta__labels_obj(j, g->labels, g->n);
}

static void vol__value(struct tr_json *j, int64_t t_ns, uint64_t bytes)
{
    char num[48];
    tr_json_arr_begin(j);
    snprintf(num, sizeof(num), "%.3f", (double)t_ns / 1e9);
    /* whole seconds print as integers, as Loki's */
    size_t k = strlen(num);
    while (k > 0 && num[k - 1] == '0') {
        num[--k] = '\0';
    }
    if (k > 0 && num[k - 1] == '.') {
        num[--k] = '\0';
    }
    tr_json_raw(j, num, k);
    snprintf(num, sizeof(num), "%" PRIu64, bytes);
    tr_json_str(j, num);
    tr_json_arr_end(j);
}

static void volume(const struct tr_http_request *req,
                   struct tr_http_response *resp,
                   bool range)
{
    struct tr_loki_req lr;
    struct tr_matcher *ms;
    size_t n;
    if (tr_loki_req_init(req, resp, &lr) != 0 ||
        tr_loki_selector(req, resp, "query", false, &ms, &n) != 0) {
        return;
    }
    const char *lim = tr_http_form_get(req, "limit");
    size_t limit = VOLUME_DEFAULT_LIMIT;
    if (lim != NULL && lim[0] != '\0') {
        char *e;
        unsigned long long v = strtoull(lim, &e, 10);
        if (*e != '\0' || v == 0) {
            tr_loki_matchers_free(ms, n);
            tr_http_resp_text(resp, 400, "invalid limit parameter");
            return;
        }
        limit = (size_t)v;
    }
    const char *targets = tr_http_form_get(req, "targetLabels");
    const char *agg = tr_http_form_get(req, "aggregateBy");
    bool by_labels = agg != NULL && strcmp(agg, "labels") == 0;
    int64_t step = lr.end - lr.start;
    if (range) {
        const char *st = tr_http_form_get(req, "step");
        step = (lr.end - lr.start) / 250 / 1000000000 * 1000000000;
        if (step < 1000000000) {
            step = 1000000000;
        }
        if (st != NULL && st[0] != '\0' &&
            (tr_loki_parse_duration(st, &step) != 0 || step <= 0)) {
            tr_loki_matchers_free(ms, n);
            tr_http_resp_text(resp, 400, "invalid step parameter");
            return;
        }
        if ((lr.end - lr.start) / step > VOLUME_MAX_STEPS) {
            tr_loki_matchers_free(ms, n);
            tr_http_resp_text(resp, 400,
                              "exceeded maximum resolution of 11,000 points "
                              "per timeseries. Try decreasing the query "
                              "resolution (?step=XX)");
            return;
        }
    }
    struct tr_json j;
    tr_buf_reset(&resp->body);
    tr_json_init(&j, &resp->body);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "status");
    tr_json_str(&j, "success");
    tr_json_key(&j, "data");
    tr_json_obj_begin(&j);
    tr_json_key(&j, "resultType");
    tr_json_str(&j, range ? "matrix" : "vector");
    tr_json_key(&j, "result");
    tr_json_arr_begin(&j);
    char err[TR_ERRMSG_SIZE];
    struct tr_arena a;
    tr_arena_init(&a, 16 * 1024);
    int rv = 0;
    if (!range) {
        struct tr_log_result r;
        rv = meta__streams(req, &lr, ms, n, lr.start, lr.end, &r, err);
        struct vol_group *g = NULL;
        size_t ng = rv == 0 ? vol__groups(&r, targets, by_labels, &a, &g) : 0;
        for (size_t i = 0; i < ng && i < limit; i++) {
            tr_json_obj_begin(&j);
            vol__metric(&j, &g[i]);
            tr_json_key(&j, "value");
            vol__value(&j, lr.end, g[i].bytes);
            tr_json_obj_end(&j);
        }
        tr_log_result_free(&r);
    } else {
        /* one select per step: the streams' volume in (t - step, t] */
        struct series {
            struct vol_group g;
            struct tr_buf pts; /* per point: i64 t, u64 bytes */
        };
        struct series *ss = NULL;
        size_t nss = 0, capss = 0;
        for (int64_t t = lr.start; t <= lr.end && rv == 0; t += step) {
            struct tr_log_result r;
            rv = meta__streams(req, &lr, ms, n, t - step, t, &r, err);
            struct vol_group *g = NULL;
            size_t ng =
                rv == 0 ? vol__groups(&r, targets, by_labels, &a, &g) : 0;
            for (size_t i = 0; i < ng; i++) {
                size_t f = 0;
                while (f < nss && tr_labels_cmp(ss[f].g.labels, ss[f].g.n,
                                                g[i].labels, g[i].n) != 0) {
                    f++;
                }
                if (f == nss) {
                    if (nss == capss) {
                        struct series *x =
                            tr_array_grow(ss, &capss, sizeof(*x), 16);
                        if (x == NULL) {
                            rv = tr_errf(TR_ENOMEM, err, "out of memory");
                            break;
                        }
                        ss = x;
                    }
                    ss[nss].g = g[i];
                    ss[nss].g.bytes = 0;
                    tr_buf_init(&ss[nss].pts);
                    nss++;
                }
                ss[f].g.bytes += g[i].bytes;
                tr_buf_put_u64be(&ss[f].pts, (uint64_t)t);
                tr_buf_put_u64be(&ss[f].pts, g[i].bytes);
            }
            /* keep the labels alive: r's memory goes to the arena */
            tr_arena_adopt(&a, &r.arena);
            tr_log_result_free(&r);
        }
        if (nss > 1) {
            qsort(ss, nss, sizeof(*ss), vol__cmp);
        }
        for (size_t i = 0; i < nss && rv == 0 && i < limit; i++) {
            tr_json_obj_begin(&j);
            vol__metric(&j, &ss[i].g);
            tr_json_key(&j, "values");
            tr_json_arr_begin(&j);
            for (size_t o = 0; o + 16 <= ss[i].pts.len; o += 16) {
                vol__value(&j, (int64_t)tr_get_u64be(ss[i].pts.data + o),
                           tr_get_u64be(ss[i].pts.data + o + 8));
            }
            tr_json_arr_end(&j);
            tr_json_obj_end(&j);
        }
        for (size_t i = 0; i < nss; i++) {
            tr_buf_free(&ss[i].pts);
        }
        tr_free(ss);
    }
    tr_json_arr_end(&j);
    tr_json_obj_end(&j);
    tr_json_obj_end(&j);
    tr_arena_free(&a);
    tr_loki_matchers_free(ms, n);
    if (rv != 0) {
        tr_loki_error(resp, rv, err);
        return;
    }
    resp->content_type = "application/json";
}

/* GET /loki/api/v1/index/volume */
void tr_api_loki_volume(const struct tr_http_request *req,
                        struct tr_http_response *resp)
{
    volume(req, resp, false);
}

/* GET /loki/api/v1/index/volume_range */
void tr_api_loki_volume_range(const struct tr_http_request *req,
                              struct tr_http_response *resp)
{
    volume(req, resp, true);
}

static int meta__pair_cmp(const void *a, const void *b)
{
    const struct tr_label *x = a, *y = b;
    return tr_labels_cmp(x, 1, y, 1) != 0
               ? tr_labels_cmp(x, 1, y, 1)
               : (x->value.len == y->value.len
                      ? memcmp(x->value.base, y->value.base, x->value.len)
                      : (x->value.len < y->value.len ? -1 : 1));
}

/* GET /loki/api/v1/detected_labels: stream labels of the selector's
 * streams (all streams without one) with their cardinality. */
void tr_api_loki_detected_labels(const struct tr_http_request *req,
                                 struct tr_http_response *resp)
{
    struct tr_loki_req lr;
    struct tr_matcher *ms;
    size_t n;
    if (tr_loki_req_init(req, resp, &lr) != 0 ||
        tr_loki_selector(req, resp, "query", true, &ms, &n) != 0) {
        return;
    }
    struct tr_matcher any;
    bool own = false;
    char err[TR_ERRMSG_SIZE];
    if (n == 0) {
        /* every stream: every stream has service_name (or another label
         * matching .+); select through a matcher on it */
        if (tr_matcher_init(&any, TR_MATCH_RE, "service_name", ".+", 2, err) !=
            0) {
            tr_loki_error(resp, TR_ENOMEM, err);
            return;
        }
        own = true;
    }
    struct tr_log_result r;
    int rv = meta__streams(req, &lr, own ? &any : ms, own ? 1 : n, lr.start,
                           lr.end, &r, err);
    if (own) {
        tr_matcher_free(&any);
    }
    tr_loki_matchers_free(ms, n);
    if (rv != 0) {
        tr_log_result_free(&r);
        tr_loki_error(resp, rv, err);
        return;
    }
    /* distinct (name, value) pairs, counted per name */
    size_t total = 0;
    for (size_t i = 0; i < r.n_streams; i++) {
        total += r.streams[i].n_labels;
    }
    struct tr_label *all = tr_malloc((total ? total : 1) * sizeof(*all));
    if (all == NULL) {
        tr_log_result_free(&r);
        tr_loki_error(resp, TR_ENOMEM, "out of memory");
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < r.n_streams; i++) {
        for (size_t x = 0; x < r.streams[i].n_labels; x++) {
            all[k++] = r.streams[i].labels[x];
        }
    }
    qsort(all, k, sizeof(*all), meta__pair_cmp);
    struct tr_json j;
    tr_buf_reset(&resp->body);
    tr_json_init(&j, &resp->body);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "detectedLabels");
    tr_json_arr_begin(&j);
    for (size_t i = 0; i < k;) {
        size_t e = i, card = 0;
        while (e < k && tr_slice_eq(all[e].name, all[i].name)) {
            card += e == i || !tr_slice_eq(all[e].value, all[e - 1].value);
            e++;
        }
        if (!(all[i].name.len >= 2 && all[i].name.base[0] == '_' &&
              all[i].name.base[1] == '_')) {
            tr_json_obj_begin(&j);
            tr_json_key(&j, "label");
            tr_json_str_n(&j, all[i].name.base, all[i].name.len);
            tr_json_key(&j, "cardinality");
            tr_json_uint(&j, card);
            tr_json_obj_end(&j);
        }
        i = e;
    }
    tr_json_arr_end(&j);
    tr_json_obj_end(&j);
    resp->content_type = "application/json";
    tr_free(all);
    tr_log_result_free(&r);
}

/* GET /loki/api/v1/status/buildinfo: a Loki 3.x version, so that Grafana's
 * Logs Drilldown (>= 3.2; 3.5 for JSON filtering) enables itself. */
void tr_api_loki_buildinfo(const struct tr_http_request *req,
                           struct tr_http_response *resp)
{
    (void)req;
    tr_buf_reset(&resp->body);
    tr_buf_printf(&resp->body,
                  "{\"version\":\"%s\",\"revision\":\"%s\",\"branch\":"
                  "\"triad\",\"buildUser\":\"triad\",\"buildDate\":\"\","
                  "\"goVersion\":\"\"}",
                  TR_LOKI_VERSION, TRIAD_REVISION);
    resp->content_type = "application/json";
}

/* GET /loki/api/v1/drilldown-limits: the limits Grafana's Logs Drilldown
 * reads (Loki 3.5). */
void tr_api_loki_drilldown_limits(const struct tr_http_request *req,
                                  struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    const struct tr_config *cfg = app->cfg;
    struct tr_json j;
    tr_buf_reset(&resp->body);
    tr_json_init(&j, &resp->body);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "limits");
    tr_json_obj_begin(&j);
    tr_json_key(&j, "discover_log_levels");
    tr_json_bool(&j, cfg->limits.discover_log_levels);
    tr_json_key(&j, "discover_service_name");
    tr_json_arr_begin(&j);
    const char *p = cfg->limits.discover_service_name;
    while (p != NULL && *p != '\0') {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        tr_json_str_n(&j, p, len);
        p += len + (e != NULL);
    }
    tr_json_arr_end(&j);
    tr_json_key(&j, "log_level_fields");
    tr_json_arr_begin(&j);
    static const char *const lf[] = {"level",    "LEVEL",    "Level",
                                     "severity", "SEVERITY", "Severity",
                                     "lvl",      "LVL",      "Lvl"};
    for (size_t i = 0; i < sizeof(lf) / sizeof(lf[0]); i++) {
        tr_json_str(&j, lf[i]);
    }
    tr_json_arr_end(&j);
    tr_json_key(&j, "max_entries_limit_per_query");
    tr_json_int(&j, TR_LOKI_MAX_ENTRIES);
    tr_json_key(&j, "max_query_series");
    tr_json_int(&j, 500);
    tr_json_key(&j, "query_timeout");
    char d[32];
    snprintf(d, sizeof(d), "%" PRId64 "s", cfg->query_timeout_ms / 1000);
    tr_json_str(&j, d);
    tr_json_key(&j, "retention_period");
    snprintf(d, sizeof(d), "%" PRId64 "h", cfg->retention_logs_ms / 3600000);
    tr_json_str(&j, d);
    tr_json_key(&j, "volume_enabled");
    tr_json_bool(&j, true);
    tr_json_key(&j, "volume_max_series");
    tr_json_int(&j, 1000);
    tr_json_key(&j, "pattern_persistence_enabled");
    tr_json_bool(&j, false);
    tr_json_key(&j, "metric_aggregation_enabled");
    tr_json_bool(&j, false);
    tr_json_obj_end(&j);
    tr_json_key(&j, "pattern_ingester_enabled");
    tr_json_bool(&j, true);
    tr_json_key(&j, "version");
    tr_json_str(&j, TR_LOKI_VERSION);
    tr_json_obj_end(&j);
    resp->content_type = "application/json";
}
