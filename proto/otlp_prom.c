/* otlp_prom.c - OTLP metrics to Prometheus series (rules in otlp_prom.h). */
#include "proto/otlp_prom.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json.h"

#define FLAG_NO_RECORDED_VALUE 1u
#define EXEMPLAR_MAX_RUNES 128

/* ---- metric names -------------------------------------------------------
 */

static const char *const unit_map[][2] = {
    {"d", "days"},
    {"h", "hours"},
    {"min", "minutes"},
    {"s", "seconds"},
    {"ms", "milliseconds"},
    {"us", "microseconds"},
    {"ns", "nanoseconds"},
    {"By", "bytes"},
    {"KiBy", "kibibytes"},
    {"MiBy", "mebibytes"},
    {"GiBy", "gibibytes"},
    {"TiBy", "tibibytes"},
    {"KBy", "kilobytes"},
    {"MBy", "megabytes"},
    {"GBy", "gigabytes"},
    {"TBy", "terabytes"},
    {"m", "meters"},
    {"V", "volts"},
    {"A", "amperes"},
    {"J", "joules"},
    {"W", "watts"},
    {"g", "grams"},
    {"Cel", "celsius"},
    {"Hz", "hertz"},
    {"1", ""},
    {"%", "percent"},
};

static const char *const per_unit_map[][2] = {
    {"s", "second"}, {"m", "minute"}, {"h", "hour"}, {"d", "day"},
    {"w", "week"},   {"mo", "month"}, {"y", "year"},
};

static bool name__char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == ':';
}

static struct tr_slice name__trim_space(struct tr_slice s)
{
    while (s.len > 0 &&
           (s.base[0] == ' ' || s.base[0] == '\t' || s.base[0] == '\n' ||
            s.base[0] == '\r' || s.base[0] == '\v' || s.base[0] == '\f')) {
        s.base++;
        s.len--;
    }
    while (s.len > 0 &&
           (s.base[s.len - 1] == ' ' || s.base[s.len - 1] == '\t' ||
            s.base[s.len - 1] == '\n' || s.base[s.len - 1] == '\r' ||
            s.base[s.len - 1] == '\v' || s.base[s.len - 1] == '\f')) {
        s.len--;
    }
    return s;
}

static bool name__has_brace(struct tr_slice s)
{
    return memchr(s.base, '{', s.len) != NULL ||
           memchr(s.base, '}', s.len) != NULL;
}

/* A unit part translated by a table (n rows), else itself. */
static struct tr_slice name__map(struct tr_slice u,
                                 const char *const (*map)[2],
                                 size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (tr_slice_eq_cstr(u, map[i][0])) {
            return tr_slice_cstr(map[i][1]);
        }
    }
    return u;
}

/* Appends "prefix" + s with invalid bytes as '_', runs of '_' collapsed
 * and a leading '_' dropped (cleanUpUnit) into out[0..cap); returns the
 * length. */
static size_t name__clean(const char *prefix,
                          struct tr_slice s,
                          char *out,
                          size_t cap)
{
    size_t o = 0;
    char prev = 0;
    size_t np = strlen(prefix);
    for (size_t i = 0; i < np + s.len && o < cap; i++) {
        char c = i < np ? prefix[i] : s.base[i - np];
        if (!name__char_ok(c)) {
            c = '_';
        }
        if (c == '_' && (prev == '_' || o == 0)) {
            prev = c;
            continue;
        }
        out[o++] = c;
        prev = c;
    }
    return o;
}

struct name_tokens {
    struct tr_slice *t;
    size_t n;
};

static bool tokens__has(const struct name_tokens *tk, const char *s, size_t n)
{
    for (size_t i = 0; i < tk->n; i++) {
        if (tk->t[i].len == n && memcmp(tk->t[i].base, s, n) == 0) {
            return true;
        }
    }
    return false;
}

static void tokens__remove(struct name_tokens *tk, const char *s)
{
    size_t o = 0;
    size_t n = strlen(s);
    for (size_t i = 0; i < tk->n; i++) {
        if (!(tk->t[i].len == n && memcmp(tk->t[i].base, s, n) == 0)) {
            tk->t[o++] = tk->t[i];
        }
    }
    tk->n = o;
}

