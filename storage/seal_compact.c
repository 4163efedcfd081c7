/* seal_compact.c - a sealed metrics shard in its compact form
 * (storage/seal.h): every series' chunks - in-order chunks of ~120 samples,
 * out-of-order chunks, the open out-of-order buffer - merged into
 * full-length chunks of up to TR_SEAL_CHUNK_SAMPLES samples, keyed and
 * encoded as any chunk (storage/keys.h, storage/chunk_record.h: seq 0, mint
 * = first sample). The result depends only on the shard's samples, so every
 * replica reaches the same bytes however its chunks were cut, and running
 * it again over its own output changes nothing (resumable by rerunning).
 *
 * The label index goes the same way: every series' 'P' keys of one label
 * name and value become one list key (storage/postings.h), written by
 * seal_compact_postings_step after the chunks.
 *
 * Work is done in steps of about SEAL_STEP_BYTES read. A step reads and
 * merges from an iterator's snapshot without locks, then takes the
 * storage's write lock only to write its batch - and only if no range was
 * deleted or replaced meanwhile (s->reshape: a drop-tenant entry, a shard
 * copy), else it is done again from the same series. So a step holds
 * other shards' applies for one batch write; the job (storage/jobs.c)
 * paces the steps. */
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "storage/chunk.h"
#include "storage/chunk_record.h"
#include "storage/keys.h"
#include "storage/postings.h"
#include "storage/seal.h"
#include "storage/storage_int.h"

#define SEAL_STEP_BYTES (256 * 1024)

/* One series' stored chunks, gathered by a step. */
struct compact_series {
    struct tr_buf keys; /* uvarint length + key, per stored chunk */
    struct tr_buf recs; /* uvarint length + record, per stored chunk */
    size_t n_recs;
    struct tr_sample *v; /* decoded samples */
    size_t n, cap;
};

static int compact__cmp(const void *a, const void *b)
{
    const struct tr_sample *x = a, *y = b;
    return (x->t > y->t) - (x->t < y->t);
}

/* Appends the decoded samples of one record. */
static int compact__decode(struct compact_series *cs, struct tr_slice rec)
{
    size_t want = tr_chunk_record_count(rec.base, rec.len);
    if (cs->n + want > cs->cap) {
        size_t cap = cs->cap ? cs->cap : 256;
        while (cap < cs->n + want) {
            cap *= 2;
        }
        struct tr_sample *nv = tr_realloc(cs->v, cap * sizeof(*nv));
        if (nv == NULL) {
            return TR_ENOMEM;
        }
        cs->v = nv;
        cs->cap = cap;
    }
    long got = tr_chunk_record_decode(rec.base, rec.len, INT64_MIN, INT64_MAX,
                                      cs->v + cs->n);
    if (got < 0) {
        return TR_ECORRUPT;
    }
    cs->n += (size_t)got;
    return 0;
}

/* The merged records of the series' samples: uvarint length + key, uvarint
 * length + record, per chunk, into out. */
static int compact__encode(struct compact_series *cs,
                           const struct tr_buf *series_prefix,
                           struct tr_buf *out)
{
    /* stable by time; equal timestamps hold equal values (apply refuses a
     * different value at a stored timestamp), so the first is kept */
    for (size_t i = 0; i < cs->n; i++) {
        if (i > 0 && cs->v[i].t < cs->v[i - 1].t) {
            qsort(cs->v, cs->n, sizeof(*cs->v), compact__cmp);
            break;
        }
    }
    size_t m = 0;
    for (size_t i = 0; i < cs->n; i++) {
        if (m == 0 || cs->v[i].t != cs->v[m - 1].t) {
            cs->v[m++] = cs->v[i];
        }
    }
    cs->n = m;
    struct tr_buf key, rec;
    tr_buf_init(&key);
    tr_buf_init(&rec);
    int rv = 0;
    for (size_t at = 0; at < m && rv == 0;) {
        size_t end =
            at + TR_SEAL_CHUNK_SAMPLES < m ? at + TR_SEAL_CHUNK_SAMPLES : m;
        struct tr_xor_chunk x;
        tr_xor_init(&x);
        for (size_t i = at; i < end && rv == 0; i++) {
            rv = tr_xor_append(&x, cs->v[i].t, cs->v[i].v);
        }
        tr_buf_reset(&key);
        tr_buf_reset(&rec);
        tr_buf_append(&key, series_prefix->data, series_prefix->len);
        tr_buf_put_u64be(&key, tr_key_time(cs->v[at].t));
        tr_buf_put_u64be(&key, 0);
        if (rv == 0) {
            rv = tr_chunk_record_build(&rec, cs->v[end - 1].t, x.data,
                                       tr_xor_len(&x));
        }
        tr_xor_free(&x);
        tr_buf_put_uvarint(out, key.len);
        tr_buf_append(out, key.data, key.len);
        tr_buf_put_uvarint(out, rec.len);
        tr_buf_append(out, rec.data, rec.len);
        at = end;
    }
    if (rv == 0 && (key.oom || rec.oom || out->oom)) {
        rv = TR_ENOMEM;
    }
    tr_buf_free(&key);
    tr_buf_free(&rec);
    return rv;
}

