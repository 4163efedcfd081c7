/* logs.c - logs benchmark: one triad node (RF=1) ingesting and searching a
 * seeded corpus of realistic logs, beside zstd and grep on the raw file.
 *
 * Corpus (deterministic from --seed, --size raw bytes, default 1 GiB):
 * entries of ~110 streams ({cluster, container, env, namespace, pod,
 * service_name}: 11 services x prod/staging pods), four kinds of lines:
 *   ingress-nginx access lines (its default log format, req_id = 32 hex)
 *   JSON app logs (ts, level, service, logger, msg, fields, trace_id,
 *     span_id; levels debug/info/warn/error ~ 8/80/8/4 %)
 *   logfmt lines of Go services (ts, level, caller, msg, fields, trace_id)
 *   Spring Boot lines (Sleuth [service,trace,span]), 4 % of them ERROR
 *     with a Java stack trace: ONE entry of 12-40 lines
 * Trace ids are random 32-hex; a pool makes ~40 % of them repeat in a few
 * nearby entries (one request, several services). The token
 * DEADLINE_EXCEEDED (gRPC code) is on ~1 % of the lines. Timestamps are
 * strictly increasing over the whole corpus (so per stream too), spanning
 * --hours (default 20) ending ~now, inside the 24 h late-write grace for
 * logs. The raw file (in the temp dir) holds the entries in time order, one
 * line per line: a stack-trace entry is its lines. A needle (the trace id)
 * or the token occurs at most once per entry, so grep's line count and
 * LogQL's entry count are the same number. Everything but the timestamps
 * (which end at the time of the run) is the same for a seed and binary.
 *
 * Run: build/triad serve (release) with a temp --data-dir, free 127.0.0.1
 * ports, --limits.logs-ingestion-rate 0 and --limits.ingestion-rate 0,
 * other limits default. The corpus is pushed through POST
 * /loki/api/v1/push as snappy-block protobuf (PushRequest) in requests of
 * --batch line bytes (default 2 MiB) from --conns threads (default 3);
 * every stream belongs to one thread, so its entries arrive in order;
 * anything but 204 is printed and fails the run. Measured: server CPU
 * seconds over the push (/proc/PID/stat) and push + graceful stop
 * (SIGTERM; wait4's rusage), per GB (10^9 bytes) of the raw file; then the
 * allocated bytes of the whole data dir after the exit (du) beside the
 * size of libzstd level 3 over the raw file, streaming, one thread (what
 * `zstd -3 raw` writes). The server is started again on the same data dir
 * and, once idle, queried with GET /loki/api/v1/query (time = end of the
 * corpus, range covering all of it), one warm-up and --reps timed runs
 * (median, keep-alive connection, the whole response read):
 *   sum(count_over_time({cluster="eu-west-1"}[R]))          = entries pushed
 *   sum(count_over_time({cluster="eu-west-1"} |= "<trace id>" [R]))
 *   sum(count_over_time({cluster="eu-west-1"} |= "DEADLINE_EXCEEDED" [R]))
 * the last two beside `grep -F -c <string> raw` (LC_ALL=C; one warm-up,
 * --reps timed, median, fork to exit) with equal counts required; and
 * sum by (level) (count_over_time({namespace="shop"} | json [5m])) as a
 * query_range over the last hour of the corpus (step 15 s).
 * Targets (reported, not asserted): ingest <= 20 CPU s per GB (Loki's
 * sizing guide implies ~600-2,500), disk <= 1.0x zstd -3 of the raw file,
 * needle <= 0.05x grep's time, token <= 1.5x grep's time.
 *
 * Usage: build/bench/logs [--size SIZE] [--seed N] [--hours H] [--conns N]
 *          [--batch SIZE] [--reps N] [--triad PATH] [--grep PATH] [--keep]
 * Environment: BENCH_LOGS_SIZE, BENCH_SEED, TRIAD_BIN. Exit status: 0 when
 * the run completed (targets are reported), 1 when a server did not start,
 * a push or query failed or a count differed. */
#include "bench/lib/datagen.h"
#include "bench/lib/proc.h"
#include "bench/lib/sealing.h"
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <snappy-c.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define MAX_STREAMS 256
#define TRACE_POOL 256
#define MAX_REPS 51
#define MAX_ERRORS_SHOWN 5
#define TOKEN "DEADLINE_EXCEEDED"
#define CLUSTER "eu-west-1"

struct cfg {
    long long size;
    uint64_t seed;
    double hours;
    long conns;
    long long batch;
    long reps;
    const char *triad_bin;
    const char *grep_bin;
    int keep;
};

static struct cfg cfg = {1LL << 30,       42, 20, 3, 2 << 20, 5, "build/triad",
                         "/usr/bin/grep", 0};

/* ---- streams ------------------------------------------------------------ */

enum fmt { F_NGINX, F_JSON, F_LOGFMT, F_JAVA };

static const struct service {
    const char *name, *ns, *container;
    enum fmt fmt;
    int pods_prod, pods_staging;
    unsigned share; /* of all entries, percent */
} services[] = {
    {"ingress-nginx", "ingress", "controller", F_NGINX, 6, 2, 30},
    {"checkout", "shop", "app", F_JSON, 8, 2, 9},
    {"payments", "shop", "app", F_JSON, 6, 2, 6},
    {"cart", "shop", "app", F_JSON, 8, 2, 9},
    {"catalog", "shop", "app", F_JSON, 10, 3, 11},
    {"users", "shop", "app", F_JSON, 6, 2, 5},
    {"api-gateway", "platform", "gateway", F_LOGFMT, 6, 2, 10},
    {"scheduler", "platform", "scheduler", F_LOGFMT, 3, 1, 4},
    {"auth-proxy", "platform", "proxy", F_LOGFMT, 4, 2, 6},
    {"orders", "backoffice", "app", F_JAVA, 5, 2, 6},
    {"inventory", "backoffice", "app", F_JAVA, 4, 2, 4},
};
#define N_SERVICES (sizeof services / sizeof services[0])

struct stream {
    const struct service *svc;
    int prod;
    char pod[64];
    char labels[320];
    double cum; /* cumulative weight, for picking */
};

static struct stream streams[MAX_STREAMS];
static int n_streams;

static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";

static void make_streams(uint64_t seed)
{
    double cum = 0;
    for (size_t s = 0; s < N_SERVICES; s++) {
        const struct service *v = &services[s];
        uint64_t rs = h2(seed, s + 1000);
        for (int env = 0; env < 2; env++) {
            int pods = env == 0 ? v->pods_prod : v->pods_staging;
            for (int p = 0; p < pods && n_streams < MAX_STREAMS; p++) {
                struct stream *st = &streams[n_streams++];
                uint64_t h = mix64(rs++), h_rs = mix64(rs + 77 * (uint64_t)env);
                char suf[6];
                for (int k = 0; k < 5; k++) {
                    suf[k] = alnum[h % (sizeof alnum - 1)];
                    h /= sizeof alnum - 1;
                }
                suf[5] = 0;
                st->svc = v;
                st->prod = env == 0;
                char pod[64];
                snprintf(pod, sizeof pod, "%s-%08llx-%s", v->name,
                         (unsigned long long)(h_rs & 0xffffffffULL), suf);
                memcpy(st->pod, pod, sizeof pod);
                snprintf(st->labels, sizeof st->labels,
                         "{cluster=\"" CLUSTER
                         "\", container=\"%s\", "
                         "env=\"%s\", namespace=\"%s\", pod=\"%s\", "
                         "service_name=\"%s\"}",
                         v->container, env == 0 ? "prod" : "staging", v->ns,
                         pod, v->name);
                /* prod takes 90 % of a service's entries, pods uneven */
                double w = (double)v->share *
                           (env == 0 ? 0.9 / pods : 0.1 / pods) *
                           (0.7 + 0.6 * (double)(mix64(rs++) % 1000) / 1000);
                cum += w;
                st->cum = cum;
            }
        }
    }
    for (int i = 0; i < n_streams; i++)
        streams[i].cum /= cum;
}

