/* eval_int.h - private types shared by eval.c and eval_aggr.c. */
#ifndef TR_QUERY_PROMQL_EVAL_INT_H
#define TR_QUERY_PROMQL_EVAL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/hash.h"
#include "query/promql/eval.h"

/* One selector's fetched data: its series in chunk form (storage/select.h)
 * when the source supports it. The batch evaluator decodes one series at a
 * time; the step-by-step evaluator, which searches every series at every
 * step, decodes the whole result once (tr_pq_ev_sel_decoded). */
struct tr_pq_sel {
    const struct tr_promql_node *vs; /* the VECTOR_SEL node */
    int64_t mint;                    /* time range read, inclusive */
    int64_t maxt;
    bool fetched; /* res holds memory */
    bool decoded; /* every series of res is in decoded form */
    struct tr_select_result res;
};

/* The times a batch value is evaluated at: sorted, unique. */
struct tr_pq_grid {
    int64_t *ts;
    size_t n;
};

/* One output series of a batch value. */
struct tr_pq_bser {
    struct tr_label *labels; /* borrowed: e->larena or selector results,
                                both alive until the query ends */
    size_t n_labels;
    double *v;   /* [g.n] */
    uint8_t *ok; /* [g.n]: 1 = a point at g.ts[k] */
};

/* A node's result at every time of a grid (eval_batch.c). */
struct tr_pq_bval {
    const struct tr_promql_node *node; /* when registered */
    struct tr_pq_grid g;
    bool owns_grid; /* g.ts is freed with the value */
    bool scalar;    /* sv[g.n] instead of series */
    double *sv;
    struct tr_pq_bser *s; /* heap array */
    size_t n;
    size_t cap;
    size_t points; /* present points, counted against the sample limit */
    bool counted;
    uint64_t *hash; /* generic path: label hash per series, heap */
    size_t cap_hash;
    size_t *slots; /* generic path: index + 1 by hash, heap */
    size_t nslots;
    struct tr_arena ar; /* rows */
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
    size_t max_series;        /* 0: unlimited */
    size_t cur_samples;       /* samples and points held now */
    int64_t deadline;         /* tr_mono_ns(); 0: none */
    unsigned tick;            /* deadline checks every 64 nodes */
    struct tr_arena *scratch; /* per-step memory */
    struct tr_pq_sel *sels;   /* heap */
    size_t n_sels;
    size_t cap_sels;
    char *errmsg;
    struct tr_arena larena;    /* labels made by batch evaluation */
    struct tr_pq_annos *annos; /* NULL: annotations not collected */
    struct tr_pq_bval **reg;   /* batch values served to the step-by-step
                                  evaluator (tr_pq_batch_serve), heap */
    size_t n_reg;
    size_t cap_reg;
};

/* Evaluates n (an instant vector or scalar expression) at every time of g
 * into *out (free with tr_pq_bval_free). */
int tr_pq_batch_eval(struct tr_pq_ev *e,
                     const struct tr_promql_node *n,
                     const struct tr_pq_grid *g,
                     struct tr_pq_bval **out);
void tr_pq_bval_free(struct tr_pq_ev *e, struct tr_pq_bval *b);
/* Serves n at t from a registered batch value: 0 with *out set, 1 when
 * there is none, or an error. */
int tr_pq_batch_serve(struct tr_pq_ev *e,
                      const struct tr_promql_node *n,
                      int64_t t,
                      struct tr_pq_value *out);
/* The points of b at its times [lo, hi) as a matrix in a, series sorted by
 * labels (deep copies of the labels when copy_labels); *points counts
 * them. */
int tr_pq_bval_matrix(struct tr_pq_ev *e,
                      const struct tr_pq_bval *b,
                      size_t lo,
                      size_t hi,
                      struct tr_arena *a,
                      bool copy_labels,
                      struct tr_pq_matrix *out,
                      size_t *points);
/* The range vector of subquery n at t (sorted by labels, in e->scratch). */
int tr_pq_ev_subquery(struct tr_pq_ev *e,
                      const struct tr_promql_node *n,
                      int64_t t,
                      struct tr_pq_value *out);

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

/* TR_ETIMEOUT past the deadline: _check looks at the clock every 64th
 * call (per node and step), _deadline every time. */
/* Prometheus' stale marker (a NaN with this exact payload). */
static inline bool tr_pq_is_stale(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b == 0x7ff0000000000002ULL;
}

static inline const struct tr_promql_node *tr_pq_unparen(
    const struct tr_promql_node *n)
{
    while (n->kind == TR_PROMQL_NODE_PAREN) {
        n = n->paren.expr;
    }
    return n;
}

int tr_pq_ev_check(struct tr_pq_ev *e);
int tr_pq_ev_deadline(struct tr_pq_ev *e);
int tr_pq_ev_add_samples(struct tr_pq_ev *e, size_t n);
/* The evaluation time of a node with @ modifier at (t when none). */
int64_t tr_pq_ev_at(const struct tr_pq_ev *e,
                    enum tr_promql_at at,
                    int64_t at_ms,
                    int64_t t);
/* The fetched data of a vector selector node, NULL when none. */
const struct tr_pq_sel *tr_pq_ev_sel(const struct tr_pq_ev *e,
                                     const struct tr_promql_node *vs);
/* The same with every series decoded (in place, once); *rv is an error
 * (errmsg set) when that failed. */
const struct tr_pq_sel *tr_pq_ev_sel_decoded(struct tr_pq_ev *e,
                                             const struct tr_promql_node *vs,
                                             int *rv);
/* Prometheus' vectorElemBinop for floats (*keep: a comparison holds). */
double tr_pq_ev_binop(enum tr_promql_tok op, double l, double r, bool *keep);
/* Arithmetic operators drop the metric name. */
bool tr_pq_ev_drops_name(enum tr_promql_tok op);
/* Sorts a matrix's series by labels. */
void tr_pq_matrix_sort(struct tr_pq_matrix *m);
/* Output labels of an aggregation group (eval_aggr.c), shallow copy. */
struct tr_label *tr_pq_aggr_group_labels(struct tr_arena *a,
                                         const struct tr_label *ls,
                                         size_t n,
                                         bool without,
                                         const struct tr_promql_labels *g,
                                         size_t *out_n);
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
