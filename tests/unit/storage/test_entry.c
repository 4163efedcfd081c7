/* Tests for storage/entry.c: encode/decode round trip, LZ4 form, corrupt
 * input. */
#include <criterion/criterion.h>
#include <string.h>

#include "storage/entry.h"

Test(entry, roundtrip_plain_and_compressed)
{
    for (int big = 0; big < 2; big++) {
        size_t ns = big ? 500 : 1;
        struct tr_entry_series *ser = calloc(ns, sizeof(*ser));
        struct tr_label ls[2] = {{TR_SLICE_LIT("__name__"), TR_SLICE_LIT("up")},
                                 {TR_SLICE_LIT("job"), TR_SLICE_LIT("node")}};
        int64_t ts[3] = {-1, 1700000000000LL, 1700000015000LL};
        double vs[3] = {1, 0.5, -2};
        for (size_t i = 0; i < ns; i++) {
            ser[i] = (struct tr_entry_series){.labels = ls,
                                              .n_labels = 2,
                                              .ts = ts,
                                              .vs = vs,
                                              .n_samples = 3};
        }
        struct tr_entry_meta meta = {1, TR_SLICE_LIT("up"), TR_SLICE_LIT("h"),
                                     TR_SLICE_LIT("")};
        struct tr_entry_metrics m = {.tenant = TR_SLICE_LIT("t"),
                                     .series = ser,
                                     .n_series = ns,
                                     .meta = &meta,
                                     .n_meta = 1};
        struct tr_buf b;
        tr_buf_init(&b);
        cr_assert_eq(tr_entry_metrics_encode(&m, &b), 0);
        cr_assert_eq((uint8_t)b.data[1],
                     big ? TR_ENTRY_METRICS_LZ4 : TR_ENTRY_METRICS_VERSION);
        struct tr_arena a;
        tr_arena_init(&a, 4096);
        struct tr_entry_metrics d;
        cr_assert_eq(tr_entry_metrics_decode(b.data, b.len, &a, &d), 0);
        cr_assert_eq(d.n_series, ns);
        cr_assert(tr_slice_eq_cstr(d.tenant, "t"));
        cr_assert_eq(d.series[ns - 1].n_samples, 3);
        cr_assert_eq(d.series[ns - 1].ts[0], -1);
        cr_assert_eq(d.series[ns - 1].vs[2], -2);
        cr_assert_eq(d.n_meta, 1);
        cr_assert(tr_slice_eq_cstr(d.meta[0].help, "h"));
        struct tr_label *dl;
        size_t dn;
        cr_assert_eq(tr_labels_decode(d.series[0].enc.base, d.series[0].enc.len,
                                      &a, &dl, &dn),
                     0);
        cr_assert_eq(dn, 2);
        cr_assert(tr_slice_eq_cstr(dl[1].value, "node"));
        /* truncations never decode into garbage silently past the end */
        for (size_t cut = 0; cut < b.len; cut++) {
            struct tr_entry_metrics x;
            cr_assert_neq(tr_entry_metrics_decode(b.data, cut, &a, &x), 0,
                          "cut=%zu", cut);
        }
        tr_arena_free(&a);
        tr_buf_free(&b);
        free(ser);
    }
}
