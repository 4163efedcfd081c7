/* test_logql_eval.c - the LogQL evaluator (query/logql/eval.h) over the
 * in-memory log source: log queries (order, limit across streams,
 * direction, push-down seen through the source's counters, pipelines),
 * metric queries of every kind, limits and their errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "query/logql/eval.h"
#include "query/logql/parser.h"
#include "tests/lib/mem_log_source.h"

#define S(x) (1000000000LL * (x))
#define TENANT "t1"

static struct tr_mem_log *m;
static struct tr_arena a;
static char errmsg[TR_ERRMSG_SIZE];
static struct tr_logql_expr *expr;

static void setup(void)
{
    m = tr_mem_log_new();
    cr_assert_not_null(m);
    tr_arena_init(&a, 64 * 1024);
    expr = NULL;
    errmsg[0] = '\0';
}

static void teardown(void)
{
    tr_logql_ast_free(expr);
    tr_arena_free(&a);
    tr_mem_log_free(m);
}

/* Pushes a line to the stream {k1="v1", k2="v2"} (k2 may be NULL) with an
 * optional metadata pair. */
static void push(const char *k1,
                 const char *v1,
                 const char *k2,
                 const char *v2,
                 int64_t ts,
                 const char *line,
                 const char *mk,
                 const char *mv)
{
    struct tr_label ls[2] = {{{k1, strlen(k1)}, {v1, strlen(v1)}}};
    struct tr_label md = {{mk ? mk : "", mk ? strlen(mk) : 0},
                          {mv ? mv : "", mv ? strlen(mv) : 0}};
    size_t n = 1;
    if (k2) {
        ls[1] = (struct tr_label){{k2, strlen(k2)}, {v2, strlen(v2)}};
        n = 2;
    }
    cr_assert_eq(tr_mem_log_push(m, TENANT, ls, n, ts, line, strlen(line),
                                 mk ? &md : NULL, mk ? 1 : 0),
                 0);
}

static void parse(const char *q)
{
    tr_logql_ast_free(expr);
    expr = NULL;
    int rc = tr_logql_parse(q, strlen(q), &a, &expr, errmsg);
    cr_assert_eq(rc, 0, "parse %s: %s", q, errmsg);
}

static int logs(const char *q,
                int64_t start,
                int64_t end,
                size_t limit,
                enum tr_log_direction dir,
                const struct tr_logql_opts *o,
                struct tr_logql_streams *out)
{
    parse(q);
    struct tr_log_source src = tr_mem_log_source(m);
    return tr_logql_select_logs(&src, (struct tr_slice){TENANT, 2}, expr, start,
                                end, limit, dir, o, &a, out, errmsg);
}

static int metric(const char *q,
                  int64_t start,
                  int64_t end,
                  int64_t step,
                  const struct tr_logql_opts *o,
                  struct tr_pq_value *out)
{
    parse(q);
    struct tr_log_source src = tr_mem_log_source(m);
    return tr_logql_eval_metric(&src, (struct tr_slice){TENANT, 2}, expr, start,
                                end, step, o, &a, out, errmsg);
}

static bool slice_is(struct tr_slice s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.base, want, s.len) == 0;
}

static const char *label(const struct tr_label *ls, size_t n, const char *k)
{
    static char buf[256];
    for (size_t i = 0; i < n; i++) {
        if (slice_is(ls[i].name, k)) {
            snprintf(buf, sizeof(buf), "%.*s", (int)ls[i].value.len,
                     ls[i].value.base);
            return buf;
        }
    }
    return NULL;
}

/* Two streams: a at 1,3,5,7 s and b at 2,4,6,8 s. */
static void two_streams(void)
{
    for (int i = 0; i < 4; i++) {
        char line[32];
        snprintf(line, sizeof(line), "a%d level=info", i);
        push("app", "a", NULL, NULL, S(1 + 2 * i), line, NULL, NULL);
        snprintf(line, sizeof(line), "b%d level=%s", i,
                 i % 2 ? "error" : "info");
        push("app", "b", NULL, NULL, S(2 + 2 * i), line, NULL, NULL);
    }
}

TestSuite(logql_eval, .init = setup, .fini = teardown);

