/* funcs_int.h - private to the PromQL function implementations
 * (query/promql/funcs_*.c): shared helpers and every function's entry
 * point, registered by name in funcs_eval.c. */
#ifndef TR_QUERY_PROMQL_FUNCS_INT_H
#define TR_QUERY_PROMQL_FUNCS_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "query/promql/value.h"

#define PQ_PI 3.14159265358979323846264338327950288419716939937510582097494459
#define PQ_LN2 0.693147180559945309417232121458176568075500134360255254120680009
#define PQ_LN2_OVER_LN10 \
    0.301029995663981195213738894724493026768189881462108541310430
#define PQ_INV_LN2 1.44269504088896340735992468100189213742664595415298593413

typedef int (*sample_cmp_fn)(const struct tr_pq_sample *a,
                             const struct tr_pq_sample *b,
                             const void *arg);

typedef double (*math_fn)(double);

typedef tr_pq_over_fn over_fn;

struct hq_bucket {
    double upper;
    double count;
};

int oom(struct tr_pq_fctx *ctx);
int slice_cmp(struct tr_slice a, const char *b, size_t bn);
bool is_name_label(struct tr_slice s);
struct tr_slice label_get(const struct tr_label *ls,
                          size_t n,
                          const char *name,
                          size_t name_len);
int out_init(struct tr_pq_fctx *ctx, struct tr_pq_vector *out, size_t cap);
int out_push(struct tr_pq_fctx *ctx,
             struct tr_pq_vector *out,
             const struct tr_label *ls,
             size_t n,
             bool drop,
             int64_t t,
             double v);
int out_single(struct tr_pq_fctx *ctx, struct tr_pq_vector *out, double v);
double go_max(double x, double y);
double go_min(double x, double y);
double go_log2(double x);
double go_log10(double x);
double kahan_inc(double inc, double sum, double *c);
double range_seconds(int64_t ms);
const struct tr_promql_node *unparen(const struct tr_promql_node *n);
int64_t range_end(const struct tr_pq_fctx *ctx);
void merge_sort(struct tr_pq_sample *s,
                struct tr_pq_sample *tmp,
                size_t n,
                sample_cmp_fn cmp,
                const void *arg);
int sort_samples(struct tr_pq_fctx *ctx,
                 struct tr_pq_sample *s,
                 size_t n,
                 sample_cmp_fn cmp,
                 const void *arg);
int dbl_cmp_nan_first(const void *pa, const void *pb);
double quantile_of(double q, double *v, size_t n);
double f_abs(double v);
double f_ceil(double v);
double f_floor(double v);
double f_exp(double v);
double f_sqrt(double v);
double f_ln(double v);
double f_sin(double v);
double f_cos(double v);
double f_tan(double v);
double f_asin(double v);
double f_acos(double v);
double f_atan(double v);
double f_sinh(double v);
double f_cosh(double v);
double f_tanh(double v);
double f_asinh(double v);
double f_acosh(double v);
double f_atanh(double v);
double f_rad(double v);
double f_deg(double v);
double f_sgn(double v);
int simple(struct tr_pq_fctx *ctx,
           const struct tr_pq_value *args,
           struct tr_pq_vector *out,
           math_fn f);
int fn_clamp(struct tr_pq_fctx *ctx,
             const struct tr_pq_value *args,
             size_t n_args,
             struct tr_pq_vector *out);
int fn_clamp_max(struct tr_pq_fctx *ctx,
                 const struct tr_pq_value *args,
                 size_t n_args,
                 struct tr_pq_vector *out);
int fn_clamp_min(struct tr_pq_fctx *ctx,
                 const struct tr_pq_value *args,
                 size_t n_args,
                 struct tr_pq_vector *out);
int fn_round(struct tr_pq_fctx *ctx,
             const struct tr_pq_value *args,
             size_t n_args,
             struct tr_pq_vector *out);
int fn_timestamp(struct tr_pq_fctx *ctx,
                 const struct tr_pq_value *args,
                 size_t n_args,
                 struct tr_pq_vector *out);
int fn_scalar(struct tr_pq_fctx *ctx,
              const struct tr_pq_value *args,
              size_t n_args,
              struct tr_pq_vector *out);
