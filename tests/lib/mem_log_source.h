/* mem_log_source.h - an in-memory logs read interface (struct tr_log_source,
 * storage/log_select.h) for tests: streams of lines pushed by the test,
 * served with the whole contract (matchers, [start, end), needles,
 * metadata equalities, direction, per-stream limit, max_streams, bytes
 * budget, no_lines, label names and values), so it can stand as the
 * reference for other sources. It counts what it was asked and what it
 * returned, so tests can observe push-down. Not thread-safe. */
#ifndef TR_TESTS_MEM_LOG_SOURCE_H
#define TR_TESTS_MEM_LOG_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "storage/log_select.h"

struct tr_mem_log; /* opaque */

/* What the source was asked and gave since tr_mem_log_new / _clear. */
struct tr_mem_log_counters {
    size_t selects;        /* select calls */
    size_t lines_returned; /* lines in every select's result */
    size_t lines_scanned;  /* lines inside [start, end) checked */
    size_t max_needles;    /* most needles one select pushed down */
    size_t max_meta;       /* most metadata equalities one select pushed */
    size_t last_limit;     /* per-stream limit of the last select */
};

/* A new empty source; NULL on OOM. */
struct tr_mem_log *tr_mem_log_new(void);
void tr_mem_log_free(struct tr_mem_log *m);
/* Forgets every stream and resets the counters. */
void tr_mem_log_clear(struct tr_mem_log *m);
/* Appends one line to the stream of tenant with labels (any order;
 * copied; labels with an empty value are dropped, as Loki's write path
 * does), keeping lines sorted by time (push order among equal times).
 * meta may be NULL. 0 or TR_ENOMEM. */
int tr_mem_log_push(struct tr_mem_log *m,
                    const char *tenant,
                    const struct tr_label *labels,
                    size_t n_labels,
                    int64_t ts,
                    const char *line,
                    size_t len,
                    const struct tr_label *meta,
                    size_t n_meta);
/* The vtable (impl = m), valid while m lives. */
struct tr_log_source tr_mem_log_source(struct tr_mem_log *m);
const struct tr_mem_log_counters *tr_mem_log_counters(
    const struct tr_mem_log *m);
void tr_mem_log_reset_counters(struct tr_mem_log *m);

#endif
