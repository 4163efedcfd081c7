/* test_logql_patterns.c - Drain pattern mining (query/logql/patterns.c):
 * templates mined from generated nginx, logfmt, JSON and free-text lines,
 * exact per-bucket counts, the cluster limit and LRU eviction, the
 * eviction limiter, levels, determinism, empty and huge lines. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "query/logql/patterns.h"

#define SEC 1000000000LL
#define T0 (1764928800LL * SEC) /* a multiple of 10 s */

/* A tiny deterministic generator (xorshift). */
static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static struct tr_drain *mk(void (*tweak)(struct tr_drain_config *))
{
    struct tr_drain_config c;
    tr_drain_config_default(&c);
    c.min_total = 0;
    if (tweak) {
        tweak(&c);
    }
    struct tr_drain *d;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_drain_new(&c, &d, err), 0, "%s", err);
    return d;
}

static void add(struct tr_drain *d, int64_t ts, const char *line)
{
    cr_assert_eq(tr_drain_add(d, ts, line, strlen(line)), 0, "line %s", line);
}

struct got {
    struct tr_arena a;
    struct tr_drain_pattern *p;
    size_t n;
};

static void list(struct tr_drain *d, struct got *g)
{
    tr_arena_init(&g->a, 4096);
    cr_assert_eq(tr_drain_patterns(d, &g->a, &g->p, &g->n), 0);
}

static const struct tr_drain_pattern *find(const struct got *g,
                                           const char *pattern)
{
    for (size_t i = 0; i < g->n; i++) {
        if (strcmp(g->p[i].pattern, pattern) == 0) {
            return &g->p[i];
        }
    }
    return NULL;
}

static void dump(const struct got *g)
{
    for (size_t i = 0; i < g->n; i++) {
        fprintf(stderr, "  [%s] %llu %s\n", g->p[i].level,
                (unsigned long long)g->p[i].total, g->p[i].pattern);
    }
}

/* Asserts the patterns are exactly want (text and total), in order. */
static void expect(const struct got *g,
                   const char *const *want,
                   const uint64_t *totals,
                   size_t n)
{
    if (g->n != n) {
        dump(g);
    }
    cr_assert_eq(g->n, n, "got %zu patterns, want %zu", g->n, n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(g->p[i].pattern, want[i]) != 0 ||
            g->p[i].total != totals[i]) {
            dump(g);
        }
        cr_assert_str_eq(g->p[i].pattern, want[i]);
        cr_assert_eq(g->p[i].total, totals[i], "%s", want[i]);
        cr_assert_eq(g->p[i].pattern_len, strlen(want[i]));
        uint64_t sum = 0;
        for (size_t j = 0; j < g->p[i].n_samples; j++) {
            sum += g->p[i].samples[j].count;
            if (j > 0) {
                cr_assert_gt(g->p[i].samples[j].ts_ns,
                             g->p[i].samples[j - 1].ts_ns);
            }
        }
        cr_assert_eq(sum, g->p[i].total);
    }
}

TestSuite(logql_patterns);

Test(logql_patterns, defaults_and_bad_config)
{
    struct tr_drain_config c;
    tr_drain_config_default(&c);
    cr_assert_eq(c.depth, 30);
    cr_assert_float_eq(c.sim_threshold, 0.3, 1e-12);
    cr_assert_eq(c.max_children, 15);
    cr_assert_eq(c.max_clusters, 300);
    cr_assert_eq(c.max_line_length, 3000);
    cr_assert_eq(c.min_tokens, 4);
    cr_assert_eq(c.max_tokens, 80);
    cr_assert_eq(c.bucket_ns, 10 * SEC);
    cr_assert_eq(c.min_total, 30);
    cr_assert_eq(c.max_patterns, 300);
    struct tr_drain *d = (struct tr_drain *)&c;
    char err[TR_ERRMSG_SIZE];
    c.depth = 2;
    cr_assert_eq(tr_drain_new(&c, &d, err), TR_EINVAL);
    cr_assert_null(d);
    cr_assert(strstr(err, "depth") != NULL);
    tr_drain_config_default(&c);
    c.bucket_ns = 0;
    cr_assert_eq(tr_drain_new(&c, &d, err), TR_EINVAL);
    tr_drain_config_default(&c);
    c.min_tokens = 90;
    cr_assert_eq(tr_drain_new(&c, &d, NULL), TR_EINVAL);
    tr_drain_config_default(&c);
    c.max_tokens = 5000;
    cr_assert_eq(tr_drain_new(&c, &d, NULL), TR_EINVAL);
    tr_drain_free(NULL);
}

