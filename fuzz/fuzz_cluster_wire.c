/* fuzz_cluster_wire.c - libFuzzer driver for the decoders of the cluster's
 * internal RPC messages: what a node decodes of another node's bytes
 * (cluster/cluster_int.h; formats at the top of cluster/read.c, write.c,
 * status.c, handlers.c, signal_metrics.c and raft/catalog.h).
 *
 * Input: byte 0 % 12 picks the message, the rest is its bytes:
 *   0  node record                 cl_node_decode
 *   1  apply result                cl_apply_result_decode
 *   2  status/local answer         cl_status_decode
 *   3  hello answer                cl_hello_decode
 *   4  framed answer stream        cl_frame_reader: byte 1 bit 0 = frame
 *                                  limit 64 KiB (else the stream's length;
 *                                  CL_FRAME_MAX would have each header
 *                                  allocate up to 256 MiB), bytes 2-5 u32
 *                                  BE budget (0: none), then the stream
 *   5  metrics select answer       a framed stream, cl_metrics_decode_result
 *   6  strings answer              cl_strings_decode
 *   7  metrics metadata answer     cl_metrics_decode_metadata
 *   8  read request header         cl_read_req_parse
 *   9  metrics read request        cl_metrics_req_parse
 *   10 ensure-window request       cl_window_req_parse: byte 1 picks the
 *                                  window length, then the body
 *   11 metrics exemplars answer    cl_metrics_decode_exemplars (counts
 *                                  bounded by the input; a decoded answer
 *                                  re-encodes to the same items)
 *
 * Properties checked on arbitrary bytes, beyond no crash and no ASan/UBSan
 * report:
 *  - every decoder returns 0 or its documented errors (TR_EPROTO; a node
 *    record also TR_ECORRUPT/TR_EINVAL from the catalog), never TR_ENOMEM;
 *  - decoded counts are bounded by the input length (per item its
 *    smallest encoding), slices and chunk records lie inside the input;
 *  - round trips where an encoder exists: node record
 *    (tr_catalog_cmd_add_node), apply result, hello (records as api__hello
 *    writes them), select result, strings, metadata, metrics request
 *    (cl_metrics_req_encode), ensure-window; the read header is re-encoded
 *    as rd__round writes it. Re-encoding decodes to the same values and is
 *    never longer than the input (matcher names compared up to a NUL: the
 *    encoder takes them as C strings);
 *  - frames: the stream fed whole and fed in pieces of random sizes
 *    (seeded from the input, empty pieces too) gives the same frames,
 *    units taken, end state and result; no frame exceeds the limit; the
 *    budget is exceeded exactly when TR_ELIMIT is returned;
 *  - select results: every chunk-form series is walked a chunk at a time
 *    (tr_series_iter): each chunk yields its declared count of samples,
 *    strictly increasing, from its first to its last time, chunks in
 *    order; tr_series_samples agrees (same samples, or NULL exactly when
 *    a chunk is malformed);
 *  - status/local: decoding into less room gives a prefix of the views and
 *    the same health list; hello: less room gives a prefix of the nodes;
 *  - read header: the strict prefix of the header is malformed;
 *    metadata: decoding twice into one list appends the same items again;
 *  - ensure-window: an accepted window is a multiple of the window length
 *    and names a signal with a store. */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "raft/catalog.h"
#include "storage/chunk_record.h"
#include "storage/labels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    W_NODE,
    W_APPLY,
    W_STATUS,
    W_HELLO,
    W_FRAMES,
    W_SELECT,
    W_STRINGS,
    W_METADATA,
    W_READ_REQ,
    W_METRICS_REQ,
    W_WINDOW,
    W_EXEMPLARS,
    W_KINDS
};

#define CHECK(cond)    \
    do {               \
        if (!(cond)) { \
            abort();   \
        }              \
    } while (0)

