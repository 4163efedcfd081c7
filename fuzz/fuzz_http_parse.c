/* fuzz_http_parse.c - libFuzzer driver for the HTTP/1.x request parser
 * (server/http_parse.c) and the form decoder (server/http_form.c).
 *
 * The first input byte picks how the rest is fed (in one piece or in
 * pieces of 1..16 bytes), so incremental resumption is exercised; the
 * driver consumes bytes exactly as the server does and checks the
 * parser's invariants (consumed <= given, results in range, body within
 * the limit, path NUL-terminated).
 *
 *   clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. \
 *     fuzz/fuzz_http_parse.c server/http_parse.c server/http_form.c \
 *     lib/alloc.c lib/buf.c lib/err.c -o build/fuzz_http_parse */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http.h"
#include "server/http_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)     \
    do {             \
        if (!(x)) {  \
            abort(); \
        }            \
    } while (0)

static void form_check(struct tr_http_parser *p, struct tr_arena *a)
{
    struct tr_http_request req;
    memset(&req, 0, sizeof(req));
    req.method = p->method;
    req.headers = p->headers;
    req.n_headers = p->n_headers;
    req.raw_query = (struct tr_slice){p->raw_query, p->raw_query_len};
    req.body = p->body.data ? p->body.data : "";
    req.body_len = p->body.len;
    req.arena = a;
    struct tr_slice v[4];
    size_t total = 0;
    size_t n = tr_http_form_values(&req, "a", v, 4, &total);
    CHECK(n <= 4 && n <= total);
    for (size_t i = 0; i < n; i++) {
        CHECK(v[i].base[v[i].len] == '\0');
    }
    (void)tr_http_form_get(&req, "query");
    (void)tr_http_header_get(&req, "content-type");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t step = data[0] & 0x0f; /* 0 = all at once */
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    if (step == 0) {
        step = len ? len : 1;
    }
    const size_t max_body = 4096;
    struct tr_arena arena;
    tr_arena_init(&arena, 1024);
    struct tr_http_parser p;
    tr_http_parser_init(&p, 2048, max_body, &arena);
    char *buf = malloc(len + 1);
    size_t have = 0, fed = 0;
    int requests = 0;
    bool stop = false;
    while (!stop && fed < len) {
        size_t take = len - fed < step ? len - fed : step;
        memcpy(buf + have, in + fed, take);
        have += take;
        fed += take;
        for (;;) {
            size_t used = 0;
            int rv = tr_http_parse(&p, buf, have, &used);
            CHECK(used <= have);
            memmove(buf, buf + used, have - used);
            have -= used;
            CHECK(rv >= TR_HP_NEED_MORE && rv <= TR_HP_ERROR);
            if (rv == TR_HP_NEED_MORE) {
                break;
            }
            if (rv == TR_HP_ERROR) {
                CHECK(p.err_status >= 400 && p.err_status < 600);
                CHECK(p.errmsg[0] != '\0');
                stop = true;
                break;
            }
            if (rv == TR_HP_HEAD) {
                CHECK(p.path != NULL && p.path[p.path_len] == '\0');
                CHECK(p.raw_query != NULL);
                CHECK(p.n_headers <= TR_HTTP_MAX_HEADERS);
                CHECK(!(p.chunked && p.has_content_length));
                continue;
            }
            CHECK(p.body.len <= max_body);
            if (p.has_content_length) {
                CHECK(p.body.len == p.content_length);
            }
            form_check(&p, &arena);
            requests++;
            tr_arena_reset(&arena);
            tr_http_parser_reset(&p, &arena);
        }
    }
    free(buf);
    tr_http_parser_free(&p);
    tr_arena_free(&arena);
    (void)requests;
    return 0;
}