Test(logql_patterns, detect_format)
{
#define FMT(s) tr_drain_detect_format((s), strlen(s))
    cr_assert_eq(FMT("{\"msg\":\"x\"}"), TR_DRAIN_FORMAT_JSON);
    cr_assert_eq(FMT("{}"), TR_DRAIN_FORMAT_JSON);
    cr_assert_eq(FMT("{"), TR_DRAIN_FORMAT_TEXT);
    cr_assert_eq(FMT("level=info msg=\"hello world\" duration=1ms"),
                 TR_DRAIN_FORMAT_LOGFMT);
    cr_assert_eq(FMT("key=value"), TR_DRAIN_FORMAT_LOGFMT);
    cr_assert_eq(FMT("a=\"x y\"b=2"), TR_DRAIN_FORMAT_LOGFMT);
    cr_assert_eq(FMT("a= b=1"), TR_DRAIN_FORMAT_LOGFMT); /* [^"] is ' ' */
    cr_assert_eq(FMT("a="), TR_DRAIN_FORMAT_TEXT);
    cr_assert_eq(FMT("a=1  b=2"), TR_DRAIN_FORMAT_TEXT);
    cr_assert_eq(FMT("a=1 b=2 "), TR_DRAIN_FORMAT_TEXT);
    cr_assert_eq(FMT("a=\"\" b=2"), TR_DRAIN_FORMAT_TEXT); /* ".+?" */
    cr_assert_eq(FMT("a=\"x\ny\""), TR_DRAIN_FORMAT_TEXT);
    cr_assert_eq(FMT("a-b=1"), TR_DRAIN_FORMAT_TEXT);
    cr_assert_eq(FMT("GET /index.html 200"), TR_DRAIN_FORMAT_TEXT);
    cr_assert_eq(FMT("x"), TR_DRAIN_FORMAT_TEXT);
    cr_assert_eq(tr_drain_detect_format(NULL, 0), TR_DRAIN_FORMAT_TEXT);
#undef FMT
}

/* Loki's drain_test: three lines of one template. */
Test(logql_patterns, simple_template)
{
    struct tr_drain *d = mk(NULL);
    add(d, T0, "server request took 123 ms to complete");
    add(d, T0 + 1, "server request took 456 ms to complete");
    add(d, T0 + 2, "server request took 789 ms to complete");
    struct got g;
    list(d, &g);
    const char *want[] = {"server request took <_> ms to complete"};
    const uint64_t tot[] = {3};
    expect(&g, want, tot, 1);
    cr_assert_str_eq(g.p[0].level, "unknown");
    cr_assert_eq(g.p[0].n_samples, 1);
    cr_assert_eq(g.p[0].samples[0].ts_ns, T0);
    struct tr_drain_stats st;
    tr_drain_stats(d, &st);
    cr_assert_eq(st.format, TR_DRAIN_FORMAT_TEXT);
    cr_assert_eq(st.lines, 3);
    cr_assert_eq(st.counted, 3);
    cr_assert_eq(st.clusters, 1);
    tr_drain_free(d);
    tr_arena_free(&g.a);
}

static void nginx_line(char *buf,
                       size_t n,
                       int i,
                       const char *method,
                       const char *path,
                       int status)
{
    snprintf(buf, n,
             "10.%d.%d.%d - - [05/Dec/2026:10:%02d:%02d +0000] \"%s %s "
             "HTTP/1.1\" %d %d \"-\" \"curl/7.88.1\"",
             (int)(rnd() % 256), (int)(rnd() % 256), (int)(rnd() % 256),
             i / 60 % 60, i % 60, method, path, status,
             (int)(100 + rnd() % 5000));
}

