/* config.c - defaults < YAML file (--config) < command-line flags.
 *
 * One table, `opts` below, is the single source of truth: it drives the
 * defaults (each default is a string parsed by the same code as a flag
 * value), flag parsing, YAML keys, `triad help` and the reference table in
 * docs/configuration.md (tr_config_reference). To add an option: add a field
 * to struct tr_config, a row here, and regenerate the docs table.
 *
 * Loading runs in three passes so that flags win regardless of where
 * --config appears on the command line:
 *   1. scan argv: command, flag names, values (unknown flag -> error), the
 *      --config path;
 *   2. read the YAML file (libyaml event API), applying each key;
 *   3. apply the flag values collected in pass 1, in order (last wins). */
#include "server/config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"

/* ---- the option table --------------------------------------------------- */

enum opt_kind {
    K_STR,         /* char *, any string (O_NONEMPTY: not "") */
    K_NAME,        /* char *, [A-Za-z0-9._-]{1,253} */
    K_ADDR,        /* char *, host:port or "" */
    K_ADDRS,       /* char *, comma-separated host:port or URLs, normalised */
    K_URL,         /* char *, http(s)://... or host:port */
    K_LEVEL,       /* char *, debug|info|warn|error */
    K_CONFIG,      /* char *, the --config path; flag only */
    K_BOOL,        /* bool */
    K_U32,         /* uint32_t within [min, max] */
    K_U64,         /* uint64_t within [min, max] */
    K_RATE,        /* double >= 0, finite */
    K_DUR,         /* int64_t ms within [min, max] */
    K_DUR_INHERIT, /* int64_t ms >= 0, or -1 ("inherit") */
    K_SIZE,        /* size_t bytes within [min, max] */
};

enum {
    O_NONEMPTY = 1 << 0, /* K_STR: "" is not allowed */
    O_NOYAML = 1 << 1,   /* not accepted as a YAML key */
    O_SECRET = 1 << 2,   /* masked by tr_config_dump */
};

struct opt {
    const char *name;    /* flag without "--"; also the YAML key */
    enum opt_kind kind;  /* how the value is parsed and stored */
    size_t off;          /* offset of the field in struct tr_config */
    const char *def;     /* default, parsed like a flag; NULL: computed */
    const char *def_doc; /* default as shown in usage/docs if not def */
    int64_t min;         /* numbers, ms, bytes: smallest allowed */
    int64_t max;         /* largest allowed; 0 = the type's maximum */
    unsigned flags;      /* O_* */
    const char *metavar; /* value placeholder in usage ("" for booleans) */
    const char *help;    /* one line; no '|' (it is a Markdown cell) */
};

#define F(field) offsetof(struct tr_config, field)
#define MS_S 1000LL
#define MS_M (60 * MS_S)
#define MS_H (60 * MS_M)

