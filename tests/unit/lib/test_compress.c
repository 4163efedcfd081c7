/* test_compress.c - round trips, bombs and corrupt input for lib/compress.c */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "lib/compress.h"
#include "lib/err.h"

static char *make_text(size_t n)
{
    char *p = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        p[i] = (char)('a' + (i * 7 + i / 13) % 26);
    }
    p[n] = '\0';
    return p;
}

/* zlib-wrapped or raw deflate of in, with compress2-like settings. */
static void deflate_into(const void *in,
                         size_t n,
                         int wbits,
                         struct tr_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY),
                 Z_OK);
    size_t cap = deflateBound(&zs, (uLong)n) + 16;
    cr_assert_eq(tr_buf_reserve(out, cap), 0);
    zs.next_in = (unsigned char *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = (unsigned char *)out->data;
    zs.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out->len = cap - zs.avail_out;
    deflateEnd(&zs);
}

Test(compress, snappy_roundtrip)
{
    size_t sizes[] = {0, 1, 100, 70000, 1 << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char *t = make_text(sizes[i]);
        struct tr_buf enc, dec;
        tr_buf_init(&enc);
        tr_buf_init(&dec);
        cr_assert_eq(tr_snappy_encode(t, sizes[i], &enc), 0);
        char err[TR_ERRMSG_SIZE];
        cr_assert_eq(tr_snappy_decode(enc.data, enc.len, sizes[i], &dec, err),
                     0, "%s", err);
        cr_assert_eq(dec.len, sizes[i]);
        cr_assert(sizes[i] == 0 || memcmp(dec.data, t, sizes[i]) == 0);
        tr_buf_free(&enc);
        tr_buf_free(&dec);
        free(t);
    }
}

Test(compress, snappy_limit_and_corrupt)
{
    char *t = make_text(10000);
    struct tr_buf enc, dec;
    tr_buf_init(&enc);
    tr_buf_init(&dec);
    cr_assert_eq(tr_snappy_encode(t, 10000, &enc), 0);
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_snappy_decode(enc.data, enc.len, 9999, &dec, err),
                 TR_ETOOLARGE);
    cr_assert_eq(dec.len, 0);
    /* truncated */
    cr_assert_eq(tr_snappy_decode(enc.data, enc.len / 2, 1 << 20, &dec, err),
                 TR_EPROTO);
    cr_assert_str_eq(err, "snappy: corrupt input");
    /* forged huge length header: 0xff 0xff 0xff 0xff 0x0f = 4 GiB */
    const char bomb[] = "\xff\xff\xff\xff\x0f\x00";
    cr_assert_eq(tr_snappy_decode(bomb, 6, 1 << 20, &dec, err), TR_ETOOLARGE);
    /* garbage */
    cr_assert_eq(tr_snappy_decode("\x80", 1, 100, &dec, err), TR_EPROTO);
    cr_assert_eq(tr_snappy_decode("", 0, 100, &dec, err), TR_EPROTO);
    tr_buf_free(&enc);
    tr_buf_free(&dec);
    free(t);
}

Test(compress, gzip_roundtrip_and_append)
{
    char *t = make_text(300000);
    struct tr_buf enc, dec;
    tr_buf_init(&enc);
    tr_buf_init(&dec);
    cr_assert_eq(tr_gzip_encode(t, 300000, &enc), 0);
    cr_assert_lt(enc.len, 300000);
    tr_buf_puts(&dec, "prefix");
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_gzip_decode(enc.data, enc.len, 300000, &dec, err), 0, "%s",
                 err);
    cr_assert_eq(dec.len, 300006);
    cr_assert(memcmp(dec.data, "prefix", 6) == 0);
    cr_assert(memcmp(dec.data + 6, t, 300000) == 0);
    tr_buf_free(&enc);
    tr_buf_free(&dec);
    free(t);
}

Test(compress, gzip_multi_member)
{
    struct tr_buf enc, dec;
    tr_buf_init(&enc);
    tr_buf_init(&dec);
    cr_assert_eq(tr_gzip_encode("hello ", 6, &enc), 0);
    cr_assert_eq(tr_gzip_encode("world", 5, &enc), 0);
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_gzip_decode(enc.data, enc.len, 100, &dec, err), 0, "%s",
                 err);
    cr_assert_str_eq(dec.data, "hello world");
    tr_buf_free(&enc);
    tr_buf_free(&dec);
}

