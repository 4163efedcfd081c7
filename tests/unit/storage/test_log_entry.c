/* Tests for storage/log_entry.c: round trips of small (version 1) and large
 * (zstd, version 2) entries with timestamps in any order and structured
 * metadata, and rejection of every truncation and of malformed entries. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "storage/entry.h"
#include "storage/log_entry.h"

static struct tr_slice sl(const char *s)
{
    return (struct tr_slice){s, strlen(s)};
}

static void check_equal(const struct tr_entry_logs *a,
                        const struct tr_entry_logs *b)
{
    cr_assert_eq(a->ooo_window_ns, b->ooo_window_ns);
    cr_assert_eq(a->tenant.len, b->tenant.len);
    cr_assert_eq(memcmp(a->tenant.base, b->tenant.base, a->tenant.len), 0);
    cr_assert_eq(a->n_streams, b->n_streams);
    for (size_t i = 0; i < a->n_streams; i++) {
        const struct tr_log_entry_stream *x = &a->streams[i];
        const struct tr_log_entry_stream *y = &b->streams[i];
        cr_assert_eq(x->labels.len, y->labels.len);
        cr_assert_eq(memcmp(x->labels.base, y->labels.base, x->labels.len), 0);
        cr_assert_eq(x->n_lines, y->n_lines);
        for (size_t j = 0; j < x->n_lines; j++) {
            const struct tr_log_line *p = &x->lines[j];
            const struct tr_log_line *q = &y->lines[j];
            cr_assert_eq(p->ts, q->ts, "stream %zu line %zu", i, j);
            cr_assert_eq(p->line.len, q->line.len);
            cr_assert_eq(memcmp(p->line.base, q->line.base, p->line.len), 0);
            cr_assert_eq(p->n_meta, q->n_meta);
            for (size_t k = 0; k < p->n_meta; k++) {
                cr_assert_eq(p->meta[k].name.len, q->meta[k].name.len);
                cr_assert_eq(p->meta[k].value.len, q->meta[k].value.len);
                cr_assert_eq(
                    memcmp(p->meta[k].value.base, q->meta[k].value.base,
                           p->meta[k].value.len),
                    0);
            }
        }
    }
}

Test(log_entry, small_roundtrip_keeps_order_and_metadata)
{
    struct tr_label meta[2] = {{sl("trace_id"), sl("abc")},
                               {sl("detected_level"), sl("info")}};
    struct tr_log_line lines[3] = {
        {1700000000123456789LL, sl("second"), meta, 2},
        {1700000000000000000LL, sl("first, pushed later"), NULL, 0},
        {INT64_MIN, sl(""), meta, 1},
    };
    struct tr_label lab[1] = {{sl("app"), sl("api")}};
    struct tr_buf enc;
    tr_buf_init(&enc);
    cr_assert_eq(tr_labels_encode(lab, 1, &enc), 0);
    struct tr_log_entry_stream st[2] = {
        {{enc.data, enc.len}, lines, 3},
        {{enc.data, enc.len}, lines, 0}, /* left out */
    };
    struct tr_entry_logs e = {sl("tenant-a"), st, 2, 3600LL * 1000000000};
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_entry_logs_encode(&e, &b), 0);
    cr_assert_eq((uint8_t)b.data[1], TR_ENTRY_LOGS_VERSION);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_entry_logs d;
    cr_assert_eq(tr_entry_logs_decode(b.data, b.len, &a, &d), 0);
    e.n_streams = 1;
    check_equal(&e, &d);
    /* every truncation fails, never crashes */
    for (size_t n = 0; n < b.len; n++) {
        cr_assert_eq(tr_entry_logs_decode(b.data, n, &a, &d), TR_ECORRUPT,
                     "prefix %zu", n);
    }
    /* trailing byte */
    tr_buf_putc(&b, 0);
    cr_assert_eq(tr_entry_logs_decode(b.data, b.len, &a, &d), TR_ECORRUPT);
    tr_arena_free(&a);
    tr_buf_free(&b);
    tr_buf_free(&enc);
}

