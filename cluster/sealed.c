/* sealed.c - sealed shards live without Raft groups.
 *
 * Once the catalog records a shard SEALED (seal.c), nothing of it changes
 * through its Raft log again, so every replica whose copy is sealed here
 * (marker written, seal job done) closes the shard's group (groups.c asks
 * cl_sealed_group_done) and a retire job removes the group's directory
 * (storage/jobs.h): no log, segments, timers or heartbeats stay. No node
 * starts a group for a SEALED shard again. What the group did is done
 * here, by one pass every CL_SEALED_EVERY_MS on a worker:
 *
 *   - reads: a sealed replica answers from its data (cl_serves);
 *   - a replica without the sealed data (added when a node was removed or
 *     replaced, or told to copy again: verify found it different from the
 *     majority) copies the shard from another replica (the dump is
 *     checked by its own checksum and, when no tenant was dropped from
 *     the window, against the catalog's sealed checksum);
 *   - retention of a tenant whose retention ended inside the window: the
 *     meta leader records the drop in the catalog ('X', retention.c) and
 *     every replica deletes the tenant's ranges in its copy
 *     (tr_storage_shard_drop_tenant), so replicas stay equal;
 *   - verify: every replica answers with the checksum of its sealed copy
 *     once it has applied the drops the coordinator knows of
 *     (POST /internal/v1/shard/sealed-sum).
 *
 * Loop thread unless noted. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cluster/cluster_int.h"
#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "storage/jobs.h"
#include "storage/retention.h"
#include "storage/seal.h"

#define CL_SEALED_EVERY_MS 1000

/* One SEALED shard this node replicates, as a pass handles it. */
struct sealed_item {
    struct tr_shard_id id;
    bool group;           /* its group still runs (or closes) here */
    bool recopy;          /* copy again even if sealed here */
    bool tenants_dropped; /* the catalog dropped tenants of its window */
    uint64_t checksum;    /* the catalog's sealed checksum */
    uint64_t replicas[TR_CATALOG_MAX_REPLICAS];
    uint8_t n_replicas;
    size_t drops_at, n_drops; /* its tenants to drop, in work.drops */
    /* results */
    int state;      /* enum cl_sealed_state */
    int copied;     /* 0 not tried, 1 copied, -1 failed */
    size_t dropped; /* tenants dropped by this pass (the first n) */
};

struct sealed_work {
    uv_work_t req;
    struct tr_cluster *c;
    struct sealed_item *items;
    size_t n;
    char (*drops)[TR_CATALOG_TENANT_MAX];
    size_t n_drops;
};

uint64_t cl_shard_key(const struct tr_shard_id *id)
{
    return tr_hash_mix64(((uint64_t)id->signal << 56) ^
                         ((uint64_t)(id->window / 1000) << 16) ^ id->slot);
}

/* Key of a tenant's drop from a shard (the set of drops done here). */
static uint64_t sealed__drop_key(const struct tr_shard_id *id, const char *t)
{
    return tr_hash64(t, strlen(t), cl_shard_key(id));
}

static int sealed__state(struct tr_cluster *c, const struct tr_shard_id *id)
{
    void *v = tr_u64map_get(&c->sealed_state, cl_shard_key(id));
    return (int)(uintptr_t)v;
}

bool cl_sealed_group_done(struct tr_cluster *c, const struct tr_shard_id *id)
{
    int st = sealed__state(c, id);
    return st == CL_SEALED_HERE || st == CL_SEALED_MISSING;
}

/* ---- worker ------------------------------------------------------------ */

/* Any thread but the loop: drops from the sealed shard id the tenants
 * listed (n names) that it still holds. Returns how many of the list are
 * done (gone or dropped), in order; stops at the first failure. */
