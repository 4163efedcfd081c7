/* otlp_logs.h - OTLP logs: ExportLogsServiceRequest decoding (protobuf and
 * OTLP/JSON, the bodies of POST /otlp/v1/logs and /v1/logs after gzip) and
 * the mapping of its records to Loki streams, as Loki 3.7's OTLP ingestion
 * does with its default configuration.
 *
 * Protobuf messages (wire types: V varint, L length-delimited, 8 fixed64,
 * 4 fixed32; shared messages in proto/otlp_common.h, the resource and
 * scope levels decoded by proto/otlp_groups.c):
 *
 *   MESSAGE                   FIELD                     NO  WT  DESCRIPTION
 *   ExportLogsServiceRequest  resource_logs             1   L   ResourceLogs*
 *   ResourceLogs              resource                  1   L   Resource
 *                             scope_logs                2   L   ScopeLogs*
 *                             schema_url                3   L   string
 *   ScopeLogs                 scope                     1   L   Instrumenta-
 *                                                               tionScope
 *                             log_records               2   L   LogRecord*
 *                             schema_url                3   L   string
 *   LogRecord                 time_unix_nano            1   8   ns, 0 = unset
 *                             observed_time_unix_nano   11  8   ns, 0 = unset
 *                             severity_number           2   V   enum, 0..24
 *                             severity_text             3   L   string
 *                             body                      5   L   AnyValue
 *                             attributes                6   L   KeyValue*
 *                             dropped_attributes_count  7   V   uint32
 *                             flags                     8   4   W3C flags
 *                             trace_id                  9   L   0 or 16 bytes
 *                             span_id                   10  L   0 or 8 bytes
 *                             event_name                12  L   string
 *
 * JSON names: resourceLogs, resource, scopeLogs, scope, logRecords,
 * schemaUrl, timeUnixNano, observedTimeUnixNano, severityNumber (an integer
 * or a SEVERITY_NUMBER_* name), severityText, body, attributes,
 * droppedAttributesCount, flags, traceId and spanId (hex), eventName (and
 * the snake_case forms). Protobuf errors are TR_EPROTO with the message,
 * the resource_logs index and the byte offset; JSON errors TR_EINVAL with
 * the JSON path. */
#ifndef TR_PROTO_OTLP_LOGS_H
#define TR_PROTO_OTLP_LOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "proto/loki_push.h"
#include "proto/otlp_common.h"
#include "proto/otlp_groups.h"

struct tr_otlp_log_record {
    uint64_t time_unix_nano;          /* 0: unset */
    uint64_t observed_time_unix_nano; /* 0: unset */
    int32_t severity_number;          /* 0: unspecified */
    struct tr_slice severity_text;
    struct tr_otlp_value body;
    const struct tr_otlp_kv *attrs;
    size_t n_attrs;
    uint32_t dropped_attributes_count;
    uint32_t flags;
    struct tr_slice trace_id; /* raw bytes: empty or 16 */
    struct tr_slice span_id;  /* raw bytes: empty or 8 */
    struct tr_slice event_name;
};

/* A decoded request: resources > scopes > records (scope->records,
 * scope->n_items; proto/otlp_groups.h). */
struct tr_otlp_logs {
    const struct tr_otlp_resource_group *resources;
    size_t n_resources;
    size_t n_records; /* over all resources and scopes */
    size_t body_len;  /* bytes decoded: bounds what the mapping may make */
};

/* Decodes a protobuf ExportLogsServiceRequest. Slices point into buf
 * (keep it), arrays come from the arena. 0, TR_EPROTO (what, where and the
 * byte offset in errmsg; a trace_id other than 0 or 16 bytes or a span_id
 * other than 0 or 8 bytes is one) or TR_ENOMEM. On error *out is empty. */
int tr_otlp_logs_decode(const void *buf,
                        size_t len,
                        struct tr_arena *a,
                        struct tr_otlp_logs *out,
                        char *errmsg);

