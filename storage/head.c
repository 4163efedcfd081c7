/* head.c - the in-memory head: open chunks per series and window, and the
 * deterministic apply of metrics entries into it. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/log.h"
#include "storage/chunk_record.h"
#include "storage/entry.h"
#include "storage/keys.h"
#include "storage/labels.h"
#include "storage/postings.h"
#include "storage/storage_int.h"

#define HEAD_OOO_MAX TR_CHUNK_MAX_SAMPLES

struct head_tenant *head_tenant_find(struct tr_storage *s,
                                     struct tr_slice tenant)
{
    for (struct head_tenant *t = s->tenants; t != NULL; t = t->next) {
        if (t->name_len == tenant.len &&
            memcmp(t->name, tenant.base, tenant.len) == 0) {
            return t;
        }
    }
    return NULL;
}

static struct head_tenant *head__tenant_get(struct tr_storage *s,
                                            struct tr_slice tenant)
{
    struct head_tenant *t = head_tenant_find(s, tenant);
    if (t != NULL) {
        return t;
    }
    t = tr_calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->name = tr_strndup(tenant.base, tenant.len);
    if (t->name == NULL) {
        tr_free(t);
        return NULL;
    }
    t->name_len = tenant.len;
    t->next = s->tenants;
    s->tenants = t;
    return t;
}

struct head_window *head_window_find(struct head_tenant *t,
                                     int64_t start,
                                     uint16_t slot)
{
    for (struct head_window *w = t->windows; w != NULL; w = w->next) {
        if (w->start == start && w->slot == slot) {
            return w;
        }
    }
    return NULL;
}

static struct head_window *head__window_get(struct head_tenant *t,
                                            int64_t start,
                                            uint16_t slot)
{
    struct head_window *w = head_window_find(t, start, slot);
    if (w != NULL) {
        return w;
    }
    w = tr_calloc(1, sizeof(*w));
    if (w == NULL) {
        return NULL;
    }
    w->start = start;
    w->slot = slot;
    tr_u64map_init(&w->series);
    w->next = t->windows;
    t->windows = w;
    return w;
}

void head_chunk_record(struct tr_buf *out,
                       int64_t maxt,
                       const void *bytes,
                       size_t n)
{
    if (tr_chunk_record_build(out, maxt, bytes, n) != 0) {
        tr_log_error("cannot encode chunk record", NULL);
    }
}

static void head__chunk_key(struct tr_buf *k,
                            struct head_tenant *t,
                            const struct head_window *w,
                            uint64_t id,
                            int64_t mint,
                            uint64_t seq)
{
    tr_buf_reset(k);
    tr_key_shard_prefix(k, (struct tr_slice){t->name, t->name_len}, w->start,
                        w->slot, TR_KEY_CHUNK);
    tr_buf_put_u64be(k, id);
    tr_buf_put_u64be(k, tr_key_time(mint));
    tr_buf_put_u64be(k, seq);
}

static void head__put_chunk(struct tr_storage *s,
                            struct head_tenant *t,
                            const struct head_window *w,
                            uint64_t id,
                            int64_t mint,
                            uint64_t seq,
                            int64_t maxt,
                            const void *bytes,
                            size_t n)
{
    head__chunk_key(&s->key, t, w, id, mint, seq);
    tr_buf_reset(&s->val);
    head_chunk_record(&s->val, maxt, bytes, n);
    tr_wbatch_put(s->batch, TR_CF_METRICS, s->key.data, s->key.len, s->val.data,
                  s->val.len);
}

static void head__cut(struct tr_storage *s,
                      struct head_tenant *t,
                      struct head_window *w,
                      struct head_series *hs)
{
    if (hs->chunk.count == 0) {
        return;
    }
    if (hs->dirty) {
        head__put_chunk(s, t, w, hs->id, hs->chunk.min_t, 0, hs->chunk.t,
                        hs->chunk.data, tr_xor_len(&hs->chunk));
    }
    tr_xor_free(&hs->chunk);
    tr_xor_init(&hs->chunk);
    hs->dirty = false;
    s->chunks_cut++;
}

#define HEAD_OPEN_OOO_SEQ UINT64_MAX

static void head__ooo_record(struct tr_storage *s,
                             struct head_tenant *t,
                             struct head_window *w,
                             struct head_series *hs,
                             int64_t mint,
                             uint64_t seq)
{
    struct tr_xor_chunk c;
    tr_xor_init(&c);
    for (uint32_t i = 0; i < hs->ooo.n; i++) {
        tr_xor_append(&c, hs->ooo.t[i], hs->ooo.v[i]);
    }
    head__put_chunk(s, t, w, hs->id, mint, seq, hs->ooo.t[hs->ooo.n - 1],
                    c.data, tr_xor_len(&c));
    tr_xor_free(&c);
}

/* Entry-driven: a full out-of-order buffer becomes a chunk numbered by the
 * entry's index (deterministic on every replica). */
