/* api_loki_query.c - LogQL endpoints: /loki/api/v1/query (metric queries
 * at one time), /loki/api/v1/query_range (log queries: streams; metric
 * queries: matrix), /loki/api/v1/format_query. Responses as Loki writes
 * them, with its `stats` object; the `X-Loki-Response-Encoding-Flags:
 * categorize-labels` request header selects Loki's categorized form
 * (stream labels only in "stream", each entry [ts, line, {
 * "structuredMetadata": {...}, "parsed": {...}}]); by default structured
 * metadata and parsed labels are folded into the stream labels. Errors are
 * text/plain: 400 bad query or limit, 499 canceled, 504 timeout, 503 data
 * unavailable, 500 otherwise. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/json.h"
#include "query/logql/eval.h"
#include "query/logql/parser.h"
#include "server/app.h"
#include "server/loki_params.h"
#include "server/prom_result.h"

struct lq_ctx {
    struct tr_loki_req lr;
    struct tr_arena arena;
    struct tr_logql_expr *expr;
    struct tr_logql_opts opts;
    int64_t t0; /* mono ns at the start */
};

static void lq__free(struct lq_ctx *q)
{
    tr_logql_ast_free(q->expr);
    tr_arena_free(&q->arena);
}

/* Tenant, times and the parsed query; -1 with the response written. */
static int lq__init(const struct tr_http_request *req,
                    struct tr_http_response *resp,
                    struct lq_ctx *q)
{
    memset(q, 0, sizeof(*q));
    tr_arena_init(&q->arena, 64 * 1024);
    q->t0 = tr_mono_ns();
    if (tr_loki_req_init(req, resp, &q->lr) != 0) {
        return -1;
    }
    const char *text = tr_http_form_get(req, "query");
    if (text == NULL || text[0] == '\0') {
        tr_http_resp_text(resp, 400, "query parameter is required");
        return -1;
    }
    char err[TR_ERRMSG_SIZE];
    int rv = tr_logql_parse(text, strlen(text), &q->arena, &q->expr, err);
    if (rv != 0) {
        tr_loki_error(resp, rv, err);
        return -1;
    }
    struct tr_app *app = req->app;
    const struct tr_config *cfg = app->cfg;
    q->opts.max_entries = cfg->limits.logs_max_entries;
    q->opts.max_series = cfg->limits.logs_max_query_series;
    q->opts.max_bytes = cfg->limits.logs_max_query_bytes;
    int64_t timeout = cfg->query_timeout_ms;
    const char *tp = tr_http_form_get(req, "timeout");
    int64_t tns;
    if (tp != NULL && tp[0] != '\0' && tr_loki_parse_duration(tp, &tns) == 0 &&
        tns / 1000000 < timeout) {
        timeout = tns / 1000000;
    }
    q->opts.deadline_mono_ns = q->t0 + timeout * 1000000;
    return 0;
}

static int lq__limit(const struct tr_http_request *req,
                     struct tr_http_response *resp,
                     size_t *limit)
{
    *limit = TR_LOKI_DEFAULT_LIMIT;
    const char *l = tr_http_form_get(req, "limit");
    if (l == NULL || l[0] == '\0') {
        return 0;
    }
    char *e;
    long long v = strtoll(l, &e, 10);
    if (*e != '\0' || v <= 0) {
        tr_http_resp_text(resp, 400,
                          "invalid limit parameter: must be a positive "
                          "integer");
        return -1;
    }
    *limit = (size_t)v;
    return 0;
}

static int lq__direction(const struct tr_http_request *req,
                         struct tr_http_response *resp,
                         enum tr_log_direction *d)
{
    *d = TR_LOG_BACKWARD;
    const char *s = tr_http_form_get(req, "direction");
    if (s == NULL || s[0] == '\0' || strcasecmp(s, "backward") == 0) {
        return 0;
    }
    if (strcasecmp(s, "forward") == 0) {
        *d = TR_LOG_FORWARD;
        return 0;
    }
    tr_http_resp_text(resp, 400,
                      "invalid direction parameter: must be forward or "
                      "backward");
    return -1;
}

