/* ingest_metrics.c - remote-write ingest benchmark: triad vs Prometheus 3.5.3.
 *
 * Generates one deterministic, realistic data set and sends the very same
 * requests to (1) build/triad and (2) Prometheus 3.5.3 (the current LTS:
 * build/tools/prometheus-3.5, `make prometheus-3.5`) started with
 * --web.enable-remote-write-receiver, each started here on free 127.0.0.1
 * ports with a fresh temp data dir and stopped by PID at the end.
 *
 * Data: SERIES series (default 100,000 = 100 metric names x 1,000 label
 * combinations: job, instance, method/status, device or handler/le), scraped
 * every 15 s for ROUNDS rounds (default 200 -> 20M samples) ending at "now".
 * 50% counters (random increments, some idle), 30% gauges (integer random
 * walks, noisy floats, 3-digit ratios), 20% histogram buckets (cumulative
 * per le). Timestamps carry a per-instance offset and occasional 1-2 ms
 * jitter like real scrapes. Like Prometheus' remote write, every series
 * is owned by one connection (series % CONNS) so its samples arrive in
 * order, and requests carry BATCH samples (default 2,000 =
 * max_samples_per_send), one sample per series per request, labels sorted,
 * snappy-compressed remote-write 1.0.
 *
 * Measured per server, after the push, IDLE seconds (default 10) of idling
 * and a graceful stop (SIGTERM, wait for the exit): samples/s over the push;
 * CPU seconds per million samples, both over the push alone (utime+stime
 * from /proc/PID/stat) and over push + idle + stop (the whole-life CPU from
 * wait4 minus what was spent before the push); peak RSS (VmHWM before the
 * stop); the time the stop took; and the disk as an operator sizing a
 * volume sees it: the allocated bytes (du) of the WHOLE data directory once
 * the server has exited - triad: everything under --data-dir (RocksDB,
 * Raft log, ...); Prometheus: its whole --storage.tsdb.path (WAL, head
 * chunks, blocks) - with its top-level parts. Any non-2xx response counts
 * its samples as failed and is printed (first few bodies).
 *
 * Usage: build/bench/ingest_metrics [--series N] [--rounds N] [--batch N]
 *          [--conns N] [--idle S] [--only triad|prometheus] [--triad PATH]
 *          [--prometheus PATH] [--keep]
 * Environment: BENCH_SERIES, BENCH_ROUNDS, BENCH_BATCH, BENCH_CONNS,
 * BENCH_IDLE, BENCH_ONLY, TRIAD_BIN, PROMETHEUS_BIN. Exit status: 0 when
 * the runs completed (targets are reported, not asserted), 1 otherwise.
 *
 * Self-contained on purpose (libcurl, libsnappy, libc): the protobuf is
 * written inline so the benchmark does not depend on triad's own encoder. */
#include "bench/lib/datagen.h"
#include "bench/lib/proc.h"
#include <curl/curl.h>
#include <dirent.h>
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

struct cfg {
    long series;
    long rounds;
    long batch;
    long conns;
    long idle_s;
    const char *only;
    const char *triad_bin;
    const char *prom_bin;
    int keep;
    long pairs;
};

static struct cfg cfg = {100000,
                         200,
                         2000,
                         6,
                         10,
                         NULL,
                         "build/triad",
                         "build/tools/prometheus-3.5/usr/bin/prometheus",
                         0,
                         3};

/* ---- sender threads -------------------------------------------------------
 */

