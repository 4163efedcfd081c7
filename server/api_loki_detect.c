/* api_loki_detect.c - the Loki endpoints Grafana's Logs Drilldown uses to
 * explore lines: /loki/api/v1/detected_fields, /detected_field/<name>/values
 * and /loki/api/v1/patterns.
 *
 * detected_fields reads the newest `line_limit` (1,000) lines of the query
 * (a log query: its pipeline runs) and lists the fields found in them: the
 * keys of JSON lines (nested keys joined with '_', with their JSON path) or
 * logfmt lines, and structured metadata, each with a type guessed from its
 * values as Loki does (boolean, int, float, duration, bytes, else string),
 * its cardinality among the lines read, and the parsers that found it:
 *   {"fields":[{"label":"status","type":"int","cardinality":3,
 *               "parsers":["logfmt"]}, ...], "limit":1000}
 * (structured metadata has "parsers": null). detected_field/<name>/values
 * answers {"values":[...], "limit":1000} from the same lines.
 *
 * patterns mines the query's lines in [start, end) (at most
 * PATTERN_MAX_LINES, newest first) with Drain (query/logql/patterns.h) in
 * buckets of `step` and answers {"status":"success","data":[{"pattern":..,
 * "level":..,"samples":[[<unix s>,<count>],...]}]} ("<" and ">" escaped as
 * Loki's encoder does). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cluster/cluster.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/jsonparse.h"
#include "query/logql/convert.h"
#include "query/logql/eval.h"
#include "query/logql/parser.h"
#include "query/logql/patterns.h"
#include "server/app.h"
#include "server/loki_params.h"

#define DETECT_LINE_LIMIT 1000
#define DETECT_FIELD_LIMIT 1000
#define DETECT_MAX_VALUES 5000 /* distinct values kept per field */
#define PATTERN_MAX_LINES 100000

enum { T_BOOL = 1, T_INT = 2, T_FLOAT = 4, T_DURATION = 8, T_BYTES = 16 };
enum { P_JSON = 1, P_LOGFMT = 2, P_META = 4 };

struct field {
    char *name;      /* heap */
    char *json_path; /* heap: JSON path as "a\0b\0" pieces, or NULL */
    size_t path_len; /* bytes of json_path */
    unsigned types;  /* T_* every value parses as (starts all set) */
    unsigned parsers;
    char **values; /* distinct values (heap), at most DETECT_MAX_VALUES */
    size_t n_values, cap_values;
};

struct fields {
    struct field *v;
    size_t n, cap;
};

static void fields__free(struct fields *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        for (size_t k = 0; k < fs->v[i].n_values; k++) {
            tr_free(fs->v[i].values[k]);
        }
        tr_free(fs->v[i].values);
        tr_free(fs->v[i].name);
        tr_free(fs->v[i].json_path);
    }
    tr_free(fs->v);
}

static unsigned detect__types(const char *v, size_t n)
{
    unsigned t = 0;
    if ((n == 4 && strncasecmp(v, "true", 4) == 0) ||
        (n == 5 && strncasecmp(v, "false", 5) == 0)) {
        t |= T_BOOL;
    }
    char buf[64];
    if (n > 0 && n < sizeof(buf)) {
        memcpy(buf, v, n);
        buf[n] = '\0';
        char *e;
        (void)strtoll(buf, &e, 10);
        if (*e == '\0') {
            t |= T_INT;
        }
        double f;
        if (tr_logql_parse_float(v, n, &f, NULL) == 0) {
            t |= T_FLOAT;
        }
        int64_t d;
        if (tr_logql_parse_duration(v, n, &d, NULL) == 0) {
            t |= T_DURATION;
        }
        uint64_t b;
        /* a bytes value has a unit: a plain number is a number */
        if ((t & T_FLOAT) == 0 && tr_logql_parse_bytes(v, n, &b, NULL) == 0) {
            t |= T_BYTES;
        }
    }
    return t;
}

static const char *detect__type_name(unsigned t)
{
    return (t & T_BOOL)       ? "boolean"
           : (t & T_INT)      ? "int"
           : (t & T_FLOAT)    ? "float"
           : (t & T_DURATION) ? "duration"
           : (t & T_BYTES)    ? "bytes"
                              : "string";
}

/* Records one value of field name (found by parser p; JSON path pieces in
 * path, may be NULL). */
