#include "storage/engine.h"

#include <inttypes.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/log.h"

static const char *const engine_cf_names[TR_CF_COUNT] = {
    "default", "meta", "metrics", "logs", "traces", "logs_open"};

struct tr_engine {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_options_t *cf_opts[TR_CF_COUNT];
    rocksdb_column_family_handle_t *cf[TR_CF_COUNT];
    rocksdb_cache_t *cache;
    rocksdb_block_based_table_options_t *table;
    rocksdb_writeoptions_t *wopts;
    rocksdb_readoptions_t *ropts;
};

struct tr_wbatch {
    rocksdb_writebatch_t *wb;
    struct tr_engine *e; /* whose column family handles the batch uses */
};

struct tr_iter {
    rocksdb_iterator_t *it;
    rocksdb_readoptions_t *ropts;
    const rocksdb_snapshot_t *snap;
    struct tr_engine *e;
    bool owns_snap; /* false for clones: the original releases it */
};

static rocksdb_options_t *engine__cf_options(struct tr_engine *e, int cf)
{
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_block_based_table_factory(o, e->table);
    /* LZ4 for young levels, ZSTD for the bottom level */
    int levels[7] = {rocksdb_no_compression,  rocksdb_lz4_compression,
                     rocksdb_lz4_compression, rocksdb_lz4_compression,
                     rocksdb_lz4_compression, rocksdb_lz4_compression,
                     rocksdb_lz4_compression};
    rocksdb_options_set_num_levels(o, 7);
    rocksdb_options_set_compression_per_level(o, levels, 7);
    rocksdb_options_set_bottommost_compression(o, rocksdb_zstd_compression);
    /* (window_bits, level, strategy, max_dict_bytes, enabled): sealed data
     * is written once and read often, so spend compaction CPU on size */
    rocksdb_options_set_bottommost_compression_options(o, -14, 9, 0, 0, 1);
    if (cf == TR_CF_LOGS || cf == TR_CF_LOGS_OPEN || cf == TR_CF_TRACES) {
        /* log and trace blocks are zstd frames already
         * (storage/log_block.h, storage/trace_block.h): zstd-9 over them
         * gained nothing and was ~46% of the logs ingest CPU. LZ4 on every
         * level still shrinks the raw open fragments, the indexes and the
         * keys, and gives up fast on the compressed blocks. */
        int lz4[7];
        for (int i = 0; i < 7; i++) {
            lz4[i] = rocksdb_lz4_compression;
        }
        rocksdb_options_set_compression_per_level(o, lz4, 7);
        rocksdb_options_set_bottommost_compression(o, rocksdb_lz4_compression);
    }
    rocksdb_options_set_level_compaction_dynamic_level_bytes(o, 1);
    rocksdb_options_set_write_buffer_size(o, 64u << 20);
    return o;
}

