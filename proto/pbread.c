/* pbread.c - the out-of-line parts of the protobuf reader (pbread.h). */
#include "proto/pbread.h"

#include <stdarg.h>
#include <stdio.h>

#include "lib/err.h"

__attribute__((format(printf, 4, 5))) int tr_pb_fail(const struct tr_pb_rd *rd,
                                                     const uint8_t *at,
                                                     const char *msg,
                                                     const char *fmt,
                                                     ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    size_t off = (size_t)(at - rd->base);
    if (rd->item_idx != SIZE_MAX) {
        tr_errf(TR_EPROTO, rd->errmsg, "%s: %s (%s[%zu]) at offset %zu", msg,
                what, rd->item ? rd->item : "item", rd->item_idx, off);
    } else {
        tr_errf(TR_EPROTO, rd->errmsg, "%s: %s at offset %zu", msg, what, off);
    }
    return TR_EPROTO; /* a constant, so the compiler sees rv != 0 */
}

/* Skips the payload of an unknown field (tag already read). */
int tr_pb_skip(const struct tr_pb_rd *rd,
               struct tr_cursor *c,
               const char *msg,
               uint32_t field,
               unsigned wt)
{
    uint64_t v;
    struct tr_cursor sub;
    switch (wt) {
        case WT_VARINT:
            return tr_pb_u64(rd, c, msg, field, &v);
        case WT_I64:
            if (tr_cursor_left(c) < 8) {
                return tr_pb_fail(rd, c->p, msg, "truncated fixed64 field %u",
                                  field);
            }
            c->p += 8;
            return 0;
        case WT_I32:
            if (tr_cursor_left(c) < 4) {
                return tr_pb_fail(rd, c->p, msg, "truncated fixed32 field %u",
                                  field);
            }
            c->p += 4;
            return 0;
        case WT_LEN:
            return tr_pb_len(rd, c, msg, field, &sub);
        default:
            /* tr_pb_tag lets no other wire type through */
            return tr_pb_fail(rd, c->p, msg, "wire type %u", wt);
    }
}

/* Arena array of n elements; NULL (and no error) when n == 0. */
void *tr_pb_array(struct tr_arena *a, size_t n, size_t size, int *rv)
{
    if (n == 0 || *rv != 0) {
        return NULL;
    }
    if (n > SIZE_MAX / size) {
        *rv = TR_ENOMEM;
        return NULL;
    }
    void *p = tr_arena_alloc(a, n * size);
    if (p == NULL) {
        *rv = TR_ENOMEM;
    }
    return p;
}
