/* selector.h - parses a series selector as Prometheus accepts it in match[]
 * of /api/v1/series, /api/v1/labels and federation:
 *
 *   metric
 *   metric{l="v", l2=~"re", l3!="x", l4!~"y",}
 *   {__name__="m", l!="x"}
 *
 * Built on the PromQL lexer (comments and whitespace allowed, strings in any
 * of the three quote styles). Quoted (UTF-8) label names are not supported. */
#ifndef TR_QUERY_PROMQL_SELECTOR_H
#define TR_QUERY_PROMQL_SELECTOR_H

#include <stddef.h>

#include "lib/matcher.h"

/* Parses s (n bytes) into *out (array of *n_out matchers, tr_malloc'd; free
 * with tr_promql_matchers_free). A metric name before the braces becomes an
 * __name__ equality matcher, first in the array; the others follow in input
 * order.
 * Returns 0, TR_ENOMEM, or TR_EINVAL with errmsg (may be NULL) in Prometheus'
 * wording and position, e.g.
 *   1:5: parse error: unexpected end of input inside braces
 *   1:1: parse error: vector selector must contain at least one non-empty
 *        matcher
 *   1:8: parse error: unexpected identifier "b" in label matching, expected
 *        string
 * (For match[], Prometheus' HTTP API words the empty-matcher case as "match[]
 * must contain at least one non-empty matcher"; the caller may rephrase.) */
int tr_promql_parse_selector(const char *s,
                             size_t n,
                             struct tr_matcher **out,
                             size_t *n_out,
                             char *errmsg);
void tr_promql_matchers_free(struct tr_matcher *m, size_t n);

#endif