/* Loki's stats object (the parts Grafana shows). */
static void lq__stats(struct tr_json *j,
                      const struct lq_ctx *q,
                      const struct tr_log_stats *st,
                      uint64_t returned)
{
    double secs = (double)(tr_mono_ns() - q->t0) / 1e9;
    if (secs <= 0) {
        secs = 1e-9;
    }
    tr_json_key(j, "stats");
    tr_json_obj_begin(j);
    tr_json_key(j, "summary");
    tr_json_obj_begin(j);
    tr_json_key(j, "bytesProcessedPerSecond");
    tr_json_uint(j, (uint64_t)((double)st->bytes_decompressed / secs));
    tr_json_key(j, "linesProcessedPerSecond");
    tr_json_uint(j, (uint64_t)((double)st->lines_scanned / secs));
    tr_json_key(j, "totalBytesProcessed");
    tr_json_uint(j, st->bytes_decompressed);
    tr_json_key(j, "totalLinesProcessed");
    tr_json_uint(j, st->lines_scanned);
    tr_json_key(j, "execTime");
    tr_json_double(j, secs);
    tr_json_key(j, "queueTime");
    tr_json_int(j, 0);
    tr_json_key(j, "subqueries");
    tr_json_int(j, 0);
    tr_json_key(j, "totalEntriesReturned");
    tr_json_uint(j, returned);
    tr_json_key(j, "splits");
    tr_json_int(j, 0);
    tr_json_key(j, "shards");
    tr_json_int(j, 0);
    tr_json_key(j, "totalPostFilterLines");
    tr_json_uint(j, returned);
    tr_json_key(j, "totalStructuredMetadataBytesProcessed");
    tr_json_int(j, 0);
    tr_json_obj_end(j);
    tr_json_key(j, "querier");
    tr_json_obj_begin(j);
    tr_json_key(j, "store");
    tr_json_obj_begin(j);
    tr_json_key(j, "totalChunksRef");
    tr_json_uint(j, st->blocks_total);
    tr_json_key(j, "totalChunksDownloaded");
    tr_json_uint(j, st->blocks_total - st->blocks_skipped);
    tr_json_key(j, "chunksDownloadTime");
    tr_json_int(j, 0);
    tr_json_key(j, "chunk");
    tr_json_obj_begin(j);
    tr_json_key(j, "decompressedBytes");
    tr_json_uint(j, st->bytes_decompressed);
    tr_json_key(j, "decompressedLines");
    tr_json_uint(j, st->lines_scanned);
    tr_json_key(j, "postFilterLines");
    tr_json_uint(j, returned);
    tr_json_obj_end(j);
    tr_json_obj_end(j);
    tr_json_obj_end(j);
    tr_json_obj_end(j);
}

static void lq__labels(struct tr_json *j, const struct tr_label *ls, size_t n)
{
    tr_json_obj_begin(j);
    for (size_t i = 0; i < n; i++) {
        tr_json_key_n(j, ls[i].name.base, ls[i].name.len);
        tr_json_str_n(j, ls[i].value.base, ls[i].value.len);
    }
    tr_json_obj_end(j);
}

static void lq__ts(struct tr_json *j, int64_t ns)
{
    char b[24];
    snprintf(b, sizeof(b), "%" PRId64, ns);
    tr_json_str(j, b);
}

static void lq__streams_default(struct tr_json *j,
                                const struct tr_logql_streams *r)
{
    for (size_t i = 0; i < r->n_streams; i++) {
        const struct tr_logql_stream *s = &r->streams[i];
        tr_json_obj_begin(j);
        tr_json_key(j, "stream");
        lq__labels(j, s->labels, s->n_labels);
        tr_json_key(j, "values");
        tr_json_arr_begin(j);
        for (size_t k = 0; k < s->n_entries; k++) {
            tr_json_arr_begin(j);
            lq__ts(j, s->entries[k].ts);
            tr_json_str_n(j, s->entries[k].line.base, s->entries[k].line.len);
            tr_json_arr_end(j);
        }
        tr_json_arr_end(j);
        tr_json_obj_end(j);
    }
}

/* The categorize-labels form of a result evaluated with
 * opts.categorize_labels (streams grouped by their stream labels). */
