/* labels_builder.c - the labels of one log entry while a LogQL pipeline
 * runs (Loki's LabelsBuilder): stream labels as the base, per-entry
 * additions by category, deletions and the error pair. See stages.h. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "query/logql/stages.h"
#include "query/logql/stages_int.h"

#define LB_ENTRY_BLOCK (64 * 1024)
#define LB_STREAM_BLOCK (4 * 1024)
#define LB_SUFFIX "_extracted"

struct lb_pair {
    struct tr_slice name;
    struct tr_slice value;
};

struct lb_list {
    struct lb_pair *v;
    size_t n;
    size_t cap;
};

struct tr_logql_lb {
    struct tr_arena stream_arena; /* stream label bytes */
    struct tr_arena entry_arena;  /* everything set during one entry */
    struct lb_list base;          /* stream labels, sorted by name */
    struct lb_list add[3];        /* per category, in insertion order */
    struct lb_list del;           /* deleted names (value unused) */
    struct lb_list extracted;     /* names parsed during this entry */
    struct tr_slice err;
    struct tr_slice err_details;
    int64_t ts;
    bool oom;
    struct tr_logql_label *out; /* tr_logql_lb_labels result (heap) */
    size_t out_cap;
    struct tr_buf scratch; /* tr_logql_lb__scratch */
    pcre2_match_data *md;  /* tr_logql_lb__match_data */
    uint32_t md_pairs;
};

static bool list_push(struct tr_logql_lb *lb,
                      struct lb_list *l,
                      struct tr_slice name,
                      struct tr_slice value)
{
    if (l->n == l->cap) {
        struct lb_pair *nv = tr_array_grow(l->v, &l->cap, sizeof(*nv), 16);
        if (!nv) {
            lb->oom = true;
            return false;
        }
        l->v = nv;
    }
    l->v[l->n].name = name;
    l->v[l->n].value = value;
    l->n++;
    return true;
}

static long list_find(const struct lb_list *l, struct tr_slice name)
{
    for (size_t i = 0; i < l->n; i++) {
        if (tr_slice_eq(l->v[i].name, name)) {
            return (long)i;
        }
    }
    return -1;
}

static void list_remove(struct lb_list *l, struct tr_slice name)
{
    size_t j = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (!tr_slice_eq(l->v[i].name, name)) {
            l->v[j++] = l->v[i];
        }
    }
    l->n = j;
}

static int pair_cmp(const void *a, const void *b)
{
    const struct lb_pair *x = a, *y = b;
    return tr_slice_cmp(x->name, y->name);
}

static const struct lb_pair *base_find(const struct tr_logql_lb *lb,
                                       struct tr_slice name)
{
    struct lb_pair key = {name, {NULL, 0}};
    if (lb->base.n == 0) {
        return NULL;
    }
    return bsearch(&key, lb->base.v, lb->base.n, sizeof(key), pair_cmp);
}

struct tr_slice tr_logql_lb_dup(struct tr_logql_lb *lb, const char *s, size_t n)
{
    char *p = tr_arena_memdup(&lb->entry_arena, s, n);
    if (!p) {
        lb->oom = true;
        return (struct tr_slice){"", 0};
    }
    return (struct tr_slice){p, n};
}

struct tr_arena *tr_logql_lb__arena(struct tr_logql_lb *lb)
{
    return &lb->entry_arena;
}

struct tr_buf *tr_logql_lb__scratch(struct tr_logql_lb *lb)
{
    tr_buf_reset(&lb->scratch);
    return &lb->scratch;
}

void *tr_logql_lb__match_data(struct tr_logql_lb *lb, uint32_t pairs)
{
    if (lb->md && lb->md_pairs >= pairs) {
        return lb->md;
    }
    pcre2_match_data *md = pcre2_match_data_create(pairs, NULL);
    if (!md) {
        lb->oom = true;
        return NULL;
    }
    if (lb->md) {
        pcre2_match_data_free(lb->md);
    }
    lb->md = md;
    lb->md_pairs = pairs;
    return md;
}

void tr_logql_lb__set_oom(struct tr_logql_lb *lb)
{
    lb->oom = true;
}

