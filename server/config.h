/* config.h - triad's configuration: built-in defaults < YAML file
 * (--config FILE) < command-line flags. Every flag is also a YAML key with
 * the same name (without "--"; dotted names like "retention.metrics" are
 * nested YAML maps: retention: {metrics: 20d}). */
#ifndef TR_SERVER_CONFIG_H
#define TR_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum tr_command {
    TR_CMD_SERVE,
    TR_CMD_STATUS,
    TR_CMD_DRAIN,
    TR_CMD_VERSION,
    TR_CMD_HELP
};

struct tr_limits {
    uint64_t max_series;          /* per tenant, active series; 0 = off */
    double ingestion_rate;        /* samples/s per tenant; 0 = off */
    uint64_t ingestion_burst;     /* token bucket size */
    uint32_t max_label_names;     /* per series */
    uint32_t max_label_name_len;  /* bytes */
    uint32_t max_label_value_len; /* bytes */
    uint32_t max_metadata_len;    /* help/unit bytes */
    /* logs (Loki's limits and defaults) */
    uint64_t max_streams;          /* per tenant; 0 = off */
    size_t logs_max_line_size;     /* bytes per line; 0 = off */
    uint32_t logs_max_label_names; /* per stream */
    size_t logs_rate_bytes;        /* line bytes/s per tenant; 0 = off */
    size_t logs_burst_bytes;       /* token bucket size */
    char *discover_service_name;   /* labels that give service_name, "a,b" */
    bool discover_log_levels;      /* detected_level metadata */
    size_t logs_max_entries;       /* LogQL: limit of a log query */
    size_t logs_max_query_series;  /* LogQL: streams/series of a result */
    size_t logs_max_query_bytes;   /* LogQL: line bytes read; 0 = off */
    /* traces (Tempo's limits and defaults) */
    size_t traces_max_bytes_per_trace; /* per trace and request; 0 = off */
    size_t traces_max_attr_bytes;      /* longer values cut; 0 = off */
    size_t traces_rate_bytes;          /* request bytes/s per tenant; 0 = off */
    size_t traces_burst_bytes;         /* token bucket size */
    uint64_t traces_metrics_max_series; /* span metrics + service graph
                                           series per tenant; 0 = off */
    uint64_t service_graph_max_pending; /* half-seen edges per tenant */
};

struct tr_config {
    enum tr_command command;
    char *config_file;           /* --config */
    char *http_addr;             /* --http-addr, 0.0.0.0:3100 */
    char *tempo_http_addr;       /* --tempo-http-addr, 0.0.0.0:3200; "" off */
    char *otlp_grpc_addr;        /* --otlp-grpc-addr, 0.0.0.0:4317 */
    char *otlp_http_addr;        /* --otlp-http-addr, 0.0.0.0:4318 */
    char *cluster_addr;          /* --cluster-addr, 0.0.0.0:9095 */
    char *data_dir;              /* --data-dir, ./data */
    char *node_name;             /* --node-name, default host name */
    char *advertise_addr;        /* --advertise-addr */
    char *join;                  /* --join ADDR[,ADDR...] */
    uint32_t bootstrap_expect;   /* --bootstrap-expect, 0 = none */
    uint32_t replication_factor; /* --replication-factor, 0 = min(3,n) */
    uint32_t shards_per_window;  /* --shards-per-window, 0 = nodes */
    int64_t placement_window_ms; /* --placement-window, 24h */
    int64_t raft_election_ms;    /* --raft.election-timeout, 300ms */
    int64_t raft_heartbeat_ms;   /* --raft.heartbeat-timeout, 50ms */
    bool raft_pre_vote;          /* --raft.pre-vote, true */
    uint32_t raft_snapshot_threshold;    /* --raft.snapshot-threshold, 4096 */
    uint32_t raft_snapshot_trailing;     /* --raft.snapshot-trailing, 1024 */
    size_t raft_snapshot_bytes;          /* --raft.snapshot-bytes, 4MiB */
    size_t raft_snapshot_trailing_bytes; /* --raft.snapshot-trailing-bytes */
    size_t raft_segment_bytes;           /* --raft.segment-size */
    int64_t cluster_write_timeout_ms;    /* --cluster.write-timeout, 10s */
    size_t compaction_write_rate; /* --compaction.max-write-rate, 64MiB */
    int64_t retention_metrics_ms; /* --retention.metrics, 20d */
    int64_t retention_logs_ms;    /* --retention.logs, 7d */
    int64_t retention_traces_ms;  /* --retention.traces, 14d */
    int64_t late_write_grace_ms;  /* --late-write-grace, 2h */
    int64_t late_write_grace_metrics_ms; /* --late-write-grace.metrics, -1 =
                                            inherit */
    int64_t late_write_grace_logs_ms;    /* --late-write-grace.logs */
    int64_t late_write_grace_traces_ms;  /* --late-write-grace.traces */
    int64_t ooo_window_ms;               /* --ingest.ooo-window, 1h */
    int64_t creation_grace_ms;      /* --ingest.creation-grace, 10m: how far in
                                       the future a sample may be */
    bool auth_enabled;              /* --auth.enabled */
    char *cluster_secret;           /* --cluster-secret */
    char *log_level;                /* --log-level, info */
    size_t max_body_bytes;          /* --http.max-body-size, 64MiB */
    int64_t http_header_timeout_ms; /* --http.header-timeout, 10s */
    int64_t http_body_timeout_ms;   /* --http.body-timeout, 60s */
    int64_t http_idle_timeout_ms;   /* --http.idle-timeout, 120s */
    uint32_t http_max_connections;  /* --http.max-connections, 10000 */
    int64_t shutdown_timeout_ms;    /* --shutdown-timeout, 30s */
    bool wal_sync;                  /* --storage.wal-sync: fsync per write */
    size_t storage_cache_bytes;     /* --storage.block-cache-size, 256MiB */
    int64_t head_flush_interval_ms; /* --storage.head-checkpoint-interval, 5m */
    uint32_t storage_apply_threads; /* --storage.apply-threads, 2 */
    size_t apply_queue_bytes;       /* --storage.apply-queue-size, 64MiB */
    char *debug_fake_clock;         /* --debug.fake-clock RFC3339, "" off */
    char *runtime_config_file;      /* --runtime-config.file, "" none */
    int64_t runtime_config_reload_ms; /* --runtime-config.reload-period */
    struct tr_limits limits;   /* --limits.* (defaults for every tenant) */
    bool traces_span_metrics;  /* --traces.span-metrics, true */
    bool traces_service_graph; /* --traces.service-graph, true */
    int64_t traces_metrics_flush_ms; /* --traces.metrics-flush-interval */
    int64_t service_graph_wait_ms;   /* --traces.service-graph-wait, 10s */
    int64_t query_timeout_ms;        /* --query.timeout, 2m */
    uint64_t query_max_samples; /* --query.max-samples, 50000000; 0: none */
    uint64_t query_max_series;  /* --query.max-series, 0: none */
    int64_t query_lookback_ms;  /* --query.lookback-delta, 5m */
    char *status_addr;          /* `triad status --addr URL` */
    bool status_verify;         /* `triad status --verify` */
    int64_t drain_timeout_ms;   /* `triad drain --timeout D` */
};

