/* log_block.c - encoding and checked decoding of log blocks (format in
 * storage/log_block.h). */
#include "storage/log_block.h"

#include <stdbool.h>
#include <string.h>
#include <zstd.h>

#include "lib/compress.h"
#include "lib/err.h"
#include "lib/hash.h"
#include "storage/log_timeref.h"

/* The dictionary of metadata strings while encoding: open addressing over
 * indexes into strs (slot value 0 = empty, else index + 1). */
struct blk_dict {
    uint32_t *slots;
    size_t cap; /* power of two */
    struct tr_slice *strs;
    size_t n;
    size_t strs_cap;
};

static void blk__dict_free(struct blk_dict *d)
{
    tr_free(d->slots);
    tr_free(d->strs);
}

static int blk__dict_grow(struct blk_dict *d)
{
    size_t cap = d->cap ? d->cap * 2 : 64;
    uint32_t *ns = tr_calloc(cap, sizeof(*ns));
    if (ns == NULL) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < d->n; i++) {
        uint64_t h = tr_hash64(d->strs[i].base, d->strs[i].len, 0);
        size_t j = (size_t)h & (cap - 1);
        while (ns[j] != 0) {
            j = (j + 1) & (cap - 1);
        }
        ns[j] = (uint32_t)i + 1;
    }
    tr_free(d->slots);
    d->slots = ns;
    d->cap = cap;
    return 0;
}

/* Index of s in the dictionary (added when new), or TR_ENOMEM. */
static long blk__dict_index(struct blk_dict *d, struct tr_slice s)
{
    if ((d->n + 1) * 2 > d->cap && blk__dict_grow(d) != 0) {
        return TR_ENOMEM;
    }
    uint64_t h = tr_hash64(s.base, s.len, 0);
    size_t j = (size_t)h & (d->cap - 1);
    while (d->slots[j] != 0) {
        const struct tr_slice *o = &d->strs[d->slots[j] - 1];
        if (tr_slice_eq(*o, s)) {
            return (long)d->slots[j] - 1;
        }
        j = (j + 1) & (d->cap - 1);
    }
    if (d->n == d->strs_cap) {
        struct tr_slice *nv =
            tr_array_grow(d->strs, &d->strs_cap, sizeof(*nv), 32);
        if (nv == NULL) {
            return TR_ENOMEM;
        }
        d->strs = nv;
    }
    d->strs[d->n] = s;
    d->slots[j] = (uint32_t)d->n + 1;
    return (long)d->n++;
}

/* Hex runs: [0-9a-f] bytes, as in trace, span and request ids. */
static const uint8_t blk_hexval[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
}; /* digit value + 1; 0: not a lower-case hex digit */

#define BLK_MARK 0x01
#define BLK_TIME 0x01  /* after BLK_MARK: a time reference follows */
#define BLK_MIN_RUN 16 /* hex digits */

/* Packs the line section p[0..n) (storage/log_block.h, flag bit 1): text
 * into t, the packed bytes into ids. */
static void blk__pack(const uint8_t *p,
                      size_t n,
                      struct tr_buf *t,
                      struct tr_buf *ids)
{
    size_t i = 0, lit = 0; /* lit: start of the pending literal bytes */
    const uint8_t *mk = memchr(p, BLK_MARK, n);
    size_t mark = mk != NULL ? (size_t)(mk - p) : n; /* the next 0x01 */
    while (i < n) {
        if (i == mark) {
            tr_buf_append(t, p + lit, i - lit);
            tr_buf_putc(t, (char)BLK_MARK);
            tr_buf_putc(t, 0);
            lit = ++i;
            mk = i < n ? memchr(p + i, BLK_MARK, n - i) : NULL;
            mark = mk != NULL ? (size_t)(mk - p) : n;
            continue;
        }
        /* no run long enough fits before the mark (0x01 is no digit) */
        if (mark - i < BLK_MIN_RUN) {
            i = mark;
            continue;
        }
        /* the maximal run starting at i is too short when the window of
         * BLK_MIN_RUN bytes from i holds a non-digit; runs starting
         * before that byte end at it too, so scanning goes on after it
         * (what a byte-by-byte walk of the runs would conclude) */
        size_t k = i + BLK_MIN_RUN;
        while (k > i && blk_hexval[p[k - 1]] != 0) {
            k--;
        }
        if (k > i) {
            i = k;
            continue;
        }
        size_t j = i;
        bool digit = false, letter = false;
        while (j < n && blk_hexval[p[j]] != 0) {
            digit = digit || p[j] <= '9';
            letter = letter || p[j] >= 'a';
            j++;
        }
        if (!digit || !letter) {
            i = j;
            continue;
        }
        size_t m = (j - i) / 2;
        m = m > 255 ? 255 : m;
        tr_buf_append(t, p + lit, i - lit);
        tr_buf_putc(t, (char)BLK_MARK);
        tr_buf_putc(t, (char)m);
        if (tr_buf_reserve(ids, m) == 0) {
            uint8_t *o = (uint8_t *)ids->data + ids->len;
            for (size_t q = 0; q < m; q++) {
                o[q] = (uint8_t)(((blk_hexval[p[i + 2 * q]] - 1) << 4) |
                                 (blk_hexval[p[i + 2 * q + 1]] - 1));
            }
            ids->len += m;
        }
        i += 2 * m;
        lit = i;
    }
    tr_buf_append(t, p + lit, n - lit);
}

