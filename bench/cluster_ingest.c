/* cluster_ingest.c - replicated ingest and failover benchmark for triad.
 *
 * Every write in triad goes through Raft (docs/DESIGN.md §4). This
 * benchmark measures what replication costs and how fast writes resume
 * when a shard leader dies. It starts build/triad itself (fresh temp data
 * dirs, free 127.0.0.1 ports, stopped by PID at the end) and runs:
 *
 *  1. RF=1: one node (K=1 shard per window, RF=1);
 *  2. RF=3: three processes on 127.0.0.1 with --bootstrap-expect 3 (K=3
 *     shards per window, every shard a 3-voter Raft group);
 *
 * each receiving the same deterministic load: SERIES series (default 50,000)
 * x ROUNDS scrapes 15 s apart (default 100 -> 5M samples), remote-write 1.0
 * (snappy, labels sorted), BATCH samples per request (default 2,000), CONNS
 * connections (default 6) spread round-robin over the nodes, every series
 * owned by one connection so its samples arrive in order. The data
 * generator is the one of bench/ingest_metrics.c (copied, so that each
 * benchmark stays one self-contained file).
 *
 * Per run: samples/s (acked samples / wall time of the ingest phase);
 * server CPU (utime+stime from /proc/PID/stat) of every node, delta from the
 * first request until every replica of every shard reports lag 0 (so the
 * followers' apply work is counted), per million samples in total, per node
 * and per replica (total / RF); peak RSS (VmHWM) per node; client-side
 * latency of every request (p50/p99/max). Then the ratio of total CPU
 * RF=3 / RF=1 (target <= 3.5x).
 *
 * 3. Failover, on the RF=3 cluster after its ingest: probe series are chosen
 *    so that every shard of the current window has PROBES_PER_SHARD of them
 *    (found by writing candidate series one by one and seeing which shard's
 *    commit index moved in GET /api/v1/status/cluster). One thread per probe
 *    series writes one sample per request (so each request touches one
 *    shard), every 20 ms, to the live nodes in turn. FAILOVERS times (default
 *    10): wait until every replica has lag 0, SIGKILL the node that leads
 *    the most shards of the current window, and measure failover time = time
 *    from the kill until every probe series has had a successful write
 *    (2xx) sent after the kill, i.e. until every shard, in particular those
 *    the killed node led, accepts writes again. Writers pick only live
 *    nodes (the victim is taken out of their rotation just before the kill),
 *    so a failed request sent after the kill is a failure of a surviving
 *    node. Then restart the killed node (same data dir), wait until it is
 *    ready and every replica is within 16 entries of its leader under the
 *    writes, then pause the writers until every replica reports lag 0 (the
 *    status API reads the nodes one after another, so exact lag 0 needs a
 *    quiet moment), resume them for 0.5 s and do the next kill.
 *    Prints every failover time, p50 and p99 (target p99 <= 2 s) and the
 *    number of failed probe requests.
 *
 * 4. Fixed load (--fixed-load runs only this, on its own RF=3 cluster as in
 *    2): first the maximum: the RF=3 ingest phase of 2 (samples/s), unless
 *    --load N gives the offered load (then round 0 of every series is sent
 *    unpaced first, so that the phase creates no series). Then, once every
 *    replica has lag 0, LOAD = N or half the measured maximum samples/s is
 *    offered for DURATION s (default 300) by a rate-paced sender: CONNS
 *    connections (round-robin over the nodes), each sending its next
 *    BATCH-sample request at fixed times, CONNS x BATCH / LOAD s apart,
 *    staggered across the connections; a request whose time has passed (the
 *    connection was still waiting for the previous one) goes out at once and
 *    counts as behind schedule. The data continue the rounds of the ingest
 *    phase (15 s apart, so the timestamps run ahead of the clock; accepted
 *    thanks to --ingest.creation-grace). Reported: achieved samples/s (acked
 *    samples / DURATION, or until the last response if later) vs offered;
 *    failed requests (non-2xx or transport error); client latency of every
 *    request (p50/p99/max); per node the loop lag from the histogram
 *    triad_loop_lag_seconds of GET /metrics (how late the event loop's
 *    10 ms timer fires), bucket deltas between scrapes just before and just
 *    after the phase: p99 interpolated inside its bucket as
 *    histogram_quantile does, max = upper bound of the highest non-empty
 *    bucket (target p99 <= 20 ms: met when >= 99% of the firings fall into
 *    buckets <= 0.02); leader changes (target 0), counted twice: the increase
 *    of triad_raft_leader_changes_total over the phase summed over nodes and
 *    groups (shard groups {group="m<window>-<slot>",signal="metrics"} and
 *    {group="meta",signal=""}; a change is seen by every node, so one
 *    election counts up to 3; groups created during the phase are listed
 *    apart), and by polling GET /api/v1/status/cluster every second (shards
 *    and meta group whose leader differs from the previous poll's, term
 *    increases, polls seeing a group without a leader); and the CPU of
 *    every node over the phase.
 *
 * Usage: build/bench/cluster_ingest [--series N] [--rounds N] [--batch N]
 *          [--conns N] [--failovers N] [--probes-per-shard N]
 *          [--only rf1|rf3] [--triad PATH] [--keep]
 *        build/bench/cluster_ingest --fixed-load [--load N] [--duration S]
 *          [--series N] [--rounds N] [--batch N] [--conns N] [--triad PATH]
 *          [--keep]
 * Environment: BENCH_SERIES, BENCH_ROUNDS, BENCH_BATCH, BENCH_CONNS,
 * BENCH_FAILOVERS, BENCH_PROBES, BENCH_ONLY, BENCH_LOAD, BENCH_DURATION,
 * TRIAD_BIN. --only rf3 skips the single-node run; --failovers 0 skips the
 * failover run; --fixed-load ignores --only, --failovers and
 * --probes-per-shard; --load 0 (default) measures the maximum. Exit status:
 * 0 when the runs completed (targets are reported, not asserted), 1
 * otherwise (a node did not start, the cluster did not form or catch up, a
 * failover did not recover within 30 s, GET /metrics failed). */
#include "bench/lib/datagen.h"
#include "bench/lib/proc.h"
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <snappy-c.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ERRORS_SHOWN 5
#define MAX_NODES 3
#define MAX_SHARDS 64
#define MAX_REPL 8

struct cfg {
    long series;
    long rounds;
    long batch;
    long conns;
    long failovers;
    long probes_per_shard;
    const char *only;
    const char *triad_bin;
    int keep;
    int fixed;     /* --fixed-load: only the fixed-load run */
    long load;     /* samples/s offered there; 0: half the measured maximum */
    long duration; /* s of the fixed-load phase */
};

static struct cfg cfg = {.series = 50000,
                         .rounds = 100,
                         .batch = 2000,
                         .conns = 6,
                         .failovers = 10,
                         .probes_per_shard = 2,
                         .triad_bin = "build/triad",
                         .duration = 300};

/* ---- sender threads -------------------------------------------------------
 */

struct target {
    const char *name;
    atomic_long ok_samples, failed_samples, requests, failed_requests,
        errors_shown;
    pthread_mutex_t mu;
};

struct sink {
    char buf[512];
    size_t len;
};

static size_t sink_write(char *p, size_t size, size_t n, void *ud)
{
    struct sink *s = ud;
    size_t k = size * n, room = sizeof s->buf - 1 - s->len;
    memcpy(s->buf + s->len, p, k < room ? k : room);
    s->len += k < room ? k : room;
    s->buf[s->len] = 0;
    return k;
}

struct lats {
    double *v; /* seconds */
    size_t n, cap;
};

