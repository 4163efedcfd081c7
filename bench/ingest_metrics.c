/* ingest_metrics.c - remote-write ingest benchmark: triad vs Prometheus 2.42.
 *
 * Generates one deterministic, realistic data set and sends the very same
 * requests to (1) build/triad and (2) Debian's Prometheus 2.42 started with
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
 * Measured per server: samples/s over the ingest phase; CPU seconds per
 * million samples (utime+stime of the server from /proc/PID/stat, delta over
 * the ingest phase); peak RSS (VmHWM); bytes on disk per sample after a
 * flush: triad = POST /api/v1/admin/flush then the apparent size of the whole
 * data dir; Prometheus = POST /api/v1/admin/tsdb/snapshot then the size of the
 * snapshot (one compacted block holding the same data). Any non-2xx response
 * counts its samples as failed and is printed (first few bodies).
 *
 * Usage: build/bench/ingest_metrics [--series N] [--rounds N] [--batch N]
 *          [--conns N] [--only triad|prometheus] [--triad PATH]
 *          [--prometheus PATH] [--keep]
 * Environment: BENCH_SERIES, BENCH_ROUNDS, BENCH_BATCH, BENCH_CONNS,
 * BENCH_ONLY, TRIAD_BIN, PROMETHEUS_BIN. Exit status: 0 when the runs
 * completed (targets are reported, not asserted), 1 otherwise.
 *
 * Self-contained on purpose (libcurl, libsnappy, libc): the protobuf is
 * written inline so the benchmark does not depend on triad's own encoder. */
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

struct cfg {
    long series;
    long rounds;
    long batch;
    long conns;
    const char *only;
    const char *triad_bin;
    const char *prom_bin;
    int keep;
};

static struct cfg cfg = {100000,
                         200,
                         2000,
                         6,
                         NULL,
                         "build/triad",
                         "build/prometheus/usr/bin/prometheus",
                         0};

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

/* GET or POST url; returns the HTTP status (0 on transport error), body in out.
 */
static long http_simple(const char *method, const char *url, struct sink *out)
{
    CURL *e = curl_easy_init();
    struct sink tmp;
    if (!out)
        out = &tmp;
    out->len = 0;
    out->buf[0] = 0;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    }
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 600L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    return status;
}

static long long du_total;
static int du_cb(const char *p,
                 const struct stat *sb,
                 int type,
                 struct FTW *ftw)
{
    (void)p;
    (void)ftw;
    if (type == FTW_F)
        du_total += (long long)sb->st_size;
    return 0;
}

/* apparent size (bytes of regular files) under dir */
static long long du_bytes(const char *dir)
{
    du_total = 0;
    if (nftw(dir, du_cb, 32, FTW_PHYS) != 0)
        return -1;
    return du_total;
}

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
    double wall_s, cpu_ingest_s, cpu_flush_s, flush_s;
    long hwm_kib;
    long long disk_bytes; /* the store: triad data/db, Prometheus' block */
    long long log_bytes;  /* the write-ahead log: triad's Raft log (not in
                             disk_bytes, as Prometheus' WAL is not) */
    long ok_samples, failed_samples, failed_requests;
    double server_count; /* samples the server says it ingested */
};

static void ingest(struct target *t, struct result *res, pid_t pid)
{
    struct worker *ws = calloc((size_t)cfg.conns, sizeof *ws);
    if (!ws)
        die("out of memory");
    double cpu0 = cpu_seconds(pid), w0 = mono_s();
    for (long i = 0; i < cfg.conns; i++) {
        ws[i].t = t;
        ws[i].id = i;
        if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0)
            die("pthread_create");
    }
    for (long i = 0; i < cfg.conns; i++)
        pthread_join(ws[i].th, NULL);
    res->wall_s = mono_s() - w0;
    res->cpu_ingest_s = cpu_seconds(pid) - cpu0;
    res->ok_samples = atomic_load(&t->ok_samples);
    res->failed_samples = atomic_load(&t->failed_samples);
    res->failed_requests = atomic_load(&t->failed_requests);
    free(ws);
}

