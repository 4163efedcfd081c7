/* Tests for raft/catalog.c: every command, rejected commands leave the
 * catalog unchanged, shard state machine, snapshot round trip and corrupt
 * snapshots, determinism, placement balance, look-ups over many windows,
 * allocation failures. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "raft/catalog.h"

#define DAY 86400000LL

/* ---- helpers --------------------------------------------------------- */

static uint64_t cat_rng_state;

static uint64_t cat_rand(void)
{
    /* xorshift64*: deterministic, independent of libc */
    cat_rng_state ^= cat_rng_state >> 12;
    cat_rng_state ^= cat_rng_state << 25;
    cat_rng_state ^= cat_rng_state >> 27;
    return cat_rng_state * 2685821657736338717ULL;
}

static struct tr_catalog_node cat_node(uint64_t id, const char *name)
{
    struct tr_catalog_node n;
    memset(&n, 0, sizeof(n));
    n.id = id;
    snprintf(n.name, sizeof(n.name), "%s", name);
    snprintf(n.raft_addr, sizeof(n.raft_addr), "10.0.0.%llu:7000",
             (unsigned long long)id);
    snprintf(n.http_addr, sizeof(n.http_addr), "10.0.0.%llu:9090",
             (unsigned long long)id);
    return n;
}

/* Applies the command in b (then resets b); returns apply's result. */
static int cat_apply_buf(struct tr_catalog *c, struct tr_buf *b)
{
    char errmsg[TR_ERRMSG_SIZE];
    cr_assert(!b->oom);
    int rv = tr_catalog_apply(c, b->data, b->len, errmsg);
    tr_buf_reset(b);
    return rv;
}

static int cat_add(struct tr_catalog *c, uint64_t id)
{
    struct tr_buf b;
    tr_buf_init(&b);
    char name[32];
    snprintf(name, sizeof(name), "node-%llu", (unsigned long long)id);
    struct tr_catalog_node n = cat_node(id, name);
    tr_catalog_cmd_add_node(&b, &n);
    int rv = cat_apply_buf(c, &b);
    tr_buf_free(&b);
    return rv;
}

static int cat_window(struct tr_catalog *c,
                      uint8_t signal,
                      int64_t window,
                      uint16_t k,
                      const uint64_t *ids,
                      uint8_t rf)
{
    struct tr_buf b;
    tr_buf_init(&b);
    tr_catalog_cmd_create_window(&b, signal, window, DAY, k, ids, rf);
    int rv = cat_apply_buf(c, &b);
    tr_buf_free(&b);
    return rv;
}

static int cat_state(struct tr_catalog *c,
                     uint8_t signal,
                     int64_t window,
                     uint16_t slot,
                     int state)
{
    struct tr_buf b;
    tr_buf_init(&b);
    tr_catalog_cmd_set_state(&b, signal, window, slot, state);
    int rv = cat_apply_buf(c, &b);
    tr_buf_free(&b);
    return rv;
}

/* Snapshot bytes of c, owned by the caller (tr_buf_free). */
static struct tr_buf cat_enc(const struct tr_catalog *c)
{
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_catalog_encode(c, &b), 0);
    return b;
}

