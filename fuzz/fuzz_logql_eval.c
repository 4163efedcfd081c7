/* fuzz_logql_eval.c - libFuzzer driver for the LogQL evaluator: the input
 * is a query (after one mode byte) that is parsed and, when it parses, run
 * over a small fixed data set in the in-memory log source (lines in
 * logfmt, JSON and plain text, structured metadata, several streams) as a
 * log query (both directions, small limits so the time slices run) or as
 * an instant / range metric query with limits set. Any crash, leak or
 * undefined behaviour is a bug; errors are fine. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "query/logql/eval.h"
#include "query/logql/parser.h"
/* the in-memory source of the unit tests, built into this driver */
#include "tests/lib/mem_log_source.c"

#define S(x) (1000000000LL * (x))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tr_mem_log *data_set(void)
{
    static struct tr_mem_log *m;
    if (m) {
        return m;
    }
    m = tr_mem_log_new();
    static const char *apps[] = {"a", "b", "c"};
    static const char *lines[] = {
        "level=info status=200 took=1.5s size=10KB v=3",
        "{\"level\":\"error\",\"status\":500,\"nested\":{\"k\":\"v\"},"
        "\"arr\":[1,2]}",
        "GET /index.html 200 10.0.0.1 - \x1b[31mred\x1b[0m",
        "level=warn v=NaN v=+Inf msg=\"quoted \\\" text\"",
        "{\"_entry\":\"unpacked line\",\"pod\":\"p1\"}",
        "",
    };
    for (int i = 0; i < 60; i++) {
        const char *app = apps[i % 3];
        struct tr_label ls[2] = {
            {{"app", 3}, {app, 1}},
            {{"pod", 3}, {i % 2 ? "x" : "y", 1}},
        };
        struct tr_label md = {{"trace_id", 8}, {i % 4 ? "t1" : "t2", 2}};
        const char *line = lines[i % 6];
        tr_mem_log_push(m, "t", ls, 2, S(5 * i), line, strlen(line),
                        i % 3 ? &md : NULL, i % 3 ? 1 : 0);
    }
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096) {
        return 0;
    }
    uint8_t mode = data[0];
    const char *q = (const char *)data + 1;
    size_t n = size - 1;
    struct tr_arena a;
    struct tr_logql_expr *expr = NULL;
    char errmsg[TR_ERRMSG_SIZE];
    tr_arena_init(&a, 16 * 1024);
    if (tr_logql_parse(q, n, &a, &expr, errmsg) != 0) {
        tr_arena_free(&a);
        return 0;
    }
    struct tr_mem_log *m = data_set();
    struct tr_log_source src = tr_mem_log_source(m);
    struct tr_slice tenant = {"t", 1};
    struct tr_logql_opts o = {0};
    o.max_series = 100;
    o.max_bytes = 1 << 20;
    o.max_entries = 1000;
    if (!tr_logql_is_metric(expr)) {
        struct tr_logql_streams r;
        (void)tr_logql_check_instant(expr, errmsg);
        tr_logql_select_logs(&src, tenant, expr, 0, S(400), 1 + mode % 7,
                             mode & 0x80 ? TR_LOG_FORWARD : TR_LOG_BACKWARD, &o,
                             &a, &r, errmsg);
    } else {
        struct tr_pq_value v;
        int64_t step = (mode & 3) == 0 ? 0 : S(1 + mode % 60);
        tr_logql_eval_metric(&src, tenant, expr, S(mode % 100), S(300), step,
                             &o, &a, &v, errmsg);
    }
    tr_logql_ast_free(expr);
    tr_arena_free(&a);
    return 0;
}