Test(logql_patterns, nginx_access)
{
    rng_state = 42;
    struct tr_drain *d = mk(NULL);
    char line[512], path[64];
    static const int codes[] = {200, 201, 404, 500};
    for (int i = 0; i < 300; i++) {
        int kind = (int)(rnd() % 3);
        if (kind == 0) {
            snprintf(path, sizeof(path), "/api/users/%d", (int)(rnd() % 1000));
            nginx_line(line, sizeof(line), i, "GET", path, codes[rnd() % 4]);
        } else if (kind == 1) {
            nginx_line(line, sizeof(line), i, "GET", "/healthz", 200);
        } else {
            snprintf(path, sizeof(path), "/api/orders/%d", (int)(rnd() % 1000));
            nginx_line(line, sizeof(line), i, "POST", path, codes[rnd() % 4]);
        }
        add(d, T0 + (int64_t)i * SEC, line);
    }
    struct got g;
    list(d, &g);
    cr_assert_eq(g.n, 3);
    const struct tr_drain_pattern *p;
    p = find(&g,
             "<_> - - [<_> +0000] \"GET <_> HTTP/1.1\" <_> <_> \"-\" "
             "\"curl/7.88.1\"");
    cr_assert_not_null(p);
    p = find(&g,
             "<_> - - [<_> +0000] \"GET /healthz HTTP/1.1\" 200 <_> "
             "\"-\" \"curl/7.88.1\"");
    cr_assert_not_null(p);
    p = find(&g,
             "<_> - - [<_> +0000] \"POST <_> HTTP/1.1\" <_> <_> \"-\" "
             "\"curl/7.88.1\"");
    cr_assert_not_null(p);
    uint64_t sum = 0;
    for (size_t i = 0; i < g.n; i++) {
        sum += g.p[i].total;
        /* 300 seconds in 10-second buckets */
        cr_assert_leq(g.p[i].n_samples, 30);
        if (i > 0) {
            cr_assert_geq(g.p[i - 1].total, g.p[i].total);
        }
    }
    cr_assert_eq(sum, 300);
    tr_drain_free(d);
    tr_arena_free(&g.a);
}

Test(logql_patterns, logfmt_lines)
{
    rng_state = 7;
    struct tr_drain *d = mk(NULL);
    char line[512];
    for (int i = 0; i < 200; i++) {
        if (i % 4 == 3) {
            snprintf(line, sizeof(line),
                     "ts=2026-12-05T10:00:%02d.%06dZ caller=cache.go:88 "
                     "level=warn msg=\"cache miss\" key=user:%d",
                     i % 60, (int)(rnd() % 1000000), (int)(rnd() % 100));
        } else {
            snprintf(line, sizeof(line),
                     "ts=2026-12-05T10:00:%02d.%06dZ caller=handler.go:42 "
                     "level=info msg=\"request done\" duration=%d.%03dms "
                     "id=%08llx traceID=%016llx",
                     i % 60, (int)(rnd() % 1000000), (int)(rnd() % 900),
                     (int)(rnd() % 1000),
                     (unsigned long long)(rnd() & 0xffffffffu),
                     (unsigned long long)rnd());
        }
        add(d, T0 + (int64_t)i * SEC / 2, line);
    }
    struct got g;
    list(d, &g);
    const char *want[] = {
        "ts=<_> caller=handler.go:42 level=info msg=\"request done\" "
        "duration=<_> id=<_> traceID=<_>",
        "ts=<_> caller=cache.go:88 level=warn msg=\"cache miss\" key=<_>",
    };
    const uint64_t tot[] = {150, 50};
    expect(&g, want, tot, 2);
    struct tr_drain_stats st;
    tr_drain_stats(d, &st);
    cr_assert_eq(st.format, TR_DRAIN_FORMAT_LOGFMT);
    /* 100 seconds in 10 s buckets: 10 buckets of 15 and 5 */
    cr_assert_eq(g.p[0].n_samples, 10);
    for (size_t j = 0; j < 10; j++) {
        cr_assert_eq(g.p[0].samples[j].ts_ns, T0 + (int64_t)j * 10 * SEC);
        cr_assert_eq(g.p[0].samples[j].count, 15);
        cr_assert_eq(g.p[1].samples[j].count, 5);
    }
    /* an unparsable line of a logfmt stream is skipped */
    add(d, T0, "level=info msg=\"unterminated");
    add(d, T0, "level=info \"quoted\"=x a=b");
    tr_drain_stats(d, &st);
    cr_assert_eq(st.unparsable, 2);
    tr_drain_free(d);
    tr_arena_free(&g.a);
}

static void fixed_logfmt(struct tr_drain_config *c)
{
    c->format = TR_DRAIN_FORMAT_LOGFMT;
}

