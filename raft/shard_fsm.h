/* shard_fsm.h - the state machine of a shard's Raft group: entries go into
 * local storage (storage/storage.h) for the shard (window, slot).
 *
 *   apply:    the entry at tr_raft_group_applying_index() is applied with
 *             tr_storage_shard_apply (deterministic, idempotent); its result
 *             is kept in the FSM for the proposer's callback, which raft
 *             runs right after apply on the same loop iteration.
 *   snapshot: a marker, never data: the shard is checkpointed first (all
 *             state up to the applied index durable in RocksDB), then the
 *             marker records that index.
 *   restore:  a marker at or below the local durable index needs nothing
 *             (restart); a newer one means this replica missed data: it is
 *             marked catching-up, the copy hook fetches the shard from a
 *             healthy replica, and entries applied meanwhile are queued and
 *             replayed once the copy is loaded. A catching-up shard serves
 *             no reads.
 *
 *   marker
 *   OFFSET  SIZE  DESCRIPTION
 *   0       4     magic "TRSM"
 *   4       1     version = 1
 *   5       8     applied index, big-endian
 *   13      8     window start (sign-flipped), big-endian
 *   21      2     slot, big-endian
 */
#ifndef TR_RAFT_SHARD_FSM_H
#define TR_RAFT_SHARD_FSM_H

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>

#include "storage/storage.h"

#define TR_SHARD_MARKER_SIZE 23

struct tr_shard_fsm;
/* Called on the loop when a copy is needed (target index: the marker's). */
typedef void (*tr_shard_copy_fn)(void *arg,
                                 struct tr_shard_fsm *f,
                                 uint64_t index);

struct tr_shard_pending {
    uint64_t index;
    void *buf;
    size_t len;
};

struct tr_shard_fsm {
    struct raft_fsm fsm; /* handed to raft (version 1) */
    struct tr_storage *storage;
    int64_t window;
    uint16_t slot;
    bool catching_up;
    uint64_t copy_target;             /* marker index being copied */
    struct tr_shard_pending *pending; /* entries queued while catching up */
    size_t n_pending;
    size_t cap_pending;
    struct tr_apply_result last; /* result of the newest apply */
    int last_rv;
    uint64_t applied_entries;
    uint64_t applied_bytes;
    uint64_t snapshots;
    tr_shard_copy_fn copy;
    void *copy_arg;
};

void tr_shard_fsm_init(struct tr_shard_fsm *f,
                       struct tr_storage *s,
                       int64_t window,
                       uint16_t slot,
                       tr_shard_copy_fn copy,
                       void *arg);
void tr_shard_fsm_close(struct tr_shard_fsm *f);
/* The copy finished: ok = the dump was loaded at index `loaded`. Replays
 * the queued entries above it and leaves catching-up; on failure stays
 * catching-up (call the hook again later). */
void tr_shard_fsm_copy_done(struct tr_shard_fsm *f, bool ok, uint64_t loaded);

void tr_shard_marker_encode(uint8_t out[TR_SHARD_MARKER_SIZE],
                            uint64_t index,
                            int64_t window,
                            uint16_t slot);
int tr_shard_marker_decode(const void *buf,
                           size_t len,
                           uint64_t *index,
                           int64_t *window,
                           uint16_t *slot);

#endif