struct target {
    const char *name;
    char url[128];
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

struct worker {
    pthread_t th;
    struct target *t;
    long id;
};

static void send_batch(CURL *e,
                       struct target *t,
                       struct bytes *pb,
                       long nsamples,
                       struct bytes *z)
{
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
    CURLcode rc = curl_easy_perform(e);
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
            fprintf(stderr, "  %s: request failed: %s\n", t->name,
                    curl_easy_strerror(rc));
        else
            fprintf(stderr, "  %s: HTTP %ld: %.300s\n", t->name, status,
                    sk.buf);
        pthread_mutex_unlock(&t->mu);
    }
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
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, "Content-Type: application/x-protobuf");
    hdr = curl_slist_append(hdr, "Content-Encoding: snappy");
    hdr = curl_slist_append(hdr, "X-Prometheus-Remote-Write-Version: 0.1.0");
    hdr = curl_slist_append(hdr, "User-Agent: triad-bench/1");
    hdr = curl_slist_append(hdr, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, w->t->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);

    long in_batch = 0;
    for (long r = 0; r < cfg.rounds; r++) {
        for (long i = 0; i < n_own; i++) {
            long s = w->id + i * cfg.conns;
            val[i] = next_value(s, r, val[i]);
            /* TimeSeries { labels..., samples { value=1 double, timestamp=2 } }
             */
            int64_t ts = ts_of(s, r);
            size_t lab = loff[i + 1] - loff[i];
            size_t sample = 1 + 8 + 1 + uvarint_len((uint64_t)ts);
            size_t series_len = lab + 1 + uvarint_len(sample) + sample;
            b_uvarint(&pb, 1 << 3 | 2);
            b_uvarint(&pb, series_len);
            b_put(&pb, labels.p + loff[i], lab);
            b_uvarint(&pb, 2 << 3 | 2);
            b_uvarint(&pb, sample);
            uint8_t d[9];
            d[0] = 1 << 3 | 1;
            memcpy(d + 1, &val[i], 8); /* little-endian host */
            b_put(&pb, d, 9);
            b_uvarint(&pb, 2 << 3 | 0);
            b_uvarint(&pb, (uint64_t)ts);
            if (++in_batch == cfg.batch) {
                send_batch(e, w->t, &pb, in_batch, &z);
                pb.len = 0;
                in_batch = 0;
            }
        }
    }
    if (in_batch)
        send_batch(e, w->t, &pb, in_batch, &z);
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

/* Sum of the values of every line of a Prometheus text exposition whose
 * metric name is exactly name. -1 if absent. */
static double scrape_sum(const char *url, const char *name)
{
    CURL *e = curl_easy_init();
    struct bytes b = {0};
    double sum = -1;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, NULL); /* default: fwrite */
    FILE *mem = open_memstream(&b.p, &b.len);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, mem);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(e);
    fclose(mem);
    curl_easy_cleanup(e);
    if (rc != CURLE_OK || !b.p) {
        free(b.p);
        return -1;
    }
    size_t nl = strlen(name);
    for (char *line = strtok(b.p, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, name, nl) != 0 ||
            (line[nl] != ' ' && line[nl] != '{'))
            continue;
        char *sp = strrchr(line, '}');
        sp = strchr(sp ? sp : line, ' ');
        if (sp)
            sum = (sum < 0 ? 0 : sum) + strtod(sp + 1, NULL);
    }
    free(b.p);
    return sum;
}

/* ---- one run against one server ------------------------------------------ */

struct result {
    int ok;
    double wall_s;       /* the push */
    double cpu_before_s; /* CPU the server used before the push */
    double cpu_ingest_s; /* CPU over the push */
    double cpu_total_s;  /* CPU over push + idle + stop */
    double stop_s;       /* SIGTERM -> exit */
    int exit_status;     /* as waitpid reports it, -1: killed */
    long hwm_kib;
    long long disk_alloc, disk_apparent; /* the whole data dir, after exit */
    char parts[512]; /* its top-level entries: "db 1.2 MiB, raft 0.3 MiB" */
    long ok_samples, failed_samples, failed_requests;
    double server_count; /* samples the server says it ingested */
};

static void ingest(struct target *t, struct result *res, pid_t pid)
{
    struct worker *ws = calloc((size_t)cfg.conns, sizeof *ws);
    if (!ws)
        die("out of memory");
    double w0 = mono_s();
    res->cpu_before_s = cpu_seconds(pid);
    for (long i = 0; i < cfg.conns; i++) {
        ws[i].t = t;
        ws[i].id = i;
        if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0)
            die("pthread_create");
    }
    for (long i = 0; i < cfg.conns; i++)
        pthread_join(ws[i].th, NULL);
    res->wall_s = mono_s() - w0;
    res->cpu_ingest_s = cpu_seconds(pid) - res->cpu_before_s;
    res->ok_samples = atomic_load(&t->ok_samples);
    res->failed_samples = atomic_load(&t->failed_samples);
    res->failed_requests = atomic_load(&t->failed_requests);
    free(ws);
}