static void print_result(const char *name, const struct result *r)
{
    long total = r->ok_samples + r->failed_samples;
    printf("%s:\n", name);
    printf("  samples sent          %ld ok, %ld failed (%ld failed requests)\n",
           r->ok_samples, r->failed_samples, r->failed_requests);
    if (r->server_count >= 0)
        printf("  server counted        %.0f samples\n", r->server_count);
    printf("  ingest wall time      %.2f s\n", r->wall_s);
    printf("  samples/s             %.0f\n", (double)r->ok_samples / r->wall_s);
    printf("  CPU s / 1M samples    %.3f  (%.2f CPU s over the ingest phase)\n",
           r->cpu_ingest_s / ((double)total / 1e6), r->cpu_ingest_s);
    printf("  flush/snapshot        %.2f s wall, %.2f CPU s\n", r->flush_s,
           r->cpu_flush_s);
    printf("  peak RSS (VmHWM)      %.1f MiB\n", (double)r->hwm_kib / 1024.0);
    printf("  bytes on disk         %lld  (%.3f bytes/sample)\n", r->disk_bytes,
           (double)r->disk_bytes / (double)(r->ok_samples ? r->ok_samples : 1));
    if (r->log_bytes > 0)
        printf(
            "  write-ahead log       %lld  (%.3f bytes/sample; Raft log, kept "
            "until the shard's next snapshot)\n",
            r->log_bytes,
            (double)r->log_bytes / (double)(r->ok_samples ? r->ok_samples : 1));
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
    static struct target t = {.name = "triad"};
    pthread_mutex_init(&t.mu, NULL);
    snprintf(t.url, sizeof t.url, "http://%s/api/v1/write", http);
    printf("triad: pid %d on %s, data %s\n", (int)pid, http, data);
    fflush(stdout);
    ingest(&t, res, pid);

    char url[160];
    snprintf(url, sizeof url, "http://%s/metrics", http);
    res->server_count = scrape_sum(url, "triad_samples_ingested_total");
    double c0 = cpu_seconds(pid), w0 = mono_s();
    snprintf(url, sizeof url, "http://%s/api/v1/admin/flush", http);
    struct sink sk;
    long st = http_simple("POST", url, &sk);
    res->flush_s = mono_s() - w0;
    res->cpu_flush_s = cpu_seconds(pid) - c0;
    if (st < 200 || st >= 300)
        fprintf(stderr, "  triad flush: HTTP %ld %s\n", st, sk.buf);
    res->hwm_kib = vm_status_kib(pid, "VmHWM:");
    char db[300], raftdir[300];
    snprintf(db, sizeof db, "%s/db", data);
    snprintf(raftdir, sizeof raftdir, "%s/raft", data);
    res->disk_bytes = du_bytes(db);
    res->log_bytes = du_bytes(raftdir);
    int est = stop_pid(pid);
    if (est != 0)
        fprintf(stderr, "  triad: exit status %d after SIGTERM (log %s)\n", est,
                log);
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
                    "--web.enable-admin-api",
                    "--log.level=warn",
                    NULL};
    pid_t pid = spawn(argv, log);
    if (wait_ready(pid, ready, 60) != 0) {
        fprintf(stderr, "prometheus did not become ready; log: %s\n", log);
        stop_pid(pid);
        return -1;
    }
    static struct target t = {.name = "prometheus"};
    pthread_mutex_init(&t.mu, NULL);
    snprintf(t.url, sizeof t.url, "http://%s/api/v1/write", addr);
    printf("prometheus: pid %d on %s, tsdb %s\n", (int)pid, addr, tsdb);
    fflush(stdout);
    ingest(&t, res, pid);

    char url[200];
    snprintf(url, sizeof url, "http://%s/metrics", addr);
    res->server_count =
        scrape_sum(url, "prometheus_tsdb_head_samples_appended_total");
    double c0 = cpu_seconds(pid), w0 = mono_s();
    snprintf(url, sizeof url, "http://%s/api/v1/admin/tsdb/snapshot", addr);
    struct sink sk;
    long st = http_simple("POST", url, &sk);
    res->flush_s = mono_s() - w0;
    res->cpu_flush_s = cpu_seconds(pid) - c0;
    res->hwm_kib = vm_status_kib(pid, "VmHWM:");
    /* {"status":"success","data":{"name":"20240101T000000Z-..."}} */
    char *nm = strstr(sk.buf, "\"name\":\"");
    if (st != 200 || !nm) {
        fprintf(stderr, "  prometheus snapshot failed: HTTP %ld %s\n", st,
                sk.buf);
        res->disk_bytes = du_bytes(tsdb);
    } else {
        nm += 8;
        char *q = strchr(nm, '"');
        if (q)
            *q = 0;
        char snap[512];
        snprintf(snap, sizeof snap, "%s/snapshots/%s", tsdb, nm);
        res->disk_bytes = du_bytes(snap);
    }
    stop_pid(pid);
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

