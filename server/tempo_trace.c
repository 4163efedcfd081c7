/* tempo_trace.c - traces in Tempo's trace-by-id formats (see
 * server/tempo_trace.h). */
#include "server/tempo_trace.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/err.h"
#include "lib/json.h"
#include "proto/tempo_pb.h"

/* ---- grouping ------------------------------------------------------------ */

/* Equal resources and scopes share a group: res_of[r] is the first
 * resource equal to r, scope_of[s] the first scope equal to s (same
 * resource group, same contents). */
struct tt_groups {
    size_t *res_of;
    size_t *scope_of;
};

static bool tt__kvs_eq(const struct tr_otlp_kv *a,
                       size_t na,
                       const struct tr_otlp_kv *b,
                       size_t nb,
                       struct tr_buf *x,
                       struct tr_buf *y)
{
    if (na != nb) {
        return false;
    }
    tr_buf_reset(x);
    tr_buf_reset(y);
    tr_trace_kvs_put(x, a, na);
    tr_trace_kvs_put(y, b, nb);
    return x->len == y->len && memcmp(x->data, y->data, x->len) == 0;
}

static int tt__group(const struct tr_span_batch *b, struct tt_groups *g)
{
    g->res_of = tr_calloc(b->n_resources + 1, sizeof(size_t));
    g->scope_of = tr_calloc(b->n_scopes + 1, sizeof(size_t));
    if (g->res_of == NULL || g->scope_of == NULL) {
        return TR_ENOMEM;
    }
    struct tr_buf x, y;
    tr_buf_init(&x);
    tr_buf_init(&y);
    for (size_t i = 0; i < b->n_resources; i++) {
        g->res_of[i] = i;
        const struct tr_otlp_resource *r = &b->resources[i];
        for (size_t j = 0; j < i; j++) {
            const struct tr_otlp_resource *q = &b->resources[j];
            if (g->res_of[j] == j &&
                r->dropped_attributes_count == q->dropped_attributes_count &&
                tt__kvs_eq(r->attrs, r->n_attrs, q->attrs, q->n_attrs, &x,
                           &y)) {
                g->res_of[i] = j;
                break;
            }
        }
    }
    for (size_t i = 0; i < b->n_scopes; i++) {
        g->scope_of[i] = i;
        const struct tr_batch_scope *s = &b->scopes[i];
        for (size_t j = 0; j < i; j++) {
            const struct tr_batch_scope *q = &b->scopes[j];
            if (g->scope_of[j] == j &&
                g->res_of[s->resource] == g->res_of[q->resource] &&
                tr_slice_eq(s->scope.name, q->scope.name) &&
                tr_slice_eq(s->scope.version, q->scope.version) &&
                s->scope.dropped_attributes_count ==
                    q->scope.dropped_attributes_count &&
                tt__kvs_eq(s->scope.attrs, s->scope.n_attrs, q->scope.attrs,
                           q->scope.n_attrs, &x, &y)) {
                g->scope_of[i] = j;
                break;
            }
        }
    }
    bool oom = x.oom || y.oom;
    tr_buf_free(&x);
    tr_buf_free(&y);
    return oom ? TR_ENOMEM : 0;
}

static void tt__groups_free(struct tt_groups *g)
{
    tr_free(g->res_of);
    tr_free(g->scope_of);
}

/* ---- protobuf ------------------------------------------------------------ */

static void pb_tag(struct tr_buf *b, unsigned field, unsigned wt)
{
    tr_buf_put_uvarint(b, ((uint64_t)field << 3) | wt);
}

static void pb_bytes(struct tr_buf *b, unsigned field, struct tr_slice s)
{
    if (s.len == 0) {
        return;
    }
    pb_tag(b, field, 2);
    tr_buf_put_uvarint(b, s.len);
    tr_buf_append(b, s.base, s.len);
}

static void pb_varint(struct tr_buf *b, unsigned field, uint64_t v)
{
    if (v == 0) {
        return;
    }
    pb_tag(b, field, 0);
    tr_buf_put_uvarint(b, v);
}

static void pb_fixed64(struct tr_buf *b, unsigned field, uint64_t v)
{
    if (v == 0) {
        return;
    }
    pb_tag(b, field, 1);
    uint8_t le[8];
    for (int i = 0; i < 8; i++) {
        le[i] = (uint8_t)(v >> (8 * i));
    }
    tr_buf_append(b, le, 8);
}