int tr_otlp_prom_metric_name(const struct tr_otlp_metric *m,
                             struct tr_buf *out,
                             char *errmsg)
{
    /* the name's tokens (at most len / 2 + 1 of them), and room for the
     * unit, per unit, total and ratio */
    const char *s = m->name.base;
    size_t n = m->name.len;
    struct name_tokens tk;
    tk.n = 0;
    tk.t = tr_malloc((n / 2 + 6) * sizeof(*tk.t));
    if (tk.t == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    for (size_t i = 0; i < n;) {
        while (i < n && !name__char_ok(s[i])) {
            i++;
        }
        size_t b = i;
        while (i < n && name__char_ok(s[i])) {
            i++;
        }
        if (i > b) {
            tk.t[tk.n].base = s + b;
            tk.t[tk.n++].len = i - b;
        }
    }
    /* unit suffixes */
    char mainb[256] = "", perb[260] = "";
    size_t mainl = 0, perl = 0;
    struct tr_slice unit = m->unit;
    const char *slash = memchr(unit.base ? unit.base : "", '/', unit.len);
    struct tr_slice mu = unit, pu = {NULL, 0};
    bool has_per = false;
    if (slash != NULL) {
        mu.len = (size_t)(slash - unit.base);
        pu.base = slash + 1;
        pu.len = unit.len - mu.len - 1;
        has_per = pu.len > 0;
    }
    mu = name__trim_space(mu);
    if (mu.len > 0 && !name__has_brace(mu)) {
        struct tr_slice t =
            name__map(mu, unit_map, sizeof(unit_map) / sizeof(unit_map[0]));
        mainl = name__clean("", t, mainb, sizeof(mainb));
    }
    if (has_per) {
        pu = name__trim_space(pu);
        if (pu.len > 0 && !name__has_brace(pu)) {
            struct tr_slice t =
                name__map(pu, per_unit_map,
                          sizeof(per_unit_map) / sizeof(per_unit_map[0]));
            if (t.len > 0) {
                perl = name__clean("per_", t, perb, sizeof(perb));
            }
        }
    }
    if (mainl > 0 && tokens__has(&tk, mainb, mainl)) {
        mainl = 0;
    }
    if (perl == 4 && memcmp(perb, "per_", 4) == 0) {
        perl = 0;
    } else {
        while (perl > 0 && perb[perl - 1] == '_') {
            perl--;
        }
        if (perl > 0 && tokens__has(&tk, perb, perl)) {
            perl = 0;
        }
    }
    if (perl > 0) {
        while (mainl > 0 && mainb[mainl - 1] == '_') {
            mainl--;
        }
    }
    if (mainl > 0) {
        tk.t[tk.n].base = mainb;
        tk.t[tk.n++].len = mainl;
    }
    if (perl > 0) {
        tk.t[tk.n].base = perb;
        tk.t[tk.n++].len = perl;
    }
    /* Prometheus calls a monotonic sum a counter whatever its temporality
     * (only cumulative ones are converted here) */
    bool counter = m->type == TR_OTLP_METRIC_SUM && m->monotonic;
    if (counter) {
        tokens__remove(&tk, "total");
        tk.t[tk.n++] = tr_slice_cstr("total");
    }
    if (m->type == TR_OTLP_METRIC_GAUGE && tr_slice_eq_cstr(m->unit, "1")) {
        tokens__remove(&tk, "ratio");
        tk.t[tk.n++] = tr_slice_cstr("ratio");
    }
    size_t start = out->len;
    for (size_t i = 0; i < tk.n; i++) {
        if (i == 0 && tk.t[0].len > 0 && tk.t[0].base[0] >= '0' &&
            tk.t[0].base[0] <= '9') {
            tr_buf_putc(out, '_');
        }
        if (i > 0) {
            tr_buf_putc(out, '_');
        }
        tr_buf_append(out, tk.t[i].base, tk.t[i].len);
    }
    tr_free(tk.t);
    if (out->oom) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    if (out->len == start) {
        return tr_errf(TR_EINVAL, errmsg,
                       "normalization for metric \"%.*s\" resulted in an "
                       "empty name",
                       (int)(m->name.len > 100 ? 100 : m->name.len),
                       m->name.base ? m->name.base : "");
    }
    return 0;
}

/* ---- conversion ---------------------------------------------------------
 */

struct conv {
    struct tr_arena *a;
    struct tr_prw_request *out;
    size_t cap_series;
    size_t cap_meta;
    struct tr_otlp_prom_stats *st;
    struct tr_buf tmp;
    bool oom;
};

/* What a resource gives every series. */
struct res_info {
    bool has_job, has_instance;
    struct tr_slice job, instance;
};

/* One label under construction. */
struct attr_tmp {
    struct tr_slice key;   /* as sent */
    struct tr_slice name;  /* made valid */
    struct tr_slice value; /* as text */
    size_t idx;            /* tie-breaker: keeps sorts stable */
};

static void conv__reject(struct conv *c, uint64_t points, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void conv__reject(struct conv *c, uint64_t points, const char *fmt, ...)
{
    struct tr_otlp_prom_stats *st = c->st;
    st->rejected_points += points;
    st->n_errors++;
    size_t len = strlen(st->errmsg);
    if (st->n_errors > 3) {
        return; /* the count is added at the end */
    }
    if (len > 0 && len + 2 < sizeof(st->errmsg)) {
        memcpy(st->errmsg + len, "; ", 3);
        len += 2;
    }
    if (len + 1 >= sizeof(st->errmsg)) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->errmsg + len, sizeof(st->errmsg) - len, fmt, ap);
    va_end(ap);
}

static struct tr_slice conv__dup(struct conv *c, const void *p, size_t n)
{
    struct tr_slice s = {"", 0};
    if (n == 0) {
        return s;
    }
    char *d = tr_arena_memdup(c->a, p, n);
    if (d == NULL) {
        c->oom = true;
        return s;
    }
    s.base = d;
    s.len = n;
    return s;
}

/* An attribute value as label text (pdata's AsString). */
static struct tr_slice conv__value(struct conv *c,
                                   const struct tr_otlp_value *v)
{
    if (v->type == TR_OTLP_STRING) {
        return v->s;
    }
    tr_buf_reset(&c->tmp);
    if (tr_otlp_value_string(v, &c->tmp) != 0 || c->tmp.oom) {
        c->oom = true;
        return (struct tr_slice){"", 0};
    }
    return conv__dup(c, c->tmp.data, c->tmp.len);
}

static int attr__cmp_key(const void *pa, const void *pb)
{
    const struct attr_tmp *a = pa, *b = pb;
    int r = tr_slice_cmp(a->key, b->key);
    return r != 0 ? r : (a->idx < b->idx ? -1 : a->idx > b->idx);
}

static int attr__cmp_name(const void *pa, const void *pb)
{
    const struct attr_tmp *a = pa, *b = pb;
    int r = tr_slice_cmp(a->name, b->name);
    return r != 0 ? r : (a->idx < b->idx ? -1 : a->idx > b->idx);
}

static bool conv__ignored(struct tr_slice key,
                          const char *const *ignore,
                          size_t n_ignore)
{
    for (size_t i = 0; i < n_ignore; i++) {
        if (tr_slice_eq_cstr(key, ignore[i])) {
            return true;
        }
    }
    return false;
}

/* The labels of attributes attrs (minus the names in ignore): valid names,
 * colliding ones merged (values joined with ';' in the order of the
 * original names), sorted by name. 0, TR_EINVAL (a name that cannot be
 * made valid; errmsg) or TR_ENOMEM. */
static int conv__attrs(struct conv *c,
                       const struct tr_otlp_kv *attrs,
                       size_t n_attrs,
                       const char *const *ignore,
                       size_t n_ignore,
                       struct tr_prw_label **out,
                       size_t *n_out,
                       char *errmsg)
{
    *out = NULL;
    *n_out = 0;
    if (n_attrs == 0) {
        return 0;
    }
    struct attr_tmp *t = tr_arena_alloc(c->a, n_attrs * sizeof(*t));
    struct tr_prw_label *ls = tr_arena_alloc(c->a, n_attrs * sizeof(*ls));
    if (t == NULL || ls == NULL) {
        return TR_ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < n_attrs; i++) {
        if (conv__ignored(attrs[i].key, ignore, n_ignore)) {
            continue;
        }
        t[n].key = attrs[i].key;
        t[n].value = conv__value(c, &attrs[i].value);
        t[n].idx = i;
        n++;
    }
    qsort(t, n, sizeof(*t), attr__cmp_key);
    for (size_t i = 0; i < n; i++) {
        tr_buf_reset(&c->tmp);
        int rv = tr_otlp_label_name(t[i].key, &c->tmp, errmsg);
        if (rv != 0) {
            return rv;
        }
        t[i].name = conv__dup(c, c->tmp.data, c->tmp.len);
        t[i].idx = i;
    }
    if (c->oom) {
        return TR_ENOMEM;
    }
    qsort(t, n, sizeof(*t), attr__cmp_name);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && tr_slice_eq(t[j].name, t[i].name)) {
            j++;
        }
        ls[o].name = t[i].name;
        if (j == i + 1) {
            ls[o].value = t[i].value;
        } else {
            tr_buf_reset(&c->tmp);
            for (size_t k = i; k < j; k++) {
                if (k > i) {
                    tr_buf_putc(&c->tmp, ';');
                }
                tr_buf_append(&c->tmp, t[k].value.base, t[k].value.len);
            }
            if (c->tmp.oom) {
                return TR_ENOMEM;
            }
            ls[o].value = conv__dup(c, c->tmp.data, c->tmp.len);
        }
        o++;
        i = j;
    }
    *out = ls;
    *n_out = o;
    return c->oom ? TR_ENOMEM : 0;
}

