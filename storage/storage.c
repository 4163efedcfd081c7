/* storage.c - opening, recovery, the write-ahead log, checkpoints. */
#include "storage/storage.h"

#include <inttypes.h>
#include <stdio.h>
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

static int storage__replay(struct tr_storage *s, char *errmsg)
{
    uint8_t from[9];
    tr_key_wal(from, s->checkpoint_index + 1);
    struct tr_iter *it = tr_iter_new(s->eng, TR_CF_WAL);
    if (it == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    uint64_t n = 0, samples = 0;
    for (tr_iter_seek(it, from, 9); tr_iter_has_prefix(it, "W", 1);
         tr_iter_next(it)) {
        struct tr_slice k = tr_iter_key(it);
        if (k.len != 9) {
            continue;
        }
        uint64_t idx = tr_get_u64be(k.base + 1);
        struct tr_slice v = tr_iter_value(it);
        struct tr_apply_result res;
        memset(&res, 0, sizeof(res));
        char err[TR_ERRMSG_SIZE];
        tr_wbatch_clear(s->batch);
        if (head_apply(s, idx, v.base, v.len, &res, err) != 0) {
            tr_log_error("skipping corrupt WAL entry", "index=%" PRIu64
                         " err=\"%s\"", idx, err);
        }
        if (tr_engine_write(s->eng, s->batch, err) != 0) {
            tr_iter_free(it);
            return tr_errf(TR_EIO, errmsg, "replay: %s", err);
        }
        tr_wbatch_clear(s->batch);
        s->last_index = idx;
        s->wal_bytes += v.len;
        samples += res.samples_appended;
        n++;
    }
    tr_iter_free(it);
    if (n > 0) {
        tr_log_info("replayed write-ahead log",
                    "entries=%" PRIu64 " samples=%" PRIu64
                    " checkpoint=%" PRIu64 " last_index=%" PRIu64,
                    n, samples, s->checkpoint_index, s->last_index);
    }
    return 0;
}

int tr_storage_open(const struct tr_storage_config *cfg,
                    struct tr_storage **out, char *errmsg)
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
    if (s->cfg.wal_checkpoint_bytes == 0) {
        s->cfg.wal_checkpoint_bytes = 64u << 20;
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
    int rv = tr_engine_open(dir, cfg->cache_bytes, cfg->wal_sync, &s->eng,
                            errmsg);
    if (rv != 0) {
        goto err_after_alloc;
    }
    s->batch = tr_wbatch_new(s->eng);
    struct tr_buf v;
    tr_buf_init(&v);
    if (tr_engine_get(s->eng, TR_CF_META, "A", 1, &v) == 0 && v.len == 8) {
        s->checkpoint_index = tr_get_u64be(v.data);
    }
    tr_buf_free(&v);
    s->last_index = s->checkpoint_index;
    select_init_source(s);
    if (storage__replay(s, errmsg) != 0) {
        goto err_after_engine;
    }
    *out = s;
    return 0;

err_after_engine:
    head_free(s);
    tr_wbatch_free(s->batch);
    tr_engine_close(s->eng);
err_after_alloc:
    tr_buf_free(&s->key);
    tr_buf_free(&s->val);
    pthread_rwlock_destroy(&s->head_mu);
    pthread_mutex_destroy(&s->write_mu);
    tr_free(s->data_dir);
    tr_free(s);
    return TR_EIO;
}

static int storage__checkpoint_locked(struct tr_storage *s, int64_t now_ms,
                                      bool cut_all);

int tr_storage_append(struct tr_storage *s, const void *entry, size_t len,
                      struct tr_apply_result *res, char *errmsg)
{
    memset(res, 0, sizeof(*res));
    pthread_mutex_lock(&s->write_mu);
    uint64_t idx = s->last_index + 1;
    uint8_t k[9];
    tr_key_wal(k, idx);
    tr_wbatch_clear(s->batch);
    tr_wbatch_put(s->batch, TR_CF_WAL, k, 9, entry, len);
    int rv = tr_engine_write(s->eng, s->batch, errmsg);
    tr_wbatch_clear(s->batch);
    if (rv != 0) {
        pthread_mutex_unlock(&s->write_mu);
        return TR_EIO;
    }
    s->last_index = idx;
    s->wal_bytes += len;
    res->index = idx;
    pthread_rwlock_wrlock(&s->head_mu);
    rv = head_apply(s, idx, entry, len, res, errmsg);
    char err[TR_ERRMSG_SIZE];
    if (tr_wbatch_count(s->batch) > 0 &&
        tr_engine_write(s->eng, s->batch, err) != 0) {
        /* the entry is in the WAL: replay repairs this on restart */
        tr_log_error("storage apply write failed", "err=\"%s\"", err);
    }
    tr_wbatch_clear(s->batch);
    pthread_rwlock_unlock(&s->head_mu);
    if (s->wal_bytes >= s->cfg.wal_checkpoint_bytes) {
        /* bound the WAL (and so replay time and its memtable) */
        storage__checkpoint_locked(s, INT64_MIN, false);
    }
    pthread_mutex_unlock(&s->write_mu);
    return rv;
}

static int storage__checkpoint_locked(struct tr_storage *s, int64_t now_ms,
                                      bool cut_all)
{
    char err[TR_ERRMSG_SIZE];
    pthread_rwlock_wrlock(&s->head_mu);
    tr_wbatch_clear(s->batch);
    head_persist(s, s->last_index, cut_all);
    uint8_t a[8];
    tr_put_u64be(a, s->last_index);
    tr_wbatch_put(s->batch, TR_CF_META, "A", 1, a, 8);
    uint8_t from[9], to[9];
    tr_key_wal(from, 0);
    tr_key_wal(to, s->last_index + 1);
    tr_wbatch_delete_range(s->batch, TR_CF_WAL, from, 9, to, 9);
    int rv = tr_engine_write(s->eng, s->batch, err);
    tr_wbatch_clear(s->batch);
    if (rv == 0) {
        s->checkpoint_index = s->last_index;
        s->wal_bytes = 0;
        s->checkpoints++;
        if (now_ms != INT64_MIN && s->cfg.head_retain_ms >= 0) {
            head_evict(s, now_ms - s->cfg.head_retain_ms);
        }
    } else {
        tr_log_error("checkpoint failed", "err=\"%s\"", err);
    }
    pthread_rwlock_unlock(&s->head_mu);
    return rv;
}

int tr_storage_checkpoint(struct tr_storage *s, int64_t now_ms)
{
    pthread_mutex_lock(&s->write_mu);
    int rv = storage__checkpoint_locked(s, now_ms, false);
    pthread_mutex_unlock(&s->write_mu);
    return rv;
}

int tr_storage_flush(struct tr_storage *s)
{
    pthread_mutex_lock(&s->write_mu);
    int rv = storage__checkpoint_locked(s, INT64_MIN, true);
    pthread_mutex_unlock(&s->write_mu);
    if (rv == 0) {
        rv = tr_engine_flush(s->eng);
    }
    tr_engine_compact(s->eng, TR_CF_WAL);
    tr_engine_compact(s->eng, TR_CF_META);
    tr_engine_compact(s->eng, TR_CF_METRICS);
    return rv;
}

void tr_storage_close(struct tr_storage *s)
{
    if (s == NULL) {
        return;
    }
    tr_storage_checkpoint(s, INT64_MIN);
    tr_engine_flush(s->eng);
    head_free(s);
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
    pthread_rwlock_rdlock(&s->head_mu);
    st->head_series = s->head_series;
    st->last_index = s->last_index;
    st->checkpoint_index = s->checkpoint_index;
    st->chunks_cut = s->chunks_cut;
    st->checkpoints = s->checkpoints;
    st->wal_bytes = s->wal_bytes;
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

int tr_storage_metadata(struct tr_storage *s, struct tr_slice tenant,
                        struct tr_slice metric, size_t limit,
                        struct tr_arena *a, struct tr_metadata_item **out,
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
