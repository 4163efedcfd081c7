/* Tests for proto/otlp_logs.c and proto/otlp_common.c: OTLP log requests
 * captured from the OpenTelemetry JS SDK (tests/fixtures/otlp_logs/, see
 * its README) decoded from protobuf and JSON and mapped to Loki streams;
 * hand-built requests for every AnyValue kind, ids, int64 forms, the
 * mapping rules (labels, service_name discovery, grouping, timestamps,
 * metadata order), truncated protobuf at every prefix and malformed JSON. */
#include "proto/otlp_logs.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "tests/lib/files.h"

#define FIX "tests/fixtures/otlp_logs/"

static char *ol_read(const char *name, size_t *len)
{
    char *p = tr_test_read_file(name, len);
    cr_assert_not_null(p, "%s missing (run from the repository root)", name);
    return p;
}

/* "name=value" of every metadata pair, joined with '|' */
static char *meta_str(const struct tr_loki_entry *e)
{
    static char buf[4096];
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < e->n_meta && o < sizeof(buf); i++) {
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%.*s=%.*s",
                              i ? "|" : "", (int)e->meta[i].name.len,
                              e->meta[i].name.base, (int)e->meta[i].value.len,
                              e->meta[i].value.base);
    }
    return buf;
}

static char *labels_str(const struct tr_loki_stream *s)
{
    static char buf[1024];
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < s->n_labels && o < sizeof(buf); i++) {
        o += (size_t)snprintf(
            buf + o, sizeof(buf) - o, "%s%.*s=%.*s", i ? "," : "",
            (int)s->label_set[i].name.len, s->label_set[i].name.base,
            (int)s->label_set[i].value.len, s->label_set[i].value.base);
    }
    return buf;
}

static bool line_is(const struct tr_loki_entry *e, const char *s)
{
    return tr_slice_eq_cstr(e->line, s);
}

static const struct tr_otlp_kv *find_attr(const struct tr_otlp_kv *kvs,
                                          size_t n,
                                          const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (tr_slice_eq_cstr(kvs[i].key, key)) {
            return &kvs[i];
        }
    }
    return NULL;
}

/* ---- the captures ------------------------------------------------------ */

static void check_shop_decoded(const struct tr_otlp_logs *req)
{
    cr_assert_eq(req->n_resources, 1);
    cr_assert_eq(req->n_records, 4);
    const struct tr_otlp_resource_group *rl = &req->resources[0];
    cr_assert_eq(rl->resource.n_attrs, 8);
    const struct tr_otlp_kv *pid =
        find_attr(rl->resource.attrs, rl->resource.n_attrs, "process.pid");
    cr_assert_not_null(pid);
    cr_assert_eq(pid->value.type, TR_OTLP_INT);
    cr_assert_eq(pid->value.i, 4242);
    cr_assert_eq(rl->n_scopes, 2);
    const struct tr_otlp_scope_group *sl = &rl->scopes[0];
    cr_assert(tr_slice_eq_cstr(sl->scope.name, "checkout"));
    cr_assert(tr_slice_eq_cstr(sl->scope.version, "1.4.2"));
    cr_assert_eq(sl->scope.n_attrs, 1);
    cr_assert(tr_slice_eq_cstr(sl->schema_url,
                               "https://opentelemetry.io/schemas/1.24.0"));
    cr_assert_eq(sl->n_items, 2);
    const struct tr_otlp_log_record *r = &sl->records[0];
    cr_assert_eq(r->time_unix_nano, 1767225600123456789ULL);
    cr_assert_eq(r->observed_time_unix_nano, 1767225600223456789ULL);
    cr_assert_eq(r->severity_number, 9);
    cr_assert(tr_slice_eq_cstr(r->severity_text, "INFO"));
    cr_assert_eq(r->body.type, TR_OTLP_STRING);
    cr_assert(tr_slice_eq_cstr(r->body.s, "order placed <id=42> & paid"));
    cr_assert_eq(r->flags, 1);
    static const uint8_t tid[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03,
                                    0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33,
                                    0x81, 0x3f, 0xc6, 0x0c};
    static const uint8_t sid[8] = {0xee, 0xe1, 0x9b, 0x7e,
                                   0xc3, 0xc1, 0xb1, 0x74};
    cr_assert_eq(r->trace_id.len, 16);
    cr_assert_eq(memcmp(r->trace_id.base, tid, 16), 0);
    cr_assert_eq(r->span_id.len, 8);
    cr_assert_eq(memcmp(r->span_id.base, sid, 8), 0);
    cr_assert_eq(r->n_attrs, 9);
    const struct tr_otlp_kv *kv = find_attr(r->attrs, r->n_attrs, "payload");
    cr_assert_eq(kv->value.type, TR_OTLP_BYTES);
    cr_assert_eq(kv->value.s.len, 4);
    cr_assert_eq(memcmp(kv->value.s.base, "\xde\xad\xbe\xef", 4), 0);
    kv = find_attr(r->attrs, r->n_attrs, "duration.seconds");
    cr_assert_eq(kv->value.type, TR_OTLP_DOUBLE);
    cr_assert_eq(kv->value.d, 0.25);
    kv = find_attr(r->attrs, r->n_attrs, "cache.hit");
    cr_assert(kv->value.type == TR_OTLP_BOOL && kv->value.b);
    kv = find_attr(r->attrs, r->n_attrs, "mixed");
    cr_assert_eq(kv->value.type, TR_OTLP_ARRAY);
    cr_assert_eq(kv->value.n, 4);
    cr_assert_eq(kv->value.items[1].type, TR_OTLP_INT);
    cr_assert_eq(kv->value.items[3].type, TR_OTLP_BOOL);
    kv = find_attr(r->attrs, r->n_attrs, "user");
    cr_assert_eq(kv->value.type, TR_OTLP_KVLIST);
    cr_assert_eq(kv->value.n, 3);
    kv = find_attr(r->attrs, r->n_attrs, "count.large");
    cr_assert_eq(kv->value.i, 9007199254740991LL);
    r = &sl->records[1];
    cr_assert_eq(r->body.type, TR_OTLP_KVLIST);
    cr_assert_eq(r->severity_number, 13);
    cr_assert_eq(r->trace_id.len, 0);
    sl = &rl->scopes[1];
    cr_assert(tr_slice_eq_cstr(sl->scope.name, "db-client"));
    cr_assert_eq(sl->scope.version.len, 0);
    cr_assert_eq(sl->n_items, 2);
    cr_assert(tr_slice_eq_cstr(sl->records[0].event_name, "db.failure"));
    cr_assert_eq(sl->records[0].body.type, TR_OTLP_INT);
    cr_assert_eq(sl->records[0].body.i, 500);
    cr_assert_eq(sl->records[1].body.type, TR_OTLP_DOUBLE);
    cr_assert_eq(sl->records[1].body.d, 3.5);
}

#define RES_META \
    "host_name=node-3|process_pid=4242|telemetry_sdk_language=nodejs"

