/* Tests for proto/otlp_metrics.c: a hand-built ExportMetricsServiceRequest
 * with one metric of each data type (gauge with an exemplar, monotonic
 * cumulative sum, histogram with packed and unpacked buckets, exponential
 * histogram, summary) decodes field for field; every truncation is an
 * error; wrong wire types, a packed field that is not whole doubles and a
 * bad exemplar id are refused with their message. */
#include <criterion/criterion.h>
#include <string.h>

#include "lib/err.h"
#include "proto/otlp_metrics.h"
#include "tests/lib/pbwrite.h"

static const char TID[] = "0123456789abcdef";

static void kv_str(struct tr_buf *b,
                   uint32_t field,
                   const char *k,
                   const char *v)
{
    struct tr_buf kv, val;
    tr_buf_init(&kv);
    tr_buf_init(&val);
    tr_pbw_str(&val, 1, v);
    tr_pbw_str(&kv, 1, k);
    tr_pbw_msg(&kv, 2, &val);
    tr_pbw_msg(b, field, &kv);
    tr_buf_free(&kv);
    tr_buf_free(&val);
}

/* Wraps a data member (field df of Metric) into a metric named name. */
static void metric(struct tr_buf *scope,
                   const char *name,
                   uint32_t df,
                   const struct tr_buf *data)
{
    struct tr_buf m;
    tr_buf_init(&m);
    tr_pbw_str(&m, 1, name);
    tr_pbw_str(&m, 2, "help text");
    tr_pbw_str(&m, 3, "s");
    tr_pbw_msg(&m, df, data);
    kv_str(&m, 12, "meta", "x");
    tr_pbw_msg(scope, 2, &m);
    tr_buf_free(&m);
}

