/* postings.c - the label index shared by metrics series and log streams:
 * matcher evaluation over posting keys, series/stream keys and counts, and
 * label name/value listings. Every function works on the column family it
 * is given (its iterator's), so the metrics and logs stores use the same
 * code over the same key layout (storage/keys.h). */
#include "storage/postings.h"

#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "storage/keys.h"

int idvec_push(struct idvec *iv, uint64_t id)
{
    if (iv->n == iv->cap) {
        size_t cap = iv->cap ? iv->cap * 2 : 64;
        uint64_t *nv = tr_realloc(iv->v, cap * sizeof(uint64_t));
        if (nv == NULL) {
            return TR_ENOMEM;
        }
        iv->v = nv;
        iv->cap = cap;
    }
    iv->v[iv->n++] = id;
    return 0;
}

static int idvec__cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

void idvec_sort_unique(struct idvec *iv)
{
    if (iv->n < 2) {
        return;
    }
    bool sorted = true;
    for (size_t i = 1; i < iv->n && sorted; i++) {
        sorted = iv->v[i - 1] < iv->v[i];
    }
    if (sorted) {
        return;
    }
    qsort(iv->v, iv->n, sizeof(uint64_t), idvec__cmp);
    size_t o = 1;
    for (size_t i = 1; i < iv->n; i++) {
        if (iv->v[i] != iv->v[o - 1]) {
            iv->v[o++] = iv->v[i];
        }
    }
    iv->n = o;
}

void idvec_free(struct idvec *iv)
{
    tr_free(iv->v);
    memset(iv, 0, sizeof(*iv));
}

/* a := a AND b (both sorted unique) */
void idvec_intersect(struct idvec *a, const struct idvec *b)
{
    size_t i = 0, j = 0, o = 0;
    while (i < a->n && j < b->n) {
        if (a->v[i] < b->v[j]) {
            i++;
        } else if (a->v[i] > b->v[j]) {
            j++;
        } else {
            a->v[o++] = a->v[i];
            i++;
            j++;
        }
    }
    a->n = o;
}

/* a := a AND NOT b */
void idvec_subtract(struct idvec *a, const struct idvec *b)
{
    size_t i = 0, j = 0, o = 0;
    while (i < a->n) {
        while (j < b->n && b->v[j] < a->v[i]) {
            j++;
        }
        if (j < b->n && b->v[j] == a->v[i]) {
            i++;
            continue;
        }
        a->v[o++] = a->v[i++];
    }
    a->n = o;
}

int postings_list_decode(struct tr_slice v, struct idvec *out)
{
    struct tr_cursor c = tr_cursor_make(v.base, v.len);
    uint64_t n, id = 0;
    if (tr_cursor_uvarint(&c, &n) != 0 || n > v.len) {
        return TR_ECORRUPT;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t d;
        if (tr_cursor_uvarint(&c, &d) != 0 || (i > 0 && d == 0) ||
            d > UINT64_MAX - id) {
            return TR_ECORRUPT;
        }
        id += d;
        if (idvec_push(out, id) != 0) {
            return TR_ENOMEM;
        }
    }
    return tr_cursor_left(&c) == 0 ? 0 : TR_ECORRUPT;
}

/* The ids of one posting key (k's bytes after the value: 8 = one id; 'L' =
 * a list in the value); other keys hold none. */
static int postings__ids(struct tr_slice rest,
                         struct tr_iter *it,
                         struct idvec *out)
{
    if (rest.len == 8) {
        return idvec_push(out, tr_get_u64be(rest.base));
    }
    if (rest.len == 1 && rest.base[0] == TR_POSTING_LIST) {
        int rv = postings_list_decode(tr_iter_value(it), out);
        return rv == TR_ECORRUPT ? 0 : rv; /* a bad list: no ids */
    }
    return 0;
}

