/* Tests for query/traceql/eval.c: TraceQL search semantics on a
 * hand-built trace with known answers - filters on every kind of field
 * (scoped and unscoped attributes, arrays, intrinsics, events, links,
 * regexes), spanset && and ||, every structural operator with its negated
 * and union forms, pipelines with scalar filters, by() and coalesce(),
 * the pruning equalities and the span-local property. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "query/traceql/eval.h"
#include "query/traceql/traceql.h"

#define MS 1000000ULL
#define T0 1700000000000000000ULL

static struct tr_slice S(const char *s) {
    return (struct tr_slice){s, strlen(s)};
}

/*   A  GET /        frontend server  100ms  http.status_code=200
 *   |- B auth       frontend internal 10ms
 *   |- C POST /pay  checkout client    50ms  status error
 *   |  |- D SELECT  db client          20ms  db.system, event "retry"
 *   |  `- E UPDATE  db client           5ms  db.system, a link
 *   `- F render     frontend internal  30ms  tags = ["a", "b"] */
struct fix {
    struct tr_otlp_kv res_attrs[3][1];
    struct tr_otlp_resource res[3];
    struct tr_batch_scope scopes[3];
    struct tr_otlp_kv a_attrs[1], c_attrs[1], db_attrs[1], f_attrs[1];
    struct tr_otlp_value tags[2];
    struct tr_otlp_event ev;
    struct tr_otlp_link link;
    uint8_t tid[16], ltid[16], ids[6][8];
    struct tr_batch_span spans[6];
    struct tr_span_batch b;
};

static struct fix F;

static void fix_init(void)
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

TestSuite(traceql_eval, .init = fix_init);

/* The spansets of q over the trace, as "A,B|C" (span letters in order,
 * spansets separated by |); "-" when nothing matched. */
static void eval(const char *q, char *out, size_t n)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_traceql_query *query;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_traceql_parse(q, strlen(q), &a, &query, err), 0, "%s: %s",
                 q, err);
    cr_assert_eq(tr_traceql_validate(query, err), 0, "%s: %s", q, err);
    struct tr_traceql_eval *ev;
    cr_assert_eq(tr_traceql_eval_new(query, &ev, err), 0, "%s", err);
    struct tr_traceql_match m;
    cr_assert_eq(tr_traceql_eval_trace(ev, &F.b, &a, &m), 0);
    size_t o = 0;
    out[0] = '\0';
    for (size_t k = 0; k < m.n; k++) {
        if (k > 0) {
            o += (size_t)snprintf(out + o, n - o, "|");
        }
        for (size_t j = 0; j < m.sets[k].n; j++) {
            o += (size_t)snprintf(out + o, n - o, "%s%c", j ? "," : "",
                                  (char)('A' + m.sets[k].spans[j]));
        }
    }
    if (m.n == 0) {
        snprintf(out, n, "-");
    }
    tr_traceql_eval_free(ev);
    tr_arena_free(&a);
}

static void expect(const char *q, const char *want)
{
    char got[256];
    eval(q, got, sizeof(got));
    cr_expect_str_eq(got, want, "%s: got %s, want %s", q, got, want);
}

Test(traceql_eval, filters)
{
    expect("{ }", "A,B,C,D,E,F");
    expect("{ .db.system = \"postgresql\" }", "D,E");
    expect("{ span.db.system = \"postgresql\" }", "D,E");
    expect("{ resource.db.system = \"postgresql\" }", "-");
    expect("{ resource.service.name = \"db\" }", "D,E");
    expect("{ .service.name = \"checkout\" }", "C");
    expect("{ status = error }", "C");
    expect("{ status != error }", "A,B,D,E,F");
    expect("{ duration > 40ms }", "A,C");
    expect("{ duration >= 20ms && duration < 50ms }", "D,F");
    expect("{ kind = client }", "C,D,E");
    expect("{ .http.status_code = 200 }", "A");
    expect("{ .http.status_code >= 500 }", "-");
    expect("{ .http.status_code = \"200\" }", "-");
    expect("{ .http.status_code + 1 = 201 }", "A");
    expect("{ name =~ \"GET.*\" }", "A");
    expect("{ name =~ \"GET\" }", "-");
    expect("{ name !~ \".*T.*\" }", "B,F");
    expect("{ .tags = \"b\" }", "F");
    expect("{ .tags != \"c\" }", "F");
    expect("{ event:name = \"retry\" }", "D");
    expect("{ event:timeSinceStart = 2ms }", "D");
    expect("{ link:traceID = \"77777777777777777777777777777777\" }", "E");
    expect("{ .db.system != nil }", "D,E");
    expect("{ .db.system = nil }", "A,B,C,F");
    expect("{ rootServiceName = \"frontend\" && name = \"SELECT\" }", "D");
    expect("{ rootName = \"GET /\" && traceDuration > 90ms }", "A,B,C,D,E,F");
    expect("{ span:childCount = 2 }", "C");
    expect("{ nestedSetParent = -1 }", "A");
    expect(
        "{ instrumentation:name = \"lib\" && resource.service.name = "
        "\"checkout\" }",
        "C");
    expect("{ span:id = \"0000000000000004\" }", "D");
    expect("{ trace:id = \"42424242424242424242424242424242\" }",
           "A,B,C,D,E,F");
}