static struct tr_buf request(void)
{
    struct tr_buf scope, dp, data, ex, tmp, rs, req, res;
    tr_buf_init(&scope);
    tr_buf_init(&dp);
    tr_buf_init(&data);
    tr_buf_init(&ex);
    tr_buf_init(&tmp);
    /* gauge: one double point with an exemplar */
    kv_str(&dp, 7, "host", "a");
    tr_pbw_fixed64(&dp, 2, 100);
    tr_pbw_fixed64(&dp, 3, 200);
    tr_pbw_double(&dp, 4, 1.5);
    kv_str(&ex, 7, "user", "u1");
    tr_pbw_fixed64(&ex, 2, 150);
    tr_pbw_double(&ex, 3, 0.25);
    tr_pbw_bytes(&ex, 4, "spanid-1", 8);
    tr_pbw_bytes(&ex, 5, TID, 16);
    tr_pbw_msg(&dp, 5, &ex);
    tr_pbw_uint(&dp, 8, 1);
    tr_pbw_msg(&data, 1, &dp);
    metric(&scope, "g", 5, &data);
    /* sum: monotonic cumulative, an int point */
    tr_buf_reset(&dp);
    tr_buf_reset(&data);
    tr_pbw_fixed64(&dp, 3, 300);
    tr_pbw_fixed64(&dp, 6, (uint64_t)-7);
    tr_pbw_msg(&data, 1, &dp);
    tr_pbw_uint(&data, 2, TR_OTLP_TEMPORALITY_CUMULATIVE);
    tr_pbw_uint(&data, 3, 1);
    metric(&scope, "s", 7, &data);
    /* histogram: bucket_counts packed, explicit_bounds one packed record
     * and one unpacked; sum, min, max */
    tr_buf_reset(&dp);
    tr_buf_reset(&data);
    kv_str(&dp, 9, "route", "/x");
    tr_pbw_fixed64(&dp, 4, 6);
    tr_pbw_double(&dp, 5, 12.5);
    tr_buf_reset(&tmp);
    for (uint64_t v = 1; v <= 3; v++) {
        for (int i = 0; i < 8; i++) {
            tr_buf_putc(&tmp, (char)(v >> (8 * i)));
        }
    }
    tr_pbw_msg(&dp, 6, &tmp);
    tr_buf_reset(&tmp);
    double b0 = 0.5;
    uint64_t u;
    memcpy(&u, &b0, 8);
    for (int i = 0; i < 8; i++) {
        tr_buf_putc(&tmp, (char)(u >> (8 * i)));
    }
    tr_pbw_msg(&dp, 7, &tmp);
    tr_pbw_double(&dp, 7, 2.5);
    tr_pbw_double(&dp, 11, 0.1);
    tr_pbw_double(&dp, 12, 9.0);
    tr_pbw_msg(&data, 1, &dp);
    tr_pbw_uint(&data, 2, TR_OTLP_TEMPORALITY_DELTA);
    metric(&scope, "h", 9, &data);
    /* exponential histogram: scale -1 (zig-zag 1), positive buckets
     * packed, negative unpacked */
    tr_buf_reset(&dp);
    tr_buf_reset(&data);
    tr_buf_init(&res);
    tr_pbw_fixed64(&dp, 4, 5);
    tr_pbw_uint(&dp, 6, 1);
    tr_pbw_fixed64(&dp, 7, 2);
    tr_pbw_uint(&res, 1, 4); /* offset 2 */
    tr_buf_reset(&tmp);
    tr_pbw_varint(&tmp, 1);
    tr_pbw_varint(&tmp, 300);
    tr_pbw_msg(&res, 2, &tmp);
    tr_pbw_msg(&dp, 8, &res);
    tr_buf_reset(&res);
    tr_pbw_uint(&res, 1, 1); /* offset -1 */
    tr_pbw_uint(&res, 2, 7);
    tr_pbw_msg(&dp, 9, &res);
    tr_pbw_double(&dp, 14, 0.001);
    tr_pbw_msg(&data, 1, &dp);
    tr_pbw_uint(&data, 2, TR_OTLP_TEMPORALITY_CUMULATIVE);
    metric(&scope, "e", 10, &data);
    /* summary: two quantiles */
    tr_buf_reset(&dp);
    tr_buf_reset(&data);
    tr_pbw_fixed64(&dp, 4, 10);
    tr_pbw_double(&dp, 5, 4.0);
    for (int q = 0; q < 2; q++) {
        tr_buf_reset(&res);
        tr_pbw_double(&res, 1, q ? 0.99 : 0.5);
        tr_pbw_double(&res, 2, q ? 3.0 : 1.0);
        tr_pbw_msg(&dp, 6, &res);
    }
    tr_pbw_msg(&data, 1, &dp);
    metric(&scope, "q", 11, &data);
    /* request > resource_metrics > scope_metrics */
    tr_buf_init(&rs);
    tr_buf_init(&req);
    tr_buf_reset(&res);
    kv_str(&res, 1, "service.name", "svc");
    tr_pbw_msg(&rs, 1, &res);
    tr_pbw_msg(&rs, 2, &scope);
    tr_pbw_msg(&req, 1, &rs);
    tr_buf_free(&scope);
    tr_buf_free(&dp);
    tr_buf_free(&data);
    tr_buf_free(&ex);
    tr_buf_free(&tmp);
    tr_buf_free(&rs);
    tr_buf_free(&res);
    return req;
}

static bool is(struct tr_slice s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.base, c, s.len) == 0;
}

