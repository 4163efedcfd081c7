/* Tests for proto/otlp_traces.c: the requests the OpenTelemetry JS trace
 * exporters sent (../shared/wire/traces, or $TRIAD_WIRE_DIR/traces: gRPC,
 * HTTP protobuf and JSON, each plain and gzip) decode to the spans their
 * manifest lists, protobuf and JSON alike, every attribute type intact;
 * hand-built requests for events, links, status, enums by name and the
 * errors (id lengths, wire types, truncation, JSON types). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/compress.h"
#include "lib/err.h"
#include "proto/otlp_traces.h"
#include "tests/lib/files.h"
#include "tests/lib/pbwrite.h"

static const char *wire_path(char *path, size_t size, const char *file)
{
    const char *base = getenv("TRIAD_WIRE_DIR");
    snprintf(path, size, "%s/traces/%s",
             base && *base ? base : "../shared/wire", file);
    return path;
}

/* One captured body, gunzipped when its kind is a gzip one. */
static struct tr_buf load_body(const char *kind, int i)
{
    static const char *const suffix[] = {
        "http_v1_traces",
        "grpc_opentelemetry_proto_collector_trace_v1_TraceService_Export"};
    char file[256], path[1024];
    snprintf(file, sizeof(file), "%s_%03d_%s.bin", kind, i,
             suffix[strcmp(kind, "otlp-grpc") == 0]);
    size_t len;
    char *raw = tr_test_read_file(wire_path(path, sizeof(path), file), &len);
    if (raw == NULL) {
        cr_skip_test("wire capture %s absent (set TRIAD_WIRE_DIR)", path);
    }
    struct tr_buf b;
    tr_buf_init(&b);
    if (strstr(kind, "gzip") != NULL) {
        char err[TR_ERRMSG_SIZE];
        cr_assert_eq(tr_gzip_decode(raw, len, 1 << 24, &b, err), 0, "%s", err);
    } else {
        tr_buf_append(&b, raw, len);
    }
    tr_free(raw);
    return b;
}

static bool slice_is(struct tr_slice s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.base, c, s.len) == 0;
}

static const struct tr_otlp_kv *find_kv(const struct tr_otlp_kv *kvs,
                                        size_t n,
                                        const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (slice_is(kvs[i].key, key)) {
            return &kvs[i];
        }
    }
    return NULL;
}

/* What one export run holds, summed over its three requests. */
struct run {
    size_t spans, roots, errors, events, links, resources;
    size_t per_trace[2]; /* spans of a1..01 and a1..02 */
    bool typed_attrs;    /* the root of trace 1 with every attribute type */
    bool services[3];    /* frontend, checkout, db */
};

static void check_attrs(const struct tr_otlp_span *sp, struct run *r)
{
    const struct tr_otlp_kv *kv = find_kv(sp->attrs, sp->n_attrs, "attr.int");
    if (kv == NULL) {
        return;
    }
    cr_assert_eq(kv->value.type, TR_OTLP_INT);
    kv = find_kv(sp->attrs, sp->n_attrs, "attr.negint");
    cr_assert(kv != NULL && kv->value.type == TR_OTLP_INT && kv->value.i < 0);
    kv = find_kv(sp->attrs, sp->n_attrs, "attr.double");
    cr_assert(kv != NULL && kv->value.type == TR_OTLP_DOUBLE);
    kv = find_kv(sp->attrs, sp->n_attrs, "attr.bool");
    cr_assert(kv != NULL && kv->value.type == TR_OTLP_BOOL && kv->value.b);
    kv = find_kv(sp->attrs, sp->n_attrs, "attr.str_array");
    cr_assert(kv != NULL && kv->value.type == TR_OTLP_ARRAY && kv->value.n > 0);
    cr_assert_eq(kv->value.items[0].type, TR_OTLP_STRING);
    kv = find_kv(sp->attrs, sp->n_attrs, "attr.string");
    cr_assert(kv != NULL && kv->value.type == TR_OTLP_STRING);
    r->typed_attrs = true;
}

