/* group.c - one Raft group: raft_uv I/O on its own directory, a transport
 * over the node's mux, and struct raft.
 *
 * Closing (tr_raft_group_close):
 *
 *   stop the poll timer; raft_close(r) -> raft_uv closes its streams, calls
 *   transport->close (pending connects end with RAFT_CANCELED), waits
 *   -> raft close cb: the poll timer is re-armed for CLOSE_GRACE_MS (raft_uv
 *      can still have file-system work in flight)
 *   -> raft_uv_close(io), tr_raft_transport_close, uv_close(poll timer)
 *   -> free g -> user cb(arg)
 *
 * The user FSM is wrapped (g->fsm) so applied bytes and snapshots can be
 * counted; every wrapper calls the user's function with the user's fsm. */
#include "raft/group.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <raft/uv.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/log.h"
#include "raft/transport.h"

#define POLL_MS 50

struct tr_raft_group {
    uv_loop_t *loop;
    char name[TR_RAFT_GROUP_NAME_MAX + 1];
    struct raft_io io;                  /* raft_uv */
    struct raft_uv_transport transport; /* over the mux */
    struct raft raft;
    struct raft_fsm fsm; /* wrapper around user_fsm */
    struct raft_fsm *user_fsm;
    uv_timer_t poll; /* leader-change polling */
    raft_id leader;  /* last leader seen (0 = none) */
    uint64_t leader_changes;
    uint64_t snapshots;
    uint64_t bytes_replicated;
    /* snapshots by log bytes as well as entries (see tr_raft_group_config):
     * bytes and entries applied since the last snapshot */
    uint64_t snap_bytes;
    uint64_t snap_entries;
    uint64_t snapshot_bytes;          /* 0 = entries only */
    uint64_t snapshot_trailing_bytes; /* 0 = entries only */
    unsigned snapshot_threshold;
    unsigned snapshot_trailing;
    bool snap_forced; /* the threshold was lowered to force one */
    void (*on_leader_change)(void *arg,
                             struct tr_raft_group *g,
                             raft_id leader);
    void *arg;
    bool closing;
    void (*close_cb)(void *arg);
    void *close_arg;
    /* raft_uv's close, wrapped so raft's close callback runs once */
    void (*uv_close)(struct raft_io *io, raft_io_close_cb cb);
    raft_io_close_cb io_close_cb;
    bool io_closed;
    /* raft_uv's start, wrapped so received messages pass io_recv_fix */
    int (*uv_start)(struct raft_io *io,
                    unsigned msecs,
                    raft_io_tick_cb tick,
                    raft_io_recv_cb recv);
    raft_io_recv_cb raft_recv;
    uint64_t trimmed; /* AppendEntries trimmed by io_recv_fix */
};

/* One client request (apply, membership change or transfer). */
struct greq {
    union {
        struct raft_apply apply;
        struct raft_change change;
        struct raft_transfer transfer;
    } u;
    struct tr_raft_group *g;
    tr_raft_apply_cb cb;
    void *arg;
    raft_id id; /* add: server to promote after raft_add */
    int role;   /* add: role to assign after raft_add */
};

static int map_raft_err(int rv)
{
    switch (rv) {
        case 0:
            return 0;
        case RAFT_NOTLEADER:
        case RAFT_LEADERSHIPLOST:
        case RAFT_SHUTDOWN:
        case RAFT_NOCONNECTION:
            return TR_EUNAVAIL;
        case RAFT_NOMEM:
            return TR_ENOMEM;
        case RAFT_CANCELED:
            return TR_ECANCELED;
        case RAFT_BADID:
        case RAFT_BADROLE:
        case RAFT_DUPLICATEID:
        case RAFT_DUPLICATEADDRESS:
        case RAFT_INVALID:
        case RAFT_CANTCHANGE:
        case RAFT_NOTFOUND:
            return TR_EINVAL;
        default:
            return TR_EIO;
    }
}

/* ---- leader tracking ---------------------------------------------------- */

