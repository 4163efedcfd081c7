#include "lib/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "lib/alloc.h"
#include "lib/err.h"

struct tr_slice tr_slice_cstr(const char *s)
{
    return (struct tr_slice){s, strlen(s)};
}

bool tr_slice_eq(struct tr_slice a, struct tr_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

bool tr_slice_eq_cstr(struct tr_slice a, const char *s)
{
    return tr_slice_eq(a, tr_slice_cstr(s));
}

bool tr_slice_eq_nocase(struct tr_slice a, const char *s)
{
    size_t n = strlen(s);
    return a.len == n && strncasecmp(a.base, s, n) == 0;
}

int tr_slice_cmp(struct tr_slice a, struct tr_slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.base, b.base, n) : 0;
    if (c != 0) {
        return c;
    }
    return a.len < b.len ? -1 : (a.len > b.len ? 1 : 0);
}

int tr_slice_qsort_cmp(const void *a, const void *b)
{
    return tr_slice_cmp(*(const struct tr_slice *)a,
                        *(const struct tr_slice *)b);
}

void tr_buf_init(struct tr_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void tr_buf_free(struct tr_buf *b)
{
    tr_free(b->data);
    tr_buf_init(b);
}

void tr_buf_reset(struct tr_buf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

/* Room for extra more bytes and the NUL: the capacity doubles from 64 until
 * it fits, or becomes exactly what is needed. */
static int buf__reserve(struct tr_buf *b, size_t extra, bool exact)
{
    if (b->oom) {
        return TR_ENOMEM;
    }
    if (extra > SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return TR_ENOMEM;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = need;
    if (!exact) {
        cap = b->cap ? b->cap : 64;
        while (cap < need) {
            cap *= 2;
        }
    }
    char *p = tr_realloc(b->data, cap);
    if (p == NULL) {
        b->oom = true;
        return TR_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int tr_buf_reserve(struct tr_buf *b, size_t extra)
{
    return buf__reserve(b, extra, false);
}

int tr_buf_reserve_exact(struct tr_buf *b, size_t extra)
{
    return buf__reserve(b, extra, true);
}

int tr_buf_append_grow(struct tr_buf *b, const void *p, size_t n)
{
    int rv = tr_buf_reserve(b, n);
    if (rv != 0) {
        return rv;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int tr_buf_puts(struct tr_buf *b, const char *s)
{
    return tr_buf_append(b, s, strlen(s));
}

int tr_buf_printf(struct tr_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return TR_EINVAL;
    }
    int rv = tr_buf_reserve(b, (size_t)n);
    if (rv != 0) {
        va_end(ap2);
        return rv;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return 0;
}

int tr_buf_put_u16be(struct tr_buf *b, uint16_t v)
{
    unsigned char x[2];
    tr_put_u16be(x, v);
    return tr_buf_append(b, x, 2);
}

int tr_buf_put_u32be(struct tr_buf *b, uint32_t v)
{
    unsigned char x[4];
    tr_put_u32be(x, v);
    return tr_buf_append(b, x, 4);
}

int tr_buf_put_u64be(struct tr_buf *b, uint64_t v)
{
    unsigned char x[8];
    tr_put_u64be(x, v);
    return tr_buf_append(b, x, 8);
}

int tr_buf_put_varint(struct tr_buf *b, int64_t v)
{
    /* zig-zag: the sign bit spread over all bits, without shifting a
     * negative value */
    uint64_t u = ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0);
    return tr_buf_put_uvarint(b, u);
}

char *tr_buf_steal(struct tr_buf *b, size_t *len)
{
    char *p = b->data;
    if (len != NULL) {
        *len = b->len;
    }
    tr_buf_init(b);
    return p;
}

size_t tr_uvarint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

int tr_cursor_u8(struct tr_cursor *c, uint8_t *v)
{
    if (c->p >= c->end) {
        return TR_EPROTO;
    }
    *v = *c->p++;
    return 0;
}

int tr_cursor_u16be(struct tr_cursor *c, uint16_t *v)
{
    if (tr_cursor_left(c) < 2) {
        return TR_EPROTO;
    }
    *v = tr_get_u16be(c->p);
    c->p += 2;
    return 0;
}

int tr_cursor_u32be(struct tr_cursor *c, uint32_t *v)
{
    if (tr_cursor_left(c) < 4) {
        return TR_EPROTO;
    }
    *v = tr_get_u32be(c->p);
    c->p += 4;
    return 0;
}

int tr_cursor_u64be(struct tr_cursor *c, uint64_t *v)
{
    if (tr_cursor_left(c) < 8) {
        return TR_EPROTO;
    }
    *v = tr_get_u64be(c->p);
    c->p += 8;
    return 0;
}

int tr_cursor_uvarint_slow(struct tr_cursor *c, uint64_t *v)
{
    uint64_t x = 0;
    unsigned shift = 0;
    for (int i = 0; i < 10; i++) {
        if (c->p >= c->end) {
            return TR_EPROTO;
        }
        uint8_t byte = *c->p++;
        if (i == 9 && byte > 1) {
            return TR_EPROTO; /* overflows 64 bits */
        }
        x |= (uint64_t)(byte & 0x7f) << shift;
        if (byte < 0x80) {
            *v = x;
            return 0;
        }
        shift += 7;
    }
    return TR_EPROTO;
}

int tr_cursor_varint(struct tr_cursor *c, int64_t *v)
{
    uint64_t u;
    int rv = tr_cursor_uvarint(c, &u);
    if (rv != 0) {
        return rv;
    }
    *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    return 0;
}

int tr_cursor_bytes(struct tr_cursor *c, size_t n, struct tr_slice *out)
{
    if (tr_cursor_left(c) < n) {
        return TR_EPROTO;
    }
    out->base = (const char *)c->p;
    out->len = n;
    c->p += n;
    return 0;
}

void tr_put_u16be(void *p, uint16_t v)
{
    unsigned char *q = p;
    q[0] = (unsigned char)(v >> 8);
    q[1] = (unsigned char)v;
}

void tr_put_u32be(void *p, uint32_t v)
{
    unsigned char *q = p;
    for (int i = 3; i >= 0; i--) {
        q[i] = (unsigned char)v;
        v >>= 8;
    }
}

void tr_put_u64be(void *p, uint64_t v)
{
    unsigned char *q = p;
    for (int i = 7; i >= 0; i--) {
        q[i] = (unsigned char)v;
        v >>= 8;
    }
}

uint16_t tr_get_u16be(const void *p)
{
    const unsigned char *q = p;
    return (uint16_t)((q[0] << 8) | q[1]);
}

uint32_t tr_get_u32be(const void *p)
{
    const unsigned char *q = p;
    return ((uint32_t)q[0] << 24) | ((uint32_t)q[1] << 16) |
           ((uint32_t)q[2] << 8) | q[3];
}

uint64_t tr_get_u64be(const void *p)
{
    const unsigned char *q = p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | q[i];
    }
    return v;
}

/* Length of the valid UTF-8 sequence at s (max n bytes), 0 if invalid. */
size_t tr_utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        return 1;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
        len = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

bool tr_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        /* ASCII runs (label values mostly are) eight bytes at a time */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ULL) != 0) {
                break;
            }
            i += 8;
        }
        if (i == n) {
            break;
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = tr_utf8_seq_len(s + i, n - i);
        if (l == 0) {
            return false;
        }
        i += l;
    }
    return true;
}

const char *tr_memmem(const char *h, size_t hn, const char *needle, size_t nn)
{
    if (nn == 0) {
        return h;
    }
    if (nn > hn) {
        return NULL;
    }
    if (nn == 1) {
        return memchr(h, needle[0], hn);
    }
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i first = _mm_set1_epi8(needle[0]);
    const __m128i last = _mm_set1_epi8(needle[nn - 1]);
    /* candidates i + b: h[i + b] is the first byte and h[i + b + nn - 1]
     * the last; both loads stay inside h */
    for (; i + nn - 1 + 16 <= hn; i += 16) {
        __m128i bf = _mm_loadu_si128((const __m128i *)(const void *)(h + i));
        __m128i bl =
            _mm_loadu_si128((const __m128i *)(const void *)(h + i + nn - 1));
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_and_si128(_mm_cmpeq_epi8(first, bf), _mm_cmpeq_epi8(last, bl)));
        while (m != 0) {
            unsigned b = (unsigned)__builtin_ctz(m);
            if (memcmp(h + i + b + 1, needle + 1, nn - 2) == 0) {
                return h + i + b;
            }
            m &= m - 1;
        }
    }
#endif
    return memmem(h + i, hn - i, needle, nn);
}
