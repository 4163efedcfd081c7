/* compress.c - snappy block, gzip and zlib/raw deflate codecs with an output
 * limit (decompression-bomb safe: output is produced in bounded steps and
 * decoding stops as soon as max_out would be exceeded). */
#include "lib/compress.h"

#include <pthread.h>
#include <snappy-c.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "lib/alloc.h"
#include "lib/err.h"

int tr_snappy_decode(const void *in,
                     size_t n,
                     size_t max_out,
                     struct tr_buf *out,
                     char *errmsg)
{
    size_t ulen = 0;
    if (snappy_uncompressed_length(in, n, &ulen) != SNAPPY_OK) {
        return tr_errf(TR_EPROTO, errmsg, "snappy: corrupt input");
    }
    if (ulen > max_out) {
        return tr_errf(TR_ETOOLARGE, errmsg,
                       "snappy: decoded size %zu exceeds limit of %zu bytes",
                       ulen, max_out);
    }
    /* Validate before allocating: a forged length header costs nothing. */
    if (snappy_validate_compressed_buffer(in, n) != SNAPPY_OK) {
        return tr_errf(TR_EPROTO, errmsg, "snappy: corrupt input");
    }
    if (tr_buf_reserve(out, ulen) != 0) {
        return tr_errf(TR_ENOMEM, errmsg, "snappy: out of memory");
    }
    size_t got = ulen;
    if (snappy_uncompress(in, n, out->data + out->len, &got) != SNAPPY_OK ||
        got != ulen) {
        out->data[out->len] = '\0';
        return tr_errf(TR_EPROTO, errmsg, "snappy: corrupt input");
    }
    out->len += got;
    out->data[out->len] = '\0';
    return 0;
}

int tr_snappy_encode(const void *in, size_t n, struct tr_buf *out)
{
    size_t cap = snappy_max_compressed_length(n);
    if (tr_buf_reserve(out, cap) != 0) {
        return TR_ENOMEM;
    }
    size_t got = cap;
    if (snappy_compress(in, n, out->data + out->len, &got) != SNAPPY_OK) {
        out->data[out->len] = '\0';
        return TR_EINVAL;
    }
    out->len += got;
    out->data[out->len] = '\0';
    return 0;
}

/* Zlib output is produced in steps of at most this many bytes. */
#define ZSTEP (64 * 1024)

/* Runs inflate over the whole input. window_bits selects the wrapper
 * (16+15 gzip, 15 zlib, -15 raw). For gzip, concatenated members are
 * decoded one after the other (as gunzip and Go's gzip.Reader do). */
static int inflate_all(const char *what,
                       int window_bits,
                       const void *in,
                       size_t n,
                       size_t max_out,
                       struct tr_buf *out,
                       char *errmsg)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, window_bits) != Z_OK) {
        return tr_errf(TR_ENOMEM, errmsg, "%s: out of memory", what);
    }
    size_t start = out->len;
    const unsigned char *p = in;
    size_t left = n;
    int rv = 0;
    if (n == 0) {
        rv = tr_errf(TR_EPROTO, errmsg, "%s: unexpected EOF", what);
        goto err_after_init;
    }
    for (;;) {
        if (zs.avail_in == 0 && left > 0) {
            size_t take = left > (1u << 30) ? (1u << 30) : left;
            zs.next_in = (unsigned char *)p;
            zs.avail_in = (uInt)take;
            p += take;
            left -= take;
        }
        size_t room = max_out - (out->len - start);
        /* Ask for one byte more than allowed so an exact fit is told apart
         * from an overflow. */
        size_t step = room + 1 < ZSTEP ? room + 1 : ZSTEP;
        if (tr_buf_reserve(out, step) != 0) {
            rv = tr_errf(TR_ENOMEM, errmsg, "%s: out of memory", what);
            goto err_after_init;
        }
        zs.next_out = (unsigned char *)out->data + out->len;
        zs.avail_out = (uInt)step;
        int zr = inflate(&zs, Z_NO_FLUSH);
        size_t produced = step - zs.avail_out;
        out->len += produced;
        out->data[out->len] = '\0';
        if (out->len - start > max_out) {
            rv = tr_errf(TR_ETOOLARGE, errmsg,
                         "%s: decoded size exceeds limit of %zu bytes", what,
                         max_out);
            goto err_after_init;
        }
        if (zr == Z_STREAM_END) {
            size_t rest = zs.avail_in + left;
            if (rest == 0) {
                break;
            }
            /* Another gzip member may follow. */
            const unsigned char *np = zs.next_in;
            if (window_bits > 15 && rest >= 2 && np[0] == 0x1f &&
                np[1] == 0x8b) {
                inflateReset(&zs);
                continue;
            }
            rv = tr_errf(TR_EPROTO, errmsg,
                         "%s: %zu bytes of trailing garbage after stream end",
                         what, rest);
            goto err_after_init;
        }
        if (zr == Z_NEED_DICT) {
            rv = tr_errf(TR_EPROTO, errmsg, "%s: preset dictionary required",
                         what);
            goto err_after_init;
        }
        if (zr == Z_DATA_ERROR) {
            rv = tr_errf(TR_EPROTO, errmsg, "%s: %s", what,
                         zs.msg ? zs.msg : "invalid data");
            goto err_after_init;
        }
        if (zr == Z_MEM_ERROR) {
            rv = tr_errf(TR_ENOMEM, errmsg, "%s: out of memory", what);
            goto err_after_init;
        }
        if (zr == Z_BUF_ERROR || (zr == Z_OK && produced == 0)) {
            if (zs.avail_in == 0 && left == 0) {
                rv = tr_errf(TR_EPROTO, errmsg, "%s: unexpected EOF", what);
                goto err_after_init;
            }
        }
    }
    inflateEnd(&zs);
    return 0;