static bool slice_same(struct tr_slice a, struct tr_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

/* s lies inside [p, p + n). */
static void check_in(const void *s, size_t len, const void *p, size_t n)
{
    if (len == 0) {
        return;
    }
    const uint8_t *q = s, *b = p;
    CHECK(q >= b && len <= n && (size_t)(q - b) <= n - len);
}

/* ---- node record, apply result --------------------------------------- */

static bool node_same(const struct tr_catalog_node *a,
                      const struct tr_catalog_node *b)
{
    return a->id == b->id && a->state == b->state &&
           strcmp(a->name, b->name) == 0 &&
           strcmp(a->raft_addr, b->raft_addr) == 0 &&
           strcmp(a->http_addr, b->http_addr) == 0;
}

static void check_node_fields(const struct tr_catalog_node *n)
{
    CHECK(n->id != 0 && n->state == TR_NODE_ACTIVE);
    CHECK(strnlen(n->name, sizeof(n->name)) < sizeof(n->name));
    CHECK(strnlen(n->raft_addr, sizeof(n->raft_addr)) < sizeof(n->raft_addr));
    CHECK(strnlen(n->http_addr, sizeof(n->http_addr)) < sizeof(n->http_addr));
}

static void fuzz_node(const uint8_t *p, size_t n)
{
    struct tr_catalog_node d;
    int rv = cl_node_decode(p, n, &d);
    CHECK(rv == 0 || rv == TR_EPROTO || rv == TR_ECORRUPT || rv == TR_EINVAL);
    if (rv != 0) {
        return;
    }
    check_node_fields(&d);
    struct tr_buf b;
    tr_buf_init(&b);
    tr_catalog_cmd_add_node(&b, &d);
    CHECK(!b.oom && b.len <= n);
    struct tr_catalog_node d2;
    CHECK(cl_node_decode(b.data, b.len, &d2) == 0 && node_same(&d, &d2));
    tr_buf_free(&b);
}

static void fuzz_apply(const uint8_t *p, size_t n)
{
    struct tr_apply_result r;
    int res = 1;
    char err[TR_ERRMSG_SIZE] = "";
    int rv = cl_apply_result_decode(p, n, &r, &res, err);
    CHECK(rv == 0 || rv == TR_EPROTO);
    if (rv != 0) {
        return;
    }
    CHECK(res <= 0 && r.first_error <= 0);
    CHECK(strnlen(err, sizeof(err)) < sizeof(err));
    CHECK(strnlen(r.errmsg, sizeof(r.errmsg)) < sizeof(r.errmsg));
    struct tr_buf b;
    tr_buf_init(&b);
    cl_apply_result_encode(&r, res, err, &b);
    CHECK(!b.oom && b.len <= n);
    struct tr_apply_result r2;
    int res2 = 1;
    char err2[TR_ERRMSG_SIZE] = "";
    CHECK(cl_apply_result_decode(b.data, b.len, &r2, &res2, err2) == 0);
    CHECK(res2 == res && r2.index == r.index && r2.appended == r.appended &&
          r2.duplicate == r.duplicate && r2.rejected == r.rejected &&
          r2.created == r.created && r2.metadata == r.metadata &&
          r2.first_error == r.first_error);
    /* the message travels as a C string */
    CHECK(strcmp(res != 0 ? err : r.errmsg, res != 0 ? err2 : r2.errmsg) == 0);
    tr_buf_free(&b);
}

/* ---- status/local, hello ---------------------------------------------- */

#define STATUS_ROOM 64
#define STATUS_VIEW_MIN 17 /* bytes of the smallest view */

static bool view_same(const struct cl_shard_view *a,
                      const struct cl_shard_view *b)
{
    return a->node == b->node && a->id.signal == b->id.signal &&
           a->id.window == b->id.window && a->id.slot == b->id.slot &&
           a->state == b->state && a->leader == b->leader &&
           a->term == b->term && a->commit == b->commit &&
           a->applied == b->applied && a->queued == b->queued &&
           a->catching_up == b->catching_up && a->failed == b->failed;
}

static void fuzz_status(const uint8_t *p, size_t n)
{
    static struct cl_shard_view v[STATUS_ROOM], w[STATUS_ROOM];
    struct cl_node_health h, h2;
    memset(&h, 0, sizeof(h));
    memset(&h2, 0, sizeof(h2));
    size_t k = cl_status_decode(42, (const char *)p, n, v, STATUS_ROOM, &h);
    CHECK(k <= STATUS_ROOM && k * STATUS_VIEW_MIN <= n);
    CHECK(h.n <= CL_MAX_PEERS && h.n * 9 <= n);
    for (size_t i = 0; i < k; i++) {
        CHECK(v[i].node == 42 && tr_signal_valid(v[i].id.signal));
    }
    /* less room: a prefix of the views, the same health list */
    size_t room = k / 2;
    size_t k2 = cl_status_decode(42, (const char *)p, n, w, room, &h2);
    CHECK(k2 == room);
    for (size_t i = 0; i < k2; i++) {
        CHECK(view_same(&v[i], &w[i]));
    }
    CHECK(h2.n == h.n);
    for (size_t i = 0; i < h.n; i++) {
        CHECK(h2.id[i] == h.id[i] && h2.ok[i] == h.ok[i]);
    }
    CHECK(cl_status_decode(42, (const char *)p, n, w, STATUS_ROOM, NULL) == k);
    /* the jobs section after them */
    static struct cl_job_view jobs[8];
    uint64_t done = 1, failed = 1;
    size_t nj =
        cl_status_jobs_decode(42, (const char *)p, n, jobs, 8, &done, &failed);
    CHECK(nj <= 8 && nj * 8 <= n);
    for (size_t i = 0; i < nj; i++) {
        CHECK(jobs[i].node == 42 && jobs[i].step <= 1000 &&
              jobs[i].steps <= 1000);
    }
}

#define HELLO_ROOM 16

static void fuzz_hello(const uint8_t *p, size_t n)
{
    static struct tr_catalog_node nodes[HELLO_ROOM], again[HELLO_ROOM];
    bool formed = false;
    int k = cl_hello_decode((const char *)p, n, &formed, nodes, HELLO_ROOM);
    CHECK(k >= -1 && k <= HELLO_ROOM);
    if (k < 0) {
        return;
    }
    /* u8 formed, uvarint n, per node uvarint length + a 13-byte record */
    CHECK(2 + (size_t)k * 14 <= n);
    for (int i = 0; i < k; i++) {
        check_node_fields(&nodes[i]);
    }
    bool f2 = !formed;
    int k2 = cl_hello_decode((const char *)p, n, &f2, again, (size_t)k / 2);
    CHECK(k2 == k / 2 && f2 == formed);
    for (int i = 0; i < k2; i++) {
        CHECK(node_same(&nodes[i], &again[i]));
    }
    /* re-encoded as api__hello writes it */
    struct tr_buf b, rec;
    tr_buf_init(&b);
    tr_buf_init(&rec);
    tr_buf_putc(&b, formed ? 1 : 0);
    tr_buf_put_uvarint(&b, (uint64_t)k);
    for (int i = 0; i < k; i++) {
        tr_buf_reset(&rec);
        tr_catalog_cmd_add_node(&rec, &nodes[i]);
        tr_buf_put_uvarint(&b, rec.len);
        tr_buf_append(&b, rec.data, rec.len);
    }
    CHECK(!b.oom && b.len <= n);
    f2 = !formed;
    CHECK(cl_hello_decode(b.data, b.len, &f2, again, HELLO_ROOM) == k &&
          f2 == formed);
    for (int i = 0; i < k; i++) {
        CHECK(node_same(&nodes[i], &again[i]));
    }
    tr_buf_free(&rec);
    tr_buf_free(&b);
}

/* ---- framed answers ------------------------------------------------------ */

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ULL;
    }
    return h;
}

