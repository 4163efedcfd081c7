/* test_logql_label_filter.c - LogQL label filters and the conversions
 * behind them and unwrap: Go's ParseFloat, ParseDuration and humanize's
 * ParseBytes with their error texts (label_filters.logqltest,
 * conversions.logqltest). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "lib/err.h"
#include "query/logql/stages.h"
#include "tests/unit/query/logql_stages_helpers.h"

static double pf(const char *s)
{
    double v;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_logql_parse_float(s, strlen(s), &v, err), 0, "%s: %s", s,
                 err);
    return v;
}

static const char *pf_err(const char *s)
{
    static char err[TR_ERRMSG_SIZE];
    double v;
    cr_assert_neq(tr_logql_parse_float(s, strlen(s), &v, err), 0, "%s", s);
    return err;
}

Test(logql_stages_label_filter, parse_float)
{
    cr_expect_eq(pf("200"), 200);
    cr_expect_eq(pf("-1.5e3"), -1500);
    cr_expect_eq(pf("+.5"), 0.5);
    cr_expect_eq(pf("1."), 1);
    cr_expect_eq(pf("0x1p-2"), 0.25);
    cr_expect(isinf(pf("inf")) && pf("-Infinity") < 0);
    cr_expect(isnan(pf("NaN")));
    cr_expect_eq(pf("1e-400"), 0);
    cr_expect_str_eq(pf_err(""),
                     "strconv.ParseFloat: parsing \"\": invalid syntax");
    cr_expect_str_eq(pf_err("oops"),
                     "strconv.ParseFloat: parsing \"oops\": invalid syntax");
    pf_err("0x10");
    pf_err("0o17");
    pf_err("1_000");
    pf_err("1e");
    pf_err(".");
    pf_err("+nan");
    pf_err("infin");
    pf_err(" 1");
    cr_expect_str_eq(
        pf_err("1e999"),
        "strconv.ParseFloat: parsing \"1e999\": value out of range");
}

static int64_t pd(const char *s)
{
    int64_t v;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_logql_parse_duration(s, strlen(s), &v, err), 0, "%s: %s", s,
                 err);
    return v;
}

static const char *pd_err(const char *s)
{
    static char err[TR_ERRMSG_SIZE];
    int64_t v;
    cr_assert_neq(tr_logql_parse_duration(s, strlen(s), &v, err), 0, "%s", s);
    return err;
}

Test(logql_stages_label_filter, parse_duration)
{
    const int64_t S_ = 1000000000;
    cr_expect_eq(pd("2s"), 2 * S_);
    cr_expect_eq(pd("500ms"), S_ / 2);
    cr_expect_eq(pd("1h30m"), 5400 * S_);
    cr_expect_eq(pd("1.5h"), 5400 * S_);
    cr_expect_eq(pd("-5s"), -5 * S_);
    cr_expect_eq(pd("1h2m3.5s"), 3723 * S_ + S_ / 2);
    cr_expect_eq(pd("1us"), 1000);
    cr_expect_eq(pd("1\xc2\xb5s"), 1000);
    cr_expect_eq(pd("1\xce\xbcs"), 1000);
    cr_expect_eq(pd("7ns"), 7);
    cr_expect_eq(pd("0"), 0);
    cr_expect_eq(pd("+.5s"), S_ / 2);
    cr_expect_eq(pd("3600000000000ns"), 3600 * S_);
    cr_expect_str_eq(pd_err("90"), "time: missing unit in duration \"90\"");
    cr_expect_str_eq(pd_err("oops"), "time: invalid duration \"oops\"");
    cr_expect_str_eq(pd_err("1d"),
                     "time: unknown unit \"d\" in duration \"1d\"");
    cr_expect_str_eq(pd_err(""), "time: invalid duration \"\"");
    pd_err(".s");
    pd_err("1s.");
    pd_err("9999999999999h");
}

static uint64_t pb(const char *s)
{
    uint64_t v;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_logql_parse_bytes(s, strlen(s), &v, err), 0, "%s: %s", s,
                 err);
    return v;
}

static const char *pb_err(const char *s)
{
    static char err[TR_ERRMSG_SIZE];
    uint64_t v;
    cr_assert_neq(tr_logql_parse_bytes(s, strlen(s), &v, err), 0, "%s", s);
    return err;
}

Test(logql_stages_label_filter, parse_bytes)
{
    cr_expect_eq(pb("1KB"), 1000);
    cr_expect_eq(pb("1KiB"), 1024);
    cr_expect_eq(pb("1MB"), 1000000);
    cr_expect_eq(pb("1MiB"), 1048576);
    cr_expect_eq(pb("1GB"), 1000000000);
    cr_expect_eq(pb("1GiB"), 1073741824);
    cr_expect_eq(pb("1TB"), 1000000000000ULL);
    cr_expect_eq(pb("1TiB"), 1099511627776ULL);
    cr_expect_eq(pb("1PB"), 1000000000000000ULL);
    cr_expect_eq(pb("1PiB"), 1125899906842624ULL);
    cr_expect_eq(pb("1.5KB"), 1500);
    cr_expect_eq(pb("1024"), 1024);
    cr_expect_eq(pb("2Kb"), 2000);
    cr_expect_eq(pb("2,048"), 2048);
    cr_expect_eq(pb("1.5B"), 1);
    cr_expect_eq(pb("5.5 kB"), 5500);
    cr_expect_eq(pb("25mb"), 25000000);
    cr_expect_eq(pb("3k"), 3000);
    cr_expect_str_eq(pb_err("oops"),
                     "strconv.ParseFloat: parsing \"\": invalid syntax");
    cr_expect_str_eq(pb_err("1XB"), "unhandled size name: xb");
    pb_err("99999999999EB");
}

static struct tr_logql_lf *lf_num(enum tr_logql_cmp c, const char *n, double v)
{
    struct tr_logql_lf *f;
    cr_assert_eq(tr_logql_lf_new_number(c, n, v, &f), 0);
    return f;
}

static struct tr_logql_lf *lf_dur(enum tr_logql_cmp c,
                                  const char *n,
                                  const char *d)
{
    struct tr_logql_lf *f;
    cr_assert_eq(tr_logql_lf_new_duration(c, n, pd(d), &f), 0);
    return f;
}

static struct tr_logql_lf *lf_bytes(enum tr_logql_cmp c,
                                    const char *n,
                                    const char *b)
{
    struct tr_logql_lf *f;
    cr_assert_eq(tr_logql_lf_new_bytes(c, n, pb(b), &f), 0);
    return f;
}

static struct tr_logql_lf *lf_str(enum tr_match_type t,
                                  const char *n,
                                  const char *v)
{
    struct tr_logql_lf *f;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_logql_lf_new_string(t, n, v, strlen(v), &f, err), 0, "%s",
                 err);
    return f;
}

static struct tr_logql_lf *lf_ip(enum tr_logql_cmp c,
                                 const char *n,
                                 const char *p)
{
    struct tr_logql_lf *f;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_logql_lf_new_ip(c, n, p, strlen(p), &f, err), 0, "%s", err);
    return f;
}

static struct tr_logql_lf *lf_bin(bool and,
                                  struct tr_logql_lf *l,
                                  struct tr_logql_lf *r)
{
    struct tr_logql_lf *f;
    cr_assert_eq(tr_logql_lf_new_binary(and, l, r, &f), 0);
    return f;
}

/* Evaluates f on a fresh entry with parsed labels kv ("a=1,b=2"). */
static bool ev(struct tr_logql_lf *f,
               const char *stream,
               const char *parsed,
               struct tr_logql_lb **keep)
{
    struct tr_logql_lb *lb = lbh_new(stream);
    const char *p = parsed;
    char buf[256];
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        memcpy(buf, p, n);
        buf[n] = 0;
        char *eq = strchr(buf, '=');
        *eq = 0;
        tr_logql_lb_set_extracted(lb, S(buf), S(eq + 1));
        p += n + (end ? 1 : 0);
    }
    bool r = tr_logql_lf_eval(f, lb);
    if (keep) {
        *keep = lb;
    } else {
        tr_logql_lb_free(lb);
    }
    return r;
}

