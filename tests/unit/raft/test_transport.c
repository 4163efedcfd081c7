/* test_transport.c - raft/transport.c: handshake codec, and the mux over
 * real TCP on loopback (accept, reject, connect, fallback over a host's
 * addresses, cancel). No test sends a packet outside 127.0.0.0/8 and ::1:
 * host names go through a fake resolver answering from a fixed list (or
 * through getaddrinfo for a numeric form), and a connect that must stay in
 * flight goes to a local listener whose accept queue is full. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "lib/err.h"
#include "raft/transport.h"

/* ---- codec -------------------------------------------------------------- */

Test(raft_handshake, round_trip_and_prefixes)
{
    unsigned char b[TR_RAFT_HANDSHAKE_MAX];
    size_t len = 0;
    struct tr_raft_handshake hs;
    cr_assert_eq(tr_raft_handshake_encode("m-17324-0", 0x0102030405060708ULL,
                                          "10.0.0.1:7946", b, sizeof(b), &len),
                 0);
    cr_assert_eq(len, 15 + 9 + 13);
    cr_assert_eq(memcmp(b, "TRFT\x01\x09", 6), 0);
    cr_assert_eq(tr_raft_handshake_parse(b, len, &hs), 0);
    cr_assert_str_eq(hs.group, "m-17324-0");
    cr_assert_eq(hs.id, 0x0102030405060708ULL);
    cr_assert_str_eq(hs.address, "10.0.0.1:7946");
    cr_assert_eq(hs.len, len);
    /* Every prefix asks for more, never for bytes past the handshake. */
    for (size_t n = 0; n < len; n++) {
        int rv = tr_raft_handshake_parse(b, n, &hs);
        cr_assert_gt(rv, 0, "prefix %zu", n);
        cr_assert_leq(n + (size_t)rv, len, "prefix %zu", n);
    }
    /* Reading exactly what is asked for reaches the end. */
    size_t have = 0;
    int steps = 0;
    for (;;) {
        int rv = tr_raft_handshake_parse(b, have, &hs);
        if (rv == 0) {
            break;
        }
        cr_assert_gt(rv, 0);
        have += (size_t)rv;
        steps++;
    }
    cr_assert_eq(have, len);
    cr_assert_eq(steps, 3);
    /* Trailing bytes are not part of it. */
    unsigned char more[TR_RAFT_HANDSHAKE_MAX + 4];
    memcpy(more, b, len);
    memcpy(more + len, "abcd", 4);
    cr_assert_eq(tr_raft_handshake_parse(more, len + 4, &hs), 0);
    cr_assert_eq(hs.len, len);
}

Test(raft_handshake, limits)
{
    unsigned char b[TR_RAFT_HANDSHAKE_MAX];
    size_t len = 0;
    struct tr_raft_handshake hs;
    char name[65];
    char addr[129];
    memset(name, 'a', 63);
    name[63] = '\0';
    memset(addr, '1', 127);
    addr[127] = '\0';
    cr_assert_eq(tr_raft_handshake_encode(name, 1, addr, b, sizeof(b), &len),
                 0);
    cr_assert_eq(len, TR_RAFT_HANDSHAKE_MAX);
    cr_assert_eq(tr_raft_handshake_parse(b, len, &hs), 0);
    cr_assert_eq(strlen(hs.group), 63);
    cr_assert_eq(strlen(hs.address), 127);
    name[63] = 'a';
    name[64] = '\0';
    cr_assert_eq(tr_raft_handshake_encode(name, 1, "a:1", b, sizeof(b), &len),
                 TR_EINVAL);
    addr[127] = '1';
    addr[128] = '\0';
    cr_assert_eq(tr_raft_handshake_encode("g", 1, addr, b, sizeof(b), &len),
                 TR_EINVAL);
    cr_assert_eq(tr_raft_handshake_encode("g", 0, "a:1", b, sizeof(b), &len),
                 TR_EINVAL);
    cr_assert_eq(tr_raft_handshake_encode("g/x", 1, "a:1", b, sizeof(b), &len),
                 TR_EINVAL);
    cr_assert_eq(tr_raft_handshake_encode("", 1, "a:1", b, sizeof(b), &len),
                 TR_EINVAL);
    cr_assert_eq(tr_raft_handshake_encode("g", 1, "a b:1", b, sizeof(b), &len),
                 TR_EINVAL);
    cr_assert_eq(tr_raft_handshake_encode("g", 1, "a:1", b, 5, &len),
                 TR_EINVAL);
    cr_assert(tr_raft_name_valid("meta"));
    cr_assert(tr_raft_name_valid("m-1732406400000-0"));
    cr_assert_not(tr_raft_name_valid(NULL));
    cr_assert_not(tr_raft_name_valid("a b"));
}

