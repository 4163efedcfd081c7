/* shard_fsm.c - a shard's Raft state machine: an apply queue in front of
 * local storage, drained in log order by a storage thread (contract in
 * raft/shard_fsm.h). */
#include "raft/shard_fsm.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/log.h"
#include "raft/group.h"
#include "storage/entry.h"
#include "storage/seal.h"
#include "storage/keys.h"

#define FSM_VERIFY_KEEP 16

enum fsm_kind { ITEM_ENTRY, ITEM_RESTORE, ITEM_CHECKPOINT };

/* One unit of work in the queue. Freed when its last reference goes: the
 * queue's (dropped by the storage thread once done) and, for entries, the
 * ticket's (f->last, dropped when the next entry replaces it). */
struct fsm_item {
    enum fsm_kind kind;
    uint64_t index; /* entry: Raft index; restore: the marker's index */
    void *buf;
    size_t len;
    size_t raft_len; /* entry: its size in the Raft log (queued bytes) */
    atomic_int refs;
    /* under f->mu */
    bool done;
    int rv;
    struct tr_apply_result res; /* checkpoint: res.index = durable index */
    tr_shard_applied_cb cb;
    void *cb_arg;
    struct tr_shard_fsm *f;
    struct fsm_item *next;
};

/* An entry this node proposed, in the form apply reads without
 * decompressing (tr_shard_fsm_hint). Loop thread only. */
struct fsm_hint {
    uint64_t index;
    struct tr_buf entry; /* the bytes proposed */
    struct tr_buf plain; /* the same entry, uncompressed */
    struct fsm_hint *next;
};
#define FSM_HINTS_MAX 32

struct fsm_verify {
    uint64_t request;
    uint64_t index;
    uint64_t checksum;
    bool deferred; /* a seal job was pending: its checksum answers */
};

struct fsm_waiter {
    uint64_t index;
    void (*cb)(void *arg, int rv);
    void *arg;
    struct fsm_waiter *next;
};

struct tr_shard_fsm {
    struct raft_fsm fsm; /* handed to raft (version 3) */
    struct tr_storage *storage;
    struct tr_shard_id id;
    struct tr_lane *lane;
    pthread_mutex_t mu;
    pthread_cond_t cv;     /* checkpoint items done */
    struct fsm_item *head; /* queue (under mu) */
    struct fsm_item *tail;
    struct tr_shard_fsm_state st; /* under mu */
    bool closing;                 /* under mu */
    struct fsm_item *last;        /* loop: the newest entry's ticket */
    uint64_t snapshot_target;     /* loop: index the pending marker names */
    struct fsm_verify verify[FSM_VERIFY_KEEP]; /* under mu */
    unsigned next_verify;
    struct fsm_waiter *waiters; /* under mu: tr_shard_fsm_when_index */
    struct fsm_hint *hints;     /* loop: by index */
    size_t n_hints;
};

static void item__unref(struct fsm_item *it)
{
    if (it != NULL && atomic_fetch_sub(&it->refs, 1) == 1) {
        tr_free(it->buf);
        tr_free(it);
    }
}

/* ---- markers ------------------------------------------------------------ */

void tr_shard_marker_encode(uint8_t out[TR_SHARD_MARKER_SIZE],
                            uint64_t index,
                            const struct tr_shard_id *id)
{
    memcpy(out, "TRSM", 4);
    out[4] = 2;
    tr_put_u64be(out + 5, index);
    out[13] = id->signal;
    tr_put_u64be(out + 14, tr_key_time(id->window));
    tr_put_u16be(out + 22, id->slot);
}