static void check_shop_mapped(const struct tr_loki_push *p)
{
    cr_assert_eq(p->n_streams, 1);
    cr_assert_eq(p->n_entries, 4);
    const struct tr_loki_stream *s = &p->streams[0];
    cr_assert_eq(s->labels.len, 0);
    cr_assert_str_eq(labels_str(s),
                     "deployment_environment_name=prod,k8s_namespace_name="
                     "shop-ns,k8s_pod_name=checkout-7d4b9-xk2lp,service_name="
                     "checkout-svc,service_namespace=shop");
    cr_assert_eq(s->n_entries, 4);
    const struct tr_loki_entry *e = &s->entries[0];
    cr_assert_eq(e->ts_ns, 1767225600123456789LL);
    cr_assert(line_is(e, "order placed <id=42> & paid"));
    cr_assert_str_eq(
        meta_str(e),
        "http_method=POST|http_status_code=201|duration_seconds=0.25|"
        "cache_hit=true|tags=[\"a\",\"b\"]|mixed=[\"x\",7,1.5,false]|"
        "user_id=u-1|user_roles=[\"admin\"]|user_level=3|payload=3q2+7w==|"
        "count_large=9007199254740991|"
        "observed_timestamp=1767225600223456789|severity_number=9|"
        "severity_text=INFO|flags=1|"
        "trace_id=5b8efff798038103d269b633813fc60c|"
        "span_id=eee19b7ec3c1b174|" RES_META
        "|scope_attr=scoped|scope_name=checkout|scope_version=1.4.2");
    e = &s->entries[1];
    cr_assert_eq(e->ts_ns, 1767225601000000000LL);
    cr_assert(line_is(e,
                      "{\"msg\":\"slow query\",\"nested\":{\"a\":[1,2],\"z\":"
                      "1},\"ok\":false,\"took.ms\":1234}"),
              "%.*s", (int)e->line.len, e->line.base);
    cr_assert_str_eq(meta_str(e),
                     "db_system=postgresql|observed_timestamp="
                     "1767225601000000500|severity_number=13|severity_text="
                     "WARN|" RES_META
                     "|scope_attr=scoped|scope_name=checkout|scope_version="
                     "1.4.2");
    e = &s->entries[2];
    cr_assert_eq(e->ts_ns, 1767225602000000005LL);
    cr_assert(line_is(e, "500"));
    cr_assert_str_eq(meta_str(e),
                     "observed_timestamp=1767225602000000006|severity_number="
                     "17|severity_text=ERROR|" RES_META
                     "|scope_name=db-client");
    e = &s->entries[3];
    cr_assert_eq(e->ts_ns, 1767225603000000000LL);
    cr_assert(line_is(e, "3.5"));
    cr_assert_str_eq(meta_str(e),
                     "observed_timestamp=1767225603000000000|" RES_META
                     "|scope_name=db-client");
}

static void check_worker_mapped(const struct tr_loki_push *p)
{
    cr_assert_eq(p->n_streams, 1);
    const struct tr_loki_stream *s = &p->streams[0];
    /* no service.name: Loki discovers it from k8s.container.name */
    cr_assert_str_eq(labels_str(s),
                     "cloud_region=eu-west-1,k8s_container_name=worker,"
                     "service_name=worker");
    cr_assert_eq(s->n_entries, 4);
    cr_assert_str_eq(meta_str(&s->entries[3]),
                     "observed_timestamp=1767225603000000000|os_type=linux|"
                     "scope_name=db-client");
}

typedef int (*decode_fn)(const void *,
                         size_t,
                         struct tr_arena *,
                         struct tr_otlp_logs *,
                         char *);

static void capture(const char *file,
                    decode_fn dec,
                    void (*mapped)(const struct tr_loki_push *))
{
    size_t len;
    char *body = ol_read(file, &len);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_otlp_logs req;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(dec(body, len, &a, &req, err), 0, "%s: %s", file, err);
    if (mapped == check_shop_mapped) {
        check_shop_decoded(&req);
    }
    struct tr_loki_push p;
    size_t dropped = 7;
    cr_assert_eq(tr_otlp_logs_to_loki(&req, 42, &a, &p, &dropped, err), 0,
                 "%s: %s", file, err);
    cr_assert_eq(dropped, 0);
    mapped(&p);
    tr_arena_free(&a);
    tr_free(body);
}

Test(otlp_logs, captured_protobuf)
{
    capture(FIX "shop_proto.bin", tr_otlp_logs_decode, check_shop_mapped);
    capture(FIX "worker_proto.bin", tr_otlp_logs_decode, check_worker_mapped);
}

Test(otlp_logs, captured_json)
{
    capture(FIX "shop_json.bin", tr_otlp_logs_decode_json, check_shop_mapped);
    capture(FIX "worker_json.bin", tr_otlp_logs_decode_json,
            check_worker_mapped);
}

Test(otlp_logs, captured_both_requests_in_one_push)
{
    /* both resources' ResourceLogs in one request (protobuf: concatenating
     * two requests concatenates their repeated resource_logs) */
    size_t l1, l2;
    char *b1 = ol_read(FIX "shop_proto.bin", &l1);
    char *b2 = ol_read(FIX "worker_proto.bin", &l2);
    char *both = tr_malloc(l1 + l2 + l1);
    memcpy(both, b1, l1);
    memcpy(both + l1, b2, l2);
    memcpy(both + l1 + l2, b1, l1);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_otlp_logs req;
    struct tr_loki_push p;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_otlp_logs_decode(both, l1 + l2 + l1, &a, &req, err), 0,
                 "%s", err);
    cr_assert_eq(req.n_resources, 3);
    cr_assert_eq(tr_otlp_logs_to_loki(&req, 0, &a, &p, NULL, err), 0, "%s",
                 err);
    /* shop twice: one stream, first; its entries in record order */
    cr_assert_eq(p.n_streams, 2);
    cr_assert_eq(p.n_entries, 12);
    cr_assert_eq(p.streams[0].n_entries, 8);
    cr_assert(strstr(labels_str(&p.streams[0]), "service_name=checkout-svc"));
    cr_assert(strstr(labels_str(&p.streams[1]), "service_name=worker"));
    cr_assert(line_is(&p.streams[0].entries[0], "order placed <id=42> & paid"));
    cr_assert(line_is(&p.streams[0].entries[3], "3.5"));
    cr_assert(line_is(&p.streams[0].entries[4], "order placed <id=42> & paid"));
    tr_arena_free(&a);
    tr_free(both);
    tr_free(b1);
    tr_free(b2);
}

/* ---- protobuf writing helpers ----------------------------------------- */

static void put_tag(struct tr_buf *b, unsigned field, unsigned wt)
{
    tr_buf_put_uvarint(b, (uint64_t)field << 3 | wt);
}

static void put_bytes(struct tr_buf *b, unsigned field, const void *p, size_t n)
{
    put_tag(b, field, 2);
    tr_buf_put_uvarint(b, n);
    tr_buf_append(b, p, n);
}

static void put_str(struct tr_buf *b, unsigned field, const char *s)
{
    put_bytes(b, field, s, strlen(s));
}

static void put_msg(struct tr_buf *b, unsigned field, const struct tr_buf *m)
{
    put_bytes(b, field, m->data ? m->data : "", m->len);
}

static void put_varint(struct tr_buf *b, unsigned field, uint64_t v)
{
    put_tag(b, field, 0);
    tr_buf_put_uvarint(b, v);
}

