/* fuzz_prw.c - libFuzzer driver for the remote-write codecs (proto/prw.c).
 *
 * Runs both decoders on the input (an uncompressed protobuf body). Whatever
 * decodes is re-encoded (1.0 -> 1.0 and 2.0, 2.0 -> 2.0), decoded again and
 * must compare equal, bit for bit for doubles. Seeds: fuzz/corpus/fuzz_prw/
 * (the snappy-decoded captured requests and an encoded 2.0 request).
 *
 *   clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. -Ibuild/gen \
 *     fuzz/fuzz_prw.c proto/prw.c lib/{err,alloc,buf,hash}.c -o fuzz_prw */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "proto/prw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond) {
        abort();
    }
}

static int same_slice(struct tr_slice a, struct tr_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

static int same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

static void same_labels(const struct tr_prw_label *a,
                        const struct tr_prw_label *b,
                        size_t n)
{
    for (size_t i = 0; i < n; i++) {
        check(same_slice(a[i].name, b[i].name));
        check(same_slice(a[i].value, b[i].value));
    }
}

enum {
    CMP_SERIES_MD = 1, /* 2.0 per-series metadata and created timestamp */
    CMP_REQ_MD = 2,    /* 1.0 request-level metadata */
};

/* a and b describe the same series (and what flags ask for). */
static void same_request(const struct tr_prw_request *a,
                         const struct tr_prw_request *b,
                         int flags)
{
    check(a->n_series == b->n_series);
    for (size_t i = 0; i < a->n_series; i++) {
        const struct tr_prw_series *x = &a->series[i], *y = &b->series[i];
        check(x->n_labels == y->n_labels);
        same_labels(x->labels, y->labels, x->n_labels);
        check(x->n_samples == y->n_samples);
        for (size_t j = 0; j < x->n_samples; j++) {
            check(same_bits(x->samples[j].value, y->samples[j].value));
            check(x->samples[j].ts_ms == y->samples[j].ts_ms);
        }
        check(x->n_exemplars == y->n_exemplars);
        for (size_t j = 0; j < x->n_exemplars; j++) {
            const struct tr_prw_exemplar *e = &x->exemplars[j];
            const struct tr_prw_exemplar *f = &y->exemplars[j];
            check(e->n_labels == f->n_labels);
            same_labels(e->labels, f->labels, e->n_labels);
            check(same_bits(e->value, f->value));
            check(e->ts_ms == f->ts_ms);
        }
        if (flags & CMP_SERIES_MD) {
            check(x->has_metadata == y->has_metadata);
            check(x->metadata.type == y->metadata.type);
            check(same_slice(x->metadata.family, y->metadata.family));
            check(same_slice(x->metadata.help, y->metadata.help));
            check(same_slice(x->metadata.unit, y->metadata.unit));
            check(x->created_ts_ms == y->created_ts_ms);
        }
    }
    if (flags & CMP_REQ_MD) {
        check(a->n_metadata == b->n_metadata);
        for (size_t i = 0; i < a->n_metadata; i++) {
            check(a->metadata[i].type == b->metadata[i].type);
            check(same_slice(a->metadata[i].family, b->metadata[i].family));
            check(same_slice(a->metadata[i].help, b->metadata[i].help));
            check(same_slice(a->metadata[i].unit, b->metadata[i].unit));
        }
    }
}

/* Encodes r with encode, decodes the result with decode, compares. */
static void roundtrip(const struct tr_prw_request *r,
                      int (*encode)(const struct tr_prw_request *,
                                    struct tr_buf *),
                      int (*decode)(const void *,
                                    size_t,
                                    struct tr_arena *,
                                    struct tr_prw_request *,
                                    char *),
                      int flags)
{
    struct tr_buf b;
    tr_buf_init(&b);
    check(encode(r, &b) == 0);
    struct tr_arena arena;
    tr_arena_init(&arena, 0);
    struct tr_prw_request again;
    char errmsg[TR_ERRMSG_SIZE];
    check(decode(b.data, b.len, &arena, &again, errmsg) == 0);
    same_request(r, &again, flags);
    tr_arena_free(&arena);
    tr_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tr_arena arena;
    tr_arena_init(&arena, 0);
    struct tr_prw_request r;
    char errmsg[TR_ERRMSG_SIZE];

    int rv = tr_prw_decode_v1(data, size, &arena, &r, errmsg);
    check(rv == 0 || rv == TR_EPROTO);
    if (rv == 0) {
        roundtrip(&r, tr_prw_encode_v1, tr_prw_decode_v1, CMP_REQ_MD);
        roundtrip(&r, tr_prw_encode_v2, tr_prw_decode_v2, 0);
    } else {
        check(strstr(errmsg, "at offset") != NULL);
    }
    tr_arena_reset(&arena);

    rv = tr_prw_decode_v2(data, size, &arena, &r, errmsg);
    check(rv == 0 || rv == TR_EPROTO);
    if (rv == 0) {
        roundtrip(&r, tr_prw_encode_v2, tr_prw_decode_v2, CMP_SERIES_MD);
        roundtrip(&r, tr_prw_encode_v1, tr_prw_decode_v1, CMP_REQ_MD);
    }
    tr_arena_free(&arena);
    return 0;
}
