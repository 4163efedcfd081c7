/* api_loki_tail.c - GET /loki/api/v1/tail: Loki's live tail over a
 * WebSocket (server/http.h, RFC 6455).
 *
 * Parameters as Loki's: query (a log query), limit (entries of the first
 * frame, default 100), delay_for (seconds the tail stays behind now, at
 * most 5), start (ns; default now - 1 h). After the upgrade the first
 * frame carries the newest `limit` entries since start; then the tail
 * polls every TAIL_POLL_MS for entries in (last read, now - delay_for],
 * read through the cluster's log source, so entries of every node are
 * merged in time order. Entries that arrive late (a push whose timestamps
 * are a little in the past, replication lag) are still found: each poll
 * re-reads the last TAIL_OVERLAP_NS and skips what it already sent (a set
 * of entry hashes kept for that span).
 *
 * Frames are Loki's:
 *   {"streams":[{"stream":{..},"values":[["<ns>","<line>"],..]}],
 *    "dropped_entries":null | [{"labels":{..},"timestamp":"<ns>"},..]}
 * A frame the connection cannot take (the client reads too slowly and the
 * send queue is full) is dropped and its entries are listed in the next
 * frame's dropped_entries (at most TAIL_MAX_DROPPED).
 *
 * Threads: one tail thread (started with the first tail) runs every
 * session's polls and posts frames with tr_ws_post_text; the WebSocket
 * callbacks (loop thread) only mark a session closed. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/cluster.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/hash.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/u64map.h"
#include "query/logql/eval.h"
#include "query/logql/parser.h"
#include "server/app.h"
#include "server/loki_params.h"

#define TAIL_POLL_MS 500
#define TAIL_OVERLAP_NS (10LL * 1000000000) /* re-read for late entries */
#define TAIL_MAX_DELAY_S 5
#define TAIL_MAX_DROPPED 1000
#define TAIL_MAX_SESSIONS 256
#define TAIL_POLL_LIMIT 5000 /* entries read per poll */

struct tail_sent {
    uint64_t hash; /* of stream labels, ts and line */
    int64_t ts;
};

struct tail_session {
    struct tail_session *next;
    struct tr_app *app;
    struct tr_ws_conn *w; /* referenced */
    char tenant[TR_TENANT_MAX + 1];
    struct tr_arena arena; /* the query */
    struct tr_logql_expr *expr;
    size_t limit;
    int64_t delay_ns;
    int64_t from;           /* next poll reads (from - overlap, now - delay] */
    bool first;             /* the first frame is not sent yet */
    bool closed;            /* on_close ran (under the manager's lock) */
    struct tail_sent *sent; /* entries sent with ts >= from - overlap */
    size_t n_sent, cap_sent;
    struct tr_buf dropped; /* JSON objects of dropped entries, comma-led */
    size_t n_dropped;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool running;
    bool stop;
    struct tail_session *sessions;
    size_t n;
} tail_mgr = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void tail__free(struct tail_session *s)
{
    tr_logql_ast_free(s->expr);
    tr_arena_free(&s->arena);
    tr_free(s->sent);
    tr_buf_free(&s->dropped);
    if (s->w != NULL) {
        tr_ws_conn_unref(s->w);
    }
    tr_free(s);
}

static uint64_t tail__entry_hash(const struct tr_logql_stream *st,
                                 const struct tr_logql_entry *e)
{
    uint64_t h = (uint64_t)e->ts * 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < st->n_labels; i++) {
        h = tr_hash64(st->labels[i].name.base, st->labels[i].name.len, h);
        h = tr_hash64(st->labels[i].value.base, st->labels[i].value.len, h);
    }
    return tr_hash64(e->line.base, e->line.len, h);
}

static bool tail__was_sent(const struct tail_session *s, uint64_t h)
{
    for (size_t i = 0; i < s->n_sent; i++) {
        if (s->sent[i].hash == h) {
            return true;
        }
    }
    return false;
}

static void tail__labels(struct tr_json *j, const struct tr_label *ls, size_t n)
{
    tr_json_obj_begin(j);
    for (size_t i = 0; i < n; i++) {
        tr_json_key_n(j, ls[i].name.base, ls[i].name.len);
        tr_json_str_n(j, ls[i].value.base, ls[i].value.len);
    }
    tr_json_obj_end(j);
}