/* Fills cfg with defaults, then the YAML file named by --config (if any),
 * then flags from argv (argv[1] may be a command: serve|status|version|help).
 * Returns 0, or TR_EINVAL with errmsg set ("unknown flag --x", "invalid
 * value for --y: ...", "config file: line 3: ..."). */
int tr_config_load(struct tr_config *cfg, int argc, char **argv, char *errmsg);
void tr_config_free(struct tr_config *cfg);
/* Usage text for `triad help` and flag errors. */
void tr_config_usage(FILE *f);
/* Parses Prometheus-style durations: "15s", "1h30m", "20d", "2w", "500ms";
 * TR_EINVAL otherwise. */
int tr_parse_duration_ms(const char *s, int64_t *out);
/* Parses sizes: "64MiB", "1GB", "512k", "1048576". */
int tr_parse_size(const char *s, size_t *out);

/* ---- additions ---------------------------------------------------------
 *
 * Contract details of tr_config_load (server/config.c):
 *  - After a successful load every char * field is non-NULL and owned by
 *    cfg (tr_free'd by tr_config_free); "" means "not set" (config_file,
 *    advertise_addr, join, cluster_secret) or "listener disabled" (the
 *    *_addr listener fields).
 *  - join is normalised to "a,b,c": items trimmed, no empty items (a YAML
 *    sequence is accepted too).
 *  - On error cfg is freed and zeroed (tr_config_free on it is harmless);
 *    errmsg (may be NULL) says why. TR_ENOMEM on allocation failure.
 *  - -h/--help anywhere (before an error) gives TR_CMD_HELP, --version gives
 *    TR_CMD_VERSION; for help/version no config file is read. */

/* Sets cfg to the built-in defaults (node_name = gethostname()). Returns 0
 * or TR_ENOMEM (cfg then zeroed). Free with tr_config_free. */
int tr_config_defaults(struct tr_config *cfg);

/* Writes the effective configuration as a YAML file that --config accepts
 * (flat dotted keys); cluster_secret is shown as "<hidden>" when set. */
void tr_config_dump(const struct tr_config *cfg, FILE *f);

/* Writes the Markdown reference table (one row per flag/YAML key: flag,
 * value, default, meaning) that docs/configuration.md embeds. Generated
 * from the same table that drives parsing and usage. */
void tr_config_reference(FILE *f);

/* Formats a duration as tr_parse_duration_ms reads it back ("20d",
 * "1h30m", "0s"; units d h m s ms). Negative values give "-1" style
 * decimal. Returns buf. size >= 32 always suffices. */
char *tr_format_duration_ms(int64_t ms, char *buf, size_t size);

/* Splits a "host:port" address ("0.0.0.0:3100", ":3100", "[::1]:9095",
 * "node-0.triad:3100"): host (without brackets, may be "") is copied into
 * host[host_size], port (0-65535) into *port. Returns 0 or TR_EINVAL with
 * errmsg (may be NULL) set to the reason ("missing port", ...). */
int tr_addr_split(const char *addr,
                  char *host,
                  size_t host_size,
                  int *port,
                  char *errmsg);

#endif
