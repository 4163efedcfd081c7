/* postings.h - the label index shared by metrics series and log streams
 * (storage/ only). A series (metrics) or a stream (logs) of one tenant in
 * one shard has an id (the 64-bit hash of its canonical labels, probing
 * the next id on a collision), an 'S' key holding its labels, one 'P' key
 * per label (name, value, id) and is counted in the tenant's 'N' key - the
 * same layout in the metrics and logs column families (storage/keys.h).
 * These functions take the column family (or an iterator over it), so both
 * stores share one implementation. */
#ifndef TR_STORAGE_POSTINGS_H
#define TR_STORAGE_POSTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/matcher.h"
#include "storage/select.h"
#include "storage/engine.h"
#include "storage/labels.h"
#include "storage/shard.h"

/* A sealed shard's label index (storage/seal_compact.c) holds one key per
 * label name and value instead of one per series:
 *   'P' list: prefix | uvarint len(name) | name | uvarint len(value) |
 *             value | 'L'          -> uvarint n, then the n ids ascending
 *                                     as uvarint deltas (the first from 0)
 * Readers take both forms (postings_match_window, postings_scan). */
#define TR_POSTING_LIST 'L'

/* A growable vector of ids. */
struct idvec {
    uint64_t *v;
    size_t n;
    size_t cap;
};

/* 0 or TR_ENOMEM. */
int idvec_push(struct idvec *iv, uint64_t id);
/* Appends the ids of a posting list's value to out: 0, TR_ECORRUPT or
 * TR_ENOMEM. */
int postings_list_decode(struct tr_slice v, struct idvec *out);
void idvec_sort_unique(struct idvec *iv);
void idvec_free(struct idvec *iv);
/* a := a AND b (both sorted unique) */
void idvec_intersect(struct idvec *a, const struct idvec *b);
/* a := a AND NOT b (both sorted unique) */
void idvec_subtract(struct idvec *a, const struct idvec *b);

/* Matcher evaluation in one shard of one tenant. */
struct win_ctx {
    struct tr_iter *it; /* over the column family of the shard's signal */
    struct tr_slice tenant;
    int64_t window; /* window start ms */
    uint16_t slot;
    struct tr_buf key; /* scratch */
};

/* Evaluates matchers ms (n >= 0; n == 0 = every id) in one shard into out
 * (sorted unique ids). When a cheap matcher (equality, literal set)
 * narrows the candidates, the others are not evaluated over postings but
 * left to the caller, which checks them on each candidate's labels
 * (*filter = true; postings_labels_match). 0 or TR_ENOMEM. */
int postings_match_window(struct win_ctx *wc,
                          const struct tr_matcher *ms,
                          size_t n,
                          struct idvec *out,
                          bool *filter);
/* Whether labels ls satisfy every matcher (a missing label is ""). */
bool postings_labels_match(const struct tr_label *ls,
                           size_t nl,
                           const struct tr_matcher *ms,
                           size_t n);

/* Which shards a listing visits: windows starting in [first_window,
 * last_window] (ms), only those listed when n_shards > 0. */
struct postings_range {
    int64_t first_window;
    int64_t last_window;
    const struct tr_shard_id *shards;
    size_t n_shards;
};

bool postings_shard_wanted(const struct postings_range *r,
                           int64_t window,
                           uint16_t slot);
/* Positions it at the first key of the shard after (window, slot). */
void postings_seek_next_shard(struct tr_iter *it,
                              struct tr_buf *k,
                              struct tr_slice tenant,
                              int64_t window,
                              uint16_t slot);

/* A set of strings being collected (sorted and made unique at the end). */
struct strset {
    struct tr_slice *v;
    size_t n;
    size_t cap;
};

/* Adds a copy of s (bytes in a). 0 or TR_ENOMEM. */
int strset_add(struct strset *ss, struct tr_arena *a, struct tr_slice s);
/* Sorts, makes unique, cuts at limit (0 = all; out->truncated) and moves
 * the set into out->items (out's arena); frees ss. 0 or TR_ENOMEM. */
int strset_finish(struct strset *ss, size_t limit, struct tr_string_list *out);
/* Adds the distinct posting names (value_of == NULL) or the values of
 * label *value_of of tenant's shards in r (column family cf) to ss,
 * skipping from one distinct key part to the next with seeks. 0 or
 * TR_ENOMEM. */
int postings_scan(struct tr_engine *eng,
                  enum tr_cf cf,
                  struct tr_slice tenant,
                  const struct tr_slice *value_of,
                  const struct postings_range *r,
                  struct tr_arena *a,
                  struct strset *ss);

/* Adds the 'S' key (id -> canonical labels enc) and one 'P' key per label
 * of a new series/stream to batch b (key: scratch). */
void postings_put_series(struct tr_wbatch *b,
                         enum tr_cf cf,
                         struct tr_buf *key,
                         struct tr_slice tenant,
                         int64_t window,
                         uint16_t slot,
                         uint64_t id,
                         const char *enc,
                         size_t len);
/* The tenant's series/stream count in a shard: its 'N' key, or (a shard
 * written before the count existed) the number of its 'S' keys. */
uint64_t postings_count_load(struct tr_engine *eng,
                             enum tr_cf cf,
                             struct tr_slice tenant,
                             int64_t window,
                             uint16_t slot);
/* Adds the 'N' key with count to b. */
void postings_put_count(struct tr_wbatch *b,
                        enum tr_cf cf,
                        struct tr_buf *key,
                        struct tr_slice tenant,
                        int64_t window,
                        uint16_t slot,
                        uint64_t count);

#define POSTINGS_FREE 0  /* no series has the id */
#define POSTINGS_SAME 1  /* the series with labels enc has it */
#define POSTINGS_TAKEN 2 /* other labels have it (a hash collision) */
/* Looks up id's 'S' key in RocksDB: POSTINGS_FREE, POSTINGS_SAME,
 * POSTINGS_TAKEN or TR_EIO (key, val: scratch). */
int postings_probe(struct tr_engine *eng,
                   enum tr_cf cf,
                   struct tr_slice tenant,
                   int64_t window,
                   uint16_t slot,
                   uint64_t id,
                   struct tr_slice enc,
                   struct tr_buf *key,
                   struct tr_buf *val);

#endif
