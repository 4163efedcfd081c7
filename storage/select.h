/* select.h - the select interface: how query engines and API handlers read
 * data. Local storage implements it (tr_storage_source); the cluster's
 * fan-out implements the same vtable (tr_cluster_source), so readers never
 * know where data lives.
 *
 * A select answers series with their samples either decoded (16 bytes a
 * sample) or, when the reader asks for it (hints.chunks), as the encoded
 * chunks they are stored in (about 2 bytes a sample), which the reader
 * decodes one series (or one chunk) at a time: a query then holds the
 * compressed data of what it selected plus the decoded samples of the
 * series it is working on. */
#ifndef TR_STORAGE_SELECT_H
#define TR_STORAGE_SELECT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/matcher.h"
#include "storage/labels.h"
#include "storage/shard.h"

struct tr_sample {
    int64_t t; /* ms */
    double v;  /* bit-exact */
};

/* One encoded piece of a series in a select result: a chunk record
 * (storage/chunk_record.h: maxt, format, payload) whose samples in [mint,
 * maxt] are the n samples of the series it holds. A record that crosses
 * an end of the select's range is kept whole, clipped by mint and maxt
 * when decoded (the record may hold more than n samples). */
struct tr_chunk_ref {
    const uint8_t *rec; /* record bytes (the result's memory) */
    size_t len;
    int64_t mint; /* first sample's time */
    int64_t maxt; /* last sample's time */
    size_t n;     /* samples in [mint, maxt], >= 1 */
};

/* A series of a select result, in one of two forms:
 *   decoded      samples != NULL (or n_samples == 0): the samples, sorted
 *                by t, unique t, within the range;
 *   chunk form   samples == NULL, n_samples > 0 (hints.chunks): chunks[]
 *                in time order, not overlapping (chunks[i].mint >
 *                chunks[i - 1].maxt); n_samples is the sum of their n.
 * Readers decode a chunk-form series when they need it (tr_series_decode,
 * tr_series_iter) and drop the decoded samples afterwards, so a query holds
 * about 2 bytes per selected sample instead of 16. */
struct tr_series_data {
    struct tr_label *labels; /* sorted by name */
    size_t n_labels;
    struct tr_sample *samples;   /* decoded form, else NULL */
    size_t n_samples;            /* samples of the series (either form) */
    struct tr_chunk_ref *chunks; /* chunk form (read only when samples ==
                                    NULL) */
    size_t n_chunks;
};

/* A sample budget that several parts of one select draw from at the same
 * time (a cluster read: the local shards and every remote node's answer).
 * Once used exceeds max the select fails with TR_ELIMIT; used then stays
 * above max. */
struct tr_select_budget {
    atomic_size_t used; /* samples taken */
    size_t max;         /* 0: unlimited */
};

static inline void tr_select_budget_init(struct tr_select_budget *b, size_t max)
{
    atomic_init(&b->used, 0);
    b->max = max;
}

/* Takes n samples: false when the budget is (now) exceeded. */
static inline bool tr_select_budget_take(struct tr_select_budget *b, size_t n)
{
    size_t used = atomic_fetch_add(&b->used, n) + n;
    return b->max == 0 || used <= b->max;
}

/* Gives back n samples taken by a part whose data was dropped. */
static inline void tr_select_budget_give(struct tr_select_budget *b, size_t n)
{
    atomic_fetch_sub(&b->used, n);
}

static inline bool tr_select_budget_over(struct tr_select_budget *b)
{
    return b->max != 0 && atomic_load(&b->used) > b->max;
}

struct tr_select_hints {
    int64_t mint;       /* inclusive, ms */
    int64_t maxt;       /* inclusive, ms */
    bool no_samples;    /* labels only (series/label APIs) */
    bool chunks;        /* series in chunk form (tr_series_data) */
    size_t limit;       /* stop after this many results; 0 = all */
    size_t max_series;  /* TR_ELIMIT beyond it; 0 = unlimited */
    size_t max_samples; /* TR_ELIMIT beyond it; 0 = unlimited */
    /* when set, the samples are taken from it (its max applies) instead of
     * max_samples: the select shares it with other parts of one read */
    struct tr_select_budget *budget;
    bool leader_only; /* cluster reads: only from shard leaders
                         (consistency=strong) */
    /* cluster reads: only these shards (n_shards > 0), else every shard */
    const struct tr_shard_id *shards;
    size_t n_shards;
};

