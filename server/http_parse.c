/* http_parse.c - incremental HTTP/1.x request parser (see http_int.h for the
 * contract and the accepted grammar). Pure: no I/O, no libuv. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "server/http_int.h"

void tr_http_parser_init(struct tr_http_parser *p,
                         size_t max_header_bytes,
                         size_t max_body_bytes,
                         struct tr_arena *arena)
{
    memset(p, 0, sizeof(*p));
    p->max_header_bytes = max_header_bytes;
    p->max_body_bytes = max_body_bytes;
    p->arena = arena;
    tr_buf_init(&p->body);
}

void tr_http_parser_reset(struct tr_http_parser *p, struct tr_arena *arena)
{
    struct tr_buf body = p->body;
    size_t mh = p->max_header_bytes;
    size_t mb = p->max_body_bytes;
    memset(p, 0, sizeof(*p));
    p->max_header_bytes = mh;
    p->max_body_bytes = mb;
    p->arena = arena;
    p->body = body;
    tr_buf_reset(&p->body);
}

void tr_http_parser_free(struct tr_http_parser *p)
{
    tr_buf_free(&p->body);
}

bool tr_http_parser_started(const struct tr_http_parser *p)
{
    return p->state != TR_HPS_HEAD || p->scan > 0;
}

static int fail(struct tr_http_parser *p, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct tr_http_parser *p, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->errmsg, sizeof(p->errmsg), fmt, ap);
    va_end(ap);
    p->err_status = status;
    p->state = TR_HPS_ERROR;
    return TR_HP_ERROR;
}

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9')) {
        return true;
    }
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

size_t tr_http__unescape(const char *s,
                         size_t n,
                         bool plus,
                         bool strict,
                         char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int h = -1, l = -1;
            if (i + 2 < n) {
                h = hexval((unsigned char)s[i + 1]);
                l = hexval((unsigned char)s[i + 2]);
            }
            if (h >= 0 && l >= 0) {
                out[o++] = (char)(h * 16 + l);
                i += 2;
                continue;
            }
            if (strict) {
                return (size_t)-1;
            }
            out[o++] = '%';
        } else if (c == '+' && plus) {
            out[o++] = ' ';
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return o;
}

enum tr_http_method tr_http__method(const char *s, size_t n)
{
    static const struct {
        const char *name;
        enum tr_http_method m;
    } tab[] = {
        {"GET", TR_HTTP_GET},     {"POST", TR_HTTP_POST},
        {"PUT", TR_HTTP_PUT},     {"DELETE", TR_HTTP_DELETE},
        {"HEAD", TR_HTTP_HEAD},   {"OPTIONS", TR_HTTP_OPTIONS},
        {"PATCH", TR_HTTP_PATCH},
    };
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        if (strlen(tab[i].name) == n && memcmp(tab[i].name, s, n) == 0) {
            return tab[i].m;
        }
    }
    return TR_HTTP_OTHER;
}

/* Finds the end of the head in d[0..n): the index just after the empty
 * line, or 0 if not there yet (p->scan remembers where to resume). */
static size_t find_head_end(struct tr_http_parser *p, const char *d, size_t n)
{
    size_t i = p->scan;
    while (i < n) {
        const char *nl = memchr(d + i, '\n', n - i);
        if (nl == NULL) {
            p->scan = n;
            return 0;
        }
        i = (size_t)(nl - d);
        if (i + 1 >= n) {
            p->scan = i; /* need the next byte to decide */
            return 0;
        }
        if (d[i + 1] == '\n') {
            return i + 2;
        }
        if (d[i + 1] == '\r') {
            if (i + 2 >= n) {
                p->scan = i;
                return 0;
            }
            if (d[i + 2] == '\n') {
                return i + 3;
            }
        }
        i++;
    }
    p->scan = n;
    return 0;
}

/* Next line of the head copy [*pos, end): sets *line and *len without the line
 * ending; false at the end. */
static bool next_line(const char *h,
                      size_t end,
                      size_t *pos,
                      const char **line,
                      size_t *len)
{
    if (*pos >= end) {
        return false;
    }
    const char *nl = memchr(h + *pos, '\n', end - *pos);
    size_t stop = nl ? (size_t)(nl - h) : end;
    *line = h + *pos;
    *len = stop - *pos;
    if (*len > 0 && (*line)[*len - 1] == '\r') {
        (*len)--;
    }
    *pos = stop + 1;
    return true;
}

