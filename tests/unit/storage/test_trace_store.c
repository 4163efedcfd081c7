/* Tests for the trace store (storage/trace_entry.c, trace_block.c,
 * trace_apply.c, trace_read.c and the traces paths of storage.c): span
 * batches and entries round trip every field and attribute type; the
 * stock exporters' requests (../shared/wire/traces) applied and read back
 * span for span, from open fragments and from blocks; traces spread over
 * fragments and blocks read whole; duplicate spans dropped; absent ids;
 * the cut entry; replica equality; corrupt entries and blocks refused. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/compress.h"
#include "lib/err.h"
#include "proto/otlp_traces.h"
#include "storage/engine.h"
#include "storage/storage.h"
#include "storage/trace_block.h"
#include "storage/trace_entry.h"
#include "storage/trace_keys.h"
#include "storage/trace_store.h"
#include "tests/lib/files.h"

#define DAY_MS (24 * 3600 * 1000LL)
#define W0 1699920000000LL
#define T0 1700000000000000000ULL

static char ts_dir[256];

static void ts_rm(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cleanup failed\n");
    }
}

static void ts_setup(void)
{
    snprintf(ts_dir, sizeof(ts_dir), "/tmp/triad-test-traces-%d", getpid());
    ts_rm(ts_dir);
}

static void ts_teardown(void)
{
    ts_rm(ts_dir);
    char d2[300];
    snprintf(d2, sizeof(d2), "%s-b", ts_dir);
    ts_rm(d2);
}

TestSuite(trace_store, .init = ts_setup, .fini = ts_teardown, .timeout = 120);

static const struct tr_shard_id TS_ID = {.signal = TR_SIGNAL_TRACES,
                                         .window = W0,
                                         .slot = 0};

static struct tr_storage *ts_open(const char *dir)
{
    struct tr_storage_config c = {
        .version = 1,
        .data_dir = dir,
        .cache_bytes = 8 << 20,
        .window_ms = DAY_MS,
    };
    struct tr_storage *s = NULL;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_storage_open(&c, &s, err), 0, "open: %s", err);
    return s;
}

/* ---- a hand-built batch with every kind of field ------------------------ */

struct ts_fix {
    struct tr_otlp_kv rattrs[2];
    struct tr_otlp_resource res;
    struct tr_otlp_kv sattrs[1];
    struct tr_otlp_scope scope;
    struct tr_otlp_value arr[3];
    struct tr_otlp_kv kvl[2];
    struct tr_otlp_kv attrs[8];
    struct tr_otlp_kv eattrs[1];
    struct tr_otlp_event events[2];
    struct tr_otlp_link links[1];
    uint8_t ids[64][8];
    uint8_t tid[16];
    uint8_t ltid[16];
    struct tr_otlp_span spans[64];
};

static struct tr_slice S(const char *s) {
    return (struct tr_slice){s, strlen(s)};
}

static struct tr_otlp_value
VS(const char *s) {
    return (struct tr_otlp_value){.type = TR_OTLP_STRING, .s = S(s)};
}