static const struct opt opts[] = {
    {"config", K_CONFIG, F(config_file), "", "none", 0, 0, O_NOYAML, "FILE",
     "YAML configuration file; flags override its keys"},
    /* listeners */
    {"http-addr", K_ADDR, F(http_addr), "0.0.0.0:3100", NULL, 0, 0, 0, "ADDR",
     "HTTP API (Prometheus, Loki, Tempo, /metrics, /ready); \"\" disables"},
    {"tempo-http-addr", K_ADDR, F(tempo_http_addr), "0.0.0.0:3200", NULL, 0, 0,
     0, "ADDR", "the same HTTP API on Tempo's customary port; \"\" disables"},
    {"otlp-grpc-addr", K_ADDR, F(otlp_grpc_addr), "0.0.0.0:4317", NULL, 0, 0, 0,
     "ADDR", "OTLP gRPC receiver (traces, logs, metrics); \"\" disables"},
    {"otlp-http-addr", K_ADDR, F(otlp_http_addr), "0.0.0.0:4318", NULL, 0, 0, 0,
     "ADDR",
     "OTLP HTTP receiver (/v1/traces, /v1/logs, /v1/metrics); "
     "\"\" disables"},
    {"cluster-addr", K_ADDR, F(cluster_addr), "0.0.0.0:9095", NULL, 0, 0, 0,
     "ADDR", "Raft traffic of every group, multiplexed on one port"},
    /* node and cluster */
    {"data-dir", K_STR, F(data_dir), "./data", NULL, 0, 0, O_NONEMPTY, "DIR",
     "directory for the node's storage"},
    {"node-name", K_NAME, F(node_name), NULL, "host name", 0, 0, 0, "NAME",
     "unique name of this node in the cluster ([A-Za-z0-9._-])"},
    {"advertise-addr", K_ADDR, F(advertise_addr), "", "none", 0, 0, 0, "ADDR",
     "cluster address peers dial; empty: derived from --cluster-addr"},
    {"join", K_ADDRS, F(join), "", "none", 0, 0, 0, "ADDR[,ADDR...]",
     "HTTP addresses of existing or sibling nodes; none: new cluster"},
    {"bootstrap-expect", K_U32, F(bootstrap_expect), "0", NULL, 0, 0, 0, "N",
     "wait for N nodes, then form the cluster; 0: do not wait"},
    {"replication-factor", K_U32, F(replication_factor), "0", NULL, 0, 15, 0,
     "N", "replicas of every shard; 0: min(3, nodes)"},
    {"shards-per-window", K_U32, F(shards_per_window), "0", NULL, 0, 65536, 0,
     "N", "shards per tenant and placement window; 0: number of nodes"},
    {"placement-window", K_DUR, F(placement_window_ms), "24h", NULL, MS_M, 0, 0,
     "DURATION", "length of the time windows data is placed by (>= 1m)"},
    {"raft.election-timeout", K_DUR, F(raft_election_ms), "300ms", NULL, 10,
     60000, 0, "DURATION", "Raft election timeout of every group"},
    {"raft.heartbeat-timeout", K_DUR, F(raft_heartbeat_ms), "50ms", NULL, 1,
     60000, 0, "DURATION", "Raft heartbeat interval of every group"},
    {"raft.pre-vote", K_BOOL, F(raft_pre_vote), "true", NULL, 0, 0, 0, "",
     "Raft pre-vote (avoids disruptive elections)"},
    {"raft.snapshot-threshold", K_U32, F(raft_snapshot_threshold), "8192", NULL,
     2, 0, 0, "N",
     "entries between snapshots (a snapshot checkpoints the shard)"},
    {"raft.snapshot-trailing", K_U32, F(raft_snapshot_trailing), "1024", NULL,
     1, 0, 0, "N",
     "entries kept after a snapshot for followers that lag a little (none "
     "in a group of one server)"},
    {"raft.snapshot-bytes", K_SIZE, F(raft_snapshot_bytes), "64MiB", NULL, 0, 0,
     0, "SIZE",
     "log bytes between snapshots as well (0: entries only); bounds a "
     "shard's log (each snapshot checkpoints the shard's open chunks)"},
    {"raft.snapshot-trailing-bytes", K_SIZE, F(raft_snapshot_trailing_bytes),
     "2MiB", NULL, 0, 0, 0, "SIZE",
     "about this much log is kept after a snapshot (0: entries only)"},
    {"raft.segment-size", K_SIZE, F(raft_segment_bytes), "8MiB", NULL,
     256 * 1024, 1024 * 1024 * 1024, 0, "SIZE",
     "Raft log segment size of shard groups: each group preallocates two or "
     "three; smaller segments close more often and each close stalls the "
     "event loop for a kernel AIO teardown (about 40 ms)"},
    {"cluster.write-timeout", K_DUR, F(cluster_write_timeout_ms), "10s", NULL,
     10, 0, 0, "DURATION",
     "how long a write waits for every shard to commit (then 503)"},
    /* retention and ingestion */
    {"retention.metrics", K_DUR, F(retention_metrics_ms), "20d", NULL, MS_M, 0,
     0, "DURATION", "how long metric samples are kept"},
    {"retention.logs", K_DUR, F(retention_logs_ms), "7d", NULL, MS_M, 0, 0,
     "DURATION", "how long log lines are kept"},
    {"retention.traces", K_DUR, F(retention_traces_ms), "14d", NULL, MS_M, 0, 0,
     "DURATION", "how long spans are kept"},
    {"compaction.max-write-rate", K_SIZE, F(compaction_write_rate), "64MiB",
     NULL, 0, 0, 0, "SIZE",
     "bytes per second a sealing compaction job writes at most (it also "
     "sleeps as long as each step took, so it uses at most half a core); "
     "0: no byte limit"},
    {"runtime-config.file", K_STR, F(runtime_config_file), "", "none", 0, 0, 0,
     "FILE",
     "per-tenant overrides (YAML: overrides: {TENANT: {retention_logs: 3d}}) "
     "read every reload period; the meta leader stores them"},
    {"runtime-config.reload-period", K_DUR, F(runtime_config_reload_ms), "10s",
     NULL, MS_S, 0, 0, "DURATION", "how often --runtime-config.file is read"},
    {"late-write-grace", K_DUR, F(late_write_grace_ms), "2h", NULL, 0, 0, 0,
     "DURATION", "how long after a window ends it still accepts writes"},
    {"late-write-grace.metrics", K_DUR_INHERIT, F(late_write_grace_metrics_ms),
     "inherit", NULL, 0, 0, 0, "DURATION",
     "--late-write-grace for metrics; inherit (or -1): the general one"},
    {"late-write-grace.logs", K_DUR_INHERIT, F(late_write_grace_logs_ms), "24h",
     NULL, 0, 0, 0, "DURATION",
     "--late-write-grace for logs (an agent catching up after an outage "
     "keeps its backlog); inherit (or -1): the general one"},
    {"late-write-grace.traces", K_DUR_INHERIT, F(late_write_grace_traces_ms),
     "inherit", NULL, 0, 0, 0, "DURATION",
     "--late-write-grace for traces; inherit (or -1): the general one"},
    {"ingest.ooo-window", K_DUR, F(ooo_window_ms), "1h", NULL, 0, 0, 0,
     "DURATION", "how far behind a series' newest sample a sample may be"},
    {"ingest.creation-grace", K_DUR, F(creation_grace_ms), "10m", NULL, 0, 0, 0,
     "DURATION", "how far in the future a sample may be"},
    /* security and logging */
    {"auth.enabled", K_BOOL, F(auth_enabled), "false", NULL, 0, 0, 0, "",
     "require a tenant (X-Scope-OrgID or basic-auth user) on every request"},
    {"cluster-secret", K_STR, F(cluster_secret), "", "none", 0, 0, O_SECRET,
     "SECRET", "shared secret authenticating node-to-node requests"},
    {"log-level", K_LEVEL, F(log_level), "info", NULL, 0, 0, 0, "LEVEL",
     "debug, info, warn or error"},
    /* HTTP server */
    {"http.max-body-size", K_SIZE, F(max_body_bytes), "64MiB", NULL, 1024, 0, 0,
     "SIZE", "largest request body accepted, after decompression (413)"},
    {"http.header-timeout", K_DUR, F(http_header_timeout_ms), "10s", NULL, 1, 0,
     0, "DURATION", "time allowed to receive a request's headers"},
    {"http.body-timeout", K_DUR, F(http_body_timeout_ms), "60s", NULL, 1, 0, 0,
     "DURATION", "time allowed to receive a request's body"},
    {"http.idle-timeout", K_DUR, F(http_idle_timeout_ms), "120s", NULL, 1, 0, 0,
     "DURATION", "keep-alive connections idle this long are closed"},
    {"http.max-connections", K_U32, F(http_max_connections), "10000", NULL, 1,
     0, 0, "N", "open HTTP connections at most; more are refused"},
    {"shutdown-timeout", K_DUR, F(shutdown_timeout_ms), "30s", NULL, 0, 0, 0,
     "DURATION", "how long a graceful shutdown may take"},
    /* storage */
    {"storage.wal-sync", K_BOOL, F(wal_sync), "false", NULL, 0, 0, 0, "",
     "fsync every storage (RocksDB) write; Raft logs are always fsynced"},
    {"storage.block-cache-size", K_SIZE, F(storage_cache_bytes), "256MiB", NULL,
     0, 0, 0, "SIZE", "storage block cache"},
    {"storage.head-checkpoint-interval", K_DUR, F(head_flush_interval_ms), "5m",
     NULL, MS_S, 0, 0, "DURATION",
     "how often in-memory heads are checkpointed to disk"},
    {"storage.apply-threads", K_U32, F(storage_apply_threads), "2", NULL, 1, 64,
     0, "N", "storage threads applying committed Raft entries"},
    {"storage.apply-queue-size", K_SIZE, F(apply_queue_bytes), "64MiB", NULL,
     1024, 0, 0, "SIZE",
     "committed bytes a shard may have waiting for its storage thread; "
     "writes get 503 beyond it"},
    /* per-tenant limits (defaults for every tenant) */
    {"limits.max-series", K_U64, F(limits.max_series), "1500000", NULL, 0, 0, 0,
     "N", "active series per tenant; 0: unlimited"},
    {"limits.ingestion-rate", K_RATE, F(limits.ingestion_rate), "1000000", NULL,
     0, 0, 0, "RATE",
     "samples (lines, spans) per second per tenant; "
     "0: unlimited"},
    {"limits.ingestion-burst", K_U64, F(limits.ingestion_burst), "2000000",
     NULL, 0, 0, 0, "N", "burst size of the ingestion rate limit"},
    {"limits.max-label-names", K_U32, F(limits.max_label_names), "30", NULL, 0,
     0, 0, "N", "label names per series"},
    {"limits.max-label-name-length", K_U32, F(limits.max_label_name_len),
     "1024", NULL, 0, 0, 0, "N", "bytes per label name"},
    {"limits.max-label-value-length", K_U32, F(limits.max_label_value_len),
     "2048", NULL, 0, 0, 0, "N", "bytes per label value"},
    {"limits.max-metadata-length", K_U32, F(limits.max_metadata_len), "1024",
     NULL, 0, 0, 0, "N", "bytes of metric help and unit metadata"},
    {"limits.max-streams", K_U64, F(limits.max_streams), "100000", NULL, 0, 0,
     0, "N", "log streams per tenant; more get 429; 0: unlimited"},
    {"limits.logs-max-line-size", K_SIZE, F(limits.logs_max_line_size),
     "256KiB", NULL, 0, 0, 0, "SIZE",
     "bytes per log line; longer lines are rejected (400); 0: unlimited"},
    {"limits.logs-max-label-names", K_U32, F(limits.logs_max_label_names), "15",
     NULL, 1, 0, 0, "N", "label names per log stream"},
    {"limits.logs-ingestion-rate", K_SIZE, F(limits.logs_rate_bytes), "4MiB",
     NULL, 0, 0, 0, "SIZE",
     "log line bytes per second per tenant (429 beyond); 0: unlimited"},
    {"limits.logs-ingestion-burst", K_SIZE, F(limits.logs_burst_bytes), "6MiB",
     NULL, 0, 0, 0, "SIZE", "burst size of the logs ingestion rate limit"},
    {"limits.discover-service-name", K_STR, F(limits.discover_service_name),
     "service,app,application,name,app_kubernetes_io_name,container,"
     "container_name,k8s_container_name,component,workload,job,k8s_job_name",
     NULL, 0, 0, 0, "LABELS",
     "stream labels whose value becomes service_name when a stream has none "
     "(first found; else unknown_service); empty: off"},
    {"limits.discover-log-levels", K_BOOL, F(limits.discover_log_levels),
     "true", NULL, 0, 0, 0, "",
     "add detected_level structured metadata from the line at ingest"},
    {"limits.logs-max-entries-per-query", K_SIZE, F(limits.logs_max_entries),
     "5000", NULL, 1, 0, 0, "N",
     "largest limit of a LogQL log query (400 beyond)"},
    {"limits.logs-max-query-series", K_SIZE, F(limits.logs_max_query_series),
     "500", NULL, 0, 0, 0, "N",
     "streams or series a LogQL query may return; 0: unlimited (400)"},
    {"limits.logs-max-query-bytes-read", K_SIZE, F(limits.logs_max_query_bytes),
     "0", NULL, 0, 0, 0, "SIZE",
     "log line bytes a LogQL query may read; 0: unlimited (400)"},
    {"limits.traces-max-bytes-per-trace", K_SIZE,
     F(limits.traces_max_bytes_per_trace), "5000000", NULL, 0, 0, 0, "SIZE",
     "bytes of one trace's spans in one export (Tempo's "
     "max_bytes_per_trace); its spans beyond are refused; 0: unlimited"},
    {"limits.traces-max-attribute-bytes", K_SIZE,
     F(limits.traces_max_attr_bytes), "2048", NULL, 0, 0, 0, "SIZE",
     "longer span, resource, event and link attribute strings are cut to it "
     "(Tempo's max_attribute_bytes); 0: unlimited"},
    {"limits.traces-ingestion-rate", K_SIZE, F(limits.traces_rate_bytes),
     "15000000", NULL, 0, 0, 0, "SIZE",
     "OTLP trace bytes per second per tenant (Tempo's "
     "ingestion_rate_limit_bytes; 429 beyond); 0: unlimited"},
    {"limits.traces-ingestion-burst", K_SIZE, F(limits.traces_burst_bytes),
     "20000000", NULL, 0, 0, 0, "SIZE",
     "burst size of the traces ingestion rate limit (Tempo's "
     "ingestion_burst_size_bytes)"},
    {"limits.traces-metrics-max-series", K_U64,
     F(limits.traces_metrics_max_series), "100000", NULL, 0, 0, 0, "N",
     "series of span metrics and the service graph a tenant may have on a "
     "node (Tempo's max_active_series); new label sets beyond are not "
     "counted; 0: unlimited"},
    {"limits.service-graph-max-pending", K_U64,
     F(limits.service_graph_max_pending), "10000", NULL, 1, 0, 0, "N",
     "service graph edges per tenant waiting for their other side (Tempo's "
     "max_items); the oldest beyond are expired"},
    /* span metrics and the service graph (Tempo's metrics-generator) */
    {"traces.span-metrics", K_BOOL, F(traces_span_metrics), "true", NULL, 0, 0,
     0, "",
     "derive traces_spanmetrics_* metrics from ingested spans into the "
     "tenant's metrics"},
    {"traces.service-graph", K_BOOL, F(traces_service_graph), "true", NULL, 0,
     0, 0, "",
     "derive traces_service_graph_* metrics from client/server span pairs "
     "into the tenant's metrics"},
    {"traces.metrics-flush-interval", K_DUR, F(traces_metrics_flush_ms), "15s",
     NULL, 100, 0, 0, "DURATION",
     "how often every tenant's span metrics and service graph totals are "
     "written (>= 100ms; Tempo's collection_interval)"},
    {"traces.service-graph-wait", K_DUR, F(service_graph_wait_ms), "10s", NULL,
     0, 0, 0, "DURATION",
     "how long a client or server span waits for its other side (Tempo's "
     "wait)"},
    /* PromQL queries */
    {"query.timeout", K_DUR, F(query_timeout_ms), "2m", NULL, 1, 0, 0,
     "DURATION",
     "longest a query may run; a smaller timeout parameter wins (503)"},
    {"query.max-samples", K_U64, F(query_max_samples), "50000000", NULL, 0, 0,
     0, "N", "samples a query may hold in memory at once; 0: unlimited (422)"},
    {"query.max-series", K_U64, F(query_max_series), "0", NULL, 0, 0, 0, "N",
     "series a query may select, over all its selectors; 0: unlimited (422)"},
    {"query.lookback-delta", K_DUR, F(query_lookback_ms), "5m", NULL, 1, 0, 0,
     "DURATION",
     "how far back an instant selector looks for a sample; the "
     "lookback_delta parameter wins"},
    /* debugging and tests */
    {"debug.fake-clock", K_STR, F(debug_fake_clock), "", "none", 0, 0, 0,
     "RFC3339",
     "start the cluster's wall clock here, standing still; POST "
     "/debug/clock?advance=D moves it (tests only)"},
    /* triad status */
    {"addr", K_URL, F(status_addr), "http://127.0.0.1:3100", NULL, 0, 0, 0,
     "URL", "triad status: HTTP address of the node to ask"},
    {"verify", K_BOOL, F(status_verify), "false", NULL, 0, 0, O_NOYAML, "",
     "triad status: also prove replicas equal (POST "
     "/api/v1/admin/cluster/verify)"},
    {"timeout", K_DUR, F(drain_timeout_ms), "30s", NULL, 0, 0, O_NOYAML,
     "DURATION",
     "triad drain: how long to wait for the node at --addr to hand its "
     "Raft leaderships away"},
};

