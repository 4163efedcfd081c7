/* Tests for raft/shard_fsm.c, driven deterministically by raft_fixture
 * (canonical raft's in-memory cluster): every server's FSM is a shard FSM
 * over its own tr_storage (own RocksDB directory), applying on a shared
 * pool of storage threads (lib/lanes.h).
 *
 * raft_fixture has no tr_raft_group, so each server's FSM is a small test
 * wrapper that sets tr_raft_group_applying_index() around the shard FSM's
 * apply exactly as raft/group.c does (r->last_applied + 1) and forwards
 * everything else (version 3: snapshots are taken with snapshot_async).
 * Entries are raw metrics entries (storage/entry.h): the fixture's
 * in-memory I/O needs no 8-byte framing.
 *
 * raft's apply only queues an entry; a storage thread applies it. So after
 * stepping the fixture, tests wait (polling, bounded) until each FSM's
 * queue drained before they look at storage. The fixture's io runs
 * asynchronous work (the snapshot_async that waits for the storage thread's
 * checkpoint) synchronously inside raft_fixture_step, which works because
 * the storage threads run on their own.
 *
 *   determinism: 3 replicas, ~200 entries (in-order, out-of-order, duplicate,
 *                conflicting and too-old samples, metadata, two tenants):
 *                identical checksums and applied indexes; proposers'
 *                when_applied callbacks see every entry applied in storage;
 *   when_applied: fires with the apply result after the storage thread
 *                applied the entry, right away when it already had; stop
 *                cancels queued work (TR_ECANCELED, a waiting snapshot too);
 *   replay:      crash (fork + _exit) after a checkpoint at K, reopen,
 *                replay 1..N: entries <= K skipped, same checksum as a
 *                replica that applied every entry once;
 *   fail-stop:   a storage write fails on one replica: it stops (state
 *                failed, entry kept queued, applied index stays); a new
 *                state machine over the same storage replays the raft log
 *                and converges with the others;
 *   verify:      verify entries give the same checksum on every replica at
 *                the entry's index, and a different one on a corrupted
 *                replica only;
 *   snapshots:   a server down while the leader snapshots and truncates
 *                gets an InstallSnapshot, marks itself catching-up, holds
 *                its queue; the test copies the shard (dump -> load ->
 *                copy_done) and the replicas converge;
 *   markers:     encode/decode round trip (version 2, version 1 read as a
 *                metrics shard), rejection of bad markers and of markers of
 *                another shard (RAFT_CORRUPT), buffer ownership on restore
 *                as raft expects it, the marker never names less than the
 *                replica's data. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <raft.h>
#include <raft/fixture.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/lanes.h"
#include "raft/group.h"
#include "raft/shard_fsm.h"
#include "storage/entry.h"
#include "storage/keys.h"
#include "storage/labels.h"
#include "storage/storage.h"

#define HOUR (3600 * 1000LL)
#define DAY (24 * HOUR)
/* 2023-11-14 00:00 UTC: a window start (window_ms = DAY) */
#define WINDOW (19675 * DAY)
#define SLOT 3
#define BASE (WINDOW + 4 * HOUR) /* first sample */
#define MAX_NODES 4
#define STEP_MS 60000 /* fixture time budget for one wait */
#define WAIT_MS 30000 /* real time budget for a storage thread */

static const struct tr_shard_id shard_id = {.signal = TR_SIGNAL_METRICS,
                                            .window = WINDOW,
                                            .slot = SLOT};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- entries ----------------------------------------------------------- */

static const char *const hosts[] = {"h0", "h1", "h2", "h3", "h4", "h5"};

/* Appends the k-th (0-based) test entry to out: 3 of 6 series of the
 * metric "cpu", two tenants, in-order samples 15 s apart plus, depending
 * on k, an out-of-order sample, an exact duplicate of the previous entry's
 * sample, a conflicting value at an existing timestamp, a sample older
 * than the out-of-order window (1 h, carried by the entry), and a metadata
 * record. Returns the number of samples. */
static unsigned gen_entry(unsigned k, struct tr_buf *out)
{
    struct tr_label ls[3][2];
    struct tr_entry_series es[3];
    int64_t ts[3][4];
    double vs[3][4];
    unsigned samples = 0;
    for (unsigned j = 0; j < 3; j++) {
        unsigned h = (k + j * 2) % 6;
        ls[j][0] =
            (struct tr_label){TR_SLICE_LIT("__name__"), TR_SLICE_LIT("cpu")};
        ls[j][1] =
            (struct tr_label){TR_SLICE_LIT("host"), tr_slice_cstr(hosts[h])};
        tr_labels_sort(ls[j], 2);
        size_t n = 0;
        int64_t t = BASE + (int64_t)k * 15000 + (int64_t)j * 1000;
        ts[j][n] = t;
        vs[j][n++] = (double)k * 10 + j;
        if (k % 7 == 3 && k >= 10) { /* out of order, inside 1 h */
            ts[j][n] = t - 10 * 15000 + 500;
            vs[j][n++] = -(double)k;
        } else if (k % 5 == 1 && k >= 6) { /* exact duplicate of entry k-6 */
            /* series h at entry k-6 had j' with (k-6+2j') % 6 == h, i.e.
             * j' == j: same timestamp and value as then */
            ts[j][n] = BASE + (int64_t)(k - 6) * 15000 + (int64_t)j * 1000;
            vs[j][n++] = (double)(k - 6) * 10 + j;
        } else if (k % 11 == 2 && k >= 6) { /* same timestamp, new value */
            ts[j][n] = BASE + (int64_t)(k - 6) * 15000 + (int64_t)j * 1000;
            vs[j][n++] = 0.25;
        } else if (k % 13 == 4) { /* older than the out-of-order window */
            ts[j][n] = t - 3 * HOUR;
            vs[j][n++] = 1.0;
        }
        es[j] = (struct tr_entry_series){.labels = ls[j],
                                         .n_labels = 2,
                                         .ts = ts[j],
                                         .vs = vs[j],
                                         .n_samples = n};
        samples += (unsigned)n;
    }
    char help[32];
    snprintf(help, sizeof(help), "cpu seconds (rev %u)", k);
    struct tr_entry_meta meta = {.type = 1,
                                 .metric = TR_SLICE_LIT("cpu"),
                                 .help = tr_slice_cstr(help),
                                 .unit = TR_SLICE_LIT("seconds")};
    struct tr_entry_metrics m = {
        .tenant = k % 3 == 0 ? TR_SLICE_LIT("tenant-b") : TR_SLICE_LIT("a"),
        .series = es,
        .n_series = 3,
        .meta = &meta,
        .n_meta = k % 10 == 0 ? 1 : 0,
        .ooo_window_ms = HOUR,
    };
    tr_buf_reset(out);
    cr_assert_eq(tr_entry_metrics_encode(&m, out), 0);
    return samples;
}

/* ---- apply results (when_applied callbacks) ------------------------------ */

/* What the when_applied callbacks of one replica saw. */
struct reclog {
    pthread_mutex_t mu;
    struct tr_storage *storage; /* the replica's, to check "after storage" */
    unsigned calls;
    unsigned errors;   /* rv != 0 */
    unsigned skipped;  /* res->skipped */
    unsigned early;    /* storage had not applied res->index yet */
    unsigned disorder; /* index not above the previous callback's */
    unsigned wrong;    /* res->index not the entry's index */
    unsigned on_other_thread;
    uint64_t last_index;
    int last_rv;
    uint64_t items; /* appended + duplicate + rejected */
    uint64_t appended;
    struct tr_apply_result last_res;
    uint64_t min_state_applied; /* least state applied_index seen */
};

struct rec_arg {
    struct reclog *log;
    uint64_t index;
    bool data; /* a metrics entry (verify entries do not reach storage) */
    pthread_t caller;
    struct tr_shard_fsm *f; /* or NULL: the state machine to look at */
};

static void reclog_init(struct reclog *l, struct tr_storage *s)
{
    memset(l, 0, sizeof(*l));
    pthread_mutex_init(&l->mu, NULL);
    l->storage = s;
    l->min_state_applied = UINT64_MAX;
}

static void rec_cb(void *arg, int rv, const struct tr_apply_result *res)
{
    struct rec_arg *a = arg;
    struct reclog *l = a->log;
    uint64_t stored = tr_storage_shard_applied(l->storage, &shard_id, false);
    struct tr_shard_fsm_state st = {.applied_index = UINT64_MAX};
    if (a->f != NULL) {
        tr_shard_fsm_state(a->f, &st);
    }
    pthread_mutex_lock(&l->mu);
    if (st.applied_index < l->min_state_applied) {
        l->min_state_applied = st.applied_index;
    }
    l->calls++;
    l->errors += rv != 0;
    l->skipped += res->skipped;
    l->wrong += res->index != a->index;
    l->disorder += res->index <= l->last_index;
    l->on_other_thread += !pthread_equal(pthread_self(), a->caller);
    if (a->data && rv != TR_ECANCELED && stored < res->index) {
        l->early++;
    }
    l->last_index = res->index;
    l->last_rv = rv;
    l->items += res->appended + res->duplicate + res->rejected;
    l->appended += res->appended;
    l->last_res = *res;
    pthread_mutex_unlock(&l->mu);
    free(a);
}

/* Registers a when_applied callback logging into l (also f's state when
 * f is not NULL). */
static void rec_wait_fsm(struct reclog *l,
                         void *result,
                         uint64_t index,
                         bool data,
                         struct tr_shard_fsm *f)
{
    struct rec_arg *a = calloc(1, sizeof(*a));
    cr_assert_not_null(a);
    a->log = l;
    a->index = index;
    a->data = data;
    a->caller = pthread_self();
    a->f = f;
    tr_shard_fsm_when_applied(result, rec_cb, a);
}

static void rec_wait(struct reclog *l, void *result, uint64_t index, bool data)
{
    rec_wait_fsm(l, result, index, data, NULL);
}

static unsigned reclog_calls(struct reclog *l)
{
    pthread_mutex_lock(&l->mu);
    unsigned n = l->calls;
    pthread_mutex_unlock(&l->mu);
    return n;
}

/* Waits until l saw n callbacks (the storage thread calls waiters right
 * after it published the applied index). */
static void wait_calls(struct reclog *l, unsigned n)
{
    int64_t deadline = now_ms() + 30000;
    while (reclog_calls(l) < n) {
        cr_assert_lt(now_ms(), deadline, "%u of %u callbacks", reclog_calls(l),
                     n);
        usleep(500);
    }
    cr_assert_eq(reclog_calls(l), n);
}

