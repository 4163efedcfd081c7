/* Tests for proto/otlp_spanmetrics.c on hand-built spans: span metrics
 * (calls, latency buckets, sum, size, labels, the initial 0 sample and
 * strictly rising timestamps), the service graph (a pair in one request in
 * either order, a pair across calls, failed edges, messaging, database and
 * virtual-node edges, expiry and the bounded pending store), the series
 * limit, stale label sets, the flush interval, and the span's protobuf
 * size against an encoded span. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "proto/otlp_spanmetrics.h"
#include "tests/lib/oom.h"
#include "tests/lib/pbwrite.h"

#define T0 1800000000000LL /* ms, on a minute boundary + 0 */
#define NS(ms) ((uint64_t)(ms)*1000000ULL)

static const uint8_t TRACE[16] = {1, 2,  3,  4,  5,  6,  7,  8,
                                  9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t TRACE2[16] = {2, 2,  3,  4,  5,  6,  7,  8,
                                   9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t ID1[8] = {1, 1, 1, 1, 1, 1, 1, 1};
static const uint8_t ID2[8] = {2, 2, 2, 2, 2, 2, 2, 2};
static const uint8_t ID3[8] = {3, 3, 3, 3, 3, 3, 3, 3};

static struct tr_slice sl(const void *p, size_t n)
{
    return (struct tr_slice){(const char *)p, n};
}

/* A span: kind, name, duration in ms, status, own and parent ids. */
static struct tr_otlp_span span(int32_t kind,
                                const char *name,
                                uint64_t ms,
                                int32_t status,
                                const uint8_t *trace,
                                const uint8_t *id,
                                const uint8_t *parent)
{
    struct tr_otlp_span s;
    memset(&s, 0, sizeof(s));
    s.trace_id = sl(trace, 16);
    s.span_id = sl(id, 8);
    s.parent_span_id = parent != NULL ? sl(parent, 8) : sl(NULL, 0);
    s.name = tr_slice_cstr(name);
    s.kind = kind;
    s.start_time_unix_nano = NS(T0);
    s.end_time_unix_nano = NS(T0) + NS(ms);
    s.status_code = status;
    return s;
}

static struct tr_otlp_kv kv(const char *k, const char *v)
{
    struct tr_otlp_kv x;
    memset(&x, 0, sizeof(x));
    x.key = tr_slice_cstr(k);
    x.value.type = TR_OTLP_STRING;
    x.value.s = tr_slice_cstr(v);
    return x;
}

/* A request of up to 4 resources, one scope each. */
struct req {
    struct tr_otlp_kv svc[4];
    struct tr_otlp_resource_group rg[4];
    struct tr_otlp_scope_group sg[4];
    struct tr_otlp_traces t;
};

static void req_add(struct req *q,
                    const char *service,
                    const struct tr_otlp_span *spans,
                    size_t n)
{
    size_t i = q->t.n_resources++;
    memset(&q->rg[i], 0, sizeof(q->rg[i]));
    memset(&q->sg[i], 0, sizeof(q->sg[i]));
    if (service != NULL) {
        q->svc[i] = kv("service.name", service);
        q->rg[i].resource.attrs = &q->svc[i];
        q->rg[i].resource.n_attrs = 1;
    }
    q->sg[i].spans = spans;
    q->sg[i].n_items = n;
    q->rg[i].scopes = &q->sg[i];
    q->rg[i].n_scopes = 1;
    q->t.resources = q->rg;
    q->t.n_spans += n;
}

static struct tr_spanmetrics *reg_new(uint64_t max_series, size_t max_pending)
{
    struct tr_spanmetrics_config c = {
        .span_metrics = true,
        .service_graph = true,
        .max_series = max_series,
        .max_pending = max_pending,
        .wait_ms = 10000,
        .stale_ms = 15 * 60000,
        .max_label_value_len = 2048,
        .instance = "node-a",
    };
    struct tr_spanmetrics *r;
    cr_assert_eq(tr_spanmetrics_new(&c, &r), 0);
    return r;
}

static void add(struct tr_spanmetrics *r,
                struct req *q,
                int64_t now,
                struct tr_spanmetrics_stats *st)
{
    memset(st, 0, sizeof(*st));
    cr_assert_eq(
        tr_spanmetrics_add(r, "t1", &q->t, NULL, TR_SPANMETRICS_ALL, now, st),
        0);
}

/* The series whose labels (besides __metrics_gen_instance) are exactly
 * name + the "k=v" pairs given (NULL-terminated); NULL when absent. */
static const struct tr_prw_series *findv(const struct tr_prw_request *pr,
                                         const char *name,
                                         va_list ap)
{
    const char *want[12];
    size_t nw = 0;
    for (const char *p; (p = va_arg(ap, const char *)) != NULL && nw < 12;) {
        want[nw++] = p;
    }
    for (size_t i = 0; i < pr->n_series; i++) {
        const struct tr_prw_series *s = &pr->series[i];
        size_t matched = 0, other = 0;
        bool name_ok = false;
        for (size_t l = 0; l < s->n_labels; l++) {
            const struct tr_prw_label *lb = &s->labels[l];
            char pair[512];
            snprintf(pair, sizeof(pair), "%.*s=%.*s", (int)lb->name.len,
                     lb->name.base, (int)lb->value.len, lb->value.base);
            if (tr_slice_eq_cstr(lb->name, "__name__")) {
                name_ok = tr_slice_eq_cstr(lb->value, name);
                continue;
            }
            if (tr_slice_eq_cstr(lb->name, "__metrics_gen_instance")) {
                cr_assert(tr_slice_eq_cstr(lb->value, "node-a"));
                continue;
            }
            bool hit = false;
            for (size_t w = 0; w < nw; w++) {
                hit = hit || strcmp(pair, want[w]) == 0;
            }
            if (hit) {
                matched++;
            } else {
                other++;
            }
        }
        if (name_ok && matched == nw && other == 0) {
            return s;
        }
    }
    return NULL;
}

static const struct tr_prw_series *find(const struct tr_prw_request *pr,
                                        const char *name,
                                        ...)
{
    va_list ap;
    va_start(ap, name);
    const struct tr_prw_series *s = findv(pr, name, ap);
    va_end(ap);
    return s;
}

/* The last sample's value of a series that must exist. */
static double val(const struct tr_prw_request *pr, const char *name, ...)
{
    va_list ap;
    va_start(ap, name);
    const struct tr_prw_series *s = findv(pr, name, ap);
    va_end(ap);
    cr_assert_not_null(s, "series %s absent", name);
    return s->samples[s->n_samples - 1].value;
}

#define VAL(pr, ...) val(pr, __VA_ARGS__, NULL)

static void collect(struct tr_spanmetrics *r,
                    struct tr_arena *a,
                    int64_t now,
                    struct tr_prw_request *pr)
{
    struct tr_spanmetrics_stats st;
    memset(&st, 0, sizeof(st));
    cr_assert_eq(tr_spanmetrics_collect(r, "t1", now, 0, a, pr, &st), 0);
}

#define SRV "span_kind=SPAN_KIND_SERVER"
#define OK "status_code=STATUS_CODE_OK"

Test(otlp_spanmetrics, span_metrics)
{
    struct tr_spanmetrics *r = reg_new(0, 100);
    struct tr_otlp_span spans[4] = {
        span(TR_OTLP_KIND_SERVER, "GET /", 1, TR_OTLP_STATUS_OK, TRACE, ID1,
             NULL),
        span(TR_OTLP_KIND_SERVER, "GET /", 3, TR_OTLP_STATUS_OK, TRACE2, ID2,
             NULL),
        span(TR_OTLP_KIND_SERVER, "GET /", 3000, TR_OTLP_STATUS_OK, TRACE, ID3,
             NULL),
        span(TR_OTLP_KIND_INTERNAL, "work", 0, TR_OTLP_STATUS_UNSET, TRACE, ID2,
             ID1),
    };
    spans[3].end_time_unix_nano = spans[3].start_time_unix_nano - 5;
    struct req q;
    memset(&q, 0, sizeof(q));
    req_add(&q, "a", spans, 4);
    struct tr_spanmetrics_stats st;
    add(r, &q, T0 + 5000, &st);
    cr_assert_eq(st.spans, 4);
    cr_assert_eq(st.series, 2 * TR_SPANMETRICS_SPAN_SERIES + 23);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_prw_request pr;
    collect(r, &a, T0 + 5000, &pr);
#define LA "service=a", "span_name=GET /", SRV, OK
    cr_assert_eq(VAL(&pr, "traces_spanmetrics_calls_total", LA), 3);
    cr_assert_eq(VAL(&pr, "traces_spanmetrics_latency_bucket", LA, "le=0.002"),
                 1);
    cr_assert_eq(VAL(&pr, "traces_spanmetrics_latency_bucket", LA, "le=0.004"),
                 2);
    cr_assert_eq(VAL(&pr, "traces_spanmetrics_latency_bucket", LA, "le=2.048"),
                 2);
    cr_assert_eq(VAL(&pr, "traces_spanmetrics_latency_bucket", LA, "le=4.096"),
                 3);
    cr_assert_eq(VAL(&pr, "traces_spanmetrics_latency_bucket", LA, "le=16.384"),
                 3);
    cr_assert_eq(VAL(&pr, "traces_spanmetrics_latency_bucket", LA, "le=+Inf"),
                 3);
    cr_assert_eq(VAL(&pr, "traces_spanmetrics_latency_count", LA), 3);
    cr_assert_float_eq(VAL(&pr, "traces_spanmetrics_latency_sum", LA), 3.004,
                       1e-9);
    cr_assert_eq(VAL(&pr, "traces_spanmetrics_size_total", LA),
                 (double)(tr_spanmetrics_span_size(&spans[0]) * 3));
    /* end before start: 0 seconds; UNSET status */
    cr_assert_eq(VAL(&pr, "traces_spanmetrics_latency_bucket", "service=a",
                     "span_name=work", "span_kind=SPAN_KIND_INTERNAL",
                     "status_code=STATUS_CODE_UNSET", "le=0.002"),
                 1);
    /* the root server spans are edges from "user" */
    cr_assert_eq(VAL(&pr, "traces_service_graph_request_total", "client=user",
                     "server=a", "connection_type=virtual_node"),
                 3);
    /* first collection: a 0 sample at the end of the previous minute */
    const struct tr_prw_series *s =
        find(&pr, "traces_spanmetrics_calls_total", LA, NULL);
    cr_assert_eq(s->n_samples, 2);
    cr_assert_eq(s->samples[0].value, 0);
    cr_assert_eq(s->samples[0].ts_ms, T0 - 1000);
    cr_assert_eq(s->samples[1].ts_ms, T0 + 5000);
    cr_assert_eq(pr.n_series, 2 * TR_SPANMETRICS_SPAN_SERIES + 23);
    /* again at the same ms: one sample, 1 ms later, same totals */
    collect(r, &a, T0 + 5000, &pr);
    s = find(&pr, "traces_spanmetrics_calls_total", LA, NULL);
    cr_assert_eq(s->n_samples, 1);
    cr_assert_eq(s->samples[0].ts_ms, T0 + 5001);
    cr_assert_eq(s->samples[0].value, 3);
    /* within the flush interval: nothing */
    memset(&st, 0, sizeof(st));
    cr_assert_eq(
        tr_spanmetrics_collect(r, "t1", T0 + 6000, 15000, &a, &pr, &st), 0);
    cr_assert_eq(pr.n_series, 0);
    cr_assert_eq(
        tr_spanmetrics_collect(r, "t1", T0 + 20001, 15000, &a, &pr, &st), 0);
    cr_assert_gt(pr.n_series, 0);
    /* the registry lists the tenant for the flusher */
    struct tr_buf names;
    tr_buf_init(&names);
    cr_assert_eq(tr_spanmetrics_tenants(r, &names), 0);
    cr_assert_eq(names.len, 3);
    cr_assert_str_eq(names.data, "t1");
    tr_buf_free(&names);
    /* another tenant sees nothing */
    cr_assert_eq(tr_spanmetrics_collect(r, "t2", T0 + 30000, 0, &a, &pr, &st),
                 0);
    cr_assert_eq(pr.n_series, 0);
    tr_arena_free(&a);
    tr_spanmetrics_free(r);
}

Test(otlp_spanmetrics, pair_in_one_request_either_order)
{
    for (int order = 0; order < 2; order++) {
        struct tr_spanmetrics *r = reg_new(0, 100);
        /* a's CLIENT span ID2 (child of its SERVER ID1) calls b's SERVER
         * span ID3 (child of ID2); b's span failed */
        struct tr_otlp_span sa[2] = {
            span(TR_OTLP_KIND_SERVER, "in", 500, 0, TRACE, ID1, NULL),
            span(TR_OTLP_KIND_CLIENT, "call b", 300, 0, TRACE, ID2, ID1),
        };
        struct tr_otlp_span sb[1] = {
            span(TR_OTLP_KIND_SERVER, "serve", 250, TR_OTLP_STATUS_ERROR, TRACE,
                 ID3, ID2),
        };
        struct req q;
        memset(&q, 0, sizeof(q));
        if (order == 0) {
            req_add(&q, "a", sa, 2);
            req_add(&q, "b", sb, 1);
        } else {
            req_add(&q, "b", sb, 1);
            req_add(&q, "a", sa, 2);
        }
        struct tr_spanmetrics_stats st;
        add(r, &q, T0, &st);
        cr_assert_eq(st.edges, 2); /* user -> a, a -> b */
        cr_assert_eq(st.pending, 0);
        struct tr_arena a;
        tr_arena_init(&a, 4096);
        struct tr_prw_request pr;
        collect(r, &a, T0 + 1000, &pr);
        cr_assert_eq(VAL(&pr, "traces_service_graph_request_total", "client=a",
                         "server=b"),
                     1);
        cr_assert_eq(VAL(&pr, "traces_service_graph_request_failed_total",
                         "client=a", "server=b"),
                     1);
        cr_assert_float_eq(VAL(&pr,
                               "traces_service_graph_request_server_seconds_"
                               "sum",
                               "client=a", "server=b"),
                           0.25, 1e-9);
        cr_assert_float_eq(VAL(&pr,
                               "traces_service_graph_request_client_seconds_"
                               "sum",
                               "client=a", "server=b"),
                           0.3, 1e-9);
        cr_assert_eq(
            VAL(&pr, "traces_service_graph_request_server_seconds_bucket",
                "client=a", "server=b", "le=0.2"),
            0);
        cr_assert_eq(
            VAL(&pr, "traces_service_graph_request_server_seconds_bucket",
                "client=a", "server=b", "le=0.4"),
            1);
        cr_assert_eq(
            VAL(&pr, "traces_service_graph_request_client_seconds_count",
                "client=a", "server=b"),
            1);
        /* no failed series for an edge that never failed */
        cr_assert_null(find(&pr, "traces_service_graph_request_failed_total",
                            "client=user", "server=a",
                            "connection_type=virtual_node", NULL));
        tr_arena_free(&a);
        tr_spanmetrics_free(r);
    }
}

Test(otlp_spanmetrics, pair_across_calls_and_expiry)
{
    struct tr_spanmetrics *r = reg_new(0, 100);
    struct tr_otlp_span c1[1] = {
        span(TR_OTLP_KIND_CLIENT, "c", 20, 0, TRACE, ID2, ID1)};
    struct req q;
    memset(&q, 0, sizeof(q));
    req_add(&q, "a", c1, 1);
    struct tr_spanmetrics_stats st;
    add(r, &q, T0, &st);
    cr_assert_eq(st.edges, 0);
    cr_assert_eq(st.pending, 1);
    /* its server side 5 s later, from another export */
    struct tr_otlp_span s1[1] = {
        span(TR_OTLP_KIND_SERVER, "s", 10, 0, TRACE, ID3, ID2)};
    memset(&q, 0, sizeof(q));
    req_add(&q, "b", s1, 1);
    add(r, &q, T0 + 5000, &st);
    cr_assert_eq(st.edges, 1);
    cr_assert_eq(st.pending, 0);
    /* a client with peer.service and one without, never answered */
    struct tr_otlp_kv peer = kv("peer.service", "payments");
    struct tr_otlp_span c2[2] = {
        span(TR_OTLP_KIND_CLIENT, "pay", 40, 0, TRACE2, ID1, NULL),
        span(TR_OTLP_KIND_CLIENT, "lost", 40, 0, TRACE2, ID2, NULL),
    };
    c2[0].attrs = &peer;
    c2[0].n_attrs = 1;
    memset(&q, 0, sizeof(q));
    req_add(&q, "a", c2, 2);
    add(r, &q, T0 + 6000, &st);
    cr_assert_eq(st.pending, 2);
    /* a server span without service.name takes no part */
    struct tr_otlp_span s2[1] = {
        span(TR_OTLP_KIND_SERVER, "s", 10, 0, TRACE2, ID3, ID2)};
    memset(&q, 0, sizeof(q));
    req_add(&q, NULL, s2, 1);
    add(r, &q, T0 + 7000, &st);
    cr_assert_eq(st.pending, 2);
    cr_assert_eq(st.edges, 0);
    /* nor one whose service.name is empty */
    memset(&q, 0, sizeof(q));
    req_add(&q, "", s2, 1);
    add(r, &q, T0 + 7000, &st);
    cr_assert_eq(st.pending, 2);
    cr_assert_eq(st.edges, 0);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_prw_request pr;
    memset(&st, 0, sizeof(st));
    cr_assert_eq(tr_spanmetrics_collect(r, "t1", T0 + 16000, 0, &a, &pr, &st),
                 0);
    cr_assert_eq(st.edges, 1);
    cr_assert_eq(st.edges_expired, 1);
    cr_assert_eq(st.pending, 0);
    cr_assert_eq(
        VAL(&pr, "traces_service_graph_request_total", "client=a", "server=b"),
        1);
    cr_assert_eq(VAL(&pr, "traces_service_graph_request_total", "client=a",
                     "server=payments", "connection_type=virtual_node"),
                 1);
    /* the spans without service.name (absent or empty) still count in
     * span metrics, without a service label */
    cr_assert_eq(VAL(&pr, "traces_spanmetrics_calls_total", "span_name=s", SRV,
                     "status_code=STATUS_CODE_UNSET"),
                 2);
    tr_arena_free(&a);
    tr_spanmetrics_free(r);
}

Test(otlp_spanmetrics, database_and_messaging)
{
    struct tr_spanmetrics *r = reg_new(0, 100);
    struct tr_otlp_kv db1[1] = {kv("db.system", "postgresql")};
    struct tr_otlp_kv db2[2] = {kv("db.name", "orders"),
                                kv("peer.service", "pg-main")};
    struct tr_otlp_kv db3[3] = {kv("db.system", "redis"),
                                kv("network.peer.address", "10.0.0.7"),
                                kv("network.peer.port", "6379")};
    struct tr_otlp_span sa[5] = {
        span(TR_OTLP_KIND_CLIENT, "q1", 30, 0, TRACE, ID1, NULL),
        span(TR_OTLP_KIND_CLIENT, "q2", 30, 0, TRACE, ID2, NULL),
        span(TR_OTLP_KIND_CLIENT, "q3", 30, 0, TRACE, ID3, NULL),
        span(TR_OTLP_KIND_PRODUCER, "send", 5, 0, TRACE2, ID1, NULL),
        span(TR_OTLP_KIND_INTERNAL, "x", 5, 0, TRACE2, ID2, NULL),
    };
    sa[0].attrs = db1;
    sa[0].n_attrs = 1;
    sa[1].attrs = db2;
    sa[1].n_attrs = 2;
    sa[2].attrs = db3;
    sa[2].n_attrs = 3;
    struct tr_otlp_span sb[1] = {
        span(TR_OTLP_KIND_CONSUMER, "recv", 7, 0, TRACE2, ID3, ID1)};
    struct req q;
    memset(&q, 0, sizeof(q));
    req_add(&q, "a", sa, 5);
    req_add(&q, "worker", sb, 1);
    struct tr_spanmetrics_stats st;
    add(r, &q, T0, &st);
    cr_assert_eq(st.edges, 4);
    cr_assert_eq(st.pending, 0);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_prw_request pr;
    collect(r, &a, T0 + 1000, &pr);
    cr_assert_eq(VAL(&pr, "traces_service_graph_request_total", "client=a",
                     "server=postgresql", "connection_type=database"),
                 1);
    cr_assert_eq(VAL(&pr, "traces_service_graph_request_total", "client=a",
                     "server=pg-main", "connection_type=database"),
                 1);
    cr_assert_eq(VAL(&pr, "traces_service_graph_request_total", "client=a",
                     "server=10.0.0.7:6379", "connection_type=database"),
                 1);
    cr_assert_float_eq(
        VAL(&pr, "traces_service_graph_request_server_seconds_sum", "client=a",
            "server=postgresql", "connection_type=database"),
        0.03, 1e-9);
    cr_assert_eq(VAL(&pr, "traces_service_graph_request_total", "client=a",
                     "server=worker", "connection_type=messaging_system"),
                 1);
    tr_arena_free(&a);
    tr_spanmetrics_free(r);
}

Test(otlp_spanmetrics, limits)
{
    /* room for one span-metrics label set, no edge */
    struct tr_spanmetrics *r = reg_new(TR_SPANMETRICS_SPAN_SERIES + 1, 1);
    struct tr_otlp_span sa[4] = {
        span(TR_OTLP_KIND_CLIENT, "one", 1, 0, TRACE, ID1, NULL),
        span(TR_OTLP_KIND_CLIENT, "two", 1, 0, TRACE, ID2, NULL),
        span(TR_OTLP_KIND_CLIENT, "one", 1, 0, TRACE, ID3, NULL),
        span(TR_OTLP_KIND_SERVER, "s", 1, 0, TRACE2, ID3, ID1),
    };
    struct req q;
    memset(&q, 0, sizeof(q));
    req_add(&q, "a", sa, 4);
    struct tr_spanmetrics_stats st;
    add(r, &q, T0, &st);
    /* "two" and the server span "s" are label sets beyond the limit */
    cr_assert_eq(st.spans, 2);
    cr_assert_eq(st.series_refused, 2);
    /* the pending store holds one edge: the older three expired at the
     * end of the call, unpaired */
    cr_assert_eq(st.pending, 1);
    cr_assert_eq(st.edges_expired, 3);
    cr_assert_eq(st.series, TR_SPANMETRICS_SPAN_SERIES);
    /* a non-UTF-8 span name is not counted */
    struct tr_otlp_span bad[1] = {
        span(TR_OTLP_KIND_INTERNAL, "\xff\xfe", 1, 0, TRACE, ID1, NULL)};
    memset(&q, 0, sizeof(q));
    req_add(&q, "a", bad, 1);
    add(r, &q, T0, &st);
    cr_assert_eq(st.invalid_utf8, 1);
    cr_assert_eq(st.spans, 0);
    tr_spanmetrics_free(r);
}

Test(otlp_spanmetrics, stale_sets_dropped)
{
    struct tr_spanmetrics *r = reg_new(0, 100);
    struct tr_otlp_span sa[1] = {
        span(TR_OTLP_KIND_INTERNAL, "x", 1, 0, TRACE, ID1, NULL)};
    struct req q;
    memset(&q, 0, sizeof(q));
    req_add(&q, "a", sa, 1);
    struct tr_spanmetrics_stats st;
    add(r, &q, T0, &st);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_prw_request pr;
    collect(r, &a, T0 + 60000, &pr);
    cr_assert_eq(pr.n_series, TR_SPANMETRICS_SPAN_SERIES);
    memset(&st, 0, sizeof(st));
    cr_assert_eq(
        tr_spanmetrics_collect(r, "t1", T0 + 15 * 60000, 0, &a, &pr, &st), 0);
    cr_assert_eq(pr.n_series, 0);
    cr_assert_eq(st.series, 0);
    /* back after going stale: a new series, from 0 again */
    add(r, &q, T0 + 16 * 60000, &st);
    collect(r, &a, T0 + 16 * 60000 + 1, &pr);
    const struct tr_prw_series *s = find(
        &pr, "traces_spanmetrics_calls_total", "service=a", "span_name=x",
        "span_kind=SPAN_KIND_INTERNAL", "status_code=STATUS_CODE_UNSET", NULL);
    cr_assert_not_null(s);
    cr_assert_eq(s->n_samples, 2);
    cr_assert_eq(s->samples[1].value, 1);
    tr_arena_free(&a);
    tr_spanmetrics_free(r);
}

/* The size of a span equals its protobuf encoding's. */
Test(otlp_spanmetrics, span_size)
{
    struct tr_buf sp, kvb, val, ev, st, rs, ss, req;
    tr_buf_init(&sp);
    tr_pbw_bytes(&sp, 1, TRACE, 16);
    tr_pbw_bytes(&sp, 2, ID1, 8);
    tr_pbw_str(&sp, 3, "k=v");
    tr_pbw_bytes(&sp, 4, ID2, 8);
    tr_pbw_str(&sp, 5, "GET /orders");
    tr_pbw_uint(&sp, 6, 2);
    tr_pbw_fixed64(&sp, 7, NS(T0));
    tr_pbw_fixed64(&sp, 8, NS(T0) + 12345);
    for (int i = 0; i < 3; i++) {
        tr_buf_init(&val);
        if (i == 0) {
            tr_pbw_str(&val, 1, "GET");
        } else if (i == 1) {
            tr_pbw_uint(&val, 3, 200);
        } else {
            tr_pbw_double(&val, 4, 0.5);
        }
        tr_buf_init(&kvb);
        tr_pbw_str(&kvb, 1, i == 0 ? "http.method" : i == 1 ? "code" : "r");
        tr_pbw_msg(&kvb, 2, &val);
        tr_pbw_msg(&sp, 9, &kvb);
        tr_buf_free(&kvb);
        tr_buf_free(&val);
    }
    tr_pbw_uint(&sp, 10, 3);
    tr_buf_init(&ev);
    tr_pbw_fixed64(&ev, 1, NS(T0) + 5);
    tr_pbw_str(&ev, 2, "exception");
    tr_pbw_msg(&sp, 11, &ev);
    tr_buf_free(&ev);
    tr_buf_init(&st);
    tr_pbw_str(&st, 2, "boom");
    tr_pbw_uint(&st, 3, 2);
    tr_pbw_msg(&sp, 15, &st);
    tr_buf_free(&st);
    tr_pbw_fixed32(&sp, 16, 1);
    tr_buf_init(&ss);
    tr_pbw_msg(&ss, 2, &sp);
    tr_buf_init(&rs);
    tr_pbw_msg(&rs, 2, &ss);
    tr_buf_init(&req);
    tr_pbw_msg(&req, 1, &rs);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_otlp_traces t;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_otlp_traces_decode(req.data, req.len, &a, &t, err), 0, "%s",
                 err);
    cr_assert_eq(t.n_spans, 1);
    cr_assert_eq(tr_spanmetrics_span_size(&t.resources[0].scopes[0].spans[0]),
                 sp.len);
    tr_arena_free(&a);
    tr_buf_free(&sp);
    tr_buf_free(&ss);
    tr_buf_free(&rs);
    tr_buf_free(&req);
}

/* Many label sets and edges: stale ones leave the map (slots move on
 * every removal) while the others keep their totals; the pending store
 * stays at its bound. */
Test(otlp_spanmetrics, many_sets_and_edges)
{
    enum { N = 3000 };
    struct tr_spanmetrics *r = reg_new(0, 500);
    static struct tr_otlp_span sp[2 * N];
    static char names[2 * N][16];
    static uint8_t ids[2 * N][16];
    for (int i = 0; i < 2 * N; i++) {
        snprintf(names[i], sizeof(names[i]), "op-%d", i);
        memset(ids[i], 0, 16);
        memcpy(ids[i], &i, sizeof(i));
        ids[i][15] = 1;
        sp[i] = span(TR_OTLP_KIND_CLIENT, names[i], 1, 0, ids[i], ID1, NULL);
    }
    struct req q;
    struct tr_spanmetrics_stats st;
    for (int half = 0; half < 2; half++) {
        memset(&q, 0, sizeof(q));
        req_add(&q, "a", sp + half * N, N);
        add(r, &q, T0 + half * 10 * 60000, &st);
        cr_assert_eq(st.spans, N);
        cr_assert_eq(st.pending, 500);
    }
    cr_assert_eq(st.series, 2 * N * TR_SPANMETRICS_SPAN_SERIES);
    /* the second half again: counts 2 */
    add(r, &q, T0 + 11 * 60000, &st);
    struct tr_arena a;
    tr_arena_init(&a, 1 << 16);
    struct tr_prw_request pr;
    memset(&st, 0, sizeof(st));
    cr_assert_eq(
        tr_spanmetrics_collect(r, "t1", T0 + 15 * 60000, 0, &a, &pr, &st), 0);
    cr_assert_eq(st.series, N * TR_SPANMETRICS_SPAN_SERIES);
    cr_assert_eq(pr.n_series, N * TR_SPANMETRICS_SPAN_SERIES);
    for (int i = N; i < 2 * N; i += 97) {
        char nm[32];
        snprintf(nm, sizeof(nm), "span_name=%s", names[i]);
        cr_assert_eq(
            VAL(&pr, "traces_spanmetrics_calls_total", "service=a", nm,
                "span_kind=SPAN_KIND_CLIENT", "status_code=STATUS_CODE_UNSET"),
            2);
    }
    cr_assert_null(find(&pr, "traces_spanmetrics_calls_total", "service=a",
                        "span_name=op-0", "span_kind=SPAN_KIND_CLIENT",
                        "status_code=STATUS_CODE_UNSET", NULL));
    tr_arena_free(&a);
    tr_spanmetrics_free(r);
}

/* Every allocation failure gives TR_ENOMEM or success, never a crash or a
 * leak (ASan), and the registry stays usable. */
Test(otlp_spanmetrics, out_of_memory)
{
    struct tr_otlp_kv db[1] = {kv("db.system", "postgresql")};
    struct tr_otlp_kv peer[1] = {kv("peer.service", "ext")};
    struct tr_otlp_span sa[5] = {
        span(TR_OTLP_KIND_SERVER, "in", 50, 0, TRACE, ID1, NULL),
        span(TR_OTLP_KIND_CLIENT, "call", 30, 0, TRACE, ID2, ID1),
        span(TR_OTLP_KIND_CLIENT, "q", 3, 0, TRACE, ID3, ID1),
        span(TR_OTLP_KIND_CLIENT, "pay", 3, 0, TRACE2, ID1, NULL),
        span(TR_OTLP_KIND_SERVER, "serve", 20, TR_OTLP_STATUS_ERROR, TRACE, ID3,
             ID2),
    };
    sa[2].attrs = db;
    sa[2].n_attrs = 1;
    sa[3].attrs = peer;
    sa[3].n_attrs = 1;
    struct req q;
    memset(&q, 0, sizeof(q));
    req_add(&q, "a", sa, 4);
    req_add(&q, "b", sa + 4, 1);
    tr_test_oom_install(100000);
    for (int budget = 0; budget < 80; budget++) {
        struct tr_spanmetrics *r = NULL;
        tr_test_oom_budget(budget);
        int rv = tr_spanmetrics_new(
            &(struct tr_spanmetrics_config){
                .span_metrics = true,
                .service_graph = true,
                .max_pending = 10,
                .wait_ms = 1000,
                .stale_ms = 60000,
                .instance = "node-a",
            },
            &r);
        if (rv != 0) {
            cr_assert_eq(rv, TR_ENOMEM);
            continue;
        }
        struct tr_spanmetrics_stats st;
        memset(&st, 0, sizeof(st));
        rv = tr_spanmetrics_add(r, "t1", &q.t, NULL, TR_SPANMETRICS_ALL, T0,
                                &st);
        cr_assert(rv == 0 || rv == TR_ENOMEM, "budget %d: %d", budget, rv);
        struct tr_arena a;
        tr_arena_init(&a, 256);
        struct tr_prw_request pr;
        memset(&st, 0, sizeof(st));
        rv = tr_spanmetrics_collect(r, "t1", T0 + 5000, 0, &a, &pr, &st);
        cr_assert(rv == 0 || rv == TR_ENOMEM, "budget %d: %d", budget, rv);
        tr_arena_free(&a);
        /* memory again: the registry still works */
        tr_test_oom_budget(100000);
        tr_arena_init(&a, 256);
        memset(&st, 0, sizeof(st));
        cr_assert_eq(tr_spanmetrics_add(r, "t1", &q.t, NULL, TR_SPANMETRICS_ALL,
                                        T0 + 6000, &st),
                     0);
        cr_assert_eq(
            tr_spanmetrics_collect(r, "t1", T0 + 7000, 0, &a, &pr, &st), 0);
        cr_assert_gt(pr.n_series, 0);
        tr_arena_free(&a);
        tr_spanmetrics_free(r);
    }
    tr_test_oom_remove();
}
