/* seal.c - sealing benchmark: what a metrics window costs on disk before
 * and after sealing, beside Prometheus 3.5.3's blocks of the same data;
 * how long sealing a window takes; ingest latency while a seal job runs.
 *
 * Data set, either
 *   synthetic (default): the series of bench/lib/datagen.c (the ingest
 *     benchmark's realistic scrapes: counters, integer and float gauges,
 *     ratios, histogram buckets), --series N (5,000) x --rounds N (2,880:
 *     12 h at 15 s), starting 2026-01-05T00:30Z; or
 *   --openmetrics FILE: samples in OpenMetrics text with timestamps, e.g. a
 *     real scrape dumped by `promtool tsdb dump-openmetrics` (docs/
 *     benchmarks.md has the commands that recorded one).
 *
 * Part 1, bytes per sample:
 *   Prometheus: the data as OpenMetrics text (the input file itself, or
 *     written from the synthetic set) into `promtool tsdb create-blocks-from
 *     openmetrics` (Prometheus' own block writer and compaction: 2 h
 *     blocks, chunks, index); bytes = the sizes of the block files.
 *   triad: build/triad serve (release, one node) with --debug.fake-clock a
 *     minute after the last sample, the samples pushed by remote-write 1.0
 *     (series by series, 4 connections). Before: POST /api/v1/admin/flush
 *     (open chunks written, memtables flushed, every family compacted),
 *     then triad_storage_sst_bytes{cf="metrics"} (the metrics family's SST
 *     files: series, postings, chunks). Sealing: POST /debug/clock?advance=
 *     3d, then status polled every 50 ms until every metrics shard that
 *     existed is sealed and no job is left: the time to seal. After: flush
 *     again, the same figure; then a graceful stop and the whole data dir. The
 * count and the sum of every sample (PromQL count_over_time / sum_over_time per
 * metric name) must be the same before and after, the count equal to the
 * samples pushed. Part 2, ingest latency while sealing (synthetic set only;
 * skipped with
 *   --openmetrics): a fresh node whose clock stands 30 min into the next
 *   day; the set is pushed into the day before (inside the late-write
 *   grace). A load of --load-series (20,000) series, one sample each per
 *   round, 2,000 samples per request, 4 connections: first as fast as it
 *   goes for 10 s (the maximum), then paced at half of it for 15 s (the
 *   baseline latencies; status polled every 50 ms in both phases, as the
 *   sealing phase does), then paced the same while the clock moves 2 h on,
 *   which seals the day before: latencies of requests sent while its seal
 *   job runs. Printed: p50 / p99 / max of both, and the ratio of p99s
 *   (target <= 1.2).
 *
 * Targets (reported, not asserted): sealed bytes per sample <= 0.5x
 * Prometheus' blocks; ingest p99 while sealing <= 1.2x without.
 *
 * Usage: build/bench/seal [--series N] [--rounds N] [--openmetrics FILE]
 *          [--load-series N] [--no-load] [--triad PATH] [--promtool PATH]
 *          [--keep]
 * Environment: TRIAD_BIN, PROMTOOL_BIN. Exit status 0 when the run
 * completed, 1 when something failed (a server did not start, a push or a
 * query failed, the counts differ). */
#include "bench/lib/datagen.h"
#include "bench/lib/proc.h"
#include "bench/lib/sealing.h"

#include <curl/curl.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <snappy-c.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DAY_MS 86400000LL
#define DAY0_MS 1767571200000LL /* 2026-01-05T00:00:00Z */
#define CONNS 4
#define BATCH 5000      /* samples per request (part 1) */
#define LOAD_BATCH 2000 /* samples per request (part 2) */

static struct {
    long series, rounds, load_series;
    const char *om_file;
    const char *triad_bin, *promtool_bin;
    bool keep, no_load;
} cfg = {5000,  2880,          20000,
         NULL,  "build/triad", "build/tools/promtool-3.5/usr/bin/promtool",
         false, false};

/* ---- the data set ---------------------------------------------------------
 */

struct series {
    char *om;        /* OpenMetrics series text: name{a="b",...} */
    struct bytes pb; /* remote-write Label fields, sorted by name */
    int64_t *t;
    double *v;
    size_t n, cap;
};

static struct series *set;
static size_t n_set, cap_set;
static long long n_samples;
static int64_t set_maxt = INT64_MIN;

static struct series *set_add(void)
{
    if (n_set == cap_set) {
        cap_set = cap_set ? cap_set * 2 : 1024;
        set = realloc(set, cap_set * sizeof(*set));
        if (!set)
            die("out of memory");
    }
    memset(&set[n_set], 0, sizeof(*set));
    return &set[n_set++];
}

