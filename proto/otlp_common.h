/* otlp_common.h - the OTLP messages shared by logs, traces and metrics
 * (opentelemetry.proto.common.v1 and resource.v1), decoded from protobuf
 * (over proto/pbread.h) and from OTLP/JSON (over lib/jsonparse.h), plus the
 * string form of an AnyValue and the label-name rule Loki and Prometheus
 * apply to attribute names.
 *
 * Protobuf messages (field = number, wire type: V varint, L length-
 * delimited, 8 fixed64/double):
 *
 *   MESSAGE               FIELD                      NO  WT  DESCRIPTION
 *   AnyValue (a oneof)    string_value               1   L   UTF-8 text
 *                         bool_value                 2   V   0 or not 0
 *                         int_value                  3   V   int64
 *                         double_value               4   8   IEEE 754
 *                         array_value                5   L   ArrayValue
 *                         kvlist_value               6   L   KeyValueList
 *                         bytes_value                7   L   raw bytes
 *   ArrayValue            values                     1   L   AnyValue*
 *   KeyValueList          values                     1   L   KeyValue*
 *   KeyValue              key                        1   L   string
 *                         value                      2   L   AnyValue
 *   InstrumentationScope  name                       1   L   string
 *                         version                    2   L   string
 *                         attributes                 3   L   KeyValue*
 *                         dropped_attributes_count   4   V   uint32
 *   Resource              attributes                 1   L   KeyValue*
 *                         dropped_attributes_count   2   V   uint32
 *                         (entity_refs = 3 skipped)
 *
 * A oneof keeps the member decoded last; a repeated singular field keeps
 * its last value; unknown fields are skipped; a known field with the wrong
 * wire type is an error (TR_EPROTO, "<message>: ... at offset <n>"). An
 * AnyValue without a member is EMPTY. AnyValues nest at most
 * TR_OTLP_MAX_DEPTH deep (the recursion is bounded by it).
 *
 * OTLP/JSON (the protobuf JSON mapping as the OTLP spec restricts it):
 * field names in lowerCamelCase (`stringValue`, `droppedAttributesCount`;
 * the snake_case proto names are accepted too, as the collector's pdata
 * does); 64-bit integers as decimal strings or numbers; enums as integers
 * (or their names); trace and span ids as hex strings; other bytes fields
 * as standard base64 (padding required). Unknown fields are skipped; a
 * null value counts as absent. Errors are TR_EINVAL with the JSON path of
 * the bad value ("resourceLogs[0].resource.attributes[2].value.intValue:
 * not an integer").
 *
 * Everything decoded lives in the caller's arena or points into the
 * request body (protobuf strings and bytes always, JSON strings when they
 * hold no escape): keep both while the result is in use. Strings are not
 * checked for UTF-8 here. */
#ifndef TR_PROTO_OTLP_COMMON_H
#define TR_PROTO_OTLP_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/jsonparse.h"
#include "proto/pbread.h"

/* AnyValue nesting limit (arrays and maps inside one another). */
#define TR_OTLP_MAX_DEPTH 64

enum tr_otlp_type {
    TR_OTLP_EMPTY = 0, /* no member set */
    TR_OTLP_STRING,
    TR_OTLP_BOOL,
    TR_OTLP_INT,
    TR_OTLP_DOUBLE,
    TR_OTLP_ARRAY,
    TR_OTLP_KVLIST,
    TR_OTLP_BYTES,
};

struct tr_otlp_kv;

struct tr_otlp_value {
    uint8_t type;                      /* enum tr_otlp_type */
    bool b;                            /* BOOL */
    int64_t i;                         /* INT */
    double d;                          /* DOUBLE */
    struct tr_slice s;                 /* STRING text, BYTES raw bytes */
    const struct tr_otlp_value *items; /* ARRAY elements (n of them) */
    const struct tr_otlp_kv *kvs;      /* KVLIST pairs (n), in order */
    size_t n;                          /* ARRAY, KVLIST: element count */
};

struct tr_otlp_kv {
    struct tr_slice key;
    struct tr_otlp_value value;
};

struct tr_otlp_resource {
    const struct tr_otlp_kv *attrs; /* in wire order, duplicates kept */
    size_t n_attrs;
    uint32_t dropped_attributes_count;
};

struct tr_otlp_scope {
    struct tr_slice name;
    struct tr_slice version;
    const struct tr_otlp_kv *attrs;
    size_t n_attrs;
    uint32_t dropped_attributes_count;
};