/* ---- servers ----------------------------------------------------------- */

struct node {
    struct raft_fsm fsm;        /* the test wrapper handed to raft */
    struct tr_shard_fsm *shard; /* the FSM under test */
    struct raft *raft;          /* set once added to the fixture */
    struct tr_storage *storage;
    char dir[128];
    struct reclog log; /* proposals through this node */
};

static struct node nodes[MAX_NODES];
static unsigned n_nodes;
static struct raft_fixture fix;
static bool fix_open;
static struct tr_lanes *lanes; /* storage threads of every node */

static struct raft_fsm *inner(struct node *n)
{
    return tr_shard_fsm_raft(n->shard);
}

static int node_apply(struct raft_fsm *fsm,
                      const struct raft_buffer *buf,
                      void **result)
{
    struct node *n = fsm->data;
    struct raft_fsm *f = inner(n);
    tr_raft_group_set_applying_index(raft_last_applied(n->raft) + 1);
    int rv = f->apply(f, buf, result);
    tr_raft_group_set_applying_index(0);
    return rv;
}

static int node_snapshot(struct raft_fsm *fsm,
                         struct raft_buffer *bufs[],
                         unsigned *n_bufs)
{
    struct raft_fsm *f = inner(fsm->data);
    return f->snapshot(f, bufs, n_bufs);
}

static int node_snapshot_async(struct raft_fsm *fsm,
                               struct raft_buffer *bufs[],
                               unsigned *n_bufs)
{
    struct raft_fsm *f = inner(fsm->data);
    return f->snapshot_async(f, bufs, n_bufs);
}

static int node_snapshot_finalize(struct raft_fsm *fsm,
                                  struct raft_buffer *bufs[],
                                  unsigned *n_bufs)
{
    struct raft_fsm *f = inner(fsm->data);
    return f->snapshot_finalize(f, bufs, n_bufs);
}

static int node_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct raft_fsm *f = inner(fsm->data);
    return f->restore(f, buf);
}

static struct tr_storage *storage_open(const char *dir)
{
    struct tr_storage_config c = {
        .version = 1,
        .data_dir = dir,
        .cache_bytes = 4 << 20,
        .window_ms = DAY,
        .chunk_max_ms = 2 * HOUR,
    };
    struct tr_storage *s = NULL;
    char err[TR_ERRMSG_SIZE];
    int rv = tr_storage_open(&c, &s, err);
    cr_assert_eq(rv, 0, "open %s: %s", dir, err);
    return s;
}

static void rm_rf(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cleanup of %s failed\n", dir);
    }
}

/* A shard FSM over s; retries while a released one still drains. */
static struct tr_shard_fsm *fsm_new(struct tr_storage *s,
                                    const struct tr_shard_id *id)
{
    if (lanes == NULL) {
        cr_assert_eq(tr_lanes_new(2, &lanes), 0);
    }
    int64_t deadline = now_ms() + WAIT_MS;
    for (;;) {
        struct tr_shard_fsm *f = NULL;
        int rv = tr_shard_fsm_new(s, lanes, id, &f);
        if (rv == 0) {
            struct raft_fsm *r = tr_shard_fsm_raft(f);
            cr_assert_eq(r->version, 3);
            cr_assert_not_null(r->snapshot_async);
            return f;
        }
        cr_assert_eq(rv, TR_EUNAVAIL);
        cr_assert_lt(now_ms(), deadline, "previous state machine never freed");
        usleep(1000);
    }
}

/* Releases f and waits until its storage thread freed it (the shard can
 * be claimed again), so that its storage may be closed. */
static void fsm_release_wait(struct tr_shard_fsm *f,
                             struct tr_storage *s,
                             const struct tr_shard_id *id)
{
    tr_shard_fsm_release(f);
    int64_t deadline = now_ms() + WAIT_MS;
    while (tr_storage_shard_claim(s, id) != 0) {
        cr_assert_lt(now_ms(), deadline, "state machine never freed");
        usleep(1000);
    }
    tr_storage_shard_unclaim(s, id);
}

/* Sets up node i (data dir, storage, shard FSM, wrapper FSM). */
static void node_init(unsigned i)
{
    struct node *n = &nodes[i];
    memset(n, 0, sizeof(*n));
    snprintf(n->dir, sizeof(n->dir), "/tmp/triad-fsm-test-%d-%u", getpid(), i);
    rm_rf(n->dir);
    n->storage = storage_open(n->dir);
    n->shard = fsm_new(n->storage, &shard_id);
    reclog_init(&n->log, n->storage);
    n->fsm.version = 3;
    n->fsm.data = n;
    n->fsm.apply = node_apply;
    n->fsm.snapshot = node_snapshot;
    n->fsm.restore = node_restore;
    n->fsm.snapshot_finalize = node_snapshot_finalize;
    n->fsm.snapshot_async = node_snapshot_async;
}

static void fsm_setup(void)
{
    n_nodes = 0;
    fix_open = false;
    lanes = NULL;
}

static void fsm_teardown(void)
{
    if (fix_open) {
        raft_fixture_close(&fix);
        fix_open = false;
    }
    for (unsigned i = 0; i < n_nodes; i++) {
        if (nodes[i].shard != NULL) {
            tr_shard_fsm_release(nodes[i].shard);
            nodes[i].shard = NULL;
        }
    }
    tr_lanes_free(lanes); /* every released state machine is freed */
    lanes = NULL;
    for (unsigned i = 0; i < n_nodes; i++) {
        if (nodes[i].storage != NULL) {
            tr_storage_close(nodes[i].storage);
            nodes[i].storage = NULL;
        }
        rm_rf(nodes[i].dir);
    }
    n_nodes = 0;
}

static void fsm_state(struct tr_shard_fsm *f, struct tr_shard_fsm_state *st)
{
    tr_shard_fsm_state(f, st);
}

/* Waits until f's queue drained: everything handed to it is applied. */
static void wait_drained_fsm(struct tr_shard_fsm *f, const char *who)
{
    int64_t deadline = now_ms() + WAIT_MS;
    struct tr_shard_fsm_state st;
    for (;;) {
        fsm_state(f, &st);
        if (st.queued == 0 && st.applied_index == st.queued_index) {
            return;
        }
        cr_assert_not(st.failed, "%s failed: %s", who, st.failure);
        cr_assert_lt(now_ms(), deadline,
                     "%s: queue not drained: queued %llu, applied %llu of "
                     "%llu, catching up %d",
                     who, (unsigned long long)st.queued,
                     (unsigned long long)st.applied_index,
                     (unsigned long long)st.queued_index, st.catching_up);
        usleep(500);
    }
}

static void wait_drained(unsigned i)
{
    char who[32];
    snprintf(who, sizeof(who), "server %u", i);
    wait_drained_fsm(nodes[i].shard, who);
}

/* Waits until f's state says catching up (restores are queued too). */
static void wait_catching_up(struct tr_shard_fsm *f, uint64_t target)
{
    int64_t deadline = now_ms() + WAIT_MS;
    struct tr_shard_fsm_state st;
    for (;;) {
        fsm_state(f, &st);
        if (st.catching_up && st.copy_target == target) {
            return;
        }
        cr_assert_lt(now_ms(), deadline,
                     "not catching up to %llu (catching up %d, target %llu)",
                     (unsigned long long)target, st.catching_up,
                     (unsigned long long)st.copy_target);
        usleep(500);
    }
}

/* A bootstrapped, started fixture of n voters, server 0 elected. */
static void cluster_start(unsigned n, unsigned snapshot_threshold)
{
    memset(&fix, 0, sizeof(fix));
    cr_assert_eq(raft_fixture_initialize(&fix), 0);
    fix_open = true;
    for (unsigned i = 0; i < n; i++) {
        node_init(i);
        n_nodes++;
        /* the fixture's io implements async_work but its ioInit leaves
         * io->version as it finds it, and raft_init refuses a version 3
         * FSM with snapshot_async on an io older than version 2 (raft/
         * group.c does the same for raft_uv) */
        struct raft_io *io = &fix.servers[i].io;
        if (io->version < 2) {
            io->version = 2;
        }
        cr_assert_eq(raft_fixture_grow(&fix, &nodes[i].fsm), 0);
        nodes[i].raft = raft_fixture_get(&fix, i);
        cr_assert_not_null(nodes[i].raft->io->async_work);
        cr_assert_geq(nodes[i].raft->io->version, 2);
        if (snapshot_threshold > 0) {
            raft_set_snapshot_threshold(nodes[i].raft, snapshot_threshold);
            raft_set_snapshot_trailing(nodes[i].raft, 4);
        }
    }
    struct raft_configuration conf;
    cr_assert_eq(raft_fixture_configuration(&fix, n, &conf), 0);
    cr_assert_eq(raft_fixture_bootstrap(&fix, &conf), 0);
    raft_configuration_close(&conf);
    cr_assert_eq(raft_fixture_start(&fix), 0);
    raft_fixture_elect(&fix, 0);
    cr_assert_eq(raft_fixture_leader_index(&fix), 0);
}

static unsigned applies_done;
static unsigned applies_failed;
static uint64_t proposed_samples;

/* A proposal: raft's request and who proposed what. */
struct prop {
    struct raft_apply req; /* first: raft hands it back */
    struct node *n;        /* the proposing node (the leader) */
    bool data;             /* a metrics entry, not a verify entry */
};

/* The proposer's raft callback: waits for storage like the write path. */
static void apply_cb(struct raft_apply *req, int status, void *result)
{
    struct prop *p = (struct prop *)req;
    if (status != 0) {
        applies_failed++;
    } else {
        cr_assert_not_null(result);
        rec_wait(&p->n->log, result, req->index, p->data);
    }
    applies_done++;
    free(p);
}

/* Proposes buf through the leader; returns its Raft index. */
static raft_index propose_buf(const void *data, size_t len, bool metrics)
{
    unsigned l = raft_fixture_leader_index(&fix);
    cr_assert_lt(l, n_nodes, "no leader");
    struct raft *r = raft_fixture_get(&fix, l);
    struct raft_buffer buf = {raft_malloc(len), len};
    cr_assert_not_null(buf.base);
    memcpy(buf.base, data, len);
    struct prop *p = calloc(1, sizeof(*p));
    cr_assert_not_null(p);
    p->n = &nodes[l];
    p->data = metrics;
    cr_assert_eq(raft_apply(r, &p->req, &buf, 1, apply_cb), 0);
    return raft_last_index(r);
}

/* Proposes test entries first..first+count-1 through the leader; returns
 * the Raft index of the last one. */
