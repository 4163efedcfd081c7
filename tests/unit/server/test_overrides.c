/* Tests for server/overrides.c: the override fields by name, and the
 * runtime overrides file (own names, upstream aliases, errors with lines). */
#include <criterion/criterion.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "server/overrides.h"

static int parse(const char *text,
                 struct tr_catalog_tenant **v,
                 size_t *n,
                 char *err)
{
    return tr_overrides_parse(text, strlen(text), v, n, err);
}

Test(overrides, fields_by_name)
{
    struct tr_catalog_tenant t;
    tr_overrides_init(&t, "a");
    cr_assert_eq(t.retention_logs_ms, -1);
    cr_assert(t.ingestion_rate < 0);
    cr_assert_eq(tr_overrides_set(&t, "max_series", "1000"), 0);
    cr_assert_eq(t.max_series, 1000);
    cr_assert_eq(tr_overrides_set(&t, "retention_logs", "3d"), 0);
    cr_assert_eq(t.retention_logs_ms, 3 * 86400000LL);
    cr_assert_eq(tr_overrides_set(&t, "retention_traces", "0"), 0,
                 "0 keeps forever");
    cr_assert_eq(t.retention_traces_ms, 0);
    cr_assert_eq(tr_overrides_set(&t, "ingestion_rate", "0"), 0);
    cr_assert_eq(t.ingestion_rate, 0);
    cr_assert_eq(tr_overrides_set(&t, "traces_span_metrics", "off"), 0);
    cr_assert_eq(t.traces_span_metrics, 2);
    cr_assert_eq(tr_overrides_set(&t, "traces_service_graph", "true"), 0);
    cr_assert_eq(t.traces_service_graph, 1);
    /* upstream names */
    cr_assert_eq(tr_overrides_set(&t, "retention_period", "7d"), 0);
    cr_assert_eq(t.retention_logs_ms, 7 * 86400000LL);
    cr_assert_eq(
        tr_overrides_set(&t, "compactor_blocks_retention_period", "30d"), 0);
    cr_assert_eq(t.retention_metrics_ms, 30 * 86400000LL);
    cr_assert_eq(tr_overrides_set(&t, "max_global_series_per_user", "5"), 0);
    cr_assert_eq(t.max_series, 5);
    /* refused */
    cr_assert_eq(tr_overrides_set(&t, "max_series", "-1"), TR_EINVAL);
    cr_assert_eq(tr_overrides_set(&t, "max_series", "lots"), TR_EINVAL);
    cr_assert_eq(tr_overrides_set(&t, "retention_logs", "soon"), TR_EINVAL);
    cr_assert_eq(tr_overrides_set(&t, "traces_span_metrics", "maybe"),
                 TR_EINVAL);
    cr_assert_eq(tr_overrides_set(&t, "retention", "1d"), TR_ENOTFOUND);
    cr_assert_eq(t.max_series, 5, "a refused value changes nothing");
}

Test(overrides, file)
{
    const char *text =
        "# runtime overrides\n"
        "multi_kv_config: {}\n"
        "overrides:\n"
        "  team-b:\n"
        "    retention_logs: 3d\n"
        "    traces_span_metrics: off\n"
        "  team-a: {max_series: 200000, retention_period: 1d}\n"
        "  team-c:\n";
    struct tr_catalog_tenant *v = NULL;
    size_t n = 0;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(parse(text, &v, &n, err), 0, "%s", err);
    cr_assert_eq(n, 2, "an empty tenant entry sets nothing");
    cr_assert_str_eq(v[0].name, "team-a");
    cr_assert_eq(v[0].max_series, 200000);
    cr_assert_eq(v[0].retention_logs_ms, 86400000LL);
    cr_assert_eq(v[0].retention_metrics_ms, -1);
    cr_assert_str_eq(v[1].name, "team-b");
    cr_assert_eq(v[1].retention_logs_ms, 3 * 86400000LL);
    cr_assert_eq(v[1].traces_span_metrics, 2);
    struct tr_catalog_tenant same = v[1];
    cr_assert(tr_overrides_equal(&same, &v[1]));
    same.max_series = 1;
    cr_assert(!tr_overrides_equal(&same, &v[1]));
    tr_free(v);
    /* empty files and files without overrides set nothing */
    const char *empty[] = {"", "# nothing\n", "overrides:\n", "other: 1\n"};
    for (size_t i = 0; i < 4; i++) {
        v = NULL;
        cr_assert_eq(parse(empty[i], &v, &n, err), 0, "%s: %s", empty[i], err);
        cr_assert_eq(n, 0);
        tr_free(v);
    }
}

Test(overrides, file_errors_name_the_line)
{
    static const struct {
        const char *text;
        const char *want;
    } bad[] = {
        {"overrides:\n  a:\n    max_series: lots\n",
         "line 3: bad value for \"max_series\""},
        {"overrides:\n  a:\n    max_sereis: 1\n",
         "line 3: unknown limit \"max_sereis\""},
        {"overrides:\n  a: 5\n", "line 2: expected the tenant's limits"},
        {"overrides:\n  a: {x: [1]}\n", "expected a scalar value"},
        {"overrides: [a]\n", "\"overrides\" must map tenants"},
        {"- a\n", "line 1: expected a map"},
        {"overrides:\n  a: {max_series: 1}\n  a: {max_series: 2}\n",
         "line 3: tenant listed twice"},
        {"overrides:\n  a: {max_series: 1\n", "runtime overrides: line"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct tr_catalog_tenant *v = NULL;
        size_t n = 0;
        char err[TR_ERRMSG_SIZE] = "";
        cr_assert_eq(parse(bad[i].text, &v, &n, err), TR_EINVAL, "%s",
                     bad[i].text);
        cr_assert_not_null(strstr(err, bad[i].want), "%s -> %s", bad[i].text,
                           err);
        cr_assert_null(v);
    }
}
