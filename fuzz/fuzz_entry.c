/* fuzz_entry.c - libFuzzer driver for the metrics write-entry decoder
 * (storage/entry.h), the drop-tenant entry (storage/retention.h) and the
 * canonical label-set decoder under it
 * (storage/labels.h).
 *
 * Properties checked on arbitrary bytes:
 *  - decode returns 0, TR_ECORRUPT or TR_ENOMEM and never reads out of
 *    bounds; every slice it returns lies inside the input;
 *  - each series' canonical label bytes go through tr_labels_decode, and a
 *    decoded label set re-encodes to at most as many bytes and decodes back
 *    to the same labels;
 *  - for uncompressed inputs (versions 1 and 3) every slice the decoder
 *    returns lies inside the input;
 *  - when every label set decodes (and, for legacy version 1 input, no
 *    series is empty: the encoder drops those), the whole entry is
 *    re-encoded as version 3/4: decode(encode(x)) == x field by field
 *    (sample values compared as bits, the out-of-order window included),
 *    an uncompressed version 3 input re-encodes to at most its length when
 *    the output stays uncompressed, and encoding is a fixpoint
 *    (encode(decode(encode(x))) == encode(x) byte for byte). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "storage/entry.h"
#include "storage/labels.h"
#include "storage/retention.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_in(struct tr_slice s, const uint8_t *data, size_t size)
{
    if (s.len == 0) {
        return;
    }
    const uint8_t *p = (const uint8_t *)s.base;
    if (p < data || s.len > size || (size_t)(p - data) > size - s.len) {
        abort(); /* slice points outside the input */
    }
}