static void check_leader(struct tr_raft_group *g)
{
    raft_id id = 0;
    const char *addr = NULL;
    if (g->closing) {
        return;
    }
    raft_leader(&g->raft, &id, &addr);
    if (id == g->leader) {
        return;
    }
    g->leader = id;
    if (id != 0) {
        g->leader_changes++;
    }
    tr_log_debug("raft leader changed", "group=%s leader=%llu", g->name,
                 (unsigned long long)id);
    if (g->on_leader_change != NULL) {
        g->on_leader_change(g->arg, g, id);
    }
}

static void poll_cb(uv_timer_t *t)
{
    check_leader(t->data);
}

/* ---- FSM wrapper -------------------------------------------------------- */

/* raft_uv stores entry payloads 8-byte aligned and assumes their lengths
 * are multiples of 8, so every proposal is framed:
 *
 *   OFFSET  SIZE  DESCRIPTION
 *   0       L     the caller's bytes
 *   L       P     zero padding, so that L + P + 4 is a multiple of 8
 *   L+P     4     L, little-endian
 *
 * and the FSM sees the caller's L bytes only. */
/* Index of the entry being applied (loop thread; see group.h). */
static uint64_t group_applying_index;

uint64_t tr_raft_group_applying_index(void)
{
    return group_applying_index;
}

void tr_raft_group_set_applying_index(uint64_t index)
{
    group_applying_index = index;
}

static size_t frame_len(size_t len)
{
    return (len + 4 + 7) & ~(size_t)7;
}

static int fsm_apply(struct raft_fsm *fsm,
                     const struct raft_buffer *buf,
                     void **result)
{
    struct tr_raft_group *g = fsm->data;
    const uint8_t *p = buf->base;
    if (buf->len < 8 || buf->len % 8 != 0) {
        tr_log_error("raft group: malformed entry frame", "group=%s len=%zu",
                     g->name, buf->len);
        *result = NULL;
        return 0; /* deterministic: every replica skips it */
    }
    uint32_t l = (uint32_t)p[buf->len - 4] | ((uint32_t)p[buf->len - 3] << 8) |
                 ((uint32_t)p[buf->len - 2] << 16) |
                 ((uint32_t)p[buf->len - 1] << 24);
    if (frame_len(l) != buf->len) {
        tr_log_error("raft group: malformed entry frame", "group=%s len=%zu",
                     g->name, buf->len);
        *result = NULL;
        return 0;
    }
    struct raft_buffer inner = {buf->base, l};
    group_applying_index = raft_last_applied(&g->raft) + 1;
    int rv = g->user_fsm->apply(g->user_fsm, &inner, result);
    group_applying_index = 0;
    if (rv == 0) {
        g->bytes_replicated += l;
        g->snap_bytes += buf->len;
        g->snap_entries++;
        if (g->snapshot_bytes > 0 && g->snap_bytes >= g->snapshot_bytes &&
            !g->snap_forced) {
            /* raft counts entries only: lower its threshold so that it
             * takes a snapshot right after this batch of applies */
            g->snap_forced = true;
            raft_set_snapshot_threshold(&g->raft, 1);
        }
    }
    return rv;
}

/* Entries kept behind a snapshot at least, whatever their size: a
 * follower further behind needs a snapshot install, which for a shard
 * means copying its data. A group of one server has no follower to keep
 * entries for: none stay (everything up to a snapshot is durable in
 * storage, and a voter added later gets a snapshot install), so its log
 * holds only what came after the last snapshot (16 logs entries of
 * ~0.5 MiB were 8 MiB of log per shard of a single node). */
#define GROUP_MIN_TRAILING 16

/* A snapshot is being taken: start counting again, restore the entry
 * threshold, and keep about snapshot_trailing_bytes of log behind it. */
static void group__snapshot_taken(struct tr_raft_group *g)
{
    unsigned trailing = g->snapshot_trailing;
    if (g->raft.configuration.n <= 1) {
        trailing = 0;
    } else if (g->snapshot_trailing_bytes > 0 && g->snap_entries > 0) {
        uint64_t avg = g->snap_bytes / g->snap_entries;
        uint64_t by_bytes = g->snapshot_trailing_bytes / (avg ? avg : 1);
        if (by_bytes < GROUP_MIN_TRAILING) {
            by_bytes = GROUP_MIN_TRAILING;
        }
        if (by_bytes < trailing) {
            trailing = (unsigned)by_bytes;
        }
    }
    raft_set_snapshot_trailing(&g->raft, trailing);
    raft_set_snapshot_threshold(&g->raft, g->snapshot_threshold);
    g->snap_forced = false;
    g->snap_bytes = 0;
    g->snap_entries = 0;
}

