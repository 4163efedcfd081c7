/* prom_json.h - Prometheus HTTP API conventions shared by its handlers:
 * the JSON envelope, time and limit parameters, match[] selectors. */
#ifndef TR_SERVER_PROM_JSON_H
#define TR_SERVER_PROM_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/json.h"
#include "lib/matcher.h"
#include "query/promql/value.h"
#include "server/http.h"

#define TR_PROM_MIN_TIME (INT64_MIN / 4)
#define TR_PROM_MAX_TIME (INT64_MAX / 4)

/* Parses a Prometheus time: float Unix seconds or RFC 3339 (nano). */
int tr_prom_parse_time(const char *s, int64_t *ms);
/* Reads form parameter name as a time (default when absent). On error
 * writes the bad_data response and returns non-zero. */
int tr_prom_time_param(const struct tr_http_request *req,
                       struct tr_http_response *resp,
                       const char *name,
                       int64_t def,
                       int64_t *ms);
/* "limit": 0 = none. On error writes the response and returns non-zero. */
int tr_prom_limit_param(const struct tr_http_request *req,
                        struct tr_http_response *resp,
                        size_t *limit);

/* The match[] selectors of a request. */
struct tr_prom_matchers {
    struct tr_matcher *sets[64];
    size_t lens[64];
    size_t n;
};
/* Parses every match[]; on error writes the bad_data response and returns
 * non-zero. */
int tr_prom_matchers_param(const struct tr_http_request *req,
                           struct tr_http_response *resp,
                           struct tr_prom_matchers *out);
void tr_prom_matchers_free(struct tr_prom_matchers *m);

/* Starts {"status":"success","data": — the caller writes the data value and
 * then calls tr_prom_success_end. */
void tr_prom_success_begin(struct tr_http_response *resp, struct tr_json *j);
/* Ends the envelope, with "warnings": [warning] when warning != NULL. */
void tr_prom_success_end(struct tr_http_response *resp,
                         struct tr_json *j,
                         const char *warning);
/* Ends the envelope of a PromQL query: annos (may be NULL) become
 * Prometheus' "warnings" and "infos" arrays (omitted when empty): each
 * message followed by " (line:col)" of its node in query (query_len bytes,
 * NUL bytes allowed), sorted, at most 10 of each kind and then "N more
 * warning/info annotations omitted". */
void tr_prom_success_end_annos(struct tr_http_response *resp,
                               struct tr_json *j,
                               const struct tr_pq_annos *annos,
                               const char *query,
                               size_t query_len);

#endif
