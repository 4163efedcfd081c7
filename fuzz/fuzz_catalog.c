/* fuzz_catalog.c - libFuzzer driver for the cluster catalog (raft/catalog.h):
 * command decode/apply and snapshot decode.
 *
 * Input: byte 0 selects the mode.
 *  - odd: the rest is a snapshot for tr_catalog_decode;
 *  - even: the rest is a sequence of commands, each a uvarint length and
 *    that many bytes (the last one takes what is left), applied to a
 *    catalog that already holds nodes 1..5 and one window.
 *
 * Properties checked:
 *  - apply returns 0, TR_EINVAL or TR_ECORRUPT (no ENOMEM: libc heap);
 *    a rejected command leaves the snapshot encoding byte-identical;
 *  - the catalog keeps its invariants (nodes ascending by id, shards
 *    ascending by (signal, window, slot), each window's slots 0..K-1,
 *    replicas 1..MAX distinct known nodes, look-ups find every shard);
 *  - after each accepted command and each decoded snapshot:
 *    decode(encode(c)) succeeds and re-encodes to the same bytes;
 *  - a failed snapshot decode leaves the target catalog unchanged. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "raft/catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_invariants(const struct tr_catalog *c)
{
    for (size_t i = 0; i < c->n_nodes; i++) {
        if (c->nodes[i].id == 0 ||
            (i > 0 && c->nodes[i - 1].id >= c->nodes[i].id) ||
            tr_catalog_node(c, c->nodes[i].id) != &c->nodes[i]) {
            abort();
        }
    }
    for (size_t i = 0; i < c->n_shards; i++) {
        const struct tr_catalog_shard *s = &c->shards[i];
        if (i > 0) {
            const struct tr_catalog_shard *p = &c->shards[i - 1];
            bool lt = p->signal < s->signal ||
                      (p->signal == s->signal && p->window < s->window) ||
                      (p->signal == s->signal && p->window == s->window &&
                       p->slot < s->slot);
            if (!lt) {
                abort();
            }
        }
        if (s->slot >= s->k || s->n_replicas < 1 ||
            s->n_replicas > TR_CATALOG_MAX_REPLICAS || s->window_ms < 1 ||
            s->state < TR_SHARD_ACTIVE || s->state > TR_SHARD_DELETED) {
            abort();
        }
        for (size_t j = 0; j < s->n_replicas; j++) {
            if (tr_catalog_node(c, s->replicas[j]) == NULL) {
                abort();
            }
            for (size_t x = 0; x < j; x++) {
                if (s->replicas[x] == s->replicas[j]) {
                    abort();
                }
            }
        }
        long first = tr_catalog_window(c, s->signal, s->window);
        if (first < 0 || (size_t)first + s->slot != i ||
            c->shards[first].k != s->k ||
            tr_catalog_shard(c, s->signal, s->window, s->slot) != s) {
            abort();
        }
    }
}

static void encode_or_die(const struct tr_catalog *c, struct tr_buf *b)
{
    tr_buf_reset(b);
    if (tr_catalog_encode(c, b) != 0) {
        abort();
    }
}

/* decode(encode(c)) == c, compared through the encoding. */
static void check_round_trip(const struct tr_catalog *c)
{
    check_invariants(c);
    struct tr_buf a, b;
    tr_buf_init(&a);
    tr_buf_init(&b);
    encode_or_die(c, &a);
    struct tr_catalog d;
    tr_catalog_init(&d);
    if (tr_catalog_decode(&d, a.data, a.len) != 0 || d.version != c->version ||
        d.n_nodes != c->n_nodes || d.n_shards != c->n_shards) {
        abort();
    }
    check_invariants(&d);
    encode_or_die(&d, &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) {
        abort();
    }
    tr_catalog_free(&d);
    tr_buf_free(&a);
    tr_buf_free(&b);
}

static void seed_catalog(struct tr_catalog *c)
{
    struct tr_buf b;
    tr_buf_init(&b);
    for (uint64_t id = 1; id <= 5; id++) {
        struct tr_catalog_node n;
        memset(&n, 0, sizeof(n));
        n.id = id;
        memcpy(n.name, "n", 2);
        memcpy(n.raft_addr, "127.0.0.1:7000", 15);
        tr_catalog_cmd_add_node(&b, &n);
        if (tr_catalog_apply(c, b.data, b.len, NULL) != 0) {
            abort();
        }
        tr_buf_reset(&b);
    }
    uint64_t ids[3 * 3];
    uint64_t nodes[5] = {1, 2, 3, 4, 5};
    uint8_t rf = tr_catalog_place(nodes, 5, 0, 86400000, 3, 3, ids);
    tr_catalog_cmd_create_window(&b, TR_SIGNAL_METRICS, 0, 86400000, 3, ids,
                                 rf);
    if (tr_catalog_apply(c, b.data, b.len, NULL) != 0) {
        abort();
    }
    tr_buf_free(&b);
}

static void run_commands(const uint8_t *data, size_t size)
{
    struct tr_catalog c;
    tr_catalog_init(&c);
    seed_catalog(&c);
    struct tr_buf before, after;
    tr_buf_init(&before);
    tr_buf_init(&after);
    struct tr_cursor cur = tr_cursor_make(data, size);
    while (tr_cursor_left(&cur) > 0) {
        uint64_t n;
        if (tr_cursor_uvarint(&cur, &n) != 0 || n > tr_cursor_left(&cur)) {
            n = tr_cursor_left(&cur);
        }
        struct tr_slice cmd;
        if (tr_cursor_bytes(&cur, (size_t)n, &cmd) != 0) {
            abort();
        }
        encode_or_die(&c, &before);
        uint64_t v = c.version;
        char errmsg[TR_ERRMSG_SIZE];
        int rv = tr_catalog_apply(&c, cmd.base, cmd.len, errmsg);
        if (rv == 0) {
            if (c.version != v + 1) {
                abort();
            }
            check_round_trip(&c);
            continue;
        }
        if (rv != TR_EINVAL && rv != TR_ECORRUPT) {
            abort();
        }
        encode_or_die(&c, &after);
        if (before.len != after.len ||
            memcmp(before.data, after.data, before.len) != 0) {
            abort(); /* a rejected command changed the catalog */
        }
    }
    check_round_trip(&c);
    tr_buf_free(&before);
    tr_buf_free(&after);
    tr_catalog_free(&c);
}

static void run_snapshot(const uint8_t *data, size_t size)
{
    struct tr_catalog c;
    tr_catalog_init(&c);
    seed_catalog(&c);
    struct tr_buf before, after;
    tr_buf_init(&before);
    tr_buf_init(&after);
    encode_or_die(&c, &before);
    int rv = tr_catalog_decode(&c, data, size);
    if (rv == 0) {
        check_round_trip(&c);
    } else {
        if (rv != TR_ECORRUPT) {
            abort();
        }
        encode_or_die(&c, &after);
        if (before.len != after.len ||
            memcmp(before.data, after.data, before.len) != 0) {
            abort(); /* a failed decode changed the catalog */
        }
    }
    tr_buf_free(&before);
    tr_buf_free(&after);
    tr_catalog_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    if (data[0] & 1) {
        run_snapshot(data + 1, size - 1);
    } else {
        run_commands(data + 1, size - 1);
    }
    return 0;
}
