/* prom_json.c - Prometheus API envelope and parameters. */
#include "server/prom_json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "query/promql/selector.h"
#include "server/app.h"

void tr_prom_error(struct tr_http_response *resp,
                   int status,
                   const char *error_type,
                   const char *msg)
{
    struct tr_json j;
    tr_buf_reset(&resp->body);
    tr_json_init(&j, &resp->body);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "status");
    tr_json_str(&j, "error");
    tr_json_key(&j, "errorType");
    tr_json_str(&j, error_type);
    tr_json_key(&j, "error");
    tr_json_str(&j, msg);
    tr_json_obj_end(&j);
    resp->status = status;
    resp->content_type = "application/json";
}

int tr_prom_parse_time(const char *s, int64_t *ms)
{
    char *end;
    errno = 0;
    double f = strtod(s, &end);
    if (end != s && *end == '\0' && !isnan(f)) {
        /* out of the representable range (infinities included): clamp
         * to the boundary on the same side */
        if (f >= 9.2e15) {
            *ms = TR_PROM_MAX_TIME;
            return 0;
        }
        if (f <= -9.2e15) {
            *ms = TR_PROM_MIN_TIME;
            return 0;
        }
        double ip;
        double fp = modf(f, &ip);
        fp = round(fp * 1000) / 1000;
        *ms = (int64_t)ip * 1000 + (int64_t)llround(fp * 1000);
        return 0;
    }
    if (strcmp(s, "-292275055-05-16T16:47:04.192Z") == 0) {
        *ms = TR_PROM_MIN_TIME;
        return 0;
    }
    if (strcmp(s, "292277025-08-18T07:12:54.999Z") == 0) {
        *ms = TR_PROM_MAX_TIME;
        return 0;
    }
    int64_t sec;
    int32_t nsec;
    if (tr_rfc3339_parse(s, strlen(s), &sec, &nsec) != 0 ||
        sec > INT64_MAX / 1000 - 1 || sec < INT64_MIN / 1000 + 1) {
        return TR_EINVAL;
    }
    *ms = sec * 1000 + nsec / 1000000;
    return 0;
}

int tr_prom_time_param(const struct tr_http_request *req,
                       struct tr_http_response *resp,
                       const char *name,
                       int64_t def,
                       int64_t *ms)
{
    const char *v = tr_http_form_get(req, name);
    if (v == NULL || v[0] == '\0') {
        *ms = def;
        return 0;
    }
    if (tr_prom_parse_time(v, ms) != 0) {
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "invalid parameter \"%s\": invalid time value for '%s': "
                 "cannot parse \"%.300s\" to a valid timestamp",
                 name, name, v);
        tr_prom_error(resp, 400, "bad_data", msg);
        return -1;
    }
    return 0;
}

int tr_prom_limit_param(const struct tr_http_request *req,
                        struct tr_http_response *resp,
                        size_t *limit)
{
    const char *v = tr_http_form_get(req, "limit");
    *limit = 0;
    if (v == NULL || v[0] == '\0') {
        return 0;
    }
    char *end;
    errno = 0;
    long long l = strtoll(v, &end, 10);
    if (*end != '\0' || errno != 0) {
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "strconv.Atoi: parsing \"%.300s\": invalid syntax", v);
        tr_prom_error(resp, 400, "bad_data", msg);
        return -1;
    }
    if (l <= 0) {
        /* Prometheus 2.53 treats limit=0 as "no limit" */
        if (l == 0) {
            return 0;
        }
        tr_prom_error(resp, 400, "bad_data", "limit must be positive");
        return -1;
    }
    *limit = (size_t)l;
    return 0;
}

int tr_prom_matchers_param(const struct tr_http_request *req,
                           struct tr_http_response *resp,
                           struct tr_prom_matchers *out)
{
    memset(out, 0, sizeof(*out));
    struct tr_slice vals[64];
    size_t total = 0;
    size_t n = tr_http_form_values(req, "match[]", vals, 64, &total);
    if (total > 64) {
        tr_prom_error(resp, 400, "bad_data",
                      "too many match[] parameters (at most 64)");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char err[TR_ERRMSG_SIZE];
        int rv = tr_promql_parse_selector(vals[i].base, vals[i].len,
                                          &out->sets[out->n],
                                          &out->lens[out->n], err);
        if (rv != 0) {
            tr_prom_matchers_free(out);
            tr_prom_error(resp, 400, "bad_data", err);
            return -1;
        }
        out->n++;
    }
    return 0;
}

