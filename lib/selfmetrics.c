/* selfmetrics.c - the self-metrics registry (see selfmetrics.h).
 *
 * Layout: registry -> list of families (registration order) -> per family a
 * small open-addressing hash of series keyed by the label values. A series
 * stores its label values as one allocation of NUL-separated strings. */
#include "lib/selfmetrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "lib/json.h"

enum sm_type { SM_COUNTER, SM_GAUGE, SM_HISTOGRAM };

struct sm_series {
    char *values[TR_SM_MAX_LABELS]; /* label values (own allocations) */
    uint64_t hash;                  /* of the label values */
    double value;                   /* counter/gauge value; histogram sum */
    uint64_t count;                 /* histogram observation count */
    uint64_t *buckets;              /* histogram: n_buckets cumulative-free
                                       counts (per bucket, not cumulative) */
};

struct tr_sm_family {
    struct tr_selfmetrics *reg;
    struct tr_sm_family *next; /* registration order */
    enum sm_type type;
    char *name;
    char *help;
    size_t n_labels;
    char *labels[TR_SM_MAX_LABELS];
    double bounds[TR_SM_MAX_BUCKETS]; /* histogram upper bounds */
    size_t n_bounds;
    struct sm_series **table; /* open addressing, cap power of 2 */
    size_t cap;
    size_t n_series;
};

struct sm_collector {
    tr_sm_collect_fn fn;
    void *arg;
    struct sm_collector *next;
};

struct tr_selfmetrics {
    pthread_mutex_t mu;
    struct tr_sm_family *head;
    struct tr_sm_family *tail;
    struct sm_collector *collectors;
};

static const double default_buckets[] = {.005, .01, .025, .05, .1, .25,
                                         .5,   1,   2.5,  5,   10};

int tr_selfmetrics_new(struct tr_selfmetrics **out)
{
    struct tr_selfmetrics *r = tr_calloc(1, sizeof(*r));
    if (r == NULL) {
        return TR_ENOMEM;
    }
    pthread_mutex_init(&r->mu, NULL);
    *out = r;
    return 0;
}

static struct tr_selfmetrics *default_reg;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
    if (tr_selfmetrics_new(&default_reg) != 0) {
        default_reg = NULL;
    }
}

struct tr_selfmetrics *tr_selfmetrics_default(void)
{
    pthread_once(&default_once, default_init);
    return default_reg;
}

static void series_free(struct sm_series *s)
{
    for (size_t i = 0; i < TR_SM_MAX_LABELS; i++) {
        tr_free(s->values[i]);
    }
    tr_free(s->buckets);
    tr_free(s);
}

static void family_free(struct tr_sm_family *f)
{
    for (size_t i = 0; i < f->cap; i++) {
        if (f->table[i] != NULL) {
            series_free(f->table[i]);
        }
    }
    tr_free(f->table);
    for (size_t i = 0; i < f->n_labels; i++) {
        tr_free(f->labels[i]);
    }
    tr_free(f->name);
    tr_free(f->help);
    tr_free(f);
}

void tr_selfmetrics_free(struct tr_selfmetrics *r)
{
    if (r == NULL) {
        return;
    }
    struct tr_sm_family *f = r->head;
    while (f != NULL) {
        struct tr_sm_family *next = f->next;
        family_free(f);
        f = next;
    }
    struct sm_collector *c = r->collectors;
    while (c != NULL) {
        struct sm_collector *next = c->next;
        tr_free(c);
        c = next;
    }
    pthread_mutex_destroy(&r->mu);
    tr_free(r);
}

static bool valid_name(const char *s, bool colon_ok)
{
    if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9')) {
        return false;
    }
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || (colon_ok && c == ':'))) {
            return false;
        }
    }
    return true;
}

