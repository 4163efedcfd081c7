/* trace_keys.h - key layout of the traces column family, the tenant state
 * record and the per-trace record (storage/ only).
 *
 * Every key starts with the shard prefix of storage/keys.h (tenant | 0 |
 * window | slot | kind), so one tenant's part of a shard is one key range
 * (bulk copy, checksums and drops work on traces shards unchanged):
 *
 *   'T' state:     prefix                     -> tenant state record (below)
 *   'F' fragment:  prefix | generation u64 BE | index u64 BE -> the spans
 *                  of the Raft entry at `index`: uvarint n, n distinct
 *                  trace ids (16 bytes each, ascending), then the entry's
 *                  span batch (storage/trace_entry.h). The generation is
 *                  the tenant's count of blocks cut so far (state record):
 *                  the open fragments are the keys of the current one, so
 *                  a read seeks straight to them, past the deletions that
 *                  earlier cuts left for compaction to drop
 *   'B' block:     prefix | seq u64 BE        -> a block of whole traces
 *                  (storage/trace_block.h); seq = Raft index of the entry
 *                  whose apply cut it
 *   'I' index:     prefix | seq u64 BE        -> the block's index record:
 *                  time range, counts and postings (storage/trace_block.h)
 *   'V' value:     prefix | u8 field | uvarint + key | uvarint + value |
 *                  seq u64 BE -> empty: block seq holds a span with that
 *                  value (fields and values as storage/trace_block.h
 *                  lists them; an empty value = any value of the key). A
 *                  search for key = value reads only the blocks named by
 *                  its value key or by the key's "any value" key
 *   'K' name:      prefix | u8 scope | uvarint + attribute name | seq u64
 *                  BE -> empty: block seq has the attribute (tag names)
 *   'X' trace:     prefix | trace id (16) | seq u64 BE -> trace record
 *                  (below): the trace's part in block seq. A trace-by-id
 *                  lookup seeks here and reads only the blocks named; a
 *                  trace id absent from the shard costs one seek that
 *                  finds no key (the LSM's index and filter blocks, no
 *                  data block of another trace)
 *
 *   tenant state record (value of a 'T' key)
 *   OFFSET  SIZE  DESCRIPTION
 *   0       4     open fragments, BE
 *   4       8     spans in open fragments, BE
 *   12      8     span batch bytes in open fragments, BE
 *   20      8     blocks cut so far, BE
 *
 *   trace record (value of an 'X' key)
 *   OFFSET  SIZE     DESCRIPTION
 *   0       uvarint  ordinal of the trace in the block
 *   .       uvarint  its spans in the block
 *   .       8        min span start ns, u64 BE
 *   .       8        max span end ns, u64 BE
 *   .       1        flags: 1 = a span has status error, 2 = the root span
 *                    (no parent) is in this block
 *   .       str      root span's service.name (empty without a root)
 *   .       str      root span's name
 *
 * Lifecycle (decided by apply from the entry and the stored state only,
 * so every replica writes the same keys): each apply writes one 'F' key
 * per entry and the tenant's 'T' key in the batch that carries the
 * shard's applied index. When the tenant's open fragments reach
 * TRACE_CUT_SPANS spans, TRACE_CUT_BYTES bytes or TRACE_CUT_FRAGS
 * fragments, that apply merges them into one block: spans grouped per
 * trace, a span id seen twice in a trace kept once (the earliest entry's),
 * 'B', 'I' and one 'X' per trace written and the fragments deleted in the
 * same batch, with the block's 'V' and 'K' keys. The traces cut entry (a
 * leader's graceful stop) does that for every tenant with open fragments. A
 * trace whose spans arrive across cuts has an 'X' key per block; reads merge
 * them (and drop a span id a later block repeats). */
#ifndef TR_STORAGE_TRACE_KEYS_H
#define TR_STORAGE_TRACE_KEYS_H

#include <stdint.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "storage/engine.h"
#include "storage/keys.h"

#define TR_KEY_TRACE_STATE 'T'
#define TR_KEY_TRACE_FRAGMENT 'F'
#define TR_KEY_TRACE_BLOCK 'B'
#define TR_KEY_TRACE_INDEX 'I'
#define TR_KEY_TRACE_ID 'X'
#define TR_KEY_TRACE_VALUE 'V'
#define TR_KEY_TRACE_NAME 'K'
#define TR_TRACE_STATE_SIZE 28

#define TRACE_CUT_SPANS 4096
#define TRACE_CUT_BYTES (2u << 20)
#define TRACE_CUT_FRAGS 256