/* ---- entry generator ---------------------------------------------------- */

struct gen {
    uint64_t rs;
    char pool[TRACE_POOL][33];
    int64_t cached_sec;
    char iso[64];    /* 2026-12-05T21:13:05 */
    char nginx[64];  /* 05/Dec/2026:21:13:05 +0000 */
    char spring[64]; /* 2026-12-05 21:13:05 */
    /* figures of what was generated */
    long long entries, lines, token_lines, token_entries;
    long long per_fmt[4];
};

static uint64_t rnd(struct gen *g)
{
    return mix64(g->rs++);
}

static unsigned rn(struct gen *g, unsigned n)
{
    return (unsigned)(rnd(g) % n);
}

static void hex32(struct gen *g, char out[33])
{
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)rnd(g),
             (unsigned long long)rnd(g));
}

static void gen_init(struct gen *g, uint64_t seed)
{
    memset(g, 0, sizeof *g);
    g->rs = h2(seed, 1);
    g->cached_sec = -1;
    for (int i = 0; i < TRACE_POOL; i++)
        hex32(g, g->pool[i]);
}

/* A trace id: 60 % fresh, 40 % one of a recent request's. */
static const char *trace_id(struct gen *g)
{
    unsigned slot = rn(g, TRACE_POOL);
    if (rn(g, 10) < 6)
        hex32(g, g->pool[slot]);
    return g->pool[slot];
}

