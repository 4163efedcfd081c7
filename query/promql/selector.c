/* selector.c - series selector parser for match[] (see selector.h).
 *
 * Grammar (as Prometheus 2.53's START_METRIC_SELECTOR vector_selector):
 *
 *   selector  = metric [ braces ] | braces
 *   metric    = IDENT | METRIC_IDENT | by | and | or | unless | offset
 *             | without | start | end
 *   braces    = "{" [ matcher { "," matcher } [ "," ] ] "}"
 *   matcher   = IDENT ( "=" | "!=" | "=~" | "!~" ) STRING
 */
#include "query/promql/selector.h"

#include <stdio.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "query/promql/lexer.h"

struct sel_parser {
    struct tr_promql_lexer lex;
    const char *s;
    size_t n;
    char *errmsg;
    struct tr_matcher *m; /* matchers so far */
    size_t count;
    size_t cap;
};

/* Next non-comment token. */
static int next_tok(struct sel_parser *p, struct tr_promql_token *t)
{
    int rv;
    do {
        rv = tr_promql_lex_next(&p->lex, t, p->errmsg);
    } while (rv == 0 && t->type == TR_PROMQL_COMMENT);
    return rv;
}

static int unexpected(struct sel_parser *p,
                      const struct tr_promql_token *t,
                      const char *context,
                      const char *expected)
{
    char d[256];
    tr_promql_tok_desc(p->s, t, d, sizeof(d));
    return tr_promql_errf(p->errmsg, p->s, p->n, t->pos,
                          "unexpected %s%s%s%s%s", d, context ? " in " : "",
                          context ? context : "", expected ? ", expected " : "",
                          expected ? expected : "");
}

static int add_matcher(struct sel_parser *p,
                       enum tr_match_type type,
                       const char *name,
                       const char *value,
                       size_t value_len,
                       size_t pos)
{
    if (p->count == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 4;
        struct tr_matcher *nm = tr_realloc(p->m, ncap * sizeof(*nm));
        if (nm == NULL) {
            return tr_errf(TR_ENOMEM, p->errmsg, "out of memory");
        }
        p->m = nm;
        p->cap = ncap;
    }
    char msg[TR_ERRMSG_SIZE];
    int rv =
        tr_matcher_init(&p->m[p->count], type, name, value, value_len, msg);
    if (rv == TR_EINVAL) {
        return tr_promql_errf(p->errmsg, p->s, p->n, pos, "%s", msg);
    }
    if (rv != 0) {
        return tr_errf(rv, p->errmsg, "%s", msg);
    }
    p->count++;
    return 0;
}

static bool is_metric_name_tok(enum tr_promql_tok t)
{
    switch (t) {
        case TR_PROMQL_IDENT:
        case TR_PROMQL_METRIC_IDENT:
        case TR_PROMQL_BY:
        case TR_PROMQL_LAND:
        case TR_PROMQL_LOR:
        case TR_PROMQL_LUNLESS:
        case TR_PROMQL_OFFSET:
        case TR_PROMQL_WITHOUT:
        case TR_PROMQL_START:
        case TR_PROMQL_END:
            return true;
        default:
            return false;
    }
}

static int parse_braces(struct sel_parser *p)
{
    struct tr_promql_token t;
    struct tr_buf val;
    char name[256];
    char *lname = NULL;
    int rv;

    tr_buf_init(&val);
    for (;;) {
        if ((rv = next_tok(p, &t)) != 0) {
            goto out;
        }
        if (t.type == TR_PROMQL_RBRACE) {
            break; /* "{}" or a trailing comma */
        }
        if (t.type != TR_PROMQL_IDENT) {
            rv = unexpected(p, &t, "label matching", "identifier or \"}\"");
            goto out;
        }
        size_t lpos = t.pos;
        const char *lab = p->s + t.pos;
        size_t lab_len = t.len;
        if ((rv = next_tok(p, &t)) != 0) {
            goto out;
        }
        enum tr_match_type type;
        switch (t.type) {
            case TR_PROMQL_EQL:
                type = TR_MATCH_EQ;
                break;
            case TR_PROMQL_NEQ:
                type = TR_MATCH_NEQ;
                break;
            case TR_PROMQL_EQL_REGEX:
                type = TR_MATCH_RE;
                break;
            case TR_PROMQL_NEQ_REGEX:
                type = TR_MATCH_NRE;
                break;
            default:
                rv = unexpected(p, &t, "label matching",
                                "label matching operator");
                goto out;
        }
        if ((rv = next_tok(p, &t)) != 0) {
            goto out;
        }
        if (t.type != TR_PROMQL_STRING) {
            rv = unexpected(p, &t, "label matching", "string");
            goto out;
        }
        tr_buf_reset(&val);
        rv = tr_promql_unquote(p->s + t.pos, t.len, &val);
        if (rv == 0 && tr_buf_putc(&val, '\0') != 0) {
            rv = TR_ENOMEM;
        }
        if (rv != 0) {
            rv = rv == TR_ENOMEM ? tr_errf(rv, p->errmsg, "out of memory")
                                 : tr_promql_errf(p->errmsg, p->s, p->n, t.pos,
                                                  "error unquoting string");
            goto out;
        }
        const char *labz = lab;
        if (lab_len < sizeof(name)) {
            memcpy(name, lab, lab_len);
            name[lab_len] = '\0';
            labz = name;
        } else {
            lname = tr_strndup(lab, lab_len);
            if (lname == NULL) {
                rv = tr_errf(TR_ENOMEM, p->errmsg, "out of memory");
                goto out;
            }
            labz = lname;
        }
        rv = add_matcher(p, type, labz, val.data, val.len - 1, lpos);
        tr_free(lname);
        lname = NULL;
        if (rv != 0) {
            goto out;
        }
        if ((rv = next_tok(p, &t)) != 0) {
            goto out;
        }
        if (t.type == TR_PROMQL_RBRACE) {
            break;
        }
        if (t.type != TR_PROMQL_COMMA) {
            rv = unexpected(p, &t, "label matching", "\",\" or \"}\"");
            goto out;
        }
    }
    rv = 0;
out:
    tr_buf_free(&val);
    return rv;
}