static void add_request(const struct tr_otlp_traces *t, struct run *r)
{
    static const uint8_t tid[15] = {0xa1, 0x00, 0x00, 0xc0, 0xde};
    r->resources += t->n_resources;
    for (size_t i = 0; i < t->n_resources; i++) {
        const struct tr_otlp_resource_group *rg = &t->resources[i];
        const struct tr_otlp_kv *svc =
            find_kv(rg->resource.attrs, rg->resource.n_attrs, "service.name");
        cr_assert_not_null(svc);
        r->services[0] |= slice_is(svc->value.s, "harness-frontend");
        r->services[1] |= slice_is(svc->value.s, "harness-checkout");
        r->services[2] |= slice_is(svc->value.s, "harness-db");
        for (size_t s = 0; s < rg->n_scopes; s++) {
            const struct tr_otlp_scope_group *sg = &rg->scopes[s];
            cr_assert(slice_is(sg->scope.name, "triad-harness-tracer"));
            for (size_t k = 0; k < sg->n_items; k++) {
                const struct tr_otlp_span *sp = &sg->spans[k];
                cr_assert_eq(sp->trace_id.len, 16);
                cr_assert_eq(sp->span_id.len, 8);
                cr_assert(memcmp(sp->trace_id.base, tid, 15) == 0);
                uint8_t last = (uint8_t)sp->trace_id.base[15];
                cr_assert(last == 1 || last == 2, "trace %u", last);
                r->per_trace[last - 1]++;
                r->spans++;
                r->roots += sp->parent_span_id.len == 0;
                cr_assert(sp->parent_span_id.len == 0 ||
                          sp->parent_span_id.len == 8);
                cr_assert(sp->start_time_unix_nano > 0 &&
                          sp->end_time_unix_nano >= sp->start_time_unix_nano);
                cr_assert(sp->kind >= TR_OTLP_KIND_INTERNAL &&
                          sp->kind <= TR_OTLP_KIND_CONSUMER);
                r->errors += sp->status_code == TR_OTLP_STATUS_ERROR;
                r->events += sp->n_events;
                r->links += sp->n_links;
                if (sp->parent_span_id.len == 0) {
                    cr_assert(slice_is(sp->name, "GET /api/checkout"));
                    cr_assert_eq(sp->kind, TR_OTLP_KIND_SERVER);
                }
                check_attrs(sp, r);
            }
        }
    }
}

/* Decodes the three requests of one capture kind. */
static struct run decode_run(const char *kind, bool json)
{
    struct run r = {0};
    for (int i = 1; i <= 3; i++) {
        struct tr_buf body = load_body(kind, i);
        struct tr_arena a;
        tr_arena_init(&a, 4096);
        struct tr_otlp_traces t;
        char err[TR_ERRMSG_SIZE];
        int rv =
            json ? tr_otlp_traces_decode_json(body.data, body.len, &a, &t, err)
                 : tr_otlp_traces_decode(body.data, body.len, &a, &t, err);
        cr_assert_eq(rv, 0, "%s %d: %s", kind, i, err);
        cr_assert_eq(t.body_len, body.len);
        add_request(&t, &r);
        tr_arena_free(&a);
        tr_buf_free(&body);
    }
    return r;
}

/* The manifest: two traces of 7 spans each over three services, one
 * with an error, 14 spans in 3 export calls. */
static void check_run(const char *kind, const struct run *r)
{
    cr_assert_eq(r->spans, 14, "%s: %zu spans", kind, r->spans);
    cr_assert_eq(r->per_trace[0], 7, "%s", kind);
    cr_assert_eq(r->per_trace[1], 7, "%s", kind);
    cr_assert_eq(r->roots, 2, "%s", kind);
    cr_assert_geq(r->errors, 1, "%s", kind);
    cr_assert_geq(r->events, 1, "%s", kind);
    cr_assert(r->services[0] && r->services[1] && r->services[2], "%s", kind);
    cr_assert(r->typed_attrs, "%s: no span with every attribute type", kind);
}

Test(otlp_traces, captured_protobuf_requests)
{
    static const char *const kinds[] = {"otlp-proto", "otlp-proto-gzip",
                                        "otlp-grpc"};
    for (size_t i = 0; i < 3; i++) {
        struct run r = decode_run(kinds[i], false);
        check_run(kinds[i], &r);
    }
}

