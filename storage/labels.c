#include "storage/labels.h"

#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/hash.h"

static int labels__cmp_one(const void *a, const void *b)
{
    const struct tr_label *x = a, *y = b;
    return tr_slice_cmp(x->name, y->name);
}

void tr_labels_sort(struct tr_label *ls, size_t n)
{
    if (n > 16) {
        qsort(ls, n, sizeof(*ls), labels__cmp_one);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        struct tr_label t = ls[i];
        size_t j = i;
        while (j > 0 && tr_slice_cmp(ls[j - 1].name, t.name) > 0) {
            ls[j] = ls[j - 1];
            j--;
        }
        ls[j] = t;
    }
}

int tr_labels_cmp(const struct tr_label *a,
                  size_t na,
                  const struct tr_label *b,
                  size_t nb)
{
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++) {
        int c = tr_slice_cmp(a[i].name, b[i].name);
        if (c != 0) {
            return c;
        }
        c = tr_slice_cmp(a[i].value, b[i].value);
        if (c != 0) {
            return c;
        }
    }
    return na < nb ? -1 : (na > nb ? 1 : 0);
}

int tr_labels_encode(const struct tr_label *ls, size_t n, struct tr_buf *out)
{
    tr_buf_put_uvarint(out, n);
    for (size_t i = 0; i < n; i++) {
        tr_buf_put_uvarint(out, ls[i].name.len);
        tr_buf_append(out, ls[i].name.base, ls[i].name.len);
        tr_buf_put_uvarint(out, ls[i].value.len);
        tr_buf_append(out, ls[i].value.base, ls[i].value.len);
    }
    return out->oom ? TR_ENOMEM : 0;
}

int tr_labels_decode(const void *buf,
                     size_t len,
                     struct tr_arena *a,
                     struct tr_label **out,
                     size_t *n)
{
    struct tr_cursor c = tr_cursor_make(buf, len);
    uint64_t cnt;
    if (tr_cursor_uvarint(&c, &cnt) != 0 || cnt > len) {
        return TR_ECORRUPT;
    }
    struct tr_label *ls = tr_arena_alloc(a, (cnt ? cnt : 1) * sizeof(*ls));
    if (ls == NULL) {
        return TR_ENOMEM;
    }
    for (uint64_t i = 0; i < cnt; i++) {
        uint64_t l;
        if (tr_cursor_uvarint(&c, &l) != 0 ||
            tr_cursor_bytes(&c, l, &ls[i].name) != 0 ||
            tr_cursor_uvarint(&c, &l) != 0 ||
            tr_cursor_bytes(&c, l, &ls[i].value) != 0) {
            return TR_ECORRUPT;
        }
    }
    *out = ls;
    *n = cnt;
    return 0;
}

struct tr_slice tr_labels_get(const struct tr_label *ls,
                              size_t n,
                              const char *name,
                              size_t name_len)
{
    for (size_t i = 0; i < n; i++) {
        if (ls[i].name.len == name_len &&
            memcmp(ls[i].name.base, name, name_len) == 0) {
            return ls[i].value;
        }
    }
    return (struct tr_slice){NULL, 0};
}

uint64_t tr_labels_hash(const void *enc, size_t len)
{
    return tr_hash64(enc, len, 0x7472696164ULL);
}
