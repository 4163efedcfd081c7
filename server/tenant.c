/* tenant.c - which tenant a request belongs to, and the status-code map. */
#include <string.h>
#include <strings.h>

#include "lib/err.h"
#include "server/app.h"

int tr_status_for(int code)
{
    switch (code) {
        case 0:
            return 200;
        case TR_EINVAL:
        case TR_EPROTO:
        case TR_ETOOOLD:
        case TR_EDUP:
        case TR_ELIMIT:
            return 400;
        case TR_EAUTH:
            return 401;
        case TR_ENOTFOUND:
            return 404;
        case TR_ETOOLARGE:
            return 413;
        case TR_EUNSUPPORTED:
            return 415;
        case TR_EEXEC:
            return 422;
        case TR_ECANCELED:
            return 499;
        case TR_ETIMEOUT:
        case TR_EUNAVAIL:
        case TR_EBUSY:
        case TR_ENOMEM:
        case TR_EIO:
            return 503;
        default:
            return 500;
    }
}

/* Mimir's rule for tenant ids: at most 150 bytes of [A-Za-z0-9!-_.*'()],
 * not "." or "..". '|' is reserved for federated reads (later). */
static int tenant__valid(const char *s, size_t n, char *errmsg)
{
    if (n == 0) {
        return tr_errf(TR_EINVAL, errmsg, "empty tenant id");
    }
    if (n > TR_TENANT_MAX) {
        return tr_errf(TR_EINVAL, errmsg,
                       "tenant id too long: %zu bytes, limit %d", n,
                       TR_TENANT_MAX);
    }
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) {
        return tr_errf(TR_EINVAL, errmsg, "tenant id \"%.*s\" is not allowed",
                       (int)n, s);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || strchr("!-_.*'()", c) != NULL) {
            continue;
        }
        return tr_errf(
            TR_EINVAL, errmsg,
            "tenant id contains unsupported character '%c' (allowed: "
            "letters, digits and !-_.*'())",
            c >= 0x20 && c < 0x7f ? c : '?');
    }
    return 0;
}

static int tenant__from_basic_auth(const struct tr_slice *auth,
                                   char *out,
                                   size_t *n)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (auth->len < 6 || strncasecmp(auth->base, "Basic ", 6) != 0) {
        return TR_ENOTFOUND;
    }
    char dec[512];
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 6; i < auth->len && o < sizeof(dec) - 1; i++) {
        char c = auth->base[i];
        if (c == '=' || c == ' ') {
            continue;
        }
        const char *p = strchr(b64, c);
        if (p == NULL || c == '\0') {
            return TR_EINVAL;
        }
        acc = (acc << 6) | (uint32_t)(p - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dec[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    dec[o] = '\0';
    char *colon = strchr(dec, ':');
    size_t ul = colon ? (size_t)(colon - dec) : o;
    if (ul == 0 || ul > TR_TENANT_MAX) {
        return TR_EINVAL;
    }
    memcpy(out, dec, ul);
    out[ul] = '\0';
    *n = ul;
    return 0;
}

int tr_app_tenant(const struct tr_app *app,
                  const struct tr_http_request *req,
                  char *out,
                  char *errmsg)
{
    const struct tr_slice *h = tr_http_header_get(req, "X-Scope-OrgID");
    if (h != NULL && h->len > 0) {
        int rv = tenant__valid(h->base, h->len, errmsg);
        if (rv != 0) {
            return rv;
        }
        memcpy(out, h->base, h->len);
        out[h->len] = '\0';
        return 0;
    }
    if (app->cfg->auth_enabled) {
        const struct tr_slice *a = tr_http_header_get(req, "Authorization");
        size_t n;
        if (a != NULL && tenant__from_basic_auth(a, out, &n) == 0) {
            return tenant__valid(out, n, errmsg);
        }
        return tr_errf(TR_EAUTH, errmsg, "no org id");
    }
    strcpy(out, "anonymous");
    return 0;
}
