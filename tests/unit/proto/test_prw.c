/* test_prw.c - Prometheus remote-write codecs (proto/prw.c).
 *
 * Suites: prw_wire (captured real requests, cross-checked against the
 * protobuf-c generated decoder; skipped when the wire directory is absent),
 * prw_roundtrip (encode -> decode), prw_malformed (hand-made bad input). The
 * wire directory is $TRIAD_WIRE_DIR or ../shared/wire (tests run from the
 * repository root). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/files.h"
#include "tests/lib/oom.h"
#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "proto/prometheus_remote.pb-c.h"
#include "proto/prometheus_write_v2.pb-c.h"
#include "proto/prw.h"

/* ---- helpers --------------------------------------------------------------
 */

#define MAX_WIRE_FILES 64

struct wire_file {
    char name[256];
    char *data; /* decompressed protobuf (tr_malloc) */
    size_t len;
};

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bits_d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static const char *metrics_dir(char *path, size_t size)
{
    const char *base = getenv("TRIAD_WIRE_DIR");
    snprintf(path, size, "%s/metrics", base && *base ? base : "../shared/wire");
    return path;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(((const struct wire_file *)a)->name,
                  ((const struct wire_file *)b)->name);
}

/* Loads every *.bin under the metrics wire dir, snappy-decoded when it is a
 * valid snappy block (all captured remote-write bodies are). Returns the
 * count; skips the test when the directory is absent. */
static size_t load_wire(struct wire_file *files)
{
    char dir[1024];
    metrics_dir(dir, sizeof(dir));
    DIR *d = opendir(dir);
    if (d == NULL) {
        cr_skip_test("wire directory %s absent (set TRIAD_WIRE_DIR)", dir);
    }
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < MAX_WIRE_FILES) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".bin") != 0 ||
            l >= sizeof(files[n].name)) {
            continue;
        }
        char path[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        size_t raw_len;
        char *raw = tr_test_read_file(path, &raw_len);
        cr_assert_not_null(raw, "cannot read %s", path);
        size_t ulen;
        if (snappy_validate_compressed_buffer(raw, raw_len) == SNAPPY_OK &&
            snappy_uncompressed_length(raw, raw_len, &ulen) == SNAPPY_OK) {
            files[n].data = tr_malloc(ulen ? ulen : 1);
            cr_assert_not_null(files[n].data);
            cr_assert_eq(snappy_uncompress(raw, raw_len, files[n].data, &ulen),
                         SNAPPY_OK, "%s: snappy", path);
            files[n].len = ulen;
            tr_free(raw);
        } else {
            files[n].data = raw;
            files[n].len = raw_len;
        }
        memcpy(files[n].name, e->d_name, l + 1);
        n++;
    }
    closedir(d);
    if (n == 0) {
        cr_skip_test("no *.bin in %s", dir);
    }
    qsort(files, n, sizeof(*files), cmp_names);
    return n;
}

static void free_wire(struct wire_file *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tr_free(files[i].data);
    }
}

/* Slice equals a NUL-terminated protobuf-c string ("" when NULL). */
static bool slice_is(struct tr_slice s, const char *c)
{
    if (c == NULL) {
        c = "";
    }
    return s.len == strlen(c) && (s.len == 0 || memcmp(s.base, c, s.len) == 0);
}

