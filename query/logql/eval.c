/* eval.c - LogQL evaluator: the shared context (deadline, bytes budget,
 * selects), helpers, and log queries (tr_logql_select_logs). Metric
 * queries are in eval_metric.c and eval_vector.c. */
#include "query/logql/eval.h"

#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "query/logql/eval_int.h"
#include "query/promql/eval.h"

#define DEFAULT_LIMIT 100
#define FIRST_SLICE_NS (60LL * 1000000000LL)

bool tr_logql_is_metric(const struct tr_logql_expr *expr)
{
    return expr && expr->kind != TR_LOGQL_EXPR_LOG;
}

int tr_logql_check_instant(const struct tr_logql_expr *expr, char *errmsg)
{
    if (!tr_logql_is_metric(expr)) {
        return tr_errf(TR_EINVAL, errmsg,
                       "log queries are not supported as an instant query "
                       "type, please change your query to a range query "
                       "type");
    }
    return 0;
}

int tr_logql_ctx_check(struct tr_logql_ctx *c)
{
    if (c->deadline && tr_mono_ns() > c->deadline) {
        return tr_errf(TR_ETIMEOUT, c->errmsg,
                       "context deadline exceeded: query timed out");
    }
    return 0;
}

void tr_logql_sort(void *base,
                   size_t n,
                   size_t size,
                   int (*cmp)(const void *, const void *))
{
    if (n > 1) {
        qsort(base, n, size, cmp);
    }
}

struct tr_label *tr_logql_labels_dup(struct tr_arena *a,
                                     const struct tr_label *ls,
                                     size_t n)
{
    if (n == 0) {
        return NULL;
    }
    struct tr_label *o = tr_arena_alloc(a, n * sizeof(*o));
    if (!o) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        o[i].name.base = tr_arena_memdup(a, ls[i].name.base, ls[i].name.len);
        o[i].name.len = ls[i].name.len;
        o[i].value.base = tr_arena_memdup(a, ls[i].value.base, ls[i].value.len);
        o[i].value.len = ls[i].value.len;
        if ((!o[i].name.base && ls[i].name.len) ||
            (!o[i].value.base && ls[i].value.len)) {
            return NULL;
        }
    }
    return o;
}

int tr_logql_pipeline_err(const struct tr_label *ls, size_t n, char *errmsg)
{
    struct tr_buf b;
    const char *err = "";
    size_t err_len = 0;
    tr_buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        if (ls[i].name.len == 9 &&
            memcmp(ls[i].name.base, "__error__", 9) == 0) {
            err = ls[i].value.base;
            err_len = ls[i].value.len;
        }
    }
    tr_pq_labels_format(ls, n, &b);
    tr_errf(TR_EEXEC, errmsg,
            "pipeline error: '%.*s' for series: '%.*s'.\nUse a label filter "
            "to intercept this error.\n(e.g `| __error__=\"\"`)\nSee "
            "https://grafana.com/docs/loki/latest/query/#pipeline-errors",
            (int)err_len, err, b.oom ? 0 : (int)b.len, b.data ? b.data : "");
    tr_buf_free(&b);
    return TR_EEXEC;
}

int tr_logql_ctx_select(struct tr_logql_ctx *c,
                        const struct tr_logql_log *log,
                        const struct tr_logql_pushdown *pd,
                        int64_t start,
                        int64_t end,
                        enum tr_log_direction dir,
                        size_t limit,
                        struct tr_log_result *res)
{
    struct tr_log_hints h = {0};
    h.start = start;
    h.end = end;
    h.direction = dir;
    h.limit = limit;
    h.needles = pd->needles;
    h.n_needles = pd->n_needles;
    h.meta = pd->meta;
    h.n_meta = pd->n_meta;
    h.budget = c->budget;
    int rc = tr_logql_ctx_check(c);
    if (rc) {
        tr_log_result_init(res);
        return rc;
    }
    struct tr_label meta[8];
    if (pd->n_meta > 0) {
        /* A metadata equality may be pushed down only when no selected
         * stream carries that name as a stream label (the pipeline reads
         * the stream's value then): ask for the streams first. */
        struct tr_log_hints sh = h;
        sh.no_lines = true;
        sh.n_needles = 0;
        sh.n_meta = 0;
        sh.budget = NULL;
        rc = c->src->select(c->src->impl, c->tenant, log->matchers,
                            log->n_matchers, &sh, res, c->errmsg);
        if (rc) {
            return rc;
        }
        h.n_meta = 0;
        h.meta = meta;
        for (size_t m = 0; m < pd->n_meta && h.n_meta < 8; m++) {
            bool stream = false;
            for (size_t s = 0; s < res->n_streams && !stream; s++) {
                const struct tr_log_stream *st = &res->streams[s];
                for (size_t i = 0; i < st->n_labels && !stream; i++) {
                    stream =
                        st->labels[i].value.len &&
                        st->labels[i].name.len == pd->meta[m].name.len &&
                        memcmp(st->labels[i].name.base, pd->meta[m].name.base,
                               pd->meta[m].name.len) == 0;
                }
            }
            if (!stream) {
                meta[h.n_meta++] = pd->meta[m];
            } else {
                c->meta_unpushed = true;
            }
        }
        tr_log_result_free(res);
    }
    rc = c->src->select(c->src->impl, c->tenant, log->matchers, log->n_matchers,
                        &h, res, c->errmsg);
    if (rc == 0) {
        c->stats.blocks_total += res->stats.blocks_total;
        c->stats.blocks_skipped += res->stats.blocks_skipped;
        c->stats.bytes_decompressed += res->stats.bytes_decompressed;
        c->stats.lines_scanned += res->stats.lines_scanned;
    }
    return rc;
}

