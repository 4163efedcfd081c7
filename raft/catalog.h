/* catalog.h - the cluster catalog: the meta group's replicated state.
 *
 * Nodes (identity, addresses, state), tenants' overrides (later), and for
 * every placement window its shards with their replica node lists and
 * state. Only the meta leader changes it, by proposing commands (encoded
 * below) to the meta Raft group; every node applies them in log order with
 * tr_catalog_apply, so every node holds the same catalog. Pure data: no
 * I/O, no libuv, deterministic.
 *
 *   command (a meta Raft entry)
 *   OFFSET  SIZE     DESCRIPTION
 *   0       1        type: 'N' add/update node, 'R' remove node,
 *                    'W' create window, 'S' set shard state,
 *                    'P' set shard replicas
 *   1       1        version = 1
 *   2       ...      body per type (uvarints and length-prefixed strings):
 *     'N': id u64, name, raft address, http address
 *     'R': id u64
 *     'W': signal u8, window start (zig-zag varint ms), window length ms,
 *          K uvarint, then per slot: uvarint n replicas, n ids (u64 BE;
 *          the first is the preferred leader)
 *     'S': signal u8, window start, slot uvarint, state u8
 *     'P': signal u8, window start, slot uvarint, uvarint n, n ids
 *     'T': tenant name, uvarint max series, u64 BE bits of the ingestion
 *          rate (double), uvarint burst, varint retention metrics / logs /
 *          traces ms (upsert; every field at its default removes it)
 *     'G': cluster settings that apply must agree on: varint out-of-order
 *          window ms (>= 0); replaces the settings
 *     'K': cluster clock (--debug.fake-clock): varint now ms (> 0, never
 *          below the current one)
 *     'Z': seal: signal u8, window start, slot uvarint, uvarint index of
 *          the seal entry (> 0), u64 BE checksum the replicas agreed on;
 *          a SEALING shard becomes SEALED with them (storage/seal.h)
 *     'X': tenant dropped from a sealed window (retention): signal u8,
 *          window start, tenant name (1..TENANT_MAX-1 bytes); every
 *          replica of the window's SEALED shards deletes the tenant's keys
 *          (cluster/sealed.c); rejected when the window has no SEALED
 *          shard or the record exists
 *
 *   snapshot: 'C' version 1, uvarint node count, nodes as in 'N' plus a
 *   state byte, uvarint shard count, shards as (signal, window, length,
 *   slot, state, replicas, initial replicas, and for a SEALED shard
 *   uvarint sealed index + u64 BE checksum), uvarint catalog version,
 *   then (optional: when there are tenants, settings or a clock) uvarint
 *   tenant count and tenants as in 'T', then (optional: when settings or
 *   a clock are set) 'G', u8 settings set (0/1), varint out-of-order
 *   window ms, varint clock ms (0 = the real clock), then (optional: when
 *   there are tenant drops; the tenant count and 'G' are then written too)
 *   'X', uvarint count, drops as in 'X' sorted by (signal, window, name).
 *
 *   Details (both forms): ids are u64 BE everywhere (also in 'N' and 'R');
 *   strings are uvarint length + bytes without NUL, name < NAME_MAX and
 *   addresses < ADDR_MAX bytes; window length is a uvarint >= 1; a state is
 *   one byte. A command or snapshot with trailing bytes is corrupt. The
 *   snapshot ends with a uvarint catalog version (c->version); nodes are in
 *   ascending id order, shards in (signal, window, slot) order with each
 *   window's slots 0..K-1 (K is not stored: it is the window's shard count).
 *
 *   Apply rules: 'N' is an upsert by id (addresses may change; the node
 *   becomes ACTIVE again); 'R' marks the node REMOVED and keeps its record
 *   (old shards still name it; removing a removed node is a no-op); 'W' is
 *   rejected when the window exists for that signal, K must be 1..65535 and
 *   each slot's list 1..MAX distinct known nodes (shards start ACTIVE); 'P'
 *   replaces the list (same rules; not on a DELETED shard). A window's
 *   'X' records go when its last shard becomes DELETED.
 */
#ifndef TR_RAFT_CATALOG_H
#define TR_RAFT_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "storage/shard.h"

#define TR_CATALOG_MAX_REPLICAS 7
#define TR_CATALOG_NAME_MAX 64
#define TR_CATALOG_ADDR_MAX 128

enum tr_node_state { TR_NODE_ACTIVE = 1, TR_NODE_REMOVED = 2 };

/* Shard states and their allowed transitions:
 *   active -> sealing -> sealed -> deleted; active -> deleted (retention) */
enum tr_shard_state {
    TR_SHARD_ACTIVE = 1,
    TR_SHARD_SEALING = 2,
    TR_SHARD_SEALED = 3,
    TR_SHARD_DELETED = 4,
};

