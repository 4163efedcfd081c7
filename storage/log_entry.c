/* log_entry.c - logs write entries (format in storage/log_entry.h). */
#include "storage/log_entry.h"

#include <string.h>

#include "lib/err.h"
#include "storage/entry.h"

static void log_entry__put_bytes(struct tr_buf *b, struct tr_slice s)
{
    tr_buf_put_uvarint(b, s.len);
    tr_buf_append(b, s.base, s.len);
}

static int log_entry__encode_plain(const struct tr_entry_logs *e,
                                   struct tr_buf *out)
{
    tr_buf_putc(out, TR_ENTRY_LOGS);
    tr_buf_putc(out, TR_ENTRY_LOGS_VERSION);
    tr_buf_put_varint(out, e->ooo_window_ns);
    log_entry__put_bytes(out, e->tenant);
    size_t n = 0;
    for (size_t i = 0; i < e->n_streams; i++) {
        n += e->streams[i].n_lines > 0;
    }
    tr_buf_put_uvarint(out, n);
    for (size_t i = 0; i < e->n_streams; i++) {
        const struct tr_log_entry_stream *s = &e->streams[i];
        if (s->n_lines == 0) {
            continue;
        }
        log_entry__put_bytes(out, s->labels);
        tr_buf_put_uvarint(out, s->n_lines);
        int64_t prev = 0;
        for (size_t j = 0; j < s->n_lines; j++) {
            const struct tr_log_line *l = &s->lines[j];
            tr_buf_put_varint(out, (int64_t)((uint64_t)l->ts - (uint64_t)prev));
            prev = l->ts;
            log_entry__put_bytes(out, l->line);
            tr_buf_put_uvarint(out, l->n_meta);
            for (size_t k = 0; k < l->n_meta; k++) {
                log_entry__put_bytes(out, l->meta[k].name);
                log_entry__put_bytes(out, l->meta[k].value);
            }
        }
    }
    return out->oom ? TR_ENOMEM : 0;
}

/* An upper bound of the plain encoding's size (so it is built without
 * growing its buffer: the lines are most of it). */
static size_t log_entry__plain_bound(const struct tr_entry_logs *e)
{
    size_t n = 32 + e->tenant.len;
    for (size_t i = 0; i < e->n_streams; i++) {
        const struct tr_log_entry_stream *s = &e->streams[i];
        n += 20 + s->labels.len;
        for (size_t j = 0; j < s->n_lines; j++) {
            const struct tr_log_line *l = &s->lines[j];
            n += 30 + l->line.len;
            for (size_t k = 0; k < l->n_meta; k++) {
                n += 20 + l->meta[k].name.len + l->meta[k].value.len;
            }
        }
    }
    return n;
}

int tr_entry_logs_encode_both(const struct tr_entry_logs *e,
                              struct tr_buf *out,
                              struct tr_buf *plain_out)
{
    struct tr_buf plain;
    tr_buf_init(&plain);
    int rv = tr_buf_reserve_exact(&plain, log_entry__plain_bound(e));
    if (rv == 0) {
        rv = log_entry__encode_plain(e, &plain);
    }
    if (rv != 0) {
        tr_buf_free(&plain);
        return rv;
    }
    return tr_entry_pack_move(&plain, TR_ENTRY_LOGS_ZSTD, out, plain_out);
}

int tr_entry_logs_encode(const struct tr_entry_logs *e, struct tr_buf *out)
{
    return tr_entry_logs_encode_both(e, out, NULL);
}

static int log_entry__bytes(struct tr_cursor *c, struct tr_slice *s)
{
    uint64_t n;
    if (tr_cursor_uvarint(c, &n) != 0) {
        return TR_ECORRUPT;
    }
    return tr_cursor_bytes(c, n, s) == 0 ? 0 : TR_ECORRUPT;
}

/* A count that cannot exceed the bytes left (each item takes >= min). */
static int log_entry__count(struct tr_cursor *c, size_t min, uint64_t *n)
{
    if (tr_cursor_uvarint(c, n) != 0 || *n > tr_cursor_left(c) / min) {
        return TR_ECORRUPT;
    }
    return 0;
}

