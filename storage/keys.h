/* keys.h - key layout of the metrics and meta column families.
 *
 * Every metrics key starts with the shard prefix, so that one window of one
 * tenant's shard is one contiguous key range (retention, bulk copy,
 * checksums):
 *
 *   shard prefix
 *   OFFSET  SIZE  DESCRIPTION
 *   0       T     tenant id bytes (no NUL; validated at the edge)
 *   T       1     0x00 separator
 *   T+1     8     window start, ms since epoch, int64 with the sign bit
 *                 flipped, big-endian (so keys sort by time)
 *   T+9     2     slot within the window, big-endian
 *   T+11    1     record kind: 'S' series, 'P' posting, 'C' chunk
 *
 *   'S' series:   prefix | id u64 BE                -> canonical labels
 *   'P' posting:  prefix | uvarint len(name) | name | uvarint len(value) |
 *                 value | id u64 BE                 -> empty
 *   'N' count:    prefix                            -> u64 BE number of the
 *                 tenant's series in the shard (replicated state: written
 *                 by apply with every series it creates; the leader cuts
 *                 writes at the tenant's series limit against it)
 *   'M' metadata: prefix | metric name               -> metadata record: u8
 *                 type, uvarint len + help, uvarint len + unit
 *   'C' chunk:    prefix | id u64 BE | mint (sign-flipped u64 BE) |
 *                 seq u64 BE                        -> chunk record
 *                 seq 0 = the in-order chunk starting at mint; seq > 0 = an
 *                 out-of-order chunk completed (120 samples) by the entry
 *                 at Raft index `seq`; mint = INT64_MIN and seq = 2^64-1 =
 *                 the series' open out-of-order samples as of the last
 *                 checkpoint (rewritten in place, so the shard's bytes do
 *                 not depend on when replicas checkpoint)
 *
 *   'E' exemplar: prefix | id u64 BE | timestamp (sign-flipped u64 BE) |
 *                 u64 BE hash of the value bits and the labels
 *                                                   -> u64 BE value bits,
 *                 canonical exemplar labels (storage/labels.h). At most
 *                 TR_EXEMPLARS_PER_SERIES per series: the greatest keys
 *                 (storage/exemplars.c)
 *
 *   chunk record (value of a 'C' key): storage/chunk_record.h
 *
 * meta column family:
 *   "A" | signal (1) | window (8, sign-flipped BE) | slot (2 BE)
 *                                       -> u64 BE applied index of the shard:
 *                                          every Raft entry <= it is durable
 *                                          in the signal's column family
 *   "F"                                 -> u8 1: the logs shards' open
 *                                          fragments are in the logs_open
 *                                          column family (directories
 *                                          written before it had them in
 *                                          logs: moved when it opens)
 *   legacy (directories written before shard ids carried their signal):
 *   "A" | window | slot (11 bytes)      -> rewritten as a metrics shard's
 *                                          key when the storage opens
 *   "M" | tenant | 0x00 | metric name   -> metadata record as 'M' above
 *                                          (read, never written any more)
 */
#ifndef TR_STORAGE_KEYS_H
#define TR_STORAGE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define TR_KEY_SERIES 'S'
#define TR_KEY_POSTING 'P'
#define TR_KEY_CHUNK 'C'
#define TR_KEY_COUNT 'N'
#define TR_KEY_META 'M'
#define TR_KEY_EXEMPLAR 'E'
#define TR_KEY_APPLIED_SIZE 12
#define TR_KEY_MAX_TENANT 150

static inline uint64_t tr_key_time(int64_t t)
{
    return (uint64_t)t ^ (1ULL << 63);
}
static inline int64_t tr_key_time_decode(uint64_t u)
{
    return (int64_t)(u ^ (1ULL << 63));
}

/* Appends tenant|0|window|slot|kind. */
void tr_key_shard_prefix(struct tr_buf *k,
                         struct tr_slice tenant,
                         int64_t window_start,
                         uint16_t slot,
                         char kind);
/* Appends tenant|0 (every window of a tenant). */
void tr_key_tenant_prefix(struct tr_buf *k, struct tr_slice tenant);
/* Parses the window and slot of a key that starts with tenant|0. */
int tr_key_parse_shard(struct tr_slice key,
                       size_t tenant_len,
                       int64_t *window_start,
                       uint16_t *slot,
                       char *kind);
void tr_key_posting(struct tr_buf *k,
                    struct tr_slice name,
                    struct tr_slice value);
void tr_key_metadata(struct tr_buf *k,
                     struct tr_slice tenant,
                     struct tr_slice metric);

#endif
