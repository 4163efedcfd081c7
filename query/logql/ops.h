/* ops.h - LogQL operator vocabulary shared by the AST (ast.h) and the
 * log-line stages library (stages.h).
 *
 * These enums mean the same thing on both sides: the parser stores them in
 * the tree and the evaluator hands them unchanged to the stages'
 * constructors (tr_logql_line_matcher_new, tr_logql_lf_new_number,
 * tr_logql_unwrap, ...). They are defined once, here, so that any file can
 * include ast.h and stages.h together.
 *
 * Names that differ in meaning between the two sides are kept apart: the
 * AST has the parsed node (struct tr_logql_line_filter, struct
 * tr_logql_pattern, struct tr_logql_label_fmt, struct tr_logql_label_filter)
 * and the stages library the compiled, runnable object (struct
 * tr_logql_line_matcher, struct tr_logql_pattern_matcher, struct
 * tr_logql_label_fmt_operand, struct tr_logql_lf). */
#ifndef TR_QUERY_LOGQL_OPS_H
#define TR_QUERY_LOGQL_OPS_H

/* Comparison of label filters and binary operators' comparison subset. */
enum tr_logql_cmp {
    TR_LOGQL_CMP_EQ,  /* = or == */
    TR_LOGQL_CMP_NEQ, /* != */
    TR_LOGQL_CMP_GT,  /* > */
    TR_LOGQL_CMP_GTE, /* >= */
    TR_LOGQL_CMP_LT,  /* < */
    TR_LOGQL_CMP_LTE, /* <= */
};

/* Kinds of label filter ("| status >= 400 and method="GET""). */
enum tr_logql_lf_kind {
    TR_LOGQL_LF_AND,      /* both hold ("and", "," or juxtaposition) */
    TR_LOGQL_LF_OR,       /* either holds */
    TR_LOGQL_LF_STRING,   /* name = != =~ !~ "string" */
    TR_LOGQL_LF_NUMBER,   /* name cmp 1.5 (strconv.ParseFloat) */
    TR_LOGQL_LF_DURATION, /* name cmp 10s (time.ParseDuration) */
    TR_LOGQL_LF_BYTES,    /* name cmp 20MB (humanize.ParseBytes) */
    TR_LOGQL_LF_IP,       /* name = ip("cidr") or name != ip(...) */
};

/* Line filter operators. */
enum tr_logql_line_op {
    TR_LOGQL_LINE_CONTAINS,     /* |= substring */
    TR_LOGQL_LINE_NOT_CONTAINS, /* != */
    TR_LOGQL_LINE_MATCH,        /* |~ unanchored Go RE2 search */
    TR_LOGQL_LINE_NOT_MATCH,    /* !~ */
    TR_LOGQL_LINE_PATTERN,      /* |> Loki pattern, only <_> captures */
    TR_LOGQL_LINE_NOT_PATTERN,  /* !> */
};

/* unwrap conversion. */
enum tr_logql_conv {
    TR_LOGQL_CONV_NONE,             /* unwrap x: the value as a float */
    TR_LOGQL_CONV_BYTES,            /* unwrap bytes(x): "5 MB" etc. */
    TR_LOGQL_CONV_DURATION,         /* unwrap duration(x): seconds */
    TR_LOGQL_CONV_DURATION_SECONDS, /* unwrap duration_seconds(x): same */
};

#endif