Test(otlp_metrics, every_data_type)
{
    struct tr_buf req = request();
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_otlp_metrics m;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_otlp_metrics_decode(req.data, req.len, &a, &m, err), 0,
                 "%s", err);
    cr_assert_eq(m.n_metrics, 5);
    cr_assert_eq(m.n_points, 5);
    const struct tr_otlp_metric *ms = m.resources[0].scopes[0].items;
    /* gauge */
    cr_assert(is(ms[0].name, "g") && is(ms[0].unit, "s"));
    cr_assert(is(ms[0].description, "help text"));
    cr_assert_eq(ms[0].n_metadata, 1);
    cr_assert_eq(ms[0].type, TR_OTLP_METRIC_GAUGE);
    const struct tr_otlp_number_point *g = &ms[0].numbers[0];
    cr_assert(!g->is_int && g->d == 1.5);
    cr_assert_eq(g->c.start_time_unix_nano, 100);
    cr_assert_eq(g->c.time_unix_nano, 200);
    cr_assert_eq(g->c.flags, 1);
    cr_assert(g->c.n_attrs == 1 && is(g->c.attrs[0].key, "host"));
    cr_assert_eq(g->c.n_exemplars, 1);
    const struct tr_otlp_exemplar *ex = &g->c.exemplars[0];
    cr_assert(ex->time_unix_nano == 150 && !ex->is_int && ex->d == 0.25);
    cr_assert(is(ex->span_id, "spanid-1") && ex->trace_id.len == 16);
    cr_assert(ex->n_attrs == 1 && is(ex->attrs[0].key, "user"));
    /* sum */
    cr_assert_eq(ms[1].type, TR_OTLP_METRIC_SUM);
    cr_assert(ms[1].monotonic);
    cr_assert_eq(ms[1].temporality, TR_OTLP_TEMPORALITY_CUMULATIVE);
    cr_assert(ms[1].numbers[0].is_int && ms[1].numbers[0].i == -7);
    /* histogram */
    cr_assert_eq(ms[2].type, TR_OTLP_METRIC_HISTOGRAM);
    cr_assert_eq(ms[2].temporality, TR_OTLP_TEMPORALITY_DELTA);
    const struct tr_otlp_histogram_point *h = &ms[2].histograms[0];
    cr_assert(h->count == 6 && h->has_sum && h->sum == 12.5);
    cr_assert(h->has_min && h->min == 0.1 && h->has_max && h->max == 9.0);
    cr_assert_eq(h->n_bucket_counts, 3);
    cr_assert(h->bucket_counts[0] == 1 && h->bucket_counts[2] == 3);
    cr_assert_eq(h->n_bounds, 2);
    cr_assert(h->bounds[0] == 0.5 && h->bounds[1] == 2.5);
    cr_assert(h->c.n_attrs == 1 && is(h->c.attrs[0].key, "route"));
    /* exponential histogram */
    cr_assert_eq(ms[3].type, TR_OTLP_METRIC_EXP_HISTOGRAM);
    const struct tr_otlp_exp_histogram_point *e = &ms[3].exp_histograms[0];
    cr_assert(e->count == 5 && e->scale == -1 && e->zero_count == 2);
    cr_assert(!e->has_sum && e->zero_threshold == 0.001);
    cr_assert(e->positive.offset == 2 && e->positive.n_counts == 2);
    cr_assert(e->positive.counts[0] == 1 && e->positive.counts[1] == 300);
    cr_assert(e->negative.offset == -1 && e->negative.n_counts == 1);
    cr_assert_eq(e->negative.counts[0], 7);
    /* summary */
    cr_assert_eq(ms[4].type, TR_OTLP_METRIC_SUMMARY);
    const struct tr_otlp_summary_point *q = &ms[4].summaries[0];
    cr_assert(q->count == 10 && q->sum == 4.0 && q->n_quantiles == 2);
    cr_assert(q->quantiles[1].quantile == 0.99 && q->quantiles[1].value == 3.0);
    /* every truncation fails cleanly */
    for (size_t n = 1; n < req.len; n++) {
        struct tr_otlp_metrics t;
        int rv = tr_otlp_metrics_decode(req.data, n, &a, &t, err);
        cr_assert_eq(rv, TR_EPROTO, "len %zu: %d", n, rv);
        cr_assert_eq(t.n_metrics, 0);
    }
    tr_arena_free(&a);
    tr_buf_free(&req);
}

/* A request whose only metric is a histogram with the given point. */
static struct tr_buf histogram_request(const struct tr_buf *dp)
{
    struct tr_buf data, scope, rs, req;
    tr_buf_init(&data);
    tr_buf_init(&scope);
    tr_buf_init(&rs);
    tr_buf_init(&req);
    tr_pbw_msg(&data, 1, dp);
    metric(&scope, "h", 9, &data);
    tr_pbw_msg(&rs, 2, &scope);
    tr_pbw_msg(&req, 1, &rs);
    tr_buf_free(&data);
    tr_buf_free(&scope);
    tr_buf_free(&rs);
    return req;
}

