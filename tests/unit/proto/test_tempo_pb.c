/* Tests for proto/tempo_pb.c: Tempo's StreamingQuerier requests built by
 * hand (every field, map entries, unknown and skipped fields, uint32
 * truncation, every prefix of a valid message, wrong wire types) and the
 * responses compared byte for byte with messages built by hand. */
#include "proto/tempo_pb.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "lib/err.h"
#include "tests/lib/pbwrite.h"

static void tag_entry(struct tr_buf *b, const char *k, const char *v)
{
    struct tr_buf e;
    tr_buf_init(&e);
    tr_pbw_str(&e, 1, k);
    tr_pbw_uint(&e, 7, 1); /* unknown: skipped */
    tr_pbw_str(&e, 2, v);
    tr_pbw_msg(b, 1, &e);
    tr_buf_free(&e);
}

/* A SearchRequest with every field. */
static void search_request(struct tr_buf *b)
{
    tag_entry(b, "service.name", "db");
    tr_pbw_uint(b, 2, 100);
    tr_pbw_uint(b, 3, 2000);
    tr_pbw_uint(b, 4, ((uint64_t)1 << 32) | 5); /* keeps 5, as Go */
    tr_pbw_uint(b, 5, 1700000000);
    tr_pbw_uint(b, 6, 1700003600);
    tag_entry(b, "http.method", "GET");
    tr_pbw_str(b, 8, "{ status = error }");
    tr_pbw_uint(b, 9, 7);
    struct tr_buf ts;
    tr_buf_init(&ts);
    tr_pbw_uint(&ts, 1, 1700000000);
    tr_pbw_msg(b, 10, &ts); /* RF1After: skipped */
    tr_buf_free(&ts);
    tr_pbw_str(b, 11, "skip-me");
    tr_pbw_fixed64(b, 99, 42);
    tr_pbw_fixed32(b, 98, 42);
}

Test(tempo_pb, search_request_every_field)
{
    struct tr_buf b;
    tr_buf_init(&b);
    search_request(&b);
    struct tr_arena a;
    tr_arena_init(&a, 1024);
    struct tr_tempo_search_req r;
    char err[TR_ERRMSG_SIZE] = "";
    cr_assert_eq(tr_tempo_pb_search_req(b.data, b.len, &a, &r, err), 0, "%s",
                 err);
    cr_assert_eq(r.n_tags, 2);
    cr_assert(tr_slice_eq_cstr(r.tags[0].key, "service.name"));
    cr_assert(tr_slice_eq_cstr(r.tags[0].value, "db"));
    cr_assert(tr_slice_eq_cstr(r.tags[1].key, "http.method"));
    cr_assert(tr_slice_eq_cstr(r.tags[1].value, "GET"));
    cr_assert_eq(r.min_duration_ms, 100);
    cr_assert_eq(r.max_duration_ms, 2000);
    cr_assert_eq(r.limit, 5);
    cr_assert_eq(r.start, 1700000000);
    cr_assert_eq(r.end, 1700003600);
    cr_assert(tr_slice_eq_cstr(r.query, "{ status = error }"));
    cr_assert_eq(r.spss, 7);
    tr_arena_free(&a);
    tr_buf_free(&b);
}

Test(tempo_pb, empty_messages_are_all_defaults)
{
    struct tr_arena a;
    tr_arena_init(&a, 1024);
    struct tr_tempo_search_req s;
    struct tr_tempo_tags_req t;
    struct tr_tempo_tag_values_req v;
    cr_assert_eq(tr_tempo_pb_search_req(NULL, 0, &a, &s, NULL), 0);
    cr_assert_eq(s.n_tags, 0);
    cr_assert_eq(s.limit, 0);
    cr_assert_eq(s.query.len, 0);
    cr_assert_eq(tr_tempo_pb_tags_req(NULL, 0, &t, NULL), 0);
    cr_assert_eq(t.scope.len, 0);
    cr_assert_eq(tr_tempo_pb_tag_values_req(NULL, 0, &v, NULL), 0);
    cr_assert_eq(v.tag_name.len, 0);
    tr_arena_free(&a);
}

