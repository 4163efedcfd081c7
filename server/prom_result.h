/* prom_result.h - PromQL results as Prometheus' HTTP API encodes them
 * ({"resultType":...,"result":...}), byte for byte. */
#ifndef TR_SERVER_PROM_RESULT_H
#define TR_SERVER_PROM_RESULT_H

#include <stdint.h>

#include "lib/json.h"
#include "query/promql/value.h"
#include "server/http.h"

/* Writes the "data" value of a query response for v evaluated at ts (the
 * time of scalar and string results). Large matrices and vectors are
 * encoded on several threads (lib/par.h); when j writes into resp's body
 * (resp may be NULL), those pieces become resp's front parts with the body
 * written so far (tr_http_resp_front) instead of being copied. */
void tr_prom_write_result(struct tr_json *j,
                          struct tr_http_response *resp,
                          const struct tr_pq_value *v,
                          int64_t ts);

/* Prometheus' jsonutil.MarshalTimestamp of t (ms): seconds, then '.' and
 * three digits unless they are zero. Writes at most 22 bytes to buf,
 * returns the length. */
size_t tr_prom_format_ts(char *buf, int64_t t);

#endif
