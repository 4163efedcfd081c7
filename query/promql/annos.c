/* annos.c - warnings and infos of an evaluation (see value.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/dtoa.h"
#include "query/promql/value.h"

static void annos__put(struct tr_pq_annos *a, bool info, size_t pos, char *msg)
{
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->v[i].msg, msg) == 0) {
            a->v[i].pos = pos; /* the last one's position, as Prometheus */
            tr_free(msg);
            return;
        }
    }
    if (a->n == TR_PQ_ANNOS_MAX) {
        if (info) {
            a->omitted_infos++;
        } else {
            a->omitted_warnings++;
        }
        tr_free(msg);
        return;
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        struct tr_pq_anno *nv = tr_realloc(a->v, cap * sizeof(*nv));
        if (nv == NULL) {
            tr_free(msg);
            return; /* annotations are best effort */
        }
        a->v = nv;
        a->cap = cap;
    }
    a->v[a->n].info = info;
    a->v[a->n].pos = pos;
    a->v[a->n++].msg = msg;
}

void tr_pq_annos_add(struct tr_pq_annos *a,
                     bool info,
                     size_t pos,
                     const char *fmt,
                     ...)
{
    if (a == NULL) {
        return;
    }
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    char *msg = tr_strdup(buf);
    if (msg != NULL) {
        annos__put(a, info, pos, msg);
    }
}

void tr_pq_annos_merge(struct tr_pq_annos *dst, struct tr_pq_annos *src)
{
    for (size_t i = 0; i < src->n; i++) {
        annos__put(dst, src->v[i].info, src->v[i].pos, src->v[i].msg);
    }
    dst->omitted_warnings += src->omitted_warnings;
    dst->omitted_infos += src->omitted_infos;
    tr_free(src->v);
    memset(src, 0, sizeof(*src));
}

void tr_pq_annos_free(struct tr_pq_annos *a)
{
    for (size_t i = 0; i < a->n; i++) {
        tr_free(a->v[i].msg);
    }
    tr_free(a->v);
    memset(a, 0, sizeof(*a));
}

void tr_pq_go_fmt_g(char *buf, size_t n, double v)
{
    if (isnan(v)) {
        snprintf(buf, n, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, n, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    char d[17];
    int e;
    int nd = tr_dtoa_shortest(v, d, &e);
    const char *sign = signbit(v) ? "-" : "";
    if (v == 0) {
        snprintf(buf, n, "%s0", sign);
        return;
    }
    if (e < -4 || e >= 6) {
        snprintf(buf, n, "%s%c%s%.*se%c%02d", sign, d[0], nd > 1 ? "." : "",
                 nd - 1, d + 1, e < 0 ? '-' : '+', e < 0 ? -e : e);
        return;
    }
    /* plain: at most 6 digits before the point, 4 zeros after it */
    char t[40];
    size_t k = 0;
    if (e < 0) {
        t[k++] = '0';
        t[k++] = '.';
        for (int i = 0; i < -e - 1; i++) {
            t[k++] = '0';
        }
        memcpy(t + k, d, (size_t)nd);
        k += (size_t)nd;
    } else {
        for (int i = 0; i <= e; i++) {
            t[k++] = i < nd ? d[i] : '0';
        }
        if (nd > e + 1) {
            t[k++] = '.';
            memcpy(t + k, d + e + 1, (size_t)(nd - e - 1));
            k += (size_t)(nd - e - 1);
        }
    }
    t[k] = '\0';
    snprintf(buf, n, "%s%s", sign, t);
}