Test(tempo_pb, tags_and_tag_values_requests)
{
    struct tr_buf b;
    tr_buf_init(&b);
    tr_pbw_str(&b, 1, "span");
    tr_pbw_str(&b, 2, "{ }");
    tr_pbw_uint(&b, 3, 10);
    tr_pbw_uint(&b, 4, 20);
    tr_pbw_uint(&b, 5, 30);
    tr_pbw_uint(&b, 6, 40);
    tr_pbw_str(&b, 7, "\x08\x01"); /* RF1After */
    struct tr_tempo_tags_req t;
    cr_assert_eq(tr_tempo_pb_tags_req(b.data, b.len, &t, NULL), 0);
    cr_assert(tr_slice_eq_cstr(t.scope, "span"));
    cr_assert(tr_slice_eq_cstr(t.query, "{ }"));
    cr_assert_eq(t.start, 10);
    cr_assert_eq(t.end, 20);
    cr_assert_eq(t.max_tags_per_scope, 30);
    cr_assert_eq(t.stale_values_threshold, 40);

    tr_buf_reset(&b);
    tr_pbw_str(&b, 1, "resource.service.name");
    tr_pbw_str(&b, 2, "{ .a = 1 }");
    tr_pbw_uint(&b, 3, 99); /* not a field of the message: skipped */
    tr_pbw_uint(&b, 4, 11);
    tr_pbw_uint(&b, 5, 22);
    tr_pbw_uint(&b, 6, 33);
    tr_pbw_uint(&b, 7, 44);
    struct tr_tempo_tag_values_req v;
    cr_assert_eq(tr_tempo_pb_tag_values_req(b.data, b.len, &v, NULL), 0);
    cr_assert(tr_slice_eq_cstr(v.tag_name, "resource.service.name"));
    cr_assert(tr_slice_eq_cstr(v.query, "{ .a = 1 }"));
    cr_assert_eq(v.start, 11);
    cr_assert_eq(v.end, 22);
    cr_assert_eq(v.max_tag_values, 33);
    cr_assert_eq(v.stale_value_threshold, 44);
    tr_buf_free(&b);
}

Test(tempo_pb, every_prefix_decodes_or_fails_cleanly)
{
    struct tr_buf b;
    tr_buf_init(&b);
    search_request(&b);
    size_t ok = 0;
    for (size_t n = 0; n < b.len; n++) {
        char *copy = malloc(n ? n : 1); /* ASan sees reads past n */
        memcpy(copy, b.data, n);
        struct tr_arena a;
        tr_arena_init(&a, 1024);
        struct tr_tempo_search_req r;
        struct tr_tempo_tags_req t;
        struct tr_tempo_tag_values_req v;
        char err[TR_ERRMSG_SIZE];
        int rv = tr_tempo_pb_search_req(copy, n, &a, &r, err);
        cr_assert(rv == 0 || rv == TR_EPROTO);
        ok += rv == 0;
        rv = tr_tempo_pb_tags_req(copy, n, &t, err);
        cr_assert(rv == 0 || rv == TR_EPROTO);
        rv = tr_tempo_pb_tag_values_req(copy, n, &v, err);
        cr_assert(rv == 0 || rv == TR_EPROTO);
        tr_arena_free(&a);
        free(copy);
    }
    cr_assert_gt(ok, 1); /* the prefixes that end between fields */
    tr_buf_free(&b);
}

