/* otlp_metrics.c - OTLP metrics decoding from protobuf (otlp_metrics.h).
 * The resource and scope levels are proto/otlp_groups.c's; this file
 * decodes a metric and its data points. A point is walked once to count its
 * repeated fields (packed scalars by their payload size), then once to fill
 * arrays allocated once from the arena. */
#include "proto/otlp_metrics.h"

#include <stddef.h>
#include <string.h>

#include "lib/err.h"
#include "lib/jsonparse.h"
#include "proto/pbread.h"

static const char M_REQ[] =
    "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest";
static const char M_RM[] = "opentelemetry.proto.metrics.v1.ResourceMetrics";
static const char M_SM[] = "opentelemetry.proto.metrics.v1.ScopeMetrics";
static const char M_METRIC[] = "opentelemetry.proto.metrics.v1.Metric";
static const char M_DATA[] = "opentelemetry.proto.metrics.v1.Metric.data";
static const char M_BUCKETS[] =
    "opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint.Buckets";
static const char M_VAQ[] =
    "opentelemetry.proto.metrics.v1.SummaryDataPoint.ValueAtQuantile";
static const char M_EX[] = "opentelemetry.proto.metrics.v1.Exemplar";

enum pt_kind { PT_NUMBER, PT_HIST, PT_EXP, PT_SUMMARY };

/* Field numbers of a point type: attributes, exemplars, flags, the two
 * repeated 64-bit scalars (histograms) and the quantiles (summaries); 0 =
 * none. */
static const struct pt_spec {
    const char *msg;
    size_t size;
    uint32_t attrs, exemplars, flags, rep1, rep2, quantiles;
} pt_specs[] = {
    [PT_NUMBER] = {"opentelemetry.proto.metrics.v1.NumberDataPoint",
                   sizeof(struct tr_otlp_number_point), 7, 5, 8, 0, 0, 0},
    [PT_HIST] = {"opentelemetry.proto.metrics.v1.HistogramDataPoint",
                 sizeof(struct tr_otlp_histogram_point), 9, 8, 10, 6, 7, 0},
    [PT_EXP] = {"opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint",
                sizeof(struct tr_otlp_exp_histogram_point), 1, 11, 10, 0, 0, 0},
    [PT_SUMMARY] = {"opentelemetry.proto.metrics.v1.SummaryDataPoint",
                    sizeof(struct tr_otlp_summary_point), 7, 0, 8, 0, 0, 6},
};

/* ---- repeated scalars ------------------------------------------------------
 */

/* Counts the elements of one record of a repeated 64-bit field (fixed64 or
 * double): packed (LEN, a multiple of 8 bytes) or not (I64). */
static int rep64_count(const struct tr_pb_rd *rd,
                       struct tr_cursor *c,
                       const uint8_t *at,
                       const char *msg,
                       uint32_t field,
                       unsigned wt,
                       size_t *n)
{
    if (wt == WT_I64) {
        if (tr_cursor_left(c) < 8) {
            return tr_pb_fail(rd, at, msg, "truncated field %u", field);
        }
        c->p += 8;
        *n += 1;
        return 0;
    }
    struct tr_cursor sub;
    int rv = tr_pb_want(rd, at, msg, field, wt, WT_LEN);
    if (rv == 0) {
        rv = tr_pb_len(rd, c, msg, field, &sub);
    }
    if (rv == 0 && tr_cursor_left(&sub) % 8 != 0) {
        rv = tr_pb_fail(rd, at, msg,
                        "packed field %u is not a multiple of 8 bytes", field);
    }
    if (rv == 0) {
        *n += tr_cursor_left(&sub) / 8;
    }
    return rv;
}

/* Appends one record of a repeated 64-bit field (counted before, so well
 * formed) to out[*k]. */
static void rep64_fill(struct tr_cursor *c,
                       unsigned wt,
                       uint64_t *out,
                       size_t *k)
{
    size_t n = 1;
    if (wt == WT_LEN) {
        uint64_t len = 0;
        (void)tr_pb_uvarint(c, &len);
        n = (size_t)len / 8;
    }
    for (size_t i = 0; i < n; i++) {
        out[(*k)++] = tr_pb_load_u64le(c->p + 8 * i);
    }
    c->p += 8 * n;
}

/* One record of a repeated varint field, packed or not: counted into *k,
 * and stored at out[*k] when out is not NULL. */
