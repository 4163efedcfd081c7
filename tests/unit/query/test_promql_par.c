/* test_promql_par.c - range queries over many series give the same result
 * whether lib/par's helper threads take part or not (eval_batch.c cuts
 * range functions into pieces of series; server/prom_result.c encodes
 * pieces of a matrix in parallel). Each test runs in its own process, so
 * starting and stopping the helpers here touches no other test. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/par.h"
#include "query/promql/eval.h"
#include "query/promql/parser.h"
#include "server/prom_result.h"

#define PP_SERIES 300
#define PP_SAMPLES 120
#define PP_STEP_MS 15000

/* An in-memory source: PP_SERIES series "pp" with labels job (5 values)
 * and i, one sample every 15 s with gaps and stale markers; series i has
 * values that reset every 37 samples (a counter). */
static int pp_select(void *impl,
                     struct tr_slice tenant,
                     const struct tr_matcher *ms,
                     size_t n,
                     const struct tr_select_hints *h,
                     struct tr_select_result *out,
                     char *errmsg)
{
    (void)impl;
    (void)tenant;
    (void)ms;
    (void)n;
    (void)errmsg;
    static const char *const jobs[5] = {"a", "b", "c", "d", "e"};
    static char names[PP_SERIES][8];
    memset(out, 0, sizeof(*out));
    tr_arena_init(&out->arena, 64 * 1024);
    out->series = tr_arena_alloc(&out->arena, PP_SERIES * sizeof(*out->series));
    uint64_t stale_bits = 0x7ff0000000000002ULL;
    double stale;
    memcpy(&stale, &stale_bits, sizeof(stale));
    for (size_t i = 0; i < PP_SERIES; i++) {
        struct tr_series_data *sd = &out->series[out->n_series];
        snprintf(names[i], sizeof(names[i]), "%03zu", i);
        sd->labels = tr_arena_alloc(&out->arena, 3 * sizeof(*sd->labels));
        sd->labels[0].name = tr_slice_cstr("__name__");
        sd->labels[0].value = tr_slice_cstr("pp");
        sd->labels[1].name = tr_slice_cstr("i");
        sd->labels[1].value = tr_slice_cstr(names[i]);
        sd->labels[2].name = tr_slice_cstr("job");
        sd->labels[2].value = tr_slice_cstr(jobs[i % 5]);
        sd->n_labels = 3;
        sd->samples =
            tr_arena_alloc(&out->arena, PP_SAMPLES * sizeof(*sd->samples));
        sd->n_samples = 0;
        for (size_t k = 0; k < PP_SAMPLES; k++) {
            int64_t t = (int64_t)k * PP_STEP_MS;
            if ((k + i) % 11 == 0 || t < h->mint || t > h->maxt) {
                continue; /* gaps */
            }
            double v = (double)((k + i) % 37) * (1.0 + (double)i / 7.0);
            if ((k * 7 + i) % 53 == 0) {
                v = stale;
            }
            sd->samples[sd->n_samples].t = t;
            sd->samples[sd->n_samples++].v = v;
        }
        if (sd->n_samples > 0) {
            out->n_series++;
        }
    }
    return 0;
}

static const struct tr_select_source pp_src = {1, NULL, pp_select, NULL, NULL};

