/* retention.c - the drop-tenant entry, and what a shard drop needs besides
 * tr_storage_shard_drop: presence and compaction of its ranges. */
#include <string.h>

#include "lib/err.h"
#include "lib/log.h"
#include "storage/keys.h"
#include "storage/retention.h"
#include "storage/storage_int.h"

void tr_entry_drop_tenant_encode(struct tr_buf *out, struct tr_slice tenant)
{
    tr_buf_putc(out, (char)TR_ENTRY_DROP_TENANT);
    tr_buf_putc(out, 1);
    tr_buf_put_uvarint(out, tenant.len);
    tr_buf_append(out, tenant.base, tenant.len);
}

int tr_entry_drop_tenant_decode(const void *e,
                                size_t len,
                                struct tr_slice *tenant)
{
    const uint8_t *p = e;
    if (len < 1 || p[0] != TR_ENTRY_DROP_TENANT) {
        return TR_ENOTFOUND;
    }
    struct tr_cursor c = tr_cursor_make(e, len);
    uint8_t type, version;
    uint64_t n;
    if (tr_cursor_u8(&c, &type) != 0 || tr_cursor_u8(&c, &version) != 0 ||
        version != 1 || tr_cursor_uvarint(&c, &n) != 0 || n == 0 ||
        n > TR_KEY_MAX_TENANT || tr_cursor_bytes(&c, n, tenant) != 0 ||
        tr_cursor_left(&c) != 0 || memchr(tenant->base, '\0', n) != NULL) {
        return TR_ECORRUPT;
    }
    return 0;
}

void retention_apply_drop(struct tr_storage *s,
                          const struct tr_shard_id *id,
                          struct tr_slice tenant)
{
    s->reshape++;
    struct tr_buf prefix;
    tr_buf_init(&prefix);
    tr_key_tenant_prefix(&prefix, tenant);
    tr_buf_put_u64be(&prefix, tr_key_time(id->window));
    tr_buf_put_u16be(&prefix, id->slot);
    uint8_t to[TR_KEY_MAX_TENANT + 16];
    size_t tl = prefix.len <= sizeof(to)
                    ? tr_prefix_successor(prefix.data, prefix.len, to)
                    : 0;
    enum tr_cf cfs[2];
    size_t n = tr_cfs_of_signal(id->signal, cfs);
    for (size_t i = 0; i < n && tl > 0 && !prefix.oom; i++) {
        tr_wbatch_delete_range(s->batch, cfs[i], prefix.data, prefix.len, to,
                               tl);
    }
    if (id->signal == TR_SIGNAL_METRICS) {
        head_evict_tenant(s, tenant, id->window, id->slot);
    }
    tr_buf_free(&prefix);
}

int tr_storage_shard_drop_tenant(struct tr_storage *s,
                                 const struct tr_shard_id *id,
                                 struct tr_slice tenant)
{
    bool head = id->signal == TR_SIGNAL_METRICS;
    pthread_mutex_lock(&s->write_mu);
    if (head) {
        pthread_rwlock_wrlock(&s->head_mu);
    }
    tr_wbatch_clear(s->batch);
    retention_apply_drop(s, id, tenant);
    char err[TR_ERRMSG_SIZE] = "";
    int rv = tr_wbatch_count(s->batch) > 0 &&
                     tr_engine_write(s->eng, s->batch, err) != 0
                 ? TR_EIO
                 : 0;
    tr_wbatch_clear(s->batch);
    if (head) {
        pthread_rwlock_unlock(&s->head_mu);
    }
    pthread_mutex_unlock(&s->write_mu);
    if (rv != 0) {
        tr_log_warn("cannot drop a tenant from a sealed shard", "err=\"%s\"",
                    err);
    }
    return rv;
}

bool tr_storage_shard_present(struct tr_storage *s,
                              const struct tr_shard_id *id)
{
    uint8_t k[TR_KEY_APPLIED_SIZE];
    storage_applied_key(k, id);
    struct tr_buf v;
    tr_buf_init(&v);
    bool found = tr_engine_get(s->eng, TR_CF_META, k, sizeof(k), &v) == 0;
    tr_buf_free(&v);
    return found;
}

static int retention__list_tenant(void *arg,
                                  enum tr_cf cf,
                                  struct tr_iter *it,
                                  const struct tr_buf *prefix)
{
    (void)cf;
    struct tr_buf *out = arg;
    if (!tr_iter_has_prefix(it, prefix->data, prefix->len)) {
        return 0; /* the tenant has nothing in this shard */
    }
    size_t tl = prefix->len - 11; /* tenant | 0 | window | slot */
    /* a tenant with keys in both column families is listed once: the
     * second family's walk comes after the whole first one */
    struct tr_cursor c = tr_cursor_make(out->data, out->len);
    struct tr_slice t;
    uint64_t n;
    while (tr_cursor_uvarint(&c, &n) == 0 && tr_cursor_bytes(&c, n, &t) == 0) {
        if (n == tl && memcmp(t.base, prefix->data, tl) == 0) {
            return 0;
        }
    }
    tr_buf_put_uvarint(out, tl);
    tr_buf_append(out, prefix->data, tl);
    return out->oom ? TR_ENOMEM : 0;
}

int tr_storage_shard_tenants(struct tr_storage *s,
                             const struct tr_shard_id *id,
                             struct tr_buf *out)
{
    return storage_shard_ranges(s, id, retention__list_tenant, out);
}

int tr_storage_shard_compact(struct tr_storage *s,
                             const struct tr_shard_id *id,
                             const void *tenants,
                             size_t len)
{
    enum tr_cf cfs[2];
    size_t ncf = tr_cfs_of_signal(id->signal, cfs);
    struct tr_cursor c = tr_cursor_make(tenants, len);
    struct tr_buf prefix;
    tr_buf_init(&prefix);
    uint8_t to[TR_KEY_MAX_TENANT + 16];
    uint64_t n;
    struct tr_slice t;
    int rv = 0;
    while (rv == 0 && tr_cursor_left(&c) > 0) {
        if (tr_cursor_uvarint(&c, &n) != 0 || n > TR_KEY_MAX_TENANT ||
            tr_cursor_bytes(&c, n, &t) != 0) {
            rv = TR_ECORRUPT;
            break;
        }
        tr_buf_reset(&prefix);
        tr_key_tenant_prefix(&prefix, t);
        tr_buf_put_u64be(&prefix, tr_key_time(id->window));
        tr_buf_put_u16be(&prefix, id->slot);
        if (prefix.oom) {
            rv = TR_ENOMEM;
            break;
        }
        size_t tl = tr_prefix_successor(prefix.data, prefix.len, to);
        for (size_t i = 0; i < ncf; i++) {
            tr_engine_compact_range(s->eng, cfs[i], prefix.data, prefix.len, to,
                                    tl);
        }
    }
    tr_buf_free(&prefix);
    return rv;
}