struct tr_catalog_node {
    uint64_t id; /* raft id, non-zero */
    char name[TR_CATALOG_NAME_MAX];
    char raft_addr[TR_CATALOG_ADDR_MAX]; /* cluster address */
    char http_addr[TR_CATALOG_ADDR_MAX]; /* API address (internal RPC) */
    int state;                           /* enum tr_node_state */
};

struct tr_catalog_shard {
    uint8_t signal;    /* enum tr_signal */
    int64_t window;    /* window start, ms */
    int64_t window_ms; /* window length */
    uint16_t slot;
    uint16_t k;                                 /* slots in this window */
    int state;                                  /* enum tr_shard_state */
    uint64_t replicas[TR_CATALOG_MAX_REPLICAS]; /* [0] preferred leader */
    uint8_t n_replicas;
    /* the replicas the window was created with: they bootstrap the shard's
     * Raft group; replicas added later join it empty and are added by its
     * leader (a second bootstrap would fork the log) */
    uint64_t initial[TR_CATALOG_MAX_REPLICAS];
    uint8_t n_initial;
    /* SEALED: the index of the seal entry and the checksum every replica
     * reported there (0 in other states) */
    uint64_t sealed_index;
    uint64_t sealed_checksum;
};

/* Per-tenant overrides of the node-wide defaults (0 / -1 = default). */
#define TR_CATALOG_TENANT_MAX 151
struct tr_catalog_tenant {
    char name[TR_CATALOG_TENANT_MAX];
    uint64_t max_series;          /* 0 = --limits.max-series */
    double ingestion_rate;        /* samples/s; < 0 = default,
                                     0 = unlimited */
    uint64_t ingestion_burst;     /* 0 = default */
    int64_t retention_metrics_ms; /* -1 = --retention.metrics */
    int64_t retention_logs_ms;    /* -1 = default */
    int64_t retention_traces_ms;  /* -1 = default */
    /* traces limits (Tempo's names; catalog version 2); 0 = the flag */
    uint64_t traces_max_bytes_per_trace;
    uint64_t traces_max_attr_bytes;
    uint64_t traces_rate_bytes; /* per second */
    uint64_t traces_burst_bytes;
    uint8_t traces_span_metrics;  /* 0 = the flag, 1 = on, 2 = off */
    uint8_t traces_service_graph; /* 0 = the flag, 1 = on, 2 = off */
};

/* Cluster-wide settings that apply depends on (replicated, so every
 * replica of every shard uses the same; proposed by the meta leader from
 * its flags). */
struct tr_catalog_settings {
    bool set;              /* false until the first 'G' */
    int64_t ooo_window_ms; /* --ingest.ooo-window */
};

/* A tenant whose retention ended inside a sealed window: its data there is
 * dropped by every replica of the window's sealed shards. */
struct tr_catalog_drop {
    uint8_t signal;
    int64_t window;
    char tenant[TR_CATALOG_TENANT_MAX];
};

struct tr_catalog {
    struct tr_catalog_node *nodes; /* sorted by id */
    size_t n_nodes;
    struct tr_catalog_shard *shards; /* sorted by (signal, window, slot) */
    size_t n_shards;
    uint64_t version;                  /* bumped by every applied change */
    struct tr_catalog_tenant *tenants; /* sorted by name */
    size_t n_tenants;
    struct tr_catalog_settings settings;
    int64_t clock_ms;              /* the cluster's fake clock; 0 = real time */
    struct tr_catalog_drop *drops; /* sorted by (signal, window, tenant) */
    size_t n_drops;
};

void tr_catalog_init(struct tr_catalog *c);
/* Frees the arrays and leaves c empty (initialised). */
void tr_catalog_free(struct tr_catalog *c);

/* Applies one command. 0, TR_ECORRUPT (undecodable: skipped), TR_EINVAL
 * (a valid command that does not apply, e.g. an unknown shard or a
 * forbidden state transition: the catalog is unchanged). Deterministic.
 * Also TR_ENOMEM (catalog unchanged). errmsg may be NULL. c->version is
 * incremented by every apply that returns 0. */
int tr_catalog_apply(struct tr_catalog *c,
                     const void *cmd,
                     size_t len,
                     char *errmsg);

/* Command builders (append to out; out->oom tells an allocation failure).
 * Strings longer than the limits are truncated. */
void tr_catalog_cmd_add_node(struct tr_buf *out,
                             const struct tr_catalog_node *n);
void tr_catalog_cmd_remove_node(struct tr_buf *out, uint64_t id);
void tr_catalog_cmd_create_window(struct tr_buf *out,
                                  uint8_t signal,
                                  int64_t window,
                                  int64_t window_ms,
                                  uint16_t k,
                                  const uint64_t *replicas, /* k * rf ids */
                                  uint8_t rf);
