/* Tests for proto/otlp_prom.c: metric names as Prometheus' otlptranslator
 * builds them (unit table, per units, annotations, _total, _ratio); a
 * request of every data type (OTLP/JSON and protobuf) mapped to series:
 * labels (collisions merged, job/instance), histogram buckets, summaries,
 * stale markers, exemplars, target_info, and delta / exponential
 * histograms rejected with their reasons. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "proto/otlp_prom.h"
#include "tests/lib/pbwrite.h"

struct name_case {
    const char *name, *unit;
    uint8_t type;
    bool monotonic;
    const char *want; /* NULL: an error */
};

Test(otlp_prom, metric_names)
{
    static const struct name_case cases[] = {
        {"http.server.duration", "s", TR_OTLP_METRIC_HISTOGRAM, false,
         "http_server_duration_seconds"},
        {"requests.count", "1", TR_OTLP_METRIC_SUM, true,
         "requests_count_total"},
        {"memory.usage", "By", TR_OTLP_METRIC_GAUGE, false,
         "memory_usage_bytes"},
        {"cpu.utilization", "1", TR_OTLP_METRIC_GAUGE, false,
         "cpu_utilization_ratio"},
        {"foo_ratio", "1", TR_OTLP_METRIC_GAUGE, false, "foo_ratio"},
        {"updown", "1", TR_OTLP_METRIC_SUM, false, "updown"},
        {"a.total.b", "", TR_OTLP_METRIC_SUM, true, "a_b_total"},
        {"net.io", "By/s", TR_OTLP_METRIC_GAUGE, false,
         "net_io_bytes_per_second"},
        {"requests", "{request}", TR_OTLP_METRIC_SUM, true, "requests_total"},
        {"packets", "{packet}/s", TR_OTLP_METRIC_GAUGE, false,
         "packets_per_second"},
        {"latency_seconds", "s", TR_OTLP_METRIC_GAUGE, false,
         "latency_seconds"},
        {"2xx.count", "", TR_OTLP_METRIC_GAUGE, false, "_2xx_count"},
        {"foo__bar..baz-qux", "", TR_OTLP_METRIC_GAUGE, false,
         "foo_bar_baz_qux"},
        {"temp", "Cel", TR_OTLP_METRIC_GAUGE, false, "temp_celsius"},
        {"x", "custom unit", TR_OTLP_METRIC_GAUGE, false, "x_custom_unit"},
        {"dist", "m/mo", TR_OTLP_METRIC_GAUGE, false, "dist_meters_per_month"},
        {"ns:name", "ms", TR_OTLP_METRIC_SUMMARY, false,
         "ns:name_milliseconds"},
        {"disk.io", " KiBy ", TR_OTLP_METRIC_SUM, true,
         "disk_io_kibibytes_total"},
        {"bytes.sent", "By", TR_OTLP_METRIC_SUM, true, "bytes_sent_total"},
        {"load", "%", TR_OTLP_METRIC_GAUGE, false, "load_percent"},
        {"...", "", TR_OTLP_METRIC_GAUGE, false, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct name_case *c = &cases[i];
        struct tr_otlp_metric m;
        memset(&m, 0, sizeof(m));
        m.name = tr_slice_cstr(c->name);
        m.unit = tr_slice_cstr(c->unit);
        m.type = c->type;
        m.monotonic = c->monotonic;
        m.temporality = TR_OTLP_TEMPORALITY_CUMULATIVE;
        struct tr_buf b;
        tr_buf_init(&b);
        char err[TR_ERRMSG_SIZE];
        int rv = tr_otlp_prom_metric_name(&m, &b, err);
        if (c->want == NULL) {
            cr_expect_eq(rv, TR_EINVAL, "%s", c->name);
        } else {
            cr_expect_eq(rv, 0, "%s: %s", c->name, err);
            cr_expect_eq(b.len, strlen(c->want), "%s -> %.*s", c->name,
                         (int)b.len, b.data);
            cr_expect(
                b.len == strlen(c->want) && memcmp(b.data, c->want, b.len) == 0,
                "%s %s -> %.*s, want %s", c->name, c->unit, (int)b.len, b.data,
                c->want);
        }
        tr_buf_free(&b);
    }
}

/* ---- helpers ------------------------------------------------------------
 */

static const char *label(const struct tr_prw_series *s, const char *name)
{
    static char buf[8][256];
    static int k;
    for (size_t i = 0; i < s->n_labels; i++) {
        if (tr_slice_eq_cstr(s->labels[i].name, name)) {
            char *b = buf[k++ % 8];
            snprintf(b, 256, "%.*s", (int)s->labels[i].value.len,
                     s->labels[i].value.base);
            return b;
        }
    }
    return NULL;
}

/* The series named name whose label ename (NULL: any) is evalue. */
static const struct tr_prw_series *find(const struct tr_prw_request *pr,
                                        const char *name,
                                        const char *ename,
                                        const char *evalue)
{
    for (size_t i = 0; i < pr->n_series; i++) {
        const char *n = label(&pr->series[i], "__name__");
        if (n == NULL || strcmp(n, name) != 0) {
            continue;
        }
        if (ename != NULL) {
            const char *v = label(&pr->series[i], ename);
            if (v == NULL || strcmp(v, evalue) != 0) {
                continue;
            }
        }
        return &pr->series[i];
    }
    return NULL;
}

#define T0 "1700000000123456789"
#define T0_MS INT64_C(1700000000123)

static const char JSON_REQ[] =
    "{\"resourceMetrics\":[{\"resource\":{\"attributes\":["
    "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"api\"}},"
    "{\"key\":\"service.namespace\",\"value\":{\"stringValue\":\"shop\"}},"
    "{\"key\":\"service.instance.id\",\"value\":{\"stringValue\":\"i-1\"}},"
    "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"h1\"}},"
    "{\"key\":\"k8s.pod.name\",\"value\":{\"stringValue\":\"p\"}}]},"
    "\"scopeMetrics\":[{\"scope\":{\"name\":\"lib\",\"version\":\"1.0\"},"
    "\"metrics\":["
    /* gauge, unit 1, colliding attribute names, an int attribute */
    "{\"name\":\"cpu.utilization\",\"unit\":\"1\",\"description\":\"CPU\","
    "\"gauge\":{\"dataPoints\":[{\"attributes\":["
    "{\"key\":\"http_method\",\"value\":{\"stringValue\":\"POST\"}},"
    "{\"key\":\"http.method\",\"value\":{\"stringValue\":\"GET\"}},"
    "{\"key\":\"code\",\"value\":{\"intValue\":\"200\"}},"
    "{\"key\":\"job\",\"value\":{\"stringValue\":\"overridden\"}}],"
    "\"timeUnixNano\":\"" T0
    "\",\"asDouble\":0.5}]}},"
    /* monotonic cumulative sum with an exemplar */
    "{\"name\":\"http.requests\",\"unit\":\"{request}\",\"sum\":{"
    "\"aggregationTemporality\":2,\"isMonotonic\":true,\"dataPoints\":[{"
    "\"timeUnixNano\":\"" T0
    "\",\"asInt\":\"7\",\"exemplars\":[{"
    "\"timeUnixNano\":\"" T0
    "\",\"asDouble\":1.5,"
    "\"traceId\":\"0102030405060708090a0b0c0d0e0f10\","
    "\"spanId\":\"a1a2a3a4a5a6a7a8\",\"filteredAttributes\":["
    "{\"key\":\"user\",\"value\":{\"stringValue\":\"u1\"}}]}]}]}},"
    /* delta sum: rejected; its time is the resource's earliest */
    "{\"name\":\"d\",\"sum\":{\"aggregationTemporality\":"
    "\"AGGREGATION_TEMPORALITY_DELTA\",\"isMonotonic\":true,\"dataPoints\":["
    "{\"timeUnixNano\":\"1699999400123456789\",\"asInt\":\"1\"}]}},"
    /* histogram */
    "{\"name\":\"lat\",\"unit\":\"ms\",\"histogram\":{"
    "\"aggregationTemporality\":2,\"dataPoints\":[{\"timeUnixNano\":\"" T0
    "\",\"count\":\"10\",\"sum\":12.5,\"bucketCounts\":[\"1\",\"2\",\"3\","
    "\"4\"],\"explicitBounds\":[0.005,1,1000000],\"exemplars\":[{"
    "\"timeUnixNano\":\"" T0
    "\",\"asDouble\":0.7}]}]}},"
    /* summary */
    "{\"name\":\"rpc\",\"unit\":\"s\",\"summary\":{\"dataPoints\":[{"
    "\"timeUnixNano\":\"" T0
    "\",\"count\":\"10\",\"sum\":4,"
    "\"quantileValues\":[{\"quantile\":0.5,\"value\":1},{\"quantile\":0.99,"
    "\"value\":3}]}]}},"
    /* exponential histogram: rejected */
    "{\"name\":\"e\",\"exponentialHistogram\":{\"aggregationTemporality\":2,"
    "\"dataPoints\":[{\"timeUnixNano\":\"" T0
    "\",\"count\":\"1\"}]}},"
    /* no recorded value */
    "{\"name\":\"gone\",\"gauge\":{\"dataPoints\":[{\"timeUnixNano\":\"" T0
    "\",\"asDouble\":3,\"flags\":1}]}}"
    "]}]}]}";

Test(otlp_prom, json_request)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    char err[TR_ERRMSG_SIZE];
    struct tr_otlp_metrics m;
    cr_assert_eq(
        tr_otlp_metrics_decode_json(JSON_REQ, strlen(JSON_REQ), &a, &m, err), 0,
        "%s", err);
    struct tr_prw_request pr;
    struct tr_otlp_prom_stats st;
    cr_assert_eq(tr_otlp_prom_convert(&m, &a, &pr, &st), 0);
    cr_expect_eq(st.points, 7);
    cr_expect_eq(st.rejected_points, 2);
    cr_expect(strstr(st.errmsg, "metric \"d\": delta temporality") != NULL,
              "%s", st.errmsg);
    cr_expect(strstr(st.errmsg, "metric \"e\": exponential histograms") != NULL,
              "%s", st.errmsg);

    /* gauge */
    const struct tr_prw_series *s = find(&pr, "cpu_utilization_ratio", 0, 0);
    cr_assert_not_null(s);
    cr_expect_eq(s->n_labels, 5);
    cr_expect_str_eq(label(s, "http_method"), "GET;POST");
    cr_expect_str_eq(label(s, "code"), "200");
    cr_expect_str_eq(label(s, "job"), "shop/api");
    cr_expect_str_eq(label(s, "instance"), "i-1");
    cr_expect_null(label(s, "host_name"));
    cr_expect_eq(s->n_samples, 1);
    cr_expect_eq(s->samples[0].ts_ms, T0_MS);
    cr_expect_eq(s->samples[0].value, 0.5);

    /* counter with its exemplar */
    s = find(&pr, "http_requests_total", 0, 0);
    cr_assert_not_null(s);
    cr_expect_eq(s->samples[0].value, 7);
    cr_assert_eq(s->n_exemplars, 1);
    const struct tr_prw_exemplar *e = &s->exemplars[0];
    cr_expect_eq(e->value, 1.5);
    cr_expect_eq(e->ts_ms, T0_MS);
    cr_assert_eq(e->n_labels, 3);
    cr_expect(tr_slice_eq_cstr(e->labels[0].name, "trace_id"));
    cr_expect(tr_slice_eq_cstr(e->labels[0].value,
                               "0102030405060708090a0b0c0d0e0f10"));
    cr_expect(tr_slice_eq_cstr(e->labels[1].name, "span_id"));
    cr_expect(tr_slice_eq_cstr(e->labels[1].value, "a1a2a3a4a5a6a7a8"));
    cr_expect(tr_slice_eq_cstr(e->labels[2].name, "user"));

    cr_expect_null(find(&pr, "d_total", 0, 0));
    cr_expect_null(find(&pr, "d", 0, 0));
    cr_expect_null(find(&pr, "e", 0, 0));

    /* histogram */
    static const struct {
        const char *le;
        double v;
    } b[] = {{"0.005", 1}, {"1", 3}, {"1000000", 6}, {"+Inf", 10}};
    for (size_t i = 0; i < 4; i++) {
        s = find(&pr, "lat_milliseconds_bucket", "le", b[i].le);
        cr_assert_not_null(s, "le=%s", b[i].le);
        cr_expect_eq(s->samples[0].value, b[i].v, "le=%s", b[i].le);
        cr_expect_str_eq(label(s, "job"), "shop/api");
        cr_expect_eq(s->n_exemplars, i == 1 ? 1u : 0u, "le=%s", b[i].le);
    }
    s = find(&pr, "lat_milliseconds_count", 0, 0);
    cr_assert_not_null(s);
    cr_expect_eq(s->samples[0].value, 10);
    s = find(&pr, "lat_milliseconds_sum", 0, 0);
    cr_assert_not_null(s);
    cr_expect_eq(s->samples[0].value, 12.5);

    /* summary */
    s = find(&pr, "rpc_seconds", "quantile", "0.99");
    cr_assert_not_null(s);
    cr_expect_eq(s->samples[0].value, 3);
    cr_expect_not_null(find(&pr, "rpc_seconds", "quantile", "0.5"));
    s = find(&pr, "rpc_seconds_count", 0, 0);
    cr_assert_not_null(s);
    cr_expect_eq(s->samples[0].value, 10);
    cr_expect_not_null(find(&pr, "rpc_seconds_sum", 0, 0));

    /* stale marker */
    s = find(&pr, "gone", 0, 0);
    cr_assert_not_null(s);
    uint64_t bits;
    memcpy(&bits, &s->samples[0].value, 8);
    cr_expect_eq(bits, TR_PRW_STALE_NAN_BITS);

    /* target_info: every 150 s from 600 s before T0 while before T0, then
     * T0 */
    s = find(&pr, "target_info", 0, 0);
    cr_assert_not_null(s);
    cr_expect_eq(s->n_labels, 5);
    cr_expect_str_eq(label(s, "host_name"), "h1");
    cr_expect_str_eq(label(s, "k8s_pod_name"), "p");
    cr_expect_str_eq(label(s, "job"), "shop/api");
    cr_expect_str_eq(label(s, "instance"), "i-1");
    cr_assert_eq(s->n_samples, 5);
    for (size_t i = 0; i < 4; i++) {
        cr_expect_eq(s->samples[i].ts_ms, T0_MS - 600000 + (int64_t)i * 150000);
        cr_expect_eq(s->samples[i].value, 1);
    }
    cr_expect_eq(s->samples[4].ts_ms, T0_MS);

    /* metadata of the metrics converted */
    cr_expect_eq(pr.n_metadata, 5);
    bool seen = false;
    for (size_t i = 0; i < pr.n_metadata; i++) {
        if (tr_slice_eq_cstr(pr.metadata[i].family, "http_requests_total")) {
            seen = true;
            cr_expect_eq(pr.metadata[i].type, TR_PRW_COUNTER);
            cr_expect(tr_slice_eq_cstr(pr.metadata[i].unit, "{request}"));
        }
    }
    cr_expect(seen);
    tr_arena_free(&a);
}