Test(logql_stages_label_filter, string_filters)
{
    struct tr_logql_lf *f = lf_str(TR_MATCH_EQ, "name", "alpha");
    cr_expect(ev(f, "", "name=alpha", NULL));
    cr_expect(!ev(f, "", "name=beta", NULL));
    cr_expect(ev(f, "name=alpha", "", NULL));
    tr_logql_lf_free(f);
    /* anchored regex */
    f = lf_str(TR_MATCH_RE, "name", "alph");
    cr_expect(!ev(f, "", "name=alpha", NULL));
    tr_logql_lf_free(f);
    f = lf_str(TR_MATCH_RE, "name", "(?i)alpha");
    cr_expect(ev(f, "", "name=ALPHA", NULL));
    tr_logql_lf_free(f);
    /* an absent label compares as "" */
    f = lf_str(TR_MATCH_EQ, "name", "");
    cr_expect(ev(f, "", "", NULL));
    tr_logql_lf_free(f);
    f = lf_str(TR_MATCH_RE, "name", ".*");
    cr_expect(ev(f, "", "", NULL));
    tr_logql_lf_free(f);
    f = lf_str(TR_MATCH_RE, "name", ".+");
    cr_expect(!ev(f, "", "", NULL));
    tr_logql_lf_free(f);
    char err[TR_ERRMSG_SIZE];
    struct tr_logql_lf *bad = NULL;
    cr_expect_eq(tr_logql_lf_new_string(TR_MATCH_RE, "a", "(", 1, &bad, err),
                 TR_EINVAL);
    cr_expect(strstr(err, "error parsing regexp"));
}

