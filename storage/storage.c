/* storage.c - opening, shard apply and checkpoints, eviction, flush. */
#include "storage/storage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "storage/keys.h"
#include "storage/storage_int.h"

static int storage__mkdirs(const char *dir)
{
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(tmp)) {
        return TR_EINVAL;
    }
    memcpy(tmp, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0755) != 0) {
                struct stat st;
                if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode)) {
                    return TR_EIO;
                }
            }
            tmp[i] = c;
        }
    }
    return 0;
}

/* meta key of a shard's applied index: "A" | window | slot */
static void storage__applied_key(uint8_t out[11], int64_t window, uint16_t slot)
{
    out[0] = 'A';
    tr_put_u64be(out + 1, tr_key_time(window));
    tr_put_u16be(out + 9, slot);
}

/* The shard's progress record, loaded from RocksDB on first use. */
static struct storage_shard *storage__shard(struct tr_storage *s,
                                            int64_t window,
                                            uint16_t slot)
{
    for (struct storage_shard *sh = s->shards; sh != NULL; sh = sh->next) {
        if (sh->window == window && sh->slot == slot) {
            return sh;
        }
    }
    struct storage_shard *sh = tr_calloc(1, sizeof(*sh));
    if (sh == NULL) {
        return NULL;
    }
    sh->window = window;
    sh->slot = slot;
    uint8_t k[11];
    storage__applied_key(k, window, slot);
    struct tr_buf v;
    tr_buf_init(&v);
    if (tr_engine_get(s->eng, TR_CF_META, k, sizeof(k), &v) == 0 &&
        v.len == 8) {
        sh->durable = tr_get_u64be(v.data);
        sh->applied = sh->durable;
    }
    tr_buf_free(&v);
    sh->next = s->shards;
    s->shards = sh;
    return sh;
}