Test(tempo_pb, wrong_wire_types_and_groups_are_rejected)
{
    struct tr_arena a;
    tr_arena_init(&a, 1024);
    struct tr_tempo_search_req r;
    char err[TR_ERRMSG_SIZE] = "";
    struct tr_buf b;
    tr_buf_init(&b);
    tr_pbw_uint(&b, 8, 1); /* Query as a varint */
    cr_assert_eq(tr_tempo_pb_search_req(b.data, b.len, &a, &r, err), TR_EPROTO);
    cr_assert(strstr(err, "field 8") != NULL, "%s", err);
    tr_buf_reset(&b);
    tr_pbw_str(&b, 4, "x"); /* Limit as a string */
    cr_assert_eq(tr_tempo_pb_search_req(b.data, b.len, &a, &r, err), TR_EPROTO);
    tr_buf_reset(&b);
    tr_pbw_uint(&b, 1, 3); /* a Tags entry as a varint */
    cr_assert_eq(tr_tempo_pb_search_req(b.data, b.len, &a, &r, err), TR_EPROTO);
    tr_buf_reset(&b);
    struct tr_buf e;
    tr_buf_init(&e);
    tr_pbw_uint(&e, 1, 3); /* an entry's key as a varint */
    tr_pbw_msg(&b, 1, &e);
    cr_assert_eq(tr_tempo_pb_search_req(b.data, b.len, &a, &r, err), TR_EPROTO);
    cr_assert(strstr(err, "Tags[0]") != NULL, "%s", err);
    tr_buf_reset(&b);
    tr_pbw_tag(&b, 5, 3); /* a group */
    struct tr_tempo_tags_req t;
    cr_assert_eq(tr_tempo_pb_tags_req(b.data, b.len, &t, err), TR_EPROTO);
    tr_buf_reset(&b);
    tr_pbw_tag(&b, 0, 0); /* field 0 */
    tr_pbw_varint(&b, 1);
    struct tr_tempo_tag_values_req v;
    cr_assert_eq(tr_tempo_pb_tag_values_req(b.data, b.len, &v, err), TR_EPROTO);
    tr_buf_free(&e);
    tr_buf_free(&b);
    tr_arena_free(&a);
}

Test(tempo_pb, hex_ids)
{
    char s[33];
    uint8_t id[16] = {0};
    id[14] = 0x0a;
    id[15] = 0xbc;
    cr_assert_eq(tr_tempo_hex_id(id, 16, true, s), 3);
    cr_assert_str_eq(s, "abc");
    cr_assert_eq(tr_tempo_hex_id(id, 16, false, s), 32);
    cr_assert_str_eq(s, "00000000000000000000000000000abc");
    uint8_t zero[8] = {0};
    cr_assert_eq(tr_tempo_hex_id(zero, 8, true, s), 1);
    cr_assert_str_eq(s, "0");
}

static void assert_same(const struct tr_buf *got, const struct tr_buf *want)
{
    cr_assert_eq(got->len, want->len, "length %zu, want %zu", got->len,
                 want->len);
    cr_assert(memcmp(got->data, want->data, got->len) == 0);
}

static void kv_str(struct tr_buf *b, uint32_t f, const char *k, const char *v)
{
    struct tr_buf kv, val;
    tr_buf_init(&kv);
    tr_buf_init(&val);
    tr_pbw_str(&val, 1, v);
    tr_pbw_str(&kv, 1, k);
    tr_pbw_msg(&kv, 2, &val);
    tr_pbw_msg(b, f, &kv);
    tr_buf_free(&kv);
    tr_buf_free(&val);
}

