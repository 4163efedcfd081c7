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
#include "storage/retention.h"
#include "storage/seal.h"
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

void storage_applied_key(uint8_t out[TR_KEY_APPLIED_SIZE],
                         const struct tr_shard_id *id)
{
    out[0] = 'A';
    out[1] = id->signal;
    tr_put_u64be(out + 2, tr_key_time(id->window));
    tr_put_u16be(out + 10, id->slot);
}

struct storage_shard *storage_shard_get(struct tr_storage *s,
                                        const struct tr_shard_id *id)
{
    for (struct storage_shard *sh = s->shards; sh != NULL; sh = sh->next) {
        if (tr_shard_eq(&sh->id, id)) {
            return sh;
        }
    }
    struct storage_shard *sh = tr_calloc(1, sizeof(*sh));
    if (sh == NULL) {
        return NULL;
    }
    sh->id = *id;
    uint8_t k[TR_KEY_APPLIED_SIZE];
    storage_applied_key(k, id);
    struct tr_buf v;
    tr_buf_init(&v);
    if (tr_engine_get(s->eng, TR_CF_META, k, sizeof(k), &v) == 0 &&
        v.len == 8) {
        sh->durable = tr_get_u64be(v.data);
        sh->applied = sh->durable;
    }
    tr_buf_free(&v);
    sh->sealed = seal_marker_load(s, id);
    sh->next = s->shards;
    s->shards = sh;
    return sh;
}

/* Data directories written before shard ids carried their signal keyed
 * applied indexes "A" | window | slot (11 bytes): those are metrics shards.
 * Rewrites them as "A" | signal | window | slot, in one batch. */
static int storage__upgrade_applied_keys(struct tr_storage *s, char *errmsg)
{
    struct tr_iter *it = tr_iter_new(s->eng, TR_CF_META);
    struct tr_wbatch *b = tr_wbatch_new(s->eng);
    if (it == NULL || b == NULL) {
        tr_iter_free(it);
        tr_wbatch_free(b);
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    size_t n = 0;
    for (tr_iter_seek(it, "A", 1); tr_iter_has_prefix(it, "A", 1);
         tr_iter_next(it)) {
        struct tr_slice k = tr_iter_key(it), v = tr_iter_value(it);
        if (k.len != TR_KEY_APPLIED_SIZE - 1) {
            continue;
        }
        const uint8_t *p = (const uint8_t *)k.base;
        struct tr_shard_id id = {
            .signal = TR_SIGNAL_METRICS,
            .window = tr_key_time_decode(tr_get_u64be(p + 1)),
            .slot = tr_get_u16be(p + 9),
        };
        uint8_t nk[TR_KEY_APPLIED_SIZE];
        storage_applied_key(nk, &id);
        tr_wbatch_put(b, TR_CF_META, nk, sizeof(nk), v.base, v.len);
        tr_wbatch_delete(b, TR_CF_META, k.base, k.len);
        n++;
    }
    tr_iter_free(it);
    int rv = 0;
    if (n > 0) {
        rv = tr_engine_write(s->eng, b, errmsg);
        if (rv == 0) {
            tr_log_info("data directory upgraded: shard ids carry their signal",
                        "shards=%zu", n);
        }
    }
    tr_wbatch_free(b);
    return rv;
}

/* The largest logs_open column family compacted when the storage closes. */
#define STORAGE_COMPACT_OPEN_MAX (1ULL << 30)

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
    s->data_dir = tr_strdup(cfg->data_dir);
    s->cfg.data_dir = s->data_dir;
    pthread_mutex_init(&s->write_mu, NULL);
    pthread_mutex_init(&s->sum_mu, NULL);
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
    if (storage__upgrade_applied_keys(s, errmsg) != 0 ||
        log_upgrade_fragments(s, errmsg) != 0) {
        tr_wbatch_free(s->batch);
        tr_engine_close(s->eng);
        goto err_after_alloc;
    }
    select_init_source(s);
    log_init_source(s);
    *out = s;
    return 0;

err_after_alloc:
    tr_buf_free(&s->key);
    tr_buf_free(&s->val);
    pthread_rwlock_destroy(&s->head_mu);
    pthread_mutex_destroy(&s->write_mu);
    pthread_mutex_destroy(&s->sum_mu);
    tr_free(s->sums);
    tr_free(s->data_dir);
    tr_free(s);
    return TR_EIO;
}