struct tr_select_result {
    struct tr_arena arena;         /* owns everything below */
    struct tr_series_data *series; /* sorted by labels */
    size_t n_series;
    bool truncated; /* limit cut the result */
};

struct tr_string_list {
    struct tr_arena arena;
    struct tr_slice *items; /* sorted, unique */
    size_t n;
    bool truncated;
};

struct tr_select_source {
    int version; /* 1 */
    void *impl;
    /* Series matching every matcher with data in [mint, maxt] (or, with
     * no_samples, series that exist in a window overlapping it). */
    int (*select)(void *impl,
                  struct tr_slice tenant,
                  const struct tr_matcher *ms,
                  size_t n,
                  const struct tr_select_hints *h,
                  struct tr_select_result *out,
                  char *errmsg);
    /* Label names of matching series (all series when n == 0). */
    int (*label_names)(void *impl,
                       struct tr_slice tenant,
                       const struct tr_matcher *ms,
                       size_t n,
                       const struct tr_select_hints *h,
                       struct tr_string_list *out,
                       char *errmsg);
    /* Values of label `name` among matching series. */
    int (*label_values)(void *impl,
                        struct tr_slice tenant,
                        struct tr_slice name,
                        const struct tr_matcher *ms,
                        size_t n,
                        const struct tr_select_hints *h,
                        struct tr_string_list *out,
                        char *errmsg);
};

void tr_select_result_free(struct tr_select_result *r);

/* ---- series of a select result (storage/series.c) ------------------------ */

/* The samples of sd: sd->samples when decoded, else its chunks decoded into
 * buf (room for sd->n_samples). NULL when a chunk is malformed (a record
 * not holding exactly n samples in [mint, maxt], in increasing time from
 * mint to maxt, or chunks out of order): never trust a chunk from the
 * network further than that; NULL as well when a clipped record of more
 * than 256 samples found no memory. */
const struct tr_sample *tr_series_samples(const struct tr_series_data *sd,
                                          struct tr_sample *buf);

/* Reads a series a chunk at a time (a decoded series is one piece). */
struct tr_series_iter {
    const struct tr_series_data *sd;
    size_t next;           /* next chunk */
    struct tr_sample *buf; /* one chunk's samples (tr_malloc) */
    size_t cap;
    int64_t last_t; /* newest time returned */
};
void tr_series_iter_init(struct tr_series_iter *it,
                         const struct tr_series_data *sd);
/* The next piece: 1 with *s and *n set (valid until the next call), 0 at
 * the end, TR_ECORRUPT (as tr_series_samples) or TR_ENOMEM. */
int tr_series_iter_next(struct tr_series_iter *it,
                        const struct tr_sample **s,
                        size_t *n);
void tr_series_iter_free(struct tr_series_iter *it);

/* Sets sd's chunks to XOR chunk records of the n samples v (sorted, unique
 * t; memory from a); sd->samples = NULL. 0 or TR_ENOMEM. */
int tr_series_encode(struct tr_arena *a,
                     const struct tr_sample *v,
                     size_t n,
                     struct tr_series_data *sd);

/* Makes out (labels of parts[0]) the union of n parts of one series (either
 * form, each valid): their chunk lists concatenated in time order when
 * they do not overlap, else the samples sorted, deduplicated (equal times:
 * the first part's sample) and encoded again. The result references the
 * parts' chunk memory (keep it); new memory comes from a. 0, TR_ENOMEM or
 * TR_ECORRUPT. */
int tr_series_merge(struct tr_arena *a,
                    const struct tr_series_data *const *parts,
                    size_t n,
                    struct tr_series_data *out);

/* Decodes every chunk-form series of r in place (memory from r->arena).
 * 0, TR_ENOMEM or TR_ECORRUPT. */
int tr_select_result_decode(struct tr_select_result *r);
/* Makes out (initialised here; free it with tr_string_list_free whatever
 * the result) the sorted union of n string lists without duplicates, at
 * most limit strings (0: no limit). out->truncated when a part was or the
 * union was cut at limit. The strings are copied. 0 or TR_ENOMEM. */
int tr_string_list_union(const struct tr_string_list *parts,
                         size_t n,
                         size_t limit,
                         struct tr_string_list *out);
void tr_string_list_free(struct tr_string_list *l);

#endif