/* One poll of session s (tail thread): reads, builds a frame of what was
 * not sent yet, posts it. */
static void tail__poll(struct tail_session *s)
{
    int64_t now = tr_now_ns();
    int64_t end = now - s->delay_ns + 1; /* exclusive */
    int64_t start = s->first ? s->from : s->from - TAIL_OVERLAP_NS;
    if (end <= start) {
        return;
    }
    struct tr_arena a;
    tr_arena_init(&a, 64 * 1024);
    struct tr_logql_streams r;
    char err[TR_ERRMSG_SIZE];
    struct tr_logql_opts opts = {0};
    opts.deadline_mono_ns = tr_mono_ns() + 10LL * 1000000000;
    const struct tr_log_source *src = tr_cluster_log_source(s->app->cluster);
    int rv = tr_logql_select_logs(src, tr_slice_cstr(s->tenant), s->expr, start,
                                  end, s->first ? s->limit : TAIL_POLL_LIMIT,
                                  s->first ? TR_LOG_BACKWARD : TR_LOG_FORWARD,
                                  &opts, &a, &r, err);
    if (rv != 0) {
        tr_log_warn("tail: read failed", "tenant=%s err=\"%s\"", s->tenant,
                    err);
        tr_arena_free(&a);
        if (rv == TR_EINVAL || rv == TR_ELIMIT) {
            tr_ws_post_close(s->w, 1011, err);
        }
        return;
    }
    /* forget what fell out of the overlap */
    int64_t keep = end - TAIL_OVERLAP_NS - 1;
    size_t o = 0;
    for (size_t i = 0; i < s->n_sent; i++) {
        if (s->sent[i].ts >= keep) {
            s->sent[o++] = s->sent[i];
        }
    }
    s->n_sent = o;
    struct tr_buf f;
    tr_buf_init(&f);
    struct tr_json j;
    tr_json_init(&j, &f);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "streams");
    tr_json_arr_begin(&j);
    size_t n_new = 0;
    struct tr_buf lost; /* this frame's entries, should it be dropped */
    tr_buf_init(&lost);
    size_t n_lost = 0;
    for (size_t i = 0; i < r.n_streams; i++) {
        const struct tr_logql_stream *st = &r.streams[i];
        bool open = false;
        /* the first frame came newest first: send it oldest first */
        for (size_t k0 = 0; k0 < st->n_entries; k0++) {
            size_t k = s->first ? st->n_entries - 1 - k0 : k0;
            const struct tr_logql_entry *e = &st->entries[k];
            uint64_t h = tail__entry_hash(st, e);
            if (tail__was_sent(s, h)) {
                continue;
            }
            if (s->n_sent == s->cap_sent) {
                struct tail_sent *ns =
                    tr_array_grow(s->sent, &s->cap_sent, sizeof(*ns), 256);
                if (ns == NULL) {
                    break;
                }
                s->sent = ns;
            }
            s->sent[s->n_sent++] = (struct tail_sent){h, e->ts};
            if (!open) {
                tr_json_obj_begin(&j);
                tr_json_key(&j, "stream");
                tail__labels(&j, st->labels, st->n_labels);
                tr_json_key(&j, "values");
                tr_json_arr_begin(&j);
                open = true;
            }
            char ts[24];
            snprintf(ts, sizeof(ts), "%" PRId64, e->ts);
            tr_json_arr_begin(&j);
            tr_json_str(&j, ts);
            tr_json_str_n(&j, e->line.base, e->line.len);
            tr_json_arr_end(&j);
            n_new++;
            if (n_lost < TAIL_MAX_DROPPED) {
                struct tr_json lj;
                tr_json_init(&lj, &lost);
                tr_buf_putc(&lost, ',');
                tr_json_obj_begin(&lj);
                tr_json_key(&lj, "labels");
                tail__labels(&lj, st->labels, st->n_labels);
                tr_json_key(&lj, "timestamp");
                tr_json_str(&lj, ts);
                tr_json_obj_end(&lj);
                n_lost++;
            }
        }
        if (open) {
            tr_json_arr_end(&j);
            tr_json_obj_end(&j);
        }
    }
    tr_json_arr_end(&j);
    tr_json_key(&j, "dropped_entries");
    if (s->n_dropped == 0) {
        tr_json_null(&j);
    } else {
        tr_buf_putc(&f, '[');
        tr_buf_append(&f, s->dropped.data + 1, s->dropped.len - 1);
        tr_buf_putc(&f, ']');
    }
    tr_json_obj_end(&j);
    if (n_new > 0 || s->n_dropped > 0 || s->first) {
        rv = f.oom ? TR_ENOMEM : tr_ws_post_text(s->w, f.data, f.len);
        if (rv == 0) {
            tr_buf_reset(&s->dropped);
            s->n_dropped = 0;
        } else if (rv == TR_EBUSY || rv == TR_ETOOLARGE) {
            /* the client reads too slowly: report these next time */
            if (s->n_dropped < TAIL_MAX_DROPPED) {
                tr_buf_append(&s->dropped, lost.data, lost.len);
                s->n_dropped += n_lost;
            }
        }
    }
    tr_buf_free(&lost);
    tr_buf_free(&f);
    tr_arena_free(&a);
    s->first = false;
    s->from = end;
}

