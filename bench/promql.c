/* promql.c - PromQL range-query benchmark: triad vs Prometheus 3.5.3.
 *
 * Starts build/triad and Prometheus 3.5.3 (the current LTS:
 * build/tools/prometheus-3.5, `make prometheus-3.5`; with
 * --web.enable-remote-write-receiver) on free 127.0.0.1 ports with fresh
 * temp dirs, loads the very same remote-write data into both at the same
 * time, waits until both are idle, then runs a fixed set of range queries on
 * both and stops them by PID.
 *
 * Data (bench/lib/datagen): 10 metric names x COMBOS_PER_METRIC label
 * combinations (default 1,000 -> 10,000 series; --combos N takes the first N
 * combinations of every name): 5 counters, 3 gauges, 2 histogram bucket
 * metrics. One sample per series every INTERVAL seconds (default 60) covering
 * HOURS (default 24) plus 40 minutes, ending at "now" (timestamps: datagen's
 * per-instance offset and jitter, spaced INTERVAL apart). Every series is
 * owned by one connection, so its samples arrive in order; each request
 * carries BATCH samples and is sent to triad and then to Prometheus.
 *
 * Queries (metric names as the generator produces them), each as
 * /api/v1/query_range over the last 1 h (step 15 s) and the last 24 h (step
 * 5 m, ~ range/250 like Grafana), the same start/end for both servers:
 *   rate(counter[5m])                                   1,000 series
 *   sum by (job) (rate(counter[5m]))                    5 series
 *   histogram_quantile(0.9, sum by (le) (rate(bucket[5m])))   1 series
 *   gauge{instance=~"10.0.1.*"}                         200 series
 *   max_over_time(rate(counter[5m])[30m:1m])            1,000 series
 * Each query is run once per server as a warm-up, then REPS times (default 5)
 * per server; reported: the median wall time of the HTTP request (POST, form
 * body, keep-alive connection, no compression, the whole JSON response read),
 * triad / Prometheus per query, and the median of those ratios; and the
 * peak RSS of each server over the query phase (VmHWM, reset to the current
 * RSS by writing 5 to /proc/PID/clear_refs when the phase starts; where
 * that is refused, the maximum of VmRSS polled every 20 ms) and its ratio,
 * beside the RSS of both when the phase started.
 * Targets (every latency ratio <= 1.0, median <= 0.5, peak RSS ratio <=
 * 1.0) are reported, not asserted. A warning is printed if the two servers
 * return different numbers of result series.
 *
 * Usage: build/bench/promql [--combos N] [--interval S] [--hours H]
 *          [--reps N] [--conns N] [--batch N] [--triad PATH]
 *          [--prometheus PATH] [--keep] [--hold S]
 * Environment: BENCH_COMBOS, BENCH_INTERVAL, BENCH_HOURS, BENCH_REPS,
 * BENCH_CONNS, BENCH_BATCH, TRIAD_BIN, PROMETHEUS_BIN. Exit status: 0 when
 * the run completed, 1 when a server did not start or a query failed. */
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

#define NMETRICS 10
#define MAX_ERRORS_SHOWN 5
#define MAX_REPS 101

struct cfg {
    long combos;
    long interval_s;
    long hours;
    long reps;
    long conns;
    long batch;
    const char *triad_bin;
    const char *prom_bin;
    int keep;
    long hold_s;
};

static struct cfg cfg = {COMBOS,
                         60,
                         24,
                         5,
                         4,
                         2000,
                         "build/triad",
                         "build/tools/prometheus-3.5/usr/bin/prometheus",
                         0,
                         0};
static long rounds;

/* ---- servers --------------------------------------------------------------
 */

struct server {
    const char *name;
    char dir[64];
    char base[96]; /* http://127.0.0.1:port */
    char log[128];
    pid_t pid;
    atomic_long ok_samples, failed_samples, errors_shown;
};

static struct server srv[2] = {{.name = "triad"}, {.name = "prometheus"}};