Test(raft_handshake, malformed)
{
    unsigned char good[64];
    size_t len = 0;
    struct tr_raft_handshake hs;
    cr_assert_eq(tr_raft_handshake_encode("g1", 7, "127.0.0.1:1", good,
                                          sizeof(good), &len),
                 0);
    unsigned char b[64];
    /* bad magic, detected from the first byte */
    cr_assert_eq(tr_raft_handshake_parse("X", 1, &hs), TR_EPROTO);
    cr_assert_eq(tr_raft_handshake_parse("GET / HTTP/1.1\r\n", 16, &hs),
                 TR_EPROTO);
    /* bad version */
    memcpy(b, good, len);
    b[4] = 2;
    cr_assert_eq(tr_raft_handshake_parse(b, 5, &hs), TR_EPROTO);
    /* group length 0 and 64 */
    memcpy(b, good, len);
    b[5] = 0;
    cr_assert_eq(tr_raft_handshake_parse(b, len, &hs), TR_EPROTO);
    b[5] = 64;
    cr_assert_eq(tr_raft_handshake_parse(b, len, &hs), TR_EPROTO);
    /* bad name character, detected before the rest arrives */
    memcpy(b, good, len);
    b[6] = '/';
    cr_assert_eq(tr_raft_handshake_parse(b, 7, &hs), TR_EPROTO);
    /* id 0 */
    memcpy(b, good, len);
    memset(b + 8, 0, 8);
    cr_assert_eq(tr_raft_handshake_parse(b, len, &hs), TR_EPROTO);
    /* address length 0 and 128 */
    memcpy(b, good, len);
    b[16] = 0;
    cr_assert_eq(tr_raft_handshake_parse(b, len, &hs), TR_EPROTO);
    b[16] = 128;
    cr_assert_eq(tr_raft_handshake_parse(b, len, &hs), TR_EPROTO);
    /* NUL or space inside the address */
    memcpy(b, good, len);
    b[18] = '\0';
    cr_assert_eq(tr_raft_handshake_parse(b, len, &hs), TR_EPROTO);
    b[18] = ' ';
    cr_assert_eq(tr_raft_handshake_parse(b, 19, &hs), TR_EPROTO);
}

/* ---- mux over TCP ------------------------------------------------------- */

static uv_loop_t loop;
static uv_timer_t tick;

static void tick_cb(uv_timer_t *t)
{
    (void)t;
}

static void loop_setup(void)
{
    signal(SIGPIPE, SIG_IGN); /* as triad does at start (DESIGN §2) */
    cr_assert_eq(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, tick_cb, 10, 10);
}

/* Runs the loop until *flag is true or ms elapse; returns *flag. */
static bool run_until(const bool *flag, unsigned ms)
{
    uint64_t end = uv_now(&loop) + ms;
    while (!*flag && uv_now(&loop) < end) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    return *flag;
}

static void loop_teardown(void)
{
    uv_close((uv_handle_t *)&tick, NULL);
    for (int i = 0; i < 100 && uv_loop_alive(&loop); i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left open on the loop");
}

static void mux_close_cb(void *arg)
{
    *(bool *)arg = true;
}

static void close_mux(struct tr_raft_mux *m)
{
    bool done = false;
    tr_raft_mux_close(m, mux_close_cb, &done);
    cr_assert(run_until(&done, 2000), "mux close callback");
}

static void run_for(unsigned ms)
{
    bool never = false;
    run_until(&never, ms);
}

/* A listener on 127.0.0.1 that never accepts, its accept queue filled by
 * connections of its own: the kernel drops further SYNs, so a connect to
 * it stays in flight (SYNs retransmitted on loopback) until closed. */
#define STUCK_FILL_MAX 16
struct stuck {
    int lfd;
    int port;
    int fill[STUCK_FILL_MAX]; /* our own connections, the last pending */
    int n_fill;
};

static void stuck_open(struct stuck *s)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    memset(s, 0, sizeof(*s));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(s->lfd, 0);
    cr_assert_eq(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(s->lfd, 0), 0);
    cr_assert_eq(getsockname(s->lfd, (struct sockaddr *)&sa, &len), 0);
    s->port = ntohs(sa.sin_port);
    /* Connect until one stays pending: the queue is full then. */
    for (;;) {
        cr_assert_lt(s->n_fill, STUCK_FILL_MAX, "accept queue never full");
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        cr_assert_geq(fd, 0);
        s->fill[s->n_fill++] = fd;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            cr_assert_eq(errno, EINPROGRESS);
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, 200) == 0) {
            return;
        }
    }
}