int tr_storage_open(const struct tr_storage_config *cfg,
                    struct tr_storage **out,
                    char *errmsg)
{
    struct tr_storage *s = tr_calloc(1, sizeof(*s));
    if (s == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    s->cfg = *cfg;
    if (s->cfg.window_ms <= 0) {
        s->cfg.window_ms = 24 * 3600 * 1000LL;
    }
    if (s->cfg.chunk_max_ms <= 0) {
        s->cfg.chunk_max_ms = 2 * 3600 * 1000LL;
    }
    if (s->cfg.ooo_window_ms < 0) {
        s->cfg.ooo_window_ms = 0;
    }
    s->data_dir = tr_strdup(cfg->data_dir);
    s->cfg.data_dir = s->data_dir;
    pthread_mutex_init(&s->write_mu, NULL);
    pthread_rwlock_init(&s->head_mu, NULL);
    tr_buf_init(&s->key);
    tr_buf_init(&s->val);
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/db", cfg->data_dir);
    if (storage__mkdirs(dir) != 0) {
        tr_errf(TR_EIO, errmsg, "cannot create data directory %s", dir);
        goto err_after_alloc;
    }
    int rv =
        tr_engine_open(dir, cfg->cache_bytes, cfg->wal_sync, &s->eng, errmsg);
    if (rv != 0) {
        goto err_after_alloc;
    }
    s->batch = tr_wbatch_new(s->eng);
    select_init_source(s);
    *out = s;
    return 0;

err_after_alloc:
    tr_buf_free(&s->key);
    tr_buf_free(&s->val);
    pthread_rwlock_destroy(&s->head_mu);
    pthread_mutex_destroy(&s->write_mu);
    tr_free(s->data_dir);
    tr_free(s);
    return TR_EIO;
}

int tr_storage_shard_apply(struct tr_storage *s,
                           int64_t window,
                           uint16_t slot,
                           uint64_t index,
                           const void *entry,
                           size_t len,
                           struct tr_apply_result *res,
                           char *errmsg)
{
    memset(res, 0, sizeof(*res));
    res->index = index;
    pthread_mutex_lock(&s->write_mu);
    struct storage_shard *sh = storage__shard(s, window, slot);
    if (sh == NULL) {
        pthread_mutex_unlock(&s->write_mu);
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    if (index <= sh->applied) {
        res->skipped = true;
        pthread_mutex_unlock(&s->write_mu);
        return 0;
    }
    pthread_rwlock_wrlock(&s->head_mu);
    tr_wbatch_clear(s->batch);
    int rv = head_apply(s, window, slot, index, entry, len, res, errmsg);
    char err[TR_ERRMSG_SIZE];
    if (tr_wbatch_count(s->batch) > 0 &&
        tr_engine_write(s->eng, s->batch, err) != 0) {
        /* A replicated state machine cannot skip part of an entry: stop,
         * and let the restart replay the Raft log (the entry is there). */
        tr_log_error(
            "storage write failed while applying a Raft entry; "
            "stopping so that a restart replays it",
            "err=\"%s\" index=%" PRIu64, err, index);
        abort();
    }
    tr_wbatch_clear(s->batch);
    pthread_rwlock_unlock(&s->head_mu);
    sh->applied = index;
    sh->entries++;
    pthread_mutex_unlock(&s->write_mu);
    return rv;
}

/* Persists one shard (cutting chunks when cut_all) with its applied index.
 * Caller holds write_mu. */
static int storage__checkpoint_locked(struct tr_storage *s,
                                      struct storage_shard *sh,
                                      bool cut_all)
{
    char err[TR_ERRMSG_SIZE];
    pthread_rwlock_wrlock(&s->head_mu);
    tr_wbatch_clear(s->batch);
    head_persist(s, sh->window, sh->slot, sh->applied, cut_all);
    uint8_t k[11], a[8];
    storage__applied_key(k, sh->window, sh->slot);
    tr_put_u64be(a, sh->applied);
    tr_wbatch_put(s->batch, TR_CF_META, k, sizeof(k), a, 8);
    int rv = tr_engine_write(s->eng, s->batch, err);
    tr_wbatch_clear(s->batch);
    pthread_rwlock_unlock(&s->head_mu);
    if (rv == 0) {
        sh->durable = sh->applied;
        s->checkpoints++;
    } else {
        tr_log_error("checkpoint failed", "err=\"%s\"", err);
    }
    return rv;
}

int tr_storage_shard_checkpoint(struct tr_storage *s,
                                int64_t window,
                                uint16_t slot,
                                uint64_t *index)
{
    pthread_mutex_lock(&s->write_mu);
    struct storage_shard *sh = storage__shard(s, window, slot);
    int rv = sh ? storage__checkpoint_locked(s, sh, false) : TR_ENOMEM;
    if (index != NULL) {
        *index = sh ? sh->durable : 0;
    }
    pthread_mutex_unlock(&s->write_mu);
    return rv;
}

int tr_storage_checkpoint_all(struct tr_storage *s)
{
    int rv = 0;
    pthread_mutex_lock(&s->write_mu);
    for (struct storage_shard *sh = s->shards; sh != NULL; sh = sh->next) {
        if (sh->applied > sh->durable) {
            rv |= storage__checkpoint_locked(s, sh, false);
        }
    }
    pthread_mutex_unlock(&s->write_mu);
    return rv;
}

uint64_t tr_storage_shard_applied(struct tr_storage *s,
                                  int64_t window,
                                  uint16_t slot,
                                  bool durable)
{
    pthread_mutex_lock(&s->write_mu);
    struct storage_shard *sh = storage__shard(s, window, slot);
    uint64_t v = sh ? (durable ? sh->durable : sh->applied) : 0;
    pthread_mutex_unlock(&s->write_mu);
    return v;
}

int tr_storage_evict(struct tr_storage *s, int64_t older_than_ms)
{
    int rv = 0;
    pthread_mutex_lock(&s->write_mu);
    for (struct storage_shard *sh = s->shards; sh != NULL; sh = sh->next) {
        if (sh->window + s->cfg.window_ms >= older_than_ms) {
            continue;
        }
        rv |= storage__checkpoint_locked(s, sh, true);
        pthread_rwlock_wrlock(&s->head_mu);
        head_evict_window(s, sh->window, sh->slot);
        pthread_rwlock_unlock(&s->head_mu);
    }
    pthread_mutex_unlock(&s->write_mu);
    return rv;
}

int tr_storage_flush(struct tr_storage *s)
{
    int rv = 0;
    pthread_mutex_lock(&s->write_mu);
    for (struct storage_shard *sh = s->shards; sh != NULL; sh = sh->next) {
        rv |= storage__checkpoint_locked(s, sh, true);
    }
    pthread_mutex_unlock(&s->write_mu);
    if (rv == 0) {
        rv = tr_engine_flush(s->eng);
    }
    tr_engine_compact(s->eng, TR_CF_META);
    tr_engine_compact(s->eng, TR_CF_METRICS);
    return rv;
}

void tr_storage_close(struct tr_storage *s)
{
    if (s == NULL) {
        return;
    }
    pthread_mutex_lock(&s->write_mu);
    for (struct storage_shard *sh = s->shards; sh != NULL; sh = sh->next) {
        storage__checkpoint_locked(s, sh, false);
    }
    pthread_mutex_unlock(&s->write_mu);
    tr_engine_flush(s->eng);
    head_free(s);
    while (s->shards != NULL) {
        struct storage_shard *next = s->shards->next;
        tr_free(s->shards);
        s->shards = next;
    }
    tr_wbatch_free(s->batch);
    tr_engine_close(s->eng);
    tr_buf_free(&s->key);
    tr_buf_free(&s->val);
    pthread_rwlock_destroy(&s->head_mu);
    pthread_mutex_destroy(&s->write_mu);
    tr_free(s->data_dir);
    tr_free(s);
}

void tr_storage_get_stats(struct tr_storage *s, struct tr_storage_stats *st)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&s->write_mu);
    for (struct storage_shard *sh = s->shards; sh != NULL; sh = sh->next) {
        st->shards++;
    }
    pthread_mutex_unlock(&s->write_mu);
    pthread_rwlock_rdlock(&s->head_mu);
    st->head_series = s->head_series;
    st->chunks_cut = s->chunks_cut;
    st->checkpoints = s->checkpoints;
    for (struct head_tenant *t = s->tenants; t != NULL; t = t->next) {
        for (struct head_window *w = t->windows; w != NULL; w = w->next) {
            for (size_t i = 0; i < w->series.cap; i++) {
                struct head_series *hs = w->series.slots[i].value;
                if (hs != NULL && hs->chunk.count > 0) {
                    st->head_chunks++;
                }
            }
        }
    }
    pthread_rwlock_unlock(&s->head_mu);
}