/* The attribute's value when the resource has key, as text. */
static bool conv__res_attr(struct conv *c,
                           const struct tr_otlp_resource *r,
                           const char *key,
                           struct tr_slice *out)
{
    for (size_t i = 0; i < r->n_attrs; i++) {
        if (tr_slice_eq_cstr(r->attrs[i].key, key)) {
            *out = conv__value(c, &r->attrs[i].value);
            return true;
        }
    }
    return false;
}

static void conv__res_info(struct conv *c,
                           const struct tr_otlp_resource *r,
                           struct res_info *ri)
{
    memset(ri, 0, sizeof(*ri));
    struct tr_slice name, ns;
    if (conv__res_attr(c, r, "service.name", &name)) {
        ri->has_job = true;
        if (conv__res_attr(c, r, "service.namespace", &ns)) {
            tr_buf_reset(&c->tmp);
            tr_buf_append(&c->tmp, ns.base, ns.len);
            tr_buf_putc(&c->tmp, '/');
            tr_buf_append(&c->tmp, name.base, name.len);
            if (c->tmp.oom) {
                c->oom = true;
                return;
            }
            ri->job = conv__dup(c, c->tmp.data, c->tmp.len);
        } else {
            ri->job = name;
        }
    }
    ri->has_instance =
        conv__res_attr(c, r, "service.instance.id", &ri->instance);
}