/* res->parts: the allocated size of every top-level entry of dir, largest
 * first. */
static void result_parts(const char *dir, struct result *res)
{
    struct part {
        char name[256];
        long long alloc;
    } parts[16];
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL && n < 16) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char path[600];
        long long al, ap;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (disk_usage(path, &al, &ap) != 0)
            continue;
        snprintf(parts[n].name, sizeof parts[n].name, "%s", de->d_name);
        parts[n++].alloc = al;
    }
    if (d)
        closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort, largest first */
        for (int k = i; k > 0 && parts[k].alloc > parts[k - 1].alloc; k--) {
            struct part tmp = parts[k];
            parts[k] = parts[k - 1];
            parts[k - 1] = tmp;
        }
    size_t len = 0;
    res->parts[0] = 0;
    for (int i = 0; i < n && len < sizeof res->parts - 1; i++) {
        int k =
            snprintf(res->parts + len, sizeof res->parts - len, "%s%s %.1f MiB",
                     i ? ", " : "", parts[i].name, mib(parts[i].alloc));
        if (k < 0)
            break;
        len += (size_t)k;
    }
}

/* After the push: idle, then the graceful stop, then the data dir. */
static void idle_stop_measure(const char *name,
                              pid_t pid,
                              const char *data_dir,
                              const char *log,
                              struct result *res)
{
    if (cfg.idle_s > 0)
        sleep((unsigned)cfg.idle_s);
    res->hwm_kib = vm_status_kib(pid, "VmHWM:");
    double cpu_life = 0;
    res->exit_status = stop_pid_measured(pid, &cpu_life, &res->stop_s);
    res->cpu_total_s = cpu_life - res->cpu_before_s;
    if (res->exit_status != 0)
        fprintf(stderr,
                "  %s: exit status %d after SIGTERM (-1: killed after 30 s; "
                "log %s)\n",
                name, res->exit_status, log);
    if (disk_usage(data_dir, &res->disk_alloc, &res->disk_apparent) != 0)
        fprintf(stderr, "  %s: cannot walk %s\n", name, data_dir);
    result_parts(data_dir, res);
}

static void print_result(const char *name, const struct result *r)
{
    long total = r->ok_samples + r->failed_samples;
    double per_m = (double)(total ? total : 1) / 1e6;
    long ok = r->ok_samples ? r->ok_samples : 1;
    printf("%s:\n", name);
    printf("  samples sent          %ld ok, %ld failed (%ld failed requests)\n",
           r->ok_samples, r->failed_samples, r->failed_requests);
    if (r->server_count >= 0)
        printf("  server counted        %.0f samples\n", r->server_count);
    printf("  push wall time        %.2f s\n", r->wall_s);
    printf("  samples/s             %.0f\n", (double)r->ok_samples / r->wall_s);
    printf(
        "  CPU s / 1M samples    %.3f over the push (%.2f CPU s); %.3f with "
        "%ld s idle and the stop (%.2f CPU s)\n",
        r->cpu_ingest_s / per_m, r->cpu_ingest_s, r->cpu_total_s / per_m,
        cfg.idle_s, r->cpu_total_s);
    printf("  peak RSS (VmHWM)      %.1f MiB\n", (double)r->hwm_kib / 1024.0);
    printf("  graceful stop         %.2f s (exit status %d)\n", r->stop_s,
           r->exit_status);
    printf(
        "  disk, whole data dir  %.1f MiB allocated, %.3f bytes/sample "
        "(apparent size %.1f MiB)\n",
        mib(r->disk_alloc), (double)r->disk_alloc / (double)ok,
        mib(r->disk_apparent));
    printf("    parts               %s\n", r->parts[0] ? r->parts : "-");
    fflush(stdout);
}