/* The timestamp delta column: uvarints, or (flag bit 3) byte planes. */
struct blk_ts {
    struct tr_cursor c;    /* uvarints: the column */
    const uint8_t *planes; /* planes: w planes of n bytes */
    size_t n;
    size_t i;   /* planes: deltas read */
    unsigned w; /* 0: uvarints */
};

/* The next delta. 0 or TR_ECORRUPT. */
static inline int blk__ts_next(struct blk_ts *t, uint64_t *dt)
{
    if (t->w == 0) {
        return tr_cursor_uvarint(&t->c, dt);
    }
    if (t->i >= t->n) {
        return TR_ECORRUPT;
    }
    uint64_t v = 0;
    for (unsigned p = 0; p < t->w; p++) {
        v = v << 8 | t->planes[p * t->n + t->i];
    }
    t->i++;
    *dt = v;
    return 0;
}

static bool blk__ts_done(const struct blk_ts *t)
{
    return t->w == 0 ? tr_cursor_left(&t->c) == 0 : t->i == t->n;
}

/* What expanding time references needs (flag bit 2): the timestamp and
 * length columns, walked as far as the references reach. */
struct blk_times {
    struct blk_ts ts;      /* deltas of the entries not read yet */
    struct tr_cursor lens; /* their lengths (no newline flag) */
    bool newlines;
    size_t n;        /* entries in the block */
    size_t next;     /* entries read */
    int64_t cur;     /* ts of entry next - 1 */
    size_t line_end; /* lengths: where entry next - 1 ends in the section */
    size_t scanned;  /* newlines: section bytes counted, holding nl '\n' */
    size_t nl;
    struct tr_log_timeref_cache cache;
};

/* Reads the next entry's ts (and length). */
static int blk__times_next(struct blk_times *tm)
{
    uint64_t dt, len = 0;
    if (tm->next == tm->n || blk__ts_next(&tm->ts, &dt) != 0 ||
        (!tm->newlines && tr_cursor_uvarint(&tm->lens, &len) != 0)) {
        return TR_ECORRUPT;
    }
    tm->cur = (int64_t)((uint64_t)tm->cur + dt);
    tm->line_end += (size_t)len;
    tm->next++;
    return 0;
}

/* Writes the time text of descriptor desc for the entry whose line holds
 * section offset o (section written up to o at out) into w (room for
 * TR_LOG_TIMEREF_MAX bytes); its length, or 0 when corrupt. */
static size_t blk__time_text(struct blk_times *tm,
                             const uint8_t *out,
                             size_t o,
                             uint8_t desc,
                             char *w)
{
    if (tm->newlines) {
        for (const uint8_t *q = out + tm->scanned, *e = out + o;
             (q = memchr(q, '\n', (size_t)(e - q))) != NULL; q++) {
            tm->nl++;
        }
        tm->scanned = o;
        while (tm->next <= tm->nl) {
            if (blk__times_next(tm) != 0) {
                return 0;
            }
        }
    } else {
        while (tm->next == 0 || o >= tm->line_end) {
            if (blk__times_next(tm) != 0) {
                return 0;
            }
        }
    }
    size_t l = tr_log_timeref_format(desc, tm->cur, &tm->cache, w);
    return !tm->newlines && o + l > tm->line_end ? 0 : l;
}

/* Expands a packed line section (text t, packed bytes ids; time
 * references with tm, NULL when the block has none) into exactly out_len
 * bytes at out. 0 or TR_ECORRUPT. */