int tr_shard_marker_decode(const void *buf,
                           size_t len,
                           uint64_t *index,
                           struct tr_shard_id *id)
{
    const uint8_t *p = buf;
    if (len < 5 || memcmp(p, "TRSM", 4) != 0) {
        return TR_ECORRUPT;
    }
    if (p[4] == 1 && len == TR_SHARD_MARKER_V1_SIZE) {
        *index = tr_get_u64be(p + 5);
        id->signal = TR_SIGNAL_METRICS;
        id->window = tr_key_time_decode(tr_get_u64be(p + 13));
        id->slot = tr_get_u16be(p + 21);
        return 0;
    }
    if (p[4] != 2 || len != TR_SHARD_MARKER_SIZE || !tr_signal_valid(p[13])) {
        return TR_ECORRUPT;
    }
    *index = tr_get_u64be(p + 5);
    id->signal = p[13];
    id->window = tr_key_time_decode(tr_get_u64be(p + 14));
    id->slot = tr_get_u16be(p + 22);
    return 0;
}

/* ---- the queue ------------------------------------------------------------
 */

/* Caller holds f->mu. */
static void fsm__push(struct tr_shard_fsm *f, struct fsm_item *it)
{
    it->f = f;
    it->next = NULL;
    if (f->tail != NULL) {
        f->tail->next = it;
    } else {
        f->head = it;
    }
    f->tail = it;
    f->st.queued++;
    f->st.queued_bytes += it->raft_len;
}

/* Caller holds f->mu; it is the head. */
static void fsm__pop(struct tr_shard_fsm *f, struct fsm_item *it)
{
    f->head = it->next;
    if (f->head == NULL) {
        f->tail = NULL;
    }
    f->st.queued--;
    f->st.queued_bytes -= it->raft_len;
}

/* Marks it done (caller holds f->mu); returns the callback to run after
 * unlocking (NULL when none is registered yet). */
static tr_shard_applied_cb fsm__done_locked(struct tr_shard_fsm *f,
                                            struct fsm_item *it,
                                            int rv)
{
    it->done = true;
    it->rv = rv;
    if (it->kind == ITEM_CHECKPOINT) {
        pthread_cond_broadcast(&f->cv);
        return NULL;
    }
    return it->cb;
}

/* Completes every queued checkpoint with rv (the queue is held: a snapshot
 * must not wait for it). Caller holds f->mu. */
static void fsm__fail_checkpoints(struct tr_shard_fsm *f, int rv)
{
    struct fsm_item **pp = &f->head;
    f->tail = NULL;
    while (*pp != NULL) {
        struct fsm_item *it = *pp;
        if (it->kind == ITEM_CHECKPOINT) {
            *pp = it->next;
            f->st.queued--;
            fsm__done_locked(f, it, rv);
            item__unref(it);
            continue;
        }
        f->tail = it;
        pp = &it->next;
    }
}

/* Storage thread: applies one entry. */
static int fsm__apply_entry(struct tr_shard_fsm *f,
                            struct fsm_item *it,
                            char *err)
{
    uint64_t request;
    bool seal = tr_entry_seal_decode(it->buf, it->len, &request) == 0;
    if (seal) {
        /* the marker first (storage/seal.h), then the checksum as for a
         * verify entry */
        int rv = tr_storage_shard_apply(f->storage, &f->id, it->index, it->buf,
                                        it->len, &it->res, err);
        if (rv == TR_EIO) {
            return rv;
        }
    }
    if (seal || tr_entry_verify_decode(it->buf, it->len, &request) == 0) {
        it->res.index = it->index;
        if (tr_storage_shard_applied(f->storage, &f->id, false) > it->index) {
            /* storage is past the entry (a copy loaded a later index, a
             * restart replays what the data covers): the shard's checksum
             * at this index is gone; report none rather than another */
            return 0;
        }
        uint64_t durable = 0, sum = 0;
        bool deferred = tr_storage_shard_seal_pending(f->storage, &f->id);
        int rv = deferred ? 0
                          : tr_storage_shard_verify(f->storage, &f->id,
                                                    &durable, &sum);
        if (rv != 0) {
            snprintf(err, TR_ERRMSG_SIZE, "verify checkpoint failed");
            return TR_EIO;
        }
        pthread_mutex_lock(&f->mu);
        struct fsm_verify *v = &f->verify[f->next_verify++ % FSM_VERIFY_KEEP];
        v->request = request;
        v->index = it->index;
        v->checksum = sum;
        v->deferred = deferred;
        pthread_mutex_unlock(&f->mu);
        return 0;
    }
    int rv = tr_storage_shard_apply(f->storage, &f->id, it->index, it->buf,
                                    it->len, &it->res, err);
    if (rv != 0 && rv != TR_EIO) {
        /* undecodable or unsupported: skipped alike on every replica */
        tr_log_warn("shard entry not applied",
                    "signal=%s window=%" PRId64 " slot=%u index=%" PRIu64
                    " err=\"%s\"",
                    tr_signal_name(f->id.signal), f->id.window, f->id.slot,
                    it->index, err);
    }
    return rv;
}