int fn_vector(struct tr_pq_fctx *ctx,
              const struct tr_pq_value *args,
              size_t n_args,
              struct tr_pq_vector *out);
int fn_time(struct tr_pq_fctx *ctx,
            const struct tr_pq_value *args,
            size_t n_args,
            struct tr_pq_vector *out);
int fn_pi(struct tr_pq_fctx *ctx,
          const struct tr_pq_value *args,
          size_t n_args,
          struct tr_pq_vector *out);
int fn_empty(struct tr_pq_fctx *ctx,
             const struct tr_pq_value *args,
             size_t n_args,
             struct tr_pq_vector *out);
int absent_labels(struct tr_pq_fctx *ctx, struct tr_label **out, size_t *out_n);
int fn_absent(struct tr_pq_fctx *ctx,
              const struct tr_pq_value *args,
              size_t n_args,
              struct tr_pq_vector *out);
int fn_absent_over_time(struct tr_pq_fctx *ctx,
                        const struct tr_pq_value *args,
                        size_t n_args,
                        struct tr_pq_vector *out);
int over_time(struct tr_pq_fctx *ctx,
              const struct tr_pq_value *args,
              size_t mat_arg,
              struct tr_pq_vector *out,
              over_fn f,
              bool keep_name);
double extrapolated_rate(const struct tr_pq_fctx *ctx,
                         const struct tr_pq_series *s,
                         bool is_counter,
                         bool is_rate,
                         int *st);
double o_rate(struct tr_pq_fctx *ctx,
              const struct tr_pq_value *args,
              const struct tr_pq_series *s,
              int *st);
double o_increase(struct tr_pq_fctx *ctx,
                  const struct tr_pq_value *args,
                  const struct tr_pq_series *s,
                  int *st);
double o_delta(struct tr_pq_fctx *ctx,
               const struct tr_pq_value *args,
               const struct tr_pq_series *s,
               int *st);
double instant_value(const struct tr_pq_series *s, bool is_rate, int *st);
double o_irate(struct tr_pq_fctx *ctx,
               const struct tr_pq_value *args,
               const struct tr_pq_series *s,
               int *st);
double o_idelta(struct tr_pq_fctx *ctx,
                const struct tr_pq_value *args,
                const struct tr_pq_series *s,
                int *st);
double o_avg(struct tr_pq_fctx *ctx,
             const struct tr_pq_value *args,
             const struct tr_pq_series *s,
             int *st);
double o_sum(struct tr_pq_fctx *ctx,
             const struct tr_pq_value *args,
             const struct tr_pq_series *s,
             int *st);
double o_count(struct tr_pq_fctx *ctx,
               const struct tr_pq_value *args,
               const struct tr_pq_series *s,
               int *st);
double o_present(struct tr_pq_fctx *ctx,
                 const struct tr_pq_value *args,
                 const struct tr_pq_series *s,
                 int *st);
double o_last(struct tr_pq_fctx *ctx,
              const struct tr_pq_value *args,
              const struct tr_pq_series *s,
              int *st);
double o_max(struct tr_pq_fctx *ctx,
             const struct tr_pq_value *args,
             const struct tr_pq_series *s,
             int *st);
double o_min(struct tr_pq_fctx *ctx,
             const struct tr_pq_value *args,
             const struct tr_pq_series *s,
             int *st);
double variance(const struct tr_pq_series *s);
double o_stdvar(struct tr_pq_fctx *ctx,
                const struct tr_pq_value *args,
                const struct tr_pq_series *s,
                int *st);
double o_stddev(struct tr_pq_fctx *ctx,
                const struct tr_pq_value *args,
                const struct tr_pq_series *s,
                int *st);
double *values_copy(struct tr_pq_fctx *ctx,
                    const struct tr_pq_series *s,
                    int *st);
double o_quantile(struct tr_pq_fctx *ctx,
                  const struct tr_pq_value *args,
                  const struct tr_pq_series *s,
                  int *st);
double o_mad(struct tr_pq_fctx *ctx,
             const struct tr_pq_value *args,
             const struct tr_pq_series *s,
             int *st);
