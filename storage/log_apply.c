/* log_apply.c - the deterministic apply of logs write entries
 * (storage/log_entry.h) into a logs shard (key layout and lifecycle in
 * storage/log_keys.h), with Loki's semantics: an entry more than the
 * entry's out-of-order window behind its stream's newest entry is refused,
 * an exact duplicate (ts, line, structured metadata) of an entry the stream
 * holds is dropped, everything else is stored; and of the logs cut entry
 * (every stream's open fragments become a block). Every decision reads
 * only the entry and the shard's keys, so every replica writes the same
 * bytes. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "lib/u64map.h"
#include "storage/keys.h"
#include "storage/log_block.h"
#include "storage/log_index.h"
#include "storage/log_keys.h"
#include "storage/postings.h"
#include "storage/storage_int.h"

/* One stream touched by the entry being applied. */
struct la_stream {
    uint64_t id;
    struct tr_slice labels; /* canonical, in the entry */
    struct log_state st;
    bool is_new;
    struct tr_log_line *pending; /* accepted lines, push order */
    size_t n_pending;
    size_t cap_pending;
    size_t pending_known;      /* pending lines already in the dedup set */
    struct tr_log_line *known; /* lines the dedup set refers to */
    size_t n_known;
    size_t cap_known;
    struct tr_u64map seen; /* line hash -> index into known + 1 */
    /* lines of the open fragments at or after this ts are in known */
    int64_t loaded_from;
};

/* The apply of one entry. */
struct la_ctx {
    struct tr_storage *s;
    const struct tr_shard_id *id;
    uint64_t index;
    struct tr_slice tenant;
    struct tr_arena *a;
    struct la_stream **streams; /* in first-touch order */
    size_t n_streams;
    size_t cap_streams;
    struct tr_u64map by_id; /* stream id -> la_stream */
    struct tr_buf key;
    struct tr_buf val;
    struct tr_apply_result *res;
};

/* Go's time.RFC3339Nano in UTC: trailing zeros of the fraction trimmed,
 * no fraction when it is zero. */
static void la__rfc3339nano(int64_t ns, char *out, size_t n)
{
    int64_t sec = ns / 1000000000LL, frac = ns % 1000000000LL;
    if (frac < 0) {
        frac += 1000000000LL;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    char fs[16] = "";
    if (frac > 0) {
        snprintf(fs, sizeof(fs), ".%09" PRId64, frac);
        size_t l = strlen(fs);
        while (fs[l - 1] == '0') {
            fs[--l] = '\0';
        }
    }
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, fs);
}

static void la__reject(struct tr_apply_result *res,
                       int code,
                       const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));

static void la__reject(struct tr_apply_result *res,
                       int code,
                       const char *fmt,
                       ...)
{
    res->rejected++;
    if (res->first_error != 0) {
        return;
    }
    res->first_error = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->errmsg, sizeof(res->errmsg), fmt, ap);
    va_end(ap);
}

static uint64_t la__line_hash(const struct tr_log_line *l)
{
    uint64_t h = tr_hash64(l->line.base, l->line.len, (uint64_t)l->ts);
    for (size_t i = 0; i < l->n_meta; i++) {
        h = tr_hash64(l->meta[i].name.base, l->meta[i].name.len, h);
        h = tr_hash64(l->meta[i].value.base, l->meta[i].value.len, h ^ 1);
    }
    return h;
}

static bool la__line_eq(const struct tr_log_line *a,
                        const struct tr_log_line *b)
{
    if (a->ts != b->ts || a->n_meta != b->n_meta ||
        !tr_slice_eq(a->line, b->line)) {
        return false;
    }
    for (size_t i = 0; i < a->n_meta; i++) {
        if (!tr_slice_eq(a->meta[i].name, b->meta[i].name) ||
            !tr_slice_eq(a->meta[i].value, b->meta[i].value)) {
            return false;
        }
    }
    return true;
}

static int la__push_line(struct tr_log_line **v,
                         size_t *n,
                         size_t *cap,
                         const struct tr_log_line *l)
{
    if (*n == *cap) {
        struct tr_log_line *nv = tr_array_grow(*v, cap, sizeof(*nv), 16);
        if (nv == NULL) {
            return TR_ENOMEM;
        }
        *v = nv;
    }
    (*v)[(*n)++] = *l;
    return 0;
}

