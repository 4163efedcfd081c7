/* otlp_traces.c - OTLP traces decoding (otlp_traces.h). The resource and
 * scope levels are proto/otlp_groups.c's; this file decodes a span with
 * its events, links and status. */
#include "proto/otlp_traces.h"

#include <stddef.h>
#include <string.h>

#include "lib/err.h"
#include "lib/jsonparse.h"
#include "proto/pbread.h"

static const char M_REQ[] =
    "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest";
static const char M_RS[] = "opentelemetry.proto.trace.v1.ResourceSpans";
static const char M_SS[] = "opentelemetry.proto.trace.v1.ScopeSpans";
static const char M_SPAN[] = "opentelemetry.proto.trace.v1.Span";
static const char M_EVENT[] = "opentelemetry.proto.trace.v1.Span.Event";
static const char M_LINK[] = "opentelemetry.proto.trace.v1.Span.Link";
static const char M_STATUS[] = "opentelemetry.proto.trace.v1.Status";

static const char *const kind_names[] = {
    "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER",
};

static const char *const status_names[] = {
    "STATUS_CODE_UNSET",
    "STATUS_CODE_OK",
    "STATUS_CODE_ERROR",
};

/* ---- protobuf ------------------------------------------------------------
 */

static int pb_event(const struct tr_pb_rd *rd,
                    struct tr_cursor c,
                    struct tr_arena *a,
                    struct tr_otlp_event *out)
{
    memset(out, 0, sizeof(*out));
    size_t n;
    int rv = tr_otlp_pb_count(rd, c, M_EVENT, 3, &n);
    struct tr_otlp_kv *attrs = tr_pb_array(a, n, sizeof(*attrs), &rv);
    while (rv == 0 && c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        uint64_t u = 0;
        struct tr_cursor sub;
        rv = tr_pb_tag(rd, &c, M_EVENT, &field, &wt);
        if (rv != 0) {
            break;
        }
        switch (field) {
            case 1:
                rv = tr_otlp_pb_fixed64(rd, &c, at, M_EVENT, field, wt,
                                        &out->time_unix_nano);
                break;
            case 2:
                rv = tr_otlp_pb_str(rd, &c, at, M_EVENT, field, wt, &out->name);
                break;
            case 3:
                rv = tr_otlp_pb_msg(rd, &c, at, M_EVENT, field, wt, &sub);
                if (rv == 0) {
                    rv = tr_otlp_pb_kv(rd, sub, a, 0, &attrs[out->n_attrs++]);
                }
                break;
            case 4:
                rv = tr_otlp_pb_varint(rd, &c, at, M_EVENT, field, wt, &u);
                out->dropped_attributes_count = (uint32_t)u;
                break;
            default:
                rv = tr_pb_skip(rd, &c, M_EVENT, field, wt);
                break;
        }
    }
    out->attrs = attrs;
    return rv;
}

static int pb_link(const struct tr_pb_rd *rd,
                   struct tr_cursor c,
                   struct tr_arena *a,
                   struct tr_otlp_link *out)
{
    memset(out, 0, sizeof(*out));
    size_t n;
    int rv = tr_otlp_pb_count(rd, c, M_LINK, 4, &n);
    struct tr_otlp_kv *attrs = tr_pb_array(a, n, sizeof(*attrs), &rv);
    while (rv == 0 && c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        uint64_t u = 0;
        struct tr_cursor sub;
        rv = tr_pb_tag(rd, &c, M_LINK, &field, &wt);
        if (rv != 0) {
            break;
        }
        switch (field) {
            case 1:
                rv = tr_otlp_pb_id(rd, &c, at, M_LINK, "trace_id", field, wt,
                                   16, &out->trace_id);
                break;
            case 2:
                rv = tr_otlp_pb_id(rd, &c, at, M_LINK, "span_id", field, wt, 8,
                                   &out->span_id);
                break;
            case 3:
                rv = tr_otlp_pb_str(rd, &c, at, M_LINK, field, wt,
                                    &out->trace_state);
                break;
            case 4:
                rv = tr_otlp_pb_msg(rd, &c, at, M_LINK, field, wt, &sub);
                if (rv == 0) {
                    rv = tr_otlp_pb_kv(rd, sub, a, 0, &attrs[out->n_attrs++]);
                }
                break;
            case 5:
                rv = tr_otlp_pb_varint(rd, &c, at, M_LINK, field, wt, &u);
                out->dropped_attributes_count = (uint32_t)u;
                break;
            case 6:
                rv = tr_otlp_pb_fixed32(rd, &c, at, M_LINK, field, wt,
                                        &out->flags);
                break;
            default:
                rv = tr_pb_skip(rd, &c, M_LINK, field, wt);
                break;
        }
    }
    out->attrs = attrs;
    return rv;
}

