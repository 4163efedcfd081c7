/* prw.c - Prometheus remote-write 1.0 and 2.0 decoders (contract in prw.h;
 * the encoders are in prw_encode.c).
 *
 * Protobuf wire format, as far as these messages need it:
 *
 *   record   = tag payload
 *   tag      = uvarint(field_number << 3 | wire_type), field_number >= 1
 *   wire_type 0 VARINT  payload = uvarint (int64: two's complement, so a
 *                       negative value takes 10 bytes; enum likewise)
 *             1 I64     payload = 8 bytes little-endian (double)
 *             2 LEN     payload = uvarint length, then that many bytes
 *                       (string, sub-message, packed repeated scalars)
 *             3 SGROUP, 4 EGROUP: deprecated groups - rejected (TR_EPROTO)
 *             5 I32     payload = 4 bytes little-endian
 *             6, 7      invalid
 *
 * Fields may come in any order and repeat; a repeated scalar (2.0
 * labels_refs) may be packed (one LEN record) or not (one VARINT record per
 * element), or a mix. A repeated singular field keeps the last value; a
 * repeated singular message (2.0 metadata) is merged. Unknown fields of wire
 * type 0, 1, 2 and 5 are skipped. A known field with the wrong wire type is
 * an error (as in gogoproto, which Prometheus uses).
 *
 * Decoding is two passes over the bytes with no recursion (the nesting is
 * fixed: request > series > label/sample/exemplar > exemplar label). Pass 1
 * only checks the framing (tags and lengths down to the records it must
 * count) and counts; then every array is allocated once in the arena and
 * pass 2 parses every record, validating it as it fills. Both passes see the
 * same framing, so pass 2 never needs more elements than pass 1 counted. All
 * labels of a request share one array (each series points at its run), likewise
 * samples, exemplars and exemplar labels. 2.0 needs one extra walk over the top
 * level to fill the symbol table before references are resolved. */
#include "proto/prw.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "lib/hash.h"
#include "proto/pbread.h"
#include "proto/prw_int.h"

/* ---- shared leaf messages ----------------------------------------------- */

/* Sample (both versions): value=1 double, timestamp=2 int64. */
static int dec_sample(const struct tr_pb_rd *rd,
                      struct tr_cursor c,
                      const char *msg,
                      struct tr_prw_sample *out)
{
    out->value = 0;
    out->ts_ms = 0;
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        uint64_t u;
        int rv = tr_pb_tag(rd, &c, msg, &field, &wt);
        if (rv != 0) {
            return rv;
        }
        switch (field) {
            case 1:
                if ((rv = tr_pb_want(rd, at, msg, field, wt, WT_I64)) != 0 ||
                    (rv = tr_pb_double(rd, &c, msg, field, &out->value)) != 0) {
                    return rv;
                }
                break;
            case 2:
                if ((rv = tr_pb_want(rd, at, msg, field, wt, WT_VARINT)) != 0 ||
                    (rv = tr_pb_u64(rd, &c, msg, field, &u)) != 0) {
                    return rv;
                }
                out->ts_ms = (int64_t)u;
                break;
            default:
                if ((rv = tr_pb_skip(rd, &c, msg, field, wt)) != 0) {
                    return rv;
                }
        }
    }
    return 0;
}

/* ---- 1.0 ---------------------------------------------------------------- */

static const char M1_REQ[] = "prometheus.WriteRequest";
static const char M1_TS[] = "prometheus.TimeSeries";
static const char M1_LABEL[] = "prometheus.Label";
static const char M1_SAMPLE[] = "prometheus.Sample";
static const char M1_EX[] = "prometheus.Exemplar";
static const char M1_MD[] = "prometheus.MetricMetadata";

struct v1 {
    struct tr_pb_rd rd;
    bool fill; /* pass 2: arrays below are allocated */
    /* pass 1: totals; pass 2: next free index of each array */
    size_t n_series, n_labels, n_samples, n_exemplars, n_ex_labels;
    size_t n_metadata;
    struct tr_prw_series *series;
    struct tr_prw_label *labels;
    struct tr_prw_sample *samples;
    struct tr_prw_exemplar *exemplars;
    struct tr_prw_label *ex_labels;
    struct tr_prw_metadata *metadata;
};

