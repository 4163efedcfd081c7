/* otlp_spanmetrics.c - span metrics and the service graph from OTLP spans
 * (proto/otlp_spanmetrics.h): per-tenant label sets with their running
 * totals, the pending store of half-seen edges, and collection into a
 * remote-write request. One mutex guards the whole registry; every call
 * holds it for the work of one export or one collection. */
#include "proto/otlp_spanmetrics.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/hash.h"
#include "lib/u64map.h"

enum { SM_SPAN = 0, SM_GRAPH = 1 };

enum {
    SM_CONN_NONE = 0,
    SM_CONN_MESSAGING,
    SM_CONN_DATABASE,
    SM_CONN_VIRTUAL,
};

static const char *const sm_conn_names[] = {"", "messaging_system", "database",
                                            "virtual_node"};

/* Prometheus' ExponentialBuckets(0.002, 2, 14) and (0.1, 2, 8) with their
 * le texts as Go's strconv.FormatFloat(v, 'f', -1, 64) writes them. */
static const double sm_span_le[TR_SPANMETRICS_SPAN_BUCKETS] = {
    0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128,
    0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384};
static const char *const sm_span_le_text[TR_SPANMETRICS_SPAN_BUCKETS] = {
    "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128",
    "0.256", "0.512", "1.024", "2.048", "4.096", "8.192", "16.384"};
static const double sm_graph_le[TR_SPANMETRICS_GRAPH_BUCKETS] = {
    0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8};
static const char *const sm_graph_le_text[TR_SPANMETRICS_GRAPH_BUCKETS] = {
    "0.1", "0.2", "0.4", "0.8", "1.6", "3.2", "6.4", "12.8"};

#define SM_MAX_VALS 4

/* One label set with its totals. Span metrics: count = calls, sum =
 * latency seconds, extra = size bytes, buckets = latency. Service graph:
 * count = requests, extra = failed requests, sum/buckets = server seconds,
 * csum/cbuckets = client seconds (their count is count). Buckets count
 * observations <= their bound (already cumulative). */
struct sm_set {
    struct sm_set *chain;      /* next with the same hash */
    struct sm_set *stale_next; /* collection: the stale list */
    uint64_t hash;
    uint8_t kind;     /* SM_SPAN or SM_GRAPH */
    bool collected;   /* written once: no initial 0 sample any more */
    bool failed_seen; /* graph: the failed series exists */
    int64_t updated_ms;
    char *vals[SM_MAX_VALS]; /* owned, NUL-terminated */
    size_t lens[SM_MAX_VALS];
    double count, sum, extra, csum;
    uint64_t buckets[TR_SPANMETRICS_SPAN_BUCKETS];
    uint64_t cbuckets[TR_SPANMETRICS_GRAPH_BUCKETS];
};

/* A half-seen edge: key = trace id (16) + the client's span id (8). */
struct sm_edge {
    struct sm_edge *chain;       /* next with the same hash */
    struct sm_edge *prev, *next; /* age order: head is the oldest */
    uint64_t hash;
    uint8_t key[24];
    char *client, *server, *peer; /* owned; NULL = unknown */
    double client_s, server_s;
    bool failed;
    uint8_t conn;
    int64_t expires_ms;
};

struct sm_tenant {
    struct sm_tenant *chain; /* next with the same name hash */
    uint64_t hash;
    char *name;
    struct tr_u64map sets;  /* hash -> struct sm_set chain */
    struct tr_u64map edges; /* hash -> struct sm_edge chain */
    struct sm_edge *head, *tail;
    size_t n_edges;
    uint64_t series;
    int64_t last_collect_ms; /* 0: never */
    int64_t last_ts;         /* timestamp of the last collection */
    int64_t updated_ms;
};

struct tr_spanmetrics {
    struct tr_spanmetrics_config cfg;
    char *instance;
    pthread_mutex_t mu;
    struct tr_u64map tenants; /* name hash -> struct sm_tenant chain */
};

/* ---- helpers ------------------------------------------------------------- */

static char *sm__dup(const char *p, size_t n)
{
    char *s = tr_malloc(n + 1);
    if (s != NULL) {
        if (n > 0) {
            memcpy(s, p, n);
        }
        s[n] = '\0';
    }
    return s;
}

/* Points key (present) at v. tr_u64map_put may grow the map even for a
 * present key (and fail); after a delete it never grows (the map kept
 * count * 4 <= cap * 3 when the key went in), so this cannot fail. */
static void sm__map_replace(struct tr_u64map *m, uint64_t key, void *v)
{
    tr_u64map_del(m, key);
    int rv = tr_u64map_put(m, key, v);
    (void)rv;
}

/* Cuts s to max bytes at a UTF-8 boundary (max 0: no cut). */
static struct tr_slice sm__cut(struct tr_slice s, size_t max)
{
    if (max > 0 && s.len > max) {
        size_t l = max;
        while (l > 0 && ((unsigned char)s.base[l] & 0xc0) == 0x80) {
            l--;
        }
        s.len = l;
    }
    return s;
}

