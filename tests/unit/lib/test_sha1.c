/* Tests for lib/sha1.c (FIPS 180-1 test vectors, incremental updates at
 * every split) and lib/base64.c (RFC 4648 vectors, strict decoding). */
#include "lib/sha1.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/base64.h"
#include "lib/err.h"

static void hex(const uint8_t d[TR_SHA1_SIZE], char out[41])
{
    for (int i = 0; i < TR_SHA1_SIZE; i++) {
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    }
}

static void check_sha1(const char *msg, size_t n, const char *want)
{
    uint8_t d[TR_SHA1_SIZE];
    char got[41];
    tr_sha1(msg, n, d);
    hex(d, got);
    cr_assert_str_eq(got, want, "sha1 of %zu bytes", n);
}

Test(sha1, fips_vectors)
{
    check_sha1("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    check_sha1("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    const char *two =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_sha1(two, strlen(two), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    /* one block exactly, and 55/56/57 bytes around the padding boundary */
    char buf[64];
    memset(buf, 'a', sizeof(buf));
    check_sha1(buf, 64, "0098ba824b5c16427bd7a1122a5a442a25ec644d");
    check_sha1(buf, 55, "c1c8bbdc22796e28c0e15163d20899b65621d65a");
    check_sha1(buf, 56, "c2db330f6083854c99d4b5bfb6e8f29f201be699");
}

Test(sha1, million_a)
{
    size_t n = 1000000;
    char *m = tr_malloc(n);
    cr_assert_not_null(m);
    memset(m, 'a', n);
    check_sha1(m, n, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    /* the same in uneven pieces */
    struct tr_sha1 s;
    tr_sha1_init(&s);
    size_t off = 0, step = 1;
    while (off < n) {
        size_t take = n - off < step ? n - off : step;
        tr_sha1_update(&s, m + off, take);
        off += take;
        step = step * 7 % 997 + 1;
    }
    uint8_t d[TR_SHA1_SIZE];
    char got[41];
    tr_sha1_final(&s, d);
    hex(d, got);
    cr_assert_str_eq(got, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    tr_free(m);
}

Test(sha1, every_split_equals_one_call)
{
    char msg[200];
    for (size_t i = 0; i < sizeof(msg); i++) {
        msg[i] = (char)(i * 31 + 7);
    }
    uint8_t want[TR_SHA1_SIZE], got[TR_SHA1_SIZE];
    tr_sha1(msg, sizeof(msg), want);
    for (size_t a = 0; a <= sizeof(msg); a++) {
        struct tr_sha1 s;
        tr_sha1_init(&s);
        tr_sha1_update(&s, msg, a);
        tr_sha1_update(&s, NULL, 0);
        tr_sha1_update(&s, msg + a, sizeof(msg) - a);
        tr_sha1_final(&s, got);
        cr_assert_eq(memcmp(want, got, sizeof(want)), 0, "split at %zu", a);
    }
}

Test(sha1, rfc6455_handshake_example)
{
    /* RFC 6455 section 1.3: SHA-1 of key + GUID, base64 */
    const char *in =
        "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    uint8_t d[TR_SHA1_SIZE];
    tr_sha1(in, strlen(in), d);
    char got[41];
    hex(d, got);
    cr_assert_str_eq(got, "b37a4f2cc0624f1690f64606cf385945b2bec4ea");
    char b64[32];
    cr_assert_eq(tr_base64_encode(d, sizeof(d), b64), 28);
    cr_assert_str_eq(b64, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

Test(base64, rfc4648_vectors)
{
    static const char *const in[] = {"",     "f",     "fo",    "foo",
                                     "foob", "fooba", "foobar"};
    static const char *const out[] = {
        "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy",
    };
    for (size_t i = 0; i < 7; i++) {
        char enc[16];
        size_t n = tr_base64_encode(in[i], strlen(in[i]), enc);
        cr_assert_eq(n, tr_base64_encoded_len(strlen(in[i])));
        cr_assert_str_eq(enc, out[i]);
        uint8_t dec[16];
        size_t dl;
        cr_assert_eq(tr_base64_decode(out[i], strlen(out[i]), dec, 16, &dl), 0);
        cr_assert_eq(dl, strlen(in[i]));
        cr_assert_eq(memcmp(dec, in[i], dl), 0);
    }
    /* every byte value survives a round trip */
    uint8_t all[256], back[256];
    for (int i = 0; i < 256; i++) {
        all[i] = (uint8_t)i;
    }
    char enc[400];
    size_t n = tr_base64_encode(all, 256, enc);
    size_t dl;
    cr_assert_eq(tr_base64_decode(enc, n, back, sizeof(back), &dl), 0);
    cr_assert_eq(dl, 256);
    cr_assert_eq(memcmp(all, back, 256), 0);
}

Test(base64, strict_decoding)
{
    static const char *const bad[] = {
        "Zg=", /* not a multiple of 4 */
        "Zg",        "Z===",      "=Zg=",     "Zg=a",
        "Zm9v Zg==", "Zm9v\nZg=", "Zg==Zg==", /* padding in the middle */
        "Zm-v",                               /* URL alphabet */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t out[16];
        size_t dl;
        cr_assert_eq(tr_base64_decode(bad[i], strlen(bad[i]), out, 16, &dl),
                     TR_EPROTO, "%s", bad[i]);
    }
    uint8_t small[2];
    size_t dl;
    cr_assert_eq(tr_base64_decode("Zm9v", 4, small, 2, &dl), TR_ETOOLARGE);
    cr_assert_eq(dl, 2);
}