static void series_push(struct series *s, int64_t t, double v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->t = realloc(s->t, s->cap * sizeof(*s->t));
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        if (!s->t || !s->v)
            die("out of memory");
    }
    s->t[s->n] = t;
    s->v[s->n++] = v;
    n_samples++;
    if (t > set_maxt)
        set_maxt = t;
}

struct label {
    char n[256], v[1024];
};

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const struct label *)a)->n, ((const struct label *)b)->n);
}

/* Sets s->om and s->pb from labels (sorted here). */
static void series_labels(struct series *s, struct label *ls, int nl)
{
    qsort(ls, (size_t)nl, sizeof(*ls), label_cmp);
    struct bytes om = {0};
    const char *name = "";
    for (int i = 0; i < nl; i++)
        if (strcmp(ls[i].n, "__name__") == 0)
            name = ls[i].v;
    b_put(&om, name, strlen(name));
    int first = 1;
    for (int i = 0; i < nl; i++) {
        if (strcmp(ls[i].n, "__name__") == 0)
            continue;
        b_put(&om, first ? "{" : ",", 1);
        first = 0;
        b_put(&om, ls[i].n, strlen(ls[i].n));
        b_put(&om, "=\"", 2);
        for (const char *p = ls[i].v; *p; p++) {
            if (*p == '"' || *p == '\\')
                b_put(&om, "\\", 1);
            if (*p == '\n') {
                b_put(&om, "\\n", 2);
                continue;
            }
            b_put(&om, p, 1);
        }
        b_put(&om, "\"", 1);
    }
    if (!first)
        b_put(&om, "}", 1);
    b_put(&om, "", 1);
    s->om = om.p;
    for (int i = 0; i < nl; i++) {
        size_t ln = strlen(ls[i].n), lv = strlen(ls[i].v);
        size_t body = 1 + uvarint_len(ln) + ln + 1 + uvarint_len(lv) + lv;
        b_uvarint(&s->pb, 1 << 3 | 2);
        b_uvarint(&s->pb, body);
        b_field_str(&s->pb, 1, ls[i].n);
        b_field_str(&s->pb, 2, ls[i].v);
    }
}

/* Reads one length-delimited field of a protobuf. */
static const uint8_t *pb_field(const uint8_t *p,
                               const uint8_t *end,
                               unsigned *field,
                               const uint8_t **val,
                               size_t *len)
{
    uint64_t key = 0, l = 0;
    int sh = 0;
    while (p < end && (*p & 0x80))
        key |= (uint64_t)(*p++ & 0x7f) << sh, sh += 7;
    if (p >= end)
        return NULL;
    key |= (uint64_t)*p++ << sh;
    sh = 0;
    while (p < end && (*p & 0x80))
        l |= (uint64_t)(*p++ & 0x7f) << sh, sh += 7;
    if (p >= end)
        return NULL;
    l |= (uint64_t)*p++ << sh;
    *field = (unsigned)(key >> 3);
    *val = p;
    *len = (size_t)l;
    return p + l <= end ? p + l : NULL;
}

static void synthetic_set(void)
{
    t0_ms = DAY0_MS + 30 * 60 * 1000;
    struct label ls[16];
    for (long s = 0; s < cfg.series; s++) {
        struct bytes pb = {0};
        encode_labels(s, &pb);
        int nl = 0;
        const uint8_t *p = (const uint8_t *)pb.p, *end = p + pb.len;
        while (p && p < end && nl < 16) {
            unsigned f, f2;
            const uint8_t *v, *v2;
            size_t l, l2;
            p = pb_field(p, end, &f, &v, &l);
            if (!p)
                break;
            const uint8_t *q = v, *qe = v + l;
            while (q && q < qe) {
                q = pb_field(q, qe, &f2, &v2, &l2);
                if (!q)
                    break;
                char *dst = f2 == 1 ? ls[nl].n : ls[nl].v;
                size_t cap = f2 == 1 ? sizeof(ls[nl].n) : sizeof(ls[nl].v);
                snprintf(dst, cap, "%.*s", (int)l2, (const char *)v2);
            }
            nl++;
        }
        free(pb.p);
        struct series *se = set_add();
        series_labels(se, ls, nl);
        double v = initial_value(s);
        for (long r = 0; r < cfg.rounds; r++) {
            v = next_value(s, r, v);
            series_push(se, ts_of(s, r), v);
        }
    }
}

/* Parses an OpenMetrics label value (after the opening quote) into out;
 * returns the position after the closing quote, or NULL. */