static bool cat_same(const struct tr_buf *a, const struct tr_buf *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* A catalog with nodes 1..n and one metrics window (k = 2, rf = 2). */
static void cat_basic(struct tr_catalog *c, uint64_t n)
{
    tr_catalog_init(c);
    for (uint64_t id = 1; id <= n; id++) {
        cr_assert_eq(cat_add(c, id), 0);
    }
    uint64_t ids[4] = {1, 2, 2, 1};
    cr_assert_eq(cat_window(c, TR_SIGNAL_METRICS, 0, 2, ids, 2), 0);
}

/* Structural invariants every catalog must keep. */
static void cat_check(const struct tr_catalog *c)
{
    for (size_t i = 1; i < c->n_nodes; i++) {
        cr_assert_lt(c->nodes[i - 1].id, c->nodes[i].id);
    }
    for (size_t i = 0; i < c->n_shards; i++) {
        const struct tr_catalog_shard *s = &c->shards[i];
        if (i > 0) {
            const struct tr_catalog_shard *p = &c->shards[i - 1];
            bool lt = p->signal < s->signal ||
                      (p->signal == s->signal && p->window < s->window) ||
                      (p->signal == s->signal && p->window == s->window &&
                       p->slot < s->slot);
            cr_assert(lt, "shards out of order at %zu", i);
        }
        cr_assert_lt(s->slot, s->k);
        cr_assert_geq(s->n_replicas, 1);
        cr_assert_leq(s->n_replicas, TR_CATALOG_MAX_REPLICAS);
        long first = tr_catalog_window(c, s->signal, s->window);
        cr_assert_eq(first + s->slot, (long)i);
        cr_assert_eq(tr_catalog_shard(c, s->signal, s->window, s->slot), s);
    }
}

/* ---- commands -------------------------------------------------------- */

Test(catalog, add_and_update_node)
{
    struct tr_catalog c;
    tr_catalog_init(&c);
    cr_assert_eq(cat_add(&c, 7), 0);
    cr_assert_eq(cat_add(&c, 3), 0);
    cr_assert_eq(cat_add(&c, 5), 0);
    cr_assert_eq(c.n_nodes, 3);
    cr_assert_eq(c.nodes[0].id, 3);
    cr_assert_eq(c.nodes[2].id, 7);
    cr_assert_eq(c.version, 3);
    const struct tr_catalog_node *n = tr_catalog_node(&c, 5);
    cr_assert_not_null(n);
    cr_assert_str_eq(n->name, "node-5");
    cr_assert_str_eq(n->raft_addr, "10.0.0.5:7000");
    cr_assert_str_eq(n->http_addr, "10.0.0.5:9090");
    cr_assert_eq(n->state, TR_NODE_ACTIVE);
    cr_assert_null(tr_catalog_node(&c, 4));

    /* upsert: new addresses, same record */
    struct tr_catalog_node u = cat_node(5, "renamed");
    snprintf(u.raft_addr, sizeof(u.raft_addr), "[::1]:7001");
    u.http_addr[0] = '\0';
    struct tr_buf b;
    tr_buf_init(&b);
    tr_catalog_cmd_add_node(&b, &u);
    cr_assert_eq(cat_apply_buf(&c, &b), 0);
    cr_assert_eq(c.n_nodes, 3);
    n = tr_catalog_node(&c, 5);
    cr_assert_str_eq(n->name, "renamed");
    cr_assert_str_eq(n->raft_addr, "[::1]:7001");
    cr_assert_str_eq(n->http_addr, "");

    /* maximal strings survive; longer ones are truncated by the builder */
    struct tr_catalog_node big;
    memset(&big, 'x', sizeof(big));
    big.id = 9;
    tr_catalog_cmd_add_node(&b, &big);
    cr_assert_eq(cat_apply_buf(&c, &b), 0);
    n = tr_catalog_node(&c, 9);
    cr_assert_eq(strlen(n->name), TR_CATALOG_NAME_MAX - 1);
    cr_assert_eq(strlen(n->raft_addr), TR_CATALOG_ADDR_MAX - 1);
    cr_assert_eq(strlen(n->http_addr), TR_CATALOG_ADDR_MAX - 1);

    uint64_t ids[8];
    cr_assert_eq(tr_catalog_active_nodes(&c, ids, 8), 4);
    cr_assert_eq(ids[0], 3);
    cr_assert_eq(ids[3], 9);
    cr_assert_eq(tr_catalog_active_nodes(&c, NULL, 0), 4);
    cr_assert_eq(tr_catalog_active_nodes(&c, ids, 2), 4);
    tr_buf_free(&b);
    tr_catalog_free(&c);
}

Test(catalog, remove_node_keeps_record)
{
    struct tr_catalog c;
    cat_basic(&c, 3);
    struct tr_buf b;
    tr_buf_init(&b);
    tr_catalog_cmd_remove_node(&b, 2);
    cr_assert_eq(cat_apply_buf(&c, &b), 0);
    cr_assert_eq(c.n_nodes, 3);
    cr_assert_eq(tr_catalog_node(&c, 2)->state, TR_NODE_REMOVED);
    uint64_t ids[4];
    cr_assert_eq(tr_catalog_active_nodes(&c, ids, 4), 2);
    cr_assert_eq(ids[0], 1);
    cr_assert_eq(ids[1], 3);
    /* old shards still name it */
    cr_assert_eq(tr_catalog_shard(&c, TR_SIGNAL_METRICS, 0, 0)->replicas[1], 2);
    /* removing again: no-op; unknown: EINVAL */
    tr_catalog_cmd_remove_node(&b, 2);
    cr_assert_eq(cat_apply_buf(&c, &b), 0);
    tr_catalog_cmd_remove_node(&b, 42);
    cr_assert_eq(cat_apply_buf(&c, &b), TR_EINVAL);
    /* re-adding reactivates */
    cr_assert_eq(cat_add(&c, 2), 0);
    cr_assert_eq(tr_catalog_node(&c, 2)->state, TR_NODE_ACTIVE);
    tr_buf_free(&b);
    tr_catalog_free(&c);
}

Test(catalog, create_window_and_set_replicas)
{
    struct tr_catalog c;
    cat_basic(&c, 4);
    cr_assert_eq(c.n_shards, 2);
    const struct tr_catalog_shard *s =
        tr_catalog_shard(&c, TR_SIGNAL_METRICS, 0, 1);
    cr_assert_not_null(s);
    cr_assert_eq(s->k, 2);
    cr_assert_eq(s->window_ms, DAY);
    cr_assert_eq(s->state, TR_SHARD_ACTIVE);
    cr_assert_eq(s->n_replicas, 2);
    cr_assert_eq(s->replicas[0], 2);
    cr_assert_eq(s->replicas[1], 1);
    cr_assert_null(tr_catalog_shard(&c, TR_SIGNAL_METRICS, 0, 2));
    cr_assert_null(tr_catalog_shard(&c, TR_SIGNAL_LOGS, 0, 0));

    /* a negative window, another signal, one slot of rf 1 */
    uint64_t one = 3;
    cr_assert_eq(cat_window(&c, TR_SIGNAL_TRACES, -DAY, 1, &one, 1), 0);
    cr_assert_eq(cat_window(&c, TR_SIGNAL_METRICS, -DAY, 1, &one, 1), 0);
    cr_assert_eq(tr_catalog_window(&c, TR_SIGNAL_METRICS, -DAY), 0);
    cr_assert_eq(tr_catalog_window(&c, TR_SIGNAL_METRICS, 0), 1);
    cr_assert_eq(tr_catalog_window(&c, TR_SIGNAL_TRACES, -DAY), 3);
    cr_assert_eq(tr_catalog_window(&c, TR_SIGNAL_LOGS, -DAY), -1);
    cat_check(&c);

    struct tr_buf b;
    tr_buf_init(&b);
    uint64_t ids[TR_CATALOG_MAX_REPLICAS] = {4, 3, 2};
    tr_catalog_cmd_set_replicas(&b, TR_SIGNAL_METRICS, 0, 1, ids, 3);
    cr_assert_eq(cat_apply_buf(&c, &b), 0);
    s = tr_catalog_shard(&c, TR_SIGNAL_METRICS, 0, 1);
    cr_assert_eq(s->n_replicas, 3);
    cr_assert_eq(s->replicas[0], 4);
    cr_assert_eq(s->replicas[2], 2);
    tr_catalog_cmd_set_replicas(&b, TR_SIGNAL_METRICS, 0, 1, ids, 1);
    cr_assert_eq(cat_apply_buf(&c, &b), 0);
    cr_assert_eq(s->n_replicas, 1);
    cr_assert_eq(s->replicas[0], 4);

    /* the maximum replica count */
    for (uint64_t id = 5; id <= TR_CATALOG_MAX_REPLICAS; id++) {
        cr_assert_eq(cat_add(&c, id), 0);
    }
    for (int i = 0; i < TR_CATALOG_MAX_REPLICAS; i++) {
        ids[i] = (uint64_t)(TR_CATALOG_MAX_REPLICAS - i);
    }
    tr_catalog_cmd_set_replicas(&b, TR_SIGNAL_METRICS, 0, 0, ids,
                                TR_CATALOG_MAX_REPLICAS);
    cr_assert_eq(cat_apply_buf(&c, &b), 0);
    cr_assert_eq(tr_catalog_shard(&c, TR_SIGNAL_METRICS, 0, 0)->n_replicas,
                 TR_CATALOG_MAX_REPLICAS);
    cat_check(&c);
    tr_buf_free(&b);
    tr_catalog_free(&c);
}

/* Appends raw bytes as a command. */
static void raw(struct tr_buf *b, const char *bytes, size_t n)
{
    tr_buf_reset(b);
    tr_buf_append(b, bytes, n);
}

Test(catalog, invalid_commands_leave_catalog_unchanged)
{
    struct tr_catalog c;
    cat_basic(&c, 3);
    cr_assert_eq(cat_state(&c, TR_SIGNAL_METRICS, 0, 1, TR_SHARD_DELETED), 0);
    struct tr_buf before = cat_enc(&c);
    struct tr_buf b;
    tr_buf_init(&b);
    /* a list of (expected result, command bytes) built one by one */
    struct tr_buf cmds[64];
    int want[64];
    size_t n = 0;
    uint64_t r2[2] = {1, 2}, dup[2] = {1, 1}, unk[2] = {1, 99};
    uint64_t eight[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct tr_catalog_node zero = cat_node(0, "zero");
#define CMD(w)                                                         \
    for (int once_ = (tr_buf_init(&cmds[n]), want[n] = (w), 1); once_; \
         once_ = 0, n++)
    CMD(TR_EINVAL) tr_catalog_cmd_add_node(&cmds[n], &zero);
    CMD(TR_EINVAL) tr_catalog_cmd_remove_node(&cmds[n], 77);
    /* window exists */
    CMD(TR_EINVAL)
    tr_catalog_cmd_create_window(&cmds[n], TR_SIGNAL_METRICS, 0, DAY, 1, r2, 2);
    CMD(TR_EINVAL)
    tr_catalog_cmd_create_window(&cmds[n], TR_SIGNAL_LOGS, 0, DAY, 0, r2, 2);
    CMD(TR_EINVAL)
    tr_catalog_cmd_create_window(&cmds[n], TR_SIGNAL_LOGS, 0, DAY, 1, r2, 0);
    CMD(TR_EINVAL)
    tr_catalog_cmd_create_window(&cmds[n], TR_SIGNAL_LOGS, 0, DAY, 1, dup, 2);
    CMD(TR_EINVAL)
    tr_catalog_cmd_create_window(&cmds[n], TR_SIGNAL_LOGS, 0, DAY, 1, unk, 2);
    CMD(TR_EINVAL)
    tr_catalog_cmd_create_window(&cmds[n], TR_SIGNAL_LOGS, 0, DAY, 1, eight, 8);
    CMD(TR_EINVAL)
    tr_catalog_cmd_create_window(&cmds[n], TR_SIGNAL_LOGS, 0, 0, 1, r2, 2);
    CMD(TR_EINVAL)
    tr_catalog_cmd_create_window(&cmds[n], TR_SIGNAL_LOGS, 0, -5, 1, r2, 2);
    CMD(TR_EINVAL)
    tr_catalog_cmd_create_window(&cmds[n], 0, 0, DAY, 1, r2, 2);
    CMD(TR_EINVAL)
    tr_catalog_cmd_create_window(&cmds[n], 9, 0, DAY, 1, r2, 2);
    /* second slot bad: nothing of the window is kept */
    {
        uint64_t two[4] = {1, 2, 3, 3};
        CMD(TR_EINVAL)
        tr_catalog_cmd_create_window(&cmds[n], TR_SIGNAL_LOGS, 0, DAY, 2, two,
                                     2);
    }
    /* state: unknown shard, bad state value, forbidden transitions */
    CMD(TR_EINVAL)
    tr_catalog_cmd_set_state(&cmds[n], TR_SIGNAL_METRICS, 0, 2,
                             TR_SHARD_SEALING);
    CMD(TR_EINVAL)
    tr_catalog_cmd_set_state(&cmds[n], TR_SIGNAL_METRICS, 1, 0,
                             TR_SHARD_SEALING);
    CMD(TR_EINVAL)
    tr_catalog_cmd_set_state(&cmds[n], TR_SIGNAL_METRICS, 0, 0, 0);
    CMD(TR_EINVAL)
    tr_catalog_cmd_set_state(&cmds[n], TR_SIGNAL_METRICS, 0, 0, 5);
    CMD(TR_EINVAL)
    tr_catalog_cmd_set_state(&cmds[n], TR_SIGNAL_METRICS, 0, 0,
                             TR_SHARD_SEALED);
    CMD(TR_EINVAL)
    tr_catalog_cmd_set_state(&cmds[n], TR_SIGNAL_METRICS, 0, 0,
                             TR_SHARD_ACTIVE);
    CMD(TR_EINVAL)
    tr_catalog_cmd_set_state(&cmds[n], TR_SIGNAL_METRICS, 0, 1,
                             TR_SHARD_ACTIVE);
    /* replicas: duplicates, unknown, none, too many, unknown shard,
     * deleted shard */
    CMD(TR_EINVAL)
    tr_catalog_cmd_set_replicas(&cmds[n], TR_SIGNAL_METRICS, 0, 0, dup, 2);
    CMD(TR_EINVAL)
    tr_catalog_cmd_set_replicas(&cmds[n], TR_SIGNAL_METRICS, 0, 0, unk, 2);
    CMD(TR_EINVAL)
    tr_catalog_cmd_set_replicas(&cmds[n], TR_SIGNAL_METRICS, 0, 0, r2, 0);
    CMD(TR_EINVAL)
    tr_catalog_cmd_set_replicas(&cmds[n], TR_SIGNAL_METRICS, 0, 0, eight, 8);
    CMD(TR_EINVAL)
    tr_catalog_cmd_set_replicas(&cmds[n], TR_SIGNAL_METRICS, 0, 5, r2, 2);
    CMD(TR_EINVAL)
    tr_catalog_cmd_set_replicas(&cmds[n], TR_SIGNAL_METRICS, 0, 1, r2, 2);
    /* undecodable */
    CMD(TR_ECORRUPT) raw(&cmds[n], "", 0);
    CMD(TR_ECORRUPT) raw(&cmds[n], "N", 1);
    CMD(TR_ECORRUPT) raw(&cmds[n], "X\x01", 2);
    CMD(TR_ECORRUPT) raw(&cmds[n], "R\x03\0\0\0\0\0\0\0\x01", 10);
    CMD(TR_ECORRUPT) raw(&cmds[n], "R\x01\0\0\0\0\0\0\0\x01\0", 11);
    CMD(TR_ECORRUPT) raw(&cmds[n], "R\x01\0\0\0\0\0\0\x01", 9);
    /* string with a NUL, string too long */
    CMD(TR_ECORRUPT)
    raw(&cmds[n],
        "N\x01\0\0\0\0\0\0\0\x05\x02"
        "a\0"
        "\0\0",
        15);
    CMD(TR_ECORRUPT)
    {
        raw(&cmds[n], "N\x01\0\0\0\0\0\0\0\x05\x40", 11);
        for (int i = 0; i < 64; i++) {
            tr_buf_putc(&cmds[n], 'a');
        }
        tr_buf_append(&cmds[n], "\0\0", 2);
    }
    /* window claims more slots than bytes; huge replica count */
    CMD(TR_ECORRUPT) raw(&cmds[n], "W\x01\x02\0\x01\x7f\x01", 7);
    CMD(TR_ECORRUPT) raw(&cmds[n], "W\x01\x02\0\x01\x01\xff\x7f", 8);
    CMD(TR_ECORRUPT) raw(&cmds[n], "P\x01\x01\0\0\xff\xff\xff\xff\x0f", 10);
    CMD(TR_ECORRUPT) raw(&cmds[n], "S\x01\x01\0\0", 5);
    CMD(TR_ECORRUPT) raw(&cmds[n], "S\x01\x01\0\0\x02\x00", 7);
#undef CMD
    cr_assert_lt(n, 64);
    for (size_t i = 0; i < n; i++) {
        char errmsg[TR_ERRMSG_SIZE] = "";
        /* truncations and every command itself */
        int rv = tr_catalog_apply(&c, cmds[i].data, cmds[i].len, errmsg);
        cr_assert_eq(rv, want[i], "command %zu: %d (%s)", i, rv, errmsg);
        cr_assert_neq(errmsg[0], '\0', "command %zu: no message", i);
        struct tr_buf after = cat_enc(&c);
        cr_assert(cat_same(&before, &after), "command %zu changed it", i);
        tr_buf_free(&after);
        /* prefixes are undecodable (only for the built commands: a raw
         * one with trailing bytes has a valid prefix) */
        for (size_t cut = 0; want[i] == TR_EINVAL && cut < cmds[i].len; cut++) {
            cr_assert_eq(tr_catalog_apply(&c, cmds[i].data, cut, NULL),
                         TR_ECORRUPT);
        }
        tr_buf_free(&cmds[i]);
    }
    /* truncations of valid commands never apply */
    uint64_t r3[3] = {3, 2, 1};
    for (int which = 0; which < 2; which++) {
        tr_buf_reset(&b);
        if (which == 0) {
            tr_catalog_cmd_create_window(&b, TR_SIGNAL_LOGS, 5, DAY, 1, r3, 3);
        } else {
            tr_catalog_cmd_set_replicas(&b, TR_SIGNAL_METRICS, 0, 0, r3, 3);
        }
        for (size_t cut = 0; cut < b.len; cut++) {
            cr_assert_eq(tr_catalog_apply(&c, b.data, cut, NULL), TR_ECORRUPT);
        }
    }
    struct tr_buf after = cat_enc(&c);
    cr_assert(cat_same(&before, &after));
    tr_buf_free(&after);
    tr_buf_free(&before);
    tr_buf_free(&b);
    tr_catalog_free(&c);
}

Test(catalog, shard_state_machine)
{
    /* allowed[from][to] */
    static const bool allowed[5][5] = {
        [TR_SHARD_ACTIVE] =
            {[TR_SHARD_SEALING] = true, [TR_SHARD_DELETED] = true},
        [TR_SHARD_SEALING] =
            {[TR_SHARD_SEALED] = true, [TR_SHARD_DELETED] = true},
        [TR_SHARD_SEALED] = {[TR_SHARD_DELETED] = true},
    };
    /* the shortest path to each state */
    static const int path[5][3] = {
        [TR_SHARD_ACTIVE] = {0},
        [TR_SHARD_SEALING] = {TR_SHARD_SEALING},
        [TR_SHARD_SEALED] = {TR_SHARD_SEALING, TR_SHARD_SEALED},
        [TR_SHARD_DELETED] = {TR_SHARD_DELETED},
    };
    for (int from = TR_SHARD_ACTIVE; from <= TR_SHARD_DELETED; from++) {
        for (int to = 0; to <= 6; to++) {
            struct tr_catalog c;
            cat_basic(&c, 2);
            for (int i = 0; i < 3 && path[from][i] != 0; i++) {
                cr_assert_eq(
                    cat_state(&c, TR_SIGNAL_METRICS, 0, 1, path[from][i]), 0);
            }
            cr_assert_eq(tr_catalog_shard(&c, TR_SIGNAL_METRICS, 0, 1)->state,
                         from);
            uint64_t v = c.version;
            bool ok = to >= 1 && to <= 4 && allowed[from][to];
            int rv = cat_state(&c, TR_SIGNAL_METRICS, 0, 1, to);
            cr_assert_eq(rv, ok ? 0 : TR_EINVAL, "%d -> %d", from, to);
            cr_assert_eq(tr_catalog_shard(&c, TR_SIGNAL_METRICS, 0, 1)->state,
                         ok ? to : from);
            cr_assert_eq(c.version, ok ? v + 1 : v);
            /* the other slot never moves */
            cr_assert_eq(tr_catalog_shard(&c, TR_SIGNAL_METRICS, 0, 0)->state,
                         TR_SHARD_ACTIVE);
            tr_catalog_free(&c);
        }
    }
}

Test(catalog, seal_records_index_and_checksum)
{
    struct tr_catalog c;
    cat_basic(&c, 2);
    struct tr_buf b;
    tr_buf_init(&b);
    /* only a sealing shard is sealed */
    tr_catalog_cmd_seal(&b, TR_SIGNAL_METRICS, 0, 1, 7, 0xabcdef);
    cr_assert_eq(cat_apply_buf(&c, &b), TR_EINVAL);
    cr_assert_eq(cat_state(&c, TR_SIGNAL_METRICS, 0, 1, TR_SHARD_SEALING), 0);
    tr_catalog_cmd_seal(&b, TR_SIGNAL_METRICS, 0, 1, 0, 0xabcdef);
    cr_assert_eq(cat_apply_buf(&c, &b), TR_ECORRUPT, "index 0");
    tr_catalog_cmd_seal(&b, TR_SIGNAL_METRICS, 0, 1, 7, 0xabcdef);
    cr_assert_eq(cat_apply_buf(&c, &b), 0);
    const struct tr_catalog_shard *sh =
        tr_catalog_shard(&c, TR_SIGNAL_METRICS, 0, 1);
    cr_assert_eq(sh->state, TR_SHARD_SEALED);
    cr_assert_eq(sh->sealed_index, 7);
    cr_assert_eq(sh->sealed_checksum, 0xabcdef);
    /* the snapshot keeps them */
    struct tr_buf snap = cat_enc(&c);
    struct tr_catalog d;
    tr_catalog_init(&d);
    cr_assert_eq(tr_catalog_decode(&d, snap.data, snap.len), 0);
    sh = tr_catalog_shard(&d, TR_SIGNAL_METRICS, 0, 1);
    cr_assert_eq(sh->state, TR_SHARD_SEALED);
    cr_assert_eq(sh->sealed_index, 7);
    cr_assert_eq(sh->sealed_checksum, 0xabcdef);
    struct tr_buf again = cat_enc(&d);
    cr_assert(cat_same(&snap, &again));
    /* a truncated seal command, or one with a byte too many */
    tr_catalog_cmd_seal(&b, TR_SIGNAL_METRICS, 0, 0, 3, 1);
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_catalog_apply(&c, b.data, b.len - 1, err), TR_ECORRUPT);
    tr_buf_putc(&b, 0);
    cr_assert_eq(tr_catalog_apply(&c, b.data, b.len, err), TR_ECORRUPT);
    tr_buf_reset(&b);
    /* deleting a sealed shard clears them */
    cr_assert_eq(cat_state(&c, TR_SIGNAL_METRICS, 0, 1, TR_SHARD_DELETED), 0);
    sh = tr_catalog_shard(&c, TR_SIGNAL_METRICS, 0, 1);
    cr_assert_eq(sh->sealed_index, 0);
    cr_assert_eq(sh->sealed_checksum, 0);
    tr_buf_free(&b);
    tr_buf_free(&snap);
    tr_buf_free(&again);
    tr_catalog_free(&c);
    tr_catalog_free(&d);
}

Test(catalog, tenants_dropped_from_sealed_windows)
{
    struct tr_catalog c;
    cat_basic(&c, 2);
    struct tr_buf b;
    tr_buf_init(&b);
    /* window 0 has no sealed shard yet */
    tr_catalog_cmd_drop_tenant(&b, TR_SIGNAL_METRICS, 0, "short");
    cr_assert_eq(cat_apply_buf(&c, &b), TR_EINVAL);
    cr_assert_eq(cat_state(&c, TR_SIGNAL_METRICS, 0, 0, TR_SHARD_SEALING), 0);
    tr_catalog_cmd_seal(&b, TR_SIGNAL_METRICS, 0, 0, 7, 0x1234);
    cr_assert_eq(cat_apply_buf(&c, &b), 0);
    uint64_t v = c.version;
    tr_catalog_cmd_drop_tenant(&b, TR_SIGNAL_METRICS, 0, "short");
    cr_assert_eq(cat_apply_buf(&c, &b), 0);
    cr_assert_eq(c.version, v + 1);
    tr_catalog_cmd_drop_tenant(&b, TR_SIGNAL_METRICS, 0, "a");
    cr_assert_eq(cat_apply_buf(&c, &b), 0);
    tr_catalog_cmd_drop_tenant(&b, TR_SIGNAL_METRICS, 0, "short");
    cr_assert_eq(cat_apply_buf(&c, &b), TR_EINVAL, "recorded once");
    cr_assert_eq(c.version, v + 2);
    tr_catalog_cmd_drop_tenant(&b, TR_SIGNAL_METRICS, 0, "");
    cr_assert_eq(cat_apply_buf(&c, &b), TR_ECORRUPT, "no tenant name");
    cr_assert(tr_catalog_dropped(&c, TR_SIGNAL_METRICS, 0, "short"));
    cr_assert(tr_catalog_dropped(&c, TR_SIGNAL_METRICS, 0, "a"));
    cr_assert(!tr_catalog_dropped(&c, TR_SIGNAL_METRICS, 0, "b"));
    cr_assert(!tr_catalog_dropped(&c, TR_SIGNAL_LOGS, 0, "short"));
    cr_assert_eq(tr_catalog_drops_of(&c, TR_SIGNAL_METRICS, 0), 2);
    cr_assert_eq(c.drops[0].tenant[0], 'a', "sorted");
    /* the snapshot keeps them, byte for byte */
    struct tr_buf snap = cat_enc(&c);
    struct tr_catalog d;
    tr_catalog_init(&d);
    cr_assert_eq(tr_catalog_decode(&d, snap.data, snap.len), 0);
    cr_assert(tr_catalog_dropped(&d, TR_SIGNAL_METRICS, 0, "short"));
    struct tr_buf again = cat_enc(&d);
    cr_assert(cat_same(&snap, &again));
    /* they go with the window's last shard */
    cr_assert_eq(cat_state(&c, TR_SIGNAL_METRICS, 0, 0, TR_SHARD_DELETED), 0);
    cr_assert_eq(tr_catalog_drops_of(&c, TR_SIGNAL_METRICS, 0), 2,
                 "slot 1 is not deleted yet");
    cr_assert_eq(cat_state(&c, TR_SIGNAL_METRICS, 0, 1, TR_SHARD_DELETED), 0);
    cr_assert_eq(tr_catalog_drops_of(&c, TR_SIGNAL_METRICS, 0), 0);
    cr_assert_eq(c.n_drops, 0);
    tr_buf_free(&b);
    tr_buf_free(&snap);
    tr_buf_free(&again);
    tr_catalog_free(&c);
    tr_catalog_free(&d);
}

/* ---- snapshots ------------------------------------------------------- */

/* A random but valid command for a catalog with nodes 1..8 (some may not
 * exist yet: then the command is rejected, which is fine too). */
static void cat_random_cmd(struct tr_buf *b)
{
    uint8_t signal = (uint8_t)(1 + cat_rand() % 3);
    int64_t window = ((int64_t)(cat_rand() % 40) - 20) * DAY;
    uint64_t ids[TR_CATALOG_MAX_REPLICAS * 4];
    uint8_t rf = (uint8_t)(1 + cat_rand() % 3);
    uint16_t k = (uint16_t)(1 + cat_rand() % 4);
    switch (cat_rand() % 8) {
        case 6:
            tr_catalog_cmd_seal(b, signal, window, (uint16_t)(cat_rand() % 4),
                                1 + cat_rand() % 100, cat_rand());
            break;
        case 7: {
            char tenant[16];
            snprintf(tenant, sizeof(tenant), "t%llu",
                     (unsigned long long)(cat_rand() % 5));
            tr_catalog_cmd_drop_tenant(b, signal, window, tenant);
            break;
        }
        case 0: {
            uint64_t id = 1 + cat_rand() % 8;
            char name[32];
            snprintf(name, sizeof(name), "n%llu-%llu", (unsigned long long)id,
                     (unsigned long long)(cat_rand() % 100));
            struct tr_catalog_node n = cat_node(id, name);
            tr_catalog_cmd_add_node(b, &n);
            break;
        }
        case 1:
            tr_catalog_cmd_remove_node(b, 1 + cat_rand() % 8);
            break;
        case 2:
        case 3: {
            uint64_t nodes[8] = {1, 2, 3, 4, 5, 6, 7, 8};
            uint8_t used = tr_catalog_place(nodes, 1 + cat_rand() % 8, window,
                                            DAY, k, rf, ids);
            tr_catalog_cmd_create_window(b, signal, window, DAY, k, ids, used);
            break;
        }
        case 4:
            tr_catalog_cmd_set_state(b, signal, window,
                                     (uint16_t)(cat_rand() % 4),
                                     (int)(1 + cat_rand() % 4));
            break;
        default:
            for (size_t i = 0; i < rf; i++) {
                ids[i] = 1 + (cat_rand() % 8);
            }
            tr_catalog_cmd_set_replicas(b, signal, window,
                                        (uint16_t)(cat_rand() % 4), ids, rf);
            break;
    }
}

Test(catalog, snapshot_round_trip)
{
    struct tr_catalog c, d;
    tr_catalog_init(&c);
    tr_catalog_init(&d);
    /* the empty catalog */
    struct tr_buf e = cat_enc(&c);
    cr_assert_eq(tr_catalog_decode(&d, e.data, e.len), 0);
    cr_assert_eq(d.n_nodes, 0);
    tr_buf_free(&e);

    cat_rng_state = 0x1234567;
    struct tr_buf b;
    tr_buf_init(&b);
    for (int i = 0; i < 2000; i++) {
        cat_random_cmd(&b);
        cat_apply_buf(&c, &b);
        if (i % 200 != 199) {
            continue;
        }
        cat_check(&c);
        e = cat_enc(&c);
        cr_assert_eq(tr_catalog_decode(&d, e.data, e.len), 0);
        cat_check(&d);
        cr_assert_eq(d.version, c.version);
        cr_assert_eq(d.n_nodes, c.n_nodes);
        cr_assert_eq(d.n_shards, c.n_shards);
        for (size_t s = 0; s < c.n_shards; s++) {
            cr_assert_eq(d.shards[s].k, c.shards[s].k);
            cr_assert_eq(d.shards[s].state, c.shards[s].state);
        }
        for (size_t s = 0; s < c.n_nodes; s++) {
            cr_assert_str_eq(d.nodes[s].raft_addr, c.nodes[s].raft_addr);
        }
        struct tr_buf e2 = cat_enc(&d);
        cr_assert(cat_same(&e, &e2));
        tr_buf_free(&e2);
        tr_buf_free(&e);
    }
    cr_assert_gt(c.n_shards, 50);
    cr_assert_gt(c.n_nodes, 4);
    /* restore then continue applying: same as never restoring */
    for (int i = 0; i < 300; i++) {
        cat_random_cmd(&b);
        struct tr_buf cmd = b;
        char errmsg[TR_ERRMSG_SIZE];
        int r1 = tr_catalog_apply(&c, cmd.data, cmd.len, errmsg);
        int r2 = tr_catalog_apply(&d, cmd.data, cmd.len, errmsg);
        cr_assert_eq(r1, r2);
        tr_buf_reset(&b);
    }
    e = cat_enc(&c);
    struct tr_buf e2 = cat_enc(&d);
    cr_assert(cat_same(&e, &e2));
    tr_buf_free(&e2);
    tr_buf_free(&e);
    tr_buf_free(&b);
    tr_catalog_free(&c);
    tr_catalog_free(&d);
}

/* Rewrites one byte of a valid snapshot and expects TR_ECORRUPT with d
 * unchanged. */
static void cat_expect_corrupt(const struct tr_buf *snap,
                               size_t at,
                               uint8_t v,
                               struct tr_catalog *d)
{
    struct tr_buf before = cat_enc(d);
    char *bytes = malloc(snap->len);
    memcpy(bytes, snap->data, snap->len);
    bytes[at] = (char)v;
    cr_assert_eq(tr_catalog_decode(d, bytes, snap->len), TR_ECORRUPT,
                 "byte %zu = %u", at, v);
    struct tr_buf after = cat_enc(d);
    cr_assert(cat_same(&before, &after));
    tr_buf_free(&after);
    tr_buf_free(&before);
    free(bytes);
}

Test(catalog, corrupt_snapshots)
{
    struct tr_catalog c, d;
    tr_catalog_init(&c);
    cr_assert_eq(cat_add(&c, 1), 0);
    cr_assert_eq(cat_add(&c, 2), 0);
    uint64_t ids[4] = {1, 2, 2, 1};
    cr_assert_eq(cat_window(&c, TR_SIGNAL_LOGS, 0, 2, ids, 2), 0);
    struct tr_buf s = cat_enc(&c);
    /* d holds something else that must survive failed decodes */
    cat_basic(&d, 3);
    for (size_t cut = 0; cut < s.len; cut++) {
        cr_assert_eq(tr_catalog_decode(&d, s.data, cut), TR_ECORRUPT);
    }
    struct tr_buf longer;
    tr_buf_init(&longer);
    tr_buf_append(&longer, s.data, s.len);
    tr_buf_putc(&longer, 0);
    cr_assert_eq(tr_catalog_decode(&d, longer.data, longer.len), TR_ECORRUPT);
    tr_buf_free(&longer);

    /* layout: C 1 | 2 | node 1 (8 + 1+6 + 1+13 + 1+13 + state) | node 2 |
     * 2 | shard 0 | shard 1 | version */
    size_t node_len = 8 + 7 + 14 + 14 + 1;
    size_t n1 = 3, n2 = n1 + node_len, shards = n2 + node_len + 1;
    cat_expect_corrupt(&s, 0, 'D', &d);               /* type */
    cat_expect_corrupt(&s, 1, 3, &d);                 /* version */
    cat_expect_corrupt(&s, 2, 200, &d);               /* node count */
    cat_expect_corrupt(&s, n1 + 7, 0, &d);            /* node id 0 */
    cat_expect_corrupt(&s, n2 + 7, 1, &d);            /* ids not ascending */
    cat_expect_corrupt(&s, n1 + 10, 0, &d);           /* NUL in name */
    cat_expect_corrupt(&s, n1 + node_len - 1, 3, &d); /* node state */
    cat_expect_corrupt(&s, n1 + node_len - 1, 0, &d);
    cat_expect_corrupt(&s, shards - 1, 9, &d); /* shard count */
    /* shard 0: signal, window (1), length (4 bytes for a day), slot, state,
     * n, ids */
    size_t s0 = shards;
    size_t shard_len = 1 + 1 + 4 + 1 + 1 + 1 + 16 + 1 + 16; /* + initial */
    cat_expect_corrupt(&s, s0, 0, &d);                      /* signal 0 */
    cat_expect_corrupt(&s, s0, 4, &d);                      /* signal 4 */
    cat_expect_corrupt(&s, s0 + 2, 0, &d);             /* length 0 (+ shape) */
    cat_expect_corrupt(&s, s0 + 6, 1, &d);             /* first slot not 0 */
    cat_expect_corrupt(&s, s0 + 7, 0, &d);             /* state 0 */
    cat_expect_corrupt(&s, s0 + 7, 5, &d);             /* state 5 */
    cat_expect_corrupt(&s, s0 + 8, 0, &d);             /* no replicas */
    cat_expect_corrupt(&s, s0 + 8, 3, &d);             /* count > bytes */
    cat_expect_corrupt(&s, s0 + 16, 9, &d);            /* unknown node */
    cat_expect_corrupt(&s, s0 + 24, 1, &d);            /* duplicate replica */
    cat_expect_corrupt(&s, s0 + shard_len + 6, 0, &d); /* slot repeats */
    cat_expect_corrupt(&s, s0 + shard_len + 6, 2, &d); /* slot gap */
    cat_expect_corrupt(&s, s0 + shard_len, 1, &d);     /* order */
    cat_expect_corrupt(&s, s0 + shard_len + 5, 0x01, &d); /* other length */
    cr_assert_eq(tr_catalog_decode(&d, s.data, s.len), 0);
    cr_assert_eq(d.n_shards, 2);
    cr_assert_eq(d.shards[1].k, 2);
    tr_buf_free(&s);
    tr_catalog_free(&c);
    tr_catalog_free(&d);
}

Test(catalog, determinism)
{
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct tr_catalog a, b;
        tr_catalog_init(&a);
        tr_catalog_init(&b);
        struct tr_buf cmd;
        tr_buf_init(&cmd);
        cat_rng_state = seed * 0x9E3779B97F4A7C15ULL;
        int ok = 0;
        for (int i = 0; i < 500; i++) {
            cat_random_cmd(&cmd);
            char e1[TR_ERRMSG_SIZE], e2[TR_ERRMSG_SIZE];
            int r1 = tr_catalog_apply(&a, cmd.data, cmd.len, e1);
            int r2 = tr_catalog_apply(&b, cmd.data, cmd.len, e2);
            cr_assert_eq(r1, r2);
            cr_assert(r1 == 0 || r1 == TR_EINVAL, "%d: %s", r1, e1);
            ok += r1 == 0;
            tr_buf_reset(&cmd);
        }
        cr_assert_gt(ok, 100);
        struct tr_buf ea = cat_enc(&a), eb = cat_enc(&b);
        cr_assert(cat_same(&ea, &eb));
        cr_assert_eq(a.version, (uint64_t)ok);
        tr_buf_free(&ea);
        tr_buf_free(&eb);
        tr_buf_free(&cmd);
        tr_catalog_free(&a);
        tr_catalog_free(&b);
    }
}