static bool has_ctl(const char *s, size_t n, bool allow_tab)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && !(allow_tab && c == '\t')) || c == 0x7f) {
            return true;
        }
    }
    return false;
}

static int parse_target(struct tr_http_parser *p, const char *t, size_t n)
{
    if (n == 1 && t[0] == '*') {
        p->path = tr_arena_strndup(p->arena, "*", 1);
        p->path_len = 1;
        p->raw_query = tr_arena_strndup(p->arena, "", 0);
        return p->path && p->raw_query ? 0 : fail(p, 500, "out of memory");
    }
    if (t[0] != '/') {
        size_t skip = 0;
        if (n >= 7 && strncasecmp(t, "http://", 7) == 0) {
            skip = 7;
        } else if (n >= 8 && strncasecmp(t, "https://", 8) == 0) {
            skip = 8;
        } else {
            return fail(p, 400, "invalid request target \"%.*s\"",
                        (int)(n > 100 ? 100 : n), t);
        }
        const char *slash = memchr(t + skip, '/', n - skip);
        const char *q = memchr(t + skip, '?', n - skip);
        if (slash == NULL || (q != NULL && q < slash)) {
            /* "http://host" or "http://host?x": path "/" */
            size_t qoff = q ? (size_t)(q - t) : n;
            p->path = tr_arena_strndup(p->arena, "/", 1);
            p->path_len = 1;
            p->raw_query =
                q ? tr_arena_strndup(p->arena, t + qoff + 1, n - qoff - 1)
                  : tr_arena_strndup(p->arena, "", 0);
            p->raw_query_len = q ? n - qoff - 1 : 0;
            return p->path && p->raw_query ? 0 : fail(p, 500, "out of memory");
        }
        n -= (size_t)(slash - t);
        t = slash;
    }
    const char *q = memchr(t, '?', n);
    size_t plen = q ? (size_t)(q - t) : n;
    p->path = tr_arena_alloc(p->arena, plen + 1);
    if (p->path == NULL) {
        return fail(p, 500, "out of memory");
    }
    size_t dl = tr_http__unescape(t, plen, false, true, p->path);
    if (dl == (size_t)-1) {
        return fail(p, 400, "invalid URL escape in path \"%.*s\"",
                    (int)(plen > 100 ? 100 : plen), t);
    }
    p->path_len = dl;
    if (q) {
        p->raw_query_len = n - plen - 1;
        p->raw_query = tr_arena_strndup(p->arena, q + 1, p->raw_query_len);
    } else {
        p->raw_query = tr_arena_strndup(p->arena, "", 0);
    }
    return p->raw_query ? 0 : fail(p, 500, "out of memory");
}

static int parse_request_line(struct tr_http_parser *p, const char *l, size_t n)
{
    const char *sp1 = memchr(l, ' ', n);
    if (sp1 == NULL || sp1 == l) {
        return fail(p, 400, "malformed request line");
    }
    size_t mlen = (size_t)(sp1 - l);
    for (size_t i = 0; i < mlen; i++) {
        if (!is_tchar((unsigned char)l[i])) {
            return fail(p, 400, "invalid method");
        }
    }
    const char *t = sp1 + 1;
    const char *end = l + n;
    const char *sp2 = memchr(t, ' ', (size_t)(end - t));
    if (sp2 == NULL || sp2 == t) {
        return fail(p, 400, "malformed request line");
    }
    size_t tlen = (size_t)(sp2 - t);
    if (has_ctl(t, tlen, false)) {
        return fail(p, 400, "invalid character in request target");
    }
    const char *v = sp2 + 1;
    size_t vlen = (size_t)(end - v);
    if (vlen != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' ||
        v[5] > '9' || v[7] < '0' || v[7] > '9') {
        return fail(p, 400, "malformed HTTP version");
    }
    if (v[5] != '1') {
        return fail(p, 505, "HTTP version %.8s not supported", v);
    }
    p->minor = v[7] - '0';
    if (p->minor > 1) {
        p->minor = 1; /* HTTP/1.x, x > 1: treat as 1.1 (RFC 9110 2.5) */
    }
    p->method = tr_http__method(l, mlen);
    p->method_str = tr_arena_strndup(p->arena, l, mlen);
    if (p->method_str == NULL) {
        return fail(p, 500, "out of memory");
    }
    return parse_target(p, t, tlen);
}

/* Parses a Content-Length value: digits only, no overflow. */
static bool parse_cl(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 18) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