Test(logql_patterns, logfmt_quoting)
{
    struct tr_drain *d = mk(fixed_logfmt);
    add(d, T0, "level=info msg=\"a \\\"quoted\\\" word\" path=/x1 bare");
    add(d, T0, "level=info msg=\"a \\\"quoted\\\" word\" path=/y2 bare");
    add(d, T0, "lvl=debug err=\"tab\\there\" empty= x=1");
    add(d, T0, "a=1 b=\"\\u00e9\\ud83d\\ude00 \\ud800x\" c=\xffy");
    struct got g;
    list(d, &g);
    const char *want[] = {
        "level=info msg=\"a \\\"quoted\\\" word\" path=<_> bare=",
        "lvl=debug err=\"tab\\there\" empty= x=1",
        "a=1 b=\"\xc3\xa9\xf0\x9f\x98\x80 \xef\xbf\xbdx\" c=\"\\ufffdy\"",
    };
    const uint64_t tot[] = {2, 1, 1};
    expect(&g, want, tot, 3);
    tr_drain_free(d);
    tr_arena_free(&g.a);
}

Test(logql_patterns, json_lines)
{
    rng_state = 99;
    struct tr_drain *d = mk(NULL);
    char line[512];
    for (int i = 0; i < 120; i++) {
        if (i % 3 == 0) {
            snprintf(line, sizeof(line),
                     "{\"level\":\"info\",\"ts\":\"2026-12-05T10:00:%02dZ\","
                     "\"msg\":\"user %d logged in from 10.0.%d.%d\"}",
                     i % 60, (int)(rnd() % 1000), (int)(rnd() % 256),
                     (int)(rnd() % 256));
        } else {
            snprintf(line, sizeof(line),
                     "{\"log\": \"GET /api/items took %dms status=200\", "
                     "\"msg\": \"ignored: log wins\", \"n\": {\"a\": [1, "
                     "\"}\"]}}",
                     (int)(rnd() % 100));
        }
        add(d, T0 + (int64_t)i * SEC, line);
    }
    add(d, T0, "{\"level\":\"info\",\"message\":42}");
    add(d, T0, "{\"level\":\"info\"}");
    struct got g;
    list(d, &g);
    const char *want[] = {
        "<_>GET /api/items took <_> status=200<_>",
        "<_>user <_> logged in from <_>",
    };
    const uint64_t tot[] = {80, 40};
    expect(&g, want, tot, 2);
    struct tr_drain_stats st;
    tr_drain_stats(d, &st);
    cr_assert_eq(st.format, TR_DRAIN_FORMAT_JSON);
    cr_assert_eq(st.unparsable, 2);
    tr_drain_free(d);
    tr_arena_free(&g.a);
}

Test(logql_patterns, free_text_and_spaces)
{
    struct tr_drain *d = mk(NULL);
    add(d, T0, "  Connection from 10.0.0.1 port 5432 closed (reason: eof)");
    add(d, T0, "  Connection from 10.0.0.2 port 6000 closed (reason: eof)");
    add(d, T0, "  Connection from 10.0.0.3 port 22 closed (reason: reset)");
    add(d, T0, "Disk /dev/sda1 is 91% full, cleaning up");
    add(d, T0, "Disk /dev/sdb2 is 97% full, cleaning up");
    add(d, T0, "Disk /dev/sdb2 is 97% full,  cleaning   up");
    struct got g;
    list(d, &g);
    /* a differing token without digits ("reset") takes its own branch of
     * the prefix tree, so that line is a pattern of its own; the spaces of
     * a cluster's first line are kept */
    const char *want[] = {
        "Disk <_> is <_>% full, cleaning up",
        "  Connection from <_> port <_> closed (reason: eof)",
        "  Connection from 10.0.0.3 port 22 closed (reason: reset)",
    };
    const uint64_t tot[] = {3, 2, 1};
    expect(&g, want, tot, 3);
    tr_drain_free(d);
    tr_arena_free(&g.a);
}

static void shallow(struct tr_drain_config *c)
{
    c->depth = 4; /* only the first token routes */
}

