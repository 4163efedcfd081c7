/* chunk_record.c - persisted chunk records (format in chunk_record.h). */
#include "storage/chunk_record.h"

#include <math.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "storage/keys.h"

#define REC_MAX_SCALE 6

static const double rec_pow10[REC_MAX_SCALE + 1] = {1e0, 1e1, 1e2, 1e3,
                                                    1e4, 1e5, 1e6};

static int64_t rec__gcd(int64_t a, int64_t b)
{
    uint64_t x = a < 0 ? (uint64_t)0 - (uint64_t)a : (uint64_t)a;
    uint64_t y = b < 0 ? (uint64_t)0 - (uint64_t)b : (uint64_t)b;
    while (y != 0) {
        uint64_t t = x % y;
        x = y;
        y = t;
    }
    return x > (uint64_t)INT64_MAX ? 1 : (int64_t)x;
}

/* Can every value be written as k / 10^d with |k| < 2^53, bit-exactly?
 * Fills ks and returns d, or -1. */
static int rec__scale(const double *vs, size_t n, int64_t *ks)
{
    for (int d = 0; d <= REC_MAX_SCALE; d++) {
        size_t i = 0;
        for (; i < n; i++) {
            double x = vs[i] * rec_pow10[d];
            if (!(fabs(x) < 9007199254740992.0)) {
                break; /* also NaN and Inf */
            }
            int64_t k = (int64_t)llround(x);
            double back = (double)k / rec_pow10[d];
            if (memcmp(&back, &vs[i], 8) != 0) {
                break; /* -0.0 and non-decimal fractions end here */
            }
            ks[i] = k;
        }
        if (i == n) {
            return d;
        }
    }
    return -1;
}

int tr_chunk_record_build(struct tr_buf *out,
                          int64_t maxt,
                          const void * xor
                          ,
                          size_t n)
{
    uint16_t cnt = tr_xor_count(xor, n);
    tr_buf_put_u64be(out, tr_key_time(maxt));
    int64_t *ts = NULL, *ks = NULL;
    double *vs = NULL;
    if (cnt >= 2) {
        ts = tr_malloc(cnt * sizeof(int64_t));
        ks = tr_malloc(cnt * sizeof(int64_t));
        vs = tr_malloc(cnt * sizeof(double));
    }
    int d = -1;
    size_t got = 0;
    if (ts != NULL && ks != NULL && vs != NULL) {
        struct tr_xor_iter it;
        tr_xor_iter_init(&it, xor, n);
        while (got < cnt && tr_xor_iter_next(&it, &ts[got], &vs[got]) == 1) {
            got++;
        }
        if (got == cnt) {
            d = rec__scale(vs, got, ks);
        }
    }
    if (d < 0) {
        tr_buf_putc(out, TR_CHUNK_FMT_XOR);
        tr_buf_append(out, xor, n);
    } else {
        int64_t g = 0;
        for (size_t i = 1; i < got; i++) {
            g = rec__gcd(g, ks[i] - ks[i - 1]);
        }
        if (g <= 0) {
            g = 1;
        }
        tr_buf_putc(out, TR_CHUNK_FMT_PACKED);
        tr_buf_put_uvarint(out, got);
        tr_buf_put_varint(out, ts[0]);
        tr_buf_put_uvarint(out, (uint64_t)(ts[1] - ts[0]));
        for (size_t i = 2; i < got; i++) {
            tr_buf_put_varint(out,
                              (ts[i] - ts[i - 1]) - (ts[i - 1] - ts[i - 2]));
        }
        tr_buf_putc(out, (char)d);
        tr_buf_put_uvarint(out, (uint64_t)g);
        tr_buf_put_varint(out, ks[0]);
        for (size_t i = 1; i < got; i++) {
            tr_buf_put_varint(out, (ks[i] - ks[i - 1]) / g);
        }
    }
    tr_free(ts);
    tr_free(ks);
    tr_free(vs);
    return out->oom ? TR_ENOMEM : 0;
}