/* The query's response body as the API writes it. */
static char *pp_run(const char *q, int64_t start, int64_t end, int64_t step)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_promql_node *n;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_promql_parse(q, strlen(q), &a, &n, err), 0, "%s", err);
    struct tr_pq_value v;
    int rv = tr_promql_eval(&pp_src, TR_SLICE_LIT("t"), n, start, end, step,
                            NULL, &a, &v, err);
    struct tr_buf b;
    tr_buf_init(&b);
    if (rv != 0) {
        tr_buf_printf(&b, "error %d: %s", rv, err);
    } else {
        /* as the API writes it: large results in front parts of the
         * response (with helpers), the rest in its body */
        struct tr_http_response resp;
        memset(&resp, 0, sizeof(resp));
        tr_buf_init(&resp.body);
        struct tr_json j;
        tr_json_init(&j, &resp.body);
        tr_prom_write_result(&j, &resp, &v, start);
        for (size_t i = 0; i < resp.n_front; i++) {
            cr_assert(!resp.front[i].oom);
            tr_buf_append(&b, resp.front[i].data, resp.front[i].len);
            tr_buf_free(&resp.front[i]);
        }
        tr_free(resp.front);
        tr_buf_append(&b, resp.body.data, resp.body.len);
        tr_buf_free(&resp.body);
    }
    tr_buf_putc(&b, '\0');
    tr_promql_ast_free(n);
    tr_arena_free(&a);
    return b.data;
}

static const char *const pp_queries[] = {
    "pp",
    "rate(pp[1m])",
    "increase(pp[2m] offset 30s)",
    "max_over_time(pp[45s])",
    "quantile_over_time(0.7, pp[2m])",
    "last_over_time(pp[1m])",
    "sum by (job) (rate(pp[1m]))",
    "avg without (i) (pp)",
    "pp * 2 > 10",
    "max_over_time(rate(pp[1m])[5m:30s])",
    "topk(3, pp)",
    "histogram_quantile(0.5, sum by (job) (pp))",
    "rate({__name__=~\"pp|qq\"}[1m])",
};

Test(promql_par, helpers_give_the_same_results)
{
    size_t nq = sizeof(pp_queries) / sizeof(pp_queries[0]);
    char *serial[sizeof(pp_queries) / sizeof(pp_queries[0])];
    for (size_t i = 0; i < nq; i++) {
        serial[i] = pp_run(pp_queries[i], 0, 1800000, 5000);
        cr_assert(strncmp(serial[i], "error", 5) != 0, "%s: %s", pp_queries[i],
                  serial[i]);
    }
    cr_assert_eq(tr_par_start(4), 0);
    cr_assert_eq(tr_par_threads(), 4);
    for (int rep = 0; rep < 3; rep++) {
        for (size_t i = 0; i < nq; i++) {
            char *par = pp_run(pp_queries[i], 0, 1800000, 5000);
            cr_assert_str_eq(par, serial[i], "%s differs with helpers",
                             pp_queries[i]);
            tr_free(par);
        }
    }
    tr_par_stop();
    for (size_t i = 0; i < nq; i++) {
        tr_free(serial[i]);
    }
}

/* Errors raised inside a piece (here a bad holt_winters factor, checked
 * per series) reach the caller with their message. */
Test(promql_par, errors_from_pieces)
{
    cr_assert_eq(tr_par_start(3), 0);
    char *got = pp_run("holt_winters(pp[2m], 1.5, 0.5)", 0, 1800000, 30000);
    cr_assert(strstr(got,
                     "invalid smoothing factor. Expected: 0 < sf < 1, "
                     "got: 1.500000") != NULL,
              "%s", got);
    tr_free(got);
    tr_par_stop();
}

static void pp_count(void *arg, size_t i)
{
    size_t *hits = arg;
    __atomic_fetch_add(&hits[i], 1, __ATOMIC_SEQ_CST);
}

/* Every piece runs exactly once, also with more pieces than threads and
 * from several callers at once. */
Test(promql_par, every_piece_once)
{
    cr_assert_eq(tr_par_start(2), 0);
    size_t hits[1000];
    memset(hits, 0, sizeof(hits));
    tr_par_for(1000, pp_count, hits);
    for (size_t i = 0; i < 1000; i++) {
        cr_assert_eq(hits[i], 1, "piece %zu ran %zu times", i, hits[i]);
    }
    tr_par_for(0, pp_count, hits);
    tr_par_stop();
    /* without helpers: on the caller */
    memset(hits, 0, sizeof(hits));
    tr_par_for(10, pp_count, hits);
    for (size_t i = 0; i < 10; i++) {
        cr_assert_eq(hits[i], 1);
    }
}