static int blk__unpack(struct tr_slice t,
                       struct tr_slice ids,
                       struct blk_times *tm,
                       uint8_t *out,
                       size_t out_len)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = (const uint8_t *)t.base, *end = p + t.len;
    const uint8_t *id = (const uint8_t *)ids.base, *id_end = id + ids.len;
    uint8_t *o = out, *o_end = out + out_len;
    while (p < end) {
        const uint8_t *mk = memchr(p, BLK_MARK, (size_t)(end - p));
        size_t lit = (size_t)((mk != NULL ? mk : end) - p);
        if (lit > (size_t)(o_end - o)) {
            return TR_ECORRUPT;
        }
        memcpy(o, p, lit);
        o += lit;
        p += lit;
        if (mk == NULL) {
            break;
        }
        if (end - p < 2) {
            return TR_ECORRUPT;
        }
        size_t m = p[1];
        p += 2;
        if (m == 0) {
            if (o == o_end) {
                return TR_ECORRUPT;
            }
            *o++ = BLK_MARK;
            continue;
        }
        if (m == BLK_TIME) {
            char w[TR_LOG_TIMEREF_MAX];
            size_t l = 0;
            if (tm == NULL || p == end ||
                (l = blk__time_text(tm, out, (size_t)(o - out), *p, w)) == 0 ||
                l > (size_t)(o_end - o)) {
                return TR_ECORRUPT;
            }
            memcpy(o, w, l);
            o += l;
            p++;
            continue;
        }
        if (m * 2 < BLK_MIN_RUN || m > (size_t)(id_end - id) ||
            2 * m > (size_t)(o_end - o)) {
            return TR_ECORRUPT;
        }
        for (size_t q = 0; q < m; q++) {
            o[2 * q] = (uint8_t)hex[id[q] >> 4];
            o[2 * q + 1] = (uint8_t)hex[id[q] & 15];
        }
        o += 2 * m;
        id += m;
    }
    return o == o_end && id == id_end ? 0 : TR_ECORRUPT;
}

/* A time text of the line section replaced by a reference. */
struct blk_tref {
    size_t off; /* in the section */
    uint8_t len;
    uint8_t desc;
};

/* Packs the line section sec (flag bit 1) with its n_tr time references
 * (flag bit 2; in section order) into p: uvarint text length, text, packed
 * bytes. Hex runs are packed between the references. */
static int blk__pack_section(struct tr_slice sec,
                             const struct blk_tref *tr,
                             size_t n_tr,
                             struct tr_buf *p)
{
    const uint8_t *b = (const uint8_t *)sec.base;
    struct tr_buf text, ids;
    tr_buf_init(&text);
    tr_buf_init(&ids);
    size_t at = 0;
    for (size_t i = 0; i < n_tr; i++) {
        blk__pack(b + at, tr[i].off - at, &text, &ids);
        tr_buf_putc(&text, (char)BLK_MARK);
        tr_buf_putc(&text, (char)BLK_TIME);
        tr_buf_putc(&text, (char)tr[i].desc);
        at = tr[i].off + tr[i].len;
    }
    blk__pack(b + at, sec.len - at, &text, &ids);
    tr_buf_put_uvarint(p, text.len);
    tr_buf_append(p, text.data, text.len);
    tr_buf_append(p, ids.data, ids.len);
    int rv = text.oom || ids.oom ? TR_ENOMEM : 0;
    tr_buf_free(&text);
    tr_buf_free(&ids);
    return rv;
}

/* Builds the payload of a block in p; *sec_off gets the offset of the
 * line section in it, *times whether time references were made (packed
 * blocks only). */