static void gen_times(struct gen *g, int64_t ts_ns)
{
    int64_t sec = ts_ns / 1000000000;
    if (sec == g->cached_sec)
        return;
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    g->cached_sec = sec;
    snprintf(g->iso, sizeof g->iso, "%04d-%02d-%02dT%02d:%02d:%02d",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
    snprintf(g->nginx, sizeof g->nginx, "%02d/%s/%04d:%02d:%02d:%02d +0000",
             tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
    snprintf(g->spring, sizeof g->spring, "%04d-%02d-%02d %02d:%02d:%02d",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
}

static void bp(struct bytes *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void bp(struct bytes *b, const char *fmt, ...)
{
    va_list ap;
    b_reserve(b, 512);
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        die("vsnprintf");
    if ((size_t)n >= b->cap - b->len) {
        b_reserve(b, (size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

#define PICK(g, arr) (arr)[rn((g), sizeof(arr) / sizeof((arr)[0]))]

static const char *const http_methods[] = {"GET",  "GET", "GET",   "GET",
                                           "POST", "PUT", "DELETE"};
static const char *const agents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) "
    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 "
    "Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "okhttp/4.12.0",
    "shop-ios/5.18.2 (iPhone15,3; iOS 18.1)",
    "kube-probe/1.31",
    "curl/8.5.0",
};
static const char *const upstreams[] = {"shop-catalog-8080", "shop-cart-8080",
                                        "shop-checkout-8080", "shop-users-8080",
                                        "platform-api-gateway-8080"};

static void gen_nginx(struct gen *g, int64_t ts, struct bytes *b)
{
    gen_times(g, ts);
    unsigned r = rn(g, 100);
    int status = r < 86   ? 200
                 : r < 90 ? 304
                 : r < 95 ? 404
                 : r < 97 ? 201
                 : r < 98 ? 499
                 : r < 99 ? 502
                          : 504;
    const char *method = PICK(g, http_methods);
    char path[128];
    switch (rn(g, 8)) {
        case 0:
            snprintf(path, sizeof path, "/api/v1/products/%u", rn(g, 60000));
            break;
        case 1:
            snprintf(path, sizeof path, "/api/v1/cart/%08x/items",
                     (unsigned)rnd(g));
            break;
        case 2:
            snprintf(path, sizeof path, "/static/js/chunk-%08x.js",
                     (unsigned)(rnd(g) & 0xfff));
            break;
        case 3:
            snprintf(path, sizeof path, "/api/v1/search?q=%s&page=%u",
                     PICK(g, ((const char *const[]){"shoes", "jacket",
                                                    "running+shoes", "socks",
                                                    "rain+coat", "backpack"})),
                     rn(g, 5) + 1);
            break;
        case 4:
            snprintf(path, sizeof path, "/api/v1/users/%u/orders",
                     rn(g, 900000) + 100000);
            break;
        case 5:
            snprintf(path, sizeof path, "/healthz");
            break;
        case 6:
            snprintf(path, sizeof path, "/api/v1/checkout");
            break;
        default:
            snprintf(path, sizeof path, "/c/%s?sort=%s",
                     PICK(g, ((const char *const[]){"men", "women", "kids",
                                                    "sale", "new"})),
                     rn(g, 2) ? "price" : "popular");
    }
    unsigned bytes = status == 304 ? 0 : rn(g, 40000) + 120;
    unsigned rt_ms = rn(g, 5) ? rn(g, 80) + 1 : rn(g, 3000) + 1;
    if (status == 504)
        rt_ms = 5000 + rn(g, 20);
    const char *up = PICK(g, upstreams);
    bp(b,
       "%u.%u.%u.%u - - [%s] \"%s %s HTTP/1.1\" %d %u \"%s\" \"%s\" %u "
       "%u.%03u [%s] [] 10.42.%u.%u:8080 %u %u.%03u %d %s",
       rn(g, 200) + 20, rn(g, 256), rn(g, 256), rn(g, 254) + 1, g->nginx,
       method, path, status, bytes,
       rn(g, 3) ? "https://shop.example.com/" : "-", PICK(g, agents),
       rn(g, 1500) + 200, rt_ms / 1000, rt_ms % 1000, up, rn(g, 16),
       rn(g, 250) + 2, bytes, rt_ms / 1000,
       rt_ms % 1000 > 0 ? rt_ms % 1000 - 1 : 0, status == 499 ? 200 : status,
       trace_id(g));
}

static const char *const loggers[] = {"http.server",    "service.orders",
                                      "repository.sql", "client.grpc",
                                      "cache.redis",    "worker.events"};

/* JSON app line; *token set when it carries TOKEN. */
static void gen_json(struct gen *g,
                     const struct stream *st,
                     int64_t ts,
                     struct bytes *b,
                     int *token)
{
    gen_times(g, ts);
    unsigned us = (unsigned)(ts / 1000 % 1000000);
    unsigned r = rn(g, 1000);
    const char *svc = st->svc->name;
    if (r < 16) {
        *token = 1;
        bp(b,
           "{\"ts\":\"%s.%06uZ\",\"level\":\"%s\",\"service\":\"%s\","
           "\"logger\":\"client.grpc\",\"msg\":\"upstream call failed\","
           "\"upstream\":\"%s\",\"grpc_code\":\"" TOKEN
           "\","
           "\"attempt\":%u,\"duration_ms\":%u.%u,\"trace_id\":\"%s\","
           "\"span_id\":\"%016llx\"}",
           g->iso, us, rn(g, 3) ? "error" : "warn", svc,
           PICK(g, ((const char *const[]){"inventory.backoffice.svc:9090",
                                          "payments.shop.svc:9090",
                                          "users.shop.svc:9090"})),
           rn(g, 3) + 1, 5000 + rn(g, 9), rn(g, 10), trace_id(g),
           (unsigned long long)rnd(g));
        return;
    }
    unsigned lv = rn(g, 100);
    const char *level = lv < 8    ? "debug"
                        : lv < 88 ? "info"
                        : lv < 96 ? "warn"
                                  : "error";
    bp(b, "{\"ts\":\"%s.%06uZ\",\"level\":\"%s\",\"service\":\"%s\",", g->iso,
       us, level, svc);
    switch (level[0]) {
        case 'd':
            bp(b,
               "\"logger\":\"cache.redis\",\"msg\":\"cache lookup\","
               "\"key\":\"%s:%u\",\"hit\":%s,\"duration_us\":%u,",
               PICK(g, ((const char *const[]){"product", "cart", "session",
                                              "price"})),
               rn(g, 200000), rn(g, 4) ? "true" : "false", rn(g, 900) + 40);
            break;
        case 'w':
            if (rn(g, 2))
                bp(b,
                   "\"logger\":\"repository.sql\",\"msg\":\"slow query\","
                   "\"table\":\"%s\",\"rows\":%u,\"duration_ms\":%u,",
                   PICK(g, ((const char *const[]){"orders", "line_items",
                                                  "products", "carts"})),
                   rn(g, 5000), rn(g, 2000) + 500);
            else
                bp(b,
                   "\"logger\":\"client.grpc\",\"msg\":\"retrying upstream "
                   "call\",\"upstream\":\"%s\",\"attempt\":%u,\"backoff_ms\":"
                   "%u,",
                   PICK(g, ((const char *const[]){"inventory.backoffice.svc:"
                                                  "9090",
                                                  "payments.shop.svc:9090"})),
                   rn(g, 3) + 1, 100 << rn(g, 4));
            break;
        case 'e':
            bp(b,
               "\"logger\":\"%s\",\"msg\":\"%s\",\"error\":\"%s\","
               "\"user_id\":\"u-%u\",",
               PICK(g, loggers),
               PICK(g, ((const char *const[]){
                           "request failed", "payment declined",
                           "could not reserve stock", "unhandled exception"})),
               PICK(g, ((const char *const[]){
                           "connection reset by peer", "card_declined",
                           "insufficient stock", "context canceled",
                           "pq: duplicate key value violates unique "
                           "constraint \\\"orders_pkey\\\""})),
               rn(g, 900000) + 100000);
            break;
        default:
            if (rn(g, 4)) {
                int status = rn(g, 20) ? 200 : 404;
                bp(b,
                   "\"logger\":\"http.server\",\"msg\":\"request completed\","
                   "\"method\":\"%s\",\"path\":\"/api/%s/%u\",\"status\":%d,"
                   "\"duration_ms\":%u.%u,\"bytes\":%u,\"user_id\":\"u-%u\",",
                   PICK(g, http_methods), svc, rn(g, 100000), status,
                   rn(g, 120), rn(g, 10), rn(g, 30000), rn(g, 900000) + 100000);
            } else {
                bp(b,
                   "\"logger\":\"service.orders\",\"msg\":\"%s\","
                   "\"order_id\":\"ord-%010u\",\"items\":%u,\"amount\":%u.%02u,"
                   "\"currency\":\"EUR\",",
                   PICK(g,
                        ((const char *const[]){"order placed", "cart updated",
                                               "price recalculated"})),
                   (unsigned)(rnd(g) % 4000000000u), rn(g, 9) + 1, rn(g, 500),
                   rn(g, 100));
            }
    }
    bp(b, "\"trace_id\":\"%s\",\"span_id\":\"%016llx\"}", trace_id(g),
       (unsigned long long)rnd(g));
}

static void gen_logfmt(struct gen *g,
                       const struct stream *st,
                       int64_t ts,
                       struct bytes *b,
                       int *token)
{
    gen_times(g, ts);
    unsigned ms = (unsigned)(ts / 1000000 % 1000);
    unsigned r = rn(g, 1000);
    if (r < 16) {
        *token = 1;
        bp(b,
           "ts=%s.%03uZ level=error caller=proxy/upstream.go:%u "
           "msg=\"upstream request failed\" upstream=%s grpc_code=" TOKEN
           " duration=%u.%03us trace_id=%s",
           g->iso, ms, rn(g, 40) + 180,
           PICK(g, ((const char *const[]){"checkout.shop.svc:9090",
                                          "cart.shop.svc:9090",
                                          "users.shop.svc:9090"})),
           5 + rn(g, 2), rn(g, 1000), trace_id(g));
        return;
    }
    if (strcmp(st->svc->name, "scheduler") == 0) {
        bp(b,
           "ts=%s.%03uZ level=%s caller=scheduler/run.go:%u msg=\"%s\" "
           "job=%s run_id=%08x queue=%s attempt=%u duration=%u.%03ums",
           g->iso, ms, rn(g, 25) ? "info" : "warn", rn(g, 60) + 80,
           PICK(g, ((const char *const[]){"job started", "job finished",
                                          "job scheduled"})),
           PICK(g, ((const char *const[]){"reindex-products", "send-emails",
                                          "expire-carts", "sync-prices"})),
           (unsigned)rnd(g), rn(g, 4) ? "default" : "bulk", rn(g, 3) + 1,
           rn(g, 900), rn(g, 1000));
        return;
    }
    unsigned lv = rn(g, 100);
    const char *level = lv < 10   ? "debug"
                        : lv < 92 ? "info"
                        : lv < 98 ? "warn"
                                  : "error";
    bp(b,
       "ts=%s.%03uZ level=%s caller=%s msg=\"%s\" method=%s "
       "path=/api/v1/%s status=%d duration=%u.%03ums remote=10.42.%u.%u "
       "user=u-%u trace_id=%s",
       g->iso, ms, level,
       PICK(g, ((const char *const[]){"http/server.go:212", "auth/jwt.go:88",
                                      "proxy/route.go:143"})),
       level[0] == 'w'   ? "slow upstream"
       : level[0] == 'e' ? "request failed"
                         : "request served",
       PICK(g, http_methods),
       PICK(g, ((const char *const[]){"products", "cart", "checkout",
                                      "users/me", "orders"})),
       level[0] == 'e' ? 500
       : rn(g, 30)     ? 200
                       : 401,
       rn(g, 200), rn(g, 1000), rn(g, 16), rn(g, 250) + 2,
       rn(g, 900000) + 100000, trace_id(g));
}

/* stack frames: "com.example.<service>." + own, or a library's */
static const struct frame {
    int own;
    const char *method, *file;
} java_frames[] = {
    {1, "service.OrderService.reserveStock", "OrderService.java"},
    {1, "service.OrderService.placeOrder", "OrderService.java"},
    {1, "web.OrderController.create", "OrderController.java"},
    {1, "client.InventoryClient.reserve", "InventoryClient.java"},
    {0, "org.springframework.web.servlet.FrameworkServlet.service",
     "FrameworkServlet.java"},
    {0, "org.springframework.web.servlet.DispatcherServlet.doDispatch",
     "DispatcherServlet.java"},
    {0, "org.springframework.aop.framework.ReflectiveMethodInvocation.proceed",
     "ReflectiveMethodInvocation.java"},
    {0,
     "org.springframework.transaction.interceptor.TransactionInterceptor."
     "invoke",
     "TransactionInterceptor.java"},
    {0, "jakarta.servlet.http.HttpServlet.service", "HttpServlet.java"},
    {0, "org.apache.catalina.core.ApplicationFilterChain.doFilter",
     "ApplicationFilterChain.java"},
    {0, "org.apache.tomcat.util.net.NioEndpoint$SocketProcessor.doRun",
     "NioEndpoint.java"},
    {0, "io.grpc.stub.ClientCalls.toStatusRuntimeException",
     "ClientCalls.java"},
    {0, "io.grpc.stub.ClientCalls.getUnchecked", "ClientCalls.java"},
    {0, "java.base/java.util.concurrent.ThreadPoolExecutor.runWorker",
     "ThreadPoolExecutor.java"},
    {0, "java.base/java.lang.Thread.run", "Thread.java"},
};

/* Spring Boot line; 4 % are ERROR with a stack trace (several lines). */
static void gen_java(struct gen *g,
                     const struct stream *st,
                     int64_t ts,
                     struct bytes *b,
                     int *token,
                     long long *lines)
{
    gen_times(g, ts);
    unsigned ms = (unsigned)(ts / 1000000 % 1000);
    const char *svc = st->svc->name;
    const char *tid = trace_id(g);
    unsigned long long span = (unsigned long long)rnd(g);
    unsigned thread = rn(g, 200) + 1;
    if (rn(g, 100) < 4) {
        int grpc = rn(g, 10) < 3;
        bp(b,
           "%s.%03u ERROR [%s,%s,%016llx] 1 --- [nio-8080-exec-%u] "
           "c.e.%s.web.OrderController              : Request processing "
           "failed for order ord-%010u\n",
           g->spring, ms, svc, tid, span, thread, svc,
           (unsigned)(rnd(g) % 4000000000u));
        if (grpc) {
            *token = 1;
            bp(b,
               "io.grpc.StatusRuntimeException: " TOKEN
               ": deadline exceeded after 4.%09us. [remote_addr=%s]",
               rn(g, 1000000000),
               PICK(g, ((const char *const[]){"inventory.backoffice.svc/"
                                              "10.43.12.7:9090",
                                              "payments.shop.svc/"
                                              "10.43.9.21:9090"})));
        } else {
            bp(b, "%s",
               PICK(g, ((const char *const[]){
                           "java.lang.IllegalStateException: stock "
                           "reservation failed",
                           "org.springframework.dao."
                           "DataIntegrityViolationException: could not "
                           "execute statement; SQL [n/a]; constraint "
                           "[orders_pkey]",
                           "java.lang.NullPointerException: Cannot invoke "
                           "\"com.example.orders.model.Item.getSku()\" "
                           "because \"item\" is null",
                           "java.net.SocketTimeoutException: Read timed "
                           "out"})));
        }
        /* one of 6 call paths per service, each always the same frames
         * (the same failure gives the same stack trace) */
        uint64_t path = h2(cfg.seed ^ (uint64_t)(st->svc - services), rn(g, 6));
        unsigned frames = 10 + (unsigned)(path % 25);
        for (unsigned f = 0; f < frames; f++) {
            uint64_t fh = h2(path, f);
            const struct frame *fr =
                &java_frames[fh % (sizeof java_frames / sizeof java_frames[0])];
            bp(b, "\n\tat %s%s%s%s(%s:%u)", fr->own ? "com.example." : "",
               fr->own ? svc : "", fr->own ? "." : "", fr->method, fr->file,
               (unsigned)(fh >> 32) % 900 + 20);
        }
        *lines += frames + 1;
        if (rn(g, 2)) {
            unsigned more = 5 + rn(g, 40);
            bp(b,
               "\nCaused by: java.io.IOException: Connection reset by "
               "peer\n\tat java.base/sun.nio.ch.SocketDispatcher.read0("
               "Native Method)\n\tat java.base/sun.nio.ch.SocketDispatcher."
               "read(SocketDispatcher.java:47)\n\t... %u more",
               more);
            *lines += 4;
        }
        return;
    }
    unsigned lv = rn(g, 100);
    bp(b,
       "%s.%03u %5s [%s,%s,%016llx] 1 --- [nio-8080-exec-%u] "
       "c.e.%s.service.%-24s : %s %u",
       g->spring, ms,
       lv < 90   ? "INFO"
       : lv < 97 ? "DEBUG"
                 : "WARN",
       svc, tid, span, thread, svc,
       PICK(g, ((const char *const[]){"OrderService", "StockService",
                                      "ShipmentService"})),
       PICK(g, ((const char *const[]){"Reserved stock for order",
                                      "Created shipment for order",
                                      "Order state changed to PAID for order",
                                      "Released reservation of order"})),
       rn(g, 4000000));
}

/* Appends one entry (no trailing newline) of a stream picked at random;
 * returns the stream. */
static int gen_entry(struct gen *g, int64_t ts, struct bytes *b)
{
    double u = (double)(rnd(g) >> 11) / 9007199254740992.0;
    int lo = 0, hi = n_streams - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (streams[mid].cum < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    const struct stream *st = &streams[lo];
    int token = 0;
    long long lines = 1;
    switch (st->svc->fmt) {
        case F_NGINX:
            gen_nginx(g, ts, b);
            break;
        case F_JSON:
            gen_json(g, st, ts, b, &token);
            break;
        case F_LOGFMT:
            gen_logfmt(g, st, ts, b, &token);
            break;
        case F_JAVA:
            gen_java(g, st, ts, b, &token, &lines);
            break;
    }
    g->entries++;
    g->lines += lines;
    g->token_lines += token;
    g->token_entries += token;
    g->per_fmt[st->svc->fmt]++;
    return lo;
}

/* ---- the corpus ----------------------------------------------------------
 */

struct ent {
    int64_t ts;
    uint64_t off;
    uint32_t len;
    uint16_t stream;
};

static struct ent *ents;
static size_t n_ents;
static int64_t first_ts, last_ts;
static char needle[33];
static long long raw_bytes; /* the raw file's size */
static const char *raw_map;

static void make_corpus(const char *path, struct gen *g)
{
    /* pilot: the mean entry size, to space the timestamps */
    struct gen pilot;
    struct bytes b = {0};
    gen_init(&pilot, cfg.seed);
    for (int i = 0; i < 20000; i++)
        gen_entry(&pilot, (int64_t)1.7e18, &b);
    double mean = (double)(b.len + 20000) / 20000;
    double n_est = (double)cfg.size / mean;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    int64_t span_ns = (int64_t)(cfg.hours * 3600e9);
    /* ends ~3 % of the span before now, leaving room for an estimate that
     * was short */
    int64_t start = now_ns - span_ns;
    int64_t dt = (int64_t)((double)span_ns * 0.97 / n_est);
    if (dt < 2)
        dt = 2;

    FILE *f = fopen(path, "w");
    if (!f)
        die("%s: %s", path, strerror(errno));
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    gen_init(g, cfg.seed);
    size_t cap = (size_t)(n_est * 1.1) + 1024;
    ents = malloc(cap * sizeof *ents);
    if (!ents)
        die("out of memory");
    long long off = 0, needle_at = cfg.size * 2 / 5;
    int64_t ts = start;
    for (size_t i = 0; off < cfg.size; i++) {
        ts = start + (int64_t)i * dt + (int64_t)(rnd(g) % (uint64_t)dt);
        b.len = 0;
        int s = gen_entry(g, ts, &b);
        if (i == cap) {
            cap *= 2;
            ents = realloc(ents, cap * sizeof *ents);
            if (!ents)
                die("out of memory");
        }
        ents[i] = (struct ent){ts, (uint64_t)off, (uint32_t)b.len, (uint16_t)s};
        if (!needle[0] && off >= needle_at) {
            /* the needle: the first JSON trace id from 40 % of the file on */
            const char *p = memmem(b.p, b.len, "\"trace_id\":\"", 12);
            if (p)
                memcpy(needle, p + 12, 32);
        }
        b_put(&b, "\n", 1);
        if (fwrite(b.p, 1, b.len, f) != b.len)
            die("%s: %s", path, strerror(errno));
        off += (long long)b.len;
        n_ents = i + 1;
    }
    if (fclose(f) != 0)
        die("%s: %s", path, strerror(errno));
    free(b.p);
    first_ts = ents[0].ts;
    last_ts = ts;
    raw_bytes = off;
    if (!needle[0])
        die("no needle in the corpus (too small?)");
}

/* zstd level 3, streaming, one thread, over the raw file (what `zstd -3`
 * writes, without its 0.01 % of frame overhead differences). If by_stream,
 * the same lines grouped by stream instead (informative). */
static long long zstd3(int by_stream, double *secs)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    if (!c)
        die("ZSTD_createCCtx");
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3);
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1); /* as the CLI */
    ZSTD_CCtx_setPledgedSrcSize(c, (unsigned long long)raw_bytes);
    size_t outcap = ZSTD_CStreamOutSize();
    char *out = malloc(outcap);
    if (!out)
        die("out of memory");
    long long total = 0;
    double t0 = mono_s();
    struct bytes b = {0};
    size_t chunk = 1 << 20;
    /* by stream: the entries of each stream in turn, batched into chunk */
    size_t pos = 0;
    int s_cur = 0;
    size_t e_cur = 0;
    for (;;) {
        ZSTD_inBuffer in;
        int last;
        if (!by_stream) {
            size_t n = (size_t)raw_bytes - pos < chunk ? (size_t)raw_bytes - pos
                                                       : chunk;
            in = (ZSTD_inBuffer){raw_map + pos, n, 0};
            pos += n;
            last = pos == (size_t)raw_bytes;
        } else {
            b.len = 0;
            while (b.len < chunk && s_cur < n_streams) {
                if (e_cur == n_ents) {
                    s_cur++;
                    e_cur = 0;
                    continue;
                }
                const struct ent *e = &ents[e_cur++];
                if (e->stream == s_cur)
                    b_put(&b, raw_map + e->off, (size_t)e->len + 1);
            }
            in = (ZSTD_inBuffer){b.p, b.len, 0};
            last = s_cur == n_streams;
        }
        int done;
        do {
            ZSTD_outBuffer o = {out, outcap, 0};
            size_t rem = ZSTD_compressStream2(
                c, &o, &in, last ? ZSTD_e_end : ZSTD_e_continue);
            if (ZSTD_isError(rem))
                die("zstd: %s", ZSTD_getErrorName(rem));
            total += (long long)o.pos;
            done = last ? rem == 0 : in.pos == in.size;
        } while (!done);
        if (last)
            break;
    }
    *secs = mono_s() - t0;
    free(b.p);
    free(out);
    ZSTD_freeCCtx(c);
    return total;
}

/* ---- the server ------------------------------------------------------------
 */

struct server {
    char data[300], log[300], http[64], cluster[64], base[96];
    pid_t pid;
};

/* The node's clock stands (--debug.fake-clock) a few minutes after the
 * corpus ends, so that its windows can be sealed at the end by moving it. */
static int64_t fake_clock_ms;

static int start_triad(struct server *s)
{
    char ready[128];
    snprintf(s->http, sizeof s->http, "127.0.0.1:%d", free_port());
    snprintf(s->cluster, sizeof s->cluster, "127.0.0.1:%d", free_port());
    snprintf(s->base, sizeof s->base, "http://%s", s->http);
    snprintf(ready, sizeof ready, "http://%s/ready", s->http);
    char clock[40];
    if (fake_clock_ms == 0)
        fake_clock_ms = wall_ms() + 5 * 60 * 1000;
    rfc3339(fake_clock_ms, clock, sizeof clock);
    char *argv[] = {(char *)cfg.triad_bin,
                    "serve",
                    "--debug.fake-clock",
                    clock,
                    "--http-addr",
                    s->http,
                    "--tempo-http-addr",
                    "",
                    "--otlp-grpc-addr",
                    "",
                    "--otlp-http-addr",
                    "",
                    "--cluster-addr",
                    s->cluster,
                    "--data-dir",
                    s->data,
                    "--log-level",
                    "warn",
                    "--limits.logs-ingestion-rate",
                    "0",
                    "--limits.ingestion-rate",
                    "0",
                    "--http.max-body-size",
                    "64MiB",
                    NULL};
    s->pid = spawn(argv, s->log);
    int rc = wait_ready(s->pid, ready, 120);
    if (rc != 0) {
        fprintf(stderr, "triad did not become ready (%d); log: %s\n", rc,
                s->log);
        if (rc < 0)
            stop_pid(s->pid);
        s->pid = 0;
        return -1;
    }
    return 0;
}

/* ---- push ----------------------------------------------------------------
 */

static struct {
    char url[160];
    atomic_long requests, ok, failed, errors_shown;
    atomic_llong entries_ok, bytes_ok;
} push;

struct pusher {
    pthread_t th;
    long id;
};

static size_t ts_len(int64_t ts)
{
    uint64_t sec = (uint64_t)(ts / 1000000000),
             ns = (uint64_t)(ts % 1000000000);
    return 1 + uvarint_len(sec) + (ns ? 1 + uvarint_len(ns) : 0);
}

static size_t entry_len(const struct ent *e)
{
    size_t t = ts_len(e->ts);
    return 1 + uvarint_len(t) + t + 1 + uvarint_len(e->len) + e->len;
}

static void send_push(CURL *h,
                      const size_t *idx,
                      size_t n,
                      struct bytes *pb,
                      struct bytes *z,
                      size_t *sorted)
{
    /* group by stream, keeping each stream's entries in time order */
    size_t cnt[MAX_STREAMS + 1] = {0};
    long long line_bytes = 0;
    for (size_t i = 0; i < n; i++)
        cnt[ents[idx[i]].stream + 1]++;
    for (int s = 0; s < MAX_STREAMS; s++)
        cnt[s + 1] += cnt[s];
    size_t start[MAX_STREAMS + 1];
    memcpy(start, cnt, sizeof start);
    for (size_t i = 0; i < n; i++)
        sorted[cnt[ents[idx[i]].stream]++] = idx[i];
    pb->len = 0;
    for (int s = 0; s < n_streams; s++) {
        size_t a = start[s], e = start[s + 1];
        if (a == e)
            continue;
        size_t lab = strlen(streams[s].labels);
        size_t sl = 1 + uvarint_len(lab) + lab;
        for (size_t k = a; k < e; k++) {
            size_t el = entry_len(&ents[sorted[k]]);
            sl += 1 + uvarint_len(el) + el;
        }
        b_uvarint(pb, 1 << 3 | 2); /* PushRequest.streams */
        b_uvarint(pb, sl);
        b_field_str(pb, 1, streams[s].labels); /* StreamAdapter.labels */
        for (size_t k = a; k < e; k++) {
            const struct ent *en = &ents[sorted[k]];
            uint64_t sec = (uint64_t)(en->ts / 1000000000),
                     ns = (uint64_t)(en->ts % 1000000000);
            size_t tl = ts_len(en->ts);
            b_uvarint(pb, 2 << 3 | 2); /* StreamAdapter.entries */
            b_uvarint(pb, entry_len(en));
            b_uvarint(pb, 1 << 3 | 2); /* EntryAdapter.timestamp */
            b_uvarint(pb, tl);
            b_uvarint(pb, 1 << 3 | 0);
            b_uvarint(pb, sec);
            if (ns) {
                b_uvarint(pb, 2 << 3 | 0);
                b_uvarint(pb, ns);
            }
            b_uvarint(pb, 2 << 3 | 2); /* EntryAdapter.line */
            b_uvarint(pb, en->len);
            b_put(pb, raw_map + en->off, en->len);
            line_bytes += en->len;
        }
    }
    size_t zl = snappy_max_compressed_length(pb->len);
    z->len = 0;
    b_reserve(z, zl);
    if (snappy_compress(pb->p, pb->len, z->p, &zl) != SNAPPY_OK)
        die("snappy_compress failed");
    struct body rb = {0};
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, z->p);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)zl);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &rb);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    atomic_fetch_add(&push.requests, 1);
    if (rc == CURLE_OK && status == 204) {
        atomic_fetch_add(&push.ok, 1);
        atomic_fetch_add(&push.entries_ok, (long long)n);
        atomic_fetch_add(&push.bytes_ok, line_bytes);
    } else {
        atomic_fetch_add(&push.failed, 1);
        if (atomic_fetch_add(&push.errors_shown, 1) < MAX_ERRORS_SHOWN)
            fprintf(stderr, "  push failed: %s HTTP %ld %.300s\n",
                    rc != CURLE_OK ? curl_easy_strerror(rc) : "", status,
                    rb.p ? rb.p : "");
    }
    free(rb.p);
}