static int pb_status(const struct tr_pb_rd *rd,
                     struct tr_cursor c,
                     struct tr_otlp_span *out)
{
    int rv = 0;
    while (rv == 0 && c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        uint64_t u = 0;
        rv = tr_pb_tag(rd, &c, M_STATUS, &field, &wt);
        if (rv == 0 && field == 2) {
            rv = tr_otlp_pb_str(rd, &c, at, M_STATUS, field, wt,
                                &out->status_message);
        } else if (rv == 0 && field == 3) {
            rv = tr_otlp_pb_varint(rd, &c, at, M_STATUS, field, wt, &u);
            out->status_code = (int32_t)(uint32_t)u;
        } else if (rv == 0) {
            rv = tr_pb_skip(rd, &c, M_STATUS, field, wt);
        }
    }
    return rv;
}

/* The span's attributes, events and links arrays, sized by one count of
 * each. */
struct span_arrays {
    struct tr_otlp_kv *attrs;
    struct tr_otlp_event *events;
    struct tr_otlp_link *links;
};

static int pb_span_arrays(const struct tr_pb_rd *rd,
                          struct tr_cursor c,
                          struct tr_arena *a,
                          struct span_arrays *arr)
{
    size_t na = 0, ne = 0, nl = 0;
    int rv = tr_otlp_pb_count(rd, c, M_SPAN, 9, &na);
    if (rv == 0) {
        rv = tr_otlp_pb_count(rd, c, M_SPAN, 11, &ne);
    }
    if (rv == 0) {
        rv = tr_otlp_pb_count(rd, c, M_SPAN, 13, &nl);
    }
    arr->attrs = tr_pb_array(a, rv == 0 ? na : 0, sizeof(*arr->attrs), &rv);
    arr->events = tr_pb_array(a, rv == 0 ? ne : 0, sizeof(*arr->events), &rv);
    arr->links = tr_pb_array(a, rv == 0 ? nl : 0, sizeof(*arr->links), &rv);
    return rv;
}

/* The scalar fields of a span (its tag at `at` read). */
static int pb_span_scalar(const struct tr_pb_rd *rd,
                          struct tr_cursor *c,
                          const uint8_t *at,
                          uint32_t field,
                          unsigned wt,
                          struct tr_otlp_span *out)
{
    uint64_t u = 0;
    int rv;
    switch (field) {
        case 1:
            return tr_otlp_pb_id(rd, c, at, M_SPAN, "trace_id", field, wt, 16,
                                 &out->trace_id);
        case 2:
            return tr_otlp_pb_id(rd, c, at, M_SPAN, "span_id", field, wt, 8,
                                 &out->span_id);
        case 3:
            return tr_otlp_pb_str(rd, c, at, M_SPAN, field, wt,
                                  &out->trace_state);
        case 4:
            return tr_otlp_pb_id(rd, c, at, M_SPAN, "parent_span_id", field, wt,
                                 8, &out->parent_span_id);
        case 16:
            return tr_otlp_pb_fixed32(rd, c, at, M_SPAN, field, wt,
                                      &out->flags);
        case 5:
            return tr_otlp_pb_str(rd, c, at, M_SPAN, field, wt, &out->name);
        case 6:
            rv = tr_otlp_pb_varint(rd, c, at, M_SPAN, field, wt, &u);
            out->kind = (int32_t)(uint32_t)u; /* an int32 enum */
            return rv;
        case 7:
            return tr_otlp_pb_fixed64(rd, c, at, M_SPAN, field, wt,
                                      &out->start_time_unix_nano);
        case 8:
            return tr_otlp_pb_fixed64(rd, c, at, M_SPAN, field, wt,
                                      &out->end_time_unix_nano);
        case 10:
        case 12:
        case 14:
            rv = tr_otlp_pb_varint(rd, c, at, M_SPAN, field, wt, &u);
            *(field == 10   ? &out->dropped_attributes_count
              : field == 12 ? &out->dropped_events_count
                            : &out->dropped_links_count) = (uint32_t)u;
            return rv;
        default:
            return tr_pb_skip(rd, c, M_SPAN, field, wt);
    }
}