static int detect__add(struct fields *fs,
                       const char *name,
                       size_t nlen,
                       const char *val,
                       size_t vlen,
                       unsigned p,
                       const char *path,
                       size_t path_len)
{
    struct field *f = NULL;
    for (size_t i = 0; i < fs->n; i++) {
        if (strlen(fs->v[i].name) == nlen &&
            memcmp(fs->v[i].name, name, nlen) == 0) {
            f = &fs->v[i];
            break;
        }
    }
    if (f == NULL) {
        if (fs->n >= DETECT_FIELD_LIMIT) {
            return 0;
        }
        if (fs->n == fs->cap) {
            struct field *nv = tr_array_grow(fs->v, &fs->cap, sizeof(*nv), 32);
            if (nv == NULL) {
                return TR_ENOMEM;
            }
            fs->v = nv;
        }
        f = &fs->v[fs->n++];
        memset(f, 0, sizeof(*f));
        f->name = tr_strndup(name, nlen);
        f->types = T_BOOL | T_INT | T_FLOAT | T_DURATION | T_BYTES;
        if (path != NULL) {
            f->json_path = tr_malloc(path_len ? path_len : 1);
            if (f->json_path != NULL) {
                memcpy(f->json_path, path, path_len);
                f->path_len = path_len;
            }
        }
        if (f->name == NULL) {
            return TR_ENOMEM;
        }
    }
    f->parsers |= p;
    f->types &= detect__types(val, vlen);
    for (size_t k = 0; k < f->n_values; k++) {
        if (strlen(f->values[k]) == vlen && memcmp(f->values[k], val, vlen) == 0) {
            return 0;
        }
    }
    if (f->n_values >= DETECT_MAX_VALUES) {
        return 0;
    }
    if (f->n_values == f->cap_values) {
        char **nv = tr_array_grow(f->values, &f->cap_values, sizeof(*nv), 16);
        if (nv == NULL) {
            return TR_ENOMEM;
        }
        f->values = nv;
    }
    f->values[f->n_values] = tr_strndup(val, vlen);
    return f->values[f->n_values++] != NULL ? 0 : TR_ENOMEM;
}

/* The fields of one JSON object (token obj) under prefix / path. */
static int detect__json(struct fields *fs,
                        const struct tr_sjson *d,
                        long obj,
                        struct tr_buf *prefix,
                        struct tr_buf *path,
                        struct tr_arena *a,
                        int depth)
{
    const struct tr_sjson_tok *t = &d->toks[obj];
    long k = obj + 1;
    int rv = 0;
    for (uint32_t i = 0; i < t->n && rv == 0; i++) {
        long v = k + 1;
        struct tr_slice key;
        if (tr_sjson_string(d, k, a, &key) != 0) {
            return 0;
        }
        size_t pl = prefix->len, hl = path->len;
        if (pl > 0) {
            tr_buf_putc(prefix, '_');
        }
        for (size_t c = 0; c < key.len; c++) {
            char ch = key.base[c];
            bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '_';
            tr_buf_putc(prefix, ok ? ch : '_');
        }
        tr_buf_append(path, key.base, key.len);
        tr_buf_putc(path, '\0');
        const struct tr_sjson_tok *vt = &d->toks[v];
        if (vt->type == TR_SJSON_OBJECT && depth < 16) {
            rv = detect__json(fs, d, v, prefix, path, a, depth + 1);
        } else if (vt->type != TR_SJSON_ARRAY && vt->type != TR_SJSON_OBJECT) {
            struct tr_slice val;
            if (vt->type == TR_SJSON_STRING) {
                if (tr_sjson_string(d, v, a, &val) != 0) {
                    val = (struct tr_slice){"", 0};
                }
            } else {
                val = (struct tr_slice){d->text + vt->start, vt->len};
            }
            rv = detect__add(fs, prefix->data, prefix->len, val.base, val.len,
                             P_JSON, path->data, path->len);
        }
        prefix->len = pl;
        path->len = hl;
        k = (long)d->toks[v].next;
    }
    return rv;
}

