/* Tests for server/ws.c: the handshake checks and accept key, the frame
 * parser (every length class, masking, fragmentation with interleaved
 * control frames, every bad frame and its close code, incremental parsing
 * at every split) and the frame encoder. */
#include "server/ws.h"

#include <criterion/criterion.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "server/http.h"

static const uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* ---- event recorder ---------------------------------------------------- */

#define MAX_EV 64

struct ev_rec {
    enum tr_ws_result type;
    enum tr_ws_opcode opcode;
    uint16_t code;
    char *data; /* payload copy (tr_malloc) */
    size_t len;
    char reason[TR_WS_MAX_CONTROL + 1];
};

struct rec {
    size_t n;
    struct ev_rec ev[MAX_EV];
    uint16_t err_code; /* 0 = no error */
    char errmsg[128];
};

static void rec_free(struct rec *r)
{
    for (size_t i = 0; i < r->n; i++) {
        tr_free(r->ev[i].data);
    }
    memset(r, 0, sizeof(*r));
}

/* Feeds d[0..n) as the server does (calling again after every event). */
static void feed(struct tr_ws_parser *p,
                 struct rec *r,
                 const uint8_t *d,
                 size_t n)
{
    for (;;) {
        size_t used = 99999;
        struct tr_ws_event ev;
        enum tr_ws_result rv = tr_ws_parse(p, d, n, &used, &ev);
        cr_assert_leq(used, n);
        if (rv == TR_WS_ERROR) {
            r->err_code = p->close_code;
            memcpy(r->errmsg, p->errmsg, sizeof(r->errmsg));
            cr_assert_eq(tr_ws_parse(p, d, n, &used, &ev), TR_WS_ERROR);
            cr_assert_eq(used, 0);
            return;
        }
        if (rv == TR_WS_NEED_MORE) {
            cr_assert_eq(used, n, "NEED_MORE must consume everything");
            return;
        }
        cr_assert_lt(r->n, MAX_EV);
        struct ev_rec *e = &r->ev[r->n++];
        e->type = rv;
        e->opcode = ev.opcode;
        e->code = ev.close_code;
        cr_assert_not_null(ev.payload.base);
        e->data = tr_malloc(ev.payload.len + 1);
        memcpy(e->data, ev.payload.base, ev.payload.len);
        e->len = ev.payload.len;
        if (rv == TR_WS_CLOSE) {
            memcpy(e->reason, ev.reason.base, ev.reason.len);
            e->reason[ev.reason.len] = '\0';
        }
        d += used;
        n -= used;
        if (n == 0) {
            return;
        }
    }
}

/* Parses all of d in one call sequence. */
static void parse_all(struct rec *r,
                      const void *d,
                      size_t n,
                      size_t max,
                      bool server)
{
    struct tr_ws_parser p;
    tr_ws_parser_init(&p, max, server);
    feed(&p, r, d, n);
    tr_ws_parser_free(&p);
}

static void rec_eq(const struct rec *a, const struct rec *b, const char *ctx)
{
    cr_assert_eq(a->n, b->n, "%s: %zu events vs %zu", ctx, a->n, b->n);
    cr_assert_eq(a->err_code, b->err_code, "%s", ctx);
    for (size_t i = 0; i < a->n; i++) {
        cr_assert_eq(a->ev[i].type, b->ev[i].type, "%s: event %zu", ctx, i);
        cr_assert_eq(a->ev[i].opcode, b->ev[i].opcode, "%s", ctx);
        cr_assert_eq(a->ev[i].code, b->ev[i].code, "%s", ctx);
        cr_assert_eq(a->ev[i].len, b->ev[i].len, "%s", ctx);
        cr_assert_eq(memcmp(a->ev[i].data, b->ev[i].data, a->ev[i].len), 0,
                     "%s", ctx);
        cr_assert_str_eq(a->ev[i].reason, b->ev[i].reason, "%s", ctx);
    }
}

/* A client frame (masked). */
static void cframe(struct tr_buf *b,
                   enum tr_ws_opcode op,
                   bool fin,
                   const char *s,
                   size_t n)
{
    cr_assert_eq(tr_ws_frame_append(b, op, fin, s, n, mask_key), 0);
}

/* Raw header bytes followed by a payload (for frames the encoder refuses). */
static void raw(struct tr_buf *b, const uint8_t *h, size_t hn, size_t payload)
{
    tr_buf_append(b, h, hn);
    for (size_t i = 0; i < payload; i++) {
        tr_buf_putc(b, 'x');
    }
}

