/* test_traceql_parser.c - TraceQL parser, formatter and validation:
 * canonical forms (precedence, literals, attributes, every intrinsic,
 * structural operators, pipelines, metrics, hints), the trees some queries
 * give, error messages, and the codes of validation. Every query that
 * parses is checked to format to a text that parses back to the same
 * canonical form. (Tempo's own examples run in test_traceql_conformance.c.) */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "query/traceql/traceql.h"
#include "tests/lib/oom.h"

struct parsed {
    struct tr_arena a;
    struct tr_traceql_query *q;
    char err[TR_ERRMSG_SIZE];
    char fmt[4096];
    int rv;
};

/* Parses q into *p; on success p->fmt is the canonical form, checked to
 * re-parse and format identically. */
static void parse(struct parsed *p, const char *q)
{
    tr_arena_init(&p->a, 4096);
    p->fmt[0] = '\0';
    p->rv = tr_traceql_parse(q, strlen(q), &p->a, &p->q, p->err);
    if (p->rv != 0) {
        cr_expect_null(p->q);
        return;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    tr_traceql_format(p->q, &b);
    cr_assert(!b.oom);
    snprintf(p->fmt, sizeof(p->fmt), "%.*s", (int)b.len, b.data);
    struct tr_traceql_query *q2;
    char err2[TR_ERRMSG_SIZE];
    int rv2 = tr_traceql_parse(b.data, b.len, &p->a, &q2, err2);
    cr_expect_eq(rv2, 0, "canonical form %s of %s does not parse: %s", p->fmt,
                 q, err2);
    if (rv2 == 0) {
        struct tr_buf b2;
        tr_buf_init(&b2);
        tr_traceql_format(q2, &b2);
        cr_expect(b.len == b2.len && memcmp(b.data, b2.data, b.len) == 0,
                  "canonical form %s formats as %.*s", p->fmt, (int)b2.len,
                  b2.data);
        tr_buf_free(&b2);
    }
    tr_buf_free(&b);
}

static void done(struct parsed *p)
{
    tr_arena_free(&p->a);
}

/* q parses and formats as want. */
static void canon(const char *q, const char *want)
{
    struct parsed p;
    parse(&p, q);
    cr_expect_eq(p.rv, 0, "%s: %s", q, p.err);
    if (p.rv == 0) {
        cr_expect_str_eq(p.fmt, want, "%s: got %s, want %s", q, p.fmt, want);
    }
    done(&p);
}

/* q does not parse; the message contains want. */
static void parse_error(const char *q, const char *want)
{
    struct parsed p;
    parse(&p, q);
    cr_expect_eq(p.rv, TR_EINVAL, "%s parsed as %s", q, p.fmt);
    if (p.rv != 0) {
        cr_expect(strstr(p.err, want) != NULL, "%s: got %s, want %s", q, p.err,
                  want);
    }
    done(&p);
}

/* q parses; validation returns code with a message containing want. */
static void validates(const char *q, int code, const char *want)
{
    struct parsed p;
    char err[TR_ERRMSG_SIZE];
    parse(&p, q);
    cr_expect_eq(p.rv, 0, "%s: %s", q, p.err);
    if (p.rv == 0) {
        int rv = tr_traceql_validate(p.q, err);
        cr_expect_eq(rv, code, "%s: validate %d (%s), want %d", q, rv, err,
                     code);
        if (want && rv != 0) {
            cr_expect(strstr(err, want) != NULL, "%s: got %s, want %s", q, err,
                      want);
        }
    }
    done(&p);
}

Test(traceql_parser, filters_and_literals)
{
    canon("{}", "{ true }");
    canon("{ true }", "{ true }");
    canon("{ .a = \"b\" }", "{ .a = \"b\" }");
    canon("{ .a = 1 && .b != 2.5 }", "{ (.a = 1) && (.b != 2.5) }");
    canon("{ .a =~ \"x.*\" || .b !~ `raw\\n` }",
          "{ (.a =~ \"x.*\") || (.b !~ \"raw\\\\n\") }");
    canon("{ .a >= -1 && .b <= -1.5 && .c < 1e3 }",
          "{ (.a >= -1) && (.b <= -1.5) && (.c < 1000.0) }");
    canon("{ .a = \"tab\\there\" }", "{ .a = \"tab\\there\" }");
    canon("{ .a = \"\\u00e9\\x41\" }",
          "{ .a = \"\xc3\xa9"
          "A\" }");
    canon("{ status = error && kind = server }",
          "{ (status = error) && (kind = server) }");
    canon("{ status != unset || status = ok }",
          "{ (status != unset) || (status = ok) }");
    canon(
        "{ kind = unspecified || kind = internal || kind = client || "
        "kind = producer || kind = consumer }",
        "{ (kind = unspecified) || (kind = internal) || (kind = client) || "
        "(kind = producer) || (kind = consumer) }");
    canon("{ .a = minInt || .b = maxInt }",
          "{ (.a = minInt) || (.b = 9223372036854775807) }");
    canon("{ .a != nil }", "{ .a != nil }");
    canon("{ nil = .a }", "{ .a = nil }");
    canon("{ nil != nil }", "{ false }");
    canon("{ .a = 1 // comment\n }", "{ .a = 1 }");
    /* trace IDs compare without leading zeros, as in Tempo */
    canon("{ trace:id = \"000abc\" }", "{ trace:id = \"abc\" }");
    canon("{ \"00ab\" != trace:id }", "{ \"ab\" != trace:id }");
    canon("{ span:id = \"00ab\" }", "{ span:id = \"00ab\" }");
    canon("{ /* c */ .a = 1 }", "{ .a = 1 }");
}

Test(traceql_parser, precedence)
{
    /* && and || share one level, left-associative, as in Tempo */
    canon("{ .a || .b && .c }", "{ .a || .b && .c }");
    struct parsed p;
    parse(&p, "{ .a || .b && .c }");
    cr_assert_eq(p.rv, 0, "%s", p.err);
    const struct tr_traceql_field *f =
        p.q->spanset->u.pipeline->stages[0].u.spanset->u.filter;
    cr_expect_eq(f->u.bin.op, TR_TQL_OP_AND); /* (.a || .b) && .c */
    cr_expect_eq(f->u.bin.lhs->u.bin.op, TR_TQL_OP_OR);
    done(&p);
    canon("{ .a && .b || .c }", "{ .a && .b || .c }");
    canon("{ .a + 1 * 2 = 3 }", "{ (.a + (1 * 2)) = 3 }");
    canon("{ (.a + 1) * 2 = 3 }", "{ ((.a + 1) * 2) = 3 }");
    canon("{ .a - 1 - 2 = 3 }", "{ (.a - 1 - 2) = 3 }");
    canon("{ .a ^ 2 ^ 3 = 1 }", "{ (.a ^ (2 ^ 3)) = 1 }");
    canon("{ .a % 2 = 1 }", "{ (.a % 2) = 1 }");
    /* unary minus has the precedence of binary minus, ! that of a level
     * between + and * (Tempo's yacc precedences) */
    canon("{ -.a * 2 = 1 }", "{ (-(.a * 2)) = 1 }");
    canon("{ -.a + 2 = 1 }", "{ ((-.a) + 2) = 1 }");
    canon("{ !.a = true }", "{ (!.a) = true }");
    canon("{ !.a * 2 }", "{ !(.a * 2) }");
    canon("{ !(.a = 1 || .b = 2) }", "{ !((.a = 1) || (.b = 2)) }");
    canon("{ .a = .b = nil }", "{ (.a = .b) = nil }");
    canon("{ .a && .b = nil }", "{ .a && (.b = nil) }");
    canon("{ nil = .a + 1 }", "{ (.a + 1) = nil }");
    canon("{ true } && { false } > { true }",
          "{ true } && { false } > { true }");
    canon("{ true } >> { false } << { true }",
          "{ true } >> { false } << { true }");
}

Test(traceql_parser, durations)
{
    canon("{ duration > 1.5s }", "{ duration > 1500ms }");
    canon("{ duration > 100ms }", "{ duration > 100ms }");
    canon("{ duration > 1h }", "{ duration > 1h }");
    canon("{ duration > 1h30m }", "{ duration > 90m }");
    canon("{ duration > 1d }", "{ duration > 24h }");
    canon("{ duration > 2w }", "{ duration > 336h }");
    canon("{ duration > 1y }", "{ duration > 8760h }");
    canon("{ duration > 10us }", "{ duration > 10us }");
    canon("{ duration > 5ns }", "{ duration > 5ns }");
    canon("{ duration > 1.5h }", "{ duration > 90m }");
    canon("{ duration < -1s }", "{ duration < -1s }");
    canon("{ traceDuration >= 0s }", "{ traceDuration >= 0s }");
    canon("{ duration > 1s*2 }", "{ duration > (1s * 2) }");
    struct parsed p;
    parse(&p, "{ duration > 1500ms }");
    cr_assert_eq(p.rv, 0);
    const struct tr_traceql_pipeline *pl = p.q->spanset->u.pipeline;
    const struct tr_traceql_field *f = pl->stages[0].u.spanset->u.filter;
    cr_assert_eq(f->kind, TR_TQL_F_BINARY);
    cr_expect_eq(f->u.bin.rhs->u.st.type, TR_TQL_TYPE_DURATION);
    cr_expect_eq(f->u.bin.rhs->u.st.v.i, 1500000000LL);
    done(&p);
    /* "5x" is not a duration: the number and an identifier */
    parse_error("{ duration > 5x }", "unexpected IDENTIFIER x");
}

Test(traceql_parser, attributes)
{
    canon("{ .foo }", "{ .foo }");
    canon("{ .http.status = 200 }", "{ .http.status = 200 }");
    canon("{ span.foo = 1 }", "{ span.foo = 1 }");
    canon("{ resource.service.name = \"x\" }",
          "{ resource.service.name = \"x\" }");
    canon("{ event.foo = 1 && link.foo = 2 && instrumentation.foo = 3 }",
          "{ (event.foo = 1) && (link.foo = 2) && (instrumentation.foo = 3) "
          "}");
    canon("{ span.\"foo bar\" = 1 }", "{ span.\"foo bar\" = 1 }");
    canon("{ .\"a\\\"b\" = 1 }", "{ .\"a\\\"b\" = 1 }");
    canon("{ .\"a\\\\b\" = 1 }", "{ .\"a\\\\b\" = 1 }");
    canon("{ .\"foo\"bar = 1 }", "{ .foobar = 1 }");
    canon("{ .duration = 1s }", "{ .duration = 1s }");
    canon("{ span.duration = 1s }", "{ span.duration = 1s }");
    canon("{ parent.duration = 1s }", "{ parent.duration = 1s }");
    canon("{ parent.span.a = 1 }", "{ parent.span.a = 1 }");
    canon("{ parent.resource.a = 1 }", "{ parent.resource.a = 1 }");
    /* the attribute name runs to a space or one of {}()=~!<>&|^, */
    canon("{ .a+1 = 2 }", "{ .a+1 = 2 }");

    struct parsed p;
    parse(&p, "{ parent.span.\"x y\" = 1 }");
    cr_assert_eq(p.rv, 0, "%s", p.err);
    const struct tr_traceql_field *f =
        p.q->spanset->u.pipeline->stages[0].u.spanset->u.filter->u.bin.lhs;
    cr_assert_eq(f->kind, TR_TQL_F_ATTR);
    cr_expect(f->u.attr.parent);
    cr_expect_eq(f->u.attr.scope, TR_TQL_SCOPE_SPAN);
    cr_expect_eq(f->u.attr.intrinsic, TR_TQL_INTR_NONE);
    cr_expect_str_eq(f->u.attr.name, "x y");
    done(&p);

    parse_error("{ . }", "unexpected END_ATTRIBUTE");
    parse_error("{ span. }", "unexpected END_ATTRIBUTE");
    parse_error("{ .\"abc }", "unexpected EOF, expecting \"");
    parse_error("{ .\"a\\x\" }", "invalid escape sequence");
    parse_error("{ foo = 1 }", "unknown identifier: foo");
}

Test(traceql_parser, intrinsics)
{
    static const struct {
        const char *text;
        enum tr_traceql_intrinsic id;
        const char *canon;
    } cases[] = {
        {"duration", TR_TQL_INTR_DURATION, "duration"},
        {"name", TR_TQL_INTR_NAME, "name"},
        {"status", TR_TQL_INTR_STATUS, "status"},
        {"statusMessage", TR_TQL_INTR_STATUS_MESSAGE, "statusMessage"},
        {"kind", TR_TQL_INTR_KIND, "kind"},
        {"rootName", TR_TQL_INTR_TRACE_ROOT_SPAN, "rootName"},
        {"rootServiceName", TR_TQL_INTR_TRACE_ROOT_SERVICE, "rootServiceName"},
        {"traceDuration", TR_TQL_INTR_TRACE_DURATION, "traceDuration"},
        {"nestedSetLeft", TR_TQL_INTR_NESTED_SET_LEFT, "nestedSetLeft"},
        {"nestedSetRight", TR_TQL_INTR_NESTED_SET_RIGHT, "nestedSetRight"},
        {"nestedSetParent", TR_TQL_INTR_NESTED_SET_PARENT, "nestedSetParent"},
        {"parent", TR_TQL_INTR_PARENT, "parent"},
        {"span:duration", TR_TQL_INTR_DURATION, "duration"},
        {"span:name", TR_TQL_INTR_NAME, "name"},
        {"span:status", TR_TQL_INTR_STATUS, "status"},
        {"span:statusMessage", TR_TQL_INTR_STATUS_MESSAGE, "statusMessage"},
        {"span:kind", TR_TQL_INTR_KIND, "kind"},
        {"span:id", TR_TQL_INTR_SPAN_ID, "span:id"},
        {"span:parentID", TR_TQL_INTR_PARENT_ID, "span:parentID"},
        {"span:childCount", TR_TQL_INTR_CHILD_COUNT, "span:childCount"},
        {"trace:rootName", TR_TQL_INTR_TRACE_ROOT_SPAN, "rootName"},
        {"trace:rootService", TR_TQL_INTR_TRACE_ROOT_SERVICE,
         "rootServiceName"},
        {"trace:duration", TR_TQL_INTR_TRACE_DURATION, "traceDuration"},
        {"trace:id", TR_TQL_INTR_TRACE_ID, "trace:id"},
        {"event:name", TR_TQL_INTR_EVENT_NAME, "event:name"},
        {"event:timeSinceStart", TR_TQL_INTR_EVENT_TIME_SINCE_START,
         "event:timeSinceStart"},
        {"link:spanID", TR_TQL_INTR_LINK_SPAN_ID, "link:spanID"},
        {"link:traceID", TR_TQL_INTR_LINK_TRACE_ID, "link:traceID"},
        {"instrumentation:name", TR_TQL_INTR_INSTRUMENTATION_NAME,
         "instrumentation:name"},
        {"instrumentation:version", TR_TQL_INTR_INSTRUMENTATION_VERSION,
         "instrumentation:version"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char q[128], want[128];
        snprintf(q, sizeof(q), "{ %s != nil }", cases[i].text);
        snprintf(want, sizeof(want), "{ %s != nil }", cases[i].canon);
        canon(q, want);
        struct parsed p;
        parse(&p, q);
        if (p.rv == 0) {
            const struct tr_traceql_field *f =
                p.q->spanset->u.pipeline->stages[0].u.spanset->u.filter;
            cr_assert_eq(f->kind, TR_TQL_F_UNARY);
            cr_expect_eq(f->u.un.op, TR_TQL_OP_EXISTS);
            cr_expect_eq(f->u.un.e->u.attr.intrinsic, cases[i].id, "%s",
                         cases[i].text);
        }
        done(&p);
    }
    /* mismatched scopes */
    parse_error("{ trace:status = error }", "unexpected status");
    parse_error("{ span:rootName = \"x\" }", "unexpected rootName");
    parse_error("{ trace:rootServiceName = \"x\" }",
                "unexpected rootServiceName");
    parse_error("{ childCount = 1 }", "unexpected childCount");
}

Test(traceql_parser, structural)
{
    static const char *const ops[] = {"&&", "||",  ">",   ">>",  "<",   "<<",
                                      "~",  "!>",  "!>>", "!<",  "!<<", "!~",
                                      "&>", "&>>", "&<",  "&<<", "&~"};
    static const enum tr_traceql_op ids[] = {TR_TQL_OP_SS_AND,
                                             TR_TQL_OP_SS_UNION,
                                             TR_TQL_OP_SS_CHILD,
                                             TR_TQL_OP_SS_DESCENDANT,
                                             TR_TQL_OP_SS_PARENT,
                                             TR_TQL_OP_SS_ANCESTOR,
                                             TR_TQL_OP_SS_SIBLING,
                                             TR_TQL_OP_SS_NOT_CHILD,
                                             TR_TQL_OP_SS_NOT_DESCENDANT,
                                             TR_TQL_OP_SS_NOT_PARENT,
                                             TR_TQL_OP_SS_NOT_ANCESTOR,
                                             TR_TQL_OP_SS_NOT_SIBLING,
                                             TR_TQL_OP_SS_UNION_CHILD,
                                             TR_TQL_OP_SS_UNION_DESCENDANT,
                                             TR_TQL_OP_SS_UNION_PARENT,
                                             TR_TQL_OP_SS_UNION_ANCESTOR,
                                             TR_TQL_OP_SS_UNION_SIBLING};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        char q[128], want[128];
        snprintf(q, sizeof(q), "{ .a } %s { .b }", ops[i]);
        snprintf(want, sizeof(want), "{ .a } %s { .b }", ops[i]);
        canon(q, want);
        struct parsed p;
        parse(&p, q);
        if (p.rv == 0) {
            const struct tr_traceql_spanset *s =
                p.q->spanset->u.pipeline->stages[0].u.spanset;
            cr_assert_eq(s->kind, TR_TQL_SS_OP);
            cr_expect_eq(s->u.op.op, ids[i], "%s", ops[i]);
        }
        done(&p);
        validates(q, 0, NULL);
    }
    /* between parenthesised pipelines */
    canon("({ .a } | count() > 1) >> ({ .b } | { .c })",
          "({ .a } | count() > 1) >> ({ .b } | { .c })");
    canon("(({ .a } | { .b }))", "{ .a } | { .b }");
    parse_error("({ .a } | { .b }) && { .c }", "unexpected");
    canon("({ .a } | { .b }) && ({ .c })", "({ .a } | { .b }) && ({ .c })");
    /* where a pipeline may start, "({ .c })" is a spanset expression (the
     * ")" is shifted by Tempo's yacc), so a pipeline cannot follow */
    parse_error("({ .c }) && ({ .a } | { .b })", "col 21: syntax error");
    parse_error("(({ .c }) && ({ .a } | { .b }))", "syntax error");
    parse_error("{ true } + { true }", "unexpected +");
    parse_error("{ true } <= { true }", "unexpected <=");
    parse_error("{ true } & { true }", "unexpected IDENTIFIER &");
}

Test(traceql_parser, pipelines)
{
    canon("{ .a } | { .b }", "{ .a } | { .b }");
    canon("{ .a } | count() > 2", "{ .a } | count() > 2");
    canon("{ .a } | avg(duration) >= 1s | max(.x + 1) < 2",
          "{ .a } | avg(duration) >= 1s | max(.x + 1) < 2");
    canon("{ .a } | by(.b) | coalesce() | select(.c, span:id, name)",
          "{ .a } | by(.b) | coalesce() | select(.c, span:id, name)");
    canon("count() = 1 | { true }", "count() = 1 | { true }");
    canon("by(.a) | { true }", "by(.a) | { true }");
    canon("select(.a)", "select(.a)");
    canon("{ } | min(duration) > 1 + 2 * 3", "{ true } | min(duration) > 7");
    canon("{ } | sum(.a) > 1 / 2", "{ true } | sum(.a) > 0");
    canon("{ } | sum(.a) > 1.0 / 2", "{ true } | sum(.a) > 0.5");
    canon("{ } | count() + 1 > 2", "{ true } | (count() + 1) > 2");
    canon("{ } | 2 < count()", "{ true } | 2 < count()");
    canon("({ .a } | count()) + ({ .b } | avg(duration)) > 2",
          "(({ .a } | count()) + ({ .b } | avg(duration))) > 2");

    struct parsed p;
    parse(&p, "{ .a } | count() > 2 | by(.b)");
    cr_assert_eq(p.rv, 0, "%s", p.err);
    const struct tr_traceql_pipeline *pl = p.q->spanset->u.pipeline;
    cr_assert_eq(pl->n, 3);
    cr_expect_eq(pl->stages[0].kind, TR_TQL_STAGE_SPANSET);
    cr_expect_eq(pl->stages[1].kind, TR_TQL_STAGE_SCALAR_FILTER);
    cr_expect_eq(pl->stages[1].u.sfilter.lhs->u.aggr.op, TR_TQL_AGGR_COUNT);
    cr_expect_eq(pl->stages[1].u.sfilter.op, TR_TQL_OP_GT);
    cr_expect_eq(pl->stages[2].kind, TR_TQL_STAGE_GROUP);
    done(&p);

    parse_error("coalesce() | { true }", "unexpected coalesce");
    parse_error("{ true } | count()", "unexpected $end");
    parse_error("{ true } | count() + 1", "unexpected $end");
    parse_error("{ true } | max() = 1", "unexpected )");
    parse_error("{ true } | by()", "unexpected )");
    parse_error("select()", "unexpected )");
    parse_error("2 + 3", "unexpected $end");
    parse_error("{ true } | count() > 2 % 2", "unexpected");
}

Test(traceql_parser, metrics)
{
    canon("{ } | rate()", "{ true } | rate()");
    canon("{ } | count_over_time() by (name, span.x)",
          "{ true } | count_over_time() by (name, span.x)");
    canon("{ } | min_over_time(duration)",
          "{ true } | min_over_time(duration)");
    canon("{ } | max_over_time(span.x) by (resource.y)",
          "{ true } | max_over_time(span.x) by (resource.y)");
    canon("{ } | avg_over_time(duration)",
          "{ true } | avg_over_time(duration)");
    canon("{ } | sum_over_time(.a)", "{ true } | sum_over_time(.a)");
    canon("{ } | quantile_over_time(duration, .5, 0.99, 1)",
          "{ true } | quantile_over_time(duration, 0.5, 0.99, 1.0)");
    canon("{ } | histogram_over_time(duration) by (name)",
          "{ true } | histogram_over_time(duration) by (name)");
    canon("{ } | compare({ status = error })",
          "{ true } | compare({ status = error })");
    canon("{ } | compare({ status = error }, 5)",
          "{ true } | compare({ status = error }, 5)");
    canon("{ } | compare({ status = error }, 5, 1, 2)",
          "{ true } | compare({ status = error }, 5, 1, 2)");
    canon("{ } | rate() by (name) | topk(10)",
          "{ true } | rate() by (name) | topk(10)");
    canon("{ } | rate() | bottomk(3) > 2 | topk(1)",
          "{ true } | rate() | bottomk(3) > 2.0 | topk(1)");
    canon("{ } | max_over_time(duration) > 10s",
          "{ true } | max_over_time(duration) > 10.0");
    canon("({ } | rate()) * 100", "(({ true } | rate()) * 100.0)");
    canon("5 + ({} | rate()) * 10", "(5.0 + (({ true } | rate()) * 10.0))");
    canon("({} | rate()) / ({} | count_over_time()) > 0.5 | topk(2)",
          "(({ true } | rate()) / ({ true } | count_over_time())) > 0.5 | "
          "topk(2)");
    canon("({} | rate() > 6) * 100 > 5",
          "(({ true } | rate() > 6.0) * 100.0) > 5.0");
    canon("{ } | rate() with(sample=0.1, exemplars=true)",
          "{ true } | rate() with(sample=0.1, exemplars=true)");
    canon("{ } | rate() with(a=1) with(b=\"x\")",
          "{ true } | rate() with(b=\"x\")");

    struct parsed p;
    parse(&p, "({} | rate()) - 2 * 3");
    cr_assert_eq(p.rv, 0, "%s", p.err);
    cr_assert_eq(p.q->kind, TR_TQL_Q_METRICS);
    const struct tr_traceql_metrics *m = p.q->metrics;
    cr_assert_eq(m->kind, TR_TQL_ME_BINARY);
    cr_expect_eq(m->op, TR_TQL_OP_SUB);
    cr_expect_eq(m->lhs->kind, TR_TQL_ME_PIPELINE);
    cr_expect_eq(m->lhs->agg.fn, TR_TQL_M_RATE);
    cr_expect_eq(m->rhs->kind, TR_TQL_ME_SCALAR);
    cr_expect_eq(m->rhs->value, 6.0);
    done(&p);

    parse(&p,
          "{} | quantile_over_time(duration, 0.5, 0.9) by (name) | "
          "topk(3) with(sample=0.1)");
    cr_assert_eq(p.rv, 0, "%s", p.err);
    m = p.q->metrics;
    cr_expect_eq(m->agg.fn, TR_TQL_M_QUANTILE_OVER_TIME);
    cr_expect_eq(m->agg.n_quantiles, 2);
    cr_expect_eq(m->agg.n_by, 1);
    cr_expect_eq(m->agg.by[0].intrinsic, TR_TQL_INTR_NAME);
    cr_assert_eq(m->n_stages, 1);
    cr_expect_eq(m->stages[0].kind, TR_TQL_2ND_TOPK);
    cr_expect_eq(m->stages[0].limit, 3);
    cr_assert_eq(p.q->n_hints, 1);
    cr_expect_str_eq(p.q->hints[0].name, "sample");
    cr_expect_eq(p.q->hints[0].value.v.f, 0.1);
    done(&p);

    parse_error("{} | topk(10)", "unexpected topk");
    parse_error("{} | rate() | topk(-1)", "unexpected -");
    parse_error("{} | rate() + 5", "unexpected +");
    parse_error("({} | rate()) % 10", "unexpected %");
    parse_error("({} | rate()) * 10s",
                "duration cannot be used as a scalar operand in metric "
                "arithmetic");
    parse_error("({} | rate()) > (10s * 2)",
                "duration cannot be used in scalar arithmetic");
    parse_error("({} | rate()) * 100000000000000000000000000000",
                "value out of range");
    parse_error("{} | compare({ .a }, 1, 2)", "unexpected )");
    parse_error("{} | rate() with(sample=foo)", "unknown identifier: foo");
}

Test(traceql_parser, errors)
{
    parse_error("", "unexpected $end");
    parse_error("{ .a = \"abc }", "line 1, col 8: literal not terminated");
    parse_error("{ .a = \"\\q\" }", "invalid char escape");
    parse_error("{ .a = 1 }\n| { .b = }", "line 2, col 10: syntax error");
    parse_error("{ .a = 0x10 }", "strconv.Atoi");
    parse_error("{ .a = 1e }", "exponent has no digits");
    parse_error("{ .a = 08 }", "invalid digit '8' in octal literal");
    canon("{ .a = 017 }", "{ .a = 17 }");
    parse_error("/* open", "comment not terminated");
    parse_error("{ .a = \"\xff\" }", "invalid UTF-8 encoding");
    char nul[] = "{ .a = 1 }";
    nul[3] = '\0';
    struct tr_arena a;
    struct tr_traceql_query *q;
    char err[TR_ERRMSG_SIZE];
    tr_arena_init(&a, 1024);
    cr_expect_eq(tr_traceql_parse(nul, sizeof(nul) - 1, &a, &q, err),
                 TR_EINVAL);
    cr_expect(strstr(err, "invalid character NUL") != NULL, "%s", err);
    /* deep nesting is refused, not a stack overflow */
    char deep[2100];
    size_t k = 0;
    for (int i = 0; i < 1000; i++) {
        deep[k++] = '(';
    }
    deep[k++] = '{';
    deep[k++] = '}';
    for (int i = 0; i < 1000; i++) {
        deep[k++] = ')';
    }
    cr_expect_eq(tr_traceql_parse(deep, k, &a, &q, err), TR_EINVAL);
    cr_expect(strstr(err, "too deeply nested") != NULL, "%s", err);
    tr_arena_free(&a);
}

Test(traceql_parser, validation)
{
    validates("{ .a = 1 }", 0, NULL);
    validates("{ .a }", 0, NULL);
    validates("{ 1 }", TR_EINVAL,
              "span filter field expressions must resolve to a boolean: 1");
    validates("{ 1 = \"a\" }", TR_EINVAL,
              "binary operations must operate on the same type");
    validates("{ status > ok }", TR_EINVAL,
              "illegal operation for the given types");
    validates("{ -\"a\" = \"b\" }", TR_EINVAL,
              "illegal operation for the given type");
    validates("{ .a =~ \"(\" }", TR_EINVAL, "invalid regex");
    validates("{ span:status = nil }", TR_EINVAL,
              "status=nil is not valid because intrinsics cannot be nil");
    validates("{ resource.service.name = nil }", TR_EINVAL, "cannot be nil");
    validates("{ .a = nil }", 0, NULL);
    validates("sum(3) = 2", TR_EINVAL, "must reference the span");
    validates("min(1 = 3) = 1", TR_EINVAL, "must resolve to a number type");
    validates("{ } | by(1)", TR_EINVAL, "grouping field expressions");
    validates("{ } | rate() | topk(0)", TR_EINVAL,
              "limit must be greater than 0");
    validates("{ } | quantile_over_time(duration, 1.5)", TR_EINVAL,
              "quantile must be between 0 and 1");
    validates("{ } | compare({ .a }) | topk(1)", TR_EINVAL, "compare()");
    validates("{ } | compare({ .a })", 0, NULL);
    validates("({ } | compare({ .a }))", 0, NULL);
    validates("{ } | compare({ .a }, 1000, 1, 2)", 0, NULL);
    validates("{ } | compare({ .a }, 0)", TR_EINVAL, "between 1 and 1000");
    validates("{ } | compare({ .a }, 1001)", TR_EINVAL, "between 1 and 1000");
    validates("{ } | compare({ .a }, 5, 0, 2)", TR_EINVAL,
              "timestamps must be positive");
    validates("{ } | compare({ .a }, 5, 2, 2)", TR_EINVAL,
              "end timestamp must be greater");
    validates("{ } | compare({ 1 })", TR_EINVAL, "must resolve to a boolean");
    validates("{ parent.a = 1 }", TR_EUNSUPPORTED, "parent not yet supported");
    validates("{ parent }", TR_EUNSUPPORTED, "not yet supported");
    validates("{ } | select(parent.a)", TR_EUNSUPPORTED, "parent");
    validates("min(.a) < max(.b)", TR_EUNSUPPORTED, "not yet supported");
    validates("({ } | count()) > 1", TR_EUNSUPPORTED, "not yet supported");
    validates("{ } | rate() by (.a, .b, .c, .d, .e, .f)", TR_EUNSUPPORTED,
              "group by 6 values");
    validates("{ } | histogram_over_time(duration) by (.a, .b, .c, .d, .e)",
              TR_EUNSUPPORTED, "group by 5 values");
    validates("{ } | rate() by (.a, .b, .c, .d, .e)", 0, NULL);
}

Test(traceql_parser, long_and_deep)
{
    struct tr_buf q;
    tr_buf_init(&q);
    /* a long flat chain formats without nesting, so it parses back */
    tr_buf_puts(&q, "{ .a0 = 0");
    for (int i = 1; i < 3000; i++) {
        tr_buf_printf(&q, " && .a%d = %d", i, i);
    }
    tr_buf_puts(&q, " } | rate()");
    tr_buf_putc(&q, '\0');
    struct parsed p;
    parse(&p, q.data);
    cr_expect_eq(p.rv, 0, "%s", p.err);
    done(&p);
    /* nested parentheses stay linear (memoized alternatives) */
    tr_buf_reset(&q);
    for (int i = 0; i < 200; i++) {
        tr_buf_putc(&q, '(');
    }
    tr_buf_puts(&q, "({ .a } | count())");
    for (int i = 0; i < 200; i++) {
        tr_buf_puts(&q, " + ({ .b } | count()))");
    }
    tr_buf_puts(&q, " > 1");
    tr_buf_putc(&q, '\0');
    parse(&p, q.data);
    cr_expect_eq(p.rv, 0, "%s", p.err);
    done(&p);
    canon("({ .x } | { .y }) && ({ .c }) > ({ .d } | { .e })",
          "({ .x } | { .y }) && ({ .c }) > ({ .d } | { .e })");
    tr_buf_free(&q);
}

/* Every allocation failure gives TR_ENOMEM (or a result), never a crash
 * or a leak. */
Test(traceql_parser, out_of_memory)
{
    static const char *const queries[] = {
        "{ span.\"a b\" =~ \"x.*\" && duration > 1.5s } >> { .c = \"d\" } | "
        "count() > 2 | by(.e) | select(.f)",
        "({ .a } | count()) + ({ .b } | avg(duration)) > 2",
        "({} | rate() by (name)) / ({} | count_over_time()) * 100 > 5 | "
        "topk(3) with(sample=0.1)",
        "{ .a = \"unterminated }",
    };
    for (size_t k = 0; k < sizeof(queries) / sizeof(queries[0]); k++) {
        int rc = TR_ENOMEM, n;
        for (n = 0; n < 5000 && rc == TR_ENOMEM; n++) {
            struct tr_arena a;
            struct tr_traceql_query *q = NULL;
            char err[TR_ERRMSG_SIZE];
            struct tr_buf b;
            tr_buf_init(&b);
            tr_test_oom_install(n);
            tr_arena_init(&a, 256);
            rc = tr_traceql_parse(queries[k], strlen(queries[k]), &a, &q, err);
            if (rc == 0) {
                int vr = tr_traceql_validate(q, err);
                tr_traceql_format(q, &b);
                if (vr == TR_ENOMEM || b.oom) {
                    rc = TR_ENOMEM;
                }
            }
            tr_test_oom_remove();
            cr_assert(rc == 0 || rc == TR_ENOMEM || rc == TR_EINVAL,
                      "%s: n=%d rc=%d", queries[k], n, rc);
            tr_buf_free(&b);
            tr_arena_free(&a);
        }
        cr_expect(rc != TR_ENOMEM, "%s: still out of memory at n=%d",
                  queries[k], n);
        cr_expect_gt(n, 2, "%s", queries[k]);
    }
}