#define TRACE_REC_ERROR 1
#define TRACE_REC_ROOT 2

struct trace_state {
    uint32_t frags;
    uint64_t spans;
    uint64_t bytes;
    uint64_t blocks;
};

static inline void trace_state_encode(const struct trace_state *st,
                                      uint8_t out[TR_TRACE_STATE_SIZE])
{
    tr_put_u32be(out, st->frags);
    tr_put_u64be(out + 4, st->spans);
    tr_put_u64be(out + 12, st->bytes);
    tr_put_u64be(out + 20, st->blocks);
}

static inline int trace_state_decode(const void *p,
                                     size_t len,
                                     struct trace_state *st)
{
    if (len != TR_TRACE_STATE_SIZE) {
        return TR_ECORRUPT;
    }
    const uint8_t *b = p;
    st->frags = tr_get_u32be(b);
    st->spans = tr_get_u64be(b + 4);
    st->bytes = tr_get_u64be(b + 12);
    st->blocks = tr_get_u64be(b + 20);
    return 0;
}

/* A trace record, decoded (slices into the value). */
struct trace_rec {
    uint32_t ordinal;
    uint32_t spans;
    uint64_t start;
    uint64_t end;
    uint8_t flags;
    struct tr_slice root_service;
    struct tr_slice root_name;
};

static inline int trace_rec_decode(struct tr_slice v, struct trace_rec *r)
{
    struct tr_cursor c = tr_cursor_make(v.base, v.len);
    uint64_t o, n, ls, ln;
    if (tr_cursor_uvarint(&c, &o) != 0 || o > UINT32_MAX ||
        tr_cursor_uvarint(&c, &n) != 0 || n > UINT32_MAX ||
        tr_cursor_u64be(&c, &r->start) != 0 ||
        tr_cursor_u64be(&c, &r->end) != 0 || tr_cursor_u8(&c, &r->flags) != 0 ||
        tr_cursor_uvarint(&c, &ls) != 0 ||
        tr_cursor_bytes(&c, ls, &r->root_service) != 0 ||
        tr_cursor_uvarint(&c, &ln) != 0 ||
        tr_cursor_bytes(&c, ln, &r->root_name) != 0 || tr_cursor_left(&c)) {
        return TR_ECORRUPT;
    }
    r->ordinal = (uint32_t)o;
    r->spans = (uint32_t)n;
    return 0;
}

/* The tenant's state in a shard (all zero when it has none); key is
 * scratch. 0, TR_ECORRUPT or TR_EIO. */
static inline int trace_state_load(struct tr_engine *e,
                                   struct tr_buf *key,
                                   struct tr_slice tenant,
                                   int64_t window,
                                   uint16_t slot,
                                   struct trace_state *st)
{
    memset(st, 0, sizeof(*st));
    tr_buf_reset(key);
    tr_key_shard_prefix(key, tenant, window, slot, TR_KEY_TRACE_STATE);
    uint8_t v[TR_TRACE_STATE_SIZE + 1];
    struct tr_buf val;
    tr_buf_init(&val);
    int rv = tr_engine_get(e, TR_CF_TRACES, key->data, key->len, &val);
    if (rv == 0) {
        rv = val.len == TR_TRACE_STATE_SIZE ? 0 : TR_ECORRUPT;
        if (rv == 0) {
            memcpy(v, val.data, TR_TRACE_STATE_SIZE);
            rv = trace_state_decode(v, TR_TRACE_STATE_SIZE, st);
        }
    } else if (rv == TR_ENOTFOUND) {
        rv = 0;
    }
    tr_buf_free(&val);
    return rv;
}

/* Appends the prefix of the tenant's open fragments in a shard (the
 * current generation: st->blocks). */
static inline void trace_key_fragments(struct tr_buf *k,
                                       struct tr_slice tenant,
                                       int64_t window,
                                       uint16_t slot,
                                       const struct trace_state *st)
{
    tr_buf_reset(k);
    tr_key_shard_prefix(k, tenant, window, slot, TR_KEY_TRACE_FRAGMENT);
    tr_buf_put_u64be(k, st->blocks);
}

/* Appends the shard prefix of kind. */
static inline void trace_key(struct tr_buf *k,
                             struct tr_slice tenant,
                             int64_t window,
                             uint16_t slot,
                             char kind)
{
    tr_buf_reset(k);
    tr_key_shard_prefix(k, tenant, window, slot, kind);
}

#endif