static bool slice_same(struct tr_slice a, struct tr_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

/* Field-by-field comparison with protobuf-c's view of the same bytes. */
static void check_against_pbc(const struct tr_prw_request *r,
                              const Prometheus__WriteRequest *w,
                              const char *name)
{
    cr_assert_eq(r->n_series, w->n_timeseries, "%s: series", name);
    for (size_t i = 0; i < r->n_series; i++) {
        const struct tr_prw_series *s = &r->series[i];
        const Prometheus__TimeSeries *t = w->timeseries[i];
        cr_assert_eq(s->n_labels, t->n_labels, "%s[%zu]: labels", name, i);
        for (size_t j = 0; j < s->n_labels; j++) {
            cr_assert(slice_is(s->labels[j].name, t->labels[j]->name),
                      "%s[%zu]: label %zu name", name, i, j);
            cr_assert(slice_is(s->labels[j].value, t->labels[j]->value),
                      "%s[%zu]: label %zu value", name, i, j);
        }
        cr_assert_eq(s->n_samples, t->n_samples, "%s[%zu]: samples", name, i);
        for (size_t j = 0; j < s->n_samples; j++) {
            cr_assert_eq(dbits(s->samples[j].value),
                         dbits(t->samples[j]->value), "%s[%zu]: sample %zu",
                         name, i, j);
            cr_assert_eq(s->samples[j].ts_ms, t->samples[j]->timestamp);
        }
        cr_assert_eq(s->n_exemplars, t->n_exemplars);
        for (size_t j = 0; j < s->n_exemplars; j++) {
            const struct tr_prw_exemplar *e = &s->exemplars[j];
            const Prometheus__Exemplar *x = t->exemplars[j];
            cr_assert_eq(e->n_labels, x->n_labels);
            for (size_t k = 0; k < e->n_labels; k++) {
                cr_assert(slice_is(e->labels[k].name, x->labels[k]->name));
                cr_assert(slice_is(e->labels[k].value, x->labels[k]->value));
            }
            cr_assert_eq(dbits(e->value), dbits(x->value));
            cr_assert_eq(e->ts_ms, x->timestamp);
        }
        cr_assert_eq(s->n_histograms, t->n_histograms);
        cr_assert_eq(s->has_metadata, 0);
    }
    cr_assert_eq(r->n_metadata, w->n_metadata, "%s: metadata", name);
    for (size_t i = 0; i < r->n_metadata; i++) {
        const struct tr_prw_metadata *m = &r->metadata[i];
        const Prometheus__MetricMetadata *p = w->metadata[i];
        cr_assert_eq(m->type, (int)p->type);
        cr_assert(slice_is(m->family, p->metric_family_name));
        cr_assert(slice_is(m->help, p->help));
        cr_assert(slice_is(m->unit, p->unit));
    }
}

/* Semantic equality of two decoded requests (v2 decodes compare metadata
 * per series; v1 decodes request-level metadata). */
static void assert_same_series(const struct tr_prw_request *a,
                               const struct tr_prw_request *b,
                               bool per_series_md)
{
    cr_assert_eq(a->n_series, b->n_series);
    for (size_t i = 0; i < a->n_series; i++) {
        const struct tr_prw_series *x = &a->series[i], *y = &b->series[i];
        cr_assert_eq(x->n_labels, y->n_labels, "series %zu", i);
        for (size_t j = 0; j < x->n_labels; j++) {
            cr_assert(slice_same(x->labels[j].name, y->labels[j].name));
            cr_assert(slice_same(x->labels[j].value, y->labels[j].value));
        }
        cr_assert_eq(x->n_samples, y->n_samples);
        for (size_t j = 0; j < x->n_samples; j++) {
            cr_assert_eq(dbits(x->samples[j].value),
                         dbits(y->samples[j].value));
            cr_assert_eq(x->samples[j].ts_ms, y->samples[j].ts_ms);
        }
        cr_assert_eq(x->n_exemplars, y->n_exemplars);
        for (size_t j = 0; j < x->n_exemplars; j++) {
            const struct tr_prw_exemplar *e = &x->exemplars[j];
            const struct tr_prw_exemplar *f = &y->exemplars[j];
            cr_assert_eq(e->n_labels, f->n_labels);
            for (size_t k = 0; k < e->n_labels; k++) {
                cr_assert(slice_same(e->labels[k].name, f->labels[k].name));
                cr_assert(slice_same(e->labels[k].value, f->labels[k].value));
            }
            cr_assert_eq(dbits(e->value), dbits(f->value));
            cr_assert_eq(e->ts_ms, f->ts_ms);
        }
        if (per_series_md) {
            cr_assert_eq(x->has_metadata, y->has_metadata);
            cr_assert_eq(x->metadata.type, y->metadata.type);
            cr_assert(slice_same(x->metadata.family, y->metadata.family));
            cr_assert(slice_same(x->metadata.help, y->metadata.help));
            cr_assert(slice_same(x->metadata.unit, y->metadata.unit));
            cr_assert_eq(x->created_ts_ms, y->created_ts_ms);
        }
    }
}

static void assert_same_metadata(const struct tr_prw_request *a,
                                 const struct tr_prw_request *b)
{
    cr_assert_eq(a->n_metadata, b->n_metadata);
    for (size_t i = 0; i < a->n_metadata; i++) {
        cr_assert_eq(a->metadata[i].type, b->metadata[i].type);
        cr_assert(slice_same(a->metadata[i].family, b->metadata[i].family));
        cr_assert(slice_same(a->metadata[i].help, b->metadata[i].help));
        cr_assert(slice_same(a->metadata[i].unit, b->metadata[i].unit));
    }
}

/* ---- prw_wire: captured requests ------------------------------------------
 */

Test(prw_wire, decode_v1_matches_protobuf_c)
{
    struct wire_file files[MAX_WIRE_FILES];
    size_t n = load_wire(files);
    size_t total_samples = 0;
    for (size_t f = 0; f < n; f++) {
        struct tr_arena arena;
        tr_arena_init(&arena, 0);
        struct tr_prw_request r;
        char errmsg[TR_ERRMSG_SIZE] = "";
        int rv =
            tr_prw_decode_v1(files[f].data, files[f].len, &arena, &r, errmsg);
        cr_assert_eq(rv, 0, "%s: %s", files[f].name, errmsg);
        cr_assert_eq(r.version, 1);
        Prometheus__WriteRequest *w = prometheus__write_request__unpack(
            NULL, files[f].len, (const uint8_t *)files[f].data);
        cr_assert_not_null(w, "%s: protobuf-c rejects it", files[f].name);
        check_against_pbc(&r, w, files[f].name);
        for (size_t i = 0; i < r.n_series; i++) {
            total_samples += r.series[i].n_samples;
        }
        prometheus__write_request__free_unpacked(w, NULL);
        tr_arena_free(&arena);
    }
    cr_assert_gt(total_samples, 0);
    free_wire(files, n);
}

/* Re-encoding a captured request gives the same message: byte for byte
 * (Prometheus' encoder also omits defaults and keeps field order), and
 * through 2.0 the same series. */
Test(prw_wire, reencode_v1_and_v2)
{
    struct wire_file files[MAX_WIRE_FILES];
    size_t n = load_wire(files);
    for (size_t f = 0; f < n; f++) {
        struct tr_arena arena;
        tr_arena_init(&arena, 0);
        struct tr_prw_request r, r1, r2;
        char errmsg[TR_ERRMSG_SIZE] = "";
        cr_assert_eq(
            tr_prw_decode_v1(files[f].data, files[f].len, &arena, &r, errmsg),
            0, "%s", errmsg);
        struct tr_buf b1, b2;
        tr_buf_init(&b1);
        tr_buf_init(&b2);
        cr_assert_eq(tr_prw_encode_v1(&r, &b1), 0);
        cr_assert_eq(tr_prw_decode_v1(b1.data, b1.len, &arena, &r1, errmsg), 0,
                     "%s", errmsg);
        assert_same_series(&r, &r1, false);
        assert_same_metadata(&r, &r1);
        if (strncmp(files[f].name, "prometheus-2.", 13) == 0) {
            cr_expect_eq(b1.len, files[f].len, "%s: length", files[f].name);
            cr_expect(b1.len == files[f].len &&
                          memcmp(b1.data, files[f].data, b1.len) == 0,
                      "%s: re-encoding differs", files[f].name);
        }
        cr_assert_eq(tr_prw_encode_v2(&r, &b2), 0);
        cr_assert_eq(tr_prw_decode_v2(b2.data, b2.len, &arena, &r2, errmsg), 0,
                     "%s", errmsg);
        assert_same_series(&r, &r2, false);
        cr_assert_lt(b2.len, b1.len, "2.0 should be smaller (symbols)");
        /* protobuf-c agrees on the 2.0 bytes too */
        Io__Prometheus__Write__V2__Request *q =
            io__prometheus__write__v2__request__unpack(NULL, b2.len,
                                                       (uint8_t *)b2.data);
        cr_assert_not_null(q);
        cr_assert_eq(q->n_timeseries, r.n_series);
        cr_assert_str_eq(q->symbols[0], "");
        io__prometheus__write__v2__request__free_unpacked(q, NULL);
        tr_buf_free(&b1);
        tr_buf_free(&b2);
        tr_arena_free(&arena);
    }
    free_wire(files, n);
}

/* Every prefix of every captured request decodes or fails cleanly; the
 * prefix ends exactly at the end of a heap block so ASan sees over-reads. */
Test(prw_wire, truncated_at_every_offset, .timeout = 120)
{
    struct wire_file files[MAX_WIRE_FILES];
    size_t n = load_wire(files);
    for (size_t f = 0; f < n; f++) {
        size_t len = files[f].len;
        char *copy = tr_malloc(len ? len : 1);
        cr_assert_not_null(copy);
        struct tr_arena arena;
        tr_arena_init(&arena, 0);
        size_t ok = 0;
        for (size_t k = 0; k < len; k++) {
            char *p = copy + (len - k);
            memcpy(p, files[f].data, k);
            struct tr_prw_request r;
            char errmsg[TR_ERRMSG_SIZE] = "";
            int rv = tr_prw_decode_v1(p, k, &arena, &r, errmsg);
            cr_assert(rv == 0 || rv == TR_EPROTO, "%s@%zu: %d", files[f].name,
                      k, rv);
            if (rv == TR_EPROTO) {
                cr_assert(strstr(errmsg, "at offset") != NULL, "%s", errmsg);
            } else {
                ok++;
            }
            rv = tr_prw_decode_v2(p, k, &arena, &r, errmsg);
            cr_assert(rv == 0 || rv == TR_EPROTO);
            tr_arena_reset(&arena);
        }
        cr_assert_gt(ok, 0); /* at least the empty prefix */
        tr_arena_free(&arena);
        tr_free(copy);
    }
    free_wire(files, n);
}

/* Single-byte corruption at every offset: no crash, codes stay in range,
 * and whatever decodes re-encodes. */
Test(prw_wire, corrupted_bytes, .timeout = 120)
{
    struct wire_file files[MAX_WIRE_FILES];
    size_t n = load_wire(files);
    for (size_t f = 0; f < n; f++) {
        size_t len = files[f].len;
        char *copy = tr_malloc(len ? len : 1);
        cr_assert_not_null(copy);
        memcpy(copy, files[f].data, len);
        struct tr_arena arena;
        tr_arena_init(&arena, 0);
        size_t step = len / 2000 + 1;
        static const unsigned char repl[] = {0x00, 0x80, 0xff, 0x0b, 0x07};
        for (size_t k = 0; k < len; k += step) {
            for (size_t v = 0; v < sizeof(repl); v++) {
                char old = copy[k];
                copy[k] = (char)repl[v];
                struct tr_prw_request r;
                int rv = tr_prw_decode_v1(copy, len, &arena, &r, NULL);
                cr_assert(rv == 0 || rv == TR_EPROTO);
                if (rv == 0) {
                    struct tr_buf b;
                    tr_buf_init(&b);
                    cr_assert_eq(tr_prw_encode_v1(&r, &b), 0);
                    tr_buf_free(&b);
                }
                copy[k] = old;
                tr_arena_reset(&arena);
            }
        }
        tr_arena_free(&arena);
        tr_free(copy);
    }
    free_wire(files, n);
}

/* ---- prw_roundtrip
 * ----------------------------------------------------------- */

#define L(n, v)                          \
    {                                    \
        TR_SLICE_LIT(n), TR_SLICE_LIT(v) \
    }

/* A request exercising every encodable field: stale marker, negative and
 * zero timestamps, -0.0, infinities, an empty label set, empty strings,
 * exemplars with and without labels, per-series 2.0 metadata and created
 * timestamps, request-level 1.0 metadata. */
struct fixture {
    struct tr_prw_label l0[3], l2[2], ex_l[2];
    struct tr_prw_sample s0[5], s1[1];
    struct tr_prw_exemplar ex[2];
    struct tr_prw_series series[3];
    struct tr_prw_metadata md[2];
    struct tr_prw_request req;
};

static void fixture_init(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    struct tr_prw_label l0[3] = {L("__name__", "http_requests_total"),
                                 L("job", "api"), L("empty", "")};
    struct tr_prw_label l2[2] = {L("__name__", "up"), L("instance", "a:1")};
    struct tr_prw_label ex_l[2] = {L("trace_id", "abc123"),
                                   L("span_id", "def")};
    memcpy(f->l0, l0, sizeof(l0));
    memcpy(f->l2, l2, sizeof(l2));
    memcpy(f->ex_l, ex_l, sizeof(ex_l));
    f->s0[0] = (struct tr_prw_sample){1.5, 1700000000000};
    f->s0[1] =
        (struct tr_prw_sample){bits_d(TR_PRW_STALE_NAN_BITS), 1700000015000};
    f->s0[2] = (struct tr_prw_sample){-0.0, -1};
    f->s0[3] = (struct tr_prw_sample){INFINITY, INT64_MIN};
    f->s0[4] = (struct tr_prw_sample){0.0, 0};
    f->s1[0] = (struct tr_prw_sample){42, -1700000000000};
    f->ex[0] = (struct tr_prw_exemplar){f->ex_l, 2, 0.25, 1700000000001};
    f->ex[1] = (struct tr_prw_exemplar){NULL, 0, -3, -5};
    f->series[0] = (struct tr_prw_series){
        .labels = f->l0,
        .n_labels = 3,
        .samples = f->s0,
        .n_samples = 5,
        .exemplars = f->ex,
        .n_exemplars = 2,
        .has_metadata = 1,
        .metadata = {TR_PRW_COUNTER, TR_SLICE_LIT("http_requests_total"),
                     TR_SLICE_LIT("Requests."), TR_SLICE_LIT("")},
        .created_ts_ms = 1600000000000,
    };
    f->series[1] = (struct tr_prw_series){.samples = f->s1, .n_samples = 1};
    f->series[2] = (struct tr_prw_series){
        .labels = f->l2,
        .n_labels = 2,
        .has_metadata = 1,
        .metadata = {TR_PRW_GAUGE, TR_SLICE_LIT("up"), TR_SLICE_LIT(""),
                     TR_SLICE_LIT("seconds")},
        .created_ts_ms = -7,
    };
    f->md[0] = (struct tr_prw_metadata){
        TR_PRW_COUNTER, TR_SLICE_LIT("http_requests_total"),
        TR_SLICE_LIT("Requests."), TR_SLICE_LIT("")};
    f->md[1] = (struct tr_prw_metadata){TR_PRW_SUMMARY, TR_SLICE_LIT("rpc"),
                                        TR_SLICE_LIT(""), TR_SLICE_LIT("s")};
    f->req = (struct tr_prw_request){1, f->series, 3, f->md, 2};
}

Test(prw_roundtrip, v1_all_fields)
{
    struct fixture f;
    fixture_init(&f);
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_prw_encode_v1(&f.req, &b), 0);
    struct tr_arena arena;
    tr_arena_init(&arena, 0);
    struct tr_prw_request r;
    char errmsg[TR_ERRMSG_SIZE] = "";
    cr_assert_eq(tr_prw_decode_v1(b.data, b.len, &arena, &r, errmsg), 0, "%s",
                 errmsg);
    cr_assert_eq(r.version, 1);
    assert_same_series(&f.req, &r, false);
    assert_same_metadata(&f.req, &r);
    cr_assert_eq(dbits(r.series[0].samples[1].value), TR_PRW_STALE_NAN_BITS);
    cr_assert_eq(dbits(r.series[0].samples[2].value), dbits(-0.0));
    cr_assert_eq(r.series[0].samples[3].ts_ms, INT64_MIN);
    cr_assert_eq(r.series[1].n_labels, 0);
    cr_assert_null(r.series[1].labels);
    cr_assert_eq(r.series[0].has_metadata, 0, "1.0 has no series metadata");
    /* protobuf-c reads the same thing */
    Prometheus__WriteRequest *w =
        prometheus__write_request__unpack(NULL, b.len, (uint8_t *)b.data);
    cr_assert_not_null(w);
    check_against_pbc(&r, w, "fixture");
    prometheus__write_request__free_unpacked(w, NULL);
    /* protobuf-c's encoder produces our bytes, once -0.0 is out of the way
     * (protobuf-c and gogoproto drop it as a default value; we keep its
     * bits, like Go's protobuf) */
    f.s0[2].value = -2.5;
    tr_buf_reset(&b);
    cr_assert_eq(tr_prw_encode_v1(&f.req, &b), 0);
    w = prometheus__write_request__unpack(NULL, b.len, (uint8_t *)b.data);
    cr_assert_not_null(w);
    size_t plen = prometheus__write_request__get_packed_size(w);
    uint8_t *pbuf = tr_malloc(plen);
    cr_assert_not_null(pbuf);
    prometheus__write_request__pack(w, pbuf);
    cr_assert_eq(plen, b.len);
    cr_assert_eq(memcmp(pbuf, b.data, plen), 0);
    tr_free(pbuf);
    prometheus__write_request__free_unpacked(w, NULL);
    tr_arena_free(&arena);
    tr_buf_free(&b);
}