Test(tempo_pb, search_response_bytes)
{
    struct tr_otlp_kv attr = {
        TR_SLICE_LIT("db.system"),
        {.type = TR_OTLP_STRING, .s = TR_SLICE_LIT("postgresql")}};
    struct tr_otlp_kv by = {TR_SLICE_LIT("n"), {.type = TR_OTLP_INT, .i = -1}};
    uint8_t sid[8] = {0, 0, 0, 0, 0, 0, 0x12, 0x34};
    struct tr_tempo_span sp = {{(const char *)sid, 8}, 1000,  1500,
                               TR_SLICE_LIT("SELECT"), &attr, 1};
    struct tr_tempo_spanset set = {3, &by, 1, &sp, 1};
    struct tr_tempo_trace t[2];
    memset(t, 0, sizeof(t));
    t[0].id[15] = 1;
    t[0].has_root = true;
    t[0].root_service = TR_SLICE_LIT("frontend");
    t[0].root_name = TR_SLICE_LIT("GET /");
    t[0].start = 1000;
    t[0].end = 1000 + 25000000;
    t[0].sets = &set;
    t[0].n_sets = 1;
    t[1].id[0] = 0xff;
    t[1].start = 5;
    t[1].end = 5;
    struct tr_tempo_search_metrics m = {.completed_jobs = 1, .total_jobs = 1};
    struct tr_buf got;
    tr_buf_init(&got);
    cr_assert_eq(tr_tempo_pb_search_resp(t, 2, &m, &got), 0);

    struct tr_buf want, tm, ss, span, val, kv;
    tr_buf_init(&want);
    tr_buf_init(&tm);
    tr_buf_init(&ss);
    tr_buf_init(&span);
    tr_buf_init(&val);
    tr_buf_init(&kv);
    tr_pbw_str(&span, 1, "0000000000001234");
    tr_pbw_str(&span, 2, "SELECT");
    tr_pbw_uint(&span, 3, 1000);
    tr_pbw_uint(&span, 4, 500);
    kv_str(&span, 5, "db.system", "postgresql");
    tr_pbw_msg(&ss, 1, &span);
    tr_pbw_uint(&ss, 2, 3);
    tr_pbw_uint(&val, 3, UINT64_MAX); /* int -1 */
    tr_pbw_str(&kv, 1, "n");
    tr_pbw_msg(&kv, 2, &val);
    tr_pbw_msg(&ss, 3, &kv);
    tr_pbw_str(&tm, 1, "1");
    tr_pbw_str(&tm, 2, "frontend");
    tr_pbw_str(&tm, 3, "GET /");
    tr_pbw_uint(&tm, 4, 1000);
    tr_pbw_uint(&tm, 5, 25);
    tr_pbw_msg(&tm, 6, &ss);
    tr_pbw_msg(&tm, 7, &ss);
    tr_pbw_msg(&want, 1, &tm);
    tr_buf_reset(&tm);
    tr_pbw_str(&tm, 1, "ff000000000000000000000000000000");
    tr_pbw_str(&tm, 2, TR_TEMPO_NO_ROOT);
    tr_pbw_uint(&tm, 4, 5);
    tr_pbw_msg(&want, 1, &tm);
    tr_buf_reset(&tm);
    tr_pbw_uint(&tm, 4, 1);
    tr_pbw_uint(&tm, 5, 1);
    tr_pbw_msg(&want, 2, &tm);
    assert_same(&got, &want);

    /* no traces: the metrics only */
    tr_buf_reset(&got);
    cr_assert_eq(tr_tempo_pb_search_resp(NULL, 0, &m, &got), 0);
    tr_buf_reset(&want);
    tr_pbw_msg(&want, 2, &tm);
    assert_same(&got, &want);
    struct tr_buf *bufs[] = {&got, &want, &tm, &ss, &span, &val, &kv};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) {
        tr_buf_free(bufs[i]);
    }
}

Test(tempo_pb, any_values_in_attributes)
{
    struct tr_otlp_value items[2] = {{.type = TR_OTLP_BOOL, .b = true},
                                     {.type = TR_OTLP_DOUBLE, .d = 1.5}};
    struct tr_otlp_kv inner = {
        TR_SLICE_LIT("k"),
        {.type = TR_OTLP_BYTES, .s = TR_SLICE_LIT("\x01\x02")}};
    struct tr_otlp_kv kvs[2] = {
        {TR_SLICE_LIT("arr"), {.type = TR_OTLP_ARRAY, .items = items, .n = 2}},
        {TR_SLICE_LIT("map"), {.type = TR_OTLP_KVLIST, .kvs = &inner, .n = 1}},
    };
    struct tr_tempo_spanset set = {.matched = 1, .by = kvs, .n_by = 2};
    struct tr_tempo_trace t;
    memset(&t, 0, sizeof(t));
    t.sets = &set;
    t.n_sets = 1;
    struct tr_tempo_search_metrics m = {0};
    struct tr_buf got;
    tr_buf_init(&got);
    cr_assert_eq(tr_tempo_pb_search_resp(&t, 1, &m, &got), 0);

    struct tr_buf want, tm, ss, kv, val, arr, el, kl, ikv, ival;
    struct tr_buf *all[] = {&want, &tm, &ss, &kv,  &val,
                            &arr,  &el, &kl, &ikv, &ival};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        tr_buf_init(all[i]);
    }
    tr_pbw_uint(&el, 2, 1);
    tr_pbw_msg(&arr, 1, &el);
    tr_buf_reset(&el);
    tr_pbw_double(&el, 4, 1.5);
    tr_pbw_msg(&arr, 1, &el);
    tr_pbw_msg(&val, 5, &arr);
    tr_pbw_str(&kv, 1, "arr");
    tr_pbw_msg(&kv, 2, &val);
    tr_pbw_uint(&ss, 2, 1);
    tr_pbw_msg(&ss, 3, &kv);
    tr_buf_reset(&kv);
    tr_buf_reset(&val);
    tr_pbw_bytes(&ival, 7, "\x01\x02", 2);
    tr_pbw_str(&ikv, 1, "k");
    tr_pbw_msg(&ikv, 2, &ival);
    tr_pbw_msg(&kl, 1, &ikv);
    tr_pbw_msg(&val, 6, &kl);
    tr_pbw_str(&kv, 1, "map");
    tr_pbw_msg(&kv, 2, &val);
    tr_pbw_msg(&ss, 3, &kv);
    tr_pbw_str(&tm, 1, "0");
    tr_pbw_str(&tm, 2, TR_TEMPO_NO_ROOT);
    tr_pbw_msg(&tm, 6, &ss);
    tr_pbw_msg(&tm, 7, &ss);
    tr_pbw_msg(&want, 1, &tm);
    tr_buf_reset(&tm);
    tr_pbw_msg(&want, 2, &tm);
    assert_same(&got, &want);
    tr_buf_free(&got);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        tr_buf_free(all[i]);
    }
}