#define FRAMES_LIMIT (64u << 10)

/* Feeds p to r whole (rg NULL) or in random pieces. */
static int frames_feed(struct cl_frame_reader *r,
                       const uint8_t *p,
                       size_t n,
                       struct rng *rg)
{
    size_t o = 0;
    while (o < n) {
        size_t k = n - o;
        if (rg != NULL) {
            /* mostly small pieces (empty ones too), now and then larger */
            uint64_t x = rng_next(rg);
            size_t want = x % 4 == 0 ? (size_t)(x >> 8) % 64 : (x >> 8) % 10;
            k = want < k ? want : k;
        }
        int rv = cl_frame_reader_feed(r, p + o, k);
        if (rv != 0) {
            return rv;
        }
        o += k;
    }
    return 0;
}

/* Everything of a and b agrees, payloads included (the last frame up to
 * what arrived of it). */
static void frames_same(const struct cl_frame_reader *a,
                        const struct cl_frame_reader *b)
{
    CHECK(a->n == b->n && a->units == b->units && a->hdr_have == b->hdr_have &&
          a->in_frame == b->in_frame &&
          cl_frame_reader_done(a) == cl_frame_reader_done(b));
    for (size_t i = 0; i < a->n; i++) {
        const struct cl_frame *x = &a->frames[i], *y = &b->frames[i];
        CHECK(x->len == y->len && x->units == y->units);
        size_t have = i + 1 == a->n && a->in_frame ? a->body_have : x->len;
        CHECK(i + 1 < a->n || !a->in_frame || a->body_have == b->body_have);
        CHECK(have == 0 || memcmp(x->p, y->p, have) == 0);
    }
}