/* ---- placement ------------------------------------------------------- */

Test(catalog, placement_properties)
{
    uint64_t nodes[7] = {3, 10, 11, 20, 21, 40, 99};
    uint64_t out[8 * 3];
    for (size_t n = 1; n <= 7; n++) {
        for (uint16_t k = 1; k <= 8; k++) {
            for (uint8_t rf = 1; rf <= 3; rf++) {
                uint8_t want_rf = rf < n ? rf : (uint8_t)n;
                unsigned total_rep[7] = {0}, total_lead[7] = {0};
                /* consecutive windows, including negative ones */
                for (int64_t w = -9; w < 2 * 7 * 4; w++) {
                    unsigned rep[7] = {0}, lead[7] = {0};
                    uint8_t used = tr_catalog_place(nodes, n, w * DAY + 5, DAY,
                                                    k, rf, out);
                    cr_assert_eq(used, want_rf);
                    for (size_t s = 0; s < k; s++) {
                        for (size_t j = 0; j < used; j++) {
                            uint64_t id = out[s * used + j];
                            size_t x = 0;
                            while (x < n && nodes[x] != id) {
                                x++;
                            }
                            cr_assert_lt(x, n, "foreign id");
                            for (size_t i = 0; i < j; i++) {
                                cr_assert_neq(out[s * used + i], id,
                                              "n=%zu k=%u rf=%u dup", n, k, rf);
                            }
                            rep[x]++;
                            lead[x] += j == 0;
                        }
                    }
                    unsigned rmin = ~0u, rmax = 0, lmin = ~0u, lmax = 0;
                    for (size_t x = 0; x < n; x++) {
                        rmin = rep[x] < rmin ? rep[x] : rmin;
                        rmax = rep[x] > rmax ? rep[x] : rmax;
                        lmin = lead[x] < lmin ? lead[x] : lmin;
                        lmax = lead[x] > lmax ? lead[x] : lmax;
                        if (w >= 0 && w < (int64_t)n) {
                            total_rep[x] += rep[x];
                            total_lead[x] += lead[x];
                        }
                    }
                    cr_assert_leq(rmax - rmin, 1, "n=%zu k=%u rf=%u", n, k, rf);
                    cr_assert_leq(lmax - lmin, 1, "n=%zu k=%u rf=%u", n, k, rf);
                    if (k % n == 0) {
                        cr_assert_eq(lmin, lmax);
                        cr_assert_eq(lmin, k / n);
                    }
                    /* deterministic */
                    uint64_t again[8 * 3];
                    tr_catalog_place(nodes, n, w * DAY + 5, DAY, k, rf, again);
                    cr_assert_eq(memcmp(out, again, k * used * sizeof(*out)),
                                 0);
                }
                /* over n consecutive windows every node gets the same */
                for (size_t x = 1; x < n; x++) {
                    cr_assert_eq(total_rep[x], total_rep[0]);
                    cr_assert_eq(total_lead[x], total_lead[0]);
                }
            }
        }
    }
    /* window number uses floor division: -1 ms is window -1, not 0 */
    uint64_t a[3], b[3];
    tr_catalog_place(nodes, 3, -1, DAY, 1, 3, a);
    tr_catalog_place(nodes, 3, -DAY, DAY, 1, 3, b);
    cr_assert_eq(memcmp(a, b, sizeof(a)), 0);
    tr_catalog_place(nodes, 3, 0, DAY, 1, 3, b);
    cr_assert_neq(memcmp(a, b, sizeof(a)), 0);
    /* the window rotates leaders */
    tr_catalog_place(nodes, 3, DAY, DAY, 1, 1, a);
    tr_catalog_place(nodes, 3, 2 * DAY, DAY, 1, 1, b);
    cr_assert_neq(a[0], b[0]);
    cr_assert_eq(tr_catalog_place(nodes, 0, 0, DAY, 1, 3, a), 0);
    cr_assert_eq(tr_catalog_place(nodes, 3, 0, 0, 1, 3, a), 3);
    /* k == n == 3, rf 3 at window 0: a Latin square */
    uint64_t sq[9];
    tr_catalog_place(nodes, 3, 0, DAY, 3, 3, sq);
    uint64_t want[9] = {3, 10, 11, 10, 11, 3, 11, 3, 10};
    cr_assert_eq(memcmp(sq, want, sizeof(sq)), 0);
}

