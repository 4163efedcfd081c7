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

#include "lib/clock.h"
#include "lib/err.h"
#include "lib/jsonparse.h"
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

/* ---- JSON push ------------------------------------------------------------
 */

/* A JSON object of string values into an arena array of labels. */
static int json_pairs(const struct tr_sjson *d,
                      long obj,
                      struct tr_arena *a,
                      const char *what,
                      size_t stream,
                      const struct tr_loki_label **out,
                      size_t *n,
                      char *errmsg)
{
    *out = NULL;
    *n = 0;
    const struct tr_sjson_tok *t = &d->toks[obj];
    if (t->type != TR_SJSON_OBJECT) {
        return tr_errf(TR_EINVAL, errmsg, "streams[%zu]: %s is not an object",
                       stream, what);
    }
    int rv = 0;
    struct tr_loki_label *ls = tr_pb_array(a, t->n, sizeof(*ls), &rv);
    if (rv != 0) {
        return tr_errf(rv, errmsg, "out of memory");
    }
    long k = obj + 1;
    for (uint32_t i = 0; i < t->n; i++) {
        long v = k + 1;
        if (tr_sjson_string(d, k, a, &ls[i].name) != 0 ||
            tr_sjson_string(d, v, a, &ls[i].value) != 0) {
            return tr_errf(TR_EINVAL, errmsg,
                           "streams[%zu]: %s: every value must be a string",
                           stream, what);
        }
        k = (long)d->toks[v].next;
    }
    *out = ls;
    *n = t->n;
    return 0;
}

/* "<digits>" or a JSON integer: nanoseconds since the epoch. */
static int json_ts(const struct tr_sjson *d, long idx, int64_t *out)
{
    const struct tr_sjson_tok *t = &d->toks[idx];
    if (t->type != TR_SJSON_STRING && t->type != TR_SJSON_NUMBER) {
        return TR_EINVAL;
    }
    const char *s = d->text + t->start;
    size_t n = t->len, i = 0;
    bool neg = n > 0 && s[0] == '-';
    i = neg ? 1 : 0;
    if (i == n) {
        return TR_EINVAL;
    }
    int64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return TR_EINVAL;
        }
        int dgt = s[i] - '0';
        if (v > (INT64_MAX - dgt) / 10) {
            return TR_EINVAL;
        }
        v = v * 10 + dgt;
    }
    *out = neg ? -v : v;
    return 0;
}

/* The legacy form of /api/prom/push (Loki 1.x):
 *   {"labels": "{a=\"b\"}", "entries": [{"ts": "<RFC 3339>", "line": ".."}]}
 * The labels stay in their text form (out->labels). */
static int json_legacy_stream(const struct tr_sjson *d,
                              long st,
                              size_t si,
                              struct tr_arena *a,
                              struct tr_loki_stream *out,
                              char *errmsg)
{
    long labels = tr_sjson_get(d, st, "labels");
    long entries = tr_sjson_get(d, st, "entries");
    if (tr_sjson_string(d, labels, a, &out->labels) != 0) {
        return tr_errf(TR_EINVAL, errmsg,
                       "streams[%zu]: \"labels\" must be a string", si);
    }
    if (entries < 0) {
        return 0;
    }
    const struct tr_sjson_tok *et = &d->toks[entries];
    if (et->type != TR_SJSON_ARRAY) {
        return tr_errf(TR_EINVAL, errmsg,
                       "streams[%zu]: \"entries\" is not an array", si);
    }
    int rv = 0;
    struct tr_loki_entry *es = tr_pb_array(a, et->n, sizeof(*es), &rv);
    if (rv != 0) {
        return tr_errf(rv, errmsg, "out of memory");
    }
    for (size_t i = 0; i < et->n; i++) {
        long e = tr_sjson_at(d, entries, i);
        memset(&es[i], 0, sizeof(es[i]));
        long ts =
            d->toks[e].type == TR_SJSON_OBJECT ? tr_sjson_get(d, e, "ts") : -1;
        long line = ts >= 0 ? tr_sjson_get(d, e, "line") : -1;
        struct tr_slice tss;
        if (ts < 0 || tr_sjson_string(d, ts, a, &tss) != 0 ||
            tr_rfc3339_parse_ns(tss.base, tss.len, &es[i].ts_ns) != 0) {
            return tr_errf(TR_EINVAL, errmsg,
                           "streams[%zu].entries[%zu]: expected {\"ts\": "
                           "\"<RFC 3339 time>\", \"line\": \"...\"}",
                           si, i);
        }
        if (line < 0 || tr_sjson_string(d, line, a, &es[i].line) != 0) {
            return tr_errf(TR_EINVAL, errmsg,
                           "streams[%zu].entries[%zu]: the line must be a "
                           "string",
                           si, i);
        }
    }
    out->entries = es;
    out->n_entries = et->n;
    return 0;
}