struct tr_engine *tr_storage_engine(struct tr_storage *s)
{
    return s->eng;
}

const struct tr_select_source *tr_storage_source(struct tr_storage *s)
{
    return &s->source;
}

int tr_storage_metadata(struct tr_storage *s,
                        struct tr_slice tenant,
                        struct tr_slice metric,
                        size_t limit,
                        struct tr_arena *a,
                        struct tr_metadata_item **out,
                        size_t *n)
{
    struct tr_buf pk;
    tr_buf_init(&pk);
    tr_key_metadata(&pk, tenant, metric);
    size_t base = pk.len - metric.len;
    struct tr_iter *it = tr_iter_new(s->eng, TR_CF_META);
    size_t cnt = 0, cap = 0;
    struct tr_metadata_item *items = NULL;
    int rv = 0;
    if (it == NULL) {
        tr_buf_free(&pk);
        return TR_ENOMEM;
    }
    for (tr_iter_seek(it, pk.data, pk.len);
         tr_iter_has_prefix(it, pk.data, pk.len); tr_iter_next(it)) {
        struct tr_slice k = tr_iter_key(it);
        struct tr_slice v = tr_iter_value(it);
        if (metric.len > 0 && k.len != pk.len) {
            continue;
        }
        if (limit > 0 && cnt >= limit) {
            break;
        }
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct tr_metadata_item *ni = tr_arena_alloc(a, ncap * sizeof(*ni));
            if (ni == NULL) {
                rv = TR_ENOMEM;
                break;
            }
            if (cnt > 0) {
                memcpy(ni, items, cnt * sizeof(*ni));
            }
            items = ni;
            cap = ncap;
        }
        struct tr_metadata_item *m = &items[cnt];
        struct tr_cursor c = tr_cursor_make(v.base, v.len);
        uint64_t l;
        if (tr_cursor_u8(&c, &m->type) != 0 || tr_cursor_uvarint(&c, &l) != 0 ||
            tr_cursor_bytes(&c, l, &m->help) != 0 ||
            tr_cursor_uvarint(&c, &l) != 0 ||
            tr_cursor_bytes(&c, l, &m->unit) != 0) {
            continue;
        }
        m->metric.base = tr_arena_memdup(a, k.base + base, k.len - base);
        m->metric.len = k.len - base;
        m->help.base = tr_arena_memdup(a, m->help.base, m->help.len);
        m->unit.base = tr_arena_memdup(a, m->unit.base, m->unit.len);
        cnt++;
    }
    tr_iter_free(it);
    tr_buf_free(&pk);
    *out = items;
    *n = cnt;
    return rv;
}