/* Storage thread: a marker from raft (restart or snapshot install). */
static bool fsm__restore(struct tr_shard_fsm *f, struct fsm_item *it)
{
    uint64_t have = tr_storage_shard_applied(f->storage, &f->id, false);
    if (have >= it->index) {
        return false; /* our own data covers it (restart) */
    }
    tr_log_info("shard needs a copy from another replica",
                "signal=%s window=%" PRId64 " slot=%u have=%" PRIu64
                " need=%" PRIu64,
                tr_signal_name(f->id.signal), f->id.window, f->id.slot, have,
                it->index);
    return true;
}

/* Fires the waiters whose index storage reached (all of them with rv when
 * rv != 0). */
static void fsm__fire_waiters(struct tr_shard_fsm *f, int rv)
{
    pthread_mutex_lock(&f->mu);
    struct fsm_waiter *ready = NULL, **pp = &f->waiters;
    while (*pp != NULL) {
        struct fsm_waiter *w = *pp;
        if (rv != 0 || w->index <= f->st.applied_index) {
            *pp = w->next;
            w->next = ready;
            ready = w;
        } else {
            pp = &w->next;
        }
    }
    pthread_mutex_unlock(&f->mu);
    while (ready != NULL) {
        struct fsm_waiter *w = ready;
        ready = w->next;
        w->cb(w->arg, rv);
        tr_free(w);
    }
}

int tr_shard_fsm_when_index(struct tr_shard_fsm *f,
                            uint64_t index,
                            void (*cb)(void *arg, int rv),
                            void *arg)
{
    pthread_mutex_lock(&f->mu);
    bool now = f->st.applied_index >= index;
    bool closing = f->closing;
    struct fsm_waiter *w = NULL;
    if (!now && !closing) {
        w = tr_calloc(1, sizeof(*w));
        if (w == NULL) {
            pthread_mutex_unlock(&f->mu);
            return TR_ENOMEM;
        }
        w->index = index;
        w->cb = cb;
        w->arg = arg;
        w->next = f->waiters;
        f->waiters = w;
    }
    pthread_mutex_unlock(&f->mu);
    if (now || closing) {
        cb(arg, now ? 0 : TR_ECANCELED);
    }
    return 0;
}

static void fsm__cancel_all(struct tr_shard_fsm *f)
{
    for (;;) {
        pthread_mutex_lock(&f->mu);
        struct fsm_item *it = f->head;
        if (it == NULL) {
            pthread_mutex_unlock(&f->mu);
            return;
        }
        fsm__pop(f, it);
        tr_shard_applied_cb cb = fsm__done_locked(f, it, TR_ECANCELED);
        pthread_mutex_unlock(&f->mu);
        if (cb != NULL) {
            cb(it->cb_arg, TR_ECANCELED, &it->res);
        }
        item__unref(it);
    }
}

