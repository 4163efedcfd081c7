/* test_http_parse.c - the incremental request parser (server/http_parse.c)
 * and the form helpers (server/http_form.c). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "server/http.h"
#include "server/http_int.h"

#define MAXREQ 8

struct parsed {
    int n;          /* complete requests */
    int err_status; /* of the first error, 0 if none */
    char errmsg[256];
    int heads; /* HEAD reports */
    char method[MAXREQ][16];
    char path[MAXREQ][128];
    char query[MAXREQ][128];
    char body[MAXREQ][256];
    size_t body_len[MAXREQ];
    bool keep_alive[MAXREQ];
    bool expect[MAXREQ];
    size_t n_headers[MAXREQ];
};

/* Acts as the server would: feeds in step-byte pieces (0 = all at once),
 * consumes what the parser used, resets after each complete request. */
static void run(const char *in,
                size_t len,
                size_t step,
                size_t max_header,
                size_t max_body,
                struct parsed *out)
{
    memset(out, 0, sizeof(*out));
    struct tr_arena arena;
    tr_arena_init(&arena, 1024);
    struct tr_http_parser p;
    tr_http_parser_init(&p, max_header, max_body, &arena);
    char *buf = malloc(len + 1);
    size_t have = 0, fed = 0;
    if (step == 0) {
        step = len;
    }
    while (fed < len || have > 0) {
        size_t take = len - fed < step ? len - fed : step;
        memcpy(buf + have, in + fed, take);
        have += take;
        fed += take;
        for (;;) {
            size_t used = 0;
            int rv = tr_http_parse(&p, buf, have, &used);
            cr_assert_leq(used, have);
            memmove(buf, buf + used, have - used);
            have -= used;
            if (rv == TR_HP_NEED_MORE) {
                break;
            }
            if (rv == TR_HP_HEAD) {
                out->heads++;
                continue;
            }
            if (rv == TR_HP_ERROR) {
                out->err_status = p.err_status;
                strcpy(out->errmsg, p.errmsg);
                goto done;
            }
            int i = out->n++;
            cr_assert_lt(i, MAXREQ);
            snprintf(out->method[i], 16, "%s", p.method_str);
            snprintf(out->path[i], 128, "%.*s", (int)p.path_len, p.path);
            snprintf(out->query[i], 128, "%.*s", (int)p.raw_query_len,
                     p.raw_query);
            memcpy(out->body[i], p.body.data ? p.body.data : "",
                   p.body.len < 255 ? p.body.len : 255);
            out->body_len[i] = p.body.len;
            out->keep_alive[i] = p.keep_alive;
            out->expect[i] = p.expect_continue;
            out->n_headers[i] = p.n_headers;
            tr_arena_reset(&arena);
            tr_http_parser_reset(&p, &arena);
        }
        if (fed == len) {
            break;
        }
    }
done:
    free(buf);
    tr_http_parser_free(&p);
    tr_arena_free(&arena);
}

static void run_str(const char *in, size_t step, struct parsed *out)
{
    run(in, strlen(in), step, 8192, 1 << 20, out);
}

Test(http_parse, simple_get_all_steps)
{
    const char *req =
        "GET /api/v1/query?query=up%7B%7D&time=1 HTTP/1.1\r\n"
        "Host: x\r\nUser-Agent:  curl/8  \r\n\r\n";
    for (size_t step = 0; step < 8; step++) {
        struct parsed r;
        run_str(req, step, &r);
        cr_assert_eq(r.err_status, 0, "step %zu: %s", step, r.errmsg);
        cr_assert_eq(r.n, 1);
        cr_assert_str_eq(r.method[0], "GET");
        cr_assert_str_eq(r.path[0], "/api/v1/query");
        cr_assert_str_eq(r.query[0], "query=up%7B%7D&time=1");
        cr_assert(r.keep_alive[0]);
        cr_assert_eq(r.n_headers[0], 2);
    }
}

Test(http_parse, header_values_trimmed_and_found)
{
    struct tr_arena a;
    tr_arena_init(&a, 1024);
    struct tr_http_parser p;
    tr_http_parser_init(&p, 8192, 1000, &a);
    const char *in =
        "POST /x HTTP/1.1\r\nHost: h\r\nX-Scope-OrgID: \t"
        "tenant-1 \r\nContent-Length: 3\r\n\r\nabc";
    size_t used;
    cr_assert_eq(tr_http_parse(&p, in, strlen(in), &used), TR_HP_HEAD);
    struct tr_http_request req = {0};
    req.headers = p.headers;
    req.n_headers = p.n_headers;
    const struct tr_slice *v = tr_http_header_get(&req, "x-scope-orgid");
    cr_assert_not_null(v);
    cr_assert(tr_slice_eq_cstr(*v, "tenant-1"));
    cr_assert_null(tr_http_header_get(&req, "nope"));
    size_t used2;
    cr_assert_eq(tr_http_parse(&p, in + used, strlen(in) - used, &used2),
                 TR_HP_DONE);
    cr_assert_eq(used2, 3);
    cr_assert_str_eq(p.body.data, "abc");
    tr_http_parser_free(&p);
    tr_arena_free(&a);
}

