/* status_cmd.c - `triad status [--verify]`: the
 * tables printed from GET /api/v1/status/cluster (and, with --verify, from
 * POST /api/v1/admin/cluster/verify), and the command itself. */
#include "cluster/status_cmd.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/jsonparse.h"

/* ---- tables -----------------------------------------------------------------
 */

#define ST_MAX_COLS 9

struct st_table {
    size_t ncols;
    const char *head[ST_MAX_COLS];
    bool right[ST_MAX_COLS]; /* right-aligned (numbers) */
    char **cells;            /* nrows * ncols, owned */
    size_t nrows, cap;
    bool oom;
};

static void st__init(struct st_table *t,
                     size_t ncols,
                     const char *const *head,
                     const bool *right)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    for (size_t i = 0; i < ncols; i++) {
        t->head[i] = head[i];
        t->right[i] = right[i];
    }
}

static void st__free(struct st_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++) {
        tr_free(t->cells[i]);
    }
    tr_free(t->cells);
}

/* A copy of s fit for a terminal: control characters become '?'. */
static char *st__cell(const char *s)
{
    size_t n = strlen(s);
    char *c = tr_malloc(n + 1);
    if (c == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        c[i] = (ch < 0x20 || ch == 0x7F) ? '?' : (char)ch;
    }
    c[n] = '\0';
    return c;
}

static void st__row(struct st_table *t, const char *const *vals)
{
    if (t->oom) {
        return;
    }
    if (t->nrows == t->cap) {
        char **cells =
            tr_array_grow(t->cells, &t->cap, t->ncols * sizeof(char *), 16);
        if (cells == NULL) {
            t->oom = true;
            return;
        }
        t->cells = cells;
    }
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        row[i] = st__cell(vals[i] ? vals[i] : "");
        if (row[i] == NULL) {
            for (size_t k = 0; k < i; k++) {
                tr_free(row[k]);
            }
            t->oom = true;
            return;
        }
    }
    t->nrows++;
}

/* Display width: UTF-8 code points (continuation bytes do not count). */
static size_t st__width(const char *s)
{
    size_t w = 0;
    for (; *s; s++) {
        if (((unsigned char)*s & 0xC0) != 0x80) {
            w++;
        }
    }
    return w;
}

static void st__line(FILE *out,
                     const struct st_table *t,
                     const size_t *widths,
                     const char *const *vals)
{
    for (size_t i = 0; i < t->ncols; i++) {
        size_t w = st__width(vals[i]);
        size_t pad = widths[i] > w ? widths[i] - w : 0;
        bool last = i + 1 == t->ncols;
        if (t->right[i]) {
            fprintf(out, "%*s%s", (int)pad, "", vals[i]);
        } else {
            fputs(vals[i], out);
            if (!last) {
                fprintf(out, "%*s", (int)pad, "");
            }
        }
        if (!last) {
            fputs("  ", out);
        }
    }
    fputc('\n', out);
}

static void st__print(FILE *out, const struct st_table *t)
{
    size_t widths[ST_MAX_COLS] = {0};
    for (size_t i = 0; i < t->ncols; i++) {
        widths[i] = st__width(t->head[i]);
    }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t i = 0; i < t->ncols; i++) {
            size_t w = st__width(t->cells[r * t->ncols + i]);
            if (w > widths[i]) {
                widths[i] = w;
            }
        }
    }
    st__line(out, t, widths, t->head);
    for (size_t r = 0; r < t->nrows; r++) {
        st__line(out, t, widths,
                 (const char *const *)(t->cells + r * t->ncols));
    }
}

/* ---- the status report
 * -------------------------------------------------------- */

static int st__fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int st__fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

#define ST_FIELD 256

