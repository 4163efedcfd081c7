/* par.c - helper threads for tr_par_for (see par.h).
 *
 * Jobs in flight form a list under one mutex; a piece is taken by bumping
 * the job's next index under the mutex, run without it, and counted done
 * under it again. Pieces are coarse (a handful per job), so the mutex is
 * never contended for long. */
#include "lib/par.h"

#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#include "lib/alloc.h"
#include "lib/err.h"

#define PAR_MAX_THREADS 64

struct par_job {
    tr_par_fn fn;
    void *arg;
    size_t n;    /* pieces */
    size_t next; /* next piece to hand out */
    size_t done; /* pieces finished */
    pthread_cond_t finished;
    struct par_job *next_job;
};

static pthread_mutex_t par_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t par_work = PTHREAD_COND_INITIALIZER;
static struct par_job *par_jobs; /* jobs with pieces left to hand out */
static pthread_t par_helpers[PAR_MAX_THREADS];
static size_t par_n_helpers;
static bool par_stopping;

/* Takes a piece of any job (under par_mu); NULL when none. */
static struct par_job *par__take(size_t *piece)
{
    for (struct par_job **pj = &par_jobs; *pj != NULL;) {
        struct par_job *j = *pj;
        if (j->next < j->n) {
            *piece = j->next++;
            if (j->next == j->n) {
                *pj = j->next_job; /* nothing left to hand out */
            }
            return j;
        }
        *pj = j->next_job;
    }
    return NULL;
}

static void par__finish(struct par_job *j)
{
    if (++j->done == j->n) {
        pthread_cond_signal(&j->finished);
    }
}

static void *par__helper(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&par_mu);
    for (;;) {
        size_t piece;
        struct par_job *j = par__take(&piece);
        if (j == NULL) {
            if (par_stopping) {
                break;
            }
            pthread_cond_wait(&par_work, &par_mu);
            continue;
        }
        pthread_mutex_unlock(&par_mu);
        j->fn(j->arg, piece);
        pthread_mutex_lock(&par_mu);
        par__finish(j);
    }
    pthread_mutex_unlock(&par_mu);
    return NULL;
}

int tr_par_start(int threads)
{
    if (threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        threads = c > 0 ? (int)c : 1;
    }
    if (threads > PAR_MAX_THREADS) {
        threads = PAR_MAX_THREADS;
    }
    par_stopping = false;
    for (int i = 0; i + 1 < threads; i++) {
        if (pthread_create(&par_helpers[par_n_helpers], NULL, par__helper,
                           NULL) != 0) {
            return par_n_helpers > 0 ? 0 : TR_ENOMEM;
        }
        par_n_helpers++;
    }
    return 0;
}

void tr_par_stop(void)
{
    pthread_mutex_lock(&par_mu);
    par_stopping = true;
    pthread_cond_broadcast(&par_work);
    pthread_mutex_unlock(&par_mu);
    for (size_t i = 0; i < par_n_helpers; i++) {
        pthread_join(par_helpers[i], NULL);
    }
    par_n_helpers = 0;
}

size_t tr_par_threads(void)
{
    return par_n_helpers + 1;
}

void tr_par_for(size_t n, tr_par_fn fn, void *arg)
{
    if (n == 0) {
        return;
    }
    if (par_n_helpers == 0 || n == 1) {
        for (size_t i = 0; i < n; i++) {
            fn(arg, i);
        }
        return;
    }
    struct par_job j;
    j.fn = fn;
    j.arg = arg;
    j.n = n;
    j.next = 0;
    j.done = 0;
    pthread_cond_init(&j.finished, NULL);
    pthread_mutex_lock(&par_mu);
    j.next_job = par_jobs;
    par_jobs = &j;
    pthread_cond_broadcast(&par_work);
    /* the caller works on its own job until every piece is handed out */
    while (j.next < j.n) {
        size_t piece = j.next++;
        if (j.next == j.n) {
            for (struct par_job **pj = &par_jobs; *pj != NULL;
                 pj = &(*pj)->next_job) {
                if (*pj == &j) {
                    *pj = j.next_job;
                    break;
                }
            }
        }
        pthread_mutex_unlock(&par_mu);
        fn(arg, piece);
        pthread_mutex_lock(&par_mu);
        par__finish(&j);
    }
    while (j.done < j.n) {
        pthread_cond_wait(&j.finished, &par_mu);
    }
    pthread_mutex_unlock(&par_mu);
    pthread_cond_destroy(&j.finished);
}