/* Adds l to the stream's dedup set. */
static int la__known_add(struct la_stream *ls, const struct tr_log_line *l)
{
    if (la__push_line(&ls->known, &ls->n_known, &ls->cap_known, l) != 0) {
        return TR_ENOMEM;
    }
    uint64_t h = la__line_hash(l);
    if (tr_u64map_get(&ls->seen, h) == NULL &&
        tr_u64map_put(&ls->seen, h, (void *)(uintptr_t)ls->n_known) != 0) {
        return TR_ENOMEM;
    }
    return 0;
}

/* Is l in the dedup set? */
static bool la__known_has(const struct la_stream *ls,
                          const struct tr_log_line *l)
{
    uintptr_t v = (uintptr_t)tr_u64map_get(&ls->seen, la__line_hash(l));
    if (v == 0) {
        return false;
    }
    if (la__line_eq(&ls->known[v - 1], l)) {
        return true;
    }
    for (size_t i = 0; i < ls->n_known; i++) { /* a hash collision */
        if (la__line_eq(&ls->known[i], l)) {
            return true;
        }
    }
    return false;
}

/* Adds the lines of the stream's open fragments with ts in [from,
 * ls->loaded_from) to its dedup set (decoded lines live in the apply's
 * arena); only fragments reaching `from` are decoded. */
static int la__load_fragments(struct la_ctx *c,
                              struct la_stream *ls,
                              int64_t from)
{
    int64_t upto = ls->loaded_from;
    ls->loaded_from = from;
    if (ls->is_new || ls->st.frags == 0 || ls->st.open_maxt < from) {
        return 0;
    }
    log_key_stream(&c->key, c->tenant, c->id->window, c->id->slot,
                   TR_KEY_LOG_FRAGMENT, ls->id);
    struct tr_iter *it = tr_iter_new(c->s->eng, TR_CF_LOGS_OPEN);
    if (it == NULL) {
        return TR_ENOMEM;
    }
    int rv = 0;
    for (tr_iter_seek(it, c->key.data, c->key.len);
         rv == 0 && tr_iter_has_prefix(it, c->key.data, c->key.len);
         tr_iter_next(it)) {
        struct tr_slice v = tr_iter_value(it);
        struct tr_log_block_info bi;
        if (tr_log_block_info(v.base, v.len, &bi) != 0) {
            rv = TR_EIO; /* our own write is unreadable: stop the replica */
            break;
        }
        if (bi.maxt < from || bi.mint >= upto) {
            continue;
        }
        void *copy = tr_arena_memdup(c->a, v.base, v.len ? v.len : 1);
        struct tr_log_line *lines;
        size_t n;
        if (copy == NULL) {
            rv = TR_ENOMEM;
            break;
        }
        if (tr_log_block_decode(copy, v.len, c->a, &lines, &n) != 0) {
            rv = TR_EIO;
            break;
        }
        for (size_t i = 0; i < n && rv == 0; i++) {
            if (lines[i].ts >= from && lines[i].ts < upto) {
                rv = la__known_add(ls, &lines[i]);
            }
        }
    }
    tr_iter_free(it);
    return rv;
}