/* n spans of one trace (tid byte t): a root and children of it. */
static void
ts_fix_init(struct ts_fix *f, int n, uint8_t t)
{
    memset(f, 0, sizeof(*f));
    f->rattrs[0] = (struct tr_otlp_kv){S("service.name"), VS("shop")};
    f->rattrs[1] =
        (struct tr_otlp_kv){S("host.id"), {.type = TR_OTLP_INT, .i = -42}};
    f->res = (struct tr_otlp_resource){f->rattrs, 2, 3};
    f->sattrs[0] = (struct tr_otlp_kv){S("lib"), VS("x")};
    f->scope =
        (struct tr_otlp_scope){S("io.triad"), S("1.2.3"), f->sattrs, 1, 1};
    f->arr[0] = VS("a");
    f->arr[1] = (struct tr_otlp_value){.type = TR_OTLP_DOUBLE, .d = 2.5};
    f->arr[2] = (struct tr_otlp_value){.type = TR_OTLP_BOOL, .b = true};
    f->kvl[0] = (struct tr_otlp_kv){S("k"), VS("v")};
    f->kvl[1] = (struct tr_otlp_kv){S("e"), {.type = TR_OTLP_EMPTY}};
    f->attrs[0] = (struct tr_otlp_kv){S("http.method"), VS("GET")};
    f->attrs[1] = (struct tr_otlp_kv){S("http.status_code"),
                                      {.type = TR_OTLP_INT, .i = 200}};
    f->attrs[2] =
        (struct tr_otlp_kv){S("ratio"), {.type = TR_OTLP_DOUBLE, .d = -0.125}};
    f->attrs[3] = (struct tr_otlp_kv){S("ok"), {.type = TR_OTLP_BOOL, .b = 1}};
    f->attrs[4] = (struct tr_otlp_kv){
        S("list"), {.type = TR_OTLP_ARRAY, .items = f->arr, .n = 3}};
    f->attrs[5] = (struct tr_otlp_kv){
        S("map"), {.type = TR_OTLP_KVLIST, .kvs = f->kvl, .n = 2}};
    f->attrs[6] = (struct tr_otlp_kv){
        S("raw"), {.type = TR_OTLP_BYTES, .s = {"\0\1\2", 3}}};
    f->attrs[7] = (struct tr_otlp_kv){S("db.system"), VS("postgresql")};
    f->eattrs[0] = (struct tr_otlp_kv){S("exception.type"), VS("E")};
    f->events[0] = (struct tr_otlp_event){T0 + 50, S("boom"), f->eattrs, 1, 2};
    f->events[1] = (struct tr_otlp_event){T0 + 10, S("early"), NULL, 0, 0};
    memset(f->ltid, 0xab, 16);
    f->links[0] = (struct tr_otlp_link){{(const char *)f->ltid, 16},
                                        {"linkspan", 8},
                                        S("k=v"),
                                        f->eattrs,
                                        1,
                                        4,
                                        1};
    memset(f->tid, t, 16);
    for (int i = 0; i < n; i++) {
        struct tr_otlp_span *s = &f->spans[i];
        memset(f->ids[i], 0, 8);
        f->ids[i][0] = t;
        f->ids[i][7] = (uint8_t)(i + 1);
        s->trace_id = (struct tr_slice){(const char *)f->tid, 16};
        s->span_id = (struct tr_slice){(const char *)f->ids[i], 8};
        if (i > 0) {
            s->parent_span_id = (struct tr_slice){(const char *)f->ids[0], 8};
        }
        s->name = i == 0 ? S("GET /cart") : S("SELECT cart");
        s->kind = i == 0 ? TR_OTLP_KIND_SERVER : TR_OTLP_KIND_CLIENT;
        s->start_time_unix_nano = T0 + (uint64_t)i * 1000;
        s->end_time_unix_nano = T0 + 1000000 + (uint64_t)i;
        s->attrs = f->attrs;
        s->n_attrs = 8;
        s->dropped_attributes_count = (uint32_t)i;
        s->trace_state = i == 1 ? S("congo=t61") : S("");
        s->flags = 0x101;
        if (i == 1) {
            s->events = f->events;
            s->n_events = 2;
            s->dropped_events_count = 5;
            s->links = f->links;
            s->n_links = 1;
            s->dropped_links_count = 6;
            s->status_code = TR_OTLP_STATUS_ERROR;
            s->status_message = S("it broke");
        }
    }
    /* a parent outside the trace */
    if (n > 2) {
        f->spans[2].parent_span_id = (struct tr_slice){"zzzzzzzz", 8};
    }
}

static struct tr_span_batch ts_fix_batch(struct ts_fix *f,
                                         int n,
                                         struct tr_arena *a)
{
    struct tr_span_batch_builder bb;
    tr_span_batch_builder_init(&bb);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(
            tr_span_batch_builder_add(&bb, a, &f->res, &f->scope, &f->spans[i]),
            0);
    }
    return bb.b;
}

/* The canonical bytes of span i of b with its resource and scope: two
 * spans are equal (every field, deeply) when these are. */
static void ts_span_bytes(const struct tr_span_batch *b,
                          size_t i,
                          struct tr_buf *out)
{
    const struct tr_batch_span *sp = &b->spans[i];
    const struct tr_batch_scope *sc = &b->scopes[sp->scope];
    struct tr_batch_scope one_scope = {0, sc->scope};
    struct tr_batch_span one_span = {0, sp->span};
    struct tr_span_batch one = {
        &b->resources[sc->resource], 1, &one_scope, 1, &one_span, 1};
    tr_buf_reset(out);
    cr_assert_eq(tr_span_batch_encode(&one, out), 0);
}

/* Every span of want appears in got exactly once (by span id) with equal
 * bytes, and got has no other span. */
