/* loki_push.c - Loki push request and label text decoding (loki_push.h).
 *
 * Each message is walked twice: once to count the repeated sub-messages it
 * holds (checking the framing), then, with the array allocated once from
 * the arena, to decode them. The nesting is fixed (request > stream >
 * entry > metadata pair), so there is no recursion. */
#include "proto/loki_push.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "proto/pbread.h"

static const char M_REQ[] = "logproto.PushRequest";
static const char M_STREAM[] = "logproto.StreamAdapter";
static const char M_ENTRY[] = "logproto.EntryAdapter";
static const char M_TS[] = "google.protobuf.Timestamp";
static const char M_PAIR[] = "logproto.LabelPairAdapter";

/* Counts the LEN records of field `want` in message c (every tag and length
 * checked; a wrong wire type for it is an error). */
static int count_field(const struct tr_pb_rd *rd,
                       struct tr_cursor c,
                       const char *msg,
                       uint32_t want,
                       size_t *n)
{
    *n = 0;
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        int rv = tr_pb_tag(rd, &c, msg, &field, &wt);
        if (rv == 0 && field == want) {
            rv = tr_pb_want(rd, at, msg, field, wt, WT_LEN);
            (*n)++;
        }
        if (rv == 0) {
            rv = tr_pb_skip(rd, &c, msg, field, wt);
        }
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* Reads a string field (LEN) into *out. */
static int str_field(const struct tr_pb_rd *rd,
                     struct tr_cursor *c,
                     const uint8_t *at,
                     const char *msg,
                     uint32_t field,
                     unsigned wt,
                     struct tr_slice *out)
{
    int rv = tr_pb_want(rd, at, msg, field, wt, WT_LEN);
    return rv != 0 ? rv : tr_pb_slice(rd, c, msg, field, out);
}

static int dec_pair(const struct tr_pb_rd *rd,
                    struct tr_cursor c,
                    struct tr_loki_label *out)
{
    memset(out, 0, sizeof(*out));
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        int rv = tr_pb_tag(rd, &c, M_PAIR, &field, &wt);
        if (rv == 0) {
            if (field == 1) {
                rv = str_field(rd, &c, at, M_PAIR, field, wt, &out->name);
            } else if (field == 2) {
                rv = str_field(rd, &c, at, M_PAIR, field, wt, &out->value);
            } else {
                rv = tr_pb_skip(rd, &c, M_PAIR, field, wt);
            }
        }
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* google.protobuf.Timestamp into nanoseconds (the zero message is 0). */
static int dec_ts(const struct tr_pb_rd *rd, struct tr_cursor c, int64_t *out)
{
    const uint8_t *start = c.p;
    uint64_t sec = 0, nanos = 0;
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        int rv = tr_pb_tag(rd, &c, M_TS, &field, &wt);
        if (rv == 0 && (field == 1 || field == 2)) {
            rv = tr_pb_want(rd, at, M_TS, field, wt, WT_VARINT);
            if (rv == 0) {
                rv = tr_pb_u64(rd, &c, M_TS, field, field == 1 ? &sec : &nanos);
            }
        } else if (rv == 0) {
            rv = tr_pb_skip(rd, &c, M_TS, field, wt);
        }
        if (rv != 0) {
            return rv;
        }
    }
    int64_t s = (int64_t)sec;
    /* int32 nanos arrive sign-extended to 64 bits */
    int64_t ns = (int64_t)nanos;
    if (ns < 0 || ns > 999999999) {
        return tr_pb_fail(rd, start, M_TS, "nanos %lld outside 0..999999999",
                          (long long)ns);
    }
    if (s > INT64_MAX / 1000000000 - 1 || s < INT64_MIN / 1000000000 + 1) {
        return tr_pb_fail(rd, start, M_TS,
                          "seconds %lld outside what nanoseconds hold",
                          (long long)s);
    }
    *out = s * 1000000000 + ns;
    return 0;
}

static int dec_entry(const struct tr_pb_rd *rd,
                     struct tr_cursor c,
                     struct tr_arena *a,
                     struct tr_loki_entry *out)
{
    memset(out, 0, sizeof(*out));
    size_t n_meta;
    int rv = count_field(rd, c, M_ENTRY, 3, &n_meta);
    struct tr_loki_label *meta = tr_pb_array(a, n_meta, sizeof(*meta), &rv);
    if (rv != 0) {
        return rv;
    }
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        struct tr_cursor sub;
        rv = tr_pb_tag(rd, &c, M_ENTRY, &field, &wt);
        if (rv == 0 && field == 1) {
            rv = tr_pb_want(rd, at, M_ENTRY, field, wt, WT_LEN);
            if (rv == 0) {
                rv = tr_pb_len(rd, &c, M_ENTRY, field, &sub);
            }
            if (rv == 0) {
                rv = dec_ts(rd, sub, &out->ts_ns);
            }
        } else if (rv == 0 && field == 2) {
            rv = str_field(rd, &c, at, M_ENTRY, field, wt, &out->line);
        } else if (rv == 0 && field == 3) {
            rv = tr_pb_len(rd, &c, M_ENTRY, field, &sub);
            if (rv == 0) {
                rv = dec_pair(rd, sub, &meta[out->n_meta++]);
            }
        } else if (rv == 0) {
            rv = tr_pb_skip(rd, &c, M_ENTRY, field, wt);
        }
        if (rv != 0) {
            return rv;
        }
    }
    out->meta = meta;
    return 0;
}