static void head__flush_ooo(struct tr_storage *s,
                            uint64_t index,
                            struct head_tenant *t,
                            struct head_window *w,
                            struct head_series *hs)
{
    if (hs->ooo.n == 0) {
        return;
    }
    head__ooo_record(s, t, w, hs, hs->ooo.t[0], index);
    if (hs->ooo.persisted) {
        head__chunk_key(&s->key, t, w, hs->id, INT64_MIN, HEAD_OPEN_OOO_SEQ);
        tr_wbatch_delete(s->batch, TR_CF_METRICS, s->key.data, s->key.len);
        hs->ooo.persisted = false;
    }
    hs->ooo.n = 0;
    hs->ooo.dirty = false;
}

/* Checkpoint: the open buffer is written in place under a fixed key. */
static void head__persist_ooo(struct tr_storage *s,
                              struct head_tenant *t,
                              struct head_window *w,
                              struct head_series *hs)
{
    if (!hs->ooo.dirty || hs->ooo.n == 0) {
        return;
    }
    head__ooo_record(s, t, w, hs, INT64_MIN, HEAD_OPEN_OOO_SEQ);
    hs->ooo.persisted = true;
    hs->ooo.dirty = false;
}

/* Writes what the batch holds so far (cut chunks, new series) so that
 * look-ups in RocksDB see it. The entry is already in the Raft log, so a
 * crash after this partial write is repaired by replay. */
static void head__write_pending(struct tr_storage *s)
{
    if (tr_wbatch_count(s->batch) == 0) {
        return;
    }
    char err[TR_ERRMSG_SIZE];
    if (!s->write_failed && tr_engine_write(s->eng, s->batch, err) != 0) {
        tr_log_error("storage write failed", "err=\"%s\"", err);
        s->write_failed = true; /* the apply fails as a whole */
    }
    tr_wbatch_clear(s->batch);
}

static int head__ooo_insert(struct head_series *hs, int64_t ts, double v);

/* Looks up the persisted tail of a series (the newest in-order chunk) so
 * appending resumes where it stopped before a restart. */