static uint64_t sm__hash_vals(uint8_t kind, const struct tr_slice *v, size_t n)
{
    uint64_t h = tr_hash64(&kind, 1, 0x736d6574);
    for (size_t i = 0; i < n; i++) {
        uint64_t l = v[i].len;
        h = tr_hash64(&l, sizeof(l), h);
        h = tr_hash64(v[i].base, v[i].len, h);
    }
    return h;
}

static double sm__seconds(uint64_t start, uint64_t end)
{
    return start < end ? (double)(end - start) / 1e9 : 0.0;
}

/* The text of an attribute value (a string as is, others as
 * tr_otlp_value_string writes them) into b; false when absent. */
static bool sm__attr(const struct tr_otlp_kv *kvs,
                     size_t n,
                     const char *key,
                     struct tr_buf *b)
{
    for (size_t i = 0; i < n; i++) {
        if (tr_slice_eq_cstr(kvs[i].key, key)) {
            tr_buf_reset(b);
            if (kvs[i].value.type == TR_OTLP_STRING) {
                tr_buf_append(b, kvs[i].value.s.base, kvs[i].value.s.len);
            } else {
                tr_otlp_value_string(&kvs[i].value, b);
            }
            tr_buf_putc(b, '\0');
            b->len--;
            return !b->oom;
        }
    }
    return false;
}

/* The first of keys found in the span's, then the resource's attributes
 * (res may be NULL: span attributes only). */
static bool sm__attr_first(const char *const *keys,
                           size_t n_keys,
                           const struct tr_otlp_span *sp,
                           const struct tr_otlp_resource *res,
                           struct tr_buf *b)
{
    for (size_t k = 0; k < n_keys; k++) {
        /* Tempo looks in the resource first for database names; both
         * orders give the same result unless both carry the key */
        if (res != NULL && sm__attr(res->attrs, res->n_attrs, keys[k], b)) {
            return true;
        }
        if (sm__attr(sp->attrs, sp->n_attrs, keys[k], b)) {
            return true;
        }
    }
    return false;
}

static const char *sm__kind_name(int32_t k, char *tmp, size_t n)
{
    static const char *const names[] = {
        "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
        "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"};
    if (k >= 0 && k <= 5) {
        return names[k];
    }
    snprintf(tmp, n, "%d", (int)k);
    return tmp;
}

static const char *sm__status_name(int32_t c, char *tmp, size_t n)
{
    static const char *const names[] = {"STATUS_CODE_UNSET", "STATUS_CODE_OK",
                                        "STATUS_CODE_ERROR"};
    if (c >= 0 && c <= 2) {
        return names[c];
    }
    snprintf(tmp, n, "%d", (int)c);
    return tmp;
}

/* ---- tenants and label sets ---------------------------------------------- */

static void sm__set_free(struct sm_set *s)
{
    for (size_t i = 0; i < SM_MAX_VALS; i++) {
        tr_free(s->vals[i]);
    }
    tr_free(s);
}

static void sm__edge_free(struct sm_edge *e)
{
    tr_free(e->client);
    tr_free(e->server);
    tr_free(e->peer);
    tr_free(e);
}

static uint64_t sm__set_cost(const struct sm_set *s)
{
    return s->kind == SM_SPAN
               ? TR_SPANMETRICS_SPAN_SERIES
               : TR_SPANMETRICS_GRAPH_SERIES + (s->failed_seen ? 1 : 0);
}

static struct sm_tenant *sm__tenant(struct tr_spanmetrics *r,
                                    const char *name,
                                    bool create)
{
    uint64_t h = tr_hash64(name, strlen(name), 0x74656e61);
    struct sm_tenant *first = tr_u64map_get(&r->tenants, h);
    for (struct sm_tenant *t = first; t != NULL; t = t->chain) {
        if (strcmp(t->name, name) == 0) {
            return t;
        }
    }
    if (!create) {
        return NULL;
    }
    struct sm_tenant *t = tr_calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->name = tr_strdup(name);
    t->hash = h;
    tr_u64map_init(&t->sets);
    tr_u64map_init(&t->edges);
    t->chain = first;
    if (t->name == NULL || tr_u64map_put(&r->tenants, h, t) != 0) {
        tr_free(t->name);
        tr_free(t);
        return NULL;
    }
    return t;
}

static void sm__tenant_free(struct sm_tenant *t)
{
    for (size_t i = 0; i < t->sets.cap; i++) {
        struct sm_set *s = t->sets.slots[i].value;
        while (s != NULL) {
            struct sm_set *next = s->chain;
            sm__set_free(s);
            s = next;
        }
    }
    tr_u64map_free(&t->sets);
    struct sm_edge *e = t->head;
    while (e != NULL) {
        struct sm_edge *next = e->next;
        sm__edge_free(e);
        e = next;
    }
    tr_u64map_free(&t->edges);
    tr_free(t->name);
    tr_free(t);
}

/* The label set (kind, v[0..n)) of tenant t, created when new and under
 * the series limit; NULL (refused counted, or *oom set) otherwise. */
