/* exemplars.c - exemplars kept per series in a metrics shard: one 'E' key
 * per exemplar (storage/keys.h), written by apply, read by
 * tr_storage_exemplars (storage/select.c).
 *
 * Bound: a series keeps at most TR_EXEMPLARS_PER_SERIES exemplars, those
 * with the greatest keys (newest timestamp first, then the hash of value
 * and labels). Apply merges the entry's exemplars of a series with the
 * stored ones and keeps the greatest: the result is the greatest keys of
 * everything ever applied to the series, whatever the order and however
 * often an entry is applied again (replay after a restart applies entries
 * whose writes are already stored), so apply stays deterministic and
 * idempotent. Exemplars live in the shard's key range: copied, checksummed
 * and dropped with the window like the rest of it. */
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/hash.h"
#include "storage/keys.h"
#include "storage/labels.h"
#include "storage/storage_int.h"

#define EX_SUFFIX 16 /* timestamp + hash */

struct ex_cand {
    uint8_t suffix[EX_SUFFIX];
    const struct tr_entry_exemplar *e; /* NULL: stored already */
    bool stored;
};

static int ex__cmp_desc(const void *a, const void *b)
{
    const struct ex_cand *x = a, *y = b;
    int c = memcmp(y->suffix, x->suffix, EX_SUFFIX);
    if (c != 0) {
        return c;
    }
    return (int)y->stored - (int)x->stored; /* the stored one first */
}

static void ex__suffix(const struct tr_entry_exemplar *e,
                       uint8_t out[EX_SUFFIX],
                       struct tr_buf *tmp)
{
    uint64_t bits;
    memcpy(&bits, &e->v, 8);
    tr_buf_reset(tmp);
    tr_buf_put_u64be(tmp, bits);
    tr_buf_append(tmp, e->enc.base, e->enc.len);
    tr_put_u64be(out, tr_key_time(e->ts));
    tr_put_u64be(out + 8, tr_hash64(tmp->data, tmp->len, 0x6578656d706c72));
}

int exemplars_apply(struct tr_storage *s,
                    struct tr_slice tenant,
                    int64_t window,
                    uint16_t slot,
                    uint64_t id,
                    const struct tr_entry_exemplar *const *ex,
                    size_t n)
{
    struct tr_buf key, tmp;
    tr_buf_init(&key);
    tr_buf_init(&tmp);
    tr_key_shard_prefix(&key, tenant, window, slot, TR_KEY_EXEMPLAR);
    tr_buf_put_u64be(&key, id);
    size_t pl = key.len;
    size_t cap = n + TR_EXEMPLARS_PER_SERIES + 1, nc = 0;
    struct ex_cand *c = tr_calloc(cap, sizeof(*c));
    struct tr_iter *it = tr_iter_new(s->eng, TR_CF_METRICS);
    int rv = 0;
    if (c == NULL || it == NULL || key.oom) {
        rv = TR_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        ex__suffix(ex[i], c[nc].suffix, &tmp);
        c[nc].e = ex[i];
        nc++;
    }
    for (tr_iter_seek(it, key.data, key.len);
         tr_iter_has_prefix(it, key.data, pl); tr_iter_next(it)) {
        struct tr_slice k = tr_iter_key(it);
        if (k.len != pl + EX_SUFFIX) {
            continue;
        }
        if (nc == cap) {
            struct ex_cand *nv = tr_array_grow(c, &cap, sizeof(*c), 64);
            if (nv == NULL) {
                rv = TR_ENOMEM;
                goto out;
            }
            c = nv;
        }
        memcpy(c[nc].suffix, k.base + pl, EX_SUFFIX);
        c[nc].e = NULL;
        c[nc].stored = true;
        nc++;
    }
    if (tmp.oom) {
        rv = TR_ENOMEM;
        goto out;
    }
    qsort(c, nc, sizeof(*c), ex__cmp_desc);
    size_t kept = 0;
    for (size_t i = 0; i < nc; i++) {
        bool dup =
            i > 0 && memcmp(c[i].suffix, c[i - 1].suffix, EX_SUFFIX) == 0;
        if (dup) {
            continue; /* the same exemplar again (the first one decides) */
        }
        bool keep = kept < TR_EXEMPLARS_PER_SERIES;
        kept += keep;
        key.len = pl;
        tr_buf_append(&key, c[i].suffix, EX_SUFFIX);
        if (keep && !c[i].stored) {
            uint64_t bits;
            memcpy(&bits, &c[i].e->v, 8);
            tr_buf_reset(&tmp);
            tr_buf_put_u64be(&tmp, bits);
            tr_buf_append(&tmp, c[i].e->enc.base, c[i].e->enc.len);
            if (key.oom || tmp.oom) {
                rv = TR_ENOMEM;
                goto out;
            }
            tr_wbatch_put(s->batch, TR_CF_METRICS, key.data, key.len, tmp.data,
                          tmp.len);
        } else if (!keep && c[i].stored) {
            tr_wbatch_delete(s->batch, TR_CF_METRICS, key.data, key.len);
        }
    }
out:
    tr_iter_free(it);
    tr_free(c);
    tr_buf_free(&key);
    tr_buf_free(&tmp);
    return rv;
}

