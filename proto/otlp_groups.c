/* otlp_groups.c - the resource > scope > item nesting of OTLP export
 * requests, for every signal (otlp_groups.h). */
#include "proto/otlp_groups.h"

#include <stddef.h>
#include <string.h>

#include "lib/err.h"
#include "lib/jsonparse.h"

/* The message's name without its package ("ScopeLogs"). */
static const char *short_name(const char *m)
{
    const char *dot = strrchr(m, '.');
    return dot != NULL ? dot + 1 : m;
}

/* ---- protobuf ------------------------------------------------------------
 */

static int pb_scope(const struct tr_otlp_signal *sig,
                    const struct tr_pb_rd *rd,
                    struct tr_cursor c,
                    struct tr_arena *a,
                    struct tr_otlp_scope_group *out)
{
    memset(out, 0, sizeof(*out));
    size_t n;
    int rv = tr_otlp_pb_count(rd, c, sig->m_scope, 2, &n);
    char *items = tr_pb_array(a, n, sig->item_size, &rv);
    size_t k = 0;
    while (rv == 0 && c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        struct tr_cursor sub;
        rv = tr_pb_tag(rd, &c, sig->m_scope, &field, &wt);
        if (rv == 0 && (field == 1 || field == 2)) {
            rv = tr_pb_want(rd, at, sig->m_scope, field, wt, WT_LEN);
            if (rv == 0) {
                rv = tr_pb_len(rd, &c, sig->m_scope, field, &sub);
            }
            if (rv == 0 && field == 1) {
                rv = tr_otlp_pb_scope(rd, sub, a, &out->scope);
            } else if (rv == 0) {
                rv = sig->pb_item(rd, sub, a, items + k++ * sig->item_size);
            }
        } else if (rv == 0 && field == 3) {
            rv = tr_otlp_pb_str(rd, &c, at, sig->m_scope, field, wt,
                                &out->schema_url);
        } else if (rv == 0) {
            rv = tr_pb_skip(rd, &c, sig->m_scope, field, wt);
        }
    }
    out->items = items;
    out->n_items = k;
    return rv;
}

static int pb_resource(const struct tr_otlp_signal *sig,
                       const struct tr_pb_rd *rd,
                       struct tr_cursor c,
                       struct tr_arena *a,
                       struct tr_otlp_resource_group *out,
                       size_t *n_items)
{
    memset(out, 0, sizeof(*out));
    size_t n;
    int rv = tr_otlp_pb_count(rd, c, sig->m_resource, 2, &n);
    struct tr_otlp_scope_group *sgs = tr_pb_array(a, n, sizeof(*sgs), &rv);
    size_t k = 0;
    while (rv == 0 && c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        struct tr_cursor sub;
        rv = tr_pb_tag(rd, &c, sig->m_resource, &field, &wt);
        if (rv == 0 && (field == 1 || field == 2)) {
            rv = tr_pb_want(rd, at, sig->m_resource, field, wt, WT_LEN);
            if (rv == 0) {
                rv = tr_pb_len(rd, &c, sig->m_resource, field, &sub);
            }
            if (rv == 0 && field == 1) {
                rv = tr_otlp_pb_resource(rd, sub, a, &out->resource);
            } else if (rv == 0) {
                rv = pb_scope(sig, rd, sub, a, &sgs[k]);
                *n_items += sgs[k].n_items;
                k++;
            }
        } else if (rv == 0 && field == 3) {
            rv = tr_otlp_pb_str(rd, &c, at, sig->m_resource, field, wt,
                                &out->schema_url);
        } else if (rv == 0) {
            rv = tr_pb_skip(rd, &c, sig->m_resource, field, wt);
        }
    }
    out->scopes = sgs;
    out->n_scopes = k;
    return rv;
}

