/* series.c - the series of a select result in either form (select.h):
 * decoding a chunk-form series (whole, or a chunk at a time), encoding
 * decoded samples as chunks, merging the parts of one series found in
 * several shards, and decoding a whole result for readers that want
 * samples.
 *
 * Chunks may come from another node: every chunk is checked while it is
 * decoded (its record holds its n samples in [mint, maxt], strictly
 * increasing, from mint to maxt, and it starts after the previous chunk
 * ends), so a malformed one is an error, never a read out of bounds or
 * unsorted samples. */
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "storage/chunk.h"
#include "storage/chunk_record.h"
#include "storage/keys.h"
#include "storage/select.h"

/* Samples per chunk that tr_series_encode writes. */
#define SERIES_ENCODE_CHUNK 1024

/* Records holding at most this many samples are clipped on the stack. */
#define SERIES_CLIP_STACK 256

/* Decodes chunk c (after last_t) into dst (room for c->n): the record's
 * samples in [c->mint, c->maxt], which must be c->n, increasing, from
 * mint to maxt. 0, TR_ECORRUPT or TR_ENOMEM. */
static int series__chunk(const struct tr_chunk_ref *c,
                         int64_t last_t,
                         bool first,
                         struct tr_sample *dst)
{
    size_t rc = tr_chunk_record_count(c->rec, c->len);
    if (c->n == 0 || c->mint > c->maxt || (!first && c->mint <= last_t) ||
        rc < c->n) {
        return TR_ECORRUPT;
    }
    /* a clipped record decodes more than it keeps (the decoder writes
     * every sample before the window is kept) */
    struct tr_sample stack[SERIES_CLIP_STACK];
    struct tr_sample *out = dst, *heap = NULL;
    if (rc > c->n) {
        out = rc <= SERIES_CLIP_STACK ? stack
                                      : (heap = tr_malloc(rc * sizeof(*heap)));
        if (out == NULL) {
            return TR_ENOMEM;
        }
    }
    long got = tr_chunk_record_decode(c->rec, c->len, c->mint, c->maxt, out);
    int rv = 0;
    if (got < 0 || (size_t)got != c->n || out[0].t != c->mint ||
        out[c->n - 1].t != c->maxt) {
        rv = TR_ECORRUPT;
    }
    for (size_t i = 1; rv == 0 && i < c->n; i++) {
        if (out[i].t <= out[i - 1].t) {
            rv = TR_ECORRUPT;
        }
    }
    if (rv == 0 && out != dst) {
        memcpy(dst, out, c->n * sizeof(*dst));
    }
    tr_free(heap);
    return rv;
}

const struct tr_sample *tr_series_samples(const struct tr_series_data *sd,
                                          struct tr_sample *buf)
{
    static const struct tr_sample none;
    if (sd->samples != NULL) {
        return sd->samples;
    }
    if (sd->n_samples == 0) {
        return &none;
    }
    size_t o = 0;
    for (size_t i = 0; i < sd->n_chunks; i++) {
        const struct tr_chunk_ref *c = &sd->chunks[i];
        if (c->n > sd->n_samples - o ||
            series__chunk(c, o > 0 ? buf[o - 1].t : 0, o == 0, buf + o) != 0) {
            return NULL;
        }
        o += c->n;
    }
    return o == sd->n_samples ? buf : NULL;
}

void tr_series_iter_init(struct tr_series_iter *it,
                         const struct tr_series_data *sd)
{
    memset(it, 0, sizeof(*it));
    it->sd = sd;
}

int tr_series_iter_next(struct tr_series_iter *it,
                        const struct tr_sample **s,
                        size_t *n)
{
    const struct tr_series_data *sd = it->sd;
    if (sd->samples != NULL || sd->n_samples == 0) {
        if (it->next > 0 || sd->n_samples == 0) {
            return 0;
        }
        it->next = 1;
        *s = sd->samples;
        *n = sd->n_samples;
        return 1;
    }
    if (it->next >= sd->n_chunks) {
        return 0;
    }
    const struct tr_chunk_ref *c = &sd->chunks[it->next];
    if (c->n > it->cap) {
        struct tr_sample *nb = tr_realloc(it->buf, c->n * sizeof(*nb));
        if (nb == NULL) {
            return TR_ENOMEM;
        }
        it->buf = nb;
        it->cap = c->n;
    }
    int rv = series__chunk(c, it->last_t, it->next == 0, it->buf);
    if (rv != 0) {
        return rv;
    }
    it->next++;
    it->last_t = c->maxt;
    *s = it->buf;
    *n = c->n;
    return 1;
}