static void pb_fixed32(struct tr_buf *b, unsigned field, uint32_t v)
{
    if (v == 0) {
        return;
    }
    pb_tag(b, field, 5);
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                     (uint8_t)(v >> 24)};
    tr_buf_append(b, le, 4);
}

/* Appends field as a message whose bytes are m (even when empty). */
static void pb_msg(struct tr_buf *b, unsigned field, const struct tr_buf *m)
{
    pb_tag(b, field, 2);
    tr_buf_put_uvarint(b, m->len);
    tr_buf_append(b, m->data, m->len);
}

static void pb_span(struct tr_buf *b, const struct tr_otlp_span *s)
{
    pb_bytes(b, 1, s->trace_id);
    pb_bytes(b, 2, s->span_id);
    pb_bytes(b, 3, s->trace_state);
    pb_bytes(b, 4, s->parent_span_id);
    pb_bytes(b, 5, s->name);
    pb_varint(b, 6, (uint64_t)(uint32_t)s->kind);
    pb_fixed64(b, 7, s->start_time_unix_nano);
    pb_fixed64(b, 8, s->end_time_unix_nano);
    tr_tempo_pb_kvs(b, 9, s->attrs, s->n_attrs);
    pb_varint(b, 10, s->dropped_attributes_count);
    for (size_t i = 0; i < s->n_events; i++) {
        const struct tr_otlp_event *e = &s->events[i];
        struct tr_buf m;
        tr_buf_init(&m);
        pb_fixed64(&m, 1, e->time_unix_nano);
        pb_bytes(&m, 2, e->name);
        tr_tempo_pb_kvs(&m, 3, e->attrs, e->n_attrs);
        pb_varint(&m, 4, e->dropped_attributes_count);
        pb_msg(b, 11, &m);
        tr_buf_free(&m);
    }
    pb_varint(b, 12, s->dropped_events_count);
    for (size_t i = 0; i < s->n_links; i++) {
        const struct tr_otlp_link *l = &s->links[i];
        struct tr_buf m;
        tr_buf_init(&m);
        pb_bytes(&m, 1, l->trace_id);
        pb_bytes(&m, 2, l->span_id);
        pb_bytes(&m, 3, l->trace_state);
        tr_tempo_pb_kvs(&m, 4, l->attrs, l->n_attrs);
        pb_varint(&m, 5, l->dropped_attributes_count);
        pb_fixed32(&m, 6, l->flags);
        pb_msg(b, 13, &m);
        tr_buf_free(&m);
    }
    pb_varint(b, 14, s->dropped_links_count);
    struct tr_buf st;
    tr_buf_init(&st);
    pb_bytes(&st, 2, s->status_message);
    pb_varint(&st, 3, (uint64_t)(uint32_t)s->status_code);
    pb_msg(b, 15, &st);
    tr_buf_free(&st);
    pb_fixed32(b, 16, s->flags);
}

static int tt__pb_trace(const struct tr_span_batch *b,
                        const struct tt_groups *g,
                        struct tr_buf *out)
{
    for (size_t r = 0; r < b->n_resources; r++) {
        if (g->res_of[r] != r) {
            continue;
        }
        struct tr_buf rs, res;
        tr_buf_init(&rs);
        tr_buf_init(&res);
        tr_tempo_pb_kvs(&res, 1, b->resources[r].attrs,
                        b->resources[r].n_attrs);
        pb_varint(&res, 2, b->resources[r].dropped_attributes_count);
        pb_msg(&rs, 1, &res);
        bool any = false;
        for (size_t s = 0; s < b->n_scopes; s++) {
            if (g->scope_of[s] != s || g->res_of[b->scopes[s].resource] != r) {
                continue;
            }
            struct tr_buf ss, sc;
            tr_buf_init(&ss);
            tr_buf_init(&sc);
            const struct tr_otlp_scope *scope = &b->scopes[s].scope;
            pb_bytes(&sc, 1, scope->name);
            pb_bytes(&sc, 2, scope->version);
            tr_tempo_pb_kvs(&sc, 3, scope->attrs, scope->n_attrs);
            pb_varint(&sc, 4, scope->dropped_attributes_count);
            pb_msg(&ss, 1, &sc);
            bool spans = false;
            for (size_t i = 0; i < b->n_spans; i++) {
                if (g->scope_of[b->spans[i].scope] != s) {
                    continue;
                }
                struct tr_buf sp;
                tr_buf_init(&sp);
                pb_span(&sp, &b->spans[i].span);
                pb_msg(&ss, 2, &sp);
                tr_buf_free(&sp);
                spans = true;
            }
            if (spans) {
                pb_msg(&rs, 2, &ss);
                any = true;
            }
            tr_buf_free(&ss);
            tr_buf_free(&sc);
        }
        if (any) {
            pb_msg(out, 1, &rs);
        }
        tr_buf_free(&rs);
        tr_buf_free(&res);
    }
    return out->oom ? TR_ENOMEM : 0;
}