/* ids of postings P|name|value (exact) */
static int postings__exact(struct win_ctx *wc,
                           struct tr_slice name,
                           struct tr_slice value,
                           struct idvec *out)
{
    tr_buf_reset(&wc->key);
    tr_key_shard_prefix(&wc->key, wc->tenant, wc->window, wc->slot,
                        TR_KEY_POSTING);
    tr_key_posting(&wc->key, name, value);
    size_t pl = wc->key.len;
    for (tr_iter_seek(wc->it, wc->key.data, pl);
         tr_iter_has_prefix(wc->it, wc->key.data, pl); tr_iter_next(wc->it)) {
        struct tr_slice k = tr_iter_key(wc->it);
        if (postings__ids((struct tr_slice){k.base + pl, k.len - pl}, wc->it,
                          out) != 0) {
            return TR_ENOMEM;
        }
    }
    idvec_sort_unique(out);
    return 0;
}

/* ids of series having label name whose value matches m (want = true) or
 * does not match m (want = false). m == NULL: any value. */
static int postings__scan(struct win_ctx *wc,
                          struct tr_slice name,
                          const struct tr_matcher *m,
                          bool want,
                          struct idvec *out)
{
    tr_buf_reset(&wc->key);
    tr_key_shard_prefix(&wc->key, wc->tenant, wc->window, wc->slot,
                        TR_KEY_POSTING);
    tr_buf_put_uvarint(&wc->key, name.len);
    tr_buf_append(&wc->key, name.base, name.len);
    size_t pl = wc->key.len;
    struct tr_buf last; /* the previous value (key memory moves on next) */
    tr_buf_init(&last);
    bool have_last = false, last_ok = false;
    int rv = 0;
    for (tr_iter_seek(wc->it, wc->key.data, pl);
         rv == 0 && tr_iter_has_prefix(wc->it, wc->key.data, pl);
         tr_iter_next(wc->it)) {
        struct tr_slice k = tr_iter_key(wc->it);
        struct tr_cursor c = tr_cursor_make(k.base + pl, k.len - pl);
        uint64_t vl;
        struct tr_slice value;
        if (tr_cursor_uvarint(&c, &vl) != 0 ||
            tr_cursor_bytes(&c, vl, &value) != 0 ||
            (tr_cursor_left(&c) != 8 && tr_cursor_left(&c) != 1)) {
            continue;
        }
        if (!have_last ||
            !tr_slice_eq((struct tr_slice){last.data, last.len}, value)) {
            last_ok = m == NULL ||
                      tr_matcher_matches(m, value.base, value.len) == want;
            tr_buf_reset(&last);
            tr_buf_append(&last, value.base, value.len);
            have_last = true;
        }
        if (last_ok) {
            rv = postings__ids(
                (struct tr_slice){(const char *)c.p, tr_cursor_left(&c)},
                wc->it, out);
        }
    }
    tr_buf_free(&last);
    if (rv != 0) {
        return rv;
    }
    idvec_sort_unique(out);
    return 0;
}

static int postings__all(struct win_ctx *wc, struct idvec *out)
{
    tr_buf_reset(&wc->key);
    tr_key_shard_prefix(&wc->key, wc->tenant, wc->window, wc->slot,
                        TR_KEY_SERIES);
    size_t pl = wc->key.len;
    for (tr_iter_seek(wc->it, wc->key.data, pl);
         tr_iter_has_prefix(wc->it, wc->key.data, pl); tr_iter_next(wc->it)) {
        struct tr_slice k = tr_iter_key(wc->it);
        if (k.len == pl + 8 &&
            idvec_push(out, tr_get_u64be(k.base + pl)) != 0) {
            return TR_ENOMEM;
        }
    }
    return 0;
}

/* Matchers answered by exact postings look-ups: equality with a non-empty
 * value, regexes that are a set of literals not matching "". */
static bool postings__cheap(const struct tr_matcher *m)
{
    const char *const *lits;
    const size_t *lens;
    if (tr_matcher_matches_empty(m)) {
        return false;
    }
    return m->type == TR_MATCH_EQ ||
           (m->type == TR_MATCH_RE && tr_matcher_literals(m, &lits, &lens) > 0);
}