static void *pusher_main(void *arg)
{
    struct pusher *w = arg;
    size_t cap = 1 << 16, n = 0;
    long long bytes = 0;
    size_t *idx = malloc(cap * sizeof *idx), *sorted = NULL;
    struct bytes pb = {0}, z = {0};
    if (!idx)
        die("out of memory");
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, "Content-Type: application/x-protobuf");
    hdr = curl_slist_append(hdr, "User-Agent: triad-bench-logs/1");
    hdr = curl_slist_append(hdr, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, push.url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    for (size_t i = 0; i <= n_ents; i++) {
        int end = i == n_ents;
        if (!end) {
            if (ents[i].stream % cfg.conns != w->id)
                continue;
            if (n == cap) {
                cap *= 2;
                idx = realloc(idx, cap * sizeof *idx);
                if (!idx)
                    die("out of memory");
            }
            idx[n++] = i;
            bytes += ents[i].len;
        }
        if ((bytes >= cfg.batch || end) && n) {
            size_t *q = realloc(sorted, n * sizeof *sorted);
            if (!q)
                die("out of memory");
            sorted = q;
            send_push(h, idx, n, &pb, &z, sorted);
            n = 0;
            bytes = 0;
        }
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    free(idx);
    free(sorted);
    free(pb.p);
    free(z.p);
    return NULL;
}

static double push_all(void)
{
    struct pusher ws[64];
    double t0 = mono_s();
    for (long i = 0; i < cfg.conns; i++) {
        ws[i].id = i;
        if (pthread_create(&ws[i].th, NULL, pusher_main, &ws[i]) != 0)
            die("pthread_create");
    }
    for (long i = 0; i < cfg.conns; i++)
        pthread_join(ws[i].th, NULL);
    return mono_s() - t0;
}

/* ---- queries and grep ----------------------------------------------------
 */

static double median(double *v, long n)
{
    qsort(v, (size_t)n, sizeof(*v), dbl_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct qres {
    double med_s, min_s, max_s;
    long long value; /* first sample of an instant vector; 0 if empty */
    int series;      /* series in the result */
    int ok;
};

/* GET base+path?params once: 0 and the body in *b on 200, -1 otherwise. */
static int get(CURL *h, const char *url, struct body *b, double *secs)
{
    b->len = 0;
    if (b->p)
        b->p[0] = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 600L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    double t0 = mono_s();
    CURLcode rc = curl_easy_perform(h);
    *secs = mono_s() - t0;
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 200) {
        fprintf(stderr, "  query failed: %s HTTP %ld %.400s\n",
                rc != CURLE_OK ? curl_easy_strerror(rc) : "", status,
                b->p ? b->p : "");
        return -1;
    }
    return 0;
}

static void parse_result(const char *json, struct qres *r)
{
    r->series = 0;
    r->value = 0;
    for (const char *p = json; (p = strstr(p, "\"metric\":")) != NULL; p++)
        r->series++;
    const char *v = strstr(json, "\"value\":[");
    if (v) {
        v = strchr(v + 9, ',');
        if (v) {
            v = strchr(v, '"');
            if (v)
                r->value = strtoll(v + 1, NULL, 10);
        }
    }
}

/* One warm-up and cfg.reps timed runs of a query; path is e.g.
 * "/loki/api/v1/query", extra the parameters after query=. */
static void run_query(CURL *h,
                      const char *base,
                      const char *path,
                      const char *query,
                      const char *extra,
                      struct qres *r)
{
    char *q = curl_easy_escape(h, query, 0);
    size_t ul = strlen(base) + strlen(path) + strlen(q) + strlen(extra) + 16;
    char *url = malloc(ul);
    if (!url)
        die("out of memory");
    snprintf(url, ul, "%s%s?query=%s&%s", base, path, q, extra);
    curl_free(q);
    struct body b = {0};
    double t[MAX_REPS], s;
    memset(r, 0, sizeof *r);
    if (get(h, url, &b, &s) != 0)
        goto out;
    parse_result(b.p ? b.p : "", r);
    for (long i = 0; i < cfg.reps; i++) {
        if (get(h, url, &b, &t[i]) != 0)
            goto out;
    }
    r->med_s = median(t, cfg.reps);
    r->min_s = t[0];
    r->max_s = t[cfg.reps - 1];
    r->ok = 1;
out:
    free(b.p);
    free(url);
}

/* grep -F -c s raw: the count, and its wall time in *secs; -1 on error. */
static long long grep_once(const char *s, const char *raw, double *secs)
{
    int fds[2];
    if (pipe(fds) != 0)
        die("pipe: %s", strerror(errno));
    double t0 = mono_s();
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        char *argv[] = {(char *)cfg.grep_bin, "-F", "-c", "--", (char *)s,
                        (char *)raw,          NULL};
        char *envp[] = {"LC_ALL=C", "PATH=/usr/bin:/bin", NULL};
        execve(cfg.grep_bin, argv, envp);
        _exit(127);
    }
    close(fds[1]);
    char out[64];
    size_t n = 0;
    ssize_t k;
    while (n < sizeof out - 1 &&
           (k = read(fds[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)k;
    out[n] = 0;
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    *secs = mono_s() - t0;
    /* grep exits 1 when nothing matched (count 0) */
    if (!WIFEXITED(st) || WEXITSTATUS(st) > 1)
        return -1;
    return strtoll(out, NULL, 10);
}

static long long grep_timed(const char *s,
                            const char *raw,
                            double *med,
                            double *mn,
                            double *mx)
{
    double t[MAX_REPS], w;
    long long c = grep_once(s, raw, &w); /* warm-up */
    for (long i = 0; i < cfg.reps; i++) {
        if (grep_once(s, raw, &t[i]) != c)
            return -1;
    }
    *med = median(t, cfg.reps);
    *mn = t[0];
    *mx = t[cfg.reps - 1];
    return c;
}

/* ---- main ----------------------------------------------------------------
 */

static long long parse_size(const char *v)
{
    char *end;
    double x = strtod(v, &end);
    long long m = 1;
    if (*end == 0 || strcmp(end, "B") == 0)
        m = 1;
    else if (strcasecmp(end, "KiB") == 0 || strcasecmp(end, "K") == 0)
        m = 1LL << 10;
    else if (strcasecmp(end, "MiB") == 0 || strcasecmp(end, "M") == 0)
        m = 1LL << 20;
    else if (strcasecmp(end, "GiB") == 0 || strcasecmp(end, "G") == 0)
        m = 1LL << 30;
    else if (strcasecmp(end, "KB") == 0)
        m = 1000;
    else if (strcasecmp(end, "MB") == 0)
        m = 1000000;
    else if (strcasecmp(end, "GB") == 0)
        m = 1000000000;
    else
        return -1;
    return (long long)(x * (double)m);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: logs [--size SIZE] [--seed N] [--hours H] [--conns N]\n"
            "            [--batch SIZE] [--reps N] [--triad PATH] [--grep "
            "PATH] [--keep]\n");
    exit(2);
}

static void row(const char *metric,
                const char *triad,
                const char *base,
                double ratio,
                const char *target,
                int ok)
{
    char rs[32] = "-";
    if (ratio >= 0)
        snprintf(rs, sizeof rs, "%.3fx", ratio);
    printf("  %-28s %-16s %-24s %-9s %-18s %s\n", metric, triad, base, rs,
           target,
           ok < 0 ? "-"
           : ok   ? "yes"
                  : "NO");
}

int main(int argc, char **argv)
{
    bench_prog = "logs";
    if (getenv("BENCH_LOGS_SIZE") && *getenv("BENCH_LOGS_SIZE"))
        cfg.size = parse_size(getenv("BENCH_LOGS_SIZE"));
    if (getenv("BENCH_SEED") && *getenv("BENCH_SEED"))
        cfg.seed = strtoull(getenv("BENCH_SEED"), NULL, 10);
    if (getenv("TRIAD_BIN"))
        cfg.triad_bin = getenv("TRIAD_BIN");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep") == 0) {
            cfg.keep = 1;
            continue;
        }
        if (!v)
            usage();
        if (strcmp(a, "--size") == 0)
            cfg.size = parse_size(v);
        else if (strcmp(a, "--seed") == 0)
            cfg.seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--hours") == 0)
            cfg.hours = strtod(v, NULL);
        else if (strcmp(a, "--conns") == 0)
            cfg.conns = strtol(v, NULL, 10);
        else if (strcmp(a, "--batch") == 0)
            cfg.batch = parse_size(v);
        else if (strcmp(a, "--reps") == 0)
            cfg.reps = strtol(v, NULL, 10);
        else if (strcmp(a, "--triad") == 0)
            cfg.triad_bin = v;
        else if (strcmp(a, "--grep") == 0)
            cfg.grep_bin = v;
        else
            usage();
        i++;
    }
    if (cfg.size < (1 << 20) || cfg.hours < 1.5 || cfg.hours > 23 ||
        cfg.conns < 1 || cfg.conns > 64 || cfg.batch < 4096 ||
        cfg.batch > (48 << 20) || cfg.reps < 1 || cfg.reps > MAX_REPS)
        usage();
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    char dir[] = "/tmp/bench-logs-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp: %s", strerror(errno));
    char raw[128];
    struct server srv;
    memset(&srv, 0, sizeof srv);
    snprintf(raw, sizeof raw, "%s/raw.log", dir);
    snprintf(srv.data, sizeof srv.data, "%s/data", dir);
    snprintf(srv.log, sizeof srv.log, "%s/triad.log", dir);
    mkdir(srv.data, 0755);
    int failed = 0;

    /* 1. the corpus */
    make_streams(cfg.seed);
    struct gen g;
    double t0 = mono_s();
    make_corpus(raw, &g);
    double gen_s = mono_s() - t0;
    int fd = open(raw, O_RDONLY);
    if (fd < 0)
        die("%s: %s", raw, strerror(errno));
    raw_map = mmap(NULL, (size_t)raw_bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (raw_map == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    printf(
        "logs benchmark: seed %llu, %lld raw bytes (%.1f MiB) in %s, "
        "generated in %.1f s\n",
        (unsigned long long)cfg.seed, raw_bytes, mib(raw_bytes), raw, gen_s);
    printf(
        "  %zu entries, %lld lines, %d streams, %.2f h (%.0f entries/s); "
        "nginx %lld, JSON %lld, logfmt %lld, Java %lld entries\n",
        n_ents, g.lines, n_streams, (double)(last_ts - first_ts) / 3600e9,
        (double)n_ents / ((double)(last_ts - first_ts) / 1e9), g.per_fmt[0],
        g.per_fmt[1], g.per_fmt[2], g.per_fmt[3]);
    printf("  token \"%s\" on %lld lines (%.2f %%); needle trace id %s\n",
           TOKEN, g.token_lines,
           100.0 * (double)g.token_lines / (double)g.lines, needle);
    fflush(stdout);

    /* 2. zstd -3 of the raw file */
    double z_s, zs_s;
    long long zsize = zstd3(0, &z_s);
    long long zsize_s = zstd3(1, &zs_s);
    printf(
        "zstd -3 (libzstd %s, level 3, one thread): %lld bytes = %.1f MiB "
        "(%.2f%% of raw, %.1f s); grouped by stream instead (info): "
        "%.1f MiB\n",
        ZSTD_versionString(), zsize, mib(zsize),
        100.0 * (double)zsize / (double)raw_bytes, z_s, mib(zsize_s));
    fflush(stdout);

    /* 3. push */
    if (start_triad(&srv) != 0)
        die("triad did not start (log %s)", srv.log);
    printf("triad: pid %d on %s, data %s\n", (int)srv.pid, srv.http, srv.data);
    fflush(stdout);
    quiesce(srv.pid, 10);
    snprintf(push.url, sizeof push.url, "%s/loki/api/v1/push", srv.base);
    double cpu_before = cpu_seconds(srv.pid);
    double push_s = push_all();
    double cpu_push = cpu_seconds(srv.pid) - cpu_before;
    long hwm_kib = vm_status_kib(srv.pid, "VmHWM:");
    double cpu_life = 0, stop_s = 0;
    int st = stop_pid_measured(srv.pid, &cpu_life, &stop_s);
    double cpu_all = cpu_life - cpu_before;
    long long disk_alloc = 0, disk_app = 0;
    disk_usage(srv.data, &disk_alloc, &disk_app);
    char parts[512];
    disk_parts(srv.data, parts, sizeof parts);
    double gb = (double)raw_bytes / 1e9;
    printf(
        "push: %ld requests (%ld x 204, %ld failed), %lld entries, %.1f MiB "
        "of lines in %.1f s (%.1f MiB/s, %.0f entries/s), %ld threads\n",
        (long)push.requests, (long)push.ok, (long)push.failed,
        (long long)push.entries_ok, mib(push.bytes_ok), push_s,
        mib(push.bytes_ok) / push_s, (double)push.entries_ok / push_s,
        cfg.conns);
    printf(
        "  server CPU: %.2f s over the push = %.2f CPU s/GB; %.2f s with the "
        "graceful stop (%.2f s, exit %d) = %.2f CPU s/GB; peak RSS %.1f MiB\n",
        cpu_push, cpu_push / gb, cpu_all, stop_s, st, cpu_all / gb,
        (double)hwm_kib / 1024);
    printf(
        "  disk, whole data dir after the stop: %.1f MiB allocated (apparent "
        "%.1f MiB) = %.3fx zstd -3, %.2f%% of raw (%s)\n",
        mib(disk_alloc), mib(disk_app), (double)disk_alloc / (double)zsize,
        100.0 * (double)disk_alloc / (double)raw_bytes, parts);
    fflush(stdout);
    if (push.failed || push.entries_ok != (long long)n_ents) {
        fprintf(stderr, "push failed (%ld failed requests); log %s\n",
                (long)push.failed, srv.log);
        failed = 1;
        goto out;
    }
    if (st != 0)
        fprintf(stderr, "  triad exit status %d after SIGTERM (log %s)\n", st,
                srv.log);

    /* 4. queries */
    if (start_triad(&srv) != 0) {
        failed = 1;
        goto out;
    }
    double qw = quiesce(srv.pid, 120);
    printf("triad restarted: pid %d on %s (idle after %.1f s)\n", (int)srv.pid,
           srv.http, qw);
    fflush(stdout);
    int64_t tq = last_ts / 1000000000 + 1;
    long long range_s = tq - first_ts / 1000000000 + 60;
    char extra[96], q[256];
    snprintf(extra, sizeof extra, "time=%lld", (long long)tq);
    CURL *h = curl_easy_init();
    struct qres q_all, q_needle, q_token, q_json;
    snprintf(q, sizeof q,
             "sum(count_over_time({cluster=\"" CLUSTER "\"}[%llds]))", range_s);
    run_query(h, srv.base, "/loki/api/v1/query", q, extra, &q_all);
    printf("  %-70s %lld entries, median %.1f ms\n", q, q_all.value,
           q_all.med_s * 1e3);
    if (!q_all.ok || q_all.value != (long long)n_ents) {
        fprintf(stderr, "count of all entries: %lld, pushed %zu\n", q_all.value,
                n_ents);
        failed = 1;
    }
    double g_n_med = 0, g_n_min = 0, g_n_max = 0, g_t_med = 0, g_t_min = 0,
           g_t_max = 0;
    long long gc_needle = grep_timed(needle, raw, &g_n_med, &g_n_min, &g_n_max);
    long long gc_token = grep_timed(TOKEN, raw, &g_t_med, &g_t_min, &g_t_max);
    snprintf(q, sizeof q,
             "sum(count_over_time({cluster=\"" CLUSTER
             "\"} |= \"%s\" "
             "[%llds]))",
             needle, range_s);
    run_query(h, srv.base, "/loki/api/v1/query", q, extra, &q_needle);
    printf(
        "  needle: %s\n    triad %lld entries, median %.2f ms (%.2f - %.2f); "
        "grep -F -c %lld lines, median %.1f ms (%.1f - %.1f)\n",
        q, q_needle.value, q_needle.med_s * 1e3, q_needle.min_s * 1e3,
        q_needle.max_s * 1e3, gc_needle, g_n_med * 1e3, g_n_min * 1e3,
        g_n_max * 1e3);
    snprintf(q, sizeof q,
             "sum(count_over_time({cluster=\"" CLUSTER "\"} |= \"" TOKEN
             "\" [%llds]))",
             range_s);
    run_query(h, srv.base, "/loki/api/v1/query", q, extra, &q_token);
    printf(
        "  token: %s\n    triad %lld entries, median %.1f ms (%.1f - %.1f); "
        "grep -F -c %lld lines, median %.1f ms (%.1f - %.1f)\n",
        q, q_token.value, q_token.med_s * 1e3, q_token.min_s * 1e3,
        q_token.max_s * 1e3, gc_token, g_t_med * 1e3, g_t_min * 1e3,
        g_t_max * 1e3);
    if (!q_needle.ok || !q_token.ok || gc_needle < 1 ||
        q_needle.value != gc_needle || q_token.value != gc_token ||
        gc_token != g.token_lines) {
        fprintf(stderr,
                "COUNTS DIFFER: needle triad %lld grep %lld; token triad "
                "%lld grep %lld generated %lld\n",
                q_needle.value, gc_needle, q_token.value, gc_token,
                g.token_lines);
        failed = 1;
    }
    snprintf(extra, sizeof extra, "start=%lld&end=%lld&step=15",
             (long long)tq - 3600, (long long)tq);
    const char *qj =
        "sum by (level) (count_over_time({namespace=\"shop\"} | json [5m]))";
    run_query(h, srv.base, "/loki/api/v1/query_range", qj, extra, &q_json);
    printf(
        "  %s over the last 1 h (step 15 s):\n    %d series, median %.1f "
        "ms (%.1f - %.1f)\n",
        qj, q_json.series, q_json.med_s * 1e3, q_json.min_s * 1e3,
        q_json.max_s * 1e3);
    if (!q_json.ok)
        failed = 1;
    curl_easy_cleanup(h);
    /* 4b. sealing: the clock moves 3 days on, past the windows' end plus the
     * logs' 24 h grace; then the data dir again after a graceful stop */
    double t_seal = mono_s();
    clock_advance(srv.base, "3d");
    double seal_s = wait_sealed(
        srv.base, "logs",
        fake_clock_ms / BENCH_DAY_MS * BENCH_DAY_MS + BENCH_DAY_MS, t_seal);
    /* the whole data dir once the sealed groups' logs are gone */
    wait_retired(srv.base, "logs",
                 fake_clock_ms / BENCH_DAY_MS * BENCH_DAY_MS + BENCH_DAY_MS,
                 t_seal);
    stop_pid(srv.pid);
    srv.pid = 0;
    long long sealed_alloc = 0, sealed_app = 0;
    disk_usage(srv.data, &sealed_alloc, &sealed_app);
    printf(
        "sealing: every logs window sealed %.2f s after the clock moved "
        "3 d on; disk, whole data dir after the stop: %.1f MiB allocated "
        "= %.4f bytes per raw byte (before sealing %.1f MiB = %.4f)\n",
        seal_s, mib(sealed_alloc), (double)sealed_alloc / (double)raw_bytes,
        mib(disk_alloc), (double)disk_alloc / (double)raw_bytes);

    /* 5. the table */
    {
        char a[64], b[64];
        double r;
        printf(
            "\nlogs benchmark, %.1f MiB raw (seed %llu), triad vs "
            "baselines measured in this run:\n",
            mib(raw_bytes), (unsigned long long)cfg.seed);
        printf("  %-28s %-16s %-24s %-9s %-18s %s\n", "metric", "triad",
               "baseline", "ratio", "target", "ok");
        snprintf(a, sizeof a, "%.2f", cpu_all / gb);
        row("ingest CPU s/GB (+stop)", a, "Loki ~600-2,500", -1,
            "<= 20 CPU s/GB", cpu_all / gb <= 20);
        snprintf(a, sizeof a, "%.2f", cpu_push / gb);
        row("ingest CPU s/GB (push)", a, "", -1, "", -1);
        snprintf(a, sizeof a, "%.1f MiB", mib(disk_alloc));
        snprintf(b, sizeof b, "%.1f MiB zstd -3", mib(zsize));
        r = (double)disk_alloc / (double)zsize;
        row("disk, whole data dir", a, b, r, "<= 1.0x", r <= 1.0);
        snprintf(a, sizeof a, "%.2f ms", q_needle.med_s * 1e3);
        snprintf(b, sizeof b, "%.1f ms grep -F -c", g_n_med * 1e3);
        r = q_needle.med_s / g_n_med;
        row("needle (1 trace id)", a, b, r, "<= 0.05x", r <= 0.05);
        snprintf(a, sizeof a, "%.1f ms", q_token.med_s * 1e3);
        snprintf(b, sizeof b, "%.1f ms grep -F -c", g_t_med * 1e3);
        r = q_token.med_s / g_t_med;
        row("token (~1% of lines)", a, b, r, "<= 1.5x", r <= 1.5);
        snprintf(a, sizeof a, "%.1f ms", q_json.med_s * 1e3);
        row("json by level, 1 h", a, "", -1, "", -1);
        snprintf(a, sizeof a, "%.1f ms", q_all.med_s * 1e3);
        row("count all, whole range", a, "", -1, "", -1);
    }

out:
    if (srv.pid)
        stop_pid(srv.pid);
    munmap((void *)raw_map, (size_t)raw_bytes);
    close(fd);
    free(ents);
    if (cfg.keep)
        printf("kept %s\n", dir);
    else
        rm_rf(dir);
    curl_global_cleanup();
    return failed;
}
