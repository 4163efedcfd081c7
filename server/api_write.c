/* api_write.c - POST/PUT /api/v1/write: Prometheus remote-write 1.0 and 2.0.
 *
 * Decode (snappy + protobuf) -> validate and normalise every series (sorted
 * labels, names, UTF-8, limits, time bounds) -> one storage entry -> append.
 * Valid series are stored even when others are rejected; the response is
 * then 400 with the first problem and the counts, as Prometheus does. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/compress.h"
#include "lib/err.h"
#include "lib/log.h"
#include "proto/prw.h"
#include "raft/catalog.h"
#include "server/app.h"
#include "server/api_write.h"
#include "cluster/cluster.h"
#include "storage/entry.h"

struct write_ctx {
    struct tr_app *app;
    char tenant[TR_TENANT_MAX + 1];
    int64_t now_ms;
    int64_t min_ts;       /* older -> too old */
    int64_t max_ts;       /* newer -> too far in the future */
    uint64_t rejected;    /* samples rejected by validation */
    uint64_t ex_valid;    /* exemplars passed on */
    uint64_t ex_rejected; /* exemplars refused by validation */
    char first_err[TR_ERRMSG_SIZE];
    const char *first_reason; /* metric label for the rejection */
};

static void write__reject(struct write_ctx *w,
                          uint64_t n,
                          const char *reason,
                          const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));

static void write__reject(struct write_ctx *w,
                          uint64_t n,
                          const char *reason,
                          const char *fmt,
                          ...)
{
    w->rejected += n;
    tr_selfmetrics_inc(w->app->m_rejected, (double)n, w->tenant, reason);
    if (w->first_err[0] != '\0') {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->first_err, sizeof(w->first_err), fmt, ap);
    va_end(ap);
    w->first_reason = reason;
}

