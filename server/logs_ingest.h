/* logs_ingest.h - the write path every log push shares (Loki push, its
 * legacy form, OTLP logs): validation with Loki's limits and messages,
 * Loki 3's ingest-time enrichment, the tenant's ingestion rate, routing
 * through the cluster, and the outcome in Loki's terms.
 *
 * Per stream: labels parsed (the text form tolerates unescaped values),
 * labels with empty values dropped, then checked (count, name and value
 * lengths, duplicates); a bad stream is rejected whole. service_name is
 * added when missing, from the first of --limits.discover-service-name the
 * stream has, else "unknown_service".
 * Per line: too long, too old (before the oldest writable window: its end
 * plus --late-write-grace.logs is past), too new (beyond now plus
 * --ingest.creation-grace), structured metadata too large or too many;
 * invalid UTF-8 in lines, label values and metadata becomes U+FFFD (the
 * bytes cannot be served as JSON otherwise; Loki stores them as sent).
 * detected_level structured metadata is added as Loki 3 does (from a level
 * label or metadata, OTLP severity, a JSON or logfmt level field, else
 * keywords in the line; "unknown" otherwise) unless the line has one.
 * The shards then refuse lines more than --ingest.ooo-window behind their
 * stream's newest line, drop exact duplicates silently, and refuse new
 * streams beyond --limits.max-streams. */
#ifndef TR_SERVER_LOGS_INGEST_H
#define TR_SERVER_LOGS_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/buf.h"
#include "proto/loki_push.h"
#include "server/app.h"

struct tr_logs_push_result {
    /* 204 every line stored (or dropped as a duplicate); 400 some lines
     * rejected (the others stored); 429 rate or stream limit; 503 not
     * committed (retry); 500 out of memory */
    int status;
    uint64_t lines;     /* received */
    uint64_t stored;    /* appended by the shards */
    uint64_t duplicate; /* exact duplicates dropped */
    uint64_t rejected;  /* by validation, limits or the shards */
    bool retry_after;   /* send Retry-After: 1 */
    /* the text/plain body when status != 204: one line per rejected line
     * (at most 100, then a count), as Loki lists them */
    struct tr_buf body;
};

/* Validates, enriches and writes push p for tenant (worker thread); arena
 * a holds what is built on the way (the request's). out is initialised
 * here; free out->body with tr_buf_free. */
void tr_logs_ingest(struct tr_app *app,
                    const char *tenant,
                    const struct tr_loki_push *p,
                    struct tr_arena *a,
                    struct tr_logs_push_result *out);

/* Whether the keyword table of the level detection's line scan agrees
 * with its keyword list, and every level field name ends in a letter its
 * logfmt pre-check looks for (for tests). */
bool tr_logs_level_tables_consistent(void);

/* Loki 3's level detection (exposed for tests): the detected_level of a
 * line with the given stream labels and structured metadata; a static
 * string ("trace", "debug", "info", "warn", "error", "critical", "fatal",
 * "unknown") or, for a level field holding another value, that value in
 * *other (then NULL is returned). */
const char *tr_logs_detect_level(const struct tr_loki_label *labels,
                                 size_t n_labels,
                                 const struct tr_loki_label *meta,
                                 size_t n_meta,
                                 struct tr_slice line,
                                 struct tr_slice *other);

#endif