static int start_triad(struct server *s)
{
    snprintf(s->dir, sizeof s->dir, "/tmp/bench-pq-triad-XXXXXX");
    if (!mkdtemp(s->dir))
        die("mkdtemp: %s", strerror(errno));
    char data[128], http[64], cluster[64], ready[128];
    snprintf(data, sizeof data, "%s/data", s->dir);
    snprintf(s->log, sizeof s->log, "%s/triad.log", s->dir);
    snprintf(http, sizeof http, "127.0.0.1:%d", free_port());
    snprintf(cluster, sizeof cluster, "127.0.0.1:%d", free_port());
    snprintf(s->base, sizeof s->base, "http://%s", http);
    snprintf(ready, sizeof ready, "http://%s/ready", http);
    mkdir(data, 0755);
    char *argv[] = {
        (char *)cfg.triad_bin, "serve", "--http-addr", http,
        "--tempo-http-addr", "", "--otlp-grpc-addr", "", "--otlp-http-addr", "",
        "--cluster-addr", cluster, "--data-dir", data, "--log-level", "warn",
        /* the data starts a day ago; Prometheus has no
         * ingestion limits, so neither does triad here */
        "--late-write-grace", "1000000h", "--ingest.creation-grace", "1000000h",
        "--ingest.ooo-window", "1000000h", "--limits.ingestion-rate", "0",
        "--limits.max-series", "0", NULL};
    s->pid = spawn(argv, s->log);
    int rc = wait_ready(s->pid, ready, 60);
    if (rc != 0) {
        fprintf(stderr, "triad did not become ready (%d); log: %s\n", rc,
                s->log);
        if (rc < 0)
            stop_pid(s->pid);
        s->pid = 0;
        return -1;
    }
    printf("triad: pid %d on %s, dir %s\n", (int)s->pid, http, s->dir);
    return 0;
}

static int start_prometheus(struct server *s)
{
    snprintf(s->dir, sizeof s->dir, "/tmp/bench-pq-prom-XXXXXX");
    if (!mkdtemp(s->dir))
        die("mkdtemp: %s", strerror(errno));
    char conf[128], addr[64], ready[128], flag_conf[200], flag_tsdb[200],
        flag_addr[100];
    snprintf(s->log, sizeof s->log, "%s/prometheus.log", s->dir);
    snprintf(conf, sizeof conf, "%s/prometheus.yml", s->dir);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", free_port());
    snprintf(s->base, sizeof s->base, "http://%s", addr);
    snprintf(ready, sizeof ready, "http://%s/-/ready", addr);
    FILE *f = fopen(conf, "w");
    if (!f)
        die("%s: %s", conf, strerror(errno));
    fprintf(f, "global:\n  scrape_interval: %lds\n", cfg.interval_s);
    fclose(f);
    snprintf(flag_conf, sizeof flag_conf, "--config.file=%s", conf);
    snprintf(flag_tsdb, sizeof flag_tsdb, "--storage.tsdb.path=%s/tsdb",
             s->dir);
    snprintf(flag_addr, sizeof flag_addr, "--web.listen-address=%s", addr);
    char *argv[] = {(char *)cfg.prom_bin,
                    flag_conf,
                    flag_tsdb,
                    flag_addr,
                    "--web.enable-remote-write-receiver",
                    "--log.level=warn",
                    NULL};
    s->pid = spawn(argv, s->log);
    if (wait_ready(s->pid, ready, 60) != 0) {
        fprintf(stderr, "prometheus did not become ready; log: %s\n", s->log);
        stop_pid(s->pid);
        s->pid = 0;
        return -1;
    }
    printf("prometheus: pid %d on %s, dir %s\n", (int)s->pid, addr, s->dir);
    return 0;
}

/* ---- load -----------------------------------------------------------------
 */

static int64_t ts_at(long s, long r)
{
    /* datagen's offsets and jitter, INTERVAL apart instead of SCRAPE_MS */
    return ts_of(s, r) + (int64_t)r * (cfg.interval_s * 1000 - SCRAPE_MS);
}