static void head__load_tail(struct tr_storage *s,
                            struct head_tenant *t,
                            struct head_window *w,
                            struct head_series *hs)
{
    hs->loaded = true;
    head__write_pending(s);
    struct tr_buf pk;
    tr_buf_init(&pk);
    tr_key_shard_prefix(&pk, (struct tr_slice){t->name, t->name_len}, w->start,
                        w->slot, TR_KEY_CHUNK);
    tr_buf_put_u64be(&pk, hs->id);
    size_t plen = pk.len;
    for (int i = 0; i < 16; i++) {
        tr_buf_putc(&pk, (char)0xff);
    }
    struct tr_iter *it = tr_iter_new(s->eng, TR_CF_METRICS);
    if (it == NULL) {
        tr_buf_free(&pk);
        s->write_failed = true; /* cannot resume the series: fail-stop */
        return;
    }
    /* the open out-of-order record (fixed key, first in the series) */
    struct tr_buf ok;
    tr_buf_init(&ok);
    tr_buf_append(&ok, pk.data, plen);
    tr_buf_put_u64be(&ok, tr_key_time(INT64_MIN));
    tr_buf_put_u64be(&ok, HEAD_OPEN_OOO_SEQ);
    tr_iter_seek(it, ok.data, ok.len);
    if (tr_iter_valid(it)) {
        struct tr_slice k = tr_iter_key(it);
        struct tr_chunk_reader rd;
        if (k.len == ok.len && memcmp(k.base, ok.data, ok.len) == 0 &&
            tr_chunk_reader_init(&rd, tr_iter_value(it).base,
                                 tr_iter_value(it).len) == 0) {
            int64_t ot;
            double ov;
            while (tr_chunk_reader_next(&rd, &ot, &ov) == 1) {
                head__ooo_insert(hs, ot, ov);
            }
            hs->ooo.persisted = true;
            hs->ooo.dirty = false;
        }
    }
    tr_buf_free(&ok);
    tr_iter_seek_for_prev(it, pk.data, pk.len);
    for (; tr_iter_has_prefix(it, pk.data, plen); tr_iter_prev(it)) {
        struct tr_slice k = tr_iter_key(it);
        struct tr_slice v = tr_iter_value(it);
        if (k.len != plen + 16 || v.len < 8) {
            continue;
        }
        if (tr_get_u64be(k.base + plen + 8) != 0) {
            continue; /* out-of-order chunk */
        }
        struct tr_chunk_reader rd;
        if (tr_chunk_reader_init(&rd, v.base, v.len) != 0) {
            break;
        }
        struct tr_xor_chunk c;
        tr_xor_init(&c);
        int64_t ct;
        double cv;
        int r;
        while ((r = tr_chunk_reader_next(&rd, &ct, &cv)) == 1) {
            if (tr_xor_append(&c, ct, cv) != 0) {
                r = TR_ENOMEM;
                break;
            }
        }
        if (r != 0 || c.count == 0) {
            tr_xor_free(&c);
            break;
        }
        hs->last_t = c.t;
        hs->last_v = c.v_bits;
        if (c.count < TR_CHUNK_MAX_SAMPLES) {
            hs->chunk = c; /* resume appending into the same key */
            hs->dirty = false;
        } else {
            tr_xor_free(&c);
        }
        break;
    }
    tr_iter_free(it);
    tr_buf_free(&pk);
}

static void head__series_free(struct head_series *hs)
{
    tr_xor_free(&hs->chunk);
    tr_free(hs->ooo.t);
    tr_free(hs->ooo.v);
    tr_free(hs->labels);
    tr_free(hs);
}

static void head__put_series_keys(struct tr_storage *s,
                                  struct head_tenant *t,
                                  const struct head_window *w,
                                  uint64_t id,
                                  const char *enc,
                                  size_t len)
{
    postings_put_series(s->batch, TR_CF_METRICS, &s->key,
                        (struct tr_slice){t->name, t->name_len}, w->start,
                        w->slot, id, enc, len);
}

/* The tenant's series count in the shard: its 'N' key, or (a shard
 * written before the count existed) the number of its series keys - the
 * same on every replica at the same index. */
uint64_t head_series_count_load(struct tr_storage *s,
                                struct tr_slice tenant,
                                int64_t window,
                                uint16_t slot)
{
    return postings_count_load(s->eng, TR_CF_METRICS, tenant, window, slot);
}

static void head__count_series(struct tr_storage *s,
                               struct head_tenant *t,
                               struct head_window *w)
{
    struct tr_slice tenant = {t->name, t->name_len};
    if (!w->n_loaded) {
        head__write_pending(s);
        w->n_series = head_series_count_load(s, tenant, w->start, w->slot);
        w->n_loaded = true;
    }
    w->n_series++;
    postings_put_count(s->batch, TR_CF_METRICS, &s->key, tenant, w->start,
                       w->slot, w->n_series);
}

/* Finds or creates the series with canonical labels enc in window w.
 * Returns 0 or TR_ENOMEM/TR_EIO. No limit applies here: the leader cut
 * the entry at the tenant's series limit before proposing it. */
