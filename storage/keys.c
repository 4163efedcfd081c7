#include "storage/keys.h"

#include <string.h>

#include "lib/err.h"

void tr_key_tenant_prefix(struct tr_buf *k, struct tr_slice tenant)
{
    tr_buf_append(k, tenant.base, tenant.len);
    tr_buf_putc(k, '\0');
}

void tr_key_shard_prefix(struct tr_buf *k,
                         struct tr_slice tenant,
                         int64_t window_start,
                         uint16_t slot,
                         char kind)
{
    tr_key_tenant_prefix(k, tenant);
    tr_buf_put_u64be(k, tr_key_time(window_start));
    tr_buf_put_u16be(k, slot);
    tr_buf_putc(k, kind);
}

int tr_key_parse_shard(struct tr_slice key,
                       size_t tenant_len,
                       int64_t *window_start,
                       uint16_t *slot,
                       char *kind)
{
    if (key.len < tenant_len + 12 || key.base[tenant_len] != '\0') {
        return TR_ECORRUPT;
    }
    const char *p = key.base + tenant_len + 1;
    *window_start = tr_key_time_decode(tr_get_u64be(p));
    *slot = tr_get_u16be(p + 8);
    *kind = p[10];
    return 0;
}

void tr_key_posting(struct tr_buf *k,
                    struct tr_slice name,
                    struct tr_slice value)
{
    tr_buf_put_uvarint(k, name.len);
    tr_buf_append(k, name.base, name.len);
    tr_buf_put_uvarint(k, value.len);
    tr_buf_append(k, value.base, value.len);
}

void tr_key_metadata(struct tr_buf *k,
                     struct tr_slice tenant,
                     struct tr_slice metric)
{
    tr_buf_putc(k, 'M');
    tr_key_tenant_prefix(k, tenant);
    tr_buf_append(k, metric.base, metric.len);
}