Test(logql_stages_label_filter, numeric_filters_and_errors)
{
    struct tr_logql_lf *f = lf_num(TR_LOGQL_CMP_GE, "status", 500);
    cr_expect(ev(f, "", "status=503", NULL));
    cr_expect(!ev(f, "", "status=200", NULL));
    cr_expect(ev(f, "status=500", "", NULL));
    cr_expect(!ev(f, "", "", NULL)); /* no label: dropped, no error */
    struct tr_logql_lb *lb;
    cr_expect(ev(f, "", "status=oops", &lb)); /* kept with the error */
    LBH_EXPECT(lb,
               "{__error__=\"LabelFilterErr\", __error_details__="
               "\"strconv.ParseFloat: parsing \"oops\": invalid syntax\", "
               "status=\"oops\"}");
    tr_logql_lb_free(lb);
    tr_logql_lf_free(f);
    f = lf_num(TR_LOGQL_CMP_EQ, "code", 200);
    cr_expect(ev(f, "", "code=200.0", NULL));
    tr_logql_lf_free(f);
    f = lf_num(TR_LOGQL_CMP_LT, "code", 0);
    cr_expect(ev(f, "", "code=-3", NULL));
    tr_logql_lf_free(f);
    f = lf_num(TR_LOGQL_CMP_NE, "code", 200);
    cr_expect(!ev(f, "", "code=200", NULL));
    cr_expect(ev(f, "", "code=201", NULL));
    tr_logql_lf_free(f);
    f = lf_num(TR_LOGQL_CMP_GT, "code", 1e3);
    cr_expect(ev(f, "", "code=1500", NULL));
    cr_expect(!ev(f, "", "code=1000", NULL));
    tr_logql_lf_free(f);
    f = lf_num(TR_LOGQL_CMP_LE, "code", 1.5e3);
    cr_expect(ev(f, "", "code=1500", NULL));
    tr_logql_lf_free(f);
}

