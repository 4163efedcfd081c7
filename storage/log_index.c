/* log_index.c - the needle (sampled k-grams; winnowing for the records of
 * earlier builds) and metadata sketches of a log block (format and
 * reasoning in storage/log_index.h). */
#include "storage/log_index.h"

#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/hash.h"

/* needle bloom: see TR_LOG_INDEX_K in storage/log_index.h */
#define IX_NEEDLE_TENTHS_OF_BITS_PER_ITEM 26
#define IX_NEEDLE_PROBES 2
#define IX_META_TENTHS_OF_BITS_PER_ITEM 100
#define IX_META_PROBES 7
#define IX_MAX_W 64
#define IX_MAX_SHIFT 16
#define IX_FIXED 40

#define ix__mix tr_hash_mix64

/* The k bytes at p as a number, the first byte lowest (the same on every
 * host). */
static uint64_t ix__gram_bytes(const unsigned char *p, unsigned k)
{
    uint64_t g = 0;
    for (unsigned i = 0; i < k; i++) {
        g |= (uint64_t)p[i] << (8 * i);
    }
    return g;
}

/* Version 1 records: every k-gram's strong hash, minima by it. */
static uint64_t ix__gram(const unsigned char *p, unsigned k)
{
    return ix__mix(ix__gram_bytes(p, k) ^ ((uint64_t)k << 56) ^
                   0x5851f42d4c957f2dULL);
}

/* Version 2 records: windows are ranked by one multiplication of the
 * k-gram (odd: distinct k-grams get distinct ranks), and only the
 * selected minima get the strong hash that goes into the bloom; a
 * fraction of the work per byte of version 1. */
#define IX_RANK_MUL 0x9e3779b97f4a7c15ULL

static uint64_t ix__rank(const unsigned char *p, unsigned k)
{
    return ix__gram_bytes(p, k) * IX_RANK_MUL;
}

static uint64_t ix__meta_hash(struct tr_slice name, struct tr_slice value)
{
    uint64_t h = tr_hash64(name.base, name.len, 0x6d657461ULL);
    return ix__mix(tr_hash64(value.base, value.len, h));
}

/* Scratch arrays of a line's selections (sampled ranks; for winnowing,
 * ranks then prefix minima), grown to the longest line. */
struct ix_scratch {
    uint64_t *v; /* 2 x cap: ranks, then prefix minima */
    size_t cap;
    bool heap; /* v is tr_malloc'ed (else the caller's array) */
};

/* Grows the scratch to hold ng ranks and ng prefix minima. */
static int ix__scratch_fit(struct ix_scratch *sc, size_t ng)
{
    if (ng <= sc->cap) {
        return 0;
    }
    uint64_t *nv = tr_malloc(2 * ng * sizeof(*nv));
    if (nv == NULL) {
        return TR_ENOMEM;
    }
    if (sc->heap) {
        tr_free(sc->v);
    }
    sc->v = nv;
    sc->cap = ng;
    sc->heap = true;
    return 0;
}

/* Replaces r[0..ng) by the minima of each suffix inside its block of w
 * positions (each rank is read before its slot is overwritten). */
static void ix__suffix_minima(uint64_t *r, size_t ng, size_t w)
{
    size_t nb = (ng + w - 1) / w;
    for (size_t bi = nb; bi-- > 0;) {
        size_t b0 = bi * w, b1 = b0 + w < ng ? b0 + w : ng;
        uint64_t m = UINT64_MAX;
        for (size_t q = b1; q-- > b0;) {
            m = r[q] < m ? r[q] : m;
            r[q] = m;
        }
    }
}

/* The rank of the k-gram at s + q as records of the version rank them
 * (mask: the low k bytes). */
static inline uint64_t ix__rank_at(const unsigned char *s,
                                   size_t q,
                                   size_t len,
                                   unsigned k,
                                   unsigned version,
                                   uint64_t mask)
{
    if (version == 1) {
        return ix__gram(s + q, k);
    }
    if (q + 8 > len) {
        return ix__rank(s + q, k);
    }
    uint64_t g;
    memcpy(&g, s + q, 8); /* then the first k bytes, lowest first */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    g = __builtin_bswap64(g);
#endif
    return (g & mask) * IX_RANK_MUL;
}

