/* test_traceql_conformance.c - Tempo's TraceQL examples
 * ($TRIAD_CONFORMANCE_DIR/traceql/test_examples.yaml, default
 * ../shared/conformance): every query of a section must behave as the
 * section says:
 *   valid           parses and validates;
 *   parse_fails     does not parse;
 *   validate_fails  parses, validation says invalid (TR_EINVAL);
 *   unsupported     parses, validation says unsupported (TR_EUNSUPPORTED).
 * A query that parses must also format to a text that parses back to the
 * same canonical form. Prints `traceql: <section> P/N` per section and the
 * total, writes every failure to build/traceql-failures.txt and asserts the
 * counts against tests/conformance/traceql.expected (they may only go up).
 * Skipped loudly when the file is missing. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "query/traceql/traceql.h"
#include "tests/lib/files.h"

#define EXPECTED_PATH "tests/conformance/traceql.expected"
#define FAILURES_PATH "build/traceql-failures.txt"

static const char *const sections[] = {"valid", "parse_fails", "validate_fails",
                                       "unsupported"};
#define NSECTIONS 4

static const char *conf_dir(void)
{
    const char *d = getenv("TRIAD_CONFORMANCE_DIR");
    return d && *d ? d : "../shared/conformance";
}

/* Expected count of name ("valid", "total") in exp, or -1. */
static long expected_count(const char *exp, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = exp; p && *p;) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ') {
            return strtol(p + n + 1, NULL, 10);
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return -1;
}

/* What the query does: one of sections[] (an index); *why gets the
 * error text or a round-trip complaint. */
static int behaviour(const char *q, size_t n, char *why, size_t whylen)
{
    struct tr_arena a;
    struct tr_traceql_query *e, *e2;
    char err[TR_ERRMSG_SIZE];
    int res;
    tr_arena_init(&a, 4096);
    why[0] = '\0';
    int rv = tr_traceql_parse(q, n, &a, &e, err);
    if (rv != 0) {
        snprintf(why, whylen, "%s", err);
        res = 1;
        goto out;
    }
    int vr = tr_traceql_validate(e, err);
    res = vr == 0 ? 0 : vr == TR_EUNSUPPORTED ? 3 : 2;
    if (vr != 0) {
        snprintf(why, whylen, "%s", err);
    }
    struct tr_buf b1, b2;
    tr_buf_init(&b1);
    tr_buf_init(&b2);
    tr_traceql_format(e, &b1);
    rv = tr_traceql_parse(b1.data, b1.len, &a, &e2, err);
    if (rv != 0) {
        snprintf(why, whylen, "canonical form %.*s does not parse: %s",
                 (int)b1.len, b1.data, err);
        res = -1;
    } else {
        tr_traceql_format(e2, &b2);
        if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0) {
            snprintf(why, whylen, "canonical form %.*s formats as %.*s",
                     (int)b1.len, b1.data, (int)b2.len, b2.data);
            res = -1;
        }
    }
    tr_buf_free(&b1);
    tr_buf_free(&b2);
out:
    tr_arena_free(&a);
    return res;
}

Test(traceql_conformance, test_examples, .timeout = 300)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/traceql/test_examples.yaml", conf_dir());
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr,
                "SKIP traceql conformance: %s missing: TraceQL conformance "
                "NOT run\n",
                path);
        cr_skip_test("traceql: %s missing: TraceQL conformance NOT run", path);
    }
    yaml_parser_t yp;
    cr_assert(yaml_parser_initialize(&yp));
    yaml_parser_set_input_file(&yp, f);
    FILE *fails = fopen(FAILURES_PATH, "w");
    size_t pass[NSECTIONS] = {0}, total[NSECTIONS] = {0};
    int depth = 0, sec = -1;
    bool key_next = false, done = false;
    while (!done) {
        yaml_event_t ev;
        cr_assert(yaml_parser_parse(&yp, &ev), "YAML error in %s: %s", path,
                  yp.problem ? yp.problem : "?");
        switch (ev.type) {
            case YAML_STREAM_END_EVENT:
                done = true;
                break;
            case YAML_MAPPING_START_EVENT:
                depth++;
                key_next = depth == 1;
                break;
            case YAML_MAPPING_END_EVENT:
                depth--;
                break;
            case YAML_SEQUENCE_START_EVENT:
                depth++;
                break;
            case YAML_SEQUENCE_END_EVENT:
                depth--;
                if (depth == 1) {
                    sec = -1;
                    key_next = true;
                }
                break;
            case YAML_SCALAR_EVENT: {
                const char *v = (const char *)ev.data.scalar.value;
                size_t vl = ev.data.scalar.length;
                if (depth == 1 && key_next) {
                    sec = -1;
                    for (int k = 0; k < NSECTIONS; k++) {
                        if (strcmp(v, sections[k]) == 0) {
                            sec = k;
                        }
                    }
                    key_next = false;
                } else if (depth == 1) {
                    key_next = true; /* a scalar value (e.g. "dump:") */
                } else if (depth == 2 && sec >= 0) {
                    char why[2 * TR_ERRMSG_SIZE];
                    int got = behaviour(v, vl, why, sizeof(why));
                    total[sec]++;
                    if (got == sec) {
                        pass[sec]++;
                    } else if (fails) {
                        fprintf(fails, "%s: %s\n  got: %s\n  why: %s\n",
                                sections[sec], v,
                                got < 0 ? "round-trip failure" : sections[got],
                                why);
                    }
                }
                break;
            }
            default:
                break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&yp);
    fclose(f);
    if (fails) {
        fclose(fails);
    }

    char *exp = tr_test_read_file(EXPECTED_PATH, NULL);
    cr_expect(exp != NULL, "%s missing", EXPECTED_PATH);
    size_t all_p = 0, all_n = 0;
    for (int k = 0; k < NSECTIONS; k++) {
        printf("traceql: %s %zu/%zu\n", sections[k], pass[k], total[k]);
        long want = expected_count(exp, sections[k]);
        cr_expect(want < 0 || (long)pass[k] >= want,
                  "traceql: %s passed %zu < expected %ld", sections[k], pass[k],
                  want);
        all_p += pass[k];
        all_n += total[k];
    }
    printf("traceql: total %zu/%zu (failures in %s)\n", all_p, all_n,
           FAILURES_PATH);
    fflush(stdout);
    long want = expected_count(exp, "total");
    cr_expect(want < 0 || (long)all_p >= want,
              "traceql: total passed %zu < expected %ld", all_p, want);
    cr_expect(all_n > 0, "no queries read from %s", path);
    tr_free(exp);
}
