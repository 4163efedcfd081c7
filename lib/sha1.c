/* sha1.c - SHA-1 (FIPS 180-1): 512-bit blocks, 80 rounds over a 16-word
 * schedule kept in a rolling window. */
#include "lib/sha1.h"

#include <string.h>

static uint32_t rol(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

static uint32_t get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void sha1__block(uint32_t h[5], const uint8_t *b)
{
    uint32_t w[16];
    for (int i = 0; i < 16; i++) {
        w[i] = get_be32(b + 4 * i);
    }
    uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; t++) {
        if (t >= 16) {
            uint32_t x = w[(t - 3) & 15] ^ w[(t - 8) & 15] ^ w[(t - 14) & 15] ^
                         w[t & 15];
            w[t & 15] = rol(x, 1);
        }
        uint32_t f, k;
        if (t < 20) {
            f = (bb & c) | (~bb & d);
            k = 0x5A827999u;
        } else if (t < 40) {
            f = bb ^ c ^ d;
            k = 0x6ED9EBA1u;
        } else if (t < 60) {
            f = (bb & c) | (bb & d) | (c & d);
            k = 0x8F1BBCDCu;
        } else {
            f = bb ^ c ^ d;
            k = 0xCA62C1D6u;
        }
        uint32_t tmp = rol(a, 5) + f + e + k + w[t & 15];
        e = d;
        d = c;
        c = rol(bb, 30);
        bb = a;
        a = tmp;
    }
    h[0] += a;
    h[1] += bb;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void tr_sha1_init(struct tr_sha1 *s)
{
    s->h[0] = 0x67452301u;
    s->h[1] = 0xEFCDAB89u;
    s->h[2] = 0x98BADCFEu;
    s->h[3] = 0x10325476u;
    s->h[4] = 0xC3D2E1F0u;
    s->len = 0;
    s->block_len = 0;
}

void tr_sha1_update(struct tr_sha1 *s, const void *p, size_t n)
{
    const uint8_t *in = p;
    if (n == 0) {
        return;
    }
    s->len += n;
    if (s->block_len > 0) {
        size_t take = 64 - s->block_len;
        if (take > n) {
            take = n;
        }
        memcpy(s->block + s->block_len, in, take);
        s->block_len += take;
        in += take;
        n -= take;
        if (s->block_len < 64) {
            return;
        }
        sha1__block(s->h, s->block);
        s->block_len = 0;
    }
    while (n >= 64) {
        sha1__block(s->h, in);
        in += 64;
        n -= 64;
    }
    if (n > 0) {
        memcpy(s->block, in, n);
        s->block_len = n;
    }
}

void tr_sha1_final(struct tr_sha1 *s, uint8_t out[TR_SHA1_SIZE])
{
    uint64_t bits = s->len * 8;
    /* 0x80, zeros up to 56 mod 64, then the 64-bit big-endian bit count */
    s->block[s->block_len++] = 0x80;
    if (s->block_len > 56) {
        memset(s->block + s->block_len, 0, 64 - s->block_len);
        sha1__block(s->h, s->block);
        s->block_len = 0;
    }
    memset(s->block + s->block_len, 0, 56 - s->block_len);
    put_be32(s->block + 56, (uint32_t)(bits >> 32));
    put_be32(s->block + 60, (uint32_t)bits);
    sha1__block(s->h, s->block);
    for (int i = 0; i < 5; i++) {
        put_be32(out + 4 * i, s->h[i]);
    }
    memset(s->block, 0, sizeof(s->block));
    s->block_len = 0;
}

void tr_sha1(const void *p, size_t n, uint8_t out[TR_SHA1_SIZE])
{
    struct tr_sha1 s;
    tr_sha1_init(&s);
    tr_sha1_update(&s, p, n);
    tr_sha1_final(&s, out);
}