/* A new series: base labels (minus those replaced) + job/instance +
 * __name__ + the extra label (ename may be NULL), with one sample. */
static struct tr_prw_series *conv__series(struct conv *c,
                                          const struct tr_prw_label *base,
                                          size_t n_base,
                                          const struct res_info *ri,
                                          struct tr_slice name,
                                          const char *ename,
                                          struct tr_slice evalue,
                                          int64_t ts,
                                          double v)
{
    struct tr_prw_request *out = c->out;
    if (out->n_series == c->cap_series) {
        struct tr_prw_series *ns = tr_arena_array_grow(
            c->a, out->series, out->n_series, &c->cap_series, sizeof(*ns), 64);
        if (ns == NULL) {
            c->oom = true;
            return NULL;
        }
        out->series = ns;
    }
    struct tr_prw_label *ls = tr_arena_alloc(c->a, (n_base + 4) * sizeof(*ls));
    struct tr_prw_sample *sm = tr_arena_alloc(c->a, sizeof(*sm));
    if (ls == NULL || sm == NULL) {
        c->oom = true;
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < n_base; i++) {
        struct tr_slice ln = base[i].name;
        if ((ri->has_job && tr_slice_eq_cstr(ln, "job")) ||
            (ri->has_instance && tr_slice_eq_cstr(ln, "instance")) ||
            tr_slice_eq_cstr(ln, "__name__") ||
            (ename != NULL && tr_slice_eq_cstr(ln, ename))) {
            continue;
        }
        ls[n++] = base[i];
    }
    if (ri->has_job) {
        ls[n].name = tr_slice_cstr("job");
        ls[n++].value = ri->job;
    }
    if (ri->has_instance) {
        ls[n].name = tr_slice_cstr("instance");
        ls[n++].value = ri->instance;
    }
    if (ename != NULL) {
        ls[n].name = tr_slice_cstr(ename);
        ls[n++].value = evalue;
    }
    ls[n].name = tr_slice_cstr("__name__");
    ls[n++].value = name;
    sm->ts_ms = ts;
    sm->value = v;
    struct tr_prw_series *s = &out->series[out->n_series++];
    memset(s, 0, sizeof(*s));
    s->labels = ls;
    s->n_labels = n;
    s->samples = sm;
    s->n_samples = 1;
    return s;
}

