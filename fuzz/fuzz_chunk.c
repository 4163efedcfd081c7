/* fuzz_chunk.c - libFuzzer driver for the XOR chunk decoder: iterates
 * arbitrary bytes, then loads them and appends; a loaded chunk must iterate
 * to the same samples plus the appended one. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "storage/chunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tr_xor_iter it;
    int64_t t, last_t = 0;
    double v;
    int rv;
    size_t count = 0;

    tr_xor_iter_init(&it, data, size);
    while ((rv = tr_xor_iter_next(&it, &t, &v)) == 1) {
        if (count > 0 && t <= last_t) {
            abort(); /* iterator must enforce increasing timestamps */
        }
        last_t = t;
        count++;
    }
    if (rv != 0 && rv != TR_ECORRUPT) {
        abort();
    }

    struct tr_xor_chunk c;
    int lrv = tr_xor_load(&c, data, size);
    if ((lrv == 0) != (rv == 0 && size != 1)) {
        abort(); /* load succeeds exactly when iteration does */
    }
    if (lrv == 0) {
        if (c.count != count || tr_xor_len(&c) > size) {
            abort();
        }
        bool can_append = count == 0 || last_t < INT64_MAX;
        int64_t nt = count == 0 ? 0 : can_append ? last_t + 1 : 0;
        if (!can_append) {
            /* nothing can follow INT64_MAX */
        } else if (tr_xor_append(&c, nt, 42.0) == 0) {
            tr_xor_iter_init(&it, c.data, tr_xor_len(&c));
            size_t k = 0;
            while ((rv = tr_xor_iter_next(&it, &t, &v)) == 1) {
                k++;
            }
            if (rv != 0 || k != count + 1 || t != nt || v != 42.0) {
                abort();
            }
        }
    }
    tr_xor_free(&c);
    return 0;
}
