/* engine.h - the node's one RocksDB, with a column family per concern.
 *
 *   column family  holds
 *   default        nothing yet (RocksDB requires it)
 *   meta           node-local state: the applied index of every shard
 *                  (and, in data directories written before the shard
 *                  identity carried its signal, legacy metric metadata)
 *   metrics        series, postings, chunks and metadata of metrics shards
 *                  (keys in storage/keys.h)
 *   logs           streams, postings, blocks and block indexes of logs
 *                  shards (keys in storage/log_keys.h)
 *   traces         data of traces shards
 *   logs_open      the open fragments of logs shards (storage/log_keys.h):
 *                  written by one apply and deleted by a later one, they
 *                  live apart from the blocks, so that the LSM's rewrites
 *                  of long-lived blocks never carry them and what they
 *                  leave behind is dropped by compacting a small family
 *
 * Compression: none for level 0 (short-lived), LZ4 for levels 1-5, ZSTD
 * (level 9) for the bottom level; LZ4 on every level of logs, logs_open
 * and traces, whose blocks are zstd frames already. Writes go
 * through RocksDB's WAL (fsync per write only with sync=true). */
#ifndef TR_STORAGE_ENGINE_H
#define TR_STORAGE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

enum tr_cf {
    TR_CF_DEFAULT,
    TR_CF_META,
    TR_CF_METRICS,
    TR_CF_LOGS,
    TR_CF_TRACES,
    TR_CF_LOGS_OPEN,
    TR_CF_COUNT
};

/* The column families of a signal's shards (enum tr_signal) into
 * out[0..return): the signal's own first. */
static inline size_t tr_cfs_of_signal(uint8_t signal, enum tr_cf out[2])
{
    out[0] = signal == 2   ? TR_CF_LOGS
             : signal == 3 ? TR_CF_TRACES
                           : TR_CF_METRICS;
    out[1] = TR_CF_LOGS_OPEN;
    return signal == 2 ? 2 : 1;
}

struct tr_engine;
struct tr_wbatch;
struct tr_iter;

int tr_engine_open(const char *dir,
                   size_t cache_bytes,
                   bool sync,
                   struct tr_engine **out,
                   char *errmsg);
void tr_engine_close(struct tr_engine *e);
/* Point read: 0 and value appended to out, TR_ENOTFOUND, or TR_EIO. */
int tr_engine_get(struct tr_engine *e,
                  enum tr_cf cf,
                  const void *key,
                  size_t klen,
                  struct tr_buf *out);
/* Flushes memtables of every column family to SST files. */
int tr_engine_flush(struct tr_engine *e);
/* Full compaction of one column family. */
void tr_engine_compact(struct tr_engine *e, enum tr_cf cf);
/* Compaction of the keys in [from, to) of cf (to_len 0: to the end), not
 * exclusive: background compactions go on. */
void tr_engine_compact_range(struct tr_engine *e,
                             enum tr_cf cf,
                             const void *from,
                             size_t fl,
                             const void *to,
                             size_t tl);
/* Appends Prometheus text-format gauges about the engine. */
void tr_engine_stats(struct tr_engine *e, struct tr_buf *out);
uint64_t tr_engine_live_bytes(struct tr_engine *e, enum tr_cf cf);

struct tr_wbatch *tr_wbatch_new(struct tr_engine *e);
void tr_wbatch_free(struct tr_wbatch *b);
void tr_wbatch_clear(struct tr_wbatch *b);
void tr_wbatch_put(struct tr_wbatch *b,
                   enum tr_cf cf,
                   const void *k,
                   size_t kl,
                   const void *v,
                   size_t vl);
void tr_wbatch_delete(struct tr_wbatch *b,
                      enum tr_cf cf,
                      const void *k,
                      size_t kl);
void tr_wbatch_delete_range(struct tr_wbatch *b,
                            enum tr_cf cf,
                            const void *from,
                            size_t fl,
                            const void *to,
                            size_t tl);
size_t tr_wbatch_count(struct tr_wbatch *b);
/* Atomic write of the whole batch. 0 or TR_EIO (errmsg). */
int tr_engine_write(struct tr_engine *e, struct tr_wbatch *b, char *errmsg);

/* Iterators see a consistent point-in-time view. */
struct tr_iter *tr_iter_new(struct tr_engine *e, enum tr_cf cf);
/* Another iterator over cf at base's point in time (for the parallel
 * parts of one read); free it before base. NULL on OOM. */
struct tr_iter *tr_iter_clone(struct tr_iter *base, enum tr_cf cf);
void tr_iter_free(struct tr_iter *it);
void tr_iter_seek(struct tr_iter *it, const void *k, size_t kl);
void tr_iter_seek_for_prev(struct tr_iter *it, const void *k, size_t kl);
bool tr_iter_valid(struct tr_iter *it);
void tr_iter_next(struct tr_iter *it);
void tr_iter_prev(struct tr_iter *it);
struct tr_slice tr_iter_key(struct tr_iter *it);
struct tr_slice tr_iter_value(struct tr_iter *it);
/* True when the current key starts with prefix. */
bool tr_iter_has_prefix(struct tr_iter *it, const void *prefix, size_t pl);

/* Smallest key greater than every key starting with prefix: copies prefix
 * into out and increments it (strips trailing 0xff). Returns its length
 * (0 = no successor: prefix is all 0xff). */
size_t tr_prefix_successor(const void *prefix, size_t pl, uint8_t *out);

#endif