static void st__replicas(const struct tr_sjson *d, long reps, struct tr_buf *b)
{
    tr_buf_reset(b);
    tr_buf_puts(b, "");
    size_t n =
        reps >= 0 && d->toks[reps].type == TR_SJSON_ARRAY ? d->toks[reps].n : 0;
    for (size_t i = 0; i < n; i++) {
        long r = tr_sjson_at(d, reps, i);
        char node[ST_FIELD], state[64];
        tr_sjson_text(d, tr_sjson_get(d, r, "node"), node, sizeof(node));
        tr_sjson_text(d, tr_sjson_get(d, r, "state"), state, sizeof(state));
        if (i > 0) {
            tr_buf_putc(b, ' ');
        }
        if (strcmp(state, "unknown") == 0) {
            tr_buf_printf(b, "%s:-(unknown)", node[0] ? node : "?");
            continue;
        }
        tr_buf_printf(b, "%s:%" PRIu64 "(%" PRIu64 "%s%s)",
                      node[0] ? node : "?",
                      tr_sjson_u64(d, tr_sjson_get(d, r, "appliedIndex")),
                      tr_sjson_u64(d, tr_sjson_get(d, r, "lag")),
                      strcmp(state, "catching-up") == 0 ? "," : "",
                      strcmp(state, "catching-up") == 0 ? "catching-up" : "");
    }
}

