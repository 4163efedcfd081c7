/* retention.c - data lives as long as its retention (storage/retention.h
 * tells the two ways a drop happens), driven by the cluster's clock:
 *
 *  - the meta leader marks DELETED every shard whose window ended more
 *    than the signal's longest retention ago (the flag, or a tenant's
 *    longer override): one catalog entry per shard, applied by every node;
 *  - every node closes its groups of DELETED shards (groups.c) and runs a
 *    drop job for each DELETED shard it still has data or Raft files of
 *    (storage/jobs.h; resumed after a crash, so nothing stays half
 *    deleted);
 *  - the leader of an active shard whose window ended more than some
 *    tenant's retention ago (a tenant shorter than the longest) lists the
 *    shard's tenants on a worker and proposes a drop-tenant entry for each
 *    tenant past its retention, applied in order with the shard's writes;
 *  - for a sealed shard (no group: sealed.c) the meta leader lists its
 *    tenants from a replica and records each drop in the catalog ('X');
 *    every replica then drops the tenant from its sealed copy.
 *
 * Retention 0 keeps data forever. Reads clip their start to now minus the
 * tenant's retention (tr_cluster_retention_start), so what waits for its
 * drop is never returned. Loop thread unless noted. */
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

#define RT_MAX_PROPOSALS 64 /* catalog entries in flight at once */
#define RT_TENANTS_EVERY_MS                         \
    60000 /* re-list shards' tenants (or on a clock \
             move as long) */

/* The retention of signal s for tenant t (NULL: the flag). 0 = forever. */
static int64_t rt__of(const struct tr_cluster *c,
                      const struct tr_catalog_tenant *t,
                      uint8_t s)
{
    int64_t def = c->cfg.retention_ms[s];
    if (t == NULL) {
        return def;
    }
    int64_t v = s == TR_SIGNAL_METRICS ? t->retention_metrics_ms
                : s == TR_SIGNAL_LOGS  ? t->retention_logs_ms
                                       : t->retention_traces_ms;
    return v >= 0 ? v : def;
}

/* The longest retention of signal s over the flag and every tenant's
 * override (0 = forever). Caller holds what protects the catalog. */
static int64_t rt__longest(const struct tr_cluster *c,
                           const struct tr_catalog *cat,
                           uint8_t s)
{
    int64_t r = rt__of(c, NULL, s);
    for (size_t i = 0; i < cat->n_tenants && r > 0; i++) {
        int64_t v = rt__of(c, &cat->tenants[i], s);
        r = v <= 0 ? 0 : v > r ? v : r;
    }
    return r;
}

/* The shortest (> 0) retention of signal s, or 0 when all are forever. */
static int64_t rt__shortest(const struct tr_cluster *c,
                            const struct tr_catalog *cat,
                            uint8_t s)
{
    int64_t r = rt__of(c, NULL, s);
    for (size_t i = 0; i < cat->n_tenants; i++) {
        int64_t v = rt__of(c, &cat->tenants[i], s);
        if (v > 0 && (r <= 0 || v < r)) {
            r = v;
        }
    }
    return r;
}

int64_t tr_cluster_retention_start(struct tr_cluster *c,
                                   uint8_t signal,
                                   const char *tenant)
{
    if (signal < TR_SIGNAL_MIN || signal > TR_SIGNAL_MAX) {
        return INT64_MIN;
    }
    pthread_mutex_lock(&c->meta_fsm.mu);
    int64_t r =
        rt__of(c, tr_catalog_tenant(&c->meta_fsm.catalog, tenant), signal);
    pthread_mutex_unlock(&c->meta_fsm.mu);
    return r > 0 ? cl_now_ms() - r : INT64_MIN;
}

int64_t cl_retention_clip(struct tr_cluster *c,
                          uint8_t signal,
                          struct tr_slice tenant,
                          int64_t mint)
{
    char name[TR_CATALOG_TENANT_MAX];
    if (tenant.len >= sizeof(name)) {
        return mint;
    }
    memcpy(name, tenant.base, tenant.len);
    name[tenant.len] = '\0';
    int64_t from = tr_cluster_retention_start(c, signal, name);
    return from > mint ? from : mint;
}

