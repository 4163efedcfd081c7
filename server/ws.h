/* ws.h - the WebSocket protocol (RFC 6455) without sockets: the opening
 * handshake's checks and accept key, an incremental frame parser and the
 * frame encoder. Pure: no libuv, no threads (server/http_ws.c runs
 * connections on top of it; fuzz/fuzz_ws_frame.c fuzzes the parser).
 *
 * Frame layout (RFC 6455 section 5.2), all integers big-endian:
 *
 *   OFFSET  SIZE  DESCRIPTION
 *   0       1     bit 7 FIN (last frame of a message); bits 6..4 RSV1..3
 *                 (no extension is negotiated: must be 0); bits 3..0
 *                 opcode: 0x0 continuation, 0x1 text, 0x2 binary,
 *                 0x8 close, 0x9 ping, 0xA pong (others reserved)
 *   1       1     bit 7 MASK; bits 6..0 length L7
 *   2       0/2/8 extended length: none if L7 <= 125 (length = L7);
 *                 a u16 if L7 = 126; a u64 (top bit 0) if L7 = 127
 *   2+E     0/4   masking key, present iff MASK
 *   2+E+M   len   payload; when masked, byte i is XORed with key[i % 4]
 *
 * Frames from a client to a server are masked, frames from a server are
 * not. A message is one text/binary frame with FIN, or a first frame with
 * FIN clear followed by continuation frames up to one with FIN. Control
 * frames (close, ping, pong) have FIN set and at most 125 payload bytes and
 * may come between the fragments of a message. A close frame's payload is
 * empty, or a u16 status code followed by a UTF-8 reason.
 *
 * The parser is lenient in one way: a length need not use the shortest
 * encoding (a 5-byte payload announced with the u16 form is accepted). */
#ifndef TR_SERVER_WS_H
#define TR_SERVER_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

struct tr_http_request;

enum tr_ws_opcode {
    TR_WS_OP_CONT = 0x0,
    TR_WS_OP_TEXT = 0x1,
    TR_WS_OP_BINARY = 0x2,
    TR_WS_OP_CLOSE = 0x8,
    TR_WS_OP_PING = 0x9,
    TR_WS_OP_PONG = 0xA,
};

/* Close status codes (RFC 6455 section 7.4.1). 1005 and 1006 are never
 * sent in a frame: they report "no code" and "closed without a frame". */
enum tr_ws_close_code {
    TR_WS_CLOSE_NORMAL = 1000,
    TR_WS_CLOSE_GOING_AWAY = 1001,
    TR_WS_CLOSE_PROTOCOL = 1002,
    TR_WS_CLOSE_UNSUPPORTED = 1003,
    TR_WS_CLOSE_NO_STATUS = 1005,
    TR_WS_CLOSE_ABNORMAL = 1006,
    TR_WS_CLOSE_BAD_DATA = 1007, /* e.g. text that is not UTF-8 */
    TR_WS_CLOSE_POLICY = 1008,
    TR_WS_CLOSE_TOO_BIG = 1009,
    TR_WS_CLOSE_INTERNAL = 1011,
};

#define TR_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define TR_WS_ACCEPT_SIZE 29       /* 28 base64 characters and a NUL */
#define TR_WS_MAX_CONTROL 125      /* payload of a control frame */
#define TR_WS_MAX_HEADER 14        /* 2 + 8 length + 4 mask */
#define TR_WS_MAX_CLOSE_REASON 123 /* 125 minus the code */

/* ---- handshake --------------------------------------------------------- */

/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (RFC 6455 section
 * 4.2.2): base64(SHA-1(key + TR_WS_GUID)), written NUL-terminated to out.
 * The key is used as given (the caller has checked it). */
void tr_ws_accept_key(struct tr_slice client_key, char out[TR_WS_ACCEPT_SIZE]);

/* Checks that req is a WebSocket opening handshake the server can accept
 * (RFC 6455 section 4.2.1): method GET, HTTP/1.1 or later (http_minor is
 * the request's HTTP/1.<minor>), an Upgrade header whose token list holds
 * "websocket" and a Connection header whose token list holds "upgrade"
 * (both case-insensitive; several headers of the name are all read),
 * Sec-WebSocket-Version 13, and a Sec-WebSocket-Key that is base64 of 16
 * bytes. Returns 0 and writes the accept value to accept; otherwise
 * TR_EPROTO with *status 400 (anything malformed or missing, including a
 * missing version) or 426 (a version other than 13: the response must carry
 * "Sec-WebSocket-Version: 13") and a message for the client in errmsg
 * (TR_ERRMSG_SIZE). */
int tr_ws_handshake_check(const struct tr_http_request *req,
                          int http_minor,
                          char accept[TR_WS_ACCEPT_SIZE],
                          int *status,
                          char *errmsg);

/* ---- parsing ----------------------------------------------------------- */

enum tr_ws_result {
    TR_WS_NEED_MORE = 0, /* every byte given was consumed; feed more */
    TR_WS_MESSAGE = 1,   /* a complete text or binary message */
    TR_WS_PING = 2,
    TR_WS_PONG = 3,
    TR_WS_CLOSE = 4, /* a close frame; the parser then ignores all input */
    TR_WS_ERROR = 5, /* p->close_code and p->errmsg say why; sticky */
};

