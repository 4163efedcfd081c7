/* log_select.h - the logs read interface: how the LogQL engine and the
 * Loki API handlers read log streams. Local storage implements it
 * (tr_storage_log_source) and the cluster's fan-out implements the same
 * vtable (tr_cluster_log_source), so readers never know where data lives.
 *
 * A select answers the streams of one tenant whose labels match every
 * matcher, with their entries in [start, end). Two filters are pushed
 * down, because the store can use its per-block indexes for them and skip
 * whole blocks that cannot match (the needle searches of the issue):
 *   needles  every returned line contains each needle (byte substring,
 *            case-sensitive) - LogQL `|= "x"` stages before any parser;
 *   meta     every returned entry has each (name, value) pair among its
 *            structured metadata (exact) - `| trace_id="x"` before any
 *            parser, for names that are not stream labels.
 * Both are exact filters (the store checks every entry it returns), not
 * hints, so the engine may drop those stages from its pipeline.
 *
 * Entries of a stream come sorted by (ts, then the order they were pushed)
 * in the select's direction: forward = oldest first, backward = newest
 * first. With limit > 0 a stream holds at most its first `limit` entries
 * in that direction (after the pushed-down filters): a log query reading
 * N lines never decodes more than N per stream from each shard. */
#ifndef TR_STORAGE_LOG_SELECT_H
#define TR_STORAGE_LOG_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/matcher.h"
#include "storage/labels.h"
#include "storage/log_entry.h"
#include "storage/select.h"
#include "storage/shard.h"

enum tr_log_direction {
    TR_LOG_FORWARD = 0,  /* oldest first */
    TR_LOG_BACKWARD = 1, /* newest first (Loki's default) */
};

/* A stream of a log select result. */
struct tr_log_stream {
    struct tr_label *labels; /* sorted by name */
    size_t n_labels;
    struct tr_log_line *lines; /* in the select's direction */
    size_t n_lines;
    /* Totals of the stream in [start, end) before the pushed-down filters
     * and the limit, from block headers (entries of blocks that only
     * partly overlap the range are counted in full): what index/stats and
     * index/volume report. Set with no_lines as well. */
    uint64_t total_entries;
    uint64_t total_bytes; /* line bytes */
};

struct tr_log_hints {
    int64_t start; /* inclusive, ns */
    int64_t end;   /* exclusive, ns */
    enum tr_log_direction direction;
    size_t limit;  /* per stream, after the filters; 0 = all */
    bool no_lines; /* streams and totals only (labels, series, stats) */
    const struct tr_slice *needles; /* pushed-down line filters */
    size_t n_needles;
    const struct tr_label *meta; /* pushed-down metadata equalities */
    size_t n_meta;
    size_t max_streams; /* TR_ELIMIT beyond it; 0 = unlimited */
    /* Line bytes returned, shared by every part of one read: TR_ELIMIT
     * once exceeded (the per-query "bytes scanned" limit). NULL: none. */
    struct tr_select_budget *budget;
    bool leader_only; /* cluster reads: only from shard leaders */
    /* cluster reads: only these shards (n_shards > 0), else every shard */
    const struct tr_shard_id *shards;
    size_t n_shards;
};

/* What a select read, for Loki's `stats` object and the benchmarks. */
struct tr_log_stats {
    uint64_t blocks_total;   /* blocks of matching streams in the range */
    uint64_t blocks_skipped; /* ruled out by their index (needles, meta) */
    uint64_t bytes_decompressed;
    uint64_t lines_scanned; /* entries checked against the filters */
};

struct tr_log_result {
    struct tr_arena arena;         /* owns everything below */
    struct tr_log_stream *streams; /* sorted by labels */
    size_t n_streams;
    struct tr_log_stats stats;
};

struct tr_log_source {
    int version; /* 1 */
    void *impl;
    /* Streams of tenant matching every matcher (n >= 1) with entries in
     * [h->start, h->end) (with no_lines: streams with data in windows
     * overlapping it). out is initialised here; free it with
     * tr_log_result_free whatever the result. 0, TR_ELIMIT (errmsg says
     * which limit), TR_EUNAVAIL (a shard had no healthy replica),
     * TR_ENOMEM, TR_EIO. */
    int (*select)(void *impl,
                  struct tr_slice tenant,
                  const struct tr_matcher *ms,
                  size_t n,
                  const struct tr_log_hints *h,
                  struct tr_log_result *out,
                  char *errmsg);
    /* Stream label names of matching streams (every stream when n == 0)
     * in windows overlapping [h->start, h->end). */
    int (*label_names)(void *impl,
                       struct tr_slice tenant,
                       const struct tr_matcher *ms,
                       size_t n,
                       const struct tr_log_hints *h,
                       struct tr_string_list *out,
                       char *errmsg);
    /* Values of stream label `name` among matching streams. */
    int (*label_values)(void *impl,
                        struct tr_slice tenant,
                        struct tr_slice name,
                        const struct tr_matcher *ms,
                        size_t n,
                        const struct tr_log_hints *h,
                        struct tr_string_list *out,
                        char *errmsg);
};

static inline void tr_log_result_init(struct tr_log_result *r)
{
    tr_arena_init(&r->arena, 64 * 1024);
    r->streams = NULL;
    r->n_streams = 0;
    r->stats = (struct tr_log_stats){0};
}

static inline void tr_log_result_free(struct tr_log_result *r)
{
    tr_arena_free(&r->arena);
    r->streams = NULL;
    r->n_streams = 0;
}

#endif