err_after_init:
    inflateEnd(&zs);
    out->len = start;
    if (out->data != NULL) {
        out->data[out->len] = '\0';
    }
    return rv;
}

int tr_gzip_decode(const void *in,
                   size_t n,
                   size_t max_out,
                   struct tr_buf *out,
                   char *errmsg)
{
    const unsigned char *p = in;
    if (n >= 1 && (n < 2 || p[0] != 0x1f || p[1] != 0x8b)) {
        return tr_errf(TR_EPROTO, errmsg, "gzip: invalid header");
    }
    return inflate_all("gzip", 16 + MAX_WBITS, in, n, max_out, out, errmsg);
}

int tr_deflate_decode(const void *in,
                      size_t n,
                      size_t max_out,
                      struct tr_buf *out,
                      char *errmsg)
{
    const unsigned char *p = in;
    /* A zlib header: CM = 8, CINFO <= 7, header checksum a multiple of 31.
     * Anything else is taken as raw deflate (some clients send that). */
    bool zlib = n >= 2 && (p[0] & 0x0f) == 8 && (p[0] >> 4) <= 7 &&
                ((unsigned)p[0] * 256 + p[1]) % 31 == 0;
    return inflate_all("deflate", zlib ? MAX_WBITS : -MAX_WBITS, in, n, max_out,
                       out, errmsg);
}

int tr_gzip_encode(const void *in, size_t n, struct tr_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        return TR_ENOMEM;
    }
    int rv = 0;
    size_t start = out->len;
    const unsigned char *p = in;
    size_t left = n;
    for (;;) {
        if (zs.avail_in == 0 && left > 0) {
            size_t take = left > (1u << 30) ? (1u << 30) : left;
            zs.next_in = (unsigned char *)p;
            zs.avail_in = (uInt)take;
            p += take;
            left -= take;
        }
        if (tr_buf_reserve(out, ZSTEP) != 0) {
            rv = TR_ENOMEM;
            goto err_after_init;
        }
        zs.next_out = (unsigned char *)out->data + out->len;
        zs.avail_out = ZSTEP;
        int zr = deflate(&zs, left == 0 ? Z_FINISH : Z_NO_FLUSH);
        out->len += ZSTEP - zs.avail_out;
        out->data[out->len] = '\0';
        if (zr == Z_STREAM_END) {
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rv = TR_EINVAL;
            goto err_after_init;
        }
    }
    deflateEnd(&zs);
    return 0;

err_after_init:
    deflateEnd(&zs);
    out->len = start;
    if (out->data != NULL) {
        out->data[out->len] = '\0';
    }
    return rv;
}

/* One zstd compression context per thread, freed when the thread ends. */
static pthread_key_t zstd_key;
static pthread_once_t zstd_once = PTHREAD_ONCE_INIT;

static void zstd__free(void *cctx)
{
    ZSTD_freeCCtx(cctx);
}

static void zstd__key(void)
{
    (void)pthread_key_create(&zstd_key, zstd__free);
}

int tr_zstd_encode(const void *in, size_t n, int level, struct tr_buf *out)
{
    pthread_once(&zstd_once, zstd__key);
    ZSTD_CCtx *cctx = pthread_getspecific(zstd_key);
    if (cctx == NULL) {
        cctx = ZSTD_createCCtx();
        if (cctx == NULL || pthread_setspecific(zstd_key, cctx) != 0) {
            ZSTD_freeCCtx(cctx);
            return TR_ENOMEM;
        }
    }
    size_t bound = ZSTD_compressBound(n);
    if (tr_buf_reserve(out, bound) != 0) {
        return TR_ENOMEM;
    }
    size_t z =
        ZSTD_compressCCtx(cctx, out->data + out->len, bound, in, n, level);
    if (ZSTD_isError(z)) {
        return TR_ENOMEM;
    }
    out->len += z;
    return 0;
}
