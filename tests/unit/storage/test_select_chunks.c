/* Tests for storage/select.c's chunk form (hints.chunks): the same series
 * and samples as the decoded form for persisted chunks, the head's open
 * chunk with its checkpointed prefix, several windows, ranges cutting
 * chunks, out-of-order data; on helper threads too; and the sample budget,
 * alone and shared with other parts of a read. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/par.h"
#include "storage/entry.h"
#include "storage/storage.h"

#define SC_HOUR (3600 * 1000LL)
#define SC_DAY (24 * SC_HOUR)

static char sc_dir[256];
static uint64_t sc_index;

static void sc_setup(void)
{
    sc_index = 0;
    snprintf(sc_dir, sizeof(sc_dir), "/tmp/triad-test-selchunks-%d", getpid());
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", sc_dir);
    cr_assert_eq(system(cmd), 0);
}

static void sc_teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", sc_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cleanup failed\n");
    }
}

static struct tr_storage *sc_open(void)
{
    struct tr_storage_config c = {
        .version = 1,
        .data_dir = sc_dir,
        .cache_bytes = 8 << 20,
        .window_ms = SC_DAY,
        .chunk_max_ms = 2 * SC_HOUR,
    };
    struct tr_storage *s = NULL;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_storage_open(&c, &s, err), 0, "open: %s", err);
    return s;
}

static struct tr_shard_id sc_shard(int64_t t)
{
    int64_t w = t / SC_DAY * SC_DAY;
    return (struct tr_shard_id){TR_SIGNAL_METRICS, w, 0};
}

/* Applies series m{i=<i>} with n samples (one window) as the next entry. */
static void sc_put(struct tr_storage *s,
                   int i,
                   const int64_t *ts,
                   const double *vs,
                   size_t n)
{
    char val[16];
    snprintf(val, sizeof(val), "%03d", i);
    struct tr_label ls[2] = {
        {TR_SLICE_LIT("__name__"), TR_SLICE_LIT("m")},
        {TR_SLICE_LIT("i"), tr_slice_cstr(val)},
    };
    struct tr_entry_series es = {
        .labels = ls, .n_labels = 2, .ts = ts, .vs = vs, .n_samples = n};
    struct tr_entry_metrics m = {.tenant = TR_SLICE_LIT("t"),
                                 .series = &es,
                                 .n_series = 1,
                                 .ooo_window_ms = 12 * SC_HOUR};
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_entry_metrics_encode(&m, &b), 0);
    struct tr_apply_result res;
    char err[TR_ERRMSG_SIZE];
    struct tr_shard_id id = sc_shard(ts[0]);
    cr_assert_eq(
        tr_storage_shard_apply(s, &id, ++sc_index, b.data, b.len, &res, err), 0,
        "apply: %s", err);
    cr_assert_eq(res.first_error, 0, "%s", res.errmsg);
    tr_buf_free(&b);
}

static int sc_select(struct tr_storage *s,
                     int64_t mint,
                     int64_t maxt,
                     bool chunks,
                     size_t max_samples,
                     struct tr_select_budget *budget,
                     struct tr_select_result *r,
                     char *err)
{
    const struct tr_select_source *src = tr_storage_source(s);
    struct tr_matcher m;
    cr_assert_eq(tr_matcher_init(&m, TR_MATCH_EQ, "__name__", "m", 1, err), 0);
    struct tr_select_hints h = {.mint = mint,
                                .maxt = maxt,
                                .chunks = chunks,
                                .max_samples = max_samples,
                                .budget = budget};
    int rv = src->select(src->impl, TR_SLICE_LIT("t"), &m, 1, &h, r, err);
    tr_matcher_free(&m);
    return rv;
}

/* The chunk form of [mint, maxt] decodes to exactly the decoded form;
 * returns the number of samples. */