static void fuzz_frames(const uint8_t *p, size_t n)
{
    if (n < 5) {
        return;
    }
    uint32_t max_len = (p[0] & 1) ? FRAMES_LIMIT : (uint32_t)(n - 5);
    uint32_t budget_max = tr_get_u32be(p + 1);
    const uint8_t *s = p + 5;
    size_t sn = n - 5;
    struct tr_select_budget b1, b2;
    tr_select_budget_init(&b1, budget_max);
    tr_select_budget_init(&b2, budget_max);
    struct cl_frame_reader whole, pieces;
    cl_frame_reader_init(&whole, budget_max ? &b1 : NULL, max_len);
    cl_frame_reader_init(&pieces, budget_max ? &b2 : NULL, max_len);
    struct rng rg = {fnv1a(p, n)};
    int rv = frames_feed(&whole, s, sn, NULL);
    int rv2 = frames_feed(&pieces, s, sn, &rg);
    CHECK(rv == 0 || rv == TR_EPROTO || rv == TR_ELIMIT);
    CHECK(rv2 == rv);
    frames_same(&whole, &pieces);
    CHECK(atomic_load(&b1.used) == atomic_load(&b2.used));
    CHECK(whole.n * CL_FRAME_HEADER <= sn);
    size_t bytes = 0;
    for (size_t i = 0; i < whole.n; i++) {
        CHECK(whole.frames[i].len <= max_len);
        bytes += CL_FRAME_HEADER + whole.frames[i].len;
    }
    CHECK(rv != 0 || whole.in_frame || bytes + whole.hdr_have == sn);
    if (budget_max != 0) {
        CHECK(atomic_load(&b1.used) == whole.units);
        CHECK((rv == TR_ELIMIT) == tr_select_budget_over(&b1));
    } else {
        CHECK(rv != TR_ELIMIT);
    }
    cl_frame_reader_free(&whole);
    cl_frame_reader_free(&pieces);
}

/* ---- metrics answers ---------------------------------------------------- */

/* Reads a whole framed stream into fr: false when it is not a complete
 * answer. */
static bool select_read(const void *p, size_t n, struct cl_frame_reader *fr)
{
    /* a frame longer than the stream cannot complete */
    cl_frame_reader_init(fr, NULL,
                         n < CL_FRAME_MAX ? (uint32_t)n : CL_FRAME_MAX);
    return cl_frame_reader_feed(fr, p, n) == 0 && cl_frame_reader_done(fr);
}