static struct tr_sm_family *family_register(struct tr_selfmetrics *r,
                                            enum sm_type type,
                                            const char *name,
                                            const char *help,
                                            size_t n_labels,
                                            const char *const *labels,
                                            const double *bounds,
                                            size_t n_bounds)
{
    if (r == NULL || !valid_name(name, true) || n_labels > TR_SM_MAX_LABELS ||
        n_bounds > TR_SM_MAX_BUCKETS) {
        return NULL;
    }
    for (size_t i = 0; i < n_labels; i++) {
        if (!valid_name(labels[i], false) ||
            (type == SM_HISTOGRAM && strcmp(labels[i], "le") == 0)) {
            return NULL;
        }
    }
    for (size_t i = 1; i < n_bounds; i++) {
        if (!(bounds[i] > bounds[i - 1])) {
            return NULL;
        }
    }
    pthread_mutex_lock(&r->mu);
    for (struct tr_sm_family *f = r->head; f != NULL; f = f->next) {
        if (strcmp(f->name, name) != 0) {
            continue;
        }
        bool same = f->type == type && f->n_labels == n_labels;
        for (size_t i = 0; same && i < n_labels; i++) {
            same = strcmp(f->labels[i], labels[i]) == 0;
        }
        pthread_mutex_unlock(&r->mu);
        return same ? f : NULL;
    }
    struct tr_sm_family *f = tr_calloc(1, sizeof(*f));
    if (f == NULL) {
        goto err_unlock;
    }
    f->reg = r;
    f->type = type;
    f->name = tr_strdup(name);
    f->help = tr_strdup(help ? help : "");
    f->n_labels = n_labels;
    bool ok = f->name != NULL && f->help != NULL;
    for (size_t i = 0; i < n_labels; i++) {
        f->labels[i] = tr_strdup(labels[i]);
        ok = ok && f->labels[i] != NULL;
    }
    if (!ok) {
        goto err_after_family;
    }
    if (n_bounds > 0) {
        memcpy(f->bounds, bounds, n_bounds * sizeof(double));
    }
    f->n_bounds = n_bounds;
    if (r->tail) {
        r->tail->next = f;
    } else {
        r->head = f;
    }
    r->tail = f;
    pthread_mutex_unlock(&r->mu);
    return f;

err_after_family:
    family_free(f);
err_unlock:
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

struct tr_sm_family *tr_selfmetrics_counter(struct tr_selfmetrics *r,
                                            const char *name,
                                            const char *help,
                                            size_t n_labels,
                                            const char *const *labels)
{
    return family_register(r, SM_COUNTER, name, help, n_labels, labels, NULL,
                           0);
}

struct tr_sm_family *tr_selfmetrics_gauge(struct tr_selfmetrics *r,
                                          const char *name,
                                          const char *help,
                                          size_t n_labels,
                                          const char *const *labels)
{
    return family_register(r, SM_GAUGE, name, help, n_labels, labels, NULL, 0);
}

struct tr_sm_family *tr_selfmetrics_histogram(struct tr_selfmetrics *r,
                                              const char *name,
                                              const char *help,
                                              size_t n_labels,
                                              const char *const *labels,
                                              const double *buckets,
                                              size_t n_buckets)
{
    if (buckets == NULL || n_buckets == 0) {
        buckets = default_buckets;
        n_buckets = sizeof(default_buckets) / sizeof(default_buckets[0]);
    }
    return family_register(r, SM_HISTOGRAM, name, help, n_labels, labels,
                           buckets, n_buckets);
}

static uint64_t values_hash(size_t n, const char *const *values)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        const char *v = values[i] ? values[i] : "";
        for (; *v; v++) {
            h = (h ^ (unsigned char)*v) * 1099511628211ULL;
        }
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h;
}

static bool series_match(const struct tr_sm_family *f,
                         const struct sm_series *s,
                         uint64_t h,
                         const char *const *values)
{
    if (s->hash != h) {
        return false;
    }
    for (size_t i = 0; i < f->n_labels; i++) {
        if (strcmp(s->values[i], values[i] ? values[i] : "") != 0) {
            return false;
        }
    }
    return true;
}

/* Caller holds the lock. Returns the series, creating it; NULL on OOM. */
static struct sm_series *series_get(struct tr_sm_family *f,
                                    const char *const *values,
                                    bool create)
{
    uint64_t h = values_hash(f->n_labels, values);
    if (f->cap > 0) {
        for (size_t i = h & (f->cap - 1);; i = (i + 1) & (f->cap - 1)) {
            struct sm_series *s = f->table[i];
            if (s == NULL) {
                break;
            }
            if (series_match(f, s, h, values)) {
                return s;
            }
        }
    }
    if (!create) {
        return NULL;
    }
    if ((f->n_series + 1) * 2 > f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 16;
        struct sm_series **nt = tr_calloc(ncap, sizeof(*nt));
        if (nt == NULL) {
            return NULL;
        }
        for (size_t i = 0; i < f->cap; i++) {
            struct sm_series *s = f->table[i];
            if (s != NULL) {
                size_t j = s->hash & (ncap - 1);
                while (nt[j] != NULL) {
                    j = (j + 1) & (ncap - 1);
                }
                nt[j] = s;
            }
        }
        tr_free(f->table);
        f->table = nt;
        f->cap = ncap;
    }
    struct sm_series *s = tr_calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->hash = h;
    for (size_t i = 0; i < f->n_labels; i++) {
        s->values[i] = tr_strdup(values[i] ? values[i] : "");
        if (s->values[i] == NULL) {
            series_free(s);
            return NULL;
        }
    }
    if (f->type == SM_HISTOGRAM) {
        s->buckets = tr_calloc(f->n_bounds, sizeof(uint64_t));
        if (s->buckets == NULL) {
            series_free(s);
            return NULL;
        }
    }
    size_t j = h & (f->cap - 1);
    while (f->table[j] != NULL) {
        j = (j + 1) & (f->cap - 1);
    }
    f->table[j] = s;
    f->n_series++;
    return s;
}