static int blk__payload(const struct tr_log_line *lines,
                        size_t n,
                        bool newlines,
                        bool packed,
                        struct tr_buf *p,
                        size_t *sec_off,
                        bool *times)
{
    struct blk_dict d = {0};
    struct tr_buf refs;
    tr_buf_init(&refs);
    int rv = 0;
    if (packed) {
        /* byte planes, most significant first (flag bit 3) */
        uint64_t max = 0;
        for (size_t i = 1; i < n; i++) {
            uint64_t dt = (uint64_t)lines[i].ts - (uint64_t)lines[i - 1].ts;
            max = dt > max ? dt : max;
        }
        unsigned w = 1;
        while (w < 8 && (max >> (8 * w)) != 0) {
            w++;
        }
        tr_buf_putc(p, (char)w);
        if (tr_buf_reserve(p, (size_t)w * n) == 0) {
            uint8_t *o = (uint8_t *)p->data + p->len;
            for (size_t i = 0; i < n; i++) {
                uint64_t dt =
                    i == 0 ? 0
                           : (uint64_t)lines[i].ts - (uint64_t)lines[i - 1].ts;
                for (unsigned q = 0; q < w; q++) {
                    o[q * n + i] = (uint8_t)(dt >> (8 * (w - 1 - q)));
                }
            }
            p->len += (size_t)w * n;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            uint64_t delta = (uint64_t)lines[i].ts -
                             (uint64_t)(i == 0 ? lines[0].ts : lines[i - 1].ts);
            tr_buf_put_uvarint(p, delta);
        }
    }
    for (size_t i = 0; i < n && !newlines; i++) {
        tr_buf_put_uvarint(p, lines[i].line.len);
    }
    for (size_t i = 0; i < n; i++) {
        tr_buf_put_uvarint(p, lines[i].n_meta);
    }
    for (size_t i = 0; i < n && rv == 0; i++) {
        for (size_t j = 0; j < lines[i].n_meta && rv == 0; j++) {
            long ni = blk__dict_index(&d, lines[i].meta[j].name);
            long vi = ni < 0 ? ni : blk__dict_index(&d, lines[i].meta[j].value);
            if (vi < 0) {
                rv = TR_ENOMEM;
                break;
            }
            tr_buf_put_uvarint(&refs, (uint64_t)ni);
            tr_buf_put_uvarint(&refs, (uint64_t)vi);
        }
    }
    tr_buf_put_uvarint(p, d.n);
    for (size_t i = 0; i < d.n; i++) {
        tr_buf_put_uvarint(p, d.strs[i].len);
        tr_buf_append(p, d.strs[i].base, d.strs[i].len);
    }
    tr_buf_append(p, refs.data, refs.len);
    /* the line section: in p, or first in refs (reused) to be packed */
    *sec_off = p->len;
    *times = false;
    struct tr_buf *sec = p;
    struct blk_tref *tr = NULL;
    size_t n_tr = 0;
    if (packed) {
        tr_buf_reset(&refs);
        sec = &refs;
        tr = tr_malloc(n * sizeof(*tr));
        if (tr == NULL) {
            rv = TR_ENOMEM;
        }
    }
    struct tr_log_timeref_cache cache = {0};
    for (size_t i = 0; i < n && rv == 0; i++) {
        size_t off, len;
        uint8_t desc;
        if (packed && tr_log_timeref_find(lines[i].line, lines[i].ts, &cache,
                                          &off, &len, &desc)) {
            tr[n_tr++] = (struct blk_tref){
                .off = sec->len + off, .len = (uint8_t)len, .desc = desc};
        }
        tr_buf_append(sec, lines[i].line.base, lines[i].line.len);
        if (newlines) {
            tr_buf_putc(sec, '\n');
        }
    }
    if (packed && rv == 0 && !refs.oom) {
        rv = blk__pack_section(
            (struct tr_slice){.base = refs.data, .len = refs.len}, tr, n_tr, p);
        *times = n_tr > 0;
    }
    tr_free(tr);
    tr_buf_free(&refs);
    blk__dict_free(&d);
    if (rv == 0 && (p->oom || refs.oom)) {
        rv = TR_ENOMEM;
    }
    return rv;
}

int tr_log_block_encode(const struct tr_log_line *lines,
                        size_t n,
                        uint8_t compression,
                        struct tr_buf *out)
{
    if (n == 0 || n > TR_LOG_BLOCK_MAX_ENTRIES ||
        compression > TR_LOG_BLOCK_ZSTD) {
        return TR_EINVAL;
    }
    uint64_t raw = 0;
    bool newlines = true;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && lines[i].ts < lines[i - 1].ts) {
            return TR_EINVAL;
        }
        raw += lines[i].line.len;
        newlines = newlines && (lines[i].line.len == 0 ||
                                memchr(lines[i].line.base, '\n',
                                       lines[i].line.len) == NULL);
    }
    struct tr_buf p;
    tr_buf_init(&p);
    bool packed = compression == TR_LOG_BLOCK_ZSTD;
    size_t sec_off = 0;
    bool times = false;
    int rv = blk__payload(lines, n, newlines, packed, &p, &sec_off, &times);
    /* a packed section expands to at most twice the payload's size (the
     * decoder's bound) */
    if (rv == 0 && (p.len > TR_LOG_BLOCK_MAX_PAYLOAD ||
                    (packed && raw + (newlines ? n : 0) >
                                   2ULL * TR_LOG_BLOCK_MAX_PAYLOAD))) {
        rv = TR_EINVAL;
    }
    if (rv != 0) {
        tr_buf_free(&p);
        return rv;
    }
    uint8_t h[TR_LOG_BLOCK_HEADER];
    h[0] = TR_LOG_BLOCK_VERSION;
    h[1] = compression;
    h[2] =
        (uint8_t)((newlines ? TR_LOG_BLOCK_NEWLINES : 0) |
                  (packed ? TR_LOG_BLOCK_PACKED | TR_LOG_BLOCK_TS_PLANES : 0) |
                  (times ? TR_LOG_BLOCK_TIMES : 0));
    tr_put_u64be(h + 3, (uint64_t)lines[0].ts);
    tr_put_u64be(h + 11, (uint64_t)lines[n - 1].ts);
    tr_put_u32be(h + 19, (uint32_t)n);
    tr_put_u64be(h + 23, raw);
    tr_put_u32be(h + 31, (uint32_t)p.len);
    tr_buf_append(out, h, sizeof(h));
    if (compression == TR_LOG_BLOCK_NONE) {
        tr_buf_append(out, p.data, p.len);
    } else {
        /* two frames: the numeric columns and the line section */
        rv = tr_zstd_encode(p.data, sec_off, TR_LOG_BLOCK_ZSTD_LEVEL, out);
        if (rv == 0) {
            rv = tr_zstd_encode(p.data + sec_off, p.len - sec_off,
                                TR_LOG_BLOCK_ZSTD_LEVEL, out);
        }
    }
    tr_buf_free(&p);
    if (rv == 0 && out->oom) {
        rv = TR_ENOMEM;
    }
    return rv;
}

