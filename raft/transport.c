/* transport.c - the node's single Raft listener, multiplexing every group
 * (see transport.h for the handshake format).
 *
 * Objects and who frees them:
 *
 *   mux          tr_malloc'd; freed after its listener and sweep timer are
 *                closed and every pending handshake connection is closed.
 *   incoming     one accepted connection still reading our handshake; its
 *                uv_tcp_t is raft_malloc'd because on success it is handed
 *                to raft_uv (which uv_close()s it with raft_free). On
 *                failure we close it and free both in the close callback.
 *   transport    (struct tport, in t->impl) registered in the mux under its
 *                group name from tr_raft_transport_init until raft_uv calls
 *                t->close; freed by tr_raft_transport_close.
 *   connect      one outgoing connection attempt: resolve (numeric, else
 *                the mux's resolver, by default uv_getaddrinfo) ->
 *                uv_tcp_connect to each resolved address in turn until one
 *                connects (a failed address's handle is closed before the
 *                next is tried) -> write handshake -> connect cb with the
 *                raft_malloc'd stream. Canceled by t->close: the cb then
 *                runs with RAFT_CANCELED.
 *
 * The accepting side reads exactly as many bytes as the parser asks for,
 * so it never consumes raft_uv's first message, and it stops reading
 * inside the read callback that completes the handshake (libuv reads no
 * further once reading is stopped). */
#include "raft/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"

#define HS_MAGIC "TRFT"
#define HS_VERSION 1
#define HS_TIMEOUT_MS 10000 /* an accepted peer must finish its handshake */
#define SWEEP_MS 1000

struct tport;

struct incoming {
    struct tr_raft_mux *m;
    uv_tcp_t *tcp;     /* raft_malloc'd */
    uint64_t deadline; /* uv_now() when the handshake times out */
    size_t have;       /* bytes in buf */
    size_t want;       /* bytes the next read may add */
    bool closing;      /* uv_close called */
    struct incoming *prev, *next;
    unsigned char buf[TR_RAFT_HANDSHAKE_MAX];
};

struct tr_raft_mux {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t sweep;          /* closes handshakes past their deadline */
    struct incoming *incoming; /* connections reading the handshake */
    struct tport *groups;      /* registered transports */
    struct tr_raft_resolver *resolver; /* for connects to host names */
    struct tr_raft_mux_stats stats;
    unsigned open_handles; /* listener + sweep while closing */
    bool closing;
    void (*close_cb)(void *arg);
    void *close_arg;
};

struct conn {
    struct tport *tp;
    uv_loop_t *loop; /* the mux's (tp->m is NULL once a mux is closed) */
    struct raft_uv_connect *req;
    raft_uv_connect_cb cb;
    uv_tcp_t *tcp; /* raft_malloc'd, NULL until connecting */
    struct tr_raft_resolver *resolver; /* the one gai was started with */
    uv_getaddrinfo_t gai;
    uv_connect_t connect;
    uv_write_t write;
    int status;       /* RAFT_* reported when failing */
    bool resolving;   /* resolver->resolve in flight */
    bool tcp_closing; /* uv_close(tcp) called */
    bool try_next;    /* the TCP connect failed: next address on close */
    bool canceled;
    unsigned n_addrs;   /* addresses to try, in resolver order */
    unsigned next_addr; /* index of the next one to try */
    struct sockaddr_storage addrs[TR_RAFT_CONNECT_ADDRS_MAX];
    struct conn *prev, *next;
    char host[TR_RAFT_ADDRESS_MAX + 1];
    char port[8];
    unsigned char hs[TR_RAFT_HANDSHAKE_MAX];
    size_t hs_len;
};

struct tport {
    struct raft_uv_transport *t;
    struct tr_raft_mux *m;
    char name[TR_RAFT_GROUP_NAME_MAX + 1];
    raft_id id; /* set by t->init */
    char address[TR_RAFT_ADDRESS_MAX + 1];
    raft_uv_accept_cb accept_cb; /* set by t->listen */
    uv_timer_t close_timer;      /* closed by t->close: makes close async */
    bool timer_open;             /* close_timer initialized (t->init ran) */
    bool registered;             /* linked in m->groups */
    bool closing;                /* t->close called */
    bool timer_closed;
    bool orphan;        /* freed when close_timer closes */
    struct conn *conns; /* pending connects */
    raft_uv_transport_close_cb close_cb;
    struct tport *prev, *next;
};