Test(tempo_pb, tags_and_values_response_bytes)
{
    struct tr_slice names[3] = {TR_SLICE_LIT("a"), TR_SLICE_LIT(""),
                                TR_SLICE_LIT("service.name")};
    struct tr_tempo_meta_metrics m = {0};
    struct tr_buf got, want, sub;
    tr_buf_init(&got);
    tr_buf_init(&want);
    tr_buf_init(&sub);
    /* v1: repeated strings, the empty one too; an empty metrics message */
    cr_assert_eq(tr_tempo_pb_tags_resp(names, 3, &m, &got), 0);
    tr_pbw_str(&want, 1, "a");
    tr_pbw_str(&want, 1, "");
    tr_pbw_str(&want, 1, "service.name");
    tr_pbw_msg(&want, 2, &sub);
    assert_same(&got, &want);

    struct tr_tempo_tag_scope scopes[2] = {
        {TR_SLICE_LIT("resource"), names + 2, 1},
        {TR_SLICE_LIT("span"), names, 1},
    };
    tr_buf_reset(&got);
    tr_buf_reset(&want);
    m.total_jobs = 2;
    cr_assert_eq(tr_tempo_pb_tags_v2_resp(scopes, 2, &m, &got), 0);
    tr_pbw_str(&sub, 1, "resource");
    tr_pbw_str(&sub, 2, "service.name");
    tr_pbw_msg(&want, 1, &sub);
    tr_buf_reset(&sub);
    tr_pbw_str(&sub, 1, "span");
    tr_pbw_str(&sub, 2, "a");
    tr_pbw_msg(&want, 1, &sub);
    tr_buf_reset(&sub);
    tr_pbw_uint(&sub, 2, 2);
    tr_pbw_msg(&want, 2, &sub);
    assert_same(&got, &want);

    struct tr_tempo_tag_value vals[2] = {
        {TR_SLICE_LIT("keyword"), TR_SLICE_LIT("error")},
        {TR_SLICE_LIT("string"), TR_SLICE_LIT("")},
    };
    m.total_jobs = 0;
    tr_buf_reset(&got);
    tr_buf_reset(&want);
    tr_buf_reset(&sub);
    cr_assert_eq(tr_tempo_pb_tag_values_resp(vals, 2, false, &m, &got), 0);
    tr_pbw_str(&want, 1, "error");
    tr_pbw_str(&want, 1, "");
    tr_pbw_msg(&want, 2, &sub);
    assert_same(&got, &want);

    tr_buf_reset(&got);
    tr_buf_reset(&want);
    cr_assert_eq(tr_tempo_pb_tag_values_resp(vals, 2, true, &m, &got), 0);
    tr_pbw_str(&sub, 1, "keyword");
    tr_pbw_str(&sub, 2, "error");
    tr_pbw_msg(&want, 1, &sub);
    tr_buf_reset(&sub);
    tr_pbw_str(&sub, 1, "string");
    tr_pbw_msg(&want, 1, &sub); /* the empty value left out */
    tr_buf_reset(&sub);
    tr_pbw_msg(&want, 2, &sub);
    assert_same(&got, &want);
    tr_buf_free(&got);
    tr_buf_free(&want);
    tr_buf_free(&sub);
}