static long series_id(long i) /* i-th series of the data set */
{
    return (i / cfg.combos) * COMBOS + i % cfg.combos;
}

struct worker {
    pthread_t th;
    long id;
};

static void send_one(CURL *e,
                     struct server *s,
                     const char *z,
                     size_t zl,
                     long nsamples)
{
    struct body b = {0};
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, z);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)zl);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OK && status >= 200 && status < 300) {
        atomic_fetch_add(&s->ok_samples, nsamples);
    } else {
        atomic_fetch_add(&s->failed_samples, nsamples);
        if (atomic_fetch_add(&s->errors_shown, 1) < MAX_ERRORS_SHOWN)
            fprintf(stderr, "  %s: write failed: %s HTTP %ld %.300s\n", s->name,
                    rc != CURLE_OK ? curl_easy_strerror(rc) : "", status,
                    b.p ? b.p : "");
    }
    free(b.p);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    long total = NMETRICS * cfg.combos, n_own = 0;
    for (long i = w->id; i < total; i += cfg.conns)
        n_own++;
    struct bytes labels = {0}, pb = {0}, z = {0};
    size_t *loff = calloc((size_t)n_own + 1, sizeof *loff);
    double *val = calloc((size_t)n_own, sizeof *val);
    if (!loff || !val)
        die("out of memory");
    for (long j = 0; j < n_own; j++) {
        long s = series_id(w->id + j * cfg.conns);
        loff[j] = labels.len;
        encode_labels(s, &labels);
        val[j] = initial_value(s);
    }
    loff[n_own] = labels.len;

    CURL *e[2];
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, "Content-Type: application/x-protobuf");
    hdr = curl_slist_append(hdr, "Content-Encoding: snappy");
    hdr = curl_slist_append(hdr, "X-Prometheus-Remote-Write-Version: 0.1.0");
    hdr = curl_slist_append(hdr, "User-Agent: triad-bench/1");
    hdr = curl_slist_append(hdr, "Expect:");
    for (int k = 0; k < 2; k++) {
        char url[128];
        snprintf(url, sizeof url, "%s/api/v1/write", srv[k].base);
        e[k] = curl_easy_init();
        curl_easy_setopt(e[k], CURLOPT_URL, url);
        curl_easy_setopt(e[k], CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(e[k], CURLOPT_WRITEFUNCTION, body_write);
        curl_easy_setopt(e[k], CURLOPT_TIMEOUT, 60L);
        curl_easy_setopt(e[k], CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e[k], CURLOPT_TCP_NODELAY, 1L);
    }

    long in_batch = 0;
    for (long r = 0; r < rounds; r++) {
        for (long j = 0; j < n_own; j++) {
            long s = series_id(w->id + j * cfg.conns);
            val[j] = next_value(s, r, val[j]);
            int64_t ts = ts_at(s, r);
            size_t lab = loff[j + 1] - loff[j];
            size_t sample = 1 + 8 + 1 + uvarint_len((uint64_t)ts);
            size_t series_len = lab + 1 + uvarint_len(sample) + sample;
            b_uvarint(&pb, 1 << 3 | 2);
            b_uvarint(&pb, series_len);
            b_put(&pb, labels.p + loff[j], lab);
            b_uvarint(&pb, 2 << 3 | 2);
            b_uvarint(&pb, sample);
            uint8_t d[9];
            d[0] = 1 << 3 | 1;
            memcpy(d + 1, &val[j], 8); /* little-endian host */
            b_put(&pb, d, 9);
            b_uvarint(&pb, 2 << 3 | 0);
            b_uvarint(&pb, (uint64_t)ts);
            int last = r == rounds - 1 && j == n_own - 1;
            if (++in_batch == cfg.batch || (last && in_batch)) {
                size_t zl = snappy_max_compressed_length(pb.len);
                z.len = 0;
                b_reserve(&z, zl);
                if (snappy_compress(pb.p, pb.len, z.p, &zl) != SNAPPY_OK)
                    die("snappy_compress failed");
                for (int k = 0; k < 2; k++)
                    send_one(e[k], &srv[k], z.p, zl, in_batch);
                pb.len = 0;
                in_batch = 0;
            }
        }
    }
    for (int k = 0; k < 2; k++)
        curl_easy_cleanup(e[k]);
    curl_slist_free_all(hdr);
    free(labels.p);
    free(pb.p);
    free(z.p);
    free(loff);
    free(val);
    return NULL;
}