#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static bool kind_is_string(enum opt_kind k)
{
    return k <= K_CONFIG;
}

static const struct opt *opt_find(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        if (strlen(opts[i].name) == len &&
            memcmp(opts[i].name, name, len) == 0) {
            return &opts[i];
        }
    }
    return NULL;
}

static void *field(struct tr_config *cfg, const struct opt *o)
{
    return (char *)cfg + o->off;
}

static const void *cfield(const struct tr_config *cfg, const struct opt *o)
{
    return (const char *)cfg + o->off;
}

/* ---- value parsers ------------------------------------------------------ */

/* Digits only, no sign, no blanks; TR_EINVAL on anything else or overflow
 * (*overflow tells which). */
static int parse_u64(const char *s, size_t n, uint64_t *out, bool *overflow)
{
    uint64_t v = 0;
    *overflow = false;
    if (n == 0) {
        return TR_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return TR_EINVAL;
        }
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            *overflow = true;
            return TR_EINVAL;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Prometheus model.ParseDuration: "0", or [Ny][Nw][Nd][Nh][Nm][Ns][Nms]
 * with at least one unit, units in this order, each at most once. */
int tr_parse_duration_ms(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {
        {"y", 365 * 24 * MS_H},
        {"w", 7 * 24 * MS_H},
        {"d", 24 * MS_H},
        {"h", MS_H},
        {"m", MS_M},
        {"s", MS_S},
        {"ms", 1},
    };
    if (s == NULL || *s == '\0') {
        return TR_EINVAL;
    }
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    int64_t total = 0;
    size_t next_unit = 0; /* units before this one are no longer allowed */
    const char *p = s;
    while (*p != '\0') {
        const char *digits = p;
        while (*p >= '0' && *p <= '9') {
            p++;
        }
        uint64_t n;
        bool overflow;
        if (parse_u64(digits, (size_t)(p - digits), &n, &overflow) != 0) {
            return TR_EINVAL;
        }
        const char *u = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
            p++;
        }
        size_t ulen = (size_t)(p - u);
        size_t i;
        for (i = next_unit; i < sizeof(units) / sizeof(units[0]); i++) {
            if (strlen(units[i].unit) == ulen &&
                memcmp(units[i].unit, u, ulen) == 0) {
                break;
            }
        }
        if (i == sizeof(units) / sizeof(units[0])) {
            return TR_EINVAL; /* unknown, repeated or out-of-order unit */
        }
        next_unit = i + 1;
        if (n > (uint64_t)(INT64_MAX - total) / (uint64_t)units[i].ms) {
            return TR_EINVAL;
        }
        total += (int64_t)n * units[i].ms;
    }
    *out = total;
    return 0;
}