/* Walks sd a chunk at a time and whole; the two agree. */
static void select_walk(const struct tr_series_data *sd)
{
    struct tr_sample *all =
        tr_malloc((sd->n_samples ? sd->n_samples : 1) * sizeof(*all));
    struct tr_sample *walked =
        tr_malloc((sd->n_samples ? sd->n_samples : 1) * sizeof(*walked));
    CHECK(all != NULL && walked != NULL);
    struct tr_series_iter it;
    tr_series_iter_init(&it, sd);
    size_t got = 0, chunk = 0;
    bool ok = true;
    for (;;) {
        const struct tr_sample *s;
        size_t k;
        int rv = tr_series_iter_next(&it, &s, &k);
        if (rv == 0) {
            break;
        }
        if (rv != 1) {
            CHECK(rv == TR_ECORRUPT);
            ok = false;
            break;
        }
        const struct tr_chunk_ref *c = &sd->chunks[chunk++];
        CHECK(k == c->n && k >= 1 && got + k <= sd->n_samples);
        CHECK(s[0].t == c->mint && s[k - 1].t == c->maxt);
        CHECK(got == 0 || s[0].t > walked[got - 1].t);
        for (size_t i = 1; i < k; i++) {
            CHECK(s[i].t > s[i - 1].t);
        }
        memcpy(walked + got, s, k * sizeof(*s));
        got += k;
    }
    tr_series_iter_free(&it);
    CHECK(!ok || (chunk == sd->n_chunks && got == sd->n_samples));
    const struct tr_sample *whole = tr_series_samples(sd, all);
    CHECK((whole != NULL) == ok);
    CHECK(!ok || sd->n_samples == 0 ||
          memcmp(whole, walked, sd->n_samples * sizeof(*whole)) == 0);
    tr_free(walked);
    tr_free(all);
}

static bool series_same(const struct tr_series_data *a,
                        const struct tr_series_data *b)
{
    if (a->n_labels != b->n_labels || a->n_samples != b->n_samples ||
        a->n_chunks != b->n_chunks) {
        return false;
    }
    for (size_t i = 0; i < a->n_labels; i++) {
        if (!slice_same(a->labels[i].name, b->labels[i].name) ||
            !slice_same(a->labels[i].value, b->labels[i].value)) {
            return false;
        }
    }
    for (size_t i = 0; i < a->n_chunks; i++) {
        const struct tr_chunk_ref *x = &a->chunks[i], *y = &b->chunks[i];
        if (x->n != y->n || x->mint != y->mint || x->maxt != y->maxt ||
            x->len != y->len || memcmp(x->rec, y->rec, x->len) != 0) {
            return false;
        }
    }
    return true;
}

static void fuzz_select(const uint8_t *p, size_t n)
{
    struct cl_frame_reader fr;
    if (!select_read(p, n, &fr)) {
        cl_frame_reader_free(&fr);
        return;
    }
    struct cl_answer a = {NULL, 0, fr.frames, fr.n, &fr.arena};
    struct tr_select_result r;
    int rv = cl_metrics_decode_result(&a, &r);
    CHECK(rv == 0 || rv == TR_EPROTO);
    if (rv == 0) {
        CHECK(fr.n >= 1 && r.n_series == fr.n - 1);
        for (size_t i = 0; i < r.n_series; i++) {
            const struct tr_series_data *sd = &r.series[i];
            const struct cl_frame *f = &fr.frames[i];
            CHECK(sd->samples == NULL && sd->n_samples == f->units);
            CHECK(sd->n_chunks * (3 + TR_CHUNK_RECORD_HEADER) <= f->len);
            CHECK(sd->n_labels <= f->len);
            for (size_t c = 0; c < sd->n_chunks; c++) {
                const struct tr_chunk_ref *ch = &sd->chunks[c];
                check_in(ch->rec, ch->len, f->p, f->len);
                CHECK(ch->n >= 1 && ch->mint <= ch->maxt);
                CHECK(c == 0 || ch->mint > sd->chunks[c - 1].maxt);
            }
            select_walk(sd);
        }
        /* round trip */
        struct tr_buf b;
        tr_buf_init(&b);
        CHECK(cl_metrics_encode_result(&b, &r) == 0 && b.len <= n);
        struct cl_frame_reader fr2;
        CHECK(select_read(b.data, b.len, &fr2));
        struct cl_answer a2 = {NULL, 0, fr2.frames, fr2.n, &fr2.arena};
        struct tr_select_result r2;
        CHECK(cl_metrics_decode_result(&a2, &r2) == 0);
        CHECK(r2.n_series == r.n_series && r2.truncated == r.truncated);
        for (size_t i = 0; i < r.n_series; i++) {
            CHECK(series_same(&r.series[i], &r2.series[i]));
        }
        tr_select_result_free(&r2);
        cl_frame_reader_free(&fr2);
        tr_buf_free(&b);
    }
    tr_select_result_free(&r);
    cl_frame_reader_free(&fr);
}