int tr_log_block_info(const void *buf,
                      size_t len,
                      struct tr_log_block_info *out)
{
    const uint8_t *b = buf;
    if (len < TR_LOG_BLOCK_HEADER || b[0] != TR_LOG_BLOCK_VERSION ||
        b[1] > TR_LOG_BLOCK_ZSTD ||
        (b[2] & ~(TR_LOG_BLOCK_NEWLINES | TR_LOG_BLOCK_PACKED |
                  TR_LOG_BLOCK_TIMES | TR_LOG_BLOCK_TS_PLANES)) != 0 ||
        ((b[2] & TR_LOG_BLOCK_PACKED) && b[1] != TR_LOG_BLOCK_ZSTD) ||
        ((b[2] & TR_LOG_BLOCK_TIMES) && !(b[2] & TR_LOG_BLOCK_PACKED))) {
        return TR_ECORRUPT;
    }
    out->compression = b[1];
    out->flags = b[2];
    out->mint = (int64_t)tr_get_u64be(b + 3);
    out->maxt = (int64_t)tr_get_u64be(b + 11);
    out->count = tr_get_u32be(b + 19);
    out->raw_bytes = tr_get_u64be(b + 23);
    out->payload_len = tr_get_u32be(b + 31);
    if (out->count == 0 || out->count > TR_LOG_BLOCK_MAX_ENTRIES ||
        out->mint > out->maxt || out->payload_len > TR_LOG_BLOCK_MAX_PAYLOAD ||
        /* packed runs hold two digits per byte, time references (3
         * bytes) at most TR_LOG_TIMEREF_MAX */
        out->raw_bytes > (uint64_t)out->payload_len *
                             ((out->flags & TR_LOG_BLOCK_TIMES)
                                  ? TR_LOG_TIMEREF_MAX / 3
                              : (out->flags & TR_LOG_BLOCK_PACKED) ? 2
                                                                   : 1) ||
        (out->compression == TR_LOG_BLOCK_NONE &&
         len - TR_LOG_BLOCK_HEADER != out->payload_len)) {
        return TR_ECORRUPT;
    }
    return 0;
}

/* The columns of a payload, located and checked (format in
 * storage/log_block.h), as cursors that the walk advances together. */
struct blk_cols {
    struct blk_ts ts;       /* timestamp deltas */
    struct tr_cursor lens;  /* line lengths (no newline flag) */
    struct tr_cursor nmeta; /* metadata pair counts */
    struct tr_cursor pairs; /* metadata pairs */
    struct tr_cursor lines; /* the lines */
    struct tr_slice *dict;  /* tr_malloc'ed, nd strings */
    uint64_t nd;
    uint64_t total_meta;
};

/* Skips n uvarints, each at most max; *sum (when not NULL) gets their
 * sum, which must stay at most max too. */
static int blk__skip_uvarints(struct tr_cursor *c,
                              size_t n,
                              uint64_t max,
                              uint64_t *sum)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        if (tr_cursor_uvarint(c, &v) != 0 || v > max) {
            return TR_ECORRUPT;
        }
        if (sum != NULL) {
            total += v;
            if (total > max) {
                return TR_ECORRUPT;
            }
        }
    }
    if (sum != NULL) {
        *sum = total;
    }
    return 0;
}

