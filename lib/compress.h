/* compress.h - body codecs: snappy block, gzip, zlib/deflate (raw or zlib
 * wrapped), each with an output size limit so a small bomb cannot inflate
 * past it. */
#ifndef TR_LIB_COMPRESS_H
#define TR_LIB_COMPRESS_H

#include <stddef.h>

#include "lib/buf.h"

/* Each returns 0, TR_EPROTO (corrupt input; errmsg says why), TR_ETOOLARGE
 * (decoded size would exceed max_out) or TR_ENOMEM. Output appended to out. */
int tr_snappy_decode(const void *in,
                     size_t n,
                     size_t max_out,
                     struct tr_buf *out,
                     char *errmsg);
int tr_gzip_decode(const void *in,
                   size_t n,
                   size_t max_out,
                   struct tr_buf *out,
                   char *errmsg);
/* "deflate" as HTTP means it: zlib-wrapped; raw deflate accepted too. */
int tr_deflate_decode(const void *in,
                      size_t n,
                      size_t max_out,
                      struct tr_buf *out,
                      char *errmsg);
int tr_snappy_encode(const void *in, size_t n, struct tr_buf *out);
int tr_gzip_encode(const void *in, size_t n, struct tr_buf *out);

#endif
