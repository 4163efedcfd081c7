/* pattern_int.h - the compiled form of a Loki pattern expression, shared by
 * pattern.c (compile, test) and parsers.c (the pattern parser). */
#ifndef TR_QUERY_LOGQL_PATTERN_INT_H
#define TR_QUERY_LOGQL_PATTERN_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

/* One node: a literal run or a capture <name> (<_> is unnamed). */
struct tr_logql_pnode {
    bool capture;
    bool named;    /* a capture other than <_> */
    const char *s; /* literal bytes or the capture name, in text */
    size_t len;
};

struct tr_logql_pattern {
    char *text; /* owned copy of the source */
    struct tr_logql_pnode *nodes;
    size_t n;
    size_t cap;
    size_t n_named; /* named captures, in node order */
};

/* Loki's Matcher.Matches: the named captures of in (slices into in) into
 * caps (room for p->n_named); a line that ends early fills only the leading
 * captures. Returns how many were filled. */
size_t tr_logql_pattern_matches(const struct tr_logql_pattern *p,
                                const char *in,
                                size_t n,
                                struct tr_slice *caps);

#endif
