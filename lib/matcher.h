/* matcher.h - label matchers (=, !=, =~, !~) shared by every signal's
 * selectors. Regexes use PCRE2 with Prometheus/RE2 semantics: fully anchored
 * (^(?s:re)$ as Prometheus compiles them: '.' matches newline, '$' only at the
 * very end), UTF-8 mode, JIT where available. Literal and alternation-of-
 * literals regexes ("a|b|c") take a fast path without PCRE2. */
#ifndef TR_LIB_MATCHER_H
#define TR_LIB_MATCHER_H

#include <stdbool.h>
#include <stddef.h>

enum tr_match_type {
    TR_MATCH_EQ,  /* =  */
    TR_MATCH_NEQ, /* != */
    TR_MATCH_RE,  /* =~ */
    TR_MATCH_NRE, /* !~ */
};

struct tr_regex; /* opaque compiled regex */

struct tr_matcher {
    enum tr_match_type type;
    char *name;  /* owned (tr_malloc) */
    char *value; /* owned; the pattern for regex matchers */
    size_t value_len;
    struct tr_regex *re; /* owned; NULL for = and != */
};

/* Compiles a matcher; TR_EINVAL with a Prometheus-like message ("error
 * parsing regexp: ...") for a bad regex. */
int tr_matcher_init(struct tr_matcher *m,
                    enum tr_match_type type,
                    const char *name,
                    const char *value,
                    size_t value_len,
                    char *errmsg);
void tr_matcher_free(struct tr_matcher *m);
/* Does the label value s (len n; a missing label is "") satisfy m? Safe to
 * call from several threads at once. */
bool tr_matcher_matches(const struct tr_matcher *m, const char *s, size_t n);
/* True when m matches the empty string (then series without the label match
 * too, as in Prometheus). */
bool tr_matcher_matches_empty(const struct tr_matcher *m);
/* For regex matchers that are a set of literals ("a|b|c", "abc"), the
 * literals (pointers into an internal array) for postings look-ups;
 * returns the count or 0 when the regex is not such a set. */
size_t tr_matcher_literals(const struct tr_matcher *m,
                           const char *const **lits,
                           const size_t **lens);
/* "name=\"value\"" style rendering into buf (size n), for errors and logs. */
void tr_matcher_format(const struct tr_matcher *m, char *buf, size_t n);

/* Standalone anchored regex (for LogQL etc. too). */
/* anchored = true: Prometheus label semantics (fully anchored, '.' matches
 * newline); false: unanchored search as Go's regexp.MatchString (LogQL line
 * filters). Errors: TR_EINVAL ("error parsing regexp: <PCRE2 message> at
 * offset N: `pattern`"), TR_ENOMEM. *out owned by the caller. */
int tr_regex_compile(const char *pattern,
                     size_t len,
                     bool anchored,
                     struct tr_regex **out,
                     char *errmsg);
bool tr_regex_match(const struct tr_regex *re, const char *s, size_t n);
/* Same answer as tr_regex_match but always through PCRE2, bypassing the
 * literal/".*" fast paths (tests and benchmarks). */
bool tr_regex_match_pcre2(const struct tr_regex *re, const char *s, size_t n);
void tr_regex_free(struct tr_regex *re);

#endif