static void stuck_close(struct stuck *s)
{
    for (int i = 0; i < s->n_fill; i++) {
        close(s->fill[i]);
    }
    close(s->lfd);
}

/* A resolver answering every host with the numeric addresses in addrs
 * (with the port asked for) on a later loop iteration: UV_EAI_NONAME when
 * n is 0; with hold set, it answers only when canceled. One request at a
 * time. */
struct fake_resolver {
    struct tr_raft_resolver r;
    const char *addrs[4];
    unsigned n;
    bool hold;
    int sync_error; /* returned by resolve when non-zero */
    uv_timer_t timer;
    uv_getaddrinfo_t *req; /* pending */
    uv_getaddrinfo_cb cb;
    int port;
    bool canceled;
    char host[64]; /* last host asked for */
    unsigned resolves, cancels, frees;
};

struct fake_ai {
    struct addrinfo ai; /* first: a list links these */
    struct sockaddr_storage ss;
};

static void fake_answer(uv_timer_t *t)
{
    struct fake_resolver *f = t->data;
    struct addrinfo *head = NULL;
    struct addrinfo **tail = &head;
    int status = 0;
    if (f->canceled) {
        status = UV_EAI_CANCELED;
    } else if (f->n == 0) {
        status = UV_EAI_NONAME;
    }
    for (unsigned i = 0; status == 0 && i < f->n; i++) {
        struct fake_ai *x = calloc(1, sizeof(*x));
        cr_assert_not_null(x);
        if (uv_ip4_addr(f->addrs[i], f->port, (struct sockaddr_in *)&x->ss) ==
            0) {
            x->ai.ai_family = AF_INET;
            x->ai.ai_addrlen = sizeof(struct sockaddr_in);
        } else {
            cr_assert_eq(uv_ip6_addr(f->addrs[i], f->port,
                                     (struct sockaddr_in6 *)&x->ss),
                         0);
            x->ai.ai_family = AF_INET6;
            x->ai.ai_addrlen = sizeof(struct sockaddr_in6);
        }
        x->ai.ai_socktype = SOCK_STREAM;
        x->ai.ai_protocol = IPPROTO_TCP;
        x->ai.ai_addr = (struct sockaddr *)&x->ss;
        *tail = &x->ai;
        tail = &x->ai.ai_next;
    }
    uv_getaddrinfo_t *req = f->req;
    f->req = NULL;
    f->canceled = false;
    f->cb(req, status, head);
}

static int fake_resolve(struct tr_raft_resolver *r,
                        uv_loop_t *l,
                        uv_getaddrinfo_t *req,
                        uv_getaddrinfo_cb cb,
                        const char *host,
                        const char *port,
                        const struct addrinfo *hints)
{
    struct fake_resolver *f = r->data;
    (void)l;
    cr_assert_eq(hints->ai_family, AF_UNSPEC);
    cr_assert_eq(hints->ai_socktype, SOCK_STREAM);
    if (f->sync_error != 0) {
        return f->sync_error;
    }
    cr_assert_null(f->req, "one request at a time");
    f->resolves++;
    f->req = req;
    f->cb = cb;
    f->port = atoi(port);
    snprintf(f->host, sizeof(f->host), "%s", host);
    if (!f->hold) {
        uv_timer_start(&f->timer, fake_answer, 0, 0);
    }
    return 0;
}

static void fake_cancel(struct tr_raft_resolver *r, uv_getaddrinfo_t *req)
{
    struct fake_resolver *f = r->data;
    cr_assert_eq(req, f->req);
    f->cancels++;
    f->canceled = true;
    uv_timer_start(&f->timer, fake_answer, 0, 0);
}