static void ts_assert_same_spans(const struct tr_span_batch *want,
                                 const struct tr_span_batch *got)
{
    cr_assert_eq(got->n_spans, want->n_spans, "spans: got %zu, want %zu",
                 got->n_spans, want->n_spans);
    struct tr_buf a, b;
    tr_buf_init(&a);
    tr_buf_init(&b);
    for (size_t i = 0; i < want->n_spans; i++) {
        size_t found = 0;
        ts_span_bytes(want, i, &a);
        for (size_t j = 0; j < got->n_spans; j++) {
            if (memcmp(got->spans[j].span.span_id.base,
                       want->spans[i].span.span_id.base, 8) != 0 ||
                memcmp(got->spans[j].span.trace_id.base,
                       want->spans[i].span.trace_id.base, 16) != 0) {
                continue;
            }
            found++;
            ts_span_bytes(got, j, &b);
            cr_assert(a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
                      "span %zu differs after the round trip", i);
        }
        cr_assert_eq(found, 1, "span %zu found %zu times", i, found);
    }
    tr_buf_free(&a);
    tr_buf_free(&b);
}

static void ts_apply_batch(struct tr_storage *s,
                           const struct tr_shard_id *id,
                           uint64_t index,
                           const char *tenant,
                           const struct tr_span_batch *b)
{
    struct tr_entry_traces e = {.tenant = S(tenant), .batch = *b};
    struct tr_buf enc;
    tr_buf_init(&enc);
    cr_assert_eq(tr_entry_traces_encode(&e, &enc, NULL), 0);
    struct tr_apply_result res;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(
        tr_storage_shard_apply(s, id, index, enc.data, enc.len, &res, err), 0,
        "apply: %s", err);
    cr_assert_eq(res.appended, b->n_spans);
    tr_buf_free(&enc);
}

/* The spans of trace id as the store returns them, duplicates removed. */
static struct tr_span_batch ts_get(struct tr_storage *s,
                                   const char *tenant,
                                   const uint8_t *id,
                                   struct tr_arena *a)
{
    struct tr_span_batch_builder bb;
    tr_span_batch_builder_init(&bb);
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_storage_trace_get(s, &TS_ID, 1, S(tenant), id, a, &bb, err),
                 0, "get: %s", err);
    cr_assert_eq(tr_span_batch_dedup(&bb.b), 0);
    return bb.b;
}

Test(trace_store, entry_round_trip_every_field)
{
    struct ts_fix f;
    ts_fix_init(&f, 3, 7);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_span_batch b = ts_fix_batch(&f, 3, &a);
    cr_assert_eq(b.n_resources, 1);
    cr_assert_eq(b.n_scopes, 1);
    struct tr_entry_traces e = {.tenant = S("tenant-a"), .batch = b}, d;
    struct tr_buf enc, plain;
    tr_buf_init(&enc);
    tr_buf_init(&plain);
    cr_assert_eq(tr_entry_traces_encode(&e, &enc, &plain), 0);
    cr_assert_eq(enc.data[0], TR_ENTRY_TRACES);
    cr_assert_eq(enc.data[1], TR_ENTRY_TRACES_ZSTD, "a large entry is packed");
    cr_assert_eq(tr_entry_traces_decode(enc.data, enc.len, &a, &d), 0);
    cr_assert(tr_slice_eq_cstr(d.tenant, "tenant-a"));
    ts_assert_same_spans(&b, &d.batch);
    cr_assert_eq(tr_entry_traces_decode(plain.data, plain.len, &a, &d), 0);
    ts_assert_same_spans(&b, &d.batch);
    /* every truncation of the plain form is refused, never read past */
    for (size_t l = 0; l < plain.len; l++) {
        char *cut = tr_malloc(l + 1);
        memcpy(cut, plain.data, l);
        cr_assert_neq(tr_entry_traces_decode(cut, l, &a, &d), 0, "len %zu", l);
        tr_free(cut);
    }
    tr_buf_free(&enc);
    tr_buf_free(&plain);
    tr_arena_free(&a);
}

Test(trace_store, wrong_id_sizes_refused_by_the_encoder)
{
    struct ts_fix f;
    ts_fix_init(&f, 2, 1);
    f.spans[1].span_id.len = 7;
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_span_batch b = ts_fix_batch(&f, 2, &a);
    struct tr_buf out;
    tr_buf_init(&out);
    cr_assert_eq(tr_span_batch_encode(&b, &out), TR_EINVAL);
    tr_buf_free(&out);
    tr_arena_free(&a);
}

