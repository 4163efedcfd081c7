/* fuzz_logql_template.c - libFuzzer driver for the LogQL line stages
 * (query/logql/): the Go text/template engine and the line parsers.
 *
 * The input is split at its first NUL byte into a template source and a log
 * line (no NUL: the whole input is both). The template is compiled (errors
 * must be TR_EINVAL with a message) and, when it compiles, executed over a
 * fixed label set and the line (errors must be TR_EEXEC; the output stays
 * under the engine's limit), then run as line_format and label_format
 * stages. The line goes through the json, logfmt (plain, --strict,
 * --keep-empty), unpack, json-expression, pattern and regexp parsers and
 * decolorize; after each, the final label set must be sorted with unique,
 * non-empty names and every value valid to read. The template text is also
 * tried as a pattern, an ip() pattern, a json expression, and as float,
 * duration and bytes values. Seeds: fuzz/corpus/fuzz_logql_template/
 * (Loki documentation templates, json and logfmt lines, escapes). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "query/logql/stages.h"
#include "query/logql/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond) {
        abort();
    }
}

static void check_labels(struct tr_logql_lb *lb)
{
    struct tr_logql_label *ls;
    size_t n;
    tr_logql_lb_labels(lb, &ls, &n);
    if (tr_logql_lb_oom(lb)) {
        return;
    }
    volatile unsigned sum = 0;
    for (size_t i = 0; i < n; i++) {
        check(ls[i].name.len > 0);
        check(ls[i].cat <= TR_LOGQL_CAT_PARSED);
        if (i > 0) {
            check(tr_slice_cmp(ls[i - 1].name, ls[i].name) < 0);
        }
        for (size_t k = 0; k < ls[i].value.len; k++) {
            sum += (unsigned char)ls[i].value.base[k];
        }
    }
    (void)sum;
}

static struct tr_logql_lb *new_lb(int64_t ts)
{
    static const struct tr_logql_label stream[] = {
        {{"app", 3}, {"api", 3}, TR_LOGQL_CAT_STREAM},
        {{"level", 5}, {"error", 5}, TR_LOGQL_CAT_STREAM},
        {{"msg", 3}, {"a\nb \"q\"", 8}, TR_LOGQL_CAT_STREAM},
        {{"n", 1}, {"42", 2}, TR_LOGQL_CAT_STREAM},
    };
    struct tr_logql_lb *lb;
    if (tr_logql_lb_new(&lb)) {
        return NULL;
    }
    if (tr_logql_lb_set_stream(lb, stream, 4)) {
        tr_logql_lb_free(lb);
        return NULL;
    }
    tr_logql_lb_reset(lb, ts);
    tr_logql_lb_add_meta(lb, (struct tr_slice){"trace", 5},
                         (struct tr_slice){"t1", 2});
    tr_logql_lb_add_meta(lb, (struct tr_slice){"level", 5},
                         (struct tr_slice){"meta", 4});
    return lb;
}

static void run_template(struct tr_slice src, struct tr_slice line)
{
    struct tr_logql_template *t;
    char err[TR_ERRMSG_SIZE];
    int rv = tr_logql_template_compile("line", src.base, src.len, &t, err);
    check(rv == 0 || rv == TR_EINVAL || rv == TR_ENOMEM);
    if (rv) {
        check(rv != TR_EINVAL || err[0] != 0);
        return;
    }
    struct tr_logql_lb *lb = new_lb(1700000000123456789LL);
    if (lb) {
        struct tr_buf out;
        tr_buf_init(&out);
        rv = tr_logql_template_exec(t, lb, line, &out, err);
        check(rv == 0 || rv == TR_EEXEC || rv == TR_ENOMEM);
        check(rv != TR_EEXEC || err[0] != 0);
        check(out.len <= (2u << 20));
        tr_buf_free(&out);
        struct tr_slice l = line;
        tr_logql_line_format(t, lb, &l);
        struct tr_logql_label_fmt f[2] = {{"route", NULL, t},
                                          {"verb", "level", NULL}};
        tr_logql_label_format(f, 2, lb, l);
        check_labels(lb);
        tr_logql_lb_free(lb);
    }
    tr_logql_template_free(t);
}

static void run_parser(struct tr_logql_parser *p, struct tr_slice line)
{
    struct tr_logql_lb *lb = new_lb(0);
    if (!lb) {
        return;
    }
    struct tr_slice l = line;
    check(tr_logql_parser_process(p, lb, &l));
    check_labels(lb);
    volatile unsigned sum = 0;
    for (size_t k = 0; k < l.len; k++) {
        sum += (unsigned char)l.base[k];
    }
    (void)sum;
    tr_logql_decolorize(lb, &l);
    tr_logql_lb_free(lb);
}

static void run_parsers(struct tr_slice src, struct tr_slice line)
{
    struct tr_logql_parser *p;
    char err[TR_ERRMSG_SIZE];
    if (tr_logql_parser_new_json(NULL, 0, &p, err) == 0) {
        run_parser(p, line);
        tr_logql_parser_free(p);
    }
    for (int mode = 0; mode < 3; mode++) {
        if (tr_logql_parser_new_logfmt(mode == 1, mode == 2, NULL, 0, &p,
                                       err) == 0) {
            run_parser(p, line);
            tr_logql_parser_free(p);
        }
    }
    if (tr_logql_parser_new_unpack(&p) == 0) {
        run_parser(p, line);
        tr_logql_parser_free(p);
    }
    struct tr_logql_extract_expr ex[2] = {{"x", src.base, src.len},
                                          {"level", "a.b[1]", 6}};
    int rv = tr_logql_parser_new_json(ex, 2, &p, err);
    check(rv == 0 || rv == TR_EINVAL || rv == TR_ENOMEM);
    if (rv == 0) {
        run_parser(p, line);
        tr_logql_parser_free(p);
    }
    rv = tr_logql_parser_new_pattern(src.base, src.len, &p, err);
    check(rv == 0 || rv == TR_EINVAL || rv == TR_ENOMEM);
    if (rv == 0) {
        run_parser(p, line);
        tr_logql_parser_free(p);
    }
    if (src.len < 256) {
        rv = tr_logql_parser_new_regexp(src.base, src.len, &p, err);
        check(rv == 0 || rv == TR_EINVAL || rv == TR_ENOMEM);
        if (rv == 0) {
            run_parser(p, line);
            tr_logql_parser_free(p);
        }
    }
}

static void run_matchers(struct tr_slice src, struct tr_slice line)
{
    char err[TR_ERRMSG_SIZE];
    struct tr_logql_line_operand ops[2] = {{false, src.base, src.len},
                                           {true, src.base, src.len}};
    struct tr_logql_line_filter *f;
    if (tr_logql_line_filter_new(TR_LOGQL_LINE_PATTERN, ops, 1, &f, err) == 0) {
        (void)tr_logql_line_filter_match(f, line.base, line.len);
        tr_logql_line_filter_free(f);
    }
    if (tr_logql_line_filter_new(TR_LOGQL_LINE_CONTAINS, ops, 2, &f, err) ==
        0) {
        (void)tr_logql_line_filter_match(f, line.base, line.len);
        tr_logql_line_filter_free(f);
    }
    double d;
    int64_t ns;
    uint64_t b;
    (void)tr_logql_parse_float(src.base, src.len, &d, err);
    (void)tr_logql_parse_duration(src.base, src.len, &ns, err);
    (void)tr_logql_parse_bytes(src.base, src.len, &b, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nul = memchr(s, 0, size);
    struct tr_slice src = {size ? s : "", nul ? (size_t)(nul - s) : size};
    struct tr_slice line =
        nul ? (struct tr_slice){nul + 1, size - src.len - 1} : src;
    run_template(src, line);
    run_parsers(src, line);
    run_matchers(src, line);
    return 0;
}