static int repv(const struct tr_pb_rd *rd,
                struct tr_cursor *c,
                const uint8_t *at,
                const char *msg,
                uint32_t field,
                unsigned wt,
                uint64_t *out,
                size_t *k)
{
    uint64_t v;
    struct tr_cursor sub;
    int rv = 0;
    if (wt == WT_VARINT) {
        sub = *c; /* one element, read in place */
    } else {
        rv = tr_pb_want(rd, at, msg, field, wt, WT_LEN);
        if (rv == 0) {
            rv = tr_pb_len(rd, c, msg, field, &sub);
        }
    }
    do {
        rv = rv != 0 ? rv : tr_pb_u64(rd, &sub, msg, field, &v);
        if (rv == 0 && out != NULL) {
            out[*k] = v;
        }
        *k += rv == 0;
    } while (rv == 0 && wt != WT_VARINT && sub.p < sub.end);
    if (wt == WT_VARINT) {
        c->p = sub.p;
    }
    return rv;
}

static int32_t zigzag32(uint64_t u)
{
    uint32_t x = (uint32_t)u;
    return (int32_t)((x >> 1) ^ (0u - (x & 1)));
}

/* ---- small messages ------------------------------------------------------
 */

static int pb_exemplar(const struct tr_pb_rd *rd,
                       struct tr_cursor c,
                       struct tr_arena *a,
                       struct tr_otlp_exemplar *out)
{
    memset(out, 0, sizeof(*out));
    size_t n;
    int rv = tr_otlp_pb_count(rd, c, M_EX, 7, &n);
    struct tr_otlp_kv *attrs = tr_pb_array(a, n, sizeof(*attrs), &rv);
    while (rv == 0 && c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        uint64_t u = 0;
        struct tr_cursor sub;
        rv = tr_pb_tag(rd, &c, M_EX, &field, &wt);
        if (rv == 0 && field == 7) {
            rv = tr_otlp_pb_msg(rd, &c, at, M_EX, field, wt, &sub);
            if (rv == 0) {
                rv = tr_otlp_pb_kv(rd, sub, a, 0, &attrs[out->n_attrs++]);
            }
        } else if (rv == 0 && field == 2) {
            rv = tr_otlp_pb_fixed64(rd, &c, at, M_EX, field, wt,
                                    &out->time_unix_nano);
        } else if (rv == 0 && (field == 3 || field == 6)) {
            rv = tr_otlp_pb_fixed64(rd, &c, at, M_EX, field, wt, &u);
            out->is_int = field == 6;
            out->d = field == 3 ? tr_pb_bits_to_double(u) : 0;
            out->i = field == 6 ? (int64_t)u : 0;
        } else if (rv == 0 && field == 4) {
            rv = tr_otlp_pb_id(rd, &c, at, M_EX, "span_id", field, wt, 8,
                               &out->span_id);
        } else if (rv == 0 && field == 5) {
            rv = tr_otlp_pb_id(rd, &c, at, M_EX, "trace_id", field, wt, 16,
                               &out->trace_id);
        } else if (rv == 0) {
            rv = tr_pb_skip(rd, &c, M_EX, field, wt);
        }
    }
    out->attrs = attrs;
    return rv;
}

static int pb_quantile(const struct tr_pb_rd *rd,
                       struct tr_cursor c,
                       struct tr_otlp_quantile *out)
{
    memset(out, 0, sizeof(*out));
    int rv = 0;
    while (rv == 0 && c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        uint64_t u = 0;
        rv = tr_pb_tag(rd, &c, M_VAQ, &field, &wt);
        if (rv == 0 && (field == 1 || field == 2)) {
            rv = tr_otlp_pb_fixed64(rd, &c, at, M_VAQ, field, wt, &u);
            *(field == 1 ? &out->quantile : &out->value) =
                tr_pb_bits_to_double(u);
        } else if (rv == 0) {
            rv = tr_pb_skip(rd, &c, M_VAQ, field, wt);
        }
    }
    return rv;
}

static int pb_buckets(const struct tr_pb_rd *rd,
                      struct tr_cursor c,
                      struct tr_arena *a,
                      struct tr_otlp_exp_buckets *out)
{
    memset(out, 0, sizeof(*out));
    size_t n = 0;
    int rv = 0;
    for (int pass = 0; pass < 2 && rv == 0; pass++) {
        struct tr_cursor w = c;
        uint64_t *counts = NULL;
        if (pass == 1) {
            counts = tr_pb_array(a, n, sizeof(*counts), &rv);
            n = 0;
        }
        while (rv == 0 && w.p < w.end) {
            const uint8_t *at = w.p;
            uint32_t field;
            unsigned wt;
            uint64_t u = 0;
            rv = tr_pb_tag(rd, &w, M_BUCKETS, &field, &wt);
            if (rv == 0 && field == 1) {
                rv = tr_otlp_pb_varint(rd, &w, at, M_BUCKETS, field, wt, &u);
                out->offset = zigzag32(u);
            } else if (rv == 0 && field == 2) {
                rv = repv(rd, &w, at, M_BUCKETS, field, wt, counts, &n);
            } else if (rv == 0) {
                rv = tr_pb_skip(rd, &w, M_BUCKETS, field, wt);
            }
        }
        if (pass == 1) {
            out->counts = counts;
            out->n_counts = n;
        }
    }
    return rv;
}

