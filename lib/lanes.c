/* lanes.c - serial lanes on a small thread pool (lib/lanes.h). */
#include "lib/lanes.h"

#include <pthread.h>
#include <stdbool.h>

#include "lib/alloc.h"
#include "lib/err.h"

struct tr_lane {
    struct tr_lanes *p;
    void (*run)(void *arg);
    void *arg;
    bool scheduled; /* in the ready queue */
    bool running;   /* a pool thread is in run() */
    bool again;     /* kicked while running */
    bool released;
    void (*fin)(void *arg);
    void *fin_arg;
    struct tr_lane *next; /* ready queue */
};

struct tr_lanes {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct tr_lane *head, *tail; /* ready queue */
    bool stop;
    pthread_t *threads;
    unsigned n;
};

/* Caller holds p->mu. */
static void lanes__push(struct tr_lanes *p, struct tr_lane *l)
{
    l->scheduled = true;
    l->next = NULL;
    if (p->tail != NULL) {
        p->tail->next = l;
    } else {
        p->head = l;
    }
    p->tail = l;
    pthread_cond_signal(&p->cv);
}

static void *lanes__thread(void *arg)
{
    struct tr_lanes *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->head == NULL && !p->stop) {
            pthread_cond_wait(&p->cv, &p->mu);
        }
        if (p->head == NULL) {
            break; /* stopping and nothing left */
        }
        struct tr_lane *l = p->head;
        p->head = l->next;
        if (p->head == NULL) {
            p->tail = NULL;
        }
        l->scheduled = false;
        l->running = true;
        pthread_mutex_unlock(&p->mu);
        l->run(l->arg);
        pthread_mutex_lock(&p->mu);
        l->running = false;
        if (l->again) {
            l->again = false;
            lanes__push(p, l);
        } else if (l->released) {
            void (*fin)(void *) = l->fin;
            void *fin_arg = l->fin_arg;
            tr_free(l);
            if (fin != NULL) {
                pthread_mutex_unlock(&p->mu);
                fin(fin_arg);
                pthread_mutex_lock(&p->mu);
            }
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int tr_lanes_new(unsigned threads, struct tr_lanes **out)
{
    struct tr_lanes *p = tr_calloc(1, sizeof(*p));
    if (p == NULL) {
        return TR_ENOMEM;
    }
    if (threads == 0) {
        threads = 1;
    }
    p->threads = tr_calloc(threads, sizeof(*p->threads));
    if (p->threads == NULL) {
        tr_free(p);
        return TR_ENOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, lanes__thread, p) != 0) {
            break;
        }
        p->n++;
    }
    if (p->n == 0) {
        tr_lanes_free(p);
        return TR_EIO;
    }
    *out = p;
    return 0;
}

void tr_lanes_free(struct tr_lanes *p)
{
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n; i++) {
        pthread_join(p->threads[i], NULL);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    tr_free(p->threads);
    tr_free(p);
}

struct tr_lane *tr_lane_new(struct tr_lanes *p,
                            void (*run)(void *arg),
                            void *arg)
{
    struct tr_lane *l = tr_calloc(1, sizeof(*l));
    if (l != NULL) {
        l->p = p;
        l->run = run;
        l->arg = arg;
    }
    return l;
}

void tr_lane_kick(struct tr_lane *l)
{
    struct tr_lanes *p = l->p;
    pthread_mutex_lock(&p->mu);
    if (!l->released) {
        if (l->running) {
            l->again = true;
        } else if (!l->scheduled) {
            lanes__push(p, l);
        }
    }
    pthread_mutex_unlock(&p->mu);
}

void tr_lane_release(struct tr_lane *l, void (*fin)(void *arg), void *arg)
{
    struct tr_lanes *p = l->p;
    pthread_mutex_lock(&p->mu);
    l->released = true;
    l->fin = fin;
    l->fin_arg = arg;
    bool idle = !l->running && !l->scheduled && !l->again;
    if (idle) {
        tr_free(l);
    }
    pthread_mutex_unlock(&p->mu);
    if (idle && fin != NULL) {
        fin(arg);
    }
}
