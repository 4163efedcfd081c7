/* http_form.c - request helpers: header lookup and form values with Go's
 * r.Form semantics (urlencoded POST/PUT/PATCH body values first, then
 * query values; '+' is a space; %XX decoded; an invalid escape is kept
 * literally; pairs containing ';' are skipped, as Go >= 1.17 does). */
#include <string.h>
#include <strings.h>

#include "server/http.h"
#include "server/http_int.h"

const struct tr_slice *tr_http_header_get(const struct tr_http_request *req,
                                          const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        if (tr_slice_eq_nocase(req->headers[i].name, name)) {
            return &req->headers[i].value;
        }
    }
    return NULL;
}

/* True if the request carries an urlencoded form body. */
static bool has_form_body(const struct tr_http_request *req)
{
    if (req->method != TR_HTTP_POST && req->method != TR_HTTP_PUT &&
        req->method != TR_HTTP_PATCH) {
        return false;
    }
    const struct tr_slice *ct = tr_http_header_get(req, "Content-Type");
    if (ct == NULL) {
        return false;
    }
    const char *s = ct->base;
    size_t n = ct->len;
    const char *semi = memchr(s, ';', n);
    if (semi != NULL) {
        n = (size_t)(semi - s);
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        n--;
    }
    static const char want[] = "application/x-www-form-urlencoded";
    return n == sizeof(want) - 1 && strncasecmp(s, want, n) == 0;
}

/* Scans one urlencoded string for key, storing decoded values. */
static void scan(const struct tr_http_request *req,
                 const char *s,
                 size_t n,
                 const char *key,
                 size_t klen,
                 struct tr_slice *out,
                 size_t max,
                 size_t *count)
{
    char kbuf[256] = {0};
    const char *end = s + n;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *pe = amp ? amp : end;
        const char *pair = s;
        size_t plen = (size_t)(pe - s);
        s = amp ? amp + 1 : end;
        if (plen == 0 || memchr(pair, ';', plen) != NULL) {
            continue;
        }
        const char *eq = memchr(pair, '=', plen);
        size_t rklen = eq ? (size_t)(eq - pair) : plen;
        /* The decoded key is never longer than the raw one. */
        if (rklen < klen) {
            continue;
        }
        char *kb =
            rklen < sizeof(kbuf) ? kbuf : tr_arena_alloc(req->arena, rklen + 1);
        if (kb == NULL ||
            tr_http__unescape(pair, rklen, true, false, kb) != klen ||
            memcmp(kb, key, klen) != 0) {
            continue;
        }
        if (*count < max) {
            const char *v = eq ? eq + 1 : pe;
            size_t vlen = (size_t)(pe - v);
            char *d = tr_arena_alloc(req->arena, vlen + 1);
            if (d == NULL) {
                continue;
            }
            size_t dl = tr_http__unescape(v, vlen, true, false, d);
            out[*count] = (struct tr_slice){d, dl};
        }
        (*count)++;
    }
}

size_t tr_http_form_values(const struct tr_http_request *req,
                           const char *key,
                           struct tr_slice *out,
                           size_t max,
                           size_t *total)
{
    size_t count = 0;
    size_t klen = strlen(key);
    if (has_form_body(req) && req->body != NULL) {
        scan(req, req->body, req->body_len, key, klen, out, max, &count);
    }
    if (req->raw_query.base != NULL) {
        scan(req, req->raw_query.base, req->raw_query.len, key, klen, out, max,
             &count);
    }
    if (total != NULL) {
        *total = count;
    }
    return count < max ? count : max;
}

const char *tr_http_form_get(const struct tr_http_request *req, const char *key)
{
    struct tr_slice v;
    if (tr_http_form_values(req, key, &v, 1, NULL) == 0) {
        return NULL;
    }
    return v.base; /* NUL-terminated by tr_http__unescape */
}