static void fuzz_strings(const uint8_t *p, size_t n)
{
    struct tr_string_list l;
    int rv = cl_strings_decode(p, n, &l);
    CHECK(rv == 0 || rv == TR_EPROTO);
    /* u8 truncated, uvarint n, then at least a length byte a string */
    CHECK(l.n == 0 || 2 + l.n <= n);
    if (rv == 0) {
        struct tr_buf b;
        tr_buf_init(&b);
        cl_strings_encode(&b, &l);
        CHECK(!b.oom && b.len <= n);
        struct tr_string_list l2;
        CHECK(cl_strings_decode(b.data, b.len, &l2) == 0);
        CHECK(l2.n == l.n && l2.truncated == l.truncated);
        for (size_t i = 0; i < l.n; i++) {
            CHECK(slice_same(l.items[i], l2.items[i]));
        }
        tr_string_list_free(&l2);
        tr_buf_free(&b);
    }
    tr_string_list_free(&l);
}

static bool meta_same(const struct tr_metadata_item *a,
                      const struct tr_metadata_item *b)
{
    return a->type == b->type && slice_same(a->metric, b->metric) &&
           slice_same(a->help, b->help) && slice_same(a->unit, b->unit);
}

static void fuzz_metadata(const uint8_t *p, size_t n)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_metadata_item *items = NULL;
    size_t cnt = 0, cap = 0;
    int rv = cl_metrics_decode_metadata(p, n, &a, &items, &cnt, &cap);
    CHECK(rv == 0 || rv == TR_EPROTO);
    /* uvarint n, then at least 4 bytes an item */
    CHECK(cnt == 0 || 1 + cnt * 4 <= n);
    CHECK(cnt <= cap);
    if (rv == 0) {
        /* a second answer appends the same items */
        size_t first = cnt;
        CHECK(cl_metrics_decode_metadata(p, n, &a, &items, &cnt, &cap) == 0);
        CHECK(cnt == 2 * first);
        for (size_t i = 0; i < first; i++) {
            CHECK(meta_same(&items[i], &items[first + i]));
        }
        struct tr_buf b;
        tr_buf_init(&b);
        cl_metrics_encode_metadata(&b, items, first);
        CHECK(!b.oom && b.len <= n);
        struct tr_arena a2;
        tr_arena_init(&a2, 4096);
        struct tr_metadata_item *items2 = NULL;
        size_t cnt2 = 0, cap2 = 0;
        CHECK(cl_metrics_decode_metadata(b.data, b.len, &a2, &items2, &cnt2,
                                         &cap2) == 0 &&
              cnt2 == first);
        for (size_t i = 0; i < first; i++) {
            CHECK(meta_same(&items[i], &items2[i]));
        }
        tr_arena_free(&a2);
        tr_buf_free(&b);
    }
    tr_arena_free(&a);
}

static void fuzz_exemplars(const uint8_t *p, size_t n)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_exemplar_series *v = NULL;
    size_t cnt = 0, cap = 0;
    int rv = cl_metrics_decode_exemplars(p, n, &a, &v, &cnt, &cap);
    CHECK(rv == 0 || rv == TR_EPROTO);
    /* uvarint n, then at least 2 bytes a series */
    CHECK(cnt == 0 || 1 + cnt * 2 <= n);
    if (rv == 0) {
        size_t total = 0;
        for (size_t i = 0; i < cnt; i++) {
            total += v[i].n;
        }
        CHECK(total * 10 <= n);
        struct tr_buf b;
        tr_buf_init(&b);
        cl_metrics_encode_exemplars(&b, v, cnt);
        CHECK(!b.oom);
        struct tr_arena a2;
        tr_arena_init(&a2, 4096);
        struct tr_exemplar_series *v2 = NULL;
        size_t cnt2 = 0, cap2 = 0;
        CHECK(cl_metrics_decode_exemplars(b.data, b.len, &a2, &v2, &cnt2,
                                          &cap2) == 0 &&
              cnt2 == cnt);
        for (size_t i = 0; i < cnt; i++) {
            CHECK(v2[i].n == v[i].n &&
                  tr_labels_cmp(v[i].labels, v[i].n_labels, v2[i].labels,
                                v2[i].n_labels) == 0);
            for (size_t k = 0; k < v[i].n; k++) {
                CHECK(v2[i].ex[k].ts == v[i].ex[k].ts &&
                      memcmp(&v2[i].ex[k].value, &v[i].ex[k].value, 8) == 0);
            }
        }
        tr_arena_free(&a2);
        tr_buf_free(&b);
    }
    tr_arena_free(&a);
}