Test(logql_eval, backward_limit_merges_streams_by_time)
{
    struct tr_logql_streams r;
    two_streams();
    cr_assert_eq(
        logs("{app=~\"a|b\"}", 0, S(100), 3, TR_LOG_BACKWARD, NULL, &r), 0,
        "%s", errmsg);
    /* newest 3 over both streams: b@8, a@7, b@6 */
    cr_assert_eq(r.n_entries, 3);
    cr_assert_eq(r.n_streams, 2);
    cr_assert_str_eq(label(r.streams[0].labels, r.streams[0].n_labels, "app"),
                     "a");
    cr_assert_eq(r.streams[0].n_entries, 1);
    cr_assert_eq(r.streams[0].entries[0].ts, S(7));
    cr_assert_eq(r.streams[1].n_entries, 2);
    cr_assert_eq(r.streams[1].entries[0].ts, S(8));
    cr_assert_eq(r.streams[1].entries[1].ts, S(6));
    /* no filter left: one select with the limit per stream */
    cr_assert_eq(tr_mem_log_counters(m)->selects, 1);
    cr_assert_eq(tr_mem_log_counters(m)->last_limit, 3);
}

Test(logql_eval, forward_limit_and_range_end_exclusive)
{
    struct tr_logql_streams r;
    two_streams();
    cr_assert_eq(
        logs("{app=~\"a|b\"}", S(2), S(6), 10, TR_LOG_FORWARD, NULL, &r), 0,
        "%s", errmsg);
    /* [2s, 6s): b@2 a@3 b@4 a@5 */
    cr_assert_eq(r.n_entries, 4);
    cr_assert_eq(r.streams[0].entries[0].ts, S(3));
    cr_assert_eq(r.streams[0].entries[1].ts, S(5));
    cr_assert_eq(r.streams[1].entries[0].ts, S(2));
    cr_assert_eq(r.streams[1].entries[1].ts, S(4));
    cr_assert(slice_is(r.streams[1].entries[0].line, "b0 level=info"));
}

Test(logql_eval, needles_pushed_down)
{
    struct tr_logql_streams r;
    two_streams();
    cr_assert_eq(logs("{app=~\"a|b\"} |= \"b\" |= \"level\"", 0, S(100), 100,
                      TR_LOG_BACKWARD, NULL, &r),
                 0, "%s", errmsg);
    cr_assert_eq(r.n_entries, 4);
    cr_assert_eq(tr_mem_log_counters(m)->max_needles, 2);
    /* the source returned only the matching lines */
    cr_assert_eq(tr_mem_log_counters(m)->lines_returned, 4);
}

Test(logql_eval, filters_read_in_slices_until_limit)
{
    struct tr_logql_streams r;
    /* one error line per minute for an hour, newest last */
    for (int i = 0; i < 60; i++) {
        push("app", "a", NULL, NULL, S(60 * i), i % 2 ? "x error" : "x ok",
             NULL, NULL);
    }
    cr_assert_eq(logs("{app=\"a\"} |~ \"err.r\"", 0, S(3600), 2,
                      TR_LOG_BACKWARD, NULL, &r),
                 0, "%s", errmsg);
    cr_assert_eq(r.n_entries, 2);
    cr_assert_eq(r.streams[0].entries[0].ts, S(60 * 59));
    cr_assert_eq(r.streams[0].entries[1].ts, S(60 * 57));
    /* per-stream limit not usable with a filter; the first slices were
     * enough: far fewer lines than the hour were read */
    cr_assert_eq(tr_mem_log_counters(m)->last_limit, 0);
    cr_assert_lt(tr_mem_log_counters(m)->lines_scanned, 30);
}

Test(logql_eval, metadata_equality_pushed_down)
{
    struct tr_logql_streams r;
    push("app", "a", NULL, NULL, S(1), "one", "trace_id", "t1");
    push("app", "a", NULL, NULL, S(2), "two", "trace_id", "t2");
    push("app", "a", NULL, NULL, S(3), "three", NULL, NULL);
    cr_assert_eq(logs("{app=\"a\"} | trace_id=\"t2\"", 0, S(10), 10,
                      TR_LOG_FORWARD, NULL, &r),
                 0, "%s", errmsg);
    cr_assert_eq(r.n_entries, 1);
    cr_assert(slice_is(r.streams[0].entries[0].line, "two"));
    cr_assert_eq(tr_mem_log_counters(m)->max_meta, 1);
    /* categorize-labels: the metadata pair is reported apart */
    cr_assert_eq(r.streams[0].entries[0].n_meta, 1);
    cr_assert(slice_is(r.streams[0].entries[0].meta[0].value, "t2"));
    cr_assert_eq(r.streams[0].n_stream_labels, 1);
}