/* Decodes an OTLP/JSON ExportLogsServiceRequest (an object; every member
 * optional). Strings point into buf unless they hold escapes; decoded ids
 * and bytes live in the arena. 0, TR_EINVAL (the JSON path and what is
 * wrong in errmsg) or TR_ENOMEM. On error *out is empty. */
int tr_otlp_logs_decode_json(const void *buf,
                             size_t len,
                             struct tr_arena *a,
                             struct tr_otlp_logs *out,
                             char *errmsg);

/* Maps decoded records to Loki streams the way Loki 3.7
 * (pkg/loghttp/push/otlp.go with the default OTLP config and limits) does:
 *
 * - Stream labels: the resource attributes named in Loki's default
 *   index-label list (service.name, service.namespace, service.instance.id,
 *   deployment.environment, deployment.environment.name, cloud.region,
 *   cloud.availability_zone, k8s.cluster.name, k8s.namespace.name,
 *   k8s.pod.name, k8s.container.name, container.name, k8s.replicaset.name,
 *   k8s.deployment.name, k8s.statefulset.name, k8s.daemonset.name,
 *   k8s.cronjob.name, k8s.job.name), names made label names with
 *   tr_otlp_label_name, values as tr_otlp_value_string renders them (a map
 *   value becomes one label per leaf, named <name>_<key>...). A later
 *   attribute with the same label name replaces an earlier one.
 *   service_name: from service.name when it renders non-empty; otherwise
 *   the value of the first index label named k8s_container_name,
 *   container_name or k8s_job_name (Loki's discover_service_name list as
 *   far as index labels can match it), else "unknown_service". Labels with
 *   an empty value are dropped (Loki's ParseLabels does); label_set is
 *   sorted by name.
 * - Resources with the same label set share one stream (streams in order
 *   of first appearance, entries in record order).
 * - Line: the body rendered with tr_otlp_value_string.
 * - Timestamp: time_unix_nano, else observed_time_unix_nano, else now_ns
 *   (both taken as int64, as Go's time.Unix(0, int64(t)) does).
 * - Structured metadata, in this order: the record's attributes (maps
 *   flattened as for labels); observed_timestamp (decimal ns, when both
 *   timestamps are set); severity_number (when not 0); severity_text (when
 *   not empty); dropped_attributes_count, flags (when not 0); trace_id,
 *   span_id (lowercase hex, when not all zero bytes); then the resource's
 *   other attributes; then the scope's attributes, scope_name,
 *   scope_version (when not empty) and scope_dropped_attributes_count
 *   (when not 0). event_name and schema URLs are not stored (Loki drops
 *   them too).
 * - A resource whose label values are not valid UTF-8 is skipped with its
 *   records (Loki records the error and goes on), and so is one left with
 *   no label at all (service.name an empty map: Loki's distributor refuses
 *   that stream); *dropped (may be NULL) is set to the number of records
 *   skipped.
 *
 * Every string of the result points into the decoded request (and so into
 * its body) or into the arena. Resource and scope metadata are copied to
 * every entry, so the output may outgrow the body many times over: more
 * than TR_OTLP_LOGS_META_SLACK + req->body_len metadata pairs in all is
 * TR_ETOOLARGE. Otherwise 0, TR_EINVAL (an attribute name that makes no
 * label name: empty or only underscores, as Loki refuses the request) or
 * TR_ENOMEM, with errmsg; on error *out is empty. */
int tr_otlp_logs_to_loki(const struct tr_otlp_logs *req,
                         int64_t now_ns,
                         struct tr_arena *a,
                         struct tr_loki_push *out,
                         size_t *dropped,
                         char *errmsg);

#define TR_OTLP_LOGS_META_SLACK ((size_t)1 << 16)

/* The default resource attributes Loki indexes as labels (NULL-terminated
 * list, in Loki's order). */
extern const char *const tr_otlp_loki_index_attrs[];

#endif