static int pb_span(const struct tr_pb_rd *rd,
                   struct tr_cursor c,
                   struct tr_arena *a,
                   void *vout)
{
    struct tr_otlp_span *out = vout;
    memset(out, 0, sizeof(*out));
    struct span_arrays arr = {0};
    int rv = pb_span_arrays(rd, c, a, &arr);
    while (rv == 0 && c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        struct tr_cursor sub;
        rv = tr_pb_tag(rd, &c, M_SPAN, &field, &wt);
        if (rv != 0) {
            break;
        }
        if (field == 9 || field == 11 || field == 13 || field == 15) {
            rv = tr_otlp_pb_msg(rd, &c, at, M_SPAN, field, wt, &sub);
            if (rv == 0 && field == 9) {
                rv = tr_otlp_pb_kv(rd, sub, a, 0, &arr.attrs[out->n_attrs++]);
            } else if (rv == 0 && field == 11) {
                rv = pb_event(rd, sub, a, &arr.events[out->n_events++]);
            } else if (rv == 0 && field == 13) {
                rv = pb_link(rd, sub, a, &arr.links[out->n_links++]);
            } else if (rv == 0) {
                /* a repeated message field merges (protobuf's rule) */
                rv = pb_status(rd, sub, out);
            }
        } else {
            rv = pb_span_scalar(rd, &c, at, field, wt, out);
        }
    }
    out->attrs = arr.attrs;
    out->events = arr.events;
    out->links = arr.links;
    return rv;
}

/* ---- OTLP/JSON -----------------------------------------------------------
 */

static const struct tr_otlp_jfield event_fields[] = {
    TR_OTLP_JF("timeUnixNano",
               "time_unix_nano",
               TR_OTLP_J_U64,
               struct tr_otlp_event,
               time_unix_nano,
               0),
    TR_OTLP_JF("name", NULL, TR_OTLP_J_STR, struct tr_otlp_event, name, 0),
    TR_OTLP_JF_KVS(struct tr_otlp_event, attrs, n_attrs),
    TR_OTLP_JF("droppedAttributesCount",
               "dropped_attributes_count",
               TR_OTLP_J_U32,
               struct tr_otlp_event,
               dropped_attributes_count,
               0),
};

static const struct tr_otlp_jfield link_fields[] = {
    TR_OTLP_JF("traceId",
               "trace_id",
               TR_OTLP_J_ID,
               struct tr_otlp_link,
               trace_id,
               16),
    TR_OTLP_JF("spanId",
               "span_id",
               TR_OTLP_J_ID,
               struct tr_otlp_link,
               span_id,
               8),
    TR_OTLP_JF("traceState",
               "trace_state",
               TR_OTLP_J_STR,
               struct tr_otlp_link,
               trace_state,
               0),
    TR_OTLP_JF_KVS(struct tr_otlp_link, attrs, n_attrs),
    TR_OTLP_JF("droppedAttributesCount",
               "dropped_attributes_count",
               TR_OTLP_J_U32,
               struct tr_otlp_link,
               dropped_attributes_count,
               0),
    TR_OTLP_JF("flags", NULL, TR_OTLP_J_U32, struct tr_otlp_link, flags, 0),
};

static const struct tr_otlp_jfield status_fields[] = {
    TR_OTLP_JF("message",
               NULL,
               TR_OTLP_J_STR,
               struct tr_otlp_span,
               status_message,
               0),
    TR_OTLP_JF_ENUM("code",
                    NULL,
                    struct tr_otlp_span,
                    status_code,
                    status_names),
};

static const struct tr_otlp_jmsg event_msg = {
    "Event", sizeof(struct tr_otlp_event), event_fields,
    TR_OTLP_JF_N(event_fields)};

static const struct tr_otlp_jmsg link_msg = {
    "Link", sizeof(struct tr_otlp_link), link_fields,
    TR_OTLP_JF_N(link_fields)};

/* status: a Status object (or null) read into the span's own fields */
static int json_status(struct tr_otlp_json *j, long v, void *span)
{
    if (j->doc->toks[v].type == TR_SJSON_NULL) {
        return 0;
    }
    return tr_otlp_json_fields(j, v, "Status", status_fields,
                               TR_OTLP_JF_N(status_fields), span);
}

