/* fuzz_otlp.h - checks shared by the OTLP fuzz drivers (fuzz_otlp_logs.c,
 * fuzz_otlp_traces.c): a failed check aborts, which libFuzzer reports as a
 * crash; protobuf slices must lie inside the input. Static functions: each
 * driver is one translation unit. */
#ifndef TR_FUZZ_OTLP_H
#define TR_FUZZ_OTLP_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/otlp_common.h"

static void check(int cond)
{
    if (!cond) {
        abort();
    }
}

static void inside(struct tr_slice s, const uint8_t *data, size_t size)
{
    if (s.len == 0) {
        return;
    }
    const uint8_t *p = (const uint8_t *)s.base;
    check(p >= data && p + s.len <= data + size);
}

static void value_inside(const struct tr_otlp_value *v,
                         const uint8_t *data,
                         size_t size)
{
    if (v->type == TR_OTLP_STRING || v->type == TR_OTLP_BYTES) {
        inside(v->s, data, size);
    }
    for (size_t i = 0; v->type == TR_OTLP_ARRAY && i < v->n; i++) {
        value_inside(&v->items[i], data, size);
    }
    for (size_t i = 0; v->type == TR_OTLP_KVLIST && i < v->n; i++) {
        inside(v->kvs[i].key, data, size);
        value_inside(&v->kvs[i].value, data, size);
    }
}

static void kvs_inside(const struct tr_otlp_kv *kvs,
                       size_t n,
                       const uint8_t *data,
                       size_t size)
{
    for (size_t i = 0; i < n; i++) {
        inside(kvs[i].key, data, size);
        value_inside(&kvs[i].value, data, size);
    }
}

#endif
