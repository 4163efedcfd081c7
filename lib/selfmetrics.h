/* selfmetrics.h - triad's own metrics, served at /metrics in the Prometheus
 * text exposition format 0.0.4.
 *
 * A registry holds families (counter, gauge, histogram) with up to
 * TR_SM_MAX_LABELS label names each, plus collector callbacks that append
 * ready-made text lines (for stats owned by other modules, e.g. RocksDB).
 * Everything is thread-safe (one mutex per registry; updates are short).
 *
 * Usage:
 *   static const char *const lbl[] = {"route", "method", "status"};
 *   struct tr_sm_family *reqs = tr_selfmetrics_counter(
 *       tr_selfmetrics_default(), "triad_http_requests_total",
 *       "HTTP requests served.", 3, lbl);
 *   tr_selfmetrics_inc(reqs, 1, "/api/v1/query", "GET", "200");
 *
 * Registering a name twice with the same type and label names returns the
 * existing family (so modules may register lazily); a mismatch returns NULL.
 * Update calls on a NULL family are no-ops, so a failed registration never
 * crashes a hot path. Label values are passed as exactly n_labels
 * `const char *` arguments (NULL is taken as ""). */
#ifndef TR_LIB_SELFMETRICS_H
#define TR_LIB_SELFMETRICS_H

#include <stddef.h>

#include "lib/buf.h"

#define TR_SM_MAX_LABELS 4
#define TR_SM_MAX_BUCKETS 32

struct tr_selfmetrics;
struct tr_sm_family;

/* Collector: appends complete exposition lines ("# HELP", "# TYPE" and
 * samples, each ending in '\n') to out. Called under no registry lock, on
 * the thread that renders. */
typedef void (*tr_sm_collect_fn)(struct tr_buf *out, void *arg);

/* The process-wide registry (created on first use, never freed). */
struct tr_selfmetrics *tr_selfmetrics_default(void);
/* A separate registry (tests, or per-instance metrics). */
int tr_selfmetrics_new(struct tr_selfmetrics **out);
void tr_selfmetrics_free(struct tr_selfmetrics *r);

/* Families. name and help are copied. Returns NULL on OOM, invalid name,
 * n_labels > TR_SM_MAX_LABELS or a conflicting earlier registration. */
struct tr_sm_family *tr_selfmetrics_counter(struct tr_selfmetrics *r,
                                            const char *name,
                                            const char *help,
                                            size_t n_labels,
                                            const char *const *labels);
struct tr_sm_family *tr_selfmetrics_gauge(struct tr_selfmetrics *r,
                                          const char *name,
                                          const char *help,
                                          size_t n_labels,
                                          const char *const *labels);
/* buckets: ascending upper bounds (without +Inf), at most
 * TR_SM_MAX_BUCKETS; NULL/0 = Prometheus defaults .005 ... 10. */
struct tr_sm_family *tr_selfmetrics_histogram(struct tr_selfmetrics *r,
                                              const char *name,
                                              const char *help,
                                              size_t n_labels,
                                              const char *const *labels,
                                              const double *buckets,
                                              size_t n_buckets);

/* Counter or gauge: adds v (counters ignore v < 0). */
void tr_selfmetrics_inc(struct tr_sm_family *f, double v, ...);
/* Gauge: sets the value. */
void tr_selfmetrics_set(struct tr_sm_family *f, double v, ...);
/* Histogram: records one observation. */
void tr_selfmetrics_observe(struct tr_sm_family *f, double v, ...);
/* Array forms of the above: values has f's label count entries. */
void tr_selfmetrics_incv(struct tr_sm_family *f,
                         double v,
                         const char *const *values);
void tr_selfmetrics_setv(struct tr_sm_family *f,
                         double v,
                         const char *const *values);
void tr_selfmetrics_observev(struct tr_sm_family *f,
                             double v,
                             const char *const *values);
/* Current value of a counter/gauge series (0 if absent); histograms give
 * the observation count. For tests and status pages. */
double tr_selfmetrics_value(struct tr_sm_family *f, const char *const *values);

/* Adds a collector; returns 0 or TR_ENOMEM. Remove it with the same fn and
 * arg before arg dies. */
int tr_selfmetrics_add_collector(struct tr_selfmetrics *r,
                                 tr_sm_collect_fn fn,
                                 void *arg);
void tr_selfmetrics_remove_collector(struct tr_selfmetrics *r,
                                     tr_sm_collect_fn fn,
                                     void *arg);

/* Appends the whole registry (families in registration order, series in
 * label-value order, then collectors) to out in text format 0.0.4. Returns
 * 0 or TR_ENOMEM. */
int tr_selfmetrics_render(struct tr_selfmetrics *r, struct tr_buf *out);

/* Helpers for collectors: escaping as the text format requires. */
void tr_selfmetrics_escape_help(struct tr_buf *out, const char *s);
void tr_selfmetrics_escape_label(struct tr_buf *out, const char *s);
/* Appends a sample value ("1", "0.25", "+Inf", "NaN"). */
void tr_selfmetrics_put_value(struct tr_buf *out, double v);

#endif