static void load(void)
{
    struct worker *ws = calloc((size_t)cfg.conns, sizeof *ws);
    if (!ws)
        die("out of memory");
    for (long i = 0; i < cfg.conns; i++) {
        ws[i].id = i;
        if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0)
            die("pthread_create");
    }
    for (long i = 0; i < cfg.conns; i++)
        pthread_join(ws[i].th, NULL);
    free(ws);
}

/* Value of the first line of url's text exposition whose metric name is
 * exactly name; NAN if absent. */
static double scrape_value(const char *url, const char *name)
{
    CURL *e = curl_easy_init();
    struct body b = {0};
    double v = NAN;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(e);
    curl_easy_cleanup(e);
    size_t nl = strlen(name);
    for (char *line = rc == CURLE_OK ? b.p : NULL; line && *line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next = 0;
        if (strncmp(line, name, nl) == 0 &&
            (line[nl] == ' ' || line[nl] == '{')) {
            char *sp = strrchr(line, '}');
            sp = strchr(sp ? sp : line, ' ');
            if (sp) {
                v = strtod(sp + 1, NULL);
                break;
            }
        }
        line = next ? next + 1 : NULL;
    }
    free(b.p);
    return v;
}

/* Prometheus compacts its head into 2 h blocks once it spans more than 3 h;
 * waits (at most timeout_s) until it has, so that the query phase does not
 * overlap the compaction of the loaded day. Returns the head span in h. */
static double wait_prom_compaction(double timeout_s)
{
    char url[160];
    snprintf(url, sizeof url, "%s/metrics", srv[1].base);
    double t0 = mono_s(), span = NAN;
    while (mono_s() - t0 < timeout_s) {
        double mn = scrape_value(url, "prometheus_tsdb_head_min_time"),
               mx = scrape_value(url, "prometheus_tsdb_head_max_time");
        span = (mx - mn) / 3.6e6;
        if (!(span > 3.0))
            break;
        usleep(500000);
    }
    return span;
}

/* Waits until both servers use < 5% CPU over 1 s (background compaction
 * done), at most timeout_s. Returns the seconds waited. */
static double idle_wait(double timeout_s)
{
    double t0 = mono_s();
    double c[2] = {cpu_seconds(srv[0].pid), cpu_seconds(srv[1].pid)};
    int calm = 0;
    while (mono_s() - t0 < timeout_s) {
        sleep(1);
        int busy = 0;
        for (int k = 0; k < 2; k++) {
            double now = cpu_seconds(srv[k].pid);
            if (now - c[k] > 0.05)
                busy = 1;
            c[k] = now;
        }
        calm = busy ? 0 : calm + 1;
        /* RocksDB compacts in bursts after a load: a short lull between a
         * flush and a compaction is not idle */
        if (calm >= 5)
            break;
    }
    return mono_s() - t0;
}

/* ---- peak RSS over the query phase ----------------------------------------
 */

struct rss_watch {
    pthread_t th;
    int polling;      /* the poller thread runs */
    atomic_int stop;  /* tells it to end */
    int hwm_reset[2]; /* VmHWM of server k was reset at the start */
    long polled[2];   /* KiB: the largest VmRSS polled */
    long start[2];    /* KiB: VmRSS when the phase started */
};

static void rss_poll_once(struct rss_watch *w)
{
    for (int k = 0; k < 2; k++) {
        long v = vm_status_kib(srv[k].pid, "VmRSS:");
        if (v > w->polled[k])
            w->polled[k] = v;
    }
}