/* Version 3 records: the ranks of the k-grams of s that are sampled (rank
 * below 2^64 >> shift: one in 2^shift), in order, into out[0..return).
 * One pass, no branch on the data (every rank is written, the count
 * advances only for sampled ones), so out must hold len entries. Inlined,
 * so that the index build's constant k and shift fold. */
static inline size_t ix__sampled(const unsigned char *s,
                                 size_t len,
                                 unsigned k,
                                 unsigned shift,
                                 uint64_t *out)
{
    if (len < k) {
        return 0;
    }
    const uint64_t mask = k >= 8 ? UINT64_MAX : (1ULL << (8 * k)) - 1;
    const unsigned drop = 64 - shift;
    size_t ng = len - k + 1, n = 0;
    for (size_t q = 0; q < ng; q++) {
        uint64_t rk = ix__rank_at(s, q, len, k, 2, mask);
        out[n] = rk;
        n += (size_t)((rk >> drop) == 0);
    }
    return n;
}

/* The minimum rank of every window of w k-grams of s, once per change of
 * the minimum (the set of window minima is all a bloom and a needle check
 * need), ranked as records of the version do, into sc->v[0..*ne). The
 * minima come from block prefix and suffix minima (van Herk / Gil-Werman:
 * three comparisons per position, no branches on the data): ranks and
 * block prefix minima in one pass, suffix minima in a second, the windows
 * in a third, which keeps each change of minimum without a branch (a
 * change is unpredictable) by compacting into the ranks' array (r[i] is
 * read before r[*ne <= i] is written). Inlined, so that the index build's
 * constant k, w and version fold. 0 or TR_ENOMEM. */
static inline int ix__window_minima(const unsigned char *s,
                                    size_t len,
                                    unsigned k,
                                    unsigned w,
                                    unsigned version,
                                    struct ix_scratch *sc,
                                    size_t *ne)
{
    *ne = 0;
    if (w == 0 || len < (size_t)w + k - 1) {
        return 0;
    }
    size_t ng = len - k + 1;
    if (ix__scratch_fit(sc, ng) != 0) {
        return TR_ENOMEM;
    }
    uint64_t *r = sc->v, *pre = sc->v + sc->cap;
    const uint64_t mask = k >= 8 ? UINT64_MAX : (1ULL << (8 * k)) - 1;
    for (size_t b0 = 0; b0 < ng; b0 += w) {
        size_t b1 = b0 + w < ng ? b0 + w : ng;
        uint64_t m = UINT64_MAX;
        for (size_t q = b0; q < b1; q++) {
            uint64_t rk = ix__rank_at(s, q, len, k, version, mask);
            r[q] = rk;
            m = rk < m ? rk : m;
            pre[q] = m;
        }
    }
    ix__suffix_minima(r, ng, w);
    size_t n = 0;
    uint64_t last = 0;
    for (size_t i = 0; i + w <= ng; i++) {
        uint64_t a = r[i], b = pre[i + w - 1];
        uint64_t m = a < b ? a : b;
        r[n] = m;
        n += (size_t)(i == 0 || m != last);
        last = m;
    }
    *ne = n;
    return 0;
}

/* The bloom item of a selected k-gram's rank: version 1 ranks are the
 * strong hash already; versions 2 and 3 hash only the selected ranks. */
static uint64_t ix__selection_hash(uint64_t m, unsigned k, unsigned version)
{
    return version == 1 ? m : ix__mix(m ^ ((uint64_t)k << 56));
}

struct ix_hashes {
    uint64_t *v;
    size_t n;
    size_t cap;
};

static int ix__push(void *arg, uint64_t h)
{
    struct ix_hashes *hs = arg;
    if (hs->n == hs->cap) {
        uint64_t *nv = tr_array_grow(hs->v, &hs->cap, sizeof(*nv), 1024);
        if (nv == NULL) {
            return TR_ENOMEM;
        }
        hs->v = nv;
    }
    hs->v[hs->n++] = h;
    return 0;
}