static struct sm_set *sm__set(struct tr_spanmetrics *r,
                              struct sm_tenant *t,
                              uint8_t kind,
                              const struct tr_slice *v,
                              size_t n,
                              struct tr_spanmetrics_stats *st,
                              bool *oom)
{
    uint64_t h = sm__hash_vals(kind, v, n);
    struct sm_set *first = tr_u64map_get(&t->sets, h);
    for (struct sm_set *s = first; s != NULL; s = s->chain) {
        if (s->kind != kind) {
            continue;
        }
        size_t i = 0;
        while (
            i < n && s->lens[i] == v[i].len &&
            (v[i].len == 0 || memcmp(s->vals[i], v[i].base, v[i].len) == 0)) {
            i++;
        }
        if (i == n) {
            return s;
        }
    }
    uint64_t cost = kind == SM_SPAN ? TR_SPANMETRICS_SPAN_SERIES
                                    : TR_SPANMETRICS_GRAPH_SERIES;
    if (r->cfg.max_series > 0 && t->series + cost > r->cfg.max_series) {
        st->series_refused++;
        return NULL;
    }
    struct sm_set *s = tr_calloc(1, sizeof(*s));
    if (s == NULL) {
        *oom = true;
        return NULL;
    }
    s->kind = kind;
    s->hash = h;
    for (size_t i = 0; i < n; i++) {
        s->vals[i] = sm__dup(v[i].base, v[i].len);
        s->lens[i] = v[i].len;
        if (s->vals[i] == NULL) {
            sm__set_free(s);
            *oom = true;
            return NULL;
        }
    }
    s->chain = first;
    if (tr_u64map_put(&t->sets, h, s) != 0) {
        sm__set_free(s);
        *oom = true;
        return NULL;
    }
    t->series += cost;
    return s;
}

static void sm__set_unlink(struct sm_tenant *t, struct sm_set *s)
{
    struct sm_set *first = tr_u64map_get(&t->sets, s->hash);
    if (first == s) {
        if (s->chain != NULL) {
            sm__map_replace(&t->sets, s->hash, s->chain);
        } else {
            tr_u64map_del(&t->sets, s->hash);
        }
    } else {
        for (struct sm_set *p = first; p != NULL; p = p->chain) {
            if (p->chain == s) {
                p->chain = s->chain;
                break;
            }
        }
    }
    t->series -= sm__set_cost(s);
}

/* ---- observations ---------------------------------------------------------
 */

static bool sm__valid(const struct tr_slice *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!tr_utf8_valid(v[i].base, v[i].len)) {
            return false;
        }
    }
    return true;
}

static int sm__observe_span(struct tr_spanmetrics *r,
                            struct sm_tenant *t,
                            struct tr_slice service,
                            const struct tr_otlp_span *sp,
                            int64_t now_ms,
                            struct tr_spanmetrics_stats *st)
{
    char kt[16], ct[16];
    const char *kind = sm__kind_name(sp->kind, kt, sizeof(kt));
    const char *code = sm__status_name(sp->status_code, ct, sizeof(ct));
    size_t max = r->cfg.max_label_value_len;
    struct tr_slice v[4] = {sm__cut(service, max), sm__cut(sp->name, max),
                            tr_slice_cstr(kind), tr_slice_cstr(code)};
    if (!sm__valid(v, 2)) {
        st->invalid_utf8++;
        return 0;
    }
    bool oom = false;
    struct sm_set *s = sm__set(r, t, SM_SPAN, v, 4, st, &oom);
    if (s == NULL) {
        return oom ? TR_ENOMEM : 0;
    }
    double secs = sm__seconds(sp->start_time_unix_nano, sp->end_time_unix_nano);
    s->count += 1;
    s->sum += secs;
    s->extra += (double)tr_spanmetrics_span_size(sp);
    for (size_t i = 0; i < TR_SPANMETRICS_SPAN_BUCKETS; i++) {
        if (secs <= sm_span_le[i]) {
            s->buckets[i]++;
        }
    }
    s->updated_ms = now_ms;
    t->updated_ms = now_ms;
    st->spans++;
    return 0;
}

/* Counts a completed edge. */
static int sm__observe_edge(struct tr_spanmetrics *r,
                            struct sm_tenant *t,
                            const char *client,
                            const char *server,
                            uint8_t conn,
                            double client_s,
                            double server_s,
                            bool failed,
                            int64_t now_ms,
                            struct tr_spanmetrics_stats *st)
{
    size_t max = r->cfg.max_label_value_len;
    struct tr_slice v[3] = {sm__cut(tr_slice_cstr(client), max),
                            sm__cut(tr_slice_cstr(server), max),
                            tr_slice_cstr(sm_conn_names[conn])};
    if (!sm__valid(v, 2)) {
        st->invalid_utf8++;
        return 0;
    }
    bool oom = false;
    struct sm_set *s = sm__set(r, t, SM_GRAPH, v, 3, st, &oom);
    if (s == NULL) {
        return oom ? TR_ENOMEM : 0;
    }
    s->count += 1;
    if (failed) {
        if (!s->failed_seen) {
            s->failed_seen = true;
            t->series++;
        }
        s->extra += 1;
    }
    s->sum += server_s;
    s->csum += client_s;
    for (size_t i = 0; i < TR_SPANMETRICS_GRAPH_BUCKETS; i++) {
        if (server_s <= sm_graph_le[i]) {
            s->buckets[i]++;
        }
        if (client_s <= sm_graph_le[i]) {
            s->cbuckets[i]++;
        }
    }
    s->updated_ms = now_ms;
    t->updated_ms = now_ms;
    st->edges++;
    return 0;
}

