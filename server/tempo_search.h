/* tempo_search.h - the coordinator of Tempo's search, tag names and tag
 * values (server/api_tempo_search.c), callable with parameters taken from
 * an HTTP request (Tempo's HTTP API, which writes JSON) or from a decoded
 * tempopb request (the StreamingQuerier gRPC service of
 * server/api_tempo_grpc.c, which writes protobuf).
 *
 * Each run pushes the query down to the nodes holding traces shards of
 * the range, merges their answers and returns the results in the
 * caller's arena. Runs return 0 or the HTTP status of the failure (400 a
 * bad parameter or query, 503 no shard leader, ...) with errmsg set. */
#ifndef TR_SERVER_TEMPO_SEARCH_H
#define TR_SERVER_TEMPO_SEARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "proto/tempo_pb.h"

struct tr_app;

#define TR_TEMPO_DEFAULT_LIMIT 20
#define TR_TEMPO_MAX_LIMIT 10000
#define TR_TEMPO_DEFAULT_SPSS 3
#define TR_TEMPO_MAX_SPSS 1000
#define TR_TEMPO_MAX_NAMES 10000
#define TR_TEMPO_MAX_VALUES 10000

/* The range of start/end in Unix seconds (-1: absent; defaults: the traces
 * retention up to an hour from now) in ns. 0 or TR_EINVAL. */
int tr_tempo_range(const struct tr_app *app,
                   int64_t start_s,
                   int64_t end_s,
                   uint64_t *start_ns,
                   uint64_t *end_ns);

/* Tempo's legacy search (tags, min and max duration in ms, 0: none) as a
 * TraceQL query appended to q: every tag an attribute of a span or its
 * resource (the last of equal keys wins, as in Go's map), the trace's
 * duration within the bounds. 0 or TR_ENOMEM. */
int tr_tempo_legacy_query(const struct tr_tempo_pb_tag *tags,
                          size_t n,
                          uint32_t min_ms,
                          uint32_t max_ms,
                          struct tr_buf *q);

struct tr_tempo_search_params {
    uint64_t start, end; /* ns */
    uint64_t limit;      /* traces, 1..TR_TEMPO_MAX_LIMIT */
    uint64_t spss;       /* spans per span set, 1..TR_TEMPO_MAX_SPSS */
    struct tr_slice q;   /* TraceQL */
};

/* A search: the matching traces, most recent first (*t in a). */
int tr_tempo_search_run(struct tr_app *app,
                        const char *tenant,
                        const struct tr_tempo_search_params *p,
                        struct tr_arena *a,
                        struct tr_tempo_trace **t,
                        size_t *n,
                        char *errmsg);

struct tr_tempo_tags_params {
    uint64_t start, end; /* ns */
    uint64_t limit;      /* names per scope */
    bool v2;             /* per scope, intrinsics included */
    struct tr_slice scope;
};

/* Tag names: v1 one unnamed scope of sorted distinct names (resource and
 * span); v2 the non-empty scopes asked for, then "intrinsic" (*scopes and
 * names in a). */
int tr_tempo_tags_run(struct tr_app *app,
                      const char *tenant,
                      const struct tr_tempo_tags_params *p,
                      struct tr_arena *a,
                      struct tr_tempo_tag_scope **scopes,
                      size_t *n,
                      char *errmsg);

/* Values of tag (v1 an attribute name; v2 a scoped attribute or an
 * intrinsic), sorted, at most limit (*v in a). q (may be empty) narrows
 * them to the blocks holding the equalities of a TraceQL query; an
 * incomplete q (what an editor sends while one types) is completed or
 * cut back to its last whole condition, and ignored when even that does
 * not parse. */
int tr_tempo_tag_values_run(struct tr_app *app,
                            const char *tenant,
                            struct tr_slice tag,
                            struct tr_slice q,
                            bool v2,
                            uint64_t start,
                            uint64_t end,
                            uint64_t limit,
                            struct tr_arena *a,
                            struct tr_tempo_tag_value **v,
                            size_t *n,
                            char *errmsg);

#endif