Test(otlp_traces, captured_json_requests_match_protobuf)
{
    struct run p = decode_run("otlp-proto", false);
    static const char *const kinds[] = {"otlp-json", "otlp-json-gzip"};
    for (size_t i = 0; i < 2; i++) {
        struct run j = decode_run(kinds[i], true);
        check_run(kinds[i], &j);
        cr_assert_eq(j.events, p.events, "%s", kinds[i]);
        cr_assert_eq(j.links, p.links, "%s", kinds[i]);
        cr_assert_eq(j.errors, p.errors, "%s", kinds[i]);
        cr_assert_eq(j.resources, p.resources, "%s", kinds[i]);
    }
}

/* ---- hand-built protobuf ------------------------------------------------ */

/* A request of one resource, one scope and the given span message. */
static struct tr_buf request_of(const struct tr_buf *span)
{
    struct tr_buf ss, rs, req;
    tr_buf_init(&ss);
    tr_buf_init(&rs);
    tr_buf_init(&req);
    tr_pbw_msg(&ss, 2, span);
    tr_pbw_msg(&rs, 2, &ss);
    tr_pbw_msg(&req, 1, &rs);
    tr_buf_free(&ss);
    tr_buf_free(&rs);
    return req;
}

static const char TID[] = "0123456789abcdef";
static const char SID[] = "spanid-1";
static const char PID[] = "parent-1";

/* A span with an event, a link and a status (fields out of order, an
 * unknown field, the status sent twice: protobuf merges them). */
static struct tr_buf full_span(void)
{
    struct tr_buf sp, ev, ln, st, kv, val;
    tr_buf_init(&sp);
    tr_buf_init(&ev);
    tr_buf_init(&ln);
    tr_buf_init(&st);
    tr_buf_init(&kv);
    tr_buf_init(&val);
    tr_pbw_bytes(&val, 1, "v", 1);
    tr_pbw_bytes(&kv, 1, "k", 1);
    tr_pbw_msg(&kv, 2, &val);
    tr_pbw_fixed64(&ev, 1, 1500);
    tr_pbw_bytes(&ev, 2, "exception", 9);
    tr_pbw_msg(&ev, 3, &kv);
    tr_pbw_tag(&ev, 4, 0);
    tr_pbw_varint(&ev, 2);
    tr_pbw_bytes(&ln, 1, TID, 16);
    tr_pbw_bytes(&ln, 2, "linked-1", 8);
    tr_pbw_bytes(&ln, 3, "k=v", 3);
    tr_pbw_msg(&ln, 4, &kv);
    tr_pbw_fixed32(&ln, 6, 0x101);
    tr_pbw_bytes(&sp, 5, "op", 2);
    tr_pbw_bytes(&sp, 1, TID, 16);
    tr_pbw_bytes(&sp, 2, SID, 8);
    tr_pbw_bytes(&sp, 4, PID, 8);
    tr_pbw_bytes(&sp, 3, "ts=1", 4);
    tr_pbw_fixed32(&sp, 16, 1);
    tr_pbw_tag(&sp, 6, 0);
    tr_pbw_varint(&sp, TR_OTLP_KIND_CLIENT);
    tr_pbw_fixed64(&sp, 7, 1000);
    tr_pbw_fixed64(&sp, 8, 2000);
    tr_pbw_msg(&sp, 9, &kv);
    tr_pbw_tag(&sp, 10, 0);
    tr_pbw_varint(&sp, 3);
    tr_pbw_msg(&sp, 11, &ev);
    tr_pbw_tag(&sp, 12, 0);
    tr_pbw_varint(&sp, 4);
    tr_pbw_msg(&sp, 13, &ln);
    tr_pbw_tag(&sp, 14, 0);
    tr_pbw_varint(&sp, 5);
    tr_pbw_tag(&sp, 99, 0); /* unknown: skipped */
    tr_pbw_varint(&sp, 7);
    tr_pbw_bytes(&st, 2, "boom", 4);
    tr_pbw_msg(&sp, 15, &st);
    tr_buf_reset(&st);
    tr_pbw_tag(&st, 3, 0);
    tr_pbw_varint(&st, TR_OTLP_STATUS_ERROR);
    tr_pbw_msg(&sp, 15, &st);
    tr_buf_free(&ev);
    tr_buf_free(&ln);
    tr_buf_free(&st);
    tr_buf_free(&kv);
    tr_buf_free(&val);
    return sp;
}

