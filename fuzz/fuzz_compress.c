/* fuzz_compress.c - libFuzzer driver for the body codecs in lib/compress.h:
 * the snappy, gzip and deflate decoders on arbitrary bytes with a 1 MiB
 * output limit.
 *
 * Properties checked: each decoder returns 0, TR_EPROTO, TR_ETOOLARGE or
 * TR_ENOMEM; on success no more than max_out bytes were appended, on error
 * nothing was; output stays NUL-terminated; what decoded re-encodes (snappy,
 * gzip) and decodes back to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/compress.h"
#include "lib/err.h"

#define MAX_OUT ((size_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef int decode_fn(const void *in,
                      size_t n,
                      size_t max_out,
                      struct tr_buf *out,
                      char *errmsg);
typedef int encode_fn(const void *in, size_t n, struct tr_buf *out);

/* Re-encodes out with enc (if any) and decodes it with dec: same bytes. */
static void round_trip(const struct tr_buf *plain,
                       encode_fn *enc,
                       decode_fn *dec)
{
    struct tr_buf c, d;
    char errmsg[TR_ERRMSG_SIZE];
    tr_buf_init(&c);
    tr_buf_init(&d);
    if (enc(plain->data, plain->len, &c) == 0) {
        if (dec(c.data, c.len, MAX_OUT, &d, errmsg) != 0 ||
            d.len != plain->len ||
            (d.len > 0 && memcmp(d.data, plain->data, d.len) != 0)) {
            abort(); /* decode(encode(x)) != x */
        }
    }
    tr_buf_free(&d);
    tr_buf_free(&c);
}

static void check(decode_fn *dec,
                  encode_fn *enc,
                  const uint8_t *data,
                  size_t size)
{
    static const char prefix[] = "prefix";
    struct tr_buf out;
    char errmsg[TR_ERRMSG_SIZE];
    tr_buf_init(&out);
    /* Decoders append: start with something already in the buffer. */
    if (tr_buf_append(&out, prefix, sizeof(prefix) - 1) != 0) {
        return;
    }
    size_t start = out.len;
    errmsg[0] = '\0';
    int rv = dec(data, size, MAX_OUT, &out, errmsg);
    if (memcmp(out.data, prefix, start) != 0 || out.data[out.len] != '\0') {
        abort();
    }
    if (rv == 0) {
        if (out.len - start > MAX_OUT) {
            abort(); /* limit ignored */
        }
    } else if (rv == TR_EPROTO || rv == TR_ETOOLARGE || rv == TR_ENOMEM) {
        if (out.len != start || errmsg[0] == '\0') {
            abort(); /* partial output left behind or no message */
        }
    } else {
        abort();
    }
    if (rv == 0 && enc != NULL) {
        struct tr_buf plain;
        tr_buf_init(&plain);
        if (tr_buf_append(&plain, out.data + start, out.len - start) == 0) {
            round_trip(&plain, enc, dec);
        }
        tr_buf_free(&plain);
    }
    tr_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(tr_snappy_decode, tr_snappy_encode, data, size);
    check(tr_gzip_decode, tr_gzip_encode, data, size);
    check(tr_deflate_decode, NULL, data, size);

    /* The input itself as plain text through both encoders. */
    if (size <= MAX_OUT) {
        struct tr_buf plain;
        tr_buf_init(&plain);
        if (tr_buf_append(&plain, data, size) == 0) {
            round_trip(&plain, tr_snappy_encode, tr_snappy_decode);
            round_trip(&plain, tr_gzip_encode, tr_gzip_decode);
        }
        tr_buf_free(&plain);
    }
    return 0;
}
