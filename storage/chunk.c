/* chunk.c - Gorilla/XOR chunk appender, loader and iterator (format in
 * chunk.h).
 *
 * The bit stream is MSB-first. The writer ORs bits into a zero-filled buffer
 * through unaligned big-endian 64-bit words, so one append costs a handful of
 * loads/stores; the buffer always keeps >= 8 zero bytes of slack past the last
 * written bit. The reader peeks 64-bit words the same way when 8 bytes are
 * available and falls back to a byte loop near the end, so it never reads
 * past the n bytes it was given. Timestamp arithmetic is done in uint64
 * (wrapping, like Go's int64) so arbitrary bytes cannot cause signed
 * overflow. */
#include "storage/chunk.h"

#include <stdbool.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"

#define CHUNK_HDR_BITS 16
#define CHUNK_SLACK                                          \
    32 /* bytes kept past the write position (>= max sample) \
        */
#define CHUNK_MAX_COUNT 65535

static inline uint64_t load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

static inline void store_be64(uint8_t *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
}

static inline int clz64(uint64_t x)
{
    return x == 0 ? 64 : __builtin_clzll(x);
}

static inline int ctz64(uint64_t x)
{
    return x == 0 ? 64 : __builtin_ctzll(x);
}

/* ---- writer ---------------------------------------------------------------
 */

/* Writes the low n bits of v (1 <= n <= 64) at c->bits. Needs 9 bytes of
 * zeroed room at bits/8 (guaranteed by ensure()). */
static inline void put_bits(struct tr_xor_chunk *c, uint64_t v, unsigned n)
{
    if (n > 56) {
        put_bits(c, v >> 32, n - 32);
        v &= 0xffffffffu;
        n = 32;
    }
    size_t byte = c->bits >> 3;
    unsigned off = (unsigned)(c->bits & 7);
    uint64_t w = load_be64(c->data + byte);
    w |= (v << (64 - n)) >> off;
    store_be64(c->data + byte, w);
    c->bits += n;
}

static int ensure(struct tr_xor_chunk *c)
{
    size_t need = (c->bits >> 3) + CHUNK_SLACK;
    if (need <= c->cap) {
        return 0;
    }
    size_t ncap = c->cap < 64 ? 64 : c->cap * 2;
    while (ncap < need) {
        ncap *= 2;
    }
    uint8_t *p = tr_realloc(c->data, ncap);
    if (p == NULL) {
        return TR_ENOMEM;
    }
    memset(p + c->cap, 0, ncap - c->cap);
    c->data = p;
    c->cap = ncap;
    return 0;
}

void tr_xor_init(struct tr_xor_chunk *c)
{
    memset(c, 0, sizeof(*c));
    c->leading = 0xff;
}

void tr_xor_free(struct tr_xor_chunk *c)
{
    tr_free(c->data);
    tr_xor_init(c);
}

size_t tr_xor_len(const struct tr_xor_chunk *c)
{
    return (c->bits + 7) / 8;
}

static void put_uvarint_bytes(struct tr_xor_chunk *c, uint64_t v)
{
    /* Byte-aligned here (only used for t0 and t1 - t0). */
    while (v >= 0x80) {
        put_bits(c, (v & 0x7f) | 0x80, 8);
        v >>= 7;
    }
    put_bits(c, v, 8);
}

static void put_value(struct tr_xor_chunk *c, uint64_t vb)
{
    uint64_t x = vb ^ c->v_bits;
    if (x == 0) {
        put_bits(c, 0, 1);
        return;
    }
    unsigned lead = (unsigned)clz64(x);
    unsigned trail = (unsigned)ctz64(x);
    if (c->leading != 0xff && lead >= c->leading && trail >= c->trailing) {
        unsigned sig = 64u - c->leading - c->trailing;
        put_bits(c, 2, 2); /* '10' */
        put_bits(c, x >> c->trailing, sig);
        return;
    }
    if (lead >= 32) {
        lead = 31;
    }
    unsigned sig = 64u - lead - trail;
    /* '11' + 5 bits leading + 6 bits length (64 wraps to 0): 13 bits. */
    put_bits(c, (3u << 11) | (lead << 6) | (sig & 63u), 13);
    put_bits(c, x >> trail, sig);
    c->leading = (uint8_t)lead;
    c->trailing = (uint8_t)trail;
}

