/* test_config.c - server/config.c: defaults, flags, YAML, precedence,
 * error messages, durations and sizes, docs kept in sync, OOM. */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/lib/files.h"
#include "tests/lib/oom.h"
#include "lib/alloc.h"
#include "lib/err.h"
#include "server/config.h"

#define MS_S 1000LL
#define MS_M (60 * MS_S)
#define MS_H (60 * MS_M)
#define MS_D (24 * MS_H)

/* Loads from a NULL-terminated list of arguments (argv[0] is added). */
static int cfg_load_args(struct tr_config *cfg, char *errmsg, ...)
{
    char *argv[64];
    int argc = 0;
    va_list ap;
    argv[argc++] = (char *)"triad";
    va_start(ap, errmsg);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;) {
        cr_assert_lt(argc, 63);
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;
    errmsg[0] = '\0';
    return tr_config_load(cfg, argc, argv, errmsg);
}

#define LOAD(cfg, errmsg, ...) cfg_load_args(cfg, errmsg, __VA_ARGS__, NULL)

/* Writes text to a fresh temporary file; the path is in path[64]. */
static void cfg_tmpfile(char *path, const char *text)
{
    snprintf(path, 64, "/tmp/triad-test-config-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    size_t n = strlen(text);
    cr_assert_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
}

/* Loads text as the --config file; removes the file. */
static int cfg_load_yaml(struct tr_config *cfg, char *errmsg, const char *text)
{
    char path[64];
    cfg_tmpfile(path, text);
    int rc = LOAD(cfg, errmsg, "--config", path);
    unlink(path);
    return rc;
}

/* Expects a failed load of text as the --config file with the message
 * "config file PATH: " + want. */
static void cfg_expect_yaml_err(const char *text, const char *want)
{
    struct tr_config cfg;
    char errmsg[TR_ERRMSG_SIZE];
    char path[64];
    cfg_tmpfile(path, text);
    int rc = LOAD(&cfg, errmsg, "--config", path);
    unlink(path);
    cr_assert_eq(rc, TR_EINVAL, "rc %d for %s", rc, text);
    char want_full[TR_ERRMSG_SIZE];
    snprintf(want_full, sizeof(want_full), "config file %s: %s", path, want);
    cr_assert_str_eq(errmsg, want_full);
    cr_assert_null(cfg.data_dir); /* freed and zeroed on error */
    tr_config_free(&cfg);
}

static void cfg_expect_flag_err(const char *flag,
                                const char *value,
                                const char *want)
{
    struct tr_config cfg;
    char errmsg[TR_ERRMSG_SIZE];
    int rc = LOAD(&cfg, errmsg, flag, value);
    cr_assert_eq(rc, TR_EINVAL, "%s %s: rc %d", flag, value, rc);
    cr_assert_str_eq(errmsg, want);
    tr_config_free(&cfg);
}

Test(config, defaults)
{
    struct tr_config cfg;
    char errmsg[TR_ERRMSG_SIZE];
    cr_assert_eq(LOAD(&cfg, errmsg, "serve"), 0, "%s", errmsg);
    cr_assert_eq(cfg.command, TR_CMD_SERVE);
    cr_assert_str_eq(cfg.config_file, "");
    cr_assert_str_eq(cfg.http_addr, "0.0.0.0:3100");
    cr_assert_str_eq(cfg.tempo_http_addr, "0.0.0.0:3200");
    cr_assert_str_eq(cfg.otlp_grpc_addr, "0.0.0.0:4317");
    cr_assert_str_eq(cfg.otlp_http_addr, "0.0.0.0:4318");
    cr_assert_str_eq(cfg.cluster_addr, "0.0.0.0:9095");
    cr_assert_str_eq(cfg.data_dir, "./data");
    char host[256] = "";
    gethostname(host, sizeof(host));
    cr_assert_str_eq(cfg.node_name, host);
    cr_assert_str_eq(cfg.advertise_addr, "");
    cr_assert_str_eq(cfg.join, "");
    cr_assert_eq(cfg.bootstrap_expect, 0);
    cr_assert_eq(cfg.replication_factor, 0);
    cr_assert_eq(cfg.shards_per_window, 0);
    cr_assert_eq(cfg.placement_window_ms, 24 * MS_H);
    cr_assert_eq(cfg.retention_metrics_ms, 20 * MS_D);
    cr_assert_eq(cfg.retention_logs_ms, 7 * MS_D);
    cr_assert_eq(cfg.retention_traces_ms, 14 * MS_D);
    cr_assert_eq(cfg.late_write_grace_ms, 2 * MS_H);
    cr_assert_eq(cfg.late_write_grace_metrics_ms, -1);
    cr_assert_eq(cfg.late_write_grace_logs_ms, 24 * MS_H);
    cr_assert_eq(cfg.late_write_grace_traces_ms, -1);
    cr_assert_eq(cfg.ooo_window_ms, MS_H);
    cr_assert_eq(cfg.limits.max_streams, 100000);
    cr_assert_eq(cfg.limits.logs_max_line_size, 256 * 1024);
    cr_assert_eq(cfg.limits.logs_max_label_names, 15);
    cr_assert_eq(cfg.limits.logs_rate_bytes, 4 * 1024 * 1024);
    cr_assert_eq(cfg.limits.logs_burst_bytes, 6 * 1024 * 1024);
    cr_assert_str_eq(cfg.limits.discover_service_name,
                     "service,app,application,name,app_kubernetes_io_name,"
                     "container,container_name,k8s_container_name,component,"
                     "workload,job,k8s_job_name");
    cr_assert(cfg.limits.discover_log_levels);
    cr_assert_eq(cfg.limits.logs_max_entries, 5000);
    cr_assert_eq(cfg.limits.logs_max_query_series, 500);
    cr_assert_eq(cfg.limits.logs_max_query_bytes, 0);
    cr_assert_eq(cfg.creation_grace_ms, 10 * MS_M);
    cr_assert_eq(cfg.auth_enabled, false);
    cr_assert_str_eq(cfg.cluster_secret, "");
    cr_assert_str_eq(cfg.log_level, "info");
    cr_assert_eq(cfg.max_body_bytes, 64u << 20);
    cr_assert_eq(cfg.http_header_timeout_ms, 10 * MS_S);
    cr_assert_eq(cfg.http_body_timeout_ms, 60 * MS_S);
    cr_assert_eq(cfg.http_idle_timeout_ms, 120 * MS_S);
    cr_assert_eq(cfg.http_max_connections, 10000);
    cr_assert_eq(cfg.shutdown_timeout_ms, 30 * MS_S);
    cr_assert_eq(cfg.wal_sync, false);
    cr_assert_eq(cfg.storage_cache_bytes, 256u << 20);
    cr_assert_eq(cfg.head_flush_interval_ms, 5 * MS_M);
    cr_assert_eq(cfg.limits.max_series, 1500000);
    cr_assert_eq(cfg.limits.ingestion_rate, 1e6);
    cr_assert_eq(cfg.limits.ingestion_burst, 2000000);
    cr_assert_eq(cfg.limits.max_label_names, 30);
    cr_assert_eq(cfg.limits.max_label_name_len, 1024);
    cr_assert_eq(cfg.limits.max_label_value_len, 2048);
    cr_assert_eq(cfg.limits.max_metadata_len, 1024);
    cr_assert_str_eq(cfg.status_addr, "http://127.0.0.1:3100");
    tr_config_free(&cfg);
    tr_config_free(&cfg); /* zeroed: harmless */

    /* no arguments at all, and tr_config_defaults, give the same */
    char *argv0[] = {(char *)"triad", NULL};
    cr_assert_eq(tr_config_load(&cfg, 1, argv0, errmsg), 0);
    cr_assert_eq(cfg.command, TR_CMD_SERVE);
    cr_assert_str_eq(cfg.http_addr, "0.0.0.0:3100");
    tr_config_free(&cfg);
    cr_assert_eq(tr_config_defaults(&cfg), 0);
    cr_assert_eq(cfg.retention_logs_ms, 7 * MS_D);
    tr_config_free(&cfg);
}

Test(config, commands)
{
    struct tr_config cfg;
    char errmsg[TR_ERRMSG_SIZE];
    static const struct {
        const char *arg;
        enum tr_command cmd;
    } cases[] = {
        {"serve", TR_CMD_SERVE},       {"status", TR_CMD_STATUS},
        {"version", TR_CMD_VERSION},   {"help", TR_CMD_HELP},
        {"-h", TR_CMD_HELP},           {"--help", TR_CMD_HELP},
        {"--version", TR_CMD_VERSION},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(LOAD(&cfg, errmsg, cases[i].arg), 0, "%s", cases[i].arg);
        cr_assert_eq(cfg.command, cases[i].cmd, "%s", cases[i].arg);
        tr_config_free(&cfg);
    }
    /* help wins over later flags and files (none is read) */
    cr_assert_eq(LOAD(&cfg, errmsg, "serve", "--data-dir", "/x", "--help",
                      "--config", "/nonexistent.yaml"),
                 0);
    cr_assert_eq(cfg.command, TR_CMD_HELP);
    tr_config_free(&cfg);
    cr_assert_eq(LOAD(&cfg, errmsg, "status", "--addr", "http://node:3100"), 0);
    cr_assert_eq(cfg.command, TR_CMD_STATUS);
    cr_assert_str_eq(cfg.status_addr, "http://node:3100");
    tr_config_free(&cfg);

    cr_assert_eq(LOAD(&cfg, errmsg, "bogus"), TR_EINVAL);
    cr_assert_str_eq(errmsg, "unknown command: bogus");
    cr_assert_eq(LOAD(&cfg, errmsg, "serve", "stray"), TR_EINVAL);
    cr_assert_str_eq(errmsg, "unexpected argument: stray");
}

Test(config, flags_both_forms)
{
    struct tr_config cfg;
    char errmsg[TR_ERRMSG_SIZE];
    int rc =
        LOAD(&cfg, errmsg, "serve", "--http-addr", "127.0.0.1:9000",
             "--data-dir=/var/lib/triad", "--node-name", "node-0",
             "--retention.metrics=30d", "--placement-window", "1h30m",
             "--http.max-body-size=1GiB", "--limits.max-series", "0",
             "--limits.ingestion-rate=2.5e5", "--replication-factor=3",
             "--auth.enabled", "--storage.wal-sync=false", "--log-level=debug",
             "--cluster-secret", "s3cr=t", "--advertise-addr", "[::1]:9095");
    cr_assert_eq(rc, 0, "%s", errmsg);
    cr_assert_str_eq(cfg.http_addr, "127.0.0.1:9000");
    cr_assert_str_eq(cfg.data_dir, "/var/lib/triad");
    cr_assert_str_eq(cfg.node_name, "node-0");
    cr_assert_eq(cfg.retention_metrics_ms, 30 * MS_D);
    cr_assert_eq(cfg.placement_window_ms, 90 * MS_M);
    cr_assert_eq(cfg.max_body_bytes, (size_t)1 << 30);
    cr_assert_eq(cfg.limits.max_series, 0);
    cr_assert_eq(cfg.limits.ingestion_rate, 2.5e5);
    cr_assert_eq(cfg.replication_factor, 3);
    cr_assert_eq(cfg.auth_enabled, true);
    cr_assert_eq(cfg.wal_sync, false);
    cr_assert_str_eq(cfg.log_level, "debug");
    cr_assert_str_eq(cfg.cluster_secret, "s3cr=t");
    cr_assert_str_eq(cfg.advertise_addr, "[::1]:9095");
    tr_config_free(&cfg);

    /* booleans: bare, =true/false, other spellings; last one wins */
    rc = LOAD(&cfg, errmsg, "--auth.enabled=true", "--storage.wal-sync",
              "--auth.enabled=false");
    cr_assert_eq(rc, 0, "%s", errmsg);
    cr_assert_eq(cfg.auth_enabled, false);
    cr_assert_eq(cfg.wal_sync, true);
    tr_config_free(&cfg);
    rc = LOAD(&cfg, errmsg, "--auth.enabled=yes", "--storage.wal-sync=0");
    cr_assert_eq(rc, 0, "%s", errmsg);
    cr_assert_eq(cfg.auth_enabled, true);
    cr_assert_eq(cfg.wal_sync, false);
    tr_config_free(&cfg);
    /* a bare boolean does not take the next argument */
    cr_assert_eq(LOAD(&cfg, errmsg, "--auth.enabled", "false"), TR_EINVAL);
    cr_assert_str_eq(errmsg, "unexpected argument: false");
}

Test(config, empty_address_disables_listener)
{
    struct tr_config cfg;
    char errmsg[TR_ERRMSG_SIZE];
    int rc = LOAD(&cfg, errmsg, "--tempo-http-addr=", "--otlp-grpc-addr", "",
                  "--otlp-http-addr", ":4318");
    cr_assert_eq(rc, 0, "%s", errmsg);
    cr_assert_str_eq(cfg.tempo_http_addr, "");
    cr_assert_str_eq(cfg.otlp_grpc_addr, "");
    cr_assert_str_eq(cfg.otlp_http_addr, ":4318");
    cr_assert_str_eq(cfg.http_addr, "0.0.0.0:3100");
    tr_config_free(&cfg);
}

Test(config, join_and_inherit)
{
    struct tr_config cfg;
    char errmsg[TR_ERRMSG_SIZE];
    int rc = LOAD(&cfg, errmsg, "--join",
                  " node-0:3100, ,http://node-1:3100/ ,[fd00::2]:3100,",
                  "--late-write-grace", "30m", "--late-write-grace.logs", "0",
                  "--late-write-grace.traces=1h", "--late-write-grace.metrics",
                  "inherit");
    cr_assert_eq(rc, 0, "%s", errmsg);
    cr_assert_str_eq(cfg.join,
                     "node-0:3100,http://node-1:3100/,[fd00::2]:3100");
    cr_assert_eq(cfg.late_write_grace_ms, 30 * MS_M);
    cr_assert_eq(cfg.late_write_grace_metrics_ms, -1);
    cr_assert_eq(cfg.late_write_grace_logs_ms, 0);
    cr_assert_eq(cfg.late_write_grace_traces_ms, MS_H);
    tr_config_free(&cfg);

    rc = LOAD(&cfg, errmsg, "--late-write-grace.logs=-1");
    cr_assert_eq(rc, 0, "%s", errmsg);
    cr_assert_eq(cfg.late_write_grace_logs_ms, -1);
    tr_config_free(&cfg);

    cfg_expect_flag_err("--join", "node-0:3100,node-1",
                        "invalid value \"node-0:3100,node-1\" for --join: "
                        "node-1: missing port");
    cfg_expect_flag_err("--late-write-grace", "-1",
                        "invalid value \"-1\" for --late-write-grace: "
                        "not a duration");
}

Test(config, unknown_flags_and_missing_values)
{
    struct tr_config cfg;
    char errmsg[TR_ERRMSG_SIZE];
    cr_assert_eq(LOAD(&cfg, errmsg, "--foo"), TR_EINVAL);
    cr_assert_str_eq(errmsg, "unknown flag: --foo");
    cr_assert_null(cfg.http_addr);
    cr_assert_eq(LOAD(&cfg, errmsg, "serve", "--data-dir", "x", "--foo=bar"),
                 TR_EINVAL);
    cr_assert_str_eq(errmsg, "unknown flag: --foo");
    cr_assert_eq(LOAD(&cfg, errmsg, "-x"), TR_EINVAL);
    cr_assert_str_eq(errmsg, "unknown flag: -x");
    cr_assert_eq(LOAD(&cfg, errmsg, "--retention"), TR_EINVAL);
    cr_assert_str_eq(errmsg, "unknown flag: --retention");
    cr_assert_eq(LOAD(&cfg, errmsg, "--data-dir"), TR_EINVAL);
    cr_assert_str_eq(errmsg, "flag needs a value: --data-dir");
    cr_assert_eq(LOAD(&cfg, errmsg, "--data-dir", "--node-name", "n"),
                 TR_EINVAL);
    cr_assert_str_eq(errmsg, "flag needs a value: --data-dir");
    /* an unknown flag is reported before a bad config file is read */
    cr_assert_eq(LOAD(&cfg, errmsg, "--config", "/nonexistent", "--nope"),
                 TR_EINVAL);
    cr_assert_str_eq(errmsg, "unknown flag: --nope");
}

Test(config, bad_values)
{
    cfg_expect_flag_err("--placement-window", "abc",
                        "invalid value \"abc\" for --placement-window: "
                        "not a duration");
    cfg_expect_flag_err("--placement-window", "30s",
                        "invalid value \"30s\" for --placement-window: "
                        "must be at least 1m");
    cfg_expect_flag_err("--http-addr", "0.0.0.0:70000",
                        "invalid value \"0.0.0.0:70000\" for --http-addr: "
                        "port out of range 0-65535");
    cfg_expect_flag_err("--http-addr", "localhost",
                        "invalid value \"localhost\" for --http-addr: "
                        "missing port");
    cfg_expect_flag_err("--cluster-addr", "::1:9095",
                        "invalid value \"::1:9095\" for --cluster-addr: "
                        "write IPv6 hosts in brackets: [host]:port");
    cfg_expect_flag_err("--cluster-addr", "host:http",
                        "invalid value \"host:http\" for --cluster-addr: "
                        "port is not a number");
    cfg_expect_flag_err("--auth.enabled=maybe", NULL,
                        "invalid value \"maybe\" for --auth.enabled: "
                        "not a boolean (true, false)");
    cfg_expect_flag_err("--log-level", "loud",
                        "invalid value \"loud\" for --log-level: "
                        "not one of debug, info, warn, error");
    cfg_expect_flag_err("--bootstrap-expect", "-1",
                        "invalid value \"-1\" for --bootstrap-expect: "
                        "not a non-negative integer");
    cfg_expect_flag_err("--limits.max-label-names", "4294967296",
                        "invalid value \"4294967296\" for "
                        "--limits.max-label-names: must be at most "
                        "4294967295");
    cfg_expect_flag_err("--replication-factor", "16",
                        "invalid value \"16\" for --replication-factor: "
                        "must be at most 15");
    cfg_expect_flag_err("--http.max-connections", "0",
                        "invalid value \"0\" for --http.max-connections: "
                        "must be at least 1");
    cfg_expect_flag_err("--limits.ingestion-rate", "-5",
                        "invalid value \"-5\" for --limits.ingestion-rate: "
                        "not a non-negative finite number");
    cfg_expect_flag_err("--limits.ingestion-rate", "inf",
                        "invalid value \"inf\" for --limits.ingestion-rate: "
                        "not a non-negative finite number");
    cfg_expect_flag_err("--http.max-body-size", "12XB",
                        "invalid value \"12XB\" for --http.max-body-size: "
                        "not a size");
    cfg_expect_flag_err("--http.max-body-size", "100",
                        "invalid value \"100\" for --http.max-body-size: "
                        "must be at least 1024");
    cfg_expect_flag_err("--data-dir", "",
                        "invalid value \"\" for --data-dir: must not be empty");
    cfg_expect_flag_err("--node-name", "a b",
                        "invalid value \"a b\" for --node-name: not a name of "
                        "1-253 characters [A-Za-z0-9._-]");
    cfg_expect_flag_err("--addr", "ftp://x",
                        "invalid value \"ftp://x\" for --addr: scheme must be "
                        "http or https");
    cfg_expect_flag_err("--storage.head-checkpoint-interval", "500ms",
                        "invalid value \"500ms\" for "
                        "--storage.head-checkpoint-interval: must be at "
                        "least 1s");
}

Test(config, yaml_nested_and_flat)
{
    struct tr_config cfg;
    char errmsg[TR_ERRMSG_SIZE];
    const char *yaml =
        "# a comment\n"
        "http-addr: 127.0.0.1:3100\n"
        "tempo-http-addr: \"\"\n"
        "otlp-grpc-addr:\n" /* null: disabled */
        "data-dir: /data\n"
        "node-name: node-1\n"
        "join: [node-0:3100, node-2:3100]\n"
        "bootstrap-expect: 3\n"
        "retention:\n"
        "  metrics: 30d\n"
        "  logs: 3d\n"
        "\"retention.traces\": 1w\n"
        "late-write-grace: 1h\n"
        "late-write-grace.logs: 10m\n"
        "ingest: {ooo-window: 2h, creation-grace: 5m}\n"
        "auth:\n"
        "  enabled: true\n"
        "http:\n"
        "  max-body-size: 16MiB\n"
        "  idle-timeout: 1m30s\n"
        "storage.block-cache-size: 1g\n"
        "limits:\n"
        "  max-series: 10\n"
        "  ingestion-rate: 100.5\n"
        "  max-label-value-length: 512\n"
        "log-level: warn\n";
    int rc = cfg_load_yaml(&cfg, errmsg, yaml);
    cr_assert_eq(rc, 0, "%s", errmsg);
    cr_assert_str_eq(cfg.http_addr, "127.0.0.1:3100");
    cr_assert_str_eq(cfg.tempo_http_addr, "");
    cr_assert_str_eq(cfg.otlp_grpc_addr, "");
    cr_assert_str_eq(cfg.otlp_http_addr, "0.0.0.0:4318");
    cr_assert_str_eq(cfg.data_dir, "/data");
    cr_assert_str_eq(cfg.node_name, "node-1");
    cr_assert_str_eq(cfg.join, "node-0:3100,node-2:3100");
    cr_assert_eq(cfg.bootstrap_expect, 3);
    cr_assert_eq(cfg.retention_metrics_ms, 30 * MS_D);
    cr_assert_eq(cfg.retention_logs_ms, 3 * MS_D);
    cr_assert_eq(cfg.retention_traces_ms, 7 * MS_D);
    cr_assert_eq(cfg.late_write_grace_ms, MS_H);
    cr_assert_eq(cfg.late_write_grace_logs_ms, 10 * MS_M);
    cr_assert_eq(cfg.late_write_grace_metrics_ms, -1);
    cr_assert_eq(cfg.ooo_window_ms, 2 * MS_H);
    cr_assert_eq(cfg.creation_grace_ms, 5 * MS_M);
    cr_assert_eq(cfg.auth_enabled, true);
    cr_assert_eq(cfg.max_body_bytes, 16u << 20);
    cr_assert_eq(cfg.http_idle_timeout_ms, 90 * MS_S);
    cr_assert_eq(cfg.storage_cache_bytes, (size_t)1 << 30);
    cr_assert_eq(cfg.limits.max_series, 10);
    cr_assert_eq(cfg.limits.ingestion_rate, 100.5);
    cr_assert_eq(cfg.limits.max_label_value_len, 512);
    cr_assert_str_eq(cfg.log_level, "warn");
    cr_assert_neq(strstr(cfg.config_file, "/tmp/triad-test-config-"), NULL);
    tr_config_free(&cfg);

    /* nested per-signal grace under a mapping */
    rc = cfg_load_yaml(&cfg, errmsg,
                       "late-write-grace:\n  metrics: 5m\n  traces: 0s\n");
    cr_assert_eq(rc, 0, "%s", errmsg);
    cr_assert_eq(cfg.late_write_grace_ms, 2 * MS_H);
    cr_assert_eq(cfg.late_write_grace_metrics_ms, 5 * MS_M);
    cr_assert_eq(cfg.late_write_grace_traces_ms, 0);
    tr_config_free(&cfg);

    /* empty files and empty documents are fine */
    cr_assert_eq(cfg_load_yaml(&cfg, errmsg, ""), 0, "%s", errmsg);
    tr_config_free(&cfg);
    cr_assert_eq(cfg_load_yaml(&cfg, errmsg, "# only a comment\n---\n"), 0,
                 "%s", errmsg);
    cr_assert_str_eq(cfg.data_dir, "./data");
    tr_config_free(&cfg);
}

Test(config, flags_override_file)
{
    struct tr_config cfg;
    char errmsg[TR_ERRMSG_SIZE];
    char path[64];
    cfg_tmpfile(path,
                "data-dir: /from-file\nretention: {logs: 1d}\n"
                "auth.enabled: true\n");
    /* the flag comes before --config and still wins */
    int rc = LOAD(&cfg, errmsg, "serve", "--data-dir", "/from-flag", "--config",
                  path, "--auth.enabled=false");
    cr_assert_eq(rc, 0, "%s", errmsg);
    cr_assert_str_eq(cfg.data_dir, "/from-flag");
    cr_assert_eq(cfg.retention_logs_ms, MS_D); /* file beats default */
    cr_assert_eq(cfg.auth_enabled, false);
    cr_assert_str_eq(cfg.config_file, path);
    tr_config_free(&cfg);

    rc = LOAD(&cfg, errmsg, "--config=", "--data-dir", "/d");
    cr_assert_eq(rc, 0, "%s", errmsg); /* --config "" reads no file */
    tr_config_free(&cfg);
    unlink(path);
}

Test(config, yaml_errors)
{
    cfg_expect_yaml_err(
        "data-dir: /d\n"
        "retention:\n"
        "  metrics: 30d\n"
        "foo: 1\n",
        "line 4: unknown key \"foo\"");
    cfg_expect_yaml_err(
        "retention:\n"
        "  metrics: 30d\n"
        "  forever: true\n",
        "line 3: unknown key \"retention.forever\"");
    cfg_expect_yaml_err("bogus:\n  metrics: 1d\n",
                        "line 1: unknown key \"bogus\"");
    cfg_expect_yaml_err("data-dir:\n  nested: 1\n",
                        "line 1: expected a single value for data-dir, not a "
                        "mapping");
    cfg_expect_yaml_err("\n\nplacement-window: abc\n",
                        "line 3: invalid value \"abc\" for placement-window: "
                        "not a duration");
    cfg_expect_yaml_err("limits:\n  max-series: lots\n",
                        "line 2: invalid value \"lots\" for "
                        "limits.max-series: not a non-negative integer");
    cfg_expect_yaml_err("config: other.yaml\n",
                        "line 1: key \"config\" is only allowed as a flag");
    cfg_expect_yaml_err("data-dir: [a, b]\n",
                        "line 1: expected a single value for data-dir, not a "
                        "list");
    cfg_expect_yaml_err("- a\n- b\n",
                        "line 1: the top level must be a mapping");
    cfg_expect_yaml_err("just text\n",
                        "line 1: the top level must be a mapping");
    cfg_expect_yaml_err("data-dir: a\n---\ndata-dir: b\n",
                        "line 2: more than one YAML document is not "
                        "supported");
    cfg_expect_yaml_err("x: &a 1\ndata-dir: *a\n", "line 1: unknown key \"x\"");
    cfg_expect_yaml_err("data-dir: &a d\nnode-name: *a\n",
                        "line 2: aliases are not supported");

    /* syntax errors carry libyaml's line and problem */
    struct tr_config cfg;
    char errmsg[TR_ERRMSG_SIZE];
    int rc = cfg_load_yaml(&cfg, errmsg, "data-dir: /d\njoin: [a:1\n");
    cr_assert_eq(rc, TR_EINVAL);
    cr_assert_neq(strstr(errmsg, ": line 3: "), NULL, "%s", errmsg);

    rc = LOAD(&cfg, errmsg, "--config", "/nonexistent/triad.yaml");
    cr_assert_eq(rc, TR_EINVAL);
    cr_assert_str_eq(errmsg,
                     "config file /nonexistent/triad.yaml: No such "
                     "file or directory");
}

Test(config, durations)
{
    static const struct {
        const char *s;
        int64_t ms;
    } good[] = {
        {"0", 0},
        {"0s", 0},
        {"500ms", 500},
        {"15s", 15 * MS_S},
        {"1m", MS_M},
        {"1h30m", 90 * MS_M},
        {"1h0m30s", MS_H + 30 * MS_S},
        {"20d", 20 * MS_D},
        {"2w", 14 * MS_D},
        {"1y", 365 * MS_D},
        {"1y2w3d4h5m6s7ms", 365 * MS_D + 14 * MS_D + 3 * MS_D + 4 * MS_H +
                                5 * MS_M + 6 * MS_S + 7},
        {"90m", 90 * MS_M},
        {"0001s", MS_S},
        {"9223372036854775807ms", INT64_MAX},
    };
    static const char *const bad[] = {
        "",           "abc",   "1",    "-1s",  "1.5h",
        "1h 30m",     "30m1h", "1m1m", "1s1m", "h",
        "1H",         "1hx",   "1 h",  " 1h",  "1h ",
        "+1h",        "1msm",  "1us",  "ms",   "9223372036854775808ms",
        "300000000y", "1e3s",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t v = -42;
        cr_assert_eq(tr_parse_duration_ms(good[i].s, &v), 0, "%s", good[i].s);
        cr_assert_eq(v, good[i].ms, "%s: %lld", good[i].s, (long long)v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v = -42;
        cr_assert_eq(tr_parse_duration_ms(bad[i], &v), TR_EINVAL, "%s", bad[i]);
        cr_assert_eq(v, -42, "%s", bad[i]);
    }

    /* formatting round-trips and uses d h m s ms */
    static const struct {
        int64_t ms;
        const char *s;
    } fmt[] = {
        {0, "0s"},          {1, "1ms"},
        {1500, "1s500ms"},  {90 * MS_M, "1h30m"},
        {20 * MS_D, "20d"}, {MS_D + 1, "1d1ms"},
    };
    char buf[32];
    for (size_t i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
        cr_assert_str_eq(tr_format_duration_ms(fmt[i].ms, buf, sizeof(buf)),
                         fmt[i].s);
        int64_t back;
        cr_assert_eq(tr_parse_duration_ms(buf, &back), 0);
        cr_assert_eq(back, fmt[i].ms);
    }
    cr_assert_str_eq(tr_format_duration_ms(-1, buf, sizeof(buf)), "-1");
    char big[32];
    tr_format_duration_ms(INT64_MAX, big, sizeof(big));
    int64_t back;
    cr_assert_eq(tr_parse_duration_ms(big, &back), 0, "%s", big);
    cr_assert_eq(back, INT64_MAX);
    char tiny[4];
    tr_format_duration_ms(90 * MS_M, tiny, sizeof(tiny));
    cr_assert_str_eq(tiny, "1h"); /* truncated at a unit boundary */
}

Test(config, sizes)
{
    static const struct {
        const char *s;
        size_t n;
    } good[] = {
        {"0", 0},
        {"1048576", 1048576},
        {"512k", 512 << 10},
        {"512K", 512 << 10},
        {"512KB", 512 << 10},
        {"512KiB", 512 << 10},
        {"64MiB", 64u << 20},
        {"64mb", 64u << 20},
        {"64M", 64u << 20},
        {"1GB", (size_t)1 << 30},
        {"1g", (size_t)1 << 30},
        {"2GiB", (size_t)2 << 30},
        {"1TiB", (size_t)1 << 40},
        {"100B", 100},
        {"100b", 100},
        {"64 MiB", 64u << 20},
    };
    static const char *const bad[] = {
        "",
        "MiB",
        "-1",
        "1.5GiB",
        "1 ",
        "12XB",
        "1KiBs",
        "1iB",
        "0x10",
        " 1",
        "1Mi",
        "1PB",
        "18446744073709551616",
        "17179869184GiB",
        "1e6",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        size_t v = 42;
        cr_assert_eq(tr_parse_size(good[i].s, &v), 0, "%s", good[i].s);
        cr_assert_eq(v, good[i].n, "%s: %zu", good[i].s, v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t v = 42;
        cr_assert_eq(tr_parse_size(bad[i], &v), TR_EINVAL, "%s", bad[i]);
        cr_assert_eq(v, 42, "%s", bad[i]);
    }
    size_t v;
    cr_assert_eq(tr_parse_size("16777215TiB", &v), 0);
    cr_assert_eq(v, (size_t)16777215 << 40);
    cr_assert_eq(tr_parse_size("16777216TiB", &v), TR_EINVAL);
}

Test(config, addr_split)
{
    char host[64];
    int port = -1;
    char errmsg[TR_ERRMSG_SIZE];
    cr_assert_eq(
        tr_addr_split("0.0.0.0:3100", host, sizeof(host), &port, errmsg), 0);
    cr_assert_str_eq(host, "0.0.0.0");
    cr_assert_eq(port, 3100);
    cr_assert_eq(tr_addr_split("[::1]:0", host, sizeof(host), &port, errmsg),
                 0);
    cr_assert_str_eq(host, "::1");
    cr_assert_eq(port, 0);
    cr_assert_eq(tr_addr_split(":65535", host, sizeof(host), &port, errmsg), 0);
    cr_assert_str_eq(host, "");
    cr_assert_eq(port, 65535);
    cr_assert_eq(
        tr_addr_split("node-0.triad.svc:9095", host, sizeof(host), &port, NULL),
        0);
    cr_assert_str_eq(host, "node-0.triad.svc");
    cr_assert_eq(tr_addr_split("h:65536", host, sizeof(host), &port, errmsg),
                 TR_EINVAL);
    cr_assert_str_eq(errmsg, "port out of range 0-65535");
    cr_assert_eq(
        tr_addr_split("h:99999999999999999999999", NULL, 0, NULL, errmsg),
        TR_EINVAL);
    cr_assert_str_eq(errmsg, "port out of range 0-65535");
    cr_assert_eq(tr_addr_split("h:", NULL, 0, NULL, errmsg), TR_EINVAL);
    cr_assert_str_eq(errmsg, "missing port");
    cr_assert_eq(tr_addr_split("h:-1", NULL, 0, NULL, errmsg), TR_EINVAL);
    cr_assert_str_eq(errmsg, "port is not a number");
    cr_assert_eq(tr_addr_split("[::1]", NULL, 0, NULL, errmsg), TR_EINVAL);
    cr_assert_str_eq(errmsg, "missing port");
    cr_assert_eq(tr_addr_split("[::1:80", NULL, 0, NULL, errmsg), TR_EINVAL);
    cr_assert_str_eq(errmsg, "missing ']'");
    cr_assert_eq(tr_addr_split("a b:80", NULL, 0, NULL, errmsg), TR_EINVAL);
    cr_assert_str_eq(errmsg, "bad character in host");
    char small[4];
    cr_assert_eq(tr_addr_split("abcd:80", small, sizeof(small), &port, errmsg),
                 TR_EINVAL);
    cr_assert_str_eq(errmsg, "host name too long");
}

Test(config, dump_round_trips)
{
    struct tr_config a, b;
    char errmsg[TR_ERRMSG_SIZE];
    int rc = LOAD(&a, errmsg, "--join", "n0:3100,n1:3100",
                  "--tempo-http-addr=", "--retention.logs=36h",
                  "--late-write-grace.metrics=15m", "--http.max-body-size",
                  "1025", "--storage.block-cache-size=3GiB",
                  "--limits.ingestion-rate=1234.5", "--auth.enabled",
                  "--data-dir", "/tmp/with \"quotes\"\\", "--log-level=error");
    cr_assert_eq(rc, 0, "%s", errmsg);
    char path[64];
    cfg_tmpfile(path, "");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    tr_config_dump(&a, f);
    fclose(f);
    rc = LOAD(&b, errmsg, "--config", path);
    char *text = tr_test_read_file(path, NULL);
    unlink(path);
    cr_assert_eq(rc, 0, "%s\n%s", errmsg, text);
    cr_assert_neq(strstr(text, "retention.logs: 1d12h\n"), NULL, "%s", text);
    cr_assert_neq(strstr(text, "storage.block-cache-size: 3GiB\n"), NULL);
    cr_assert_neq(strstr(text, "late-write-grace.traces: inherit\n"), NULL);
    tr_free(text);
    cr_assert_str_eq(b.join, a.join);
    cr_assert_str_eq(b.tempo_http_addr, "");
    cr_assert_str_eq(b.data_dir, a.data_dir);
    cr_assert_str_eq(b.node_name, a.node_name);
    cr_assert_str_eq(b.log_level, "error");
    cr_assert_eq(b.retention_logs_ms, 36 * MS_H);
    cr_assert_eq(b.late_write_grace_metrics_ms, 15 * MS_M);
    cr_assert_eq(b.late_write_grace_logs_ms, 24 * MS_H);
    cr_assert_eq(b.max_body_bytes, 1025);
    cr_assert_eq(b.storage_cache_bytes, (size_t)3 << 30);
    cr_assert_eq(b.limits.ingestion_rate, 1234.5);
    cr_assert_eq(b.auth_enabled, true);
    cr_assert_eq(b.placement_window_ms, a.placement_window_ms);
    tr_config_free(&a);
    tr_config_free(&b);

    /* the secret is not printed */
    rc = LOAD(&a, errmsg, "--cluster-secret", "hunter2");
    cr_assert_eq(rc, 0);
    char *out = NULL;
    size_t outlen = 0;
    f = open_memstream(&out, &outlen);
    tr_config_dump(&a, f);
    fclose(f);
    cr_assert_null(strstr(out, "hunter2"));
    cr_assert_neq(strstr(out, "cluster-secret: \"<hidden>\"\n"), NULL);
    free(out);
    tr_config_free(&a);
}

Test(config, usage_lists_every_flag)
{
    static const char *const flags[] = {
        "http-addr",
        "tempo-http-addr",
        "otlp-grpc-addr",
        "otlp-http-addr",
        "cluster-addr",
        "data-dir",
        "node-name",
        "advertise-addr",
        "join",
        "bootstrap-expect",
        "replication-factor",
        "shards-per-window",
        "placement-window",
        "retention.metrics",
        "retention.logs",
        "retention.traces",
        "late-write-grace",
        "late-write-grace.metrics",
        "late-write-grace.logs",
        "late-write-grace.traces",
        "ingest.ooo-window",
        "ingest.creation-grace",
        "auth.enabled",
        "cluster-secret",
        "log-level",
        "http.max-body-size",
        "http.header-timeout",
        "http.body-timeout",
        "http.idle-timeout",
        "http.max-connections",
        "shutdown-timeout",
        "storage.wal-sync",
        "storage.block-cache-size",
        "storage.head-checkpoint-interval",
        "limits.max-series",
        "limits.ingestion-rate",
        "limits.ingestion-burst",
        "limits.max-label-names",
        "limits.max-label-name-length",
        "limits.max-label-value-length",
        "limits.max-metadata-length",
        "config",
        "addr",
    };
    char *out = NULL, *ref = NULL;
    size_t outlen = 0, reflen = 0;
    FILE *f = open_memstream(&out, &outlen);
    tr_config_usage(f);
    fclose(f);
    f = open_memstream(&ref, &reflen);
    tr_config_reference(f);
    fclose(f);
    struct tr_config cfg;
    char errmsg[TR_ERRMSG_SIZE];
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        char want[96];
        snprintf(want, sizeof(want), "  --%s ", flags[i]);
        cr_assert_neq(strstr(out, want), NULL, "usage lacks %s", flags[i]);
        snprintf(want, sizeof(want), "| `--%s` |", flags[i]);
        cr_assert_neq(strstr(ref, want), NULL, "reference lacks %s", flags[i]);
        /* every listed flag is accepted */
        char arg[96];
        snprintf(arg, sizeof(arg), "--%s", flags[i]);
        int rc = LOAD(&cfg, errmsg, arg, "x");
        cr_assert(rc == 0 || strncmp(errmsg, "invalid value", 13) == 0 ||
                      strncmp(errmsg, "unexpected argument", 19) == 0 ||
                      strncmp(errmsg, "config file", 11) == 0,
                  "%s: %s", flags[i], errmsg);
        tr_config_free(&cfg);
    }
    cr_assert_neq(strstr(out, "(default 0.0.0.0:3100)"), NULL);
    cr_assert_neq(strstr(out, "(default host name)"), NULL);
    cr_assert_neq(strstr(out, "(default 64MiB)"), NULL);
    free(out);
    free(ref);
}

/* docs/configuration.md embeds tr_config_reference verbatim, and the example
 * file loads. Skipped when not run from the repository root. */
Test(config, docs_in_sync)
{
    char *doc = tr_test_read_file("docs/configuration.md", NULL);
    if (doc == NULL) {
        cr_skip_test("docs/configuration.md not found (run from repo root)");
    }
    char *ref = NULL;
    size_t reflen = 0;
    FILE *f = open_memstream(&ref, &reflen);
    tr_config_reference(f);
    fclose(f);
    cr_assert_neq(strstr(doc, ref), NULL,
                  "docs/configuration.md is out of date; its table must be:\n"
                  "%s",
                  ref);
    free(ref);
    tr_free(doc);

    struct tr_config cfg;
    char errmsg[TR_ERRMSG_SIZE];
    int rc = LOAD(&cfg, errmsg, "--config", "docs/examples/triad.yaml");
    cr_assert_eq(rc, 0, "%s", errmsg);
    tr_config_free(&cfg);
}

/* Allocation failures anywhere give TR_ENOMEM (or a clean success), never a
 * leak or a crash (ASan checks the leaks). */
Test(config, out_of_memory)
{
    char path[64];
    cfg_tmpfile(path,
                "join: [a:1, b:2]\nretention: {logs: 1d}\n"
                "data-dir: /d\n");
    struct tr_config cfg;
    char errmsg[TR_ERRMSG_SIZE];
    int rc = TR_ENOMEM;
    int n;
    for (n = 0; n < 1000 && rc == TR_ENOMEM; n++) {
        tr_test_oom_install(n);
        rc = LOAD(&cfg, errmsg, "--config", path, "--join", "c:3, d:4",
                  "--node-name", "n");
        tr_test_oom_remove();
        if (rc == TR_ENOMEM) {
            cr_assert_str_eq(errmsg, "out of memory");
            cr_assert_null(cfg.data_dir);
        }
    }
    unlink(path);
    cr_assert_eq(rc, 0, "n=%d: %s", n, errmsg);
    cr_assert_gt(n, 5);
    cr_assert_str_eq(cfg.join, "c:3,d:4");
    cr_assert_str_eq(cfg.data_dir, "/d");
    tr_config_free(&cfg);
}