static int ix__cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

static size_t ix__unique(struct ix_hashes *hs)
{
    if (hs->n > 1) {
        qsort(hs->v, hs->n, sizeof(*hs->v), ix__cmp);
    }
    size_t o = 0;
    for (size_t i = 0; i < hs->n; i++) {
        if (o == 0 || hs->v[i] != hs->v[o - 1]) {
            hs->v[o++] = hs->v[i];
        }
    }
    hs->n = o;
    return o;
}

/* The distinct sampled k-grams of a block, by their rank: an
 * open-addressing set (most samples repeat: the lines of a stream share
 * their templates), so no sort and no strong hash of every sample (ranks
 * are hashed once each when the bloom is built). A slot is picked by the
 * top bits of the rank times another odd constant; a slot of 0 is empty
 * (rank 0, the k-gram of k zero bytes, is only flagged in has_zero).
 * items lists every distinct rank once (0 too), in the order first seen,
 * so the bloom is built from n items instead of a scan of cap slots; the
 * bloom does not depend on the order of its items. */
struct ix_set {
    uint64_t *slots;
    size_t cap;      /* a power of two */
    unsigned shift;  /* 64 - log2(cap) */
    uint64_t *items; /* cap / 2 + 1 entries */
    size_t n;        /* items */
    bool has_zero;
};

static inline size_t ix__set_slot(const struct ix_set *set, uint64_t h)
{
    return (size_t)((h * 0xbf58476d1ce4e5b9ULL) >> set->shift);
}

/* Slots for cap ranks, items kept; the nonzero items re-inserted. */
static int ix__set_resize(struct ix_set *set, size_t cap)
{
    uint64_t *slots = tr_calloc(cap, sizeof(*slots));
    uint64_t *items = tr_realloc(set->items, (cap / 2 + 1) * sizeof(*items));
    if (items != NULL) {
        set->items = items;
    }
    if (slots == NULL || items == NULL) {
        tr_free(slots);
        return TR_ENOMEM;
    }
    tr_free(set->slots);
    set->slots = slots;
    set->cap = cap;
    set->shift = 64 - (unsigned)__builtin_ctzll(cap);
    for (size_t i = 0; i < set->n; i++) {
        uint64_t h = set->items[i];
        if (h != 0) {
            size_t at = ix__set_slot(set, h);
            while (set->slots[at] != 0) {
                at = (at + 1) & (cap - 1);
            }
            set->slots[at] = h;
        }
    }
    return 0;
}

static inline int ix__set_add(struct ix_set *set, uint64_t h)
{
    if (h == 0) {
        if (!set->has_zero) {
            set->has_zero = true;
            set->items[set->n++] = 0;
        }
    } else {
        size_t at = ix__set_slot(set, h);
        while (set->slots[at] != 0) {
            if (set->slots[at] == h) {
                return 0;
            }
            at = (at + 1) & (set->cap - 1);
        }
        set->slots[at] = h;
        set->items[set->n++] = h;
    }
    return set->n * 2 > set->cap ? ix__set_resize(set, set->cap * 2) : 0;
}

/* The sampled k-grams of a line into the set. */
static int ix__sample_into(const unsigned char *s,
                           size_t len,
                           struct ix_scratch *sc,
                           struct ix_set *set)
{
    int rv = ix__scratch_fit(sc, len);
    size_t ne = 0;
    if (rv == 0) {
        ne = ix__sampled(s, len, TR_LOG_INDEX_K, TR_LOG_INDEX_SHIFT, sc->v);
    }
    for (size_t i = 0; i < ne && rv == 0; i++) {
        rv = ix__set_add(set, sc->v[i]);
    }
    return rv;
}

static uint32_t ix__probe(uint64_t h, unsigned i, uint32_t m)
{
    uint32_t lo = (uint32_t)h, hi = (uint32_t)(h >> 32) | 1u;
    return (uint32_t)(((uint64_t)lo + (uint64_t)i * hi) % m);
}

