/* ws.c - WebSocket handshake checks, frame parser and frame encoder
 * (RFC 6455); see ws.h for the frame layout and the contracts.
 *
 * Parser states:
 *
 *            2 bytes: checks             header complete
 *   HEADER ----------------> HEADER -----------------------> PAYLOAD
 *     ^   (opcode, RSV, mask,  (ext. length,   (length and     |
 *     |    control length)      mask key)       size checks)   |
 *     +-------------------- frame complete --------------------+
 *                  (ping/pong/message returned, or fragment kept)
 *   close frame -> CLOSED (input ignored); any failed check -> ERROR */
#include "server/ws.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/base64.h"
#include "lib/err.h"
#include "lib/sha1.h"
#include "server/http.h"

/* ---- handshake --------------------------------------------------------- */

void tr_ws_accept_key(struct tr_slice client_key, char out[TR_WS_ACCEPT_SIZE])
{
    struct tr_sha1 s;
    uint8_t d[TR_SHA1_SIZE];
    tr_sha1_init(&s);
    tr_sha1_update(&s, client_key.base, client_key.len);
    tr_sha1_update(&s, TR_WS_GUID, sizeof(TR_WS_GUID) - 1);
    tr_sha1_final(&s, d);
    tr_base64_encode(d, sizeof(d), out);
}

/* True when the comma-separated list v holds token (case-insensitive,
 * optional white space around items). */
static bool ws__has_token(struct tr_slice v, const char *token)
{
    size_t tl = strlen(token);
    size_t i = 0;
    while (i <= v.len) {
        size_t st = i;
        while (i < v.len && v.base[i] != ',') {
            i++;
        }
        size_t en = i;
        while (st < en && (v.base[st] == ' ' || v.base[st] == '\t')) {
            st++;
        }
        while (en > st && (v.base[en - 1] == ' ' || v.base[en - 1] == '\t')) {
            en--;
        }
        if (en - st == tl && strncasecmp(v.base + st, token, tl) == 0) {
            return true;
        }
        i++; /* past the comma (or the end) */
    }
    return false;
}

/* True when some header called name holds token. found: whether any
 * header of that name exists. */
static bool ws__header_token(const struct tr_http_request *req,
                             const char *name,
                             const char *token,
                             bool *found)
{
    *found = false;
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct tr_http_header *h = &req->headers[i];
        if (!tr_slice_eq_nocase(h->name, name)) {
            continue;
        }
        *found = true;
        if (ws__has_token(h->value, token)) {
            return true;
        }
    }
    return false;
}

int tr_ws_handshake_check(const struct tr_http_request *req,
                          int http_minor,
                          char accept[TR_WS_ACCEPT_SIZE],
                          int *status,
                          char *errmsg)
{
    *status = 400;
    accept[0] = '\0';
    if (req->method != TR_HTTP_GET) {
        return tr_errf(TR_EPROTO, errmsg,
                       "websocket: the opening handshake must be a GET "
                       "request");
    }
    if (http_minor < 1) {
        return tr_errf(TR_EPROTO, errmsg,
                       "websocket: the opening handshake needs HTTP/1.1");
    }
    bool found;
    if (!ws__header_token(req, "Upgrade", "websocket", &found)) {
        return tr_errf(TR_EPROTO, errmsg, "websocket: %s",
                       found ? "the Upgrade header does not name websocket"
                             : "missing Upgrade: websocket header");
    }
    if (!ws__header_token(req, "Connection", "upgrade", &found)) {
        return tr_errf(TR_EPROTO, errmsg, "websocket: %s",
                       found ? "the Connection header does not hold the "
                               "upgrade token"
                             : "missing Connection: Upgrade header");
    }
    const struct tr_slice *ver =
        tr_http_header_get(req, "Sec-WebSocket-Version");
    if (ver == NULL) {
        return tr_errf(TR_EPROTO, errmsg,
                       "websocket: missing Sec-WebSocket-Version header "
                       "(supported: 13)");
    }
    if (!tr_slice_eq_cstr(*ver, "13")) {
        *status = 426;
        return tr_errf(TR_EPROTO, errmsg,
                       "websocket: unsupported Sec-WebSocket-Version "
                       "\"%.*s\" (supported: 13)",
                       (int)(ver->len > 32 ? 32 : ver->len), ver->base);
    }
    const struct tr_slice *key = tr_http_header_get(req, "Sec-WebSocket-Key");
    if (key == NULL) {
        return tr_errf(TR_EPROTO, errmsg,
                       "websocket: missing Sec-WebSocket-Key header");
    }
    uint8_t raw[16];
    size_t n = 0;
    if (tr_base64_decode(key->base, key->len, raw, sizeof(raw), &n) != 0 ||
        n != sizeof(raw)) {
        return tr_errf(TR_EPROTO, errmsg,
                       "websocket: Sec-WebSocket-Key \"%.*s\" is not the "
                       "base64 encoding of 16 bytes",
                       (int)(key->len > 64 ? 64 : key->len), key->base);
    }
    tr_ws_accept_key(*key, accept);
    *status = 101;
    return 0;
}