/* Next (uvarint length, bytes) of a key/record list. */
static bool compact__next(struct tr_cursor *c, struct tr_slice *out)
{
    uint64_t n;
    return tr_cursor_uvarint(c, &n) == 0 && tr_cursor_bytes(c, n, out) == 0;
}

/* Puts the series' merged chunks into b, unless they are what is stored
 * already (a rerun, or a series that had one full chunk): then nothing. */
static int compact__flush(struct compact_series *cs,
                          const struct tr_buf *series_prefix,
                          struct tr_wbatch *b,
                          uint64_t *written)
{
    if (cs->n_recs == 0) {
        return 0;
    }
    struct tr_buf merged;
    tr_buf_init(&merged);
    int rv = compact__encode(cs, series_prefix, &merged);
    if (rv == 0) {
        /* stored form: keys and records interleaved like merged */
        struct tr_buf stored;
        tr_buf_init(&stored);
        struct tr_cursor kc = tr_cursor_make(cs->keys.data, cs->keys.len);
        struct tr_cursor rc = tr_cursor_make(cs->recs.data, cs->recs.len);
        struct tr_slice k, r;
        while (compact__next(&kc, &k) && compact__next(&rc, &r)) {
            tr_buf_put_uvarint(&stored, k.len);
            tr_buf_append(&stored, k.base, k.len);
            tr_buf_put_uvarint(&stored, r.len);
            tr_buf_append(&stored, r.base, r.len);
        }
        bool same = !stored.oom && stored.len == merged.len &&
                    memcmp(stored.data, merged.data, merged.len) == 0;
        tr_buf_free(&stored);
        if (!same) {
            kc = tr_cursor_make(cs->keys.data, cs->keys.len);
            while (compact__next(&kc, &k)) {
                tr_wbatch_delete(b, TR_CF_METRICS, k.base, k.len);
            }
            struct tr_cursor mc = tr_cursor_make(merged.data, merged.len);
            while (compact__next(&mc, &k) && compact__next(&mc, &r)) {
                tr_wbatch_put(b, TR_CF_METRICS, k.base, k.len, r.base, r.len);
                *written += k.len + r.len;
            }
        }
    }
    tr_buf_free(&merged);
    tr_buf_reset(&cs->keys);
    tr_buf_reset(&cs->recs);
    cs->n_recs = 0;
    cs->n = 0;
    return rv;
}

/* A step's view of the storage's ranges before it reads. */
static uint64_t compact__reshape(struct tr_storage *s)
{
    pthread_mutex_lock(&s->write_mu);
    uint64_t r = s->reshape;
    pthread_mutex_unlock(&s->write_mu);
    return r;
}

/* Writes a step's batch under write_mu, unless a range was deleted or
 * replaced since it read (reshape moved): then *resume goes back to from
 * and the step is done again. Adds step_written to *written once written. */
static int compact__commit(struct tr_storage *s,
                           struct tr_wbatch *b,
                           uint64_t reshape,
                           const struct tr_buf *from,
                           struct tr_buf *resume,
                           bool *done,
                           uint64_t step_written,
                           uint64_t *written)
{
    char err[TR_ERRMSG_SIZE];
    int rv = 0;
    pthread_mutex_lock(&s->write_mu);
    if (s->reshape != reshape) {
        tr_buf_reset(resume);
        tr_buf_append(resume, from->data, from->len);
        *done = false;
    } else if (tr_wbatch_count(b) > 0) {
        if (tr_engine_write(s->eng, b, err) != 0) {
            rv = TR_EIO;
        } else {
            *written += step_written;
        }
    }
    pthread_mutex_unlock(&s->write_mu);
    return rv == 0 && resume->oom ? TR_ENOMEM : rv;
}