static int parse_header(struct tr_http_parser *p,
                        const char *l,
                        size_t n,
                        bool *conn_close,
                        bool *conn_ka,
                        bool *te_seen,
                        bool *host_seen)
{
    if (l[0] == ' ' || l[0] == '\t') {
        return fail(p, 400, "obsolete header line folding not supported");
    }
    const char *colon = memchr(l, ':', n);
    if (colon == NULL) {
        return fail(p, 400, "malformed header line (no colon)");
    }
    size_t nlen = (size_t)(colon - l);
    if (nlen == 0) {
        return fail(p, 400, "empty header name");
    }
    for (size_t i = 0; i < nlen; i++) {
        if (!is_tchar((unsigned char)l[i])) {
            return fail(p, 400, "invalid header name \"%.*s\"",
                        (int)(nlen > 64 ? 64 : nlen), l);
        }
    }
    const char *v = colon + 1;
    const char *ve = l + n;
    while (v < ve && (*v == ' ' || *v == '\t')) {
        v++;
    }
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) {
        ve--;
    }
    size_t vlen = (size_t)(ve - v);
    if (has_ctl(v, vlen, true)) {
        return fail(p, 400, "invalid character in header \"%.*s\"",
                    (int)(nlen > 64 ? 64 : nlen), l);
    }
    if (p->n_headers >= TR_HTTP_MAX_HEADERS) {
        return fail(p, 431, "too many header fields (max %d)",
                    TR_HTTP_MAX_HEADERS);
    }
    struct tr_http_header *h = &p->headers[p->n_headers++];
    h->name = (struct tr_slice){l, nlen};
    h->value = (struct tr_slice){v, vlen};

    if (tr_slice_eq_nocase(h->name, "content-length")) {
        uint64_t cl;
        if (!parse_cl(v, vlen, &cl)) {
            return fail(p, 400, "invalid Content-Length \"%.*s\"",
                        (int)(vlen > 32 ? 32 : vlen), v);
        }
        if (p->has_content_length && cl != p->content_length) {
            return fail(p, 400, "conflicting Content-Length headers");
        }
        p->has_content_length = true;
        p->content_length = cl;
    } else if (tr_slice_eq_nocase(h->name, "transfer-encoding")) {
        if (p->minor == 0) {
            return fail(p, 400,
                        "Transfer-Encoding not allowed in HTTP/1.0 request");
        }
        if (*te_seen || !tr_slice_eq_nocase(h->value, "chunked")) {
            return fail(p, 501, "unsupported Transfer-Encoding \"%.*s\"",
                        (int)(vlen > 64 ? 64 : vlen), v);
        }
        *te_seen = true;
        p->chunked = true;
    } else if (tr_slice_eq_nocase(h->name, "connection")) {
        const char *s = v;
        while (s < ve) {
            const char *c = memchr(s, ',', (size_t)(ve - s));
            const char *e = c ? c : ve;
            const char *a = s;
            const char *b = e;
            while (a < b && (*a == ' ' || *a == '\t')) {
                a++;
            }
            while (b > a && (b[-1] == ' ' || b[-1] == '\t')) {
                b--;
            }
            struct tr_slice tok = {a, (size_t)(b - a)};
            if (tr_slice_eq_nocase(tok, "close")) {
                *conn_close = true;
            } else if (tr_slice_eq_nocase(tok, "keep-alive")) {
                *conn_ka = true;
            }
            s = c ? c + 1 : ve;
        }
    } else if (tr_slice_eq_nocase(h->name, "expect")) {
        if (p->minor >= 1 && tr_slice_eq_nocase(h->value, "100-continue")) {
            p->expect_continue = true;
        }
    } else if (tr_slice_eq_nocase(h->name, "host")) {
        if (*host_seen) {
            return fail(p, 400, "duplicate Host header");
        }
        *host_seen = true;
    }
    return 0;
}