int tr_xor_append(struct tr_xor_chunk *c, int64_t t, double v)
{
    uint64_t vb;
    memcpy(&vb, &v, sizeof(vb));
    if (c->count > 0 && t <= c->t) {
        return TR_EINVAL;
    }
    if (c->count >= CHUNK_MAX_COUNT) {
        return TR_ELIMIT;
    }
    if (c->bits == 0) {
        c->bits = CHUNK_HDR_BITS;
    }
    int rv = ensure(c);
    if (rv != 0) {
        if (c->count == 0 && c->data == NULL) {
            c->bits = 0;
        }
        return rv;
    }
    if (c->count == 0) {
        uint64_t zz = ((uint64_t)t << 1) ^ (t < 0 ? UINT64_MAX : 0);
        put_uvarint_bytes(c, zz);
        put_bits(c, vb, 64);
        c->min_t = t;
    } else if (c->count == 1) {
        uint64_t d = (uint64_t)t - (uint64_t)c->t;
        put_uvarint_bytes(c, d);
        put_value(c, vb);
        c->t_delta = (int64_t)d;
    } else {
        uint64_t d = (uint64_t)t - (uint64_t)c->t;
        int64_t dod = (int64_t)(d - (uint64_t)c->t_delta);
        if (dod == 0) {
            put_bits(c, 0, 1);
        } else if (dod >= -8191 && dod <= 8192) {
            put_bits(c, (2u << 14) | ((uint64_t)dod & 0x3fff), 16);
        } else if (dod >= -65535 && dod <= 65536) {
            put_bits(c, (6u << 17) | ((uint64_t)dod & 0x1ffff), 20);
        } else if (dod >= -524287 && dod <= 524288) {
            put_bits(c, (14u << 20) | ((uint64_t)dod & 0xfffff), 24);
        } else {
            put_bits(c, 15, 4);
            put_bits(c, (uint64_t)dod, 64);
        }
        put_value(c, vb);
        c->t_delta = (int64_t)d;
    }
    c->t = t;
    c->v_bits = vb;
    c->count++;
    c->data[0] = (uint8_t)(c->count >> 8);
    c->data[1] = (uint8_t)c->count;
    return 0;
}

/* ---- reader ---------------------------------------------------------------
 */

#define NBYTES(it) (((it)->nbits) >> 3)

/* 64 bits starting at it->pos, zero-filled past the end of the data. */
static inline uint64_t peek64(const struct tr_xor_iter *it)
{
    size_t byte = it->pos >> 3;
    unsigned off = (unsigned)(it->pos & 7);
    size_t nbytes = NBYTES(it);
    uint64_t w;
    if (byte + 8 <= nbytes) {
        w = load_be64(it->data + byte);
    } else {
        w = 0;
        for (unsigned i = 0; i < 8; i++) {
            w <<= 8;
            if (byte + i < nbytes) {
                w |= it->data[byte + i];
            }
        }
    }
    return w << off; /* at least 57 valid bits */
}

/* Reads n bits (1..64); caller checked pos + n <= nbits. */
static inline uint64_t get_bits(struct tr_xor_iter *it, unsigned n)
{
    if (n > 56) {
        uint64_t hi = get_bits(it, n - 32);
        return (hi << 32) | get_bits(it, 32);
    }
    uint64_t v = peek64(it) >> (64 - n);
    it->pos += n;
    return v;
}

static inline bool have(const struct tr_xor_iter *it, size_t n)
{
    return n <= it->nbits - it->pos;
}

static int get_uvarint_bytes(struct tr_xor_iter *it, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (!have(it, 8)) {
            return TR_ECORRUPT;
        }
        uint64_t b = get_bits(it, 8);
        if (shift == 63 && b > 1) {
            return TR_ECORRUPT; /* overflows 64 bits */
        }
        v |= (b & 0x7f) << shift;
        if (b < 0x80) {
            *out = v;
            return 0;
        }
    }
    return TR_ECORRUPT;
}

void tr_xor_iter_init(struct tr_xor_iter *it, const void *bytes, size_t n)
{
    memset(it, 0, sizeof(*it));
    it->data = bytes;
    /* Cap so nbits cannot overflow; a chunk is never near this size. */
    if (n > (SIZE_MAX >> 4)) {
        n = SIZE_MAX >> 4;
    }
    it->nbits = n * 8;
    it->leading = 0xff;
    if (n >= 2) {
        it->total = (uint16_t)((it->data[0] << 8) | it->data[1]);
        it->pos = CHUNK_HDR_BITS;
    } else {
        it->total = 0;
        it->pos = it->nbits;
    }
}