char *tr_format_duration_ms(int64_t ms, char *buf, size_t size)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {
        {"d", 24 * MS_H}, {"h", MS_H}, {"m", MS_M}, {"s", MS_S}, {"ms", 1},
    };
    if (size == 0) {
        return buf;
    }
    if (ms <= 0) {
        snprintf(buf, size, "%lld%s", (long long)ms, ms == 0 ? "s" : "");
        return buf;
    }
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        int64_t n = ms / units[i].ms;
        if (n == 0) {
            continue;
        }
        ms -= n * units[i].ms;
        int w = snprintf(buf + len, size - len, "%lld%s", (long long)n,
                         units[i].unit);
        if (w < 0 || (size_t)w >= size - len) {
            buf[len] = '\0'; /* truncated: keep the whole units only */
            break;
        }
        len += (size_t)w;
    }
    return buf;
}

/* Sizes: an integer with an optional unit, optionally separated by blanks.
 * All units are powers of 1024, as in Prometheus and Loki: B; k, K, KB, KiB;
 * m, M, MB, MiB; g, G, GB, GiB; t, T, TB, TiB (case-insensitive). */
int tr_parse_size(const char *s, size_t *out)
{
    if (s == NULL) {
        return TR_EINVAL;
    }
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        p++;
    }
    uint64_t n;
    bool overflow;
    if (parse_u64(s, (size_t)(p - s), &n, &overflow) != 0) {
        return TR_EINVAL;
    }
    if (*p == ' ') {
        while (*p == ' ') {
            p++;
        }
        if (*p == '\0') {
            return TR_EINVAL; /* trailing blanks */
        }
    }
    unsigned shift = 0;
    if (*p != '\0') {
        static const char prefixes[] = "kmgt";
        const char *pre = strchr(prefixes, p[0] | 0x20);
        if (pre != NULL && p[0] != '\0') {
            shift = 10 * (unsigned)(pre - prefixes + 1);
            p++;
            if (strcasecmp(p, "") != 0 && strcasecmp(p, "b") != 0 &&
                strcasecmp(p, "ib") != 0) {
                return TR_EINVAL;
            }
        } else if (strcasecmp(p, "b") != 0) {
            return TR_EINVAL;
        }
    }
    if (shift > 0 && n > (UINT64_MAX >> shift)) {
        return TR_EINVAL;
    }
    n <<= shift;
    if (n > SIZE_MAX) {
        return TR_EINVAL;
    }
    *out = (size_t)n;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return TR_EINVAL;
}