static size_t sealed__drop(struct tr_cluster *c,
                           const struct tr_shard_id *id,
                           const char (*names)[TR_CATALOG_TENANT_MAX],
                           size_t n)
{
    struct tr_buf held, one;
    tr_buf_init(&held);
    tr_buf_init(&one);
    size_t done = 0;
    if (n > 0 && tr_storage_shard_tenants(c->storage, id, &held) != 0) {
        n = 0;
    }
    for (; done < n; done++) {
        struct tr_slice t = {names[done], strlen(names[done])};
        struct tr_cursor cur = tr_cursor_make(held.data, held.len);
        uint64_t len;
        struct tr_slice h;
        bool present = false;
        while (!present && tr_cursor_uvarint(&cur, &len) == 0 &&
               tr_cursor_bytes(&cur, len, &h) == 0) {
            present = h.len == t.len && memcmp(h.base, t.base, t.len) == 0;
        }
        if (!present) {
            continue;
        }
        if (tr_storage_shard_drop_tenant(c->storage, id, t) != 0) {
            break;
        }
        tr_buf_reset(&one);
        tr_buf_put_uvarint(&one, t.len);
        tr_buf_append(&one, t.base, t.len);
        if (!one.oom) {
            tr_storage_shard_compact(c->storage, id, one.data, one.len);
        }
        char name[48];
        tr_shard_group_name(id, name, sizeof(name));
        tr_log_info("retention: a tenant's data dropped from a sealed shard",
                    "group=%s tenant=%s", name, names[done]);
        tr_selfmetrics_inc(c->m_sealed, 1, "tenant_dropped");
    }
    tr_buf_free(&held);
    tr_buf_free(&one);
    return done;
}

/* Worker: copies the shard from another replica (holding the shard so no
 * state machine or job touches it meanwhile). */
static bool sealed__copy(struct tr_cluster *c, const struct sealed_item *it)
{
    if (tr_storage_shard_claim(c->storage, &it->id) != 0) {
        return false; /* its closed group's state machine still drains */
    }
    char name[48];
    tr_shard_group_name(&it->id, name, sizeof(name));
    struct tr_buf body, dump;
    tr_buf_init(&body);
    cl_put_shard(&body, &it->id);
    bool ok = false;
    for (size_t i = 0; i < it->n_replicas && !ok && !c->stopping; i++) {
        char url[CL_URL_MAX];
        if (it->replicas[i] == c->self.id ||
            !cl_node_url(c, it->replicas[i], "/internal/v1/shard/dump", url,
                         sizeof(url))) {
            continue;
        }
        tr_buf_init(&dump);
        long status = 0;
        uint64_t index = 0;
        if (tr_rpc_call(c->rpc, url, body.data, body.len, NULL, 60000, &status,
                        &dump) == 0 &&
            status == 200 &&
            tr_storage_shard_load(c->storage, &it->id, dump.data, dump.len,
                                  &index) == 0) {
            uint64_t sum = tr_storage_shard_checksum(c->storage, &it->id);
            ok = it->tenants_dropped || sum == it->checksum;
            if (!ok) {
                tr_log_error(
                    "sealed shard copy differs from the catalog's sealed "
                    "checksum; trying another replica",
                    "group=%s checksum=%016" PRIx64 " sealed=%016" PRIx64, name,
                    sum, it->checksum);
            }
        }
        tr_buf_free(&dump);
    }
    tr_buf_free(&body);
    tr_storage_shard_unclaim(c->storage, &it->id);
    if (ok) {
        tr_log_info("sealed shard copied from a healthy replica", "group=%s",
                    name);
    } else {
        tr_log_warn("sealed shard copy failed; retried", "group=%s", name);
    }
    tr_selfmetrics_inc(c->m_sealed, 1, ok ? "copied" : "copy_failed");
    return ok;
}

static int sealed__local(struct tr_cluster *c, const struct tr_shard_id *id)
{
    if (!tr_storage_shard_sealed(c->storage, id)) {
        return CL_SEALED_MISSING;
    }
    return tr_storage_shard_seal_pending(c->storage, id) ? CL_SEALED_PENDING
                                                         : CL_SEALED_HERE;
}