Test(logql_patterns, placeholders_deduplicated)
{
    struct tr_drain *d = mk(shallow);
    add(d, T0, "job a1(1)b1 done in 5s");
    add(d, T0, "job c2(2)d2 done in 6s");
    struct got g;
    list(d, &g);
    const char *want[] = {"job <_>(<_>)<_> done in <_>"};
    const uint64_t tot[] = {2};
    expect(&g, want, tot, 1);
    tr_arena_free(&g.a);
    add(d, T0, "job e3[3]f3 done in 7s");
    list(d, &g);
    const char *want2[] = {"job <_> done in <_>"};
    const uint64_t tot2[] = {3};
    expect(&g, want2, tot2, 1);
    tr_drain_free(d);
    tr_arena_free(&g.a);
}

Test(logql_patterns, bucket_counts_exact)
{
    struct tr_drain *d = mk(NULL);
    /* out of order and negative-free: 3 in [0,10), 0 in [10,20), 2 in
     * [20,30), 1 in [60,70); bucket width 10 s */
    int64_t ts[] = {25, 1, 9, 0, 61, 29};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        char line[64];
        snprintf(line, sizeof(line), "worker %zu finished job ok", i);
        add(d, T0 + ts[i] * SEC, line);
    }
    struct got g;
    list(d, &g);
    const char *want[] = {"worker <_> finished job ok"};
    const uint64_t tot[] = {6};
    expect(&g, want, tot, 1);
    cr_assert_eq(g.p[0].n_samples, 3);
    cr_assert_eq(g.p[0].samples[0].ts_ns, T0);
    cr_assert_eq(g.p[0].samples[0].count, 3);
    cr_assert_eq(g.p[0].samples[1].ts_ns, T0 + 20 * SEC);
    cr_assert_eq(g.p[0].samples[1].count, 2);
    cr_assert_eq(g.p[0].samples[2].ts_ns, T0 + 60 * SEC);
    cr_assert_eq(g.p[0].samples[2].count, 1);
    cr_assert_eq(tr_drain_add(d, INT64_MIN, "worker 1 finished job ok", 24),
                 TR_EINVAL);
    /* a negative timestamp floors */
    add(d, -1, "worker 9 finished job ok");
    tr_arena_free(&g.a);
    list(d, &g);
    cr_assert_eq(g.p[0].samples[0].ts_ns, -10 * SEC);
    tr_drain_free(d);
    tr_arena_free(&g.a);
}

static void few_buckets(struct tr_drain_config *c)
{
    c->max_buckets = 2;
    c->bucket_ns = SEC;
}

Test(logql_patterns, max_buckets)
{
    struct tr_drain *d = mk(few_buckets);
    const char *l = "the same line every time";
    add(d, 0, l);
    add(d, SEC, l);
    cr_assert_eq(tr_drain_add(d, 2 * SEC, l, strlen(l)), TR_ELIMIT);
    add(d, SEC, l);
    struct got g;
    list(d, &g);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(g.p[0].total, 3);
    cr_assert_eq(g.p[0].n_samples, 2);
    tr_drain_free(d);
    tr_arena_free(&g.a);
}

static void five_clusters(struct tr_drain_config *c)
{
    c->max_clusters = 5;
    c->max_eviction_ratio = -1;
}

/* Lines of distinct shapes: word i in every position (no digits). */
static void shape_line(char *buf, size_t n, int i)
{
    char w[8];
    for (int k = 0; k < 6; k++) {
        w[k] = (char)('a' + (i >> k) % 2 + 2 * ((i / 64) % 12));
    }
    w[6] = '\0';
    snprintf(buf, n, "%s %s %s %s", w, w, w, w);
}

Test(logql_patterns, max_clusters_lru)
{
    struct tr_drain *d = mk(five_clusters);
    char line[64];
    for (int i = 0; i < 20; i++) {
        shape_line(line, sizeof(line), i);
        add(d, T0, line);
        /* keep cluster 0 in use */
        shape_line(line, sizeof(line), 0);
        add(d, T0, line);
    }
    struct tr_drain_stats st;
    tr_drain_stats(d, &st);
    cr_assert_eq(st.clusters, 5);
    cr_assert_eq(st.evicted, 15);
    struct got g;
    list(d, &g);
    cr_assert_eq(g.n, 5);
    shape_line(line, sizeof(line), 0);
    cr_assert_str_eq(g.p[0].pattern, line);
    cr_assert_eq(g.p[0].total, 21);
    for (int i = 16; i < 20; i++) {
        shape_line(line, sizeof(line), i);
        cr_assert_not_null(find(&g, line), "%s", line);
    }
    tr_drain_free(d);
    tr_arena_free(&g.a);
}