enum sm_op { OP_ADD, OP_SET, OP_OBSERVE };

static void update(struct tr_sm_family *f,
                   enum sm_op op,
                   double v,
                   const char *const *values)
{
    if (f == NULL) {
        return;
    }
    if ((op == OP_OBSERVE) != (f->type == SM_HISTOGRAM) ||
        (op == OP_SET && f->type != SM_GAUGE) ||
        (f->type == SM_COUNTER && !(v >= 0))) {
        return;
    }
    pthread_mutex_lock(&f->reg->mu);
    struct sm_series *s = series_get(f, values, true);
    if (s != NULL) {
        switch (op) {
            case OP_ADD:
                s->value += v;
                break;
            case OP_SET:
                s->value = v;
                break;
            case OP_OBSERVE:
                s->value += v;
                s->count++;
                for (size_t i = 0; i < f->n_bounds; i++) {
                    if (v <= f->bounds[i]) {
                        s->buckets[i]++;
                        break;
                    }
                }
                break;
        }
    }
    pthread_mutex_unlock(&f->reg->mu);
}

#define GATHER(f, v, op)                             \
    do {                                             \
        if ((f) == NULL) {                           \
            return;                                  \
        }                                            \
        const char *vals[TR_SM_MAX_LABELS] = {0};    \
        va_list ap;                                  \
        va_start(ap, v);                             \
        for (size_t i = 0; i < (f)->n_labels; i++) { \
            vals[i] = va_arg(ap, const char *);      \
        }                                            \
        va_end(ap);                                  \
        update((f), (op), (v), vals);                \
    } while (0)

void tr_selfmetrics_inc(struct tr_sm_family *f, double v, ...)
{
    GATHER(f, v, OP_ADD);
}

void tr_selfmetrics_set(struct tr_sm_family *f, double v, ...)
{
    GATHER(f, v, OP_SET);
}

void tr_selfmetrics_observe(struct tr_sm_family *f, double v, ...)
{
    GATHER(f, v, OP_OBSERVE);
}

void tr_selfmetrics_incv(struct tr_sm_family *f,
                         double v,
                         const char *const *values)
{
    update(f, OP_ADD, v, values);
}

void tr_selfmetrics_setv(struct tr_sm_family *f,
                         double v,
                         const char *const *values)
{
    update(f, OP_SET, v, values);
}

void tr_selfmetrics_observev(struct tr_sm_family *f,
                             double v,
                             const char *const *values)
{
    update(f, OP_OBSERVE, v, values);
}

double tr_selfmetrics_value(struct tr_sm_family *f, const char *const *values)
{
    if (f == NULL) {
        return 0;
    }
    pthread_mutex_lock(&f->reg->mu);
    struct sm_series *s = series_get(f, values, false);
    double v = 0;
    if (s != NULL) {
        v = f->type == SM_HISTOGRAM ? (double)s->count : s->value;
    }
    pthread_mutex_unlock(&f->reg->mu);
    return v;
}

int tr_selfmetrics_add_collector(struct tr_selfmetrics *r,
                                 tr_sm_collect_fn fn,
                                 void *arg)
{
    struct sm_collector *c = tr_malloc(sizeof(*c));
    if (c == NULL) {
        return TR_ENOMEM;
    }
    c->fn = fn;
    c->arg = arg;
    c->next = NULL;
    pthread_mutex_lock(&r->mu);
    struct sm_collector **pp = &r->collectors;
    while (*pp != NULL) {
        pp = &(*pp)->next;
    }
    *pp = c;
    pthread_mutex_unlock(&r->mu);
    return 0;
}

void tr_selfmetrics_remove_collector(struct tr_selfmetrics *r,
                                     tr_sm_collect_fn fn,
                                     void *arg)
{
    pthread_mutex_lock(&r->mu);
    for (struct sm_collector **pp = &r->collectors; *pp; pp = &(*pp)->next) {
        if ((*pp)->fn == fn && (*pp)->arg == arg) {
            struct sm_collector *c = *pp;
            *pp = c->next;
            tr_free(c);
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
}

void tr_selfmetrics_escape_help(struct tr_buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\') {
            tr_buf_puts(out, "\\\\");
        } else if (*s == '\n') {
            tr_buf_puts(out, "\\n");
        } else {
            tr_buf_putc(out, *s);
        }
    }
}