/* Evaluates matchers in one window into out (sorted unique ids). When a
 * cheap matcher narrows the candidates, the other matchers are not
 * evaluated over postings (a scan of every value of their label) but left
 * to the caller, which checks them on each candidate's labels
 * (*filter = true). */
int postings_match_window(struct win_ctx *wc,
                          const struct tr_matcher *ms,
                          size_t n,
                          struct idvec *out,
                          bool *filter)
{
    bool have = false;
    int rv = 0;
    *filter = false;
    for (size_t i = 0; i < n && rv == 0; i++) {
        const struct tr_matcher *m = &ms[i];
        if (!postings__cheap(m)) {
            continue;
        }
        struct idvec set = {0};
        struct tr_slice name = tr_slice_cstr(m->name);
        const char *const *lits;
        const size_t *lens;
        size_t nl;
        if (m->type == TR_MATCH_EQ) {
            rv = postings__exact(
                wc, name, (struct tr_slice){m->value, m->value_len}, &set);
        } else {
            nl = tr_matcher_literals(m, &lits, &lens);
            for (size_t j = 0; j < nl && rv == 0; j++) {
                rv = postings__exact(wc, name,
                                     (struct tr_slice){lits[j], lens[j]}, &set);
            }
            idvec_sort_unique(&set);
        }
        if (!have) {
            *out = set;
            have = true;
        } else {
            idvec_intersect(out, &set);
            idvec_free(&set);
        }
        if (out->n == 0) {
            return rv;
        }
    }
    if (have) {
        for (size_t i = 0; i < n; i++) {
            *filter = *filter || !postings__cheap(&ms[i]);
        }
        return rv;
    }
    /* no cheap matcher: postings scans */
    for (size_t i = 0; i < n && rv == 0; i++) {
        const struct tr_matcher *m = &ms[i];
        if (tr_matcher_matches_empty(m)) {
            continue;
        }
        struct idvec set = {0};
        rv = postings__scan(wc, tr_slice_cstr(m->name), m, true, &set);
        if (!have) {
            *out = set;
            have = true;
        } else {
            idvec_intersect(out, &set);
            idvec_free(&set);
        }
        if (out->n == 0) {
            return rv;
        }
    }
    for (size_t i = 0; i < n && rv == 0; i++) {
        const struct tr_matcher *m = &ms[i];
        if (!tr_matcher_matches_empty(m)) {
            continue;
        }
        if (!have) {
            rv = postings__all(wc, out);
            have = true;
        }
        struct idvec set = {0};
        if (rv == 0) {
            rv = postings__scan(wc, tr_slice_cstr(m->name), m, false, &set);
        }
        idvec_subtract(out, &set);
        idvec_free(&set);
    }
    if (!have && rv == 0) {
        rv = postings__all(wc, out);
    }
    return rv;
}

/* Whether labels ls satisfy every matcher (a missing label is ""). */
bool postings_labels_match(const struct tr_label *ls,
                           size_t nl,
                           const struct tr_matcher *ms,
                           size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct tr_slice v =
            tr_labels_get(ls, nl, ms[i].name, strlen(ms[i].name));
        if (!tr_matcher_matches(&ms[i], v.base ? v.base : "", v.len)) {
            return false;
        }
    }
    return true;
}

/* Positions it at the first key of the shard after (window, slot). */
void postings_seek_next_shard(struct tr_iter *it,
                              struct tr_buf *k,
                              struct tr_slice tenant,
                              int64_t window,
                              uint16_t slot)
{
    tr_buf_reset(k);
    tr_key_tenant_prefix(k, tenant);
    if (slot == UINT16_MAX) {
        tr_buf_put_u64be(k, tr_key_time(window) + 1);
    } else {
        tr_buf_put_u64be(k, tr_key_time(window));
        tr_buf_put_u16be(k, (uint16_t)(slot + 1));
    }
    tr_iter_seek(it, k->data, k->len);
}