void tr_catalog_cmd_set_state(struct tr_buf *out,
                              uint8_t signal,
                              int64_t window,
                              uint16_t slot,
                              int state);
void tr_catalog_cmd_seal(struct tr_buf *out,
                         uint8_t signal,
                         int64_t window,
                         uint16_t slot,
                         uint64_t index,
                         uint64_t checksum);
void tr_catalog_cmd_set_replicas(struct tr_buf *out,
                                 uint8_t signal,
                                 int64_t window,
                                 uint16_t slot,
                                 const uint64_t *ids,
                                 uint8_t n);

void tr_catalog_cmd_set_tenant(struct tr_buf *out,
                               const struct tr_catalog_tenant *t);
void tr_catalog_cmd_drop_tenant(struct tr_buf *out,
                                uint8_t signal,
                                int64_t window,
                                const char *tenant);
/* Is the tenant's drop from (signal, window) recorded? */
bool tr_catalog_dropped(const struct tr_catalog *c,
                        uint8_t signal,
                        int64_t window,
                        const char *tenant);
/* How many tenants are dropped from (signal, window). */
size_t tr_catalog_drops_of(const struct tr_catalog *c,
                           uint8_t signal,
                           int64_t window);
void tr_catalog_cmd_set_settings(struct tr_buf *out,
                                 const struct tr_catalog_settings *st);
void tr_catalog_cmd_set_clock(struct tr_buf *out, int64_t now_ms);
/* The tenant's overrides or NULL. */
const struct tr_catalog_tenant *tr_catalog_tenant(const struct tr_catalog *c,
                                                  const char *name);

/* Snapshot of the whole catalog (0 or TR_ENOMEM), and its restore
 * (replaces c on success: 0; TR_ECORRUPT or TR_ENOMEM leave c unchanged).
 * Equal catalogs encode to identical bytes. */
int tr_catalog_encode(const struct tr_catalog *c, struct tr_buf *out);
int tr_catalog_decode(struct tr_catalog *c, const void *buf, size_t len);

/* Look-ups. */
const struct tr_catalog_node *tr_catalog_node(const struct tr_catalog *c,
                                              uint64_t id);
const struct tr_catalog_shard *tr_catalog_shard(const struct tr_catalog *c,
                                                uint8_t signal,
                                                int64_t window,
                                                uint16_t slot);
/* Index of the first shard of (signal, window), or -1. The window's K shards
 * follow it. */
long tr_catalog_window(const struct tr_catalog *c,
                       uint8_t signal,
                       int64_t window);
/* Writes the ids of the ACTIVE nodes, ascending, into ids (at most max;
 * ids may be NULL when max is 0). Returns the number of active nodes, which
 * may exceed max (then only max were written). */
size_t tr_catalog_active_nodes(const struct tr_catalog *c,
                               uint64_t *ids,
                               size_t max);

/* Placement: spreads k shards x rf replicas of a new window evenly over the
 * active nodes (ids sorted), rotating by the window number so that
 * preferred leaders ([0] of each shard) and replicas are balanced across
 * windows, never two replicas of a shard on one node. rf is capped at the
 * number of nodes. Writes k * rf ids into out (shard-major). Returns the
 * rf used, 0 when there are no nodes. Deterministic.
 *
 * nodes must be distinct and ascending (as tr_catalog_active_nodes gives).
 * Rule: n = n_nodes, w = floor(window / window_ms) (window_ms <= 0 counts
 * as 1), g = gcd(k, n), p = n / g. Replica j of shard s goes to
 *
 *     nodes[(w + s + (j * k) % n + j / p) mod n]      (mod >= 0)
 *
 * i.e. replica "layers" j follow one another round the ring (layer j
 * starts where layer j-1 ended), plus one extra step each time the ring
 * position j*k mod n would repeat (every p layers). Hence:
 *   - distinct nodes within a shard: (j*k mod n) takes p distinct
 *     multiples of g and j / p < g adds a distinct offset below g;
 *   - leaders ([0], layer 0) are nodes w .. w+k-1: per window every node
 *     leads floor(k/n) or ceil(k/n) shards (exactly one when k == n);
 *   - replicas: every node holds floor(k*rf/n) or ceil(k*rf/n) of the
 *     window's replicas (whole periods of p layers cover the ring evenly,
 *     the rest is one contiguous run);
 *   - the rotation by w moves the surplus on to other nodes window after
 *     window, so over n consecutive windows all nodes get equal counts. */
uint8_t tr_catalog_place(const uint64_t *nodes,
                         size_t n_nodes,
                         int64_t window,
                         int64_t window_ms,
                         uint16_t k,
                         uint8_t rf,
                         uint64_t *out);

#endif