Test(logql_stages_label_filter, duration_and_bytes_filters)
{
    struct tr_logql_lf *f = lf_dur(TR_LOGQL_CMP_GT, "took", "1s");
    cr_expect(ev(f, "", "took=2s", NULL));
    cr_expect(!ev(f, "", "took=500ms", NULL));
    cr_expect(ev(f, "took=90m", "", NULL));
    struct tr_logql_lb *lb;
    cr_expect(ev(f, "", "took=90", &lb));
    cr_expect(tr_slice_eq_cstr(tr_logql_lb_err(lb), "LabelFilterErr"));
    cr_expect(tr_slice_eq_cstr(tr_logql_lb_err_details(lb),
                               "time: missing unit in duration \"90\""));
    tr_logql_lb_free(lb);
    tr_logql_lf_free(f);
    f = lf_dur(TR_LOGQL_CMP_EQ, "took", "1h");
    cr_expect(ev(f, "", "took=60m", NULL));
    cr_expect(ev(f, "", "took=3600000ms", NULL));
    tr_logql_lf_free(f);
    f = lf_bytes(TR_LOGQL_CMP_GT, "size", "1MB");
    cr_expect(ev(f, "", "size=3MB", NULL));
    cr_expect(ev(f, "", "size=3mb", NULL)); /* values are case-insensitive */
    cr_expect(!ev(f, "", "size=500KB", NULL));
    cr_expect(ev(f, "", "size=oops", &lb));
    cr_expect(
        tr_slice_eq_cstr(tr_logql_lb_err_details(lb),
                         "strconv.ParseFloat: parsing \"\": invalid syntax"));
    tr_logql_lb_free(lb);
    tr_logql_lf_free(f);
    f = lf_bytes(TR_LOGQL_CMP_LT, "size", "2KiB");
    cr_expect(ev(f, "", "size=2000", NULL));
    cr_expect(!ev(f, "", "size=2048", NULL));
    tr_logql_lf_free(f);
}

Test(logql_stages_label_filter, ip_filter)
{
    struct tr_logql_lf *f = lf_ip(TR_LOGQL_CMP_EQ, "addr", "192.168.0.0/16");
    cr_expect(ev(f, "", "addr=192.168.3.4", NULL));
    cr_expect(!ev(f, "", "addr=10.0.0.1", NULL));
    cr_expect(ev(f, "", "addr=host-192.168.3.4:80", NULL));
    cr_expect(!ev(f, "", "", NULL));
    tr_logql_lf_free(f);
    f = lf_ip(TR_LOGQL_CMP_NE, "addr", "192.168.0.0/16");
    cr_expect(!ev(f, "", "addr=192.168.3.4", NULL));
    cr_expect(ev(f, "", "addr=none", NULL));
    cr_expect(!ev(f, "", "", NULL));
    tr_logql_lf_free(f);
    /* a line that already failed passes ip() */
    f = lf_ip(TR_LOGQL_CMP_EQ, "addr", "1.2.3.0/24");
    struct tr_logql_lb *lb = lbh_new("app=a");
    tr_logql_lb_set_err(lb, TR_LOGQL_ERR_JSON);
    cr_expect(tr_logql_lf_eval(f, lb));
    tr_logql_lb_free(lb);
    tr_logql_lf_free(f);
    char err[TR_ERRMSG_SIZE];
    cr_expect_eq(
        tr_logql_lf_new_ip(TR_LOGQL_CMP_GT, "a", "1.2.3.4", 7, &f, err),
        TR_EINVAL);
    cr_expect(strstr(err, "syntax error: unexpected ip"));
    cr_expect_eq(tr_logql_lf_new_ip(TR_LOGQL_CMP_EQ, "a", "bogus", 5, &f, err),
                 TR_EINVAL);
    cr_expect(strstr(err, "ip: invalid pattern"));
}