/* Does a block of the stream hold l? (blocks whose range covers l->ts) */
static int la__blocks_have(struct la_ctx *c,
                           struct la_stream *ls,
                           const struct tr_log_line *l,
                           bool *found)
{
    *found = false;
    if (ls->is_new || l->ts > ls->st.blocks_maxt) {
        return 0;
    }
    log_key_stream(&c->key, c->tenant, c->id->window, c->id->slot,
                   TR_KEY_LOG_INDEX, ls->id);
    size_t pl = c->key.len;
    struct tr_iter *it = tr_iter_new(c->s->eng, TR_CF_LOGS);
    if (it == NULL) {
        return TR_ENOMEM;
    }
    struct tr_arena tmp;
    tr_arena_init(&tmp, 64 * 1024);
    struct tr_buf bk;
    tr_buf_init(&bk);
    int rv = 0;
    for (tr_iter_seek(it, c->key.data, pl);
         !*found && rv == 0 && tr_iter_has_prefix(it, c->key.data, pl);
         tr_iter_next(it)) {
        struct tr_slice k = tr_iter_key(it), v = tr_iter_value(it);
        struct tr_log_index ix;
        if (k.len != pl + 16) {
            continue;
        }
        if (tr_key_time_decode(tr_get_u64be(k.base + pl)) > l->ts) {
            break;
        }
        if (tr_log_index_parse(v.base, v.len, &ix) != 0) {
            rv = TR_EIO;
            break;
        }
        if (ix.maxt < l->ts ||
            !tr_log_index_may_match(&ix, &l->line, 1, l->meta, l->n_meta)) {
            continue;
        }
        tr_buf_reset(&bk);
        tr_buf_append(&bk, k.base, k.len);
        bk.data[pl - 9] = TR_KEY_LOG_BLOCK;
        tr_buf_reset(&c->val);
        struct tr_log_line *lines;
        size_t n;
        tr_arena_reset(&tmp);
        if (tr_engine_get(c->s->eng, TR_CF_LOGS, bk.data, bk.len, &c->val) !=
                0 ||
            tr_log_block_decode(c->val.data, c->val.len, &tmp, &lines, &n) !=
                0) {
            rv = TR_EIO;
            break;
        }
        for (size_t i = 0; i < n && !*found; i++) {
            *found = la__line_eq(&lines[i], l);
        }
    }
    tr_buf_free(&bk);
    tr_arena_free(&tmp);
    tr_iter_free(it);
    return rv;
}

/* The stream with canonical labels enc: touched already by this entry,
 * stored in the shard, or created (its keys added to the batch). */
static int la__stream(struct la_ctx *c,
                      struct tr_slice enc,
                      struct la_stream **out)
{
    uint64_t id = tr_labels_hash(enc.base, enc.len);
    for (int probe = 0; probe < 1024; probe++, id++) {
        struct la_stream *ls = tr_u64map_get(&c->by_id, id);
        if (ls != NULL) {
            if (tr_slice_eq(ls->labels, enc)) {
                *out = ls;
                return 0;
            }
            continue;
        }
        int rv = postings_probe(c->s->eng, TR_CF_LOGS, c->tenant, c->id->window,
                                c->id->slot, id, enc, &c->key, &c->val);
        if (rv < 0) {
            return TR_EIO;
        }
        if (rv == POSTINGS_TAKEN) {
            continue;
        }
        ls = tr_arena_alloc(c->a, sizeof(*ls));
        if (ls == NULL) {
            return TR_ENOMEM;
        }
        memset(ls, 0, sizeof(*ls));
        ls->id = id;
        ls->labels = enc;
        ls->is_new = rv == POSTINGS_FREE;
        ls->st.newest = INT64_MIN;
        ls->st.blocks_maxt = INT64_MIN;
        ls->loaded_from = INT64_MAX;
        tr_u64map_init(&ls->seen);
        if (!ls->is_new) {
            log_key_stream(&c->key, c->tenant, c->id->window, c->id->slot,
                           TR_KEY_LOG_STATE, id);
            tr_buf_reset(&c->val);
            rv = tr_engine_get(c->s->eng, TR_CF_LOGS, c->key.data, c->key.len,
                               &c->val);
            if (rv == 0 &&
                log_state_decode(c->val.data, c->val.len, &ls->st) != 0) {
                rv = TR_EIO;
            }
            if (rv != 0 && rv != TR_ENOTFOUND) {
                return TR_EIO;
            }
        }
        if (c->n_streams == c->cap_streams) {
            struct la_stream **nv =
                tr_array_grow(c->streams, &c->cap_streams, sizeof(*nv), 16);
            if (nv == NULL) {
                return TR_ENOMEM;
            }
            c->streams = nv;
        }
        c->streams[c->n_streams++] = ls;
        if (tr_u64map_put(&c->by_id, id, ls) != 0) {
            return TR_ENOMEM;
        }
        if (ls->is_new) {
            postings_put_series(c->s->batch, TR_CF_LOGS, &c->key, c->tenant,
                                c->id->window, c->id->slot, id, enc.base,
                                enc.len);
            c->res->created++;
        }
        *out = ls;
        return 0;
    }
    return TR_EIO; /* id space exhausted */
}

/* Applies one line to its stream. 0, or TR_ENOMEM/TR_EIO (the apply
 * fails as a whole). */