double o_changes(struct tr_pq_fctx *ctx,
                 const struct tr_pq_value *args,
                 const struct tr_pq_series *s,
                 int *st);
double o_resets(struct tr_pq_fctx *ctx,
                const struct tr_pq_value *args,
                const struct tr_pq_series *s,
                int *st);
void linear_regression(const struct tr_pq_series *s,
                       int64_t intercept_t,
                       double *slope,
                       double *intercept);
double o_deriv(struct tr_pq_fctx *ctx,
               const struct tr_pq_value *args,
               const struct tr_pq_series *s,
               int *st);
double o_predict_linear(struct tr_pq_fctx *ctx,
                        const struct tr_pq_value *args,
                        const struct tr_pq_series *s,
                        int *st);
void go_fmt_f(char *buf, size_t n, double v);
double o_holt_winters(struct tr_pq_fctx *ctx,
                      const struct tr_pq_value *args,
                      const struct tr_pq_series *s,
                      int *st);
bool parse_le(struct tr_slice s, double *out);
bool almost_equal(double a, double b, double eps);
int bucket_cmp(const void *pa, const void *pb);
double bucket_quantile(double q, struct hq_bucket *b, size_t n, bool *forced);
int labels_cmp_no_le(const struct tr_label *a,
                     size_t na,
                     const struct tr_label *b,
                     size_t nb);
int hq_cmp(const struct tr_pq_sample *a,
           const struct tr_pq_sample *b,
           const void *arg);
int fn_histogram_quantile(struct tr_pq_fctx *ctx,
                          const struct tr_pq_value *args,
                          size_t n_args,
                          struct tr_pq_vector *out);
bool valid_label_name(const char *s, size_t n);
bool is_word_byte(unsigned char c);
int expand(struct tr_buf *dst,
           const char *tmpl,
           size_t tn,
           const char *src,
           const pcre2_code *re,
           const PCRE2_SIZE *ov,
           uint32_t n_groups);
int fn_label_replace(struct tr_pq_fctx *ctx,
                     const struct tr_pq_value *args,
                     size_t n_args,
                     struct tr_pq_vector *out);
int fn_label_join(struct tr_pq_fctx *ctx,
                  const struct tr_pq_value *args,
                  size_t n_args,
                  struct tr_pq_vector *out);
int cmp_asc(const struct tr_pq_sample *a,
            const struct tr_pq_sample *b,
            const void *arg);
int cmp_desc(const struct tr_pq_sample *a,
             const struct tr_pq_sample *b,
             const void *arg);
size_t nat_chunk(const char *s, size_t n, size_t i);
bool atoi64(const char *s, size_t n, int64_t *out);
bool natsort_less(struct tr_slice a, struct tr_slice b);
int cmp_by_label(const struct tr_pq_sample *a,
                 const struct tr_pq_sample *b,
                 const void *arg);
int sort_common(struct tr_pq_fctx *ctx,
                const struct tr_pq_value *args,
                size_t n_args,
                struct tr_pq_vector *out,
                bool desc,
                bool by_label);
int fn_sort(struct tr_pq_fctx *ctx,
            const struct tr_pq_value *args,
            size_t n_args,
            struct tr_pq_vector *out);
int fn_sort_desc(struct tr_pq_fctx *ctx,
                 const struct tr_pq_value *args,
                 size_t n_args,
                 struct tr_pq_vector *out);
int fn_sort_by_label(struct tr_pq_fctx *ctx,
                     const struct tr_pq_value *args,
                     size_t n_args,
                     struct tr_pq_vector *out);
int fn_sort_by_label_desc(struct tr_pq_fctx *ctx,
                          const struct tr_pq_value *args,
                          size_t n_args,
                          struct tr_pq_vector *out);
int fn_abs(struct tr_pq_fctx *ctx,
           const struct tr_pq_value *args,
           size_t n_args,
           struct tr_pq_vector *out);
int fn_acos(struct tr_pq_fctx *ctx,
            const struct tr_pq_value *args,
            size_t n_args,
            struct tr_pq_vector *out);