/* ---- data points ---------------------------------------------------------
 */

struct pt_counts {
    size_t attrs, exemplars, rep1, rep2, quantiles;
};

/* The first walk of a point: its repeated fields counted, every tag and
 * length checked. */
static int pt_count(const struct tr_pb_rd *rd,
                    struct tr_cursor c,
                    const struct pt_spec *s,
                    struct pt_counts *k)
{
    int rv = 0;
    memset(k, 0, sizeof(*k));
    while (rv == 0 && c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        struct tr_cursor sub;
        rv = tr_pb_tag(rd, &c, s->msg, &field, &wt);
        if (rv != 0) {
            break;
        }
        if (field == s->attrs || field == s->exemplars ||
            (s->quantiles && field == s->quantiles)) {
            rv = tr_otlp_pb_msg(rd, &c, at, s->msg, field, wt, &sub);
            *(field == s->attrs       ? &k->attrs
              : field == s->exemplars ? &k->exemplars
                                      : &k->quantiles) += 1;
        } else if (s->rep1 && (field == s->rep1 || field == s->rep2)) {
            rv = rep64_count(rd, &c, at, s->msg, field, wt,
                             field == s->rep1 ? &k->rep1 : &k->rep2);
        } else {
            rv = tr_pb_skip(rd, &c, s->msg, field, wt);
        }
    }
    return rv;
}

/* An optional double of a histogram point into *v, *has set. */
static int pt_opt_double(const struct tr_pb_rd *rd,
                         struct tr_cursor *c,
                         const uint8_t *at,
                         const char *msg,
                         uint32_t field,
                         unsigned wt,
                         double *v,
                         bool *has)
{
    uint64_t u = 0;
    int rv = tr_otlp_pb_fixed64(rd, c, at, msg, field, wt, &u);
    *v = tr_pb_bits_to_double(u);
    *has = rv == 0;
    return rv;
}

/* A field of a point that is not one of the common ones. */
static int pt_field(const struct tr_pb_rd *rd,
                    struct tr_cursor *c,
                    const uint8_t *at,
                    enum pt_kind kind,
                    uint32_t field,
                    unsigned wt,
                    struct tr_arena *a,
                    void *out)
{
    const char *msg = pt_specs[kind].msg;
    uint64_t u = 0;
    int rv;
    struct tr_cursor sub;
    if (kind == PT_NUMBER && (field == 4 || field == 6)) {
        struct tr_otlp_number_point *p = out;
        rv = tr_otlp_pb_fixed64(rd, c, at, msg, field, wt, &u);
        p->is_int = field == 6;
        p->d = field == 4 ? tr_pb_bits_to_double(u) : 0;
        p->i = field == 6 ? (int64_t)u : 0;
        return rv;
    }
    if (kind == PT_HIST && field >= 4 && field <= 12 && field != 6 &&
        field != 7 && field != 8 && field != 9 && field != 10) {
        struct tr_otlp_histogram_point *p = out;
        if (field == 4) {
            return tr_otlp_pb_fixed64(rd, c, at, msg, field, wt, &p->count);
        }
        return pt_opt_double(rd, c, at, msg, field, wt,
                             field == 5    ? &p->sum
                             : field == 11 ? &p->min
                                           : &p->max,
                             field == 5    ? &p->has_sum
                             : field == 11 ? &p->has_min
                                           : &p->has_max);
    }
    if (kind == PT_EXP) {
        struct tr_otlp_exp_histogram_point *p = out;
        switch (field) {
            case 4:
                return tr_otlp_pb_fixed64(rd, c, at, msg, field, wt, &p->count);
            case 5:
                return pt_opt_double(rd, c, at, msg, field, wt, &p->sum,
                                     &p->has_sum);
            case 6:
                rv = tr_otlp_pb_varint(rd, c, at, msg, field, wt, &u);
                p->scale = zigzag32(u);
                return rv;
            case 7:
                return tr_otlp_pb_fixed64(rd, c, at, msg, field, wt,
                                          &p->zero_count);
            case 8:
            case 9:
                rv = tr_otlp_pb_msg(rd, c, at, msg, field, wt, &sub);
                return rv != 0 ? rv
                               : pb_buckets(
                                     rd, sub, a,
                                     field == 8 ? &p->positive : &p->negative);
            case 12:
                return pt_opt_double(rd, c, at, msg, field, wt, &p->min,
                                     &p->has_min);
            case 13:
                return pt_opt_double(rd, c, at, msg, field, wt, &p->max,
                                     &p->has_max);
            case 14: {
                bool has;
                return pt_opt_double(rd, c, at, msg, field, wt,
                                     &p->zero_threshold, &has);
            }
            default:
                break;
        }
    }
    if (kind == PT_SUMMARY && (field == 4 || field == 5)) {
        struct tr_otlp_summary_point *p = out;
        if (field == 4) {
            return tr_otlp_pb_fixed64(rd, c, at, msg, field, wt, &p->count);
        }
        rv = tr_otlp_pb_fixed64(rd, c, at, msg, field, wt, &u);
        p->sum = tr_pb_bits_to_double(u);
        return rv;
    }
    return tr_pb_skip(rd, c, msg, field, wt);
}