Test(catalog, placement_larger_clusters)
{
    /* distinctness and balance for bigger n, k and rf up to the maximum */
    uint64_t nodes[40];
    for (size_t i = 0; i < 40; i++) {
        nodes[i] = 100 + i;
    }
    static uint64_t out[64 * TR_CATALOG_MAX_REPLICAS];
    for (size_t n = 1; n <= 40; n += 3) {
        for (uint16_t k = 1; k <= 64; k += 7) {
            for (uint8_t rf = 1; rf <= TR_CATALOG_MAX_REPLICAS; rf++) {
                unsigned rep[40] = {0};
                uint8_t used =
                    tr_catalog_place(nodes, n, 12345 * DAY, DAY, k, rf, out);
                for (size_t s = 0; s < k; s++) {
                    for (size_t j = 0; j < used; j++) {
                        for (size_t i = 0; i < j; i++) {
                            cr_assert_neq(out[s * used + i], out[s * used + j]);
                        }
                        rep[out[s * used + j] - 100]++;
                    }
                }
                unsigned rmin = ~0u, rmax = 0;
                for (size_t x = 0; x < n; x++) {
                    rmin = rep[x] < rmin ? rep[x] : rmin;
                    rmax = rep[x] > rmax ? rep[x] : rmax;
                }
                cr_assert_leq(rmax - rmin, 1);
            }
        }
    }
}

