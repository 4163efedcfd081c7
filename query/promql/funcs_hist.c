/* funcs_hist.c - histogram_quantile over classic buckets, label_replace and
 * label_join (see funcs_eval.c). */
#include "query/promql/funcs_int.h"

/* ------------------------------------------------------------------ */
/* histogram_quantile over classic buckets                             */

/* Go's strconv.ParseFloat acceptance, approximately: the whole string,
 * no leading space, no "nan(...)", overflow is an error. */
bool parse_le(struct tr_slice s, double *out)
{
    char buf[128];
    char *end;
    if (s.len == 0 || s.len >= sizeof(buf) ||
        isspace((unsigned char)s.base[0])) {
        return false;
    }
    memcpy(buf, s.base, s.len);
    buf[s.len] = '\0';
    if (strchr(buf, '(') != NULL) {
        return false;
    }
    errno = 0;
    *out = strtod(buf, &end);
    if (end != buf + s.len) {
        return false;
    }
    return !(errno == ERANGE && isinf(*out));
}

/* almost.Equal of Prometheus' util/almost. */
bool almost_equal(double a, double b, double eps)
{
    const double min_normal = DBL_MIN;
    double abs_sum, diff;
    if (isnan(a) && isnan(b)) {
        return true;
    }
    if (a == b) {
        return true;
    }
    abs_sum = fabs(a) + fabs(b);
    diff = fabs(a - b);
    if (a == 0 || b == 0 || abs_sum < min_normal) {
        return diff < eps * min_normal;
    }
    return diff / fmin(abs_sum, DBL_MAX) < eps;
}

int bucket_cmp(const void *pa, const void *pb)
{
    const struct hq_bucket *a = pa, *b = pb;
    return a->upper < b->upper ? -1 : a->upper > b->upper ? 1 : 0;
}

/* bucketQuantile of Prometheus 2.53 (b sorted here; n > 0). */
double bucket_quantile(double q, struct hq_bucket *b, size_t n, bool *forced)
{
    size_t i, k, lo, hi;
    double obs, rank, start = 0, end, count, prev;
    if (isnan(q)) {
        return NAN;
    }
    if (q < 0) {
        return -INFINITY;
    }
    if (q > 1) {
        return INFINITY;
    }
    /* stable insertion sort keeps equal bounds in input order */
    for (i = 1; i < n; i++) {
        struct hq_bucket x = b[i];
        k = i;
        while (k > 0 && bucket_cmp(&b[k - 1], &x) > 0) {
            b[k] = b[k - 1];
            k--;
        }
        b[k] = x;
    }
    if (!(isinf(b[n - 1].upper) && b[n - 1].upper > 0)) {
        return NAN;
    }
    /* coalesce equal bounds */
    k = 0;
    for (i = 1; i < n; i++) {
        if (b[i].upper == b[k].upper) {
            b[k].count += b[i].count;
        } else {
            b[++k] = b[i];
        }
    }
    n = k + 1;
    /* ensure monotonicity, ignoring tiny deltas */
    prev = b[0].count;
    for (i = 1; i < n; i++) {
        double cur = b[i].count;
        if (cur == prev) {
            continue;
        }
        if (almost_equal(prev, cur, 1e-12)) {
            b[i].count = prev; /* precision noise, silently */
            continue;
        }
        if (cur < prev) {
            b[i].count = prev;
            *forced = true;
            continue;
        }
        prev = cur;
    }
    if (n < 2) {
        return NAN;
    }
    obs = b[n - 1].count;
    if (obs == 0) {
        return NAN;
    }
    rank = q * obs;
    /* first i in [0, n-1) with count >= rank, else n-1 */
    lo = 0;
    hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b[mid].count >= rank) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    i = lo;
    if (i == n - 1) {
        return b[n - 2].upper;
    }
    if (i == 0 && b[0].upper <= 0) {
        return b[0].upper;
    }
    end = b[i].upper;
    count = b[i].count;
    if (i > 0) {
        start = b[i - 1].upper;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return start + (end - start) * (rank / count);
}

