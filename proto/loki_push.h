/* loki_push.h - Loki push request decoding (the protobuf body of
 * POST /loki/api/v1/push, after snappy) and the Prometheus text form of a
 * stream's label set.
 *
 * Protobuf messages (Loki's pkg/push/push.proto, as its clients send them):
 *
 *   PushRequest      streams = 1 (repeated StreamAdapter)
 *   StreamAdapter    labels = 1 (string, `{a="b", c="d"}`), entries = 2
 *                    (repeated EntryAdapter), hash = 3 (uint64, ignored)
 *   EntryAdapter     timestamp = 1 (google.protobuf.Timestamp), line = 2
 *                    (string), structuredMetadata = 3 (repeated
 *                    LabelPairAdapter)
 *   Timestamp        seconds = 1 (int64), nanos = 2 (int32, 0..999999999)
 *   LabelPairAdapter name = 1 (string), value = 2 (string)
 *
 * Unknown fields are skipped, a known field with the wrong wire type is an
 * error, a repeated singular field keeps its last value (protobuf rules,
 * proto/pbread.h). Every slice points into the request body (keep it);
 * arrays come from the caller's arena. Lines and label values are not
 * checked for UTF-8 here: the write path decides what to reject. */
#ifndef TR_PROTO_LOKI_PUSH_H
#define TR_PROTO_LOKI_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"

struct tr_loki_label {
    struct tr_slice name;
    struct tr_slice value;
};

struct tr_loki_entry {
    int64_t ts_ns; /* nanoseconds since the epoch */
    struct tr_slice line;
    const struct tr_loki_label *meta; /* structured metadata, in order */
    size_t n_meta;
};

struct tr_loki_stream {
    struct tr_slice labels; /* the text form, parse with tr_loki_labels_parse */
    /* a JSON push's labels, already an object (then labels is empty) */
    const struct tr_loki_label *label_set;
    size_t n_labels;
    const struct tr_loki_entry *entries;
    size_t n_entries;
};

struct tr_loki_push {
    const struct tr_loki_stream *streams;
    size_t n_streams;
    size_t n_entries; /* over all streams */
};

/* Decodes a PushRequest. 0, TR_EPROTO (message with the byte offset and
 * the stream index in errmsg) or TR_ENOMEM. A timestamp outside what int64
 * nanoseconds hold (years 1678..2262) or with nanos outside 0..999999999 is
 * TR_EPROTO. */
int tr_loki_push_decode(const void *buf,
                        size_t len,
                        struct tr_arena *a,
                        struct tr_loki_push *out,
                        char *errmsg);

/* Decodes a JSON push body:
 *
 *   {"streams": [{"stream": {"name": "value", ...},
 *                 "values": [["<ns since the epoch>", "<line>",
 *                             {"<metadata name>": "<value>", ...}], ...]}]}
 *
 * The timestamp is a string of digits (a JSON integer is taken too), the
 * third element of an entry (structured metadata) is optional. A stream in
 * the legacy form of /api/prom/push (Loki 1.x),
 *
 *   {"labels": "{name=\"value\"}", "entries": [{"ts": "<RFC 3339>",
 *                                               "line": "<line>"}, ...]}
 *
 * is taken too (its labels stay text in `labels`). Labels land
 * in label_set. Strings are decoded (escapes resolved) into the arena when
 * they hold escapes, else point into buf. 0, TR_EINVAL (what is wrong and
 * where, in errmsg) or TR_ENOMEM. */
int tr_loki_push_decode_json(const void *buf,
                             size_t len,
                             struct tr_arena *a,
                             struct tr_loki_push *out,
                             char *errmsg);

/* Parses the text form `{name="value", ...}` (whitespace allowed between
 * tokens) into at most max labels in out (*n set), in the order written.
 * Names follow Prometheus' rules ([a-zA-Z_][a-zA-Z0-9_]*); values are
 * double-quoted with the escapes \\ \" \n \t \r; any other backslash
 * sequence is kept as written (some clients send Windows paths unescaped).
 * Values holding escapes are copied into the arena; others point into s.
 * TR_EINVAL with Loki's wording in errmsg when s does not parse, a name is
 * repeated, there is no label or more than max. */
int tr_loki_labels_parse(struct tr_slice s,
                         struct tr_arena *a,
                         struct tr_loki_label *out,
                         size_t max,
                         size_t *n,
                         char *errmsg);

#endif