int tr_tempo_trace_pb(const struct tr_span_batch *b,
                      bool v2,
                      uint64_t inspected_bytes,
                      struct tr_buf *out)
{
    struct tt_groups g;
    int rv = tt__group(b, &g);
    if (rv == 0 && !v2) {
        rv = tt__pb_trace(b, &g, out);
    } else if (rv == 0) {
        struct tr_buf t, m;
        tr_buf_init(&t);
        tr_buf_init(&m);
        rv = tt__pb_trace(b, &g, &t);
        pb_msg(out, 1, &t);
        pb_varint(&m, 1, inspected_bytes);
        pb_msg(out, 2, &m);
        rv = rv == 0 && (out->oom || m.oom) ? TR_ENOMEM : rv;
        tr_buf_free(&t);
        tr_buf_free(&m);
    }
    tt__groups_free(&g);
    return rv;
}

/* ---- JSON ---------------------------------------------------------------- */

static void js_b64(struct tr_json *j, struct tr_slice s)
{
    char small[64];
    size_t n = tr_base64_encoded_len(s.len);
    char *p = n < sizeof(small) ? small : tr_malloc(n + 1);
    if (p == NULL) {
        j->out->oom = true;
        return;
    }
    size_t w = tr_base64_encode(s.base, s.len, p);
    tr_json_str_n(j, p, w);
    if (p != small) {
        tr_free(p);
    }
}

static void js_u64_str(struct tr_json *j, uint64_t v)
{
    char n[24];
    snprintf(n, sizeof(n), "%" PRIu64, v);
    tr_json_str(j, n);
}

static void js_kvs(struct tr_json *j, const struct tr_otlp_kv *kvs, size_t n);

void tr_tempo_json_value(struct tr_json *j, const struct tr_otlp_value *v)
{
    tr_json_obj_begin(j);
    switch (v->type) {
        case TR_OTLP_STRING:
            tr_json_key(j, "stringValue");
            tr_json_str_n(j, v->s.base, v->s.len);
            break;
        case TR_OTLP_BOOL:
            tr_json_key(j, "boolValue");
            tr_json_bool(j, v->b);
            break;
        case TR_OTLP_INT: {
            char n[24];
            snprintf(n, sizeof(n), "%" PRId64, v->i);
            tr_json_key(j, "intValue");
            tr_json_str(j, n);
            break;
        }
        case TR_OTLP_DOUBLE:
            tr_json_key(j, "doubleValue");
            if (isnan(v->d)) {
                tr_json_str(j, "NaN");
            } else if (isinf(v->d)) {
                tr_json_str(j, v->d > 0 ? "Infinity" : "-Infinity");
            } else {
                tr_json_double(j, v->d);
            }
            break;
        case TR_OTLP_ARRAY:
            tr_json_key(j, "arrayValue");
            tr_json_obj_begin(j);
            if (v->n > 0) {
                tr_json_key(j, "values");
                tr_json_arr_begin(j);
                for (size_t i = 0; i < v->n; i++) {
                    tr_tempo_json_value(j, &v->items[i]);
                }
                tr_json_arr_end(j);
            }
            tr_json_obj_end(j);
            break;
        case TR_OTLP_KVLIST:
            tr_json_key(j, "kvlistValue");
            tr_json_obj_begin(j);
            if (v->n > 0) {
                tr_json_key(j, "values");
                js_kvs(j, v->kvs, v->n);
            }
            tr_json_obj_end(j);
            break;
        case TR_OTLP_BYTES:
            tr_json_key(j, "bytesValue");
            js_b64(j, v->s);
            break;
        default:
            break;
    }
    tr_json_obj_end(j);
}

