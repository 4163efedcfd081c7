/* par.h - data parallelism inside one request: a small fixed set of helper
 * threads that join the calling thread on independent pieces of work
 * (decoding series, evaluating a range function over series, encoding a
 * response).
 *
 * tr_par_for(n, fn, arg) runs fn(arg, i) once for every i in [0, n) and
 * returns when all have finished. The caller runs pieces itself, so work
 * always progresses even when every helper is busy with other requests;
 * several requests may call it at once. Without tr_par_start (unit tests,
 * tools) everything runs on the caller. fn must not call tr_par_for. */
#ifndef TR_LIB_PAR_H
#define TR_LIB_PAR_H

#include <stddef.h>

typedef void (*tr_par_fn)(void *arg, size_t i);

/* Starts threads - 1 helpers (threads 0: one per online CPU; at most 64).
 * 0 or TR_ENOMEM. Call once, before any tr_par_for. */
int tr_par_start(int threads);
/* Stops and joins the helpers (pieces in flight finish first). */
void tr_par_stop(void);
/* Threads that take part in a tr_par_for (helpers + 1). */
size_t tr_par_threads(void);
void tr_par_for(size_t n, tr_par_fn fn, void *arg);

#endif
