/* seal.c - sealing windows that ended (storage/seal.h tells what a seal
 * does to a shard). The meta leader drives it:
 *
 *   1. an ACTIVE shard whose window ended more than the signal's late-write
 *      grace ago becomes SEALING (catalog 'S'); from then on its leader
 *      refuses data writes (too old) before proposing;
 *   2. a worker seals the SEALING shards one by one: through the shard's
 *      Raft log the signal's cut entry (logs and traces: open fragments
 *      become blocks) and the seal entry (every replica writes the sealed
 *      marker, so later data entries are refused alike, then checksums the
 *      shard at that index), then asks every replica for its checksum;
 *   3. all equal: catalog 'Z' records the shard SEALED with that index and
 *      checksum. A replica that differs from a majority is reported
 *      (log, triad_seal_total{result="mismatch"}) and told to copy the shard
 *      again from a healthy replica (/internal/v1/shard/recopy); the shard
 *      stays SEALING and is sealed again in a later round. Unreachable
 *      replicas leave it SEALING too.
 *
 * Once SEALED, the shard's replicas close its Raft group and delete its
 * log; what the group did for it is done without it (sealed.c). Loop
 * thread unless noted. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "storage/seal.h"

#define SEAL_MAX_PROPOSALS 64
#define SEAL_RETRY_MS 5000 /* after a round that left shards unsealed */

/* ---- marking SEALING ----------------------------------------------------- */

static void seal__marked(void *arg, int rv)
{
    struct tr_cluster *c = arg;
    c->seal_inflight--;
    if (rv != 0) {
        tr_log_warn("sealing: marking a shard sealing failed; retried", "rv=%d",
                    rv);
    }
}

static void seal__mark(struct tr_cluster *c, int64_t now)
{
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    struct tr_buf cmds;
    tr_buf_init(&cmds);
    size_t n = 0;
    for (size_t i = 0; i < cat->n_shards && n < SEAL_MAX_PROPOSALS; i++) {
        const struct tr_catalog_shard *sh = &cat->shards[i];
        if (sh->state != TR_SHARD_ACTIVE || sh->signal > TR_SIGNAL_MAX ||
            cl_signal_ops(sh->signal) == NULL) {
            continue;
        }
        int64_t grace = c->cfg.late_write_grace_ms[sh->signal];
        int64_t end = sh->window + sh->window_ms;
        if (grace > INT64_MAX / 4 || end > now - grace ||
            cl_retention_expired(c, sh->signal, sh->window)) {
            continue; /* still writable, or retention drops it anyway */
        }
        size_t at = cl_cmd_open(&cmds);
        tr_catalog_cmd_set_state(&cmds, sh->signal, sh->window, sh->slot,
                                 TR_SHARD_SEALING);
        cl_cmd_close(&cmds, at);
        n++;
    }
    /* counted before proposing: a refused proposal calls back at once */
    c->seal_inflight += cmds.oom ? 0 : (int)n;
    cl_meta_propose_each(c, &cmds, seal__marked, c);
    tr_buf_free(&cmds);
}

/* ---- sealing (worker) --------------------------------------------------- */

struct seal_work {
    uv_work_t req;
    struct tr_cluster *c;
    struct tr_catalog_shard *shards; /* SEALING, copied from the catalog */
    size_t n;
    size_t left; /* shards not sealed by this round */
};

/* Proposes entry through the shard's log, as an admitted write. */
static int seal__propose(struct tr_cluster *c,
                         const struct tr_shard_id *id,
                         const void *entry,
                         size_t len,
                         uint64_t *index,
                         char *errmsg)
{
    struct cl_batch b;
    memset(&b, 0, sizeof(b));
    b.id = *id;
    b.admitted = true; /* not data: the write gate lets it through */
    tr_buf_init(&b.entry);
    tr_buf_init(&b.plain);
    tr_buf_append(&b.entry, entry, len);
    struct tr_apply_result res;
    int rv = b.entry.oom ? TR_ENOMEM
                         : cl_write_batches(
                               c, &b, 1, cl_mono_ms() + c->cfg.write_timeout_ms,
                               &res, errmsg);
    if (rv == 0) {
        rv = b.rv;
    }
    *index = b.res.index;
    tr_buf_free(&b.entry);
    tr_buf_free(&b.plain);
    return rv;
}