static void fake_free(struct tr_raft_resolver *r, struct addrinfo *res)
{
    struct fake_resolver *f = r->data;
    f->frees++;
    while (res != NULL) {
        struct addrinfo *next = res->ai_next;
        free(res); /* the struct fake_ai it begins */
        res = next;
    }
}

static void fake_init(struct fake_resolver *f)
{
    memset(f, 0, sizeof(*f));
    f->r.version = TR_RAFT_RESOLVER_VERSION;
    f->r.data = f;
    f->r.resolve = fake_resolve;
    f->r.cancel = fake_cancel;
    f->r.free = fake_free;
    uv_timer_init(&loop, &f->timer);
    f->timer.data = f;
}

static void fake_close(struct fake_resolver *f)
{
    uv_close((uv_handle_t *)&f->timer, NULL);
}

/* A raw client writing fixed bytes then waiting for the server to close. */
struct raw {
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t write;
    char data[512];
    size_t len;
    char rbuf[64];
    bool eof;
    bool closed;
};

static void raw_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    struct raw *r = h->data;
    (void)s;
    *b = uv_buf_init(r->rbuf, sizeof(r->rbuf));
}

static void raw_closed(uv_handle_t *h)
{
    ((struct raw *)h->data)->closed = true;
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct raw *r = s->data;
    (void)b;
    if (n < 0) {
        r->eof = true;
        uv_close((uv_handle_t *)s, raw_closed);
    }
}

static void raw_written(uv_write_t *w, int status)
{
    (void)w;
    (void)status;
}

static void raw_connected(uv_connect_t *c, int status)
{
    struct raw *r = c->data;
    cr_assert_eq(status, 0);
    uv_buf_t b = uv_buf_init(r->data, (unsigned)r->len);
    uv_write(&r->write, (uv_stream_t *)&r->tcp, &b, 1, raw_written);
    uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
}

static void raw_start(struct raw *r, int port, const void *data, size_t len)
{
    struct sockaddr_in sa;
    memset(r, 0, sizeof(*r));
    memcpy(r->data, data, len);
    r->len = len;
    uv_ip4_addr("127.0.0.1", port, &sa);
    uv_tcp_init(&loop, &r->tcp);
    r->tcp.data = r;
    r->conn.data = r;
    cr_assert_eq(uv_tcp_connect(&r->conn, &r->tcp, (const struct sockaddr *)&sa,
                                raw_connected),
                 0);
}

static struct tr_raft_mux *new_mux(int *port)
{
    struct tr_raft_mux *m = NULL;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_raft_mux_new(&loop, "127.0.0.1:0", port, &m, err), 0, "%s",
                 err);
    cr_assert_gt(*port, 0);
    return m;
}

Test(raft_mux, rejects_garbage_and_unknown_group)
{
    loop_setup();
    int port = 0;
    struct tr_raft_mux *m = new_mux(&port);
    struct raft_uv_transport t;
    cr_assert_eq(tr_raft_transport_init(&t, m, "g1"), 0);
    /* Same name twice on one mux is refused. */
    struct raft_uv_transport t2;
    cr_assert_eq(tr_raft_transport_init(&t2, m, "g1"), TR_EINVAL);

    struct raw r1;
    raw_start(&r1, port, "GET / HTTP/1.1\r\n\r\n", 18);
    cr_assert(run_until(&r1.closed, 2000), "garbage not closed");
    struct tr_raft_mux_stats st;
    tr_raft_mux_stats(m, &st);
    cr_assert_eq(st.rejected, 1);

    unsigned char hs[TR_RAFT_HANDSHAKE_MAX];
    size_t len;
    cr_assert_eq(tr_raft_handshake_encode("nope", 9, "127.0.0.1:9", hs,
                                          sizeof(hs), &len),
                 0);
    struct raw r2;
    raw_start(&r2, port, hs, len);
    cr_assert(run_until(&r2.closed, 2000), "unknown group not closed");
    tr_raft_mux_stats(m, &st);
    cr_assert_eq(st.rejected, 2);
    cr_assert_eq(st.accepted, 0);

    /* Registered but not listening yet: rejected as well. */
    cr_assert_eq(
        tr_raft_handshake_encode("g1", 9, "127.0.0.1:9", hs, sizeof(hs), &len),
        0);
    struct raw r3;
    raw_start(&r3, port, hs, len);
    cr_assert(run_until(&r3.closed, 2000));
    tr_raft_mux_stats(m, &st);
    cr_assert_eq(st.rejected, 3);

    /* A peer that sends half a handshake and disconnects. */
    struct raw r4;
    raw_start(&r4, port, hs, 7);
    run_until(&r4.eof, 300); /* still open: the server waits for more */
    cr_assert_not(r4.eof);
    uv_close((uv_handle_t *)&r4.tcp, raw_closed);
    cr_assert(run_until(&r4.closed, 1000));
    for (int i = 0; i < 20; i++) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    tr_raft_mux_stats(m, &st);
    cr_assert_eq(st.rejected, 4);

    tr_raft_transport_close(&t);
    close_mux(m);
    loop_teardown();
}