int tr_status_print(FILE *out,
                    const char *addr,
                    const char *body,
                    size_t len,
                    char *err,
                    size_t errlen)
{
    struct tr_sjson d;
    if (tr_sjson_parse(&d, body, len) != 0) {
        int rv =
            st__fail(err, errlen, "%s/api/v1/status/cluster: %s", addr, d.err);
        tr_sjson_free(&d);
        return rv;
    }
    char status[64];
    tr_sjson_text(&d, tr_sjson_get(&d, 0, "status"), status, sizeof(status));
    long data = tr_sjson_get(&d, 0, "data");
    if (strcmp(status, "success") != 0 || data < 0 ||
        d.toks[data].type != TR_SJSON_OBJECT) {
        char msg[ST_FIELD];
        tr_sjson_text(&d, tr_sjson_get(&d, 0, "error"), msg, sizeof(msg));
        st__fail(err, errlen, "%s/api/v1/status/cluster: status %s%s%s", addr,
                 status[0] ? status : "(missing)", msg[0] ? ": " : "", msg);
        tr_sjson_free(&d);
        return -1;
    }
    long nodes = tr_sjson_get(&d, data, "nodes");
    long shards = tr_sjson_get(&d, data, "shards");
    if (nodes < 0 || d.toks[nodes].type != TR_SJSON_ARRAY || shards < 0 ||
        d.toks[shards].type != TR_SJSON_ARRAY) {
        st__fail(err, errlen,
                 "%s/api/v1/status/cluster: no nodes or shards array", addr);
        tr_sjson_free(&d);
        return -1;
    }

    char node[ST_FIELD], leader[ST_FIELD], term[32], commit[32];
    tr_sjson_text(&d, tr_sjson_get(&d, data, "node"), node, sizeof(node));
    tr_sjson_text(&d, tr_sjson_get(&d, data, "metaLeader"), leader,
                  sizeof(leader));
    snprintf(term, sizeof(term), "%" PRIu64,
             tr_sjson_u64(&d, tr_sjson_get(&d, data, "metaTerm")));
    snprintf(commit, sizeof(commit), "%" PRIu64,
             tr_sjson_u64(&d, tr_sjson_get(&d, data, "metaCommitIndex")));

    /* NODES */
    static const char *const nhead[] = {"NAME", "ID", "RAFT ADDR", "HTTP ADDR",
                                        "STATE"};
    static const bool nright[] = {false, false, false, false, false};
    struct st_table nt;
    st__init(&nt, 5, nhead, nright);
    size_t n_nodes = d.toks[nodes].n, n_up = 0;
    for (size_t i = 0; i < n_nodes; i++) {
        long e = tr_sjson_at(&d, nodes, i);
        char v[5][ST_FIELD];
        static const char *const keys[] = {"name", "id", "raftAddr", "httpAddr",
                                           "state"};
        const char *row[5];
        for (int k = 0; k < 5; k++) {
            row[k] = tr_sjson_text(&d, tr_sjson_get(&d, e, keys[k]), v[k],
                                   sizeof(v[k]));
        }
        if (strcmp(v[4], "up") == 0) {
            n_up++;
        }
        st__row(&nt, row);
    }

    /* SHARDS */
    static const char *const shead[] = {
        "SIGNAL", "WINDOW START", "SLOT",   "STATE",
        "LEADER", "TERM",         "COMMIT", "REPLICAS node:applied(lag)"};
    static const bool sright[] = {false, false, true, false,
                                  false, true,  true, false};
    struct st_table stt;
    st__init(&stt, 8, shead, sright);
    struct tr_buf reps;
    tr_buf_init(&reps);
    size_t n_shards = d.toks[shards].n, n_led = 0, n_deleted = 0, n_sealed = 0;
    for (size_t i = 0; i < n_shards; i++) {
        long e = tr_sjson_at(&d, shards, i);
        char sig[64], ws[64], slot[32], state[64], lead[ST_FIELD], sterm[32],
            scommit[32];
        tr_sjson_text(&d, tr_sjson_get(&d, e, "signal"), sig, sizeof(sig));
        tr_sjson_text(&d, tr_sjson_get(&d, e, "windowStart"), ws, sizeof(ws));
        if (ws[0] == '\0') {
            tr_sjson_text(&d, tr_sjson_get(&d, e, "window"), ws, sizeof(ws));
        }
        snprintf(slot, sizeof(slot), "%" PRIu64,
                 tr_sjson_u64(&d, tr_sjson_get(&d, e, "slot")));
        tr_sjson_text(&d, tr_sjson_get(&d, e, "state"), state, sizeof(state));
        if (strcmp(state, "deleted") == 0) {
            n_deleted++; /* retention dropped it: counted, not listed */
            continue;
        }
        tr_sjson_text(&d, tr_sjson_get(&d, e, "leader"), lead, sizeof(lead));
        if (lead[0] != '\0') {
            n_led++;
        } else if (strcmp(state, "sealed") == 0) {
            n_sealed++; /* no group: nothing to lead */
            strcpy(lead, "-");
        } else {
            strcpy(lead, "-");
        }
        snprintf(sterm, sizeof(sterm), "%" PRIu64,
                 tr_sjson_u64(&d, tr_sjson_get(&d, e, "term")));
        snprintf(scommit, sizeof(scommit), "%" PRIu64,
                 tr_sjson_u64(&d, tr_sjson_get(&d, e, "commitIndex")));
        st__replicas(&d, tr_sjson_get(&d, e, "replicas"), &reps);
        const char *row[8] = {sig,  ws,    slot,    state,
                              lead, sterm, scommit, reps.oom ? "?" : reps.data};
        st__row(&stt, row);
    }
    tr_buf_free(&reps);

    /* JOBS (absent from older servers' answers) */
    static const char *const jhead[] = {"NODE",         "KIND",  "SIGNAL",
                                        "WINDOW START", "SLOT",  "STATE",
                                        "STEP",         "TRIES", "QUEUED"};
    static const bool jright[] = {false, false, false, false, true,
                                  false, true,  true,  false};
    struct st_table jt;
    st__init(&jt, 9, jhead, jright);
    long jobs = tr_sjson_get(&d, data, "jobs");
    size_t n_jobs =
        jobs >= 0 && d.toks[jobs].type == TR_SJSON_ARRAY ? d.toks[jobs].n : 0;
    uint64_t jdone = 0, jfailed = 0;
    for (size_t i = 0; i < n_nodes; i++) {
        long e = tr_sjson_at(&d, nodes, i);
        jdone += tr_sjson_u64(&d, tr_sjson_get(&d, e, "jobsDone"));
        jfailed += tr_sjson_u64(&d, tr_sjson_get(&d, e, "jobsFailed"));
    }
    for (size_t i = 0; i < n_jobs; i++) {
        long e = tr_sjson_at(&d, jobs, i);
        char v[9][ST_FIELD];
        static const char *const keys[] = {"node",        "kind", "signal",
                                           "windowStart", "slot", "state"};
        const char *row[9];
        for (int k = 0; k < 6; k++) {
            row[k] = tr_sjson_text(&d, tr_sjson_get(&d, e, keys[k]), v[k],
                                   sizeof(v[k]));
        }
        snprintf(v[6], sizeof(v[6]), "%" PRIu64 "/%" PRIu64,
                 tr_sjson_u64(&d, tr_sjson_get(&d, e, "step")),
                 tr_sjson_u64(&d, tr_sjson_get(&d, e, "steps")));
        snprintf(v[7], sizeof(v[7]), "%" PRIu64,
                 tr_sjson_u64(&d, tr_sjson_get(&d, e, "attempts")));
        tr_sjson_text(&d, tr_sjson_get(&d, e, "queued"), v[8], sizeof(v[8]));
        row[6] = v[6];
        row[7] = v[7];
        row[8] = v[8];
        st__row(&jt, row);
    }

    int rv = 0;
    if (nt.oom || stt.oom || jt.oom) {
        rv = st__fail(err, errlen, "out of memory");
    } else {
        char nodeline[2 * ST_FIELD + 8];
        snprintf(nodeline, sizeof(nodeline), "%s (%s)", addr,
                 node[0] ? node : "?");
        static const char *const khead[] = {"", ""};
        static const bool kright[] = {false, false};
        struct st_table kv;
        st__init(&kv, 2, khead, kright);
        const char *r1[] = {"node asked", nodeline};
        const char *r2[] = {"meta leader", leader[0] ? leader : "(none)"};
        const char *r3[] = {"meta term", term};
        const char *r4[] = {"meta commit index", commit};
        st__row(&kv, r1);
        st__row(&kv, r2);
        st__row(&kv, r3);
        st__row(&kv, r4);
        /* the key/value header has no column titles */
        size_t kw = st__width("meta commit index");
        for (size_t r = 0; r < kv.nrows; r++) {
            const char *k = kv.cells[r * 2];
            fprintf(out, "%s%*s  %s\n", k, (int)(kw - st__width(k)), "",
                    kv.cells[r * 2 + 1]);
        }
        st__free(&kv);
        fprintf(out, "\nNODES (%zu, %zu up)\n", n_nodes, n_up);
        st__print(out, &nt);
        fprintf(out, "\nSHARDS (%zu, %zu with a leader", n_shards - n_deleted,
                n_led);
        if (n_sealed > 0) {
            fprintf(out, ", %zu sealed without a group", n_sealed);
        }
        if (n_deleted > 0) {
            fprintf(out, "; %zu deleted by retention not listed", n_deleted);
        }
        fputs(")\n", out);
        if (n_shards > n_deleted) {
            st__print(out, &stt);
        } else {
            fputs("(none)\n", out);
        }
        fprintf(out,
                "\nJOBS (%zu queued or running; %" PRIu64 " done, %" PRIu64
                " failed since the nodes started)\n",
                n_jobs, jdone, jfailed);
        if (n_jobs > 0) {
            st__print(out, &jt);
        } else {
            fputs("(none)\n", out);
        }
    }
    st__free(&nt);
    st__free(&stt);
    st__free(&jt);
    tr_sjson_free(&d);
    return rv;
}