void tr_promql_matchers_free(struct tr_matcher *m, size_t n)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        tr_matcher_free(&m[i]);
    }
    tr_free(m);
}

int tr_promql_parse_selector(const char *s,
                             size_t n,
                             struct tr_matcher **out,
                             size_t *n_out,
                             char *errmsg)
{
    struct sel_parser p;
    struct tr_promql_token t;
    int rv;
    bool have_name = false;
    size_t sel_pos;
    char *mname = NULL;

    *out = NULL;
    *n_out = 0;
    memset(&p, 0, sizeof(p));
    p.s = s != NULL ? s : "";
    p.n = s != NULL ? n : 0;
    p.errmsg = errmsg;
    tr_promql_lex_init(&p.lex, p.s, p.n);

    if ((rv = next_tok(&p, &t)) != 0) {
        goto err;
    }
    sel_pos = t.pos;
    if (is_metric_name_tok(t.type)) {
        mname = tr_strndup(p.s + t.pos, t.len);
        if (mname == NULL) {
            rv = tr_errf(TR_ENOMEM, errmsg, "out of memory");
            goto err;
        }
        if ((rv = add_matcher(&p, TR_MATCH_EQ, "__name__", mname, t.len,
                              t.pos)) != 0) {
            goto err;
        }
        have_name = true;
        if ((rv = next_tok(&p, &t)) != 0) {
            goto err;
        }
        if (t.type == TR_PROMQL_LBRACE) {
            if ((rv = parse_braces(&p)) != 0) {
                goto err;
            }
            if ((rv = next_tok(&p, &t)) != 0) {
                goto err;
            }
        }
    } else if (t.type == TR_PROMQL_LBRACE) {
        if ((rv = parse_braces(&p)) != 0) {
            goto err;
        }
        if ((rv = next_tok(&p, &t)) != 0) {
            goto err;
        }
    } else {
        rv = unexpected(&p, &t, NULL, NULL);
        goto err;
    }
    if (t.type != TR_PROMQL_EOF) {
        rv = unexpected(&p, &t, NULL, NULL);
        goto err;
    }

    if (have_name) {
        for (size_t i = 1; i < p.count; i++) {
            if (strcmp(p.m[i].name, "__name__") == 0) {
                char a[300], b[300];
                /* Go's %q; names and values are short in practice. */
                snprintf(a, sizeof(a), "\"%s\"", mname);
                snprintf(b, sizeof(b), "\"%.*s\"", (int)p.m[i].value_len,
                         p.m[i].value);
                rv = tr_promql_errf(errmsg, p.s, p.n, sel_pos,
                                    "metric name must not be set twice: %s "
                                    "or %s",
                                    a, b);
                goto err;
            }
        }
    } else {
        bool non_empty = false;
        for (size_t i = 0; i < p.count; i++) {
            if (!tr_matcher_matches_empty(&p.m[i])) {
                non_empty = true;
                break;
            }
        }
        if (!non_empty) {
            rv = tr_promql_errf(errmsg, p.s, p.n, sel_pos,
                                "vector selector must contain at least one "
                                "non-empty matcher");
            goto err;
        }
    }
    tr_free(mname);
    *out = p.m;
    *n_out = p.count;
    return 0;

err:
    tr_free(mname);
    tr_promql_matchers_free(p.m, p.count);
    return rv;
}
