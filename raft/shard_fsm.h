/* shard_fsm.h - the state machine of a shard's Raft group. Entries go into
 * local storage (storage/storage.h) for the shard (signal, window, slot) -
 * on a storage thread, never on the loop thread that runs Raft.
 *
 * Contract with canonical raft, whose fsm->apply is synchronous:
 *
 *   apply (loop):    the entry is copied into the shard's apply queue and
 *                    raft moves on; a storage thread (lib/lanes.h: one lane
 *                    per shard, so entries apply in log order) calls
 *                    tr_storage_shard_apply at the entry's Raft index. The
 *                    proposer's callback receives a ticket and waits with
 *                    tr_shard_fsm_when_applied until the storage thread
 *                    applied the entry: a client is acknowledged only after
 *                    its entry is committed AND applied in the leader's
 *                    storage, so a read right after the ack sees it.
 *   verify entries:  (storage/entry.h) are applied by checkpointing and
 *                    checksumming the shard; every replica does it at the
 *                    same index, so the checksums must be equal. A replica
 *                    whose storage is already past the entry (it caught up
 *                    by a copy of a later index, or replays after a
 *                    restart) records no checksum for it.
 *   snapshot (loop): a marker, never data. raft asks at its last applied
 *                    index; snapshot() notes the newest index queued so far
 *                    (the target: an entry, a restored marker, or what
 *                    storage held when the state machine started - never
 *                    less than the replica's data, or a replica installing
 *                    the snapshot would skip a copy it needs) and
 *                    snapshot_async() (raft's I/O thread pool) queues a
 *                    checkpoint behind it and waits: once the storage
 *                    thread ran it, everything up to the target is durable
 *                    in RocksDB and the marker names the target. A marker
 *                    never names an index whose data is not durable.
 *   restore (loop):  queued like an entry. A marker at or below the local
 *                    durable index needs nothing (restart); a newer one
 *                    means this replica missed data: it is marked catching-
 *                    up, its queue is held, and the owner copies the shard
 *                    from a healthy replica (tr_shard_fsm_copy_done then
 *                    releases the queue). A catching-up shard serves no
 *                    reads.
 *   failure:         a storage write that fails stops the replica (fail-
 *                    stop): the entry stays at the head of the queue, the
 *                    applied index does not advance, the state says failed;
 *                    the owner closes and restarts the group, and storage
 *                    replays from its durable index (tr_storage_shard_reset
 *                    is called by the next state machine of the shard).
 *   back-pressure:   tr_shard_fsm_state reports the queued entries and
 *                    bytes; the write path refuses to propose (503) while
 *                    a shard's queue is over its limit.
 *
 *   marker (version 2; version 1 - without the signal byte, 23 bytes - is
 *   still read, as a metrics shard)
 *   OFFSET  SIZE  DESCRIPTION
 *   0       4     magic "TRSM"
 *   4       1     version = 2
 *   5       8     index, big-endian: every entry <= it is durable in storage
 *   13      1     signal
 *   14      8     window start (sign-flipped), big-endian
 *   22      2     slot, big-endian
 */
#ifndef TR_RAFT_SHARD_FSM_H
#define TR_RAFT_SHARD_FSM_H

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/lanes.h"
#include "storage/shard.h"
#include "lib/buf.h"
#include "storage/storage.h"

#define TR_SHARD_MARKER_SIZE 24
#define TR_SHARD_MARKER_V1_SIZE 23

struct tr_shard_fsm;

/* Creates the state machine of shard id, applying on lanes. The shard's
 * storage state is reset to its durable index first (a previous state
 * machine of the shard may have failed half-way). TR_EUNAVAIL while the
 * previous state machine of the shard still drains (retry later). */
int tr_shard_fsm_new(struct tr_storage *s,
                     struct tr_lanes *lanes,
                     const struct tr_shard_id *id,
                     struct tr_shard_fsm **out);
/* The raft_fsm to hand to raft (version 3). */
struct raft_fsm *tr_shard_fsm_raft(struct tr_shard_fsm *f);
/* Before closing the shard's Raft group (loop): queued work is canceled,
 * waiters (proposers, a pending snapshot) are released with TR_ECANCELED,
 * nothing more is applied. */