static const char *om_value(const char *p, char *out, size_t cap)
{
    size_t n = 0;
    for (; *p && *p != '"'; p++) {
        char c = *p;
        if (c == '\\' && p[1]) {
            p++;
            c = *p == 'n' ? '\n' : *p;
        }
        if (n + 1 < cap)
            out[n++] = c;
    }
    out[n] = 0;
    return *p == '"' ? p + 1 : NULL;
}

static void om_set(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot open %s", path);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    struct label ls[64];
    char last[4096] = "";
    struct series *cur = NULL;
    while ((got = getline(&line, &lcap, f)) > 0) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        int nl = 0;
        const char *p = line;
        size_t k = strcspn(p, "{ ");
        snprintf(ls[nl].n, sizeof(ls[nl].n), "__name__");
        snprintf(ls[nl].v, sizeof(ls[nl].v), "%.*s", (int)k, p);
        nl++;
        p += k;
        const char *series_end;
        if (*p == '{') {
            p++;
            while (*p && *p != '}' && nl < 64) {
                size_t nk = strcspn(p, "=");
                snprintf(ls[nl].n, sizeof(ls[nl].n), "%.*s", (int)nk, p);
                p += nk;
                if (p[0] != '=' || p[1] != '"')
                    die("%s: bad label in: %s", path, line);
                p = om_value(p + 2, ls[nl].v, sizeof(ls[nl].v));
                if (!p)
                    die("%s: bad label value in: %s", path, line);
                nl++;
                if (*p == ',')
                    p++;
            }
            if (*p != '}')
                die("%s: bad series in: %s", path, line);
            p++;
        }
        series_end = p;
        double v;
        double ts;
        char vs[64];
        if (sscanf(p, " %63s %lf", vs, &ts) != 2)
            die("%s: no value and timestamp in: %s", path, line);
        v = strcmp(vs, "NaN") == 0    ? NAN
            : strcmp(vs, "+Inf") == 0 ? INFINITY
            : strcmp(vs, "-Inf") == 0 ? -INFINITY
                                      : strtod(vs, NULL);
        size_t sl = (size_t)(series_end - line);
        if (!cur || sl >= sizeof(last) || strncmp(last, line, sl) != 0 ||
            last[sl] != 0) {
            snprintf(last, sizeof(last), "%.*s", (int)sl, line);
            cur = set_add();
            series_labels(cur, ls, nl);
        }
        int64_t t = (int64_t)llround(ts * 1000.0);
        if (cur->n > 0 && t <= cur->t[cur->n - 1])
            continue; /* the same series again out of order: not pushed */
        series_push(cur, t, v);
    }
    free(line);
    fclose(f);
    if (n_set == 0)
        die("%s: no samples", path);
}

/* Writes the set as OpenMetrics text (families contiguous: the set is in
 * name order for both sources). */
static void om_write(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        die("cannot write %s", path);
    for (size_t i = 0; i < n_set; i++) {
        for (size_t k = 0; k < set[i].n; k++) {
            int64_t t = set[i].t[k];
            fprintf(f, "%s %.17g %lld.%03lld\n", set[i].om, set[i].v[k],
                    (long long)(t / 1000), (long long)(t % 1000));
        }
    }
    fprintf(f, "# EOF\n");
    if (fclose(f) != 0)
        die("cannot write %s", path);
}

/* ---- HTTP -----------------------------------------------------------------
 */

static long http(const char *method,
                 const char *url,
                 const void *body,
                 size_t len,
                 struct body *out)
{
    CURL *e = curl_easy_init();
    struct body sink = {0};
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out ? out : &sink);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 600L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    free(sink.p);
    return status;
}

struct node {
    pid_t pid;
    int port;
    char base[64];
    char dir[256];
    char log[300];
};

static pid_t running = -1; /* the triad started last, stopped at exit */

static void stop_running(void)
{
    if (running > 0)
        stop_pid(running);
    running = -1;
}

static void node_start(struct node *nd,
                       const char *tmp,
                       const char *name,
                       int64_t clock_ms)
{
    nd->port = free_port();
    snprintf(nd->base, sizeof(nd->base), "http://127.0.0.1:%d", nd->port);
    snprintf(nd->dir, sizeof(nd->dir), "%s/%s", tmp, name);
    snprintf(nd->log, sizeof(nd->log), "%s/%s.log", tmp, name);
    char http_addr[64], cl_addr[64], clock[40];
    snprintf(http_addr, sizeof(http_addr), "127.0.0.1:%d", nd->port);
    snprintf(cl_addr, sizeof(cl_addr), "127.0.0.1:%d", free_port());
    rfc3339(clock_ms, clock, sizeof(clock));
    char *argv[] = {(char *)cfg.triad_bin,
                    "serve",
                    "--http-addr",
                    http_addr,
                    "--tempo-http-addr",
                    "",
                    "--otlp-grpc-addr",
                    "",
                    "--otlp-http-addr",
                    "",
                    "--cluster-addr",
                    cl_addr,
                    "--data-dir",
                    nd->dir,
                    "--debug.fake-clock",
                    clock,
                    "--limits.ingestion-rate",
                    "0",
                    "--limits.max-series",
                    "0",
                    "--late-write-grace.metrics",
                    "2h",
                    "--log-level",
                    "warn",
                    NULL};
    nd->pid = spawn(argv, nd->log);
    running = nd->pid;
    char url[128];
    snprintf(url, sizeof(url), "%s/ready", nd->base);
    if (wait_ready(nd->pid, url, 60) != 0)
        die("triad did not start (log: %s)", nd->log);
}