static raft_index propose(unsigned first, unsigned count)
{
    struct tr_buf b;
    tr_buf_init(&b);
    raft_index last = 0;
    for (unsigned k = first; k < first + count; k++) {
        proposed_samples += gen_entry(k, &b);
        last = propose_buf(b.data, b.len, true);
    }
    tr_buf_free(&b);
    return last;
}

static raft_index propose_verify(uint64_t request)
{
    uint8_t e[TR_ENTRY_VERIFY_SIZE];
    tr_entry_verify_encode(request, e);
    return propose_buf(e, sizeof(e), false);
}

static void step_until_applied(unsigned i, raft_index index)
{
    cr_assert(raft_fixture_step_until_applied(&fix, i, index, STEP_MS),
              "server %u did not apply %llu", i, (unsigned long long)index);
}

/* Steps until every server in [0, n) applied index, then waits for their
 * storage threads. */
static void step_and_drain(unsigned n, raft_index index)
{
    for (unsigned i = 0; i < n; i++) {
        step_until_applied(i, index);
    }
    for (unsigned i = 0; i < n; i++) {
        wait_drained(i);
    }
}

struct snap_wait {
    unsigned i;
    raft_index index;
};

static bool snapshot_reached(struct raft_fixture *f, void *arg)
{
    struct snap_wait *w = arg;
    return raft_fixture_get(f, w->i)->log.snapshot.last_index >= w->index;
}

/* Steps until server i's raft completed a snapshot at index or later (raft
 * takes it with snapshot_async: the fixture runs that work in a step). */
static void step_until_snapshot(unsigned i, raft_index index)
{
    struct snap_wait w = {i, index};
    cr_assert(raft_fixture_step_until(&fix, snapshot_reached, &w, STEP_MS),
              "server %u took no snapshot at %llu", i,
              (unsigned long long)index);
}

static uint64_t checkpoint_checksum(unsigned i, uint64_t *applied)
{
    uint64_t idx = 0;
    cr_assert_eq(tr_storage_shard_checkpoint(nodes[i].storage, &shard_id, &idx),
                 0);
    *applied = tr_storage_shard_applied(nodes[i].storage, &shard_id, true);
    cr_assert_eq(*applied, idx);
    return tr_storage_shard_checksum(nodes[i].storage, &shard_id);
}

/* Entry index of raft's in-memory log (raft's logGet, src/log.c). */
static const struct raft_entry *log_get(struct raft *r, raft_index index)
{
    const struct raft_log *l = &r->log;
    size_t n =
        l->front <= l->back ? l->back - l->front : l->size - l->front + l->back;
    if (n == 0 || index <= l->offset || index > l->offset + n) {
        return NULL;
    }
    return &l->entries[(l->front + (size_t)(index - 1 - l->offset)) % l->size];
}

TestSuite(raft_shard_fsm, .init = fsm_setup, .fini = fsm_teardown);

/* ---- 1. determinism ---------------------------------------------------- */

Test(raft_shard_fsm, replicas_apply_identically)
{
    cluster_start(3, 0);
    applies_done = applies_failed = 0;
    proposed_samples = 0;
    raft_index last = propose(0, 100);
    step_and_drain(3, last);
    last = propose(100, 100);
    step_and_drain(3, last);
    cr_assert_eq(applies_done, 200);
    cr_assert_eq(applies_failed, 0);

    /* the proposer (leader) was told about every entry once it was in its
     * storage, in order, with the apply result */
    struct reclog *lg = &nodes[0].log;
    wait_calls(lg, 200);
    cr_assert_eq(lg->errors, 0);
    cr_assert_eq(lg->early, 0);
    cr_assert_eq(lg->disorder, 0);
    cr_assert_eq(lg->wrong, 0);
    cr_assert_eq(lg->skipped, 0);
    cr_assert_eq(lg->last_index, last);
    cr_assert_eq(lg->items, proposed_samples);
    cr_assert_gt(lg->appended, 0);
    cr_assert_lt(lg->appended, proposed_samples); /* duplicates, rejects */

    uint64_t sum0 = 0, applied0 = 0;
    for (unsigned i = 0; i < 3; i++) {
        struct node *n = &nodes[i];
        struct tr_shard_fsm_state st;
        fsm_state(n->shard, &st);
        cr_assert_eq(st.applied_entries, 200, "server %u", i);
        cr_assert_eq(st.applied_index, last);
        cr_assert_eq(st.queued_index, last);
        cr_assert_eq(st.queued, 0);
        cr_assert_eq(st.queued_bytes, 0);
        cr_assert_gt(st.applied_bytes, 200);
        cr_assert_not(st.catching_up);
        cr_assert_not(st.failed);
        cr_assert_eq(st.snapshots, 0);
        uint64_t applied;
        uint64_t sum = checkpoint_checksum(i, &applied);
        cr_assert_eq(applied, last, "server %u applied %llu", i,
                     (unsigned long long)applied);
        if (i == 0) {
            sum0 = sum;
            applied0 = applied;
        } else {
            cr_assert_eq(sum, sum0, "server %u checksum %016llx != %016llx", i,
                         (unsigned long long)sum, (unsigned long long)sum0);
            cr_assert_eq(applied, applied0);
        }
    }
    /* the checksum covers data: an empty shard differs */
    struct tr_shard_id other = shard_id;
    other.slot++;
    cr_assert_neq(sum0, tr_storage_shard_checksum(nodes[0].storage, &other));
}

/* ---- standalone replicas (no fixture) ------------------------------------ */

/* Applies test entries k (index k+1) for k in [from, to) through a shard
 * FSM as raft would (applying index set around apply, the proposer's
 * when_applied right after), then waits until its queue drained. */
static void fsm_apply_range(struct tr_shard_fsm *f,
                            unsigned from,
                            unsigned to,
                            struct reclog *log)
{
    struct tr_buf b;
    tr_buf_init(&b);
    struct raft_fsm *r = tr_shard_fsm_raft(f);
    for (unsigned k = from; k < to; k++) {
        gen_entry(k, &b);
        struct raft_buffer buf = {b.data, b.len};
        void *result = NULL;
        tr_raft_group_set_applying_index(k + 1);
        int rv = r->apply(r, &buf, &result);
        tr_raft_group_set_applying_index(0);
        cr_assert_eq(rv, 0);
        cr_assert_not_null(result);
        if (log != NULL) {
            rec_wait(log, result, k + 1, true);
        }
    }
    tr_buf_free(&b);
    wait_drained_fsm(f, "standalone");
}

/* Standalone replica i (no fixture) with entries 1..n applied and
 * checkpointed. */
static struct node *standalone_i(unsigned i, unsigned n)
{
    node_init(i);
    if (n_nodes < i + 1) {
        n_nodes = i + 1;
    }
    fsm_apply_range(nodes[i].shard, 0, n, NULL);
    uint64_t idx;
    cr_assert_eq(tr_storage_shard_checkpoint(nodes[i].storage, &shard_id, &idx),
                 0);
    cr_assert_eq(idx, n);
    return &nodes[i];
}

static struct node *standalone(unsigned n)
{
    return standalone_i(0, n);
}

/* ---- 2. when_applied ------------------------------------------------------
 */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_is_open;
static atomic_int gate_entered;

/* A lane that holds its pool thread until the gate opens. */
static void gate_run(void *arg)
{
    (void)arg;
    atomic_fetch_add(&gate_entered, 1);
    pthread_mutex_lock(&gate_mu);
    while (!gate_is_open) {
        pthread_cond_wait(&gate_cv, &gate_mu);
    }
    pthread_mutex_unlock(&gate_mu);
}