int strset_add(struct strset *ss, struct tr_arena *a, struct tr_slice s)
{
    if (ss->n == ss->cap) {
        struct tr_slice *nv = tr_array_grow(ss->v, &ss->cap, sizeof(*nv), 64);
        if (nv == NULL) {
            return TR_ENOMEM;
        }
        ss->v = nv;
    }
    char *p = tr_arena_strndup(a, s.base, s.len);
    if (p == NULL) {
        return TR_ENOMEM;
    }
    ss->v[ss->n].base = p;
    ss->v[ss->n].len = s.len;
    ss->n++;
    return 0;
}

int strset_finish(struct strset *ss, size_t limit, struct tr_string_list *out)
{
    if (ss->n > 1) {
        qsort(ss->v, ss->n, sizeof(*ss->v), tr_slice_qsort_cmp);
        size_t o = 1;
        for (size_t i = 1; i < ss->n; i++) {
            if (!tr_slice_eq(ss->v[i], ss->v[o - 1])) {
                ss->v[o++] = ss->v[i];
            }
        }
        ss->n = o;
    }
    if (limit > 0 && ss->n > limit) {
        ss->n = limit;
        out->truncated = true;
    }
    out->items =
        ss->n > 0 ? tr_arena_memdup(&out->arena, ss->v, ss->n * sizeof(*ss->v))
                  : tr_arena_alloc(&out->arena, sizeof(*ss->v));
    out->n = ss->n;
    tr_free(ss->v);
    return out->items == NULL ? TR_ENOMEM : 0;
}

int postings_scan(struct tr_engine *eng,
                  enum tr_cf cf,
                  struct tr_slice tenant,
                  const struct tr_slice *value_of,
                  const struct postings_range *r,
                  struct tr_arena *a,
                  struct strset *ss)
{
    struct tr_iter *it = tr_iter_new(eng, cf);
    struct tr_iter *wit = tr_iter_new(eng, cf);
    if (it == NULL || wit == NULL) {
        tr_iter_free(it);
        tr_iter_free(wit);
        return TR_ENOMEM;
    }
    struct tr_buf k, wk;
    tr_buf_init(&k);
    tr_buf_init(&wk);
    int rv = 0;
    tr_key_tenant_prefix(&wk, tenant);
    size_t tpl = wk.len;
    tr_buf_put_u64be(&wk, tr_key_time(r->first_window));
    uint8_t succ[2048];
    for (tr_iter_seek(wit, wk.data, wk.len);
         rv == 0 && tr_iter_has_prefix(wit, wk.data, tpl);) {
        int64_t window;
        uint16_t slot;
        char kind;
        if (tr_key_parse_shard(tr_iter_key(wit), tenant.len, &window, &slot,
                               &kind) != 0 ||
            window > r->last_window) {
            break;
        }
        if (!postings_shard_wanted(r, window, slot)) {
            postings_seek_next_shard(wit, &wk, tenant, window, slot);
            continue;
        }
        tr_buf_reset(&k);
        tr_key_shard_prefix(&k, tenant, window, slot, TR_KEY_POSTING);
        if (value_of != NULL) {
            tr_buf_put_uvarint(&k, value_of->len);
            tr_buf_append(&k, value_of->base, value_of->len);
        }
        size_t pl = k.len;
        tr_iter_seek(it, k.data, pl);
        while (rv == 0 && tr_iter_has_prefix(it, k.data, pl)) {
            struct tr_slice key = tr_iter_key(it);
            struct tr_cursor c = tr_cursor_make(key.base + pl, key.len - pl);
            uint64_t l;
            struct tr_slice part;
            if (tr_cursor_uvarint(&c, &l) != 0 ||
                tr_cursor_bytes(&c, l, &part) != 0) {
                tr_iter_next(it);
                continue;
            }
            rv = strset_add(ss, a, part);
            size_t upto = (size_t)((const char *)c.p - key.base);
            if (upto > sizeof(succ)) {
                tr_iter_next(it);
                continue;
            }
            size_t sl = tr_prefix_successor(key.base, upto, succ);
            if (sl == 0) {
                break;
            }
            tr_iter_seek(it, succ, sl);
        }
        postings_seek_next_shard(wit, &wk, tenant, window, slot);
    }
    tr_iter_free(it);
    tr_iter_free(wit);
    tr_buf_free(&k);
    tr_buf_free(&wk);
    return rv;
}

