/* Tests for lib/lanes.c: work of one lane runs in order and never
 * concurrently with itself, different lanes run in parallel, a kick while
 * a lane runs schedules exactly one more run, release calls fin once after
 * the last run, tr_lanes_free waits for scheduled work and joins. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/lanes.h"

#define WAIT_MS 10000

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls cond (an atomic) until it reaches want or WAIT_MS passed. */
static bool wait_for(atomic_int *v, int want)
{
    int64_t deadline = now_ms() + WAIT_MS;
    while (atomic_load(v) < want) {
        if (now_ms() > deadline) {
            return false;
        }
        usleep(200);
    }
    return true;
}

/* ---- a lane draining a queue of numbers --------------------------------- */

#define QCAP 4096

struct queue_lane {
    pthread_mutex_t mu;
    int items[QCAP];
    int head, tail; /* under mu */
    int seen[QCAP]; /* in the order run() took them */
    atomic_int n_seen;
    atomic_int running;  /* 1 while run() is active */
    atomic_int overlaps; /* run() entered while running */
    atomic_int runs;
    atomic_int fins;
    atomic_int runs_at_fin;
    struct tr_lane *lane;
};

static void queue_init(struct queue_lane *q)
{
    memset(q, 0, sizeof(*q));
    pthread_mutex_init(&q->mu, NULL);
}

static void queue_push(struct queue_lane *q, int v)
{
    pthread_mutex_lock(&q->mu);
    q->items[q->tail++] = v;
    pthread_mutex_unlock(&q->mu);
    tr_lane_kick(q->lane);
}

static void queue_run(void *arg)
{
    struct queue_lane *q = arg;
    if (atomic_exchange(&q->running, 1) != 0) {
        atomic_fetch_add(&q->overlaps, 1);
    }
    atomic_fetch_add(&q->runs, 1);
    for (;;) {
        pthread_mutex_lock(&q->mu);
        if (q->head == q->tail) {
            pthread_mutex_unlock(&q->mu);
            break;
        }
        int v = q->items[q->head++];
        pthread_mutex_unlock(&q->mu);
        if (v % 64 == 0) {
            usleep(100); /* give producers time to kick while running */
        }
        q->seen[atomic_load(&q->n_seen)] = v;
        atomic_fetch_add(&q->n_seen, 1);
    }
    atomic_store(&q->running, 0);
}

static void queue_fin(void *arg)
{
    struct queue_lane *q = arg;
    atomic_store(&q->runs_at_fin, atomic_load(&q->runs));
    atomic_fetch_add(&q->fins, 1);
}

struct producer {
    struct queue_lane *q;
    int from, n;
};

static void *producer_main(void *arg)
{
    struct producer *p = arg;
    for (int i = 0; i < p->n; i++) {
        queue_push(p->q, p->from + i);
    }
    return NULL;
}