/* A QueryRangeRequest with every field Tempo's frontend sends. */
static void range_request(struct tr_buf *b)
{
    tr_pbw_str(b, 1, "{ } | rate() by (resource.service.name)");
    tr_pbw_uint(b, 2, 1700000000000000000ull);
    tr_pbw_uint(b, 3, 1700003600000000000ull);
    tr_pbw_uint(b, 4, 60000000000ull);
    tr_pbw_str(b, 7, "all");   /* queryMode: skipped */
    tr_pbw_str(b, 8, "block"); /* blockID: skipped */
    tr_pbw_uint(b, 9, 3);      /* startPage: skipped */
    tr_pbw_uint(b, 13, 4096);  /* size: skipped */
    struct tr_buf dc;
    tr_buf_init(&dc);
    tr_pbw_str(&dc, 2, "http.url");
    tr_pbw_msg(b, 15, &dc); /* dedicatedColumns: skipped */
    tr_buf_free(&dc);
    tr_pbw_uint(b, 16, ((uint64_t)1 << 32) | 100); /* keeps 100 */
    tr_pbw_uint(b, 17, 500);                       /* maxSeries: skipped */
    tr_pbw_uint(b, 18, 1);                         /* instant: skipped */
    tr_pbw_str(b, 19, "x");                        /* skipped */
}

Test(tempo_pb, metrics_requests)
{
    struct tr_buf b;
    tr_buf_init(&b);
    range_request(&b);
    struct tr_tempo_metrics_req r;
    char err[TR_ERRMSG_SIZE] = "";
    cr_assert_eq(tr_tempo_pb_metrics_req(b.data, b.len, false, &r, err), 0,
                 "%s", err);
    cr_assert(
        tr_slice_eq_cstr(r.query, "{ } | rate() by (resource.service.name)"));
    cr_assert_eq(r.start, 1700000000000000000ull);
    cr_assert_eq(r.end, 1700003600000000000ull);
    cr_assert_eq(r.step, 60000000000ull);
    cr_assert_eq(r.exemplars, 100);

    /* an instant request has fields 1-3 only: step and exemplars skipped */
    cr_assert_eq(tr_tempo_pb_metrics_req(b.data, b.len, true, &r, err), 0, "%s",
                 err);
    cr_assert_eq(r.end, 1700003600000000000ull);
    cr_assert_eq(r.step, 0);
    cr_assert_eq(r.exemplars, 0);

    cr_assert_eq(tr_tempo_pb_metrics_req(NULL, 0, false, &r, NULL), 0);
    cr_assert_eq(r.query.len, 0);
    cr_assert_eq(r.start, 0);
    cr_assert_eq(r.step, 0);

    /* every prefix decodes or fails cleanly */
    size_t ok = 0;
    for (size_t n = 0; n < b.len; n++) {
        char *copy = malloc(n ? n : 1);
        memcpy(copy, b.data, n);
        for (int instant = 0; instant < 2; instant++) {
            int rv = tr_tempo_pb_metrics_req(copy, n, instant, &r, err);
            cr_assert(rv == 0 || rv == TR_EPROTO);
            ok += rv == 0;
        }
        free(copy);
    }
    cr_assert_gt(ok, 2);

    /* wrong wire types */
    tr_buf_reset(&b);
    tr_pbw_str(&b, 4, "60s");
    cr_assert_eq(tr_tempo_pb_metrics_req(b.data, b.len, false, &r, err),
                 TR_EPROTO);
    cr_assert(strstr(err, "QueryRangeRequest") != NULL, "%s", err);
    tr_buf_reset(&b);
    tr_pbw_uint(&b, 1, 7);
    cr_assert_eq(tr_tempo_pb_metrics_req(b.data, b.len, true, &r, err),
                 TR_EPROTO);
    cr_assert(strstr(err, "QueryInstantRequest") != NULL, "%s", err);
    tr_buf_free(&b);
}