static void sealed__work(uv_work_t *req)
{
    struct sealed_work *w = req->data;
    struct tr_cluster *c = w->c;
    for (size_t i = 0; i < w->n && !c->stopping; i++) {
        struct sealed_item *it = &w->items[i];
        it->state = sealed__local(c, &it->id);
        if (it->group) {
            continue; /* the loop closes it first (cl_sealed_group_done) */
        }
        if (it->state == CL_SEALED_MISSING ||
            (it->state == CL_SEALED_HERE && it->recopy)) {
            it->copied = sealed__copy(c, it) ? 1 : -1;
            it->state = sealed__local(c, &it->id);
        }
        if (it->state != CL_SEALED_HERE) {
            continue;
        }
        struct tr_job_spec sp;
        memset(&sp, 0, sizeof(sp));
        sp.kind = TR_JOB_RETIRE;
        sp.id = it->id;
        char name[48];
        tr_shard_group_name(&it->id, name, sizeof(name));
        snprintf(sp.dir, sizeof(sp.dir), "%s/%s", c->raft_dir, name);
        struct stat stb;
        if (c->cfg.jobs != NULL && stat(sp.dir, &stb) == 0) {
            tr_jobs_submit(c->cfg.jobs, &sp);
        }
        it->dropped = sealed__drop(
            c, &it->id,
            (const char(*)[TR_CATALOG_TENANT_MAX]) & w->drops[it->drops_at],
            it->n_drops);
    }
}

static void sealed__done(uv_work_t *req, int status)
{
    (void)status;
    struct sealed_work *w = req->data;
    struct tr_cluster *c = w->c;
    size_t nv = 0;
    struct cl_sealed_view *views = tr_calloc(w->n ? w->n : 1, sizeof(*views));
    for (size_t i = 0; i < w->n; i++) {
        const struct sealed_item *it = &w->items[i];
        uint64_t key = cl_shard_key(&it->id);
        if (it->state != 0) {
            tr_u64map_put(&c->sealed_state, key, (void *)(uintptr_t)it->state);
        }
        if (it->copied == 1) {
            tr_u64map_del(&c->sealed_recopy, key);
        }
        for (size_t k = 0; k < it->dropped; k++) {
            tr_u64map_put(&c->sealed_drops,
                          sealed__drop_key(&it->id, w->drops[it->drops_at + k]),
                          (void *)1);
        }
        if (views != NULL && it->state != 0) {
            views[nv].id = it->id;
            views[nv].state = it->state;
            views[nv].group = it->group;
            nv++;
        }
    }
    pthread_mutex_lock(&c->mu);
    if (views != NULL) {
        tr_free(c->sealed_views);
        c->sealed_views = views;
        c->n_sealed_views = nv;
    }
    pthread_mutex_unlock(&c->mu);
    c->sealed_running = false;
    tr_free(w->items);
    tr_free(w->drops);
    tr_free(w);
    cl_background_done(c);
}

/* ---- the pass (loop) --------------------------------------------------- */