static int run_triad(struct result *res)
{
    char dir[] = "/tmp/bench-triad-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp: %s", strerror(errno));
    char data[256], log[256], http[64], cluster[64], ready[128];
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(log, sizeof log, "%s/triad.log", dir);
    snprintf(http, sizeof http, "127.0.0.1:%d", free_port());
    snprintf(cluster, sizeof cluster, "127.0.0.1:%d", free_port());
    snprintf(ready, sizeof ready, "http://%s/ready", http);
    mkdir(data, 0755);
    char *argv[] = {
        (char *)cfg.triad_bin, "serve", "--http-addr", http,
        "--tempo-http-addr", "", "--otlp-grpc-addr", "", "--otlp-http-addr", "",
        "--cluster-addr", cluster, "--data-dir", data, "--log-level", "warn",
        /* the data ends now but starts before the late-write
         * grace; Prometheus has no ingestion limits, so neither
         * does triad here */
        "--late-write-grace", "1000000h", "--ingest.creation-grace", "1000000h",
        "--limits.ingestion-rate", "0", "--limits.max-series", "0", NULL};
    pid_t pid = spawn(argv, log);
    int rc = wait_ready(pid, ready, 60);
    if (rc != 0) {
        fprintf(stderr, "triad did not become ready (%d); log: %s\n", rc, log);
        if (rc < 0)
            stop_pid(pid);
        return -1;
    }
    struct target t = {.name = "triad"}; /* fresh counters every run */
    pthread_mutex_init(&t.mu, NULL);
    snprintf(t.url, sizeof t.url, "http://%s/api/v1/write", http);
    printf("triad: pid %d on %s, data %s\n", (int)pid, http, data);
    fflush(stdout);
    ingest(&t, res, pid);

    char url[160];
    snprintf(url, sizeof url, "http://%s/metrics", http);
    res->server_count = scrape_sum(url, "triad_samples_ingested_total");
    idle_stop_measure("triad", pid, data, log, res);
    res->ok = 1;
    if (!cfg.keep)
        rm_rf(dir);
    return 0;
}

static int run_prometheus(struct result *res)
{
    char dir[] = "/tmp/bench-prom-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp: %s", strerror(errno));
    char tsdb[256], log[256], conf[256], addr[64], ready[128], flag_conf[300],
        flag_tsdb[300], flag_addr[100];
    snprintf(tsdb, sizeof tsdb, "%s/tsdb", dir);
    snprintf(log, sizeof log, "%s/prometheus.log", dir);
    snprintf(conf, sizeof conf, "%s/prometheus.yml", dir);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", free_port());
    snprintf(ready, sizeof ready, "http://%s/-/ready", addr);
    FILE *f = fopen(conf, "w");
    if (!f)
        die("%s: %s", conf, strerror(errno));
    fputs("global:\n  scrape_interval: 15s\n", f);
    fclose(f);
    snprintf(flag_conf, sizeof flag_conf, "--config.file=%s", conf);
    snprintf(flag_tsdb, sizeof flag_tsdb, "--storage.tsdb.path=%s", tsdb);
    snprintf(flag_addr, sizeof flag_addr, "--web.listen-address=%s", addr);
    char *argv[] = {(char *)cfg.prom_bin,
                    flag_conf,
                    flag_tsdb,
                    flag_addr,
                    "--web.enable-remote-write-receiver",
                    "--log.level=warn",
                    NULL};
    pid_t pid = spawn(argv, log);
    if (wait_ready(pid, ready, 60) != 0) {
        fprintf(stderr, "prometheus did not become ready; log: %s\n", log);
        stop_pid(pid);
        return -1;
    }
    struct target t = {.name = "prometheus"};
    pthread_mutex_init(&t.mu, NULL);
    snprintf(t.url, sizeof t.url, "http://%s/api/v1/write", addr);
    printf("prometheus: pid %d on %s, tsdb %s\n", (int)pid, addr, tsdb);
    fflush(stdout);
    ingest(&t, res, pid);

    char url[200];
    snprintf(url, sizeof url, "http://%s/metrics", addr);
    res->server_count =
        scrape_sum(url, "prometheus_tsdb_head_samples_appended_total");
    idle_stop_measure("prometheus", pid, tsdb, log, res);
    res->ok = 1;
    if (!cfg.keep)
        rm_rf(dir);
    return 0;
}

