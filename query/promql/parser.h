/* parser.h - PromQL (Prometheus 2.53) expression parser.
 *
 * Recursive descent with precedence climbing over the PromQL lexer, with
 * Prometheus' precedence and associativity (lowest first):
 *
 *   or
 *   and unless
 *   == != <= < >= >        (comparisons; "bool" after the operator)
 *   + -
 *   * / % atan2
 *   unary + -              (binds like *: -1 ^ 2 is -(1 ^ 2))
 *   ^                      (right-associative)
 *   postfix [range] [range:step] offset <dur> @ <ts>|start()|end()
 *
 * All binary operators but ^ are left-associative. After parsing, the tree
 * is type-checked as Prometheus' checkAST does. Errors carry Prometheus'
 * wording and position ("1:12: parse error: ranges only allowed for vector
 * selectors"); only the first error is reported. */
#ifndef TR_QUERY_PROMQL_PARSER_H
#define TR_QUERY_PROMQL_PARSER_H

#include <stddef.h>

#include "lib/alloc.h"
#include "query/promql/ast.h"

/* Maximum nesting of the expression tree (recursion bound). */
#define TR_PROMQL_MAX_DEPTH 1000

/* Parses q (n bytes) into *out, allocating the nodes in a. The matchers of
 * vector selectors own heap memory: call tr_promql_ast_free(*out) before
 * freeing the arena. On error nothing needs freeing but the arena (which
 * may hold garbage) and *out is NULL.
 * Returns 0, TR_ENOMEM, or TR_EINVAL with errmsg (may be NULL; size
 * TR_ERRMSG_SIZE) = "line:col: parse error: message". */
int tr_promql_parse(const char *q,
                    size_t n,
                    struct tr_arena *a,
                    struct tr_promql_node **out,
                    char *errmsg);

#endif