static int pb_point(const struct tr_pb_rd *rd,
                    struct tr_cursor c,
                    struct tr_arena *a,
                    enum pt_kind kind,
                    void *out)
{
    const struct pt_spec *s = &pt_specs[kind];
    struct tr_otlp_point_common *pc = out; /* each point's first member */
    memset(out, 0, s->size);
    struct pt_counts k;
    int rv = pt_count(rd, c, s, &k);
    struct tr_otlp_kv *attrs = tr_pb_array(a, k.attrs, sizeof(*attrs), &rv);
    struct tr_otlp_exemplar *ex = tr_pb_array(a, k.exemplars, sizeof(*ex), &rv);
    uint64_t *rep1 = tr_pb_array(a, k.rep1, sizeof(*rep1), &rv);
    uint64_t *rep2 = tr_pb_array(a, k.rep2, sizeof(*rep2), &rv);
    struct tr_otlp_quantile *q = tr_pb_array(a, k.quantiles, sizeof(*q), &rv);
    size_t n1 = 0, n2 = 0, nq = 0;
    while (rv == 0 && c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        uint64_t u = 0;
        struct tr_cursor sub;
        rv = tr_pb_tag(rd, &c, s->msg, &field, &wt);
        if (rv != 0) {
            break;
        }
        if (field == s->attrs) {
            rv = tr_otlp_pb_msg(rd, &c, at, s->msg, field, wt, &sub);
            if (rv == 0) {
                rv = tr_otlp_pb_kv(rd, sub, a, 0, &attrs[pc->n_attrs++]);
            }
        } else if (field == s->exemplars) {
            rv = tr_otlp_pb_msg(rd, &c, at, s->msg, field, wt, &sub);
            if (rv == 0) {
                rv = pb_exemplar(rd, sub, a, &ex[pc->n_exemplars++]);
            }
        } else if (s->quantiles && field == s->quantiles) {
            rv = tr_otlp_pb_msg(rd, &c, at, s->msg, field, wt, &sub);
            if (rv == 0) {
                rv = pb_quantile(rd, sub, &q[nq++]);
            }
        } else if (s->rep1 && field == s->rep1) {
            rep64_fill(&c, wt, rep1, &n1);
        } else if (s->rep1 && field == s->rep2) {
            rep64_fill(&c, wt, rep2, &n2);
        } else if (field == 2 || field == 3) {
            rv = tr_otlp_pb_fixed64(
                rd, &c, at, s->msg, field, wt,
                field == 2 ? &pc->start_time_unix_nano : &pc->time_unix_nano);
        } else if (field == s->flags) {
            rv = tr_otlp_pb_varint(rd, &c, at, s->msg, field, wt, &u);
            pc->flags = (uint32_t)u;
        } else {
            rv = pt_field(rd, &c, at, kind, field, wt, a, out);
        }
    }
    pc->attrs = attrs;
    pc->exemplars = ex;
    if (kind == PT_HIST) {
        struct tr_otlp_histogram_point *p = out;
        p->bucket_counts = rep1;
        p->n_bucket_counts = n1;
        double *bounds = tr_pb_array(a, n2, sizeof(*bounds), &rv);
        for (size_t i = 0; bounds != NULL && i < n2; i++) {
            bounds[i] = tr_pb_bits_to_double(rep2[i]);
        }
        p->bounds = bounds;
        p->n_bounds = bounds != NULL ? n2 : 0;
    } else if (kind == PT_SUMMARY) {
        struct tr_otlp_summary_point *p = out;
        p->quantiles = q;
        p->n_quantiles = nq;
    }
    return rv;
}

/* ---- metrics -------------------------------------------------------------
 */

/* The point type of a metric type. */
static enum pt_kind kind_of(uint8_t type)
{
    return type == TR_OTLP_METRIC_HISTOGRAM       ? PT_HIST
           : type == TR_OTLP_METRIC_EXP_HISTOGRAM ? PT_EXP
           : type == TR_OTLP_METRIC_SUMMARY       ? PT_SUMMARY
                                                  : PT_NUMBER;
}