/* ---- main
 * -------------------------------------------------------------------- */

static long env_long(const char *name, long def)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : def;
}

/* triad / Prometheus figures of one pair of runs, and their targets. */
enum { R_RATE, R_CPU, R_CPU_ALL, R_DISK, R_RSS, R_N };

static const struct {
    const char *name;
    double target; /* 0: none */
} ratio_def[R_N] = {
    [R_RATE] = {"samples/s", 0},
    [R_CPU] = {"CPU per sample, push", 0.5},
    [R_CPU_ALL] = {"CPU per sample, push+idle+stop", 0.5},
    [R_DISK] = {"disk, whole data dir", 0.7},
    [R_RSS] = {"peak RSS", 0},
};

struct ratios {
    double v[R_N];
};

static int compare(const struct result *rt,
                   const struct result *rp,
                   const char *prom_name,
                   struct ratios *q)
{
    if (!rt->ok || !rp->ok || !rt->ok_samples || !rp->ok_samples)
        return 0;
    double nt = (double)(rt->ok_samples + rt->failed_samples),
           np = (double)(rp->ok_samples + rp->failed_samples);
    q->v[R_RATE] = ((double)rt->ok_samples / rt->wall_s) /
                   ((double)rp->ok_samples / rp->wall_s);
    q->v[R_CPU] = (rt->cpu_ingest_s / nt) / (rp->cpu_ingest_s / np);
    q->v[R_CPU_ALL] = (rt->cpu_total_s / nt) / (rp->cpu_total_s / np);
    q->v[R_DISK] = ((double)rt->disk_alloc / (double)rt->ok_samples) /
                   ((double)rp->disk_alloc / (double)rp->ok_samples);
    q->v[R_RSS] = (double)rt->hwm_kib / (double)rp->hwm_kib;
    printf("triad / %s:\n", prom_name);
    for (int k = 0; k < R_N; k++) {
        double v = q->v[k], t = ratio_def[k].target;
        printf("  %-30s %.2fx", ratio_def[k].name, v);
        if (k == R_DISK)
            printf(
                "  (bytes per sample; %.1f vs %.1f MiB; target <= %.1fx: "
                "%s)",
                mib(rt->disk_alloc), mib(rp->disk_alloc), t,
                v <= t ? "met" : "NOT met");
        else if (t > 0)
            printf("  (target <= %.1fx: %s)", t, v <= t ? "met" : "NOT met");
        printf("\n");
    }
    fflush(stdout);
    return 1;
}

