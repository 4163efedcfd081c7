/* fuzz_status_json.c - libFuzzer driver for the bounded JSON parser of
 * `triad status` (lib/jsonparse.h, tr_sjson_parse), which reads what
 * another node (or anything listening on the address given) answers.
 *
 * Properties checked on arbitrary bytes:
 *  - parsing never reads outside the input, and fails with a message or
 *    succeeds;
 *  - on success every token lies inside the input, a container's subtree
 *    ends within the token array and after the container itself, objects
 *    hold key/value pairs whose keys are strings;
 *  - tr_sjson_get/at/text on every token (and on out-of-range indexes)
 *    stay in bounds, and text is NUL-terminated within its buffer;
 *  - the input followed by ",1" (trailing data) never parses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/status_cmd.h"
#include "lib/jsonparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_tokens(const struct tr_sjson *d, size_t size)
{
    for (size_t i = 0; i < d->n_toks; i++) {
        const struct tr_sjson_tok *t = &d->toks[i];
        if ((size_t)t->start + t->len > size || t->next <= i ||
            t->next > d->n_toks) {
            abort();
        }
        if (t->type == TR_SJSON_OBJECT) {
            /* children: key, value, key, value... */
            size_t c = i + 1;
            for (uint32_t k = 0; k < t->n; k++) {
                if (c >= t->next || d->toks[c].type != TR_SJSON_STRING) {
                    abort();
                }
                c = d->toks[c].next;
                if (c >= t->next) {
                    abort(); /* a key without its value */
                }
                c = d->toks[c].next;
            }
            if (c != t->next) {
                abort();
            }
        } else if (t->type == TR_SJSON_ARRAY) {
            size_t c = i + 1;
            for (uint32_t k = 0; k < t->n; k++) {
                if (c >= t->next) {
                    abort();
                }
                if (tr_sjson_at(d, (long)i, k) != (long)c) {
                    abort();
                }
                c = d->toks[c].next;
            }
            if (c != t->next || tr_sjson_at(d, (long)i, t->n) != -1) {
                abort();
            }
        } else if (t->next != i + 1) {
            abort(); /* scalars have no children */
        }
        char out[64];
        memset(out, 'x', sizeof(out));
        tr_sjson_text(d, (long)i, out, sizeof(out));
        if (memchr(out, '\0', sizeof(out)) == NULL) {
            abort();
        }
        char tiny[1];
        tr_sjson_text(d, (long)i, tiny, sizeof(tiny));
        if (tiny[0] != '\0') {
            abort();
        }
        if (t->type == TR_SJSON_OBJECT) {
            (void)tr_sjson_get(d, (long)i, "shards");
            (void)tr_sjson_get(d, (long)i, out);
        }
    }
    char out[8];
    tr_sjson_text(d, -1, out, sizeof(out));
    tr_sjson_text(d, (long)d->n_toks, out, sizeof(out));
    if (out[0] != '\0' || tr_sjson_get(d, (long)d->n_toks, "a") != -1 ||
        tr_sjson_at(d, -1, 0) != -1) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16) {
        return 0;
    }
    /* an exact-size copy: ASan sees any read past the end */
    char *text = malloc(size > 0 ? size : 1);
    if (text == NULL) {
        return 0;
    }
    if (size > 0) {
        memcpy(text, data, size);
    }
    struct tr_sjson d;
    int rv = tr_sjson_parse(&d, text, size);
    if (rv != 0) {
        if (d.err[0] == '\0') {
            abort();
        }
    } else {
        check_tokens(&d, size);
        char *more_text = malloc(size + 2);
        if (more_text != NULL) {
            memcpy(more_text, text, size);
            memcpy(more_text + size, ",1", 2);
            struct tr_sjson more;
            if (tr_sjson_parse(&more, more_text, size + 2) == 0) {
                abort();
            }
            tr_sjson_free(&more);
            free(more_text);
        }
    }
    tr_sjson_free(&d);
    free(text);
    return 0;
}
