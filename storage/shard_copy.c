/* shard_copy.c - a shard as a unit of data: checksum, bulk dump and load
 * (a replica that fell too far behind copies its shard from a healthy one),
 * and drop. A shard's keys are the ranges tenant | 0 | window | slot of
 * every tenant. */
#include <inttypes.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/log.h"
#include "storage/keys.h"
#include "storage/storage_int.h"

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t copy__fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* storage_shard_ranges for one column family. */
static int copy__ranges_cf(struct tr_storage *s,
                           const struct tr_shard_id *id,
                           enum tr_cf cf,
                           storage_range_fn fn,
                           void *arg)
{
    int64_t window = id->window;
    uint16_t slot = id->slot;
    struct tr_iter *it = tr_iter_new(s->eng, cf);
    if (it == NULL) {
        return TR_ENOMEM;
    }
    struct tr_buf prefix, next;
    tr_buf_init(&prefix);
    tr_buf_init(&next);
    int rv = 0;
    tr_iter_seek(it, "", 0);
    while (rv == 0 && tr_iter_valid(it)) {
        struct tr_slice k = tr_iter_key(it);
        const char *z = memchr(k.base, '\0', k.len);
        if (z == NULL) {
            tr_iter_next(it);
            continue;
        }
        struct tr_slice tenant = {k.base, (size_t)(z - k.base)};
        tr_buf_reset(&prefix);
        tr_key_tenant_prefix(&prefix, tenant);
        tr_buf_put_u64be(&prefix, tr_key_time(window));
        tr_buf_put_u16be(&prefix, slot);
        tr_buf_reset(&next);
        tr_buf_append(&next, tenant.base, tenant.len);
        tr_buf_putc(&next, '\1'); /* first key after this tenant's keys */
        tr_iter_seek(it, prefix.data, prefix.len);
        rv = fn(arg, cf, it, &prefix);
        tr_iter_seek(it, next.data, next.len);
    }
    tr_iter_free(it);
    tr_buf_free(&prefix);
    tr_buf_free(&next);
    return rv;
}

int storage_shard_ranges(struct tr_storage *s,
                         const struct tr_shard_id *id,
                         storage_range_fn fn,
                         void *arg)
{
    enum tr_cf cfs[2];
    size_t n = tr_cfs_of_signal(id->signal, cfs);
    int rv = 0;
    for (size_t i = 0; i < n && rv == 0; i++) {
        rv = copy__ranges_cf(s, id, cfs[i], fn, arg);
    }
    return rv;
}

static int copy__sum_range(void *arg,
                           enum tr_cf cf,
                           struct tr_iter *it,
                           const struct tr_buf *prefix)
{
    (void)cf;
    uint64_t *h = arg;
    for (; tr_iter_has_prefix(it, prefix->data, prefix->len);
         tr_iter_next(it)) {
        struct tr_slice k = tr_iter_key(it), v = tr_iter_value(it);
        *h = copy__fnv(*h, k.base, k.len);
        *h = copy__fnv(*h, v.base, v.len);
    }
    return 0;
}

uint64_t storage_shard_checksum_locked(struct tr_storage *s,
                                       const struct tr_shard_id *id)
{
    uint64_t h = FNV_OFFSET;
    storage_shard_ranges(s, id, copy__sum_range, &h);
    return h;
}

uint64_t tr_storage_shard_checksum(struct tr_storage *s,
                                   const struct tr_shard_id *id)
{
    return storage_shard_checksum_locked(s, id);
}

static int copy__dump_range(void *arg,
                            enum tr_cf cf,
                            struct tr_iter *it,
                            const struct tr_buf *prefix)
{
    struct tr_buf *out = arg;
    for (; tr_iter_has_prefix(it, prefix->data, prefix->len);
         tr_iter_next(it)) {
        struct tr_slice k = tr_iter_key(it), v = tr_iter_value(it);
        tr_buf_putc(out, (char)cf);
        tr_buf_put_uvarint(out, k.len);
        tr_buf_append(out, k.base, k.len);
        tr_buf_put_uvarint(out, v.len);
        tr_buf_append(out, v.base, v.len);
    }
    return out->oom ? TR_ENOMEM : 0;
}

int tr_storage_shard_dump(struct tr_storage *s,
                          const struct tr_shard_id *id,
                          struct tr_buf *out)
{
    uint64_t index = 0;
    int rv = tr_storage_shard_checkpoint(s, id, &index);
    if (rv != 0) {
        return rv;
    }
    size_t start = out->len;
    rv = storage_shard_ranges(s, id, copy__dump_range, out);
    if (rv != 0) {
        return rv;
    }
    tr_buf_put_u64be(out, index);
    uint64_t h = copy__fnv(FNV_OFFSET, out->data + start, out->len - start);
    tr_buf_put_u64be(out, h);
    return out->oom ? TR_ENOMEM : 0;
}

static int copy__delete_range(void *arg,
                              enum tr_cf cf,
                              struct tr_iter *it,
                              const struct tr_buf *prefix)
{
    (void)it;
    struct tr_wbatch *b = arg;
    uint8_t to[512];
    if (prefix->len > sizeof(to)) {
        return TR_EINVAL;
    }
    size_t tl = tr_prefix_successor(prefix->data, prefix->len, to);
    tr_wbatch_delete_range(b, cf, prefix->data, prefix->len, to, tl);
    return 0;
}

/* Caller holds write_mu. Deletes the shard's keys and applied index and
 * frees its head. */
