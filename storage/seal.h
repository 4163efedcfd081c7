/* seal.h - sealing a shard: the seal entry and the sealed marker.
 *
 * Once its window has ended plus the late-write grace, a shard is sealed
 * through its own Raft log (cluster/seal.c): after the signal's cut entry
 * (logs and traces: every open fragment becomes a block), the meta leader
 * has the seal entry proposed. Every replica applies it at the same index:
 * the shard's sealed marker is written with the entry, so every data entry
 * after it is refused alike on every replica (too old: the window is
 * sealed), and drop-tenant entries change nothing (a sealed shard's tenants
 * are dropped by tr_storage_shard_drop_tenant, decided through the
 * catalog). Right after it the replica
 * checkpoints and checksums the shard (as for a verify entry, under the
 * entry's request id), and the meta leader compares the replicas' checksums
 * before it records the shard SEALED, with that checksum, in the catalog.
 *
 *   seal entry (a shard Raft entry of any signal)
 *   OFFSET  SIZE  DESCRIPTION
 *   0       1     type 0x5A ('Z')
 *   1       1     version 1
 *   2       8     request id, u64 BE, non-zero (the replicas report their
 *                 checksum under it: tr_shard_fsm_verify_result)
 *
 * Metrics shards are compacted after the marker: the seal entry's apply
 * persists the whole head of the shard (open chunks cut, out-of-order
 * buffers as chunks), evicts it from memory and records a seal job in the
 * same batch; the job (storage/jobs.h) merges every series' chunks into
 * full-length chunks (storage/seal_compact.c). While the job is pending,
 * verify and seal entries of the shard report their checksum only once it
 * finished (tr_storage_shard_seal_sum), so replicas are compared in their
 * compact form.
 *
 *   sealed marker (in the signal's first column family, so that it is part
 *   of the shard's key ranges: copied, checksummed and dropped with them)
 *   key:   0x00 (the empty tenant) | window (8, sign-flipped BE) |
 *          slot (2 BE) | 'Z'
 *   value: u64 BE Raft index of the first seal entry applied
 */
#ifndef TR_STORAGE_SEAL_H
#define TR_STORAGE_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/shard.h"

#define TR_ENTRY_SEAL 0x5A
#define TR_ENTRY_SEAL_SIZE 10

struct tr_storage;

void tr_entry_seal_encode(uint64_t request, uint8_t out[TR_ENTRY_SEAL_SIZE]);
/* 0 with *request; TR_ENOTFOUND when e is not a seal entry; TR_ECORRUPT
 * when it is one but malformed. */
int tr_entry_seal_decode(const void *e, size_t len, uint64_t *request);

#define TR_SEAL_CHUNK_SAMPLES 8192 /* samples per chunk once sealed */

/* Is a seal job of the shard pending on this node (its compaction not
 * finished)? Any thread. */
bool tr_storage_shard_seal_pending(struct tr_storage *s,
                                   const struct tr_shard_id *id);
/* The shard's checksum taken when its seal job finished, and the applied
 * index it was taken at: 0, or TR_ENOTFOUND (no job finished since the
 * storage opened). Any thread, the loop's too: it never waits for a
 * storage write. */
int tr_storage_shard_seal_sum(struct tr_storage *s,
                              const struct tr_shard_id *id,
                              uint64_t *index,
                              uint64_t *checksum);

/* Is the shard sealed on this node (its marker written)? Any thread. */
bool tr_storage_shard_sealed(struct tr_storage *s,
                             const struct tr_shard_id *id);

#endif