int tr_engine_open(const char *dir,
                   size_t cache_bytes,
                   bool sync,
                   struct tr_engine **out,
                   char *errmsg)
{
    struct tr_engine *e = tr_calloc(1, sizeof(*e));
    if (e == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    e->cache = rocksdb_cache_create_lru(cache_bytes ? cache_bytes : 64u << 20);
    e->table = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(e->table, e->cache);
    rocksdb_block_based_options_set_block_size(e->table, 16 * 1024);
    rocksdb_block_based_options_set_filter_policy(
        e->table, rocksdb_filterpolicy_create_bloom(10));
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(e->table, 1);
    e->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(e->opts, 1);
    rocksdb_options_set_create_missing_column_families(e->opts, 1);
    rocksdb_options_increase_parallelism(e->opts, 2);
    rocksdb_options_set_max_background_jobs(e->opts, 2);
    rocksdb_options_set_keep_log_file_num(e->opts, 3);
    rocksdb_options_set_max_total_wal_size(e->opts, 512u << 20);
    for (int i = 0; i < TR_CF_COUNT; i++) {
        e->cf_opts[i] = engine__cf_options(e, i);
    }
    char *err = NULL;
    e->db = rocksdb_open_column_families(
        e->opts, dir, TR_CF_COUNT, (const char *const *)engine_cf_names,
        (const rocksdb_options_t *const *)e->cf_opts, e->cf, &err);
    if (err != NULL) {
        tr_errf(TR_EIO, errmsg, "open storage at %s: %s", dir, err);
        rocksdb_free(err);
        e->db = NULL;
        tr_engine_close(e);
        return TR_EIO;
    }
    e->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(e->wopts, sync ? 1 : 0);
    e->ropts = rocksdb_readoptions_create();
    *out = e;
    return 0;
}

void tr_engine_close(struct tr_engine *e)
{
    if (e == NULL) {
        return;
    }
    if (e->db != NULL) {
        for (int i = 0; i < TR_CF_COUNT; i++) {
            rocksdb_column_family_handle_destroy(e->cf[i]);
        }
        rocksdb_close(e->db);
    }
    for (int i = 0; i < TR_CF_COUNT; i++) {
        if (e->cf_opts[i] != NULL) {
            rocksdb_options_destroy(e->cf_opts[i]);
        }
    }
    if (e->wopts) {
        rocksdb_writeoptions_destroy(e->wopts);
    }
    if (e->ropts) {
        rocksdb_readoptions_destroy(e->ropts);
    }
    rocksdb_options_destroy(e->opts);
    rocksdb_block_based_options_destroy(e->table);
    rocksdb_cache_destroy(e->cache);
    tr_free(e);
}

int tr_engine_get(struct tr_engine *e,
                  enum tr_cf cf,
                  const void *key,
                  size_t klen,
                  struct tr_buf *out)
{
    char *err = NULL;
    size_t vlen = 0;
    char *v =
        rocksdb_get_cf(e->db, e->ropts, e->cf[cf], key, klen, &vlen, &err);
    if (err != NULL) {
        tr_log_error("storage read failed", "err=\"%s\"", err);
        rocksdb_free(err);
        return TR_EIO;
    }
    if (v == NULL) {
        return TR_ENOTFOUND;
    }
    int rv = tr_buf_append(out, v, vlen);
    rocksdb_free(v);
    return rv;
}

int tr_engine_flush(struct tr_engine *e)
{
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    int rv = 0;
    for (int i = 0; i < TR_CF_COUNT; i++) {
        char *err = NULL;
        rocksdb_flush_cf(e->db, fo, e->cf[i], &err);
        if (err != NULL) {
            tr_log_error("storage flush failed", "err=\"%s\"", err);
            rocksdb_free(err);
            rv = TR_EIO;
        }
    }
    rocksdb_flushoptions_destroy(fo);
    return rv;
}

void tr_engine_compact(struct tr_engine *e, enum tr_cf cf)
{
    rocksdb_compact_range_cf(e->db, e->cf[cf], NULL, 0, NULL, 0);
}

void tr_engine_compact_range(struct tr_engine *e,
                             enum tr_cf cf,
                             const void *from,
                             size_t fl,
                             const void *to,
                             size_t tl)
{
    rocksdb_compactoptions_t *o = rocksdb_compactoptions_create();
    /* other compactions (of ingest) keep running meanwhile */
    rocksdb_compactoptions_set_exclusive_manual_compaction(o, 0);
    rocksdb_compact_range_cf_opt(e->db, e->cf[cf], o, from, fl, to, tl);
    rocksdb_compactoptions_destroy(o);
}

uint64_t tr_engine_live_bytes(struct tr_engine *e, enum tr_cf cf)
{
    uint64_t v = 0;
    rocksdb_property_int_cf(e->db, e->cf[cf], "rocksdb.live-sst-files-size",
                            &v);
    return v;
}

void tr_engine_stats(struct tr_engine *e, struct tr_buf *out)
{
    static const char *const props[][3] = {
        {"rocksdb.live-sst-files-size", "triad_storage_sst_bytes",
         "Bytes in live SST files."},
        {"rocksdb.cur-size-all-mem-tables", "triad_storage_memtable_bytes",
         "Bytes in memtables."},
        {"rocksdb.estimate-num-keys", "triad_storage_keys",
         "Estimated number of keys."},
        {"rocksdb.num-running-compactions", "triad_storage_running_compactions",
         "Compactions running now."},
        {"rocksdb.estimate-pending-compaction-bytes",
         "triad_storage_pending_compaction_bytes",
         "Estimated bytes compaction still has to rewrite."},
    };
    for (size_t p = 0; p < sizeof(props) / sizeof(props[0]); p++) {
        tr_buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n", props[p][1],
                      props[p][2], props[p][1]);
        for (int i = 0; i < TR_CF_COUNT; i++) {
            uint64_t v = 0;
            if (rocksdb_property_int_cf(e->db, e->cf[i], props[p][0], &v) ==
                0) {
                tr_buf_printf(out, "%s{cf=\"%s\"} %" PRIu64 "\n", props[p][1],
                              engine_cf_names[i], v);
            }
        }
    }
    uint64_t usage = rocksdb_cache_get_usage(e->cache);
    tr_buf_printf(out,
                  "# HELP triad_storage_block_cache_bytes Bytes in the block "
                  "cache.\n# TYPE triad_storage_block_cache_bytes gauge\n"
                  "triad_storage_block_cache_bytes %" PRIu64 "\n",
                  usage);
}

struct tr_wbatch *tr_wbatch_new(struct tr_engine *e)
{
    struct tr_wbatch *b = tr_malloc(sizeof(*b));
    if (b != NULL) {
        b->wb = rocksdb_writebatch_create();
        b->e = e;
    }
    return b;
}