/* Label: name=1, value=2. */
static int v1_label(const struct tr_pb_rd *rd,
                    struct tr_cursor c,
                    struct tr_prw_label *out)
{
    /* fast path for the usual shape: 0a <n> name 12 <m> value, n, m < 128 */
    size_t left = tr_cursor_left(&c);
    if (left >= 4 && c.p[0] == 0x0a && c.p[1] < 0x80 &&
        (size_t)c.p[1] + 4 <= left && c.p[2 + c.p[1]] == 0x12 &&
        (size_t)c.p[1] + 4 + c.p[3 + c.p[1]] == left) {
        out->name.base = (const char *)c.p + 2;
        out->name.len = c.p[1];
        out->value.base = (const char *)c.p + 4 + c.p[1];
        out->value.len = c.p[3 + c.p[1]];
        return 0;
    }
    out->name.base = out->value.base = NULL;
    out->name.len = out->value.len = 0;
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        int rv = tr_pb_tag(rd, &c, M1_LABEL, &field, &wt);
        if (rv != 0) {
            return rv;
        }
        if (field == 1 || field == 2) {
            if ((rv = tr_pb_want(rd, at, M1_LABEL, field, wt, WT_LEN)) != 0 ||
                (rv = tr_pb_slice(rd, &c, M1_LABEL, field,
                                  field == 1 ? &out->name : &out->value)) !=
                    0) {
                return rv;
            }
        } else if ((rv = tr_pb_skip(rd, &c, M1_LABEL, field, wt)) != 0) {
            return rv;
        }
    }
    return 0;
}

/* Exemplar: labels=1, value=2, timestamp=3. */
static int v1_exemplar(struct v1 *x,
                       struct tr_cursor c,
                       struct tr_prw_exemplar *out)
{
    size_t first = x->n_ex_labels;
    out->value = 0;
    out->ts_ms = 0;
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        uint64_t u;
        struct tr_cursor sub;
        int rv = tr_pb_tag(&x->rd, &c, M1_EX, &field, &wt);
        if (rv != 0) {
            return rv;
        }
        switch (field) {
            case 1:
                if ((rv = tr_pb_want(&x->rd, at, M1_EX, field, wt, WT_LEN)) !=
                        0 ||
                    (rv = tr_pb_len(&x->rd, &c, M1_EX, field, &sub)) != 0) {
                    return rv;
                }
                if (x->fill &&
                    (rv = v1_label(&x->rd, sub,
                                   &x->ex_labels[x->n_ex_labels])) != 0) {
                    return rv;
                }
                x->n_ex_labels++;
                break;
            case 2:
                if ((rv = tr_pb_want(&x->rd, at, M1_EX, field, wt, WT_I64)) !=
                        0 ||
                    (rv = tr_pb_double(&x->rd, &c, M1_EX, field,
                                       &out->value)) != 0) {
                    return rv;
                }
                break;
            case 3:
                if ((rv = tr_pb_want(&x->rd, at, M1_EX, field, wt,
                                     WT_VARINT)) != 0 ||
                    (rv = tr_pb_u64(&x->rd, &c, M1_EX, field, &u)) != 0) {
                    return rv;
                }
                out->ts_ms = (int64_t)u;
                break;
            default:
                if ((rv = tr_pb_skip(&x->rd, &c, M1_EX, field, wt)) != 0) {
                    return rv;
                }
        }
    }
    out->labels =
        x->fill && x->n_ex_labels > first ? x->ex_labels + first : NULL;
    out->n_labels = x->n_ex_labels - first;
    return 0;
}