static int la__line(struct la_ctx *c,
                    struct la_stream *ls,
                    const struct tr_log_line *l,
                    int64_t ooo_ns,
                    int64_t window_ns)
{
    if (l->ts < window_ns) {
        la__reject(c->res, TR_EINVAL,
                   "entry at %" PRId64
                   " routed to the shard of window %" PRId64,
                   l->ts, c->id->window);
        return 0;
    }
    int64_t newest = ls->st.newest;
    if (newest != INT64_MIN) {
        int64_t cutoff =
            newest < INT64_MIN + ooo_ns ? INT64_MIN : newest - ooo_ns;
        if (l->ts < cutoff) {
            char ets[64], cts[64];
            la__rfc3339nano(l->ts, ets, sizeof(ets));
            la__rfc3339nano(cutoff, cts, sizeof(cts));
            la__reject(c->res, TR_ETOOOLD,
                       "entry too far behind, entry timestamp is: %s, oldest "
                       "acceptable timestamp is: %s",
                       ets, cts);
            return 0;
        }
    }
    if (newest != INT64_MIN && l->ts <= newest) {
        /* may duplicate a stored entry or one of this entry's: the dedup
         * set takes this entry's lines only now (a stream whose entries
         * come in order never hashes one) */
        for (; ls->pending_known < ls->n_pending; ls->pending_known++) {
            if (la__known_add(ls, &ls->pending[ls->pending_known]) != 0) {
                return TR_ENOMEM;
            }
        }
        if (l->ts < ls->loaded_from) {
            int rv = la__load_fragments(c, ls, l->ts);
            if (rv != 0) {
                return rv;
            }
        }
        bool dup = la__known_has(ls, l);
        if (!dup) {
            int rv = la__blocks_have(c, ls, l, &dup);
            if (rv != 0) {
                return rv;
            }
        }
        if (dup) {
            c->res->duplicate++;
            return 0;
        }
    }
    if (la__push_line(&ls->pending, &ls->n_pending, &ls->cap_pending, l) != 0) {
        return TR_ENOMEM;
    }
    if (l->ts > ls->st.newest) {
        ls->st.newest = l->ts;
    }
    c->res->appended++;
    return 0;
}

/* A line with its push order, for stable sorting by ts. */
struct la_ord {
    struct tr_log_line l;
    size_t ord;
};

static int la__ord_cmp(const void *a, const void *b)
{
    const struct la_ord *x = a, *y = b;
    if (x->l.ts != y->l.ts) {
        return x->l.ts < y->l.ts ? -1 : 1;
    }
    return x->ord < y->ord ? -1 : (x->ord > y->ord ? 1 : 0);
}

/* Sorts lines by (ts, push order) in place. */
static int la__sort(struct tr_log_line *lines, size_t n)
{
    bool sorted = true;
    for (size_t i = 1; i < n && sorted; i++) {
        sorted = lines[i - 1].ts <= lines[i].ts;
    }
    if (sorted) {
        return 0;
    }
    struct la_ord *o = tr_malloc(n * sizeof(*o));
    if (o == NULL) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        o[i].l = lines[i];
        o[i].ord = i;
    }
    qsort(o, n, sizeof(*o), la__ord_cmp);
    for (size_t i = 0; i < n; i++) {
        lines[i] = o[i].l;
    }
    tr_free(o);
    return 0;
}

/* Writes the stream's state record. */
static void la__put_state(struct la_ctx *c, struct la_stream *ls)
{
    uint8_t sv[TR_LOG_STATE_SIZE];
    log_state_encode(&ls->st, sv);
    log_key_stream(&c->key, c->tenant, c->id->window, c->id->slot,
                   TR_KEY_LOG_STATE, ls->id);
    tr_wbatch_put(c->s->batch, TR_CF_LOGS, c->key.data, c->key.len, sv,
                  sizeof(sv));
}

/* Merges the stream's open fragments and its pending lines into one block
 * (keys 'B' and 'I' at (mint, this index)); deletes the fragments. */
