/* fuzz_trace_store.c - libFuzzer driver for the trace store's decoders
 * (storage/trace_entry.c, storage/trace_block.c): traces write entries
 * arrive in Raft entries and shard copies, span batches in fragments and
 * in other nodes' read answers, blocks and index records in RocksDB and
 * shard copies.
 *
 * The input is decoded as a traces write entry, as a bare span batch, as
 * the raw content of a block (compressed here with zstd so the column
 * parser is reached) and as a block index record. Whatever decodes is
 * encoded again and decoded again to the same bytes (entries and
 * batches); a decoded block's spans are rebuilt into a block whose decode
 * holds the same spans; an index record decodes only at its size.
 * Seeds: fuzz/corpus/fuzz_trace_store/ (entries of the stock exporters'
 * spans, a batch, raw block contents). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/compress.h"
#include "lib/err.h"
#include "storage/trace_block.h"
#include "storage/trace_entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond) {
        abort();
    }
}

/* Encodes b, decodes it, encodes again: the two encodings are equal. */
static void round_trip(const struct tr_span_batch *b, struct tr_arena *a)
{
    struct tr_buf e1, e2;
    tr_buf_init(&e1);
    tr_buf_init(&e2);
    int rv = tr_span_batch_encode(b, &e1);
    if (rv == 0) {
        struct tr_cursor c = tr_cursor_make(e1.data, e1.len);
        struct tr_span_batch d;
        check(tr_span_batch_decode(&c, a, &d) == 0);
        check(tr_cursor_left(&c) == 0);
        check(d.n_spans == b->n_spans);
        check(tr_span_batch_encode(&d, &e2) == 0);
        check(e1.len == e2.len && memcmp(e1.data, e2.data, e1.len) == 0);
    }
    tr_buf_free(&e1);
    tr_buf_free(&e2);
}

/* A decoded block's spans, built into a block again, decode alike. */
static void rebuild(const struct tr_trace_block *blk, struct tr_arena *a)
{
    size_t n = blk->batch.n_spans;
    struct tr_trace_block_in *in = tr_malloc((n + 1) * sizeof(*in));
    check(in != NULL);
    for (size_t i = 0; i < n; i++) {
        in[i] = (struct tr_trace_block_in){0, &blk->batch.spans[i]};
    }
    struct tr_buf block, index, recs;
    tr_buf_init(&block);
    tr_buf_init(&index);
    tr_buf_init(&recs);
    /* only blocks whose traces are distinct and spans in block order can
     * be rebuilt as they are; others are checked for decoding only */
    int ordered = 1;
    for (size_t t = 1; t < blk->n_traces; t++) {
        if (memcmp(blk->ids + (t - 1) * 16, blk->ids + t * 16, 16) >= 0) {
            ordered = 0;
        }
    }
    struct tr_buf values, keys;
    tr_buf_init(&values);
    tr_buf_init(&keys);
    if (ordered && n > 0 &&
        tr_trace_block_build(&blk->batch, 1, in, n, &block, &index, &recs,
                             &values, &keys) == 0) {
        struct tr_trace_block d;
        check(tr_trace_block_decode(block.data, block.len, a, &d) == 0);
        check(d.batch.n_spans == n);
        check(d.n_traces == blk->n_traces);
        struct tr_trace_block_index bi;
        check(tr_trace_block_index_decode(
                  (struct tr_slice){index.data, index.len}, &bi) == 0);
        check(bi.spans == n);
    }
    tr_buf_free(&block);
    tr_buf_free(&index);
    tr_buf_free(&recs);
    tr_buf_free(&values);
    tr_buf_free(&keys);
    tr_free(in);
}

static void index_record(struct tr_slice rec)
{
    struct tr_trace_block_index bi;
    if (tr_trace_block_index_decode(rec, &bi) == 0) {
        check(rec.len >= 19);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    struct tr_entry_traces e;
    if (tr_entry_traces_decode(data, size, &a, &e) == 0) {
        check(e.batch.n_spans > 0);
        round_trip(&e.batch, &a);
    }
    struct tr_cursor c = tr_cursor_make(data, size);
    struct tr_span_batch b;
    if (tr_span_batch_decode(&c, &a, &b) == 0) {
        round_trip(&b, &a);
    }
    struct tr_buf z;
    tr_buf_init(&z);
    if (size > 0 && tr_zstd_encode(data, size, 1, &z) == 0) {
        struct tr_trace_block blk;
        if (tr_trace_block_decode(z.data, z.len, &a, &blk) == 0) {
            check(blk.first[blk.n_traces] == blk.batch.n_spans);
            rebuild(&blk, &a);
        }
    }
    tr_buf_free(&z);
    index_record((struct tr_slice){(const char *)data, size});
    tr_arena_free(&a);
    return 0;
}
