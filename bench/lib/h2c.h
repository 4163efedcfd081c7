/* h2c.h - shared by the benchmarks: a small single-threaded HTTP/2
 * client over cleartext TCP with prior knowledge (h2c, what gRPC clients
 * speak to a plain-text port), on nghttp2. One connection, several
 * concurrent streams: submit requests, then pump the connection until
 * responses complete; each completed stream is handed to the done
 * callback with its :status, grpc-status / grpc-message (from the
 * headers or the trailers) and its body.
 *
 * Not thread-safe: one thread drives a connection. */
#ifndef TR_BENCH_H2C_H
#define TR_BENCH_H2C_H

#include <stddef.h>
#include <stdint.h>

struct h2c;

struct h2c_result {
    int http_status; /* :status, 0 if none arrived */
    int grpc_status; /* grpc-status, -1 if absent */
    char grpc_message[256];
    const uint8_t *body; /* the response body (valid during the callback) */
    size_t body_len;
    uint32_t error_code; /* nghttp2 stream close code (0: NO_ERROR) */
    void *ud;            /* the submit's user pointer */
};

typedef void (*h2c_done_fn)(const struct h2c_result *r, void *ctx);

/* Connects to host:port (numeric IPv4), sends the preface and SETTINGS.
 * NULL with a message in err on failure. */
struct h2c *h2c_connect(const char *host,
                        int port,
                        h2c_done_fn done,
                        void *ctx,
                        char *err,
                        size_t errn);
/* Submits a POST of body (borrowed until the stream completes) to path with
 * extra headers (pairs name, value; lower-case names). 0 or -1. */
int h2c_post(struct h2c *c,
             const char *path,
             const char *const *hdrs,
             size_t n_hdrs,
             const uint8_t *body,
             size_t len,
             void *ud);
/* Streams submitted and not completed yet. */
int h2c_inflight(const struct h2c *c);
/* Sends what can be sent, waits up to timeout_ms for input and processes
 * it (done callbacks run here). 0, or -1 when the connection failed or
 * the server closed it (a message in err). */
int h2c_pump(struct h2c *c, int timeout_ms, char *err, size_t errn);
void h2c_close(struct h2c *c);

#endif