void tr_series_iter_free(struct tr_series_iter *it)
{
    tr_free(it->buf);
    it->buf = NULL;
    it->cap = 0;
}

int tr_series_encode(struct tr_arena *a,
                     const struct tr_sample *v,
                     size_t n,
                     struct tr_series_data *sd)
{
    size_t nc = (n + SERIES_ENCODE_CHUNK - 1) / SERIES_ENCODE_CHUNK;
    sd->samples = NULL;
    sd->n_samples = n;
    sd->n_chunks = 0;
    sd->chunks = tr_arena_alloc(a, (nc ? nc : 1) * sizeof(*sd->chunks));
    if (sd->chunks == NULL) {
        return TR_ENOMEM;
    }
    struct tr_xor_chunk x;
    tr_xor_init(&x);
    int rv = 0;
    for (size_t i = 0; i < n && rv == 0; i += SERIES_ENCODE_CHUNK) {
        size_t k = n - i < SERIES_ENCODE_CHUNK ? n - i : SERIES_ENCODE_CHUNK;
        tr_xor_free(&x);
        tr_xor_init(&x);
        for (size_t j = 0; j < k && rv == 0; j++) {
            rv = tr_xor_append(&x, v[i + j].t, v[i + j].v);
        }
        if (rv != 0) {
            break;
        }
        size_t xl = tr_xor_len(&x);
        uint8_t *rec = tr_arena_alloc(a, TR_CHUNK_RECORD_HEADER + xl);
        if (rec == NULL) {
            rv = TR_ENOMEM;
            break;
        }
        tr_put_u64be(rec, tr_key_time(v[i + k - 1].t));
        rec[8] = TR_CHUNK_FMT_XOR;
        memcpy(rec + TR_CHUNK_RECORD_HEADER, x.data, xl);
        struct tr_chunk_ref *c = &sd->chunks[sd->n_chunks++];
        c->rec = rec;
        c->len = TR_CHUNK_RECORD_HEADER + xl;
        c->mint = v[i].t;
        c->maxt = v[i + k - 1].t;
        c->n = k;
    }
    tr_xor_free(&x);
    /* TR_EINVAL from tr_xor_append: times not increasing (a caller bug) */
    return rv == 0 ? 0 : (rv == TR_ENOMEM ? TR_ENOMEM : TR_ECORRUPT);
}

/* ---- merging the parts of one series ------------------------------------ */

struct merge_chunk {
    const struct tr_chunk_ref *c;
};

static int merge__chunk_cmp(const void *a, const void *b)
{
    const struct tr_chunk_ref *x = ((const struct merge_chunk *)a)->c;
    const struct tr_chunk_ref *y = ((const struct merge_chunk *)b)->c;
    return x->mint < y->mint ? -1 : (x->mint > y->mint ? 1 : 0);
}

/* A sample with the part it came from (equal times keep the first part's). */
struct merge_sample {
    struct tr_sample s;
    size_t part;
};

static int merge__sample_cmp(const void *a, const void *b)
{
    const struct merge_sample *x = a, *y = b;
    if (x->s.t != y->s.t) {
        return x->s.t < y->s.t ? -1 : 1;
    }
    return x->part < y->part ? -1 : (x->part > y->part ? 1 : 0);
}