static int fsm_snapshot(struct raft_fsm *fsm,
                        struct raft_buffer *bufs[],
                        unsigned *n)
{
    struct tr_raft_group *g = fsm->data;
    int rv = g->user_fsm->snapshot(g->user_fsm, bufs, n);
    if (rv == 0) {
        g->snapshots++;
        group__snapshot_taken(g);
    }
    return rv;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct tr_raft_group *g = fsm->data;
    int rv = g->user_fsm->restore(g->user_fsm, buf);
    if (rv == 0) {
        g->snapshots++;
    }
    return rv;
}

static int fsm_snapshot_finalize(struct raft_fsm *fsm,
                                 struct raft_buffer *bufs[],
                                 unsigned *n)
{
    struct tr_raft_group *g = fsm->data;
    return g->user_fsm->snapshot_finalize(g->user_fsm, bufs, n);
}

static int fsm_snapshot_async(struct raft_fsm *fsm,
                              struct raft_buffer *bufs[],
                              unsigned *n)
{
    struct tr_raft_group *g = fsm->data;
    return g->user_fsm->snapshot_async(g->user_fsm, bufs, n);
}

static void wrap_fsm(struct tr_raft_group *g, struct raft_fsm *u)
{
    memset(&g->fsm, 0, sizeof(g->fsm));
    g->user_fsm = u;
    g->fsm.version = u->version;
    g->fsm.data = g;
    g->fsm.apply = fsm_apply;
    g->fsm.snapshot = u->snapshot != NULL ? fsm_snapshot : NULL;
    g->fsm.restore = u->restore != NULL ? fsm_restore : NULL;
    if (u->version >= 2) {
        g->fsm.snapshot_finalize =
            u->snapshot_finalize != NULL ? fsm_snapshot_finalize : NULL;
    }
    if (u->version >= 3) {
        g->fsm.snapshot_async =
            u->snapshot_async != NULL ? fsm_snapshot_async : NULL;
    }
}

/* ---- start / close ------------------------------------------------------ */

/* mkdir -p; 0 or errno. */
static int mkdir_p(const char *dir)
{
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(path)) {
        return ENAMETOOLONG;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] == '/' || path[i] == '\0') {
            char c = path[i];
            path[i] = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST) {
                return errno;
            }
            path[i] = c;
        }
    }
    return 0;
}

/* raft_uv may still have file-system work in flight (segment
 * finalization) when raft's close callback fires; releasing its state then
 * let a late callback touch freed memory. The release waits this long. */
#define CLOSE_GRACE_MS 1000

/* raft_uv 0.15 can report its close twice: uvMaybeFireCloseCb runs again
 * when an open segment's writer finishes closing after every other piece
 * had (seen on SIGTERM after an idle period: raft's close callback then
 * freed its address twice, "double free detected in tcache 2"). The io's
 * close is wrapped so the callback raft gave it runs once; the group
 * outlives a late second report by CLOSE_GRACE_MS. */
static void io_close_once_cb(struct raft_io *io)
{
    struct raft *r = io->data;
    struct tr_raft_group *g = r->data;
    if (g->io_closed) {
        return;
    }
    g->io_closed = true;
    g->io_close_cb(io);
}

static void io_close_wrapper(struct raft_io *io, raft_io_close_cb cb)
{
    struct raft *r = io->data;
    struct tr_raft_group *g = r->data;
    g->io_close_cb = cb;
    g->uv_close(io, io_close_once_cb);
}

/* libraft 0.15 mishandles an AppendEntries whose prev_log_index lies
 * below the follower's compacted log (a leader probing from match_index +
 * 1 = 1 after a failed send, to a follower that restarted from a
 * snapshot): logTermOf() reports the compacted entries as absent, so they
 * are appended again at the end of the in-memory log under the wrong
 * indices and the group stalls (seen: a replica silent for 30 s after a
 * restart). Every entry up to the follower's snapshot is committed, so it
 * equals the leader's (Leader Completeness): such a message is trimmed to
 * start right after the snapshot, which the follower matches, before raft
 * sees it. Messages of an older term are left alone (raft rejects them). */
