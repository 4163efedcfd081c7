/* prom_result.c - encoding of PromQL results (see prom_result.h).
 *
 * Vectors and matrices are written straight into byte buffers: label names
 * and values are copied as they are unless they need JSON escaping (then
 * tr_json_escape writes them as Go's encoding/json does), timestamps and
 * values go through the allocation-free formatters. Results with many
 * points are cut into pieces of whole series that lib/par encodes in
 * parallel, each into its own buffer, joined in order afterwards. */
#include "server/prom_result.h"

#include <stdbool.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/par.h"

/* Points per piece below which one thread encodes everything. */
#define RESULT_PAR_MIN_POINTS 20000
/* Bytes a point takes, about: [1733400000.123,"0.016666666666666666"], */
#define RES_POINT_BYTES 36

size_t tr_prom_format_ts(char *buf, int64_t t)
{
    uint64_t u = t < 0 ? (uint64_t)0 - (uint64_t)t : (uint64_t)t;
    uint64_t frac = u % 1000, secs = u / 1000;
    size_t digits = 1;
    for (uint64_t x = secs; x >= 10; x /= 10) {
        digits++;
    }
    size_t n = (t < 0) + digits + (frac != 0 ? 4 : 0);
    char *p = buf + n;
    if (frac != 0) {
        *--p = (char)('0' + frac % 10);
        *--p = (char)('0' + frac / 10 % 10);
        *--p = (char)('0' + frac / 100);
        *--p = '.';
    }
    do {
        *--p = (char)('0' + secs % 10);
        secs /= 10;
    } while (secs != 0);
    if (t < 0) {
        *--p = '-';
    }
    return n;
}

/* Appends s as a JSON string (quoted). */
static void res__str(struct tr_buf *b, const char *s, size_t n)
{
    bool plain = true;
    for (size_t i = 0; i < n && plain; i++) {
        unsigned char c = (unsigned char)s[i];
        plain = c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
    }
    tr_buf_putc(b, '"');
    if (plain) {
        tr_buf_append(b, s, n);
    } else {
        tr_json_escape(b, s, n);
    }
    tr_buf_putc(b, '"');
}

static void res__metric(struct tr_buf *b, const struct tr_label *ls, size_t n)
{
    tr_buf_append(b, "{\"metric\":{", 11);
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            tr_buf_putc(b, ',');
        }
        res__str(b, ls[i].name.base, ls[i].name.len);
        tr_buf_putc(b, ':');
        res__str(b, ls[i].value.base, ls[i].value.len);
    }
    tr_buf_putc(b, '}');
}

/* Formatted timestamps by point index: the series of a matrix share their
 * steps, so the k-th point of one series usually has the k-th point's time
 * of the previous one. */
struct ts_cache {
    int64_t *t;
    uint8_t *len; /* 0: empty */
    char (*s)[24];
    size_t cap;
};

static void ts_cache_free(struct ts_cache *tc)
{
    tr_free(tc->t);
    tr_free(tc->len);
    tr_free(tc->s);
}