int tr_otlp_groups_decode(const struct tr_otlp_signal *sig,
                          const void *buf,
                          size_t len,
                          struct tr_arena *a,
                          struct tr_otlp_groups *out,
                          char *errmsg)
{
    memset(out, 0, sizeof(*out));
    if (buf == NULL && len > 0) {
        return tr_errf(TR_EINVAL, errmsg, "%s: NULL buffer", sig->what);
    }
    struct tr_pb_rd rd = {buf, errmsg, sig->pb_resources, SIZE_MAX};
    struct tr_cursor c = tr_cursor_make(buf, len);
    size_t n, k = 0, items = 0;
    int rv = tr_otlp_pb_count(&rd, c, sig->m_request, 1, &n);
    struct tr_otlp_resource_group *rgs = tr_pb_array(a, n, sizeof(*rgs), &rv);
    while (rv == 0 && c.p < c.end) {
        uint32_t field;
        unsigned wt;
        struct tr_cursor sub;
        rv = tr_pb_tag(&rd, &c, sig->m_request, &field, &wt);
        if (rv == 0 && field == 1) {
            rv = tr_pb_len(&rd, &c, sig->m_request, field, &sub);
            if (rv == 0) {
                rd.item_idx = k;
                rv = pb_resource(sig, &rd, sub, a, &rgs[k], &items);
                rd.item_idx = SIZE_MAX;
                k++;
            }
        } else if (rv == 0) {
            rv = tr_pb_skip(&rd, &c, sig->m_request, field, wt);
        }
    }
    if (rv == TR_ENOMEM) {
        return tr_errf(rv, errmsg, "%s: out of memory", sig->what);
    }
    if (rv != 0) {
        return rv;
    }
    out->resources = rgs;
    out->n_resources = k;
    out->n_items = items;
    return 0;
}

/* ---- OTLP/JSON -----------------------------------------------------------
 */

int tr_otlp_json_array(struct tr_otlp_json *j, long idx, size_t *n)
{
    const struct tr_sjson_tok *t = &j->doc->toks[idx];
    *n = 0;
    if (t->type == TR_SJSON_NULL) {
        return 1;
    }
    if (t->type != TR_SJSON_ARRAY) {
        return tr_otlp_json_fail(j, "expected an array");
    }
    *n = t->n;
    return 0;
}

static int json_sub_item(struct tr_otlp_json *j,
                         long v,
                         void *out,
                         const void *arg)
{
    return tr_otlp_json_msg(j, v, arg, out);
}

/* One member by its field. */
static int json_field(struct tr_otlp_json *j,
                      long v,
                      const struct tr_otlp_jfield *f,
                      char *out)
{
    void *at = out + f->off;
    switch (f->kind) {
        case TR_OTLP_J_U64:
            return tr_otlp_json_u64(j, v, at);
        case TR_OTLP_J_U32:
            return tr_otlp_json_u32(j, v, at);
        case TR_OTLP_J_STR:
            return tr_otlp_json_str(j, v, at);
        case TR_OTLP_J_ID:
            return tr_otlp_json_id(j, v, f->arg, at);
        case TR_OTLP_J_ENUM:
            return tr_otlp_json_enum(j, v, f->names, f->arg, at);
        case TR_OTLP_J_KVS:
            return tr_otlp_json_kvs(j, v, 0, at, (size_t *)(out + f->arg));
        case TR_OTLP_J_VALUE:
            return tr_otlp_json_value(j, v, 0, at);
        case TR_OTLP_J_DOUBLE: {
            int rv = tr_otlp_json_double(j, v, at);
            if (rv == 0 && f->arg != 0 &&
                j->doc->toks[v].type != TR_SJSON_NULL) {
                *(bool *)(out + f->arg) = true;
            }
            return rv;
        }
        case TR_OTLP_J_BOOL:
            return tr_otlp_json_bool(j, v, at);
        case TR_OTLP_J_I32: {
            int64_t x = *(int32_t *)at;
            int rv = tr_otlp_json_i64(j, v, &x);
            if (rv == 0 && (x < INT32_MIN || x > INT32_MAX)) {
                return tr_otlp_json_fail(j, "%lld does not fit 32 bits",
                                         (long long)x);
            }
            *(int32_t *)at = (int32_t)x;
            return rv;
        }
        case TR_OTLP_J_MSG:
            return j->doc->toks[v].type == TR_SJSON_NULL
                       ? 0
                       : tr_otlp_json_msg(j, v, f->sub, at);
        case TR_OTLP_J_LIST: {
            void *list;
            int rv = tr_otlp_json_list(j, v, f->sub->size, json_sub_item,
                                       f->sub, &list, (size_t *)(out + f->arg));
            memcpy(at, &list, sizeof(list));
            return rv;
        }
        default:
            return f->call(j, v, out);
    }
}