bool cl_retention_expired(struct tr_cluster *c, uint8_t signal, int64_t window)
{
    if (signal < TR_SIGNAL_MIN || signal > TR_SIGNAL_MAX) {
        return false;
    }
    pthread_mutex_lock(&c->meta_fsm.mu);
    int64_t r = rt__longest(c, &c->meta_fsm.catalog, signal);
    long idx = tr_catalog_window(&c->meta_fsm.catalog, signal, window);
    bool deleted =
        idx >= 0 && c->meta_fsm.catalog.shards[idx].state == TR_SHARD_DELETED;
    pthread_mutex_unlock(&c->meta_fsm.mu);
    return deleted || (r > 0 && window + c->window_ms <= cl_now_ms() - r);
}

/* Is a once-a-minute pass due (a minute of the monotonic clock or of the
 * cluster's, which a fake clock moves in jumps)? Records now when it is. */
static bool rt__due(int64_t *last_mono, int64_t *last_wall)
{
    int64_t mono = cl_mono_ms(), now = cl_now_ms();
    if (mono - *last_mono < RT_TENANTS_EVERY_MS &&
        now - *last_wall < RT_TENANTS_EVERY_MS) {
        return false;
    }
    *last_mono = mono;
    *last_wall = now;
    return true;
}

/* Per signal, the shortest and longest retention over the flag and the
 * tenants' overrides. */
static void rt__band(const struct tr_cluster *c,
                     const struct tr_catalog *cat,
                     int64_t shortest[TR_SIGNAL_MAX + 1],
                     int64_t longest[TR_SIGNAL_MAX + 1])
{
    for (uint8_t s = TR_SIGNAL_MIN; s <= TR_SIGNAL_MAX; s++) {
        shortest[s] = rt__shortest(c, cat, s);
        longest[s] = rt__longest(c, cat, s);
    }
}

/* ---- whole windows (meta leader) -------------------------------------- */

static void rt__deleted(void *arg, int rv)
{
    struct tr_cluster *c = arg;
    c->retention_inflight--;
    if (rv != 0) {
        tr_log_warn("retention: marking a shard deleted failed; retried",
                    "rv=%d", rv);
    }
}

void cl_leader_retention(struct tr_cluster *c)
{
    if (c->retention_inflight > 0 || !tr_raft_group_is_leader(c->meta)) {
        return;
    }
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    int64_t now = cl_now_ms();
    int64_t longest[TR_SIGNAL_MAX + 1];
    for (uint8_t s = TR_SIGNAL_MIN; s <= TR_SIGNAL_MAX; s++) {
        longest[s] = rt__longest(c, cat, s);
    }
    /* the commands first: proposing applies nothing before we return, but
     * keep the walk independent of the catalog anyway */
    struct tr_buf cmds;
    tr_buf_init(&cmds);
    size_t n = 0;
    for (size_t i = 0; i < cat->n_shards && n < RT_MAX_PROPOSALS; i++) {
        const struct tr_catalog_shard *sh = &cat->shards[i];
        int64_t r = sh->signal <= TR_SIGNAL_MAX ? longest[sh->signal] : 0;
        if (sh->state == TR_SHARD_DELETED || r <= 0 ||
            sh->window + sh->window_ms > now - r) {
            continue;
        }
        size_t at = cl_cmd_open(&cmds);
        tr_catalog_cmd_set_state(&cmds, sh->signal, sh->window, sh->slot,
                                 TR_SHARD_DELETED);
        cl_cmd_close(&cmds, at);
        tr_log_info("retention: dropping a shard",
                    "signal=%s window=%" PRId64
                    " slot=%u retention_ms=%" PRId64,
                    tr_signal_name(sh->signal), sh->window, sh->slot, r);
        n++;
    }
    /* counted before proposing: a refused proposal calls back at once */
    c->retention_inflight += cmds.oom ? 0 : (int)n;
    cl_meta_propose_each(c, &cmds, rt__deleted, c);
    tr_buf_free(&cmds);
}

/* ---- drops on every node ----------------------------------------------- */

struct rt_sweep {
    uv_work_t req;
    struct tr_cluster *c;
    struct tr_shard_id *ids;
    size_t n;
    bool *submitted; /* per id: nothing left or a job recorded */
};

/* Worker: submits a drop job for each shard this node still has data or
 * Raft files of. */