static void gate_open(void)
{
    pthread_mutex_lock(&gate_mu);
    gate_is_open = true;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

/* Occupies the only storage thread of a one-thread pool. */
static struct tr_lane *gate_close(void)
{
    gate_is_open = false;
    atomic_store(&gate_entered, 0);
    struct tr_lane *g = tr_lane_new(lanes, gate_run, NULL);
    cr_assert_not_null(g);
    tr_lane_kick(g);
    int64_t deadline = now_ms() + WAIT_MS;
    while (atomic_load(&gate_entered) == 0) {
        cr_assert_lt(now_ms(), deadline);
        usleep(500);
    }
    return g;
}

Test(raft_shard_fsm, when_applied_fires_after_storage_applied)
{
    cr_assert_eq(tr_lanes_new(1, &lanes), 0); /* one storage thread */
    struct node *n = standalone(5);
    struct raft_fsm *r = inner(n);
    struct tr_lane *gate = gate_close();

    /* entries 6..8 are queued; their waiters are registered before the
     * storage thread could apply them */
    struct reclog lg;
    reclog_init(&lg, n->storage);
    struct tr_buf b;
    tr_buf_init(&b);
    unsigned samples = 0;
    for (unsigned k = 5; k < 8; k++) {
        samples += gen_entry(k, &b);
        struct raft_buffer buf = {b.data, b.len};
        void *result = NULL;
        tr_raft_group_set_applying_index(k + 1);
        cr_assert_eq(r->apply(r, &buf, &result), 0);
        tr_raft_group_set_applying_index(0);
        rec_wait(&lg, result, k + 1, true);
    }
    usleep(20000);
    cr_assert_eq(reclog_calls(&lg), 0, "called before storage applied");
    struct tr_shard_fsm_state st;
    fsm_state(n->shard, &st);
    cr_assert_eq(st.queued, 3);
    cr_assert_gt(st.queued_bytes, 0);
    cr_assert_eq(st.queued_index, 8);
    cr_assert_eq(st.applied_index, 5);
    cr_assert_eq(tr_storage_shard_applied(n->storage, &shard_id, false), 5);

    gate_open();
    wait_drained_fsm(n->shard, "replica");
    wait_calls(&lg, 3);
    cr_assert_eq(lg.errors, 0);
    cr_assert_eq(lg.early, 0);
    cr_assert_eq(lg.disorder, 0);
    cr_assert_eq(lg.wrong, 0);
    cr_assert_eq(lg.on_other_thread, 3, "waiters run on the storage thread");
    cr_assert_eq(lg.items, samples);
    cr_assert_eq(lg.last_index, 8);
    cr_assert_eq(lg.last_res.index, 8);
    cr_assert_not(lg.last_res.skipped);

    /* already applied: the callback runs right away, on this thread */
    samples = gen_entry(8, &b);
    struct raft_buffer buf = {b.data, b.len};
    void *result = NULL;
    tr_raft_group_set_applying_index(9);
    cr_assert_eq(r->apply(r, &buf, &result), 0);
    tr_raft_group_set_applying_index(0);
    wait_drained_fsm(n->shard, "replica");
    rec_wait(&lg, result, 9, true);
    cr_assert_eq(lg.calls, 4, "not called within when_applied");
    cr_assert_eq(lg.on_other_thread, 3);
    cr_assert_eq(lg.last_rv, 0);
    cr_assert_eq(lg.last_res.index, 9);
    cr_assert_eq(
        lg.last_res.appended + lg.last_res.duplicate + lg.last_res.rejected,
        samples);
    /* an entry at or below the applied index is reported as skipped */
    tr_raft_group_set_applying_index(9);
    cr_assert_eq(r->apply(r, &buf, &result), 0);
    tr_raft_group_set_applying_index(0);
    rec_wait(&lg, result, 9, true);
    wait_drained_fsm(n->shard, "replica");
    wait_calls(&lg, 5);
    cr_assert_eq(lg.skipped, 1);
    tr_buf_free(&b);
    tr_lane_release(gate, NULL, NULL);
}

/* Applies entry e at index through raft's callback, waits until storage
 * applied it (the calls-th record) and returns the items it counted. */
static uint64_t hint_apply(struct node *n,
                           struct reclog *lg,
                           const struct tr_buf *e,
                           uint64_t index,
                           unsigned calls)
{
    struct raft_fsm *r = inner(n);
    struct raft_buffer buf = {e->data, e->len};
    void *result = NULL;
    tr_raft_group_set_applying_index(index);
    cr_assert_eq(r->apply(r, &buf, &result), 0);
    tr_raft_group_set_applying_index(0);
    rec_wait(lg, result, index, true);
    wait_drained_fsm(n->shard, "replica");
    wait_calls(lg, calls);
    return lg->last_res.appended + lg->last_res.duplicate +
           lg->last_res.rejected;
}

/* A hint (tr_shard_fsm_hint: what this node proposed, uncompressed) is
 * used only for exactly the bytes it names at its index: here its plain
 * form is another entry, so which one storage applied shows in the
 * counts (a real hint's plain form is the same entry). */
Test(raft_shard_fsm, hint_used_only_for_its_own_bytes)
{
    cr_assert_eq(tr_lanes_new(1, &lanes), 0);
    struct node *n = standalone(5);
    struct reclog lg;
    reclog_init(&lg, n->storage);
    struct tr_buf a, other, plain;
    tr_buf_init(&a);
    tr_buf_init(&other);
    tr_buf_init(&plain);
    unsigned na = gen_entry(5, &a);
    unsigned np = gen_entry(17, &plain);
    cr_assert_neq(na, np);
    cr_assert_eq(tr_shard_fsm_hint(n->shard, 6, a.data, a.len, &plain), 0);
    cr_assert_eq(plain.len, 0, "the hint took the plain form");
    cr_assert_eq(hint_apply(n, &lg, &a, 6, 1), np,
                 "the hint's plain form was applied");

    /* another entry at the hinted index (a new leader's): applied as it is */
    tr_buf_reset(&a);
    unsigned nc = gen_entry(8, &a);
    gen_entry(7, &other);
    np = gen_entry(17, &plain);
    cr_assert_neq(nc, np);
    cr_assert_eq(tr_shard_fsm_hint(n->shard, 7, other.data, other.len, &plain),
                 0);
    cr_assert_eq(hint_apply(n, &lg, &a, 7, 2), nc,
                 "the entry raft applied, not the hint");
    cr_assert_eq(lg.errors, 0);
    tr_buf_free(&a);
    tr_buf_free(&other);
    tr_buf_free(&plain);
}

struct snap_call {
    struct raft_fsm *fsm;
    struct raft_buffer *bufs;
    unsigned n_bufs;
    int rv;
    atomic_int done;
};

static void *snap_async_main(void *arg)
{
    struct snap_call *c = arg;
    c->rv = c->fsm->snapshot_async(c->fsm, &c->bufs, &c->n_bufs);
    atomic_store(&c->done, 1);
    return NULL;
}

Test(raft_shard_fsm, stop_cancels_queued_work)
{
    cr_assert_eq(tr_lanes_new(1, &lanes), 0);
    struct node *n = standalone(5);
    struct raft_fsm *r = inner(n);
    struct tr_lane *gate = gate_close();
    struct reclog lg;
    reclog_init(&lg, n->storage);
    struct tr_buf b;
    tr_buf_init(&b);
    for (unsigned k = 5; k < 9; k++) {
        gen_entry(k, &b);
        struct raft_buffer buf = {b.data, b.len};
        void *result = NULL;
        tr_raft_group_set_applying_index(k + 1);
        cr_assert_eq(r->apply(r, &buf, &result), 0);
        tr_raft_group_set_applying_index(0);
        rec_wait(&lg, result, k + 1, true);
    }
    tr_buf_free(&b);
    /* a snapshot waits for its checkpoint behind the entries */
    struct snap_call sc = {.fsm = r};
    cr_assert_eq(r->snapshot(r, &sc.bufs, &sc.n_bufs), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, snap_async_main, &sc), 0);
    usleep(20000);
    cr_assert_eq(atomic_load(&sc.done), 0);

    /* the group closes: the snapshot and the entries are canceled */
    tr_shard_fsm_stop(n->shard);
    pthread_join(th, NULL);
    cr_assert_neq(sc.rv, 0);
    cr_assert_eq(r->snapshot_finalize(r, &sc.bufs, &sc.n_bufs), 0);
    cr_assert_null(sc.bufs);
    gate_open();
    wait_calls(&lg, 4);
    cr_assert_eq(lg.errors, 4);
    cr_assert_eq(lg.last_rv, TR_ECANCELED);
    cr_assert_eq(tr_storage_shard_applied(n->storage, &shard_id, false), 5);
    /* no snapshot of a stopping replica */
    struct raft_buffer *bufs = NULL;
    unsigned n_bufs = 0;
    cr_assert_eq(r->snapshot(r, &bufs, &n_bufs), RAFT_BUSY);

    /* the next state machine of the shard starts where storage is */
    fsm_release_wait(n->shard, n->storage, &shard_id);
    n->shard = fsm_new(n->storage, &shard_id);
    struct tr_shard_fsm_state st;
    fsm_state(n->shard, &st);
    cr_assert_eq(st.applied_index, 5);
    fsm_apply_range(n->shard, 0, 9, NULL);
    cr_assert_eq(tr_storage_shard_applied(n->storage, &shard_id, false), 9);
    tr_lane_release(gate, NULL, NULL);
}

/* ---- 3. idempotent replay ---------------------------------------------- */

#define REPLAY_N 200
#define REPLAY_K 90

Test(raft_shard_fsm, replay_after_crash_is_idempotent)
{
    char dir_crash[128], dir_ref[128];
    snprintf(dir_crash, sizeof(dir_crash), "/tmp/triad-fsm-test-%d-0",
             getpid());
    snprintf(dir_ref, sizeof(dir_ref), "/tmp/triad-fsm-test-%d-1", getpid());
    rm_rf(dir_crash);
    rm_rf(dir_ref);
    /* nodes[] only for clean-up */
    memset(nodes, 0, 2 * sizeof(nodes[0]));
    memcpy(nodes[0].dir, dir_crash, sizeof(dir_crash));
    memcpy(nodes[1].dir, dir_ref, sizeof(dir_ref));
    n_nodes = 2;

    /* the crashing replica: checkpoint at K, apply up to N, die without
     * closing (RocksDB and the storage threads exist only in the child) */
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct tr_storage *s = storage_open(dir_crash);
        struct tr_shard_fsm *f = fsm_new(s, &shard_id);
        fsm_apply_range(f, 0, REPLAY_K, NULL);
        uint64_t idx = 0;
        if (tr_storage_shard_checkpoint(s, &shard_id, &idx) != 0 ||
            idx != REPLAY_K) {
            _exit(2);
        }
        fsm_apply_range(f, REPLAY_K, REPLAY_N, NULL);
        if (tr_storage_shard_applied(s, &shard_id, false) != REPLAY_N) {
            _exit(3);
        }
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d",
              status);

    /* the reference replica: every entry once, checkpointed at the same
     * indexes (K, N) */
    nodes[1].storage = storage_open(dir_ref);
    nodes[1].shard = fsm_new(nodes[1].storage, &shard_id);
    fsm_apply_range(nodes[1].shard, 0, REPLAY_K, NULL);
    uint64_t k_idx = 0;
    cr_assert_eq(
        tr_storage_shard_checkpoint(nodes[1].storage, &shard_id, &k_idx), 0);
    cr_assert_eq(k_idx, REPLAY_K);
    fsm_apply_range(nodes[1].shard, REPLAY_K, REPLAY_N, NULL);
    uint64_t ref_applied;
    uint64_t ref = checkpoint_checksum(1, &ref_applied);
    cr_assert_eq(ref_applied, REPLAY_N);

    /* restart: durable state is the checkpoint at K; Raft replays its log
     * from the start (no snapshot): 1..K are skipped, K+1..N applied */
    nodes[0].storage = storage_open(dir_crash);
    cr_assert_eq(tr_storage_shard_applied(nodes[0].storage, &shard_id, true),
                 REPLAY_K);
    nodes[0].shard = fsm_new(nodes[0].storage, &shard_id);
    struct tr_shard_fsm_state st;
    fsm_state(nodes[0].shard, &st);
    cr_assert_eq(st.applied_index, REPLAY_K);
    struct reclog lg;
    reclog_init(&lg, nodes[0].storage);
    fsm_apply_range(nodes[0].shard, 0, REPLAY_N, &lg);
    wait_calls(&lg, REPLAY_N);
    cr_assert_eq(lg.skipped, REPLAY_K);
    cr_assert_eq(lg.errors, 0);
    cr_assert_eq(lg.early, 0);
    uint64_t applied;
    uint64_t sum = checkpoint_checksum(0, &applied);
    cr_assert_eq(applied, REPLAY_N);
    cr_assert_eq(sum, ref, "replayed %016llx != reference %016llx",
                 (unsigned long long)sum, (unsigned long long)ref);

    /* a second replay of 1..N is all skips and changes nothing */
    reclog_init(&lg, nodes[0].storage);
    fsm_apply_range(nodes[0].shard, 0, REPLAY_N, &lg);
    wait_calls(&lg, REPLAY_N);
    cr_assert_eq(lg.skipped, REPLAY_N);
    cr_assert_eq(checkpoint_checksum(0, &applied), ref);
    cr_assert_eq(applied, REPLAY_N);

    /* and across a clean close/reopen too */
    fsm_release_wait(nodes[0].shard, nodes[0].storage, &shard_id);
    nodes[0].shard = NULL;
    tr_storage_close(nodes[0].storage);
    nodes[0].storage = storage_open(dir_crash);
    cr_assert_eq(tr_storage_shard_applied(nodes[0].storage, &shard_id, true),
                 REPLAY_N);
    cr_assert_eq(tr_storage_shard_checksum(nodes[0].storage, &shard_id), ref);
}

