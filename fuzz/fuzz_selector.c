/* fuzz_selector.c - libFuzzer driver for the match[] selector parser and the
 * PromQL lexer underneath it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/matcher.h"
#include "query/promql/lexer.h"
#include "query/promql/selector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    char err[TR_ERRMSG_SIZE];

    /* Lex everything: tokens stay in bounds and the lexer terminates. */
    struct tr_promql_lexer l;
    struct tr_promql_token t;
    tr_promql_lex_init(&l, s, size);
    for (size_t i = 0; i <= size + 1; i++) {
        if (tr_promql_lex_next(&l, &t, err) != 0 || t.type == TR_PROMQL_EOF) {
            break;
        }
        if (t.pos > size || t.len > size - t.pos) {
            abort();
        }
        if (t.type == TR_PROMQL_NUMBER) {
            double d;
            (void)tr_promql_parse_number(s + t.pos, t.len, &d);
        } else if (t.type == TR_PROMQL_DURATION) {
            int64_t ms;
            (void)tr_promql_parse_duration(s + t.pos, t.len, &ms, err);
        }
        if (i == size + 1) {
            abort(); /* more tokens than bytes */
        }
    }

    struct tr_matcher *m;
    size_t n;
    int rv = tr_promql_parse_selector(s, size, &m, &n, err);
    if (rv == 0) {
        if (n == 0) {
            abort();
        }
        for (size_t i = 0; i < n; i++) {
            char buf[128];
            tr_matcher_format(&m[i], buf, sizeof(buf));
            (void)tr_matcher_matches(&m[i], "abc", 3);
            (void)tr_matcher_matches_empty(&m[i]);
        }
        tr_promql_matchers_free(m, n);
    } else if (rv != TR_EINVAL && rv != TR_ENOMEM) {
        abort();
    } else if (strncmp(err, "1:", 2) != 0 &&
               strstr(err, ": parse error: ") == NULL) {
        abort(); /* every error carries a position */
    }
    return 0;
}