bool tr_raft_trim_append(const struct raft *r, struct raft_message *m)
{
    if (m->type != RAFT_IO_APPEND_ENTRIES) {
        return false;
    }
    struct raft_append_entries *a = &m->append_entries;
    raft_index snap = r->log.snapshot.last_index;
    if (snap == 0 || a->prev_log_index >= snap || a->term < r->current_term) {
        return false;
    }
    raft_index drop = snap - a->prev_log_index; /* entries <= snap */
    if (drop >= a->n_entries) {
        if (a->n_entries > 0 && a->entries[0].batch != NULL) {
            raft_free(a->entries[0].batch); /* raft frees it only if n > 0 */
        }
        a->n_entries = 0;
    } else {
        memmove(a->entries, a->entries + drop,
                (a->n_entries - (unsigned)drop) * sizeof(*a->entries));
        a->n_entries -= (unsigned)drop;
    }
    a->prev_log_index = snap;
    a->prev_log_term = r->log.snapshot.last_term;
    return true;
}

static void io_recv_wrapper(struct raft_io *io, struct raft_message *m)
{
    struct raft *r = io->data;
    struct tr_raft_group *g = r->data;
    if (tr_raft_trim_append(r, m)) {
        g->trimmed++;
    }
    g->raft_recv(io, m);
}

static int io_start_wrapper(struct raft_io *io,
                            unsigned msecs,
                            raft_io_tick_cb tick,
                            raft_io_recv_cb recv)
{
    struct raft *r = io->data;
    struct tr_raft_group *g = r->data;
    g->raft_recv = recv;
    return g->uv_start(io, msecs, tick, io_recv_wrapper);
}

static void poll_close_cb(uv_handle_t *h)
{
    struct tr_raft_group *g = h->data;
    void (*cb)(void *) = g->close_cb;
    void *arg = g->close_arg;
    tr_free(g);
    if (cb != NULL) {
        cb(arg);
    }
}

static void release_cb(uv_timer_t *t)
{
    struct tr_raft_group *g = t->data;
    raft_uv_close(&g->io);
    tr_raft_transport_close(&g->transport);
    uv_close((uv_handle_t *)&g->poll, poll_close_cb);
}

static void raft_closed_cb(struct raft *r)
{
    struct tr_raft_group *g = r->data;
    /* the poll timer doubles as the release timer */
    uv_timer_start(&g->poll, release_cb, CLOSE_GRACE_MS, 0);
}

void tr_raft_group_close(struct tr_raft_group *g,
                         void (*cb)(void *arg),
                         void *arg)
{
    if (g->closing) {
        return;
    }
    g->closing = true;
    g->close_cb = cb;
    g->close_arg = arg;
    uv_timer_stop(&g->poll);
    raft_close(&g->raft, raft_closed_cb);
}

static int check_config(const struct tr_raft_group_config *cfg, char *errmsg)
{
    if (cfg == NULL || cfg->version != 1) {
        return tr_errf(TR_EINVAL, errmsg, "raft group: config version");
    }
    if (!tr_raft_name_valid(cfg->name)) {
        return tr_errf(TR_EINVAL, errmsg, "raft group: bad name %s",
                       cfg->name != NULL ? cfg->name : "(null)");
    }
    if (cfg->dir == NULL || cfg->dir[0] == '\0') {
        return tr_errf(TR_EINVAL, errmsg, "raft group %s: no dir", cfg->name);
    }
    if (cfg->id == 0 || cfg->address == NULL || cfg->address[0] == '\0' ||
        strlen(cfg->address) > TR_RAFT_ADDRESS_MAX) {
        return tr_errf(TR_EINVAL, errmsg, "raft group %s: bad id or address",
                       cfg->name);
    }
    if (cfg->fsm == NULL || cfg->fsm->apply == NULL || cfg->fsm->version < 1 ||
        cfg->fsm->version > 3) {
        return tr_errf(TR_EINVAL, errmsg, "raft group %s: bad fsm", cfg->name);
    }
    return 0;
}