int tr_otlp_json_msg(struct tr_otlp_json *j,
                     long obj,
                     const struct tr_otlp_jmsg *m,
                     void *out)
{
    memset(out, 0, m->size);
    return tr_otlp_json_fields(j, obj, m->what, m->fields, m->n, out);
}

int tr_otlp_json_fields(struct tr_otlp_json *j,
                        long obj,
                        const char *what,
                        const struct tr_otlp_jfield *fields,
                        size_t n,
                        void *out)
{
    const struct tr_sjson *d = j->doc;
    int rv = tr_otlp_json_object(j, obj, what);
    long k = obj + 1;
    for (uint32_t i = 0; rv == 0 && i < d->toks[obj].n; i++) {
        long v = k + 1;
        for (size_t f = 0; f < n; f++) {
            if (tr_otlp_json_key(j, k, fields[f].camel, fields[f].snake)) {
                size_t p0 = tr_otlp_json_push(j, fields[f].camel, 0);
                rv = json_field(j, v, &fields[f], out);
                if (rv == 0) {
                    tr_otlp_json_pop(j, p0);
                }
                break;
            }
        }
        k = (long)d->toks[v].next;
    }
    return rv;
}

int tr_otlp_json_object(struct tr_otlp_json *j, long idx, const char *what)
{
    if (j->doc->toks[idx].type != TR_SJSON_OBJECT) {
        return tr_otlp_json_fail(j, "expected a %s object", what);
    }
    return 0;
}

int tr_otlp_json_list(
    struct tr_otlp_json *j,
    long idx,
    size_t size,
    int (*fn)(struct tr_otlp_json *j, long obj, void *out, const void *arg),
    const void *arg,
    void **out,
    size_t *n)
{
    const struct tr_sjson *d = j->doc;
    size_t len;
    char *v = NULL;
    int rv = tr_otlp_json_array(j, idx, &len);
    if (rv == 0) {
        v = tr_pb_array(j->a, len, size, &rv);
        if (rv != 0) {
            rv = tr_errf(rv, j->errmsg, "out of memory");
        }
    }
    long e = idx + 1;
    for (size_t i = 0; rv == 0 && i < len; i++) {
        size_t p = tr_otlp_json_push(j, NULL, i);
        rv = fn(j, e, v + i * size, arg);
        if (rv == 0) {
            tr_otlp_json_pop(j, p);
        }
        e = (long)d->toks[e].next;
    }
    rv = rv > 0 ? 0 : rv;
    *out = v;
    *n = rv == 0 ? len : 0;
    return rv;
}

static int json_scope_scope(struct tr_otlp_json *j, long v, void *out)
{
    return tr_otlp_json_scope(j, v,
                              &((struct tr_otlp_scope_group *)out)->scope);
}

static int json_scope_items(struct tr_otlp_json *j, long v, void *vout)
{
    const struct tr_otlp_signal *sig = j->ctx;
    struct tr_otlp_scope_group *out = vout;
    void *items;
    int rv = tr_otlp_json_list(j, v, sig->item_size, json_sub_item,
                               sig->json_item, &items, &out->n_items);
    out->items = items;
    return rv;
}