/* ---- parsing ----------------------------------------------------------- */

void tr_ws_parser_init(struct tr_ws_parser *p,
                       size_t max_message,
                       bool expect_masked)
{
    memset(p, 0, sizeof(*p));
    p->max_message = max_message;
    p->expect_masked = expect_masked;
    p->state = TR_WSP_HEADER;
    tr_buf_init(&p->msg);
}

void tr_ws_parser_free(struct tr_ws_parser *p)
{
    tr_buf_free(&p->msg);
}

bool tr_ws_close_code_valid(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

static enum tr_ws_result ws__fail(struct tr_ws_parser *p,
                                  uint16_t code,
                                  const char *fmt,
                                  ...) __attribute__((format(printf, 3, 4)));

static enum tr_ws_result ws__fail(struct tr_ws_parser *p,
                                  uint16_t code,
                                  const char *fmt,
                                  ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->errmsg, sizeof(p->errmsg), fmt, ap);
    va_end(ap);
    p->close_code = code;
    p->state = TR_WSP_ERROR;
    return TR_WS_ERROR;
}

static bool ws__known_opcode(unsigned op)
{
    return op == TR_WS_OP_CONT || op == TR_WS_OP_TEXT ||
           op == TR_WS_OP_BINARY || op == TR_WS_OP_CLOSE ||
           op == TR_WS_OP_PING || op == TR_WS_OP_PONG;
}

/* Checks the first two header bytes; sets hdr_need. */
static enum tr_ws_result ws__header_start(struct tr_ws_parser *p)
{
    uint8_t b0 = p->hdr[0], b1 = p->hdr[1];
    unsigned op = b0 & 0x0f;
    unsigned l7 = b1 & 0x7f;
    p->fin = (b0 & 0x80) != 0;
    p->opcode = (uint8_t)op;
    p->masked = (b1 & 0x80) != 0;
    if (b0 & 0x70) {
        return ws__fail(p, TR_WS_CLOSE_PROTOCOL,
                        "reserved bits set (0x%02x) but no extension was "
                        "negotiated",
                        (unsigned)(b0 & 0x70));
    }
    if (!ws__known_opcode(op)) {
        return ws__fail(p, TR_WS_CLOSE_PROTOCOL, "unknown opcode 0x%x", op);
    }
    if (op & 0x8) {
        if (!p->fin) {
            return ws__fail(p, TR_WS_CLOSE_PROTOCOL,
                            "fragmented control frame (opcode 0x%x)", op);
        }
        if (l7 > TR_WS_MAX_CONTROL) {
            return ws__fail(p, TR_WS_CLOSE_PROTOCOL,
                            "control frame payload longer than 125 bytes");
        }
    } else if (op == TR_WS_OP_CONT) {
        if (p->msg_op == 0) {
            return ws__fail(p, TR_WS_CLOSE_PROTOCOL,
                            "continuation frame without a message to "
                            "continue");
        }
    } else if (p->msg_op != 0) {
        return ws__fail(p, TR_WS_CLOSE_PROTOCOL,
                        "new data frame before the fragmented message "
                        "ended");
    }
    if (p->masked != p->expect_masked) {
        return ws__fail(p, TR_WS_CLOSE_PROTOCOL,
                        p->expect_masked ? "unmasked frame from a client"
                                         : "masked frame from a server");
    }
    p->hdr_need = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + (p->masked ? 4 : 0);
    return TR_WS_NEED_MORE;
}

/* The header is complete: length, key, size bound. */
static enum tr_ws_result ws__header_done(struct tr_ws_parser *p)
{
    unsigned l7 = p->hdr[1] & 0x7f;
    uint64_t len = l7;
    size_t off = 2;
    if (l7 == 126) {
        len = tr_get_u16be(p->hdr + 2);
        off = 4;
    } else if (l7 == 127) {
        len = tr_get_u64be(p->hdr + 2);
        off = 10;
        if (len >> 63) {
            return ws__fail(p, TR_WS_CLOSE_PROTOCOL,
                            "64-bit payload length with the top bit set");
        }
    }
    if (p->masked) {
        memcpy(p->mask, p->hdr + off, 4);
    }
    if (!(p->opcode & 0x8)) {
        size_t have = p->opcode == TR_WS_OP_CONT ? p->msg.len : 0;
        if (p->max_message > 0 && len > p->max_message - have) {
            return ws__fail(p, TR_WS_CLOSE_TOO_BIG,
                            "message larger than %zu bytes", p->max_message);
        }
        if (len > SIZE_MAX / 4) {
            return ws__fail(p, TR_WS_CLOSE_TOO_BIG, "frame of %llu bytes",
                            (unsigned long long)len);
        }
        if (p->opcode != TR_WS_OP_CONT) {
            p->msg_op = p->opcode;
            tr_buf_reset(&p->msg);
        }
    }
    p->left = len;
    p->pos = 0;
    p->ctl_len = 0;
    return TR_WS_NEED_MORE;
}