/* Replicas checkpoint at their own times (Raft snapshots are taken when a
 * replica's own threshold is reached; tr_storage_checkpoint_all runs on a
 * local timer), so the persisted state - and tr_storage_shard_checksum -
 * must not depend on when checkpoints happened (open out-of-order samples
 * are checkpointed in place under a fixed key: storage/keys.h). */
Test(raft_shard_fsm, checksum_does_not_depend_on_checkpoint_timing)
{
    node_init(0);
    node_init(1);
    n_nodes = 2;
    fsm_apply_range(nodes[0].shard, 0, REPLAY_N, NULL);
    fsm_apply_range(nodes[1].shard, 0, REPLAY_K, NULL);
    uint64_t idx = 0;
    cr_assert_eq(tr_storage_shard_checkpoint(nodes[1].storage, &shard_id, &idx),
                 0);
    fsm_apply_range(nodes[1].shard, REPLAY_K, REPLAY_N, NULL);
    uint64_t a0, a1;
    uint64_t s0 = checkpoint_checksum(0, &a0);
    uint64_t s1 = checkpoint_checksum(1, &a1);
    cr_assert_eq(a0, a1);
    cr_assert_eq(s1, s0,
                 "checkpointed at %d: %016llx, only at the end: %016llx "
                 "(out-of-order chunks keyed by checkpoint index)",
                 REPLAY_K, (unsigned long long)s1, (unsigned long long)s0);
}

/* ---- 4. fail-stop on a storage write failure ------------------------------
 */

Test(raft_shard_fsm, failed_write_stops_the_replica_until_replayed)
{
    cluster_start(3, 0);
    applies_done = applies_failed = 0;
    raft_index last = propose(0, 20);
    step_and_drain(3, last);
    /* a local checkpoint (tr_storage_checkpoint_all's timer) */
    uint64_t durable = 0;
    cr_assert_eq(
        tr_storage_shard_checkpoint(nodes[2].storage, &shard_id, &durable), 0);
    cr_assert_eq(durable, last);
    last = propose(20, 5);
    step_and_drain(3, last);
    uint64_t good = last;

    /* replica 2's next storage write fails */
    tr_storage_fail_writes_for_test(nodes[2].storage, 1);
    last = propose(25, 20);
    step_until_applied(3, last);
    wait_drained(0);
    wait_drained(1);
    struct node *bad = &nodes[2];
    int64_t deadline = now_ms() + WAIT_MS;
    struct tr_shard_fsm_state st;
    for (;;) {
        fsm_state(bad->shard, &st);
        if (st.failed) {
            break;
        }
        cr_assert_lt(now_ms(), deadline, "the replica did not stop");
        usleep(500);
    }
    usleep(20000); /* nothing moves once stopped */
    fsm_state(bad->shard, &st);
    cr_assert(st.failed);
    cr_assert(strstr(st.failure, "injected") != NULL, "failure: %s",
              st.failure);
    cr_assert_eq(st.applied_index, good, "applied %llu",
                 (unsigned long long)st.applied_index);
    cr_assert_eq(st.queued, 20, "the failed entry and those after it");
    cr_assert_eq(st.queued_index, last);
    cr_assert_eq(tr_storage_shard_applied(bad->storage, &shard_id, false),
                 good);
    /* the others and the proposer (the leader) are unaffected */
    wait_calls(&nodes[0].log, 45);
    cr_assert_eq(nodes[0].log.errors, 0);
    cr_assert_eq(applies_failed, 0);
    /* no snapshot of a stopped replica */
    struct raft_buffer *bufs = NULL;
    unsigned n_bufs = 0;
    cr_assert_eq(inner(bad)->snapshot(inner(bad), &bufs, &n_bufs), RAFT_BUSY);

    /* the owner closes the group (raft calls the old state machine no
     * more) and starts it again with a new one over the same storage: its
     * state is reset to the durable index and raft replays its log */
    raft_fixture_kill(&fix, 2);
    tr_shard_fsm_stop(bad->shard);
    tr_shard_fsm_release(bad->shard);
    bad->shard = fsm_new(bad->storage, &shard_id);
    fsm_state(bad->shard, &st);
    cr_assert_not(st.failed);
    cr_assert_eq(st.applied_index, durable);
    cr_assert_eq(tr_storage_shard_applied(bad->storage, &shard_id, false),
                 durable);
    struct reclog lg;
    reclog_init(&lg, bad->storage);
    struct raft_fsm *r = inner(bad);
    unsigned commands = 0;
    for (raft_index i = 1; i <= raft_last_applied(bad->raft); i++) {
        const struct raft_entry *e = log_get(bad->raft, i);
        cr_assert_not_null(e, "entry %llu not in the log",
                           (unsigned long long)i);
        if (e->type != RAFT_COMMAND) {
            continue;
        }
        void *result = NULL;
        tr_raft_group_set_applying_index(i);
        cr_assert_eq(r->apply(r, &e->buf, &result), 0);
        tr_raft_group_set_applying_index(0);
        rec_wait(&lg, result, i, true);
        commands++;
    }
    cr_assert_eq(commands, 45);
    wait_drained(2);
    wait_calls(&lg, 45);
    cr_assert_eq(lg.errors, 0);
    cr_assert_eq(lg.skipped, 20, "entries up to the durable index");
    uint64_t a0, a1, a2;
    uint64_t s0 = checkpoint_checksum(0, &a0);
    uint64_t s1 = checkpoint_checksum(1, &a1);
    uint64_t s2 = checkpoint_checksum(2, &a2);
    cr_assert_eq(a0, last);
    cr_assert_eq(a2, last);
    cr_assert_eq(s1, s0);
    cr_assert_eq(s2, s0, "replayed replica %016llx != %016llx",
                 (unsigned long long)s2, (unsigned long long)s0);

    /* back in the group, it applies new entries with the others */
    raft_fixture_revive(&fix, 2);
    last = propose(45, 10);
    step_and_drain(3, last);
    s0 = checkpoint_checksum(0, &a0);
    s2 = checkpoint_checksum(2, &a2);
    cr_assert_eq(a2, last);
    cr_assert_eq(s2, s0);
    fsm_state(bad->shard, &st);
    cr_assert_not(st.failed);
    cr_assert_eq(st.applied_index, last);
}

/* ---- 5. verify entries ----------------------------------------------------
 */

Test(raft_shard_fsm, verify_entries_checksum_replicas_alike)
{
    cluster_start(3, 0);
    applies_done = applies_failed = 0;
    propose(0, 30);
    raft_index v1 = propose_verify(77);
    raft_index last = propose(30, 10);
    step_and_drain(3, last);
    cr_assert_eq(applies_failed, 0);
    wait_calls(&nodes[0].log, 41);
    cr_assert_eq(nodes[0].log.errors, 0);
    uint64_t sum1 = 0;
    for (unsigned i = 0; i < 3; i++) {
        uint64_t idx = 0, sum = 0;
        cr_assert_eq(tr_shard_fsm_verify_result(nodes[i].shard, 77, &idx, &sum),
                     0, "server %u", i);
        cr_assert_eq(idx, v1);
        if (i == 0) {
            sum1 = sum;
        } else {
            cr_assert_eq(sum, sum1, "server %u: %016llx != %016llx", i,
                         (unsigned long long)sum, (unsigned long long)sum1);
        }
        cr_assert_eq(tr_shard_fsm_verify_result(nodes[i].shard, 78, &idx, &sum),
                     TR_ENOTFOUND);
        struct tr_shard_fsm_state st;
        fsm_state(nodes[i].shard, &st);
        cr_assert_eq(st.applied_entries, 41);
        cr_assert_eq(st.applied_index, last);
        /* a verify entry checkpoints: the data before it is durable */
        cr_assert_geq(
            tr_storage_shard_applied(nodes[i].storage, &shard_id, true),
            v1 - 1);
    }

    /* replica 1's data goes bad behind storage's back */
    struct tr_buf k;
    tr_buf_init(&k);
    tr_key_shard_prefix(&k, TR_SLICE_LIT("a"), WINDOW, SLOT, TR_KEY_CHUNK);
    tr_buf_put_u64be(&k, 0x1234);
    tr_buf_put_u64be(&k, tr_key_time(BASE));
    tr_buf_put_u64be(&k, 0);
    struct tr_engine *e = tr_storage_engine(nodes[1].storage);
    struct tr_wbatch *b = tr_wbatch_new(e);
    tr_wbatch_put(b, TR_CF_METRICS, k.data, k.len, "garbage", 7);
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_engine_write(e, b, err), 0, "%s", err);
    tr_wbatch_free(b);
    tr_buf_free(&k);

    raft_index v2 = propose_verify(78);
    step_and_drain(3, v2);
    uint64_t sums[3];
    for (unsigned i = 0; i < 3; i++) {
        uint64_t idx = 0;
        cr_assert_eq(
            tr_shard_fsm_verify_result(nodes[i].shard, 78, &idx, &sums[i]), 0);
        cr_assert_eq(idx, v2);
        /* the earlier result is kept */
        uint64_t old = 0;
        cr_assert_eq(tr_shard_fsm_verify_result(nodes[i].shard, 77, &idx, &old),
                     0);
        cr_assert_eq(idx, v1);
        cr_assert_eq(old, sum1);
    }
    cr_assert_eq(sums[2], sums[0]);
    cr_assert_neq(sums[1], sums[0], "the corrupted replica is not found");
    cr_assert_neq(sums[0], sum1, "entries between the verifies changed data");
    /* it is the shard's checksum at that index */
    cr_assert_eq(sums[0],
                 tr_storage_shard_checksum(nodes[0].storage, &shard_id));
    cr_assert_eq(sums[1],
                 tr_storage_shard_checksum(nodes[1].storage, &shard_id));
}

/* ---- 6. snapshot install and catch-up by copy ---------------------------- */

