/* fuzz_chunk_record.c - libFuzzer driver for persisted chunk records
 * (storage/chunk_record.c): the bulk decoder of the query path must accept
 * exactly the records the general reader accepts, return the same samples
 * for the whole time range, and the subset inside a window. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/chunk_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cap = tr_chunk_record_count(data, size);
    if (cap > 65536) {
        return 0;
    }
    struct tr_sample *d = malloc((cap ? cap : 1) * sizeof(*d));
    struct tr_sample *w = malloc((cap ? cap : 1) * sizeof(*w));
    long got = tr_chunk_record_decode(data, size, INT64_MIN, INT64_MAX, d);
    if (got > (long)cap) {
        abort();
    }
    struct tr_chunk_reader r;
    long k = 0;
    int rv = tr_chunk_reader_init(&r, data, size);
    if (rv == 0) {
        int64_t t;
        double v;
        while ((rv = tr_chunk_reader_next(&r, &t, &v)) == 1) {
            if (got >= 0 && (k >= got || d[k].t != t ||
                             memcmp(&d[k].v, &v, sizeof(v)) != 0)) {
                abort(); /* different samples */
            }
            k++;
        }
    }
    if ((rv == 0) != (got >= 0) || (got >= 0 && k != got)) {
        abort(); /* one accepts what the other rejects */
    }
    int sorted = 1;
    for (long i = 1; i < got; i++) {
        sorted = sorted && d[i - 1].t < d[i].t;
    }
    if (got > 2 && sorted) {
        /* a window: the samples strictly inside the first and last (the
         * decoder cuts windows assuming times increase, as real records'
         * do; garbage may decode to any order) */
        int64_t lo = d[0].t + 1, hi = d[got - 1].t - 1;
        long wn = tr_chunk_record_decode(data, size, lo, hi, w);
        long want = 0;
        for (long i = 0; i < got; i++) {
            if (d[i].t >= lo && d[i].t <= hi) {
                if (wn <= want || w[want].t != d[i].t) {
                    abort();
                }
                want++;
            }
        }
        if (wn != want) {
            abort();
        }
    }
    free(d);
    free(w);
    return 0;
}