/* ---- log queries -------------------------------------------------------- */

/* One kept entry while collecting (scratch arena). */
struct kept {
    int64_t ts;
    struct tr_slice line;
    struct tr_label *labels; /* final set, sorted */
    uint8_t *cats;
    size_t n_labels;
    struct tr_label *g; /* labels of the result stream: labels, or the
                           stream labels only (categorize) */
    size_t n_g;
    uint64_t seq; /* read order: ties keep it */
};

struct collect {
    struct kept *v; /* heap */
    size_t n, cap;
    struct tr_arena scratch;
    uint64_t seq;
    enum tr_log_direction dir;
    bool categorize; /* group by stream labels only */
};

static int kept_cmp_dir(const struct kept *a,
                        const struct kept *b,
                        enum tr_log_direction dir)
{
    if (a->ts != b->ts) {
        bool lt = a->ts < b->ts;
        return (dir == TR_LOG_FORWARD) == lt ? -1 : 1;
    }
    int c = tr_labels_cmp(a->g, a->n_g, b->g, b->n_g);
    if (c) {
        return c;
    }
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int kept_cmp_fwd(const void *x, const void *y)
{
    return kept_cmp_dir(x, y, TR_LOG_FORWARD);
}

static int kept_cmp_bwd(const void *x, const void *y)
{
    return kept_cmp_dir(x, y, TR_LOG_BACKWARD);
}

/* Group order: labels, then the direction order (seq after sorting). */
static int kept_cmp_group(const void *x, const void *y)
{
    const struct kept *a = x, *b = y;
    int c = tr_labels_cmp(a->g, a->n_g, b->g, b->n_g);
    if (c) {
        return c;
    }
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int split_labels(struct tr_arena *a,
                        const struct kept *k,
                        uint8_t cat,
                        struct tr_label **out,
                        size_t *n);

static int collect_result(struct tr_logql_ctx *c,
                          struct tr_logql_pipe *pipe,
                          const struct tr_log_result *res,
                          struct collect *col)
{
    for (size_t s = 0; s < res->n_streams; s++) {
        const struct tr_log_stream *st = &res->streams[s];
        int rc = tr_logql_pipe_stream(pipe, st->labels, st->n_labels);
        if (rc) {
            return rc;
        }
        for (size_t i = 0; i < st->n_lines; i++) {
            if ((i & 1023) == 1023 && (rc = tr_logql_ctx_check(c))) {
                return rc;
            }
            struct tr_logql_pipe_out o;
            rc = tr_logql_pipe_run(pipe, &st->lines[i], &o);
            if (rc < 0) {
                return rc;
            }
            if (rc == 0) {
                continue;
            }
            if (col->n == col->cap) {
                struct kept *v =
                    tr_array_grow(col->v, &col->cap, sizeof(*v), 64);
                if (!v) {
                    return TR_ENOMEM;
                }
                col->v = v;
            }
            struct kept *k = &col->v[col->n];
            k->ts = st->lines[i].ts;
            k->line.base =
                tr_arena_memdup(&col->scratch, o.line.base, o.line.len);
            k->line.len = o.line.len;
            k->labels =
                tr_logql_labels_dup(&col->scratch, o.labels, o.n_labels);
            k->cats = o.n_labels
                          ? tr_arena_memdup(&col->scratch, o.cats, o.n_labels)
                          : NULL;
            k->n_labels = o.n_labels;
            k->seq = col->seq++;
            if ((o.n_labels && (!k->labels || !k->cats)) ||
                (o.line.len && !k->line.base)) {
                return TR_ENOMEM;
            }
            k->g = k->labels;
            k->n_g = k->n_labels;
            if (col->categorize &&
                split_labels(&col->scratch, k, 0, &k->g, &k->n_g)) {
                return TR_ENOMEM;
            }
            col->n++;
        }
    }
    return 0;
}

static int split_labels(struct tr_arena *a,
                        const struct kept *k,
                        uint8_t cat,
                        struct tr_label **out,
                        size_t *n)
{
    size_t cnt = 0;
    for (size_t i = 0; i < k->n_labels; i++) {
        cnt += k->cats[i] == cat;
    }
    *out = NULL;
    *n = 0;
    if (cnt == 0) {
        return 0;
    }
    struct tr_label *o = tr_arena_alloc(a, cnt * sizeof(*o));
    if (!o) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < k->n_labels; i++) {
        if (k->cats[i] == cat) {
            o[(*n)++] = k->labels[i];
        }
    }
    /* the bytes too: k's live in the collection's scratch arena */
    *out = tr_logql_labels_dup(a, o, cnt);
    return *out != NULL ? 0 : TR_ENOMEM;
}

/* Sorts col in direction, cuts it to limit and groups it into out. */
static int build_streams(struct tr_logql_ctx *c,
                         struct collect *col,
                         size_t limit,
                         struct tr_logql_streams *out)
{
    tr_logql_sort(col->v, col->n, sizeof(*col->v),
                  col->dir == TR_LOG_FORWARD ? kept_cmp_fwd : kept_cmp_bwd);
    size_t n = col->n < limit ? col->n : limit;
    for (size_t i = 0; i < n; i++) {
        col->v[i].seq = i;
    }
    tr_logql_sort(col->v, n, sizeof(*col->v), kept_cmp_group);
    size_t n_streams = 0;
    for (size_t i = 0; i < n; i++) {
        n_streams += i == 0 || tr_labels_cmp(col->v[i - 1].g, col->v[i - 1].n_g,
                                             col->v[i].g, col->v[i].n_g) != 0;
    }
    if (c->max_series && n_streams > c->max_series) {
        return tr_errf(TR_ELIMIT, c->errmsg,
                       "maximum of series (%zu) reached for a single query",
                       c->max_series);
    }
    struct tr_arena *a = c->a;
    out->streams =
        n_streams ? tr_arena_alloc(a, n_streams * sizeof(*out->streams)) : NULL;
    struct tr_logql_entry *ents =
        n ? tr_arena_alloc(a, n * sizeof(*ents)) : NULL;
    if ((n_streams && !out->streams) || (n && !ents)) {
        return TR_ENOMEM;
    }
    out->n_streams = 0;
    out->n_entries = n;
    for (size_t i = 0; i < n; i++) {
        const struct kept *k = &col->v[i];
        bool fresh = i == 0 || tr_labels_cmp(col->v[i - 1].g, col->v[i - 1].n_g,
                                             k->g, k->n_g) != 0;
        if (fresh) {
            struct tr_logql_stream *s = &out->streams[out->n_streams++];
            memset(s, 0, sizeof(*s));
            s->labels = tr_logql_labels_dup(a, k->g, k->n_g);
            s->n_labels = k->n_g;
            if (k->n_g && !s->labels) {
                return TR_ENOMEM;
            }
            if (split_labels(a, k, 0, &s->stream_labels, &s->n_stream_labels)) {
                return TR_ENOMEM;
            }
            s->entries = &ents[i];
        }
        struct tr_logql_stream *s = &out->streams[out->n_streams - 1];
        struct tr_logql_entry *e = &ents[i];
        e->ts = k->ts;
        e->line.base = tr_arena_memdup(a, k->line.base, k->line.len);
        e->line.len = k->line.len;
        if (k->line.len && !e->line.base) {
            return TR_ENOMEM;
        }
        struct tr_label *m, *p;
        size_t nm, np;
        if (split_labels(&col->scratch, k, 1, &m, &nm) ||
            split_labels(&col->scratch, k, 2, &p, &np)) {
            return TR_ENOMEM;
        }
        e->meta = tr_logql_labels_dup(a, m, nm);
        e->n_meta = nm;
        e->parsed = tr_logql_labels_dup(a, p, np);
        e->n_parsed = np;
        if ((nm && !e->meta) || (np && !e->parsed)) {
            return TR_ENOMEM;
        }
        s->n_entries++;
    }
    return 0;
}

int tr_logql_select_logs(const struct tr_log_source *src,
                         struct tr_slice tenant,
                         const struct tr_logql_expr *expr,
                         int64_t start_ns,
                         int64_t end_ns,
                         size_t limit,
                         enum tr_log_direction direction,
                         const struct tr_logql_opts *opts,
                         struct tr_arena *a,
                         struct tr_logql_streams *out,
                         char *errmsg)
{
    struct tr_logql_opts none = {0};
    struct tr_logql_ctx c = {0};
    struct collect col = {0};
    struct tr_logql_pipe *pipe = NULL;
    struct tr_logql_pushdown pd;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!opts) {
        opts = &none;
    }
    if (!expr || expr->kind != TR_LOGQL_EXPR_LOG) {
        return tr_errf(TR_EINVAL, errmsg, "not a log query");
    }
    if (limit == 0) {
        limit = DEFAULT_LIMIT;
    }
    if (opts->max_entries && limit > opts->max_entries) {
        return tr_errf(TR_ELIMIT, errmsg,
                       "max entries limit per query exceeded, limit > "
                       "max_entries_limit (%zu > %zu)",
                       limit, opts->max_entries);
    }
    c.src = src;
    c.tenant = tenant;
    c.a = a;
    c.errmsg = errmsg;
    c.deadline = opts->deadline_mono_ns;
    c.max_series = opts->max_series;
    if (opts->max_bytes) {
        tr_select_budget_init(&c.budget_store, opts->max_bytes);
        c.budget = &c.budget_store;
    }
    tr_arena_init(&col.scratch, 64 * 1024);
    col.dir = direction;
    col.categorize = opts->categorize_labels;

