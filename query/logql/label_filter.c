/* label_filter.c - LogQL label filters (string matchers, number, duration,
 * bytes and ip comparisons, and/or trees) with Loki's error rules. See
 * stages.h. */
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/matcher.h"
#include "query/logql/stages.h"
#include "query/logql/stages_int.h"

static int lf_alloc(enum tr_logql_lf_kind kind,
                    enum tr_logql_cmp cmp,
                    const char *name,
                    struct tr_logql_lf **out)
{
    struct tr_logql_lf *f = tr_calloc(1, sizeof(*f));
    if (!f) {
        return TR_ENOMEM;
    }
    f->kind = kind;
    f->cmp = cmp;
    if (name) {
        f->name = tr_strdup(name);
        if (!f->name) {
            tr_free(f);
            return TR_ENOMEM;
        }
    }
    *out = f;
    return 0;
}

void tr_logql_lf_free(struct tr_logql_lf *f)
{
    if (!f) {
        return;
    }
    if (f->kind == TR_LOGQL_LF_STRING) {
        tr_matcher_free(&f->m);
    }
    tr_logql_ip_free(f->ip);
    tr_logql_lf_free(f->l);
    tr_logql_lf_free(f->r);
    tr_free(f->name);
    tr_free(f);
}

int tr_logql_lf_new_string(enum tr_match_type type,
                           const char *name,
                           const char *value,
                           size_t value_len,
                           struct tr_logql_lf **out,
                           char *errmsg)
{
    struct tr_logql_lf *f;
    int rc = lf_alloc(TR_LOGQL_LF_STRING, TR_LOGQL_CMP_EQ, name, &f);
    if (rc) {
        return rc;
    }
    rc = tr_matcher_init(&f->m, type, name, value, value_len, errmsg);
    if (rc) {
        f->kind = TR_LOGQL_LF_NUMBER; /* nothing to free in m */
        tr_logql_lf_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

int tr_logql_lf_new_number(enum tr_logql_cmp cmp,
                           const char *name,
                           double v,
                           struct tr_logql_lf **out)
{
    int rc = lf_alloc(TR_LOGQL_LF_NUMBER, cmp, name, out);
    if (rc == 0) {
        (*out)->num = v;
    }
    return rc;
}

int tr_logql_lf_new_duration(enum tr_logql_cmp cmp,
                             const char *name,
                             int64_t ns,
                             struct tr_logql_lf **out)
{
    int rc = lf_alloc(TR_LOGQL_LF_DURATION, cmp, name, out);
    if (rc == 0) {
        (*out)->dur_ns = ns;
    }
    return rc;
}

int tr_logql_lf_new_bytes(enum tr_logql_cmp cmp,
                          const char *name,
                          uint64_t b,
                          struct tr_logql_lf **out)
{
    int rc = lf_alloc(TR_LOGQL_LF_BYTES, cmp, name, out);
    if (rc == 0) {
        (*out)->bytes = b;
    }
    return rc;
}

int tr_logql_lf_new_ip(enum tr_logql_cmp cmp,
                       const char *name,
                       const char *pattern,
                       size_t len,
                       struct tr_logql_lf **out,
                       char *errmsg)
{
    if (cmp != TR_LOGQL_CMP_EQ && cmp != TR_LOGQL_CMP_NE) {
        return tr_errf(TR_EINVAL, errmsg, "syntax error: unexpected ip");
    }
    struct tr_logql_ip *ip;
    int rc = tr_logql_ip_new(pattern, len, &ip, errmsg);
    if (rc) {
        return rc;
    }
    rc = lf_alloc(TR_LOGQL_LF_IP, cmp, name, out);
    if (rc) {
        tr_logql_ip_free(ip);
        return rc;
    }
    (*out)->ip = ip;
    return 0;
}

int tr_logql_lf_new_binary(bool is_and,
                           struct tr_logql_lf *l,
                           struct tr_logql_lf *r,
                           struct tr_logql_lf **out)
{
    int rc = lf_alloc(is_and ? TR_LOGQL_LF_AND : TR_LOGQL_LF_OR,
                      TR_LOGQL_CMP_EQ, NULL, out);
    if (rc) {
        tr_logql_lf_free(l);
        tr_logql_lf_free(r);
        return rc;
    }
    (*out)->l = l;
    (*out)->r = r;
    return 0;
}

#define CMP(a, b, op)                       \
    ((op) == TR_LOGQL_CMP_EQ   ? (a) == (b) \
     : (op) == TR_LOGQL_CMP_NE ? (a) != (b) \
     : (op) == TR_LOGQL_CMP_GT ? (a) > (b)  \
     : (op) == TR_LOGQL_CMP_GE ? (a) >= (b) \
     : (op) == TR_LOGQL_CMP_LT ? (a) < (b)  \
                               : (a) <= (b))

static void conv_error(struct tr_logql_lb *lb, const char *msg)
{
    if (!tr_logql_lb_has_err(lb)) {
        tr_logql__set_error(lb, TR_LOGQL_ERR_LABEL_FILTER, msg);
    }
}

bool tr_logql_lf_eval(const struct tr_logql_lf *f, struct tr_logql_lb *lb)
{
    struct tr_slice v;
    char msg[TR_ERRMSG_SIZE];
    switch (f->kind) {
        case TR_LOGQL_LF_AND: {
            bool l = tr_logql_lf_eval(f->l, lb);
            bool r = tr_logql_lf_eval(f->r, lb);
            return l && r;
        }
        case TR_LOGQL_LF_OR:
            return tr_logql_lf_eval(f->l, lb) || tr_logql_lf_eval(f->r, lb);
        case TR_LOGQL_LF_STRING: {
            struct tr_slice name = tr_slice_cstr(f->name);
            if (tr_slice_eq_cstr(name, TR_LOGQL_ERROR_LABEL)) {
                v = tr_logql_lb_err(lb);
            } else {
                tr_logql_lb_get(lb, name, &v, NULL);
            }
            return tr_matcher_matches(&f->m, v.base, v.len);
        }
        case TR_LOGQL_LF_IP:
            if (tr_logql_lb_has_err(lb)) {
                return true;
            }
            if (!tr_logql_lb_get(lb, tr_slice_cstr(f->name), &v, NULL)) {
                return false;
            }
            return f->cmp == TR_LOGQL_CMP_EQ
                       ? tr_logql_ip_match(f->ip, v.base, v.len)
                       : !tr_logql_ip_match(f->ip, v.base, v.len);
        default:
            break;
    }
    if (!tr_logql_lb_get(lb, tr_slice_cstr(f->name), &v, NULL)) {
        return false;
    }
    switch (f->kind) {
        case TR_LOGQL_LF_NUMBER: {
            double x;
            if (tr_logql_parse_float(v.base, v.len, &x, msg)) {
                conv_error(lb, msg);
                return true;
            }
            return CMP(x, f->num, f->cmp);
        }
        case TR_LOGQL_LF_DURATION: {
            int64_t d;
            if (tr_logql_parse_duration(v.base, v.len, &d, msg)) {
                conv_error(lb, msg);
                return true;
            }
            return CMP(d, f->dur_ns, f->cmp);
        }
        default: {
            uint64_t b;
            if (tr_logql_parse_bytes(v.base, v.len, &b, msg)) {
                conv_error(lb, msg);
                return true;
            }
            return CMP(b, f->bytes, f->cmp);
        }
    }
}