static int do_bootstrap(struct tr_raft_group *g,
                        const struct tr_raft_server *servers,
                        size_t n,
                        char *errmsg)
{
    struct raft_configuration conf;
    int rv = 0;
    raft_configuration_init(&conf);
    for (size_t i = 0; i < n; i++) {
        rv = raft_configuration_add(&conf, servers[i].id, servers[i].address,
                                    servers[i].role);
        if (rv != 0) {
            rv = tr_errf(map_raft_err(rv), errmsg,
                         "raft group %s: bootstrap server %llu: %s", g->name,
                         (unsigned long long)servers[i].id, raft_strerror(rv));
            goto out;
        }
    }
    rv = raft_bootstrap(&g->raft, &conf);
    if (rv == RAFT_CANTBOOTSTRAP) {
        rv = 0; /* already has state: keep it */
    } else if (rv != 0) {
        rv = tr_errf(map_raft_err(rv), errmsg, "raft group %s: bootstrap: %s",
                     g->name, raft_errmsg(&g->raft));
    }
out:
    raft_configuration_close(&conf);
    return rv;
}

/* A bootstrap that a crash cut short leaves raft_uv's metadata (term 1, no
 * vote) without the first segment holding the configuration: raft then
 * refuses to bootstrap again ("already has state") and the replica never
 * elects. When dir holds nothing but such metadata files, they go, and the
 * bootstrap runs again (no vote was cast, so nothing is forgotten). */
static void undo_cut_bootstrap(const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    bool only_meta = true, any = false;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && only_meta) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        bool meta = strcmp(de->d_name, "metadata1") == 0 ||
                    strcmp(de->d_name, "metadata2") == 0;
        only_meta = meta;
        any = any || meta;
    }
    closedir(d);
    if (!only_meta || !any) {
        return;
    }
    for (int i = 1; i <= 2; i++) {
        char path[2400];
        snprintf(path, sizeof(path), "%s/metadata%d", dir, i);
        FILE *f = fopen(path, "rb");
        if (f == NULL) {
            continue;
        }
        uint8_t b[32];
        size_t got = fread(b, 1, sizeof(b), f);
        fclose(f);
        uint64_t term = 0, vote = 0;
        for (int k = 7; got == sizeof(b) && k >= 0; k--) {
            term = term << 8 | b[16 + k]; /* little-endian u64s: format, */
            vote = vote << 8 | b[24 + k]; /* version, term, vote */
        }
        if (got != sizeof(b) || term > 1 || vote != 0) {
            return; /* it took part in an election: keep it */
        }
    }
    for (int i = 1; i <= 2; i++) {
        char path[2400];
        snprintf(path, sizeof(path), "%s/metadata%d", dir, i);
        unlink(path);
    }
    tr_log_warn("raft group: bootstrap cut short by a crash; done again",
                "group=%s", name);
}