static void lat_add(struct lats *l, double s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        double *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            die("out of memory");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* nearest-rank percentile of a sorted array */
static double pct(const double *v, size_t n, double p)
{
    if (n == 0)
        return NAN;
    size_t k = (size_t)ceil(p / 100.0 * (double)n);
    return v[k ? k - 1 : 0];
}

struct worker {
    pthread_t th;
    struct target *t;
    long id;
    long rounds; /* rounds 0..rounds-1 of its series */
    char url[128];
    struct lats lat;
};

static void send_batch(CURL *e,
                       struct worker *w,
                       struct bytes *pb,
                       long nsamples,
                       struct bytes *z)
{
    struct target *t = w->t;
    size_t zl = snappy_max_compressed_length(pb->len);
    z->len = 0;
    b_reserve(z, zl);
    if (snappy_compress(pb->p, pb->len, z->p, &zl) != SNAPPY_OK)
        die("snappy_compress failed");
    struct sink sk = {.len = 0};
    sk.buf[0] = 0;
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, z->p);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)zl);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &sk);
    double t0 = mono_s();
    CURLcode rc = curl_easy_perform(e);
    lat_add(&w->lat, mono_s() - t0);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    atomic_fetch_add(&t->requests, 1);
    if (rc == CURLE_OK && status >= 200 && status < 300) {
        atomic_fetch_add(&t->ok_samples, nsamples);
        return;
    }
    atomic_fetch_add(&t->failed_samples, nsamples);
    atomic_fetch_add(&t->failed_requests, 1);
    if (atomic_fetch_add(&t->errors_shown, 1) < MAX_ERRORS_SHOWN) {
        pthread_mutex_lock(&t->mu);
        if (rc != CURLE_OK)
            fprintf(stderr, "  %s: %s: request failed: %s\n", t->name, w->url,
                    curl_easy_strerror(rc));
        else
            fprintf(stderr, "  %s: %s: HTTP %ld: %.300s\n", t->name, w->url,
                    status, sk.buf);
        pthread_mutex_unlock(&t->mu);
    }
}

static struct curl_slist *prw_headers(void)
{
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, "Content-Type: application/x-protobuf");
    hdr = curl_slist_append(hdr, "Content-Encoding: snappy");
    hdr = curl_slist_append(hdr, "X-Prometheus-Remote-Write-Version: 0.1.0");
    hdr = curl_slist_append(hdr, "User-Agent: triad-bench/1");
    hdr = curl_slist_append(hdr, "Expect:");
    return hdr;
}

/* appends TimeSeries { labels (pre-encoded), samples { value, timestamp } } */
static void put_series(struct bytes *pb,
                       const char *lab,
                       size_t lab_len,
                       double v,
                       int64_t ts)
{
    size_t sample = 1 + 8 + 1 + uvarint_len((uint64_t)ts);
    size_t series_len = lab_len + 1 + uvarint_len(sample) + sample;
    b_uvarint(pb, 1 << 3 | 2);
    b_uvarint(pb, series_len);
    b_put(pb, lab, lab_len);
    b_uvarint(pb, 2 << 3 | 2);
    b_uvarint(pb, sample);
    uint8_t d[9];
    d[0] = 1 << 3 | 1;
    memcpy(d + 1, &v, 8); /* little-endian host */
    b_put(pb, d, 9);
    b_uvarint(pb, 2 << 3 | 0);
    b_uvarint(pb, (uint64_t)ts);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    long n_own = 0;
    for (long s = w->id; s < cfg.series; s += cfg.conns)
        n_own++;
    /* labels of every owned series, encoded once */
    struct bytes labels = {0}, pb = {0}, z = {0};
    size_t *loff = calloc((size_t)n_own + 1, sizeof *loff);
    double *val = calloc((size_t)n_own, sizeof *val);
    if (!loff || !val)
        die("out of memory");
    for (long i = 0; i < n_own; i++) {
        long s = w->id + i * cfg.conns;
        loff[i] = labels.len;
        encode_labels(s, &labels);
        val[i] = initial_value(s);
    }
    loff[n_own] = labels.len;

    CURL *e = curl_easy_init();
    struct curl_slist *hdr = prw_headers();
    curl_easy_setopt(e, CURLOPT_URL, w->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);

    long in_batch = 0;
    for (long r = 0; r < w->rounds; r++) {
        for (long i = 0; i < n_own; i++) {
            long s = w->id + i * cfg.conns;
            val[i] = next_value(s, r, val[i]);
            put_series(&pb, labels.p + loff[i], loff[i + 1] - loff[i], val[i],
                       ts_of(s, r));
            if (++in_batch == cfg.batch) {
                send_batch(e, w, &pb, in_batch, &z);
                pb.len = 0;
                in_batch = 0;
            }
        }
    }
    if (in_batch)
        send_batch(e, w, &pb, in_batch, &z);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(e);
    free(labels.p);
    free(pb.p);
    free(z.p);
    free(loff);
    free(val);
    return NULL;
}

/* ---- process control and measurement ----------------------------------- */

/* GET url into a malloc'ed NUL-terminated string; HTTP status or 0. */
static long http_get_all(const char *url, char **out, long timeout_ms)
{
    CURL *e = curl_easy_init();
    char *p = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&p, &len);
    if (!e || !mem)
        die("out of memory");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, NULL); /* default: fwrite */
    curl_easy_setopt(e, CURLOPT_WRITEDATA, mem);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    fclose(mem);
    *out = p;
    return status;
}

/* ---- the cluster ------------------------------------------------------------
 */

struct node {
    char name[16], http[64], cluster[64], data[300], log[300], url_write[128];
    char *argv[48];
    pid_t pid;
    atomic_int alive;
};

struct cluster {
    int n;
    char dir[64];
    char joins[256];
    struct node nodes[MAX_NODES];
};

static int start_node(struct node *nd)
{
    nd->pid = spawn(nd->argv, nd->log);
    char ready[128];
    snprintf(ready, sizeof ready, "http://%s/ready", nd->http);
    int rc = wait_ready(nd->pid, ready, 90);
    if (rc != 0) {
        fprintf(stderr, "%s did not become ready (%d); log: %s\n", nd->name, rc,
                nd->log);
        if (rc < 0)
            stop_pid(nd->pid);
        nd->pid = 0;
        return -1;
    }
    atomic_store(&nd->alive, 1);
    return 0;
}

static int start_cluster(struct cluster *c, int n)
{
    memset(c, 0, sizeof *c);
    c->n = n;
    snprintf(c->dir, sizeof c->dir, "/tmp/bench-cluster%d-XXXXXX", n);
    if (!mkdtemp(c->dir))
        die("mkdtemp: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
        struct node *nd = &c->nodes[i];
        snprintf(nd->name, sizeof nd->name, "n%d", i + 1);
        snprintf(nd->http, sizeof nd->http, "127.0.0.1:%d", free_port());
        snprintf(nd->cluster, sizeof nd->cluster, "127.0.0.1:%d", free_port());
        snprintf(nd->data, sizeof nd->data, "%s/%s", c->dir, nd->name);
        snprintf(nd->log, sizeof nd->log, "%s/%s.log", c->dir, nd->name);
        snprintf(nd->url_write, sizeof nd->url_write, "http://%s/api/v1/write",
                 nd->http);
        mkdir(nd->data, 0755);
        size_t l = strlen(c->joins);
        snprintf(c->joins + l, sizeof c->joins - l, "%s%s", i ? "," : "",
                 nd->http); /* --join takes HTTP addresses */
    }
    for (int i = 0; i < n; i++) {
        struct node *nd = &c->nodes[i];
        static char expect[8];
        snprintf(expect, sizeof expect, "%d", n);
        char *a[] = {(char *)cfg.triad_bin,
                     "serve",
                     "--node-name",
                     nd->name,
                     "--http-addr",
                     nd->http,
                     "--tempo-http-addr",
                     "",
                     "--otlp-grpc-addr",
                     "",
                     "--otlp-http-addr",
                     "",
                     "--cluster-addr",
                     nd->cluster,
                     "--data-dir",
                     nd->data,
                     "--log-level",
                     "warn",
                     "--late-write-grace",
                     "1000000h",
                     "--ingest.creation-grace",
                     "1000000h",
                     "--limits.ingestion-rate",
                     "0",
                     "--limits.max-series",
                     "0",
                     "--bootstrap-expect",
                     expect,
                     "--join",
                     c->joins,
                     NULL};
        size_t na = sizeof a / sizeof a[0];
        if (n == 1)
            na -= 4; /* a single node needs no bootstrap */
        for (size_t k = 0; k + 1 < na; k++)
            nd->argv[k] = a[k];
        nd->argv[na - 1] = NULL;
    }
    /* spawn all first: with --bootstrap-expect none is ready alone */
    for (int i = 0; i < n; i++)
        c->nodes[i].pid = spawn(c->nodes[i].argv, c->nodes[i].log);
    for (int i = 0; i < n; i++) {
        struct node *nd = &c->nodes[i];
        char ready[128];
        snprintf(ready, sizeof ready, "http://%s/ready", nd->http);
        int rc = wait_ready(nd->pid, ready, 90);
        if (rc != 0) {
            fprintf(stderr, "%s did not become ready (%d); log: %s\n", nd->name,
                    rc, nd->log);
            return -1;
        }
        atomic_store(&nd->alive, 1);
    }
    return 0;
}