int exemplars_read(struct tr_iter *it,
                   struct tr_slice tenant,
                   int64_t window,
                   uint16_t slot,
                   uint64_t id,
                   int64_t mint,
                   int64_t maxt,
                   struct tr_arena *a,
                   struct tr_exemplar **v,
                   size_t *n,
                   size_t *cap)
{
    struct tr_buf key;
    tr_buf_init(&key);
    tr_key_shard_prefix(&key, tenant, window, slot, TR_KEY_EXEMPLAR);
    tr_buf_put_u64be(&key, id);
    size_t pl = key.len;
    tr_buf_put_u64be(&key, tr_key_time(mint));
    if (key.oom) {
        tr_buf_free(&key);
        return TR_ENOMEM;
    }
    int rv = 0;
    for (tr_iter_seek(it, key.data, key.len);
         tr_iter_has_prefix(it, key.data, pl); tr_iter_next(it)) {
        struct tr_slice k = tr_iter_key(it), val = tr_iter_value(it);
        if (k.len != pl + EX_SUFFIX || val.len < 8) {
            continue;
        }
        int64_t ts = tr_key_time_decode(tr_get_u64be(k.base + pl));
        if (ts > maxt) {
            break;
        }
        if (*n == *cap) {
            struct tr_exemplar *nv =
                tr_arena_array_grow(a, *v, *n, cap, sizeof(**v), 16);
            if (nv == NULL) {
                rv = TR_ENOMEM;
                break;
            }
            *v = nv;
        }
        struct tr_exemplar *e = &(*v)[*n];
        memset(e, 0, sizeof(*e));
        uint64_t bits = tr_get_u64be(val.base);
        memcpy(&e->value, &bits, 8);
        e->ts = ts;
        const char *enc = tr_arena_memdup(a, val.base + 8, val.len - 8);
        if (val.len > 8 && enc == NULL) {
            rv = TR_ENOMEM;
            break;
        }
        if (tr_labels_decode(enc, val.len - 8, a, &e->labels, &e->n_labels) !=
            0) {
            continue; /* not written by apply: skipped */
        }
        (*n)++;
    }
    tr_buf_free(&key);
    return rv;
}

static int ex__cmp(const struct tr_exemplar *x, const struct tr_exemplar *y)
{
    if (x->ts != y->ts) {
        return x->ts < y->ts ? -1 : 1;
    }
    uint64_t a, b;
    memcpy(&a, &x->value, 8);
    memcpy(&b, &y->value, 8);
    if (a != b) {
        return a < b ? -1 : 1;
    }
    return tr_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

static int ex__qcmp(const void *a, const void *b)
{
    return ex__cmp(a, b);
}

static int exs__qcmp(const void *a, const void *b)
{
    const struct tr_exemplar_series *x = a, *y = b;
    return tr_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

int tr_exemplar_series_merge(struct tr_exemplar_series *v,
                             size_t *n,
                             struct tr_arena *a)
{
    if (*n == 0) {
        return 0;
    }
    qsort(v, *n, sizeof(*v), exs__qcmp);
    size_t o = 0;
    for (size_t i = 0; i < *n;) {
        size_t j = i + 1, total = v[i].n;
        while (j < *n && exs__qcmp(&v[i], &v[j]) == 0) {
            total += v[j].n;
            j++;
        }
        struct tr_exemplar_series s = v[i];
        if (j > i + 1) {
            struct tr_exemplar *all =
                tr_arena_alloc(a, (total ? total : 1) * sizeof(*all));
            if (all == NULL) {
                return TR_ENOMEM;
            }
            size_t k = 0;
            for (size_t x = i; x < j; x++) {
                if (v[x].n > 0) {
                    memcpy(all + k, v[x].ex, v[x].n * sizeof(*all));
                }
                k += v[x].n;
            }
            s.ex = all;
            s.n = total;
        }
        if (s.n > 1) {
            qsort(s.ex, s.n, sizeof(*s.ex), ex__qcmp);
            size_t m = 1;
            for (size_t x = 1; x < s.n; x++) {
                if (ex__cmp(&s.ex[x], &s.ex[m - 1]) != 0) {
                    s.ex[m++] = s.ex[x];
                }
            }
            s.n = m;
        }
        if (s.n > 0) {
            v[o++] = s;
        }
        i = j;
    }
    *n = o;
    return 0;
}