static int head__series_get(struct tr_storage *s,
                            struct head_tenant *t,
                            struct head_window *w,
                            struct tr_slice enc,
                            struct tr_apply_result *res,
                            struct head_series **out,
                            char *errmsg)
{
    uint64_t id = tr_labels_hash(enc.base, enc.len);
    for (int probe = 0; probe < 1024; probe++, id++) {
        struct head_series *hs = tr_u64map_get(&w->series, id);
        if (hs != NULL) {
            if (hs->labels_len == enc.len &&
                memcmp(hs->labels, enc.base, enc.len) == 0) {
                *out = hs;
                return 0;
            }
            continue; /* id collision: probe the next id */
        }
        /* not in memory: maybe on disk (written before a restart) */
        int rv = postings_probe(s->eng, TR_CF_METRICS,
                                (struct tr_slice){t->name, t->name_len},
                                w->start, w->slot, id, enc, &s->key, &s->val);
        if (rv < 0) {
            return tr_errf(TR_EIO, errmsg, "storage read failed");
        }
        if (rv == POSTINGS_TAKEN) {
            continue; /* taken by other labels */
        }
        bool on_disk = rv == POSTINGS_SAME;
        hs = tr_calloc(1, sizeof(*hs));
        if (hs == NULL) {
            return TR_ENOMEM;
        }
        hs->labels = tr_malloc(enc.len ? enc.len : 1);
        if (hs->labels == NULL) {
            tr_free(hs);
            return TR_ENOMEM;
        }
        memcpy(hs->labels, enc.base, enc.len);
        hs->labels_len = (uint32_t)enc.len;
        hs->id = id;
        hs->last_t = INT64_MIN;
        hs->loaded = !on_disk;
        tr_xor_init(&hs->chunk);
        if (tr_u64map_put(&w->series, id, hs) != 0) {
            head__series_free(hs);
            return TR_ENOMEM;
        }
        if (!on_disk) {
            /* count first: loading the count may write the pending batch
             * and count the series keys, which must not include this
             * series' own key yet */
            head__count_series(s, t, w);
            head__put_series_keys(s, t, w, id, enc.base, enc.len);
            res->created++;
        }
        t->active_series++;
        s->head_series++;
        *out = hs;
        return 0;
    }
    return tr_errf(TR_EIO, errmsg, "series id space exhausted");
}

/* The series with id `id` in window w (an entry's reference): in memory,
 * else loaded from its 'S' key. A reference to an id the shard does not
 * hold cannot be a property of the entry on a correct replica (the leader
 * saw the series): TR_EIO, so this replica stops instead of diverging. */
static int head__series_by_ref(struct tr_storage *s,
                               struct head_tenant *t,
                               struct head_window *w,
                               uint64_t id,
                               struct head_series **out,
                               char *errmsg)
{
    struct head_series *hs = tr_u64map_get(&w->series, id);
    if (hs != NULL) {
        *out = hs;
        return 0;
    }
    head__write_pending(s);
    tr_buf_reset(&s->key);
    tr_key_shard_prefix(&s->key, (struct tr_slice){t->name, t->name_len},
                        w->start, w->slot, TR_KEY_SERIES);
    tr_buf_put_u64be(&s->key, id);
    tr_buf_reset(&s->val);
    int rv =
        tr_engine_get(s->eng, TR_CF_METRICS, s->key.data, s->key.len, &s->val);
    if (rv != 0) {
        return tr_errf(TR_EIO, errmsg,
                       "series %016" PRIx64
                       " referenced by the entry is not in the shard",
                       id);
    }
    hs = tr_calloc(1, sizeof(*hs));
    char *labels = hs ? tr_malloc(s->val.len ? s->val.len : 1) : NULL;
    if (labels == NULL) {
        tr_free(hs);
        return tr_errf(TR_EIO, errmsg, "out of memory");
    }
    memcpy(labels, s->val.data, s->val.len);
    hs->labels = labels;
    hs->labels_len = (uint32_t)s->val.len;
    hs->id = id;
    hs->last_t = INT64_MIN;
    hs->loaded = false; /* its persisted tail is looked up on append */
    tr_xor_init(&hs->chunk);
    if (tr_u64map_put(&w->series, id, hs) != 0) {
        head__series_free(hs);
        return tr_errf(TR_EIO, errmsg, "out of memory");
    }
    t->active_series++;
    s->head_series++;
    *out = hs;
    return 0;
}