Test(compress, gzip_bomb)
{
    /* 64 MiB of zeros compresses to ~64 KiB; the limit stops it early. */
    size_t n = 64u << 20;
    char *z = calloc(1, n);
    struct tr_buf enc, dec;
    tr_buf_init(&enc);
    tr_buf_init(&dec);
    cr_assert_eq(tr_gzip_encode(z, n, &enc), 0);
    free(z);
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_gzip_decode(enc.data, enc.len, 1 << 20, &dec, err),
                 TR_ETOOLARGE);
    cr_assert(strstr(err, "exceeds limit") != NULL, "%s", err);
    cr_assert_eq(dec.len, 0);
    cr_assert_leq(dec.cap, (2u << 20) + 1);
    /* exact fit is fine */
    cr_assert_eq(tr_gzip_decode(enc.data, enc.len, n, &dec, err), 0);
    cr_assert_eq(dec.len, n);
    tr_buf_free(&enc);
    tr_buf_free(&dec);
}

Test(compress, gzip_corrupt)
{
    struct tr_buf enc, dec;
    tr_buf_init(&enc);
    tr_buf_init(&dec);
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_gzip_decode("hello", 5, 100, &dec, err), TR_EPROTO);
    cr_assert_str_eq(err, "gzip: invalid header");
    cr_assert_eq(tr_gzip_decode("", 0, 100, &dec, err), TR_EPROTO);
    cr_assert_eq(tr_gzip_encode("hello world hello world", 23, &enc), 0);
    cr_assert_eq(tr_gzip_decode(enc.data, enc.len - 4, 100, &dec, err),
                 TR_EPROTO);
    cr_assert_str_eq(err, "gzip: unexpected EOF");
    enc.data[enc.len - 1] ^= 0x55; /* length trailer */
    cr_assert_eq(tr_gzip_decode(enc.data, enc.len, 100, &dec, err), TR_EPROTO);
    cr_assert(strncmp(err, "gzip: ", 6) == 0);
    enc.data[enc.len - 1] ^= 0x55;
    enc.data[enc.len - 6] ^= 0x55; /* crc */
    cr_assert_eq(tr_gzip_decode(enc.data, enc.len, 100, &dec, err), TR_EPROTO);
    enc.data[enc.len - 6] ^= 0x55;
    tr_buf_puts(&enc, "junk");
    cr_assert_eq(tr_gzip_decode(enc.data, enc.len, 100, &dec, err), TR_EPROTO);
    cr_assert(strstr(err, "trailing garbage") != NULL, "%s", err);
    cr_assert_eq(dec.len, 0);
    tr_buf_free(&enc);
    tr_buf_free(&dec);
}

Test(compress, deflate_zlib_and_raw)
{
    char *t = make_text(50000);
    struct tr_buf enc, dec;
    char err[TR_ERRMSG_SIZE];
    int wbits[] = {15, -15};
    for (int i = 0; i < 2; i++) {
        tr_buf_init(&enc);
        tr_buf_init(&dec);
        deflate_into(t, 50000, wbits[i], &enc);
        cr_assert_eq(tr_deflate_decode(enc.data, enc.len, 50000, &dec, err), 0,
                     "%s", err);
        cr_assert_eq(dec.len, 50000);
        cr_assert(memcmp(dec.data, t, 50000) == 0);
        tr_buf_reset(&dec);
        cr_assert_eq(tr_deflate_decode(enc.data, enc.len, 49999, &dec, err),
                     TR_ETOOLARGE);
        cr_assert_eq(tr_deflate_decode(enc.data, enc.len / 2, 50000, &dec, err),
                     TR_EPROTO);
        cr_assert(strncmp(err, "deflate: ", 9) == 0, "%s", err);
        tr_buf_free(&enc);
        tr_buf_free(&dec);
    }
    tr_buf_init(&dec);
    cr_assert_eq(tr_deflate_decode("\xff\xff\xff", 3, 100, &dec, err),
                 TR_EPROTO);
    tr_buf_free(&dec);
    free(t);
}
