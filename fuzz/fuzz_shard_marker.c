/* fuzz_shard_marker.c - libFuzzer driver for the shard snapshot marker
 * decoder (raft/shard_fsm.h, tr_shard_marker_decode).
 *
 * Properties checked on arbitrary bytes:
 *  - the result is 0 or TR_ECORRUPT, and 0 exactly when the input is a
 *    version 2 marker (TR_SHARD_MARKER_SIZE bytes, "TRSM", version 2, a
 *    known signal) or a version 1 marker (TR_SHARD_MARKER_V1_SIZE bytes,
 *    "TRSM", version 1: a metrics shard);
 *  - when a version 2 marker decodes, re-encoding the fields gives the
 *    input byte for byte; a version 1 marker decodes to the same index,
 *    window and slot as the version 2 marker encoding them would;
 *  - from the other side: the first 19 bytes read as (index, window, slot,
 *    signal) encode to a marker that decodes back to exactly those values
 *    (signal folded onto the known ones). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "raft/shard_fsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t index = 0;
    struct tr_shard_id id = {0, 0, 0};
    int rv = tr_shard_marker_decode(data, size, &index, &id);
    bool magic = size >= 5 && memcmp(data, "TRSM", 4) == 0;
    bool v2 = magic && size == TR_SHARD_MARKER_SIZE && data[4] == 2 &&
              tr_signal_valid(data[13]);
    bool v1 = magic && size == TR_SHARD_MARKER_V1_SIZE && data[4] == 1;
    if (rv != 0 && rv != TR_ECORRUPT) {
        abort();
    }
    if ((rv == 0) != (v1 || v2)) {
        abort();
    }
    if (rv == 0) {
        uint8_t again[TR_SHARD_MARKER_SIZE];
        tr_shard_marker_encode(again, index, &id);
        if (v2 && memcmp(again, data, TR_SHARD_MARKER_SIZE) != 0) {
            abort();
        }
        if (v1 && (id.signal != TR_SIGNAL_METRICS ||
                   memcmp(again + 5, data + 5, 8) != 0 ||
                   memcmp(again + 14, data + 13, 10) != 0)) {
            abort();
        }
    }
    if (size >= 19) {
        uint64_t i0, w0;
        uint16_t s0;
        memcpy(&i0, data, 8);
        memcpy(&w0, data + 8, 8);
        memcpy(&s0, data + 16, 2);
        struct tr_shard_id in = {
            (uint8_t)(TR_SIGNAL_MIN + data[18] % TR_SIGNAL_MAX), (int64_t)w0,
            s0};
        uint8_t m[TR_SHARD_MARKER_SIZE];
        tr_shard_marker_encode(m, i0, &in);
        uint64_t i1;
        struct tr_shard_id out;
        if (tr_shard_marker_decode(m, sizeof(m), &i1, &out) != 0 || i1 != i0 ||
            !tr_shard_eq(&in, &out)) {
            abort();
        }
    }
    return 0;
}