void tr_prom_matchers_free(struct tr_prom_matchers *m)
{
    for (size_t i = 0; i < m->n; i++) {
        tr_promql_matchers_free(m->sets[i], m->lens[i]);
    }
    m->n = 0;
}

void tr_prom_success_begin(struct tr_http_response *resp, struct tr_json *j)
{
    tr_buf_reset(&resp->body);
    tr_json_init(j, &resp->body);
    tr_json_obj_begin(j);
    tr_json_key(j, "status");
    tr_json_str(j, "success");
    tr_json_key(j, "data");
}

#define PROM_MAX_ANNOS 10

static int prom__str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Writes the "warnings" (info false) or "infos" array of annos. */
static void prom__annos(struct tr_json *j,
                        const struct tr_pq_annos *a,
                        const char *query,
                        size_t qlen,
                        bool info)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n; i++) {
        n += a->v[i].info == info;
    }
    size_t omitted = info ? a->omitted_infos : a->omitted_warnings;
    if (n == 0 && omitted == 0) {
        return;
    }
    char **msgs = tr_calloc(n ? n : 1, sizeof(*msgs));
    if (msgs == NULL) {
        return;
    }
    size_t k = 0;
    if (query == NULL) {
        qlen = 0;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].info != info) {
            continue;
        }
        /* Prometheus' PositionRange.StartPosInput: 1-based line:col */
        size_t pos = a->v[i].pos <= qlen ? a->v[i].pos : qlen;
        size_t line = 1, last_nl = 0;
        bool seen_nl = false;
        for (size_t c = 0; c < pos; c++) {
            if (query[c] == '\n') {
                line++;
                last_nl = c;
                seen_nl = true;
            }
        }
        size_t col = seen_nl ? pos - last_nl : pos + 1;
        struct tr_buf b;
        tr_buf_init(&b);
        tr_buf_printf(&b, "%s (%zu:%zu)", a->v[i].msg, line, col);
        tr_buf_putc(&b, '\0');
        msgs[k++] = b.data;
    }
    qsort(msgs, k, sizeof(*msgs), prom__str_cmp);
    tr_json_key(j, info ? "infos" : "warnings");
    tr_json_arr_begin(j);
    for (size_t i = 0; i < k && i < PROM_MAX_ANNOS; i++) {
        tr_json_str(j, msgs[i] ? msgs[i] : "");
    }
    if (k > PROM_MAX_ANNOS) {
        omitted += k - PROM_MAX_ANNOS;
    }
    if (omitted > 0) {
        char line[96];
        snprintf(line, sizeof(line), "%zu more %s annotations omitted", omitted,
                 info ? "info" : "warning");
        tr_json_str(j, line);
    }
    tr_json_arr_end(j);
    for (size_t i = 0; i < k; i++) {
        tr_free(msgs[i]);
    }
    tr_free(msgs);
}

static void prom__end(struct tr_http_response *resp, struct tr_json *j)
{
    tr_json_obj_end(j);
    resp->status = 200;
    resp->content_type = "application/json";
    if (resp->body.oom) {
        tr_prom_error(resp, 503, "internal", "out of memory");
    }
}

void tr_prom_success_end_annos(struct tr_http_response *resp,
                               struct tr_json *j,
                               const struct tr_pq_annos *annos,
                               const char *query,
                               size_t query_len)
{
    if (annos != NULL) {
        prom__annos(j, annos, query, query_len, false);
        prom__annos(j, annos, query, query_len, true);
    }
    prom__end(resp, j);
}

void tr_prom_success_end(struct tr_http_response *resp,
                         struct tr_json *j,
                         const char *warning)
{
    if (warning != NULL) {
        tr_json_key(j, "warnings");
        tr_json_arr_begin(j);
        tr_json_str(j, warning);
        tr_json_arr_end(j);
    }
    tr_json_obj_end(j);
    resp->status = 200;
    resp->content_type = "application/json";
    if (resp->body.oom) {
        tr_prom_error(resp, 503, "internal", "out of memory");
    }
}