/* Seals one shard: 0 (SEALED recorded), or why not (it stays SEALING). */
static int seal__one(struct tr_cluster *c, const struct tr_catalog_shard *sh)
{
    struct tr_shard_id id = {sh->signal, sh->window, sh->slot};
    char name[48], err[TR_ERRMSG_SIZE] = "";
    tr_shard_group_name(&id, name, sizeof(name));
    const struct cl_signal_ops *ops = cl_signal_ops(sh->signal);
    uint64_t index = 0;
    int rv = 0;
    tr_log_debug("sealing a shard", "group=%s", name);
    if (ops != NULL && ops->stop_entry != NULL) {
        struct tr_buf cut;
        tr_buf_init(&cut);
        ops->stop_entry(&cut); /* the signal's cut: the compact form */
        rv = cut.oom ? TR_ENOMEM
                     : seal__propose(c, &id, cut.data, cut.len, &index, err);
        tr_buf_free(&cut);
    }
    static _Atomic uint64_t runs;
    uint64_t seed[3] = {(uint64_t)tr_mono_ns(), c->self.id,
                        atomic_fetch_add(&runs, 1)};
    uint64_t request = tr_hash64(seed, sizeof(seed), 0x7365616c) | 1;
    uint8_t e[TR_ENTRY_SEAL_SIZE];
    tr_entry_seal_encode(request, e);
    if (rv == 0) {
        rv = seal__propose(c, &id, e, sizeof(e), &index, err);
    }
    if (rv != 0) {
        tr_log_warn("sealing: the seal entry was not committed; retried",
                    "group=%s rv=%d err=\"%s\"", name, rv, err);
        tr_selfmetrics_inc(c->m_seals, 1, "failed");
        return rv;
    }
    struct cl_replica_sum reps[TR_CATALOG_MAX_REPLICAS];
    memset(reps, 0, sizeof(reps));
    int64_t deadline = cl_mono_ms() + c->cfg.write_timeout_ms;
    size_t answered = 0;
    for (size_t r = 0; r < sh->n_replicas; r++) {
        reps[r].node = sh->replicas[r];
        cl_verify_ask(c, &id, request, deadline, &reps[r]);
        answered += reps[r].ok;
    }
    /* the checksum most replicas report */
    uint64_t best = 0;
    size_t best_n = 0;
    for (size_t r = 0; r < sh->n_replicas; r++) {
        size_t k = 0;
        for (size_t q = 0; q < sh->n_replicas; q++) {
            k += reps[q].ok && reps[r].ok &&
                 reps[q].checksum == reps[r].checksum &&
                 reps[q].index == reps[r].index;
        }
        if (k > best_n) {
            best_n = k;
            best = reps[r].checksum;
            index = reps[r].index;
        }
    }
    if (best_n == sh->n_replicas && answered == sh->n_replicas) {
        struct tr_buf cmd;
        tr_buf_init(&cmd);
        tr_catalog_cmd_seal(&cmd, sh->signal, sh->window, sh->slot, index,
                            best);
        rv = cmd.oom ? TR_ENOMEM : cl_meta_propose(c, cmd.data, cmd.len);
        tr_buf_free(&cmd);
        if (rv == 0) {
            tr_log_info("shard sealed",
                        "group=%s index=%" PRIu64 " checksum=%016" PRIx64, name,
                        index, best);
            tr_selfmetrics_inc(c->m_seals, 1, "sealed");
        } else {
            tr_log_warn("sealing: the catalog did not take the seal; retried",
                        "group=%s rv=%d", name, rv);
            tr_selfmetrics_inc(c->m_seals, 1, "failed");
        }
        return rv;
    }
    bool mismatch = false;
    if (best_n * 2 > sh->n_replicas) {
        for (size_t r = 0; r < sh->n_replicas; r++) {
            if (reps[r].ok && reps[r].checksum != best) {
                const struct tr_catalog_node *nd = NULL;
                pthread_mutex_lock(&c->meta_fsm.mu);
                nd = tr_catalog_node(&c->meta_fsm.catalog, reps[r].node);
                char node[TR_CATALOG_NAME_MAX];
                snprintf(node, sizeof(node), "%s", nd ? nd->name : "?");
                pthread_mutex_unlock(&c->meta_fsm.mu);
                tr_log_error(
                    "sealing: a replica's checksum differs from the "
                    "majority's; it copies the shard again",
                    "group=%s node=%s checksum=%016" PRIx64
                    " majority=%016" PRIx64,
                    name, node, reps[r].checksum, best);
                tr_selfmetrics_inc(c->m_seals, 1, "mismatch");
                cl_recopy_ask(c, &id, reps[r].node);
                mismatch = true;
            }
        }
    }
    if (mismatch) {
        return TR_EUNAVAIL;
    }
    tr_log_warn(
        "sealing: not every replica answered with one checksum; "
        "retried",
        "group=%s answered=%zu agreeing=%zu", name, answered, best_n);
    tr_selfmetrics_inc(c->m_seals, 1, "failed");
    return TR_EUNAVAIL;
}

static void seal__work(uv_work_t *req)
{
    struct seal_work *w = req->data;
    for (size_t i = 0; i < w->n && !w->c->stopping; i++) {
        if (seal__one(w->c, &w->shards[i]) != 0) {
            w->left++;
        }
    }
}

static void seal__done(uv_work_t *req, int status)
{
    (void)status;
    struct seal_work *w = req->data;
    struct tr_cluster *c = w->c;
    c->seal_running = false;
    c->seal_next_ms = w->left > 0 ? cl_mono_ms() + SEAL_RETRY_MS : 0;
    tr_free(w->shards);
    tr_free(w);
    cl_background_done(c);
}

void cl_leader_seal(struct tr_cluster *c)
{
    if (c->meta == NULL || !tr_raft_group_is_leader(c->meta) || c->stopping) {
        return;
    }
    if (c->seal_inflight == 0) {
        seal__mark(c, cl_now_ms());
    }
    if (c->seal_running || cl_mono_ms() < c->seal_next_ms) {
        return;
    }
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    size_t n = 0;
    for (size_t i = 0; i < cat->n_shards; i++) {
        n += cat->shards[i].state == TR_SHARD_SEALING;
    }
    if (n == 0) {
        return;
    }
    struct seal_work *w = tr_calloc(1, sizeof(*w));
    if (w != NULL) {
        w->shards = tr_calloc(n, sizeof(*w->shards));
    }
    if (w == NULL || w->shards == NULL) {
        tr_free(w);
        return;
    }
    for (size_t i = 0; i < cat->n_shards; i++) {
        if (cat->shards[i].state == TR_SHARD_SEALING) {
            w->shards[w->n++] = cat->shards[i];
        }
    }
    w->c = c;
    w->req.data = w;
    c->seal_running = true;
    uv_queue_work(c->loop, &w->req, seal__work, seal__done);
}