int tr_logql_lb_new(struct tr_logql_lb **out)
{
    struct tr_logql_lb *lb = tr_calloc(1, sizeof(*lb));
    if (!lb) {
        return TR_ENOMEM;
    }
    tr_arena_init(&lb->stream_arena, LB_STREAM_BLOCK);
    tr_arena_init(&lb->entry_arena, LB_ENTRY_BLOCK);
    lb->err = (struct tr_slice){"", 0};
    lb->err_details = (struct tr_slice){"", 0};
    tr_buf_init(&lb->scratch);
    *out = lb;
    return 0;
}

void tr_logql_lb_free(struct tr_logql_lb *lb)
{
    if (!lb) {
        return;
    }
    tr_arena_free(&lb->stream_arena);
    tr_arena_free(&lb->entry_arena);
    tr_free(lb->base.v);
    for (size_t i = 0; i < 3; i++) {
        tr_free(lb->add[i].v);
    }
    tr_free(lb->del.v);
    tr_free(lb->extracted.v);
    tr_free(lb->out);
    tr_buf_free(&lb->scratch);
    if (lb->md) {
        pcre2_match_data_free(lb->md);
    }
    tr_free(lb);
}

int tr_logql_lb_set_stream(struct tr_logql_lb *lb,
                           const struct tr_logql_label *labels,
                           size_t n)
{
    tr_arena_reset(&lb->stream_arena);
    lb->base.n = 0;
    tr_logql_lb_reset(lb, lb->ts);
    for (size_t i = 0; i < n; i++) {
        struct tr_slice name = labels[i].name, value = labels[i].value;
        char *nm = tr_arena_memdup(&lb->stream_arena, name.base, name.len);
        char *vl = tr_arena_memdup(&lb->stream_arena, value.base, value.len);
        if (!nm || !vl ||
            !list_push(lb, &lb->base, (struct tr_slice){nm, name.len},
                       (struct tr_slice){vl, value.len})) {
            lb->base.n = 0;
            lb->oom = false;
            return TR_ENOMEM;
        }
    }
    /* Stable dedup: keep the first of equal names. */
    for (size_t i = 1; i < lb->base.n; i++) {
        struct lb_pair x = lb->base.v[i];
        size_t j = i;
        while (j > 0 && tr_slice_cmp(lb->base.v[j - 1].name, x.name) > 0) {
            lb->base.v[j] = lb->base.v[j - 1];
            j--;
        }
        lb->base.v[j] = x;
    }
    size_t k = 0;
    for (size_t i = 0; i < lb->base.n; i++) {
        if (k > 0 && tr_slice_eq(lb->base.v[k - 1].name, lb->base.v[i].name)) {
            continue;
        }
        lb->base.v[k++] = lb->base.v[i];
    }
    lb->base.n = k;
    return 0;
}

void tr_logql_lb_reset(struct tr_logql_lb *lb, int64_t ts_ns)
{
    tr_arena_reset(&lb->entry_arena);
    for (size_t i = 0; i < 3; i++) {
        lb->add[i].n = 0;
    }
    lb->del.n = 0;
    lb->extracted.n = 0;
    lb->err = (struct tr_slice){"", 0};
    lb->err_details = (struct tr_slice){"", 0};
    lb->ts = ts_ns;
    lb->oom = false;
}

bool tr_logql_lb_base_has(const struct tr_logql_lb *lb, struct tr_slice name)
{
    const struct lb_pair *p = base_find(lb, name);
    return p && p->value.len > 0;
}

static bool has_in(const struct tr_logql_lb *lb,
                   enum tr_logql_label_cat cat,
                   struct tr_slice name)
{
    return list_find(&lb->add[cat], name) >= 0;
}

void tr_logql_lb_set(struct tr_logql_lb *lb,
                     enum tr_logql_label_cat cat,
                     struct tr_slice name,
                     struct tr_slice value)
{
    if (cat == TR_LOGQL_CAT_PARSED) {
        list_remove(&lb->add[TR_LOGQL_CAT_META], name);
        list_remove(&lb->add[TR_LOGQL_CAT_STREAM], name);
    } else if (cat == TR_LOGQL_CAT_META) {
        list_remove(&lb->add[TR_LOGQL_CAT_STREAM], name);
        if (has_in(lb, TR_LOGQL_CAT_PARSED, name)) {
            return;
        }
    } else if (has_in(lb, TR_LOGQL_CAT_META, name) ||
               has_in(lb, TR_LOGQL_CAT_PARSED, name)) {
        return;
    }
    struct tr_slice v = tr_logql_lb_dup(lb, value.base, value.len);
    long i = list_find(&lb->add[cat], name);
    if (i >= 0) {
        lb->add[cat].v[i].value = v;
        return;
    }
    struct tr_slice nm = tr_logql_lb_dup(lb, name.base, name.len);
    if (lb->oom) {
        return;
    }
    if (!list_push(lb, &lb->add[cat], nm, v)) {
        return;
    }
    if (cat == TR_LOGQL_CAT_PARSED && list_find(&lb->extracted, nm) < 0) {
        list_push(lb, &lb->extracted, nm, v);
    }
}