Test(traceql_eval, spanset_operators)
{
    expect("{ .db.system = \"postgresql\" } && { status = error }", "C,D,E");
    expect("{ .db.system = \"nope\" } && { status = error }", "-");
    expect("{ .db.system = \"nope\" } || { status = error }", "C");
}

Test(traceql_eval, structural)
{
    expect("{ name = \"POST /pay\" } > { }", "D,E");
    expect("{ name = \"GET /\" } > { }", "B,C,F");
    expect("{ name = \"GET /\" } >> { resource.service.name = \"db\" }", "D,E");
    expect("{ name = \"GET /\" } > { resource.service.name = \"db\" }", "-");
    expect("{ resource.service.name = \"db\" } < { }", "C");
    expect("{ resource.service.name = \"db\" } << { }", "A,C");
    expect("{ name = \"SELECT\" } ~ { }", "E");
    expect("{ name = \"auth\" } ~ { }", "C,F");
    expect("{ name = \"POST /pay\" } !> { }", "A,B,C,F");
    expect("{ resource.service.name = \"db\" } !< { }", "A,B,D,E,F");
    expect("{ name = \"POST /pay\" } &> { }", "C,D,E");
    expect("{ name = \"GET /\" } &>> { name = \"UPDATE\" }", "A,E");
    expect("{ name = \"SELECT\" } &~ { }", "D,E");
}

Test(traceql_eval, pipelines)
{
    expect("{ } | count() > 5", "A,B,C,D,E,F");
    expect("{ } | count() > 6", "-");
    expect("{ resource.service.name = \"db\" } | avg(duration) > 10ms", "D,E");
    expect("{ resource.service.name = \"db\" } | max(duration) < 10ms", "-");
    expect("{ resource.service.name = \"db\" } | sum(duration) = 25ms", "D,E");
    expect("{ } | { kind = client }", "C,D,E");
    expect("{ } | by(resource.service.name)", "A,B,F|C|D,E");
    expect("{ } | by(resource.service.name) | count() > 1", "A,B,F|D,E");
    expect("{ } | by(resource.service.name) | coalesce()", "A,B,C,D,E,F");
    expect("{ kind = client } | select(span.db.system)", "C,D,E");
}

Test(traceql_eval, pruning_and_locality)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    char err[TR_ERRMSG_SIZE];
    struct tr_traceql_query *q;
    const char *text =
        "{ resource.service.name = \"db\" && status = error && .x = 3 }";
    cr_assert_eq(tr_traceql_parse(text, strlen(text), &a, &q, err), 0);
    struct tr_traceql_eval *ev;
    cr_assert_eq(tr_traceql_eval_new(q, &ev, err), 0);
    struct tr_trace_eq eqs[8];
    size_t n = tr_traceql_eval_prune(ev, eqs, 8);
    cr_assert_eq(n, 3);
    cr_assert_eq(eqs[0].fields[0], TR_TRACE_FIELD_RESOURCE);
    cr_assert(tr_slice_eq_cstr(eqs[0].key, "service.name"));
    cr_assert_eq(eqs[1].fields[0], TR_TRACE_FIELD_STATUS);
    cr_assert_eq(eqs[1].value.i, 2);
    cr_assert_eq(eqs[2].fields[0], TR_TRACE_FIELD_SPAN);
    cr_assert_eq(eqs[2].fields[1], TR_TRACE_FIELD_RESOURCE);
    cr_assert(tr_traceql_eval_span_local(ev));
    tr_traceql_eval_free(ev);
    /* || gives no equality every match has; structure is not local */
    const char *others[] = {"{ .a = 1 || .b = 2 }", "{ } >> { .a = 1 }",
                            "{ rootName = \"x\" }", "{ } | count() > 1"};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(
            tr_traceql_parse(others[i], strlen(others[i]), &a, &q, err), 0);
        cr_assert_eq(tr_traceql_eval_new(q, &ev, err), 0);
        if (i == 0) {
            cr_assert_eq(tr_traceql_eval_prune(ev, eqs, 8), 0);
            cr_assert(tr_traceql_eval_span_local(ev));
        } else {
            cr_assert_not(tr_traceql_eval_span_local(ev), "%s", others[i]);
        }
        tr_traceql_eval_free(ev);
    }
    /* a metrics query is not a search */
    const char *m = "{ } | rate()";
    cr_assert_eq(tr_traceql_parse(m, strlen(m), &a, &q, err), 0);
    cr_assert_eq(tr_traceql_eval_new(q, &ev, err), TR_EINVAL);
    tr_arena_free(&a);
}