/* key=value pairs of a logfmt line (quoted values unescaped loosely). */
static int detect__logfmt(struct fields *fs, struct tr_slice l)
{
    const char *p = l.base, *end = l.base + l.len;
    int rv = 0;
    while (p < end && rv == 0) {
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        const char *ks = p;
        while (p < end && *p != '=' && *p != ' ' && *p != '\t') {
            p++;
        }
        size_t klen = (size_t)(p - ks);
        if (p >= end || *p != '=' || klen == 0) {
            if (p < end) {
                p++;
            }
            continue;
        }
        p++;
        const char *vs = p;
        size_t vlen;
        if (p < end && *p == '"') {
            vs = ++p;
            while (p < end && *p != '"') {
                p += *p == '\\' ? 2 : 1;
            }
            vlen = (size_t)((p < end ? p : end) - vs);
            p++;
        } else {
            while (p < end && *p != ' ' && *p != '\t') {
                p++;
            }
            vlen = (size_t)(p - vs);
        }
        char name[256];
        size_t nl = klen < sizeof(name) ? klen : sizeof(name) - 1;
        for (size_t c = 0; c < nl; c++) {
            char ch = ks[c];
            bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '_';
            name[c] = ok ? ch : '_';
        }
        rv = detect__add(fs, name, nl, vs, vlen, P_LOGFMT, NULL, 0);
    }
    return rv;
}

/* Reads the query's newest lines and collects their fields. */
static int detect__collect(const struct tr_http_request *req,
                           struct tr_http_response *resp,
                           struct tr_loki_req *lr,
                           struct fields *fs)
{
    struct tr_app *app = req->app;
    const char *q = tr_http_form_get(req, "query");
    if (q == NULL || q[0] == '\0') {
        tr_http_resp_text(resp, 400, "query parameter is required");
        return -1;
    }
    size_t line_limit = DETECT_LINE_LIMIT;
    const char *ll = tr_http_form_get(req, "line_limit");
    if (ll != NULL && ll[0] != '\0') {
        char *e;
        long long v = strtoll(ll, &e, 10);
        if (*e != '\0' || v <= 0 || v > TR_LOKI_MAX_ENTRIES) {
            tr_http_resp_text(resp, 400, "invalid line_limit parameter");
            return -1;
        }
        line_limit = (size_t)v;
    }
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    struct tr_logql_expr *e = NULL;
    char err[TR_ERRMSG_SIZE];
    int rv = tr_logql_parse(q, strlen(q), &a, &e, err);
    if (rv == 0 && tr_logql_is_metric(e)) {
        rv = tr_errf(TR_EINVAL, err, "detected fields need a log query");
    }
    struct tr_logql_streams r;
    struct tr_logql_opts opts = {0};
    opts.categorize_labels = true;
    opts.deadline_mono_ns =
        tr_mono_ns() + app->cfg->query_timeout_ms * 1000000;
    if (rv == 0) {
        rv = tr_logql_select_logs(tr_cluster_log_source(app->cluster),
                                  tr_slice_cstr(lr->tenant), e, lr->start,
                                  lr->end, line_limit, TR_LOG_BACKWARD, &opts,
                                  &a, &r, err);
    }
    struct tr_buf prefix, path;
    tr_buf_init(&prefix);
    tr_buf_init(&path);
    for (size_t i = 0; rv == 0 && i < r.n_streams; i++) {
        for (size_t k = 0; rv == 0 && k < r.streams[i].n_entries; k++) {
            const struct tr_logql_entry *en = &r.streams[i].entries[k];
            for (size_t m = 0; rv == 0 && m < en->n_meta; m++) {
                rv = detect__add(fs, en->meta[m].name.base, en->meta[m].name.len,
                                 en->meta[m].value.base,
                                 en->meta[m].value.len, P_META, NULL, 0);
            }
            struct tr_slice l = en->line;
            if (l.len > 1 && l.base[0] == '{') {
                struct tr_sjson d;
                if (tr_sjson_parse(&d, l.base, l.len) == 0 &&
                    d.toks[0].type == TR_SJSON_OBJECT) {
                    tr_buf_reset(&prefix);
                    tr_buf_reset(&path);
                    rv = detect__json(fs, &d, 0, &prefix, &path, &a, 0);
                }
                tr_sjson_free(&d);
            } else if (memchr(l.base, '=', l.len) != NULL) {
                rv = detect__logfmt(fs, l);
            }
        }
    }
    tr_buf_free(&prefix);
    tr_buf_free(&path);
    tr_logql_ast_free(e);
    tr_arena_free(&a);
    if (rv != 0) {
        tr_loki_error(resp, rv, rv == TR_ENOMEM ? "out of memory" : err);
        return -1;
    }
    return 0;
}

