/* api_write.h - the metrics write path every metrics push shares
 * (remote-write 1.0/2.0, OTLP metrics): validation and normalisation of
 * each series (server/api_write.c: labels sorted, names, UTF-8, limits,
 * time bounds), the tenant's ingestion rate, the cluster write, and the
 * outcome with counts. */
#ifndef TR_SERVER_API_WRITE_H
#define TR_SERVER_API_WRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "proto/prw.h"
#include "server/app.h"

struct tr_metrics_write_result {
    /* 204 every sample stored (or a duplicate); 400 some samples rejected
     * (the valid ones stored); 503 rate-limited (rate_limited) or not
     * committed (retry); 500 out of memory */
    int status;
    int code;           /* TR_* code of a failure (tr_status_for maps it) */
    bool rate_limited;  /* the tenant's ingestion rate refused the request */
    bool retry_after;   /* answer with Retry-After: 1 */
    uint64_t samples;   /* received */
    uint64_t written;   /* appended or duplicates */
    uint64_t exemplars; /* passed validation and written with their series
                           (a shard keeps them when it has the series) */
    uint64_t exemplars_rejected; /* refused by validation */
    uint64_t rejected; /* by validation, limits or the shards (all of them
                          when the whole request failed) */
    char msg[TR_ERRMSG_SIZE * 2]; /* first problem and the counts */
};

/* Validates request pr of tenant and writes it through the cluster
 * (worker thread); arena holds what is built on the way. */
void tr_metrics_write(struct tr_app *app,
                      const char *tenant,
                      struct tr_arena *arena,
                      const struct tr_prw_request *pr,
                      struct tr_metrics_write_result *out);

#endif