Test(prw_roundtrip, v2_all_fields)
{
    struct fixture f;
    fixture_init(&f);
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_prw_encode_v2(&f.req, &b), 0);
    struct tr_arena arena;
    tr_arena_init(&arena, 0);
    struct tr_prw_request r;
    char errmsg[TR_ERRMSG_SIZE] = "";
    cr_assert_eq(tr_prw_decode_v2(b.data, b.len, &arena, &r, errmsg), 0, "%s",
                 errmsg);
    cr_assert_eq(r.version, 2);
    assert_same_series(&f.req, &r, true);
    cr_assert_eq(r.n_metadata, 0);
    cr_assert_eq(dbits(r.series[0].samples[1].value), TR_PRW_STALE_NAN_BITS);
    cr_assert(slice_is(r.series[2].metadata.family, "up"));
    cr_assert_eq(r.series[1].has_metadata, 0);
    cr_assert_eq(r.series[2].created_ts_ms, -7);

    Io__Prometheus__Write__V2__Request *q =
        io__prometheus__write__v2__request__unpack(NULL, b.len,
                                                   (uint8_t *)b.data);
    cr_assert_not_null(q);
    cr_assert_str_eq(q->symbols[0], "");
    cr_assert_eq(q->n_timeseries, 3);
    /* symbols are de-duplicated: "http_requests_total" is a label value and
     * not repeated; 14 distinct non-empty strings + "" */
    cr_assert_eq(q->n_symbols, 15);
    Io__Prometheus__Write__V2__TimeSeries *t = q->timeseries[0];
    cr_assert_eq(t->n_labels_refs, 6);
    cr_assert_str_eq(q->symbols[t->labels_refs[1]], "http_requests_total");
    cr_assert_eq(t->labels_refs[5], 0, "empty value is symbol 0");
    cr_assert_str_eq(q->symbols[t->metadata->help_ref], "Requests.");
    cr_assert_eq(t->metadata->unit_ref, 0);
    cr_assert_eq(t->created_timestamp, 1600000000000);
    cr_assert_eq(t->n_exemplars, 2);
    cr_assert_eq(dbits(t->samples[1]->value), TR_PRW_STALE_NAN_BITS);
    io__prometheus__write__v2__request__free_unpacked(q, NULL);
    tr_arena_free(&arena);
    tr_buf_free(&b);
}