/* ---- protobuf ------------------------------------------------------------
 * Each takes the message's bytes as a cursor (the payload of its LEN
 * field) and returns 0, TR_EPROTO (message in rd->errmsg) or TR_ENOMEM. */

/* Counts the records of field `field` in the message c (every tag and
 * length checked); a record of it with a wire type other than LEN is an
 * error. */
int tr_otlp_pb_count(const struct tr_pb_rd *rd,
                     struct tr_cursor c,
                     const char *msg,
                     uint32_t field,
                     size_t *n);

/* AnyValue at nesting depth `depth` (0 for a top-level value); deeper
 * than TR_OTLP_MAX_DEPTH is TR_EPROTO. */
int tr_otlp_pb_value(const struct tr_pb_rd *rd,
                     struct tr_cursor c,
                     struct tr_arena *a,
                     unsigned depth,
                     struct tr_otlp_value *out);

int tr_otlp_pb_kv(const struct tr_pb_rd *rd,
                  struct tr_cursor c,
                  struct tr_arena *a,
                  unsigned depth,
                  struct tr_otlp_kv *out);

int tr_otlp_pb_resource(const struct tr_pb_rd *rd,
                        struct tr_cursor c,
                        struct tr_arena *a,
                        struct tr_otlp_resource *out);

int tr_otlp_pb_scope(const struct tr_pb_rd *rd,
                     struct tr_cursor c,
                     struct tr_arena *a,
                     struct tr_otlp_scope *out);

/* Field readers for a tag already read (at = its first byte, wt its wire
 * type): each checks the wire type, then reads the payload from c. */
int tr_otlp_pb_str(const struct tr_pb_rd *rd,
                   struct tr_cursor *c,
                   const uint8_t *at,
                   const char *msg,
                   uint32_t field,
                   unsigned wt,
                   struct tr_slice *out);
int tr_otlp_pb_varint(const struct tr_pb_rd *rd,
                      struct tr_cursor *c,
                      const uint8_t *at,
                      const char *msg,
                      uint32_t field,
                      unsigned wt,
                      uint64_t *out);
int tr_otlp_pb_fixed64(const struct tr_pb_rd *rd,
                       struct tr_cursor *c,
                       const uint8_t *at,
                       const char *msg,
                       uint32_t field,
                       unsigned wt,
                       uint64_t *out);
int tr_otlp_pb_fixed32(const struct tr_pb_rd *rd,
                       struct tr_cursor *c,
                       const uint8_t *at,
                       const char *msg,
                       uint32_t field,
                       unsigned wt,
                       uint32_t *out);
/* The payload of a message field (LEN) whose tag was read into *sub. */
int tr_otlp_pb_msg(const struct tr_pb_rd *rd,
                   struct tr_cursor *c,
                   const uint8_t *at,
                   const char *msg,
                   uint32_t field,
                   unsigned wt,
                   struct tr_cursor *sub);
/* A trace or span id (bytes): empty, or exactly `want` bytes; any other
 * length is TR_EPROTO naming `name` ("trace_id must be 16 bytes, not 5"). */
int tr_otlp_pb_id(const struct tr_pb_rd *rd,
                  struct tr_cursor *c,
                  const uint8_t *at,
                  const char *msg,
                  const char *name,
                  uint32_t field,
                  unsigned wt,
                  size_t want,
                  struct tr_slice *out);

/* ---- OTLP/JSON -----------------------------------------------------------
 */

/* Decoding context of one JSON request: the parsed document, the arena,
 * the caller's errmsg and the path of the value being decoded. */
struct tr_otlp_json {
    const struct tr_sjson *doc;
    struct tr_arena *a;
    char *errmsg;
    char path[256];  /* "resourceLogs[0].scopeLogs[1]", truncated */
    size_t path_len; /* strlen(path) */
    const void *ctx; /* the request decoder's own (proto/otlp_groups.c: the
                        signal) */
};

/* Appends ".name" (or "[i]" when name is NULL) to j->path; returns the
 * previous length for tr_otlp_json_pop. */
size_t tr_otlp_json_push(struct tr_otlp_json *j, const char *name, size_t i);
void tr_otlp_json_pop(struct tr_otlp_json *j, size_t len);
/* Formats "<path>: <message>" into j->errmsg; returns TR_EINVAL. */
__attribute__((format(printf, 2, 3))) int
tr_otlp_json_fail(struct tr_otlp_json *j, const char *fmt, ...);