/* ---- the pending store -----------------------------------------------------
 */

static struct sm_edge *sm__edge_find(struct sm_tenant *t,
                                     const uint8_t key[24],
                                     uint64_t h)
{
    for (struct sm_edge *e = tr_u64map_get(&t->edges, h); e != NULL;
         e = e->chain) {
        if (memcmp(e->key, key, 24) == 0) {
            return e;
        }
    }
    return NULL;
}

static void sm__edge_remove(struct sm_tenant *t, struct sm_edge *e)
{
    struct sm_edge *first = tr_u64map_get(&t->edges, e->hash);
    if (first == e) {
        if (e->chain != NULL) {
            sm__map_replace(&t->edges, e->hash, e->chain);
        } else {
            tr_u64map_del(&t->edges, e->hash);
        }
    } else {
        for (struct sm_edge *p = first; p != NULL; p = p->chain) {
            if (p->chain == e) {
                p->chain = e->chain;
                break;
            }
        }
    }
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        t->head = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    } else {
        t->tail = e->prev;
    }
    t->n_edges--;
    sm__edge_free(e);
}

/* Expires the oldest edge: a client with a peer attribute becomes an edge
 * to that peer (virtual_node); others are dropped. */
static int sm__expire_head(struct tr_spanmetrics *r,
                           struct sm_tenant *t,
                           int64_t now_ms,
                           struct tr_spanmetrics_stats *st)
{
    struct sm_edge *e = t->head;
    int rv = 0;
    if (e->client != NULL && e->server == NULL && e->peer != NULL) {
        rv = sm__observe_edge(r, t, e->client, e->peer, SM_CONN_VIRTUAL,
                              e->client_s, e->server_s, e->failed, now_ms, st);
    } else {
        st->edges_expired++;
    }
    sm__edge_remove(t, e);
    return rv;
}

static int sm__expire(struct tr_spanmetrics *r,
                      struct sm_tenant *t,
                      int64_t now_ms,
                      struct tr_spanmetrics_stats *st)
{
    int rv = 0;
    while (rv == 0 && t->head != NULL &&
           (t->head->expires_ms <= now_ms || t->n_edges > r->cfg.max_pending)) {
        rv = sm__expire_head(r, t, now_ms, st);
    }
    return rv;
}

static int sm__set_str(char **dst, const char *s)
{
    char *d = tr_strdup(s);
    if (d == NULL) {
        return TR_ENOMEM;
    }
    tr_free(*dst);
    *dst = d;
    return 0;
}

static const char *const sm_peer_keys[] = {"peer.service", "db.name",
                                           "db.system", "db.system.name"};
static const char *const sm_db_keys[] = {"db.namespace", "db.name", "db.system",
                                         "db.system.name"};

struct sm_scratch {
    struct tr_buf a, b;
};