static void put_fixed64(struct tr_buf *b, unsigned field, uint64_t v)
{
    put_tag(b, field, 1);
    for (int i = 0; i < 8; i++) {
        tr_buf_putc(b, (char)(v >> (8 * i)));
    }
}

static void put_fixed32(struct tr_buf *b, unsigned field, uint32_t v)
{
    put_tag(b, field, 5);
    for (int i = 0; i < 4; i++) {
        tr_buf_putc(b, (char)(v >> (8 * i)));
    }
}

static void put_double(struct tr_buf *b, unsigned field, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    put_fixed64(b, field, u);
}

/* KeyValue{key, AnyValue{string_value}} into b as field `field` */
static void put_kv_str(struct tr_buf *b,
                       unsigned field,
                       const char *k,
                       const char *v)
{
    struct tr_buf kv, av;
    tr_buf_init(&kv);
    tr_buf_init(&av);
    put_str(&av, 1, v);
    put_str(&kv, 1, k);
    put_msg(&kv, 2, &av);
    put_msg(b, field, &kv);
    tr_buf_free(&kv);
    tr_buf_free(&av);
}

static void put_kv_msg(struct tr_buf *b,
                       unsigned field,
                       const char *k,
                       const struct tr_buf *av)
{
    struct tr_buf kv;
    tr_buf_init(&kv);
    put_str(&kv, 1, k);
    put_msg(&kv, 2, av);
    put_msg(b, field, &kv);
    tr_buf_free(&kv);
}

/* A request: two resources (the second without a resource message), the
 * first with two records in one scope. */
static void build_request(struct tr_buf *req)
{
    struct tr_buf res, rl, sl, scope, rec, body, rl2, sl2, rec2;
    tr_buf_init(&res);
    tr_buf_init(&rl);
    tr_buf_init(&sl);
    tr_buf_init(&scope);
    tr_buf_init(&rec);
    tr_buf_init(&body);
    tr_buf_init(&rl2);
    tr_buf_init(&sl2);
    tr_buf_init(&rec2);
    put_kv_str(&res, 1, "service.name", "api");
    put_kv_str(&res, 1, "region.custom", "x");
    put_varint(&res, 2, 3); /* dropped_attributes_count */
    put_str(&scope, 1, "lib");
    put_varint(&scope, 4, 2);
    put_fixed64(&rec, 1, 1700000000000000001ULL);
    put_fixed64(&rec, 11, 1700000000000000002ULL);
    put_varint(&rec, 2, 17);
    put_str(&rec, 3, "ERROR");
    put_str(&body, 1, "boom");
    put_msg(&rec, 5, &body);
    tr_buf_reset(&body);
    put_kv_str(&rec, 6, "k", "v");
    tr_buf_reset(&body);
    put_double(&body, 4, 2.5);
    put_kv_msg(&rec, 6, "d", &body);
    put_varint(&rec, 7, 4);
    put_fixed32(&rec, 8, 0x101);
    put_bytes(&rec, 9,
              "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d"
              "\x0e\x0f\x10",
              16);
    put_bytes(&rec, 10, "\0\0\0\0\0\0\0\0", 8); /* all zero: not stored */
    put_str(&rec, 12, "evt");
    put_varint(&rec, 99, 5); /* unknown: skipped */
    put_msg(&sl, 1, &scope);
    put_msg(&sl, 2, &rec);
    put_fixed64(&rec2, 11, 1700000000000000009ULL); /* observed only */
    put_msg(&sl, 2, &rec2);
    put_str(&sl, 3, "https://schema");
    put_msg(&rl, 1, &res);
    put_msg(&rl, 2, &sl);
    put_msg(req, 1, &rl);
    put_bytes(req, 5, "junk", 4); /* unknown top-level field */
    tr_buf_reset(&rec2);          /* no timestamps at all */
    put_msg(&sl2, 2, &rec2);
    put_msg(&rl2, 2, &sl2);
    put_msg(req, 1, &rl2);
    tr_buf_free(&res);
    tr_buf_free(&rl);
    tr_buf_free(&sl);
    tr_buf_free(&scope);
    tr_buf_free(&rec);
    tr_buf_free(&body);
    tr_buf_free(&rl2);
    tr_buf_free(&sl2);
    tr_buf_free(&rec2);
}

Test(otlp_logs, hand_built_protobuf)
{
    struct tr_buf req;
    tr_buf_init(&req);
    build_request(&req);
    struct tr_arena a;
    tr_arena_init(&a, 1024);
    struct tr_otlp_logs r;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_otlp_logs_decode(req.data, req.len, &a, &r, err), 0, "%s",
                 err);
    cr_assert_eq(r.n_resources, 2);
    cr_assert_eq(r.n_records, 3);
    cr_assert_eq(r.resources[0].resource.dropped_attributes_count, 3);
    cr_assert_eq(r.resources[0].scopes[0].scope.dropped_attributes_count, 2);
    const struct tr_otlp_log_record *rec = &r.resources[0].scopes[0].records[0];
    cr_assert_eq(rec->flags, 0x101);
    cr_assert_eq(rec->dropped_attributes_count, 4);
    cr_assert(tr_slice_eq_cstr(rec->event_name, "evt"));
    cr_assert_eq(r.resources[1].resource.n_attrs, 0);
    struct tr_loki_push p;
    cr_assert_eq(tr_otlp_logs_to_loki(&r, 555, &a, &p, NULL, err), 0, "%s",
                 err);
    cr_assert_eq(p.n_streams, 2);
    cr_assert_str_eq(labels_str(&p.streams[0]), "service_name=api");
    const struct tr_loki_entry *e = &p.streams[0].entries[0];
    cr_assert_eq(e->ts_ns, 1700000000000000001LL);
    cr_assert(line_is(e, "boom"));
    cr_assert_str_eq(
        meta_str(e),
        "k=v|d=2.5|observed_timestamp=1700000000000000002|severity_"
        "number=17|severity_text=ERROR|dropped_attributes_count="
        "4|flags=257|trace_id=0102030405060708090a0b0c0d0e0f10|"
        "region_custom=x|scope_name=lib|scope_dropped_"
        "attributes_count=2");
    /* time unset: the observed time, and no observed_timestamp metadata */
    e = &p.streams[0].entries[1];
    cr_assert_eq(e->ts_ns, 1700000000000000009LL);
    cr_assert(line_is(e, ""));
    cr_assert_str_eq(meta_str(e),
                     "region_custom=x|scope_name=lib|scope_"
                     "dropped_attributes_count=2");
    /* no resource: unknown_service; no timestamps: now */
    cr_assert_str_eq(labels_str(&p.streams[1]), "service_name=unknown_service");
    cr_assert_eq(p.streams[1].entries[0].ts_ns, 555);
    cr_assert_eq(p.streams[1].entries[0].n_meta, 0);
    /* an empty request */
    cr_assert_eq(tr_otlp_logs_decode("", 0, &a, &r, err), 0);
    cr_assert_eq(r.n_resources, 0);
    cr_assert_eq(tr_otlp_logs_to_loki(&r, 1, &a, &p, NULL, err), 0);
    cr_assert_eq(p.n_streams, 0);
    tr_arena_free(&a);
    tr_buf_free(&req);
}