static void lq__streams_categorized(struct tr_json *j,
                                    const struct tr_logql_streams *r)
{
    for (size_t i = 0; i < r->n_streams; i++) {
        const struct tr_logql_stream *s = &r->streams[i];
        tr_json_obj_begin(j);
        tr_json_key(j, "stream");
        lq__labels(j, s->stream_labels, s->n_stream_labels);
        tr_json_key(j, "values");
        tr_json_arr_begin(j);
        for (size_t k = 0; k < s->n_entries; k++) {
            const struct tr_logql_entry *en = &s->entries[k];
            tr_json_arr_begin(j);
            lq__ts(j, en->ts);
            tr_json_str_n(j, en->line.base, en->line.len);
            if (en->n_meta > 0 || en->n_parsed > 0) {
                tr_json_obj_begin(j);
                if (en->n_meta > 0) {
                    tr_json_key(j, "structuredMetadata");
                    lq__labels(j, en->meta, en->n_meta);
                }
                if (en->n_parsed > 0) {
                    tr_json_key(j, "parsed");
                    lq__labels(j, en->parsed, en->n_parsed);
                }
                tr_json_obj_end(j);
            }
            tr_json_arr_end(j);
        }
        tr_json_arr_end(j);
        tr_json_obj_end(j);
    }
}

static bool lq__categorize(const struct tr_http_request *req)
{
    const struct tr_slice *h =
        tr_http_header_get(req, "X-Loki-Response-Encoding-Flags");
    return h != NULL &&
           memmem(h->base, h->len, "categorize-labels", 17) != NULL;
}

static void lq__eval_error(struct tr_http_response *resp,
                           int rv,
                           const char *err)
{
    tr_loki_error(resp, rv == TR_EEXEC ? TR_EINVAL : rv, err);
}

/* A metric result: {"status":"success","data":{<result>,"stats":{..}}}. */
static void lq__metric_response(struct tr_http_response *resp,
                                const struct lq_ctx *q,
                                const struct tr_pq_value *v,
                                int64_t ts_ms)
{
    struct tr_buf data;
    tr_buf_init(&data);
    struct tr_json dj;
    tr_json_init(&dj, &data);
    tr_prom_write_result(&dj, NULL, v, ts_ms);
    /* data ends with the result object's '}': add the stats inside */
    if (data.len > 0 && data.data[data.len - 1] == '}') {
        data.len--;
    }
    struct tr_log_stats none = {0, 0, 0, 0};
    tr_buf_reset(&resp->body);
    tr_buf_puts(&resp->body, "{\"status\":\"success\",\"data\":");
    tr_buf_append(&resp->body, data.data, data.len);
    struct tr_json j;
    tr_json_init(&j, &resp->body);
    tr_buf_putc(&resp->body, ',');
    lq__stats(&j, q, &none, 0);
    tr_buf_puts(&resp->body, "}}");
    resp->content_type = "application/json";
    tr_buf_free(&data);
}