static void usage(void)
{
    fprintf(
        stderr,
        "usage: ingest_metrics [--series N] [--rounds N] [--batch N] [--conns "
        "N]\n"
        "         [--only triad|prometheus] [--triad PATH] [--prometheus PATH] "
        "[--keep]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    bench_prog = "ingest_metrics";
    cfg.series = env_long("BENCH_SERIES", cfg.series);
    cfg.rounds = env_long("BENCH_ROUNDS", cfg.rounds);
    cfg.batch = env_long("BENCH_BATCH", cfg.batch);
    cfg.conns = env_long("BENCH_CONNS", cfg.conns);
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
        else if (strcmp(a, "--only") == 0)
            cfg.only = v;
        else if (strcmp(a, "--triad") == 0)
            cfg.triad_bin = v;
        else if (strcmp(a, "--prometheus") == 0)
            cfg.prom_bin = v;
        else
            usage();
        i++;
    }
    if (cfg.series < 1 || cfg.rounds < 1 || cfg.batch < 1 || cfg.conns < 1 ||
        cfg.conns > 64)
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
    printf(
        "ingest benchmark: %ld series x %ld rounds (15 s) = %ld samples, %ld "
        "per request, "
        "%ld connections, data %.1f h ending now\n",
        cfg.series, cfg.rounds, cfg.series * cfg.rounds, cfg.batch, cfg.conns,
        (double)cfg.rounds * SCRAPE_MS / 3.6e6);
    fflush(stdout);

    struct result rt = {0}, rp = {0};
    int failed = 0;
    if (do_triad) {
        if (run_triad(&rt) == 0)
            print_result("triad", &rt);
        else
            failed = 1;
    }
    if (do_prom) {
        if (run_prometheus(&rp) == 0)
            print_result("prometheus 2.42", &rp);
        else
            failed = 1;
    }
    if (rt.ok && rp.ok && rt.ok_samples && rp.ok_samples) {
        double cpu_t =
            rt.cpu_ingest_s / (double)(rt.ok_samples + rt.failed_samples);
        double cpu_p =
            rp.cpu_ingest_s / (double)(rp.ok_samples + rp.failed_samples);
        double bps_t = (double)rt.disk_bytes / (double)rt.ok_samples;
        double bps_p = (double)rp.disk_bytes / (double)rp.ok_samples;
        printf("triad / prometheus:\n");
        printf("  samples/s             %.2fx\n",
               ((double)rt.ok_samples / rt.wall_s) /
                   ((double)rp.ok_samples / rp.wall_s));
        printf("  CPU per sample        %.2fx  (target <= 0.5x: %s)\n",
               cpu_t / cpu_p, cpu_t / cpu_p <= 0.5 ? "met" : "NOT met");
        printf("  bytes per sample      %.2fx  (target <= 0.7x: %s)\n",
               bps_t / bps_p, bps_t / bps_p <= 0.7 ? "met" : "NOT met");
        printf("  peak RSS              %.2fx\n",
               (double)rt.hwm_kib / (double)rp.hwm_kib);
    }
    if (rt.failed_samples || rp.failed_samples)
        printf("WARNING: failed samples: triad %ld, prometheus %ld\n",
               rt.failed_samples, rp.failed_samples);
    curl_global_cleanup();
    return failed;
}