Test(prw_roundtrip, metadata_only_and_empty)
{
    struct fixture f;
    fixture_init(&f);
    struct tr_prw_request md_only = {1, NULL, 0, f.md, 2};
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_prw_encode_v1(&md_only, &b), 0);
    struct tr_arena arena;
    tr_arena_init(&arena, 0);
    struct tr_prw_request r;
    cr_assert_eq(tr_prw_decode_v1(b.data, b.len, &arena, &r, NULL), 0);
    cr_assert_eq(r.n_series, 0);
    cr_assert_null(r.series);
    assert_same_metadata(&md_only, &r);

    /* empty 1.0 request: zero bytes */
    struct tr_prw_request empty = {1, NULL, 0, NULL, 0};
    tr_buf_reset(&b);
    cr_assert_eq(tr_prw_encode_v1(&empty, &b), 0);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(tr_prw_decode_v1(b.data, 0, &arena, &r, NULL), 0);
    cr_assert_eq(tr_prw_decode_v1(NULL, 0, &arena, &r, NULL), 0);
    cr_assert_eq(r.n_series + r.n_metadata, 0);

    /* empty 2.0 request: just symbols[0] = "" */
    tr_buf_reset(&b);
    cr_assert_eq(tr_prw_encode_v2(&empty, &b), 0);
    cr_assert_eq(b.len, 2);
    cr_assert_eq(memcmp(b.data, "\x22\x00", 2), 0);
    cr_assert_eq(tr_prw_decode_v2(b.data, b.len, &arena, &r, NULL), 0);
    cr_assert_eq(r.n_series, 0);
    cr_assert_eq(tr_prw_decode_v2(NULL, 0, &arena, &r, NULL), 0);

    /* series with an empty label set and one metadata-only series */
    struct tr_prw_series s[2] = {{0}, {0}};
    s[1].has_metadata = 1;
    s[1].metadata.type = TR_PRW_INFO;
    struct tr_prw_request two = {2, s, 2, NULL, 0};
    tr_buf_reset(&b);
    cr_assert_eq(tr_prw_encode_v2(&two, &b), 0);
    cr_assert_eq(tr_prw_decode_v2(b.data, b.len, &arena, &r, NULL), 0);
    assert_same_series(&two, &r, true);
    tr_buf_reset(&b);
    cr_assert_eq(tr_prw_encode_v1(&two, &b), 0);
    cr_assert_eq(tr_prw_decode_v1(b.data, b.len, &arena, &r, NULL), 0);
    cr_assert_eq(r.n_series, 2);
    tr_arena_free(&arena);
    tr_buf_free(&b);
}

