/* loki_params.h - request parameters and response pieces shared by the
 * Loki API handlers (server/api_loki*.c): Loki's time formats, the range
 * defaults, the stream selector of `query`, and its text/plain errors. */
#ifndef TR_SERVER_LOKI_PARAMS_H
#define TR_SERVER_LOKI_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/matcher.h"
#include "server/app.h"
#include "storage/log_select.h"

#define TR_LOKI_VERSION "3.5.0" /* what status/buildinfo reports */
#define TR_LOKI_DEFAULT_LIMIT 100
#define TR_LOKI_MAX_ENTRIES 5000 /* max_entries_limit_per_query */

/* The common parameters of a Loki read request. */
struct tr_loki_req {
    char tenant[TR_TENANT_MAX + 1];
    int64_t start; /* ns, inclusive */
    int64_t end;   /* ns, exclusive for logs (Loki's [start, end)) */
    int64_t now;   /* ns, when the request began */
};

/* Parses a Loki timestamp: digits = Unix seconds (<= 10 digits) or
 * nanoseconds, a number with '.' = float seconds, else RFC 3339. 0 or
 * TR_EINVAL. */
int tr_loki_parse_time(const char *s, int64_t *ns);
/* A Loki duration parameter ("5m", "1h30m", or float seconds): 0 or
 * TR_EINVAL. */
int tr_loki_parse_duration(const char *s, int64_t *ns);

/* Reads the tenant, start / end / since (end defaults to now, start to end
 * minus `since` or 1 h). On failure writes the error response (400 / 401)
 * and returns -1. */
int tr_loki_req_init(const struct tr_http_request *req,
                     struct tr_http_response *resp,
                     struct tr_loki_req *out);

/* Parses the stream selector of a parameter (a LogQL log query; only its
 * selector is used) into matchers that the caller frees with
 * tr_loki_matchers_free. An absent or empty parameter gives no matchers
 * when optional, else 400. On failure writes the error response and
 * returns -1. */
int tr_loki_selector(const struct tr_http_request *req,
                     struct tr_http_response *resp,
                     const char *param,
                     bool optional,
                     struct tr_matcher **ms,
                     size_t *n);
void tr_loki_matchers_free(struct tr_matcher *ms, size_t n);
/* The stream selector of query text q (a LogQL log query) as matchers,
 * as tr_loki_selector; what names the parameter in messages. 0, TR_EINVAL
 * (Loki's parse error), TR_ENOMEM, with errmsg. */
int tr_loki_parse_selector(const char *q,
                           const char *what,
                           struct tr_matcher **ms,
                           size_t *n,
                           char *errmsg);

/* Writes a Loki error (text/plain): 400 for bad input, 422/400 for limits
 * as Loki, 503 when data is unavailable, 504 on timeout, 500 otherwise. */
void tr_loki_error(struct tr_http_response *resp, int rv, const char *msg);

#endif
