/* logqltest.h - Loki's LogQL metric-query test scripts (NAME.logqltest, see
 * $TRIAD_CONFORMANCE_DIR/logqltest/README.md): a parser into commands and
 * the comparison of results, shared by the in-process runner
 * (tests/unit/query/test_logqltest.c) and black-box runners that send the
 * same queries over HTTP (link this file; it needs only lib/ and
 * query/promql/value.h's types).
 *
 * FORMAT (as this parser reads it):
 *   `#` outside "..." / `...` starts a comment; blank lines end blocks.
 *   clear                                   -> TR_LQT_CLEAR
 *   load                                    -> one TR_LQT_LOAD per line:
 *     <selector> "<line>"|`<line>` @ <dur> [repeat every <dur> for <n>]
 *       [metadata k="v" ...]
 *       (the line taken as written, no unescaping; n entries at
 *        offset + i*step; "{{.i}}" in the line becomes i, see
 *        tr_lqt_load_line)
 *   eval instant at <dur> <query>           -> TR_LQT_EVAL (range false)
 *   eval range from <dur> to <dur> step <dur> <query>
 *     then indented expectations until a blank or unindented line:
 *       <labels> <v>            instant vector sample
 *       <labels> <v1> _ <v3>    range series ("_": no point at that step)
 *       <number>                scalar (instant) or a series without
 *                               labels (range)
 *       expect empty | expect ordered | expect fail [msg: <substring>]
 *       | expect fail regex: <re> | skip ... (ignored: values still
 *       compared)
 *   Durations are Go durations from t=0 ("90s", "1m30s", "0").
 *   Values: Go floats, NaN, +Inf, -Inf; compared like promqltest (NaN
 *   equals NaN, relative tolerance 1e-6, exact for 0). */
#ifndef TR_TESTS_LOGQLTEST_H
#define TR_TESTS_LOGQLTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "query/promql/value.h"
#include "storage/labels.h"

enum tr_lqt_kind {
    TR_LQT_CLEAR,
    TR_LQT_LOAD,
    TR_LQT_EVAL,
};

enum tr_lqt_expect {
    TR_LQT_EXPECT_SAMPLES, /* the listed samples / series (maybe none) */
    TR_LQT_EXPECT_EMPTY,   /* expect empty */
    TR_LQT_EXPECT_FAIL,    /* expect fail [msg: | regex: ] */
};

/* One expected series: its labels and one value per step (instant: 1). */
struct tr_lqt_series {
    struct tr_label *labels; /* sorted */
    size_t n_labels;
    double *v;
    bool *present; /* false for "_" */
    size_t n;
};

struct tr_lqt_cmd {
    enum tr_lqt_kind kind;
    int line_no; /* 1-based line of the command in the file */
    /* LOAD */
    struct tr_label *labels; /* stream labels, sorted */
    size_t n_labels;
    const char *line; /* as written (may hold "{{.i}}") */
    size_t line_len;
    int64_t offset_ns, step_ns;
    size_t count; /* entries (1 without repeat) */
    struct tr_label *meta;
    size_t n_meta;
    /* EVAL */
    bool range;
    int64_t start_ns, end_ns, step; /* instant: start == end, step 0 */
    const char *query;
    enum tr_lqt_expect expect;
    const char *fail_msg; /* NULL: any failure */
    bool fail_regex;      /* fail_msg is a regex */
    bool ordered;         /* expect ordered */
    bool scalar;          /* a bare number was expected (instant) */
    double scalar_value;
    struct tr_lqt_series *series;
    size_t n_series;
};

struct tr_lqt_file {
    struct tr_arena a; /* owns everything */
    struct tr_lqt_cmd *cmds;
    size_t n_cmds;
    size_t n_evals;
};

/* Parses text into f (f->a initialised here; free with tr_lqt_file_free
 * whatever the result). 0, TR_EINVAL (errmsg: "line N: ...") or
 * TR_ENOMEM. */
int tr_lqt_parse(const char *text,
                 size_t len,
                 struct tr_lqt_file *f,
                 char *errmsg);
void tr_lqt_file_free(struct tr_lqt_file *f);

/* The i-th entry's line of a LOAD command ("{{.i}}" replaced by i) into
 * out (reset first), and its time in *ts_ns. 0 or TR_ENOMEM. */
int tr_lqt_load_line(const struct tr_lqt_cmd *c,
                     size_t i,
                     struct tr_buf *out,
                     int64_t *ts_ns);

/* Checks a successful evaluation against c (an EVAL). got: instant
 * queries a SCALAR or VECTOR value, range queries a MATRIX with points in
 * ms at start + k*step. True when it matches; otherwise false with the
 * reason in why. */
bool tr_lqt_check(const struct tr_lqt_cmd *c,
                  const struct tr_pq_value *got,
                  struct tr_buf *why);
/* Checks a failed evaluation (errmsg) against c. */
bool tr_lqt_check_fail(const struct tr_lqt_cmd *c,
                       const char *errmsg,
                       struct tr_buf *why);

/* The value as text (one series / sample per line), for failure reports. */
void tr_lqt_format_value(const struct tr_pq_value *v, struct tr_buf *out);
/* The expectation of c as text. */
void tr_lqt_format_expected(const struct tr_lqt_cmd *c, struct tr_buf *out);

/* Go duration ("1m30s", "-5s", "0") in ns. 0 or TR_EINVAL. */
int tr_lqt_parse_duration(const char *s, size_t n, int64_t *ns);

#endif