Test(http_parse, percent_decoded_path)
{
    struct parsed r;
    run_str(
        "GET /api/v1/label/job%2Fx/values?a=%20 HTTP/1.1\r\nHost: h\r\n\r\n", 0,
        &r);
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.path[0], "/api/v1/label/job/x/values");
    cr_assert_str_eq(r.query[0], "a=%20");
    run_str("GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n", 0, &r);
    cr_assert_eq(r.err_status, 400);
    cr_assert(strstr(r.errmsg, "escape") != NULL);
    run_str("GET http://example.com/p/q?z=1 HTTP/1.1\r\nHost: h\r\n\r\n", 0,
            &r);
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.path[0], "/p/q");
    cr_assert_str_eq(r.query[0], "z=1");
}

Test(http_parse, content_length_body_byte_by_byte)
{
    const char *req =
        "POST /push HTTP/1.1\r\nHost: h\r\nContent-Length: 11"
        "\r\n\r\nhello world";
    struct parsed r;
    run_str(req, 1, &r);
    cr_assert_eq(r.n, 1, "%s", r.errmsg);
    cr_assert_eq(r.heads, 1);
    cr_assert_eq(r.body_len[0], 11);
    cr_assert_str_eq(r.body[0], "hello world");
}

Test(http_parse, chunked_with_extensions_and_trailers)
{
    const char *req =
        "POST /v1/traces HTTP/1.1\r\nHost: h\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
        "5;name=value;x=\"q\"\r\nhello\r\n"
        "1 ; ext\r\n \r\n"
        "A\r\n0123456789\r\n"
        "0\r\nX-Trailer: yes\r\nOther: 1\r\n\r\n";
    for (size_t step = 0; step < 4; step++) {
        struct parsed r;
        run_str(req, step, &r);
        cr_assert_eq(r.err_status, 0, "%s", r.errmsg);
        cr_assert_eq(r.n, 1);
        cr_assert_eq(r.body_len[0], 16);
        cr_assert_str_eq(r.body[0], "hello 0123456789");
    }
    /* bare LF line endings and upper-case hex */
    struct parsed r;
    run_str(
        "POST / HTTP/1.1\nHost: h\nTransfer-Encoding: Chunked\n\n"
        "B\nhello world\n0\n\n",
        1, &r);
    cr_assert_eq(r.n, 1, "%s", r.errmsg);
    cr_assert_str_eq(r.body[0], "hello world");
}

Test(http_parse, pipelined_requests)
{
    const char *req =
        "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
        "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
        "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
        "chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
        "\r\nGET /d?x HTTP/1.0\r\n\r\n";
    for (size_t step = 0; step < 3; step++) {
        struct parsed r;
        run_str(req, step == 2 ? 7 : step, &r);
        cr_assert_eq(r.err_status, 0, "%s", r.errmsg);
        cr_assert_eq(r.n, 4);
        cr_assert_str_eq(r.path[0], "/a");
        cr_assert_str_eq(r.path[1], "/b");
        cr_assert_str_eq(r.body[1], "hi");
        cr_assert_str_eq(r.path[2], "/c");
        cr_assert_str_eq(r.body[2], "ok");
        cr_assert_str_eq(r.path[3], "/d");
        cr_assert_str_eq(r.query[3], "x");
        cr_assert(!r.keep_alive[3]);
    }
}