static size_t conv__runes(struct tr_slice s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        n += ((unsigned char)s.base[i] & 0xC0) != 0x80;
    }
    return n;
}

static struct tr_slice conv__hex(struct conv *c, struct tr_slice id)
{
    static const char hx[] = "0123456789abcdef";
    char buf[64];
    size_t n = id.len > 32 ? 32 : id.len;
    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = hx[(unsigned char)id.base[i] >> 4];
        buf[2 * i + 1] = hx[(unsigned char)id.base[i] & 15];
    }
    return conv__dup(c, buf, 2 * n);
}

/* Appends exemplar e to series s (Prometheus' labels: trace_id, span_id,
 * then the filtered attributes if all fit in 128 characters). */
static void conv__exemplar(struct conv *c,
                           struct tr_prw_series *s,
                           const struct tr_otlp_exemplar *e)
{
    struct tr_prw_exemplar *ex = tr_arena_alloc(
        c->a, (s->n_exemplars + 1) * sizeof(struct tr_prw_exemplar));
    struct tr_prw_label *ls =
        tr_arena_alloc(c->a, (e->n_attrs + 2) * sizeof(*ls));
    if (ex == NULL || ls == NULL) {
        c->oom = true;
        return;
    }
    if (s->n_exemplars > 0) {
        memcpy(ex, s->exemplars, s->n_exemplars * sizeof(*ex));
    }
    size_t n = 0, runes = 0;
    if (e->trace_id.len > 0) {
        ls[n].name = tr_slice_cstr("trace_id");
        ls[n].value = conv__hex(c, e->trace_id);
        runes += 8 + ls[n].value.len;
        n++;
    }
    if (e->span_id.len > 0) {
        ls[n].name = tr_slice_cstr("span_id");
        ls[n].value = conv__hex(c, e->span_id);
        runes += 7 + ls[n].value.len;
        n++;
    }
    size_t n_ids = n;
    for (size_t i = 0; i < e->n_attrs; i++) {
        ls[n].name = e->attrs[i].key;
        ls[n].value = conv__value(c, &e->attrs[i].value);
        runes += conv__runes(ls[n].name) + conv__runes(ls[n].value);
        n++;
    }
    if (runes > EXEMPLAR_MAX_RUNES) {
        n = n_ids;
    }
    struct tr_prw_exemplar *x = &ex[s->n_exemplars];
    x->labels = ls;
    x->n_labels = n;
    x->value = e->is_int ? (double)e->i : e->d;
    x->ts_ms = (int64_t)e->time_unix_nano / 1000000;
    s->exemplars = ex;
    s->n_exemplars++;
}

