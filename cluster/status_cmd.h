/* status_cmd.h - `triad status`: renders the JSON of
 * GET /api/v1/status/cluster as human-readable tables (parsed with
 * lib/jsonparse.h). */
#ifndef TR_CLUSTER_STATUS_CMD_H
#define TR_CLUSTER_STATUS_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Prints the status tables for the JSON body of /api/v1/status/cluster of
 * the node at addr. Returns 0, or -1 with a message in err. */
int tr_status_print(FILE *out,
                    const char *addr,
                    const char *body,
                    size_t len,
                    char *err,
                    size_t errlen);

/* Prints the verify table for the JSON of POST /api/v1/admin/cluster/verify;
 * *consistent tells whether every shard was. 0, or -1 with err. */
int tr_status_print_verify(FILE *out,
                           const char *addr,
                           const char *body,
                           size_t len,
                           bool *consistent,
                           char *err,
                           size_t errlen);

/* `triad status --addr URL [--verify]`: prints the cluster status of the
 * node at addr (and the verify table). Returns the exit status: 0, or 1
 * when the node cannot be reached, answers non-200, sends something that
 * is not the expected JSON, or (verify) a shard is not consistent.
 * secret (NULL or "": $TRIAD_CLUSTER_SECRET) is sent as the cluster
 * secret. */
int tr_status_command(FILE *out,
                      const char *addr,
                      bool verify,
                      const char *secret);

/* `triad drain --addr URL [--timeout D]`: asks the node at addr to hand
 * its Raft leaderships to other replicas (POST /api/v1/admin/cluster/drain)
 * and waits up to timeout_ms; the Helm chart's preStop hook. secret (NULL:
 * $TRIAD_CLUSTER_SECRET) is sent as the cluster secret. Exit status 0 when
 * the node leads no group, else 1. */
int tr_drain_command(FILE *out,
                     const char *addr,
                     int64_t timeout_ms,
                     const char *secret);

#endif
