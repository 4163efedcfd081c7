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