/* name + "_extracted" in the entry arena. */
static struct tr_slice with_suffix(struct tr_logql_lb *lb, struct tr_slice key)
{
    size_t n = key.len + sizeof(LB_SUFFIX) - 1;
    char *p = tr_arena_alloc(&lb->entry_arena, n);
    if (!p) {
        lb->oom = true;
        return (struct tr_slice){"", 0};
    }
    if (key.len) {
        memcpy(p, key.base, key.len);
    }
    memcpy(p + key.len, LB_SUFFIX, sizeof(LB_SUFFIX) - 1);
    return (struct tr_slice){p, n};
}

struct tr_slice tr_logql_lb__parsed_key(struct tr_logql_lb *lb,
                                        struct tr_slice key)
{
    if (tr_logql_lb_base_has(lb, key) || has_in(lb, TR_LOGQL_CAT_META, key)) {
        return with_suffix(lb, key);
    }
    return key;
}

bool tr_logql_lb__extracted(const struct tr_logql_lb *lb, struct tr_slice key)
{
    return list_find(&lb->extracted, key) >= 0;
}

void tr_logql_lb_set_extracted(struct tr_logql_lb *lb,
                               struct tr_slice key,
                               struct tr_slice value)
{
    key = tr_logql_lb__parsed_key(lb, key);
    if (lb->oom || tr_logql_lb__extracted(lb, key)) {
        return;
    }
    tr_logql_lb_set(lb, TR_LOGQL_CAT_PARSED, key, value);
}

void tr_logql_lb_add_meta(struct tr_logql_lb *lb,
                          struct tr_slice name,
                          struct tr_slice value)
{
    if (tr_logql_lb_base_has(lb, name)) {
        name = with_suffix(lb, name);
        if (lb->oom) {
            return;
        }
    }
    if (tr_slice_eq_cstr(name, TR_LOGQL_ERROR_LABEL)) {
        lb->err = tr_logql_lb_dup(lb, value.base, value.len);
        return;
    }
    if (tr_slice_eq_cstr(name, TR_LOGQL_ERROR_DETAILS_LABEL)) {
        lb->err_details = tr_logql_lb_dup(lb, value.base, value.len);
        return;
    }
    tr_logql_lb_set(lb, TR_LOGQL_CAT_META, name, value);
}

bool tr_logql_lb_get(const struct tr_logql_lb *lb,
                     struct tr_slice name,
                     struct tr_slice *value,
                     enum tr_logql_label_cat *cat)
{
    for (size_t c = 0; c < 3; c++) {
        long i = list_find(&lb->add[c], name);
        if (i >= 0) {
            *value = lb->add[c].v[i].value;
            if (cat) {
                *cat = (enum tr_logql_label_cat)c;
            }
            return true;
        }
    }
    *value = (struct tr_slice){"", 0};
    if (list_find(&lb->del, name) >= 0) {
        return false;
    }
    const struct lb_pair *p = base_find(lb, name);
    if (p && p->value.len > 0) {
        *value = p->value;
        if (cat) {
            *cat = TR_LOGQL_CAT_STREAM;
        }
        return true;
    }
    return false;
}

void tr_logql_lb_del(struct tr_logql_lb *lb, struct tr_slice name)
{
    for (size_t c = 0; c < 3; c++) {
        list_remove(&lb->add[c], name);
    }
    if (list_find(&lb->del, name) >= 0) {
        return;
    }
    struct tr_slice nm = tr_logql_lb_dup(lb, name.base, name.len);
    if (!lb->oom) {
        list_push(lb, &lb->del, nm, nm);
    }
}

void tr_logql_lb_set_err(struct tr_logql_lb *lb, const char *err)
{
    lb->err = tr_logql_lb_dup(lb, err, strlen(err));
}

