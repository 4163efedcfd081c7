/* otlp_logs.c - OTLP logs decoding and the mapping to Loki streams
 * (otlp_logs.h).
 *
 * Decoding follows proto/loki_push.c: each message is walked once to
 * count its repeated sub-messages, then decoded into arrays allocated once
 * from the arena. The nesting is fixed (request > resource_logs >
 * scope_logs > log record), AnyValue recursion is bounded in
 * otlp_common.c.
 *
 * The mapping builds each resource's label set and metadata first, groups
 * resources with equal label sets by sorting them (no quadratic search),
 * numbers the streams in order of first appearance, then fills every
 * stream's entries in record order. */
#include "proto/otlp_logs.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/jsonparse.h"
#include "proto/otlp_groups.h"
#include "proto/pbread.h"

static const char M_REQ[] =
    "opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest";
static const char M_RL[] = "opentelemetry.proto.logs.v1.ResourceLogs";
static const char M_SL[] = "opentelemetry.proto.logs.v1.ScopeLogs";
static const char M_REC[] = "opentelemetry.proto.logs.v1.LogRecord";

const char *const tr_otlp_loki_index_attrs[] = {
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
    NULL,
};

/* Loki's default discover_service_name list (pkg/validation/limits.go). */
static const char *const discover_service_name[] = {
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
    NULL,
};

static const char *const severity_names[] = {
    "SEVERITY_NUMBER_UNSPECIFIED", "SEVERITY_NUMBER_TRACE",
    "SEVERITY_NUMBER_TRACE2",      "SEVERITY_NUMBER_TRACE3",
    "SEVERITY_NUMBER_TRACE4",      "SEVERITY_NUMBER_DEBUG",
    "SEVERITY_NUMBER_DEBUG2",      "SEVERITY_NUMBER_DEBUG3",
    "SEVERITY_NUMBER_DEBUG4",      "SEVERITY_NUMBER_INFO",
    "SEVERITY_NUMBER_INFO2",       "SEVERITY_NUMBER_INFO3",
    "SEVERITY_NUMBER_INFO4",       "SEVERITY_NUMBER_WARN",
    "SEVERITY_NUMBER_WARN2",       "SEVERITY_NUMBER_WARN3",
    "SEVERITY_NUMBER_WARN4",       "SEVERITY_NUMBER_ERROR",
    "SEVERITY_NUMBER_ERROR2",      "SEVERITY_NUMBER_ERROR3",
    "SEVERITY_NUMBER_ERROR4",      "SEVERITY_NUMBER_FATAL",
    "SEVERITY_NUMBER_FATAL2",      "SEVERITY_NUMBER_FATAL3",
    "SEVERITY_NUMBER_FATAL4",
};

/* ---- protobuf ------------------------------------------------------------
 */

