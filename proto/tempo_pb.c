/* tempo_pb.c - tempopb.StreamingQuerier's requests and responses
 * (tempo_pb.h). */
#include "proto/tempo_pb.h"

#include <string.h>

#include "lib/err.h"
#include "proto/pbread.h"

/* ---- requests ------------------------------------------------------------ */

#define M_SEARCH "SearchRequest"
#define M_TAGS "SearchTagsRequest"
#define M_VALUES "SearchTagValuesRequest"
#define M_ENTRY "SearchRequest.Tags entry"
#define M_RANGE "QueryRangeRequest"
#define M_INSTANT "QueryInstantRequest"

enum { F_U32, F_STR, F_U64 };

/* A scalar field of a flat message: where it goes in the output struct. */
struct fieldspec {
    uint32_t field;
    unsigned kind; /* F_STR (struct tr_slice), F_U32 or F_U64 */
    size_t offset; /* in the output struct */
};

/* Reads one field described by spec (tag already read); fields not in
 * specs are skipped. */
static int flat_field(const struct tr_pb_rd *rd,
                      struct tr_cursor *c,
                      const uint8_t *at,
                      const char *msg,
                      uint32_t field,
                      unsigned wt,
                      const struct fieldspec *specs,
                      size_t n_specs,
                      void *out)
{
    for (size_t i = 0; i < n_specs; i++) {
        if (specs[i].field != field) {
            continue;
        }
        char *dst = (char *)out + specs[i].offset;
        if (specs[i].kind == F_STR) {
            struct tr_slice s;
            int rv = tr_pb_want(rd, at, msg, field, wt, WT_LEN);
            if (rv == 0) {
                rv = tr_pb_slice(rd, c, msg, field, &s);
            }
            if (rv == 0) {
                memcpy(dst, &s, sizeof(s));
            }
            return rv;
        }
        uint64_t v;
        int rv = tr_pb_want(rd, at, msg, field, wt, WT_VARINT);
        if (rv == 0) {
            rv = tr_pb_u64(rd, c, msg, field, &v);
        }
        if (rv == 0 && specs[i].kind == F_U64) {
            memcpy(dst, &v, sizeof(v));
        } else if (rv == 0) {
            uint32_t u = (uint32_t)v; /* Go keeps the low 32 bits */
            memcpy(dst, &u, sizeof(u));
        }
        return rv;
    }
    return tr_pb_skip(rd, c, msg, field, wt);
}

