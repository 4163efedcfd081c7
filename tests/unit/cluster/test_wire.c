/* test_wire.c - the cluster's internal wire formats without a cluster: the
 * framed-answer reader of reads (whole vs in pieces, limits, budget), the
 * request parsers of the serving side (read header, metrics request,
 * ensure-window) and a round trip through every answer decoder (node
 * record, apply result, status/local, hello, metrics select, strings and
 * metadata). fuzz/fuzz_cluster_wire.c checks the same on arbitrary bytes. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "lib/alloc.h"
#include "lib/err.h"
#include "storage/chunk_record.h"

/* ---- framed answers ------------------------------------------------------ */

/* Three frames as a node writes them: 5 bytes (units 3), empty (units 0),
 * 300 bytes (units 7). */
static void wire_frames(struct tr_buf *b)
{
    size_t at = cl_frame_begin(b, 3);
    tr_buf_append(b, "hello", 5);
    cl_frame_end(b, at);
    at = cl_frame_begin(b, 0);
    cl_frame_end(b, at);
    at = cl_frame_begin(b, 7);
    for (int i = 0; i < 300; i++) {
        tr_buf_putc(b, (char)i);
    }
    cl_frame_end(b, at);
}

/* Feeds b in pieces of `piece` bytes (0: whole); returns the feed result. */
static int wire_feed(struct cl_frame_reader *r,
                     const struct tr_buf *b,
                     size_t piece)
{
    size_t step = piece ? piece : b->len;
    for (size_t o = 0; o < b->len; o += step) {
        size_t k = b->len - o < step ? b->len - o : step;
        int rv = cl_frame_reader_feed(r, b->data + o, k);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

Test(wire, frame_reader_whole_and_pieces_agree)
{
    struct tr_buf b;
    tr_buf_init(&b);
    wire_frames(&b);
    struct cl_frame_reader whole;
    cl_frame_reader_init(&whole, NULL, CL_FRAME_MAX);
    cr_assert_eq(wire_feed(&whole, &b, 0), 0);
    cr_assert(cl_frame_reader_done(&whole));
    cr_assert_eq(whole.n, 3);
    cr_assert_eq(whole.frames[0].len, 5);
    cr_assert_eq(whole.frames[0].units, 3);
    cr_assert_eq(memcmp(whole.frames[0].p, "hello", 5), 0);
    cr_assert_eq(whole.frames[1].len, 0);
    cr_assert_eq(whole.frames[2].len, 300);
    cr_assert_eq(whole.frames[2].units, 7);
    cr_assert_eq((uint8_t)whole.frames[2].p[299], (uint8_t)299);
    const size_t pieces[] = {1, 2, 3, 7, 8, 9, 64};
    for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
        struct cl_frame_reader r;
        cl_frame_reader_init(&r, NULL, CL_FRAME_MAX);
        cr_assert_eq(wire_feed(&r, &b, pieces[i]), 0);
        cr_assert(cl_frame_reader_done(&r));
        cr_assert_eq(r.n, whole.n, "pieces of %zu", pieces[i]);
        for (size_t f = 0; f < r.n; f++) {
            cr_assert_eq(r.frames[f].len, whole.frames[f].len);
            cr_assert_eq(r.frames[f].units, whole.frames[f].units);
            cr_assert_eq(
                memcmp(r.frames[f].p, whole.frames[f].p, r.frames[f].len), 0);
        }
        cl_frame_reader_free(&r);
    }
    cl_frame_reader_free(&whole);
    tr_buf_free(&b);
}

Test(wire, frame_reader_knows_an_answer_ending_inside_a_frame)
{
    struct tr_buf b;
    tr_buf_init(&b);
    wire_frames(&b);
    /* cut inside the first header, inside a payload, after a frame */
    const size_t cuts[] = {3, 10, 13, 21, 100};
    const bool done[] = {false, false, true, true, false};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        struct cl_frame_reader r;
        cl_frame_reader_init(&r, NULL, CL_FRAME_MAX);
        cr_assert_eq(cl_frame_reader_feed(&r, b.data, cuts[i]), 0);
        cr_assert_eq(cl_frame_reader_done(&r), done[i], "cut at %zu", cuts[i]);
        cl_frame_reader_free(&r);
    }
    tr_buf_free(&b);
}