bool postings_shard_wanted(const struct postings_range *r,
                           int64_t window,
                           uint16_t slot)
{
    if (r->n_shards == 0) {
        return true;
    }
    for (size_t i = 0; i < r->n_shards; i++) {
        if (r->shards[i].window == window && r->shards[i].slot == slot) {
            return true;
        }
    }
    return false;
}

void postings_put_series(struct tr_wbatch *b,
                         enum tr_cf cf,
                         struct tr_buf *key,
                         struct tr_slice tenant,
                         int64_t window,
                         uint16_t slot,
                         uint64_t id,
                         const char *enc,
                         size_t len)
{
    tr_buf_reset(key);
    tr_key_shard_prefix(key, tenant, window, slot, TR_KEY_SERIES);
    tr_buf_put_u64be(key, id);
    tr_wbatch_put(b, cf, key->data, key->len, enc, len);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_label *ls;
    size_t n;
    if (tr_labels_decode(enc, len, &a, &ls, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            tr_buf_reset(key);
            tr_key_shard_prefix(key, tenant, window, slot, TR_KEY_POSTING);
            tr_key_posting(key, ls[i].name, ls[i].value);
            tr_buf_put_u64be(key, id);
            tr_wbatch_put(b, cf, key->data, key->len, "", 0);
        }
    }
    tr_arena_free(&a);
}

uint64_t postings_count_load(struct tr_engine *eng,
                             enum tr_cf cf,
                             struct tr_slice tenant,
                             int64_t window,
                             uint16_t slot)
{
    struct tr_buf k, v;
    tr_buf_init(&k);
    tr_buf_init(&v);
    tr_key_shard_prefix(&k, tenant, window, slot, TR_KEY_COUNT);
    uint64_t n = 0;
    if (tr_engine_get(eng, cf, k.data, k.len, &v) == 0 && v.len == 8) {
        n = tr_get_u64be(v.data);
    } else {
        tr_buf_reset(&k);
        tr_key_shard_prefix(&k, tenant, window, slot, TR_KEY_SERIES);
        struct tr_iter *it = tr_iter_new(eng, cf);
        if (it != NULL) {
            for (tr_iter_seek(it, k.data, k.len);
                 tr_iter_has_prefix(it, k.data, k.len); tr_iter_next(it)) {
                n++;
            }
            tr_iter_free(it);
        }
    }
    tr_buf_free(&k);
    tr_buf_free(&v);
    return n;
}

void postings_put_count(struct tr_wbatch *b,
                        enum tr_cf cf,
                        struct tr_buf *key,
                        struct tr_slice tenant,
                        int64_t window,
                        uint16_t slot,
                        uint64_t count)
{
    uint8_t v[8];
    tr_put_u64be(v, count);
    tr_buf_reset(key);
    tr_key_shard_prefix(key, tenant, window, slot, TR_KEY_COUNT);
    tr_wbatch_put(b, cf, key->data, key->len, v, 8);
}

int postings_probe(struct tr_engine *eng,
                   enum tr_cf cf,
                   struct tr_slice tenant,
                   int64_t window,
                   uint16_t slot,
                   uint64_t id,
                   struct tr_slice enc,
                   struct tr_buf *key,
                   struct tr_buf *val)
{
    tr_buf_reset(key);
    tr_key_shard_prefix(key, tenant, window, slot, TR_KEY_SERIES);
    tr_buf_put_u64be(key, id);
    tr_buf_reset(val);
    int rv = tr_engine_get(eng, cf, key->data, key->len, val);
    if (rv == TR_ENOTFOUND) {
        return POSTINGS_FREE;
    }
    if (rv != 0) {
        return TR_EIO;
    }
    return val->len == enc.len && memcmp(val->data, enc.base, enc.len) == 0
               ? POSTINGS_SAME
               : POSTINGS_TAKEN;
}