Test(trace_store, block_round_trip_parents_inside_and_outside)
{
    struct ts_fix f;
    ts_fix_init(&f, 5, 3);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_span_batch b = ts_fix_batch(&f, 5, &a);
    struct tr_trace_block_in in[5];
    for (int i = 0; i < 5; i++) {
        in[i] = (struct tr_trace_block_in){0, &b.spans[i]};
    }
    struct tr_buf blk, idx, recs, vals, keys;
    tr_buf_init(&vals);
    tr_buf_init(&keys);
    tr_buf_init(&blk);
    tr_buf_init(&idx);
    tr_buf_init(&recs);
    cr_assert_eq(
        tr_trace_block_build(&b, 1, in, 5, &blk, &idx, &recs, &vals, &keys), 0);
    struct tr_trace_block d;
    cr_assert_eq(tr_trace_block_decode(blk.data, blk.len, &a, &d), 0);
    cr_assert_eq(d.n_traces, 1);
    cr_assert_eq(d.first[1], 5);
    ts_assert_same_spans(&b, &d.batch);
    /* the trace record names the root */
    struct tr_cursor rc = tr_cursor_make(recs.data, recs.len);
    struct tr_slice id, rec;
    uint64_t l;
    cr_assert_eq(tr_cursor_bytes(&rc, 16, &id), 0);
    cr_assert_eq(tr_cursor_uvarint(&rc, &l), 0);
    cr_assert_eq(tr_cursor_bytes(&rc, l, &rec), 0);
    struct trace_rec r;
    cr_assert_eq(trace_rec_decode(rec, &r), 0);
    cr_assert_eq(r.spans, 5);
    cr_assert_eq(r.flags, TRACE_REC_ERROR | TRACE_REC_ROOT);
    cr_assert(tr_slice_eq_cstr(r.root_service, "shop"));
    cr_assert(tr_slice_eq_cstr(r.root_name, "GET /cart"));
    cr_assert_eq(r.start, T0);
    cr_assert_eq(r.end, T0 + 1000004);
    /* the index record: counts and time range */
    struct tr_trace_block_index bi;
    cr_assert_eq(
        tr_trace_block_index_decode((struct tr_slice){idx.data, idx.len}, &bi),
        0);
    cr_assert_eq(bi.traces, 1);
    cr_assert_eq(bi.spans, 5);
    cr_assert_eq(bi.start, T0);
    /* the values list the service, names, status, kind and attributes;
     * the keys the attribute names of every scope */
    cr_assert_gt(vals.len, 0);
    cr_assert_not_null(memmem(vals.data, vals.len, "service.name", 12));
    cr_assert_not_null(memmem(vals.data, vals.len, "SELECT cart", 11));
    cr_assert_not_null(memmem(keys.data, keys.len, "exception.type", 14));
    tr_buf_free(&vals);
    tr_buf_free(&keys);
    /* a damaged block is refused */
    for (size_t i = 0; i < blk.len; i += 7) {
        blk.data[i] ^= 0x5a;
        struct tr_trace_block bad;
        int rv = tr_trace_block_decode(blk.data, blk.len, &a, &bad);
        cr_assert(rv == 0 || rv == TR_ECORRUPT);
        blk.data[i] ^= 0x5a;
    }
    tr_buf_free(&blk);
    tr_buf_free(&idx);
    tr_buf_free(&recs);
    tr_arena_free(&a);
}

Test(trace_store, apply_and_get_from_fragments_and_blocks)
{
    struct tr_storage *s = ts_open(ts_dir);
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    /* trace 9: two spans in the first entry, one more much later, after
     * several cuts; other traces fill blocks in between */
    struct ts_fix f9;
    ts_fix_init(&f9, 3, 9);
    struct tr_span_batch first = ts_fix_batch(&f9, 2, &a);
    ts_apply_batch(s, &TS_ID, 1, "t", &first);
    struct tr_span_batch got = ts_get(s, "t", f9.tid, &a);
    ts_assert_same_spans(&first, &got);
    uint64_t index = 2;
    static struct ts_fix other;
    for (int k = 0; k < 300; k++) {
        ts_fix_init(&other, 40, (uint8_t)(10 + k % 200));
        other.tid[15] = (uint8_t)k; /* distinct trace ids */
        other.tid[14] = (uint8_t)(k >> 8);
        struct tr_span_batch ob = ts_fix_batch(&other, 40, &a);
        ts_apply_batch(s, &TS_ID, index++, "t", &ob);
    }
    struct tr_span_batch last;
    struct tr_batch_span one[1] = {{0, f9.spans[2]}};
    last = first;
    last.spans = one;
    last.n_spans = 1;
    ts_apply_batch(s, &TS_ID, index++, "t", &last);
    /* the same first entry again (a retried write) */
    ts_apply_batch(s, &TS_ID, index++, "t", &first);
    struct tr_span_batch all = ts_fix_batch(&f9, 3, &a);
    got = ts_get(s, "t", f9.tid, &a);
    ts_assert_same_spans(&all, &got);
    /* another tenant sees nothing; an absent id finds nothing */
    got = ts_get(s, "u", f9.tid, &a);
    cr_assert_eq(got.n_spans, 0);
    uint8_t absent[16];
    memset(absent, 0xee, 16);
    got = ts_get(s, "t", absent, &a);
    cr_assert_eq(got.n_spans, 0);
    /* blocks were cut: a trace record exists for trace 9 */
    tr_storage_close(s);
    s = ts_open(ts_dir);
    got = ts_get(s, "t", f9.tid, &a);
    ts_assert_same_spans(&all, &got);
    tr_storage_close(s);
    tr_arena_free(&a);
}