static int parse_head(struct tr_http_parser *p, const char *d, size_t n)
{
    char *h = tr_arena_memdup(p->arena, d, n);
    p->headers = tr_arena_alloc(
        p->arena, TR_HTTP_MAX_HEADERS * sizeof(struct tr_http_header));
    if (h == NULL || p->headers == NULL) {
        return fail(p, 500, "out of memory");
    }
    size_t pos = 0;
    const char *line;
    size_t len;
    next_line(h, n, &pos, &line, &len);
    int rv = parse_request_line(p, line, len);
    if (rv != 0) {
        return rv;
    }
    bool conn_close = false, conn_ka = false, te = false, host = false;
    while (next_line(h, n, &pos, &line, &len) && len > 0) {
        rv = parse_header(p, line, len, &conn_close, &conn_ka, &te, &host);
        if (rv != 0) {
            return rv;
        }
    }
    if (p->chunked && p->has_content_length) {
        return fail(p, 400,
                    "both Content-Length and Transfer-Encoding present");
    }
    if (p->minor == 1 && !host) {
        return fail(p, 400, "missing required Host header");
    }
    p->keep_alive = p->minor == 1 ? !conn_close : (conn_ka && !conn_close);
    if (p->has_content_length && p->content_length > p->max_body_bytes) {
        return fail(p, 413,
                    "request body too large: Content-Length %" PRIu64
                    " exceeds the limit of %zu bytes",
                    p->content_length, p->max_body_bytes);
    }
    p->head_bytes = n;
    return 0;
}

static int body_append(struct tr_http_parser *p, const char *d, size_t n)
{
    if (tr_buf_append(&p->body, d, n) != 0) {
        return fail(p, 500, "out of memory");
    }
    return 0;
}

static int too_large(struct tr_http_parser *p)
{
    return fail(p, 413,
                "request body too large: exceeds the limit of %zu bytes",
                p->max_body_bytes);
}

/* The chunked-body state machine over d[0..n); *used is advanced. */
static int parse_chunked(struct tr_http_parser *p,
                         const char *d,
                         size_t n,
                         size_t *used)
{
    size_t i = 0;
    int rv = TR_HP_NEED_MORE;
    while (i < n && rv == TR_HP_NEED_MORE) {
        unsigned char c = (unsigned char)d[i];
        switch (p->state) {
            case TR_HPS_CHUNK_SIZE: {
                int hv = hexval(c);
                if (hv >= 0) {
                    if (p->size_digits >= 15) {
                        rv = fail(p, 400, "chunk size too large");
                        break;
                    }
                    p->left = p->left * 16 + (uint64_t)hv;
                    p->size_digits++;
                    i++;
                    break;
                }
                if (p->size_digits == 0) {
                    rv = fail(p, 400, "invalid chunk size line");
                    break;
                }
                if (c == ';' || c == ' ' || c == '\t') {
                    p->state = TR_HPS_CHUNK_EXT;
                    p->line_len = p->size_digits;
                    break; /* the byte is consumed by CHUNK_EXT */
                }
                if (c == '\r') {
                    p->state = TR_HPS_CHUNK_SIZE_LF;
                    i++;
                    break;
                }
                if (c != '\n') {
                    rv = fail(p, 400, "invalid chunk size line");
                    break;
                }
                p->state = TR_HPS_CHUNK_SIZE_LF; /* bare LF: same path */
                break;
            }
            case TR_HPS_CHUNK_EXT:
                if (c == '\r') {
                    p->state = TR_HPS_CHUNK_SIZE_LF;
                    i++;
                    break;
                }
                if (c == '\n') {
                    p->state = TR_HPS_CHUNK_SIZE_LF;
                    break;
                }
                if ((c < 0x20 && c != '\t') || c == 0x7f) {
                    rv = fail(p, 400, "invalid character in chunk extension");
                    break;
                }
                if (++p->line_len > TR_HTTP_MAX_CHUNK_LINE) {
                    rv = fail(p, 400, "chunk extension too long");
                    break;
                }
                i++;
                break;
            case TR_HPS_CHUNK_SIZE_LF:
                if (c != '\n') {
                    rv = fail(p, 400, "missing LF after chunk size");
                    break;
                }
                i++;
                if (p->left == 0) {
                    p->state = TR_HPS_TRAILER_START;
                    p->line_len = 0;
                    break;
                }
                if (p->left > p->max_body_bytes ||
                    p->body.len > p->max_body_bytes - p->left) {
                    rv = too_large(p);
                    break;
                }
                p->state = TR_HPS_CHUNK_DATA;
                break;
            case TR_HPS_CHUNK_DATA: {
                size_t take = n - i;
                if ((uint64_t)take > p->left) {
                    take = (size_t)p->left;
                }
                if (body_append(p, d + i, take) != 0) {
                    rv = TR_HP_ERROR;
                    break;
                }
                i += take;
                p->left -= take;
                if (p->left == 0) {
                    p->state = TR_HPS_CHUNK_DATA_CR;
                }
                break;
            }
            case TR_HPS_CHUNK_DATA_CR:
                if (c == '\r') {
                    p->state = TR_HPS_CHUNK_DATA_LF;
                    i++;
                    break;
                }
                if (c != '\n') {
                    rv = fail(p, 400, "missing CRLF after chunk data");
                    break;
                }
                p->state = TR_HPS_CHUNK_DATA_LF;
                break;
            case TR_HPS_CHUNK_DATA_LF:
                if (c != '\n') {
                    rv = fail(p, 400, "missing CRLF after chunk data");
                    break;
                }
                i++;
                p->state = TR_HPS_CHUNK_SIZE;
                p->size_digits = 0;
                p->left = 0;
                break;
            case TR_HPS_TRAILER_START:
                if (c == '\r') {
                    p->state = TR_HPS_END_LF;
                    i++;
                    break;
                }
                if (c == '\n') {
                    p->state = TR_HPS_END_LF;
                    break;
                }
                p->state = TR_HPS_TRAILER_LINE;
                break;
            case TR_HPS_TRAILER_LINE:
                if (++p->line_len > p->max_header_bytes) {
                    rv = fail(p, 431, "request trailers too large");
                    break;
                }
                if (c == '\r') {
                    p->state = TR_HPS_TRAILER_LF;
                } else if (c == '\n') {
                    p->state = TR_HPS_TRAILER_START;
                } else if (c < 0x20 && c != '\t') {
                    rv = fail(p, 400, "invalid character in trailer");
                    break;
                }
                i++;
                break;
            case TR_HPS_TRAILER_LF:
                if (c != '\n') {
                    rv = fail(p, 400, "missing LF in trailer");
                    break;
                }
                i++;
                p->state = TR_HPS_TRAILER_START;
                break;
            case TR_HPS_END_LF:
                if (c != '\n') {
                    rv = fail(p, 400, "missing LF after last chunk");
                    break;
                }
                i++;
                p->state = TR_HPS_DONE;
                rv = TR_HP_DONE;
                break;
            default:
                rv = fail(p, 500, "parser in bad state");
                break;
        }
    }
    *used += i;
    return rv;
}