static void stop_cluster(struct cluster *c)
{
    for (int i = 0; i < c->n; i++) {
        struct node *nd = &c->nodes[i];
        if (nd->pid > 0) {
            int st = stop_pid(nd->pid);
            if (st != 0)
                fprintf(stderr, "  %s: exit status %d after SIGTERM (log %s)\n",
                        nd->name, st, nd->log);
            nd->pid = 0;
        }
        atomic_store(&nd->alive, 0);
    }
    if (!cfg.keep)
        rm_rf(c->dir);
    else
        printf("  kept %s\n", c->dir);
}

/* ---- GET /api/v1/status/cluster ---------------------------------------------
 */

struct replica_info {
    char node[16], state[16];
    uint64_t applied, lag;
};

struct shard_info {
    int64_t window;
    int slot;
    char leader[16];
    uint64_t term, commit;
    int nrep;
    struct replica_info rep[MAX_REPL];
};

struct status {
    int nshards; /* every metrics shard of every window */
    struct shard_info sh[MAX_SHARDS];
    int64_t cur_window; /* the window holding "now" */
    char meta_leader[16];
    uint64_t meta_term;
};

static const char *find_in(const char *p, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    return end > p ? memmem(p, (size_t)(end - p), needle, n) : NULL;
}

/* value after "key": in [p, end), NULL if absent */
static const char *json_val(const char *p, const char *end, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *q = find_in(p, end, k);
    return q ? q + strlen(k) : NULL;
}

static void json_strcpy(const char *v, char *out, size_t n)
{
    out[0] = 0;
    if (!v || *v != '"')
        return;
    v++;
    size_t i = 0;
    while (v[i] && v[i] != '"' && i + 1 < n) {
        out[i] = v[i];
        i++;
    }
    out[i] = 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The server writes compact JSON with a fixed key order; this reads just
 * the fields needed. 0 on success. */
static int get_status(struct cluster *c, struct status *st)
{
    memset(st, 0, sizeof *st);
    char *body = NULL;
    long code = 0;
    for (int i = 0; i < c->n && code != 200; i++) {
        if (!atomic_load(&c->nodes[i].alive))
            continue;
        char url[128];
        snprintf(url, sizeof url, "http://%s/api/v1/status/cluster",
                 c->nodes[i].http);
        free(body);
        body = NULL;
        code = http_get_all(url, &body, 10000);
    }
    if (code != 200 || !body) {
        free(body);
        return -1;
    }
    const char *end = body + strlen(body);
    const char *p = strstr(body, "\"shards\":[");
    const char *mv;
    json_strcpy(json_val(body, p ? p : end, "metaLeader"), st->meta_leader,
                sizeof st->meta_leader);
    if ((mv = json_val(body, p ? p : end, "metaTerm")))
        st->meta_term = strtoull(mv, NULL, 10);
    int64_t now = now_ms();
    st->cur_window = INT64_MIN;
    while (p && (p = find_in(p, end, "{\"signal\":")) != NULL) {
        const char *next = find_in(p + 1, end, "{\"signal\":");
        const char *e = next ? next : end;
        char sig[16];
        json_strcpy(json_val(p, e, "signal"), sig, sizeof sig);
        if (strcmp(sig, "metrics") == 0 && st->nshards < MAX_SHARDS) {
            struct shard_info *s = &st->sh[st->nshards++];
            const char *v;
            if ((v = json_val(p, e, "window")))
                s->window = strtoll(v, NULL, 10);
            if ((v = json_val(p, e, "slot")))
                s->slot = (int)strtol(v, NULL, 10);
            json_strcpy(json_val(p, e, "leader"), s->leader, sizeof s->leader);
            if ((v = json_val(p, e, "term")))
                s->term = strtoull(v, NULL, 10);
            if ((v = json_val(p, e, "commitIndex")))
                s->commit = strtoull(v, NULL, 10);
            const char *r = json_val(p, e, "replicas");
            while (r && s->nrep < MAX_REPL &&
                   (r = find_in(r, e, "\"node\":")) != NULL) {
                struct replica_info *ri = &s->rep[s->nrep++];
                json_strcpy(r + 7, ri->node, sizeof ri->node);
                if ((v = json_val(r, e, "appliedIndex")))
                    ri->applied = strtoull(v, NULL, 10);
                if ((v = json_val(r, e, "lag")))
                    ri->lag = strtoull(v, NULL, 10);
                json_strcpy(json_val(r, e, "state"), ri->state,
                            sizeof ri->state);
                r += 7;
            }
            if (s->window <= now && s->window > st->cur_window)
                st->cur_window = s->window;
        }
        p = next;
    }
    free(body);
    return 0;
}

/* every current-window shard has a leader and rf replicas, k shards */
static int formed(const struct status *st, int k, int rf)
{
    int n = 0;
    for (int i = 0; i < st->nshards; i++) {
        const struct shard_info *s = &st->sh[i];
        if (s->window != st->cur_window)
            continue;
        if (!s->leader[0] || s->nrep != rf)
            return 0;
        n++;
    }
    return n == k;
}

/* every shard (every window) has a leader and every replica is known, not
 * catching up by copy, and at most max_lag entries behind the leader's
 * commit index (0: has applied everything the leader committed) */
static int caught_up(const struct status *st, uint64_t max_lag)
{
    if (st->nshards == 0)
        return 0;
    for (int i = 0; i < st->nshards; i++) {
        const struct shard_info *s = &st->sh[i];
        if (!s->leader[0])
            return 0;
        for (int r = 0; r < s->nrep; r++) {
            const struct replica_info *ri = &s->rep[r];
            if (strcmp(ri->state, "unknown") == 0 ||
                strcmp(ri->state, "catching-up") == 0 || ri->lag > max_lag ||
                (ri->applied == 0 && s->commit > 0))
                return 0;
        }
    }
    return 1;
}

static int wait_status(struct cluster *c,
                       int (*pred)(const struct status *, int, int),
                       int k,
                       int rf,
                       double timeout_s)
{
    double end = mono_s() + timeout_s;
    struct status *st = malloc(sizeof *st);
    if (!st)
        die("out of memory");
    int ok = 0;
    while (!ok && mono_s() < end) {
        ok = get_status(c, st) == 0 && pred(st, k, rf);
        if (!ok)
            usleep(100000);
    }
    free(st);
    return ok ? 0 : -1;
}

static int pred_formed(const struct status *st, int k, int rf)
{
    return formed(st, k, rf);
}

/* k = the largest lag allowed */
static int pred_caught_up(const struct status *st, int k, int rf)
{
    (void)rf;
    return caught_up(st, (uint64_t)k);
}

/* ---- ingest runs
 * ---------------------------------------------------------------- */

struct result {
    int ok, n;
    double wall_s, settle_s;
    double cpu_s[MAX_NODES]; /* per node, first request -> lag 0 */
    double cpu_total;
    long hwm_kib[MAX_NODES];
    long ok_samples, failed_samples, requests, failed_requests;
    double p50, p99, pmax; /* request latency, s */
};

/* starts an n-node cluster into c and sends rounds 0..rounds-1 of the data
 * set through cfg.conns connections */
static int run_ingest(int n, struct cluster *c, struct result *res, long rounds)
{
    memset(res, 0, sizeof *res);
    res->n = n;
    printf("RF=%d: starting %d node%s\n", n, n, n > 1 ? "s" : "");
    fflush(stdout);
    if (start_cluster(c, n) != 0)
        return -1;
    if (wait_status(c, pred_formed, n, n, 60) != 0) {
        fprintf(
            stderr,
            "RF=%d: cluster did not form (every shard with a leader) in 60 s\n",
            n);
        return -1;
    }
    for (int i = 0; i < n; i++)
        printf("  %s: pid %d, http %s, cluster %s\n", c->nodes[i].name,
               (int)c->nodes[i].pid, c->nodes[i].http, c->nodes[i].cluster);
    fflush(stdout);

    static struct target t;
    memset(&t, 0, sizeof t);
    t.name = n == 1 ? "RF=1" : "RF=3";
    pthread_mutex_init(&t.mu, NULL);
    struct worker *ws = calloc((size_t)cfg.conns, sizeof *ws);
    if (!ws)
        die("out of memory");
    double cpu0[MAX_NODES];
    for (int i = 0; i < n; i++)
        cpu0[i] = cpu_seconds(c->nodes[i].pid);
    double w0 = mono_s();
    for (long i = 0; i < cfg.conns; i++) {
        ws[i].t = &t;
        ws[i].id = i;
        ws[i].rounds = rounds;
        snprintf(ws[i].url, sizeof ws[i].url, "%s", c->nodes[i % n].url_write);
        if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0)
            die("pthread_create");
    }
    for (long i = 0; i < cfg.conns; i++)
        pthread_join(ws[i].th, NULL);
    res->wall_s = mono_s() - w0;
    /* followers apply committed entries after the ack: count their work */
    if (wait_status(c, pred_caught_up, 0, 0, 120) != 0)
        fprintf(stderr, "RF=%d: replicas did not reach lag 0 within 120 s\n",
                n);
    res->settle_s = mono_s() - w0 - res->wall_s;
    for (int i = 0; i < n; i++) {
        res->cpu_s[i] = cpu_seconds(c->nodes[i].pid) - cpu0[i];
        res->cpu_total += res->cpu_s[i];
        res->hwm_kib[i] = vm_status_kib(c->nodes[i].pid, "VmHWM:");
    }
    res->ok_samples = atomic_load(&t.ok_samples);
    res->failed_samples = atomic_load(&t.failed_samples);
    res->requests = atomic_load(&t.requests);
    res->failed_requests = atomic_load(&t.failed_requests);
    struct lats all = {0};
    for (long i = 0; i < cfg.conns; i++) {
        for (size_t k = 0; k < ws[i].lat.n; k++)
            lat_add(&all, ws[i].lat.v[k]);
        free(ws[i].lat.v);
    }
    qsort(all.v, all.n, sizeof *all.v, cmp_double);
    res->p50 = pct(all.v, all.n, 50);
    res->p99 = pct(all.v, all.n, 99);
    res->pmax = all.n ? all.v[all.n - 1] : NAN;
    free(all.v);
    free(ws);
    res->ok = 1;
    return 0;
}

