/* log_keys.h - key layout of the logs column family, and the stream state
 * record (storage/ only).
 *
 * Every key starts with the shard prefix of storage/keys.h (tenant | 0 |
 * window | slot | kind), so one tenant's part of a shard is one key range
 * (bulk copy, checksums, drop work on logs shards unchanged). Streams use
 * the series machinery of the metrics store (storage/postings.h):
 *
 *   'S' stream:    prefix | id u64 BE              -> canonical labels
 *   'P' posting:   prefix | uvarint len(name) | name | uvarint len(value) |
 *                  value | id u64 BE               -> empty
 *   'N' count:     prefix                          -> u64 BE number of the
 *                  tenant's streams in the shard (replicated: written by
 *                  apply with every stream it creates)
 *   'T' state:     prefix | id u64 BE              -> stream state record
 *                  (below)
 *   'F' fragment:  prefix | id u64 BE | index u64 BE
 *                  -> the stream's lines of the Raft entry at `index`, as
 *                  an uncompressed block (storage/log_block.h), sorted by
 *                  (ts, push order); in the logs_open column family, every
 *                  other key in logs (storage/engine.h)
 *   'I' index:     prefix | id u64 BE | mint (sign-flipped u64 BE) |
 *                  seq u64 BE  -> the block's index record
 *                  (storage/log_index.h)
 *   'B' block:     same suffix as its 'I' key      -> the block (zstd)
 *                  seq = Raft index of the entry whose apply cut it
 *
 *   stream state record (value of a 'T' key)
 *   OFFSET  SIZE  DESCRIPTION
 *   0       8     newest stored ts, ns, int64 BE (out-of-order reference)
 *   8       4     number of open fragments, BE
 *   12      8     raw line bytes in open fragments, BE
 *   20      8     min ts of the open fragments (int64 BE)
 *   28      8     max ts of the open fragments (int64 BE)
 *   36      8     max ts over the stream's blocks (int64 BE; INT64_MIN
 *                 without blocks): a duplicate check for a newer entry
 *                 reads no block
 *
 * Lifecycle (all decided by apply from the entry and the stored state, so
 * every replica writes the same keys): each apply writes, per stream of
 * its entry, one 'F' key and the stream's 'T' key, in the same RocksDB
 * batch as the shard's applied index. When a stream's open fragments reach
 * LOG_CUT_BYTES of raw lines or span more than LOG_CUT_SPAN_NS, that apply
 * merges them (with its own lines) into one block: 'B' + 'I' keys written,
 * the fragments deleted, in the same batch; the logs cut entry
 * (storage/log_entry.h, a leader's graceful stop) does that for every
 * stream with open fragments, at its own index. Nothing of a logs shard lives
 * only in memory: a checkpoint has nothing to persist, and after a crash
 * the Raft log is replayed from the applied index in RocksDB.
 *
 * Push order of equal timestamps: a block's seq is the index of the entry
 * that cut it and it holds only entries at or below it; fragments after
 * it have greater indexes. Ordering sources of a stream by seq (blocks)
 * or index (fragments), then by position, is push order. */
#ifndef TR_STORAGE_LOG_KEYS_H
#define TR_STORAGE_LOG_KEYS_H

#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "storage/keys.h"

#define TR_KEY_LOG_STATE 'T'
#define TR_KEY_LOG_FRAGMENT 'F'
#define TR_KEY_LOG_INDEX 'I'
#define TR_KEY_LOG_BLOCK 'B'
#define TR_LOG_STATE_SIZE 44

/* Open fragments of a stream are merged into a block at this size... */
#define LOG_CUT_BYTES (256 * 1024)
/* ...or when they span more than this. */
#define LOG_CUT_SPAN_NS (3600LL * 1000000000LL)

/* The stream state record, decoded. */
struct log_state {
    int64_t newest;    /* INT64_MIN: no entry yet */
    uint32_t frags;    /* open fragments */
    uint64_t open_raw; /* raw line bytes in them */
    int64_t open_mint; /* their time range (frags > 0) */
    int64_t open_maxt;
    int64_t blocks_maxt; /* INT64_MIN: no block */
};

static inline void log_state_encode(const struct log_state *st,
                                    uint8_t out[TR_LOG_STATE_SIZE])
{
    tr_put_u64be(out, (uint64_t)st->newest);
    tr_put_u32be(out + 8, st->frags);
    tr_put_u64be(out + 12, st->open_raw);
    tr_put_u64be(out + 20, (uint64_t)st->open_mint);
    tr_put_u64be(out + 28, (uint64_t)st->open_maxt);
    tr_put_u64be(out + 36, (uint64_t)st->blocks_maxt);
}

/* 0 or TR_ECORRUPT (wrong size). */
static inline int log_state_decode(const void *p,
                                   size_t len,
                                   struct log_state *st)
{
    if (len != TR_LOG_STATE_SIZE) {
        return TR_ECORRUPT;
    }
    const uint8_t *b = p;
    st->newest = (int64_t)tr_get_u64be(b);
    st->frags = tr_get_u32be(b + 8);
    st->open_raw = tr_get_u64be(b + 12);
    st->open_mint = (int64_t)tr_get_u64be(b + 20);
    st->open_maxt = (int64_t)tr_get_u64be(b + 28);
    st->blocks_maxt = (int64_t)tr_get_u64be(b + 36);
    return 0;
}

/* Appends the shard prefix of kind and the stream id. */
static inline void log_key_stream(struct tr_buf *k,
                                  struct tr_slice tenant,
                                  int64_t window,
                                  uint16_t slot,
                                  char kind,
                                  uint64_t id)
{
    tr_buf_reset(k);
    tr_key_shard_prefix(k, tenant, window, slot, kind);
    tr_buf_put_u64be(k, id);
}

#endif
