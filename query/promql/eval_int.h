/* eval_int.h - private types shared by eval.c and eval_aggr.c. */
#ifndef TR_QUERY_PROMQL_EVAL_INT_H
#define TR_QUERY_PROMQL_EVAL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/hash.h"
#include "query/promql/eval.h"

/* One selector's fetched data. */
struct tr_pq_sel {
    const struct tr_promql_node *vs; /* the VECTOR_SEL node */
    int64_t mint;                    /* time range read, inclusive */
    int64_t maxt;
    bool fetched; /* res holds memory */
    struct tr_select_result res;
};

/* Inner results of one subquery node, by inner timestamp (eval_sqmemo.c);
 * used only by range queries, for subqueries not nested in another. */
struct tr_pq_sqmemo_ent {
    int64_t ts;
    bool scalar;
    double sv;              /* scalar result */
    struct tr_pq_sample *s; /* vector result, in ar */
    size_t n;
    struct tr_arena ar;
};
struct tr_pq_sqmemo {
    const struct tr_promql_node *node;
    struct tr_pq_sqmemo_ent *ents; /* sorted by ts; live ones in [head, n) */
    size_t head;
    size_t n;
    size_t cap;
};

/* Evaluation state of one query. */
struct tr_pq_ev {
    const struct tr_select_source *src;
    struct tr_slice tenant;
    int64_t start; /* query bounds, for @ start() / end() */
    int64_t end;
    int64_t lookback;
    int64_t sq_step;          /* default subquery step */
    size_t max_samples;       /* 0: unlimited */
    size_t cur_samples;       /* loaded during this step */
    size_t out_samples;       /* held by the range query's output */
    int64_t deadline;         /* tr_mono_ns(); 0: none */
    unsigned tick;            /* deadline checks every 64 nodes */
    struct tr_arena *scratch; /* per-step memory */
    struct tr_pq_sel *sels;   /* heap */
    size_t n_sels;
    size_t cap_sels;
    char *errmsg;
    bool memo_on;               /* range query: subquery results kept */
    unsigned sq_depth;          /* subqueries being evaluated */
    struct tr_pq_sqmemo *memos; /* heap */
    size_t n_memos;
    size_t cap_memos;
};

struct tr_pq_sqmemo *tr_pq_sqmemo_get(struct tr_pq_ev *e,
                                      const struct tr_promql_node *node);
/* Frees the entries before ts0. */
void tr_pq_sqmemo_evict(struct tr_pq_sqmemo *m, int64_t ts0);
const struct tr_pq_sqmemo_ent *tr_pq_sqmemo_find(struct tr_pq_sqmemo *m,
                                                 int64_t ts);
/* Keeps a deep copy of v at ts when ts is after every kept entry (*out
 * then points at it; else *out is NULL and nothing is kept). */
int tr_pq_sqmemo_put(struct tr_pq_sqmemo *m,
                     int64_t ts,
                     const struct tr_pq_value *v,
                     const struct tr_pq_sqmemo_ent **out);
void tr_pq_sqmemo_free_all(struct tr_pq_ev *e);

/* Open-addressing map of byte strings (arena memory, never grows: sized
 * for the number of keys at init). */
struct tr_pq_kent {
    const char *k;
    size_t len;
    uint64_t h;
    bool used; /* the caller sets it when it keeps the slot */
    size_t v;  /* caller's value */
};
struct tr_pq_kmap {
    struct tr_pq_kent *slots;
    size_t mask;
};
int tr_pq_kmap_init(struct tr_pq_kmap *m, struct tr_arena *a, size_t n);
struct tr_pq_kent *tr_pq_kmap_slot(struct tr_pq_kmap *m,
                                   const char *k,
                                   size_t len);

/* Series accumulated point by point (heap memory). */
struct tr_pq_acc_series {
    uint64_t h;
    struct tr_label *labels;
    size_t n_labels;
    struct tr_pq_point *pts;
    size_t n;
    size_t cap;
};
struct tr_pq_acc {
    struct tr_pq_acc_series *s;
    size_t n;
    size_t cap;
    size_t *slots; /* index + 1; 0 = empty */
    size_t nslots;
};
int tr_pq_acc_add(struct tr_pq_acc *m,
                  struct tr_arena *la,
                  const struct tr_label *ls,
                  size_t n,
                  int64_t t,
                  double v,
                  char *errmsg);
int tr_pq_acc_matrix(struct tr_pq_acc *m,
                     struct tr_arena *a,
                     struct tr_pq_matrix *out,
                     char *errmsg);
void tr_pq_acc_free(struct tr_pq_acc *m);

/* Signature of labels: values of `names` (on), or name/value of every
 * label but `names` and __name__ (!on; names == NULL: every label). */
int tr_pq_sig(struct tr_arena *a,
              const struct tr_label *ls,
              size_t n,
              bool on,
              const struct tr_promql_labels *names,
              const char **out,
              size_t *out_len);

struct tr_label *tr_pq_ev_labels_dup(struct tr_arena *a,
                                     const struct tr_label *ls,
                                     size_t n);
struct tr_label *tr_pq_ev_labels_set(struct tr_arena *a,
                                     const struct tr_label *ls,
                                     size_t n,
                                     struct tr_slice name,
                                     struct tr_slice value,
                                     size_t *out_n);
bool tr_pq_ev_is_name(struct tr_slice s);
bool tr_pq_ev_in_list(struct tr_slice s, const struct tr_promql_labels *l);

int tr_pq_ev_check(struct tr_pq_ev *e);
int tr_pq_ev_check_dups(struct tr_pq_ev *e, const struct tr_pq_vector *v);
int tr_pq_ev_eval(struct tr_pq_ev *e,
                  const struct tr_promql_node *n,
                  int64_t t,
                  struct tr_pq_value *out);
int tr_pq_ev_aggregate(struct tr_pq_ev *e,
                       const struct tr_promql_node *n,
                       int64_t t,
                       struct tr_pq_value *out);

#endif