static void check_full_span(const struct tr_otlp_traces *t)
{
    cr_assert_eq(t->n_spans, 1);
    const struct tr_otlp_span *sp = &t->resources[0].scopes[0].spans[0];
    cr_assert(slice_is(sp->name, "op"));
    cr_assert(sp->trace_id.len == 16 && !memcmp(sp->trace_id.base, TID, 16));
    cr_assert(sp->span_id.len == 8 && !memcmp(sp->span_id.base, SID, 8));
    cr_assert(sp->parent_span_id.len == 8 &&
              !memcmp(sp->parent_span_id.base, PID, 8));
    cr_assert(slice_is(sp->trace_state, "ts=1"));
    cr_assert_eq(sp->flags, 1);
    cr_assert_eq(sp->kind, TR_OTLP_KIND_CLIENT);
    cr_assert_eq(sp->start_time_unix_nano, 1000);
    cr_assert_eq(sp->end_time_unix_nano, 2000);
    cr_assert_eq(sp->n_attrs, 1);
    cr_assert(slice_is(sp->attrs[0].key, "k"));
    cr_assert(slice_is(sp->attrs[0].value.s, "v"));
    cr_assert_eq(sp->dropped_attributes_count, 3);
    cr_assert_eq(sp->n_events, 1);
    cr_assert_eq(sp->events[0].time_unix_nano, 1500);
    cr_assert(slice_is(sp->events[0].name, "exception"));
    cr_assert_eq(sp->events[0].n_attrs, 1);
    cr_assert_eq(sp->events[0].dropped_attributes_count, 2);
    cr_assert_eq(sp->dropped_events_count, 4);
    cr_assert_eq(sp->n_links, 1);
    cr_assert(!memcmp(sp->links[0].trace_id.base, TID, 16));
    cr_assert(slice_is(sp->links[0].span_id, "linked-1"));
    cr_assert(slice_is(sp->links[0].trace_state, "k=v"));
    cr_assert_eq(sp->links[0].n_attrs, 1);
    cr_assert_eq(sp->links[0].flags, 0x101);
    cr_assert_eq(sp->dropped_links_count, 5);
    cr_assert(slice_is(sp->status_message, "boom"));
    cr_assert_eq(sp->status_code, TR_OTLP_STATUS_ERROR);
}

Test(otlp_traces, every_span_field)
{
    struct tr_buf sp = full_span();
    struct tr_buf req = request_of(&sp);
    struct tr_arena a;
    tr_arena_init(&a, 1024);
    struct tr_otlp_traces t;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_otlp_traces_decode(req.data, req.len, &a, &t, err), 0, "%s",
                 err);
    check_full_span(&t);
    /* every truncation is an error, never a crash */
    for (size_t n = 0; n < req.len; n++) {
        struct tr_otlp_traces u;
        int rv = tr_otlp_traces_decode(req.data, n, &a, &u, err);
        cr_assert(rv == TR_EPROTO || (rv == 0 && n == 0), "len %zu: %d", n, rv);
        cr_assert(rv == 0 || u.n_spans == 0);
    }
    tr_arena_free(&a);
    tr_buf_free(&sp);
    tr_buf_free(&req);
}

