/* Tests for server/logs_ingest.c's level detection (Loki 3's distributor
 * rules): level labels and structured metadata first, OTLP severity
 * numbers, JSON and logfmt level fields, then keywords in the line. */
#include <criterion/criterion.h>
#include <string.h>

#include "server/logs_ingest.h"

static struct tr_slice sl(const char *s)
{
    return (struct tr_slice){s, strlen(s)};
}

static const char *level_of(const char *line)
{
    struct tr_slice other = {NULL, 0};
    const char *lv = tr_logs_detect_level(NULL, 0, NULL, 0, sl(line), &other);
    return lv != NULL ? lv : "(other)";
}

Test(logs_ingest, level_from_the_line)
{
    cr_assert_str_eq(level_of("{\"level\":\"ERROR\",\"msg\":\"x\"}"), "error");
    cr_assert_str_eq(level_of("  {\"a\":{\"severity\":\"wrn\"}}  "), "warn");
    cr_assert_str_eq(level_of("{\"msg\":\"level\",\"lvl\":\"dbg\"}"), "debug");
    cr_assert_str_eq(level_of("ts=1 level=info msg=\"hi there\""), "info");
    cr_assert_str_eq(level_of("ts=1 LVL=fatal"), "fatal");
    cr_assert_str_eq(level_of("lvl=warning level=critical"), "critical");
    cr_assert_str_eq(level_of("GET /index.html 200 [error] x"), "error");
    cr_assert_str_eq(level_of("something WARN: disk"), "warn");
    cr_assert_str_eq(level_of("starting INFO server"), "info");
    cr_assert_str_eq(level_of("x [DEBUG] y"), "debug");
    cr_assert_str_eq(level_of("plain line"), "unknown");
    cr_assert_str_eq(level_of(""), "unknown");
    /* a JSON level field with a value that is not a level: keywords */
    cr_assert_str_eq(level_of("{\"level\":\"notice\",\"m\":\"[ERR] x\"}"),
                     "error");
}

Test(logs_ingest, level_from_labels_metadata_and_severity)
{
    struct tr_loki_label lab[] = {{sl("app"), sl("a")},
                                  {sl("level"), sl("WARN")}};
    struct tr_loki_label meta[] = {{sl("severity_number"), sl("17")}};
    struct tr_slice other = {NULL, 0};
    cr_assert_str_eq(tr_logs_detect_level(lab, 2, meta, 1, sl("error"), &other),
                     "warn");
    cr_assert_str_eq(tr_logs_detect_level(lab, 1, meta, 1, sl("info"), &other),
                     "error");
    struct tr_loki_label meta2[] = {{sl("severity_number"), sl("0")}};
    cr_assert_str_eq(
        tr_logs_detect_level(NULL, 0, meta2, 1, sl("info"), &other), "unknown");
    struct tr_loki_label odd[] = {{sl("level"), sl("notice")}};
    cr_assert_null(tr_logs_detect_level(odd, 1, NULL, 0, sl("x"), &other));
    cr_assert_eq(other.len, 6);
    cr_assert_eq(memcmp(other.base, "notice", 6), 0);
}

Test(logs_ingest, level_keyword_table)
{
    cr_assert(tr_logs_level_tables_consistent());
    /* every keyword, also as the line's last bytes and cut short */
    cr_assert_str_eq(level_of("x err:"), "error");
    cr_assert_str_eq(level_of("x err"), "unknown");
    cr_assert_str_eq(level_of("[CRITICAL]"), "critical");
    cr_assert_str_eq(level_of("critical: disk"), "critical");
    cr_assert_str_eq(level_of("a warning"), "warn");
    cr_assert_str_eq(level_of("a warnin"), "unknown");
    cr_assert_str_eq(level_of("[warn] then DEBUG"), "warn");
    cr_assert_str_eq(level_of("debug then info"), "info");
    cr_assert_str_eq(level_of("error: [err] and [ERROR]"), "error");
    /* logfmt fields behind other '=' (the pre-check looks at every one) */
    cr_assert_str_eq(level_of("GET /x?sort=price&a=b level=warn"), "warn");
    cr_assert_str_eq(level_of("GET /x?sort=price info"), "info");
    cr_assert_str_eq(level_of("a=b c=d LVL=error"), "error");
    cr_assert_str_eq(level_of("x=1 Severity_Text=debug"), "debug");
    cr_assert_str_eq(level_of("=x SeverityText=fatal"), "fatal");
}