static void js_kvs(struct tr_json *j, const struct tr_otlp_kv *kvs, size_t n)
{
    tr_json_arr_begin(j);
    for (size_t i = 0; i < n; i++) {
        tr_json_obj_begin(j);
        tr_json_key(j, "key");
        tr_json_str_n(j, kvs[i].key.base, kvs[i].key.len);
        tr_json_key(j, "value");
        tr_tempo_json_value(j, &kvs[i].value);
        tr_json_obj_end(j);
    }
    tr_json_arr_end(j);
}

static void js_attrs(struct tr_json *j,
                     const struct tr_otlp_kv *kvs,
                     size_t n,
                     uint32_t dropped)
{
    if (n > 0) {
        tr_json_key(j, "attributes");
        js_kvs(j, kvs, n);
    }
    if (dropped > 0) {
        tr_json_key(j, "droppedAttributesCount");
        tr_json_uint(j, dropped);
    }
}

static void js_str_field(struct tr_json *j, const char *key, struct tr_slice s)
{
    if (s.len > 0) {
        tr_json_key(j, key);
        tr_json_str_n(j, s.base, s.len);
    }
}

static const char *const KIND_NAMES[] = {
    "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"};
static const char *const STATUS_NAMES[] = {
    "STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"};

static void js_span(struct tr_json *j, const struct tr_otlp_span *s)
{
    tr_json_obj_begin(j);
    tr_json_key(j, "traceId");
    js_b64(j, s->trace_id);
    tr_json_key(j, "spanId");
    js_b64(j, s->span_id);
    js_str_field(j, "traceState", s->trace_state);
    if (s->parent_span_id.len > 0) {
        tr_json_key(j, "parentSpanId");
        js_b64(j, s->parent_span_id);
    }
    if (s->flags != 0) {
        tr_json_key(j, "flags");
        tr_json_uint(j, s->flags);
    }
    js_str_field(j, "name", s->name);
    if (s->kind != 0) {
        tr_json_key(j, "kind");
        if (s->kind > 0 && s->kind <= 5) {
            tr_json_str(j, KIND_NAMES[s->kind]);
        } else {
            tr_json_int(j, s->kind);
        }
    }
    if (s->start_time_unix_nano != 0) {
        tr_json_key(j, "startTimeUnixNano");
        js_u64_str(j, s->start_time_unix_nano);
    }
    if (s->end_time_unix_nano != 0) {
        tr_json_key(j, "endTimeUnixNano");
        js_u64_str(j, s->end_time_unix_nano);
    }
    js_attrs(j, s->attrs, s->n_attrs, s->dropped_attributes_count);
    if (s->n_events > 0) {
        tr_json_key(j, "events");
        tr_json_arr_begin(j);
        for (size_t i = 0; i < s->n_events; i++) {
            const struct tr_otlp_event *e = &s->events[i];
            tr_json_obj_begin(j);
            if (e->time_unix_nano != 0) {
                tr_json_key(j, "timeUnixNano");
                js_u64_str(j, e->time_unix_nano);
            }
            js_str_field(j, "name", e->name);
            js_attrs(j, e->attrs, e->n_attrs, e->dropped_attributes_count);
            tr_json_obj_end(j);
        }
        tr_json_arr_end(j);
    }
    if (s->dropped_events_count > 0) {
        tr_json_key(j, "droppedEventsCount");
        tr_json_uint(j, s->dropped_events_count);
    }
    if (s->n_links > 0) {
        tr_json_key(j, "links");
        tr_json_arr_begin(j);
        for (size_t i = 0; i < s->n_links; i++) {
            const struct tr_otlp_link *l = &s->links[i];
            tr_json_obj_begin(j);
            if (l->trace_id.len > 0) {
                tr_json_key(j, "traceId");
                js_b64(j, l->trace_id);
            }
            if (l->span_id.len > 0) {
                tr_json_key(j, "spanId");
                js_b64(j, l->span_id);
            }
            js_str_field(j, "traceState", l->trace_state);
            js_attrs(j, l->attrs, l->n_attrs, l->dropped_attributes_count);
            if (l->flags != 0) {
                tr_json_key(j, "flags");
                tr_json_uint(j, l->flags);
            }
            tr_json_obj_end(j);
        }
        tr_json_arr_end(j);
    }
    if (s->dropped_links_count > 0) {
        tr_json_key(j, "droppedLinksCount");
        tr_json_uint(j, s->dropped_links_count);
    }
    tr_json_key(j, "status");
    tr_json_obj_begin(j);
    js_str_field(j, "message", s->status_message);
    if (s->status_code != 0) {
        tr_json_key(j, "code");
        if (s->status_code > 0 && s->status_code <= 2) {
            tr_json_str(j, STATUS_NAMES[s->status_code]);
        } else {
            tr_json_int(j, s->status_code);
        }
    }
    tr_json_obj_end(j);
    tr_json_obj_end(j);
}