Test(trace_store, cut_entry_and_replicas_equal)
{
    char dir_b[300];
    snprintf(dir_b, sizeof(dir_b), "%s-b", ts_dir);
    struct tr_storage *s1 = ts_open(ts_dir), *s2 = ts_open(dir_b);
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    static struct ts_fix f;
    uint64_t index = 1;
    for (int k = 0; k < 20; k++) {
        ts_fix_init(&f, 30, (uint8_t)(k + 1));
        struct tr_span_batch b = ts_fix_batch(&f, 30, &a);
        ts_apply_batch(s1, &TS_ID, index, "t", &b);
        ts_apply_batch(s2, &TS_ID, index, "t", &b);
        index++;
    }
    uint8_t cut[TR_ENTRY_TRACES_CUT_SIZE];
    tr_entry_traces_cut_encode(cut);
    struct tr_apply_result res;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(
        tr_storage_shard_apply(s1, &TS_ID, index, cut, sizeof(cut), &res, err),
        0, "%s", err);
    cr_assert_eq(
        tr_storage_shard_apply(s2, &TS_ID, index, cut, sizeof(cut), &res, err),
        0, "%s", err);
    uint64_t i1, i2, c1, c2;
    cr_assert_eq(tr_storage_shard_verify(s1, &TS_ID, &i1, &c1), 0);
    cr_assert_eq(tr_storage_shard_verify(s2, &TS_ID, &i2, &c2), 0);
    cr_assert_eq(i1, index);
    cr_assert_eq(i1, i2);
    cr_assert_eq(c1, c2, "replicas differ");
    /* after the cut every trace reads from a block, whole */
    ts_fix_init(&f, 30, 5);
    struct tr_span_batch want = ts_fix_batch(&f, 30, &a);
    struct tr_span_batch got = ts_get(s1, "t", f.tid, &a);
    ts_assert_same_spans(&want, &got);
    /* no fragment is left */
    struct tr_engine *e = tr_storage_engine(s1);
    struct tr_iter *it = tr_iter_new(e, TR_CF_TRACES);
    size_t frags = 0, blocks = 0;
    for (tr_iter_seek(it, "", 0); tr_iter_valid(it); tr_iter_next(it)) {
        struct tr_slice k = tr_iter_key(it);
        char kind = k.base[2 + 11 - 1]; /* tenant "t" + 0 + 8 + 2 */
        frags += kind == TR_KEY_TRACE_FRAGMENT;
        blocks += kind == TR_KEY_TRACE_BLOCK;
    }
    tr_iter_free(it);
    cr_assert_eq(frags, 0);
    cr_assert_eq(blocks, 1);
    tr_storage_close(s1);
    tr_storage_close(s2);
    tr_arena_free(&a);
}

Test(trace_store, corrupt_entry_is_refused)
{
    struct tr_storage *s = ts_open(ts_dir);
    const char bad[] = {TR_ENTRY_TRACES, TR_ENTRY_TRACES_VERSION, 1, 't', 9};
    struct tr_apply_result res;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(
        tr_storage_shard_apply(s, &TS_ID, 1, bad, sizeof(bad), &res, err),
        TR_ECORRUPT);
    cr_assert_eq(tr_storage_shard_applied(s, &TS_ID, false), 1,
                 "a corrupt entry is skipped alike on every replica");
    tr_storage_close(s);
}

/* ---- the stock exporters' requests ---------------------------------------
 */