void cl_sealed_tick(struct tr_cluster *c)
{
    int64_t now = cl_mono_ms();
    if (c->sealed_running || c->stopping ||
        now - c->sealed_last_ms < CL_SEALED_EVERY_MS) {
        return;
    }
    c->sealed_last_ms = now;
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    size_t n = 0;
    for (size_t i = 0; i < cat->n_shards; i++) {
        n += cat->shards[i].state == TR_SHARD_SEALED &&
             cl_is_replica(&cat->shards[i], c->self.id);
    }
    if (n == 0) {
        pthread_mutex_lock(&c->mu); /* none left to show */
        tr_free(c->sealed_views);
        c->sealed_views = NULL;
        c->n_sealed_views = 0;
        pthread_mutex_unlock(&c->mu);
        return;
    }
    struct sealed_work *w = tr_calloc(1, sizeof(*w));
    if (w == NULL) {
        return;
    }
    w->items = tr_calloc(n, sizeof(*w->items));
    /* at most every drop once per replicated shard of its window */
    size_t nd = 0;
    for (size_t i = 0; i < cat->n_shards; i++) {
        const struct tr_catalog_shard *sh = &cat->shards[i];
        if (sh->state == TR_SHARD_SEALED && cl_is_replica(sh, c->self.id)) {
            nd += tr_catalog_drops_of(cat, sh->signal, sh->window);
        }
    }
    w->drops = tr_calloc(nd ? nd : 1, sizeof(*w->drops));
    if (w->items == NULL || w->drops == NULL) {
        tr_free(w->items);
        tr_free(w->drops);
        tr_free(w);
        return;
    }
    for (size_t i = 0; i < cat->n_shards; i++) {
        const struct tr_catalog_shard *sh = &cat->shards[i];
        if (sh->state != TR_SHARD_SEALED || !cl_is_replica(sh, c->self.id)) {
            continue;
        }
        struct sealed_item *it = &w->items[w->n++];
        it->id = (struct tr_shard_id){sh->signal, sh->window, sh->slot};
        for (struct cl_group *g = c->groups; g != NULL; g = g->next) {
            it->group = it->group || tr_shard_eq(&g->id, &it->id);
        }
        it->recopy =
            tr_u64map_get(&c->sealed_recopy, cl_shard_key(&it->id)) != NULL;
        it->checksum = sh->sealed_checksum;
        it->n_replicas = sh->n_replicas;
        memcpy(it->replicas, sh->replicas, sizeof(it->replicas));
        it->drops_at = w->n_drops;
        for (size_t d = 0; d < cat->n_drops; d++) {
            const struct tr_catalog_drop *dr = &cat->drops[d];
            if (dr->signal != sh->signal || dr->window != sh->window) {
                continue;
            }
            it->tenants_dropped = true;
            if (tr_u64map_get(&c->sealed_drops,
                              sealed__drop_key(&it->id, dr->tenant)) == NULL) {
                memcpy(w->drops[w->n_drops++], dr->tenant,
                       TR_CATALOG_TENANT_MAX);
                it->n_drops++;
            }
        }
    }
    w->c = c;
    w->req.data = w;
    c->sealed_running = true;
    uv_queue_work(c->loop, &w->req, sealed__work, sealed__done);
}

void cl_sealed_recopy(struct tr_cluster *c, const struct tr_shard_id *id)
{
    tr_u64map_put(&c->sealed_recopy, cl_shard_key(id), (void *)1);
}

void cl_sealed_free(struct tr_cluster *c)
{
    tr_u64map_free(&c->sealed_state);
    tr_u64map_free(&c->sealed_recopy);
    tr_u64map_free(&c->sealed_drops);
    tr_free(c->sealed_views);
    c->sealed_views = NULL;
}

/* ---- verify (worker threads) ------------------------------------------- */

int cl_sealed_sum(struct tr_cluster *c,
                  const struct tr_shard_id *id,
                  uint64_t known_drops,
                  uint64_t *checksum,
                  char *errmsg)
{
    if (!cl_sealed_local(c, id)) {
        return tr_errf(TR_EUNAVAIL, errmsg, "the shard is not sealed here");
    }
    /* the drops of the window this node's catalog has */
    pthread_mutex_lock(&c->meta_fsm.mu);
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    size_t n = tr_catalog_drops_of(cat, id->signal, id->window);
    char(*names)[TR_CATALOG_TENANT_MAX] = tr_calloc(n ? n : 1, sizeof(*names));
    size_t k = 0;
    for (size_t d = 0; names != NULL && d < cat->n_drops; d++) {
        if (cat->drops[d].signal == id->signal &&
            cat->drops[d].window == id->window && k < n) {
            memcpy(names[k++], cat->drops[d].tenant, TR_CATALOG_TENANT_MAX);
        }
    }
    pthread_mutex_unlock(&c->meta_fsm.mu);
    if (names == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    if (k < known_drops) {
        tr_free(names);
        return tr_errf(TR_ENOTFOUND, errmsg,
                       "has not learnt every tenant drop of the window yet");
    }
    size_t done =
        sealed__drop(c, id, (const char(*)[TR_CATALOG_TENANT_MAX])names, k);
    tr_free(names);
    if (done < k) {
        return tr_errf(TR_EIO, errmsg, "a tenant drop failed here");
    }
    *checksum = tr_storage_shard_checksum(c->storage, id);
    return 0;
}