static void small_limited(struct tr_drain_config *c)
{
    c->max_clusters = 4;
}

Test(logql_patterns, eviction_limiter_blocks)
{
    struct tr_drain *d = mk(small_limited);
    char line[64];
    /* every line a new cluster: after 4, each evicts one; the ratio
     * passes 0.25 and the level blocks for 10 minutes of log time */
    for (int i = 0; i < 40; i++) {
        shape_line(line, sizeof(line), i);
        add(d, T0 + i * SEC, line);
    }
    struct tr_drain_stats st;
    tr_drain_stats(d, &st);
    cr_assert_eq(st.clusters, 4);
    cr_assert_gt(st.limited, 0);
    cr_assert_eq(st.limited + st.counted, 40);
    /* ten minutes later it learns again */
    uint64_t counted = st.counted;
    add(d, T0 + 700 * SEC, "a brand new line here");
    tr_drain_stats(d, &st);
    cr_assert_eq(st.counted, counted + 1);
    tr_drain_free(d);
}

Test(logql_patterns, levels)
{
    struct tr_drain *d = mk(NULL);
    const char *l = "payment service answered in time";
    struct tr_slice info = TR_SLICE_LIT("INFO"), err = TR_SLICE_LIT("error");
    struct tr_slice odd = TR_SLICE_LIT("verbose");
    cr_assert_eq(tr_drain_add_level(d, T0, info, l, strlen(l)), 0);
    cr_assert_eq(tr_drain_add_level(d, T0, info, l, strlen(l)), 0);
    cr_assert_eq(tr_drain_add_level(d, T0, err, l, strlen(l)), 0);
    cr_assert_eq(tr_drain_add_level(d, T0, odd, l, strlen(l)), 0);
    add(d, T0, l);
    struct got g;
    list(d, &g);
    cr_assert_eq(g.n, 3);
    cr_assert_str_eq(g.p[0].level, "unknown");
    cr_assert_eq(g.p[0].total, 2);
    cr_assert_str_eq(g.p[1].level, "info");
    cr_assert_eq(g.p[1].total, 2);
    cr_assert_str_eq(g.p[2].level, "error");
    cr_assert_eq(g.p[2].total, 1);
    tr_drain_free(d);
    tr_arena_free(&g.a);
}

Test(logql_patterns, min_total_and_max_patterns)
{
    struct tr_drain_config c;
    tr_drain_config_default(&c);
    c.max_patterns = 1;
    struct tr_drain *d;
    cr_assert_eq(tr_drain_new(&c, &d, NULL), 0);
    for (int i = 0; i < 40; i++) {
        add(d, T0, "alpha beta gamma delta");
        if (i < 35) {
            add(d, T0, "one two three four five");
        }
        if (i < 10) {
            add(d, T0, "rare event has happened now");
        }
    }
    struct got g;
    list(d, &g);
    cr_assert_eq(g.n, 1);
    cr_assert_str_eq(g.p[0].pattern, "alpha beta gamma delta");
    tr_arena_free(&g.a);
    tr_drain_free(d);
    c.max_patterns = 300;
    cr_assert_eq(tr_drain_new(&c, &d, NULL), 0);
    for (int i = 0; i < 40; i++) {
        add(d, T0, "alpha beta gamma delta");
        if (i < 35) {
            add(d, T0, "one two three four five");
        }
        if (i < 10) {
            add(d, T0, "rare event has happened now");
        }
    }
    list(d, &g);
    cr_assert_eq(g.n, 2); /* the rare one is below 30 */
    cr_assert_eq(g.p[1].total, 35);
    tr_arena_free(&g.a);
    tr_drain_free(d);
}

