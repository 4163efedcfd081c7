/* catalog.c - the cluster catalog: commands, deterministic apply, snapshot,
 * look-ups and placement (formats in catalog.h). */
#include "raft/catalog.h"

#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"

/* Version 2: tenant records ('T' commands and snapshots) carry the traces
 * limits too. Version 1 commands and snapshots are still read (without
 * them); every command is written in version 2. */
#define CAT_VERSION 2
#define CAT_VERSION_MIN 1
#define CAT_MAX_K 65535u

/* Smallest encodings, to bound counts by the bytes left: a snapshot node is
 * id (8) + three empty strings (3) + state (1); a snapshot shard is signal,
 * window, length, slot, state (1 each), count (1) and one id (8). */
#define NODE_MIN_BYTES 12u
#define SHARD_MIN_BYTES 14u

/* Allowed shard transitions, as masks of target states:
 *
 *   ACTIVE --> SEALING --> SEALED --> DELETED
 *     |           |                      ^
 *     +-----------+----------------------+
 */
static const unsigned shard_next[5] = {
    [TR_SHARD_ACTIVE] = (1u << TR_SHARD_SEALING) | (1u << TR_SHARD_DELETED),
    [TR_SHARD_SEALING] = (1u << TR_SHARD_SEALED) | (1u << TR_SHARD_DELETED),
    [TR_SHARD_SEALED] = 1u << TR_SHARD_DELETED,
    [TR_SHARD_DELETED] = 0,
};

static bool signal_ok(unsigned s)
{
    return s >= TR_SIGNAL_METRICS && s <= TR_SIGNAL_TRACES;
}

static bool shard_state_ok(unsigned s)
{
    return s >= TR_SHARD_ACTIVE && s <= TR_SHARD_DELETED;
}

void tr_catalog_init(struct tr_catalog *c)
{
    memset(c, 0, sizeof(*c));
}

void tr_catalog_free(struct tr_catalog *c)
{
    tr_free(c->nodes);
    tr_free(c->shards);
    tr_free(c->tenants);
    tr_free(c->drops);
    tr_catalog_init(c);
}

/* ---- settings and clock ------------------------------------------------ */

static void put_head(struct tr_buf *out, char type);

void tr_catalog_cmd_set_settings(struct tr_buf *out,
                                 const struct tr_catalog_settings *st)
{
    put_head(out, 'G');
    tr_buf_put_varint(out, st->ooo_window_ms);
}

void tr_catalog_cmd_set_clock(struct tr_buf *out, int64_t now_ms)
{
    put_head(out, 'K');
    tr_buf_put_varint(out, now_ms);
}

static int apply_set_settings(struct tr_catalog *c,
                              struct tr_cursor *cur,
                              char *errmsg)
{
    int64_t ooo;
    if (tr_cursor_varint(cur, &ooo) != 0 || ooo < 0 ||
        tr_cursor_left(cur) != 0) {
        return tr_errf(TR_ECORRUPT, errmsg, "catalog: bad settings command");
    }
    c->settings.set = true;
    c->settings.ooo_window_ms = ooo;
    return 0;
}

static int apply_set_clock(struct tr_catalog *c,
                           struct tr_cursor *cur,
                           char *errmsg)
{
    int64_t t;
    if (tr_cursor_varint(cur, &t) != 0 || t <= 0 || tr_cursor_left(cur) != 0) {
        return tr_errf(TR_ECORRUPT, errmsg, "catalog: bad clock command");
    }
    if (t < c->clock_ms) {
        return tr_errf(TR_EINVAL, errmsg,
                       "catalog: the cluster clock never goes back");
    }
    c->clock_ms = t;
    return 0;
}

/* ---- tenants ----------------------------------------------------------- */

