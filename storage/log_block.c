/* log_block.c - encoding and checked decoding of log blocks (format in
 * storage/log_block.h). */
#include "storage/log_block.h"

#include <stdbool.h>
#include <string.h>
#include <zstd.h>

#include "lib/err.h"
#include "lib/hash.h"

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

static int blk__payload(const struct tr_log_line *lines,
                        size_t n,
                        bool newlines,
                        struct tr_buf *p)
{
    struct blk_dict d = {0};
    struct tr_buf refs;
    tr_buf_init(&refs);
    int rv = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t delta = (uint64_t)lines[i].ts -
                         (uint64_t)(i == 0 ? lines[0].ts : lines[i - 1].ts);
        tr_buf_put_uvarint(p, delta);
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
    for (size_t i = 0; i < n; i++) {
        tr_buf_append(p, lines[i].line.base, lines[i].line.len);
        if (newlines) {
            tr_buf_putc(p, '\n');
        }
    }
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
    int rv = blk__payload(lines, n, newlines, &p);
    if (rv == 0 && p.len > TR_LOG_BLOCK_MAX_PAYLOAD) {
        rv = TR_EINVAL;
    }
    if (rv != 0) {
        tr_buf_free(&p);
        return rv;
    }
    uint8_t h[TR_LOG_BLOCK_HEADER];
    h[0] = TR_LOG_BLOCK_VERSION;
    h[1] = compression;
    h[2] = newlines ? TR_LOG_BLOCK_NEWLINES : 0;
    tr_put_u64be(h + 3, (uint64_t)lines[0].ts);
    tr_put_u64be(h + 11, (uint64_t)lines[n - 1].ts);
    tr_put_u32be(h + 19, (uint32_t)n);
    tr_put_u64be(h + 23, raw);
    tr_put_u32be(h + 31, (uint32_t)p.len);
    tr_buf_append(out, h, sizeof(h));
    if (compression == TR_LOG_BLOCK_NONE) {
        tr_buf_append(out, p.data, p.len);
    } else {
        size_t bound = ZSTD_compressBound(p.len);
        if (tr_buf_reserve(out, bound) != 0) {
            rv = TR_ENOMEM;
        } else {
            size_t z = ZSTD_compress(out->data + out->len, bound, p.data, p.len,
                                     TR_LOG_BLOCK_ZSTD_LEVEL);
            if (ZSTD_isError(z)) {
                rv = TR_ENOMEM;
            } else {
                out->len += z;
            }
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
        b[1] > TR_LOG_BLOCK_ZSTD || (b[2] & ~TR_LOG_BLOCK_NEWLINES) != 0) {
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
        out->raw_bytes > out->payload_len ||
        (out->compression == TR_LOG_BLOCK_NONE &&
         len - TR_LOG_BLOCK_HEADER != out->payload_len)) {
        return TR_ECORRUPT;
    }
    return 0;
}

/* Reads n uvarints into v, each at most max. */
static int blk__uvarints(struct tr_cursor *c,
                         uint64_t *v,
                         size_t n,
                         uint64_t max)
{
    for (size_t i = 0; i < n; i++) {
        if (tr_cursor_uvarint(c, &v[i]) != 0 || v[i] > max) {
            return TR_ECORRUPT;
        }
    }
    return 0;
}

/* Newline-terminated lines: their lengths from the separators; exactly
 * raw bytes + n must be left, every line ending in '\n'. */
static int blk__split_lines(const struct tr_cursor *c,
                            const struct tr_log_block_info *bi,
                            uint64_t *lens,
                            size_t n)
{
    if (tr_cursor_left(c) != bi->raw_bytes + n) {
        return TR_ECORRUPT;
    }
    const char *p = (const char *)c->p, *end = p + tr_cursor_left(c);
    for (size_t i = 0; i < n; i++) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (e == NULL) {
            return TR_ECORRUPT;
        }
        lens[i] = (uint64_t)(e - p);
        p = e + 1;
    }
    return p == end ? 0 : TR_ECORRUPT;
}