int tr_addr_split(const char *addr,
                  char *host,
                  size_t host_size,
                  int *port,
                  char *errmsg)
{
    const char *h = addr;
    size_t hlen;
    const char *colon;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL) {
            return tr_errf(TR_EINVAL, errmsg, "missing ']'");
        }
        h = addr + 1;
        hlen = (size_t)(close - h);
        if (close[1] != ':') {
            return tr_errf(TR_EINVAL, errmsg, "missing port");
        }
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL) {
            return tr_errf(TR_EINVAL, errmsg, "missing port");
        }
        hlen = (size_t)(colon - addr);
        if (memchr(addr, ':', hlen) != NULL) {
            return tr_errf(TR_EINVAL, errmsg,
                           "write IPv6 hosts in brackets: [host]:port");
        }
    }
    for (size_t i = 0; i < hlen; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c <= ' ' || c == '/' || c == '[' || c == ']' || c >= 0x7f) {
            return tr_errf(TR_EINVAL, errmsg, "bad character in host");
        }
    }
    uint64_t p;
    bool overflow;
    const char *ps = colon + 1;
    if (*ps == '\0') {
        return tr_errf(TR_EINVAL, errmsg, "missing port");
    }
    if (parse_u64(ps, strlen(ps), &p, &overflow) != 0 && !overflow) {
        return tr_errf(TR_EINVAL, errmsg, "port is not a number");
    }
    if (overflow || p > 65535) {
        return tr_errf(TR_EINVAL, errmsg, "port out of range 0-65535");
    }
    if (host != NULL) {
        if (hlen >= host_size) {
            return tr_errf(TR_EINVAL, errmsg, "host name too long");
        }
        memcpy(host, h, hlen);
        host[hlen] = '\0';
    }
    if (port != NULL) {
        *port = (int)p;
    }
    return 0;
}

/* "http://..." or "https://..." with something after the scheme, or a
 * host:port (the scheme http:// is implied). */
static int check_url(const char *s, char *reason)
{
    const char *rest = NULL;
    if (strncmp(s, "http://", 7) == 0) {
        rest = s + 7;
    } else if (strncmp(s, "https://", 8) == 0) {
        rest = s + 8;
    }
    if (rest != NULL) {
        for (const char *p = rest; *p != '\0'; p++) {
            if ((unsigned char)*p <= ' ') {
                return tr_errf(TR_EINVAL, reason, "blank in URL");
            }
        }
        return *rest == '\0' || *rest == '/'
                   ? tr_errf(TR_EINVAL, reason, "URL without host")
                   : 0;
    }
    if (strstr(s, "://") != NULL) {
        return tr_errf(TR_EINVAL, reason, "scheme must be http or https");
    }
    return tr_addr_split(s, NULL, 0, NULL, reason);
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

/* Trims blanks around each comma-separated item, drops empty items and
 * checks each one. Returns a tr_malloc'd "a,b,c" (NULL on OOM: *rc set). */
static char *normalise_addrs(const char *s, int *rc, char *reason)
{
    struct tr_buf b;
    tr_buf_init(&b);
    tr_buf_puts(&b, "");
    const char *p = s;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        if (end == NULL) {
            end = p + strlen(p);
        }
        const char *a = p, *z = end;
        while (a < z && (*a == ' ' || *a == '\t')) {
            a++;
        }
        while (z > a && (z[-1] == ' ' || z[-1] == '\t')) {
            z--;
        }
        if (z > a) {
            char *item = tr_strndup(a, (size_t)(z - a));
            if (item == NULL) {
                goto err_oom;
            }
            char why[TR_ERRMSG_SIZE];
            int r = check_url(item, why);
            if (r != 0) {
                snprintf(reason, TR_ERRMSG_SIZE, "%.100s: %.200s", item, why);
                tr_free(item);
                tr_buf_free(&b);
                *rc = TR_EINVAL;
                return NULL;
            }
            tr_free(item);
            if (b.len > 0) {
                tr_buf_putc(&b, ',');
            }
            tr_buf_append(&b, a, (size_t)(z - a));
        }
        p = *end == ',' ? end + 1 : end;
    }
    if (b.oom || b.data == NULL) {
        goto err_oom;
    }
    *rc = 0;
    return tr_buf_steal(&b, NULL);

err_oom:
    tr_buf_free(&b);
    *rc = TR_ENOMEM;
    snprintf(reason, TR_ERRMSG_SIZE, "out of memory");
    return NULL;
}

static int set_string(struct tr_config *cfg, const struct opt *o, char *own)
{
    char **slot = field(cfg, o);
    tr_free(*slot);
    *slot = own;
    return 0;
}

static void range_reason(const struct opt *o, int64_t v, char *reason)
{
    char a[32], b[32];
    bool ms = o->kind == K_DUR || o->kind == K_DUR_INHERIT;
    if (v < o->min) {
        if (ms) {
            tr_format_duration_ms(o->min, a, sizeof(a));
        } else {
            snprintf(a, sizeof(a), "%lld", (long long)o->min);
        }
        snprintf(reason, TR_ERRMSG_SIZE, "must be at least %s", a);
    } else {
        if (ms) {
            tr_format_duration_ms(o->max, b, sizeof(b));
        } else {
            snprintf(b, sizeof(b), "%lld", (long long)o->max);
        }
        snprintf(reason, TR_ERRMSG_SIZE, "must be at most %s", b);
    }
}

/* Parses val for option o and stores it in cfg. On failure fills reason
 * (TR_ERRMSG_SIZE) with why the value is bad and returns TR_EINVAL, or
 * TR_ENOMEM. */