    const struct tr_logql_log *log = &expr->log;
    rc = tr_logql_pipe_new(log, NULL, &pipe, errmsg);
    if (rc) {
        goto out;
    }
    rc = tr_logql_pushdown_plan(log, &col.scratch, &pd);
    if (rc) {
        goto out;
    }
    if (end_ns <= start_ns) {
        goto build;
    }
    if (!pd.filters_left) {
        struct tr_log_result res;
        rc = tr_logql_ctx_select(&c, log, &pd, start_ns, end_ns, direction,
                                 limit, &res);
        /* a metadata equality that could not be pushed down filters in
         * the pipeline: the per-stream limit is not enough then */
        bool again = rc == 0 && c.meta_unpushed;
        if (rc == 0 && !again) {
            rc = collect_result(&c, pipe, &res, &col);
        }
        tr_log_result_free(&res);
        if (rc) {
            goto out;
        }
        if (!again) {
            goto build;
        }
    }
    /* Time slices from the direction's edge, doubling, until limit lines
     * came out of the pipeline: entries of later slices all come after the
     * ones already kept in the direction. */
    int64_t w = FIRST_SLICE_NS;
    int64_t lo = start_ns, hi = end_ns;
    while (lo < hi && col.n < limit) {
        int64_t s, e;
        bool all = (uint64_t)w >= (uint64_t)hi - (uint64_t)lo;
        if (direction == TR_LOG_BACKWARD) {
            s = all ? lo : hi - w;
            e = hi;
            hi = s;
        } else {
            s = lo;
            e = all ? hi : lo + w;
            lo = e;
        }
        struct tr_log_result res;
        rc = tr_logql_ctx_select(&c, log, &pd, s, e, direction, 0, &res);
        if (rc == 0) {
            rc = collect_result(&c, pipe, &res, &col);
        }
        tr_log_result_free(&res);
        if (rc) {
            goto out;
        }
        if (w < INT64_MAX / 2) {
            w *= 2;
        }
    }
build:
    rc = build_streams(&c, &col, limit, out);
    out->stats = c.stats;
out:
    tr_logql_pipe_free(pipe);
    tr_free(col.v);
    tr_arena_free(&col.scratch);
    if (rc == TR_ENOMEM && errmsg) {
        tr_errf(rc, errmsg, "out of memory");
    }
    if (rc) {
        memset(out, 0, sizeof(*out));
    }
    return rc;
}