/* A data member (Gauge, Sum, Histogram, ExponentialHistogram, Summary). */
static int pb_data(const struct tr_pb_rd *rd,
                   struct tr_cursor c,
                   struct tr_arena *a,
                   uint8_t type,
                   struct tr_otlp_metric *out)
{
    enum pt_kind kind = kind_of(type);
    size_t n, size = pt_specs[kind].size;
    int rv = tr_otlp_pb_count(rd, c, M_DATA, 1, &n);
    char *points = tr_pb_array(a, n, size, &rv);
    out->type = type;
    out->temporality = 0;
    out->monotonic = false;
    out->n_points = 0;
    while (rv == 0 && c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        uint64_t u = 0;
        struct tr_cursor sub;
        rv = tr_pb_tag(rd, &c, M_DATA, &field, &wt);
        if (rv == 0 && field == 1) {
            rv = tr_otlp_pb_msg(rd, &c, at, M_DATA, field, wt, &sub);
            if (rv == 0) {
                rv =
                    pb_point(rd, sub, a, kind, points + size * out->n_points++);
            }
        } else if (rv == 0 && field == 2 && type != TR_OTLP_METRIC_GAUGE &&
                   type != TR_OTLP_METRIC_SUMMARY) {
            rv = tr_otlp_pb_varint(rd, &c, at, M_DATA, field, wt, &u);
            out->temporality = (int32_t)(uint32_t)u;
        } else if (rv == 0 && field == 3 && type == TR_OTLP_METRIC_SUM) {
            rv = tr_otlp_pb_varint(rd, &c, at, M_DATA, field, wt, &u);
            out->monotonic = u != 0;
        } else if (rv == 0) {
            rv = tr_pb_skip(rd, &c, M_DATA, field, wt);
        }
    }
    out->points = points;
    return rv;
}

static int pb_metric(const struct tr_pb_rd *rd,
                     struct tr_cursor c,
                     struct tr_arena *a,
                     void *vout)
{
    struct tr_otlp_metric *out = vout;
    memset(out, 0, sizeof(*out));
    size_t n;
    int rv = tr_otlp_pb_count(rd, c, M_METRIC, 12, &n);
    struct tr_otlp_kv *meta = tr_pb_array(a, n, sizeof(*meta), &rv);
    while (rv == 0 && c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        struct tr_cursor sub;
        rv = tr_pb_tag(rd, &c, M_METRIC, &field, &wt);
        if (rv != 0) {
            break;
        }
        switch (field) {
            case 1:
            case 2:
            case 3:
                rv = tr_otlp_pb_str(rd, &c, at, M_METRIC, field, wt,
                                    field == 1   ? &out->name
                                    : field == 2 ? &out->description
                                                 : &out->unit);
                break;
            case 5:
            case 7:
            case 9:
            case 10:
            case 11:
                rv = tr_otlp_pb_msg(rd, &c, at, M_METRIC, field, wt, &sub);
                if (rv == 0) {
                    rv = pb_data(rd, sub, a,
                                 field == 5    ? TR_OTLP_METRIC_GAUGE
                                 : field == 7  ? TR_OTLP_METRIC_SUM
                                 : field == 9  ? TR_OTLP_METRIC_HISTOGRAM
                                 : field == 10 ? TR_OTLP_METRIC_EXP_HISTOGRAM
                                               : TR_OTLP_METRIC_SUMMARY,
                                 out);
                }
                break;
            case 12:
                rv = tr_otlp_pb_msg(rd, &c, at, M_METRIC, field, wt, &sub);
                if (rv == 0) {
                    rv = tr_otlp_pb_kv(rd, sub, a, 0, &meta[out->n_metadata++]);
                }
                break;
            default:
                rv = tr_pb_skip(rd, &c, M_METRIC, field, wt);
                break;
        }
    }
    out->metadata = meta;
    return rv;
}

/* ---- OTLP/JSON -----------------------------------------------------------
 */

static const char *const temporality_names[] = {
    "AGGREGATION_TEMPORALITY_UNSPECIFIED",
    "AGGREGATION_TEMPORALITY_DELTA",
    "AGGREGATION_TEMPORALITY_CUMULATIVE",
};

static int j_u64_item(struct tr_otlp_json *j, long v, void *out, const void *a)
{
    (void)a;
    return tr_otlp_json_u64(j, v, out);
}

static int j_double_item(struct tr_otlp_json *j,
                         long v,
                         void *out,
                         const void *a)
{
    (void)a;
    return tr_otlp_json_double(j, v, out);
}

/* An array of uint64 (or double) into *items, *n. */
static int j_u64s(struct tr_otlp_json *j,
                  long v,
                  const uint64_t **items,
                  size_t *n)
{
    void *list;
    int rv =
        tr_otlp_json_list(j, v, sizeof(uint64_t), j_u64_item, NULL, &list, n);
    *items = list;
    return rv;
}

/* exemplars */
static int jx_as_double(struct tr_otlp_json *j, long v, void *out)
{
    struct tr_otlp_exemplar *x = out;
    x->is_int = false;
    x->i = 0;
    return tr_otlp_json_double(j, v, &x->d);
}

static int jx_as_int(struct tr_otlp_json *j, long v, void *out)
{
    struct tr_otlp_exemplar *x = out;
    x->is_int = true;
    x->d = 0;
    return tr_otlp_json_i64(j, v, &x->i);
}