/* ---- look-ups -------------------------------------------------------- */

Test(catalog, lookups_after_many_windows)
{
    struct tr_catalog c;
    tr_catalog_init(&c);
    uint64_t nodes[5] = {1, 2, 3, 4, 5};
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(cat_add(&c, nodes[i]), 0);
    }
    /* 3 signals x 300 windows, created in a scrambled order */
    enum { W = 300 };
    uint64_t ids[7 * 3];
    for (int64_t i = 0; i < 3 * W; i++) {
        int64_t x = (i * 7919) % (3 * W); /* 7919 is prime: a permutation */
        uint8_t signal = (uint8_t)(1 + x % 3);
        int64_t w = x / 3 - W / 2;
        uint16_t k = (uint16_t)(1 + (x % 7));
        uint8_t rf = tr_catalog_place(nodes, 5, w * DAY, DAY, k, 3, ids);
        cr_assert_eq(cat_window(&c, signal, w * DAY, k, ids, rf), 0);
    }
    cat_check(&c);
    for (int64_t x = 0; x < 3 * W; x++) {
        uint8_t signal = (uint8_t)(1 + x % 3);
        int64_t w = x / 3 - W / 2;
        uint16_t k = (uint16_t)(1 + (x % 7));
        long first = tr_catalog_window(&c, signal, w * DAY);
        cr_assert_geq(first, 0);
        tr_catalog_place(nodes, 5, w * DAY, DAY, k, 3, ids);
        for (uint16_t s = 0; s < k; s++) {
            const struct tr_catalog_shard *sh =
                tr_catalog_shard(&c, signal, w * DAY, s);
            cr_assert_eq(sh, &c.shards[first + s]);
            cr_assert_eq(sh->k, k);
            cr_assert_eq(sh->n_replicas, 3);
            cr_assert_eq(memcmp(sh->replicas, &ids[s * 3], 3 * sizeof(*ids)),
                         0);
        }
        cr_assert_null(tr_catalog_shard(&c, signal, w * DAY, k));
        cr_assert_eq(tr_catalog_window(&c, signal, w * DAY + 1), -1);
    }
    cr_assert_eq(tr_catalog_window(&c, TR_SIGNAL_LOGS, (W)*DAY), -1);
    cr_assert_eq(tr_catalog_window(&c, 0, 0), -1);
    cr_assert_eq(tr_catalog_window(&c, 4, 0), -1);
    /* seal and delete a middle window; look-ups still find it */
    cr_assert_eq(cat_state(&c, TR_SIGNAL_LOGS, 0, 0, TR_SHARD_DELETED), 0);
    cr_assert_eq(tr_catalog_shard(&c, TR_SIGNAL_LOGS, 0, 0)->state,
                 TR_SHARD_DELETED);
    tr_catalog_free(&c);
    cr_assert_eq(c.n_shards, 0);
    cr_assert_null(tr_catalog_shard(&c, TR_SIGNAL_LOGS, 0, 0));
    cr_assert_eq(tr_catalog_window(&c, TR_SIGNAL_LOGS, 0), -1);
}