/* Locates every column of the payload p of bi and checks the sizes, the
 * dictionary and the metadata references. */
static int blk__columns(const struct tr_log_block_info *bi,
                        const uint8_t *p,
                        struct tr_arena *a,
                        struct blk_cols *k)
{
    size_t n = bi->count;
    bool newlines = bi->flags & TR_LOG_BLOCK_NEWLINES;
    memset(k, 0, sizeof(*k));
    /* every entry takes at least 3 payload bytes */
    if (n > bi->payload_len / 3) {
        return TR_ECORRUPT;
    }
    struct tr_cursor c = tr_cursor_make(p, bi->payload_len);
    if (bi->flags & TR_LOG_BLOCK_TS_PLANES) {
        uint8_t w;
        if (tr_cursor_u8(&c, &w) != 0 || w < 1 || w > 8 ||
            n > tr_cursor_left(&c) / w) {
            return TR_ECORRUPT;
        }
        k->ts = (struct blk_ts){.planes = c.p, .n = n, .w = w};
        c.p += (size_t)w * n;
    } else {
        k->ts.c = c;
        if (blk__skip_uvarints(&c, n, UINT64_MAX, NULL) != 0) {
            return TR_ECORRUPT;
        }
        k->ts.c.end = c.p;
    }
    k->lens = c;
    uint64_t total_len = 0;
    if (!newlines &&
        (blk__skip_uvarints(&c, n, bi->raw_bytes, &total_len) != 0 ||
         total_len != bi->raw_bytes)) {
        return TR_ECORRUPT;
    }
    k->lens.end = c.p;
    k->nmeta = c;
    if (blk__skip_uvarints(&c, n, bi->payload_len, &k->total_meta) != 0) {
        return TR_ECORRUPT;
    }
    k->nmeta.end = c.p;
    if (tr_cursor_uvarint(&c, &k->nd) != 0 || k->nd > tr_cursor_left(&c)) {
        return TR_ECORRUPT;
    }
    if (k->nd > 0) {
        k->dict = tr_malloc(k->nd * sizeof(*k->dict));
        if (k->dict == NULL) {
            return TR_ENOMEM;
        }
    }
    for (uint64_t i = 0; i < k->nd; i++) {
        uint64_t l;
        if (tr_cursor_uvarint(&c, &l) != 0 ||
            tr_cursor_bytes(&c, l, &k->dict[i]) != 0) {
            return TR_ECORRUPT;
        }
    }
    if (k->total_meta > tr_cursor_left(&c) / 2) {
        return TR_ECORRUPT;
    }
    k->pairs = c;
    if (k->nd == 0
            ? k->total_meta != 0
            : blk__skip_uvarints(&c, 2 * k->total_meta, k->nd - 1, NULL) != 0) {
        return TR_ECORRUPT;
    }
    k->pairs.end = c.p;
    uint64_t sec_len = bi->raw_bytes + (newlines ? n : 0);
    if (!(bi->flags & TR_LOG_BLOCK_PACKED)) {
        k->lines = c;
        return tr_cursor_left(&c) == sec_len ? 0 : TR_ECORRUPT;
    }
    uint64_t tl;
    struct tr_slice text, ids;
    if (tr_cursor_uvarint(&c, &tl) != 0 ||
        tr_cursor_bytes(&c, tl, &text) != 0 ||
        tr_cursor_bytes(&c, tr_cursor_left(&c), &ids) != 0 ||
        sec_len > TR_LOG_BLOCK_MAX_PAYLOAD * 2ULL) {
        return TR_ECORRUPT;
    }
    uint8_t *sec = tr_arena_alloc(a, sec_len ? sec_len : 1);
    if (sec == NULL) {
        return TR_ENOMEM;
    }
    struct blk_times tm = {.ts = k->ts,
                           .lens = k->lens,
                           .newlines = newlines,
                           .n = n,
                           .cur = bi->mint};
    bool times = bi->flags & TR_LOG_BLOCK_TIMES;
    if (blk__unpack(text, ids, times ? &tm : NULL, sec, sec_len) != 0) {
        return TR_ECORRUPT;
    }
    k->lines = tr_cursor_make(sec, sec_len);
    return 0;
}

/* The next occurrence of needle in [p, end), or NULL. */
static const char *blk__find(const char *p,
                             const char *end,
                             struct tr_slice needle)
{
    return p < end ? tr_memmem(p, (size_t)(end - p), needle.base, needle.len)
                   : NULL;
}