static const struct tr_otlp_jfield exemplar_fields[] = {
    TR_OTLP_JF("filteredAttributes",
               "filtered_attributes",
               TR_OTLP_J_KVS,
               struct tr_otlp_exemplar,
               attrs,
               offsetof(struct tr_otlp_exemplar, n_attrs)),
    TR_OTLP_JF("timeUnixNano",
               "time_unix_nano",
               TR_OTLP_J_U64,
               struct tr_otlp_exemplar,
               time_unix_nano,
               0),
    TR_OTLP_JF_CALL("asDouble", "as_double", jx_as_double),
    TR_OTLP_JF_CALL("asInt", "as_int", jx_as_int),
    TR_OTLP_JF("spanId",
               "span_id",
               TR_OTLP_J_ID,
               struct tr_otlp_exemplar,
               span_id,
               8),
    TR_OTLP_JF("traceId",
               "trace_id",
               TR_OTLP_J_ID,
               struct tr_otlp_exemplar,
               trace_id,
               16),
};

static const struct tr_otlp_jmsg exemplar_msg = {
    "Exemplar", sizeof(struct tr_otlp_exemplar), exemplar_fields,
    TR_OTLP_JF_N(exemplar_fields)};

#define JF_COMMON(type)                                                        \
    TR_OTLP_JF_KVS(type, c.attrs, c.n_attrs),                                  \
        TR_OTLP_JF("startTimeUnixNano", "start_time_unix_nano", TR_OTLP_J_U64, \
                   type, c.start_time_unix_nano, 0),                           \
        TR_OTLP_JF("timeUnixNano", "time_unix_nano", TR_OTLP_J_U64, type,      \
                   c.time_unix_nano, 0),                                       \
        TR_OTLP_JF("flags", NULL, TR_OTLP_J_U32, type, c.flags, 0),            \
        TR_OTLP_JF_LIST("exemplars", NULL, type, c.exemplars, c.n_exemplars,   \
                        &exemplar_msg)

/* number points */
static int jn_as_double(struct tr_otlp_json *j, long v, void *out)
{
    struct tr_otlp_number_point *p = out;
    p->is_int = false;
    p->i = 0;
    return tr_otlp_json_double(j, v, &p->d);
}

static int jn_as_int(struct tr_otlp_json *j, long v, void *out)
{
    struct tr_otlp_number_point *p = out;
    p->is_int = true;
    p->d = 0;
    return tr_otlp_json_i64(j, v, &p->i);
}

static const struct tr_otlp_jfield number_fields[] = {
    JF_COMMON(struct tr_otlp_number_point),
    TR_OTLP_JF_CALL("asDouble", "as_double", jn_as_double),
    TR_OTLP_JF_CALL("asInt", "as_int", jn_as_int),
};

/* histogram points */
static int jh_buckets(struct tr_otlp_json *j, long v, void *out)
{
    struct tr_otlp_histogram_point *p = out;
    return j_u64s(j, v, &p->bucket_counts, &p->n_bucket_counts);
}

static int jh_bounds(struct tr_otlp_json *j, long v, void *out)
{
    struct tr_otlp_histogram_point *p = out;
    void *list;
    int rv = tr_otlp_json_list(j, v, sizeof(double), j_double_item, NULL, &list,
                               &p->n_bounds);
    p->bounds = list;
    return rv;
}

#define JF_OPT(camel, type, field, has) \
    TR_OTLP_JF(camel, NULL, TR_OTLP_J_DOUBLE, type, field, offsetof(type, has))

static const struct tr_otlp_jfield histogram_fields[] = {
    JF_COMMON(struct tr_otlp_histogram_point),
    TR_OTLP_JF("count",
               NULL,
               TR_OTLP_J_U64,
               struct tr_otlp_histogram_point,
               count,
               0),
    JF_OPT("sum", struct tr_otlp_histogram_point, sum, has_sum),
    JF_OPT("min", struct tr_otlp_histogram_point, min, has_min),
    JF_OPT("max", struct tr_otlp_histogram_point, max, has_max),
    TR_OTLP_JF_CALL("bucketCounts", "bucket_counts", jh_buckets),
    TR_OTLP_JF_CALL("explicitBounds", "explicit_bounds", jh_bounds),
};

/* exponential histogram points */
static int jb_counts(struct tr_otlp_json *j, long v, void *out)
{
    struct tr_otlp_exp_buckets *b = out;
    return j_u64s(j, v, &b->counts, &b->n_counts);
}

static const struct tr_otlp_jfield bucket_fields[] = {
    TR_OTLP_JF("offset",
               NULL,
               TR_OTLP_J_I32,
               struct tr_otlp_exp_buckets,
               offset,
               0),
    TR_OTLP_JF_CALL("bucketCounts", "bucket_counts", jb_counts),
};

