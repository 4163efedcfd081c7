/* otlp.c - see otlp.h. */
#include "bench/lib/otlp.h"

#include <string.h>

void pbw_reset(struct pbw *w)
{
    w->b.len = 0;
    w->depth = 0;
}

void pbw_tag(struct pbw *w, unsigned field, unsigned wire_type)
{
    b_uvarint(&w->b, (uint64_t)field << 3 | wire_type);
}

void pbw_varint(struct pbw *w, unsigned field, uint64_t v)
{
    pbw_tag(w, field, 0);
    b_uvarint(&w->b, v);
}

void pbw_fixed64(struct pbw *w, unsigned field, uint64_t v)
{
    uint8_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    pbw_tag(w, field, 1);
    b_put(&w->b, t, 8);
}

void pbw_fixed32(struct pbw *w, unsigned field, uint32_t v)
{
    uint8_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    pbw_tag(w, field, 5);
    b_put(&w->b, t, 4);
}

void pbw_bytes(struct pbw *w, unsigned field, const void *p, size_t n)
{
    pbw_tag(w, field, 2);
    b_uvarint(&w->b, n);
    b_put(&w->b, p, n);
}

void pbw_string(struct pbw *w, unsigned field, const char *s)
{
    pbw_bytes(w, field, s, strlen(s));
}

void pbw_begin(struct pbw *w, unsigned field)
{
    if (w->depth >= PBW_DEPTH)
        die("pbw: nesting deeper than %d", PBW_DEPTH);
    pbw_tag(w, field, 2);
    w->open[w->depth++] = w->b.len;
    b_put(&w->b, "", 1); /* length placeholder */
}

void pbw_end(struct pbw *w)
{
    if (w->depth <= 0)
        die("pbw: end without begin");
    size_t at = w->open[--w->depth];
    size_t len = w->b.len - at - 1;
    size_t vl = uvarint_len(len);
    if (vl > 1) {
        b_reserve(&w->b, vl - 1);
        memmove(w->b.p + at + vl, w->b.p + at + 1, len);
        w->b.len += vl - 1;
    }
    uint64_t v = len;
    uint8_t *p = (uint8_t *)w->b.p + at;
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p = (uint8_t)v;
}

static void otlp__kv(struct pbw *w, unsigned field, const struct otlp_attr *a)
{
    pbw_begin(w, field);
    pbw_string(w, 1, a->key);
    pbw_begin(w, 2);
    switch (a->type) {
        case OV_STR:
            pbw_string(w, 1, a->s);
            break;
        case OV_BOOL:
            pbw_varint(w, 2, a->i != 0);
            break;
        case OV_INT:
            pbw_varint(w, 3, (uint64_t)a->i);
            break;
        case OV_DOUBLE: {
            uint64_t bits;
            memcpy(&bits, &a->d, 8);
            pbw_fixed64(w, 4, bits);
            break;
        }
    }
    pbw_end(w);
    pbw_end(w);
}

void otlp_rs_begin(struct pbw *w, const struct otlp_attr *res, size_t n)
{
    pbw_begin(w, 1); /* ExportTraceServiceRequest.resource_spans */
    pbw_begin(w, 1); /* ResourceSpans.resource */
    for (size_t i = 0; i < n; i++)
        otlp__kv(w, 1, &res[i]);
    pbw_end(w);
}

void otlp_rs_end(struct pbw *w)
{
    pbw_end(w);
}

void otlp_ss_begin(struct pbw *w, const char *scope, const char *version)
{
    pbw_begin(w, 2); /* ResourceSpans.scope_spans */
    pbw_begin(w, 1); /* ScopeSpans.scope */
    pbw_string(w, 1, scope);
    if (version && *version)
        pbw_string(w, 2, version);
    pbw_end(w);
}

void otlp_ss_end(struct pbw *w)
{
    pbw_end(w);
}

