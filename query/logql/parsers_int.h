/* parsers_int.h - the compiled LogQL parser stages, shared by parsers.c
 * (logfmt, regexp, pattern, dispatch) and json_parser.c (json, json with
 * expressions, unpack). */
#ifndef TR_QUERY_LOGQL_PARSERS_INT_H
#define TR_QUERY_LOGQL_PARSERS_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"
#include "query/logql/stages.h"

enum tr_logql_parser_kind {
    TR_LOGQL_P_JSON,
    TR_LOGQL_P_JSON_EXPR,
    TR_LOGQL_P_LOGFMT,
    TR_LOGQL_P_LOGFMT_EXPR,
    TR_LOGQL_P_REGEXP,
    TR_LOGQL_P_PATTERN,
    TR_LOGQL_P_UNPACK,
};

/* One step of a json expression path: a key or an array index. */
struct tr_logql_jpath_step {
    bool is_index;
    size_t index;
    char *key; /* owned */
    size_t key_len;
};

/* One label of the json / logfmt expression forms. */
struct tr_logql_pexpr {
    char *label; /* owned */
    size_t label_len;
    struct tr_logql_jpath_step *steps; /* json: owned path */
    size_t n_steps;
    char *key; /* logfmt: the key to read, owned */
    size_t key_len;
};

struct tr_logql_parser {
    enum tr_logql_parser_kind kind;
    bool strict;     /* logfmt */
    bool keep_empty; /* logfmt */
    struct tr_logql_pexpr *exprs;
    size_t n_exprs;
    void *code;      /* regexp: pcre2_code */
    char **names;    /* regexp: name of each group (NULL: unnamed) */
    size_t n_groups; /* regexp: capture groups + 1 */
    struct tr_logql_pattern *pat; /* pattern */
};

bool tr_logql__json_process(const struct tr_logql_parser *p,
                            struct tr_logql_lb *lb,
                            struct tr_slice *line);
bool tr_logql__json_expr_process(const struct tr_logql_parser *p,
                                 struct tr_logql_lb *lb,
                                 struct tr_slice *line);
bool tr_logql__unpack_process(struct tr_logql_lb *lb, struct tr_slice *line);
/* Parses a json expression ("a.b[0]", "[\"k\"]") into steps (owned). 0,
 * TR_EINVAL with "cannot parse expression [x]: ..." or TR_ENOMEM. */
int tr_logql__jpath_parse(const char *s,
                          size_t n,
                          struct tr_logql_pexpr *e,
                          char *errmsg);

#endif