Test(otlp_metrics, bad_requests)
{
    struct tr_arena a;
    tr_arena_init(&a, 1024);
    struct tr_otlp_metrics m;
    char err[TR_ERRMSG_SIZE];
    struct tr_buf dp, req;
    tr_buf_init(&dp);
    /* explicit_bounds packed in 12 bytes: not whole doubles */
    tr_pbw_bytes(&dp, 7, "123456789012", 12);
    req = histogram_request(&dp);
    cr_assert_eq(tr_otlp_metrics_decode(req.data, req.len, &a, &m, err),
                 TR_EPROTO);
    cr_assert(strstr(err, "multiple of 8") != NULL, "%s", err);
    cr_assert(strstr(err, "resource_metrics[0]") != NULL, "%s", err);
    tr_buf_free(&req);
    /* count as a varint */
    tr_buf_reset(&dp);
    tr_pbw_uint(&dp, 4, 3);
    req = histogram_request(&dp);
    cr_assert_eq(tr_otlp_metrics_decode(req.data, req.len, &a, &m, err),
                 TR_EPROTO);
    cr_assert(strstr(err, "HistogramDataPoint") != NULL, "%s", err);
    tr_buf_free(&req);
    /* an exemplar with a 3-byte span id */
    tr_buf_reset(&dp);
    struct tr_buf ex;
    tr_buf_init(&ex);
    tr_pbw_bytes(&ex, 4, "abc", 3);
    tr_pbw_msg(&dp, 8, &ex);
    req = histogram_request(&dp);
    cr_assert_eq(tr_otlp_metrics_decode(req.data, req.len, &a, &m, err),
                 TR_EPROTO);
    cr_assert(strstr(err, "span_id must be 8 bytes") != NULL, "%s", err);
    cr_assert_eq(m.n_metrics, 0);
    tr_buf_free(&req);
    tr_buf_free(&ex);
    tr_buf_free(&dp);
    /* an empty request */
    cr_assert_eq(tr_otlp_metrics_decode("", 0, &a, &m, err), 0);
    cr_assert_eq(m.n_resources, 0);
    tr_arena_free(&a);
}

/* The same request as request() in OTLP/JSON (enum names, 64-bit integers
 * as strings, a double as "Infinity"): decodes to the same fields. */
