/* grpc.h - the gRPC wire pieces of a unary call that do not depend on the
 * HTTP/2 session (server/http_h2.c uses them): the length-prefixed message
 * framing, the status an HTTP answer maps to, and the percent-encoding of
 * grpc-message.
 *
 *   length-prefixed message (gRPC over HTTP/2, "Length-Prefixed-Message")
 *   OFFSET  SIZE  DESCRIPTION
 *   0       1     compressed flag: 0, or 1 (compressed with grpc-encoding)
 *   1       4     message length N, big-endian
 *   5       N     the message
 *
 * Pure functions, safe for any input. */
#ifndef TR_SERVER_GRPC_H
#define TR_SERVER_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define TR_GRPC_PREFIX 5

enum tr_grpc_code {
    TR_GRPC_OK = 0,
    TR_GRPC_UNKNOWN = 2,
    TR_GRPC_INVALID_ARGUMENT = 3,
    TR_GRPC_DEADLINE_EXCEEDED = 4,
    TR_GRPC_PERMISSION_DENIED = 7,
    TR_GRPC_RESOURCE_EXHAUSTED = 8,
    TR_GRPC_UNIMPLEMENTED = 12,
    TR_GRPC_INTERNAL = 13,
    TR_GRPC_UNAVAILABLE = 14,
    TR_GRPC_UNAUTHENTICATED = 16,
};

/* The one message of a unary call's request body b[0..len): 0 with
 * *compressed and the message at b + TR_GRPC_PREFIX, *msg_len bytes; else
 * TR_EPROTO with *why set (the body ends inside a message, the flag is
 * neither 0 nor 1, or more than one message follows). */
int tr_grpc_unframe(const uint8_t *b,
                    size_t len,
                    bool *compressed,
                    size_t *msg_len,
                    const char **why);
/* The prefix of an uncompressed message of len bytes. */
void tr_grpc_prefix(size_t len, uint8_t out[TR_GRPC_PREFIX]);
/* The gRPC status of an HTTP answer, as the OTLP spec maps them: 200/204
 * OK; 400, 413, 415 INVALID_ARGUMENT; 401 UNAUTHENTICATED; 403
 * PERMISSION_DENIED; 404, 405 UNIMPLEMENTED; 429, 503 UNAVAILABLE (clients
 * retry it; RESOURCE_EXHAUSTED only with RetryInfo); 504 DEADLINE_EXCEEDED;
 * 500 INTERNAL; anything else UNKNOWN. */
int tr_grpc_code_of_http(int status);
/* Appends msg[0..n) as grpc-message: printable ASCII but '%' as is, other
 * bytes as %XX; stops before out passes max bytes. */
void tr_grpc_message(const char *msg, size_t n, size_t max, struct tr_buf *out);

#endif
