/* meta_fsm.h - the meta group's state machine: the catalog
 * (raft/catalog.h). Apply runs catalog commands; snapshots hold the whole
 * encoded catalog (it is small). Every change is reported to on_change on
 * the loop thread. */
#ifndef TR_RAFT_META_FSM_H
#define TR_RAFT_META_FSM_H

#include <pthread.h>
#include <raft.h>

#include "raft/catalog.h"

struct tr_meta_fsm {
    struct raft_fsm fsm;       /* handed to raft (version 1) */
    struct tr_catalog catalog; /* written on the loop thread only */
    pthread_mutex_t mu;        /* held while writing; readers on other
                                  threads take it too */
    int last_rv;               /* result of the newest apply */
    char last_err[256];
    void (*on_change)(void *arg);
    void *arg;
};

void tr_meta_fsm_init(struct tr_meta_fsm *m,
                      void (*on_change)(void *arg),
                      void *arg);
void tr_meta_fsm_close(struct tr_meta_fsm *m);

#endif