static void rt__sweep_work(uv_work_t *req)
{
    struct rt_sweep *w = req->data;
    struct tr_cluster *c = w->c;
    for (size_t i = 0; i < w->n; i++) {
        struct tr_job_spec sp;
        memset(&sp, 0, sizeof(sp));
        sp.kind = TR_JOB_DROP;
        sp.id = w->ids[i];
        char name[64];
        tr_shard_group_name(&sp.id, name, sizeof(name));
        snprintf(sp.dir, sizeof(sp.dir), "%s/%s", c->raft_dir, name);
        struct stat stb;
        bool files = stat(sp.dir, &stb) == 0;
        if (!files && !tr_storage_shard_present(c->storage, &sp.id)) {
            w->submitted[i] = true; /* nothing here */
            continue;
        }
        w->submitted[i] = tr_jobs_submit(c->cfg.jobs, &sp) == 0;
    }
}

static void rt__sweep_done(uv_work_t *req, int status)
{
    (void)status;
    struct rt_sweep *w = req->data;
    struct tr_cluster *c = w->c;
    for (size_t i = 0; i < w->n; i++) {
        if (w->submitted[i]) {
            tr_u64map_put(&c->dropped, cl_shard_key(&w->ids[i]), (void *)1);
        }
    }
    c->sweep_running = false;
    tr_free(w->ids);
    tr_free(w->submitted);
    tr_free(w);
    cl_background_done(c);
}

/* Every node: DELETED shards not handled since this process started get a
 * drop job when anything of them is here. Their groups close first
 * (groups.c); the job waits until the shard's state machine let go. */
static void rt__sweep(struct tr_cluster *c)
{
    if (c->sweep_running || c->cfg.jobs == NULL || c->stopping) {
        return;
    }
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    size_t n = 0;
    for (size_t i = 0; i < cat->n_shards; i++) {
        const struct tr_catalog_shard *sh = &cat->shards[i];
        struct tr_shard_id id = {sh->signal, sh->window, sh->slot};
        n += sh->state == TR_SHARD_DELETED &&
             tr_u64map_get(&c->dropped, cl_shard_key(&id)) == NULL;
    }
    if (n == 0) {
        return;
    }
    struct rt_sweep *w = tr_calloc(1, sizeof(*w));
    if (w != NULL) {
        w->ids = tr_calloc(n, sizeof(*w->ids));
        w->submitted = tr_calloc(n, sizeof(*w->submitted));
    }
    if (w == NULL || w->ids == NULL || w->submitted == NULL) {
        if (w != NULL) {
            tr_free(w->ids);
            tr_free(w->submitted);
        }
        tr_free(w);
        return;
    }
    for (size_t i = 0; i < cat->n_shards && w->n < n; i++) {
        const struct tr_catalog_shard *sh = &cat->shards[i];
        struct tr_shard_id id = {sh->signal, sh->window, sh->slot};
        if (sh->state == TR_SHARD_DELETED &&
            tr_u64map_get(&c->dropped, cl_shard_key(&id)) == NULL) {
            w->ids[w->n++] = id;
        }
    }
    w->c = c;
    w->req.data = w;
    c->sweep_running = true;
    uv_queue_work(c->loop, &w->req, rt__sweep_work, rt__sweep_done);
}

/* ---- one tenant's data (shard leaders) -------------------------------- */

struct rt_tenants {
    uv_work_t req;
    struct tr_cluster *c;
    struct tr_shard_id *ids; /* shards led here, past the shortest */
    size_t n;
    struct tr_catalog_tenant *tenants; /* copy of the overrides */
    size_t n_tenants;
    int64_t now;
    struct tr_buf drops; /* per drop: shard (cl_put_shard), u8 len, tenant */
};

/* Appends to drops (shard, u8 length, tenant) every tenant of list (as
 * tr_storage_shard_tenants gives them) of shard id whose retention (its
 * override among tenants, else the flag) ended before now. */