int64_t tr_chunk_record_maxt(const void *rec, size_t n)
{
    if (n < 8) {
        return INT64_MIN;
    }
    return tr_key_time_decode(tr_get_u64be(rec));
}

/* Bounds-checked uvarint with a one-byte fast path. */
static inline int rec__uvarint(const uint8_t **pp,
                               const uint8_t *end,
                               uint64_t *v)
{
    const uint8_t *p = *pp;
    if (p < end && *p < 0x80) {
        *v = *p;
        *pp = p + 1;
        return 0;
    }
    uint64_t x = 0;
    for (unsigned i = 0, shift = 0; i < 10; i++, shift += 7) {
        if (p >= end) {
            return TR_ECORRUPT;
        }
        uint8_t b = *p++;
        if (i == 9 && b > 1) {
            return TR_ECORRUPT;
        }
        x |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *v = x;
            *pp = p;
            return 0;
        }
    }
    return TR_ECORRUPT;
}

static inline int rec__varint(const uint8_t **pp,
                              const uint8_t *end,
                              int64_t *v)
{
    uint64_t u;
    if (rec__uvarint(pp, end, &u) != 0) {
        return TR_ECORRUPT;
    }
    *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    return 0;
}

size_t tr_chunk_record_count(const void *rec, size_t n)
{
    if (n < TR_CHUNK_RECORD_HEADER) {
        return 0;
    }
    const uint8_t *p = rec;
    if (p[8] == TR_CHUNK_FMT_XOR) {
        return tr_xor_count(p + 9, n - 9);
    }
    const uint8_t *q = p + 9;
    uint64_t c;
    if (p[8] != TR_CHUNK_FMT_PACKED || rec__uvarint(&q, p + n, &c) != 0 ||
        c > n * 8) {
        return 0;
    }
    return (size_t)c;
}

long tr_chunk_record_decode(const void *rec,
                            size_t n,
                            int64_t mint,
                            int64_t maxt,
                            struct tr_sample *dst)
{
    const uint8_t *p = rec;
    if (n < TR_CHUNK_RECORD_HEADER) {
        return TR_ECORRUPT;
    }
    size_t got = 0;
    if (p[8] == TR_CHUNK_FMT_XOR) {
        /* the iterator stops at the header's count, which
         * tr_chunk_record_count reported */
        struct tr_xor_iter it;
        tr_xor_iter_init(&it, p + 9, n - 9);
        int64_t t;
        double v;
        int r;
        while ((r = tr_xor_iter_next(&it, &t, &v)) == 1) {
            if (t > maxt) {
                break;
            }
            if (t >= mint) {
                dst[got].t = t;
                dst[got].v = v;
                got++;
            }
        }
        return r < 0 ? TR_ECORRUPT : (long)got;
    }
    if (p[8] != TR_CHUNK_FMT_PACKED || tr_chunk_record_count(rec, n) == 0) {
        return TR_ECORRUPT;
    }
    const uint8_t *q = p + 9, *end = p + n;
    uint64_t cnt, u, g;
    int64_t x, t, delta = 0;
    if (rec__uvarint(&q, end, &cnt) != 0 || rec__varint(&q, end, &t) != 0) {
        return TR_ECORRUPT;
    }
    /* timestamps of every sample; the window [lo, hi) is kept */
    size_t lo = 0, hi = 0;
    for (size_t i = 0; i < cnt; i++) {
        if (i == 1) {
            if (rec__uvarint(&q, end, &u) != 0) {
                return TR_ECORRUPT;
            }
            delta = (int64_t)u;
            t = (int64_t)((uint64_t)t + (uint64_t)delta);
        } else if (i > 1) {
            if (rec__varint(&q, end, &x) != 0) {
                return TR_ECORRUPT;
            }
            delta = (int64_t)((uint64_t)delta + (uint64_t)x);
            t = (int64_t)((uint64_t)t + (uint64_t)delta);
        }
        dst[i].t = t;
        if (t < mint) {
            lo = i + 1;
        }
        if (t <= maxt) {
            hi = i + 1;
        }
    }
    if (q >= end || *q > REC_MAX_SCALE) {
        return TR_ECORRUPT;
    }
    uint8_t d = *q++;
    int64_t k;
    if (rec__uvarint(&q, end, &g) != 0 || g == 0 || g > INT64_MAX ||
        rec__varint(&q, end, &k) != 0) {
        return TR_ECORRUPT;
    }
    double div = rec_pow10[d];
    for (size_t i = 0; i < hi; i++) {
        if (i > 0) {
            if (rec__varint(&q, end, &x) != 0) {
                return TR_ECORRUPT;
            }
            k = (int64_t)((uint64_t)k + (uint64_t)x * g);
        }
        dst[i].v = d == 0 ? (double)k : (double)k / div;
    }
    if (lo >= hi) {
        return 0;
    }
    if (lo > 0) {
        memmove(dst, dst + lo, (hi - lo) * sizeof(*dst));
    }
    return (long)(hi - lo);
}