Test(otlp_logs, every_prefix_decodes_or_fails_cleanly)
{
    struct tr_buf req;
    tr_buf_init(&req);
    build_request(&req);
    size_t ok = 0;
    for (size_t n = 0; n < req.len; n++) {
        char *cut = tr_malloc(n ? n : 1);
        memcpy(cut, req.data, n);
        struct tr_arena a;
        tr_arena_init(&a, 256);
        struct tr_otlp_logs r;
        char err[TR_ERRMSG_SIZE] = "";
        int rv = tr_otlp_logs_decode(cut, n, &a, &r, err);
        cr_assert(rv == 0 || rv == TR_EPROTO, "prefix %zu: %d", n, rv);
        if (rv == TR_EPROTO) {
            cr_assert(strstr(err, "offset") != NULL, "prefix %zu: %s", n, err);
            cr_assert_eq(r.n_resources, 0);
        } else {
            struct tr_loki_push p;
            cr_assert_eq(tr_otlp_logs_to_loki(&r, 0, &a, &p, NULL, err), 0);
            ok++;
        }
        tr_arena_free(&a);
        tr_free(cut);
    }
    /* the empty prefix, and the ones ending after each top-level field */
    cr_assert_geq(ok, 3);
    /* flipping every byte never crashes either */
    for (size_t i = 0; i < req.len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            char *bad = tr_malloc(req.len);
            memcpy(bad, req.data, req.len);
            bad[i] ^= (char)(1 << bit);
            struct tr_arena a;
            tr_arena_init(&a, 256);
            struct tr_otlp_logs r;
            struct tr_loki_push p;
            char err[TR_ERRMSG_SIZE];
            int rv = tr_otlp_logs_decode(bad, req.len, &a, &r, err);
            cr_assert(rv == 0 || rv == TR_EPROTO);
            if (rv == 0) {
                rv = tr_otlp_logs_to_loki(&r, 0, &a, &p, NULL, err);
                cr_assert(rv == 0 || rv == TR_EINVAL, "%d", rv);
            }
            tr_arena_free(&a);
            tr_free(bad);
        }
    }
    tr_buf_free(&req);
}

/* A request with one record whose fields are in rec. */
static void wrap_record(struct tr_buf *req, const struct tr_buf *rec)
{
    struct tr_buf sl, rl;
    tr_buf_init(&sl);
    tr_buf_init(&rl);
    put_msg(&sl, 2, rec);
    put_msg(&rl, 2, &sl);
    tr_buf_reset(req);
    put_msg(req, 1, &rl);
    tr_buf_free(&sl);
    tr_buf_free(&rl);
}

static int decode_record(const struct tr_buf *rec, char *err)
{
    struct tr_buf req;
    tr_buf_init(&req);
    wrap_record(&req, rec);
    struct tr_arena a;
    tr_arena_init(&a, 256);
    struct tr_otlp_logs r;
    int rv = tr_otlp_logs_decode(req.data, req.len, &a, &r, err);
    tr_arena_free(&a);
    tr_buf_free(&req);
    return rv;
}

Test(otlp_logs, protobuf_errors)
{
    char err[TR_ERRMSG_SIZE];
    struct tr_buf rec;
    tr_buf_init(&rec);
    /* a trace id of 5 bytes */
    put_bytes(&rec, 9, "abcde", 5);
    cr_assert_eq(decode_record(&rec, err), TR_EPROTO);
    cr_assert(strstr(err, "trace_id must be 16 bytes, not 5") != NULL, "%s",
              err);
    cr_assert(strstr(err, "LogRecord") && strstr(err, "resource_logs[0]"), "%s",
              err);
    /* a span id of 16 bytes */
    tr_buf_reset(&rec);
    put_bytes(&rec, 10, "0123456789abcdef", 16);
    cr_assert_eq(decode_record(&rec, err), TR_EPROTO);
    cr_assert(strstr(err, "span_id must be 8 bytes, not 16") != NULL, "%s",
              err);
    /* time_unix_nano as a varint: wrong wire type */
    tr_buf_reset(&rec);
    put_varint(&rec, 1, 5);
    cr_assert_eq(decode_record(&rec, err), TR_EPROTO);
    cr_assert(strstr(err, "field 1 has wire type 0, expected 1") != NULL, "%s",
              err);
    /* flags as a varint */
    tr_buf_reset(&rec);
    put_varint(&rec, 8, 1);
    cr_assert_eq(decode_record(&rec, err), TR_EPROTO);
    /* the body as a varint */
    tr_buf_reset(&rec);
    put_varint(&rec, 5, 1);
    cr_assert_eq(decode_record(&rec, err), TR_EPROTO);
    /* an AnyValue double of 4 bytes */
    tr_buf_reset(&rec);
    {
        struct tr_buf av;
        tr_buf_init(&av);
        put_tag(&av, 4, 1);
        tr_buf_append(&av, "abcd", 4);
        put_msg(&rec, 5, &av);
        tr_buf_free(&av);
    }
    cr_assert_eq(decode_record(&rec, err), TR_EPROTO);
    cr_assert(strstr(err, "AnyValue: truncated fixed64 field 4") != NULL, "%s",
              err);
    /* a length past the end */
    tr_buf_reset(&rec);
    put_tag(&rec, 3, 2);
    tr_buf_put_uvarint(&rec, 100);
    cr_assert_eq(decode_record(&rec, err), TR_EPROTO);
    cr_assert(strstr(err, "exceeds") != NULL, "%s", err);
    /* resource_logs as a varint */
    {
        struct tr_arena a;
        tr_arena_init(&a, 64);
        struct tr_otlp_logs r;
        struct tr_buf req;
        tr_buf_init(&req);
        put_varint(&req, 1, 3);
        cr_assert_eq(tr_otlp_logs_decode(req.data, req.len, &a, &r, err),
                     TR_EPROTO);
        cr_assert(strstr(err, "ExportLogsServiceRequest") != NULL, "%s", err);
        tr_buf_free(&req);
        tr_arena_free(&a);
    }
    /* AnyValues nested past the limit */
    {
        struct tr_buf v, w;
        tr_buf_init(&v);
        tr_buf_init(&w);
        put_str(&v, 1, "leaf");
        for (int d = 0; d < TR_OTLP_MAX_DEPTH + 2; d++) {
            tr_buf_reset(&w);
            put_msg(&w, 1, &v); /* ArrayValue{values: v} */
            tr_buf_reset(&v);
            put_msg(&v, 5, &w); /* AnyValue{array_value} */
        }
        tr_buf_reset(&rec);
        put_msg(&rec, 5, &v);
        cr_assert_eq(decode_record(&rec, err), TR_EPROTO);
        cr_assert(strstr(err, "nested deeper") != NULL, "%s", err);
        tr_buf_free(&v);
        tr_buf_free(&w);
    }
    tr_buf_free(&rec);
}

/* ---- AnyValue rendering ------------------------------------------------ */

static char *render(const struct tr_otlp_value *v)
{
    static char out[1024];
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_otlp_value_string(v, &b), 0);
    snprintf(out, sizeof(out), "%.*s", (int)b.len, b.data ? b.data : "");
    tr_buf_free(&b);
    return out;
}

static struct tr_otlp_value vd(double d)
{
    return (struct tr_otlp_value){.type = TR_OTLP_DOUBLE, .d = d};
}