static void mixed_input(struct tr_drain *d, uint64_t seed)
{
    rng_state = seed;
    char line[512];
    for (int i = 0; i < 2000; i++) {
        uint64_t r = rnd();
        switch (r % 5) {
            case 0:
                nginx_line(line, sizeof(line), i, r & 8 ? "GET" : "PUT",
                           r & 16 ? "/a/b" : "/c/d/e", 200 + (int)(r % 3));
                break;
            case 1:
                snprintf(line, sizeof(line), "service %c%c%c started %d tasks",
                         'a' + (int)(rnd() % 26), 'a' + (int)(rnd() % 26),
                         'a' + (int)(rnd() % 26), (int)(rnd() % 50));
                break;
            case 2:
                snprintf(line, sizeof(line), "w%d x%d y z %c", (int)(rnd() % 9),
                         (int)(rnd() % 9), 'a' + (int)(rnd() % 26));
                break;
            case 3:
                snprintf(line, sizeof(line), "%c%c %c%c %c%c %c%c",
                         'a' + (int)(rnd() % 26), 'a' + (int)(rnd() % 26),
                         'a' + (int)(rnd() % 26), 'a' + (int)(rnd() % 26),
                         'a' + (int)(rnd() % 26), 'a' + (int)(rnd() % 26),
                         'a' + (int)(rnd() % 26), 'a' + (int)(rnd() % 26));
                break;
            default:
                snprintf(line, sizeof(line), "short");
                break;
        }
        cr_assert_eq(tr_drain_add(d, T0 + (int64_t)(rnd() % 3600) * SEC, line,
                                  strlen(line)),
                     0);
    }
}

static void unlimited_patterns(struct tr_drain_config *c)
{
    c->max_patterns = 0;
    c->max_clusters = 50;
}

Test(logql_patterns, deterministic)
{
    struct tr_drain *d1 = mk(unlimited_patterns);
    struct tr_drain *d2 = mk(unlimited_patterns);
    mixed_input(d1, 1234);
    mixed_input(d2, 1234);
    struct got g1, g2;
    list(d1, &g1);
    list(d2, &g2);
    cr_assert_gt(g1.n, 3);
    cr_assert_eq(g1.n, g2.n);
    for (size_t i = 0; i < g1.n; i++) {
        cr_assert_str_eq(g1.p[i].pattern, g2.p[i].pattern);
        cr_assert_str_eq(g1.p[i].level, g2.p[i].level);
        cr_assert_eq(g1.p[i].total, g2.p[i].total);
        cr_assert_eq(g1.p[i].n_samples, g2.p[i].n_samples);
        cr_assert_eq(memcmp(g1.p[i].samples, g2.p[i].samples,
                            g1.p[i].n_samples * sizeof(g1.p[i].samples[0])),
                     0);
    }
    struct tr_drain_stats s1;
    tr_drain_stats(d1, &s1);
    cr_assert_leq(s1.clusters, 50);
    cr_assert_gt(s1.too_few_tokens, 0);
    tr_drain_free(d1);
    tr_drain_free(d2);
    tr_arena_free(&g1.a);
    tr_arena_free(&g2.a);
}

Test(logql_patterns, empty_and_huge_lines)
{
    struct tr_drain *d = mk(NULL);
    cr_assert_eq(tr_drain_add(d, T0, NULL, 0), 0);
    cr_assert_eq(tr_drain_add(d, T0, NULL, 3), TR_EINVAL);
    cr_assert_eq(tr_drain_add(d, T0, "", 0), 0);
    cr_assert_eq(tr_drain_add(d, T0, "   ", 3), 0);
    size_t big = 1 << 20;
    char *huge = tr_malloc(big);
    cr_assert_not_null(huge);
    for (size_t i = 0; i < big; i++) {
        huge[i] = i % 7 == 6 ? ' ' : 'x';
    }
    cr_assert_eq(tr_drain_add(d, T0, huge, big), 0);
    cr_assert_eq(tr_drain_add(d, T0, huge, 3001), 0);
    cr_assert_eq(tr_drain_add(d, T0, huge, 3000), 0); /* 428 tokens */
    cr_assert_eq(tr_drain_add(d, T0, huge, 41), 0);   /* 6 tokens */
    struct tr_drain_stats st;
    tr_drain_stats(d, &st);
    cr_assert_eq(st.too_few_tokens, 3);
    cr_assert_eq(st.too_long, 2);
    cr_assert_eq(st.too_many_tokens, 1);
    cr_assert_eq(st.counted, 1);
    tr_free(huge);
    struct got g;
    list(d, &g);
    cr_assert_eq(g.n, 1);
    cr_assert_str_eq(g.p[0].pattern,
                     "xxxxxx xxxxxx xxxxxx xxxxxx xxxxxx xxxxxx");
    tr_arena_free(&g.a);
    tr_drain_free(d);
    /* an empty miner lists nothing */
    d = mk(NULL);
    list(d, &g);
    cr_assert_eq(g.n, 0);
    cr_assert_null(g.p);
    tr_arena_free(&g.a);
    tr_drain_free(d);
}