int tr_chunk_reader_init(struct tr_chunk_reader *r, const void *rec, size_t n)
{
    memset(r, 0, sizeof(*r));
    if (n < TR_CHUNK_RECORD_HEADER) {
        return TR_ECORRUPT;
    }
    const uint8_t *p = rec;
    r->format = p[8];
    if (r->format == TR_CHUNK_FMT_XOR) {
        tr_xor_iter_init(&r->xor, p + 9, n - 9);
        return 0;
    }
    if (r->format != TR_CHUNK_FMT_PACKED) {
        return TR_ECORRUPT;
    }
    r->cur = tr_cursor_make(p + 9, n - 9);
    if (tr_cursor_uvarint(&r->cur, &r->n) != 0 || r->n == 0 || r->n > n * 8) {
        return TR_ECORRUPT;
    }
    /* skip the timestamps to find the values */
    struct tr_cursor c = r->cur;
    int64_t x;
    uint64_t u;
    if (tr_cursor_varint(&c, &x) != 0) {
        return TR_ECORRUPT;
    }
    if (r->n >= 2 && tr_cursor_uvarint(&c, &u) != 0) {
        return TR_ECORRUPT;
    }
    for (uint64_t i = 2; i < r->n; i++) {
        if (tr_cursor_varint(&c, &x) != 0) {
            return TR_ECORRUPT;
        }
    }
    uint8_t d;
    uint64_t g;
    if (tr_cursor_u8(&c, &d) != 0 || d > REC_MAX_SCALE ||
        tr_cursor_uvarint(&c, &g) != 0 || g == 0 || g > INT64_MAX) {
        return TR_ECORRUPT;
    }
    r->div = rec_pow10[d];
    r->g = (int64_t)g;
    r->vcur = c;
    return 0;
}

int tr_chunk_reader_next(struct tr_chunk_reader *r, int64_t *t, double *v)
{
    if (r->format == TR_CHUNK_FMT_XOR) {
        return tr_xor_iter_next(&r->xor, t, v);
    }
    if (r->i >= r->n) {
        return 0;
    }
    int64_t x;
    if (r->i == 0) {
        if (tr_cursor_varint(&r->cur, &x) != 0 ||
            tr_cursor_varint(&r->vcur, &r->k) != 0) {
            return TR_ECORRUPT;
        }
        r->t = x;
    } else {
        if (r->i == 1) {
            uint64_t u;
            if (tr_cursor_uvarint(&r->cur, &u) != 0) {
                return TR_ECORRUPT;
            }
            r->delta = (int64_t)u;
        } else {
            if (tr_cursor_varint(&r->cur, &x) != 0) {
                return TR_ECORRUPT;
            }
            r->delta = (int64_t)((uint64_t)r->delta + (uint64_t)x);
        }
        r->t = (int64_t)((uint64_t)r->t + (uint64_t)r->delta);
        if (tr_cursor_varint(&r->vcur, &x) != 0) {
            return TR_ECORRUPT;
        }
        r->k = (int64_t)((uint64_t)r->k + (uint64_t)x * (uint64_t)r->g);
    }
    r->i++;
    *t = r->t;
    *v = (double)r->k / r->div;
    return 1;
}