Test(prw_roundtrip, encode_rejects_missing_arrays)
{
    struct tr_prw_series s = {0};
    s.n_samples = 3; /* samples NULL */
    struct tr_prw_request r = {1, &s, 1, NULL, 0};
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_prw_encode_v1(&r, &b), TR_EINVAL);
    cr_assert_eq(tr_prw_encode_v2(&r, &b), TR_EINVAL);
    tr_buf_free(&b);
}

/* Many series sharing strings: the 2.0 symbol table de-duplicates and the
 * hash index grows past its initial size. */
Test(prw_roundtrip, v2_many_series)
{
    enum { N = 2000 };
    static char names[N][16];
    static struct tr_prw_label labels[N][2];
    static struct tr_prw_sample samples[N];
    static struct tr_prw_series series[N];
    for (size_t i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "i%zu", i % 700);
        labels[i][0] =
            (struct tr_prw_label){TR_SLICE_LIT("__name__"), TR_SLICE_LIT("m")};
        labels[i][1] = (struct tr_prw_label){TR_SLICE_LIT("instance"),
                                             tr_slice_cstr(names[i])};
        samples[i] = (struct tr_prw_sample){(double)i, (int64_t)i * 1000};
        series[i] = (struct tr_prw_series){.labels = labels[i],
                                           .n_labels = 2,
                                           .samples = &samples[i],
                                           .n_samples = 1};
    }
    struct tr_prw_request req = {2, series, N, NULL, 0};
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_prw_encode_v2(&req, &b), 0);
    struct tr_arena arena;
    tr_arena_init(&arena, 0);
    struct tr_prw_request r;
    char errmsg[TR_ERRMSG_SIZE] = "";
    cr_assert_eq(tr_prw_decode_v2(b.data, b.len, &arena, &r, errmsg), 0, "%s",
                 errmsg);
    assert_same_series(&req, &r, false);
    Io__Prometheus__Write__V2__Request *q =
        io__prometheus__write__v2__request__unpack(NULL, b.len,
                                                   (uint8_t *)b.data);
    cr_assert_not_null(q);
    cr_assert_eq(q->n_symbols, 1 + 3 + 700); /* "", __name__, m, instance */
    io__prometheus__write__v2__request__free_unpacked(q, NULL);
    tr_arena_free(&arena);
    tr_buf_free(&b);
}