Test(otlp_traces, json_span_with_enum_names)
{
    const char *js =
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
        "\"service.name\",\"value\":{\"stringValue\":\"svc\"}}]},"
        "\"scopeSpans\":[{\"scope\":{\"name\":\"lib\"},\"spans\":[{"
        "\"traceId\":\"30313233343536373839616263646566\","
        "\"spanId\":\"7370616e69642d31\",\"parentSpanId\":"
        "\"706172656e742d31\",\"traceState\":\"ts=1\",\"flags\":1,"
        "\"name\":\"op\",\"kind\":\"SPAN_KIND_CLIENT\","
        "\"startTimeUnixNano\":\"1000\",\"endTimeUnixNano\":2000,"
        "\"attributes\":[{\"key\":\"k\",\"value\":{\"stringValue\":\"v\"}}],"
        "\"droppedAttributesCount\":3,\"events\":[{\"timeUnixNano\":"
        "\"1500\",\"name\":\"exception\",\"attributes\":[{\"key\":\"k\","
        "\"value\":{\"stringValue\":\"v\"}}],\"droppedAttributesCount\":2}],"
        "\"droppedEventsCount\":4,\"links\":[{\"traceId\":"
        "\"30313233343536373839616263646566\",\"spanId\":"
        "\"6c696e6b65642d31\",\"traceState\":\"k=v\",\"attributes\":[{"
        "\"key\":\"k\",\"value\":{\"stringValue\":\"v\"}}],\"flags\":257}],"
        "\"dropped_links_count\":5,\"status\":{\"message\":\"boom\","
        "\"code\":\"STATUS_CODE_ERROR\"}}]}]}]}";
    struct tr_arena a;
    tr_arena_init(&a, 1024);
    struct tr_otlp_traces t;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_otlp_traces_decode_json(js, strlen(js), &a, &t, err), 0,
                 "%s", err);
    check_full_span(&t);
    tr_arena_free(&a);
}

Test(otlp_traces, bad_requests)
{
    struct tr_arena a;
    tr_arena_init(&a, 1024);
    struct tr_otlp_traces t;
    char err[TR_ERRMSG_SIZE];
    /* a 5-byte trace id */
    struct tr_buf sp, req;
    tr_buf_init(&sp);
    tr_pbw_bytes(&sp, 1, "short", 5);
    req = request_of(&sp);
    cr_assert_eq(tr_otlp_traces_decode(req.data, req.len, &a, &t, err),
                 TR_EPROTO);
    cr_assert(strstr(err, "trace_id must be 16 bytes") != NULL, "%s", err);
    cr_assert(strstr(err, "resource_spans[0]") != NULL, "%s", err);
    cr_assert_eq(t.n_spans, 0);
    tr_buf_free(&req);
    /* start time as a varint */
    tr_buf_reset(&sp);
    tr_pbw_tag(&sp, 7, 0);
    tr_pbw_varint(&sp, 5);
    req = request_of(&sp);
    cr_assert_eq(tr_otlp_traces_decode(req.data, req.len, &a, &t, err),
                 TR_EPROTO);
    cr_assert(strstr(err, "Span") != NULL, "%s", err);
    tr_buf_free(&req);
    /* an event that is not a message */
    tr_buf_reset(&sp);
    tr_pbw_tag(&sp, 11, 0);
    tr_pbw_varint(&sp, 1);
    req = request_of(&sp);
    cr_assert_eq(tr_otlp_traces_decode(req.data, req.len, &a, &t, err),
                 TR_EPROTO);
    tr_buf_free(&req);
    tr_buf_free(&sp);
    /* JSON: a span id of 4 bytes, a kind name that does not exist, spans
     * that are not an array, a body that is not an object */
    static const char *const bad[] = {
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"spanId\":"
        "\"00010203\"}]}]}]}",
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"kind\":"
        "\"SPAN_KIND_NOPE\"}]}]}]}",
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":{}}]}]}",
        "[]",
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"status\":"
        "{\"code\":\"x\"}}]}]}]}",
    };
    static const char *const want[] = {
        "resourceSpans[0].scopeSpans[0].spans[0].spanId",
        "resourceSpans[0].scopeSpans[0].spans[0].kind",
        "resourceSpans[0].scopeSpans[0].spans: expected an array",
        "ExportTraceServiceRequest",
        "resourceSpans[0].scopeSpans[0].spans[0].status.code",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(
            tr_otlp_traces_decode_json(bad[i], strlen(bad[i]), &a, &t, err),
            TR_EINVAL, "%s", bad[i]);
        cr_assert(strstr(err, want[i]) != NULL, "%s: %s", bad[i], err);
        cr_assert_eq(t.n_spans, 0);
    }
    /* null lists and an empty object are an empty request */
    const char *empty = "{\"resourceSpans\":[{\"scopeSpans\":null}]}";
    cr_assert_eq(tr_otlp_traces_decode_json(empty, strlen(empty), &a, &t, err),
                 0, "%s", err);
    cr_assert_eq(t.n_resources, 1);
    cr_assert_eq(t.n_spans, 0);
    tr_arena_free(&a);
}