/* ---- handshake codec --------------------------------------------------- */

static bool name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static bool addr_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

bool tr_raft_name_valid(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (n == 0 || n > TR_RAFT_GROUP_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!name_char((unsigned char)name[i])) {
            return false;
        }
    }
    return true;
}

int tr_raft_handshake_parse(const void *p,
                            size_t n,
                            struct tr_raft_handshake *out)
{
    const unsigned char *b = p;
    /* Reject a wrong magic/version as soon as its bytes are here. */
    size_t k = n < 4 ? n : 4;
    if (k > 0 && memcmp(b, HS_MAGIC, k) != 0) {
        return TR_EPROTO;
    }
    if (n > 4 && b[4] != HS_VERSION) {
        return TR_EPROTO;
    }
    if (n < 6) {
        return (int)(6 - n);
    }
    size_t g = b[5];
    if (g == 0 || g > TR_RAFT_GROUP_NAME_MAX) {
        return TR_EPROTO;
    }
    for (size_t i = 0; i < g && 6 + i < n; i++) {
        if (!name_char(b[6 + i])) {
            return TR_EPROTO;
        }
    }
    size_t fixed = 15 + g; /* through the address length byte */
    if (n < fixed) {
        return (int)(fixed - n);
    }
    uint64_t id = tr_get_u64be(b + 6 + g);
    if (id == 0) {
        return TR_EPROTO;
    }
    size_t a = b[14 + g];
    if (a == 0 || a > TR_RAFT_ADDRESS_MAX) {
        return TR_EPROTO;
    }
    for (size_t i = 0; i < a && fixed + i < n; i++) {
        if (!addr_char(b[fixed + i])) {
            return TR_EPROTO;
        }
    }
    if (n < fixed + a) {
        return (int)(fixed + a - n);
    }
    memcpy(out->group, b + 6, g);
    out->group[g] = '\0';
    out->id = id;
    memcpy(out->address, b + fixed, a);
    out->address[a] = '\0';
    out->len = fixed + a;
    return 0;
}

int tr_raft_handshake_encode(const char *group,
                             raft_id id,
                             const char *address,
                             void *out,
                             size_t cap,
                             size_t *len)
{
    if (!tr_raft_name_valid(group) || id == 0 || address == NULL) {
        return TR_EINVAL;
    }
    size_t g = strlen(group);
    size_t a = strlen(address);
    if (a == 0 || a > TR_RAFT_ADDRESS_MAX) {
        return TR_EINVAL;
    }
    for (size_t i = 0; i < a; i++) {
        if (!addr_char((unsigned char)address[i])) {
            return TR_EINVAL;
        }
    }
    if (cap < 15 + g + a) {
        return TR_EINVAL;
    }
    unsigned char *b = out;
    memcpy(b, HS_MAGIC, 4);
    b[4] = HS_VERSION;
    b[5] = (unsigned char)g;
    memcpy(b + 6, group, g);
    tr_put_u64be(b + 6 + g, id);
    b[14 + g] = (unsigned char)a;
    memcpy(b + 15 + g, address, a);
    *len = 15 + g + a;
    return 0;
}

/* ---- addresses ---------------------------------------------------------- */

/* Splits "host:port" or "[v6]:port" into host and port strings. */
static int split_addr(const char *addr,
                      char *host,
                      size_t hcap,
                      char *port,
                      size_t pcap)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon[1] == '\0') {
        return TR_EINVAL;
    }
    const char *h = addr;
    size_t hl = (size_t)(colon - addr);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    size_t pl = strlen(colon + 1);
    if (hl == 0 || hl >= hcap || pl >= pcap) {
        return TR_EINVAL;
    }
    for (size_t i = 0; i < pl; i++) {
        if (colon[1 + i] < '0' || colon[1 + i] > '9') {
            return TR_EINVAL;
        }
    }
    long p = strtol(colon + 1, NULL, 10);
    if (p < 0 || p > 65535) {
        return TR_EINVAL;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    memcpy(port, colon + 1, pl + 1);
    return 0;
}