Test(prw_roundtrip, out_of_memory)
{
    struct fixture f;
    fixture_init(&f);
    struct tr_buf enc1, enc2;
    tr_buf_init(&enc1);
    tr_buf_init(&enc2);
    cr_assert_eq(tr_prw_encode_v1(&f.req, &enc1), 0);
    cr_assert_eq(tr_prw_encode_v2(&f.req, &enc2), 0);
    tr_test_oom_install(1000);
    for (int budget = 0; budget < 8; budget++) {
        struct tr_arena arena;
        tr_arena_init(&arena, 256);
        struct tr_prw_request r;
        tr_test_oom_budget(budget);
        int rv = tr_prw_decode_v1(enc1.data, enc1.len, &arena, &r, NULL);
        cr_assert(rv == 0 || rv == TR_ENOMEM, "v1 budget %d: %d", budget, rv);
        tr_arena_free(&arena);
        tr_arena_init(&arena, 256);
        tr_test_oom_budget(budget);
        rv = tr_prw_decode_v2(enc2.data, enc2.len, &arena, &r, NULL);
        cr_assert(rv == 0 || rv == TR_ENOMEM, "v2 budget %d: %d", budget, rv);
        tr_arena_free(&arena);
        struct tr_buf b;
        tr_buf_init(&b);
        tr_test_oom_budget(budget);
        rv = tr_prw_encode_v2(&f.req, &b);
        cr_assert(rv == 0 || rv == TR_ENOMEM);
        tr_test_oom_budget(1000);
        tr_buf_free(&b);
    }
    tr_test_oom_remove();
    tr_buf_free(&enc1);
    tr_buf_free(&enc2);
}

/* ---- prw_malformed
 * ------------------------------------------------------------- */

static int dec1(const char *bytes, size_t len, char *errmsg)
{
    struct tr_arena arena;
    tr_arena_init(&arena, 0);
    struct tr_prw_request r;
    /* exact-size heap copy so ASan catches any over-read */
    char *copy = tr_malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, bytes, len);
    int rv = tr_prw_decode_v1(copy, len, &arena, &r, errmsg);
    tr_free(copy);
    tr_arena_free(&arena);
    return rv;
}

static int dec2(const char *bytes, size_t len, char *errmsg)
{
    struct tr_arena arena;
    tr_arena_init(&arena, 0);
    struct tr_prw_request r;
    char *copy = tr_malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, bytes, len);
    int rv = tr_prw_decode_v2(copy, len, &arena, &r, errmsg);
    tr_free(copy);
    tr_arena_free(&arena);
    return rv;
}

#define BYTES(s) (s), sizeof(s) - 1