Test(raft_shard_fsm, lagging_replica_catches_up_by_copy)
{
    /* (the copy gives the lagging replica the leader's layout of the shard,
     * and all three then snapshot at the same indexes here) */
    cluster_start(3, 16);
    applies_done = applies_failed = 0;
    raft_index last = propose(0, 10);
    step_and_drain(3, last);
    raft_index before_kill = last;

    /* server 2 misses enough entries for the leader to snapshot past them
     * and truncate its log */
    raft_fixture_kill(&fix, 2);
    last = propose(10, 60);
    step_until_applied(0, last);
    step_until_applied(1, last);
    step_until_snapshot(0, before_kill + 5);
    wait_drained(0);
    wait_drained(1);
    struct tr_shard_fsm_state st;
    fsm_state(nodes[0].shard, &st);
    cr_assert_gt(st.snapshots, 0, "leader took no snapshot");
    cr_assert_gt(nodes[0].raft->log.snapshot.last_index, before_kill + 4);
    /* a marker only names durable data */
    cr_assert_geq(tr_storage_shard_applied(nodes[0].storage, &shard_id, true),
                  nodes[0].raft->log.snapshot.last_index);

    /* back: it gets an InstallSnapshot with the marker; the restore marks
     * the shard catching-up at the marker's index and holds its queue */
    struct node *lag = &nodes[2];
    raft_fixture_revive(&fix, 2);
    step_until_applied(2, last);
    raft_fixture_step_until_elapsed(&fix, 2000); /* leader sees it current */
    cr_assert_geq(raft_fixture_n_recv(&fix, 2, RAFT_IO_INSTALL_SNAPSHOT), 1);
    uint64_t marker = lag->raft->log.snapshot.last_index;
    wait_catching_up(lag->shard, marker);
    cr_assert_gt(marker, before_kill);
    cr_assert_leq(marker, last);
    /* nothing reached its storage meanwhile; the entries after the
     * snapshot are queued */
    cr_assert_eq(tr_storage_shard_applied(lag->storage, &shard_id, false),
                 before_kill);
    fsm_state(lag->shard, &st);
    cr_assert_eq(st.queued, last - marker);
    cr_assert_eq(st.queued_index, last);
    cr_assert_eq(st.applied_index, before_kill);
    cr_assert_eq(st.snapshots, 1);
    /* no marker of a catching-up replica */
    struct raft_buffer *bufs = NULL;
    unsigned n_bufs = 0;
    cr_assert_eq(inner(lag)->snapshot(inner(lag), &bufs, &n_bufs), RAFT_BUSY);

    /* the copy source is taken now; entries that follow are queued on the
     * lagging replica and applied above the dump's index */
    struct tr_buf dump;
    tr_buf_init(&dump);
    cr_assert_eq(tr_storage_shard_dump(nodes[0].storage, &shard_id, &dump), 0);
    raft_index dumped = last;
    last = propose(70, 10);
    step_until_applied(3, last);
    wait_drained(0);
    wait_drained(1);
    fsm_state(lag->shard, &st);
    cr_assert(st.catching_up);
    cr_assert_eq(st.snapshots, 1, "a second InstallSnapshot arrived");
    cr_assert_eq(st.queued, last - marker);

    /* a failed copy changes nothing */
    tr_shard_fsm_copy_done(lag->shard, false, 0);
    fsm_state(lag->shard, &st);
    cr_assert(st.catching_up);

    uint64_t loaded = 0;
    cr_assert_eq(tr_storage_shard_load(lag->storage, &shard_id, dump.data,
                                       dump.len, &loaded),
                 0);
    tr_buf_free(&dump);
    cr_assert_eq(loaded, dumped);
    cr_assert_geq(loaded, marker);
    tr_shard_fsm_copy_done(lag->shard, true, loaded);
    wait_drained(2);
    fsm_state(lag->shard, &st);
    cr_assert_not(st.catching_up);
    cr_assert_eq(st.applied_index, last);
    cr_assert_eq(tr_storage_shard_applied(lag->storage, &shard_id, false),
                 last);

    /* it applies the remaining entries itself (snapshotting again) and
     * converges */
    uint64_t snaps = st.snapshots;
    last = propose(80, 60);
    step_and_drain(3, last);
    step_until_snapshot(2, marker + 16);
    cr_assert_eq(applies_failed, 0);
    cr_assert_eq(nodes[0].log.errors, 0);
    fsm_state(lag->shard, &st);
    cr_assert_not(st.catching_up);
    cr_assert_gt(st.snapshots, snaps);
    uint64_t a0, a1, a2;
    uint64_t s0 = checkpoint_checksum(0, &a0);
    uint64_t s1 = checkpoint_checksum(1, &a1);
    uint64_t s2 = checkpoint_checksum(2, &a2);
    cr_assert_eq(a0, last);
    cr_assert_eq(a1, last);
    cr_assert_eq(a2, last);
    cr_assert_eq(s1, s0);
    cr_assert_eq(s2, s0, "caught-up replica %016llx != leader %016llx",
                 (unsigned long long)s2, (unsigned long long)s0);
}

/* ---- markers and restore without a cluster ------------------------------ */