/* Value of the first line of GET /metrics starting with prefix; -1. */
static double node_metric(const struct node *nd, const char *prefix)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/metrics", nd->base);
    struct body b = {0};
    double v = -1;
    if (http("GET", url, NULL, 0, &b) == 200 && b.p) {
        size_t pl = strlen(prefix);
        for (char *l = b.p; l && *l;
             l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            if (strncmp(l, prefix, pl) == 0 && l[pl] == ' ') {
                v = strtod(l + pl + 1, NULL);
                break;
            }
        }
    }
    free(b.p);
    return v;
}

static void node_flush(const struct node *nd)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/api/v1/admin/flush", nd->base);
    long st = http("POST", url, "", 0, NULL);
    if (st / 100 != 2)
        die("flush: HTTP %ld", st);
}

static double sst_metrics(const struct node *nd)
{
    return node_metric(nd, "triad_storage_sst_bytes{cf=\"metrics\"}");
}

/* PromQL instant query; the first result's value, or NAN. */
static double node_query(const struct node *nd, const char *q, int64_t t_ms)
{
    char *esc = curl_easy_escape(NULL, q, 0);
    char url[1024];
    snprintf(url, sizeof(url), "%s/api/v1/query?query=%s&time=%.3f", nd->base,
             esc, (double)t_ms / 1000.0);
    curl_free(esc);
    struct body b = {0};
    double v = NAN;
    if (http("GET", url, NULL, 0, &b) == 200 && b.p) {
        char *p = strstr(b.p, "\"value\":[");
        if (p && (p = strchr(p, '"')) && (p = strchr(p + 1, '"')) &&
            (p = strchr(p + 1, '"')))
            v = strtod(p + 1, NULL);
    }
    free(b.p);
    return v;
}

/* ---- pushing --------------------------------------------------------------
 */

struct pusher {
    pthread_t th;
    const char *url;
    long id;
    atomic_long *failed;
};

static CURL *rw_handle(const char *url, struct curl_slist **hdr)
{
    CURL *e = curl_easy_init();
    *hdr = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
    *hdr = curl_slist_append(*hdr, "Content-Encoding: snappy");
    *hdr = curl_slist_append(*hdr, "X-Prometheus-Remote-Write-Version: 0.1.0");
    *hdr = curl_slist_append(*hdr, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, *hdr);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    return e;
}

/* Sends pb (snappy-compressed into z); the HTTP status (0: no answer). */
static long rw_send(CURL *e, struct bytes *pb, struct bytes *z)
{
    size_t zl = snappy_max_compressed_length(pb->len);
    z->len = 0;
    b_reserve(z, zl);
    if (snappy_compress(pb->p, pb->len, z->p, &zl) != SNAPPY_OK)
        die("snappy_compress failed");
    struct body b = {0};
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, z->p);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)zl);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (status / 100 != 2)
        fprintf(stderr, "  push: HTTP %ld: %.300s\n", status, b.p ? b.p : "");
    free(b.p);
    return status;
}

/* Appends TimeSeries(labels, samples t[0..n), v[0..n)) to pb. */
static void rw_series(struct bytes *pb,
                      const struct bytes *labels,
                      const int64_t *t,
                      const double *v,
                      size_t n)
{
    size_t len = labels->len;
    for (size_t i = 0; i < n; i++) {
        size_t sample = 1 + 8 + 1 + uvarint_len((uint64_t)t[i]);
        len += 1 + uvarint_len(sample) + sample;
    }
    b_uvarint(pb, 1 << 3 | 2);
    b_uvarint(pb, len);
    b_put(pb, labels->p, labels->len);
    for (size_t i = 0; i < n; i++) {
        size_t sample = 1 + 8 + 1 + uvarint_len((uint64_t)t[i]);
        b_uvarint(pb, 2 << 3 | 2);
        b_uvarint(pb, sample);
        uint8_t d[9];
        d[0] = 1 << 3 | 1;
        memcpy(d + 1, &v[i], 8);
        b_put(pb, d, 9);
        b_uvarint(pb, 2 << 3 | 0);
        b_uvarint(pb, (uint64_t)t[i]);
    }
}

