/* sha1.h - SHA-1 (FIPS 180-1 / RFC 3174). Used for the WebSocket handshake
 * (RFC 6455 section 4.2.2), where it is a fixed part of the protocol, not a
 * security measure: do not use it to protect anything.
 *
 * Incremental: tr_sha1_init, any number of tr_sha1_update calls,
 * tr_sha1_final; or tr_sha1 for one buffer. The digest is 20 bytes,
 * big-endian words h0..h4 in order. Messages up to 2^61 - 1 bytes. */
#ifndef TR_LIB_SHA1_H
#define TR_LIB_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define TR_SHA1_SIZE 20

struct tr_sha1 {
    uint32_t h[5];     /* chaining state */
    uint64_t len;      /* message bytes hashed so far */
    uint8_t block[64]; /* partial block */
    size_t block_len;  /* bytes in block, < 64 */
};

/* Starts a digest. */
void tr_sha1_init(struct tr_sha1 *s);
/* Hashes n more bytes of p (p may be NULL when n is 0). */
void tr_sha1_update(struct tr_sha1 *s, const void *p, size_t n);
/* Finishes: writes the 20-byte digest to out. s must be re-initialised
 * before it is used again. */
void tr_sha1_final(struct tr_sha1 *s, uint8_t out[TR_SHA1_SIZE]);
/* The digest of p[0..n) in one call. */
void tr_sha1(const void *p, size_t n, uint8_t out[TR_SHA1_SIZE]);

#endif