static void tt__json_resource_spans(struct tr_json *j,
                                    const struct tr_span_batch *b,
                                    const struct tt_groups *g)
{
    tr_json_arr_begin(j);
    for (size_t r = 0; r < b->n_resources; r++) {
        if (g->res_of[r] != r) {
            continue;
        }
        bool any = false;
        for (size_t i = 0; i < b->n_spans && !any; i++) {
            any = g->res_of[b->scopes[b->spans[i].scope].resource] == r;
        }
        if (!any) {
            continue;
        }
        tr_json_obj_begin(j);
        tr_json_key(j, "resource");
        tr_json_obj_begin(j);
        js_attrs(j, b->resources[r].attrs, b->resources[r].n_attrs,
                 b->resources[r].dropped_attributes_count);
        tr_json_obj_end(j);
        tr_json_key(j, "scopeSpans");
        tr_json_arr_begin(j);
        for (size_t s = 0; s < b->n_scopes; s++) {
            if (g->scope_of[s] != s || g->res_of[b->scopes[s].resource] != r) {
                continue;
            }
            bool spans = false;
            for (size_t i = 0; i < b->n_spans && !spans; i++) {
                spans = g->scope_of[b->spans[i].scope] == s;
            }
            if (!spans) {
                continue;
            }
            const struct tr_otlp_scope *scope = &b->scopes[s].scope;
            tr_json_obj_begin(j);
            tr_json_key(j, "scope");
            tr_json_obj_begin(j);
            js_str_field(j, "name", scope->name);
            js_str_field(j, "version", scope->version);
            js_attrs(j, scope->attrs, scope->n_attrs,
                     scope->dropped_attributes_count);
            tr_json_obj_end(j);
            tr_json_key(j, "spans");
            tr_json_arr_begin(j);
            for (size_t i = 0; i < b->n_spans; i++) {
                if (g->scope_of[b->spans[i].scope] == s) {
                    js_span(j, &b->spans[i].span);
                }
            }
            tr_json_arr_end(j);
            tr_json_obj_end(j);
        }
        tr_json_arr_end(j);
        tr_json_obj_end(j);
    }
    tr_json_arr_end(j);
}

int tr_tempo_trace_json(const struct tr_span_batch *b,
                        bool v2,
                        uint64_t inspected_bytes,
                        struct tr_buf *out)
{
    struct tt_groups g;
    int rv = tt__group(b, &g);
    if (rv == 0) {
        struct tr_json j;
        tr_json_init(&j, out);
        tr_json_obj_begin(&j);
        if (v2) {
            tr_json_key(&j, "trace");
            tr_json_obj_begin(&j);
            tr_json_key(&j, "resourceSpans");
            tt__json_resource_spans(&j, b, &g);
            tr_json_obj_end(&j);
            tr_json_key(&j, "metrics");
            tr_json_obj_begin(&j);
            tr_json_key(&j, "inspectedBytes");
            js_u64_str(&j, inspected_bytes);
            tr_json_obj_end(&j);
        } else {
            tr_json_key(&j, "batches");
            tt__json_resource_spans(&j, b, &g);
        }
        tr_json_obj_end(&j);
        rv = out->oom ? TR_ENOMEM : 0;
    }
    tt__groups_free(&g);
    return rv;
}