Test(logql_stages_label_filter, and_or_error_rules)
{
    /* or stops at the first operand that keeps the line */
    struct tr_logql_lf *f = lf_bin(false, lf_str(TR_MATCH_EQ, "lvl", "error"),
                                   lf_dur(TR_LOGQL_CMP_GT, "took", "1s"));
    struct tr_logql_lb *lb;
    cr_expect(ev(f, "", "lvl=error,took=oops", &lb));
    cr_expect(!tr_logql_lb_has_err(lb));
    tr_logql_lb_free(lb);
    tr_logql_lf_free(f);
    /* the other order converts oops first */
    f = lf_bin(false, lf_dur(TR_LOGQL_CMP_GT, "took", "1s"),
               lf_str(TR_MATCH_EQ, "lvl", "error"));
    cr_expect(ev(f, "", "lvl=error,took=oops", &lb));
    cr_expect(tr_logql_lb_has_err(lb));
    tr_logql_lb_free(lb);
    tr_logql_lf_free(f);
    /* and runs both; the first failure owns the details */
    f = lf_bin(true, lf_dur(TR_LOGQL_CMP_GT, "x", "1s"),
               lf_dur(TR_LOGQL_CMP_GT, "y", "1s"));
    cr_expect(ev(f, "", "x=nope,y=90", &lb));
    cr_expect(tr_slice_eq_cstr(tr_logql_lb_err_details(lb),
                               "time: invalid duration \"nope\""));
    tr_logql_lb_free(lb);
    tr_logql_lf_free(f);
    /* a failed conversion and a false comparison drop the line */
    f = lf_bin(true, lf_dur(TR_LOGQL_CMP_GT, "took", "1s"),
               lf_bytes(TR_LOGQL_CMP_LT, "size", "1MB"));
    cr_expect(!ev(f, "", "took=oops,size=3MB", NULL));
    cr_expect(ev(f, "", "took=2s,size=500KB", NULL));
    tr_logql_lf_free(f);
}

Test(logql_stages_label_filter, error_label_filters)
{
    struct tr_logql_lf *f = lf_str(TR_MATCH_EQ, "__error__", "");
    struct tr_logql_lb *lb = lbh_new("app=a");
    cr_expect(tr_logql_lf_eval(f, lb));
    tr_logql_lb_set_err(lb, TR_LOGQL_ERR_LABEL_FILTER);
    cr_expect(!tr_logql_lf_eval(f, lb));
    tr_logql_lf_free(f);
    /* a converting filter does not see __error__: the line is dropped */
    f = lf_num(TR_LOGQL_CMP_GT, "__error__", 0);
    cr_expect(!tr_logql_lf_eval(f, lb));
    tr_logql_lf_free(f);
    tr_logql_lb_free(lb);
}

Test(logql_stages_label_filter, unwrap)
{
    struct tr_logql_lb *lb = lbh_new("app=a");
    double v;
    tr_logql_lb_set_extracted(lb, S("b"), S("1KiB"));
    tr_logql_lb_set_extracted(lb, S("d"), S("1h30m"));
    tr_logql_lb_set_extracted(lb, S("f"), S("2.5"));
    tr_logql_lb_set_extracted(lb, S("e"), S(""));
    cr_expect(tr_logql_unwrap(lb, S("b"), TR_LOGQL_CONV_BYTES, &v));
    cr_expect_eq(v, 1024);
    cr_expect(tr_logql_unwrap(lb, S("d"), TR_LOGQL_CONV_DURATION, &v));
    cr_expect_eq(v, 5400);
    cr_expect(tr_logql_unwrap(lb, S("f"), TR_LOGQL_CONV_FLOAT, &v));
    cr_expect_eq(v, 2.5);
    cr_expect(!tr_logql_unwrap(lb, S("e"), TR_LOGQL_CONV_FLOAT, &v));
    cr_expect(!tr_logql_unwrap(lb, S("missing"), TR_LOGQL_CONV_FLOAT, &v));
    cr_expect(!tr_logql_lb_has_err(lb));
    cr_expect(tr_logql_unwrap(lb, S("d"), TR_LOGQL_CONV_FLOAT, &v));
    cr_expect_eq(v, 0);
    cr_expect(tr_slice_eq_cstr(tr_logql_lb_err(lb), "SampleExtractionErr"));
    tr_logql_lb_reset(lb, 0);
    tr_logql_lb_set_extracted(lb, S("d"), S("1d"));
    cr_expect(tr_logql_unwrap(lb, S("d"), TR_LOGQL_CONV_DURATION, &v));
    cr_expect(tr_slice_eq_cstr(tr_logql_lb_err_details(lb),
                               "time: unknown unit \"d\" in duration \"1d\""));
    tr_logql_lb_free(lb);
}