Test(otlp_metrics, json_every_data_type)
{
    const char *js =
        "{\"resourceMetrics\":[{\"resource\":{\"attributes\":[{\"key\":"
        "\"service.name\",\"value\":{\"stringValue\":\"svc\"}}]},"
        "\"scopeMetrics\":[{\"metrics\":["
        "{\"name\":\"g\",\"description\":\"help text\",\"unit\":\"s\","
        "\"metadata\":[{\"key\":\"meta\",\"value\":{\"stringValue\":\"x\"}}],"
        "\"gauge\":{\"dataPoints\":[{\"attributes\":[{\"key\":\"host\","
        "\"value\":{\"stringValue\":\"a\"}}],\"startTimeUnixNano\":\"100\","
        "\"timeUnixNano\":200,\"asDouble\":1.5,\"flags\":1,\"exemplars\":[{"
        "\"filteredAttributes\":[{\"key\":\"user\",\"value\":{\"stringValue\":"
        "\"u1\"}}],\"timeUnixNano\":\"150\",\"asDouble\":0.25,\"spanId\":"
        "\"7370616e69642d31\",\"traceId\":"
        "\"30313233343536373839616263646566\"}]}]}},"
        "{\"name\":\"s\",\"sum\":{\"dataPoints\":[{\"timeUnixNano\":\"300\","
        "\"asInt\":\"-7\"}],\"aggregationTemporality\":"
        "\"AGGREGATION_TEMPORALITY_CUMULATIVE\",\"isMonotonic\":true}},"
        "{\"name\":\"h\",\"histogram\":{\"dataPoints\":[{\"attributes\":[{"
        "\"key\":\"route\",\"value\":{\"stringValue\":\"/"
        "x\"}}],\"count\":\"6\","
        "\"sum\":12.5,\"bucketCounts\":[\"1\",2,\"3\"],\"explicitBounds\":"
        "[0.5,2.5],\"min\":0.1,\"max\":\"Infinity\"}],"
        "\"aggregationTemporality\":1}},"
        "{\"name\":\"e\",\"exponentialHistogram\":{\"dataPoints\":[{\"count\":"
        "\"5\",\"scale\":-1,\"zeroCount\":\"2\",\"zeroThreshold\":0.001,"
        "\"positive\":{\"offset\":2,\"bucketCounts\":[\"1\",\"300\"]},"
        "\"negative\":{\"offset\":-1,\"bucketCounts\":[\"7\"]}}],"
        "\"aggregationTemporality\":2}},"
        "{\"name\":\"q\",\"summary\":{\"dataPoints\":[{\"count\":\"10\","
        "\"sum\":4,\"quantileValues\":[{\"quantile\":0.5,\"value\":1},"
        "{\"quantile\":0.99,\"value\":3}]}]}}]}]}]}";
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_otlp_metrics m;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_otlp_metrics_decode_json(js, strlen(js), &a, &m, err), 0,
                 "%s", err);
    cr_assert_eq(m.n_metrics, 5);
    cr_assert_eq(m.n_points, 5);
    const struct tr_otlp_metric *ms = m.resources[0].scopes[0].items;
    const struct tr_otlp_number_point *g = &ms[0].numbers[0];
    cr_assert(ms[0].type == TR_OTLP_METRIC_GAUGE && is(ms[0].unit, "s"));
    cr_assert_eq(ms[0].n_metadata, 1);
    cr_assert(!g->is_int && g->d == 1.5 && g->c.flags == 1);
    cr_assert(g->c.start_time_unix_nano == 100 && g->c.time_unix_nano == 200);
    cr_assert(g->c.n_exemplars == 1 && g->c.exemplars[0].d == 0.25);
    cr_assert(is(g->c.exemplars[0].span_id, "spanid-1"));
    cr_assert(ms[1].type == TR_OTLP_METRIC_SUM && ms[1].monotonic);
    cr_assert_eq(ms[1].temporality, TR_OTLP_TEMPORALITY_CUMULATIVE);
    cr_assert(ms[1].numbers[0].is_int && ms[1].numbers[0].i == -7);
    const struct tr_otlp_histogram_point *h = &ms[2].histograms[0];
    cr_assert_eq(ms[2].temporality, TR_OTLP_TEMPORALITY_DELTA);
    cr_assert(h->count == 6 && h->has_sum && h->sum == 12.5);
    cr_assert(h->has_min && h->has_max && h->max > 1e308);
    cr_assert(h->n_bucket_counts == 3 && h->bucket_counts[1] == 2);
    cr_assert(h->n_bounds == 2 && h->bounds[1] == 2.5);
    const struct tr_otlp_exp_histogram_point *e = &ms[3].exp_histograms[0];
    cr_assert(e->scale == -1 && e->zero_count == 2 && !e->has_sum);
    cr_assert(e->positive.offset == 2 && e->positive.counts[1] == 300);
    cr_assert(e->negative.offset == -1 && e->negative.n_counts == 1);
    const struct tr_otlp_summary_point *q = &ms[4].summaries[0];
    cr_assert(q->count == 10 && q->sum == 4.0 && q->n_quantiles == 2);
    cr_assert(q->quantiles[1].quantile == 0.99);
    /* errors carry the JSON path */
    static const char *const bad[] = {
        "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"sum\":{"
        "\"isMonotonic\":1}}]}]}]}",
        "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"histogram\":"
        "{\"dataPoints\":[{\"bucketCounts\":[\"-1\"]}]}}]}]}]}",
        "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{"
        "\"exponentialHistogram\":{\"dataPoints\":[{\"scale\":4294967296}]}}]}"
        "]}]}",
    };
    static const char *const want[] = {
        "metrics[0].sum.isMonotonic",
        "metrics[0].histogram.dataPoints[0].bucketCounts[0]",
        "dataPoints[0].scale",
    };
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(
            tr_otlp_metrics_decode_json(bad[i], strlen(bad[i]), &a, &m, err),
            TR_EINVAL, "%s", bad[i]);
        cr_assert(strstr(err, want[i]) != NULL, "%s", err);
        cr_assert_eq(m.n_metrics, 0);
    }
    tr_arena_free(&a);
}