/* True when the object key at index key (a string token) is camel or
 * snake (either may be NULL). */
bool tr_otlp_json_key(const struct tr_otlp_json *j,
                      long key,
                      const char *camel,
                      const char *snake);

/* Scalars at idx (null leaves *out as the caller set it and returns 0);
 * each returns 0, TR_EINVAL (path and reason in j->errmsg) or TR_ENOMEM.
 * u64/u32/i64: a JSON integer or a string of one (a sign only for i64),
 * within range. enum: a JSON integer within int32, or a string naming one
 * of `names` (n_names names indexed by value; NULL for none), as pdata
 * reads enums. */
int tr_otlp_json_u64(struct tr_otlp_json *j, long idx, uint64_t *out);
int tr_otlp_json_u32(struct tr_otlp_json *j, long idx, uint32_t *out);
int tr_otlp_json_i64(struct tr_otlp_json *j, long idx, int64_t *out);
int tr_otlp_json_enum(struct tr_otlp_json *j,
                      long idx,
                      const char *const *names,
                      size_t n_names,
                      int32_t *out);
/* A double: a JSON number, or a string of one ("1.5", "NaN", "Infinity",
 * "-Infinity", as pdata writes the ones JSON has no number for). */
int tr_otlp_json_double(struct tr_otlp_json *j, long idx, double *out);
/* true or false. */
int tr_otlp_json_bool(struct tr_otlp_json *j, long idx, bool *out);
/* A JSON string (escapes resolved: into the arena when it has any). */
int tr_otlp_json_str(struct tr_otlp_json *j, long idx, struct tr_slice *out);
/* A hex id of `want` bytes (decoded into the arena) or "" (empty). */
int tr_otlp_json_id(struct tr_otlp_json *j,
                    long idx,
                    size_t want,
                    struct tr_slice *out);

/* Messages at idx: an AnyValue object (at nesting depth `depth`), an
 * array of KeyValue objects (`attributes`, the `values` of a kvlist), a
 * Resource, an InstrumentationScope. null is the empty message. Each
 * returns 0, TR_EINVAL (the path and what is wrong in j->errmsg; deeper
 * than TR_OTLP_MAX_DEPTH is one) or TR_ENOMEM. */
int tr_otlp_json_value(struct tr_otlp_json *j,
                       long idx,
                       unsigned depth,
                       struct tr_otlp_value *out);
int tr_otlp_json_kvs(struct tr_otlp_json *j,
                     long idx,
                     unsigned depth,
                     const struct tr_otlp_kv **out,
                     size_t *n);
int tr_otlp_json_resource(struct tr_otlp_json *j,
                          long idx,
                          struct tr_otlp_resource *out);
int tr_otlp_json_scope(struct tr_otlp_json *j,
                       long idx,
                       struct tr_otlp_scope *out);

/* ---- rendering -----------------------------------------------------------
 */

/* Appends v as text, as the collector's pdata Value.AsString does (and so
 * Loki for a log line or a structured-metadata value): a string as is,
 * bool "true"/"false", int in decimal, double as Go's JSON encoder writes
 * a float64 ("0.25", "1e+21", "1e-7"; "NaN", "Infinity", "-Infinity"),
 * bytes in standard base64, an empty value as "". Arrays and maps as JSON
 * written by Go's encoding/json without HTML escaping: map keys sorted
 * bytewise (a repeated key keeps its last value), strings escaped (invalid
 * UTF-8 as \ufffd), bytes as base64 strings (empty bytes as null), empty
 * values as null, and "" for the whole when a NaN or an infinity is
 * anywhere inside (Go's encoder fails on them). Returns 0 or TR_ENOMEM. */
int tr_otlp_value_string(const struct tr_otlp_value *v, struct tr_buf *out);

/* Appends the label name for the attribute name `key`, as Prometheus'
 * otlptranslator LabelNamer (v1.0, the defaults Loki 3.7 uses) builds it:
 * every run of characters other than [A-Za-z0-9] becomes one '_' (inside
 * the `__` and `__` of a name that starts and ends with them, which stay),
 * and "key_" goes before a leading digit. TR_EINVAL (message in errmsg,
 * may be NULL) when key is empty or the result holds only underscores;
 * TR_ENOMEM. */
int tr_otlp_label_name(struct tr_slice key, struct tr_buf *out, char *errmsg);

/* Appends n bytes as standard base64 with padding. */
int tr_otlp_base64(const void *p, size_t n, struct tr_buf *out);

#endif
