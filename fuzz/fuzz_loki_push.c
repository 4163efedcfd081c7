/* fuzz_loki_push.c - libFuzzer driver for the Loki push decoders
 * (protobuf and JSON) and the stream label text form (proto/loki_push.c).
 *
 * The input is decoded as a PushRequest (an uncompressed protobuf body):
 * every slice must lie inside the input, the entry counts must add up, and
 * every stream's label text is parsed. The input is also parsed as label
 * text itself. Whatever parses is written back in the canonical form
 * ({name="value", ...} with \\ \" \n escaped) and must parse again to the
 * same labels. The input is finally decoded as a JSON push: counts add up,
 * a failure leaves nothing behind. Seeds: fuzz/corpus/fuzz_loki_push/ (a
 * snappy-decoded winston-loki push, JSON pushes of winston-loki and
 * pino-loki, a request with structured metadata, label texts). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "proto/loki_push.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LABELS 64

static void check(int cond)
{
    if (!cond) {
        abort();
    }
}

static void inside(struct tr_slice s, const uint8_t *data, size_t size)
{
    if (s.len == 0) {
        return;
    }
    const uint8_t *p = (const uint8_t *)s.base;
    check(p >= data && p + s.len <= data + size);
}

static void put_value(struct tr_buf *b, struct tr_slice v)
{
    tr_buf_putc(b, '"');
    for (size_t i = 0; i < v.len; i++) {
        char ch = v.base[i];
        if (ch == '\\' || ch == '"') {
            tr_buf_putc(b, '\\');
            tr_buf_putc(b, ch);
        } else if (ch == '\n') {
            tr_buf_puts(b, "\\n");
        } else {
            tr_buf_putc(b, ch);
        }
    }
    tr_buf_putc(b, '"');
}

static void round_trip(struct tr_slice text, struct tr_arena *a)
{
    struct tr_loki_label ls[MAX_LABELS], again[MAX_LABELS];
    size_t n, m;
    char err[TR_ERRMSG_SIZE];
    int rv = tr_loki_labels_parse(text, a, ls, MAX_LABELS, &n, err);
    check(rv == 0 || rv == TR_EINVAL || rv == TR_ENOMEM);
    if (rv != 0) {
        return;
    }
    check(n >= 1 && n <= MAX_LABELS);
    struct tr_buf b;
    tr_buf_init(&b);
    tr_buf_putc(&b, '{');
    for (size_t i = 0; i < n; i++) {
        check(ls[i].name.len > 0);
        for (size_t j = 0; j < i; j++) {
            check(!tr_slice_eq(ls[i].name, ls[j].name));
        }
        if (i > 0) {
            tr_buf_puts(&b, ", ");
        }
        tr_buf_append(&b, ls[i].name.base, ls[i].name.len);
        tr_buf_putc(&b, '=');
        put_value(&b, ls[i].value);
    }
    tr_buf_putc(&b, '}');
    if (!b.oom) {
        struct tr_slice canon = {b.data, b.len};
        check(tr_loki_labels_parse(canon, a, again, MAX_LABELS, &m, err) == 0);
        check(m == n);
        for (size_t i = 0; i < n; i++) {
            check(tr_slice_eq(again[i].name, ls[i].name));
            check(tr_slice_eq(again[i].value, ls[i].value));
        }
    }
    tr_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_loki_push p;
    char err[TR_ERRMSG_SIZE];
    int rv = tr_loki_push_decode(data, size, &a, &p, err);
    check(rv == 0 || rv == TR_EPROTO || rv == TR_ENOMEM);
    if (rv == 0) {
        size_t total = 0;
        for (size_t s = 0; s < p.n_streams; s++) {
            const struct tr_loki_stream *st = &p.streams[s];
            inside(st->labels, data, size);
            for (size_t e = 0; e < st->n_entries; e++) {
                const struct tr_loki_entry *en = &st->entries[e];
                inside(en->line, data, size);
                for (size_t k = 0; k < en->n_meta; k++) {
                    inside(en->meta[k].name, data, size);
                    inside(en->meta[k].value, data, size);
                }
            }
            total += st->n_entries;
            round_trip(st->labels, &a);
        }
        check(total == p.n_entries);
    } else if (rv == TR_EPROTO) {
        check(strstr(err, "offset") != NULL);
    }
    round_trip((struct tr_slice){(const char *)data, size}, &a);
    /* the same bytes as a JSON push body */
    rv = tr_loki_push_decode_json(data, size, &a, &p, err);
    check(rv == 0 || rv == TR_EINVAL || rv == TR_ENOMEM);
    if (rv == 0) {
        size_t total = 0;
        for (size_t s = 0; s < p.n_streams; s++) {
            const struct tr_loki_stream *st = &p.streams[s];
            check(st->labels.len == 0);
            for (size_t e = 0; e < st->n_entries; e++) {
                /* decoded strings are never longer than the body */
                check(st->entries[e].line.len <= size);
            }
            total += st->n_entries;
        }
        check(total == p.n_entries);
    } else {
        check(p.n_streams == 0);
    }
    tr_arena_free(&a);
    return 0;
}