void tr_wbatch_free(struct tr_wbatch *b)
{
    if (b != NULL) {
        rocksdb_writebatch_destroy(b->wb);
        tr_free(b);
    }
}

void tr_wbatch_clear(struct tr_wbatch *b)
{
    rocksdb_writebatch_clear(b->wb);
}

void tr_wbatch_put(struct tr_wbatch *b,
                   enum tr_cf cf,
                   const void *k,
                   size_t kl,
                   const void *v,
                   size_t vl)
{
    rocksdb_writebatch_put_cf(b->wb, b->e->cf[cf], k, kl, v, vl);
}

void tr_wbatch_delete(struct tr_wbatch *b,
                      enum tr_cf cf,
                      const void *k,
                      size_t kl)
{
    rocksdb_writebatch_delete_cf(b->wb, b->e->cf[cf], k, kl);
}

void tr_wbatch_delete_range(struct tr_wbatch *b,
                            enum tr_cf cf,
                            const void *from,
                            size_t fl,
                            const void *to,
                            size_t tl)
{
    rocksdb_writebatch_delete_range_cf(b->wb, b->e->cf[cf], from, fl, to, tl);
}

size_t tr_wbatch_count(struct tr_wbatch *b)
{
    return (size_t)rocksdb_writebatch_count(b->wb);
}

int tr_engine_write(struct tr_engine *e, struct tr_wbatch *b, char *errmsg)
{
    char *err = NULL;
    rocksdb_write(e->db, e->wopts, b->wb, &err);
    if (err != NULL) {
        tr_errf(TR_EIO, errmsg, "storage write failed: %s", err);
        rocksdb_free(err);
        return TR_EIO;
    }
    return 0;
}

/* An iterator over cf at snapshot snap (released with the iterator when
 * owned). */
static struct tr_iter *engine__iter(struct tr_engine *e,
                                    enum tr_cf cf,
                                    const rocksdb_snapshot_t *snap,
                                    bool owns_snap)
{
    struct tr_iter *it = tr_malloc(sizeof(*it));
    if (it == NULL) {
        if (owns_snap) {
            rocksdb_release_snapshot(e->db, snap);
        }
        return NULL;
    }
    it->e = e;
    it->snap = snap;
    it->owns_snap = owns_snap;
    it->ropts = rocksdb_readoptions_create();
    rocksdb_readoptions_set_snapshot(it->ropts, snap);
    it->it = rocksdb_create_iterator_cf(e->db, it->ropts, e->cf[cf]);
    return it;
}

struct tr_iter *tr_iter_new(struct tr_engine *e, enum tr_cf cf)
{
    return engine__iter(e, cf, rocksdb_create_snapshot(e->db), true);
}

struct tr_iter *tr_iter_clone(struct tr_iter *base, enum tr_cf cf)
{
    return engine__iter(base->e, cf, base->snap, false);
}

void tr_iter_free(struct tr_iter *it)
{
    if (it == NULL) {
        return;
    }
    rocksdb_iter_destroy(it->it);
    rocksdb_readoptions_destroy(it->ropts);
    if (it->owns_snap) {
        rocksdb_release_snapshot(it->e->db, it->snap);
    }
    tr_free(it);
}

void tr_iter_seek(struct tr_iter *it, const void *k, size_t kl)
{
    rocksdb_iter_seek(it->it, k, kl);
}

void tr_iter_seek_for_prev(struct tr_iter *it, const void *k, size_t kl)
{
    rocksdb_iter_seek_for_prev(it->it, k, kl);
}

bool tr_iter_valid(struct tr_iter *it)
{
    return rocksdb_iter_valid(it->it) != 0;
}

void tr_iter_next(struct tr_iter *it)
{
    rocksdb_iter_next(it->it);
}

void tr_iter_prev(struct tr_iter *it)
{
    rocksdb_iter_prev(it->it);
}

struct tr_slice tr_iter_key(struct tr_iter *it)
{
    size_t n;
    const char *k = rocksdb_iter_key(it->it, &n);
    return (struct tr_slice){k, n};
}

struct tr_slice tr_iter_value(struct tr_iter *it)
{
    size_t n;
    const char *v = rocksdb_iter_value(it->it, &n);
    return (struct tr_slice){v, n};
}

bool tr_iter_has_prefix(struct tr_iter *it, const void *prefix, size_t pl)
{
    if (!tr_iter_valid(it)) {
        return false;
    }
    struct tr_slice k = tr_iter_key(it);
    return k.len >= pl && memcmp(k.base, prefix, pl) == 0;
}

size_t tr_prefix_successor(const void *prefix, size_t pl, uint8_t *out)
{
    memcpy(out, prefix, pl);
    while (pl > 0 && out[pl - 1] == 0xff) {
        pl--;
    }
    if (pl == 0) {
        return 0;
    }
    out[pl - 1]++;
    return pl;
}