/* Numeric IPv4/IPv6 only; 0 or TR_EINVAL. */
static int numeric_addr(const char *host,
                        const char *port,
                        struct sockaddr_storage *ss)
{
    int p = atoi(port);
    memset(ss, 0, sizeof(*ss));
    if (uv_ip4_addr(host, p, (struct sockaddr_in *)ss) == 0) {
        return 0;
    }
    if (uv_ip6_addr(host, p, (struct sockaddr_in6 *)ss) == 0) {
        return 0;
    }
    return TR_EINVAL;
}

/* The default resolver: getaddrinfo on libuv's thread pool. */
static int res_gai_resolve(struct tr_raft_resolver *r,
                           uv_loop_t *loop,
                           uv_getaddrinfo_t *req,
                           uv_getaddrinfo_cb cb,
                           const char *host,
                           const char *port,
                           const struct addrinfo *hints)
{
    (void)r;
    return uv_getaddrinfo(loop, req, cb, host, port, hints);
}

static void res_gai_cancel(struct tr_raft_resolver *r, uv_getaddrinfo_t *req)
{
    (void)r;
    uv_cancel((uv_req_t *)req); /* cb then runs with UV_EAI_CANCELED */
}

static void res_gai_free(struct tr_raft_resolver *r, struct addrinfo *res)
{
    (void)r;
    uv_freeaddrinfo(res);
}

static struct tr_raft_resolver res_gai = {
    .version = TR_RAFT_RESOLVER_VERSION,
    .data = NULL,
    .resolve = res_gai_resolve,
    .cancel = res_gai_cancel,
    .free = res_gai_free,
};

/* ---- mux: accepting ----------------------------------------------------- */

static void mux_maybe_free(struct tr_raft_mux *m)
{
    if (!m->closing || m->open_handles > 0 || m->incoming != NULL) {
        return;
    }
    void (*cb)(void *) = m->close_cb;
    void *arg = m->close_arg;
    tr_free(m);
    if (cb != NULL) {
        cb(arg);
    }
}

static void incoming_unlink(struct incoming *in)
{
    struct tr_raft_mux *m = in->m;
    if (in->prev != NULL) {
        in->prev->next = in->next;
    } else {
        m->incoming = in->next;
    }
    if (in->next != NULL) {
        in->next->prev = in->prev;
    }
}

static void incoming_close_cb(uv_handle_t *h)
{
    struct incoming *in = h->data;
    struct tr_raft_mux *m = in->m;
    incoming_unlink(in);
    raft_free(in->tcp);
    tr_free(in);
    mux_maybe_free(m);
}

static void incoming_reject(struct incoming *in, const char *why)
{
    if (in->closing) {
        return;
    }
    in->closing = true;
    in->m->stats.rejected++;
    tr_log_debug("raft handshake rejected", "reason=\"%s\"", why);
    uv_close((uv_handle_t *)in->tcp, incoming_close_cb);
}

static struct tport *mux_find(struct tr_raft_mux *m, const char *name)
{
    for (struct tport *tp = m->groups; tp != NULL; tp = tp->next) {
        if (strcmp(tp->name, name) == 0) {
            return tp;
        }
    }
    return NULL;
}

static void incoming_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct incoming *in = h->data;
    (void)suggested;
    buf->base = (char *)in->buf + in->have;
    buf->len = in->want;
}