/* One side of an edge from span sp of service svc. */
static int sm__edge_side(struct tr_spanmetrics *r,
                         struct sm_tenant *t,
                         const char *svc,
                         const struct tr_otlp_resource *res,
                         const struct tr_otlp_span *sp,
                         int64_t now_ms,
                         struct sm_scratch *x,
                         struct tr_spanmetrics_stats *st)
{
    bool client =
        sp->kind == TR_OTLP_KIND_CLIENT || sp->kind == TR_OTLP_KIND_PRODUCER;
    bool messaging =
        sp->kind == TR_OTLP_KIND_PRODUCER || sp->kind == TR_OTLP_KIND_CONSUMER;
    double secs = sm__seconds(sp->start_time_unix_nano, sp->end_time_unix_nano);
    bool failed = sp->status_code == TR_OTLP_STATUS_ERROR;
    bool has_peer = sm__attr_first(sm_peer_keys, 4, sp, NULL, &x->a);
    if (!client && sp->parent_span_id.len == 0) {
        /* a root server span: no client can match it (Tempo expires it
         * into an edge from "user" or its peer) */
        return sm__observe_edge(r, t, has_peer ? x->a.data : "user", svc,
                                SM_CONN_VIRTUAL, 0.0, secs, failed, now_ms, st);
    }
    uint8_t key[24];
    memcpy(key, sp->trace_id.base, 16);
    const struct tr_slice *sid = client ? &sp->span_id : &sp->parent_span_id;
    memset(key + 16, 0, 8);
    memcpy(key + 16, sid->base, sid->len < 8 ? sid->len : 8);
    uint64_t h = tr_hash64(key, sizeof(key), 0x65646765);
    struct sm_edge *e = sm__edge_find(t, key, h);
    bool fresh = e == NULL;
    if (fresh) {
        e = tr_calloc(1, sizeof(*e));
        if (e == NULL) {
            return TR_ENOMEM;
        }
        memcpy(e->key, key, sizeof(key));
        e->hash = h;
        e->expires_ms = now_ms + r->cfg.wait_ms;
    }
    int rv = 0;
    e->conn = messaging ? SM_CONN_MESSAGING : SM_CONN_NONE;
    e->failed = e->failed || failed;
    if (has_peer) {
        rv = rv ? rv : sm__set_str(&e->peer, x->a.data);
    }
    if (client) {
        rv = rv ? rv : sm__set_str(&e->client, svc);
        e->client_s = secs;
        if (rv == 0 && sm__attr_first(sm_db_keys, 4, sp, res, &x->b)) {
            /* a database call: no server span will come */
            static const char *const db_server_keys[] = {"peer.service",
                                                         "server.address"};
            e->conn = SM_CONN_DATABASE;
            e->server_s = secs;
            if (sm__attr_first(db_server_keys, 2, sp, res, &x->a)) {
                rv = sm__set_str(&e->server, x->a.data);
            } else if (sm__attr_first((const char *const[]){"network.peer."
                                                            "address"},
                                      1, sp, res, &x->a)) {
                struct tr_buf port;
                tr_buf_init(&port);
                if (sm__attr_first((const char *const[]){"network.peer.port"},
                                   1, sp, res, &port)) {
                    tr_buf_putc(&x->a, ':');
                    tr_buf_append(&x->a, port.data, port.len);
                    tr_buf_putc(&x->a, '\0');
                }
                tr_buf_free(&port);
                rv = x->a.oom ? TR_ENOMEM : sm__set_str(&e->server, x->a.data);
            } else {
                rv = sm__set_str(&e->server, x->b.data);
            }
        }
    } else {
        rv = rv ? rv : sm__set_str(&e->server, svc);
        e->server_s = secs;
    }
    if (rv == 0 && e->client != NULL && e->server != NULL) {
        rv = sm__observe_edge(r, t, e->client, e->server, e->conn, e->client_s,
                              e->server_s, e->failed, now_ms, st);
        if (fresh) {
            sm__edge_free(e);
        } else {
            sm__edge_remove(t, e);
        }
        return rv;
    }
    if (!fresh) {
        return rv;
    }
    if (rv == 0) {
        struct sm_edge *first = tr_u64map_get(&t->edges, h);
        e->chain = first;
        rv = tr_u64map_put(&t->edges, h, e);
    }
    if (rv != 0) {
        sm__edge_free(e);
        return rv;
    }
    e->prev = t->tail;
    if (t->tail != NULL) {
        t->tail->next = e;
    } else {
        t->head = e;
    }
    t->tail = e;
    t->n_edges++;
    t->updated_ms = now_ms;
    return 0;
}

/* ---- the API ------------------------------------------------------------- */

int tr_spanmetrics_new(const struct tr_spanmetrics_config *cfg,
                       struct tr_spanmetrics **out)
{
    *out = NULL;
    struct tr_spanmetrics *r = tr_calloc(1, sizeof(*r));
    if (r == NULL) {
        return TR_ENOMEM;
    }
    r->cfg = *cfg;
    r->instance = tr_strdup(cfg->instance != NULL ? cfg->instance : "");
    if (r->instance == NULL) {
        tr_free(r);
        return TR_ENOMEM;
    }
    r->cfg.instance = r->instance;
    if (r->cfg.max_pending == 0) {
        r->cfg.max_pending = 1;
    }
    pthread_mutex_init(&r->mu, NULL);
    tr_u64map_init(&r->tenants);
    *out = r;
    return 0;
}

void tr_spanmetrics_free(struct tr_spanmetrics *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->tenants.cap; i++) {
        struct sm_tenant *t = r->tenants.slots[i].value;
        while (t != NULL) {
            struct sm_tenant *next = t->chain;
            sm__tenant_free(t);
            t = next;
        }
    }
    tr_u64map_free(&r->tenants);
    pthread_mutex_destroy(&r->mu);
    tr_free(r->instance);
    tr_free(r);
}

static void sm__stats(const struct sm_tenant *t,
                      struct tr_spanmetrics_stats *st)
{
    st->series = t != NULL ? t->series : 0;
    st->pending = t != NULL ? t->n_edges : 0;
}

