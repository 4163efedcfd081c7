/* fuzz_postings_list.c - libFuzzer driver for a sealed shard's posting
 * lists (storage/postings.h, written by storage/seal_compact.c, read by
 * the matcher paths and arriving from peers in shard copies): decoding
 * never reads out of bounds, accepts only strictly ascending ids, and a
 * list it accepts re-encodes to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "storage/postings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct idvec ids = {0};
    int rv =
        postings_list_decode((struct tr_slice){(const char *)data, size}, &ids);
    if (rv != 0 && rv != TR_ECORRUPT && rv != TR_ENOMEM) {
        abort();
    }
    if (rv == 0) {
        for (size_t i = 1; i < ids.n; i++) {
            if (ids.v[i] <= ids.v[i - 1]) {
                abort(); /* accepted ids out of order or repeated */
            }
        }
        struct tr_buf b;
        tr_buf_init(&b);
        tr_buf_put_uvarint(&b, ids.n);
        uint64_t prev = 0;
        for (size_t i = 0; i < ids.n; i++) {
            tr_buf_put_uvarint(&b, ids.v[i] - prev);
            prev = ids.v[i];
        }
        /* varints may be padded on input (0x80 0x00); the ids must agree */
        struct idvec again = {0};
        if (!b.oom &&
            (postings_list_decode(
                 (struct tr_slice){(const char *)b.data, b.len}, &again) != 0 ||
             again.n != ids.n ||
             (ids.n > 0 &&
              memcmp(again.v, ids.v, ids.n * sizeof(uint64_t)) != 0))) {
            abort();
        }
        idvec_free(&again);
        tr_buf_free(&b);
    }
    idvec_free(&ids);
    return 0;
}