static void incoming_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct incoming *in = s->data;
    struct tr_raft_handshake hs;
    (void)buf;
    if (nread == 0) {
        return;
    }
    if (nread < 0) {
        incoming_reject(in, nread == UV_EOF ? "eof" : uv_strerror((int)nread));
        return;
    }
    in->have += (size_t)nread;
    int rv = tr_raft_handshake_parse(in->buf, in->have, &hs);
    if (rv < 0) {
        incoming_reject(in, "malformed handshake");
        return;
    }
    if (rv > 0) {
        in->want = (size_t)rv;
        return;
    }
    struct tport *tp = mux_find(in->m, hs.group);
    if (tp == NULL || tp->closing || tp->accept_cb == NULL) {
        tr_log_debug("raft handshake for a group not served here",
                     "group=%s from=%llu", hs.group, (unsigned long long)hs.id);
        incoming_reject(in, "unknown group");
        return;
    }
    /* Hand the stream to raft_uv: reading stopped, nothing buffered. */
    uv_read_stop(s);
    uv_tcp_t *tcp = in->tcp;
    tcp->data = NULL;
    incoming_unlink(in);
    in->m->stats.accepted++;
    tr_log_debug("raft handshake accepted", "group=%s from=%llu", hs.group,
                 (unsigned long long)hs.id);
    tr_free(in);
    tp->accept_cb(tp->t, hs.id, hs.address, (uv_stream_t *)tcp);
}

static void mux_connection_cb(uv_stream_t *server, int status)
{
    struct tr_raft_mux *m = server->data;
    if (status < 0 || m->closing) {
        return;
    }
    struct incoming *in = tr_calloc(1, sizeof(*in));
    uv_tcp_t *tcp = raft_malloc(sizeof(*tcp));
    if (in == NULL || tcp == NULL) {
        /* Accept into a throwaway handle is not possible without memory;
         * the connection stays in the backlog until memory returns. */
        tr_free(in);
        raft_free(tcp);
        return;
    }
    uv_tcp_init(m->loop, tcp);
    tcp->data = in;
    in->m = m;
    in->tcp = tcp;
    in->want = 6;
    in->deadline = uv_now(m->loop) + HS_TIMEOUT_MS;
    in->next = m->incoming;
    if (m->incoming != NULL) {
        m->incoming->prev = in;
    }
    m->incoming = in;
    if (uv_accept(server, (uv_stream_t *)tcp) != 0) {
        in->closing = true; /* not a peer's fault: not counted */
        uv_close((uv_handle_t *)tcp, incoming_close_cb);
        return;
    }
    uv_tcp_nodelay(tcp, 1);
    if (uv_read_start((uv_stream_t *)tcp, incoming_alloc_cb,
                      incoming_read_cb) != 0) {
        incoming_reject(in, "read start");
    }
}

static void mux_sweep_cb(uv_timer_t *timer)
{
    struct tr_raft_mux *m = timer->data;
    uint64_t now = uv_now(m->loop);
    struct incoming *in = m->incoming;
    while (in != NULL) {
        struct incoming *next = in->next;
        if (!in->closing && now >= in->deadline) {
            incoming_reject(in, "handshake timeout");
        }
        in = next;
    }
}

static void mux_bad_close_cb(uv_handle_t *h)
{
    tr_free(h->data);
}

int tr_raft_mux_new(uv_loop_t *loop,
                    const char *bind_addr,
                    int *port,
                    struct tr_raft_mux **out,
                    char *errmsg)
{
    char host[TR_RAFT_ADDRESS_MAX + 1];
    char pstr[8];
    struct sockaddr_storage ss;
    if (bind_addr == NULL ||
        split_addr(bind_addr, host, sizeof(host), pstr, sizeof(pstr)) != 0 ||
        numeric_addr(host, pstr, &ss) != 0) {
        return tr_errf(TR_EINVAL, errmsg,
                       "cluster address %s: want numeric host:port",
                       bind_addr != NULL ? bind_addr : "(null)");
    }
    struct tr_raft_mux *m = tr_calloc(1, sizeof(*m));
    if (m == NULL) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    m->loop = loop;
    m->resolver = &res_gai;
    int rv = uv_tcp_init(loop, &m->listener);
    if (rv != 0) {
        tr_free(m);
        return tr_errf(TR_EIO, errmsg, "tcp init: %s", uv_strerror(rv));
    }
    m->listener.data = m;
    rv = uv_tcp_bind(&m->listener, (const struct sockaddr *)&ss, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&m->listener, 128, mux_connection_cb);
    }
    if (rv != 0) {
        /* The handle is initialized: m is freed in its close callback. */
        uv_close((uv_handle_t *)&m->listener, mux_bad_close_cb);
        return tr_errf(TR_EIO, errmsg, "listen on %s: %s", bind_addr,
                       uv_strerror(rv));
    }
    if (port != NULL) {
        struct sockaddr_storage name;
        int len = (int)sizeof(name);
        uv_tcp_getsockname(&m->listener, (struct sockaddr *)&name, &len);
        *port = name.ss_family == AF_INET6
                    ? ntohs(((struct sockaddr_in6 *)&name)->sin6_port)
                    : ntohs(((struct sockaddr_in *)&name)->sin_port);
    }
    uv_timer_init(loop, &m->sweep);
    m->sweep.data = m;
    uv_timer_start(&m->sweep, mux_sweep_cb, SWEEP_MS, SWEEP_MS);
    m->open_handles = 2;
    *out = m;
    return 0;
}