/* Accept side: what the transport handed over. */
struct accepted {
    raft_id id;
    char address[128];
    uv_stream_t *stream;
    char got[16];
    size_t got_len;
    bool done;
};
static struct accepted acc;

static void acc_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    (void)h;
    (void)s;
    *b = uv_buf_init(acc.got + acc.got_len,
                     (unsigned)(sizeof(acc.got) - acc.got_len));
}

static void acc_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)s;
    (void)b;
    if (n > 0) {
        acc.got_len += (size_t)n;
    }
}

static void accept_cb(struct raft_uv_transport *t,
                      raft_id id,
                      const char *address,
                      uv_stream_t *stream)
{
    (void)t;
    acc.id = id;
    snprintf(acc.address, sizeof(acc.address), "%s", address);
    acc.stream = stream;
    acc.done = true;
    cr_assert_eq(uv_read_start(stream, acc_alloc, acc_read), 0);
}

static void free_stream(uv_handle_t *h)
{
    raft_free(h);
}

Test(raft_mux, accept_hands_over_stream_without_overreading)
{
    loop_setup();
    memset(&acc, 0, sizeof(acc));
    int port = 0;
    struct tr_raft_mux *m = new_mux(&port);
    struct raft_uv_transport t;
    cr_assert_eq(tr_raft_transport_init(&t, m, "g1"), 0);
    cr_assert_eq(t.init(&t, 1, "127.0.0.1:1"), 0);
    cr_assert_eq(t.listen(&t, accept_cb), 0);

    unsigned char msg[TR_RAFT_HANDSHAKE_MAX + 8];
    size_t len;
    cr_assert_eq(tr_raft_handshake_encode("g1", 42, "127.0.0.1:4242", msg,
                                          sizeof(msg), &len),
                 0);
    memcpy(msg + len, "RAFTDATA", 8); /* raft_uv's bytes, same write */
    struct raw r;
    raw_start(&r, port, msg, len + 8);
    cr_assert(run_until(&acc.done, 2000), "no accept");
    cr_assert_eq(acc.id, 42);
    cr_assert_str_eq(acc.address, "127.0.0.1:4242");
    bool eight = false;
    for (int i = 0; i < 200 && !eight; i++) {
        uv_run(&loop, UV_RUN_ONCE);
        eight = acc.got_len >= 8;
    }
    cr_assert_eq(acc.got_len, 8);
    cr_assert_eq(memcmp(acc.got, "RAFTDATA", 8), 0);
    struct tr_raft_mux_stats st;
    tr_raft_mux_stats(m, &st);
    cr_assert_eq(st.accepted, 1);
    cr_assert_eq(st.rejected, 0);

    uv_close((uv_handle_t *)acc.stream, free_stream);
    cr_assert(run_until(&r.closed, 2000));
    /* Closed without waiting: tr_raft_transport_close finishes it. */
    t.close(&t, NULL);
    tr_raft_transport_close(&t);
    close_mux(m);
    loop_teardown();
}

/* Connect side. */
struct conn_result {
    struct raft_uv_connect req;
    uv_stream_t *stream;
    int status;
    bool done;
};

static void connect_cb(struct raft_uv_connect *req,
                       uv_stream_t *stream,
                       int status)
{
    struct conn_result *c = req->data;
    c->stream = stream;
    c->status = status;
    c->done = true;
}

static bool transport_closed;
static void transport_close_cb(struct raft_uv_transport *t)
{
    (void)t;
    transport_closed = true;
}

