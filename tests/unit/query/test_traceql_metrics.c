/* Tests for query/traceql/metrics.c: counts, rates and aggregates per
 * series and step over the hand-built trace of tests/lib/trace_fixture.h,
 * partial states that merge into the same result (what nodes send the
 * coordinator), quantiles and histograms of durations, second stages, and
 * what is refused. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "query/traceql/metrics.h"
#include "query/traceql/traceql.h"
#include "tests/lib/trace_fixture.h"

#define STEP (1000 * TR_TEST_MS) /* 1 s */

TestSuite(traceql_metrics, .init = tr_test_trace_init);

static struct tr_traceql_metrics_job *job(const char *q, struct tr_arena *a)
{
    struct tr_traceql_query *query;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_traceql_parse(q, strlen(q), a, &query, err), 0, "%s", err);
    cr_assert_eq(tr_traceql_validate(query, err), 0, "%s", err);
    struct tr_traceql_metrics_job *j;
    cr_assert_eq(tr_traceql_metrics_new(query, (int64_t)TR_TEST_T0,
                                        (int64_t)TR_TEST_T0 + 2 * STEP - 1,
                                        STEP, &j, err),
                 0, "%s", err);
    return j;
}

/* The value of the series whose first label's string is name, at step 0. */
static double value_of(struct tr_traceql_series *s, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i].n_labels > 0 &&
            tr_slice_eq_cstr(s[i].labels[0].value.s, name) &&
            s[i].n_samples > 0) {
            return s[i].samples[0].value;
        }
    }
    return NAN;
}

