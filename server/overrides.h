/* overrides.h - per-tenant limit overrides: their fields by name (one table
 * the admin API and the runtime overrides file share) and the runtime
 * overrides file (--runtime-config.file), as Mimir, Loki and Tempo users
 * keep them:
 *
 *   overrides:
 *     team-a:
 *       max_series: 200000
 *       ingestion_rate: 50000
 *       retention_metrics: 30d
 *       retention_logs: 3d
 *       traces_span_metrics: off
 *     team-b: {retention_traces: 7d}
 *
 * Keys: max_series, ingestion_rate, ingestion_burst, retention_metrics,
 * retention_logs, retention_traces, traces_max_bytes_per_trace,
 * traces_max_attribute_bytes, traces_ingestion_rate_bytes,
 * traces_ingestion_burst_bytes, traces_span_metrics, traces_service_graph;
 * and the upstream names max_global_series_per_user, ingestion_burst_size,
 * compactor_blocks_retention_period (Mimir), retention_period (Loki: logs),
 * block_retention, max_bytes_per_trace (Tempo). An empty file, or one
 * without "overrides", sets nothing. */
#ifndef TR_SERVER_OVERRIDES_H
#define TR_SERVER_OVERRIDES_H

#include <stddef.h>

#include "cluster/cluster.h" /* struct tr_catalog_tenant */

/* The names the admin API takes (NULL-terminated). */
extern const char *const tr_overrides_keys[];

/* t with every field at "the default" and the given name. */
void tr_overrides_init(struct tr_catalog_tenant *t, const char *name);
/* Sets one field from its text: numbers >= 0 (0: the flag's value, except
 * ingestion_rate 0 = unlimited), durations like 30d (a retention of 0 keeps
 * data forever), switches on/off/true/false. 0, TR_ENOTFOUND (no such key) or
 * TR_EINVAL (bad value). */
int tr_overrides_set(struct tr_catalog_tenant *t,
                     const char *key,
                     const char *value);
/* Parses an overrides file: *out (tr_malloc'd, sorted by tenant, free with
 * tr_free) and *n. 0, TR_EINVAL with errmsg naming the line, TR_ENOMEM. */
int tr_overrides_parse(const char *text,
                       size_t len,
                       struct tr_catalog_tenant **out,
                       size_t *n,
                       char *errmsg);
#define TR_OVERRIDES_MAX_BYTES (4u << 20) /* a larger file is refused */

/* Reloading --runtime-config.file every --runtime-config.reload-period on
 * its own thread (nothing without the flag): the file is read and parsed on
 * every node, and on the meta leader each listed tenant whose catalog
 * record differs is set (tr_cluster_set_tenant); tenants the file listed
 * the last time and no longer does are set back to the defaults. A file
 * that does not parse changes nothing (logged;
 * triad_runtime_config_last_reload_successful 0). 0 or an error. */
struct tr_app;
int tr_overrides_start(struct tr_app *app);
void tr_overrides_stop(struct tr_app *app);
/* Stops and waits for the thread (it may wait for a catalog write: call
 * while the loop still runs), frees. */
void tr_overrides_join(struct tr_app *app);

/* Do two override records set the same values? */
int tr_overrides_equal(const struct tr_catalog_tenant *a,
                       const struct tr_catalog_tenant *b);

#endif
