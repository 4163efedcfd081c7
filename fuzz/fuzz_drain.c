/* fuzz_drain.c - libFuzzer driver for the Drain pattern miner
 * (query/logql/patterns.c): tokenizers (text, logfmt, JSON message), the
 * logfmt format guess, the prefix tree, LRU eviction and the listing.
 *
 * The first input byte picks the configuration (format, small or no
 * cluster limit, shallow or default depth, tiny buckets); the rest is
 * split at '\n' into lines, each trained with a timestamp and a level
 * taken from its position. Properties: every call returns 0 (or TR_ELIMIT
 * for a full pattern), the stats add up, the listing is sorted by total
 * with sorted unique bucket-aligned samples, totals equal the counted
 * lines when nothing was evicted (at most them otherwise), the cluster
 * limit holds, and a second miner fed the same lines lists exactly the
 * same patterns. Seeds: fuzz/corpus/fuzz_drain/ (nginx, logfmt, JSON and
 * free-text samples). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "query/logql/patterns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond) {
        abort();
    }
}

static const char *const levels[] = {"", "info", "ERROR", "warn", "odd"};

/* Trains every line; returns how many were refused with TR_ELIMIT. */
static uint64_t feed(struct tr_drain *d, const uint8_t *data, size_t size)
{
    size_t start = 0, idx = 0;
    uint64_t full = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && data[i] != '\n') {
            continue;
        }
        const char *line = (const char *)data + start;
        size_t len = i - start;
        int64_t ts = (int64_t)(idx * 7919 % 1000) * 1000000000LL - 5;
        const char *lv = levels[idx % 5];
        int rv = tr_drain_add_level(d, ts, tr_slice_cstr(lv), line, len);
        check(rv == 0 || rv == TR_ELIMIT);
        full += rv == TR_ELIMIT;
        start = i + 1;
        idx++;
    }
    return full;
}

static void verify(const struct tr_drain_config *c,
                   const struct tr_drain_pattern *p,
                   size_t n,
                   const struct tr_drain_stats *st,
                   uint64_t full)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        check(p[i].pattern != NULL && p[i].pattern_len > 0);
        check(p[i].pattern[p[i].pattern_len] == '\0');
        check(p[i].level != NULL);
        check(p[i].n_samples >= 1 && p[i].n_samples <= c->max_buckets);
        check(p[i].total >= c->min_total);
        if (i > 0) {
            check(p[i - 1].total >= p[i].total);
        }
        uint64_t t = 0;
        for (size_t j = 0; j < p[i].n_samples; j++) {
            const struct tr_drain_sample *s = &p[i].samples[j];
            check(s->count >= 1);
            check(s->ts_ns % c->bucket_ns == 0);
            if (j > 0) {
                check(s->ts_ns > p[i].samples[j - 1].ts_ns);
            }
            t += s->count;
        }
        check(t == p[i].total);
        sum += t;
    }
    check(sum <= st->counted);
    /* an empty line (min_tokens 0) makes a pattern rendering "" */
    if (st->evicted == 0 && c->min_tokens > 0) {
        check(sum == st->counted);
    }
    check(st->lines == st->counted + st->too_long + st->too_few_tokens +
                           st->too_many_tokens + st->unparsable + st->limited +
                           full);
    if (c->max_clusters > 0) {
        check(st->clusters <= 8 * c->max_clusters);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t mode = data[0];
    data++;
    size--;
    struct tr_drain_config c;
    tr_drain_config_default(&c);
    c.format = (enum tr_drain_format)(mode & 3);
    c.min_total = 0;
    c.max_patterns = 0;
    c.max_clusters = (mode & 4) ? 3 : 0;
    c.depth = (mode & 8) ? 3 : 30;
    if (mode & 16) {
        c.bucket_ns = 3;
        c.max_buckets = 2;
    }
    if (mode & 32) {
        c.min_tokens = 0;
        c.max_tokens = 6;
        c.max_line_length = 64;
    }
    if (mode & 64) {
        c.max_eviction_ratio = -1;
        c.max_children = 1;
    }
    struct tr_drain *d1, *d2;
    check(tr_drain_new(&c, &d1, NULL) == 0);
    check(tr_drain_new(&c, &d2, NULL) == 0);
    uint64_t full = feed(d1, data, size);
    check(feed(d2, data, size) == full);
    struct tr_drain_stats st;
    tr_drain_stats(d1, &st);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_drain_pattern *p1, *p2;
    size_t n1, n2;
    check(tr_drain_patterns(d1, &a, &p1, &n1) == 0);
    check(tr_drain_patterns(d2, &a, &p2, &n2) == 0);
    verify(&c, p1, n1, &st, full);
    check(n1 == n2);
    for (size_t i = 0; i < n1; i++) {
        check(p1[i].pattern_len == p2[i].pattern_len);
        check(memcmp(p1[i].pattern, p2[i].pattern, p1[i].pattern_len) == 0);
        check(p1[i].level == p2[i].level);
        check(p1[i].n_samples == p2[i].n_samples);
        check(memcmp(p1[i].samples, p2[i].samples,
                     p1[i].n_samples * sizeof(p1[i].samples[0])) == 0);
    }
    /* the format guess on the whole input must not crash either */
    (void)tr_drain_detect_format((const char *)data, size);
    tr_arena_free(&a);
    tr_drain_free(d1);
    tr_drain_free(d2);
    return 0;
}