static int opt_apply(struct tr_config *cfg,
                     const struct opt *o,
                     const char *val,
                     char *reason)
{
    int rc;
    switch (o->kind) {
        case K_STR:
        case K_CONFIG:
            if ((o->flags & O_NONEMPTY) && *val == '\0') {
                return tr_errf(TR_EINVAL, reason, "must not be empty");
            }
            break;
        case K_NAME:
            if (!name_ok(val)) {
                return tr_errf(TR_EINVAL, reason,
                               "not a name of 1-253 characters "
                               "[A-Za-z0-9._-]");
            }
            break;
        case K_ADDR:
            if (*val != '\0' &&
                (rc = tr_addr_split(val, NULL, 0, NULL, reason)) != 0) {
                return rc;
            }
            break;
        case K_URL:
            if ((rc = check_url(val, reason)) != 0) {
                return rc;
            }
            break;
        case K_LEVEL: {
            enum tr_log_level lvl;
            if (tr_log_parse_level(val, &lvl) != 0) {
                return tr_errf(TR_EINVAL, reason,
                               "not one of debug, info, warn, error");
            }
            break;
        }
        case K_ADDRS: {
            char *norm = normalise_addrs(val, &rc, reason);
            if (norm == NULL) {
                return rc;
            }
            return set_string(cfg, o, norm);
        }
        case K_BOOL:
            if (parse_bool(val, field(cfg, o)) != 0) {
                return tr_errf(TR_EINVAL, reason,
                               "not a boolean (true, false)");
            }
            return 0;
        case K_U32:
        case K_U64: {
            uint64_t v;
            bool overflow;
            uint64_t max = o->kind == K_U32 ? UINT32_MAX : UINT64_MAX;
            if (o->max != 0) {
                max = (uint64_t)o->max;
            }
            if (parse_u64(val, strlen(val), &v, &overflow) != 0 && !overflow) {
                return tr_errf(TR_EINVAL, reason, "not a non-negative integer");
            }
            if (overflow || v > max) {
                return tr_errf(TR_EINVAL, reason, "must be at most %llu",
                               (unsigned long long)max);
            }
            if (v < (uint64_t)o->min) {
                range_reason(o, (int64_t)v, reason);
                return TR_EINVAL;
            }
            if (o->kind == K_U32) {
                *(uint32_t *)field(cfg, o) = (uint32_t)v;
            } else {
                *(uint64_t *)field(cfg, o) = v;
            }
            return 0;
        }
        case K_RATE: {
            char *end = NULL;
            double d = -1;
            errno = 0;
            if (*val >= '0' && *val <= '9') { /* no blanks, signs, "inf" */
                d = strtod(val, &end);
            }
            if (d < 0 || *end != '\0' || !isfinite(d) || errno != 0) {
                return tr_errf(TR_EINVAL, reason,
                               "not a non-negative finite number");
            }
            *(double *)field(cfg, o) = d;
            return 0;
        }
        case K_DUR_INHERIT:
            if (strcmp(val, "inherit") == 0 || strcmp(val, "-1") == 0) {
                *(int64_t *)field(cfg, o) = -1;
                return 0;
            }
            /* fall through */
        case K_DUR: {
            int64_t v;
            if (tr_parse_duration_ms(val, &v) != 0) {
                return tr_errf(TR_EINVAL, reason, "not a duration");
            }
            if (v < o->min || (o->max != 0 && v > o->max)) {
                range_reason(o, v, reason);
                return TR_EINVAL;
            }
            *(int64_t *)field(cfg, o) = v;
            return 0;
        }
        case K_SIZE: {
            size_t v;
            if (tr_parse_size(val, &v) != 0) {
                return tr_errf(TR_EINVAL, reason, "not a size");
            }
            if (v < (uint64_t)o->min || (o->max != 0 && v > (uint64_t)o->max)) {
                range_reason(o, (int64_t)(v > INT64_MAX ? INT64_MAX : v),
                             reason);
                return TR_EINVAL;
            }
            *(size_t *)field(cfg, o) = v;
            return 0;
        }
    }
    /* the string kinds that need no normalisation */
    char *copy = tr_strdup(val);
    if (copy == NULL) {
        return tr_errf(TR_ENOMEM, reason, "out of memory");
    }
    return set_string(cfg, o, copy);
}

/* opt_apply with the complete message: `invalid value "v" for NAME: why`.
 * prefix is "--" for flags and "" for YAML keys. */
static int opt_set(struct tr_config *cfg,
                   const struct opt *o,
                   const char *val,
                   const char *prefix,
                   char *errmsg)
{
    char reason[TR_ERRMSG_SIZE];
    int rc = opt_apply(cfg, o, val, reason);
    if (rc == TR_ENOMEM) {
        return tr_errf(rc, errmsg, "out of memory");
    }
    if (rc != 0) {
        return tr_errf(rc, errmsg, "invalid value \"%.100s\" for %s%s: %s", val,
                       prefix, o->name, reason);
    }
    return 0;
}

/* ---- defaults and free ----------------------------------------------------
 */

void tr_config_free(struct tr_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (size_t i = 0; i < N_OPTS; i++) {
        if (kind_is_string(opts[i].kind)) {
            char **slot = field(cfg, &opts[i]);
            tr_free(*slot);
        }
    }
    memset(cfg, 0, sizeof(*cfg));
}

int tr_config_defaults(struct tr_config *cfg)
{
    char reason[TR_ERRMSG_SIZE];
    memset(cfg, 0, sizeof(*cfg));
    cfg->command = TR_CMD_SERVE;
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct opt *o = &opts[i];
        const char *def = o->def;
        char host[256];
        if (def == NULL) { /* node-name: the host name */
            def = "triad";
            if (gethostname(host, sizeof(host)) == 0) {
                host[sizeof(host) - 1] = '\0';
                if (name_ok(host)) {
                    def = host;
                }
            }
        }
        int rc = opt_apply(cfg, o, def, reason);
        if (rc != 0) { /* only TR_ENOMEM: the defaults are tested */
            tr_config_free(cfg);
            return TR_ENOMEM;
        }
    }
    return 0;
}

/* ---- YAML ---------------------------------------------------------------- */

struct yload {
    yaml_parser_t parser;
    struct tr_config *cfg;
    const char *file;
    char *errmsg;
};

/* line is 1-based. */
static int yerr(struct yload *y, size_t line, const char *msg)
{
    return tr_errf(TR_EINVAL, y->errmsg, "config file %s: line %zu: %s",
                   y->file, line, msg);
}

static int ynext(struct yload *y, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&y->parser, ev)) {
        char msg[TR_ERRMSG_SIZE];
        snprintf(msg, sizeof(msg), "%s%s%s",
                 y->parser.problem ? y->parser.problem : "syntax error",
                 y->parser.context ? " " : "",
                 y->parser.context ? y->parser.context : "");
        return yerr(y, y->parser.problem_mark.line + 1, msg);
    }
    return 0;
}

static bool is_null_scalar(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    return ev->data.scalar.plain_implicit &&
           (*v == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
            strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0);
}

static bool is_prefix_of_some_key(const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < N_OPTS; i++) {
        if (!(opts[i].flags & O_NOYAML) &&
            strncmp(opts[i].name, path, n) == 0 && opts[i].name[n] == '.') {
            return true;
        }
    }
    return false;
}

/* Applies one YAML scalar value, with the line in error messages. */
static int yapply(struct yload *y,
                  const struct opt *o,
                  const char *val,
                  size_t line)
{
    char msg[TR_ERRMSG_SIZE];
    int rc = opt_set(y->cfg, o, val, "", msg);
    if (rc == TR_EINVAL) {
        return yerr(y, line, msg);
    }
    return rc == 0 ? 0 : tr_errf(rc, y->errmsg, "%s", msg);
}

/* A sequence value (allowed for K_ADDRS only): items joined with ','. */
static int yseq(struct yload *y, const struct opt *o, size_t line)
{
    struct tr_buf b;
    yaml_event_t ev;
    int rc;
    tr_buf_init(&b);
    tr_buf_puts(&b, "");
    for (;;) {
        if ((rc = ynext(y, &ev)) != 0) {
            goto err_after_buf;
        }
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (ev.type != YAML_SCALAR_EVENT) {
            rc =
                yerr(y, ev.start_mark.line + 1, "expected a list of addresses");
            yaml_event_delete(&ev);
            goto err_after_buf;
        }
        if (b.len > 0) {
            tr_buf_putc(&b, ',');
        }
        tr_buf_puts(&b, (const char *)ev.data.scalar.value);
        yaml_event_delete(&ev);
    }
    if (b.oom) {
        rc = tr_errf(TR_ENOMEM, y->errmsg, "out of memory");
        goto err_after_buf;
    }
    rc = yapply(y, o, b.data, line);

err_after_buf:
    tr_buf_free(&b);
    return rc;
}

