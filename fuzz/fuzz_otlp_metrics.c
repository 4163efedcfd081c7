/* fuzz_otlp_metrics.c - libFuzzer driver for the OTLP metrics protobuf
 * decoder (proto/otlp_metrics.c over proto/otlp_groups.c).
 *
 * The input is decoded as a protobuf ExportMetricsServiceRequest: every string,
 * bytes and id slice lies inside the input, exemplar ids are empty or of
 * their length, metric and point counts add up, histogram arrays are
 * bounded by the input (8 bytes per packed element at least), and a
 * failure leaves an empty result and a message. The same bytes are then
 * decoded as OTLP/JSON with the same count checks. A request that decodes
 * is also mapped to Prometheus series (proto/otlp_prom.c): every series
 * has a metric name and a sample, and no more points are rejected than
 * were sent. Seeds:
 * fuzz/corpus/fuzz_otlp_metrics/ (a request with one metric of each data
 * type, as tests/unit/proto/test_otlp_metrics.c builds it). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_otlp.h"
#include "lib/alloc.h"
#include "lib/err.h"
#include "proto/otlp_metrics.h"
#include "proto/otlp_prom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void common_ok(const struct tr_otlp_point_common *c,
                      const uint8_t *data,
                      size_t size)
{
    kvs_inside(c->attrs, c->n_attrs, data, size);
    for (size_t e = 0; e < c->n_exemplars; e++) {
        const struct tr_otlp_exemplar *x = &c->exemplars[e];
        check(x->span_id.len == 0 || x->span_id.len == 8);
        check(x->trace_id.len == 0 || x->trace_id.len == 16);
        inside(x->span_id, data, size);
        inside(x->trace_id, data, size);
        kvs_inside(x->attrs, x->n_attrs, data, size);
    }
}

static size_t metric_ok(const struct tr_otlp_metric *m,
                        const uint8_t *data,
                        size_t size)
{
    inside(m->name, data, size);
    inside(m->description, data, size);
    inside(m->unit, data, size);
    kvs_inside(m->metadata, m->n_metadata, data, size);
    check(m->type <= TR_OTLP_METRIC_SUMMARY);
    check(m->n_points == 0 || m->type != TR_OTLP_METRIC_NONE);
    for (size_t p = 0; p < m->n_points; p++) {
        switch (m->type) {
            case TR_OTLP_METRIC_GAUGE:
            case TR_OTLP_METRIC_SUM:
                common_ok(&m->numbers[p].c, data, size);
                break;
            case TR_OTLP_METRIC_HISTOGRAM:
                common_ok(&m->histograms[p].c, data, size);
                check(m->histograms[p].n_bucket_counts * 8 <= size);
                check(m->histograms[p].n_bounds * 8 <= size);
                break;
            case TR_OTLP_METRIC_EXP_HISTOGRAM:
                common_ok(&m->exp_histograms[p].c, data, size);
                check(m->exp_histograms[p].positive.n_counts <= size);
                check(m->exp_histograms[p].negative.n_counts <= size);
                break;
            default:
                common_ok(&m->summaries[p].c, data, size);
                check(m->summaries[p].n_quantiles * 2 <= size);
                break;
        }
    }
    return m->n_points;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int json = 0; json <= 1; json++) {
        struct tr_arena a;
        tr_arena_init(&a, 4096);
        struct tr_otlp_metrics m;
        char err[TR_ERRMSG_SIZE] = "";
        int rv = json ? tr_otlp_metrics_decode_json(data, size, &a, &m, err)
                      : tr_otlp_metrics_decode(data, size, &a, &m, err);
        if (rv == 0) {
            size_t metrics = 0, points = 0;
            for (size_t r = 0; r < m.n_resources; r++) {
                const struct tr_otlp_resource_group *rg = &m.resources[r];
                if (!json) {
                    kvs_inside(rg->resource.attrs, rg->resource.n_attrs, data,
                               size);
                }
                for (size_t s = 0; s < rg->n_scopes; s++) {
                    const struct tr_otlp_scope_group *sg = &rg->scopes[s];
                    const struct tr_otlp_metric *ms = sg->items;
                    for (size_t i = 0; i < sg->n_items; i++) {
                        points += json ? ms[i].n_points
                                       : metric_ok(&ms[i], data, size);
                    }
                    metrics += sg->n_items;
                }
            }
            check(metrics == m.n_metrics && points == m.n_points);
            check(m.body_len == size);
            struct tr_prw_request pr;
            struct tr_otlp_prom_stats st;
            if (tr_otlp_prom_convert(&m, &a, &pr, &st) == 0) {
                check(st.points == m.n_points);
                check(st.rejected_points <= st.points);
                for (size_t i = 0; i < pr.n_series; i++) {
                    const struct tr_prw_series *ps = &pr.series[i];
                    check(ps->n_samples >= 1 && ps->n_labels >= 1);
                    check(tr_slice_eq_cstr(ps->labels[ps->n_labels - 1].name,
                                           "__name__"));
                }
            }
        } else {
            check(rv == (json ? TR_EINVAL : TR_EPROTO) || rv == TR_ENOMEM);
            check(m.n_resources == 0 && m.n_metrics == 0 && err[0] != '\0');
        }
        tr_arena_free(&a);
    }
    return 0;
}