static int dec_record(const struct tr_pb_rd *rd,
                      struct tr_cursor c,
                      struct tr_arena *a,
                      struct tr_otlp_log_record *out)
{
    memset(out, 0, sizeof(*out));
    size_t n;
    int rv = tr_otlp_pb_count(rd, c, M_REC, 6, &n);
    struct tr_otlp_kv *attrs = tr_pb_array(a, n, sizeof(*attrs), &rv);
    while (rv == 0 && c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        uint64_t u = 0;
        struct tr_cursor sub;
        rv = tr_pb_tag(rd, &c, M_REC, &field, &wt);
        if (rv != 0) {
            break;
        }
        switch (field) {
            case 1:
                rv = tr_otlp_pb_fixed64(rd, &c, at, M_REC, field, wt,
                                        &out->time_unix_nano);
                break;
            case 11:
                rv = tr_otlp_pb_fixed64(rd, &c, at, M_REC, field, wt,
                                        &out->observed_time_unix_nano);
                break;
            case 2:
                rv = tr_otlp_pb_varint(rd, &c, at, M_REC, field, wt, &u);
                /* an int32 enum: Go keeps the low 32 bits */
                out->severity_number = (int32_t)(uint32_t)u;
                break;
            case 3:
                rv = tr_otlp_pb_str(rd, &c, at, M_REC, field, wt,
                                    &out->severity_text);
                break;
            case 5:
            case 6:
                rv = tr_pb_want(rd, at, M_REC, field, wt, WT_LEN);
                if (rv == 0) {
                    rv = tr_pb_len(rd, &c, M_REC, field, &sub);
                }
                if (rv == 0 && field == 5) {
                    rv = tr_otlp_pb_value(rd, sub, a, 0, &out->body);
                } else if (rv == 0) {
                    rv = tr_otlp_pb_kv(rd, sub, a, 0, &attrs[out->n_attrs++]);
                }
                break;
            case 7:
                rv = tr_otlp_pb_varint(rd, &c, at, M_REC, field, wt, &u);
                out->dropped_attributes_count = (uint32_t)u;
                break;
            case 8:
                rv = tr_otlp_pb_fixed32(rd, &c, at, M_REC, field, wt,
                                        &out->flags);
                break;
            case 9:
                rv = tr_otlp_pb_id(rd, &c, at, M_REC, "trace_id", field, wt, 16,
                                   &out->trace_id);
                break;
            case 10:
                rv = tr_otlp_pb_id(rd, &c, at, M_REC, "span_id", field, wt, 8,
                                   &out->span_id);
                break;
            case 12:
                rv = tr_otlp_pb_str(rd, &c, at, M_REC, field, wt,
                                    &out->event_name);
                break;
            default:
                rv = tr_pb_skip(rd, &c, M_REC, field, wt);
                break;
        }
    }
    out->attrs = attrs;
    return rv;
}

static int pb_record_item(const struct tr_pb_rd *rd,
                          struct tr_cursor c,
                          struct tr_arena *a,
                          void *out)
{
    return dec_record(rd, c, a, out);
}

static const struct tr_otlp_jmsg record_msg;

static const struct tr_otlp_signal logs_signal = {
    .what = "otlp logs",
    .m_request = M_REQ,
    .m_resource = M_RL,
    .m_scope = M_SL,
    .pb_resources = "resource_logs",
    .json_resources = {"resourceLogs", "resource_logs"},
    .json_scopes = {"scopeLogs", "scope_logs"},
    .json_items = {"logRecords", "log_records"},
    .item_size = sizeof(struct tr_otlp_log_record),
    .pb_item = pb_record_item,
    .json_item = &record_msg,
};

/* The request's groups as the logs result (empty after an error). */
static void logs_from_groups(int rv,
                             const struct tr_otlp_groups *g,
                             size_t len,
                             struct tr_otlp_logs *out)
{
    memset(out, 0, sizeof(*out));
    if (rv == 0) {
        out->resources = g->resources;
        out->n_resources = g->n_resources;
        out->n_records = g->n_items;
        out->body_len = len;
    }
}

int tr_otlp_logs_decode(const void *buf,
                        size_t len,
                        struct tr_arena *a,
                        struct tr_otlp_logs *out,
                        char *errmsg)
{
    struct tr_otlp_groups g;
    int rv = tr_otlp_groups_decode(&logs_signal, buf, len, a, &g, errmsg);
    logs_from_groups(rv, &g, len, out);
    return rv;
}

/* ---- OTLP/JSON -----------------------------------------------------------
 */

static int json_body(struct tr_otlp_json *j, long v, void *rec)
{
    return tr_otlp_json_value(j, v, 0,
                              &((struct tr_otlp_log_record *)rec)->body);
}