static void print_result(const struct result *r)
{
    long total = r->ok_samples + r->failed_samples;
    double mil = (double)total / 1e6;
    printf("RF=%d (%d node%s, %ld connections):\n", r->n, r->n,
           r->n > 1 ? "s" : "", cfg.conns);
    printf(
        "  samples sent            %ld ok, %ld failed (%ld of %ld requests "
        "failed)\n",
        r->ok_samples, r->failed_samples, r->failed_requests, r->requests);
    printf(
        "  ingest wall time        %.2f s (+ %.2f s until every replica had "
        "lag 0)\n",
        r->wall_s, r->settle_s);
    printf("  samples/s               %.0f\n",
           (double)r->ok_samples / r->wall_s);
    printf("  request latency         p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
           r->p50 * 1e3, r->p99 * 1e3, r->pmax * 1e3);
    printf(
        "  CPU s / 1M samples      %.3f total (all nodes), %.3f per replica\n",
        r->cpu_total / mil, r->cpu_total / mil / r->n);
    for (int i = 0; i < r->n; i++)
        printf(
            "    n%d                    %.3f  (%.2f CPU s, peak RSS %.1f "
            "MiB)\n",
            i + 1, r->cpu_s[i] / mil, r->cpu_s[i],
            (double)r->hwm_kib[i] / 1024.0);
    fflush(stdout);
}

/* ---- failover
 * ----------------------------------------------------------------- */

struct probe {
    pthread_t th;
    struct cluster *c;
    long id;
    int slot;
    struct bytes labels;
    int64_t last_ts;
    atomic_long ok, failed,
        failed_after_kill;    /* the last: requests sent after a kill */
    atomic_llong first_ok_ns; /* first 2xx of a request sent after the kill, ns
                                 after it */
};

static atomic_int fo_stop, fo_pause;
static atomic_llong
    kill_ns; /* CLOCK_MONOTONIC ns of the current kill, 0 = none */
static atomic_long probe_errors_shown;
static atomic_long last_fail_status; /* HTTP status of the latest failed probe,
                                        0 = transport */

static long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void probe_labels(long id, struct bytes *out)
{
    char v[32];
    snprintf(v, sizeof v, "%ld", id);
    const char *l[2][2] = {{"__name__", "bench_failover_probe"}, {"probe", v}};
    for (int i = 0; i < 2; i++) {
        size_t ln = strlen(l[i][0]), lv = strlen(l[i][1]);
        size_t body = 1 + uvarint_len(ln) + ln + 1 + uvarint_len(lv) + lv;
        b_uvarint(out, 1 << 3 | 2);
        b_uvarint(out, body);
        b_field_str(out, 1, l[i][0]);
        b_field_str(out, 2, l[i][1]);
    }
}

/* one sample of probe p to url; returns the HTTP status (0: transport error) */
static long probe_write(CURL *e, struct probe *p, const char *url)
{
    struct bytes pb = {0}, z = {0};
    int64_t ts = now_ms();
    if (ts <= p->last_ts)
        ts = p->last_ts + 1;
    p->last_ts = ts;
    put_series(&pb, p->labels.p, p->labels.len, (double)(ts % 100000), ts);
    size_t zl = snappy_max_compressed_length(pb.len);
    b_reserve(&z, zl);
    if (snappy_compress(pb.p, pb.len, z.p, &zl) != SNAPPY_OK)
        die("snappy_compress failed");
    struct sink sk = {.len = 0};
    sk.buf[0] = 0;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, z.p);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)zl);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &sk);
    CURLcode rc = curl_easy_perform(e);
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if ((status < 200 || status >= 300) && atomic_load(&kill_ns) == 0 &&
        atomic_fetch_add(&probe_errors_shown, 1) < MAX_ERRORS_SHOWN)
        fprintf(stderr, "  probe %ld -> %s: %s %ld %.200s\n", p->id, url,
                rc == CURLE_OK ? "HTTP" : curl_easy_strerror(rc), status,
                sk.buf);
    free(pb.p);
    free(z.p);
    return status;
}

static CURL *probe_handle(struct curl_slist *hdr)
{
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(e, CURLOPT_TIMEOUT,
                     15L); /* above the server's 10 s write timeout */
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    return e;
}

static void *probe_main(void *arg)
{
    struct probe *p = arg;
    struct cluster *c = p->c;
    struct curl_slist *hdr = prw_headers();
    CURL *eh[MAX_NODES];
    for (int i = 0; i < c->n; i++)
        eh[i] = probe_handle(hdr);
    unsigned rr = (unsigned)p->id;
    while (!atomic_load(&fo_stop)) {
        int i = -1;
        for (int k = 0; k < c->n; k++) {
            int cand = (int)((rr + (unsigned)k) % (unsigned)c->n);
            if (atomic_load(&c->nodes[cand].alive)) {
                i = cand;
                break;
            }
        }
        rr++;
        if (i < 0 || atomic_load(&fo_pause)) {
            usleep(20000);
            continue;
        }
        long long sent = mono_ns();
        long st = probe_write(eh[i], p, c->nodes[i].url_write);
        long long done = mono_ns(), k = atomic_load(&kill_ns);
        if (st >= 200 && st < 300) {
            atomic_fetch_add(&p->ok, 1);
            if (k && sent > k && atomic_load(&p->first_ok_ns) < 0)
                atomic_store(&p->first_ok_ns, done - k);
        } else {
            atomic_fetch_add(&p->failed, 1);
            if (k && sent > k) {
                atomic_fetch_add(&p->failed_after_kill, 1);
                atomic_store(&last_fail_status, st);
            }
        }
        usleep(20000);
    }
    for (int i = 0; i < c->n; i++)
        curl_easy_cleanup(eh[i]);
    curl_slist_free_all(hdr);
    return NULL;
}

/* slot of the current window whose commit index moved between a and b;
 * -1 if none or several did */
static int moved_slot(const struct status *a, const struct status *b)
{
    int slot = -1;
    for (int i = 0; i < b->nshards; i++) {
        const struct shard_info *sb = &b->sh[i];
        if (sb->window != b->cur_window)
            continue;
        for (int j = 0; j < a->nshards; j++) {
            const struct shard_info *sa = &a->sh[j];
            if (sa->window == sb->window && sa->slot == sb->slot &&
                sa->commit != sb->commit) {
                if (slot >= 0)
                    return -1;
                slot = sb->slot;
            }
        }
    }
    return slot;
}