int tr_raft_group_start(uv_loop_t *loop,
                        struct tr_raft_mux *mux,
                        const struct tr_raft_group_config *cfg,
                        const struct tr_raft_server *bootstrap,
                        size_t n,
                        struct tr_raft_group **out,
                        char *errmsg)
{
    int rv = check_config(cfg, errmsg);
    if (rv != 0) {
        return rv;
    }
    int e = mkdir_p(cfg->dir);
    if (e != 0) {
        return tr_errf(TR_EIO, errmsg, "raft group %s: mkdir %s: %s", cfg->name,
                       cfg->dir, strerror(e));
    }
    if (bootstrap != NULL && n > 0) {
        undo_cut_bootstrap(cfg->dir, cfg->name);
    }
    struct tr_raft_group *g = tr_calloc(1, sizeof(*g));
    if (g == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    g->loop = loop;
    snprintf(g->name, sizeof(g->name), "%s", cfg->name);
    g->on_leader_change = cfg->on_leader_change;
    g->arg = cfg->arg;
    wrap_fsm(g, cfg->fsm);

    rv = tr_raft_transport_init(&g->transport, mux, cfg->name);
    if (rv != 0) {
        rv = tr_errf(rv, errmsg, "raft group %s: transport (duplicate name?)",
                     cfg->name);
        goto err_after_alloc;
    }
    rv = raft_uv_init(&g->io, loop, cfg->dir, &g->transport);
    if (rv != 0) {
        rv = tr_errf(map_raft_err(rv), errmsg, "raft group %s: raft_uv: %s",
                     cfg->name, g->io.errmsg);
        goto err_after_transport;
    }
    /* raft_uv 0.15 implements async_work (version 2 of raft_io) but still
     * says version 1, and raft refuses asynchronous snapshots (shard state
     * machines take theirs off the loop) with a version-1 io */
    if (g->io.async_work != NULL && g->io.version < 2) {
        g->io.version = 2;
    }
    raft_uv_set_segment_size(
        &g->io, cfg->segment_size != 0 ? cfg->segment_size : 1024 * 1024);
    unsigned election = cfg->election_ms != 0 ? cfg->election_ms : 300;
    unsigned heartbeat = cfg->heartbeat_ms != 0 ? cfg->heartbeat_ms : 50;
    /* raft_uv retries a failed connect after 1 s by default; reconnect to
     * a restarted peer within one election timeout instead. */
    raft_uv_set_connect_retry_delay(&g->io, election);
    g->uv_close = g->io.close;
    g->io.close = io_close_wrapper;
    g->uv_start = g->io.start;
    g->io.start = io_start_wrapper;
    rv = raft_init(&g->raft, &g->io, &g->fsm, cfg->id, cfg->address);
    if (rv != 0) {
        /* raft_init fails before or inside io->init; transport->init is
         * its last fallible step, so nothing asynchronous is open. */
        rv = tr_errf(map_raft_err(rv), errmsg, "raft group %s: init: %s",
                     cfg->name, raft_errmsg(&g->raft));
        goto err_after_io;
    }
    g->raft.data = g;
    uv_timer_init(loop, &g->poll);
    g->poll.data = g;
    raft_set_election_timeout(&g->raft, election);
    raft_set_heartbeat_timeout(&g->raft, heartbeat);
    raft_set_pre_vote(&g->raft, cfg->pre_vote);
    /* snapshots are small markers (state machines copy their data later,
     * on their own): an InstallSnapshot lost on the way (the follower was
     * restarting) is resent after a few election timeouts, not raft's
     * default 30 s */
    raft_set_install_snapshot_timeout(
        &g->raft, election * 4 > 2000 ? election * 4 : 2000);
    g->snapshot_threshold =
        cfg->snapshot_threshold != 0 ? cfg->snapshot_threshold : 1024;
    g->snapshot_trailing =
        cfg->snapshot_trailing != 0 ? cfg->snapshot_trailing : 512;
    g->snapshot_bytes = cfg->snapshot_bytes;
    g->snapshot_trailing_bytes = cfg->snapshot_trailing_bytes;
    raft_set_snapshot_threshold(&g->raft, g->snapshot_threshold);
    raft_set_snapshot_trailing(&g->raft, g->snapshot_trailing);

    if (bootstrap != NULL && n > 0) {
        rv = do_bootstrap(g, bootstrap, n, errmsg);
        if (rv != 0) {
            goto err_after_raft;
        }
    }
    rv = raft_start(&g->raft);
    if (rv != 0) {
        rv = tr_errf(map_raft_err(rv), errmsg, "raft group %s: start: %s",
                     cfg->name, raft_errmsg(&g->raft));
        goto err_after_raft;
    }
    uv_timer_start(&g->poll, poll_cb, POLL_MS, POLL_MS);
    *out = g;
    return 0;

err_after_raft:
    /* Asynchronous from here: g is freed by the close callbacks. */
    tr_raft_group_close(g, NULL, NULL);
    return rv;
err_after_io:
    raft_uv_close(&g->io);
err_after_transport:
    tr_raft_transport_close(&g->transport);
err_after_alloc:
    tr_free(g);
    return rv;
}

/* ---- requests ----------------------------------------------------------- */

static struct greq *greq_new(struct tr_raft_group *g,
                             tr_raft_apply_cb cb,
                             void *arg)
{
    struct greq *q = tr_calloc(1, sizeof(*q));
    if (q != NULL) {
        q->g = g;
        q->cb = cb;
        q->arg = arg;
    }
    return q;
}

static void apply_done(struct raft_apply *req, int status, void *result)
{
    struct greq *q = req->data;
    tr_raft_apply_cb cb = q->cb;
    void *arg = q->arg;
    tr_free(q);
    if (cb != NULL) {
        cb(arg, map_raft_err(status), status == 0 ? result : NULL);
    }
}

int tr_raft_group_apply(struct tr_raft_group *g,
                        const void *buf,
                        size_t len,
                        tr_raft_apply_cb cb,
                        void *arg)
{
    if (g->closing) {
        return TR_EUNAVAIL;
    }
    if (raft_state(&g->raft) != RAFT_LEADER) {
        return TR_EUNAVAIL;
    }
    struct greq *q = greq_new(g, cb, arg);
    if (q == NULL) {
        return TR_ENOMEM;
    }
    if (len > UINT32_MAX - 16) {
        tr_free(q);
        return TR_ETOOLARGE;
    }
    struct raft_buffer b;
    b.len = frame_len(len);
    b.base = raft_malloc(b.len);
    if (b.base == NULL) {
        tr_free(q);
        return TR_ENOMEM;
    }
    memset(b.base, 0, b.len);
    if (len > 0) {
        memcpy(b.base, buf, len);
    }
    uint8_t *tail = (uint8_t *)b.base + b.len - 4;
    tail[0] = (uint8_t)len;
    tail[1] = (uint8_t)(len >> 8);
    tail[2] = (uint8_t)(len >> 16);
    tail[3] = (uint8_t)(len >> 24);
    q->u.apply.data = q;
    int rv = raft_apply(&g->raft, &q->u.apply, &b, 1, apply_done);
    if (rv != 0) {
        /* raft 0.15 frees the entry itself only when it failed after
         * appending it (replication trigger, an I/O error); NOTLEADER and
         * NOMEM come before that and leave the buffer to us. */
        if (rv == RAFT_NOTLEADER || rv == RAFT_NOMEM) {
            raft_free(b.base);
        }
        tr_free(q);
        return map_raft_err(rv);
    }
    return 0;
}

static void change_done(struct raft_change *req, int status)
{
    struct greq *q = req->data;
    if (status == 0 && q->role >= 0 && q->role != RAFT_SPARE &&
        !q->g->closing) {
        /* raft_add made it a spare; now give it its role. */
        int role = q->role;
        q->role = -1;
        int rv =
            raft_assign(&q->g->raft, &q->u.change, q->id, role, change_done);
        if (rv == 0) {
            return;
        }
        status = rv;
    }
    tr_raft_apply_cb cb = q->cb;
    void *arg = q->arg;
    tr_free(q);
    if (cb != NULL) {
        cb(arg, map_raft_err(status), NULL);
    }
}

int tr_raft_group_add(struct tr_raft_group *g,
                      raft_id id,
                      const char *address,
                      int role,
                      tr_raft_apply_cb cb,
                      void *arg)
{
    if (g->closing) {
        return TR_EUNAVAIL;
    }
    if (id == 0 || address == NULL ||
        (role != RAFT_VOTER && role != RAFT_STANDBY && role != RAFT_SPARE)) {
        return TR_EINVAL;
    }
    struct greq *q = greq_new(g, cb, arg);
    if (q == NULL) {
        return TR_ENOMEM;
    }
    q->id = id;
    q->role = role;
    q->u.change.data = q;
    int rv = raft_add(&g->raft, &q->u.change, id, address, change_done);
    if (rv != 0) {
        tr_free(q);
        return map_raft_err(rv);
    }
    return 0;
}

int tr_raft_group_remove(struct tr_raft_group *g,
                         raft_id id,
                         tr_raft_apply_cb cb,
                         void *arg)
{
    if (g->closing) {
        return TR_EUNAVAIL;
    }
    struct greq *q = greq_new(g, cb, arg);
    if (q == NULL) {
        return TR_ENOMEM;
    }
    q->role = -1;
    q->u.change.data = q;
    int rv = raft_remove(&g->raft, &q->u.change, id, change_done);
    if (rv != 0) {
        tr_free(q);
        return map_raft_err(rv);
    }
    return 0;
}

static void transfer_done(struct raft_transfer *req)
{
    struct greq *q = req->data;
    struct tr_raft_group *g = q->g;
    /* raft reports no status: success when this node is no longer the
     * leader (and, for a named target, when it is the leader now). */
    raft_id leader = 0;
    const char *addr = NULL;
    raft_leader(&g->raft, &leader, &addr);
    int status = 0;
    if (raft_state(&g->raft) == RAFT_LEADER ||
        (q->id != 0 && leader != 0 && leader != q->id)) {
        status = TR_ETIMEOUT;
    }
    tr_raft_apply_cb cb = q->cb;
    void *arg = q->arg;
    tr_free(q);
    check_leader(g);
    if (cb != NULL) {
        cb(arg, status, NULL);
    }
}

int tr_raft_group_transfer(struct tr_raft_group *g,
                           raft_id id,
                           tr_raft_apply_cb cb,
                           void *arg)
{
    if (g->closing) {
        return TR_EUNAVAIL;
    }
    struct greq *q = greq_new(g, cb, arg);
    if (q == NULL) {
        return TR_ENOMEM;
    }
    q->id = id;
    q->u.transfer.data = q;
    int rv = raft_transfer(&g->raft, &q->u.transfer, id, transfer_done);
    if (rv != 0) {
        tr_free(q);
        return map_raft_err(rv);
    }
    return 0;
}

/* ---- queries ------------------------------------------------------------ */

raft_id tr_raft_group_leader(struct tr_raft_group *g, const char **address)
{
    raft_id id = 0;
    const char *addr = NULL;
    raft_leader(&g->raft, &id, &addr);
    check_leader(g);
    if (address != NULL) {
        *address = addr;
    }
    return id;
}

bool tr_raft_group_is_leader(struct tr_raft_group *g)
{
    return raft_state(&g->raft) == RAFT_LEADER;
}

const char *tr_raft_group_name(struct tr_raft_group *g)
{
    return g->name;
}

struct raft *tr_raft_group_raft(struct tr_raft_group *g)
{
    return &g->raft;
}

void tr_raft_group_stats(struct tr_raft_group *g,
                         struct tr_raft_group_stats *st)
{
    check_leader(g);
    memset(st, 0, sizeof(*st));
    st->state = raft_state(&g->raft);
    st->term = g->raft.current_term;
    st->commit_index = g->raft.commit_index;
    st->last_applied = raft_last_applied(&g->raft);
    st->last_index = raft_last_index(&g->raft);
    st->leader_changes = g->leader_changes;
    st->appends_trimmed = g->trimmed;
    st->snapshots = g->snapshots;
    st->bytes_replicated = g->bytes_replicated;
    st->leader = g->leader;
}

size_t tr_raft_group_servers(struct tr_raft_group *g,
                             struct tr_raft_server *out,
                             size_t max)
{
    const struct raft_configuration *c = &g->raft.configuration;
    size_t n = 0;
    for (unsigned i = 0; i < c->n && n < max; i++) {
        out[n].id = c->servers[i].id;
        snprintf(out[n].address, sizeof(out[n].address), "%s",
                 c->servers[i].address != NULL ? c->servers[i].address : "");
        out[n].role = c->servers[i].role;
        n++;
    }
    return n;
}

static void group__barrier_done(struct raft_barrier *req, int status)
{
    (void)status;
    tr_free(req);
}

uint64_t tr_raft_group_snapshot_soon(struct tr_raft_group *g)
{
    uint64_t before = g->raft.log.snapshot.last_index;
    if (g->closing || raft_last_applied(&g->raft) <= before) {
        return before; /* nothing new since the last snapshot */
    }
    g->snap_forced = true;
    raft_set_snapshot_threshold(&g->raft, 1);
    if (raft_state(&g->raft) == RAFT_LEADER) {
        struct raft_barrier *req = tr_calloc(1, sizeof(*req));
        if (req != NULL &&
            raft_barrier(&g->raft, req, group__barrier_done) != 0) {
            tr_free(req);
        }
    }
    return before;
}

uint64_t tr_raft_group_snapshot_index(struct tr_raft_group *g)
{
    return g->raft.log.snapshot.last_index;
}