static const struct tr_otlp_jfield record_fields[] = {
    TR_OTLP_JF("timeUnixNano",
               "time_unix_nano",
               TR_OTLP_J_U64,
               struct tr_otlp_log_record,
               time_unix_nano,
               0),
    TR_OTLP_JF("observedTimeUnixNano",
               "observed_time_unix_nano",
               TR_OTLP_J_U64,
               struct tr_otlp_log_record,
               observed_time_unix_nano,
               0),
    TR_OTLP_JF_ENUM("severityNumber",
                    "severity_number",
                    struct tr_otlp_log_record,
                    severity_number,
                    severity_names),
    TR_OTLP_JF("severityText",
               "severity_text",
               TR_OTLP_J_STR,
               struct tr_otlp_log_record,
               severity_text,
               0),
    TR_OTLP_JF_CALL("body", NULL, json_body),
    TR_OTLP_JF_KVS(struct tr_otlp_log_record, attrs, n_attrs),
    TR_OTLP_JF("droppedAttributesCount",
               "dropped_attributes_count",
               TR_OTLP_J_U32,
               struct tr_otlp_log_record,
               dropped_attributes_count,
               0),
    TR_OTLP_JF("flags",
               NULL,
               TR_OTLP_J_U32,
               struct tr_otlp_log_record,
               flags,
               0),
    TR_OTLP_JF("traceId",
               "trace_id",
               TR_OTLP_J_ID,
               struct tr_otlp_log_record,
               trace_id,
               16),
    TR_OTLP_JF("spanId",
               "span_id",
               TR_OTLP_J_ID,
               struct tr_otlp_log_record,
               span_id,
               8),
    TR_OTLP_JF("eventName",
               "event_name",
               TR_OTLP_J_STR,
               struct tr_otlp_log_record,
               event_name,
               0),
};

static const struct tr_otlp_jmsg record_msg = {
    "LogRecord", sizeof(struct tr_otlp_log_record), record_fields,
    TR_OTLP_JF_N(record_fields)};

int tr_otlp_logs_decode_json(const void *buf,
                             size_t len,
                             struct tr_arena *a,
                             struct tr_otlp_logs *out,
                             char *errmsg)
{
    struct tr_otlp_groups g;
    int rv = tr_otlp_groups_decode_json(&logs_signal, buf, len, a, &g, errmsg);
    logs_from_groups(rv, &g, len, out);
    return rv;
}

/* ---- mapping to Loki streams ---------------------------------------------
 */

/* A growable list of name/value pairs (tr_malloc). */
struct pairs {
    struct tr_loki_label *v;
    size_t n;
    size_t cap;
};

struct map_ctx {
    struct tr_arena *a;
    char *errmsg;
    struct tr_buf full; /* scratch: prefix_key */
    struct tr_buf name; /* scratch: the label name */
    struct tr_buf val;  /* scratch: a rendered value */
    struct pairs own;   /* scratch: one record's metadata */
    size_t meta_total;  /* metadata pairs made so far */
    size_t meta_max;
};

static int pairs_add(struct pairs *p, struct tr_slice name, struct tr_slice v)
{
    if (p->n == p->cap) {
        struct tr_loki_label *g =
            tr_array_grow(p->v, &p->cap, sizeof(*p->v), 16);
        if (g == NULL) {
            return TR_ENOMEM;
        }
        p->v = g;
    }
    p->v[p->n++] = (struct tr_loki_label){name, v};
    return 0;
}

/* A copy of b's bytes in the arena (an empty slice for none). */
static int arena_slice(struct tr_arena *a,
                       const struct tr_buf *b,
                       struct tr_slice *out)
{
    if (b->len == 0) {
        *out = (struct tr_slice){"", 0};
        return 0;
    }
    char *p = tr_arena_memdup(a, b->data, b->len);
    if (p == NULL) {
        return TR_ENOMEM;
    }
    *out = (struct tr_slice){p, b->len};
    return 0;
}

/* v rendered (a string as is, without a copy). */
static int render(struct map_ctx *m,
                  const struct tr_otlp_value *v,
                  struct tr_slice *out)
{
    if (v->type == TR_OTLP_STRING) {
        *out = v->s;
        return 0;
    }
    tr_buf_reset(&m->val);
    if (tr_otlp_value_string(v, &m->val) != 0) {
        return TR_ENOMEM;
    }
    return arena_slice(m->a, &m->val, out);
}

