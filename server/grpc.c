/* grpc.c - gRPC framing, status mapping and grpc-message (grpc.h). */
#include "server/grpc.h"

#include "lib/err.h"

int tr_grpc_unframe(const uint8_t *b,
                    size_t len,
                    bool *compressed,
                    size_t *msg_len,
                    const char **why)
{
    if (len < TR_GRPC_PREFIX) {
        *why = "grpc: the request ended inside a message";
        return TR_EPROTO;
    }
    uint32_t n = ((uint32_t)b[1] << 24) | ((uint32_t)b[2] << 16) |
                 ((uint32_t)b[3] << 8) | b[4];
    if ((size_t)n > len - TR_GRPC_PREFIX) {
        *why = "grpc: the request ended inside a message";
        return TR_EPROTO;
    }
    if (b[0] > 1) {
        *why = "grpc: invalid compressed flag";
        return TR_EPROTO;
    }
    if ((size_t)n != len - TR_GRPC_PREFIX) {
        *why = "grpc: a unary call carries one message";
        return TR_EPROTO;
    }
    *compressed = b[0] == 1;
    *msg_len = n;
    return 0;
}

void tr_grpc_prefix(size_t len, uint8_t out[TR_GRPC_PREFIX])
{
    out[0] = 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

int tr_grpc_code_of_http(int status)
{
    switch (status) {
        case 200:
        case 204:
            return TR_GRPC_OK;
        case 400:
        case 413:
        case 415:
            return TR_GRPC_INVALID_ARGUMENT;
        case 401:
            return TR_GRPC_UNAUTHENTICATED;
        case 403:
            return TR_GRPC_PERMISSION_DENIED;
        case 404:
        case 405:
            return TR_GRPC_UNIMPLEMENTED;
        case 429:
        case 503:
            return TR_GRPC_UNAVAILABLE;
        case 504:
            return TR_GRPC_DEADLINE_EXCEEDED;
        case 500:
            return TR_GRPC_INTERNAL;
        default:
            return TR_GRPC_UNKNOWN;
    }
}

void tr_grpc_message(const char *msg, size_t n, size_t max, struct tr_buf *out)
{
    for (size_t i = 0; i < n && out->len + 3 <= max; i++) {
        unsigned char c = (unsigned char)msg[i];
        if (c >= 0x20 && c <= 0x7e && c != '%') {
            tr_buf_putc(out, (char)c);
        } else {
            tr_buf_printf(out, "%%%02X", c);
        }
    }
}