/* GET /loki/api/v1/detected_fields */
void tr_api_loki_detected_fields(const struct tr_http_request *req,
                                 struct tr_http_response *resp)
{
    struct tr_loki_req lr;
    struct fields fs = {0};
    if (tr_loki_req_init(req, resp, &lr) != 0 ||
        detect__collect(req, resp, &lr, &fs) != 0) {
        fields__free(&fs);
        return;
    }
    struct tr_json j;
    tr_buf_reset(&resp->body);
    tr_json_init(&j, &resp->body);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "fields");
    tr_json_arr_begin(&j);
    for (size_t i = 0; i < fs.n; i++) {
        const struct field *f = &fs.v[i];
        tr_json_obj_begin(&j);
        tr_json_key(&j, "label");
        tr_json_str(&j, f->name);
        tr_json_key(&j, "type");
        tr_json_str(&j, detect__type_name(f->types));
        tr_json_key(&j, "cardinality");
        tr_json_uint(&j, f->n_values);
        tr_json_key(&j, "parsers");
        if ((f->parsers & (P_JSON | P_LOGFMT)) == 0) {
            tr_json_null(&j);
        } else {
            tr_json_arr_begin(&j);
            if (f->parsers & P_JSON) {
                tr_json_str(&j, "json");
            }
            if (f->parsers & P_LOGFMT) {
                tr_json_str(&j, "logfmt");
            }
            tr_json_arr_end(&j);
        }
        if (f->json_path != NULL) {
            tr_json_key(&j, "jsonPath");
            tr_json_arr_begin(&j);
            for (size_t o = 0; o < f->path_len;) {
                size_t n = strnlen(f->json_path + o, f->path_len - o);
                tr_json_str_n(&j, f->json_path + o, n);
                o += n + 1;
            }
            tr_json_arr_end(&j);
        }
        tr_json_obj_end(&j);
    }
    tr_json_arr_end(&j);
    tr_json_key(&j, "limit");
    tr_json_int(&j, DETECT_FIELD_LIMIT);
    tr_json_obj_end(&j);
    resp->content_type = "application/json";
    fields__free(&fs);
}

static int detect__str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* GET /loki/api/v1/detected_field/<name>/values */
void tr_api_loki_detected_field_values(const struct tr_http_request *req,
                                       struct tr_http_response *resp)
{
    struct tr_loki_req lr;
    struct fields fs = {0};
    if (tr_loki_req_init(req, resp, &lr) != 0 ||
        detect__collect(req, resp, &lr, &fs) != 0) {
        fields__free(&fs);
        return;
    }
    struct tr_slice want = req->params[0];
    struct tr_json j;
    tr_buf_reset(&resp->body);
    tr_json_init(&j, &resp->body);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "values");
    tr_json_arr_begin(&j);
    for (size_t i = 0; i < fs.n; i++) {
        struct field *f = &fs.v[i];
        if (strlen(f->name) != want.len ||
            memcmp(f->name, want.base, want.len) != 0) {
            continue;
        }
        qsort(f->values, f->n_values, sizeof(*f->values), detect__str_cmp);
        for (size_t k = 0; k < f->n_values; k++) {
            tr_json_str(&j, f->values[k]);
        }
    }
    tr_json_arr_end(&j);
    tr_json_key(&j, "limit");
    tr_json_int(&j, DETECT_FIELD_LIMIT);
    tr_json_obj_end(&j);
    resp->content_type = "application/json";
    fields__free(&fs);
}

/* A pattern with '<', '>' and '&' escaped as Loki's encoder writes it. */
static void pattern__str(struct tr_buf *b, const char *s, size_t n)
{
    struct tr_buf tmp;
    tr_buf_init(&tmp);
    tr_json_escape(&tmp, s, n);
    tr_buf_putc(b, '"');
    for (size_t i = 0; i < tmp.len; i++) {
        char c = tmp.data[i];
        if (c == '<') {
            tr_buf_puts(b, "\\u003c");
        } else if (c == '>') {
            tr_buf_puts(b, "\\u003e");
        } else if (c == '&') {
            tr_buf_puts(b, "\\u0026");
        } else {
            tr_buf_putc(b, c);
        }
    }
    tr_buf_putc(b, '"');
    tr_buf_free(&tmp);
}

/* Most lines first. */
static int pattern__cmp(const void *a, const void *b)
{
    const struct tr_drain_pattern *x = a, *y = b;
    return x->total > y->total ? -1 : x->total < y->total;
}