/* Loki's attributeToLabels: the pairs for attribute key = v (under the
 * label name prefix when prefix.base != NULL), maps flattened. */
static int flatten(struct map_ctx *m,
                   struct pairs *out,
                   struct tr_slice key,
                   const struct tr_otlp_value *v,
                   struct tr_slice prefix)
{
    tr_buf_reset(&m->full);
    if (prefix.base != NULL) {
        tr_buf_append(&m->full, prefix.base, prefix.len);
        tr_buf_putc(&m->full, '_');
    }
    tr_buf_append(&m->full, key.base, key.len);
    if (m->full.oom) {
        return tr_errf(TR_ENOMEM, m->errmsg, "out of memory");
    }
    tr_buf_reset(&m->name);
    struct tr_slice full = {m->full.data ? m->full.data : "", m->full.len};
    int rv = tr_otlp_label_name(full, &m->name, m->errmsg);
    if (rv == TR_EINVAL) {
        return tr_errf(rv, m->errmsg,
                       "attribute \"%.*s\": normalization resulted in an "
                       "invalid label name",
                       (int)(full.len > 100 ? 100 : full.len), full.base);
    }
    if (rv != 0) {
        return rv;
    }
    struct tr_slice name;
    if (prefix.base == NULL &&
        tr_slice_eq((struct tr_slice){m->name.data, m->name.len}, key)) {
        name = key; /* already a label name: no copy */
    } else if (arena_slice(m->a, &m->name, &name) != 0) {
        return tr_errf(TR_ENOMEM, m->errmsg, "out of memory");
    }
    if (v->type == TR_OTLP_KVLIST) {
        for (size_t i = 0; i < v->n; i++) {
            rv = flatten(m, out, v->kvs[i].key, &v->kvs[i].value, name);
            if (rv != 0) {
                return rv;
            }
        }
        return 0;
    }
    struct tr_slice value;
    if (render(m, v, &value) != 0 || pairs_add(out, name, value) != 0) {
        return tr_errf(TR_ENOMEM, m->errmsg, "out of memory");
    }
    return 0;
}

static int add_cstr(struct map_ctx *m,
                    struct pairs *out,
                    const char *name,
                    struct tr_slice value)
{
    if (pairs_add(out, tr_slice_cstr(name), value) != 0) {
        return tr_errf(TR_ENOMEM, m->errmsg, "out of memory");
    }
    return 0;
}

/* name = the decimal (or hex) text fmt makes, copied into the arena. */
__attribute__((format(printf, 4, 5))) static int add_fmt(struct map_ctx *m,
                                                         struct pairs *out,
                                                         const char *name,
                                                         const char *fmt,
                                                         ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    char *p = tr_arena_memdup(m->a, tmp, (size_t)n);
    if (p == NULL) {
        return tr_errf(TR_ENOMEM, m->errmsg, "out of memory");
    }
    return add_cstr(m, out, name, (struct tr_slice){p, (size_t)n});
}

static bool all_zero(struct tr_slice s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (s.base[i] != 0) {
            return false;
        }
    }
    return true;
}

static int add_hex(struct map_ctx *m,
                   struct pairs *out,
                   const char *name,
                   struct tr_slice id)
{
    static const char hex[] = "0123456789abcdef";
    char *p = tr_arena_alloc(m->a, id.len * 2);
    if (p == NULL) {
        return tr_errf(TR_ENOMEM, m->errmsg, "out of memory");
    }
    for (size_t i = 0; i < id.len; i++) {
        uint8_t b = (uint8_t)id.base[i];
        p[2 * i] = hex[b >> 4];
        p[2 * i + 1] = hex[b & 15];
    }
    return add_cstr(m, out, name, (struct tr_slice){p, id.len * 2});
}

