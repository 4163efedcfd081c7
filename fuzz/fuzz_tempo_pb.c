/* fuzz_tempo_pb.c - libFuzzer driver for the tempopb.StreamingQuerier
 * request decoders and response encoders (proto/tempo_pb.h).
 *
 * The input is decoded as a SearchRequest, a SearchTagsRequest, a
 * SearchTagValuesRequest, a QueryRangeRequest and a QueryInstantRequest:
 * 0 or TR_EPROTO only, every slice inside the
 * input, the tag count bounded by the input. Whatever decodes is written
 * back through the response encoders (the tags as tag names, scopes and
 * typed values, the query as a span name of a trace; a metrics request's
 * query as a label and prom labels, its start, end and step as samples),
 * which must succeed and write at least the metrics message. Seeds:
 * fuzz/corpus/fuzz_tempo_pb/ (requests as Grafana sends them: TraceQL
 * search, legacy tags and durations, tags v2 with a scope, tag values,
 * metrics query_range and instant). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "proto/tempo_pb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond) {
        abort();
    }
}

static void inside(struct tr_slice s, const uint8_t *data, size_t size)
{
    if (s.len == 0) {
        return;
    }
    const uint8_t *p = (const uint8_t *)s.base;
    check(p >= data && p + s.len <= data + size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_buf out;
    tr_buf_init(&out);
    char err[TR_ERRMSG_SIZE];
    struct tr_tempo_meta_metrics mm = {0};

    struct tr_tempo_search_req s;
    int rv = tr_tempo_pb_search_req(data, size, &a, &s, err);
    check(rv == 0 || rv == TR_EPROTO);
    if (rv == 0) {
        check(s.n_tags <= size / 2);
        inside(s.query, data, size);
        struct tr_slice *names =
            tr_arena_alloc(&a, (s.n_tags + 1) * sizeof(*names));
        struct tr_tempo_tag_value *vals =
            tr_arena_alloc(&a, (s.n_tags + 1) * sizeof(*vals));
        check(names != NULL && vals != NULL);
        for (size_t i = 0; i < s.n_tags; i++) {
            inside(s.tags[i].key, data, size);
            inside(s.tags[i].value, data, size);
            names[i] = s.tags[i].key;
            vals[i] =
                (struct tr_tempo_tag_value){s.tags[i].key, s.tags[i].value};
        }
        check(tr_tempo_pb_tags_resp(names, s.n_tags, &mm, &out) == 0);
        check(out.len >= 2);
        struct tr_tempo_tag_scope scope = {s.query, names, s.n_tags};
        tr_buf_reset(&out);
        check(tr_tempo_pb_tags_v2_resp(&scope, 1, &mm, &out) == 0);
        tr_buf_reset(&out);
        check(tr_tempo_pb_tag_values_resp(vals, s.n_tags, true, &mm, &out) ==
              0);
        struct tr_otlp_kv kv = {s.query,
                                {.type = TR_OTLP_STRING, .s = s.query}};
        uint8_t sid[8] = {0};
        struct tr_tempo_span sp = {
            {(const char *)sid, 8}, s.start, s.end, s.query, &kv, 1};
        struct tr_tempo_spanset set = {s.limit, &kv, 1, &sp, 1};
        struct tr_tempo_trace t;
        memset(&t, 0, sizeof(t));
        t.has_root = s.spss & 1;
        t.root_service = s.query;
        t.start = s.start;
        t.end = s.end;
        t.sets = &set;
        t.n_sets = 1;
        struct tr_tempo_search_metrics sm = {.total_jobs = s.limit};
        tr_buf_reset(&out);
        check(tr_tempo_pb_search_resp(&t, 1, &sm, &out) == 0);
        check(out.len > 2);
    }

    struct tr_tempo_tags_req t;
    rv = tr_tempo_pb_tags_req(data, size, &t, err);
    check(rv == 0 || rv == TR_EPROTO);
    if (rv == 0) {
        inside(t.scope, data, size);
        inside(t.query, data, size);
    }

    struct tr_tempo_tag_values_req v;
    rv = tr_tempo_pb_tag_values_req(data, size, &v, err);
    check(rv == 0 || rv == TR_EPROTO);
    if (rv == 0) {
        inside(v.tag_name, data, size);
        inside(v.query, data, size);
    }
    for (int instant = 0; instant < 2; instant++) {
        struct tr_tempo_metrics_req m;
        rv = tr_tempo_pb_metrics_req(data, size, instant, &m, err);
        check(rv == 0 || rv == TR_EPROTO);
        if (rv != 0) {
            continue;
        }
        inside(m.query, data, size);
        check(!instant || (m.step == 0 && m.exemplars == 0));
        struct tr_otlp_kv kv = {m.query,
                                {.type = TR_OTLP_STRING, .s = m.query}};
        double d;
        memcpy(&d, &m.step, sizeof(d)); /* any bits: NaN, infinities */
        struct tr_tempo_sample sm[2] = {{(int64_t)m.start, d},
                                        {(int64_t)m.end, (double)m.step}};
        struct tr_tempo_series se = {&kv, 1, sm, 2, m.query};
        struct tr_tempo_search_metrics mt = {.completed_jobs = 1};
        tr_buf_reset(&out);
        check(tr_tempo_pb_metrics_resp(&se, 1, instant, &mt, &out) == 0);
        check(out.len > 2);
    }
    tr_buf_free(&out);
    tr_arena_free(&a);
    return 0;
}
