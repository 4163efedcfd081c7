/* parser.h - LogQL (Loki 3.x) parser.
 *
 * Recursive descent over the LogQL lexer, accepting the language of Loki's
 * yacc grammar (pkg/logql/syntax/syntax.y) with its conflict resolutions:
 *
 *   binary operators, lowest first (all left-associative but ^):
 *     or | and unless | == != > >= < <= | + - | * / % | ^
 *     after the operator: [bool] [on|ignoring (labels) [group_left|
 *     group_right [(labels)]]]; a literal is NUMBER, +NUMBER or -NUMBER
 *     (there is no unary minus on other expressions)
 *   label filters: "or" below "and" (both left-associative); "," and a
 *     plain juxtaposition are "and" too but take everything after them as
 *     their right operand (yacc shifts on them): a, b or c = a, (b or c)
 *   line filters: an "or" after a line filter always continues it
 *   ranges: {..} [pipeline] [| unwrap ..] [5m] [offset d], or the range
 *     right after the selector, or in parentheses, as Loki's rules allow
 *
 * Errors read like Loki's:
 *   parse error at line 1, col 15: syntax error: unexpected $end,
 *       expecting STRING or ip
 *   parse error : grouping not allowed for rate aggregation
 *   parse error : queries require at least one regexp or equality matcher
 *       that does not have an empty-compatible value. ...
 * Loki reports some errors of a query only when it runs it (a bad regex in
 * a line filter, a bad ip() pattern, a pattern filter with named captures);
 * they are reported here too, after every check Loki makes at parse time,
 * with Loki's run-time message and no "parse error" prefix (e.g.
 * "error parsing regexp: ..."). Text/template and JSON path errors are left
 * to the evaluator. */
#ifndef TR_QUERY_LOGQL_PARSER_H
#define TR_QUERY_LOGQL_PARSER_H

#include <stddef.h>

#include "lib/alloc.h"
#include "query/logql/ast.h"

/* Loki's maximum query length in bytes (queries of this size or longer are
 * rejected with "input size too long"). */
#define TR_LOGQL_MAX_INPUT 131072
/* Maximum nesting of expressions and label filters (recursion bound). */
#define TR_LOGQL_MAX_DEPTH 512

/* Parses the LogQL query q (n bytes) into *out, allocating the tree in a.
 * Matchers and regexes in the tree own heap memory: call
 * tr_logql_ast_free(*out) before freeing the arena. On error *out is NULL
 * and nothing needs freeing but the arena (which may hold garbage).
 * Returns 0, TR_ENOMEM, or TR_EINVAL with Loki's message in errmsg (may be
 * NULL; size TR_ERRMSG_SIZE). */
int tr_logql_parse(const char *q,
                   size_t n,
                   struct tr_arena *a,
                   struct tr_logql_expr **out,
                   char *errmsg);

/* tr_logql_parse_ex flags. NO_VALIDATE: Loki's ParseExprWithoutValidation
 * - syntax only: node errors, the selector check and stage errors are not
 * reported (the tree may then hold NULL regexes and 0 for bad literals: for
 * syntax checks and formatting, not for evaluation). */
#define TR_LOGQL_PARSE_NO_VALIDATE 1u

/* tr_logql_parse with flags (0 = tr_logql_parse). */
int tr_logql_parse_ex(const char *q,
                      size_t n,
                      unsigned flags,
                      struct tr_arena *a,
                      struct tr_logql_expr **out,
                      char *errmsg);

#endif
