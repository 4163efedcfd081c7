/* seal.c - the seal entry and the sealed marker (storage/seal.h). */
#include "storage/seal.h"

#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "storage/keys.h"
#include "storage/storage_int.h"

void tr_entry_seal_encode(uint64_t request, uint8_t out[TR_ENTRY_SEAL_SIZE])
{
    out[0] = TR_ENTRY_SEAL;
    out[1] = 1;
    tr_put_u64be(out + 2, request);
}

int tr_entry_seal_decode(const void *e, size_t len, uint64_t *request)
{
    const uint8_t *p = e;
    if (len < 1 || p[0] != TR_ENTRY_SEAL) {
        return TR_ENOTFOUND;
    }
    if (len != TR_ENTRY_SEAL_SIZE || p[1] != 1) {
        return TR_ECORRUPT;
    }
    *request = tr_get_u64be(p + 2);
    return *request != 0 ? 0 : TR_ECORRUPT;
}

void seal_marker_key(uint8_t out[SEAL_MARKER_KEY_SIZE],
                     const struct tr_shard_id *id)
{
    out[0] = 0;
    tr_put_u64be(out + 1, tr_key_time(id->window));
    tr_put_u16be(out + 9, id->slot);
    out[11] = 'Z';
}

bool seal_marker_load(struct tr_storage *s, const struct tr_shard_id *id)
{
    enum tr_cf cfs[2];
    tr_cfs_of_signal(id->signal, cfs);
    uint8_t k[SEAL_MARKER_KEY_SIZE];
    seal_marker_key(k, id);
    struct tr_buf v;
    tr_buf_init(&v);
    bool found = tr_engine_get(s->eng, cfs[0], k, sizeof(k), &v) == 0;
    tr_buf_free(&v);
    return found;
}

bool tr_storage_shard_sealed(struct tr_storage *s, const struct tr_shard_id *id)
{
    pthread_mutex_lock(&s->write_mu);
    struct storage_shard *sh = storage_shard_get(s, id);
    bool sealed = sh != NULL && sh->sealed;
    pthread_mutex_unlock(&s->write_mu);
    return sealed;
}

bool tr_storage_shard_seal_pending(struct tr_storage *s,
                                   const struct tr_shard_id *id)
{
    pthread_mutex_lock(&s->write_mu);
    struct storage_shard *sh = storage_shard_get(s, id);
    bool pending = sh != NULL && sh->compacting;
    pthread_mutex_unlock(&s->write_mu);
    return pending;
}

void seal_sum_set(struct tr_storage *s,
                  const struct tr_shard_id *id,
                  bool ok,
                  uint64_t index,
                  uint64_t sum)
{
    pthread_mutex_lock(&s->sum_mu);
    size_t i = 0;
    while (i < s->n_sums && !tr_shard_eq(&s->sums[i].id, id)) {
        i++;
    }
    if (!ok) {
        if (i < s->n_sums) {
            s->sums[i] = s->sums[--s->n_sums];
        }
    } else {
        if (i == s->n_sums && s->n_sums == s->cap_sums) {
            size_t cap = s->cap_sums ? s->cap_sums * 2 : 16;
            struct seal_sum *v = tr_realloc(s->sums, cap * sizeof(*v));
            if (v != NULL) {
                s->sums = v;
                s->cap_sums = cap;
            }
        }
        if (i < s->cap_sums) {
            s->sums[i] = (struct seal_sum){*id, index, sum};
            s->n_sums += i == s->n_sums;
        }
    }
    pthread_mutex_unlock(&s->sum_mu);
}

int tr_storage_shard_seal_sum(struct tr_storage *s,
                              const struct tr_shard_id *id,
                              uint64_t *index,
                              uint64_t *checksum)
{
    int rv = TR_ENOTFOUND;
    pthread_mutex_lock(&s->sum_mu);
    for (size_t i = 0; i < s->n_sums; i++) {
        if (tr_shard_eq(&s->sums[i].id, id)) {
            *index = s->sums[i].index;
            *checksum = s->sums[i].sum;
            rv = 0;
        }
    }
    pthread_mutex_unlock(&s->sum_mu);
    return rv;
}