static const struct tr_otlp_jfield span_fields[] = {
    TR_OTLP_JF("traceId",
               "trace_id",
               TR_OTLP_J_ID,
               struct tr_otlp_span,
               trace_id,
               16),
    TR_OTLP_JF("spanId",
               "span_id",
               TR_OTLP_J_ID,
               struct tr_otlp_span,
               span_id,
               8),
    TR_OTLP_JF("traceState",
               "trace_state",
               TR_OTLP_J_STR,
               struct tr_otlp_span,
               trace_state,
               0),
    TR_OTLP_JF("parentSpanId",
               "parent_span_id",
               TR_OTLP_J_ID,
               struct tr_otlp_span,
               parent_span_id,
               8),
    TR_OTLP_JF("flags", NULL, TR_OTLP_J_U32, struct tr_otlp_span, flags, 0),
    TR_OTLP_JF("name", NULL, TR_OTLP_J_STR, struct tr_otlp_span, name, 0),
    TR_OTLP_JF_ENUM("kind", NULL, struct tr_otlp_span, kind, kind_names),
    TR_OTLP_JF("startTimeUnixNano",
               "start_time_unix_nano",
               TR_OTLP_J_U64,
               struct tr_otlp_span,
               start_time_unix_nano,
               0),
    TR_OTLP_JF("endTimeUnixNano",
               "end_time_unix_nano",
               TR_OTLP_J_U64,
               struct tr_otlp_span,
               end_time_unix_nano,
               0),
    TR_OTLP_JF_KVS(struct tr_otlp_span, attrs, n_attrs),
    TR_OTLP_JF("droppedAttributesCount",
               "dropped_attributes_count",
               TR_OTLP_J_U32,
               struct tr_otlp_span,
               dropped_attributes_count,
               0),
    TR_OTLP_JF_LIST("events",
                    NULL,
                    struct tr_otlp_span,
                    events,
                    n_events,
                    &event_msg),
    TR_OTLP_JF("droppedEventsCount",
               "dropped_events_count",
               TR_OTLP_J_U32,
               struct tr_otlp_span,
               dropped_events_count,
               0),
    TR_OTLP_JF_LIST("links",
                    NULL,
                    struct tr_otlp_span,
                    links,
                    n_links,
                    &link_msg),
    TR_OTLP_JF("droppedLinksCount",
               "dropped_links_count",
               TR_OTLP_J_U32,
               struct tr_otlp_span,
               dropped_links_count,
               0),
    TR_OTLP_JF_CALL("status", NULL, json_status),
};

static const struct tr_otlp_jmsg span_msg = {
    "Span", sizeof(struct tr_otlp_span), span_fields,
    TR_OTLP_JF_N(span_fields)};

/* ---- requests ------------------------------------------------------------
 */

static const struct tr_otlp_signal traces_signal = {
    .what = "otlp traces",
    .m_request = M_REQ,
    .m_resource = M_RS,
    .m_scope = M_SS,
    .pb_resources = "resource_spans",
    .json_resources = {"resourceSpans", "resource_spans"},
    .json_scopes = {"scopeSpans", "scope_spans"},
    .json_items = {"spans", NULL},
    .item_size = sizeof(struct tr_otlp_span),
    .pb_item = pb_span,
    .json_item = &span_msg,
};

/* The request's groups as the traces result (empty after an error). */
static void traces_from_groups(int rv,
                               const struct tr_otlp_groups *g,
                               size_t len,
                               struct tr_otlp_traces *out)
{
    memset(out, 0, sizeof(*out));
    if (rv == 0) {
        out->resources = g->resources;
        out->n_resources = g->n_resources;
        out->n_spans = g->n_items;
        out->body_len = len;
    }
}

int tr_otlp_traces_decode(const void *buf,
                          size_t len,
                          struct tr_arena *a,
                          struct tr_otlp_traces *out,
                          char *errmsg)
{
    struct tr_otlp_groups g;
    int rv = tr_otlp_groups_decode(&traces_signal, buf, len, a, &g, errmsg);
    traces_from_groups(rv, &g, len, out);
    return rv;
}

int tr_otlp_traces_decode_json(const void *buf,
                               size_t len,
                               struct tr_arena *a,
                               struct tr_otlp_traces *out,
                               char *errmsg)
{
    struct tr_otlp_groups g;
    int rv =
        tr_otlp_groups_decode_json(&traces_signal, buf, len, a, &g, errmsg);
    traces_from_groups(rv, &g, len, out);
    return rv;
}
