/* prw_int.h - private to proto/prw.c (decoding) and proto/prw_encode.c:
 * protobuf wire types and bit casts. */
#ifndef TR_PROTO_PRW_INT_H
#define TR_PROTO_PRW_INT_H

#include <stdint.h>
#include <string.h>

enum {
    WT_VARINT = 0,
    WT_I64 = 1,
    WT_LEN = 2,
    WT_SGROUP = 3,
    WT_EGROUP = 4,
    WT_I32 = 5,
};

static inline uint64_t double_to_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

#endif
