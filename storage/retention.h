/* retention.h - dropping data that outlived its retention.
 *
 * Both ways are replicated decisions, so replicas stay equal:
 *  - a whole shard (its window ended more than the signal's retention
 *    ago): the meta leader marks it DELETED in the catalog; every replica
 *    closes its Raft group and runs a drop job (storage/jobs.h): the
 *    shard's key ranges go in one batch of DeleteRange (atomic: a crash
 *    leaves all or nothing), then they are compacted away and the group's
 *    files removed.
 *  - one tenant's data in a shard (a tenant whose retention is shorter
 *    than the signal's): in an active shard, the shard's leader proposes a
 *    drop entry, which every replica applies in order with the shard's
 *    writes (DeleteRange of the tenant's ranges in the shard, and its
 *    series in memory); in a sealed shard (its group closed), the meta
 *    leader records the drop in the catalog and every replica applies it
 *    with tr_storage_shard_drop_tenant.
 *
 *   drop-tenant entry (a shard Raft entry of any signal)
 *   OFFSET  SIZE  DESCRIPTION
 *   0       1     type 0x44 ('D')
 *   1       1     version 1
 *   2       ...   uvarint tenant length (1..TR_KEY_MAX_TENANT), tenant
 *                 bytes (no NUL); nothing after them
 */
#ifndef TR_STORAGE_RETENTION_H
#define TR_STORAGE_RETENTION_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"
#include "storage/shard.h"

#define TR_ENTRY_DROP_TENANT 0x44

struct tr_storage;

void tr_entry_drop_tenant_encode(struct tr_buf *out, struct tr_slice tenant);
/* 0 with *tenant pointing into e; TR_ENOTFOUND when e is not a drop entry
 * (another type byte); TR_ECORRUPT when it is one but malformed. */
int tr_entry_drop_tenant_decode(const void *e,
                                size_t len,
                                struct tr_slice *tenant);

/* Drops one tenant's data from a sealed shard outside its Raft log (the
 * catalog recorded the decision, so every replica drops the same): one
 * batch of DeleteRange over the tenant's ranges in the shard. Idempotent.
 * 0, TR_EIO or TR_ENOMEM. Any thread but the loop. */
int tr_storage_shard_drop_tenant(struct tr_storage *s,
                                 const struct tr_shard_id *id,
                                 struct tr_slice tenant);
/* Does this node hold anything of the shard (its applied-index record)?
 * A drop removes the record in the same batch as the data. */
bool tr_storage_shard_present(struct tr_storage *s,
                              const struct tr_shard_id *id);
/* The tenants with keys in the shard, appended to out as uvarint length +
 * name each (what tr_storage_shard_compact takes). 0 or TR_ENOMEM. */
int tr_storage_shard_tenants(struct tr_storage *s,
                             const struct tr_shard_id *id,
                             struct tr_buf *out);
/* Compacts the key ranges of the shard of the tenants listed (as
 * tr_storage_shard_tenants gives them), so that what a drop deleted leaves
 * the disk. 0, TR_ECORRUPT (a bad list) or TR_ENOMEM. */
int tr_storage_shard_compact(struct tr_storage *s,
                             const struct tr_shard_id *id,
                             const void *tenants,
                             size_t len);

#endif
