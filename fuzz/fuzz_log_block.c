/* fuzz_log_block.c - libFuzzer driver for the log block decoder and the
 * block index parser (storage/log_block.c, storage/log_index.c): blocks
 * are read from RocksDB and arrive over the network in shard copies.
 *
 * The input is decoded as a block: whatever decodes has as many entries as
 * its header says, sorted by time inside [min ts, max ts], with line and
 * metadata bytes that can be read; encoding those entries again (same
 * compression) and decoding the result gives the same entries; a
 * filtered select (tr_log_block_select, a needle cut from a line) keeps
 * exactly the decoded entries that pass the filter. The input
 * is also parsed as an index record and, when it parses, probed with
 * needles and metadata cut from the input itself. Seeds:
 * fuzz/corpus/fuzz_log_block/ (blocks with and without zstd, with
 * metadata, with lines holding newlines, with time references in both line
 * layouts: block_time_refs*, an index record). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "storage/log_block.h"
#include "storage/log_index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond) {
        abort();
    }
}

static uint64_t touch(struct tr_slice s)
{
    uint64_t h = 0;
    for (size_t i = 0; i < s.len; i++) {
        h = h * 31 + (uint8_t)s.base[i];
    }
    return h;
}

static int same_line(const struct tr_log_line *a, const struct tr_log_line *b)
{
    if (a->ts != b->ts || a->n_meta != b->n_meta ||
        !tr_slice_eq(a->line, b->line)) {
        return 0;
    }
    for (size_t i = 0; i < a->n_meta; i++) {
        if (!tr_slice_eq(a->meta[i].name, b->meta[i].name) ||
            !tr_slice_eq(a->meta[i].value, b->meta[i].value)) {
            return 0;
        }
    }
    return 1;
}

static void fuzz_block(const uint8_t *data, size_t size)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_log_line *lines;
    size_t n;
    struct tr_log_block_info bi;
    int rv = tr_log_block_decode(data, size, &a, &lines, &n);
    check(rv == 0 || rv == TR_ECORRUPT || rv == TR_ENOMEM);
    if (rv != 0) {
        tr_arena_free(&a);
        return;
    }
    check(tr_log_block_info(data, size, &bi) == 0);
    check(n == bi.count && n > 0);
    volatile uint64_t sink = 0;
    uint64_t raw = 0;
    for (size_t i = 0; i < n; i++) {
        check(lines[i].ts >= bi.mint && lines[i].ts <= bi.maxt);
        check(i == 0 || lines[i - 1].ts <= lines[i].ts);
        sink += touch(lines[i].line);
        raw += lines[i].line.len;
        for (size_t j = 0; j < lines[i].n_meta; j++) {
            sink += touch(lines[i].meta[j].name);
            sink += touch(lines[i].meta[j].value);
        }
    }
    check(lines[0].ts == bi.mint && lines[n - 1].ts == bi.maxt);
    check(raw == bi.raw_bytes);
    (void)sink;
    struct tr_buf again;
    tr_buf_init(&again);
    rv = tr_log_block_encode(lines, n, bi.compression, &again);
    check(rv == 0 || rv == TR_ENOMEM);
    if (rv == 0) {
        struct tr_log_line *l2;
        size_t n2;
        check(tr_log_block_decode(again.data, again.len, &a, &l2, &n2) == 0);
        check(n2 == n);
        for (size_t i = 0; i < n; i++) {
            check(same_line(&lines[i], &l2[i]));
        }
    }
    tr_buf_free(&again);
    /* a filtered select keeps exactly the decoded lines in its range that
     * hold its needles (cut from a line, so some lines match) */
    const struct tr_log_line *pick = &lines[n / 2];
    struct tr_slice nd = {pick->line.base + pick->line.len / 3,
                          pick->line.len / 2};
    struct tr_log_block_filter f = {
        .start = lines[n / 3].ts,
        .end = bi.maxt,
        .needles = &nd,
        .n_needles = 1,
    };
    struct tr_log_line *kept;
    uint32_t *pos;
    size_t nk, in_range;
    rv = tr_log_block_select(data, size, &f, &a, &kept, &pos, &nk, &in_range);
    check(rv == 0 || rv == TR_ENOMEM);
    if (rv == 0) {
        size_t want = 0, ranged = 0;
        for (size_t i = 0; i < n; i++) {
            if (lines[i].ts < f.start || lines[i].ts >= f.end) {
                continue;
            }
            ranged++;
            if (nd.len > 0 && memmem(lines[i].line.base, lines[i].line.len,
                                     nd.base, nd.len) == NULL) {
                continue;
            }
            check(want < nk && pos[want] == i &&
                  same_line(&kept[want], &lines[i]));
            want++;
        }
        check(want == nk && ranged == in_range);
    }
    tr_arena_free(&a);
}

static void fuzz_index(const uint8_t *data, size_t size)
{
    struct tr_log_index ix;
    if (tr_log_index_parse(data, size, &ix) != 0) {
        return;
    }
    check(ix.mint <= ix.maxt);
    struct tr_slice needles[2] = {
        {(const char *)data, size < 40 ? size : 40},
        {(const char *)data + size / 2, size - size / 2},
    };
    struct tr_label meta = {{(const char *)data, size / 3},
                            {(const char *)data + size / 3, size / 3}};
    (void)tr_log_index_may_match(&ix, needles, 2, &meta, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_block(data, size);
    fuzz_index(data, size);
    return 0;
}