/* Applies the keys of a mapping whose start event was just consumed; keys
 * are prefixed with "prefix." (nested form of dotted names). */
static int ymapping(struct yload *y, const char *prefix)
{
    yaml_event_t kev, vev;
    int rc;
    for (;;) {
        if ((rc = ynext(y, &kev)) != 0) {
            return rc;
        }
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            return 0;
        }
        size_t line = kev.start_mark.line + 1;
        if (kev.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&kev);
            return yerr(y, line, "expected a key");
        }
        char path[256];
        int n =
            snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "",
                     (const char *)kev.data.scalar.value);
        yaml_event_delete(&kev);
        char msg[TR_ERRMSG_SIZE];
        snprintf(msg, sizeof(msg), "unknown key \"%.200s\"", path);
        const struct opt *o = NULL;
        if (n > 0 && (size_t)n < sizeof(path)) {
            o = opt_find(path, strlen(path));
        }
        if (o != NULL && (o->flags & O_NOYAML)) {
            if (o->kind == K_CONFIG) {
                snprintf(msg, sizeof(msg),
                         "key \"%s\" is only allowed as a flag", path);
            }
            o = NULL;
        }

        if ((rc = ynext(y, &vev)) != 0) {
            return rc;
        }
        switch (vev.type) {
            case YAML_SCALAR_EVENT:
                if (o == NULL) {
                    rc = yerr(y, line, msg);
                    break;
                }
                rc = yapply(y, o,
                            is_null_scalar(&vev)
                                ? ""
                                : (const char *)vev.data.scalar.value,
                            line);
                break;
            case YAML_MAPPING_START_EVENT:
                if ((size_t)n >= sizeof(path) || !is_prefix_of_some_key(path)) {
                    if (o != NULL) {
                        snprintf(msg, sizeof(msg),
                                 "expected a single value for %s, not a "
                                 "mapping",
                                 path);
                    }
                    rc = yerr(y, line, msg);
                    break;
                }
                rc = ymapping(y, path);
                break;
            case YAML_SEQUENCE_START_EVENT:
                if (o == NULL) {
                    rc = yerr(y, line, msg);
                } else if (o->kind != K_ADDRS) {
                    snprintf(msg, sizeof(msg),
                             "expected a single value for %s, not a list",
                             path);
                    rc = yerr(y, line, msg);
                } else {
                    rc = yseq(y, o, line);
                }
                break;
            case YAML_ALIAS_EVENT:
                rc = yerr(y, vev.start_mark.line + 1,
                          "aliases are not supported");
                break;
            default:
                rc = yerr(y, vev.start_mark.line + 1, "unexpected YAML event");
                break;
        }
        yaml_event_delete(&vev);
        if (rc != 0) {
            return rc;
        }
    }
}

/* Stream: STREAM-START [DOCUMENT-START root DOCUMENT-END] STREAM-END, where
 * root is a mapping or an empty/null scalar. */
static int yload_stream(struct yload *y)
{
    yaml_event_t ev;
    int rc;
    bool seen_doc = false;
    for (;;) {
        if ((rc = ynext(y, &ev)) != 0) {
            return rc;
        }
        yaml_event_type_t t = ev.type;
        size_t line = ev.start_mark.line + 1;
        bool null_root = t == YAML_SCALAR_EVENT && is_null_scalar(&ev);
        yaml_event_delete(&ev);
        switch (t) {
            case YAML_STREAM_START_EVENT:
            case YAML_DOCUMENT_END_EVENT:
                break;
            case YAML_STREAM_END_EVENT:
                return 0;
            case YAML_DOCUMENT_START_EVENT:
                if (seen_doc) {
                    return yerr(y, line,
                                "more than one YAML document is not supported");
                }
                seen_doc = true;
                break;
            case YAML_MAPPING_START_EVENT:
                if ((rc = ymapping(y, "")) != 0) {
                    return rc;
                }
                break;
            case YAML_SCALAR_EVENT:
                if (null_root) {
                    break; /* an empty document */
                }
                return yerr(y, line, "the top level must be a mapping");
            default:
                return yerr(y, line, "the top level must be a mapping");
        }
    }
}

static int load_file(struct tr_config *cfg, const char *path, char *errmsg)
{
    struct yload y = {.cfg = cfg, .file = path, .errmsg = errmsg};
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return tr_errf(TR_EINVAL, errmsg, "config file %s: %s", path,
                       strerror(errno));
    }
    if (!yaml_parser_initialize(&y.parser)) {
        fclose(f);
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    yaml_parser_set_input_file(&y.parser, f);
    int rc = yload_stream(&y);
    yaml_parser_delete(&y.parser);
    fclose(f);
    return rc;
}

/* ---- argv ---------------------------------------------------------------- */

struct argval {
    const struct opt *o;
    const char *val; /* points into argv */
};

static int parse_command(const char *s, enum tr_command *out, char *errmsg)
{
    static const struct {
        const char *name;
        enum tr_command cmd;
    } cmds[] = {
        {"serve", TR_CMD_SERVE}, {"status", TR_CMD_STATUS},
        {"drain", TR_CMD_DRAIN}, {"version", TR_CMD_VERSION},
        {"help", TR_CMD_HELP},
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(s, cmds[i].name) == 0) {
            *out = cmds[i].cmd;
            return 0;
        }
    }
    return tr_errf(TR_EINVAL, errmsg, "unknown command: %.100s", s);
}

/* Pass 1. Fills vals[*nvals] and *config (last --config), or sets
 * cfg->command to help/version and stops (*stop). */
static int scan_argv(struct tr_config *cfg,
                     int argc,
                     char **argv,
                     struct argval *vals,
                     size_t *nvals,
                     const char **config,
                     bool *stop,
                     char *errmsg)
{
    int i = 1;
    *stop = false;
    if (argc > 1 && argv[1][0] != '-') {
        int rc = parse_command(argv[1], &cfg->command, errmsg);
        if (rc != 0) {
            return rc;
        }
        if (cfg->command == TR_CMD_HELP || cfg->command == TR_CMD_VERSION) {
            *stop = true;
            return 0;
        }
        i = 2;
    }
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            cfg->command = TR_CMD_HELP;
            *stop = true;
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            cfg->command = TR_CMD_VERSION;
            *stop = true;
            return 0;
        }
        if (a[0] != '-') {
            return tr_errf(TR_EINVAL, errmsg, "unexpected argument: %.100s", a);
        }
        if (a[1] != '-' || a[2] == '\0') {
            return tr_errf(TR_EINVAL, errmsg, "unknown flag: %.100s", a);
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = opt_find(name, len);
        if (o == NULL) {
            return tr_errf(TR_EINVAL, errmsg, "unknown flag: --%.*s",
                           (int)(len > 100 ? 100 : len), name);
        }
        const char *val;
        if (eq != NULL) {
            val = eq + 1;
        } else if (o->kind == K_BOOL) {
            val = "true";
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            val = argv[++i];
        } else {
            return tr_errf(TR_EINVAL, errmsg, "flag needs a value: --%s",
                           o->name);
        }
        if (o->kind == K_CONFIG) {
            *config = val;
        }
        vals[(*nvals)++] = (struct argval){o, val};
    }
    return 0;
}

