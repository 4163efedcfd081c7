/* template_int.h - the parsed form of a Go text/template and the value
 * model of its execution, shared by template.c (parser), template_exec.c
 * (evaluation) and template_funcs.c (the function map). */
#ifndef TR_QUERY_LOGQL_TEMPLATE_INT_H
#define TR_QUERY_LOGQL_TEMPLATE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "query/logql/stages.h"
#include "query/logql/template.h"

#define TT_MAX_OUTPUT (1u << 20) /* bytes one execution may write */
#define TT_MAX_DEPTH 64          /* nesting of parentheses and blocks */
#define TT_MAX_STEPS 200000      /* nodes one execution may run */

/* ---- parse tree -----------------------------------------------------------
 */

enum tt_node_kind {
    TT_TEXT,
    TT_ACTION,
    TT_IF,
    TT_WITH,
    TT_RANGE,
    TT_BREAK,
    TT_CONTINUE,
};

struct tt_node;
struct tt_list {
    struct tt_node **v;
    size_t n;
    size_t cap;
};

struct tt_pipe;

enum tt_arg_kind {
    TA_DOT,   /* .            */
    TA_FIELD, /* .a.b         (fields) */
    TA_VAR,   /* $x.a         (s = "$x", fields) */
    TA_STR,   /* "..." `...` (s = decoded) */
    TA_NUM,   /* 1 1.5 'c'    */
    TA_BOOL,
    TA_NIL,
    TA_FUNC, /* identifier   (fn) */
    TA_PIPE, /* (pipeline).a (pipe, fields) */
};

struct tt_arg {
    enum tt_arg_kind kind;
    size_t pos;        /* byte offset in the source, for messages */
    struct tr_slice s; /* STR value, VAR name, FUNC name, source text */
    bool is_int;       /* NUM: an integer constant */
    bool is_float;     /* NUM: usable as a float */
    int64_t i;
    double f;
    bool b; /* BOOL */
    int fn; /* FUNC: index into the function table */
    struct tr_slice *fields;
    size_t n_fields;
    struct tt_pipe *pipe;
};

struct tt_cmd {
    struct tt_arg **args;
    size_t n;
    size_t cap;
    size_t pos;
    size_t end; /* where the command's text ends */
};

struct tt_pipe {
    bool decl;   /* $x := */
    bool assign; /* $x = */
    struct tr_slice vars[2];
    size_t n_vars;
    struct tt_cmd **cmds;
    size_t n;
    size_t cap;
    size_t pos;
};

struct tt_node {
    enum tt_node_kind kind;
    size_t pos;
    struct tr_slice text; /* TEXT */
    struct tt_pipe *pipe; /* ACTION, IF, WITH, RANGE */
    struct tt_list list;
    struct tt_list else_list;
};

struct tr_logql_template {
    struct tr_arena arena; /* every node and string */
    char *name;            /* "line" or "label" (arena) */
    const char *src;       /* copy of the source (arena) */
    size_t len;
    struct tt_list root;
    struct tr_slice simple_key;
};

/* Line number (1-based) of byte offset pos in t's source. */
int tt_line_of(const struct tr_logql_template *t, size_t pos);

/* ---- values ----------------------------------------------------------------
 */

enum tt_val_kind {
    TV_INVALID, /* <no value> */
    TV_NIL,
    TV_STR,
    TV_INT,
    TV_FLOAT,
    TV_BOOL,
    TV_TIME,
    TV_MAP,  /* the label map (dot) */
    TV_JSON, /* a fromJson object or array: its raw text in s */
};

struct tt_val {
    enum tt_val_kind kind;
    bool b;
    int64_t i;         /* INT; TIME: seconds since the epoch */
    double f;          /* FLOAT */
    int32_t nsec;      /* TIME */
    struct tr_slice s; /* STR, JSON */
};

/* Execution state. */
struct tt_var {
    struct tr_slice name;
    struct tt_val v;
};

struct tt_exec {
    const struct tr_logql_template *t;
    struct tr_logql_lb *lb;
    const struct tr_logql_label *labels; /* the dot map, sorted */
    size_t n_labels;
    struct tr_slice line;
    struct tr_buf *out;
    char *errmsg;
    struct tt_var *vars;
    size_t n_vars;
    size_t cap_vars;
    int depth;
    size_t steps;       /* nodes run so far (TT_MAX_STEPS) */
    bool brk;           /* break pending */
    bool cont;          /* continue pending */
    size_t pos;         /* position of the node being run, for messages */
    struct tr_slice at; /* source text of the command being run */
};

/* A function of the map: n args in a (already evaluated); the result in
 * *out. 0, or TR_EEXEC after writing the error text (without the
 * "template: ..." prefix) with tt_fail. */
typedef int (*tt_fn)(struct tt_exec *x,
                     const struct tt_val *a,
                     size_t n,
                     struct tt_val *out);

struct tt_func {
    const char *name;
    int min_args;
    int max_args; /* -1: variadic */
    tt_fn fn;
};

/* The string/regex half of the function map (template_strfuncs.c). */
extern const struct tt_func tt_str_funcs[];
extern const size_t tt_n_str_funcs;