Test(logql_eval, metadata_filter_on_stream_label_not_pushed)
{
    struct tr_logql_streams r;
    push("app", "a", "env", "prod", S(1), "x", NULL, NULL);
    push("app", "a", NULL, NULL, S(2), "y", "env", "prod");
    push("app", "a", NULL, NULL, S(3), "z", "env", "dev");
    push("app", "a", NULL, NULL, S(4), "w", "env", "dev");
    cr_assert_eq(logs("{app=\"a\"} | env=\"prod\"", 0, S(10), 2,
                      TR_LOG_BACKWARD, NULL, &r),
                 0, "%s", errmsg);
    /* env is a stream label of one selected stream: the filter stays in
     * the pipeline and the limit is still met although the newest lines
     * of the other stream are dev ones */
    cr_assert_eq(r.n_entries, 2);
    cr_assert_eq(r.n_streams, 1);
    cr_assert(slice_is(r.streams[0].entries[0].line, "y"));
    cr_assert(slice_is(r.streams[0].entries[1].line, "x"));
    cr_assert_eq(tr_mem_log_counters(m)->max_meta, 0);
}

Test(logql_eval, pipeline_groups_by_final_labels)
{
    struct tr_logql_streams r;
    two_streams();
    cr_assert_eq(logs("{app=\"b\"} | logfmt | line_format \"{{.level}}\"", 0,
                      S(100), 100, TR_LOG_FORWARD, NULL, &r),
                 0, "%s", errmsg);
    cr_assert_eq(r.n_streams, 2); /* level=error and level=info */
    cr_assert_str_eq(label(r.streams[0].labels, r.streams[0].n_labels, "level"),
                     "error");
    cr_assert(slice_is(r.streams[0].entries[0].line, "error"));
    cr_assert_eq(r.streams[0].entries[0].n_parsed, 1);
    cr_assert_eq(r.streams[0].n_stream_labels, 1);
}

Test(logql_eval, categorize_labels_groups_by_stream_labels)
{
    struct tr_logql_streams r;
    struct tr_logql_opts o = {0};
    two_streams();
    o.categorize_labels = true;
    cr_assert_eq(
        logs("{app=\"b\"} | logfmt", 0, S(100), 100, TR_LOG_BACKWARD, &o, &r),
        0, "%s", errmsg);
    cr_assert_eq(r.n_streams, 1);
    cr_assert_eq(r.streams[0].n_labels, 1);
    cr_assert_eq(r.streams[0].n_entries, 4);
    cr_assert_eq(r.streams[0].entries[0].ts, S(8));
    cr_assert_eq(r.streams[0].entries[0].n_parsed, 1); /* level */
    cr_assert(slice_is(r.streams[0].entries[0].parsed[0].value, "error"));
    cr_assert(slice_is(r.streams[0].entries[1].parsed[0].value, "info"));
}

Test(logql_eval, log_limits)
{
    struct tr_logql_streams r;
    struct tr_logql_opts o = {0};
    two_streams();
    o.max_entries = 5;
    cr_assert_eq(logs("{app=\"a\"}", 0, S(100), 6, TR_LOG_FORWARD, &o, &r),
                 TR_ELIMIT);
    cr_assert_str_eq(errmsg,
                     "max entries limit per query exceeded, limit > "
                     "max_entries_limit (6 > 5)");
    o.max_entries = 0;
    o.max_series = 1;
    cr_assert_eq(logs("{app=~\"a|b\"}", 0, S(100), 100, TR_LOG_FORWARD, &o, &r),
                 TR_ELIMIT);
    cr_assert_str_eq(errmsg,
                     "maximum of series (1) reached for a single query");
    o.max_series = 0;
    o.max_bytes = 10;
    cr_assert_eq(logs("{app=~\"a|b\"}", 0, S(100), 100, TR_LOG_FORWARD, &o, &r),
                 TR_ELIMIT);
    o.max_bytes = 0;
    o.deadline_mono_ns = tr_mono_ns() - 1;
    cr_assert_eq(logs("{app=~\"a|b\"}", 0, S(100), 100, TR_LOG_FORWARD, &o, &r),
                 TR_ETIMEOUT);
}

