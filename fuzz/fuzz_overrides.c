/* fuzz_overrides.c - libFuzzer driver for the runtime overrides file parser
 * (server/overrides.h, --runtime-config.file).
 *
 * Properties checked: no crash, leak or UB; the result is 0, TR_EINVAL (with
 * a message) or TR_ENOMEM; on success the tenants are sorted, unique,
 * non-empty and NUL-terminated within their field, and parsing the same
 * bytes again gives equal records. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "server/overrides.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tr_catalog_tenant *v = NULL, *w = NULL;
    size_t n = 0, m = 0;
    char err[TR_ERRMSG_SIZE] = "";
    int rv = tr_overrides_parse((const char *)data, size, &v, &n, err);
    if (rv != 0) {
        if ((rv != TR_EINVAL && rv != TR_ENOMEM) || err[0] == '\0' ||
            v != NULL) {
            abort();
        }
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i].name[0] == '\0' ||
            memchr(v[i].name, '\0', sizeof(v[i].name)) == NULL ||
            (i > 0 && strcmp(v[i - 1].name, v[i].name) >= 0)) {
            abort();
        }
    }
    if (tr_overrides_parse((const char *)data, size, &w, &m, err) != 0 ||
        m != n) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        if (!tr_overrides_equal(&v[i], &w[i])) {
            abort();
        }
    }
    tr_free(v);
    tr_free(w);
    return 0;
}