/* ---- allocation failures --------------------------------------------- */

struct cat_oom {
    long countdown; /* allocations left before failing; < 0: never fail */
    long live;      /* blocks handed out and not freed */
    bool failed;
};

static void *cat_oom_malloc(void *data, size_t size)
{
    struct cat_oom *o = data;
    if (o->countdown == 0) {
        o->failed = true;
        return NULL;
    }
    if (o->countdown > 0) {
        o->countdown--;
    }
    void *p = malloc(size ? size : 1);
    o->live += p != NULL;
    return p;
}

static void *cat_oom_realloc(void *data, void *ptr, size_t size)
{
    struct cat_oom *o = data;
    if (ptr == NULL) {
        return cat_oom_malloc(data, size);
    }
    if (o->countdown == 0) {
        o->failed = true;
        return NULL;
    }
    if (o->countdown > 0) {
        o->countdown--;
    }
    return realloc(ptr, size ? size : 1);
}

static void cat_oom_free(void *data, void *ptr)
{
    struct cat_oom *o = data;
    o->live--;
    free(ptr);
}

Test(catalog, out_of_memory)
{
    /* a fixed script of commands, rerun with the n-th allocation failing */
    struct tr_buf script[40];
    size_t n_script = 0;
    cat_rng_state = 99;
    for (uint64_t id = 1; id <= 6; id++) {
        tr_buf_init(&script[n_script]);
        struct tr_catalog_node nd = cat_node(id, "n");
        tr_catalog_cmd_add_node(&script[n_script++], &nd);
    }
    while (n_script < 40) {
        tr_buf_init(&script[n_script]);
        cat_random_cmd(&script[n_script++]);
    }
    /* reference run with libc */
    struct tr_catalog ref;
    tr_catalog_init(&ref);
    for (size_t i = 0; i < n_script; i++) {
        tr_catalog_apply(&ref, script[i].data, script[i].len, NULL);
    }
    struct tr_buf ref_enc = cat_enc(&ref);

    bool completed = false;
    for (long fail_at = 0; !completed; fail_at++) {
        cr_assert_lt(fail_at, 100000);
        struct cat_oom o = {.countdown = fail_at};
        struct tr_allocator a = {1, &o, cat_oom_malloc, cat_oom_realloc,
                                 cat_oom_free};
        tr_allocator_set(&a);
        struct tr_catalog c;
        tr_catalog_init(&c);
        int nomem = 0;
        for (size_t i = 0; i < n_script; i++) {
            struct tr_buf before;
            tr_buf_init(&before);
            int erv = tr_catalog_encode(&c, &before);
            char errmsg[TR_ERRMSG_SIZE];
            int rv =
                tr_catalog_apply(&c, script[i].data, script[i].len, errmsg);
            cr_assert(rv == 0 || rv == TR_EINVAL || rv == TR_ENOMEM);
            if (rv == TR_ENOMEM && erv == 0) {
                struct tr_buf after;
                tr_buf_init(&after);
                if (tr_catalog_encode(&c, &after) == 0) {
                    cr_assert(cat_same(&before, &after));
                }
                tr_buf_free(&after);
            }
            nomem += rv == TR_ENOMEM;
            tr_buf_free(&before);
        }
        /* snapshot: encode and restore into a second catalog */
        struct tr_buf snap;
        tr_buf_init(&snap);
        struct tr_catalog d;
        tr_catalog_init(&d);
        int erv = tr_catalog_encode(&c, &snap);
        cr_assert(erv == 0 || erv == TR_ENOMEM);
        if (erv == 0) {
            int drv = tr_catalog_decode(&d, snap.data, snap.len);
            cr_assert(drv == 0 || drv == TR_ENOMEM);
            if (drv == TR_ENOMEM) {
                cr_assert_eq(d.n_nodes, 0);
                nomem++;
            }
        } else {
            nomem++;
        }
        if (!o.failed) {
            cr_assert_eq(nomem, 0);
            cr_assert(cat_same(&snap, &ref_enc));
            completed = true;
        }
        tr_buf_free(&snap);
        tr_catalog_free(&d);
        tr_catalog_free(&c);
        cr_assert_eq(o.live, 0, "fail_at=%ld: %ld blocks leaked", fail_at,
                     o.live);
        tr_allocator_set(NULL);
    }
    for (size_t i = 0; i < n_script; i++) {
        tr_buf_free(&script[i]);
    }
    tr_buf_free(&ref_enc);
    tr_catalog_free(&ref);
}

