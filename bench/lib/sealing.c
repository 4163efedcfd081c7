/* sealing.c - a node's fake clock and sealing (bench/lib/sealing.h). */
#include "bench/lib/sealing.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/lib/datagen.h"
#include "bench/lib/proc.h"
#include "lib/jsonparse.h"

void rfc3339(int64_t ms, char *out, unsigned n)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long sealing__http(const char *method, const char *url, struct body *b)
{
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    }
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    return status;
}

void clock_advance(const char *base, const char *by)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/debug/clock?advance=%s", base, by);
    struct body b = {0};
    long st = sealing__http("POST", url, &b);
    if (st != 200)
        die("advancing the clock: HTTP %ld %.200s", st, b.p ? b.p : "");
    free(b.p);
}

/* Counts, over the shards of signal in windows before `before`, either the
 * shards (replicas false; *done = those sealed) or their replicas (true;
 * *done = those sealed without a group), and the jobs listed; -1s when the
 * status cannot be read. */
static void sealing__count(const char *base,
                           const char *signal,
                           int64_t before,
                           bool replicas,
                           int *total,
                           int *done,
                           int *jobs)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/api/v1/status/cluster", base);
    struct body b = {0};
    *total = *done = *jobs = -1;
    if (sealing__http("GET", url, &b) != 200 || !b.p) {
        free(b.p);
        return;
    }
    struct tr_sjson doc;
    if (tr_sjson_parse(&doc, b.p, b.len) == 0) {
        long data = tr_sjson_get(&doc, 0, "data");
        long shards = tr_sjson_get(&doc, data, "shards");
        long js = tr_sjson_get(&doc, data, "jobs");
        *total = *done = 0;
        *jobs = js >= 0 ? (int)doc.toks[js].n : 0;
        for (size_t i = 0; shards >= 0 && i < doc.toks[shards].n; i++) {
            long sh = tr_sjson_at(&doc, shards, i);
            char sig[16], state[16];
            tr_sjson_text(&doc, tr_sjson_get(&doc, sh, "signal"), sig,
                          sizeof(sig));
            int64_t w =
                (int64_t)tr_sjson_u64(&doc, tr_sjson_get(&doc, sh, "window"));
            if (strcmp(sig, signal) != 0 || w >= before)
                continue;
            long reps = tr_sjson_get(&doc, sh, "replicas");
            size_t n = !replicas ? 1 : reps >= 0 ? doc.toks[reps].n : 0;
            for (size_t r = 0; r < n; r++) {
                long e = replicas ? tr_sjson_at(&doc, reps, r) : sh;
                tr_sjson_text(&doc, tr_sjson_get(&doc, e, "state"), state,
                              sizeof(state));
                (*total)++;
                *done += strcmp(state, "sealed") == 0;
            }
        }
    }
    tr_sjson_free(&doc);
    free(b.p);
}

void shards_sealed(const char *base,
                   const char *signal,
                   int64_t before,
                   int *total,
                   int *sealed,
                   int *jobs)
{
    sealing__count(base, signal, before, false, total, sealed, jobs);
}

/* Polls every 50 ms (at most 30 min) until every counted shard or replica
 * is sealed and no job is left; seconds since t0. */
static double sealing__wait(const char *base,
                            const char *signal,
                            int64_t before,
                            double t0,
                            bool replicas)
{
    for (;;) {
        int total, done, jobs;
        sealing__count(base, signal, before, replicas, &total, &done, &jobs);
        if (total > 0 && done == total && jobs == 0)
            return mono_s() - t0;
        if (mono_s() - t0 > 1800)
            die(replicas ? "the sealed %s groups were not closed in 30 min"
                         : "the %s windows were not sealed in 30 min",
                signal);
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

double wait_sealed(const char *base,
                   const char *signal,
                   int64_t before,
                   double t0)
{
    return sealing__wait(base, signal, before, t0, false);
}

double wait_retired(const char *base,
                    const char *signal,
                    int64_t before,
                    double t0)
{
    return sealing__wait(base, signal, before, t0, true);
}