static void *push_main(void *arg)
{
    struct pusher *p = arg;
    struct curl_slist *hdr;
    CURL *e = rw_handle(p->url, &hdr);
    struct bytes pb = {0}, z = {0};
    size_t in = 0;
    for (size_t i = (size_t)p->id; i < n_set; i += CONNS) {
        for (size_t k = 0; k < set[i].n; k += 1000) {
            size_t n = set[i].n - k < 1000 ? set[i].n - k : 1000;
            rw_series(&pb, &set[i].pb, set[i].t + k, set[i].v + k, n);
            in += n;
            if (in >= BATCH) {
                if (rw_send(e, &pb, &z) / 100 != 2)
                    atomic_fetch_add(p->failed, 1);
                pb.len = 0;
                in = 0;
            }
        }
    }
    if (in > 0 && rw_send(e, &pb, &z) / 100 != 2)
        atomic_fetch_add(p->failed, 1);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(e);
    free(pb.p);
    free(z.p);
    return NULL;
}

/* Pushes the whole set; the seconds it took. */
static double push_set(const struct node *nd)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/api/v1/write", nd->base);
    struct pusher ps[CONNS];
    atomic_long failed = 0;
    double t0 = mono_s();
    for (long i = 0; i < CONNS; i++) {
        ps[i] = (struct pusher){.url = url, .id = i, .failed = &failed};
        pthread_create(&ps[i].th, NULL, push_main, &ps[i]);
    }
    for (int i = 0; i < CONNS; i++)
        pthread_join(ps[i].th, NULL);
    if (atomic_load(&failed) > 0)
        die("%ld pushes failed (log: %s)", atomic_load(&failed), nd->log);
    return mono_s() - t0;
}

/* ---- part 1 ---------------------------------------------------------------
 */