int tr_config_load(struct tr_config *cfg, int argc, char **argv, char *errmsg)
{
    struct argval *vals = NULL;
    size_t nvals = 0;
    const char *config = NULL;
    bool stop;
    int rc;

    if ((rc = tr_config_defaults(cfg)) != 0) {
        return tr_errf(rc, errmsg, "out of memory");
    }
    if (argc > 1) {
        vals = tr_calloc((size_t)argc, sizeof(*vals));
        if (vals == NULL) {
            rc = tr_errf(TR_ENOMEM, errmsg, "out of memory");
            goto err_after_defaults;
        }
    }
    rc = scan_argv(cfg, argc, argv, vals, &nvals, &config, &stop, errmsg);
    if (rc != 0) {
        goto err_after_vals;
    }
    if (stop) {
        tr_free(vals);
        return 0;
    }
    if (config != NULL && *config != '\0') {
        if ((rc = load_file(cfg, config, errmsg)) != 0) {
            goto err_after_vals;
        }
    }
    for (size_t i = 0; i < nvals; i++) {
        if ((rc = opt_set(cfg, vals[i].o, vals[i].val, "--", errmsg)) != 0) {
            goto err_after_vals;
        }
    }
    tr_free(vals);
    return 0;

err_after_vals:
    tr_free(vals);
err_after_defaults:
    tr_config_free(cfg);
    return rc;
}

/* ---- usage, reference, dump -------------------------------------------- */

static const char *opt_default_text(const struct opt *o)
{
    if (o->def_doc != NULL) {
        return o->def_doc;
    }
    return o->def;
}

void tr_config_usage(FILE *f)
{
    size_t width = 0;
    for (size_t i = 0; i < N_OPTS; i++) {
        size_t w = 2 + strlen(opts[i].name) + 1 + strlen(opts[i].metavar);
        if (w > width) {
            width = w;
        }
    }
    fprintf(f,
            "usage: triad [serve|status|drain|version|help] [flags]\n"
            "\n"
            "commands:\n"
            "  serve    run the server (the default)\n"
            "  status   print the cluster status of the node at --addr\n"
            "  drain    have the node at --addr hand its Raft leaderships\n"
            "           away (before a planned stop; --timeout)\n"
            "  version  print the version\n"
            "  help     print this help (also -h, --help)\n"
            "\n"
            "flags (--flag VALUE or --flag=VALUE; each is also a key of the\n"
            "--config YAML file, and flags override the file):\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct opt *o = &opts[i];
        char head[128];
        snprintf(head, sizeof(head), "--%s%s%s", o->name,
                 *o->metavar ? " " : "", o->metavar);
        const char *def = opt_default_text(o);
        fprintf(f, "  %-*s  %s", (int)width, head, o->help);
        if (*def == '\0') {
            fprintf(f, " (default \"\")\n");
        } else {
            fprintf(f, " (default %s)\n", def);
        }
    }
    fprintf(f,
            "\n"
            "DURATION: 500ms, 15s, 1h30m, 20d, 2w, 1y. SIZE: 1048576, 512k,\n"
            "64MiB, 1GB (powers of 1024). BOOL: --flag, --flag=true|false.\n"
            "ADDR: host:port, [ipv6]:port, :port; \"\" disables a listener.\n");
}

static void md_cell(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '|') {
            fputs("\\|", f);
        } else {
            fputc(*s, f);
        }
    }
}

void tr_config_reference(FILE *f)
{
    fprintf(f,
            "| flag / YAML key | value | default | meaning |\n"
            "|---|---|---|---|\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct opt *o = &opts[i];
        const char *def = opt_default_text(o);
        fprintf(f, "| `--%s` | %s | ", o->name,
                *o->metavar ? o->metavar : "BOOL");
        if (o->def_doc != NULL) {
            md_cell(f, def);
        } else {
            fputc('`', f);
            fputs(*def ? def : "\"\"", f);
            fputc('`', f);
        }
        fputs(" | ", f);
        md_cell(f, o->help);
        if (o->flags & O_NOYAML) {
            fputs(" (flag only)", f);
        }
        fputs(" |\n", f);
    }
}

static void yaml_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            fprintf(f, "\\%c", c);
        } else if (c < 0x20) {
            fprintf(f, "\\x%02x", c);
        } else {
            fputc(c, f);
        }
    }
    fputc('"', f);
}

void tr_config_dump(const struct tr_config *cfg, FILE *f)
{
    char buf[64];
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct opt *o = &opts[i];
        const void *p = cfield(cfg, o);
        if (o->flags & O_NOYAML) {
            continue;
        }
        fprintf(f, "%s: ", o->name);
        switch (o->kind) {
            case K_STR:
            case K_NAME:
            case K_ADDR:
            case K_ADDRS:
            case K_URL:
            case K_LEVEL:
            case K_CONFIG: {
                const char *s = *(char *const *)p;
                if (s == NULL) {
                    s = "";
                }
                yaml_quoted(f, (o->flags & O_SECRET) && *s ? "<hidden>" : s);
                break;
            }
            case K_BOOL:
                fputs(*(const bool *)p ? "true" : "false", f);
                break;
            case K_U32:
                fprintf(f, "%lu", (unsigned long)*(const uint32_t *)p);
                break;
            case K_U64:
                fprintf(f, "%llu", (unsigned long long)*(const uint64_t *)p);
                break;
            case K_RATE:
                fprintf(f, "%.17g", *(const double *)p);
                break;
            case K_DUR_INHERIT:
                if (*(const int64_t *)p < 0) {
                    fputs("inherit", f);
                    break;
                }
                /* fall through */
            case K_DUR:
                fputs(tr_format_duration_ms(*(const int64_t *)p, buf,
                                            sizeof(buf)),
                      f);
                break;
            case K_SIZE: {
                size_t v = *(const size_t *)p;
                static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
                int u = -1;
                while (u < 3 && v != 0 && v % 1024 == 0) {
                    v /= 1024;
                    u++;
                }
                fprintf(f, "%zu%s", v, u >= 0 ? units[u] : "");
                break;
            }
        }
        fputc('\n', f);
    }
}
