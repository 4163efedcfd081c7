/* otlp_common.c - shared OTLP messages: protobuf and JSON decoding, the
 * string form of an AnyValue, label names (otlp_common.h).
 *
 * Repeated fields are decoded like proto/loki_push.c does: the message is
 * walked once to count them (checking the framing), the array allocated
 * once from the arena, then filled. AnyValue recursion is bounded by
 * TR_OTLP_MAX_DEPTH. */
#include "proto/otlp_common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dtoa.h"
#include "lib/err.h"
#include "lib/json.h"

static const char M_VALUE[] = "opentelemetry.proto.common.v1.AnyValue";
static const char M_ARRAY[] = "opentelemetry.proto.common.v1.ArrayValue";
static const char M_KVLIST[] = "opentelemetry.proto.common.v1.KeyValueList";
static const char M_KV[] = "opentelemetry.proto.common.v1.KeyValue";
static const char M_SCOPE[] =
    "opentelemetry.proto.common.v1.InstrumentationScope";
static const char M_RESOURCE[] = "opentelemetry.proto.resource.v1.Resource";

/* ---- protobuf ------------------------------------------------------------
 */

int tr_otlp_pb_count(const struct tr_pb_rd *rd,
                     struct tr_cursor c,
                     const char *msg,
                     uint32_t field,
                     size_t *n)
{
    *n = 0;
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t f;
        unsigned wt;
        int rv = tr_pb_tag(rd, &c, msg, &f, &wt);
        if (rv == 0 && f == field) {
            rv = tr_pb_want(rd, at, msg, f, wt, WT_LEN);
            (*n)++;
        }
        if (rv == 0) {
            rv = tr_pb_skip(rd, &c, msg, f, wt);
        }
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

int tr_otlp_pb_str(const struct tr_pb_rd *rd,
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

int tr_otlp_pb_varint(const struct tr_pb_rd *rd,
                      struct tr_cursor *c,
                      const uint8_t *at,
                      const char *msg,
                      uint32_t field,
                      unsigned wt,
                      uint64_t *out)
{
    int rv = tr_pb_want(rd, at, msg, field, wt, WT_VARINT);
    return rv != 0 ? rv : tr_pb_u64(rd, c, msg, field, out);
}

int tr_otlp_pb_fixed64(const struct tr_pb_rd *rd,
                       struct tr_cursor *c,
                       const uint8_t *at,
                       const char *msg,
                       uint32_t field,
                       unsigned wt,
                       uint64_t *out)
{
    int rv = tr_pb_want(rd, at, msg, field, wt, WT_I64);
    if (rv != 0) {
        return rv;
    }
    if (tr_cursor_left(c) < 8) {
        return tr_pb_fail(rd, c->p, msg, "truncated fixed64 field %u", field);
    }
    *out = tr_pb_load_u64le(c->p);
    c->p += 8;
    return 0;
}

int tr_otlp_pb_fixed32(const struct tr_pb_rd *rd,
                       struct tr_cursor *c,
                       const uint8_t *at,
                       const char *msg,
                       uint32_t field,
                       unsigned wt,
                       uint32_t *out)
{
    int rv = tr_pb_want(rd, at, msg, field, wt, WT_I32);
    if (rv != 0) {
        return rv;
    }
    if (tr_cursor_left(c) < 4) {
        return tr_pb_fail(rd, c->p, msg, "truncated fixed32 field %u", field);
    }
    const uint8_t *p = c->p;
    *out = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
    c->p += 4;
    return 0;
}

int tr_otlp_pb_msg(const struct tr_pb_rd *rd,
                   struct tr_cursor *c,
                   const uint8_t *at,
                   const char *msg,
                   uint32_t field,
                   unsigned wt,
                   struct tr_cursor *sub)
{
    int rv = tr_pb_want(rd, at, msg, field, wt, WT_LEN);
    return rv != 0 ? rv : tr_pb_len(rd, c, msg, field, sub);
}

int tr_otlp_pb_id(const struct tr_pb_rd *rd,
                  struct tr_cursor *c,
                  const uint8_t *at,
                  const char *msg,
                  const char *name,
                  uint32_t field,
                  unsigned wt,
                  size_t want,
                  struct tr_slice *out)
{
    struct tr_slice s;
    int rv = tr_otlp_pb_str(rd, c, at, msg, field, wt, &s);
    if (rv != 0) {
        return rv;
    }
    if (s.len != 0 && s.len != want) {
        return tr_pb_fail(rd, at, msg, "%s must be %zu bytes, not %zu", name,
                          want, s.len);
    }
    *out = s;
    return 0;
}

static int pb_array(const struct tr_pb_rd *rd,
                    struct tr_cursor c,
                    struct tr_arena *a,
                    unsigned depth,
                    struct tr_otlp_value *out)
{
    size_t n;
    int rv = tr_otlp_pb_count(rd, c, M_ARRAY, 1, &n);
    struct tr_otlp_value *items = tr_pb_array(a, n, sizeof(*items), &rv);
    size_t k = 0;
    while (rv == 0 && c.p < c.end) {
        uint32_t field;
        unsigned wt;
        struct tr_cursor sub;
        rv = tr_pb_tag(rd, &c, M_ARRAY, &field, &wt);
        if (rv == 0 && field == 1) {
            rv = tr_pb_len(rd, &c, M_ARRAY, field, &sub);
            if (rv == 0) {
                rv = tr_otlp_pb_value(rd, sub, a, depth, &items[k++]);
            }
        } else if (rv == 0) {
            rv = tr_pb_skip(rd, &c, M_ARRAY, field, wt);
        }
    }
    out->items = items;
    out->n = k;
    return rv;
}

static int pb_kvlist(const struct tr_pb_rd *rd,
                     struct tr_cursor c,
                     struct tr_arena *a,
                     unsigned depth,
                     struct tr_otlp_value *out)
{
    size_t n;
    int rv = tr_otlp_pb_count(rd, c, M_KVLIST, 1, &n);
    struct tr_otlp_kv *kvs = tr_pb_array(a, n, sizeof(*kvs), &rv);
    size_t k = 0;
    while (rv == 0 && c.p < c.end) {
        uint32_t field;
        unsigned wt;
        struct tr_cursor sub;
        rv = tr_pb_tag(rd, &c, M_KVLIST, &field, &wt);
        if (rv == 0 && field == 1) {
            rv = tr_pb_len(rd, &c, M_KVLIST, field, &sub);
            if (rv == 0) {
                rv = tr_otlp_pb_kv(rd, sub, a, depth, &kvs[k++]);
            }
        } else if (rv == 0) {
            rv = tr_pb_skip(rd, &c, M_KVLIST, field, wt);
        }
    }
    out->kvs = kvs;
    out->n = k;
    return rv;
}

int tr_otlp_pb_value(const struct tr_pb_rd *rd,
                     struct tr_cursor c,
                     struct tr_arena *a,
                     unsigned depth,
                     struct tr_otlp_value *out)
{
    memset(out, 0, sizeof(*out));
    if (depth > TR_OTLP_MAX_DEPTH) {
        return tr_pb_fail(rd, c.p, M_VALUE, "values nested deeper than %d",
                          TR_OTLP_MAX_DEPTH);
    }
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        uint64_t u = 0;
        struct tr_cursor sub;
        int rv = tr_pb_tag(rd, &c, M_VALUE, &field, &wt);
        if (rv != 0) {
            return rv;
        }
        if (field < 1 || field > 7) {
            rv = tr_pb_skip(rd, &c, M_VALUE, field, wt);
            if (rv != 0) {
                return rv;
            }
            continue;
        }
        /* a oneof: the member read last wins */
        memset(out, 0, sizeof(*out));
        switch (field) {
            case 1:
                out->type = TR_OTLP_STRING;
                rv = tr_otlp_pb_str(rd, &c, at, M_VALUE, field, wt, &out->s);
                break;
            case 2:
                out->type = TR_OTLP_BOOL;
                rv = tr_otlp_pb_varint(rd, &c, at, M_VALUE, field, wt, &u);
                out->b = u != 0;
                break;
            case 3:
                out->type = TR_OTLP_INT;
                rv = tr_otlp_pb_varint(rd, &c, at, M_VALUE, field, wt, &u);
                out->i = (int64_t)u;
                break;
            case 4:
                out->type = TR_OTLP_DOUBLE;
                rv = tr_otlp_pb_fixed64(rd, &c, at, M_VALUE, field, wt, &u);
                out->d = tr_pb_bits_to_double(u);
                break;
            case 5:
            case 6:
                out->type = field == 5 ? TR_OTLP_ARRAY : TR_OTLP_KVLIST;
                rv = tr_pb_want(rd, at, M_VALUE, field, wt, WT_LEN);
                if (rv == 0) {
                    rv = tr_pb_len(rd, &c, M_VALUE, field, &sub);
                }
                if (rv == 0) {
                    rv = field == 5 ? pb_array(rd, sub, a, depth + 1, out)
                                    : pb_kvlist(rd, sub, a, depth + 1, out);
                }
                break;
            default: /* 7 */
                out->type = TR_OTLP_BYTES;
                rv = tr_otlp_pb_str(rd, &c, at, M_VALUE, field, wt, &out->s);
                break;
        }
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

int tr_otlp_pb_kv(const struct tr_pb_rd *rd,
                  struct tr_cursor c,
                  struct tr_arena *a,
                  unsigned depth,
                  struct tr_otlp_kv *out)
{
    memset(out, 0, sizeof(*out));
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        struct tr_cursor sub;
        int rv = tr_pb_tag(rd, &c, M_KV, &field, &wt);
        if (rv == 0 && field == 1) {
            rv = tr_otlp_pb_str(rd, &c, at, M_KV, field, wt, &out->key);
        } else if (rv == 0 && field == 2) {
            rv = tr_pb_want(rd, at, M_KV, field, wt, WT_LEN);
            if (rv == 0) {
                rv = tr_pb_len(rd, &c, M_KV, field, &sub);
            }
            if (rv == 0) {
                rv = tr_otlp_pb_value(rd, sub, a, depth, &out->value);
            }
        } else if (rv == 0) {
            rv = tr_pb_skip(rd, &c, M_KV, field, wt);
        }
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* The repeated KeyValue field `field` of message c into an arena array. */
static int pb_attrs(const struct tr_pb_rd *rd,
                    struct tr_cursor c,
                    struct tr_arena *a,
                    const char *msg,
                    uint32_t field,
                    const struct tr_otlp_kv **out,
                    size_t *n)
{
    size_t cnt;
    int rv = tr_otlp_pb_count(rd, c, msg, field, &cnt);
    struct tr_otlp_kv *kvs = tr_pb_array(a, cnt, sizeof(*kvs), &rv);
    size_t k = 0;
    while (rv == 0 && c.p < c.end) {
        uint32_t f;
        unsigned wt;
        struct tr_cursor sub;
        rv = tr_pb_tag(rd, &c, msg, &f, &wt);
        if (rv == 0 && f == field) {
            rv = tr_pb_len(rd, &c, msg, f, &sub);
            if (rv == 0) {
                rv = tr_otlp_pb_kv(rd, sub, a, 0, &kvs[k++]);
            }
        } else if (rv == 0) {
            rv = tr_pb_skip(rd, &c, msg, f, wt);
        }
    }
    *out = kvs;
    *n = k;
    return rv;
}

int tr_otlp_pb_resource(const struct tr_pb_rd *rd,
                        struct tr_cursor c,
                        struct tr_arena *a,
                        struct tr_otlp_resource *out)
{
    memset(out, 0, sizeof(*out));
    int rv = pb_attrs(rd, c, a, M_RESOURCE, 1, &out->attrs, &out->n_attrs);
    while (rv == 0 && c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        uint64_t u;
        rv = tr_pb_tag(rd, &c, M_RESOURCE, &field, &wt);
        if (rv == 0 && field == 2) {
            rv = tr_otlp_pb_varint(rd, &c, at, M_RESOURCE, field, wt, &u);
            out->dropped_attributes_count = (uint32_t)u;
        } else if (rv == 0) {
            rv = tr_pb_skip(rd, &c, M_RESOURCE, field, wt);
        }
    }
    return rv;
}

int tr_otlp_pb_scope(const struct tr_pb_rd *rd,
                     struct tr_cursor c,
                     struct tr_arena *a,
                     struct tr_otlp_scope *out)
{
    memset(out, 0, sizeof(*out));
    int rv = pb_attrs(rd, c, a, M_SCOPE, 3, &out->attrs, &out->n_attrs);
    while (rv == 0 && c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t field;
        unsigned wt;
        uint64_t u;
        rv = tr_pb_tag(rd, &c, M_SCOPE, &field, &wt);
        if (rv == 0 && field == 1) {
            rv = tr_otlp_pb_str(rd, &c, at, M_SCOPE, field, wt, &out->name);
        } else if (rv == 0 && field == 2) {
            rv = tr_otlp_pb_str(rd, &c, at, M_SCOPE, field, wt, &out->version);
        } else if (rv == 0 && field == 4) {
            rv = tr_otlp_pb_varint(rd, &c, at, M_SCOPE, field, wt, &u);
            out->dropped_attributes_count = (uint32_t)u;
        } else if (rv == 0) {
            rv = tr_pb_skip(rd, &c, M_SCOPE, field, wt);
        }
    }
    return rv;
}

/* ---- OTLP/JSON -----------------------------------------------------------
 */

size_t tr_otlp_json_push(struct tr_otlp_json *j, const char *name, size_t i)
{
    size_t old = j->path_len;
    size_t room = sizeof(j->path) - old;
    int n = name != NULL
                ? snprintf(j->path + old, room, "%s%s", old ? "." : "", name)
                : snprintf(j->path + old, room, "[%zu]", i);
    if (n < 0) {
        n = 0;
    }
    j->path_len = (size_t)n < room ? old + (size_t)n : sizeof(j->path) - 1;
    return old;
}

void tr_otlp_json_pop(struct tr_otlp_json *j, size_t len)
{
    j->path_len = len;
    j->path[len] = '\0';
}

__attribute__((format(printf, 2, 3))) int
tr_otlp_json_fail(struct tr_otlp_json *j, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return tr_errf(TR_EINVAL, j->errmsg, "%s: %s",
                   j->path_len ? j->path : "request", what);
}

bool tr_otlp_json_key(const struct tr_otlp_json *j,
                      long key,
                      const char *camel,
                      const char *snake)
{
    const struct tr_sjson_tok *t = &j->doc->toks[key];
    const char *s = j->doc->text + t->start;
    char buf[64];
    size_t n = t->len;
    if (memchr(s, '\\', n) != NULL) {
        /* an escaped key: compare its decoded form (names are short) */
        if (n >= sizeof(buf)) {
            return false;
        }
        tr_sjson_text(j->doc, key, buf, sizeof(buf));
        s = buf;
        n = strlen(buf);
    }
    return (camel != NULL && strlen(camel) == n && memcmp(s, camel, n) == 0) ||
           (snake != NULL && strlen(snake) == n && memcmp(s, snake, n) == 0);
}

static const char *json_kind(uint8_t type)
{
    switch (type) {
        case TR_SJSON_OBJECT:
            return "an object";
        case TR_SJSON_ARRAY:
            return "an array";
        case TR_SJSON_STRING:
            return "a string";
        case TR_SJSON_NUMBER:
            return "a number";
        case TR_SJSON_NULL:
            return "null";
        default:
            return "a boolean";
    }
}

/* The digits of an integer (a JSON number or a string) at idx into *s:
 * 0, 1 (null) or TR_EINVAL. Strings are decoded (an escaped digit is
 * still a digit). */
static int json_int_text(struct tr_otlp_json *j,
                         long idx,
                         const char *want,
                         struct tr_slice *s)
{
    const struct tr_sjson_tok *t = &j->doc->toks[idx];
    if (t->type == TR_SJSON_NULL) {
        return 1;
    }
    if (t->type == TR_SJSON_NUMBER) {
        *s = (struct tr_slice){j->doc->text + t->start, t->len};
        return 0;
    }
    if (t->type == TR_SJSON_STRING) {
        int rv = tr_sjson_string(j->doc, idx, j->a, s);
        return rv == TR_ENOMEM ? tr_errf(rv, j->errmsg, "out of memory") : rv;
    }
    return tr_otlp_json_fail(j, "expected %s, not %s", want,
                             json_kind(t->type));
}

/* Parses [+-]?digits into magnitude and sign; 0 or -1. */
static int parse_int(struct tr_slice s, bool *neg, uint64_t *mag)
{
    size_t i = 0;
    *neg = false;
    *mag = 0;
    if (s.len > 0 && (s.base[0] == '-' || s.base[0] == '+')) {
        *neg = s.base[0] == '-';
        i = 1;
    }
    if (i == s.len) {
        return -1;
    }
    for (; i < s.len; i++) {
        if (s.base[i] < '0' || s.base[i] > '9') {
            return -1;
        }
        uint64_t d = (uint64_t)(s.base[i] - '0');
        if (*mag > (UINT64_MAX - d) / 10) {
            return -1;
        }
        *mag = *mag * 10 + d;
    }
    return 0;
}

int tr_otlp_json_u64(struct tr_otlp_json *j, long idx, uint64_t *out)
{
    struct tr_slice s;
    int rv = json_int_text(j, idx, "an unsigned integer", &s);
    if (rv != 0) {
        return rv > 0 ? 0 : rv;
    }
    bool neg;
    uint64_t mag;
    /* no sign at all, as Go's strconv.ParseUint */
    if (parse_int(s, &neg, &mag) != 0 || s.base[0] == '-' || s.base[0] == '+') {
        return tr_otlp_json_fail(j, "not an unsigned 64-bit integer: %.*s",
                                 (int)(s.len > 40 ? 40 : s.len), s.base);
    }
    *out = mag;
    return 0;
}

int tr_otlp_json_u32(struct tr_otlp_json *j, long idx, uint32_t *out)
{
    uint64_t v = *out;
    int rv = tr_otlp_json_u64(j, idx, &v);
    if (rv == 0 && v > UINT32_MAX) {
        return tr_otlp_json_fail(j, "%llu does not fit 32 bits",
                                 (unsigned long long)v);
    }
    if (rv == 0) {
        *out = (uint32_t)v;
    }
    return rv;
}

int tr_otlp_json_i64(struct tr_otlp_json *j, long idx, int64_t *out)
{
    struct tr_slice s;
    int rv = json_int_text(j, idx, "an integer", &s);
    if (rv != 0) {
        return rv > 0 ? 0 : rv;
    }
    bool neg;
    uint64_t mag;
    if (parse_int(s, &neg, &mag) != 0 ||
        mag > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) {
        return tr_otlp_json_fail(j, "not a 64-bit integer: %.*s",
                                 (int)(s.len > 40 ? 40 : s.len), s.base);
    }
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

int tr_otlp_json_enum(struct tr_otlp_json *j,
                      long idx,
                      const char *const *names,
                      size_t n_names,
                      int32_t *out)
{
    const struct tr_sjson_tok *t = &j->doc->toks[idx];
    if (t->type == TR_SJSON_STRING) {
        struct tr_slice s;
        if (tr_sjson_string(j->doc, idx, j->a, &s) != 0) {
            return tr_errf(TR_ENOMEM, j->errmsg, "out of memory");
        }
        for (size_t i = 0; names != NULL && i < n_names; i++) {
            if (tr_slice_eq_cstr(s, names[i])) {
                *out = (int32_t)i;
                return 0;
            }
        }
        return tr_otlp_json_fail(j, "unknown enum value \"%.*s\"",
                                 (int)(s.len > 60 ? 60 : s.len), s.base);
    }
    if (t->type != TR_SJSON_NUMBER) {
        return t->type == TR_SJSON_NULL
                   ? 0
                   : tr_otlp_json_fail(j, "expected an enum, not %s",
                                       json_kind(t->type));
    }
    int64_t v = *out;
    int rv = tr_otlp_json_i64(j, idx, &v);
    if (rv == 0 && (v < INT32_MIN || v > INT32_MAX)) {
        return tr_otlp_json_fail(j, "enum value %lld does not fit 32 bits",
                                 (long long)v);
    }
    if (rv == 0) {
        *out = (int32_t)v;
    }
    return rv;
}

int tr_otlp_json_str(struct tr_otlp_json *j, long idx, struct tr_slice *out)
{
    const struct tr_sjson_tok *t = &j->doc->toks[idx];
    if (t->type == TR_SJSON_NULL) {
        return 0;
    }
    if (t->type != TR_SJSON_STRING) {
        return tr_otlp_json_fail(j, "expected a string, not %s",
                                 json_kind(t->type));
    }
    if (tr_sjson_string(j->doc, idx, j->a, out) != 0) {
        return tr_errf(TR_ENOMEM, j->errmsg, "out of memory");
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int tr_otlp_json_id(struct tr_otlp_json *j,
                    long idx,
                    size_t want,
                    struct tr_slice *out)
{
    struct tr_slice s = {"", 0};
    int rv = tr_otlp_json_str(j, idx, &s);
    if (rv != 0 || s.len == 0) {
        return rv;
    }
    if (s.len != 2 * want) {
        return tr_otlp_json_fail(j,
                                 "expected %zu hex digits (%zu bytes), not "
                                 "%zu characters",
                                 2 * want, want, s.len);
    }
    uint8_t *b = tr_arena_alloc(j->a, want);
    if (b == NULL) {
        return tr_errf(TR_ENOMEM, j->errmsg, "out of memory");
    }
    for (size_t i = 0; i < want; i++) {
        int hi = hexval(s.base[2 * i]), lo = hexval(s.base[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return tr_otlp_json_fail(j, "invalid hex digit at character %zu",
                                     hi < 0 ? 2 * i : 2 * i + 1);
        }
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    *out = (struct tr_slice){(const char *)b, want};
    return 0;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 with padding, as Go's base64.StdEncoding decodes it
 * (CR and LF ignored). 0, 1 (not base64) or TR_ENOMEM. */
static int b64_decode(struct tr_slice s,
                      struct tr_arena *a,
                      struct tr_slice *out)
{
    uint8_t *d = tr_arena_alloc(a, s.len / 4 * 3 + 3);
    if (d == NULL) {
        return TR_ENOMEM;
    }
    size_t o = 0, q = 0, pad = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.base[i];
        if (c == '\r' || c == '\n') {
            continue;
        }
        if (c == '=') {
            if (q < 2) {
                return 1;
            }
            pad++;
            q++;
            acc <<= 6;
        } else {
            int v = b64val(c);
            if (v < 0 || pad > 0) {
                return 1;
            }
            acc = acc << 6 | (uint32_t)v;
            q++;
        }
        if (q == 4) {
            d[o++] = (uint8_t)(acc >> 16);
            if (pad < 2) {
                d[o++] = (uint8_t)(acc >> 8);
            }
            if (pad < 1) {
                d[o++] = (uint8_t)acc;
            }
            q = 0;
            acc = 0;
            if (pad > 0) {
                /* nothing but line breaks may follow the padding */
                for (size_t k = i + 1; k < s.len; k++) {
                    if (s.base[k] != '\r' && s.base[k] != '\n') {
                        return 1;
                    }
                }
                break;
            }
        }
    }
    if (q != 0) {
        return 1;
    }
    *out = (struct tr_slice){(const char *)d, o};
    return 0;
}

/* A decimal floating-point literal as Go's strconv.ParseFloat reads one
 * (sign, digits with an optional point, exponent), or its specials:
 * 0, 1 (not one) or TR_ENOMEM. */
static int parse_double(struct tr_slice s, struct tr_arena *a, double *out)
{
    static const char *const inf[] = {"inf", "+inf", "infinity", "+infinity"};
    for (size_t k = 0; k < 4; k++) {
        if (tr_slice_eq_nocase(s, inf[k])) {
            *out = INFINITY;
            return 0;
        }
        if (s.len > 0 && s.base[0] == '-' && k % 2 == 0 &&
            tr_slice_eq_nocase((struct tr_slice){s.base + 1, s.len - 1},
                               inf[k])) {
            *out = -INFINITY;
            return 0;
        }
    }
    if (tr_slice_eq_nocase(s, "nan")) {
        *out = NAN;
        return 0;
    }
    size_t i = 0, digits = 0;
    if (i < s.len && (s.base[i] == '+' || s.base[i] == '-')) {
        i++;
    }
    while (i < s.len && s.base[i] >= '0' && s.base[i] <= '9') {
        i++, digits++;
    }
    if (i < s.len && s.base[i] == '.') {
        i++;
        while (i < s.len && s.base[i] >= '0' && s.base[i] <= '9') {
            i++, digits++;
        }
    }
    if (digits == 0) {
        return 1;
    }
    if (i < s.len && (s.base[i] == 'e' || s.base[i] == 'E')) {
        i++;
        if (i < s.len && (s.base[i] == '+' || s.base[i] == '-')) {
            i++;
        }
        size_t e0 = i;
        while (i < s.len && s.base[i] >= '0' && s.base[i] <= '9') {
            i++;
        }
        if (i == e0) {
            return 1;
        }
    }
    if (i != s.len) {
        return 1;
    }
    char *z = tr_arena_strndup(a, s.base, s.len);
    if (z == NULL) {
        return TR_ENOMEM;
    }
    errno = 0;
    double d = strtod(z, NULL);
    if (errno == ERANGE && isinf(d)) {
        return 1; /* overflow: Go reports ErrRange */
    }
    *out = d;
    return 0;
}

int tr_otlp_json_double(struct tr_otlp_json *j, long idx, double *out)
{
    const struct tr_sjson_tok *t = &j->doc->toks[idx];
    struct tr_slice s;
    if (t->type == TR_SJSON_NUMBER) {
        s = (struct tr_slice){j->doc->text + t->start, t->len};
    } else if (t->type == TR_SJSON_STRING) {
        if (tr_sjson_string(j->doc, idx, j->a, &s) != 0) {
            return tr_errf(TR_ENOMEM, j->errmsg, "out of memory");
        }
    } else {
        return tr_otlp_json_fail(j, "expected a number, not %s",
                                 json_kind(t->type));
    }
    int rv = parse_double(s, j->a, out);
    if (rv == TR_ENOMEM) {
        return tr_errf(rv, j->errmsg, "out of memory");
    }
    if (rv != 0) {
        return tr_otlp_json_fail(j, "not a 64-bit float: %.*s",
                                 (int)(s.len > 40 ? 40 : s.len), s.base);
    }
    return 0;
}

int tr_otlp_json_bool(struct tr_otlp_json *j, long idx, bool *out)
{
    int t = j->doc->toks[idx].type;
    if (t == TR_SJSON_NULL) {
        return 0;
    }
    if (t != TR_SJSON_TRUE && t != TR_SJSON_FALSE) {
        return tr_otlp_json_fail(j, "expected true or false, not %s",
                                 json_kind(t));
    }
    *out = t == TR_SJSON_TRUE;
    return 0;
}

static int json_array_value(struct tr_otlp_json *j,
                            long idx,
                            unsigned depth,
                            struct tr_otlp_value *out)
{
    const struct tr_sjson *d = j->doc;
    if (d->toks[idx].type == TR_SJSON_NULL) {
        return 0;
    }
    if (d->toks[idx].type != TR_SJSON_OBJECT) {
        return tr_otlp_json_fail(j, "expected an object, not %s",
                                 json_kind(d->toks[idx].type));
    }
    long vals = -1;
    long k = idx + 1;
    for (uint32_t i = 0; i < d->toks[idx].n; i++) {
        if (tr_otlp_json_key(j, k, "values", NULL)) {
            vals = k + 1;
        }
        k = (long)d->toks[k + 1].next;
    }
    if (vals < 0 || d->toks[vals].type == TR_SJSON_NULL) {
        return 0;
    }
    size_t p0 = tr_otlp_json_push(j, "values", 0);
    if (d->toks[vals].type != TR_SJSON_ARRAY) {
        return tr_otlp_json_fail(j, "expected an array, not %s",
                                 json_kind(d->toks[vals].type));
    }
    int rv = 0;
    size_t n = d->toks[vals].n;
    struct tr_otlp_value *items = tr_pb_array(j->a, n, sizeof(*items), &rv);
    if (rv != 0) {
        return tr_errf(rv, j->errmsg, "out of memory");
    }
    long e = vals + 1;
    for (size_t i = 0; i < n && rv == 0; i++) {
        size_t p1 = tr_otlp_json_push(j, NULL, i);
        rv = tr_otlp_json_value(j, e, depth, &items[i]);
        tr_otlp_json_pop(j, p1);
        e = (long)d->toks[e].next;
    }
    tr_otlp_json_pop(j, p0);
    out->items = items;
    out->n = n;
    return rv;
}

int tr_otlp_json_value(struct tr_otlp_json *j,
                       long idx,
                       unsigned depth,
                       struct tr_otlp_value *out)
{
    const struct tr_sjson *d = j->doc;
    memset(out, 0, sizeof(*out));
    if (depth > TR_OTLP_MAX_DEPTH) {
        return tr_otlp_json_fail(j, "values nested deeper than %d",
                                 TR_OTLP_MAX_DEPTH);
    }
    if (d->toks[idx].type == TR_SJSON_NULL) {
        return 0;
    }
    if (d->toks[idx].type != TR_SJSON_OBJECT) {
        return tr_otlp_json_fail(j, "expected an AnyValue object, not %s",
                                 json_kind(d->toks[idx].type));
    }
    long k = idx + 1;
    int rv = 0;
    for (uint32_t i = 0; i < d->toks[idx].n && rv == 0; i++) {
        long v = k + 1;
        uint8_t vt = d->toks[v].type;
        k = (long)d->toks[v].next;
        enum tr_otlp_type type;
        const char *name;
        if (tr_otlp_json_key(j, v - 1, "stringValue", "string_value")) {
            type = TR_OTLP_STRING, name = "stringValue";
        } else if (tr_otlp_json_key(j, v - 1, "boolValue", "bool_value")) {
            type = TR_OTLP_BOOL, name = "boolValue";
        } else if (tr_otlp_json_key(j, v - 1, "intValue", "int_value")) {
            type = TR_OTLP_INT, name = "intValue";
        } else if (tr_otlp_json_key(j, v - 1, "doubleValue", "double_value")) {
            type = TR_OTLP_DOUBLE, name = "doubleValue";
        } else if (tr_otlp_json_key(j, v - 1, "arrayValue", "array_value")) {
            type = TR_OTLP_ARRAY, name = "arrayValue";
        } else if (tr_otlp_json_key(j, v - 1, "kvlistValue", "kvlist_value")) {
            type = TR_OTLP_KVLIST, name = "kvlistValue";
        } else if (tr_otlp_json_key(j, v - 1, "bytesValue", "bytes_value")) {
            type = TR_OTLP_BYTES, name = "bytesValue";
        } else {
            continue; /* unknown member */
        }
        if (vt == TR_SJSON_NULL) {
            continue;
        }
        /* a oneof: the member read last wins */
        memset(out, 0, sizeof(*out));
        out->type = (uint8_t)type;
        size_t p0 = tr_otlp_json_push(j, name, 0);
        struct tr_slice s;
        switch (type) {
            case TR_OTLP_STRING:
                rv = tr_otlp_json_str(j, v, &out->s);
                break;
            case TR_OTLP_BOOL:
                if (vt != TR_SJSON_TRUE && vt != TR_SJSON_FALSE) {
                    rv = tr_otlp_json_fail(j, "expected true or false, not %s",
                                           json_kind(vt));
                }
                out->b = vt == TR_SJSON_TRUE;
                break;
            case TR_OTLP_INT:
                rv = tr_otlp_json_i64(j, v, &out->i);
                break;
            case TR_OTLP_DOUBLE:
                rv = tr_otlp_json_double(j, v, &out->d);
                break;
            case TR_OTLP_ARRAY:
                rv = json_array_value(j, v, depth + 1, out);
                break;
            case TR_OTLP_KVLIST:
                if (vt != TR_SJSON_OBJECT) {
                    rv = tr_otlp_json_fail(j, "expected an object, not %s",
                                           json_kind(vt));
                    break;
                }
                {
                    long vals = tr_sjson_get(d, v, "values");
                    if (vals >= 0) {
                        size_t p1 = tr_otlp_json_push(j, "values", 0);
                        rv = tr_otlp_json_kvs(j, vals, depth + 1, &out->kvs,
                                              &out->n);
                        tr_otlp_json_pop(j, p1);
                    }
                }
                break;
            default: /* BYTES */
                s = (struct tr_slice){"", 0};
                rv = tr_otlp_json_str(j, v, &s);
                if (rv == 0) {
                    rv = b64_decode(s, j->a, &out->s);
                    if (rv == TR_ENOMEM) {
                        rv = tr_errf(rv, j->errmsg, "out of memory");
                    } else if (rv != 0) {
                        rv = tr_otlp_json_fail(j, "invalid base64");
                    }
                }
                break;
        }
        tr_otlp_json_pop(j, p0);
    }
    return rv;
}

int tr_otlp_json_kvs(struct tr_otlp_json *j,
                     long idx,
                     unsigned depth,
                     const struct tr_otlp_kv **out,
                     size_t *n)
{
    const struct tr_sjson *d = j->doc;
    *out = NULL;
    *n = 0;
    if (d->toks[idx].type == TR_SJSON_NULL) {
        return 0;
    }
    if (d->toks[idx].type != TR_SJSON_ARRAY) {
        return tr_otlp_json_fail(j, "expected an array of KeyValue, not %s",
                                 json_kind(d->toks[idx].type));
    }
    int rv = 0;
    size_t cnt = d->toks[idx].n;
    struct tr_otlp_kv *kvs = tr_pb_array(j->a, cnt, sizeof(*kvs), &rv);
    if (rv != 0) {
        return tr_errf(rv, j->errmsg, "out of memory");
    }
    long e = idx + 1;
    for (size_t i = 0; i < cnt && rv == 0; i++) {
        size_t p0 = tr_otlp_json_push(j, NULL, i);
        memset(&kvs[i], 0, sizeof(kvs[i]));
        if (d->toks[e].type != TR_SJSON_OBJECT) {
            rv = tr_otlp_json_fail(j, "expected a KeyValue object, not %s",
                                   json_kind(d->toks[e].type));
        }
        long k = e + 1;
        for (uint32_t f = 0; rv == 0 && f < d->toks[e].n; f++) {
            long v = k + 1;
            if (tr_otlp_json_key(j, k, "key", NULL)) {
                size_t p1 = tr_otlp_json_push(j, "key", 0);
                rv = tr_otlp_json_str(j, v, &kvs[i].key);
                tr_otlp_json_pop(j, p1);
            } else if (tr_otlp_json_key(j, k, "value", NULL)) {
                size_t p1 = tr_otlp_json_push(j, "value", 0);
                rv = tr_otlp_json_value(j, v, depth, &kvs[i].value);
                tr_otlp_json_pop(j, p1);
            }
            k = (long)d->toks[v].next;
        }
        tr_otlp_json_pop(j, p0);
        e = (long)d->toks[e].next;
    }
    *out = kvs;
    *n = cnt;
    return rv;
}

int tr_otlp_json_resource(struct tr_otlp_json *j,
                          long idx,
                          struct tr_otlp_resource *out)
{
    const struct tr_sjson *d = j->doc;
    memset(out, 0, sizeof(*out));
    if (d->toks[idx].type == TR_SJSON_NULL) {
        return 0;
    }
    if (d->toks[idx].type != TR_SJSON_OBJECT) {
        return tr_otlp_json_fail(j, "expected a Resource object, not %s",
                                 json_kind(d->toks[idx].type));
    }
    long k = idx + 1;
    int rv = 0;
    for (uint32_t i = 0; i < d->toks[idx].n && rv == 0; i++) {
        long v = k + 1;
        if (tr_otlp_json_key(j, k, "attributes", NULL)) {
            size_t p0 = tr_otlp_json_push(j, "attributes", 0);
            rv = tr_otlp_json_kvs(j, v, 0, &out->attrs, &out->n_attrs);
            tr_otlp_json_pop(j, p0);
        } else if (tr_otlp_json_key(j, k, "droppedAttributesCount",
                                    "dropped_attributes_count")) {
            size_t p0 = tr_otlp_json_push(j, "droppedAttributesCount", 0);
            rv = tr_otlp_json_u32(j, v, &out->dropped_attributes_count);
            tr_otlp_json_pop(j, p0);
        }
        k = (long)d->toks[v].next;
    }
    return rv;
}

int tr_otlp_json_scope(struct tr_otlp_json *j,
                       long idx,
                       struct tr_otlp_scope *out)
{
    const struct tr_sjson *d = j->doc;
    memset(out, 0, sizeof(*out));
    if (d->toks[idx].type == TR_SJSON_NULL) {
        return 0;
    }
    if (d->toks[idx].type != TR_SJSON_OBJECT) {
        return tr_otlp_json_fail(j,
                                 "expected an InstrumentationScope object, "
                                 "not %s",
                                 json_kind(d->toks[idx].type));
    }
    long k = idx + 1;
    int rv = 0;
    for (uint32_t i = 0; i < d->toks[idx].n && rv == 0; i++) {
        long v = k + 1;
        size_t p0 = j->path_len;
        if (tr_otlp_json_key(j, k, "name", NULL)) {
            tr_otlp_json_push(j, "name", 0);
            rv = tr_otlp_json_str(j, v, &out->name);
        } else if (tr_otlp_json_key(j, k, "version", NULL)) {
            tr_otlp_json_push(j, "version", 0);
            rv = tr_otlp_json_str(j, v, &out->version);
        } else if (tr_otlp_json_key(j, k, "attributes", NULL)) {
            tr_otlp_json_push(j, "attributes", 0);
            rv = tr_otlp_json_kvs(j, v, 0, &out->attrs, &out->n_attrs);
        } else if (tr_otlp_json_key(j, k, "droppedAttributesCount",
                                    "dropped_attributes_count")) {
            tr_otlp_json_push(j, "droppedAttributesCount", 0);
            rv = tr_otlp_json_u32(j, v, &out->dropped_attributes_count);
        }
        tr_otlp_json_pop(j, p0);
        k = (long)d->toks[v].next;
    }
    return rv;
}

/* ---- rendering -----------------------------------------------------------
 */

int tr_otlp_base64(const void *p, size_t n, struct tr_buf *out)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *s = p;
    if (tr_buf_reserve(out, (n + 2) / 3 * 4) != 0) {
        return TR_ENOMEM;
    }
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        char q[4] = {tab[v >> 18], tab[(v >> 12) & 63], tab[(v >> 6) & 63],
                     tab[v & 63]};
        tr_buf_append(out, q, 4);
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        char q[4] = {tab[v >> 18], tab[(v >> 12) & 63], '=', '='};
        tr_buf_append(out, q, 4);
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        char q[4] = {tab[v >> 18], tab[(v >> 12) & 63], tab[(v >> 6) & 63],
                     '='};
        tr_buf_append(out, q, 4);
    }
    return out->oom ? TR_ENOMEM : 0;
}

/* A finite double as Go's encoding/json writes a float64 (and pdata's
 * AsString): 'f' layout with the shortest digits, or 'e' layout below
 * 1e-6 and from 1e21 on, with the exponent as "e-7", "e+21". */
static size_t fmt_double(char *buf, double v)
{
    double ab = fabs(v);
    if (ab == 0 || (ab >= 1e-6 && ab < 1e21)) {
        return tr_format_double(buf, v);
    }
    char dg[17];
    int e10;
    int nd = tr_dtoa_shortest(v, dg, &e10);
    size_t o = 0;
    if (v < 0) {
        buf[o++] = '-';
    }
    buf[o++] = dg[0];
    if (nd > 1) {
        buf[o++] = '.';
        memcpy(buf + o, dg + 1, (size_t)nd - 1);
        o += (size_t)nd - 1;
    }
    o += (size_t)snprintf(buf + o, 8, "e%c%d", e10 < 0 ? '-' : '+',
                          e10 < 0 ? -e10 : e10);
    return o;
}

/* A string as Go's encoding/json writes it with HTML escaping off. */
static void json_string(struct tr_buf *b, struct tr_slice str)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str.base;
    size_t n = str.len, start = 0, i = 0;
    tr_buf_putc(b, '"');
    if (n == 0) { /* also an absent key: {NULL, 0} */
        tr_buf_putc(b, '"');
        return;
    }
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = tr_utf8_seq_len(s + i, n - i);
            bool sep = l == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 &&
                       (s[i + 2] == 0xa8 || s[i + 2] == 0xa9);
            if (l > 0 && !sep) {
                i += l;
                continue;
            }
            tr_buf_append(b, str.base + start, i - start);
            if (sep) {
                tr_buf_append(b, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
                i += 3;
            } else {
                tr_buf_append(b, "\\ufffd", 6);
                i++;
            }
            start = i;
            continue;
        }
        tr_buf_append(b, str.base + start, i - start);
        char esc = c == '"'    ? '"'
                   : c == '\\' ? '\\'
                   : c == '\b' ? 'b'
                   : c == '\f' ? 'f'
                   : c == '\n' ? 'n'
                   : c == '\r' ? 'r'
                   : c == '\t' ? 't'
                               : 0;
        if (esc != 0) {
            char e2[2] = {'\\', esc};
            tr_buf_append(b, e2, 2);
        } else {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            tr_buf_append(b, u, 6);
        }
        i++;
        start = i;
    }
    tr_buf_append(b, str.base + start, n - start);
    tr_buf_putc(b, '"');
}

static bool has_nonfinite(const struct tr_otlp_value *v)
{
    if (v->type == TR_OTLP_DOUBLE) {
        return !isfinite(v->d);
    }
    for (size_t i = 0; v->type == TR_OTLP_ARRAY && i < v->n; i++) {
        if (has_nonfinite(&v->items[i])) {
            return true;
        }
    }
    for (size_t i = 0; v->type == TR_OTLP_KVLIST && i < v->n; i++) {
        if (has_nonfinite(&v->kvs[i].value)) {
            return true;
        }
    }
    return false;
}

struct key_ref {
    struct tr_slice key;
    size_t idx;
};

static int key_ref_cmp(const void *a, const void *b)
{
    const struct key_ref *x = a, *y = b;
    int c = tr_slice_cmp(x->key, y->key);
    return c != 0 ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static int json_value(const struct tr_otlp_value *v, struct tr_buf *b)
{
    char tmp[TR_DOUBLE_BUF];
    switch (v->type) {
        case TR_OTLP_STRING:
            json_string(b, v->s);
            break;
        case TR_OTLP_BOOL:
            tr_buf_puts(b, v->b ? "true" : "false");
            break;
        case TR_OTLP_INT:
            tr_buf_printf(b, "%lld", (long long)v->i);
            break;
        case TR_OTLP_DOUBLE:
            tr_buf_append(b, tmp, fmt_double(tmp, v->d));
            break;
        case TR_OTLP_BYTES:
            if (v->s.len == 0) {
                tr_buf_puts(b, "null"); /* a nil []byte */
            } else {
                tr_buf_putc(b, '"');
                tr_otlp_base64(v->s.base, v->s.len, b);
                tr_buf_putc(b, '"');
            }
            break;
        case TR_OTLP_ARRAY:
            tr_buf_putc(b, '[');
            for (size_t i = 0; i < v->n; i++) {
                if (i > 0) {
                    tr_buf_putc(b, ',');
                }
                if (json_value(&v->items[i], b) != 0) {
                    return TR_ENOMEM;
                }
            }
            tr_buf_putc(b, ']');
            break;
        case TR_OTLP_KVLIST: {
            /* a Go map: keys sorted, a repeated key keeps its last value */
            struct key_ref *refs = NULL;
            if (v->n > 0) {
                refs = tr_calloc(v->n, sizeof(*refs));
                if (refs == NULL) {
                    return TR_ENOMEM;
                }
            }
            for (size_t i = 0; i < v->n; i++) {
                refs[i] = (struct key_ref){v->kvs[i].key, i};
            }
            if (v->n > 1) {
                qsort(refs, v->n, sizeof(*refs), key_ref_cmp);
            }
            tr_buf_putc(b, '{');
            bool first = true;
            int rv = 0;
            for (size_t i = 0; i < v->n && rv == 0; i++) {
                if (i + 1 < v->n && tr_slice_eq(refs[i].key, refs[i + 1].key)) {
                    continue;
                }
                if (!first) {
                    tr_buf_putc(b, ',');
                }
                first = false;
                json_string(b, refs[i].key);
                tr_buf_putc(b, ':');
                rv = json_value(&v->kvs[refs[i].idx].value, b);
            }
            tr_free(refs);
            if (rv != 0) {
                return rv;
            }
            tr_buf_putc(b, '}');
            break;
        }
        default:
            tr_buf_puts(b, "null");
            break;
    }
    return b->oom ? TR_ENOMEM : 0;
}

int tr_otlp_value_string(const struct tr_otlp_value *v, struct tr_buf *out)
{
    char tmp[TR_DOUBLE_BUF];
    switch (v->type) {
        case TR_OTLP_EMPTY:
            /* make sure data is a string even when nothing is appended */
            return tr_buf_reserve(out, 0) != 0 ? TR_ENOMEM : 0;
        case TR_OTLP_STRING:
            tr_buf_append(out, v->s.base, v->s.len);
            break;
        case TR_OTLP_DOUBLE:
            if (isnan(v->d)) {
                tr_buf_puts(out, "NaN");
            } else if (isinf(v->d)) {
                tr_buf_puts(out, v->d > 0 ? "Infinity" : "-Infinity");
            } else {
                tr_buf_append(out, tmp, fmt_double(tmp, v->d));
            }
            break;
        case TR_OTLP_BYTES:
            return tr_otlp_base64(v->s.base, v->s.len, out);
        case TR_OTLP_ARRAY:
        case TR_OTLP_KVLIST:
            if (has_nonfinite(v)) {
                /* Go's encoder fails on NaN and infinities; pdata ignores
                 * the error and returns what it wrote: nothing */
                return tr_buf_reserve(out, 0) != 0 ? TR_ENOMEM : 0;
            }
            return json_value(v, out);
        default: /* bool, int */
            return json_value(v, out);
    }
    return out->oom ? TR_ENOMEM : 0;
}

int tr_otlp_label_name(struct tr_slice key, struct tr_buf *out, char *errmsg)
{
    if (key.len == 0) {
        return tr_errf(TR_EINVAL, errmsg, "label name is empty");
    }
    size_t start = out->len;
    const char *s = key.base;
    size_t n = key.len;
    bool reserved = n >= 4 && s[0] == '_' && s[1] == '_' && s[n - 2] == '_' &&
                    s[n - 1] == '_';
    if (reserved) {
        tr_buf_puts(out, "__");
        s += 2;
        n -= 4;
    } else if (s[0] >= '0' && s[0] <= '9') {
        tr_buf_puts(out, "key_");
    }
    bool prev_us = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9')) {
            tr_buf_putc(out, c);
            prev_us = false;
        } else if (!prev_us) {
            tr_buf_putc(out, '_');
            prev_us = true;
        }
    }
    if (reserved) {
        tr_buf_puts(out, "__");
    }
    if (out->oom) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    bool only_us = true;
    for (size_t i = start; i < out->len && only_us; i++) {
        only_us = out->data[i] == '_';
    }
    if (only_us) {
        int len = (int)(key.len > 100 ? 100 : key.len);
        out->len = start;
        out->data[start] = '\0';
        return tr_errf(TR_EINVAL, errmsg,
                       "normalization for label name \"%.*s\" resulted in an "
                       "invalid name (only underscores)",
                       len, key.base);
    }
    return 0;
}
