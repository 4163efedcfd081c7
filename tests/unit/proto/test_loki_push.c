/* Tests for proto/loki_push.c: a real winston-loki protobuf push from
 * ../shared/wire/logs (or $TRIAD_WIRE_DIR/logs), hand-built requests with
 * structured metadata, unknown fields and bad framing (every prefix of a
 * valid request), timestamps out of range, and the label text form. */
#include "proto/loki_push.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/files.h"
#include "lib/compress.h"
#include "lib/err.h"

static char *lp_read(const char *name, size_t *len)
{
    const char *base = getenv("TRIAD_WIRE_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/logs/%s",
             base && *base ? base : "../shared/wire", name);
    return tr_test_read_file(path, len);
}

static bool lp_has(const struct tr_loki_label *ls,
                   size_t n,
                   const char *name,
                   const char *value)
{
    for (size_t i = 0; i < n; i++) {
        if (tr_slice_eq_cstr(ls[i].name, name) &&
            tr_slice_eq_cstr(ls[i].value, value)) {
            return true;
        }
    }
    return false;
}

Test(loki_push, winston_protobuf_golden)
{
    size_t raw_len;
    char *raw =
        lp_read("winston-proto_001_http_loki_api_v1_push.bin", &raw_len);
    if (raw == NULL) {
        cr_skip_test("../shared/wire/logs absent (set TRIAD_WIRE_DIR)");
    }
    struct tr_buf body;
    tr_buf_init(&body);
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_snappy_decode(raw, raw_len, 1 << 20, &body, err), 0, "%s",
                 err);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_loki_push p;
    cr_assert_eq(tr_loki_push_decode(body.data, body.len, &a, &p, err), 0, "%s",
                 err);
    cr_assert_gt(p.n_streams, 0);
    size_t entries = 0;
    for (size_t s = 0; s < p.n_streams; s++) {
        const struct tr_loki_stream *st = &p.streams[s];
        struct tr_loki_label ls[32];
        size_t n;
        cr_assert_eq(tr_loki_labels_parse(st->labels, &a, ls, 32, &n, err), 0,
                     "%s", err);
        cr_assert(lp_has(ls, n, "job", "triad-harness"));
        cr_assert(lp_has(ls, n, "harness_client", "winston-proto"));
        cr_assert_gt(st->n_entries, 0);
        for (size_t e = 0; e < st->n_entries; e++) {
            const struct tr_loki_entry *en = &st->entries[e];
            /* captured in 2026-2027: 1.77e18 .. 1.83e18 ns */
            cr_assert(en->ts_ns > 1770000000000000000LL &&
                          en->ts_ns < 1830000000000000000LL,
                      "ts %lld", (long long)en->ts_ns);
            cr_assert(memmem(en->line.base, en->line.len, "marker=mk-", 10) !=
                      NULL);
            entries++;
        }
    }
    cr_assert_eq(entries, p.n_entries);
    tr_arena_free(&a);
    tr_buf_free(&body);
    tr_free(raw);
}

/* protobuf writing helpers */
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
    put_bytes(b, field, m->data, m->len);
}

static void put_varint(struct tr_buf *b, unsigned field, uint64_t v)
{
    put_tag(b, field, 0);
    tr_buf_put_uvarint(b, v);
}

/* An entry: ts (sec, nanos), line, metadata pairs (name, value, ...). */
static void put_entry(struct tr_buf *stream,
                      int64_t sec,
                      int64_t nanos,
                      const char *line,
                      const char *const *meta,
                      size_t n_meta)
{
    struct tr_buf e, ts, pair;
    tr_buf_init(&e);
    tr_buf_init(&ts);
    tr_buf_init(&pair);
    put_varint(&ts, 1, (uint64_t)sec);
    put_varint(&ts, 2, (uint64_t)nanos);
    put_msg(&e, 1, &ts);
    put_str(&e, 2, line);
    for (size_t i = 0; i + 1 < n_meta; i += 2) {
        tr_buf_reset(&pair);
        put_str(&pair, 1, meta[i]);
        put_str(&pair, 2, meta[i + 1]);
        put_msg(&e, 3, &pair);
    }
    put_varint(&e, 9, 42); /* unknown field: skipped */
    put_msg(stream, 2, &e);
    tr_buf_free(&e);
    tr_buf_free(&ts);
    tr_buf_free(&pair);
}

