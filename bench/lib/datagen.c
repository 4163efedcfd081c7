/* datagen.c - see datagen.h. */
#include "bench/lib/datagen.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *bench_prog = "bench";
int64_t t0_ms;

/* ---- small utilities --------------------------------------------------- */

double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t h2(uint64_t a, uint64_t b)
{
    return mix64(mix64(a) ^ (b * 0x632be59bd9b4e019ULL));
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(bench_prog, stderr);
    fputs(": ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void b_reserve(struct bytes *b, size_t n)
{
    if (b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        die("out of memory");
    b->p = p;
    b->cap = cap;
}

void b_put(struct bytes *b, const void *p, size_t n)
{
    b_reserve(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void b_uvarint(struct bytes *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    b_put(b, tmp, n);
}

size_t uvarint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* length-delimited field with a string payload */
void b_field_str(struct bytes *b, unsigned field, const char *s)
{
    size_t n = strlen(s);
    b_uvarint(b, (uint64_t)field << 3 | 2);
    b_uvarint(b, n);
    b_put(b, s, n);
}

/* ---- the data set ------------------------------------------------------ */

const char *const families[] = {
    "http_server",  "grpc_server", "db_client", "cache",      "queue",
    "node_network", "node_disk",   "process",   "go_runtime", "kafka_consumer",
};
const char *const jobs[] = {"node", "api", "db", "cache", "queue"};
const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
const char *const statuses[] = {"200", "201", "400", "404", "500"};
const char *const les[] = {"0.005", "0.01", "0.025", "0.05", "0.1",
                           "0.25",  "0.5",  "1",     "2.5",  "+Inf"};
const double le_cdf[] = {0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.85, 0.95, 0.99, 1.0};

enum kind kind_of(long s)
{
    long m = s / COMBOS;
    switch (m % 10) {
        case 0:
        case 1:
        case 2:
        case 3:
        case 4:
            return COUNTER;
        case 5:
            return GAUGE_INT;
        case 6:
            return GAUGE_FLOAT;
        case 7:
            return GAUGE_RATIO;
        default:
            return BUCKET;
    }
}

/* Encoded "labels" fields (field 1 of TimeSeries) of series s, sorted by
 * name: __name__, device|handler|method, instance, job, le, status. */
void encode_labels(long s, struct bytes *out)
{
    long m = s / COMBOS, c = s % COMBOS, inst = c % 50, k = c / 50;
    char name[96], instance[32], v1[32];
    const char *fam = families[m % 10];
    enum kind kd = kind_of(s);
    struct {
        const char *n, *v;
    } l[6];
    int nl = 0;

    snprintf(instance, sizeof instance, "10.0.%ld.%ld:9100", inst / 10,
             inst % 10 + 10);
    switch (kd) {
        case COUNTER:
            snprintf(name, sizeof name, "bench_%s_%ld_requests_total", fam, m);
            break;
        case GAUGE_INT:
            snprintf(name, sizeof name, "bench_%s_%ld_memory_bytes", fam, m);
            break;
        case GAUGE_FLOAT:
            snprintf(name, sizeof name, "bench_%s_%ld_temperature_celsius", fam,
                     m);
            break;
        case GAUGE_RATIO:
            snprintf(name, sizeof name, "bench_%s_%ld_utilization_ratio", fam,
                     m);
            break;
        case BUCKET:
            snprintf(name, sizeof name, "bench_%s_%ld_duration_seconds_bucket",
                     fam, m);
            break;
    }
    l[nl].n = "__name__";
    l[nl++].v = name;
    if (kd == COUNTER) {
        l[nl].n = "instance";
        l[nl++].v = instance;
        l[nl].n = "job";
        l[nl++].v = jobs[inst / 10];
        l[nl].n = "method";
        l[nl++].v = methods[k % 4];
        l[nl].n = "status";
        l[nl++].v = statuses[k / 4];
    } else if (kd == BUCKET) {
        snprintf(v1, sizeof v1, "/api/v1/%s", k / 10 ? "query" : "write");
        l[nl].n = "handler";
        l[nl++].v = v1;
        l[nl].n = "instance";
        l[nl++].v = instance;
        l[nl].n = "job";
        l[nl++].v = jobs[inst / 10];
        l[nl].n = "le";
        l[nl++].v = les[k % 10];
    } else {
        snprintf(v1, sizeof v1, "sd%c", (char)('a' + k));
        l[nl].n = "device";
        l[nl++].v = v1;
        l[nl].n = "instance";
        l[nl++].v = instance;
        l[nl].n = "job";
        l[nl++].v = jobs[inst / 10];
    }
    for (int i = 0; i < nl; i++) {
        size_t ln = strlen(l[i].n), lv = strlen(l[i].v);
        size_t body = 1 + uvarint_len(ln) + ln + 1 + uvarint_len(lv) + lv;
        b_uvarint(out, 1 << 3 | 2);
        b_uvarint(out, body);
        b_field_str(out, 1, l[i].n);
        b_field_str(out, 2, l[i].v);
    }
}

double initial_value(long s)
{
    uint64_t h = h2((uint64_t)s, 0xabcdef);
    switch (kind_of(s)) {
        case COUNTER:
            return (double)(h % 100000);
        case GAUGE_INT:
            return (double)(((h % 4096) + 1024) * 1048576);
        case GAUGE_FLOAT:
            return 30.0 + (double)(h % 4000) / 100.0;
        case GAUGE_RATIO:
            return (double)(h % 1000) / 1000.0;
        case BUCKET:
            return 0.0;
    }
    return 0;
}

/* Value of series s at round r given its previous value. */
double next_value(long s, long r, double prev)
{
    uint64_t h = h2((uint64_t)s, (uint64_t)r + 1);
    long c = s % COMBOS;
    switch (kind_of(s)) {
        case COUNTER:
            if (h % 4 == 0)
                return prev; /* idle this interval */
            return prev + (double)((h >> 8) % 16 + 1);
        case GAUGE_INT: {
            double v =
                prev + (double)((int64_t)((h >> 4) % 257) - 128) * 4096.0;
            return v < 0 ? -v : v;
        }
        case GAUGE_FLOAT: {
            double phase = (double)(h2((uint64_t)s, 7) % 628) / 100.0;
            return 45.0 + 10.0 * sin((double)r / 40.0 + phase) +
                   (double)((int64_t)((h >> 16) % 2001) - 1000) / 997.0;
        }
        case GAUGE_RATIO: {
            double v = prev + (double)((int64_t)((h >> 4) % 41) - 20) / 1000.0;
            v = v < 0 ? 0 : (v > 1 ? 1 : v);
            return round(v * 1000.0) / 1000.0;
        }
        case BUCKET: {
            /* the 10 buckets of one (metric, instance, handler) share the
             * number of new observations, so the cumulative le buckets stay
             * monotone */
            long m = s / COMBOS, inst = c % 50, handler = (c / 50) / 10;
            uint64_t g = (uint64_t)(m * 100 + inst * 2 + handler);
            uint64_t n = h2(g, (uint64_t)r + 99) % 24;
            return prev + floor((double)n * le_cdf[(c / 50) % 10]);
        }
    }
    return prev;
}

int64_t ts_of(long s, long r)
{
    long inst = (s % COMBOS) % 50;
    uint64_t h = h2((uint64_t)(s / COMBOS * 50 + inst), (uint64_t)r + 5);
    int64_t jitter = (h % 16 == 0) ? (int64_t)(h >> 8) % 3 : 0;
    return t0_ms + (int64_t)r * SCRAPE_MS + inst * 211 + jitter;
}
