/* base64.h - base64 with the standard alphabet and '=' padding (RFC 4648
 * section 4), as used by the WebSocket handshake keys (RFC 6455).
 *
 * Encoding: every 3 input bytes become 4 characters from
 * "A-Za-z0-9+/"; a final group of 1 or 2 bytes becomes 2 or 3 characters
 * followed by "==" or "=". */
#ifndef TR_LIB_BASE64_H
#define TR_LIB_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Characters tr_base64_encode writes for n bytes (without the NUL). */
size_t tr_base64_encoded_len(size_t n);
/* Writes the encoding of src[0..n) to out, which must have room for
 * tr_base64_encoded_len(n) + 1 bytes, and NUL-terminates it. Returns the
 * number of characters written (without the NUL). */
size_t tr_base64_encode(const void *src, size_t n, char *out);
/* Decodes s[0..n) into out (room for cap bytes); the decoded length goes to
 * *out_len. Strict about the form: n a multiple of 4, only alphabet
 * characters, '=' only as one or two final padding characters; no white
 * space. Unused low bits of the last character are ignored (as Go's
 * StdEncoding). Returns 0; TR_EPROTO for malformed input; TR_ETOOLARGE when
 * the result does not fit in cap (out then holds a prefix). */
int tr_base64_decode(const char *s,
                     size_t n,
                     uint8_t *out,
                     size_t cap,
                     size_t *out_len);

#endif