void tr_logql_lb_set_err_details(struct tr_logql_lb *lb,
                                 const char *s,
                                 size_t n)
{
    lb->err_details = tr_logql_lb_dup(lb, s, n);
}

struct tr_slice tr_logql_lb_err(const struct tr_logql_lb *lb)
{
    return lb->err;
}

struct tr_slice tr_logql_lb_err_details(const struct tr_logql_lb *lb)
{
    return lb->err_details;
}

bool tr_logql_lb_has_err(const struct tr_logql_lb *lb)
{
    return lb->err.len > 0;
}

int64_t tr_logql_lb_ts(const struct tr_logql_lb *lb)
{
    return lb->ts;
}

bool tr_logql_lb_oom(const struct tr_logql_lb *lb)
{
    return lb->oom;
}

static bool out_push(struct tr_logql_lb *lb,
                     size_t *n,
                     struct tr_slice name,
                     struct tr_slice value,
                     uint8_t cat)
{
    if (*n == lb->out_cap) {
        struct tr_logql_label *nv =
            tr_array_grow(lb->out, &lb->out_cap, sizeof(*nv), 16);
        if (!nv) {
            lb->oom = true;
            return false;
        }
        lb->out = nv;
    }
    lb->out[*n].name = name;
    lb->out[*n].value = value;
    lb->out[*n].cat = cat;
    (*n)++;
    return true;
}

/* A label literally named __error__ (or __error_details__), e.g. a json
 * key, gives way to the builder's error of that name so that the result
 * never holds a name twice. */
static bool err_shadowed(const struct tr_logql_lb *lb, struct tr_slice name)
{
    return (lb->err.len && tr_slice_eq_cstr(name, TR_LOGQL_ERROR_LABEL)) ||
           (lb->err_details.len &&
            tr_slice_eq_cstr(name, TR_LOGQL_ERROR_DETAILS_LABEL));
}

static int label_cmp(const void *a, const void *b)
{
    const struct tr_logql_label *x = a, *y = b;
    return tr_slice_cmp(x->name, y->name);
}

void tr_logql_lb_labels(struct tr_logql_lb *lb,
                        struct tr_logql_label **out,
                        size_t *n)
{
    size_t k = 0;
    const struct lb_list *sm = &lb->add[TR_LOGQL_CAT_META];
    const struct lb_list *pa = &lb->add[TR_LOGQL_CAT_PARSED];
    bool ok = true;
    for (size_t i = 0; ok && i < lb->base.n; i++) {
        struct lb_pair p = lb->base.v[i];
        if (list_find(&lb->del, p.name) >= 0 || list_find(sm, p.name) >= 0 ||
            list_find(pa, p.name) >= 0) {
            continue;
        }
        long j = list_find(&lb->add[TR_LOGQL_CAT_STREAM], p.name);
        if (j >= 0) {
            p.value = lb->add[TR_LOGQL_CAT_STREAM].v[j].value;
        }
        ok = out_push(lb, &k, p.name, p.value, TR_LOGQL_CAT_STREAM);
    }
    for (size_t i = 0; ok && i < sm->n; i++) {
        if (list_find(pa, sm->v[i].name) < 0 &&
            !err_shadowed(lb, sm->v[i].name)) {
            ok = out_push(lb, &k, sm->v[i].name, sm->v[i].value,
                          TR_LOGQL_CAT_META);
        }
    }
    for (size_t i = 0; ok && i < pa->n; i++) {
        if (err_shadowed(lb, pa->v[i].name)) {
            continue;
        }
        ok = out_push(lb, &k, pa->v[i].name, pa->v[i].value,
                      TR_LOGQL_CAT_PARSED);
    }
    if (ok && lb->err.len) {
        ok = out_push(lb, &k, TR_SLICE_LIT(TR_LOGQL_ERROR_LABEL), lb->err,
                      TR_LOGQL_CAT_PARSED);
    }
    if (ok && lb->err_details.len) {
        ok = out_push(lb, &k, TR_SLICE_LIT(TR_LOGQL_ERROR_DETAILS_LABEL),
                      lb->err_details, TR_LOGQL_CAT_PARSED);
    }
    if (!ok) {
        *out = lb->out;
        *n = 0;
        return;
    }
    if (k > 1) {
        qsort(lb->out, k, sizeof(*lb->out), label_cmp);
    }
    *out = lb->out;
    *n = k;
}