Test(http_parse, keep_alive_rules)
{
    struct parsed r;
    run_str("GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n", 0, &r);
    cr_assert(!r.keep_alive[0]);
    run_str("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0, &r);
    cr_assert(r.keep_alive[0]);
    run_str("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n", 0,
            &r);
    cr_assert(!r.keep_alive[0]);
    run_str(
        "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
        "Content-Length: 1\r\n\r\nx",
        0, &r);
    cr_assert(r.expect[0]);
}

struct bad_case {
    const char *in;
    int status;
};

Test(http_parse, bad_inputs)
{
    static const struct bad_case cases[] = {
        {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
         "Transfer-Encoding: chunked\r\n\r\n",
         400},
        {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
         "Content-Length: 2\r\n\r\n",
         400},
        {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: "
         "99999999999999999999999\r\n\r\n",
         400},
        {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
        {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
         "Transfer-Encoding: chunked\r\n\r\n",
         501},
        {"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
        {"GET / HTTX/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /\r\nHost: h\r\n\r\n", 400},
        {"G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {" / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET  HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET nopath HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nName : x\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nA: b\r\n folded\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nA: b\x01\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
         "zz\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
         "3\r\nabcX\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
         "ffffffffffffffffff\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
         "3\rx",
         400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
         ";ext\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n", 413},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
         "200000\r\n",
         413},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t step = 0; step < 2; step++) {
            struct parsed r;
            run_str(cases[i].in, step, &r);
            cr_assert_eq(r.err_status, cases[i].status,
                         "case %zu step %zu: got %d (%s)", i, step,
                         r.err_status, r.errmsg);
            cr_assert_neq(r.errmsg[0], '\0');
        }
    }
}

Test(http_parse, chunked_total_over_limit)
{
    char big[4096];
    int n = snprintf(big, sizeof(big),
                     "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
                     "chunked\r\n\r\n");
    for (int i = 0; i < 40; i++) {
        n += snprintf(big + n, sizeof(big) - (size_t)n, "a\r\n0123456789\r\n");
    }
    n += snprintf(big + n, sizeof(big) - (size_t)n, "0\r\n\r\n");
    struct parsed r;
    run(big, (size_t)n, 0, 8192, 400, &r);
    cr_assert_eq(r.n, 1);
    run(big, (size_t)n, 3, 8192, 399, &r);
    cr_assert_eq(r.err_status, 413);
}

Test(http_parse, header_limits)
{
    /* 101 headers -> 431 */
    char buf[8192];
    int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i < 100; i++) {
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, "X-%d: v\r\n", i);
    }
    n += snprintf(buf + n, sizeof(buf) - (size_t)n, "\r\n");
    struct parsed r;
    run(buf, (size_t)n, 0, 65536, 100, &r);
    cr_assert_eq(r.err_status, 431);
    cr_assert(strstr(r.errmsg, "too many") != NULL);
    /* exactly 100 is fine */
    n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i < 99; i++) {
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, "X-%d: v\r\n", i);
    }
    n += snprintf(buf + n, sizeof(buf) - (size_t)n, "\r\n");
    run(buf, (size_t)n, 0, 65536, 100, &r);
    cr_assert_eq(r.n, 1, "%s", r.errmsg);
    /* size limit: complete but too big, and incomplete but too big */
    run(buf, (size_t)n, 0, 100, 100, &r);
    cr_assert_eq(r.err_status, 431);
    run(buf, (size_t)n - 4, 1, 100, 100, &r);
    cr_assert_eq(r.err_status, 431);
}

Test(http_parse, incomplete_needs_more)
{
    struct parsed r;
    run_str("GET / HTTP/1.1\r\nHost: h\r\n", 1, &r);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(r.err_status, 0);
    run_str("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab", 0, &r);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(r.heads, 1);
}

/* ---- form values ------------------------------------------------------- */

static void form_req(struct tr_http_request *req,
                     struct tr_arena *a,
                     enum tr_http_method m,
                     const char *ct,
                     const char *body,
                     const char *query)
{
    static struct tr_http_header h[1];
    memset(req, 0, sizeof(*req));
    req->method = m;
    req->arena = a;
    if (ct != NULL) {
        h[0].name = TR_SLICE_LIT("Content-Type");
        h[0].value = tr_slice_cstr(ct);
        req->headers = h;
        req->n_headers = 1;
    }
    req->body = body;
    req->body_len = body ? strlen(body) : 0;
    req->raw_query = tr_slice_cstr(query);
}

Test(http_form, body_then_query)
{
    struct tr_arena a;
    tr_arena_init(&a, 1024);
    struct tr_http_request req;
    form_req(&req, &a, TR_HTTP_POST,
             "application/x-www-form-urlencoded; charset=utf-8",
             "match%5B%5D=up&match[]=a+b&query=rate(x%5B5m%5D)",
             "match[]=q1&time=5&bad=%zz%4");
    struct tr_slice v[8];
    size_t total;
    cr_assert_eq(tr_http_form_values(&req, "match[]", v, 8, &total), 3);
    cr_assert_eq(total, 3);
    cr_assert(tr_slice_eq_cstr(v[0], "up"));
    cr_assert(tr_slice_eq_cstr(v[1], "a b"));
    cr_assert(tr_slice_eq_cstr(v[2], "q1"));
    cr_assert_eq(tr_http_form_values(&req, "match[]", v, 1, &total), 1);
    cr_assert_eq(total, 3);
    cr_assert_str_eq(tr_http_form_get(&req, "query"), "rate(x[5m])");
    cr_assert_str_eq(tr_http_form_get(&req, "time"), "5");
    cr_assert_str_eq(tr_http_form_get(&req, "bad"), "%zz%4");
    cr_assert_null(tr_http_form_get(&req, "nope"));
    tr_arena_free(&a);
}

Test(http_form, get_ignores_body_and_edge_cases)
{
    struct tr_arena a;
    tr_arena_init(&a, 1024);
    struct tr_http_request req;
    form_req(&req, &a, TR_HTTP_GET, "application/x-www-form-urlencoded",
             "query=body", "query=q&&empty=&flag&x;y=1&=v");
    cr_assert_str_eq(tr_http_form_get(&req, "query"), "q");
    cr_assert_str_eq(tr_http_form_get(&req, "empty"), "");
    cr_assert_str_eq(tr_http_form_get(&req, "flag"), "");
    cr_assert_null(tr_http_form_get(&req, "y"));
    cr_assert_str_eq(tr_http_form_get(&req, ""), "v");
    /* POST with JSON content type: body not parsed */
    form_req(&req, &a, TR_HTTP_POST, "application/json", "query=body", "");
    cr_assert_null(tr_http_form_get(&req, "query"));
    tr_arena_free(&a);
}