static void lq__run_range(const struct tr_http_request *req,
                          struct tr_http_response *resp,
                          bool instant)
{
    struct tr_app *app = req->app;
    struct lq_ctx q;
    size_t limit;
    enum tr_log_direction dir;
    if (lq__init(req, resp, &q) != 0 || lq__limit(req, resp, &limit) != 0 ||
        lq__direction(req, resp, &dir) != 0) {
        lq__free(&q);
        return;
    }
    char err[TR_ERRMSG_SIZE];
    const struct tr_log_source *src = tr_cluster_log_source(app->cluster);
    struct tr_slice tenant = tr_slice_cstr(q.lr.tenant);
    int rv;
    if (instant) {
        int64_t at = q.lr.now;
        const char *t = tr_http_form_get(req, "time");
        if (t != NULL && t[0] != '\0' && tr_loki_parse_time(t, &at) != 0) {
            tr_http_resp_text(resp, 400, "invalid time parameter");
            lq__free(&q);
            return;
        }
        rv = tr_logql_check_instant(q.expr, err);
        struct tr_pq_value v;
        if (rv == 0) {
            rv = tr_logql_eval_metric(src, tenant, q.expr, at, at, 0, &q.opts,
                                      &q.arena, &v, err);
        }
        if (rv != 0) {
            lq__eval_error(resp, rv, err);
        } else {
            lq__metric_response(resp, &q, &v, at / 1000000);
        }
        lq__free(&q);
        return;
    }
    if (!tr_logql_is_metric(q.expr)) {
        bool cat = lq__categorize(req);
        q.opts.categorize_labels = cat;
        struct tr_logql_streams r;
        rv = tr_logql_select_logs(src, tenant, q.expr, q.lr.start, q.lr.end,
                                  limit, dir, &q.opts, &q.arena, &r, err);
        if (rv != 0) {
            lq__eval_error(resp, rv, err);
            lq__free(&q);
            return;
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
        tr_json_str(&j, "streams");
        if (cat) {
            tr_json_key(&j, "encodingFlags");
            tr_json_arr_begin(&j);
            tr_json_str(&j, "categorize-labels");
            tr_json_arr_end(&j);
        }
        tr_json_key(&j, "result");
        tr_json_arr_begin(&j);
        if (cat) {
            lq__streams_categorized(&j, &r);
        } else {
            lq__streams_default(&j, &r);
        }
        tr_json_arr_end(&j);
        lq__stats(&j, &q, &r.stats, r.n_entries);
        tr_json_obj_end(&j);
        tr_json_obj_end(&j);
        resp->content_type = "application/json";
        lq__free(&q);
        return;
    }
    int64_t step = 0;
    const char *st = tr_http_form_get(req, "step");
    if (st != NULL && st[0] != '\0') {
        if (tr_loki_parse_duration(st, &step) != 0 || step <= 0) {
            tr_http_resp_text(resp, 400,
                              "invalid step parameter: zero or negative query "
                              "resolution step widths are not accepted. Try "
                              "a positive integer");
            lq__free(&q);
            return;
        }
    } else {
        /* Loki's default: (end - start) / 250, at least 1 s */
        step = (q.lr.end - q.lr.start) / 250 / 1000000000 * 1000000000;
        if (step < 1000000000) {
            step = 1000000000;
        }
    }
    struct tr_pq_value v;
    rv = tr_logql_eval_metric(src, tenant, q.expr, q.lr.start, q.lr.end, step,
                              &q.opts, &q.arena, &v, err);
    if (rv != 0) {
        lq__eval_error(resp, rv, err);
    } else {
        lq__metric_response(resp, &q, &v, q.lr.end / 1000000);
    }
    lq__free(&q);
}

/* GET/POST /loki/api/v1/query */
void tr_api_loki_query(const struct tr_http_request *req,
                       struct tr_http_response *resp)
{
    lq__run_range(req, resp, true);
}

/* GET/POST /loki/api/v1/query_range */
void tr_api_loki_query_range(const struct tr_http_request *req,
                             struct tr_http_response *resp)
{
    lq__run_range(req, resp, false);
}

/* GET/POST /loki/api/v1/format_query */
void tr_api_loki_format_query(const struct tr_http_request *req,
                              struct tr_http_response *resp)
{
    const char *text = tr_http_form_get(req, "query");
    if (text == NULL || text[0] == '\0') {
        tr_http_resp_text(resp, 400, "query parameter is required");
        return;
    }
    struct tr_arena a;
    tr_arena_init(&a, 16 * 1024);
    struct tr_logql_expr *e = NULL;
    char err[TR_ERRMSG_SIZE];
    int rv = tr_logql_parse(text, strlen(text), &a, &e, err);
    if (rv != 0) {
        tr_loki_error(resp, rv, err);
        tr_arena_free(&a);
        return;
    }
    struct tr_buf f;
    tr_buf_init(&f);
    tr_logql_format(e, &f);
    struct tr_json j;
    tr_buf_reset(&resp->body);
    tr_json_init(&j, &resp->body);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "status");
    tr_json_str(&j, "success");
    tr_json_key(&j, "data");
    tr_json_str_n(&j, f.data ? f.data : "", f.len);
    tr_json_obj_end(&j);
    resp->content_type = "application/json";
    tr_buf_free(&f);
    tr_logql_ast_free(e);
    tr_arena_free(&a);
}
