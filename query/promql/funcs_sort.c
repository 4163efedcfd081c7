/* funcs_sort.c - sorting and date functions (see funcs_eval.c). */
#include "query/promql/funcs_int.h"

/* ------------------------------------------------------------------ */
/* sort, sort_desc, sort_by_label, sort_by_label_desc                  */

/* sort: ascending, NaN last; sort_desc: descending, NaN last. */
int cmp_asc(const struct tr_pq_sample *a,
            const struct tr_pq_sample *b,
            const void *arg)
{
    (void)arg;
    if (isnan(a->v) || isnan(b->v)) {
        return isnan(a->v) ? (isnan(b->v) ? 0 : 1) : -1;
    }
    return a->v < b->v ? -1 : a->v > b->v ? 1 : 0;
}

int cmp_desc(const struct tr_pq_sample *a,
             const struct tr_pq_sample *b,
             const void *arg)
{
    (void)arg;
    if (isnan(a->v) || isnan(b->v)) {
        return isnan(a->v) ? (isnan(b->v) ? 0 : 1) : -1;
    }
    return a->v > b->v ? -1 : a->v < b->v ? 1 : 0;
}

/* facette/natsort (the version Prometheus 2.53 pins): strings split into
 * runs of digits and non-digits; numeric runs compare as integers when
 * both parse as int64. Returns true when a precedes b. */
size_t nat_chunk(const char *s, size_t n, size_t i)
{
    bool dig = s[i] >= '0' && s[i] <= '9';
    while (i < n && (s[i] >= '0' && s[i] <= '9') == dig) {
        i++;
    }
    return i;
}