static int la__cut(struct la_ctx *c, struct la_stream *ls)
{
    struct tr_log_line *all = NULL;
    size_t n = 0, cap = 0;
    int rv = 0;
    log_key_stream(&c->key, c->tenant, c->id->window, c->id->slot,
                   TR_KEY_LOG_FRAGMENT, ls->id);
    struct tr_iter *it = tr_iter_new(c->s->eng, TR_CF_LOGS_OPEN);
    if (it == NULL) {
        return TR_ENOMEM;
    }
    for (tr_iter_seek(it, c->key.data, c->key.len);
         rv == 0 && tr_iter_has_prefix(it, c->key.data, c->key.len);
         tr_iter_next(it)) {
        struct tr_slice k = tr_iter_key(it), v = tr_iter_value(it);
        void *copy = tr_arena_memdup(c->a, v.base, v.len ? v.len : 1);
        struct tr_log_line *lines;
        size_t ln;
        if (copy == NULL) {
            rv = TR_ENOMEM;
            break;
        }
        if (tr_log_block_decode(copy, v.len, c->a, &lines, &ln) != 0) {
            rv = TR_EIO;
            break;
        }
        for (size_t i = 0; i < ln && rv == 0; i++) {
            rv = la__push_line(&all, &n, &cap, &lines[i]);
        }
        tr_wbatch_delete(c->s->batch, TR_CF_LOGS_OPEN, k.base, k.len);
    }
    tr_iter_free(it);
    for (size_t i = 0; i < ls->n_pending && rv == 0; i++) {
        rv = la__push_line(&all, &n, &cap, &ls->pending[i]);
    }
    if (rv == 0) {
        rv = la__sort(all, n);
    }
    struct tr_buf blk;
    tr_buf_init(&blk);
    if (rv == 0) {
        rv = tr_log_block_encode(all, n, TR_LOG_BLOCK_ZSTD, &blk);
    }
    if (rv == 0) {
        tr_buf_reset(&c->val);
        rv = tr_log_index_build(all, n, blk.len, &c->val);
    }
    if (rv == 0) {
        log_key_stream(&c->key, c->tenant, c->id->window, c->id->slot,
                       TR_KEY_LOG_INDEX, ls->id);
        tr_buf_put_u64be(&c->key, tr_key_time(all[0].ts));
        tr_buf_put_u64be(&c->key, c->index);
        tr_wbatch_put(c->s->batch, TR_CF_LOGS, c->key.data, c->key.len,
                      c->val.data, c->val.len);
        c->key.data[c->key.len - 25] = TR_KEY_LOG_BLOCK;
        tr_wbatch_put(c->s->batch, TR_CF_LOGS, c->key.data, c->key.len,
                      blk.data, blk.len);
        ls->st.frags = 0;
        ls->st.open_raw = 0;
        ls->st.open_mint = 0;
        ls->st.open_maxt = 0;
        if (all[n - 1].ts > ls->st.blocks_maxt) {
            ls->st.blocks_maxt = all[n - 1].ts;
        }
    }
    tr_buf_free(&blk);
    tr_free(all);
    return rv == TR_EINVAL ? TR_EIO : rv;
}

/* Writes the stream's lines of this entry (a fragment, or a block when
 * the open fragments are full) and its state. */
static int la__flush(struct la_ctx *c, struct la_stream *ls)
{
    if (ls->n_pending == 0) {
        return 0;
    }
    int rv = la__sort(ls->pending, ls->n_pending);
    if (rv != 0) {
        return rv;
    }
    uint64_t raw = 0;
    for (size_t i = 0; i < ls->n_pending; i++) {
        raw += ls->pending[i].line.len;
    }
    int64_t mint = ls->pending[0].ts;
    int64_t maxt = ls->pending[ls->n_pending - 1].ts;
    struct log_state *st = &ls->st;
    if (st->frags > 0) {
        mint = mint < st->open_mint ? mint : st->open_mint;
        maxt = maxt > st->open_maxt ? maxt : st->open_maxt;
    }
    if (st->open_raw + raw >= LOG_CUT_BYTES ||
        (uint64_t)maxt - (uint64_t)mint > (uint64_t)LOG_CUT_SPAN_NS) {
        rv = la__cut(c, ls);
    } else {
        struct tr_buf frag;
        tr_buf_init(&frag);
        rv = tr_log_block_encode(ls->pending, ls->n_pending, TR_LOG_BLOCK_NONE,
                                 &frag);
        if (rv == 0) {
            log_key_stream(&c->key, c->tenant, c->id->window, c->id->slot,
                           TR_KEY_LOG_FRAGMENT, ls->id);
            tr_buf_put_u64be(&c->key, c->index);
            tr_wbatch_put(c->s->batch, TR_CF_LOGS_OPEN, c->key.data, c->key.len,
                          frag.data, frag.len);
            st->frags++;
            st->open_raw += raw;
            st->open_mint = mint;
            st->open_maxt = maxt;
        }
        tr_buf_free(&frag);
        rv = rv == TR_EINVAL ? TR_EIO : rv;
    }
    if (rv != 0) {
        return rv;
    }
    la__put_state(c, ls);
    return 0;
}