static int run_failover(struct cluster *c,
                        double *times,
                        int *nt,
                        long *failed_reqs)
{
    int k = 0;
    struct status *st = malloc(sizeof *st), *st2 = malloc(sizeof *st2);
    if (!st || !st2)
        die("out of memory");
    if (wait_status(c, pred_caught_up, 0, 0, 60) != 0 ||
        get_status(c, st) != 0) {
        fprintf(stderr,
                "failover: cluster not caught up before the first kill\n");
        return -1;
    }
    for (int i = 0; i < st->nshards; i++)
        if (st->sh[i].window == st->cur_window)
            k++;
    /* find PROBES_PER_SHARD series for every slot of the current window */
    int nprobes = (int)cfg.probes_per_shard * k;
    struct probe *pr = calloc((size_t)nprobes, sizeof *pr);
    int *have = calloc((size_t)k + 1, sizeof *have);
    if (!pr || !have)
        die("out of memory");
    struct curl_slist *hdr = prw_headers();
    CURL *e = probe_handle(hdr);
    int np = 0;
    for (long cand = 0; cand < 2000 && np < nprobes; cand++) {
        struct probe tmp = {.id = cand};
        probe_labels(cand, &tmp.labels);
        if (get_status(c, st) != 0)
            continue;
        long s = probe_write(e, &tmp, c->nodes[0].url_write);
        int slot = (s >= 200 && s < 300 && get_status(c, st2) == 0)
                       ? moved_slot(st, st2)
                       : -1;
        if (slot >= 0 && slot < k && have[slot] < cfg.probes_per_shard) {
            have[slot]++;
            pr[np] = tmp;
            pr[np].slot = slot;
            np++;
        } else {
            free(tmp.labels.p);
        }
    }
    curl_easy_cleanup(e);
    curl_slist_free_all(hdr);
    if (np < nprobes) {
        fprintf(stderr,
                "failover: found probe series for only %d of %d (shard, probe) "
                "pairs\n",
                np, nprobes);
        return -1;
    }
    printf(
        "failover: %d shards in the current window, %d probe series (%ld per "
        "shard), "
        "one writer thread each, one sample per request every 20 ms\n",
        k, np, cfg.probes_per_shard);
    fflush(stdout);
    atomic_store(&fo_stop, 0);
    atomic_store(&kill_ns, 0);
    for (int i = 0; i < np; i++) {
        pr[i].c = c;
        atomic_store(&pr[i].first_ok_ns, -1);
        if (pthread_create(&pr[i].th, NULL, probe_main, &pr[i]) != 0)
            die("pthread_create");
    }
    int rv = 0;
    *nt = 0;
    for (long it = 0; it < cfg.failovers; it++) {
        /* lag 0 exactly needs a quiet moment: the status API reads the
         * nodes one after the other, so under writes the leader's commit
         * index and a follower's applied index are taken at different
         * times. Pause the writers until every replica has lag 0. */
        atomic_store(&fo_pause, 1);
        usleep(100000);
        int ok = wait_status(c, pred_caught_up, 0, 0, 120) == 0 &&
                 get_status(c, st) == 0;
        atomic_store(&fo_pause, 0);
        if (!ok) {
            fprintf(stderr,
                    "failover %ld: replicas did not reach lag 0 within 120 s\n",
                    it + 1);
            rv = -1;
            break;
        }
        /* victim: the node leading the most shards of the current window */
        int lead[MAX_NODES] = {0}, victim = 0;
        char led[128] = "";
        for (int i = 0; i < st->nshards; i++) {
            if (st->sh[i].window != st->cur_window)
                continue;
            for (int n = 0; n < c->n; n++)
                if (strcmp(st->sh[i].leader, c->nodes[n].name) == 0)
                    lead[n]++;
        }
        for (int n = 1; n < c->n; n++)
            if (lead[n] > lead[victim])
                victim = n;
        for (int i = 0; i < st->nshards; i++) {
            if (st->sh[i].window == st->cur_window &&
                strcmp(st->sh[i].leader, c->nodes[victim].name) == 0) {
                size_t l = strlen(led);
                snprintf(led + l, sizeof led - l, "%s%d", l ? "," : "",
                         st->sh[i].slot);
            }
        }
        long failed0 = 0;
        for (int i = 0; i < np; i++) {
            atomic_store(&pr[i].first_ok_ns, -1);
            failed0 += atomic_load(&pr[i].failed_after_kill);
        }
        usleep(500000); /* writes flowing */
        struct node *vn = &c->nodes[victim];
        atomic_store(&vn->alive, 0); /* writers stop picking it */
        atomic_store(&kill_ns, mono_ns());
        kill(vn->pid, SIGKILL);
        waitpid(vn->pid, NULL, 0);
        vn->pid = 0;
        double end = mono_s() + 30;
        long long worst = -1;
        while (mono_s() < end) {
            worst = 0;
            for (int i = 0; i < np && worst >= 0; i++) {
                long long f = atomic_load(&pr[i].first_ok_ns);
                worst = f < 0 ? -1 : (f > worst ? f : worst);
            }
            if (worst >= 0)
                break;
            usleep(5000);
        }
        long failed1 = 0;
        for (int i = 0; i < np; i++)
            failed1 += atomic_load(&pr[i].failed_after_kill);
        atomic_store(&kill_ns, 0);
        *failed_reqs += failed1 - failed0;
        if (worst < 0) {
            printf(
                "  failover %2ld: killed %s (leader of slot%s %s): NOT "
                "recovered in 30 s\n",
                it + 1, vn->name, strchr(led, ',') ? "s" : "", led);
            rv = -1;
            break;
        }
        times[(*nt)++] = (double)worst / 1e9;
        printf(
            "  failover %2ld: killed %s (leader of slot%s %s): every shard "
            "writable again "
            "after %.3f s (%ld probe requests sent after the kill failed",
            it + 1, vn->name, strchr(led, ',') ? "s" : "", led,
            (double)worst / 1e9, failed1 - failed0);
        if (failed1 > failed0)
            printf(", last: %s %ld",
                   atomic_load(&last_fail_status) ? "HTTP" : "transport error",
                   atomic_load(&last_fail_status));
        printf(")");
        fflush(stdout);
        double r0 = mono_s();
        if (start_node(vn) != 0) {
            rv = -1;
            break;
        }
        double r1 = mono_s();
        /* under the probes' writes: up to 16 entries in flight */
        if (wait_status(c, pred_caught_up, 16, 0, 120) != 0) {
            printf("\n");
            fprintf(stderr, "failover %ld: %s did not catch up in 120 s\n",
                    it + 1, vn->name);
            rv = -1;
            break;
        }
        printf(
            "; restart: ready %.2f s, caught up (lag <= 16 under writes) %.2f "
            "s\n",
            r1 - r0, mono_s() - r0);
        fflush(stdout);
    }
    atomic_store(&fo_stop, 1);
    for (int i = 0; i < np; i++) {
        pthread_join(pr[i].th, NULL);
        free(pr[i].labels.p);
    }
    free(pr);
    free(have);
    free(st);
    free(st2);
    return rv;
}

/* ---- fixed load
 * --------------------------------------------------------------- */

#define LAG_NB 16     /* buckets of triad_loop_lag_seconds kept */
#define MAX_GROUPS 96 /* Raft groups of triad_raft_leader_changes_total */

/* what GET /metrics of one node says at one moment */
struct node_metrics {
    int nb;                     /* buckets read */
    double le[LAG_NB];          /* their upper bounds, INFINITY for +Inf */
    double cum[LAG_NB];         /* cumulative counts */
    int ng;                     /* groups read */
    char key[MAX_GROUPS][80];   /* the label set, e.g. group="meta",signal="" */
    double changes[MAX_GROUPS]; /* triad_raft_leader_changes_total */
};

/* GET /metrics of nd into m; 0 on success, -1 if the request failed or
 * the loop-lag histogram is missing */
static int scrape_metrics(const struct node *nd, struct node_metrics *m)
{
    static const char lag[] = "triad_loop_lag_seconds_bucket{le=\"";
    static const char lc[] = "triad_raft_leader_changes_total{";
    char url[128], *body = NULL;
    snprintf(url, sizeof url, "http://%s/metrics", nd->http);
    memset(m, 0, sizeof *m);
    long code = http_get_all(url, &body, 10000);
    if (code != 200 || !body) {
        free(body);
        return -1;
    }
    for (char *l = body; l && *l;) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = 0;
        char *v = strrchr(l, ' ');
        if (v && strncmp(l, lag, sizeof lag - 1) == 0 && m->nb < LAG_NB) {
            m->le[m->nb] = strtod(l + sizeof lag - 1, NULL); /* "+Inf": inf */
            m->cum[m->nb++] = strtod(v + 1, NULL);
        } else if (v && strncmp(l, lc, sizeof lc - 1) == 0 &&
                   m->ng < MAX_GROUPS) {
            const char *k = l + sizeof lc - 1;
            const char *ke = strchr(k, '}');
            if (ke) {
                snprintf(m->key[m->ng], sizeof m->key[0], "%.*s", (int)(ke - k),
                         k);
                m->changes[m->ng++] = strtod(v + 1, NULL);
            }
        }
        l = nl ? nl + 1 : NULL;
    }
    free(body);
    return m->nb > 0 && isinf(m->le[m->nb - 1]) ? 0 : -1;
}

