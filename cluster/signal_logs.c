/* signal_logs.c - the logs signal in the cluster: splitting a push into
 * per-shard entries (stream = tenant + label set, shard = (logs,
 * window(ts), jump_hash(hash(tenant, labels), K))), the leader's
 * stream-limit admission, the cluster-wide logs read source (select, label
 * names and values) over the parallel fan-out, serving it for other nodes,
 * and merging the shards' streams.
 *
 *   logs read request (after the generic read header, cluster/read.c):
 *                  u8 op (1 select, 2 label names, 3 label values),
 *                  uvarint + tenant, varint start ns, varint end ns,
 *                  u8 flags (1 = no lines, 2 = backward), uvarint limit,
 *                  uvarint max streams, uvarint + label name (op 3),
 *                  uvarint n matchers (<= 256), per matcher: u8 type,
 *                  uvarint + name, uvarint + value; uvarint n needles
 *                  (<= 64), per needle uvarint + bytes; uvarint n
 *                  metadata equalities (<= 64), per: uvarint + name,
 *                  uvarint + value
 *   select response: frames (cluster_int.h) in label order, one or more
 *                  stream frames per stream (units: the line bytes it
 *                  holds): u8 1, uvarint + canonical labels, uvarint
 *                  total entries, uvarint total bytes, uvarint n lines,
 *                  per line: varint ts ns, uvarint + line, uvarint n
 *                  metadata, per pair uvarint + name, uvarint + value;
 *                  a stream's lines continue in its next frame when it
 *                  has the same labels; then the end frame (units 0):
 *                  u8 2, uvarint blocks total, blocks skipped, bytes
 *                  decompressed, lines scanned
 *   strings response: as the metrics signal's (cl_strings_encode)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/hash.h"
#include "storage/log_entry.h"
#include "storage/log_store.h"

enum { SL_SELECT = 1, SL_NAMES = 2, SL_VALUES = 3 };
enum { SL_FRAME_STREAM = 1, SL_FRAME_END = 2 };
enum { SL_NO_LINES = 1, SL_BACKWARD = 2 };
#define SL_MAX_MATCHERS 256
#define SL_MAX_FILTERS 64
#define SL_FRAME_TARGET (4u << 20) /* start a new frame past this */
#define SL_NAME_MAX 1024

/* ---- writes ------------------------------------------------------------- */

struct sl_build {
    struct tr_shard_id id;
    struct tr_log_entry_stream *streams;
    size_t n;
    size_t cap;
};

static struct sl_build *sl__batch(struct sl_build **bs,
                                  size_t *nb,
                                  size_t *capb,
                                  int64_t w,
                                  uint16_t slot)
{
    return cl_shard_elem((void **)bs, nb, capb, sizeof(**bs), TR_SIGNAL_LOGS, w,
                         slot);
}

/* The part of stream s in batch b (the last one added when it came from
 * s), with room for up to max lines. */
static struct tr_log_entry_stream *sl__sub(struct tr_arena *a,
                                           struct sl_build *b,
                                           const struct tr_log_entry_stream *s)
{
    if (b->n > 0 && b->streams[b->n - 1].labels.base == s->labels.base) {
        return &b->streams[b->n - 1];
    }
    if (b->n == b->cap) {
        struct tr_log_entry_stream *ns =
            tr_arena_array_grow(a, b->streams, b->n, &b->cap, sizeof(*ns), 64);
        if (ns == NULL) {
            return NULL;
        }
        b->streams = ns;
    }
    struct tr_log_entry_stream *d = &b->streams[b->n++];
    d->labels = s->labels;
    d->n_lines = 0;
    d->lines = tr_arena_alloc(a, s->n_lines * sizeof(*d->lines));
    return d->lines != NULL ? d : NULL;
}

/* Leader admission of one shard's streams (worker thread): the tenant's
 * stream limit, divided over the window's K shards, against the tenant's
 * stream count in the shard (replicated state kept by apply); new streams
 * beyond it are dropped (their lines counted in res). *n shrinks. */
