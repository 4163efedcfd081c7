/* otlp_groups.h - the resource > scope > item nesting that every OTLP
 * export request shares (logs: ResourceLogs > ScopeLogs > LogRecord;
 * traces: ResourceSpans > ScopeSpans > Span; metrics: ResourceMetrics >
 * ScopeMetrics > Metric), decoded once for all signals from protobuf and
 * from OTLP/JSON; each signal describes its message names and decodes its
 * own items (struct tr_otlp_signal).
 *
 * Protobuf messages (field numbers are the same for every signal):
 *
 *   MESSAGE              FIELD                  NO  WT  DESCRIPTION
 *   Export<S>Request     resource_<s>           1   L   Resource<S>*
 *   Resource<S>          resource               1   L   Resource
 *                        scope_<s>              2   L   Scope<S>*
 *                        schema_url             3   L   string
 *   Scope<S>             scope                  1   L   InstrumentationScope
 *                        <items>                2   L   the signal's items*
 *                        schema_url             3   L   string
 *
 * Each message is walked once to count its repeated sub-messages, then
 * decoded into arrays allocated once from the arena (no regrowth). JSON
 * names are the signal's camelCase ones (`resourceSpans`, `scopeSpans`,
 * `spans`) or their snake_case forms; a repeated key replaces the earlier
 * one; null is an empty list. Errors: protobuf TR_EPROTO naming the
 * message, the resource index and the byte offset; JSON TR_EINVAL with the
 * JSON path; TR_ENOMEM. */
#ifndef TR_PROTO_OTLP_GROUPS_H
#define TR_PROTO_OTLP_GROUPS_H

#include <stddef.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "proto/otlp_common.h"
#include "proto/pbread.h"

struct tr_otlp_log_record; /* proto/otlp_logs.h */
struct tr_otlp_span;       /* proto/otlp_traces.h */

/* One Scope<S>: its items are the signal's (the union names them). */
struct tr_otlp_scope_group {
    struct tr_otlp_scope scope; /* zero when absent */
    union {
        const void *items;
        const struct tr_otlp_log_record *records; /* logs */
        const struct tr_otlp_span *spans;         /* traces */
    };
    size_t n_items;
    struct tr_slice schema_url;
};

/* One Resource<S>. */
struct tr_otlp_resource_group {
    struct tr_otlp_resource resource; /* zero when absent */
    const struct tr_otlp_scope_group *scopes;
    size_t n_scopes;
    struct tr_slice schema_url;
};

/* What differs between the signals. */
struct tr_otlp_signal {
    const char *what;       /* error prefix: "otlp logs" */
    const char *m_request;  /* protobuf message names, for errors */
    const char *m_resource; /* "opentelemetry.proto.logs.v1.ResourceLogs" */
    const char *m_scope;
    const char *pb_resources;      /* what the resource index counts: */
                                   /* "resource_logs" */
    const char *json_resources[2]; /* camelCase, snake_case */
    const char *json_scopes[2];
    const char *json_items[2];
    size_t item_size;
    /* Decodes one item message (its bytes in c) into *out (item_size
     * bytes, zeroed first by the callee): 0, TR_EPROTO or TR_ENOMEM. */
    int (*pb_item)(const struct tr_pb_rd *rd,
                   struct tr_cursor c,
                   struct tr_arena *a,
                   void *out);
    /* The item message in OTLP/JSON (its size is item_size). */
    const struct tr_otlp_jmsg *json_item;
};

/* The decoded request. */
struct tr_otlp_groups {
    const struct tr_otlp_resource_group *resources;
    size_t n_resources;
    size_t n_items; /* over all resources and scopes */
};

/* Decodes a protobuf Export<S>Request. Slices point into buf, arrays come
 * from the arena. On error *out is empty. */
int tr_otlp_groups_decode(const struct tr_otlp_signal *sig,
                          const void *buf,
                          size_t len,
                          struct tr_arena *a,
                          struct tr_otlp_groups *out,
                          char *errmsg);

/* Decodes an OTLP/JSON Export<S>Request (an object; every member
 * optional). On error *out is empty. */
int tr_otlp_groups_decode_json(const struct tr_otlp_signal *sig,
                               const void *buf,
                               size_t len,
                               struct tr_arena *a,
                               struct tr_otlp_groups *out,
                               char *errmsg);

/* A table-driven JSON object decoder for the messages of the requests:
 * each field names its member (camelCase and, when it differs, snake_case),
 * how its value decodes and where it goes in the output struct. Members not
 * in the table are skipped; a member decodes with its camelCase name pushed
 * on the path (errors read "spans[0].traceId: ..."). */