static void mux_handle_close_cb(uv_handle_t *h)
{
    struct tr_raft_mux *m = h->data;
    m->open_handles--;
    mux_maybe_free(m);
}

void tr_raft_mux_close(struct tr_raft_mux *m, void (*cb)(void *arg), void *arg)
{
    if (m->closing) {
        return;
    }
    m->closing = true;
    m->close_cb = cb;
    m->close_arg = arg;
    if (m->groups != NULL) {
        tr_log_error("raft mux closed with open group transports", "group=%s",
                     m->groups->name);
        /* Detach them so they never touch freed memory. */
        while (m->groups != NULL) {
            struct tport *tp = m->groups;
            m->groups = tp->next;
            tp->registered = false;
            tp->m = NULL;
            tp->prev = tp->next = NULL;
        }
    }
    for (struct incoming *in = m->incoming; in != NULL; in = in->next) {
        if (!in->closing) {
            in->closing = true;
            uv_close((uv_handle_t *)in->tcp, incoming_close_cb);
        }
    }
    uv_close((uv_handle_t *)&m->listener, mux_handle_close_cb);
    uv_close((uv_handle_t *)&m->sweep, mux_handle_close_cb);
}

void tr_raft_mux_stats(struct tr_raft_mux *m, struct tr_raft_mux_stats *st)
{
    *st = m->stats;
}

int tr_raft_mux_set_resolver(struct tr_raft_mux *m, struct tr_raft_resolver *r)
{
    if (r == NULL) {
        m->resolver = &res_gai;
        return 0;
    }
    if (r->version != TR_RAFT_RESOLVER_VERSION || r->resolve == NULL ||
        r->cancel == NULL || r->free == NULL) {
        return TR_EINVAL;
    }
    m->resolver = r;
    return 0;
}

/* ---- transport: connecting ---------------------------------------------- */

static void tport_maybe_closed(struct tport *tp);

static void conn_unlink(struct conn *c)
{
    struct tport *tp = c->tp;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        tp->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
}

/* Final step of a failed attempt: report and free. */
static void conn_finish_failed(struct conn *c)
{
    struct tport *tp = c->tp;
    int status = c->canceled ? RAFT_CANCELED : c->status;
    if (!c->canceled && tp->m != NULL) {
        tp->m->stats.connect_failed++;
    }
    conn_unlink(c);
    struct raft_uv_connect *req = c->req;
    raft_uv_connect_cb cb = c->cb;
    tr_free(c);
    cb(req, NULL, status);
    tport_maybe_closed(tp);
}

static int conn_connect_next(struct conn *c);

/* The handle of a failed address (or of a canceled or failed attempt) is
 * closed: try the next address when the TCP connect itself failed, else
 * finish. */
static void conn_tcp_close_cb(uv_handle_t *h)
{
    struct conn *c = h->data;
    raft_free(c->tcp);
    c->tcp = NULL;
    c->tcp_closing = false;
    if (c->try_next && !c->canceled && c->next_addr < c->n_addrs) {
        c->try_next = false;
        int rv = conn_connect_next(c);
        if (rv == 0) {
            return;
        }
        c->status = rv;
    }
    conn_finish_failed(c);
}