int tr_spanmetrics_add(struct tr_spanmetrics *r,
                       const char *tenant,
                       const struct tr_otlp_traces *t,
                       const bool *skip,
                       unsigned which,
                       int64_t now_ms,
                       struct tr_spanmetrics_stats *st)
{
    bool span_on = r->cfg.span_metrics && (which & TR_SPANMETRICS_SPAN);
    bool graph_on = r->cfg.service_graph && (which & TR_SPANMETRICS_GRAPH);
    if (!span_on && !graph_on) {
        return 0;
    }
    struct sm_scratch x;
    tr_buf_init(&x.a);
    tr_buf_init(&x.b);
    struct tr_buf svc;
    tr_buf_init(&svc);
    pthread_mutex_lock(&r->mu);
    struct sm_tenant *tn = sm__tenant(r, tenant, true);
    int rv = tn == NULL ? TR_ENOMEM : 0;
    size_t k = 0;
    for (size_t i = 0; rv == 0 && i < t->n_resources; i++) {
        const struct tr_otlp_resource_group *rg = &t->resources[i];
        bool has_svc = sm__attr(rg->resource.attrs, rg->resource.n_attrs,
                                "service.name", &svc);
        if (!has_svc) {
            tr_buf_reset(&svc);
        }
        struct tr_slice service = {svc.data, svc.len};
        for (size_t j = 0; j < rg->n_scopes; j++) {
            const struct tr_otlp_scope_group *sg = &rg->scopes[j];
            for (size_t n = 0; n < sg->n_items; n++, k++) {
                const struct tr_otlp_span *sp = &sg->spans[n];
                if (rv != 0 || (skip != NULL && skip[k])) {
                    continue;
                }
                if (span_on) {
                    rv = sm__observe_span(r, tn, service, sp, now_ms, st);
                }
                bool edge_kind = sp->kind >= TR_OTLP_KIND_SERVER &&
                                 sp->kind <= TR_OTLP_KIND_CONSUMER;
                if (rv == 0 && graph_on && has_svc && svc.len > 0 &&
                    edge_kind && sp->trace_id.len == 16) {
                    rv = sm__edge_side(r, tn, svc.data, &rg->resource, sp,
                                       now_ms, &x, st);
                }
            }
        }
    }
    if (rv == 0 && tn != NULL) {
        rv = sm__expire(r, tn, now_ms, st);
    }
    sm__stats(tn, st);
    pthread_mutex_unlock(&r->mu);
    tr_buf_free(&svc);
    tr_buf_free(&x.a);
    tr_buf_free(&x.b);
    return rv;
}

/* ---- collection ------------------------------------------------------------
 */

struct sm_out {
    struct tr_arena *a;
    struct tr_prw_request *req;
    size_t cap;
    const char *instance;
    int64_t ts, zero_ts;
};

/* Appends series name{labels vals[, le]} with value v of set s. */
static int sm__series(struct sm_out *o,
                      const struct sm_set *s,
                      const struct tr_slice *vals,
                      const char *const *names,
                      size_t n_names,
                      const char *name,
                      const char *le,
                      double v)
{
    struct tr_prw_request *q = o->req;
    if (q->n_series == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        struct tr_prw_series *ns = tr_arena_alloc(o->a, cap * sizeof(*ns));
        if (ns == NULL) {
            return TR_ENOMEM;
        }
        if (q->n_series > 0) {
            memcpy(ns, q->series, q->n_series * sizeof(*ns));
        }
        q->series = ns;
        o->cap = cap;
    }
    struct tr_prw_label *ls = tr_arena_alloc(o->a, (n_names + 3) * sizeof(*ls));
    struct tr_prw_sample *ss = tr_arena_alloc(o->a, 2 * sizeof(*ss));
    char *nm = tr_arena_strndup(o->a, name, strlen(name));
    if (ls == NULL || ss == NULL || nm == NULL) {
        return TR_ENOMEM;
    }
    size_t n = 0;
    ls[n++] =
        (struct tr_prw_label){TR_SLICE_LIT("__name__"), tr_slice_cstr(nm)};
    for (size_t i = 0; i < n_names; i++) {
        if (vals[i].len > 0) {
            ls[n++] = (struct tr_prw_label){tr_slice_cstr(names[i]), vals[i]};
        }
    }
    if (le != NULL) {
        ls[n++] = (struct tr_prw_label){TR_SLICE_LIT("le"), tr_slice_cstr(le)};
    }
    if (o->instance[0] != '\0') {
        ls[n++] = (struct tr_prw_label){TR_SLICE_LIT("__metrics_gen_instance"),
                                        tr_slice_cstr(o->instance)};
    }
    size_t m = 0;
    if (!s->collected && o->zero_ts < o->ts) {
        ss[m++] = (struct tr_prw_sample){0.0, o->zero_ts};
    }
    ss[m++] = (struct tr_prw_sample){v, o->ts};
    struct tr_prw_series *ps = &q->series[q->n_series++];
    memset(ps, 0, sizeof(*ps));
    ps->labels = ls;
    ps->n_labels = n;
    ps->samples = ss;
    ps->n_samples = m;
    return 0;
}