/* Copies payload bytes in (unmasking them). */
static enum tr_ws_result ws__payload(struct tr_ws_parser *p,
                                     const uint8_t *in,
                                     size_t n)
{
    uint8_t *dst;
    if (p->opcode & 0x8) {
        dst = p->ctl + p->ctl_len; /* left <= 125 was checked */
        p->ctl_len += n;
    } else {
        if (tr_buf_reserve(&p->msg, n) != 0) {
            return ws__fail(p, TR_WS_CLOSE_INTERNAL,
                            "out of memory for a message");
        }
        dst = (uint8_t *)p->msg.data + p->msg.len;
        p->msg.len += n;
        p->msg.data[p->msg.len] = '\0';
    }
    if (p->masked) {
        for (size_t i = 0; i < n; i++) {
            dst[i] = in[i] ^ p->mask[(p->pos + i) & 3];
        }
    } else if (n > 0) {
        memcpy(dst, in, n);
    }
    p->pos += n;
    p->left -= n;
    return TR_WS_NEED_MORE;
}

/* A frame's payload is complete: an event, or NEED_MORE for a fragment. */
static enum tr_ws_result ws__frame_done(struct tr_ws_parser *p,
                                        struct tr_ws_event *ev)
{
    p->state = TR_WSP_HEADER;
    p->hdr_len = 0;
    p->hdr_need = 0;
    struct tr_slice ctl = {(const char *)p->ctl, p->ctl_len};
    switch (p->opcode) {
        case TR_WS_OP_PING:
        case TR_WS_OP_PONG:
            ev->opcode = (enum tr_ws_opcode)p->opcode;
            ev->payload = ctl;
            return p->opcode == TR_WS_OP_PING ? TR_WS_PING : TR_WS_PONG;
        case TR_WS_OP_CLOSE: {
            ev->opcode = TR_WS_OP_CLOSE;
            ev->payload = ctl;
            ev->close_code = TR_WS_CLOSE_NO_STATUS;
            ev->reason = (struct tr_slice){(const char *)p->ctl, 0};
            if (p->ctl_len == 1) {
                return ws__fail(p, TR_WS_CLOSE_PROTOCOL,
                                "close frame with a 1-byte payload");
            }
            if (p->ctl_len >= 2) {
                unsigned code = tr_get_u16be(p->ctl);
                if (!tr_ws_close_code_valid(code)) {
                    return ws__fail(p, TR_WS_CLOSE_PROTOCOL,
                                    "invalid close code %u", code);
                }
                ev->close_code = (uint16_t)code;
                ev->reason =
                    (struct tr_slice){(const char *)p->ctl + 2, p->ctl_len - 2};
                if (!tr_utf8_valid(ev->reason.base, ev->reason.len)) {
                    return ws__fail(p, TR_WS_CLOSE_BAD_DATA,
                                    "close reason is not valid UTF-8");
                }
            }
            p->state = TR_WSP_CLOSED;
            return TR_WS_CLOSE;
        }
        default:
            break;
    }
    if (!p->fin) {
        return TR_WS_NEED_MORE;
    }
    const char *base = p->msg.data ? p->msg.data : "";
    if (p->msg_op == TR_WS_OP_TEXT && !tr_utf8_valid(base, p->msg.len)) {
        return ws__fail(p, TR_WS_CLOSE_BAD_DATA,
                        "text message is not valid UTF-8");
    }
    ev->opcode = (enum tr_ws_opcode)p->msg_op;
    ev->payload = (struct tr_slice){base, p->msg.len};
    p->msg_op = 0;
    p->msg_done = true;
    return TR_WS_MESSAGE;
}

