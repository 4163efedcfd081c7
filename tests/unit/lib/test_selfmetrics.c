/* test_selfmetrics.c - the self-metrics registry and its text rendering. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "lib/selfmetrics.h"

static void render(struct tr_selfmetrics *r, struct tr_buf *out)
{
    tr_buf_init(out);
    cr_assert_eq(tr_selfmetrics_render(r, out), 0);
}

Test(selfmetrics, counter_gauge_text_format)
{
    struct tr_selfmetrics *r;
    cr_assert_eq(tr_selfmetrics_new(&r), 0);
    static const char *const lbl[] = {"route", "code"};
    struct tr_sm_family *c =
        tr_selfmetrics_counter(r, "t_requests_total", "Requests.\nAll", 2, lbl);
    struct tr_sm_family *g = tr_selfmetrics_gauge(r, "t_up", "Up.", 0, NULL);
    cr_assert_not_null(c);
    cr_assert_not_null(g);
    tr_selfmetrics_inc(c, 1, "/b", "200");
    tr_selfmetrics_inc(c, 2, "/a", "500");
    tr_selfmetrics_inc(c, 1.5, "/b", "200");
    tr_selfmetrics_inc(c, -5, "/b", "200"); /* ignored */
    tr_selfmetrics_inc(c, 1, "q\"\\\n", "1");
    tr_selfmetrics_set(g, 1);
    static const char *const v[] = {"/b", "200"};
    cr_assert_float_eq(tr_selfmetrics_value(c, v), 2.5, 1e-9);
    struct tr_buf out;
    render(r, &out);
    cr_assert_str_eq(out.data,
                     "# HELP t_requests_total Requests.\\nAll\n"
                     "# TYPE t_requests_total counter\n"
                     "t_requests_total{route=\"/a\",code=\"500\"} 2\n"
                     "t_requests_total{route=\"/b\",code=\"200\"} 2.5\n"
                     "t_requests_total{route=\"q\\\"\\\\\\n\",code=\"1\"} 1\n"
                     "# HELP t_up Up.\n"
                     "# TYPE t_up gauge\n"
                     "t_up 1\n");
    tr_buf_free(&out);
    tr_selfmetrics_free(r);
}

Test(selfmetrics, histogram)
{
    struct tr_selfmetrics *r;
    cr_assert_eq(tr_selfmetrics_new(&r), 0);
    static const char *const lbl[] = {"route"};
    static const double b[] = {0.25, 1};
    struct tr_sm_family *h =
        tr_selfmetrics_histogram(r, "t_seconds", "Latency.", 1, lbl, b, 2);
    cr_assert_not_null(h);
    tr_selfmetrics_observe(h, 0.125, "/x");
    tr_selfmetrics_observe(h, 0.5, "/x");
    tr_selfmetrics_observe(h, 4, "/x");
    tr_selfmetrics_observe(h, 0.25, "/x"); /* le is inclusive */
    struct tr_buf out;
    render(r, &out);
    cr_assert_str_eq(out.data,
                     "# HELP t_seconds Latency.\n"
                     "# TYPE t_seconds histogram\n"
                     "t_seconds_bucket{route=\"/x\",le=\"0.25\"} 2\n"
                     "t_seconds_bucket{route=\"/x\",le=\"1\"} 3\n"
                     "t_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"
                     "t_seconds_sum{route=\"/x\"} 4.875\n"
                     "t_seconds_count{route=\"/x\"} 4\n");
    tr_buf_free(&out);
    /* default buckets, unlabeled: rendered even before any observation */
    struct tr_sm_family *d =
        tr_selfmetrics_histogram(r, "t_d", "D.", 0, NULL, NULL, 0);
    cr_assert_not_null(d);
    render(r, &out);
    cr_assert(strstr(out.data, "t_d_bucket{le=\"0.005\"} 0\n") != NULL);
    cr_assert(strstr(out.data, "t_d_bucket{le=\"10\"} 0\n") != NULL);
    cr_assert(strstr(out.data, "t_d_count 0\n") != NULL);
    tr_buf_free(&out);
    tr_selfmetrics_free(r);
}

