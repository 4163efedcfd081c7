/* transport.h - every Raft group of a node over one TCP listener.
 *
 * A mux owns the --cluster-addr listener. Each group gets a
 * raft_uv_transport (tr_raft_transport_init) registered in the mux under
 * its group name. Connecting to a peer opens a TCP connection to the peer's
 * cluster address and sends a handshake naming the group; the accepting
 * side reads it, finds the group's transport and hands the stream to
 * raft_uv (streams are allocated with raft_malloc: raft_uv frees them).
 *
 *   handshake (client -> server, once per connection)
 *   OFFSET  SIZE  DESCRIPTION
 *   0       4     magic "TRFT"
 *   4       1     version = 1
 *   5       1     group name length G (1..63)
 *   6       G     group name
 *   6+G     8     sender's raft id, big-endian
 *   14+G    1     sender's address length A (1..127)
 *   15+G    A     sender's cluster address "host:port"
 *
 * A connection naming an unknown group, or a malformed handshake, is
 * closed (raft retries). Transport state lives in t->impl (raft_uv
 * overwrites t->data). */
#ifndef TR_RAFT_TRANSPORT_H
#define TR_RAFT_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct tr_raft_mux;

/* Binds "host:port" (port 0 = any; the bound port in *port if not NULL). */
int tr_raft_mux_new(uv_loop_t *loop,
                    const char *bind_addr,
                    int *port,
                    struct tr_raft_mux **out,
                    char *errmsg);
/* Closes the listener and pending handshakes; cb when memory is free.
 * Close every group's transport first. */
void tr_raft_mux_close(struct tr_raft_mux *m, void (*cb)(void *arg), void *arg);
/* Name resolution seam (a versioned vtable, like struct raft_io): how
 * t->connect turns a host that is not a numeric address into a list of
 * addresses. The default is libuv's getaddrinfo, run on the thread pool so
 * the loop never blocks; tests install one answering from a fixed list.
 * t->connect tries every IPv4/IPv6 address of the list in its order (at
 * most TR_RAFT_CONNECT_ADDRS_MAX) until one accepts the TCP connection. */
#define TR_RAFT_RESOLVER_VERSION 1
#define TR_RAFT_CONNECT_ADDRS_MAX 16
struct tr_raft_resolver {
    int version; /* TR_RAFT_RESOLVER_VERSION */
    void *data;  /* the implementation's */
    /* As uv_getaddrinfo: 0, and cb runs later exactly once (never inside
     * this call) with a list the transport frees with free(); or a
     * negative UV error code, and cb never runs. */
    int (*resolve)(struct tr_raft_resolver *r,
                   uv_loop_t *loop,
                   uv_getaddrinfo_t *req,
                   uv_getaddrinfo_cb cb,
                   const char *host,
                   const char *port,
                   const struct addrinfo *hints);
    /* As uv_cancel on a pending req: cb runs early with a non-zero status,
     * or with its result when it is too late to cancel. */
    void (*cancel)(struct tr_raft_resolver *r, uv_getaddrinfo_t *req);
    /* Frees a (non-NULL) list that cb received. */
    void (*free)(struct tr_raft_resolver *r, struct addrinfo *res);
};
/* Resolver for connects started from now on (NULL: the default). r must
 * outlive them; a pending connect keeps the resolver it started with.
 * 0, or TR_EINVAL for an unknown version or a missing function. */
int tr_raft_mux_set_resolver(struct tr_raft_mux *m, struct tr_raft_resolver *r);

/* Counters for /metrics. */
struct tr_raft_mux_stats {
    uint64_t accepted;
    uint64_t rejected; /* bad handshake or unknown group */
    uint64_t connected;
    uint64_t connect_failed; /* connects that failed on every address */
};
void tr_raft_mux_stats(struct tr_raft_mux *m, struct tr_raft_mux_stats *st);

/* Fills t (a raft_uv_transport) for group `group` over mux m. Free with
 * tr_raft_transport_close after raft_uv is closed. */
int tr_raft_transport_init(struct raft_uv_transport *t,
                           struct tr_raft_mux *m,
                           const char *group);
void tr_raft_transport_close(struct raft_uv_transport *t);
/* (If t->close has not completed yet, tr_raft_transport_close finishes the
 * close itself, without a callback, and frees the state when libuv is done
 * with it; groups never rely on this.) */

/* Handshake codec (pure functions; fuzzed by fuzz/fuzz_raft_handshake.c). */
#define TR_RAFT_GROUP_NAME_MAX 63
#define TR_RAFT_ADDRESS_MAX 127
#define TR_RAFT_HANDSHAKE_MAX \
    (15 + TR_RAFT_GROUP_NAME_MAX + TR_RAFT_ADDRESS_MAX)

struct tr_raft_handshake {
    char group[TR_RAFT_GROUP_NAME_MAX + 1]; /* NUL-terminated */
    raft_id id;                             /* non-zero */
    char address[TR_RAFT_ADDRESS_MAX + 1];  /* NUL-terminated */
    size_t len;                             /* bytes of the handshake */
};

/* True when name is 1..63 bytes of [A-Za-z0-9_.-]. */
bool tr_raft_name_valid(const char *name);

/* Parses the first n bytes of a connection. Returns 0 when a complete,
 * valid handshake is present (out filled, out->len bytes used; bytes past
 * out->len are not looked at), a positive count k when at least k more
 * bytes are needed (reading exactly k more never reads past the handshake),
 * or TR_EPROTO when the bytes can never form a valid handshake (bad magic
 * or version, bad name or address length or character, id 0). */
int tr_raft_handshake_parse(const void *p,
                            size_t n,
                            struct tr_raft_handshake *out);

/* Encodes a handshake into out (cap >= TR_RAFT_HANDSHAKE_MAX is always
 * enough); *len = bytes written. 0 or TR_EINVAL (bad name/address/id). */
int tr_raft_handshake_encode(const char *group,
                             raft_id id,
                             const char *address,
                             void *out,
                             size_t cap,
                             size_t *len);

#endif