static void rt__expired(const struct tr_cluster *c,
                        const struct tr_shard_id *id,
                        const struct tr_buf *list,
                        const struct tr_catalog_tenant *tenants,
                        size_t n_tenants,
                        int64_t now,
                        struct tr_buf *drops)
{
    struct tr_cursor cur = tr_cursor_make(list->data, list->len);
    uint64_t tl;
    struct tr_slice t;
    while (tr_cursor_uvarint(&cur, &tl) == 0 &&
           tr_cursor_bytes(&cur, tl, &t) == 0) {
        char name[TR_CATALOG_TENANT_MAX];
        if (tl == 0 || tl >= sizeof(name)) {
            continue; /* the empty tenant holds the sealed marker */
        }
        memcpy(name, t.base, tl);
        name[tl] = '\0';
        const struct tr_catalog_tenant *ov = NULL;
        for (size_t k = 0; k < n_tenants && ov == NULL; k++) {
            ov = strcmp(tenants[k].name, name) == 0 ? &tenants[k] : NULL;
        }
        int64_t r = rt__of(c, ov, id->signal);
        if (r <= 0 || id->window + c->window_ms > now - r) {
            continue;
        }
        cl_put_shard(drops, id);
        tr_buf_putc(drops, (char)tl);
        tr_buf_append(drops, t.base, tl);
    }
}

static void rt__tenants_work(uv_work_t *req)
{
    struct rt_tenants *w = req->data;
    struct tr_cluster *c = w->c;
    struct tr_buf list;
    tr_buf_init(&list);
    for (size_t i = 0; i < w->n; i++) {
        tr_buf_reset(&list);
        if (tr_storage_shard_tenants(c->storage, &w->ids[i], &list) == 0) {
            rt__expired(c, &w->ids[i], &list, w->tenants, w->n_tenants, w->now,
                        &w->drops);
        }
    }
    tr_buf_free(&list);
}

static void rt__tenant_dropped(void *arg, int status, void *result)
{
    (void)result;
    (void)arg;
    if (status != 0) {
        tr_log_warn("retention: a tenant drop entry failed; retried", "rv=%d",
                    status);
    }
}

static void rt__tenants_done(uv_work_t *req, int status)
{
    (void)status;
    struct rt_tenants *w = req->data;
    struct tr_cluster *c = w->c;
    struct tr_cursor cur = tr_cursor_make(w->drops.data, w->drops.len);
    struct tr_buf e;
    tr_buf_init(&e);
    while (!w->drops.oom && tr_cursor_left(&cur) > 0) {
        struct tr_shard_id id;
        uint8_t tl;
        struct tr_slice t;
        if (cl_get_shard(&cur, &id) != 0 || tr_cursor_u8(&cur, &tl) != 0 ||
            tr_cursor_bytes(&cur, tl, &t) != 0) {
            break;
        }
        struct cl_group *g = cl_group_find(c, &id);
        if (g == NULL || c->stopping || !tr_raft_group_is_leader(g->g)) {
            continue;
        }
        tr_buf_reset(&e);
        tr_entry_drop_tenant_encode(&e, t);
        tr_log_info("retention: dropping a tenant's data of a shard",
                    "group=%s tenant=%.*s", g->name, (int)t.len, t.base);
        if (!e.oom) {
            tr_raft_group_apply(g->g, e.data, e.len, rt__tenant_dropped, NULL);
        }
    }
    tr_buf_free(&e);
    c->tenants_running = false;
    tr_buf_free(&w->drops);
    tr_free(w->ids);
    tr_free(w->tenants);
    tr_free(w);
    cl_background_done(c);
}

/* Shard leaders: every minute (or minute of a fake clock), the shards led
 * here whose window ended more than the shortest retention ago have their
 * tenants listed; those past their own retention are dropped. */