static int sm__histogram(struct sm_out *o,
                         const struct sm_set *s,
                         const struct tr_slice *vals,
                         const char *const *names,
                         size_t n_names,
                         const char *base,
                         const uint64_t *buckets,
                         const char *const *le,
                         size_t n_le,
                         double sum,
                         double count)
{
    char name[96];
    snprintf(name, sizeof(name), "%s_bucket", base);
    int rv = 0;
    for (size_t i = 0; rv == 0 && i < n_le; i++) {
        rv = sm__series(o, s, vals, names, n_names, name, le[i],
                        (double)buckets[i]);
    }
    rv = rv ? rv : sm__series(o, s, vals, names, n_names, name, "+Inf", count);
    snprintf(name, sizeof(name), "%s_sum", base);
    rv = rv ? rv : sm__series(o, s, vals, names, n_names, name, NULL, sum);
    snprintf(name, sizeof(name), "%s_count", base);
    rv = rv ? rv : sm__series(o, s, vals, names, n_names, name, NULL, count);
    return rv;
}

static int sm__collect_set(struct sm_out *o, const struct sm_set *s)
{
    static const char *const span_names[] = {"service", "span_name",
                                             "span_kind", "status_code"};
    static const char *const graph_names[] = {"client", "server",
                                              "connection_type"};
    /* the values copied: the set may be freed once the lock is gone */
    struct tr_slice vals[SM_MAX_VALS];
    size_t nv = s->kind == SM_SPAN ? 4 : 3;
    for (size_t i = 0; i < nv; i++) {
        vals[i].base = tr_arena_memdup(o->a, s->vals[i], s->lens[i] + 1);
        vals[i].len = s->lens[i];
        if (vals[i].base == NULL) {
            return TR_ENOMEM;
        }
    }
    int rv;
    if (s->kind == SM_SPAN) {
        rv = sm__series(o, s, vals, span_names, 4,
                        "traces_spanmetrics_calls_total", NULL, s->count);
        rv = rv ? rv
                : sm__histogram(o, s, vals, span_names, 4,
                                "traces_spanmetrics_latency", s->buckets,
                                sm_span_le_text, TR_SPANMETRICS_SPAN_BUCKETS,
                                s->sum, s->count);
        rv = rv ? rv
                : sm__series(o, s, vals, span_names, 4,
                             "traces_spanmetrics_size_total", NULL, s->extra);
        return rv;
    }
    rv = sm__series(o, s, vals, graph_names, 3,
                    "traces_service_graph_request_total", NULL, s->count);
    if (rv == 0 && s->failed_seen) {
        rv = sm__series(o, s, vals, graph_names, 3,
                        "traces_service_graph_request_failed_total", NULL,
                        s->extra);
    }
    rv = rv ? rv
            : sm__histogram(o, s, vals, graph_names, 3,
                            "traces_service_graph_request_server_seconds",
                            s->buckets, sm_graph_le_text,
                            TR_SPANMETRICS_GRAPH_BUCKETS, s->sum, s->count);
    rv = rv ? rv
            : sm__histogram(o, s, vals, graph_names, 3,
                            "traces_service_graph_request_client_seconds",
                            s->cbuckets, sm_graph_le_text,
                            TR_SPANMETRICS_GRAPH_BUCKETS, s->csum, s->count);
    return rv;
}

int tr_spanmetrics_collect(struct tr_spanmetrics *r,
                           const char *tenant,
                           int64_t now_ms,
                           int64_t min_interval_ms,
                           struct tr_arena *a,
                           struct tr_prw_request *out,
                           struct tr_spanmetrics_stats *st)
{
    memset(out, 0, sizeof(*out));
    out->version = 1;
    pthread_mutex_lock(&r->mu);
    struct sm_tenant *t = sm__tenant(r, tenant, false);
    if (t == NULL || (t->last_collect_ms != 0 &&
                      now_ms - t->last_collect_ms < min_interval_ms)) {
        sm__stats(t, st);
        pthread_mutex_unlock(&r->mu);
        return 0;
    }
    int rv = sm__expire(r, t, now_ms, st);
    struct sm_out o = {
        .a = a,
        .req = out,
        .instance = r->instance,
        .ts = now_ms > t->last_ts ? now_ms : t->last_ts + 1,
    };
    o.zero_ts = o.ts - o.ts % 60000 - 1000; /* before o.ts */
    t->last_collect_ms = now_ms;
    t->last_ts = o.ts;
    /* stale sets are listed (chained through stale_next) and removed
     * after the walk: removing moves the map's slots */
    struct sm_set *stale = NULL;
    for (size_t i = 0; rv == 0 && i < t->sets.cap; i++) {
        for (struct sm_set *s = t->sets.slots[i].value; rv == 0 && s != NULL;
             s = s->chain) {
            if (r->cfg.stale_ms > 0 &&
                now_ms - s->updated_ms >= r->cfg.stale_ms) {
                s->stale_next = stale;
                stale = s;
                continue;
            }
            rv = sm__collect_set(&o, s);
            s->collected = rv == 0;
        }
    }
    while (stale != NULL) {
        struct sm_set *next = stale->stale_next;
        sm__set_unlink(t, stale);
        sm__set_free(stale);
        stale = next;
    }
    if (rv != 0) {
        memset(out, 0, sizeof(*out));
        out->version = 1;
    }
    sm__stats(t, st);
    if (rv == 0 && t->series == 0 && t->n_edges == 0) {
        /* nothing left: forget the tenant (its label sets went stale) */
        struct sm_tenant *first = tr_u64map_get(&r->tenants, t->hash);
        if (first == t) {
            if (t->chain != NULL) {
                sm__map_replace(&r->tenants, t->hash, t->chain);
            } else {
                tr_u64map_del(&r->tenants, t->hash);
            }
        } else {
            for (struct sm_tenant *p = first; p != NULL; p = p->chain) {
                if (p->chain == t) {
                    p->chain = t->chain;
                    break;
                }
            }
        }
        sm__tenant_free(t);
    }
    pthread_mutex_unlock(&r->mu);
    return rv;
}

