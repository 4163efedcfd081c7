/* signal_metrics.c - the metrics signal in the cluster: splitting a write
 * into per-shard entries, the leader's series-limit admission, the
 * cluster-wide select source (select, label names and values) and metric
 * metadata over the parallel fan-out, serving them for other nodes, and
 * merging the shards' results.
 *
 *   metrics read request (after the generic read header, cluster/read.c):
 *                  u8 op (5 select, 2 label names, 3 label values,
 *                  4 metadata, 6 exemplars; 1, a select answered with
 *                  decoded samples, is retired; a node that does not know
 *                  an op answers 400), uvarint + tenant, varint mint, varint
 *                  maxt, u8 flags (1 = no samples), uvarint limit, max
 *                  series, max samples, uvarint + label name (op 3) or
 *                  metric name (op 4), uvarint n matchers (<= 256), per
 *                  matcher: u8 type, uvarint + name, uvarint + value
 *   select response: frames (cluster_int.h), in label order, a series
 *                  frame per series (units: its samples): u8 1, uvarint +
 *                  canonical labels, uvarint n chunks, per chunk (in time
 *                  order, within [mint, maxt]): uvarint n samples, varint
 *                  first time, uvarint last - first time, uvarint + chunk
 *                  record (storage/chunk_record.h) whose samples in [first,
 *                  last] are those (a record crossing the range's ends is
 *                  sent whole); then the end frame (units 0): u8 2, u8
 *                  truncated. The samples stay compressed on the wire and
 *                  in the coordinator (about 2 bytes a sample instead of 9
 *                  on the wire and 16 in memory); the node answers at most
 *                  the max units of the read header (what is left of the
 *                  query's sample budget), else 422
 *   strings response: u8 truncated, uvarint n, per string uvarint + bytes
 *   metadata response: uvarint n, per item: uvarint + metric, u8 type,
 *                  uvarint + help, uvarint + unit
 *   exemplars response: uvarint n series, per series: uvarint + canonical
 *                  labels, uvarint n exemplars, per exemplar: varint time
 *                  (ms), u64 BE value bits, uvarint + canonical labels
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "storage/chunk_record.h"

/* op 1 (a select answered with decoded samples) is retired: an older node
 * asked with op 5 answers 400 instead of a format its peer cannot read */
enum {
    SEL_NAMES = 2,
    SEL_VALUES = 3,
    SEL_METADATA = 4,
    SEL_SELECT = 5,
    SEL_EXEMPLARS = 6
};
enum { SM_FRAME_SERIES = 1, SM_FRAME_END = 2 };

/* ---- writes ----------------------------------------------------------------
 */

struct sm_build {
    struct tr_shard_id id;
    struct tr_entry_series *series;
    size_t n;
    size_t cap;
};

static int64_t sm__ooo_window(struct tr_cluster *c)
{
    pthread_mutex_lock(&c->meta_fsm.mu);
    const struct tr_catalog_settings *st = &c->meta_fsm.catalog.settings;
    int64_t v = st->set ? st->ooo_window_ms : c->cfg.ooo_window_ms;
    pthread_mutex_unlock(&c->meta_fsm.mu);
    return v;
}

/* The batch of shard (w, slot), added when new. */
static struct sm_build *sm__batch(struct sm_build **bs,
                                  size_t *nb,
                                  size_t *capb,
                                  int64_t w,
                                  uint16_t slot)
{
    return cl_shard_elem((void **)bs, nb, capb, sizeof(**bs), TR_SIGNAL_METRICS,
                         w, slot);
}

/* The sub-series of es in batch b (the last one added when it came from
 * es), added when new. */
static struct tr_entry_series *sm__sub(struct tr_arena *a,
                                       struct sm_build *b,
                                       const struct tr_entry_series *es)
{
    if (b->n > 0 && b->series[b->n - 1].labels == es->labels) {
        return &b->series[b->n - 1];
    }
    if (b->n == b->cap) {
        struct tr_entry_series *ns =
            tr_arena_array_grow(a, b->series, b->n, &b->cap, sizeof(*ns), 64);
        if (ns == NULL) {
            return NULL;
        }
        b->series = ns;
    }
    struct tr_entry_series *d = &b->series[b->n++];
    memset(d, 0, sizeof(*d));
    d->labels = es->labels;
    d->n_labels = es->n_labels;
    d->ts = tr_arena_alloc(a, es->n_samples * sizeof(int64_t));
    d->vs = tr_arena_alloc(a, es->n_samples * sizeof(double));
    return d->ts != NULL && d->vs != NULL ? d : NULL;
}

/* Puts exemplar x of es with es's sub-series in the batch of the window
 * of its timestamp when es has samples there, else in the first batch es
 * has samples in; a series without samples (remote-write senders send
 * exemplars apart from samples) gets a sub-series without samples in the
 * shard of (window of the exemplar, its slot there): admission keeps it
 * only when the shard has the series. 0 or an error (errmsg). */
static int sm__exemplar_route(struct tr_cluster *c,
                              struct tr_arena *a,
                              struct sm_build **bs,
                              size_t *nb,
                              size_t *capb,
                              const struct tr_entry_series *es,
                              uint64_t h,
                              int64_t deadline,
                              const struct tr_entry_exemplar *x,
                              char *errmsg)
{
    int64_t w = cl_window_start(c, x->ts);
    struct tr_entry_series *first = NULL, *sub = NULL;
    for (size_t b = 0; b < *nb && sub == NULL; b++) {
        struct sm_build *bb = &(*bs)[b];
        struct tr_entry_series *d = bb->n > 0 ? &bb->series[bb->n - 1] : NULL;
        if (d == NULL || d->labels != es->labels) {
            continue;
        }
        if (first == NULL) {
            first = d;
        }
        if (bb->id.window == w) {
            sub = d;
        }
    }
    if (sub == NULL) {
        sub = first;
    }
    if (sub == NULL) {
        uint16_t k;
        int rv = cl_window_k(c, TR_SIGNAL_METRICS, w, deadline, &k, errmsg);
        if (rv != 0) {
            return rv;
        }
        uint16_t slot = (uint16_t)tr_jump_hash(h, k);
        struct sm_build *b = sm__batch(bs, nb, capb, w, slot);
        sub = b ? sm__sub(a, b, es) : NULL;
        if (sub == NULL) {
            return tr_errf(TR_ENOMEM, errmsg, "out of memory");
        }
    }
    if (sub->n_exemplars == 0) {
        sub->exemplars =
            tr_arena_alloc(a, es->n_exemplars * sizeof(*sub->exemplars));
        if (sub->exemplars == NULL) {
            return tr_errf(TR_ENOMEM, errmsg, "out of memory");
        }
    }
    ((struct tr_entry_exemplar *)sub->exemplars)[sub->n_exemplars++] = *x;
    return 0;
}

/* Admission of one shard's series on its leader (worker thread): the
 * tenant's series limit, divided over the window's K shards (as Mimir
 * divides a global limit over its ingesters), against the tenant's series
 * count in this shard - replicated state that apply keeps - so every
 * replica applies exactly what was accepted. Series the shard has become
 * references (storage/entry.h); new series beyond the limit are dropped
 * (their samples counted in res). series[].enc must hold the canonical
 * labels of the series that are not references yet. *n shrinks. */
