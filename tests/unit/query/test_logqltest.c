/* test_logqltest.c - runs Loki's LogQL metric-query test scripts
 * ($TRIAD_CONFORMANCE_DIR/logqltest/NAME.logqltest) in-process: the data of
 * each `load` goes into the in-memory log source, each `eval` is parsed and
 * evaluated with tr_logql_eval_metric and compared (tests/lib/logqltest.h).
 * Prints `logqltest: <file> P/N` per file and a total, writes every failure
 * (query, expected, actual) to build/logqltest-failures.txt, and asserts
 * each file's and the total pass count against
 * tests/conformance/logqltest.expected (counts may only go up). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "query/logql/eval.h"
#include "query/logql/parser.h"
#include "tests/lib/files.h"
#include "tests/lib/logqltest.h"
#include "tests/lib/mem_log_source.h"

#define EXPECTED_PATH "tests/conformance/logqltest.expected"
#define FAILURES_PATH "build/logqltest-failures.txt"
#define TENANT "fake"

static const char *conf_dir(void)
{
    const char *d = getenv("TRIAD_CONFORMANCE_DIR");
    return d && *d ? d : "../shared/conformance";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Expected pass count of name in exp (len bytes), or -1 (the total's
 * line is "total N"). */
static long expected_count(const char *exp, size_t len, const char *name)
{
    size_t n = strlen(name);
    const char *p = exp, *end = exp ? exp + len : NULL;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        char line[256];
        size_t ll = (size_t)(le - p);
        if (ll < sizeof(line)) {
            memcpy(line, p, ll);
            line[ll] = '\0';
            if (ll > n && strncmp(line, name, n) == 0 && line[n] == ' ') {
                return strtol(line + n + 1, NULL, 10);
            }
        }
        p = nl ? nl + 1 : NULL;
    }
    return -1;
}

static void run_eval(struct tr_mem_log *m,
                     const struct tr_lqt_cmd *c,
                     const char *file,
                     FILE *fails,
                     size_t *passed)
{
    struct tr_arena a;
    struct tr_logql_expr *expr = NULL;
    char errmsg[TR_ERRMSG_SIZE] = "";
    struct tr_pq_value v = {0};
    struct tr_buf why;
    tr_buf_init(&why);
    tr_arena_init(&a, 64 * 1024);
    int rc = tr_logql_parse(c->query, strlen(c->query), &a, &expr, errmsg);
    if (rc == 0 && !c->range) {
        rc = tr_logql_check_instant(expr, errmsg);
    }
    if (rc == 0) {
        struct tr_log_source src = tr_mem_log_source(m);
        rc = tr_logql_eval_metric(&src, (struct tr_slice){TENANT, 4}, expr,
                                  c->start_ns, c->end_ns,
                                  c->range ? c->step : 0, NULL, &a, &v, errmsg);
    }
    bool ok =
        rc ? tr_lqt_check_fail(c, errmsg, &why) : tr_lqt_check(c, &v, &why);
    if (ok) {
        (*passed)++;
    } else if (fails) {
        struct tr_buf b;
        tr_buf_init(&b);
        tr_buf_printf(&b, "%s:%d: %s\n  query: %s\n  why: %.*s\nexpected:\n",
                      file, c->line_no, c->range ? "range" : "instant",
                      c->query, (int)why.len, why.data ? why.data : "");
        tr_lqt_format_expected(c, &b);
        tr_buf_puts(&b, "actual:\n");
        if (rc) {
            tr_buf_printf(&b, "  error: %s\n", errmsg);
        } else {
            tr_lqt_format_value(&v, &b);
        }
        tr_buf_putc(&b, '\n');
        if (!b.oom) {
            fwrite(b.data, 1, b.len, fails);
        }
        tr_buf_free(&b);
    }
    tr_logql_ast_free(expr);
    tr_arena_free(&a);
    tr_buf_free(&why);
}

static void run_file(const char *path,
                     const char *name,
                     FILE *fails,
                     size_t *passed,
                     size_t *total)
{
    size_t len;
    char *text = tr_test_read_file(path, &len);
    cr_assert_not_null(text, "cannot read %s", path);
    struct tr_lqt_file f;
    char errmsg[TR_ERRMSG_SIZE];
    int rc = tr_lqt_parse(text, len, &f, errmsg);
    cr_assert_eq(rc, 0, "%s: %s", name, errmsg);
    struct tr_mem_log *m = tr_mem_log_new();
    cr_assert_not_null(m);
    struct tr_buf line;
    tr_buf_init(&line);
    *passed = 0;
    *total = f.n_evals;
    for (size_t i = 0; i < f.n_cmds; i++) {
        const struct tr_lqt_cmd *c = &f.cmds[i];
        switch (c->kind) {
            case TR_LQT_CLEAR:
                tr_mem_log_clear(m);
                break;
            case TR_LQT_LOAD:
                for (size_t k = 0; k < c->count; k++) {
                    int64_t ts;
                    cr_assert_eq(tr_lqt_load_line(c, k, &line, &ts), 0);
                    cr_assert_eq(
                        tr_mem_log_push(m, TENANT, c->labels, c->n_labels, ts,
                                        line.data ? line.data : "", line.len,
                                        c->meta, c->n_meta),
                        0);
                }
                break;
            case TR_LQT_EVAL:
                run_eval(m, c, name, fails, passed);
                break;
        }
    }
    tr_buf_free(&line);
    tr_mem_log_free(m);
    tr_lqt_file_free(&f);
    tr_free(text);
}

Test(logqltest, conformance, .timeout = 600)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/logqltest", conf_dir());
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr,
                "SKIP logqltest: %s missing: LogQL conformance NOT "
                "run\n",
                dir);
        cr_skip_test("logqltest: %s missing: LogQL conformance NOT run", dir);
    }
    char *names[64];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 64) {
        size_t l = strlen(de->d_name);
        if (l > 10 && strcmp(de->d_name + l - 10, ".logqltest") == 0) {
            names[n++] = strdup(de->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_str);
    size_t elen = 0;
    char *exp = tr_test_read_file(EXPECTED_PATH, &elen);
    FILE *fails = fopen(FAILURES_PATH, "w");
    size_t all_p = 0, all_n = 0;
    for (size_t i = 0; i < n; i++) {
        char path[2048];
        size_t p, t;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        run_file(path, names[i], fails, &p, &t);
        printf("logqltest: %s %zu/%zu\n", names[i], p, t);
        long want = expected_count(exp, elen, names[i]);
        cr_expect(want < 0 || (long)p >= want,
                  "logqltest: %s passed %zu < expected %ld", names[i], p, want);
        all_p += p;
        all_n += t;
    }
    printf("logqltest: total %zu/%zu (failures in %s)\n", all_p, all_n,
           FAILURES_PATH);
    fflush(stdout);
    long want = expected_count(exp, elen, "total");
    cr_expect(want < 0 || (long)all_p >= want,
              "logqltest: total passed %zu < expected %ld", all_p, want);
    cr_expect(exp != NULL, "%s missing", EXPECTED_PATH);
    if (fails) {
        fclose(fails);
    }
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    tr_free(exp);
}