/* Appends probes, bits and the bloom of the n distinct hashes v. */
static void ix__bloom(struct tr_buf *out,
                      const uint64_t *v,
                      size_t n,
                      unsigned tenths_of_bits_per_item,
                      unsigned probes)
{
    uint64_t m = n == 0 ? 0 : (uint64_t)n * tenths_of_bits_per_item / 10;
    if (m > 0 && m < 64) {
        m = 64;
    }
    m = (m + 7) / 8 * 8;
    if (m > UINT32_MAX - 7) {
        m = (uint64_t)UINT32_MAX / 8 * 8;
    }
    tr_buf_putc(out, (char)probes);
    tr_buf_put_u32be(out, (uint32_t)m);
    size_t at = out->len;
    if (tr_buf_reserve(out, (size_t)(m / 8)) != 0) {
        return;
    }
    memset(out->data + at, 0, (size_t)(m / 8));
    out->len += (size_t)(m / 8);
    uint8_t *bits = (uint8_t *)out->data + at;
    for (size_t i = 0; i < n; i++) {
        for (unsigned p = 0; p < probes; p++) {
            uint32_t b = ix__probe(v[i], p, (uint32_t)m);
            bits[b / 8] |= (uint8_t)(1u << (b % 8));
        }
    }
}

static bool ix__bloom_has(const uint8_t *bits,
                          uint32_t m,
                          unsigned probes,
                          uint64_t h)
{
    if (m == 0) {
        return false;
    }
    for (unsigned p = 0; p < probes; p++) {
        uint32_t b = ix__probe(h, p, m);
        if (!(bits[b / 8] & (1u << (b % 8)))) {
            return false;
        }
    }
    return true;
}

int tr_log_index_build(const struct tr_log_line *lines,
                       size_t n,
                       size_t block_bytes,
                       struct tr_buf *out)
{
    struct ix_set grams = {0};
    struct ix_hashes metas = {0};
    uint64_t raw = 0;
    int rv = 0;
    for (size_t i = 0; i < n; i++) {
        raw += lines[i].line.len;
    }
    /* sized for one distinct sample per 16 bytes at half load (the bench's
     * log lines sample ~1 distinct per 19): the set seldom grows */
    size_t cap = 4096;
    while (cap < raw / 8) {
        cap *= 2;
    }
    rv = ix__set_resize(&grams, cap);
    struct ix_scratch sc = {NULL, 0, false};
    for (size_t i = 0; i < n && rv == 0; i++) {
        rv = ix__sample_into((const unsigned char *)lines[i].line.base,
                             lines[i].line.len, &sc, &grams);
        for (size_t j = 0; j < lines[i].n_meta && rv == 0; j++) {
            rv = ix__push(&metas, ix__meta_hash(lines[i].meta[j].name,
                                                lines[i].meta[j].value));
        }
    }
    if (rv == 0) {
        ix__unique(&metas);
        for (size_t i = 0; i < grams.n; i++) {
            grams.items[i] = ix__selection_hash(grams.items[i], TR_LOG_INDEX_K,
                                                TR_LOG_INDEX_VERSION);
        }
        tr_buf_putc(out, TR_LOG_INDEX_VERSION);
        tr_buf_put_u64be(out, n ? (uint64_t)lines[0].ts : 0);
        tr_buf_put_u64be(out, n ? (uint64_t)lines[n - 1].ts : 0);
        tr_buf_put_u32be(out, (uint32_t)n);
        tr_buf_put_u64be(out, raw);
        tr_buf_put_u32be(out, (uint32_t)block_bytes);
        tr_buf_putc(out, TR_LOG_INDEX_K);
        tr_buf_putc(out, TR_LOG_INDEX_SHIFT);
        ix__bloom(out, grams.items, grams.n, IX_NEEDLE_TENTHS_OF_BITS_PER_ITEM,
                  IX_NEEDLE_PROBES);
        ix__bloom(out, metas.v, metas.n, IX_META_TENTHS_OF_BITS_PER_ITEM,
                  IX_META_PROBES);
        rv = out->oom ? TR_ENOMEM : 0;
    }
    if (sc.heap) {
        tr_free(sc.v);
    }
    tr_free(grams.slots);
    tr_free(grams.items);
    tr_free(metas.v);
    return rv;
}