Test(traceql_metrics, counts_by_service_and_merge)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    const char *q = "{ } | count_over_time() by (resource.service.name)";
    struct tr_traceql_metrics_job *node = job(q, &a), *coord = job(q, &a);
    cr_assert_eq(tr_traceql_metrics_observe(node, &tr_test_trace.b), 0);
    struct tr_buf part;
    tr_buf_init(&part);
    cr_assert_eq(tr_traceql_metrics_encode(node, &part), 0);
    /* two nodes' identical parts merge into twice the counts */
    cr_assert_eq(tr_traceql_metrics_merge(coord, part.data, part.len), 0);
    cr_assert_eq(tr_traceql_metrics_merge(coord, part.data, part.len), 0);
    struct tr_traceql_series *s;
    size_t n;
    cr_assert_eq(tr_traceql_metrics_result(node, &s, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(value_of(s, n, "frontend"), 3);
    cr_assert_eq(value_of(s, n, "checkout"), 1);
    cr_assert_eq(value_of(s, n, "db"), 2);
    cr_assert_eq(s[0].samples[0].ts_ms, (int64_t)(TR_TEST_T0 / 1000000));
    cr_assert_eq(tr_traceql_metrics_result(coord, &s, &n), 0);
    cr_assert_eq(value_of(s, n, "db"), 4);
    /* a damaged part is refused */
    for (size_t cut = 0; cut + 1 < part.len; cut++) {
        struct tr_traceql_metrics_job *j = job(q, &a);
        cr_assert_neq(tr_traceql_metrics_merge(j, part.data, cut), 0);
        tr_traceql_metrics_free(j);
    }
    tr_buf_free(&part);
    tr_traceql_metrics_free(node);
    tr_traceql_metrics_free(coord);
    tr_arena_free(&a);
}

Test(traceql_metrics, rate_aggregates_quantiles_histograms)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_traceql_series *s;
    size_t n;
    struct tr_traceql_metrics_job *j = job("{ kind = client } | rate()", &a);
    cr_assert_eq(tr_traceql_metrics_observe(j, &tr_test_trace.b), 0);
    cr_assert_eq(tr_traceql_metrics_result(j, &s, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(s[0].n_labels, 0);
    cr_assert_float_eq(s[0].samples[0].value, 3.0, 1e-12); /* 3 spans / 1 s */
    tr_traceql_metrics_free(j);
    j = job("{ } | max_over_time(duration)", &a);
    cr_assert_eq(tr_traceql_metrics_observe(j, &tr_test_trace.b), 0);
    cr_assert_eq(tr_traceql_metrics_result(j, &s, &n), 0);
    cr_assert_float_eq(s[0].samples[0].value, 0.1, 1e-12); /* seconds */
    tr_traceql_metrics_free(j);
    j = job("{ } | avg_over_time(duration)", &a);
    cr_assert_eq(tr_traceql_metrics_observe(j, &tr_test_trace.b), 0);
    cr_assert_eq(tr_traceql_metrics_result(j, &s, &n), 0);
    cr_assert_float_eq(s[0].samples[0].value, 0.215 / 6, 1e-12);
    tr_traceql_metrics_free(j);
    j = job("{ } | quantile_over_time(duration, 0.5, 1)", &a);
    cr_assert_eq(tr_traceql_metrics_observe(j, &tr_test_trace.b), 0);
    cr_assert_eq(tr_traceql_metrics_result(j, &s, &n), 0);
    cr_assert_eq(n, 2);
    /* power-of-two buckets: the median (20-30 ms) lies in (2^24, 2^25] ns */
    double med = s[0].samples[0].value;
    cr_assert(med > 0.016777216 && med <= 0.033554432, "median %g", med);
    cr_assert_float_eq(s[1].samples[0].value, 0.134217728, 1e-12);
    tr_traceql_metrics_free(j);
    j = job("{ } | histogram_over_time(duration)", &a);
    cr_assert_eq(tr_traceql_metrics_observe(j, &tr_test_trace.b), 0);
    cr_assert_eq(tr_traceql_metrics_result(j, &s, &n), 0);
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert(tr_slice_eq_cstr(s[i].labels[0].key, "__bucket"));
        total += s[i].samples[0].value;
    }
    cr_assert_eq(total, 6);
    tr_traceql_metrics_free(j);
    j = job("{ } | count_over_time() by (resource.service.name) | topk(1)", &a);
    cr_assert_eq(tr_traceql_metrics_observe(j, &tr_test_trace.b), 0);
    cr_assert_eq(tr_traceql_metrics_result(j, &s, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert(tr_slice_eq_cstr(s[0].labels[0].value.s, "frontend"));
    tr_traceql_metrics_free(j);
    j = job("{ } | count_over_time() by (resource.service.name) > 1", &a);
    cr_assert_eq(tr_traceql_metrics_observe(j, &tr_test_trace.b), 0);
    cr_assert_eq(tr_traceql_metrics_result(j, &s, &n), 0);
    cr_assert_eq(n, 2); /* frontend 3, db 2 */
    tr_traceql_metrics_free(j);
    tr_arena_free(&a);
}

Test(traceql_metrics, refused)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    char err[TR_ERRMSG_SIZE];
    struct tr_traceql_query *q;
    struct tr_traceql_metrics_job *j;
    const char *math = "({ } | rate()) + ({ } | rate())";
    if (tr_traceql_parse(math, strlen(math), &a, &q, err) == 0) {
        cr_assert_eq(tr_traceql_metrics_new(q, 0, 1000, 1, &j, err),
                     TR_EUNSUPPORTED);
    }
    const char *search = "{ status = error }";
    cr_assert_eq(tr_traceql_parse(search, strlen(search), &a, &q, err), 0);
    cr_assert_eq(tr_traceql_metrics_new(q, 0, 1000, 1, &j, err), TR_EINVAL);
    const char *rate = "{ } | rate()";
    cr_assert_eq(tr_traceql_parse(rate, strlen(rate), &a, &q, err), 0);
    cr_assert_eq(tr_traceql_metrics_new(q, 0, 1000000000, 1, &j, err),
                 TR_EINVAL, "too many steps");
    tr_arena_free(&a);
}

/* The count of the series with __meta_type = type and label = value
 * (value NULL: the total of label). */
static double cmp_count(struct tr_traceql_series *s,
                        size_t n,
                        const char *type,
                        const char *label,
                        const char *value)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i].n_labels != 2 ||
            !tr_slice_eq_cstr(s[i].labels[0].value.s, type) ||
            !tr_slice_eq_cstr(s[i].labels[1].key, label)) {
            continue;
        }
        const struct tr_otlp_value *v = &s[i].labels[1].value;
        if ((value == NULL && v->type == TR_OTLP_EMPTY) ||
            (value != NULL && v->type == TR_OTLP_STRING &&
             tr_slice_eq_cstr(v->s, value))) {
            return s[i].samples[0].value;
        }
    }
    return 0;
}

Test(traceql_metrics, compare)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_traceql_metrics_job *j =
        job("{ } | compare({ resource.service.name = \"db\" }, 2)", &a);
    cr_assert_eq(tr_traceql_metrics_observe(j, &tr_test_trace.b), 0);
    struct tr_traceql_series *s;
    size_t n;
    cr_assert_eq(tr_traceql_metrics_result(j, &s, &n), 0);
    cr_assert_eq(cmp_count(s, n, "selection", "kind", "client"), 2);
    cr_assert_eq(cmp_count(s, n, "baseline", "kind", "internal"), 2);
    cr_assert_eq(cmp_count(s, n, "selection", "span.db.system", "postgresql"),
                 2);
    cr_assert_eq(cmp_count(s, n, "selection_total", "name", NULL), 2);
    cr_assert_eq(cmp_count(s, n, "baseline_total", "name", NULL), 4);
    /* topn 2: of the baseline's four names only two stay */
    size_t names = 0;
    for (size_t i = 0; i < n; i++) {
        names += s[i].n_labels == 2 &&
                 tr_slice_eq_cstr(s[i].labels[0].value.s, "baseline") &&
                 tr_slice_eq_cstr(s[i].labels[1].key, "name");
    }
    cr_assert_eq(names, 2);
    tr_traceql_metrics_free(j);
    tr_arena_free(&a);
}