Test(raft_shard_fsm, marker_round_trip)
{
    const struct {
        uint64_t index;
        uint8_t signal;
        int64_t window;
        uint16_t slot;
    } cases[] = {
        {0, TR_SIGNAL_METRICS, 0, 0},
        {1, TR_SIGNAL_METRICS, WINDOW, SLOT},
        {UINT64_MAX, TR_SIGNAL_TRACES, INT64_MAX, UINT16_MAX},
        {42, TR_SIGNAL_LOGS, -DAY, 7},
        {1ULL << 40, TR_SIGNAL_METRICS, INT64_MIN, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tr_shard_id id = {cases[i].signal, cases[i].window,
                                 cases[i].slot};
        uint8_t m[TR_SHARD_MARKER_SIZE];
        tr_shard_marker_encode(m, cases[i].index, &id);
        cr_assert_eq(memcmp(m, "TRSM\x02", 5), 0);
        cr_assert_eq(m[13], cases[i].signal);
        uint64_t index;
        struct tr_shard_id d;
        memset(&d, 0, sizeof(d));
        cr_assert_eq(tr_shard_marker_decode(m, sizeof(m), &index, &d), 0);
        cr_assert_eq(index, cases[i].index, "case %zu", i);
        cr_assert(tr_shard_eq(&d, &id), "case %zu", i);
    }
}

/* A version 1 marker (23 bytes, no signal) as earlier builds wrote it. */
static void marker_v1(uint8_t out[TR_SHARD_MARKER_V1_SIZE],
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

Test(raft_shard_fsm, marker_version_1_is_a_metrics_shard)
{
    uint8_t m[TR_SHARD_MARKER_V1_SIZE + 1];
    marker_v1(m, 123456789, WINDOW, SLOT);
    uint64_t index = 0;
    struct tr_shard_id id = {0, 0, 0};
    cr_assert_eq(
        tr_shard_marker_decode(m, TR_SHARD_MARKER_V1_SIZE, &index, &id), 0);
    cr_assert_eq(index, 123456789);
    cr_assert(tr_shard_eq(&id, &shard_id));
    marker_v1(m, 5, -DAY, 0);
    cr_assert_eq(
        tr_shard_marker_decode(m, TR_SHARD_MARKER_V1_SIZE, &index, &id), 0);
    cr_assert_eq(id.signal, TR_SIGNAL_METRICS);
    cr_assert_eq(id.window, -DAY);
    cr_assert_eq(id.slot, 0);
    /* only at its own length */
    m[TR_SHARD_MARKER_V1_SIZE] = 0;
    for (size_t len = 0; len <= sizeof(m); len++) {
        int rv = tr_shard_marker_decode(m, len, &index, &id);
        cr_assert_eq(rv, len == TR_SHARD_MARKER_V1_SIZE ? 0 : TR_ECORRUPT,
                     "len %zu", len);
    }

    /* restored by a metrics shard's state machine (a raft snapshot written
     * by an earlier build), refused by a logs shard's */
    struct node *n = standalone(10);
    struct raft_buffer b = {raft_malloc(TR_SHARD_MARKER_V1_SIZE),
                            TR_SHARD_MARKER_V1_SIZE};
    marker_v1(b.base, 50, WINDOW, SLOT);
    cr_assert_eq(inner(n)->restore(inner(n), &b), 0);
    wait_catching_up(n->shard, 50);
    struct tr_shard_id logs = shard_id;
    logs.signal = TR_SIGNAL_LOGS;
    struct tr_shard_fsm *lf = fsm_new(n->storage, &logs);
    struct raft_fsm *lr = tr_shard_fsm_raft(lf);
    b.base = raft_malloc(TR_SHARD_MARKER_V1_SIZE);
    marker_v1(b.base, 50, WINDOW, SLOT);
    cr_assert_eq(lr->restore(lr, &b), RAFT_CORRUPT);
    raft_free(b.base); /* as raft does */
    fsm_release_wait(lf, n->storage, &logs);
}

Test(raft_shard_fsm, marker_decode_rejects_malformed)
{
    uint8_t m[TR_SHARD_MARKER_SIZE + 1];
    tr_shard_marker_encode(m, 5, &shard_id);
    m[TR_SHARD_MARKER_SIZE] = 0;
    uint64_t index;
    struct tr_shard_id id;
    for (size_t len = 0; len <= sizeof(m); len++) {
        int rv = tr_shard_marker_decode(m, len, &index, &id);
        cr_assert_eq(rv, len == TR_SHARD_MARKER_SIZE ? 0 : TR_ECORRUPT,
                     "len %zu", len);
    }
    for (size_t i = 0; i < 5; i++) { /* magic and version */
        uint8_t bad[TR_SHARD_MARKER_SIZE];
        memcpy(bad, m, sizeof(bad));
        bad[i] ^= 0x20;
        cr_assert_eq(tr_shard_marker_decode(bad, sizeof(bad), &index, &id),
                     TR_ECORRUPT, "byte %zu", i);
    }
    const uint8_t signals[] = {0, TR_SIGNAL_MAX + 1, 0xff};
    for (size_t i = 0; i < sizeof(signals); i++) {
        uint8_t bad[TR_SHARD_MARKER_SIZE];
        memcpy(bad, m, sizeof(bad));
        bad[13] = signals[i];
        cr_assert_eq(tr_shard_marker_decode(bad, sizeof(bad), &index, &id),
                     TR_ECORRUPT, "signal %u", signals[i]);
    }
    /* a version 2 marker at version 1's length and the reverse */
    uint8_t v[TR_SHARD_MARKER_SIZE];
    memcpy(v, m, sizeof(v));
    cr_assert_eq(
        tr_shard_marker_decode(v, TR_SHARD_MARKER_V1_SIZE, &index, &id),
        TR_ECORRUPT);
    v[4] = 1;
    cr_assert_eq(tr_shard_marker_decode(v, sizeof(v), &index, &id),
                 TR_ECORRUPT);
}

/* A raft heap that records the last pointer freed, to check who owns the
 * restore buffer without double-freeing under ASan. */
static void *heap_last_freed;

static void *heap_malloc(void *data, size_t size)
{
    (void)data;
    return malloc(size);
}
static void heap_free(void *data, void *ptr)
{
    (void)data;
    heap_last_freed = ptr;
    free(ptr);
}
static void *heap_calloc(void *data, size_t nmemb, size_t size)
{
    (void)data;
    return calloc(nmemb, size);
}
static void *heap_realloc(void *data, void *ptr, size_t size)
{
    (void)data;
    return realloc(ptr, size);
}
static void *heap_aligned_alloc(void *data, size_t alignment, size_t size)
{
    (void)data;
    return aligned_alloc(alignment, size);
}
static void heap_aligned_free(void *data, size_t alignment, void *ptr)
{
    (void)data;
    (void)alignment;
    heap_last_freed = ptr;
    free(ptr);
}
static struct raft_heap tracking_heap = {
    NULL,         heap_malloc,        heap_free,         heap_calloc,
    heap_realloc, heap_aligned_alloc, heap_aligned_free,
};

/* A raft_malloc'd buffer holding a marker. */
static struct raft_buffer marker_buf(uint64_t index,
                                     const struct tr_shard_id *id)
{
    struct raft_buffer b = {raft_malloc(TR_SHARD_MARKER_SIZE),
                            TR_SHARD_MARKER_SIZE};
    cr_assert_not_null(b.base);
    tr_shard_marker_encode(b.base, index, id);
    return b;
}

/* snapshot + snapshot_async (as raft calls them); returns the marker's
 * index, or the error of either call (then nothing is left to free). */
static int take_snapshot(struct raft_fsm *r, uint64_t *index)
{
    struct raft_buffer *bufs = NULL;
    unsigned n_bufs = 0;
    int rv = r->snapshot(r, &bufs, &n_bufs);
    if (rv != 0) {
        return rv;
    }
    cr_assert_eq(n_bufs, 1);
    cr_assert_eq(bufs[0].len, TR_SHARD_MARKER_SIZE);
    rv = r->snapshot_async(r, &bufs, &n_bufs);
    if (rv == 0) {
        struct tr_shard_id id;
        cr_assert_eq(
            tr_shard_marker_decode(bufs[0].base, bufs[0].len, index, &id), 0);
        cr_assert(tr_shard_eq(&id, &shard_id));
    }
    cr_assert_eq(r->snapshot_finalize(r, &bufs, &n_bufs), 0);
    cr_assert_null(bufs);
    cr_assert_eq(n_bufs, 0);
    return rv;
}

Test(raft_shard_fsm, snapshot_is_a_marker_of_durable_data)
{
    struct node *n = standalone(0);
    struct raft_fsm *r = inner(n);
    fsm_apply_range(n->shard, 0, 25, NULL);
    uint64_t index = 0;
    cr_assert_eq(take_snapshot(r, &index), 0);
    cr_assert_eq(index, 25);
    /* the snapshot checkpointed: everything up to the marker is durable */
    cr_assert_eq(tr_storage_shard_applied(n->storage, &shard_id, true), 25);
    struct tr_shard_fsm_state st;
    fsm_state(n->shard, &st);
    cr_assert_eq(st.snapshots, 1);

    /* entries still queued: the checkpoint waits behind them */
    struct tr_buf b;
    tr_buf_init(&b);
    for (unsigned k = 25; k < 60; k++) {
        gen_entry(k, &b);
        struct raft_buffer buf = {b.data, b.len};
        void *result = NULL;
        tr_raft_group_set_applying_index(k + 1);
        cr_assert_eq(r->apply(r, &buf, &result), 0);
        tr_raft_group_set_applying_index(0);
    }
    tr_buf_free(&b);
    cr_assert_eq(take_snapshot(r, &index), 0);
    cr_assert_eq(index, 60);
    cr_assert_geq(tr_storage_shard_applied(n->storage, &shard_id, true), 60);

    /* no marker while catching up */
    struct tr_shard_id id = shard_id;
    struct raft_buffer mb = marker_buf(100, &id);
    cr_assert_eq(r->restore(r, &mb), 0);
    wait_catching_up(n->shard, 100);
    cr_assert_eq(take_snapshot(r, &index), RAFT_BUSY);
}

/* The marker names what this replica's storage holds even when no entry
 * was applied since the state machine started (a restart, a group whose
 * new entries are all barriers or configuration changes) or after a copy:
 * a replica that installs the snapshot must not skip data it lacks. */
Test(raft_shard_fsm, snapshot_never_names_less_than_the_data)
{
    struct node *n = standalone(30);
    fsm_release_wait(n->shard, n->storage, &shard_id);
    n->shard = fsm_new(n->storage, &shard_id);
    uint64_t index = 0;
    cr_assert_eq(take_snapshot(inner(n), &index), 0);
    cr_assert_eq(index, 30, "marker %llu after a restart at 30",
                 (unsigned long long)index);
    /* a replica without the data installs it: it must copy */
    struct node *o = standalone_i(1, 0);
    struct raft_buffer mb = marker_buf(index, &shard_id);
    cr_assert_eq(inner(o)->restore(inner(o), &mb), 0);
    wait_catching_up(o->shard, 30);

    /* after a copy (no entry applied since) the marker names the copy */
    struct tr_buf dump;
    tr_buf_init(&dump);
    cr_assert_eq(tr_storage_shard_dump(n->storage, &shard_id, &dump), 0);
    uint64_t loaded = 0;
    cr_assert_eq(tr_storage_shard_load(o->storage, &shard_id, dump.data,
                                       dump.len, &loaded),
                 0);
    tr_buf_free(&dump);
    cr_assert_eq(loaded, 30);
    tr_shard_fsm_copy_done(o->shard, true, loaded);
    wait_drained_fsm(o->shard, "copied replica");
    cr_assert_eq(take_snapshot(inner(o), &index), 0);
    cr_assert_geq(index, 30, "marker %llu after a copy at 30",
                  (unsigned long long)index);
}

Test(raft_shard_fsm, restore_of_own_marker_needs_no_copy)
{
    struct node *n = standalone(30);
    for (uint64_t idx = 0; idx <= 30; idx += 15) {
        struct raft_buffer b = marker_buf(idx, &shard_id);
        cr_assert_eq(inner(n)->restore(inner(n), &b), 0);
        wait_drained_fsm(n->shard, "replica");
        struct tr_shard_fsm_state st;
        fsm_state(n->shard, &st);
        cr_assert_not(st.catching_up);
        cr_assert_eq(st.applied_index, 30);
    }
    struct tr_shard_fsm_state st;
    fsm_state(n->shard, &st);
    cr_assert_eq(st.snapshots, 3);
    /* entries after it apply */
    fsm_apply_range(n->shard, 30, 35, NULL);
    cr_assert_eq(tr_storage_shard_applied(n->storage, &shard_id, false), 35);
}

Test(raft_shard_fsm, restore_of_newer_marker_starts_catch_up)
{
    struct node *n = standalone(30);
    struct raft_buffer b = marker_buf(80, &shard_id);
    cr_assert_eq(inner(n)->restore(inner(n), &b), 0);
    wait_catching_up(n->shard, 80);

    /* entries 81..100 are queued, not applied */
    struct raft_fsm *r = inner(n);
    struct tr_buf e;
    tr_buf_init(&e);
    struct reclog lg;
    reclog_init(&lg, n->storage);
    for (unsigned k = 80; k < 100; k++) {
        gen_entry(k, &e);
        struct raft_buffer buf = {e.data, e.len};
        void *result = NULL;
        tr_raft_group_set_applying_index(k + 1);
        cr_assert_eq(r->apply(r, &buf, &result), 0);
        tr_raft_group_set_applying_index(0);
        rec_wait_fsm(&lg, result, k + 1, true, n->shard);
    }
    tr_buf_free(&e);
    usleep(20000);
    struct tr_shard_fsm_state st;
    fsm_state(n->shard, &st);
    cr_assert_eq(st.queued, 20);
    cr_assert_eq(st.queued_index, 100);
    cr_assert_eq(reclog_calls(&lg), 0);
    cr_assert_eq(tr_storage_shard_applied(n->storage, &shard_id, false), 30);

    /* a failed copy, or one short of the marker, keeps the queue held */
    tr_shard_fsm_copy_done(n->shard, false, 0);
    tr_shard_fsm_copy_done(n->shard, true, 79);
    usleep(20000);
    fsm_state(n->shard, &st);
    cr_assert(st.catching_up);
    cr_assert_eq(st.queued, 20);

    /* the copy: a replica that applied 1..90 */
    struct node *src = standalone_i(1, 90);
    struct tr_buf dump;
    tr_buf_init(&dump);
    cr_assert_eq(tr_storage_shard_dump(src->storage, &shard_id, &dump), 0);
    uint64_t loaded = 0;
    cr_assert_eq(tr_storage_shard_load(n->storage, &shard_id, dump.data,
                                       dump.len, &loaded),
                 0);
    tr_buf_free(&dump);
    cr_assert_eq(loaded, 90);
    tr_shard_fsm_copy_done(n->shard, true, loaded);
    wait_drained_fsm(n->shard, "replica");
    fsm_state(n->shard, &st);
    cr_assert_not(st.catching_up);
    cr_assert_eq(st.applied_index, 100);
    cr_assert_eq(tr_storage_shard_applied(n->storage, &shard_id, false), 100);
    /* the waiters: those covered by the copy as skipped; the applied
     * index never went back below the copy's meanwhile */
    wait_calls(&lg, 20);
    cr_assert_eq(lg.errors, 0);
    cr_assert_eq(lg.skipped, 10);
    cr_assert_eq(lg.disorder, 0);
    cr_assert_geq(lg.min_state_applied, 90, "applied index went back to %llu",
                  (unsigned long long)lg.min_state_applied);

    /* same as a replica that applied 1..100 itself */
    fsm_apply_range(src->shard, 90, 100, NULL);
    uint64_t a0, a1;
    uint64_t s0 = checkpoint_checksum(0, &a0);
    uint64_t s1 = checkpoint_checksum(1, &a1);
    cr_assert_eq(a0, 100);
    cr_assert_eq(a1, 100);
    cr_assert_eq(s0, s1);
}

Test(raft_shard_fsm, newer_marker_while_catching_up)
{
    struct node *n = standalone(30);
    struct raft_fsm *r = inner(n);
    struct raft_buffer b = marker_buf(80, &shard_id);
    cr_assert_eq(r->restore(r, &b), 0);
    wait_catching_up(n->shard, 80);
    struct tr_buf e;
    tr_buf_init(&e);
    for (unsigned k = 80; k < 90; k++) {
        gen_entry(k, &e);
        struct raft_buffer buf = {e.data, e.len};
        void *result = NULL;
        tr_raft_group_set_applying_index(k + 1);
        cr_assert_eq(r->apply(r, &buf, &result), 0);
        tr_raft_group_set_applying_index(0);
    }
    /* raft installs another snapshot before the copy finished: it is
     * queued behind the held entries */
    b = marker_buf(120, &shard_id);
    cr_assert_eq(r->restore(r, &b), 0);
    for (unsigned k = 120; k < 125; k++) {
        gen_entry(k, &e);
        struct raft_buffer buf = {e.data, e.len};
        void *result = NULL;
        tr_raft_group_set_applying_index(k + 1);
        cr_assert_eq(r->apply(r, &buf, &result), 0);
        tr_raft_group_set_applying_index(0);
    }
    tr_buf_free(&e);
    struct tr_shard_fsm_state st;
    fsm_state(n->shard, &st);
    cr_assert_eq(st.queued, 16);
    cr_assert_eq(st.copy_target, 80);

    /* a copy at 100 covers the first marker, not the second: catching up
     * again, to 120 */
    struct node *src = standalone_i(1, 100);
    struct tr_buf dump;
    tr_buf_init(&dump);
    cr_assert_eq(tr_storage_shard_dump(src->storage, &shard_id, &dump), 0);
    uint64_t loaded = 0;
    cr_assert_eq(tr_storage_shard_load(n->storage, &shard_id, dump.data,
                                       dump.len, &loaded),
                 0);
    tr_buf_free(&dump);
    cr_assert_eq(loaded, 100);
    tr_shard_fsm_copy_done(n->shard, true, loaded);
    wait_catching_up(n->shard, 120);
    fsm_state(n->shard, &st);
    cr_assert_eq(st.queued, 5);
    cr_assert_eq(tr_storage_shard_applied(n->storage, &shard_id, false), 100);

    /* a copy at 125 covers everything queued */
    fsm_apply_range(src->shard, 100, 125, NULL);
    tr_buf_init(&dump);
    cr_assert_eq(tr_storage_shard_dump(src->storage, &shard_id, &dump), 0);
    cr_assert_eq(tr_storage_shard_load(n->storage, &shard_id, dump.data,
                                       dump.len, &loaded),
                 0);
    tr_buf_free(&dump);
    cr_assert_eq(loaded, 125);
    tr_shard_fsm_copy_done(n->shard, true, loaded);
    wait_drained_fsm(n->shard, "replica");
    fsm_state(n->shard, &st);
    cr_assert_not(st.catching_up);
    cr_assert_eq(st.applied_index, 125);
    cr_assert_eq(tr_storage_shard_applied(n->storage, &shard_id, false), 125);
    uint64_t a0, a1;
    cr_assert_eq(checkpoint_checksum(0, &a0), checkpoint_checksum(1, &a1));
    cr_assert_eq(a0, a1);
}

/* Applies the log of this test through r without waiting: index i holds
 * test entry i - 1, except verify_at, which holds a verify entry for
 * request 5. */
static void apply_log_with_verify(struct raft_fsm *r,
                                  uint64_t from,
                                  uint64_t to,
                                  uint64_t verify_at)
{
    struct tr_buf b;
    tr_buf_init(&b);
    for (uint64_t i = from; i <= to; i++) {
        if (i == verify_at) {
            uint8_t e[TR_ENTRY_VERIFY_SIZE];
            tr_entry_verify_encode(5, e);
            tr_buf_reset(&b);
            tr_buf_append(&b, e, sizeof(e));
        } else {
            gen_entry((unsigned)i - 1, &b);
        }
        struct raft_buffer buf = {b.data, b.len};
        void *result = NULL;
        tr_raft_group_set_applying_index(i);
        cr_assert_eq(r->apply(r, &buf, &result), 0);
        tr_raft_group_set_applying_index(0);
    }
    tr_buf_free(&b);
}

/* A verify entry held in the queue of a catching-up replica is applied
 * after the copy, when storage is past it: the replica cannot tell the
 * shard's checksum at that index any more, and must not report another
 * one (the coordinator would call consistent replicas different). */
Test(raft_shard_fsm, verify_entry_below_a_copy_reports_no_checksum)
{
    /* the healthy replica: the log 1..90 with a verify entry at 86 */
    struct node *src = standalone_i(1, 0);
    apply_log_with_verify(inner(src), 1, 90, 86);
    wait_drained_fsm(src->shard, "source");
    uint64_t idx = 0, want = 0;
    cr_assert_eq(tr_shard_fsm_verify_result(src->shard, 5, &idx, &want), 0);
    cr_assert_eq(idx, 86);

    /* the lagging one: entries 81..90 (with the verify) held behind a
     * marker at 80, then a copy of the healthy replica at 90 */
    struct node *n = standalone(30);
    struct raft_buffer mb = marker_buf(80, &shard_id);
    cr_assert_eq(inner(n)->restore(inner(n), &mb), 0);
    wait_catching_up(n->shard, 80);
    apply_log_with_verify(inner(n), 81, 90, 86);
    struct tr_buf dump;
    tr_buf_init(&dump);
    cr_assert_eq(tr_storage_shard_dump(src->storage, &shard_id, &dump), 0);
    uint64_t loaded = 0;
    cr_assert_eq(tr_storage_shard_load(n->storage, &shard_id, dump.data,
                                       dump.len, &loaded),
                 0);
    tr_buf_free(&dump);
    cr_assert_eq(loaded, 90);
    tr_shard_fsm_copy_done(n->shard, true, loaded);
    wait_drained_fsm(n->shard, "copied replica");
    uint64_t sum = 0;
    int rv = tr_shard_fsm_verify_result(n->shard, 5, &idx, &sum);
    if (rv == 0) {
        cr_assert_eq(sum, want,
                     "checksum %016llx at index %llu, the shard's there is "
                     "%016llx",
                     (unsigned long long)sum, (unsigned long long)idx,
                     (unsigned long long)want);
    } else {
        cr_assert_eq(rv, TR_ENOTFOUND);
    }
    /* the replicas are equal all the same */
    uint64_t a0, a1;
    cr_assert_eq(checkpoint_checksum(0, &a0), checkpoint_checksum(1, &a1));
}

Test(raft_shard_fsm, restore_rejects_marker_of_another_shard)
{
    struct node *n = standalone(10);
    struct tr_shard_id ids[] = {
        {TR_SIGNAL_METRICS, WINDOW + DAY, SLOT}, /* wrong window */
        {TR_SIGNAL_METRICS, WINDOW, SLOT + 1},   /* wrong slot */
        {TR_SIGNAL_LOGS, WINDOW, SLOT},          /* wrong signal */
        {TR_SIGNAL_TRACES, WINDOW - DAY, 0},
    };
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        struct raft_buffer b = marker_buf(50, &ids[i]);
        cr_assert_eq(inner(n)->restore(inner(n), &b), RAFT_CORRUPT, "case %zu",
                     i);
        raft_free(b.base); /* as raft does */
    }
    /* garbage */
    struct raft_buffer b = {raft_malloc(8), 8};
    memcpy(b.base, "TRSM\x02xyz", 8);
    cr_assert_eq(inner(n)->restore(inner(n), &b), RAFT_CORRUPT);
    raft_free(b.base);
    struct tr_shard_fsm_state st;
    fsm_state(n->shard, &st);
    cr_assert_not(st.catching_up);
    cr_assert_eq(st.queued, 0);
    cr_assert_eq(st.snapshots, 0);
    cr_assert_eq(st.applied_index, 10);
}

Test(raft_shard_fsm, restore_failure_leaves_buffer_to_raft)
{
    /* raft 0.15 frees bufs[0].base itself when restore fails
     * (installSnapshotCb's discard path; snapshotDestroy in raft_start), and
     * takes ownership away only on success - so a restore that frees the
     * buffer and then fails causes a double free in raft. */
    struct node *n = standalone(10);
    struct tr_shard_id other = shard_id;
    other.slot++;
    raft_heap_set(&tracking_heap);
    struct raft_buffer b = marker_buf(50, &other);
    heap_last_freed = NULL;
    int rv = inner(n)->restore(inner(n), &b);
    void *freed = heap_last_freed;
    raft_heap_set_default();
    cr_assert_eq(rv, RAFT_CORRUPT);
    cr_assert_neq(freed, b.base,
                  "restore freed the buffer and failed: raft frees it again "
                  "(double free)");
    raft_free(b.base); /* as raft does */

    /* on success the FSM owns (and here frees) it */
    raft_heap_set(&tracking_heap);
    b = marker_buf(5, &shard_id);
    heap_last_freed = NULL;
    rv = inner(n)->restore(inner(n), &b);
    freed = heap_last_freed;
    raft_heap_set_default();
    cr_assert_eq(rv, 0);
    cr_assert_eq(freed, b.base);
}

Test(raft_shard_fsm, undecodable_entry_is_skipped_deterministically)
{
    struct node *n = standalone(5);
    struct raft_fsm *r = inner(n);
    static const uint8_t junk[] = {1, 3, 0xff, 0xff, 0xff};
    struct raft_buffer buf = {(void *)junk, sizeof(junk)};
    void *result = NULL;
    struct reclog lg;
    reclog_init(&lg, n->storage);
    tr_raft_group_set_applying_index(6);
    cr_assert_eq(r->apply(r, &buf, &result), 0);
    tr_raft_group_set_applying_index(0);
    rec_wait(&lg, result, 6, true);
    wait_drained_fsm(n->shard, "replica");
    wait_calls(&lg, 1);
    cr_assert_eq(lg.last_rv, TR_ECORRUPT);
    cr_assert_eq(lg.last_res.index, 6);
    struct tr_shard_fsm_state st;
    fsm_state(n->shard, &st);
    cr_assert_not(st.failed);
    cr_assert_eq(st.applied_index, 6);
    /* later entries still apply */
    fsm_apply_range(n->shard, 6, 10, NULL);
    cr_assert_eq(tr_storage_shard_applied(n->storage, &shard_id, false), 10);
}