static void start_connect(struct raft_uv_transport *t,
                          struct conn_result *c,
                          raft_id id,
                          const char *address)
{
    memset(c, 0, sizeof(*c));
    c->req.data = c;
    cr_assert_eq(t->connect(t, &c->req, id, address, connect_cb), 0);
    cr_assert_not(c->done, "callback must not run inside connect");
}

Test(raft_mux, connect_accept_fail_cancel)
{
    loop_setup();
    memset(&acc, 0, sizeof(acc));
    int pa = 0;
    int pb = 0;
    struct tr_raft_mux *a = new_mux(&pa);
    struct tr_raft_mux *b = new_mux(&pb);
    char addr_a[32];
    char addr_b[32];
    snprintf(addr_a, sizeof(addr_a), "127.0.0.1:%d", pa);
    snprintf(addr_b, sizeof(addr_b), "127.0.0.1:%d", pb);
    struct raft_uv_transport ta;
    struct raft_uv_transport tb;
    cr_assert_eq(tr_raft_transport_init(&ta, a, "g1"), 0);
    cr_assert_eq(tr_raft_transport_init(&tb, b, "g1"), 0);
    cr_assert_eq(ta.init(&ta, 1, addr_a), 0);
    cr_assert_eq(tb.init(&tb, 2, addr_b), 0);
    cr_assert_eq(ta.listen(&ta, accept_cb), 0);

    /* b -> a, numeric address */
    struct conn_result c1;
    start_connect(&tb, &c1, 1, addr_a);
    cr_assert(run_until(&c1.done, 2000));
    cr_assert_eq(c1.status, 0);
    cr_assert_not_null(c1.stream);
    cr_assert(run_until(&acc.done, 2000));
    cr_assert_eq(acc.id, 2);
    cr_assert_str_eq(acc.address, addr_b);
    uv_close((uv_handle_t *)c1.stream, free_stream);
    uv_close((uv_handle_t *)acc.stream, free_stream);

    /* b -> a through the default resolver (uv_getaddrinfo): "127.1" is
     * not a numeric address to uv_ip4_addr but getaddrinfo reads it as
     * 127.0.0.1 without consulting /etc/hosts or DNS. */
    memset(&acc, 0, sizeof(acc));
    char host_a[32];
    snprintf(host_a, sizeof(host_a), "127.1:%d", pa);
    struct conn_result c2;
    start_connect(&tb, &c2, 1, host_a);
    cr_assert(run_until(&c2.done, 5000));
    cr_assert_eq(c2.status, 0);
    cr_assert(run_until(&acc.done, 2000));
    cr_assert_eq(acc.id, 2);
    uv_close((uv_handle_t *)c2.stream, free_stream);
    uv_close((uv_handle_t *)acc.stream, free_stream);

    /* a -> b: b is not listening for g1 (no t.listen) -> rejected, but the
     * connect itself succeeds (the handshake is written). */
    struct conn_result c3;
    start_connect(&ta, &c3, 2, addr_b);
    cr_assert(run_until(&c3.done, 2000));
    cr_assert_eq(c3.status, 0);
    uv_close((uv_handle_t *)c3.stream, free_stream);

    /* connect to a closed port fails */
    uv_tcp_t probe;
    struct sockaddr_in sa;
    int len = (int)sizeof(sa);
    uv_tcp_init(&loop, &probe);
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_bind(&probe, (const struct sockaddr *)&sa, 0);
    uv_tcp_getsockname(&probe, (struct sockaddr *)&sa, &len);
    char dead[32];
    snprintf(dead, sizeof(dead), "127.0.0.1:%d", ntohs(sa.sin_port));
    uv_close((uv_handle_t *)&probe, NULL);
    struct conn_result c4;
    start_connect(&tb, &c4, 1, dead);
    cr_assert(run_until(&c4.done, 2000));
    cr_assert_eq(c4.status, RAFT_NOCONNECTION);
    cr_assert_null(c4.stream);

    /* bad addresses are refused synchronously */
    struct conn_result c5;
    memset(&c5, 0, sizeof(c5));
    c5.req.data = &c5;
    cr_assert_eq(tb.connect(&tb, &c5.req, 1, "no-port", connect_cb),
                 RAFT_INVALID);

    struct tr_raft_mux_stats st;
    tr_raft_mux_stats(b, &st);
    cr_assert_eq(st.connected, 2);
    cr_assert_eq(st.connect_failed, 1);

    /* close with a TCP connect in flight (to a listener that never
     * answers): canceled, then the close cb */
    struct stuck sl;
    stuck_open(&sl);
    char stuck_addr[32];
    snprintf(stuck_addr, sizeof(stuck_addr), "127.0.0.1:%d", sl.port);
    struct conn_result c6;
    start_connect(&tb, &c6, 1, stuck_addr);
    run_for(200);
    cr_assert_not(c6.done, "connect to a full accept queue completed");
    transport_closed = false;
    tb.close(&tb, transport_close_cb);
    cr_assert_not(transport_closed, "close cb must be asynchronous");
    cr_assert(run_until(&transport_closed, 2000));
    cr_assert(c6.done);
    cr_assert_eq(c6.status, RAFT_CANCELED);
    cr_assert_null(c6.stream);
    stuck_close(&sl);
    tr_raft_mux_stats(b, &st);
    cr_assert_eq(st.connect_failed, 1, "a canceled connect is no failure");
    /* After close, connect refuses. */
    struct conn_result c7;
    memset(&c7, 0, sizeof(c7));
    cr_assert_neq(tb.connect(&tb, &c7.req, 1, addr_a, connect_cb), 0);
    tr_raft_transport_close(&tb);

    transport_closed = false;
    ta.close(&ta, transport_close_cb);
    cr_assert(run_until(&transport_closed, 2000));
    tr_raft_transport_close(&ta);
    close_mux(a);
    close_mux(b);
    loop_teardown();
}

