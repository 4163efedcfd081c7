/* compress.h - body codecs: snappy block, gzip, zlib/deflate (raw or zlib
 * wrapped), each with an output size limit so a small bomb cannot inflate
 * past it; and zstd encoding for the stores. */
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
/* Appends one zstd frame of in[0..n) at level to out, through a
 * compression context kept per thread (a new context per call costs the
 * allocation and the zeroing of its tables: a few % of the logs ingest
 * CPU). The output is the same as ZSTD_compress's. 0 or TR_ENOMEM. */
int tr_zstd_encode(const void *in, size_t n, int level, struct tr_buf *out);
int tr_gzip_encode(const void *in, size_t n, struct tr_buf *out);

#endif