static int sl__admit_streams(struct tr_cluster *c,
                             const struct tr_shard_id *id,
                             struct tr_slice tenant,
                             struct tr_log_entry_stream *streams,
                             size_t *n,
                             struct tr_arena *a,
                             struct tr_apply_result *res,
                             char *errmsg)
{
    char name[TR_CATALOG_TENANT_MAX];
    snprintf(name, sizeof(name), "%.*s", (int)tenant.len, tenant.base);
    uint64_t limit = c->cfg.max_streams;
    uint16_t k = 1;
    pthread_mutex_lock(&c->meta_fsm.mu);
    const struct tr_catalog_shard *sh = tr_catalog_shard(
        &c->meta_fsm.catalog, id->signal, id->window, id->slot);
    if (sh != NULL && sh->k > 0) {
        k = sh->k;
    }
    pthread_mutex_unlock(&c->meta_fsm.mu);
    uint64_t per_shard = limit == 0 ? UINT64_MAX : (limit + k - 1) / k;
    size_t m = *n;
    struct tr_slice *labels = tr_arena_alloc(a, (m ? m : 1) * sizeof(*labels));
    bool *is_new = tr_arena_alloc(a, (m ? m : 1) * sizeof(*is_new));
    if (labels == NULL || is_new == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    for (size_t i = 0; i < m; i++) {
        labels[i] = streams[i].labels;
    }
    uint64_t count = 0;
    int rv = tr_storage_streams_admit(c->storage, id, tenant, labels, m, is_new,
                                      &count);
    if (rv != 0) {
        return tr_errf(rv, errmsg, "stream admission failed");
    }
    uint64_t refused = 0;
    size_t o = 0;
    for (size_t i = 0; i < m; i++) {
        if (is_new[i] && count >= per_shard) {
            refused += streams[i].n_lines;
            continue;
        }
        count += is_new[i];
        streams[o++] = streams[i];
    }
    *n = o;
    if (refused > 0) {
        res->rejected += refused;
        if (res->first_error == 0) {
            res->first_error = TR_ELIMIT;
            snprintf(res->errmsg, sizeof(res->errmsg),
                     "Maximum active stream limit exceeded, reduce the number "
                     "of active streams (reduce labels or reduce label "
                     "values), or contact your Loki administrator to see if "
                     "the limit can be increased, user: '%s' "
                     "(limits.max-streams: %" PRIu64 ", %" PRIu64
                     " per shard over the window's %u shards)",
                     name, limit, per_shard, k);
        }
    }
    return 0;
}

int tr_cluster_write_logs(struct tr_cluster *c,
                          const struct tr_entry_logs *e,
                          struct tr_apply_result *res,
                          char *errmsg)
{
    memset(res, 0, sizeof(*res));
    int64_t deadline = cl_mono_ms() + c->cfg.write_timeout_ms;
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    uint64_t tseed = tr_hash64(e->tenant.base, e->tenant.len, 0x74656e);
    struct sl_build *bs = NULL;
    size_t nb = 0, capb = 0;
    int rv = 0;
    int64_t last_w = INT64_MIN;
    uint16_t last_k = 0;
    for (size_t i = 0; i < e->n_streams && rv == 0; i++) {
        const struct tr_log_entry_stream *s = &e->streams[i];
        uint64_t h = tr_hash64(s->labels.base, s->labels.len, tseed);
        for (size_t j = 0; j < s->n_lines && rv == 0; j++) {
            const struct tr_log_line *l = &s->lines[j];
            /* floor division: windows of times before 1970 too */
            int64_t ms = l->ts / 1000000 - (l->ts % 1000000 < 0);
            int64_t w = cl_window_start(c, ms);
            if (w != last_w) {
                rv = cl_window_k(c, TR_SIGNAL_LOGS, w, deadline, &last_k,
                                 errmsg);
                if (rv != 0) {
                    break;
                }
                last_w = w;
            }
            uint16_t slot = (uint16_t)tr_jump_hash(h, last_k);
            struct sl_build *b = sl__batch(&bs, &nb, &capb, w, slot);
            struct tr_log_entry_stream *d = b ? sl__sub(&a, b, s) : NULL;
            if (d == NULL) {
                rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
                break;
            }
            ((struct tr_log_line *)d->lines)[d->n_lines++] = *l;
        }
    }
    struct cl_batch *batches =
        rv == 0 ? tr_calloc(nb ? nb : 1, sizeof(*batches)) : NULL;
    if (rv == 0 && batches == NULL) {
        rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    struct tr_apply_result pre;
    memset(&pre, 0, sizeof(pre));
    for (size_t b = 0; b < nb && rv == 0; b++) {
        batches[b].id = bs[b].id;
        tr_buf_init(&batches[b].entry);
        tr_buf_init(&batches[b].plain);
        struct cl_stat st;
        if (cl_stat_get(c, &bs[b].id, &st) && st.state == RAFT_LEADER &&
            !st.catching_up && !st.failed) {
            rv = sl__admit_streams(c, &bs[b].id, e->tenant, bs[b].streams,
                                   &bs[b].n, &a, &pre, errmsg);
            batches[b].admitted = true;
        }
        struct tr_entry_logs el = {
            .tenant = e->tenant,
            .streams = bs[b].streams,
            .n_streams = bs[b].n,
            .ooo_window_ns = e->ooo_window_ns,
        };
        if (rv == 0) {
            rv = tr_entry_logs_encode_both(
                &el, &batches[b].entry,
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

/* Leader: admission of an entry that arrived encoded. */
static int sl__admit(struct tr_cluster *c,
                     const struct tr_shard_id *id,
                     const void *entry,
                     size_t len,
                     struct tr_buf *out,
                     struct tr_apply_result *res,
                     char *errmsg)
{
    const uint8_t *p = entry;
    if (len < 1 || p[0] != TR_ENTRY_LOGS) {
        return tr_buf_append(out, entry, len); /* verify entries */
    }
    struct tr_arena a;
    tr_arena_init(&a, 16 * 1024);
    struct tr_entry_logs e;
    int rv = tr_entry_logs_decode(entry, len, &a, &e);
    if (rv != 0) {
        tr_arena_free(&a);
        return tr_errf(TR_EPROTO, errmsg, "malformed logs entry");
    }
    struct tr_log_entry_stream *streams =
        (struct tr_log_entry_stream *)e.streams;
    rv = sl__admit_streams(c, id, e.tenant, streams, &e.n_streams, &a, res,
                           errmsg);
    if (rv == 0) {
        rv = tr_entry_logs_encode(&e, out);
    }
    tr_arena_free(&a);
    return rv;
}

/* ---- read requests and responses ----------------------------------------- */

static void sl__put_bytes(struct tr_buf *b, struct tr_slice s)
{
    tr_buf_put_uvarint(b, s.len);
    tr_buf_append(b, s.base, s.len);
}

static int sl__get_bytes(struct tr_cursor *c, struct tr_slice *s)
{
    uint64_t n;
    if (tr_cursor_uvarint(c, &n) != 0) {
        return TR_EPROTO;
    }
    return tr_cursor_bytes(c, n, s) == 0 ? 0 : TR_EPROTO;
}

void cl_logs_req_encode(struct tr_buf *b,
                        int op,
                        struct tr_slice tenant,
                        const struct tr_log_hints *h,
                        const struct tr_slice *name,
                        const struct tr_matcher *ms,
                        size_t n)
{
    tr_buf_putc(b, (char)op);
    sl__put_bytes(b, tenant);
    tr_buf_put_varint(b, h->start);
    tr_buf_put_varint(b, h->end);
    tr_buf_putc(b, (char)((h->no_lines ? SL_NO_LINES : 0) |
                          (h->direction == TR_LOG_BACKWARD ? SL_BACKWARD : 0)));
    tr_buf_put_uvarint(b, h->limit);
    tr_buf_put_uvarint(b, h->max_streams);
    if (op == SL_VALUES) {
        sl__put_bytes(b, *name);
    }
    tr_buf_put_uvarint(b, n);
    for (size_t i = 0; i < n; i++) {
        tr_buf_putc(b, (char)ms[i].type);
        sl__put_bytes(b, tr_slice_cstr(ms[i].name));
        sl__put_bytes(b, (struct tr_slice){ms[i].value, ms[i].value_len});
    }
    tr_buf_put_uvarint(b, h->n_needles);
    for (size_t i = 0; i < h->n_needles; i++) {
        sl__put_bytes(b, h->needles[i]);
    }
    tr_buf_put_uvarint(b, h->n_meta);
    for (size_t i = 0; i < h->n_meta; i++) {
        sl__put_bytes(b, h->meta[i].name);
        sl__put_bytes(b, h->meta[i].value);
    }
}

/* A parsed logs read request: matchers compiled (free with sl__req_free),
 * slices into the request. */
struct sl_req {
    uint8_t op;
    struct tr_slice tenant;
    struct tr_slice name;
    struct tr_log_hints h;
    struct tr_matcher *ms;
    size_t n_ms;
    struct tr_slice *needles;
    struct tr_label *meta;
};

static void sl__req_free(struct sl_req *q)
{
    for (size_t i = 0; i < q->n_ms; i++) {
        tr_matcher_free(&q->ms[i]);
    }
    tr_free(q->ms);
    tr_free(q->needles);
    tr_free(q->meta);
    memset(q, 0, sizeof(*q));
}

static int sl__req_parse(const void *req,
                         size_t len,
                         struct sl_req *q,
                         char *errmsg)
{
    struct tr_cursor cur = tr_cursor_make(req, len);
    uint8_t flags;
    uint64_t n, lim, maxs;
    memset(q, 0, sizeof(*q));
    if (tr_cursor_u8(&cur, &q->op) != 0 || q->op < SL_SELECT ||
        q->op > SL_VALUES || sl__get_bytes(&cur, &q->tenant) != 0 ||
        tr_cursor_varint(&cur, &q->h.start) != 0 ||
        tr_cursor_varint(&cur, &q->h.end) != 0 ||
        tr_cursor_u8(&cur, &flags) != 0 || tr_cursor_uvarint(&cur, &lim) != 0 ||
        tr_cursor_uvarint(&cur, &maxs) != 0 ||
        (q->op == SL_VALUES && sl__get_bytes(&cur, &q->name) != 0) ||
        tr_cursor_uvarint(&cur, &n) != 0 || n > SL_MAX_MATCHERS) {
        return tr_errf(TR_EPROTO, errmsg, "malformed logs read request");
    }
    q->h.no_lines = flags & SL_NO_LINES;
    q->h.direction = flags & SL_BACKWARD ? TR_LOG_BACKWARD : TR_LOG_FORWARD;
    q->h.limit = (size_t)lim;
    q->h.max_streams = (size_t)maxs;
    q->ms = tr_calloc(n ? n : 1, sizeof(*q->ms));
    if (q->ms == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    char tn[SL_NAME_MAX];
    int rv = 0;
    for (uint64_t i = 0; i < n && rv == 0; i++) {
        uint8_t type;
        struct tr_slice mn, mv;
        if (tr_cursor_u8(&cur, &type) != 0 || type > TR_MATCH_NRE ||
            sl__get_bytes(&cur, &mn) != 0 || sl__get_bytes(&cur, &mv) != 0 ||
            mn.len >= sizeof(tn) || memchr(mn.base, 0, mn.len) != NULL) {
            rv = tr_errf(TR_EPROTO, errmsg, "malformed matcher");
            break;
        }
        memcpy(tn, mn.base, mn.len);
        tn[mn.len] = '\0';
        rv = tr_matcher_init(&q->ms[q->n_ms], (enum tr_match_type)type, tn,
                             mv.base, mv.len, errmsg);
        q->n_ms += rv == 0;
    }
    uint64_t nn = 0, nm = 0;
    if (rv == 0 && (tr_cursor_uvarint(&cur, &nn) != 0 || nn > SL_MAX_FILTERS)) {
        rv = tr_errf(TR_EPROTO, errmsg, "malformed needles");
    }
    if (rv == 0) {
        q->needles = tr_calloc(nn ? nn : 1, sizeof(*q->needles));
        rv = q->needles ? 0 : tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    for (uint64_t i = 0; i < nn && rv == 0; i++) {
        if (sl__get_bytes(&cur, &q->needles[i]) != 0) {
            rv = tr_errf(TR_EPROTO, errmsg, "malformed needles");
        }
    }
    if (rv == 0 && (tr_cursor_uvarint(&cur, &nm) != 0 || nm > SL_MAX_FILTERS)) {
        rv = tr_errf(TR_EPROTO, errmsg, "malformed metadata filters");
    }
    if (rv == 0) {
        q->meta = tr_calloc(nm ? nm : 1, sizeof(*q->meta));
        rv = q->meta ? 0 : tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    for (uint64_t i = 0; i < nm && rv == 0; i++) {
        if (sl__get_bytes(&cur, &q->meta[i].name) != 0 ||
            sl__get_bytes(&cur, &q->meta[i].value) != 0) {
            rv = tr_errf(TR_EPROTO, errmsg, "malformed metadata filters");
        }
    }
    if (rv != 0) {
        sl__req_free(q);
        return rv;
    }
    q->h.needles = q->needles;
    q->h.n_needles = nn;
    q->h.meta = q->meta;
    q->h.n_meta = nm;
    return 0;
}

/* Appends r as frames: stream frames (split every SL_FRAME_TARGET bytes),
 * then the end frame. 0, TR_ENOMEM or TR_ELIMIT (one line larger than a
 * frame). */
int cl_logs_encode_result(struct tr_buf *b, const struct tr_log_result *r)
{
    struct tr_buf lb;
    tr_buf_init(&lb);
    int rv = 0;
    for (size_t i = 0; i < r->n_streams && rv == 0; i++) {
        const struct tr_log_stream *s = &r->streams[i];
        tr_buf_reset(&lb);
        tr_labels_encode(s->labels, s->n_labels, &lb);
        size_t j = 0;
        do {
            size_t at = cl_frame_begin(b, 0);
            tr_buf_putc(b, SL_FRAME_STREAM);
            sl__put_bytes(b, (struct tr_slice){lb.data, lb.len});
            tr_buf_put_uvarint(b, j == 0 ? s->total_entries : 0);
            tr_buf_put_uvarint(b, j == 0 ? s->total_bytes : 0);
            /* how many lines go into this frame */
            size_t k = j, bytes = 0;
            while (k < s->n_lines &&
                   (k == j || bytes + s->lines[k].line.len < SL_FRAME_TARGET)) {
                bytes += s->lines[k].line.len;
                for (size_t m = 0; m < s->lines[k].n_meta; m++) {
                    bytes += s->lines[k].meta[m].name.len +
                             s->lines[k].meta[m].value.len;
                }
                k++;
            }
            tr_buf_put_uvarint(b, k - j);
            uint64_t units = 0;
            for (; j < k; j++) {
                const struct tr_log_line *l = &s->lines[j];
                tr_buf_put_varint(b, l->ts);
                sl__put_bytes(b, l->line);
                tr_buf_put_uvarint(b, l->n_meta);
                for (size_t m = 0; m < l->n_meta; m++) {
                    sl__put_bytes(b, l->meta[m].name);
                    sl__put_bytes(b, l->meta[m].value);
                }
                units += l->line.len;
            }
            if (b->len - at - CL_FRAME_HEADER > CL_FRAME_MAX) {
                rv = TR_ELIMIT;
                break;
            }
            cl_frame_end(b, at);
            if (!b->oom) {
                tr_put_u32be(b->data + at + 4,
                             units > UINT32_MAX ? UINT32_MAX : (uint32_t)units);
            }
        } while (j < s->n_lines);
    }
    if (rv == 0) {
        size_t at = cl_frame_begin(b, 0);
        tr_buf_putc(b, SL_FRAME_END);
        tr_buf_put_uvarint(b, r->stats.blocks_total);
        tr_buf_put_uvarint(b, r->stats.blocks_skipped);
        tr_buf_put_uvarint(b, r->stats.bytes_decompressed);
        tr_buf_put_uvarint(b, r->stats.lines_scanned);
        cl_frame_end(b, at);
    }
    tr_buf_free(&lb);
    return rv != 0 ? rv : (b->oom ? TR_ENOMEM : 0);
}

/* One stream frame into s (labels and lines in a; slices into the frame's
 * payload, which must outlive s). */
static int sl__decode_stream(const struct cl_frame *f,
                             struct tr_arena *a,
                             struct tr_log_stream *s)
{
    struct tr_cursor c = tr_cursor_make(f->p, f->len);
    uint8_t kind;
    struct tr_slice lab;
    uint64_t te, tb, n;
    if (tr_cursor_u8(&c, &kind) != 0 || kind != SL_FRAME_STREAM ||
        sl__get_bytes(&c, &lab) != 0 || tr_cursor_uvarint(&c, &te) != 0 ||
        tr_cursor_uvarint(&c, &tb) != 0 || tr_cursor_uvarint(&c, &n) != 0 ||
        n > tr_cursor_left(&c) / 3) {
        return TR_EPROTO;
    }
    memset(s, 0, sizeof(*s));
    if (tr_labels_decode(lab.base, lab.len, a, &s->labels, &s->n_labels) != 0) {
        return TR_EPROTO;
    }
    s->total_entries = te;
    s->total_bytes = tb;
    s->lines = tr_arena_alloc(a, (n ? n : 1) * sizeof(*s->lines));
    if (s->lines == NULL) {
        return TR_ENOMEM;
    }
    uint64_t units = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct tr_log_line *l = &s->lines[i];
        uint64_t nm;
        if (tr_cursor_varint(&c, &l->ts) != 0 ||
            sl__get_bytes(&c, &l->line) != 0 ||
            tr_cursor_uvarint(&c, &nm) != 0 || nm > tr_cursor_left(&c) / 2) {
            return TR_EPROTO;
        }
        units += l->line.len;
        struct tr_label *meta = NULL;
        if (nm > 0 && (meta = tr_arena_alloc(a, nm * sizeof(*meta))) == NULL) {
            return TR_ENOMEM;
        }
        for (uint64_t m = 0; m < nm; m++) {
            if (sl__get_bytes(&c, &meta[m].name) != 0 ||
                sl__get_bytes(&c, &meta[m].value) != 0) {
                return TR_EPROTO;
            }
        }
        l->meta = meta;
        l->n_meta = nm;
    }
    s->n_lines = n;
    if (tr_cursor_left(&c) != 0 ||
        (units > UINT32_MAX ? UINT32_MAX : units) != f->units) {
        return TR_EPROTO;
    }
    return 0;
}

/* A node's framed answer into r (initialised here): its stream frames in
 * order, a stream continued over several frames joined, then the stats of
 * the end frame. Never trusted. */
int cl_logs_decode_result(struct cl_answer *ans, struct tr_log_result *r)
{
    tr_log_result_init(r);
    if (ans->arena != NULL) {
        tr_arena_adopt(&r->arena, ans->arena);
    }
    size_t cap = 0;
    bool ended = false;
    for (size_t i = 0; i < ans->n_frames; i++) {
        const struct cl_frame *f = &ans->frames[i];
        if (ended || f->len < 1) {
            return TR_EPROTO;
        }
        if ((uint8_t)f->p[0] == SL_FRAME_END) {
            struct tr_cursor c = tr_cursor_make(f->p + 1, f->len - 1);
            struct tr_log_stats *st = &r->stats;
            if (tr_cursor_uvarint(&c, &st->blocks_total) != 0 ||
                tr_cursor_uvarint(&c, &st->blocks_skipped) != 0 ||
                tr_cursor_uvarint(&c, &st->bytes_decompressed) != 0 ||
                tr_cursor_uvarint(&c, &st->lines_scanned) != 0 ||
                tr_cursor_left(&c) != 0 || f->units != 0) {
                return TR_EPROTO;
            }
            ended = true;
            continue;
        }
        struct tr_log_stream s;
        int rv = sl__decode_stream(f, &r->arena, &s);
        if (rv != 0) {
            return rv;
        }
        struct tr_log_stream *last =
            r->n_streams > 0 ? &r->streams[r->n_streams - 1] : NULL;
        int cmp = last ? tr_labels_cmp(last->labels, last->n_labels, s.labels,
                                       s.n_labels)
                       : -1;
        if (cmp > 0) {
            return TR_EPROTO; /* not in label order */
        }
        if (cmp == 0) {
            struct tr_log_line *lines = tr_arena_alloc(
                &r->arena, (last->n_lines + s.n_lines) * sizeof(*lines));
            if (lines == NULL) {
                return TR_ENOMEM;
            }
            memcpy(lines, last->lines, last->n_lines * sizeof(*lines));
            memcpy(lines + last->n_lines, s.lines, s.n_lines * sizeof(*lines));
            last->lines = lines;
            last->n_lines += s.n_lines;
            last->total_entries += s.total_entries;
            last->total_bytes += s.total_bytes;
            continue;
        }
        if (r->n_streams == cap) {
            struct tr_log_stream *ns = tr_arena_array_grow(
                &r->arena, r->streams, r->n_streams, &cap, sizeof(*ns), 16);
            if (ns == NULL) {
                return TR_ENOMEM;
            }
            r->streams = ns;
        }
        r->streams[r->n_streams++] = s;
    }
    return ended ? 0 : TR_EPROTO;
}

static int sl__serve_read(struct tr_cluster *c,
                          const struct tr_shard_id *ids,
                          size_t n_ids,
                          uint64_t max_units,
                          const void *req,
                          size_t len,
                          struct tr_buf *out,
                          char *errmsg)
{
    struct sl_req q;
    int rv = sl__req_parse(req, len, &q, errmsg);
    if (rv != 0) {
        return rv;
    }
    struct tr_select_budget budget;
    tr_select_budget_init(&budget, max_units);
    q.h.shards = ids;
    q.h.n_shards = n_ids;
    q.h.budget = max_units > 0 ? &budget : NULL;
    const struct tr_log_source *src = tr_storage_log_source(c->storage);
    if (q.op == SL_SELECT) {
        struct tr_log_result r;
        rv = src->select(src->impl, q.tenant, q.ms, q.n_ms, &q.h, &r, errmsg);
        if (rv == 0) {
            rv = cl_logs_encode_result(out, &r);
            if (rv != 0) {
                tr_errf(rv, errmsg,
                        rv == TR_ELIMIT ? "a log line is too large for a frame"
                                        : "out of memory");
            }
        }
        tr_log_result_free(&r);
    } else {
        struct tr_string_list l;
        rv = q.op == SL_NAMES
                 ? src->label_names(src->impl, q.tenant, q.ms, q.n_ms, &q.h, &l,
                                    errmsg)
                 : src->label_values(src->impl, q.tenant, q.name, q.ms, q.n_ms,
                                     &q.h, &l, errmsg);
        if (rv == 0) {
            cl_strings_encode(out, &l);
        }
        tr_string_list_free(&l);
    }
    sl__req_free(&q);
    return rv;
}

static void sl__stop_entry(struct tr_buf *out)
{
    uint8_t e[TR_ENTRY_LOGS_CUT_SIZE];
    tr_entry_logs_cut_encode(e);
    tr_buf_append(out, e, sizeof(e));
}

const struct cl_signal_ops cl_signal_logs = {
    .signal = TR_SIGNAL_LOGS,
    .admit = sl__admit,
    .serve_read = sl__serve_read,
    .stop_entry = sl__stop_entry,
};

/* ---- merging shard results ----------------------------------------------- */

struct sl_ref {
    struct tr_log_stream *s;
    size_t part;
};

static int sl__ref_cmp(const void *a, const void *b)
{
    const struct sl_ref *x = a, *y = b;
    int c = tr_labels_cmp(x->s->labels, x->s->n_labels, y->s->labels,
                          y->s->n_labels);
    if (c != 0) {
        return c;
    }
    return x->part < y->part ? -1 : x->part > y->part;
}

/* The lines of refs[0..n) (one stream from several shards) merged in the
 * direction's order (stable: equal times keep the parts' order), at most
 * limit (0 = all), into out (memory from a). */
static int sl__merge_lines(struct sl_ref *refs,
                           size_t n,
                           const struct tr_log_hints *h,
                           struct tr_arena *a,
                           struct tr_log_stream *out)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += refs[i].s->n_lines;
        out->total_entries += refs[i].s->total_entries;
        out->total_bytes += refs[i].s->total_bytes;
    }
    size_t want = h->limit > 0 && h->limit < total ? h->limit : total;
    out->lines = tr_arena_alloc(a, (want ? want : 1) * sizeof(*out->lines));
    size_t *pos = tr_calloc(n, sizeof(*pos));
    if (out->lines == NULL || pos == NULL) {
        tr_free(pos);
        return TR_ENOMEM;
    }
    bool back = h->direction == TR_LOG_BACKWARD;
    for (size_t o = 0; o < want; o++) {
        size_t best = n;
        for (size_t i = 0; i < n; i++) {
            if (pos[i] >= refs[i].s->n_lines) {
                continue;
            }
            if (best == n) {
                best = i;
                continue;
            }
            int64_t t = refs[i].s->lines[pos[i]].ts;
            int64_t bt = refs[best].s->lines[pos[best]].ts;
            if (back ? t > bt : t < bt) {
                best = i;
            }
        }
        out->lines[o] = refs[best].s->lines[pos[best]++];
    }
    out->n_lines = want;
    tr_free(pos);
    return 0;
}

/* Merges parts (each sorted by labels) into out: streams with the same
 * labels joined. The parts' memory is adopted by out. */
static int sl__merge(struct tr_log_result *parts,
                     size_t np,
                     const struct tr_log_hints *h,
                     struct tr_log_result *out,
                     char *errmsg)
{
    tr_log_result_init(out);
    size_t total = 0;
    for (size_t p = 0; p < np; p++) {
        total += parts[p].n_streams;
        out->stats.blocks_total += parts[p].stats.blocks_total;
        out->stats.blocks_skipped += parts[p].stats.blocks_skipped;
        out->stats.bytes_decompressed += parts[p].stats.bytes_decompressed;
        out->stats.lines_scanned += parts[p].stats.lines_scanned;
    }
    struct sl_ref *refs = tr_calloc(total ? total : 1, sizeof(*refs));
    out->streams = tr_arena_alloc(&out->arena,
                                  (total ? total : 1) * sizeof(*out->streams));
    if (refs == NULL || out->streams == NULL) {
        tr_free(refs);
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    size_t k = 0;
    for (size_t p = 0; p < np; p++) {
        for (size_t i = 0; i < parts[p].n_streams; i++) {
            refs[k++] = (struct sl_ref){&parts[p].streams[i], p};
        }
    }
    qsort(refs, total, sizeof(*refs), sl__ref_cmp);
    int rv = 0;
    for (size_t i = 0; i < total && rv == 0;) {
        size_t j = i + 1;
        while (j < total &&
               tr_labels_cmp(refs[i].s->labels, refs[i].s->n_labels,
                             refs[j].s->labels, refs[j].s->n_labels) == 0) {
            j++;
        }
        struct tr_log_stream *o = &out->streams[out->n_streams++];
        memset(o, 0, sizeof(*o));
        o->labels = refs[i].s->labels;
        o->n_labels = refs[i].s->n_labels;
        if (j - i == 1) {
            *o = *refs[i].s;
        } else {
            rv = sl__merge_lines(&refs[i], j - i, h, &out->arena, o);
        }
        i = j;
    }
    if (rv == 0 && h->max_streams > 0 && out->n_streams > h->max_streams) {
        rv = tr_errf(TR_ELIMIT, errmsg,
                     "the query hit the max number of streams limit "
                     "(limit: %zu streams)",
                     h->max_streams);
    }
    for (size_t p = 0; p < np; p++) {
        tr_arena_adopt(&out->arena, &parts[p].arena);
    }
    tr_free(refs);
    return rv == TR_ENOMEM ? tr_errf(rv, errmsg, "out of memory") : rv;
}

/* ---- the cluster-wide logs source -----------------------------------------
 */

struct sl_select {
    struct tr_cluster *c;
    struct tr_slice tenant;
    const struct tr_matcher *ms;
    size_t n;
    const struct tr_log_hints *h;
    struct tr_select_budget *budget;
    struct tr_log_result *parts;
    size_t np;
    size_t cap;
};

static struct tr_log_result *sl__part(struct sl_select *s)
{
    if (s->np == s->cap) {
        struct tr_log_result *p =
            tr_array_grow(s->parts, &s->cap, sizeof(*p), 8);
        if (p == NULL) {
            return NULL;
        }
        s->parts = p;
    }
    return &s->parts[s->np++];
}

static int sl__select_local(void *arg,
                            const struct tr_shard_id *ids,
                            size_t n,
                            char *errmsg)
{
    struct sl_select *s = arg;
    struct tr_log_result *part = sl__part(s);
    if (part == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    const struct tr_log_source *local = tr_storage_log_source(s->c->storage);
    struct tr_log_hints hh = *s->h;
    hh.shards = ids;
    hh.n_shards = n;
    hh.budget = s->budget;
    return local->select(local->impl, s->tenant, s->ms, s->n, &hh, part,
                         errmsg);
}

static int sl__select_remote(void *arg,
                             const struct tr_shard_id *ids,
                             size_t n,
                             struct cl_answer *a,
                             char *errmsg)
{
    (void)ids;
    (void)n;
    struct sl_select *s = arg;
    struct tr_log_result *part = sl__part(s);
    if (part == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    int rv = cl_logs_decode_result(a, part);
    if (rv == TR_ENOMEM) {
        return tr_errf(rv, errmsg, "out of memory");
    }
    return rv != 0 ? tr_errf(TR_EUNAVAIL, errmsg, "bad logs select response")
                   : 0;
}

/* The windows a range of ns touches, in ms (inclusive). */
static void sl__range_ms(const struct tr_log_hints *h,
                         int64_t *mint,
                         int64_t *maxt)
{
    *mint = h->start / 1000000 - (h->start % 1000000 < 0);
    int64_t e = h->end - 1;
    *maxt = e / 1000000 - (e % 1000000 < 0);
}

/* The start raised to the tenant's retention start (a range entirely
 * past it becomes empty: start >= end). */
static void sl__clip(struct tr_cluster *c,
                     struct tr_slice tenant,
                     struct tr_log_hints *h)
{
    int64_t from = cl_retention_clip(c, TR_SIGNAL_LOGS, tenant, INT64_MIN);
    if (from != INT64_MIN && from < INT64_MAX / 1000000 &&
        from * 1000000 > h->start) {
        h->start = from * 1000000;
    }
}

static int sl__select(void *impl,
                      struct tr_slice tenant,
                      const struct tr_matcher *ms,
                      size_t n,
                      const struct tr_log_hints *h,
                      struct tr_log_result *out,
                      char *errmsg)
{
    struct tr_cluster *c = impl;
    struct tr_log_hints clipped = *h;
    sl__clip(c, tenant, &clipped);
    h = &clipped;
    struct tr_select_budget own;
    tr_select_budget_init(&own, 0);
    struct sl_select s = {c,    tenant, ms, n, h, h->budget ? h->budget : &own,
                          NULL, 0,      0};
    struct tr_buf req;
    tr_buf_init(&req);
    cl_logs_req_encode(&req, SL_SELECT, tenant, h, NULL, ms, n);
    struct cl_read r = {
        .signal = TR_SIGNAL_LOGS,
        .leader_only = h->leader_only,
        .framed = true,
        .budget = h->budget,
        .req = req.data,
        .req_len = req.len,
        .local = sl__select_local,
        .remote = sl__select_remote,
        .arg = &s,
    };
    sl__range_ms(h, &r.mint, &r.maxt);
    int rv = req.oom ? tr_errf(TR_ENOMEM, errmsg, "out of memory")
                     : cl_read_run(c, &r, errmsg);
    if (rv == TR_ELIMIT && h->budget != NULL &&
        tr_select_budget_over(h->budget)) {
        tr_errf(rv, errmsg,
                "the query would read too many bytes (max_query_bytes_read)");
    }
    if (rv == 0 && s.np == 1) {
        *out = s.parts[0];
        s.np = 0;
    } else if (rv == 0) {
        rv = sl__merge(s.parts, s.np, h, out, errmsg);
    } else {
        tr_log_result_init(out);
    }
    for (size_t i = 0; i < s.np; i++) {
        tr_log_result_free(&s.parts[i]);
    }
    tr_free(s.parts);
    tr_buf_free(&req);
    return rv;
}

/* Label names or values of the local shards ids (cl_strings_run). */
struct sl_strings {
    struct tr_cluster *c;
    int op;
    struct tr_slice tenant;
    struct tr_slice name;
    const struct tr_matcher *ms;
    size_t n;
    const struct tr_log_hints *h;
};

static int sl__strings_local(void *arg,
                             const struct tr_shard_id *ids,
                             size_t n,
                             struct tr_string_list *l,
                             char *errmsg)
{
    struct sl_strings *s = arg;
    const struct tr_log_source *local = tr_storage_log_source(s->c->storage);
    struct tr_log_hints hh = *s->h;
    hh.shards = ids;
    hh.n_shards = n;
    return s->op == SL_NAMES
               ? local->label_names(local->impl, s->tenant, s->ms, s->n, &hh, l,
                                    errmsg)
               : local->label_values(local->impl, s->tenant, s->name, s->ms,
                                     s->n, &hh, l, errmsg);
}

static int sl__strings(struct tr_cluster *c,
                       int op,
                       struct tr_slice tenant,
                       struct tr_slice name,
                       const struct tr_matcher *ms,
                       size_t n,
                       const struct tr_log_hints *h,
                       struct tr_string_list *out,
                       char *errmsg)
{
    struct tr_log_hints clipped = *h;
    sl__clip(c, tenant, &clipped);
    h = &clipped;
    struct sl_strings s = {c, op, tenant, name, ms, n, h};
    struct tr_buf req;
    tr_buf_init(&req);
    cl_logs_req_encode(&req, op, tenant, h, &name, ms, n);
    struct cl_strings_read r = {
        .signal = TR_SIGNAL_LOGS,
        .leader_only = h->leader_only,
        .req = req.data,
        .req_len = req.len,
        .local = sl__strings_local,
        .arg = &s,
    };
    sl__range_ms(h, &r.mint, &r.maxt);
    int rv = cl_strings_run(c, &r, out, errmsg);
    tr_buf_free(&req);
    return rv;
}

static int sl__label_names(void *impl,
                           struct tr_slice tenant,
                           const struct tr_matcher *ms,
                           size_t n,
                           const struct tr_log_hints *h,
                           struct tr_string_list *out,
                           char *errmsg)
{
    return sl__strings(impl, SL_NAMES, tenant, (struct tr_slice){"", 0}, ms, n,
                       h, out, errmsg);
}

static int sl__label_values(void *impl,
                            struct tr_slice tenant,
                            struct tr_slice name,
                            const struct tr_matcher *ms,
                            size_t n,
                            const struct tr_log_hints *h,
                            struct tr_string_list *out,
                            char *errmsg)
{
    return sl__strings(impl, SL_VALUES, tenant, name, ms, n, h, out, errmsg);
}

void cl_signal_logs_init_source(struct tr_cluster *c)
{
    c->log_source.version = 1;
    c->log_source.impl = c;
    c->log_source.select = sl__select;
    c->log_source.label_names = sl__label_names;
    c->log_source.label_values = sl__label_values;
}

const struct tr_log_source *tr_cluster_log_source(struct tr_cluster *c)
{
    return &c->log_source;
}