Test(wire, frame_reader_refuses_a_frame_longer_than_the_limit)
{
    uint8_t hdr[CL_FRAME_HEADER];
    tr_put_u32be(hdr, CL_FRAME_MAX + 1u);
    tr_put_u32be(hdr + 4, 1);
    struct cl_frame_reader r;
    cl_frame_reader_init(&r, NULL, CL_FRAME_MAX);
    cr_assert_eq(cl_frame_reader_feed(&r, hdr, 5), 0); /* header incomplete */
    cr_assert_eq(cl_frame_reader_feed(&r, hdr + 5, 3), TR_EPROTO);
    cl_frame_reader_free(&r);
    /* exactly the limit is a frame (a small limit, to allocate little) */
    tr_put_u32be(hdr, 16);
    cl_frame_reader_init(&r, NULL, 16);
    cr_assert_eq(cl_frame_reader_feed(&r, hdr, sizeof(hdr)), 0);
    cr_assert_eq(r.n, 1);
    cr_assert_not(cl_frame_reader_done(&r));
    cl_frame_reader_free(&r);
    tr_put_u32be(hdr, 17);
    cl_frame_reader_init(&r, NULL, 16);
    cr_assert_eq(cl_frame_reader_feed(&r, hdr, sizeof(hdr)), TR_EPROTO);
    cl_frame_reader_free(&r);
}

Test(wire, frame_reader_takes_units_from_the_budget_per_header)
{
    struct tr_buf b;
    tr_buf_init(&b);
    wire_frames(&b); /* units 3, 0, 7 */
    /* 10 units fit exactly, in one piece or byte by byte */
    for (size_t piece = 0; piece < 2; piece++) {
        struct tr_select_budget budget;
        tr_select_budget_init(&budget, 10);
        struct cl_frame_reader r;
        cl_frame_reader_init(&r, &budget, CL_FRAME_MAX);
        cr_assert_eq(wire_feed(&r, &b, piece), 0);
        cr_assert_eq(r.units, 10);
        cr_assert_eq(atomic_load(&budget.used), 10);
        cl_frame_reader_free(&r);
    }
    /* 9 do not: the third header fails, before its payload arrives */
    struct tr_select_budget budget;
    tr_select_budget_init(&budget, 9);
    struct cl_frame_reader r;
    cl_frame_reader_init(&r, &budget, CL_FRAME_MAX);
    size_t third = 2 * CL_FRAME_HEADER + 5;
    cr_assert_eq(cl_frame_reader_feed(&r, b.data, third), 0);
    cr_assert_eq(cl_frame_reader_feed(&r, b.data + third, CL_FRAME_HEADER),
                 TR_ELIMIT);
    cr_assert_eq(r.units, 10); /* counted: the caller gives them back */
    cr_assert(tr_select_budget_over(&budget));
    cl_frame_reader_free(&r);
    /* a budget another part exceeded already refuses the first byte */
    struct cl_frame_reader r2;
    cl_frame_reader_init(&r2, &budget, CL_FRAME_MAX);
    cr_assert_eq(cl_frame_reader_feed(&r2, b.data, 1), TR_ELIMIT);
    cr_assert_eq(r2.units, 0);
    cl_frame_reader_free(&r2);
    tr_buf_free(&b);
}

/* ---- requests ------------------------------------------------------------ */

