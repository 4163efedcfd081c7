/* pbwrite.c - the test protobuf writer (pbwrite.h). */
#include "tests/lib/pbwrite.h"

#include <string.h>

void tr_pbw_varint(struct tr_buf *b, uint64_t v)
{
    while (v >= 0x80) {
        tr_buf_putc(b, (char)(v | 0x80));
        v >>= 7;
    }
    tr_buf_putc(b, (char)v);
}

void tr_pbw_tag(struct tr_buf *b, uint32_t field, unsigned wt)
{
    tr_pbw_varint(b, ((uint64_t)field << 3) | wt);
}

void tr_pbw_uint(struct tr_buf *b, uint32_t field, uint64_t v)
{
    tr_pbw_tag(b, field, 0);
    tr_pbw_varint(b, v);
}

void tr_pbw_bytes(struct tr_buf *b, uint32_t field, const void *p, size_t n)
{
    tr_pbw_tag(b, field, 2);
    tr_pbw_varint(b, n);
    tr_buf_append(b, p, n);
}

void tr_pbw_str(struct tr_buf *b, uint32_t field, const char *s)
{
    tr_pbw_bytes(b, field, s, strlen(s));
}

void tr_pbw_msg(struct tr_buf *b, uint32_t field, const struct tr_buf *m)
{
    tr_pbw_bytes(b, field, m->data, m->len);
}

void tr_pbw_fixed64(struct tr_buf *b, uint32_t field, uint64_t v)
{
    tr_pbw_tag(b, field, 1);
    for (int i = 0; i < 8; i++) {
        tr_buf_putc(b, (char)(v >> (8 * i)));
    }
}

void tr_pbw_double(struct tr_buf *b, uint32_t field, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    tr_pbw_fixed64(b, field, u);
}

void tr_pbw_fixed32(struct tr_buf *b, uint32_t field, uint32_t v)
{
    tr_pbw_tag(b, field, 5);
    for (int i = 0; i < 4; i++) {
        tr_buf_putc(b, (char)(v >> (8 * i)));
    }
}