Test(lanes, one_lane_runs_in_order_and_never_concurrently)
{
    struct tr_lanes *pool = NULL;
    cr_assert_eq(tr_lanes_new(2, &pool), 0);
    static struct queue_lane q;
    queue_init(&q);
    q.lane = tr_lane_new(pool, queue_run, &q);
    cr_assert_not_null(q.lane);
    for (int i = 0; i < 1000; i++) {
        queue_push(&q, i);
    }
    cr_assert(wait_for(&q.n_seen, 1000));
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(q.seen[i], i, "position %d", i);
    }
    /* kicks from several threads at once: still one run at a time */
    pthread_t th[3];
    struct producer ps[3];
    for (int i = 0; i < 3; i++) {
        ps[i] = (struct producer){&q, 1000 + i * 1000, 1000};
        cr_assert_eq(pthread_create(&th[i], NULL, producer_main, &ps[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
    }
    cr_assert(wait_for(&q.n_seen, 4000));
    cr_assert_eq(atomic_load(&q.overlaps), 0);
    /* each producer's items in its order */
    int next[3] = {1000, 2000, 3000};
    for (int i = 1000; i < 4000; i++) {
        int v = q.seen[i];
        int p = v / 1000 - 1;
        cr_assert_eq(v, next[p], "producer %d", p);
        next[p]++;
    }
    tr_lane_release(q.lane, queue_fin, &q);
    tr_lanes_free(pool);
    cr_assert_eq(atomic_load(&q.fins), 1);
    cr_assert_eq(atomic_load(&q.n_seen), 4000);
}

/* ---- lanes that block until released ------------------------------------ */

struct gate_lane {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;          /* under mu */
    atomic_int entered; /* run() calls started */
    atomic_int done;    /* run() calls finished */
    atomic_int running;
    atomic_int overlaps;
    atomic_int *in_run; /* shared across lanes: concurrent runs */
    atomic_int *max_in_run;
    atomic_int fins;
    atomic_int done_at_fin;
    struct tr_lane *lane;
};

static void gate_init(struct gate_lane *g, atomic_int *in_run, atomic_int *max)
{
    memset(g, 0, sizeof(*g));
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->in_run = in_run;
    g->max_in_run = max;
}

static void gate_open(struct gate_lane *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void gate_run(void *arg)
{
    struct gate_lane *g = arg;
    if (atomic_exchange(&g->running, 1) != 0) {
        atomic_fetch_add(&g->overlaps, 1);
    }
    atomic_fetch_add(&g->entered, 1);
    if (g->in_run != NULL) {
        int n = atomic_fetch_add(g->in_run, 1) + 1;
        int m = atomic_load(g->max_in_run);
        while (n > m && !atomic_compare_exchange_weak(g->max_in_run, &m, n)) {
        }
    }
    pthread_mutex_lock(&g->mu);
    while (!g->open) {
        pthread_cond_wait(&g->cv, &g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    if (g->in_run != NULL) {
        atomic_fetch_sub(g->in_run, 1);
    }
    atomic_store(&g->running, 0);
    atomic_fetch_add(&g->done, 1);
}

static void gate_fin(void *arg)
{
    struct gate_lane *g = arg;
    atomic_store(&g->done_at_fin, atomic_load(&g->done));
    atomic_fetch_add(&g->fins, 1);
}

Test(lanes, different_lanes_run_in_parallel)
{
    struct tr_lanes *pool = NULL;
    cr_assert_eq(tr_lanes_new(2, &pool), 0);
    static atomic_int in_run, max_in_run;
    static struct gate_lane a, b, c;
    gate_init(&a, &in_run, &max_in_run);
    gate_init(&b, &in_run, &max_in_run);
    gate_init(&c, &in_run, &max_in_run);
    a.lane = tr_lane_new(pool, gate_run, &a);
    b.lane = tr_lane_new(pool, gate_run, &b);
    c.lane = tr_lane_new(pool, gate_run, &c);
    tr_lane_kick(a.lane);
    tr_lane_kick(b.lane);
    /* both blocked at once: they run on the two threads together */
    cr_assert(wait_for(&a.entered, 1));
    cr_assert(wait_for(&b.entered, 1));
    cr_assert_eq(atomic_load(&max_in_run), 2);
    /* a third lane waits for a free thread */
    tr_lane_kick(c.lane);
    usleep(20000);
    cr_assert_eq(atomic_load(&c.entered), 0);
    gate_open(&a);
    cr_assert(wait_for(&c.entered, 1));
    gate_open(&b);
    gate_open(&c);
    cr_assert(wait_for(&c.done, 1));
    cr_assert_eq(atomic_load(&max_in_run), 2);
    tr_lane_release(a.lane, NULL, NULL);
    tr_lane_release(b.lane, NULL, NULL);
    tr_lane_release(c.lane, NULL, NULL);
    tr_lanes_free(pool);
    cr_assert_eq(atomic_load(&a.done), 1);
    cr_assert_eq(atomic_load(&b.done), 1);
    cr_assert_eq(atomic_load(&c.done), 1);
}

Test(lanes, kick_while_running_runs_once_more)
{
    struct tr_lanes *pool = NULL;
    cr_assert_eq(tr_lanes_new(2, &pool), 0);
    static struct gate_lane g;
    gate_init(&g, NULL, NULL);
    g.lane = tr_lane_new(pool, gate_run, &g);
    tr_lane_kick(g.lane);
    cr_assert(wait_for(&g.entered, 1));
    /* many kicks while it runs (the other thread is free): coalesced into
     * one more run, never a concurrent one */
    for (int i = 0; i < 10; i++) {
        tr_lane_kick(g.lane);
    }
    usleep(20000);
    cr_assert_eq(atomic_load(&g.entered), 1);
    cr_assert_eq(atomic_load(&g.overlaps), 0);
    gate_open(&g);
    cr_assert(wait_for(&g.done, 2));
    usleep(20000);
    cr_assert_eq(atomic_load(&g.entered), 2);
    cr_assert_eq(atomic_load(&g.done), 2);
    /* kicks while scheduled but not running coalesce too: idle now, kick
     * twice quickly, at most two more runs (one if both land before it
     * starts) */
    tr_lane_kick(g.lane);
    tr_lane_kick(g.lane);
    cr_assert(wait_for(&g.done, 3));
    usleep(20000);
    int e = atomic_load(&g.entered);
    cr_assert(e == 3 || e == 4, "%d runs", e);
    cr_assert_eq(atomic_load(&g.overlaps), 0);
    tr_lane_release(g.lane, gate_fin, &g);
    tr_lanes_free(pool);
    cr_assert_eq(atomic_load(&g.fins), 1);
    cr_assert_eq(atomic_load(&g.done_at_fin), e);
}

Test(lanes, release_calls_fin_once_after_the_last_run)
{
    struct tr_lanes *pool = NULL;
    cr_assert_eq(tr_lanes_new(2, &pool), 0);

    /* released while running, with a kick pending: fin after both runs */
    static struct gate_lane g;
    gate_init(&g, NULL, NULL);
    g.lane = tr_lane_new(pool, gate_run, &g);
    tr_lane_kick(g.lane);
    cr_assert(wait_for(&g.entered, 1));
    tr_lane_kick(g.lane);
    tr_lane_release(g.lane, gate_fin, &g);
    usleep(20000);
    cr_assert_eq(atomic_load(&g.fins), 0, "fin while the lane runs");
    gate_open(&g);
    cr_assert(wait_for(&g.fins, 1));
    cr_assert_eq(atomic_load(&g.done_at_fin), 2);
    cr_assert_eq(atomic_load(&g.done), 2);

    /* released after its run: fin once (on the caller's thread when the
     * pool thread is done with the lane already) */
    static struct gate_lane h;
    gate_init(&h, NULL, NULL);
    gate_open(&h);
    h.lane = tr_lane_new(pool, gate_run, &h);
    tr_lane_kick(h.lane);
    cr_assert(wait_for(&h.done, 1));
    tr_lane_release(h.lane, gate_fin, &h);
    cr_assert(wait_for(&h.fins, 1));
    cr_assert_eq(atomic_load(&h.done_at_fin), 1);

    /* never kicked: idle, so fin runs within tr_lane_release; fin may be
     * NULL */
    struct tr_lane *l = tr_lane_new(pool, gate_run, &h);
    tr_lane_release(l, NULL, NULL);
    l = tr_lane_new(pool, gate_run, &h);
    tr_lane_release(l, gate_fin, &h);
    cr_assert_eq(atomic_load(&h.fins), 2);
    cr_assert_eq(atomic_load(&h.entered), 1);

    usleep(20000);
    cr_assert_eq(atomic_load(&g.fins), 1);
    tr_lanes_free(pool);
    cr_assert_eq(atomic_load(&g.fins), 1);
    cr_assert_eq(atomic_load(&h.fins), 2);
}

/* ---- tr_lanes_free --------------------------------------------------------
 */

struct slow_lane {
    atomic_int runs;
    atomic_int fins;
    struct tr_lane *lane;
};

static void slow_run(void *arg)
{
    struct slow_lane *s = arg;
    usleep(30000);
    atomic_fetch_add(&s->runs, 1);
}

static void slow_fin(void *arg)
{
    struct slow_lane *s = arg;
    atomic_fetch_add(&s->fins, 1);
}

Test(lanes, free_waits_for_scheduled_lanes_and_joins)
{
    for (unsigned threads = 0; threads <= 2; threads++) {
        struct tr_lanes *pool = NULL;
        cr_assert_eq(tr_lanes_new(threads, &pool), 0); /* 0: one thread */
        static struct slow_lane s[5];
        for (int i = 0; i < 5; i++) {
            memset(&s[i], 0, sizeof(s[i]));
            s[i].lane = tr_lane_new(pool, slow_run, &s[i]);
            cr_assert_not_null(s[i].lane);
            tr_lane_kick(s[i].lane);
        }
        for (int i = 0; i < 5; i++) {
            tr_lane_release(s[i].lane, slow_fin, &s[i]);
        }
        /* five lanes of 30 ms on at most two threads: still running */
        tr_lanes_free(pool);
        for (int i = 0; i < 5; i++) {
            cr_assert_eq(atomic_load(&s[i].runs), 1, "threads %u lane %d",
                         threads, i);
            cr_assert_eq(atomic_load(&s[i].fins), 1);
        }
    }
    /* an idle pool frees at once */
    struct tr_lanes *pool = NULL;
    cr_assert_eq(tr_lanes_new(2, &pool), 0);
    tr_lanes_free(pool);
    tr_lanes_free(NULL);
}