static size_t sc_compare(struct tr_storage *s,
                         int64_t mint,
                         int64_t maxt,
                         size_t want_series)
{
    char err[TR_ERRMSG_SIZE];
    struct tr_select_result dec, chk;
    cr_assert_eq(sc_select(s, mint, maxt, false, 0, NULL, &dec, err), 0, "%s",
                 err);
    cr_assert_eq(sc_select(s, mint, maxt, true, 0, NULL, &chk, err), 0, "%s",
                 err);
    cr_assert_eq(dec.n_series, want_series);
    cr_assert_eq(chk.n_series, dec.n_series);
    size_t total = 0;
    for (size_t i = 0; i < dec.n_series; i++) {
        const struct tr_series_data *a = &dec.series[i], *b = &chk.series[i];
        cr_assert_eq(
            tr_labels_cmp(a->labels, a->n_labels, b->labels, b->n_labels), 0);
        cr_assert_not_null(a->samples);
        cr_assert_null(b->samples);
        cr_assert_eq(a->n_samples, b->n_samples, "series %zu", i);
        total += a->n_samples;
        struct tr_sample *buf = malloc(b->n_samples * sizeof(*buf));
        const struct tr_sample *got = tr_series_samples(b, buf);
        cr_assert_not_null(got, "series %zu", i);
        cr_assert_eq(memcmp(a->samples, got, a->n_samples * sizeof(*got)), 0,
                     "series %zu", i);
        for (size_t k = 0; k < b->n_chunks; k++) {
            cr_assert_geq(b->chunks[k].mint, mint);
            cr_assert_leq(b->chunks[k].maxt, maxt);
        }
        for (size_t k = 0; k < a->n_samples; k++) {
            cr_assert(a->samples[k].t >= mint && a->samples[k].t <= maxt);
            cr_assert(k == 0 || a->samples[k].t > a->samples[k - 1].t);
        }
        free(buf);
    }
    tr_select_result_free(&dec);
    tr_select_result_free(&chk);
    return total;
}

Test(select_chunks,
     chunk_form_matches_decoded,
     .init = sc_setup,
     .fini = sc_teardown)
{
    struct tr_storage *s = sc_open();
    /* 4 h before a window boundary to 4 h after, one sample a minute:
     * cut chunks (120 samples) in both windows, open ones in the head */
    int64_t base = 1700000000000LL / SC_DAY * SC_DAY + SC_DAY - 4 * SC_HOUR;
    enum { NS = 70, PER = 480 };
    int64_t ts[PER];
    double vs[PER];
    for (int i = 0; i < NS; i++) {
        for (int w = 0; w < 2; w++) {
            size_t n = 0;
            for (int k = 0; k < PER; k++) {
                int64_t t = base + (int64_t)k * 60000 + i;
                if ((t >= base + 4 * SC_HOUR) != (w == 1)) {
                    continue;
                }
                ts[n] = t;
                vs[n++] = i % 2 ? k * 1.5 : k / 3.0; /* packed and XOR */
            }
            sc_put(s, i, ts, vs, n);
        }
    }
    int64_t end = base + 8 * SC_HOUR;
    cr_assert_eq(sc_compare(s, base - SC_HOUR, end, NS), NS * PER);
    sc_compare(s, base + 37 * 60000 + 5, end - 61 * 60000, NS); /* cuts */
    sc_compare(s, base + 4 * SC_HOUR - 1, base + 4 * SC_HOUR + 60000, NS);
    sc_compare(s, base + 10 * 60000, base + 10 * 60000 + 10, 11); /* i <= 10 */
    /* open chunks checkpointed (their prefixes persisted), then extended:
     * one copy of each sample */
    uint64_t idx;
    struct tr_shard_id a = sc_shard(base), b = sc_shard(end - 1);
    cr_assert_eq(tr_storage_shard_checkpoint(s, &a, &idx), 0);
    cr_assert_eq(tr_storage_shard_checkpoint(s, &b, &idx), 0);
    for (int i = 0; i < NS; i++) {
        int64_t t = end + i;
        double v = 7;
        sc_put(s, i, &t, &v, 1);
    }
    cr_assert_eq(sc_compare(s, base - SC_HOUR, end + SC_HOUR, NS),
                 NS * (PER + 1));
    cr_assert_eq(sc_compare(s, end - 30 * 60000, end + SC_HOUR, NS), NS * 31);
    /* out-of-order samples (in the head, then persisted) */
    for (int i = 0; i < NS; i += 3) {
        int64_t t[2] = {base + 90 * 60000 + 30000 + i, end - 30000};
        double v[2] = {-1, -2};
        sc_put(s, i, t, v, 1);
        sc_put(s, i, t + 1, v + 1, 1);
    }
    size_t with_ooo = NS * (PER + 1) + 2 * ((NS + 2) / 3);
    cr_assert_eq(sc_compare(s, base - SC_HOUR, end + SC_HOUR, NS), with_ooo);
    cr_assert_eq(tr_storage_shard_checkpoint(s, &a, &idx), 0);
    cr_assert_eq(tr_storage_shard_checkpoint(s, &b, &idx), 0);
    cr_assert_eq(sc_compare(s, base - SC_HOUR, end + SC_HOUR, NS), with_ooo);
    sc_compare(s, base + 80 * 60000, end - 20000, NS);
    /* the same on helper threads */
    cr_assert_eq(tr_par_start(3), 0);
    sc_compare(s, base - SC_HOUR, end + SC_HOUR, NS);
    sc_compare(s, base + 37 * 60000 + 5, end - 61 * 60000, NS);
    tr_par_stop();
    tr_storage_close(s);
}