static void *rss_poller(void *arg)
{
    struct rss_watch *w = arg;
    while (!atomic_load(&w->stop)) {
        rss_poll_once(w);
        usleep(20000);
    }
    return NULL;
}

/* Resets both servers' VmHWM; polls VmRSS (every 20 ms) when a reset is
 * refused. */
static void rss_watch_start(struct rss_watch *w)
{
    memset(w, 0, sizeof *w);
    atomic_init(&w->stop, 0);
    int need_poll = 0;
    for (int k = 0; k < 2; k++) {
        w->start[k] = vm_status_kib(srv[k].pid, "VmRSS:");
        w->hwm_reset[k] = reset_peak_rss(srv[k].pid) == 0;
        need_poll |= !w->hwm_reset[k];
    }
    rss_poll_once(w);
    if (need_poll && pthread_create(&w->th, NULL, rss_poller, w) == 0)
        w->polling = 1;
}

/* peak[k] in KiB; *how describes the method. */
static void rss_watch_end(struct rss_watch *w, long peak[2], const char **how)
{
    if (w->polling) {
        atomic_store(&w->stop, 1);
        pthread_join(w->th, NULL);
    }
    rss_poll_once(w);
    for (int k = 0; k < 2; k++) {
        long hwm = w->hwm_reset[k] ? vm_status_kib(srv[k].pid, "VmHWM:") : -1;
        peak[k] = hwm > w->polled[k] ? hwm : w->polled[k];
    }
    *how = w->hwm_reset[0] && w->hwm_reset[1]
               ? "VmHWM, reset when the phase started"
           : w->polling ? "VmRSS polled every 20 ms where VmHWM could not be "
                          "reset"
                        : "VmRSS at the start and the end only";
}

/* ---- queries ----------------------------------------------------------------
 */

struct query {
    const char *label;
    char expr[256];
};

struct run {
    double ms[2];   /* median per server */
    long series[2]; /* result series per server */
    int failed;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long count_series(const char *p)
{
    long n = 0;
    while ((p = strstr(p, "\"metric\"")) != NULL) {
        n++;
        p += 8;
    }
    return n;
}

/* One query_range request; returns ms, -1 on failure; *nseries set. */
static double run_query(CURL *e,
                        struct server *s,
                        const char *form,
                        long *nseries)
{
    struct body b = {0};
    char url[128];
    snprintf(url, sizeof url, "%s/api/v1/query_range", s->base);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    double t0 = mono_s();
    CURLcode rc = curl_easy_perform(e);
    double ms = (mono_s() - t0) * 1000.0;
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 200 || !b.p ||
        !strstr(b.p, "\"status\":\"success\"")) {
        fprintf(stderr, "  %s: query failed: %s HTTP %ld %.300s\n", s->name,
                rc != CURLE_OK ? curl_easy_strerror(rc) : "", status,
                b.p ? b.p : "");
        free(b.p);
        return -1;
    }
    *nseries = count_series(b.p);
    free(b.p);
    return ms;
}

