/* fuzz_raft_handshake.c - libFuzzer driver for the Raft mux handshake
 * parser (raft/transport.h, tr_raft_handshake_parse).
 *
 * Properties checked on arbitrary bytes:
 *  - the result is 0, TR_EPROTO or a positive "need k more bytes" with
 *    size + k <= TR_RAFT_HANDSHAKE_MAX (the reader's buffer never grows);
 *  - when complete: out->len <= size, the group name is valid, id != 0,
 *    and re-encoding the parsed fields gives exactly the first out->len
 *    input bytes;
 *  - prefixes are consistent with the whole: a prefix of a complete
 *    handshake never parses as complete or malformed, and reading exactly
 *    the counts the parser asks for from the start reaches the same end;
 *  - a malformed input stays malformed when more bytes are appended. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "raft/transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tr_raft_handshake hs;
    int rv = tr_raft_handshake_parse(data, size, &hs);
    if (rv > 0) {
        if (size + (size_t)rv > TR_RAFT_HANDSHAKE_MAX) {
            abort();
        }
        return 0;
    }
    if (rv == TR_EPROTO) {
        /* Appending bytes cannot repair it. */
        uint8_t more[TR_RAFT_HANDSHAKE_MAX + 1];
        size_t n = size < TR_RAFT_HANDSHAKE_MAX ? size : TR_RAFT_HANDSHAKE_MAX;
        if (n > 0) {
            memcpy(more, data, n);
        }
        memset(more + n, 'a', sizeof(more) - n);
        struct tr_raft_handshake hs2;
        if (tr_raft_handshake_parse(more, sizeof(more), &hs2) != TR_EPROTO) {
            abort();
        }
        return 0;
    }
    if (rv != 0) {
        abort();
    }
    if (hs.len > size || hs.len > TR_RAFT_HANDSHAKE_MAX || hs.id == 0 ||
        !tr_raft_name_valid(hs.group)) {
        abort();
    }
    uint8_t enc[TR_RAFT_HANDSHAKE_MAX];
    size_t len = 0;
    if (tr_raft_handshake_encode(hs.group, hs.id, hs.address, enc, sizeof(enc),
                                 &len) != 0 ||
        len != hs.len || memcmp(enc, data, len) != 0) {
        abort();
    }
    size_t have = 0;
    for (;;) {
        struct tr_raft_handshake p;
        int r = tr_raft_handshake_parse(data, have, &p);
        if (r == 0) {
            if (have != hs.len || p.len != hs.len) {
                abort();
            }
            break;
        }
        if (r < 0 || have + (size_t)r > hs.len) {
            abort();
        }
        have += (size_t)r;
    }
    return 0;
}