/* ---- the verify table ------------------------------------------------------
 */

int tr_status_print_verify(FILE *out,
                           const char *addr,
                           const char *body,
                           size_t len,
                           bool *consistent,
                           char *err,
                           size_t errlen)
{
    struct tr_sjson d;
    *consistent = false;
    if (tr_sjson_parse(&d, body, len) != 0) {
        int rv = st__fail(err, errlen, "%s/api/v1/admin/cluster/verify: %s",
                          addr, d.err);
        tr_sjson_free(&d);
        return rv;
    }
    long shards = tr_sjson_get(&d, 0, "shards");
    if (shards < 0 || d.toks[shards].type != TR_SJSON_ARRAY) {
        st__fail(err, errlen, "%s/api/v1/admin/cluster/verify: no shards",
                 addr);
        tr_sjson_free(&d);
        return -1;
    }
    static const char *const head[] = {"SIGNAL",     "WINDOW",
                                       "SLOT",       "INDEX",
                                       "CONSISTENT", "REPLICAS node:checksum"};
    static const bool right[] = {false, false, true, true, false, false};
    struct st_table t;
    st__init(&t, 6, head, right);
    struct tr_buf reps;
    tr_buf_init(&reps);
    size_t n = d.toks[shards].n, bad = 0;
    for (size_t i = 0; i < n; i++) {
        long e = tr_sjson_at(&d, shards, i);
        char sig[32], win[32], slot[32], idx[32], cons[16];
        tr_sjson_text(&d, tr_sjson_get(&d, e, "signal"), sig, sizeof(sig));
        tr_sjson_text(&d, tr_sjson_get(&d, e, "window"), win, sizeof(win));
        tr_sjson_text(&d, tr_sjson_get(&d, e, "slot"), slot, sizeof(slot));
        tr_sjson_text(&d, tr_sjson_get(&d, e, "index"), idx, sizeof(idx));
        tr_sjson_text(&d, tr_sjson_get(&d, e, "consistent"), cons,
                      sizeof(cons));
        bad += strcmp(cons, "true") != 0;
        tr_buf_reset(&reps);
        long rs = tr_sjson_get(&d, e, "replicas");
        for (size_t r = 0; rs >= 0 && r < d.toks[rs].n; r++) {
            long re = tr_sjson_at(&d, rs, r);
            char node[ST_FIELD], sum[40], rerr[ST_FIELD];
            tr_sjson_text(&d, tr_sjson_get(&d, re, "node"), node, sizeof(node));
            tr_sjson_text(&d, tr_sjson_get(&d, re, "checksum"), sum,
                          sizeof(sum));
            tr_sjson_text(&d, tr_sjson_get(&d, re, "error"), rerr,
                          sizeof(rerr));
            tr_buf_printf(&reps, "%s%s:%s", r ? " " : "", node,
                          sum[0] ? sum : "-");
            if (rerr[0]) {
                tr_buf_printf(&reps, "(%s)", rerr);
            }
        }
        tr_buf_putc(&reps, '\0');
        const char *row[6] = {sig, win,  slot,
                              idx, cons, reps.oom ? "?" : reps.data};
        st__row(&t, row);
    }
    tr_buf_free(&reps);
    int rv = 0;
    if (t.oom) {
        rv = st__fail(err, errlen, "out of memory");
    } else {
        fprintf(out, "\nVERIFY (%zu shards, %zu not consistent)\n", n, bad);
        if (n > 0) {
            st__print(out, &t);
        } else {
            fputs("(none)\n", out);
        }
        *consistent = bad == 0;
    }
    st__free(&t);
    tr_sjson_free(&d);
    return rv;
}