const struct tr_catalog_tenant *tr_catalog_tenant(const struct tr_catalog *c,
                                                  const char *name)
{
    size_t lo = 0, hi = c->n_tenants;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(c->tenants[mid].name, name);
        if (cmp == 0) {
            return &c->tenants[mid];
        }
        if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

static void put_tenant(struct tr_buf *out, const struct tr_catalog_tenant *t);
static int get_tenant(struct tr_cursor *cur,
                      uint8_t version,
                      struct tr_catalog_tenant *t);

static bool tenant_is_default(const struct tr_catalog_tenant *t)
{
    return t->max_series == 0 && t->ingestion_rate < 0 &&
           t->ingestion_burst == 0 && t->retention_metrics_ms < 0 &&
           t->retention_logs_ms < 0 && t->retention_traces_ms < 0 &&
           t->traces_max_bytes_per_trace == 0 &&
           t->traces_max_attr_bytes == 0 && t->traces_rate_bytes == 0 &&
           t->traces_burst_bytes == 0 && t->traces_span_metrics == 0 &&
           t->traces_service_graph == 0;
}

static int apply_set_tenant(struct tr_catalog *c,
                            struct tr_cursor *cur,
                            uint8_t version,
                            char *errmsg)
{
    struct tr_catalog_tenant t;
    if (get_tenant(cur, version, &t) != 0 || tr_cursor_left(cur) != 0 ||
        t.name[0] == '\0') {
        return tr_errf(TR_ECORRUPT, errmsg, "catalog: bad set-tenant command");
    }
    size_t at = 0;
    while (at < c->n_tenants && strcmp(c->tenants[at].name, t.name) < 0) {
        at++;
    }
    bool exists = at < c->n_tenants && strcmp(c->tenants[at].name, t.name) == 0;
    if (tenant_is_default(&t)) {
        if (exists) {
            memmove(&c->tenants[at], &c->tenants[at + 1],
                    (c->n_tenants - at - 1) * sizeof(t));
            c->n_tenants--;
        }
        return 0;
    }
    if (exists) {
        c->tenants[at] = t;
        return 0;
    }
    struct tr_catalog_tenant *nt =
        tr_realloc(c->tenants, (c->n_tenants + 1) * sizeof(t));
    if (nt == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    c->tenants = nt;
    memmove(&nt[at + 1], &nt[at], (c->n_tenants - at) * sizeof(t));
    nt[at] = t;
    c->n_tenants++;
    return 0;
}

/* ---- tenants dropped from sealed windows ------------------------------- */

static int drop_cmp(const struct tr_catalog_drop *d,
                    uint8_t signal,
                    int64_t window,
                    const char *tenant)
{
    if (d->signal != signal) {
        return d->signal < signal ? -1 : 1;
    }
    if (d->window != window) {
        return d->window < window ? -1 : 1;
    }
    return strcmp(d->tenant, tenant);
}

/* Index of the first drop >= (signal, window, tenant). */
static size_t drop_lower(const struct tr_catalog *c,
                         uint8_t signal,
                         int64_t window,
                         const char *tenant)
{
    size_t lo = 0, hi = c->n_drops;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (drop_cmp(&c->drops[mid], signal, window, tenant) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

bool tr_catalog_dropped(const struct tr_catalog *c,
                        uint8_t signal,
                        int64_t window,
                        const char *tenant)
{
    size_t i = drop_lower(c, signal, window, tenant);
    return i < c->n_drops &&
           drop_cmp(&c->drops[i], signal, window, tenant) == 0;
}

size_t tr_catalog_drops_of(const struct tr_catalog *c,
                           uint8_t signal,
                           int64_t window)
{
    size_t n = 0;
    for (size_t i = drop_lower(c, signal, window, "");
         i < c->n_drops && c->drops[i].signal == signal &&
         c->drops[i].window == window;
         i++) {
        n++;
    }
    return n;
}

/* Forgets the drops of (signal, window) (its last shard was deleted). */
static void drops_forget(struct tr_catalog *c, uint8_t signal, int64_t window)
{
    size_t at = drop_lower(c, signal, window, "");
    size_t n = tr_catalog_drops_of(c, signal, window);
    if (n == 0) {
        return;
    }
    memmove(&c->drops[at], &c->drops[at + n],
            (c->n_drops - at - n) * sizeof(c->drops[0]));
    c->n_drops -= n;
}

/* ---- search ---------------------------------------------------------- */

/* Index of the first node with id >= id. */
static size_t node_lower(const struct tr_catalog_node *nodes,
                         size_t n,
                         uint64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (nodes[mid].id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static bool node_known(const struct tr_catalog_node *nodes,
                       size_t n,
                       uint64_t id)
{
    size_t i = node_lower(nodes, n, id);
    return i < n && nodes[i].id == id;
}

static int shard_cmp(const struct tr_catalog_shard *s,
                     uint8_t signal,
                     int64_t window,
                     uint32_t slot)
{
    if (s->signal != signal) {
        return s->signal < signal ? -1 : 1;
    }
    if (s->window != window) {
        return s->window < window ? -1 : 1;
    }
    if (s->slot != slot) {
        return s->slot < slot ? -1 : 1;
    }
    return 0;
}

/* Index of the first shard whose key is >= (signal, window, slot). */
static size_t shard_lower(const struct tr_catalog *c,
                          uint8_t signal,
                          int64_t window,
                          uint32_t slot)
{
    size_t lo = 0, hi = c->n_shards;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (shard_cmp(&c->shards[mid], signal, window, slot) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

const struct tr_catalog_node *tr_catalog_node(const struct tr_catalog *c,
                                              uint64_t id)
{
    size_t i = node_lower(c->nodes, c->n_nodes, id);
    return i < c->n_nodes && c->nodes[i].id == id ? &c->nodes[i] : NULL;
}

const struct tr_catalog_shard *tr_catalog_shard(const struct tr_catalog *c,
                                                uint8_t signal,
                                                int64_t window,
                                                uint16_t slot)
{
    size_t i = shard_lower(c, signal, window, slot);
    if (i < c->n_shards &&
        shard_cmp(&c->shards[i], signal, window, slot) == 0) {
        return &c->shards[i];
    }
    return NULL;
}

long tr_catalog_window(const struct tr_catalog *c,
                       uint8_t signal,
                       int64_t window)
{
    size_t i = shard_lower(c, signal, window, 0);
    if (i < c->n_shards && c->shards[i].signal == signal &&
        c->shards[i].window == window) {
        return (long)i;
    }
    return -1;
}

size_t tr_catalog_active_nodes(const struct tr_catalog *c,
                               uint64_t *ids,
                               size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_nodes; i++) {
        if (c->nodes[i].state != TR_NODE_ACTIVE) {
            continue;
        }
        if (n < max) {
            ids[n] = c->nodes[i].id;
        }
        n++;
    }
    return n;
}

/* ---- encoding helpers ------------------------------------------------ */

static void put_str(struct tr_buf *out, const char *s, size_t cap)
{
    size_t n = strnlen(s, cap - 1);
    tr_buf_put_uvarint(out, n);
    tr_buf_append(out, s, n);
}

static void put_node(struct tr_buf *out, const struct tr_catalog_node *n)
{
    tr_buf_put_u64be(out, n->id);
    put_str(out, n->name, sizeof(n->name));
    put_str(out, n->raft_addr, sizeof(n->raft_addr));
    put_str(out, n->http_addr, sizeof(n->http_addr));
}

static void put_ids(struct tr_buf *out, const uint64_t *ids, size_t n)
{
    tr_buf_put_uvarint(out, n);
    for (size_t i = 0; i < n; i++) {
        tr_buf_put_u64be(out, ids[i]);
    }
}

static void put_head(struct tr_buf *out, char type)
{
    tr_buf_putc(out, type);
    tr_buf_putc(out, CAT_VERSION);
}

static void put_tenant(struct tr_buf *out, const struct tr_catalog_tenant *t)
{
    put_str(out, t->name, sizeof(t->name));
    tr_buf_put_uvarint(out, t->max_series);
    uint64_t bits;
    memcpy(&bits, &t->ingestion_rate, 8);
    tr_buf_put_u64be(out, bits);
    tr_buf_put_uvarint(out, t->ingestion_burst);
    tr_buf_put_varint(out, t->retention_metrics_ms);
    tr_buf_put_varint(out, t->retention_logs_ms);
    tr_buf_put_varint(out, t->retention_traces_ms);
    tr_buf_put_uvarint(out, t->traces_max_bytes_per_trace);
    tr_buf_put_uvarint(out, t->traces_max_attr_bytes);
    tr_buf_put_uvarint(out, t->traces_rate_bytes);
    tr_buf_put_uvarint(out, t->traces_burst_bytes);
    tr_buf_putc(out, (char)t->traces_span_metrics);
    tr_buf_putc(out, (char)t->traces_service_graph);
}

void tr_catalog_cmd_set_tenant(struct tr_buf *out,
                               const struct tr_catalog_tenant *t)
{
    put_head(out, 'T');
    put_tenant(out, t);
}

/* Reads a length-prefixed string into dst[cap] (NUL-terminated). Too long
 * or holding a NUL byte: TR_ECORRUPT. */
static int get_str(struct tr_cursor *cur, char *dst, size_t cap)
{
    uint64_t n;
    struct tr_slice s;
    if (tr_cursor_uvarint(cur, &n) != 0 || n >= cap ||
        tr_cursor_bytes(cur, (size_t)n, &s) != 0 ||
        (n > 0 && memchr(s.base, 0, s.len) != NULL)) {
        return TR_ECORRUPT;
    }
    if (n > 0) {
        memcpy(dst, s.base, s.len);
    }
    dst[n] = '\0';
    return 0;
}

static int get_tenant(struct tr_cursor *cur,
                      uint8_t version,
                      struct tr_catalog_tenant *t)
{
    uint64_t bits;
    memset(t, 0, sizeof(*t));
    if (get_str(cur, t->name, sizeof(t->name)) != 0 ||
        tr_cursor_uvarint(cur, &t->max_series) != 0 ||
        tr_cursor_u64be(cur, &bits) != 0 ||
        tr_cursor_uvarint(cur, &t->ingestion_burst) != 0 ||
        tr_cursor_varint(cur, &t->retention_metrics_ms) != 0 ||
        tr_cursor_varint(cur, &t->retention_logs_ms) != 0 ||
        tr_cursor_varint(cur, &t->retention_traces_ms) != 0) {
        return TR_ECORRUPT;
    }
    memcpy(&t->ingestion_rate, &bits, 8);
    if (t->ingestion_rate != t->ingestion_rate) {
        return TR_ECORRUPT; /* NaN */
    }
    if (version >= 2 &&
        (tr_cursor_uvarint(cur, &t->traces_max_bytes_per_trace) != 0 ||
         tr_cursor_uvarint(cur, &t->traces_max_attr_bytes) != 0 ||
         tr_cursor_uvarint(cur, &t->traces_rate_bytes) != 0 ||
         tr_cursor_uvarint(cur, &t->traces_burst_bytes) != 0 ||
         tr_cursor_u8(cur, &t->traces_span_metrics) != 0 ||
         tr_cursor_u8(cur, &t->traces_service_graph) != 0 ||
         t->traces_span_metrics > 2 || t->traces_service_graph > 2)) {
        return TR_ECORRUPT;
    }
    return 0;
}

/* id, name, raft address, http address. */
static int get_node(struct tr_cursor *cur, struct tr_catalog_node *n)
{
    memset(n, 0, sizeof(*n));
    if (tr_cursor_u64be(cur, &n->id) != 0 ||
        get_str(cur, n->name, sizeof(n->name)) != 0 ||
        get_str(cur, n->raft_addr, sizeof(n->raft_addr)) != 0 ||
        get_str(cur, n->http_addr, sizeof(n->http_addr)) != 0) {
        return TR_ECORRUPT;
    }
    return 0;
}

/* uvarint n, n ids. Stores at most TR_CATALOG_MAX_REPLICAS ids (when ids
 * is non-NULL); *n gets the count as encoded (so > MAX is visible).
 * TR_ECORRUPT when the bytes are not there. */
static int get_ids(struct tr_cursor *cur, uint64_t *ids, uint64_t *n)
{
    if (tr_cursor_uvarint(cur, n) != 0 || *n > tr_cursor_left(cur) / 8) {
        return TR_ECORRUPT;
    }
    for (uint64_t i = 0; i < *n; i++) {
        uint64_t id;
        if (tr_cursor_u64be(cur, &id) != 0) {
            return TR_ECORRUPT;
        }
        if (ids != NULL && i < TR_CATALOG_MAX_REPLICAS) {
            ids[i] = id;
        }
    }
    return 0;
}

/* A replica list: 1..MAX ids, distinct, each a known node. */
static int check_replicas(const struct tr_catalog_node *nodes,
                          size_t n_nodes,
                          const uint64_t *ids,
                          uint64_t n,
                          char *errmsg)
{
    if (n < 1 || n > TR_CATALOG_MAX_REPLICAS) {
        return tr_errf(TR_EINVAL, errmsg, "catalog: %llu replicas (want 1..%d)",
                       (unsigned long long)n, TR_CATALOG_MAX_REPLICAS);
    }
    for (size_t i = 0; i < n; i++) {
        if (!node_known(nodes, n_nodes, ids[i])) {
            return tr_errf(TR_EINVAL, errmsg, "catalog: unknown node %llu",
                           (unsigned long long)ids[i]);
        }
        for (size_t j = 0; j < i; j++) {
            if (ids[j] == ids[i]) {
                return tr_errf(TR_EINVAL, errmsg,
                               "catalog: node %llu twice in one shard",
                               (unsigned long long)ids[i]);
            }
        }
    }
    return 0;
}

/* ---- command builders ------------------------------------------------ */

void tr_catalog_cmd_add_node(struct tr_buf *out,
                             const struct tr_catalog_node *n)
{
    put_head(out, 'N');
    put_node(out, n);
}

void tr_catalog_cmd_remove_node(struct tr_buf *out, uint64_t id)
{
    put_head(out, 'R');
    tr_buf_put_u64be(out, id);
}

void tr_catalog_cmd_create_window(struct tr_buf *out,
                                  uint8_t signal,
                                  int64_t window,
                                  int64_t window_ms,
                                  uint16_t k,
                                  const uint64_t *replicas,
                                  uint8_t rf)
{
    put_head(out, 'W');
    tr_buf_putc(out, (char)signal);
    tr_buf_put_varint(out, window);
    tr_buf_put_uvarint(out, (uint64_t)window_ms);
    tr_buf_put_uvarint(out, k);
    for (size_t s = 0; s < k; s++) {
        put_ids(out, replicas + s * rf, rf);
    }
}

void tr_catalog_cmd_seal(struct tr_buf *out,
                         uint8_t signal,
                         int64_t window,
                         uint16_t slot,
                         uint64_t index,
                         uint64_t checksum)
{
    put_head(out, 'Z');
    tr_buf_putc(out, (char)signal);
    tr_buf_put_varint(out, window);
    tr_buf_put_uvarint(out, slot);
    tr_buf_put_uvarint(out, index);
    tr_buf_put_u64be(out, checksum);
}

void tr_catalog_cmd_set_state(struct tr_buf *out,
                              uint8_t signal,
                              int64_t window,
                              uint16_t slot,
                              int state)
{
    put_head(out, 'S');
    tr_buf_putc(out, (char)signal);
    tr_buf_put_varint(out, window);
    tr_buf_put_uvarint(out, slot);
    tr_buf_putc(out, (char)(uint8_t)state);
}

void tr_catalog_cmd_drop_tenant(struct tr_buf *out,
                                uint8_t signal,
                                int64_t window,
                                const char *tenant)
{
    put_head(out, 'X');
    tr_buf_putc(out, (char)signal);
    tr_buf_put_varint(out, window);
    put_str(out, tenant, TR_CATALOG_TENANT_MAX);
}

void tr_catalog_cmd_set_replicas(struct tr_buf *out,
                                 uint8_t signal,
                                 int64_t window,
                                 uint16_t slot,
                                 const uint64_t *ids,
                                 uint8_t n)
{
    put_head(out, 'P');
    tr_buf_putc(out, (char)signal);
    tr_buf_put_varint(out, window);
    tr_buf_put_uvarint(out, slot);
    put_ids(out, ids, n);
}

/* ---- apply ----------------------------------------------------------- */

static int apply_add_node(struct tr_catalog *c,
                          struct tr_cursor *cur,
                          char *errmsg)
{
    struct tr_catalog_node n;
    if (get_node(cur, &n) != 0 || tr_cursor_left(cur) != 0) {
        return tr_errf(TR_ECORRUPT, errmsg, "catalog: bad add-node command");
    }
    if (n.id == 0) {
        return tr_errf(TR_EINVAL, errmsg, "catalog: node id 0");
    }
    n.state = TR_NODE_ACTIVE;
    size_t i = node_lower(c->nodes, c->n_nodes, n.id);
    if (i < c->n_nodes && c->nodes[i].id == n.id) {
        c->nodes[i] = n; /* upsert: addresses may change on restart */
        return 0;
    }
    struct tr_catalog_node *p =
        tr_realloc(c->nodes, (c->n_nodes + 1) * sizeof(*p));
    if (p == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "catalog: out of memory");
    }
    c->nodes = p;
    memmove(&p[i + 1], &p[i], (c->n_nodes - i) * sizeof(*p));
    p[i] = n;
    c->n_nodes++;
    return 0;
}

static int apply_remove_node(struct tr_catalog *c,
                             struct tr_cursor *cur,
                             char *errmsg)
{
    uint64_t id;
    if (tr_cursor_u64be(cur, &id) != 0 || tr_cursor_left(cur) != 0) {
        return tr_errf(TR_ECORRUPT, errmsg, "catalog: bad remove-node command");
    }
    size_t i = node_lower(c->nodes, c->n_nodes, id);
    if (i == c->n_nodes || c->nodes[i].id != id) {
        return tr_errf(TR_EINVAL, errmsg, "catalog: unknown node %llu",
                       (unsigned long long)id);
    }
    c->nodes[i].state = TR_NODE_REMOVED;
    return 0;
}

/* signal u8, window varint: the prefix of 'W', 'S' and 'P'. */
static int get_window(struct tr_cursor *cur, uint8_t *signal, int64_t *window)
{
    if (tr_cursor_u8(cur, signal) != 0 || tr_cursor_varint(cur, window) != 0) {
        return TR_ECORRUPT;
    }
    return 0;
}

static int apply_create_window(struct tr_catalog *c,
                               struct tr_cursor *cur,
                               char *errmsg)
{
    uint8_t signal;
    int64_t window;
    uint64_t len, k;
    if (get_window(cur, &signal, &window) != 0 ||
        tr_cursor_uvarint(cur, &len) != 0 || tr_cursor_uvarint(cur, &k) != 0 ||
        k > tr_cursor_left(cur)) { /* every slot takes at least one byte */
        return tr_errf(TR_ECORRUPT, errmsg, "catalog: bad create-window");
    }
    /* Parse every slot first (undecodable beats invalid), keeping them
     * only while k is in range: the allocation is bounded by both the
     * input and CAT_MAX_K. */
    struct tr_catalog_shard *tmp = NULL;
    if (k >= 1 && k <= CAT_MAX_K) {
        tmp = tr_calloc((size_t)k, sizeof(*tmp));
        if (tmp == NULL) {
            return tr_errf(TR_ENOMEM, errmsg, "catalog: out of memory");
        }
    }
    int rv;
    uint64_t bad_n = 1;
    for (uint64_t s = 0; s < k; s++) {
        uint64_t ids[TR_CATALOG_MAX_REPLICAS];
        uint64_t n;
        if (get_ids(cur, ids, &n) != 0) {
            rv = tr_errf(TR_ECORRUPT, errmsg, "catalog: bad create-window");
            goto err_after_tmp;
        }
        if (n < 1 || n > TR_CATALOG_MAX_REPLICAS) {
            bad_n = n;
        } else if (tmp != NULL) {
            tmp[s].signal = signal;
            tmp[s].window = window;
            tmp[s].window_ms = (int64_t)len;
            tmp[s].slot = (uint16_t)s;
            tmp[s].k = (uint16_t)k;
            tmp[s].state = TR_SHARD_ACTIVE;
            memcpy(tmp[s].replicas, ids, (size_t)n * sizeof(ids[0]));
            tmp[s].n_replicas = (uint8_t)n;
            memcpy(tmp[s].initial, ids, (size_t)n * sizeof(ids[0]));
            tmp[s].n_initial = (uint8_t)n;
        }
    }
    if (tr_cursor_left(cur) != 0) {
        rv = tr_errf(TR_ECORRUPT, errmsg, "catalog: bad create-window");
        goto err_after_tmp;
    }
    if (!signal_ok(signal)) {
        rv = tr_errf(TR_EINVAL, errmsg, "catalog: unknown signal %u", signal);
        goto err_after_tmp;
    }
    if (len < 1 || len > (uint64_t)INT64_MAX) {
        rv = tr_errf(TR_EINVAL, errmsg, "catalog: bad window length");
        goto err_after_tmp;
    }
    if (tmp == NULL) {
        rv = tr_errf(TR_EINVAL, errmsg, "catalog: %llu shards (want 1..%u)",
                     (unsigned long long)k, CAT_MAX_K);
        goto err_after_tmp;
    }
    if (bad_n < 1 || bad_n > TR_CATALOG_MAX_REPLICAS) {
        rv = check_replicas(c->nodes, c->n_nodes, NULL, bad_n, errmsg);
        goto err_after_tmp;
    }
    for (size_t s = 0; s < k; s++) {
        rv = check_replicas(c->nodes, c->n_nodes, tmp[s].replicas,
                            tmp[s].n_replicas, errmsg);
        if (rv != 0) {
            goto err_after_tmp;
        }
    }
    size_t at = shard_lower(c, signal, window, 0);
    if (at < c->n_shards && c->shards[at].signal == signal &&
        c->shards[at].window == window) {
        rv = tr_errf(TR_EINVAL, errmsg,
                     "catalog: window %lld of signal %u exists",
                     (long long)window, signal);
        goto err_after_tmp;
    }
    struct tr_catalog_shard *p =
        tr_realloc(c->shards, (c->n_shards + (size_t)k) * sizeof(*p));
    if (p == NULL) {
        rv = tr_errf(TR_ENOMEM, errmsg, "catalog: out of memory");
        goto err_after_tmp;
    }
    c->shards = p;
    memmove(&p[at + k], &p[at], (c->n_shards - at) * sizeof(*p));
    memcpy(&p[at], tmp, (size_t)k * sizeof(*p));
    c->n_shards += (size_t)k;
    tr_free(tmp);
    return 0;

err_after_tmp:
    tr_free(tmp);
    return rv;
}

/* signal, window, slot: the shard named by 'S' and 'P', or NULL (and
 * TR_EINVAL in errmsg). */
static struct tr_catalog_shard *find_target(struct tr_catalog *c,
                                            uint8_t signal,
                                            int64_t window,
                                            uint64_t slot,
                                            char *errmsg)
{
    if (slot <= UINT16_MAX) {
        size_t i = shard_lower(c, signal, window, (uint32_t)slot);
        if (i < c->n_shards &&
            shard_cmp(&c->shards[i], signal, window, (uint32_t)slot) == 0) {
            return &c->shards[i];
        }
    }
    tr_errf(TR_EINVAL, errmsg, "catalog: no shard (%u, %lld, %llu)", signal,
            (long long)window, (unsigned long long)slot);
    return NULL;
}

static int apply_set_state(struct tr_catalog *c,
                           struct tr_cursor *cur,
                           char *errmsg)
{
    uint8_t signal, state;
    int64_t window;
    uint64_t slot;
    if (get_window(cur, &signal, &window) != 0 ||
        tr_cursor_uvarint(cur, &slot) != 0 || tr_cursor_u8(cur, &state) != 0 ||
        tr_cursor_left(cur) != 0) {
        return tr_errf(TR_ECORRUPT, errmsg, "catalog: bad set-state command");
    }
    struct tr_catalog_shard *s = find_target(c, signal, window, slot, errmsg);
    if (s == NULL) {
        return TR_EINVAL;
    }
    if (!shard_state_ok(state) || (shard_next[s->state] & (1u << state)) == 0) {
        return tr_errf(TR_EINVAL, errmsg,
                       "catalog: shard state %d -> %u not allowed", s->state,
                       state);
    }
    s->state = state;
    if (state != TR_SHARD_SEALED) {
        s->sealed_index = 0; /* only a sealed shard has them */
        s->sealed_checksum = 0;
    }
    if (state == TR_SHARD_DELETED) {
        long w = tr_catalog_window(c, signal, window);
        bool left = false;
        for (long i = w;
             i >= 0 && (size_t)i < c->n_shards &&
             c->shards[i].signal == signal && c->shards[i].window == window;
             i++) {
            left = left || c->shards[i].state != TR_SHARD_DELETED;
        }
        if (!left) {
            drops_forget(c, signal, window);
        }
    }
    return 0;
}

static int apply_drop_tenant(struct tr_catalog *c,
                             struct tr_cursor *cur,
                             char *errmsg)
{
    struct tr_catalog_drop d;
    memset(&d, 0, sizeof(d));
    if (get_window(cur, &d.signal, &d.window) != 0 ||
        get_str(cur, d.tenant, sizeof(d.tenant)) != 0 ||
        tr_cursor_left(cur) != 0 || d.tenant[0] == '\0') {
        return tr_errf(TR_ECORRUPT, errmsg, "catalog: bad drop-tenant command");
    }
    long w = tr_catalog_window(c, d.signal, d.window);
    bool sealed = false;
    for (long i = w;
         i >= 0 && (size_t)i < c->n_shards && c->shards[i].signal == d.signal &&
         c->shards[i].window == d.window;
         i++) {
        sealed = sealed || c->shards[i].state == TR_SHARD_SEALED;
    }
    if (!sealed) {
        return tr_errf(TR_EINVAL, errmsg,
                       "catalog: tenants are dropped from sealed windows only");
    }
    size_t at = drop_lower(c, d.signal, d.window, d.tenant);
    if (at < c->n_drops &&
        drop_cmp(&c->drops[at], d.signal, d.window, d.tenant) == 0) {
        return tr_errf(TR_EINVAL, errmsg, "catalog: tenant already dropped");
    }
    struct tr_catalog_drop *nd =
        tr_realloc(c->drops, (c->n_drops + 1) * sizeof(d));
    if (nd == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    c->drops = nd;
    memmove(&nd[at + 1], &nd[at], (c->n_drops - at) * sizeof(d));
    nd[at] = d;
    c->n_drops++;
    return 0;
}

static int apply_seal(struct tr_catalog *c, struct tr_cursor *cur, char *errmsg)
{
    uint8_t signal;
    int64_t window;
    uint64_t slot, index, checksum;
    if (get_window(cur, &signal, &window) != 0 ||
        tr_cursor_uvarint(cur, &slot) != 0 ||
        tr_cursor_uvarint(cur, &index) != 0 ||
        tr_cursor_u64be(cur, &checksum) != 0 || tr_cursor_left(cur) != 0 ||
        index == 0) {
        return tr_errf(TR_ECORRUPT, errmsg, "catalog: bad seal command");
    }
    struct tr_catalog_shard *s = find_target(c, signal, window, slot, errmsg);
    if (s == NULL) {
        return TR_EINVAL;
    }
    if (s->state != TR_SHARD_SEALING) {
        return tr_errf(TR_EINVAL, errmsg,
                       "catalog: only a sealing shard is sealed (state %d)",
                       s->state);
    }
    s->state = TR_SHARD_SEALED;
    s->sealed_index = index;
    s->sealed_checksum = checksum;
    return 0;
}

static int apply_set_replicas(struct tr_catalog *c,
                              struct tr_cursor *cur,
                              char *errmsg)
{
    uint8_t signal;
    int64_t window;
    uint64_t slot, n;
    uint64_t ids[TR_CATALOG_MAX_REPLICAS];
    if (get_window(cur, &signal, &window) != 0 ||
        tr_cursor_uvarint(cur, &slot) != 0 || get_ids(cur, ids, &n) != 0 ||
        tr_cursor_left(cur) != 0) {
        return tr_errf(TR_ECORRUPT, errmsg,
                       "catalog: bad set-replicas command");
    }
    struct tr_catalog_shard *s = find_target(c, signal, window, slot, errmsg);
    if (s == NULL) {
        return TR_EINVAL;
    }
    if (s->state == TR_SHARD_DELETED) {
        return tr_errf(TR_EINVAL, errmsg, "catalog: shard is deleted");
    }
    int rv = check_replicas(c->nodes, c->n_nodes, ids, n, errmsg);
    if (rv != 0) {
        return rv;
    }
    memset(s->replicas, 0, sizeof(s->replicas));
    memcpy(s->replicas, ids, (size_t)n * sizeof(ids[0]));
    s->n_replicas = (uint8_t)n;
    return 0;
}

int tr_catalog_apply(struct tr_catalog *c,
                     const void *cmd,
                     size_t len,
                     char *errmsg)
{
    struct tr_cursor cur = tr_cursor_make(cmd, len);
    uint8_t type, version;
    if (tr_cursor_u8(&cur, &type) != 0 || tr_cursor_u8(&cur, &version) != 0) {
        return tr_errf(TR_ECORRUPT, errmsg, "catalog: short command");
    }
    if (version < CAT_VERSION_MIN || version > CAT_VERSION) {
        return tr_errf(TR_ECORRUPT, errmsg, "catalog: command version %u",
                       version);
    }
    int rv;
    switch (type) {
        case 'N':
            rv = apply_add_node(c, &cur, errmsg);
            break;
        case 'R':
            rv = apply_remove_node(c, &cur, errmsg);
            break;
        case 'W':
            rv = apply_create_window(c, &cur, errmsg);
            break;
        case 'S':
            rv = apply_set_state(c, &cur, errmsg);
            break;
        case 'P':
            rv = apply_set_replicas(c, &cur, errmsg);
            break;
        case 'T':
            rv = apply_set_tenant(c, &cur, version, errmsg);
            break;
        case 'G':
            rv = apply_set_settings(c, &cur, errmsg);
            break;
        case 'K':
            rv = apply_set_clock(c, &cur, errmsg);
            break;
        case 'Z':
            rv = apply_seal(c, &cur, errmsg);
            break;
        case 'X':
            rv = apply_drop_tenant(c, &cur, errmsg);
            break;
        default:
            return tr_errf(TR_ECORRUPT, errmsg, "catalog: command type 0x%02x",
                           type);
    }
    if (rv == 0) {
        c->version++;
    }
    return rv;
}

/* ---- snapshot -------------------------------------------------------- */

int tr_catalog_encode(const struct tr_catalog *c, struct tr_buf *out)
{
    put_head(out, 'C');
    tr_buf_put_uvarint(out, c->n_nodes);
    for (size_t i = 0; i < c->n_nodes; i++) {
        put_node(out, &c->nodes[i]);
        tr_buf_putc(out, (char)(uint8_t)c->nodes[i].state);
    }
    tr_buf_put_uvarint(out, c->n_shards);
    for (size_t i = 0; i < c->n_shards; i++) {
        const struct tr_catalog_shard *s = &c->shards[i];
        tr_buf_putc(out, (char)s->signal);
        tr_buf_put_varint(out, s->window);
        tr_buf_put_uvarint(out, (uint64_t)s->window_ms);
        tr_buf_put_uvarint(out, s->slot);
        tr_buf_putc(out, (char)(uint8_t)s->state);
        put_ids(out, s->replicas, s->n_replicas);
        put_ids(out, s->initial, s->n_initial);
        if (s->state == TR_SHARD_SEALED) {
            tr_buf_put_uvarint(out, s->sealed_index);
            tr_buf_put_u64be(out, s->sealed_checksum);
        }
    }
    tr_buf_put_uvarint(out, c->version);
    bool extra = c->settings.set || c->clock_ms != 0 || c->n_drops > 0;
    if (c->n_tenants > 0 || extra) {
        tr_buf_put_uvarint(out, c->n_tenants);
        for (size_t i = 0; i < c->n_tenants; i++) {
            put_tenant(out, &c->tenants[i]);
        }
    }
    if (extra) {
        tr_buf_putc(out, 'G');
        tr_buf_putc(out, c->settings.set ? 1 : 0);
        tr_buf_put_varint(out, c->settings.ooo_window_ms);
        tr_buf_put_varint(out, c->clock_ms);
    }
    if (c->n_drops > 0) {
        tr_buf_putc(out, 'X');
        tr_buf_put_uvarint(out, c->n_drops);
        for (size_t i = 0; i < c->n_drops; i++) {
            tr_buf_putc(out, (char)c->drops[i].signal);
            tr_buf_put_varint(out, c->drops[i].window);
            put_str(out, c->drops[i].tenant, TR_CATALOG_TENANT_MAX);
        }
    }
    return out->oom ? TR_ENOMEM : 0;
}

/* One snapshot shard; checks its own fields and its order after prev
 * (NULL for the first). */
static int get_shard(struct tr_cursor *cur,
                     const struct tr_catalog_node *nodes,
                     size_t n_nodes,
                     const struct tr_catalog_shard *prev,
                     struct tr_catalog_shard *s)
{
    uint64_t len, slot, n, ni;
    uint8_t state;
    memset(s, 0, sizeof(*s));
    if (get_window(cur, &s->signal, &s->window) != 0 ||
        tr_cursor_uvarint(cur, &len) != 0 ||
        tr_cursor_uvarint(cur, &slot) != 0 || tr_cursor_u8(cur, &state) != 0 ||
        get_ids(cur, s->replicas, &n) != 0 ||
        get_ids(cur, s->initial, &ni) != 0) {
        return TR_ECORRUPT;
    }
    if (!signal_ok(s->signal) || len < 1 || len > (uint64_t)INT64_MAX ||
        slot >= CAT_MAX_K || !shard_state_ok(state) ||
        check_replicas(nodes, n_nodes, s->replicas, n, NULL) != 0 ||
        check_replicas(nodes, n_nodes, s->initial, ni, NULL) != 0) {
        return TR_ECORRUPT;
    }
    if (state == TR_SHARD_SEALED &&
        (tr_cursor_uvarint(cur, &s->sealed_index) != 0 ||
         tr_cursor_u64be(cur, &s->sealed_checksum) != 0)) {
        return TR_ECORRUPT;
    }
    s->n_initial = (uint8_t)ni;
    s->window_ms = (int64_t)len;
    s->slot = (uint16_t)slot;
    s->state = state;
    s->n_replicas = (uint8_t)n;
    bool same =
        prev != NULL && prev->signal == s->signal && prev->window == s->window;
    if (same) {
        /* slots of a window are 0..K-1 in order, one length */
        if (slot != (uint64_t)prev->slot + 1 ||
            prev->window_ms != s->window_ms) {
            return TR_ECORRUPT;
        }
    } else if (slot != 0 ||
               (prev != NULL && shard_cmp(prev, s->signal, s->window, 0) > 0)) {
        return TR_ECORRUPT;
    }
    return 0;
}

/* The snapshot's drop section ('X', count, drops in strict order). */
static int get_drops(struct tr_cursor *cur,
                     struct tr_catalog_drop **out,
                     uint64_t *n)
{
    uint8_t tag;
    if (tr_cursor_u8(cur, &tag) != 0 || tag != 'X' ||
        tr_cursor_uvarint(cur, n) != 0 || *n == 0 ||
        *n > tr_cursor_left(cur) / 4) {
        return TR_ECORRUPT;
    }
    struct tr_catalog_drop *d = tr_calloc((size_t)*n, sizeof(*d));
    if (d == NULL) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < *n; i++) {
        if (get_window(cur, &d[i].signal, &d[i].window) != 0 ||
            get_str(cur, d[i].tenant, sizeof(d[i].tenant)) != 0 ||
            d[i].tenant[0] == '\0' || !signal_ok(d[i].signal) ||
            (i > 0 &&
             drop_cmp(&d[i - 1], d[i].signal, d[i].window, d[i].tenant) >= 0)) {
            tr_free(d);
            return TR_ECORRUPT;
        }
    }
    *out = d;
    return 0;
}

int tr_catalog_decode(struct tr_catalog *c, const void *buf, size_t len)
{
    struct tr_cursor cur = tr_cursor_make(buf, len);
    uint8_t type, version;
    uint64_t n_nodes, n_shards, cat_version;
    struct tr_catalog_node *nodes = NULL;
    struct tr_catalog_shard *shards = NULL;
    int rv = TR_ECORRUPT;
    if (tr_cursor_u8(&cur, &type) != 0 || type != 'C' ||
        tr_cursor_u8(&cur, &version) != 0 || version < CAT_VERSION_MIN ||
        version > CAT_VERSION || tr_cursor_uvarint(&cur, &n_nodes) != 0 ||
        n_nodes > tr_cursor_left(&cur) / NODE_MIN_BYTES) {
        return TR_ECORRUPT;
    }
    if (n_nodes > 0) {
        nodes = tr_calloc((size_t)n_nodes, sizeof(*nodes));
        if (nodes == NULL) {
            return TR_ENOMEM;
        }
    }
    for (size_t i = 0; i < n_nodes; i++) {
        uint8_t state;
        if (get_node(&cur, &nodes[i]) != 0 || tr_cursor_u8(&cur, &state) != 0 ||
            nodes[i].id == 0 || (i > 0 && nodes[i].id <= nodes[i - 1].id) ||
            (state != TR_NODE_ACTIVE && state != TR_NODE_REMOVED)) {
            goto err_after_nodes;
        }
        nodes[i].state = state;
    }
    if (tr_cursor_uvarint(&cur, &n_shards) != 0 ||
        n_shards > tr_cursor_left(&cur) / SHARD_MIN_BYTES) {
        goto err_after_nodes;
    }
    if (n_shards > 0) {
        shards = tr_calloc((size_t)n_shards, sizeof(*shards));
        if (shards == NULL) {
            rv = TR_ENOMEM;
            goto err_after_nodes;
        }
    }
    for (size_t i = 0; i < n_shards; i++) {
        if (get_shard(&cur, nodes, (size_t)n_nodes,
                      i > 0 ? &shards[i - 1] : NULL, &shards[i]) != 0) {
            goto err_after_shards;
        }
    }
    /* k of each window: its last slot + 1 (slots are 0..K-1 in order) */
    for (size_t i = n_shards; i > 0; i--) {
        struct tr_catalog_shard *s = &shards[i - 1];
        bool last = i == n_shards || shards[i].slot == 0;
        s->k = last ? (uint16_t)(s->slot + 1) : shards[i].k;
    }
    struct tr_catalog_tenant *tenants = NULL;
    uint64_t n_tenants = 0;
    if (tr_cursor_uvarint(&cur, &cat_version) != 0) {
        goto err_after_shards;
    }
    struct tr_catalog_settings settings = {false, 0};
    int64_t clock_ms = 0;
    bool g_block = false; /* written exactly when something is in it */
    if (tr_cursor_left(&cur) > 0) {
        if (tr_cursor_uvarint(&cur, &n_tenants) != 0 ||
            n_tenants > tr_cursor_left(&cur) / 8) {
            goto err_after_shards;
        }
        tenants =
            tr_calloc((size_t)(n_tenants ? n_tenants : 1), sizeof(*tenants));
        if (tenants == NULL) {
            rv = TR_ENOMEM;
            goto err_after_shards;
        }
        for (size_t i = 0; i < n_tenants; i++) {
            if (get_tenant(&cur, version, &tenants[i]) != 0 ||
                tenants[i].name[0] == '\0' ||
                (i > 0 && strcmp(tenants[i - 1].name, tenants[i].name) >= 0)) {
                tr_free(tenants);
                goto err_after_shards;
            }
        }
        /* settings and clock: present exactly when the tenant count is
         * there without tenants, or after them when set */
        uint8_t tag, set;
        if (tr_cursor_left(&cur) > 0 || n_tenants == 0) {
            if (tr_cursor_u8(&cur, &tag) != 0 || tag != 'G' ||
                tr_cursor_u8(&cur, &set) != 0 || set > 1 ||
                tr_cursor_varint(&cur, &settings.ooo_window_ms) != 0 ||
                tr_cursor_varint(&cur, &clock_ms) != 0 ||
                settings.ooo_window_ms < 0 || clock_ms < 0 ||
                (set == 0 && settings.ooo_window_ms != 0)) {
                tr_free(tenants);
                goto err_after_shards;
            }
            settings.set = set == 1;
            g_block = true;
        }
    }
    struct tr_catalog_drop *drops = NULL;
    uint64_t n_drops = 0;
    if (tr_cursor_left(&cur) > 0 && get_drops(&cur, &drops, &n_drops) != 0) {
        tr_free(tenants);
        goto err_after_shards;
    }
    if (tr_cursor_left(&cur) != 0 ||
        g_block != (settings.set || clock_ms != 0 || n_drops > 0)) {
        /* trailing bytes, or sections written for nothing */
        tr_free(tenants);
        tr_free(drops);
        goto err_after_shards;
    }
    tr_free(c->drops);
    c->drops = drops;
    c->n_drops = (size_t)n_drops;
    tr_free(c->nodes);
    tr_free(c->shards);
    tr_free(c->tenants);
    c->tenants = tenants;
    c->n_tenants = (size_t)n_tenants;
    c->nodes = nodes;
    c->n_nodes = (size_t)n_nodes;
    c->shards = shards;
    c->n_shards = (size_t)n_shards;
    c->version = cat_version;
    c->settings = settings;
    c->clock_ms = clock_ms;
    return 0;

err_after_shards:
    tr_free(shards);
err_after_nodes:
    tr_free(nodes);
    return rv;
}

/* ---- placement ------------------------------------------------------- */

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

uint8_t tr_catalog_place(const uint64_t *nodes,
                         size_t n_nodes,
                         int64_t window,
                         int64_t window_ms,
                         uint16_t k,
                         uint8_t rf,
                         uint64_t *out)
{
    if (n_nodes == 0 || rf == 0) {
        return 0;
    }
    if (rf > n_nodes) {
        rf = (uint8_t)n_nodes;
    }
    if (rf > TR_CATALOG_MAX_REPLICAS) {
        rf = TR_CATALOG_MAX_REPLICAS;
    }
    if (k == 0) {
        return rf;
    }
    int64_t wlen = window_ms > 0 ? window_ms : 1;
    int64_t w = window / wlen;
    if (window % wlen != 0 && window < 0) {
        w--; /* floor division */
    }
    uint64_t n = n_nodes;
    int64_t wm = w % (int64_t)n; /* n_nodes <= INT64_MAX in practice */
    uint64_t base = (uint64_t)(wm < 0 ? wm + (int64_t)n : wm);
    uint64_t period = n / gcd(k, n); /* layers before j*k repeats mod n */
    for (uint64_t s = 0; s < k; s++) {
        for (uint64_t j = 0; j < rf; j++) {
            uint64_t idx = (base + s + (j * k) % n + j / period) % n;
            out[s * rf + j] = nodes[idx];
        }
    }
    return rf;
}
