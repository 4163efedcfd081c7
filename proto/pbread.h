/* pbread.h - a bounds-checked reader of the protobuf wire format, shared by
 * the decoders in proto/ (remote-write, Loki push).
 *
 *   record   = tag payload
 *   tag      = uvarint(field_number << 3 | wire_type), field_number >= 1
 *   wire_type 0 VARINT  payload = uvarint (int64: two's complement, so a
 *                       negative value takes 10 bytes; enum likewise)
 *             1 I64     payload = 8 bytes little-endian (double, fixed64)
 *             2 LEN     payload = uvarint length, then that many bytes
 *                       (string, sub-message, packed repeated scalars)
 *             3 SGROUP, 4 EGROUP: deprecated groups - rejected (TR_EPROTO)
 *             5 I32     payload = 4 bytes little-endian
 *             6, 7      invalid
 *
 * Every function returns 0 or TR_EPROTO with a message naming the field
 * and the byte offset (tr_pb_fail). */
#ifndef TR_PROTO_PBREAD_H
#define TR_PROTO_PBREAD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "proto/prw_int.h"

/* Decoding context of one request. */
struct tr_pb_rd {
    const uint8_t *base; /* first byte of the request (offsets in errors) */
    char *errmsg;        /* caller's buffer or NULL */
    const char *item;    /* what item_idx counts in errors ("timeseries") */
    size_t item_idx;     /* the item being decoded, SIZE_MAX outside */
};

/* Formats "<msg>: <what> (<item>[<idx>]) at offset <n>" into rd->errmsg;
 * returns TR_EPROTO. */
__attribute__((format(printf, 4, 5))) int tr_pb_fail(const struct tr_pb_rd *rd,
                                                     const uint8_t *at,
                                                     const char *msg,
                                                     const char *fmt,
                                                     ...);

/* uvarint with a one-byte fast path; the general case is the library's
 * bounds-checked reader (rejects > 10 bytes and 64-bit overflow). */
static inline int tr_pb_uvarint(struct tr_cursor *c, uint64_t *v)
{
    if (c->p < c->end && *c->p < 0x80) {
        *v = *c->p++;
        return 0;
    }
    if (tr_cursor_left(c) >= 10) {
        /* no bounds checks needed; same rules as tr_cursor_uvarint */
        const uint8_t *p = c->p;
        uint64_t x = 0;
        for (unsigned i = 0; i < 9; i++) {
            x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
            if (p[i] < 0x80) {
                c->p = p + i + 1;
                *v = x;
                return 0;
            }
        }
        if (p[9] > 1) {
            return TR_EPROTO;
        }
        *v = x | (uint64_t)p[9] << 63;
        c->p = p + 10;
        return 0;
    }
    return tr_cursor_uvarint(c, v);
}

static inline uint64_t tr_pb_load_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static inline double tr_pb_bits_to_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

/* Reads a tag. *at is set to the tag's first byte (for later messages). */
static inline int tr_pb_tag(const struct tr_pb_rd *rd,
                            struct tr_cursor *c,
                            const char *msg,
                            uint32_t *field,
                            unsigned *wt)
{
    const uint8_t *at = c->p;
    uint64_t t;
    *field = 0;
    *wt = 0;
    if (c->p < c->end && *c->p < 0x80) {
        t = *c->p++;
    } else if (tr_pb_uvarint(c, &t) != 0) {
        return tr_pb_fail(rd, at, msg, "truncated or overlong tag varint");
    }
    if (t > UINT32_MAX) {
        return tr_pb_fail(rd, at, msg, "tag %llu out of range",
                          (unsigned long long)t);
    }
    *field = (uint32_t)(t >> 3);
    *wt = (unsigned)(t & 7);
    if (*field == 0) {
        return tr_pb_fail(rd, at, msg, "field number 0");
    }
    if (*wt == WT_SGROUP || *wt == WT_EGROUP) {
        return tr_pb_fail(rd, at, msg,
                          "field %u uses deprecated group wire type %u", *field,
                          *wt);
    }
    if (*wt > WT_I32) {
        return tr_pb_fail(rd, at, msg, "field %u has invalid wire type %u",
                          *field, *wt);
    }
    return 0;
}

static inline int tr_pb_want(const struct tr_pb_rd *rd,
                             const uint8_t *at,
                             const char *msg,
                             uint32_t field,
                             unsigned wt,
                             unsigned want)
{
    if (wt != want) {
        return tr_pb_fail(rd, at, msg, "field %u has wire type %u, expected %u",
                          field, wt, want);
    }
    return 0;
}

/* LEN payload: bounds-checked sub-cursor, c advanced past it. */
static inline int tr_pb_len(const struct tr_pb_rd *rd,
                            struct tr_cursor *c,
                            const char *msg,
                            uint32_t field,
                            struct tr_cursor *sub)
{
    const uint8_t *at = c->p;
    uint64_t n;
    sub->p = sub->end = c->p;
    if (tr_pb_uvarint(c, &n) != 0) {
        return tr_pb_fail(rd, at, msg, "truncated length of field %u", field);
    }
    if (n > tr_cursor_left(c)) {
        return tr_pb_fail(rd, at, msg,
                          "length %llu of field %u exceeds the %zu bytes left",
                          (unsigned long long)n, field, tr_cursor_left(c));
    }
    sub->p = c->p;
    sub->end = c->p + n;
    c->p += n;
    return 0;
}

static inline int tr_pb_slice(const struct tr_pb_rd *rd,
                              struct tr_cursor *c,
                              const char *msg,
                              uint32_t field,
                              struct tr_slice *out)
{
    struct tr_cursor sub;
    int rv = tr_pb_len(rd, c, msg, field, &sub);
    if (rv == 0) {
        out->base = (const char *)sub.p;
        out->len = (size_t)(sub.end - sub.p);
    }
    return rv;
}

static inline int tr_pb_double(const struct tr_pb_rd *rd,
                               struct tr_cursor *c,
                               const char *msg,
                               uint32_t field,
                               double *out)
{
    if (tr_cursor_left(c) < 8) {
        return tr_pb_fail(rd, c->p, msg, "truncated double field %u", field);
    }
    *out = tr_pb_bits_to_double(tr_pb_load_u64le(c->p));
    c->p += 8;
    return 0;
}

static inline int tr_pb_u64(const struct tr_pb_rd *rd,
                            struct tr_cursor *c,
                            const char *msg,
                            uint32_t field,
                            uint64_t *out)
{
    const uint8_t *at = c->p;
    if (tr_pb_uvarint(c, out) != 0) {
        return tr_pb_fail(rd, at, msg, "truncated or overlong varint field %u",
                          field);
    }
    return 0;
}

/* Skips the payload of an unknown field (tag already read). */
int tr_pb_skip(const struct tr_pb_rd *rd,
               struct tr_cursor *c,
               const char *msg,
               uint32_t field,
               unsigned wt);

/* Arena array of n elements; NULL (and no error) when n == 0; sets *rv to
 * TR_ENOMEM on failure and does nothing once *rv != 0. */
void *tr_pb_array(struct tr_arena *a, size_t n, size_t size, int *rv);

#endif