static struct tr_otlp_value vs(const char *s)
{
    return (struct tr_otlp_value){.type = TR_OTLP_STRING,
                                  .s = tr_slice_cstr(s)};
}

Test(otlp_logs, value_string)
{
    struct tr_otlp_value v = {0};
    cr_assert_str_eq(render(&v), "");
    v = vs("a \"b\" <&>");
    cr_assert_str_eq(render(&v), "a \"b\" <&>");
    v = (struct tr_otlp_value){.type = TR_OTLP_BOOL, .b = true};
    cr_assert_str_eq(render(&v), "true");
    v = (struct tr_otlp_value){.type = TR_OTLP_INT, .i = INT64_MIN};
    cr_assert_str_eq(render(&v), "-9223372036854775808");
    static const struct {
        double d;
        const char *s;
    } doubles[] = {
        {0.25, "0.25"},
        {100, "100"},
        {-0.0, "-0"},
        {0, "0"},
        {1e20, "100000000000000000000"},
        {1e21, "1e+21"},
        {1.5e300, "1.5e+300"},
        {1e-6, "0.000001"},
        {1e-7, "1e-7"},
        {-2.5e-10, "-2.5e-10"},
        {123456.789, "123456.789"},
        {0.1, "0.1"},
    };
    for (size_t i = 0; i < sizeof(doubles) / sizeof(doubles[0]); i++) {
        v = vd(doubles[i].d);
        cr_assert_str_eq(render(&v), doubles[i].s, "%g", doubles[i].d);
    }
    v = vd(NAN);
    cr_assert_str_eq(render(&v), "NaN");
    v = vd(INFINITY);
    cr_assert_str_eq(render(&v), "Infinity");
    v = vd(-INFINITY);
    cr_assert_str_eq(render(&v), "-Infinity");
    v = (struct tr_otlp_value){.type = TR_OTLP_BYTES,
                               .s = {"\x00\x01\xfe\xff\x7f", 5}};
    cr_assert_str_eq(render(&v), "AAH+/38=");
    v = (struct tr_otlp_value){.type = TR_OTLP_BYTES, .s = {"ab", 2}};
    cr_assert_str_eq(render(&v), "YWI=");
    /* arrays: JSON as Go writes it (no HTML escaping; \b \f short forms,
     * invalid UTF-8 as \ufffd, U+2028 escaped) */
    struct tr_otlp_value items[] = {
        vs("q\"\\\b\f\n\r\t\x01<&>\xe2\x80\xa8\xff\xc3\xa9"),
        {.type = TR_OTLP_INT, .i = -3},
        vd(1e21),
        {0},
        {.type = TR_OTLP_BYTES, .s = {"", 0}},
        {.type = TR_OTLP_BYTES, .s = {"\xff", 1}},
        {.type = TR_OTLP_ARRAY, .n = 0},
    };
    v = (struct tr_otlp_value){.type = TR_OTLP_ARRAY, .items = items, .n = 7};
    cr_assert_str_eq(render(&v),
                     "[\"q\\\"\\\\\\b\\f\\n\\r\\t\\u0001<&>\\u2028\\ufffd\xc3"
                     "\xa9\",-3,1e+21,null,null,\"/w==\",[]]");
    /* maps: keys sorted bytewise, a repeated key keeps its last value */
    struct tr_otlp_kv kvs[] = {
        {TR_SLICE_LIT("b"), vs("1")},
        {TR_SLICE_LIT("a"), vs("first")},
        {TR_SLICE_LIT("B"), {.type = TR_OTLP_BOOL}},
        {TR_SLICE_LIT("a"), vs("last")},
        {TR_SLICE_LIT("\xff"), vd(2)},
    };
    v = (struct tr_otlp_value){.type = TR_OTLP_KVLIST, .kvs = kvs, .n = 5};
    cr_assert_str_eq(render(&v),
                     "{\"B\":false,\"a\":\"last\",\"b\":\"1\",\"\\ufffd\":2}");
    v.n = 0;
    cr_assert_str_eq(render(&v), "{}");
    /* a KeyValue without its key (absent in the body): the key "" */
    struct tr_otlp_kv nokey[] = {{{NULL, 0}, vs("v")}};
    v = (struct tr_otlp_value){.type = TR_OTLP_KVLIST, .kvs = nokey, .n = 1};
    cr_assert_str_eq(render(&v), "{\"\":\"v\"}");
    /* a NaN anywhere inside: Go's encoder fails, pdata renders "" */
    struct tr_otlp_kv inner[] = {{TR_SLICE_LIT("x"), vd(NAN)}};
    struct tr_otlp_value nested[] = {
        vs("ok"), {.type = TR_OTLP_KVLIST, .kvs = inner, .n = 1}};
    v = (struct tr_otlp_value){.type = TR_OTLP_ARRAY, .items = nested, .n = 2};
    cr_assert_str_eq(render(&v), "");
}