static double median(double *v, long n)
{
    qsort(v, (size_t)n, sizeof(*v), dbl_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The median of every ratio over the pairs, with its range. */
static void print_medians(const struct ratios *rs, long n, const char *pn)
{
    printf("triad / %s, median of %ld pairs (min - max):\n", pn, n);
    for (int k = 0; k < R_N; k++) {
        double v[20], t = ratio_def[k].target;
        for (long i = 0; i < n; i++)
            v[i] = rs[i].v[k];
        double m = median(v, n);
        printf("  %-30s %.2fx  (%.2f - %.2f)", ratio_def[k].name, m, v[0],
               v[n - 1]);
        if (t > 0)
            printf("  target <= %.1fx: %s", t, m <= t ? "met" : "NOT met");
        printf("\n");
    }
}

static void usage(void)
{
    fprintf(
        stderr,
        "usage: ingest_metrics [--series N] [--rounds N] [--batch N] [--conns "
        "N]\n"
        "         [--idle S] [--only triad|prometheus] [--triad PATH]\n"
        "         [--prometheus PATH] [--pairs N] [--keep]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    bench_prog = "ingest_metrics";
    cfg.series = env_long("BENCH_SERIES", cfg.series);
    cfg.rounds = env_long("BENCH_ROUNDS", cfg.rounds);
    cfg.batch = env_long("BENCH_BATCH", cfg.batch);
    cfg.conns = env_long("BENCH_CONNS", cfg.conns);
    cfg.idle_s = env_long("BENCH_IDLE", cfg.idle_s);
    cfg.pairs = env_long("BENCH_PAIRS", cfg.pairs);
    if (getenv("BENCH_ONLY") && *getenv("BENCH_ONLY"))
        cfg.only = getenv("BENCH_ONLY");
    if (getenv("TRIAD_BIN"))
        cfg.triad_bin = getenv("TRIAD_BIN");
    if (getenv("PROMETHEUS_BIN"))
        cfg.prom_bin = getenv("PROMETHEUS_BIN");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep") == 0) {
            cfg.keep = 1;
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
        else if (strcmp(a, "--idle") == 0)
            cfg.idle_s = strtol(v, NULL, 10);
        else if (strcmp(a, "--only") == 0)
            cfg.only = v;
        else if (strcmp(a, "--triad") == 0)
            cfg.triad_bin = v;
        else if (strcmp(a, "--prometheus") == 0)
            cfg.prom_bin = v;
        else if (strcmp(a, "--pairs") == 0)
            cfg.pairs = strtol(v, NULL, 10);
        else
            usage();
        i++;
    }
    if (cfg.series < 1 || cfg.rounds < 1 || cfg.batch < 1 || cfg.conns < 1 ||
        cfg.conns > 64 || cfg.idle_s < 0 || cfg.idle_s > 3600 ||
        cfg.pairs < 1 || cfg.pairs > 20)
        usage();
    int do_triad = !cfg.only || strcmp(cfg.only, "triad") == 0;
    int do_prom = !cfg.only || strcmp(cfg.only, "prometheus") == 0;
    if (!do_triad && !do_prom)
        usage();
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    t0_ms = (now_ms - (int64_t)cfg.rounds * SCRAPE_MS) / SCRAPE_MS * SCRAPE_MS;
    char prom_name[96], prom_version[64];
    program_version(cfg.prom_bin, prom_version, sizeof prom_version);
    snprintf(prom_name, sizeof prom_name, "prometheus %s", prom_version);
    printf(
        "ingest benchmark: %ld series x %ld rounds (15 s) = %ld samples, %ld "
        "per request, "
        "%ld connections, data %.1f h ending now; then %ld s idle and a "
        "graceful stop\n",
        cfg.series, cfg.rounds, cfg.series * cfg.rounds, cfg.batch, cfg.conns,
        (double)cfg.rounds * SCRAPE_MS / 3.6e6, cfg.idle_s);
    if (do_prom)
        printf("baseline: %s (%s)\n", prom_name, cfg.prom_bin);
    fflush(stdout);

    int failed = 0;
    struct ratios *rs = calloc((size_t)cfg.pairs, sizeof(*rs));
    if (rs == NULL)
        die("out of memory");
    long nr = 0;
    for (long pair = 0; pair < cfg.pairs; pair++) {
        struct result rt = {0}, rp = {0};
        /* alternate the order, so that a drift in the machine's speed
         * (other virtual machines on the host) favours neither server */
        int prom_first = pair % 2 == 1;
        if (cfg.pairs > 1)
            printf("-- pair %ld of %ld (%s first)\n", pair + 1, cfg.pairs,
                   prom_first ? "prometheus" : "triad");
        for (int k = 0; k < 2; k++) {
            if ((k == 0) == prom_first) {
                if (do_prom && run_prometheus(&rp) == 0)
                    print_result(prom_name, &rp);
                else if (do_prom)
                    failed = 1;
            } else {
                if (do_triad && run_triad(&rt) == 0)
                    print_result("triad", &rt);
                else if (do_triad)
                    failed = 1;
            }
        }
        if (compare(&rt, &rp, prom_name, &rs[nr]))
            nr++;
        if (rt.failed_samples || rp.failed_samples)
            printf("WARNING: failed samples: triad %ld, prometheus %ld\n",
                   rt.failed_samples, rp.failed_samples);
    }
    if (nr > 1)
        print_medians(rs, nr, prom_name);
    free(rs);
    curl_global_cleanup();
    return failed;
}