/* A resource with only service.name gets no target_info; label names that
 * cannot be made valid reject the point; more than three reasons are
 * counted. */
Test(otlp_prom, rejections_and_no_target_info)
{
    static const char req[] =
        "{\"resourceMetrics\":[{\"resource\":{\"attributes\":["
        "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"api\"}}]},"
        "\"scopeMetrics\":[{\"metrics\":["
        "{\"name\":\"g\",\"gauge\":{\"dataPoints\":[{\"attributes\":["
        "{\"key\":\"__\",\"value\":{\"stringValue\":\"x\"}}],"
        "\"timeUnixNano\":\"1000000\",\"asDouble\":1},"
        "{\"timeUnixNano\":\"2000000\",\"asDouble\":2}]}},"
        "{\"name\":\"s1\",\"sum\":{\"dataPoints\":[{\"asInt\":\"1\"}]}},"
        "{\"name\":\"s2\",\"histogram\":{\"aggregationTemporality\":1,"
        "\"dataPoints\":[{}]}},"
        "{\"name\":\"s3\",\"sum\":{\"aggregationTemporality\":1,"
        "\"dataPoints\":[{},{}]}}"
        "]}]}]}";
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    char err[TR_ERRMSG_SIZE];
    struct tr_otlp_metrics m;
    cr_assert_eq(tr_otlp_metrics_decode_json(req, strlen(req), &a, &m, err), 0,
                 "%s", err);
    struct tr_prw_request pr;
    struct tr_otlp_prom_stats st;
    cr_assert_eq(tr_otlp_prom_convert(&m, &a, &pr, &st), 0);
    cr_expect_eq(st.points, 6);
    cr_expect_eq(st.rejected_points, 5);
    cr_expect_eq(st.n_errors, 4);
    cr_expect(strstr(st.errmsg, "(and 1 more)") != NULL, "%s", st.errmsg);
    cr_expect(strstr(st.errmsg, "invalid temporality") != NULL, "%s",
              st.errmsg);
    cr_assert_eq(pr.n_series, 1);
    const struct tr_prw_series *s = &pr.series[0];
    cr_expect_str_eq(label(s, "__name__"), "g");
    cr_expect_str_eq(label(s, "job"), "api");
    cr_expect_null(label(s, "instance"));
    cr_expect_eq(s->samples[0].ts_ms, 2);
    tr_arena_free(&a);
}

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