static int log_entry__line(struct tr_cursor *c,
                           struct tr_arena *a,
                           int64_t *prev,
                           struct tr_log_line *l)
{
    int64_t d;
    uint64_t m;
    if (tr_cursor_varint(c, &d) != 0 || log_entry__bytes(c, &l->line) != 0 ||
        log_entry__count(c, 2, &m) != 0) {
        return TR_ECORRUPT;
    }
    l->ts = (int64_t)((uint64_t)*prev + (uint64_t)d);
    *prev = l->ts;
    l->n_meta = m;
    l->meta = NULL;
    if (m == 0) {
        return 0;
    }
    struct tr_label *meta = tr_arena_alloc(a, m * sizeof(*meta));
    if (meta == NULL) {
        return TR_ENOMEM;
    }
    for (uint64_t k = 0; k < m; k++) {
        if (log_entry__bytes(c, &meta[k].name) != 0 ||
            log_entry__bytes(c, &meta[k].value) != 0) {
            return TR_ECORRUPT;
        }
    }
    l->meta = meta;
    return 0;
}

int tr_entry_logs_decode(const void *buf,
                         size_t len,
                         struct tr_arena *a,
                         struct tr_entry_logs *out)
{
    const uint8_t *b = buf;
    memset(out, 0, sizeof(*out));
    if (len >= 2 && b[0] == TR_ENTRY_LOGS && b[1] == TR_ENTRY_LOGS_ZSTD) {
        int rv = tr_entry_unpack(b, len, TR_ENTRY_LOGS_VERSION, a, &buf, &len);
        if (rv != 0) {
            return rv;
        }
    }
    struct tr_cursor c = tr_cursor_make(buf, len);
    uint8_t type, ver;
    uint64_t ns;
    if (tr_cursor_u8(&c, &type) != 0 || type != TR_ENTRY_LOGS ||
        tr_cursor_u8(&c, &ver) != 0 || ver != TR_ENTRY_LOGS_VERSION ||
        tr_cursor_varint(&c, &out->ooo_window_ns) != 0 ||
        out->ooo_window_ns < 0 || log_entry__bytes(&c, &out->tenant) != 0 ||
        log_entry__count(&c, 3, &ns) != 0) {
        return TR_ECORRUPT;
    }
    struct tr_log_entry_stream *streams =
        ns > 0 ? tr_arena_alloc(a, ns * sizeof(*streams)) : NULL;
    if (ns > 0 && streams == NULL) {
        return TR_ENOMEM;
    }
    for (uint64_t i = 0; i < ns; i++) {
        struct tr_log_entry_stream *s = &streams[i];
        uint64_t nl;
        if (log_entry__bytes(&c, &s->labels) != 0 || s->labels.len == 0 ||
            log_entry__count(&c, 3, &nl) != 0 || nl == 0) {
            return TR_ECORRUPT;
        }
        struct tr_log_line *lines = tr_arena_alloc(a, nl * sizeof(*lines));
        if (lines == NULL) {
            return TR_ENOMEM;
        }
        int64_t prev = 0;
        for (uint64_t j = 0; j < nl; j++) {
            int rv = log_entry__line(&c, a, &prev, &lines[j]);
            if (rv != 0) {
                return rv;
            }
        }
        s->lines = lines;
        s->n_lines = nl;
    }
    if (tr_cursor_left(&c) != 0) {
        return TR_ECORRUPT;
    }
    out->streams = streams;
    out->n_streams = ns;
    return 0;
}

void tr_entry_logs_cut_encode(uint8_t out[TR_ENTRY_LOGS_CUT_SIZE])
{
    out[0] = TR_ENTRY_LOGS;
    out[1] = TR_ENTRY_LOGS_CUT;
}

bool tr_entry_logs_is_cut(const void *buf, size_t len)
{
    const uint8_t *b = buf;
    return len == TR_ENTRY_LOGS_CUT_SIZE && b[0] == TR_ENTRY_LOGS &&
           b[1] == TR_ENTRY_LOGS_CUT;
}