bool tr_log_has_needles(struct tr_slice s,
                        const struct tr_slice *needles,
                        size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (needles[i].len > 0 &&
            tr_memmem(s.base, s.len, needles[i].base, needles[i].len) == NULL) {
            return false;
        }
    }
    return true;
}

/* The walk over the entries: keeps those f passes (every entry without
 * f) in out/pos. With newline-terminated lines and needles without a
 * newline, the longest needle is searched once over the whole line
 * column and only the lines it hits are tested further (a line cannot
 * hold a needle that the column search skipped). */
static int blk__walk(const struct tr_log_block_info *bi,
                     struct blk_cols *k,
                     const struct tr_log_block_filter *f,
                     struct tr_arena *a,
                     struct tr_log_line *out,
                     uint32_t *pos,
                     size_t *n_out,
                     size_t *in_range)
{
    bool newlines = bi->flags & TR_LOG_BLOCK_NEWLINES;
    struct tr_slice lead = {0};
    for (size_t i = 0; f != NULL && i < f->n_needles; i++) {
        if (f->needles[i].len > lead.len) {
            lead = f->needles[i];
        }
    }
    bool column_search =
        newlines && lead.len > 0 && memchr(lead.base, '\n', lead.len) == NULL;
    const char *col_end = (const char *)k->lines.end;
    const char *hit = column_search
                          ? blk__find((const char *)k->lines.p, col_end, lead)
                          : NULL;
    int64_t ts = bi->mint;
    size_t kept = 0, ranged = 0;
    for (size_t i = 0; i < bi->count; i++) {
        uint64_t dt, len, nm;
        if (blk__ts_next(&k->ts, &dt) != 0 ||
            dt > (uint64_t)bi->maxt - (uint64_t)ts || (i == 0 && dt != 0) ||
            tr_cursor_uvarint(&k->nmeta, &nm) != 0) {
            return TR_ECORRUPT; /* past max ts, or the first is not min ts */
        }
        ts = (int64_t)((uint64_t)ts + dt);
        struct tr_slice line = {.base = (const char *)k->lines.p};
        if (newlines) {
            const char *e =
                memchr(line.base, '\n', (size_t)(col_end - line.base));
            if (e == NULL) {
                return TR_ECORRUPT;
            }
            len = (uint64_t)(e - line.base);
        } else if (tr_cursor_uvarint(&k->lens, &len) != 0) {
            return TR_ECORRUPT;
        }
        struct tr_slice sep;
        if (tr_cursor_bytes(&k->lines, len, &line) != 0 ||
            (newlines && tr_cursor_bytes(&k->lines, 1, &sep) != 0)) {
            return TR_ECORRUPT;
        }
        const uint8_t *meta_at = k->pairs.p;
        for (uint64_t j = 0; j < 2 * nm; j++) {
            uint64_t ref;
            if (tr_cursor_uvarint(&k->pairs, &ref) != 0) {
                return TR_ECORRUPT;
            }
        }
        bool keep = true;
        if (f != NULL) {
            keep = ts >= f->start && ts < f->end;
            ranged += keep;
            if (column_search) {
                bool in_line = hit != NULL && hit < line.base + line.len;
                keep = keep && in_line &&
                       tr_log_has_needles(line, f->needles, f->n_needles);
                if (in_line) {
                    hit = blk__find((const char *)k->lines.p, col_end, lead);
                }
            } else {
                keep =
                    keep && tr_log_has_needles(line, f->needles, f->n_needles);
            }
        }
        if (!keep) {
            continue;
        }
        struct tr_log_line *l = &out[kept];
        l->ts = ts;
        l->line = line;
        l->n_meta = nm;
        l->meta = NULL;
        if (nm > 0) {
            struct tr_label *m = tr_arena_alloc(a, nm * sizeof(*m));
            if (m == NULL) {
                return TR_ENOMEM;
            }
            struct tr_cursor pc = {meta_at, k->pairs.p};
            for (uint64_t j = 0; j < nm; j++) {
                uint64_t ni = 0, vi = 0;
                tr_cursor_uvarint(&pc, &ni); /* checked by blk__columns */
                tr_cursor_uvarint(&pc, &vi);
                m[j].name = k->dict[ni];
                m[j].value = k->dict[vi];
            }
            l->meta = m;
        }
        if (pos != NULL) {
            pos[kept] = (uint32_t)i;
        }
        kept++;
    }
    /* every column used up exactly */
    if (ts != bi->maxt || !blk__ts_done(&k->ts) ||
        tr_cursor_left(&k->lens) != 0 || tr_cursor_left(&k->nmeta) != 0 ||
        tr_cursor_left(&k->pairs) != 0 || tr_cursor_left(&k->lines) != 0) {
        return TR_ECORRUPT;
    }
    *n_out = kept;
    if (in_range != NULL) {
        *in_range = f != NULL ? ranged : bi->count;
    }
    return 0;
}