int fn_acosh(struct tr_pq_fctx *ctx,
             const struct tr_pq_value *args,
             size_t n_args,
             struct tr_pq_vector *out);
int fn_asin(struct tr_pq_fctx *ctx,
            const struct tr_pq_value *args,
            size_t n_args,
            struct tr_pq_vector *out);
int fn_asinh(struct tr_pq_fctx *ctx,
             const struct tr_pq_value *args,
             size_t n_args,
             struct tr_pq_vector *out);
int fn_atan(struct tr_pq_fctx *ctx,
            const struct tr_pq_value *args,
            size_t n_args,
            struct tr_pq_vector *out);
int fn_atanh(struct tr_pq_fctx *ctx,
             const struct tr_pq_value *args,
             size_t n_args,
             struct tr_pq_vector *out);
int fn_avg_over_time(struct tr_pq_fctx *ctx,
                     const struct tr_pq_value *args,
                     size_t n_args,
                     struct tr_pq_vector *out);
int fn_ceil(struct tr_pq_fctx *ctx,
            const struct tr_pq_value *args,
            size_t n_args,
            struct tr_pq_vector *out);
int fn_changes(struct tr_pq_fctx *ctx,
               const struct tr_pq_value *args,
               size_t n_args,
               struct tr_pq_vector *out);
int fn_cos(struct tr_pq_fctx *ctx,
           const struct tr_pq_value *args,
           size_t n_args,
           struct tr_pq_vector *out);
int fn_cosh(struct tr_pq_fctx *ctx,
            const struct tr_pq_value *args,
            size_t n_args,
            struct tr_pq_vector *out);
int fn_count_over_time(struct tr_pq_fctx *ctx,
                       const struct tr_pq_value *args,
                       size_t n_args,
                       struct tr_pq_vector *out);
int fn_day_of_month(struct tr_pq_fctx *ctx,
                    const struct tr_pq_value *args,
                    size_t n_args,
                    struct tr_pq_vector *out);
int fn_day_of_week(struct tr_pq_fctx *ctx,
                   const struct tr_pq_value *args,
                   size_t n_args,
                   struct tr_pq_vector *out);
int fn_day_of_year(struct tr_pq_fctx *ctx,
                   const struct tr_pq_value *args,
                   size_t n_args,
                   struct tr_pq_vector *out);
int fn_days_in_month(struct tr_pq_fctx *ctx,
                     const struct tr_pq_value *args,
                     size_t n_args,
                     struct tr_pq_vector *out);
int fn_deg(struct tr_pq_fctx *ctx,
           const struct tr_pq_value *args,
           size_t n_args,
           struct tr_pq_vector *out);
int fn_delta(struct tr_pq_fctx *ctx,
             const struct tr_pq_value *args,
             size_t n_args,
             struct tr_pq_vector *out);
int fn_deriv(struct tr_pq_fctx *ctx,
             const struct tr_pq_value *args,
             size_t n_args,
             struct tr_pq_vector *out);
int fn_exp(struct tr_pq_fctx *ctx,
           const struct tr_pq_value *args,
           size_t n_args,
           struct tr_pq_vector *out);
int fn_floor(struct tr_pq_fctx *ctx,
             const struct tr_pq_value *args,
             size_t n_args,
             struct tr_pq_vector *out);
int fn_holt_winters(struct tr_pq_fctx *ctx,
                    const struct tr_pq_value *args,
                    size_t n_args,
                    struct tr_pq_vector *out);
int fn_hour(struct tr_pq_fctx *ctx,
            const struct tr_pq_value *args,
            size_t n_args,
            struct tr_pq_vector *out);
int fn_idelta(struct tr_pq_fctx *ctx,
              const struct tr_pq_value *args,
              size_t n_args,
              struct tr_pq_vector *out);
int fn_increase(struct tr_pq_fctx *ctx,
                const struct tr_pq_value *args,
                size_t n_args,
                struct tr_pq_vector *out);
int fn_irate(struct tr_pq_fctx *ctx,
             const struct tr_pq_value *args,
             size_t n_args,
             struct tr_pq_vector *out);
