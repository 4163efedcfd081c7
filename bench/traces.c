/* traces.c - traces benchmark: one triad node (RF=1) ingesting seeded
 * OTLP traces over gRPC, then trace-by-id reads (and TraceQL search when
 * the build serves it), each figure printed beside its target and beside
 * Tempo's published figures (no Tempo binary is available here, so Tempo
 * is not run).
 *
 * Data (deterministic from --seed; only the timestamps follow the clock):
 * traces of 5-50 spans (5 + a log-normal count, median ~17) through a
 * shop of 12 services (Java, Go, Node.js, Python, .NET) with 2-4 pods
 * each; every pod is one resource with the attributes an OTel SDK plus
 * the k8s and cloud detectors set (service.name, service.namespace,
 * service.version, service.instance.id, deployment.environment.name,
 * telemetry.sdk.*, process.runtime.*, process.pid, host.name, host.arch,
 * os.type, k8s.cluster/namespace/deployment/pod/node names, cloud.*).
 * A trace starts at an HTTP server span of the frontend or the API
 * gateway (http.request.method, http.route, url.path with an id in the
 * route's template, http.response.status_code, user_agent.original, ...)
 * and fans out along a call graph: HTTP and gRPC calls (a client span in
 * the caller, a server span in the callee; rpc.system/service/method,
 * rpc.grpc.status_code), database calls (db.system postgresql, mysql,
 * mongodb, redis; db.statement from a small set per system), Kafka
 * produce/consume (messaging.* ; the consumer's span is a child of the
 * producer's, after it), calls to external APIs, internal spans; until the
 * trace has its drawn size. Instrumentation scopes as the SDKs name them.
 * Span ids (64 bits) and trace ids (128 bits) are random from the seeded
 * PRNG (splitmix64), as SDKs make them. Durations are log-normal per kind
 * (root median 60 ms, sigma 1.0: a few traces above 1 s; external calls
 * median 150 ms), a child inside its parent. About 2 % of the spans have
 * status ERROR (HTTP 5xx, gRPC 13/14/4, database exceptions), most of them
 * with an "exception" event; Go gRPC spans carry otelgrpc's "message"
 * events, a few percent of spans a log event. Trace start times spread
 * over the 50 minutes before the run, in order.
 *
 * Sending, as a Collector's batch processor does: whole traces are
 * gathered until a request holds 100-300 spans (drawn per request), then
 * encoded as one ExportTraceServiceRequest (bench/lib/otlp.h) grouped by
 * resource and scope, and exported with gRPC TraceService/Export over one
 * h2c connection (bench/lib/h2c.h, nghttp2) to the API port (--http-addr)
 * with --streams concurrent streams (default 8). An export succeeds on
 * :status 200, grpc-status 0 in the trailers and no rejected spans in the
 * response's partial_success.
 *
 * Server: build/triad serve with a temp --data-dir, free 127.0.0.1 ports,
 * --limits.traces-ingestion-rate 0 (Tempo's default 15 MB/s per tenant
 * would throttle a benchmark), other settings default.
 *
 * Measured: spans/s (acknowledged spans / wall time from the first export
 * to the last answer; the client shares the 2 cores); server CPU from
 * /proc/PID/stat over the ingest, and over ingest + graceful stop (SIGTERM,
 * wait4's rusage) per million spans; peak RSS; bytes per span of the whole
 * data dir after the stop (allocated bytes, as du counts). The server is
 * then started again on the data dir and, once idle: GET
 * /api/traces/<32 hex> with Accept: application/protobuf for --reads
 * random present trace ids (span count checked against what was sent) and
 * --reads random absent ids (404 expected), one keep-alive connection,
 * p50/p99/max; and, when GET /api/search answers 200, TraceQL search
 * (median of 10 after a warm-up) for
 *   { resource.service.name = "checkout" && status = error }
 *   { duration > 1s }
 *   { resource.service.name = "no-such-service" }      (matches nothing)
 * otherwise "search: not available on this build".
 *
 * Targets (reported, not asserted): <= 10 server CPU s per million spans
 * (ingest + stop), <= 40 bytes/span on disk, trace-by-id p99 <= 10 ms,
 * no-match search <= 100 ms.
 *
 * Usage: build/bench/traces [--spans N] [--seed S] [--streams N]
 *          [--reads N] [--triad PATH] [--perf FILE] [--keep]
 *          [--reads-only DIR]
 * --keep keeps /tmp/bench-traces-* (data dir, server log); --reads-only DIR
 * (such a kept dir, with the same --spans and --seed) skips the ingest:
 * the data set is generated again (not sent) to know the ids, and only
 * the reads run against DIR/data.
 * --perf FILE runs `perf record -F 499 --call-graph dwarf,16384 -p <triad
 * pid> -o FILE` during the ingest (DWARF unwinding: the release build has
 * no frame pointers; the sampling overhead lands in that run's CPU
 * figures).
 * Environment: BENCH_SPANS, BENCH_SEED, TRIAD_BIN. Exit status: 0 when the
 * run completed (targets are reported), 1 when the server did not start,
 * an export failed or a read answered wrong. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/lib/datagen.h"
#include "bench/lib/h2c.h"
#include "bench/lib/otlp.h"
#include "bench/lib/proc.h"
#include "bench/lib/sealing.h"

#define MAX_TRACE_SPANS 50
#define MAX_REQ_SPANS 400 /* 300 + one trace */
#define MAX_ATTRS 16
#define MAX_EVENTS 2
#define MAX_EV_ATTRS 4
#define ARENA_SIZE (4 << 20)
#define MAX_STREAMS 64
#define MAX_ERRORS_SHOWN 5
#define SEARCH_REPS 10
#define EXPORT_PATH \
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

struct cfg {
    long long spans;
    uint64_t seed;
    int streams;
    long reads;
    const char *triad_bin;
    const char *perf_out;
    const char *reuse; /* --reads-only DIR */
    int keep;
};

static struct cfg cfg = {10000000, 42, 8, 1000, "build/triad", NULL, NULL, 0};

/* ---- PRNG (splitmix64) ---------------------------------------------------
 */

static uint64_t rs;