/* TimeSeries: labels=1, samples=2, exemplars=3, histograms=4. */
static int v1_series(struct v1 *x, struct tr_cursor c, struct tr_prw_series *s)
{
    size_t first_label = x->n_labels;
    size_t first_sample = x->n_samples;
    size_t first_ex = x->n_exemplars;
    struct tr_prw_exemplar ex_scratch;
    memset(s, 0, sizeof(*s));
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        struct tr_cursor sub;
        int rv = tr_pb_tag(&x->rd, &c, M1_TS, &field, &wt);
        if (rv != 0) {
            return rv;
        }
        if (field < 1 || field > 4) {
            if ((rv = tr_pb_skip(&x->rd, &c, M1_TS, field, wt)) != 0) {
                return rv;
            }
            continue;
        }
        if ((rv = tr_pb_want(&x->rd, at, M1_TS, field, wt, WT_LEN)) != 0 ||
            (rv = tr_pb_len(&x->rd, &c, M1_TS, field, &sub)) != 0) {
            return rv;
        }
        switch (field) {
            case 1:
                if (x->fill) {
                    rv = v1_label(&x->rd, sub, &x->labels[x->n_labels]);
                }
                x->n_labels++;
                break;
            case 2:
                if (x->fill) {
                    rv = dec_sample(&x->rd, sub, M1_SAMPLE,
                                    &x->samples[x->n_samples]);
                }
                x->n_samples++;
                break;
            case 3:
                rv = v1_exemplar(
                    x, sub,
                    x->fill ? &x->exemplars[x->n_exemplars] : &ex_scratch);
                x->n_exemplars++;
                break;
            default: /* 4: native histogram, counted and skipped */
                s->n_histograms++;
                break;
        }
        if (rv != 0) {
            return rv;
        }
    }
    s->n_labels = x->n_labels - first_label;
    s->n_samples = x->n_samples - first_sample;
    s->n_exemplars = x->n_exemplars - first_ex;
    if (x->fill) {
        s->labels = s->n_labels ? x->labels + first_label : NULL;
        s->samples = s->n_samples ? x->samples + first_sample : NULL;
        s->exemplars = s->n_exemplars ? x->exemplars + first_ex : NULL;
    }
    return 0;
}

/* MetricMetadata: type=1, metric_family_name=2, help=4, unit=5. */
static int v1_metadata(const struct tr_pb_rd *rd,
                       struct tr_cursor c,
                       struct tr_prw_metadata *out)
{
    memset(out, 0, sizeof(*out));
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        uint64_t u;
        struct tr_slice *dst = NULL;
        int rv = tr_pb_tag(rd, &c, M1_MD, &field, &wt);
        if (rv != 0) {
            return rv;
        }
        switch (field) {
            case 1:
                if ((rv = tr_pb_want(rd, at, M1_MD, field, wt, WT_VARINT)) !=
                        0 ||
                    (rv = tr_pb_u64(rd, &c, M1_MD, field, &u)) != 0) {
                    return rv;
                }
                out->type = (int)(int32_t)(uint32_t)u;
                continue;
            case 2:
                dst = &out->family;
                break;
            case 4:
                dst = &out->help;
                break;
            case 5:
                dst = &out->unit;
                break;
            default:
                if ((rv = tr_pb_skip(rd, &c, M1_MD, field, wt)) != 0) {
                    return rv;
                }
                continue;
        }
        if ((rv = tr_pb_want(rd, at, M1_MD, field, wt, WT_LEN)) != 0 ||
            (rv = tr_pb_slice(rd, &c, M1_MD, field, dst)) != 0) {
            return rv;
        }
    }
    return 0;
}