int tr_spanmetrics_tenants(struct tr_spanmetrics *r, struct tr_buf *out)
{
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->tenants.cap; i++) {
        for (struct sm_tenant *t = r->tenants.slots[i].value; t != NULL;
             t = t->chain) {
            tr_buf_append(out, t->name, strlen(t->name) + 1);
        }
    }
    pthread_mutex_unlock(&r->mu);
    return out->oom ? TR_ENOMEM : 0;
}

/* ---- span size --------------------------------------------------------------
 */

static size_t sm__vlen(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* A length-delimited field of n bytes with a one-byte tag. */
static size_t sm__ld(size_t n)
{
    return 1 + sm__vlen(n) + n;
}

static size_t sm__kvs_size(const struct tr_otlp_kv *kvs, size_t n);

static size_t sm__value_size(const struct tr_otlp_value *v)
{
    switch (v->type) {
        case TR_OTLP_STRING:
        case TR_OTLP_BYTES:
            return sm__ld(v->s.len);
        case TR_OTLP_BOOL:
            return 2;
        case TR_OTLP_INT:
            return 1 + sm__vlen((uint64_t)v->i);
        case TR_OTLP_DOUBLE:
            return 9;
        case TR_OTLP_ARRAY: {
            size_t t = 0;
            for (size_t i = 0; i < v->n; i++) {
                t += sm__ld(sm__value_size(&v->items[i]));
            }
            return sm__ld(t);
        }
        case TR_OTLP_KVLIST:
            return sm__ld(sm__kvs_size(v->kvs, v->n));
        default:
            return 0;
    }
}

/* Repeated KeyValue fields (each with its tag). */
static size_t sm__kvs_size(const struct tr_otlp_kv *kvs, size_t n)
{
    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
        size_t kv = (kvs[i].key.len ? sm__ld(kvs[i].key.len) : 0) +
                    (kvs[i].value.type != TR_OTLP_EMPTY
                         ? sm__ld(sm__value_size(&kvs[i].value))
                         : 0);
        t += sm__ld(kv);
    }
    return t;
}

static size_t sm__opt_ld(size_t n)
{
    return n > 0 ? sm__ld(n) : 0;
}

static size_t sm__opt_v(uint64_t v)
{
    return v != 0 ? 1 + sm__vlen(v) : 0;
}

size_t tr_spanmetrics_span_size(const struct tr_otlp_span *s)
{
    size_t t =
        sm__opt_ld(s->trace_id.len) + sm__opt_ld(s->span_id.len) +
        sm__opt_ld(s->trace_state.len) + sm__opt_ld(s->parent_span_id.len) +
        sm__opt_ld(s->name.len) + sm__opt_v((uint64_t)(int64_t)s->kind) +
        (s->start_time_unix_nano ? 9 : 0) + (s->end_time_unix_nano ? 9 : 0) +
        sm__kvs_size(s->attrs, s->n_attrs) +
        sm__opt_v(s->dropped_attributes_count) +
        sm__opt_v(s->dropped_events_count) + sm__opt_v(s->dropped_links_count) +
        (s->flags ? 6 : 0);
    for (size_t i = 0; i < s->n_events; i++) {
        const struct tr_otlp_event *e = &s->events[i];
        t += sm__ld((e->time_unix_nano ? 9 : 0) + sm__opt_ld(e->name.len) +
                    sm__kvs_size(e->attrs, e->n_attrs) +
                    sm__opt_v(e->dropped_attributes_count));
    }
    for (size_t i = 0; i < s->n_links; i++) {
        const struct tr_otlp_link *l = &s->links[i];
        t +=
            sm__ld(sm__opt_ld(l->trace_id.len) + sm__opt_ld(l->span_id.len) +
                   sm__opt_ld(l->trace_state.len) +
                   sm__kvs_size(l->attrs, l->n_attrs) +
                   sm__opt_v(l->dropped_attributes_count) + (l->flags ? 5 : 0));
    }
    if (s->status_code != 0 || s->status_message.len > 0) {
        t += sm__ld(sm__opt_ld(s->status_message.len) +
                    sm__opt_v((uint64_t)(int64_t)s->status_code));
    }
    return t;
}