/* Is there a sample at t already? 1 with its bits in *bits, 0 if not. */
static int head__find_sample(struct tr_storage *s,
                             struct head_tenant *t,
                             struct head_window *w,
                             struct head_series *hs,
                             int64_t ts,
                             uint64_t *bits)
{
    int64_t ct;
    double cv;
    if (hs->chunk.count > 0 && ts >= hs->chunk.min_t) {
        struct tr_xor_iter it;
        tr_xor_iter_init(&it, hs->chunk.data, tr_xor_len(&hs->chunk));
        while (tr_xor_iter_next(&it, &ct, &cv) == 1 && ct <= ts) {
            if (ct == ts) {
                memcpy(bits, &cv, 8);
                return 1;
            }
        }
    }
    uint32_t lo = 0, hi = hs->ooo.n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (hs->ooo.t[mid] < ts) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < hs->ooo.n && hs->ooo.t[lo] == ts) {
        memcpy(bits, &hs->ooo.v[lo], 8);
        return 1;
    }
    /* persisted chunks whose [mint, maxt] covers ts */
    head__write_pending(s);
    struct tr_buf pk;
    tr_buf_init(&pk);
    tr_key_shard_prefix(&pk, (struct tr_slice){t->name, t->name_len}, w->start,
                        w->slot, TR_KEY_CHUNK);
    tr_buf_put_u64be(&pk, hs->id);
    size_t plen = pk.len;
    struct tr_iter *it = tr_iter_new(s->eng, TR_CF_METRICS);
    int found = 0;
    if (it == NULL) {
        tr_buf_free(&pk);
        s->write_failed = true; /* cannot look: fail-stop */
        return 0;
    }
    for (tr_iter_seek(it, pk.data, plen);
         !found && tr_iter_has_prefix(it, pk.data, plen); tr_iter_next(it)) {
        struct tr_slice k = tr_iter_key(it);
        struct tr_slice v = tr_iter_value(it);
        if (k.len != plen + 16 || v.len < 8) {
            continue;
        }
        int64_t mint = tr_key_time_decode(tr_get_u64be(k.base + plen));
        int64_t maxt = tr_chunk_record_maxt(v.base, v.len);
        if (mint > ts) {
            break;
        }
        struct tr_chunk_reader rd;
        if (maxt < ts || tr_chunk_reader_init(&rd, v.base, v.len) != 0) {
            continue;
        }
        while (tr_chunk_reader_next(&rd, &ct, &cv) == 1 && ct <= ts) {
            if (ct == ts) {
                memcpy(bits, &cv, 8);
                found = 1;
                break;
            }
        }
    }
    tr_iter_free(it);
    tr_buf_free(&pk);
    return found;
}

static int head__ooo_insert(struct head_series *hs, int64_t ts, double v)
{
    if (hs->ooo.n == hs->ooo.cap) {
        uint32_t cap = hs->ooo.cap ? hs->ooo.cap * 2 : 8;
        int64_t *nt = tr_realloc(hs->ooo.t, cap * sizeof(int64_t));
        if (nt == NULL) {
            return TR_ENOMEM;
        }
        hs->ooo.t = nt;
        double *nv = tr_realloc(hs->ooo.v, cap * sizeof(double));
        if (nv == NULL) {
            return TR_ENOMEM;
        }
        hs->ooo.v = nv;
        hs->ooo.cap = cap;
    }
    uint32_t i = hs->ooo.n;
    while (i > 0 && hs->ooo.t[i - 1] > ts) {
        hs->ooo.t[i] = hs->ooo.t[i - 1];
        hs->ooo.v[i] = hs->ooo.v[i - 1];
        i--;
    }
    hs->ooo.t[i] = ts;
    hs->ooo.v[i] = v;
    hs->ooo.n++;
    hs->ooo.dirty = true;
    return 0;
}

static void head__reject(struct tr_apply_result *res,
                         int code,
                         const char *fmt,
                         ...) __attribute__((format(printf, 3, 4)));

static void head__reject(struct tr_apply_result *res,
                         int code,
                         const char *fmt,
                         ...)
{
    res->rejected++;
    if (res->first_error != 0) {
        return;
    }
    res->first_error = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->errmsg, sizeof(res->errmsg), fmt, ap);
    va_end(ap);
}