static void build_request(struct tr_buf *req)
{
    struct tr_buf s1, s2;
    tr_buf_init(&s1);
    tr_buf_init(&s2);
    put_str(&s1, 1, "{app=\"api\", env=\"prod\"}");
    static const char *const meta[] = {"trace_id", "abc123", "user", "u1"};
    put_entry(&s1, 1700000000, 5, "first line", meta, 4);
    put_entry(&s1, 1700000001, 999999999, "second line", NULL, 0);
    put_varint(&s1, 3, 12345); /* hash: ignored */
    put_entry(&s2, 0, 0, "", NULL, 0);
    put_str(&s2, 1, "{app=\"worker\"}"); /* labels after the entries */
    put_msg(req, 1, &s1);
    put_bytes(req, 7, "xyz", 3); /* unknown top-level field */
    put_msg(req, 1, &s2);
    tr_buf_free(&s1);
    tr_buf_free(&s2);
}

Test(loki_push, hand_built_request)
{
    struct tr_buf req;
    tr_buf_init(&req);
    build_request(&req);
    struct tr_arena a;
    tr_arena_init(&a, 1024);
    struct tr_loki_push p;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_loki_push_decode(req.data, req.len, &a, &p, err), 0, "%s",
                 err);
    cr_assert_eq(p.n_streams, 2);
    cr_assert_eq(p.n_entries, 3);
    const struct tr_loki_stream *s1 = &p.streams[0], *s2 = &p.streams[1];
    cr_assert(tr_slice_eq_cstr(s1->labels, "{app=\"api\", env=\"prod\"}"));
    cr_assert_eq(s1->n_entries, 2);
    cr_assert_eq(s1->entries[0].ts_ns, 1700000000000000005LL);
    cr_assert(tr_slice_eq_cstr(s1->entries[0].line, "first line"));
    cr_assert_eq(s1->entries[0].n_meta, 2);
    cr_assert(tr_slice_eq_cstr(s1->entries[0].meta[0].name, "trace_id"));
    cr_assert(tr_slice_eq_cstr(s1->entries[0].meta[0].value, "abc123"));
    cr_assert(tr_slice_eq_cstr(s1->entries[0].meta[1].name, "user"));
    cr_assert_eq(s1->entries[1].ts_ns, 1700000001999999999LL);
    cr_assert_eq(s1->entries[1].n_meta, 0);
    cr_assert(tr_slice_eq_cstr(s2->labels, "{app=\"worker\"}"));
    cr_assert_eq(s2->n_entries, 1);
    cr_assert_eq(s2->entries[0].ts_ns, 0);
    cr_assert_eq(s2->entries[0].line.len, 0);
    /* an empty request is valid and empty */
    cr_assert_eq(tr_loki_push_decode("", 0, &a, &p, err), 0);
    cr_assert_eq(p.n_streams, 0);
    tr_arena_free(&a);
    tr_buf_free(&req);
}

Test(loki_push, every_prefix_decodes_or_fails_cleanly)
{
    struct tr_buf req;
    tr_buf_init(&req);
    build_request(&req);
    size_t ok = 0;
    for (size_t n = 0; n < req.len; n++) {
        /* a copy of exactly n bytes, so ASan sees any read past it */
        char *cut = tr_malloc(n ? n : 1);
        memcpy(cut, req.data, n);
        struct tr_arena a;
        tr_arena_init(&a, 256);
        struct tr_loki_push p;
        char err[TR_ERRMSG_SIZE] = "";
        int rv = tr_loki_push_decode(cut, n, &a, &p, err);
        cr_assert(rv == 0 || rv == TR_EPROTO, "prefix %zu: %d", n, rv);
        if (rv == TR_EPROTO) {
            cr_assert(strstr(err, "offset") != NULL, "prefix %zu: %s", n, err);
        } else {
            ok++;
        }
        tr_arena_free(&a);
        tr_free(cut);
    }
    cr_assert_geq(ok, 2); /* the empty prefix and the one before s2 */
    tr_buf_free(&req);
}