void tr_selfmetrics_escape_label(struct tr_buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\') {
            tr_buf_puts(out, "\\\\");
        } else if (*s == '\n') {
            tr_buf_puts(out, "\\n");
        } else if (*s == '"') {
            tr_buf_puts(out, "\\\"");
        } else {
            tr_buf_putc(out, *s);
        }
    }
}

void tr_selfmetrics_put_value(struct tr_buf *out, double v)
{
    char tmp[TR_DOUBLE_BUF];
    size_t n = tr_format_double(tmp, v);
    tr_buf_append(out, tmp, n);
}

/* name{l1="v1",...[,le="x"]} value\n */
static void put_sample(struct tr_buf *out,
                       const struct tr_sm_family *f,
                       const char *suffix,
                       const struct sm_series *s,
                       const char *le,
                       double v)
{
    tr_buf_puts(out, f->name);
    tr_buf_puts(out, suffix);
    if (f->n_labels > 0 || le != NULL) {
        tr_buf_putc(out, '{');
        for (size_t i = 0; i < f->n_labels; i++) {
            tr_buf_printf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
            tr_selfmetrics_escape_label(out, s->values[i]);
            tr_buf_putc(out, '"');
        }
        if (le != NULL) {
            tr_buf_printf(out, "%sle=\"%s\"", f->n_labels ? "," : "", le);
        }
        tr_buf_putc(out, '}');
    }
    tr_buf_putc(out, ' ');
    tr_selfmetrics_put_value(out, v);
    tr_buf_putc(out, '\n');
}

static int series_cmp(const void *a, const void *b, void *arg)
{
    const struct tr_sm_family *f = arg;
    const struct sm_series *x = *(const struct sm_series *const *)a;
    const struct sm_series *y = *(const struct sm_series *const *)b;
    for (size_t i = 0; i < f->n_labels; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c != 0) {
            return c;
        }
    }
    return 0;
}

static void render_family(struct tr_buf *out, const struct tr_sm_family *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    if (f->n_series == 0 && f->n_labels > 0) {
        return;
    }
    tr_buf_printf(out, "# HELP %s ", f->name);
    tr_selfmetrics_escape_help(out, f->help);
    tr_buf_printf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
    struct sm_series zero = {{0}, 0, 0, 0, NULL};
    uint64_t zero_buckets[TR_SM_MAX_BUCKETS] = {0};
    struct sm_series *one = &zero;
    struct sm_series **list = &one;
    size_t n = 1;
    if (f->n_series > 0) {
        list = tr_malloc(f->n_series * sizeof(*list));
        if (list == NULL) {
            out->oom = true;
            return;
        }
        n = 0;
        for (size_t i = 0; i < f->cap; i++) {
            if (f->table[i] != NULL) {
                list[n++] = f->table[i];
            }
        }
        qsort_r(list, n, sizeof(*list), series_cmp, (void *)f);
    } else {
        zero.buckets = zero_buckets; /* unlabeled family with no samples */
    }
    for (size_t k = 0; k < n; k++) {
        const struct sm_series *s = list[k];
        if (f->type != SM_HISTOGRAM) {
            put_sample(out, f, "", s, NULL, s->value);
            continue;
        }
        uint64_t cum = 0;
        for (size_t i = 0; i < f->n_bounds; i++) {
            char le[TR_DOUBLE_BUF];
            tr_format_double(le, f->bounds[i]);
            cum += s->buckets[i];
            put_sample(out, f, "_bucket", s, le, (double)cum);
        }
        put_sample(out, f, "_bucket", s, "+Inf", (double)s->count);
        put_sample(out, f, "_sum", s, NULL, s->value);
        put_sample(out, f, "_count", s, NULL, (double)s->count);
    }
    if (list != &one) {
        tr_free(list);
    }
}

int tr_selfmetrics_render(struct tr_selfmetrics *r, struct tr_buf *out)
{
    pthread_mutex_lock(&r->mu);
    for (const struct tr_sm_family *f = r->head; f != NULL; f = f->next) {
        render_family(out, f);
    }
    /* Snapshot collectors, then call them unlocked (they may be slow). */
    size_t nc = 0;
    for (struct sm_collector *c = r->collectors; c; c = c->next) {
        nc++;
    }
    struct sm_collector *snap = nc ? tr_malloc(nc * sizeof(*snap)) : NULL;
    size_t k = 0;
    if (snap != NULL) {
        for (struct sm_collector *c = r->collectors; c; c = c->next) {
            snap[k++] = *c;
        }
    }
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; i < k; i++) {
        snap[i].fn(out, snap[i].arg);
    }
    tr_free(snap);
    if (nc > 0 && snap == NULL) {
        return TR_ENOMEM;
    }
    return out->oom ? TR_ENOMEM : 0;
}