static int blk__decode_payload(const struct tr_log_block_info *bi,
                               const uint8_t *p,
                               struct tr_arena *a,
                               struct tr_log_line **lines_out)
{
    size_t n = bi->count;
    /* every entry takes at least 3 payload bytes: bounds n before any
     * allocation sized by it */
    if (n > bi->payload_len / 3) {
        return TR_ECORRUPT;
    }
    struct tr_cursor c = tr_cursor_make(p, bi->payload_len);
    uint64_t *cols = tr_malloc(3 * n * sizeof(*cols));
    struct tr_log_line *lines = tr_arena_alloc(a, n * sizeof(*lines));
    struct tr_slice *dict = NULL;
    int rv = cols == NULL || lines == NULL ? TR_ENOMEM : 0;
    uint64_t *dts = cols, *lens = cols + n, *nmeta = cols + 2 * n;
    bool newlines = bi->flags & TR_LOG_BLOCK_NEWLINES;
    if (rv == 0) {
        rv = blk__uvarints(&c, dts, n, UINT64_MAX);
    }
    if (rv == 0 && !newlines) {
        rv = blk__uvarints(&c, lens, n, bi->raw_bytes);
    }
    if (rv == 0) {
        rv = blk__uvarints(&c, nmeta, n, bi->payload_len);
    }
    uint64_t nd = 0, total_meta = 0, total_len = 0;
    if (rv == 0 &&
        (tr_cursor_uvarint(&c, &nd) != 0 || nd > tr_cursor_left(&c))) {
        rv = TR_ECORRUPT;
    }
    if (rv == 0 && nd > 0) {
        dict = tr_malloc(nd * sizeof(*dict));
        rv = dict == NULL ? TR_ENOMEM : 0;
    }
    for (uint64_t i = 0; rv == 0 && i < nd; i++) {
        uint64_t l;
        struct tr_slice s;
        if (tr_cursor_uvarint(&c, &l) != 0 || tr_cursor_bytes(&c, l, &s) != 0) {
            rv = TR_ECORRUPT;
            break;
        }
        dict[i] = s;
    }
    for (size_t i = 0; rv == 0 && i < n; i++) {
        total_meta += nmeta[i];
        if (total_meta > tr_cursor_left(&c) / 2) {
            rv = TR_ECORRUPT;
        }
    }
    struct tr_label *meta = NULL;
    if (rv == 0 && total_meta > 0) {
        meta = tr_arena_alloc(a, total_meta * sizeof(*meta));
        rv = meta == NULL ? TR_ENOMEM : 0;
    }
    for (uint64_t i = 0; rv == 0 && i < total_meta; i++) {
        uint64_t ni, vi;
        if (tr_cursor_uvarint(&c, &ni) != 0 ||
            tr_cursor_uvarint(&c, &vi) != 0 || ni >= nd || vi >= nd) {
            rv = TR_ECORRUPT;
            break;
        }
        meta[i].name = dict[ni];
        meta[i].value = dict[vi];
    }
    if (rv == 0 && newlines) {
        rv = blk__split_lines(&c, bi, lens, n);
    }
    for (size_t i = 0; rv == 0 && i < n && !newlines; i++) {
        total_len += lens[i];
        if (total_len > bi->raw_bytes) {
            rv = TR_ECORRUPT;
        }
    }
    if (rv == 0 && !newlines &&
        (total_len != bi->raw_bytes || tr_cursor_left(&c) != bi->raw_bytes)) {
        rv = TR_ECORRUPT;
    }
    int64_t ts = bi->mint;
    size_t mo = 0;
    struct tr_slice nl;
    for (size_t i = 0; rv == 0 && i < n; i++) {
        uint64_t nt = (uint64_t)ts + dts[i];
        if (dts[i] > (uint64_t)bi->maxt - (uint64_t)ts || (i == 0 && dts[i])) {
            rv = TR_ECORRUPT; /* past max ts, or the first is not min ts */
            break;
        }
        ts = (int64_t)nt;
        lines[i].ts = ts;
        if (tr_cursor_bytes(&c, lens[i], &lines[i].line) != 0 ||
            (newlines && tr_cursor_bytes(&c, 1, &nl) != 0)) {
            rv = TR_ECORRUPT;
            break;
        }
        lines[i].meta = nmeta[i] ? meta + mo : NULL;
        lines[i].n_meta = nmeta[i];
        mo += nmeta[i];
    }
    if (rv == 0 && ts != bi->maxt) {
        rv = TR_ECORRUPT;
    }
    tr_free(cols);
    tr_free(dict);
    if (rv == 0) {
        *lines_out = lines;
    }
    return rv;
}

int tr_log_block_decode(const void *buf,
                        size_t len,
                        struct tr_arena *a,
                        struct tr_log_line **lines,
                        size_t *n)
{
    struct tr_log_block_info bi;
    if (tr_log_block_info(buf, len, &bi) != 0) {
        return TR_ECORRUPT;
    }
    const uint8_t *p = (const uint8_t *)buf + TR_LOG_BLOCK_HEADER;
    if (bi.compression == TR_LOG_BLOCK_ZSTD) {
        size_t zl = len - TR_LOG_BLOCK_HEADER;
        unsigned long long fs = ZSTD_getFrameContentSize(p, zl);
        if (fs != bi.payload_len) {
            return TR_ECORRUPT;
        }
        uint8_t *plain = tr_arena_alloc(a, bi.payload_len ? bi.payload_len : 1);
        if (plain == NULL) {
            return TR_ENOMEM;
        }
        size_t got = ZSTD_decompress(plain, bi.payload_len, p, zl);
        if (ZSTD_isError(got) || got != bi.payload_len) {
            return TR_ECORRUPT;
        }
        p = plain;
    }
    int rv = blk__decode_payload(&bi, p, a, lines);
    if (rv == 0) {
        *n = bi.count;
    }
    return rv;
}
