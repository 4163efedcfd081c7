/* trace_fixture.c - the hand-built trace of tests/lib/trace_fixture.h. */
#include "tests/lib/trace_fixture.h"

#include <string.h>

#define MS TR_TEST_MS
#define T0 TR_TEST_T0
#define F tr_test_trace

struct tr_test_trace_fix tr_test_trace;

static struct tr_slice S(const char *s) {
    return (struct tr_slice){s, strlen(s)};
}

void tr_test_trace_init(void)
{
    memset(&F, 0, sizeof(F));
    const char *svc[] = {"frontend", "checkout", "db"};
    for (int r = 0; r < 3; r++) {
        F.res_attrs[r][0] = (struct tr_otlp_kv){
            S("service.name"), {.type = TR_OTLP_STRING, .s = S(svc[r])}};
        F.res[r] = (struct tr_otlp_resource){F.res_attrs[r], 1, 0};
        F.scopes[r] = (struct tr_batch_scope){
            .resource = (uint32_t)r,
            .scope = {.name = S("lib"), .version = S("1")}};
    }
    memset(F.tid, 0x42, 16);
    memset(F.ltid, 0x77, 16);
    const char *names[] = {"GET /",  "auth",   "POST /pay",
                           "SELECT", "UPDATE", "render"};
    int scope[] = {0, 0, 1, 2, 2, 0};
    int parent[] = {-1, 0, 0, 2, 2, 0};
    int kind[] = {2, 1, 3, 3, 3, 1};
    uint64_t dur[] = {100, 10, 50, 20, 5, 30};
    F.a_attrs[0] = (struct tr_otlp_kv){S("http.status_code"),
                                       {.type = TR_OTLP_INT, .i = 200}};
    F.db_attrs[0] = (struct tr_otlp_kv){
        S("db.system"), {.type = TR_OTLP_STRING, .s = S("postgresql")}};
    F.tags[0] = (struct tr_otlp_value){.type = TR_OTLP_STRING, .s = S("a")};
    F.tags[1] = (struct tr_otlp_value){.type = TR_OTLP_STRING, .s = S("b")};
    F.f_attrs[0] = (struct tr_otlp_kv){
        S("tags"), {.type = TR_OTLP_ARRAY, .items = F.tags, .n = 2}};
    F.ev = (struct tr_otlp_event){T0 + 5 * MS, S("retry"), NULL, 0, 0};
    F.link = (struct tr_otlp_link){.trace_id = {(const char *)F.ltid, 16},
                                   .span_id = {"\1\2\3\4\5\6\7\10", 8}};
    for (int i = 0; i < 6; i++) {
        memset(F.ids[i], 0, 8);
        F.ids[i][7] = (uint8_t)(i + 1);
        struct tr_otlp_span *s = &F.spans[i].span;
        F.spans[i].scope = (uint32_t)scope[i];
        s->trace_id = (struct tr_slice){(const char *)F.tid, 16};
        s->span_id = (struct tr_slice){(const char *)F.ids[i], 8};
        if (parent[i] >= 0) {
            s->parent_span_id =
                (struct tr_slice){(const char *)F.ids[parent[i]], 8};
        }
        s->name = S(names[i]);
        s->kind = kind[i];
        s->start_time_unix_nano = T0 + (uint64_t)i * MS;
        s->end_time_unix_nano = s->start_time_unix_nano + dur[i] * MS;
    }
    F.spans[0].span.attrs = F.a_attrs;
    F.spans[0].span.n_attrs = 1;
    F.spans[2].span.status_code = TR_OTLP_STATUS_ERROR;
    F.spans[3].span.attrs = F.db_attrs;
    F.spans[3].span.n_attrs = 1;
    F.spans[3].span.events = &F.ev;
    F.spans[3].span.n_events = 1;
    F.spans[4].span.attrs = F.db_attrs;
    F.spans[4].span.n_attrs = 1;
    F.spans[4].span.links = &F.link;
    F.spans[4].span.n_links = 1;
    F.spans[5].span.attrs = F.f_attrs;
    F.spans[5].span.n_attrs = 1;
    F.b = (struct tr_span_batch){F.res, 3, F.scopes, 3, F.spans, 6};
}