Test(raft_mux, connect_tries_every_address)
{
    loop_setup();
    memset(&acc, 0, sizeof(acc));
    int pa = 0;
    int pb = 0;
    struct tr_raft_mux *a = new_mux(&pa);
    struct tr_raft_mux *b = new_mux(&pb);
    char addr_a[32];
    char addr_b[32];
    snprintf(addr_a, sizeof(addr_a), "127.0.0.1:%d", pa);
    snprintf(addr_b, sizeof(addr_b), "127.0.0.1:%d", pb);
    struct raft_uv_transport ta;
    struct raft_uv_transport tb;
    cr_assert_eq(tr_raft_transport_init(&ta, a, "g1"), 0);
    cr_assert_eq(tr_raft_transport_init(&tb, b, "g1"), 0);
    cr_assert_eq(ta.init(&ta, 1, addr_a), 0);
    cr_assert_eq(tb.init(&tb, 2, addr_b), 0);
    cr_assert_eq(ta.listen(&ta, accept_cb), 0);
    struct fake_resolver f;
    fake_init(&f);
    cr_assert_eq(tr_raft_mux_set_resolver(b, &f.r), 0);

    /* As "localhost" on Debian 12 (::1, then 127.0.0.1) with the peer
     * listening on 127.0.0.1 only: ::1 refuses (or fails at once where
     * IPv6 is off), so does 127.0.0.2 (nothing listens there), and the
     * last address accepts. */
    f.addrs[0] = "::1";
    f.addrs[1] = "127.0.0.2";
    f.addrs[2] = "127.0.0.1";
    f.n = 3;
    char name[64];
    snprintf(name, sizeof(name), "peer-a:%d", pa);
    struct conn_result c1;
    start_connect(&tb, &c1, 1, name);
    cr_assert(run_until(&c1.done, 5000));
    cr_assert_eq(c1.status, 0);
    cr_assert_not_null(c1.stream);
    cr_assert(run_until(&acc.done, 2000));
    cr_assert_eq(acc.id, 2);
    cr_assert_str_eq(acc.address, addr_b);
    cr_assert_str_eq(f.host, "peer-a");
    cr_assert_eq(f.resolves, 1);
    cr_assert_eq(f.frees, 1);
    struct tr_raft_mux_stats st;
    tr_raft_mux_stats(b, &st);
    cr_assert_eq(st.connected, 1);
    cr_assert_eq(st.connect_failed, 0);
    uv_close((uv_handle_t *)c1.stream, free_stream);
    uv_close((uv_handle_t *)acc.stream, free_stream);

    /* Every address refuses: one failure, reported after the last. */
    memset(&acc, 0, sizeof(acc));
    f.addrs[0] = "127.0.0.2";
    f.addrs[1] = "127.0.0.3";
    f.n = 2;
    struct conn_result c2;
    start_connect(&tb, &c2, 1, name);
    cr_assert(run_until(&c2.done, 5000));
    cr_assert_eq(c2.status, RAFT_NOCONNECTION);
    cr_assert_null(c2.stream);
    cr_assert_eq(f.frees, 2);
    tr_raft_mux_stats(b, &st);
    cr_assert_eq(st.connect_failed, 1);
    cr_assert_not(acc.done);

    /* The name has no address. */
    f.n = 0;
    struct conn_result c3;
    start_connect(&tb, &c3, 1, name);
    cr_assert(run_until(&c3.done, 5000));
    cr_assert_eq(c3.status, RAFT_NOCONNECTION);
    cr_assert_eq(f.frees, 2, "no list, nothing to free");
    tr_raft_mux_stats(b, &st);
    cr_assert_eq(st.connect_failed, 2);

    /* The resolver refuses at once: a synchronous error, no callback. */
    f.sync_error = UV_ENOMEM;
    struct conn_result c4;
    memset(&c4, 0, sizeof(c4));
    c4.req.data = &c4;
    cr_assert_eq(tb.connect(&tb, &c4.req, 1, name, connect_cb),
                 RAFT_NOCONNECTION);
    run_for(50);
    cr_assert_not(c4.done);
    f.sync_error = 0;

    /* Closing cancels a connect on its second address (the first refused,
     * the second never answers) and one still resolving. */
    struct stuck sl;
    stuck_open(&sl);
    char stuck_name[64];
    snprintf(stuck_name, sizeof(stuck_name), "peer-stuck:%d", sl.port);
    f.addrs[0] = "127.0.0.2";
    f.addrs[1] = "127.0.0.1";
    f.n = 2;
    struct conn_result c5;
    start_connect(&tb, &c5, 1, stuck_name);
    run_for(300);
    cr_assert_not(c5.done, "connect to a full accept queue completed");
    f.hold = true;
    struct conn_result c6;
    start_connect(&tb, &c6, 1, name);
    run_for(50);
    cr_assert_not(c6.done);
    transport_closed = false;
    tb.close(&tb, transport_close_cb);
    cr_assert(run_until(&transport_closed, 2000));
    cr_assert(c5.done);
    cr_assert_eq(c5.status, RAFT_CANCELED);
    cr_assert(c6.done);
    cr_assert_eq(c6.status, RAFT_CANCELED);
    cr_assert_eq(f.cancels, 1);
    cr_assert_eq(f.resolves, f.frees + 2, "failed and canceled: no list");
    tr_raft_mux_stats(b, &st);
    cr_assert_eq(st.connect_failed, 2);
    tr_raft_transport_close(&tb);
    stuck_close(&sl);
    fake_close(&f);

    transport_closed = false;
    ta.close(&ta, transport_close_cb);
    cr_assert(run_until(&transport_closed, 2000));
    tr_raft_transport_close(&ta);
    close_mux(a);
    close_mux(b);
    loop_teardown();
}