static const struct tr_otlp_jmsg bucket_msg = {
    "Buckets", sizeof(struct tr_otlp_exp_buckets), bucket_fields,
    TR_OTLP_JF_N(bucket_fields)};

static const struct tr_otlp_jfield exp_fields[] = {
    JF_COMMON(struct tr_otlp_exp_histogram_point),
    TR_OTLP_JF("count",
               NULL,
               TR_OTLP_J_U64,
               struct tr_otlp_exp_histogram_point,
               count,
               0),
    JF_OPT("sum", struct tr_otlp_exp_histogram_point, sum, has_sum),
    JF_OPT("min", struct tr_otlp_exp_histogram_point, min, has_min),
    JF_OPT("max", struct tr_otlp_exp_histogram_point, max, has_max),
    TR_OTLP_JF("scale",
               NULL,
               TR_OTLP_J_I32,
               struct tr_otlp_exp_histogram_point,
               scale,
               0),
    TR_OTLP_JF("zeroCount",
               "zero_count",
               TR_OTLP_J_U64,
               struct tr_otlp_exp_histogram_point,
               zero_count,
               0),
    TR_OTLP_JF("zeroThreshold",
               "zero_threshold",
               TR_OTLP_J_DOUBLE,
               struct tr_otlp_exp_histogram_point,
               zero_threshold,
               0),
    TR_OTLP_JF_MSG("positive",
                   NULL,
                   struct tr_otlp_exp_histogram_point,
                   positive,
                   &bucket_msg),
    TR_OTLP_JF_MSG("negative",
                   NULL,
                   struct tr_otlp_exp_histogram_point,
                   negative,
                   &bucket_msg),
};

/* summary points */
static const struct tr_otlp_jfield quantile_fields[] = {
    TR_OTLP_JF("quantile",
               NULL,
               TR_OTLP_J_DOUBLE,
               struct tr_otlp_quantile,
               quantile,
               0),
    TR_OTLP_JF("value",
               NULL,
               TR_OTLP_J_DOUBLE,
               struct tr_otlp_quantile,
               value,
               0),
};

static const struct tr_otlp_jmsg quantile_msg = {
    "ValueAtQuantile", sizeof(struct tr_otlp_quantile), quantile_fields,
    TR_OTLP_JF_N(quantile_fields)};

static const struct tr_otlp_jfield summary_fields[] = {
    JF_COMMON(struct tr_otlp_summary_point),
    TR_OTLP_JF("count",
               NULL,
               TR_OTLP_J_U64,
               struct tr_otlp_summary_point,
               count,
               0),
    TR_OTLP_JF("sum",
               NULL,
               TR_OTLP_J_DOUBLE,
               struct tr_otlp_summary_point,
               sum,
               0),
    TR_OTLP_JF_LIST("quantileValues",
                    "quantile_values",
                    struct tr_otlp_summary_point,
                    quantiles,
                    n_quantiles,
                    &quantile_msg),
};

/* The point messages by kind. */
static const struct tr_otlp_jmsg point_msgs[] = {
    [PT_NUMBER] = {"NumberDataPoint", sizeof(struct tr_otlp_number_point),
                   number_fields, TR_OTLP_JF_N(number_fields)},
    [PT_HIST] = {"HistogramDataPoint", sizeof(struct tr_otlp_histogram_point),
                 histogram_fields, TR_OTLP_JF_N(histogram_fields)},
    [PT_EXP] = {"ExponentialHistogramDataPoint",
                sizeof(struct tr_otlp_exp_histogram_point), exp_fields,
                TR_OTLP_JF_N(exp_fields)},
    [PT_SUMMARY] = {"SummaryDataPoint", sizeof(struct tr_otlp_summary_point),
                    summary_fields, TR_OTLP_JF_N(summary_fields)},
};

static int j_point(struct tr_otlp_json *j, long v, void *out, const void *msg)
{
    return tr_otlp_json_msg(j, v, msg, out);
}

/* dataPoints: the metric's type (set by its data member) says which */
static int jd_points(struct tr_otlp_json *j, long v, void *out)
{
    struct tr_otlp_metric *m = out;
    const struct tr_otlp_jmsg *pm = &point_msgs[kind_of(m->type)];
    void *list;
    int rv =
        tr_otlp_json_list(j, v, pm->size, j_point, pm, &list, &m->n_points);
    m->points = list;
    return rv;
}

static const struct tr_otlp_jfield data_fields[] = {
    TR_OTLP_JF_CALL("dataPoints", "data_points", jd_points),
    TR_OTLP_JF_ENUM("aggregationTemporality",
                    "aggregation_temporality",
                    struct tr_otlp_metric,
                    temporality,
                    temporality_names),
    TR_OTLP_JF("isMonotonic",
               "is_monotonic",
               TR_OTLP_J_BOOL,
               struct tr_otlp_metric,
               monotonic,
               0),
};

