/* api_remote_read.c - POST /api/v1/read: Prometheus remote read (SAMPLES
 * response type): snappy-compressed prometheus.ReadRequest in, snappy-
 * compressed prometheus.ReadResponse out, raw samples bit-exact. */
#include <stdio.h>
#include <string.h>

#include "lib/compress.h"
#include "lib/err.h"
#include "proto/prometheus_remote.pb-c.h"
#include "server/app.h"

#define READ_MAX_SAMPLES 50000000u

static void *rread__alloc(void *data, size_t size)
{
    return tr_arena_alloc(data, size);
}

static void rread__free(void *data, void *p)
{
    (void)data;
    (void)p;
}

static void rread__fail(struct tr_http_response *resp,
                        int code,
                        const char *msg)
{
    tr_http_resp_text(resp, tr_status_for(code), msg);
}

void tr_api_remote_read(const struct tr_http_request *req,
                        struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    char tenant[TR_TENANT_MAX + 1];
    char err[TR_ERRMSG_SIZE];
    char msg[TR_ERRMSG_SIZE + 64];
    int rv = tr_app_tenant(app, req, tenant, err);
    if (rv != 0) {
        rread__fail(resp, rv, err);
        return;
    }
    struct tr_buf dec;
    tr_buf_init(&dec);
    const char *pb = req->body;
    size_t pbl = req->body_len;
    const struct tr_slice *ce = tr_http_header_get(req, "Content-Encoding");
    if (!(req->body_decoded && ce != NULL &&
          tr_slice_eq_nocase(*ce, "snappy"))) {
        rv = tr_snappy_decode(req->body, req->body_len,
                              app->cfg->max_body_bytes, &dec, err);
        if (rv != 0) {
            snprintf(msg, sizeof(msg), "remote read body: %s", err);
            rread__fail(resp, TR_EPROTO, msg);
            tr_buf_free(&dec);
            return;
        }
        pb = dec.data;
        pbl = dec.len;
    }
    ProtobufCAllocator pa = {rread__alloc, rread__free, req->arena};
    Prometheus__ReadRequest *rr =
        prometheus__read_request__unpack(&pa, pbl, (const uint8_t *)pb);
    tr_buf_free(&dec);
    if (rr == NULL) {
        rread__fail(resp, TR_EPROTO,
                    "remote read: cannot decode prometheus.ReadRequest");
        return;
    }
    Prometheus__ReadResponse out = PROMETHEUS__READ_RESPONSE__INIT;
    out.n_results = rr->n_queries;
    out.results =
        tr_arena_alloc(req->arena, (rr->n_queries + 1) * sizeof(*out.results));
    struct tr_select_result *sel = tr_calloc(rr->n_queries + 1, sizeof(*sel));
    if (out.results == NULL || sel == NULL) {
        tr_free(sel);
        rread__fail(resp, TR_ENOMEM, "out of memory");
        return;
    }
    size_t done = 0;
    rv = 0;
    for (; done < rr->n_queries && rv == 0; done++) {
        const Prometheus__Query *q = rr->queries[done];
        struct tr_matcher *ms =
            tr_calloc(q->n_matchers + 1, sizeof(struct tr_matcher));
        size_t nm = 0;
        if (ms == NULL) {
            rv = tr_errf(TR_ENOMEM, err, "out of memory");
            break;
        }
        for (size_t i = 0; i < q->n_matchers && rv == 0; i++) {
            const Prometheus__LabelMatcher *lm = q->matchers[i];
            enum tr_match_type t;
            switch (lm->type) {
                case PROMETHEUS__LABEL_MATCHER__TYPE__EQ:
                    t = TR_MATCH_EQ;
                    break;
                case PROMETHEUS__LABEL_MATCHER__TYPE__NEQ:
                    t = TR_MATCH_NEQ;
                    break;
                case PROMETHEUS__LABEL_MATCHER__TYPE__RE:
                    t = TR_MATCH_RE;
                    break;
                case PROMETHEUS__LABEL_MATCHER__TYPE__NRE:
                    t = TR_MATCH_NRE;
                    break;
                default:
                    rv = tr_errf(TR_EINVAL, err, "unknown matcher type %d",
                                 (int)lm->type);
                    continue;
            }
            rv = tr_matcher_init(&ms[nm], t, lm->name, lm->value,
                                 strlen(lm->value), err);
            if (rv == 0) {
                nm++;
            }
        }
        struct tr_select_hints h;
        memset(&h, 0, sizeof(h));
        h.mint = q->start_timestamp_ms;
        h.maxt = q->end_timestamp_ms;
        h.max_samples = READ_MAX_SAMPLES;
        if (rv == 0) {
            rv = app->source->select(app->source->impl, tr_slice_cstr(tenant),
                                     ms, nm, &h, &sel[done], err);
        }
        for (size_t i = 0; i < nm; i++) {
            tr_matcher_free(&ms[i]);
        }
        tr_free(ms);
        if (rv != 0) {
            break;
        }
        struct tr_select_result *r = &sel[done];
        Prometheus__QueryResult *qr = tr_arena_alloc(req->arena, sizeof(*qr));
        Prometheus__QueryResult qinit = PROMETHEUS__QUERY_RESULT__INIT;
        *qr = qinit;
        qr->n_timeseries = r->n_series;
        qr->timeseries = tr_arena_alloc(
            req->arena, (r->n_series + 1) * sizeof(*qr->timeseries));
        for (size_t i = 0; i < r->n_series; i++) {
            const struct tr_series_data *sd = &r->series[i];
            Prometheus__TimeSeries *ts =
                tr_arena_alloc(req->arena, sizeof(*ts));
            Prometheus__TimeSeries tinit = PROMETHEUS__TIME_SERIES__INIT;
            *ts = tinit;
            ts->n_labels = sd->n_labels;
            ts->labels = tr_arena_alloc(
                req->arena, (sd->n_labels + 1) * sizeof(*ts->labels));
            Prometheus__Label *lbs =
                tr_arena_alloc(req->arena, (sd->n_labels + 1) * sizeof(*lbs));
            for (size_t l = 0; l < sd->n_labels; l++) {
                Prometheus__Label linit = PROMETHEUS__LABEL__INIT;
                lbs[l] = linit;
                lbs[l].name =
                    tr_arena_strndup(req->arena, sd->labels[l].name.base,
                                     sd->labels[l].name.len);
                lbs[l].value =
                    tr_arena_strndup(req->arena, sd->labels[l].value.base,
                                     sd->labels[l].value.len);
                ts->labels[l] = &lbs[l];
            }
            ts->n_samples = sd->n_samples;
            ts->samples = tr_arena_alloc(
                req->arena, (sd->n_samples + 1) * sizeof(*ts->samples));
            Prometheus__Sample *sms =
                tr_arena_alloc(req->arena, (sd->n_samples + 1) * sizeof(*sms));
            for (size_t k = 0; k < sd->n_samples; k++) {
                Prometheus__Sample sinit = PROMETHEUS__SAMPLE__INIT;
                sms[k] = sinit;
                sms[k].timestamp = sd->samples[k].t;
                sms[k].value = sd->samples[k].v;
                ts->samples[k] = &sms[k];
            }
            qr->timeseries[i] = ts;
        }
        out.results[done] = qr;
    }
    if (rv == 0) {
        size_t sz = prometheus__read_response__get_packed_size(&out);
        uint8_t *packed = tr_arena_alloc(req->arena, sz + 1);
        if (packed == NULL) {
            rv = tr_errf(TR_ENOMEM, err, "out of memory");
        } else {
            prometheus__read_response__pack(&out, packed);
            tr_buf_reset(&resp->body);
            rv = tr_snappy_encode(packed, sz, &resp->body);
        }
    }
    for (size_t i = 0; i < rr->n_queries; i++) {
        tr_select_result_free(&sel[i]);
    }
    tr_free(sel);
    if (rv != 0) {
        snprintf(msg, sizeof(msg), "remote read: %s", err);
        tr_buf_reset(&resp->body);
        rread__fail(resp, rv == TR_ELIMIT ? TR_EINVAL : rv, msg);
        return;
    }
    resp->status = 200;
    resp->content_type = "application/x-protobuf";
    tr_http_resp_header(resp, "Content-Encoding", "snappy");
}