Test(raft_mux, resolver_checked)
{
    loop_setup();
    int port = 0;
    struct tr_raft_mux *m = new_mux(&port);
    struct fake_resolver f;
    fake_init(&f);
    f.r.version = TR_RAFT_RESOLVER_VERSION + 1;
    cr_assert_eq(tr_raft_mux_set_resolver(m, &f.r), TR_EINVAL);
    f.r.version = TR_RAFT_RESOLVER_VERSION;
    f.r.cancel = NULL;
    cr_assert_eq(tr_raft_mux_set_resolver(m, &f.r), TR_EINVAL);
    f.r.cancel = fake_cancel;
    cr_assert_eq(tr_raft_mux_set_resolver(m, &f.r), 0);
    cr_assert_eq(tr_raft_mux_set_resolver(m, NULL), 0);
    fake_close(&f);
    close_mux(m);
    loop_teardown();
}

Test(raft_mux, bad_bind_address)
{
    uv_loop_t l;
    uv_loop_init(&l);
    struct tr_raft_mux *m = NULL;
    char err[TR_ERRMSG_SIZE];
    cr_assert_eq(tr_raft_mux_new(&l, "nohost", NULL, &m, err), TR_EINVAL);
    cr_assert_eq(tr_raft_mux_new(&l, "example.com:1", NULL, &m, err),
                 TR_EINVAL);
    cr_assert_eq(uv_loop_close(&l), 0);
}