Test(prw_malformed, bad_varints)
{
    char e[TR_ERRMSG_SIZE];
    /* tag varint longer than 10 bytes */
    cr_assert_eq(dec1(BYTES("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), e),
                 TR_EPROTO);
    /* tag varint truncated */
    cr_assert_eq(dec1(BYTES("\x80"), e), TR_EPROTO);
    cr_assert(strstr(e, "at offset 0") != NULL, "%s", e);
    /* tag beyond 32 bits */
    cr_assert_eq(dec1(BYTES("\x80\x80\x80\x80\x80\x01"), e), TR_EPROTO);
    /* 10th byte overflowing 64 bits in a sample timestamp */
    cr_assert_eq(
        dec1(BYTES("\x0a\x0d\x12\x0b\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff"
                   "\x02"),
             e),
        TR_EPROTO);
    cr_assert(strstr(e, "prometheus.Sample") != NULL, "%s", e);
    cr_assert(strstr(e, "offset 5") != NULL, "%s", e);
    /* truncated length varint */
    cr_assert_eq(dec1(BYTES("\x0a\x80"), e), TR_EPROTO);
}

Test(prw_malformed, huge_and_overlong_lengths)
{
    char e[TR_ERRMSG_SIZE];
    cr_assert_eq(dec1(BYTES("\x0a\xff\xff\xff\xff\x0f"), e), TR_EPROTO);
    cr_assert(strstr(e, "exceeds") != NULL, "%s", e);
    cr_assert(strstr(e, "offset 1") != NULL, "%s", e);
    cr_assert_eq(dec1(BYTES("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\x7f"), e),
                 TR_EPROTO);
    /* inner length runs past its parent though not past the buffer */
    cr_assert_eq(dec1(BYTES("\x0a\x02\x0a\x05\x0a\x01\x61\x12\x00"), e),
                 TR_EPROTO);
    cr_assert(strstr(e, "prometheus.TimeSeries") != NULL, "%s", e);
    cr_assert(strstr(e, "timeseries[0]") != NULL, "%s", e);
    /* same for 2.0 */
    cr_assert_eq(dec2(BYTES("\x22\xff\xff\xff\xff\x0f"), e), TR_EPROTO);
    cr_assert_eq(dec2(BYTES("\x22\x00\x2a\x03\x0a\x05\x00"), e), TR_EPROTO);
}

Test(prw_malformed, wire_types_and_field_zero)
{
    char e[TR_ERRMSG_SIZE];
    cr_assert_eq(dec1(BYTES("\x02\x00"), e), TR_EPROTO); /* field 0 */
    cr_assert(strstr(e, "field number 0") != NULL, "%s", e);
    cr_assert_eq(dec1(BYTES("\x0e"), e), TR_EPROTO); /* wire type 6 */
    cr_assert(strstr(e, "invalid wire type 6") != NULL, "%s", e);
    cr_assert_eq(dec1(BYTES("\x0f"), e), TR_EPROTO);     /* wire type 7 */
    cr_assert_eq(dec1(BYTES("\x0b\x0c"), e), TR_EPROTO); /* group */
    cr_assert(strstr(e, "group") != NULL, "%s", e);
    cr_assert_eq(dec1(BYTES("\x0c"), e), TR_EPROTO); /* end group */
    /* known field, wrong wire type */
    cr_assert_eq(dec1(BYTES("\x08\x01"), e), TR_EPROTO);
    cr_assert(strstr(e, "expected 2") != NULL, "%s", e);
    /* sample value as varint */
    cr_assert_eq(dec1(BYTES("\x0a\x04\x12\x02\x08\x01"), e), TR_EPROTO);
    /* truncated double */
    cr_assert_eq(dec1(BYTES("\x0a\x06\x12\x04\x09\x00\x00\x00"), e), TR_EPROTO);
    cr_assert(strstr(e, "truncated double") != NULL, "%s", e);
    /* truncated skipped fixed64 / fixed32 */
    cr_assert_eq(dec1(BYTES("\x79\x00\x00"), e), TR_EPROTO);
    cr_assert_eq(dec1(BYTES("\x7d\x00\x00"), e), TR_EPROTO);
    /* group inside a nested message */
    cr_assert_eq(dec1(BYTES("\x0a\x02\x0a\x00\x0a\x02\x13\x14"), e), TR_EPROTO);
    cr_assert(strstr(e, "timeseries[1]") != NULL, "%s", e);
}

Test(prw_malformed, unknown_fields_are_skipped)
{
    /* request: field 15 varint, field 16 fixed64, 2 (reserved) len, field 17
     * fixed32, then a series {label {name "a" value "b" field 9 varint}, a
     * sample {value 1.0, ts 5, field 7 len}, field 20 len} */
    static const char msg[] =
        "\x78\x96\x01"                             /* 15: varint 150 */
        "\x81\x01\x01\x02\x03\x04\x05\x06\x07\x08" /* 16: fixed64 */
        "\x12\x03xyz"                              /* 2: reserved, len */
        "\x8d\x01\x01\x02\x03\x04"                 /* 17: fixed32 */
        "\x0a\x1e"                                 /* 1: series (30 bytes) */
        "\x0a\x08\x0a\x01"
        "a"
        "\x12\x01"
        "b"
        "\x48\x01" /* label (10) */
        "\x12\x0f\x09\x00\x00\x00\x00\x00\x00\xf0\x3f\x10\x05\x3a\x02zz"
        "\xa2\x01\x00"; /* field 20 len 0 */
    struct tr_arena arena;
    tr_arena_init(&arena, 0);
    struct tr_prw_request r;
    char e[TR_ERRMSG_SIZE] = "";
    cr_assert_eq(tr_prw_decode_v1(msg, sizeof(msg) - 1, &arena, &r, e), 0, "%s",
                 e);
    cr_assert_eq(r.n_series, 1);
    cr_assert_eq(r.series[0].n_labels, 1);
    cr_assert(slice_is(r.series[0].labels[0].name, "a"));
    cr_assert(slice_is(r.series[0].labels[0].value, "b"));
    cr_assert_eq(r.series[0].n_samples, 1);
    cr_assert_eq(r.series[0].samples[0].value, 1.0);
    cr_assert_eq(r.series[0].samples[0].ts_ms, 5);
    /* protobuf-c agrees */
    Prometheus__WriteRequest *w = prometheus__write_request__unpack(
        NULL, sizeof(msg) - 1, (const uint8_t *)msg);
    cr_assert_not_null(w);
    check_against_pbc(&r, w, "unknown");
    prometheus__write_request__free_unpacked(w, NULL);
    tr_arena_free(&arena);
}

Test(prw_malformed, v1_histograms_counted_and_last_scalar_wins)
{
    /* series with two histograms (contents skipped), a sample whose ts is
     * given twice (last wins, negative = 10 bytes) */
    static const char msg[] =
        "\x0a\x16"
        "\x22\x02\x08\x01"
        "\x22\x00"
        "\x12\x0e\x10\x01\x10\xff\xff\xff\xff\xff\xff"
        "\xff\xff\xff\x01\x09";
    struct tr_arena arena;
    tr_arena_init(&arena, 0);
    struct tr_prw_request r;
    char e[TR_ERRMSG_SIZE] = "";
    /* the last sample field is a truncated double: error */
    cr_assert_eq(tr_prw_decode_v1(msg, sizeof(msg) - 1, &arena, &r, e),
                 TR_EPROTO);
    cr_assert(strstr(e, "truncated double") != NULL, "%s", e);
    static const char ok[] =
        "\x0a\x15"
        "\x22\x02\x08\x01"
        "\x22\x00"
        "\x12\x0d\x10\x01\x10\xff\xff\xff\xff\xff\xff"
        "\xff\xff\xff\x01";
    cr_assert_eq(tr_prw_decode_v1(ok, sizeof(ok) - 1, &arena, &r, e), 0, "%s",
                 e);
    cr_assert_eq(r.series[0].n_histograms, 2);
    cr_assert_eq(r.series[0].n_samples, 1);
    cr_assert_eq(r.series[0].samples[0].ts_ms, -1);
    tr_arena_free(&arena);
}

Test(prw_malformed, v2_symbols_and_refs)
{
    char e[TR_ERRMSG_SIZE];
    struct tr_arena arena;
    tr_arena_init(&arena, 0);
    struct tr_prw_request r;
    /* symbols ["", "a", "b"], series refs unpacked 1, then packed [2],
     * then packed [1 2]: labels a=b, a=b */
    static const char mixed[] =
        "\x22\x00\x22\x01"
        "a"
        "\x22\x01"
        "b"
        "\x2a\x09\x08\x01\x0a\x01\x02\x0a\x02\x01\x02";
    cr_assert_eq(tr_prw_decode_v2(mixed, sizeof(mixed) - 1, &arena, &r, e), 0,
                 "%s", e);
    cr_assert_eq(r.series[0].n_labels, 2);
    cr_assert(slice_is(r.series[0].labels[0].name, "a"));
    cr_assert(slice_is(r.series[0].labels[0].value, "b"));
    cr_assert(slice_is(r.series[0].labels[1].name, "a"));
    cr_assert(slice_is(r.series[0].labels[1].value, "b"));
    /* protobuf-c reads the mix the same way */
    Io__Prometheus__Write__V2__Request *q =
        io__prometheus__write__v2__request__unpack(NULL, sizeof(mixed) - 1,
                                                   (const uint8_t *)mixed);
    cr_assert_not_null(q);
    cr_assert_eq(q->timeseries[0]->n_labels_refs, 4);
    io__prometheus__write__v2__request__free_unpacked(q, NULL);

    /* symbols[0] not "" */
    cr_assert_eq(dec2(BYTES("\x22\x01x\x2a\x00"), e), TR_EPROTO);
    cr_assert(strstr(e, "symbols[0]") != NULL, "%s", e);
    cr_assert_eq(dec2(BYTES("\x22\x01x"), e), TR_EPROTO);
    /* series but no symbols */
    cr_assert_eq(dec2(BYTES("\x2a\x00"), e), TR_EPROTO);
    /* ref out of range */
    cr_assert_eq(dec2(BYTES("\x22\x00\x2a\x04\x0a\x02\x00\x05"), e), TR_EPROTO);
    cr_assert(strstr(e, "out of range") != NULL, "%s", e);
    cr_assert(strstr(e, "offset 7") != NULL, "%s", e);
    /* odd number of refs */
    cr_assert_eq(dec2(BYTES("\x22\x00\x2a\x03\x0a\x01\x00"), e), TR_EPROTO);
    cr_assert(strstr(e, "odd") != NULL, "%s", e);
    /* exemplar ref out of range / odd */
    cr_assert_eq(dec2(BYTES("\x22\x00\x2a\x06\x22\x04\x0a\x02\x00\x09"), e),
                 TR_EPROTO);
    cr_assert_eq(dec2(BYTES("\x22\x00\x2a\x05\x22\x03\x0a\x01\x00"), e),
                 TR_EPROTO);
    /* help_ref out of range */
    cr_assert_eq(dec2(BYTES("\x22\x00\x2a\x04\x2a\x02\x18\x03"), e), TR_EPROTO);
    cr_assert(strstr(e, "help") != NULL, "%s", e);
    /* labels_refs with a fixed64 wire type */
    cr_assert_eq(
        dec2(BYTES("\x22\x00\x2a\x09\x09\x00\x00\x00\x00\x00\x00\x00\x00"), e),
        TR_EPROTO);
    /* truncated varint inside a packed run */
    cr_assert_eq(dec2(BYTES("\x22\x00\x2a\x03\x0a\x01\x80"), e), TR_EPROTO);
    /* unknown top-level fields 1..3 (1.0's) are skipped */
    cr_assert_eq(dec2(BYTES("\x0a\x00\x1a\x00\x22\x00"), e), 0, "%s", e);
    /* metadata merged across two occurrences */
    static const char md[] =
        "\x22\x00\x22\x01h\x22\x01u"
        "\x2a\x0a\x2a\x04\x08\x02\x18\x01\x2a\x02\x20"
        "\x02";
    cr_assert_eq(tr_prw_decode_v2(md, sizeof(md) - 1, &arena, &r, e), 0, "%s",
                 e);
    cr_assert_eq(r.series[0].has_metadata, 1);
    cr_assert_eq(r.series[0].metadata.type, TR_PRW_GAUGE);
    cr_assert(slice_is(r.series[0].metadata.help, "h"));
    cr_assert(slice_is(r.series[0].metadata.unit, "u"));
    cr_assert_eq(r.series[0].metadata.family.len, 0);
    tr_arena_free(&arena);
}

Test(prw_malformed, errmsg_null_is_fine)
{
    cr_assert_eq(dec1(BYTES("\x0a\xff\x01"), NULL), TR_EPROTO);
    cr_assert_eq(dec2(BYTES("\x22\x01x"), NULL), TR_EPROTO);
    struct tr_arena arena;
    tr_arena_init(&arena, 0);
    struct tr_prw_request r;
    cr_assert_eq(tr_prw_decode_v1(NULL, 3, &arena, &r, NULL), TR_EINVAL);
    tr_arena_free(&arena);
}