Test(logql_eval, bad_template_is_a_bad_request)
{
    struct tr_logql_streams r;
    struct tr_pq_value v;
    two_streams();
    cr_assert_eq(logs("{app=\"a\"} | line_format \"{{nosuchfunc .x}}\"", 0,
                      S(100), 10, TR_LOG_FORWARD, NULL, &r),
                 TR_EINVAL);
    cr_assert(strstr(errmsg, "invalid line template") != NULL, "%s", errmsg);
    cr_assert_eq(metric("count_over_time({app=\"a\"} | line_format \"{{.x\" "
                        "[1m])",
                        S(60), 0, 0, NULL, &v),
                 TR_EINVAL);
}

Test(logql_eval, instant_check)
{
    parse("{app=\"a\"}");
    cr_assert_not(tr_logql_is_metric(expr));
    cr_assert_eq(tr_logql_check_instant(expr, errmsg), TR_EINVAL);
    parse("count_over_time({app=\"a\"}[1m])");
    cr_assert(tr_logql_is_metric(expr));
    cr_assert_eq(tr_logql_check_instant(expr, errmsg), 0);
}

/* ---- metric queries ----------------------------------------------------- */

/* a: a line every 10 s from 0 to 120 s; b: every 20 s. */
static void metric_data(void)
{
    for (int i = 0; i <= 12; i++) {
        char line[64];
        snprintf(line, sizeof(line), "v=%d status=%d", i, i % 2 ? 500 : 200);
        push("app", "a", NULL, NULL, S(10 * i), line, NULL, NULL);
        if (i % 2 == 0) {
            push("app", "b", NULL, NULL, S(10 * i), "v=1 status=200", NULL,
                 NULL);
        }
    }
}

static double vec_value(const struct tr_pq_value *v, const char *app)
{
    for (size_t i = 0; i < v->vec.n; i++) {
        const char *x = label(v->vec.s[i].labels, v->vec.s[i].n_labels, "app");
        if ((!app && v->vec.s[i].n_labels == 0) ||
            (app && x && strcmp(x, app) == 0)) {
            return v->vec.s[i].v;
        }
    }
    cr_assert_fail("no sample for %s", app ? app : "{}");
    return NAN;
}

Test(logql_eval, count_and_rate_left_open_window)
{
    struct tr_pq_value v;
    metric_data();
    /* (30s, 60s]: a at 40 50 60 */
    cr_assert_eq(
        metric("count_over_time({app=\"a\"}[30s])", S(60), 0, 0, NULL, &v), 0,
        "%s", errmsg);
    cr_assert_eq(v.type, TR_PROMQL_TYPE_VECTOR);
    cr_assert_eq(v.vec.n, 1);
    cr_assert_eq(v.vec.s[0].t, 60000);
    cr_assert_float_eq(v.vec.s[0].v, 3, 1e-12);
    cr_assert_eq(metric("rate({app=~\"a|b\"}[1m])", S(60), 0, 0, NULL, &v), 0);
    cr_assert_float_eq(vec_value(&v, "a"), 6.0 / 60, 1e-12);
    cr_assert_float_eq(vec_value(&v, "b"), 3.0 / 60, 1e-12);
    cr_assert_eq(metric("bytes_over_time({app=\"b\"}[30s] offset 30s)", S(60),
                        0, 0, NULL, &v),
                 0);
    cr_assert_float_eq(v.vec.s[0].v, 14, 1e-12); /* (0, 30]: b at 20 */
}

Test(logql_eval, range_query_matrix)
{
    struct tr_pq_value v;
    metric_data();
    cr_assert_eq(metric("sum by (app) (count_over_time({app=~\"a|b\"}[20s]))",
                        S(20), S(60), S(20), NULL, &v),
                 0, "%s", errmsg);
    cr_assert_eq(v.type, TR_PROMQL_TYPE_MATRIX);
    cr_assert_eq(v.mat.n, 2);
    cr_assert_str_eq(label(v.mat.s[0].labels, v.mat.s[0].n_labels, "app"), "a");
    cr_assert_eq(v.mat.s[0].n, 3);
    cr_assert_eq(v.mat.s[0].pts[0].t, 20000);
    cr_assert_float_eq(v.mat.s[0].pts[2].v, 2, 1e-12);
    cr_assert_float_eq(v.mat.s[1].pts[1].v, 1, 1e-12);
}

