/* fuzz_grpc_frame.c - libFuzzer driver for the gRPC message framing and
 * grpc-message encoding (server/grpc.c).
 *
 * The input is unframed as a unary call's body: when it is accepted, the
 * message is exactly the rest of the input, and re-framing a message of
 * that length gives the same prefix (uncompressed); when refused, a reason
 * is given. The input is then encoded as grpc-message: every output byte is
 * printable ASCII, '%' appears only as the start of a %XX escape, the
 * output respects its size bound, and decoding the escapes gives back a
 * prefix of the input. Seeds: fuzz/corpus/fuzz_grpc_frame/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "server/grpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond) {
        abort();
    }
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool compressed = false;
    size_t n = 0;
    const char *why = NULL;
    if (tr_grpc_unframe(data, size, &compressed, &n, &why) == 0) {
        check(n + TR_GRPC_PREFIX == size);
        check(compressed == (data[0] == 1));
        uint8_t pre[TR_GRPC_PREFIX];
        tr_grpc_prefix(n, pre);
        check(memcmp(pre + 1, data + 1, 4) == 0 && pre[0] == 0);
    } else {
        check(why != NULL && why[0] != '\0');
    }
    size_t max = size % 64 + 3;
    struct tr_buf m;
    tr_buf_init(&m);
    tr_grpc_message((const char *)data, size, max, &m);
    check(m.len <= max);
    size_t in = 0;
    for (size_t i = 0; i < m.len; i++) {
        char c = m.data[i];
        check(c >= 0x20 && c <= 0x7e);
        if (c == '%') {
            check(i + 2 < m.len);
            int h = hexval(m.data[i + 1]), l = hexval(m.data[i + 2]);
            check(h >= 0 && l >= 0);
            check(in < size && data[in] == (uint8_t)(h * 16 + l));
            i += 2;
        } else {
            check(in < size && data[in] == (uint8_t)c);
        }
        in++;
    }
    tr_buf_free(&m);
    return 0;
}