int tr_http_parse(struct tr_http_parser *p,
                  const char *data,
                  size_t len,
                  size_t *consumed)
{
    *consumed = 0;
    switch (p->state) {
        case TR_HPS_ERROR:
            return TR_HP_ERROR;
        case TR_HPS_DONE:
            return TR_HP_DONE;
        case TR_HPS_HEAD: {
            size_t skip = 0;
            if (p->scan == 0) {
                while (skip < len &&
                       (data[skip] == '\r' || data[skip] == '\n')) {
                    skip++;
                }
                *consumed = skip;
                data += skip;
                len -= skip;
            }
            size_t end = find_head_end(p, data, len);
            if (end == 0) {
                if (len > p->max_header_bytes) {
                    return fail(p, 431,
                                "request header too large (limit %zu bytes)",
                                p->max_header_bytes);
                }
                return TR_HP_NEED_MORE;
            }
            if (end > p->max_header_bytes) {
                return fail(p, 431,
                            "request header too large (limit %zu bytes)",
                            p->max_header_bytes);
            }
            if (parse_head(p, data, end) != 0) {
                return TR_HP_ERROR;
            }
            *consumed += end;
            p->state = TR_HPS_HEAD_DONE;
            return TR_HP_HEAD;
        }
        case TR_HPS_HEAD_DONE:
            if (p->chunked) {
                p->state = TR_HPS_CHUNK_SIZE;
                p->left = 0;
                p->size_digits = 0;
            } else if (p->has_content_length && p->content_length > 0) {
                p->state = TR_HPS_BODY_CL;
                p->left = p->content_length;
            } else {
                p->state = TR_HPS_DONE;
                return TR_HP_DONE;
            }
            break;
        default:
            break;
    }
    if (p->state == TR_HPS_BODY_CL) {
        size_t take = len;
        if ((uint64_t)take > p->left) {
            take = (size_t)p->left;
        }
        if (body_append(p, data, take) != 0) {
            return TR_HP_ERROR;
        }
        *consumed = take;
        p->left -= take;
        if (p->left == 0) {
            p->state = TR_HPS_DONE;
            return TR_HP_DONE;
        }
        return TR_HP_NEED_MORE;
    }
    return parse_chunked(p, data, len, consumed);
}