Test(wire, read_request_header_parses)
{
    struct tr_buf b;
    tr_buf_init(&b);
    tr_buf_putc(&b, TR_SIGNAL_METRICS);
    tr_buf_putc(&b, CL_READ_LEADER | CL_READ_UNITS);
    tr_buf_put_uvarint(&b, 2);
    tr_buf_put_varint(&b, -86400000);
    tr_buf_put_uvarint(&b, 3);
    tr_buf_put_varint(&b, 0);
    tr_buf_put_uvarint(&b, 65535);
    tr_buf_put_uvarint(&b, 5000);
    tr_buf_append(&b, "rest", 4);
    char err[TR_ERRMSG_SIZE];
    struct cl_read_req q;
    cr_assert_eq(cl_read_req_parse(b.data, b.len, &q, err), 0, "%s", err);
    cr_assert_eq(q.signal, TR_SIGNAL_METRICS);
    cr_assert_eq(q.n, 2);
    cr_assert_eq(q.ids[0].signal, TR_SIGNAL_METRICS);
    cr_assert_eq(q.ids[0].window, -86400000);
    cr_assert_eq(q.ids[0].slot, 3);
    cr_assert_eq(q.ids[1].slot, 65535);
    cr_assert_eq(q.max_units, 5000);
    cr_assert_eq(q.req_len, 4);
    cr_assert_eq(memcmp(q.req, "rest", 4), 0);
    tr_free(q.ids);
    /* every strict prefix of the header is malformed */
    size_t header = b.len - 4;
    for (size_t l = 0; l < header; l++) {
        cr_assert_eq(cl_read_req_parse(b.data, l, &q, err), TR_EPROTO,
                     "prefix %zu", l);
        cr_assert_null(q.ids);
    }
    tr_buf_free(&b);
}

Test(wire, read_request_header_refuses_bad_counts)
{
    char err[TR_ERRMSG_SIZE];
    struct cl_read_req q;
    /* no shard; more than 4096; a slot beyond u16; max units 0 */
    const uint8_t zero[] = {1, 0, 0, 0, 0};
    const uint8_t many[] = {1, 0, 0x81, 0x20, 0, 0};
    const uint8_t slot[] = {1, 0, 1, 0, 0x80, 0x80, 0x04};
    const uint8_t units[] = {1, CL_READ_UNITS, 1, 0, 0, 0};
    cr_assert_eq(cl_read_req_parse(zero, sizeof(zero), &q, err), TR_EPROTO);
    cr_assert_eq(cl_read_req_parse(many, sizeof(many), &q, err), TR_EPROTO);
    cr_assert_eq(cl_read_req_parse(slot, sizeof(slot), &q, err), TR_EPROTO);
    cr_assert_eq(cl_read_req_parse(units, sizeof(units), &q, err), TR_EPROTO);
    cr_assert_str_eq(err, "malformed read request");
}

static struct tr_matcher wire_matcher(enum tr_match_type t,
                                      const char *name,
                                      const char *value)
{
    return (struct tr_matcher){t, (char *)name, (char *)value, strlen(value),
                               NULL};
}

Test(wire, metrics_request_round_trip)
{
    struct tr_select_hints h;
    memset(&h, 0, sizeof(h));
    h.mint = -5;
    h.maxt = INT64_MAX;
    h.no_samples = true;
    h.limit = 10;
    h.max_series = 20;
    h.max_samples = 30;
    struct tr_matcher ms[2] = {wire_matcher(TR_MATCH_EQ, "__name__", "up"),
                               wire_matcher(TR_MATCH_NRE, "job", "a|b")};
    struct tr_slice name = TR_SLICE_LIT("instance");
    const int ops[] = {5, 2, 3, 4};
    for (size_t i = 0; i < 4; i++) {
        struct tr_buf b;
        tr_buf_init(&b);
        cl_metrics_req_encode(&b, ops[i], TR_SLICE_LIT("tenant-a"), &h, &name,
                              ms, 2);
        struct cl_metrics_req q;
        char err[TR_ERRMSG_SIZE];
        cr_assert_eq(cl_metrics_req_parse(b.data, b.len, &q, err), 0, "%s",
                     err);
        cr_assert_eq(q.op, ops[i]);
        cr_assert(tr_slice_eq_cstr(q.tenant, "tenant-a"));
        cr_assert_eq(q.mint, -5);
        cr_assert_eq(q.maxt, INT64_MAX);
        cr_assert_eq(q.flags, 1);
        cr_assert_eq(q.limit, 10);
        cr_assert_eq(q.max_series, 20);
        cr_assert_eq(q.max_samples, 30);
        if (ops[i] == 3 || ops[i] == 4) {
            cr_assert(tr_slice_eq_cstr(q.name, "instance"));
        } else {
            cr_assert_eq(q.name.len, 0);
        }
        if (ops[i] == 4) {
            cr_assert_eq(q.n_ms, 0); /* metadata reads no matchers */
        } else {
            cr_assert_eq(q.n_ms, 2);
            cr_assert_eq(q.ms[1].type, TR_MATCH_NRE);
            cr_assert(tr_slice_eq_cstr(q.ms[1].name, "job"));
            cr_assert(tr_slice_eq_cstr(q.ms[1].value, "a|b"));
        }
        tr_free(q.ms);
        tr_buf_free(&b);
    }
}