/* sum by (L) over count_over_time/rate of a parser that gives every line
 * its own labels groups the samples as they load: the same matrix as
 * summing the per-line series, with streams interleaved in time (the
 * grouped series must be sorted across streams) and with a pipeline
 * error kept apart. */
Test(logql_eval, sum_by_groups_at_load_like_summing_series)
{
    for (int i = 0; i < 300; i++) {
        char line[96];
        snprintf(line, sizeof(line), "{\"level\":\"%s\",\"id\":%d}",
                 i % 3 ? "info" : "error", i);
        push("app", i % 2 ? "a" : "b", NULL, NULL, S(i) + (i % 7) * 1000, line,
             NULL, NULL);
    }
    push("app", "a", NULL, NULL, S(100) + 1, "not json", NULL, NULL);
    static const char *const pairs[][2] = {
        {"sum by (level) (count_over_time({app=~\"a|b\"} | json [30s]))",
         "sum by (level) (count_over_time({app=~\"a|b\"} | json [30s]) + "
         "0)"},
        {"sum by (level) (rate({app=~\"a|b\"} | json | __error__=\"\" "
         "[1m]))",
         "sum by (level) (rate({app=~\"a|b\"} | json | __error__=\"\" "
         "[1m]) * 1)"},
        {"sum by (level) (bytes_over_time({app=~\"a|b\"} | json [45s]))",
         "sum by (level) (bytes_over_time({app=~\"a|b\"} | json [45s]) + "
         "0)"},
    };
    for (size_t q = 0; q < sizeof(pairs) / sizeof(pairs[0]); q++) {
        struct tr_pq_value v1, v2;
        int r1 = metric(pairs[q][0], S(0), S(320), S(10), NULL, &v1);
        char e1[TR_ERRMSG_SIZE];
        snprintf(e1, sizeof(e1), "%s", errmsg);
        int r2 = metric(pairs[q][1], S(0), S(320), S(10), NULL, &v2);
        cr_assert_eq(r1, r2, "%s: %d (%s) vs %d (%s)", pairs[q][0], r1, e1, r2,
                     errmsg);
        if (r1 != 0) {
            cr_assert_str_eq(e1, errmsg);
            continue;
        }
        cr_assert_eq(v1.mat.n, v2.mat.n, "%s", pairs[q][0]);
        cr_assert_geq(v1.mat.n, 2, "%s", pairs[q][0]);
        for (size_t i = 0; i < v1.mat.n; i++) {
            cr_assert_eq(v1.mat.s[i].n, v2.mat.s[i].n);
            for (size_t j = 0; j < v1.mat.s[i].n; j++) {
                cr_assert_eq(v1.mat.s[i].pts[j].t, v2.mat.s[i].pts[j].t);
                cr_assert_float_eq(v1.mat.s[i].pts[j].v, v2.mat.s[i].pts[j].v,
                                   1e-9, "%s", pairs[q][0]);
            }
        }
    }
}

Test(logql_eval, unwrap_aggregations)
{
    struct tr_pq_value v;
    metric_data();
    /* a's v in (60, 120]: 7..12 */
    struct {
        const char *q;
        double want;
    } cases[] = {
        {"sum_over_time({app=\"a\"} | logfmt v | unwrap v [1m])", 57},
        {"avg_over_time({app=\"a\"} | logfmt v | unwrap v [1m])", 9.5},
        {"min_over_time({app=\"a\"} | logfmt v | unwrap v [1m])", 7},
        {"max_over_time({app=\"a\"} | logfmt v | unwrap v [1m])", 12},
        {"first_over_time({app=\"a\"} | logfmt v | unwrap v [1m])", 7},
        {"last_over_time({app=\"a\"} | logfmt v | unwrap v [1m])", 12},
        {"quantile_over_time(0.5, {app=\"a\"} | logfmt v | unwrap v [1m])",
         9.5},
        {"stdvar_over_time({app=\"a\"} | logfmt v | unwrap v [1m])", 35.0 / 12},
        {"rate({app=\"a\"} | logfmt v | unwrap v [1m])", 57.0 / 60},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(metric(cases[i].q, S(120), 0, 0, NULL, &v), 0, "%s: %s",
                     cases[i].q, errmsg);
        cr_assert_eq(v.vec.n, 1, "%s", cases[i].q);
        cr_assert_float_eq(v.vec.s[0].v, cases[i].want, 1e-9, "%s", cases[i].q);
        /* the unwrapped label leaves the sample's labels */
        cr_assert_null(label(v.vec.s[0].labels, v.vec.s[0].n_labels, "v"));
    }
}