static int copy__drop_locked(struct tr_storage *s, const struct tr_shard_id *id)
{
    s->reshape++;
    struct tr_wbatch *b = tr_wbatch_new(s->eng);
    if (b == NULL) {
        return TR_ENOMEM;
    }
    int rv = storage_shard_ranges(s, id, copy__delete_range, b);
    uint8_t k[TR_KEY_APPLIED_SIZE];
    storage_applied_key(k, id);
    tr_wbatch_delete(b, TR_CF_META, k, sizeof(k));
    char err[TR_ERRMSG_SIZE];
    if (rv == 0) {
        rv = tr_engine_write(s->eng, b, err);
    }
    tr_wbatch_free(b);
    if (id->signal == TR_SIGNAL_METRICS) {
        pthread_rwlock_wrlock(&s->head_mu);
        head_evict_window(s, id->window, id->slot);
        pthread_rwlock_unlock(&s->head_mu);
    }
    for (struct storage_shard *sh = s->shards; sh != NULL; sh = sh->next) {
        if (tr_shard_eq(&sh->id, id)) {
            sh->applied = 0;
            sh->durable = 0;
            sh->sealed = false; /* its marker went with the ranges */
        }
    }
    return rv;
}

int tr_storage_shard_drop(struct tr_storage *s, const struct tr_shard_id *id)
{
    pthread_mutex_lock(&s->write_mu);
    int rv = copy__drop_locked(s, id);
    pthread_mutex_unlock(&s->write_mu);
    return rv;
}

int tr_storage_shard_load(struct tr_storage *s,
                          const struct tr_shard_id *id,
                          const void *dump,
                          size_t len,
                          uint64_t *index)
{
    if (len < 16) {
        return TR_ECORRUPT;
    }
    const uint8_t *d = dump;
    uint64_t want = tr_get_u64be(d + len - 8);
    if (copy__fnv(FNV_OFFSET, d, len - 8) != want) {
        return TR_ECORRUPT;
    }
    uint64_t idx = tr_get_u64be(d + len - 16);
    /* every key must belong to this shard */
    uint8_t tail[10];
    tr_put_u64be(tail, tr_key_time(id->window));
    tr_put_u16be(tail + 8, id->slot);
    enum tr_cf cfs[2];
    size_t ncf = tr_cfs_of_signal(id->signal, cfs);
    struct tr_cursor c = tr_cursor_make(d, len - 16);
    struct tr_wbatch *b = tr_wbatch_new(s->eng);
    if (b == NULL) {
        return TR_ENOMEM;
    }
    int rv = 0;
    while (rv == 0 && tr_cursor_left(&c) > 0) {
        uint8_t cf;
        uint64_t kl, vl;
        struct tr_slice k, v;
        if (tr_cursor_u8(&c, &cf) != 0 ||
            (cf != cfs[0] && (ncf < 2 || cf != cfs[1])) ||
            tr_cursor_uvarint(&c, &kl) != 0 ||
            tr_cursor_bytes(&c, kl, &k) != 0 ||
            tr_cursor_uvarint(&c, &vl) != 0 ||
            tr_cursor_bytes(&c, vl, &v) != 0) {
            rv = TR_ECORRUPT;
            break;
        }
        const char *z = memchr(k.base, '\0', k.len);
        size_t off = z ? (size_t)(z - k.base) + 1 : 0;
        if (z == NULL || k.len < off + 10 ||
            memcmp(k.base + off, tail, 10) != 0) {
            rv = TR_ECORRUPT;
            break;
        }
        tr_wbatch_put(b, (enum tr_cf)cf, k.base, k.len, v.base, v.len);
    }
    pthread_mutex_lock(&s->write_mu);
    if (rv == 0) {
        rv = copy__drop_locked(s, id);
    }
    if (rv == 0) {
        uint8_t k[TR_KEY_APPLIED_SIZE], a[8];
        storage_applied_key(k, id);
        tr_put_u64be(a, idx);
        tr_wbatch_put(b, TR_CF_META, k, sizeof(k), a, 8);
        char err[TR_ERRMSG_SIZE];
        rv = tr_engine_write(s->eng, b, err);
        if (rv != 0) {
            tr_log_error("shard load failed", "err=\"%s\"", err);
        }
    }
    if (rv == 0) {
        struct storage_shard *sh = storage_shard_get(s, id);
        if (sh != NULL) {
            sh->applied = idx;
            sh->durable = idx;
            sh->sealed = seal_marker_load(s, id); /* copied with the data */
        }
    }
    pthread_mutex_unlock(&s->write_mu);
    tr_wbatch_free(b);
    if (rv == 0 && index != NULL) {
        *index = idx;
    }
    return rv;
}

static int copy__corrupt_range(void *arg,
                               enum tr_cf cf,
                               struct tr_iter *it,
                               const struct tr_buf *prefix)
{
    struct tr_storage *s = arg;
    /* the first key of a tenant's range (not the empty tenant's marker) */
    if (prefix->len <= 11 ||
        !tr_iter_has_prefix(it, prefix->data, prefix->len)) {
        return 0;
    }
    struct tr_slice k = tr_iter_key(it);
    struct tr_wbatch *b = tr_wbatch_new(s->eng);
    if (b == NULL) {
        return TR_ENOMEM;
    }
    tr_wbatch_delete(b, cf, k.base, k.len);
    char err[TR_ERRMSG_SIZE];
    int rv = tr_engine_write(s->eng, b, err);
    tr_wbatch_free(b);
    return rv == 0 ? 1 : rv; /* 1 stops the walk: one key is enough */
}

int tr_storage_shard_corrupt_for_test(struct tr_storage *s,
                                      const struct tr_shard_id *id)
{
    pthread_mutex_lock(&s->write_mu);
    s->reshape++;
    int rv = storage_shard_ranges(s, id, copy__corrupt_range, s);
    pthread_mutex_unlock(&s->write_mu);
    return rv == 1 ? 0 : rv == 0 ? TR_ENOTFOUND : rv;
}