static int ix__parse_bloom(struct tr_cursor *c,
                           uint8_t *probes,
                           uint32_t *bits,
                           const uint8_t **bytes)
{
    struct tr_slice b;
    if (tr_cursor_u8(c, probes) != 0 || tr_cursor_u32be(c, bits) != 0 ||
        *probes < 1 || *probes > 16 || *bits % 8 != 0 ||
        tr_cursor_bytes(c, *bits / 8, &b) != 0) {
        return TR_ECORRUPT;
    }
    *bytes = (const uint8_t *)b.base;
    return 0;
}

int tr_log_index_parse(const void *buf, size_t len, struct tr_log_index *out)
{
    struct tr_cursor c = tr_cursor_make(buf, len);
    uint8_t v;
    uint64_t mint, maxt;
    if (tr_cursor_u8(&c, &v) != 0 || v < 1 || v > TR_LOG_INDEX_VERSION ||
        tr_cursor_u64be(&c, &mint) != 0 || tr_cursor_u64be(&c, &maxt) != 0 ||
        tr_cursor_u32be(&c, &out->count) != 0 ||
        tr_cursor_u64be(&c, &out->raw_bytes) != 0 ||
        tr_cursor_u32be(&c, &out->block_bytes) != 0 ||
        tr_cursor_u8(&c, &out->k) != 0 || tr_cursor_u8(&c, &out->w) != 0 ||
        out->k < 1 || out->k > 8 || out->w < 1 ||
        out->w > (v >= 3 ? IX_MAX_SHIFT : IX_MAX_W) ||
        ix__parse_bloom(&c, &out->needle_probes, &out->needle_bits,
                        &out->needle_bloom) != 0 ||
        ix__parse_bloom(&c, &out->meta_probes, &out->meta_bits,
                        &out->meta_bloom) != 0 ||
        tr_cursor_left(&c) != 0) {
        return TR_ECORRUPT;
    }
    out->version = v;
    out->mint = (int64_t)mint;
    out->maxt = (int64_t)maxt;
    return out->mint <= out->maxt ? 0 : TR_ECORRUPT;
}

bool tr_log_index_may_match(const struct tr_log_index *ix,
                            const struct tr_slice *needles,
                            size_t n_needles,
                            const struct tr_label *meta,
                            size_t n_meta)
{
    bool miss = false;
    uint64_t local[2 * 64]; /* needles of up to 68 bytes need no heap */
    struct ix_scratch sc = {local, 64, false};
    for (size_t i = 0; i < n_needles && !miss; i++) {
        const unsigned char *nd = (const unsigned char *)needles[i].base;
        size_t ne = 0;
        /* out of memory: no selections, no pruning */
        if (ix->version >= 3) {
            if (ix__scratch_fit(&sc, needles[i].len) == 0) {
                ne = ix__sampled(nd, needles[i].len, ix->k, ix->w, sc.v);
            }
        } else {
            ix__window_minima(nd, needles[i].len, ix->k, ix->w, ix->version,
                              &sc, &ne);
        }
        for (size_t j = 0; j < ne && !miss; j++) {
            miss = !ix__bloom_has(
                ix->needle_bloom, ix->needle_bits, ix->needle_probes,
                ix__selection_hash(sc.v[j], ix->k, ix->version));
        }
    }
    if (sc.heap) {
        tr_free(sc.v);
    }
    if (miss) {
        return false;
    }
    for (size_t i = 0; i < n_meta; i++) {
        if (!ix__bloom_has(ix->meta_bloom, ix->meta_bits, ix->meta_probes,
                           ix__meta_hash(meta[i].name, meta[i].value))) {
            return false;
        }
    }
    return true;
}