Test(wire, metrics_request_refuses_bad_fields)
{
    struct tr_select_hints h;
    memset(&h, 0, sizeof(h));
    struct tr_matcher m = wire_matcher(TR_MATCH_EQ, "job", "x");
    struct tr_buf b;
    tr_buf_init(&b);
    cl_metrics_req_encode(&b, 5, TR_SLICE_LIT("t"), &h, NULL, &m, 1);
    struct cl_metrics_req q;
    char err[TR_ERRMSG_SIZE];
    b.data[0] = 1; /* the retired op */
    cr_assert_eq(cl_metrics_req_parse(b.data, b.len, &q, err), TR_EPROTO);
    cr_assert_str_eq(err, "malformed select request");
    b.data[0] = 5;
    b.data[b.len - 7] = 4; /* the matcher's type: beyond !~ */
    cr_assert_eq(cl_metrics_req_parse(b.data, b.len, &q, err), TR_EPROTO);
    cr_assert_str_eq(err, "malformed matcher");
    cr_assert_null(q.ms);
    b.data[b.len - 7] = 0;
    cr_assert_eq(cl_metrics_req_parse(b.data, b.len - 1, &q, err), TR_EPROTO);
    cr_assert_eq(cl_metrics_req_parse(b.data, b.len, &q, err), 0);
    tr_free(q.ms);
    tr_buf_free(&b);
}

Test(wire, ensure_window_request)
{
    const int64_t day = 86400000;
    const int64_t windows[] = {0,  day,           -day,      -3 * day, 1,
                               -1, INT64_MIN + 1, INT64_MIN, INT64_MAX};
    const bool ok[] = {true,  true,  true,  true, false,
                       false, false, false, false};
    for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
        struct tr_buf b;
        tr_buf_init(&b);
        tr_buf_putc(&b, TR_SIGNAL_METRICS);
        tr_buf_put_varint(&b, windows[i]);
        uint8_t signal = 0;
        int64_t w = 0;
        cr_assert_eq(cl_window_req_parse(b.data, b.len, day, &signal, &w),
                     ok[i] ? 0 : TR_EPROTO, "window %" PRId64, windows[i]);
        if (ok[i]) {
            cr_assert_eq(signal, TR_SIGNAL_METRICS);
            cr_assert_eq(w, windows[i]);
        }
        b.data[0] = TR_SIGNAL_MAX + 1; /* no store for it */
        cr_assert_eq(cl_window_req_parse(b.data, b.len, day, &signal, &w),
                     TR_EPROTO);
        tr_buf_free(&b);
    }
    uint8_t signal;
    int64_t w;
    cr_assert_eq(cl_window_req_parse("\x01", 1, day, &signal, &w), TR_EPROTO);
}

/* ---- answers ------------------------------------------------------------- */

Test(wire, node_record_round_trip)
{
    struct tr_catalog_node n;
    memset(&n, 0, sizeof(n));
    n.id = 0x0102030405060708ULL;
    snprintf(n.name, sizeof(n.name), "node-1");
    snprintf(n.raft_addr, sizeof(n.raft_addr), "127.0.0.1:9095");
    snprintf(n.http_addr, sizeof(n.http_addr), "127.0.0.1:3100");
    struct tr_buf b;
    tr_buf_init(&b);
    tr_catalog_cmd_add_node(&b, &n);
    struct tr_catalog_node d;
    cr_assert_eq(cl_node_decode(b.data, b.len, &d), 0);
    cr_assert_eq(d.id, n.id);
    cr_assert_str_eq(d.name, "node-1");
    cr_assert_str_eq(d.raft_addr, "127.0.0.1:9095");
    cr_assert_str_eq(d.http_addr, "127.0.0.1:3100");
    cr_assert_neq(cl_node_decode(b.data, b.len - 1, &d), 0);
    tr_buf_free(&b);
}