/* Loop lag between two scrapes of one node (same bucket layout): *n =
 * timer firings observed, *p99 = the 99th percentile interpolated linearly
 * inside its bucket (as PromQL's histogram_quantile does; the upper bound
 * of the last finite bucket if it falls into +Inf), *max = the upper bound
 * of the highest non-empty bucket (INFINITY: above the last finite one),
 * *within = firings at most `bound` seconds late (bound must be a bucket
 * bound). -1 if the layouts differ or nothing was observed. */
static int lag_between(const struct node_metrics *a,
                       const struct node_metrics *b,
                       double bound,
                       double *n,
                       double *p99,
                       double *max,
                       double *within)
{
    if (a->nb != b->nb || b->nb < 2)
        return -1;
    double d[LAG_NB];
    for (int i = 0; i < b->nb; i++) {
        if (a->le[i] != b->le[i])
            return -1;
        d[i] = b->cum[i] - a->cum[i];
    }
    *n = d[b->nb - 1];
    if (*n <= 0)
        return -1;
    double rank = 0.99 * *n;
    int i = 0;
    while (i < b->nb - 1 && d[i] < rank)
        i++;
    double lo = i ? b->le[i - 1] : 0, lo_n = i ? d[i - 1] : 0;
    if (isinf(b->le[i]))
        *p99 = lo;
    else
        *p99 = lo + (b->le[i] - lo) * (rank - lo_n) / (d[i] - lo_n);
    *max = 0;
    *within = 0;
    for (int k = 0; k < b->nb; k++) {
        if (d[k] > (k ? d[k - 1] : 0))
            *max = b->le[k];
        if (b->le[k] == bound)
            *within = d[k];
    }
    return 0;
}

/* Leader changes between two scrapes of one node: the increase of
 * triad_raft_leader_changes_total summed over the groups present in both
 * (*meta for the meta group, *shards for the others), and over the groups
 * that appeared in between (*fresh, their first election included). */
static void changes_between(const struct node_metrics *a,
                            const struct node_metrics *b,
                            double *shards,
                            double *meta,
                            double *fresh)
{
    for (int i = 0; i < b->ng; i++) {
        int j = 0;
        while (j < a->ng && strcmp(a->key[j], b->key[i]) != 0)
            j++;
        if (j == a->ng)
            *fresh += b->changes[i];
        else if (strncmp(b->key[i], "group=\"meta\"", 12) == 0)
            *meta += b->changes[i] - a->changes[j];
        else
            *shards += b->changes[i] - a->changes[j];
    }
}

/* Leader changes seen by polling GET /api/v1/status/cluster: a shard or the
 * meta group whose leader is a different node than at its previous poll
 * with a leader, term increases, and polls that found a shard (or the meta
 * group) without a leader. */
struct poll_stats {
    long polls, failed_polls;
    long leader_changes, term_increases, leaderless;
    struct status prev;
    int have_prev;
};

static void poll_cluster(struct cluster *c, struct poll_stats *ps)
{
    static struct status st;
    if (get_status(c, &st) != 0) {
        ps->failed_polls++;
        return;
    }
    ps->polls++;
    if (!st.meta_leader[0])
        ps->leaderless++;
    for (int i = 0; i < st.nshards; i++)
        if (!st.sh[i].leader[0])
            ps->leaderless++;
    if (ps->have_prev) {
        const struct status *p = &ps->prev;
        if (st.meta_term > p->meta_term)
            ps->term_increases += (long)(st.meta_term - p->meta_term);
        if (st.meta_leader[0] && p->meta_leader[0] &&
            strcmp(st.meta_leader, p->meta_leader) != 0)
            ps->leader_changes++;
        for (int i = 0; i < st.nshards; i++) {
            const struct shard_info *s = &st.sh[i];
            for (int j = 0; j < p->nshards; j++) {
                const struct shard_info *q = &p->sh[j];
                if (q->window != s->window || q->slot != s->slot)
                    continue;
                if (s->term > q->term)
                    ps->term_increases += (long)(s->term - q->term);
                if (s->leader[0] && q->leader[0] &&
                    strcmp(s->leader, q->leader) != 0)
                    ps->leader_changes++;
            }
        }
    }
    /* keep the last leader seen of a shard that has none now */
    for (int i = 0; i < st.nshards && ps->have_prev; i++) {
        if (st.sh[i].leader[0])
            continue;
        for (int j = 0; j < ps->prev.nshards; j++)
            if (ps->prev.sh[j].window == st.sh[i].window &&
                ps->prev.sh[j].slot == st.sh[i].slot)
                memcpy(st.sh[i].leader, ps->prev.sh[j].leader,
                       sizeof st.sh[i].leader);
    }
    if (!st.meta_leader[0] && ps->have_prev)
        memcpy(st.meta_leader, ps->prev.meta_leader, sizeof st.meta_leader);
    ps->prev = st;
    ps->have_prev = 1;
}

/* One connection of the fixed-load phase: sends its series' rounds from
 * round0 on in requests of cfg.batch samples, request j at
 * start + offset + j * interval (CLOCK_MONOTONIC s), until end. A request
 * whose time has passed is sent at once (the connection stays busy while
 * the server is slow, so the offered load is an upper bound). */
struct pacer {
    struct worker w;
    long round0; /* first round sent */
    double start, offset, interval, end;
    long late;         /* requests started more than `interval` late */
    double max_behind; /* s, the latest start behind schedule */
};