static int count_dirs(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        n += de->d_name[0] != '.' && de->d_type == DT_DIR &&
             strcmp(de->d_name, "wal") != 0 &&
             strcmp(de->d_name, "chunks_head") != 0;
    if (d)
        closedir(d);
    return n;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The number and the sum of every sample, by PromQL per metric name
 * (count_over_time drops names, so names are asked one by one). */
static void answers(const struct node *nd, double *count, double *sum)
{
    int64_t span_h = 2;
    for (size_t i = 0; i < n_set; i++)
        if (set[i].n && (set_maxt - set[i].t[0]) / 3600000 + 2 > span_h)
            span_h = (set_maxt - set[i].t[0]) / 3600000 + 2;
    *count = *sum = 0;
    /* each name once (a dump holds a series once per block) */
    char **names = calloc(n_set, sizeof(*names));
    size_t nn = 0;
    for (size_t i = 0; names && i < n_set; i++)
        names[nn++] = strndup(set[i].om, strcspn(set[i].om, "{"));
    if (!names)
        die("out of memory");
    qsort(names, nn, sizeof(*names), str_cmp);
    char last[512] = "";
    for (size_t i = 0; i < nn; i++) {
        if (strlen(names[i]) >= sizeof(last) || strcmp(last, names[i]) == 0)
            continue;
        snprintf(last, sizeof(last), "%s", names[i]);
        char q[700];
        snprintf(q, sizeof(q), "sum(count_over_time({__name__=\"%s\"}[%lldh]))",
                 last, (long long)span_h);
        double c = node_query(nd, q, set_maxt);
        snprintf(q, sizeof(q), "sum(sum_over_time({__name__=\"%s\"}[%lldh]))",
                 last, (long long)span_h);
        double v = node_query(nd, q, set_maxt);
        if (isnan(c))
            die("query failed: %s", q);
        *count += c;
        *sum += v;
    }
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
}

static void part_bytes(const char *tmp)
{
    char om[300], blocks[300], plog[300];
    snprintf(blocks, sizeof(blocks), "%s/prom-blocks", tmp);
    snprintf(plog, sizeof(plog), "%s/promtool.log", tmp);
    if (cfg.om_file) {
        snprintf(om, sizeof(om), "%s", cfg.om_file);
    } else {
        snprintf(om, sizeof(om), "%s/data.om", tmp);
        om_write(om);
    }
    printf("data set: %zu series, %lld samples (%s)\n", n_set, n_samples,
           cfg.om_file ? cfg.om_file : "synthetic");
    /* Prometheus */
    double t0 = mono_s();
    char *pargv[] = {(char *)cfg.promtool_bin,
                     "tsdb",
                     "create-blocks-from",
                     "openmetrics",
                     om,
                     blocks,
                     "-q",
                     NULL};
    pid_t pp = spawn(pargv, plog);
    int st = 0;
    waitpid(pp, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        die("promtool failed (log: %s)", plog);
    double prom_s = mono_s() - t0;
    long long palloc = 0, papp = 0;
    disk_usage(blocks, &palloc, &papp);
    double prom_bps = (double)papp / (double)n_samples;
    printf(
        "Prometheus 3.5.3 blocks (promtool tsdb create-blocks-from "
        "openmetrics, %.1f s): %d blocks, %.1f MiB = %.3f bytes/sample "
        "(allocated %.1f MiB)\n",
        prom_s, count_dirs(blocks), mib(papp), prom_bps, mib(palloc));

    /* triad */
    struct node nd;
    node_start(&nd, tmp, "triad", set_maxt + 60000);
    double push_s = push_set(&nd);
    node_flush(&nd);
    double before = sst_metrics(&nd);
    double cnt_q = 0, sum_q = 0;
    answers(&nd, &cnt_q, &sum_q);
    printf("triad: pushed in %.1f s (%.0f samples/s); %.0f samples counted\n",
           push_s, (double)n_samples / push_s, cnt_q);
    if (cnt_q != (double)n_samples)
        die("triad counts %.0f samples, %lld were pushed", cnt_q, n_samples);
    int64_t next_window = (set_maxt / DAY_MS + 1) * DAY_MS + DAY_MS;
    double t1 = mono_s();
    clock_advance(nd.base, "3d");
    double seal_s = wait_sealed(nd.base, "metrics", next_window, t1);
    double retire_s = wait_retired(nd.base, "metrics", next_window, t1);
    node_flush(&nd);
    double after = sst_metrics(&nd);
    double cnt_after = 0, sum_after = 0;
    answers(&nd, &cnt_after, &sum_after);
    if (cnt_after != cnt_q)
        die("after sealing triad counts %.0f samples, before %.0f", cnt_after,
            cnt_q);
    if (memcmp(&sum_after, &sum_q, sizeof(double)) != 0)
        die("after sealing the sum of all samples is %.17g, before %.17g",
            sum_after, sum_q);
    double w = node_metric(&nd, "triad_compaction_written_bytes_total");
    double rd = node_metric(&nd, "triad_compaction_read_bytes_total");
    stop_running();
    long long talloc = 0, tapp = 0;
    disk_usage(nd.dir, &talloc, &tapp);
    printf(
        "triad before sealing: metrics family %.1f MiB = %.3f "
        "bytes/sample (%.2fx Prometheus)\n",
        before / 1048576.0, before / (double)n_samples,
        before / (double)n_samples / prom_bps);
    printf(
        "triad after sealing:  metrics family %.1f MiB = %.3f "
        "bytes/sample (%.2fx Prometheus; target <= 0.5x)\n",
        after / 1048576.0, after / (double)n_samples,
        after / (double)n_samples / prom_bps);
    printf(
        "time to seal the window: %.2f s (%.1fM samples/s; the seal job "
        "read %.1f MiB, wrote %.1f MiB); its Raft groups closed and logs "
        "removed %.2f s after the clock move; whole data dir after the "
        "stop %.1f MiB\n",
        seal_s, (double)n_samples / seal_s / 1e6, rd / 1048576.0, w / 1048576.0,
        retire_s, mib(talloc));
    printf("same answers before and after sealing: %.0f samples, sum %.17g\n",
           cnt_after, sum_after);
}

/* ---- part 2 ---------------------------------------------------------------
 */

struct loader {
    pthread_t th;
    const char *url;
    long id;
    double rate;          /* samples/s of this thread; 0: full speed */
    _Atomic double until; /* mono_s end */
    int64_t ts0;          /* timestamp of round 0 */
    long round0;          /* first round */
    long rounds;          /* rounds done (out) */
    long samples;         /* acknowledged (out) */
    long failed;          /* (out) */
    double *lat_t0;       /* start time of each request (out) */
    double *lat;          /* seconds (out) */
    size_t n_lat, cap_lat;
};

static void *load_main(void *arg)
{
    struct loader *l = arg;
    struct curl_slist *hdr;
    CURL *e = rw_handle(l->url, &hdr);
    struct bytes pb = {0}, z = {0};
    long own = cfg.load_series / CONNS;
    struct series *lab = calloc((size_t)own, sizeof(*lab));
    if (!lab)
        die("out of memory");
    for (long i = 0; i < own; i++) {
        struct label ls[3];
        snprintf(ls[0].n, sizeof(ls[0].n), "__name__");
        snprintf(ls[0].v, sizeof(ls[0].v), "bench_load_total");
        snprintf(ls[1].n, sizeof(ls[1].n), "i");
        snprintf(ls[1].v, sizeof(ls[1].v), "%ld", l->id * own + i);
        snprintf(ls[2].n, sizeof(ls[2].n), "job");
        snprintf(ls[2].v, sizeof(ls[2].v), "load");
        series_labels(&lab[i], ls, 3);
    }
    double t0 = mono_s(), sent = 0;
    long r = l->round0;
    while (mono_s() < atomic_load(&l->until)) {
        for (long i = 0; i < own && mono_s() < atomic_load(&l->until);) {
            pb.len = 0;
            long in = 0;
            for (; i < own && in < LOAD_BATCH; i++, in++) {
                int64_t t = l->ts0 + r * 100;
                double v = (double)r;
                rw_series(&pb, &lab[i].pb, &t, &v, 1);
            }
            if (l->rate > 0) {
                double due = t0 + sent / l->rate;
                double now = mono_s();
                if (due > now) {
                    struct timespec ts = {(time_t)(due - now),
                                          (long)(fmod(due - now, 1.0) * 1e9)};
                    nanosleep(&ts, NULL);
                }
            }
            double s0 = mono_s();
            long st = rw_send(e, &pb, &z);
            double d = mono_s() - s0;
            sent += (double)in;
            if (st / 100 == 2)
                l->samples += in;
            else
                l->failed++;
            if (l->n_lat == l->cap_lat) {
                l->cap_lat = l->cap_lat ? l->cap_lat * 2 : 4096;
                l->lat = realloc(l->lat, l->cap_lat * sizeof(double));
                l->lat_t0 = realloc(l->lat_t0, l->cap_lat * sizeof(double));
                if (!l->lat || !l->lat_t0)
                    die("out of memory");
            }
            l->lat_t0[l->n_lat] = s0;
            l->lat[l->n_lat++] = d;
        }
        r++;
    }
    l->rounds = r - l->round0;
    curl_slist_free_all(hdr);
    curl_easy_cleanup(e);
    free(pb.p);
    free(z.p);
    for (long i = 0; i < own; i++) {
        free(lab[i].om);
        free(lab[i].pb.p);
    }
    free(lab);
    return NULL;
}

struct lat_stats {
    double p50, p99, max, rate;
    size_t n;
    long failed;
};

/* Runs the load for secs at rate (0: full speed); latencies of requests
 * started in [from, to) (mono_s; to 0: all). Rounds continue from *round. */
static void load_run(const struct node *nd,
                     double secs,
                     double rate,
                     int64_t ts0,
                     long *round,
                     double (*during)(const struct node *, void *),
                     void *during_arg,
                     struct lat_stats *out,
                     double *window)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/api/v1/write", nd->base);
    struct loader ls[CONNS];
    double start = mono_s();
    for (long i = 0; i < CONNS; i++) {
        ls[i] = (struct loader){.url = url,
                                .id = i,
                                .rate = rate / CONNS,
                                .ts0 = ts0,
                                .round0 = *round};
        atomic_init(&ls[i].until, during ? start + 3600 : start + secs);
        pthread_create(&ls[i].th, NULL, load_main, &ls[i]);
    }
    double from = start, to = 0;
    if (!during) {
        /* the status requests the sealing phase makes, here too, so that
         * both phases carry the same extra load */
        while (mono_s() < start + secs) {
            int total, sealed, jobs;
            shards_sealed(nd->base, "metrics", 0, &total, &sealed, &jobs);
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (during) {
        double t = during(nd, during_arg); /* returns when the event ended */
        from = window[0] = t;
        to = window[1] = mono_s();
        for (int i = 0; i < CONNS; i++)
            atomic_store(&ls[i].until,
                         to + 0.5 < start + secs ? start + secs : to + 0.5);
    }
    long samples = 0, rounds = 0;
    size_t n = 0;
    double *all = NULL;
    out->failed = 0;
    for (int i = 0; i < CONNS; i++) {
        pthread_join(ls[i].th, NULL);
        samples += ls[i].samples;
        out->failed += ls[i].failed;
        rounds = ls[i].rounds > rounds ? ls[i].rounds : rounds;
        all = realloc(all, (n + ls[i].n_lat + 1) * sizeof(double));
        for (size_t k = 0; k < ls[i].n_lat; k++)
            if (ls[i].lat_t0[k] >= from && (to == 0 || ls[i].lat_t0[k] < to))
                all[n++] = ls[i].lat[k];
        free(ls[i].lat);
        free(ls[i].lat_t0);
    }
    *round += rounds + 1;
    qsort(all, n, sizeof(double), dbl_cmp);
    out->n = n;
    out->p50 = n ? all[n / 2] : 0;
    out->p99 = n ? all[(size_t)((double)(n - 1) * 0.99)] : 0;
    out->max = n ? all[n - 1] : 0;
    out->rate = (double)samples / (mono_s() - start);
    free(all);
}

/* During the load: moves the clock 2 h on and waits until the day before is
 * sealed; returns the mono time sealing started (its job is measured from
 * the advance to the last shard sealed). */
static double seal_during(const struct node *nd, void *arg)
{
    double *seal_s = arg;
    struct timespec ts = {2, 0};
    nanosleep(&ts, NULL);
    double t0 = mono_s();
    clock_advance(nd->base, "2h");
    *seal_s = wait_sealed(nd->base, "metrics", DAY0_MS + DAY_MS, t0);
    return t0;
}

static void part_load(const char *tmp)
{
    struct node nd;
    int64_t now = DAY0_MS + DAY_MS + 30 * 60 * 1000; /* next day, 00:30 */
    node_start(&nd, tmp, "triad-load", now);
    double push_s = push_set(&nd);
    node_flush(&nd);
    printf(
        "\ningest latency while sealing: %lld samples of the day before "
        "pushed in %.1f s; load of %ld series, %d samples per request, %d "
        "connections\n",
        n_samples, push_s, cfg.load_series, LOAD_BATCH, CONNS);
    long round = 0;
    int64_t ts0 = now - 20 * 60 * 1000;
    struct lat_stats mx, base, seal;
    load_run(&nd, 10, 0, ts0, &round, NULL, NULL, &mx, NULL);
    double rate = mx.rate / 2;
    load_run(&nd, 15, rate, ts0, &round, NULL, NULL, &base, NULL);
    double seal_s = 0, window[2] = {0, 0};
    load_run(&nd, 15, rate, ts0, &round, seal_during, &seal_s, &seal, window);
    printf("  maximum:           %.0f samples/s (%zu requests, p99 %.1f ms)\n",
           mx.rate, mx.n, mx.p99 * 1e3);
    printf(
        "  at 50%% (%.0f/s):   p50 %.1f ms, p99 %.1f ms, max %.1f ms "
        "(%zu requests, %ld failed)\n",
        rate, base.p50 * 1e3, base.p99 * 1e3, base.max * 1e3, base.n,
        base.failed);
    printf(
        "  while sealing:     p50 %.1f ms, p99 %.1f ms, max %.1f ms (%zu "
        "requests in the %.1f s from the clock move to the last shard "
        "sealed, %ld failed)\n",
        seal.p50 * 1e3, seal.p99 * 1e3, seal.max * 1e3, seal.n, seal_s,
        seal.failed);
    printf("  p99 while sealing / without: %.2fx (target <= 1.2x)\n",
           base.p99 > 0 ? seal.p99 / base.p99 : 0);
    stop_running();
}

static void usage(void)
{
    fprintf(stderr,
            "usage: seal [--series N] [--rounds N] [--openmetrics FILE] "
            "[--load-series N] [--no-load] [--triad PATH] [--promtool PATH] "
            "[--keep]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    bench_prog = "seal";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (getenv("TRIAD_BIN"))
        cfg.triad_bin = getenv("TRIAD_BIN");
    if (getenv("PROMTOOL_BIN"))
        cfg.promtool_bin = getenv("PROMTOOL_BIN");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep") == 0) {
            cfg.keep = true;
            continue;
        }
        if (strcmp(a, "--no-load") == 0) {
            cfg.no_load = true;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (strcmp(a, "--series") == 0)
            cfg.series = atol(v);
        else if (strcmp(a, "--rounds") == 0)
            cfg.rounds = atol(v);
        else if (strcmp(a, "--openmetrics") == 0)
            cfg.om_file = v;
        else if (strcmp(a, "--load-series") == 0)
            cfg.load_series = atol(v);
        else if (strcmp(a, "--triad") == 0)
            cfg.triad_bin = v;
        else if (strcmp(a, "--promtool") == 0)
            cfg.promtool_bin = v;
        else
            usage();
    }
    if (cfg.series <= 0 || cfg.rounds <= 0 || cfg.load_series < CONNS)
        usage();
    curl_global_init(CURL_GLOBAL_ALL);
    atexit(stop_running);
    char tmp[] = "/tmp/bench-seal-XXXXXX";
    if (!mkdtemp(tmp))
        die("mkdtemp failed");
    if (cfg.om_file)
        om_set(cfg.om_file);
    else
        synthetic_set();
    part_bytes(tmp);
    if (!cfg.om_file && !cfg.no_load)
        part_load(tmp);
    if (cfg.keep)
        printf("kept %s\n", tmp);
    else
        rm_rf(tmp);
    return 0;
}