/* A data member: the metric takes its type and its fields (the last one
 * decoded wins, as the oneof does). */
static int j_data(struct tr_otlp_json *j,
                  long v,
                  struct tr_otlp_metric *m,
                  uint8_t type)
{
    m->type = type;
    m->points = NULL;
    m->n_points = 0;
    m->temporality = 0;
    m->monotonic = false;
    return tr_otlp_json_fields(j, v, "Metric data", data_fields,
                               TR_OTLP_JF_N(data_fields), m);
}

static int jm_gauge(struct tr_otlp_json *j, long v, void *m)
{
    return j_data(j, v, m, TR_OTLP_METRIC_GAUGE);
}

static int jm_sum(struct tr_otlp_json *j, long v, void *m)
{
    return j_data(j, v, m, TR_OTLP_METRIC_SUM);
}

static int jm_histogram(struct tr_otlp_json *j, long v, void *m)
{
    return j_data(j, v, m, TR_OTLP_METRIC_HISTOGRAM);
}

static int jm_exp(struct tr_otlp_json *j, long v, void *m)
{
    return j_data(j, v, m, TR_OTLP_METRIC_EXP_HISTOGRAM);
}

static int jm_summary(struct tr_otlp_json *j, long v, void *m)
{
    return j_data(j, v, m, TR_OTLP_METRIC_SUMMARY);
}

static const struct tr_otlp_jfield metric_fields[] = {
    TR_OTLP_JF("name", NULL, TR_OTLP_J_STR, struct tr_otlp_metric, name, 0),
    TR_OTLP_JF("description",
               NULL,
               TR_OTLP_J_STR,
               struct tr_otlp_metric,
               description,
               0),
    TR_OTLP_JF("unit", NULL, TR_OTLP_J_STR, struct tr_otlp_metric, unit, 0),
    TR_OTLP_JF_CALL("gauge", NULL, jm_gauge),
    TR_OTLP_JF_CALL("sum", NULL, jm_sum),
    TR_OTLP_JF_CALL("histogram", NULL, jm_histogram),
    TR_OTLP_JF_CALL("exponentialHistogram", "exponential_histogram", jm_exp),
    TR_OTLP_JF_CALL("summary", NULL, jm_summary),
    TR_OTLP_JF("metadata",
               NULL,
               TR_OTLP_J_KVS,
               struct tr_otlp_metric,
               metadata,
               offsetof(struct tr_otlp_metric, n_metadata)),
};

static const struct tr_otlp_jmsg metric_msg = {
    "Metric", sizeof(struct tr_otlp_metric), metric_fields,
    TR_OTLP_JF_N(metric_fields)};

static const struct tr_otlp_signal metrics_signal = {
    .what = "otlp metrics",
    .m_request = M_REQ,
    .m_resource = M_RM,
    .m_scope = M_SM,
    .pb_resources = "resource_metrics",
    .json_resources = {"resourceMetrics", "resource_metrics"},
    .json_scopes = {"scopeMetrics", "scope_metrics"},
    .json_items = {"metrics", NULL},
    .item_size = sizeof(struct tr_otlp_metric),
    .pb_item = pb_metric,
    .json_item = &metric_msg,
};

/* The request's groups as the metrics result (empty after an error). */
static int metrics_from_groups(int rv,
                               const struct tr_otlp_groups *g,
                               size_t len,
                               struct tr_otlp_metrics *out)
{
    memset(out, 0, sizeof(*out));
    if (rv != 0) {
        return rv;
    }
    out->resources = g->resources;
    out->n_resources = g->n_resources;
    out->n_metrics = g->n_items;
    out->body_len = len;
    for (size_t r = 0; r < g->n_resources; r++) {
        for (size_t s = 0; s < g->resources[r].n_scopes; s++) {
            const struct tr_otlp_scope_group *sg = &g->resources[r].scopes[s];
            const struct tr_otlp_metric *m = sg->items;
            for (size_t i = 0; i < sg->n_items; i++) {
                out->n_points += m[i].n_points;
            }
        }
    }
    return 0;
}

int tr_otlp_metrics_decode(const void *buf,
                           size_t len,
                           struct tr_arena *a,
                           struct tr_otlp_metrics *out,
                           char *errmsg)
{
    struct tr_otlp_groups g;
    int rv = tr_otlp_groups_decode(&metrics_signal, buf, len, a, &g, errmsg);
    return metrics_from_groups(rv, &g, len, out);
}

int tr_otlp_metrics_decode_json(const void *buf,
                                size_t len,
                                struct tr_arena *a,
                                struct tr_otlp_metrics *out,
                                char *errmsg)
{
    struct tr_otlp_groups g;
    int rv =
        tr_otlp_groups_decode_json(&metrics_signal, buf, len, a, &g, errmsg);
    return metrics_from_groups(rv, &g, len, out);
}