static void rt__tenants(struct tr_cluster *c)
{
    if (c->tenants_running || c->stopping ||
        !rt__due(&c->last_tenants_ms, &c->last_tenants_wall_ms)) {
        return;
    }
    int64_t now = cl_now_ms();
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    int64_t shortest[TR_SIGNAL_MAX + 1], longest[TR_SIGNAL_MAX + 1];
    rt__band(c, cat, shortest, longest);
    size_t n = 0;
    for (struct cl_group *g = c->groups; g != NULL; g = g->next) {
        n++;
    }
    struct rt_tenants *w = tr_calloc(1, sizeof(*w));
    if (w == NULL) {
        return;
    }
    w->ids = tr_calloc(n ? n : 1, sizeof(*w->ids));
    w->tenants =
        tr_calloc(cat->n_tenants ? cat->n_tenants : 1, sizeof(*w->tenants));
    if (w->ids == NULL || w->tenants == NULL) {
        tr_free(w->ids);
        tr_free(w->tenants);
        tr_free(w);
        return;
    }
    for (struct cl_group *g = c->groups; g != NULL; g = g->next) {
        uint8_t s = g->id.signal;
        int64_t end = g->id.window + c->window_ms;
        const struct tr_catalog_shard *sh =
            tr_catalog_shard(cat, s, g->id.window, g->id.slot);
        /* an active shard past the shortest retention but not yet due for
         * its whole drop (a sealed one's tenants go through the catalog,
         * rt__sealed; a sealing one's wait until it is sealed) */
        if (g->closing || !tr_raft_group_is_leader(g->g) || sh == NULL ||
            sh->state != TR_SHARD_ACTIVE || shortest[s] <= 0 ||
            end > now - shortest[s] ||
            (longest[s] > 0 && end <= now - longest[s])) {
            continue;
        }
        w->ids[w->n++] = g->id;
    }
    if (w->n == 0) {
        tr_free(w->ids);
        tr_free(w->tenants);
        tr_free(w);
        return;
    }
    memcpy(w->tenants, cat->tenants, cat->n_tenants * sizeof(*w->tenants));
    w->n_tenants = cat->n_tenants;
    w->c = c;
    w->now = now;
    tr_buf_init(&w->drops);
    w->req.data = w;
    c->tenants_running = true;
    uv_queue_work(c->loop, &w->req, rt__tenants_work, rt__tenants_done);
}

/* ---- one tenant's data in sealed shards (meta leader) ------------------ */

struct rt_sealed {
    uv_work_t req;
    struct tr_cluster *c;
    struct tr_catalog_shard *shards; /* SEALED, past the shortest */
    size_t n;
    struct tr_catalog_tenant *tenants; /* copy of the overrides */
    size_t n_tenants;
    int64_t now;
};

/* Worker: the tenants of a sealed shard, from a replica that has it
 * sealed (this node first). 0 or TR_EUNAVAIL. */
static int rt__sealed_list(struct tr_cluster *c,
                           const struct tr_catalog_shard *sh,
                           struct tr_buf *list)
{
    struct tr_shard_id id = {sh->signal, sh->window, sh->slot};
    if (cl_is_replica(sh, c->self.id) && cl_sealed_local(c, &id)) {
        return tr_storage_shard_tenants(c->storage, &id, list);
    }
    struct tr_buf body;
    tr_buf_init(&body);
    cl_put_shard(&body, &id);
    int rv = TR_EUNAVAIL;
    for (size_t r = 0; r < sh->n_replicas && rv != 0; r++) {
        char url[CL_URL_MAX];
        long status = 0;
        tr_buf_reset(list);
        if (sh->replicas[r] != c->self.id &&
            cl_node_url(c, sh->replicas[r], "/internal/v1/shard/tenants", url,
                        sizeof(url)) &&
            tr_rpc_call(c->rpc, url, body.data, body.len, NULL, 10000, &status,
                        list) == 0 &&
            status == 200) {
            rv = 0;
        }
    }
    tr_buf_free(&body);
    return rv;
}

/* Worker: lists each sealed shard's tenants and records in the catalog
 * ('X') those past their retention that it does not have yet; every
 * replica then drops them (sealed.c). */