static const char *ts_wire(char *path, size_t size, const char *file)
{
    const char *base = getenv("TRIAD_WIRE_DIR");
    snprintf(path, size, "%s/traces/%s",
             base && *base ? base : "../shared/wire", file);
    return path;
}

Test(trace_store, wire_captures_read_back_span_for_span)
{
    static const char *const kinds[] = {"otlp-proto", "otlp-proto-gzip",
                                        "otlp-json", "otlp-json-gzip",
                                        "otlp-grpc"};
    struct tr_storage *s = ts_open(ts_dir);
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    uint64_t index = 1;
    size_t checked = 0, n_applied = 0;
    struct tr_span_batch applied[16];
    struct tr_buf bodies[16];
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        for (int i = 1; i <= 3; i++) {
            char file[256], path[1024];
            bool grpc = strcmp(kinds[k], "otlp-grpc") == 0;
            snprintf(file, sizeof(file), "%s_%03d_%s.bin", kinds[k], i,
                     grpc ? "grpc_opentelemetry_proto_collector_trace_v1_"
                            "TraceService_Export"
                          : "http_v1_traces");
            size_t len;
            char *raw =
                tr_test_read_file(ts_wire(path, sizeof(path), file), &len);
            if (raw == NULL) {
                cr_skip_test("wire capture %s absent (set TRIAD_WIRE_DIR)",
                             path);
            }
            struct tr_buf body;
            tr_buf_init(&body);
            char err[TR_ERRMSG_SIZE];
            if (strstr(kinds[k], "gzip") != NULL) {
                cr_assert_eq(tr_gzip_decode(raw, len, 1 << 24, &body, err), 0);
            } else {
                tr_buf_append(&body, raw, len);
            }
            tr_free(raw);
            struct tr_otlp_traces req;
            bool json = strstr(kinds[k], "json") != NULL;
            int rv = json ? tr_otlp_traces_decode_json(body.data, body.len, &a,
                                                       &req, err)
                          : tr_otlp_traces_decode(body.data, body.len, &a, &req,
                                                  err);
            cr_assert_eq(rv, 0, "%s: %s", file, err);
            struct tr_span_batch_builder bb;
            tr_span_batch_builder_init(&bb);
            for (size_t r = 0; r < req.n_resources; r++) {
                const struct tr_otlp_resource_group *rg = &req.resources[r];
                for (size_t sc = 0; sc < rg->n_scopes; sc++) {
                    const struct tr_otlp_scope_group *sg = &rg->scopes[sc];
                    for (size_t j = 0; j < sg->n_items; j++) {
                        cr_assert_eq(tr_span_batch_builder_add(
                                         &bb, &a, &rg->resource, &sg->scope,
                                         &sg->spans[j]),
                                     0);
                    }
                }
            }
            cr_assert_gt(bb.b.n_spans, 0);
            ts_apply_batch(s, &TS_ID, index++, "tenant-a", &bb.b);
            cr_assert_lt(n_applied, 16);
            applied[n_applied++] = bb.b;
            /* the bodies stay: the spans point into them */
            bodies[n_applied - 1] = body;
            continue;
        }
    }
    /* every trace reads back span for span, from all the requests that
     * carried its spans */
    for (size_t r = 0; r < n_applied; r++) {
        for (size_t j = 0; j < applied[r].n_spans; j++) {
            const uint8_t *tid =
                (const uint8_t *)applied[r].spans[j].span.trace_id.base;
            struct tr_span_batch got = ts_get(s, "tenant-a", tid, &a);
            struct tr_span_batch_builder want;
            tr_span_batch_builder_init(&want);
            for (size_t q = 0; q < n_applied; q++) {
                const struct tr_span_batch *b = &applied[q];
                for (size_t m = 0; m < b->n_spans; m++) {
                    const struct tr_batch_span *sp = &b->spans[m];
                    if (memcmp(sp->span.trace_id.base, tid, 16) == 0) {
                        const struct tr_batch_scope *bs = &b->scopes[sp->scope];
                        cr_assert_eq(tr_span_batch_builder_add(
                                         &want, &a, &b->resources[bs->resource],
                                         &bs->scope, &sp->span),
                                     0);
                    }
                }
            }
            cr_assert_eq(tr_span_batch_dedup(&want.b), 0);
            ts_assert_same_spans(&want.b, &got);
            checked++;
        }
    }
    for (size_t r = 0; r < n_applied; r++) {
        tr_buf_free(&bodies[r]);
    }
    cr_assert_gt(checked, 15);
    tr_storage_close(s);
    tr_arena_free(&a);
}