void otlp_span(struct pbw *w, const struct otlp_span *sp)
{
    pbw_begin(w, 2); /* ScopeSpans.spans */
    pbw_bytes(w, 1, sp->trace_id, 16);
    pbw_bytes(w, 2, sp->span_id, 8);
    if (sp->has_parent)
        pbw_bytes(w, 4, sp->parent_id, 8);
    pbw_string(w, 5, sp->name);
    if (sp->kind)
        pbw_varint(w, 6, (uint64_t)sp->kind);
    pbw_fixed64(w, 7, sp->start_ns);
    pbw_fixed64(w, 8, sp->end_ns);
    for (size_t i = 0; i < sp->n_attrs; i++)
        otlp__kv(w, 9, &sp->attrs[i]);
    for (size_t e = 0; e < sp->n_events; e++) {
        const struct otlp_event *ev = &sp->events[e];
        pbw_begin(w, 11);
        pbw_fixed64(w, 1, ev->time_ns);
        pbw_string(w, 2, ev->name);
        for (size_t i = 0; i < ev->n_attrs; i++)
            otlp__kv(w, 3, &ev->attrs[i]);
        pbw_end(w);
    }
    if (sp->status_code) {
        pbw_begin(w, 15);
        if (sp->status_msg && *sp->status_msg)
            pbw_string(w, 2, sp->status_msg);
        pbw_varint(w, 3, (uint64_t)sp->status_code);
        pbw_end(w);
    }
    if (sp->flags)
        pbw_fixed32(w, 16, sp->flags);
    pbw_end(w);
}

/* ---- reading ------------------------------------------------------------ */

struct pbr {
    const uint8_t *p, *end;
};

static int pbr_varint(struct pbr *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int s = 0; s < 64; s += 7) {
        if (r->p >= r->end)
            return -1;
        uint8_t b = *r->p++;
        x |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

/* The next field: its number and, for wire type 2, its payload in *sub;
 * other wire types are skipped (*sub empty) and their varint in *v.
 * 1 = a field, 0 = the end, -1 = malformed. */
static int pbr_next(struct pbr *r,
                    unsigned *field,
                    struct pbr *sub,
                    uint64_t *v)
{
    if (r->p >= r->end)
        return 0;
    uint64_t tag, n;
    if (pbr_varint(r, &tag) != 0)
        return -1;
    *field = (unsigned)(tag >> 3);
    sub->p = sub->end = NULL;
    *v = 0;
    switch (tag & 7) {
        case 0:
            return pbr_varint(r, v) == 0 ? 1 : -1;
        case 1:
            if (r->end - r->p < 8)
                return -1;
            r->p += 8;
            return 1;
        case 5:
            if (r->end - r->p < 4)
                return -1;
            r->p += 4;
            return 1;
        case 2:
            if (pbr_varint(r, &n) != 0 || n > (uint64_t)(r->end - r->p))
                return -1;
            sub->p = r->p;
            sub->end = r->p + n;
            r->p += n;
            return 1;
        default:
            return -1;
    }
}

long otlp_count_spans(const uint8_t *p, size_t n)
{
    struct pbr top = {p, p + n}, rs, ss, x;
    unsigned f;
    uint64_t v;
    long spans = 0;
    int k;
    while ((k = pbr_next(&top, &f, &rs, &v)) == 1) {
        if (f != 1 || !rs.p)
            continue;
        while ((k = pbr_next(&rs, &f, &ss, &v)) == 1) {
            if (f != 2 || !ss.p)
                continue;
            while ((k = pbr_next(&ss, &f, &x, &v)) == 1)
                if (f == 2)
                    spans++;
            if (k < 0)
                return -1;
        }
        if (k < 0)
            return -1;
    }
    return k < 0 ? -1 : spans;
}

long otlp_export_rejected(const uint8_t *p, size_t n, char *msg, size_t msg_n)
{
    struct pbr top = {p, p + n}, ps, x;
    unsigned f;
    uint64_t v;
    long rejected = 0;
    int k;
    if (msg_n)
        msg[0] = 0;
    while ((k = pbr_next(&top, &f, &ps, &v)) == 1) {
        if (f != 1 || !ps.p)
            continue;
        while ((k = pbr_next(&ps, &f, &x, &v)) == 1) {
            if (f == 1)
                rejected = (long)v;
            else if (f == 2 && x.p && msg_n) {
                size_t l = (size_t)(x.end - x.p);
                if (l > msg_n - 1)
                    l = msg_n - 1;
                memcpy(msg, x.p, l);
                msg[l] = 0;
            }
        }
        if (k < 0)
            return -1;
    }
    return k < 0 ? -1 : rejected;
}