static uint64_t rnd(void)
{
    uint64_t z = (rs += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned rn(unsigned n)
{
    return (unsigned)(rnd() % n);
}

static double unif(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

static int chance(double p)
{
    return unif() < p;
}

/* log-normal with the given median and sigma */
static double lognorm(double median, double sigma)
{
    double u1 = unif(), u2 = unif();
    if (u1 < 1e-300)
        u1 = 1e-300;
    double z = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
    return median * exp(sigma * z);
}

static void rnd_bytes(uint8_t *p, size_t n)
{
    while (n) {
        uint64_t x = rnd();
        for (int i = 0; i < 8 && n; i++, n--) {
            *p++ = (uint8_t)x;
            x >>= 8;
        }
    }
}

static void nonzero_id(uint8_t *p, size_t n)
{
    for (;;) {
        rnd_bytes(p, n);
        for (size_t i = 0; i < n; i++)
            if (p[i])
                return;
    }
}

/* ---- per-request string arena -------------------------------------------
 */

static char arena[ARENA_SIZE];
static size_t arena_used;

static const char *astr(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static const char *astr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(arena + arena_used, ARENA_SIZE - arena_used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= ARENA_SIZE - arena_used)
        die("string arena full");
    const char *s = arena + arena_used;
    arena_used += (size_t)n + 1;
    return s;
}

/* route with its first "{...}" replaced by id: "/api/v1/products/4711" */
static const char *fill_route(const char *route, unsigned id)
{
    const char *a = strchr(route, '{'), *b = a ? strchr(a, '}') : NULL;
    if (!a || !b)
        return route;
    return astr("%.*s%u%s", (int)(a - route), route, id, b + 1);
}

/* ---- the shop: languages, services, pods, endpoints ---------------------
 */

enum lang { L_JAVA, L_GO, L_NODE, L_PY, L_DOTNET };
enum cat {
    C_HTTP_SRV,
    C_HTTP_CLI,
    C_RPC_SRV,
    C_RPC_CLI,
    C_DB,
    C_CACHE,
    C_MSG,
    C_INTERNAL,
    N_CAT
};

static const struct lang_def {
    const char *sdk_lang, *sdk_version, *rt_name, *rt_version, *scope_version;
    const char *scope[N_CAT]; /* NULL: the service's name (manual spans) */
} langs[] = {
    [L_JAVA] = {"java",
                "1.45.0",
                "OpenJDK Runtime Environment",
                "21.0.5+11-LTS",
                "2.11.0-alpha",
                {"io.opentelemetry.tomcat-10.0",
                 "io.opentelemetry.java-http-client",
                 "io.opentelemetry.grpc-1.6", "io.opentelemetry.grpc-1.6",
                 "io.opentelemetry.jdbc", "io.opentelemetry.lettuce-5.1",
                 "io.opentelemetry.kafka-clients-2.6", NULL}},
    [L_GO] = {"go",
              "1.33.0",
              "go",
              "go1.23.4",
              "0.58.0",
              {"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
               "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
               "go.opentelemetry.io/contrib/instrumentation/google.golang.org/"
               "grpc/otelgrpc",
               "go.opentelemetry.io/contrib/instrumentation/google.golang.org/"
               "grpc/otelgrpc",
               "github.com/XSAM/otelsql",
               "github.com/redis/go-redis/extra/redisotel",
               "github.com/IBM/sarama/otelsarama", NULL}},
    [L_NODE] = {"nodejs",
                "1.30.0",
                "nodejs",
                "22.12.0",
                "0.57.0",
                {"@opentelemetry/instrumentation-http",
                 "@opentelemetry/instrumentation-undici",
                 "@opentelemetry/instrumentation-grpc",
                 "@opentelemetry/instrumentation-grpc",
                 "@opentelemetry/instrumentation-pg",
                 "@opentelemetry/instrumentation-ioredis",
                 "@opentelemetry/instrumentation-kafkajs", NULL}},
    [L_PY] = {"python",
              "1.29.0",
              "cpython",
              "3.12.8",
              "0.50b0",
              {"opentelemetry.instrumentation.flask",
               "opentelemetry.instrumentation.requests",
               "opentelemetry.instrumentation.grpc",
               "opentelemetry.instrumentation.grpc",
               "opentelemetry.instrumentation.pymongo",
               "opentelemetry.instrumentation.redis",
               "opentelemetry.instrumentation.confluent_kafka", NULL}},
    [L_DOTNET] = {"dotnet",
                  "1.10.0",
                  ".NET",
                  "9.0.0",
                  "1.10.0",
                  {"OpenTelemetry.Instrumentation.AspNetCore",
                   "System.Net.Http",
                   "OpenTelemetry.Instrumentation.AspNetCore",
                   "OpenTelemetry.Instrumentation.GrpcNetClient",
                   "OpenTelemetry.Instrumentation.SqlClient",
                   "OpenTelemetry.Instrumentation.StackExchangeRedis",
                   "Confluent.Kafka.Extensions.OpenTelemetry", NULL}},
};

enum db { DB_NONE, DB_PG, DB_MYSQL, DB_MONGO };

enum svc_id {
    S_FRONTEND,
    S_GATEWAY,
    S_CHECKOUT,
    S_CART,
    S_CATALOG,
    S_PAYMENTS,
    S_USERS,
    S_INVENTORY,
    S_ORDERS,
    S_NOTIF,
    S_RECO,
    S_SHIPPING,
    N_SVC
};

static const struct svc {
    const char *name, *ns, *version;
    enum lang lang;
    int pods;
    enum db db;
    int cache; /* uses redis */
} svcs[N_SVC] = {
    [S_FRONTEND] = {"frontend", "shop", "2.3.1", L_NODE, 4, DB_NONE, 1},
    [S_GATEWAY] = {"api-gateway", "platform", "1.19.4", L_GO, 3, DB_NONE, 1},
    [S_CHECKOUT] = {"checkout", "shop", "4.2.0", L_JAVA, 4, DB_PG, 0},
    [S_CART] = {"cart", "shop", "1.8.7", L_DOTNET, 3, DB_NONE, 1},
    [S_CATALOG] = {"catalog", "shop", "3.0.2", L_PY, 4, DB_MONGO, 1},
    [S_PAYMENTS] = {"payments", "shop", "2.11.0", L_GO, 3, DB_PG, 0},
    [S_USERS] = {"users", "shop", "1.4.3", L_JAVA, 2, DB_PG, 1},
    [S_INVENTORY] = {"inventory", "backoffice", "5.1.0", L_JAVA, 2, DB_MYSQL,
                     0},
    [S_ORDERS] = {"orders-worker", "backoffice", "4.2.0", L_JAVA, 3, DB_PG, 0},
    [S_NOTIF] = {"notifications", "backoffice", "0.9.12", L_PY, 2, DB_NONE, 0},
    [S_RECO] = {"recommendation", "shop", "1.2.0", L_PY, 2, DB_NONE, 1},
    [S_SHIPPING] = {"shipping", "shop", "1.6.5", L_GO, 2, DB_NONE, 0},
};

enum ep_type { EP_HTTP, EP_RPC, EP_CONSUMER, EP_EXTERNAL };

/* An endpoint: what a server span of svc serves (or, EP_EXTERNAL, a
 * third-party API called over HTTPS: only the client span). calls: the
 * endpoints it may call (-1 ends). */
struct ep {
    int svc;
    enum ep_type type;
    const char *method; /* HTTP method, or the RPC method */
    const char *route;  /* HTTP route, RPC service, topic, or external URL */
    int calls[6];
    const char *produces; /* Kafka topic it may publish to */
};

enum ep_id {
    E_FE_HOME,
    E_FE_PRODUCT,
    E_FE_CART,
    E_FE_CHECKOUT,
    E_GW_PRODUCTS,
    E_GW_PRODUCT,
    E_GW_ORDER_POST,
    E_GW_ORDER_GET,
    E_GW_USER_ORDERS,
    E_CHECKOUT_PLACE,
    E_CART_GET,
    E_CART_ADD,
    E_CART_EMPTY,
    E_CATALOG_GET,
    E_CATALOG_LIST,
    E_CATALOG_SEARCH,
    E_PAY_CHARGE,
    E_USERS_GET,
    E_USERS_ORDERS,
    E_INV_GET,
    E_INV_RESERVE,
    E_ORDERS_CONSUME,
    E_NOTIF_CONSUME,
    E_RECO_LIST,
    E_SHIP_QUOTE,
    E_SHIP_SHIP,
    E_X_STRIPE,
    E_X_SENDGRID,
    E_X_CARRIER,
    N_EP
};

static const struct ep eps[N_EP] = {
    [E_FE_HOME] = {S_FRONTEND,
                   EP_HTTP,
                   "GET",
                   "/",
                   {E_CATALOG_LIST, E_RECO_LIST, E_CART_GET, -1},
                   NULL},
    [E_FE_PRODUCT] = {S_FRONTEND,
                      EP_HTTP,
                      "GET",
                      "/product/{id}",
                      {E_CATALOG_GET, E_RECO_LIST, E_CART_GET, E_INV_GET, -1},
                      NULL},
    [E_FE_CART] = {S_FRONTEND,
                   EP_HTTP,
                   "GET",
                   "/cart",
                   {E_CART_GET, E_CATALOG_GET, E_SHIP_QUOTE, -1},
                   NULL},
    [E_FE_CHECKOUT] = {S_FRONTEND,
                       EP_HTTP,
                       "POST",
                       "/cart/checkout",
                       {E_CHECKOUT_PLACE, E_USERS_GET, -1},
                       NULL},
    [E_GW_PRODUCTS] = {S_GATEWAY,
                       EP_HTTP,
                       "GET",
                       "/api/v1/products",
                       {E_CATALOG_LIST, E_CATALOG_SEARCH, -1},
                       NULL},
    [E_GW_PRODUCT] = {S_GATEWAY,
                      EP_HTTP,
                      "GET",
                      "/api/v1/products/{id}",
                      {E_CATALOG_GET, E_INV_GET, -1},
                      NULL},
    [E_GW_ORDER_POST] = {S_GATEWAY,
                         EP_HTTP,
                         "POST",
                         "/api/v1/orders",
                         {E_USERS_GET, E_CHECKOUT_PLACE, -1},
                         NULL},
    [E_GW_ORDER_GET] = {S_GATEWAY,
                        EP_HTTP,
                        "GET",
                        "/api/v1/orders/{orderId}",
                        {E_USERS_ORDERS, E_SHIP_QUOTE, -1},
                        NULL},
    [E_GW_USER_ORDERS] = {S_GATEWAY,
                          EP_HTTP,
                          "GET",
                          "/api/v1/users/{userId}/orders",
                          {E_USERS_GET, E_USERS_ORDERS, -1},
                          NULL},
    [E_CHECKOUT_PLACE] = {S_CHECKOUT,
                          EP_RPC,
                          "PlaceOrder",
                          "oteldemo.CheckoutService",
                          {E_CART_GET, E_INV_RESERVE, E_PAY_CHARGE,
                           E_SHIP_QUOTE, E_CART_EMPTY, -1},
                          "orders"},
    [E_CART_GET] =
        {S_CART, EP_RPC, "GetCart", "oteldemo.CartService", {-1}, NULL},
    [E_CART_ADD] =
        {S_CART, EP_RPC, "AddItem", "oteldemo.CartService", {-1}, NULL},
    [E_CART_EMPTY] =
        {S_CART, EP_RPC, "EmptyCart", "oteldemo.CartService", {-1}, NULL},
    [E_CATALOG_GET] = {S_CATALOG, EP_HTTP, "GET", "/products/{id}", {-1}, NULL},
    [E_CATALOG_LIST] = {S_CATALOG, EP_HTTP, "GET", "/products", {-1}, NULL},
    [E_CATALOG_SEARCH] = {S_CATALOG,
                          EP_HTTP,
                          "GET",
                          "/products/search",
                          {E_RECO_LIST, -1},
                          NULL},
    [E_PAY_CHARGE] = {S_PAYMENTS,
                      EP_RPC,
                      "Charge",
                      "oteldemo.PaymentService",
                      {E_X_STRIPE, -1},
                      "notifications"},
    [E_USERS_GET] = {S_USERS, EP_HTTP, "GET", "/users/{id}", {-1}, NULL},
    [E_USERS_ORDERS] =
        {S_USERS, EP_HTTP, "GET", "/users/{id}/orders", {-1}, NULL},
    [E_INV_GET] = {S_INVENTORY, EP_HTTP, "GET", "/inventory/{sku}", {-1}, NULL},
    [E_INV_RESERVE] =
        {S_INVENTORY, EP_HTTP, "POST", "/inventory/reserve", {-1}, NULL},
    [E_ORDERS_CONSUME] = {S_ORDERS,
                          EP_CONSUMER,
                          "process",
                          "orders",
                          {E_SHIP_SHIP, -1},
                          "notifications"},
    [E_NOTIF_CONSUME] = {S_NOTIF,
                         EP_CONSUMER,
                         "process",
                         "notifications",
                         {E_X_SENDGRID, -1},
                         NULL},
    [E_RECO_LIST] = {S_RECO,
                     EP_RPC,
                     "ListRecommendations",
                     "oteldemo.RecommendationService",
                     {E_CATALOG_LIST, -1},
                     NULL},
    [E_SHIP_QUOTE] = {S_SHIPPING,
                      EP_HTTP,
                      "POST",
                      "/shipping/quote",
                      {E_X_CARRIER, -1},
                      NULL},
    [E_SHIP_SHIP] = {S_SHIPPING,
                     EP_HTTP,
                     "POST",
                     "/shipping/ship",
                     {E_X_CARRIER, -1},
                     NULL},
    [E_X_STRIPE] = {S_PAYMENTS,
                    EP_EXTERNAL,
                    "POST",
                    "https://api.stripe.com/v1/payment_intents",
                    {-1},
                    NULL},
    [E_X_SENDGRID] = {S_NOTIF,
                      EP_EXTERNAL,
                      "POST",
                      "https://api.sendgrid.com/v3/mail/send",
                      {-1},
                      NULL},
    [E_X_CARRIER] = {S_SHIPPING,
                     EP_EXTERNAL,
                     "POST",
                     "https://api.carrier.example.com/v2/rates",
                     {-1},
                     NULL},
};

static const int roots[] = {E_FE_HOME,       E_FE_PRODUCT,     E_FE_PRODUCT,
                            E_FE_PRODUCT,    E_FE_CART,        E_FE_CHECKOUT,
                            E_GW_PRODUCTS,   E_GW_PRODUCT,     E_GW_PRODUCT,
                            E_GW_ORDER_POST, E_GW_ORDER_GET,   E_GW_USER_ORDERS,
                            E_FE_CART,       E_GW_USER_ORDERS, E_FE_HOME};
#define N_ROOTS (sizeof roots / sizeof roots[0])

static const struct stmt {
    enum db db;
    const char *op, *table, *text;
} stmts[] = {
    {DB_PG, "SELECT", "orders",
     "SELECT o.id, o.total_cents, o.status, o.created_at FROM orders o WHERE "
     "o.user_id = $1 ORDER BY o.created_at DESC LIMIT 20"},
    {DB_PG, "INSERT", "orders",
     "INSERT INTO orders (id, user_id, total_cents, currency, status) VALUES "
     "($1, $2, $3, $4, $5)"},
    {DB_PG, "UPDATE", "orders",
     "UPDATE orders SET status = $1, updated_at = now() WHERE id = $2"},
    {DB_PG, "SELECT", "users",
     "SELECT id, email, display_name, locale FROM users WHERE id = $1"},
    {DB_PG, "INSERT", "payments",
     "INSERT INTO payments (order_id, amount_cents, provider, provider_ref) "
     "VALUES ($1, $2, $3, $4)"},
    {DB_PG, "SELECT", "order_items",
     "SELECT sku, quantity, unit_price_cents FROM order_items WHERE order_id "
     "= $1"},
    {DB_MYSQL, "SELECT", "stock",
     "SELECT sku, warehouse_id, quantity FROM stock WHERE sku = ?"},
    {DB_MYSQL, "UPDATE", "stock",
     "UPDATE stock SET quantity = quantity - ? WHERE sku = ? AND quantity >= "
     "?"},
    {DB_MYSQL, "INSERT", "reservations",
     "INSERT INTO reservations (order_id, sku, quantity, expires_at) VALUES "
     "(?, ?, ?, ?)"},
    {DB_MONGO, "find", "products",
     "{\"find\": \"products\", \"filter\": {\"_id\": \"?\"}, \"limit\": 1}"},
    {DB_MONGO, "find", "products",
     "{\"find\": \"products\", \"filter\": {\"category\": \"?\", \"active\": "
     "true}, \"sort\": {\"rank\": 1}, \"limit\": 24}"},
    {DB_MONGO, "aggregate", "products",
     "{\"aggregate\": \"products\", \"pipeline\": [{\"$search\": {\"text\": "
     "{\"query\": \"?\", \"path\": \"name\"}}}, {\"$limit\": 24}]}"},
};
#define N_STMTS (sizeof stmts / sizeof stmts[0])

static const char *const redis_cmds[][2] = {
    {"GET", "GET product:?"},        {"HGETALL", "HGETALL cart:?"},
    {"SET", "SET session:? ? EX ?"}, {"MGET", "MGET price:? price:? price:?"},
    {"HSET", "HSET cart:? ? ?"},     {"EXPIRE", "EXPIRE cart:? ?"},
};

static const char *const internal_names[] = {
    "validate request", "serialize response", "apply promotions",
    "compute tax",      "render template",    "check feature flags",
    "resolve currency", "json.Marshal",       "load price rules",
    "build cache key",
};

static const char *const agents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) "
    "AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "okhttp/4.12.0",
    "shop-ios/5.14.0 (iPhone15,2; iOS 18.1)",
};

static const char *const err_msgs[][2] = {
    {"java.net.SocketTimeoutException", "Read timed out"},
    {"io.grpc.StatusRuntimeException", "UNAVAILABLE: upstream connect error"},
    {"org.postgresql.util.PSQLException",
     "ERROR: canceling statement due to statement timeout"},
    {"ConnectionResetError", "[Errno 104] Connection reset by peer"},
    {"context.deadlineExceededError", "context deadline exceeded"},
};

#define MAX_PODS 4
#define RES_ATTRS 22

struct pod {
    struct otlp_attr res[RES_ATTRS];
    char host[64], pod[64], iid[40], deploy[64];
};

static struct pod pods[N_SVC][MAX_PODS];

static void make_pods(void)
{
    static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
    static const char *const zones[] = {"eu-west-1a", "eu-west-1b",
                                        "eu-west-1c"};
    static char nodes[8][64];
    for (int n = 0; n < 8; n++)
        snprintf(nodes[n], sizeof nodes[n],
                 "ip-10-0-%u-%u.eu-west-1.compute.internal", 16 + rn(48),
                 1 + rn(254));
    for (int s = 0; s < N_SVC; s++) {
        const struct svc *v = &svcs[s];
        const struct lang_def *l = &langs[v->lang];
        unsigned rsh = (unsigned)rnd();
        for (int p = 0; p < v->pods; p++) {
            struct pod *d = &pods[s][p];
            int node = (int)rn(8);
            char suf[6];
            for (int k = 0; k < 5; k++)
                suf[k] = alnum[rn(sizeof alnum - 1)];
            suf[5] = 0;
            snprintf(d->pod, sizeof d->pod, "%s-%08x-%s", v->name, rsh, suf);
            snprintf(d->host, sizeof d->host, "%s", nodes[node]);
            snprintf(d->deploy, sizeof d->deploy, "%s", v->name);
            uint8_t u[16];
            rnd_bytes(u, 16);
            snprintf(d->iid, sizeof d->iid,
                     "%02x%02x%02x%02x-%02x%02x-4%x%02x-%x%x%02x-"
                     "%02x%02x%02x%02x%02x%02x",
                     u[0], u[1], u[2], u[3], u[4], u[5], u[6] & 15, u[7],
                     8 | (u[8] & 3), u[8] >> 4, u[9], u[10], u[11], u[12],
                     u[13], u[14], u[15]);
            struct otlp_attr a[RES_ATTRS] = {
                {"service.name", OV_STR, v->name, 0, 0},
                {"service.namespace", OV_STR, v->ns, 0, 0},
                {"service.version", OV_STR, v->version, 0, 0},
                {"service.instance.id", OV_STR, d->iid, 0, 0},
                {"deployment.environment.name", OV_STR, "production", 0, 0},
                {"telemetry.sdk.name", OV_STR, "opentelemetry", 0, 0},
                {"telemetry.sdk.language", OV_STR, l->sdk_lang, 0, 0},
                {"telemetry.sdk.version", OV_STR, l->sdk_version, 0, 0},
                {"process.runtime.name", OV_STR, l->rt_name, 0, 0},
                {"process.runtime.version", OV_STR, l->rt_version, 0, 0},
                {"process.pid", OV_INT, NULL, 1 + rn(64), 0},
                {"host.name", OV_STR, d->pod, 0, 0},
                {"host.arch", OV_STR, "amd64", 0, 0},
                {"os.type", OV_STR, "linux", 0, 0},
                {"k8s.cluster.name", OV_STR, "prod-eu-west-1", 0, 0},
                {"k8s.namespace.name", OV_STR, v->ns, 0, 0},
                {"k8s.deployment.name", OV_STR, d->deploy, 0, 0},
                {"k8s.pod.name", OV_STR, d->pod, 0, 0},
                {"k8s.node.name", OV_STR, d->host, 0, 0},
                {"cloud.provider", OV_STR, "aws", 0, 0},
                {"cloud.region", OV_STR, "eu-west-1", 0, 0},
                {"cloud.availability_zone", OV_STR, zones[node % 3], 0, 0},
            };
            memcpy(d->res, a, sizeof a);
        }
    }
}

/* ---- traces --------------------------------------------------------------
 */

struct gspan {
    struct otlp_span sp;
    int svc, pod; /* the resource */
    enum cat cat; /* the scope */
    int ep;       /* for server / consumer spans: the endpoint; else -1 */
    struct otlp_attr attrs[MAX_ATTRS];
    struct otlp_event events[MAX_EVENTS];
    struct otlp_attr ev_attrs[MAX_EVENTS][MAX_EV_ATTRS];
};

/* the request being gathered */
static struct gspan req[MAX_REQ_SPANS];
static int n_req;

/* What was sent, per trace (for the reads and the search figures). */
struct tinfo {
    uint8_t id[16];
    uint8_t spans;
    uint8_t flags; /* 1: a checkout span with error, 2: a span > 1 s */
};
static struct tinfo *traces;
static size_t n_traces, cap_traces;

/* figures of the data set */
static struct {
    long long spans, errors, events, over_1s, kinds[6];
    long long q_checkout_err, q_over_1s; /* traces that match */
    uint64_t first_ns, last_ns;
} gs;

static uint64_t t_begin_ns;          /* first trace start */
static const double spread_s = 3000; /* trace starts over 50 minutes */

static struct gspan *new_span(const struct gspan *parent,
                              int svc,
                              enum cat cat,
                              int kind,
                              const char *name,
                              uint64_t start,
                              uint64_t dur)
{
    struct gspan *g = &req[n_req++];
    memset(&g->sp, 0, sizeof g->sp);
    g->svc = svc;
    g->cat = cat;
    g->ep = -1;
    if (parent) {
        memcpy(g->sp.trace_id, parent->sp.trace_id, 16);
        memcpy(g->sp.parent_id, parent->sp.span_id, 8);
        g->sp.has_parent = true;
        g->pod = parent->svc == svc ? parent->pod
                                    : (int)rn((unsigned)svcs[svc].pods);
    } else {
        g->pod = (int)rn((unsigned)svcs[svc].pods);
    }
    nonzero_id(g->sp.span_id, 8);
    g->sp.name = name;
    g->sp.kind = kind;
    g->sp.start_ns = start;
    g->sp.end_ns = start + (dur ? dur : 1000);
    g->sp.flags = 0x101; /* sampled, has-is-remote: not remote */
    g->sp.attrs = g->attrs;
    g->sp.events = g->events;
    return g;
}

static void attr_s(struct gspan *g, const char *k, const char *v)
{
    if (g->sp.n_attrs < MAX_ATTRS)
        g->attrs[g->sp.n_attrs++] = (struct otlp_attr){k, OV_STR, v, 0, 0};
}

static void attr_i(struct gspan *g, const char *k, int64_t v)
{
    if (g->sp.n_attrs < MAX_ATTRS)
        g->attrs[g->sp.n_attrs++] = (struct otlp_attr){k, OV_INT, NULL, v, 0};
}

static struct otlp_attr *event(struct gspan *g, const char *name, uint64_t t)
{
    if (g->sp.n_events >= MAX_EVENTS)
        return NULL;
    size_t e = g->sp.n_events++;
    g->events[e] = (struct otlp_event){t, name, g->ev_attrs[e], 0};
    return g->ev_attrs[e];
}

static void ev_attr(struct gspan *g,
                    const char *k,
                    enum otlp_vtype t,
                    const char *s,
                    int64_t i)
{
    struct otlp_event *e = &g->events[g->sp.n_events - 1];
    if (e->n_attrs < MAX_EV_ATTRS)
        g->ev_attrs[g->sp.n_events - 1][e->n_attrs++] =
            (struct otlp_attr){k, t, s, i, 0};
}

static uint64_t dur_ns(double median_ms, double sigma)
{
    double d = lognorm(median_ms, sigma) * 1e6;
    if (d < 2000)
        d = 2000;
    if (d > 60e9)
        d = 60e9;
    return (uint64_t)d;
}

/* a child's start and duration inside its parent */
static void fit(const struct gspan *p, uint64_t *start, uint64_t *dur)
{
    uint64_t pd = p->sp.end_ns - p->sp.start_ns;
    uint64_t cap = pd - pd / 20;
    if (*dur > cap)
        *dur = cap ? cap : 1;
    *start = p->sp.start_ns + (uint64_t)(unif() * (double)(pd - *dur));
}

/* marks g as failed: status, the kind's attributes, an exception event */
static void fail(struct gspan *g, int http)
{
    unsigned e = rn(sizeof err_msgs / sizeof err_msgs[0]);
    g->sp.status_code = 2;
    g->sp.status_msg = err_msgs[e][1];
    if (http)
        attr_s(g, "error.type",
               http >= 500 ? astr("%d", http) : err_msgs[e][0]);
    else
        attr_s(g, "error.type", err_msgs[e][0]);
    if (chance(0.8) && event(g, "exception", g->sp.end_ns - 1000)) {
        ev_attr(g, "exception.type", OV_STR, err_msgs[e][0], 0);
        ev_attr(g, "exception.message", OV_STR, err_msgs[e][1], 0);
        ev_attr(g, "exception.stacktrace", OV_STR,
                astr("%s: %s\n\tat %s.handle(%s.java:%u)\n\tat "
                     "io.opentelemetry.shop.Server.dispatch(Server.java:%u)",
                     err_msgs[e][0], err_msgs[e][1], svcs[g->svc].name,
                     svcs[g->svc].name, 40 + rn(400), 100 + rn(200)),
                0);
    }
}

static const char *client_ip(void)
{
    return astr("10.%u.%u.%u", 1 + rn(3), rn(256), 1 + rn(254));
}

/* HTTP or gRPC server span (or a consumer's) of endpoint e under parent */
static struct gspan *server_span(const struct gspan *parent,
                                 int e,
                                 uint64_t start,
                                 uint64_t dur,
                                 int root)
{
    const struct ep *x = &eps[e];
    struct gspan *g;
    int err = chance(0.02);
    if (x->type == EP_HTTP) {
        g = new_span(parent, x->svc, C_HTTP_SRV, 2,
                     astr("%s %s", x->method, x->route), start, dur);
        int code = strcmp(x->method, "POST") == 0 ? 201 : 200;
        if (err)
            code = 500 + (int)rn(4);
        else if (strchr(x->route, '{') && chance(0.02))
            code = 404;
        attr_s(g, "http.request.method", x->method);
        attr_s(g, "http.route", x->route);
        attr_s(g, "url.path", fill_route(x->route, 1000 + rn(99000)));
        if (strstr(x->route, "search"))
            attr_s(g, "url.query",
                   astr("q=item%u&page=%u", rn(500), 1 + rn(3)));
        attr_s(g, "url.scheme", root ? "https" : "http");
        attr_i(g, "http.response.status_code", code);
        attr_s(g, "server.address",
               root ? "shop.example.com" : svcs[x->svc].name);
        attr_i(g, "server.port", root ? 443 : 8080);
        attr_s(g, "network.protocol.version", root ? "2" : "1.1");
        attr_s(g, "client.address", client_ip());
        if (root)
            attr_s(g, "user_agent.original",
                   agents[rn(sizeof agents / sizeof agents[0])]);
        if (err)
            fail(g, code);
    } else if (x->type == EP_RPC) {
        g = new_span(parent, x->svc, C_RPC_SRV, 2,
                     astr("%s/%s", x->route, x->method), start, dur);
        attr_s(g, "rpc.system", "grpc");
        attr_s(g, "rpc.service", x->route);
        attr_s(g, "rpc.method", x->method);
        attr_i(g, "rpc.grpc.status_code", err ? (rn(2) ? 14 : 13) : 0);
        attr_s(g, "server.address", svcs[x->svc].name);
        attr_i(g, "server.port", 50051);
        attr_s(g, "client.address", client_ip());
        if (err)
            fail(g, 0);
    } else {
        g = new_span(parent, x->svc, C_MSG, 5, astr("%s process", x->route),
                     start, dur);
        attr_s(g, "messaging.system", "kafka");
        attr_s(g, "messaging.operation.type", "process");
        attr_s(g, "messaging.destination.name", x->route);
        attr_s(g, "messaging.consumer.group.name", svcs[x->svc].name);
        attr_i(g, "messaging.destination.partition.id", rn(12));
        attr_i(g, "messaging.kafka.message.offset",
               (int64_t)(rnd() % 90000000) + 1000000);
        attr_s(g, "messaging.kafka.message.key",
               astr("order-%u", rn(10000000)));
        if (err)
            fail(g, 0);
    }
    g->ep = e;
    if (svcs[x->svc].lang == L_GO && x->type == EP_RPC && chance(0.5)) {
        if (event(g, "message", g->sp.start_ns + 20000)) {
            ev_attr(g, "message.type", OV_STR, "RECEIVED", 0);
            ev_attr(g, "message.id", OV_INT, NULL, 1);
            ev_attr(g, "message.uncompressed_size", OV_INT, NULL,
                    40 + rn(2000));
        }
        if (event(g, "message", g->sp.end_ns - 20000)) {
            ev_attr(g, "message.type", OV_STR, "SENT", 0);
            ev_attr(g, "message.id", OV_INT, NULL, 1);
            ev_attr(g, "message.uncompressed_size", OV_INT, NULL,
                    40 + rn(8000));
        }
    } else if (chance(0.04) &&
               event(g, "feature_flag.evaluation", g->sp.start_ns + 50000)) {
        ev_attr(g, "feature_flag.key", OV_STR,
                rn(2) ? "new-checkout-flow" : "recommendations-v2", 0);
        ev_attr(g, "feature_flag.variant", OV_STR, rn(3) ? "off" : "on", 0);
    }
    return g;
}

/* One operation of server span p: adds 1 or 2 spans (at most room). */
static void add_op(struct gspan *p, int room, struct gspan **queue, int *nq)
{
    const struct ep *x = &eps[p->ep];
    const struct svc *v = &svcs[p->svc];
    int calls = 0;
    while (calls < 6 && x->calls[calls] >= 0)
        calls++;
    for (int tries = 0; tries < 8; tries++) {
        unsigned what = rn(10);
        uint64_t start, d;
        if (what < 4 && calls > 0) { /* a call to another service */
            int e = x->calls[rn((unsigned)calls)];
            const struct ep *y = &eps[e];
            if (y->type != EP_EXTERNAL && room < 2)
                continue;
            d = dur_ns(y->type == EP_EXTERNAL ? 150 : 12, 1.0);
            fit(p, &start, &d);
            int err = chance(0.02);
            struct gspan *c;
            if (y->type == EP_RPC) {
                c = new_span(p, p->svc, C_RPC_CLI, 3,
                             astr("%s/%s", y->route, y->method), start, d);
                attr_s(c, "rpc.system", "grpc");
                attr_s(c, "rpc.service", y->route);
                attr_s(c, "rpc.method", y->method);
                attr_i(c, "rpc.grpc.status_code", err ? 4 : 0);
                attr_s(c, "server.address", svcs[y->svc].name);
                attr_i(c, "server.port", 50051);
            } else {
                int ext = y->type == EP_EXTERNAL;
                c = new_span(p, p->svc, C_HTTP_CLI, 3, y->method, start, d);
                attr_s(c, "http.request.method", y->method);
                attr_s(c, "url.full",
                       ext ? y->route
                           : astr("http://%s:8080%s", svcs[y->svc].name,
                                  fill_route(y->route, 1000 + rn(99000))));
                attr_s(c, "server.address",
                       ext ? astr("%.*s", (int)strcspn(y->route + 8, "/"),
                                  y->route + 8)
                           : svcs[y->svc].name);
                attr_i(c, "server.port", ext ? 443 : 8080);
                attr_i(c, "http.response.status_code",
                       err                         ? 504
                       : strcmp(y->method, "POST") ? 200
                                                   : 201);
                attr_s(c, "network.protocol.version", "1.1");
            }
            if (err)
                fail(c, y->type == EP_RPC ? 0 : 504);
            if (y->type != EP_EXTERNAL) {
                uint64_t net = 100000 + rn(400000);
                uint64_t sd = d > 3 * net ? d - 2 * net : d / 2;
                struct gspan *s =
                    server_span(c, e, c->sp.start_ns + net / 2, sd, 0);
                queue[(*nq)++] = s;
            }
            return;
        }
        if (what < 6 && v->db != DB_NONE) { /* a database query */
            unsigned k;
            do
                k = rn(N_STMTS);
            while (stmts[k].db != v->db);
            const struct stmt *q = &stmts[k];
            d = dur_ns(1.5, 1.1);
            fit(p, &start, &d);
            const char *dbname = v->db == DB_PG      ? "shop"
                                 : v->db == DB_MYSQL ? "inventory"
                                                     : "catalog";
            struct gspan *c =
                new_span(p, p->svc, C_DB, 3,
                         astr("%s %s.%s", q->op, dbname, q->table), start, d);
            attr_s(c, "db.system",
                   v->db == DB_PG      ? "postgresql"
                   : v->db == DB_MYSQL ? "mysql"
                                       : "mongodb");
            attr_s(c, "db.name", dbname);
            attr_s(c, "db.statement", q->text);
            attr_s(c, "db.operation", q->op);
            attr_s(c, "db.sql.table", q->table);
            attr_s(c, "server.address",
                   v->db == DB_PG      ? "shop-db.prod.internal"
                   : v->db == DB_MYSQL ? "inventory-db.prod.internal"
                                       : "catalog-mongo-0.catalog-mongo");
            attr_i(c, "server.port",
                   v->db == DB_PG      ? 5432
                   : v->db == DB_MYSQL ? 3306
                                       : 27017);
            if (chance(0.02))
                fail(c, 0);
            return;
        }
        if (what < 7 && v->cache) { /* redis */
            unsigned k = rn(sizeof redis_cmds / sizeof redis_cmds[0]);
            d = dur_ns(0.25, 0.7);
            fit(p, &start, &d);
            struct gspan *c =
                new_span(p, p->svc, C_CACHE, 3, redis_cmds[k][0], start, d);
            attr_s(c, "db.system", "redis");
            attr_s(c, "db.statement", redis_cmds[k][1]);
            attr_s(c, "db.operation", redis_cmds[k][0]);
            attr_i(c, "db.redis.database_index", 0);
            attr_s(c, "server.address", "redis-master.cache.svc");
            attr_i(c, "server.port", 6379);
            if (chance(0.02))
                fail(c, 0);
            else if (k == 0 && chance(0.3) &&
                     event(c, "cache miss", c->sp.end_ns - 1000))
                ev_attr(c, "cache.key.prefix", OV_STR, "product:", 0);
            return;
        }
        if (what < 8 && x->produces) { /* Kafka: producer, later consumer */
            if (room < 2)
                continue;
            d = dur_ns(2, 0.8);
            fit(p, &start, &d);
            struct gspan *c = new_span(
                p, p->svc, C_MSG, 4, astr("%s publish", x->produces), start, d);
            attr_s(c, "messaging.system", "kafka");
            attr_s(c, "messaging.operation.type", "publish");
            attr_s(c, "messaging.destination.name", x->produces);
            int part = (int)rn(12);
            attr_i(c, "messaging.destination.partition.id", part);
            attr_s(c, "messaging.client.id",
                   astr("%s-producer-1", svcs[p->svc].name));
            if (chance(0.02))
                fail(c, 0);
            int ce = strcmp(x->produces, "orders") == 0 ? E_ORDERS_CONSUME
                                                        : E_NOTIF_CONSUME;
            uint64_t lag = dur_ns(20, 1.2);
            struct gspan *s =
                server_span(c, ce, c->sp.end_ns + lag, dur_ns(30, 1.2), 0);
            queue[(*nq)++] = s;
            return;
        }
        if (what >= 8) { /* internal */
            d = dur_ns(0.8, 1.2);
            fit(p, &start, &d);
            struct gspan *c =
                new_span(p, p->svc, C_INTERNAL, 1,
                         internal_names[rn(sizeof internal_names /
                                           sizeof internal_names[0])],
                         start, d);
            attr_s(c, "code.namespace",
                   astr("shop.%s.handlers", svcs[p->svc].name));
            attr_s(c, "code.function", c->sp.name);
            if (chance(0.01))
                fail(c, 0);
            return;
        }
    }
    /* nothing else fits: an internal span */
    uint64_t start, d = dur_ns(0.8, 1.2);
    fit(p, &start, &d);
    struct gspan *c = new_span(p, p->svc, C_INTERNAL, 1, "process", start, d);
    attr_s(c, "code.function", "process");
}

/* Generates one trace into req; returns its span count. */
static int gen_trace(uint64_t start_ns)
{
    int target = 5 + (int)lognorm(12, 0.8);
    if (target > MAX_TRACE_SPANS)
        target = MAX_TRACE_SPANS;
    int first = n_req;
    struct gspan *queue[MAX_TRACE_SPANS];
    int nq = 0, qi = 0;
    uint8_t tid[16];
    nonzero_id(tid, 16);
    int e = roots[rn(N_ROOTS)];
    struct gspan *root = server_span(NULL, e, start_ns, dur_ns(60, 1.0), 1);
    memcpy(root->sp.trace_id, tid, 16); /* children copy it from here */
    queue[nq++] = root;
    while (n_req - first < target) {
        struct gspan *p;
        int ops = 1;
        if (qi < nq) {
            p = queue[qi++];
            ops = 1 + (int)rn(3);
        } else { /* the call graph is exhausted: more work in a server span */
            p = queue[rn((unsigned)nq)];
        }
        for (int o = 0; o < ops && n_req - first < target; o++)
            add_op(p, target - (n_req - first), queue, &nq);
    }
    struct tinfo ti;
    memset(&ti, 0, sizeof ti);
    memcpy(ti.id, tid, 16);
    int n = n_req - first;
    for (int i = first; i < n_req; i++) {
        struct gspan *g = &req[i];
        uint64_t d = g->sp.end_ns - g->sp.start_ns;
        gs.kinds[g->sp.kind]++;
        gs.events += (long long)g->sp.n_events;
        if (g->sp.status_code == 2) {
            gs.errors++;
            if (g->svc == S_CHECKOUT)
                ti.flags |= 1;
        }
        if (d > 1000000000ULL) {
            gs.over_1s++;
            ti.flags |= 2;
        }
        if (!gs.first_ns || g->sp.start_ns < gs.first_ns)
            gs.first_ns = g->sp.start_ns;
        if (g->sp.end_ns > gs.last_ns)
            gs.last_ns = g->sp.end_ns;
    }
    ti.spans = (uint8_t)n;
    gs.spans += n;
    gs.q_checkout_err += ti.flags & 1;
    gs.q_over_1s += (ti.flags >> 1) & 1;
    if (n_traces == cap_traces) {
        cap_traces = cap_traces ? 2 * cap_traces : 65536;
        traces = realloc(traces, cap_traces * sizeof *traces);
        if (!traces)
            die("out of memory");
    }
    traces[n_traces++] = ti;
    return n;
}

static int cmp_gspan(const void *a, const void *b)
{
    const struct gspan *x = *(const struct gspan *const *)a,
                       *y = *(const struct gspan *const *)b;
    int kx = (x->svc * MAX_PODS + x->pod) * N_CAT + (int)x->cat,
        ky = (y->svc * MAX_PODS + y->pod) * N_CAT + (int)y->cat;
    if (kx != ky)
        return kx - ky;
    return (x > y) - (x < y);
}

/* Gathers whole traces until 100-300 spans, encodes them into w as a gRPC
 * message (5-byte prefix + ExportTraceServiceRequest). Returns the span
 * count, 0 when everything was sent. */
static int gen_only; /* --reads-only: generate, do not encode */

static int next_request(struct pbw *w)
{
    static long long generated;
    if (generated >= cfg.spans)
        return 0;
    n_req = 0;
    arena_used = 0;
    int target = 100 + (int)rn(201);
    while (n_req < target && generated + n_req < cfg.spans) {
        double at = (double)(generated + n_req) / (double)cfg.spans * spread_s;
        gen_trace(t_begin_ns + (uint64_t)(at * 1e9) + rn(1000000));
    }
    generated += n_req;
    if (gen_only)
        return n_req;
    static struct gspan *order[MAX_REQ_SPANS];
    for (int i = 0; i < n_req; i++)
        order[i] = &req[i];
    qsort(order, (size_t)n_req, sizeof order[0], cmp_gspan);
    pbw_reset(w);
    b_put(&w->b, "\0\0\0\0\0", 5);
    int cur_res = -1, cur_scope = -1;
    for (int i = 0; i < n_req; i++) {
        const struct gspan *g = order[i];
        int res = g->svc * MAX_PODS + g->pod;
        if (res != cur_res) {
            if (cur_res >= 0) {
                otlp_ss_end(w);
                otlp_rs_end(w);
            }
            otlp_rs_begin(w, pods[g->svc][g->pod].res, RES_ATTRS);
            cur_res = res;
            cur_scope = -1;
        }
        if ((int)g->cat != cur_scope) {
            if (cur_scope >= 0)
                otlp_ss_end(w);
            const struct lang_def *l = &langs[svcs[g->svc].lang];
            const char *sc = l->scope[g->cat];
            otlp_ss_begin(w, sc ? sc : svcs[g->svc].name,
                          sc ? l->scope_version : svcs[g->svc].version);
            cur_scope = (int)g->cat;
        }
        otlp_span(w, &g->sp);
    }
    if (cur_res >= 0) {
        otlp_ss_end(w);
        otlp_rs_end(w);
    }
    size_t len = w->b.len - 5;
    uint8_t *p = (uint8_t *)w->b.p;
    p[0] = 0;
    p[1] = (uint8_t)(len >> 24);
    p[2] = (uint8_t)(len >> 16);
    p[3] = (uint8_t)(len >> 8);
    p[4] = (uint8_t)len;
    return n_req;
}

/* ---- the server ----------------------------------------------------------
 */

struct server {
    char data[300], log[300], http[64], cluster[64], base[96];
    int port;
    pid_t pid;
};

/* The node's clock stands (--debug.fake-clock) a few minutes after the
 * data set, so that its windows can be sealed at the end by moving it. */
static int64_t fake_clock_ms;

static int start_triad(struct server *s)
{
    char ready[128];
    char clock[40];
    if (fake_clock_ms == 0)
        fake_clock_ms = wall_ms() + 10 * 60 * 1000;
    rfc3339(fake_clock_ms, clock, sizeof clock);
    s->port = free_port();
    snprintf(s->http, sizeof s->http, "127.0.0.1:%d", s->port);
    snprintf(s->cluster, sizeof s->cluster, "127.0.0.1:%d", free_port());
    snprintf(s->base, sizeof s->base, "http://%s", s->http);
    snprintf(ready, sizeof ready, "http://%s/ready", s->http);
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
                    "--limits.traces-ingestion-rate",
                    "0",
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

/* ---- export --------------------------------------------------------------
 */

struct slot {
    struct pbw w;
    int spans;
    int busy;
    double t0;
};

static struct {
    struct slot slots[MAX_STREAMS];
    long requests, ok, failed, errors_shown;
    long long spans_sent, spans_ok, spans_rejected, bytes;
    double *lat;
    size_t n_lat, cap_lat;
} ex;

static void export_done(const struct h2c_result *r, void *ctx)
{
    (void)ctx;
    struct slot *s = r->ud;
    double dt = mono_s() - s->t0;
    if (ex.n_lat == ex.cap_lat) {
        ex.cap_lat = ex.cap_lat ? 2 * ex.cap_lat : 4096;
        ex.lat = realloc(ex.lat, ex.cap_lat * sizeof *ex.lat);
        if (!ex.lat)
            die("out of memory");
    }
    ex.lat[ex.n_lat++] = dt;
    char msg[256] = "";
    long rej = -1;
    if (r->body_len >= 5)
        rej =
            otlp_export_rejected(r->body + 5, r->body_len - 5, msg, sizeof msg);
    if (r->http_status == 200 && r->grpc_status == 0 && r->error_code == 0 &&
        rej == 0) {
        ex.ok++;
        ex.spans_ok += s->spans;
    } else {
        ex.failed++;
        if (rej > 0) {
            ex.spans_rejected += rej;
            ex.spans_ok += s->spans - rej;
        }
        if (ex.errors_shown++ < MAX_ERRORS_SHOWN)
            fprintf(stderr,
                    "  export failed: :status %d grpc-status %d (%s) stream "
                    "close %u, rejected %ld (%s)\n",
                    r->http_status, r->grpc_status, r->grpc_message,
                    r->error_code, rej, msg);
    }
    s->busy = 0;
}

/* Exports everything; returns the wall time from the first export to the
 * last answer, -1 on a connection failure. */
static double export_all(const struct server *srv)
{
    char err[256];
    struct h2c *c =
        h2c_connect("127.0.0.1", srv->port, export_done, NULL, err, sizeof err);
    if (!c) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    static const char *const hdrs[] = {
        "content-type", "application/grpc", "te",
        "trailers",     "user-agent",       "grpc-c-bench-traces/1.0"};
    double t0 = mono_s(), last_print = t0;
    int done = 0;
    for (;;) {
        while (!done && h2c_inflight(c) < cfg.streams) {
            struct slot *s = NULL;
            for (int i = 0; i < cfg.streams; i++)
                if (!ex.slots[i].busy) {
                    s = &ex.slots[i];
                    break;
                }
            if (!s)
                break;
            int n = next_request(&s->w);
            if (n == 0) {
                done = 1;
                break;
            }
            s->spans = n;
            s->busy = 1;
            s->t0 = mono_s();
            ex.requests++;
            ex.spans_sent += n;
            ex.bytes += (long long)s->w.b.len - 5;
            if (h2c_post(c, EXPORT_PATH, hdrs, 3, (const uint8_t *)s->w.b.p,
                         s->w.b.len, s) != 0)
                die("h2c_post failed");
        }
        if (done && h2c_inflight(c) == 0)
            break;
        if (h2c_pump(c, 1000, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            h2c_close(c);
            return -1;
        }
        double now = mono_s();
        if (now - last_print >= 10) {
            printf("  ... %lld spans acknowledged, %.0f spans/s\n", ex.spans_ok,
                   (double)ex.spans_ok / (now - t0));
            fflush(stdout);
            last_print = now;
        }
    }
    double t = mono_s() - t0;
    h2c_close(c);
    return t;
}

/* ---- reads ---------------------------------------------------------------
 */

/* GET url; the status (0 on a transport error), the body in *b. */
static long http_get(CURL *h,
                     const char *url,
                     struct curl_slist *hdrs,
                     struct body *b,
                     double *secs)
{
    b->len = 0;
    if (b->p)
        b->p[0] = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    double t0 = mono_s();
    CURLcode rc = curl_easy_perform(h);
    *secs = mono_s() - t0;
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* nearest-rank percentile of sorted v */
static double pct(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t k = (size_t)ceil(p / 100.0 * (double)n);
    if (k < 1)
        k = 1;
    return v[k - 1];
}

struct lat {
    double p50, p99, max;
    long ok, wrong;
};

static void hex_id(const uint8_t id[16], char out[33])
{
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", id[i]);
}

/* cfg.reads trace-by-id reads of present (absent = 0) or absent ids */
static void by_id(CURL *h, const struct server *srv, int absent, struct lat *l)
{
    struct curl_slist *hdrs =
        curl_slist_append(NULL, "Accept: application/protobuf");
    struct body b = {0};
    double *t = calloc((size_t)cfg.reads, sizeof *t);
    if (!t)
        die("out of memory");
    memset(l, 0, sizeof *l);
    for (long i = -1; i < cfg.reads; i++) { /* i = -1: warm-up, not timed */
        uint8_t id[16];
        long want = 0;
        if (absent) {
            nonzero_id(id, 16);
        } else {
            const struct tinfo *ti = &traces[rnd() % n_traces];
            memcpy(id, ti->id, 16);
            want = ti->spans;
        }
        char hex[33], url[200];
        hex_id(id, hex);
        snprintf(url, sizeof url, "%s/api/traces/%s", srv->base, hex);
        double s;
        long st = http_get(h, url, hdrs, &b, &s);
        int good;
        long got = -1;
        if (absent)
            good = st == 404;
        else {
            got =
                st == 200 ? otlp_count_spans((const uint8_t *)b.p, b.len) : -1;
            good = got == want;
        }
        if (i < 0)
            continue;
        t[i] = s;
        if (good)
            l->ok++;
        else if (l->wrong++ < MAX_ERRORS_SHOWN)
            fprintf(stderr,
                    "  trace %s: HTTP %ld, %ld spans (sent %ld) %.200s\n", hex,
                    st, got, want, absent && b.p ? b.p : "");
    }
    qsort(t, (size_t)cfg.reads, sizeof *t, dbl_cmp);
    l->p50 = pct(t, (size_t)cfg.reads, 50);
    l->p99 = pct(t, (size_t)cfg.reads, 99);
    l->max = t[cfg.reads - 1];
    free(t);
    free(b.p);
    curl_slist_free_all(hdrs);
}

struct sres {
    double med, max;
    long traces; /* "traceID" in the answer */
    long status;
};

static void search(CURL *h,
                   const struct server *srv,
                   const char *q,
                   struct sres *r)
{
    char *e = curl_easy_escape(h, q, 0);
    char url[1024];
    snprintf(url, sizeof url, "%s/api/search?q=%s&start=%llu&end=%llu&limit=20",
             srv->base, e, (unsigned long long)(gs.first_ns / 1000000000ULL),
             (unsigned long long)(gs.last_ns / 1000000000ULL + 1));
    curl_free(e);
    struct body b = {0};
    double t[SEARCH_REPS], s;
    memset(r, 0, sizeof *r);
    r->status = http_get(h, url, NULL, &b, &s);
    if (r->status != 200)
        goto out;
    for (const char *p = b.p; p && (p = strstr(p, "\"traceID\"")) != NULL; p++)
        r->traces++;
    for (int i = 0; i < SEARCH_REPS; i++) {
        r->status = http_get(h, url, NULL, &b, &t[i]);
        if (r->status != 200)
            goto out;
    }
    qsort(t, SEARCH_REPS, sizeof t[0], dbl_cmp);
    r->med = (t[SEARCH_REPS / 2 - 1] + t[SEARCH_REPS / 2]) / 2;
    r->max = t[SEARCH_REPS - 1];
out:
    free(b.p);
}

/* ---- main ----------------------------------------------------------------
 */

static void usage(void)
{
    fprintf(stderr,
            "usage: traces [--spans N] [--seed S] [--streams N] [--reads N]\n"
            "              [--triad PATH] [--perf FILE] [--keep]\n"
            "              [--reads-only DIR]\n");
    exit(2);
}

static void row(const char *metric,
                const char *triad,
                const char *target,
                int ok,
                const char *ref)
{
    printf("  %-34s %-22s %-16s %-4s %s\n", metric, triad, target,
           ok < 0 ? "-"
           : ok   ? "yes"
                  : "NO",
           ref);
}

int main(int argc, char **argv)
{
    bench_prog = "traces";
    if (getenv("BENCH_SPANS") && *getenv("BENCH_SPANS"))
        cfg.spans = strtoll(getenv("BENCH_SPANS"), NULL, 10);
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
        if (strcmp(a, "--spans") == 0)
            cfg.spans = (long long)strtod(v, NULL);
        else if (strcmp(a, "--seed") == 0)
            cfg.seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--streams") == 0)
            cfg.streams = atoi(v);
        else if (strcmp(a, "--reads") == 0)
            cfg.reads = strtol(v, NULL, 10);
        else if (strcmp(a, "--triad") == 0)
            cfg.triad_bin = v;
        else if (strcmp(a, "--perf") == 0)
            cfg.perf_out = v;
        else if (strcmp(a, "--reads-only") == 0)
            cfg.reuse = v;
        else
            usage();
        i++;
    }
    if (cfg.spans < 1000 || cfg.streams < 1 || cfg.streams > MAX_STREAMS ||
        cfg.reads < 1)
        usage();
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    char dir[] = "/tmp/bench-traces-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp: %s", strerror(errno));
    struct server srv;
    memset(&srv, 0, sizeof srv);
    snprintf(srv.data, sizeof srv.data, "%s/data", dir);
    snprintf(srv.log, sizeof srv.log, "%s/triad.log", dir);
    mkdir(srv.data, 0755);
    int failed = 0;

    rs = cfg.seed * 0x2545f4914f6cdd1dULL + 1;
    make_pods();
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    t_begin_ns = ((uint64_t)now.tv_sec - 3600) * 1000000000ULL;
    printf(
        "traces benchmark: seed %llu, %lld spans, %d concurrent gRPC "
        "streams, %d services / %d pods\n",
        (unsigned long long)cfg.seed, cfg.spans, cfg.streams, N_SVC,
        (int)(sizeof pods / sizeof pods[0][0]));

    /* 1. ingest (or, --reads-only, the data set again without sending) */
    double push_s = 0, cpu_push = 0, cpu_all = 0, mspans = 1;
    long long disk_alloc = 0;
    if (cfg.reuse) {
        snprintf(srv.data, sizeof srv.data, "%s/data", cfg.reuse);
        snprintf(srv.log, sizeof srv.log, "%s/triad-reads.log", cfg.reuse);
        gen_only = 1;
        while (next_request(NULL) > 0)
            ;
        printf(
            "reads only: %s, the data set generated again: %zu traces, "
            "%lld spans\n",
            srv.data, n_traces, gs.spans);
    } else {
        if (start_triad(&srv) != 0)
            die("triad did not start (log %s)", srv.log);
        printf("triad: pid %d on %s, data %s\n", (int)srv.pid, srv.http,
               srv.data);
        fflush(stdout);
        quiesce(srv.pid, 10);
        pid_t perf = 0;
        if (cfg.perf_out) {
            char pids[16];
            snprintf(pids, sizeof pids, "%d", (int)srv.pid);
            /* DWARF unwinding: build/triad has no frame pointers (-O2) */
            char *pargv[] = {"/usr/bin/perf",
                             "record",
                             "-F",
                             "499",
                             "--call-graph",
                             "dwarf,16384",
                             "-p",
                             pids,
                             "-o",
                             (char *)cfg.perf_out,
                             NULL};
            char plog[320];
            snprintf(plog, sizeof plog, "%s/perf.log", dir);
            perf = spawn(pargv, plog);
            sleep(1);
        }
        double cpu_before = cpu_seconds(srv.pid);
        push_s = export_all(&srv);
        cpu_push = cpu_seconds(srv.pid) - cpu_before;
        if (perf) {
            kill(perf, SIGINT);
            waitpid(perf, NULL, 0);
            printf("perf: %s (perf record -p %d during the ingest)\n",
                   cfg.perf_out, (int)srv.pid);
        }
        long hwm_kib = vm_status_kib(srv.pid, "VmHWM:");
        double cpu_life = 0, stop_s = 0;
        int st = stop_pid_measured(srv.pid, &cpu_life, &stop_s);
        srv.pid = 0;
        cpu_all = cpu_life - cpu_before;
        long long disk_app = 0;
        disk_usage(srv.data, &disk_alloc, &disk_app);
        char parts[512];
        disk_parts(srv.data, parts, sizeof parts);
        mspans = (double)ex.spans_ok / 1e6;
        qsort(ex.lat, ex.n_lat, sizeof *ex.lat, dbl_cmp);
        printf(
            "data: %zu traces, %lld spans (%.1f per trace), %.2f%% error "
            "spans, "
            "%lld events, %lld spans > 1 s; kinds internal %lld server %lld "
            "client %lld producer %lld consumer %lld\n",
            n_traces, gs.spans, (double)gs.spans / (double)n_traces,
            100.0 * (double)gs.errors / (double)gs.spans, gs.events, gs.over_1s,
            gs.kinds[1], gs.kinds[2], gs.kinds[3], gs.kinds[4], gs.kinds[5]);
        {
            char hex[33];
            hex_id(traces[0].id, hex);
            printf("  first trace: %s (%d spans)\n", hex, traces[0].spans);
        }
        printf(
            "export: %ld requests (%ld ok, %ld failed), %lld spans sent, %lld "
            "acknowledged, %lld rejected; %.1f MiB of OTLP protobuf (%.1f "
            "B/span, "
            "%.0f spans/request) in %.1f s = %.0f spans/s; export latency p50 "
            "%.1f ms p99 %.1f ms max %.1f ms\n",
            ex.requests, ex.ok, ex.failed, ex.spans_sent, ex.spans_ok,
            ex.spans_rejected, mib(ex.bytes),
            (double)ex.bytes / (double)ex.spans_sent,
            (double)ex.spans_sent / (double)ex.requests, push_s,
            (double)ex.spans_ok / push_s, pct(ex.lat, ex.n_lat, 50) * 1e3,
            pct(ex.lat, ex.n_lat, 99) * 1e3,
            ex.n_lat ? ex.lat[ex.n_lat - 1] * 1e3 : 0);
        printf(
            "  server CPU: %.2f s over the ingest = %.2f CPU s per 1M spans; "
            "%.2f s with the graceful stop (%.2f s, exit status %d) = %.2f CPU "
            "s "
            "per 1M spans; peak RSS %.1f MiB\n",
            cpu_push, cpu_push / mspans, cpu_all, stop_s, st, cpu_all / mspans,
            (double)hwm_kib / 1024);
        printf(
            "  disk, whole data dir after the stop: %.1f MiB allocated "
            "(apparent "
            "%.1f MiB) = %.1f B/span (%s)\n",
            mib(disk_alloc), mib(disk_app),
            (double)disk_alloc / (double)ex.spans_ok, parts);
        fflush(stdout);
        if (push_s < 0 || ex.failed || ex.spans_ok != gs.spans) {
            fprintf(stderr, "export failed (%ld failed requests); log %s\n",
                    ex.failed, srv.log);
            failed = 1;
            goto out;
        }
        if (st != 0)
            fprintf(stderr, "  triad exit status %d after SIGTERM (log %s)\n",
                    st, srv.log);
    }

    /* 2. reads on the restarted server */
    if (start_triad(&srv) != 0) {
        failed = 1;
        goto out;
    }
    double qw = quiesce(srv.pid, 120);
    printf("triad restarted: pid %d on %s (idle after %.1f s)\n", (int)srv.pid,
           srv.http, qw);
    fflush(stdout);
    rs = cfg.seed * 0x9e3779b97f4a7c15ULL + 7; /* the reads' own sequence */
    CURL *h = curl_easy_init();
    struct lat present, absent;
    by_id(h, &srv, 0, &present);
    by_id(h, &srv, 1, &absent);
    printf(
        "trace by id (GET /api/traces/<id>, Accept: application/protobuf, "
        "one keep-alive connection, %ld each):\n"
        "  present: p50 %.2f ms p99 %.2f ms max %.2f ms, %ld with the span "
        "count sent, %ld wrong\n"
        "  absent:  p50 %.2f ms p99 %.2f ms max %.2f ms, %ld x 404, %ld "
        "wrong\n",
        cfg.reads, present.p50 * 1e3, present.p99 * 1e3, present.max * 1e3,
        present.ok, present.wrong, absent.p50 * 1e3, absent.p99 * 1e3,
        absent.max * 1e3, absent.ok, absent.wrong);
    if (present.wrong || absent.wrong)
        failed = 1;
    static const char *const queries[] = {
        "{ resource.service.name = \"checkout\" && status = error }",
        "{ duration > 1s }",
        "{ resource.service.name = \"no-such-service\" }",
    };
    long long expect[] = {gs.q_checkout_err, gs.q_over_1s, 0};
    struct sres sr[3];
    int have_search = 0;
    search(h, &srv, queries[0], &sr[0]);
    if (sr[0].status == 200) {
        have_search = 1;
        search(h, &srv, queries[1], &sr[1]);
        search(h, &srv, queries[2], &sr[2]);
        printf("search (GET /api/search?q=..., limit 20, median of %d):\n",
               SEARCH_REPS);
        for (int i = 0; i < 3; i++)
            printf(
                "  %-58s HTTP %ld, %ld traces (%lld match), median %.1f ms "
                "max %.1f ms\n",
                queries[i], sr[i].status, sr[i].traces, expect[i],
                sr[i].med * 1e3, sr[i].max * 1e3);
    } else {
        printf(
            "search: not available on this build (GET /api/search answered "
            "HTTP %ld)\n",
            sr[0].status);
    }
    curl_easy_cleanup(h);
    if (!cfg.reuse) {
        /* sealing: the clock moves 3 days on; the data dir again after a
         * graceful stop */
        double t_seal = mono_s();
        clock_advance(srv.base, "3d");
        double seal_s = wait_sealed(
            srv.base, "traces",
            fake_clock_ms / BENCH_DAY_MS * BENCH_DAY_MS + BENCH_DAY_MS, t_seal);
        /* the whole data dir once the sealed groups' logs are gone */
        wait_retired(srv.base, "traces",
                     fake_clock_ms / BENCH_DAY_MS * BENCH_DAY_MS + BENCH_DAY_MS,
                     t_seal);
        stop_pid(srv.pid);
        long long sealed_alloc = 0, sealed_app = 0;
        disk_usage(srv.data, &sealed_alloc, &sealed_app);
        printf(
            "sealing: every traces window sealed %.2f s after the clock "
            "moved 3 d on; disk, whole data dir after the stop: %.1f MiB "
            "allocated = %.1f B/span (before sealing %.1f MiB = %.1f)\n",
            seal_s, mib(sealed_alloc),
            (double)sealed_alloc / (double)ex.spans_ok, mib(disk_alloc),
            (double)disk_alloc / (double)ex.spans_ok);
    } else {
        stop_pid(srv.pid);
    }
    srv.pid = 0;

    /* 3. the table */
    {
        char a[64];
        printf(
            "\ntraces benchmark, %lld spans (seed %llu), one node, 2 cores "
            "shared with the client; Tempo figures are published ones, not "
            "measured (no Tempo binary is available here):\n",
            cfg.reuse ? gs.spans : ex.spans_ok, (unsigned long long)cfg.seed);
        printf("  %-34s %-22s %-16s %-4s %s\n", "metric", "triad", "target",
               "ok", "Tempo (reference)");
        if (cfg.reuse)
            goto reads;
        snprintf(a, sizeof a, "%.0f", (double)ex.spans_ok / push_s);
        row("ingest spans/s (wall)", a, "", -1, "");
        snprintf(a, sizeof a, "%.0f", (double)ex.spans_ok / cpu_all);
        row("spans per server CPU-second", a, "", -1,
            "~5,000 spans/s per core (sizing)");
        snprintf(a, sizeof a, "%.2f", cpu_all / mspans);
        row("CPU s / 1M spans (ingest + stop)", a, "<= 10",
            cpu_all / mspans <= 10, "~200 (implied by 5k/s/core)");
        snprintf(a, sizeof a, "%.2f", cpu_push / mspans);
        row("CPU s / 1M spans (ingest)", a, "", -1, "");
        snprintf(a, sizeof a, "%.1f", (double)disk_alloc / (double)ex.spans_ok);
        row("bytes/span on disk (whole dir)", a, "<= 40",
            (double)disk_alloc / (double)ex.spans_ok <= 40,
            "~58 B/span (Parquet blocks)");
    reads:
        snprintf(a, sizeof a, "%.2f / %.2f ms", present.p50 * 1e3,
                 present.p99 * 1e3);
        row("trace by id p50/p99, present", a, "p99 <= 10 ms",
            present.p99 <= 0.010, "");
        snprintf(a, sizeof a, "%.2f / %.2f ms", absent.p50 * 1e3,
                 absent.p99 * 1e3);
        row("trace by id p50/p99, absent", a, "p99 <= 10 ms",
            absent.p99 <= 0.010, "");
        if (have_search) {
            snprintf(a, sizeof a, "%.1f ms", sr[0].med * 1e3);
            row("search service && error", a, "", -1, "");
            snprintf(a, sizeof a, "%.1f ms", sr[1].med * 1e3);
            row("search duration > 1s", a, "", -1, "");
            snprintf(a, sizeof a, "%.1f ms", sr[2].med * 1e3);
            row("search no match", a, "<= 100 ms", sr[2].med <= 0.100, "");
        } else {
            row("search", "not available", "no-match <= 100 ms", -1, "");
        }
    }

out:
    if (srv.pid)
        stop_pid(srv.pid);
    if (cfg.keep)
        printf("kept %s\n", dir);
    else
        rm_rf(dir);
    curl_global_cleanup();
    free(traces);
    free(ex.lat);
    return failed;
}