static void la__ctx_free(struct la_ctx *c)
{
    for (size_t i = 0; i < c->n_streams; i++) {
        struct la_stream *ls = c->streams[i];
        tr_free(ls->pending);
        tr_free(ls->known);
        tr_u64map_free(&ls->seen);
    }
    tr_free(c->streams);
    tr_u64map_free(&c->by_id);
    tr_buf_free(&c->key);
    tr_buf_free(&c->val);
}

/* The cut entry, for one tenant's part of the shard: every stream with
 * open fragments gets a block (in stream id order). */
static int la__cut_tenant(void *arg,
                          enum tr_cf cf,
                          struct tr_iter *it,
                          const struct tr_buf *prefix)
{
    struct la_ctx *c = arg;
    if (cf != TR_CF_LOGS) {
        return 0; /* state records live in logs; la__cut reads fragments */
    }
    const char *z = memchr(prefix->data, '\0', prefix->len);
    if (z == NULL) {
        return TR_EIO;
    }
    c->tenant = (struct tr_slice){prefix->data, (size_t)(z - prefix->data)};
    struct tr_buf sk;
    tr_buf_init(&sk);
    tr_buf_append(&sk, prefix->data, prefix->len);
    tr_buf_putc(&sk, TR_KEY_LOG_STATE);
    int rv = sk.oom ? TR_ENOMEM : 0;
    for (tr_iter_seek(it, sk.data, sk.len);
         rv == 0 && tr_iter_has_prefix(it, sk.data, sk.len); tr_iter_next(it)) {
        struct tr_slice k = tr_iter_key(it), v = tr_iter_value(it);
        struct la_stream ls;
        memset(&ls, 0, sizeof(ls));
        if (k.len != sk.len + 8 || log_state_decode(v.base, v.len, &ls.st)) {
            rv = TR_EIO; /* storage holds what apply never writes */
            break;
        }
        if (ls.st.frags == 0) {
            continue;
        }
        ls.id = tr_get_u64be(k.base + sk.len);
        rv = la__cut(c, &ls);
        if (rv == 0) {
            la__put_state(c, &ls);
        }
        tr_arena_reset(c->a); /* the fragments' copies */
    }
    tr_buf_free(&sk);
    return rv;
}

/* Applies the logs cut entry (storage/log_entry.h). */
static int la__cut_all(struct tr_storage *s,
                       const struct tr_shard_id *id,
                       uint64_t index,
                       struct tr_apply_result *res,
                       char *errmsg)
{
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    struct la_ctx c;
    memset(&c, 0, sizeof(c));
    c.s = s;
    c.id = id;
    c.index = index;
    c.a = &a;
    c.res = res;
    tr_u64map_init(&c.by_id);
    tr_buf_init(&c.key);
    tr_buf_init(&c.val);
    int rv = storage_shard_ranges(s, id, la__cut_tenant, &c);
    la__ctx_free(&c);
    tr_arena_free(&a);
    if (rv != 0) {
        return tr_errf(TR_EIO, errmsg,
                       "logs cut failed at index %" PRIu64 ": %s", index,
                       tr_strerror(rv));
    }
    return 0;
}