static bool in_list(struct tr_slice s, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++) {
        if (tr_slice_eq_cstr(s, list[i])) {
            return true;
        }
    }
    return false;
}

/* What the mapping knows of one resource. */
struct res_info {
    struct tr_loki_label *labels; /* sorted by name, arena */
    size_t n_labels;
    struct tr_loki_label *meta; /* the other attributes, arena */
    size_t n_meta;
    size_t n_records;
    size_t stream; /* index in the output, SIZE_MAX: none */
    bool keep;     /* has records and valid labels */
};

struct label_ref {
    struct tr_loki_label l;
    size_t idx;
};

static int label_ref_cmp(const void *a, const void *b)
{
    const struct label_ref *x = a, *y = b;
    int c = tr_slice_cmp(x->l.name, y->l.name);
    return c != 0 ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static int copy_pairs(struct map_ctx *m,
                      const struct pairs *p,
                      struct tr_loki_label **out)
{
    int rv = 0;
    *out = tr_pb_array(m->a, p->n, sizeof(**out), &rv);
    if (rv != 0) {
        return tr_errf(rv, m->errmsg, "out of memory");
    }
    if (p->n > 0) {
        memcpy(*out, p->v, p->n * sizeof(**out));
    }
    return 0;
}

/* Labels and metadata of one resource (Loki's loop over resAttrs). */
static int map_resource(struct map_ctx *m,
                        const struct tr_otlp_resource *res,
                        struct res_info *ri)
{
    struct pairs labels = {0}, meta = {0};
    struct label_ref *refs = NULL;
    int rv = 0;
    /* service.name present and rendering non-empty (pdata's Get: the
     * first one) */
    bool has_service = false;
    for (size_t i = 0; i < res->n_attrs; i++) {
        if (tr_slice_eq_cstr(res->attrs[i].key, "service.name")) {
            const struct tr_otlp_value *v = &res->attrs[i].value;
            struct tr_slice s = {"", 0};
            if (render(m, v, &s) != 0) {
                rv = tr_errf(TR_ENOMEM, m->errmsg, "out of memory");
                goto done;
            }
            has_service = s.len > 0;
            break;
        }
    }
    for (size_t i = 0; i < res->n_attrs && rv == 0; i++) {
        const struct tr_otlp_kv *kv = &res->attrs[i];
        if (!in_list(kv->key, tr_otlp_loki_index_attrs)) {
            rv = flatten(m, &meta, kv->key, &kv->value,
                         (struct tr_slice){NULL, 0});
            continue;
        }
        size_t from = labels.n;
        rv = flatten(m, &labels, kv->key, &kv->value,
                     (struct tr_slice){NULL, 0});
        for (size_t k = from; rv == 0 && k < labels.n && !has_service; k++) {
            if (in_list(labels.v[k].name, discover_service_name)) {
                rv = add_cstr(m, &labels, "service_name", labels.v[k].value);
                has_service = true;
            }
        }
    }
    if (rv == 0 && !has_service) {
        rv = add_cstr(m, &labels, "service_name",
                      TR_SLICE_LIT("unknown_service"));
    }
    if (rv != 0) {
        goto done;
    }
    /* a Go map: the last value of a name wins; then empty values go (as
     * absent labels), and the set is sorted by name */
    if (labels.n > 0) {
        refs = tr_calloc(labels.n, sizeof(*refs));
        if (refs == NULL) {
            rv = tr_errf(TR_ENOMEM, m->errmsg, "out of memory");
            goto done;
        }
    }
    for (size_t i = 0; i < labels.n; i++) {
        refs[i] = (struct label_ref){labels.v[i], i};
    }
    if (labels.n > 1) {
        qsort(refs, labels.n, sizeof(*refs), label_ref_cmp);
    }
    size_t w = 0;
    ri->keep = true;
    for (size_t i = 0; i < labels.n; i++) {
        if (i + 1 < labels.n &&
            tr_slice_eq(refs[i].l.name, refs[i + 1].l.name)) {
            continue;
        }
        if (!tr_utf8_valid(refs[i].l.value.base, refs[i].l.value.len)) {
            ri->keep = false; /* Loki: "invalid labels", resource skipped */
        }
        if (refs[i].l.value.len > 0) {
            labels.v[w++] = refs[i].l;
        }
    }
    labels.n = w;
    if (w == 0) {
        /* service.name was a map of nothing: no labels at all, a stream
         * Loki's distributor refuses */
        ri->keep = false;
    }
    rv = copy_pairs(m, &labels, &ri->labels);
    if (rv == 0) {
        rv = copy_pairs(m, &meta, &ri->meta);
    }
    ri->n_labels = labels.n;
    ri->n_meta = meta.n;
done:
    tr_free(refs);
    tr_free(labels.v);
    tr_free(meta.v);
    return rv;
}

static int label_set_cmp(const struct res_info *x, const struct res_info *y)
{
    if (x->n_labels != y->n_labels) {
        return x->n_labels < y->n_labels ? -1 : 1;
    }
    for (size_t i = 0; i < x->n_labels; i++) {
        int c = tr_slice_cmp(x->labels[i].name, y->labels[i].name);
        if (c == 0) {
            c = tr_slice_cmp(x->labels[i].value, y->labels[i].value);
        }
        if (c != 0) {
            return c;
        }
    }
    return 0;
}

struct res_ref {
    const struct res_info *ri;
    size_t idx;
};

static int res_ref_cmp(const void *a, const void *b)
{
    const struct res_ref *x = a, *y = b;
    int c = label_set_cmp(x->ri, y->ri);
    return c != 0 ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* The scope's metadata: its attributes, scope_name, scope_version,
 * scope_dropped_attributes_count. */
static int map_scope(struct map_ctx *m,
                     const struct tr_otlp_scope *sc,
                     struct pairs *out)
{
    int rv = 0;
    out->n = 0;
    for (size_t i = 0; i < sc->n_attrs && rv == 0; i++) {
        rv = flatten(m, out, sc->attrs[i].key, &sc->attrs[i].value,
                     (struct tr_slice){NULL, 0});
    }
    if (rv == 0 && sc->name.len > 0) {
        rv = add_cstr(m, out, "scope_name", sc->name);
    }
    if (rv == 0 && sc->version.len > 0) {
        rv = add_cstr(m, out, "scope_version", sc->version);
    }
    if (rv == 0 && sc->dropped_attributes_count != 0) {
        rv = add_fmt(m, out, "scope_dropped_attributes_count", "%u",
                     (unsigned)sc->dropped_attributes_count);
    }
    return rv;
}

/* One record into *e (Loki's otlpLogToPushEntry plus the resource's and
 * the scope's metadata). */
static int map_record(struct map_ctx *m,
                      const struct tr_otlp_log_record *r,
                      const struct res_info *ri,
                      const struct pairs *scope_meta,
                      int64_t now_ns,
                      struct tr_loki_entry *e)
{
    struct pairs *own = &m->own;
    int rv = 0;
    own->n = 0;
    for (size_t i = 0; i < r->n_attrs && rv == 0; i++) {
        rv = flatten(m, own, r->attrs[i].key, &r->attrs[i].value,
                     (struct tr_slice){NULL, 0});
    }
    if (rv == 0 && r->time_unix_nano != 0 && r->observed_time_unix_nano != 0) {
        rv = add_fmt(m, own, "observed_timestamp", "%lld",
                     (long long)(int64_t)r->observed_time_unix_nano);
    }
    if (rv == 0 && r->severity_number != 0) {
        rv = add_fmt(m, own, "severity_number", "%d", (int)r->severity_number);
    }
    if (rv == 0 && r->severity_text.len > 0) {
        rv = add_cstr(m, own, "severity_text", r->severity_text);
    }
    if (rv == 0 && r->dropped_attributes_count != 0) {
        rv = add_fmt(m, own, "dropped_attributes_count", "%u",
                     (unsigned)r->dropped_attributes_count);
    }
    if (rv == 0 && r->flags != 0) {
        rv = add_fmt(m, own, "flags", "%u", (unsigned)r->flags);
    }
    if (rv == 0 && r->trace_id.len > 0 && !all_zero(r->trace_id)) {
        rv = add_hex(m, own, "trace_id", r->trace_id);
    }
    if (rv == 0 && r->span_id.len > 0 && !all_zero(r->span_id)) {
        rv = add_hex(m, own, "span_id", r->span_id);
    }
    if (rv != 0) {
        return rv;
    }
    size_t n = own->n + ri->n_meta + scope_meta->n;
    m->meta_total += n;
    if (m->meta_total > m->meta_max) {
        return tr_errf(TR_ETOOLARGE, m->errmsg,
                       "the request maps to more than %zu structured "
                       "metadata entries",
                       m->meta_max);
    }
    struct tr_loki_label *meta = tr_pb_array(m->a, n, sizeof(*meta), &rv);
    if (rv != 0) {
        return tr_errf(rv, m->errmsg, "out of memory");
    }
    if (own->n > 0) {
        memcpy(meta, own->v, own->n * sizeof(*meta));
    }
    if (ri->n_meta > 0) {
        memcpy(meta + own->n, ri->meta, ri->n_meta * sizeof(*meta));
    }
    if (scope_meta->n > 0) {
        memcpy(meta + own->n + ri->n_meta, scope_meta->v,
               scope_meta->n * sizeof(*meta));
    }
    e->meta = meta;
    e->n_meta = n;
    e->ts_ns = r->time_unix_nano != 0 ? (int64_t)r->time_unix_nano
               : r->observed_time_unix_nano != 0
                   ? (int64_t)r->observed_time_unix_nano
                   : now_ns;
    if (render(m, &r->body, &e->line) != 0) {
        return tr_errf(TR_ENOMEM, m->errmsg, "out of memory");
    }
    return 0;
}

int tr_otlp_logs_to_loki(const struct tr_otlp_logs *req,
                         int64_t now_ns,
                         struct tr_arena *a,
                         struct tr_loki_push *out,
                         size_t *dropped,
                         char *errmsg)
{
    memset(out, 0, sizeof(*out));
    if (dropped != NULL) {
        *dropped = 0;
    }
    if (req->n_records == 0) {
        return 0; /* Loki: an empty push */
    }
    size_t nr = req->n_resources;
    struct map_ctx m = {.a = a, .errmsg = errmsg};
    tr_buf_init(&m.full);
    tr_buf_init(&m.name);
    tr_buf_init(&m.val);
    m.meta_max = TR_OTLP_LOGS_META_SLACK + req->body_len;
    struct pairs scope_meta = {0};
    struct tr_loki_stream *streams = NULL;
    size_t *num = NULL, *fill = NULL, n_streams = 0, n_entries = 0;
    struct res_ref *order = NULL;
    int rv = 0;
    struct res_info *infos = tr_calloc(nr, sizeof(*infos));
    order = tr_calloc(nr, sizeof(*order));
    num = tr_calloc(nr, sizeof(*num));
    if (infos == NULL || order == NULL || num == NULL) {
        rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
        goto done;
    }
    /* 1. labels and metadata of every resource */
    for (size_t r = 0; r < nr && rv == 0; r++) {
        const struct tr_otlp_resource_group *rl = &req->resources[r];
        infos[r].stream = SIZE_MAX;
        for (size_t s = 0; s < rl->n_scopes; s++) {
            infos[r].n_records += rl->scopes[s].n_items;
        }
        rv = map_resource(&m, &rl->resource, &infos[r]);
        if (rv == 0 && infos[r].n_records == 0) {
            infos[r].keep = false;
        } else if (rv == 0 && !infos[r].keep && dropped != NULL) {
            *dropped += infos[r].n_records;
        }
    }
    if (rv != 0) {
        goto done;
    }
    /* 2. group equal label sets; streams in order of first appearance */
    size_t n_keep = 0;
    for (size_t r = 0; r < nr; r++) {
        if (infos[r].keep) {
            order[n_keep++] = (struct res_ref){&infos[r], r};
        }
    }
    if (n_keep > 1) {
        qsort(order, n_keep, sizeof(*order), res_ref_cmp);
    }
    for (size_t i = 0; i < n_keep; i++) {
        /* the group's first (lowest) index leads; stream holds the leader
         * for now */
        size_t lead =
            (i > 0 && label_set_cmp(order[i].ri, order[i - 1].ri) == 0)
                ? infos[order[i - 1].idx].stream
                : order[i].idx;
        infos[order[i].idx].stream = lead;
    }
    /* number the leaders by first appearance */
    for (size_t r = 0; r < nr; r++) {
        num[r] = SIZE_MAX;
    }
    for (size_t r = 0; r < nr; r++) {
        if (!infos[r].keep) {
            continue;
        }
        size_t lead = infos[r].stream;
        if (num[lead] == SIZE_MAX) {
            num[lead] = n_streams++;
        }
        infos[r].stream = num[lead];
    }
    streams = tr_pb_array(a, n_streams, sizeof(*streams), &rv);
    fill = tr_calloc(n_streams ? n_streams : 1, sizeof(*fill));
    if (rv != 0 || fill == NULL) {
        rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
        goto done;
    }
    if (n_streams > 0) {
        memset(streams, 0, n_streams * sizeof(*streams));
    }
    for (size_t r = 0; r < nr; r++) {
        if (infos[r].keep) {
            struct tr_loki_stream *st = &streams[infos[r].stream];
            st->label_set = infos[r].labels;
            st->n_labels = infos[r].n_labels;
            st->n_entries += infos[r].n_records;
        }
    }
    for (size_t s = 0; s < n_streams && rv == 0; s++) {
        struct tr_loki_entry *es =
            tr_pb_array(a, streams[s].n_entries, sizeof(*es), &rv);
        streams[s].entries = es;
    }
    if (rv != 0) {
        rv = tr_errf(rv, errmsg, "out of memory");
        goto done;
    }
    /* 3. the entries, in record order */
    for (size_t r = 0; r < nr && rv == 0; r++) {
        const struct tr_otlp_resource_group *rl = &req->resources[r];
        if (!infos[r].keep) {
            continue;
        }
        size_t si = infos[r].stream;
        struct tr_loki_entry *es = (struct tr_loki_entry *)streams[si].entries;
        for (size_t s = 0; s < rl->n_scopes && rv == 0; s++) {
            const struct tr_otlp_scope_group *sl = &rl->scopes[s];
            if (sl->n_items == 0) {
                continue;
            }
            rv = map_scope(&m, &sl->scope, &scope_meta);
            for (size_t k = 0; k < sl->n_items && rv == 0; k++) {
                rv = map_record(&m, &sl->records[k], &infos[r], &scope_meta,
                                now_ns, &es[fill[si]++]);
            }
        }
        n_entries += infos[r].n_records;
    }
    if (rv == 0) {
        out->streams = streams;
        out->n_streams = n_streams;
        out->n_entries = n_entries;
    }
done:
    if (rv != 0 && dropped != NULL) {
        *dropped = 0;
    }
    tr_free(fill);
    tr_free(num);
    tr_free(order);
    tr_free(infos);
    tr_free(scope_meta.v);
    tr_free(m.own.v);
    tr_buf_free(&m.full);
    tr_buf_free(&m.name);
    tr_buf_free(&m.val);
    return rv;
}