Test(wire, apply_result_round_trip)
{
    struct tr_apply_result r;
    memset(&r, 0, sizeof(r));
    r.index = 77;
    r.appended = 5;
    r.duplicate = 1;
    r.rejected = 2;
    r.created = 3;
    r.metadata = 4;
    r.first_error = TR_ETOOOLD;
    snprintf(r.errmsg, sizeof(r.errmsg), "sample too old");
    struct tr_buf b;
    tr_buf_init(&b);
    cl_apply_result_encode(&r, 0, "", &b);
    struct tr_apply_result d;
    int rv = -1;
    char err[TR_ERRMSG_SIZE] = "";
    cr_assert_eq(cl_apply_result_decode(b.data, b.len, &d, &rv, err), 0);
    cr_assert_eq(rv, 0);
    cr_assert_eq(d.index, 77);
    cr_assert_eq(d.appended, 5);
    cr_assert_eq(d.duplicate, 1);
    cr_assert_eq(d.rejected, 2);
    cr_assert_eq(d.created, 3);
    cr_assert_eq(d.metadata, 4);
    cr_assert_eq(d.first_error, TR_ETOOOLD);
    cr_assert_str_eq(d.errmsg, "sample too old");
    /* a failure carries its message instead */
    tr_buf_reset(&b);
    cl_apply_result_encode(&r, TR_EUNAVAIL, "no leader", &b);
    cr_assert_eq(cl_apply_result_decode(b.data, b.len, &d, &rv, err), 0);
    cr_assert_eq(rv, TR_EUNAVAIL);
    cr_assert_str_eq(err, "no leader");
    cr_assert_eq(cl_apply_result_decode(b.data, b.len - 1, &d, &rv, err),
                 TR_EPROTO);
    tr_buf_free(&b);
}

/* A status/local answer as cl_status_local writes it. */
static void wire_status(struct tr_buf *b, size_t n, bool leader)
{
    tr_buf_put_uvarint(b, n);
    for (size_t i = 0; i < n; i++) {
        struct tr_shard_id id = {TR_SIGNAL_METRICS, (int64_t)i * 1000,
                                 (uint16_t)i};
        cl_put_shard(b, &id);
        tr_buf_putc(b, 3); /* RAFT_LEADER */
        tr_buf_put_u64be(b, 100 + i);
        tr_buf_put_uvarint(b, 2);
        tr_buf_put_uvarint(b, 50 + i);
        tr_buf_put_uvarint(b, 49 + i);
        tr_buf_putc(b, i == 1 ? 1 : 0);
        tr_buf_put_uvarint(b, i);
    }
    tr_buf_putc(b, leader ? 1 : 0);
    if (leader) {
        tr_buf_put_uvarint(b, 2);
        tr_buf_put_u64be(b, 7);
        tr_buf_putc(b, 1);
        tr_buf_put_u64be(b, 8);
        tr_buf_putc(b, 0);
    }
}

Test(wire, status_local_round_trip)
{
    struct tr_buf b;
    tr_buf_init(&b);
    wire_status(&b, 3, true);
    struct cl_shard_view v[8];
    struct cl_node_health h;
    memset(&h, 0, sizeof(h));
    cr_assert_eq(cl_status_decode(9, b.data, b.len, v, 8, &h), 3);
    cr_assert_eq(v[2].node, 9);
    cr_assert_eq(v[2].id.window, 2000);
    cr_assert_eq(v[2].id.slot, 2);
    cr_assert_eq(v[2].leader, 102);
    cr_assert_eq(v[2].commit, 52);
    cr_assert_eq(v[2].applied, 51);
    cr_assert_eq(v[2].queued, 2);
    cr_assert(v[1].catching_up);
    cr_assert_eq(h.n, 2);
    cr_assert_eq(h.id[0], 7);
    cr_assert(h.ok[0]);
    cr_assert_not(h.ok[1]);
    tr_buf_free(&b);
}

/* Views beyond max are dropped, yet the health list after them is found;
 * a malformed view ends the answer (no health read from its middle). */
