/* shard_fsm.c - a shard's Raft state machine over local storage. */
#include "raft/shard_fsm.h"

#include <inttypes.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/log.h"
#include "raft/group.h"
#include "storage/keys.h"

void tr_shard_marker_encode(uint8_t out[TR_SHARD_MARKER_SIZE],
                            uint64_t index,
                            int64_t window,
                            uint16_t slot)
{
    memcpy(out, "TRSM", 4);
    out[4] = 1;
    tr_put_u64be(out + 5, index);
    tr_put_u64be(out + 13, tr_key_time(window));
    tr_put_u16be(out + 21, slot);
}

int tr_shard_marker_decode(const void *buf,
                           size_t len,
                           uint64_t *index,
                           int64_t *window,
                           uint16_t *slot)
{
    const uint8_t *p = buf;
    if (len != TR_SHARD_MARKER_SIZE || memcmp(p, "TRSM", 4) != 0 || p[4] != 1) {
        return TR_ECORRUPT;
    }
    *index = tr_get_u64be(p + 5);
    *window = tr_key_time_decode(tr_get_u64be(p + 13));
    *slot = tr_get_u16be(p + 21);
    return 0;
}

static int fsm__queue(struct tr_shard_fsm *f,
                      uint64_t index,
                      const struct raft_buffer *buf)
{
    if (f->n_pending == f->cap_pending) {
        size_t cap = f->cap_pending ? f->cap_pending * 2 : 64;
        struct tr_shard_pending *np = tr_realloc(f->pending, cap * sizeof(*np));
        if (np == NULL) {
            return TR_ENOMEM;
        }
        f->pending = np;
        f->cap_pending = cap;
    }
    void *copy = tr_malloc(buf->len ? buf->len : 1);
    if (copy == NULL) {
        return TR_ENOMEM;
    }
    memcpy(copy, buf->base, buf->len);
    f->pending[f->n_pending++] =
        (struct tr_shard_pending){index, copy, buf->len};
    return 0;
}

static int fsm__apply(struct raft_fsm *fsm,
                      const struct raft_buffer *buf,
                      void **result)
{
    struct tr_shard_fsm *f = fsm->data;
    uint64_t index = tr_raft_group_applying_index();
    char err[TR_ERRMSG_SIZE];
    memset(&f->last, 0, sizeof(f->last));
    f->last.index = index;
    if (f->catching_up) {
        /* applied after the copy is loaded, in order */
        f->last_rv = fsm__queue(f, index, buf);
        if (f->last_rv == 0) {
            f->last.samples_appended = 0;
        }
        *result = f;
        return 0;
    }
    f->last_rv = tr_storage_shard_apply(f->storage, f->window, f->slot, index,
                                        buf->base, buf->len, &f->last, err);
    if (f->last_rv != 0) {
        tr_log_warn("shard entry not applied",
                    "window=%" PRId64 " slot=%u index=%" PRIu64 " err=\"%s\"",
                    f->window, f->slot, index, err);
    }
    f->applied_entries++;
    f->applied_bytes += buf->len;
    *result = f;
    return 0;
}

static int fsm__snapshot(struct raft_fsm *fsm,
                         struct raft_buffer *bufs[],
                         unsigned *n_bufs)
{
    struct tr_shard_fsm *f = fsm->data;
    if (f->catching_up) {
        return RAFT_BUSY; /* nothing durable to mark yet */
    }
    uint64_t index = 0;
    if (tr_storage_shard_checkpoint(f->storage, f->window, f->slot, &index) !=
        0) {
        return RAFT_IOERR;
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
    tr_shard_marker_encode(b->base, index, f->window, f->slot);
    *bufs = b;
    *n_bufs = 1;
    f->snapshots++;
    return 0;
}

static int fsm__restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct tr_shard_fsm *f = fsm->data;
    uint64_t index;
    int64_t window;
    uint16_t slot;
    int rv =
        tr_shard_marker_decode(buf->base, buf->len, &index, &window, &slot);
    if (rv != 0 || window != f->window || slot != f->slot) {
        /* on failure raft keeps ownership of the buffer and frees it */
        tr_log_error("bad shard snapshot marker", "window=%" PRId64 " slot=%u",
                     f->window, f->slot);
        return RAFT_CORRUPT;
    }
    raft_free(buf->base);
    f->snapshots++;
    uint64_t have = tr_storage_shard_applied(f->storage, window, slot, true);
    if (have >= index) {
        return 0; /* our own snapshot after a restart: data is local */
    }
    tr_log_info("shard needs a copy from another replica",
                "window=%" PRId64 " slot=%u have=%" PRIu64 " need=%" PRIu64,
                window, slot, have, index);
    f->catching_up = true;
    f->copy_target = index;
    if (f->copy != NULL) {
        f->copy(f->copy_arg, f, index);
    }
    return 0;
}

void tr_shard_fsm_copy_done(struct tr_shard_fsm *f, bool ok, uint64_t loaded)
{
    if (!ok || loaded < f->copy_target) {
        return; /* a newer snapshot arrived meanwhile: copy again */
    }
    char err[TR_ERRMSG_SIZE];
    for (size_t i = 0; i < f->n_pending; i++) {
        struct tr_shard_pending *p = &f->pending[i];
        if (p->index > loaded) {
            struct tr_apply_result res;
            if (tr_storage_shard_apply(f->storage, f->window, f->slot, p->index,
                                       p->buf, p->len, &res, err) != 0) {
                tr_log_warn("queued shard entry not applied", "err=\"%s\"",
                            err);
            }
        }
        tr_free(p->buf);
    }
    f->n_pending = 0;
    f->catching_up = false;
    tr_log_info("shard caught up by copy",
                "window=%" PRId64 " slot=%u index=%" PRIu64, f->window, f->slot,
                loaded);
}

void tr_shard_fsm_init(struct tr_shard_fsm *f,
                       struct tr_storage *s,
                       int64_t window,
                       uint16_t slot,
                       tr_shard_copy_fn copy,
                       void *arg)
{
    memset(f, 0, sizeof(*f));
    f->fsm.version = 1;
    f->fsm.data = f;
    f->fsm.apply = fsm__apply;
    f->fsm.snapshot = fsm__snapshot;
    f->fsm.restore = fsm__restore;
    f->storage = s;
    f->window = window;
    f->slot = slot;
    f->copy = copy;
    f->copy_arg = arg;
}

void tr_shard_fsm_close(struct tr_shard_fsm *f)
{
    for (size_t i = 0; i < f->n_pending; i++) {
        tr_free(f->pending[i].buf);
    }
    tr_free(f->pending);
    f->pending = NULL;
    f->n_pending = 0;
}