Test(logql_eval, pipeline_error_fails_unless_filtered)
{
    struct tr_pq_value v;
    push("app", "j", NULL, NULL, S(10), "not json", NULL, NULL);
    push("app", "j", NULL, NULL, S(20), "{\"a\":1}", NULL, NULL);
    cr_assert_eq(metric("count_over_time({app=\"j\"} | json [1m])", S(30), 0, 0,
                        NULL, &v),
                 TR_EEXEC);
    cr_assert(strstr(errmsg, "pipeline error: 'JSONParserErr'") != NULL, "%s",
              errmsg);
    cr_assert_eq(metric("count_over_time({app=\"j\"} | json | __error__=\"\" "
                        "[1m])",
                        S(30), 0, 0, NULL, &v),
                 0, "%s", errmsg);
    cr_assert_eq(v.vec.n, 1);
    cr_assert_str_eq(label(v.vec.s[0].labels, v.vec.s[0].n_labels, "a"), "1");
}

Test(logql_eval, vector_aggregations_and_binops)
{
    struct tr_pq_value v;
    metric_data();
    cr_assert_eq(metric("sum(count_over_time({app=~\"a|b\"}[1m]))", S(60), 0, 0,
                        NULL, &v),
                 0, "%s", errmsg);
    cr_assert_float_eq(vec_value(&v, NULL), 9, 1e-12);
    cr_assert_eq(metric("topk(1, count_over_time({app=~\"a|b\"}[1m]))", S(60),
                        0, 0, NULL, &v),
                 0);
    cr_assert_eq(v.vec.n, 1);
    cr_assert_float_eq(vec_value(&v, "a"), 6, 1e-12);
    cr_assert_eq(metric("count_over_time({app=\"a\"}[1m]) / on () "
                        "count_over_time({app=\"b\"}[1m])",
                        S(60), 0, 0, NULL, &v),
                 0, "%s", errmsg);
    cr_assert_eq(v.vec.n, 1);
    cr_assert_eq(v.vec.s[0].n_labels, 0);
    cr_assert_float_eq(v.vec.s[0].v, 2, 1e-12);
    cr_assert_eq(metric("count_over_time({app=~\"a|b\"}[1m]) > bool 4", S(60),
                        0, 0, NULL, &v),
                 0);
    cr_assert_float_eq(vec_value(&v, "a"), 1, 1e-12);
    cr_assert_float_eq(vec_value(&v, "b"), 0, 1e-12);
    cr_assert_eq(metric("count_over_time({app=\"a\"}[1m]) and "
                        "count_over_time({app=\"zzz\"}[1m])",
                        S(60), 0, 0, NULL, &v),
                 0);
    cr_assert_eq(v.vec.n, 0);
    /* division by zero is NaN in Loki */
    cr_assert_eq(
        metric("count_over_time({app=\"a\"}[1m]) / 0", S(60), 0, 0, NULL, &v),
        0);
    cr_assert(isnan(v.vec.s[0].v));
}

Test(logql_eval, matching_errors)
{
    struct tr_pq_value v;
    metric_data();
    cr_assert_eq(metric("count_over_time({app=\"a\"}[1m]) + ignoring (app) "
                        "count_over_time({app=~\"a|b\"}[1m])",
                        S(60), 0, 0, NULL, &v),
                 TR_EEXEC);
    cr_assert(strstr(errmsg, "found duplicate series on the right hand-side"),
              "%s", errmsg);
}