static double conv__stale(void)
{
    uint64_t bits = TR_PRW_STALE_NAN_BITS;
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

/* name + suffix in the arena */
static struct tr_slice conv__suffixed(struct conv *c,
                                      struct tr_slice name,
                                      const char *suffix)
{
    size_t sl = strlen(suffix);
    char *p = tr_arena_alloc(c->a, name.len + sl);
    if (p == NULL) {
        c->oom = true;
        return name;
    }
    memcpy(p, name.base, name.len);
    memcpy(p + name.len, suffix, sl);
    return (struct tr_slice){p, name.len + sl};
}

static struct tr_slice conv__float(struct conv *c, double v)
{
    char buf[TR_DOUBLE_BUF];
    size_t n = tr_format_double(buf, v);
    return conv__dup(c, buf, n);
}

static const struct tr_otlp_point_common *conv__point(
    const struct tr_otlp_metric *m,
    size_t i)
{
    switch (m->type) {
        case TR_OTLP_METRIC_GAUGE:
        case TR_OTLP_METRIC_SUM:
            return &m->numbers[i].c;
        case TR_OTLP_METRIC_HISTOGRAM:
            return &m->histograms[i].c;
        case TR_OTLP_METRIC_EXP_HISTOGRAM:
            return &m->exp_histograms[i].c;
        case TR_OTLP_METRIC_SUMMARY:
            return &m->summaries[i].c;
        default:
            return NULL;
    }
}

static void conv__point_labels_fail(struct conv *c,
                                    const struct tr_otlp_metric *m,
                                    int rv,
                                    const char *err)
{
    if (rv == TR_ENOMEM) {
        c->oom = true;
        return;
    }
    conv__reject(c, 1, "metric \"%.*s\": %s",
                 (int)(m->name.len > 100 ? 100 : m->name.len), m->name.base,
                 err);
}

static void conv__metric(struct conv *c,
                         const struct tr_otlp_metric *m,
                         const struct res_info *ri)
{
    char err[TR_ERRMSG_SIZE];
    int nl = (int)(m->name.len > 100 ? 100 : m->name.len);
    const char *nb = m->name.base ? m->name.base : "";
    if (m->n_points == 0) {
        return;
    }
    if (m->type == TR_OTLP_METRIC_EXP_HISTOGRAM) {
        conv__reject(c, m->n_points,
                     "metric \"%.*s\": exponential histograms are not "
                     "supported yet (no native histograms): %zu data points "
                     "rejected",
                     nl, nb, m->n_points);
        return;
    }
    if ((m->type == TR_OTLP_METRIC_SUM ||
         m->type == TR_OTLP_METRIC_HISTOGRAM) &&
        m->temporality != TR_OTLP_TEMPORALITY_CUMULATIVE) {
        if (m->temporality == TR_OTLP_TEMPORALITY_DELTA) {
            conv__reject(c, m->n_points,
                         "metric \"%.*s\": delta temporality is not "
                         "supported (only cumulative sums and histograms): "
                         "%zu data points rejected",
                         nl, nb, m->n_points);
        } else {
            conv__reject(c, m->n_points,
                         "metric \"%.*s\": invalid temporality and type "
                         "combination (temporality %d): %zu data points "
                         "rejected",
                         nl, nb, (int)m->temporality, m->n_points);
        }
        return;
    }
    tr_buf_reset(&c->tmp);
    int rv = tr_otlp_prom_metric_name(m, &c->tmp, err);
    if (rv != 0) {
        if (rv == TR_ENOMEM) {
            c->oom = true;
            return;
        }
        conv__reject(c, m->n_points, "%s: %zu data points rejected", err,
                     m->n_points);
        return;
    }
    struct tr_slice name = conv__dup(c, c->tmp.data, c->tmp.len);
    /* metadata */
    struct tr_prw_request *out = c->out;
    if (out->n_metadata == c->cap_meta) {
        struct tr_prw_metadata *nm =
            tr_arena_array_grow(c->a, out->metadata, out->n_metadata,
                                &c->cap_meta, sizeof(*nm), 16);
        if (nm == NULL) {
            c->oom = true;
            return;
        }
        out->metadata = nm;
    }
    struct tr_prw_metadata *md = &out->metadata[out->n_metadata++];
    md->type = m->type == TR_OTLP_METRIC_GAUGE ? TR_PRW_GAUGE
               : m->type == TR_OTLP_METRIC_SUM
                   ? (m->monotonic ? TR_PRW_COUNTER : TR_PRW_GAUGE)
               : m->type == TR_OTLP_METRIC_HISTOGRAM ? TR_PRW_HISTOGRAM
               : m->type == TR_OTLP_METRIC_SUMMARY   ? TR_PRW_SUMMARY
                                                     : TR_PRW_UNKNOWN;
    md->family = name;
    md->help = m->description;
    md->unit = m->unit;
    struct tr_slice n_sum = {0}, n_count = {0}, n_bucket = {0};
    if (m->type == TR_OTLP_METRIC_HISTOGRAM ||
        m->type == TR_OTLP_METRIC_SUMMARY) {
        n_sum = conv__suffixed(c, name, "_sum");
        n_count = conv__suffixed(c, name, "_count");
        n_bucket = conv__suffixed(c, name, "_bucket");
    }
    struct tr_slice none = {"", 0};
    for (size_t i = 0; i < m->n_points && !c->oom; i++) {
        const struct tr_otlp_point_common *pc = conv__point(m, i);
        struct tr_prw_label *base;
        size_t n_base;
        rv = conv__attrs(c, pc->attrs, pc->n_attrs, NULL, 0, &base, &n_base,
                         err);
        if (rv != 0) {
            conv__point_labels_fail(c, m, rv, err);
            continue;
        }
        int64_t ts = (int64_t)pc->time_unix_nano / 1000000;
        bool stale = (pc->flags & FLAG_NO_RECORDED_VALUE) != 0;
        double sv = conv__stale();
        if (m->type == TR_OTLP_METRIC_GAUGE || m->type == TR_OTLP_METRIC_SUM) {
            const struct tr_otlp_number_point *p = &m->numbers[i];
            double v = stale ? sv : p->is_int ? (double)p->i : p->d;
            struct tr_prw_series *s =
                conv__series(c, base, n_base, ri, name, NULL, none, ts, v);
            for (size_t k = 0; s != NULL && k < pc->n_exemplars; k++) {
                conv__exemplar(c, s, &pc->exemplars[k]);
            }
        } else if (m->type == TR_OTLP_METRIC_HISTOGRAM) {
            const struct tr_otlp_histogram_point *p = &m->histograms[i];
            if (p->has_sum) {
                conv__series(c, base, n_base, ri, n_sum, NULL, none, ts,
                             stale ? sv : p->sum);
            }
            conv__series(c, base, n_base, ri, n_count, NULL, none, ts,
                         stale ? sv : (double)p->count);
            size_t nb_ = p->n_bounds < p->n_bucket_counts ? p->n_bounds
                                                          : p->n_bucket_counts;
            size_t first = c->out->n_series;
            uint64_t cum = 0;
            for (size_t k = 0; k < nb_; k++) {
                cum += p->bucket_counts[k];
                conv__series(c, base, n_base, ri, n_bucket, "le",
                             conv__float(c, p->bounds[k]), ts,
                             stale ? sv : (double)cum);
            }
            conv__series(c, base, n_base, ri, n_bucket, "le",
                         tr_slice_cstr("+Inf"), ts,
                         stale ? sv : (double)p->count);
            if (c->oom) {
                return;
            }
            /* exemplars go to the bucket of the smallest bound >= value */
            for (size_t k = 0; k < pc->n_exemplars; k++) {
                const struct tr_otlp_exemplar *e = &pc->exemplars[k];
                double v = e->is_int ? (double)e->i : e->d;
                size_t best = first + nb_; /* +Inf */
                double bb = INFINITY;
                for (size_t b = 0; b < nb_; b++) {
                    if (v <= p->bounds[b] && p->bounds[b] < bb) {
                        bb = p->bounds[b];
                        best = first + b;
                    }
                }
                if (!(v <= INFINITY) && best == first + nb_) {
                    continue; /* NaN fits no bucket */
                }
                conv__exemplar(c, &c->out->series[best], e);
            }
        } else if (m->type == TR_OTLP_METRIC_SUMMARY) {
            const struct tr_otlp_summary_point *p = &m->summaries[i];
            conv__series(c, base, n_base, ri, n_sum, NULL, none, ts,
                         stale ? sv : p->sum);
            conv__series(c, base, n_base, ri, n_count, NULL, none, ts,
                         stale ? sv : (double)p->count);
            for (size_t k = 0; k < p->n_quantiles; k++) {
                conv__series(c, base, n_base, ri, name, "quantile",
                             conv__float(c, p->quantiles[k].quantile), ts,
                             stale ? sv : p->quantiles[k].value);
            }
        }
    }
}

/* target_info of one resource (rules in the header). */
static void conv__target_info(struct conv *c,
                              const struct tr_otlp_resource *r,
                              const struct res_info *ri,
                              uint64_t earliest,
                              uint64_t latest)
{
    static const char *const ident[] = {"service.namespace", "service.name",
                                        "service.instance.id"};
    size_t others = r->n_attrs;
    for (size_t k = 0; k < 3; k++) {
        for (size_t i = 0; i < r->n_attrs; i++) {
            if (tr_slice_eq_cstr(r->attrs[i].key, ident[k])) {
                others--;
                break;
            }
        }
    }
    if (others == 0 || (!ri->has_job && !ri->has_instance)) {
        return;
    }
    char err[TR_ERRMSG_SIZE];
    struct tr_prw_label *base;
    size_t n_base;
    int rv =
        conv__attrs(c, r->attrs, r->n_attrs, ident, 3, &base, &n_base, err);
    if (rv != 0) {
        if (rv == TR_ENOMEM) {
            c->oom = true;
        } else {
            conv__reject(c, 0, "target_info not written: %s", err);
        }
        return;
    }
    const int64_t step_ns = (int64_t)TR_OTLP_PROM_INFO_INTERVAL_MS * 1000000;
    int64_t lo = (int64_t)earliest, hi = (int64_t)latest;
    int64_t hi_ms = hi / 1000000;
    /* the samples before hi at lo + k * step; at most MAX - 1 of them */
    if (hi > lo && (hi - lo) / step_ns >= TR_OTLP_PROM_MAX_INFO_SAMPLES - 1) {
        int64_t k = (hi - lo) / step_ns - (TR_OTLP_PROM_MAX_INFO_SAMPLES - 2);
        lo += k * step_ns;
    }
    size_t cap = TR_OTLP_PROM_MAX_INFO_SAMPLES + 1;
    struct tr_prw_sample *sm = tr_arena_alloc(c->a, cap * sizeof(*sm));
    struct tr_prw_series *s =
        conv__series(c, base, n_base, ri, tr_slice_cstr("target_info"), NULL,
                     (struct tr_slice){"", 0}, 0, 1);
    if (s == NULL || sm == NULL) {
        c->oom = true;
        return;
    }
    size_t n = 0;
    for (int64_t t = lo; t < hi && n < cap - 1; t += step_ns) {
        sm[n].ts_ms = t / 1000000;
        sm[n++].value = 1;
    }
    if (n == 0 || sm[n - 1].ts_ms < hi_ms) {
        sm[n].ts_ms = hi_ms;
        sm[n++].value = 1;
    }
    s->samples = sm;
    s->n_samples = n;
}

int tr_otlp_prom_convert(const struct tr_otlp_metrics *m,
                         struct tr_arena *a,
                         struct tr_prw_request *out,
                         struct tr_otlp_prom_stats *st)
{
    memset(out, 0, sizeof(*out));
    memset(st, 0, sizeof(*st));
    out->version = 1;
    struct conv c;
    memset(&c, 0, sizeof(c));
    c.a = a;
    c.out = out;
    c.st = st;
    tr_buf_init(&c.tmp);
    for (size_t r = 0; r < m->n_resources && !c.oom; r++) {
        const struct tr_otlp_resource_group *rg = &m->resources[r];
        struct res_info ri;
        conv__res_info(&c, &rg->resource, &ri);
        uint64_t earliest = UINT64_MAX, latest = 0;
        for (size_t s = 0; s < rg->n_scopes && !c.oom; s++) {
            const struct tr_otlp_scope_group *sg = &rg->scopes[s];
            const struct tr_otlp_metric *ms = sg->items;
            for (size_t i = 0; i < sg->n_items && !c.oom; i++) {
                const struct tr_otlp_metric *mt = &ms[i];
                for (size_t p = 0; p < mt->n_points; p++) {
                    uint64_t t = conv__point(mt, p)->time_unix_nano;
                    earliest = t < earliest ? t : earliest;
                    latest = t > latest ? t : latest;
                }
                st->points += mt->n_points;
                conv__metric(&c, mt, &ri);
            }
        }
        if (!c.oom && earliest != UINT64_MAX) {
            conv__target_info(&c, &rg->resource, &ri, earliest, latest);
        }
    }
    tr_buf_free(&c.tmp);
    if (c.oom) {
        memset(out, 0, sizeof(*out));
        return TR_ENOMEM;
    }
    if (st->n_errors > 3) {
        size_t len = strlen(st->errmsg);
        snprintf(st->errmsg + len, sizeof(st->errmsg) - len, " (and %u more)",
                 st->n_errors - 3);
    }
    return 0;
}