static void *tail__main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&tail_mgr.mu);
    while (!tail_mgr.stop) {
        /* drop closed sessions, then poll the others (unlocked: a poll
         * reads; sessions are only removed by this thread) */
        struct tail_session **pp = &tail_mgr.sessions;
        while (*pp != NULL) {
            struct tail_session *s = *pp;
            if (s->closed) {
                *pp = s->next;
                tail_mgr.n--;
                tail__free(s);
            } else {
                pp = &s->next;
            }
        }
        struct tail_session *list = tail_mgr.sessions;
        pthread_mutex_unlock(&tail_mgr.mu);
        for (struct tail_session *s = list; s != NULL; s = s->next) {
            bool ready;
            pthread_mutex_lock(&tail_mgr.mu);
            ready = !s->closed && s->w != NULL;
            pthread_mutex_unlock(&tail_mgr.mu);
            if (ready) {
                tail__poll(s);
            }
        }
        pthread_mutex_lock(&tail_mgr.mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += TAIL_POLL_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        if (!tail_mgr.stop) {
            pthread_cond_timedwait(&tail_mgr.cv, &tail_mgr.mu, &ts);
        }
    }
    while (tail_mgr.sessions != NULL) {
        struct tail_session *s = tail_mgr.sessions;
        tail_mgr.sessions = s->next;
        tail__free(s);
    }
    tail_mgr.n = 0;
    pthread_mutex_unlock(&tail_mgr.mu);
    return NULL;
}

static void tail__on_close(struct tr_ws_conn *w, unsigned code, void *user)
{
    (void)w;
    (void)code;
    struct tail_session *s = user;
    pthread_mutex_lock(&tail_mgr.mu);
    s->closed = true;
    pthread_cond_signal(&tail_mgr.cv);
    pthread_mutex_unlock(&tail_mgr.mu);
}

static void tail__on_open(struct tr_ws_conn *w, void *user)
{
    struct tail_session *s = user;
    tr_ws_conn_ref(w);
    pthread_mutex_lock(&tail_mgr.mu);
    s->w = w;
    pthread_cond_signal(&tail_mgr.cv); /* poll now: the first frame */
    pthread_mutex_unlock(&tail_mgr.mu);
}

void tr_loki_tail_stop(void)
{
    pthread_mutex_lock(&tail_mgr.mu);
    tail_mgr.stop = true;
    pthread_cond_signal(&tail_mgr.cv);
    pthread_mutex_unlock(&tail_mgr.mu);
}

void tr_loki_tail_shutdown(void)
{
    pthread_mutex_lock(&tail_mgr.mu);
    bool running = tail_mgr.running;
    tail_mgr.stop = true;
    pthread_cond_signal(&tail_mgr.cv);
    pthread_mutex_unlock(&tail_mgr.mu);
    if (running) {
        pthread_join(tail_mgr.thread, NULL);
    }
    pthread_mutex_lock(&tail_mgr.mu);
    tail_mgr.running = false;
    tail_mgr.stop = false;
    pthread_mutex_unlock(&tail_mgr.mu);
}