/* ---- the command ------------------------------------------------------------
 */

static size_t st__write(char *p, size_t size, size_t nmemb, void *arg)
{
    tr_buf_append(arg, p, size * nmemb);
    return size * nmemb;
}

static int st__http(const char *base,
                    const char *path,
                    bool post,
                    const char *secret,
                    long timeout_s,
                    struct tr_buf *out,
                    long *code)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", base, path);
    CURL *c = curl_easy_init();
    if (c == NULL) {
        return -1;
    }
    struct curl_slist *hdrs = NULL;
    char h[600];
    if (secret != NULL && secret[0] != '\0') {
        snprintf(h, sizeof(h), "X-Triad-Cluster-Secret: %s", secret);
        hdrs = curl_slist_append(hdrs, h);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (post) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, st__write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    return rc == CURLE_OK ? 0 : -1;
}

/* GET or POST base+path; 0 with the body, or -1 with a message on stderr. */
static int st__fetch(const char *base,
                     const char *path,
                     bool post,
                     const char *secret,
                     struct tr_buf *body)
{
    long code = 0;
    if (st__http(base, path, post, secret, post ? 60L : 10L, body, &code) !=
        0) {
        fprintf(stderr,
                "triad status: cannot reach %s (%s %s%s failed: connection "
                "refused, unresolvable host or no answer in time)\n",
                base, post ? "POST" : "GET", base, path);
        return -1;
    }
    if (code != 200) {
        int n = body->data ? (int)strcspn(body->data, "\r\n") : 0;
        fprintf(stderr, "triad status: %s %s%s answered HTTP %ld%s%.*s\n",
                post ? "POST" : "GET", base, path, code, n > 0 ? ": " : "",
                n > 200 ? 200 : n, body->data ? body->data : "");
        return -1;
    }
    if (body->oom) {
        fprintf(stderr, "triad status: out of memory reading %s%s\n", base,
                path);
        return -1;
    }
    return 0;
}