static int sm__admit_series(struct tr_cluster *c,
                            const struct tr_shard_id *id,
                            struct tr_slice tenant,
                            struct tr_entry_series *series,
                            size_t *n,
                            struct tr_arena *a,
                            struct tr_apply_result *res,
                            char *errmsg)
{
    char name[TR_CATALOG_TENANT_MAX];
    snprintf(name, sizeof(name), "%.*s", (int)tenant.len, tenant.base);
    uint64_t limit = c->cfg.max_series;
    uint16_t k = 1;
    pthread_mutex_lock(&c->meta_fsm.mu);
    const struct tr_catalog_tenant *t =
        tr_catalog_tenant(&c->meta_fsm.catalog, name);
    if (t != NULL && t->max_series > 0) {
        limit = t->max_series;
    }
    const struct tr_catalog_shard *sh = tr_catalog_shard(
        &c->meta_fsm.catalog, id->signal, id->window, id->slot);
    if (sh != NULL && sh->k > 0) {
        k = sh->k;
    }
    pthread_mutex_unlock(&c->meta_fsm.mu);
    uint64_t per_shard = limit == 0 ? UINT64_MAX : (limit + k - 1) / k;
    size_t m = *n;
    struct tr_slice *labels = tr_arena_alloc(a, (m ? m : 1) * sizeof(*labels));
    size_t *at = tr_arena_alloc(a, (m ? m : 1) * sizeof(*at));
    bool *is_new = tr_arena_alloc(a, (m ? m : 1) * sizeof(*is_new));
    uint64_t *ids = tr_arena_alloc(a, (m ? m : 1) * sizeof(*ids));
    if (labels == NULL || at == NULL || is_new == NULL || ids == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    size_t q = 0;
    for (size_t i = 0; i < m; i++) {
        if (!series[i].is_ref) {
            labels[q] = series[i].enc;
            at[q++] = i;
        }
    }
    uint64_t count = 0;
    int rv = tr_storage_series_admit(c->storage, id, tenant, labels, q, is_new,
                                     ids, &count);
    if (rv != 0) {
        return tr_errf(rv, errmsg, "series admission failed");
    }
    uint64_t refused = 0;
    for (size_t x = 0; x < q; x++) {
        struct tr_entry_series *es = &series[at[x]];
        if (!is_new[x]) {
            es->is_ref = true;
            es->ref = ids[x];
        } else if (es->n_samples == 0) {
            es->n_exemplars = 0; /* exemplars of an unknown series: dropped
                                    below (as Prometheus refuses them) */
        } else if (count >= per_shard) {
            refused += es->n_samples;
            es->n_samples = 0; /* dropped below */
            es->n_exemplars = 0;
        } else {
            count++;
        }
    }
    size_t o = 0;
    for (size_t i = 0; i < m; i++) {
        if (series[i].n_samples > 0 || series[i].n_exemplars > 0) {
            series[o++] = series[i];
        }
    }
    *n = o;
    if (refused > 0) {
        res->rejected += refused;
        if (res->first_error == 0) {
            res->first_error = TR_ELIMIT;
            snprintf(res->errmsg, sizeof(res->errmsg),
                     "per-tenant series limit of %" PRIu64
                     " exceeded, please contact administrator to raise it "
                     "(limits.max-series; %" PRIu64
                     " per shard over the window's %u shards)",
                     limit, per_shard, k);
        }
    }
    return 0;
}

int tr_cluster_write_metrics(struct tr_cluster *c,
                             const struct tr_entry_metrics *m,
                             struct tr_apply_result *res,
                             char *errmsg)
{
    memset(res, 0, sizeof(*res));
    int64_t deadline = cl_mono_ms() + c->cfg.write_timeout_ms;
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    uint64_t tseed = tr_hash64(m->tenant.base, m->tenant.len, 0x74656e);
    struct sm_build *bs = NULL;
    size_t nb = 0, capb = 0;
    struct tr_buf enc;
    tr_buf_init(&enc);
    int rv = 0;
    /* each series goes to shard (window(ts), jump_hash(hash(tenant,
     * labels), K)) for every one of its samples */
    int64_t last_w = INT64_MIN;
    uint16_t last_k = 0;
    for (size_t i = 0; i < m->n_series && rv == 0; i++) {
        const struct tr_entry_series *es = &m->series[i];
        tr_buf_reset(&enc);
        tr_labels_encode(es->labels, es->n_labels, &enc);
        uint64_t h = tr_hash64(enc.data, enc.len, tseed);
        struct tr_slice canon = {NULL, 0};
        for (size_t j = 0; j < es->n_samples && rv == 0; j++) {
            int64_t w = cl_window_start(c, es->ts[j]);
            if (w != last_w) {
                rv = cl_window_k(c, TR_SIGNAL_METRICS, w, deadline, &last_k,
                                 errmsg);
                if (rv != 0) {
                    break;
                }
                last_w = w;
            }
            uint16_t slot = (uint16_t)tr_jump_hash(h, last_k);
            struct sm_build *b = sm__batch(&bs, &nb, &capb, w, slot);
            struct tr_entry_series *d = b ? sm__sub(&a, b, es) : NULL;
            if (d != NULL && d->enc.len == 0) {
                if (canon.base == NULL) {
                    canon.base = tr_arena_memdup(&a, enc.data, enc.len);
                    canon.len = enc.len;
                }
                d->enc = canon;
            }
            if (d == NULL || canon.base == NULL) {
                rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
                break;
            }
            ((int64_t *)d->ts)[d->n_samples] = es->ts[j];
            ((double *)d->vs)[d->n_samples] = es->vs[j];
            d->n_samples++;
        }
        for (size_t x = 0; x < es->n_exemplars && rv == 0; x++) {
            rv = sm__exemplar_route(c, &a, &bs, &nb, &capb, es, h, deadline,
                                    &es->exemplars[x], errmsg);
            if (rv == 0 && canon.base == NULL) {
                /* a series with exemplars only: its canonical labels */
                canon.base = tr_arena_memdup(&a, enc.data, enc.len);
                canon.len = enc.len;
                if (canon.base == NULL) {
                    rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
                }
            }
        }
        for (size_t b = 0; b < nb && rv == 0 && es->n_samples == 0; b++) {
            struct tr_entry_series *d =
                bs[b].n > 0 ? &bs[b].series[bs[b].n - 1] : NULL;
            if (d != NULL && d->labels == es->labels && d->enc.len == 0) {
                d->enc = canon;
            }
        }
    }
    tr_buf_free(&enc);
    if (rv == 0 && nb == 0 && m->n_meta > 0) {
        /* metadata only: it goes to slot 0 of the current window */
        int64_t w = cl_window_start(c, cl_now_ms());
        uint16_t k;
        rv = cl_window_k(c, TR_SIGNAL_METRICS, w, deadline, &k, errmsg);
        if (rv == 0 && sm__batch(&bs, &nb, &capb, w, 0) == NULL) {
            rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
        }
    }
    struct cl_batch *batches =
        rv == 0 ? tr_calloc(nb ? nb : 1, sizeof(*batches)) : NULL;
    if (rv == 0 && batches == NULL) {
        rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    int64_t ooo = rv == 0 ? sm__ooo_window(c) : 0;
    struct tr_apply_result pre;
    memset(&pre, 0, sizeof(pre));
    for (size_t b = 0; b < nb && rv == 0; b++) {
        batches[b].id = bs[b].id;
        tr_buf_init(&batches[b].entry);
        tr_buf_init(&batches[b].plain);
        /* this node leads the shard: admit the decoded series now (no
         * decode of the entry later) */
        struct cl_stat st;
        if (cl_stat_get(c, &bs[b].id, &st) && st.state == RAFT_LEADER &&
            !st.catching_up && !st.failed) {
            rv = sm__admit_series(c, &bs[b].id, m->tenant, bs[b].series,
                                  &bs[b].n, &a, &pre, errmsg);
            batches[b].admitted = true;
        }
        /* metadata travels with the first shard's entry */
        struct tr_entry_metrics em = {
            .tenant = m->tenant,
            .series = bs[b].series,
            .n_series = bs[b].n,
            .meta = b == 0 ? m->meta : NULL,
            .n_meta = b == 0 ? m->n_meta : 0,
            .ooo_window_ms = ooo,
        };
        if (rv == 0) {
            rv = tr_entry_metrics_encode_both(
                &em, &batches[b].entry,
                batches[b].admitted ? &batches[b].plain : NULL);
        }
    }
    if (rv == 0) {
        rv = cl_write_batches(c, batches, nb, deadline, res, errmsg);
        tr_apply_result_add(res, &pre);
    }
    for (size_t b = 0; batches != NULL && b < nb; b++) {
        tr_buf_free(&batches[b].entry);
        tr_buf_free(&batches[b].plain);
    }
    tr_free(batches);
    tr_free(bs);
    tr_arena_free(&a);
    return rv;
}

/* Leader: admission of an entry that arrived encoded (forwarded by another
 * node, or proposed after leadership moved here). */
static int sm__admit(struct tr_cluster *c,
                     const struct tr_shard_id *id,
                     const void *entry,
                     size_t len,
                     struct tr_buf *out,
                     struct tr_apply_result *res,
                     char *errmsg)
{
    const uint8_t *p = entry;
    if (len < 1 || p[0] != TR_ENTRY_METRICS) {
        return tr_buf_append(out, entry, len); /* verify entries */
    }
    struct tr_arena a;
    tr_arena_init(&a, 16 * 1024);
    struct tr_entry_metrics m;
    int rv = tr_entry_metrics_decode(entry, len, &a, &m);
    if (rv != 0) {
        tr_arena_free(&a);
        return tr_errf(TR_EPROTO, errmsg, "malformed metrics entry");
    }
    rv = sm__admit_series(c, id, m.tenant, m.series, &m.n_series, &a, res,
                          errmsg);
    if (rv == 0) {
        rv = tr_entry_metrics_encode(&m, out); /* labels stay canonical */
    }
    tr_arena_free(&a);
    return rv;
}

/* ---- read requests and responses
 * ---------------------------------------------
 */

static void sm__put_bytes(struct tr_buf *b, struct tr_slice s)
{
    tr_buf_put_uvarint(b, s.len);
    tr_buf_append(b, s.base, s.len);
}

static int sm__get_bytes(struct tr_cursor *c, struct tr_slice *s)
{
    uint64_t l;
    if (tr_cursor_uvarint(c, &l) != 0) {
        return TR_EPROTO;
    }
    return tr_cursor_bytes(c, l, s) == 0 ? 0 : TR_EPROTO;
}

void cl_metrics_req_encode(struct tr_buf *b,
                           int op,
                           struct tr_slice tenant,
                           const struct tr_select_hints *h,
                           const struct tr_slice *name,
                           const struct tr_matcher *ms,
                           size_t n)
{
    tr_buf_putc(b, (char)op);
    sm__put_bytes(b, tenant);
    tr_buf_put_varint(b, h->mint);
    tr_buf_put_varint(b, h->maxt);
    tr_buf_putc(b, (char)(h->no_samples ? 1 : 0));
    tr_buf_put_uvarint(b, h->limit);
    tr_buf_put_uvarint(b, h->max_series);
    tr_buf_put_uvarint(b, h->max_samples);
    if (op == SEL_VALUES || op == SEL_METADATA) {
        sm__put_bytes(b, *name);
    }
    tr_buf_put_uvarint(b, n);
    for (size_t i = 0; i < n; i++) {
        tr_buf_putc(b, (char)ms[i].type);
        sm__put_bytes(b, tr_slice_cstr(ms[i].name));
        sm__put_bytes(b, (struct tr_slice){ms[i].value, ms[i].value_len});
    }
}

/* Appends r as frames (cluster_int.h): one per series, its samples as the
 * frame's units, then the end frame. A decoded-form series is encoded as
 * chunks first. 0, TR_ENOMEM, or TR_ELIMIT (a series larger than a
 * frame). */
int cl_metrics_encode_result(struct tr_buf *b, const struct tr_select_result *r)
{
    struct tr_buf lb;
    tr_buf_init(&lb);
    struct tr_arena tmp;
    tr_arena_init(&tmp, 16 * 1024);
    int rv = 0;
    for (size_t i = 0; i < r->n_series && rv == 0; i++) {
        struct tr_series_data sd = r->series[i];
        if (sd.samples != NULL && sd.n_samples > 0) {
            tr_arena_reset(&tmp);
            rv = tr_series_encode(&tmp, sd.samples, sd.n_samples, &sd);
            if (rv != 0) {
                break;
            }
        }
        if (sd.n_samples > UINT32_MAX) {
            rv = TR_ELIMIT;
            break;
        }
        size_t at = cl_frame_begin(b, (uint32_t)sd.n_samples);
        tr_buf_putc(b, SM_FRAME_SERIES);
        tr_buf_reset(&lb);
        tr_labels_encode(sd.labels, sd.n_labels, &lb);
        sm__put_bytes(b, (struct tr_slice){lb.data, lb.len});
        size_t nc = sd.n_samples > 0 ? sd.n_chunks : 0;
        tr_buf_put_uvarint(b, nc);
        for (size_t k = 0; k < nc; k++) {
            const struct tr_chunk_ref *c = &sd.chunks[k];
            tr_buf_put_uvarint(b, c->n);
            tr_buf_put_varint(b, c->mint);
            tr_buf_put_uvarint(b, (uint64_t)c->maxt - (uint64_t)c->mint);
            sm__put_bytes(b, (struct tr_slice){(const char *)c->rec, c->len});
        }
        if (b->len - at - CL_FRAME_HEADER > CL_FRAME_MAX) {
            rv = TR_ELIMIT;
            break;
        }
        cl_frame_end(b, at);
    }
    if (rv == 0) {
        size_t at = cl_frame_begin(b, 0);
        tr_buf_putc(b, SM_FRAME_END);
        tr_buf_putc(b, r->truncated ? 1 : 0);
        cl_frame_end(b, at);
    }
    tr_arena_free(&tmp);
    tr_buf_free(&lb);
    return rv != 0 ? rv : (b->oom ? TR_ENOMEM : 0);
}

/* One series frame into sd: labels decoded into a, chunks referencing the
 * payload (never trusted: counts bounded by the bytes, chunks in time order,
 * each record holding the samples it claims, their sum the frame's
 * units). */
int cl_metrics_decode_series(const struct cl_frame *f,
                             struct tr_arena *a,
                             struct tr_series_data *sd)
{
    struct tr_cursor c = tr_cursor_make(f->p, f->len);
    uint8_t kind;
    struct tr_slice enc;
    uint64_t nc;
    memset(sd, 0, sizeof(*sd));
    if (tr_cursor_u8(&c, &kind) != 0 || kind != SM_FRAME_SERIES ||
        sm__get_bytes(&c, &enc) != 0 ||
        tr_labels_decode(enc.base, enc.len, a, &sd->labels, &sd->n_labels) !=
            0 ||
        tr_cursor_uvarint(&c, &nc) != 0 ||
        nc > tr_cursor_left(&c) / (3 + TR_CHUNK_RECORD_HEADER)) {
        return TR_EPROTO;
    }
    if (nc > 0) {
        sd->chunks = tr_arena_alloc(a, nc * sizeof(*sd->chunks));
        if (sd->chunks == NULL) {
            return TR_ENOMEM;
        }
    }
    uint64_t total = 0;
    for (uint64_t k = 0; k < nc; k++) {
        struct tr_chunk_ref *r = &sd->chunks[k];
        uint64_t n, span;
        struct tr_slice rec;
        if (tr_cursor_uvarint(&c, &n) != 0 ||
            tr_cursor_varint(&c, &r->mint) != 0 ||
            tr_cursor_uvarint(&c, &span) != 0 || sm__get_bytes(&c, &rec) != 0 ||
            n == 0 || rec.len < TR_CHUNK_RECORD_HEADER ||
            span > UINT64_MAX - ((uint64_t)r->mint ^ (1ULL << 63)) ||
            tr_chunk_record_count(rec.base, rec.len) < n) {
            return TR_EPROTO;
        }
        r->maxt = (int64_t)((uint64_t)r->mint + span);
        r->n = (size_t)n;
        r->rec = (const uint8_t *)rec.base;
        r->len = rec.len;
        if (k > 0 && r->mint <= sd->chunks[k - 1].maxt) {
            return TR_EPROTO;
        }
        total += n;
    }
    if (tr_cursor_left(&c) != 0 || total != f->units) {
        return TR_EPROTO;
    }
    sd->n_chunks = (size_t)nc;
    sd->n_samples = (size_t)total;
    return 0;
}

/* A framed select answer into r (initialised here; it adopts the answer's
 * arena: the chunks stay where they arrived). */
int cl_metrics_decode_result(struct cl_answer *ans, struct tr_select_result *r)
{
    memset(r, 0, sizeof(*r));
    tr_arena_init(&r->arena, 16 * 1024);
    tr_arena_adopt(&r->arena, ans->arena);
    if (ans->n_frames == 0) {
        return TR_EPROTO;
    }
    size_t ns = ans->n_frames - 1;
    r->series = tr_arena_alloc(&r->arena, (ns ? ns : 1) * sizeof(*r->series));
    if (r->series == NULL) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < ns; i++) {
        int rv = cl_metrics_decode_series(&ans->frames[i], &r->arena,
                                          &r->series[r->n_series]);
        if (rv != 0) {
            return rv;
        }
        r->n_series++;
    }
    const struct cl_frame *end = &ans->frames[ns];
    if (end->len != 2 || end->units != 0 ||
        (uint8_t)end->p[0] != SM_FRAME_END) {
        return TR_EPROTO;
    }
    r->truncated = end->p[1] != 0;
    return 0;
}

void cl_strings_encode(struct tr_buf *b, const struct tr_string_list *l)
{
    tr_buf_putc(b, l->truncated ? 1 : 0);
    tr_buf_put_uvarint(b, l->n);
    for (size_t i = 0; i < l->n; i++) {
        sm__put_bytes(b, l->items[i]);
    }
}

int cl_strings_decode(const void *buf, size_t len, struct tr_string_list *l)
{
    memset(l, 0, sizeof(*l));
    tr_arena_init(&l->arena, 16 * 1024);
    char *copy = tr_arena_memdup(&l->arena, buf, len);
    if (copy == NULL) {
        return TR_ENOMEM;
    }
    struct tr_cursor c = tr_cursor_make(copy, len);
    uint8_t trunc;
    uint64_t n;
    if (tr_cursor_u8(&c, &trunc) != 0 || tr_cursor_uvarint(&c, &n) != 0 ||
        n > len) {
        return TR_EPROTO;
    }
    l->truncated = trunc != 0;
    l->items = tr_arena_alloc(&l->arena, (n ? n : 1) * sizeof(*l->items));
    if (l->items == NULL) {
        return TR_ENOMEM;
    }
    for (uint64_t i = 0; i < n; i++) {
        if (sm__get_bytes(&c, &l->items[i]) != 0) {
            return TR_EPROTO;
        }
        l->n++;
    }
    return 0;
}

void cl_metrics_encode_metadata(struct tr_buf *b,
                                const struct tr_metadata_item *it,
                                size_t n)
{
    tr_buf_put_uvarint(b, n);
    for (size_t i = 0; i < n; i++) {
        sm__put_bytes(b, it[i].metric);
        tr_buf_putc(b, (char)it[i].type);
        sm__put_bytes(b, it[i].help);
        sm__put_bytes(b, it[i].unit);
    }
}

/* Appends the decoded items to *items (arena a). */
int cl_metrics_decode_metadata(const void *buf,
                               size_t len,
                               struct tr_arena *a,
                               struct tr_metadata_item **items,
                               size_t *n,
                               size_t *cap)
{
    char *copy = tr_arena_memdup(a, buf, len);
    if (copy == NULL) {
        return TR_ENOMEM;
    }
    struct tr_cursor c = tr_cursor_make(copy, len);
    uint64_t cnt;
    if (tr_cursor_uvarint(&c, &cnt) != 0 || cnt > len) {
        return TR_EPROTO;
    }
    for (uint64_t i = 0; i < cnt; i++) {
        if (*n == *cap) {
            struct tr_metadata_item *ni =
                tr_arena_array_grow(a, *items, *n, cap, sizeof(*ni), 64);
            if (ni == NULL) {
                return TR_ENOMEM;
            }
            *items = ni;
        }
        struct tr_metadata_item *m = &(*items)[*n];
        if (sm__get_bytes(&c, &m->metric) != 0 ||
            tr_cursor_u8(&c, &m->type) != 0 ||
            sm__get_bytes(&c, &m->help) != 0 ||
            sm__get_bytes(&c, &m->unit) != 0) {
            return TR_EPROTO;
        }
        (*n)++;
    }
    return 0;
}

/* ---- serving other nodes
 * -----------------------------------------------------
 */

int cl_metrics_req_parse(const void *req,
                         size_t len,
                         struct cl_metrics_req *out,
                         char *errmsg)
{
    struct tr_cursor cur = tr_cursor_make(req, len);
    uint64_t n;
    memset(out, 0, sizeof(*out));
    if (tr_cursor_u8(&cur, &out->op) != 0 || out->op < SEL_NAMES ||
        out->op > SEL_EXEMPLARS || sm__get_bytes(&cur, &out->tenant) != 0 ||
        tr_cursor_varint(&cur, &out->mint) != 0 ||
        tr_cursor_varint(&cur, &out->maxt) != 0 ||
        tr_cursor_u8(&cur, &out->flags) != 0 ||
        tr_cursor_uvarint(&cur, &out->limit) != 0 ||
        tr_cursor_uvarint(&cur, &out->max_series) != 0 ||
        tr_cursor_uvarint(&cur, &out->max_samples) != 0 ||
        ((out->op == SEL_VALUES || out->op == SEL_METADATA) &&
         sm__get_bytes(&cur, &out->name) != 0) ||
        tr_cursor_uvarint(&cur, &n) != 0 || n > CL_METRICS_MAX_MATCHERS) {
        return tr_errf(TR_EPROTO, errmsg, "malformed select request");
    }
    if (out->op == SEL_METADATA) {
        return 0; /* its matchers are not read */
    }
    out->ms = tr_calloc(n ? n : 1, sizeof(*out->ms));
    if (out->ms == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    for (uint64_t i = 0; i < n; i++) {
        struct cl_metrics_matcher *m = &out->ms[i];
        if (tr_cursor_u8(&cur, &m->type) != 0 || m->type > TR_MATCH_NRE ||
            sm__get_bytes(&cur, &m->name) != 0 ||
            sm__get_bytes(&cur, &m->value) != 0 ||
            m->name.len >= CL_METRICS_MATCHER_NAME_MAX) {
            tr_free(out->ms);
            out->ms = NULL;
            return tr_errf(TR_EPROTO, errmsg, "malformed matcher");
        }
    }
    out->n_ms = (size_t)n;
    return 0;
}

static int sm__serve_read(struct tr_cluster *c,
                          const struct tr_shard_id *ids,
                          size_t n_ids,
                          uint64_t max_units,
                          const void *req,
                          size_t len,
                          struct tr_buf *out,
                          char *errmsg)
{
    struct cl_metrics_req q;
    int rv = cl_metrics_req_parse(req, len, &q, errmsg);
    if (rv != 0) {
        return rv;
    }
    struct tr_select_hints h;
    memset(&h, 0, sizeof(h));
    h.mint = q.mint;
    h.maxt = q.maxt;
    h.no_samples = q.flags & 1;
    h.limit = q.limit;
    h.max_series = q.max_series;
    h.max_samples = max_units > 0 ? max_units : q.max_samples;
    h.chunks = true;
    h.shards = ids;
    h.n_shards = n_ids;
    if (q.op == SEL_METADATA) {
        struct tr_arena a;
        tr_arena_init(&a, 16 * 1024);
        struct tr_metadata_item *items = NULL;
        size_t cnt = 0;
        rv = tr_storage_metadata(c->storage, q.tenant, q.name, q.limit, ids,
                                 n_ids, &a, &items, &cnt);
        if (rv == 0) {
            cl_metrics_encode_metadata(out, items, cnt);
        }
        tr_arena_free(&a);
        return rv == 0 ? 0 : tr_errf(rv, errmsg, "metadata read failed");
    }
    struct tr_matcher *ms = tr_calloc(q.n_ms ? q.n_ms : 1, sizeof(*ms));
    size_t nm = 0;
    rv = ms ? 0 : tr_errf(TR_ENOMEM, errmsg, "out of memory");
    char tn[CL_METRICS_MATCHER_NAME_MAX];
    for (size_t i = 0; i < q.n_ms && rv == 0; i++) {
        const struct cl_metrics_matcher *m = &q.ms[i];
        memcpy(tn, m->name.base, m->name.len);
        tn[m->name.len] = '\0';
        rv = tr_matcher_init(&ms[nm], (enum tr_match_type)m->type, tn,
                             m->value.base, m->value.len, errmsg);
        if (rv == 0) {
            nm++;
        }
    }
    tr_free(q.ms);
    const struct tr_select_source *src = tr_storage_source(c->storage);
    if (rv == 0 && q.op == SEL_EXEMPLARS) {
        struct tr_arena a;
        tr_arena_init(&a, 16 * 1024);
        struct tr_exemplar_series *items = NULL;
        size_t cnt = 0;
        rv = tr_storage_exemplars(c->storage, q.tenant, ms, nm, q.mint, q.maxt,
                                  ids, n_ids, &a, &items, &cnt, errmsg);
        if (rv == 0) {
            cl_metrics_encode_exemplars(out, items, cnt);
            rv = out->oom ? tr_errf(TR_ENOMEM, errmsg, "out of memory") : 0;
        }
        tr_arena_free(&a);
    } else if (rv == 0 && q.op == SEL_SELECT) {
        struct tr_select_result r;
        rv = src->select(src->impl, q.tenant, ms, nm, &h, &r, errmsg);
        if (rv == 0) {
            rv = cl_metrics_encode_result(out, &r);
            tr_select_result_free(&r);
            if (rv == TR_ELIMIT) {
                tr_errf(rv, errmsg, "a series is too large for one frame");
            } else if (rv != 0) {
                tr_errf(rv, errmsg, "out of memory");
            }
        }
    } else if (rv == 0) {
        struct tr_string_list l;
        rv = q.op == SEL_NAMES
                 ? src->label_names(src->impl, q.tenant, ms, nm, &h, &l, errmsg)
                 : src->label_values(src->impl, q.tenant, q.name, ms, nm, &h,
                                     &l, errmsg);
        if (rv == 0) {
            cl_strings_encode(out, &l);
            tr_string_list_free(&l);
        }
    }
    for (size_t i = 0; i < nm; i++) {
        tr_matcher_free(&ms[i]);
    }
    tr_free(ms);
    return rv;
}

const struct cl_signal_ops cl_signal_metrics = {
    .signal = TR_SIGNAL_METRICS,
    .admit = sm__admit,
    .serve_read = sm__serve_read,
};

const struct cl_signal_ops *cl_signal_ops(uint8_t signal)
{
    switch (signal) {
        case TR_SIGNAL_METRICS:
            return &cl_signal_metrics;
        case TR_SIGNAL_LOGS:
            return &cl_signal_logs;
        case TR_SIGNAL_TRACES:
            return &cl_signal_traces;
        default:
            return NULL;
    }
}

/* ---- merging shard results
 * ------------------------------------------------------
 */

struct merge_ref {
    const struct tr_series_data *sd;
    size_t part;
};

static int merge__labels_cmp(const struct merge_ref *x,
                             const struct merge_ref *y)
{
    return tr_labels_cmp(x->sd->labels, x->sd->n_labels, y->sd->labels,
                         y->sd->n_labels);
}

/* By labels, then by part (the local one first). */
static int merge__cmp(const void *a, const void *b)
{
    const struct merge_ref *x = a, *y = b;
    int c = merge__labels_cmp(x, y);
    if (c != 0) {
        return c;
    }
    return x->part < y->part ? -1 : (x->part > y->part ? 1 : 0);
}

/* Merges per-shard results into out: one series per label set; a series
 * found in several parts gets their chunk lists joined (storage/select.h:
 * tr_series_merge; shards of different windows hold disjoint times, so
 * this is a concatenation). Takes over the parts' memory (their arenas are
 * empty afterwards). */
static int sm__merge(struct tr_select_result *parts,
                     size_t np,
                     const struct tr_select_hints *h,
                     struct tr_select_result *out,
                     char *errmsg)
{
    memset(out, 0, sizeof(*out));
    tr_arena_init(&out->arena, 64 * 1024);
    size_t total = 0;
    for (size_t i = 0; i < np; i++) {
        total += parts[i].n_series;
        out->truncated = out->truncated || parts[i].truncated;
    }
    struct merge_ref *refs = tr_malloc((total ? total : 1) * sizeof(*refs));
    const struct tr_series_data **group =
        tr_malloc((np ? np : 1) * sizeof(*group));
    out->series =
        tr_arena_alloc(&out->arena, (total ? total : 1) * sizeof(*out->series));
    if (refs == NULL || group == NULL || out->series == NULL) {
        tr_free(refs);
        tr_free(group);
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < np; i++) {
        for (size_t j = 0; j < parts[i].n_series; j++) {
            refs[k].sd = &parts[i].series[j];
            refs[k++].part = i;
        }
    }
    if (k > 1) {
        qsort(refs, k, sizeof(*refs), merge__cmp);
    }
    size_t samples = 0;
    int rv = 0;
    for (size_t i = 0; i < k && rv == 0;) {
        size_t j = i + 1;
        while (j < k && merge__labels_cmp(&refs[i], &refs[j]) == 0) {
            j++;
        }
        if (h->limit > 0 && out->n_series >= h->limit) {
            out->truncated = true;
            break;
        }
        struct tr_series_data *d = &out->series[out->n_series++];
        if (j - i == 1) {
            *d = *refs[i].sd; /* labels and chunks stay where they are */
        } else {
            for (size_t g = i; g < j; g++) {
                group[g - i] = refs[g].sd;
            }
            int mr = tr_series_merge(&out->arena, group, j - i, d);
            if (mr != 0) {
                rv = tr_errf(
                    mr, errmsg,
                    mr == TR_ENOMEM ? "out of memory" : "bad select response");
                break;
            }
        }
        samples += d->n_samples;
        if (h->max_samples > 0 && samples > h->max_samples) {
            rv = tr_errf(TR_ELIMIT, errmsg,
                         "query processing would load too many samples into "
                         "memory in query execution");
        }
        i = j;
    }
    if (rv == 0 && h->max_series > 0 && out->n_series > h->max_series) {
        rv = tr_errf(TR_ELIMIT, errmsg,
                     "query would select more series than the limit of %zu",
                     h->max_series);
    }
    for (size_t i = 0; i < np; i++) {
        tr_arena_adopt(&out->arena, &parts[i].arena);
    }
    tr_free(group);
    tr_free(refs);
    return rv;
}

/* ---- the cluster-wide select source
 * ----------------------------------------------
 */

/* State of one select over the fan-out: one part per local read and per
 * remote answer. */
struct sm_select {
    struct tr_cluster *c;
    struct tr_slice tenant;
    const struct tr_matcher *ms;
    size_t n;
    const struct tr_select_hints *h;
    struct tr_select_budget *budget; /* the local part and every answer */
    struct tr_select_result *parts;
    size_t np;
    size_t cap;
};

static struct tr_select_result *sm__select_part(struct sm_select *s)
{
    if (s->np == s->cap) {
        struct tr_select_result *p =
            tr_array_grow(s->parts, &s->cap, sizeof(*p), 8);
        if (p == NULL) {
            return NULL;
        }
        s->parts = p;
    }
    struct tr_select_result *part = &s->parts[s->np];
    memset(part, 0, sizeof(*part));
    return part;
}

static int sm__select_local(void *arg,
                            const struct tr_shard_id *ids,
                            size_t n,
                            char *errmsg)
{
    struct sm_select *s = arg;
    struct tr_select_result *part = sm__select_part(s);
    if (part == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    const struct tr_select_source *local = tr_storage_source(s->c->storage);
    struct tr_select_hints hh = *s->h;
    hh.shards = ids;
    hh.n_shards = n;
    hh.budget = s->budget;
    int rv =
        local->select(local->impl, s->tenant, s->ms, s->n, &hh, part, errmsg);
    if (rv == 0) {
        s->np++; /* the select frees its result on failure */
    }
    return rv;
}

static int sm__select_remote(void *arg,
                             const struct tr_shard_id *ids,
                             size_t n,
                             struct cl_answer *a,
                             char *errmsg)
{
    (void)ids;
    (void)n;
    struct sm_select *s = arg;
    struct tr_select_result *part = sm__select_part(s);
    if (part == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    s->np++; /* decoding initialises it: freed with the others */
    int rv = cl_metrics_decode_result(a, part);
    if (rv == TR_ENOMEM) {
        return tr_errf(rv, errmsg, "out of memory");
    }
    if (rv != 0) {
        return tr_errf(TR_EUNAVAIL, errmsg, "bad select response");
    }
    return 0;
}

static int sm__select(void *impl,
                      struct tr_slice tenant,
                      const struct tr_matcher *ms,
                      size_t n,
                      const struct tr_select_hints *h,
                      struct tr_select_result *out,
                      char *errmsg)
{
    struct tr_cluster *c = impl;
    struct tr_select_hints clipped = *h;
    clipped.mint = cl_retention_clip(c, TR_SIGNAL_METRICS, tenant, h->mint);
    h = &clipped;
    /* one sample budget for the local shards and every node's answer */
    struct tr_select_budget own;
    tr_select_budget_init(&own, h->budget != NULL ? 0 : h->max_samples);
    struct sm_select s = {c,    tenant, ms, n, h, h->budget ? h->budget : &own,
                          NULL, 0,      0};
    struct tr_buf req;
    tr_buf_init(&req);
    cl_metrics_req_encode(&req, SEL_SELECT, tenant, h, NULL, ms, n);
    struct cl_read r = {
        .signal = TR_SIGNAL_METRICS,
        .mint = h->mint,
        .maxt = h->maxt,
        .leader_only = h->leader_only,
        .framed = true,
        .budget = s.budget,
        .req = req.data,
        .req_len = req.len,
        .local = sm__select_local,
        .remote = sm__select_remote,
        .arg = &s,
    };
    int rv = cl_read_run(c, &r, errmsg);
    if (rv == TR_ELIMIT && tr_select_budget_over(s.budget)) {
        tr_errf(rv, errmsg,
                "query processing would load too many samples into memory "
                "in query execution");
    }
    if (rv == 0 && s.np == 1) {
        *out = s.parts[0]; /* one part: nothing to merge */
        s.np = 0;
    } else if (rv == 0 && s.np == 0) {
        memset(out, 0, sizeof(*out));
        tr_arena_init(&out->arena, 1024);
    } else if (rv == 0) {
        struct tr_select_hints mh = *h;
        mh.max_samples = h->budget != NULL ? 0 : h->max_samples;
        rv = sm__merge(s.parts, s.np, &mh, out, errmsg);
        if (rv != 0) {
            tr_select_result_free(out); /* as the storage's select does */
        }
    } else {
        memset(out, 0, sizeof(*out));
    }
    if (rv == 0 && !h->chunks && !h->no_samples) {
        rv = tr_select_result_decode(out);
        if (rv != 0) {
            tr_errf(rv, errmsg,
                    rv == TR_ENOMEM ? "out of memory" : "bad select response");
            tr_select_result_free(out);
        }
    }
    for (size_t i = 0; i < s.np; i++) {
        tr_select_result_free(&s.parts[i]);
    }
    tr_free(s.parts);
    tr_buf_free(&req);
    return rv;
}

/* Label names or values of the local shards ids (cl_strings_run). */
struct sm_strings {
    struct tr_cluster *c;
    int op;
    struct tr_slice tenant;
    const struct tr_slice *name;
    const struct tr_matcher *ms;
    size_t n;
    const struct tr_select_hints *h;
};

static int sm__strings_local(void *arg,
                             const struct tr_shard_id *ids,
                             size_t n,
                             struct tr_string_list *l,
                             char *errmsg)
{
    struct sm_strings *s = arg;
    const struct tr_select_source *local = tr_storage_source(s->c->storage);
    struct tr_select_hints hh = *s->h;
    hh.shards = ids;
    hh.n_shards = n;
    return s->op == SEL_NAMES
               ? local->label_names(local->impl, s->tenant, s->ms, s->n, &hh, l,
                                    errmsg)
               : local->label_values(local->impl, s->tenant, *s->name, s->ms,
                                     s->n, &hh, l, errmsg);
}

static int sm__strings(struct tr_cluster *c,
                       int op,
                       struct tr_slice tenant,
                       const struct tr_slice *name,
                       const struct tr_matcher *ms,
                       size_t n,
                       const struct tr_select_hints *h,
                       struct tr_string_list *out,
                       char *errmsg)
{
    struct tr_select_hints clipped = *h;
    clipped.mint = cl_retention_clip(c, TR_SIGNAL_METRICS, tenant, h->mint);
    h = &clipped;
    struct sm_strings s = {c, op, tenant, name, ms, n, h};
    struct tr_buf req;
    tr_buf_init(&req);
    cl_metrics_req_encode(&req, op, tenant, h, name, ms, n);
    struct cl_strings_read r = {
        .signal = TR_SIGNAL_METRICS,
        .mint = h->mint,
        .maxt = h->maxt,
        .leader_only = h->leader_only,
        .req = req.data,
        .req_len = req.len,
        .limit = h->limit,
        .local = sm__strings_local,
        .arg = &s,
    };
    int rv = cl_strings_run(c, &r, out, errmsg);
    tr_buf_free(&req);
    return rv;
}

static int sm__label_names(void *impl,
                           struct tr_slice tenant,
                           const struct tr_matcher *ms,
                           size_t n,
                           const struct tr_select_hints *h,
                           struct tr_string_list *out,
                           char *errmsg)
{
    return sm__strings(impl, SEL_NAMES, tenant, NULL, ms, n, h, out, errmsg);
}

static int sm__label_values(void *impl,
                            struct tr_slice tenant,
                            struct tr_slice name,
                            const struct tr_matcher *ms,
                            size_t n,
                            const struct tr_select_hints *h,
                            struct tr_string_list *out,
                            char *errmsg)
{
    return sm__strings(impl, SEL_VALUES, tenant, &name, ms, n, h, out, errmsg);
}

void cl_signal_metrics_init_source(struct tr_cluster *c)
{
    c->source.version = 1;
    c->source.impl = c;
    c->source.select = sm__select;
    c->source.label_names = sm__label_names;
    c->source.label_values = sm__label_values;
}

const struct tr_select_source *tr_cluster_source(struct tr_cluster *c)
{
    return &c->source;
}

/* ---- metadata
 * ----------------------------------------------------------------------
 */

struct sm_meta {
    struct tr_cluster *c;
    struct tr_slice tenant;
    struct tr_slice metric;
    size_t limit;
    struct tr_arena *a;
    struct tr_metadata_item *items;
    size_t n;
    size_t cap;
};

static int sm__meta_local(void *arg,
                          const struct tr_shard_id *ids,
                          size_t n,
                          char *errmsg)
{
    struct sm_meta *m = arg;
    struct tr_metadata_item *items = NULL;
    size_t cnt = 0;
    int rv = tr_storage_metadata(m->c->storage, m->tenant, m->metric, 0, ids, n,
                                 m->a, &items, &cnt);
    if (rv != 0) {
        return tr_errf(rv, errmsg, "metadata read failed");
    }
    struct tr_buf b;
    tr_buf_init(&b);
    cl_metrics_encode_metadata(&b, items, cnt);
    rv = cl_metrics_decode_metadata(b.data, b.len, m->a, &m->items, &m->n,
                                    &m->cap);
    tr_buf_free(&b);
    return rv == 0 ? 0 : tr_errf(rv, errmsg, "out of memory");
}

static int sm__meta_remote(void *arg,
                           const struct tr_shard_id *ids,
                           size_t n,
                           struct cl_answer *a,
                           char *errmsg)
{
    (void)ids;
    (void)n;
    struct sm_meta *m = arg;
    int rv = cl_metrics_decode_metadata(a->body, a->len, m->a, &m->items, &m->n,
                                        &m->cap);
    return rv == 0 ? 0 : tr_errf(TR_EUNAVAIL, errmsg, "bad metadata response");
}

int tr_cluster_metadata(struct tr_cluster *c,
                        struct tr_slice tenant,
                        struct tr_slice metric,
                        size_t limit,
                        struct tr_arena *a,
                        struct tr_metadata_item **out,
                        size_t *n,
                        char *errmsg)
{
    /* metadata travels with the first shard of a write (any window): every
     * window's shards are asked (a small read: one record per metric) */
    struct sm_meta m = {c, tenant, metric, limit, a, NULL, 0, 0};
    struct tr_select_hints h;
    memset(&h, 0, sizeof(h));
    h.mint = INT64_MIN;
    h.maxt = INT64_MAX;
    struct tr_buf req;
    tr_buf_init(&req);
    cl_metrics_req_encode(&req, SEL_METADATA, tenant, &h, &metric, NULL, 0);
    struct cl_read r = {
        .signal = TR_SIGNAL_METRICS,
        .mint = h.mint,
        .maxt = h.maxt,
        .req = req.data,
        .req_len = req.len,
        .local = sm__meta_local,
        .remote = sm__meta_remote,
        .arg = &m,
    };
    int rv = cl_read_run(c, &r, errmsg);
    tr_buf_free(&req);
    if (rv != 0) {
        return rv;
    }
    *n = tr_metadata_merge(m.items, m.n, limit);
    *out = m.items;
    return 0;
}

/* ---- exemplars
 * ---------------------------------------------------------------------
 */

void cl_metrics_encode_exemplars(struct tr_buf *b,
                                 const struct tr_exemplar_series *v,
                                 size_t n)
{
    struct tr_buf lb;
    tr_buf_init(&lb);
    tr_buf_put_uvarint(b, n);
    for (size_t i = 0; i < n; i++) {
        tr_buf_reset(&lb);
        tr_labels_encode(v[i].labels, v[i].n_labels, &lb);
        sm__put_bytes(b, (struct tr_slice){lb.data, lb.len});
        tr_buf_put_uvarint(b, v[i].n);
        for (size_t j = 0; j < v[i].n; j++) {
            const struct tr_exemplar *e = &v[i].ex[j];
            uint64_t bits;
            memcpy(&bits, &e->value, 8);
            tr_buf_put_varint(b, e->ts);
            tr_buf_put_u64be(b, bits);
            tr_buf_reset(&lb);
            tr_labels_encode(e->labels, e->n_labels, &lb);
            sm__put_bytes(b, (struct tr_slice){lb.data, lb.len});
        }
    }
    if (lb.oom) {
        b->oom = true;
    }
    tr_buf_free(&lb);
}

/* Decodes canonical labels enc into arena a, its bytes copied there (an
 * answer's body goes away after its remote() call). 0, TR_EPROTO or
 * TR_ENOMEM. */
static int sm__labels_copy(struct tr_arena *a,
                           struct tr_slice enc,
                           struct tr_label **ls,
                           size_t *n)
{
    const char *cp = enc.len > 0 ? tr_arena_memdup(a, enc.base, enc.len) : "";
    if (cp == NULL) {
        return TR_ENOMEM;
    }
    return tr_labels_decode(cp, enc.len, a, ls, n) == 0 ? 0 : TR_EPROTO;
}

int cl_metrics_decode_exemplars(const void *buf,
                                size_t len,
                                struct tr_arena *a,
                                struct tr_exemplar_series **v,
                                size_t *n,
                                size_t *cap)
{
    struct tr_cursor cur = tr_cursor_make(buf, len);
    uint64_t ns;
    if (tr_cursor_uvarint(&cur, &ns) != 0 || ns > len) {
        return TR_EPROTO;
    }
    for (uint64_t i = 0; i < ns; i++) {
        if (*n == *cap) {
            struct tr_exemplar_series *nv =
                tr_arena_array_grow(a, *v, *n, cap, sizeof(**v), 64);
            if (nv == NULL) {
                return TR_ENOMEM;
            }
            *v = nv;
        }
        struct tr_exemplar_series *s = &(*v)[*n];
        memset(s, 0, sizeof(*s));
        struct tr_slice enc;
        uint64_t ne;
        if (sm__get_bytes(&cur, &enc) != 0 ||
            sm__labels_copy(a, enc, &s->labels, &s->n_labels) != 0 ||
            tr_cursor_uvarint(&cur, &ne) != 0 ||
            ne > tr_cursor_left(&cur) / 10) {
            return TR_EPROTO;
        }
        s->ex = tr_arena_alloc(a, (ne ? ne : 1) * sizeof(*s->ex));
        if (s->ex == NULL) {
            return TR_ENOMEM;
        }
        for (uint64_t j = 0; j < ne; j++) {
            struct tr_exemplar *e = &s->ex[j];
            uint64_t bits;
            if (tr_cursor_varint(&cur, &e->ts) != 0 ||
                tr_cursor_u64be(&cur, &bits) != 0 ||
                sm__get_bytes(&cur, &enc) != 0 ||
                sm__labels_copy(a, enc, &e->labels, &e->n_labels) != 0) {
                return TR_EPROTO;
            }
            memcpy(&e->value, &bits, 8);
        }
        s->n = (size_t)ne;
        (*n)++;
    }
    return tr_cursor_left(&cur) == 0 ? 0 : TR_EPROTO;
}

struct sm_ex {
    struct tr_cluster *c;
    struct tr_slice tenant;
    const struct tr_matcher *ms;
    size_t n_ms;
    int64_t mint, maxt;
    struct tr_arena *a;
    struct tr_exemplar_series *items;
    size_t n;
    size_t cap;
};

static int sm__ex_local(void *arg,
                        const struct tr_shard_id *ids,
                        size_t n,
                        char *errmsg)
{
    struct sm_ex *m = arg;
    struct tr_exemplar_series *items = NULL;
    size_t cnt = 0;
    int rv =
        tr_storage_exemplars(m->c->storage, m->tenant, m->ms, m->n_ms, m->mint,
                             m->maxt, ids, n, m->a, &items, &cnt, errmsg);
    for (size_t i = 0; rv == 0 && i < cnt; i++) {
        if (m->n == m->cap) {
            struct tr_exemplar_series *nv = tr_arena_array_grow(
                m->a, m->items, m->n, &m->cap, sizeof(*nv), 64);
            if (nv == NULL) {
                return tr_errf(TR_ENOMEM, errmsg, "out of memory");
            }
            m->items = nv;
        }
        m->items[m->n++] = items[i];
    }
    return rv;
}

static int sm__ex_remote(void *arg,
                         const struct tr_shard_id *ids,
                         size_t n,
                         struct cl_answer *a,
                         char *errmsg)
{
    (void)ids;
    (void)n;
    struct sm_ex *m = arg;
    int rv = cl_metrics_decode_exemplars(a->body, a->len, m->a, &m->items,
                                         &m->n, &m->cap);
    return rv == 0 ? 0
                   : tr_errf(rv == TR_ENOMEM ? rv : TR_EUNAVAIL, errmsg,
                             "bad exemplars response");
}

int tr_cluster_exemplars(struct tr_cluster *c,
                         struct tr_slice tenant,
                         const struct tr_matcher *ms,
                         size_t n_ms,
                         int64_t mint,
                         int64_t maxt,
                         struct tr_arena *a,
                         struct tr_exemplar_series **out,
                         size_t *n,
                         char *errmsg)
{
    mint = cl_retention_clip(c, TR_SIGNAL_METRICS, tenant, mint);
    struct sm_ex m = {c, tenant, ms, n_ms, mint, maxt, a, NULL, 0, 0};
    struct tr_select_hints h;
    memset(&h, 0, sizeof(h));
    h.mint = mint;
    h.maxt = maxt;
    struct tr_buf req;
    tr_buf_init(&req);
    cl_metrics_req_encode(&req, SEL_EXEMPLARS, tenant, &h, NULL, ms, n_ms);
    struct cl_read r = {
        .signal = TR_SIGNAL_METRICS,
        .mint = mint,
        .maxt = maxt,
        .req = req.data,
        .req_len = req.len,
        .local = sm__ex_local,
        .remote = sm__ex_remote,
        .arg = &m,
    };
    int rv = req.oom ? tr_errf(TR_ENOMEM, errmsg, "out of memory")
                     : cl_read_run(c, &r, errmsg);
    tr_buf_free(&req);
    if (rv == 0) {
        rv = tr_exemplar_series_merge(m.items, &m.n, a);
        if (rv != 0) {
            tr_errf(rv, errmsg, "out of memory");
        }
    }
    if (rv != 0) {
        return rv;
    }
    *out = m.items;
    *n = m.n;
    return 0;
}