Test(loki_push, bad_messages)
{
    struct tr_arena a;
    tr_arena_init(&a, 256);
    struct tr_loki_push p;
    char err[TR_ERRMSG_SIZE];
    struct tr_buf req, s;
    tr_buf_init(&req);
    tr_buf_init(&s);
    /* streams as a varint: wrong wire type */
    put_varint(&req, 1, 7);
    cr_assert_eq(tr_loki_push_decode(req.data, req.len, &a, &p, err),
                 TR_EPROTO);
    cr_assert(strstr(err, "logproto.PushRequest") != NULL, "%s", err);
    /* negative nanos, in the second stream */
    tr_buf_reset(&req);
    put_str(&s, 1, "{a=\"1\"}");
    put_entry(&s, 1, 0, "ok", NULL, 0);
    put_msg(&req, 1, &s);
    tr_buf_reset(&s);
    put_entry(&s, 1, -1, "bad", NULL, 0);
    put_msg(&req, 1, &s);
    cr_assert_eq(tr_loki_push_decode(req.data, req.len, &a, &p, err),
                 TR_EPROTO);
    cr_assert(strstr(err, "nanos") != NULL && strstr(err, "streams[1]"), "%s",
              err);
    /* seconds beyond what int64 nanoseconds hold */
    tr_buf_reset(&req);
    tr_buf_reset(&s);
    put_entry(&s, 9300000000LL, 0, "far", NULL, 0);
    put_msg(&req, 1, &s);
    cr_assert_eq(tr_loki_push_decode(req.data, req.len, &a, &p, err),
                 TR_EPROTO);
    cr_assert(strstr(err, "seconds") != NULL, "%s", err);
    /* before 1970 is fine */
    tr_buf_reset(&req);
    tr_buf_reset(&s);
    put_entry(&s, -10, 5, "old", NULL, 0);
    put_msg(&req, 1, &s);
    cr_assert_eq(tr_loki_push_decode(req.data, req.len, &a, &p, err), 0, "%s",
                 err);
    cr_assert_eq(p.streams[0].entries[0].ts_ns, -9999999995LL);
    /* a group wire type */
    tr_buf_reset(&req);
    put_tag(&req, 1, 3);
    cr_assert_eq(tr_loki_push_decode(req.data, req.len, &a, &p, err),
                 TR_EPROTO);
    tr_buf_free(&req);
    tr_buf_free(&s);
    tr_arena_free(&a);
}

static int parse(const char *text, struct tr_loki_label *ls, size_t *n)
{
    static struct tr_arena a;
    static bool init;
    if (!init) {
        tr_arena_init(&a, 1024);
        init = true;
    }
    char err[TR_ERRMSG_SIZE];
    return tr_loki_labels_parse(tr_slice_cstr(text), &a, ls, 15, n, err);
}