static int flat_decode(const void *p,
                       size_t n,
                       const char *msg,
                       const struct fieldspec *specs,
                       size_t n_specs,
                       void *out,
                       char *errmsg)
{
    struct tr_pb_rd rd = {p, errmsg, NULL, SIZE_MAX};
    struct tr_cursor c = tr_cursor_make(p, n);
    while (tr_cursor_left(&c) > 0) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        int rv = tr_pb_tag(&rd, &c, msg, &field, &wt);
        if (rv == 0) {
            rv = flat_field(&rd, &c, at, msg, field, wt, specs, n_specs, out);
        }
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

#define SPEC_STR(type, f, member)        \
    {                                    \
        f, F_STR, offsetof(type, member) \
    }
#define SPEC_U32(type, f, member)        \
    {                                    \
        f, F_U32, offsetof(type, member) \
    }
#define SPEC_U64(type, f, member)        \
    {                                    \
        f, F_U64, offsetof(type, member) \
    }

int tr_tempo_pb_tags_req(const void *p,
                         size_t n,
                         struct tr_tempo_tags_req *out,
                         char *errmsg)
{
    static const struct fieldspec specs[] = {
        SPEC_STR(struct tr_tempo_tags_req, 1, scope),
        SPEC_STR(struct tr_tempo_tags_req, 2, query),
        SPEC_U32(struct tr_tempo_tags_req, 3, start),
        SPEC_U32(struct tr_tempo_tags_req, 4, end),
        SPEC_U32(struct tr_tempo_tags_req, 5, max_tags_per_scope),
        SPEC_U32(struct tr_tempo_tags_req, 6, stale_values_threshold),
    };
    memset(out, 0, sizeof(*out));
    return flat_decode(p, n, M_TAGS, specs, sizeof(specs) / sizeof(specs[0]),
                       out, errmsg);
}

int tr_tempo_pb_tag_values_req(const void *p,
                               size_t n,
                               struct tr_tempo_tag_values_req *out,
                               char *errmsg)
{
    static const struct fieldspec specs[] = {
        SPEC_STR(struct tr_tempo_tag_values_req, 1, tag_name),
        SPEC_STR(struct tr_tempo_tag_values_req, 2, query),
        SPEC_U32(struct tr_tempo_tag_values_req, 4, start),
        SPEC_U32(struct tr_tempo_tag_values_req, 5, end),
        SPEC_U32(struct tr_tempo_tag_values_req, 6, max_tag_values),
        SPEC_U32(struct tr_tempo_tag_values_req, 7, stale_value_threshold),
    };
    memset(out, 0, sizeof(*out));
    return flat_decode(p, n, M_VALUES, specs, sizeof(specs) / sizeof(specs[0]),
                       out, errmsg);
}

int tr_tempo_pb_metrics_req(const void *p,
                            size_t n,
                            bool instant,
                            struct tr_tempo_metrics_req *out,
                            char *errmsg)
{
    static const struct fieldspec range[] = {
        SPEC_STR(struct tr_tempo_metrics_req, 1, query),
        SPEC_U64(struct tr_tempo_metrics_req, 2, start),
        SPEC_U64(struct tr_tempo_metrics_req, 3, end),
        SPEC_U64(struct tr_tempo_metrics_req, 4, step),
        SPEC_U32(struct tr_tempo_metrics_req, 16, exemplars),
    };
    memset(out, 0, sizeof(*out));
    /* QueryInstantRequest's fields 1-3 are QueryRangeRequest's */
    return flat_decode(p, n, instant ? M_INSTANT : M_RANGE, range,
                       instant ? 3 : sizeof(range) / sizeof(range[0]), out,
                       errmsg);
}

/* A Tags map entry (1 key, 2 value; either may be absent: empty). */
static int dec_entry(const struct tr_pb_rd *rd,
                     struct tr_cursor c,
                     struct tr_tempo_pb_tag *out)
{
    static const struct fieldspec specs[] = {
        SPEC_STR(struct tr_tempo_pb_tag, 1, key),
        SPEC_STR(struct tr_tempo_pb_tag, 2, value),
    };
    memset(out, 0, sizeof(*out));
    while (tr_cursor_left(&c) > 0) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        int rv = tr_pb_tag(rd, &c, M_ENTRY, &field, &wt);
        if (rv == 0) {
            rv = flat_field(rd, &c, at, M_ENTRY, field, wt, specs, 2, out);
        }
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

int tr_tempo_pb_search_req(const void *p,
                           size_t n,
                           struct tr_arena *a,
                           struct tr_tempo_search_req *out,
                           char *errmsg)
{
    static const struct fieldspec specs[] = {
        SPEC_U32(struct tr_tempo_search_req, 2, min_duration_ms),
        SPEC_U32(struct tr_tempo_search_req, 3, max_duration_ms),
        SPEC_U32(struct tr_tempo_search_req, 4, limit),
        SPEC_U32(struct tr_tempo_search_req, 5, start),
        SPEC_U32(struct tr_tempo_search_req, 6, end),
        SPEC_STR(struct tr_tempo_search_req, 8, query),
        SPEC_U32(struct tr_tempo_search_req, 9, spss),
    };
    memset(out, 0, sizeof(*out));
    struct tr_pb_rd rd = {p, errmsg, "Tags", SIZE_MAX};
    /* two passes: the first decodes the scalars and counts the tags */
    size_t n_tags = 0;
    for (int pass = 0; pass < 2; pass++) {
        struct tr_cursor c = tr_cursor_make(p, n);
        size_t k = 0;
        while (tr_cursor_left(&c) > 0) {
            const uint8_t *at = c.p;
            uint32_t field;
            unsigned wt;
            int rv = tr_pb_tag(&rd, &c, M_SEARCH, &field, &wt);
            if (rv == 0 && field == 1) {
                struct tr_cursor sub;
                rv = tr_pb_want(&rd, at, M_SEARCH, field, wt, WT_LEN);
                if (rv == 0) {
                    rv = tr_pb_len(&rd, &c, M_SEARCH, field, &sub);
                }
                if (rv == 0 && pass == 1) {
                    rd.item_idx = k;
                    rv = dec_entry(&rd, sub, &out->tags[k]);
                    rd.item_idx = SIZE_MAX;
                }
                k++;
            } else if (rv == 0 && pass == 0) {
                rv = flat_field(&rd, &c, at, M_SEARCH, field, wt, specs,
                                sizeof(specs) / sizeof(specs[0]), out);
            } else if (rv == 0) {
                rv = tr_pb_skip(&rd, &c, M_SEARCH, field, wt);
            }
            if (rv != 0) {
                return rv;
            }
        }
        if (pass == 0) {
            n_tags = k;
            int rv = 0;
            out->tags = tr_pb_array(a, n_tags, sizeof(*out->tags), &rv);
            if (rv != 0) {
                return tr_errf(rv, errmsg, "out of memory");
            }
            if (n_tags == 0) {
                break;
            }
        }
    }
    out->n_tags = n_tags;
    return 0;
}

/* ---- responses ----------------------------------------------------------- */

static void pb_tag(struct tr_buf *b, unsigned field, unsigned wt)
{
    tr_buf_put_uvarint(b, ((uint64_t)field << 3) | wt);
}

/* A length-delimited field, written even when empty (repeated strings,
 * sub-messages). */
static void pb_len(struct tr_buf *b, unsigned field, const void *p, size_t n)
{
    pb_tag(b, field, WT_LEN);
    tr_buf_put_uvarint(b, n);
    tr_buf_append(b, p, n);
}

/* A singular string: left out when empty. */
static void pb_str(struct tr_buf *b, unsigned field, struct tr_slice s)
{
    if (s.len > 0) {
        pb_len(b, field, s.base, s.len);
    }
}

static void pb_uint(struct tr_buf *b, unsigned field, uint64_t v)
{
    if (v != 0) {
        pb_tag(b, field, WT_VARINT);
        tr_buf_put_uvarint(b, v);
    }
}

/* Appends m as sub-message field of b and empties m. */
static void pb_sub(struct tr_buf *b, unsigned field, struct tr_buf *m)
{
    pb_len(b, field, m->data, m->len);
    if (m->oom) {
        b->oom = true;
    }
    tr_buf_reset(m);
}

/* A double (fixed64, little-endian), written even when zero. */
static void pb_double(struct tr_buf *b, unsigned field, double d)
{
    uint64_t u;
    uint8_t le[8];
    memcpy(&u, &d, 8);
    for (int i = 0; i < 8; i++) {
        le[i] = (uint8_t)(u >> (8 * i));
    }
    pb_tag(b, field, WT_I64);
    tr_buf_append(b, le, 8);
}

/* An OTLP AnyValue's fields (1 string, 2 bool, 3 int, 4 double, 5 array,
 * 6 kvlist, 7 bytes) into b. */
static void pb_value(struct tr_buf *b, const struct tr_otlp_value *v)
{
    struct tr_buf m, e;
    switch (v->type) {
        case TR_OTLP_STRING:
            pb_len(b, 1, v->s.base, v->s.len);
            break;
        case TR_OTLP_BOOL:
            pb_tag(b, 2, WT_VARINT);
            tr_buf_put_uvarint(b, v->b ? 1 : 0);
            break;
        case TR_OTLP_INT:
            pb_tag(b, 3, WT_VARINT);
            tr_buf_put_uvarint(b, (uint64_t)v->i);
            break;
        case TR_OTLP_DOUBLE:
            pb_double(b, 4, v->d);
            break;
        case TR_OTLP_ARRAY:
            tr_buf_init(&m);
            tr_buf_init(&e);
            for (size_t i = 0; i < v->n; i++) {
                pb_value(&e, &v->items[i]);
                pb_sub(&m, 1, &e);
            }
            pb_sub(b, 5, &m);
            tr_buf_free(&e);
            tr_buf_free(&m);
            break;
        case TR_OTLP_KVLIST:
            tr_buf_init(&m);
            tr_tempo_pb_kvs(&m, 1, v->kvs, v->n);
            pb_sub(b, 6, &m);
            tr_buf_free(&m);
            break;
        case TR_OTLP_BYTES:
            pb_len(b, 7, v->s.base, v->s.len);
            break;
        default:
            break;
    }
}

void tr_tempo_pb_kvs(struct tr_buf *b,
                     unsigned field,
                     const struct tr_otlp_kv *kvs,
                     size_t n)
{
    struct tr_buf kv, val;
    tr_buf_init(&kv);
    tr_buf_init(&val);
    for (size_t i = 0; i < n; i++) {
        pb_str(&kv, 1, kvs[i].key);
        pb_value(&val, &kvs[i].value);
        pb_sub(&kv, 2, &val);
        pb_sub(b, field, &kv);
    }
    tr_buf_free(&kv);
    tr_buf_free(&val);
}

static unsigned nibble(const uint8_t *id, size_t i)
{
    return (i & 1) ? id[i / 2] & 15u : (unsigned)id[i / 2] >> 4;
}

size_t tr_tempo_hex_id(const uint8_t *id, size_t n, bool trim, char out[33])
{
    static const char hx[] = "0123456789abcdef";
    size_t digits = 2 * (n > 16 ? 16 : n), first = 0, o = 0;
    while (trim && first + 1 < digits && nibble(id, first) == 0) {
        first++;
    }
    for (size_t i = first; i < digits; i++) {
        out[o++] = hx[nibble(id, i)];
    }
    out[o] = '\0';
    return o;
}

static void pb_spanset(struct tr_buf *b, const struct tr_tempo_spanset *s)
{
    struct tr_buf sp;
    tr_buf_init(&sp);
    for (size_t k = 0; k < s->n_spans; k++) {
        const struct tr_tempo_span *o = &s->spans[k];
        char hex[33];
        size_t hl =
            tr_tempo_hex_id((const uint8_t *)o->id.base, o->id.len, false, hex);
        pb_str(&sp, 1, (struct tr_slice){hex, hl});
        pb_str(&sp, 2, o->name);
        pb_uint(&sp, 3, o->start);
        pb_uint(&sp, 4, o->end > o->start ? o->end - o->start : 0);
        tr_tempo_pb_kvs(&sp, 5, o->attrs, o->n_attrs);
        pb_sub(b, 1, &sp);
    }
    pb_uint(b, 2, (uint32_t)s->matched);
    tr_tempo_pb_kvs(b, 3, s->by, s->n_by);
    tr_buf_free(&sp);
}

static int done(struct tr_buf *out)
{
    return out->oom ? TR_ENOMEM : 0;
}

/* SearchMetrics as field 2 of out (search and metrics answers). */
static void pb_search_metrics(struct tr_buf *out,
                              const struct tr_tempo_search_metrics *m)
{
    struct tr_buf b;
    tr_buf_init(&b);
    pb_uint(&b, 1, m->inspected_traces);
    pb_uint(&b, 2, m->inspected_bytes);
    pb_uint(&b, 3, m->total_blocks);
    pb_uint(&b, 4, m->completed_jobs);
    pb_uint(&b, 5, m->total_jobs);
    pb_sub(out, 2, &b);
    tr_buf_free(&b);
}

int tr_tempo_pb_search_resp(const struct tr_tempo_trace *t,
                            size_t n,
                            const struct tr_tempo_search_metrics *m,
                            struct tr_buf *out)
{
    struct tr_buf tm, set;
    tr_buf_init(&tm);
    tr_buf_init(&set);
    for (size_t i = 0; i < n; i++) {
        char hex[33];
        size_t hl = tr_tempo_hex_id(t[i].id, 16, true, hex);
        pb_str(&tm, 1, (struct tr_slice){hex, hl});
        if (t[i].has_root) {
            pb_str(&tm, 2, t[i].root_service);
            pb_str(&tm, 3, t[i].root_name);
        } else {
            pb_str(&tm, 2, TR_SLICE_LIT(TR_TEMPO_NO_ROOT));
        }
        pb_uint(&tm, 4, t[i].start);
        pb_uint(
            &tm, 5,
            (uint32_t)(t[i].end > t[i].start ? (t[i].end - t[i].start) / 1000000
                                             : 0));
        if (t[i].n_sets > 0) {
            pb_spanset(&set, &t[i].sets[0]);
            pb_sub(&tm, 6, &set);
        }
        for (size_t k = 0; k < t[i].n_sets; k++) {
            pb_spanset(&set, &t[i].sets[k]);
            pb_sub(&tm, 7, &set);
        }
        pb_sub(out, 1, &tm);
    }
    tr_buf_free(&tm);
    tr_buf_free(&set);
    pb_search_metrics(out, m);
    return done(out);
}

static void pb_meta_metrics(struct tr_buf *out,
                            const struct tr_tempo_meta_metrics *m)
{
    struct tr_buf b;
    tr_buf_init(&b);
    pb_uint(&b, 1, m->inspected_bytes);
    pb_uint(&b, 2, m->total_jobs);
    pb_uint(&b, 3, m->completed_jobs);
    pb_uint(&b, 4, m->total_blocks);
    pb_sub(out, 2, &b);
    tr_buf_free(&b);
}

int tr_tempo_pb_tags_resp(const struct tr_slice *names,
                          size_t n,
                          const struct tr_tempo_meta_metrics *m,
                          struct tr_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        pb_len(out, 1, names[i].base, names[i].len);
    }
    pb_meta_metrics(out, m);
    return done(out);
}

int tr_tempo_pb_tags_v2_resp(const struct tr_tempo_tag_scope *scopes,
                             size_t n,
                             const struct tr_tempo_meta_metrics *m,
                             struct tr_buf *out)
{
    struct tr_buf s;
    tr_buf_init(&s);
    for (size_t i = 0; i < n; i++) {
        pb_str(&s, 1, scopes[i].name);
        for (size_t k = 0; k < scopes[i].n_tags; k++) {
            pb_len(&s, 2, scopes[i].tags[k].base, scopes[i].tags[k].len);
        }
        pb_sub(out, 1, &s);
    }
    tr_buf_free(&s);
    pb_meta_metrics(out, m);
    return done(out);
}

int tr_tempo_pb_tag_values_resp(const struct tr_tempo_tag_value *v,
                                size_t n,
                                bool v2,
                                const struct tr_tempo_meta_metrics *m,
                                struct tr_buf *out)
{
    struct tr_buf tv;
    tr_buf_init(&tv);
    for (size_t i = 0; i < n; i++) {
        if (!v2) {
            pb_len(out, 1, v[i].value.base, v[i].value.len);
            continue;
        }
        pb_str(&tv, 1, v[i].type);
        pb_str(&tv, 2, v[i].value);
        pb_sub(out, 1, &tv);
    }
    tr_buf_free(&tv);
    pb_meta_metrics(out, m);
    return done(out);
}

/* A double of a proto3 message: left out when 0 (NaN is written). */
static void pb_double_nz(struct tr_buf *b, unsigned field, double d)
{
    if (d != 0) {
        pb_double(b, field, d);
    }
}

int tr_tempo_pb_metrics_resp(const struct tr_tempo_series *s,
                             size_t n,
                             bool instant,
                             const struct tr_tempo_search_metrics *m,
                             struct tr_buf *out)
{
    struct tr_buf ts, sm;
    tr_buf_init(&ts);
    tr_buf_init(&sm);
    for (size_t i = 0; i < n; i++) {
        tr_tempo_pb_kvs(&ts, 1, s[i].labels, s[i].n_labels);
        if (instant) {
            pb_double_nz(&ts, 2,
                         s[i].n_samples > 0 ? s[i].samples[0].value : 0);
        }
        for (size_t k = 0; !instant && k < s[i].n_samples; k++) {
            pb_double_nz(&sm, 1, s[i].samples[k].value);
            /* int64: a negative one is its 64-bit two's complement */
            pb_uint(&sm, 2, (uint64_t)s[i].samples[k].ts_ms);
            pb_sub(&ts, 2, &sm);
        }
        pb_str(&ts, 3, s[i].prom_labels);
        pb_sub(out, 1, &ts);
    }
    tr_buf_free(&ts);
    tr_buf_free(&sm);
    pb_search_metrics(out, m);
    return done(out);
}