Test(log_entry, large_entry_is_zstd_and_roundtrips)
{
    enum { N = 500 };
    static struct tr_log_line lines[N];
    static char text[N][64];
    for (int i = 0; i < N; i++) {
        snprintf(text[i], sizeof(text[i]), "GET /api/v1/items/%d 200 %dms", i,
                 i % 97);
        lines[i] = (struct tr_log_line){1700000000000000000LL + i * 1000LL,
                                        sl(text[i]), NULL, 0};
    }
    struct tr_log_entry_stream st = {sl("\x01\x03"
                                        "app\x03"
                                        "web"),
                                     lines, N};
    struct tr_entry_logs e = {sl("t"), &st, 1, 0};
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_entry_logs_encode(&e, &b), 0);
    cr_assert_eq((uint8_t)b.data[0], TR_ENTRY_LOGS);
    cr_assert_eq((uint8_t)b.data[1], TR_ENTRY_LOGS_ZSTD);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_entry_logs d;
    cr_assert_eq(tr_entry_logs_decode(b.data, b.len, &a, &d), 0);
    check_equal(&e, &d);
    /* encode_both: the same bytes, and the plain form they decompress to
     * (a leader's apply reads it without decompressing) */
    struct tr_buf b2, plain;
    tr_buf_init(&b2);
    tr_buf_init(&plain);
    cr_assert_eq(tr_entry_logs_encode_both(&e, &b2, &plain), 0);
    cr_assert_eq(b2.len, b.len);
    cr_assert_eq(memcmp(b2.data, b.data, b.len), 0);
    const void *unpacked;
    size_t ul;
    cr_assert_eq(tr_entry_unpack(b.data, b.len, TR_ENTRY_LOGS_VERSION, &a,
                                 &unpacked, &ul),
                 0);
    cr_assert_eq(plain.len, ul);
    cr_assert_eq(memcmp(plain.data, unpacked, ul), 0);
    cr_assert_eq(tr_entry_logs_decode(plain.data, plain.len, &a, &d), 0);
    check_equal(&e, &d);
    /* a small entry is not compressed: no plain form */
    struct tr_log_entry_stream one = {st.labels, lines, 1};
    struct tr_entry_logs small = {sl("t"), &one, 1, 0};
    tr_buf_reset(&b2);
    tr_buf_free(&plain);
    tr_buf_init(&plain);
    cr_assert_eq(tr_entry_logs_encode_both(&small, &b2, &plain), 0);
    cr_assert_eq((uint8_t)b2.data[1], TR_ENTRY_LOGS_VERSION);
    cr_assert_eq(plain.len, 0);
    tr_buf_free(&b2);
    tr_buf_free(&plain);
    b.data[b.len - 3] ^= 0x55; /* corrupt the frame */
    cr_assert_eq(tr_entry_logs_decode(b.data, b.len, &a, &d), TR_ECORRUPT);
    tr_arena_free(&a);
    tr_buf_free(&b);
}

Test(log_entry, malformed_entries_are_refused)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_entry_logs d;
    /* metrics type byte */
    cr_assert_eq(tr_entry_logs_decode("\x01\x03", 2, &a, &d), TR_ECORRUPT);
    /* unknown version */
    cr_assert_eq(tr_entry_logs_decode("\x02\x07\x00\x00\x00", 5, &a, &d),
                 TR_ECORRUPT);
    /* negative out-of-order window (zig-zag 1 = -1) */
    cr_assert_eq(tr_entry_logs_decode("\x02\x01\x01\x00\x00", 5, &a, &d),
                 TR_ECORRUPT);
    /* a stream with empty labels */
    cr_assert_eq(tr_entry_logs_decode(
                     "\x02\x01\x00\x00\x01\x00\x01\x00\x00\x00", 10, &a, &d),
                 TR_ECORRUPT);
    /* a stream with zero lines */
    cr_assert_eq(
        tr_entry_logs_decode("\x02\x01\x00\x00\x01\x01\x00\x00", 8, &a, &d),
        TR_ECORRUPT);
    /* huge counts do not allocate */
    cr_assert_eq(
        tr_entry_logs_decode("\x02\x01\x00\x00\xff\xff\xff\xff\x0f", 9, &a, &d),
        TR_ECORRUPT);
    /* empty entry: no streams */
    cr_assert_eq(tr_entry_logs_decode("\x02\x01\x00\x00\x00", 5, &a, &d), 0);
    cr_assert_eq(d.n_streams, 0);
    tr_arena_free(&a);
}
