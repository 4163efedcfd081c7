/* Tests for lib/buf.c's UTF-8 validation (the eight-byte ASCII fast path
 * must agree with the byte-by-byte decoder at every position and length)
 * and its memmem (must agree with libc's). */
#include "lib/buf.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <string.h>

/* The reference: sequence by sequence, no fast path. */
static bool ref_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t l = tr_utf8_seq_len(s + i, n - i);
        if (l == 0) {
            return false;
        }
        i += l;
    }
    return true;
}

Test(buf, utf8_valid_agrees_with_the_decoder_at_every_offset)
{
    static const char *const bad[] = {
        "\x80",             /* lone continuation */
        "\xc0\xaf",         /* overlong */
        "\xed\xa0\x80",     /* surrogate */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xe2\x82",         /* cut short */
        "\xff",
    };
    static const char *const good[] = {"é", "€", "😀", "z"};
    unsigned char buf[64];
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        size_t bl = strlen(bad[k]);
        for (size_t off = 0; off + bl <= 40; off++) {
            for (size_t tail = 0; tail < 10; tail++) {
                size_t n = off + bl + tail;
                memset(buf, 'a', sizeof(buf));
                memcpy(buf + off, bad[k], bl);
                cr_assert_not(tr_utf8_valid((const char *)buf, n),
                              "bad %zu at %zu, len %zu", k, off, n);
                cr_assert_not(ref_valid(buf, n));
            }
        }
    }
    for (size_t k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
        size_t gl = strlen(good[k]);
        for (size_t off = 0; off + gl <= 40; off++) {
            for (size_t tail = 0; tail < 10; tail++) {
                size_t n = off + gl + tail;
                memset(buf, 'a', sizeof(buf));
                memcpy(buf + off, good[k], gl);
                cr_assert(tr_utf8_valid((const char *)buf, n),
                          "good %zu at %zu, len %zu", k, off, n);
            }
        }
    }
    /* a multi-byte sequence cut by the end of the value, after ASCII */
    memset(buf, 'a', sizeof(buf));
    memcpy(buf + 15, "\xe2\x82\xac", 3);
    cr_assert(tr_utf8_valid((const char *)buf, 18));
    cr_assert_not(tr_utf8_valid((const char *)buf, 17));
    cr_assert(tr_utf8_valid((const char *)buf, 15));
    cr_assert(tr_utf8_valid("", 0));
}

/* tr_memmem against memmem: random haystacks over a small alphabet (many
 * partial matches), needles cut from them or made up, every length around
 * the 16-byte screen, matches at the very start and end. */
Test(buf, memmem_agrees_with_libc)
{
    unsigned seed = 12345;
    char h[300], nd[40];
    for (int round = 0; round < 20000; round++) {
        seed = seed * 1103515245u + 12345u;
        size_t hn = (seed >> 8) % 200, nn = 1 + (seed >> 20) % 35;
        unsigned alpha = 2 + (seed >> 4) % 4;
        for (size_t i = 0; i < hn; i++) {
            seed = seed * 1103515245u + 12345u;
            h[i] = (char)('a' + (seed >> 16) % alpha);
        }
        seed = seed * 1103515245u + 12345u;
        if (hn >= nn && (seed >> 16) % 3 != 0) {
            size_t at =
                (seed >> 18) % 3 == 0 ? hn - nn : (seed >> 4) % (hn - nn + 1);
            memcpy(nd, h + at, nn);
        } else {
            for (size_t i = 0; i < nn; i++) {
                seed = seed * 1103515245u + 12345u;
                nd[i] = (char)('a' + (seed >> 16) % alpha);
            }
        }
        const char *want = memmem(h, hn, nd, nn);
        const char *got = tr_memmem(h, hn, nd, nn);
        cr_assert_eq(got, want, "round %d: hn %zu nn %zu: got %td want %td",
                     round, hn, nn, got ? got - h : -1, want ? want - h : -1);
    }
    cr_assert_eq(tr_memmem(h, 5, nd, 0), h);
    cr_assert_null(tr_memmem(h, 0, "a", 1));
}