static void conn_fail(struct conn *c, int status)
{
    if (c->tcp_closing) {
        return; /* conn_tcp_close_cb finishes */
    }
    c->status = status;
    if (c->tcp != NULL) {
        c->tcp_closing = true;
        uv_close((uv_handle_t *)c->tcp, conn_tcp_close_cb);
        return;
    }
    conn_finish_failed(c);
}

/* This address refused (or could not be dialed): close its handle; the
 * close callback moves on to the next address. */
static void conn_addr_failed(struct conn *c, int uv_err)
{
    tr_log_debug("raft connect failed",
                 "group=%s host=%s port=%s try=%u/%u err=\"%s\"", c->tp->name,
                 c->host, c->port, c->next_addr, c->n_addrs,
                 uv_strerror(uv_err));
    c->try_next = !c->canceled;
    conn_fail(c, RAFT_NOCONNECTION);
}

static void conn_write_cb(uv_write_t *w, int status)
{
    struct conn *c = w->data;
    if (status != 0 || c->canceled) {
        conn_fail(c, RAFT_NOCONNECTION);
        return;
    }
    struct tport *tp = c->tp;
    uv_tcp_t *tcp = c->tcp;
    tcp->data = NULL;
    conn_unlink(c);
    if (tp->m != NULL) {
        tp->m->stats.connected++;
    }
    tr_log_debug("raft connected", "group=%s host=%s port=%s", tp->name,
                 c->host, c->port);
    struct raft_uv_connect *req = c->req;
    raft_uv_connect_cb cb = c->cb;
    tr_free(c);
    cb(req, (uv_stream_t *)tcp, 0);
}

static void conn_connect_cb(uv_connect_t *cr, int status)
{
    struct conn *c = cr->data;
    if (c->canceled) {
        conn_fail(c, RAFT_NOCONNECTION);
        return;
    }
    if (status != 0) {
        conn_addr_failed(c, status);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)c->hs, (unsigned)c->hs_len);
    c->write.data = c;
    if (uv_write(&c->write, (uv_stream_t *)c->tcp, &b, 1, conn_write_cb) != 0) {
        conn_fail(c, RAFT_NOCONNECTION);
    }
}

/* Starts the TCP connect to c->addrs[c->next_addr++] (c->tcp is NULL and
 * an address is left). RAFT_NOMEM (nothing started, the caller fails the
 * attempt) or 0 (the attempt goes on through callbacks: a connect that
 * fails, even at once, closes the handle and tries the next address). */
static int conn_connect_next(struct conn *c)
{
    c->tcp = raft_malloc(sizeof(*c->tcp));
    if (c->tcp == NULL) {
        return RAFT_NOMEM;
    }
    uv_tcp_init(c->loop, c->tcp);
    c->tcp->data = c;
    uv_tcp_nodelay(c->tcp, 1);
    c->connect.data = c;
    const struct sockaddr *sa =
        (const struct sockaddr *)&c->addrs[c->next_addr++];
    int rv = uv_tcp_connect(&c->connect, c->tcp, sa, conn_connect_cb);
    if (rv != 0) {
        conn_addr_failed(c, rv); /* async: closes the handle */
    }
    return 0;
}

/* Copies the IPv4/IPv6 addresses of a resolver's list, in its order and
 * without duplicates, into c->addrs; returns how many. */
static unsigned conn_take_addrs(struct conn *c, const struct addrinfo *res)
{
    c->n_addrs = 0;
    c->next_addr = 0;
    for (const struct addrinfo *ai = res;
         ai != NULL && c->n_addrs < TR_RAFT_CONNECT_ADDRS_MAX;
         ai = ai->ai_next) {
        size_t len;
        if (ai->ai_addr == NULL) {
            continue;
        }
        if (ai->ai_family == AF_INET && ai->ai_addr->sa_family == AF_INET) {
            len = sizeof(struct sockaddr_in);
        } else if (ai->ai_family == AF_INET6 &&
                   ai->ai_addr->sa_family == AF_INET6) {
            len = sizeof(struct sockaddr_in6);
        } else {
            continue;
        }
        if ((size_t)ai->ai_addrlen < len) {
            continue;
        }
        struct sockaddr_storage *ss = &c->addrs[c->n_addrs];
        memset(ss, 0, sizeof(*ss));
        memcpy(ss, ai->ai_addr, len);
        bool dup = false;
        for (unsigned i = 0; i < c->n_addrs && !dup; i++) {
            dup = memcmp(&c->addrs[i], ss, sizeof(*ss)) == 0;
        }
        if (!dup) {
            c->n_addrs++;
        }
    }
    return c->n_addrs;
}

