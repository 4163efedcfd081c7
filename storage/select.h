/* select.h - the select interface: how query engines and API handlers read
 * data. Local storage implements it (tr_storage_source); the cluster's
 * fan-out implements the same vtable later, so readers never know where
 * data lives. */
#ifndef TR_STORAGE_SELECT_H
#define TR_STORAGE_SELECT_H

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

struct tr_series_data {
    struct tr_label *labels; /* sorted by name */
    size_t n_labels;
    struct tr_sample *samples; /* sorted by t, unique t, within the range */
    size_t n_samples;
};


struct tr_select_hints {
    int64_t mint;       /* inclusive, ms */
    int64_t maxt;       /* inclusive, ms */
    bool no_samples;    /* labels only (series/label APIs) */
    size_t limit;       /* stop after this many results; 0 = all */
    size_t max_series;  /* TR_ELIMIT beyond it; 0 = unlimited */
    size_t max_samples; /* TR_ELIMIT beyond it; 0 = unlimited */
    bool leader_only;   /* cluster reads: only from shard leaders
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
void tr_string_list_free(struct tr_string_list *l);

#endif
