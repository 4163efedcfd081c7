/* loki_params.c - parameters and errors of the Loki API handlers (contract
 * in server/loki_params.h). */
#include "server/loki_params.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "query/logql/parser.h"
#include "server/config.h"

int tr_loki_parse_time(const char *s, int64_t *ns)
{
    size_t n = strlen(s);
    if (n == 0) {
        return TR_EINVAL;
    }
    if (strchr(s, '.') != NULL && strchr(s, 'T') == NULL &&
        strchr(s, 't') == NULL) {
        char *end;
        double f = strtod(s, &end);
        if (*end != '\0' || !isfinite(f) || fabs(f) > 9.2e9) {
            return TR_EINVAL;
        }
        double ip;
        double fp = modf(f, &ip);
        fp = round(fp * 1000) / 1000; /* Loki keeps milliseconds */
        *ns = (int64_t)ip * 1000000000 + (int64_t)llround(fp * 1e9);
        return 0;
    }
    bool digits = true;
    for (size_t i = (s[0] == '-'); i < n; i++) {
        digits = digits && s[i] >= '0' && s[i] <= '9';
    }
    if (digits && n > (size_t)(s[0] == '-')) {
        errno = 0;
        char *end;
        long long v = strtoll(s, &end, 10);
        if (errno != 0) {
            return TR_EINVAL;
        }
        if (n <= 10) {
            *ns = (int64_t)v * 1000000000;
        } else {
            *ns = (int64_t)v;
        }
        return 0;
    }
    return tr_rfc3339_parse_ns(s, n, ns);
}

int tr_loki_parse_duration(const char *s, int64_t *ns)
{
    int64_t ms;
    if (tr_parse_duration_ms(s, &ms) == 0) {
        *ns = ms * 1000000;
        return 0;
    }
    char *end;
    double f = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(f) || f < 0 || f > 9.2e9) {
        return TR_EINVAL;
    }
    *ns = (int64_t)llround(f * 1e9);
    return 0;
}

int tr_loki_req_init(const struct tr_http_request *req,
                     struct tr_http_response *resp,
                     struct tr_loki_req *out)
{
    struct tr_app *app = req->app;
    char err[TR_ERRMSG_SIZE];
    int rv = tr_app_tenant(app, req, out->tenant, err);
    if (rv != 0) {
        tr_http_resp_text(resp, tr_status_for(rv), err);
        return -1;
    }
    out->now = tr_now_ns();
    const char *end = tr_http_form_get(req, "end");
    const char *start = tr_http_form_get(req, "start");
    const char *since = tr_http_form_get(req, "since");
    out->end = out->now;
    if (end != NULL && end[0] != '\0' &&
        tr_loki_parse_time(end, &out->end) != 0) {
        snprintf(err, sizeof(err), "invalid end parameter: cannot parse \"%s\"",
                 end);
        tr_http_resp_text(resp, 400, err);
        return -1;
    }
    int64_t back = 3600LL * 1000000000;
    if (since != NULL && since[0] != '\0' &&
        tr_loki_parse_duration(since, &back) != 0) {
        snprintf(err, sizeof(err),
                 "invalid since parameter: cannot parse \"%s\"", since);
        tr_http_resp_text(resp, 400, err);
        return -1;
    }
    out->start = out->end - back;
    if (start != NULL && start[0] != '\0' &&
        tr_loki_parse_time(start, &out->start) != 0) {
        snprintf(err, sizeof(err),
                 "invalid start parameter: cannot parse \"%s\"", start);
        tr_http_resp_text(resp, 400, err);
        return -1;
    }
    if (out->end < out->start) {
        tr_http_resp_text(resp, 400,
                          "invalid start and end: end timestamp must not be "
                          "before or equal to start time");
        return -1;
    }
    return 0;
}

void tr_loki_matchers_free(struct tr_matcher *ms, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tr_matcher_free(&ms[i]);
    }
    tr_free(ms);
}

int tr_loki_selector(const struct tr_http_request *req,
                     struct tr_http_response *resp,
                     const char *param,
                     bool optional,
                     struct tr_matcher **ms,
                     size_t *n)
{
    *ms = NULL;
    *n = 0;
    const char *q = tr_http_form_get(req, param);
    if (q == NULL || q[0] == '\0') {
        if (optional) {
            return 0;
        }
        char m[96];
        snprintf(m, sizeof(m), "%s parameter is required", param);
        tr_http_resp_text(resp, 400, m);
        return -1;
    }
    char err[TR_ERRMSG_SIZE];
    int rv = tr_loki_parse_selector(q, param, ms, n, err);
    if (rv != 0) {
        tr_loki_error(resp, rv, err);
        return -1;
    }
    return 0;
}

int tr_loki_parse_selector(const char *q,
                           const char *what,
                           struct tr_matcher **ms,
                           size_t *n,
                           char *errmsg)
{
    *ms = NULL;
    *n = 0;
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_logql_expr *e = NULL;
    int rv = tr_logql_parse(q, strlen(q), &a, &e, errmsg);
    if (rv == 0 && e->kind != TR_LOGQL_EXPR_LOG) {
        rv = tr_errf(TR_EINVAL, errmsg,
                     "only stream selectors are allowed in %s", what);
    }
    /* copies of the matchers: the tree's go with it */
    size_t k = rv == 0 ? e->log.n_matchers : 0;
    struct tr_matcher *out =
        rv == 0 ? tr_calloc(k ? k : 1, sizeof(*out)) : NULL;
    size_t done = 0;
    for (; out != NULL && done < k; done++) {
        const struct tr_matcher *m = &e->log.matchers[done];
        if (tr_matcher_init(&out[done], m->type, m->name, m->value,
                            m->value_len, errmsg) != 0) {
            break;
        }
    }
    tr_logql_ast_free(e);
    tr_arena_free(&a);
    if (rv != 0) {
        return rv;
    }
    if (out == NULL || done < k) {
        tr_loki_matchers_free(out, done);
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    *ms = out;
    *n = k;
    return 0;
}

void tr_loki_error(struct tr_http_response *resp, int rv, const char *msg)
{
    int status;
    switch (rv) {
        case TR_EINVAL:
        case TR_EPROTO:
        case TR_ELIMIT:
            status = 400;
            break;
        case TR_EAUTH:
            status = 401;
            break;
        case TR_ECANCELED:
            status = 499;
            break;
        case TR_ETIMEOUT:
            status = 504;
            break;
        case TR_EUNAVAIL:
        case TR_EBUSY:
            status = 503;
            break;
        default:
            status = 500;
    }
    tr_http_resp_text(resp, status, msg);
}