/* A small pipeline: logfmt | filter | __error__="" over one line; returns
 * whether the line survives and its labels in *labels. */
static bool pipeline(const char *line,
                     struct tr_logql_lf *f,
                     bool drop_errors,
                     char *labels)
{
    struct tr_logql_parser *p;
    cr_assert_eq(tr_logql_parser_new_logfmt(false, false, NULL, 0, &p, NULL),
                 0);
    struct tr_logql_lf *noerr = lf_str(TR_MATCH_EQ, "__error__", "");
    struct tr_logql_lb *lb = lbh_new("app=a");
    struct tr_slice l = S(line);
    bool keep = tr_logql_parser_process(p, lb, &l) && tr_logql_lf_eval(f, lb) &&
                (!drop_errors || tr_logql_lf_eval(noerr, lb));
    snprintf(labels, 512, "%s", lbh_str(lb));
    tr_logql_lb_free(lb);
    tr_logql_lf_free(noerr);
    tr_logql_parser_free(p);
    return keep;
}

Test(logql_stages_label_filter, conformance_error_pipelines)
{
    char labels[512];
    struct tr_logql_lf *f = lf_dur(TR_LOGQL_CMP_GT, "took", "1s");
    /* took=oops fails the conversion: kept with LabelFilterErr ... */
    cr_expect(pipeline("took=oops size=3MB", f, false, labels));
    cr_expect(strstr(labels, "__error__=\"LabelFilterErr\""), "%s", labels);
    /* ... and dropped by __error__="" */
    cr_expect(!pipeline("took=oops size=3MB", f, true, labels));
    cr_expect(pipeline("took=2s size=500KB", f, true, labels));
    cr_expect_str_eq(labels, "{app=\"a\", size=\"500KB\", took=\"2s\"}");
    tr_logql_lf_free(f);
    /* x > 1s and z > 1MB: the first failing filter owns the details */
    f = lf_bin(true, lf_dur(TR_LOGQL_CMP_GT, "x", "1s"),
               lf_bytes(TR_LOGQL_CMP_GT, "z", "1MB"));
    cr_expect(pipeline("x=nope y=90 z=oops", f, false, labels));
    cr_expect(strstr(labels, "time: invalid duration \"nope\""), "%s", labels);
    tr_logql_lf_free(f);
    f = lf_bin(true, lf_bytes(TR_LOGQL_CMP_GT, "z", "1MB"),
               lf_dur(TR_LOGQL_CMP_GT, "x", "1s"));
    cr_expect(pipeline("x=nope y=90 z=oops", f, false, labels));
    cr_expect(strstr(labels, "parsing \"\": invalid syntax"), "%s", labels);
    tr_logql_lf_free(f);
    /* addr = ip(...) or took > 1s: ip decides first */
    f = lf_bin(false, lf_ip(TR_LOGQL_CMP_EQ, "addr", "1.2.3.0/24"),
               lf_dur(TR_LOGQL_CMP_GT, "took", "1s"));
    cr_expect(pipeline("addr=1.2.3.4 took=oops", f, false, labels));
    cr_expect(!strstr(labels, "__error__"), "%s", labels);
    tr_logql_lf_free(f);
    /* duration and bytes as label names */
    f = lf_bin(true, lf_dur(TR_LOGQL_CMP_GT, "duration", "1m"),
               lf_bytes(TR_LOGQL_CMP_GT, "bytes", "20MB"));
    cr_expect(pipeline("duration=90s bytes=25MB", f, true, labels));
    cr_expect(!pipeline("duration=30s bytes=25MB", f, true, labels));
    cr_expect(!pipeline("duration=90s bytes=10MB", f, true, labels));
    tr_logql_lf_free(f);
}