static void head__append(struct tr_storage *s,
                         uint64_t index,
                         int64_t ooo_window_ms,
                         struct head_tenant *t,
                         struct head_window *w,
                         struct head_series *hs,
                         int64_t ts,
                         double v,
                         struct tr_apply_result *res)
{
    uint64_t vb;
    memcpy(&vb, &v, 8);
    if (!hs->loaded) {
        head__load_tail(s, t, w, hs);
    }
    if (hs->last_t == INT64_MIN || ts > hs->last_t) {
        if (hs->chunk.count > 0 &&
            (hs->chunk.count >= TR_CHUNK_MAX_SAMPLES ||
             ts - hs->chunk.min_t >= s->cfg.chunk_max_ms)) {
            head__cut(s, t, w, hs);
        }
        if (tr_xor_append(&hs->chunk, ts, v) != 0) {
            s->write_failed = true; /* this replica only: fail-stop */
            return;
        }
        hs->dirty = true;
        hs->last_t = ts;
        hs->last_v = vb;
        res->appended++;
        return;
    }
    uint64_t old;
    int have;
    if (ts == hs->last_t) {
        have = 1;
        old = hs->last_v;
    } else {
        if (ts < hs->last_t - ooo_window_ms) {
            head__reject(res, TR_ETOOOLD,
                         "out of order sample: timestamp %" PRId64
                         " is older than the series' newest sample (%" PRId64
                         ") by more than the out-of-order window of %" PRId64
                         "ms (ingest.ooo-window)",
                         ts, hs->last_t, ooo_window_ms);
            return;
        }
        have = head__find_sample(s, t, w, hs, ts, &old);
    }
    if (have) {
        if (old == vb) {
            res->duplicate++;
        } else {
            double ov;
            memcpy(&ov, &old, 8);
            head__reject(res, TR_EDUP,
                         "duplicate sample for timestamp %" PRId64
                         ": the series already has value %.17g there, this "
                         "write has %.17g",
                         ts, ov, v);
        }
        return;
    }
    if (head__ooo_insert(hs, ts, v) != 0) {
        s->write_failed = true; /* this replica only: fail-stop */
        return;
    }
    res->appended++;
    if (hs->ooo.n >= HEAD_OOO_MAX) {
        head__flush_ooo(s, index, t, w, hs);
    }
}

/* Metadata lives in the shard's key range (kind 'M'), so it is replicated,
 * checksummed, copied and dropped with the shard. */
static void head__put_metadata(struct tr_storage *s,
                               struct tr_slice tenant,
                               int64_t window,
                               uint16_t slot,
                               const struct tr_entry_meta *m)
{
    tr_buf_reset(&s->key);
    tr_key_shard_prefix(&s->key, tenant, window, slot, TR_KEY_META);
    tr_buf_append(&s->key, m->metric.base, m->metric.len);
    tr_buf_reset(&s->val);
    tr_buf_putc(&s->val, (char)m->type);
    tr_buf_put_uvarint(&s->val, m->help.len);
    tr_buf_append(&s->val, m->help.base, m->help.len);
    tr_buf_put_uvarint(&s->val, m->unit.len);
    tr_buf_append(&s->val, m->unit.base, m->unit.len);
    tr_wbatch_put(s->batch, TR_CF_METRICS, s->key.data, s->key.len, s->val.data,
                  s->val.len);
}

/* An exemplar of the entry being applied and its series. */
struct head_ex {
    uint64_t id;
    size_t seq; /* entry order: keeps the sort stable */
    const struct tr_entry_exemplar *e;
};

static int head__ex_cmp(const void *a, const void *b)
{
    const struct head_ex *x = a, *y = b;
    if (x->id != y->id) {
        return x->id < y->id ? -1 : 1;
    }
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

/* Stores the entry's exemplars, one call per series (storage/exemplars.c). */
static int head__exemplars(struct tr_storage *s,
                           struct tr_slice tenant,
                           int64_t window,
                           uint16_t slot,
                           struct tr_arena *a,
                           struct head_ex *exs,
                           size_t n)
{
    qsort(exs, n, sizeof(*exs), head__ex_cmp);
    const struct tr_entry_exemplar **v = tr_arena_alloc(a, n * sizeof(*v));
    if (v == NULL) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && exs[j].id == exs[i].id) {
            v[j - i] = exs[j].e;
            j++;
        }
        int rv = exemplars_apply(s, tenant, window, slot, exs[i].id, v, j - i);
        if (rv != 0) {
            return rv;
        }
        i = j;
    }
    return 0;
}