int seal_compact_step(struct tr_storage *s,
                      const struct tr_shard_id *id,
                      struct tr_slice tenant,
                      struct tr_buf *resume,
                      bool *done,
                      uint64_t *read,
                      uint64_t *written)
{
    *done = false;
    struct tr_buf prefix, seek, sp;
    tr_buf_init(&prefix);
    tr_buf_init(&seek);
    tr_buf_init(&sp);
    tr_key_shard_prefix(&prefix, tenant, id->window, id->slot, TR_KEY_CHUNK);
    tr_buf_append(&seek, prefix.data, prefix.len);
    tr_buf_append(&seek, resume->data, resume->len); /* the next series id */
    struct tr_buf from;
    tr_buf_init(&from);
    tr_buf_append(&from, resume->data, resume->len);
    struct compact_series cs;
    memset(&cs, 0, sizeof(cs));
    tr_buf_init(&cs.keys);
    tr_buf_init(&cs.recs);
    struct tr_wbatch *b = tr_wbatch_new(s->eng);
    int rv = prefix.oom || seek.oom || from.oom || b == NULL ? TR_ENOMEM : 0;
    uint64_t reshape = compact__reshape(s);
    struct tr_iter *it = rv == 0 ? tr_iter_new(s->eng, TR_CF_METRICS) : NULL;
    if (rv == 0 && it == NULL) {
        rv = TR_ENOMEM;
    }
    uint64_t cur = 0, step_read = 0, step_written = 0;
    bool have = false;
    if (rv == 0) {
        tr_iter_seek(it, seek.data, seek.len);
    }
    for (; rv == 0; tr_iter_next(it)) {
        bool more = tr_iter_has_prefix(it, prefix.data, prefix.len);
        struct tr_slice k = more ? tr_iter_key(it) : (struct tr_slice){0};
        if (more && k.len != prefix.len + 24) {
            continue; /* not a chunk key: left as it is */
        }
        uint64_t sid = more ? tr_get_u64be(k.base + prefix.len) : 0;
        if (have && (!more || sid != cur)) {
            rv = compact__flush(&cs, &sp, b, &step_written);
            have = false;
            if (rv != 0) {
                break;
            }
            if (!more || step_read >= SEAL_STEP_BYTES) {
                tr_buf_reset(resume); /* resume here (unless done) */
                tr_buf_put_u64be(resume, sid);
                *done = !more;
                break;
            }
        }
        if (!more) {
            *done = true;
            break;
        }
        if (!have) {
            have = true;
            cur = sid;
            tr_buf_reset(&sp);
            tr_buf_append(&sp, k.base, prefix.len + 8);
        }
        struct tr_slice v = tr_iter_value(it);
        tr_buf_put_uvarint(&cs.keys, k.len);
        tr_buf_append(&cs.keys, k.base, k.len);
        tr_buf_put_uvarint(&cs.recs, v.len);
        tr_buf_append(&cs.recs, v.base, v.len);
        cs.n_recs++;
        step_read += k.len + v.len;
        rv = cs.keys.oom || cs.recs.oom ? TR_ENOMEM : compact__decode(&cs, v);
    }
    tr_iter_free(it);
    if (rv == 0) {
        rv = compact__commit(s, b, reshape, &from, resume, done, step_written,
                             written);
    }
    tr_buf_free(&from);
    *read += step_read;
    tr_wbatch_free(b);
    tr_buf_free(&cs.keys);
    tr_buf_free(&cs.recs);
    tr_free(cs.v);
    tr_buf_free(&prefix);
    tr_buf_free(&seek);
    tr_buf_free(&sp);
    return rv;
}

/* The length of a posting key's name-and-value part (prefix included), or
 * 0 when k is not a posting key of this prefix. */
static size_t compact__posting_group(struct tr_slice k, size_t pl)
{
    struct tr_cursor c = tr_cursor_make(k.base + pl, k.len - pl);
    uint64_t l;
    struct tr_slice part;
    if (tr_cursor_uvarint(&c, &l) != 0 || tr_cursor_bytes(&c, l, &part) != 0 ||
        tr_cursor_uvarint(&c, &l) != 0 || tr_cursor_bytes(&c, l, &part) != 0) {
        return 0;
    }
    size_t left = tr_cursor_left(&c);
    if (left != 8 && !(left == 1 && c.p[0] == TR_POSTING_LIST)) {
        return 0;
    }
    return k.len - left;
}

/* Puts the group's list key (and deletes its keys) into b, unless it is
 * one list key holding exactly these ids already. */