/* Appends [<ts>,"<v>"]; k is the point's index in its series. */
static void res__point(struct tr_buf *b,
                       struct ts_cache *tc,
                       size_t k,
                       int64_t t,
                       double v)
{
    if (b->cap - b->len < 32 + TR_DOUBLE_BUF + 1 &&
        tr_buf_reserve(b, 32 + TR_DOUBLE_BUF) != 0) {
        return;
    }
    char *p = b->data + b->len;
    char *start = p;
    *p++ = '[';
    if (k >= tc->cap) {
        size_t cap = tc->cap ? tc->cap * 2 : 512;
        while (cap <= k) {
            cap *= 2;
        }
        int64_t *nt = tr_realloc(tc->t, cap * sizeof(*nt));
        if (nt != NULL) {
            tc->t = nt;
        }
        uint8_t *nl = tr_realloc(tc->len, cap);
        if (nl != NULL) {
            tc->len = nl;
        }
        char(*ns)[24] = tr_realloc(tc->s, cap * sizeof(*ns));
        if (ns != NULL) {
            tc->s = ns;
        }
        if (nt == NULL || nl == NULL || ns == NULL) {
            b->oom = true;
            return;
        }
        memset(tc->len + tc->cap, 0, cap - tc->cap);
        tc->cap = cap;
    }
    if (tc->len[k] == 0 || tc->t[k] != t) {
        tc->t[k] = t;
        tc->len[k] = (uint8_t)tr_prom_format_ts(tc->s[k], t);
    }
    memcpy(p, tc->s[k], sizeof(tc->s[k]));
    p += tc->len[k];
    /* a fixed-size copy (three moves); the room reserved above covers it */
    *p++ = ',';
    *p++ = '"';
    p += tr_format_double(p, v);
    *p++ = '"';
    *p++ = ']';
    b->len += (size_t)(p - start);
    b->data[b->len] = '\0';
}

static void res__series(struct tr_buf *b,
                        struct ts_cache *tc,
                        const struct tr_pq_series *s)
{
    res__metric(b, s->labels, s->n_labels);
    tr_buf_append(b, ",\"values\":[", 11);
    for (size_t k = 0; k < s->n; k++) {
        if (k > 0) {
            tr_buf_putc(b, ',');
        }
        res__point(b, tc, k, s->pts[k].t, s->pts[k].v);
    }
    tr_buf_append(b, "]}", 2);
}

static void res__sample(struct tr_buf *b,
                        struct ts_cache *tc,
                        const struct tr_pq_sample *s)
{
    res__metric(b, s->labels, s->n_labels);
    tr_buf_append(b, ",\"value\":", 9);
    res__point(b, tc, 0, s->t, s->v);
    tr_buf_putc(b, '}');
}

/* A run of whole series (or samples) encoded into its own buffer. */
struct res_piece {
    size_t lo; /* first element */
    size_t hi; /* one past the last */
    struct tr_buf out;
};

struct res_job {
    const struct tr_pq_value *v;
    struct res_piece *pieces;
};

static void res__encode_piece(void *arg, size_t i)
{
    struct res_job *job = arg;
    struct res_piece *p = &job->pieces[i];
    struct ts_cache cache;
    memset(&cache, 0, sizeof(cache));
    struct ts_cache *tc = &cache;
    for (size_t k = p->lo; k < p->hi; k++) {
        if (k > p->lo) {
            tr_buf_putc(&p->out, ',');
        }
        if (job->v->type == TR_PROMQL_TYPE_VECTOR) {
            res__sample(&p->out, tc, &job->v->vec.s[k]);
        } else {
            res__series(&p->out, tc, &job->v->mat.s[k]);
        }
    }
    ts_cache_free(tc);
}

/* Appends the elements of a vector or matrix, comma-separated. With resp
 * (out is its body), pieces encoded apart are handed to the response as
 * front parts instead of being copied into out: the response then holds
 * the encoded elements once. */