static int dec_stream(const struct tr_pb_rd *rd,
                      struct tr_cursor c,
                      struct tr_arena *a,
                      struct tr_loki_stream *out)
{
    memset(out, 0, sizeof(*out));
    size_t n;
    int rv = count_field(rd, c, M_STREAM, 2, &n);
    struct tr_loki_entry *entries = tr_pb_array(a, n, sizeof(*entries), &rv);
    if (rv != 0) {
        return rv;
    }
    size_t k = 0;
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        struct tr_cursor sub;
        rv = tr_pb_tag(rd, &c, M_STREAM, &field, &wt);
        if (rv == 0 && field == 1) {
            rv = str_field(rd, &c, at, M_STREAM, field, wt, &out->labels);
        } else if (rv == 0 && field == 2) {
            rv = tr_pb_len(rd, &c, M_STREAM, field, &sub);
            if (rv == 0) {
                rv = dec_entry(rd, sub, a, &entries[k++]);
            }
        } else if (rv == 0 && field == 3) {
            uint64_t hash;
            rv = tr_pb_want(rd, at, M_STREAM, field, wt, WT_VARINT);
            if (rv == 0) {
                rv = tr_pb_u64(rd, &c, M_STREAM, field, &hash);
            }
        } else if (rv == 0) {
            rv = tr_pb_skip(rd, &c, M_STREAM, field, wt);
        }
        if (rv != 0) {
            return rv;
        }
    }
    out->entries = entries;
    out->n_entries = k;
    return 0;
}

int tr_loki_push_decode(const void *buf,
                        size_t len,
                        struct tr_arena *a,
                        struct tr_loki_push *out,
                        char *errmsg)
{
    memset(out, 0, sizeof(*out));
    if (buf == NULL && len > 0) {
        return tr_errf(TR_EINVAL, errmsg, "loki push: NULL buffer");
    }
    struct tr_pb_rd rd = {buf, errmsg, "streams", SIZE_MAX};
    struct tr_cursor c = tr_cursor_make(buf, len);
    size_t n;
    int rv = count_field(&rd, c, M_REQ, 1, &n);
    struct tr_loki_stream *streams = tr_pb_array(a, n, sizeof(*streams), &rv);
    if (rv == TR_ENOMEM) {
        return tr_errf(rv, errmsg, "loki push: out of memory");
    }
    if (rv != 0) {
        return rv;
    }
    size_t k = 0;
    while (c.p < c.end) {
        uint32_t field;
        unsigned wt;
        struct tr_cursor sub;
        rv = tr_pb_tag(&rd, &c, M_REQ, &field, &wt);
        if (rv == 0 && field == 1) {
            rv = tr_pb_len(&rd, &c, M_REQ, field, &sub);
            if (rv == 0) {
                rd.item_idx = k;
                rv = dec_stream(&rd, sub, a, &streams[k]);
                rd.item_idx = SIZE_MAX;
                out->n_entries += streams[k].n_entries;
                k++;
            }
        } else if (rv == 0) {
            rv = tr_pb_skip(&rd, &c, M_REQ, field, wt);
        }
        if (rv == TR_ENOMEM) {
            return tr_errf(rv, errmsg, "loki push: out of memory");
        }
        if (rv != 0) {
            return rv;
        }
    }
    out->streams = streams;
    out->n_streams = k;
    return 0;
}

/* ---- label text form ------------------------------------------------------
 */