Test(catalog, tenant_overrides)
{
    struct tr_catalog c;
    tr_catalog_init(&c);
    struct tr_catalog_tenant t = {.max_series = 10,
                                  .ingestion_rate = 500,
                                  .ingestion_burst = 1000,
                                  .retention_metrics_ms = 3600000,
                                  .retention_logs_ms = -1,
                                  .retention_traces_ms = -1};
    snprintf(t.name, sizeof(t.name), "team-b");
    struct tr_buf cmd;
    tr_buf_init(&cmd);
    tr_catalog_cmd_set_tenant(&cmd, &t);
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_catalog_apply(&c, cmd.data, cmd.len, err), 0, "%s", err);
    snprintf(t.name, sizeof(t.name), "team-a");
    t.max_series = 5;
    tr_buf_reset(&cmd);
    tr_catalog_cmd_set_tenant(&cmd, &t);
    cr_assert_eq(tr_catalog_apply(&c, cmd.data, cmd.len, err), 0);
    cr_assert_eq(c.n_tenants, 2);
    cr_assert_str_eq(c.tenants[0].name, "team-a");
    const struct tr_catalog_tenant *g = tr_catalog_tenant(&c, "team-b");
    cr_assert_not_null(g);
    cr_assert_eq(g->max_series, 10);
    cr_assert_eq(g->ingestion_rate, 500);
    cr_assert_null(tr_catalog_tenant(&c, "nobody"));
    /* snapshot round trip keeps them */
    struct tr_buf enc;
    tr_buf_init(&enc);
    cr_assert_eq(tr_catalog_encode(&c, &enc), 0);
    struct tr_catalog d;
    tr_catalog_init(&d);
    cr_assert_eq(tr_catalog_decode(&d, enc.data, enc.len), 0);
    cr_assert_eq(d.n_tenants, 2);
    cr_assert_eq(tr_catalog_tenant(&d, "team-a")->max_series, 5);
    /* all defaults removes the override */
    struct tr_catalog_tenant def = {.ingestion_rate = -1,
                                    .retention_metrics_ms = -1,
                                    .retention_logs_ms = -1,
                                    .retention_traces_ms = -1};
    snprintf(def.name, sizeof(def.name), "team-a");
    tr_buf_reset(&cmd);
    tr_catalog_cmd_set_tenant(&cmd, &def);
    cr_assert_eq(tr_catalog_apply(&c, cmd.data, cmd.len, err), 0);
    cr_assert_eq(c.n_tenants, 1);
    /* a truncated command is corrupt and changes nothing */
    tr_buf_reset(&cmd);
    tr_catalog_cmd_set_tenant(&cmd, &t);
    cr_assert_eq(tr_catalog_apply(&c, cmd.data, cmd.len - 1, err), TR_ECORRUPT);
    cr_assert_eq(c.n_tenants, 1);
    tr_buf_free(&enc);
    tr_buf_free(&cmd);
    tr_catalog_free(&c);
    tr_catalog_free(&d);
}