void tr_apply_result_add(struct tr_apply_result *a,
                         const struct tr_apply_result *b)
{
    a->appended += b->appended;
    a->duplicate += b->duplicate;
    a->rejected += b->rejected;
    a->created += b->created;
    a->metadata += b->metadata;
    if (a->first_error == 0 && b->first_error != 0) {
        a->first_error = b->first_error;
        memcpy(a->errmsg, b->errmsg, sizeof(a->errmsg));
    }
}

int tr_storage_shard_apply(struct tr_storage *s,
                           const struct tr_shard_id *id,
                           uint64_t index,
                           const void *entry,
                           size_t len,
                           struct tr_apply_result *res,
                           char *errmsg)
{
    memset(res, 0, sizeof(*res));
    res->index = index;
    /* logs and traces shards are durable at every apply */
    bool logs = id->signal == TR_SIGNAL_LOGS || id->signal == TR_SIGNAL_TRACES;
    if (id->signal != TR_SIGNAL_METRICS && !logs) {
        return tr_errf(TR_EUNSUPPORTED, errmsg, "no store for %s shards",
                       tr_signal_name(id->signal));
    }
    pthread_mutex_lock(&s->write_mu);
    struct storage_shard *sh = storage_shard_get(s, id);
    if (sh == NULL) {
        pthread_mutex_unlock(&s->write_mu);
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    if (index <= sh->applied) {
        res->skipped = true;
        pthread_mutex_unlock(&s->write_mu);
        return 0;
    }
    /* logs shards keep nothing in memory: readers need no head lock */
    if (!logs) {
        pthread_rwlock_wrlock(&s->head_mu);
    }
    tr_wbatch_clear(s->batch);
    s->write_failed = false;
    int rv;
    bool seal_compacts = false;
    struct tr_slice drop;
    uint64_t seal_request;
    int dr = tr_entry_drop_tenant_decode(entry, len, &drop);
    int sr = dr == TR_ENOTFOUND
                 ? tr_entry_seal_decode(entry, len, &seal_request)
                 : TR_ENOTFOUND;
    if (sr != TR_ENOTFOUND || (sh->sealed && dr == TR_ENOTFOUND)) {
        /* the seal entry writes the marker (once); after it, data entries
         * are refused alike on every replica (storage/seal.h) */
        rv = 0;
        if (sr == TR_ECORRUPT) {
            rv = tr_errf(TR_ECORRUPT, errmsg, "corrupt seal entry");
        } else if (sr == 0 && !sh->sealed) {
            enum tr_cf cfs[2];
            tr_cfs_of_signal(id->signal, cfs);
            uint8_t mk[SEAL_MARKER_KEY_SIZE], mv[8];
            seal_marker_key(mk, id);
            tr_put_u64be(mv, index);
            tr_wbatch_put(s->batch, cfs[0], mk, sizeof(mk), mv, 8);
            if (!logs) {
                /* the whole head with the marker, durable at this index,
                 * and the job that compacts it (storage/seal.h) */
                head_persist(s, id->window, id->slot, index, true);
                uint8_t k[TR_KEY_APPLIED_SIZE], a[8];
                storage_applied_key(k, id);
                tr_put_u64be(a, index);
                tr_wbatch_put(s->batch, TR_CF_META, k, sizeof(k), a, 8);
                jobs_record_seal(s->batch, id);
                seal_compacts = true;
            }
        } else if (sr != 0) {
            res->rejected = 1;
            res->first_error = TR_ETOOOLD;
            snprintf(res->errmsg, sizeof(res->errmsg),
                     "too old: the %s window of this entry is sealed",
                     tr_signal_name(id->signal));
        }
        if (logs) {
            uint8_t k[TR_KEY_APPLIED_SIZE], a[8];
            storage_applied_key(k, id);
            tr_put_u64be(a, index);
            tr_wbatch_put(s->batch, TR_CF_META, k, sizeof(k), a, 8);
        }
    } else if (dr != TR_ENOTFOUND) {
        /* a drop-tenant entry (storage/retention.h), any signal */
        rv = dr == 0
                 ? 0
                 : tr_errf(TR_ECORRUPT, errmsg, "corrupt drop-tenant entry");
        if (dr == 0 && !sh->sealed) {
            /* after the seal entry a drop-tenant entry changes nothing:
             * a sealed shard's tenants are dropped through the catalog
             * (tr_storage_shard_drop_tenant) once its group is closed */
            retention_apply_drop(s, id, drop);
        }
        if (logs) {
            uint8_t k[TR_KEY_APPLIED_SIZE], a[8];
            storage_applied_key(k, id);
            tr_put_u64be(a, index);
            tr_wbatch_put(s->batch, TR_CF_META, k, sizeof(k), a, 8);
        }
    } else if (logs) {
        rv = id->signal == TR_SIGNAL_LOGS
                 ? log_apply(s, id, index, entry, len, res, errmsg)
                 : trace_apply(s, id, index, entry, len, res, errmsg);
        if (rv == 0 || rv == TR_ECORRUPT) {
            /* everything of the entry is in this batch: its applied index
             * goes with it (a logs shard is durable at every apply) */
            uint8_t k[TR_KEY_APPLIED_SIZE], a[8];
            storage_applied_key(k, id);
            tr_put_u64be(a, index);
            tr_wbatch_put(s->batch, TR_CF_META, k, sizeof(k), a, 8);
        }
    } else {
        rv =
            head_apply(s, id->window, id->slot, index, entry, len, res, errmsg);
    }
    char err[TR_ERRMSG_SIZE] = "";
    if (rv == 0 && s->fail_writes > 0) {
        /* test seam: as if RocksDB refused this apply's write */
        s->fail_writes--;
        s->write_failed = true;
        snprintf(err, sizeof(err), "write failure injected by a test");
    }
    if (tr_wbatch_count(s->batch) > 0 && !s->write_failed &&
        tr_engine_write(s->eng, s->batch, err) != 0) {
        s->write_failed = true;
    }
    tr_wbatch_clear(s->batch);
    if (seal_compacts && !s->write_failed) {
        head_evict_window(s, id->window, id->slot);
    }
    if (!logs) {
        pthread_rwlock_unlock(&s->head_mu);
    }
    if (s->write_failed || rv == TR_EIO || rv == TR_ENOMEM) {
        /* A replicated state machine cannot skip part of an entry: the
         * applied index stays, and the caller stops this replica until
         * the shard is reset and the entry applied again. */
        pthread_mutex_unlock(&s->write_mu);
        return tr_errf(TR_EIO, errmsg,
                       "storage write failed while applying index %" PRIu64
                       "%s%s",
                       index, err[0] ? ": " : "", err);
    }
    sh->applied = index;
    if (logs) {
        sh->durable = index;
    }
    if (sr == 0) {
        sh->sealed = true;
    }
    if (seal_compacts) {
        sh->durable = index;
        seal_sum_set(s, id, false, 0, 0);
        sh->compacting = true;
        jobs_queue_recorded(s->jobs, id);
    }
    sh->entries++;
    pthread_mutex_unlock(&s->write_mu);
    return rv;
}

int tr_storage_shard_claim(struct tr_storage *s, const struct tr_shard_id *id)
{
    pthread_mutex_lock(&s->write_mu);
    struct storage_shard *sh = storage_shard_get(s, id);
    int rv = sh == NULL ? TR_ENOMEM : sh->claimed ? TR_EUNAVAIL : 0;
    if (rv == 0) {
        sh->claimed = true;
    }
    pthread_mutex_unlock(&s->write_mu);
    return rv;
}

void tr_storage_shard_unclaim(struct tr_storage *s,
                              const struct tr_shard_id *id)
{
    pthread_mutex_lock(&s->write_mu);
    struct storage_shard *sh = storage_shard_get(s, id);
    if (sh != NULL) {
        sh->claimed = false;
    }
    pthread_mutex_unlock(&s->write_mu);
}

int tr_storage_shard_reset(struct tr_storage *s, const struct tr_shard_id *id)
{
    pthread_mutex_lock(&s->write_mu);
    struct storage_shard *sh = storage_shard_get(s, id);
    if (sh != NULL) {
        if (id->signal == TR_SIGNAL_METRICS) {
            pthread_rwlock_wrlock(&s->head_mu);
            head_evict_window(s, id->window, id->slot);
            pthread_rwlock_unlock(&s->head_mu);
        }
        sh->applied = sh->durable;
    }
    pthread_mutex_unlock(&s->write_mu);
    return sh != NULL ? 0 : TR_ENOMEM;
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
    if (sh->id.signal == TR_SIGNAL_METRICS) {
        head_persist(s, sh->id.window, sh->id.slot, sh->applied, cut_all);
    }
    uint8_t k[TR_KEY_APPLIED_SIZE], a[8];
    storage_applied_key(k, &sh->id);
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
                                const struct tr_shard_id *id,
                                uint64_t *index)
{
    pthread_mutex_lock(&s->write_mu);
    struct storage_shard *sh = storage_shard_get(s, id);
    int rv = sh ? storage__checkpoint_locked(s, sh, false) : TR_ENOMEM;
    if (index != NULL) {
        *index = sh ? sh->durable : 0;
    }
    pthread_mutex_unlock(&s->write_mu);
    return rv;
}

int tr_storage_shard_verify(struct tr_storage *s,
                            const struct tr_shard_id *id,
                            uint64_t *index,
                            uint64_t *checksum)
{
    /* under write_mu throughout, so no apply slips in between */
    pthread_mutex_lock(&s->write_mu);
    struct storage_shard *sh = storage_shard_get(s, id);
    int rv = sh ? storage__checkpoint_locked(s, sh, false) : TR_ENOMEM;
    if (rv == 0) {
        *index = sh->durable;
        *checksum = storage_shard_checksum_locked(s, id);
    }
    pthread_mutex_unlock(&s->write_mu);
    return rv;
}

int storage_seal_finish(struct tr_storage *s, const struct tr_shard_id *id)
{
    pthread_mutex_lock(&s->write_mu);
    struct storage_shard *sh = storage_shard_get(s, id);
    int rv = sh ? storage__checkpoint_locked(s, sh, false) : TR_ENOMEM;
    if (rv == 0) {
        seal_sum_set(s, id, true, sh->durable,
                     storage_shard_checksum_locked(s, id));
        sh->compacting = false;
    }
    pthread_mutex_unlock(&s->write_mu);
    return rv;
}

void storage_seal_compacting(struct tr_storage *s, const struct tr_shard_id *id)
{
    pthread_mutex_lock(&s->write_mu);
    struct storage_shard *sh = storage_shard_get(s, id);
    if (sh != NULL) {
        sh->compacting = true;
        seal_sum_set(s, id, false, 0, 0);
    }
    pthread_mutex_unlock(&s->write_mu);
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
                                  const struct tr_shard_id *id,
                                  bool durable)
{
    pthread_mutex_lock(&s->write_mu);
    struct storage_shard *sh = storage_shard_get(s, id);
    uint64_t v = sh ? (durable ? sh->durable : sh->applied) : 0;
    pthread_mutex_unlock(&s->write_mu);
    return v;
}

int tr_storage_evict(struct tr_storage *s,
                     uint8_t signal,
                     int64_t older_than_ms)
{
    int rv = 0;
    pthread_mutex_lock(&s->write_mu);
    for (struct storage_shard *sh = s->shards; sh != NULL; sh = sh->next) {
        if (sh->id.signal != signal ||
            sh->id.window + s->cfg.window_ms >= older_than_ms) {
            continue;
        }
        rv |= storage__checkpoint_locked(s, sh, true);
        if (signal == TR_SIGNAL_METRICS) {
            pthread_rwlock_wrlock(&s->head_mu);
            head_evict_window(s, sh->id.window, sh->id.slot);
            pthread_rwlock_unlock(&s->head_mu);
        }
    }
    pthread_mutex_unlock(&s->write_mu);
    return rv;
}

int tr_storage_flush(struct tr_storage *s)
{
    int rv = 0;
    pthread_mutex_lock(&s->write_mu);
    for (struct storage_shard *sh = s->shards; sh != NULL; sh = sh->next) {
        rv |= storage__checkpoint_locked(s, sh, false);
    }
    pthread_mutex_unlock(&s->write_mu);
    if (rv == 0) {
        rv = tr_engine_flush(s->eng);
    }
    for (int cf = TR_CF_META; cf < TR_CF_COUNT; cf++) {
        tr_engine_compact(s->eng, (enum tr_cf)cf);
    }
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
    /* what the logs shards' cut fragments left behind (all of it after a
     * graceful stop's cut entries): the family is small by design, so
     * dropping it costs little (skipped when it is not) */
    if (tr_engine_live_bytes(s->eng, TR_CF_LOGS_OPEN) <=
        STORAGE_COMPACT_OPEN_MAX) {
        tr_engine_compact(s->eng, TR_CF_LOGS_OPEN);
    }
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
    pthread_mutex_destroy(&s->sum_mu);
    tr_free(s->sums);
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

void tr_storage_fail_writes_for_test(struct tr_storage *s, unsigned n)
{
    pthread_mutex_lock(&s->write_mu);
    s->fail_writes = n;
    pthread_mutex_unlock(&s->write_mu);
}

struct tr_engine *tr_storage_engine(struct tr_storage *s)
{
    return s->eng;
}

const struct tr_select_source *tr_storage_source(struct tr_storage *s)
{
    return &s->source;
}