/* The lane's run function: drains the queue in order. */
static void fsm__run(void *arg)
{
    struct tr_shard_fsm *f = arg;
    char err[TR_ERRMSG_SIZE];
    for (;;) {
        pthread_mutex_lock(&f->mu);
        if (f->closing) {
            pthread_mutex_unlock(&f->mu);
            fsm__cancel_all(f);
            fsm__fire_waiters(f, TR_ECANCELED);
            return;
        }
        struct fsm_item *it = f->head;
        bool held = f->st.failed || f->st.catching_up;
        pthread_mutex_unlock(&f->mu);
        if (it == NULL || held) {
            return;
        }
        int rv = 0;
        bool copy = false;
        err[0] = '\0';
        switch (it->kind) {
            case ITEM_ENTRY:
                rv = fsm__apply_entry(f, it, err);
                break;
            case ITEM_RESTORE:
                copy = fsm__restore(f, it);
                break;
            case ITEM_CHECKPOINT:
                rv = tr_storage_shard_checkpoint(f->storage, &f->id,
                                                 &it->res.index);
                break;
        }
        pthread_mutex_lock(&f->mu);
        if (it->kind == ITEM_ENTRY && rv == TR_EIO) {
            /* fail-stop: the entry stays queued, nothing advances */
            f->st.failed = true;
            snprintf(f->st.failure, sizeof(f->st.failure), "%.150s", err);
            fsm__fail_checkpoints(f, TR_EIO);
            pthread_mutex_unlock(&f->mu);
            tr_log_error("shard replica stopped: storage write failed",
                         "signal=%s window=%" PRId64 " slot=%u index=%" PRIu64
                         " err=\"%s\"",
                         tr_signal_name(f->id.signal), f->id.window, f->id.slot,
                         it->index, err);
            return;
        }
        fsm__pop(f, it);
        if (it->kind == ITEM_ENTRY) {
            /* entries a copy covered are skipped below its index */
            if (it->index > f->st.applied_index) {
                f->st.applied_index = it->index;
            }
            f->st.applied_entries++;
            f->st.applied_bytes += it->len;
        }
        if (copy) {
            f->st.catching_up = true;
            f->st.copy_target = it->index;
            fsm__fail_checkpoints(f, TR_EUNAVAIL);
        }
        tr_shard_applied_cb cb = fsm__done_locked(f, it, rv);
        bool waiters = f->waiters != NULL;
        pthread_mutex_unlock(&f->mu);
        if (cb != NULL) {
            cb(it->cb_arg, rv, &it->res);
        }
        item__unref(it);
        if (waiters) {
            fsm__fire_waiters(f, 0);
        }
    }
}

/* ---- raft's side (loop thread) ------------------------------------------ */

static void fsm__hint_free(struct fsm_hint *h)
{
    tr_buf_free(&h->entry);
    tr_buf_free(&h->plain);
    tr_free(h);
}

int tr_shard_fsm_hint(struct tr_shard_fsm *f,
                      uint64_t index,
                      const void *entry,
                      size_t len,
                      struct tr_buf *plain)
{
    if (plain->len == 0 || f->n_hints >= FSM_HINTS_MAX) {
        return 0;
    }
    struct fsm_hint *h = tr_calloc(1, sizeof(*h));
    if (h == NULL) {
        return TR_ENOMEM;
    }
    h->index = index;
    tr_buf_init(&h->entry);
    if (tr_buf_append(&h->entry, entry, len) != 0) {
        fsm__hint_free(h);
        return TR_ENOMEM;
    }
    h->plain = *plain;
    tr_buf_init(plain);
    struct fsm_hint **pp = &f->hints;
    while (*pp != NULL && (*pp)->index < index) {
        pp = &(*pp)->next;
    }
    h->next = *pp;
    *pp = h;
    f->n_hints++;
    return 0;
}

/* The hint of the entry at index when it holds exactly the bytes raft
 * applies (an entry proposed at an index another leader then filled is
 * not): its plain form moves to *plain. Hints at or below index go. */