static int json_stream(const struct tr_sjson *d,
                       long st,
                       size_t si,
                       struct tr_arena *a,
                       struct tr_loki_stream *out,
                       char *errmsg)
{
    memset(out, 0, sizeof(*out));
    if (d->toks[st].type != TR_SJSON_OBJECT) {
        return tr_errf(TR_EINVAL, errmsg, "streams[%zu] is not an object", si);
    }
    long labels = tr_sjson_get(d, st, "stream");
    long values = tr_sjson_get(d, st, "values");
    if (labels < 0 && tr_sjson_get(d, st, "labels") >= 0) {
        return json_legacy_stream(d, st, si, a, out, errmsg);
    }
    if (labels < 0) {
        return tr_errf(TR_EINVAL, errmsg, "streams[%zu] has no \"stream\"", si);
    }
    int rv = json_pairs(d, labels, a, "\"stream\"", si, &out->label_set,
                        &out->n_labels, errmsg);
    if (rv != 0) {
        return rv;
    }
    if (values < 0) {
        return 0; /* a stream without values pushes nothing */
    }
    const struct tr_sjson_tok *vt = &d->toks[values];
    if (vt->type != TR_SJSON_ARRAY) {
        return tr_errf(TR_EINVAL, errmsg,
                       "streams[%zu]: \"values\" is not an array", si);
    }
    struct tr_loki_entry *es = tr_pb_array(a, vt->n, sizeof(*es), &rv);
    if (rv != 0) {
        return tr_errf(rv, errmsg, "out of memory");
    }
    for (size_t i = 0; i < vt->n; i++) {
        long e = tr_sjson_at(d, values, i);
        const struct tr_sjson_tok *et = &d->toks[e];
        if (et->type != TR_SJSON_ARRAY || et->n < 2 || et->n > 3) {
            return tr_errf(
                TR_EINVAL, errmsg,
                "streams[%zu].values[%zu]: expected [\"<ts>\", "
                "\"<line>\"] or [\"<ts>\", \"<line>\", {<metadata>}]",
                si, i);
        }
        memset(&es[i], 0, sizeof(es[i]));
        if (json_ts(d, tr_sjson_at(d, e, 0), &es[i].ts_ns) != 0) {
            return tr_errf(TR_EINVAL, errmsg,
                           "streams[%zu].values[%zu]: the timestamp must be "
                           "nanoseconds since the epoch as a string of digits",
                           si, i);
        }
        if (tr_sjson_string(d, tr_sjson_at(d, e, 1), a, &es[i].line) != 0) {
            return tr_errf(TR_EINVAL, errmsg,
                           "streams[%zu].values[%zu]: the line must be a "
                           "string",
                           si, i);
        }
        if (et->n == 3) {
            char what[64];
            snprintf(what, sizeof(what), "values[%zu] metadata", i);
            rv = json_pairs(d, tr_sjson_at(d, e, 2), a, what, si, &es[i].meta,
                            &es[i].n_meta, errmsg);
            if (rv != 0) {
                return rv;
            }
        }
    }
    out->entries = es;
    out->n_entries = vt->n;
    return 0;
}

int tr_loki_push_decode_json(const void *buf,
                             size_t len,
                             struct tr_arena *a,
                             struct tr_loki_push *out,
                             char *errmsg)
{
    memset(out, 0, sizeof(*out));
    struct tr_sjson d;
    if (tr_sjson_parse(&d, buf, len) != 0) {
        int rv = tr_errf(TR_EINVAL, errmsg, "invalid JSON: %s", d.err);
        tr_sjson_free(&d);
        return rv;
    }
    int rv = 0;
    long streams =
        d.toks[0].type == TR_SJSON_OBJECT ? tr_sjson_get(&d, 0, "streams") : -1;
    if (streams < 0 || d.toks[streams].type != TR_SJSON_ARRAY) {
        rv = tr_errf(TR_EINVAL, errmsg,
                     "expected {\"streams\": [...]} as the JSON push body");
    }
    size_t n = rv == 0 ? d.toks[streams].n : 0;
    struct tr_loki_stream *ss = tr_pb_array(a, n, sizeof(*ss), &rv);
    if (rv == TR_ENOMEM) {
        rv = tr_errf(rv, errmsg, "out of memory");
    }
    for (size_t i = 0; i < n && rv == 0; i++) {
        rv = json_stream(&d, tr_sjson_at(&d, streams, i), i, a, &ss[i], errmsg);
        out->n_entries += ss[i].n_entries;
    }
    if (rv == 0) {
        out->streams = ss;
        out->n_streams = n;
    } else {
        memset(out, 0, sizeof(*out));
    }
    tr_sjson_free(&d);
    return rv;
}