/* The overlapping case: every sample, sorted, unique, encoded again. */
static int merge__resample(struct tr_arena *a,
                           const struct tr_series_data *const *parts,
                           size_t n,
                           size_t total,
                           struct tr_series_data *out)
{
    struct merge_sample *all = tr_malloc((total ? total : 1) * sizeof(*all));
    struct tr_sample *buf = NULL, *dst = NULL;
    size_t cap = 0, o = 0;
    int rv = all == NULL ? TR_ENOMEM : 0;
    for (size_t p = 0; p < n && rv == 0; p++) {
        const struct tr_series_data *sd = parts[p];
        if (sd->n_samples > cap) {
            struct tr_sample *nb = tr_realloc(buf, sd->n_samples * sizeof(*nb));
            if (nb == NULL) {
                rv = TR_ENOMEM;
                break;
            }
            buf = nb;
            cap = sd->n_samples;
        }
        const struct tr_sample *s = tr_series_samples(sd, buf);
        if (s == NULL) {
            rv = TR_ECORRUPT;
            break;
        }
        for (size_t i = 0; i < sd->n_samples; i++) {
            all[o].s = s[i];
            all[o++].part = p;
        }
    }
    if (rv == 0 && o > 1) {
        qsort(all, o, sizeof(*all), merge__sample_cmp);
    }
    if (rv == 0) {
        dst = tr_malloc((o ? o : 1) * sizeof(*dst));
        rv = dst == NULL ? TR_ENOMEM : 0;
    }
    size_t u = 0;
    for (size_t i = 0; rv == 0 && i < o; i++) {
        if (u == 0 || all[i].s.t != dst[u - 1].t) {
            dst[u++] = all[i].s;
        }
    }
    if (rv == 0) {
        rv = tr_series_encode(a, dst, u, out);
    }
    tr_free(dst);
    tr_free(buf);
    tr_free(all);
    return rv;
}

int tr_series_merge(struct tr_arena *a,
                    const struct tr_series_data *const *parts,
                    size_t n,
                    struct tr_series_data *out)
{
    memset(out, 0, sizeof(*out));
    if (n == 0) {
        return 0;
    }
    out->labels = parts[0]->labels;
    out->n_labels = parts[0]->n_labels;
    size_t nc = 0, total = 0;
    bool chunked = true;
    for (size_t p = 0; p < n; p++) {
        total += parts[p]->n_samples;
        if (parts[p]->n_samples == 0) {
            continue;
        }
        if (parts[p]->samples != NULL) {
            chunked = false;
        } else {
            nc += parts[p]->n_chunks;
        }
    }
    if (total == 0) {
        return 0;
    }
    if (!chunked) {
        return merge__resample(a, parts, n, total, out);
    }
    struct merge_chunk *mc = tr_malloc((nc ? nc : 1) * sizeof(*mc));
    if (mc == NULL) {
        return TR_ENOMEM;
    }
    size_t k = 0;
    bool sorted = true;
    for (size_t p = 0; p < n; p++) {
        if (parts[p]->n_samples == 0) {
            continue;
        }
        for (size_t i = 0; i < parts[p]->n_chunks; i++) {
            mc[k].c = &parts[p]->chunks[i];
            sorted = sorted && (k == 0 || mc[k - 1].c->mint < mc[k].c->mint);
            k++;
        }
    }
    if (!sorted) {
        qsort(mc, k, sizeof(*mc), merge__chunk_cmp);
    }
    bool overlap = false;
    for (size_t i = 1; i < k && !overlap; i++) {
        overlap = mc[i].c->mint <= mc[i - 1].c->maxt;
    }
    int rv;
    if (overlap) {
        rv = merge__resample(a, parts, n, total, out);
    } else {
        out->chunks = tr_arena_alloc(a, (k ? k : 1) * sizeof(*out->chunks));
        rv = out->chunks == NULL ? TR_ENOMEM : 0;
        for (size_t i = 0; rv == 0 && i < k; i++) {
            out->chunks[i] = *mc[i].c;
        }
        out->n_chunks = k;
        out->n_samples = total;
    }
    tr_free(mc);
    return rv;
}

int tr_select_result_decode(struct tr_select_result *r)
{
    for (size_t i = 0; i < r->n_series; i++) {
        struct tr_series_data *sd = &r->series[i];
        if (sd->samples != NULL || sd->n_samples == 0) {
            continue;
        }
        struct tr_sample *buf =
            tr_arena_alloc(&r->arena, sd->n_samples * sizeof(*buf));
        if (buf == NULL) {
            return TR_ENOMEM;
        }
        if (tr_series_samples(sd, buf) == NULL) {
            return TR_ECORRUPT;
        }
        sd->samples = buf;
        sd->chunks = NULL;
        sd->n_chunks = 0;
    }
    return 0;
}