Test(wire, status_local_health_after_more_views_than_max)
{
    struct tr_buf b;
    tr_buf_init(&b);
    wire_status(&b, 3, true);
    for (size_t max = 0; max <= 3; max++) {
        struct cl_shard_view v[3];
        struct cl_node_health h;
        memset(&h, 0, sizeof(h));
        cr_assert_eq(cl_status_decode(9, b.data, b.len, v, max, &h), max);
        cr_assert_eq(h.n, 2, "max %zu", max);
        cr_assert_eq(h.id[0], 7);
        cr_assert_eq(h.id[1], 8);
    }
    struct cl_shard_view v[3];
    struct cl_node_health h;
    memset(&h, 0, sizeof(h));
    /* 3 views claimed, the third malformed (signal 9), then bytes that
     * would read as a health list */
    tr_buf_reset(&b);
    wire_status(&b, 2, false);
    b.data[0] = 3;
    b.data[b.len - 1] = 9;
    tr_buf_putc(&b, 1);
    tr_buf_put_uvarint(&b, 1);
    tr_buf_put_u64be(&b, 7);
    tr_buf_putc(&b, 1);
    cr_assert_eq(cl_status_decode(9, b.data, b.len, v, 3, &h), 2);
    cr_assert_eq(h.n, 0);
    tr_buf_free(&b);
}

/* A hello answer as api__hello writes it. */
Test(wire, hello_round_trip)
{
    struct tr_buf b, rec;
    tr_buf_init(&b);
    tr_buf_init(&rec);
    tr_buf_putc(&b, 1);
    tr_buf_put_uvarint(&b, 3);
    for (uint64_t i = 1; i <= 3; i++) {
        struct tr_catalog_node n;
        memset(&n, 0, sizeof(n));
        n.id = i;
        snprintf(n.name, sizeof(n.name), "n%" PRIu64, i);
        tr_buf_reset(&rec);
        if (i == 2) {
            tr_buf_append(&rec, "junk", 4); /* skipped */
        } else {
            tr_catalog_cmd_add_node(&rec, &n);
        }
        tr_buf_put_uvarint(&b, rec.len);
        tr_buf_append(&b, rec.data, rec.len);
    }
    bool formed = false;
    struct tr_catalog_node nodes[4];
    cr_assert_eq(cl_hello_decode(b.data, b.len, &formed, nodes, 4), 2);
    cr_assert(formed);
    cr_assert_eq(nodes[0].id, 1);
    cr_assert_eq(nodes[1].id, 3);
    cr_assert_str_eq(nodes[1].name, "n3");
    cr_assert_eq(cl_hello_decode(b.data, 1, &formed, nodes, 4), -1);
    tr_buf_free(&rec);
    tr_buf_free(&b);
}

/* Reads a framed answer whole into fr and points a at its frames. */
static void wire_answer(const struct tr_buf *b,
                        struct cl_frame_reader *fr,
                        struct cl_answer *a)
{
    cl_frame_reader_init(fr, NULL, CL_FRAME_MAX);
    cr_assert_eq(cl_frame_reader_feed(fr, b->data, b->len), 0);
    cr_assert(cl_frame_reader_done(fr));
    *a = (struct cl_answer){NULL, 0, fr->frames, fr->n, &fr->arena};
}