int head_apply(struct tr_storage *s,
               int64_t window,
               uint16_t slot,
               uint64_t index,
               const void *entry,
               size_t len,
               struct tr_apply_result *res,
               char *errmsg)
{
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    struct tr_entry_metrics m;
    int rv = tr_entry_metrics_decode(entry, len, &a, &m);
    if (rv != 0) {
        tr_arena_free(&a);
        return tr_errf(rv, errmsg, "corrupt write entry at index %" PRIu64,
                       index);
    }
    struct head_tenant *t = head__tenant_get(s, m.tenant);
    struct head_window *w = t ? head__window_get(t, window, slot) : NULL;
    if (w == NULL) {
        tr_arena_free(&a);
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    /* exemplars by series id, stored after the samples */
    size_t n_ex = 0;
    for (size_t i = 0; i < m.n_series; i++) {
        n_ex += m.series[i].n_exemplars;
    }
    struct head_ex *exs =
        n_ex > 0 ? tr_arena_alloc(&a, n_ex * sizeof(*exs)) : NULL;
    if (n_ex > 0 && exs == NULL) {
        tr_arena_free(&a);
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    n_ex = 0;
    for (size_t i = 0; i < m.n_series; i++) {
        const struct tr_entry_series *es = &m.series[i];
        struct head_series *hs = NULL;
        char serr[TR_ERRMSG_SIZE];
        rv = es->is_ref ? head__series_by_ref(s, t, w, es->ref, &hs, serr)
                        : head__series_get(s, t, w, es->enc, res, &hs, serr);
        if (rv != 0) {
            /* not a property of the entry (memory, I/O): fail the apply
             * as a whole instead of refusing samples on this replica only */
            tr_arena_free(&a);
            return tr_errf(TR_EIO, errmsg, "%s", serr);
        }
        for (size_t j = 0; j < es->n_samples; j++) {
            if (es->ts[j] < window) {
                /* the coordinator routes by window; a sample before the
                 * shard's window never belongs to it. (Only the start is
                 * checked: the window's length is the catalog's, not this
                 * node's --placement-window, and apply must not depend on
                 * local settings.) */
                head__reject(res, TR_EINVAL,
                             "sample at %" PRId64
                             " routed to the shard of "
                             "window %" PRId64,
                             es->ts[j], window);
            } else {
                head__append(s, index, m.ooo_window_ms, t, w, hs, es->ts[j],
                             es->vs[j], res);
            }
        }
        for (size_t j = 0; j < es->n_exemplars; j++) {
            exs[n_ex].id = hs->id;
            exs[n_ex].seq = n_ex;
            exs[n_ex++].e = &es->exemplars[j];
        }
    }
    if (n_ex > 0) {
        rv = head__exemplars(s, m.tenant, window, slot, &a, exs, n_ex);
        if (rv != 0) {
            tr_arena_free(&a);
            return tr_errf(TR_EIO, errmsg, "out of memory storing exemplars");
        }
    }
    for (size_t i = 0; i < m.n_meta; i++) {
        head__put_metadata(s, m.tenant, window, slot, &m.meta[i]);
        res->metadata++;
    }
    tr_arena_free(&a);
    return 0;
}

void head_persist(struct tr_storage *s,
                  int64_t window,
                  int slot,
                  uint64_t seq,
                  bool cut_all)
{
    for (struct head_tenant *t = s->tenants; t != NULL; t = t->next) {
        for (struct head_window *w = t->windows; w != NULL; w = w->next) {
            if (w->start != window || (slot >= 0 && w->slot != slot)) {
                continue;
            }
            for (size_t i = 0; i < w->series.cap; i++) {
                struct head_series *hs = w->series.slots[i].value;
                if (hs == NULL) {
                    continue;
                }
                if (hs->chunk.count > 0 && hs->dirty) {
                    head__put_chunk(s, t, w, hs->id, hs->chunk.min_t, 0,
                                    hs->chunk.t, hs->chunk.data,
                                    tr_xor_len(&hs->chunk));
                    hs->dirty = false;
                }
                if (cut_all && hs->chunk.count > 0) {
                    tr_xor_free(&hs->chunk);
                    tr_xor_init(&hs->chunk);
                    s->chunks_cut++;
                }
                (void)seq;
                head__persist_ooo(s, t, w, hs);
            }
        }
    }
}

static void head__window_free(struct tr_storage *s,
                              struct head_tenant *t,
                              struct head_window *w)
{
    for (size_t i = 0; i < w->series.cap; i++) {
        struct head_series *hs = w->series.slots[i].value;
        if (hs != NULL) {
            head__series_free(hs);
            t->active_series--;
            s->head_series--;
        }
    }
    tr_u64map_free(&w->series);
    tr_free(w);
}

void head_evict_window(struct tr_storage *s, int64_t window, int slot)
{
    for (struct head_tenant *t = s->tenants; t != NULL; t = t->next) {
        struct head_window **pw = &t->windows;
        while (*pw != NULL) {
            struct head_window *w = *pw;
            if (w->start == window && (slot < 0 || w->slot == slot)) {
                *pw = w->next;
                head__window_free(s, t, w);
            } else {
                pw = &w->next;
            }
        }
    }
}

void head_evict_tenant(struct tr_storage *s,
                       struct tr_slice tenant,
                       int64_t window,
                       uint16_t slot)
{
    for (struct head_tenant *t = s->tenants; t != NULL; t = t->next) {
        if (t->name_len != tenant.len ||
            memcmp(t->name, tenant.base, tenant.len) != 0) {
            continue;
        }
        struct head_window **pw = &t->windows;
        while (*pw != NULL) {
            struct head_window *w = *pw;
            if (w->start == window && w->slot == slot) {
                *pw = w->next;
                head__window_free(s, t, w);
            } else {
                pw = &w->next;
            }
        }
    }
}

void head_free(struct tr_storage *s)
{
    struct head_tenant *t = s->tenants;
    while (t != NULL) {
        struct head_tenant *next = t->next;
        struct head_window *w = t->windows;
        while (w != NULL) {
            struct head_window *wn = w->next;
            head__window_free(s, t, w);
            w = wn;
        }
        tr_free(t->name);
        tr_free(t);
        t = next;
    }
    s->tenants = NULL;
}

/* Does the series with canonical labels enc exist in the shard? (caller
 * holds head_mu for reading) */
static bool head__series_exists(struct tr_storage *s,
                                struct tr_slice tenant,
                                struct head_window *w,
                                int64_t window,
                                uint16_t slot,
                                struct tr_slice enc,
                                struct tr_buf *key,
                                struct tr_buf *val,
                                uint64_t *found)
{
    uint64_t id = tr_labels_hash(enc.base, enc.len);
    for (int probe = 0; probe < 1024; probe++, id++) {
        struct head_series *hs = w ? tr_u64map_get(&w->series, id) : NULL;
        if (hs != NULL) {
            if (hs->labels_len == enc.len &&
                memcmp(hs->labels, enc.base, enc.len) == 0) {
                *found = id;
                return true;
            }
            continue;
        }
        int rv = postings_probe(s->eng, TR_CF_METRICS, tenant, window, slot, id,
                                enc, key, val);
        if (rv == POSTINGS_SAME) {
            *found = id;
            return true;
        }
        if (rv != POSTINGS_TAKEN) {
            return false; /* a free id: the series is not there */
        }
    }
    return false;
}

int tr_storage_series_admit(struct tr_storage *s,
                            const struct tr_shard_id *id,
                            struct tr_slice tenant,
                            const struct tr_slice *labels,
                            size_t n,
                            bool *is_new,
                            uint64_t *ids,
                            uint64_t *count)
{
    if (id->signal != TR_SIGNAL_METRICS) {
        return TR_EINVAL;
    }
    struct tr_buf key, val;
    tr_buf_init(&key);
    tr_buf_init(&val);
    pthread_rwlock_rdlock(&s->head_mu);
    struct head_tenant *t = head_tenant_find(s, tenant);
    struct head_window *w =
        t ? head_window_find(t, id->window, id->slot) : NULL;
    if (w != NULL && w->n_loaded) {
        *count = w->n_series;
    } else {
        *count = head_series_count_load(s, tenant, id->window, id->slot);
    }
    for (size_t i = 0; i < n; i++) {
        ids[i] = 0;
        is_new[i] = !head__series_exists(s, tenant, w, id->window, id->slot,
                                         labels[i], &key, &val, &ids[i]);
    }
    pthread_rwlock_unlock(&s->head_mu);
    tr_buf_free(&key);
    tr_buf_free(&val);
    return 0;
}