/* ---- handshake --------------------------------------------------------- */

Test(ws, accept_key_rfc_example)
{
    char out[TR_WS_ACCEPT_SIZE];
    tr_ws_accept_key(TR_SLICE_LIT("dGhlIHNhbXBsZSBub25jZQ=="), out);
    cr_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    tr_ws_accept_key(TR_SLICE_LIT("x3JJHMbDL1EzLkh9GBhXDw=="), out);
    cr_assert_str_eq(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

#define H(n, v)                          \
    {                                    \
        TR_SLICE_LIT(n), TR_SLICE_LIT(v) \
    }

static int check(struct tr_http_header *hs,
                 size_t n,
                 enum tr_http_method m,
                 int minor,
                 int *status,
                 char *err)
{
    struct tr_http_request req;
    memset(&req, 0, sizeof(req));
    req.method = m;
    req.headers = hs;
    req.n_headers = n;
    char accept[TR_WS_ACCEPT_SIZE];
    int rv = tr_ws_handshake_check(&req, minor, accept, status, err);
    if (rv == 0) {
        cr_assert_str_eq(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        cr_assert_eq(*status, 101);
    }
    return rv;
}

Test(ws, handshake_accepts_browser_and_grafana_forms)
{
    char err[TR_ERRMSG_SIZE];
    int st;
    struct tr_http_header a[] = {
        H("Host", "h"),
        H("upgrade", "WebSocket"),
        H("Connection", "keep-alive, Upgrade"),
        H("Sec-WebSocket-Version", "13"),
        H("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    };
    cr_assert_eq(check(a, 5, TR_HTTP_GET, 1, &st, err), 0, "%s", err);
    /* the token in a second Connection header, Upgrade as a list */
    struct tr_http_header b[] = {
        H("Connection", "keep-alive"),
        H("Connection", "foo ,\tupgrade"),
        H("Upgrade", "h2c, websocket"),
        H("Sec-WebSocket-Version", "13"),
        H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    };
    cr_assert_eq(check(b, 5, TR_HTTP_GET, 1, &st, err), 0, "%s", err);
}

Test(ws, handshake_rejections)
{
    char err[TR_ERRMSG_SIZE];
    int st;
    struct tr_http_header good[] = {
        H("Upgrade", "websocket"),
        H("Connection", "Upgrade"),
        H("Sec-WebSocket-Version", "13"),
        H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    };
    cr_assert_eq(check(good, 4, TR_HTTP_POST, 1, &st, err), TR_EPROTO);
    cr_assert_eq(st, 400);
    cr_assert(strstr(err, "GET") != NULL, "%s", err);
    cr_assert_eq(check(good, 4, TR_HTTP_GET, 0, &st, err), TR_EPROTO);
    cr_assert_eq(st, 400);
    cr_assert(strstr(err, "HTTP/1.1") != NULL, "%s", err);
    /* missing key: 400 */
    cr_assert_eq(check(good, 3, TR_HTTP_GET, 1, &st, err), TR_EPROTO);
    cr_assert_eq(st, 400);
    cr_assert(strstr(err, "missing Sec-WebSocket-Key") != NULL, "%s", err);
    /* missing Upgrade / Connection */
    cr_assert_eq(check(good + 1, 3, TR_HTTP_GET, 1, &st, err), TR_EPROTO);
    cr_assert_eq(st, 400);
    cr_assert(strstr(err, "Upgrade") != NULL, "%s", err);
    struct tr_http_header noconn[] = {
        H("Upgrade", "websocket"),
        H("Connection", "keep-alive, upgraded"),
        H("Sec-WebSocket-Version", "13"),
        H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    };
    cr_assert_eq(check(noconn, 4, TR_HTTP_GET, 1, &st, err), TR_EPROTO);
    cr_assert_eq(st, 400);
    cr_assert(strstr(err, "upgrade token") != NULL, "%s", err);
    struct tr_http_header noup[] = {
        H("Upgrade", "h2c"),
        H("Connection", "Upgrade"),
        H("Sec-WebSocket-Version", "13"),
        H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    };
    cr_assert_eq(check(noup, 4, TR_HTTP_GET, 1, &st, err), TR_EPROTO);
    cr_assert_eq(st, 400);
    /* wrong version: 426; missing version: 400 */
    struct tr_http_header v8[] = {
        H("Upgrade", "websocket"),
        H("Connection", "Upgrade"),
        H("Sec-WebSocket-Version", "8"),
        H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    };
    cr_assert_eq(check(v8, 4, TR_HTTP_GET, 1, &st, err), TR_EPROTO);
    cr_assert_eq(st, 426);
    cr_assert(strstr(err, "\"8\"") != NULL, "%s", err);
    struct tr_http_header nov[] = {
        H("Upgrade", "websocket"),
        H("Connection", "Upgrade"),
        H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    };
    cr_assert_eq(check(nov, 3, TR_HTTP_GET, 1, &st, err), TR_EPROTO);
    cr_assert_eq(st, 400);
    /* keys that are not base64 of 16 bytes */
    static const char *const bad_keys[] = {
        "dGhlIHNhbXBsZSBub25jZQ",       /* no padding */
        "dGhlIHNhbXBsZSBub25j",         /* 15 bytes */
        "dGhlIHNhbXBsZSBub25jZQ==AAAA", /* 19 bytes */
        "dGhlIHNhbXBsZSBub25jZQ!=",     /* not base64 */
        "",
    };
    for (size_t i = 0; i < 5; i++) {
        struct tr_http_header k[] = {
            H("Upgrade", "websocket"),
            H("Connection", "Upgrade"),
            H("Sec-WebSocket-Version", "13"),
            {TR_SLICE_LIT("Sec-WebSocket-Key"), tr_slice_cstr(bad_keys[i])},
        };
        cr_assert_eq(check(k, 4, TR_HTTP_GET, 1, &st, err), TR_EPROTO, "%s",
                     bad_keys[i]);
        cr_assert_eq(st, 400);
        cr_assert(strstr(err, "16 bytes") != NULL, "%s", err);
    }
}

/* ---- frames ------------------------------------------------------------ */

Test(ws, every_length_class_masked_and_unmasked)
{
    static const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
    static const size_t hdr[] = {2, 2, 2, 4, 4, 4, 10, 10};
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        size_t n = lens[k];
        char *pl = tr_malloc(n + 1);
        for (size_t i = 0; i < n; i++) {
            pl[i] = (char)('a' + i % 26);
        }
        for (int masked = 0; masked < 2; masked++) {
            struct tr_buf b;
            tr_buf_init(&b);
            cr_assert_eq(tr_ws_frame_append(&b, TR_WS_OP_BINARY, true, pl, n,
                                            masked ? mask_key : NULL),
                         0);
            cr_assert_eq(b.len, hdr[k] + (masked ? 4 : 0) + n);
            cr_assert_eq(tr_ws_frame_header_len(n, masked), b.len - n);
            uint8_t b1 = (uint8_t)b.data[1];
            cr_assert_eq(b1 & 0x80, masked ? 0x80 : 0);
            cr_assert_eq(b1 & 0x7f, n <= 125 ? n : n <= 65535 ? 126 : 127);
            struct rec r = {0};
            parse_all(&r, b.data, b.len, 1 << 20, masked);
            cr_assert_eq(r.err_code, 0, "%zu: %s", n, r.errmsg);
            cr_assert_eq(r.n, 1);
            cr_assert_eq(r.ev[0].type, TR_WS_MESSAGE);
            cr_assert_eq(r.ev[0].opcode, TR_WS_OP_BINARY);
            cr_assert_eq(r.ev[0].len, n);
            cr_assert_eq(memcmp(r.ev[0].data, pl, n), 0);
            rec_free(&r);
            /* the other side refuses it: masking is direction-bound */
            parse_all(&r, b.data, b.len, 1 << 20, !masked);
            cr_assert_eq(r.err_code, TR_WS_CLOSE_PROTOCOL);
            cr_assert(strstr(r.errmsg, masked ? "masked frame from a server"
                                              : "unmasked frame") != NULL);
            rec_free(&r);
            tr_buf_free(&b);
        }
        tr_free(pl);
    }
}

Test(ws, non_minimal_length_accepted)
{
    /* 5 bytes announced with the 16-bit form, then the 64-bit form */
    uint8_t f[] = {0x82, 0xfe, 0x00, 0x05, 0,    0, 0, 0,   'a', 'b',
                   'c',  'd',  'e',  0x82, 0xff, 0, 0, 0,   0,   0,
                   0,    0,    3,    0,    0,    0, 0, 'x', 'y', 'z'};
    struct rec r = {0};
    parse_all(&r, f, sizeof(f), 100, true);
    cr_assert_eq(r.err_code, 0, "%s", r.errmsg);
    cr_assert_eq(r.n, 2);
    cr_assert_eq(r.ev[0].len, 5);
    cr_assert_eq(memcmp(r.ev[0].data, "abcde", 5), 0);
    cr_assert_eq(r.ev[1].len, 3);
    rec_free(&r);
}

Test(ws, fragmented_message_with_interleaved_control_frames)
{
    struct tr_buf b;
    tr_buf_init(&b);
    cframe(&b, TR_WS_OP_TEXT, false, "Hel", 3);
    cframe(&b, TR_WS_OP_PING, true, "p1", 2);
    cframe(&b, TR_WS_OP_CONT, false, "", 0);
    cframe(&b, TR_WS_OP_CONT, false, "lo, \xc3", 5); /* split UTF-8 */
    cframe(&b, TR_WS_OP_PONG, true, "", 0);
    cframe(&b, TR_WS_OP_CONT, true, "\xa9t\xc3\xa9!", 5);
    cframe(&b, TR_WS_OP_BINARY, true, "\xff\x00", 2);
    struct rec r = {0};
    parse_all(&r, b.data, b.len, 1000, true);
    cr_assert_eq(r.err_code, 0, "%s", r.errmsg);
    cr_assert_eq(r.n, 4);
    cr_assert_eq(r.ev[0].type, TR_WS_PING);
    cr_assert_eq(r.ev[0].len, 2);
    cr_assert_eq(memcmp(r.ev[0].data, "p1", 2), 0);
    cr_assert_eq(r.ev[1].type, TR_WS_PONG);
    cr_assert_eq(r.ev[1].len, 0);
    cr_assert_eq(r.ev[2].type, TR_WS_MESSAGE);
    cr_assert_eq(r.ev[2].opcode, TR_WS_OP_TEXT);
    cr_assert_eq(r.ev[2].len, 13);
    cr_assert_eq(memcmp(r.ev[2].data, "Hello, \xc3\xa9t\xc3\xa9!", 13), 0);
    cr_assert_eq(r.ev[3].opcode, TR_WS_OP_BINARY);
    cr_assert_eq(r.ev[3].len, 2);
    rec_free(&r);
    tr_buf_free(&b);
}

Test(ws, close_frames)
{
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_ws_close_append(&b, 1000, "bye", 3, mask_key), 0);
    cframe(&b, TR_WS_OP_TEXT, true, "ignored after close", 19);
    tr_buf_append(&b, "\xff\xff garbage", 10);
    struct rec r = {0};
    parse_all(&r, b.data, b.len, 1000, true);
    cr_assert_eq(r.err_code, 0);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.ev[0].type, TR_WS_CLOSE);
    cr_assert_eq(r.ev[0].code, 1000);
    cr_assert_str_eq(r.ev[0].reason, "bye");
    rec_free(&r);
    /* empty close: 1005 */
    tr_buf_reset(&b);
    cr_assert_eq(tr_ws_close_append(&b, 0, NULL, 0, mask_key), 0);
    cr_assert_eq(b.len, 6);
    parse_all(&r, b.data, b.len, 1000, true);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.ev[0].code, TR_WS_CLOSE_NO_STATUS);
    cr_assert_str_eq(r.ev[0].reason, "");
    rec_free(&r);
    /* application codes */
    tr_buf_reset(&b);
    cr_assert_eq(tr_ws_close_append(&b, 4999, "x", 1, NULL), 0);
    parse_all(&r, b.data, b.len, 1000, false);
    cr_assert_eq(r.ev[0].code, 4999);
    rec_free(&r);
    tr_buf_free(&b);
}

struct bad_case {
    const char *name;
    uint8_t hdr[16];
    size_t hn;
    size_t payload;
    uint16_t code;
};

Test(ws, bad_frames_give_the_right_close_code)
{
    /* headers of client frames (mask bit set, key 0: payload as is) */
    static const struct bad_case cases[] = {
        {"rsv1", {0xc1, 0x80, 0, 0, 0, 0}, 6, 0, 1002},
        {"rsv3", {0x91, 0x80, 0, 0, 0, 0}, 6, 0, 1002},
        {"opcode 3", {0x83, 0x80, 0, 0, 0, 0}, 6, 0, 1002},
        {"opcode 0xb", {0x8b, 0x80, 0, 0, 0, 0}, 6, 0, 1002},
        {"ping 126", {0x89, 0xfe, 0, 126, 0, 0, 0, 0}, 8, 126, 1002},
        {"fragmented ping", {0x09, 0x80, 0, 0, 0, 0}, 6, 0, 1002},
        {"fragmented close", {0x08, 0x80, 0, 0, 0, 0}, 6, 0, 1002},
        {"lone continuation", {0x80, 0x80, 0, 0, 0, 0}, 6, 0, 1002},
        {"unmasked", {0x81, 0x00}, 2, 0, 1002},
        {"64-bit top bit",
         {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0},
         14,
         0,
         1002},
        {"too big", {0x82, 0xfe, 0x04, 0x01, 0, 0, 0, 0}, 8, 0, 1009},
        {"huge", {0x82, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 14, 0, 1009},
        {"bad utf-8", {0x81, 0x82, 0, 0, 0, 0, 0xc0, 0xaf}, 8, 0, 1007},
        {"close 1 byte", {0x88, 0x81, 0, 0, 0, 0, 0x03}, 7, 0, 1002},
        {"close 1005", {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xed}, 8, 0, 1002},
        {"close 1006", {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xee}, 8, 0, 1002},
        {"close 999", {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe7}, 8, 0, 1002},
        {"close 2000", {0x88, 0x82, 0, 0, 0, 0, 0x07, 0xd0}, 8, 0, 1002},
        {"close 5000", {0x88, 0x82, 0, 0, 0, 0, 0x13, 0x88}, 8, 0, 1002},
        {"close reason utf-8",
         {0x88, 0x84, 0, 0, 0, 0, 0x03, 0xe8, 0xed, 0xa0},
         10,
         0,
         1007},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bad_case *c = &cases[i];
        struct tr_buf b;
        tr_buf_init(&b);
        raw(&b, c->hdr, c->hn, c->payload);
        struct rec r = {0};
        parse_all(&r, b.data, b.len, 1024, true);
        cr_assert_eq(r.n, 0, "%s", c->name);
        cr_assert_eq(r.err_code, c->code, "%s: got %u (%s)", c->name,
                     r.err_code, r.errmsg);
        rec_free(&r);
        tr_buf_free(&b);
    }
}

Test(ws, message_bound_and_sequence_errors_across_fragments)
{
    struct tr_buf b;
    tr_buf_init(&b);
    char big[600];
    memset(big, 'a', sizeof(big));
    /* 600 + 600 > 1000: the second fragment's header fails with 1009 */
    cframe(&b, TR_WS_OP_TEXT, false, big, 600);
    cframe(&b, TR_WS_OP_CONT, true, big, 600);
    struct rec r = {0};
    parse_all(&r, b.data, b.len, 1000, true);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(r.err_code, TR_WS_CLOSE_TOO_BIG);
    rec_free(&r);
    /* exactly at the bound is fine */
    tr_buf_reset(&b);
    cframe(&b, TR_WS_OP_TEXT, false, big, 600);
    cframe(&b, TR_WS_OP_CONT, true, big, 400);
    parse_all(&r, b.data, b.len, 1000, true);
    cr_assert_eq(r.err_code, 0);
    cr_assert_eq(r.ev[0].len, 1000);
    rec_free(&r);
    /* a new text frame inside a fragmented message */
    tr_buf_reset(&b);
    cframe(&b, TR_WS_OP_TEXT, false, "a", 1);
    cframe(&b, TR_WS_OP_TEXT, true, "b", 1);
    parse_all(&r, b.data, b.len, 1000, true);
    cr_assert_eq(r.err_code, TR_WS_CLOSE_PROTOCOL);
    cr_assert(strstr(r.errmsg, "before the fragmented message ended"));
    rec_free(&r);
    /* invalid UTF-8 only visible once the fragments are joined */
    tr_buf_reset(&b);
    cframe(&b, TR_WS_OP_TEXT, false, "ok \xe2\x82", 5);
    cframe(&b, TR_WS_OP_CONT, true, "x", 1);
    parse_all(&r, b.data, b.len, 1000, true);
    cr_assert_eq(r.err_code, TR_WS_CLOSE_BAD_DATA);
    rec_free(&r);
    tr_buf_free(&b);
}

/* Events of the whole stream must not depend on how it is cut. */
static void check_every_split(const struct tr_buf *b, bool server)
{
    const uint8_t *d = (const uint8_t *)b->data;
    struct rec want = {0};
    parse_all(&want, d, b->len, 1 << 20, server);
    cr_assert_gt(want.n, 0);
    char ctx[64];
    for (size_t k = 0; k <= b->len; k++) {
        struct tr_ws_parser p;
        tr_ws_parser_init(&p, 1 << 20, server);
        struct rec got = {0};
        feed(&p, &got, d, k);
        if (got.err_code == 0) {
            feed(&p, &got, d + k, b->len - k);
        }
        snprintf(ctx, sizeof(ctx), "split at %zu", k);
        rec_eq(&want, &got, ctx);
        rec_free(&got);
        tr_ws_parser_free(&p);
    }
    /* one byte at a time */
    struct tr_ws_parser p;
    tr_ws_parser_init(&p, 1 << 20, server);
    struct rec got = {0};
    for (size_t i = 0; i < b->len && got.err_code == 0; i++) {
        feed(&p, &got, d + i, 1);
    }
    rec_eq(&want, &got, "byte by byte");
    rec_free(&got);
    rec_free(&want);
    tr_ws_parser_free(&p);
}

Test(ws, every_prefix_parses_to_the_same_events)
{
    char mid[300];
    for (size_t i = 0; i < sizeof(mid); i++) {
        mid[i] = (char)('A' + i % 50);
    }
    struct tr_buf b;
    tr_buf_init(&b);
    cframe(&b, TR_WS_OP_TEXT, true, "", 0);
    cframe(&b, TR_WS_OP_TEXT, true, "hello", 5);
    cframe(&b, TR_WS_OP_BINARY, false, mid, 126);
    cframe(&b, TR_WS_OP_PING, true, "are you there", 13);
    cframe(&b, TR_WS_OP_CONT, true, mid, 300);
    cframe(&b, TR_WS_OP_PONG, true, mid, 125);
    cframe(&b, TR_WS_OP_TEXT, false, "\xe2\x82", 2);
    cframe(&b, TR_WS_OP_CONT, true, "\xac", 1);
    cr_assert_eq(tr_ws_close_append(&b, 1001, "going", 5, mask_key), 0);
    check_every_split(&b, true);
    /* the same from the server side (unmasked) */
    tr_buf_reset(&b);
    tr_ws_frame_append(&b, TR_WS_OP_TEXT, true, mid, 200, NULL);
    tr_ws_frame_append(&b, TR_WS_OP_PING, true, "", 0, NULL);
    tr_ws_close_append(&b, 1000, NULL, 0, NULL);
    check_every_split(&b, false);
    /* and a stream ending in an error */
    tr_buf_reset(&b);
    cframe(&b, TR_WS_OP_TEXT, true, "fine", 4);
    cframe(&b, TR_WS_OP_TEXT, true, "\xff", 1);
    check_every_split(&b, true);
    tr_buf_free(&b);
}

Test(ws, encoder_limits)
{
    struct tr_buf b;
    tr_buf_init(&b);
    char big[200];
    memset(big, 'x', sizeof(big));
    cr_assert_eq(tr_ws_frame_append(&b, TR_WS_OP_PING, true, big, 126, NULL),
                 TR_EINVAL);
    cr_assert_eq(tr_ws_frame_append(&b, TR_WS_OP_PONG, false, "", 0, NULL),
                 TR_EINVAL);
    cr_assert_eq(
        tr_ws_frame_append(&b, (enum tr_ws_opcode)3, true, "", 0, NULL),
        TR_EINVAL);
    cr_assert_eq(tr_ws_close_append(&b, 1006, "", 0, NULL), TR_EINVAL);
    cr_assert_eq(tr_ws_close_append(&b, 1005 + 1000, "", 0, NULL), TR_EINVAL);
    cr_assert_eq(b.len, 0);
    /* a long reason is cut to 123 bytes, at a character boundary */
    char reason[200];
    memset(reason, 'r', sizeof(reason));
    memcpy(reason + 121, "\xe2\x82\xac", 3); /* bytes 121..123 */
    cr_assert_eq(tr_ws_close_append(&b, 1011, reason, sizeof(reason), NULL), 0);
    cr_assert_eq(b.len, 2 + 2 + 121);
    struct rec r = {0};
    parse_all(&r, b.data, b.len, 0, false);
    cr_assert_eq(r.err_code, 0, "%s", r.errmsg);
    cr_assert_eq(r.ev[0].code, 1011);
    cr_assert_eq(strlen(r.ev[0].reason), 121);
    rec_free(&r);
    tr_buf_reset(&b);
    memset(reason, 'r', sizeof(reason));
    cr_assert_eq(tr_ws_close_append(&b, 1000, reason, sizeof(reason), NULL), 0);
    cr_assert_eq(b.len, 2 + 125);
    tr_buf_free(&b);
}