static void rt__sealed_work(uv_work_t *req)
{
    struct rt_sealed *w = req->data;
    struct tr_cluster *c = w->c;
    struct tr_buf list, drops, cmd;
    tr_buf_init(&list);
    tr_buf_init(&drops);
    tr_buf_init(&cmd);
    for (size_t i = 0; i < w->n && !c->stopping; i++) {
        const struct tr_catalog_shard *sh = &w->shards[i];
        struct tr_shard_id id = {sh->signal, sh->window, sh->slot};
        tr_buf_reset(&list);
        tr_buf_reset(&drops);
        if (rt__sealed_list(c, sh, &list) != 0) {
            continue; /* asked again next time */
        }
        rt__expired(c, &id, &list, w->tenants, w->n_tenants, w->now, &drops);
        struct tr_cursor cur = tr_cursor_make(drops.data, drops.len);
        struct tr_shard_id did;
        uint8_t tl;
        struct tr_slice t;
        while (!drops.oom && cl_get_shard(&cur, &did) == 0 &&
               tr_cursor_u8(&cur, &tl) == 0 &&
               tr_cursor_bytes(&cur, tl, &t) == 0) {
            char name[TR_CATALOG_TENANT_MAX];
            memcpy(name, t.base, tl);
            name[tl] = '\0';
            pthread_mutex_lock(&c->meta_fsm.mu);
            bool have = tr_catalog_dropped(&c->meta_fsm.catalog, did.signal,
                                           did.window, name);
            pthread_mutex_unlock(&c->meta_fsm.mu);
            if (have) {
                continue;
            }
            tr_buf_reset(&cmd);
            tr_catalog_cmd_drop_tenant(&cmd, did.signal, did.window, name);
            int rv =
                cmd.oom ? TR_ENOMEM : cl_meta_propose(c, cmd.data, cmd.len);
            tr_log_info(
                "retention: dropping a tenant's data from a sealed "
                "window",
                "signal=%s window=%" PRId64 " tenant=%s rv=%d",
                tr_signal_name(did.signal), did.window, name, rv);
        }
    }
    tr_buf_free(&list);
    tr_buf_free(&drops);
    tr_buf_free(&cmd);
}

static void rt__sealed_done(uv_work_t *req, int status)
{
    (void)status;
    struct rt_sealed *w = req->data;
    struct tr_cluster *c = w->c;
    c->sealed_tenants_running = false;
    tr_free(w->shards);
    tr_free(w->tenants);
    tr_free(w);
    cl_background_done(c);
}

/* Meta leader: every minute (or minute of a fake clock), the sealed
 * shards whose window ended more than the shortest retention ago but not
 * the longest. */
static void rt__sealed(struct tr_cluster *c)
{
    if (c->sealed_tenants_running || c->stopping ||
        !tr_raft_group_is_leader(c->meta) ||
        !rt__due(&c->last_sealed_tenants_ms, &c->last_sealed_tenants_wall_ms)) {
        return;
    }
    int64_t now = cl_now_ms();
    const struct tr_catalog *cat = &c->meta_fsm.catalog;
    int64_t shortest[TR_SIGNAL_MAX + 1], longest[TR_SIGNAL_MAX + 1];
    rt__band(c, cat, shortest, longest);
    size_t n = 0;
    for (size_t pass = 0; pass < 2; pass++) {
        struct rt_sealed *w = NULL;
        if (pass == 1) {
            if (n == 0) {
                return;
            }
            w = tr_calloc(1, sizeof(*w));
            if (w == NULL) {
                return;
            }
            w->shards = tr_calloc(n, sizeof(*w->shards));
            w->tenants = tr_calloc(cat->n_tenants ? cat->n_tenants : 1,
                                   sizeof(*w->tenants));
            if (w->shards == NULL || w->tenants == NULL) {
                tr_free(w->shards);
                tr_free(w->tenants);
                tr_free(w);
                return;
            }
        }
        for (size_t i = 0; i < cat->n_shards; i++) {
            const struct tr_catalog_shard *sh = &cat->shards[i];
            uint8_t s = sh->signal;
            int64_t end = sh->window + sh->window_ms;
            if (sh->state != TR_SHARD_SEALED || s < TR_SIGNAL_MIN ||
                s > TR_SIGNAL_MAX || shortest[s] <= 0 ||
                end > now - shortest[s] ||
                (longest[s] > 0 && end <= now - longest[s])) {
                continue;
            }
            if (pass == 0) {
                n++;
            } else {
                w->shards[w->n++] = *sh;
            }
        }
        if (pass == 1) {
            memcpy(w->tenants, cat->tenants,
                   cat->n_tenants * sizeof(*w->tenants));
            w->n_tenants = cat->n_tenants;
            w->c = c;
            w->now = now;
            w->req.data = w;
            c->sealed_tenants_running = true;
            uv_queue_work(c->loop, &w->req, rt__sealed_work, rt__sealed_done);
        }
    }
}

void cl_retention_tick(struct tr_cluster *c)
{
    cl_leader_retention(c);
    rt__sweep(c);
    rt__tenants(c);
    rt__sealed(c);
}