static void fsm__take_hint(struct tr_shard_fsm *f,
                           uint64_t index,
                           const struct raft_buffer *buf,
                           struct tr_buf *plain)
{
    while (f->hints != NULL && f->hints->index <= index) {
        struct fsm_hint *h = f->hints;
        f->hints = h->next;
        f->n_hints--;
        if (h->index == index && h->entry.len == buf->len &&
            memcmp(h->entry.data, buf->base, buf->len) == 0) {
            *plain = h->plain;
            tr_buf_init(&h->plain);
        }
        fsm__hint_free(h);
    }
}

static int fsm__raft_apply(struct raft_fsm *fsm,
                           const struct raft_buffer *buf,
                           void **result)
{
    struct tr_shard_fsm *f = fsm->data;
    uint64_t index = tr_raft_group_applying_index();
    struct fsm_item *it = tr_calloc(1, sizeof(*it));
    struct tr_buf plain;
    tr_buf_init(&plain);
    fsm__take_hint(f, index, buf, &plain);
    void *copy =
        plain.len > 0 ? plain.data : tr_malloc(buf->len ? buf->len : 1);
    if (it == NULL || copy == NULL) {
        tr_free(it);
        tr_free(copy);
        return RAFT_NOMEM; /* raft applies it again later */
    }
    if (plain.len == 0) {
        memcpy(copy, buf->base, buf->len);
    }
    it->kind = ITEM_ENTRY;
    it->index = index;
    it->buf = copy;
    it->len = plain.len > 0 ? plain.len : buf->len;
    it->raft_len = buf->len;
    it->res.index = it->index;
    atomic_init(&it->refs, 2); /* the queue and the ticket */
    pthread_mutex_lock(&f->mu);
    fsm__push(f, it);
    f->st.queued_index = it->index;
    pthread_mutex_unlock(&f->mu);
    item__unref(f->last);
    f->last = it;
    tr_lane_kick(f->lane);
    *result = it;
    return 0;
}

void tr_shard_fsm_when_applied(void *result, tr_shard_applied_cb cb, void *arg)
{
    struct fsm_item *it = result;
    struct tr_shard_fsm *f = it->f;
    pthread_mutex_lock(&f->mu);
    bool done = it->done;
    if (!done) {
        it->cb = cb;
        it->cb_arg = arg;
    }
    pthread_mutex_unlock(&f->mu);
    if (done) {
        cb(arg, it->rv, &it->res);
    }
}

static int fsm__snapshot(struct raft_fsm *fsm,
                         struct raft_buffer *bufs[],
                         unsigned *n_bufs)
{
    struct tr_shard_fsm *f = fsm->data;
    pthread_mutex_lock(&f->mu);
    bool busy = f->st.catching_up || f->st.failed || f->closing;
    f->snapshot_target = f->st.queued_index;
    pthread_mutex_unlock(&f->mu);
    if (busy) {
        return RAFT_BUSY; /* nothing durable to mark yet */
    }
    struct raft_buffer *b = raft_malloc(sizeof(*b));
    if (b == NULL) {
        return RAFT_NOMEM;
    }
    b->base = raft_malloc(TR_SHARD_MARKER_SIZE);
    if (b->base == NULL) {
        raft_free(b);
        return RAFT_NOMEM;
    }
    b->len = TR_SHARD_MARKER_SIZE;
    memset(b->base, 0, b->len);
    *bufs = b;
    *n_bufs = 1;
    return 0;
}

/* raft's I/O thread pool: waits until the storage thread checkpointed
 * everything up to the target, then writes the marker. */