static void skip_ws(const char **p, const char *end)
{
    while (*p < end &&
           (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')) {
        (*p)++;
    }
}

static bool name_start(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static bool name_char(char ch)
{
    return name_start(ch) || (ch >= '0' && ch <= '9');
}

/* A double-quoted value at *p (the opening quote); *p ends after the
 * closing one. */
static int parse_value(const char **p,
                       const char *end,
                       struct tr_arena *a,
                       struct tr_slice *out)
{
    const char *q = *p + 1;
    bool escapes = false;
    while (q < end && *q != '"') {
        if (*q == '\\' && q + 1 < end) {
            escapes = true;
            q++;
        }
        q++;
    }
    if (q >= end) {
        return TR_EINVAL;
    }
    const char *v = *p + 1;
    size_t raw = (size_t)(q - v);
    *p = q + 1;
    if (!escapes) {
        *out = (struct tr_slice){v, raw};
        return 0;
    }
    char *d = tr_arena_alloc(a, raw ? raw : 1);
    if (d == NULL) {
        return TR_ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < raw; i++) {
        if (v[i] != '\\' || i + 1 >= raw) {
            d[n++] = v[i];
            continue;
        }
        char e = v[i + 1];
        char r = e == 'n'    ? '\n'
                 : e == 't'  ? '\t'
                 : e == 'r'  ? '\r'
                 : e == '"'  ? '"'
                 : e == '\\' ? '\\'
                             : 0;
        if (r != 0) {
            d[n++] = r;
            i++;
        } else {
            d[n++] = '\\'; /* not an escape: kept as written */
        }
    }
    *out = (struct tr_slice){d, n};
    return 0;
}

int tr_loki_labels_parse(struct tr_slice s,
                         struct tr_arena *a,
                         struct tr_loki_label *out,
                         size_t max,
                         size_t *n,
                         char *errmsg)
{
    *n = 0;
    if (s.len == 0) { /* also a stream without its labels field (NULL) */
        return tr_errf(TR_EINVAL, errmsg,
                       "error parsing labels: no labels for a stream");
    }
    const char *p = s.base, *end = s.base + s.len;
    skip_ws(&p, end);
    if (p >= end || *p != '{') {
        return tr_errf(TR_EINVAL, errmsg,
                       "error parsing labels %.*s: expected '{'",
                       (int)(s.len > 200 ? 200 : s.len), s.base);
    }
    p++;
    skip_ws(&p, end);
    while (p < end && *p != '}') {
        if (!name_start(*p)) {
            return tr_errf(TR_EINVAL, errmsg,
                           "error parsing labels %.*s: expected a label name "
                           "at offset %zu",
                           (int)(s.len > 200 ? 200 : s.len), s.base,
                           (size_t)(p - s.base));
        }
        const char *nm = p;
        while (p < end && name_char(*p)) {
            p++;
        }
        struct tr_slice name = {nm, (size_t)(p - nm)};
        skip_ws(&p, end);
        if (p >= end || *p != '=') {
            return tr_errf(TR_EINVAL, errmsg,
                           "error parsing labels %.*s: expected '=' after %.*s",
                           (int)(s.len > 200 ? 200 : s.len), s.base,
                           (int)name.len, name.base);
        }
        p++;
        skip_ws(&p, end);
        struct tr_slice value;
        int rv = (p < end && *p == '"') ? parse_value(&p, end, a, &value)
                                        : TR_EINVAL;
        if (rv == TR_ENOMEM) {
            return tr_errf(rv, errmsg, "out of memory");
        }
        if (rv != 0) {
            return tr_errf(TR_EINVAL, errmsg,
                           "error parsing labels %.*s: expected a quoted "
                           "value for %.*s",
                           (int)(s.len > 200 ? 200 : s.len), s.base,
                           (int)name.len, name.base);
        }
        for (size_t i = 0; i < *n; i++) {
            if (tr_slice_eq(out[i].name, name)) {
                return tr_errf(TR_EINVAL, errmsg,
                               "error parsing labels %.*s: duplicate label "
                               "name %.*s",
                               (int)(s.len > 200 ? 200 : s.len), s.base,
                               (int)name.len, name.base);
            }
        }
        if (*n == max) {
            return tr_errf(TR_EINVAL, errmsg,
                           "stream %.*s has more than %zu labels",
                           (int)(s.len > 200 ? 200 : s.len), s.base, max);
        }
        out[*n].name = name;
        out[*n].value = value;
        (*n)++;
        skip_ws(&p, end);
        if (p < end && *p == ',') {
            p++;
            skip_ws(&p, end);
        } else if (p < end && *p != '}') {
            return tr_errf(TR_EINVAL, errmsg,
                           "error parsing labels %.*s: expected ',' or '}' at "
                           "offset %zu",
                           (int)(s.len > 200 ? 200 : s.len), s.base,
                           (size_t)(p - s.base));
        }
    }
    if (p >= end) {
        return tr_errf(TR_EINVAL, errmsg,
                       "error parsing labels %.*s: expected '}'",
                       (int)(s.len > 200 ? 200 : s.len), s.base);
    }
    p++;
    skip_ws(&p, end);
    if (p != end) {
        return tr_errf(TR_EINVAL, errmsg,
                       "error parsing labels %.*s: unexpected text after '}'",
                       (int)(s.len > 200 ? 200 : s.len), s.base);
    }
    if (*n == 0) {
        return tr_errf(TR_EINVAL, errmsg,
                       "error at least one label pair is required per stream");
    }
    return 0;
}