static void conn_gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct conn *c = req->data;
    c->resolving = false;
    unsigned n = 0;
    if (status == 0 && !c->canceled) {
        n = conn_take_addrs(c, res);
    }
    if (res != NULL) {
        c->resolver->free(c->resolver, res);
    }
    if (n == 0) {
        if (!c->canceled) {
            tr_log_debug("raft connect: no address",
                         "group=%s host=%s err=\"%s\"", c->tp->name, c->host,
                         status != 0 ? uv_strerror(status) : "empty list");
        }
        conn_fail(c, RAFT_NOCONNECTION);
        return;
    }
    int rv = conn_connect_next(c);
    if (rv != 0) {
        conn_fail(c, rv);
    }
}

/* Implements t->connect. The callback never runs inside this function:
 * every step after it (resolve, connect, write, close) is a libuv
 * callback; synchronous failures are returned instead. */
static int tport_connect(struct raft_uv_transport *t,
                         struct raft_uv_connect *req,
                         raft_id id,
                         const char *address,
                         raft_uv_connect_cb cb)
{
    struct tport *tp = t->impl;
    (void)id;
    if (tp->closing || tp->m == NULL) {
        return RAFT_CANCELED;
    }
    struct conn *c = tr_calloc(1, sizeof(*c));
    if (c == NULL) {
        return RAFT_NOMEM;
    }
    if (split_addr(address, c->host, sizeof(c->host), c->port,
                   sizeof(c->port)) != 0 ||
        tr_raft_handshake_encode(tp->name, tp->id, tp->address, c->hs,
                                 sizeof(c->hs), &c->hs_len) != 0) {
        tr_free(c);
        snprintf(t->errmsg, sizeof(t->errmsg), "bad address %s", address);
        return RAFT_INVALID;
    }
    c->tp = tp;
    c->loop = tp->m->loop;
    c->req = req;
    c->cb = cb;
    c->status = RAFT_NOCONNECTION;
    c->next = tp->conns;
    if (tp->conns != NULL) {
        tp->conns->prev = c;
    }
    tp->conns = c;
    if (numeric_addr(c->host, c->port, &c->addrs[0]) == 0) {
        c->n_addrs = 1;
        if (conn_connect_next(c) != 0) {
            conn_unlink(c);
            tr_free(c);
            return RAFT_NOMEM;
        }
        return 0;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    c->resolver = tp->m->resolver;
    c->gai.data = c;
    c->resolving = true;
    int rv = c->resolver->resolve(c->resolver, c->loop, &c->gai, conn_gai_cb,
                                  c->host, c->port, &hints);
    if (rv != 0) {
        c->resolving = false;
        conn_unlink(c);
        tr_free(c);
        snprintf(t->errmsg, sizeof(t->errmsg), "resolve %s: %s", address,
                 uv_strerror(rv));
        return RAFT_NOCONNECTION;
    }
    return 0;
}

/* ---- transport: lifecycle ----------------------------------------------- */

static void tport_unregister(struct tport *tp)
{
    if (!tp->registered) {
        return;
    }
    struct tr_raft_mux *m = tp->m;
    if (tp->prev != NULL) {
        tp->prev->next = tp->next;
    } else {
        m->groups = tp->next;
    }
    if (tp->next != NULL) {
        tp->next->prev = tp->prev;
    }
    tp->prev = tp->next = NULL;
    tp->registered = false;
}

static int tport_init(struct raft_uv_transport *t,
                      raft_id id,
                      const char *address)
{
    struct tport *tp = t->impl;
    size_t n = strlen(address);
    if (id == 0 || n == 0 || n > TR_RAFT_ADDRESS_MAX) {
        snprintf(t->errmsg, sizeof(t->errmsg), "bad id or address");
        return RAFT_INVALID;
    }
    if (tp->m == NULL) {
        snprintf(t->errmsg, sizeof(t->errmsg), "mux closed");
        return RAFT_INVALID;
    }
    tp->id = id;
    memcpy(tp->address, address, n + 1);
    if (!tp->timer_open) {
        uv_timer_init(tp->m->loop, &tp->close_timer);
        tp->close_timer.data = tp;
        tp->timer_open = true;
    }
    return 0;
}

static int tport_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct tport *tp = t->impl;
    tp->accept_cb = cb;
    return 0;
}

