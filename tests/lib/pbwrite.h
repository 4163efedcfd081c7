/* pbwrite.h - a protobuf writer for tests that hand-build requests (OTLP
 * traces and metrics): tags, varints, fixed-width values, length-delimited
 * fields and sub-messages appended to a tr_buf. */
#ifndef TR_TESTS_LIB_PBWRITE_H
#define TR_TESTS_LIB_PBWRITE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

void tr_pbw_varint(struct tr_buf *b, uint64_t v);
void tr_pbw_tag(struct tr_buf *b, uint32_t field, unsigned wt);
/* field (varint wire type) = v */
void tr_pbw_uint(struct tr_buf *b, uint32_t field, uint64_t v);
void tr_pbw_bytes(struct tr_buf *b, uint32_t field, const void *p, size_t n);
void tr_pbw_str(struct tr_buf *b, uint32_t field, const char *s);
void tr_pbw_msg(struct tr_buf *b, uint32_t field, const struct tr_buf *m);
void tr_pbw_fixed64(struct tr_buf *b, uint32_t field, uint64_t v);
void tr_pbw_double(struct tr_buf *b, uint32_t field, double d);
void tr_pbw_fixed32(struct tr_buf *b, uint32_t field, uint32_t v);

#endif