Test(tempo_pb, metrics_response_bytes)
{
    struct tr_otlp_kv labels[2] = {
        {TR_SLICE_LIT("resource.service.name"),
         {.type = TR_OTLP_STRING, .s = TR_SLICE_LIT("db")}},
        {TR_SLICE_LIT("p"), {.type = TR_OTLP_DOUBLE, .d = 0.9}},
    };
    struct tr_tempo_sample samples[3] = {
        {1700000000000, 0.5}, {1700000060000, 0}, {-1, NAN}};
    struct tr_tempo_series s[2] = {
        {labels, 2, samples, 3, TR_SLICE_LIT("{p=\"0.9\"}")},
        {NULL, 0, NULL, 0, TR_SLICE_LIT("{}")},
    };
    struct tr_tempo_search_metrics m = {.completed_jobs = 1, .total_jobs = 1};
    struct tr_buf got, want, ts, sub, val;
    tr_buf_init(&got);
    tr_buf_init(&want);
    tr_buf_init(&ts);
    tr_buf_init(&sub);
    tr_buf_init(&val);
    cr_assert_eq(tr_tempo_pb_metrics_resp(s, 2, false, &m, &got), 0);
    kv_str(&ts, 1, "resource.service.name", "db");
    tr_pbw_str(&sub, 1, "p");
    tr_pbw_double(&val, 4, 0.9);
    tr_pbw_msg(&sub, 2, &val);
    tr_pbw_msg(&ts, 1, &sub);
    tr_buf_reset(&sub);
    tr_pbw_double(&sub, 1, 0.5);
    tr_pbw_uint(&sub, 2, 1700000000000);
    tr_pbw_msg(&ts, 2, &sub);
    tr_buf_reset(&sub);
    tr_pbw_uint(&sub, 2, 1700000060000); /* value 0 left out */
    tr_pbw_msg(&ts, 2, &sub);
    tr_buf_reset(&sub);
    tr_pbw_double(&sub, 1, NAN);
    tr_pbw_uint(&sub, 2, UINT64_MAX); /* int64 -1 */
    tr_pbw_msg(&ts, 2, &sub);
    tr_buf_reset(&sub);
    tr_pbw_str(&ts, 3, "{p=\"0.9\"}");
    tr_pbw_msg(&want, 1, &ts);
    tr_buf_reset(&ts);
    tr_pbw_str(&ts, 3, "{}");
    tr_pbw_msg(&want, 1, &ts);
    tr_buf_reset(&ts);
    tr_pbw_uint(&sub, 4, 1);
    tr_pbw_uint(&sub, 5, 1);
    tr_pbw_msg(&want, 2, &sub);
    assert_same(&got, &want);

    /* instant: the first sample's value; none: 0, left out */
    tr_buf_reset(&got);
    tr_buf_reset(&want);
    cr_assert_eq(tr_tempo_pb_metrics_resp(s, 2, true, &m, &got), 0);
    kv_str(&ts, 1, "resource.service.name", "db");
    tr_buf_reset(&sub);
    tr_pbw_str(&sub, 1, "p");
    tr_pbw_msg(&sub, 2, &val);
    tr_pbw_msg(&ts, 1, &sub);
    tr_pbw_double(&ts, 2, 0.5);
    tr_pbw_str(&ts, 3, "{p=\"0.9\"}");
    tr_pbw_msg(&want, 1, &ts);
    tr_buf_reset(&ts);
    tr_pbw_str(&ts, 3, "{}");
    tr_pbw_msg(&want, 1, &ts);
    tr_buf_reset(&sub);
    tr_pbw_uint(&sub, 4, 1);
    tr_pbw_uint(&sub, 5, 1);
    tr_pbw_msg(&want, 2, &sub);
    assert_same(&got, &want);

    /* no series: the metrics message alone */
    tr_buf_reset(&got);
    tr_buf_reset(&want);
    struct tr_tempo_search_metrics zero = {0};
    cr_assert_eq(tr_tempo_pb_metrics_resp(NULL, 0, false, &zero, &got), 0);
    tr_buf_reset(&sub);
    tr_pbw_msg(&want, 2, &sub);
    assert_same(&got, &want);
    tr_buf_free(&got);
    tr_buf_free(&want);
    tr_buf_free(&ts);
    tr_buf_free(&sub);
    tr_buf_free(&val);
}