int fn_last_over_time(struct tr_pq_fctx *ctx,
                      const struct tr_pq_value *args,
                      size_t n_args,
                      struct tr_pq_vector *out);
int fn_ln(struct tr_pq_fctx *ctx,
          const struct tr_pq_value *args,
          size_t n_args,
          struct tr_pq_vector *out);
int fn_log10(struct tr_pq_fctx *ctx,
             const struct tr_pq_value *args,
             size_t n_args,
             struct tr_pq_vector *out);
int fn_log2(struct tr_pq_fctx *ctx,
            const struct tr_pq_value *args,
            size_t n_args,
            struct tr_pq_vector *out);
int fn_mad_over_time(struct tr_pq_fctx *ctx,
                     const struct tr_pq_value *args,
                     size_t n_args,
                     struct tr_pq_vector *out);
int fn_max_over_time(struct tr_pq_fctx *ctx,
                     const struct tr_pq_value *args,
                     size_t n_args,
                     struct tr_pq_vector *out);
int fn_min_over_time(struct tr_pq_fctx *ctx,
                     const struct tr_pq_value *args,
                     size_t n_args,
                     struct tr_pq_vector *out);
int fn_minute(struct tr_pq_fctx *ctx,
              const struct tr_pq_value *args,
              size_t n_args,
              struct tr_pq_vector *out);
int fn_month(struct tr_pq_fctx *ctx,
             const struct tr_pq_value *args,
             size_t n_args,
             struct tr_pq_vector *out);
int fn_predict_linear(struct tr_pq_fctx *ctx,
                      const struct tr_pq_value *args,
                      size_t n_args,
                      struct tr_pq_vector *out);
int fn_present_over_time(struct tr_pq_fctx *ctx,
                         const struct tr_pq_value *args,
                         size_t n_args,
                         struct tr_pq_vector *out);
int fn_quantile_over_time(struct tr_pq_fctx *ctx,
                          const struct tr_pq_value *args,
                          size_t n_args,
                          struct tr_pq_vector *out);
int fn_rad(struct tr_pq_fctx *ctx,
           const struct tr_pq_value *args,
           size_t n_args,
           struct tr_pq_vector *out);
int fn_rate(struct tr_pq_fctx *ctx,
            const struct tr_pq_value *args,
            size_t n_args,
            struct tr_pq_vector *out);
int fn_resets(struct tr_pq_fctx *ctx,
              const struct tr_pq_value *args,
              size_t n_args,
              struct tr_pq_vector *out);
int fn_sgn(struct tr_pq_fctx *ctx,
           const struct tr_pq_value *args,
           size_t n_args,
           struct tr_pq_vector *out);
int fn_sin(struct tr_pq_fctx *ctx,
           const struct tr_pq_value *args,
           size_t n_args,
           struct tr_pq_vector *out);
int fn_sinh(struct tr_pq_fctx *ctx,
            const struct tr_pq_value *args,
            size_t n_args,
            struct tr_pq_vector *out);
int fn_sqrt(struct tr_pq_fctx *ctx,
            const struct tr_pq_value *args,
            size_t n_args,
            struct tr_pq_vector *out);
int fn_stddev_over_time(struct tr_pq_fctx *ctx,
                        const struct tr_pq_value *args,
                        size_t n_args,
                        struct tr_pq_vector *out);
int fn_stdvar_over_time(struct tr_pq_fctx *ctx,
                        const struct tr_pq_value *args,
                        size_t n_args,
                        struct tr_pq_vector *out);
int fn_sum_over_time(struct tr_pq_fctx *ctx,
                     const struct tr_pq_value *args,
                     size_t n_args,
                     struct tr_pq_vector *out);
int fn_tan(struct tr_pq_fctx *ctx,
           const struct tr_pq_value *args,
           size_t n_args,
           struct tr_pq_vector *out);
int fn_tanh(struct tr_pq_fctx *ctx,
            const struct tr_pq_value *args,
            size_t n_args,
            struct tr_pq_vector *out);
int fn_year(struct tr_pq_fctx *ctx,
            const struct tr_pq_value *args,
            size_t n_args,
            struct tr_pq_vector *out);

#endif