Test(wire, metrics_select_round_trip)
{
    enum { N = 1500 }; /* two chunks of the encoder */
    static struct tr_sample v[N];
    for (size_t i = 0; i < N; i++) {
        v[i].t = -30000 + (int64_t)i * 15000;
        v[i].v = (double)(i % 17) / 4;
    }
    struct tr_label la[] = {{TR_SLICE_LIT("__name__"), TR_SLICE_LIT("up")},
                            {TR_SLICE_LIT("job"), TR_SLICE_LIT("a")}};
    struct tr_label lb[] = {{TR_SLICE_LIT("__name__"), TR_SLICE_LIT("up")},
                            {TR_SLICE_LIT("job"), TR_SLICE_LIT("b")}};
    struct tr_series_data series[3];
    memset(series, 0, sizeof(series));
    series[0] = (struct tr_series_data){la, 2, v, N, NULL, 0};
    series[1] = (struct tr_series_data){lb, 2, v + 10, 3, NULL, 0};
    series[2] = (struct tr_series_data){lb, 1, NULL, 0, NULL, 0}; /* labels */
    struct tr_select_result r;
    memset(&r, 0, sizeof(r));
    r.series = series;
    r.n_series = 3;
    r.truncated = true;
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(cl_metrics_encode_result(&b, &r), 0);
    struct cl_frame_reader fr;
    struct cl_answer a;
    wire_answer(&b, &fr, &a);
    cr_assert_eq(a.n_frames, 4);
    cr_assert_eq(a.frames[0].units, N);
    struct tr_select_result d;
    cr_assert_eq(cl_metrics_decode_result(&a, &d), 0);
    cr_assert_eq(d.n_series, 3);
    cr_assert(d.truncated);
    static struct tr_sample out[N];
    for (size_t i = 0; i < 3; i++) {
        const struct tr_series_data *s = &d.series[i];
        cr_assert_eq(tr_labels_cmp(s->labels, s->n_labels, series[i].labels,
                                   series[i].n_labels),
                     0);
        cr_assert_eq(s->n_samples, series[i].n_samples);
        const struct tr_sample *got = tr_series_samples(s, out);
        cr_assert_not_null(got);
        cr_assert(s->n_samples == 0 ||
                  memcmp(got, series[i].samples, s->n_samples * sizeof(*got)) ==
                      0);
    }
    cr_assert_eq(d.series[0].n_chunks, 2);
    tr_select_result_free(&d);
    cl_frame_reader_free(&fr);
    /* a series frame whose units disagree with its chunks is refused */
    tr_put_u32be(b.data + 4, N + 1);
    wire_answer(&b, &fr, &a);
    cr_assert_eq(cl_metrics_decode_result(&a, &d), TR_EPROTO);
    tr_select_result_free(&d);
    cl_frame_reader_free(&fr);
    tr_buf_free(&b);
}

Test(wire, metrics_strings_and_metadata_round_trip)
{
    struct tr_slice items[] = {TR_SLICE_LIT("a"), TR_SLICE_LIT(""),
                               TR_SLICE_LIT("job")};
    struct tr_string_list l;
    memset(&l, 0, sizeof(l));
    l.items = items;
    l.n = 3;
    l.truncated = true;
    struct tr_buf b;
    tr_buf_init(&b);
    cl_strings_encode(&b, &l);
    struct tr_string_list d;
    cr_assert_eq(cl_strings_decode(b.data, b.len, &d), 0);
    cr_assert_eq(d.n, 3);
    cr_assert(d.truncated);
    cr_assert(tr_slice_eq_cstr(d.items[2], "job"));
    cr_assert_eq(d.items[1].len, 0);
    tr_string_list_free(&d);
    cr_assert_eq(cl_strings_decode(b.data, b.len - 1, &d), TR_EPROTO);
    tr_string_list_free(&d);

    struct tr_metadata_item md[] = {
        {TR_SLICE_LIT("http_requests_total"), 1, TR_SLICE_LIT("Requests."),
         TR_SLICE_LIT("")},
        {TR_SLICE_LIT("temp"), 2, TR_SLICE_LIT(""), TR_SLICE_LIT("celsius")},
    };
    tr_buf_reset(&b);
    cl_metrics_encode_metadata(&b, md, 2);
    struct tr_arena a;
    tr_arena_init(&a, 1024);
    struct tr_metadata_item *got = NULL;
    size_t n = 0, cap = 0;
    cr_assert_eq(cl_metrics_decode_metadata(b.data, b.len, &a, &got, &n, &cap),
                 0);
    cr_assert_eq(n, 2);
    cr_assert(tr_slice_eq_cstr(got[0].metric, "http_requests_total"));
    cr_assert_eq(got[1].type, 2);
    cr_assert(tr_slice_eq_cstr(got[1].unit, "celsius"));
    /* a second answer appends; a truncated one keeps what came before */
    cr_assert_eq(
        cl_metrics_decode_metadata(b.data, b.len - 1, &a, &got, &n, &cap),
        TR_EPROTO);
    cr_assert_eq(n, 3);
    tr_arena_free(&a);
    tr_buf_free(&b);
}