struct tr_ws_event {
    enum tr_ws_opcode opcode; /* MESSAGE: TEXT or BINARY; else the frame's */
    /* MESSAGE: the reassembled, unmasked message; PING/PONG: the payload;
     * CLOSE: the whole close payload. Valid until the next tr_ws_parse or
     * tr_ws_parser_free; base is never NULL. */
    struct tr_slice payload;
    uint16_t close_code;    /* CLOSE: the code, or 1005 when none */
    struct tr_slice reason; /* CLOSE: UTF-8 reason (may be empty) */
};

enum tr_ws_parse_state {
    TR_WSP_HEADER = 0, /* collecting a frame header */
    TR_WSP_PAYLOAD,    /* reading a frame's payload */
    TR_WSP_CLOSED,     /* a close frame was returned */
    TR_WSP_ERROR,
};

struct tr_ws_parser {
    /* Set by tr_ws_parser_init. */
    size_t max_message; /* payload bytes of one message -> 1009 */
    bool expect_masked; /* true: parse client frames (server side) */
    /* Internal state. */
    enum tr_ws_parse_state state;
    uint8_t hdr[TR_WS_MAX_HEADER]; /* header bytes so far */
    size_t hdr_len;
    size_t hdr_need;   /* bytes the header has, once known (>= 2) */
    bool fin;          /* current frame */
    uint8_t opcode;    /* current frame */
    bool masked;       /* current frame */
    uint8_t mask[4];   /* current frame */
    uint64_t left;     /* payload bytes of the current frame still to read */
    uint64_t pos;      /* payload bytes of the current frame read */
    uint8_t msg_op;    /* TEXT/BINARY of the message in progress, 0 = none */
    struct tr_buf msg; /* data message being reassembled */
    bool msg_done;     /* msg was returned: empty it on the next call */
    uint8_t ctl[TR_WS_MAX_CONTROL]; /* control frame payload */
    size_t ctl_len;
    /* Error (after TR_WS_ERROR): the close code to send (1002 protocol,
     * 1007 bad UTF-8, 1009 too big, 1011 out of memory) and why. */
    uint16_t close_code;
    char errmsg[128];
};

/* Initialises p. max_message bounds a data message after reassembly (0
 * means no bound beyond memory); expect_masked is true for a server
 * parsing client frames (unmasked frames are then a protocol error) and
 * false for a client parsing server frames (masked frames are then an
 * error). */
void tr_ws_parser_init(struct tr_ws_parser *p,
                       size_t max_message,
                       bool expect_masked);
/* Frees the message buffer; p may be initialised again. */
void tr_ws_parser_free(struct tr_ws_parser *p);
/* Parses data[0..len). Stops at the first event: returns it (filling *ev)
 * with *consumed set to the bytes used up to and including the frame that
 * completed it; the caller calls again with the rest. TR_WS_NEED_MORE
 * consumes all len bytes (partial frames are kept inside p, so the caller
 * need not keep them). After TR_WS_CLOSE every later call consumes its
 * input and returns TR_WS_NEED_MORE; after TR_WS_ERROR every later call
 * returns TR_WS_ERROR consuming nothing. Checks: RSV bits clear, known
 * opcodes, masking as set at init, control frames final and <= 125 bytes,
 * continuation only inside a message and no new message inside one, the
 * 64-bit length's top bit clear, the message size bound (checked at each
 * frame header, before the payload arrives), text messages and close
 * reasons valid UTF-8, close payload not 1 byte long and its code one a
 * peer may send (1000-1003, 1007-1014, 3000-4999). */
enum tr_ws_result tr_ws_parse(struct tr_ws_parser *p,
                              const void *data,
                              size_t len,
                              size_t *consumed,
                              struct tr_ws_event *ev);

/* True for a close code a peer may put in a close frame. */
bool tr_ws_close_code_valid(unsigned code);

/* ---- encoding ---------------------------------------------------------- */

/* Header bytes of a frame with len payload bytes (masked adds the key). */
size_t tr_ws_frame_header_len(uint64_t len, bool masked);
/* Appends one frame to out: opcode, FIN as given, payload[0..len). mask NULL
 * writes an unmasked frame (server to client); otherwise the frame is
 * masked with the 4 bytes at mask (client to server: tests, fuzzing).
 * Returns 0; TR_EINVAL for a control opcode with len > 125 or without fin,
 * or an opcode that is not one of enum tr_ws_opcode; TR_ENOMEM (out may
 * then hold part of the frame, and out->oom is set). */
int tr_ws_frame_append(struct tr_buf *out,
                       enum tr_ws_opcode opcode,
                       bool fin,
                       const void *payload,
                       size_t len,
                       const uint8_t *mask);
/* Appends a close frame with code and reason[0..reason_len) (reason may be
 * NULL when reason_len is 0). A reason longer than 123 bytes is cut at a
 * UTF-8 character boundary at or before 123 bytes. code 0 (or 1005) sends
 * an empty close payload. mask as for tr_ws_frame_append. Returns 0,
 * TR_EINVAL for a code that may not be sent (see tr_ws_close_code_valid),
 * or TR_ENOMEM. */
int tr_ws_close_append(struct tr_buf *out,
                       unsigned code,
                       const char *reason,
                       size_t reason_len,
                       const uint8_t *mask);

#endif