Test(otlp_logs, label_names)
{
    static const struct {
        const char *in, *out;
    } ok[] = {
        {"service.name", "service_name"},
        {"k8s.pod.name", "k8s_pod_name"},
        {"a__b", "a_b"},
        {"a.-_b", "a_b"},
        {"_x", "_x"},
        {"x_", "x_"},
        {"0ab", "key_0ab"},
        {"9", "key_9"},
        {".9", "_9"},
        {"__name__", "__name__"},
        {"__a..b__", "__a_b__"},
        {"caf\xc3\xa9.au lait", "caf_au_lait"},
        {"HTTP.Method", "HTTP_Method"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct tr_buf b;
        tr_buf_init(&b);
        char err[TR_ERRMSG_SIZE];
        cr_assert_eq(tr_otlp_label_name(tr_slice_cstr(ok[i].in), &b, err), 0,
                     "%s", ok[i].in);
        cr_assert_str_eq(b.data, ok[i].out);
        tr_buf_free(&b);
    }
    static const char *const bad[] = {"", "_", "...", "____", "__", "__.__"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct tr_buf b;
        tr_buf_init(&b);
        char err[TR_ERRMSG_SIZE];
        cr_assert_eq(tr_otlp_label_name(tr_slice_cstr(bad[i]), &b, err),
                     TR_EINVAL, "%s", bad[i]);
        cr_assert_eq(b.len, 0);
        tr_buf_free(&b);
    }
}

/* ---- mapping rules ----------------------------------------------------- */

/* One resource with attrs, one scope, records with the given bodies. */
static struct tr_otlp_logs one_resource(const struct tr_otlp_kv *attrs,
                                        size_t n_attrs,
                                        struct tr_otlp_resource_group *rl,
                                        struct tr_otlp_scope_group *sl,
                                        const struct tr_otlp_log_record *recs,
                                        size_t n_recs)
{
    memset(sl, 0, sizeof(*sl));
    sl->records = recs;
    sl->n_items = n_recs;
    memset(rl, 0, sizeof(*rl));
    rl->resource.attrs = attrs;
    rl->resource.n_attrs = n_attrs;
    rl->scopes = sl;
    rl->n_scopes = 1;
    return (struct tr_otlp_logs){rl, 1, n_recs, 0};
}

static int map(const struct tr_otlp_logs *req,
               struct tr_arena *a,
               struct tr_loki_push *p,
               char *err)
{
    return tr_otlp_logs_to_loki(req, 99, a, p, NULL, err);
}

Test(otlp_logs, service_name_discovery_and_labels)
{
    struct tr_arena a;
    tr_arena_init(&a, 1024);
    char err[TR_ERRMSG_SIZE];
    struct tr_loki_push p;
    struct tr_otlp_resource_group rl;
    struct tr_otlp_scope_group sl;
    struct tr_otlp_log_record rec = {.body = vs("x")};
    /* k8s.job.name first in wire order wins over k8s.container.name */
    struct tr_otlp_kv a1[] = {
        {TR_SLICE_LIT("k8s.job.name"), vs("job1")},
        {TR_SLICE_LIT("k8s.container.name"), vs("c1")},
        {TR_SLICE_LIT("app"), vs("not-an-index-label")},
    };
    struct tr_otlp_logs req = one_resource(a1, 3, &rl, &sl, &rec, 1);
    cr_assert_eq(map(&req, &a, &p, err), 0, "%s", err);
    cr_assert_str_eq(labels_str(&p.streams[0]),
                     "k8s_container_name=c1,k8s_job_name=job1,service_name="
                     "job1");
    cr_assert_str_eq(meta_str(&p.streams[0].entries[0]),
                     "app=not-an-index-label");
    /* an empty service.name: discovery; empty label values dropped */
    struct tr_otlp_kv a2[] = {
        {TR_SLICE_LIT("service.name"), vs("")},
        {TR_SLICE_LIT("container.name"), vs("ctr")},
        {TR_SLICE_LIT("cloud.region"), vs("")},
    };
    req = one_resource(a2, 3, &rl, &sl, &rec, 1);
    cr_assert_eq(map(&req, &a, &p, err), 0, "%s", err);
    cr_assert_str_eq(labels_str(&p.streams[0]),
                     "container_name=ctr,service_name=ctr");
    /* a non-string service.name renders; a map index attribute flattens;
     * a repeated attribute: the last value wins */
    struct tr_otlp_kv inner[] = {{TR_SLICE_LIT("x.y"), vs("1")}};
    struct tr_otlp_kv a3[] = {
        {TR_SLICE_LIT("service.name"), {.type = TR_OTLP_INT, .i = 12}},
        {TR_SLICE_LIT("k8s.pod.name"),
         {.type = TR_OTLP_KVLIST, .kvs = inner, .n = 1}},
        {TR_SLICE_LIT("cloud.region"), vs("r1")},
        {TR_SLICE_LIT("cloud.region"), vs("r2")},
        {TR_SLICE_LIT("deployment.environment"),
         {.type = TR_OTLP_ARRAY, .n = 0}},
    };
    req = one_resource(a3, 5, &rl, &sl, &rec, 1);
    cr_assert_eq(map(&req, &a, &p, err), 0, "%s", err);
    cr_assert_str_eq(labels_str(&p.streams[0]),
                     "cloud_region=r2,deployment_environment=[],k8s_pod_name_"
                     "x_y=1,service_name=12");
    /* invalid UTF-8 in a label value: the resource is skipped */
    struct tr_otlp_kv a4[] = {{TR_SLICE_LIT("service.name"), vs("bad\xff")}};
    req = one_resource(a4, 1, &rl, &sl, &rec, 1);
    size_t dropped = 0;
    cr_assert_eq(tr_otlp_logs_to_loki(&req, 0, &a, &p, &dropped, err), 0);
    cr_assert_eq(p.n_streams, 0);
    cr_assert_eq(p.n_entries, 0);
    cr_assert_eq(dropped, 1);
    /* service.name an empty map: it "renders" ("{}"), so no discovery and
     * no unknown_service, but makes no label: no stream */
    struct tr_otlp_kv a8[] = {
        {TR_SLICE_LIT("service.name"), {.type = TR_OTLP_KVLIST, .n = 0}}};
    req = one_resource(a8, 1, &rl, &sl, &rec, 1);
    cr_assert_eq(tr_otlp_logs_to_loki(&req, 0, &a, &p, &dropped, err), 0);
    cr_assert_eq(p.n_streams, 0);
    cr_assert_eq(dropped, 1);
    /* ... but invalid UTF-8 in metadata passes (the write path decides) */
    struct tr_otlp_kv a5[] = {{TR_SLICE_LIT("other"), vs("bad\xff")}};
    req = one_resource(a5, 1, &rl, &sl, &rec, 1);
    cr_assert_eq(map(&req, &a, &p, err), 0);
    cr_assert_eq(p.n_entries, 1);
    /* attribute names that make no label name fail the request */
    struct tr_otlp_kv a6[] = {{TR_SLICE_LIT(""), vs("v")}};
    req = one_resource(a6, 1, &rl, &sl, &rec, 1);
    cr_assert_eq(map(&req, &a, &p, err), TR_EINVAL);
    cr_assert(strstr(err, "label name") != NULL, "%s", err);
    cr_assert_eq(p.n_streams, 0);
    struct tr_otlp_log_record rec2 = rec;
    struct tr_otlp_kv a7[] = {{TR_SLICE_LIT("..."), vs("v")}};
    rec2.attrs = a7;
    rec2.n_attrs = 1;
    req = one_resource(NULL, 0, &rl, &sl, &rec2, 1);
    cr_assert_eq(map(&req, &a, &p, err), TR_EINVAL);
    cr_assert(strstr(err, "\"...\"") != NULL, "%s", err);
    tr_arena_free(&a);
}

Test(otlp_logs, metadata_flattening_and_order)
{
    struct tr_arena a;
    tr_arena_init(&a, 1024);
    char err[TR_ERRMSG_SIZE];
    struct tr_loki_push p;
    struct tr_otlp_resource_group rl;
    struct tr_otlp_scope_group sl;
    struct tr_otlp_kv deep[] = {{TR_SLICE_LIT("e"), vs("x")},
                                {TR_SLICE_LIT(".f"), vd(1.5)}};
    struct tr_otlp_kv mid[] = {
        {TR_SLICE_LIT("c"), {.type = TR_OTLP_INT, .i = 1}},
        {TR_SLICE_LIT("d"), {.type = TR_OTLP_KVLIST, .kvs = deep, .n = 2}},
        {TR_SLICE_LIT("empty"), {.type = TR_OTLP_KVLIST, .n = 0}},
    };
    struct tr_otlp_kv attrs[] = {
        {TR_SLICE_LIT("a.b"), {.type = TR_OTLP_KVLIST, .kvs = mid, .n = 3}},
        {TR_SLICE_LIT("dup"), vs("1")},
        {TR_SLICE_LIT("dup"), vs("2")},
        {TR_SLICE_LIT("nil"), {0}},
    };
    struct tr_otlp_log_record rec = {
        .time_unix_nano = 0,
        .observed_time_unix_nano = 0,
        .severity_number = -3,
        .attrs = attrs,
        .n_attrs = 4,
        .trace_id = {"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16},
        .span_id = {"\x01\0\0\0\0\0\0\0", 8},
        .body = {.type = TR_OTLP_KVLIST, .kvs = mid, .n = 1},
    };
    struct tr_otlp_logs req = one_resource(NULL, 0, &rl, &sl, &rec, 1);
    sl.scope.name = TR_SLICE_LIT("s");
    cr_assert_eq(map(&req, &a, &p, err), 0, "%s", err);
    const struct tr_loki_entry *e = &p.streams[0].entries[0];
    /* maps flatten to a_b_c, a_b_d_e, a_b_d_f (runs of _ collapse); an
     * empty map makes nothing; repeated names are all kept */
    cr_assert_str_eq(meta_str(e),
                     "a_b_c=1|a_b_d_e=x|a_b_d_f=1.5|dup=1|dup=2|nil=|"
                     "severity_number=-3|span_id=0100000000000000|scope_name="
                     "s");
    cr_assert(line_is(e, "{\"c\":1}"));
    cr_assert_eq(e->ts_ns, 99);
    /* time before 1970 as uint64 wraps like Go's int64(t) */
    rec.time_unix_nano = UINT64_MAX;
    rec.observed_time_unix_nano = 0x8000000000000000ULL;
    cr_assert_eq(map(&req, &a, &p, err), 0, "%s", err);
    e = &p.streams[0].entries[0];
    cr_assert_eq(e->ts_ns, -1);
    cr_assert(strstr(meta_str(e), "observed_timestamp=-9223372036854775808"));
    tr_arena_free(&a);
}

Test(otlp_logs, metadata_budget)
{
    /* a big resource copied to many records is refused, not amplified */
    enum { N_ATTRS = 300, N_RECS = 300 };
    static struct tr_otlp_kv attrs[N_ATTRS];
    static char names[N_ATTRS][16];
    static struct tr_otlp_log_record recs[N_RECS];
    for (int i = 0; i < N_ATTRS; i++) {
        snprintf(names[i], sizeof(names[i]), "a%d", i);
        attrs[i] = (struct tr_otlp_kv){tr_slice_cstr(names[i]), vs("v")};
    }
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    char err[TR_ERRMSG_SIZE];
    struct tr_loki_push p;
    struct tr_otlp_resource_group rl;
    struct tr_otlp_scope_group sl;
    struct tr_otlp_logs req =
        one_resource(attrs, N_ATTRS, &rl, &sl, recs, N_RECS);
    cr_assert_eq(map(&req, &a, &p, err), TR_ETOOLARGE);
    cr_assert(strstr(err, "structured metadata") != NULL, "%s", err);
    cr_assert_eq(p.n_streams, 0);
    req.body_len = N_ATTRS * N_RECS; /* a body that big allows it */
    cr_assert_eq(map(&req, &a, &p, err), 0, "%s", err);
    cr_assert_eq(p.streams[0].entries[N_RECS - 1].n_meta, N_ATTRS);
    tr_arena_free(&a);
}

/* ---- JSON -------------------------------------------------------------- */

static int json(const char *text,
                struct tr_arena *a,
                struct tr_otlp_logs *r,
                char *err)
{
    return tr_otlp_logs_decode_json(text, strlen(text), a, r, err);
}

#define REC(fields) \
    "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{" fields "}]}]}]}"

Test(otlp_logs, json_hand_built)
{
    struct tr_arena a;
    tr_arena_init(&a, 1024);
    char err[TR_ERRMSG_SIZE];
    struct tr_otlp_logs r;
    /* snake_case names, int64 as strings, ids in upper-case hex, a
     * severity by name, every AnyValue kind */
    static const char body[] =
        "{\"resource_logs\":[{\"resource\":{\"attributes\":[{\"key\":"
        "\"service.name\",\"value\":{\"string_value\":\"s\\u00e9\"}}],"
        "\"dropped_attributes_count\":\"2\"},\"scope_logs\":[{\"scope\":{"
        "\"name\":\"n\",\"version\":null},\"log_records\":[{"
        "\"time_unix_nano\":\"18446744073709551615\","
        "\"observed_time_unix_nano\":17,\"severity_number\":"
        "\"SEVERITY_NUMBER_WARN2\",\"severity_text\":\"W\","
        "\"trace_id\":\"5B8EFFF798038103D269B633813FC60C\","
        "\"span_id\":\"\",\"flags\":\"4294967295\",\"event_name\":\"e\","
        "\"unknown\":{\"deep\":[1,2,{}]},"
        "\"attributes\":["
        "{\"key\":\"i\",\"value\":{\"intValue\":\"-9223372036854775808\"}},"
        "{\"key\":\"i2\",\"value\":{\"int_value\":42}},"
        "{\"key\":\"d\",\"value\":{\"doubleValue\":1e-7}},"
        "{\"key\":\"d2\",\"value\":{\"doubleValue\":\"NaN\"}},"
        "{\"key\":\"d3\",\"value\":{\"doubleValue\":\"-Infinity\"}},"
        "{\"key\":\"d4\",\"value\":{\"doubleValue\":3}},"
        "{\"key\":\"b\",\"value\":{\"boolValue\":false}},"
        "{\"key\":\"y\",\"value\":{\"bytesValue\":\"3q2+7w==\"}},"
        "{\"key\":\"e\",\"value\":{}},"
        "{\"key\":\"e2\"},"
        "{\"key\":\"arr\",\"value\":{\"arrayValue\":{\"values\":[{"
        "\"stringValue\":\"a\"},{\"intValue\":1}]}}},"
        "{\"key\":\"kv\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":"
        "\"z\",\"value\":{\"boolValue\":true}}]}}},"
        "{\"key\":\"two\",\"value\":{\"stringValue\":\"x\",\"intValue\":5}}"
        "],\"body\":{\"stringValue\":\"line\\n\"}}]}]}]}";
    cr_assert_eq(json(body, &a, &r, err), 0, "%s", err);
    cr_assert_eq(r.n_records, 1);
    cr_assert_eq(r.resources[0].resource.dropped_attributes_count, 2);
    const struct tr_otlp_log_record *rec = &r.resources[0].scopes[0].records[0];
    cr_assert_eq(rec->time_unix_nano, UINT64_MAX);
    cr_assert_eq(rec->observed_time_unix_nano, 17);
    cr_assert_eq(rec->severity_number, 14);
    cr_assert_eq(rec->flags, UINT32_MAX);
    cr_assert_eq(rec->trace_id.len, 16);
    cr_assert_eq((uint8_t)rec->trace_id.base[0], 0x5b);
    cr_assert_eq((uint8_t)rec->trace_id.base[15], 0x0c);
    cr_assert_eq(rec->span_id.len, 0);
    cr_assert(tr_slice_eq_cstr(rec->body.s, "line\n"));
    cr_assert_eq(rec->n_attrs, 13);
    cr_assert_eq(rec->attrs[0].value.i, INT64_MIN);
    cr_assert_eq(rec->attrs[1].value.i, 42);
    cr_assert_eq(rec->attrs[2].value.d, 1e-7);
    cr_assert(isnan(rec->attrs[3].value.d));
    cr_assert(isinf(rec->attrs[4].value.d) && rec->attrs[4].value.d < 0);
    cr_assert_eq(rec->attrs[6].value.type, TR_OTLP_BOOL);
    cr_assert_eq(rec->attrs[7].value.s.len, 4);
    cr_assert_eq(rec->attrs[8].value.type, TR_OTLP_EMPTY);
    cr_assert_eq(rec->attrs[9].value.type, TR_OTLP_EMPTY);
    cr_assert_eq(rec->attrs[10].value.n, 2);
    cr_assert_eq(rec->attrs[11].value.kvs[0].value.b, true);
    cr_assert_eq(rec->attrs[12].value.type, TR_OTLP_INT); /* last member */
    struct tr_loki_push p;
    cr_assert_eq(tr_otlp_logs_to_loki(&r, 0, &a, &p, NULL, err), 0, "%s", err);
    cr_assert_str_eq(labels_str(&p.streams[0]), "service_name=s\xc3\xa9");
    const struct tr_loki_entry *e = &p.streams[0].entries[0];
    cr_assert_eq(e->ts_ns, -1);
    cr_assert_str_eq(
        meta_str(e),
        "i=-9223372036854775808|i2=42|d=1e-7|d2=NaN|d3=-Infinity|d4=3|b=false|"
        "y=3q2+7w==|e=|e2=|arr=[\"a\",1]|kv_z=true|two=5|"
        "observed_timestamp=17|severity_number=14|severity_text=W|"
        "flags=4294967295|trace_id=5b8efff798038103d269b633813fc60c|"
        "scope_name=n");
    /* empty bodies */
    cr_assert_eq(json("{}", &a, &r, err), 0);
    cr_assert_eq(r.n_resources, 0);
    cr_assert_eq(json("{\"resourceLogs\":[]}", &a, &r, err), 0);
    cr_assert_eq(json("{\"resourceLogs\":null}", &a, &r, err), 0);
    cr_assert_eq(json(" {\"resourceLogs\":[{}]} ", &a, &r, err), 0);
    cr_assert_eq(r.n_resources, 1);
    cr_assert_eq(r.n_records, 0);
    cr_assert_eq(tr_otlp_logs_to_loki(&r, 0, &a, &p, NULL, err), 0);
    cr_assert_eq(p.n_streams, 0);
    tr_arena_free(&a);
}

Test(otlp_logs, json_errors)
{
    static const struct {
        const char *body;
        const char *err;
    } bad[] = {
        {"", "invalid JSON"},
        {"{\"resourceLogs\":[", "invalid JSON"},
        {"[]", "ExportLogsServiceRequest object"},
        {"{\"resourceLogs\":{}}", "resourceLogs: expected an array"},
        {"{\"resourceLogs\":[1]}", "resourceLogs[0]: expected a ResourceLogs"},
        {REC("\"traceId\":\"abc\""),
         "resourceLogs[0].scopeLogs[0].logRecords[0].traceId: expected 32 hex "
         "digits (16 bytes), not 3 characters"},
        {REC("\"spanId\":\"5b8efff798038103d269b633813fc60c\""),
         "spanId: expected 16 hex digits (8 bytes), not 32"},
        {REC("\"spanId\":\"zz8efff798038103\""),
         "spanId: invalid hex digit at character 0"},
        {REC("\"traceId\":5"), "traceId: expected a string, not a number"},
        {REC("\"timeUnixNano\":\"-5\""),
         "timeUnixNano: not an unsigned 64-bit integer: -5"},
        {REC("\"timeUnixNano\":\"18446744073709551616\""),
         "not an unsigned 64-bit integer"},
        {REC("\"timeUnixNano\":1.5"), "not an unsigned 64-bit integer: 1.5"},
        {REC("\"timeUnixNano\":\"+5\""), "not an unsigned 64-bit integer: +5"},
        {REC("\"timeUnixNano\":\"-0\""), "not an unsigned 64-bit integer: -0"},
        {REC("\"timeUnixNano\":true"),
         "timeUnixNano: expected an unsigned integer, not a boolean"},
        {REC("\"flags\":4294967296"), "flags: 4294967296 does not fit 32 bits"},
        {REC("\"severityNumber\":\"LOUD\""),
         "severityNumber: unknown enum value \"LOUD\""},
        {REC("\"severityNumber\":2147483648"), "does not fit 32 bits"},
        {REC("\"body\":\"text\""),
         "body: expected an AnyValue object, not a string"},
        {REC("\"body\":{\"intValue\":\"9223372036854775808\"}"),
         "body.intValue: not a 64-bit integer"},
        {REC("\"body\":{\"intValue\":\"12a\"}"), "not a 64-bit integer: 12a"},
        {REC("\"body\":{\"doubleValue\":\"fast\"}"),
         "body.doubleValue: not a 64-bit float: fast"},
        {REC("\"body\":{\"doubleValue\":1e999}"), "not a 64-bit float"},
        {REC("\"body\":{\"boolValue\":\"yes\"}"),
         "body.boolValue: expected true or false"},
        {REC("\"body\":{\"bytesValue\":\"3q2+7w=\"}"),
         "body.bytesValue: invalid base64"},
        {REC("\"body\":{\"bytesValue\":\"3q2+7w==x\"}"), "invalid base64"},
        {REC("\"body\":{\"arrayValue\":{\"values\":[{\"intValue\":[]}]}}"),
         "body.arrayValue.values[0].intValue: expected an integer, not an "
         "array"},
        {REC("\"body\":{\"kvlistValue\":[]}"),
         "body.kvlistValue: expected an object"},
        {REC("\"attributes\":[{\"key\":1}]"),
         "attributes[0].key: expected a "
         "string"},
        {REC("\"attributes\":{}"), "attributes: expected an array of KeyValue"},
        {REC("\"attributes\":[5]"), "attributes[0]: expected a KeyValue"},
        {"{\"resourceLogs\":[{\"resource\":{\"droppedAttributesCount\":-1}}]}",
         "resourceLogs[0].resource.droppedAttributesCount: not an unsigned"},
        {"{\"resourceLogs\":[{\"scopeLogs\":[{\"scope\":{\"name\":7}}]}]}",
         "resourceLogs[0].scopeLogs[0].scope.name: expected a string"},
        {"{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{},[]]}]}]}",
         "logRecords[1]: expected a LogRecord object"},
    };
    struct tr_arena a;
    tr_arena_init(&a, 1024);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct tr_otlp_logs r;
        char err[TR_ERRMSG_SIZE] = "";
        cr_assert_eq(json(bad[i].body, &a, &r, err), TR_EINVAL, "%s",
                     bad[i].body);
        cr_assert(strstr(err, bad[i].err) != NULL, "%s\n got: %s\nwant: %s",
                  bad[i].body, err, bad[i].err);
        cr_assert_eq(r.n_resources, 0);
        cr_assert_eq(r.n_records, 0);
    }
    tr_arena_free(&a);
}

Test(otlp_logs, json_every_prefix_of_a_capture)
{
    size_t len;
    char *body = ol_read(FIX "shop_json.bin", &len);
    for (size_t n = 0; n < len; n++) {
        char *cut = tr_malloc(n ? n : 1);
        memcpy(cut, body, n);
        struct tr_arena a;
        tr_arena_init(&a, 256);
        struct tr_otlp_logs r;
        char err[TR_ERRMSG_SIZE];
        /* every proper prefix of one JSON object is invalid */
        cr_assert_eq(tr_otlp_logs_decode_json(cut, n, &a, &r, err), TR_EINVAL,
                     "prefix %zu", n);
        tr_arena_free(&a);
        tr_free(cut);
    }
    tr_free(body);
}
