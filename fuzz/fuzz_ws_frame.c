/* fuzz_ws_frame.c - libFuzzer driver for the WebSocket frame parser
 * (server/ws.c).
 *
 * Input: byte 0 picks the side (bit 0: server, parsing masked client
 * frames; else client) and the message bound (bits 1-2: 64, 1024, 65536
 * bytes or none); byte 1 seeds the chunking; the rest is the stream. The
 * stream is parsed in one piece and again in pseudo-random pieces of 1..64
 * bytes (the caller's loop of the server: call again after every event);
 * both must give the same events and the same error. Invariants checked:
 * consumed <= given, NEED_MORE consumes everything, payloads inside the
 * bound, text messages valid UTF-8, control payloads <= 125 bytes, close
 * codes valid (or 1005), error codes among 1002/1007/1009/1011. Every
 * message and close is encoded again (same direction, tr_ws_frame_append /
 * tr_ws_close_append) and must parse back to itself. Seeds:
 * fuzz/corpus/fuzz_ws_frame/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "server/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond) {
        abort();
    }
}

static const size_t bounds[4] = {64, 1024, 65536, 0};

/* Encodes an event again (same direction) and parses it back. */
static void round_trip(enum tr_ws_result r,
                       const struct tr_ws_event *ev,
                       bool server)
{
    static const uint8_t key[4] = {0xa5, 0x00, 0x5a, 0xff};
    const uint8_t *mask = server ? key : NULL;
    struct tr_buf b;
    tr_buf_init(&b);
    if (r == TR_WS_CLOSE) {
        check(tr_ws_close_append(&b, ev->close_code, ev->reason.base,
                                 ev->reason.len, mask) == 0);
    } else {
        check(tr_ws_frame_append(&b, ev->opcode, true, ev->payload.base,
                                 ev->payload.len, mask) == 0);
    }
    struct tr_ws_parser p;
    tr_ws_parser_init(&p, 0, server);
    size_t used;
    struct tr_ws_event back;
    check(tr_ws_parse(&p, b.data, b.len, &used, &back) == r);
    check(used == b.len);
    check(back.opcode == ev->opcode);
    if (r == TR_WS_CLOSE) {
        check(back.close_code == ev->close_code);
        check(back.reason.len == ev->reason.len);
        check(memcmp(back.reason.base, ev->reason.base, ev->reason.len) == 0);
    } else {
        check(back.payload.len == ev->payload.len);
        check(ev->payload.len == 0 ||
              memcmp(back.payload.base, ev->payload.base, ev->payload.len) ==
                  0);
    }
    tr_ws_parser_free(&p);
    tr_buf_free(&b);
}

/* Parses in[0..n) in pieces (step 0: one piece), appending a record of
 * every event to out. Returns the error close code, or 0. */
static uint16_t run(const uint8_t *in,
                    size_t n,
                    bool server,
                    size_t max,
                    uint32_t seed,
                    bool step,
                    struct tr_buf *out)
{
    struct tr_ws_parser p;
    tr_ws_parser_init(&p, max, server);
    size_t off = 0;
    uint16_t err = 0;
    uint32_t x = seed * 2654435761u + 1;
    while (off < n && err == 0) {
        size_t piece = n - off;
        if (step) {
            x = x * 1103515245u + 12345u;
            size_t want = 1 + (x >> 16) % 64;
            piece = want < piece ? want : piece;
        }
        const uint8_t *d = in + off;
        size_t left = piece;
        off += piece;
        for (;;) {
            size_t used = (size_t)-1;
            struct tr_ws_event ev;
            enum tr_ws_result r = tr_ws_parse(&p, d, left, &used, &ev);
            check(used <= left);
            d += used;
            left -= used;
            if (r == TR_WS_NEED_MORE) {
                check(left == 0);
                break;
            }
            if (r == TR_WS_ERROR) {
                err = p.close_code;
                check(err == 1002 || err == 1007 || err == 1009 || err == 1011);
                check(p.errmsg[0] != '\0');
                check(tr_ws_parse(&p, d, left, &used, &ev) == TR_WS_ERROR);
                break;
            }
            check(ev.payload.base != NULL);
            uint8_t rec[12];
            rec[0] = (uint8_t)r;
            rec[1] = (uint8_t)ev.opcode;
            tr_put_u16be(rec + 2, ev.close_code);
            tr_put_u64be(rec + 4, ev.payload.len);
            tr_buf_append(out, rec, sizeof(rec));
            tr_buf_append(out, ev.payload.base, ev.payload.len);
            switch (r) {
                case TR_WS_MESSAGE:
                    check(ev.opcode == TR_WS_OP_TEXT ||
                          ev.opcode == TR_WS_OP_BINARY);
                    check(max == 0 || ev.payload.len <= max);
                    check(ev.opcode != TR_WS_OP_TEXT ||
                          tr_utf8_valid(ev.payload.base, ev.payload.len));
                    round_trip(r, &ev, server);
                    break;
                case TR_WS_CLOSE:
                    check(ev.payload.len <= TR_WS_MAX_CONTROL);
                    check(ev.close_code == TR_WS_CLOSE_NO_STATUS ||
                          tr_ws_close_code_valid(ev.close_code));
                    check(tr_utf8_valid(ev.reason.base, ev.reason.len));
                    round_trip(r, &ev, server);
                    break;
                default:
                    check(ev.payload.len <= TR_WS_MAX_CONTROL);
                    break;
            }
            if (left == 0) {
                break;
            }
        }
    }
    tr_ws_parser_free(&p);
    return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    bool server = data[0] & 1;
    size_t max = bounds[(data[0] >> 1) & 3];
    uint32_t seed = data[1];
    struct tr_buf whole, pieces;
    tr_buf_init(&whole);
    tr_buf_init(&pieces);
    uint16_t e1 = run(data + 2, size - 2, server, max, seed, false, &whole);
    uint16_t e2 = run(data + 2, size - 2, server, max, seed, true, &pieces);
    check(!whole.oom && !pieces.oom);
    check(e1 == e2);
    check(whole.len == pieces.len);
    check(whole.len == 0 || memcmp(whole.data, pieces.data, whole.len) == 0);
    tr_buf_free(&whole);
    tr_buf_free(&pieces);
    return 0;
}