/* "http://" + addr unless it has a scheme, without trailing slashes. */
static void st__base(const char *addr, char *base, size_t n)
{
    snprintf(base, n, "%s%s", strstr(addr, "://") == NULL ? "http://" : "",
             addr);
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/') {
        base[--bl] = '\0';
    }
}

int tr_status_command(FILE *out,
                      const char *addr,
                      bool verify,
                      const char *secret)
{
    static const char path[] = "/api/v1/status/cluster";
    char base[900];
    st__base(addr, base, sizeof(base));
    if (secret == NULL || secret[0] == '\0') {
        secret = getenv("TRIAD_CLUSTER_SECRET"); /* the chart's variable */
    }
    struct tr_buf body;
    tr_buf_init(&body);
    int rc = 0;
    char err[512];
    if (st__fetch(base, path, false, secret, &body) != 0) {
        rc = 1;
    } else if (tr_status_print(out, base, body.data ? body.data : "", body.len,
                               err, sizeof(err)) != 0) {
        fprintf(stderr, "triad status: %s\n", err);
        rc = 1;
    }
    if (rc == 0 && verify) {
        tr_buf_reset(&body);
        bool consistent = false;
        if (st__fetch(base, "/api/v1/admin/cluster/verify", true, secret,
                      &body) != 0) {
            rc = 1;
        } else if (tr_status_print_verify(out, base, body.data ? body.data : "",
                                          body.len, &consistent, err,
                                          sizeof(err)) != 0) {
            fprintf(stderr, "triad status: %s\n", err);
            rc = 1;
        } else if (!consistent) {
            rc = 1; /* replicas differ (or did not answer) */
        }
    }
    tr_buf_free(&body);
    return rc;
}

int tr_drain_command(FILE *out,
                     const char *addr,
                     int64_t timeout_ms,
                     const char *secret)
{
    char base[900];
    st__base(addr, base, sizeof(base));
    if (secret == NULL || secret[0] == '\0') {
        secret = getenv("TRIAD_CLUSTER_SECRET"); /* the chart's variable */
    }
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/admin/cluster/drain?timeout_ms=%lld",
             (long long)timeout_ms);
    struct tr_buf body;
    tr_buf_init(&body);
    long code = 0;
    int rc = 0;
    if (st__http(base, path, true, secret, (long)(timeout_ms / 1000) + 10,
                 &body, &code) != 0) {
        fprintf(stderr, "triad drain: cannot reach %s\n", base);
        rc = 1;
    } else {
        fprintf(code == 200 ? out : stderr, "triad drain: %s%s",
                body.data ? body.data : "",
                body.len > 0 && body.data[body.len - 1] == '\n' ? "" : "\n");
        rc = code == 200 ? 0 : 1;
    }
    tr_buf_free(&body);
    return rc;
}