static void sleep_until(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void *pacer_main(void *arg)
{
    struct pacer *pc = arg;
    struct worker *w = &pc->w;
    long n_own = 0;
    for (long s = w->id; s < cfg.series; s += cfg.conns)
        n_own++;
    struct bytes labels = {0}, pb = {0}, z = {0};
    size_t *loff = calloc((size_t)n_own + 1, sizeof *loff);
    double *val = calloc((size_t)n_own, sizeof *val);
    if (!loff || !val)
        die("out of memory");
    for (long i = 0; i < n_own; i++) {
        long s = w->id + i * cfg.conns;
        loff[i] = labels.len;
        encode_labels(s, &labels);
        val[i] = initial_value(s);
        for (long r = 0; r < pc->round0; r++) /* the values sent so far */
            val[i] = next_value(s, r, val[i]);
    }
    loff[n_own] = labels.len;

    CURL *e = curl_easy_init();
    struct curl_slist *hdr = prw_headers();
    curl_easy_setopt(e, CURLOPT_URL, w->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);

    long r = pc->round0, i = 0;
    for (long j = 0;; j++) {
        double due = pc->start + pc->offset + (double)j * pc->interval;
        if (due >= pc->end)
            break;
        long in_batch = 0;
        pb.len = 0;
        while (in_batch < cfg.batch) {
            long s = w->id + i * cfg.conns;
            val[i] = next_value(s, r, val[i]);
            put_series(&pb, labels.p + loff[i], loff[i + 1] - loff[i], val[i],
                       ts_of(s, r));
            in_batch++;
            if (++i == n_own) {
                i = 0;
                r++;
            }
        }
        sleep_until(due);
        double behind = mono_s() - due;
        if (behind > pc->max_behind)
            pc->max_behind = behind;
        if (behind > pc->interval)
            pc->late++;
        send_batch(e, w, &pb, in_batch, &z);
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(e);
    free(labels.p);
    free(pb.p);
    free(z.p);
    free(loff);
    free(val);
    return NULL;
}

static void print_time_ms(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char b[32];
    gmtime_r(&t, &tm);
    strftime(b, sizeof b, "%Y-%m-%d %H:%M:%SZ", &tm);
    printf("%s", b);
}

/* The fixed-load run on an RF=3 cluster (c): measures the maximum with the
 * ingest phase unless --load is given (then sends round 0 of every series
 * unpaced first, so that the phase does not create series), then offers
 * load samples/s for cfg.duration s and reports what the nodes and the
 * client saw. 0 when the run completed. */
/* Same shards, leaders and terms (and the meta group's) in a and b? */
static int same_leaders(const struct status *a, const struct status *b)
{
    if (a->nshards != b->nshards || a->meta_term != b->meta_term ||
        strcmp(a->meta_leader, b->meta_leader) != 0)
        return 0;
    for (int i = 0; i < a->nshards; i++) {
        const struct shard_info *x = &a->sh[i], *y = &b->sh[i];
        if (x->window != y->window || x->slot != y->slot ||
            x->term != y->term || strcmp(x->leader, y->leader) != 0)
            return 0;
    }
    return 1;
}

/* Waits until no leader or term changed for `quiet` polls 1 s apart (a new
 * cluster's leader balancing moves leaders during its first seconds), at
 * most max_s seconds. 0 when settled. */
static int wait_leaders_settled(struct cluster *c, int quiet, int max_s)
{
    static struct status a, b;
    int same = 0;
    if (get_status(c, &a) != 0)
        memset(&a, 0, sizeof a);
    for (int s = 0; s < max_s; s++) {
        sleep(1);
        if (get_status(c, &b) != 0) {
            same = 0;
            continue;
        }
        same = same_leaders(&a, &b) ? same + 1 : 0;
        a = b;
        if (same >= quiet)
            return 0;
    }
    return -1;
}

static int run_fixed(struct cluster *c)
{
    static struct node_metrics m0[MAX_NODES], m1[MAX_NODES];
    struct result r = {0};
    double load = (double)cfg.load;
    long round0;
    if (cfg.load == 0) {
        printf("fixed load: measuring the RF=3 maximum first\n");
        fflush(stdout);
        if (run_ingest(3, c, &r, cfg.rounds) != 0)
            return -1;
        print_result(&r);
        load = 0.5 * (double)r.ok_samples / r.wall_s;
        round0 = cfg.rounds;
    } else {
        if (run_ingest(3, c, &r, 1) != 0)
            return -1;
        printf(
            "fixed load: warm-up: round 0 of every series (%ld samples, %ld "
            "failed) in %.2f s\n",
            r.ok_samples, r.failed_samples, r.wall_s);
        round0 = 1;
    }
    if (r.failed_samples)
        printf("WARNING: %ld failed samples before the fixed-load phase\n",
               r.failed_samples);
    if (wait_status(c, pred_caught_up, 0, 0, 120) != 0) {
        fprintf(stderr,
                "fixed load: replicas did not reach lag 0 within 120 s\n");
        return -1;
    }
    double ws = mono_s();
    if (wait_leaders_settled(c, 8, 120) != 0) {
        fprintf(stderr, "fixed load: leaders kept moving for 120 s\n");
        return -1;
    }
    printf("fixed load: leaders settled (8 s without a change) after %.0f s\n",
           mono_s() - ws);
    double interval = (double)cfg.conns * (double)cfg.batch / load;
    long rounds = (long)ceil(load * (double)cfg.duration / (double)cfg.series);
    int64_t ts_end = t0_ms + (int64_t)(round0 + rounds) * SCRAPE_MS;
    int64_t now = now_ms(), day = 86400000;
    printf(
        "fixed load: offering %.0f samples/s (%s) for %ld s on RF=3: %ld "
        "connections, %ld samples per request, one request per connection "
        "every %.3f s; rounds %ld..~%ld, timestamps up to ",
        load, cfg.load ? "--load" : "50% of the measured RF=3 maximum",
        cfg.duration, cfg.conns, cfg.batch, interval, round0,
        round0 + rounds - 1);
    print_time_ms(ts_end);
    printf(" (now + %.1f h)\n", (double)(ts_end - now) / 3.6e6);
    if (ts_end / day != now / day)
        printf(
            "  note: the phase's data crosses a 24 h placement-window "
            "boundary; its series are created again in the next window's "
            "shards during the phase\n");
    fflush(stdout);

    double cpu0[MAX_NODES];
    for (int i = 0; i < c->n; i++) {
        if (scrape_metrics(&c->nodes[i], &m0[i]) != 0) {
            fprintf(stderr, "fixed load: GET /metrics of %s failed\n",
                    c->nodes[i].name);
            return -1;
        }
        cpu0[i] = cpu_seconds(c->nodes[i].pid);
    }
    static struct target t;
    memset(&t, 0, sizeof t);
    t.name = "fixed load";
    pthread_mutex_init(&t.mu, NULL);
    struct pacer *pc = calloc((size_t)cfg.conns, sizeof *pc);
    if (!pc)
        die("out of memory");
    static struct poll_stats ps;
    memset(&ps, 0, sizeof ps);
    poll_cluster(c, &ps);
    double start = mono_s() + 0.2, end = start + (double)cfg.duration;
    for (long i = 0; i < cfg.conns; i++) {
        pc[i].w.t = &t;
        pc[i].w.id = i;
        snprintf(pc[i].w.url, sizeof pc[i].w.url, "%s",
                 c->nodes[i % c->n].url_write);
        pc[i].round0 = round0;
        pc[i].start = start;
        pc[i].offset = interval * (double)i / (double)cfg.conns;
        pc[i].interval = interval;
        pc[i].end = end;
        if (pthread_create(&pc[i].w.th, NULL, pacer_main, &pc[i]) != 0)
            die("pthread_create");
    }
    for (long k = 1; start + (double)k < end; k++) {
        sleep_until(start + (double)k);
        poll_cluster(c, &ps);
    }
    for (long i = 0; i < cfg.conns; i++)
        pthread_join(pc[i].w.th, NULL);
    /* the phase: its duration, or until the last response if later */
    double wall = mono_s() - start;
    if (wall < (double)cfg.duration)
        wall = (double)cfg.duration;
    poll_cluster(c, &ps);
    int rv = 0;
    double cpu[MAX_NODES];
    for (int i = 0; i < c->n; i++) {
        cpu[i] = cpu_seconds(c->nodes[i].pid) - cpu0[i];
        if (scrape_metrics(&c->nodes[i], &m1[i]) != 0) {
            fprintf(stderr, "fixed load: GET /metrics of %s failed\n",
                    c->nodes[i].name);
            rv = -1;
        }
    }

    long ok = atomic_load(&t.ok_samples), fs = atomic_load(&t.failed_samples);
    long late = 0;
    double behind = 0;
    struct lats all = {0};
    for (long i = 0; i < cfg.conns; i++) {
        late += pc[i].late;
        if (pc[i].max_behind > behind)
            behind = pc[i].max_behind;
        for (size_t k = 0; k < pc[i].w.lat.n; k++)
            lat_add(&all, pc[i].w.lat.v[k]);
        free(pc[i].w.lat.v);
    }
    free(pc);
    qsort(all.v, all.n, sizeof *all.v, cmp_double);
    printf("fixed load (RF=3, %d nodes, %ld s):\n", c->n, cfg.duration);
    printf(
        "  samples/s               offered %.0f, achieved %.0f (%.1f%%; "
        "acked samples / %.2f s: the phase, or until the last response if "
        "later)\n",
        load, (double)ok / wall, 100.0 * (double)ok / wall / load, wall);
    printf(
        "  requests                %ld sent, %ld failed (non-2xx or "
        "transport error; %ld samples); %ld started more than one interval "
        "behind schedule (latest start %.1f ms behind)\n",
        atomic_load(&t.requests), atomic_load(&t.failed_requests), fs, late,
        behind * 1e3);
    printf("  request latency         p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
           pct(all.v, all.n, 50) * 1e3, pct(all.v, all.n, 99) * 1e3,
           all.n ? all.v[all.n - 1] * 1e3 : NAN);
    free(all.v);
    printf(
        "  loop lag (10 ms timer)  per node, from triad_loop_lag_seconds "
        "(target p99 <= 20 ms):\n");
    int lag_met = 1;
    for (int i = 0; i < c->n && rv == 0; i++) {
        double n, p99, max, within;
        if (lag_between(&m0[i], &m1[i], 0.02, &n, &p99, &max, &within) != 0) {
            printf("    %s                    no observations\n",
                   c->nodes[i].name);
            lag_met = 0;
            continue;
        }
        int met = within >= 0.99 * n;
        lag_met &= met;
        printf("    %s                    p99 %.2f ms, max ", c->nodes[i].name,
               p99 * 1e3);
        if (isinf(max))
            printf("> %g ms", m1[i].le[m1[i].nb - 2] * 1e3);
        else
            printf("<= %g ms", max * 1e3);
        /* a stall is one late firing: the missing ones show it too */
        printf(" (%.0f firings of ~%.0f due, %.2f%% <= 20 ms): %s\n", n,
               wall / 0.010, 100.0 * within / n, met ? "met" : "NOT met");
    }
    double sh = 0, meta = 0, fresh = 0;
    for (int i = 0; i < c->n && rv == 0; i++)
        changes_between(&m0[i], &m1[i], &sh, &meta, &fresh);
    printf(
        "  leader changes          %.0f (target 0: %s): increase of "
        "triad_raft_leader_changes_total summed over the nodes: shard groups "
        "%.0f, meta %.0f",
        sh + meta, sh + meta == 0 && ps.leader_changes == 0 ? "met" : "NOT met",
        sh, meta);
    if (fresh > 0)
        printf(", groups created during the phase %.0f (first elections)",
               fresh);
    printf(
        ";\n                          GET /api/v1/status/cluster every 1 s "
        "(%ld polls, %ld failed): %ld leader changes, %ld term increases, "
        "%ld leaderless sightings\n",
        ps.polls, ps.failed_polls, ps.leader_changes, ps.term_increases,
        ps.leaderless);
    printf("  node CPU                ");
    for (int i = 0; i < c->n; i++)
        printf("%s%s %.0f%%", i ? ", " : "", c->nodes[i].name,
               100.0 * cpu[i] / wall);
    printf(" of one core\n");
    printf(
        "  targets                 0 leader changes: %s; loop lag p99 <= "
        "20 ms on every node: %s\n",
        sh + meta == 0 && ps.leader_changes == 0 ? "met" : "NOT met",
        lag_met && rv == 0 ? "met" : "NOT met");
    fflush(stdout);
    return rv;
}

/* ---- main
 * -------------------------------------------------------------------- */

static long env_long(const char *name, long def)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : def;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: cluster_ingest [--series N] [--rounds N] [--batch N] "
            "[--conns N]\n"
            "         [--failovers N] [--probes-per-shard N] [--only rf1|rf3]\n"
            "         [--triad PATH] [--keep]\n"
            "       cluster_ingest --fixed-load [--load N] [--duration S] "
            "[--series N]\n"
            "         [--rounds N] [--batch N] [--conns N] [--triad PATH] "
            "[--keep]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    bench_prog = "cluster_ingest";
    cfg.series = env_long("BENCH_SERIES", cfg.series);
    cfg.rounds = env_long("BENCH_ROUNDS", cfg.rounds);
    cfg.batch = env_long("BENCH_BATCH", cfg.batch);
    cfg.conns = env_long("BENCH_CONNS", cfg.conns);
    cfg.failovers = env_long("BENCH_FAILOVERS", cfg.failovers);
    cfg.probes_per_shard = env_long("BENCH_PROBES", cfg.probes_per_shard);
    if (getenv("BENCH_ONLY") && *getenv("BENCH_ONLY"))
        cfg.only = getenv("BENCH_ONLY");
    if (getenv("TRIAD_BIN"))
        cfg.triad_bin = getenv("TRIAD_BIN");
    cfg.load = env_long("BENCH_LOAD", cfg.load);
    cfg.duration = env_long("BENCH_DURATION", cfg.duration);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep") == 0) {
            cfg.keep = 1;
            continue;
        }
        if (strcmp(a, "--fixed-load") == 0) {
            cfg.fixed = 1;
            continue;
        }
        if (!v)
            usage();
        if (strcmp(a, "--series") == 0)
            cfg.series = strtol(v, NULL, 10);
        else if (strcmp(a, "--rounds") == 0)
            cfg.rounds = strtol(v, NULL, 10);
        else if (strcmp(a, "--batch") == 0)
            cfg.batch = strtol(v, NULL, 10);
        else if (strcmp(a, "--conns") == 0)
            cfg.conns = strtol(v, NULL, 10);
        else if (strcmp(a, "--failovers") == 0)
            cfg.failovers = strtol(v, NULL, 10);
        else if (strcmp(a, "--probes-per-shard") == 0)
            cfg.probes_per_shard = strtol(v, NULL, 10);
        else if (strcmp(a, "--only") == 0)
            cfg.only = v;
        else if (strcmp(a, "--triad") == 0)
            cfg.triad_bin = v;
        else if (strcmp(a, "--load") == 0)
            cfg.load = strtol(v, NULL, 10);
        else if (strcmp(a, "--duration") == 0)
            cfg.duration = strtol(v, NULL, 10);
        else
            usage();
        i++;
    }
    if (cfg.series < 1 || cfg.rounds < 1 || cfg.batch < 1 || cfg.conns < 1 ||
        cfg.conns > 64 || cfg.failovers < 0 || cfg.failovers > 1000 ||
        cfg.probes_per_shard < 1 || cfg.probes_per_shard > 16 || cfg.load < 0 ||
        cfg.duration < 1)
        usage();
    int do_rf1 = !cfg.only || strcmp(cfg.only, "rf1") == 0;
    int do_rf3 = !cfg.only || strcmp(cfg.only, "rf3") == 0;
    if (!do_rf1 && !do_rf3)
        usage();
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    int64_t nw = now_ms();
    if (cfg.fixed) {
        static struct cluster cf;
        /* with --load only round 0 precedes the phase: 15 s ago */
        long before = cfg.load ? 1 : cfg.rounds;
        t0_ms = (nw - (int64_t)before * SCRAPE_MS) / SCRAPE_MS * SCRAPE_MS;
        printf(
            "cluster ingest benchmark, fixed load: %ld series, %ld per "
            "request, %ld connections spread over the nodes, %ld s\n",
            cfg.series, cfg.batch, cfg.conns, cfg.duration);
        fflush(stdout);
        int rc = run_fixed(&cf);
        stop_cluster(&cf);
        curl_global_cleanup();
        return rc != 0;
    }
    t0_ms = (nw - (int64_t)cfg.rounds * SCRAPE_MS) / SCRAPE_MS * SCRAPE_MS;
    printf(
        "cluster ingest benchmark: %ld series x %ld rounds (15 s) = %ld "
        "samples, %ld per "
        "request, %ld connections spread over the nodes, data %.1f h ending "
        "now\n",
        cfg.series, cfg.rounds, cfg.series * cfg.rounds, cfg.batch, cfg.conns,
        (double)cfg.rounds * SCRAPE_MS / 3.6e6);
    fflush(stdout);

    int failed = 0;
    static struct cluster c1, c3;
    struct result r1 = {0}, r3 = {0};
    if (do_rf1) {
        if (run_ingest(1, &c1, &r1, cfg.rounds) == 0)
            print_result(&r1);
        else
            failed = 1;
        stop_cluster(&c1);
    }
    if (do_rf3) {
        if (run_ingest(3, &c3, &r3, cfg.rounds) == 0)
            print_result(&r3);
        else
            failed = 1;
    }
    if (r1.ok && r3.ok) {
        double c1m = r1.cpu_total / (double)(r1.ok_samples + r1.failed_samples);
        double c3m = r3.cpu_total / (double)(r3.ok_samples + r3.failed_samples);
        printf("RF=3 / RF=1:\n");
        printf("  samples/s               %.2fx\n",
               ((double)r3.ok_samples / r3.wall_s) /
                   ((double)r1.ok_samples / r1.wall_s));
        printf("  total CPU per sample    %.2fx  (target <= 3.5x: %s)\n",
               c3m / c1m, c3m / c1m <= 3.5 ? "met" : "NOT met");
        printf("  p99 request latency     %.2fx\n", r3.p99 / r1.p99);
        fflush(stdout);
    }
    if (r1.failed_samples || r3.failed_samples)
        printf("WARNING: failed samples: RF=1 %ld, RF=3 %ld\n",
               r1.failed_samples, r3.failed_samples);
    if (do_rf3 && r3.ok && cfg.failovers > 0) {
        double *times = calloc((size_t)cfg.failovers, sizeof *times);
        int nt = 0;
        long fr = 0;
        if (!times)
            die("out of memory");
        if (run_failover(&c3, times, &nt, &fr) != 0)
            failed = 1;
        if (nt > 0) {
            printf("failover times (s):");
            for (int i = 0; i < nt; i++)
                printf(" %.3f", times[i]);
            qsort(times, (size_t)nt, sizeof *times, cmp_double);
            printf(
                "\n  %d failovers: p50 %.3f s, p99 %.3f s, max %.3f s (target "
                "p99 <= 2 s: "
                "%s); %ld probe requests sent between a kill and its recovery "
                "failed\n",
                nt, pct(times, (size_t)nt, 50), pct(times, (size_t)nt, 99),
                times[nt - 1],
                pct(times, (size_t)nt, 99) <= 2.0 ? "met" : "NOT met", fr);
        }
        free(times);
    }
    if (do_rf3)
        stop_cluster(&c3);
    curl_global_cleanup();
    return failed;
}