static bool write__label_name_ok(struct tr_slice s)
{
    if (s.len == 0) {
        return false;
    }
    for (size_t i = 0; i < s.len; i++) {
        char c = s.base[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '_' || (i > 0 && c >= '0' && c <= '9');
        if (!ok) {
            return false;
        }
    }
    return true;
}

static bool write__metric_name_ok(struct tr_slice s)
{
    if (s.len == 0) {
        return false;
    }
    for (size_t i = 0; i < s.len; i++) {
        char c = s.base[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '_' || c == ':' || (i > 0 && c >= '0' && c <= '9');
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* {a="b", c="d"} for messages, cut at ~200 bytes */
static void write__series_str(const struct tr_label *ls,
                              size_t n,
                              char *out,
                              size_t cap)
{
    size_t o = 0;
    o += (size_t)snprintf(out + o, cap - o, "{");
    for (size_t i = 0; i < n && o < cap - 1; i++) {
        int w = snprintf(out + o, cap - o, "%s%.*s=\"%.*s\"", i ? ", " : "",
                         (int)(ls[i].name.len > 64 ? 64 : ls[i].name.len),
                         ls[i].name.base,
                         (int)(ls[i].value.len > 64 ? 64 : ls[i].value.len),
                         ls[i].value.base);
        if (w < 0) {
            break;
        }
        o += (size_t)w;
        if (o > 200) {
            o = 200 < cap - 5 ? 200 : cap - 5;
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
    }
    if (o < cap - 1) {
        out[o++] = '}';
    }
    out[o < cap ? o : cap - 1] = '\0';
}

/* The series string for a message, formatted on first use only (most
 * series are never rejected). */
static const char *write__sstr(const struct tr_label *ls,
                               size_t n,
                               char *out,
                               size_t cap)
{
    if (out[0] == '\0') {
        write__series_str(ls, n, out, cap);
    }
    return out;
}

static void write__fmt_time(int64_t ms, char *buf, size_t n)
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    if (ms < -62135596800000LL || ms > 253402300799000LL ||
        gmtime_r(&sec, &tm) == NULL) {
        snprintf(buf, n, "%" PRId64 "ms", ms);
        return;
    }
    snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(((ms % 1000) + 1000) % 1000));
}

/* Validates exemplar pe into ex (labels without empty values, sorted,
 * valid unique names, UTF-8 values, at most 128 characters in all, as
 * Prometheus checks them); false (counted) when it is refused. */
static bool write__exemplar(struct write_ctx *w,
                            struct tr_arena *a,
                            const struct tr_prw_exemplar *pe,
                            struct tr_entry_exemplar *ex)
{
    memset(ex, 0, sizeof(*ex));
    struct tr_label *ls =
        tr_arena_alloc(a, (pe->n_labels ? pe->n_labels : 1) * sizeof(*ls));
    if (ls == NULL) {
        w->ex_rejected++;
        return false;
    }
    size_t n = 0, runes = 0;
    for (size_t i = 0; i < pe->n_labels; i++) {
        const struct tr_prw_label *l = &pe->labels[i];
        if (l->value.len == 0) {
            continue;
        }
        if (!write__label_name_ok(l->name) ||
            !tr_utf8_valid(l->value.base, l->value.len)) {
            w->ex_rejected++;
            return false;
        }
        for (size_t k = 0; k < l->name.len; k++) {
            runes += ((unsigned char)l->name.base[k] & 0xC0) != 0x80;
        }
        for (size_t k = 0; k < l->value.len; k++) {
            runes += ((unsigned char)l->value.base[k] & 0xC0) != 0x80;
        }
        ls[n].name = l->name;
        ls[n++].value = l->value;
    }
    tr_labels_sort(ls, n);
    for (size_t i = 1; i < n; i++) {
        if (tr_slice_eq(ls[i].name, ls[i - 1].name)) {
            w->ex_rejected++;
            return false;
        }
    }
    if (runes > 128) {
        w->ex_rejected++;
        return false;
    }
    ex->labels = ls;
    ex->n_labels = n;
    ex->ts = pe->ts_ms;
    ex->v = pe->value;
    w->ex_valid++;
    return true;
}

/* Validates and normalises one series into es (labels sorted, empty values
 * dropped, samples filtered by time). Returns false when the whole series
 * is rejected. */
static bool write__series(struct write_ctx *w,
                          struct tr_arena *a,
                          const struct tr_prw_series *ps,
                          struct tr_entry_series *es)
{
    const struct tr_limits *lim = &w->app->cfg->limits;
    char sbuf[320];
    sbuf[0] = '\0';
#define SSTR write__sstr(ls, n, sbuf, sizeof(sbuf))
    struct tr_label *ls =
        tr_arena_alloc(a, (ps->n_labels ? ps->n_labels : 1) * sizeof(*ls));
    if (ls == NULL) {
        write__reject(w, ps->n_samples, "internal", "out of memory");
        return false;
    }
    size_t n = 0;
    for (size_t i = 0; i < ps->n_labels; i++) {
        if (ps->labels[i].value.len == 0) {
            continue; /* an empty value is the same as no label */
        }
        ls[n].name = ps->labels[i].name;
        ls[n].value = ps->labels[i].value;
        n++;
    }
    tr_labels_sort(ls, n);
    if (n == 0) {
        write__reject(w, ps->n_samples, "missing_labels",
                      "series has no labels (every series needs at least a "
                      "metric name)");
        return false;
    }
    if (lim->max_label_names > 0 && n > lim->max_label_names) {
        write__reject(w, ps->n_samples, "max_label_names_per_series",
                      "series has too many labels (actual: %zu, limit: %u) "
                      "series: '%s' (limits.max-label-names)",
                      n, lim->max_label_names, SSTR);
        return false;
    }
    struct tr_slice name = {NULL, 0};
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && tr_slice_eq(ls[i].name, ls[i - 1].name)) {
            write__reject(w, ps->n_samples, "duplicate_label_names",
                          "duplicate label name \"%.*s\" in series %s",
                          (int)ls[i].name.len, ls[i].name.base, SSTR);
            return false;
        }
        if (!write__label_name_ok(ls[i].name)) {
            write__reject(w, ps->n_samples, "label_invalid",
                          "invalid label name \"%.*s\" in series %s: label "
                          "names must match [a-zA-Z_][a-zA-Z0-9_]*",
                          (int)(ls[i].name.len > 128 ? 128 : ls[i].name.len),
                          ls[i].name.base, SSTR);
            return false;
        }
        if (lim->max_label_name_len > 0 &&
            ls[i].name.len > lim->max_label_name_len) {
            write__reject(w, ps->n_samples, "label_name_too_long",
                          "label name too long (actual: %zu, limit: %u) in "
                          "series %s (limits.max-label-name-length)",
                          ls[i].name.len, lim->max_label_name_len, SSTR);
            return false;
        }
        if (lim->max_label_value_len > 0 &&
            ls[i].value.len > lim->max_label_value_len) {
            write__reject(w, ps->n_samples, "label_value_too_long",
                          "label value too long (actual: %zu, limit: %u) for "
                          "label \"%.*s\" in series %s "
                          "(limits.max-label-value-length)",
                          ls[i].value.len, lim->max_label_value_len,
                          (int)ls[i].name.len, ls[i].name.base, SSTR);
            return false;
        }
        if (!tr_utf8_valid(ls[i].value.base, ls[i].value.len)) {
            write__reject(w, ps->n_samples, "label_value_invalid_utf8",
                          "label value of \"%.*s\" is not valid UTF-8 in "
                          "series %s",
                          (int)ls[i].name.len, ls[i].name.base, SSTR);
            return false;
        }
        if (tr_slice_eq_cstr(ls[i].name, "__name__")) {
            name = ls[i].value;
        }
    }
    if (name.base == NULL) {
        write__reject(w, ps->n_samples, "missing_metric_name",
                      "series has no metric name (__name__ label): %s", SSTR);
        return false;
    }
    if (!write__metric_name_ok(name)) {
        write__reject(w, ps->n_samples, "metric_name_invalid",
                      "invalid metric name \"%.*s\": metric names must match "
                      "[a-zA-Z_:][a-zA-Z0-9_:]*",
                      (int)(name.len > 128 ? 128 : name.len), name.base);
        return false;
    }
    int64_t *ts = tr_arena_alloc(a, (ps->n_samples + 1) * sizeof(int64_t));
    double *vs = tr_arena_alloc(a, (ps->n_samples + 1) * sizeof(double));
    if (ts == NULL || vs == NULL) {
        write__reject(w, ps->n_samples, "internal", "out of memory");
        return false;
    }
    size_t m = 0;
    for (size_t i = 0; i < ps->n_samples; i++) {
        int64_t t = ps->samples[i].ts_ms;
        if (t < w->min_ts) {
            char tb[64], lb[64];
            write__fmt_time(t, tb, sizeof(tb));
            write__fmt_time(w->min_ts, lb, sizeof(lb));
            write__reject(w, 1, "too_old",
                          "sample too old: timestamp %s of series %s is before "
                          "%s, the oldest time still writable (its window "
                          "has ended and the late-write-grace has passed)",
                          tb, SSTR, lb);
            continue;
        }
        if (t > w->max_ts) {
            char tb[64];
            write__fmt_time(t, tb, sizeof(tb));
            write__reject(w, 1, "too_far_in_future",
                          "sample timestamp %s of series %s is too far in the "
                          "future (ingest.creation-grace)",
                          tb, SSTR);
            continue;
        }
        ts[m] = t;
        vs[m] = ps->samples[i].value;
        m++;
    }
    es->labels = ls;
    es->n_labels = n;
    es->ts = ts;
    es->vs = vs;
    es->n_samples = m;
    es->exemplars = NULL;
    es->n_exemplars = 0;
    if (ps->n_exemplars > 0) {
        struct tr_entry_exemplar *ex =
            tr_arena_alloc(a, ps->n_exemplars * sizeof(*ex));
        for (size_t i = 0; ex != NULL && i < ps->n_exemplars; i++) {
            if (write__exemplar(w, a, &ps->exemplars[i],
                                &ex[es->n_exemplars])) {
                es->n_exemplars++;
            }
        }
        es->exemplars = ex;
    }
    return m > 0 || es->n_exemplars > 0;
#undef SSTR
}

/* Content-Type -> 1 or 2, or 0 (unsupported). */
static int write__version(const struct tr_http_request *req, char *errmsg)
{
    const struct tr_slice *ct = tr_http_header_get(req, "Content-Type");
    if (ct == NULL || ct->len == 0) {
        return 1;
    }
    char buf[256];
    size_t n = ct->len < sizeof(buf) - 1 ? ct->len : sizeof(buf) - 1;
    for (size_t i = 0; i < n; i++) {
        char c = ct->base[i];
        buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    buf[n] = '\0';
    char *semi = strchr(buf, ';');
    char *params = semi ? semi + 1 : NULL;
    if (semi != NULL) {
        *semi = '\0';
    }
    char *end = buf + strlen(buf);
    while (end > buf && end[-1] == ' ') {
        *--end = '\0';
    }
    if (strcmp(buf, "application/x-protobuf") != 0) {
        tr_errf(TR_EUNSUPPORTED, errmsg,
                "unsupported Content-Type \"%.*s\": remote write takes "
                "application/x-protobuf (proto=prometheus.WriteRequest or "
                "proto=io.prometheus.write.v2.Request)",
                (int)ct->len, ct->base);
        return 0;
    }
    const char *proto = params ? strstr(params, "proto=") : NULL;
    if (proto == NULL) {
        return 1;
    }
    proto += 6;
    size_t pl = strcspn(proto, "; ");
    if (pl == strlen("prometheus.writerequest") &&
        strncmp(proto, "prometheus.writerequest", pl) == 0) {
        return 1;
    }
    if (pl == strlen("io.prometheus.write.v2.request") &&
        strncmp(proto, "io.prometheus.write.v2.request", pl) == 0) {
        return 2;
    }
    tr_errf(TR_EUNSUPPORTED, errmsg,
            "unsupported remote-write protobuf message \"%.*s\": supported are "
            "prometheus.WriteRequest and io.prometheus.write.v2.Request",
            (int)pl, proto);
    return 0;
}

/* Adds a metadata record when its metric name is valid (metadata never
 * fails a request), cutting help and unit at the configured length. */
static void write__metadata(struct tr_entry_metrics *em,
                            const struct tr_prw_metadata *pm,
                            uint32_t max)
{
    if (!write__metric_name_ok(pm->family) ||
        !tr_utf8_valid(pm->help.base, pm->help.len) ||
        !tr_utf8_valid(pm->unit.base, pm->unit.len)) {
        return;
    }
    struct tr_entry_meta *m = &em->meta[em->n_meta++];
    m->type = (uint8_t)pm->type;
    m->metric = pm->family;
    m->help = pm->help;
    m->unit = pm->unit;
    if (max > 0 && m->help.len > max) {
        m->help.len = max;
    }
    if (max > 0 && m->unit.len > max) {
        m->unit.len = max;
    }
}

static void write__fail(struct tr_http_response *resp,
                        int code,
                        const char *msg)
{
    tr_http_resp_text(resp, tr_status_for(code), msg);
}

void tr_metrics_write(struct tr_app *app,
                      const char *tenant,
                      struct tr_arena *arena,
                      const struct tr_prw_request *pr,
                      struct tr_metrics_write_result *out)
{
    memset(out, 0, sizeof(*out));
    char errmsg[TR_ERRMSG_SIZE];
    struct write_ctx w;
    memset(&w, 0, sizeof(w));
    w.app = app;
    snprintf(w.tenant, sizeof(w.tenant), "%s", tenant);
    /* time bounds */
    const struct tr_config *cfg = app->cfg;
    int64_t grace = cfg->late_write_grace_metrics_ms >= 0
                        ? cfg->late_write_grace_metrics_ms
                        : cfg->late_write_grace_ms;
    w.now_ms = tr_now_ms();
    int64_t wl = cfg->placement_window_ms;
    int64_t oldest_window_end = w.now_ms - grace;
    /* a sample is writable while its window's end + grace is in the future:
     * ts >= start of the window containing (now - grace) */
    w.min_ts = grace >= INT64_MAX / 4 ? INT64_MIN
                                      : tr_window_floor(oldest_window_end, wl);
    w.max_ts = cfg->creation_grace_ms >= INT64_MAX / 4
                   ? INT64_MAX
                   : w.now_ms + cfg->creation_grace_ms;

    struct tr_entry_metrics em;
    memset(&em, 0, sizeof(em));
    em.tenant = tr_slice_cstr(w.tenant);
    em.series = tr_arena_alloc(arena, (pr->n_series + 1) * sizeof(*em.series));
    size_t n_meta_max = pr->n_metadata + pr->n_series + 1;
    em.meta = tr_arena_alloc(arena, n_meta_max * sizeof(*em.meta));
    if (em.series == NULL || em.meta == NULL) {
        out->status = 500;
        out->code = TR_ENOMEM;
        snprintf(out->msg, sizeof(out->msg), "out of memory");
        return;
    }
    uint64_t n_samples = 0, n_exemplars = 0, n_hist = 0;
    for (size_t i = 0; i < pr->n_series; i++) {
        const struct tr_prw_series *ps = &pr->series[i];
        n_samples += ps->n_samples;
        n_exemplars += ps->n_exemplars;
        n_hist += ps->n_histograms;
        if ((ps->n_samples > 0 || ps->n_exemplars > 0) &&
            write__series(&w, arena, ps, &em.series[em.n_series])) {
            em.n_series++;
        }
        if (ps->has_metadata &&
            (ps->metadata.type != 0 || ps->metadata.help.len > 0 ||
             ps->metadata.unit.len > 0)) {
            write__metadata(&em, &ps->metadata, cfg->limits.max_metadata_len);
        }
    }
    for (size_t i = 0; i < pr->n_metadata; i++) {
        write__metadata(&em, &pr->metadata[i], cfg->limits.max_metadata_len);
    }
    out->samples = n_samples;
    tr_selfmetrics_inc(app->m_exemplars, (double)n_exemplars, w.tenant);
    tr_selfmetrics_inc(app->m_histograms, (double)n_hist, w.tenant);
    uint64_t valid = n_samples - w.rejected;
    /* the tenant's overrides from the catalog, else the node defaults */
    double rate = cfg->limits.ingestion_rate;
    double burst = (double)cfg->limits.ingestion_burst;
    struct tr_catalog_tenant ov;
    if (tr_cluster_tenant(app->cluster, w.tenant, &ov)) {
        rate = ov.ingestion_rate >= 0 ? ov.ingestion_rate : rate;
        burst = ov.ingestion_burst > 0 ? (double)ov.ingestion_burst : burst;
    }
    if (valid > 0 && !tr_rate_limit_take_with(app->limiters, w.tenant,
                                              (double)valid, rate, burst)) {
        snprintf(out->msg, sizeof(out->msg),
                 "ingestion rate limit (%g samples/s, burst %.0f) exceeded by "
                 "tenant %s while adding %" PRIu64
                 " samples; retry later (limits.ingestion-rate)",
                 rate, burst, w.tenant, valid);
        tr_selfmetrics_inc(app->m_rejected, (double)valid, w.tenant,
                           "rate_limited");
        out->status = 503;
        out->code = TR_EUNAVAIL;
        out->rate_limited = true;
        out->retry_after = true;
        out->rejected = n_samples;
        return;
    }
    struct tr_apply_result res;
    memset(&res, 0, sizeof(res));
    if (em.n_series > 0 || em.n_meta > 0) {
        int rv = tr_cluster_write_metrics(app->cluster, &em, &res, errmsg);
        if (rv != 0) {
            tr_log_warn("metrics write: not committed", "tenant=%s err=\"%s\"",
                        w.tenant, errmsg);
            snprintf(out->msg, sizeof(out->msg),
                     "write not committed, retry: %s", errmsg);
            out->retry_after = rv == TR_EBUSY;
            out->status = rv == TR_ENOMEM ? 500 : 503;
            out->code = rv == TR_ENOMEM ? TR_ENOMEM : TR_EUNAVAIL;
            out->rejected = n_samples;
            return;
        }
    }
    uint64_t written = res.appended + res.duplicate;
    out->written = written;
    out->exemplars = w.ex_valid;
    out->exemplars_rejected = w.ex_rejected;
    tr_selfmetrics_inc(app->m_samples, (double)res.appended, w.tenant);
    tr_selfmetrics_inc(app->m_series, (double)res.created, w.tenant);
    tr_selfmetrics_inc(app->m_metadata, (double)res.metadata, w.tenant);
    if (res.rejected > 0) {
        const char *reason = res.first_error == TR_EDUP ? "duplicate_timestamp"
                             : res.first_error == TR_ETOOOLD ? "out_of_order"
                             : res.first_error == TR_ELIMIT  ? "series_limit"
                                                             : "internal";
        tr_selfmetrics_inc(app->m_rejected, (double)res.rejected, w.tenant,
                           reason);
    }
    uint64_t bad = w.rejected + res.rejected;
    out->rejected = bad;
    if (bad > 0) {
        const char *first = w.first_err[0] ? w.first_err : res.errmsg;
        int code = w.first_err[0] ? TR_EINVAL : res.first_error;
        snprintf(out->msg, sizeof(out->msg),
                 "%s (%" PRIu64 " of %" PRIu64 " samples rejected, %" PRIu64
                 " written)",
                 first, bad, n_samples, written);
        out->code = code == TR_ENOMEM ? TR_ENOMEM : TR_EINVAL;
        out->status = code == TR_ENOMEM ? 500 : 400;
        return;
    }
    out->status = 204;
}

void tr_api_write(const struct tr_http_request *req,
                  struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    char errmsg[TR_ERRMSG_SIZE];
    char tenant[TR_TENANT_MAX + 1];
    int rv = tr_app_tenant(app, req, tenant, errmsg);
    if (rv != 0) {
        write__fail(resp, rv, errmsg);
        return;
    }
    int version = write__version(req, errmsg);
    if (version == 0) {
        write__fail(resp, TR_EUNSUPPORTED, errmsg);
        return;
    }
    /* the body is snappy-compressed protobuf; the HTTP layer already removed
     * a declared Content-Encoding (snappy/gzip/deflate) */
    const char *pb = req->body;
    size_t pbl = req->body_len;
    struct tr_buf dec;
    tr_buf_init(&dec);
    const struct tr_slice *ce = tr_http_header_get(req, "Content-Encoding");
    bool already =
        req->body_decoded && ce != NULL && tr_slice_eq_nocase(*ce, "snappy");
    if (!already) {
        rv = tr_snappy_decode(req->body, req->body_len,
                              app->cfg->max_body_bytes, &dec, errmsg);
        if (rv != 0) {
            char m[TR_ERRMSG_SIZE + 64];
            snprintf(m, sizeof(m), "remote write body: %s", errmsg);
            write__fail(resp, rv == TR_ETOOLARGE ? TR_ETOOLARGE : TR_EPROTO, m);
            tr_buf_free(&dec);
            return;
        }
        pb = dec.data;
        pbl = dec.len;
    }
    struct tr_prw_request pr;
    rv = version == 1 ? tr_prw_decode_v1(pb, pbl, req->arena, &pr, errmsg)
                      : tr_prw_decode_v2(pb, pbl, req->arena, &pr, errmsg);
    if (rv != 0) {
        char m[TR_ERRMSG_SIZE + 64];
        snprintf(m, sizeof(m), "decode remote write %s request: %s",
                 version == 1 ? "1.0" : "2.0", errmsg);
        write__fail(resp, rv == TR_ENOMEM ? TR_ENOMEM : TR_EPROTO, m);
        tr_buf_free(&dec);
        return;
    }
    struct tr_metrics_write_result r;
    tr_metrics_write(app, tenant, req->arena, &pr, &r);
    tr_buf_free(&dec);
    if (r.retry_after) {
        tr_http_resp_header(resp, "Retry-After", "1");
    }
    if (r.status == 503 || r.status == 500) {
        write__fail(resp, r.code, r.msg);
        return;
    }
    tr_http_resp_header(resp, "X-Prometheus-Remote-Write-Samples-Written",
                        "%" PRIu64, r.written);
    tr_http_resp_header(resp, "X-Prometheus-Remote-Write-Histograms-Written",
                        "0");
    tr_http_resp_header(resp, "X-Prometheus-Remote-Write-Exemplars-Written",
                        "%" PRIu64, r.exemplars);
    if (r.status == 400) {
        write__fail(resp, r.code, r.msg);
        return;
    }
    resp->status = 204;
}