/* Function table lookup by name: index or -1. */
int tt_func_find(const char *name, size_t len);
const struct tt_func *tt_func_at(int i);
/* Index of the builtins the evaluator handles itself. */
bool tt_func_is(int i, const char *name);

/* Records an execution error: errmsg = "template: NAME:LINE:COL: executing
 * \"NAME\" at <CMD>: MSG". Returns TR_EEXEC. */
int tt_fail(struct tt_exec *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends the Go fmt.Sprint form of v. */
int tt_print(struct tt_exec *x, struct tr_buf *b, const struct tt_val *v);
/* A string value in the entry arena. */
struct tt_val tt_str(struct tt_exec *x, const char *s, size_t n);
/* Go's truth of v (if/with/and/or/not). */
bool tt_truth(const struct tt_val *v);
/* Field lookup on a map / JSON value. */
int tt_field(struct tt_exec *x,
             const struct tt_val *v,
             struct tr_slice name,
             struct tt_val *out);
/* Go's fmt.Sprintf over values (the printf builtin). */
int tt_sprintf(struct tt_exec *x,
               struct tr_buf *b,
               struct tr_slice fmt,
               const struct tt_val *a,
               size_t n);
/* Shortest Go %v of a float64. */
void tt_fmt_float(char *buf, size_t size, double f);
/* Go's Time.Format(layout) in UTC. */
int tt_time_format(struct tr_buf *b,
                   struct tr_slice layout,
                   int64_t sec,
                   int32_t nsec);
/* Go's time.Parse(layout, value) (UTC); false when it does not parse. */
bool tt_time_parse(struct tr_slice layout,
                   struct tr_slice value,
                   int64_t *sec,
                   int32_t *nsec);

/* Calls each(key, value) for the members of the fromJson value v (object
 * keys as strings, array indexes as ints) until *stop; *count gets how
 * many were visited. */
int tt_json_foreach(struct tt_exec *x,
                    const struct tt_val *v,
                    int (*each)(struct tt_exec *,
                                const struct tt_val *,
                                const struct tt_val *,
                                void *,
                                bool *),
                    void *arg,
                    size_t *count);

/* The member key of a JSON object, or element index of a JSON array, in
 * *out (*found false when absent: out is then <no value>). */
int tt_json_find(struct tt_exec *x,
                 const struct tt_val *v,
                 struct tr_slice key,
                 int64_t index,
                 struct tt_val *out,
                 bool *found);
/* sprig's fromJson: the value of JSON text s (nil when it is not JSON). */
struct tt_val tt_json_parse(struct tt_exec *x, struct tr_slice s);
/* Go's type name of v for messages ("string", "int", ...). */
const char *tt_type_name(const struct tt_val *v);
struct tt_val tt_mk_int(int64_t i);
struct tt_val tt_mk_float(double f);
struct tt_val tt_mk_bool(bool b);
/* Runes in s, and the byte length of its first n runes. */
size_t tt_rune_count(const char *s, size_t n);
size_t tt_rune_prefix(const char *s, size_t n, size_t runes);

/* Argument checks of typed Go parameters: 0, or TR_EEXEC with Go's
 * "wrong type for value; expected string; got int". */
int tt_want_str(struct tt_exec *x, const struct tt_val *v, struct tr_slice *s);
int tt_want_int(struct tt_exec *x, const struct tt_val *v, int64_t *i);
/* *out = the string s (no copy); returns 0. */
int tt_ret_slice(struct tt_val *out, struct tr_slice s);

/* A string result built in the entry arena (at most TT_MAX_OUTPUT). */
struct tt_sb {
    struct tt_exec *x;
    char *p;
    size_t n;
    size_t cap;
};
/* False when out of memory (flag set) or over TT_MAX_OUTPUT. */
bool tt_sb_add(struct tt_sb *b, const char *s, size_t n);
/* *out = the built string; 0 or TR_ENOMEM. */
int tt_sb_done(struct tt_sb *b, struct tt_val *out);
/* Go's url.QueryEscape of s appended to b. */
void tt_query_escape(struct tt_sb *b, const char *s, size_t n);

/* Declares var as string / int argument i of a function (returning the
 * error on a wrong type). */
#define STR_ARG(i, var)                          \
    struct tr_slice var = {NULL, 0};             \
    do {                                         \
        int rc_ = tt_want_str(x, &a[(i)], &var); \
        if (rc_) {                               \
            return rc_;                          \
        }                                        \
    } while (0)

#define INT_ARG(i, var)                          \
    int64_t var = 0;                             \
    do {                                         \
        int rc_ = tt_want_int(x, &a[(i)], &var); \
        if (rc_) {                               \
            return rc_;                          \
        }                                        \
    } while (0)

/* Runs t over labels (a snapshot of the map). See tr_logql_template_exec. */
int tt_exec_labels(const struct tr_logql_template *t,
                   struct tr_logql_lb *lb,
                   const struct tr_logql_label *labels,
                   size_t n_labels,
                   struct tr_slice line,
                   struct tr_buf *out,
                   char *errmsg);

#endif