int log_apply(struct tr_storage *s,
              const struct tr_shard_id *id,
              uint64_t index,
              const void *entry,
              size_t len,
              struct tr_apply_result *res,
              char *errmsg)
{
    if (tr_entry_logs_is_cut(entry, len)) {
        return la__cut_all(s, id, index, res, errmsg);
    }
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    struct tr_entry_logs e;
    int rv = tr_entry_logs_decode(entry, len, &a, &e);
    if (rv != 0) {
        tr_arena_free(&a);
        return tr_errf(rv == TR_ENOMEM ? TR_ENOMEM : TR_ECORRUPT, errmsg,
                       "corrupt logs write entry at index %" PRIu64, index);
    }
    struct la_ctx c;
    memset(&c, 0, sizeof(c));
    c.s = s;
    c.id = id;
    c.index = index;
    c.tenant = e.tenant;
    c.a = &a;
    c.res = res;
    tr_u64map_init(&c.by_id);
    tr_buf_init(&c.key);
    tr_buf_init(&c.val);
    int64_t ooo = e.ooo_window_ns < 0 ? 0 : e.ooo_window_ns;
    int64_t window_ns =
        id->window > INT64_MAX / 1000000
            ? INT64_MAX
            : (id->window < INT64_MIN / 1000000 ? INT64_MIN
                                                : id->window * 1000000);
    uint64_t created0 = res->created;
    for (size_t i = 0; i < e.n_streams && rv == 0; i++) {
        const struct tr_log_entry_stream *es = &e.streams[i];
        struct la_stream *ls;
        rv = la__stream(&c, es->labels, &ls);
        for (size_t j = 0; j < es->n_lines && rv == 0; j++) {
            rv = la__line(&c, ls, &es->lines[j], ooo, window_ns);
        }
    }
    for (size_t i = 0; i < c.n_streams && rv == 0; i++) {
        rv = la__flush(&c, c.streams[i]);
    }
    if (rv == 0 && res->created > created0) {
        uint64_t n = postings_count_load(s->eng, TR_CF_LOGS, e.tenant,
                                         id->window, id->slot);
        postings_put_count(s->batch, TR_CF_LOGS, &c.key, e.tenant, id->window,
                           id->slot, n + (res->created - created0));
    }
    la__ctx_free(&c);
    tr_arena_free(&a);
    if (rv != 0) {
        /* not a property of the entry (memory, I/O): fail as a whole */
        return tr_errf(TR_EIO, errmsg,
                       "logs apply failed at index %" PRIu64 ": %s", index,
                       tr_strerror(rv));
    }
    return 0;
}

int log_upgrade_fragments(struct tr_storage *s, char *errmsg)
{
    static const char marker[] = "F";
    struct tr_buf v;
    tr_buf_init(&v);
    bool done = tr_engine_get(s->eng, TR_CF_META, marker, 1, &v) == 0;
    tr_buf_free(&v);
    if (done) {
        return 0;
    }
    struct tr_iter *it = tr_iter_new(s->eng, TR_CF_LOGS);
    struct tr_wbatch *b = tr_wbatch_new(s->eng);
    if (it == NULL || b == NULL) {
        tr_iter_free(it);
        tr_wbatch_free(b);
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    /* each shard prefix (tenant | 0 | window | slot): its 'F' range,
     * then on to the next prefix */
    size_t moved = 0;
    uint8_t fk[520], next[520];
    tr_iter_seek(it, "", 0);
    while (tr_iter_valid(it)) {
        struct tr_slice k = tr_iter_key(it);
        const char *z = memchr(k.base, '\0', k.len);
        size_t pl = z != NULL ? (size_t)(z - k.base) + 11 : 0;
        if (z == NULL || k.len < pl || pl + 1 > sizeof(fk)) {
            tr_iter_next(it); /* no key of a shard: skip */
            continue;
        }
        memcpy(fk, k.base, pl);
        fk[pl] = TR_KEY_LOG_FRAGMENT;
        size_t nl = tr_prefix_successor(fk, pl, next);
        for (tr_iter_seek(it, fk, pl + 1); tr_iter_has_prefix(it, fk, pl + 1);
             tr_iter_next(it)) {
            struct tr_slice fkey = tr_iter_key(it), fv = tr_iter_value(it);
            tr_wbatch_put(b, TR_CF_LOGS_OPEN, fkey.base, fkey.len, fv.base,
                          fv.len);
            tr_wbatch_delete(b, TR_CF_LOGS, fkey.base, fkey.len);
            moved++;
        }
        if (nl == 0) {
            break;
        }
        tr_iter_seek(it, next, nl);
    }
    tr_iter_free(it);
    uint8_t one = 1;
    tr_wbatch_put(b, TR_CF_META, marker, 1, &one, 1);
    int rv = tr_engine_write(s->eng, b, errmsg);
    tr_wbatch_free(b);
    if (rv == 0 && moved > 0) {
        tr_log_info(
            "data directory upgraded: open log fragments moved to "
            "their own column family",
            "fragments=%zu", moved);
    }
    return rv;
}