Test(logql_eval, literals_vector_label_replace_absent)
{
    struct tr_pq_value v;
    metric_data();
    cr_assert_eq(metric("1 + 2", S(60), 0, 0, NULL, &v), 0, "%s", errmsg);
    cr_assert_eq(v.type, TR_PROMQL_TYPE_SCALAR);
    cr_assert_float_eq(v.scalar, 3, 1e-12);
    cr_assert_eq(metric("vector(5)", S(60), S(80), S(10), NULL, &v), 0);
    cr_assert_eq(v.type, TR_PROMQL_TYPE_MATRIX);
    cr_assert_eq(v.mat.n, 1);
    cr_assert_eq(v.mat.s[0].n, 3);
    cr_assert_eq(metric("label_replace(count_over_time({app=\"a\"}[1m]), "
                        "\"x\", \"$1-y\", \"app\", \"(.*)\")",
                        S(60), 0, 0, NULL, &v),
                 0, "%s", errmsg);
    cr_assert_str_eq(label(v.vec.s[0].labels, v.vec.s[0].n_labels, "x"), "a-y");
    cr_assert_eq(metric("absent_over_time({app=\"zzz\", env=~\"p.*\"}[1m])",
                        S(60), 0, 0, NULL, &v),
                 0);
    cr_assert_eq(v.vec.n, 1);
    cr_assert_eq(v.vec.s[0].n_labels, 1);
    cr_assert_float_eq(vec_value(&v, "zzz"), 1, 1e-12);
    cr_assert_eq(
        metric("absent_over_time({app=\"a\"}[1m])", S(60), 0, 0, NULL, &v), 0);
    cr_assert_eq(v.vec.n, 0);
}

Test(logql_eval, huge_range_and_offset_saturate)
{
    struct tr_pq_value v;
    metric_data();
    cr_assert_eq(metric("count_over_time({app=\"a\"}[290y] offset 290y)", S(60),
                        0, 0, NULL, &v),
                 0, "%s", errmsg);
    cr_assert_eq(v.vec.n, 0);
    cr_assert_eq(
        metric("count_over_time({app=\"a\"}[290y])", S(60), 0, 0, NULL, &v), 0,
        "%s", errmsg);
    cr_assert_float_eq(v.vec.s[0].v, 7, 1e-12);
}

Test(logql_eval, metric_limits)
{
    struct tr_pq_value v;
    struct tr_logql_opts o = {0};
    metric_data();
    o.max_series = 1;
    cr_assert_eq(metric("count_over_time({app=~\"a|b\"}[1m])", S(60), S(120),
                        S(30), &o, &v),
                 TR_ELIMIT);
    cr_assert_str_eq(errmsg,
                     "maximum of series (1) reached for a single query");
    cr_assert_eq(
        metric("count_over_time({app=~\"a|b\"}[1m])", S(60), 0, 0, &o, &v),
        TR_ELIMIT);
    o.max_series = 0;
    o.max_bytes = 20;
    cr_assert_eq(
        metric("count_over_time({app=~\"a|b\"}[1m])", S(60), 0, 0, &o, &v),
        TR_ELIMIT);
    o.max_bytes = 0;
    o.deadline_mono_ns = tr_mono_ns() - 1;
    cr_assert_eq(
        metric("count_over_time({app=~\"a|b\"}[1m])", S(60), 0, 0, &o, &v),
        TR_ETIMEOUT);
    o.deadline_mono_ns = 0;
    o.max_points = 3;
    cr_assert_eq(
        metric("count_over_time({app=\"a\"}[1m])", 0, S(100), S(10), &o, &v),
        TR_EINVAL);
    cr_assert_eq(metric("approx_topk(1, count_over_time({app=\"a\"}[1m]))", 0,
                        S(100), S(10), NULL, &v),
                 TR_EINVAL);
}

Test(logql_eval, mem_source_contract)
{
    struct tr_log_source src;
    struct tr_log_result res;
    struct tr_matcher mt;
    struct tr_log_hints h = {0};
    two_streams();
    src = tr_mem_log_source(m);
    cr_assert_eq(tr_matcher_init(&mt, TR_MATCH_RE, "app", "a|b", 3, errmsg), 0);
    h.start = S(2);
    h.end = S(8);
    h.direction = TR_LOG_BACKWARD;
    h.limit = 2;
    cr_assert_eq(src.select(src.impl, (struct tr_slice){TENANT, 2}, &mt, 1, &h,
                            &res, errmsg),
                 0);
    cr_assert_eq(res.n_streams, 2);
    cr_assert_eq(res.streams[0].n_lines, 2);
    cr_assert_eq(res.streams[0].lines[0].ts, S(7));
    cr_assert_eq(res.streams[1].lines[0].ts, S(6));
    cr_assert_eq(res.streams[1].total_entries, 3);
    tr_log_result_free(&res);
    cr_assert_eq(src.select(src.impl, (struct tr_slice){"other", 5}, &mt, 1, &h,
                            &res, errmsg),
                 0);
    cr_assert_eq(res.n_streams, 0);
    tr_log_result_free(&res);
    tr_matcher_free(&mt);
}