static int compact__posting_flush(struct tr_buf *group,
                                  struct tr_buf *keys,
                                  size_t n_keys,
                                  bool only_list,
                                  struct idvec *ids,
                                  struct tr_wbatch *b,
                                  uint64_t *written)
{
    if (n_keys == 0) {
        return 0;
    }
    idvec_sort_unique(ids);
    struct tr_buf v;
    tr_buf_init(&v);
    tr_buf_put_uvarint(&v, ids->n);
    uint64_t prev = 0;
    for (size_t i = 0; i < ids->n; i++) {
        tr_buf_put_uvarint(&v, ids->v[i] - prev);
        prev = ids->v[i];
    }
    int rv = v.oom ? TR_ENOMEM : 0;
    if (rv == 0 && !(only_list && n_keys == 1)) {
        struct tr_cursor c = tr_cursor_make(keys->data, keys->len);
        struct tr_slice k;
        while (compact__next(&c, &k)) {
            tr_wbatch_delete(b, TR_CF_METRICS, k.base, k.len);
        }
        tr_buf_putc(group, TR_POSTING_LIST);
        tr_wbatch_put(b, TR_CF_METRICS, group->data, group->len, v.data, v.len);
        *written += group->len + v.len;
    }
    tr_buf_free(&v);
    tr_buf_reset(keys);
    ids->n = 0;
    return rv;
}

int seal_compact_postings_step(struct tr_storage *s,
                               const struct tr_shard_id *id,
                               struct tr_slice tenant,
                               struct tr_buf *resume,
                               bool *done,
                               uint64_t *read,
                               uint64_t *written)
{
    *done = false;
    struct tr_buf prefix, group, keys, from;
    tr_buf_init(&prefix);
    tr_buf_init(&group);
    tr_buf_init(&keys);
    tr_buf_init(&from);
    tr_key_shard_prefix(&prefix, tenant, id->window, id->slot, TR_KEY_POSTING);
    tr_buf_append(&from, resume->data, resume->len);
    struct idvec ids = {0};
    struct tr_wbatch *b = tr_wbatch_new(s->eng);
    int rv = prefix.oom || from.oom || b == NULL ? TR_ENOMEM : 0;
    uint64_t reshape = compact__reshape(s);
    struct tr_iter *it = rv == 0 ? tr_iter_new(s->eng, TR_CF_METRICS) : NULL;
    if (rv == 0 && it == NULL) {
        rv = TR_ENOMEM;
    }
    size_t n_keys = 0;
    bool only_list = true;
    uint64_t step_read = 0, step_written = 0;
    if (rv == 0) {
        if (from.len > 0) {
            tr_iter_seek(it, from.data, from.len);
        } else {
            tr_iter_seek(it, prefix.data, prefix.len);
        }
    }
    for (; rv == 0; tr_iter_next(it)) {
        bool more = tr_iter_has_prefix(it, prefix.data, prefix.len);
        struct tr_slice k = more ? tr_iter_key(it) : (struct tr_slice){0};
        size_t gl = more ? compact__posting_group(k, prefix.len) : 0;
        if (more && gl == 0) {
            continue; /* not a posting key: left as it is */
        }
        bool same = more && n_keys > 0 && gl == group.len &&
                    memcmp(k.base, group.data, gl) == 0;
        if (n_keys > 0 && !same) {
            rv = compact__posting_flush(&group, &keys, n_keys, only_list, &ids,
                                        b, &step_written);
            n_keys = 0;
            only_list = true;
            if (rv != 0) {
                break;
            }
            if (!more || step_read >= SEAL_STEP_BYTES) {
                tr_buf_reset(resume);
                if (more) {
                    tr_buf_append(resume, k.base, gl);
                }
                *done = !more;
                break;
            }
        }
        if (!more) {
            *done = true;
            break;
        }
        if (n_keys == 0) {
            tr_buf_reset(&group);
            tr_buf_append(&group, k.base, gl);
        }
        struct tr_slice rest = {k.base + gl, k.len - gl};
        struct tr_slice v = tr_iter_value(it);
        if (rest.len == 8) {
            only_list = false;
            rv = idvec_push(&ids, tr_get_u64be(rest.base));
        } else {
            rv = postings_list_decode(v, &ids);
        }
        tr_buf_put_uvarint(&keys, k.len);
        tr_buf_append(&keys, k.base, k.len);
        n_keys++;
        step_read += k.len + v.len;
        if (rv == 0 && keys.oom) {
            rv = TR_ENOMEM;
        }
    }
    tr_iter_free(it);
    if (rv == 0) {
        rv = compact__commit(s, b, reshape, &from, resume, done, step_written,
                             written);
    }
    *read += step_read;
    tr_wbatch_free(b);
    idvec_free(&ids);
    tr_buf_free(&prefix);
    tr_buf_free(&group);
    tr_buf_free(&keys);
    tr_buf_free(&from);
    return rv;
}