/* Compares label sets ignoring the label "le". */
int labels_cmp_no_le(const struct tr_label *a,
                     size_t na,
                     const struct tr_label *b,
                     size_t nb)
{
    size_t i = 0, j = 0;
    for (;;) {
        int c;
        while (i < na && slice_cmp(a[i].name, "le", 2) == 0) {
            i++;
        }
        while (j < nb && slice_cmp(b[j].name, "le", 2) == 0) {
            j++;
        }
        if (i == na || j == nb) {
            return (i == na ? 0 : 1) - (j == nb ? 0 : 1);
        }
        c = slice_cmp(a[i].name, b[j].name.base, b[j].name.len);
        if (c == 0) {
            c = slice_cmp(a[i].value, b[j].value.base, b[j].value.len);
        }
        if (c != 0) {
            return c;
        }
        i++;
        j++;
    }
}

int hq_cmp(const struct tr_pq_sample *a,
           const struct tr_pq_sample *b,
           const void *arg)
{
    (void)arg;
    return labels_cmp_no_le(a->labels, a->n_labels, b->labels, b->n_labels);
}

int fn_histogram_quantile(struct tr_pq_fctx *ctx,
                          const struct tr_pq_value *args,
                          size_t n_args,
                          struct tr_pq_vector *out)
{
    const struct tr_pq_vector *in = &args[1].vec;
    double q = args[0].scalar;
    struct tr_pq_sample *s;
    struct hq_bucket *b;
    size_t n = 0;
    int rc = out_init(ctx, out, in->n);
    (void)n_args;
    const struct tr_promql_node *call = ctx->call;
    bool annotate = ctx->annos != NULL && call != NULL &&
                    call->kind == TR_PROMQL_NODE_CALL && call->call.n_args == 2;
    if (annotate) {
        tr_pq_warn_quantile(ctx->annos, q, call->call.args[0]->start);
    }
    if (rc != 0 || in->n == 0) {
        return rc;
    }
    s = tr_arena_alloc(ctx->arena, in->n * sizeof(*s));
    b = tr_arena_alloc(ctx->arena, in->n * sizeof(*b));
    if (s == NULL || b == NULL) {
        return oom(ctx);
    }
    /* keep samples with a parsable le; the bucket bound goes into t's
     * place via a parallel array after sorting (sort samples first) */
    for (size_t i = 0; i < in->n; i++) {
        double le;
        struct tr_slice lv =
            label_get(in->s[i].labels, in->s[i].n_labels, "le", 2);
        if (parse_le(lv, &le)) {
            s[n] = in->s[i];
            s[n].t = (int64_t)i; /* index back into in */
            n++;
        } else if (annotate) {
            struct tr_slice nm =
                label_get(in->s[i].labels, in->s[i].n_labels, "__name__", 8);
            struct tr_buf a;
            tr_buf_init(&a);
            tr_promql_format_quote(lv.base ? lv.base : "", lv.len, &a);
            tr_buf_puts(&a, " for metric name ");
            tr_promql_format_quote(nm.base ? nm.base : "", nm.len, &a);
            tr_buf_putc(&a, '\0');
            tr_pq_annos_add(ctx->annos, false, call->call.args[1]->start,
                            "PromQL warning: bucket label \"le\" is missing "
                            "or has a malformed value of %s",
                            a.data ? a.data : "");
            tr_buf_free(&a);
        }
    }
    rc = sort_samples(ctx, s, n, hq_cmp, NULL);
    for (size_t i = 0; rc == 0 && i < n;) {
        size_t j = i, nb = 0;
        struct tr_label *ls;
        size_t nl;
        while (j < n && hq_cmp(&s[i], &s[j], NULL) == 0) {
            const struct tr_pq_sample *o = &in->s[s[j].t];
            parse_le(label_get(o->labels, o->n_labels, "le", 2), &b[nb].upper);
            b[nb].count = o->v;
            nb++;
            j++;
        }
        ls = tr_pq_labels_set(ctx->arena, s[i].labels, s[i].n_labels, "le", "",
                              0, &nl);
        if (ls == NULL) {
            return oom(ctx);
        }
        bool forced = false;
        double res = bucket_quantile(q, b, nb, &forced);
        if (forced && annotate) {
            /* the group's labels have no metric name (Prometheus drops it
             * with le), so the name in the message is always "" */
            tr_pq_annos_add(ctx->annos, true, call->call.args[1]->start,
                            "PromQL info: input to histogram_quantile needed "
                            "to be fixed for monotonicity (see "
                            "https://prometheus.io/docs/prometheus/latest/"
                            "querying/functions/#histogram_quantile) for "
                            "metric name \"\"");
        }
        rc = out_push(ctx, out, ls, nl, true, ctx->ts, res);
        i = j;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* label_replace, label_join                                           */

bool valid_label_name(const char *s, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = c == '_' || (c >= 'a' && c <= 'z') ||
                  (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9');
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool is_word_byte(unsigned char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

/* Go's Regexp.ExpandString: $1, ${1}, $name, ${name}, $$. */
int expand(struct tr_buf *dst,
           const char *tmpl,
           size_t tn,
           const char *src,
           const pcre2_code *re,
           const PCRE2_SIZE *ov,
           uint32_t n_groups)
{
    size_t i = 0;
    while (i < tn) {
        size_t k, name_start, name_len;
        bool brace = false;
        long num = 0;
        if (tmpl[i] != '$') {
            tr_buf_append(dst, &tmpl[i], 1);
            i++;
            continue;
        }
        i++;
        if (i < tn && tmpl[i] == '$') {
            tr_buf_append(dst, "$", 1);
            i++;
            continue;
        }
        k = i;
        if (k < tn && tmpl[k] == '{') {
            brace = true;
            k++;
        }
        name_start = k;
        while (k < tn && is_word_byte((unsigned char)tmpl[k])) {
            k++;
        }
        name_len = k - name_start;
        if (name_len == 0 || (brace && (k >= tn || tmpl[k] != '}'))) {
            tr_buf_append(dst, "$", 1); /* malformed: $ as raw text */
            continue;
        }
        if (brace) {
            k++;
        }
        i = k;
        for (size_t m = 0; m < name_len; m++) {
            char c = tmpl[name_start + m];
            if (c < '0' || c > '9' || num >= 100000000) {
                num = -1;
                break;
            }
            num = num * 10 + (c - '0');
        }
        if (tmpl[name_start] == '0' && name_len > 1) {
            num = -1;
        }
        if (num < 0) {
            char nb[256];
            int g;
            if (name_len >= sizeof(nb)) {
                continue;
            }
            memcpy(nb, &tmpl[name_start], name_len);
            nb[name_len] = '\0';
            g = pcre2_substring_number_from_name(re, (PCRE2_SPTR)nb);
            if (g <= 0) {
                continue;
            }
            num = g;
        }
        if ((uint32_t)num < n_groups && ov[2 * num] != PCRE2_UNSET) {
            tr_buf_append(dst, src + ov[2 * num],
                          ov[2 * num + 1] - ov[2 * num]);
        }
    }
    return dst->oom ? TR_ENOMEM : 0;
}

int fn_label_replace(struct tr_pq_fctx *ctx,
                     const struct tr_pq_value *args,
                     size_t n_args,
                     struct tr_pq_vector *out)
{
    const struct tr_pq_vector *in = &args[0].vec;
    const struct tr_pq_value *dst = &args[1], *repl = &args[2], *src = &args[3],
                             *rx = &args[4];
    struct tr_buf pat, val;
    pcre2_code *re;
    pcre2_match_data *md = NULL;
    int err, rc;
    PCRE2_SIZE eoff;
    (void)n_args;
    tr_buf_init(&pat);
    tr_buf_init(&val);
    tr_buf_append(&pat, "^(?:", 4);
    tr_buf_append(&pat, rx->str, rx->str_len);
    tr_buf_append(&pat, ")$", 2);
    if (pat.oom) {
        tr_buf_free(&pat);
        return oom(ctx);
    }
    re = pcre2_compile(
        (PCRE2_SPTR)pat.data, pat.len,
        PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY, &err, &eoff,
        NULL);
    tr_buf_free(&pat);
    if (re == NULL) {
        return tr_errf(TR_EEXEC, ctx->errmsg,
                       "invalid regular expression in label_replace(): %.*s",
                       (int)rx->str_len, rx->str);
    }
    if (!valid_label_name(dst->str, dst->str_len)) {
        pcre2_code_free(re);
        return tr_errf(TR_EEXEC, ctx->errmsg,
                       "invalid destination label name in label_replace(): "
                       "%.*s",
                       (int)dst->str_len, dst->str);
    }
    md = pcre2_match_data_create_from_pattern(re, NULL);
    rc = md == NULL ? oom(ctx) : out_init(ctx, out, in->n);
    for (size_t i = 0; rc == 0 && i < in->n; i++) {
        const struct tr_pq_sample *e = &in->s[i];
        struct tr_slice sv =
            label_get(e->labels, e->n_labels, src->str, src->str_len);
        int m = pcre2_match(re, (PCRE2_SPTR)sv.base, sv.len, 0, 0, md, NULL);
        if (m < 0) {
            rc = out_push(ctx, out, e->labels, e->n_labels, false, e->t, e->v);
            continue;
        }
        val.len = 0;
        rc = expand(&val, repl->str, repl->str_len, sv.base, re,
                    pcre2_get_ovector_pointer(md), pcre2_get_ovector_count(md));
        if (rc == 0) {
            char *name = tr_arena_strndup(ctx->arena, dst->str, dst->str_len);
            size_t nl;
            struct tr_label *ls =
                name == NULL ? NULL
                             : tr_pq_labels_set(
                                   ctx->arena, e->labels, e->n_labels, name,
                                   val.len > 0 ? val.data : "", val.len, &nl);
            rc = ls == NULL ? oom(ctx)
                            : out_push(ctx, out, ls, nl, false, e->t, e->v);
        } else {
            rc = oom(ctx);
        }
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    tr_buf_free(&val);
    for (size_t i = 0; rc == 0 && i < out->n; i++) {
        for (size_t j = i + 1; j < out->n; j++) {
            if (tr_labels_cmp(out->s[i].labels, out->s[i].n_labels,
                              out->s[j].labels, out->s[j].n_labels) == 0) {
                return tr_errf(TR_EEXEC, ctx->errmsg,
                               "vector cannot contain metrics with the same "
                               "labelset");
            }
        }
    }
    return rc;
}

int fn_label_join(struct tr_pq_fctx *ctx,
                  const struct tr_pq_value *args,
                  size_t n_args,
                  struct tr_pq_vector *out)
{
    const struct tr_pq_vector *in = &args[0].vec;
    const struct tr_pq_value *dst = &args[1], *sep = &args[2];
    struct tr_buf val;
    char *name;
    int rc;
    for (size_t k = 3; k < n_args; k++) {
        if (!valid_label_name(args[k].str, args[k].str_len)) {
            return tr_errf(TR_EEXEC, ctx->errmsg,
                           "invalid source label name in label_join(): %.*s",
                           (int)args[k].str_len, args[k].str);
        }
    }
    if (!valid_label_name(dst->str, dst->str_len)) {
        return tr_errf(TR_EEXEC, ctx->errmsg,
                       "invalid destination label name in label_join(): %.*s",
                       (int)dst->str_len, dst->str);
    }
    name = tr_arena_strndup(ctx->arena, dst->str, dst->str_len);
    rc = name == NULL ? oom(ctx) : out_init(ctx, out, in->n);
    tr_buf_init(&val);
    for (size_t i = 0; rc == 0 && i < in->n; i++) {
        const struct tr_pq_sample *e = &in->s[i];
        struct tr_label *ls;
        size_t nl;
        val.len = 0;
        for (size_t k = 3; k < n_args; k++) {
            struct tr_slice sv =
                label_get(e->labels, e->n_labels, args[k].str, args[k].str_len);
            if (k > 3) {
                tr_buf_append(&val, sep->str, sep->str_len);
            }
            tr_buf_append(&val, sv.base, sv.len);
        }
        if (val.oom) {
            rc = oom(ctx);
            break;
        }
        ls = tr_pq_labels_set(ctx->arena, e->labels, e->n_labels, name,
                              val.len > 0 ? val.data : "", val.len, &nl);
        rc = ls == NULL ? oom(ctx)
                        : out_push(ctx, out, ls, nl, false, e->t, e->v);
    }
    tr_buf_free(&val);
    return rc;
}