/* The payload of the block in buf (decompressed into a), with its
 * header. */
static int blk__payload_of(const void *buf,
                           size_t len,
                           struct tr_arena *a,
                           struct tr_log_block_info *bi,
                           const uint8_t **payload)
{
    if (tr_log_block_info(buf, len, bi) != 0) {
        return TR_ECORRUPT;
    }
    const uint8_t *p = (const uint8_t *)buf + TR_LOG_BLOCK_HEADER;
    if (bi->compression == TR_LOG_BLOCK_ZSTD) {
        size_t zl = len - TR_LOG_BLOCK_HEADER;
        /* one or more frames, each saying its size, together exactly the
         * payload */
        unsigned long long total = 0;
        for (size_t off = 0; off < zl;) {
            size_t fl = ZSTD_findFrameCompressedSize(p + off, zl - off);
            unsigned long long fs = ZSTD_getFrameContentSize(p + off, zl - off);
            if (ZSTD_isError(fl) || fs == ZSTD_CONTENTSIZE_UNKNOWN ||
                fs == ZSTD_CONTENTSIZE_ERROR || fs > bi->payload_len - total) {
                return TR_ECORRUPT;
            }
            total += fs;
            off += fl;
        }
        if (total != bi->payload_len) {
            return TR_ECORRUPT;
        }
        uint8_t *plain =
            tr_arena_alloc(a, bi->payload_len ? bi->payload_len : 1);
        if (plain == NULL) {
            return TR_ENOMEM;
        }
        size_t got = ZSTD_decompress(plain, bi->payload_len, p, zl);
        if (ZSTD_isError(got) || got != bi->payload_len) {
            return TR_ECORRUPT;
        }
        p = plain;
    }
    *payload = p;
    return 0;
}

int tr_log_block_select(const void *buf,
                        size_t len,
                        const struct tr_log_block_filter *f,
                        struct tr_arena *a,
                        struct tr_log_line **lines,
                        uint32_t **pos,
                        size_t *n,
                        size_t *in_range)
{
    struct tr_log_block_info bi;
    const uint8_t *p;
    int rv = blk__payload_of(buf, len, a, &bi, &p);
    if (rv != 0) {
        return rv;
    }
    struct blk_cols k;
    rv = blk__columns(&bi, p, a, &k);
    /* a filter keeps few lines: the walk writes into scratch space sized
     * for all of them, copied into the arena once at the end */
    bool scratch = f != NULL && f->n_needles > 0;
    size_t ls = bi.count * sizeof(struct tr_log_line);
    size_t ps = bi.count * sizeof(uint32_t);
    struct tr_log_line *out = NULL;
    uint32_t *po = NULL;
    if (rv == 0) {
        out = scratch ? tr_malloc(ls) : tr_arena_alloc(a, ls);
        if (pos != NULL) {
            po = scratch ? tr_malloc(ps) : tr_arena_alloc(a, ps);
        }
        rv = out == NULL || (pos != NULL && po == NULL) ? TR_ENOMEM : 0;
    }
    size_t kept = 0, ranged = 0;
    if (rv == 0) {
        rv = blk__walk(&bi, &k, f, a, out, po, &kept, &ranged);
    }
    struct tr_log_line *lo = out;
    uint32_t *pk = po;
    if (rv == 0 && scratch) {
        lo = tr_arena_memdup(a, out, kept * sizeof(*lo));
        pk = pos != NULL ? tr_arena_memdup(a, po, kept * sizeof(*pk)) : NULL;
        rv = lo == NULL || (pos != NULL && pk == NULL) ? TR_ENOMEM : 0;
    }
    if (scratch) {
        tr_free(out);
        tr_free(po);
    }
    tr_free(k.dict);
    if (rv != 0) {
        return rv;
    }
    *lines = lo;
    if (pos != NULL) {
        *pos = pk;
    }
    *n = kept;
    if (in_range != NULL) {
        *in_range = ranged;
    }
    return 0;
}

int tr_log_block_decode(const void *buf,
                        size_t len,
                        struct tr_arena *a,
                        struct tr_log_line **lines,
                        size_t *n)
{
    return tr_log_block_select(buf, len, NULL, a, lines, NULL, n, NULL);
}