Test(select_chunks, sample_budget, .init = sc_setup, .fini = sc_teardown)
{
    struct tr_storage *s = sc_open();
    int64_t base = 1700000000000LL / SC_DAY * SC_DAY + SC_HOUR;
    int64_t ts[100];
    double vs[100];
    for (int k = 0; k < 100; k++) {
        ts[k] = base + k * 1000;
        vs[k] = k;
    }
    for (int i = 0; i < 100; i++) {
        sc_put(s, i, ts, vs, 100);
    }
    char err[TR_ERRMSG_SIZE];
    struct tr_select_result r;
    int64_t end = base + SC_HOUR;
    cr_assert_eq(sc_select(s, base, end, true, 10000, NULL, &r, err), 0);
    cr_assert_eq(r.n_series, 100);
    tr_select_result_free(&r);
    cr_assert_eq(sc_select(s, base, end, true, 9999, NULL, &r, err), TR_ELIMIT);
    cr_assert(strstr(err, "too many samples") != NULL, "%s", err);
    /* a shared budget: what other parts took counts */
    struct tr_select_budget b;
    tr_select_budget_init(&b, 15000);
    cr_assert(tr_select_budget_take(&b, 5000));
    cr_assert_eq(sc_select(s, base, end, true, 0, &b, &r, err), 0, "%s", err);
    tr_select_result_free(&r);
    cr_assert_eq(atomic_load(&b.used), 15000);
    cr_assert(!tr_select_budget_over(&b));
    tr_select_budget_give(&b, 1);
    cr_assert(tr_select_budget_take(&b, 1));
    cr_assert(!tr_select_budget_take(&b, 1)); /* another part went over */
    cr_assert(tr_select_budget_over(&b));
    cr_assert_eq(sc_select(s, base, end, true, 0, &b, &r, err), TR_ELIMIT);
    /* the budget's max applies, not max_samples */
    tr_select_budget_init(&b, 0);
    cr_assert_eq(sc_select(s, base, end, false, 10, &b, &r, err), 0, "%s", err);
    cr_assert_eq(r.n_series, 100);
    tr_select_result_free(&r);
    tr_storage_close(s);
}

static void sc_list(struct tr_string_list *l, const char *const *s, size_t n)
{
    memset(l, 0, sizeof(*l));
    tr_arena_init(&l->arena, 256);
    l->items = tr_arena_alloc(&l->arena, (n ? n : 1) * sizeof(*l->items));
    for (size_t i = 0; i < n; i++) {
        l->items[i] = tr_slice_cstr(s[i]);
    }
    l->n = n;
}

Test(select_chunks, string_list_union)
{
    static const char *const a[] = {"job", "le", "zone"};
    static const char *const b[] = {"__name__", "job", "le\x01"};
    static const char *const c[] = {"instance"};
    struct tr_string_list parts[3], u;
    sc_list(&parts[0], a, 3);
    sc_list(&parts[1], b, 3);
    sc_list(&parts[2], c, 1);
    cr_assert_eq(tr_string_list_union(parts, 3, 0, &u), 0);
    static const char *const want[] = {"__name__", "instance", "job",
                                       "le",       "le\x01",   "zone"};
    cr_assert_eq(u.n, 6);
    for (size_t i = 0; i < u.n; i++) {
        cr_assert(tr_slice_eq_cstr(u.items[i], want[i]), "item %zu", i);
    }
    cr_assert_not(u.truncated);
    tr_string_list_free(&u);
    /* cut at the limit after deduplication */
    cr_assert_eq(tr_string_list_union(parts, 3, 5, &u), 0);
    cr_assert_eq(u.n, 5);
    cr_assert(u.truncated);
    tr_string_list_free(&u);
    cr_assert_eq(tr_string_list_union(parts, 3, 6, &u), 0);
    cr_assert_not(u.truncated);
    tr_string_list_free(&u);
    /* a truncated part makes the union truncated; no parts: empty */
    parts[2].truncated = true;
    cr_assert_eq(tr_string_list_union(parts, 3, 0, &u), 0);
    cr_assert(u.truncated);
    tr_string_list_free(&u);
    cr_assert_eq(tr_string_list_union(parts, 0, 0, &u), 0);
    cr_assert_eq(u.n, 0);
    cr_assert_not(u.truncated);
    tr_string_list_free(&u);
    for (size_t i = 0; i < 3; i++) {
        tr_string_list_free(&parts[i]);
    }
}