/* WriteRequest: timeseries=1, metadata=3. */
static int v1_walk(struct v1 *x, const void *buf, size_t len)
{
    struct tr_cursor c = tr_cursor_make(buf, len);
    struct tr_prw_series series_scratch;
    x->n_series = x->n_labels = x->n_samples = 0;
    x->n_exemplars = x->n_ex_labels = x->n_metadata = 0;
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        struct tr_cursor sub;
        int rv = tr_pb_tag(&x->rd, &c, M1_REQ, &field, &wt);
        if (rv != 0) {
            return rv;
        }
        if (field != 1 && field != 3) {
            if ((rv = tr_pb_skip(&x->rd, &c, M1_REQ, field, wt)) != 0) {
                return rv;
            }
            continue;
        }
        if ((rv = tr_pb_want(&x->rd, at, M1_REQ, field, wt, WT_LEN)) != 0 ||
            (rv = tr_pb_len(&x->rd, &c, M1_REQ, field, &sub)) != 0) {
            return rv;
        }
        if (field == 1) {
            x->rd.item_idx = x->n_series;
            rv = v1_series(x, sub,
                           x->fill ? &x->series[x->n_series] : &series_scratch);
            x->rd.item_idx = SIZE_MAX;
            x->n_series++;
        } else {
            if (x->fill) {
                rv = v1_metadata(&x->rd, sub, &x->metadata[x->n_metadata]);
            }
            x->n_metadata++;
        }
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

int tr_prw_decode_v1(const void *buf,
                     size_t len,
                     struct tr_arena *arena,
                     struct tr_prw_request *out,
                     char *errmsg)
{
    memset(out, 0, sizeof(*out));
    out->version = 1;
    if (buf == NULL && len > 0) {
        return tr_errf(TR_EINVAL, errmsg, "prw: NULL buffer");
    }
    struct v1 x;
    memset(&x, 0, sizeof(x));
    x.rd.base = buf;
    x.rd.errmsg = errmsg;
    x.rd.item = "timeseries";
    x.rd.item_idx = SIZE_MAX;
    int rv = v1_walk(&x, buf, len);
    if (rv != 0) {
        return rv;
    }
    x.series = tr_pb_array(arena, x.n_series, sizeof(*x.series), &rv);
    x.labels = tr_pb_array(arena, x.n_labels, sizeof(*x.labels), &rv);
    x.samples = tr_pb_array(arena, x.n_samples, sizeof(*x.samples), &rv);
    x.exemplars = tr_pb_array(arena, x.n_exemplars, sizeof(*x.exemplars), &rv);
    x.ex_labels = tr_pb_array(arena, x.n_ex_labels, sizeof(*x.ex_labels), &rv);
    x.metadata = tr_pb_array(arena, x.n_metadata, sizeof(*x.metadata), &rv);
    if (rv != 0) {
        return tr_errf(rv, errmsg, "prw: out of memory");
    }
    x.fill = true;
    rv = v1_walk(&x, buf, len);
    if (rv != 0) {
        return rv;
    }
    out->series = x.series;
    out->n_series = x.n_series;
    out->metadata = x.metadata;
    out->n_metadata = x.n_metadata;
    return 0;
}

/* ---- 2.0 ---------------------------------------------------------------- */

static const char M2_REQ[] = "io.prometheus.write.v2.Request";
static const char M2_TS[] = "io.prometheus.write.v2.TimeSeries";
static const char M2_SAMPLE[] = "io.prometheus.write.v2.Sample";
static const char M2_EX[] = "io.prometheus.write.v2.Exemplar";
static const char M2_MD[] = "io.prometheus.write.v2.Metadata";

struct v2 {
    struct tr_pb_rd rd;
    bool fill;
    size_t n_symbols; /* final after pass 1 */
    size_t n_series, n_labels, n_samples, n_exemplars, n_ex_labels;
    struct tr_slice *symbols;
    struct tr_prw_series *series;
    struct tr_prw_label *labels;
    struct tr_prw_sample *samples;
    struct tr_prw_exemplar *exemplars;
    struct tr_prw_label *ex_labels;
};

/* Resolves symbol reference ref (pass 2 only). */
static inline int v2_sym(const struct v2 *x,
                         const uint8_t *at,
                         const char *msg,
                         const char *what,
                         uint64_t ref,
                         struct tr_slice *out)
{
    if (ref >= x->n_symbols) {
        return tr_pb_fail(&x->rd, at, msg,
                          "%s reference %llu out of range (%zu symbols)", what,
                          (unsigned long long)ref, x->n_symbols);
    }
    *out = x->symbols[ref];
    return 0;
}

/* One labels_refs record (field 1 of TimeSeries or Exemplar), packed or
 * not. *k counts the references seen so far; reference k goes to the name
 * (k even) or value (k odd) of labels[k / 2] when filling. */
static int v2_refs(struct v2 *x,
                   struct tr_cursor *c,
                   const char *msg,
                   unsigned wt,
                   struct tr_prw_label *labels,
                   size_t *k)
{
    struct tr_cursor sub;
    int rv;
    if (wt == WT_VARINT) {
        const uint8_t *at = c->p;
        uint64_t ref;
        if ((rv = tr_pb_u64(&x->rd, c, msg, 1, &ref)) != 0) {
            return rv;
        }
        if (x->fill) {
            struct tr_prw_label *l = &labels[*k / 2];
            if ((rv = v2_sym(x, at, msg, "label", ref,
                             (*k & 1) ? &l->value : &l->name)) != 0) {
                return rv;
            }
        }
        (*k)++;
        return 0;
    }
    if (wt == WT_LEN) {
        if ((rv = tr_pb_len(&x->rd, c, msg, 1, &sub)) != 0) {
            return rv;
        }
    } else {
        return tr_pb_fail(&x->rd, c->p, msg,
                          "field 1 has wire type %u, expected 0 or 2", wt);
    }
    if (!x->fill) {
        /* pass 1 counts varint terminators; pass 2 rejects overlong ones */
        if (sub.p < sub.end && sub.end[-1] >= 0x80) {
            return tr_pb_fail(&x->rd, sub.end - 1, msg, "truncated label ref");
        }
        for (const uint8_t *p = sub.p; p < sub.end; p++) {
            *k += *p < 0x80;
        }
        return 0;
    }
    while (sub.p < sub.end) {
        const uint8_t *at = sub.p;
        uint64_t ref;
        if (*sub.p < 0x80) {
            ref = *sub.p++;
        } else if (tr_cursor_uvarint(&sub, &ref) != 0) {
            return tr_pb_fail(&x->rd, at, msg,
                              "truncated or overlong label ref");
        }
        if (x->fill) {
            struct tr_prw_label *l = &labels[*k / 2];
            if ((rv = v2_sym(x, at, msg, "label", ref,
                             (*k & 1) ? &l->value : &l->name)) != 0) {
                return rv;
            }
        }
        (*k)++;
    }
    return 0;
}

/* Exemplar: labels_refs=1, value=2, timestamp=3. */
static int v2_exemplar(struct v2 *x,
                       struct tr_cursor c,
                       struct tr_prw_exemplar *out)
{
    struct tr_prw_label *labels =
        x->fill && x->ex_labels != NULL ? x->ex_labels + x->n_ex_labels : NULL;
    size_t k = 0;
    out->value = 0;
    out->ts_ms = 0;
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        uint64_t u;
        int rv = tr_pb_tag(&x->rd, &c, M2_EX, &field, &wt);
        if (rv != 0) {
            return rv;
        }
        switch (field) {
            case 1:
                rv = v2_refs(x, &c, M2_EX, wt, labels, &k);
                break;
            case 2:
                if ((rv = tr_pb_want(&x->rd, at, M2_EX, field, wt, WT_I64)) ==
                    0) {
                    rv = tr_pb_double(&x->rd, &c, M2_EX, field, &out->value);
                }
                break;
            case 3:
                if ((rv = tr_pb_want(&x->rd, at, M2_EX, field, wt,
                                     WT_VARINT)) == 0 &&
                    (rv = tr_pb_u64(&x->rd, &c, M2_EX, field, &u)) == 0) {
                    out->ts_ms = (int64_t)u;
                }
                break;
            default:
                rv = tr_pb_skip(&x->rd, &c, M2_EX, field, wt);
        }
        if (rv != 0) {
            return rv;
        }
    }
    if (k & 1) {
        return tr_pb_fail(&x->rd, c.end, M2_EX,
                          "odd number (%zu) of labels_refs", k);
    }
    out->labels = k ? labels : NULL;
    out->n_labels = k / 2;
    x->n_ex_labels += k / 2;
    return 0;
}