/* ---- requests ------------------------------------------------------------ */

static void fuzz_read_req(const uint8_t *p, size_t n)
{
    struct cl_read_req q;
    char err[TR_ERRMSG_SIZE];
    int rv = cl_read_req_parse(p, n, &q, err);
    CHECK(rv == 0 || rv == TR_EPROTO);
    if (rv != 0) {
        CHECK(q.ids == NULL);
        return;
    }
    /* u8 signal, u8 flags, uvarint n, n x (varint, uvarint) */
    CHECK(q.n >= 1 && q.n <= CL_READ_MAX_SHARDS && 3 + 2 * q.n <= n);
    CHECK((q.flags & CL_READ_UNITS) ? q.max_units >= 1 : q.max_units == 0);
    check_in(q.req, q.req_len, p, n);
    size_t header = n - q.req_len;
    CHECK(q.req_len == 0 || (const uint8_t *)q.req == p + header);
    struct cl_read_req q2;
    CHECK(cl_read_req_parse(p, header, &q2, err) == 0 && q2.req_len == 0);
    tr_free(q2.ids);
    CHECK(cl_read_req_parse(p, header - 1, &q2, err) == TR_EPROTO);
    /* as rd__round writes it */
    struct tr_buf b;
    tr_buf_init(&b);
    tr_buf_putc(&b, (char)q.signal);
    tr_buf_putc(&b, (char)q.flags);
    tr_buf_put_uvarint(&b, q.n);
    for (size_t i = 0; i < q.n; i++) {
        CHECK(q.ids[i].signal == q.signal);
        tr_buf_put_varint(&b, q.ids[i].window);
        tr_buf_put_uvarint(&b, q.ids[i].slot);
    }
    if (q.flags & CL_READ_UNITS) {
        tr_buf_put_uvarint(&b, q.max_units);
    }
    CHECK(!b.oom && b.len <= header);
    CHECK(cl_read_req_parse(b.data, b.len, &q2, err) == 0);
    CHECK(q2.signal == q.signal && q2.flags == q.flags && q2.n == q.n &&
          q2.max_units == q.max_units && q2.req_len == 0);
    for (size_t i = 0; i < q.n; i++) {
        CHECK(q2.ids[i].window == q.ids[i].window &&
              q2.ids[i].slot == q.ids[i].slot);
    }
    tr_free(q2.ids);
    tr_free(q.ids);
    tr_buf_free(&b);
}

/* The name as the encoder sends it: up to its first NUL. */
static struct tr_slice cstr_part(struct tr_slice s)
{
    const char *z = s.len ? memchr(s.base, 0, s.len) : NULL;
    return (struct tr_slice){s.base, z ? (size_t)(z - s.base) : s.len};
}