Test(selfmetrics, registration_rules)
{
    struct tr_selfmetrics *r;
    cr_assert_eq(tr_selfmetrics_new(&r), 0);
    static const char *const a[] = {"a"};
    static const char *const b[] = {"b"};
    static const char *const five[] = {"a", "b", "c", "d", "e"};
    static const char *const le[] = {"le"};
    struct tr_sm_family *f = tr_selfmetrics_counter(r, "x_total", "", 1, a);
    cr_assert_eq(tr_selfmetrics_counter(r, "x_total", "", 1, a), f);
    cr_assert_null(tr_selfmetrics_counter(r, "x_total", "", 1, b));
    cr_assert_null(tr_selfmetrics_gauge(r, "x_total", "", 1, a));
    cr_assert_null(tr_selfmetrics_counter(r, "y", "", 5, five));
    cr_assert_null(tr_selfmetrics_counter(r, "1bad", "", 0, NULL));
    cr_assert_null(tr_selfmetrics_counter(r, "bad-name", "", 0, NULL));
    cr_assert_null(tr_selfmetrics_histogram(r, "h", "", 1, le, NULL, 0));
    static const double desc[] = {2, 1};
    cr_assert_null(tr_selfmetrics_histogram(r, "h", "", 0, NULL, desc, 2));
    /* wrong operations and NULL families are no-ops */
    tr_selfmetrics_observe(f, 1, "v");
    tr_selfmetrics_set(f, 1, "v");
    tr_selfmetrics_inc(NULL, 1);
    struct tr_buf out;
    render(r, &out);
    cr_assert_eq(out.len, 0); /* labeled family without series */
    tr_buf_free(&out);
    tr_selfmetrics_free(r);
    cr_assert_not_null(tr_selfmetrics_default());
    cr_assert_eq(tr_selfmetrics_default(), tr_selfmetrics_default());
}

static void collect(struct tr_buf *out, void *arg)
{
    tr_buf_printf(out, "# TYPE ext_stat gauge\next_stat %d\n", *(int *)arg);
}

Test(selfmetrics, collectors)
{
    struct tr_selfmetrics *r;
    cr_assert_eq(tr_selfmetrics_new(&r), 0);
    int v = 7;
    cr_assert_eq(tr_selfmetrics_add_collector(r, collect, &v), 0);
    struct tr_buf out;
    render(r, &out);
    cr_assert_str_eq(out.data, "# TYPE ext_stat gauge\next_stat 7\n");
    tr_buf_free(&out);
    tr_selfmetrics_remove_collector(r, collect, &v);
    render(r, &out);
    cr_assert_eq(out.len, 0);
    tr_buf_free(&out);
    cr_assert_eq(tr_selfmetrics_add_collector(r, collect, &v), 0);
    tr_selfmetrics_free(r); /* frees remaining collectors */
}

static struct tr_sm_family *thr_fam;

static void *hammer(void *arg)
{
    char lv[8];
    snprintf(lv, sizeof(lv), "%d", (int)(long)arg % 4);
    for (int i = 0; i < 10000; i++) {
        tr_selfmetrics_inc(thr_fam, 1, lv);
    }
    return NULL;
}

Test(selfmetrics, thread_safe)
{
    struct tr_selfmetrics *r;
    cr_assert_eq(tr_selfmetrics_new(&r), 0);
    static const char *const lbl[] = {"k"};
    thr_fam = tr_selfmetrics_counter(r, "n_total", "", 1, lbl);
    pthread_t t[8];
    for (long i = 0; i < 8; i++) {
        pthread_create(&t[i], NULL, hammer, (void *)i);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
    }
    static const char *const k0[] = {"0"};
    cr_assert_float_eq(tr_selfmetrics_value(thr_fam, k0), 20000, 1e-9);
    tr_selfmetrics_free(r);
}