static int fsm__snapshot_async(struct raft_fsm *fsm,
                               struct raft_buffer *bufs[],
                               unsigned *n_bufs)
{
    struct tr_shard_fsm *f = fsm->data;
    uint64_t target = f->snapshot_target;
    struct fsm_item *it = tr_calloc(1, sizeof(*it));
    if (it == NULL) {
        return RAFT_NOMEM;
    }
    it->kind = ITEM_CHECKPOINT;
    atomic_init(&it->refs, 2); /* the queue and this waiter */
    pthread_mutex_lock(&f->mu);
    if (f->st.catching_up || f->st.failed || f->closing) {
        pthread_mutex_unlock(&f->mu);
        tr_free(it);
        return RAFT_BUSY;
    }
    fsm__push(f, it);
    pthread_mutex_unlock(&f->mu);
    tr_lane_kick(f->lane);
    pthread_mutex_lock(&f->mu);
    while (!it->done) {
        pthread_cond_wait(&f->cv, &f->mu);
    }
    int rv = it->rv;
    uint64_t durable = it->res.index;
    pthread_mutex_unlock(&f->mu);
    item__unref(it);
    if (rv != 0 || durable < target || *n_bufs != 1) {
        return RAFT_IOERR;
    }
    tr_shard_marker_encode((*bufs)[0].base, target, &f->id);
    pthread_mutex_lock(&f->mu);
    f->st.snapshots++;
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static int fsm__snapshot_finalize(struct raft_fsm *fsm,
                                  struct raft_buffer *bufs[],
                                  unsigned *n_bufs)
{
    (void)fsm;
    if (*bufs != NULL) {
        for (unsigned i = 0; i < *n_bufs; i++) {
            raft_free((*bufs)[i].base);
        }
        raft_free(*bufs);
    }
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

static int fsm__raft_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct tr_shard_fsm *f = fsm->data;
    uint64_t index;
    struct tr_shard_id id;
    int rv = tr_shard_marker_decode(buf->base, buf->len, &index, &id);
    if (rv != 0 || !tr_shard_eq(&id, &f->id)) {
        /* on failure raft keeps ownership of the buffer and frees it */
        tr_log_error("bad shard snapshot marker",
                     "signal=%s window=%" PRId64 " slot=%u",
                     tr_signal_name(f->id.signal), f->id.window, f->id.slot);
        return RAFT_CORRUPT;
    }
    struct fsm_item *it = tr_calloc(1, sizeof(*it));
    if (it == NULL) {
        return RAFT_NOMEM;
    }
    raft_free(buf->base);
    it->kind = ITEM_RESTORE;
    it->index = index;
    atomic_init(&it->refs, 1);
    pthread_mutex_lock(&f->mu);
    fsm__push(f, it);
    /* once the queue drained, storage holds everything up to the marker
     * (it had it, or the copy brings it): a snapshot may name it */
    if (index > f->st.queued_index) {
        f->st.queued_index = index;
    }
    f->st.snapshots++;
    pthread_mutex_unlock(&f->mu);
    tr_lane_kick(f->lane);
    return 0;
}

/* ---- owner's side ----------------------------------------------------------
 */

int tr_shard_fsm_new(struct tr_storage *s,
                     struct tr_lanes *lanes,
                     const struct tr_shard_id *id,
                     struct tr_shard_fsm **out)
{
    int rv = tr_storage_shard_claim(s, id);
    if (rv != 0) {
        return rv;
    }
    struct tr_shard_fsm *f = tr_calloc(1, sizeof(*f));
    if (f == NULL) {
        tr_storage_shard_unclaim(s, id);
        return TR_ENOMEM;
    }
    f->storage = s;
    f->id = *id;
    f->fsm.version = 3;
    f->fsm.data = f;
    f->fsm.apply = fsm__raft_apply;
    f->fsm.snapshot = fsm__snapshot;
    f->fsm.restore = fsm__raft_restore;
    f->fsm.snapshot_finalize = fsm__snapshot_finalize;
    f->fsm.snapshot_async = fsm__snapshot_async;
    f->lane = tr_lane_new(lanes, fsm__run, f);
    if (f->lane == NULL) {
        tr_free(f);
        tr_storage_shard_unclaim(s, id);
        return TR_ENOMEM;
    }
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    /* what a previous state machine of the shard left half-done is
     * forgotten: Raft replays it from the durable index */
    tr_storage_shard_reset(s, id);
    f->st.applied_index = tr_storage_shard_applied(s, id, false);
    /* what storage holds counts as queued: a snapshot taken before the
     * first entry arrives (raft replayed only configuration entries or
     * barriers) names it, not 0 */
    f->st.queued_index = f->st.applied_index;
    *out = f;
    return 0;
}

struct raft_fsm *tr_shard_fsm_raft(struct tr_shard_fsm *f)
{
    return &f->fsm;
}

static void fsm__free(void *arg)
{
    struct tr_shard_fsm *f = arg;
    tr_storage_shard_unclaim(f->storage, &f->id);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    tr_free(f);
}

void tr_shard_fsm_stop(struct tr_shard_fsm *f)
{
    pthread_mutex_lock(&f->mu);
    f->closing = true;
    fsm__fail_checkpoints(f, TR_ECANCELED);
    pthread_mutex_unlock(&f->mu);
    tr_lane_kick(f->lane);
}

void tr_shard_fsm_release(struct tr_shard_fsm *f)
{
    tr_shard_fsm_stop(f);
    item__unref(f->last);
    f->last = NULL;
    while (f->hints != NULL) {
        struct fsm_hint *h = f->hints;
        f->hints = h->next;
        fsm__hint_free(h);
    }
    f->n_hints = 0;
    tr_lane_release(f->lane, fsm__free, f);
}

void tr_shard_fsm_state(struct tr_shard_fsm *f, struct tr_shard_fsm_state *st)
{
    pthread_mutex_lock(&f->mu);
    *st = f->st;
    pthread_mutex_unlock(&f->mu);
}

void tr_shard_fsm_copy_done(struct tr_shard_fsm *f, bool ok, uint64_t loaded)
{
    pthread_mutex_lock(&f->mu);
    bool release = ok && f->st.catching_up && loaded >= f->st.copy_target;
    if (release) {
        f->st.catching_up = false;
        f->st.applied_index = loaded;
    }
    pthread_mutex_unlock(&f->mu);
    if (release) {
        tr_log_info("shard caught up by copy",
                    "signal=%s window=%" PRId64 " slot=%u index=%" PRIu64,
                    tr_signal_name(f->id.signal), f->id.window, f->id.slot,
                    loaded);
        tr_lane_kick(f->lane); /* entries above the copy apply now */
        fsm__fire_waiters(f, 0);
    }
}

bool tr_shard_fsm_recopy(struct tr_shard_fsm *f)
{
    pthread_mutex_lock(&f->mu);
    bool start = !f->st.catching_up && !f->st.failed && !f->closing;
    if (start) {
        f->st.catching_up = true;
        f->st.copy_target = f->st.applied_index;
        fsm__fail_checkpoints(f, TR_EUNAVAIL);
    }
    pthread_mutex_unlock(&f->mu);
    if (start) {
        tr_log_warn(
            "shard replica differs from the others: copying it "
            "again from a healthy replica",
            "signal=%s window=%" PRId64 " slot=%u",
            tr_signal_name(f->id.signal), f->id.window, f->id.slot);
    }
    return start;
}

int tr_shard_fsm_verify_result(struct tr_shard_fsm *f,
                               uint64_t request,
                               uint64_t *index,
                               uint64_t *checksum)
{
    int rv = TR_ENOTFOUND;
    bool deferred = false;
    pthread_mutex_lock(&f->mu);
    for (unsigned i = 0; i < FSM_VERIFY_KEEP; i++) {
        if (f->verify[i].request == request && request != 0) {
            *index = f->verify[i].index;
            *checksum = f->verify[i].checksum;
            rv = 0;
            deferred = f->verify[i].deferred;
        }
    }
    pthread_mutex_unlock(&f->mu);
    if (rv == 0 && deferred) {
        /* compared in the compact form: the seal job's checksum, once it
         * finished (at or after the entry) */
        uint64_t at = *index;
        rv = tr_storage_shard_seal_sum(f->storage, &f->id, index, checksum);
        if (rv != 0 || *index < at) {
            rv = TR_ENOTFOUND;
        }
    }
    return rv;
}
