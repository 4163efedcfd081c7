/* trace_metrics.h - span metrics and the service graph built in: at every
 * accepted OTLP traces export the spans are added to the tenant's totals
 * (proto/otlp_spanmetrics.h, Tempo's metrics-generator names and labels),
 * and every --traces.metrics-flush-interval a flusher thread writes every
 * tenant's current totals into its own metric store through
 * tr_metrics_write (server/api_write.h). See
 * docs/compatibility/tempo-metrics-generator.md. */
#ifndef TR_SERVER_TRACE_METRICS_H
#define TR_SERVER_TRACE_METRICS_H

#include <stdbool.h>

#include "lib/alloc.h"
#include "proto/otlp_traces.h"
#include "server/app.h"

struct tr_trace_metrics; /* the registry and its self-metrics */

/* Builds app->trace_metrics from app->cfg (NULL when both processors are
 * off). 0 or TR_ENOMEM. */
int tr_trace_metrics_init(struct tr_app *app);
void tr_trace_metrics_close(struct tr_app *app);

/* Starts the flusher thread (after the cluster started): every
 * --traces.metrics-flush-interval it writes the totals of every tenant
 * (after expiring its pending edges). 0 or TR_EIO (no thread: exports
 * then flush their own tenant); nothing to do when both are off. */
int tr_trace_metrics_start(struct tr_app *app);
/* Asks the flusher to stop (any thread, does not wait). */
void tr_trace_metrics_stop(struct tr_app *app);
/* Waits for the flusher to end (not on the loop thread: its last write
 * needs the loop; call it before the cluster shuts down). */
void tr_trace_metrics_join(struct tr_app *app);

/* Worker thread, after the spans of t (those without skip[k]) were
 * committed: adds them to tenant's totals (the processors in which,
 * TR_SPANMETRICS_*: a tenant's overrides may turn one off) (arena: the
 * request's, used only without a flusher thread). Never fails nor delays the
 * export: a write that fails is logged and counted, and the next flush writes
 * the totals again (they are cumulative). */
void tr_trace_metrics_ingest(struct tr_app *app,
                             const char *tenant,
                             struct tr_arena *arena,
                             const struct tr_otlp_traces *t,
                             const bool *skip,
                             unsigned which);

#endif