int main(int argc, char **argv)
{
    bench_prog = "promql";
    const char *v;
    if ((v = getenv("BENCH_COMBOS")) && *v)
        cfg.combos = strtol(v, NULL, 10);
    if ((v = getenv("BENCH_INTERVAL")) && *v)
        cfg.interval_s = strtol(v, NULL, 10);
    if ((v = getenv("BENCH_HOURS")) && *v)
        cfg.hours = strtol(v, NULL, 10);
    if ((v = getenv("BENCH_REPS")) && *v)
        cfg.reps = strtol(v, NULL, 10);
    if ((v = getenv("BENCH_CONNS")) && *v)
        cfg.conns = strtol(v, NULL, 10);
    if ((v = getenv("BENCH_BATCH")) && *v)
        cfg.batch = strtol(v, NULL, 10);
    if ((v = getenv("TRIAD_BIN")) && *v)
        cfg.triad_bin = v;
    if ((v = getenv("PROMETHEUS_BIN")) && *v)
        cfg.prom_bin = v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *x = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep") == 0) {
            cfg.keep = 1;
            continue;
        }
        if (!x)
            goto usage;
        if (strcmp(a, "--combos") == 0)
            cfg.combos = strtol(x, NULL, 10);
        else if (strcmp(a, "--interval") == 0)
            cfg.interval_s = strtol(x, NULL, 10);
        else if (strcmp(a, "--hours") == 0)
            cfg.hours = strtol(x, NULL, 10);
        else if (strcmp(a, "--reps") == 0)
            cfg.reps = strtol(x, NULL, 10);
        else if (strcmp(a, "--hold") == 0)
            cfg.hold_s = strtol(x, NULL, 10);
        else if (strcmp(a, "--conns") == 0)
            cfg.conns = strtol(x, NULL, 10);
        else if (strcmp(a, "--batch") == 0)
            cfg.batch = strtol(x, NULL, 10);
        else if (strcmp(a, "--triad") == 0)
            cfg.triad_bin = x;
        else if (strcmp(a, "--prometheus") == 0)
            cfg.prom_bin = x;
        else
            goto usage;
        i++;
    }
    if (cfg.combos < 50 || cfg.combos > COMBOS || cfg.interval_s < 1 ||
        cfg.interval_s > 300 || cfg.hours < 1 || cfg.reps < 1 ||
        cfg.reps > MAX_REPS || cfg.conns < 1 || cfg.conns > 64 || cfg.batch < 1)
        goto usage;
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    /* data: HOURS + 40 min (5m rate windows and the 30m subquery before the
     * first step of the longest query), the last round just before now */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    int64_t iv_ms = cfg.interval_s * 1000;
    rounds = (cfg.hours * 3600 + 40 * 60) / cfg.interval_s;
    /* ts_at(s, r) = t0 + r * iv + offset (< 10.4 s) */
    t0_ms = (now_ms - 11000 - (int64_t)(rounds - 1) * iv_ms) / 1000 * 1000;
    long nseries = NMETRICS * cfg.combos;
    printf(
        "promql benchmark: %ld series (10 metric names x %ld), one sample "
        "every %ld s for %.2f h ending now = %ld samples, %ld connections, "
        "%ld samples per request; %ld timed runs per query and server\n",
        nseries, cfg.combos, cfg.interval_s,
        (double)rounds * (double)cfg.interval_s / 3600.0, nseries * rounds,
        cfg.conns, cfg.batch, cfg.reps);
    fflush(stdout);

    char prom_name[96], prom_version[64];
    program_version(cfg.prom_bin, prom_version, sizeof prom_version);
    snprintf(prom_name, sizeof prom_name, "prometheus %s", prom_version);
    printf("baseline: %s (%s)\n", prom_name, cfg.prom_bin);
    int failed = 0;
    if (start_triad(&srv[0]) != 0 || start_prometheus(&srv[1]) != 0) {
        failed = 1;
        goto out;
    }
    fflush(stdout);
    double w0 = mono_s();
    load();
    double load_s = mono_s() - w0;
    printf(
        "load: %.1f s; triad %ld ok / %ld failed samples, prometheus %ld "
        "ok / %ld failed\n",
        load_s, atomic_load(&srv[0].ok_samples),
        atomic_load(&srv[0].failed_samples), atomic_load(&srv[1].ok_samples),
        atomic_load(&srv[1].failed_samples));
    if (atomic_load(&srv[0].failed_samples) ||
        atomic_load(&srv[1].failed_samples))
        printf("WARNING: some samples were not accepted\n");
    w0 = mono_s();
    double span = wait_prom_compaction(120);
    char blocks_url[160];
    snprintf(blocks_url, sizeof blocks_url, "%s/metrics", srv[1].base);
    printf("prometheus: head spans %.2f h, %.0f blocks (%.1f s wait)\n", span,
           scrape_value(blocks_url, "prometheus_tsdb_blocks_loaded"),
           mono_s() - w0);
    printf("waiting for both servers to be idle: %.1f s\n", idle_wait(90));
    fflush(stdout);

    /* queries */
    struct query qs[] = {
        {"rate", "rate(bench_http_server_0_requests_total[5m])"},
        {"sum by (job) rate",
         "sum by (job) (rate(bench_http_server_0_requests_total[5m]))"},
        {"histogram_quantile",
         "histogram_quantile(0.9, sum by (le) "
         "(rate(bench_go_runtime_8_duration_seconds_bucket[5m])))"},
        {"regex selector",
         "bench_node_network_5_memory_bytes{instance=~"
         "\"10.0.1.*\"}"},
        {"subquery",
         "max_over_time(rate(bench_http_server_0_requests_total"
         "[5m])[30m:1m])"},
    };
    enum { NQ = sizeof qs / sizeof qs[0] };
    struct {
        const char *name;
        long range_s, step_s;
    } ranges[] = {{"1h", 3600, 15}, {"24h", 86400, 300}};
    char short_name[32];
    if (cfg.hours < 24) {
        ranges[1].range_s = cfg.hours * 3600;
        snprintf(short_name, sizeof short_name, "%ldh", cfg.hours);
        ranges[1].name = short_name;
    }
    struct run runs[NQ][2];
    memset(runs, 0, sizeof runs);
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t end_s = now.tv_sec;
    CURL *e[2] = {curl_easy_init(), curl_easy_init()};
    double *lat = calloc((size_t)cfg.reps, sizeof *lat);
    if (!lat)
        die("out of memory");
    struct rss_watch rss;
    rss_watch_start(&rss);
    double qw0 = mono_s();
    for (int q = 0; q < NQ; q++) {
        char *esc = curl_easy_escape(e[0], qs[q].expr, 0);
        for (int r = 0; r < 2; r++) {
            struct run *ru = &runs[q][r];
            int64_t end = end_s / ranges[r].step_s * ranges[r].step_s;
            char form[1024];
            snprintf(form, sizeof form, "query=%s&start=%lld&end=%lld&step=%ld",
                     esc, (long long)(end - ranges[r].range_s), (long long)end,
                     ranges[r].step_s);
            for (int k = 0; k < 2 && !ru->failed; k++) {
                long ns = -1;
                if (run_query(e[k], &srv[k], form, &ns) < 0) { /* warm-up */
                    ru->failed = 1;
                    break;
                }
                ru->series[k] = ns;
                for (long i = 0; i < cfg.reps; i++) {
                    lat[i] = run_query(e[k], &srv[k], form, &ns);
                    if (lat[i] < 0) {
                        ru->failed = 1;
                        break;
                    }
                }
                if (!ru->failed)
                    ru->ms[k] = median(lat, (int)cfg.reps);
            }
            if (ru->failed) {
                fprintf(stderr, "query failed: %s over %s\n", qs[q].expr,
                        ranges[r].name);
                failed = 1;
            }
        }
        curl_free(esc);
    }
    double query_s = mono_s() - qw0;
    long peak_kib[2];
    const char *peak_how;
    rss_watch_end(&rss, peak_kib, &peak_how);
    free(lat);

    printf(
        "\nmedian of %ld runs after one warm-up, per server (query phase "
        "%.1f s):\n\n",
        cfg.reps, query_s);
    printf(
        "| %-62s | range | step  | series | triad ms | prometheus ms | "
        "ratio |\n",
        "query");
    printf(
        "|%.64s|-------|-------|--------|----------|---------------|-------|"
        "\n",
        "----------------------------------------------------------------"
        "----");
    double ratios[NQ * 2];
    int nr = 0, all_le1 = 1;
    for (int q = 0; q < NQ; q++)
        for (int r = 0; r < 2; r++) {
            struct run *ru = &runs[q][r];
            char series[32];
            if (ru->series[0] == ru->series[1])
                snprintf(series, sizeof series, "%ld", ru->series[0]);
            else
                snprintf(series, sizeof series, "%ld/%ld", ru->series[0],
                         ru->series[1]);
            if (ru->failed) {
                printf("| %-62s | %-5s | %4lds  | %6s | %8s | %13s | %5s |\n",
                       qs[q].expr, ranges[r].name, ranges[r].step_s, series,
                       "FAIL", "FAIL", "-");
                all_le1 = 0;
                continue;
            }
            double ratio = ru->ms[0] / ru->ms[1];
            ratios[nr++] = ratio;
            if (ratio > 1.0)
                all_le1 = 0;
            printf("| %-62s | %-5s | %4lds  | %6s | %8.1f | %13.1f | %5.2f |\n",
                   qs[q].expr, ranges[r].name, ranges[r].step_s, series,
                   ru->ms[0], ru->ms[1], ratio);
        }
    for (int q = 0; q < NQ; q++)
        for (int r = 0; r < 2; r++)
            if (!runs[q][r].failed &&
                runs[q][r].series[0] != runs[q][r].series[1])
                printf(
                    "WARNING: %s over %s: triad returned %ld series, "
                    "prometheus %ld\n",
                    qs[q].expr, ranges[r].name, runs[q][r].series[0],
                    runs[q][r].series[1]);
    double rss_ratio = (double)peak_kib[0] / (double)peak_kib[1];
    printf(
        "\npeak RSS over the query phase (%s): triad %.1f MiB, %s %.1f "
        "MiB, ratio %.2f\n",
        peak_how, (double)peak_kib[0] / 1024.0, prom_name,
        (double)peak_kib[1] / 1024.0, rss_ratio);
    printf(
        "RSS when the query phase started: triad %.1f MiB, prometheus "
        "%.1f MiB\n",
        (double)rss.start[0] / 1024.0, (double)rss.start[1] / 1024.0);
    printf("RSS after the queries: triad %.1f MiB, prometheus %.1f MiB\n",
           (double)vm_status_kib(srv[0].pid, "VmRSS:") / 1024.0,
           (double)vm_status_kib(srv[1].pid, "VmRSS:") / 1024.0);
    if (nr) {
        double med = median(ratios, nr);
        printf("median latency ratio triad / prometheus: %.2f\n", med);
        printf(
            "targets: every latency ratio <= 1.0: %s; median <= 0.5: %s; "
            "peak RSS ratio <= 1.0: %s\n",
            all_le1 ? "met" : "NOT met", med <= 0.5 ? "met" : "NOT met",
            rss_ratio <= 1.0 ? "met" : "NOT met");
    }
    curl_easy_cleanup(e[0]);
    curl_easy_cleanup(e[1]);
    if (cfg.hold_s > 0) {
        /* for profiling by hand: both servers stay up with the data */
        printf("holding %ld s: triad %s (pid %d), prometheus %s (pid %d)\n",
               cfg.hold_s, srv[0].base, (int)srv[0].pid, srv[1].base,
               (int)srv[1].pid);
        fflush(stdout);
        sleep((unsigned)cfg.hold_s);
    }

out:
    for (int k = 0; k < 2; k++) {
        if (srv[k].pid > 0) {
            int st = stop_pid(srv[k].pid);
            if (st != 0) {
                if (st > 0 && WIFSIGNALED(st))
                    fprintf(stderr,
                            "WARNING: %s died of signal %d after SIGTERM; "
                            "kept %s\n",
                            srv[k].name, WTERMSIG(st), srv[k].dir);
                else
                    fprintf(stderr,
                            "WARNING: %s: exit status %d after SIGTERM "
                            "(-1: killed after 30 s); kept %s\n",
                            srv[k].name,
                            st > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : st,
                            srv[k].dir);
                continue;
            }
        }
        if (srv[k].dir[0] && !cfg.keep)
            rm_rf(srv[k].dir);
    }
    curl_global_cleanup();
    return failed;

usage:
    fprintf(stderr,
            "usage: promql [--combos N (50..1000)] [--interval S] [--hours H] "
            "[--reps N]\n"
            "         [--conns N] [--batch N] [--triad PATH] "
            "[--prometheus PATH] [--keep] [--hold S]\n");
    return 2;
}
