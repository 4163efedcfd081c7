/* mem_log_source.c - in-memory tr_log_source for tests (see the header). */
#include "tests/lib/mem_log_source.h"

#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

struct mline {
    int64_t ts;
    struct tr_slice line;  /* in the source's arena */
    struct tr_label *meta; /* in the source's arena */
    size_t n_meta;
};

struct mstream {
    char *tenant;            /* arena */
    struct tr_label *labels; /* sorted, arena */
    size_t n_labels;
    struct mline *lines; /* heap, sorted by ts (stable) */
    size_t n, cap;
};

struct tr_mem_log {
    struct tr_arena a;
    struct mstream *s; /* heap */
    size_t n, cap;
    struct tr_mem_log_counters c;
};

struct tr_mem_log *tr_mem_log_new(void)
{
    struct tr_mem_log *m = tr_calloc(1, sizeof(*m));
    if (m) {
        tr_arena_init(&m->a, 64 * 1024);
    }
    return m;
}

void tr_mem_log_clear(struct tr_mem_log *m)
{
    for (size_t i = 0; i < m->n; i++) {
        tr_free(m->s[i].lines);
    }
    tr_free(m->s);
    m->s = NULL;
    m->n = m->cap = 0;
    tr_arena_free(&m->a);
    tr_arena_init(&m->a, 64 * 1024);
    memset(&m->c, 0, sizeof(m->c));
}

void tr_mem_log_free(struct tr_mem_log *m)
{
    if (!m) {
        return;
    }
    tr_mem_log_clear(m);
    tr_arena_free(&m->a);
    tr_free(m);
}

const struct tr_mem_log_counters *tr_mem_log_counters(
    const struct tr_mem_log *m)
{
    return &m->c;
}

void tr_mem_log_reset_counters(struct tr_mem_log *m)
{
    memset(&m->c, 0, sizeof(m->c));
}

static struct tr_label *dup_labels(struct tr_arena *a,
                                   const struct tr_label *ls,
                                   size_t n)
{
    struct tr_label *o = tr_arena_alloc(a, (n + 1) * sizeof(*o));
    if (!o) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        char *nm = tr_arena_strndup(a, ls[i].name.base, ls[i].name.len);
        char *v = tr_arena_alloc(a, ls[i].value.len + 1);
        if (!nm || !v) {
            return NULL;
        }
        memcpy(v, ls[i].value.base, ls[i].value.len);
        v[ls[i].value.len] = '\0';
        o[i].name = (struct tr_slice){nm, ls[i].name.len};
        o[i].value = (struct tr_slice){v, ls[i].value.len};
    }
    return o;
}

int tr_mem_log_push(struct tr_mem_log *m,
                    const char *tenant,
                    const struct tr_label *labels,
                    size_t n_labels,
                    int64_t ts,
                    const char *line,
                    size_t len,
                    const struct tr_label *meta,
                    size_t n_meta)
{
    struct tr_label *sorted = dup_labels(&m->a, labels, n_labels);
    if (!sorted) {
        return TR_ENOMEM;
    }
    size_t k = 0; /* an empty stream label is dropped on write (Loki) */
    for (size_t i = 0; i < n_labels; i++) {
        if (sorted[i].value.len) {
            sorted[k++] = sorted[i];
        }
    }
    n_labels = k;
    tr_labels_sort(sorted, n_labels);
    struct mstream *st = NULL;
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->s[i].tenant, tenant) == 0 &&
            tr_labels_cmp(m->s[i].labels, m->s[i].n_labels, sorted, n_labels) ==
                0) {
            st = &m->s[i];
            break;
        }
    }
    if (!st) {
        if (m->n == m->cap) {
            struct mstream *s = tr_array_grow(m->s, &m->cap, sizeof(*s), 8);
            if (!s) {
                return TR_ENOMEM;
            }
            m->s = s;
        }
        st = &m->s[m->n];
        memset(st, 0, sizeof(*st));
        st->tenant = tr_arena_strndup(&m->a, tenant, strlen(tenant));
        if (!st->tenant) {
            return TR_ENOMEM;
        }
        st->labels = sorted;
        st->n_labels = n_labels;
        m->n++;
    }
    if (st->n == st->cap) {
        struct mline *l = tr_array_grow(st->lines, &st->cap, sizeof(*l), 64);
        if (!l) {
            return TR_ENOMEM;
        }
        st->lines = l;
    }
    struct mline ml = {ts, {NULL, len}, NULL, n_meta};
    char *lc = tr_arena_alloc(&m->a, len + 1);
    if (!lc) {
        return TR_ENOMEM;
    }
    memcpy(lc, line, len);
    lc[len] = '\0';
    ml.line.base = lc;
    if (n_meta) {
        ml.meta = dup_labels(&m->a, meta, n_meta);
        if (!ml.meta) {
            return TR_ENOMEM;
        }
    }
    size_t j = st->n;
    while (j > 0 && st->lines[j - 1].ts > ts) {
        st->lines[j] = st->lines[j - 1];
        j--;
    }
    st->lines[j] = ml;
    st->n++;
    return 0;
}