/* Metadata: type=1, help_ref=3, unit_ref=4; merged into the caller's
 * values when repeated. */
static int v2_metadata(const struct v2 *x,
                       struct tr_cursor c,
                       uint64_t *type,
                       uint64_t *help_ref,
                       uint64_t *unit_ref)
{
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        int rv = tr_pb_tag(&x->rd, &c, M2_MD, &field, &wt);
        if (rv != 0) {
            return rv;
        }
        uint64_t *dst = field == 1   ? type
                        : field == 3 ? help_ref
                        : field == 4 ? unit_ref
                                     : NULL;
        if (dst == NULL) {
            rv = tr_pb_skip(&x->rd, &c, M2_MD, field, wt);
        } else if ((rv = tr_pb_want(&x->rd, at, M2_MD, field, wt, WT_VARINT)) ==
                   0) {
            rv = tr_pb_u64(&x->rd, &c, M2_MD, field, dst);
        }
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* TimeSeries: labels_refs=1, samples=2, histograms=3, exemplars=4,
 * metadata=5, created_timestamp=6. */
static int v2_series(struct v2 *x, struct tr_cursor c, struct tr_prw_series *s)
{
    struct tr_prw_label *labels =
        x->fill && x->labels != NULL ? x->labels + x->n_labels : NULL;
    size_t k = 0;
    size_t first_sample = x->n_samples;
    size_t first_ex = x->n_exemplars;
    uint64_t md_type = 0, md_help = 0, md_unit = 0;
    const uint8_t *md_at = NULL;
    struct tr_prw_exemplar ex_scratch;
    memset(s, 0, sizeof(*s));
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        uint64_t u;
        struct tr_cursor sub;
        int rv = tr_pb_tag(&x->rd, &c, M2_TS, &field, &wt);
        if (rv != 0) {
            return rv;
        }
        switch (field) {
            case 1:
                rv = v2_refs(x, &c, M2_TS, wt, labels, &k);
                break;
            case 2:
            case 3:
            case 4:
            case 5:
                if ((rv = tr_pb_want(&x->rd, at, M2_TS, field, wt, WT_LEN)) !=
                        0 ||
                    (rv = tr_pb_len(&x->rd, &c, M2_TS, field, &sub)) != 0) {
                    return rv;
                }
                if (field == 2) {
                    if (x->fill) {
                        rv = dec_sample(&x->rd, sub, M2_SAMPLE,
                                        &x->samples[x->n_samples]);
                    }
                    x->n_samples++;
                } else if (field == 3) {
                    s->n_histograms++;
                } else if (field == 4) {
                    rv = v2_exemplar(
                        x, sub,
                        x->fill ? &x->exemplars[x->n_exemplars] : &ex_scratch);
                    x->n_exemplars++;
                } else {
                    s->has_metadata = 1;
                    md_at = at;
                    if (x->fill) {
                        rv = v2_metadata(x, sub, &md_type, &md_help, &md_unit);
                    }
                }
                break;
            case 6:
                if ((rv = tr_pb_want(&x->rd, at, M2_TS, field, wt,
                                     WT_VARINT)) == 0 &&
                    (rv = tr_pb_u64(&x->rd, &c, M2_TS, field, &u)) == 0) {
                    s->created_ts_ms = (int64_t)u;
                }
                break;
            default:
                rv = tr_pb_skip(&x->rd, &c, M2_TS, field, wt);
        }
        if (rv != 0) {
            return rv;
        }
    }
    if (k & 1) {
        return tr_pb_fail(&x->rd, c.end, M2_TS,
                          "odd number (%zu) of labels_refs", k);
    }
    s->n_labels = k / 2;
    s->n_samples = x->n_samples - first_sample;
    s->n_exemplars = x->n_exemplars - first_ex;
    x->n_labels += k / 2;
    if (!x->fill) {
        return 0;
    }
    s->labels = k ? labels : NULL;
    s->samples = s->n_samples ? x->samples + first_sample : NULL;
    s->exemplars = s->n_exemplars ? x->exemplars + first_ex : NULL;
    if (s->has_metadata) {
        int rv;
        s->metadata.type = (int)(int32_t)(uint32_t)md_type;
        if ((rv = v2_sym(x, md_at, M2_MD, "help", md_help,
                         &s->metadata.help)) != 0 ||
            (rv = v2_sym(x, md_at, M2_MD, "unit", md_unit,
                         &s->metadata.unit)) != 0) {
            return rv;
        }
        for (size_t i = 0; i < s->n_labels; i++) {
            if (tr_slice_eq_cstr(s->labels[i].name, "__name__")) {
                s->metadata.family = s->labels[i].value;
                break;
            }
        }
    }
    return 0;
}