static void fuzz_metrics_req(const uint8_t *p, size_t n)
{
    struct cl_metrics_req q;
    char err[TR_ERRMSG_SIZE];
    int rv = cl_metrics_req_parse(p, n, &q, err);
    CHECK(rv == 0 || rv == TR_EPROTO);
    if (rv != 0) {
        CHECK(q.ms == NULL);
        return;
    }
    CHECK(q.op >= 2 && q.op <= 6 && q.n_ms <= CL_METRICS_MAX_MATCHERS);
    CHECK(q.op != 4 ? q.ms != NULL : (q.ms == NULL && q.n_ms == 0));
    CHECK(q.op == 3 || q.op == 4 || q.name.len == 0);
    check_in(q.tenant.base, q.tenant.len, p, n);
    check_in(q.name.base, q.name.len, p, n);
    /* per matcher: u8 type, two length bytes at least */
    CHECK(q.n_ms * 3 <= n);
    struct tr_matcher *ms = tr_calloc(q.n_ms ? q.n_ms : 1, sizeof(*ms));
    CHECK(ms != NULL);
    for (size_t i = 0; i < q.n_ms; i++) {
        const struct cl_metrics_matcher *m = &q.ms[i];
        CHECK(m->type <= TR_MATCH_NRE &&
              m->name.len < CL_METRICS_MATCHER_NAME_MAX);
        check_in(m->name.base, m->name.len, p, n);
        check_in(m->value.base, m->value.len, p, n);
        ms[i].type = (enum tr_match_type)m->type;
        ms[i].name = tr_strndup(m->name.base, m->name.len);
        ms[i].value = (char *)m->value.base;
        ms[i].value_len = m->value.len;
        CHECK(ms[i].name != NULL);
    }
    struct tr_select_hints h;
    memset(&h, 0, sizeof(h));
    h.mint = q.mint;
    h.maxt = q.maxt;
    h.no_samples = q.flags & 1;
    h.limit = q.limit;
    h.max_series = q.max_series;
    h.max_samples = q.max_samples;
    struct tr_buf b;
    tr_buf_init(&b);
    cl_metrics_req_encode(&b, q.op, q.tenant, &h, &q.name, ms, q.n_ms);
    CHECK(!b.oom && b.len <= n);
    struct cl_metrics_req q2;
    CHECK(cl_metrics_req_parse(b.data, b.len, &q2, err) == 0);
    CHECK(q2.op == q.op && slice_same(q2.tenant, q.tenant) &&
          q2.mint == q.mint && q2.maxt == q.maxt && q2.flags == (q.flags & 1) &&
          q2.limit == q.limit && q2.max_series == q.max_series &&
          q2.max_samples == q.max_samples && slice_same(q2.name, q.name) &&
          q2.n_ms == q.n_ms);
    for (size_t i = 0; i < q.n_ms; i++) {
        CHECK(q2.ms[i].type == q.ms[i].type &&
              slice_same(q2.ms[i].name, cstr_part(q.ms[i].name)) &&
              slice_same(q2.ms[i].value, q.ms[i].value));
        tr_free(ms[i].name);
    }
    tr_free(q2.ms);
    tr_free(ms);
    tr_free(q.ms);
    tr_buf_free(&b);
}

static void fuzz_window(const uint8_t *p, size_t n)
{
    static const int64_t lengths[] = {1,       1000,     60000,     3600000,
                                      7200000, 86400000, 604800000, INT64_MAX};
    if (n < 1) {
        return;
    }
    int64_t wl = lengths[p[0] % (sizeof(lengths) / sizeof(lengths[0]))];
    uint8_t signal = 0;
    int64_t w = 0;
    int rv = cl_window_req_parse(p + 1, n - 1, wl, &signal, &w);
    CHECK(rv == 0 || rv == TR_EPROTO);
    if (rv != 0) {
        return;
    }
    CHECK(cl_signal_ops(signal) != NULL && w % wl == 0);
    struct tr_buf b;
    tr_buf_init(&b);
    tr_buf_putc(&b, (char)signal);
    tr_buf_put_varint(&b, w);
    CHECK(!b.oom && b.len <= n - 1);
    uint8_t s2 = 0;
    int64_t w2 = 0;
    CHECK(cl_window_req_parse(b.data, b.len, wl, &s2, &w2) == 0 &&
          s2 == signal && w2 == w);
    tr_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % W_KINDS) {
        case W_NODE:
            fuzz_node(p, n);
            break;
        case W_APPLY:
            fuzz_apply(p, n);
            break;
        case W_STATUS:
            fuzz_status(p, n);
            break;
        case W_HELLO:
            fuzz_hello(p, n);
            break;
        case W_FRAMES:
            fuzz_frames(p, n);
            break;
        case W_SELECT:
            fuzz_select(p, n);
            break;
        case W_STRINGS:
            fuzz_strings(p, n);
            break;
        case W_METADATA:
            fuzz_metadata(p, n);
            break;
        case W_READ_REQ:
            fuzz_read_req(p, n);
            break;
        case W_METRICS_REQ:
            fuzz_metrics_req(p, n);
            break;
        case W_EXEMPLARS:
            fuzz_exemplars(p, n);
            break;
        default:
            fuzz_window(p, n);
            break;
    }
    return 0;
}