static bool slice_same(struct tr_slice a, struct tr_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

static bool labels_same(const struct tr_label *a,
                        size_t na,
                        const struct tr_label *b,
                        size_t nb)
{
    if (na != nb) {
        return false;
    }
    for (size_t i = 0; i < na; i++) {
        if (!slice_same(a[i].name, b[i].name) ||
            !slice_same(a[i].value, b[i].value)) {
            return false;
        }
    }
    return true;
}

/* Labels of one series: decode, re-encode, decode again. Returns the
 * decode result of the original bytes. */
static int check_labels(struct tr_slice enc,
                        struct tr_arena *a,
                        struct tr_label **out,
                        size_t *n)
{
    int rv = tr_labels_decode(enc.base, enc.len, a, out, n);
    if (rv != 0) {
        if (rv != TR_ECORRUPT && rv != TR_ENOMEM) {
            abort();
        }
        return rv;
    }
    for (size_t i = 0; i < *n; i++) {
        check_in((*out)[i].name, (const uint8_t *)enc.base, enc.len);
        check_in((*out)[i].value, (const uint8_t *)enc.base, enc.len);
    }
    struct tr_buf b;
    tr_buf_init(&b);
    if (tr_labels_encode(*out, *n, &b) == 0) {
        struct tr_label *again = NULL;
        size_t n2 = 0;
        if (b.len > enc.len ||
            tr_labels_decode(b.data, b.len, a, &again, &n2) != 0 ||
            !labels_same(*out, *n, again, n2)) {
            abort(); /* label round trip failed */
        }
    }
    tr_buf_free(&b);
    return 0;
}

static bool entries_same(const struct tr_entry_metrics *x,
                         const struct tr_entry_metrics *y)
{
    if (!slice_same(x->tenant, y->tenant) || x->n_series != y->n_series ||
        x->n_meta != y->n_meta || x->ooo_window_ms != y->ooo_window_ms) {
        return false;
    }
    for (size_t i = 0; i < x->n_series; i++) {
        const struct tr_entry_series *s = &x->series[i];
        const struct tr_entry_series *t = &y->series[i];
        if (!labels_same(s->labels, s->n_labels, t->labels, t->n_labels) ||
            s->n_samples != t->n_samples) {
            return false;
        }
        if (s->n_samples > 0 &&
            (memcmp(s->ts, t->ts, s->n_samples * sizeof(int64_t)) != 0 ||
             memcmp(s->vs, t->vs, s->n_samples * sizeof(double)) != 0)) {
            return false;
        }
    }
    for (size_t i = 0; i < x->n_meta; i++) {
        const struct tr_entry_meta *m = &x->meta[i];
        const struct tr_entry_meta *k = &y->meta[i];
        if (m->type != k->type || !slice_same(m->metric, k->metric) ||
            !slice_same(m->help, k->help) || !slice_same(m->unit, k->unit)) {
            return false;
        }
    }
    return true;
}

/* Decodes buf and fills in the labels of every series; 0 when all of it
 * decoded. */
static int decode_full(const void *buf,
                       size_t len,
                       struct tr_arena *a,
                       struct tr_entry_metrics *m)
{
    int rv = tr_entry_metrics_decode(buf, len, a, m);
    if (rv != 0) {
        return rv;
    }
    for (size_t i = 0; i < m->n_series; i++) {
        struct tr_entry_series *s = &m->series[i];
        rv = check_labels(s->enc, a, &s->labels, &s->n_labels);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tr_arena a;
    struct tr_entry_metrics m;
    tr_arena_init(&a, 4096);

    /* the drop-tenant entry shares the shards' logs: what decodes
     * re-encodes to bytes that decode to the same tenant (a longer varint
     * may have been accepted) */
    struct tr_slice tenant;
    int dr = tr_entry_drop_tenant_decode(data, size, &tenant);
    if (dr == 0) {
        check_in(tenant, data, size);
        struct tr_buf e;
        tr_buf_init(&e);
        tr_entry_drop_tenant_encode(&e, tenant);
        struct tr_slice again;
        if (e.len > size ||
            tr_entry_drop_tenant_decode(e.data, e.len, &again) != 0 ||
            !slice_same(again, tenant)) {
            abort();
        }
        tr_buf_free(&e);
    } else if (dr != TR_ENOTFOUND && dr != TR_ECORRUPT) {
        abort();
    }

    int rv = tr_entry_metrics_decode(data, size, &a, &m);
    if (rv != 0) {
        if (rv != TR_ECORRUPT && rv != TR_ENOMEM) {
            abort();
        }
        goto out_arena;
    }
    /* compressed entries decode into the arena, the others in place */
    bool plain = data[1] == TR_ENTRY_METRICS_V1 ||
                 data[1] == TR_ENTRY_METRICS_VERSION ||
                 data[1] == TR_ENTRY_METRICS_EX;
    bool v3 = data[1] == TR_ENTRY_METRICS_VERSION;
    if (plain && (m.n_series > size || m.n_meta > size)) {
        abort();
    }
    if (plain) {
        check_in(m.tenant, data, size);
    }
    bool all_labels = true;
    for (size_t i = 0; i < m.n_series; i++) {
        struct tr_entry_series *s = &m.series[i];
        if (plain) {
            check_in(s->enc, data, size);
        }
        if (s->n_labels != 0 || s->labels != NULL) {
            abort(); /* decode leaves labels to tr_labels_decode */
        }
        if (check_labels(s->enc, &a, &s->labels, &s->n_labels) != 0) {
            all_labels = false;
        }
        if (s->n_samples == 0) {
            if (v3) {
                abort(); /* version 3 has no empty series */
            }
            all_labels = false; /* legacy: the encoder drops it */
        }
    }
    for (size_t i = 0; plain && i < m.n_meta; i++) {
        check_in(m.meta[i].metric, data, size);
        check_in(m.meta[i].help, data, size);
        check_in(m.meta[i].unit, data, size);
    }
    if (!all_labels) {
        goto out_arena;
    }

    /* Re-encode what decoded; decode it again; compare. */
    struct tr_buf e1, e2;
    tr_buf_init(&e1);
    tr_buf_init(&e2);
    if (tr_entry_metrics_encode(&m, &e1) != 0) {
        goto out_bufs; /* out of memory only */
    }
    if (v3 && e1.data[1] == TR_ENTRY_METRICS_VERSION && e1.len > size) {
        abort(); /* canonical encoding longer than its input */
    }
    struct tr_entry_metrics m2;
    if (decode_full(e1.data, e1.len, &a, &m2) != 0 || !entries_same(&m, &m2)) {
        abort(); /* decode(encode(x)) != x */
    }
    if (tr_entry_metrics_encode(&m2, &e2) != 0) {
        goto out_bufs;
    }
    if (e2.len != e1.len || memcmp(e1.data, e2.data, e1.len) != 0) {
        abort(); /* encoding is not a fixpoint */
    }
out_bufs:
    tr_buf_free(&e2);
    tr_buf_free(&e1);
out_arena:
    tr_arena_free(&a);
    return 0;
}