Test(loki_push, label_text_form)
{
    struct tr_loki_label ls[15];
    size_t n;
    cr_assert_eq(parse("{a=\"1\",b=\"two\"}", ls, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert(lp_has(ls, n, "a", "1") && lp_has(ls, n, "b", "two"));
    cr_assert_eq(parse("  { job = \"x\" ,\n env=\"\" , }  ", ls, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert(lp_has(ls, n, "job", "x") && lp_has(ls, n, "env", ""));
    /* escapes, and backslashes that are not escapes kept as written */
    cr_assert_eq(parse("{q=\"say \\\"hi\\\"\\n\", p=\"C:\\Users\\x\"}", ls, &n),
                 0);
    cr_assert(lp_has(ls, n, "q", "say \"hi\"\n"));
    cr_assert(lp_has(ls, n, "p", "C:\\Users\\x"));
    /* UTF-8 values pass through */
    cr_assert_eq(parse("{city=\"Zürich\"}", ls, &n), 0);
    cr_assert(lp_has(ls, n, "city", "Zürich"));
    /* errors */
    static const char *const bad[] = {
        "",
        "{}",
        "a=\"1\"",
        "{a=1}",
        "{a=\"1\"",
        "{a=\"1}",
        "{1a=\"x\"}",
        "{a=\"1\" b=\"2\"}",
        "{a=\"1\"}x",
        "{a=\"1\",a=\"2\"}",
        "{a.b=\"1\"}",
        "{=\"1\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(parse(bad[i], ls, &n), TR_EINVAL, "%s", bad[i]);
    }
    /* a stream without its labels field: a NULL slice */
    {
        struct tr_arena a;
        tr_arena_init(&a, 64);
        char err[TR_ERRMSG_SIZE];
        cr_assert_eq(tr_loki_labels_parse((struct tr_slice){NULL, 0}, &a, ls,
                                          15, &n, err),
                     TR_EINVAL);
        tr_arena_free(&a);
    }
    /* more than max labels */
    char many[512] = "{";
    for (int i = 0; i < 16; i++) {
        char one[32];
        snprintf(one, sizeof(one), "l%d=\"v\",", i);
        strcat(many, one);
    }
    strcat(many, "}");
    cr_assert_eq(parse(many, ls, &n), TR_EINVAL);
}

static void json_golden(const char *file, const char *client, bool meta)
{
    size_t len;
    char *body = lp_read(file, &len);
    if (body == NULL) {
        cr_skip_test("../shared/wire/logs absent (set TRIAD_WIRE_DIR)");
    }
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_loki_push p;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_loki_push_decode_json(body, len, &a, &p, err), 0, "%s: %s",
                 file, err);
    cr_assert_gt(p.n_streams, 0);
    size_t total = 0, with_meta = 0;
    for (size_t s = 0; s < p.n_streams; s++) {
        const struct tr_loki_stream *st = &p.streams[s];
        cr_assert_eq(st->labels.len, 0);
        cr_assert(lp_has(st->label_set, st->n_labels, "job", "triad-harness"));
        cr_assert(
            lp_has(st->label_set, st->n_labels, "harness_client", client));
        for (size_t e = 0; e < st->n_entries; e++) {
            const struct tr_loki_entry *en = &st->entries[e];
            cr_assert(en->ts_ns > 1770000000000000000LL &&
                      en->ts_ns < 1830000000000000000LL);
            cr_assert(memmem(en->line.base, en->line.len, "marker", 6) != NULL);
            with_meta += en->n_meta > 0;
            total++;
        }
    }
    cr_assert_eq(total, p.n_entries);
    if (meta) {
        cr_assert_gt(with_meta, 0);
    }
    tr_arena_free(&a);
    tr_free(body);
}

Test(loki_push, json_goldens)
{
    json_golden("winston-json_001_http_loki_api_v1_push.bin", "winston-json",
                true);
    json_golden("pino_001_http_loki_api_v1_push.bin", "pino", false);
}

Test(loki_push, json_hand_built_and_errors)
{
    static const char ok[] =
        "{\"streams\":[{\"stream\":{\"app\":\"a\\\"pi\",\"env\":\"prod\"},"
        "\"values\":[[\"1700000000000000005\",\"line \\u00fc\\n\"],"
        "[\"1700000001000000000\",\"second\",{\"trace_id\":\"abc\"}]]},"
        "{\"stream\":{\"app\":\"w\"}}]}";
    struct tr_arena a;
    tr_arena_init(&a, 512);
    struct tr_loki_push p;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_loki_push_decode_json(ok, strlen(ok), &a, &p, err), 0, "%s",
                 err);
    cr_assert_eq(p.n_streams, 2);
    cr_assert_eq(p.n_entries, 2);
    const struct tr_loki_stream *s = &p.streams[0];
    cr_assert(lp_has(s->label_set, s->n_labels, "app", "a\"pi"));
    cr_assert_eq(s->entries[0].ts_ns, 1700000000000000005LL);
    cr_assert(tr_slice_eq_cstr(s->entries[0].line, "line \xc3\xbc\n"));
    cr_assert_eq(s->entries[1].n_meta, 1);
    cr_assert(tr_slice_eq_cstr(s->entries[1].meta[0].name, "trace_id"));
    cr_assert_eq(p.streams[1].n_entries, 0);
    static const char *const bad[] = {
        "",
        "[]",
        "{\"streams\":{}}",
        "{\"streams\":[{\"values\":[]}]}",
        "{\"streams\":[{\"stream\":{\"a\":1},\"values\":[]}]}",
        "{\"streams\":[{\"stream\":{},\"values\":[[\"x\",\"l\"]]}]}",
        "{\"streams\":[{\"stream\":{},\"values\":[[\"1\"]]}]}",
        "{\"streams\":[{\"stream\":{},\"values\":[[\"1\",2]]}]}",
        "{\"streams\":[{\"stream\":{},\"values\":[[\"99999999999999999999\","
        "\"l\"]]}]}",
        "{\"streams\":[{\"stream\":{},\"values\":[[\"1\",\"l\",{\"k\":1}]]}]}",
        "{\"streams\":[{\"stream\":{},\"values\":[[\"1\",\"l\",{},4]]}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(
            tr_loki_push_decode_json(bad[i], strlen(bad[i]), &a, &p, err),
            TR_EINVAL, "%s", bad[i]);
        cr_assert_eq(p.n_streams, 0);
    }
    tr_arena_free(&a);
}

Test(loki_push, legacy_json_of_api_prom_push)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    char errmsg[TR_ERRMSG_SIZE];
    struct tr_loki_push p;
    const char *body =
        "{\"streams\":[{\"labels\":\"{app=\\\"api\\\", env=\\\"prod\\\"}\","
        "\"entries\":[{\"ts\":\"2024-05-01T10:00:00.123456789Z\","
        "\"line\":\"first\"},{\"ts\":\"2024-05-01T12:00:00+02:00\","
        "\"line\":\"second \\u00e9\"}]}]}";
    cr_assert_eq(tr_loki_push_decode_json(body, strlen(body), &a, &p, errmsg),
                 0, "%s", errmsg);
    cr_assert_eq(p.n_streams, 1);
    cr_assert_eq(p.n_entries, 2);
    const struct tr_loki_stream *s = &p.streams[0];
    cr_assert_eq(s->n_labels, 0);
    cr_assert_eq(s->labels.len, strlen("{app=\"api\", env=\"prod\"}"));
    cr_assert_eq(s->entries[0].ts_ns, 1714557600123456789LL);
    cr_assert_eq(s->entries[1].ts_ns, 1714557600000000000LL);
    cr_assert_eq(s->entries[1].line.len, strlen("second \xc3\xa9"));
    cr_assert_eq(memcmp(s->entries[1].line.base, "second \xc3\xa9", 9), 0);
    /* a bad time, a missing line */
    const char *bad1 =
        "{\"streams\":[{\"labels\":\"{a=\\\"b\\\"}\","
        "\"entries\":[{\"ts\":\"yesterday\",\"line\":\"x\"}]}]}";
    cr_assert_eq(tr_loki_push_decode_json(bad1, strlen(bad1), &a, &p, errmsg),
                 TR_EINVAL);
    cr_assert_not_null(strstr(errmsg, "entries[0]"), "%s", errmsg);
    const char *bad2 =
        "{\"streams\":[{\"labels\":\"{a=\\\"b\\\"}\","
        "\"entries\":[{\"ts\":\"2024-05-01T10:00:00Z\"}]}]}";
    cr_assert_eq(tr_loki_push_decode_json(bad2, strlen(bad2), &a, &p, errmsg),
                 TR_EINVAL);
    const char *bad3 = "{\"streams\":[{\"labels\":5}]}";
    cr_assert_eq(tr_loki_push_decode_json(bad3, strlen(bad3), &a, &p, errmsg),
                 TR_EINVAL);
    tr_arena_free(&a);
}