enum tr_otlp_jkind {
    TR_OTLP_J_U64,    /* uint64_t at off (integer or string of one) */
    TR_OTLP_J_U32,    /* uint32_t at off */
    TR_OTLP_J_STR,    /* struct tr_slice at off */
    TR_OTLP_J_ID,     /* struct tr_slice at off: hex id of arg bytes */
    TR_OTLP_J_ENUM,   /* int32_t at off: an integer or one of names[arg] */
    TR_OTLP_J_KVS,    /* const struct tr_otlp_kv * at off, size_t count */
                      /* at arg */
    TR_OTLP_J_VALUE,  /* struct tr_otlp_value at off */
    TR_OTLP_J_DOUBLE, /* double at off; bool at arg set when present (arg
                         0: no presence flag) */
    TR_OTLP_J_BOOL,   /* bool at off */
    TR_OTLP_J_I32,    /* int32_t at off (integer or string of one) */
    TR_OTLP_J_MSG,    /* a sub message (object or null) at off, by sub */
    TR_OTLP_J_LIST,   /* an array of sub messages: the arena array's
                         pointer at off, size_t count at arg */
    TR_OTLP_J_CALL,   /* call(j, value, out): the whole output struct */
};

struct tr_otlp_jfield;

/* A message decoded by a field table: its name in errors, the size of its
 * output struct (zeroed before it is decoded) and its fields. */
struct tr_otlp_jmsg {
    const char *what;
    size_t size;
    const struct tr_otlp_jfield *fields;
    size_t n;
};

struct tr_otlp_jfield {
    const char *camel;
    const char *snake; /* NULL when the same as camel */
    uint8_t kind;      /* enum tr_otlp_jkind */
    size_t off;        /* offsetof the target in the output struct */
    size_t arg;        /* ID: bytes; ENUM: names; KVS: offsetof the count */
    const char *const *names;                               /* ENUM */
    int (*call)(struct tr_otlp_json *j, long v, void *out); /* CALL */
    const struct tr_otlp_jmsg *sub;                         /* MSG, LIST */
};

/* Table rows: a field of `type` (TR_OTLP_JF; arg as above), its
 * attributes with their count, an enum with its names array, a call, a
 * sub message, a list of sub messages with its count. */
#define TR_OTLP_JF(camel, snake, kind, type, field, arg)                 \
    {                                                                    \
        camel, snake, kind, offsetof(type, field), arg, NULL, NULL, NULL \
    }
#define TR_OTLP_JF_KVS(type, field, count)                     \
    TR_OTLP_JF("attributes", NULL, TR_OTLP_J_KVS, type, field, \
               offsetof(type, count))
#define TR_OTLP_JF_ENUM(camel, snake, type, field, names)       \
    {                                                           \
        camel, snake, TR_OTLP_J_ENUM, offsetof(type, field),    \
            sizeof(names) / sizeof(names[0]), names, NULL, NULL \
    }
#define TR_OTLP_JF_CALL(camel, snake, fn)                  \
    {                                                      \
        camel, snake, TR_OTLP_J_CALL, 0, 0, NULL, fn, NULL \
    }
#define TR_OTLP_JF_MSG(camel, snake, type, field, msg)                         \
    {                                                                          \
        camel, snake, TR_OTLP_J_MSG, offsetof(type, field), 0, NULL, NULL, msg \
    }
#define TR_OTLP_JF_LIST(camel, snake, type, field, count, msg) \
    {                                                          \
        camel, snake, TR_OTLP_J_LIST, offsetof(type, field),   \
            offsetof(type, count), NULL, NULL, msg             \
    }
#define TR_OTLP_JF_N(fields) (sizeof(fields) / sizeof(fields[0]))

/* Decodes the JSON object at obj into out as message m (out zeroed
 * first). 0, TR_EINVAL or TR_ENOMEM. */
int tr_otlp_json_msg(struct tr_otlp_json *j,
                     long obj,
                     const struct tr_otlp_jmsg *m,
                     void *out);

/* Decodes the JSON object at obj (anything else is TR_EINVAL "expected a
 * <what> object") into out (not cleared: the caller zeroes it) by the n
 * fields. 0, TR_EINVAL or TR_ENOMEM. */
int tr_otlp_json_fields(struct tr_otlp_json *j,
                        long obj,
                        const char *what,
                        const struct tr_otlp_jfield *fields,
                        size_t n,
                        void *out);

/* For item decoders: checks that idx is a JSON object (TR_EINVAL naming
 * `what` otherwise) / an array (null: *n = 0 and 1 is returned). */
int tr_otlp_json_object(struct tr_otlp_json *j, long idx, const char *what);
int tr_otlp_json_array(struct tr_otlp_json *j, long idx, size_t *n);
/* The JSON array at idx decoded element by element with fn (its path
 * "[i]" pushed) into a new arena array of elements of `size` bytes: *out,
 * *n (null: none). 0, TR_EINVAL or TR_ENOMEM. */
int tr_otlp_json_list(
    struct tr_otlp_json *j,
    long idx,
    size_t size,
    int (*fn)(struct tr_otlp_json *j, long obj, void *out, const void *arg),
    const void *arg,
    void **out,
    size_t *n);

#endif
