/* formatters.c - LogQL's line_format and label_format stages over the
 * template engine (template.h). See stages.h. */
#include <string.h>

#include "lib/err.h"
#include "query/logql/stages.h"
#include "query/logql/stages_int.h"
#include "query/logql/template.h"
#include "query/logql/template_int.h"

bool tr_logql_line_format(const struct tr_logql_template *t,
                          struct tr_logql_lb *lb,
                          struct tr_slice *line)
{
    if (t->simple_key.len) {
        struct tr_slice v;
        tr_logql_lb_get(lb, t->simple_key, &v, NULL);
        *line = tr_logql_lb_dup(lb, v.base, v.len);
        return true;
    }
    char msg[TR_ERRMSG_SIZE];
    struct tr_buf *b = tr_logql_lb__scratch(lb);
    int rc = tr_logql_template_exec(t, lb, *line, b, msg);
    if (rc == TR_EEXEC) {
        tr_logql__set_error(lb, TR_LOGQL_ERR_TEMPLATE, msg);
        return true;
    }
    if (rc) {
        tr_logql_lb__set_oom(lb);
        return true;
    }
    *line = tr_logql_lb_dup(lb, b->data ? b->data : "", b->len);
    return true;
}

int tr_logql_label_format_check(const struct tr_logql_label_fmt *f,
                                size_t n,
                                char *errmsg)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(f[i].dst, TR_LOGQL_ERROR_LABEL) == 0) {
            return tr_errf(TR_EINVAL, errmsg, "%s cannot be formatted",
                           TR_LOGQL_ERROR_LABEL);
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(f[i].dst, f[k].dst) == 0) {
                return tr_errf(TR_EINVAL, errmsg,
                               "multiple label name '%.200s' not allowed in a "
                               "single format operation",
                               f[i].dst);
            }
        }
    }
    return 0;
}

bool tr_logql_label_format(const struct tr_logql_label_fmt *f,
                           size_t n,
                           struct tr_logql_lb *lb,
                           struct tr_slice line)
{
    struct tr_logql_label *snap = NULL;
    size_t n_snap = 0;
    bool have_snap = false;
    char msg[TR_ERRMSG_SIZE];
    for (size_t i = 0; i < n; i++) {
        struct tr_slice dst = tr_slice_cstr(f[i].dst);
        if (!f[i].tmpl) {
            struct tr_slice src = tr_slice_cstr(f[i].src), v;
            if (tr_logql_lb_get(lb, src, &v, NULL)) {
                tr_logql_lb_set(lb, TR_LOGQL_CAT_PARSED, dst, v);
                tr_logql_lb_del(lb, src);
            }
            continue;
        }
        if (!have_snap) {
            struct tr_logql_label *ls;
            tr_logql_lb_labels(lb, &ls, &n_snap);
            snap = tr_arena_alloc(tr_logql_lb__arena(lb),
                                  (n_snap + 1) * sizeof(*snap));
            if (!snap) {
                tr_logql_lb__set_oom(lb);
                return true;
            }
            if (n_snap) {
                memcpy(snap, ls, n_snap * sizeof(*snap));
            }
            have_snap = true;
        }
        struct tr_buf *b = tr_logql_lb__scratch(lb);
        int rc = tt_exec_labels(f[i].tmpl, lb, snap, n_snap, line, b, msg);
        if (rc == TR_EEXEC) {
            tr_logql__set_error(lb, TR_LOGQL_ERR_TEMPLATE, msg);
            continue;
        }
        if (rc) {
            tr_logql_lb__set_oom(lb);
            return true;
        }
        tr_logql_lb_set(lb, TR_LOGQL_CAT_PARSED, dst,
                        (struct tr_slice){b->data ? b->data : "", b->len});
    }
    return true;
}