void tr_shard_fsm_stop(struct tr_shard_fsm *f);
/* After raft's close callback (raft calls the FSM no more): queued work is
 * canceled (waiters get TR_ECANCELED) and the memory is freed by the
 * storage thread once idle. Loop thread. */
void tr_shard_fsm_release(struct tr_shard_fsm *f);

/* In a proposer's raft apply callback: `result` is what the FSM's apply
 * gave raft (a ticket). cb(arg, rv, res) runs once the storage thread
 * applied the entry (rv as tr_storage_shard_apply, TR_ECANCELED when the
 * shard closed first) - right away on this thread when it already was,
 * else on the storage thread. Call at most once per result. */
typedef void (*tr_shard_applied_cb)(void *arg,
                                    int rv,
                                    const struct tr_apply_result *res);
void tr_shard_fsm_when_applied(void *result, tr_shard_applied_cb cb, void *arg);

/* cb(arg, rv) once the storage thread applied every entry up to index:
 * right away (on this thread) when it has, else on the storage thread;
 * rv TR_ECANCELED when the shard stops first. For strong reads after a
 * Raft barrier. 0, or TR_ENOMEM (cb will not run). Loop thread. */
int tr_shard_fsm_when_index(struct tr_shard_fsm *f,
                            uint64_t index,
                            void (*cb)(void *arg, int rv),
                            void *arg);

struct tr_shard_fsm_state {
    uint64_t queued_index;  /* newest index handed to the queue (an
                               entry, or a restored marker's index; at
                               start, the index storage holds) */
    uint64_t applied_index; /* newest entry applied in storage */
    uint64_t queued;        /* entries waiting in the queue */
    uint64_t queued_bytes;
    uint64_t applied_entries; /* since start */
    uint64_t applied_bytes;
    uint64_t snapshots; /* taken or installed */
    bool catching_up;
    uint64_t copy_target; /* marker index a copy must reach */
    bool failed;
    char failure[160]; /* why it failed */
};
/* Any thread. */
void tr_shard_fsm_state(struct tr_shard_fsm *f, struct tr_shard_fsm_state *st);
/* Loop thread, after this node proposed entry[0..len) at index: plain is
 * the same entry uncompressed (storage decodes both forms alike). When
 * raft applies exactly these bytes at that index, storage gets plain
 * instead and skips the decompression (the leader's apply of its own
 * entries); any other entry there (a new leader's) is applied as it is.
 * Takes plain's memory (empty on return); nothing when plain is empty or
 * FSM_HINTS_MAX wait already. 0 or TR_ENOMEM. */
int tr_shard_fsm_hint(struct tr_shard_fsm *f,
                      uint64_t index,
                      const void *entry,
                      size_t len,
                      struct tr_buf *plain);

/* The copy finished (any thread): ok = the shard was loaded from another
 * replica at index `loaded`; the queue is released when loaded reaches the
 * marker's index, else the shard stays catching-up (copy again). */
void tr_shard_fsm_copy_done(struct tr_shard_fsm *f, bool ok, uint64_t loaded);

/* Repair: holds the queue and marks the replica catching-up, so that its
 * owner copies the shard from a healthy replica (as after a snapshot
 * install); any copy at or past the current applied index releases it.
 * False when it was catching up, failed or closing already. Any thread. */
bool tr_shard_fsm_recopy(struct tr_shard_fsm *f);

/* The checksum this replica computed when it applied the verify entry with
 * this request id: 0 with its index, TR_ENOTFOUND when not applied (yet)
 * or applied when storage was past it. While a seal job of the shard was
 * pending when the entry applied, the job's checksum answers once it
 * finished (storage/seal.h), with the index it was taken at. Any thread. */
int tr_shard_fsm_verify_result(struct tr_shard_fsm *f,
                               uint64_t request,
                               uint64_t *index,
                               uint64_t *checksum);

void tr_shard_marker_encode(uint8_t out[TR_SHARD_MARKER_SIZE],
                            uint64_t index,
                            const struct tr_shard_id *id);
int tr_shard_marker_decode(const void *buf,
                           size_t len,
                           uint64_t *index,
                           struct tr_shard_id *id);

#endif