/* Request: symbols=4, timeseries=5. Pass 1 counts symbols; pass 2 expects
 * them filled already (v2_fill_symbols) and ignores field 4. */
static int v2_walk(struct v2 *x, const void *buf, size_t len)
{
    struct tr_cursor c = tr_cursor_make(buf, len);
    struct tr_prw_series series_scratch;
    x->n_series = x->n_labels = x->n_samples = 0;
    x->n_exemplars = x->n_ex_labels = 0;
    if (!x->fill) {
        x->n_symbols = 0;
    }
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        struct tr_cursor sub;
        int rv = tr_pb_tag(&x->rd, &c, M2_REQ, &field, &wt);
        if (rv != 0) {
            return rv;
        }
        if (field != 4 && field != 5) {
            if ((rv = tr_pb_skip(&x->rd, &c, M2_REQ, field, wt)) != 0) {
                return rv;
            }
            continue;
        }
        if ((rv = tr_pb_want(&x->rd, at, M2_REQ, field, wt, WT_LEN)) != 0 ||
            (rv = tr_pb_len(&x->rd, &c, M2_REQ, field, &sub)) != 0) {
            return rv;
        }
        if (field == 4) {
            if (!x->fill) {
                x->n_symbols++;
            }
            continue;
        }
        x->rd.item_idx = x->n_series;
        rv = v2_series(x, sub,
                       x->fill ? &x->series[x->n_series] : &series_scratch);
        x->rd.item_idx = SIZE_MAX;
        x->n_series++;
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* Fills x->symbols from the already validated request. */
static void v2_fill_symbols(struct v2 *x, const void *buf, size_t len)
{
    struct tr_cursor c = tr_cursor_make(buf, len);
    size_t n = 0;
    while (c.p < c.end) {
        uint32_t field;
        unsigned wt;
        struct tr_cursor sub;
        if (tr_pb_tag(&x->rd, &c, M2_REQ, &field, &wt) != 0) {
            return;
        }
        if (field == 4 && wt == WT_LEN) {
            if (tr_pb_len(&x->rd, &c, M2_REQ, field, &sub) != 0) {
                return;
            }
            x->symbols[n].base = (const char *)sub.p;
            x->symbols[n].len = (size_t)(sub.end - sub.p);
            n++;
        } else if (tr_pb_skip(&x->rd, &c, M2_REQ, field, wt) != 0) {
            return;
        }
    }
}

int tr_prw_decode_v2(const void *buf,
                     size_t len,
                     struct tr_arena *arena,
                     struct tr_prw_request *out,
                     char *errmsg)
{
    memset(out, 0, sizeof(*out));
    out->version = 2;
    if (buf == NULL && len > 0) {
        return tr_errf(TR_EINVAL, errmsg, "prw: NULL buffer");
    }
    struct v2 x;
    memset(&x, 0, sizeof(x));
    x.rd.base = buf;
    x.rd.errmsg = errmsg;
    x.rd.item = "timeseries";
    x.rd.item_idx = SIZE_MAX;
    int rv = v2_walk(&x, buf, len);
    if (rv != 0) {
        return rv;
    }
    if (x.n_symbols == 0 && x.n_series > 0) {
        return tr_errf(TR_EPROTO, errmsg,
                       "%s: no symbols (symbols[0] must be \"\")", M2_REQ);
    }
    x.symbols = tr_pb_array(arena, x.n_symbols, sizeof(*x.symbols), &rv);
    x.series = tr_pb_array(arena, x.n_series, sizeof(*x.series), &rv);
    x.labels = tr_pb_array(arena, x.n_labels, sizeof(*x.labels), &rv);
    x.samples = tr_pb_array(arena, x.n_samples, sizeof(*x.samples), &rv);
    x.exemplars = tr_pb_array(arena, x.n_exemplars, sizeof(*x.exemplars), &rv);
    x.ex_labels = tr_pb_array(arena, x.n_ex_labels, sizeof(*x.ex_labels), &rv);
    if (rv != 0) {
        return tr_errf(rv, errmsg, "prw: out of memory");
    }
    if (x.n_symbols > 0) {
        v2_fill_symbols(&x, buf, len);
        if (x.symbols[0].len != 0) {
            return tr_errf(
                TR_EPROTO, errmsg,
                "%s: symbols[0] is not \"\" (%zu bytes) at offset "
                "%zu",
                M2_REQ, x.symbols[0].len,
                (size_t)((const uint8_t *)x.symbols[0].base - x.rd.base));
        }
    }
    x.fill = true;
    rv = v2_walk(&x, buf, len);
    if (rv != 0) {
        return rv;
    }
    out->series = x.series;
    out->n_series = x.n_series;
    return 0;
}