bool atoi64(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        if (v > (INT64_MAX - (s[i] - '0')) / 10) {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool natsort_less(struct tr_slice a, struct tr_slice b)
{
    size_t ia = 0, ib = 0;
    while (ia < a.len) {
        size_t ea, eb;
        int64_t x, y;
        bool last_a, last_b;
        int c;
        if (ib >= b.len) {
            return false;
        }
        ea = nat_chunk(a.base, a.len, ia);
        eb = nat_chunk(b.base, b.len, ib);
        last_a = ea == a.len;
        last_b = eb == b.len;
        if (atoi64(a.base + ia, ea - ia, &x) &&
            atoi64(b.base + ib, eb - ib, &y)) {
            if (x != y) {
                return x < y;
            }
        } else {
            struct tr_slice ca = {a.base + ia, ea - ia};
            c = slice_cmp(ca, b.base + ib, eb - ib);
            if (c != 0) {
                return c < 0;
            }
        }
        if (last_a) {
            return true;
        }
        if (last_b) {
            return false;
        }
        ia = ea;
        ib = eb;
    }
    return false;
}

struct by_label {
    const struct tr_pq_value *names;
    size_t n;
    bool desc;
};

int cmp_by_label(const struct tr_pq_sample *a,
                 const struct tr_pq_sample *b,
                 const void *arg)
{
    const struct by_label *bl = arg;
    for (size_t i = 0; i < bl->n; i++) {
        struct tr_slice x = label_get(a->labels, a->n_labels, bl->names[i].str,
                                      bl->names[i].str_len);
        struct tr_slice y = label_get(b->labels, b->n_labels, bl->names[i].str,
                                      bl->names[i].str_len);
        if (x.len == y.len &&
            (x.len == 0 || memcmp(x.base, y.base, x.len) == 0)) {
            continue;
        }
        if (natsort_less(x, y)) {
            return bl->desc ? 1 : -1;
        }
        return bl->desc ? -1 : 1;
    }
    return 0;
}

int sort_common(struct tr_pq_fctx *ctx,
                const struct tr_pq_value *args,
                size_t n_args,
                struct tr_pq_vector *out,
                bool desc,
                bool by_label)
{
    const struct tr_pq_vector *in = &args[0].vec;
    struct by_label bl = {&args[1], n_args - 1, desc};
    int rc = out_init(ctx, out, in->n);
    if (rc != 0) {
        return rc;
    }
    memcpy(out->s, in->s, in->n * sizeof(*in->s));
    out->n = in->n;
    ctx->ordered = true;
    rc = sort_samples(ctx, out->s, out->n, desc ? cmp_desc : cmp_asc, NULL);
    if (rc == 0 && by_label) {
        rc = sort_samples(ctx, out->s, out->n, cmp_by_label, &bl);
    }
    return rc;
}

int fn_sort(struct tr_pq_fctx *ctx,
            const struct tr_pq_value *args,
            size_t n_args,
            struct tr_pq_vector *out)
{
    return sort_common(ctx, args, n_args, out, false, false);
}

int fn_sort_desc(struct tr_pq_fctx *ctx,
                 const struct tr_pq_value *args,
                 size_t n_args,
                 struct tr_pq_vector *out)
{
    return sort_common(ctx, args, n_args, out, true, false);
}

int fn_sort_by_label(struct tr_pq_fctx *ctx,
                     const struct tr_pq_value *args,
                     size_t n_args,
                     struct tr_pq_vector *out)
{
    return sort_common(ctx, args, n_args, out, false, true);
}

int fn_sort_by_label_desc(struct tr_pq_fctx *ctx,
                          const struct tr_pq_value *args,
                          size_t n_args,
                          struct tr_pq_vector *out)
{
    return sort_common(ctx, args, n_args, out, true, true);
}

/* ------------------------------------------------------------------ */
/* date functions (UTC)                                                */

struct civil {
    int64_t year;
    int month; /* 1..12 */
    int day;   /* 1..31 */
    int yday;  /* 1..366 */
    int wday;  /* 0 = Sunday */
    int hour;
    int minute;
};

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

/* Seconds since the epoch to a civil UTC date (H. Hinnant's algorithm). */
static struct civil to_civil(int64_t sec)
{
    struct civil c;
    int64_t days = sec / 86400, rem = sec % 86400, era, doe, yoe, doy, mp, y;
    int cum = 0;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    c.hour = (int)(rem / 3600);
    c.minute = (int)(rem % 3600 / 60);
    c.wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
    days += 719468;
    era = (days >= 0 ? days : days - 146096) / 146097;
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    c.day = (int)(doy - (153 * mp + 2) / 5 + 1);
    c.month = (int)(mp < 10 ? mp + 3 : mp - 9);
    c.year = c.month <= 2 ? y + 1 : y;
    for (int m = 1; m < c.month; m++) {
        cum += month_days(c.year, m);
    }
    c.yday = cum + c.day;
    return c;
}

enum date_part {
    DP_DAYS_IN_MONTH,
    DP_DAY_OF_MONTH,
    DP_DAY_OF_WEEK,
    DP_DAY_OF_YEAR,
    DP_HOUR,
    DP_MINUTE,
    DP_MONTH,
    DP_YEAR,
};

static double date_part(int64_t sec, enum date_part p)
{
    struct civil c = to_civil(sec);
    switch (p) {
        case DP_DAYS_IN_MONTH:
            return month_days(c.year, c.month);
        case DP_DAY_OF_MONTH:
            return c.day;
        case DP_DAY_OF_WEEK:
            return c.wday;
        case DP_DAY_OF_YEAR:
            return c.yday;
        case DP_HOUR:
            return c.hour;
        case DP_MINUTE:
            return c.minute;
        case DP_MONTH:
            return c.month;
        case DP_YEAR:
            return (double)c.year;
    }
    return NAN;
}

/* Go's int64(f) on amd64: truncation, out of range and NaN give
 * math.MinInt64. */
static int64_t go_int64(double f)
{
    if (isnan(f) || f >= 9223372036854775808.0 || f < -9223372036854775808.0) {
        return INT64_MIN;
    }
    return (int64_t)f;
}

static int date_fn(struct tr_pq_fctx *ctx,
                   const struct tr_pq_value *args,
                   size_t n_args,
                   struct tr_pq_vector *out,
                   enum date_part p)
{
    const struct tr_pq_vector *in;
    int rc;
    if (n_args == 0) {
        return out_single(ctx, out, date_part(ctx->ts / 1000, p));
    }
    in = &args[0].vec;
    rc = out_init(ctx, out, in->n);
    for (size_t i = 0; rc == 0 && i < in->n; i++) {
        rc = out_push(ctx, out, in->s[i].labels, in->s[i].n_labels, true,
                      in->s[i].t, date_part(go_int64(in->s[i].v), p));
    }
    return rc;
}

#define DATE(name, part)                                                  \
    int fn_##name(struct tr_pq_fctx *ctx, const struct tr_pq_value *args, \
                  size_t n_args, struct tr_pq_vector *out)                \
    {                                                                     \
        return date_fn(ctx, args, n_args, out, part);                     \
    }

DATE(days_in_month, DP_DAYS_IN_MONTH)
DATE(day_of_month, DP_DAY_OF_MONTH)
DATE(day_of_week, DP_DAY_OF_WEEK)
DATE(day_of_year, DP_DAY_OF_YEAR)
DATE(hour, DP_HOUR)
DATE(minute, DP_MINUTE)
DATE(month, DP_MONTH)
DATE(year, DP_YEAR)
