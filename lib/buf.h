/* buf.h - growable byte buffers, zero-copy slices and a bounds-checked read
 * cursor for wire data (never trust a length from the network). */
#ifndef TR_LIB_BUF_H
#define TR_LIB_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct tr_slice {
    const char *base; /* not NUL-terminated */
    size_t len;
};

#define TR_SLICE_LIT(s) ((struct tr_slice){(s), sizeof(s) - 1})
struct tr_slice tr_slice_cstr(const char *s);
bool tr_slice_eq(struct tr_slice a, struct tr_slice b);
bool tr_slice_eq_cstr(struct tr_slice a, const char *s);
bool tr_slice_eq_nocase(struct tr_slice a, const char *s);
int tr_slice_cmp(struct tr_slice a, struct tr_slice b); /* memcmp order */
/* tr_slice_cmp for qsort/bsearch over an array of struct tr_slice. */
int tr_slice_qsort_cmp(const void *a, const void *b);

/* Growable buffer owning its bytes (tr_malloc). data is always
 * NUL-terminated after a successful append (the NUL is not counted). */
struct tr_buf {
    char *data;
    size_t len;
    size_t cap;
    bool oom; /* set once an append failed; later appends are no-ops */
};

void tr_buf_init(struct tr_buf *b);
void tr_buf_free(struct tr_buf *b);
void tr_buf_reset(struct tr_buf *b); /* len = 0, keeps memory, clears oom */
int tr_buf_reserve(struct tr_buf *b, size_t extra);
/* Like tr_buf_reserve, but when it must grow, to exactly len + extra (and
 * the NUL) instead of the next power of two: for a size known in advance. */
int tr_buf_reserve_exact(struct tr_buf *b, size_t extra);
/* tr_buf_append when the bytes fit (inline: the encoders of the hot paths
 * append a few bytes at a time), else the general path. */
int tr_buf_append_grow(struct tr_buf *b, const void *p, size_t n);
static inline int tr_buf_append(struct tr_buf *b, const void *p, size_t n)
{
    if (!b->oom && n < b->cap && b->len < b->cap - n) {
        if (n > 0) {
            memcpy(b->data + b->len, p, n);
        }
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
    }
    return tr_buf_append_grow(b, p, n);
}
static inline int tr_buf_putc(struct tr_buf *b, char c)
{
    return tr_buf_append(b, &c, 1);
}
int tr_buf_puts(struct tr_buf *b, const char *s);
int tr_buf_printf(struct tr_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int tr_buf_put_u16be(struct tr_buf *b, uint16_t v);
int tr_buf_put_u32be(struct tr_buf *b, uint32_t v);
int tr_buf_put_u64be(struct tr_buf *b, uint64_t v);
static inline int tr_buf_put_uvarint(struct tr_buf *b, uint64_t v)
{
    unsigned char x[10];
    size_t n = 0;
    while (v >= 0x80) {
        x[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    x[n++] = (unsigned char)v;
    return tr_buf_append(b, x, n);
}
int tr_buf_put_varint(struct tr_buf *b, int64_t v); /* zig-zag */
/* Hands the bytes to the caller (free with tr_free); b becomes empty. */
char *tr_buf_steal(struct tr_buf *b, size_t *len);

/* Read cursor. Every getter returns 0 or TR_EPROTO without reading past end. */
struct tr_cursor {
    const uint8_t *p;
    const uint8_t *end;
};

static inline struct tr_cursor tr_cursor_make(const void *p, size_t n)
{
    return (struct tr_cursor){(const uint8_t *)p, (const uint8_t *)p + n};
}
static inline size_t tr_cursor_left(const struct tr_cursor *c)
{
    return (size_t)(c->end - c->p);
}
int tr_cursor_u8(struct tr_cursor *c, uint8_t *v);
int tr_cursor_u16be(struct tr_cursor *c, uint16_t *v);
int tr_cursor_u32be(struct tr_cursor *c, uint32_t *v);
int tr_cursor_u64be(struct tr_cursor *c, uint64_t *v);
/* Reads an unsigned LEB128 varint (at most 10 bytes, 64 bits). 0 or
 * TR_EPROTO (truncated or too long; the cursor is then unspecified). The
 * one-byte case is inline: decode loops read mostly small numbers. */
int tr_cursor_uvarint_slow(struct tr_cursor *c, uint64_t *v);
static inline int tr_cursor_uvarint(struct tr_cursor *c, uint64_t *v)
{
    if (c->p < c->end && *c->p < 0x80) {
        *v = *c->p++;
        return 0;
    }
    return tr_cursor_uvarint_slow(c, v);
}
int tr_cursor_varint(struct tr_cursor *c, int64_t *v);
int tr_cursor_bytes(struct tr_cursor *c, size_t n, struct tr_slice *out);

/* Big-endian helpers for keys. */
void tr_put_u16be(void *p, uint16_t v);
void tr_put_u32be(void *p, uint32_t v);
void tr_put_u64be(void *p, uint64_t v);
uint16_t tr_get_u16be(const void *p);
uint32_t tr_get_u32be(const void *p);
uint64_t tr_get_u64be(const void *p);
/* Length of the valid UTF-8 sequence at s (n >= 1 bytes available), 0 when
 * it is not one (no surrogates, no overlongs). */
size_t tr_utf8_seq_len(const unsigned char *s, size_t n);
/* True when s[0..n) is valid UTF-8 (no surrogates, no overlongs). */
bool tr_utf8_valid(const char *s, size_t n);
/* The first occurrence of needle[0..nn) in h[0..hn), NULL when none (h
 * when nn == 0): memmem, faster on the long haystacks of log searches
 * (16 positions at a time are screened by the needle's first and last
 * bytes, SSE2; memmem where SSE2 is missing). */
const char *tr_memmem(const char *h, size_t hn, const char *needle, size_t nn);
/* Number of bytes tr_buf_put_uvarint writes for v. */
size_t tr_uvarint_len(uint64_t v);

#endif