/* Version 2 tenant records carry the traces limits; a version 1 set-tenant
 * command (written by an earlier build) still applies, without them. */
Test(catalog, tenant_traces_limits_and_version_1)
{
    struct tr_catalog c;
    tr_catalog_init(&c);
    struct tr_catalog_tenant t;
    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "acme");
    t.ingestion_rate = -1;
    t.retention_metrics_ms = t.retention_logs_ms = t.retention_traces_ms = -1;
    t.traces_max_bytes_per_trace = 1000;
    t.traces_rate_bytes = 5000;
    t.traces_span_metrics = 2;
    struct tr_buf cmd;
    tr_buf_init(&cmd);
    tr_catalog_cmd_set_tenant(&cmd, &t);
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_catalog_apply(&c, cmd.data, cmd.len, err), 0, "%s", err);
    cr_assert_eq(c.n_tenants, 1);
    cr_assert_eq(c.tenants[0].traces_max_bytes_per_trace, 1000);
    cr_assert_eq(c.tenants[0].traces_rate_bytes, 5000);
    /* the snapshot keeps them */
    struct tr_buf snap;
    tr_buf_init(&snap);
    cr_assert_eq(tr_catalog_encode(&c, &snap), 0);
    struct tr_catalog d;
    tr_catalog_init(&d);
    cr_assert_eq(tr_catalog_decode(&d, snap.data, snap.len), 0);
    cr_assert_eq(d.n_tenants, 1);
    cr_assert_eq(d.tenants[0].traces_rate_bytes, 5000);
    cr_assert_eq(d.tenants[0].traces_span_metrics, 2);
    cr_assert_eq(d.tenants[0].traces_service_graph, 0);
    /* a tenant with only traces limits is not a default one */
    t.traces_max_bytes_per_trace = 0;
    t.traces_rate_bytes = 0;
    t.traces_span_metrics = 0;
    t.traces_max_attr_bytes = 7;
    tr_buf_reset(&cmd);
    tr_catalog_cmd_set_tenant(&cmd, &t);
    cr_assert_eq(tr_catalog_apply(&c, cmd.data, cmd.len, err), 0, "%s", err);
    cr_assert_eq(c.n_tenants, 1);
    cr_assert_eq(c.tenants[0].traces_max_attr_bytes, 7);
    /* version 1: the same command without the four traces fields */
    const char v1[] =
        "T\x01\x04"
        "beta"
        "\x05"                             /* max series */
        "\x00\x00\x00\x00\x00\x00\x00\x00" /* rate 0 */
        "\x00"                             /* burst */
        "\x01\x01\x01";                    /* retentions -1 */
    cr_assert_eq(tr_catalog_apply(&c, v1, sizeof(v1) - 1, err), 0, "%s", err);
    cr_assert_eq(c.n_tenants, 2);
    cr_assert_eq(c.tenants[1].max_series, 5);
    cr_assert_eq(c.tenants[1].traces_rate_bytes, 0);
    /* version 1 with version 2's fields is corrupt (trailing bytes) */
    char v1x[sizeof(v1) + 4];
    memcpy(v1x, v1, sizeof(v1) - 1);
    memcpy(v1x + sizeof(v1) - 1, "\x01\x01\x01\x01", 4);
    cr_assert_eq(tr_catalog_apply(&c, v1x, sizeof(v1) + 3, err), TR_ECORRUPT);
    tr_buf_free(&cmd);
    tr_buf_free(&snap);
    tr_catalog_free(&c);
    tr_catalog_free(&d);
}