/* GET /loki/api/v1/tail */
void tr_api_loki_tail(const struct tr_http_request *req,
                      struct tr_http_response *resp)
{
    struct tr_app *app = req->app;
    struct tail_session *s = tr_calloc(1, sizeof(*s));
    if (s == NULL) {
        tr_http_resp_text(resp, 500, "out of memory");
        return;
    }
    tr_arena_init(&s->arena, 16 * 1024);
    tr_buf_init(&s->dropped);
    s->app = app;
    s->first = true;
    char err[TR_ERRMSG_SIZE];
    int rv = tr_app_tenant(app, req, s->tenant, err);
    const char *q = tr_http_form_get(req, "query");
    if (rv == 0 && (q == NULL || q[0] == '\0')) {
        rv = tr_errf(TR_EINVAL, err, "query parameter is required");
    }
    if (rv == 0) {
        rv = tr_logql_parse(q, strlen(q), &s->arena, &s->expr, err);
    }
    if (rv == 0 && tr_logql_is_metric(s->expr)) {
        rv = tr_errf(TR_EINVAL, err,
                     "tail queries must be log queries, not metric queries");
    }
    s->limit = TR_LOKI_DEFAULT_LIMIT;
    const char *lim = tr_http_form_get(req, "limit");
    if (rv == 0 && lim != NULL && lim[0] != '\0') {
        char *e;
        long long v = strtoll(lim, &e, 10);
        if (*e != '\0' || v <= 0 || v > TR_LOKI_MAX_ENTRIES) {
            rv = tr_errf(TR_EINVAL, err, "invalid limit parameter");
        }
        s->limit = (size_t)v;
    }
    const char *delay = tr_http_form_get(req, "delay_for");
    if (rv == 0 && delay != NULL && delay[0] != '\0') {
        char *e;
        long v = strtol(delay, &e, 10);
        if (*e != '\0' || v < 0 || v > TAIL_MAX_DELAY_S) {
            rv = tr_errf(TR_EINVAL, err, "delay_for can't be greater than %d",
                         TAIL_MAX_DELAY_S);
        }
        s->delay_ns = (int64_t)v * 1000000000;
    }
    s->from = tr_now_ns() - 3600LL * 1000000000;
    const char *start = tr_http_form_get(req, "start");
    if (rv == 0 && start != NULL && start[0] != '\0' &&
        tr_loki_parse_time(start, &s->from) != 0) {
        rv = tr_errf(TR_EINVAL, err, "invalid start parameter");
    }
    pthread_mutex_lock(&tail_mgr.mu);
    if (rv == 0 && tail_mgr.n >= TAIL_MAX_SESSIONS) {
        rv = tr_errf(TR_EBUSY, err,
                     "max concurrent tail requests limit exceeded (%d)",
                     TAIL_MAX_SESSIONS);
    }
    pthread_mutex_unlock(&tail_mgr.mu);
    if (rv != 0) {
        tr_logql_ast_free(s->expr);
        tr_arena_free(&s->arena);
        tr_free(s);
        tr_loki_error(resp, rv == TR_EBUSY ? TR_EINVAL : rv, err);
        return;
    }
    struct tr_ws_handler h = {
        .version = 1,
        .on_open = tail__on_open,
        .on_close = tail__on_close,
    };
    /* under the lock: the callbacks (loop thread) wait until the session
     * is listed */
    pthread_mutex_lock(&tail_mgr.mu);
    rv = tr_http_ws_upgrade(req, resp, &h, s);
    if (rv != 0) {
        /* the error response is written; no callback will run */
        pthread_mutex_unlock(&tail_mgr.mu);
        tr_logql_ast_free(s->expr);
        tr_arena_free(&s->arena);
        tr_free(s);
        return;
    }
    /* on_close will run once; the tail thread frees the session after */
    s->next = tail_mgr.sessions;
    tail_mgr.sessions = s;
    tail_mgr.n++;
    if (!tail_mgr.running &&
        pthread_create(&tail_mgr.thread, NULL, tail__main, NULL) == 0) {
        tail_mgr.running = true;
    }
    pthread_mutex_unlock(&tail_mgr.mu);
}
