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
#include "tests/lib/trace_fixture.h"

#define F tr_test_trace

static void fix_init(void)
{
    tr_test_trace_init();
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