static bool stream_matches(const struct mstream *st,
                           struct tr_slice tenant,
                           const struct tr_matcher *ms,
                           size_t n)
{
    if (strlen(st->tenant) != tenant.len ||
        memcmp(st->tenant, tenant.base, tenant.len) != 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const char *v = "";
        size_t vl = 0;
        for (size_t j = 0; j < st->n_labels; j++) {
            if (strcmp(st->labels[j].name.base, ms[i].name) == 0) {
                v = st->labels[j].value.base;
                vl = st->labels[j].value.len;
            }
        }
        if (!tr_matcher_matches(&ms[i], v, vl)) {
            return false;
        }
    }
    return true;
}

static bool line_passes(const struct mline *l, const struct tr_log_hints *h)
{
    for (size_t i = 0; i < h->n_needles; i++) {
        if (h->needles[i].len &&
            !memmem(l->line.base, l->line.len, h->needles[i].base,
                    h->needles[i].len)) {
            return false;
        }
    }
    for (size_t i = 0; i < h->n_meta; i++) {
        bool found = false;
        for (size_t j = 0; j < l->n_meta && !found; j++) {
            found = l->meta[j].name.len == h->meta[i].name.len &&
                    l->meta[j].value.len == h->meta[i].value.len &&
                    memcmp(l->meta[j].name.base, h->meta[i].name.base,
                           h->meta[i].name.len) == 0 &&
                    memcmp(l->meta[j].value.base, h->meta[i].value.base,
                           h->meta[i].value.len) == 0;
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

static int stream_cmp(const void *x, const void *y)
{
    const struct tr_log_stream *a = x, *b = y;
    return tr_labels_cmp(a->labels, a->n_labels, b->labels, b->n_labels);
}

static int mem_select(void *impl,
                      struct tr_slice tenant,
                      const struct tr_matcher *ms,
                      size_t n,
                      const struct tr_log_hints *h,
                      struct tr_log_result *out,
                      char *errmsg)
{
    struct tr_mem_log *m = impl;
    tr_log_result_init(out);
    m->c.selects++;
    m->c.last_limit = h->limit;
    if (h->n_needles > m->c.max_needles) {
        m->c.max_needles = h->n_needles;
    }
    if (h->n_meta > m->c.max_meta) {
        m->c.max_meta = h->n_meta;
    }
    size_t cap = 0;
    for (size_t si = 0; si < m->n; si++) {
        const struct mstream *st = &m->s[si];
        if (!stream_matches(st, tenant, ms, n)) {
            continue;
        }
        /* lines of the stream in [start, end) */
        size_t first = 0, last = 0;
        bool any = false;
        for (size_t i = 0; i < st->n; i++) {
            if (st->lines[i].ts >= h->start && st->lines[i].ts < h->end) {
                if (!any) {
                    first = i;
                }
                last = i + 1;
                any = true;
            }
        }
        if (!any) {
            continue;
        }
        if (h->max_streams && out->n_streams >= h->max_streams) {
            return tr_errf(TR_ELIMIT, errmsg,
                           "maximum number of streams (%zu) reached",
                           h->max_streams);
        }
        if (out->n_streams == cap) {
            size_t nc = cap ? cap * 2 : 8;
            struct tr_log_stream *s =
                tr_arena_alloc(&out->arena, nc * sizeof(*s));
            if (!s) {
                return TR_ENOMEM;
            }
            if (out->n_streams) {
                memcpy(s, out->streams, out->n_streams * sizeof(*s));
            }
            out->streams = s;
            cap = nc;
        }
        struct tr_log_stream *os = &out->streams[out->n_streams++];
        memset(os, 0, sizeof(*os));
        os->labels = st->labels;
        os->n_labels = st->n_labels;
        os->total_entries = last - first;
        for (size_t i = first; i < last; i++) {
            os->total_bytes += st->lines[i].line.len;
        }
        if (h->no_lines) {
            continue;
        }
        os->lines =
            tr_arena_alloc(&out->arena, (last - first) * sizeof(*os->lines));
        if (!os->lines) {
            return TR_ENOMEM;
        }
        for (size_t k = 0; k < last - first; k++) {
            size_t i =
                h->direction == TR_LOG_FORWARD ? first + k : last - 1 - k;
            /* backward keeps push order reversed among equal times too */
            const struct mline *l = &st->lines[i];
            m->c.lines_scanned++;
            out->stats.lines_scanned++;
            if (!line_passes(l, h)) {
                continue;
            }
            if (h->budget && !tr_select_budget_take(h->budget, l->line.len)) {
                return tr_errf(TR_ELIMIT, errmsg,
                               "the query hit the max number of bytes "
                               "(limit: %zu bytes)",
                               h->budget->max);
            }
            os->lines[os->n_lines++] =
                (struct tr_log_line){l->ts, l->line, l->meta, l->n_meta};
            m->c.lines_returned++;
            if (h->limit && os->n_lines >= h->limit) {
                break;
            }
        }
        if (os->n_lines == 0) {
            out->n_streams--;
        }
    }
    if (out->n_streams > 1) {
        qsort(out->streams, out->n_streams, sizeof(*out->streams), stream_cmp);
    }
    return 0;
}

static int add_unique(struct tr_string_list *out,
                      size_t *cap,
                      const char *s,
                      size_t n)
{
    for (size_t i = 0; i < out->n; i++) {
        if (out->items[i].len == n && memcmp(out->items[i].base, s, n) == 0) {
            return 0;
        }
    }
    if (out->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        struct tr_slice *it = tr_arena_alloc(&out->arena, nc * sizeof(*it));
        if (!it) {
            return TR_ENOMEM;
        }
        if (out->n) {
            memcpy(it, out->items, out->n * sizeof(*it));
        }
        out->items = it;
        *cap = nc;
    }
    size_t i = out->n;
    while (i > 0) {
        const struct tr_slice *p = &out->items[i - 1];
        size_t k = p->len < n ? p->len : n;
        int c = memcmp(p->base, s, k);
        if (c < 0 || (c == 0 && p->len < n)) {
            break;
        }
        out->items[i] = *p;
        i--;
    }
    out->items[i] = (struct tr_slice){(char *)s, n};
    out->n++;
    return 0;
}

static int mem_label_names(void *impl,
                           struct tr_slice tenant,
                           const struct tr_matcher *ms,
                           size_t n,
                           const struct tr_log_hints *h,
                           struct tr_string_list *out,
                           char *errmsg)
{
    struct tr_mem_log *m = impl;
    size_t cap = 0;
    (void)errmsg;
    (void)h;
    tr_arena_init(&out->arena, 4096);
    out->items = NULL;
    out->n = 0;
    out->truncated = false;
    for (size_t si = 0; si < m->n; si++) {
        const struct mstream *st = &m->s[si];
        if (!stream_matches(st, tenant, ms, n)) {
            continue;
        }
        for (size_t j = 0; j < st->n_labels; j++) {
            if (add_unique(out, &cap, st->labels[j].name.base,
                           st->labels[j].name.len)) {
                return TR_ENOMEM;
            }
        }
    }
    return 0;
}

static int mem_label_values(void *impl,
                            struct tr_slice tenant,
                            struct tr_slice name,
                            const struct tr_matcher *ms,
                            size_t n,
                            const struct tr_log_hints *h,
                            struct tr_string_list *out,
                            char *errmsg)
{
    struct tr_mem_log *m = impl;
    size_t cap = 0;
    (void)errmsg;
    (void)h;
    tr_arena_init(&out->arena, 4096);
    out->items = NULL;
    out->n = 0;
    out->truncated = false;
    for (size_t si = 0; si < m->n; si++) {
        const struct mstream *st = &m->s[si];
        if (!stream_matches(st, tenant, ms, n)) {
            continue;
        }
        for (size_t j = 0; j < st->n_labels; j++) {
            if (st->labels[j].name.len == name.len &&
                memcmp(st->labels[j].name.base, name.base, name.len) == 0 &&
                add_unique(out, &cap, st->labels[j].value.base,
                           st->labels[j].value.len)) {
                return TR_ENOMEM;
            }
        }
    }
    return 0;
}

struct tr_log_source tr_mem_log_source(struct tr_mem_log *m)
{
    struct tr_log_source s = {1, m, mem_select, mem_label_names,
                              mem_label_values};
    return s;
}
