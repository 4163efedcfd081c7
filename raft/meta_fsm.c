/* meta_fsm.c - the catalog as a Raft state machine. */
#include "raft/meta_fsm.h"

#include <string.h>

#include "lib/err.h"
#include "lib/log.h"

static int meta__apply(struct raft_fsm *fsm,
                       const struct raft_buffer *buf,
                       void **result)
{
    struct tr_meta_fsm *m = fsm->data;
    pthread_mutex_lock(&m->mu);
    m->last_rv =
        tr_catalog_apply(&m->catalog, buf->base, buf->len, m->last_err);
    pthread_mutex_unlock(&m->mu);
    if (m->last_rv != 0) {
        tr_log_debug("catalog command not applied", "err=\"%s\"", m->last_err);
    }
    *result = m;
    if (m->on_change != NULL) {
        m->on_change(m->arg);
    }
    return 0;
}

static int meta__snapshot(struct raft_fsm *fsm,
                          struct raft_buffer *bufs[],
                          unsigned *n_bufs)
{
    struct tr_meta_fsm *m = fsm->data;
    struct tr_buf b;
    tr_buf_init(&b);
    pthread_mutex_lock(&m->mu);
    int rv = tr_catalog_encode(&m->catalog, &b);
    pthread_mutex_unlock(&m->mu);
    if (rv != 0) {
        tr_buf_free(&b);
        return RAFT_NOMEM;
    }
    struct raft_buffer *rb = raft_malloc(sizeof(*rb));
    void *data = raft_malloc(b.len ? b.len : 1);
    if (rb == NULL || data == NULL) {
        raft_free(rb);
        raft_free(data);
        tr_buf_free(&b);
        return RAFT_NOMEM;
    }
    memcpy(data, b.data, b.len);
    rb->base = data;
    rb->len = b.len;
    tr_buf_free(&b);
    *bufs = rb;
    *n_bufs = 1;
    return 0;
}

static int meta__restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct tr_meta_fsm *m = fsm->data;
    pthread_mutex_lock(&m->mu);
    int rv = tr_catalog_decode(&m->catalog, buf->base, buf->len);
    pthread_mutex_unlock(&m->mu);
    if (rv != 0) {
        return RAFT_CORRUPT; /* raft frees the buffer on failure */
    }
    raft_free(buf->base);
    if (m->on_change != NULL) {
        m->on_change(m->arg);
    }
    return 0;
}

void tr_meta_fsm_init(struct tr_meta_fsm *m,
                      void (*on_change)(void *arg),
                      void *arg)
{
    memset(m, 0, sizeof(*m));
    m->fsm.version = 1;
    m->fsm.data = m;
    m->fsm.apply = meta__apply;
    m->fsm.snapshot = meta__snapshot;
    m->fsm.restore = meta__restore;
    tr_catalog_init(&m->catalog);
    pthread_mutex_init(&m->mu, NULL);
    m->on_change = on_change;
    m->arg = arg;
}

void tr_meta_fsm_close(struct tr_meta_fsm *m)
{
    tr_catalog_free(&m->catalog);
    pthread_mutex_destroy(&m->mu);
}