enum tr_ws_result tr_ws_parse(struct tr_ws_parser *p,
                              const void *data,
                              size_t len,
                              size_t *consumed,
                              struct tr_ws_event *ev)
{
    const uint8_t *in = data;
    size_t i = 0;
    enum tr_ws_result r = TR_WS_NEED_MORE;
    *consumed = 0;
    memset(ev, 0, sizeof(*ev));
    if (p->state == TR_WSP_ERROR) {
        return TR_WS_ERROR;
    }
    if (p->state == TR_WSP_CLOSED) {
        *consumed = len;
        return TR_WS_NEED_MORE;
    }
    if (p->msg_done) {
        p->msg_done = false;
        if (p->msg.cap > 65536) {
            tr_buf_free(&p->msg); /* do not keep a large message's memory */
            tr_buf_init(&p->msg);
        }
        tr_buf_reset(&p->msg);
    }
    while (i < len || (p->state == TR_WSP_PAYLOAD && p->left == 0)) {
        if (p->state == TR_WSP_HEADER) {
            if (p->hdr_len < 2) {
                p->hdr[p->hdr_len++] = in[i++];
                if (p->hdr_len == 2) {
                    r = ws__header_start(p);
                    if (r != TR_WS_NEED_MORE) {
                        break;
                    }
                }
                if (p->hdr_len < 2 || p->hdr_len < p->hdr_need) {
                    continue;
                }
            } else {
                size_t take = p->hdr_need - p->hdr_len;
                if (take > len - i) {
                    take = len - i;
                }
                memcpy(p->hdr + p->hdr_len, in + i, take);
                p->hdr_len += take;
                i += take;
                if (p->hdr_len < p->hdr_need) {
                    continue;
                }
            }
            r = ws__header_done(p);
            if (r != TR_WS_NEED_MORE) {
                break;
            }
            p->state = TR_WSP_PAYLOAD;
        }
        /* TR_WSP_PAYLOAD */
        size_t take = len - i;
        if (p->left < take) {
            take = (size_t)p->left;
        }
        r = ws__payload(p, in + i, take);
        if (r != TR_WS_NEED_MORE) {
            break;
        }
        i += take;
        if (p->left > 0) {
            continue;
        }
        r = ws__frame_done(p, ev);
        if (r != TR_WS_NEED_MORE) {
            break;
        }
    }
    *consumed = i;
    return r;
}

/* ---- encoding ---------------------------------------------------------- */

size_t tr_ws_frame_header_len(uint64_t len, bool masked)
{
    size_t n = len <= 125 ? 2 : len <= 0xffff ? 4 : 10;
    return n + (masked ? 4 : 0);
}

int tr_ws_frame_append(struct tr_buf *out,
                       enum tr_ws_opcode opcode,
                       bool fin,
                       const void *payload,
                       size_t len,
                       const uint8_t *mask)
{
    unsigned op = (unsigned)opcode;
    if (!ws__known_opcode(op) ||
        ((op & 0x8) && (len > TR_WS_MAX_CONTROL || !fin))) {
        return TR_EINVAL;
    }
    uint8_t h[TR_WS_MAX_HEADER];
    size_t n = 0;
    uint8_t mbit = mask ? 0x80 : 0;
    h[n++] = (uint8_t)((fin ? 0x80 : 0) | op);
    if (len <= 125) {
        h[n++] = (uint8_t)(mbit | len);
    } else if (len <= 0xffff) {
        h[n++] = (uint8_t)(mbit | 126);
        tr_put_u16be(h + n, (uint16_t)len);
        n += 2;
    } else {
        h[n++] = (uint8_t)(mbit | 127);
        tr_put_u64be(h + n, (uint64_t)len);
        n += 8;
    }
    if (mask) {
        memcpy(h + n, mask, 4);
        n += 4;
    }
    if (len > SIZE_MAX / 2 || tr_buf_reserve(out, n + len) != 0) {
        out->oom = true;
        return TR_ENOMEM;
    }
    memcpy(out->data + out->len, h, n);
    out->len += n;
    const uint8_t *src = payload;
    uint8_t *dst = (uint8_t *)out->data + out->len;
    if (mask) {
        for (size_t i = 0; i < len; i++) {
            dst[i] = src[i] ^ mask[i & 3];
        }
    } else if (len > 0) {
        memcpy(dst, src, len);
    }
    out->len += len;
    out->data[out->len] = '\0';
    return 0;
}

int tr_ws_close_append(struct tr_buf *out,
                       unsigned code,
                       const char *reason,
                       size_t reason_len,
                       const uint8_t *mask)
{
    uint8_t pl[TR_WS_MAX_CONTROL] = {0};
    if (code == 0 || code == TR_WS_CLOSE_NO_STATUS) {
        return tr_ws_frame_append(out, TR_WS_OP_CLOSE, true, pl, 0, mask);
    }
    if (!tr_ws_close_code_valid(code)) {
        return TR_EINVAL;
    }
    size_t rl = reason_len;
    if (rl > TR_WS_MAX_CLOSE_REASON) {
        rl = TR_WS_MAX_CLOSE_REASON;
        /* back up over continuation bytes to a character start */
        while (rl > 0 && ((unsigned char)reason[rl] & 0xc0) == 0x80) {
            rl--;
        }
    }
    tr_put_u16be(pl, (uint16_t)code);
    if (rl > 0) {
        memcpy(pl + 2, reason, rl);
    }
    return tr_ws_frame_append(out, TR_WS_OP_CLOSE, true, pl, rl + 2, mask);
}
