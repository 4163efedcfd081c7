/* fuzz_shard_marker.c - libFuzzer driver for the shard snapshot marker
 * decoder (raft/shard_fsm.h, tr_shard_marker_decode).
 *
 * Properties checked on arbitrary bytes:
 *  - the result is 0 or TR_ECORRUPT, and 0 exactly when the input is
 *    TR_SHARD_MARKER_SIZE bytes starting with "TRSM" and version 1 (every
 *    index, window and slot is valid);
 *  - when it decodes, re-encoding the fields gives the input byte for byte;
 *  - from the other side: the first 18 bytes read as (index, window, slot)
 *    encode to a marker that decodes back to exactly those values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "raft/shard_fsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t index = 0;
    int64_t window = 0;
    uint16_t slot = 0;
    int rv = tr_shard_marker_decode(data, size, &index, &window, &slot);
    int want = size == TR_SHARD_MARKER_SIZE && memcmp(data, "TRSM", 4) == 0 &&
               data[4] == 1;
    if (rv != 0 && rv != TR_ECORRUPT) {
        abort();
    }
    if ((rv == 0) != want) {
        abort();
    }
    if (rv == 0) {
        uint8_t again[TR_SHARD_MARKER_SIZE];
        tr_shard_marker_encode(again, index, window, slot);
        if (memcmp(again, data, TR_SHARD_MARKER_SIZE) != 0) {
            abort();
        }
    }
    if (size >= 18) {
        uint64_t i0, w0;
        uint16_t s0;
        memcpy(&i0, data, 8);
        memcpy(&w0, data + 8, 8);
        memcpy(&s0, data + 16, 2);
        uint8_t m[TR_SHARD_MARKER_SIZE];
        tr_shard_marker_encode(m, i0, (int64_t)w0, s0);
        uint64_t i1;
        int64_t w1;
        uint16_t s1;
        if (tr_shard_marker_decode(m, sizeof(m), &i1, &w1, &s1) != 0 ||
            i1 != i0 || w1 != (int64_t)w0 || s1 != s0) {
            abort();
        }
    }
    return 0;
}