static void res__elements(struct tr_buf *out,
                          struct tr_http_response *resp,
                          const struct tr_pq_value *v)
{
    bool vec = v->type == TR_PROMQL_TYPE_VECTOR;
    size_t n = vec ? v->vec.n : v->mat.n;
    size_t points = 0;
    for (size_t i = 0; i < n; i++) {
        points += vec ? 1 : v->mat.s[i].n;
    }
    size_t threads = tr_par_threads();
    size_t np = 1;
    if (threads > 1 && points >= 2 * RESULT_PAR_MIN_POINTS && n > 1) {
        np = threads * 4; /* a few pieces per thread evens out the load */
        if (np > n) {
            np = n;
        }
    }
    struct res_piece *pieces = np > 1 ? tr_calloc(np, sizeof(*pieces)) : NULL;
    if (pieces == NULL) {
        struct res_piece one;
        memset(&one, 0, sizeof(one));
        one.hi = n;
        one.out = *out;
        struct res_job job = {v, &one};
        res__encode_piece(&job, 0);
        *out = one.out;
        return;
    }
    /* cut at whole elements, about the same number of points each; each
     * piece's buffer sized for about what it will hold (labels as they
     * are, RES_POINT_BYTES a point): the pieces and the joined response
     * are the largest memory of a query */
    size_t per = points / np + 1, acc = 0, est = 0, k = 0;
    for (size_t i = 0; i < n && k < np; i++) {
        if (acc == 0) {
            pieces[k].lo = i;
            est = 0;
        }
        const struct tr_label *ls =
            vec ? v->vec.s[i].labels : v->mat.s[i].labels;
        size_t nl = vec ? v->vec.s[i].n_labels : v->mat.s[i].n_labels;
        est += 32;
        for (size_t l = 0; l < nl; l++) {
            est += ls[l].name.len + ls[l].value.len + 6;
        }
        acc += vec ? 1 : v->mat.s[i].n;
        if (acc >= per || i + 1 == n) {
            pieces[k].hi = i + 1;
            tr_buf_init(&pieces[k].out);
            tr_buf_reserve_exact(&pieces[k].out,
                                 est + acc * RES_POINT_BYTES + 1);
            k++;
            acc = 0;
        }
    }
    if (k > 0 && pieces[k - 1].hi < n) {
        pieces[k - 1].hi = n;
    }
    struct res_job job = {v, pieces};
    tr_par_for(k, res__encode_piece, &job);
    /* handed over: the body so far, then the pieces, each but the last
     * with its comma; what cannot be handed over (out of memory) goes into
     * the body, which is sent after them */
    size_t i0 = 0;
    bool handed = resp != NULL && out == &resp->body && !out->oom &&
                  tr_http_resp_front(resp, out) == 0;
    for (size_t i = 0; handed && i + 1 < k; i++) {
        tr_buf_putc(&pieces[i].out, ',');
    }
    while (handed && i0 < k && tr_http_resp_front(resp, &pieces[i0].out) == 0) {
        i0++;
    }
    size_t total = 0;
    for (size_t i = i0; i < k; i++) {
        total += pieces[i].out.len + 1;
        if (pieces[i].out.oom) {
            out->oom = true;
        }
    }
    tr_buf_reserve_exact(out, total);
    for (size_t i = i0; i < k; i++) {
        if (i > 0 && !handed) {
            tr_buf_putc(out, ',');
        }
        tr_buf_append(out, pieces[i].out.data, pieces[i].out.len);
        tr_buf_free(&pieces[i].out);
    }
    tr_free(pieces);
}

void tr_prom_write_result(struct tr_json *j,
                          struct tr_http_response *resp,
                          const struct tr_pq_value *v,
                          int64_t ts)
{
    tr_json_obj_begin(j);
    tr_json_key(j, "resultType");
    tr_json_str(j, tr_promql_type_name(v->type));
    tr_json_key(j, "result");
    char buf[32 + TR_DOUBLE_BUF];
    size_t n;
    switch (v->type) {
        case TR_PROMQL_TYPE_SCALAR:
            tr_json_arr_begin(j);
            n = tr_prom_format_ts(buf, ts);
            tr_json_raw(j, buf, n);
            n = tr_format_double(buf, v->scalar);
            tr_json_str_n(j, buf, n);
            tr_json_arr_end(j);
            break;
        case TR_PROMQL_TYPE_STRING:
            tr_json_arr_begin(j);
            n = tr_prom_format_ts(buf, ts);
            tr_json_raw(j, buf, n);
            tr_json_str_n(j, v->str ? v->str : "", v->str_len);
            tr_json_arr_end(j);
            break;
        default:
            /* the elements go straight into the writer's buffer */
            tr_json_arr_begin(j);
            res__elements(j->out, resp, v);
            tr_json_arr_end(j);
            break;
    }
    tr_json_obj_end(j);
}