/* GET /loki/api/v1/patterns */
void tr_api_loki_patterns(const struct tr_http_request *req,
                          struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    struct tr_loki_req lr;
    if (tr_loki_req_init(req, resp, &lr) != 0) {
        return;
    }
    const char *q = tr_http_form_get(req, "query");
    if (q == NULL || q[0] == '\0') {
        tr_http_resp_text(resp, 400, "query parameter is required");
        return;
    }
    int64_t step = (lr.end - lr.start) / 250 / 1000000000 * 1000000000;
    if (step < 10LL * 1000000000) {
        step = 10LL * 1000000000;
    }
    const char *st = tr_http_form_get(req, "step");
    if (st != NULL && st[0] != '\0' &&
        (tr_loki_parse_duration(st, &step) != 0 || step <= 0)) {
        tr_http_resp_text(resp, 400, "invalid step parameter");
        return;
    }
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    struct tr_logql_expr *e = NULL;
    char err[TR_ERRMSG_SIZE];
    int rv = tr_logql_parse(q, strlen(q), &a, &e, err);
    if (rv == 0 && tr_logql_is_metric(e)) {
        rv = tr_errf(TR_EINVAL, err, "patterns need a stream selector");
    }
    struct tr_logql_streams r;
    struct tr_logql_opts opts = {0};
    opts.categorize_labels = true;
    opts.deadline_mono_ns =
        tr_mono_ns() + app->cfg->query_timeout_ms * 1000000;
    if (rv == 0) {
        rv = tr_logql_select_logs(tr_cluster_log_source(app->cluster),
                                  tr_slice_cstr(lr.tenant), e, lr.start,
                                  lr.end, PATTERN_MAX_LINES, TR_LOG_BACKWARD,
                                  &opts, &a, &r, err);
    }
    struct tr_drain_config cfg;
    tr_drain_config_default(&cfg);
    cfg.bucket_ns = step;
    /* one miner per stream, as Loki's pattern ingester (a stream's format
     * is guessed from its first line); lines oldest first */
    struct tr_drain_pattern *ps = NULL;
    size_t np = 0, cap = 0;
    for (size_t i = 0; rv == 0 && i < r.n_streams; i++) {
        const struct tr_logql_stream *s = &r.streams[i];
        struct tr_drain *d = NULL;
        rv = tr_drain_new(&cfg, &d, err);
        for (size_t k = s->n_entries; rv == 0 && k-- > 0;) {
            const struct tr_logql_entry *en = &s->entries[k];
            struct tr_slice level = {"", 0};
            for (size_t m = 0; m < en->n_meta; m++) {
                if (tr_slice_eq_cstr(en->meta[m].name, "detected_level")) {
                    level = en->meta[m].value;
                }
            }
            int arv = tr_drain_add_level(d, en->ts, level, en->line.base,
                                         en->line.len);
            rv = arv == TR_ENOMEM ? arv : 0;
        }
        struct tr_drain_pattern *one = NULL;
        size_t n1 = 0;
        if (rv == 0) {
            rv = tr_drain_patterns(d, &a, &one, &n1);
        }
        tr_drain_free(d);
        for (size_t k = 0; rv == 0 && k < n1; k++) {
            if (np == cap) {
                struct tr_drain_pattern *nps =
                    tr_arena_array_grow(&a, ps, np, &cap, sizeof(*nps), 32);
                if (nps == NULL) {
                    rv = TR_ENOMEM;
                    break;
                }
                ps = nps;
            }
            ps[np++] = one[k];
        }
    }
    if (np > 1) {
        qsort(ps, np, sizeof(*ps), pattern__cmp);
    }
    if (rv != 0) {
        tr_loki_error(resp, rv, rv == TR_ENOMEM ? "out of memory" : err);
    } else {
        tr_buf_reset(&resp->body);
        tr_buf_puts(&resp->body, "{\"status\":\"success\",\"data\":[");
        for (size_t i = 0; i < np; i++) {
            tr_buf_puts(&resp->body, i ? ",{\"pattern\":" : "{\"pattern\":");
            pattern__str(&resp->body, ps[i].pattern, ps[i].pattern_len);
            tr_buf_printf(&resp->body, ",\"level\":\"%s\",\"samples\":[",
                          ps[i].level);
            for (size_t k = 0; k < ps[i].n_samples; k++) {
                tr_buf_printf(&resp->body, "%s[%" PRId64 ",%" PRIu64 "]",
                              k ? "," : "",
                              ps[i].samples[k].ts_ns / 1000000000,
                              ps[i].samples[k].count);
            }
            tr_buf_puts(&resp->body, "]}");
        }
        tr_buf_puts(&resp->body, "]}");
        resp->content_type = "application/json";
    }
    tr_logql_ast_free(e);
    tr_arena_free(&a);
}