uint16_t tr_xor_count(const void *bytes, size_t n)
{
    const uint8_t *p = bytes;
    if (n < 2) {
        return 0;
    }
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline int read_value(struct tr_xor_iter *it)
{
    if (!have(it, 1)) {
        return TR_ECORRUPT;
    }
    uint64_t w = peek64(it);
    if ((w >> 63) == 0) {
        it->pos += 1;
        return 0;
    }
    unsigned lead, trail, sig;
    if ((w >> 62) == 2) {
        if (it->leading == 0xff) {
            return TR_ECORRUPT; /* '10' before any '11' */
        }
        lead = it->leading;
        trail = it->trailing;
        sig = 64u - lead - trail;
        if (!have(it, 2 + (size_t)sig)) {
            return TR_ECORRUPT;
        }
        it->pos += 2;
    } else {
        if (!have(it, 13)) {
            return TR_ECORRUPT;
        }
        lead = (unsigned)(w >> 57) & 31u;
        sig = (unsigned)(w >> 51) & 63u;
        if (sig == 0) {
            sig = 64;
        }
        if (lead + sig > 64) {
            return TR_ECORRUPT;
        }
        trail = 64u - lead - sig;
        it->pos += 13;
        if (!have(it, sig)) {
            return TR_ECORRUPT;
        }
        it->leading = (uint8_t)lead;
        it->trailing = (uint8_t)trail;
    }
    uint64_t x = get_bits(it, sig);
    it->v_bits ^= x << trail; /* sig >= 1 so trail <= 63 */
    return 0;
}

int tr_xor_iter_next(struct tr_xor_iter *it, int64_t *t, double *v)
{
    int rv;
    if (it->read >= it->total) {
        return 0;
    }
    if (it->read == 0) {
        uint64_t zz;
        if ((rv = get_uvarint_bytes(it, &zz)) != 0) {
            return rv;
        }
        it->t = (int64_t)((zz >> 1) ^ (0 - (zz & 1)));
        if (!have(it, 64)) {
            return TR_ECORRUPT;
        }
        it->v_bits = get_bits(it, 64);
    } else if (it->read == 1) {
        uint64_t d;
        if ((rv = get_uvarint_bytes(it, &d)) != 0) {
            return rv;
        }
        int64_t nt = (int64_t)((uint64_t)it->t + d);
        if (nt <= it->t) {
            return TR_ECORRUPT;
        }
        it->t = nt;
        it->t_delta = (int64_t)d;
        if ((rv = read_value(it)) != 0) {
            return rv;
        }
    } else {
        if (!have(it, 1)) {
            return TR_ECORRUPT;
        }
        uint64_t w = peek64(it);
        uint64_t dod;
        if ((w >> 63) == 0) {
            dod = 0;
            it->pos += 1;
        } else {
            unsigned ones = (unsigned)clz64(~w);
            unsigned prefix, nb;
            switch (ones) {
                case 1:
                    prefix = 2, nb = 14;
                    break;
                case 2:
                    prefix = 3, nb = 17;
                    break;
                case 3:
                    prefix = 4, nb = 20;
                    break;
                default:
                    prefix = 4, nb = 64;
                    break;
            }
            if (!have(it, prefix + (size_t)nb)) {
                return TR_ECORRUPT;
            }
            if (nb == 64) {
                it->pos += 4;
                dod = get_bits(it, 64);
            } else {
                /* prefix + nb <= 24 bits, all inside w. */
                uint64_t raw = (w << prefix) >> (64 - nb);
                if (raw > (1ull << (nb - 1))) {
                    raw -= 1ull << nb; /* sign-extend (wraps) */
                }
                dod = raw;
                it->pos += prefix + nb;
            }
        }
        uint64_t d = (uint64_t)it->t_delta + dod;
        int64_t nt = (int64_t)((uint64_t)it->t + d);
        if (nt <= it->t) {
            return TR_ECORRUPT;
        }
        it->t = nt;
        it->t_delta = (int64_t)d;
        if ((rv = read_value(it)) != 0) {
            return rv;
        }
    }
    it->read++;
    *t = it->t;
    memcpy(v, &it->v_bits, sizeof(*v));
    return 1;
}

/* ---- loader ---------------------------------------------------------------
 */

int tr_xor_load(struct tr_xor_chunk *c, const void *bytes, size_t n)
{
    struct tr_xor_iter it;
    int64_t t;
    double v;
    int rv;

    tr_xor_init(c);
    if (n == 0) {
        return 0;
    }
    if (n < 2) {
        return TR_ECORRUPT;
    }
    tr_xor_iter_init(&it, bytes, n);
    while ((rv = tr_xor_iter_next(&it, &t, &v)) == 1) {
    }
    if (rv < 0) {
        return rv;
    }
    size_t len = (it.pos + 7) / 8;
    size_t cap = len + CHUNK_SLACK;
    c->data = tr_calloc(1, cap);
    if (c->data == NULL) {
        return TR_ENOMEM;
    }
    memcpy(c->data, bytes, len);
    if (it.pos & 7) { /* clear padding bits so appends can OR into them */
        c->data[len - 1] &= (uint8_t)(0xff00u >> (it.pos & 7));
    }
    c->cap = cap;
    c->bits = it.pos;
    c->count = it.total;
    c->t = it.t;
    c->t_delta = it.t_delta;
    c->v_bits = it.v_bits;
    c->leading = it.leading;
    c->trailing = it.trailing;
    if (it.total > 0) {
        struct tr_xor_iter first;
        int64_t t0;
        double v0;
        tr_xor_iter_init(&first, bytes, n);
        if (tr_xor_iter_next(&first, &t0, &v0) == 1) {
            c->min_t = t0;
        }
    }
    return 0;
}