static int json_scope(struct tr_otlp_json *j,
                      long obj,
                      void *out,
                      const void *arg)
{
    const struct tr_otlp_signal *sig = arg;
    const struct tr_otlp_jfield fields[] = {
        {"scope", NULL, TR_OTLP_J_CALL, 0, 0, NULL, json_scope_scope, NULL},
        {"schemaUrl", "schema_url", TR_OTLP_J_STR,
         offsetof(struct tr_otlp_scope_group, schema_url), 0, NULL, NULL, NULL},
        {sig->json_items[0], sig->json_items[1], TR_OTLP_J_CALL, 0, 0, NULL,
         json_scope_items, NULL},
    };
    memset(out, 0, sizeof(struct tr_otlp_scope_group));
    return tr_otlp_json_fields(j, obj, short_name(sig->m_scope), fields, 3,
                               out);
}

static int json_resource_resource(struct tr_otlp_json *j, long v, void *out)
{
    return tr_otlp_json_resource(
        j, v, &((struct tr_otlp_resource_group *)out)->resource);
}

static int json_resource_scopes(struct tr_otlp_json *j, long v, void *vout)
{
    struct tr_otlp_resource_group *out = vout;
    void *sgs;
    int rv = tr_otlp_json_list(j, v, sizeof(struct tr_otlp_scope_group),
                               json_scope, j->ctx, &sgs, &out->n_scopes);
    out->scopes = sgs;
    return rv;
}

static int json_resource(struct tr_otlp_json *j,
                         long obj,
                         void *out,
                         const void *arg)
{
    const struct tr_otlp_signal *sig = arg;
    const struct tr_otlp_jfield fields[] = {
        {"resource", NULL, TR_OTLP_J_CALL, 0, 0, NULL, json_resource_resource,
         NULL},
        {"schemaUrl", "schema_url", TR_OTLP_J_STR,
         offsetof(struct tr_otlp_resource_group, schema_url), 0, NULL, NULL,
         NULL},
        {sig->json_scopes[0], sig->json_scopes[1], TR_OTLP_J_CALL, 0, 0, NULL,
         json_resource_scopes, NULL},
    };
    memset(out, 0, sizeof(struct tr_otlp_resource_group));
    return tr_otlp_json_fields(j, obj, short_name(sig->m_resource), fields, 3,
                               out);
}

int tr_otlp_groups_decode_json(const struct tr_otlp_signal *sig,
                               const void *buf,
                               size_t len,
                               struct tr_arena *a,
                               struct tr_otlp_groups *out,
                               char *errmsg)
{
    memset(out, 0, sizeof(*out));
    struct tr_sjson d;
    if (tr_sjson_parse(&d, buf, len) != 0) {
        int rv = tr_errf(TR_EINVAL, errmsg, "invalid JSON: %s", d.err);
        tr_sjson_free(&d);
        return rv;
    }
    struct tr_otlp_json j = {.doc = &d, .a = a, .errmsg = errmsg, .ctx = sig};
    void *rgs = NULL;
    size_t n = 0;
    int rv = d.toks[0].type == TR_SJSON_OBJECT
                 ? 0
                 : tr_errf(TR_EINVAL, errmsg,
                           "expected an %s object as the JSON body",
                           short_name(sig->m_request));
    long k = 1;
    for (uint32_t i = 0; rv == 0 && i < d.toks[0].n; i++) {
        long v = k + 1;
        if (tr_otlp_json_key(&j, k, sig->json_resources[0],
                             sig->json_resources[1])) {
            tr_otlp_json_push(&j, sig->json_resources[0], 0);
            rv = tr_otlp_json_list(&j, v, sizeof(struct tr_otlp_resource_group),
                                   json_resource, sig, &rgs, &n);
            tr_otlp_json_pop(&j, 0);
        }
        k = (long)d.toks[v].next;
    }
    if (rv == 0) {
        const struct tr_otlp_resource_group *r = rgs;
        out->resources = r;
        out->n_resources = n;
        for (size_t i = 0; i < n; i++) {
            for (size_t s = 0; s < r[i].n_scopes; s++) {
                out->n_items += r[i].scopes[s].n_items;
            }
        }
    }
    tr_sjson_free(&d);
    return rv;
}