/* The protobuf form: a monotonic cumulative sum of ints in bytes. */
Test(otlp_prom, protobuf_request)
{
    struct tr_buf dp, data, m, sm, res, rm, req;
    tr_buf_init(&dp);
    tr_buf_init(&data);
    tr_buf_init(&m);
    tr_buf_init(&sm);
    tr_buf_init(&res);
    tr_buf_init(&rm);
    tr_buf_init(&req);
    kv_str(&dp, 7, "dir", "rx");
    tr_pbw_fixed64(&dp, 3, UINT64_C(5000000000));
    tr_pbw_fixed64(&dp, 6, 42);
    tr_pbw_msg(&data, 1, &dp);
    tr_pbw_uint(&data, 2, TR_OTLP_TEMPORALITY_CUMULATIVE);
    tr_pbw_uint(&data, 3, 1);
    tr_pbw_str(&m, 1, "net.io");
    tr_pbw_str(&m, 3, "By");
    tr_pbw_msg(&m, 7, &data);
    tr_pbw_msg(&sm, 2, &m);
    kv_str(&res, 1, "service.instance.id", "x:1");
    tr_pbw_msg(&rm, 1, &res);
    tr_pbw_msg(&rm, 2, &sm);
    tr_pbw_msg(&req, 1, &rm);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    char err[TR_ERRMSG_SIZE];
    struct tr_otlp_metrics om;
    cr_assert_eq(tr_otlp_metrics_decode(req.data, req.len, &a, &om, err), 0,
                 "%s", err);
    struct tr_prw_request pr;
    struct tr_otlp_prom_stats st;
    cr_assert_eq(tr_otlp_prom_convert(&om, &a, &pr, &st), 0);
    cr_expect_eq(st.rejected_points, 0);
    cr_assert_eq(pr.n_series, 1); /* no target_info: no other attribute */
    const struct tr_prw_series *s = &pr.series[0];
    cr_expect_str_eq(label(s, "__name__"), "net_io_bytes_total");
    cr_expect_str_eq(label(s, "dir"), "rx");
    cr_expect_str_eq(label(s, "instance"), "x:1");
    cr_expect_null(label(s, "job"));
    cr_expect_eq(s->samples[0].ts_ms, 5000);
    cr_expect_eq(s->samples[0].value, 42);
    tr_arena_free(&a);
    tr_buf_free(&dp);
    tr_buf_free(&data);
    tr_buf_free(&m);
    tr_buf_free(&sm);
    tr_buf_free(&res);
    tr_buf_free(&rm);
    tr_buf_free(&req);
}