static void tport_maybe_closed(struct tport *tp)
{
    if (!tp->closing || !tp->timer_closed || tp->conns != NULL) {
        return;
    }
    raft_uv_transport_close_cb cb = tp->close_cb;
    tp->close_cb = NULL;
    if (tp->orphan) {
        tr_free(tp);
        return;
    }
    if (cb != NULL) {
        cb(tp->t);
    }
}

static void tport_timer_close_cb(uv_handle_t *h)
{
    struct tport *tp = h->data;
    tp->timer_closed = true;
    tport_maybe_closed(tp);
}

static void tport_close(struct raft_uv_transport *t,
                        raft_uv_transport_close_cb cb)
{
    struct tport *tp = t->impl;
    if (tp->closing) {
        return;
    }
    tp->closing = true;
    tp->close_cb = cb;
    tp->accept_cb = NULL;
    tport_unregister(tp);
    for (struct conn *c = tp->conns; c != NULL; c = c->next) {
        c->canceled = true;
        if (c->resolving) {
            /* conn_gai_cb runs (early, with an error, if it could) */
            c->resolver->cancel(c->resolver, &c->gai);
        } else if (c->tcp != NULL && !c->tcp_closing) {
            c->tcp_closing = true;
            uv_close((uv_handle_t *)c->tcp, conn_tcp_close_cb);
        }
    }
    if (tp->timer_open) {
        uv_close((uv_handle_t *)&tp->close_timer, tport_timer_close_cb);
    } else {
        /* Never initialized by raft_uv: nothing can be pending. */
        tp->timer_closed = true;
        tport_maybe_closed(tp);
    }
}

int tr_raft_transport_init(struct raft_uv_transport *t,
                           struct tr_raft_mux *m,
                           const char *group)
{
    if (m == NULL || m->closing || !tr_raft_name_valid(group)) {
        return TR_EINVAL;
    }
    if (mux_find(m, group) != NULL) {
        return TR_EINVAL;
    }
    struct tport *tp = tr_calloc(1, sizeof(*tp));
    if (tp == NULL) {
        return TR_ENOMEM;
    }
    tp->t = t;
    tp->m = m;
    snprintf(tp->name, sizeof(tp->name), "%s", group);
    tp->registered = true;
    tp->next = m->groups;
    if (m->groups != NULL) {
        m->groups->prev = tp;
    }
    m->groups = tp;
    memset(t, 0, sizeof(*t));
    t->impl = tp;
    t->init = tport_init;
    t->listen = tport_listen;
    t->connect = tport_connect;
    t->close = tport_close;
    return 0;
}

void tr_raft_transport_close(struct raft_uv_transport *t)
{
    struct tport *tp = t->impl;
    if (tp == NULL) {
        return;
    }
    if (tp->closing && tp->timer_closed && tp->conns == NULL) {
        t->impl = NULL;
        tr_free(tp);
        return;
    }
    /* Not closed through t->close (or still closing): finish the close
     * without a callback and free tp at its end. */
    if (!tp->closing) {
        tport_close(t, NULL);
    }
    tp->close_cb = NULL;
    t->impl = NULL;
    if (tp->closing && tp->timer_closed && tp->conns == NULL) {
        tr_free(tp); /* tport_close finished synchronously */
        return;
    }
    tp->orphan = true;
}
